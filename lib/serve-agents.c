/*
 * serve-agents.c — a mas-serve worker's agents (see serve-agents.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "agent.h"
#include "clock.h"
#include "coprocess.h"
#include "flow.h"
#include "flow-agent.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "serve-agents.h"
#include "session.h"
#include "store.h"
#include "trace.h"
#include "banned.h"

/* The agents' names as flow files write them, and their keys. */
static const char *const agent_names[] = { "analyze", "chat", "research" };
static const char *const agent_keys[] = { "analysis", "chat", "research" };

/* One flow's co-process: `mas-flow run FILE`, restarted when FILE
 * changes or after it failed. */
struct flow_child {
	char *name;
	char *path;
	char **argv;
	struct timespec mtime;
	off_t size;
	struct mas_coprocess child;
};

struct mas_serve_agents {
	const struct mas_serve_agents_options *options;
	struct mas_engine engine;
	struct mas_flow holder;          /* flow-agent.c sets nodes up here */
	struct mas_flow_node nodes[MAS_SERVE_AGENT_COUNT];
	char *node_argv[MAS_SERVE_AGENT_COUNT][2];
	char *problems[MAS_SERVE_AGENT_COUNT];
	struct mas_cli agent_cli[MAS_SERVE_AGENT_COUNT]; /* output keys */
	struct mas_store store;
	int store_open;
	struct mas_sessions *sessions;
	struct flow_child *flows;
	size_t flow_count;
	/* the reply being waited for */
	unsigned serial;
	int replied;
	jv result;
};

/* ---- set-up ---- */

/* Take the text a problem log gathered (consumed): the first line,
 * without "mas-serve: ", or NULL when nothing was reported. */
static char *first_problem(char *text, size_t length)
{
	const char *prefix = "mas-serve: ";
	char *problem;
	size_t start = 0, end;

	if (!text || length == 0) {
		free(text);
		return NULL;
	}
	if (strncmp(text, prefix, strlen(prefix)) == 0)
		start = strlen(prefix);
	end = start + strcspn(text + start, "\n");
	problem = strndup(text + start, end - start);
	free(text);
	return problem;
}

static void setup_node(struct mas_serve_agents *a, enum mas_serve_agent kind)
{
	struct mas_flow_node *node = &a->nodes[kind];
	char *text = NULL;
	size_t length = 0;
	int before = a->holder.problems;

	node->name = (char *)agent_names[kind];
	node->kind = MAS_FLOW_AGENT;
	a->node_argv[kind][0] = (char *)agent_names[kind];
	node->argv = a->node_argv[kind];
	a->holder.problem_log = open_memstream(&text, &length);
	mas_flow_agent_setup(&a->holder, node);
	if (a->holder.problem_log)
		fclose(a->holder.problem_log);
	a->holder.problem_log = NULL;
	if (a->holder.problems == before) {
		free(text);
		return;
	}
	a->problems[kind] = first_problem(text, length);
	if (!a->problems[kind])
		a->problems[kind] = strdup("cannot be set up");
	if (!a->options->quiet)
		mas_warn("%s: unavailable: %s", agent_keys[kind],
		         a->problems[kind] ? a->problems[kind] : "");
	if (node->release)
		node->release(node->agent);
	node->agent = NULL;
	node->start = NULL;
}

/* chat.session_ttl in seconds (0: never), as mas-chat reads it. */
static double session_ttl(const struct mas_config *config)
{
	const char *text = mas_config_get(config, "chat.session_ttl");
	char *end;
	double ttl = text ? strtod(text, &end) : 0;

	return text && end != text && *end == '\0' && ttl >= 0 ? ttl : 0;
}

static void open_sessions(struct mas_serve_agents *a)
{
	const struct mas_config *config = &a->options->cli->config;
	char *error = NULL;

	if (mas_store_open_configured(&a->store, config, &error) == 0) {
		a->store_open = 1;
		mas_store_wait_briefly(&a->store);
		/* The server checkpoints the log itself, off the
		 * requests' path (serve.c's watch). */
		sqlite3_exec(a->store.db, "PRAGMA wal_autocheckpoint = 0",
		             NULL, NULL, NULL);
		a->sessions = mas_sessions_new(&a->store, session_ttl(config),
		                               &error);
		/* expired sessions go; a store busy now is tried again by
		 * each turn's save, which reports it */
		if (a->sessions && mas_sessions_purge(a->sessions, &error))
			mas_warn("expired chat sessions not removed: %s",
			         error ? error : "state store");
		free(error);
		error = NULL;
	}
	if (!a->sessions && !a->options->quiet)
		mas_warn("chat sessions are not kept: %s",
		         error ? error : "state store");
	free(error);
}

static void setup_engine(struct mas_serve_agents *a)
{
	const struct mas_engine *given = a->options->engine;

	mas_engine_init(&a->engine, a->options->cli);
	if (given) {
		a->engine.fallback_error = given->fallback_error;
		a->engine.no_cache = given->no_cache;
		a->engine.cache_only = given->cache_only;
		a->engine.insecure = given->insecure;
		a->engine.max_tokens_total = given->max_tokens_total;
	}
	a->engine.per_thread = 1;
	mas_engine_setup(&a->engine);
}

struct mas_serve_agents *mas_serve_agents_new(
	const struct mas_serve_agents_options *options)
{
	struct mas_serve_agents *a = calloc(1, sizeof(*a));
	struct mas_chat_options *chat;

	if (!a)
		return NULL;
	a->options = options;
	a->result = jv_invalid();
	setup_engine(a);
	a->holder.path = "mas-serve";
	a->holder.engine = &a->engine;
	for (int kind = 0; kind < MAS_SERVE_AGENT_COUNT; kind++) {
		a->agent_cli[kind].program = options->cli->program;
		a->agent_cli[kind].output_key = agent_keys[kind];
		if (!options->agents || options->agents & (1u << kind))
			setup_node(a, (enum mas_serve_agent)kind);
		else
			a->problems[kind] = strdup("not opened");
	}
	chat = mas_flow_agent_chat_options(&a->nodes[MAS_SERVE_CHAT]);
	if (chat && options->sessions) {
		open_sessions(a);
		chat->sessions = a->sessions;
	}
	return a;
}

const char *mas_serve_agents_problem(const struct mas_serve_agents *agents,
                                     enum mas_serve_agent kind)
{
	return kind < MAS_SERVE_AGENT_COUNT ? agents->problems[kind] : NULL;
}

const char *mas_serve_agent_key(enum mas_serve_agent kind)
{
	return kind < MAS_SERVE_AGENT_COUNT ? agent_keys[kind] : NULL;
}

/* ---- running an agent ---- */

/* One reply awaited: a late one (after a timeout) finds its serial
 * stale and is dropped. */
struct call {
	struct mas_serve_agents *agents;
	unsigned serial;
};

static void on_reply(void *context, jv result)
{
	struct call *call = context;
	struct mas_serve_agents *a = call->agents;

	if (call->serial == a->serial && !a->replied) {
		a->result = result;
		a->replied = 1;
	} else {
		jv_free(result);
	}
	free(call);
}

struct run {
	struct mas_serve_agents *agents;
	struct mas_flow_node *node;
	double deadline;
};

/* mas_agent_apply's agent: start the node's agent and wait for its
 * reply, driving the model client when there is one. */
static jv start_and_wait(void *data, jv input)
{
	struct run *r = data;
	struct mas_serve_agents *a = r->agents;
	struct call *call = malloc(sizeof(*call));
	jv result;

	if (!call) {
		jv_free(input);
		return mas_fail(MAS_ERR_INTERNAL, "out of memory");
	}
	call->agents = a;
	call->serial = ++a->serial;
	a->replied = 0;
	r->node->start(r->node->agent, input, on_reply, call);
	while (!a->replied && a->engine.llm) {
		double left = r->deadline - mas_clock_monotonic();
		if (left <= 0)
			break;
		mas_llm_perform(a->engine.llm, (int)(left * 1000) + 1, -1);
	}
	if (!a->replied) {
		a->serial++; /* its reply, if it comes, is dropped */
		return mas_fail(MAS_ERR_TIMEOUT, "the %s agent did not answer "
		                "in time", r->node->name);
	}
	a->replied = 0;
	result = a->result;
	a->result = jv_invalid(); /* handed on */
	return result;
}

/* The record's span, continuing its "traceparent", current while the
 * agent works, as the record loop makes one for a program. */
static struct mas_span *record_span(const char *name, jv record)
{
	jv parent;
	struct mas_span *span;

	if (!mas_trace_enabled())
		return NULL;
	parent = jv_object_get(jv_copy(record), jv_string("traceparent"));
	span = mas_span_start_remote(name, jv_get_kind(parent) ==
	                             JV_KIND_STRING ? jv_string_value(parent)
	                                            : NULL);
	jv_free(parent);
	mas_trace_set_current(span);
	return span;
}

/* End SPAN with RECORD's outcome and make the record's "traceparent"
 * this span, for whatever reads it next. */
static jv end_span(struct mas_span *span, jv record)
{
	mas_trace_set_current(NULL);
	if (!span)
		return record;
	if (!jv_is_valid(record)) {
		mas_span_fail(span, "not run");
		mas_span_end(span);
		return record;
	}
	return mas_span_end_record(span, record);
}

/* The record loop's figures, for the agent named NAME. */
static void count_record(const char *name, jv record, double started)
{
	jv code = jv_is_valid(record) ? jv_getpath(jv_copy(record), JV_ARRAY(
	                  jv_string("error"), jv_string("code"))) : jv_null();
	int failed = !jv_is_valid(record) ||
	             jv_get_kind(code) == JV_KIND_STRING;
	char labels[128];

	if (jv_get_kind(code) == JV_KIND_STRING) {
		snprintf(labels, sizeof(labels), "agent=\"%s\",code=\"%s\"",
		         name, jv_string_value(code));
		mas_metrics_count("mas_record_errors_total", "Records that "
		                  "came out with an error, by code.", labels,
		                  1);
	}
	jv_free(code);
	snprintf(labels, sizeof(labels), "agent=\"%s\",outcome=\"%s\"", name,
	         failed ? "error" : "ok");
	mas_metrics_count("mas_records_total", "Records written, by outcome.",
	                  labels, 1);
	snprintf(labels, sizeof(labels), "agent=\"%s\"", name);
	mas_metrics_observe("mas_record_duration_seconds", "Time from "
	                    "reading a record to writing it.", labels,
	                    mas_clock_monotonic() - started);
}

static jv run_agent(struct mas_serve_agents *a, enum mas_serve_agent kind,
                    jv record, double deadline,
                    void (*on_text)(void *, const char *, size_t),
                    void *text_user)
{
	struct run r = { a, &a->nodes[kind], deadline };
	struct mas_chat_options *chat = NULL;
	jv out;

	if (a->problems[kind]) {
		jv_free(record);
		return mas_fail(MAS_ERR_UPSTREAM_ERROR, "the %s agent is not "
		                "available: %s", agent_keys[kind],
		                a->problems[kind]);
	}
	if (kind == MAS_SERVE_CHAT && on_text) {
		chat = mas_flow_agent_chat_options(r.node);
		chat->on_text = on_text;
		chat->text_user = text_user;
	}
	out = mas_agent_apply(&a->agent_cli[kind], record, start_and_wait, &r);
	if (chat) {
		chat->on_text = NULL;
		chat->text_user = NULL;
	}
	return out;
}

/* ---- running a flow ---- */

int mas_serve_flow_name_valid(const char *name)
{
	size_t length = strlen(name);

	return length > 0 && length <= 64 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
	              "TUVWXYZ0123456789-_") == length;
}

/* FLOWS_DIR/NAME.flow (malloc'd), or NULL. */
static char *flow_path(const struct mas_serve_agents_options *options,
                       const char *name)
{
	char *path;

	if (options->flow_file)
		return strdup(options->flow_file);
	if (!options->flows_dir || !mas_serve_flow_name_valid(name))
		return NULL;
	if (asprintf(&path, "%s/%s.flow", options->flows_dir, name) < 0)
		return NULL;
	return path;
}

int mas_serve_agents_has_flow(const struct mas_serve_agents_options *options,
                              const char *flow)
{
	char *path = flow_path(options, flow);
	struct stat st;
	int yes = path && stat(path, &st) == 0 && S_ISREG(st.st_mode);

	free(path);
	return yes;
}

/* OPTIONS' command for the flow file PATH (borrowed): the array is
 * malloc'd, its words borrowed. */
static char **flow_argv(const struct mas_serve_agents_options *options,
                        char *path)
{
	char *const *prefix = options->flow_argv;
	size_t count = 0;
	char **argv;

	while (prefix && prefix[count])
		count++;
	/* the words, FLOW_COMMAND and "run" when none, PATH, NULL */
	argv = calloc(count + 4, sizeof(*argv));
	if (!argv)
		return NULL;
	for (size_t i = 0; i < count; i++)
		argv[i] = prefix[i];
	if (!prefix) {
		argv[count++] = (char *)options->flow_command;
		argv[count++] = "run";
	}
	argv[count] = path;
	return argv;
}

static struct flow_child *find_child(struct mas_serve_agents *a,
                                     const char *name)
{
	struct flow_child *grown;

	for (size_t i = 0; i < a->flow_count; i++)
		if (strcmp(a->flows[i].name, name) == 0)
			return &a->flows[i];
	grown = realloc(a->flows, (a->flow_count + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	a->flows = grown;
	grown = &a->flows[a->flow_count];
	memset(grown, 0, sizeof(*grown));
	grown->name = strdup(name);
	grown->path = flow_path(a->options, name);
	if (!grown->name || !grown->path) {
		free(grown->name);
		free(grown->path);
		return NULL;
	}
	grown->argv = flow_argv(a->options, grown->path);
	if (!grown->argv) {
		free(grown->name);
		free(grown->path);
		return NULL;
	}
	mas_coprocess_init(&grown->child, "mas-serve", grown->argv);
	a->flow_count++;
	return grown;
}

/* F's co-process, running the file as it is now.  Returns an error
 * (jv_invalid_with_msg) or jv_null(). */
static jv ready_child(struct flow_child *f)
{
	struct stat st;
	char *error = NULL;
	jv failure;

	if (stat(f->path, &st) != 0)
		return mas_fail(MAS_ERR_NOT_FOUND, "no flow '%s'", f->name);
	if (f->child.pid && (st.st_mtim.tv_sec != f->mtime.tv_sec ||
	                     st.st_mtim.tv_nsec != f->mtime.tv_nsec ||
	                     st.st_size != f->size))
		mas_coprocess_stop(&f->child, 0);
	if (f->child.pid)
		return jv_null();
	f->mtime = st.st_mtim;
	f->size = st.st_size;
	if (mas_coprocess_start(&f->child, &error) == 0)
		return jv_null();
	failure = mas_fail(MAS_ERR_INTERNAL, "flow '%s': %s", f->name,
	                   error ? error : "cannot start mas-flow");
	free(error);
	return failure;
}

/* The answer line to the record just sent, until DEADLINE. */
static jv await_line(struct flow_child *f, double deadline)
{
	struct mas_coprocess *child = &f->child;
	char description[96];

	for (;;) {
		size_t length;
		char *line = mas_coprocess_line(child, &length);
		double left = deadline - mas_clock_monotonic();
		struct mas_coprocess *list[1] = { child };

		if (line) {
			jv answer = jv_parse_sized(line, (int)length);
			if (jv_get_kind(answer) == JV_KIND_OBJECT)
				return answer;
			jv_free(answer);
			mas_coprocess_stop(child, 1);
			return mas_fail(MAS_ERR_INTERNAL, "flow '%s': "
			                "mas-flow answered with a line that "
			                "is not a JSON object", f->name);
		}
		if (mas_coprocess_ended(child)) {
			mas_coprocess_describe(mas_coprocess_stop(child, 0),
			                       description,
			                       sizeof(description));
			return mas_fail(MAS_ERR_INTERNAL, "flow '%s': "
			                "mas-flow %s (the server's log says "
			                "why)", f->name, description);
		}
		if (left <= 0) {
			/* A late answer would be taken for the next
			 * record's: start afresh. */
			mas_coprocess_stop(child, 1);
			return mas_fail(MAS_ERR_TIMEOUT, "flow '%s' did not "
			                "answer in time", f->name);
		}
		mas_coprocess_poll(list, 1, -1, (int)(left * 1000) + 1);
	}
}

static jv run_flow(struct mas_serve_agents *a, const char *name, jv record,
                   double deadline)
{
	struct flow_child *f;
	size_t length;
	char *line;
	jv ready;

	if (!mas_serve_agents_has_flow(a->options, name)) {
		jv_free(record);
		return mas_fail(MAS_ERR_NOT_FOUND, "no flow '%s'", name);
	}
	f = find_child(a, name);
	if (!f) {
		jv_free(record);
		return mas_fail(MAS_ERR_INTERNAL, "out of memory");
	}
	ready = ready_child(f);
	if (!jv_is_valid(ready)) {
		jv_free(record);
		return ready;
	}
	line = mas_json_dump_text(record, &length);
	mas_coprocess_send(&f->child, line, length);
	free(line);
	return await_line(f, deadline);
}

jv mas_serve_agents_run(struct mas_serve_agents *agents,
                        enum mas_serve_agent kind, const char *flow,
                        jv record, double deadline,
                        void (*on_text)(void *user, const char *text,
                                        size_t length),
                        void *text_user)
{
	char name[96];
	double started = mas_clock_monotonic();
	struct mas_span *span;
	jv out;

	snprintf(name, sizeof(name), "%s%s",
	         kind == MAS_SERVE_FLOW ? "flow." : "agent.",
	         kind == MAS_SERVE_FLOW ? flow : agent_keys[kind]);
	span = record_span(name, record);
	if (kind == MAS_SERVE_FLOW)
		out = run_flow(agents, flow, record, deadline);
	else
		out = run_agent(agents, kind, record, deadline, on_text,
		                text_user);
	out = end_span(span, out);
	count_record(kind == MAS_SERVE_FLOW ? "flow" : agent_keys[kind], out,
	             started);
	return out;
}

/* ---- the flows' catalogue ---- */

/*
 * Shared by every worker: a flow's graph changes only with its file,
 * and mas_flow_load (which counts nesting in a static) must not run in
 * two threads at once.
 */
struct catalogue_entry {
	char *name;
	struct timespec mtime;
	off_t size;
	char *entry;               /* JSON text: each caller parses its
	                            * own, for libjq's counts are not
	                            * atomic */
};

static struct {
	pthread_mutex_t lock;
	struct catalogue_entry *entries;
	size_t count;
} catalogue = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* NAME's entry as of ST, loading the file when it changed. */
static jv describe_flow(struct mas_serve_agents *a, const char *name,
                        const char *path)
{
	struct mas_flow flow;
	char *graph = NULL;
	size_t length = 0;
	FILE *out;
	jv entry;

	if (mas_flow_load(&flow, path, &a->engine) != 0) {
		mas_flow_release(&flow);
		return JV_OBJECT(jv_string("name"), jv_string(name),
		                 jv_string("valid"), jv_false());
	}
	out = open_memstream(&graph, &length);
	if (out) {
		mas_flow_graph(&flow, "mermaid", out);
		fclose(out);
	}
	entry = JV_OBJECT(jv_string("name"), jv_string(name),
	                  jv_string("valid"), jv_true(),
	                  jv_string("nodes"),
	                  jv_number((double)flow.node_count),
	                  jv_string("graph"), jv_string(graph ? graph : ""));
	free(graph);
	mas_flow_release(&flow);
	return entry;
}

static jv cached_flow(struct mas_serve_agents *a, const char *name,
                      const char *path, const struct stat *st)
{
	struct catalogue_entry *e = NULL, *grown;

	for (size_t i = 0; i < catalogue.count && !e; i++)
		if (strcmp(catalogue.entries[i].name, name) == 0)
			e = &catalogue.entries[i];
	size_t length;

	if (e && e->entry && e->mtime.tv_sec == st->st_mtim.tv_sec &&
	    e->mtime.tv_nsec == st->st_mtim.tv_nsec && e->size == st->st_size)
		return jv_parse(e->entry);
	if (!e) {
		grown = realloc(catalogue.entries, (catalogue.count + 1) *
		                sizeof(*grown));
		if (!grown)
			return jv_null();
		catalogue.entries = grown;
		e = &catalogue.entries[catalogue.count++];
		e->name = strdup(name);
		e->entry = NULL;
	}
	free(e->entry);
	e->entry = mas_json_dump_text(describe_flow(a, name, path), &length);
	e->mtime = st->st_mtim;
	e->size = st->st_size;
	return e->entry ? jv_parse(e->entry) : jv_null();
}

static int by_name(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The flow names in the folder, sorted, NULL-terminated (malloc'd). */
static char **flow_names(const char *folder, size_t *count)
{
	DIR *dir = opendir(folder);
	char **names = NULL;
	struct dirent *d;

	*count = 0;
	while (dir && (d = readdir(dir)) != NULL) {
		size_t length = strlen(d->d_name);
		char **grown;
		char *name;

		if (length <= 5 || strcmp(d->d_name + length - 5, ".flow"))
			continue;
		name = strndup(d->d_name, length - 5);
		if (!name || !mas_serve_flow_name_valid(name)) {
			free(name);
			continue;
		}
		grown = realloc(names, (*count + 1) * sizeof(*names));
		if (!grown) {
			free(name);
			break;
		}
		names = grown;
		names[(*count)++] = name;
	}
	if (dir)
		closedir(dir);
	if (names)
		qsort(names, *count, sizeof(*names), by_name);
	return names;
}

jv mas_serve_agents_flows(struct mas_serve_agents *agents)
{
	const char *folder = agents->options->flows_dir;
	jv list = jv_array();
	size_t count = 0;
	char **names = folder ? flow_names(folder, &count) : NULL;

	pthread_mutex_lock(&catalogue.lock);
	for (size_t i = 0; i < count; i++) {
		char *path = flow_path(agents->options, names[i]);
		struct stat st;

		if (path && stat(path, &st) == 0)
			list = jv_array_append(list, cached_flow(
				agents, names[i], path, &st));
		free(path);
		free(names[i]);
	}
	pthread_mutex_unlock(&catalogue.lock);
	free(names);
	return list;
}

/* ---- the end ---- */

void mas_serve_agents_count(struct mas_serve_agents *agents)
{
	mas_engine_count(&agents->engine);
}

int mas_serve_agents_batch_begin(struct mas_serve_agents *a, int kind,
                                 jv record)
{
	jv session;
	int stores;

	if (kind != MAS_SERVE_CHAT || !a->sessions || a->engine.llm ||
	    jv_get_kind(record) != JV_KIND_OBJECT)
		return 0;
	session = jv_object_get(jv_copy(record), jv_string("session_id"));
	stores = jv_get_kind(session) == JV_KIND_STRING;
	jv_free(session);
	if (!stores)
		return 0;
	if (sqlite3_exec(a->store.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
	    SQLITE_OK)
		return 1;
	mas_error_log("%s: %s", a->store.path, sqlite3_errmsg(a->store.db));
	return mas_store_status(sqlite3_errcode(a->store.db));
}

int mas_serve_agents_batch_end(struct mas_serve_agents *a)
{
	int status;

	if (sqlite3_exec(a->store.db, "COMMIT", NULL, NULL, NULL) ==
	    SQLITE_OK)
		return 0;
	status = mas_store_status(sqlite3_errcode(a->store.db));
	mas_error_log("%s: %s", a->store.path, sqlite3_errmsg(a->store.db));
	sqlite3_exec(a->store.db, "ROLLBACK", NULL, NULL, NULL);
	return status ? status : -1;
}

void mas_serve_agents_free(struct mas_serve_agents *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->flow_count; i++) {
		mas_coprocess_release(&a->flows[i].child);
		free(a->flows[i].argv);
		free(a->flows[i].name);
		free(a->flows[i].path);
	}
	free(a->flows);
	for (int kind = 0; kind < MAS_SERVE_AGENT_COUNT; kind++) {
		if (a->nodes[kind].release && a->nodes[kind].agent)
			a->nodes[kind].release(a->nodes[kind].agent);
		free(a->problems[kind]);
	}
	mas_sessions_free(a->sessions);
	if (a->store_open)
		mas_store_close(&a->store);
	mas_engine_release(&a->engine);
	jv_free(a->result);
	free(a);
}
