/*
 * fuzz-record.c — the record loop's line handling (lib/record.c): the
 * input is a JSON Lines file read by mas_run_records, whose output goes
 * to a memory file.  Whatever the bytes: one line comes out for every
 * line that is not blank, in order; each is a JSON object with an id;
 * a line that is not a JSON object comes out as an INVALID_REQUEST error
 * record, one that is keeps its id; the status says whether any failed.
 * Each input runs twice: synchronously, and with records deferred and
 * completed out of order (--jobs), which the loop must put back in
 * order.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jv.h>

#include "fuzz.h"
#include "mas.h"
#include "record.h"
#include "utf8.h"

enum { JOBS = 3 };

/* Records deferred by each_later, waiting for wait_later. */
struct later {
	size_t tickets[JOBS + 1];
	jv records[JOBS + 1];
	size_t count;
};

static void each_now(struct mas_run *run, jv record, void *data)
{
	(void)data;
	mas_run_emit(run, record);
}

static void each_later(struct mas_run *run, jv record, void *data)
{
	struct later *later = data;

	FUZZ_ASSERT(later->count <= JOBS);
	later->tickets[later->count] = mas_run_defer(run);
	later->records[later->count++] = record;
}

/* Completes every deferred record, the newest first. */
static void wait_later(struct mas_run *run, int timeout_ms, int fd,
                       void *data)
{
	struct later *later = data;

	(void)timeout_ms;
	(void)fd;
	while (later->count > 0) {
		later->count--;
		mas_run_complete(run, later->tickets[later->count],
		                 later->records[later->count]);
	}
}

/* The input's next line as the loop cuts it, or NULL at the end. */
static const char *next_line(const char **p, const char *end,
                             size_t *length)
{
	const char *line = *p;
	const char *newline;

	if (line >= end)
		return NULL;
	newline = memchr(line, '\n', (size_t)(end - line));
	*length = newline ? (size_t)(newline - line) : (size_t)(end - line);
	*p = line + *length + (newline ? 1 : 0);
	if (*length > 0 && line[*length - 1] == '\r')
		(*length)--;
	return line;
}

static int blank(const char *line, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return 0;
	return 1;
}

/* Whether a member jv_object_get gave is there and not null. */
static int present(jv value) /* borrows */
{
	return jv_is_valid(value) && jv_get_kind(value) != JV_KIND_NULL;
}

/* The input line as libjq reads it: an object, or invalid. */
static jv as_record(const char *line, size_t length)
{
	jv value;

	if (mas_utf8_invalid_offset(line, length) < length)
		return jv_invalid();
	value = jv_parse_sized(line, (int)length);
	if (jv_get_kind(value) == JV_KIND_OBJECT)
		return value;
	jv_free(value);
	return jv_invalid();
}

/* One output line against its input line; whether it is an error. */
static int check_line(const char *in, size_t in_length, const char *out,
                      size_t out_length)
{
	jv record = jv_parse_sized(out, (int)out_length);
	jv input = as_record(in, in_length);
	jv id, error;
	int failed;

	FUZZ_ASSERT(jv_get_kind(record) == JV_KIND_OBJECT);
	id = jv_object_get(jv_copy(record), jv_string("id"));
	error = jv_object_get(jv_copy(record), jv_string("error"));
	FUZZ_ASSERT(present(id));
	failed = present(error);
	if (jv_is_valid(input)) {
		jv given = jv_object_get(jv_copy(input), jv_string("id"));

		/* the record as given, its id kept when it had one */
		if (present(given))
			FUZZ_ASSERT(jv_equal(jv_copy(id), given));
		else
			jv_free(given);
		jv_free(error);
		error = jv_object_get(jv_copy(input), jv_string("error"));
		FUZZ_ASSERT(failed == present(error));
	} else {
		jv code = jv_object_get(jv_copy(error), jv_string("code"));

		FUZZ_ASSERT(jv_get_kind(error) == JV_KIND_OBJECT);
		FUZZ_ASSERT(jv_get_kind(code) == JV_KIND_STRING &&
		            strcmp(jv_string_value(code),
		                   "INVALID_REQUEST") == 0);
		jv_free(code);
		failed = 1;
	}
	jv_free(error);
	jv_free(id);
	jv_free(record);
	jv_free(input);
	return failed;
}

static void check_output(const char *in, size_t in_size, int status)
{
	off_t size = lseek(STDOUT_FILENO, 0, SEEK_END);
	char *out = malloc((size_t)size + 1);
	const char *p = in, *q, *in_end = in + in_size, *out_end;
	const char *line;
	size_t length;
	int failed = 0;

	FUZZ_ASSERT(out &&
	            pread(STDOUT_FILENO, out, (size_t)size, 0) == size);
	q = out;
	out_end = out + size;
	FUZZ_ASSERT(size == 0 || out[size - 1] == '\n');
	for (;;) {
		const char *answer;
		size_t answer_length;

		line = next_line(&p, in_end, &length);
		if (!line)
			break;
		if (blank(line, length))
			continue;
		answer = next_line(&q, out_end, &answer_length);
		FUZZ_ASSERT(answer != NULL);
		failed |= check_line(line, length, answer, answer_length);
	}
	FUZZ_ASSERT(q == out_end);
	FUZZ_ASSERT(status == (failed ? MAS_EXIT_RECORDS : MAS_EXIT_OK));
	free(out);
}

static void run(const uint8_t *data, size_t size, const char *path,
                int jobs)
{
	struct later later = { .count = 0 };
	char *files[] = { (char *)path };
	struct mas_run_options options = {
		.files = files,
		.file_count = 1,
		.each = jobs ? each_later : each_now,
		.data = &later,
		.jobs = jobs ? JOBS : 0,
		.wait = wait_later,
	};
	int status;

	FUZZ_ASSERT(ftruncate(STDOUT_FILENO, 0) == 0);
	FUZZ_ASSERT(lseek(STDOUT_FILENO, 0, SEEK_SET) == 0);
	status = mas_run_records(&options);
	FUZZ_ASSERT(later.count == 0);
	check_output((const char *)data, size, status);
}

/* The loop writes to stdout: a memory file, read back.  Made at the
 * first input, since libFuzzer's -close_fd_mask=1 replaces stdout after
 * the initialiser. */
static void capture_stdout(void)
{
	static int done;
	int fd;

	if (done)
		return;
	done = 1;
	fuzz_quiet();
	fd = memfd_create("fuzz-record-out", 0);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
		perror("fuzz-record: stdout");
		exit(2);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("input.jsonl", data, size);

	capture_stdout();
	run(data, size, path, 0);
	run(data, size, path, 1);
	return 0;
}
