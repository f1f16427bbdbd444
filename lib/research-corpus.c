/*
 * research-corpus.c — the index a research agent answers from: stored, or
 * built on the fly (research.h).  Shared by mas-research and mas-flow's
 * research nodes.
 */
#include <stdlib.h>

#include "corpus.h"
#include "index.h"
#include "log.h"
#include "mas.h"
#include "research.h"
#include "store.h"
#include "banned.h"

/* The stored index of CORPUS when it is fresh, else NULL; a store that
 * cannot be used only costs the time to index on the fly. */
static struct mas_index *stored_index(const struct mas_corpus *corpus,
                                      const char *signature,
                                      const struct mas_config *config)
{
	struct mas_store store;
	struct mas_index *index;
	char *error = NULL;

	if (mas_store_open_configured(&store, config, &error) != 0) {
		mas_info("state store: %s; indexing on the fly",
		         error ? error : "cannot open");
		free(error);
		return NULL;
	}
	index = mas_index_load(&store, corpus->key, signature, &error);
	if (error)
		mas_warn("stored index: %s; indexing on the fly", error);
	free(error);
	mas_store_close(&store);
	return index;
}

static struct mas_index *fly_index(const struct mas_corpus *corpus,
                                   char **error)
{
	struct mas_index *index;
	char *why = NULL;

	if (corpus->bytes > MAS_RESEARCH_FLY_LIMIT) {
		mas_error_set(error, "--corpus: %lld MB and no stored index "
		              "matches its files; run mas-research index "
		              "--corpus ... first", corpus->bytes >> 20);
		return NULL;
	}
	mas_info("indexing %zu files on the fly", corpus->count);
	index = mas_corpus_index(corpus, NULL, &why);
	if (!index)
		mas_error_set(error, "--corpus: %s",
		              why ? why : "cannot index");
	free(why);
	return index;
}

struct mas_index *mas_research_open_corpus(char *const *roots, size_t count,
                                           const struct mas_config *config,
                                           char **error)
{
	struct mas_corpus corpus;
	struct mas_index *index;
	char *signature;

	if (mas_corpus_scan(&corpus, roots, count, error) != 0) {
		mas_corpus_release(&corpus); /* the roots before the bad one */
		return NULL;
	}
	signature = mas_corpus_signature(&corpus);
	index = stored_index(&corpus, signature, config);
	if (index)
		mas_info("using the stored index of %zu files", corpus.count);
	else
		index = fly_index(&corpus, error);
	free(signature);
	mas_corpus_release(&corpus);
	return index;
}
