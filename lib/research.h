/*
 * research.h — the research agent: a question in, a summary, findings and
 * recommendations with cited sources out (mas-research(1)).
 *
 * A task is the original API's
 *
 *	{"type": "research", "query": "...", "priority": "high",
 *	 "context": {"domain": "...", "timeframe": "...",
 *	             "depth": "brief|standard|comprehensive"}}
 *
 * or just the query as a string (what `--input '.message'` gives).  The
 * embedded engine ranks the corpus's passages by BM25 (index.h), widens
 * the query by pseudo-relevance feedback when the evidence is thin, and
 * answers extractively; with a model it asks for sub-questions and a
 * synthesis that may cite only the passages retrieved.  The BDI plans,
 * the criteria and the meaning of every output field are documented in
 * mas-research(1): keep the two in step.
 */
#ifndef MAS_RESEARCH_H
#define MAS_RESEARCH_H

/* The longest query answered, in bytes: retrieval's work and memory grow
 * with the query's terms, so a huge one is INVALID_REQUEST naming the
 * field rather than minutes and gigabytes. */
#define MAS_RESEARCH_QUERY_MAX 65536

/* The most sources an answer cites, and a first stage returns. */
#define MAS_RESEARCH_SOURCES_MAX 20
#define MAS_RESEARCH_RANKED_MAX 1000

#include <stddef.h>

#include <jv.h>

#include "agent.h"
#include "corpus.h"
#include "engine.h"
#include "index.h"

struct mas_research_options {
	struct mas_index *index;   /* the corpus, or NULL: none */
	const struct mas_engine *engine; /* a model when engine->llm */
	const char *depth;         /* for tasks without one; NULL: standard */
	size_t sources;            /* --sources; 0: by depth; at most
	                            * MAS_RESEARCH_SOURCES_MAX, or
	                            * MAS_RESEARCH_RANKED_MAX with
	                            * retrieve_only */
	int retrieve_only;         /* only the ranked sources */
	int rank_documents;        /* with retrieve_only: documents ranked
	                            * by their best passage */
	int feedback;              /* with retrieve_only: expand when thin */
};

struct mas_researcher;

/* A new researcher; OPTIONS and what it points to are borrowed. */
struct mas_researcher *mas_researcher_new(
	const struct mas_research_options *options);
void mas_researcher_free(struct mas_researcher *researcher);

/*
 * Answer TASK (consumed) with the embedded engine only.  Returns the
 * result object for the record's output key, or jv_invalid_with_msg(
 * error object) naming the field that was wrong.
 */
jv mas_research_task(struct mas_researcher *researcher, jv task);

/*
 * Answer TASK (consumed) as mas_research_task does and, when a model is
 * configured, let it propose sub-questions and write the synthesis from
 * the retrieved passages: REPLY gets the result once, now or from inside
 * the engine's wait.  A model that fails leaves the embedded answer, as
 * --fallback says.  (mas_agent_start_fn.)
 */
void mas_research_start(void *researcher, jv task, mas_agent_reply_fn reply,
                        void *context);

/* Whether NAME is a depth: brief, standard or comprehensive. */
int mas_research_depth_valid(const char *name);

/* A corpus larger than this, in bytes, is not indexed on the fly: the
 * user is told to run `mas-research index` once instead of paying for it
 * at every run. */
#define MAS_RESEARCH_FLY_LIMIT (16LL << 20)

/*
 * BM25's parameters from CONFIG: research.bm25_k1 (0 to 100),
 * research.bm25_b (0 to 1) and research.title_weight (0 to 100), each
 * MAS_INDEX_PARAMS_DEFAULT's when unset.  Returns 0, or -1 with *ERROR
 * (malloc'd) naming the key, its option and its variable.
 */
int mas_research_params(const struct mas_config *config,
                        struct mas_index_params *params, char **error);

/* What `mas-research index` builds in before it writes a segment, in
 * MiB, unless research.index_memory says (lib/index.h). */
#define MAS_RESEARCH_INDEX_MEMORY 64

/* research.index_memory (MiB, 0 to 65536; 0 writes a segment per
 * document) in bytes into *BYTES.  Returns 0, or -1 with *ERROR
 * (malloc'd) naming the key, its option and its variable. */
int mas_research_index_memory(const struct mas_config *config,
                              size_t *bytes, char **error);

/* The corpus rules CONFIG sets (research.include, research.exclude,
 * research.id_field; borrowed from CONFIG), corpus.h. */
void mas_research_rules(const struct mas_config *config,
                        struct mas_corpus_rules *rules);

/* What mas_research_store_index did. */
struct mas_research_indexed {
	struct mas_index *index;   /* the index kept, mapped (owned) */
	struct mas_corpus_stats stats; /* of the files read */
	size_t files_read;         /* files read now */
	size_t files_kept;         /* files taken from the index kept */
	int reused;                /* the index kept matched the files */
	int incremental;           /* only the files changed were read */
	uint32_t segments;         /* of the index kept (index.h) */
};

/* The most of a corpus an update reads, as a share of the corpus or of
 * the indexing budget, whichever is larger: its index is built in
 * memory, about 4 times what it reads. */
#define MAS_RESEARCH_UPDATE_SHARE 4

/*
 * Keep the index of CORPUS (whose signature is SIGNATURE) in STORE, as
 * `mas-research index` does (mas-research(1), INDEXING): when the index
 * kept there matches the files, it is used as it is; when it lists some
 * of the files unchanged (same real path, size and modification time)
 * and the others (changed or added) hold at most 1 /
 * MAS_RESEARCH_UPDATE_SHARE of the corpus or of BUDGET, only those are
 * read and the new index takes the rest from the old one, as a segment
 * added to it or written whole (mas_index_store_update); else every
 * file is read, in segments of BUDGET bytes.  An update that fails (the
 * old index damaged) is logged and every file read.  Fills *OUT;
 * returns 0, or -1 with *ERROR (malloc'd) when the index cannot be
 * written or read back.
 */
int mas_research_store_index(struct mas_store *store,
                             const struct mas_corpus *corpus,
                             const char *signature, size_t budget,
                             struct mas_research_indexed *out,
                             char **error);

/*
 * The index for answering from the corpus ROOTS[0..COUNT) (files and
 * folders, corpus.h, taken as mas_research_rules says): the one kept in the state store CONFIG names when it
 * matches the files, else one built now when the corpus is at most
 * MAS_RESEARCH_FLY_LIMIT bytes, set to search with CONFIG's BM25
 * parameters (mas_research_params).  A store that cannot be opened or
 * read is logged and the index built on the fly.  Returns NULL with
 * *ERROR (malloc'd) when a parameter is bad, a root cannot be read, the corpus is too large to index
 * on the fly, or the index cannot be built.
 */
struct mas_index *mas_research_open_corpus(char *const *roots, size_t count,
                                           const struct mas_config *config,
                                           char **error);

#endif
