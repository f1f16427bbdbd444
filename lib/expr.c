/*
 * expr.c — user-supplied jq expressions over libjq (see expr.h).
 */
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "expr.h"
#include "banned.h"

struct mas_expr {
	jq_state *jq;
	char *text;
	jv messages; /* compile errors, collected by collect_error */
};

static void collect_error(void *data, jv message)
{
	struct mas_expr *expr = data;

	if (jv_get_kind(message) != JV_KIND_STRING)
		message = jv_dump_string(message, 0);
	expr->messages = jv_array_append(expr->messages, message);
}

/* jq's compile errors as one line: "syntax error, ... at <top-level>,
 * line 1" — the "jq: error: " prefix and the count line dropped. */
static char *join_messages(jv messages)
{
	jv joined = jv_string("");
	int count = jv_array_length(jv_copy(messages));
	char *result;

	for (int i = 0; i < count; i++) {
		jv message = jv_array_get(jv_copy(messages), i);
		const char *text = jv_string_value(message);
		const char *colon;

		if (strncmp(text, "jq: error: ", 11) == 0)
			text += 11;
		colon = strchr(text, '\n');
		if (jv_string_length_bytes(jv_copy(joined)) > 0)
			joined = jv_string_append_str(joined, "; ");
		if (colon)
			joined = jv_string_append_buf(joined, text,
			                              (int)(colon - text));
		else
			joined = jv_string_append_str(joined, text);
		jv_free(message);
	}
	jv_free(messages);
	if (count == 0)
		joined = jv_string_append_str(joined, "does not compile");
	result = strdup(jv_string_value(joined));
	jv_free(joined);
	return result;
}

struct mas_expr *mas_expr_compile(const char *text, char **error)
{
	struct mas_expr *expr = calloc(1, sizeof(*expr));

	*error = NULL;
	if (!expr)
		goto nomem;
	expr->jq = jq_init();
	expr->text = strdup(text);
	if (!expr->jq || !expr->text)
		goto nomem;
	expr->messages = jv_array();
	jq_set_error_cb(expr->jq, collect_error, expr);
	if (!jq_compile(expr->jq, text)) {
		*error = join_messages(expr->messages);
		expr->messages = jv_array();
		mas_expr_free(expr);
		return NULL;
	}
	jv_free(expr->messages);
	expr->messages = jv_array();
	return expr;
nomem:
	mas_expr_free(expr);
	*error = strdup("out of memory");
	return NULL;
}

const char *mas_expr_text(const struct mas_expr *expr)
{
	return expr->text;
}

/* A runtime error's message as a string jv. */
static jv error_text(jv result)
{
	jv message = jv_invalid_get_msg(result);

	if (jv_get_kind(message) == JV_KIND_STRING)
		return message;
	if (jv_get_kind(message) == JV_KIND_NULL) {
		jv_free(message);
		return jv_string("error(null)");
	}
	return jv_dump_string(message, 0);
}

jv mas_expr_first(struct mas_expr *expr, jv input)
{
	jv result;

	jq_start(expr->jq, input, 0);
	result = jq_next(expr->jq);
	if (!jv_is_valid(result) && jv_invalid_has_msg(jv_copy(result)))
		return jv_invalid_with_msg(error_text(result));
	return result;
}

int mas_expr_test(struct mas_expr *expr, jv input, jv *error)
{
	jv result = mas_expr_first(expr, input);
	jv_kind kind;

	if (!jv_is_valid(result)) {
		if (jv_invalid_has_msg(jv_copy(result))) {
			*error = jv_invalid_get_msg(result);
			return -1;
		}
		jv_free(result);
		return 0;
	}
	kind = jv_get_kind(result);
	jv_free(result);
	return kind != JV_KIND_FALSE && kind != JV_KIND_NULL;
}

void mas_expr_free(struct mas_expr *expr)
{
	if (!expr)
		return;
	if (expr->jq)
		jq_teardown(&expr->jq);
	jv_free(expr->messages);
	free(expr->text);
	free(expr);
}
