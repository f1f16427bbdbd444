/*
 * log.c — diagnostics on stderr (see log.h).
 *
 * Each message is formatted into one buffer and written with one fwrite on
 * an unbuffered stderr, so lines from several processes of a pipeline that
 * share a terminal or a log file do not interleave mid-line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jv.h>

#include "log.h"
#include "clock.h"
#include "banned.h"

static const char *log_program = "mas";
static enum mas_log_level log_level = MAS_LOG_WARN;
static enum mas_log_format log_format = MAS_LOG_TEXT;
static int log_color = -1; /* -1: not decided yet */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const level_words[] = {
	"error", "warning", "info", "debug"
};
static const char *const level_colors[] = {
	"\033[1;31m", "\033[1;33m", "\033[1;36m", "\033[2m"
};

void mas_log_init(const char *program)
{
	const char *slash = strrchr(program, '/');

	log_program = slash ? slash + 1 : program;
}

void mas_log_set_level(enum mas_log_level level) { log_level = level; }
void mas_log_set_format(enum mas_log_format format) { log_format = format; }
enum mas_log_level mas_log_get_level(void) { return log_level; }
const char *mas_log_program(void) { return log_program; }

int mas_log_level_parse(const char *name)
{
	for (int i = 0; i <= MAS_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "warning") == 0)
		return MAS_LOG_WARN;
	return -1;
}

int mas_log_format_parse(const char *name)
{
	if (strcmp(name, "text") == 0)
		return MAS_LOG_TEXT;
	if (strcmp(name, "json") == 0)
		return MAS_LOG_JSON;
	return -1;
}

static int use_color(void)
{
	if (log_color < 0) {
		const char *term = getenv("TERM");
		const char *no_color = getenv("NO_COLOR");
		log_color = isatty(STDERR_FILENO) &&
		            !(no_color && *no_color) &&
		            !(term && strcmp(term, "dumb") == 0);
	}
	return log_color;
}

static void emit_json(enum mas_log_level level, const char *message)
{
	char ts[MAS_CLOCK_ISO_SIZE];
	jv line;

	mas_clock_now_iso(ts);
	line = JV_OBJECT(jv_string("ts"), jv_string(ts),
	                 jv_string("level"), jv_string(level_names[level]),
	                 jv_string("program"), jv_string(log_program),
	                 jv_string("message"), jv_string(message));
	line = jv_dump_string(line, 0);
	fprintf(stderr, "%s\n", jv_string_value(line));
	jv_free(line);
}

static void emit_text(enum mas_log_level level, const char *message)
{
	char line[4400];
	int n;

	if (level == MAS_LOG_INFO)
		n = snprintf(line, sizeof(line), "%s: %s\n", log_program,
		             message);
	else if (use_color())
		n = snprintf(line, sizeof(line), "%s: %s%s\033[0m: %s\n",
		             log_program, level_colors[level],
		             level_words[level], message);
	else
		n = snprintf(line, sizeof(line), "%s: %s: %s\n", log_program,
		             level_words[level], message);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	fwrite(line, 1, (size_t)n, stderr);
}

void mas_log_v(enum mas_log_level level, const char *format, va_list ap)
{
	char message[4096];

	if (level > log_level)
		return;
	vsnprintf(message, sizeof(message), format, ap);
	if (log_format == MAS_LOG_JSON)
		emit_json(level, message);
	else
		emit_text(level, message);
}

void mas_log(enum mas_log_level level, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	mas_log_v(level, format, ap);
	va_end(ap);
}

void mas_die(int status, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	mas_log_v(MAS_LOG_ERROR, format, ap);
	va_end(ap);
	exit(status);
}
