/*
 * research-corpus.c — the index a research agent answers from: stored, or
 * built on the fly (research.h).  Shared by mas-research and mas-flow's
 * research nodes.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- keeping a corpus's index ---- */

/* Reads every file of CORPUS into an index kept in STORE: 0 or -1. */
static int store_all(struct mas_store *store,
                     const struct mas_corpus *corpus,
                     const char *signature, size_t budget,
                     struct mas_research_indexed *out, char **error)
{
	struct mas_index_builder *builder = mas_index_builder_new();
	char *dir = mas_index_dir(store);
	int rc = mas_index_builder_spill(builder, dir, budget, error);

	free(dir);
	if (rc != 0) {
		mas_index_builder_free(builder);
		return -1;
	}
	mas_corpus_read(corpus, builder, &out->stats);
	out->files_read = corpus->count;
	out->files_kept = 0;
	out->incremental = 0;
	return mas_index_store(store, corpus->key, signature, builder, error);
}

/* Files of an index kept, by path, to find a corpus file among them. */
struct kept {
	const struct mas_index *index;
	uint32_t *order;       /* file numbers by path */
	uint32_t count;
};

static _Thread_local const struct mas_index *kept_sorting;

static int by_path(const void *a, const void *b)
{
	struct mas_index_file x, y;

	mas_index_file(kept_sorting, *(const uint32_t *)a, &x);
	mas_index_file(kept_sorting, *(const uint32_t *)b, &y);
	return strcmp(x.path, y.path);
}

static void kept_files(struct kept *k, const struct mas_index *index)
{
	k->index = index;
	k->count = mas_index_files(index);
	k->order = malloc((k->count ? k->count : 1) * sizeof(uint32_t));
	if (!k->order)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (uint32_t i = 0; i < k->count; i++)
		k->order[i] = i;
	kept_sorting = index;
	qsort(k->order, k->count, sizeof(uint32_t), by_path);
	kept_sorting = NULL;
}

/* The file of K that FILE is, unchanged, or -1. */
static int64_t unchanged(const struct kept *k,
                         const struct mas_corpus_file *file)
{
	size_t low = 0, high = k->count;

	while (low < high) {
		size_t mid = low + (high - low) / 2;
		struct mas_index_file f;
		int c;
		mas_index_file(k->index, k->order[mid], &f);
		c = strcmp(f.path, file->real);
		if (c == 0)
			return f.size == file->size &&
			       f.mtime_ns == file->mtime_ns
			       ? (int64_t)k->order[mid] : -1;
		if (c < 0)
			low = mid + 1;
		else
			high = mid;
	}
	return -1;
}

/* An update: the pieces of the new index in the corpus's order, the
 * files to read (borrowed from the corpus). */
struct update_plan {
	struct mas_index_piece *pieces;
	int64_t *kept;         /* per corpus file: its file in the old
	                        * index, or -1: to read */
	struct mas_corpus_file *read;
	size_t read_count, kept_count;
	long long read_bytes;
};

static void plan_update(struct update_plan *p, const struct mas_corpus *c,
                        const struct mas_index *old)
{
	struct kept k;

	memset(p, 0, sizeof(*p));
	kept_files(&k, old);
	p->pieces = calloc(c->count + 1, sizeof(*p->pieces));
	p->kept = calloc(c->count + 1, sizeof(*p->kept));
	p->read = calloc(c->count + 1, sizeof(*p->read));
	if (!p->pieces || !p->kept || !p->read)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < c->count; i++) {
		p->kept[i] = unchanged(&k, &c->files[i]);
		if (p->kept[i] >= 0) {
			p->kept_count++;
			continue;
		}
		p->read[p->read_count++] = c->files[i];
		p->read_bytes += c->files[i].size;
	}
	free(k.order);
}

static void release_plan(struct update_plan *p)
{
	free(p->pieces);
	free(p->kept);
	free(p->read);
}

/* The pieces of the new index: the files kept from OLD, those read
 * from FRESH (which lists the files it could read, in order). */
static size_t pieces(struct update_plan *p, const struct mas_corpus *c,
                     const struct mas_index *old,
                     const struct mas_index *fresh)
{
	uint32_t next = 0, fresh_files = mas_index_files(fresh);
	size_t n = 0;

	for (size_t i = 0; i < c->count; i++) {
		struct mas_index_file f;
		if (p->kept[i] >= 0) {
			p->pieces[n].index = old;
			p->pieces[n++].file = (uint32_t)p->kept[i];
			continue;
		}
		if (next >= fresh_files)
			continue;
		mas_index_file(fresh, next, &f);
		if (strcmp(f.path, c->files[i].real) != 0)
			continue; /* not read: listed next time again */
		p->pieces[n].index = fresh;
		p->pieces[n++].file = next++;
	}
	return n;
}

/* Reads the files of P into an index with OLD's unchanged files kept
 * in STORE: 0, or -1 with *ERROR. */
static int store_update(struct mas_store *store,
                        const struct mas_corpus *corpus,
                        const char *signature, struct update_plan *p,
                        const struct mas_index *old,
                        struct mas_research_indexed *out, char **error)
{
	struct mas_corpus changed = *corpus;
	struct mas_index_builder *builder = mas_index_builder_new();
	struct mas_index *fresh;
	size_t n;
	int rc;

	changed.files = p->read;
	changed.count = p->read_count;
	mas_corpus_read(&changed, builder, &out->stats);
	fresh = mas_index_build(builder, error);
	if (!fresh)
		return -1;
	n = pieces(p, corpus, old, fresh);
	rc = mas_index_store_update(store, corpus->key, signature, old,
	                            fresh, p->pieces, n, &out->segments,
	                            error);
	if (rc == 0 && out->segments > 1)
		mas_info("the index kept is %u segments: %s", out->segments,
		         mas_index_files(fresh) ? "one added with the files "
		         "read" : "the files removed dropped");
	else if (rc == 0)
		mas_info("the index kept is written whole again");
	mas_index_free(fresh);
	out->files_read = p->read_count;
	out->files_kept = p->kept_count;
	out->incremental = 1;
	return rc;
}

/* Whether P is worth an update rather than reading every file. */
static int worth_updating(const struct update_plan *p,
                          const struct mas_corpus *corpus, size_t budget)
{
	double most = fmax((double)corpus->bytes, (double)budget) /
	              MAS_RESEARCH_UPDATE_SHARE;

	return p->kept_count > 0 && (double)p->read_bytes <= most;
}

/* Tries an update from the index kept, when there is one worth it:
 * 0 done, 1 not tried, -1 failed (logged). */
static int try_update(struct mas_store *store,
                      const struct mas_corpus *corpus,
                      const char *signature, size_t budget,
                      struct mas_research_indexed *out)
{
	char *error = NULL;
	struct mas_index *old = mas_index_load_any(store, corpus->key,
	                                           &error);
	struct update_plan p;
	int rc = 1;

	if (error)
		mas_warn("stored index: %s; reading every file", error);
	free(error);
	error = NULL;
	if (!old)
		return 1;
	plan_update(&p, corpus, old);
	if (worth_updating(&p, corpus, budget)) {
		mas_info("updating the stored index: reading %zu of %zu "
		         "files", p.read_count, corpus->count);
		rc = store_update(store, corpus, signature, &p, old, out,
		                  &error);
		if (rc != 0)
			mas_warn("updating the stored index: %s; reading "
			         "every file", error ? error : "failed");
	}
	free(error);
	release_plan(&p);
	mas_index_free(old);
	return rc;
}

int mas_research_store_index(struct mas_store *store,
                             const struct mas_corpus *corpus,
                             const char *signature, size_t budget,
                             struct mas_research_indexed *out,
                             char **error)
{
	memset(out, 0, sizeof(*out));
	*error = NULL;
	out->index = mas_index_load(store, corpus->key, signature, error);
	if (*error)
		mas_warn("stored index: %s; indexing again", *error);
	free(*error);
	*error = NULL;
	if (out->index) {
		out->reused = 1;
		out->files_kept = corpus->count;
		out->segments = mas_index_segments(out->index);
		return 0;
	}
	if (try_update(store, corpus, signature, budget, out) != 0) {
		memset(&out->stats, 0, sizeof(out->stats));
		if (store_all(store, corpus, signature, budget, out,
		              error) != 0)
			return -1;
	}
	out->index = mas_index_load(store, corpus->key, signature, error);
	if (!out->index && !*error)
		mas_error_set(error, "the index just stored cannot be read "
		              "back");
	if (out->index)
		out->segments = mas_index_segments(out->index);
	return out->index ? 0 : -1;
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
