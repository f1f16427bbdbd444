/*
 * expr.c — user-supplied jq expressions over libjq (see expr.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "expr.h"
#include "log.h"
#include "mas.h"
#include "banned.h"

/* A jq_state that expressions compiled together share. */
struct shared {
	jq_state *jq;
	size_t refs;
};

struct mas_expr {
	jq_state *jq;
	char *text;
	jv messages; /* compile errors, collected by collect_error */
	struct shared *shared; /* compiled with others, or NULL */
	size_t index;          /* which of them */
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

	/* one of many: the program picks it by the number before INPUT */
	if (expr->shared)
		input = JV_ARRAY(jv_number((double)expr->index), input);
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
	if (expr->shared) {
		if (--expr->shared->refs == 0) {
			jq_teardown(&expr->shared->jq);
			free(expr->shared);
		}
		expr->jq = NULL;
	}
	if (expr->jq)
		jq_teardown(&expr->jq);
	jv_free(expr->messages);
	free(expr->text);
	free(expr);
}

/* One program for TEXTS: each a function, and a dispatch on the number
 * the input pairs the state with.  NULL when memory is short. */
static char *program_of(const char *const *texts, size_t count)
{
	char *program = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&program, &size);

	if (!out)
		return NULL;
	for (size_t i = 0; i < count; i++)
		fprintf(out, "def __mas_expr_%zu: %s\n;\n", i, texts[i]);
	fputs(".[0] as $__mas_i | .[1] | ", out);
	for (size_t i = 0; i < count; i++)
		fprintf(out, "%sif $__mas_i == %zu then __mas_expr_%zu ",
		        i ? "el" : "", i, i);
	fputs("else empty end\n", out);
	if (fclose(out) != 0) {
		free(program);
		return NULL;
	}
	return program;
}

int mas_expr_compile_many(const char *const *texts, size_t count,
                          struct mas_expr **exprs)
{
	char *program, *error = NULL;
	struct mas_expr *whole;
	struct shared *shared;

	if (count == 0)
		return 0;
	program = program_of(texts, count);
	whole = program ? mas_expr_compile(program, &error) : NULL;
	free(program);
	free(error);
	shared = whole ? calloc(1, sizeof(*shared)) : NULL;
	if (!shared) {
		mas_expr_free(whole);
		return -1;
	}
	shared->jq = whole->jq;
	whole->jq = NULL;
	mas_expr_free(whole);
	for (size_t i = 0; i < count; i++) {
		exprs[i] = calloc(1, sizeof(*exprs[i]));
		if (!exprs[i] || !(exprs[i]->text = strdup(texts[i])))
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		exprs[i]->jq = shared->jq;
		exprs[i]->messages = jv_array();
		exprs[i]->shared = shared;
		exprs[i]->index = i;
		shared->refs++;
	}
	return 0;
}
