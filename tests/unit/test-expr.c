/*
 * test-expr.c — lib/expr.c against expr.h: jq programs compiled once and
 * run on many records, their first output, no output, runtime errors and
 * conditions.
 */
#include <stdlib.h>

#include "expr.h"
#include "unit.h"

static struct mas_expr *compile(const char *text)
{
	char *error = NULL;
	struct mas_expr *expr = mas_expr_compile(text, &error);

	if (!expr)
		UNIT_FAIL("\"%s\" does not compile: %s", text,
		          error ? error : "(null)");
	CHECK(error == NULL);
	free(error);
	return expr;
}

static jv parse(const char *json)
{
	return jv_parse(json);
}

/* Whether A and B (both consumed) are equal. */
static int same(jv a, jv b)
{
	return jv_equal(a, b);
}

static void test_compile_and_text(void)
{
	struct mas_expr *expr = compile(".message // .query");

	CHECK(expr != NULL);
	if (expr)
		CHECK_STR(mas_expr_text(expr), ".message // .query");
	mas_expr_free(expr);
}

static void check_compile_error(const char *text, const char *part)
{
	char *error = NULL;
	struct mas_expr *expr = mas_expr_compile(text, &error);

	CHECK(expr == NULL);
	CHECK(error != NULL);
	if (error) {
		CHECK(strlen(error) > 0);
		CHECK(strncmp(error, "jq: error", 9) != 0);
		CHECK(strchr(error, '\n') == NULL);
		if (part && !strstr(error, part))
			UNIT_FAIL("\"%s\": error \"%s\" lacks \"%s\"", text,
			          error, part);
	}
	free(error);
	mas_expr_free(expr);
}

static void test_compile_errors(void)
{
	check_compile_error(".a |", NULL);
	check_compile_error("{", NULL);
	check_compile_error(".[", NULL);
	check_compile_error("no_such_function", "no_such_function/0");
	check_compile_error("$undefined", "undefined");
	check_compile_error(")", NULL);
}

static void test_first_output(void)
{
	struct mas_expr *expr = compile(".a");

	if (!expr)
		return;
	CHECK(same(mas_expr_first(expr, parse("{\"a\":1}")),
	           jv_number(1)));
	CHECK(same(mas_expr_first(expr, parse("{\"a\":{\"b\":[1,2]}}")),
	           parse("{\"b\":[1,2]}")));
	CHECK(same(mas_expr_first(expr, parse("{}")), jv_null()));
	mas_expr_free(expr);
}

static void test_identity_keeps_record(void)
{
	struct mas_expr *expr = compile(".");
	const char *record = "{\"id\":\"x\",\"message\":\"\xe4\xbd\xa0\","
	                     "\"n\":[1,2.5,null,true]}";

	if (!expr)
		return;
	CHECK(same(mas_expr_first(expr, parse(record)), parse(record)));
	mas_expr_free(expr);
}

static void test_only_first_of_many(void)
{
	struct mas_expr *expr = compile(".[]");

	if (!expr)
		return;
	CHECK(same(mas_expr_first(expr, parse("[3,2,1]")), jv_number(3)));
	/* The unread outputs do not leak into the next run. */
	CHECK(same(mas_expr_first(expr, parse("[\"x\",\"y\"]")),
	           jv_string("x")));
	mas_expr_free(expr);
}

static void check_no_output(const char *text, const char *input)
{
	struct mas_expr *expr = compile(text);
	jv result;

	if (!expr)
		return;
	result = mas_expr_first(expr, parse(input));
	CHECK(!jv_is_valid(result));
	CHECK(!jv_invalid_has_msg(jv_copy(result)));
	jv_free(result);
	mas_expr_free(expr);
}

static void test_no_output(void)
{
	check_no_output("empty", "{}");
	check_no_output(".[]", "[]");
	check_no_output("select(.a > 1)", "{\"a\":1}");
	check_no_output(".a?", "[1]");
}

/* Runs TEXT on INPUT, which must raise an error whose message is a
 * string holding PART. */
static void check_runtime_error(const char *text, const char *input,
                                const char *part)
{
	struct mas_expr *expr = compile(text);
	jv result, message;

	if (!expr)
		return;
	result = mas_expr_first(expr, parse(input));
	CHECK(!jv_is_valid(result));
	CHECK(jv_invalid_has_msg(jv_copy(result)));
	message = jv_invalid_get_msg(result);
	CHECK_INT(jv_get_kind(message), JV_KIND_STRING);
	if (jv_get_kind(message) == JV_KIND_STRING &&
	    !strstr(jv_string_value(message), part))
		UNIT_FAIL("%s: message \"%s\" lacks \"%s\"", text,
		          jv_string_value(message), part);
	jv_free(message);
	mas_expr_free(expr);
}

static void test_runtime_errors(void)
{
	check_runtime_error("error(\"boom\")", "null", "boom");
	check_runtime_error(".a.b", "{\"a\":5}", "Cannot index number");
	check_runtime_error(".a + 1", "{\"a\":\"x\"}", "cannot be added");
	check_runtime_error("tonumber", "\"abc\"", "abc");
	/* An error that is not a string still comes back as one. */
	check_runtime_error("error({\"code\":\"X\"})", "null", "\"code\"");
}

static void test_error_after_first_output(void)
{
	struct mas_expr *expr = compile("1, error(\"late\")");

	if (!expr)
		return;
	CHECK(same(mas_expr_first(expr, jv_null()), jv_number(1)));
	mas_expr_free(expr);
}

static void test_reuse_after_error(void)
{
	struct mas_expr *expr = compile(".a.b");

	if (!expr)
		return;
	for (int i = 0; i < 1000; i++) {
		jv bad = mas_expr_first(expr, parse("{\"a\":1}"));
		jv good = mas_expr_first(expr, parse("{\"a\":{\"b\":2}}"));
		CHECK(!jv_is_valid(bad));
		CHECK(same(good, jv_number(2)));
		jv_free(bad);
	}
	mas_expr_free(expr);
}

static void test_two_expressions_at_once(void)
{
	struct mas_expr *a = compile(".x * 2");
	struct mas_expr *b = compile(".x + 1");

	if (!a || !b) {
		mas_expr_free(a);
		mas_expr_free(b);
		return;
	}
	CHECK(same(mas_expr_first(a, parse("{\"x\":5}")), jv_number(10)));
	CHECK(same(mas_expr_first(b, parse("{\"x\":5}")), jv_number(6)));
	CHECK_STR(mas_expr_text(a), ".x * 2");
	CHECK_STR(mas_expr_text(b), ".x + 1");
	mas_expr_free(a);
	mas_expr_free(b);
}

/* TEXT as a condition on INPUT. */
static int test_on(const char *text, const char *input)
{
	struct mas_expr *expr = compile(text);
	jv error = jv_null();
	int result;

	if (!expr)
		return -2;
	result = mas_expr_test(expr, parse(input), &error);
	CHECK_INT(jv_get_kind(error), JV_KIND_NULL);
	jv_free(error);
	mas_expr_free(expr);
	return result;
}

static void test_conditions(void)
{
	CHECK_INT(test_on("true", "null"), 1);
	CHECK_INT(test_on("false", "null"), 0);
	CHECK_INT(test_on("null", "null"), 0);
	CHECK_INT(test_on("empty", "null"), 0);
	/* jq's truth: only false and null are false. */
	CHECK_INT(test_on("0", "null"), 1);
	CHECK_INT(test_on("\"\"", "null"), 1);
	CHECK_INT(test_on("[]", "null"), 1);
	CHECK_INT(test_on("{}", "null"), 1);
	CHECK_INT(test_on(".score >= 0.5", "{\"score\":0.7}"), 1);
	CHECK_INT(test_on(".score >= 0.5", "{\"score\":0.2}"), 0);
	CHECK_INT(test_on(".missing", "{}"), 0);
	/* Only the first output counts. */
	CHECK_INT(test_on("false, true", "null"), 0);
	CHECK_INT(test_on("true, false", "null"), 1);
}

static void test_condition_error(void)
{
	struct mas_expr *expr = compile(".a.b == 1");
	jv error = jv_null();

	if (!expr)
		return;
	CHECK_INT(mas_expr_test(expr, parse("{\"a\":\"s\"}"), &error), -1);
	CHECK_INT(jv_get_kind(error), JV_KIND_STRING);
	if (jv_get_kind(error) == JV_KIND_STRING)
		CHECK(strstr(jv_string_value(error), "Cannot index") != NULL);
	jv_free(error);
	/* And it still works afterwards. */
	error = jv_null();
	CHECK_INT(mas_expr_test(expr, parse("{\"a\":{\"b\":1}}"), &error), 1);
	jv_free(error);
	mas_expr_free(expr);
}

static void test_free_null(void)
{
	mas_expr_free(NULL);
}

/* Compiled as one program, each behaves as if alone, in any order, and
 * they are freed one by one. */
static void test_compile_many(void)
{
	const char *texts[] = {
		".a + 1", "def twice: . * 2; .a | twice # a comment",
		"reduce .b[] as $x (0; . + $x)", "empty", "error(\"no\")",
		".a > 1",
	};
	struct mas_expr *e[6];
	jv error;

	CHECK_INT(mas_expr_compile_many(texts, 6, e), 0);
	CHECK(same(mas_expr_first(e[2], parse("{\"b\":[1,2,3]}")),
	           jv_number(6)));
	CHECK(same(mas_expr_first(e[0], parse("{\"a\":1}")), jv_number(2)));
	CHECK(same(mas_expr_first(e[1], parse("{\"a\":5}")), jv_number(10)));
	CHECK_STR(mas_expr_text(e[1]),
	          "def twice: . * 2; .a | twice # a comment");
	jv result = mas_expr_first(e[3], parse("{}"));
	CHECK(!jv_is_valid(result) && !jv_invalid_has_msg(jv_copy(result)));
	jv_free(result);
	result = mas_expr_first(e[4], parse("{}"));
	CHECK(!jv_is_valid(result));
	error = jv_invalid_get_msg(result);
	CHECK_STR(jv_string_value(error), "no");
	jv_free(error);
	CHECK_INT(mas_expr_test(e[5], parse("{\"a\":2}"), &error), 1);
	CHECK_INT(mas_expr_test(e[5], parse("{\"a\":0}"), &error), 0);
	for (int i = 5; i >= 0; i--)
		mas_expr_free(e[i]);
}

static void test_compile_many_refuses_a_bad_one(void)
{
	const char *texts[] = { ".a", ".b |", "import \"x\" as x; ." };
	struct mas_expr *e[3] = { NULL, NULL, NULL };

	CHECK_INT(mas_expr_compile_many(texts, 2, e), -1);
	CHECK(e[0] == NULL && e[1] == NULL);
	CHECK_INT(mas_expr_compile_many(texts + 2, 1, e), -1);
	CHECK_INT(mas_expr_compile_many(texts, 0, e), 0);
}

int main(void)
{
	UNIT_RUN(test_compile_and_text);
	UNIT_RUN(test_compile_errors);
	UNIT_RUN(test_first_output);
	UNIT_RUN(test_identity_keeps_record);
	UNIT_RUN(test_only_first_of_many);
	UNIT_RUN(test_no_output);
	UNIT_RUN(test_runtime_errors);
	UNIT_RUN(test_error_after_first_output);
	UNIT_RUN(test_reuse_after_error);
	UNIT_RUN(test_two_expressions_at_once);
	UNIT_RUN(test_conditions);
	UNIT_RUN(test_condition_error);
	UNIT_RUN(test_free_null);
	UNIT_RUN(test_compile_many);
	UNIT_RUN(test_compile_many_refuses_a_bad_one);
	return unit_done();
}
