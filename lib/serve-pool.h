/*
 * serve-pool.h — mas-serve's request workers: a fixed set of threads,
 * each owning its agents (serve-agents.h), taking jobs from one bounded
 * queue.
 *
 * HTTP threads never run an agent: a request that needs one becomes a
 * job and its connection is suspended until the job is done, so a slow
 * agent holds one worker, never the connections of others, and the
 * queue's bound turns overload into 503 answers instead of unbounded
 * memory.  A job whose deadline has passed by the time a worker takes it
 * is not run (its request was answered 504 already).
 */
#ifndef MAS_SERVE_POOL_H
#define MAS_SERVE_POOL_H

#include <stddef.h>

#include <jv.h>

#include "serve-agents.h"

/* The job kinds beyond the agents and flows: list the flows. */
enum { MAS_SERVE_FLOW_LIST = MAS_SERVE_FLOW + 1 };

/* A job's result: the output record (or, for a flow list, the list),
 * or jv_invalid_with_msg(error object) when it was not run; consumed. */
typedef void (*mas_serve_done_fn)(void *owner, jv output);

/* A piece of a chat reply streaming in from a model. */
typedef void (*mas_serve_text_fn)(void *owner, const char *text,
                                  size_t length);

struct mas_serve_pool;

/*
 * Start WORKERS threads with agents made from AGENTS (borrowed; must
 * outlive the pool), QUEUE jobs waiting at most.  The first set of
 * agents is made here, in the caller's thread, so that set-up problems
 * are logged once, before the server listens.  Returns NULL with
 * *ERROR when threads cannot be started.
 */
struct mas_serve_pool *mas_serve_pool_start(
	const struct mas_serve_agents_options *agents, unsigned workers,
	size_t queue, char **error);

/*
 * Queue a job: KIND (an agent, MAS_SERVE_FLOW with FLOW, or
 * MAS_SERVE_FLOW_LIST), RECORD (consumed), DEADLINE (monotonic seconds).
 * DONE(OWNER, output) is called once from the worker; TEXT (NULL: none)
 * before it with a model's reply as it streams.  Returns 0, or -1 when
 * the queue is full or the pool is stopping (nothing is called).
 */
int mas_serve_pool_submit(struct mas_serve_pool *pool, int kind,
                          const char *flow, jv record, double deadline,
                          mas_serve_done_fn done, mas_serve_text_fn text,
                          void *owner);

/* Why agent KIND cannot run ("no knowledge base: ..."), or NULL. */
const char *mas_serve_pool_problem(const struct mas_serve_pool *pool,
                                   enum mas_serve_agent kind);

/* Jobs waiting, jobs running, workers alive. */
void mas_serve_pool_figures(struct mas_serve_pool *pool, size_t *waiting,
                            size_t *running, unsigned *alive);

/*
 * Take no more jobs; answer the waiting ones (DONE with an UPSTREAM_ERROR
 * "the server is stopping"); give the running ones BOUND seconds, then
 * free the pool (workers still busy are left to the process's exit).
 * NULL is fine.
 */
void mas_serve_pool_stop(struct mas_serve_pool *pool, double bound);

#endif
