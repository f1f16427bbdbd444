/*
 * record.c — the filter loop (see record.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "record.h"
#include "trace.h"
#include "clock.h"
#include "utf8.h"
#include "banned.h"

#define READ_SIZE 65536
#define OUTPUT_BUFFER 65536
#define FLUSH_INTERVAL 0.2       /* seconds */
#define INPUT_ECHO_LIMIT 65536   /* bytes of a bad line kept in its error */

/* A buffered line reader over one file descriptor. */
struct reader {
	int fd;
	const char *name;
	char *buf;
	size_t capacity;
	size_t start;   /* first unread byte */
	size_t end;     /* one past the last byte read */
	size_t scanned; /* bytes after start known to hold no newline */
	int eof;
	unsigned long line;
};

/*
 * Records not yet written, oldest first: a ring of slots indexed by
 * ticket modulo its size.  Only asynchronous runs use it; a synchronous
 * run writes each record as it is emitted.
 */
/* An output place: a record read, not yet written. */
struct slot {
	jv record;         /* jv_invalid() while it waits; jv_true() when
	                    * LINE holds it as text */
	char *line;        /* mas_run_complete_line's, or NULL */
	size_t length;
	struct mas_span *span;   /* the record's span, or NULL */
	double started;          /* when it was read */
	char *id_text;           /* its id as written in the input, when
	                          * libjq would write it otherwise */
};

struct pending {
	struct slot *slots;
	size_t size;       /* capacity, a power of two */
	size_t head;       /* ticket of the oldest unwritten record */
	size_t tail;       /* next ticket to hand out */
};

/* A progress line on stderr, for a person watching a long run. */
struct progress {
	int on;
	double total;       /* bytes of input, when all are files */
	double done;        /* bytes read so far */
	double started, shown;
};

struct mas_run {
	const struct mas_run_options *options;
	struct progress progress;
	struct reader reader;
	unsigned long records_in;
	unsigned long records_out;    /* lines written, for the progress */
	unsigned long failed;
	unsigned long failed_permanent;
	int status;
	struct pending pending;
	struct mas_span *record_span; /* of the record being handled */
	double record_started;        /* when it was read, monotonic */
	char *record_id_text;         /* its id's text, kept (slot) */
};

static double last_flush;
static int output_ready;
static size_t output_buffered;   /* bytes written since the last flush */
static void (*flush_hook)(void *data);
static void *flush_hook_data;
static void (*before_hook)(void *data);
static void *before_hook_data;

/* ---- progress ---- */

/*
 * On when stderr is a terminal, the user did not ask for quiet, and the
 * input's size is known (every input a regular file): then the line says
 * how far along the run is and when it will end.
 */
static void progress_start(struct mas_run *run)
{
	const struct mas_run_options *options = run->options;
	struct progress *progress = &run->progress;
	struct stat st;

	if (!isatty(STDERR_FILENO) || mas_log_get_level() < MAS_LOG_WARN)
		return;
	for (int i = 0; i < options->file_count || i == 0; i++) {
		const char *name = options->file_count ? options->files[i] : "-";
		int ok = strcmp(name, "-") == 0 ? fstat(STDIN_FILENO, &st) == 0
		                                : stat(name, &st) == 0;
		if (!ok || !S_ISREG(st.st_mode))
			return;
		progress->total += (double)st.st_size;
	}
	progress->on = progress->total > 0;
	progress->started = mas_clock_monotonic();
}

static void progress_show(struct mas_run *run, int last)
{
	struct progress *progress = &run->progress;
	double now, elapsed, rate, left;
	char line[160];

	if (!progress->on)
		return;
	now = mas_clock_monotonic();
	if (!last && now - progress->shown < 0.25)
		return;
	progress->shown = now;
	if (last) {
		fputs("\r\033[K", stderr);
		return;
	}
	elapsed = now - progress->started;
	rate = elapsed > 0 ? (double)run->records_out / elapsed : 0;
	left = progress->done > 0
	               ? elapsed * (progress->total - progress->done) /
	                         progress->done
	               : 0;
	snprintf(line, sizeof(line), "\r%s: %lu records  %.0f/s  %3.0f%%  "
	         "ETA %d:%02d \033[K", mas_log_program(), run->records_out,
	         rate, 100 * progress->done / progress->total,
	         (int)(left / 60), (int)left % 60);
	fputs(line, stderr);
}

/* ---- output ---- */

static void output_failed(void)
{
	if (errno == EPIPE) {
		/* The reader went away: end quietly with the status a shell
		 * shows for SIGPIPE (128 + 13), through exit() so that the
		 * last spans and metrics are still written. */
		clearerr(stdout);
		exit(141);
	}
	mas_log(MAS_LOG_ERROR, "write error: %s", strerror(errno));
	exit(MAS_EXIT_IO);
}

void mas_output_init(void)
{
	if (output_ready)
		return;
	output_ready = 1;
	/* A closed stdout shows as EPIPE, handled in output_failed, so the
	 * program ends through exit() with its spans and metrics written. */
	signal(SIGPIPE, SIG_IGN);
	if (isatty(STDOUT_FILENO)) {
		setvbuf(stdout, NULL, _IOLBF, 0);
	} else {
		/* Our own buffer: given none, glibc ignores the size and
		 * takes st_blksize (4 KiB), and then writes a buffer full,
		 * half a line included, whenever it fills, which
		 * write_text's whole-line rule cannot see; a kill between
		 * two such writes left a record that resume wrote again. */
		static char buffer[OUTPUT_BUFFER];

		setvbuf(stdout, buffer, _IOFBF, sizeof(buffer));
	}
	last_flush = mas_clock_coarse();
}

void mas_output_flush(void)
{
	if (before_hook)
		before_hook(before_hook_data);
	if (fflush(stdout) != 0 || ferror(stdout))
		output_failed();
	last_flush = mas_clock_coarse();
	output_buffered = 0;
	if (flush_hook)
		flush_hook(flush_hook_data);
}

void mas_output_on_flush(void (*hook)(void *data), void *data)
{
	flush_hook = hook;
	flush_hook_data = data;
}

void mas_output_before_flush(void (*hook)(void *data), void *data)
{
	before_hook = hook;
	before_hook_data = data;
}

int mas_output_close(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		output_failed();
	if (fclose(stdout) != 0)
		output_failed();
	return 0;
}

/* TEXT (SIZE bytes) and a newline.  Flushing before a line that would
 * not fit keeps every write(2) to whole lines, so a reader, or a run
 * killed mid-way, never sees half a record. */
static void write_text(const char *text, size_t size)
{
	/* Flush only between lines, before this one: a flush hook counts
	 * the records written so far, and this line is not counted yet (a
	 * flush after it put mas-flow's resume mark one record behind the
	 * output's end, and resume wrote that record again).  Programs
	 * flush before they wait, so a line is not held back idle. */
	if (output_buffered > 0 &&
	    (output_buffered + size + 1 > OUTPUT_BUFFER ||
	     mas_clock_coarse() - last_flush >= FLUSH_INTERVAL))
		mas_output_flush();
	/* a line larger than the buffer is written at once */
	if (before_hook && size + 1 >= OUTPUT_BUFFER)
		before_hook(before_hook_data);
	if (fwrite(text, 1, size, stdout) != size ||
	    putchar_unlocked('\n') == EOF)
		output_failed();
	output_buffered += size + 1;
}

/*
 * TEXT, an output line, with its top-level id written as ID_TEXT was in
 * the input, when the program kept the id's value: libjq reads numbers
 * as doubles and would write 9007199254740993 as 9007199254740992, and
 * 1.0 as 1.  Malloc'd, or NULL when nothing changes.
 */
static char *with_input_id(const char *text, size_t size,
                           const char *id_text, size_t *out_size)
{
	size_t id_size = id_text ? strlen(id_text) : 0;
	char written[MAS_JSON_NUMBER_SIZE];
	struct mas_json_scan scan;
	size_t before, after, written_size;
	jv value;
	char *out;

	if (!id_text || !mas_json_scan_object(text, size, &scan) || !scan.id)
		return NULL;
	/* the id as libjq would have written it, unchanged by the program */
	value = jv_parse_sized(id_text, (int)id_size);
	written_size = jv_get_kind(value) == JV_KIND_NUMBER ?
	               mas_json_number(jv_number_value(value), written) : 0;
	jv_free(value);
	if (written_size != scan.id_length ||
	    memcmp(written, scan.id, written_size) != 0)
		return NULL;
	before = (size_t)(scan.id - text);
	after = size - before - scan.id_length;
	*out_size = before + id_size + after;
	out = malloc(*out_size + 1);
	if (!out)
		mas_die(MAS_EXIT_IO, "out of memory");
	memcpy(out, text, before);
	memcpy(out + before, id_text, id_size);
	memcpy(out + before + id_size, scan.id + scan.id_length, after);
	out[*out_size] = '\0';
	return out;
}

/* TEXT as write_text writes it, its id as the input wrote it. */
static void write_text_as(const char *text, size_t size, const char *id_text)
{
	size_t kept_size;
	char *kept = with_input_id(text, size, id_text, &kept_size);

	if (kept) {
		write_text(kept, kept_size);
		free(kept);
	} else {
		write_text(text, size);
	}
}

static void write_line(jv record, const char *id_text)
{
	size_t length;
	char *text = mas_json_dump_text(record, &length);

	write_text_as(text, length, id_text);
	free(text);
}

static void count_error(struct mas_run *run, jv record)
{
	int status = mas_record_status(record);

	jv_free(record);
	if (status == MAS_EXIT_OK)
		return;
	run->failed++;
	if (status != MAS_EXIT_TEMPFAIL)
		run->failed_permanent++;
}

/* Ends a record's span, linking the record to it for the next program:
 * its "traceparent" becomes this span.  A record without a span of its
 * own (made at end of input) gets one now, under the current span. */
static jv finish_span(struct mas_span *span, jv record)
{
	jv id;

	if (!mas_trace_enabled() || jv_get_kind(record) != JV_KIND_OBJECT)
		return record;
	if (!span)
		span = mas_span_start(mas_log_program(), NULL);
	id = jv_object_get(jv_copy(record), jv_string("id"));
	if (jv_get_kind(id) == JV_KIND_STRING || jv_get_kind(id) == JV_KIND_NUMBER)
		mas_span_set(span, "mas.record.id", id);
	else
		jv_free(id);
	return mas_span_end_record(span, record);
}

/*
 * What every record costs to account for as it leaves: metrics (counts
 * by outcome and code, latency), the -v line, and its span.  STARTED is
 * when it was read (0: made at end of input, no latency to tell).
 */
static jv finish_record(struct mas_span *span, double started, jv record)
{
	int verbose = mas_log_get_level() >= MAS_LOG_INFO;
	double seconds = started > 0 ? mas_clock_monotonic() - started : 0;
	jv id, code;
	char labels[96];

	if (!verbose && !mas_metrics_enabled())
		return finish_span(span, record);
	id = jv_object_get(jv_copy(record), jv_string("id"));
	code = jv_getpath(jv_copy(record), JV_ARRAY(jv_string("error"),
	                                             jv_string("code")));
	if (jv_get_kind(code) == JV_KIND_STRING) {
		snprintf(labels, sizeof(labels), "code=\"%s\"",
		         jv_string_value(code));
		mas_metrics_count("mas_record_errors_total", "Records that "
		                  "came out with an error, by code.", labels, 1);
	}
	mas_metrics_count("mas_records_total", "Records written, by outcome.",
	                  jv_get_kind(code) == JV_KIND_STRING
	                          ? "outcome=\"error\"" : "outcome=\"ok\"",
	                  1);
	if (started > 0)
		mas_metrics_observe("mas_record_duration_seconds", "Time from "
		                    "reading a record to writing it.", NULL,
		                    seconds);
	if (verbose) {
		/* (a row kept raw may have no id at all) */
		jv shown = jv_get_kind(id) == JV_KIND_STRING ? jv_copy(id)
		           : jv_is_valid(id) ? jv_dump_string(jv_copy(id), 0)
		           : jv_string("-");
		mas_info("%s %.1f ms %s", jv_string_value(shown), seconds * 1000,
		         jv_get_kind(code) == JV_KIND_STRING
		                 ? jv_string_value(code) : "ok");
		jv_free(shown);
	}
	jv_free(id);
	jv_free(code);
	mas_metrics_tick();
	return finish_span(span, record);
}

static void write_record(struct mas_run *run, jv record,
                         const char *id_text)
{
	if (jv_get_kind(record) == JV_KIND_OBJECT)
		count_error(run, jv_copy(record));
	write_line(record, id_text);
	run->records_out++;
	progress_show(run, 0);
}

static size_t pending_count(const struct mas_run *run)
{
	return run->pending.tail - run->pending.head;
}

static void pending_grow(struct pending *pending)
{
	size_t size = pending->size ? pending->size * 2 : 64;
	struct slot *slots = malloc(size * sizeof(*slots));

	if (!slots)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t t = pending->head; t < pending->tail; t++)
		slots[t & (size - 1)] = pending->slots[t & (pending->size - 1)];
	free(pending->slots);
	pending->slots = slots;
	pending->size = size;
}

static struct slot *slot_of(struct pending *pending, size_t ticket)
{
	return &pending->slots[ticket & (pending->size - 1)];
}

size_t mas_run_defer(struct mas_run *run)
{
	struct pending *pending = &run->pending;
	struct slot *slot;

	if (pending->tail - pending->head == pending->size)
		pending_grow(pending);
	slot = slot_of(pending, pending->tail);
	/* The record's span and id text wait with it. */
	*slot = (struct slot){
		.record = jv_invalid(), .span = run->record_span,
		.started = run->record_started, .id_text = run->record_id_text,
	};
	run->record_span = NULL;
	run->record_id_text = NULL;
	return pending->tail++;
}

/* Writes the records at the head whose content has come. */
static void write_ready(struct mas_run *run)
{
	struct pending *pending = &run->pending;

	while (pending->head < pending->tail) {
		struct slot *slot = slot_of(pending, pending->head);

		if (!jv_is_valid(slot->record))
			break;
		if (slot->line) {
			write_text_as(slot->line, slot->length, slot->id_text);
			free(slot->line);
			slot->line = NULL;
			run->records_out++;
			progress_show(run, 0);
		} else {
			write_record(run, slot->record, slot->id_text);
		}
		free(slot->id_text);
		slot->id_text = NULL;
		slot->record = jv_invalid();
		pending->head++;
	}
}

void mas_run_complete(struct mas_run *run, size_t ticket, jv record)
{
	struct slot *slot = slot_of(&run->pending, ticket);

	record = finish_record(slot->span, slot->started, record);
	slot->span = NULL;
	slot->record = record;
	write_ready(run);
}

void mas_run_complete_line(struct mas_run *run, size_t ticket, char *line,
                           size_t length)
{
	struct slot *slot = slot_of(&run->pending, ticket);

	/* Spans, metrics and -v lines read the record: only then is it
	 * worth parsing. */
	if (mas_trace_enabled() || mas_metrics_enabled() ||
	    mas_log_get_level() >= MAS_LOG_INFO || slot->span) {
		jv record = jv_parse_sized(line, (int)length);

		free(line);
		mas_run_complete(run, ticket, record);
		return;
	}
	slot->record = jv_true();
	slot->line = line;
	slot->length = length;
	write_ready(run);
}

size_t mas_run_written(const struct mas_run *run)
{
	return run->pending.head;
}

void mas_run_emit(struct mas_run *run, jv record)
{
	if (pending_count(run) == 0) {
		struct mas_span *span = run->record_span;
		run->record_span = NULL;
		write_record(run, finish_record(span, run->record_started,
		                                record), run->record_id_text);
		return;
	}
	mas_run_complete(run, mas_run_defer(run), record);
}

/* Drives the program's pending work until fewer than LIMIT records are
 * unwritten. */
static void wait_below(struct mas_run *run, size_t limit)
{
	const struct mas_run_options *options = run->options;

	while (pending_count(run) >= limit && pending_count(run) > 0) {
		/* Whatever is written must reach the reader while we wait. */
		mas_output_flush();
		options->wait(run, -1, -1, options->data);
		mas_metrics_tick();
		progress_show(run, 0);
	}
}

/* Before a read that could block: while records are in flight, drive
 * them until input is readable, so a slow producer never stalls the
 * requests already made. */
static void wait_for_input(struct mas_run *run, int fd)
{
	const struct mas_run_options *options = run->options;
	struct pollfd poller = { .fd = fd, .events = POLLIN };

	while (options->jobs && pending_count(run) > 0 &&
	       poll(&poller, 1, 0) == 0) {
		mas_output_flush();
		options->wait(run, -1, fd, options->data);
		mas_metrics_tick();
	}
}

/* ---- input ---- */

static int reader_open(struct reader *reader, const char *name)
{
	memset(reader, 0, sizeof(*reader));
	reader->name = name;
	if (strcmp(name, "-") == 0) {
		reader->fd = STDIN_FILENO;
	} else {
		reader->fd = open(name, O_RDONLY | O_CLOEXEC);
		if (reader->fd < 0)
			return -1;
	}
	reader->capacity = READ_SIZE * 2;
	reader->buf = malloc(reader->capacity);
	if (!reader->buf)
		mas_die(MAS_EXIT_IO, "out of memory");
	return 0;
}

static void reader_close(struct reader *reader)
{
	if (reader->fd > STDIN_FILENO)
		close(reader->fd);
	free(reader->buf);
	reader->buf = NULL;
}

/* Makes room for READ_SIZE more bytes: moves the unread bytes to the
 * front, and grows the buffer when a line is longer than it. */
static void reader_make_room(struct reader *reader)
{
	if (reader->start > 0) {
		memmove(reader->buf, reader->buf + reader->start,
		        reader->end - reader->start);
		reader->end -= reader->start;
		reader->start = 0;
	}
	if (reader->capacity - reader->end < READ_SIZE) {
		size_t capacity = reader->capacity * 2;
		char *buf = realloc(reader->buf, capacity);
		if (!buf)
			mas_die(MAS_EXIT_IO, "%s: line %lu: out of memory",
			        reader->name, reader->line + 1);
		reader->buf = buf;
		reader->capacity = capacity;
	}
}

static int reader_fill(struct mas_run *run)
{
	struct reader *reader = &run->reader;
	ssize_t got;

	reader_make_room(reader);
	wait_for_input(run, reader->fd);
	/* About to wait for input: whatever we produced must reach the
	 * reader first, or a pipeline of mas programs deadlocks. */
	mas_output_flush();
	do
		got = read(reader->fd, reader->buf + reader->end,
		           reader->capacity - reader->end);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		mas_log(MAS_LOG_ERROR, "%s: %s",
		        strcmp(reader->name, "-") == 0 ? "stdin" : reader->name,
		        strerror(errno));
		reader->eof = 1;
		return -1;
	}
	if (got == 0)
		reader->eof = 1;
	reader->end += (size_t)got;
	mas_metrics_tick();
	return 0;
}

/* The next line without its newline (and without a CR before it), or
 * NULL at end of input. */
static char *reader_next(struct mas_run *run, size_t *length)
{
	struct reader *reader = &run->reader;

	for (;;) {
		char *from = reader->buf + reader->start + reader->scanned;
		size_t left = reader->end - reader->start - reader->scanned;
		char *newline = memchr(from, '\n', left);
		char *line = reader->buf + reader->start;

		if (newline || (reader->eof && reader->end > reader->start)) {
			size_t size = newline ? (size_t)(newline - line)
			                      : reader->end - reader->start;
			reader->start += size + (newline ? 1 : 0);
			reader->scanned = 0;
			reader->line++;
			/* how far the run is: what it has taken, not what
			 * it read ahead */
			run->progress.done += (double)size + (newline ? 1 : 0);
			if (size > 0 && line[size - 1] == '\r')
				size--;
			*length = size;
			return line;
		}
		if (reader->eof)
			return NULL;
		reader->scanned += left;
		if (reader_fill(run) < 0 && reader->end == reader->start)
			return NULL;
	}
}

/* ---- records ---- */

static int is_blank(const char *line, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return 0;
	return 1;
}

/*
 * jq's parser reports "Expected separator between values at line 1,
 * column 9 (while parsing '<the whole line>')": keep the words and the
 * column, drop the echo of the line (it may be megabytes).
 */
static jv describe_parse_error(jv message, long *column)
{
	const char *text = jv_string_value(message);
	const char *at = strstr(text, " at line ");
	const char *echo = strstr(text, " (while parsing '");
	size_t keep = echo ? (size_t)(echo - text) : strlen(text);
	const char *comma;
	jv words;

	*column = 0;
	if (at && (size_t)(at - text) < keep) {
		comma = strstr(at, ", column ");
		if (comma)
			*column = strtol(comma + 9, NULL, 10);
		keep = (size_t)(at - text);
	}
	words = jv_string_sized(text, (int)keep);
	jv_free(message);
	return words;
}

/* ERROR as an error record of line LINE of FILE; "line N: " (or "line
 * N, column C: ") goes before its message. */
static jv error_record_at(jv error, const char *file, unsigned long line,
                          long column)
{
	jv message = jv_object_get(jv_copy(error), jv_string("message"));
	char id[MAS_ID_SIZE];
	jv where = column > 0
	                   ? jv_string_fmt("line %lu, column %ld: %s",
	                                   line, column,
	                                   jv_string_value(message))
	                   : jv_string_fmt("line %lu: %s", line,
	                                   jv_string_value(message));

	jv_free(message);
	error = jv_object_set(error, jv_string("message"), where);
	error = jv_object_set(error, jv_string("line"),
	                      jv_number((double)line));
	if (strcmp(file, "-") != 0)
		error = jv_object_set(error, jv_string("file"),
		                      jv_string(file));
	mas_id_new(id);
	return JV_OBJECT(jv_string("id"), jv_string(id), jv_string("error"),
	                 error);
}

/* ERROR as an error record of the current line. */
static jv error_record(const struct mas_run *run, jv error, long column)
{
	return error_record_at(error, run->reader.name, run->reader.line,
	                       column);
}

jv mas_run_error_record(const struct mas_run *run, jv error)
{
	return error_record(run, error, 0);
}

jv mas_run_error_record_at(jv error, const char *file, unsigned long line)
{
	return error_record_at(error, file, line, 0);
}

static jv line_error(struct mas_run *run, const char *line, size_t length,
                     jv words, long column)
{
	size_t echo = length < INPUT_ECHO_LIMIT ? length : INPUT_ECHO_LIMIT;
	jv error = mas_error(MAS_ERR_INVALID_REQUEST, "%s",
	                     jv_string_value(words));

	jv_free(words);
	error = error_record(run, error, column);
	/* The bad line itself, so nothing is lost (invalid bytes become
	 * U+FFFD, as jq does). */
	error = jv_setpath(error, JV_ARRAY(jv_string("error"),
	                                   jv_string("input")),
	                   jv_string_sized(line, (int)echo));
	if (echo < length)
		error = jv_setpath(error, JV_ARRAY(jv_string("error"),
		                                   jv_string("input_truncated")),
		                   jv_true());
	return error;
}

static const char *kind_article(jv_kind kind)
{
	switch (kind) {
	case JV_KIND_ARRAY: return "an array";
	case JV_KIND_STRING: return "a string";
	case JV_KIND_NUMBER: return "a number";
	case JV_KIND_NULL: return "null";
	case JV_KIND_TRUE:
	case JV_KIND_FALSE: return "a boolean";
	default: return "something else";
	}
}

/* A parsed line as a record, or an error record in its place. */
static jv parse_line(struct mas_run *run, const char *line, size_t length,
                     int *ok)
{
	size_t bad = mas_utf8_invalid_offset(line, length);
	jv value;
	long column;

	*ok = 0;
	if (bad < length) {
		char words[64];
		snprintf(words, sizeof(words), "invalid UTF-8 at byte %zu",
		         bad + 1);
		return line_error(run, line, length, jv_string(words), 0);
	}
	if (length > (size_t)0x7fffffff)
		return line_error(run, line, length,
		                  jv_string("line longer than 2 GiB"), 0);
	value = jv_parse_sized(line, (int)length);
	if (!jv_is_valid(value)) {
		jv words = describe_parse_error(jv_invalid_get_msg(value),
		                                &column);
		return line_error(run, line, length, words, column);
	}
	if (jv_get_kind(value) != JV_KIND_OBJECT) {
		char words[64];
		snprintf(words, sizeof(words), "expected a JSON object, got %s",
		         kind_article(jv_get_kind(value)));
		jv_free(value);
		return line_error(run, line, length, jv_string(words), 0);
	}
	*ok = 1;
	return value;
}

/* The id's text in LINE when it is a number libjq would write otherwise
 * (malloc'd), else NULL: ids of any type are kept as they came. */
static char *numeric_id_text(const char *line, size_t length, jv record)
{
	jv id = jv_object_get(jv_copy(record), jv_string("id"));
	char canonical[MAS_JSON_NUMBER_SIZE];
	struct mas_json_scan scan;
	size_t size;

	if (jv_get_kind(id) != JV_KIND_NUMBER) {
		jv_free(id);
		return NULL;
	}
	size = mas_json_number(jv_number_value(id), canonical);
	jv_free(id);
	if (!mas_json_scan_object(line, length, &scan) || !scan.id ||
	    (scan.id_length == size && memcmp(scan.id, canonical, size) == 0))
		return NULL;
	return strndup(scan.id, scan.id_length);
}

jv mas_record_ensure_id(jv record)
{
	jv id = jv_object_get(jv_copy(record), jv_string("id"));
	char fresh[MAS_ID_SIZE];
	jv kept;

	if (jv_get_kind(id) != JV_KIND_NULL && jv_is_valid(id)) {
		jv_free(id);
		return record;
	}
	jv_free(id);
	mas_id_new(fresh);
	kept = JV_OBJECT(jv_string("id"), jv_string(fresh));
	record = jv_object_delete(record, jv_string("id"));
	return jv_object_merge(kept, record);
}

/* The record's span, continuing the trace its "traceparent" names, and
 * current while the program handles the record. */
static void start_record_span(struct mas_run *run, jv record)
{
	jv parent = jv_null();

	if (jv_get_kind(record) == JV_KIND_OBJECT && mas_trace_enabled())
		parent = jv_object_get(jv_copy(record), jv_string("traceparent"));
	jv_free(record);
	if (!mas_trace_enabled())
		return;
	run->record_span = mas_span_start_remote(
		mas_log_program(), jv_get_kind(parent) == JV_KIND_STRING
		                           ? jv_string_value(parent) : NULL);
	jv_free(parent);
	mas_span_set(run->record_span, "mas.input.line",
	             jv_number((double)run->reader.line));
	if (strcmp(run->reader.name, "-") != 0)
		mas_span_set(run->record_span, "mas.input.file",
		             jv_string(run->reader.name));
	mas_trace_set_current(run->record_span);
}

static void run_file(struct mas_run *run)
{
	const struct mas_run_options *options = run->options;
	size_t length;
	char *line;

	while ((line = reader_next(run, &length)) != NULL) {
		jv record;
		int ok;

		if (is_blank(line, length))
			continue;
		/* Memory is bounded by --jobs, bad lines included. */
		if (options->jobs)
			wait_below(run, options->jobs);
		/* for latency figures and -v lines only: a clock read per
		 * record costs a fast filter dearly */
		run->record_started = mas_metrics_enabled() ||
		                      mas_trace_enabled() ||
		                      mas_log_get_level() >= MAS_LOG_INFO ?
		                      mas_clock_monotonic() : 0;
		run->records_in++;
		mas_metrics_count("mas_records_read_total", "Input lines read "
		                  "as records (blank lines skipped).", NULL, 1);
		if (options->line &&
		    options->line(run, line, length, options->data))
			continue;
		record = parse_line(run, line, length, &ok);
		if (!options->keep_rows_raw)
			start_record_span(run, ok ? jv_copy(record) : jv_null());
		if (!ok) {
			mas_run_emit(run, record);
			continue;
		}
		if (!options->keep_rows_raw) {
			record = mas_record_ensure_id(record);
			run->record_id_text = numeric_id_text(line, length,
			                                      record);
		}
		options->each(run, record, options->data);
		free(run->record_id_text);
		run->record_id_text = NULL;
		/* Whatever the program did not emit or defer ends here. */
		mas_trace_set_current(NULL);
		mas_span_end(run->record_span);
		run->record_span = NULL;
	}
}

static void run_input(struct mas_run *run, const char *name)
{
	if (reader_open(&run->reader, name) < 0) {
		mas_log(MAS_LOG_ERROR, "%s: %s", name, strerror(errno));
		run->status = MAS_EXIT_USAGE;
		return;
	}
	run_file(run);
	reader_close(&run->reader);
}

int mas_run_records(const struct mas_run_options *options)
{
	struct mas_run run = { .options = options };

	mas_output_init();
	progress_start(&run);
	if (options->file_count == 0)
		run_input(&run, "-");
	for (int i = 0; i < options->file_count; i++)
		run_input(&run, options->files[i]);
	if (options->input_end)
		options->input_end(&run, options->data);
	if (options->jobs)
		wait_below(&run, 1);
	if (options->finish) {
		/* Records made at end of input hang from one span of the
		 * whole run. */
		struct mas_span *whole = mas_span_start(mas_log_program(), NULL);
		mas_span_set(whole, "mas.records.in",
		             jv_number((double)run.records_in));
		mas_trace_set_current(whole);
		run.record_started = 0;
		options->finish(&run, options->data);
		mas_trace_set_current(NULL);
		mas_span_end(whole);
	}
	progress_show(&run, 1);
	mas_output_flush();
	free(run.pending.slots);
	if (run.status)
		return run.status;
	if (run.failed == 0)
		return MAS_EXIT_OK;
	return run.failed_permanent ? MAS_EXIT_RECORDS : MAS_EXIT_TEMPFAIL;
}

static void fail_each(struct mas_run *run, jv record, void *data)
{
	const jv *error = data;

	if (jv_get_kind(record) != JV_KIND_OBJECT)
		record = JV_OBJECT(jv_string("value"), record);
	mas_run_emit(run, jv_object_set(record, jv_string("error"),
	                                jv_copy(*error)));
}

int mas_run_records_failing(const struct mas_run_options *options,
                            jv error)
{
	struct mas_run_options failing = {
		.files = options->files,
		.file_count = options->file_count,
		.each = fail_each,
		.data = &error,
		.keep_rows_raw = options->keep_rows_raw,
	};
	int status = mas_run_records(&failing);

	jv_free(error);
	return status;
}

const char *mas_run_file(const struct mas_run *run)
{
	return run->reader.name;
}

unsigned long mas_run_line(const struct mas_run *run)
{
	return run->reader.line;
}

unsigned long mas_run_records_in(const struct mas_run *run)
{
	return run->records_in;
}

unsigned long mas_run_records_failed(const struct mas_run *run)
{
	return run->failed;
}
