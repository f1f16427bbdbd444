/*
 * fuzz.h — what the fuzz targets share (tests/fuzz/README).
 *
 * Each tests/fuzz/fuzz-NAME.c defines LLVMFuzzerTestOneInput (and may
 * define LLVMFuzzerInitialize).  `make fuzz` links it with libFuzzer,
 * ASan and UBSan; `make check` links it with replay.c and replays
 * tests/fuzz/corpus/NAME.  A target aborts through FUZZ_ASSERT when a
 * property it checks does not hold, so both find the same failures.
 */
#ifndef MAS_FUZZ_H
#define MAS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property that must hold: say what failed where, and abort. */
#define FUZZ_ASSERT(cond)                                                     \
	do {                                                                  \
		if (!(cond))                                                  \
			fuzz_fail(__FILE__, __LINE__, #cond);                 \
	} while (0)

/*
 * Print "FILE:LINE: fuzz check failed: WHAT" and abort.  It writes to a
 * copy of stderr taken at start, which libFuzzer's -close_fd_mask=2 (the
 * parsers' own messages silenced) leaves open.
 */
void fuzz_fail(const char *file, int line, const char *what)
	__attribute__((noreturn));

/* Like fprintf(stderr, ...), to that same copy. */
void fuzz_say(const char *format, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * A folder of the process's own for the files a target writes (the
 * parsers under test read files by name), removed at exit.
 */
const char *fuzz_dir(void);

/* Write DATA (SIZE bytes) to NAME inside fuzz_dir(); the path
 * (static storage, overwritten by the next call). */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);

/* Log only errors: the parsers warn about every bad line they skip, which
 * would drown libFuzzer's own output. */
void fuzz_quiet(void);

#endif
