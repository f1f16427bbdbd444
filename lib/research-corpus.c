/*
 * research-corpus.c — the index a research agent answers from: stored, or
 * built on the fly (research.h).  Shared by mas-research and mas-flow's
 * research nodes.
 */
#include <errno.h>
#include <math.h>
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

/* The setting KEY as a number from LOW to HIGH into *OUT, or -1 with
 * *ERROR naming the key, its option and variable. */
static int number_setting(const struct mas_config *config, const char *key,
                          const char *option, const char *variable,
                          double low, double high, double *out,
                          char **error)
{
	const char *text = mas_config_get(config, key);
	char *end;
	double value;

	if (!text)
		return 0; /* keeps the default */
	errno = 0;
	value = strtod(text, &end);
	if (end == text || *end != '\0' || errno != 0 || !isfinite(value) ||
	    value < low || value > high)
		return mas_error_set(error, "%s (%s, %s): '%s' is not a number "
		                     "from %g to %g", key, option, variable,
		                     text, low, high);
	*out = value;
	return 0;
}

int mas_research_params(const struct mas_config *config,
                        struct mas_index_params *params, char **error)
{
	*params = (struct mas_index_params)MAS_INDEX_PARAMS_DEFAULT;
	if (number_setting(config, "research.bm25_k1", "--bm25-k1",
	                   "MAS_RESEARCH_BM25_K1", 0, 100, &params->k1,
	                   error) != 0 ||
	    number_setting(config, "research.bm25_b", "--bm25-b",
	                   "MAS_RESEARCH_BM25_B", 0, 1, &params->b,
	                   error) != 0 ||
	    number_setting(config, "research.title_weight", "--title-weight",
	                   "MAS_RESEARCH_TITLE_WEIGHT", 0, 100,
	                   &params->title_weight, error) != 0)
		return -1;
	return 0;
}

int mas_research_index_memory(const struct mas_config *config,
                              size_t *bytes, char **error)
{
	double mib = MAS_RESEARCH_INDEX_MEMORY;

	if (number_setting(config, "research.index_memory", "--index-memory",
	                   "MAS_RESEARCH_INDEX_MEMORY", 0, 65536, &mib,
	                   error) != 0)
		return -1;
	*bytes = (size_t)(mib * 1048576);
	return 0;
}

void mas_research_rules(const struct mas_config *config,
                        struct mas_corpus_rules *rules)
{
	rules->include = mas_config_get(config, "research.include");
	rules->exclude = mas_config_get(config, "research.exclude");
	rules->id_field = mas_config_get(config, "research.id_field");
}

struct mas_index *mas_research_open_corpus(char *const *roots, size_t count,
                                           const struct mas_config *config,
                                           char **error)
{
	struct mas_index_params params;
	struct mas_corpus_rules rules;
	struct mas_corpus corpus;
	struct mas_index *index;
	char *signature;

	if (mas_research_params(config, &params, error) != 0)
		return NULL;
	mas_research_rules(config, &rules);
	if (mas_corpus_scan(&corpus, roots, count, &rules, error) != 0) {
		mas_corpus_release(&corpus); /* the roots before the bad one */
		return NULL;
	}
	signature = mas_corpus_signature(&corpus);
	index = stored_index(&corpus, signature, config);
	if (index)
		mas_info("using the stored index of %zu files", corpus.count);
	else
		index = fly_index(&corpus, error);
	if (index)
		mas_index_set_params(index, &params);
	free(signature);
	mas_corpus_release(&corpus);
	return index;
}
