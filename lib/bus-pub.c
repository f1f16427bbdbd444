/*
 * bus-pub.c — the publish loop of `mas-bus pub` for plain payloads
 * (bus.h, mas_bus_pub_lines).
 *
 * The record loop (record.h) parses every line with libjq, and pub
 * would then build an envelope object and dump it again: three passes
 * of libjq per message, most of the cost of publishing.  Here a line is
 * checked by json-scan (no values built) and spliced into its envelope
 * as text.  A line json-scan refuses is parsed by libjq, which decides:
 * published the slow way, or an error record in the shape the record
 * loop gives.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "record.h"
#include "utf8.h"
#include "banned.h"

#define READ_SIZE (256 * 1024)
#define ECHO_LIMIT 65536 /* bytes of a bad line kept in its error */

/* A file read in large blocks, cut into lines. */
struct reader {
	int fd;
	const char *name;    /* "-" for stdin */
	char *buffer;
	size_t size, start, end;
	int eof;
	unsigned long line;
};

/* One output place of the open batch: a message's receipt, filled at
 * commit, or an error record ready now. */
struct place {
	char id[MAS_ID_SIZE];
	long long seq;
	unsigned long line;
	jv error;            /* jv_invalid() for a message */
};

struct pub {
	const struct mas_bus_pub_options *options;
	struct reader reader;
	struct place *places;
	size_t count, size;
	size_t messages;     /* in the open batch */
	int batch_open;
	unsigned long failed, transient;
	int status;
};

static int reader_fill(struct reader *reader)
{
	ssize_t got;

	if (reader->start > 0) {
		memmove(reader->buffer, reader->buffer + reader->start,
		        reader->end - reader->start);
		reader->end -= reader->start;
		reader->start = 0;
	}
	if (reader->size - reader->end < READ_SIZE) {
		char *bigger = realloc(reader->buffer, reader->size * 2);

		if (!bigger)
			return -1;
		reader->buffer = bigger;
		reader->size *= 2;
	}
	do
		got = read(reader->fd, reader->buffer + reader->end,
		           reader->size - reader->end);
	while (got < 0 && errno == EINTR);
	if (got <= 0) {
		reader->eof = 1;
		return got < 0 ? -1 : 0;
	}
	reader->end += (size_t)got;
	return 0;
}

/* The next line (without its newline or CR), or NULL at the end.  It
 * stays valid until the next call. */
static char *reader_next(struct reader *reader, size_t *length)
{
	size_t scanned = 0; /* bytes after start known to hold no newline */

	for (;;) {
		char *line = reader->buffer + reader->start;
		size_t left = reader->end - reader->start;
		char *newline = memchr(line + scanned, '\n', left - scanned);

		if (newline || (reader->eof && left > 0)) {
			size_t size = newline ? (size_t)(newline - line) :
			              left;

			reader->start += size + (newline ? 1 : 0);
			reader->line++;
			if (size > 0 && line[size - 1] == '\r')
				size--;
			*length = size;
			return line;
		}
		if (reader->eof)
			return NULL;
		scanned = left;
		if (reader_fill(reader) < 0 && reader->end == reader->start)
			return NULL;
	}
}

/* Whether the next line can be had without blocking: buffered, or the
 * pipe has more.  Files never block. */
static int reader_ready(const struct reader *reader)
{
	struct pollfd poller = { .fd = reader->fd, .events = POLLIN };

	if (reader->eof || memchr(reader->buffer + reader->start, '\n',
	                          reader->end - reader->start))
		return 1;
	if (strcmp(reader->name, "-") != 0)
		return 1;
	return poll(&poller, 1, 0) > 0;
}

static struct place *place_new(struct pub *pub)
{
	if (pub->count == pub->size) {
		size_t size = pub->size ? pub->size * 2 : 1024;
		struct place *places = realloc(pub->places,
		                               size * sizeof(*places));

		if (!places)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		pub->places = places;
		pub->size = size;
	}
	memset(&pub->places[pub->count], 0, sizeof(struct place));
	pub->places[pub->count].error = jv_invalid();
	pub->places[pub->count].line = pub->reader.line;
	return &pub->places[pub->count++];
}

/* An error record for LINE of the current file, as the record loop
 * words them. */
static jv error_record(struct pub *pub, unsigned long line, jv error)
{
	jv message = jv_object_get(jv_copy(error), jv_string("message"));
	char id[MAS_ID_SIZE];

	error = jv_object_set(error, jv_string("message"), jv_string_fmt(
		"line %lu: %s", line, jv_string_value(message)));
	jv_free(message);
	error = jv_object_set(error, jv_string("line"),
	                      jv_number((double)line));
	if (strcmp(pub->reader.name, "-") != 0)
		error = jv_object_set(error, jv_string("file"),
		                      jv_string(pub->reader.name));
	mas_id_new(id);
	return JV_OBJECT(jv_string("id"), jv_string(id), jv_string("error"),
	                 error);
}

static void write_jv(jv value)
{
	jv text = jv_dump_string(value, 0);

	fputs(jv_string_value(text), stdout);
	putchar('\n');
	jv_free(text);
}

static void write_receipt(struct pub *pub, const struct place *place)
{
	if (place->seq > 0)
		printf("{\"id\":\"%s\",\"topic\":\"%s\",\"seq\":%lld}\n",
		       place->id, pub->options->topic, place->seq);
	else
		printf("{\"id\":\"%s\",\"topic\":\"%s\"}\n", place->id,
		       pub->options->topic);
}

/* Write the batch's places in order: receipts (-v) once stored, or an
 * error record per message when the commit failed (ERROR). */
static void write_places(struct pub *pub, const char *error)
{
	for (size_t i = 0; i < pub->count; i++) {
		struct place *place = &pub->places[i];

		if (jv_is_valid(place->error)) {
			write_jv(place->error);
		} else if (error) {
			pub->failed++;
			pub->transient++;
			write_jv(error_record(pub, place->line, mas_error(
				MAS_ERR_UPSTREAM_ERROR, "%s", error)));
		} else if (pub->options->receipts) {
			write_receipt(pub, place);
		}
		place->error = jv_invalid();
	}
	pub->count = 0;
}

static void commit(struct pub *pub)
{
	char *error = NULL;

	if (pub->batch_open &&
	    mas_bus_commit(pub->options->bus, &error) == 0)
		mas_metrics_count("mas_bus_published_total", "Messages "
		                  "published.", NULL, (double)pub->messages);
	pub->batch_open = 0;
	pub->messages = 0;
	write_places(pub, error);
	free(error);
	mas_output_flush();
}

/* A publish that failed before the commit: its place says so. */
static void publish_failed(struct pub *pub, struct place *place,
                           char *error)
{
	pub->failed++;
	pub->transient++;
	place->error = error_record(pub, place->line, mas_error(
		MAS_ERR_UPSTREAM_ERROR, "%s",
		error ? error : "publish failed"));
	free(error);
}

static void publish_scanned(struct pub *pub, const char *line, size_t length)
{
	const struct mas_bus_pub_options *options = pub->options;
	struct place *place = place_new(pub);
	char *error = NULL;

	if (!pub->batch_open && mas_bus_begin(options->bus, &error) == 0)
		pub->batch_open = 1;
	if (pub->batch_open)
		place->seq = mas_bus_publish_text(options->bus, options->topic,
		                                  options->priority, line,
		                                  length, place->id, &error);
	if (!pub->batch_open || place->seq < 0)
		publish_failed(pub, place, error);
	else
		pub->messages++;
}

/* How much of libjq's parse error to keep: its words, not the place
 * within the line (always line 1 for it) nor the echo of the line. */
static size_t words_length(const char *message)
{
	const char *at = strstr(message, " at line ");
	const char *echo = strstr(message, " (while parsing");

	if (at)
		return (size_t)(at - message);
	return echo ? (size_t)(echo - message) : strlen(message);
}

/* Why LINE is not a record, as the record loop words it. */
static jv why_not(const char *line, size_t length)
{
	size_t bad = mas_utf8_invalid_offset(line, length);
	jv value, words;

	if (bad < length)
		return jv_string_fmt("invalid UTF-8 at byte %zu", bad + 1);
	value = jv_parse_sized(line, (int)length);
	if (jv_is_valid(value)) {
		jv_free(value);
		return jv_string("expected a JSON object");
	}
	words = jv_invalid_get_msg(value);
	value = jv_string_fmt("%.*s",
	                      (int)words_length(jv_string_value(words)),
	                      jv_string_value(words));
	jv_free(words);
	return value;
}

/* An error record for the current line: why, and the line itself, so
 * nothing is lost. */
static jv line_error(struct pub *pub, const char *line, size_t length)
{
	size_t echo = length < ECHO_LIMIT ? length : ECHO_LIMIT;
	jv words = why_not(line, length);
	jv record = error_record(pub, pub->reader.line, mas_error(
		MAS_ERR_INVALID_REQUEST, "%s", jv_string_value(words)));

	jv_free(words);
	record = jv_setpath(record, JV_ARRAY(jv_string("error"),
	                                     jv_string("input")),
	                    jv_string_sized(line, (int)echo));
	if (echo < length)
		record = jv_setpath(record, JV_ARRAY(jv_string("error"),
		                    jv_string("input_truncated")), jv_true());
	return record;
}

/* A line json-scan refused: libjq decides, and words the error. */
static void publish_parsed(struct pub *pub, const char *line, size_t length)
{
	jv value = jv_parse_sized(line, (int)length);
	jv text;

	if (jv_get_kind(value) == JV_KIND_OBJECT &&
	    mas_utf8_invalid_offset(line, length) == length) {
		text = jv_dump_string(value, 0);
		publish_scanned(pub, jv_string_value(text),
		                (size_t)jv_string_length_bytes(jv_copy(text)));
		jv_free(text);
		return;
	}
	jv_free(value);
	pub->failed++;
	place_new(pub)->error = line_error(pub, line, length);
}

static int blank(const char *line, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return 0;
	return 1;
}

static void publish_line(struct pub *pub, const char *line, size_t length)
{
	struct mas_json_scan scan;

	if (blank(line, length))
		return;
	if (mas_json_scan_object(line, length, &scan) &&
	    mas_utf8_invalid_offset(line, length) == length)
		publish_scanned(pub, line, length);
	else
		publish_parsed(pub, line, length);
	/* Commit before reading could block, so a message is stored as
	 * soon as its producer goes quiet. */
	if (pub->count >= 1024 || !reader_ready(&pub->reader))
		commit(pub);
}

static void publish_file(struct pub *pub, const char *name)
{
	struct reader *reader = &pub->reader;
	size_t length;
	char *line;

	reader->name = name;
	reader->fd = strcmp(name, "-") == 0 ? STDIN_FILENO :
	             open(name, O_RDONLY | O_CLOEXEC);
	if (reader->fd < 0) {
		mas_error_log("%s: %s", name, strerror(errno));
		pub->status = MAS_EXIT_USAGE;
		return;
	}
	reader->start = reader->end = 0;
	reader->eof = 0;
	reader->line = 0;
	while ((line = reader_next(reader, &length)) != NULL)
		publish_line(pub, line, length);
	commit(pub);
	if (reader->fd != STDIN_FILENO)
		close(reader->fd);
}

int mas_bus_pub_lines(const struct mas_bus_pub_options *options)
{
	struct pub pub = { .options = options, .status = MAS_EXIT_OK };
	int count = options->file_count;

	pub.reader.size = 2 * READ_SIZE;
	pub.reader.buffer = malloc(pub.reader.size);
	if (!pub.reader.buffer)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	mas_output_init();
	for (int i = 0; i < (count ? count : 1); i++)
		publish_file(&pub, count ? options->files[i] : "-");
	free(pub.reader.buffer);
	free(pub.places);
	if (pub.status != MAS_EXIT_OK)
		return pub.status;
	if (pub.failed == 0)
		return MAS_EXIT_OK;
	return pub.transient == pub.failed ? MAS_EXIT_TEMPFAIL :
	       MAS_EXIT_RECORDS;
}
