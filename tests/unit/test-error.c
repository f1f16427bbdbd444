/*
 * test-error.c — lib/error.c against mas.h: exit statuses, code names,
 * transient codes and the error objects steps fail with.
 */
#include <stdlib.h>

#include "mas.h"
#include "unit.h"

/* The value of KEY in OBJECT (borrowed) as a string, into BUF. */
static const char *field(jv object, const char *key, char *buf,
                         size_t size)
{
	jv value = jv_object_get(jv_copy(object), jv_string(key));

	if (jv_get_kind(value) == JV_KIND_STRING)
		snprintf(buf, size, "%s", jv_string_value(value));
	else
		snprintf(buf, size, "(not a string)");
	jv_free(value);
	return buf;
}

static void test_exit_statuses(void)
{
	CHECK_INT(MAS_EXIT_OK, 0);
	CHECK_INT(MAS_EXIT_RECORDS, 1);
	CHECK_INT(MAS_EXIT_USAGE, 2);
	CHECK_INT(MAS_EXIT_WAITING, 3);
	CHECK_INT(MAS_EXIT_IO, 74);
	CHECK_INT(MAS_EXIT_TEMPFAIL, 75);
}

static void test_code_names(void)
{
	CHECK_STR(mas_error_code_name(MAS_ERR_INVALID_REQUEST),
	          "INVALID_REQUEST");
	CHECK_STR(mas_error_code_name(MAS_ERR_UNAUTHORIZED), "UNAUTHORIZED");
	CHECK_STR(mas_error_code_name(MAS_ERR_FORBIDDEN), "FORBIDDEN");
	CHECK_STR(mas_error_code_name(MAS_ERR_NOT_FOUND), "NOT_FOUND");
	CHECK_STR(mas_error_code_name(MAS_ERR_RATE_LIMITED), "RATE_LIMITED");
	CHECK_STR(mas_error_code_name(MAS_ERR_TIMEOUT), "TIMEOUT");
	CHECK_STR(mas_error_code_name(MAS_ERR_UPSTREAM_ERROR),
	          "UPSTREAM_ERROR");
	CHECK_STR(mas_error_code_name(MAS_ERR_INTERNAL), "INTERNAL");
}

static void test_transient_codes(void)
{
	CHECK_INT(mas_error_code_is_transient("RATE_LIMITED"), 1);
	CHECK_INT(mas_error_code_is_transient("TIMEOUT"), 1);
	CHECK_INT(mas_error_code_is_transient("UPSTREAM_ERROR"), 1);
}

static void test_permanent_codes(void)
{
	CHECK_INT(mas_error_code_is_transient("INVALID_REQUEST"), 0);
	CHECK_INT(mas_error_code_is_transient("UNAUTHORIZED"), 0);
	CHECK_INT(mas_error_code_is_transient("FORBIDDEN"), 0);
	CHECK_INT(mas_error_code_is_transient("NOT_FOUND"), 0);
	CHECK_INT(mas_error_code_is_transient("INTERNAL"), 0);
	CHECK_INT(mas_error_code_is_transient(""), 0);
	CHECK_INT(mas_error_code_is_transient("timeout"), 0);
	CHECK_INT(mas_error_code_is_transient("TIMEOUTS"), 0);
}

static void test_error_object(void)
{
	jv error = mas_error(MAS_ERR_NOT_FOUND, "%s: no row %d", "data.csv",
	                     7);
	char buf[128];

	CHECK_INT(jv_get_kind(error), JV_KIND_OBJECT);
	CHECK_INT(jv_object_length(jv_copy(error)), 2);
	CHECK_STR(field(error, "code", buf, sizeof(buf)), "NOT_FOUND");
	CHECK_STR(field(error, "message", buf, sizeof(buf)),
	          "data.csv: no row 7");
	jv_free(error);
}

static void test_error_object_takes_fields(void)
{
	jv error = mas_error(MAS_ERR_INVALID_REQUEST, "expected a string");
	char buf[128];

	error = jv_object_set(error, jv_string("field"), jv_string("query"));
	CHECK_INT(jv_object_length(jv_copy(error)), 3);
	CHECK_STR(field(error, "field", buf, sizeof(buf)), "query");
	CHECK_STR(field(error, "code", buf, sizeof(buf)), "INVALID_REQUEST");
	jv_free(error);
}

static void test_error_percent_is_literal(void)
{
	jv error = mas_error(MAS_ERR_INTERNAL, "%s", "100% %d %s");
	char buf[128];

	CHECK_STR(field(error, "message", buf, sizeof(buf)), "100% %d %s");
	jv_free(error);
}

static void test_error_long_message(void)
{
	char *text = malloc(5001);
	jv error, message;

	memset(text, 'x', 5000);
	text[5000] = '\0';
	error = mas_error(MAS_ERR_UPSTREAM_ERROR, "%s", text);
	message = jv_object_get(error, jv_string("message"));
	CHECK_INT(jv_get_kind(message), JV_KIND_STRING);
	if (jv_get_kind(message) == JV_KIND_STRING) {
		const char *got = jv_string_value(message);
		CHECK(strlen(got) > 0);
		CHECK(strncmp(got, text, strlen(got)) == 0);
	}
	jv_free(message);
	free(text);
}

static void test_fail_is_invalid_with_object(void)
{
	jv failed = mas_fail(MAS_ERR_TIMEOUT, "no answer in %ds", 30);
	jv error;
	char buf[128];

	CHECK(!jv_is_valid(failed));
	CHECK(jv_invalid_has_msg(jv_copy(failed)));
	error = jv_invalid_get_msg(failed);
	CHECK_INT(jv_get_kind(error), JV_KIND_OBJECT);
	CHECK_STR(field(error, "code", buf, sizeof(buf)), "TIMEOUT");
	CHECK_STR(field(error, "message", buf, sizeof(buf)),
	          "no answer in 30s");
	jv_free(error);
}

int main(void)
{
	UNIT_RUN(test_exit_statuses);
	UNIT_RUN(test_code_names);
	UNIT_RUN(test_transient_codes);
	UNIT_RUN(test_permanent_codes);
	UNIT_RUN(test_error_object);
	UNIT_RUN(test_error_object_takes_fields);
	UNIT_RUN(test_error_percent_is_literal);
	UNIT_RUN(test_error_long_message);
	UNIT_RUN(test_fail_is_invalid_with_object);
	return unit_done();
}
