/*
 * flow-store.c — mas-flow's checkpoints (flow-store.h): tables flow_run,
 * flow_record and flow_step of migration 6 in store.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "flow-store.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "store.h"

#include "banned.h"

/* Steps per transaction at most, when no output flush commits first:
 * large enough that commits are paid rarely, small enough that a kill -9
 * loses little. */
enum { BATCH = 4096 };

enum { ST_RECORD, ST_STEP, ST_STATE, ST_DONE, ST_EMITTED, ST_COUNT };

struct mas_flow_checkpoint {
	struct mas_store store;
	char *run_id;
	sqlite3_stmt *statements[ST_COUNT];
	long writes;          /* since the last commit */
	long emitted;         /* the highest seq known written */
	long last_seq;        /* the highest seq stored (reopened runs) */
	int broken;           /* a write failed: stop writing */
	int output;           /* the output's descriptor, or -1 */
	int output_is_file;   /* a regular file: its offset is kept */
	/* a reopened run's output file as its last process left it */
	long long stored_dev, stored_ino, stored_offset; /* -1: unknown */
	char *stored_path;    /* its path then, or NULL */
};

static const char *const statement_sql[ST_COUNT] = {
	"INSERT OR REPLACE INTO flow_record (run_id, seq, id, steps, node,"
	"  done, state) VALUES (?1, ?2, ?3, 0, NULL, 0, ?4)",
	"INSERT OR REPLACE INTO flow_step (run_id, seq, step, node, ms,"
	"  edge, entry) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	"UPDATE flow_record SET steps = ?3, node = ?4, state = ?5"
	"  WHERE run_id = ?1 AND seq = ?2",
	"UPDATE flow_record SET steps = ?3, done = ?4, state = ?5"
	"  WHERE run_id = ?1 AND seq = ?2",
	"UPDATE flow_run SET emitted = ?2, updated = ?3, out_offset = ?4"
	"  WHERE id = ?1",
};

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
		mas_error_set(error, "%s: %s", c->store.path,
		                     sqlite3_errmsg(c->store.db));
		return -1;
	}
	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, flow, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, now());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT) {
		mas_error_set(error, "--run-id: run '%s' exists already",
		                     c->run_id);
		return -1;
	}
	if (rc != SQLITE_DONE) {
		mas_error_set(error, "%s: %s", c->store.path,
		                     sqlite3_errmsg(c->store.db));
		return mas_store_status(rc);
	}
	return 0;
}

static struct mas_flow_checkpoint *new_checkpoint(const char *run_id)
{
	struct mas_flow_checkpoint *c = calloc(1, sizeof(*c));

	if (!c || !(c->run_id = strdup(run_id)))
		mas_die(MAS_EXIT_USAGE, "out of memory");
	c->output = -1;
	c->stored_dev = c->stored_ino = c->stored_offset = -1;
	return c;
}

static void free_checkpoint(struct mas_flow_checkpoint *c)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->statements[i]);
	mas_store_close(&c->store);
	free(c->stored_path);
	free(c->run_id);
	free(c);
}

static int prepare(struct mas_flow_checkpoint *c, char **error)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v2(c->store.db, statement_sql[i], -1,
		                       &c->statements[i], NULL) != SQLITE_OK) {
			mas_error_set(error, "%s: %s", c->store.path,
			                     sqlite3_errmsg(c->store.db));
			return -1;
		}
	return 0;
}

struct mas_flow_checkpoint *mas_flow_checkpoint_open(
	const struct mas_config *config, const char *run_id,
	const char *flow, int *status, char **error)
{
	struct mas_flow_checkpoint *c = new_checkpoint(run_id);

	*status = mas_store_open_configured(&c->store, config, error);
	if (*status == 0)
		*status = start_run(c, flow, error);
	if (*status == 0)
		*status = prepare(c, error);
	if (*status != 0) {
		free_checkpoint(c);
		return NULL;
	}
	return c;
}

/* The run's flow path and emitted mark; 1 when there is no such run. */
static int load_run(struct mas_flow_checkpoint *c, char **flow,
                    char **error)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(c->store.db, "SELECT flow, emitted,"
	                            " (SELECT max(seq) FROM flow_record WHERE"
	                            " run_id = ?1), out_dev, out_ino,"
	                            " out_offset, out_path FROM flow_run"
	                            " WHERE id = ?1", -1, &st, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_ROW) {
		*flow = strdup((const char *)sqlite3_column_text(st, 0));
		c->emitted = (long)sqlite3_column_int64(st, 1);
		c->last_seq = (long)sqlite3_column_int64(st, 2);
		if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
			c->stored_dev = sqlite3_column_int64(st, 3);
			c->stored_ino = sqlite3_column_int64(st, 4);
			c->stored_offset = sqlite3_column_int64(st, 5);
		}
		if (sqlite3_column_type(st, 6) == SQLITE_TEXT)
			c->stored_path = strdup((const char *)
			                        sqlite3_column_text(st, 6));
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE) {
		mas_error_set(error, "no run '%s'", c->run_id);
		return 1;
	}
	mas_error_set(error, "%s: %s", c->store.path,
	              sqlite3_errmsg(c->store.db));
	return -1;
}

struct mas_flow_checkpoint *mas_flow_checkpoint_reopen(
	const struct mas_config *config, const char *run_id, char **flow,
	int *missing, char **error)
{
	struct mas_flow_checkpoint *c = new_checkpoint(run_id);
	int found = -1;

	*flow = NULL;
	*missing = 0;
	if (mas_store_open_configured(&c->store, config, error) == 0 &&
	    (found = load_run(c, flow, error)) == 0 && prepare(c, error) == 0)
		return c;
	*missing = found == 1;
	free(*flow);
	*flow = NULL;
	free_checkpoint(c);
	return NULL;
}

/* The step log of record SEQ: its meta.flow entries and edges. */
static void add_steps(struct mas_flow_checkpoint *c, sqlite3_stmt *st,
                      long seq, jv *record)
{
	jv path = jv_array(), edges = jv_array();

	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *entry = (const char *)sqlite3_column_text(st, 0);

		jv parsed = entry ? jv_parse(entry) : jv_null();

		/* a damaged row is null, not an invalid value that
		 * aborts the record's dump */
		if (!jv_is_valid(parsed)) {
			jv_free(parsed);
			parsed = jv_null();
		}
		path = jv_array_append(path, parsed);
		edges = jv_array_append(edges, jv_number(
			sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 :
			sqlite3_column_int(st, 1)));
	}
	sqlite3_reset(st);
	*record = jv_object_set(*record, jv_string("path"), path);
	*record = jv_object_set(*record, jv_string("edges"), edges);
}

static jv text_or_null(sqlite3_stmt *st, int column)
{
	if (sqlite3_column_type(st, column) == SQLITE_NULL)
		return jv_null();
	return jv_string((const char *)sqlite3_column_text(st, column));
}

/* A column of JSON text as its value (ids are stored so). */
static jv json_or_null(sqlite3_stmt *st, int column)
{
	jv value;

	if (sqlite3_column_type(st, column) == SQLITE_NULL)
		return jv_null();
	value = jv_parse((const char *)sqlite3_column_text(st, column));
	if (!jv_is_valid(value)) {
		jv_free(value);
		return jv_null();
	}
	return value;
}

static jv pending_row(struct mas_flow_checkpoint *c, sqlite3_stmt *st,
                      sqlite3_stmt *steps)
{
	long seq = (long)sqlite3_column_int64(st, 0);
	jv record = jv_object();

	record = jv_object_set(record, jv_string("seq"), jv_number(seq));
	record = jv_object_set(record, jv_string("id"), json_or_null(st, 1));
	record = jv_object_set(record, jv_string("done"),
	                       jv_number(sqlite3_column_int(st, 2)));
	record = jv_object_set(record, jv_string("node"), text_or_null(st, 3));
	record = jv_object_set(record, jv_string("steps"), jv_number(
		(double)sqlite3_column_int64(st, 4)));
	record = jv_object_set(record, jv_string("state"),
	                       text_or_null(st, 5));
	add_steps(c, steps, seq, &record);
	return record;
}

long mas_flow_checkpoint_pending(struct mas_flow_checkpoint *c,
                                 const char *record_id,
                                 void (*fn)(void *data, jv record),
                                 void *data, char **error)
{
	sqlite3_stmt *st = NULL, *steps = NULL;
	long count = 0;
	int rc = sqlite3_prepare_v2(c->store.db, record_id ?
		"SELECT seq, id, done, node, steps, state FROM flow_record"
		" WHERE run_id = ?1 AND (id = ?2 OR id = json_quote(?2))"
		" AND done = 2" :
		"SELECT seq, id, done, node, steps, state FROM flow_record"
		" WHERE run_id = ?1 AND seq > ?2 ORDER BY seq", -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(c->store.db, "SELECT entry, edge FROM"
		                        " flow_step WHERE run_id = ?1 AND"
		                        " seq = ?2 ORDER BY step", -1, &steps,
		                        NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
		if (record_id)
			sqlite3_bind_text(st, 2, record_id, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, 2, c->emitted);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			fn(data, pending_row(c, st, steps));
			count++;
		}
	}
	if (rc != SQLITE_DONE) {
		mas_error_set(error, "%s: %s", c->store.path,
		                     sqlite3_errmsg(c->store.db));
		count = -1;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(steps);
	return count;
}

/*
 * Writes open a transaction, which stays open until the next commit: at
 * each flush of stdout, every BATCH writes, and whenever the runner is
 * about to let another connection write (a model's cache, an agent's
 * sessions), which would otherwise wait for our lock.
 */
long mas_flow_checkpoint_last_seq(const struct mas_flow_checkpoint *c)
{
	return c ? c->last_seq : 0;
}

long mas_flow_checkpoint_waiting(struct mas_flow_checkpoint *c)
{
	sqlite3_stmt *st;
	long count = 0;

	if (!c || sqlite3_prepare_v2(c->store.db, "SELECT count(*) FROM"
	                             " flow_record WHERE run_id = ?1 AND"
	                             " done = 2", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		count = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return count;
}

static void run_statement(struct mas_flow_checkpoint *c, sqlite3_stmt *st)
{
	if (c->writes == 0 && !c->broken && exec(c, "BEGIN") != 0)
		return;
	if (sqlite3_step(st) != SQLITE_DONE && !c->broken) {
		mas_log(MAS_LOG_ERROR, "%s: checkpoint: %s", c->store.path,
		        sqlite3_errmsg(c->store.db));
		c->broken = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (++c->writes >= BATCH)
		mas_flow_checkpoint_commit(c);
}

void mas_flow_checkpoint_commit(struct mas_flow_checkpoint *c)
{
	if (!c || c->broken || c->writes == 0)
		return;
	c->writes = 0;
	exec(c, "COMMIT");
}

static void bind_run(struct mas_flow_checkpoint *c, sqlite3_stmt *st,
                     long seq)
{
	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
}

void mas_flow_checkpoint_record(struct mas_flow_checkpoint *c, long seq,
                                const char *id, const char *state)
{
	sqlite3_stmt *st;

	if (!c || c->broken)
		return;
	st = c->statements[ST_RECORD];
	bind_run(c, st, seq);
	if (id)
		sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, state, -1, SQLITE_STATIC);
	run_statement(c, st);
}

void mas_flow_checkpoint_step(struct mas_flow_checkpoint *c, long seq,
                              long step, const char *node, int edge,
                              double ms, const char *entry,
                              const char *state)
{
	sqlite3_stmt *st;

	if (!c || c->broken)
		return;
	st = c->statements[ST_STEP];
	bind_run(c, st, seq);
	sqlite3_bind_int64(st, 3, step);
	sqlite3_bind_text(st, 4, node, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, ms);
	if (edge >= 0)
		sqlite3_bind_int(st, 6, edge);
	sqlite3_bind_text(st, 7, entry, -1, SQLITE_STATIC);
	run_statement(c, st);
	st = c->statements[ST_STATE];
	bind_run(c, st, seq);
	sqlite3_bind_int64(st, 3, step);
	sqlite3_bind_text(st, 4, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, state, -1, SQLITE_STATIC);
	run_statement(c, st);
}

void mas_flow_checkpoint_done(struct mas_flow_checkpoint *c, long seq,
                              long steps, int done, const char *state)
{
	sqlite3_stmt *st;

	if (!c || c->broken)
		return;
	st = c->statements[ST_DONE];
	bind_run(c, st, seq);
	sqlite3_bind_int64(st, 3, steps);
	sqlite3_bind_int(st, 4, done);
	sqlite3_bind_text(st, 5, state, -1, SQLITE_STATIC);
	run_statement(c, st);
}

void mas_flow_checkpoint_emitted(struct mas_flow_checkpoint *c, long seq)
{
	sqlite3_stmt *st;

	if (!c || c->broken || seq <= c->emitted)
		return;
	c->emitted = seq;
	st = c->statements[ST_EMITTED];
	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_double(st, 3, now());
	if (c->output_is_file) {
		off_t offset = lseek(c->output, 0, SEEK_CUR);

		if (offset >= 0)
			sqlite3_bind_int64(st, 4, (sqlite3_int64)offset);
	}
	run_statement(c, st);
	mas_flow_checkpoint_commit(c);
}

void mas_flow_checkpoint_output(struct mas_flow_checkpoint *c, int fd)
{
	struct stat st;
	sqlite3_stmt *update;

	if (!c || c->broken)
		return;
	c->output = fd;
	c->output_is_file = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (sqlite3_prepare_v2(c->store.db, "UPDATE flow_run SET pid = ?2,"
	                       " out_dev = ?3, out_ino = ?4, out_offset = ?5,"
	                       " out_path = ?6 WHERE id = ?1", -1, &update,
	                       NULL) != SQLITE_OK) {
		c->broken = 1;
		return;
	}
	sqlite3_bind_text(update, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(update, 2, (sqlite3_int64)getpid());
	if (c->output_is_file) {
		off_t offset = lseek(fd, 0, SEEK_CUR);

		sqlite3_bind_int64(update, 3, (sqlite3_int64)st.st_dev);
		sqlite3_bind_int64(update, 4, (sqlite3_int64)st.st_ino);
		char path[64], target[PATH_MAX];
		ssize_t n;

		if (offset >= 0)
			sqlite3_bind_int64(update, 5, (sqlite3_int64)offset);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0 && target[0] == '/')
			sqlite3_bind_text(update, 6, target, (int)n,
			                  SQLITE_TRANSIENT);
	}
	run_statement(c, update);
	sqlite3_finalize(update);
	mas_flow_checkpoint_commit(c);
}

/* The stored id (JSON text) of record SEQ, malloc'd, or NULL. */
static char *stored_id(struct mas_flow_checkpoint *c, long seq)
{
	sqlite3_stmt *st;
	char *id = NULL;

	if (sqlite3_prepare_v2(c->store.db, "SELECT id FROM flow_record"
	                       " WHERE run_id = ?1 AND seq = ?2", -1, &st,
	                       NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		id = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return id;
}

/* The SIZE bytes of FD's file from OFFSET, read through a descriptor of
 * our own (stdout is open for writing only); malloc'd, or NULL. */
static char *read_back(int fd, off_t offset, size_t size)
{
	char path[64], *bytes = malloc(size ? size : 1);
	size_t got = 0;
	int in;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || !bytes) {
		if (in >= 0)
			close(in);
		free(bytes);
		return NULL;
	}
	while (got < size) {
		ssize_t n = pread(in, bytes + got, size - got,
		                  offset + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(in);
	if (got < size) {
		free(bytes);
		return NULL;
	}
	return bytes;
}

/* How many whole lines of TAIL (SIZE bytes) are, in order, the records
 * after the emitted mark, by their ids; *COMPLETE: the bytes of whole
 * lines. */
static long match_tail(struct mas_flow_checkpoint *c, const char *tail,
                       size_t size, size_t *complete)
{
	const char *p = tail, *end = tail + size;
	long matched = 0;
	int agree = 1;

	*complete = 0;
	while (p < end) {
		const char *newline = memchr(p, '\n', (size_t)(end - p));
		struct mas_json_scan scan;
		char *id;

		if (!newline)
			break;
		*complete = (size_t)(newline + 1 - tail);
		id = agree ? stored_id(c, c->emitted + matched + 1) : NULL;
		agree = id && mas_json_scan_object(p, (size_t)(newline - p),
		                                   &scan) && scan.id &&
		        mas_json_equal_text(id, strlen(id), scan.id,
		                            scan.id_length);
		free(id);
		matched += agree;
		p = newline + 1;
	}
	return matched;
}

/* Whether ST is the output file the run's last process wrote. */
static int is_stored_output(const struct mas_flow_checkpoint *c,
                            const struct stat *st)
{
	return S_ISREG(st->st_mode) && (long long)st->st_dev == c->stored_dev &&
	       (long long)st->st_ino == c->stored_ino;
}

/* The records after the mark that FD (the stored output file, ST its
 * status) holds, whole and in order: the mark moves past them.  Only
 * when TRIM (FD is the resume's own output, appended to) is a partial
 * last line cut off. */
static long reconcile_file(struct mas_flow_checkpoint *c, int fd,
                           const struct stat *st, int trim)
{
	size_t size, complete;
	long matched;
	char *tail;

	if (st->st_size == c->stored_offset)
		return 0;
	if (st->st_size < c->stored_offset) {
		mas_log(MAS_LOG_WARN, "resume: the output file is shorter "
		        "than the run left it: records after its last mark "
		        "are written again");
		return 0;
	}
	size = (size_t)(st->st_size - c->stored_offset);
	tail = read_back(fd, (off_t)c->stored_offset, size);
	if (!tail) {
		mas_log(MAS_LOG_WARN, "resume: cannot read the output file "
		        "back: records after its last mark are written again");
		return 0;
	}
	matched = match_tail(c, tail, size, &complete);
	free(tail);
	if (trim && complete < size) {
		/* half a record, which is written again whole */
		if (ftruncate(fd, st->st_size - (off_t)(size - complete)) != 0)
			mas_log(MAS_LOG_WARN, "resume: the output ends in a "
			        "partial line that cannot be removed: %s",
			        strerror(errno));
		else
			mas_log(MAS_LOG_WARN, "resume: removed the partial "
			        "last line (%zu bytes) a kill left in the "
			        "output", size - complete);
		lseek(fd, 0, SEEK_END);
	}
	if (matched > 0) {
		mas_log(MAS_LOG_INFO, "resume: %ld records after the last "
		        "mark are in %s already: not written again", matched,
		        trim ? "the output" : c->stored_path);
		mas_flow_checkpoint_emitted(c, c->emitted + matched);
	}
	return matched;
}

long mas_flow_checkpoint_reconcile(struct mas_flow_checkpoint *c, int fd)
{
	struct stat st;
	long matched;
	int in;

	if (!c || c->stored_offset < 0)
		return 0;
	if (fstat(fd, &st) == 0 && is_stored_output(c, &st))
		return reconcile_file(c, fd, &st, 1);
	/* Written elsewhere: the killed process's file, if it is still
	 * the same file, tells what its last write put out. */
	if (!c->stored_path)
		return 0;
	in = open(c->stored_path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return 0;
	matched = fstat(in, &st) == 0 && is_stored_output(c, &st)
	          ? reconcile_file(c, in, &st, 0) : 0;
	close(in);
	return matched;
}

/* The run's counts, from its rows: right after a resume too, when this
 * process saw only some of the records. */
static void finish_run(struct mas_flow_checkpoint *c)
{
	static const char sql[] =
		"UPDATE flow_run SET updated = ?2,"
		" records = (SELECT count(*) FROM flow_record"
		"   WHERE run_id = ?1 AND done = 1),"
		" failed = (SELECT count(*) FROM flow_record WHERE run_id = ?1"
		"   AND done = 1 AND json_type(state, '$.error') = 'object'),"
		" steps = (SELECT count(*) FROM flow_step WHERE run_id = ?1)"
		" WHERE id = ?1;"
		"UPDATE flow_run SET status = CASE"
		" WHEN EXISTS (SELECT 1 FROM flow_record WHERE run_id = ?1"
		"   AND done = 2) THEN 'waiting'"
		" WHEN EXISTS (SELECT 1 FROM flow_record WHERE run_id = ?1"
		"   AND done = 0) THEN 'stopped'"
		" WHEN failed > 0 THEN 'failed' ELSE 'done' END WHERE id = ?1";
	const char *next = sql;

	while (*next && !c->broken) {
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(c->store.db, next, -1, &st, &next) !=
		    SQLITE_OK) {
			c->broken = 1;
			break;
		}
		sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
		if (sqlite3_bind_parameter_count(st) >= 2)
			sqlite3_bind_double(st, 2, now());
		run_statement(c, st);
		sqlite3_finalize(st);
	}
}

int mas_flow_checkpoint_close(struct mas_flow_checkpoint *c)
{
	int status;

	if (!c)
		return 0;
	if (!c->broken)
		finish_run(c);
	mas_flow_checkpoint_commit(c);
	status = c->broken ? -1 : 0;
	free_checkpoint(c);
	return status;
}

/* Whether a run said to be running still has its process (the pid in
 * COLUMN): a run killed with -9 never said it stopped. */
static int process_alive(sqlite3_stmt *st, int column)
{
	pid_t pid;

	if (strcmp((const char *)sqlite3_column_text(st, 4), "running") != 0 ||
	    sqlite3_column_type(st, column) == SQLITE_NULL)
		return 1;
	pid = (pid_t)sqlite3_column_int64(st, column);
	return kill(pid, 0) == 0 || errno == EPERM;
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
		} else if (i == 4 && !process_alive(st, 8)) {
			value = jv_string("stopped");
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
	char *sql;
	long count = 0;
	int rc;

	/* a run still running (or killed) has its counts in its rows */
	if (asprintf(&sql, "SELECT id, flow, started, updated, status,"
	             " CASE status WHEN 'running' THEN (SELECT count(*)"
	             "  FROM flow_record r WHERE r.run_id = flow_run.id"
	             "  AND r.done = 1) ELSE records END,"
	             " CASE status WHEN 'running' THEN (SELECT count(*)"
	             "  FROM flow_record r WHERE r.run_id = flow_run.id"
	             "  AND r.done = 1 AND json_type(r.state, '$.error')"
	             "  = 'object') ELSE failed END,"
	             " CASE status WHEN 'running' THEN (SELECT count(*)"
	             "  FROM flow_step s WHERE s.run_id = flow_run.id)"
	             "  ELSE steps END, pid"
	             " FROM flow_run %s ORDER BY started DESC, id",
	             where) < 0)
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
		mas_error_set(error, "%s: %s", store->path,
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
	int done = sqlite3_column_int(st, 3);
	jv row = jv_object();
	jv state = jv_parse((const char *)sqlite3_column_text(st, 4));
	jv error = jv_null();

	row = jv_object_set(row, jv_string("seq"),
	                    jv_number((double)sqlite3_column_int64(st, 0)));
	row = jv_object_set(row, jv_string("id"), json_or_null(st, 1));
	row = jv_object_set(row, jv_string("steps"),
	                    jv_number((double)sqlite3_column_int64(st, 2)));
	row = jv_object_set(row, jv_string("done"),
	                    jv_bool(done == MAS_FLOW_RECORD_DONE));
	row = jv_object_set(row, jv_string("waiting"),
	                    jv_bool(done == MAS_FLOW_RECORD_WAITING));
	/* the code of the state's error; a damaged row's state may be
	 * anything */
	if (jv_get_kind(state) == JV_KIND_OBJECT)
		error = jv_getpath(state, JV_ARRAY(jv_string("error"),
		                                   jv_string("code")));
	else
		jv_free(state);
	if (jv_get_kind(error) != JV_KIND_STRING) {
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
		mas_error_set(error, "%s: %s", store->path,
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
		mas_error_set(error, "%s: %s", store.path,
		                     sqlite3_errmsg(store.db));
	mas_store_close(&store);
	return removed;
}
