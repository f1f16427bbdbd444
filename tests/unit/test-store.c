/*
 * test-store.c — lib/store.c against store.h: where the database lives,
 * private parent folders, WAL mode, the schema version, reopening, a newer
 * database refused, and two handles at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "unit.h"

static char tmp[256];

static void setup(void)
{
	unit_make_dir(tmp, sizeof(tmp), "store");
}

static void teardown(void)
{
	unit_remove_dir(tmp);
}

static int contains(const char *text, const char *part)
{
	return text && strstr(text, part) != NULL;
}

/* The first column of the first row of SQL, as an int; -1 on error. */
static int query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *statement;
	int value = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(statement) == SQLITE_ROW)
		value = sqlite3_column_int(statement, 0);
	sqlite3_finalize(statement);
	return value;
}

/* The same as text, into BUF. */
static const char *query_text(sqlite3 *db, const char *sql, char *buf,
                              size_t size)
{
	sqlite3_stmt *statement;

	snprintf(buf, size, "(error)");
	if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK)
		return buf;
	if (sqlite3_step(statement) == SQLITE_ROW)
		snprintf(buf, size, "%s",
		         (const char *)sqlite3_column_text(statement, 0));
	sqlite3_finalize(statement);
	return buf;
}

static int mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static void test_schema_version(void)
{
	CHECK(mas_store_schema_version() >= 1);
}

static void test_open_creates_private_folders(void)
{
	struct mas_store store;
	char path[300], dir[300], *error = NULL;
	mode_t old = umask(022);

	snprintf(path, sizeof(path), "%s/a/b/mas.db", tmp);
	CHECK_INT(mas_store_open(&store, path, &error), 0);
	CHECK(error == NULL);
	CHECK(store.db != NULL);
	CHECK_STR(store.path, path);
	snprintf(dir, sizeof(dir), "%s/a", tmp);
	CHECK_INT(mode_of(dir), 0700);
	snprintf(dir, sizeof(dir), "%s/a/b", tmp);
	CHECK_INT(mode_of(dir), 0700);
	CHECK_INT(mode_of(path), 0600);
	mas_store_close(&store);
	free(error);
	umask(old);
}

static void test_existing_folder_is_kept(void)
{
	struct mas_store store;
	char path[300], *error = NULL;

	chmod(tmp, 0755);
	snprintf(path, sizeof(path), "%s/mas.db", tmp);
	CHECK_INT(mas_store_open(&store, path, &error), 0);
	CHECK_INT(mode_of(tmp), 0755);
	mas_store_close(&store);
	free(error);
}

static void test_wal_and_version(void)
{
	struct mas_store store;
	char path[300], buf[64], *error = NULL;

	snprintf(path, sizeof(path), "%s/mas.db", tmp);
	CHECK_INT(mas_store_open(&store, path, &error), 0);
	CHECK_STR(query_text(store.db, "PRAGMA journal_mode", buf,
	                     sizeof(buf)), "wal");
	CHECK_INT(query_int(store.db, "PRAGMA user_version"),
	          mas_store_schema_version());
	/* Not left inside the migration's transaction. */
	CHECK(sqlite3_get_autocommit(store.db));
	mas_store_close(&store);
	free(error);
}

static void test_reopen_is_idempotent(void)
{
	struct mas_store store;
	char path[300], *error = NULL;
	int tables;

	snprintf(path, sizeof(path), "%s/mas.db", tmp);
	CHECK_INT(mas_store_open(&store, path, &error), 0);
	CHECK_INT(sqlite3_exec(store.db, "CREATE TABLE mine (x);"
	                       "INSERT INTO mine VALUES (42);",
	                       NULL, NULL, NULL), SQLITE_OK);
	tables = query_int(store.db, "SELECT count(*) FROM sqlite_master");
	mas_store_close(&store);

	for (int i = 0; i < 3; i++) {
		CHECK_INT(mas_store_open(&store, path, &error), 0);
		CHECK(error == NULL);
		CHECK_INT(query_int(store.db, "PRAGMA user_version"),
		          mas_store_schema_version());
		CHECK_INT(query_int(store.db,
		                    "SELECT count(*) FROM sqlite_master"),
		          tables);
		CHECK_INT(query_int(store.db, "SELECT x FROM mine"), 42);
		mas_store_close(&store);
	}
	free(error);
}

static void test_newer_database_refused(void)
{
	struct mas_store store;
	char path[300], want[64], *error = NULL;
	sqlite3 *db;
	int newer = mas_store_schema_version() + 1;

	snprintf(path, sizeof(path), "%s/mas.db", tmp);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(want, sizeof(want), "PRAGMA user_version = %d", newer);
	CHECK_INT(sqlite3_exec(db, want, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	CHECK_INT(mas_store_open(&store, path, &error), -1);
	CHECK(store.db == NULL);
	CHECK(contains(error, path));
	snprintf(want, sizeof(want), "%d", newer);
	CHECK(contains(error, want));
	CHECK(contains(error, "upgrade"));
	free(error);
	mas_store_close(&store);

	/* Refused, not touched. */
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(query_int(db, "PRAGMA user_version"), newer);
	CHECK_INT(query_int(db, "SELECT count(*) FROM sqlite_master"), 0);
	sqlite3_close(db);
}

static void test_not_a_database(void)
{
	struct mas_store store;
	char path[300], *error = NULL;
	FILE *file;

	snprintf(path, sizeof(path), "%s/mas.db", tmp);
	file = fopen(path, "w");
	fputs("this is not an SQLite database, just some text that is "
	      "long enough to fill a header page of one hundred bytes.\n",
	      file);
	fclose(file);
	CHECK_INT(mas_store_open(&store, path, &error), -1);
	CHECK(contains(error, path));
	CHECK(store.db == NULL);
	free(error);
	mas_store_close(&store);
}

static void test_parent_is_a_file(void)
{
	struct mas_store store;
	char path[300], *error = NULL;
	FILE *file;

	snprintf(path, sizeof(path), "%s/plain", tmp);
	file = fopen(path, "w");
	fclose(file);
	snprintf(path, sizeof(path), "%s/plain/mas.db", tmp);
	CHECK_INT(mas_store_open(&store, path, &error), -1);
	CHECK(error != NULL);
	CHECK(contains(error, "plain"));
	free(error);
	mas_store_close(&store);
}

static void test_two_handles(void)
{
	struct mas_store a, b;
	char path[300], *error = NULL;

	snprintf(path, sizeof(path), "%s/mas.db", tmp);
	CHECK_INT(mas_store_open(&a, path, &error), 0);
	CHECK_INT(mas_store_open(&b, path, &error), 0);
	CHECK(error == NULL);
	CHECK_INT(sqlite3_exec(a.db, "CREATE TABLE t (x);"
	                       "INSERT INTO t VALUES (7);",
	                       NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(query_int(b.db, "SELECT x FROM t"), 7);
	/* A reader inside a transaction does not block the writer (WAL). */
	CHECK_INT(sqlite3_exec(b.db, "BEGIN; SELECT * FROM t;", NULL, NULL,
	                       NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(a.db, "INSERT INTO t VALUES (8);", NULL, NULL,
	                       NULL), SQLITE_OK);
	CHECK_INT(query_int(b.db, "SELECT count(*) FROM t"), 1);
	CHECK_INT(sqlite3_exec(b.db, "COMMIT;", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(query_int(b.db, "SELECT count(*) FROM t"), 2);
	mas_store_close(&a);
	mas_store_close(&b);
	free(error);
}

struct opener {
	const char *path;
	int status;
	char *error;
};

static void *open_and_close(void *arg)
{
	struct opener *o = arg;
	struct mas_store store;

	o->status = mas_store_open(&store, o->path, &o->error);
	mas_store_close(&store);
	return NULL;
}

/* Several handles creating the same new store at once: one migrates,
 * the others wait for it and find it done. */
static void test_concurrent_first_open(void)
{
	enum { OPENERS = 6, ROUNDS = 40 };

	for (int round = 0; round < ROUNDS; round++) {
		struct opener openers[OPENERS];
		pthread_t threads[OPENERS];
		struct mas_store store;
		char path[300], *error = NULL;

		snprintf(path, sizeof(path), "%s/r%d/mas.db", tmp, round);
		for (int i = 0; i < OPENERS; i++) {
			openers[i] = (struct opener){ path, -2, NULL };
			pthread_create(&threads[i], NULL, open_and_close,
			               &openers[i]);
		}
		for (int i = 0; i < OPENERS; i++) {
			pthread_join(threads[i], NULL);
			if (openers[i].status != 0)
				UNIT_FAIL("round %d opener %d: %s", round, i,
				          openers[i].error ? openers[i].error
				                           : "(no message)");
			free(openers[i].error);
		}
		CHECK_INT(mas_store_open(&store, path, &error), 0);
		CHECK_INT(query_int(store.db,
		                    "SELECT count(*) FROM mas_meta "
		                    "WHERE key = 'created_by'"), 1);
		mas_store_close(&store);
		free(error);
	}
}

static void test_close_is_safe(void)
{
	struct mas_store store;

	memset(&store, 0, sizeof(store));
	mas_store_close(&store);
	mas_store_close(&store);
}

/* Saves and restores the variables mas_store_path reads. */
struct saved_env {
	char *xdg, *home;
};

static char *dup_env(const char *name)
{
	const char *value = getenv(name);

	return value ? strdup(value) : NULL;
}

static void put_env(const char *name, char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
	free(value);
}

static void test_path_from_config(void)
{
	struct mas_config config;
	char *error = NULL, *path;

	mas_config_init(&config);
	mas_config_set(&config, "state.dir", "/srv/state", MAS_CONFIG_FLAG);
	path = mas_store_path(&config, &error);
	CHECK_STR(path, "/srv/state/mas.db");
	CHECK(error == NULL);
	free(path);
	mas_config_release(&config);
}

static void test_path_fallbacks(void)
{
	struct saved_env saved = { dup_env("XDG_STATE_HOME"),
		                   dup_env("HOME") };
	struct mas_config config;
	char *error = NULL, *path;

	mas_config_init(&config);
	setenv("XDG_STATE_HOME", "/x/state", 1);
	setenv("HOME", "/home/u", 1);
	path = mas_store_path(&config, &error);
	CHECK_STR(path, "/x/state/mas/mas.db");
	free(path);

	setenv("XDG_STATE_HOME", "", 1);
	path = mas_store_path(&config, &error);
	CHECK_STR(path, "/home/u/.local/state/mas/mas.db");
	free(path);

	unsetenv("XDG_STATE_HOME");
	path = mas_store_path(&config, &error);
	CHECK_STR(path, "/home/u/.local/state/mas/mas.db");
	free(path);
	CHECK(error == NULL);

	unsetenv("HOME");
	path = mas_store_path(&config, &error);
	CHECK(path == NULL);
	CHECK(error != NULL);
	free(path);
	free(error);

	mas_config_release(&config);
	put_env("XDG_STATE_HOME", saved.xdg);
	put_env("HOME", saved.home);
}

#define RUN(fn)                                                               \
	do {                                                                  \
		setup();                                                      \
		UNIT_RUN(fn);                                                 \
		teardown();                                                   \
	} while (0)

int main(void)
{
	unsetenv("MAS_STATE_DIR");
	RUN(test_schema_version);
	RUN(test_open_creates_private_folders);
	RUN(test_existing_folder_is_kept);
	RUN(test_wal_and_version);
	RUN(test_reopen_is_idempotent);
	RUN(test_newer_database_refused);
	RUN(test_not_a_database);
	RUN(test_parent_is_a_file);
	RUN(test_two_handles);
	RUN(test_concurrent_first_open);
	RUN(test_close_is_safe);
	RUN(test_path_from_config);
	RUN(test_path_fallbacks);
	return unit_done();
}
