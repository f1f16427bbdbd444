/*
 * expr.h — user-supplied jq expressions (--input, flow conditions, ...).
 *
 * Every expression a user gives mas is a jq program, compiled once with
 * libjq and run on many records.  A compiled expression is not safe to
 * run from two threads at once; compile one per thread.
 */
#ifndef MAS_EXPR_H
#define MAS_EXPR_H

#include <jv.h>

struct mas_expr;

/*
 * Compile TEXT.  On failure returns NULL and sets *ERROR to a malloc'd
 * message holding jq's own words (caller frees); the caller quotes TEXT.
 */
struct mas_expr *mas_expr_compile(const char *text, char **error);

/*
 * Compile the COUNT programs TEXTS as one jq program and set EXPRS[i] to
 * each, as mas_expr_compile would.  libjq builds its library of builtins
 * anew for every program it compiles, most of the cost of a small one:
 * a flow of many jq nodes and conditions pays it once this way, not
 * once an expression.  The expressions share one jq_state (so one
 * thread), and each is freed with mas_expr_free as usual.  Returns 0,
 * or -1 when the whole does not compile (a text that is not a program,
 * or one only valid at the top, with an import): nothing is set then;
 * compile each alone to find which, and why.
 */
int mas_expr_compile_many(const char *const *texts, size_t count,
                          struct mas_expr **exprs);

/* The source text the expression was compiled from (borrowed). */
const char *mas_expr_text(const struct mas_expr *expr);

/*
 * Run EXPR on INPUT (consumed) and return its first output.  When the
 * program produces no output, returns jv_invalid() without a message;
 * when it raises an error, jv_invalid_with_msg(message) where the message
 * is a string.
 */
jv mas_expr_first(struct mas_expr *expr, jv input);

/*
 * Run EXPR on INPUT (consumed) as a condition: 1 if its first output is
 * neither false nor null, 0 if it is, or it has no output; -1 on a jq
 * error, with *ERROR set to the message (caller frees the jv).
 */
int mas_expr_test(struct mas_expr *expr, jv input, jv *error);

/* Free EXPR; NULL is fine. */
void mas_expr_free(struct mas_expr *expr);

#endif
