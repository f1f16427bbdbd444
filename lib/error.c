/*
 * error.c — error codes and error objects (see mas.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mas.h"
#include "banned.h"

static const char *const code_names[] = {
	[MAS_ERR_INVALID_REQUEST] = "INVALID_REQUEST",
	[MAS_ERR_UNAUTHORIZED] = "UNAUTHORIZED",
	[MAS_ERR_FORBIDDEN] = "FORBIDDEN",
	[MAS_ERR_NOT_FOUND] = "NOT_FOUND",
	[MAS_ERR_RATE_LIMITED] = "RATE_LIMITED",
	[MAS_ERR_TIMEOUT] = "TIMEOUT",
	[MAS_ERR_UPSTREAM_ERROR] = "UPSTREAM_ERROR",
	[MAS_ERR_INTERNAL] = "INTERNAL",
};

const char *mas_error_code_name(enum mas_error_code code)
{
	if ((size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
		return "INTERNAL";
	return code_names[code];
}

int mas_error_code_is_transient(const char *name)
{
	return strcmp(name, "RATE_LIMITED") == 0 ||
	       strcmp(name, "TIMEOUT") == 0 ||
	       strcmp(name, "UPSTREAM_ERROR") == 0;
}

const char *mas_version(void)
{
	return MAS_VERSION;
}

int mas_record_status(jv record)
{
	jv error, code, transient;
	int later;

	if (jv_get_kind(record) != JV_KIND_OBJECT)
		return MAS_EXIT_RECORDS;
	error = jv_object_get(jv_copy(record), jv_string("error"));
	if (jv_get_kind(error) != JV_KIND_OBJECT) {
		jv_free(error);
		return MAS_EXIT_OK;
	}
	code = jv_object_get(jv_copy(error), jv_string("code"));
	transient = jv_object_get(error, jv_string("transient"));
	/* The one who failed knows best; else the code decides. */
	if (jv_get_kind(transient) == JV_KIND_TRUE ||
	    jv_get_kind(transient) == JV_KIND_FALSE)
		later = jv_get_kind(transient) == JV_KIND_TRUE;
	else
		later = jv_get_kind(code) == JV_KIND_STRING &&
		        mas_error_code_is_transient(jv_string_value(code));
	jv_free(code);
	jv_free(transient);
	return later ? MAS_EXIT_TEMPFAIL : MAS_EXIT_RECORDS;
}

static jv error_v(enum mas_error_code code, const char *format, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), format, ap);
	return JV_OBJECT(jv_string("code"),
	                 jv_string(mas_error_code_name(code)),
	                 jv_string("message"), jv_string(buf));
}

jv mas_error(enum mas_error_code code, const char *format, ...)
{
	va_list ap;
	jv error;

	va_start(ap, format);
	error = error_v(code, format, ap);
	va_end(ap);
	return error;
}

jv mas_fail(enum mas_error_code code, const char *format, ...)
{
	va_list ap;
	jv error;

	va_start(ap, format);
	error = error_v(code, format, ap);
	va_end(ap);
	return jv_invalid_with_msg(error);
}

int mas_error_set(char **error, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	if (vasprintf(error, format, ap) < 0)
		*error = NULL;
	va_end(ap);
	return -1;
}
