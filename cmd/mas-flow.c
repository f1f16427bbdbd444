/*
 * mas-flow — declarative workflow graphs over record streams: check a
 * flow file, draw it, run records through it.  See mas-flow(1) and the
 * file format in mas-flow(5).
 */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "flow-store.h"
#include "flow.h"
#include "log.h"
#include "mas.h"
#include "record.h"

#include "banned.h"

enum {
	OPT_FORMAT = 'f',
	OPT_RECURSION_LIMIT = 0x200,
	OPT_RUN_ID,
	OPT_JOBLOG,
	OPT_OLDER_THAN,
};

struct flow_command {
	struct mas_cli cli;
	const char *verb;
	const char *file;
	const char *format;
	const char *run_id;
	const char *joblog_path;
	double older_than;        /* gc: seconds, or -1 when not given */
	long recursion_limit;
};

/* What each_record needs. */
struct run_context {
	struct mas_flow *flow;
	FILE *joblog;
};

static const struct argp_option options[] = {
	{ "format", OPT_FORMAT, "FORMAT", 0,
	  "graph: dot (the default) or mermaid", 0 },
	{ "recursion-limit", OPT_RECURSION_LIMIT, "N", 0,
	  "run: at most N node steps per record (default 25)", 0 },
	{ "run-id", OPT_RUN_ID, "ID", 0,
	  "run: store each step's state in the state store as run ID", 0 },
	{ "joblog", OPT_JOBLOG, "FILE", 0,
	  "run: append a line per record to FILE: id, start, duration, "
	  "status, path", 0 },
	{ "older-than", OPT_OLDER_THAN, "DURATION", 0,
	  "gc: remove runs last updated more than DURATION ago (N, Ns, Nm, "
	  "Nh or Nd)", 0 },
	{ 0 }
};

/* "90", "90s", "15m", "12h", "30d": seconds. */
static double parse_duration(const char *text)
{
	static const char units[] = "smhd";
	static const double seconds[] = { 1, 60, 3600, 86400 };
	char *end;
	double value = strtod(text, &end);
	const char *unit = *end ? strchr(units, *end) : units;

	if (end == text || !(value >= 0) || !unit || !*unit ||
	    (*end && end[1]))
		mas_die(MAS_EXIT_USAGE, "--older-than: '%s' is not a duration "
		        "such as 90s, 15m, 12h or 30d", text);
	return value * seconds[unit - units];
}

/* Verbs that name no flow FILE: runs, gc; show names a RUN_ID there. */
static int takes_file(const char *verb)
{
	return strcmp(verb, "runs") != 0 && strcmp(verb, "gc") != 0;
}

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct flow_command *command = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &command->cli;
		break;
	case OPT_FORMAT: command->format = arg; break;
	case OPT_RUN_ID: command->run_id = arg; break;
	case OPT_JOBLOG: command->joblog_path = arg; break;
	case OPT_OLDER_THAN: command->older_than = parse_duration(arg); break;
	case OPT_RECURSION_LIMIT:
		command->recursion_limit = mas_cli_parse_count(
			"--recursion-limit", arg, 1, 1000000);
		break;
	case ARGP_KEY_ARG:
		if (!command->verb)
			command->verb = arg;
		else if (!command->file && takes_file(command->verb))
			command->file = arg;
		else
			mas_cli_add_file(&command->cli, arg);
		break;
	case ARGP_KEY_END:
		if (!command->verb)
			argp_error(state, "expected a verb");
		if (!command->file && takes_file(command->verb))
			argp_error(state, "expected a verb and a flow FILE "
			           "or RUN_ID");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* The joblog line of one record, in GNU parallel's spirit: id, start
 * (epoch seconds), duration (seconds), 0 or 1, the nodes it passed. */
static void log_job(FILE *joblog, jv state, double start, double seconds)
{
	jv id = jv_object_get(jv_copy(state), jv_string("id"));
	jv error = jv_object_get(jv_copy(state), jv_string("error"));
	jv meta = jv_object_get(jv_copy(state), jv_string("meta"));
	jv path = jv_get_kind(meta) == JV_KIND_OBJECT ?
	          jv_object_get(meta, jv_string("flow")) : meta;
	int length = jv_get_kind(path) == JV_KIND_ARRAY ?
	             jv_array_length(jv_copy(path)) : 0;

	fprintf(joblog, "%s\t%.3f\t%.6f\t%d\t",
	        jv_get_kind(id) == JV_KIND_STRING ? jv_string_value(id) : "",
	        start, seconds, jv_get_kind(error) == JV_KIND_OBJECT);
	for (int i = 0; i < length; i++) {
		jv node = jv_object_get(jv_array_get(jv_copy(path), i),
		                        jv_string("node"));

		fprintf(joblog, "%s%s", i ? " " : "", jv_string_value(node));
		jv_free(node);
	}
	fputc('\n', joblog);
	jv_free(id);
	jv_free(error);
	jv_free(path);
}

static double epoch_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void each_record(struct mas_run *run, jv record, void *data)
{
	struct run_context *context = data;
	double start = epoch_seconds();
	jv state = mas_flow_step_record(context->flow, record);

	if (context->joblog)
		log_job(context->joblog, state, start,
		        epoch_seconds() - start);
	mas_run_emit(run, state);
}

static FILE *open_joblog(const char *path)
{
	FILE *file = fopen(path, "a");

	if (!file)
		mas_die(MAS_EXIT_USAGE, "--joblog: %s: %s", path,
		        strerror(errno));
	/* a line per record, whole, for a reader tailing the file */
	setvbuf(file, NULL, _IOLBF, 0);
	return file;
}

/* Close the joblog; a failed write makes the run's status 74. */
static int close_joblog(FILE *joblog, const char *path, int status)
{
	int failed;

	if (!joblog)
		return status;
	failed = ferror(joblog);
	if (fclose(joblog) != 0)
		failed = 1;
	if (failed) {
		mas_log(MAS_LOG_ERROR, "--joblog: %s: write failed", path);
		return MAS_EXIT_IO;
	}
	return status;
}

static int run_flow(struct flow_command *command, struct mas_flow *flow)
{
	struct mas_run_options run = { 0 };
	struct run_context context = { flow, NULL };
	char *error = NULL;
	int status;

	if (command->recursion_limit)
		flow->recursion_limit = command->recursion_limit;
	if (command->run_id) {
		flow->checkpoint = mas_flow_checkpoint_open(
			&command->cli.config, command->run_id, command->file,
			&error);
		if (!flow->checkpoint)
			mas_die(MAS_EXIT_USAGE, "%s", error);
	}
	run.files = command->cli.files;
	run.file_count = command->cli.file_count;
	if (command->joblog_path)
		context.joblog = open_joblog(command->joblog_path);
	run.each = each_record;
	run.data = &context;
	status = mas_run_records(&run);
	status = close_joblog(context.joblog, command->joblog_path, status);
	/* a run whose steps were not all stored has failed: a later
	 * resume could not trust them */
	if (mas_flow_checkpoint_close(flow->checkpoint) != 0 &&
	    status == MAS_EXIT_OK)
		status = MAS_EXIT_RECORDS;
	flow->checkpoint = NULL;
	return status;
}

/* The verbs over the state store alone: runs, show, gc. */
static int store_verb(struct flow_command *command)
{
	const struct mas_config *config = &command->cli.config;
	char *error = NULL;
	int status = 0;
	long removed;

	mas_output_init();
	if (strcmp(command->verb, "runs") == 0) {
		status = mas_flow_runs(config, stdout, &error);
	} else if (strcmp(command->verb, "show") == 0) {
		status = mas_flow_show(config, command->file, stdout, &error);
		if (status == 1)
			mas_die(MAS_EXIT_USAGE, "show: no run '%s'",
			        command->file);
	} else {
		if (command->older_than < 0)
			mas_die(MAS_EXIT_USAGE, "gc: --older-than is needed");
		removed = mas_flow_gc(config, command->older_than, &error);
		if (removed >= 0)
			printf("{\"removed\":%ld}\n", removed);
		status = removed < 0 ? -1 : 0;
	}
	if (status != 0)
		mas_die(MAS_EXIT_USAGE, "%s", error);
	return mas_output_close();
}

static int graph_flow(struct flow_command *command, struct mas_flow *flow)
{
	mas_output_init();
	if (mas_flow_graph(flow, command->format, stdout) != 0)
		mas_die(MAS_EXIT_USAGE, "--format: '%s' is not dot or mermaid",
		        command->format);
	return MAS_EXIT_OK;
}

/* The verb's work once FILE is loaded and found sound. */
static int dispatch(struct flow_command *command, struct mas_flow *flow)
{
	if (strcmp(command->verb, "check") == 0)
		return MAS_EXIT_OK;
	if (strcmp(command->verb, "graph") == 0)
		return graph_flow(command, flow);
	return run_flow(command, flow);
}

/*
 * A write error ends the program from inside the record loop; this stops
 * the co-processes and frees the flow then too, so no child is left
 * behind and leak checkers see a clean exit.
 */
static struct mas_flow *flow_at_exit;

static void release_at_exit(void)
{
	mas_flow_release(flow_at_exit);
}

static int is_verb(const char *verb)
{
	static const char *const verbs[] = {
		"check", "graph", "run", "runs", "show", "gc", NULL
	};

	for (int i = 0; verbs[i]; i++)
		if (strcmp(verb, verbs[i]) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const char doc[] =
		"Run records through a workflow graph of jq expressions, "
		"external JSON-lines filters and subgraphs.\v"
		"Verbs: check FILE (report every problem, exit 2 if any); "
		"graph FILE (DOT or Mermaid); run FILE [INPUT...] (records "
		"from the INPUT files or stdin, final states to stdout, in "
		"order); runs (past runs stored with --run-id); show RUN_ID "
		"(a run and its records); gc --older-than DURATION.  See "
		"mas-flow(1) and mas-flow(5).";
	struct argp_child children[] = {
		{ &mas_cli_argp, 0, "Options every mas program takes:", 0 },
		{ 0 }
	};
	static const char usage[] = "check|graph|run FILE [INPUT...]\n"
		"runs\nshow RUN_ID\ngc --older-than=DURATION";
	struct argp argp = { options, parse_option, usage, doc, children,
		             NULL, NULL };
	struct flow_command command = { 0 };
	struct mas_flow flow;
	int status;

	mas_cli_init(&command.cli, "mas-flow", "flow");
	command.format = "dot";
	command.older_than = -1;
	mas_cli_parse(&command.cli, &argp, argc, argv, &command);
	if (!is_verb(command.verb))
		mas_die(MAS_EXIT_USAGE, "'%s' is not a verb: check, graph, "
		        "run, runs, show or gc", command.verb);
	if (command.cli.file_count && strcmp(command.verb, "run") != 0)
		mas_die(MAS_EXIT_USAGE, "%s: takes one FILE", command.verb);
	mas_cli_setup(&command.cli);
	if (!takes_file(command.verb) || strcmp(command.verb, "show") == 0) {
		status = store_verb(&command);
		mas_cli_release(&command.cli);
		return status;
	}
	if (mas_flow_load(&flow, command.file) != 0) {
		mas_flow_release(&flow);
		mas_cli_release(&command.cli);
		return MAS_EXIT_USAGE;
	}
	flow_at_exit = &flow;
	atexit(release_at_exit);
	status = dispatch(&command, &flow);
	flow_at_exit = NULL;
	mas_flow_release(&flow);
	mas_cli_release(&command.cli);
	mas_output_close();
	return status;
}
