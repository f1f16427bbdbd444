/*
 * store.c — the state store (see store.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "clock.h"
#include "store.h"
#include "mas.h"
#include "banned.h"

/*
 * The schema, one migration per entry, applied in order.  Only ever
 * appended to: a released migration is never edited, because databases
 * in the field already ran it.
 */
static const char *const migrations[] = {
	/* 1: who made this database, for a user inspecting it. */
	"CREATE TABLE mas_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT INTO mas_meta VALUES ('created_by', 'mas ' || ?1);"
	"INSERT INTO mas_meta VALUES ('created_at', "
	"  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));",
	/* 2: the LLM response cache (llm.c): key is the SHA-256 of the
	 * canonical request, created the epoch second it was stored,
	 * reply the result's JSON without its per-call fields. */
	"CREATE TABLE llm_cache (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
	"  created REAL NOT NULL, reply TEXT NOT NULL);",
	/* 3: mas-research's stored indexes (index.c): corpus is the real
	 * paths of its roots, files the signature of its files (path, size,
	 * mtime) the index was built from, data the index block. */
	"CREATE TABLE research_index (corpus TEXT PRIMARY KEY,"
	"  files TEXT NOT NULL, created REAL NOT NULL,"
	"  documents INTEGER NOT NULL, passages INTEGER NOT NULL,"
	"  data BLOB NOT NULL);",
	/* 4: mas-chat's sessions (session.c): one row per session_id with
	 * what the next turn needs (last intent, filled slots as a JSON
	 * object, the run of negative turns), and one row per turn. */
	"CREATE TABLE chat_session (id TEXT PRIMARY KEY, user_id TEXT,"
	"  created REAL NOT NULL, updated REAL NOT NULL,"
	"  turns INTEGER NOT NULL, last_intent TEXT,"
	"  last_confidence REAL, slots TEXT NOT NULL,"
	"  negative_streak INTEGER NOT NULL);"
	"CREATE INDEX chat_session_updated ON chat_session (updated);"
	"CREATE TABLE chat_turn (session_id TEXT NOT NULL"
	"  REFERENCES chat_session (id) ON DELETE CASCADE,"
	"  turn INTEGER NOT NULL, at REAL NOT NULL, message TEXT NOT NULL,"
	"  response TEXT NOT NULL, intent TEXT NOT NULL,"
	"  confidence REAL NOT NULL, sentiment TEXT NOT NULL,"
	"  score REAL NOT NULL, plan TEXT NOT NULL,"
	"  PRIMARY KEY (session_id, turn));",
	/* 5: mas-bus's embedded backend (bus.c): the log of messages in
	 * publication order (id unique, so a retried publish is stored
	 * once), consumer groups with their counters and the last
	 * sequence copied into their delivery table, and one delivery row
	 * per message a group has not acknowledged yet. */
	"CREATE TABLE bus_message (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL,"
	"  priority INTEGER NOT NULL, at REAL NOT NULL,"
	"  envelope TEXT NOT NULL);"
	"CREATE TABLE bus_group (name TEXT PRIMARY KEY,"
	"  pattern TEXT NOT NULL, last_seq INTEGER NOT NULL,"
	"  delivered INTEGER NOT NULL DEFAULT 0,"
	"  acknowledged INTEGER NOT NULL DEFAULT 0,"
	"  redelivered INTEGER NOT NULL DEFAULT 0,"
	"  dead INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE bus_delivery (grp TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  priority INTEGER NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0,"
	"  deadline REAL NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (grp, seq)) WITHOUT ROWID;"
	"CREATE INDEX bus_delivery_next ON bus_delivery"
	"  (grp, dead, priority, seq);",
	/* 6: mas-flow's checkpoints (flow-store.c): one row per run with
	 * its counts, the latest state of each record (so storage grows
	 * with records, not with steps times state size), and a step log
	 * of node names and times. */
	"CREATE TABLE flow_run (id TEXT PRIMARY KEY, flow TEXT NOT NULL,"
	"  started REAL NOT NULL, updated REAL NOT NULL,"
	"  status TEXT NOT NULL, records INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0,"
	"  steps INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE flow_record (run_id TEXT NOT NULL"
	"  REFERENCES flow_run (id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL, id TEXT, steps INTEGER NOT NULL,"
	"  node TEXT, done INTEGER NOT NULL, state TEXT NOT NULL,"
	"  PRIMARY KEY (run_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE flow_step (run_id TEXT NOT NULL"
	"  REFERENCES flow_run (id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL, step INTEGER NOT NULL,"
	"  node TEXT NOT NULL, ms REAL NOT NULL,"
	"  PRIMARY KEY (run_id, seq, step)) WITHOUT ROWID;",
	/* 7: mas-flow resume: the edge each step came by (to restore the
	 * loop bounds), the step's meta.flow entry, and how far the run's
	 * output is known written (records after it are emitted again). */
	"ALTER TABLE flow_step ADD COLUMN edge INTEGER;"
	"ALTER TABLE flow_step ADD COLUMN entry TEXT;"
	"ALTER TABLE flow_run ADD COLUMN emitted INTEGER NOT NULL"
	"  DEFAULT 0;",
	/* 8: mas-flow: the process running a run (a run whose process is
	 * gone is stopped), where its output file stood at the emitted
	 * mark (so a resume appending to it writes nothing twice), and
	 * record ids as JSON text, so ids of any type are kept. */
	"ALTER TABLE flow_run ADD COLUMN pid INTEGER;"
	"ALTER TABLE flow_run ADD COLUMN out_dev INTEGER;"
	"ALTER TABLE flow_run ADD COLUMN out_ino INTEGER;"
	"ALTER TABLE flow_run ADD COLUMN out_offset INTEGER;"
	"UPDATE flow_record SET id = json_quote(id) WHERE id IS NOT NULL;",
	/* 9: mas-chat's trained models (chat-cache.c): key is the SHA-256
	 * of the knowledge base's bytes and of what shapes training, kb the
	 * path it was read from (for people), model the model's bytes. */
	"CREATE TABLE chat_model (key TEXT PRIMARY KEY, kb TEXT NOT NULL,"
	"  created REAL NOT NULL, model BLOB NOT NULL);",
	/* 10: mas-serve's tasks (serve-tasks.c): one row per task posted,
	 * its state as its workers and the replies on tasks.done report
	 * it, its result or error as JSON text. */
	"CREATE TABLE serve_task (id TEXT PRIMARY KEY, type TEXT NOT NULL,"
	"  flow TEXT, status TEXT NOT NULL, priority INTEGER NOT NULL,"
	"  created REAL NOT NULL, started REAL, completed REAL,"
	"  attempts INTEGER NOT NULL DEFAULT 0, worker TEXT,"
	"  result TEXT, error TEXT);"
	"CREATE INDEX serve_task_status ON serve_task (status, created);"
	"CREATE INDEX serve_task_created ON serve_task (created);",
	/* 11: mas-research's indexes move to files beside the store
	 * (index-file.c), mapped by a run rather than read whole: file
	 * names the row's, data stays empty.  Indexes kept in data are
	 * dropped (a large corpus then says to run mas-research index). */
	"DELETE FROM research_index;"
	"ALTER TABLE research_index ADD COLUMN file TEXT;",
	/* 12: mas-flow resume: the path of the output file a run wrote,
	 * so that a resume writing elsewhere can still read back what
	 * the killed process wrote after its last mark (flow-store.c). */
	"ALTER TABLE flow_run ADD COLUMN out_path TEXT;",
	/* 13: mas-research's index in segments: an update adds one
	 * holding the files it read (index-segments.c); segments names
	 * every segment's file (NULL: file alone), layout the runs of
	 * live files in corpus order, terms their distinct terms. */
	"ALTER TABLE research_index ADD COLUMN segments TEXT;"
	"ALTER TABLE research_index ADD COLUMN layout TEXT;"
	"ALTER TABLE research_index ADD COLUMN terms INTEGER;",
	/* 14: mas-chat's models move to files beside the store
	 * (chat-cache.c), mapped by a start rather than copied out of a
	 * BLOB: file names the row's, model stays empty.  Models kept in
	 * model are dropped (the next start trains again). */
	"DELETE FROM chat_model;"
	"ALTER TABLE chat_model ADD COLUMN file TEXT;",
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int mas_store_schema_version(void)
{
	return MIGRATION_COUNT;
}

char *mas_store_path(const struct mas_config *config, char **error)
{
	const char *dir = mas_config_get(config, "state.dir");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *path = NULL;
	int n = -1;

	*error = NULL;
	if (dir)
		n = asprintf(&path, "%s/mas.db", dir);
	else if (xdg && *xdg)
		n = asprintf(&path, "%s/mas/mas.db", xdg);
	else if (home && *home)
		n = asprintf(&path, "%s/.local/state/mas/mas.db", home);
	else
		mas_error_set(error,
		              "no place for the state store: set "
		              "MAS_STATE_DIR, XDG_STATE_HOME or HOME");
	return n < 0 ? NULL : path;
}

int mas_store_make_parents(const char *path, char **error)
{
	char *copy = strdup(path);
	char *slash;

	if (!copy)
		return mas_error_set(error, "out of memory");
	for (slash = strchr(copy + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			mas_error_set(error, "%s: cannot create folder: %s",
			              copy, strerror(errno));
			free(copy);
			return -1;
		}
		*slash = '/';
	}
	free(copy);
	return 0;
}

/* 0, or -1 (or a transient MAS_STORE_ status) with *ERROR set. */
/* How long to wait for another process's lock (state.busy_timeout). */
static int busy_timeout_ms = MAS_STORE_BUSY_TIMEOUT_MS;

static int wait_briefly(void *data, int count)
{
	/* a connection waits on one thread at a time */
	static _Thread_local double since;
	struct timespec pause = { 0, 200000 };
	double now = mas_clock_monotonic();

	if (count == 0)
		since = now;
	if ((now - since) * 1000 > busy_timeout_ms)
		return 0;
	nanosleep(&pause, NULL);
	return 1;
}

void mas_store_wait_briefly(struct mas_store *store)
{
	sqlite3_busy_handler(store->db, wait_briefly, NULL);
}


static int run_sql(sqlite3 *db, const char *sql, char **error,
                   const char *path)
{
	char *message = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &message);

	if (rc != SQLITE_OK) {
		mas_error_set(error, "%s: %s", path,
		              message ? message : "sqlite error");
		sqlite3_free(message);
		return mas_store_status(rc);
	}
	return 0;
}

static int user_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *statement;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &statement,
	                            NULL);

	if (rc != SQLITE_OK)
		return -1;
	rc = sqlite3_step(statement);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(statement, 0) : 0;
	sqlite3_finalize(statement);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Runs migration INDEX (0-based) and bumps user_version, atomically. */
static int apply_migration(sqlite3 *db, int index, char **error,
                           const char *path)
{
	char bump[64];
	const char *sql = migrations[index];
	sqlite3_stmt *statement = NULL;
	const char *tail = sql;
	int rc = SQLITE_OK;

	while (rc == SQLITE_OK && tail && *tail) {
		rc = sqlite3_prepare_v2(db, tail, -1, &statement, &tail);
		if (rc != SQLITE_OK || !statement)
			break;
		if (sqlite3_bind_parameter_count(statement) >= 1)
			sqlite3_bind_text(statement, 1, MAS_VERSION, -1,
			                  SQLITE_STATIC);
		rc = sqlite3_step(statement);
		rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
		sqlite3_finalize(statement);
		statement = NULL;
	}
	if (rc != SQLITE_OK)
		return mas_error_set(error, "%s: migration %d: %s", path,
		                     index + 1, sqlite3_errmsg(db));
	snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", index + 1);
	return run_sql(db, bump, error, path);
}

static int migrate(sqlite3 *db, const char *path, char **error)
{
	int version, rc;

	/* Up to date, the usual case: no write lock is needed, so a store
	 * another process is writing to opens at once. */
	if (user_version(db, &version) == 0 && version == MIGRATION_COUNT)
		return 0;
	/* IMMEDIATE: two processes opening a new store at once must not
	 * both run migration 1. */
	rc = run_sql(db, "BEGIN IMMEDIATE", error, path);
	if (rc)
		return rc;
	if (user_version(db, &version)) {
		run_sql(db, "ROLLBACK", error, path);
		return mas_error_set(error, "%s: not a mas state store (%s)",
		                     path, sqlite3_errmsg(db));
	}
	if (version > MIGRATION_COUNT) {
		run_sql(db, "ROLLBACK", error, path);
		return mas_error_set(error,
		                     "%s: schema version %d is newer than "
		                     "this mas understands (%d); upgrade mas",
		                     path, version, MIGRATION_COUNT);
	}
	for (int i = version; i < MIGRATION_COUNT; i++) {
		if (apply_migration(db, i, error, path)) {
			char *ignored = NULL;
			run_sql(db, "ROLLBACK", &ignored, path);
			free(ignored);
			return -1;
		}
	}
	return run_sql(db, "COMMIT", error, path);
}

/*
 * Switching a new database to WAL needs an exclusive lock, and when two
 * connections race to do it SQLite answers SQLITE_BUSY at once, without
 * the busy handler: retry for as long as the busy timeout.
 */
static int set_wal(sqlite3 *db, char **error, const char *path)
{
	int waited = 0;

	while (sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL,
	                    NULL) == SQLITE_BUSY &&
	       waited < busy_timeout_ms) {
		sqlite3_sleep(10);
		waited += 10;
	}
	return run_sql(db, "PRAGMA journal_mode = WAL", error, path);
}

int mas_store_open(struct mas_store *store, const char *path, char **error)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	            SQLITE_OPEN_NOMUTEX;
	int rc;

	*error = NULL;
	memset(store, 0, sizeof(*store));
	if (mas_store_make_parents(path, error))
		return -1;
	if (sqlite3_open_v2(path, &store->db, flags, NULL) != SQLITE_OK) {
		mas_error_set(error, "%s: %s", path,
		              store->db ? sqlite3_errmsg(store->db)
		                        : "cannot open");
		mas_store_close(store);
		return -1;
	}
	sqlite3_busy_timeout(store->db, busy_timeout_ms);
	rc = set_wal(store->db, error, path);
	if (rc == 0)
		rc = run_sql(store->db, "PRAGMA synchronous = NORMAL", error,
		             path);
	if (rc == 0)
		rc = run_sql(store->db, "PRAGMA foreign_keys = ON", error,
		             path);
	if (rc == 0)
		rc = migrate(store->db, path, error);
	if (rc) {
		mas_store_close(store);
		return rc;
	}
	chmod(path, 0600);
	store->path = strdup(path);
	return 0;
}

int mas_store_open_configured(struct mas_store *store,
                              const struct mas_config *config, char **error)
{
	char *path = mas_store_path(config, error);
	const char *timeout = mas_config_get(config, "state.busy_timeout");
	char *end;
	double seconds = timeout ? strtod(timeout, &end) : -1;
	int status;

	if (timeout && (end == timeout || *end || !(seconds >= 0) ||
	                seconds > 86400)) {
		free(path);
		memset(store, 0, sizeof(*store));
		return mas_error_set(error, "state.busy_timeout "
		                     "(MAS_STATE_BUSY_TIMEOUT): '%s' is not a "
		                     "number of seconds", timeout);
	}
	if (timeout)
		busy_timeout_ms = (int)(seconds * 1000);
	if (!path) {
		memset(store, 0, sizeof(*store));
		return -1;
	}
	status = mas_store_open(store, path, error);
	free(path);
	return status;
}

void mas_store_close(struct mas_store *store)
{
	if (store->db)
		sqlite3_close(store->db);
	free(store->path);
	store->db = NULL;
	store->path = NULL;
}

int mas_store_status(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return MAS_STORE_BUSY;
	case SQLITE_FULL:
	case SQLITE_IOERR:
		return MAS_STORE_FULL;
	default:
		return -1;
	}
}

int mas_store_busy_timeout_ms(void)
{
	return busy_timeout_ms;
}

jv mas_store_unavailable_error(int status, const char *message)
{
	jv error;

	if (status == MAS_STORE_BUSY)
		error = mas_error(MAS_ERR_TIMEOUT, "state store: %s (another "
		                  "process held its lock for %g s); try again "
		                  "later", message ? message : "locked",
		                  busy_timeout_ms / 1000.0);
	else
		error = mas_error(MAS_ERR_INTERNAL, "state store: %s (no room "
		                  "to write); try again once there is",
		                  message ? message : "disk full");
	return jv_object_set(error, jv_string("transient"), jv_true());
}
