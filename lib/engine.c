/*
 * engine.c — embedded engine or model, and the fallback between them
 * (see engine.h).
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "workers.h"
#include "banned.h"

enum {
	OPT_MODEL = 0x300,
	OPT_JOBS,
	OPT_FALLBACK,
	OPT_NO_CACHE,
	OPT_CACHE_TTL,
	OPT_CACHE_ONLY,
	OPT_MAX_TOKENS_TOTAL,
	OPT_TIMEOUT,
	OPT_INSECURE,
};

static const struct argp_option engine_options[] = {
	{ "model", OPT_MODEL, "NAME", 0,
	  "Ask model NAME (default: llm.model, MAS_MODEL)", 0 },
	{ "jobs", OPT_JOBS, "N", 0,
	  "Keep up to N model requests in flight (default 8); programs "
	  "that compute much (mas-analyze) also use N threads", 0 },
	{ "fallback", OPT_FALLBACK, "WHAT", 0,
	  "When the model fails: embedded (answer without it, the default) "
	  "or error (emit the record with the error)", 0 },
	{ "no-cache", OPT_NO_CACHE, NULL, 0,
	  "Neither read nor write the response cache", 0 },
	{ "cache-ttl", OPT_CACHE_TTL, "SECONDS", 0,
	  "Use cached replies younger than SECONDS (default: forever)", 0 },
	{ "cache-only", OPT_CACHE_ONLY, NULL, 0,
	  "Answer from the cache only; a miss is an error (no network)", 0 },
	{ "max-tokens-total", OPT_MAX_TOKENS_TOTAL, "N", 0,
	  "Stop asking the model once this run has used N tokens", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0,
	  "Give up on one attempt at a model request after SECONDS (default "
	  "120; for a stream, SECONDS of silence); failed attempts are "
	  "retried", 0 },
	{ "insecure", OPT_INSECURE, NULL, 0,
	  "Do not verify the endpoint's TLS certificate (warns)", 0 },
	{ 0 }
};

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct mas_engine *engine = state->input;
	struct mas_config *config = &engine->cli->config;

	switch (key) {
	case OPT_MODEL:
		mas_config_set(config, "llm.model", arg, MAS_CONFIG_FLAG);
		break;
	case OPT_JOBS:
		mas_cli_parse_count("--jobs", arg, 1, 1000);
		mas_config_set(config, "llm.jobs", arg, MAS_CONFIG_FLAG);
		break;
	case OPT_FALLBACK:
		if (strcmp(arg, "embedded") != 0 && strcmp(arg, "error") != 0)
			mas_die(MAS_EXIT_USAGE, "--fallback: '%s' is not embedded "
			        "or error", arg);
		engine->fallback_error = strcmp(arg, "error") == 0;
		break;
	case OPT_NO_CACHE: engine->no_cache = 1; break;
	case OPT_CACHE_TTL:
		mas_cli_parse_count("--cache-ttl", arg, 0, 1L << 40);
		mas_config_set(config, "llm.cache_ttl", arg, MAS_CONFIG_FLAG);
		break;
	case OPT_CACHE_ONLY: engine->cache_only = 1; break;
	case OPT_MAX_TOKENS_TOTAL:
		engine->max_tokens_total = mas_cli_parse_count(
			"--max-tokens-total", arg, 1, 1L << 62);
		break;
	case OPT_TIMEOUT:
		mas_cli_parse_count("--timeout", arg, 1, 86400);
		mas_config_set(config, "llm.timeout", arg, MAS_CONFIG_FLAG);
		break;
	case OPT_INSECURE: engine->insecure = 1; break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp mas_engine_argp = { engine_options, parse_option, NULL, NULL,
	                              NULL, NULL, NULL };

void mas_engine_init(struct mas_engine *engine, struct mas_cli *cli)
{
	memset(engine, 0, sizeof(*engine));
	engine->cli = cli;
}

static int open_store(struct mas_engine *engine, char **error)
{
	char *why = NULL;

	if (mas_store_open_configured(&engine->store, &engine->cli->config,
	                              &why) != 0) {
		mas_error_set(error, "state store: %s",
		              why ? why : "cannot open");
		free(why);
		return -1;
	}
	engine->store_open = 1;
	return 0;
}

/* The client's own counters, copied into the metrics before a write. */
static void collect_llm(void *data)
{
	struct mas_engine *engine = data;
	struct mas_llm_stats stats;
	char labels[64];

	if (!engine->llm)
		return; /* released: the last reading stands */
	mas_llm_get_stats(engine->llm, &stats);
	mas_metrics_set("mas_llm_requests_total", "counter", "Model requests "
	                "answered, by outcome (cache hits included).",
	                "outcome=\"ok\"",
	                (double)(stats.requests - stats.failures));
	mas_metrics_set("mas_llm_requests_total", "counter", "Model requests "
	                "answered, by outcome (cache hits included).",
	                "outcome=\"error\"", (double)stats.failures);
	mas_metrics_set("mas_llm_cache_hits_total", "counter", "Model "
	                "requests answered from the cache.", NULL,
	                (double)stats.cache_hits);
	mas_metrics_set("mas_llm_cache_misses_total", "counter", "Model "
	                "requests not in the cache.", NULL,
	                (double)stats.cache_misses);
	mas_metrics_set("mas_llm_retries_total", "counter", "HTTP attempts "
	                "after the first.", NULL, (double)stats.retries);
	mas_metrics_set("mas_llm_tokens_total", "counter", "Tokens spent, by "
	                "kind.", "kind=\"prompt\"",
	                (double)stats.prompt_tokens);
	mas_metrics_set("mas_llm_tokens_total", "counter", "Tokens spent, by "
	                "kind.", "kind=\"completion\"",
	                (double)stats.completion_tokens);
	for (int c = 0; c <= MAS_ERR_INTERNAL; c++) {
		if (!stats.failures_by_code[c])
			continue;
		snprintf(labels, sizeof(labels), "code=\"%s\"",
		         mas_error_code_name((enum mas_error_code)c));
		mas_metrics_set("mas_llm_failures_total", "counter", "Model "
		                "requests that failed, by code.", labels,
		                (double)stats.failures_by_code[c]);
	}
}

int mas_engine_open(struct mas_engine *engine, char **error)
{
	struct mas_llm_options *options = &engine->options;

	if (!mas_llm_configured(&engine->cli->config)) {
		if (engine->cache_only)
			return mas_error_set(error, "--cache-only: no model "
			                     "endpoint is configured "
			                     "(OPENAI_BASE_URL or "
			                     "OPENAI_API_KEY)");
		return 0;
	}
	if (mas_llm_options_from_config(options, &engine->cli->config,
	                                error) != 0)
		return -1;
	options->cache = !engine->no_cache;
	options->cache_only = engine->cache_only;
	options->insecure = engine->insecure;
	options->max_tokens_total = engine->max_tokens_total;
	if (options->cache || options->cache_only) {
		if (open_store(engine, error) != 0)
			return -1;
		options->store = &engine->store;
	}
	engine->llm = mas_llm_new(options, error);
	if (!engine->llm)
		return -1;
	if (!engine->per_thread)
		mas_metrics_add_collector(collect_llm, engine);
	return 0;
}

void mas_engine_setup(struct mas_engine *engine)
{
	char *error = NULL;

	if (mas_engine_open(engine, &error) != 0)
		mas_die(MAS_EXIT_USAGE, "%s", error ? error : "model client");
}

/* Add NOW - BEFORE of one counter to the metrics. */
static void add_delta(const char *name, const char *help, const char *labels,
                      double now, double before)
{
	if (now > before)
		mas_metrics_count(name, help, labels, now - before);
}

void mas_engine_count(struct mas_engine *engine)
{
	struct mas_llm_stats now, *was = &engine->counted;
	char labels[64];

	if (!engine->llm || !mas_metrics_enabled())
		return;
	mas_llm_get_stats(engine->llm, &now);
	add_delta("mas_llm_requests_total", "Model requests answered, by "
	          "outcome (cache hits included).", "outcome=\"ok\"",
	          (double)(now.requests - now.failures),
	          (double)(was->requests - was->failures));
	add_delta("mas_llm_requests_total", "Model requests answered, by "
	          "outcome (cache hits included).", "outcome=\"error\"",
	          (double)now.failures, (double)was->failures);
	add_delta("mas_llm_cache_hits_total", "Model requests answered from "
	          "the cache.", NULL, (double)now.cache_hits,
	          (double)was->cache_hits);
	add_delta("mas_llm_cache_misses_total", "Model requests not in the "
	          "cache.", NULL, (double)now.cache_misses,
	          (double)was->cache_misses);
	add_delta("mas_llm_retries_total", "HTTP attempts after the first.",
	          NULL, (double)now.retries, (double)was->retries);
	add_delta("mas_llm_tokens_total", "Tokens spent, by kind.",
	          "kind=\"prompt\"", (double)now.prompt_tokens,
	          (double)was->prompt_tokens);
	add_delta("mas_llm_tokens_total", "Tokens spent, by kind.",
	          "kind=\"completion\"", (double)now.completion_tokens,
	          (double)was->completion_tokens);
	for (int c = 0; c <= MAS_ERR_INTERNAL; c++) {
		snprintf(labels, sizeof(labels), "code=\"%s\"",
		         mas_error_code_name((enum mas_error_code)c));
		add_delta("mas_llm_failures_total", "Model requests that "
		          "failed, by code.", labels,
		          (double)now.failures_by_code[c],
		          (double)was->failures_by_code[c]);
	}
	*was = now;
}

size_t mas_engine_jobs(const struct mas_engine *engine)
{
	if (!engine->llm)
		return 0;
	return engine->options.jobs ? engine->options.jobs : 8;
}

unsigned mas_engine_threads(const struct mas_engine *engine)
{
	const struct mas_config *config = &engine->cli->config;

	if (mas_config_source_of(config, "llm.jobs") == MAS_CONFIG_FLAG)
		return (unsigned)strtoul(mas_config_get(config, "llm.jobs"),
		                         NULL, 10);
	return mas_workers_cpus();
}

void mas_engine_wait(struct mas_run *run, int timeout_ms, int fd, void *data)
{
	struct mas_engine *engine = *(struct mas_engine **)data;

	if (engine->llm)
		mas_llm_perform(engine->llm, timeout_ms, fd);
}

static jv llm_meta(jv outcome)
{
	static const char *const kept[] = {
		"model", "usage", "cached", "attempts", "latency_ms",
		"finish_reason", NULL
	};
	jv meta = jv_object();

	for (int i = 0; kept[i]; i++) {
		jv value = jv_object_get(jv_copy(outcome),
		                         jv_string(kept[i]));

		/* a missing one (a cached reply of another version) is
		 * left out: an invalid value would abort the dump */
		if (jv_is_valid(value))
			meta = jv_object_set(meta, jv_string(kept[i]), value);
		else
			jv_free(value);
	}
	jv_free(outcome);
	return meta;
}

/* Counts a fallback and says so (at INFO: the record carries
 * meta.fallback_reason), unless the caller tells it itself. */
static void fell_back(const struct mas_engine *engine, const char *message)
{
	mas_metrics_count("mas_fallbacks_total", "Answers given by the "
	                  "embedded engine after the model failed.", NULL, 1);
	if (!engine->fallback_silent)
		mas_info("model failed, answering with the embedded engine: "
		         "%s", message);
}

jv mas_engine_settle(const struct mas_engine *engine, jv result, jv outcome)
{
	jv failure, code, message, cancelled;

	if (jv_is_valid(outcome)) {
		result = jv_setpath(result, JV_ARRAY(jv_string("meta"),
		                                     jv_string("engine")),
		                    jv_string("llm"));
		return jv_setpath(result, JV_ARRAY(jv_string("meta"),
		                                   jv_string("llm")),
		                  llm_meta(outcome));
	}
	failure = jv_invalid_get_msg(outcome);
	if (engine->fallback_error) {
		jv_free(result);
		return jv_invalid_with_msg(failure);
	}
	code = jv_object_get(jv_copy(failure), jv_string("code"));
	cancelled = jv_object_get(jv_copy(failure), jv_string("cancelled"));
	message = jv_object_get(failure, jv_string("message"));
	/* a reply the person cancelled is no failure to tell them of */
	if (jv_get_kind(cancelled) != JV_KIND_TRUE)
		fell_back(engine, jv_string_value(message));
	jv_free(cancelled);
	result = jv_setpath(result, JV_ARRAY(jv_string("meta"),
	                                     jv_string("engine")),
	                    jv_string("embedded"));
	result = jv_setpath(result, JV_ARRAY(jv_string("meta"),
	                                     jv_string("fallback_reason")),
	                    jv_string_fmt("%s: %s", jv_string_value(code),
	                                  jv_string_value(message)));
	jv_free(code);
	jv_free(message);
	return result;
}

void mas_engine_release(struct mas_engine *engine)
{
	if (engine->llm && mas_metrics_enabled() && !engine->per_thread)
		collect_llm(engine);
	else if (engine->llm)
		mas_engine_count(engine);
	mas_llm_free(engine->llm);
	engine->llm = NULL;
	if (engine->store_open)
		mas_store_close(&engine->store);
	engine->store_open = 0;
}
