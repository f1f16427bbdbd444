/*
 * serve-tasks.c — durable tasks on the bus, run by worker threads or by
 * mas-bus serve workers elsewhere (see serve-tasks.h).
 *
 * Threads: one stores POSTs in batches; each task worker owns its agent
 * set, its bus and its state store connection; one reads the replies
 * on tasks.done.  GET requests read the table through a small pool of
 * connections, never a writer's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "bus-rpc.h"
#include "clock.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "serve-tasks.h"
#include "store.h"
#include "banned.h"

#define DONE_TOPIC "tasks.done"
#define DONE_GROUP "mas-serve.done"
#define MAX_ATTEMPTS 3         /* starts before a task is failed */
#define BATCH_MAX 1024         /* tasks stored in one transaction */
#define WORKER_BATCH 8         /* tasks a worker claims at once */
#define READERS_MAX 8          /* connections kept for GETs */
#define FLOW_RESCAN 5.0        /* seconds between looks at the flows */

static const char *const types[] = { "analysis", "chat", "research",
	                             "flow", NULL };
static const char *const priority_names[] = { "high", "normal", "low" };

/* A POST waiting to be stored. */
struct pending {
	char id[MAS_ID_SIZE];
	const char *type;          /* one of types[] */
	char *flow;
	int priority;
	jv record;
	char *traceparent;
	double created;            /* epoch seconds */
	mas_serve_tasks_stored_fn stored;
	void *user;
	struct pending *next;
};

struct mas_serve_tasks {
	struct mas_serve_tasks_options options;
	struct mas_serve_agents_options agents; /* quiet, for workers */
	pthread_mutex_t lock;
	pthread_cond_t storer_wake, workers_wake, stopped;
	struct pending *head, *tail;
	size_t waiting;            /* in the list above */
	unsigned long generation;  /* bumped when tasks are stored */
	int stopping;
	int threads;               /* threads still running */
	int workers_alive;
	int workers_ready;         /* past their set-up, alive or not */
	pthread_t storer, reader;
	pthread_t *workers;
	struct mas_bus bus;        /* the storer's */
	struct mas_store store;    /* the storer's */
	char *bus_problem;         /* the last bus failure, or NULL */
	struct mas_store *readers[READERS_MAX];
	size_t reader_count;       /* free ones in READERS */
	double mean_seconds;       /* of tasks run here, smoothed */
	long local_queued;         /* stored, not yet started here */
};

/* ---- small helpers ---- */

static double now_epoch(void)
{
	return (double)mas_clock_epoch_ms() / 1000;
}

static int type_index(const char *type)
{
	for (int i = 0; types[i]; i++)
		if (strcmp(types[i], type) == 0)
			return i;
	return -1;
}

int mas_serve_task_status_valid(const char *status)
{
	return strcmp(status, "queued") == 0 ||
	       strcmp(status, "running") == 0 ||
	       strcmp(status, "completed") == 0 ||
	       strcmp(status, "failed") == 0;
}

/* Keep the bus's last failure for /health (MESSAGE NULL: it works). */
static void note_bus(struct mas_serve_tasks *t, const char *message)
{
	pthread_mutex_lock(&t->lock);
	if (!message || !t->bus_problem ||
	    strcmp(message, t->bus_problem) != 0) {
		if (message)
			mas_warn("bus: %s", message);
		free(t->bus_problem);
		t->bus_problem = message ? strdup(message) : NULL;
	}
	pthread_mutex_unlock(&t->lock);
}

static jv iso_or_null(sqlite3_stmt *st, int column)
{
	char text[MAS_CLOCK_ISO_SIZE];

	if (sqlite3_column_type(st, column) == SQLITE_NULL)
		return jv_null();
	mas_clock_format_iso(sqlite3_column_double(st, column), text);
	return jv_string(text);
}

static jv parsed_or_null(sqlite3_stmt *st, int column)
{
	const char *text = (const char *)sqlite3_column_text(st, column);
	jv value;

	if (!text)
		return jv_null();
	value = jv_parse(text);
	if (jv_is_valid(value))
		return value;
	jv_free(value);
	return jv_null();
}

static const char *column_text(sqlite3_stmt *st, int column)
{
	return (const char *)sqlite3_column_text(st, column);
}

/* ---- rows ---- */

#define TASK_COLUMNS "id, type, flow, status, priority, created, started," \
	" completed, attempts, worker, result, error"

/* What a task's result is: the agent's output key of the output record,
 * or the whole record for a flow. */
static jv result_of(const char *type, jv output)
{
	static const char *const keys[] = { "analysis", "chat", "research" };
	int i = type_index(type);

	if (jv_get_kind(output) != JV_KIND_OBJECT ||
	    jv_object_has(jv_copy(output), jv_string("error"))) {
		jv_free(output);
		return jv_null();
	}
	if (i >= 0 && i < 3)
		return jv_object_get(output, jv_string(keys[i]));
	return output;
}

static const char *progress_of(const char *status, double *progress)
{
	*progress = strcmp(status, "queued") == 0 ? 0
	          : strcmp(status, "running") == 0 ? 0.5 : 1;
	return status;
}

/* A row selected with TASK_COLUMNS as the API shows it. */
static jv task_object(sqlite3_stmt *st, int with_result)
{
	const char *type = column_text(st, 1);
	const char *status = column_text(st, 3);
	int priority = sqlite3_column_int(st, 4);
	double progress;
	jv task;

	progress_of(status, &progress);
	task = JV_OBJECT(jv_string("task_id"), jv_string(column_text(st, 0)),
	                 jv_string("type"), jv_string(type),
	                 jv_string("status"), jv_string(status),
	                 jv_string("priority"), jv_string(
	                         priority_names[priority >= 0 && priority < 3
	                                        ? priority : 1]),
	                 jv_string("progress"), jv_number(progress));
	if (column_text(st, 2))
		task = jv_object_set(task, jv_string("flow"),
		                     jv_string(column_text(st, 2)));
	if (with_result) {
		task = jv_object_set(task, jv_string("result"), result_of(
			type, parsed_or_null(st, 10)));
		task = jv_object_set(task, jv_string("error"),
		                     parsed_or_null(st, 11));
	}
	task = jv_object_set(task, jv_string("created_at"),
	                     iso_or_null(st, 5));
	task = jv_object_set(task, jv_string("started_at"),
	                     iso_or_null(st, 6));
	task = jv_object_set(task, jv_string("completed_at"),
	                     iso_or_null(st, 7));
	task = jv_object_set(task, jv_string("attempts"),
	                     jv_number(sqlite3_column_int(st, 8)));
	return jv_object_set(task, jv_string("worker"), column_text(st, 9)
	                     ? jv_string(column_text(st, 9)) : jv_null());
}

static int run_sql(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		mas_warn("state store: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Insert the rows of LIST, now stored on the bus, as queued. */
static void insert_queued(struct mas_serve_tasks *t, struct pending *list)
{
	sqlite3 *db = t->store.db;
	sqlite3_stmt *st;
	int rc = run_sql(db, "BEGIN IMMEDIATE");

	st = rc == 0 ? prepare(db, "INSERT OR IGNORE INTO serve_task (id,"
	                       " type, flow, status, priority, created)"
	                       " VALUES (?1, ?2, ?3, 'queued', ?4, ?5)")
	             : NULL;
	for (struct pending *p = list; st && p; p = p->next) {
		if (!p->stored)
			continue; /* not stored on the bus */
		sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, p->type, -1, SQLITE_STATIC);
		if (p->flow)
			sqlite3_bind_text(st, 3, p->flow, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
		sqlite3_bind_int(st, 4, p->priority);
		sqlite3_bind_double(st, 5, p->created);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc == 0 && st && run_sql(db, "COMMIT") == 0)
		return;
	/* The tasks are on the bus: their workers make the rows. */
	mas_warn("state store: tasks stored on the bus but not in %s: %s",
	         t->store.path, sqlite3_errmsg(db));
	run_sql(db, "ROLLBACK");
}

/* ---- storing POSTs ---- */

static char *topic_of(const char *type, const char *flow)
{
	char *topic;

	if (flow && asprintf(&topic, "tasks.flow.%s", flow) >= 0)
		return topic;
	if (!flow && asprintf(&topic, "tasks.%s", type) >= 0)
		return topic;
	return NULL;
}

/* P as a request envelope (P's record consumed). */
static jv envelope_of(struct mas_serve_tasks *t, struct pending *p)
{
	char *topic = topic_of(p->type, p->flow);
	jv envelope = mas_bus_envelope(&t->bus, topic ? topic : "tasks",
	                               p->priority, p->record);

	p->record = jv_invalid();
	free(topic);
	envelope = jv_object_set(envelope, jv_string("id"), jv_string(p->id));
	envelope = jv_object_set(envelope, jv_string("type"),
	                         jv_string("request"));
	envelope = jv_object_set(envelope, jv_string("reply_to"),
	                         jv_string(DONE_TOPIC));
	envelope = jv_object_set(envelope, jv_string("correlation_id"),
	                         jv_string(p->id));
	if (p->traceparent)
		envelope = jv_object_set(envelope, jv_string("traceparent"),
		                         jv_string(p->traceparent));
	return envelope;
}

/* The 201's task, as stored now. */
static jv new_task(struct mas_serve_tasks *t, const struct pending *p,
                   long ahead)
{
	char created[MAS_CLOCK_ISO_SIZE], done[MAS_CLOCK_ISO_SIZE];
	unsigned workers = t->options.workers ? t->options.workers : 1;
	double mean;
	jv task;

	pthread_mutex_lock(&t->lock);
	mean = t->mean_seconds;
	pthread_mutex_unlock(&t->lock);
	mas_clock_format_iso(p->created, created);
	mas_clock_format_iso(p->created + mean * (1 + (double)ahead /
	                                          workers), done);
	task = JV_OBJECT(jv_string("task_id"), jv_string(p->id),
	                 jv_string("type"), jv_string(p->type),
	                 jv_string("status"), jv_string("queued"),
	                 jv_string("priority"),
	                 jv_string(priority_names[p->priority]),
	                 jv_string("created_at"), jv_string(created),
	                 jv_string("estimated_completion"), jv_string(done));
	if (p->flow)
		task = jv_object_set(task, jv_string("flow"),
		                     jv_string(p->flow));
	return task;
}

static void free_pending(struct pending *p)
{
	jv_free(p->record);
	free(p->flow);
	free(p->traceparent);
	free(p);
}

/* Publish LIST in one batch.  Those stored keep their STORED; those
 * that are not are answered with the error now and lose it. */
static int publish_list(struct mas_serve_tasks *t, struct pending *list)
{
	char *error = NULL, *late = NULL;
	int stored = 0, failed = 0;

	if (mas_bus_begin(&t->bus, &error))
		failed = 1;
	for (struct pending *p = list; p; p = p->next) {
		if (!failed && mas_bus_publish(&t->bus, envelope_of(t, p),
		                               &error) < 0)
			failed = 1;
		if (!failed)
			stored++;
		else
			p->created = -1; /* not stored */
	}
	if (mas_bus_commit(&t->bus, error ? &late : &error) && !failed) {
		failed = 1;
		stored = 0;
		for (struct pending *p = list; p; p = p->next)
			p->created = -1;
	}
	note_bus(t, failed ? (error ? error : "cannot store") : NULL);
	for (struct pending *p = list; p; p = p->next) {
		if (p->created >= 0)
			continue;
		p->stored(p->user, mas_fail(MAS_ERR_UPSTREAM_ERROR, "the task "
		          "could not be stored on the bus: %s",
		          error ? error : "bus failure"));
		p->stored = NULL;
	}
	free(error);
	free(late);
	return stored;
}

static void store_list(struct mas_serve_tasks *t, struct pending *list)
{
	int stored = publish_list(t, list);
	long ahead;

	if (stored > 0)
		insert_queued(t, list);
	pthread_mutex_lock(&t->lock);
	ahead = t->local_queued;
	t->local_queued += stored;
	if (stored > 0) {
		t->generation++;
		pthread_cond_broadcast(&t->workers_wake);
	}
	pthread_mutex_unlock(&t->lock);
	while (list) {
		struct pending *next = list->next;
		if (list->stored)
			list->stored(list->user, new_task(t, list, ahead++));
		free_pending(list);
		list = next;
	}
	mas_metrics_count("mas_tasks_stored_total", "Tasks stored on the "
	                  "bus.", NULL, stored);
}

/* Take up to BATCH_MAX waiting POSTs; NULL when stopping and none. */
static struct pending *take_waiting(struct mas_serve_tasks *t)
{
	struct pending *list, *last;
	size_t count = 1;

	pthread_mutex_lock(&t->lock);
	while (!t->head && !t->stopping)
		pthread_cond_wait(&t->storer_wake, &t->lock);
	list = t->head;
	for (last = list; last && last->next && count < BATCH_MAX; count++)
		last = last->next;
	if (last) {
		t->head = last->next;
		if (!t->head)
			t->tail = NULL;
		last->next = NULL;
		t->waiting -= count;
	}
	pthread_mutex_unlock(&t->lock);
	return list;
}

static void thread_done(struct mas_serve_tasks *t)
{
	pthread_mutex_lock(&t->lock);
	t->threads--;
	pthread_cond_broadcast(&t->stopped);
	pthread_mutex_unlock(&t->lock);
}

static void *storer_main(void *data)
{
	struct mas_serve_tasks *t = data;
	struct pending *list;

	while ((list = take_waiting(t)) != NULL)
		store_list(t, list);
	thread_done(t);
	return NULL;
}

int mas_serve_tasks_submit(struct mas_serve_tasks *tasks, const char *type,
                           const char *flow, int priority, jv record,
                           const char *traceparent,
                           mas_serve_tasks_stored_fn stored, void *user)
{
	struct pending *p = calloc(1, sizeof(*p));
	int i = type_index(type);

	if (!p || i < 0 || priority < 0 || priority > 2) {
		free(p);
		jv_free(record);
		return -1;
	}
	mas_id_new(p->id);
	p->type = types[i];
	p->flow = flow ? strdup(flow) : NULL;
	p->priority = priority;
	if (jv_get_kind(record) == JV_KIND_OBJECT &&
	    !jv_object_has(jv_copy(record), jv_string("id")))
		record = jv_object_set(record, jv_string("id"),
		                       jv_string(p->id));
	if (traceparent)
		record = jv_object_set(record, jv_string("traceparent"),
		                       jv_string(traceparent));
	p->record = record;
	p->traceparent = traceparent ? strdup(traceparent) : NULL;
	p->created = now_epoch();
	p->stored = stored;
	p->user = user;
	pthread_mutex_lock(&tasks->lock);
	if (tasks->stopping || tasks->waiting >= tasks->options.queue) {
		pthread_mutex_unlock(&tasks->lock);
		free_pending(p);
		return -1;
	}
	if (tasks->tail)
		tasks->tail->next = p;
	else
		tasks->head = p;
	tasks->tail = p;
	tasks->waiting++;
	pthread_cond_signal(&tasks->storer_wake);
	pthread_mutex_unlock(&tasks->lock);
	return 0;
}

/* ---- running tasks ---- */

/* A worker's (or the reader's) own connections and statements. */
struct runner {
	struct mas_serve_tasks *tasks;
	struct mas_bus bus;
	struct mas_store store;
	int bus_open, store_open;
	struct mas_serve_agents *agents;
	char worker[96];           /* who ran it, for the row */
};

static void runner_release(struct runner *r)
{
	mas_serve_agents_free(r->agents);
	if (r->bus_open)
		mas_bus_close(&r->bus);
	if (r->store_open)
		mas_store_close(&r->store);
}

static int runner_open(struct runner *r, struct mas_serve_tasks *t)
{
	char *error = NULL;
	int usage = 0;

	memset(r, 0, sizeof(*r));
	r->tasks = t;
	if (mas_store_open_configured(&r->store, &t->options.cli->config,
	                              &error) == 0) {
		r->store_open = 1;
		mas_store_wait_briefly(&r->store);
		if (mas_bus_open(&r->bus, &t->options.cli->config,
		                 t->options.bus_url, &usage, &error) == 0)
			r->bus_open = 1;
	}
	if (!r->bus_open) {
		note_bus(t, error ? error : "cannot open");
		free(error);
		runner_release(r);
		return -1;
	}
	snprintf(r->worker, sizeof(r->worker), "mas-serve %s",
	         r->bus.sender ? r->bus.sender : "");
	return 0;
}

/*
 * Mark ID running, making its row if the POST's was lost.  Returns 1
 * to run it, 0 when it is finished already (*OUTPUT: its stored output
 * record, to be replied again), -1 on a store failure (*OUTPUT unset).
 */
static int start_task(struct runner *r, const char *id, const char *type,
                      const char *flow, int priority, jv *output)
{
	sqlite3 *db = r->store.db;
	sqlite3_stmt *st = prepare(db, "SELECT status, attempts, result,"
	                           " error FROM serve_task WHERE id = ?1");
	int found, attempts = 0, rc = 1;
	const char *status = NULL;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	if (found) {
		status = column_text(st, 0);
		attempts = sqlite3_column_int(st, 1);
	}
	if (found && (strcmp(status, "completed") == 0 ||
	              strcmp(status, "failed") == 0)) {
		*output = parsed_or_null(st, 2);
		if (jv_get_kind(*output) == JV_KIND_NULL)
			*output = JV_OBJECT(jv_string("id"), jv_string(id),
			                    jv_string("error"),
			                    parsed_or_null(st, 3));
		rc = 0;
	}
	sqlite3_finalize(st);
	if (rc == 0)
		return 0;
	if (attempts >= MAX_ATTEMPTS) {
		*output = JV_OBJECT(jv_string("id"), jv_string(id));
		*output = jv_object_set(*output, jv_string("error"), mas_error(
			MAS_ERR_INTERNAL, "task %s was started %d times and "
			"never finished; it is not started again", id,
			attempts));
		return 2;
	}
	st = prepare(db, found
	             ? "UPDATE serve_task SET status = 'running',"
	               " started = ?5, attempts = attempts + 1, worker = ?6"
	               " WHERE id = ?1"
	             : "INSERT OR IGNORE INTO serve_task (id, type, flow,"
	               " status, priority, created, started, attempts,"
	               " worker) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?5,"
	               " 1, ?6)");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	if (flow)
		sqlite3_bind_text(st, 3, flow, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, priority);
	sqlite3_bind_double(st, 5, now_epoch());
	sqlite3_bind_text(st, 6, r->worker, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 1 : -1;
	sqlite3_finalize(st);
	return rc;
}

/* Record OUTPUT (borrowed) as ID's outcome unless it has one.  TYPE,
 * FLOW and PRIORITY make the row when it is missing (a task posted to
 * another server's store, or whose row was lost). */
static void finish_task(struct runner *r, const char *id, const char *type,
                        const char *flow, int priority, jv output,
                        const char *worker)
{
	jv error = jv_object_get(jv_copy(output), jv_string("error"));
	int failed = jv_get_kind(error) == JV_KIND_OBJECT, recorded = 0;
	size_t length;
	char *result = mas_json_dump_text(jv_copy(output), &length);
	char *error_text = failed ? mas_json_dump_text(jv_copy(error),
	                                             &length) : NULL;
	sqlite3_stmt *st = prepare(r->store.db,
		"INSERT INTO serve_task (id, type, flow, status, priority,"
		" created, completed, attempts, worker, result, error)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 0, ?7, ?8, ?9)"
		" ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
		" completed = excluded.completed,"
		" worker = coalesce(serve_task.worker, excluded.worker),"
		" result = excluded.result, error = excluded.error"
		" WHERE serve_task.status NOT IN ('completed', 'failed')");

	jv_free(error);
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
		if (flow)
			sqlite3_bind_text(st, 3, flow, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, failed ? "failed" : "completed", -1,
		                  SQLITE_STATIC);
		sqlite3_bind_int(st, 5, priority);
		sqlite3_bind_double(st, 6, now_epoch());
		sqlite3_bind_text(st, 7, worker, -1, SQLITE_STATIC);
		if (!failed)
			sqlite3_bind_text(st, 8, result, -1, SQLITE_STATIC);
		if (failed)
			sqlite3_bind_text(st, 9, error_text, -1,
			                  SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			mas_warn("state store: task %s: %s", id,
			         sqlite3_errmsg(r->store.db));
		else
			recorded = sqlite3_changes(r->store.db) > 0;
	}
	sqlite3_finalize(st);
	free(result);
	free(error_text);
	/* A task run here is recorded again when its reply comes back on
	 * tasks.done: count it once, when its row changed. */
	if (!recorded)
		return;
	if (failed)
		mas_metrics_count("mas_tasks_finished_total", "Tasks "
		                  "finished here, by outcome.",
		                  "outcome=\"failed\"", 1);
	else
		mas_metrics_count("mas_tasks_finished_total", "Tasks "
		                  "finished here, by outcome.",
		                  "outcome=\"completed\"", 1);
}

/* What a task's topic says: its type, and its flow (malloc'd) or NULL.
 * -1 for a topic that is not a task's. */
static int parse_topic(const char *topic, const char **type, char **flow)
{
	const char *flow_prefix = "tasks.flow.";

	*flow = NULL;
	if (strncmp(topic, flow_prefix, strlen(flow_prefix)) == 0) {
		*type = "flow";
		*flow = strdup(topic + strlen(flow_prefix));
		return *flow && mas_serve_flow_name_valid(*flow) ? 0 : -1;
	}
	if (strncmp(topic, "tasks.", 6) != 0 ||
	    type_index(topic + 6) < 0 || strcmp(topic + 6, "flow") == 0)
		return -1;
	*type = types[type_index(topic + 6)];
	return 0;
}

static enum mas_serve_agent agent_of(const char *type)
{
	return strcmp(type, "analysis") == 0 ? MAS_SERVE_ANALYSIS
	     : strcmp(type, "chat") == 0 ? MAS_SERVE_CHAT
	     : strcmp(type, "research") == 0 ? MAS_SERVE_RESEARCH
	     : MAS_SERVE_FLOW;
}

/* The output of a record that could not be run: the record with the
 * error, as a program writes it.  Both consumed. */
static jv failed_record(jv record, jv failure)
{
	if (jv_get_kind(record) != JV_KIND_OBJECT) {
		jv_free(record);
		record = jv_object();
	}
	return jv_object_set(record, jv_string("error"),
	                     jv_invalid_get_msg(failure));
}

static void took(struct mas_serve_tasks *t, double seconds)
{
	pthread_mutex_lock(&t->lock);
	t->mean_seconds = t->mean_seconds * 0.9 + seconds * 0.1;
	if (t->local_queued > 0)
		t->local_queued--;
	pthread_mutex_unlock(&t->lock);
}

/* Run one task envelope (consumed): the output record for the reply. */
static jv run_task(struct runner *r, jv request, const char *id,
                   const char *type, const char *flow, int priority)
{
	struct mas_serve_tasks *t = r->tasks;
	double started = mas_clock_monotonic();
	jv record = jv_object_get(request, jv_string("payload")), output;
	int go = start_task(r, id, type, flow, priority, &output);

	if (go < 0) {
		jv_free(record);
		return mas_fail(MAS_ERR_UPSTREAM_ERROR, "state store: %s",
		                sqlite3_errmsg(r->store.db));
	}
	if (go == 0) {
		jv_free(record);
		return output; /* finished before: not run again */
	}
	if (go == 2) {
		jv_free(record);
	} else {
		output = mas_serve_agents_run(r->agents, agent_of(type), flow,
		                              jv_copy(record),
		                              started + t->options.timeout,
		                              NULL, NULL);
		if (!jv_is_valid(output))
			output = failed_record(jv_copy(record), output);
		jv_free(record);
	}
	finish_task(r, id, type, flow, priority, output, r->worker);
	mas_serve_agents_count(r->agents);
	took(t, mas_clock_monotonic() - started);
	return output;
}

static jv string_field(jv object, const char *key)
{
	jv value = jv_object_get(jv_copy(object), jv_string(key));

	if (jv_get_kind(value) == JV_KIND_STRING)
		return value;
	jv_free(value);
	return jv_invalid();
}

/* mas_bus_answer_fn of a task worker. */
static jv answer_task(void *data, jv request)
{
	struct runner *r = data;
	jv id = string_field(request, "id");
	jv topic = string_field(request, "topic");
	jv priority = string_field(request, "priority");
	const char *type;
	char *flow = NULL;
	jv output;

	if (!jv_is_valid(id) || !jv_is_valid(topic) ||
	    parse_topic(jv_string_value(topic), &type, &flow)) {
		mas_warn("tasks: a message that is not a task, dropped");
		output = jv_invalid();
		jv_free(request);
	} else {
		int p = jv_is_valid(priority) ?
		        mas_bus_priority_parse(jv_string_value(priority)) : -1;
		output = run_task(r, request, jv_string_value(id), type, flow,
		                  p < 0 ? MAS_BUS_NORMAL : p);
	}
	free(flow);
	jv_free(id);
	jv_free(topic);
	jv_free(priority);
	return output;
}

/* The subscriptions of a worker: one per agent, one per flow. */
struct subs {
	struct mas_bus_sub *list;
	char **topics;
	size_t count;
	double scanned;            /* when the flows were last looked at */
};

static void add_sub(struct runner *r, struct subs *subs, const char *topic)
{
	struct mas_bus_sub *list;
	char **topics, *error = NULL;

	for (size_t i = 0; i < subs->count; i++)
		if (strcmp(subs->topics[i], topic) == 0)
			return;
	list = realloc(subs->list, (subs->count + 1) * sizeof(*list));
	if (list)
		subs->list = list;
	topics = realloc(subs->topics, (subs->count + 1) * sizeof(*topics));
	if (topics)
		subs->topics = topics;
	if (!list || !topics)
		return;
	topics[subs->count] = strdup(topic);
	if (!topics[subs->count])
		return;
	if (mas_bus_sub_init(&list[subs->count], &r->bus, topics[subs->count],
	                     topics[subs->count], 0, &error)) {
		note_bus(r->tasks, error ? error : "cannot subscribe");
		free(error);
		free(topics[subs->count]);
		return;
	}
	list[subs->count].visibility = r->tasks->options.timeout + 1;
	list[subs->count].max_deliver = 10;
	subs->count++;
}

static void scan_flows(struct runner *r, struct subs *subs)
{
	jv flows = mas_serve_agents_flows(r->agents);

	jv_array_foreach(flows, i, entry) {
		jv name = jv_object_get(entry, jv_string("name"));
		char *topic = topic_of("flow", jv_string_value(name));

		if (topic)
			add_sub(r, subs, topic);
		free(topic);
		jv_free(name);
	}
	jv_free(flows);
	subs->scanned = mas_clock_monotonic();
}

static void subs_release(struct subs *subs)
{
	for (size_t i = 0; i < subs->count; i++) {
		mas_bus_sub_release(&subs->list[i]);
		free(subs->topics[i]);
	}
	free(subs->list);
	free(subs->topics);
}

/* One pass over every subscription; the tasks run, or -1. */
static long serve_round(struct runner *r, struct subs *subs)
{
	long done = 0;

	for (size_t i = 0; i < subs->count; i++) {
		char *error = NULL;
		long n = mas_bus_serve_batch(&subs->list[i], WORKER_BATCH, 0,
		                             answer_task, r, &error);
		if (n < 0) {
			note_bus(r->tasks, error ? error : "bus failure");
			free(error);
			return -1;
		}
		done += n;
	}
	if (done > 0)
		note_bus(r->tasks, NULL);
	return done;
}

/* Sleep until tasks are stored here, the server stops, or SECONDS pass;
 * 1 when stopping. */
static int idle(struct mas_serve_tasks *t, unsigned long seen, double seconds)
{
	struct timespec until;
	int stopping;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)seconds;
	until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&t->lock);
	while (!t->stopping && t->generation == seen &&
	       pthread_cond_timedwait(&t->workers_wake, &t->lock, &until) == 0)
		;
	stopping = t->stopping;
	pthread_mutex_unlock(&t->lock);
	return stopping;
}

static unsigned long generation(struct mas_serve_tasks *t, int *stopping)
{
	unsigned long seen;

	pthread_mutex_lock(&t->lock);
	seen = t->generation;
	*stopping = t->stopping;
	pthread_mutex_unlock(&t->lock);
	return seen;
}

static void work(struct runner *r)
{
	struct subs subs = { 0 };
	double pause = 0.01;
	int stopping = 0;

	for (int i = 0; types[i] && i < 3; i++) {
		char *topic = topic_of(types[i], NULL);
		if (topic)
			add_sub(r, &subs, topic);
		free(topic);
	}
	scan_flows(r, &subs);
	while (!stopping) {
		unsigned long seen = generation(r->tasks, &stopping);
		long done;

		if (stopping)
			break;
		if (mas_clock_monotonic() - subs.scanned > FLOW_RESCAN)
			scan_flows(r, &subs);
		done = serve_round(r, &subs);
		/* Redeliveries and tasks stored by others are found by
		 * looking again; tasks stored here wake the workers. */
		pause = done > 0 ? 0.01 : pause * 2 > 1 ? 1 : pause * 2;
		if (done <= 0)
			stopping = idle(r->tasks, seen, done < 0 ? 1 : pause);
	}
	subs_release(&subs);
}

static void *worker_main(void *data)
{
	struct mas_serve_tasks *t = data;
	struct runner r;

	int opened = runner_open(&r, t) == 0;

	if (opened)
		r.agents = mas_serve_agents_new(&t->agents);
	pthread_mutex_lock(&t->lock);
	t->workers_alive += opened && r.agents;
	t->workers_ready++;
	pthread_cond_broadcast(&t->stopped);
	pthread_mutex_unlock(&t->lock);
	if (opened && r.agents) {
		work(&r);
		pthread_mutex_lock(&t->lock);
		t->workers_alive--;
		pthread_mutex_unlock(&t->lock);
	}
	if (opened)
		runner_release(&r);
	thread_done(t);
	return NULL;
}

/* ---- the replies on tasks.done ---- */

static void read_reply(struct runner *r, const char *text, size_t len)
{
	jv reply = jv_parse_sized(text, (int)len);
	jv id = string_field(reply, "correlation_id");
	jv sender = string_field(reply, "sender");
	jv output = jv_object_get(jv_copy(reply), jv_string("payload"));

	if (mas_bus_is_response(reply) && jv_is_valid(id) &&
	    jv_get_kind(output) == JV_KIND_OBJECT)
		finish_task(r, jv_string_value(id), "unknown", NULL,
		            MAS_BUS_NORMAL, output, jv_is_valid(sender) ?
		            jv_string_value(sender) : "unknown");
	jv_free(reply);
	jv_free(id);
	jv_free(sender);
	jv_free(output);
}

static int stopping_now(struct mas_serve_tasks *t)
{
	int stopping;

	pthread_mutex_lock(&t->lock);
	stopping = t->stopping;
	pthread_mutex_unlock(&t->lock);
	return stopping;
}

static void read_replies(struct runner *r)
{
	struct mas_bus_batch batch = { 0 };
	struct mas_bus_sub sub;
	char *error = NULL;

	if (mas_bus_sub_init(&sub, &r->bus, DONE_TOPIC, DONE_GROUP, 0,
	                     &error)) {
		note_bus(r->tasks, error ? error : "cannot subscribe");
		free(error);
		return;
	}
	while (!stopping_now(r->tasks)) {
		long n = mas_bus_fetch_batch(&sub, 256, 0.25, &batch, &error);

		/* One transaction for the batch's rows. */
		if (n > 0)
			run_sql(r->store.db, "BEGIN IMMEDIATE");
		for (long i = 0; i < n; i++) {
			size_t len;
			const char *text = mas_bus_batch_text(&batch,
			                                      (size_t)i, &len);
			read_reply(r, text, len);
		}
		if (n > 0 && run_sql(r->store.db, "COMMIT"))
			run_sql(r->store.db, "ROLLBACK");
		if (n > 0 && mas_bus_ack(&sub, &error))
			n = -1;
		if (n < 0) {
			note_bus(r->tasks, error ? error : "bus failure");
			free(error);
			error = NULL;
			idle(r->tasks, generation(r->tasks, &(int){ 0 }), 1);
		}
	}
	mas_bus_batch_release(&batch);
	mas_bus_sub_release(&sub);
}

static void *reader_main(void *data)
{
	struct mas_serve_tasks *t = data;
	struct runner r;

	if (runner_open(&r, t) == 0) {
		read_replies(&r);
		runner_release(&r);
	}
	thread_done(t);
	return NULL;
}

/* ---- reading the table ---- */

static struct mas_store *take_reader(struct mas_serve_tasks *t, char **error)
{
	struct mas_store *store = NULL;

	pthread_mutex_lock(&t->lock);
	if (t->reader_count > 0)
		store = t->readers[--t->reader_count];
	pthread_mutex_unlock(&t->lock);
	if (store)
		return store;
	store = calloc(1, sizeof(*store));
	if (!store) {
		mas_error_set(error, "out of memory");
		return NULL;
	}
	if (mas_store_open_configured(store, &t->options.cli->config,
	                              error) != 0) {
		free(store);
		return NULL;
	}
	mas_store_wait_briefly(store);
	return store;
}

static void give_reader(struct mas_serve_tasks *t, struct mas_store *store)
{
	pthread_mutex_lock(&t->lock);
	if (t->reader_count < READERS_MAX) {
		t->readers[t->reader_count++] = store;
		store = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	if (store) {
		mas_store_close(store);
		free(store);
	}
}

static jv store_failure(char *error)
{
	jv failure = mas_fail(MAS_ERR_UPSTREAM_ERROR, "state store: %s",
	                      error ? error : "cannot be read");

	free(error);
	return failure;
}

jv mas_serve_tasks_get(struct mas_serve_tasks *tasks, const char *id)
{
	char *error = NULL;
	struct mas_store *store = take_reader(tasks, &error);
	sqlite3_stmt *st;
	jv task = jv_null();

	if (!store)
		return store_failure(error);
	st = prepare(store->db, "SELECT " TASK_COLUMNS
	             " FROM serve_task WHERE id = ?1");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			task = task_object(st, 1);
		sqlite3_finalize(st);
	} else {
		task = store_failure(strdup(sqlite3_errmsg(store->db)));
	}
	give_reader(tasks, store);
	return task;
}

jv mas_serve_tasks_list(struct mas_serve_tasks *tasks, const char *status,
                        long limit)
{
	char *error = NULL;
	struct mas_store *store = take_reader(tasks, &error);
	sqlite3_stmt *st;
	jv list = jv_array();

	if (!store) {
		jv_free(list);
		return store_failure(error);
	}
	st = prepare(store->db, status
	             ? "SELECT " TASK_COLUMNS " FROM serve_task WHERE"
	               " status = ?2 ORDER BY created DESC, id DESC LIMIT ?1"
	             : "SELECT " TASK_COLUMNS " FROM serve_task"
	               " ORDER BY created DESC, id DESC LIMIT ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, limit);
		if (status)
			sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW)
			list = jv_array_append(list, task_object(st, 0));
		sqlite3_finalize(st);
	} else {
		jv_free(list);
		list = store_failure(strdup(sqlite3_errmsg(store->db)));
	}
	give_reader(tasks, store);
	return list;
}

jv mas_serve_tasks_counts(struct mas_serve_tasks *tasks)
{
	static const char *const states[] = { "queued", "running",
		                               "completed", "failed" };
	char *error = NULL;
	struct mas_store *store = take_reader(tasks, &error);
	jv counts = JV_OBJECT(jv_string("queued"), jv_number(0),
	                      jv_string("running"), jv_number(0),
	                      jv_string("completed"), jv_number(0),
	                      jv_string("failed"), jv_number(0));
	sqlite3_stmt *st = store ? prepare(store->db, "SELECT status,"
	                   " count(*) FROM serve_task GROUP BY status") : NULL;
	char labels[48];
	size_t waiting;

	free(error);
	while (st && sqlite3_step(st) == SQLITE_ROW)
		counts = jv_object_set(counts, jv_string(column_text(st, 0)),
		                       jv_number(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	if (store)
		give_reader(tasks, store);
	pthread_mutex_lock(&tasks->lock);
	waiting = tasks->waiting;
	pthread_mutex_unlock(&tasks->lock);
	counts = jv_object_set(counts, jv_string("storing"),
	                       jv_number((double)waiting));
	for (int i = 0; i < 4; i++) {
		jv n = jv_object_get(jv_copy(counts), jv_string(states[i]));
		snprintf(labels, sizeof(labels), "state=\"%s\"", states[i]);
		mas_metrics_set("mas_tasks", "gauge", "Tasks in the state "
		                "store, by state.", labels,
		                jv_number_value(n));
		if (i == 0)
			mas_metrics_set("mas_task_queue_depth", "gauge",
			                "Tasks waiting to run.", NULL,
			                jv_number_value(n) + (double)waiting);
		jv_free(n);
	}
	return counts;
}

static jv component(const char *status)
{
	return JV_OBJECT(jv_string("status"), jv_string(status));
}

jv mas_serve_tasks_health(struct mas_serve_tasks *tasks, int *down)
{
	char *error = NULL, *problem;
	struct mas_store *store = take_reader(tasks, &error);
	int alive, store_ok = 0;
	jv health = jv_object(), bus, workers;

	if (store) {
		store_ok = run_sql(store->db, "SELECT count(*) FROM"
		                   " serve_task WHERE 0") == 0;
		if (!store_ok)
			error = strdup(sqlite3_errmsg(store->db));
		give_reader(tasks, store);
	}
	health = jv_object_set(health, jv_string("store"),
	                       component(store_ok ? "ok" : "down"));
	if (!store_ok) {
		health = jv_setpath(health, JV_ARRAY(jv_string("store"),
		                    jv_string("error")), jv_string(
		                    error ? error : "cannot be opened"));
		*down = 1;
	}
	free(error);
	pthread_mutex_lock(&tasks->lock);
	problem = tasks->bus_problem ? strdup(tasks->bus_problem) : NULL;
	alive = tasks->workers_alive;
	pthread_mutex_unlock(&tasks->lock);
	bus = component(problem ? "down" : "ok");
	bus = jv_object_set(bus, jv_string("backend"), jv_string(
		mas_bus_backend_name(&tasks->bus)));
	if (problem) {
		bus = jv_object_set(bus, jv_string("error"),
		                    jv_string(problem));
		*down = 1;
	}
	free(problem);
	health = jv_object_set(health, jv_string("bus"), bus);
	workers = component(alive < (int)tasks->options.workers ? "down"
	                                                        : "ok");
	if (alive < (int)tasks->options.workers)
		*down = 1;
	workers = jv_object_set(workers, jv_string("running"),
	                        jv_number(alive));
	workers = jv_object_set(workers, jv_string("configured"),
	                        jv_number(tasks->options.workers));
	return jv_object_set(health, jv_string("task_workers"), workers);
}

/* ---- start and stop ---- */

static int start_thread(struct mas_serve_tasks *t, pthread_t *thread,
                        void *(*main)(void *))
{
	pthread_mutex_lock(&t->lock);
	t->threads++;
	pthread_mutex_unlock(&t->lock);
	if (pthread_create(thread, NULL, main, t) == 0) {
		/* Waited for through THREADS, with a bound: never joined. */
		pthread_detach(*thread);
		return 0;
	}
	thread_done(t);
	return -1;
}

static int open_storer(struct mas_serve_tasks *t, int *usage, char **error)
{
	if (mas_store_open_configured(&t->store, &t->options.cli->config,
	                              error) != 0)
		return -1;
	mas_store_wait_briefly(&t->store);
	if (mas_bus_open(&t->bus, &t->options.cli->config, t->options.bus_url,
	                 usage, error) == 0)
		return 0;
	mas_store_close(&t->store);
	return -1;
}

struct mas_serve_tasks *mas_serve_tasks_start(
	const struct mas_serve_tasks_options *options, int *usage,
	char **error)
{
	struct mas_serve_tasks *t = calloc(1, sizeof(*t));

	*usage = 0;
	if (!t) {
		mas_error_set(error, "out of memory");
		return NULL;
	}
	t->options = *options;
	if (!t->options.bus_url)
		t->options.bus_url = mas_config_get(&options->cli->config,
		                                    "bus.url");
	t->agents = *options->agents;
	t->agents.quiet = 1;
	t->mean_seconds = 1;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->storer_wake, NULL);
	pthread_cond_init(&t->workers_wake, NULL);
	pthread_cond_init(&t->stopped, NULL);
	if (open_storer(t, usage, error)) {
		free(t);
		return NULL;
	}
	t->workers = calloc(options->workers + 1, sizeof(*t->workers));
	if (!t->workers || start_thread(t, &t->storer, storer_main) ||
	    start_thread(t, &t->reader, reader_main)) {
		mas_error_set(error, "cannot start the task threads");
		mas_serve_tasks_stop(t, 1);
		return NULL;
	}
	for (unsigned i = 0; i < options->workers; i++)
		if (start_thread(t, &t->workers[i], worker_main)) {
			mas_warn("tasks: worker %u could not start", i + 1);
			pthread_mutex_lock(&t->lock);
			t->workers_ready++;
			pthread_mutex_unlock(&t->lock);
		}
	/* Ready when every worker has its agents, as requests' are. */
	pthread_mutex_lock(&t->lock);
	while (t->workers_ready < (int)options->workers)
		pthread_cond_wait(&t->stopped, &t->lock);
	pthread_mutex_unlock(&t->lock);
	return t;
}

/* Wait until every thread ended or BOUND seconds passed; 1 when all
 * did. */
static int wait_threads(struct mas_serve_tasks *t, double bound)
{
	struct timespec until;
	int all;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)bound + 1;
	pthread_mutex_lock(&t->lock);
	while (t->threads > 0 &&
	       pthread_cond_timedwait(&t->stopped, &t->lock, &until) == 0)
		;
	all = t->threads == 0;
	pthread_mutex_unlock(&t->lock);
	return all;
}

void mas_serve_tasks_stop(struct mas_serve_tasks *tasks, double bound)
{
	if (!tasks)
		return;
	pthread_mutex_lock(&tasks->lock);
	tasks->stopping = 1;
	pthread_cond_broadcast(&tasks->storer_wake);
	pthread_cond_broadcast(&tasks->workers_wake);
	pthread_mutex_unlock(&tasks->lock);
	if (!wait_threads(tasks, bound)) {
		/* A worker deep in an agent: its task is delivered again
		 * after its claim lapses.  Leave it all to the exit. */
		mas_warn("tasks: %d thread(s) still busy after %g s; their "
		         "tasks will be run again", tasks->threads, bound);
		return;
	}
	for (size_t i = 0; i < tasks->reader_count; i++) {
		mas_store_close(tasks->readers[i]);
		free(tasks->readers[i]);
	}
	mas_bus_close(&tasks->bus);
	mas_store_close(&tasks->store);
	free(tasks->bus_problem);
	free(tasks->workers);
	free(tasks);
}
