/*
 * chat-cache.c — trained models in the state store (see chat-cache.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-cache.h"
#include "log.h"
#include "mas.h"
#include "store-file.h"
#include "banned.h"

char *mas_chat_cache_key(const char *kb_digest, const char *shape)
{
	char *key;

	if (asprintf(&key, "%s %s", kb_digest, shape) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	return key;
}

static int fail(struct mas_store *store, int rc, char **error)
{
	mas_error_set(error, "%s: model cache: %s", store->path,
	              sqlite3_errmsg(store->db));
	return mas_store_status(rc);
}

char *mas_chat_cache_dir(const struct mas_store *store)
{
	return mas_store_file_dir(store, "chat-model");
}

/* The file named under KEY (malloc'd), or NULL (with *ERROR when the
 * store could not be read). */
static char *kept_file(struct mas_store *store, const char *key,
                       char **error)
{
	static const char sql[] =
		"SELECT file FROM chat_model WHERE key = ?1";
	sqlite3_stmt *statement;
	char *file = NULL;
	int rc;

	rc = sqlite3_prepare_v2(store->db, sql, -1, &statement, NULL);
	if (rc != SQLITE_OK) {
		fail(store, rc, error);
		return NULL;
	}
	sqlite3_bind_text(statement, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(statement);
	if (rc == SQLITE_ROW && sqlite3_column_text(statement, 0)) {
		file = strdup((const char *)sqlite3_column_text(statement,
		                                                  0));
		if (!file)
			mas_die(MAS_EXIT_IO, "out of memory");
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		fail(store, rc, error);
	}
	sqlite3_finalize(statement);
	return file;
}

void *mas_chat_cache_map(struct mas_store *store, const char *key,
                         size_t *size, char **error)
{
	char *file, *dir;
	void *block = NULL;

	*error = NULL;
	file = kept_file(store, key, error);
	if (file) {
		dir = mas_chat_cache_dir(store);
		block = mas_store_file_map(dir, file, size, error);
		free(dir);
	}
	free(file);
	return block;
}

/* SQL prepared into *STATEMENT with KEY, KB_PATH and FILE bound as ?1,
 * ?2, ?3; 0, or a MAS_STORE_ status with *ERROR. */
static int prepare(struct mas_store *store, const char *sql,
                   const char *key, const char *kb_path, const char *file,
                   sqlite3_stmt **statement, char **error)
{
	int rc = sqlite3_prepare_v2(store->db, sql, -1, statement, NULL);

	if (rc != SQLITE_OK)
		return fail(store, rc, error);
	sqlite3_bind_text(*statement, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(*statement, 2, kb_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(*statement, 3, file, -1, SQLITE_STATIC);
	return 0;
}

/* Runs SQL with KEY, KB_PATH and FILE bound as ?1, ?2, ?3. */
static int run(struct mas_store *store, const char *sql, const char *key,
               const char *kb_path, const char *file, char **error)
{
	sqlite3_stmt *statement;
	int rc = prepare(store, sql, key, kb_path, file, &statement, error);

	if (rc)
		return rc;
	rc = sqlite3_step(statement);
	sqlite3_finalize(statement);
	return rc == SQLITE_DONE ? 0 : fail(store, rc, error);
}

/* The files of the rows for KEY or KB_PATH, into *OLD (malloc'd names,
 * *COUNT of them). */
static int old_files(struct mas_store *store, const char *key,
                     const char *kb_path, char ***old, size_t *count,
                     char **error)
{
	static const char sql[] = "SELECT file FROM chat_model"
	                          " WHERE (kb = ?2 OR key = ?1)"
	                          " AND file IS NOT NULL";
	sqlite3_stmt *statement;
	int rc = prepare(store, sql, key, kb_path, NULL, &statement, error);

	if (rc)
		return rc;
	for (rc = sqlite3_step(statement); rc == SQLITE_ROW;
	     rc = sqlite3_step(statement)) {
		*old = realloc(*old, (*count + 1) * sizeof(**old));
		if (!*old)
			mas_die(MAS_EXIT_IO, "out of memory");
		(*old)[*count] = strdup((const char *)
		                        sqlite3_column_text(statement, 0));
		if (!(*old)[(*count)++])
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	sqlite3_finalize(statement);
	return rc == SQLITE_DONE ? 0 : fail(store, rc, error);
}

/* Names FILE under KEY for KB_PATH in place of the rows for either;
 * the files they named into *OLD. */
static int record(struct mas_store *store, const char *key,
                  const char *kb_path, const char *file, char ***old,
                  size_t *count, char **error)
{
	int status = run(store, "BEGIN IMMEDIATE", key, kb_path, file,
	                 error);

	if (status)
		return status;
	status = old_files(store, key, kb_path, old, count, error);
	if (!status)
		status = run(store, "DELETE FROM chat_model WHERE kb = ?2"
		             " OR key = ?1", key, kb_path, file, error);
	if (!status)
		status = run(store, "INSERT INTO chat_model (key, kb,"
		             " created, model, file) VALUES (?1, ?2,"
		             " (julianday('now') - 2440587.5) * 86400.0, x'',"
		             " ?3)", key, kb_path, file, error);
	if (!status)
		status = run(store, "COMMIT", key, kb_path, file, error);
	if (status)
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
	return status;
}

int mas_chat_cache_put(struct mas_store *store, const char *key,
                       const char *kb_path, const void *data, size_t size,
                       char **error)
{
	char *dir = mas_chat_cache_dir(store), *file = NULL, **old = NULL;
	size_t count = 0;
	int status;

	*error = NULL;
	if (mas_store_file_write(dir, ".model", data, size, &file,
	                         error) != 0) {
		free(dir);
		return -1;
	}
	status = record(store, key, kb_path, file, &old, &count, error);
	if (status)
		mas_store_file_remove(dir, file);
	/* a process that has one mapped reads it until it unmaps it */
	for (size_t i = 0; i < count; i++) {
		if (!status && strcmp(old[i], file) != 0)
			mas_store_file_remove(dir, old[i]);
		free(old[i]);
	}
	if (!status)
		mas_store_file_prune(store, dir, ".model", "SELECT 1 FROM"
		                     " chat_model WHERE file = ?1", "a model");
	free(old);
	free(file);
	free(dir);
	return status;
}
