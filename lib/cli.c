/*
 * cli.c — the shared command line (see cli.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "trace.h"
#include "banned.h"

/*
 * --version prints the program's own name ("mas-chat 0.2.0"), as GNU
 * tools do: argp's state->name is argv[0], which mas_cli_parse sets to
 * the program's name however it was started.
 */
static void print_version(FILE *stream, struct argp_state *state)
{
	fprintf(stream, "%s %s\n", state->name, MAS_VERSION);
}

enum {
	OPT_CONFIG = 0x100,
	OPT_LOG_LEVEL,
	OPT_INPUT,
	OPT_OUTPUT_KEY,
	OPT_TRACE,
	OPT_METRICS_FILE,
};

static const struct argp_option options[] = {
	{ "config", OPT_CONFIG, "FILE", 0,
	  "Read settings from FILE instead of $XDG_CONFIG_HOME/mas/config",
	  0 },
	{ "log-level", OPT_LOG_LEVEL, "LEVEL", 0,
	  "Log error, warn (default), info or debug messages to stderr", 0 },
	{ "quiet", 'q', NULL, 0, "Log errors only", 0 },
	{ "verbose", 'v', NULL, 0, "Log more (repeat for debug)", 0 },
	{ "input", OPT_INPUT, "EXPR", 0,
	  "Take the agent's input from the jq expression EXPR over each "
	  "record (default: the record)", 0 },
	{ "output-key", OPT_OUTPUT_KEY, "KEY", 0,
	  "Put the result under KEY (default: the agent's name)", 0 },
	{ "trace", OPT_TRACE, "FILE", 0,
	  "Append a span per record and step to FILE as JSON Lines "
	  "(default: MAS_TRACE)", 0 },
	{ "metrics-file", OPT_METRICS_FILE, "PATH", 0,
	  "Write Prometheus metrics to PATH at exit and every few seconds "
	  "(default: MAS_METRICS_FILE)", 0 },
	{ 0 }
};

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct mas_cli *cli = state->input;

	switch (key) {
	case OPT_CONFIG:
		cli->config_path = arg;
		break;
	case OPT_LOG_LEVEL:
		if (mas_log_level_parse(arg) < 0)
			argp_error(state, "--log-level: '%s' is not one of "
			           "error, warn, info, debug", arg);
		mas_config_set(&cli->config, "log.level", arg,
		               MAS_CONFIG_FLAG);
		break;
	case 'q':
		mas_config_set(&cli->config, "log.level", "error",
		               MAS_CONFIG_FLAG);
		break;
	case 'v':
		cli->verbose++;
		mas_config_set(&cli->config, "log.level",
		               cli->verbose > 1 ? "debug" : "info",
		               MAS_CONFIG_FLAG);
		break;
	case OPT_INPUT:
		cli->input_text = arg;
		break;
	case OPT_METRICS_FILE:
		mas_config_set(&cli->config, "metrics.file", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_TRACE:
		mas_config_set(&cli->config, "trace.file", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_OUTPUT_KEY:
		if (*arg == '\0')
			argp_error(state, "--output-key: must not be empty");
		cli->output_key = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp mas_cli_argp = { options, parse_option, NULL, NULL,
	                           NULL, NULL, NULL };

void mas_cli_init(struct mas_cli *cli, const char *program,
                  const char *output_key)
{
	/*
	 * What argp prints for --version, and its usage errors' status:
	 * 2 as mas(7) promises, not argp's 64.  Set when a program starts,
	 * in libc's own variables: a definition in libmas, whose symbols
	 * are hidden, would not replace libc's, and a program that embeds
	 * libmas keeps its own.
	 */
	argp_program_version = "mas " MAS_VERSION;
	argp_program_version_hook = print_version;
	argp_err_exit_status = MAS_EXIT_USAGE;
	memset(cli, 0, sizeof(*cli));
	cli->program = program;
	cli->output_key = output_key;
	mas_log_init(program);
	mas_config_init(&cli->config);
}

void mas_cli_parse(struct mas_cli *cli, const struct argp *argp, int argc,
                   char **argv, void *input)
{
	argv[0] = (char *)cli->program;
	argp_parse(argp, argc, argv, 0, NULL, input);
}

void mas_cli_add_file(struct mas_cli *cli, char *arg)
{
	char **files = realloc(cli->files,
	                       sizeof(*files) * (size_t)(cli->file_count + 1));

	if (!files)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	files[cli->file_count++] = arg;
	cli->files = files;
}

struct mas_expr *mas_cli_compile(const char *option, const char *text)
{
	char *error = NULL;
	struct mas_expr *expr = mas_expr_compile(text, &error);

	if (!expr) {
		mas_log(MAS_LOG_ERROR, "%s '%s': %s", option, text, error);
		free(error);
		exit(MAS_EXIT_USAGE);
	}
	return expr;
}

long mas_cli_parse_count(const char *option, const char *text, long min,
                         long max)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || value < min ||
	    value > max)
		mas_die(MAS_EXIT_USAGE, "%s: '%s' is not a whole number from "
		        "%ld to %ld", option, text, min, max);
	return value;
}

double mas_cli_parse_duration(const char *option, const char *text)
{
	static const char units[] = "smhd";
	static const double seconds[] = { 1, 60, 3600, 86400 };
	char *end;
	double value = strtod(text, &end);
	const char *unit = *end ? strchr(units, *end) : units;

	if (end == text || !(value >= 0) || !unit || !*unit ||
	    (*end && end[1]))
		mas_die(MAS_EXIT_USAGE, "%s: '%s' is not a duration such as "
		        "90s, 15m, 12h or 30d", option, text);
	return value * seconds[unit - units];
}

static void setup_logging(struct mas_cli *cli)
{
	const char *level = mas_config_get(&cli->config, "log.level");
	const char *format = mas_config_get(&cli->config, "log.format");
	int value;

	value = mas_log_format_parse(format);
	if (value < 0)
		mas_die(MAS_EXIT_USAGE, "log.format (MAS_LOG_FORMAT): '%s' is "
		        "not text or json", format);
	mas_log_set_format((enum mas_log_format)value);
	value = mas_log_level_parse(level);
	if (value < 0)
		mas_die(MAS_EXIT_USAGE, "log.level (MAS_LOG_LEVEL): '%s' is not "
		        "one of error, warn, info, debug", level);
	mas_log_set_level((enum mas_log_level)value);
}

void mas_cli_setup(struct mas_cli *cli)
{
	char *error = NULL;

	mas_config_load_env(&cli->config);
	/* The file may be wrong about logging itself: log its problems at
	 * the level the flags and environment asked for. */
	setup_logging(cli);
	if (mas_config_load_file(&cli->config, cli->config_path, &error)) {
		mas_log(MAS_LOG_ERROR, "%s", error);
		free(error);
		exit(MAS_EXIT_USAGE);
	}
	setup_logging(cli);
	if (mas_clock_pin_problem())
		mas_die(MAS_EXIT_USAGE, "%s", mas_clock_pin_problem());
	if (mas_trace_init(cli->program, &cli->config, &error) != 0) {
		mas_log(MAS_LOG_ERROR, "%s", error ? error : "tracing");
		free(error);
		exit(MAS_EXIT_USAGE);
	}
	if (mas_metrics_init(cli->program, &cli->config, &error) != 0) {
		mas_log(MAS_LOG_ERROR, "%s", error ? error : "metrics");
		free(error);
		exit(MAS_EXIT_USAGE);
	}
	if (cli->input_text)
		cli->input = mas_cli_compile("--input", cli->input_text);
}

void mas_cli_release(struct mas_cli *cli)
{
	mas_trace_shutdown();
	mas_metrics_shutdown();
	mas_expr_free(cli->input);
	mas_config_release(&cli->config);
	free(cli->files);
	cli->input = NULL;
	cli->files = NULL;
}
