/*
 * fuzz-serve-http.c — mas-serve's request handling (lib/serve.c and
 * serve-api.c), the whole of it: each input is the bytes a client sends
 * on one connection (request line, headers, body, perhaps several
 * requests), written into a real server started once in this process
 * (mas_serve_start, listening on loopback port 0 but reached through
 * mas_serve_connect's socket pair, so no TCP), with a key file, one
 * request worker and the chat, research and analysis agents on the
 * examples, as tests/bats/serve*.bats run it.  After the input the
 * client's side is shut for writing and everything the server answers
 * is read until it closes the connection.
 *
 * What must hold: the server answers within the request's time or
 * closes (never hangs: the read is bounded); every answer is an HTTP/1.1
 * status line and headers; never 500; a JSON answer is the envelope
 * (serve-http.h): "success" with data below 400, "error" with a string
 * code and message from 400 on (the OpenAPI document, /health's own
 * shape and a model's event stream aside).  The sanitizers check the rest.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jv.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "fuzz.h"
#include "serve.h"

/* The key tests/fuzz/corpus/serve-http's requests present. */
#define KEY "mas_fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuz"
#define KEY_DIGEST \
	"91becde26cf76545bb3db3c134200e21252515db09bd32534b944539820091cc"

/* Seconds an input may take, all answers read: well past the agents'
 * time limit (serve.timeout below), under libFuzzer's -timeout=10. */
#define READ_LIMIT 8.0

static struct mas_cli cli;
static struct mas_engine engine;
static struct mas_serve_options options;
static struct mas_serve_server *server;

/* The source tree: this program is TOP/tests/fuzz/bin/NAME. */
static void find_top(char *top, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", top, size - 1);

	if (n <= 0)
		fuzz_fail(__FILE__, __LINE__, "readlink /proc/self/exe");
	top[n] = '\0';
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(top, '/');

		if (!slash)
			fuzz_fail(__FILE__, __LINE__, "no source tree");
		*slash = '\0';
	}
}

static void set(const char *name, const char *value)
{
	mas_config_set(&cli.config, name, value, MAS_CONFIG_FLAG);
}

static void stop_server(void)
{
	mas_serve_stop(server);
	server = NULL;
	mas_engine_release(&engine);
	mas_cli_release(&cli);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char top[PATH_MAX], path[PATH_MAX + 64], state[PATH_MAX];
	char *error = NULL;
	int status;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	find_top(top, sizeof(top) - 64);
	snprintf(state, sizeof(state), "%s/state", fuzz_dir());
	setenv("MAS_STATE_DIR", state, 1);
	setenv("XDG_CONFIG_HOME", fuzz_dir(), 1); /* no one's config */
	unsetenv("MAS_BUS_URL");
	unsetenv("OPENAI_BASE_URL");
	unsetenv("OPENAI_API_KEY");
	mas_cli_init(&cli, "mas-serve", "serve");
	mas_engine_init(&engine, &cli);
	mas_cli_setup(&cli);
	fuzz_quiet();
	/* one key, allowed every route */
	snprintf(path, sizeof(path), "%s/keys", fuzz_dir());
	{
		FILE *f = fopen(path, "w");

		if (!f)
			fuzz_fail(__FILE__, __LINE__, "cannot write keys");
		fprintf(f, "fuzz sha256:%s *\n", KEY_DIGEST);
		fclose(f);
		chmod(path, 0600);
	}
	set("serve.listen", "127.0.0.1:0");
	set("serve.keys", path);
	set("serve.workers", "1");
	set("serve.task_workers", "0");
	set("serve.threads", "2");
	set("serve.timeout", "3");
	/* libmicrohttpd keeps a connection whose client half-closed it
	 * before the end of its body until the watch drops it, a
	 * header_timeout after it opened: kept short, so that inputs cut
	 * short (most of what the fuzzer makes) cost little */
	set("serve.header_timeout", "0.1");
	set("serve.shutdown_timeout", "1");
	set("serve.max_body", "65536");
	set("serve.access_log", "off");
	snprintf(path, sizeof(path), "%s/examples/kb.jsonl", top);
	set("chat.kb", path);
	snprintf(path, sizeof(path), "%s/examples/corpus", top);
	set("research.corpus", path);
	snprintf(path, sizeof(path), "%s/examples/data", top);
	set("analyze.data_dir", path);
	if (mas_serve_options_read(&options, &cli, &error)) {
		fuzz_say("serve options: %s\n", error);
		fuzz_fail(__FILE__, __LINE__, "serve options");
	}
	engine.per_thread = 1;
	mas_engine_setup(&engine);
	options.engine = &engine;
	options.flow_command = "mas-flow";
	options.sessions = 1;
	server = mas_serve_start(&options, &status);
	if (!server)
		fuzz_fail(__FILE__, __LINE__, "mas_serve_start");
	atexit(stop_server);
	return 0;
}

/* Write DATA to FD, as much as the server takes (it may answer and
 * close before the end of a large body). */
static void send_all(int fd, const uint8_t *data, size_t size)
{
	while (size > 0) {
		ssize_t n = send(fd, data, size, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		data += n;
		size -= (size_t)n;
	}
}

/* Everything the server writes on FD until it closes, within
 * READ_LIMIT seconds (malloc'd, NUL-terminated, length in *SIZE). */
static char *read_all(int fd, size_t *size)
{
	double until = mas_clock_monotonic() + READ_LIMIT;
	size_t capacity = 65536;
	char *text = malloc(capacity + 1);

	*size = 0;
	FUZZ_ASSERT(text);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		double left = until - mas_clock_monotonic();
		ssize_t n;

		/* the server never leaves a connection hanging */
		FUZZ_ASSERT(left > 0);
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (capacity - *size < 4096) {
			capacity *= 2;
			text = realloc(text, capacity + 1);
			FUZZ_ASSERT(text);
		}
		n = recv(fd, text + *size, capacity - *size, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*size += (size_t)n;
	}
	text[*size] = '\0';
	return text;
}

/* The value of header NAME among HEAD's lines (up to END), or NULL;
 * its length in *LENGTH. */
static const char *header(const char *head, const char *end,
                          const char *name, size_t *length)
{
	size_t name_length = strlen(name);

	for (const char *line = strstr(head, "\r\n"); line && line < end;
	     line = strstr(line + 2, "\r\n")) {
		const char *value = line + 2;

		if (strncasecmp(value, name, name_length) != 0 ||
		    value[name_length] != ':')
			continue;
		value += name_length + 1;
		while (*value == ' ')
			value++;
		*length = (size_t)(strstr(value, "\r\n") - value);
		return value;
	}
	return NULL;
}

/* The kind of OBJECT's member NAME (OBJECT borrowed). */
static jv_kind member_kind(jv object, const char *name)
{
	jv member = jv_object_get(jv_copy(object), jv_string(name));
	jv_kind kind = jv_get_kind(member);

	jv_free(member);
	return kind;
}

/* BODY (LENGTH bytes), a JSON answer of STATUS: an envelope. */
static void check_json(unsigned status, const char *body, size_t length)
{
	jv answer = jv_parse_sized(body, (int)length);
	jv kind, error;

	FUZZ_ASSERT(jv_get_kind(answer) == JV_KIND_OBJECT);
	/* the OpenAPI document is not an envelope */
	if (jv_object_has(jv_copy(answer), jv_string("openapi"))) {
		jv_free(answer);
		return;
	}
	kind = jv_object_get(jv_copy(answer), jv_string("status"));
	FUZZ_ASSERT(jv_get_kind(kind) == JV_KIND_STRING);
	/* /health's own shape (mas-serve(1)): 200 healthy, 503 degraded */
	if (jv_object_has(jv_copy(answer), jv_string("components"))) {
		FUZZ_ASSERT(strcmp(jv_string_value(kind), status == 200 ?
		                   "healthy" : "degraded") == 0);
		jv_free(kind);
		jv_free(answer);
		return;
	}
	FUZZ_ASSERT(jv_object_has(jv_copy(answer), jv_string("timestamp")));
	if (status < 400) {
		FUZZ_ASSERT(strcmp(jv_string_value(kind), "success") == 0);
		FUZZ_ASSERT(jv_object_has(jv_copy(answer), jv_string("data")));
	} else {
		FUZZ_ASSERT(strcmp(jv_string_value(kind), "error") == 0);
		error = jv_object_get(jv_copy(answer), jv_string("error"));
		FUZZ_ASSERT(jv_get_kind(error) == JV_KIND_OBJECT);
		FUZZ_ASSERT(member_kind(error, "code") == JV_KIND_STRING);
		FUZZ_ASSERT(member_kind(error, "message") == JV_KIND_STRING);
		jv_free(error);
	}
	jv_free(kind);
	jv_free(answer);
}

/* Whether the bytes from AT up to NEXT come again from NEXT on (before
 * END). */
static int is_repeated(const char *at, const char *next, const char *end)
{
	size_t length = (size_t)(next - at);

	return (size_t)(end - next) >= length &&
	       memcmp(at, next, length) == 0;
}

/* The answers in TEXT (SIZE bytes), one after the other; a last one may
 * be cut short where the server closed. */
static void check_answers(const char *text, size_t size)
{
	const char *at = text, *end = text + size;

	while (at < end) {
		const char *head_end = strstr(at, "\r\n\r\n");
		const char *type, *value;
		size_t type_length = 0, length = 0;
		unsigned status;
		char *stop;

		FUZZ_ASSERT(strncmp(at, "HTTP/1.", 7) == 0);
		/* libmicrohttpd 0.9.75 sends the status line and headers of
		 * its own 400 for a bad Content-Length twice (a server of a
		 * few lines on it does the same): not mas's to check */
		if (head_end && (size_t)(end - head_end) > 4 &&
		    is_repeated(at, head_end + 4, end)) {
			at = head_end + 4;
			continue;
		}
		status = (unsigned)strtoul(at + 9, &stop, 10);
		FUZZ_ASSERT(status >= 100 && status < 600 && *stop == ' ');
		/* an error of ours is a 4xx, 503 or 504, never a 500 */
		FUZZ_ASSERT(status != 500);
		if (!head_end)
			return;
		type = header(at, head_end, "Content-Type", &type_length);
		value = header(at, head_end, "Content-Length", &length);
		at = head_end + 4;
		if (!value)
			return; /* a stream, or chunks: the last answer */
		length = strtoul(value, NULL, 10);
		if (length > (size_t)(end - at))
			return; /* cut short, or a HEAD's */
		if (type && type_length >= 16 &&
		    strncmp(type, "application/json", 16) == 0 && length > 0)
			check_json(status, at, length);
		at += length;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = mas_serve_connect(server);
	double began = mas_clock_monotonic();
	size_t length;
	char *answers;

	FUZZ_ASSERT(fd >= 0);
	send_all(fd, data, size);
	shutdown(fd, SHUT_WR);
	answers = read_all(fd, &length);
	close(fd);
	/* FUZZ_SHOW=1: what the server answered, to see why a check fails */
	if (getenv("FUZZ_SHOW"))
		fuzz_say("%.3f s\n%s\n", mas_clock_monotonic() - began,
		         answers);
	check_answers(answers, length);
	free(answers);
	return 0;
}
