/*
 * chat-cache.h — mas-chat's trained models kept in the state store
 * (store.h, table chat_model), so that a process start reads a model
 * instead of training one (mas-chat(1), FILES).
 *
 * A model is found by its key: the SHA-256 (llm.h's mas_sha256_hex) of
 * the knowledge base file's bytes, a newline, and a string naming what
 * shapes training (the learner and its options, the out-of-scope target,
 * the feature extractor's fingerprint).  Any change to either is another
 * key, so a stale model is never read; old rows are replaced when the
 * same knowledge base path is trained again.
 */
#ifndef MAS_CHAT_CACHE_H
#define MAS_CHAT_CACHE_H

#include <stddef.h>

#include "store.h"

/*
 * The key of the knowledge base at KB_PATH trained as SHAPE says, as 64
 * hex digits into KEY.  Returns 0, or -1 with a malloc'd message in
 * *ERROR when the file cannot be read.
 */
int mas_chat_cache_key(const char *kb_path, const char *shape,
                       char key[65], char **error);

/*
 * The model stored under KEY: malloc'd bytes, *SIZE of them; NULL when
 * there is none, or when the store could not be read (then with a
 * malloc'd message in *ERROR, else *ERROR is NULL).
 */
void *mas_chat_cache_get(struct mas_store *store, const char *key,
                         size_t *size, char **error);

/*
 * Store SIZE bytes of DATA (borrowed) under KEY, for the knowledge base
 * at KB_PATH, in place of the models stored earlier for that path.
 * Returns 0, or -1, MAS_STORE_BUSY or MAS_STORE_FULL with a malloc'd
 * message in *ERROR.
 */
int mas_chat_cache_put(struct mas_store *store, const char *key,
                       const char *kb_path, const void *data, size_t size,
                       char **error);

#endif
