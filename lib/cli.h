/*
 * cli.h — the command line every mas program shares.
 *
 * A program declares its own argp options and adds mas_cli_argp as a
 * child, so --config, --log-level, --quiet, --verbose, --input and
 * --output-key (and argp's --help, --usage, --version) mean the same
 * everywhere.  After argp_parse, mas_cli_setup() reads the configuration
 * in precedence order (flags > environment > file > defaults), sets up
 * logging and compiles --input, exiting with status 2 and a one-line
 * message on any problem.
 *
 *	struct mas_cli cli;
 *	mas_cli_init(&cli, "mas-analyze", "analysis");
 *	struct argp_child children[] = { { &mas_cli_argp, 0, NULL, 0 }, {0} };
 *	... argp.children = children; argp_parse(&argp, argc, argv, 0, 0,
 *	    &options) with options->cli = &cli and, in the parser's
 *	    ARGP_KEY_INIT, state->child_inputs[0] = &cli ...
 *	mas_cli_setup(&cli);
 */
#ifndef MAS_CLI_H
#define MAS_CLI_H

#include <argp.h>

#include "config.h"
#include "expr.h"

struct mas_cli {
	const char *program;     /* "mas-analyze" */
	const char *config_path; /* --config, or NULL for the default */
	const char *input_text;  /* --input, or NULL */
	const char *output_key;  /* --output-key, or the agent's name */
	int verbose;             /* -v count */
	struct mas_expr *input;  /* compiled --input, or NULL */
	struct mas_config config;
	char **files;            /* positional arguments: input files */
	int file_count;
};

extern const struct argp mas_cli_argp;

/* Program name for messages and the default output key (both borrowed). */
void mas_cli_init(struct mas_cli *cli, const char *program,
                  const char *output_key);

/*
 * argp_parse with the program's own name in argv[0], so that getopt's
 * messages say "mas-analyze:" however the program was started.
 */
void mas_cli_parse(struct mas_cli *cli, const struct argp *argp, int argc,
                   char **argv, void *input);

/* Keep ARG as an input file (argp's ARGP_KEY_ARG). */
void mas_cli_add_file(struct mas_cli *cli, char *arg);

/* Read configuration, set up logging, compile --input.  Exits 2 on error. */
void mas_cli_setup(struct mas_cli *cli);

/*
 * Compile a user's jq expression given by OPTION (e.g. "--input"), or
 * exit 2 with a message quoting it and jq's words.
 */
struct mas_expr *mas_cli_compile(const char *option, const char *text);

/*
 * Parse a non-negative integer option value, or exit 2 naming OPTION.
 */
long mas_cli_parse_count(const char *option, const char *text, long min,
                         long max);

/*
 * Parse a duration option value: seconds, or a number followed by s, m,
 * h or d ("90", "90s", "15m", "12h", "30d"); exit 2 naming OPTION.
 */
double mas_cli_parse_duration(const char *option, const char *text);

/* Free what setup made; writes out the last spans and metrics. */
void mas_cli_release(struct mas_cli *cli);

#endif
