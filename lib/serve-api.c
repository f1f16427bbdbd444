/*
 * serve-api.c — what each of mas-serve's endpoints answers (mas-serve(1),
 * ENDPOINTS), over serve-http.h.  The route table is at the end.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "bus.h"
#include "json.h"
#include "llm.h"
#include "mas.h"
#include "metrics.h"
#include "serve-http.h"
#include "serve-openapi.h"
#include "serve-www.h"
#include "banned.h"

/* ---- tasks ---- */

/* BODY's string field KEY, or jv_invalid() when missing; -1 when it is
 * there but not a string (answered 400). */
static int string_field(struct mas_serve_request *r, jv body,
                        const char *key, jv *value)
{
	*value = jv_object_get(jv_copy(body), jv_string(key));
	if (jv_get_kind(*value) == JV_KIND_STRING)
		return 0;
	if (jv_get_kind(*value) == JV_KIND_NULL ||
	    !jv_is_valid(*value)) {
		jv_free(*value);
		*value = jv_invalid();
		return 0;
	}
	jv_free(*value);
	*value = jv_invalid();
	mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, key, "%s must be a "
	               "string", key);
	return -1;
}

/* The task's priority (default normal); -1 when answered 400. */
static int priority_of(struct mas_serve_request *r, jv body)
{
	jv name;
	int priority;

	if (string_field(r, body, "priority", &name))
		return -1;
	if (!jv_is_valid(name))
		return MAS_BUS_NORMAL;
	priority = mas_bus_priority_parse(jv_string_value(name));
	if (priority < 0)
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "priority",
		               "priority '%s' is not high, normal or low",
		               jv_string_value(name));
	jv_free(name);
	return priority;
}

static void task_stored(void *user, jv outcome)
{
	struct mas_serve_request *r = user;
	char headers[96];
	jv id;

	if (!jv_is_valid(outcome)) {
		mas_serve_later_error(r, 0, jv_invalid_get_msg(outcome));
		return;
	}
	id = jv_object_get(jv_copy(outcome), jv_string("task_id"));
	snprintf(headers, sizeof(headers), "Location: /tasks/%s\n",
	         jv_string_value(id));
	jv_free(id);
	mas_serve_later_data(r, 201, outcome, "Task created successfully",
	                     headers);
}

/* Store BODY (consumed, held by nothing else) as a task of TYPE (FLOW)
 * with PRIORITY, answering 201 once it is stored. */
static void submit_task(struct mas_serve_request *r, const char *type,
                        const char *flow, int priority, jv body)
{
	struct mas_serve *s = mas_serve_of(r);

	mas_serve_pending(r);
	if (mas_serve_tasks_submit(s->tasks, type, flow, priority, body,
	                           mas_serve_traceparent(r), task_stored,
	                           r) == 0)
		return;
	mas_serve_unpend(r);
	mas_serve_add_header(r, "Retry-After", "1");
	mas_serve_fail(r, 503, MAS_ERR_UPSTREAM_ERROR, NULL, "too many tasks "
	               "are waiting to be stored; try again");
}

static int flow_exists(struct mas_serve_request *r, const char *name,
                       const char *field)
{
	struct mas_serve *s = mas_serve_of(r);

	const char *what = field ? field : "name";

	if (!mas_serve_flow_name_valid(name)) {
		mas_serve_fail(r, field ? 400 : 404, field ?
		               MAS_ERR_INVALID_REQUEST : MAS_ERR_NOT_FOUND,
		               what, "'%s' is not a flow name (letters, "
		               "digits, '-' and '_')", name);
		return 0;
	}
	if (!mas_serve_agents_has_flow(&s->agents, name)) {
		mas_serve_fail(r, 404, MAS_ERR_NOT_FOUND, what,
		               "no flow '%s'%s", name, s->agents.flows_dir ?
		               "" : " (the server has no flows folder: "
		               "--flows-dir)");
		return 0;
	}
	return 1;
}

/* TYPE (and FLOW, for a flow task) of BODY, checked, copied into the
 * buffers; 0, or -1 when answered 400 or 404. */
static int task_kind(struct mas_serve_request *r, jv body, char *type,
                     char *flow, size_t size)
{
	static const char *const known[] = { "research", "analysis", "chat",
		                             "flow", NULL };
	jv value;
	int ok = 0;

	if (string_field(r, body, "type", &value))
		return -1;
	for (int i = 0; jv_is_valid(value) && known[i] && !ok; i++)
		ok = strcmp(jv_string_value(value), known[i]) == 0;
	if (!ok)
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "type", "type "
		               "must be research, analysis, chat or flow%s",
		               jv_is_valid(value) ? "" : " (it is missing)");
	else
		snprintf(type, size, "%s", jv_string_value(value));
	jv_free(value);
	flow[0] = '\0';
	if (!ok || strcmp(type, "flow") != 0)
		return ok ? 0 : -1;
	if (string_field(r, body, "flow", &value))
		return -1;
	if (!jv_is_valid(value)) {
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "flow",
		               "a flow task names its flow: \"flow\": "
		               "\"NAME\"");
		return -1;
	}
	snprintf(flow, size, "%s", jv_string_value(value));
	jv_free(value);
	return flow_exists(r, flow, "flow") ? 0 : -1;
}

static void tasks_post(struct mas_serve_request *r)
{
	jv body = mas_serve_take_body(r);
	char type[80], flow[80];
	int priority = -1;

	if (task_kind(r, body, type, flow, sizeof(flow)) == 0)
		priority = priority_of(r, body);
	if (priority < 0) {
		jv_free(body);
		return;
	}
	submit_task(r, type, flow[0] ? flow : NULL, priority, body);
}

static long limit_of(struct mas_serve_request *r)
{
	const char *text = mas_serve_query(r, "limit");
	char *end;
	long limit;

	if (!text)
		return 50;
	errno = 0;
	limit = strtol(text, &end, 10);
	if (errno || end == text || *end || limit < 1 || limit > 1000) {
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "limit",
		               "limit '%s' is not a whole number from 1 to "
		               "1000", text);
		return -1;
	}
	return limit;
}

static void tasks_get(struct mas_serve_request *r)
{
	const char *status = mas_serve_query(r, "status");
	long limit = limit_of(r);
	jv list;

	if (limit < 0)
		return;
	if (status && !mas_serve_task_status_valid(status)) {
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "status",
		               "status '%s' is not queued, running, completed "
		               "or failed", status);
		return;
	}
	list = mas_serve_tasks_list(mas_serve_of(r)->tasks, status, limit);
	if (!jv_is_valid(list)) {
		mas_serve_reply_error(r, 0, jv_invalid_get_msg(list));
		return;
	}
	mas_serve_reply_data(r, 200, JV_OBJECT(
		jv_string("count"), jv_number(jv_array_length(jv_copy(list))),
		jv_string("tasks"), list), NULL);
}

static void task_get(struct mas_serve_request *r)
{
	const char *id = mas_serve_param(r);
	jv task = mas_serve_tasks_get(mas_serve_of(r)->tasks, id);

	if (!jv_is_valid(task))
		mas_serve_reply_error(r, 0, jv_invalid_get_msg(task));
	else if (jv_get_kind(task) == JV_KIND_NULL)
		mas_serve_fail(r, 404, MAS_ERR_NOT_FOUND, "task_id", "no task "
		               "'%s'", id);
	else
		mas_serve_reply_data(r, 200, task, NULL);
}

/* ---- agents and flows ---- */

static void analysis_post(struct mas_serve_request *r)
{
	mas_serve_run(r, MAS_SERVE_ANALYSIS, NULL, mas_serve_take_body(r), 0);
}

static void research_post(struct mas_serve_request *r)
{
	mas_serve_run(r, MAS_SERVE_RESEARCH, NULL, mas_serve_take_body(r), 0);
}

static void chat_post(struct mas_serve_request *r)
{
	mas_serve_run(r, MAS_SERVE_CHAT, NULL, mas_serve_take_body(r),
	              mas_serve_accepts(r, "text/event-stream"));
}

static void flows_get(struct mas_serve_request *r)
{
	if (!mas_serve_of(r)->agents.flows_dir) {
		mas_serve_reply_data(r, 200, JV_OBJECT(jv_string("flows"),
		                                       jv_array()), NULL);
		return;
	}
	mas_serve_list_flows(r);
}

static void flow_post(struct mas_serve_request *r)
{
	const char *name = mas_serve_param(r);
	jv body = mas_serve_take_body(r);
	jv async = jv_object_get(jv_copy(body), jv_string("async"));
	jv_kind kind = jv_get_kind(async);
	int priority;

	/* Nothing read from BODY outlives this: it goes to another
	 * thread whole. */
	jv_free(async);
	if (!flow_exists(r, name, NULL)) {
		jv_free(body);
		return;
	}
	body = jv_object_delete(body, jv_string("async"));
	if (kind != JV_KIND_INVALID && kind != JV_KIND_TRUE &&
	    kind != JV_KIND_FALSE && kind != JV_KIND_NULL) {
		jv_free(body);
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "async",
		               "async must be true or false");
		return;
	}
	if (kind != JV_KIND_TRUE) {
		mas_serve_run(r, MAS_SERVE_FLOW, name, body, 0);
		return;
	}
	priority = priority_of(r, body);
	if (priority < 0)
		jv_free(body);
	else
		submit_task(r, "flow", name, priority, body);
}

/* ---- health ---- */

static jv status_of(const char *problem)
{
	jv component = JV_OBJECT(jv_string("status"),
	                         jv_string(problem ? "down" : "ok"));

	if (problem)
		component = jv_object_set(component, jv_string("error"),
		                          jv_string(problem));
	return component;
}

static jv agents_health(struct mas_serve *s, int *down)
{
	jv agents = jv_object();

	for (int kind = 0; kind < MAS_SERVE_AGENT_COUNT; kind++) {
		const char *problem = mas_serve_pool_problem(
			s->pool, (enum mas_serve_agent)kind);
		agents = jv_object_set(agents, jv_string(mas_serve_agent_key(
			(enum mas_serve_agent)kind)), status_of(problem));
		if (problem)
			*down = 1;
	}
	return agents;
}

static jv model_health(struct mas_serve *s)
{
	const struct mas_config *config = &s->options->cli->config;
	const char *model = mas_config_get(config, "llm.model");
	jv component = status_of(NULL);

	if (!mas_llm_configured(config))
		return jv_object_set(component, jv_string("engine"),
		                     jv_string("embedded"));
	component = jv_object_set(component, jv_string("engine"),
	                          jv_string("llm"));
	return jv_object_set(component, jv_string("model"),
	                     model ? jv_string(model) : jv_null());
}

static jv workers_health(struct mas_serve *s, int *down)
{
	size_t waiting, running;
	unsigned alive;
	jv workers;

	mas_serve_pool_figures(s->pool, &waiting, &running, &alive);
	workers = status_of(alive < s->options->workers ? "some request "
	                    "workers are not running" : NULL);
	if (alive < s->options->workers)
		*down = 1;
	workers = jv_object_set(workers, jv_string("running"),
	                        jv_number(alive));
	workers = jv_object_set(workers, jv_string("configured"),
	                        jv_number(s->options->workers));
	workers = jv_object_set(workers, jv_string("busy"),
	                        jv_number((double)running));
	return jv_object_set(workers, jv_string("queued"),
	                     jv_number((double)waiting));
}

/* The components and whether one is down. */
static jv health(struct mas_serve *s, int *down)
{
	jv components = mas_serve_tasks_health(s->tasks, down);

	components = jv_object_set(components, jv_string("model"),
	                           model_health(s));
	components = jv_object_set(components, jv_string("workers"),
	                           workers_health(s, down));
	return jv_object_set(components, jv_string("agents"),
	                     agents_health(s, down));
}

void mas_serve_refresh_health(struct mas_serve *s)
{
	int down = 0;
	jv components = health(s, &down), answer;
	char now[MAS_CLOCK_ISO_SIZE], *text, *old;
	size_t length;

	mas_clock_now_iso(now);
	answer = JV_OBJECT(jv_string("status"),
	                   jv_string(down ? "degraded" : "healthy"),
	                   jv_string("components"), components,
	                   jv_string("version"), jv_string(MAS_VERSION),
	                   jv_string("uptime_s"), jv_number(floor(
	                           mas_clock_monotonic() - s->started)),
	                   jv_string("timestamp"), jv_string(now));
	text = mas_json_dump_text(answer, &length);
	pthread_mutex_lock(&s->lock);
	old = s->health;
	s->health = text;
	s->health_length = length;
	s->health_down = down;
	pthread_mutex_unlock(&s->lock);
	free(old);
}

static void health_get(struct mas_serve_request *r)
{
	struct mas_serve *s = mas_serve_of(r);
	char *text = NULL;
	size_t length = 0;
	int down = 1;

	pthread_mutex_lock(&s->lock);
	if (s->health) {
		text = malloc(s->health_length + 1);
		if (text) {
			memcpy(text, s->health, s->health_length + 1);
			length = s->health_length;
		}
		down = s->health_down;
	}
	pthread_mutex_unlock(&s->lock);
	if (!text) {
		mas_serve_fail(r, 503, MAS_ERR_UPSTREAM_ERROR, NULL, "health "
		               "is not known yet");
		return;
	}
	mas_serve_reply(r, down ? 503 : 200, "application/json", text, length);
}

/* ---- metrics ---- */

static jv agent_figures(struct mas_serve *s)
{
	jv agents = jv_object();

	for (int kind = 0; kind <= MAS_SERVE_AGENT_COUNT; kind++) {
		const char *name = kind < MAS_SERVE_AGENT_COUNT ?
		        mas_serve_agent_key((enum mas_serve_agent)kind)
		        : "flow";
		double records = (double)s->figures.records[kind];
		double failed = (double)s->figures.failed[kind];

		agents = jv_object_set(agents, jv_string(name), JV_OBJECT(
			jv_string("requests"), jv_number(records),
			jv_string("errors"), jv_number(failed),
			jv_string("success_rate"), jv_number(records > 0 ?
			        (records - failed) / records : 1)));
	}
	return agents;
}

static jv performance(struct mas_serve *s, double uptime)
{
	double requests = (double)s->figures.requests;

	return JV_OBJECT(
		jv_string("requests_total"), jv_number(requests),
		jv_string("requests_per_second"),
		jv_number(uptime > 0 ? requests / uptime : 0),
		jv_string("average_response_ms"), jv_number(requests > 0 ?
		        s->figures.seconds * 1000 / requests : 0),
		jv_string("client_errors"),
		jv_number((double)s->figures.client_errors),
		jv_string("server_errors"),
		jv_number((double)s->figures.server_errors),
		jv_string("error_rate"), jv_number(requests > 0 ?
		        (double)s->figures.server_errors / requests : 0));
}

static jv task_figures(struct mas_serve *s)
{
	jv counts = mas_serve_tasks_counts(s->tasks);
	jv completed = jv_object_get(jv_copy(counts), jv_string("completed"));
	jv failed = jv_object_get(jv_copy(counts), jv_string("failed"));
	double done = jv_number_value(completed) + jv_number_value(failed);

	counts = jv_object_set(counts, jv_string("success_rate"), jv_number(
		done > 0 ? jv_number_value(completed) / done : 1));
	jv_free(completed);
	jv_free(failed);
	return counts;
}

/* The original API's /metrics, as JSON. */
static jv metrics_json(struct mas_serve *s)
{
	double uptime = mas_clock_monotonic() - s->started;
	int down = 0;
	jv components = health(s, &down), answer;

	pthread_mutex_lock(&s->lock);
	answer = JV_OBJECT(
		jv_string("system_health"), JV_OBJECT(
			jv_string("status"),
			jv_string(down ? "degraded" : "healthy"),
			jv_string("uptime_s"), jv_number(floor(uptime)),
			jv_string("components"), components),
		jv_string("performance"), performance(s, uptime),
		jv_string("agents"), agent_figures(s));
	pthread_mutex_unlock(&s->lock);
	return jv_object_set(answer, jv_string("tasks"), task_figures(s));
}

static void metrics_get(struct mas_serve_request *r)
{
	struct mas_serve *s = mas_serve_of(r);
	size_t length = 0;
	char *text;

	if (mas_serve_accepts(r, "application/json")) {
		mas_serve_reply_data(r, 200, metrics_json(s), NULL);
		return;
	}
	text = mas_metrics_text(&length);
	if (!text) {
		mas_serve_fail(r, 500, MAS_ERR_INTERNAL, NULL,
		               "out of memory");
		return;
	}
	mas_serve_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	                text, length);
}

/* ---- the description ---- */

static void openapi_get(struct mas_serve_request *r)
{
	const char *text = mas_serve_openapi();

	mas_serve_reply_static(r, 200, "application/json", text, strlen(text));
}

static void docs_get(struct mas_serve_request *r)
{
	const char *page = mas_serve_docs_page();

	if (!page) {
		mas_serve_fail(r, 500, MAS_ERR_INTERNAL, NULL,
		               "out of memory");
		return;
	}
	mas_serve_reply_static(r, 200, "text/html; charset=utf-8", page,
	                       strlen(page));
}

/* ---- the console ---- */

/* Headers every file of the console carries: the page may load only
 * what the server itself answers (nothing from elsewhere, no inline
 * script), types are not guessed, and the browser asks again rather
 * than keep a page older than the server. */
static void www_headers(struct mas_serve_request *r)
{
	mas_serve_add_header(r, "Content-Security-Policy", "default-src "
	                     "'self'; img-src 'self' data:; object-src "
	                     "'none'; base-uri 'none'; frame-ancestors "
	                     "'none'");
	mas_serve_add_header(r, "X-Content-Type-Options", "nosniff");
	mas_serve_add_header(r, "Cache-Control", "no-cache");
}

static void www_get(struct mas_serve_request *r)
{
	struct mas_serve *s = mas_serve_of(r);
	struct mas_serve_www_file file;
	const char *path = mas_serve_path(r);
	int found = mas_serve_www_find(s->options->www, path, &file);

	if (found > 0) {
		mas_serve_fail(r, 404, MAS_ERR_NOT_FOUND, "path", "no such "
		               "endpoint or file: %s (see /openapi.json)",
		               path);
		return;
	}
	if (found < 0) {
		mas_serve_fail(r, 500, MAS_ERR_INTERNAL, "path", "%s: %s",
		               path, strerror(errno));
		return;
	}
	www_headers(r);
	if (file.is_static)
		mas_serve_reply_static(r, 200, file.type, file.data,
		                       file.length);
	else
		mas_serve_reply(r, 200, file.type, file.data, file.length);
}

/* ---- the routes ---- */

const struct mas_serve_route mas_serve_routes[] = {
	{ "/tasks", "tasks", 1, tasks_get, tasks_post },
	{ "/tasks/{id}", "tasks", 0, task_get, NULL },
	{ "/analysis", "analysis", 1, NULL, analysis_post },
	{ "/chat", "chat", 1, NULL, chat_post },
	{ "/research", "research", 1, NULL, research_post },
	{ "/flows", "flows", 0, flows_get, NULL },
	{ "/flows/{name}", "flows", 1, NULL, flow_post },
	{ "/health", NULL, 0, health_get, NULL },
	{ "/metrics", "metrics", 0, metrics_get, NULL },
	{ "/openapi.json", NULL, 0, openapi_get, NULL },
	{ "/docs", NULL, 0, docs_get, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

const struct mas_serve_route mas_serve_www_route = {
	"/{file}", NULL, 0, www_get, NULL
};
