/*
 * test-llm.c — the pieces of lib/llm.c that need no server: SHA-256
 * against the FIPS vectors, the SSE parser fed in awkward pieces, the
 * backoff bounds, Retry-After parsing, configuration, requests that
 * are answered without the network, and cancelling requests to a
 * socket that never answers.  The HTTP side is tested through
 * llm-cli in tests/bats/llm.bats.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llm.h"
#include "unit.h"

/* ------------------------------------------------------------------ */

static void check_sha(const char *data, size_t n, const char *want)
{
	char hex[65];

	mas_sha256_hex(data, n, hex);
	CHECK_STR(hex, want);
}

static void test_sha256_vectors(void)
{
	check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb924"
	                 "27ae41e4649b934ca495991b7852b855");
	check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223"
	                    "b00361a396177a9cb410ff61f20015ad");
	check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	          56, "248d6a61d20638b8e5c026930c3e6039"
	              "a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_block_edges(void)
{
	static const struct {
		size_t n;
		const char *hex;
	} cases[] = {
		{ 55, "d5e285683cd4efc02d021a5c62014694"
		      "958901005d6f71e89e0989fac77e4072" },
		{ 56, "04c26261370ee7541549d16dee320c72"
		      "3e3fd14671e66a099afe0a377c16888e" },
		{ 63, "75220b47218278e656f2013bb8f0c455"
		      "a25eaf01e86c64924e9d48d89776d6f2" },
		{ 64, "7ce100971f64e7001e8fe5a51973ecdf"
		      "e1ced42befe7ee8d5fd6219506b5393c" },
		{ 119, "000b48d4edf0fa7bee3c6236ecd2785b"
		       "aa5db4eeb8bb54341b029e0d9fa5fb0c" },
	};
	char x[128];

	memset(x, 'x', sizeof(x));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_sha(x, cases[i].n, cases[i].hex);
}

static void test_sha256_million(void)
{
	char *a = malloc(1000000);

	memset(a, 'a', 1000000);
	check_sha(a, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67"
	                      "f1809a48a497200e046d39ccc7112cd0");
	free(a);
}

/* ------------------------------------------------------------------ */

/* Events seen, as "type|data" lines. */
static char seen[4096];

static void collect(void *user, const char *event, const char *data,
                    size_t length)
{
	size_t at = strlen(seen);

	snprintf(seen + at, sizeof(seen) - at, "%s|%.*s\n", event,
	         (int)length, data);
}

/* Feeds STREAM cut at CUT (and, when STEP, byte by byte). */
static const char *parse_cut(const char *stream, size_t cut, int step)
{
	struct mas_sse sse;
	size_t n = strlen(stream);

	seen[0] = '\0';
	mas_sse_init(&sse, collect, NULL);
	if (step) {
		for (size_t i = 0; i < n; i++)
			CHECK_INT(mas_sse_feed(&sse, stream + i, 1), 0);
	} else {
		CHECK_INT(mas_sse_feed(&sse, stream, cut), 0);
		CHECK_INT(mas_sse_feed(&sse, stream + cut, n - cut), 0);
	}
	mas_sse_finish(&sse);
	mas_sse_release(&sse);
	return seen;
}

/* Every cut of STREAM, and byte by byte, must give WANT. */
static void check_every_cut(const char *stream, const char *want)
{
	for (size_t cut = 0; cut <= strlen(stream); cut++) {
		const char *got = parse_cut(stream, cut, 0);
		if (strcmp(got, want) != 0) {
			UNIT_FAIL("cut at %zu: got \"%s\", want \"%s\"", cut,
			          got, want);
			return;
		}
	}
	CHECK_STR(parse_cut(stream, 0, 1), want);
}

static void test_sse_openai_shape(void)
{
	check_every_cut("data: {\"a\":\"h\xc3\xa9\xe4\xbd\xa0\"}\n\n"
	                ": keep-alive\n\n"
	                "\n"
	                "data: {\"b\":2}\n\n"
	                "data: [DONE]\n\n",
	                "message|{\"a\":\"h\xc3\xa9\xe4\xbd\xa0\"}\n"
	                "message|{\"b\":2}\n"
	                "message|[DONE]\n");
}

static void test_sse_line_ends(void)
{
	check_every_cut("data: crlf\r\n\r\ndata: cr\r\rdata: lf\n\n",
	                "message|crlf\nmessage|cr\nmessage|lf\n");
	/* A CRLF read as two line ends would split this event in two. */
	check_every_cut("data: one\r\ndata: two\r\n\r\n",
	                "message|one\ntwo\n");
}

static void test_sse_fields(void)
{
	check_every_cut("event: error\ndata: {\"error\":1}\n\n"
	                "id: 7\nretry: 100\ndata:no-space\n\n"
	                "data: one\ndata: two\n\n"
	                "data\n\n"
	                ":comment only\n\n",
	                "error|{\"error\":1}\n"
	                "message|no-space\n"
	                "message|one\ntwo\n"
	                "message|\n");
}

static void test_sse_unterminated_end(void)
{
	/* Servers that close right after the last line still count. */
	check_every_cut("data: a\n\ndata: [DONE]",
	                "message|a\nmessage|[DONE]\n");
	check_every_cut("data: a\n\ndata: b\n", "message|a\nmessage|b\n");
}

/* ------------------------------------------------------------------ */

static void test_backoff_bounds(void)
{
	CHECK_NEAR(mas_llm_backoff(1, 0.5, 30, 0.0), 0, 1e-12);
	CHECK_NEAR(mas_llm_backoff(1, 0.5, 30, 0.999999), 0.5, 1e-5);
	CHECK_NEAR(mas_llm_backoff(2, 0.5, 30, 0.999999), 1.0, 1e-5);
	CHECK_NEAR(mas_llm_backoff(4, 0.5, 30, 0.5), 2.0, 1e-12);
	CHECK_NEAR(mas_llm_backoff(7, 0.5, 30, 0.999999), 30, 1e-4);
	CHECK_NEAR(mas_llm_backoff(1000, 0.5, 30, 0.5), 15, 1e-12);
	for (int attempt = 1; attempt < 40; attempt++)
		for (double u = 0; u < 1; u += 0.125) {
			double d = mas_llm_backoff(attempt, 0.25, 8, u);
			if (d < 0 || d > 8)
				UNIT_FAIL("attempt %d, u %g: %g", attempt, u,
				          d);
		}
}

static void check_retry(const char *value, double now, int rc,
                        double seconds)
{
	double got = -99;

	if (mas_llm_parse_retry_after(value, now, &got) != rc)
		UNIT_FAIL("\"%s\": want rc %d", value, rc);
	else if (rc == 0)
		CHECK_NEAR(got, seconds, 1e-9);
}

static void test_retry_after(void)
{
	double date = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

	check_retry("1", 0, 0, 1);
	check_retry(" 120 ", 0, 0, 120);
	check_retry("2.5", 0, 0, 2.5);
	check_retry("0", 0, 0, 0);
	check_retry("", 0, -1, 0);
	check_retry("-1", 0, -1, 0);
	check_retry("1e3", 0, -1, 0);
	check_retry("inf", 0, -1, 0);
	check_retry("soon", 0, -1, 0);
	check_retry("Sun, 06 Nov 1994 08:49:37 GMT", date - 10, 0, 10);
	check_retry("Sunday, 06-Nov-94 08:49:37 GMT", date - 3, 0, 3);
	check_retry("Sun Nov  6 08:49:37 1994", date - 1, 0, 1);
	check_retry("Sun, 06 Nov 1994 08:49:37 GMT", date + 60, 0, 0);
}

/* ------------------------------------------------------------------ */

static void test_configured(void)
{
	struct mas_config config;

	mas_config_init(&config);
	CHECK_INT(mas_llm_configured(&config), 0);
	mas_config_set(&config, "llm.model", "m", MAS_CONFIG_FLAG);
	CHECK_INT(mas_llm_configured(&config), 0);
	mas_config_set(&config, "llm.base_url", "http://localhost:8080/v1",
	               MAS_CONFIG_ENV);
	CHECK_INT(mas_llm_configured(&config), 1);
	mas_config_set(&config, "llm.base_url", NULL, MAS_CONFIG_ENV);
	mas_config_set(&config, "llm.api_key", "sk-x", MAS_CONFIG_FILE);
	CHECK_INT(mas_llm_configured(&config), 1);
	mas_config_release(&config);
}

static void test_options_from_config(void)
{
	struct mas_config config;
	struct mas_llm_options o;
	char *error = NULL;

	mas_config_init(&config);
	mas_config_set(&config, "llm.jobs", "16", MAS_CONFIG_FLAG);
	mas_config_set(&config, "llm.timeout", "2.5", MAS_CONFIG_FLAG);
	mas_config_set(&config, "llm.cache_ttl", "3600", MAS_CONFIG_ENV);
	CHECK_INT(mas_llm_options_from_config(&o, &config, &error), 0);
	CHECK_INT(o.jobs, 16);
	CHECK_NEAR(o.timeout, 2.5, 1e-12);
	CHECK_NEAR(o.cache_ttl, 3600, 1e-12);
	CHECK_INT(o.cache, 1);
	mas_config_set(&config, "llm.jobs", "1.5", MAS_CONFIG_FLAG);
	CHECK_INT(mas_llm_options_from_config(&o, &config, &error), -1);
	CHECK(error && strstr(error, "llm.jobs"));
	free(error);
	mas_config_set(&config, "llm.jobs", NULL, MAS_CONFIG_FLAG);
	mas_config_set(&config, "llm.timeout", "-1", MAS_CONFIG_FLAG);
	CHECK_INT(mas_llm_options_from_config(&o, &config, &error), -1);
	CHECK(error && strstr(error, "llm.timeout"));
	free(error);
	mas_config_release(&config);
}

static void test_new_refuses(void)
{
	struct mas_llm_options o = { .base_url = "file:///etc/passwd" };
	char *error = NULL;

	CHECK(mas_llm_new(&o, &error) == NULL);
	CHECK(error && strstr(error, "not an http"));
	free(error);
	o.base_url = "http://127.0.0.1:9/v1";
	o.cache_only = 1;
	CHECK(mas_llm_new(&o, &error) == NULL);
	CHECK(error && strstr(error, "--cache-only"));
	free(error);
}

/* A code and message from a failure, for checks. */
static void check_failure(jv result, const char *code, const char *part)
{
	jv error;

	CHECK(!jv_is_valid(result));
	error = jv_invalid_get_msg(result);
	if (jv_get_kind(error) != JV_KIND_OBJECT) {
		UNIT_FAIL("no error object");
		jv_free(error);
		return;
	}
	jv c = jv_object_get(jv_copy(error), jv_string("code"));
	jv m = jv_object_get(error, jv_string("message"));
	CHECK_STR(jv_string_value(c), code);
	CHECK(strstr(jv_string_value(m), part) != NULL);
	jv_free(c);
	jv_free(m);
}

/* Requests refused before any connection: nothing listens on port 9,
 * and none of these gets that far. */
static void test_answered_without_network(void)
{
	struct mas_llm_options o = { .base_url = "http://127.0.0.1:9/v1",
	                             .model = "m" };
	struct mas_llm_stats stats;
	char *error = NULL;
	struct mas_llm *llm = mas_llm_new(&o, &error);

	CHECK(llm != NULL);
	if (!llm)
		return;
	check_failure(mas_llm_complete(llm, jv_string("hi")),
	              "INVALID_REQUEST", "not a JSON object");
	check_failure(mas_llm_complete(llm, jv_parse("{\"messages\":[]}")),
	              "INVALID_REQUEST", "messages");
	check_failure(mas_llm_complete(llm,
	                               jv_parse("{\"messages\":[{}],"
	                                        "\"required\":\"x\"}")),
	              "INVALID_REQUEST", "required");
	CHECK_INT(mas_llm_in_flight(llm), 0);
	CHECK_INT(mas_llm_perform(llm, 0, -1), 0);
	mas_llm_get_stats(llm, &stats);
	CHECK_INT(stats.requests, 3);
	CHECK_INT(stats.failures, 3);
	CHECK_INT(stats.failures_by_code[MAS_ERR_INVALID_REQUEST], 3);
	mas_llm_free(llm);
	mas_llm_free(NULL);
}

static void cache_only_done(void *user, jv result)
{
	*(jv *)user = result;
}

static void test_cache_only_miss(void)
{
	char dir[] = "/tmp/mas-llm-XXXXXX", path[64], command[96];
	struct mas_store store;
	struct mas_llm_options o = { .base_url = "http://127.0.0.1:9/v1",
	                             .model = "m", .cache = 1,
	                             .cache_only = 1 };
	char *error = NULL;
	struct mas_llm *llm;
	jv result = jv_null();

	if (!mkdtemp(dir)) {
		UNIT_FAIL("mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/mas.db", dir);
	CHECK_INT(mas_store_open(&store, path, &error), 0);
	o.store = &store;
	llm = mas_llm_new(&o, &error);
	CHECK(llm != NULL);
	/* Answered inside submit: DONE has run when it returns. */
	CHECK_INT(mas_llm_submit(llm,
	                         jv_parse("{\"messages\":[{\"role\":\"user\","
	                                  "\"content\":\"x\"}]}"),
	                         cache_only_done, NULL, &result),
	          -1);
	check_failure(result, "NOT_FOUND", "--cache-only");
	mas_llm_free(llm);
	mas_store_close(&store);
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	CHECK_INT(system(command), 0);
}

/* A socket on 127.0.0.1 that takes connections (the kernel's backlog)
 * and never answers; its port in *PORT.  -1 when none can be made. */
static int silent_socket(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t length = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &length) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void check_cancelled(jv result)
{
	jv error = jv_invalid_get_msg(jv_copy(result));

	check_failure(result, "TIMEOUT", "cancelled");
	CHECK(jv_get_kind(error) == JV_KIND_OBJECT);
	if (jv_get_kind(error) == JV_KIND_OBJECT) {
		jv c = jv_object_get(jv_copy(error), jv_string("cancelled"));
		jv t = jv_object_get(jv_copy(error), jv_string("transient"));
		CHECK(jv_get_kind(c) == JV_KIND_TRUE);
		CHECK(jv_get_kind(t) == JV_KIND_FALSE);
		jv_free(c);
		jv_free(t);
	}
	jv_free(error);
}

/* One request in flight and one queued (jobs 1) are both answered by
 * mas_llm_cancel; mas_llm_wait_or_stop cancels on its descriptor. */
static void test_cancel(void)
{
	char url[64];
	struct mas_llm_options o = { .model = "m", .jobs = 1 };
	struct mas_llm_waiter waiter = MAS_LLM_WAITER_INIT;
	jv first = jv_null(), second = jv_null();
	int port, fd = silent_socket(&port), stop[2];
	char *error = NULL;
	struct mas_llm *llm;
	const char *ask = "{\"messages\":[{\"role\":\"user\","
	                  "\"content\":\"x\"}],\"stream\":true}";

	if (fd < 0 || pipe(stop) != 0) {
		UNIT_FAIL("no socket or pipe");
		return;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", port);
	o.base_url = url;
	llm = mas_llm_new(&o, &error);
	CHECK(llm != NULL);
	CHECK_INT(mas_llm_submit(llm, jv_parse(ask), cache_only_done, NULL,
	                         &first), 0);
	CHECK_INT(mas_llm_submit(llm, jv_parse(ask), cache_only_done, NULL,
	                         &second), 0);
	CHECK_INT(mas_llm_perform(llm, 50, -1), 2);
	CHECK(jv_get_kind(first) == JV_KIND_NULL);
	mas_llm_cancel(llm);
	CHECK_INT(mas_llm_in_flight(llm), 0);
	check_cancelled(first);
	check_cancelled(second);
	/* a byte waiting in the pipe: the wait gives up at once */
	mas_llm_submit(llm, jv_parse(ask), mas_llm_keep_answer, NULL, &waiter);
	CHECK_INT(write(stop[1], "", 1), 1);
	check_cancelled(mas_llm_wait_or_stop(llm, &waiter, stop[0]));
	CHECK_INT(mas_llm_in_flight(llm), 0);
	mas_llm_free(llm);
	close(stop[0]);
	close(stop[1]);
	close(fd);
}

int main(void)
{
	UNIT_RUN(test_sha256_vectors);
	UNIT_RUN(test_sha256_block_edges);
	UNIT_RUN(test_sha256_million);
	UNIT_RUN(test_sse_openai_shape);
	UNIT_RUN(test_sse_line_ends);
	UNIT_RUN(test_sse_fields);
	UNIT_RUN(test_sse_unterminated_end);
	UNIT_RUN(test_backoff_bounds);
	UNIT_RUN(test_retry_after);
	UNIT_RUN(test_configured);
	UNIT_RUN(test_options_from_config);
	UNIT_RUN(test_new_refuses);
	UNIT_RUN(test_answered_without_network);
	UNIT_RUN(test_cache_only_miss);
	UNIT_RUN(test_cancel);
	return unit_done();
}
