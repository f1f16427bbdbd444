/*
 * flow-store.c — mas-flow's checkpoints (flow-store.h): tables flow_run,
 * flow_record and flow_step of migration 6 in store.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "flow-store.h"
#include "log.h"
#include "mas.h"
#include "store.h"

#include "banned.h"

/* Records per transaction: large enough that a commit's fsync is paid
 * rarely, small enough that a kill -9 loses little. */
enum { BATCH = 1000 };

enum { ST_RECORD, ST_STEP, ST_COUNT };

struct mas_flow_checkpoint {
	struct mas_store store;
	char *run_id;
	sqlite3_stmt *statements[ST_COUNT];
	long seq;             /* the current record, from 1 */
	long step;            /* its steps so far */
	long records, failed, steps;
	char *id;             /* the current record's id, or NULL */
	int broken;           /* a write failed: stop writing */
};

static const char *const statement_sql[ST_COUNT] = {
	"INSERT OR REPLACE INTO flow_record (run_id, seq, id, steps, node,"
	"  done, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	"INSERT INTO flow_step (run_id, seq, step, node, ms)"
	"  VALUES (?1, ?2, ?3, ?4, ?5)",
};

static char *message(const char *format, ...)
	__attribute__((format(printf, 1, 2)));

static char *message(const char *format, ...)
{
	va_list ap;
	char *text = NULL;

	va_start(ap, format);
	if (vasprintf(&text, format, ap) < 0)
		text = NULL;
	va_end(ap);
	return text;
}

static double now(void)
{
	return (double)mas_clock_epoch_ms() / 1000.0;
}

static int exec(struct mas_flow_checkpoint *c, const char *sql)
{
	char *error = NULL;

	if (sqlite3_exec(c->store.db, sql, NULL, NULL, &error) == SQLITE_OK)
		return 0;
	mas_log(MAS_LOG_ERROR, "%s: %s", c->store.path,
	        error ? error : "error");
	sqlite3_free(error);
	c->broken = 1;
	return -1;
}

static int start_run(struct mas_flow_checkpoint *c, const char *flow,
                     char **error)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(c->store.db, "INSERT INTO flow_run (id, flow,"
	                        " started, updated, status) VALUES (?1, ?2,"
	                        " ?3, ?3, 'running')", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		*error = message("%s: %s", c->store.path,
		                 sqlite3_errmsg(c->store.db));
		return -1;
	}
	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, flow, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, now());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT) {
		*error = message("--run-id: run '%s' exists already",
		                 c->run_id);
		return -1;
	}
	if (rc != SQLITE_DONE) {
		*error = message("%s: %s", c->store.path,
		                 sqlite3_errmsg(c->store.db));
		return -1;
	}
	return 0;
}

static void free_checkpoint(struct mas_flow_checkpoint *c)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->statements[i]);
	mas_store_close(&c->store);
	free(c->run_id);
	free(c->id);
	free(c);
}

struct mas_flow_checkpoint *mas_flow_checkpoint_open(
	const struct mas_config *config, const char *run_id,
	const char *flow, char **error)
{
	struct mas_flow_checkpoint *c = calloc(1, sizeof(*c));

	if (!c || !(c->run_id = strdup(run_id)))
		mas_die(MAS_EXIT_USAGE, "out of memory");
	if (mas_store_open_configured(&c->store, config, error) != 0 ||
	    start_run(c, flow, error) != 0) {
		free_checkpoint(c);
		return NULL;
	}
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v2(c->store.db, statement_sql[i], -1,
		                       &c->statements[i], NULL) != SQLITE_OK) {
			*error = message("%s: %s", c->store.path,
			                 sqlite3_errmsg(c->store.db));
			free_checkpoint(c);
			return NULL;
		}
	if (exec(c, "BEGIN") != 0) {
		*error = message("%s: cannot begin a transaction",
		                 c->store.path);
		free_checkpoint(c);
		return NULL;
	}
	return c;
}

static void run_statement(struct mas_flow_checkpoint *c, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE && !c->broken) {
		mas_log(MAS_LOG_ERROR, "%s: checkpoint: %s", c->store.path,
		        sqlite3_errmsg(c->store.db));
		c->broken = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

void mas_flow_checkpoint_record(struct mas_flow_checkpoint *c, jv state)
{
	jv id;

	if (!c)
		return;
	if (c->seq > 0 && c->seq % BATCH == 0 && !c->broken &&
	    exec(c, "COMMIT") == 0)
		exec(c, "BEGIN");
	c->seq++;
	c->step = 0;
	free(c->id);
	c->id = NULL;
	id = jv_object_get(jv_copy(state), jv_string("id"));
	if (jv_get_kind(id) == JV_KIND_STRING)
		c->id = strdup(jv_string_value(id));
	jv_free(id);
}

/* The record's latest state row. */
static void store_state(struct mas_flow_checkpoint *c, const char *node,
                        int done, jv state)
{
	sqlite3_stmt *st = c->statements[ST_RECORD];
	jv text = jv_dump_string(jv_copy(state), 0);

	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->seq);
	if (c->id)
		sqlite3_bind_text(st, 3, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->step);
	if (node)
		sqlite3_bind_text(st, 5, node, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, done);
	sqlite3_bind_text(st, 7, jv_string_value(text), -1, SQLITE_STATIC);
	run_statement(c, st);
	jv_free(text);
}

void mas_flow_checkpoint_step(struct mas_flow_checkpoint *c,
                              const char *node, double ms, jv state)
{
	sqlite3_stmt *st;

	if (!c || c->broken)
		return;
	st = c->statements[ST_STEP];
	c->step++;
	c->steps++;
	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->seq);
	sqlite3_bind_int64(st, 3, c->step);
	sqlite3_bind_text(st, 4, node, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, ms);
	run_statement(c, st);
	store_state(c, node, 0, state);
}

void mas_flow_checkpoint_done(struct mas_flow_checkpoint *c, jv state)
{
	jv error;

	if (!c)
		return;
	c->records++;
	error = jv_object_get(jv_copy(state), jv_string("error"));
	if (jv_get_kind(error) == JV_KIND_OBJECT)
		c->failed++;
	jv_free(error);
	if (!c->broken)
		store_state(c, NULL, 1, state);
}

static void finish_run(struct mas_flow_checkpoint *c)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(c->store.db, "UPDATE flow_run SET updated = ?2,"
	                       " status = ?3, records = ?4, failed = ?5,"
	                       " steps = ?6 WHERE id = ?1", -1, &st,
	                       NULL) != SQLITE_OK) {
		c->broken = 1;
		return;
	}
	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, now());
	sqlite3_bind_text(st, 3, c->failed ? "failed" : "done", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->records);
	sqlite3_bind_int64(st, 5, c->failed);
	sqlite3_bind_int64(st, 6, c->steps);
	run_statement(c, st);
	sqlite3_finalize(st);
}

int mas_flow_checkpoint_close(struct mas_flow_checkpoint *c)
{
	int status;

	if (!c)
		return 0;
	if (!c->broken)
		finish_run(c);
	if (!c->broken)
		exec(c, "COMMIT");
	status = c->broken ? -1 : 0;
	free_checkpoint(c);
	return status;
}

static jv run_row(sqlite3_stmt *st)
{
	static const char *const names[] = {
		"run_id", "flow", "started", "updated", "status", "records",
		"failed", "steps"
	};
	jv row = jv_object();
	char iso[MAS_CLOCK_ISO_SIZE];

	for (int i = 0; i < 8; i++) {
		jv value;

		if (i == 2 || i == 3) {
			mas_clock_format_iso(sqlite3_column_double(st, i),
			                     iso);
			value = jv_string(iso);
		} else if (i >= 5) {
			value = jv_number((double)sqlite3_column_int64(st, i));
		} else {
			value = jv_string((const char *)
			                  sqlite3_column_text(st, i));
		}
		row = jv_object_set(row, jv_string(names[i]), value);
	}
	return row;
}

static void print_line(FILE *out, jv value)
{
	jv line = jv_dump_string(value, 0);

	fprintf(out, "%s\n", jv_string_value(line));
	jv_free(line);
}

/* Print the runs SQL selects (with RUN_ID bound, if not NULL); how many
 * there were, or -1 with *ERROR set. */
static long print_runs(struct mas_store *store, const char *where,
                       const char *run_id, FILE *out, char **error)
{
	sqlite3_stmt *st;
	char *sql = message("SELECT id, flow, started, updated, status,"
	                    " records, failed, steps FROM flow_run %s"
	                    " ORDER BY started DESC, id", where);
	long count = 0;
	int rc;

	if (!sql)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
	free(sql);
	if (rc == SQLITE_OK && run_id)
		sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		print_line(out, run_row(st));
		count++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		*error = message("%s: %s", store->path,
		                 sqlite3_errmsg(store->db));
		return -1;
	}
	return count;
}

int mas_flow_runs(const struct mas_config *config, FILE *out, char **error)
{
	struct mas_store store = { 0 };
	long count;

	if (mas_store_open_configured(&store, config, error) != 0)
		return -1;
	count = print_runs(&store, "", NULL, out, error);
	mas_store_close(&store);
	return count < 0 ? -1 : 0;
}

static jv record_row(sqlite3_stmt *st)
{
	jv row = jv_object();
	jv state = jv_parse((const char *)sqlite3_column_text(st, 4));
	jv error = jv_object_get(state, jv_string("error"));

	row = jv_object_set(row, jv_string("seq"),
	                    jv_number((double)sqlite3_column_int64(st, 0)));
	row = jv_object_set(row, jv_string("id"),
	                    sqlite3_column_type(st, 1) == SQLITE_NULL ?
	                    jv_null() : jv_string((const char *)
	                    sqlite3_column_text(st, 1)));
	row = jv_object_set(row, jv_string("steps"),
	                    jv_number((double)sqlite3_column_int64(st, 2)));
	row = jv_object_set(row, jv_string("done"),
	                    jv_bool(sqlite3_column_int(st, 3)));
	if (jv_get_kind(error) == JV_KIND_OBJECT)
		error = jv_object_get(error, jv_string("code"));
	else {
		jv_free(error);
		error = jv_null();
	}
	return jv_object_set(row, jv_string("error"), error);
}

static int print_records(struct mas_store *store, const char *run_id,
                         FILE *out, char **error)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(store->db, "SELECT seq, id, steps, done,"
	                            " state FROM flow_record WHERE run_id = ?1"
	                            " ORDER BY seq", -1, &st, NULL);

	if (rc == SQLITE_OK)
		sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		print_line(out, record_row(st));
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		*error = message("%s: %s", store->path,
		                 sqlite3_errmsg(store->db));
		return -1;
	}
	return 0;
}

int mas_flow_show(const struct mas_config *config, const char *run_id,
                  FILE *out, char **error)
{
	struct mas_store store = { 0 };
	long count;
	int status = 0;

	if (mas_store_open_configured(&store, config, error) != 0)
		return -1;
	count = print_runs(&store, "WHERE id = ?1", run_id, out, error);
	if (count < 0)
		status = -1;
	else if (count == 0)
		status = 1;
	else
		status = print_records(&store, run_id, out, error);
	mas_store_close(&store);
	return status;
}

long mas_flow_gc(const struct mas_config *config, double seconds,
                 char **error)
{
	struct mas_store store = { 0 };
	sqlite3_stmt *st;
	long removed = -1;

	if (mas_store_open_configured(&store, config, error) != 0)
		return -1;
	if (sqlite3_prepare_v2(store.db, "DELETE FROM flow_run WHERE"
	                       " updated < ?1", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_double(st, 1, now() - seconds);
		if (sqlite3_step(st) == SQLITE_DONE)
			removed = sqlite3_changes(store.db);
		sqlite3_finalize(st);
	}
	if (removed < 0)
		*error = message("%s: %s", store.path,
		                 sqlite3_errmsg(store.db));
	mas_store_close(&store);
	return removed;
}
