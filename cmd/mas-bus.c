/*
 * mas-bus — the message bus: publish records to topics, subscribe alone
 * or as a durable work-queue group, show the figures.  See mas-bus(1).
 */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "agent.h"
#include "bus.h"
#include "clock.h"
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

/* A span continuing nothing, its traceparent in the envelope. */
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

/* ENVELOPE's member KEY (borrows ENVELOPE), or invalid when it has
 * none or is no object: anyone may publish anything on a NATS subject,
 * or write a row into the store. */
static jv member(jv envelope, const char *key)
{
	if (jv_get_kind(envelope) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(envelope), jv_string(key));
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

/* How long a fetch waits for a first message: with --follow a while
 * (then the loop looks again), else not at all. */
static double fetch_wait(struct bus_command *command)
{
	return command->follow ? 1.0 : 0;
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

/* The reply in BATCH (consumed) whose correlation_id is ID, or
 * jv_invalid() when none is. */
static jv find_reply(jv batch, const char *id)
{
	jv found = jv_invalid();

	jv_array_foreach(batch, i, text) {
		jv envelope = jv_parse(jv_string_value(text));
		jv correlation = member(envelope, "correlation_id");

		jv_free(text);
		if (!jv_is_valid(found) &&
		    jv_get_kind(correlation) == JV_KIND_STRING &&
		    strcmp(jv_string_value(correlation), id) == 0) {
			found = envelope;
			envelope = jv_invalid();
		}
		jv_free(correlation);
		jv_free(envelope);
	}
	jv_free(batch);
	return found;
}

static jv await_reply(struct bus_command *command, struct mas_bus_sub *inbox,
                      const char *id)
{
	double timeout = command->timeout > 0 ? command->timeout : 30;
	double deadline = mas_clock_monotonic() + timeout;

	for (;;) {
		double left = deadline - mas_clock_monotonic();
		char *error = NULL;
		jv batch, reply;

		if (mas_bus_fetch_wait(inbox, 64, left > 0 ? left : 0, &batch,
		                       &error) < 0) {
			jv failure = mas_fail(MAS_ERR_UPSTREAM_ERROR, "%s",
			                      error ? error : "bus failure");
			free(error);
			jv_free(batch);
			return failure;
		}
		reply = find_reply(batch, id);
		if (jv_is_valid(reply))
			return reply;
		jv_free(reply);
		if (mas_clock_monotonic() >= deadline)
			return mas_fail(MAS_ERR_TIMEOUT, "no reply to %s on "
			                "%s within %g s", id, inbox->pattern,
			                timeout);
	}
}

/* ENVELOPE (consumed) made a request: a private inbox to reply to. */
static jv make_request(jv envelope, char *inbox, size_t size)
{
	jv id = jv_object_get(jv_copy(envelope), jv_string("id"));

	snprintf(inbox, size, "_inbox.%s", jv_string_value(id));
	envelope = jv_object_set(envelope, jv_string("type"),
	                         jv_string("request"));
	envelope = jv_object_set(envelope, jv_string("reply_to"),
	                         jv_string(inbox));
	return jv_object_set(envelope, jv_string("correlation_id"), id);
}

static void request_each(struct mas_run *run, jv record, void *data)
{
	struct bus_command *command = data;
	struct mas_bus_sub inbox;
	char name[64], *error = NULL;
	jv envelope = mas_agent_input(&command->cli, record), id, reply;

	jv_free(record);
	if (!jv_is_valid(envelope)) {
		mas_run_emit(run, mas_run_error_record(run,
		             jv_invalid_get_msg(envelope)));
		return;
	}
	envelope = make_request(mas_bus_envelope(&command->bus,
	                        command->topic, command->priority, envelope),
	                        name, sizeof(name));
	id = jv_object_get(jv_copy(envelope), jv_string("id"));
	/* Listen before asking, so a quick reply is not missed. */
	if (mas_bus_sub_init(&inbox, &command->bus, name, NULL, 0, &error)) {
		jv_free(envelope);
		reply = mas_fail(MAS_ERR_UPSTREAM_ERROR, "%s",
		                 error ? error : "bus failure");
	} else if (mas_bus_publish(&command->bus, envelope, &error) < 0 ||
	           mas_bus_commit(&command->bus, &error))
		reply = mas_fail(MAS_ERR_UPSTREAM_ERROR, "%s",
		                 error ? error : "bus failure");
	else
		reply = await_reply(command, &inbox, jv_string_value(id));
	mas_bus_sub_release(&inbox);
	free(error);
	jv_free(id);
	if (jv_is_valid(reply) && command->payload) {
		jv payload = member(reply, "payload");

		jv_free(reply);
		/* permanent: asking again gets the same responder */
		reply = jv_is_valid(payload) ? payload : jv_invalid_with_msg(
			jv_object_set(mas_error(MAS_ERR_UPSTREAM_ERROR, "the "
			                        "reply has no payload"),
			              jv_string("transient"), jv_false()));
		if (!jv_is_valid(reply))
			jv_free(payload);
	}
	if (!jv_is_valid(reply))
		reply = mas_run_error_record(run, jv_invalid_get_msg(reply));
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

/* One line in, one line out: the answer, or jv_invalid() when the
 * co-process died or wrote a line that is not JSON. */
static jv ask(struct mas_coprocess *child, jv payload)
{
	size_t length, answer_length;
	char *line = mas_json_dump_text(payload, &length);
	char *answer = mas_coprocess_ask(child, line, length, &answer_length);

	free(line);
	return answer ? jv_parse_sized(answer, (int)answer_length) :
	       jv_invalid();
}

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

/* The reply to REQUEST (borrowed) carrying ANSWER (consumed).  Its id is
 * the request's with "-reply" added, so a request served twice after a
 * crash is answered once: the log stores an id once. */
static jv make_reply(struct bus_command *command, jv request, jv answer)
{
	jv id = jv_object_get(jv_copy(request), jv_string("id"));
	jv to = jv_object_get(jv_copy(request), jv_string("reply_to"));
	jv topic = jv_object_get(jv_copy(request), jv_string("topic"));
	jv reply;

	if (jv_get_kind(to) != JV_KIND_STRING ||
	    !mas_bus_topic_valid(jv_string_value(to), 0)) {
		jv_free(to);
		to = jv_string_fmt("%s.done", jv_string_value(topic));
	}
	reply = mas_bus_envelope(&command->bus, jv_string_value(to),
	                         MAS_BUS_NORMAL, answer);
	reply = jv_object_set(reply, jv_string("id"),
	                      jv_string_fmt("%s-reply", jv_string_value(id)));
	reply = jv_object_set(reply, jv_string("type"), jv_string("response"));
	reply = jv_object_set(reply, jv_string("correlation_id"), id);
	jv_free(to);
	jv_free(topic);
	return reply;
}

static int is_response(jv envelope)
{
	jv type = member(envelope, "type");
	int yes = jv_get_kind(type) == JV_KIND_STRING &&
	          strcmp(jv_string_value(type), "response") == 0;

	jv_free(type);
	return yes;
}

/* Whether REQUEST (borrowed) can be answered: an object with a string
 * id and topic, as every envelope mas publishes. */
static int is_request(jv request)
{
	jv id = member(request, "id"), topic = member(request, "topic");
	int yes = jv_get_kind(id) == JV_KIND_STRING &&
	          jv_get_kind(topic) == JV_KIND_STRING;

	jv_free(id);
	jv_free(topic);
	return yes;
}

/* Answer one request through CHILD and publish the reply. */
static void serve_one(struct bus_command *command,
                      struct mas_coprocess *child, jv text)
{
	jv request = jv_parse(jv_string_value(text));
	char *error = NULL;
	jv answer;

	if (is_response(request)) {
		jv_free(text);
		jv_free(request); /* our own replies, if the pattern matches */
		return;
	}
	if (!is_request(request)) {
		mas_warn("serve: skipped a message that is not an envelope "
		         "with a string id and topic: %.200s",
		         jv_string_value(text));
		jv_free(text);
		jv_free(request);
		return;
	}
	jv_free(text);
	answer = ask(child, jv_object_get(jv_copy(request),
	                                  jv_string("payload")));
	if (!jv_is_valid(answer)) {
		jv_free(answer);
		jv_free(request);
		mas_die(MAS_EXIT_TEMPFAIL, "serve: %s ended or did not answer "
		        "with a JSON line", command->cli.files[0]);
	}
	if (mas_bus_publish(&command->bus, make_reply(command, request,
	                                              answer), &error) < 0)
		sub_fail(error);
	mas_metrics_count("mas_bus_served_total", "Requests answered.",
	                  NULL, 1);
	jv_free(request);
}

static void serve_loop(struct bus_command *command, struct mas_bus_sub *sub,
                       struct mas_coprocess *child)
{
	long done = 0;
	char *error = NULL;

	/* A worker claims what it can start soon (--prefetch, default
	 * one): claims beyond that wait behind a slow command while
	 * other workers idle. */
	long prefetch = command->prefetch ? (long)command->prefetch : 1;

	while (!command->count || done < command->count) {
		long want = command->count ? command->count - done : prefetch;
		size_t max = (size_t)(want > prefetch ? prefetch : want);
		jv batch;
		long count = mas_bus_fetch_wait(sub, max, fetch_wait(command),
		                                &batch, &error);

		if (count < 0)
			sub_fail(error);
		/* The batch's replies in one transaction (SQLite) or one
		 * wait for the server's acks (NATS). */
		if (count > 0 && mas_bus_begin(&command->bus, &error))
			sub_fail(error);
		jv_array_foreach(batch, i, text)
			serve_one(command, child, text);
		jv_free(batch);
		if (count > 0 && mas_bus_commit(&command->bus, &error))
			sub_fail(error);
		/* Acknowledged only now that every reply is stored. */
		if (mas_bus_ack(sub, &error))
			sub_fail(error);
		done += count;
		if (count == 0 && !command->follow)
			break;
	}
}

static int serve(struct bus_command *command)
{
	struct mas_bus_sub sub;
	struct mas_coprocess child;
	char **argv, *error = NULL;
	int status;

	need_topic(command, 1);
	if (command->cli.file_count == 0)
		mas_die(MAS_EXIT_USAGE, "serve: no command given (serve TOPIC "
		        "-- COMMAND [ARGS...])");
	open_bus(command);
	/* Without --group, the workers of one pattern share one group. */
	if (!command->group)
		command->group = command->topic;
	command->from_start = 0;
	sub_start(command, &sub, command->topic, command->group);
	argv = serve_argv(command);
	mas_coprocess_init(&child, "mas-bus", argv);
	if (mas_coprocess_start(&child, &error) != 0)
		mas_die(MAS_EXIT_TEMPFAIL, "serve: %s", error);
	serve_loop(command, &sub, &child);
	mas_bus_sub_release(&sub);
	status = mas_coprocess_stop(&child, 0);
	mas_coprocess_release(&child);
	free(argv);
	if (WIFEXITED(status) && WEXITSTATUS(status) <= 1)
		return MAS_EXIT_OK;
	mas_error_log("serve: %s exited with status %d",
	              command->cli.files[0], WIFEXITED(status) ?
	              WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return MAS_EXIT_TEMPFAIL;
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
