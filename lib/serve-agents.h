/*
 * serve-agents.h — the agents one mas-serve worker thread owns.
 *
 * libjq, the agents and SQLite connections are not to be shared between
 * threads, so each worker (a request worker or a task worker) has its
 * own set: its model client (engine.h), the three agents made exactly as
 * mas-flow makes its "agent analyze|chat|research" nodes (flow-agent.h:
 * the same options from the same configuration keys, so nothing about an
 * agent is written again for HTTP), its chat session memory in its own
 * connection to the state store, and one `mas-flow run FILE` co-process
 * per flow it has been asked to run.  A request's answer is then exactly
 * the line the agent's program would write for that record.
 *
 * Flows run in a co-process rather than in-process because a flow's run
 * nodes are processes of their own and its runner writes through the
 * record loop to stdout: `mas-flow run` answers one line per record, as
 * any filter does, and a flow that crashes takes down only itself.  The
 * co-process is started on first use and again when its file changes.
 */
#ifndef MAS_SERVE_AGENTS_H
#define MAS_SERVE_AGENTS_H

#include <stddef.h>

#include <jv.h>

#include "cli.h"
#include "engine.h"

enum mas_serve_agent {
	MAS_SERVE_ANALYSIS,
	MAS_SERVE_CHAT,
	MAS_SERVE_RESEARCH,
	MAS_SERVE_AGENT_COUNT,
	MAS_SERVE_FLOW = MAS_SERVE_AGENT_COUNT,
};

struct mas_serve_agents_options {
	struct mas_cli *cli;          /* the configuration (borrowed) */
	const struct mas_engine *engine; /* the model options the command
	                               * line gave: fallback, cache...
	                               * (borrowed, copied per worker) */
	const char *flows_dir;        /* NAME.flow files, or NULL */
	const char *flow_command;     /* mas-flow's path */
	int sessions;                 /* keep chat sessions */
	int quiet;                    /* set-up problems not logged (all
	                               * workers but the first) */
	unsigned agents;              /* the agents to set up, bits
	                               * 1 << MAS_SERVE_ANALYSIS...; 0: all
	                               * (libmas opens one at a time) */
	const char *flow_file;        /* run this file whatever the flow's
	                               * name (libmas's workflows), or NULL:
	                               * FLOWS_DIR/NAME.flow */
	char *const *flow_argv;       /* the command a flow file's path is
	                               * appended to, NULL-terminated, or
	                               * NULL: FLOW_COMMAND run */
};

struct mas_serve_agents;

/*
 * A worker's set.  An agent left out of OPTIONS' agents is unavailable
 * ("not opened").  An agent that cannot be set up (no knowledge base
 * configured, a corpus folder missing) is left out, its reason kept for
 * mas_serve_agents_problem; so is chat session memory when the state
 * store cannot be opened.  Returns NULL only when memory is short.
 */
struct mas_serve_agents *mas_serve_agents_new(
	const struct mas_serve_agents_options *options);

/* Why agent KIND is unavailable ("chat: no knowledge base: ..."), or NULL
 * when it is ready (borrowed). */
const char *mas_serve_agents_problem(const struct mas_serve_agents *agents,
                                     enum mas_serve_agent kind);

/* The key an agent puts its result under: "analysis", "chat",
 * "research"; NULL for a flow. */
const char *mas_serve_agent_key(enum mas_serve_agent kind);

/*
 * Run RECORD (consumed) through agent KIND, or through the flow FLOW
 * when KIND is MAS_SERVE_FLOW, waiting until DEADLINE (monotonic
 * seconds) at most.  Returns the record as the agent's program writes it
 * (its result under its key, or an "error" object), or
 * jv_invalid_with_msg(error object) when it could not be run:
 * UPSTREAM_ERROR for an agent not set up, NOT_FOUND for a flow file
 * that is not there, TIMEOUT past the deadline, INTERNAL for a flow
 * whose mas-flow ended.  With a model, ON_TEXT (NULL: none) gets a
 * chat reply's text as it streams in.
 */
jv mas_serve_agents_run(struct mas_serve_agents *agents,
                        enum mas_serve_agent kind, const char *flow,
                        jv record, double deadline,
                        void (*on_text)(void *user, const char *text,
                                        size_t length),
                        void *text_user);

/* Whether NAME may name a flow (letters, digits, '-' and '_', as a
 * topic token). */
int mas_serve_flow_name_valid(const char *name);

/*
 * The flows of OPTIONS' flows_dir: an array of {"name", "nodes",
 * "graph"} (the Mermaid flowchart mas-flow graph prints) or, for a file
 * with problems, {"name", "valid": false}.  Loaded with AGENTS' model
 * settings and kept until a file changes; one thread at a time loads.
 */
jv mas_serve_agents_flows(struct mas_serve_agents *agents);

/* Whether FLOW's file exists in the flows folder. */
int mas_serve_agents_has_flow(const struct mas_serve_agents_options *options,
                              const char *flow);

/*
 * Group commit: when RECORD (borrowed), run by agent KIND, stores what
 * it does and makes no model call (a chat turn with a session_id, the
 * embedded engine, sessions kept), open one transaction on AGENTS' store
 * for it and the jobs run next, and return 1; else return 0 and each job
 * stores its own.  A model's reply can take seconds, and the store's
 * write lock is not held for them.  When the transaction cannot be
 * opened (the store locked for its whole busy timeout, or on a full
 * disk), returns the MAS_STORE_ status (negative): the job is not run,
 * as its turn could not be stored either, and the wait is not repeated.
 */
int mas_serve_agents_batch_begin(struct mas_serve_agents *agents, int kind,
                                 jv record);

/*
 * Commit the transaction mas_serve_agents_batch_begin opened: 0, or a
 * MAS_STORE_ status (logged; the transaction is rolled back, and none of
 * the batch's turns is stored).
 */
int mas_serve_agents_batch_end(struct mas_serve_agents *agents);

/* Add the model client's figures to the metrics (mas_engine_count). */
void mas_serve_agents_count(struct mas_serve_agents *agents);

/* Stop the flows' co-processes and free everything; NULL is fine. */
void mas_serve_agents_free(struct mas_serve_agents *agents);

#endif
