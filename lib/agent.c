/*
 * agent.c — input selection and result placement for agents (agent.h).
 */
#include "agent.h"
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

jv mas_agent_apply(const struct mas_cli *cli, jv record, mas_agent_fn fn,
                   void *agent)
{
	jv input = mas_agent_input(cli, record);
	jv result = jv_is_valid(input) ? fn(agent, input) : input;

	if (jv_is_valid(result))
		return jv_object_set(record, jv_string(cli->output_key), result);
	return jv_object_set(record, jv_string("error"),
	                     jv_invalid_get_msg(result));
}
