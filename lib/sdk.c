/*
 * sdk.c — libmas's public interface (include/mas/mas.h, libmas(3)).
 *
 * Nothing here is an agent, a flow or a bus: each handle wraps the
 * module the programs use.  An agent or a workflow is a mas-serve
 * worker's set (serve-agents.h) holding that one agent or that one flow
 * file, so an embedded agent is made exactly as mas-serve and mas-flow
 * make theirs and a flow runs in a `mas-flow run` co-process as
 * mas-serve runs it; the bus handles are bus.h's and bus-rpc.h's.  What
 * is added is what a library owes its caller and a program does not: no
 * exit on a bad setting (checked first, returned as a message), records
 * given back whole when they could not be run, text in and out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "bus-rpc.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "flow.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "record.h"
#include "serve-agents.h"
#include "banned.h"

/* The longest wait a run may be given, so that milliseconds fit in an
 * int where the model client and the co-process poll take them. */
#define LONGEST_WAIT 1e6

/* Hand MESSAGE (malloc'd, may be NULL) to the caller's ERROR, which may
 * be NULL. */
static void give(char **error, char *message)
{
	if (error)
		*error = message;
	else
		free(message);
}

static void fail(char **error, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(char **error, const char *format, ...)
{
	va_list ap;
	char *message;

	va_start(ap, format);
	if (vasprintf(&message, format, ap) < 0)
		message = NULL;
	va_end(ap);
	give(error, message);
}

/* ---- settings ---- */

struct mas_settings {
	struct mas_config config;
};

/* The log level and format the settings ask for; a bad value is left
 * to the default, as the file's own check reports it to programs. */
static void apply_logging(const struct mas_config *config)
{
	const char *level = mas_config_get(config, "log.level");
	const char *format = mas_config_get(config, "log.format");

	/* messages say who wrote them: "libmas: ...", unless the
	 * embedding program named itself */
	if (strcmp(mas_log_program(), "mas") == 0)
		mas_log_init("libmas");
	if (level && mas_log_level_parse(level) >= 0)
		mas_log_set_level((enum mas_log_level)mas_log_level_parse(
			level));
	if (format && mas_log_format_parse(format) >= 0)
		mas_log_set_format((enum mas_log_format)mas_log_format_parse(
			format));
}

mas_settings *mas_settings_new(const char *file, char **error)
{
	mas_settings *s = calloc(1, sizeof(*s));
	char *why = NULL;

	if (!s) {
		fail(error, "out of memory");
		return NULL;
	}
	mas_config_init(&s->config);
	mas_config_load_env(&s->config);
	if (mas_config_load_file(&s->config, file, &why) != 0) {
		give(error, why);
		mas_settings_free(s);
		return NULL;
	}
	apply_logging(&s->config);
	return s;
}

static int known_key(const char *key)
{
	const struct mas_config_key *keys = mas_config_keys();

	for (size_t i = 0; keys[i].name; i++)
		if (strcmp(keys[i].name, key) == 0)
			return 1;
	return 0;
}

int mas_settings_set(mas_settings *s, const char *key, const char *value,
                     char **error)
{
	if (!key || !known_key(key)) {
		fail(error, "%s: not a configuration key (mas(7) lists them)",
		     key ? key : "(null)");
		return MAS_EXIT_USAGE;
	}
	mas_config_set(&s->config, key, value, MAS_CONFIG_FLAG);
	if (strncmp(key, "log.", 4) == 0)
		apply_logging(&s->config);
	return MAS_EXIT_OK;
}

const char *mas_settings_get(const mas_settings *s, const char *key)
{
	return key && known_key(key) ? mas_config_get(&s->config, key) : NULL;
}

void mas_settings_free(mas_settings *s)
{
	if (!s)
		return;
	mas_config_release(&s->config);
	free(s);
}

/* ---- what agents and workflows share ---- */

/*
 * A mas-serve worker's set over a copy of the settings: the agents
 * borrow the values of the configuration they are made from for as long
 * as they live, and the caller may change or free theirs.
 */
struct runner {
	const char *flow;         /* the flow's name, for messages */
	struct mas_cli cli;
	struct mas_serve_agents_options options;
	struct mas_serve_agents *agents;
	double timeout;
};

/* FROM's values into TO (initialised); without FROM, the environment's,
 * as mas_settings_new would read them with no file. */
static void copy_config(struct mas_config *to, const struct mas_config *from)
{
	const struct mas_config_key *keys = mas_config_keys();

	if (!from) {
		mas_config_load_env(to);
		return;
	}

	for (size_t i = 0; keys[i].name; i++)
		for (int source = 0; source < MAS_CONFIG_SOURCES; source++)
			if (from->values[i][source])
				mas_config_set(to, keys[i].name,
				               from->values[i][source],
				               (enum mas_config_source)source);
}

/* serve.task_timeout in seconds, as a mas-serve task waits. */
static double run_timeout(const struct mas_config *config)
{
	const char *text = mas_config_get(config, "serve.task_timeout");
	char *end;
	double seconds = text ? strtod(text, &end) : 0;

	if (!text || end == text || *end != '\0' || !(seconds > 0))
		return 300;
	return seconds < LONGEST_WAIT ? seconds : LONGEST_WAIT;
}

/* The model settings, checked as mas_engine_setup checks them but
 * reported rather than fatal; the workers' engines are then made from
 * settings known good. */
static int check_model(struct mas_cli *cli, char **error)
{
	struct mas_engine engine;
	char *why = NULL;
	int status;

	mas_engine_init(&engine, cli);
	engine.per_thread = 1;
	status = mas_engine_open(&engine, &why);
	mas_engine_release(&engine);
	if (status != 0)
		give(error, why);
	else
		free(why);
	return status;
}

static int runner_init(struct runner *r, const mas_settings *settings,
                       char **error)
{
	memset(r, 0, sizeof(*r));
	/* not mas_cli_init: that sets up a program's command line */
	r->cli.program = mas_log_program();
	mas_config_init(&r->cli.config);
	copy_config(&r->cli.config, settings ? &settings->config : NULL);
	r->timeout = run_timeout(&r->cli.config);
	r->options.cli = &r->cli;
	r->options.flow_command = "mas-flow";
	r->options.quiet = 1;
	return check_model(&r->cli, error);
}

static void runner_release(struct runner *r)
{
	mas_serve_agents_free(r->agents);
	mas_config_release(&r->cli.config);
}

/* RECORD (consumed) through R's agent KIND or flow; a failure to run it
 * comes back as the record with an "error". */
static jv runner_run(struct runner *r, enum mas_serve_agent kind, jv record)
{
	const char *what = kind == MAS_SERVE_FLOW ? "a flow's"
	                                          : "an agent's";
	jv out;

	if (jv_get_kind(record) != JV_KIND_OBJECT) {
		char id[MAS_ID_SIZE];
		const char *kind_name = jv_kind_name(jv_get_kind(record));

		mas_id_new(id);
		out = JV_OBJECT(jv_string("id"), jv_string(id),
		                jv_string("error"),
		                mas_error(MAS_ERR_INVALID_REQUEST, "%s record "
		                          "must be a JSON object, not %s",
		                          what, kind_name));
		jv_free(record);
		return out;
	}
	record = mas_record_ensure_id(record);
	out = mas_serve_agents_run(r->agents, kind, r->flow, jv_copy(record),
	                           mas_clock_monotonic() + r->timeout, NULL,
	                           NULL);
	if (jv_is_valid(out)) {
		jv_free(record);
		return out;
	}
	return jv_object_set(record, jv_string("error"),
	                     jv_invalid_get_msg(out));
}

/* The text form of runner_run. */
static int runner_run_json(struct runner *r, enum mas_serve_agent kind,
                           const char *json, char **out)
{
	jv record = jv_parse(json ? json : "");
	size_t length;
	int status;

	if (!jv_is_valid(record)) {
		jv message = jv_invalid_get_msg(record);
		char id[MAS_ID_SIZE];

		mas_id_new(id);
		record = JV_OBJECT(jv_string("id"), jv_string(id),
		                   jv_string("error"),
		                   mas_error(MAS_ERR_INVALID_REQUEST,
		                             "not JSON: %s",
		                             jv_get_kind(message) ==
		                                     JV_KIND_STRING
		                             ? jv_string_value(message)
		                             : "no value"));
		jv_free(message);
	} else {
		record = runner_run(r, kind, record);
	}
	status = mas_record_status(record);
	*out = mas_json_dump_text(record, &length);
	return *out ? status : MAS_EXIT_TEMPFAIL;
}

/* ---- agents ---- */

struct mas_agent {
	struct runner runner;
	enum mas_serve_agent kind;
};

static int agent_kind(const char *name)
{
	static const char *const names[] = {
		[MAS_SERVE_ANALYSIS] = "analyze",
		[MAS_SERVE_CHAT] = "chat",
		[MAS_SERVE_RESEARCH] = "research",
	};

	for (int kind = 0; kind < MAS_SERVE_AGENT_COUNT; kind++)
		if (name && strcmp(name, names[kind]) == 0)
			return kind;
	return -1;
}

/* PROBLEM as an agent node words it, "node 'chat': agent chat: no
 * knowledge base...", without the node's part: there is no node here. */
static const char *own_words(const char *problem, const char *kind)
{
	char prefix[64];
	size_t length;

	snprintf(prefix, sizeof(prefix), "node '%s': agent %s: ", kind, kind);
	length = strlen(prefix);
	return strncmp(problem, prefix, length) == 0 ? problem + length
	                                             : problem;
}

mas_agent *mas_agent_open(const mas_settings *settings, const char *kind,
                          char **error)
{
	int k = agent_kind(kind);
	mas_agent *a;
	const char *problem;

	if (k < 0) {
		fail(error, "'%s' is not an agent: analyze, research or chat",
		     kind ? kind : "(null)");
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		fail(error, "out of memory");
		return NULL;
	}
	a->kind = (enum mas_serve_agent)k;
	if (runner_init(&a->runner, settings, error) != 0) {
		mas_agent_close(a);
		return NULL;
	}
	a->runner.options.agents = 1u << k;
	a->runner.options.sessions = a->kind == MAS_SERVE_CHAT;
	a->runner.agents = mas_serve_agents_new(&a->runner.options);
	problem = a->runner.agents ? mas_serve_agents_problem(
	                                     a->runner.agents, a->kind)
	                           : "out of memory";
	if (problem) {
		fail(error, "%s: %s", kind, own_words(problem, kind));
		mas_agent_close(a);
		return NULL;
	}
	return a;
}

jv mas_agent_run(mas_agent *agent, jv record)
{
	return runner_run(&agent->runner, agent->kind, record);
}

int mas_agent_run_json(mas_agent *agent, const char *json, char **out)
{
	return runner_run_json(&agent->runner, agent->kind, json, out);
}

const char *mas_agent_key(const mas_agent *agent)
{
	return mas_serve_agent_key(agent->kind);
}

void mas_agent_close(mas_agent *agent)
{
	if (!agent)
		return;
	runner_release(&agent->runner);
	free(agent);
}

/* ---- flows ---- */

struct mas_workflow {
	struct runner runner;
	char *path;
	char *config_file;        /* the settings, for mas-flow; removed
	                           * at close */
	char **argv;              /* env -u VAR... mas-flow --config FILE
	                           * run (the flow's path is added) */
};

/*
 * The flow runs in a co-process, which reads its configuration as any
 * mas program does.  So that it runs with the settings it was opened
 * with, their values (all but the defaults) are written to a private
 * file (mode 0600: a key may be a secret) handed to it with --config,
 * and the environment variables of keys the caller set are unset for it,
 * so that those keys win there as they do here.  A value holding a
 * newline cannot be written as a line and is left to the environment.
 */
static char *write_settings(const struct mas_config *config, char **error)
{
	const struct mas_config_key *keys = mas_config_keys();
	const char *folder = getenv("TMPDIR");
	char *path;
	FILE *out;
	int fd;

	if (!folder || !*folder)
		folder = "/tmp";
	if (asprintf(&path, "%s/libmas-XXXXXX", folder) < 0) {
		fail(error, "out of memory");
		return NULL;
	}
	fd = mkstemp(path);
	out = fd >= 0 ? fdopen(fd, "w") : NULL;
	for (size_t i = 0; out && keys[i].name; i++) {
		const char *value = mas_config_get(config, keys[i].name);
		if (value && !strchr(value, '\n') &&
		    mas_config_source_of(config, keys[i].name) !=
		            MAS_CONFIG_DEFAULT)
			fprintf(out, "%s = \"%s\"\n", keys[i].name, value);
	}
	if (!out || ferror(out) | fclose(out)) {
		fail(error, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(path);
		if (fd >= 0 && !out)
			close(fd);
		free(path);
		return NULL;
	}
	return path;
}

/* W's command: env -u VAR... mas-flow --config FILE run. */
static int flow_command(mas_workflow *w, char **error)
{
	const struct mas_config *config = &w->runner.cli.config;
	const struct mas_config_key *keys = mas_config_keys();
	size_t count = 0;

	for (size_t i = 0; keys[i].name; i++)
		count++;
	w->argv = calloc(2 * count + 6, sizeof(*w->argv));
	if (!w->argv) {
		fail(error, "out of memory");
		return -1;
	}
	count = 0;
	w->argv[count++] = "env";
	for (size_t i = 0; keys[i].name; i++)
		if (keys[i].env && getenv(keys[i].env) &&
		    mas_config_source_of(config, keys[i].name) ==
		            MAS_CONFIG_FLAG) {
			w->argv[count++] = "-u";
			w->argv[count++] = (char *)keys[i].env;
		}
	w->argv[count++] = "mas-flow";
	w->argv[count++] = "--config";
	w->argv[count++] = w->config_file;
	w->argv[count++] = "run";
	return 0;
}

/* PATH's first problem as mas-flow check words it (malloc'd), or NULL
 * when it has none. */
static char *flow_problem(struct runner *r, const char *path)
{
	struct mas_engine engine;
	struct mas_flow flow;
	char *text = NULL, *problem = NULL, *why = NULL;
	size_t length = 0;
	FILE *log = open_memstream(&text, &length);
	int problems;

	if (!log)
		return strdup("out of memory");
	mas_engine_init(&engine, &r->cli);
	engine.per_thread = 1;
	if (mas_engine_open(&engine, &why) != 0) /* checked by runner_init */
		free(why);
	problems = mas_flow_load_to(&flow, path, &engine, log);
	mas_flow_release(&flow);
	mas_engine_release(&engine);
	fclose(log);
	if (problems != 0)
		problem = text && *text ? strndup(text, strcspn(text, "\n"))
		                        : strdup("cannot be loaded");
	free(text);
	return problem;
}

mas_workflow *mas_workflow_open(const mas_settings *settings,
                                const char *path, char **error)
{
	mas_workflow *w = calloc(1, sizeof(*w));
	char *problem;

	if (!w || !path) {
		fail(error, w ? "no flow file given" : "out of memory");
		free(w);
		return NULL;
	}
	w->path = strdup(path);
	if (!w->path || runner_init(&w->runner, settings, error) != 0) {
		if (!w->path)
			fail(error, "out of memory");
		mas_workflow_close(w);
		return NULL;
	}
	problem = flow_problem(&w->runner, path);
	if (problem) {
		give(error, problem);
		mas_workflow_close(w);
		return NULL;
	}
	w->runner.flow = strrchr(w->path, '/') ? strrchr(w->path, '/') + 1
	                                       : w->path;
	w->config_file = write_settings(&w->runner.cli.config, error);
	if (!w->config_file || flow_command(w, error) != 0) {
		mas_workflow_close(w);
		return NULL;
	}
	/* no agent of its own: the flow's are set up by mas-flow */
	w->runner.options.agents = 1u << MAS_SERVE_AGENT_COUNT;
	w->runner.options.flow_file = w->path;
	w->runner.options.flow_argv = w->argv;
	w->runner.agents = mas_serve_agents_new(&w->runner.options);
	if (!w->runner.agents) {
		fail(error, "out of memory");
		mas_workflow_close(w);
		return NULL;
	}
	return w;
}

jv mas_workflow_run(mas_workflow *flow, jv record)
{
	return runner_run(&flow->runner, MAS_SERVE_FLOW, record);
}

int mas_workflow_run_json(mas_workflow *flow, const char *json, char **out)
{
	return runner_run_json(&flow->runner, MAS_SERVE_FLOW, json, out);
}

void mas_workflow_close(mas_workflow *flow)
{
	if (!flow)
		return;
	runner_release(&flow->runner);
	if (flow->config_file)
		unlink(flow->config_file);
	free(flow->config_file);
	free(flow->argv);
	free(flow->path);
	free(flow);
}

/* ---- the bus ---- */

struct mas_bus_client {
	struct mas_config config;
	struct mas_bus bus;
};

/* A bus failure's status: the store busy or full, or the server away,
 * may pass; so may anything else the bus says, for it is not the
 * caller's argument. */
#define BUS_FAILED MAS_EXIT_TEMPFAIL

mas_bus_client *mas_bus_client_open(const mas_settings *settings,
                                    const char *url, int *status,
                                    char **error)
{
	mas_bus_client *c = calloc(1, sizeof(*c));
	int usage = 0;
	char *why = NULL;

	if (status)
		*status = MAS_EXIT_TEMPFAIL;
	if (!c) {
		fail(error, "out of memory");
		return NULL;
	}
	mas_config_init(&c->config);
	copy_config(&c->config, settings ? &settings->config : NULL);
	if (!url)
		url = mas_config_get(&c->config, "bus.url");
	if (mas_bus_open(&c->bus, &c->config, url, &usage, &why) != 0) {
		if (status)
			*status = usage ? MAS_EXIT_USAGE : MAS_EXIT_TEMPFAIL;
		give(error, why);
		mas_config_release(&c->config);
		free(c);
		return NULL;
	}
	if (status)
		*status = MAS_EXIT_OK;
	return c;
}

/* PAYLOAD's value, or an invalid jv with the reason said in *ERROR. */
static jv parse_payload(const char *payload, char **error)
{
	jv value = jv_parse(payload ? payload : "");
	jv message;

	if (jv_is_valid(value))
		return value;
	message = jv_invalid_get_msg(value);
	fail(error, "payload: not JSON: %s",
	     jv_get_kind(message) == JV_KIND_STRING
	     ? jv_string_value(message) : "no value");
	jv_free(message);
	return jv_invalid();
}

static int check_topic(const char *topic, char **error)
{
	if (topic && mas_bus_topic_valid(topic, 0))
		return 0;
	fail(error, "topic '%s': not tokens of letters, digits, '-' and "
	     "'_' joined by '.'", topic ? topic : "(null)");
	return -1;
}

int mas_bus_client_publish(mas_bus_client *c, const char *topic,
                           const char *payload, char **error)
{
	char *why = NULL;
	jv value;

	if (check_topic(topic, error) != 0)
		return MAS_EXIT_USAGE;
	value = parse_payload(payload, error);
	if (!jv_is_valid(value))
		return MAS_EXIT_USAGE;
	if (mas_bus_publish(&c->bus, mas_bus_envelope(&c->bus, topic,
	                                              MAS_BUS_NORMAL, value),
	                    &why) < 0) {
		give(error, why);
		return BUS_FAILED;
	}
	return MAS_EXIT_OK;
}

int mas_bus_client_request(mas_bus_client *c, const char *topic,
                           const char *payload, double timeout,
                           char **reply, char **error)
{
	size_t length;
	jv value, answer, message;

	*reply = NULL;
	if (check_topic(topic, error) != 0)
		return MAS_EXIT_USAGE;
	if (!(timeout >= 0)) {
		fail(error, "timeout: must be a number of seconds, 0 or more");
		return MAS_EXIT_USAGE;
	}
	value = parse_payload(payload, error);
	if (!jv_is_valid(value))
		return MAS_EXIT_USAGE;
	answer = mas_bus_request(&c->bus, topic, MAS_BUS_NORMAL, value,
	                         timeout < LONGEST_WAIT ? timeout
	                                                : LONGEST_WAIT);
	if (jv_is_valid(answer)) {
		*reply = mas_json_dump_text(answer, &length);
		return *reply ? MAS_EXIT_OK : MAS_EXIT_TEMPFAIL;
	}
	message = jv_getpath(jv_invalid_get_msg(answer),
	                     JV_ARRAY(jv_string("message")));
	fail(error, "%s", jv_get_kind(message) == JV_KIND_STRING
	     ? jv_string_value(message) : "no reply");
	jv_free(message);
	return MAS_EXIT_TEMPFAIL;
}

void mas_bus_client_close(mas_bus_client *c)
{
	if (!c)
		return;
	mas_bus_close(&c->bus);
	mas_config_release(&c->config);
	free(c);
}

struct mas_bus_subscription {
	struct mas_bus_sub sub;
	char *pattern, *group;
};

mas_bus_subscription *mas_bus_subscribe(mas_bus_client *c,
                                        const char *pattern,
                                        const char *group, char **error)
{
	mas_bus_subscription *s = calloc(1, sizeof(*s));
	char *why = NULL;

	if (!s || !pattern || !mas_bus_topic_valid(pattern, 1)) {
		fail(error, s ? "pattern '%s': not a topic pattern"
		              : "out of memory", pattern ? pattern : "(null)");
		free(s);
		return NULL;
	}
	/* the subscription borrows them */
	s->pattern = strdup(pattern);
	s->group = group ? strdup(group) : NULL;
	if (!s->pattern || (group && !s->group)) {
		fail(error, "out of memory");
		mas_bus_subscription_close(s);
		return NULL;
	}
	if (mas_bus_sub_init(&s->sub, &c->bus, s->pattern, s->group, 0,
	                     &why) != 0) {
		give(error, why);
		free(s->pattern);
		free(s->group);
		free(s);
		return NULL;
	}
	return s;
}

char *mas_bus_subscription_next(mas_bus_subscription *s, double wait,
                                char **error)
{
	struct mas_bus_batch batch = { 0 };
	char *why = NULL, *text = NULL;
	long count = mas_bus_fetch_batch(&s->sub, 1, wait >= 0 ? wait : 0,
	                                 &batch, &why);
	size_t length;

	if (count < 0)
		give(error, why);
	else if (count > 0)
		text = strdup(mas_bus_batch_text(&batch, 0, &length));
	if (count > 0 && !text)
		fail(error, "out of memory");
	mas_bus_batch_release(&batch);
	return text;
}

int mas_bus_subscription_ack(mas_bus_subscription *s, char **error)
{
	char *why = NULL;

	if (mas_bus_ack(&s->sub, &why) != 0) {
		give(error, why);
		return BUS_FAILED;
	}
	return MAS_EXIT_OK;
}

int mas_bus_subscription_each(mas_bus_subscription *s, long count,
                              double wait,
                              int (*each)(void *data, const char *envelope),
                              void *data, char **error)
{
	for (long done = 0; count <= 0 || done < count; done++) {
		char *why = NULL;
		char *envelope = mas_bus_subscription_next(s, wait, &why);
		int stop;

		if (!envelope && why) {
			give(error, why);
			return BUS_FAILED;
		}
		if (!envelope)
			return MAS_EXIT_OK;
		stop = each(data, envelope);
		free(envelope);
		if (stop)
			return MAS_EXIT_OK;
		if (mas_bus_subscription_ack(s, error) != MAS_EXIT_OK)
			return BUS_FAILED;
	}
	return MAS_EXIT_OK;
}

void mas_bus_subscription_close(mas_bus_subscription *s)
{
	if (!s)
		return;
	mas_bus_sub_release(&s->sub);
	free(s->pattern);
	free(s->group);
	free(s);
}
