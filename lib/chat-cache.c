/*
 * chat-cache.c — trained models in the state store (see chat-cache.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-cache.h"
#include "llm.h"
#include "log.h"
#include "mas.h"
#include "banned.h"

/* The bytes of the file at PATH, then "\n" and SHAPE; NULL with
 * *ERROR when it cannot be read. */
static char *read_with_shape(const char *path, const char *shape,
                             size_t *length, char **error)
{
	FILE *file = fopen(path, "rb");
	size_t capacity = 65536, used = 0, n, extra = strlen(shape) + 1;
	char *data;

	if (!file) {
		mas_error_set(error, "%s: %s", path, strerror(errno));
		return NULL;
	}
	data = malloc(capacity + extra);
	while (data) {
		n = fread(data + used, 1, capacity - used, file);
		used += n;
		if (used < capacity)
			break;
		capacity *= 2;
		data = realloc(data, capacity + extra);
	}
	if (!data)
		mas_die(MAS_EXIT_IO, "out of memory");
	if (ferror(file)) {
		mas_error_set(error, "%s: %s", path, strerror(errno));
		free(data);
		data = NULL;
	} else {
		data[used] = '\n';
		memcpy(data + used + 1, shape, extra - 1);
		*length = used + extra;
	}
	fclose(file);
	return data;
}

int mas_chat_cache_key(const char *kb_path, const char *shape,
                       char key[65], char **error)
{
	size_t length;
	char *data = read_with_shape(kb_path, shape, &length, error);

	if (!data)
		return -1;
	mas_sha256_hex(data, length, key);
	free(data);
	return 0;
}

static int fail(struct mas_store *store, int rc, char **error)
{
	mas_error_set(error, "%s: model cache: %s", store->path,
	              sqlite3_errmsg(store->db));
	return mas_store_status(rc);
}

/* The SIZE bytes of the model in ROW, read straight into one buffer
 * (a column's value would be assembled by SQLite first, then copied:
 * megabytes twice at every start). */
static void *read_model(struct mas_store *store, sqlite3_int64 row,
                        size_t *size, char **error)
{
	sqlite3_blob *blob;
	void *data;
	int rc = sqlite3_blob_open(store->db, "main", "chat_model", "model",
	                           row, 0, &blob);

	if (rc != SQLITE_OK) {
		fail(store, rc, error);
		return NULL;
	}
	*size = (size_t)sqlite3_blob_bytes(blob);
	data = malloc(*size ? *size : 1);
	if (!data)
		mas_die(MAS_EXIT_IO, "out of memory");
	rc = sqlite3_blob_read(blob, data, (int)*size, 0);
	if (rc != SQLITE_OK) {
		fail(store, rc, error);
		free(data);
		data = NULL;
	}
	sqlite3_blob_close(blob);
	return data;
}

void *mas_chat_cache_get(struct mas_store *store, const char *key,
                         size_t *size, char **error)
{
	static const char sql[] =
		"SELECT rowid FROM chat_model WHERE key = ?1";
	sqlite3_stmt *statement;
	sqlite3_int64 row = 0;
	int rc;

	*error = NULL;
	rc = sqlite3_prepare_v2(store->db, sql, -1, &statement, NULL);
	if (rc != SQLITE_OK) {
		fail(store, rc, error);
		return NULL;
	}
	sqlite3_bind_text(statement, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(statement);
	if (rc == SQLITE_ROW)
		row = sqlite3_column_int64(statement, 0);
	else if (rc != SQLITE_DONE)
		fail(store, rc, error);
	sqlite3_finalize(statement);
	return rc == SQLITE_ROW ? read_model(store, row, size, error) : NULL;
}

/* Runs SQL with KEY, KB_PATH and DATA bound as ?1, ?2, ?3. */
static int run(struct mas_store *store, const char *sql, const char *key,
               const char *kb_path, const void *data, size_t size,
               char **error)
{
	sqlite3_stmt *statement;
	int rc = sqlite3_prepare_v2(store->db, sql, -1, &statement, NULL);

	if (rc != SQLITE_OK)
		return fail(store, rc, error);
	sqlite3_bind_text(statement, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(statement, 2, kb_path, -1, SQLITE_STATIC);
	if (data)
		sqlite3_bind_blob64(statement, 3, data, size, SQLITE_STATIC);
	rc = sqlite3_step(statement);
	sqlite3_finalize(statement);
	return rc == SQLITE_DONE ? 0 : fail(store, rc, error);
}

int mas_chat_cache_put(struct mas_store *store, const char *key,
                       const char *kb_path, const void *data, size_t size,
                       char **error)
{
	int status;

	*error = NULL;
	status = run(store, "BEGIN IMMEDIATE", key, kb_path, NULL, 0, error);
	if (status)
		return status;
	status = run(store, "DELETE FROM chat_model WHERE kb = ?2"
	             " AND key <> ?1", key, kb_path, NULL, 0, error);
	if (!status)
		status = run(store, "INSERT OR REPLACE INTO chat_model (key,"
		             " kb, created, model) VALUES (?1, ?2,"
		             " (julianday('now') - 2440587.5) * 86400.0, ?3)",
		             key, kb_path, data, size, error);
	if (!status)
		status = run(store, "COMMIT", key, kb_path, NULL, 0, error);
	if (status)
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
	return status;
}
