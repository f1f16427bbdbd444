/*
 * agent.c — input selection and result placement for agents (agent.h).
 */
#include <stdlib.h>

#include "agent.h"
#include "log.h"
#include "mas.h"
#include "banned.h"

jv mas_agent_input(const struct mas_cli *cli, jv record)
{
	jv input;

	if (!cli->input)
		return jv_copy(record);
	input = mas_expr_first(cli->input, jv_copy(record));
	if (jv_is_valid(input))
		return input;
	if (jv_invalid_has_msg(jv_copy(input))) {
		jv message = jv_invalid_get_msg(input);
		jv error = mas_fail(MAS_ERR_INVALID_REQUEST, "--input '%s': %s",
		                    mas_expr_text(cli->input),
		                    jv_string_value(message));
		jv_free(message);
		return error;
	}
	jv_free(input);
	return mas_fail(MAS_ERR_INVALID_REQUEST, "--input '%s': no value",
	                mas_expr_text(cli->input));
}

/* RECORD with RESULT under the output key, or its error. */
static jv place(const struct mas_cli *cli, jv record, jv result)
{
	if (jv_is_valid(result))
		return jv_object_set(record, jv_string(cli->output_key), result);
	return jv_object_set(record, jv_string("error"),
	                     jv_invalid_get_msg(result));
}

jv mas_agent_apply(const struct mas_cli *cli, jv record, mas_agent_fn fn,
                   void *agent)
{
	jv input = mas_agent_input(cli, record);
	jv result = jv_is_valid(input) ? fn(agent, input) : input;

	return place(cli, record, result);
}

/* A record waiting for its agent's reply. */
struct waiting {
	const struct mas_cli *cli;
	struct mas_run *run;
	size_t ticket;
	jv record;
};

static void reply_to_record(void *context, jv result)
{
	struct waiting *waiting = context;

	mas_run_complete(waiting->run, waiting->ticket,
	                 place(waiting->cli, waiting->record, result));
	free(waiting);
}

void mas_agent_start(const struct mas_cli *cli, struct mas_run *run,
                     jv record, mas_agent_start_fn start, void *agent)
{
	struct waiting *waiting = malloc(sizeof(*waiting));
	jv input = mas_agent_input(cli, record);

	if (!waiting)
		mas_die(MAS_EXIT_IO, "out of memory");
	waiting->cli = cli;
	waiting->run = run;
	waiting->ticket = mas_run_defer(run);
	waiting->record = record;
	if (jv_is_valid(input))
		start(agent, input, reply_to_record, waiting);
	else
		reply_to_record(waiting, input);
}
