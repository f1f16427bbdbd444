/*
 * llm-cli — drives lib/llm.c from the shell, for the tests and benchmarks:
 * reads chat requests as JSON Lines on stdin, keeps up to --jobs of them
 * in flight, and prints each result as one JSON line, in input order:
 * the result object on success, {"error": {...}} on failure (also for a
 * line that is not a JSON object).
 *
 * Usage: llm-cli [OPTION...] < requests.jsonl
 *   --base-url URL  --api-key KEY  --model NAME  --jobs N
 *   --timeout S  --connect-timeout S  --max-attempts N
 *   --backoff-base S  --backoff-max S  --no-cache  --cache-only
 *   --cache-ttl S  --max-tokens-total N  --insecure  --state-dir DIR
 *   --stream (and print the tokens to stderr as they come)
 *   --log-level LEVEL  --stats (the counters as JSON on stderr at the end)
 * The environment (OPENAI_BASE_URL, OPENAI_API_KEY, MAS_MODEL, ...) and
 * the config file work as in every mas program; flags win.
 *
 * Exit status: 0 all succeeded, 1 some failed, 75 every failure was
 * transient, 2 usage, 74 output error.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "llm.h"
#include "log.h"
#include "mas.h"
#include "store.h"
#include "banned.h"

struct slot {
	int done;
	jv result;
};

static struct {
	struct slot *ring;      /* results waiting to be printed */
	size_t window;          /* ring size: lines read ahead at most */
	unsigned long next_in;  /* sequence of the next line read */
	unsigned long next_out; /* sequence of the next line printed */
	int stream;
	unsigned long failed, transient;
	char *in;               /* stdin bytes not yet used */
	size_t in_len, in_cap;
	int eof;
} st;

static void usage(void)
{
	fprintf(stderr,
	        "usage: llm-cli [--base-url URL] [--api-key KEY] [--model M] "
	        "[--jobs N]\n"
	        "  [--timeout S] [--connect-timeout S] [--max-attempts N] "
	        "[--backoff-base S]\n"
	        "  [--backoff-max S] [--no-cache] [--cache-only] "
	        "[--cache-ttl S]\n"
	        "  [--max-tokens-total N] [--insecure] [--state-dir DIR] "
	        "[--stream]\n"
	        "  [--log-level LEVEL] [--stats] < requests.jsonl\n");
	exit(MAS_EXIT_USAGE);
}

static double number(const char *option, const char *text)
{
	char *end;
	double value;

	errno = 0;
	value = strtod(text, &end);
	if (errno || end == text || *end || value < 0)
		mas_die(MAS_EXIT_USAGE, "%s: \"%s\" is not a number >= 0",
		        option, text);
	return value;
}

static void on_done(void *user, jv result)
{
	unsigned long seq = (unsigned long)(uintptr_t)user;
	struct slot *slot = &st.ring[seq % st.window];

	slot->done = 1;
	slot->result = result;
}

static void on_token(void *user, const char *piece, size_t length)
{
	fwrite(piece, 1, length, stderr);
	fflush(stderr);
}

/* A result as its output line: failures become {"error": {...}}. */
static jv output_of(jv result)
{
	jv error;

	if (jv_is_valid(result))
		return result;
	error = jv_invalid_get_msg(result);
	st.failed++;
	if (jv_get_kind(error) == JV_KIND_OBJECT) {
		jv code = jv_object_get(jv_copy(error), jv_string("code"));
		if (jv_get_kind(code) == JV_KIND_STRING &&
		    mas_error_code_is_transient(jv_string_value(code)))
			st.transient++;
		jv_free(code);
	}
	return JV_OBJECT(jv_string("error"), error);
}

static void print_ready(void)
{
	int printed = 0;

	while (st.next_out < st.next_in &&
	       st.ring[st.next_out % st.window].done) {
		struct slot *slot = &st.ring[st.next_out % st.window];
		jv line = jv_dump_string(output_of(slot->result), 0);
		printf("%s\n", jv_string_value(line));
		jv_free(line);
		slot->done = 0;
		st.next_out++;
		printed = 1;
	}
	if (printed && fflush(stdout) != 0)
		mas_die(MAS_EXIT_IO, "stdout: %s", strerror(errno));
}

static void submit_line(struct mas_llm *llm, const char *text, size_t n)
{
	unsigned long seq = st.next_in++;
	void *user = (void *)(uintptr_t)seq;
	jv request = jv_parse_sized(text, (int)n);

	st.ring[seq % st.window].done = 0;
	if (!jv_is_valid(request)) {
		jv message = jv_invalid_get_msg(request);
		on_done(user, mas_fail(MAS_ERR_INVALID_REQUEST,
		                       "line %lu: %s", seq + 1,
		                       jv_get_kind(message) == JV_KIND_STRING
		                               ? jv_string_value(message)
		                               : "not JSON"));
		jv_free(message);
		return;
	}
	if (st.stream && jv_get_kind(request) == JV_KIND_OBJECT)
		request = jv_object_set(request, jv_string("stream"),
		                        jv_true());
	mas_llm_submit(llm, request, on_done, st.stream ? on_token : NULL,
	               user);
}

static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* Submits the complete lines buffered while the window has room. */
static void submit_lines(struct mas_llm *llm)
{
	size_t start = 0;

	while (st.next_in - st.next_out < st.window && start < st.in_len) {
		char *nl = memchr(st.in + start, '\n', st.in_len - start);
		size_t end = nl ? (size_t)(nl - st.in) : st.in_len;
		if (!nl && !st.eof)
			break;
		if (!blank(st.in + start, end - start))
			submit_line(llm, st.in + start, end - start);
		start = nl ? end + 1 : end;
	}
	if (start > 0) /* st.in is NULL until the first read */
		memmove(st.in, st.in + start, st.in_len - start);
	st.in_len -= start;
}

static void read_input(void)
{
	struct pollfd fd = { .fd = STDIN_FILENO, .events = POLLIN };
	ssize_t n;

	if (poll(&fd, 1, 0) <= 0)
		return;
	if (st.in_cap - st.in_len < 65536) {
		st.in_cap = st.in_cap * 2 + 65536;
		st.in = realloc(st.in, st.in_cap);
		if (!st.in)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	n = read(STDIN_FILENO, st.in + st.in_len, st.in_cap - st.in_len);
	if (n < 0 && errno != EINTR && errno != EAGAIN)
		mas_die(MAS_EXIT_IO, "stdin: %s", strerror(errno));
	if (n == 0)
		st.eof = 1;
	if (n > 0)
		st.in_len += (size_t)n;
}

static void run(struct mas_llm *llm)
{
	for (;;) {
		int room;
		submit_lines(llm);
		print_ready();
		if (st.eof && st.in_len == 0 && st.next_out == st.next_in)
			break;
		room = !st.eof && st.next_in - st.next_out < st.window;
		mas_llm_perform(llm, 1000, room ? STDIN_FILENO : -1);
		if (room)
			read_input();
	}
}

static void print_stats(const struct mas_llm *llm)
{
	struct mas_llm_stats s;

	mas_llm_get_stats(llm, &s);
	fprintf(stderr,
	        "{\"requests\":%lu,\"cache_hits\":%lu,\"cache_misses\":%lu,"
	        "\"retries\":%lu,\"failures\":%lu,\"prompt_tokens\":%lld,"
	        "\"completion_tokens\":%lld}\n",
	        s.requests, s.cache_hits, s.cache_misses, s.retries,
	        s.failures, s.prompt_tokens, s.completion_tokens);
}

enum {
	OPT_BASE_URL = 256, OPT_API_KEY, OPT_MODEL, OPT_JOBS, OPT_TIMEOUT,
	OPT_CONNECT_TIMEOUT, OPT_MAX_ATTEMPTS, OPT_BACKOFF_BASE,
	OPT_BACKOFF_MAX, OPT_NO_CACHE, OPT_CACHE_ONLY, OPT_CACHE_TTL,
	OPT_MAX_TOKENS, OPT_INSECURE, OPT_STATE_DIR, OPT_STREAM,
	OPT_LOG_LEVEL, OPT_STATS,
};

static const struct option long_options[] = {
	{ "base-url", required_argument, NULL, OPT_BASE_URL },
	{ "api-key", required_argument, NULL, OPT_API_KEY },
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "jobs", required_argument, NULL, OPT_JOBS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS },
	{ "backoff-base", required_argument, NULL, OPT_BACKOFF_BASE },
	{ "backoff-max", required_argument, NULL, OPT_BACKOFF_MAX },
	{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
	{ "cache-only", no_argument, NULL, OPT_CACHE_ONLY },
	{ "cache-ttl", required_argument, NULL, OPT_CACHE_TTL },
	{ "max-tokens-total", required_argument, NULL, OPT_MAX_TOKENS },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "stream", no_argument, NULL, OPT_STREAM },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ NULL, 0, NULL, 0 },
};

/* Flags that are config keys go through the config (flags win). */
static const char *config_key_of(int option)
{
	switch (option) {
	case OPT_BASE_URL: return "llm.base_url";
	case OPT_API_KEY: return "llm.api_key";
	case OPT_MODEL: return "llm.model";
	case OPT_JOBS: return "llm.jobs";
	case OPT_TIMEOUT: return "llm.timeout";
	case OPT_CACHE_TTL: return "llm.cache_ttl";
	case OPT_STATE_DIR: return "state.dir";
	case OPT_LOG_LEVEL: return "log.level";
	}
	return NULL;
}

struct flags {
	struct mas_llm_options o; /* the fields no config key holds */
	int no_cache, stats;
};

static void parse_flag(struct flags *f, struct mas_config *config, int c,
                       const char *arg)
{
	const char *key = config_key_of(c);

	if (key) {
		mas_config_set(config, key, arg, MAS_CONFIG_FLAG);
		return;
	}
	switch (c) {
	case OPT_CONNECT_TIMEOUT:
		f->o.connect_timeout = number("--connect-timeout", arg);
		break;
	case OPT_MAX_ATTEMPTS:
		f->o.max_attempts = (int)number("--max-attempts", arg);
		break;
	case OPT_BACKOFF_BASE:
		f->o.backoff_base = number("--backoff-base", arg);
		break;
	case OPT_BACKOFF_MAX:
		f->o.backoff_max = number("--backoff-max", arg);
		break;
	case OPT_MAX_TOKENS:
		f->o.max_tokens_total =
			(long long)number("--max-tokens-total", arg);
		break;
	case OPT_NO_CACHE: f->no_cache = 1; break;
	case OPT_CACHE_ONLY: f->o.cache_only = 1; break;
	case OPT_INSECURE: f->o.insecure = 1; break;
	case OPT_STREAM: st.stream = 1; break;
	case OPT_STATS: f->stats = 1; break;
	default: usage();
	}
}

static void setup_log(const struct mas_config *config)
{
	int level = mas_log_level_parse(mas_config_get(config, "log.level"));

	if (level < 0)
		mas_die(MAS_EXIT_USAGE, "log.level: \"%s\" is not a level",
		        mas_config_get(config, "log.level"));
	mas_log_set_level((enum mas_log_level)level);
}

static void options_of(struct flags *f, const struct mas_config *config,
                       struct mas_llm_options *o)
{
	char *error = NULL;

	if (mas_llm_options_from_config(o, config, &error))
		mas_die(MAS_EXIT_USAGE, "%s", error);
	o->connect_timeout = f->o.connect_timeout;
	o->max_attempts = f->o.max_attempts;
	o->backoff_base = f->o.backoff_base;
	o->backoff_max = f->o.backoff_max;
	o->max_tokens_total = f->o.max_tokens_total;
	o->cache_only = f->o.cache_only;
	o->insecure = f->o.insecure;
	o->cache = !f->no_cache;
}

static void open_store(struct mas_store *store,
                       const struct mas_config *config)
{
	char *error = NULL;
	char *path = mas_store_path(config, &error);

	if (!path || mas_store_open(store, path, &error))
		mas_die(MAS_EXIT_USAGE, "%s", error ? error : "no store");
	free(path);
}

int main(int argc, char **argv)
{
	struct mas_config config;
	struct mas_store store = { 0 };
	struct flags f = { 0 };
	struct mas_llm_options o;
	struct mas_llm *llm;
	char *error = NULL;
	int c;

	mas_log_init("llm-cli");
	mas_config_init(&config);
	mas_config_load_env(&config);
	if (mas_config_load_file(&config, NULL, &error))
		mas_die(MAS_EXIT_USAGE, "%s", error);
	for (;;) {
		c = getopt_long(argc, argv, "", long_options, NULL);
		if (c == -1)
			break;
		parse_flag(&f, &config, c, optarg);
	}
	if (optind < argc)
		usage();
	setup_log(&config);
	options_of(&f, &config, &o);
	if (o.cache) {
		open_store(&store, &config);
		o.store = &store;
	}
	llm = mas_llm_new(&o, &error);
	if (!llm)
		mas_die(MAS_EXIT_USAGE, "%s", error);
	st.window = (o.jobs ? o.jobs : 8) * 4;
	st.ring = calloc(st.window, sizeof(*st.ring));
	if (!st.ring)
		mas_die(MAS_EXIT_IO, "out of memory");
	run(llm);
	if (f.stats)
		print_stats(llm);
	mas_llm_free(llm);
	mas_store_close(&store);
	mas_config_release(&config);
	free(st.ring);
	free(st.in);
	if (fclose(stdout) != 0)
		return MAS_EXIT_IO;
	if (st.failed == 0)
		return MAS_EXIT_OK;
	return st.failed == st.transient ? MAS_EXIT_TEMPFAIL
	                                 : MAS_EXIT_RECORDS;
}
