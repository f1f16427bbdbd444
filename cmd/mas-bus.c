/*
 * mas-bus — the message bus: publish records to topics, subscribe alone
 * or as a durable work-queue group, show the figures.  See mas-bus(1).
 */
#include <argp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "agent.h"
#include "bus.h"
#include "bus-rpc.h"
#include "cli.h"
#include "coprocess.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "record.h"
#include "route.h"
#include "trace.h"
#include "banned.h"

enum {
	OPT_URL = 0x200,
	OPT_PRIORITY,
	OPT_ENVELOPE,
	OPT_GROUP,
	OPT_COUNT,
	OPT_FOLLOW,
	OPT_FROM_START,
	OPT_PAYLOAD,
	OPT_VISIBILITY,
	OPT_MAX_DELIVER,
	OPT_TIMEOUT,
	OPT_TO,
	OPT_BY,
	OPT_OLDER_THAN,
	OPT_PREFETCH,
};

struct bus_command {
	struct mas_cli cli;
	const char *verb;
	const char *topic;
	const char *url;
	const char *group;
	int priority;
	int envelope, follow, from_start, payload;
	long count;          /* 0: no limit */
	double visibility;
	double timeout;
	int max_deliver;
	size_t prefetch;     /* 0: the verb's default */
	const char *by;
	char **routes;
	int route_count;
	struct mas_bus bus;
	double older_than;   /* gc: seconds, or -1 when not given */
	long failed;         /* sub: messages written as error records */
};

static const struct argp_option options[] = {
	{ "url", OPT_URL, "URL", 0,
	  "The bus: sqlite:PATH or nats://HOST:PORT (default: bus.url, "
	  "MAS_BUS_URL, else the state store)", 0 },
	{ "priority", OPT_PRIORITY, "P", 0,
	  "pub: high, normal (default) or low", 0 },
	{ "envelope", OPT_ENVELOPE, NULL, 0,
	  "pub: input records are whole envelopes, not payloads", 0 },
	{ "group", OPT_GROUP, "NAME", 0,
	  "sub: consume as a member of the durable group NAME", 0 },
	{ "count", OPT_COUNT, "N", 0, "sub: stop after N messages", 0 },
	{ "follow", OPT_FOLLOW, NULL, 0,
	  "sub: keep waiting for new messages", 0 },
	{ "from-start", OPT_FROM_START, NULL, 0,
	  "sub: without a group, begin at the first retained message", 0 },
	{ "payload", OPT_PAYLOAD, NULL, 0,
	  "sub: write the payloads, not the envelopes", 0 },
	{ "visibility", OPT_VISIBILITY, "S", 0,
	  "sub --group: seconds before an unacknowledged message is "
	  "delivered again (default 30)", 0 },
	{ "to", OPT_TO, "NAME=COMMAND", 0,
	  "route: a route and its filter command (repeatable); replay: "
	  "the topic to send the dead letters to (default: each one's "
	  "own)", 0 },
	{ "by", OPT_BY, "EXPR", 0,
	  "route: the jq expression naming each record's route "
	  "(default .type)", 0 },
	{ "timeout", OPT_TIMEOUT, "S", 0,
	  "req: seconds to wait for each reply (default 30); route: "
	  "seconds a filter may owe answers in silence (default 300); "
	  "serve: the same for the command (default 300); "
	  "pub: seconds a batch may wait to be stored, reconnecting "
	  "(NATS; default 30)", 0 },
	{ "older-than", OPT_OLDER_THAN, "DURATION", 0,
	  "gc: remove messages older than DURATION (N, Ns, Nm, Nh or Nd) "
	  "that no group still owes", 0 },
	{ "prefetch", OPT_PREFETCH, "N", 0,
	  "sub --group: messages claimed ahead of the reader (default: "
	  "adaptive, 1 doubling to 256); serve: requests claimed at once "
	  "(default 1)", 0 },
	{ "max-deliver", OPT_MAX_DELIVER, "N", 0,
	  "sub --group: deliveries before a message is dead-lettered "
	  "(default 5)", 0 },
	{ 0 }
};

static double parse_seconds(const char *option, const char *text)
{
	char *end;
	double value = strtod(text, &end);

	if (end == text || *end != '\0' || !(value > 0 && value < 1e7))
		mas_die(MAS_EXIT_USAGE, "%s: '%s' is not a number of seconds",
		        option, text);
	return value;
}

static void positional(struct bus_command *command, char *arg)
{
	if (!command->verb)
		command->verb = arg;
	else if (!command->topic && strcmp(command->verb, "route") != 0)
		command->topic = arg; /* route takes files only */
	else
		mas_cli_add_file(&command->cli, arg);
}

static void add_route(struct bus_command *command, char *spec)
{
	char **routes = realloc(command->routes, sizeof(*routes) *
	                        (size_t)(command->route_count + 1));

	if (!routes)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	routes[command->route_count++] = spec;
	command->routes = routes;
}

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct bus_command *c = state->input;

	switch (key) {
	case ARGP_KEY_INIT: state->child_inputs[0] = &c->cli; break;
	case OPT_URL: c->url = arg; break;
	case OPT_PRIORITY:
		c->priority = mas_bus_priority_parse(arg);
		if (c->priority < 0)
			mas_die(MAS_EXIT_USAGE, "--priority: '%s' is not "
			        "high, normal or low", arg);
		break;
	case OPT_ENVELOPE: c->envelope = 1; break;
	case OPT_GROUP: c->group = arg; break;
	case OPT_COUNT:
		c->count = mas_cli_parse_count("--count", arg, 1, 1L << 40);
		break;
	case OPT_FOLLOW: c->follow = 1; break;
	case OPT_FROM_START: c->from_start = 1; break;
	case OPT_PAYLOAD: c->payload = 1; break;
	case OPT_VISIBILITY:
		c->visibility = parse_seconds("--visibility", arg);
		break;
	case OPT_TIMEOUT: c->timeout = parse_seconds("--timeout", arg); break;
	case OPT_BY: c->by = arg; break;
	case OPT_OLDER_THAN:
		c->older_than = mas_cli_parse_duration("--older-than", arg);
		break;
	case OPT_TO: add_route(c, arg); break;
	case OPT_PREFETCH:
		c->prefetch = (size_t)mas_cli_parse_count("--prefetch", arg, 1,
		                                          65536);
		break;
	case OPT_MAX_DELIVER:
		c->max_deliver = (int)mas_cli_parse_count("--max-deliver", arg,
		                                          1, 1000000);
		break;
	case ARGP_KEY_ARG: positional(c, arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* Open the bus; 0, or mas_bus_open's status with *ERROR when it is out
 * of reach for now (a usage error ends the program). */
static int try_open_bus(struct bus_command *command, char **error)
{
	const char *url = command->url;
	int usage, status;

	if (!url)
		url = mas_config_get(&command->cli.config, "bus.url");
	status = mas_bus_open(&command->bus, &command->cli.config, url,
	                      &usage, error);
	if (status == 0) {
		command->bus.timeout = command->timeout;
		return 0;
	}
	if (usage)
		mas_die(MAS_EXIT_USAGE, "%s", *error ? *error :
		        "cannot open the bus");
	return status;
}

static void open_bus(struct bus_command *command)
{
	char *error = NULL;

	if (try_open_bus(command, &error))
		mas_die(MAS_EXIT_TEMPFAIL, "%s", error ? error :
		        "cannot open the bus");
}

/* The topic argument, checked: an illegal one is a usage error. */
static void need_topic(struct bus_command *command, int pattern)
{
	if (!command->topic)
		mas_die(MAS_EXIT_USAGE, "%s: no topic given", command->verb);
	if (!mas_bus_topic_valid(command->topic, pattern))
		mas_die(MAS_EXIT_USAGE, "%s: '%s' is not a valid %s (tokens "
		        "of letters, digits, '-' and '_' joined by '.'%s)",
		        command->verb, command->topic,
		        pattern ? "subscription" : "topic",
		        pattern ? "; '*' a token, '>' the rest" : "");
}

/* The record loop over the input files for a verb: lines are the
 * user's payloads, so they keep their ids or lack of them. */
static struct mas_run_options input_records(struct bus_command *command,
                                            void (*each)(struct mas_run *,
                                                         jv, void *),
                                            void *data)
{
	struct mas_run_options run = { 0 };

	run.files = command->cli.files;
	run.file_count = command->cli.file_count;
	run.each = each;
	run.data = data;
	run.keep_rows_raw = 1;
	return run;
}

static int publish(struct bus_command *command)
{
	struct mas_bus_pub_options pub = {
		.bus = &command->bus,
		.topic = command->topic,
		.priority = command->priority,
		.receipts = command->cli.verbose,
		.envelope = command->envelope,
		.cli = &command->cli,
	};

	char *error = NULL;
	int status;

	need_topic(command, 0);
	/* A store locked by another process, a server down: said once,
	 * and every record fails with it (transient), none lost. */
	status = try_open_bus(command, &error);
	if (status) {
		mas_error_log("%s", error ? error : "cannot open the bus");
		pub.bus = NULL;
		pub.unavailable = error;
		pub.unavailable_status = status;
	}
	status = mas_bus_pub(&pub);
	free(error);
	return status;
}

static void sub_fail(char *error)
{
	mas_die(MAS_EXIT_TEMPFAIL, "%s", error ? error : "bus failure");
}

/* Join PATTERN as the subscription SUB, with the command's options; a
 * failure ends the program. */
static void sub_start(struct bus_command *command, struct mas_bus_sub *sub,
                      const char *pattern, const char *group)
{
	char *error = NULL;

	if (mas_bus_sub_init(sub, &command->bus, pattern, group,
	                     command->from_start, &error))
		mas_die(sub->usage ? MAS_EXIT_USAGE : MAS_EXIT_TEMPFAIL, "%s",
		        error ? error : "bus failure");
	if (command->visibility > 0)
		sub->visibility = command->visibility;
	if (command->max_deliver > 0)
		sub->max_deliver = command->max_deliver;
}

static int subscribe(struct bus_command *command)
{
	struct mas_bus_sub sub;
	struct mas_bus_copy_options copy = {
		.sub = &sub,
		.count = command->count,
		.follow = command->follow,
		.payload = command->payload,
		.prefetch = command->prefetch,
	};
	int status;

	need_topic(command, 1);
	open_bus(command);
	mas_output_init();
	sub_start(command, &sub, command->topic, command->group);
	status = mas_bus_copy_out(&copy);
	mas_bus_sub_release(&sub);
	return status;
}

/* ---- req: request and reply ---- */

/* The error record for the request RECORD's ID (consumed; invalid when
 * it had none) that failed with FAILURE (consumed): the request's id,
 * so the caller can tell which. */
static jv request_failed(struct mas_run *run, jv id, jv failure)
{
	jv record = mas_run_error_record(run, jv_invalid_get_msg(failure));

	if (jv_is_valid(id) && jv_get_kind(id) != JV_KIND_NULL)
		return jv_object_set(record, jv_string("id"), id);
	jv_free(id);
	return record;
}

/* The reply's payload, for --payload: anyone may answer on an inbox. */
static jv reply_payload(jv reply)
{
	jv payload = jv_get_kind(reply) == JV_KIND_OBJECT ?
	             jv_object_get(jv_copy(reply), jv_string("payload")) :
	             jv_invalid();

	jv_free(reply);
	if (jv_is_valid(payload))
		return payload;
	jv_free(payload);
	return jv_invalid_with_msg(jv_object_set(mas_error(
		MAS_ERR_UPSTREAM_ERROR, "the reply has no payload"),
		jv_string("transient"), jv_false()));
}

static void request_each(struct mas_run *run, jv record, void *data)
{
	struct bus_command *command = data;
	jv id = jv_object_get(jv_copy(record), jv_string("id"));
	jv payload = mas_agent_input(&command->cli, record), reply;

	jv_free(record);
	if (!jv_is_valid(payload)) {
		mas_run_emit(run, request_failed(run, id, payload));
		return;
	}
	reply = mas_bus_request(&command->bus, command->topic,
	                        command->priority, payload,
	                        command->timeout > 0 ? command->timeout : 30);
	if (jv_is_valid(reply) && command->payload)
		reply = reply_payload(reply);
	if (!jv_is_valid(reply)) {
		mas_run_emit(run, request_failed(run, id, reply));
		return;
	}
	jv_free(id);
	mas_run_emit(run, reply);
}

static int request(struct bus_command *command)
{
	struct mas_run_options run;

	need_topic(command, 0);
	open_bus(command);
	run = input_records(command, request_each, command);
	return mas_run_records(&run);
}

/* ---- serve: a worker around a co-process ---- */

/* COMMAND's words after --, NULL-terminated, as execvp wants them. */
static char **serve_argv(struct bus_command *command)
{
	char **argv = calloc((size_t)command->cli.file_count + 1,
	                     sizeof(*argv));

	if (!argv)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	memcpy(argv, command->cli.files,
	       (size_t)command->cli.file_count * sizeof(*argv));
	return argv;
}

/* A worker's co-process and what it is owed. */
struct worker {
	struct mas_coprocess child;
	double timeout;    /* seconds it may owe an answer in silence */
	long count;        /* requests this run may ask (0: no limit) */
	long asked;
	long timed_out;    /* requests failed with TIMEOUT */
};

/* The TIMEOUT error record answering PAYLOAD (borrowed), with its id
 * when it has one, after the command was killed for its silence. */
static jv timeout_record(struct worker *worker, jv payload)
{
	char message[512];
	jv record = jv_object();

	snprintf(message, sizeof(message), "serve: %s gave no answer within "
	         "%g s and was killed", worker->child.argv[0],
	         worker->timeout);
	mas_warn("%s", message);
	if (jv_get_kind(payload) == JV_KIND_OBJECT) {
		jv id = jv_object_get(jv_copy(payload), jv_string("id"));

		if (jv_is_valid(id))
			record = jv_object_set(record, jv_string("id"), id);
		else
			jv_free(id);
	}
	return jv_object_set(record, jv_string("error"),
	                     mas_error(MAS_ERR_TIMEOUT, "%s", message));
}

/* One request's payload through the co-process, one line in, one line
 * out.  The last request a --count allows closes the command's input
 * after it, so a command that reads ahead still answers.  A command
 * silent for --timeout is killed (started again for the next request)
 * and the request answered with a TIMEOUT error record; one that dies,
 * or answers with a line that is not JSON, stops the worker. */
static jv ask(void *data, jv request)
{
	struct worker *worker = data;
	struct mas_coprocess *child = &worker->child;
	size_t length, answer_length;
	jv payload = jv_object_get(request, jv_string("payload")), parsed;
	char *line, *answer, *error = NULL;

	if (child->pid == 0 && mas_coprocess_start(child, &error) != 0) {
		jv_free(payload);
		parsed = mas_fail(MAS_ERR_UPSTREAM_ERROR, "serve: %s", error);
		free(error);
		return parsed;
	}
	line = mas_json_dump_text(jv_copy(payload), &length);
	mas_coprocess_send(child, line, length);
	free(line);
	if (worker->count && ++worker->asked >= worker->count)
		mas_coprocess_close_input(child);
	answer = mas_coprocess_await(child, worker->timeout, &answer_length);
	if (!answer && !mas_coprocess_ended(child)) {
		mas_coprocess_stop(child, 1);
		worker->timed_out++;
		parsed = timeout_record(worker, payload);
		jv_free(payload);
		return parsed;
	}
	jv_free(payload);
	parsed = answer ? jv_parse_sized(answer, (int)answer_length)
	                : jv_invalid();
	if (jv_is_valid(parsed))
		return parsed;
	jv_free(parsed);
	return mas_fail(MAS_ERR_UPSTREAM_ERROR, "serve: %s ended or did not "
	                "answer with a JSON line", child->argv[0]);
}

/* The worker's exit status once its requests are done: its command,
 * given end of file, has --timeout to exit before it is killed. */
static int worker_end(struct bus_command *command, struct worker *worker)
{
	int running = worker->child.pid > 0;
	int status = mas_coprocess_finish(&worker->child, worker->timeout);
	int code = WIFEXITED(status) ? WEXITSTATUS(status)
	                             : 128 + WTERMSIG(status);

	if (running && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		mas_error_log("serve: %s did not exit within %g s of the end "
		              "of its input and was killed",
		              command->cli.files[0], worker->timeout);
	else if (running && code > 1)
		mas_error_log("serve: %s exited with status %d",
		              command->cli.files[0], code);
	if (worker->timed_out)
		mas_error_log("serve: %ld requests failed with TIMEOUT",
		              worker->timed_out);
	return (running && code > 1) || worker->timed_out ? MAS_EXIT_TEMPFAIL
	                                                  : MAS_EXIT_OK;
}

static int serve(struct bus_command *command)
{
	struct mas_bus_sub sub;
	struct worker worker = { .count = command->count };
	char **argv, *error = NULL;
	int status;

	need_topic(command, 1);
	if (command->cli.file_count == 0)
		mas_die(MAS_EXIT_USAGE, "serve: no command given (serve TOPIC "
		        "-- COMMAND [ARGS...])");
	open_bus(command);
	/* --timeout is the command's, not the wait for acknowledgements of
	 * the replies (pub's). */
	command->bus.timeout = 0;
	worker.timeout = command->timeout > 0 ? command->timeout
	                                      : MAS_ROUTE_TIMEOUT;
	/* Without --group, the workers of one pattern share one group. */
	if (!command->group)
		command->group = command->topic;
	command->from_start = 0;
	sub_start(command, &sub, command->topic, command->group);
	argv = serve_argv(command);
	mas_coprocess_init(&worker.child, "mas-bus", argv);
	if (mas_coprocess_start(&worker.child, &error) != 0)
		mas_die(MAS_EXIT_TEMPFAIL, "serve: %s", error);
	if (mas_bus_serve(&sub, command->count, command->follow,
	                  command->prefetch, ask, &worker, &error))
		sub_fail(error);
	mas_bus_sub_release(&sub);
	status = worker_end(command, &worker);
	mas_coprocess_release(&worker.child);
	free(argv);
	return status;
}

/* ---- route: dispatch to co-process filters, no broker ---- */

static int route_records(struct bus_command *command)
{
	struct mas_expr *by = mas_cli_compile("--by", command->by ?
	                                      command->by : ".type");
	struct mas_route_set *set = mas_route_set_new(by, command->timeout);
	struct mas_run_options run;
	int status;

	if (command->route_count == 0)
		mas_die(MAS_EXIT_USAGE, "route: no --to NAME=COMMAND given");
	for (int i = 0; i < command->route_count; i++) {
		char *error = NULL;

		if (!set || mas_route_add(set, command->routes[i], &error))
			mas_die(MAS_EXIT_USAGE, "%s", error ? error :
			        "out of memory");
	}
	run = input_records(command, mas_route_each, set);
	run.keep_rows_raw = 0; /* records, each with an id */
	run.wait = mas_route_wait;
	run.input_end = mas_route_input_end;
	run.jobs = 4096;
	status = mas_run_records(&run);
	if (mas_route_set_free(set) && status == MAS_EXIT_OK)
		status = MAS_EXIT_RECORDS;
	mas_expr_free(by);
	return status;
}

/* ---- replay: dead letters sent back ---- */

/* replay's --to TOPIC (route's option, given once), or NULL. */
static const char *to_topic(const struct bus_command *command)
{
	if (command->route_count > 1)
		mas_die(MAS_EXIT_USAGE, "replay: --to given %d times",
		        command->route_count);
	return command->route_count ? command->routes[0] : NULL;
}

/* The group replay consumes PATTERN as, unless --group names one. */
static char *replay_group(struct bus_command *command)
{
	char *group;

	if (command->group)
		return strdup(command->group);
	if (asprintf(&group, "replay:%s", command->topic) < 0)
		return NULL;
	return group;
}

/* The end of a replayed message's id: "-replay", or "-replay-GROUP"
 * for a group named (its characters made token ones), so that each
 * group's replays have ids of their own. */
static void replay_suffix(const char *group, char *suffix, size_t size)
{
	char topic[300];

	if (!group) {
		snprintf(suffix, size, "-replay");
		return;
	}
	mas_bus_dead_topic(group, topic, sizeof(topic));
	snprintf(suffix, size, "-replay-%s", topic + strlen("_dead."));
}

static void replay_check(struct bus_command *command)
{
	need_topic(command, 1);
	if (strncmp(command->topic, "_dead.", 6) != 0)
		mas_die(MAS_EXIT_USAGE, "replay: '%s' is not a dead-letter "
		        "topic (_dead.GROUP)", command->topic);
	if (to_topic(command) && !mas_bus_topic_valid(to_topic(command), 0))
		mas_die(MAS_EXIT_USAGE, "replay: --to '%s' is not a valid "
		        "topic", to_topic(command));
	if (to_topic(command) &&
	    mas_bus_topic_match(command->topic, to_topic(command)))
		mas_die(MAS_EXIT_USAGE, "replay: --to %s is among the "
		        "messages replayed (%s): it would loop",
		        to_topic(command), command->topic);
}

static int replay(struct bus_command *command)
{
	struct mas_bus_sub sub;
	struct mas_bus_replay_options replaying = {
		.sub = &sub,
		.to = to_topic(command),
		.count = command->count,
	};
	char *group, *error = NULL, suffix[320];
	long replayed, skipped;

	replay_check(command);
	replay_suffix(command->group, suffix, sizeof(suffix));
	replaying.suffix = suffix;
	open_bus(command);
	mas_output_init();
	group = replay_group(command);
	if (!group)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	command->from_start = 0;
	sub_start(command, &sub, command->topic, group);
	replayed = mas_bus_replay(&replaying, &skipped, &error);
	mas_bus_sub_release(&sub);
	free(group);
	if (replayed < 0)
		sub_fail(error);
	printf("{\"replayed\":%ld,\"skipped\":%ld}\n", replayed, skipped);
	return skipped ? MAS_EXIT_RECORDS : MAS_EXIT_OK;
}

static int stat_bus(struct bus_command *command)
{
	jv rows;

	open_bus(command);
	mas_output_init();
	rows = mas_bus_stat(&command->bus);
	if (!jv_is_valid(rows)) {
		jv message = jv_object_get(jv_invalid_get_msg(rows),
		                           jv_string("message"));

		mas_error_log("%s", jv_string_value(message));
		jv_free(message);
		return MAS_EXIT_TEMPFAIL;
	}
	mas_bus_stat_metrics(rows);
	jv_array_foreach(rows, i, row) {
		jv line = jv_dump_string(row, 0);

		puts(jv_string_value(line));
		jv_free(line);
	}
	jv_free(rows);
	return MAS_EXIT_OK;
}

static int gc_bus(struct bus_command *command)
{
	char *error = NULL;
	long removed;

	if (command->older_than < 0)
		mas_die(MAS_EXIT_USAGE, "gc: --older-than is needed");
	if (command->topic)
		mas_die(MAS_EXIT_USAGE, "gc: takes no topic");
	open_bus(command);
	mas_output_init();
	removed = mas_bus_gc(&command->bus, command->older_than, &error);
	if (removed < 0) {
		mas_error_log("%s", error);
		free(error);
		return removed == -2 ? MAS_EXIT_USAGE : MAS_EXIT_IO;
	}
	printf("{\"removed\":%ld}\n", removed);
	return MAS_EXIT_OK;
}

static int run_verb(struct bus_command *command)
{
	if (!command->verb)
		mas_die(MAS_EXIT_USAGE, "no verb given: pub, sub, req, serve, "
		        "route, stat, gc or replay");
	if (strcmp(command->verb, "pub") == 0)
		return publish(command);
	if (strcmp(command->verb, "sub") == 0)
		return subscribe(command);
	if (strcmp(command->verb, "stat") == 0)
		return stat_bus(command);
	if (strcmp(command->verb, "req") == 0)
		return request(command);
	if (strcmp(command->verb, "serve") == 0)
		return serve(command);
	if (strcmp(command->verb, "route") == 0)
		return route_records(command);
	if (strcmp(command->verb, "gc") == 0)
		return gc_bus(command);
	if (strcmp(command->verb, "replay") == 0)
		return replay(command);
	mas_die(MAS_EXIT_USAGE, "'%s' is not a verb: pub, sub, req, serve, "
	        "route, stat, gc or replay",
	        command->verb);
}

int main(int argc, char **argv)
{
	static const char doc[] =
		"Publish records to topics and consume them, alone or as a "
		"durable work-queue group, on the embedded SQLite bus or "
		"on NATS.\v"
		"Verbs: pub TOPIC [FILE...] (records in, messages out), "
		"sub PATTERN (messages to stdout), req TOPIC [FILE...] "
		"(request and wait for the reply), serve PATTERN -- COMMAND "
		"[ARG...] (answer requests through COMMAND), route --to "
		"NAME=COMMAND... [FILE...] (dispatch to filters, no bus), "
		"stat (figures), gc --older-than DURATION (remove old "
		"messages no group owes), replay _dead.GROUP [--to TOPIC] "
		"(send dead letters back).  "
		"See mas-bus(1).";
	struct argp_child children[] = {
		{ &mas_cli_argp, 0, "Options every mas program takes:", 0 },
		{ 0 }
	};
	struct argp argp = { options, parse_option, "VERB [TOPIC] [FILE...]",
		             doc, children, NULL, NULL };
	struct bus_command command = { 0 };
	int status;

	mas_cli_init(&command.cli, "mas-bus", "bus");
	command.older_than = -1;
	command.priority = MAS_BUS_NORMAL;
	mas_cli_parse(&command.cli, &argp, argc, argv, &command);
	mas_cli_setup(&command.cli);
	status = run_verb(&command);
	free(command.routes);
	mas_bus_close(&command.bus);
	mas_cli_release(&command.cli);
	mas_output_close();
	return status;
}
