/*
 * store.h — the state store: one SQLite database for all of mas.
 *
 * It lives at $MAS_STATE_DIR/mas.db (config key state.dir), else
 * $XDG_STATE_HOME/mas/mas.db, else ~/.local/state/mas/mas.db; the folder
 * is made with mode 0700.  Chat sessions, flow checkpoints, the LLM cache
 * and the embedded bus all keep their tables here, so one file is all a
 * user backs up or deletes.
 *
 * Opened in WAL mode (readers never block the writer, and several
 * processes of one pipeline share it) with a busy timeout, so concurrent
 * writers wait rather than fail.  The schema is versioned by SQLite's
 * user_version: the migrations in store.c run in order, each in its own
 * transaction, and a database newer than this program is refused rather
 * than misread.  Programs open the store only when they need it.
 */
#ifndef MAS_STORE_H
#define MAS_STORE_H

#include <jv.h>
#include <sqlite3.h>

#include "config.h"

struct mas_store {
	sqlite3 *db;
	char *path;
};

/* How long a writer waits for another process's lock, in milliseconds,
 * unless state.busy_timeout (MAS_STATE_BUSY_TIMEOUT, seconds) says. */
#define MAS_STORE_BUSY_TIMEOUT_MS 10000

/*
 * The database path for CONFIG (malloc'd), or NULL with *ERROR set when
 * no location can be derived (no state.dir, XDG_STATE_HOME or HOME).
 */
char *mas_store_path(const struct mas_config *config, char **error);

/*
 * mkdir -p of the folder holding PATH, each folder made private to the
 * user (0700); those that exist are left as they are.  Returns 0, or -1
 * with *ERROR set naming the folder that could not be made.  For other
 * files kept beside the store (the line editor's history).
 */
int mas_store_make_parents(const char *path, char **error);

/*
 * What opening (and the first writes) return when the store cannot be
 * used for now, a transient failure worth a retry: another process held
 * its lock for longer than the busy timeout (BUSY), or the disk is full
 * or failed a write (FULL).
 */
#define MAS_STORE_BUSY (-2)
#define MAS_STORE_FULL (-3)

/* Whether STATUS, as opening returned it, is one of those. */
#define MAS_STORE_TRANSIENT(status) \
	((status) == MAS_STORE_BUSY || (status) == MAS_STORE_FULL)

/* The MAS_STORE_ status for an SQLite result code: BUSY, FULL or -1. */
int mas_store_status(int sqlite_rc);

/* The busy timeout in force (state.busy_timeout once a store was opened
 * with its configuration), in milliseconds: for modules that install
 * their own busy handler. */
int mas_store_busy_timeout_ms(void);

/*
 * Open (creating if needed) and migrate the store at PATH.  Returns 0, or
 * -1 (MAS_STORE_BUSY: locked, MAS_STORE_FULL: no room) with a malloc'd
 * one-line message in *ERROR naming the file.
 */
int mas_store_open(struct mas_store *store, const char *path, char **error);

/*
 * mas_store_path and mas_store_open in one: the store CONFIG points to.
 * Returns 0, or -1, MAS_STORE_BUSY or MAS_STORE_FULL with a malloc'd
 * message in *ERROR.
 */
int mas_store_open_configured(struct mas_store *store,
                              const struct mas_config *config, char **error);

/*
 * The error object for records a program cannot answer because the
 * store failed with STATUS, MAS_STORE_BUSY (code TIMEOUT) or
 * MAS_STORE_FULL (code INTERNAL); MESSAGE is what it said (borrowed).
 * Transient either way: the run exits 75, retry later.
 */
jv mas_store_unavailable_error(int status, const char *message);

/*
 * Wait for the write lock in short steps (200 us) rather than SQLite's
 * own, which sleeps longer and longer (up to 100 ms): where several
 * connections of one process or group take the lock in turn, a writer
 * that lost it once would otherwise keep losing it to one that takes
 * it again within a millisecond.  Still bounded by the busy timeout.
 */
void mas_store_wait_briefly(struct mas_store *store);

/* The schema version this program migrates to. */
int mas_store_schema_version(void);

/* Close; a zeroed or already closed store is fine. */
void mas_store_close(struct mas_store *store);

#endif
