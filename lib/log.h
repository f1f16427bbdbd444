/*
 * log.h — diagnostics on stderr, never stdout.
 *
 * One line per message, starting with the program name:
 *
 *	mas-analyze: warning: examples/data/x.csv:7: not a number
 *
 * or, with MAS_LOG_FORMAT=json, one JSON object per line:
 *
 *	{"ts":"2026-11-24T22:55:32.123Z","level":"warn","program":
 *	 "mas-analyze","message":"..."}
 *
 * The level word is coloured when stderr is a terminal, NO_COLOR is unset
 * and TERM is not "dumb".  Messages are lowercase, name the file and line
 * or the field, and say what failed first (git's habit).
 */
#ifndef MAS_LOG_H
#define MAS_LOG_H

#include <stdarg.h>

enum mas_log_level {
	MAS_LOG_ERROR,
	MAS_LOG_WARN,
	MAS_LOG_INFO,
	MAS_LOG_DEBUG,
};

enum mas_log_format {
	MAS_LOG_TEXT,
	MAS_LOG_JSON,
};

/*
 * Set the program name used as prefix (borrowed: must outlive logging).
 * Called first by every program; level WARN and TEXT until told otherwise.
 */
void mas_log_init(const char *program);

void mas_log_set_level(enum mas_log_level level);
void mas_log_set_format(enum mas_log_format format);
enum mas_log_level mas_log_get_level(void);
const char *mas_log_program(void);

/* Parse "error", "warn", "info", "debug"; -1 if NAME is none of them. */
int mas_log_level_parse(const char *name);
/* Parse "text", "json"; -1 otherwise. */
int mas_log_format_parse(const char *name);

void mas_log(enum mas_log_level level, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
void mas_log_v(enum mas_log_level level, const char *format, va_list ap);

#define mas_error_log(...) mas_log(MAS_LOG_ERROR, __VA_ARGS__)
#define mas_warn(...) mas_log(MAS_LOG_WARN, __VA_ARGS__)
#define mas_info(...) mas_log(MAS_LOG_INFO, __VA_ARGS__)
#define mas_debug(...) mas_log(MAS_LOG_DEBUG, __VA_ARGS__)

/*
 * Print an error and exit with STATUS (a mas_exit value).  For usage and
 * configuration errors found before any record is read.
 */
void mas_die(int status, const char *format, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#endif
