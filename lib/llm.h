/*
 * llm.h — the LLM client: OpenAI-compatible chat completions over libcurl.
 *
 * One thread keeps up to `jobs` requests in flight (libcurl multi) while
 * it goes on with other work, such as reading stdin:
 *
 *	struct mas_llm *llm = mas_llm_new(&options, &error);
 *	mas_llm_submit(llm, request, done, NULL, user);   // as many as wanted
 *	while (mas_llm_perform(llm, 1000, STDIN_FILENO) > 0)
 *		...;                                      // DONE fires in here
 *	mas_llm_free(llm);
 *
 * Every request is POSTed to {base_url}/chat/completions.  The base URL is
 * used as given, without a trailing slash, as the OpenAI SDK does: so
 * "http://localhost:8080/v1" and "https://api.openai.com/v1" both work, and
 * a base without /v1 works for servers that serve the path there.
 *
 * Servers differ (for the man page):
 * - OpenAI: requires a key and a model; always sends usage; structured
 *   output with "strict": true; streams usage only when asked with
 *   stream_options.include_usage (we always ask); its 429s and 5xx may
 *   carry Retry-After or retry-after-ms (both honoured; the
 *   x-ratelimit-* headers are not read).
 * - llama.cpp llama-server: no key unless started with --api-key; serves
 *   whatever model it loaded whatever "model" says; json_schema is turned
 *   into a grammar (follows the schema, "strict" ignored); usage present,
 *   plus its own "timings" (ignored).
 * - vLLM: "model" must match the served name, else 404 (NOT_FOUND);
 *   structured output by guided decoding; usage present; a prompt longer
 *   than the context is a 400 (INVALID_REQUEST, not retried).
 * - Ollama (/v1 endpoint): key ignored (any value works), "model" must be
 *   pulled, else 404; older versions leave usage out of streamed replies
 *   and accept only "json_object" as response_format (they then reply with
 *   JSON that may not follow the schema, which the "required" check and
 *   its one repair retry are there to catch).
 * A missing usage gives "usage": null; token budgets then count bytes/4.
 *
 * Retries: 408, 429, 500, 502, 503, 504, connection failures, timeouts,
 * malformed or truncated replies and error events in a stream are retried
 * up to max_attempts with exponential backoff and full jitter (a random
 * wait in [0, min(backoff_max, backoff_base * 2^(n-1))]), or the
 * Retry-After the server asked for, capped at backoff_max.  400, 401, 403
 * and 404 are not retried.  Waits never block other requests.
 *
 * Error codes in failures: 400 and other 4xx → INVALID_REQUEST (a 400's
 * text in the message), 401 UNAUTHORIZED, 403 FORBIDDEN, 404 NOT_FOUND,
 * 429 RATE_LIMITED, 408 and timeouts TIMEOUT, 5xx, connection errors and
 * bad replies UPSTREAM_ERROR; a cache miss under cache_only NOT_FOUND; a
 * used-up token budget FORBIDDEN ("not allowed by --max-tokens-total":
 * permanent for this run, so a cron job does not retry it as transient).
 *
 * Budget (max_tokens_total): tokens are counted from each reply's usage
 * (bytes/4 of prompt and reply when a server sends none).  Once the
 * count reaches the budget, requests fail at once with FORBIDDEN; while
 * requests are in flight, one whose estimated prompt might cross the
 * budget waits for their answers, so a run overshoots by about one
 * request, whatever `jobs`.  Cache hits cost nothing and are still
 * served.
 *
 * Cache (table llm_cache of the state store): the key is the SHA-256 of
 * the request as sent — model, messages and every parameter, with
 * response_format and "required", keys sorted — leaving out "stream" (a
 * streamed and a plain request share answers), the base URL and the key,
 * so answers recorded against one server replay for the same model name
 * anywhere (--cache-only in CI).  Only successful, checked replies are
 * stored.  Entries older than cache_ttl are fetched again and replaced.
 * Replies are written in batches, one transaction each: when 64 wait,
 * when the oldest has waited 50 ms, when nothing is in flight, and at
 * mas_llm_free; until then this client reads them from memory.  A
 * process killed outright (kill -9) so loses at most those replies,
 * which the next run asks for again; a transaction per reply cost each
 * one a tenth of a millisecond on the thread that starts the next
 * request (bench-llm.sh, issue 14.12).
 * A store that cannot be read or written is warned about once and the
 * run goes on without it.  Identical requests in flight at the same
 * time are not merged: each goes out.
 *
 * Secrets: the key is sent only in the Authorization header; it never
 * appears in logs, errors or results (server error text is scrubbed of it
 * too), and libcurl's verbose mode is never turned on.
 */
#ifndef MAS_LLM_H
#define MAS_LLM_H

#include <poll.h>
#include <stddef.h>

#include <jv.h>

#include "config.h"
#include "mas.h"
#include "store.h"

#define MAS_LLM_DEFAULT_BASE_URL "https://api.openai.com/v1"

struct mas_llm_options {          /* from flags/config; 0/NULL = default */
	const char *base_url;     /* MAS_LLM_DEFAULT_BASE_URL */
	const char *api_key;      /* none: no Authorization header */
	const char *model;        /* required unless every request has one */
	double connect_timeout;   /* seconds; default 10 */
	double timeout;           /* whole request, default 120; for a
	                           * stream: the longest silence */
	int max_attempts;         /* default 4 */
	double backoff_base;      /* default 0.5 s */
	double backoff_max;       /* default 30 s; also caps Retry-After */
	size_t jobs;              /* max in flight; default 8 */
	int cache;                /* 1: use the cache (programs default to
	                           * it); 0: --no-cache */
	double cache_ttl;         /* seconds, 0 = forever */
	int cache_only;           /* a miss is an error, no network */
	long long max_tokens_total; /* budget, 0 = none */
	int insecure;             /* TLS verification off (warns) */
	struct mas_store *store;  /* for the cache (borrowed); NULL: none */
};

struct mas_llm;

/*
 * Whether an endpoint is configured at all: an API key or a base URL.
 * Without one, agents use their embedded engines.
 */
int mas_llm_configured(const struct mas_config *config);

/*
 * Fill OPTIONS from CONFIG (llm.base_url, llm.api_key, llm.model,
 * llm.timeout, llm.jobs, llm.cache_ttl; everything else zeroed, but cache
 * = 1).  The strings are borrowed from CONFIG.  Returns 0, or -1 with a
 * malloc'd message in *ERROR naming the key whose value is bad.
 */
int mas_llm_options_from_config(struct mas_llm_options *options,
                                const struct mas_config *config,
                                char **error);

/*
 * A new client, or NULL with a malloc'd message in *ERROR when the
 * options are unusable (a base URL that is not http(s), negative
 * values).  OPTIONS' strings are copied; the store is borrowed and must
 * outlive the client.  With insecure set, warns that TLS is off.
 */
struct mas_llm *mas_llm_new(const struct mas_llm_options *options,
                            char **error);

/* Frees the client; requests still in flight are dropped without their
 * DONE.  NULL is fine.  Not to be called from inside a callback. */
void mas_llm_free(struct mas_llm *llm);

/*
 * A request is a jv object:
 *
 *	{"messages": [{"role": "user", "content": "..."}, ...],
 *	 "temperature": 0.2, "max_tokens": 300,      (optional)
 *	 "response_format": {JSON schema},            (optional)
 *	 "required": ["field", ...],                  (optional)
 *	 "stream": true,                              (optional)
 *	 "model": "..."}                              (optional)
 *
 * Other fields (top_p, stop, seed, ...) are sent as given.  With
 * response_format the schema is sent as {"type": "json_schema",
 * "json_schema": {"name": "reply", "schema": ..., "strict": true}}, the
 * reply is parsed as JSON (a ```json fence is tolerated) and must be an
 * object holding every "required" field; a reply that is not is retried
 * once with the error quoted back to the model, then fails with
 * UPSTREAM_ERROR "reply is not valid JSON: ..." or "reply lacks field X".
 *
 * DONE is called exactly once per submitted request, from inside
 * mas_llm_perform, or from inside mas_llm_submit itself when the answer is
 * known at once (a cache hit, a cache_only miss, a used-up budget, a
 * request that is not an object).  It owns RESULT:
 *
 *	success: {"content": "...", "json": <parsed reply, with
 *	          response_format only>, "model": "...", "finish_reason":
 *	          "stop", "usage": {"prompt_tokens", "completion_tokens",
 *	          "total_tokens"} or null, "cache_key": "<hex>" (when the
 *	          cache is on), "cached": false, "attempts": 1,
 *	          "latency_ms": 123.4}
 *	failure: jv_invalid_with_msg({"code", "message", "status": HTTP
 *	          status when there was one, "attempts": n, "transient":
 *	          whether trying later may help})
 *
 * ON_TOKEN (may be NULL) gets each streamed piece of text as it arrives,
 * for interactive printing; a cache hit gives it the whole content once.
 * An attempt that fails after some pieces were printed is retried from
 * the start: pieces may then repeat.  A callback may submit new requests.
 *
 * Returns 0, or -1 (DONE called with the failure) when the request was
 * answered at once without success.
 */
typedef void (*mas_llm_done_fn)(void *user, jv result);
typedef void (*mas_llm_token_fn)(void *user, const char *piece,
                                 size_t length);
int mas_llm_submit(struct mas_llm *llm, jv request, mas_llm_done_fn done,
                   mas_llm_token_fn on_token, void *user);

/*
 * Drive the transfers and call DONE for each request that finished.
 * Returns once at least one request was answered, EXTRA_FD (-1: none)
 * became readable, nothing is left in flight, or TIMEOUT_MS passed (0: do
 * not block, one round; -1: no limit).  Backoff waits end on time inside
 * it.  Returns the number of requests still to be answered, queued ones
 * included; with none and no EXTRA_FD it returns 0 at once.  Requests
 * beyond `jobs` are queued, never dropped.
 */
int mas_llm_perform(struct mas_llm *llm, int timeout_ms, int extra_fd);

/*
 * One round of mas_llm_perform that also wakes when one of the COUNT
 * descriptors FDS (events POLLIN or POLLOUT) is ready, for a caller that
 * waits on its own descriptors too (mas-flow's co-processes).  It does
 * not say which: the caller polls its own without waiting afterwards.
 * Returns the number of requests still to be answered.
 */
int mas_llm_poll(struct mas_llm *llm, const struct pollfd *fds,
                 size_t count, int timeout_ms);

/*
 * A model's reply TEXT parsed as JSON, a fence such as ```json ... ```
 * around it allowed (some local models add one whatever they are told):
 * the value, or an invalid jv when it is not JSON.
 */
jv mas_llm_parse_content(const char *text);

/*
 * Drop the cached reply stored under KEY (a result's "cache_key"): for a
 * reply the caller found unusable, so that the next run asks again
 * instead of replaying it.  A missing entry or no cache is fine.
 */
void mas_llm_forget(struct mas_llm *llm, const char *key);

/* Requests submitted and not yet answered, queued ones included. */
size_t mas_llm_in_flight(const struct mas_llm *llm);

/* Submit REQUEST and run until it is answered; returns what DONE would
 * have got.  Other requests in flight progress meanwhile. */
jv mas_llm_complete(struct mas_llm *llm, jv request);

/*
 * Waiting for one answer that comes through a callback (a request's
 * DONE, or an agent's reply that may need the model): pass
 * mas_llm_keep_answer and the waiter as the callback and its data, then
 * mas_llm_wait returns the answer, driving LLM (which may be NULL when
 * the answer cannot need it: it must then have come already).
 */
struct mas_llm_waiter {
	int done;
	jv answer;
};
#define MAS_LLM_WAITER_INIT { 0, { JV_KIND_INVALID, 0, 0, 0, { 0 } } }
void mas_llm_keep_answer(void *waiter, jv answer);
jv mas_llm_wait(struct mas_llm *llm, struct mas_llm_waiter *waiter);

/*
 * mas_llm_wait that gives up when STOP_FD (-1: never) becomes readable:
 * every request then in flight or queued is cancelled (mas_llm_cancel),
 * so the answer comes at once.  STOP_FD is watched, never read: the
 * caller drains it.  For a person who pressed Ctrl-C (mas-chat -i).
 */
jv mas_llm_wait_or_stop(struct mas_llm *llm, struct mas_llm_waiter *waiter,
                        int stop_fd);

/*
 * Abort every request submitted and not yet answered, transfers half-way
 * included: each DONE is called now with jv_invalid_with_msg({"code":
 * "TIMEOUT", "message": "cancelled", "cancelled": true, "transient":
 * false, "attempts": n}) (the caller stopped waiting; not retried).
 * Requests a DONE submits meanwhile are not cancelled.  Not to be called
 * from inside a callback or a signal handler.
 */
void mas_llm_cancel(struct mas_llm *llm);

/* Counters for traces, metrics and the man page. */
struct mas_llm_stats {
	unsigned long requests;      /* submitted */
	unsigned long cache_hits, cache_misses;
	unsigned long retries;       /* HTTP attempts after the first */
	unsigned long failures;      /* requests answered with a failure */
	unsigned long failures_by_code[MAS_ERR_INTERNAL + 1];
	                             /* index: enum mas_error_code */
	long long prompt_tokens, completion_tokens; /* spent, cache hits
	                                             * excluded */
};
void mas_llm_get_stats(const struct mas_llm *llm,
                       struct mas_llm_stats *stats);

/*
 * The pieces inside, exported for the unit tests.
 */

/* SHA-256 of DATA as 64 lowercase hex digits and a NUL, into HEX. */
void mas_sha256_hex(const void *data, size_t length, char hex[65]);

/*
 * A server-sent events parser: feed it bytes in any pieces (a line, even
 * a UTF-8 character, may be split anywhere); it calls ON_EVENT with the
 * event type ("message" unless an "event:" line said otherwise) and the
 * data lines joined by "\n", at each blank line.  Comment lines (":"),
 * blank keep-alives, "id:" and "retry:" are skipped; lines end with LF,
 * CRLF or CR.
 */
struct mas_sse {
	char *line;                /* the partial line */
	size_t line_len, line_cap;
	char *data;                /* the event's data so far */
	size_t data_len, data_cap;
	int has_data;
	char event[32];
	int skip_lf;               /* the last byte was CR */
	void (*on_event)(void *user, const char *event, const char *data,
	                 size_t length);
	void *user;
};
void mas_sse_init(struct mas_sse *sse,
                  void (*on_event)(void *, const char *, const char *,
                                   size_t),
                  void *user);
/* Returns 0, or -1 when a line grows beyond 16 MiB. */
int mas_sse_feed(struct mas_sse *sse, const char *bytes, size_t length);
/* End of stream: a last line without its newline, an event without its
 * blank line, are dispatched (servers that close right after
 * "data: [DONE]" are common). */
void mas_sse_finish(struct mas_sse *sse);
void mas_sse_release(struct mas_sse *sse);

/*
 * What the client makes of a reply, without a transfer: BYTES (LENGTH)
 * as the body of an HTTP STATUS answer, handed over in pieces of PIECE
 * bytes (0: at once) as libcurl hands them over; read as an event stream
 * when STREAM (a streamed request answered 2xx; the client also asks
 * for text/event-stream).  When REQUIRED (consumed) is an array of
 * field names, the content is then checked as a structured reply.
 * Returns {"content", "model", "finish_reason", "usage"[, "json"]} (the
 * model the reply names, or null), or jv_invalid_with_msg({"code",
 * "message", "transient", ...}) as a failed attempt would be answered.
 * The code every reply goes through, exported for tests/fuzz/fuzz-llm.c.
 */
jv mas_llm_read_reply(long status, int stream, const char *bytes,
                      size_t length, size_t piece, jv required);

/*
 * The backoff before retry number ATTEMPT (1 = after the first failure):
 * full jitter, UNIT (in [0, 1)) times min(MAX, BASE * 2^(ATTEMPT-1)).
 */
double mas_llm_backoff(int attempt, double base, double max, double unit);

/*
 * Parse a Retry-After value: delta seconds ("2", "1.5") or an HTTP date,
 * taken relative to NOW (epoch seconds).  Returns 0 with *SECONDS >= 0
 * (a past date gives 0), or -1 when VALUE is neither.
 */
int mas_llm_parse_retry_after(const char *value, double now,
                              double *seconds);

#endif
