/*
 * chat-cache.h — mas-chat's trained models kept beside the state store
 * (store.h, table chat_model; store-file.h), so that a process start
 * maps a model instead of training one (mas-chat(1), MODEL CACHE).
 *
 * A model is a file in the folder chat-model beside the store
 * (mas_classify_save's bytes, which a start maps and uses in place:
 * classify.h), named by a row of chat_model under its key: the digest
 * of the knowledge base file's bytes as they were loaded (kb.h's, an
 * XXH3-128: a cache key needs no cryptographic hash, and SHA-256 took
 * 5 ms a start for a 900 KB knowledge base), a space, and a string
 * naming what shapes training (the learner and its options, the
 * out-of-scope target, the feature extractor's fingerprint).  Any
 * change to either is another key, so a stale model is never read; old
 * rows and their files are replaced when the same knowledge base path
 * is trained again.
 */
#ifndef MAS_CHAT_CACHE_H
#define MAS_CHAT_CACHE_H

#include <stddef.h>

#include "store.h"

/* The key of a knowledge base whose bytes have the digest KB_DIGEST
 * (kb.h) trained as SHAPE says (malloc'd). */
char *mas_chat_cache_key(const char *kb_digest, const char *shape);

/* The folder of the model files beside STORE's database (malloc'd):
 * chat-model. */
char *mas_chat_cache_dir(const struct mas_store *store);

/*
 * The model file stored under KEY, mapped read-only: *SIZE bytes, the
 * caller's to munmap (or to give to mas_classify_attach).  NULL when
 * there is none (no row, or its file is gone), or when the store or the
 * file could not be read (then with a malloc'd message in *ERROR, else
 * *ERROR is NULL).
 */
void *mas_chat_cache_map(struct mas_store *store, const char *key,
                         size_t *size, char **error);

/*
 * Store SIZE bytes of DATA (borrowed) under KEY, for the knowledge base
 * at KB_PATH: written to a new file in mas_chat_cache_dir (store-file.h)
 * and synced, then named by a row in place of the rows for KEY and for
 * KB_PATH stored earlier, whose files are removed (a process that has
 * one mapped reads it to the end), and so are files no row names that
 * are older than MAS_STORE_FILE_ORPHAN_AGE.  Returns 0, or -1,
 * MAS_STORE_BUSY or MAS_STORE_FULL with a malloc'd message in *ERROR
 * (the new file then removed).
 */
int mas_chat_cache_put(struct mas_store *store, const char *key,
                       const char *kb_path, const void *data, size_t size,
                       char **error);

#endif
