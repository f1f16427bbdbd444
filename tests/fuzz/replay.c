/*
 * replay.c — a main for a fuzz target without libFuzzer: every file of
 * the folders named (default: the target's seed corpus, FUZZ_CORPUS, set
 * by the Makefile) is passed once to LLVMFuzzerTestOneInput.  `make
 * check` runs it, compiled by the normal compiler, so the corpora (with
 * every input that once crashed) stay regression tests on machines
 * without clang.  Speaks TAP: one test per folder.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/* Targets without an initialiser get this one. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_file(const char *path)
{
	FILE *file = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t size = 0, capacity = 0, got;

	if (!file)
		return -1;
	do {
		if (capacity - size < 4096) {
			capacity = capacity * 2 + 4096;
			data = realloc(data, capacity);
			if (!data)
				abort();
		}
		got = fread(data + size, 1, capacity - size, file);
		size += got;
	} while (got > 0);
	fclose(file);
	/* Named first, so a crash in a plain build says which input. */
	fprintf(stderr, "replay: %s\n", path);
	/* An exact-size copy, so a sanitizer sees a read past the end. */
	{
		unsigned char *exact = malloc(size ? size : 1);

		if (!exact)
			abort();
		memcpy(exact, data, size);
		free(data);
		LLVMFuzzerTestOneInput(exact, size);
		free(exact);
	}
	return 0;
}

/* Replays every regular file in FOLDER, in name order; how many, or -1. */
static long replay_folder(const char *folder)
{
	DIR *d = opendir(folder);
	struct dirent *entry;
	char **names = NULL;
	size_t count = 0;
	long done = 0;

	if (!d)
		return -1;
	for (;;) {
		entry = readdir(d);
		if (!entry)
			break;
		if (entry->d_name[0] == '.')
			continue;
		names = realloc(names, (count + 1) * sizeof(*names));
		if (!names || asprintf(&names[count], "%s/%s", folder,
		                       entry->d_name) < 0)
			abort();
		count++;
	}
	closedir(d);
	qsort(names, count, sizeof(*names), by_name);
	for (size_t i = 0; i < count; i++) {
		if (replay_file(names[i]) == 0)
			done++;
		else
			fprintf(stderr, "replay: %s: %s\n", names[i],
			        strerror(errno));
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	char *fallback[] = { FUZZ_CORPUS, NULL };
	char **folders = argc > 1 ? argv + 1 : fallback;
	int count = argc > 1 ? argc - 1 : 1, failed = 0;

	/* TAP goes to a copy of stdout: a target may take stdout over
	 * (fuzz-record.c reads the record loop's output back). */
	FILE *tap = fdopen(dup(STDOUT_FILENO), "w");

	if (!tap) {
		perror("replay: stdout");
		return 2;
	}
	setvbuf(tap, NULL, _IOLBF, 0);
	LLVMFuzzerInitialize(&argc, &argv);
	fprintf(tap, "1..%d\n", count);
	for (int i = 0; i < count; i++) {
		long done = replay_folder(folders[i]);

		if (done <= 0) {
			fprintf(tap, "not ok %d - %s: no inputs\n", i + 1,
			        folders[i]);
			failed = 1;
		} else {
			fprintf(tap, "ok %d - %s: %ld inputs replayed\n",
			        i + 1, folders[i], done);
		}
	}
	fclose(tap);
	return failed;
}
