/*
 * mas.h — what every part of libmas shares: exit statuses, error codes and
 * the ownership rule for jv values.
 *
 * Ownership (jq's rule, followed everywhere in mas): a function that takes
 * a jv consumes it — the caller must not use it afterwards.  To keep a
 * value, pass jv_copy(v).  A function that returns a jv hands ownership to
 * the caller.  Accessors that only look — jv_get_kind, jv_string_value,
 * jv_number_value, jv_is_valid — borrow; jv_string_length_bytes,
 * jv_array_length and jv_object_get consume like everything else.  A mas
 * function that only borrows a jv says "borrows" in its comment.
 *
 * Errors inside a record travel as jv_invalid_with_msg(error_object), where
 * error_object is built by mas_error(); the record loop moves it into the
 * record's "error" field.
 */
#ifndef MAS_H
#define MAS_H

#include <jv.h>

#ifndef MAS_VERSION
#define MAS_VERSION "0.0.0"
#endif

/*
 * Exit statuses, documented in mas(7).  Only ever appended to.
 */
enum mas_exit {
	MAS_EXIT_OK = 0,         /* every record succeeded */
	MAS_EXIT_RECORDS = 1,    /* some records carry errors */
	MAS_EXIT_USAGE = 2,      /* bad option, configuration or input file */
	MAS_EXIT_WAITING = 3,    /* a flow is waiting for a person */
	MAS_EXIT_IO = 74,        /* writing the output failed (EX_IOERR) */
	MAS_EXIT_TEMPFAIL = 75,  /* only transient failures (EX_TEMPFAIL) */
};

/*
 * Error codes carried in a record's "error".code, as in the original API.
 * Only ever appended to; mas_error_code_name() gives the wire name.
 */
enum mas_error_code {
	MAS_ERR_INVALID_REQUEST,
	MAS_ERR_UNAUTHORIZED,
	MAS_ERR_FORBIDDEN,
	MAS_ERR_NOT_FOUND,
	MAS_ERR_RATE_LIMITED,
	MAS_ERR_TIMEOUT,
	MAS_ERR_UPSTREAM_ERROR,
	MAS_ERR_INTERNAL,
};

/* The wire name of a code, e.g. "INVALID_REQUEST". */
const char *mas_error_code_name(enum mas_error_code code);

/*
 * Whether a code names a failure that may pass if tried again later
 * (RATE_LIMITED, TIMEOUT, UPSTREAM_ERROR).  A run whose failures are all
 * transient exits with MAS_EXIT_TEMPFAIL so cron knows to retry.  An
 * error object's own boolean "transient" field, when present, overrides
 * the code (a malformed reply is UPSTREAM_ERROR, yet permanent).
 */
int mas_error_code_is_transient(const char *name);

/*
 * A new error object {"code": NAME, "message": MESSAGE} with the message
 * formatted printf-style.  Callers add fields ("field", "line") with
 * jv_object_set.
 */
jv mas_error(enum mas_error_code code, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* jv_invalid_with_msg(mas_error(...)): the way a step reports failure. */
jv mas_fail(enum mas_error_code code, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Set *ERROR to a malloc'd message formatted printf-style (NULL when
 * memory is short) and return -1: how a function that is not about a
 * record reports what went wrong, e.g. `return mas_error_set(error,
 * "%s: %s", path, strerror(errno));`.  The caller frees the message.
 */
int mas_error_set(char **error, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

#endif
