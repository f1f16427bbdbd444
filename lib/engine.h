/*
 * engine.h — which engine an agent runs, and what happens when the model
 * fails (mas(7), "ENGINES").
 *
 * Without an endpoint (no OPENAI_API_KEY and no OPENAI_BASE_URL) every
 * agent runs its embedded engine.  With one, an agent asks the model for
 * the parts that need language, many records in flight at once (--jobs),
 * and when a request fails for good it either falls back to the embedded
 * answer, saying so in meta.engine and meta.fallback_reason (--fallback
 * embedded, the default), or emits the record with the model's error
 * (--fallback error).  The options here are shared by every agent, as
 * mas_cli_argp's are:
 *
 *	struct mas_engine engine;
 *	mas_engine_init(&engine, &cli);
 *	children: { &mas_cli_argp, ... }, { &mas_engine_argp, ... }
 *	ARGP_KEY_INIT: state->child_inputs[1] = &engine;
 *	mas_cli_setup(&cli); mas_engine_setup(&engine);
 *	run.jobs = mas_engine_jobs(&engine); run.wait = mas_engine_wait;
 */
#ifndef MAS_ENGINE_H
#define MAS_ENGINE_H

#include <argp.h>

#include <jv.h>

#include "cli.h"
#include "llm.h"
#include "record.h"
#include "store.h"

struct mas_engine {
	struct mas_cli *cli;          /* borrowed: its config */
	struct mas_llm_options options;
	int fallback_error;           /* --fallback error */
	int fallback_silent;          /* log no fallback: the caller tells
	                               * the person itself, where they read
	                               * the answer (mas-chat -i) */
	int no_cache, cache_only, insecure;
	long long max_tokens_total;
	int store_open;
	struct mas_store store;
	struct mas_llm *llm;          /* NULL: the embedded engine */
	/* Set before mas_engine_setup by a program with an engine per
	 * thread (mas-serve): no collector reads the client from another
	 * thread; mas_engine_count adds its figures instead. */
	int per_thread;
	struct mas_llm_stats counted; /* what mas_engine_count added */
};

extern const struct argp mas_engine_argp;

void mas_engine_init(struct mas_engine *engine, struct mas_cli *cli);

/*
 * After mas_cli_setup: when an endpoint is configured, open the state
 * store (for the cache) and the client.  Exits 2 with a message on a bad
 * setting or a store that cannot be opened.
 */
void mas_engine_setup(struct mas_engine *engine);

/* The same, for a library caller: returns 0, or -1 with a malloc'd
 * message in *ERROR (what mas_engine_setup dies with); release the
 * engine either way. */
int mas_engine_open(struct mas_engine *engine, char **error);

/* Records to keep in flight: the client's jobs, or 0 (synchronous). */
size_t mas_engine_jobs(const struct mas_engine *engine);

/*
 * Threads for an agent's own computing (mas-analyze's forecasts): --jobs
 * when given on the command line, else the processors online.  llm.jobs
 * in the environment or a config file sizes the model's requests only.
 */
unsigned mas_engine_threads(const struct mas_engine *engine);

/* The record loop's wait function (struct mas_run_options.wait); DATA
 * must point to a struct whose first member is a struct mas_engine *. */
void mas_engine_wait(struct mas_run *run, int timeout_ms, int fd,
                     void *data);

/*
 * Settle a model's outcome into RESULT (the agent's answer, consumed):
 * on success (OUTCOME valid) meta.engine becomes "llm" with the model,
 * usage, cache and attempt figures in meta.llm; on failure RESULT keeps
 * its embedded answer with meta.engine "embedded" and meta.fallback_reason,
 * or, under --fallback error, the model's error is returned instead
 * (jv_invalid_with_msg).  OUTCOME is consumed.  A fallback is logged
 * at INFO, unless fallback_silent or OUTCOME says "cancelled"
 * (mas_llm_cancel).
 */
jv mas_engine_settle(const struct mas_engine *engine, jv result, jv outcome);

/*
 * Add to the metrics what ENGINE's client did since the last call, from
 * the thread that drives it: the engines of many threads then sum into
 * one set of counters.  Nothing without a model.
 */
void mas_engine_count(struct mas_engine *engine);

void mas_engine_release(struct mas_engine *engine);

#endif
