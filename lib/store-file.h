/*
 * store-file.h — files kept beside the state store (store.h), for what
 * is too big to read whole at every start and is mapped instead:
 * mas-research's indexes (index.h, folder research-index) and mas-chat's
 * trained models (chat-cache.h, folder chat-model).
 *
 * A file is written once under a fresh name (random, and a suffix),
 * synced, and only then named by a row of the store, in a transaction;
 * it is never written again.  So a reader sees either no row, or a row
 * naming a whole file; a file replaced is unlinked, and a process that
 * has it mapped goes on reading it until it unmaps it (one truncated
 * by hand while mapped would fault, SIGBUS, as any mapped file; a
 * reader checks the size it maps).  A file no row
 * names (its writer was killed before the row) is removed once it is
 * older than MAS_STORE_FILE_ORPHAN_AGE seconds: one being written now is
 * younger.
 */
#ifndef MAS_STORE_FILE_H
#define MAS_STORE_FILE_H

#include <stddef.h>

#include "store.h"

#define MAS_STORE_FILE_ORPHAN_AGE (15 * 60)

/* The folder NAME beside STORE's database (malloc'd); not made. */
char *mas_store_file_dir(const struct mas_store *store, const char *name);

/* DIR/NAME (malloc'd). */
char *mas_store_file_join(const char *dir, const char *name);

/*
 * A new file in DIR (made, mode 0700, when missing) under a fresh name
 * ending in SUFFIX (".idx"): its descriptor, open for reading and
 * writing, mode 0600, with the malloc'd name in *NAME.  Returns -1 with
 * *ERROR naming the folder or file when it cannot be made.
 */
int mas_store_file_create(const char *dir, const char *suffix, char **name,
                          char **error);

/*
 * SIZE bytes of DATA (borrowed) as a new file in DIR, as
 * mas_store_file_create makes it, synced: 0 with its name in *NAME
 * (malloc'd), or -1 with *ERROR (nothing left behind).
 */
int mas_store_file_write(const char *dir, const char *suffix,
                         const void *data, size_t size, char **name,
                         char **error);

/*
 * The file NAME in DIR mapped read-only and shared, *SIZE bytes (the
 * caller munmaps it).  NULL when it is gone or empty (*ERROR left
 * alone: replaced under us, or removed by hand), or with *ERROR when it
 * cannot be opened or mapped.
 */
void *mas_store_file_map(const char *dir, const char *name, size_t *size,
                         char **error);

/* Unlinks NAME in DIR, when NAME is not NULL. */
void mas_store_file_remove(const char *dir, const char *name);

/*
 * Removes the files of DIR ending in SUFFIX that the query NAMED (SQL
 * whose ?1 is a file's name, giving a row when a row of the store names
 * it) does not name, and that nobody wrote for the orphan age above.
 * Says so with mas_info, naming WHAT ("an index").
 */
void mas_store_file_prune(struct mas_store *store, const char *dir,
                          const char *suffix, const char *named,
                          const char *what);

#endif
