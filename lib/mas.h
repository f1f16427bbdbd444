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
 * The exit statuses (enum mas_exit), the error codes (enum
 * mas_error_code) and their names come from the public header, libmas's
 * interface for embedders: one definition for the programs and for them.
 */
#include <mas/mas.h>

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
