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
#include <unistd.h>
#include <time.h>

#include "cli.h"
#include "engine.h"
#include "expr.h"
#include "flow-store.h"
#include "flow.h"
#include "id.h"
#include "log.h"
#include "mas.h"
#include "record.h"
#include "store.h"

#include "banned.h"

enum {
	OPT_FORMAT = 'f',
	OPT_RECURSION_LIMIT = 0x200,
	OPT_RUN_ID,
	OPT_JOBLOG,
	OPT_OLDER_THAN,
	OPT_RECORD,
	OPT_SET,
};

/* Records in flight at once: enough to keep every co-process busy. */
enum { RECORDS_IN_FLIGHT = 1024 };

struct flow_command {
	struct mas_cli cli;
	struct mas_engine engine;
	const char *verb;
	const char *file;
	const char *format;
	const char *run_id;
	const char *joblog_path;
	double older_than;        /* gc: seconds, or -1 when not given */
	long recursion_limit;
	const char *record_id;    /* resume --record */
	const char *set;          /* resume --set */
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
	{ "record", OPT_RECORD, "ID", 0,
	  "resume: continue only record ID, waiting at an interrupt", 0 },
	{ "set", OPT_SET, "JQ", 0,
	  "resume --record: change the waiting state with JQ first", 0 },
	{ "older-than", OPT_OLDER_THAN, "DURATION", 0,
	  "gc: remove runs last updated more than DURATION ago (N, Ns, Nm, "
	  "Nh or Nd)", 0 },
	{ 0 }
};

/* Verbs that name no flow FILE: runs, gc; show and resume name a RUN_ID
 * there. */
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
		state->child_inputs[1] = &command->engine;
		break;
	case OPT_RECORD: command->record_id = arg; break;
	case OPT_SET: command->set = arg; break;
	case OPT_FORMAT: command->format = arg; break;
	case OPT_RUN_ID: command->run_id = arg; break;
	case OPT_JOBLOG: command->joblog_path = arg; break;
	case OPT_OLDER_THAN:
		command->older_than = mas_cli_parse_duration("--older-than",
		                                             arg);
		break;
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

/* The record loop over the runner, for run and resume. */
static int run_records(struct flow_command *command, struct mas_flow *flow,
                       struct mas_flow_run_options *settings,
                       struct mas_run_options *run)
{
	unsigned long waiting;
	int status;

	if (command->joblog_path)
		settings->joblog = open_joblog(command->joblog_path);
	mas_flow_runner_start(flow, settings);
	run->data = flow;
	run->wait = mas_flow_wait;
	run->input_end = mas_flow_input_end;
	run->jobs = RECORDS_IN_FLIGHT;
	status = mas_run_records(run);
	status = close_joblog(settings->joblog, command->joblog_path, status);
	/* a resume counts every record of the run still waiting */
	waiting = settings->checkpoint && !settings->keep_emitted ?
	          (unsigned long)mas_flow_checkpoint_waiting(
	                  settings->checkpoint) : mas_flow_waiting(flow);
	if (waiting > 0 && status == MAS_EXIT_OK) {
		mas_log(MAS_LOG_WARN, "run %s: %lu record%s waiting at an "
		        "interrupt: mas-flow resume %s --record ID",
		        settings->run_id, waiting, waiting == 1 ? "" : "s",
		        settings->run_id);
		status = MAS_EXIT_WAITING;
	}
	mas_flow_runner_free(flow);
	/* a run whose steps were not all stored has failed: a later
	 * resume could not trust them */
	if (mas_flow_checkpoint_close(settings->checkpoint) != 0 &&
	    status == MAS_EXIT_OK)
		status = MAS_EXIT_RECORDS;
	return status;
}

static int has_interrupt(const struct mas_flow *flow)
{
	for (size_t i = 0; i < flow->node_count; i++)
		if (flow->nodes[i].kind == MAS_FLOW_INTERRUPT)
			return 1;
	return 0;
}

/* No checkpoint can be stored for now (a locked store, a full disk):
 * each record says so, and the run exits 75 to be tried again. */
static int unavailable(struct flow_command *command, int status,
                       char *error)
{
	struct mas_run_options run = {
		.files = command->cli.files,
		.file_count = command->cli.file_count,
	};

	mas_error_log("%s", error);
	status = mas_run_records_failing(&run, mas_store_unavailable_error(
		status, error));
	free(error);
	return status;
}

static int run_flow(struct flow_command *command, struct mas_flow *flow)
{
	struct mas_run_options run = { 0 };
	struct mas_flow_run_options settings = { 0 };
	char fresh[MAS_ID_SIZE], *error = NULL, *path;
	int status;

	if (command->recursion_limit)
		flow->recursion_limit = command->recursion_limit;
	/* a person resumes a waiting record by its run: there must be one */
	if (!command->run_id && has_interrupt(flow)) {
		mas_id_new(fresh);
		command->run_id = fresh;
		mas_log(MAS_LOG_INFO, "run id %s", fresh);
	}
	if (command->run_id) {
		/* resume may run from another directory */
		path = realpath(command->file, NULL);
		settings.checkpoint = mas_flow_checkpoint_open(
			&command->cli.config, command->run_id,
			path ? path : command->file, &status, &error);
		free(path);
		if (!settings.checkpoint && MAS_STORE_TRANSIENT(status))
			return unavailable(command, status, error);
		if (!settings.checkpoint)
			mas_die(MAS_EXIT_USAGE, "%s", error);
		mas_flow_checkpoint_output(settings.checkpoint, STDOUT_FILENO);
		settings.run_id = command->run_id;
	}
	run.files = command->cli.files;
	run.file_count = command->cli.file_count;
	run.each = mas_flow_each;
	run.line = mas_flow_line;
	return run_records(command, flow, &settings, &run);
}

/* What mas_flow_checkpoint_pending gives, written as the resume's input
 * lines. */
struct pending_input {
	FILE *file;
	struct mas_expr *set;
	const char *set_text;
	const char *record_id;
};

/* End the resume with MESSAGE (consumed, a string), STORED (consumed)
 * and the expression freed first: jq's stack, once started, is found
 * by no pointer a leak checker sees. */
static void set_failed(struct pending_input *input, jv stored, jv message)
	__attribute__((noreturn));

static void set_failed(struct pending_input *input, jv stored, jv message)
{
	char text[1024];

	snprintf(text, sizeof(text), "%s", jv_string_value(message));
	jv_free(message);
	jv_free(stored);
	mas_expr_free(input->set);
	input->set = NULL;
	mas_die(MAS_EXIT_USAGE, "%s", text);
}

/* resume --set: the waiting state, changed by the person's JQ. */
static jv apply_set(struct pending_input *input, jv stored)
{
	jv text = jv_object_get(jv_copy(stored), jv_string("state"));
	jv state = jv_get_kind(text) == JV_KIND_STRING ?
	           jv_parse(jv_string_value(text)) : jv_invalid();

	jv_free(text);
	/* a store written by hand, or damaged: jq asserts on an invalid
	 * input */
	if (jv_get_kind(state) != JV_KIND_OBJECT) {
		jv_free(state);
		set_failed(input, stored, jv_string_fmt("resume: the stored "
		           "state of record '%s' is not a JSON object",
		           input->record_id));
	}
	state = mas_expr_first(input->set, state);
	if (jv_get_kind(state) != JV_KIND_OBJECT) {
		/* a jq error's message, else what the object is not */
		jv message = jv_is_valid(state) ? jv_null()
		                                : jv_invalid_get_msg(state);

		if (jv_is_valid(state))
			jv_free(state);
		if (jv_get_kind(message) != JV_KIND_STRING) {
			jv_free(message);
			message = jv_string("does not give an object");
		}
		text = jv_string_fmt("--set '%s': %s", input->set_text,
		                     jv_string_value(message));
		jv_free(message);
		set_failed(input, stored, text);
	}
	text = jv_dump_string(state, 0);
	return jv_object_set(stored, jv_string("state"), text);
}

static void write_pending(void *data, jv stored)
{
	struct pending_input *input = data;
	jv line;

	if (input->set)
		stored = apply_set(input, stored);
	if (input->set || input->set_text)
		stored = jv_object_set(stored, jv_string("continue"),
		                       jv_true());
	line = jv_dump_string(JV_OBJECT(jv_string("id"),
	                                jv_object_get(jv_copy(stored),
	                                              jv_string("id")),
	                                jv_string("resume"), stored), 0);
	fprintf(input->file, "%s\n", jv_string_value(line));
	jv_free(line);
}

/* The records to resume, as lines of a temporary file for the record
 * loop (which keeps their order, bounds them and writes them out). */
static FILE *pending_file(struct flow_command *command,
                          struct mas_flow_checkpoint *checkpoint)
{
	struct pending_input input = { tmpfile(), NULL, NULL,
	                               command->record_id };
	char *error = NULL;
	long count;

	if (!input.file)
		mas_die(MAS_EXIT_IO, "resume: temporary file: %s",
		        strerror(errno));
	if (command->record_id) {
		input.set_text = command->set ? command->set : ".";
		input.set = mas_expr_compile(input.set_text, &error);
		if (!input.set)
			mas_die(MAS_EXIT_USAGE, "--set '%s': %s",
			        input.set_text, error);
	}
	count = mas_flow_checkpoint_pending(checkpoint, command->record_id,
	                                    write_pending, &input, &error);
	mas_expr_free(input.set);
	if (count < 0)
		mas_die(MAS_EXIT_IO, "resume: %s", error);
	if (count == 0 && command->record_id)
		mas_die(MAS_EXIT_USAGE, "resume: run '%s' has no record '%s' "
		        "waiting at an interrupt", command->run_id,
		        command->record_id);
	if (fflush(input.file) != 0 || fseek(input.file, 0, SEEK_SET) != 0)
		mas_die(MAS_EXIT_IO, "resume: temporary file: %s",
		        strerror(errno));
	return input.file;
}

static int resume_flow(struct flow_command *command)
{
	struct mas_run_options run = { 0 };
	struct mas_flow_run_options settings = { 0 };
	struct mas_flow flow;
	char *error = NULL, *path = NULL, name[64];
	char **files;
	int missing, status;
	FILE *input;

	if (command->set && !command->record_id)
		mas_die(MAS_EXIT_USAGE, "--set needs --record ID");
	command->run_id = command->file;
	settings.checkpoint = mas_flow_checkpoint_reopen(
		&command->cli.config, command->run_id, &path, &missing, &error);
	if (!settings.checkpoint)
		mas_die(missing ? MAS_EXIT_USAGE : MAS_EXIT_IO, "resume: %s",
		        error);
	if (mas_flow_load(&flow, path, &command->engine) != 0) {
		free(path);
		mas_die(MAS_EXIT_USAGE, "resume: the run's flow file has "
		        "problems now");
	}
	free(path);
	if (command->recursion_limit)
		flow.recursion_limit = command->recursion_limit;
	/* appending to the file the killed run wrote: what it holds after
	 * the last mark is not written again */
	if (!command->record_id)
		mas_flow_checkpoint_reconcile(settings.checkpoint,
		                              STDOUT_FILENO);
	mas_flow_checkpoint_output(settings.checkpoint, STDOUT_FILENO);
	input = pending_file(command, settings.checkpoint);
	snprintf(name, sizeof(name), "/dev/fd/%d", fileno(input));
	settings.run_id = command->run_id;
	settings.keep_emitted = command->record_id != NULL;
	settings.stored_file = name;
	/* the run's input given again: what was never read goes on */
	settings.skip = mas_flow_checkpoint_last_seq(settings.checkpoint);
	files = calloc((size_t)command->cli.file_count + 1, sizeof(*files));
	if (!files)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	files[0] = name;
	for (int i = 0; i < command->cli.file_count && !command->record_id;
	     i++)
		files[i + 1] = command->cli.files[i];
	run.files = files;
	run.file_count = command->record_id ? 1 : command->cli.file_count + 1;
	run.each = mas_flow_each_resumed;
	status = run_records(command, &flow, &settings, &run);
	free(files);
	fclose(input);
	mas_flow_release(&flow);
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
		"check", "graph", "run", "resume", "runs", "show", "gc",
		NULL
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
		{ &mas_engine_argp, 0, "Model options (agent and llm "
		  "nodes):", 0 },
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
	mas_engine_init(&command.engine, &command.cli);
	command.format = "dot";
	command.older_than = -1;
	mas_cli_parse(&command.cli, &argp, argc, argv, &command);
	if (!is_verb(command.verb))
		mas_die(MAS_EXIT_USAGE, "'%s' is not a verb: check, graph, "
		        "run, runs, show or gc", command.verb);
	if (command.cli.file_count && strcmp(command.verb, "run") != 0 &&
	    strcmp(command.verb, "resume") != 0)
		mas_die(MAS_EXIT_USAGE, "%s: takes one FILE", command.verb);
	if (command.record_id && strcmp(command.verb, "resume") != 0)
		mas_die(MAS_EXIT_USAGE, "--record: only with resume");
	mas_cli_setup(&command.cli);
	if (!takes_file(command.verb) || strcmp(command.verb, "show") == 0) {
		status = store_verb(&command);
		mas_cli_release(&command.cli);
		return status;
	}
	mas_engine_setup(&command.engine);
	if (strcmp(command.verb, "resume") == 0) {
		status = resume_flow(&command);
		mas_engine_release(&command.engine);
		mas_cli_release(&command.cli);
		mas_output_close();
		return status;
	}
	if (mas_flow_load(&flow, command.file, &command.engine) != 0) {
		mas_flow_release(&flow);
		mas_engine_release(&command.engine);
		mas_cli_release(&command.cli);
		return MAS_EXIT_USAGE;
	}
	flow_at_exit = &flow;
	atexit(release_at_exit);
	status = dispatch(&command, &flow);
	flow_at_exit = NULL;
	mas_flow_release(&flow);
	mas_engine_release(&command.engine);
	mas_cli_release(&command.cli);
	mas_output_close();
	return status;
}
