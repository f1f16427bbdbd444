/*
 * fake-openai — a fake OpenAI-compatible chat-completions server for the
 * tests and benchmarks of mas's LLM client.  It listens on 127.0.0.1 only,
 * answers from a script of rules, can produce every fault the client has to
 * survive, and logs every request so a test can check what was sent.
 *
 * Usage:
 *   fake-openai [--port N] [--port-file FILE] [--script FILE] [--log FILE]
 *               [--default-delay-ms N]
 *
 *   --port N              port on 127.0.0.1; 0 (the default) picks a free
 *                         one.
 *   --port-file FILE      once listening, write the port and a newline to
 *                         FILE, through a temporary file and rename(2) so a
 *                         test polling for FILE never reads half of it.
 *   --script FILE         the rules, one JSON object a line (below); without
 *                         a script every request gets the default reply.
 *   --log FILE            append one JSON line per request received, flushed
 *                         at once: {"n":1,"method":"POST","path":"/v1/...",
 *                         "headers":{"lowercase-name":"value",...},
 *                         "body":<the body parsed as JSON, else the raw
 *                         string, null when empty>,"rule":<script line of
 *                         the rule applied, or null>}.
 *   --default-delay-ms N  wait N ms before each chat answer whose rule does
 *                         not set delay_ms.
 *
 * It serves until SIGTERM or SIGINT, then closes every connection and exits
 * 0; 2 on a bad option or script, 1 when it cannot listen.
 *
 * Endpoints: POST /v1/chat/completions and POST /chat/completions answer
 * from the rules; GET /v1/models and GET /models list "fake-model";
 * anything else is a 404 with an OpenAI error object.  A chat request whose
 * body is not a JSON object gets a 400.  HTTP/1.1 with keep-alive (HTTP/1.0
 * and "Connection: close" close after the answer); request bodies by
 * Content-Length or chunked; "Expect: 100-continue" is answered.
 *
 * Rules.  For each chat request the first rule that matches and whose
 * "times" is not used up is applied; when none applies, the default reply
 * "This is a fake reply." is sent.  Blank lines and lines starting with '#'
 * are skipped; an unknown field is an error.
 *
 * Match (all optional, and-ed):
 *   "nth": N             the Nth request received, 1-based, counting every
 *                        request (the "n" of the log)
 *   "contains": "text"   a substring of the message contents of the request
 *                        (every message, joined by newlines)
 *   "stream": BOOL       whether the request asked for streaming
 *   "times": N           the rule is applied N times, then skipped
 *
 * Actions:
 *   "status": N          HTTP status (200)
 *   "reply": "text"      the assistant's content
 *   "json": VALUE        content = VALUE serialised (structured output)
 *   "echo": true         content = the last user message's content
 *   "finish_reason": S   ("stop")
 *   "usage": false       leave usage out; else tokens are bytes/4, at least 1,
 *                        and prompt_tokens_details as OpenAI's servers add
 *   "delay_ms": N        wait before answering (other connections go on)
 *   "hang": true         never answer; close when the client does
 *   "close": true        close the connection without answering
 *   "retry_after": S     add "Retry-After: S" (number or string, as given)
 *   "headers": {K: V}    add these response headers
 *   "body": "raw"        send this body verbatim instead of a completion
 *   "content_type": S    the Content-Type of that body (application/json)
 *   "error": {...}       send {"error":{...}} with the status (500 when no
 *                        status is given); a status of 400 or more without
 *                        body or error sends a generic error object
 *   "chunk_bytes": N     write the response body N bytes at a time, with a
 *                        pause between writes so that they arrive as
 *                        separate reads (cuts UTF-8 characters too)
 *   "chunk_delay_ms": N  that pause (1 ms with chunk_bytes, else 0)
 *
 * Streaming, when the request has "stream": true, the status is 200, body
 * and error are not set, and the rule does not say "stream_reply": false:
 * a text/event-stream in chunked transfer encoding, made of a chunk with
 * delta {"role":"assistant","content":""}, one chat.completion.chunk per
 * word of the content (at most 16 bytes, whole UTF-8 characters), a chunk
 * with an empty delta and the finish_reason, a usage chunk (choices [])
 * when the request set stream_options.include_usage, then "data: [DONE]".
 * Without chunk_bytes each event is one write.
 *   "sse_comments": true  ": keep-alive" comments and blank lines between
 *                         events
 *   "sse_crlf": true      end the lines with CRLF
 *   "truncate": true      after half of the content, send the first half of
 *                         the next event and close the connection (no
 *                         [DONE], no last chunk of the transfer encoding)
 *   "stream_error": {...} after half of the content, send
 *                         data: {"error":{...}} and end the response there
 *
 * Example script:
 *   {"nth": 1, "status": 429, "retry_after": 1}
 *   {"contains": "weather", "json": {"intent": "weather"}}
 *   {"stream": true, "reply": "héllo wörld", "chunk_bytes": 3}
 *   {"echo": true, "delay_ms": 100, "times": 10}
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>

#include "banned.h"

#define PROG "fake-openai"
#define DEFAULT_REPLY "This is a fake reply."
#define DEFAULT_MODEL "fake-model"
#define MAX_HEAD (64 * 1024)
#define MAX_BODY (64 * 1024 * 1024)
#define MAX_PIECE 16
/* Deep enough for jv's recursive printer on any sane request. */
#define THREAD_STACK (1024 * 1024)

/* A growing byte buffer, always NUL-terminated once allocated. */
struct buf {
	char *p;
	size_t len, cap;
};

/* One line of the script, fixed once read except for times. */
struct rule {
	int line;
	long times;		/* uses left, -1: no limit; under srv.lock */
	long nth;		/* 0: any request */
	char *contains;		/* NULL: any content */
	int stream;		/* -1: either */
	int status;		/* 0: not given */
	struct buf content;	/* from reply or json */
	int has_content, echo, usage;
	char *finish_reason;
	long delay_ms;		/* -1: the --default-delay-ms */
	int hang, close, stream_reply, sse_comments, sse_crlf, truncate;
	char *retry_after;
	struct buf headers;	/* extra header lines, CRLF-terminated */
	struct buf body;
	int has_body;
	char *content_type;
	char *error;		/* {"error":...} serialised */
	char *stream_error;	/* likewise */
	long chunk_bytes, chunk_delay_ms;
};

/* A client connection, served by its own thread. */
struct conn {
	int fd;
	pthread_t tid;
	int done;		/* under srv.lock: the thread may be joined */
	struct buf in;		/* bytes read and not yet used */
	struct conn *next;
};

struct request {
	struct buf head;	/* request line and headers */
	const char *method, *path, *version;	/* into head */
	jv headers;		/* lowercase name -> value */
	struct buf body;
	jv json;		/* the body parsed, or invalid */
	int keep_alive;
};

/* What a chat request asked, read once for matching and answering. */
struct chat {
	const char *model;	/* borrowed from the request's json */
	int stream, include_usage;
	struct buf text;	/* every message's content */
	struct buf last_user;
};

/* The answer to one chat request. */
struct answer {
	char id[48];
	double created;
	const char *model;
	const char *content;
	size_t content_len;
	const char *finish_reason;
	long prompt_tokens, completion_tokens;
	int usage;
};

static struct {
	struct rule *rules;
	size_t nrules;
	struct rule fallback;	/* applied when no rule matches */
	FILE *log;
	long default_delay_ms;
	unsigned long nreq;
	struct conn *conns;
	pthread_mutex_t lock;
	int stop_rd, stop_wr;	/* readable once a stop signal came */
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER, .stop_rd = -1, .stop_wr = -1 };

static _Noreturn void fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		fail(1, "out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap * 2 : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		buf_add(b, small, n);
		return;
	}
	buf_add(b, NULL, 0);
	if (b->cap - b->len < (size_t)n + 1) {
		b->cap = b->len + n + 1;
		b->p = xrealloc(b->p, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

/* Drops the first n bytes. */
static void buf_consume(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n + 1);
	b->len -= n;
}

static void buf_release(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Value at key in o, a new reference, invalid when absent; borrows o. */
static jv get(jv o, const char *key)
{
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(o), jv_string(key));
}

/* Serialises v compactly into a malloc'd string; consumes v. */
static char *dump(jv v)
{
	jv s = jv_dump_string(v, 0);
	char *r = xstrdup(jv_string_value(s));

	jv_free(s);
	return r;
}

static void buf_add_jv_string(struct buf *b, jv s)	/* borrows */
{
	buf_add(b, jv_string_value(s), jv_string_length_bytes(jv_copy(s)));
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until fd (when >= 0) is ready for events or ms milliseconds have
 * passed (ms < 0: no limit).  Every wait of a connection thread goes
 * through here, so that a stop signal ends them all.  Returns 1 when
 * ready, 0 on timeout, -1 when the server is stopping or poll fails.
 */
static int wait_for(int fd, short events, long ms)
{
	struct pollfd p[2] = { { srv.stop_rd, POLLIN, 0 }, { fd, events, 0 } };
	long long end = now_ms() + (ms > 0 ? ms : 0);
	nfds_t n = fd >= 0 ? 2 : 1;

	for (;;) {
		long long left = end - now_ms();
		int r = poll(p, n, ms < 0 ? -1 : left > 0 ? (int)left : 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || p[0].revents)
			return -1;
		if (r == 0)
			return 0;
		if (n == 2 && p[1].revents)
			return 1;
	}
}

/* ---- rules ---------------------------------------------------------- */

static void rule_init(struct rule *r)
{
	memset(r, 0, sizeof *r);
	r->times = -1;
	r->stream = -1;
	r->usage = 1;
	r->delay_ms = -1;
	r->stream_reply = 1;
	r->chunk_delay_ms = -1;
}

static void rule_release(struct rule *r)
{
	free(r->contains);
	buf_release(&r->content);
	free(r->finish_reason);
	free(r->retry_after);
	buf_release(&r->headers);
	buf_release(&r->body);
	free(r->content_type);
	free(r->error);
	free(r->stream_error);
}

/* The field readers return NULL, or what the field should have been. */
static const char *get_long(jv v, long min, long *out)
{
	double d;

	if (jv_get_kind(v) != JV_KIND_NUMBER)
		return "a number";
	d = jv_number_value(v);
	if (d < min || d > 1e9 || d != (double)(long)d)
		return min > 0 ? "a whole number above 0" :
				 "a whole number >= 0";
	*out = (long)d;
	return NULL;
}

static const char *get_status(jv v, int *out)
{
	long s = 0;

	if (get_long(v, 0, &s) || s < 100 || s > 999)
		return "an HTTP status from 100 to 999";
	*out = (int)s;
	return NULL;
}

static const char *get_bool(jv v, int *out)
{
	if (jv_get_kind(v) == JV_KIND_TRUE)
		*out = 1;
	else if (jv_get_kind(v) == JV_KIND_FALSE)
		*out = 0;
	else
		return "true or false";
	return NULL;
}

static const char *get_str(jv v, char **out)
{
	if (jv_get_kind(v) != JV_KIND_STRING)
		return "a string";
	free(*out);
	*out = xstrdup(jv_string_value(v));
	return NULL;
}

/* A string that goes into a header line: no line breaks. */
static int header_safe(const char *s)
{
	return !strpbrk(s, "\r\n");
}

static const char *get_retry_after(jv v, char **out)
{
	char num[32];

	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		snprintf(num, sizeof num, "%.15g", jv_number_value(v));
		free(*out);
		*out = xstrdup(num);
		return NULL;
	}
	if (jv_get_kind(v) != JV_KIND_STRING ||
	    !header_safe(jv_string_value(v)))
		return "a number or a one-line string";
	return get_str(v, out);
}

static const char *get_headers(jv v, struct buf *out)
{
	if (jv_get_kind(v) != JV_KIND_OBJECT)
		return "an object of strings";
	jv_object_foreach(v, k, val) {
		int ok = jv_get_kind(val) == JV_KIND_STRING &&
			 header_safe(jv_string_value(k)) &&
			 header_safe(jv_string_value(val));

		if (ok)
			buf_addf(out, "%s: %s\r\n", jv_string_value(k),
				 jv_string_value(val));
		jv_free(k);
		jv_free(val);
		if (!ok)
			return "an object of one-line strings";
	}
	return NULL;
}

static const char *get_error(jv v, char **out)
{
	if (jv_get_kind(v) != JV_KIND_OBJECT)
		return "an object";
	free(*out);
	*out = dump(jv_object_set(jv_object(), jv_string("error"),
				  jv_copy(v)));
	return NULL;
}

static const char *get_content(jv v, struct rule *r, int is_json)
{
	if (!is_json && jv_get_kind(v) != JV_KIND_STRING)
		return "a string";
	r->content.len = 0;
	if (is_json) {
		jv s = jv_dump_string(jv_copy(v), 0);

		buf_add_jv_string(&r->content, s);
		jv_free(s);
	} else {
		buf_add_jv_string(&r->content, v);
	}
	buf_add(&r->content, NULL, 0);
	r->has_content = 1;
	return NULL;
}

/* Sets the field key of r from v; borrows v. */
static const char *rule_field(struct rule *r, const char *key, jv v)
{
	if (!strcmp(key, "nth"))
		return get_long(v, 1, &r->nth);
	if (!strcmp(key, "contains"))
		return get_str(v, &r->contains);
	if (!strcmp(key, "stream"))
		return get_bool(v, &r->stream);
	if (!strcmp(key, "times"))
		return get_long(v, 0, &r->times);
	if (!strcmp(key, "status"))
		return get_status(v, &r->status);
	if (!strcmp(key, "reply"))
		return get_content(v, r, 0);
	if (!strcmp(key, "json"))
		return get_content(v, r, 1);
	if (!strcmp(key, "echo"))
		return get_bool(v, &r->echo);
	if (!strcmp(key, "finish_reason"))
		return get_str(v, &r->finish_reason);
	if (!strcmp(key, "usage"))
		return get_bool(v, &r->usage);
	if (!strcmp(key, "delay_ms"))
		return get_long(v, 0, &r->delay_ms);
	if (!strcmp(key, "hang"))
		return get_bool(v, &r->hang);
	if (!strcmp(key, "close"))
		return get_bool(v, &r->close);
	if (!strcmp(key, "retry_after"))
		return get_retry_after(v, &r->retry_after);
	if (!strcmp(key, "headers"))
		return get_headers(v, &r->headers);
	if (!strcmp(key, "body")) {
		if (jv_get_kind(v) != JV_KIND_STRING)
			return "a string";
		r->body.len = 0;
		buf_add_jv_string(&r->body, v);
		buf_add(&r->body, NULL, 0);
		r->has_body = 1;
		return NULL;
	}
	if (!strcmp(key, "content_type")) {
		if (jv_get_kind(v) == JV_KIND_STRING &&
		    !header_safe(jv_string_value(v)))
			return "a one-line string";
		return get_str(v, &r->content_type);
	}
	if (!strcmp(key, "error"))
		return get_error(v, &r->error);
	if (!strcmp(key, "stream_reply"))
		return get_bool(v, &r->stream_reply);
	if (!strcmp(key, "chunk_bytes"))
		return get_long(v, 1, &r->chunk_bytes);
	if (!strcmp(key, "chunk_delay_ms"))
		return get_long(v, 0, &r->chunk_delay_ms);
	if (!strcmp(key, "sse_comments"))
		return get_bool(v, &r->sse_comments);
	if (!strcmp(key, "sse_crlf"))
		return get_bool(v, &r->sse_crlf);
	if (!strcmp(key, "truncate"))
		return get_bool(v, &r->truncate);
	if (!strcmp(key, "stream_error"))
		return get_error(v, &r->stream_error);
	return "a known field";
}

/* Fills r from the object o (consumed); exits on a bad field. */
static void rule_parse(struct rule *r, jv o, const char *file, int line)
{
	rule_init(r);
	r->line = line;
	jv_object_foreach(o, k, v) {
		const char *want = rule_field(r, jv_string_value(k), v);

		if (want)
			fail(2, "%s:%d: %s: expected %s", file, line,
			     jv_string_value(k), want);
		jv_free(k);
		jv_free(v);
	}
	jv_free(o);
	if (r->has_content + r->echo > 1)
		fail(2, "%s:%d: reply, json and echo exclude each other", file,
		     line);
}

static void script_line(const char *file, int line, const char *s, size_t n)
{
	jv o = jv_parse_sized(s, (int)n);
	struct rule *r;

	if (!jv_is_valid(o)) {
		jv msg = jv_invalid_get_msg(o);

		fail(2, "%s:%d: %s", file, line,
		     jv_get_kind(msg) == JV_KIND_STRING ?
			     jv_string_value(msg) : "bad JSON");
	}
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		fail(2, "%s:%d: a rule is a JSON object", file, line);
	srv.rules = xrealloc(srv.rules, (srv.nrules + 1) * sizeof *srv.rules);
	r = &srv.rules[srv.nrules++];
	rule_parse(r, o, file, line);
}

static int blank_or_comment(const char *s)
{
	s += strspn(s, " \t\r\n");
	return *s == '\0' || *s == '#';
}

static void script_load(const char *file)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;

	if (!f)
		fail(2, "%s: %s", file, strerror(errno));
	for (;;) {
		n = getline(&line, &cap, f);
		if (n < 0)
			break;
		lineno++;
		if (!blank_or_comment(line))
			script_line(file, lineno, line, n);
	}
	if (ferror(f))
		fail(2, "%s: %s", file, strerror(errno));
	free(line);
	fclose(f);
}

/* ---- what a chat request asks ---------------------------------------- */

/* Appends the text of a message content, a string or parts; borrows. */
static void add_content(struct buf *b, jv content)
{
	if (jv_get_kind(content) == JV_KIND_STRING) {
		buf_add_jv_string(b, content);
		return;
	}
	if (jv_get_kind(content) != JV_KIND_ARRAY)
		return;
	jv_array_foreach(content, i, part) {
		jv text = get(part, "text");

		if (jv_get_kind(text) == JV_KIND_STRING)
			buf_add_jv_string(b, text);
		jv_free(text);
		jv_free(part);
	}
}

static void chat_message(struct chat *ch, jv m)	/* borrows */
{
	jv content = get(m, "content");
	jv role = get(m, "role");

	if (ch->text.len)
		buf_adds(&ch->text, "\n");
	add_content(&ch->text, content);
	if (jv_get_kind(role) == JV_KIND_STRING &&
	    !strcmp(jv_string_value(role), "user")) {
		ch->last_user.len = 0;
		add_content(&ch->last_user, content);
	}
	jv_free(content);
	jv_free(role);
}

/* Reads the request json (borrowed: ch points into it). */
static void chat_init(struct chat *ch, jv req)
{
	jv model = get(req, "model");
	jv messages = get(req, "messages");
	jv opts = get(req, "stream_options");
	jv stream = get(req, "stream");
	jv inc = get(opts, "include_usage");

	memset(ch, 0, sizeof *ch);
	ch->model = DEFAULT_MODEL;
	if (jv_get_kind(model) == JV_KIND_STRING)
		ch->model = jv_string_value(model);	/* still held by req */
	ch->stream = jv_get_kind(stream) == JV_KIND_TRUE;
	ch->include_usage = jv_get_kind(inc) == JV_KIND_TRUE;
	if (jv_get_kind(messages) == JV_KIND_ARRAY) {
		jv_array_foreach(messages, i, m) {
			chat_message(ch, m);
			jv_free(m);
		}
	}
	buf_add(&ch->text, NULL, 0);
	buf_add(&ch->last_user, NULL, 0);
	jv_free(model);
	jv_free(messages);
	jv_free(opts);
	jv_free(stream);
	jv_free(inc);
}

static void chat_release(struct chat *ch)
{
	buf_release(&ch->text);
	buf_release(&ch->last_user);
}

/* The rule for request n; under srv.lock, which guards the counts. */
static struct rule *rule_select(unsigned long n, const struct chat *ch)
{
	for (size_t i = 0; i < srv.nrules; i++) {
		struct rule *r = &srv.rules[i];

		if (r->times == 0)
			continue;
		if (r->nth && (unsigned long)r->nth != n)
			continue;
		if (r->contains && !strstr(ch->text.p, r->contains))
			continue;
		if (r->stream >= 0 && r->stream != ch->stream)
			continue;
		if (r->times > 0)
			r->times--;
		return r;
	}
	return NULL;
}

/* ---- the request log -------------------------------------------------- */

/* Writes the log line of request n; under srv.lock, so lines never mix. */
static void log_request(unsigned long n, const struct request *rq,
			const struct rule *r)
{
	jv o = jv_object();
	jv body = jv_null();
	jv line;

	if (jv_is_valid(rq->json))
		body = jv_copy(rq->json);
	else if (rq->body.len)
		body = jv_string_sized(rq->body.p, (int)rq->body.len);
	o = jv_object_set(o, jv_string("n"), jv_number(n));
	o = jv_object_set(o, jv_string("method"), jv_string(rq->method));
	o = jv_object_set(o, jv_string("path"), jv_string(rq->path));
	o = jv_object_set(o, jv_string("headers"), jv_copy(rq->headers));
	o = jv_object_set(o, jv_string("body"), body);
	o = jv_object_set(o, jv_string("rule"),
			  r ? jv_number(r->line) : jv_null());
	line = jv_dump_string(o, 0);
	fprintf(srv.log, "%s\n", jv_string_value(line));
	fflush(srv.log);
	jv_free(line);
}

/* ---- connection I/O --------------------------------------------------- */

/* Reads what is there into c->in: 1 when read, 0 at end, -1 on error. */
static int conn_read(struct conn *c)
{
	char tmp[16384];

	for (;;) {
		ssize_t r = recv(c->fd, tmp, sizeof tmp, 0);

		if (r > 0) {
			buf_add(&c->in, tmp, r);
			return 1;
		}
		if (r == 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (wait_for(c->fd, POLLIN, -1) < 0)
			return -1;
	}
}

static int conn_write(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w >= 0) {
			p += w;
			n -= w;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (wait_for(c->fd, POLLOUT, -1) < 0)
			return -1;
	}
	return 0;
}

/* Writes one piece of a chunked transfer encoding, framing included. */
static int conn_write_chunk(struct conn *c, const char *p, size_t n)
{
	struct buf b = { 0 };
	int r;

	buf_addf(&b, "%zx\r\n", n);
	buf_add(&b, p, n);
	buf_adds(&b, "\r\n");
	r = conn_write(c, b.p, b.len);
	buf_release(&b);
	return r;
}

/*
 * Writes p cut at the given offsets (each the end of one write), pausing
 * between writes; chunked frames each write.  A pause lets each write
 * reach the client as a read of its own (TCP_NODELAY is set).
 */
static int write_cut(struct conn *c, const char *p, const size_t *cuts,
		     size_t ncuts, long pause_ms, int chunked)
{
	size_t start = 0;

	for (size_t i = 0; i < ncuts; i++) {
		int r;

		if (cuts[i] <= start)
			continue;
		if (start && pause_ms > 0 && wait_for(-1, 0, pause_ms) < 0)
			return -1;
		if (chunked)
			r = conn_write_chunk(c, p + start, cuts[i] - start);
		else
			r = conn_write(c, p + start, cuts[i] - start);
		if (r < 0)
			return -1;
		start = cuts[i];
	}
	return 0;
}

/* Offsets cutting n bytes into writes of size bytes; free the result. */
static size_t *cut_every(size_t n, size_t size, size_t *ncuts)
{
	size_t k = n / size + 1;
	size_t *cuts = xrealloc(NULL, k * sizeof *cuts);

	*ncuts = 0;
	for (size_t at = size; at < n; at += size)
		cuts[(*ncuts)++] = at;
	cuts[(*ncuts)++] = n;
	return cuts;
}

static long pause_of(const struct rule *r)
{
	if (r->chunk_delay_ms >= 0)
		return r->chunk_delay_ms;
	return r->chunk_bytes > 0 ? 1 : 0;
}

/* ---- reading a request ------------------------------------------------ */

static void request_init(struct request *rq)
{
	memset(rq, 0, sizeof *rq);
	rq->headers = jv_object();
	rq->json = jv_invalid();
}

static void request_release(struct request *rq)
{
	buf_release(&rq->head);
	buf_release(&rq->body);
	jv_free(rq->headers);
	jv_free(rq->json);
}

/* The header value, or NULL; borrows rq (the string lives in it). */
static const char *header(const struct request *rq, const char *name)
{
	jv v = get(rq->headers, name);
	const char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v);
	jv_free(v);
	return s;
}

static int has_token(const char *value, const char *token)
{
	return value && strcasestr(value, token);
}

static void add_header(struct request *rq, char *name, const char *value)
{
	jv old;

	for (char *s = name; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
	old = get(rq->headers, name);
	if (jv_get_kind(old) == JV_KIND_STRING) {
		jv joined = jv_string_fmt("%s, %s", jv_string_value(old),
					  value);

		jv_free(old);
		old = joined;
	} else {
		jv_free(old);
		old = jv_string(value);
	}
	rq->headers = jv_object_set(rq->headers, jv_string(name), old);
}

static char *trim(char *s)
{
	char *end;

	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

static int parse_request_line(struct request *rq, char *line)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

	if (!sp2)
		return -1;
	*sp1 = *sp2 = '\0';
	rq->method = line;
	rq->path = sp1 + 1;
	rq->version = sp2 + 1;
	if (strncmp(rq->version, "HTTP/1.", 7))
		return -1;
	return 0;
}

/* Parses the head held in rq->head; -1 when it is not HTTP. */
static int parse_head(struct request *rq)
{
	char *line = rq->head.p;
	int first = 1;

	for (;;) {
		char *eol = strstr(line, "\r\n");
		char *colon;

		if (!eol || eol == line)
			break;
		*eol = '\0';
		if (first && parse_request_line(rq, line) < 0)
			return -1;
		if (!first) {
			colon = strchr(line, ':');
			if (!colon)
				return -1;
			*colon = '\0';
			add_header(rq, trim(line), trim(colon + 1));
		}
		first = 0;
		line = eol + 2;
	}
	return first ? -1 : 0;
}

/* Reads up to the end of the head: 1 when there, 0 at a clean end. */
static int read_head(struct conn *c, size_t *len)
{
	for (;;) {
		char *end;
		int r;

		/* Stray CRLFs between requests are allowed (RFC 9112 2.2). */
		while (c->in.len >= 2 && !memcmp(c->in.p, "\r\n", 2))
			buf_consume(&c->in, 2);
		end = NULL;
		if (c->in.len)
			end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
		if (end) {
			*len = end - c->in.p + 4;
			return 1;
		}
		if (c->in.len > MAX_HEAD)
			return -1;
		r = conn_read(c);
		if (r == 0 && c->in.len)
			return -1;
		if (r <= 0)
			return r;
	}
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The size on a chunk line from p to eol; -1 when malformed or huge. */
static long chunk_size(const char *p, const char *eol)
{
	long size = 0;
	const char *s = p;

	for (; s < eol && hexval(*s) >= 0; s++) {
		size = size * 16 + hexval(*s);
		if (size > MAX_BODY)
			return -1;
	}
	if (s == p || (s < eol && *s != ';' && *s != ' ' && *s != '\t'))
		return -1;
	return size;
}

/*
 * Decodes the chunked body at p[0..n] into out.  Returns the bytes it
 * spans when complete, 0 when more must be read, -1 when malformed.
 */
static long dechunk(const char *p, size_t n, struct buf *out)
{
	size_t i = 0;
	const char *eol;
	long size;

	out->len = 0;
	do {
		eol = memmem(p + i, n - i, "\r\n", 2);
		if (!eol)
			return 0;
		size = chunk_size(p + i, eol);
		if (size < 0)
			return -1;
		i = eol - p + 2;
		if (size && n - i < (size_t)size + 2)
			return 0;
		if (size && memcmp(p + i + size, "\r\n", 2))
			return -1;
		buf_add(out, p + i, size);
		i += size ? size + 2 : 0;
	} while (size);
	for (;;) {		/* trailer lines up to an empty one */
		size_t l;

		eol = memmem(p + i, n - i, "\r\n", 2);
		if (!eol)
			return 0;
		l = eol - (p + i);
		i += l + 2;
		if (l == 0)
			return (long)i;
	}
}

/* libcurl waits up to a second for this before sending a large body. */
static int maybe_continue(struct conn *c, const struct request *rq,
			  int *sent)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (*sent || !has_token(header(rq, "expect"), "100-continue"))
		return 0;
	*sent = 1;
	return conn_write(c, cont, sizeof cont - 1);
}

static int read_chunked(struct conn *c, struct request *rq)
{
	int sent = 0;

	for (;;) {
		long used = dechunk(c->in.p, c->in.len, &rq->body);

		if (used < 0 || c->in.len > MAX_BODY)
			return -1;
		if (used > 0) {
			buf_add(&rq->body, NULL, 0);
			buf_consume(&c->in, used);
			return 1;
		}
		if (maybe_continue(c, rq, &sent) < 0 || conn_read(c) <= 0)
			return -1;
	}
}

static int read_sized(struct conn *c, struct request *rq, const char *cl)
{
	char *end;
	unsigned long long n = strtoull(cl, &end, 10);
	int sent = 0;

	if (end == cl || *end || n > MAX_BODY)
		return -1;
	while (c->in.len < n) {
		if (maybe_continue(c, rq, &sent) < 0 || conn_read(c) <= 0)
			return -1;
	}
	buf_add(&rq->body, c->in.p, n);
	buf_consume(&c->in, n);
	return 1;
}

static void request_finish(struct request *rq)
{
	const char *conn = header(rq, "connection");

	if (!strcmp(rq->version, "HTTP/1.0"))
		rq->keep_alive = has_token(conn, "keep-alive");
	else
		rq->keep_alive = !has_token(conn, "close");
	if (rq->body.len)
		rq->json = jv_parse_sized(rq->body.p, (int)rq->body.len);
	if (!jv_is_valid(rq->json)) {
		jv_free(rq->json);
		rq->json = jv_invalid();	/* drops the message */
	}
}

/* Reads a whole request: 1 when read, 0 at a clean end, -1 on error. */
static int read_request(struct conn *c, struct request *rq)
{
	size_t head_len;
	const char *cl;
	int r = read_head(c, &head_len);

	if (r <= 0)
		return r;
	buf_add(&rq->head, c->in.p, head_len);
	buf_consume(&c->in, head_len);
	if (parse_head(rq) < 0)
		return -1;
	cl = header(rq, "content-length");
	if (has_token(header(rq, "transfer-encoding"), "chunked"))
		r = read_chunked(c, rq);
	else if (cl)
		r = read_sized(c, rq, cl);
	if (r < 0)
		return -1;
	request_finish(rq);
	return 1;
}

/* ---- answers ---------------------------------------------------------- */

static const char *reason(int status)
{
	static const struct {
		int status;
		const char *text;
	} t[] = {
		{ 200, "OK" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 408, "Request Timeout" }, { 413, "Content Too Large" },
		{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].status == status)
			return t[i].text;
	return "Status";
}

/* The response head; r (may be NULL) adds its headers; len < 0: chunked. */
static void add_head(struct buf *b, int status, const char *ctype,
		     long len, int keep_alive, const struct rule *r)
{
	buf_addf(b, "HTTP/1.1 %d %s\r\n", status, reason(status));
	buf_addf(b, "Content-Type: %s\r\n", ctype);
	if (len >= 0)
		buf_addf(b, "Content-Length: %ld\r\n", len);
	else
		buf_adds(b, "Transfer-Encoding: chunked\r\n");
	if (len < 0)
		buf_adds(b, "Cache-Control: no-cache\r\n");
	buf_addf(b, "Connection: %s\r\n", keep_alive ? "keep-alive" : "close");
	if (r && r->retry_after)
		buf_addf(b, "Retry-After: %s\r\n", r->retry_after);
	if (r && r->headers.len)
		buf_add(b, r->headers.p, r->headers.len);
	buf_adds(b, "\r\n");
}

/* Sends a whole response; 0 to go on with the connection, -1 to close. */
static int respond(struct conn *c, const struct request *rq,
		   const struct rule *r, int status, const char *ctype,
		   const char *body, size_t len)
{
	struct buf b = { 0 };
	int ret;

	add_head(&b, status, ctype, (long)len, rq->keep_alive, r);
	if (r && r->chunk_bytes > 0) {
		size_t ncuts;
		size_t *cuts = cut_every(len, r->chunk_bytes, &ncuts);

		ret = conn_write(c, b.p, b.len);
		if (ret == 0)
			ret = write_cut(c, body, cuts, ncuts, pause_of(r), 0);
		free(cuts);
	} else {
		buf_add(&b, body, len);
		ret = conn_write(c, b.p, b.len);
	}
	buf_release(&b);
	return ret < 0 || !rq->keep_alive ? -1 : 0;
}

static int respond_jv(struct conn *c, const struct request *rq,
		      const struct rule *r, int status, jv body)
{
	jv s = jv_dump_string(body, 0);
	int ret = respond(c, rq, r, status, "application/json",
			  jv_string_value(s),
			  jv_string_length_bytes(jv_copy(s)));

	jv_free(s);
	return ret;
}

static jv error_object(const char *message, const char *type)
{
	jv e = jv_object();

	e = jv_object_set(e, jv_string("message"), jv_string(message));
	e = jv_object_set(e, jv_string("type"), jv_string(type));
	e = jv_object_set(e, jv_string("param"), jv_null());
	e = jv_object_set(e, jv_string("code"), jv_null());
	return jv_object_set(jv_object(), jv_string("error"), e);
}

static int respond_error(struct conn *c, const struct request *rq,
			 const struct rule *r, int status,
			 const char *message, const char *type)
{
	return respond_jv(c, rq, r, status, error_object(message, type));
}

/* The answer a rule gives: raw body, error object, or a generic error. */
static int respond_rule_error(struct conn *c, const struct request *rq,
			      const struct rule *r)
{
	char msg[64];
	int status = r->status ? r->status : r->has_body ? 200 : 500;

	if (r->has_body)
		return respond(c, rq, r, status,
			       r->content_type ? r->content_type :
						 "application/json",
			       r->body.p, r->body.len);
	if (r->error)
		return respond(c, rq, r, status, "application/json", r->error,
			       strlen(r->error));
	snprintf(msg, sizeof msg, PROG ": status %d", status);
	return respond_error(c, rq, r, status, msg, "fake_error");
}

static long tokens(size_t bytes)
{
	return bytes / 4 ? (long)(bytes / 4) : 1;
}

static void answer_init(struct answer *a, unsigned long n,
			const struct chat *ch, const struct rule *r)
{
	memset(a, 0, sizeof *a);
	snprintf(a->id, sizeof a->id, "chatcmpl-fake-%lu", n);
	a->created = (double)time(NULL);
	a->model = ch->model;
	a->content = DEFAULT_REPLY;
	a->content_len = strlen(DEFAULT_REPLY);
	if (r->echo) {
		a->content = ch->last_user.p;
		a->content_len = ch->last_user.len;
	} else if (r->has_content) {
		a->content = r->content.p;
		a->content_len = r->content.len;
	}
	a->finish_reason = r->finish_reason ? r->finish_reason : "stop";
	a->prompt_tokens = tokens(ch->text.len);
	a->completion_tokens = tokens(a->content_len);
	a->usage = r->usage;
}

static jv usage_object(const struct answer *a)
{
	jv u = jv_object();

	u = jv_object_set(u, jv_string("prompt_tokens"),
			  jv_number(a->prompt_tokens));
	u = jv_object_set(u, jv_string("completion_tokens"),
			  jv_number(a->completion_tokens));
	u = jv_object_set(u, jv_string("total_tokens"),
			  jv_number(a->prompt_tokens + a->completion_tokens));
	/* what OpenAI and llama-server add beside the three counts */
	return jv_object_set(u, jv_string("prompt_tokens_details"),
			     JV_OBJECT(jv_string("cached_tokens"),
				       jv_number(0)));
}

/* The fields every completion and chunk starts with. */
static jv answer_base(const struct answer *a, const char *object)
{
	jv o = jv_object();

	o = jv_object_set(o, jv_string("id"), jv_string(a->id));
	o = jv_object_set(o, jv_string("object"), jv_string(object));
	o = jv_object_set(o, jv_string("created"), jv_number(a->created));
	return jv_object_set(o, jv_string("model"), jv_string(a->model));
}

static int respond_completion(struct conn *c, const struct request *rq,
			      const struct rule *r, const struct answer *a)
{
	jv msg = jv_object();
	jv choice = jv_object();
	jv o = answer_base(a, "chat.completion");

	msg = jv_object_set(msg, jv_string("role"), jv_string("assistant"));
	msg = jv_object_set(msg, jv_string("content"),
			    jv_string_sized(a->content, (int)a->content_len));
	choice = jv_object_set(choice, jv_string("index"), jv_number(0));
	choice = jv_object_set(choice, jv_string("message"), msg);
	choice = jv_object_set(choice, jv_string("finish_reason"),
			       jv_string(a->finish_reason));
	o = jv_object_set(o, jv_string("choices"),
			  jv_array_append(jv_array(), choice));
	if (a->usage)
		o = jv_object_set(o, jv_string("usage"), usage_object(a));
	return respond_jv(c, rq, r, r->status ? r->status : 200, o);
}

/* ---- streaming -------------------------------------------------------- */

/* The event stream being built, with where each write ends. */
struct sse {
	struct buf text;
	size_t *cuts;
	size_t ncuts;
	const char *eol;
	int comments;
};

/* Appends one event "data: <data>"; it ends a write. */
static void sse_event(struct sse *s, const char *data)
{
	if (s->comments) {
		/* A blank line alone dispatches nothing: clients must cope. */
		if (s->ncuts % 2)
			buf_adds(&s->text, s->eol);
		buf_addf(&s->text, ": keep-alive%s%s", s->eol, s->eol);
	}
	buf_addf(&s->text, "data: %s%s%s", data, s->eol, s->eol);
	s->cuts = xrealloc(s->cuts, (s->ncuts + 1) * sizeof *s->cuts);
	s->cuts[s->ncuts++] = s->text.len;
}

/* A chat.completion.chunk with this delta (consumed) and finish. */
static char *chunk_json(const struct answer *a, jv delta, const char *finish)
{
	jv choice = jv_object();
	jv o = answer_base(a, "chat.completion.chunk");

	choice = jv_object_set(choice, jv_string("index"), jv_number(0));
	choice = jv_object_set(choice, jv_string("delta"), delta);
	choice = jv_object_set(choice, jv_string("finish_reason"),
			       finish ? jv_string(finish) : jv_null());
	o = jv_object_set(o, jv_string("choices"),
			  jv_array_append(jv_array(), choice));
	return dump(o);
}

static void sse_add_chunk(struct sse *s, const struct answer *a, jv delta,
			  const char *finish)
{
	char *json = chunk_json(a, delta, finish);

	sse_event(s, json);
	free(json);
}

/*
 * The length of the next piece of s[0..n]: a word and the blanks after it,
 * at most MAX_PIECE bytes and never ending inside a UTF-8 character.
 */
static size_t piece_len(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] != ' ' && s[i] != '\n')
		i++;
	while (i < n && (s[i] == ' ' || s[i] == '\n'))
		i++;
	if (i <= MAX_PIECE)
		return i;
	i = MAX_PIECE;
	while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
		i--;
	return i ? i : MAX_PIECE;
}

static size_t count_pieces(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t at = 0; at < n; at += piece_len(s + at, n - at))
		k++;
	return k;
}

static void sse_add_piece(struct sse *s, const struct answer *a,
			  const char *p, size_t n)
{
	jv delta = jv_object_set(jv_object(), jv_string("content"),
				 jv_string_sized(p, (int)n));

	sse_add_chunk(s, a, delta, NULL);
}

/* Adds the first half of the next event, then cuts: a stream cut short. */
static void sse_add_half(struct sse *s, const struct answer *a,
			 const char *p, size_t n)
{
	struct sse whole = { { 0 }, NULL, 0, s->eol, 0 };

	if (n)
		sse_add_piece(&whole, a, p, n);
	else
		sse_add_chunk(&whole, a, jv_object(), a->finish_reason);
	buf_add(&s->text, whole.text.p, whole.text.len / 2);
	s->cuts = xrealloc(s->cuts, (s->ncuts + 1) * sizeof *s->cuts);
	s->cuts[s->ncuts++] = s->text.len;
	buf_release(&whole.text);
	free(whole.cuts);
}

static void sse_add_end(struct sse *s, const struct answer *a,
			const struct chat *ch)
{
	sse_add_chunk(s, a, jv_object(), a->finish_reason);
	if (ch->include_usage && a->usage) {
		jv o = answer_base(a, "chat.completion.chunk");
		char *json;

		o = jv_object_set(o, jv_string("choices"), jv_array());
		o = jv_object_set(o, jv_string("usage"), usage_object(a));
		json = dump(o);
		sse_event(s, json);
		free(json);
	}
	sse_event(s, "[DONE]");
}

/* Builds the whole event stream the rule asks for. */
static void sse_build(struct sse *s, const struct answer *a,
		      const struct chat *ch, const struct rule *r)
{
	const char *p = a->content;
	size_t n = a->content_len, at = 0, k = 0;
	size_t half = count_pieces(p, n) / 2;
	jv role = jv_object_set(jv_object(), jv_string("role"),
				jv_string("assistant"));

	role = jv_object_set(role, jv_string("content"), jv_string(""));
	sse_add_chunk(s, a, role, NULL);
	for (; at < n; k++) {
		size_t len = piece_len(p + at, n - at);

		if (k == half && (r->truncate || r->stream_error))
			break;
		sse_add_piece(s, a, p + at, len);
		at += len;
	}
	if (r->truncate)
		sse_add_half(s, a, p + at,
			     at < n ? piece_len(p + at, n - at) : 0);
	else if (r->stream_error)
		sse_event(s, r->stream_error);
	else
		sse_add_end(s, a, ch);
}

static int respond_stream(struct conn *c, const struct request *rq,
			  const struct rule *r, const struct answer *a,
			  const struct chat *ch)
{
	struct sse s = { { 0 }, NULL, 0, r->sse_crlf ? "\r\n" : "\n",
			 r->sse_comments };
	struct buf head = { 0 };
	int ret;

	sse_build(&s, a, ch, r);
	add_head(&head, 200, "text/event-stream", -1, rq->keep_alive, r);
	ret = conn_write(c, head.p, head.len);
	if (ret == 0 && r->chunk_bytes > 0) {
		free(s.cuts);
		s.cuts = cut_every(s.text.len, r->chunk_bytes, &s.ncuts);
	}
	if (ret == 0)
		ret = write_cut(c, s.text.p, s.cuts, s.ncuts, pause_of(r), 1);
	/* A truncated stream never sends the last chunk: the socket closes. */
	if (ret == 0 && !r->truncate)
		ret = conn_write(c, "0\r\n\r\n", 5);
	buf_release(&head);
	buf_release(&s.text);
	free(s.cuts);
	return ret < 0 || r->truncate || !rq->keep_alive ? -1 : 0;
}

/* ---- serving ---------------------------------------------------------- */

/* Waits until the client closes (or the server stops), ignoring input. */
static void hang(struct conn *c)
{
	char tmp[4096];

	for (;;) {
		ssize_t n;

		if (wait_for(c->fd, POLLIN, -1) < 0)
			return;
		n = recv(c->fd, tmp, sizeof tmp, 0);
		if (n == 0)
			return;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return;
	}
}

static int serve_chat(struct conn *c, const struct request *rq,
		      unsigned long n, const struct chat *ch,
		      const struct rule *r)
{
	long delay = r->delay_ms >= 0 ? r->delay_ms : srv.default_delay_ms;
	struct answer a;

	if (jv_get_kind(rq->json) != JV_KIND_OBJECT)
		return respond_error(c, rq, NULL, 400,
				     "the request body is not a JSON object",
				     "invalid_request_error");
	if (delay > 0 && wait_for(-1, 0, delay) < 0)
		return -1;
	if (r->close)
		return -1;
	if (r->hang) {
		hang(c);
		return -1;
	}
	if (r->has_body || r->error || r->status >= 400)
		return respond_rule_error(c, rq, r);
	answer_init(&a, n, ch, r);
	if (ch->stream && r->stream_reply)
		return respond_stream(c, rq, r, &a, ch);
	return respond_completion(c, rq, r, &a);
}

static int serve_models(struct conn *c, const struct request *rq)
{
	jv m = jv_object();
	jv o = jv_object();

	m = jv_object_set(m, jv_string("id"), jv_string(DEFAULT_MODEL));
	m = jv_object_set(m, jv_string("object"), jv_string("model"));
	m = jv_object_set(m, jv_string("created"), jv_number(0));
	m = jv_object_set(m, jv_string("owned_by"), jv_string(PROG));
	o = jv_object_set(o, jv_string("object"), jv_string("list"));
	o = jv_object_set(o, jv_string("data"),
			  jv_array_append(jv_array(), m));
	return respond_jv(c, rq, NULL, 200, o);
}

/* Whether path, without its query, is /v1/<name> or /<name>. */
static int path_is(const char *path, const char *name)
{
	size_t len = strcspn(path, "?");
	size_t nlen = strlen(name);

	if (len >= 3 && !strncmp(path, "/v1", 3)) {
		path += 3;
		len -= 3;
	}
	return len == nlen + 1 && path[0] == '/' &&
	       !strncmp(path + 1, name, nlen);
}

/* Answers one request: 0 to go on with the connection, -1 to close it. */
static int serve(struct conn *c, const struct request *rq)
{
	int is_chat = !strcmp(rq->method, "POST") &&
		      path_is(rq->path, "chat/completions");
	struct rule *r = NULL;
	struct chat ch;
	unsigned long n;
	char msg[256];
	int ret;

	chat_init(&ch, rq->json);
	pthread_mutex_lock(&srv.lock);
	n = ++srv.nreq;
	if (is_chat)
		r = rule_select(n, &ch);
	if (srv.log)
		log_request(n, rq, r);
	pthread_mutex_unlock(&srv.lock);
	if (is_chat) {
		ret = serve_chat(c, rq, n, &ch, r ? r : &srv.fallback);
	} else if (!strcmp(rq->method, "GET") && path_is(rq->path, "models")) {
		ret = serve_models(c, rq);
	} else {
		snprintf(msg, sizeof msg, "no such endpoint: %s %s",
			 rq->method, rq->path);
		ret = respond_error(c, rq, NULL, 404, msg,
				    "invalid_request_error");
	}
	chat_release(&ch);
	return ret;
}

static void conn_serve(struct conn *c)
{
	for (;;) {
		struct request rq;
		int r;

		request_init(&rq);
		r = read_request(c, &rq);
		if (r > 0)
			r = serve(c, &rq) == 0;
		request_release(&rq);
		if (r <= 0)
			return;
	}
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	conn_serve(c);
	close(c->fd);
	pthread_mutex_lock(&srv.lock);
	c->done = 1;
	pthread_mutex_unlock(&srv.lock);
	return NULL;
}

/* Joins the threads that ended, or all of them once the server stops. */
static void reap(int all)
{
	struct conn *dead = NULL;
	struct conn **pp = &srv.conns;

	pthread_mutex_lock(&srv.lock);
	while (*pp) {
		struct conn *c = *pp;

		if (all || c->done) {
			*pp = c->next;
			c->next = dead;
			dead = c;
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&srv.lock);
	while (dead) {
		struct conn *next = dead->next;

		pthread_join(dead->tid, NULL);
		buf_release(&dead->in);
		free(dead);
		dead = next;
	}
}

/* Starts the thread of a new connection; stop signals stay with main. */
static void conn_start(int fd)
{
	struct conn *c = xrealloc(NULL, sizeof *c);
	pthread_attr_t attr;
	sigset_t block, old;
	int one = 1;
	int err;

	memset(c, 0, sizeof *c);
	c->fd = fd;
	/* Small writes must leave at once for chunk_bytes to mean anything. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	err = pthread_create(&c->tid, &attr, conn_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		fprintf(stderr, PROG ": pthread_create: %s\n", strerror(err));
		close(fd);
		free(c);
		return;
	}
	pthread_mutex_lock(&srv.lock);
	c->next = srv.conns;
	srv.conns = c;
	pthread_mutex_unlock(&srv.lock);
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_start(fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE) {
			/* The backlog keeps them; retry once some close. */
			reap(0);
			wait_for(-1, 0, 10);
		}
		if (errno != EINTR && errno != ECONNABORTED)
			return;
	}
}

static void on_stop(int sig)
{
	int saved = errno;
	ssize_t n = write(srv.stop_wr, "x", 1);

	(void)sig;
	(void)n;		/* the pipe already full is as good */
	errno = saved;
}

static void signals_init(void)
{
	int p[2];
	struct sigaction sa;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		fail(1, "pipe: %s", strerror(errno));
	srv.stop_rd = p[0];
	srv.stop_wr = p[1];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Listens on 127.0.0.1:port; returns the socket, *port the real port. */
static int listen_on(int *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);

	if (fd < 0)
		fail(1, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)*port);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
		fail(1, "bind 127.0.0.1:%d: %s", *port, strerror(errno));
	/* A benchmark opens many connections at once: keep them queued. */
	if (listen(fd, SOMAXCONN) < 0)
		fail(1, "listen: %s", strerror(errno));
	if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		fail(1, "getsockname: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return fd;
}

/* Writes the port through a temporary file so no reader sees half. */
static void write_port_file(const char *file, int port)
{
	struct buf tmp = { 0 };
	FILE *f;

	buf_addf(&tmp, "%s.tmp.%ld", file, (long)getpid());
	f = fopen(tmp.p, "w");
	if (!f)
		fail(1, "%s: %s", tmp.p, strerror(errno));
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0)
		fail(1, "%s: %s", tmp.p, strerror(errno));
	if (rename(tmp.p, file) < 0)
		fail(1, "%s: %s", file, strerror(errno));
	buf_release(&tmp);
}

static void run(int lfd)
{
	for (;;) {
		struct pollfd p[2] = { { lfd, POLLIN, 0 },
				       { srv.stop_rd, POLLIN, 0 } };
		int r = poll(p, 2, 1000);

		if (r < 0 && errno != EINTR)
			fail(1, "poll: %s", strerror(errno));
		if (r > 0 && p[1].revents)
			return;
		if (r > 0 && p[0].revents)
			accept_all(lfd);
		reap(0);
	}
}

struct options {
	int port;
	const char *port_file, *script, *log;
};

static void usage(FILE *f, int status)
{
	fputs("usage: " PROG " [--port N] [--port-file FILE] [--script FILE]"
	      " [--log FILE]\n"
	      "                   [--default-delay-ms N]\n"
	      "A fake OpenAI chat-completions server on 127.0.0.1 for tests; "
	      "the rule format\nis documented at the top of "
	      "tests/helpers/fake-openai.c.\n",
	      f);
	exit(status);
}

static long number_arg(const char *opt, const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		fail(2, "%s: expected a number from 0 to %ld, not '%s'", opt,
		     max, s);
	return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "script", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "default-delay-ms", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof *o);
	for (;;) {
		ch = getopt_long(argc, argv, "h", longopts, NULL);
		if (ch == -1)
			break;
		if (ch == 'p')
			o->port = (int)number_arg("--port", optarg, 65535);
		else if (ch == 'f')
			o->port_file = optarg;
		else if (ch == 's')
			o->script = optarg;
		else if (ch == 'l')
			o->log = optarg;
		else if (ch == 'd')
			srv.default_delay_ms = number_arg("--default-delay-ms",
							  optarg, 3600000);
		else if (ch == 'h')
			usage(stdout, 0);
		else
			usage(stderr, 2);
	}
	if (optind < argc)
		usage(stderr, 2);
}

int main(int argc, char **argv)
{
	struct options o;
	int lfd;

	parse_options(argc, argv, &o);
	rule_init(&srv.fallback);
	if (o.script)
		script_load(o.script);
	if (o.log) {
		srv.log = fopen(o.log, "a");
		if (!srv.log)
			fail(2, "%s: %s", o.log, strerror(errno));
	}
	signals_init();
	lfd = listen_on(&o.port);
	if (o.port_file)
		write_port_file(o.port_file, o.port);
	run(lfd);
	close(lfd);
	reap(1);
	for (size_t i = 0; i < srv.nrules; i++)
		rule_release(&srv.rules[i]);
	free(srv.rules);
	if (srv.log && fclose(srv.log) != 0)
		fail(1, "%s: %s", o.log, strerror(errno));
	close(srv.stop_rd);
	close(srv.stop_wr);
	return 0;
}
