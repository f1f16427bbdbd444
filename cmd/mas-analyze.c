/*
 * mas-analyze — the analysis agent: metric series in, trends, forecasts
 * with intervals, anomalies and insights out.  See mas-analyze(1).
 */
#include <argp.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "analyze.h"
#include "cli.h"
#include "engine.h"
#include "log.h"
#include "mas.h"
#include "record.h"

enum {
	OPT_DATA_DIR = 'd',
	OPT_SERIES = 's',
	OPT_METRIC = 'm',
	OPT_BY = 0x200,
	OPT_TIME_FIELD,
	OPT_TYPE,
	OPT_HORIZON,
	OPT_PERIOD,
	OPT_LANG,
	OPT_PLOT,
	OPT_COVERAGE,
};

struct analyze_command {
	struct mas_cli cli;
	struct mas_engine engine;
	struct mas_analyze_options options;
	const char **metrics;
	char *example_dir;        /* the installed example data, or NULL */
	int series;
};

static const struct argp_option options[] = {
	{ "data-dir", OPT_DATA_DIR, "DIR", 0,
	  "Find data_source files (NAME.jsonl, NAME.csv) in DIR "
	  "(default: analyze.data_dir, else .)", 0 },
	{ "series", OPT_SERIES, NULL, 0,
	  "Series mode: input records are the data rows; analyse them at end "
	  "of input", 0 },
	{ "by", OPT_BY, "FIELD", 0,
	  "Series mode: one analysis per value of FIELD", 0 },
	{ "metric", OPT_METRIC, "FIELD", 0,
	  "Analyse FIELD (repeatable; default: every numeric field)", 0 },
	{ "time-field", OPT_TIME_FIELD, "FIELD", 0,
	  "Take row times from FIELD (default: ts, timestamp, time, date, "
	  "...)", 0 },
	{ "type", OPT_TYPE, "TYPE", 0,
	  "analysis_type when a task gives none, and in series mode "
	  "(default: comprehensive)", 0 },
	{ "horizon", OPT_HORIZON, "N", 0,
	  "Forecast N periods ahead, overriding prediction_horizon", 0 },
	{ "period", OPT_PERIOD, "N", 0,
	  "Seasonal period in rows, overriding detection", 0 },
	{ "lang", OPT_LANG, "LANG", 0,
	  "Write insights in en or zh (default: the record's "
	  "context.preferred_language, else en)", 0 },
	{ "plot", OPT_PLOT, "DIR", 0,
	  "Write one SVG chart per metric into DIR", 0 },
	{ "coverage", OPT_COVERAGE, "P", 0,
	  "Coverage of prediction intervals, between 0 and 1 (default 0.95)",
	  0 },
	{ 0 }
};

static void add_metric(struct analyze_command *command, const char *name)
{
	size_t count = command->options.metric_count + 1;
	const char **metrics = realloc(command->metrics,
	                               count * sizeof(*metrics));

	if (!metrics)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	metrics[count - 1] = name;
	command->metrics = metrics;
	command->options.metrics = metrics;
	command->options.metric_count = count;
}

static double parse_coverage(const char *text)
{
	char *end;
	double value = strtod(text, &end);

	if (end == text || *end != '\0' || !(value > 0 && value < 1))
		mas_die(MAS_EXIT_USAGE, "--coverage: '%s' is not a number "
		        "between 0 and 1", text);
	return value;
}

static const char *parse_type(const char *text)
{
	if (!mas_analyze_type_valid(text))
		mas_die(MAS_EXIT_USAGE, "--type: '%s' is not one of describe, "
		        "trend, trend_prediction, anomaly, correlation, "
		        "comprehensive", text);
	return text;
}

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct analyze_command *command = state->input;
	struct mas_analyze_options *o = &command->options;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &command->cli;
		state->child_inputs[1] = &command->engine;
		break;
	case OPT_DATA_DIR:
		mas_config_set(&command->cli.config, "analyze.data_dir", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_SERIES: command->series = 1; break;
	case OPT_BY: o->by = arg; break;
	case OPT_METRIC: add_metric(command, arg); break;
	case OPT_TIME_FIELD: o->time_field = arg; break;
	case OPT_TYPE: o->type = parse_type(arg); break;
	case OPT_HORIZON:
		o->horizon = (size_t)mas_cli_parse_count("--horizon", arg, 1,
		                                         10000);
		break;
	case OPT_PERIOD:
		o->period = (size_t)mas_cli_parse_count("--period", arg, 2,
		                                        10000);
		break;
	case OPT_LANG:
		mas_config_set(&command->cli.config, "analyze.lang", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_PLOT: o->plot_dir = arg; break;
	case OPT_COVERAGE: o->coverage = parse_coverage(arg); break;
	case ARGP_KEY_ARG: mas_cli_add_file(&command->cli, arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* --plot DIR is made if missing (one level, like mkdir without -p), so
 * a typo in its parent fails at once rather than once per chart. */
static void make_plot_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		mas_die(MAS_EXIT_USAGE, "--plot: %s: %s", dir, strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		mas_die(MAS_EXIT_USAGE, "--plot: %s: not a folder", dir);
}

/* analyze.lang (--lang, MAS_LANG); NULL leaves it to each record. */
static const char *language(const char *setting)
{
	const char *lang = setting ? mas_analyze_language(setting) : NULL;

	if (setting && !lang)
		mas_die(MAS_EXIT_USAGE, "analyze.lang (--lang, MAS_LANG): "
		        "'%s' is not en or zh", setting);
	return lang;
}

/* The engine comes first: mas_engine_wait finds it there. */
struct loop_context {
	struct mas_engine *engine;
	struct analyze_command *command;
	struct mas_analyzer *analyzer;
};

static void each_task(struct mas_run *run, jv record, void *data)
{
	struct loop_context *context = data;

	mas_agent_start(&context->command->cli, run, record,
	                mas_analyze_start, context->analyzer);
}

static void each_row(struct mas_run *run, jv record, void *data)
{
	struct loop_context *context = data;
	jv row = mas_agent_input(&context->command->cli, record);

	jv_free(record);
	if (jv_is_valid(row) && jv_get_kind(row) == JV_KIND_OBJECT) {
		mas_analyze_series_add(context->analyzer, row);
		return;
	}
	if (jv_is_valid(row)) {
		jv_free(row);
		row = mas_fail(MAS_ERR_INVALID_REQUEST, "--input must give an "
		               "object");
	}
	mas_run_emit(run, mas_run_error_record(run, jv_invalid_get_msg(row)));
}

static void wait_analyses(struct mas_run *run, int timeout_ms, int fd,
                          void *data)
{
	struct loop_context *context = data;

	(void)run;
	mas_analyze_wait(context->analyzer, timeout_ms, fd);
}

static void finish_series(struct mas_run *run, void *data)
{
	struct loop_context *context = data;

	mas_analyze_series_finish(context->analyzer, run,
	                          context->command->cli.output_key);
}

/*
 * With no data folder configured, a data_source missing from . is looked
 * for in the installed example data (mas-analyze(1), FILES).
 */
static void example_data(struct analyze_command *command)
{
	int found;

	if (mas_config_source_of(&command->cli.config, "analyze.data_dir") !=
	    MAS_CONFIG_DEFAULT)
		return;
	command->example_dir = mas_config_example(&command->cli.config,
	                                          "data", &found);
	if (command->example_dir && found)
		command->options.example_dir = command->example_dir;
}

int main(int argc, char **argv)
{
	static const char doc[] =
		"Analyse metric series: trends, forecasts with prediction "
		"intervals, anomalies, correlations and insights, one JSON "
		"record in, one out.\v"
		"Reads JSON Lines from the FILEs (or stdin) and writes JSON "
		"Lines to stdout.  See mas-analyze(1).";
	struct argp_child children[] = {
		{ &mas_cli_argp, 0, "Options every mas program takes:", 0 },
		{ &mas_engine_argp, 0, "Options for a model endpoint "
		  "(OPENAI_BASE_URL, OPENAI_API_KEY):", 0 },
		{ 0 }
	};
	struct argp argp = { options, parse_option, "[FILE...]", doc,
		             children, NULL, NULL };
	struct analyze_command command = { 0 };
	struct loop_context context = { &command.engine, &command, NULL };
	struct mas_run_options run = { 0 };
	int status;

	mas_cli_init(&command.cli, "mas-analyze", "analysis");
	mas_engine_init(&command.engine, &command.cli);
	command.options.coverage = 0.95;
	command.options.type = "comprehensive";
	mas_cli_parse(&command.cli, &argp, argc, argv, &command);
	if (command.options.by && !command.series)
		mas_die(MAS_EXIT_USAGE, "--by: only in series mode (--series)");
	mas_cli_setup(&command.cli);
	if (command.options.plot_dir)
		make_plot_dir(command.options.plot_dir);
	mas_engine_setup(&command.engine);
	command.options.engine = &command.engine;
	command.options.data_dir = mas_config_get(&command.cli.config,
	                                          "analyze.data_dir");
	example_data(&command);
	command.options.lang = language(mas_config_get(&command.cli.config,
	                                               "analyze.lang"));
	command.options.threads = mas_engine_threads(&command.engine);
	context.analyzer = mas_analyzer_new(&command.options);
	run.files = command.cli.files;
	run.file_count = command.cli.file_count;
	run.data = &context;
	run.each = command.series ? each_row : each_task;
	run.finish = command.series ? finish_series : NULL;
	run.keep_rows_raw = command.series;
	run.jobs = command.series ? 0 : mas_analyze_window(context.analyzer);
	run.wait = wait_analyses;
	status = mas_run_records(&run);
	mas_analyzer_free(context.analyzer);
	mas_engine_release(&command.engine);
	free(command.metrics);
	free(command.example_dir);
	mas_cli_release(&command.cli);
	mas_output_close();
	return status;
}
