/*
 * record.h — the filter loop every mas program runs (mas(7), "RECORDS").
 *
 * Input is JSON Lines from the files named (or stdin, or "-"); each line
 * that holds a JSON object is a record and is handed to the program's
 * callback with an "id" (kept if present, else a new ULID placed first).
 * A line that is not valid UTF-8 or not a JSON object becomes an error
 * record {"id","error":{"code":"INVALID_REQUEST","message":"line 7: ...",
 * "line":7,...}} written in its place; empty lines are skipped.  The
 * callback emits its output with mas_run_emit, so a program that answers
 * each record keeps one line out per line in, in order.
 *
 * Output goes through stdio: fully buffered, flushed before the loop
 * blocks reading input, at least every 200 ms while records are coming
 * out, and per line when stdout is a terminal.  So a pipeline never
 * stalls, yet a large batch costs one write per 64 KiB.  A write that
 * fails ends the program: quietly by SIGPIPE when the reader went away
 * (`| head -1`), with a message and MAS_EXIT_IO otherwise.
 */
#ifndef MAS_RECORD_H
#define MAS_RECORD_H

#include <stddef.h>

#include <jv.h>

struct mas_run;

struct mas_run_options {
	char **files;      /* input files, "-" is stdin; none: stdin */
	int file_count;
	/* Called with each valid record (consumed).  Must emit exactly
	 * what the program promises, normally one record. */
	void (*each)(struct mas_run *run, jv record, void *data);
	/* Called once at end of input, before the final flush; may emit.
	 * NULL for none. */
	void (*finish)(struct mas_run *run, void *data);
	void *data;
	/*
	 * Programs that can take a record as the line it is, without libjq
	 * (mas-bus pub splices it into an envelope), set LINE: it is called
	 * first with each non-blank line (LENGTH bytes, not NUL-terminated)
	 * and returns 1 when it took the line, 0 to have it parsed and
	 * handed to EACH, or made an error record, as usual.  NULL: none.
	 */
	int (*line)(struct mas_run *run, const char *line, size_t length,
	            void *data);
	/* Leave records without an id alone (series mode: rows are data,
	 * not tasks, and a million ids would be waste). */
	int keep_rows_raw;
	/*
	 * Asynchronous programs (an agent waiting on a model) keep up to
	 * JOBS records unwritten at once: `each` takes a ticket with
	 * mas_run_defer and hands the record back later with
	 * mas_run_complete, and the loop writes records in input order as
	 * their turn comes.  WAIT drives the program's pending work for at
	 * most TIMEOUT_MS (-1: until something completes), returning early
	 * when FD (-1: none) is readable, so input is read while requests
	 * are in flight.  JOBS 0 means synchronous.
	 */
	size_t jobs;
	void (*wait)(struct mas_run *run, int timeout_ms, int fd, void *data);
	/*
	 * Called once when every input has been read, before the loop
	 * waits for the records still in flight (NULL: none).  Programs
	 * that feed co-processes give them end of file here: a filter
	 * that reads ahead answers only then.
	 */
	void (*input_end)(struct mas_run *run, void *data);
};

/*
 * Run the loop to the end of every input.  Returns the exit status the
 * program should exit with (mas_exit): OK; RECORDS if any record carried
 * an error; TEMPFAIL if every failed record failed for a transient reason;
 * USAGE if an input file could not be opened (the others are still read,
 * like cat).  Does not return after a write error.
 */
int mas_run_records(const struct mas_run_options *options);

/*
 * Run the loop as mas_run_records does, but answer every record with
 * ERROR (consumed; an error object): each comes out whole, with its id,
 * carrying it.  For a program whose resource is unavailable for now (a
 * state store another process keeps locked): nothing is lost, and the
 * exit status says to retry later (75) when ERROR is transient.
 */
int mas_run_records_failing(const struct mas_run_options *options,
                            jv error);

/*
 * Fill the place TICKET with LINE (LENGTH bytes, malloc'd, consumed): a
 * record already written out as one line of compact JSON, an object
 * without an "error", which is written as it is instead of being parsed
 * and dumped again.
 */
void mas_run_complete_line(struct mas_run *run, size_t ticket, char *line,
                           size_t length);

/* How many output places have been written to stdout's buffer: every
 * ticket below it (they reach the reader at the next flush). */
size_t mas_run_written(const struct mas_run *run);

/*
 * Call HOOK(DATA) after each flush of stdout (NULL: none): mas-flow
 * marks its checkpoints "written" then.
 */
void mas_output_on_flush(void (*hook)(void *data), void *data);

/*
 * Call HOOK(DATA) before each write of buffered output to stdout (NULL:
 * none): mas-flow commits its checkpoints then, so whatever a reader
 * may see is already stored.
 */
void mas_output_before_flush(void (*hook)(void *data), void *data);

/*
 * Write RECORD (consumed) as one line.  A record holding an "error" object
 * is counted as failed, by its code.
 */
void mas_run_emit(struct mas_run *run, jv record);

/*
 * Reserve the output place of the record being processed; its content
 * comes later through mas_run_complete(run, ticket, record).  Records
 * emitted after it wait behind it, so order is kept.
 */
size_t mas_run_defer(struct mas_run *run);

/* Fill the place TICKET with RECORD (consumed), and write every record
 * whose turn has come. */
void mas_run_complete(struct mas_run *run, size_t ticket, jv record);

/*
 * An error record for the current input line, in the shape the loop uses
 * for a bad line: {"id": new, "error": ERROR + "line" and "file"}, with
 * "line N: " put before ERROR's message.  For programs that consume rows
 * without answering each (series mode) yet must not lose a bad one.
 */
jv mas_run_error_record(const struct mas_run *run, jv error);

/*
 * The same for line LINE of FILE (borrowed; "-" is stdin), for a record
 * answered after the loop has read on: mas-bus pub learns a message's
 * fate when its batch is committed, lines later.  mas_run_file and
 * mas_run_line say where a record was read.
 */
jv mas_run_error_record_at(jv error, const char *file, unsigned long line);

/*
 * The current input position, for messages about the record being
 * processed: the file name ("-" for stdin, borrowed) and line number.
 */
const char *mas_run_file(const struct mas_run *run);
unsigned long mas_run_line(const struct mas_run *run);

/* RECORD (consumed) with an "id" placed first when it has none (or a
 * null one): a new ULID, as the loop gives every record it reads. */
jv mas_record_ensure_id(jv record);

/* Counters of the run so far. */
unsigned long mas_run_records_in(const struct mas_run *run);
unsigned long mas_run_records_failed(const struct mas_run *run);

/*
 * Flush stdout now, checking for errors (ends the program on failure as
 * described above).  Programs call it before they block on something
 * other than input.
 */
void mas_output_flush(void);

/* Set up stdout buffering; called once by mas_run_records and by programs
 * that write without it. */
void mas_output_init(void);

/* Finish stdout at exit: flush, check, close.  Returns 0 or exits. */
int mas_output_close(void);

#endif
