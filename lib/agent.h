/*
 * agent.h — the part of every agent that is not the agent: take the input
 * from the record (--input), put the result back (--output-key), or the
 * error in its place, keeping every other field of the record.
 */
#ifndef MAS_AGENT_H
#define MAS_AGENT_H

#include <jv.h>

#include "cli.h"
#include "record.h"

/*
 * The agent proper: INPUT (consumed) in, the result object out, or
 * jv_invalid_with_msg(error object) from mas_fail().
 */
typedef jv (*mas_agent_fn)(void *agent, jv input);

/*
 * Apply AGENT to RECORD (consumed) as the shared options in CLI say, and
 * return the record to emit: with the result under cli->output_key, or
 * with an "error" object when the input expression or the agent failed.
 */
jv mas_agent_apply(const struct mas_cli *cli, jv record, mas_agent_fn fn,
                   void *agent);

/*
 * Asynchronous agents (those that may wait on a model) reply through a
 * callback, once, possibly later, from inside the record loop's wait.
 */
typedef void (*mas_agent_reply_fn)(void *context, jv result);
typedef void (*mas_agent_start_fn)(void *agent, jv input,
                                   mas_agent_reply_fn reply, void *context);

/*
 * Apply an asynchronous agent to RECORD (consumed): its output place in
 * RUN is reserved now (mas_run_defer) and filled, in input order, when
 * START's reply comes — with the result under cli->output_key or the
 * error, as mas_agent_apply does.
 */
void mas_agent_start(const struct mas_cli *cli, struct mas_run *run,
                     jv record, mas_agent_start_fn start, void *agent);

/* The agent's input for RECORD (borrowed): --input's first value, or the
 * record itself; an error when the expression fails or yields nothing. */
jv mas_agent_input(const struct mas_cli *cli, jv record);

#endif
