/*
 * index.h — a BM25 index over passages, built in memory and kept in the
 * state store (mas-research(1), METHODS).
 *
 * Documents are added with their passages; each passage is indexed with
 * the tokens of its document's title followed by its own (lib/text.h),
 * so a passage deep in a document still matches the document's subject.
 * An index is one contiguous block holding documents, passages and their
 * text, the term dictionary (an open-addressing hash table) and the
 * postings (passage numbers in increasing order with term counts).  Built
 * for one run it is a block of memory; kept in the state store it is a
 * file beside it (mas_index_store), built in segments of bounded memory
 * and merged, and a run maps that file rather than reading it: a query
 * reads the pages of its terms' postings, of the passages they score and
 * of the text it quotes, and nothing else (index-file.c).
 *
 * An index lists the corpus files its documents came from (path, size,
 * modification time), so that the next index of a corpus can read only
 * the files that changed and take the rest from it: as a segment added
 * to the index kept (mas_index_store_update, index-segments.c), or
 * written whole (mas_index_store_pieces, index-update.c).  For that to
 * answer as an index of every file would, every index numbers its terms
 * in byte order of their text (not as they were met, which an update
 * cannot know): term numbers, which order terms and break ties in
 * research.c, then order terms alike in an index built in memory,
 * merged from segments, updated or made of segments (whose numbers
 * differ but compare the same, see Segments below).
 *
 * Ranking is Okapi BM25 over two fields, the title and the text, each
 * passage's title counting TITLE_WEIGHT times (BM25F with one b):
 *
 *	score(p, q) = sum over query terms t of
 *	    w(t) * idf(t) * tf * (k1 + 1) /
 *	        (tf + k1 * (1 - b + b * dl / avgdl))
 *	tf = tf_text + title_weight * tf_title
 *	dl = dl_text + title_weight * dl_title
 *	idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
 *
 * with tf_text and tf_title the counts of t in passage p's text and its
 * document's title, dl_* their lengths in tokens, avgdl the mean dl, N
 * the number of passages, df the number holding t (in either field), and
 * w(t) the query's weight for t (its count in the query, or less for
 * expansion terms).  This idf (Lucene's) is never negative, so a term in
 * most passages adds little rather than subtracting.  k1, b and
 * title_weight are chosen when searching (mas_index_set_params), not
 * when building: the two fields are counted apart in the index, so one
 * stored index serves every setting.  k1 1.2, b 0.75 and title weight 1
 * (the title as if it were part of the text) are the defaults.
 */
#ifndef MAS_INDEX_H
#define MAS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* BM25's parameters, as above. */
struct mas_index_params {
	double k1;           /* 0 to 100: how fast tf saturates */
	double b;            /* 0 to 1: how much length normalises */
	double title_weight; /* 0 to 100: a title token, in text tokens */
};
#define MAS_INDEX_PARAMS_DEFAULT { 1.2, 0.75, 1.0 }

struct mas_index;
struct mas_index_builder;

/* A new, empty builder. */
struct mas_index_builder *mas_index_builder_new(void);

/* Add a document; ID, TITLE and PATH are copied.  Returns its number. */
uint32_t mas_index_add_document(struct mas_index_builder *builder,
                                const char *id, const char *title,
                                const char *path);

/* Add a passage of the last document added: TEXT[0..LENGTH) is copied
 * and tokenized with the document's title. */
void mas_index_add_passage(struct mas_index_builder *builder,
                           const char *text, size_t length);

/*
 * The documents added from now on come from the corpus file REAL (its
 * real path, copied) of SIZE bytes modified at MTIME_NS (nanoseconds):
 * an index lists its files, so that the next index of the corpus can
 * take the documents of the files that did not change from it
 * (mas_index_store_pieces).  Documents added before any file belong to
 * none.
 */
void mas_index_add_file(struct mas_index_builder *builder, const char *real,
                        long long size, long long mtime_ns);

/* The index of everything added, in memory; frees BUILDER (one that
 * does not spill).  Returns NULL with a message in *ERROR (malloc'd)
 * when the corpus is too large for the index's 32-bit offsets (4 GiB of
 * text). */
struct mas_index *mas_index_build(struct mas_index_builder *builder,
                                  char **error);

/* Free a builder that was not built; NULL is fine. */
void mas_index_builder_free(struct mas_index_builder *builder);

void mas_index_free(struct mas_index *index);

/* Sizes. */
uint32_t mas_index_documents(const struct mas_index *index);
uint32_t mas_index_passages(const struct mas_index *index);
uint32_t mas_index_terms(const struct mas_index *index);
size_t mas_index_bytes(const struct mas_index *index);
double mas_index_avgdl(const struct mas_index *index);

/* A corpus file an index was read from (pointers borrowed from the
 * index), its documents FIRST_DOC to FIRST_DOC + DOCS - 1. */
struct mas_index_file {
	const char *path;
	long long size, mtime_ns;
	uint32_t first_doc, docs;
};
uint32_t mas_index_files(const struct mas_index *index);
/* File FILE (below mas_index_files) of INDEX into OUT; in a damaged
 * index, its documents are cut to those the index holds. */
void mas_index_file(const struct mas_index *index, uint32_t file,
                    struct mas_index_file *out);

/* A passage as stored (every pointer borrowed from the index). */
struct mas_index_passage {
	const char *doc_id, *title, *path;
	const char *text;
	size_t length;     /* of text, in bytes */
	uint32_t doc;      /* document number */
	uint32_t number;   /* 1-based position in its document */
	uint32_t tokens;   /* of its title and text, unweighted */
};
void mas_index_passage(const struct mas_index *index, uint32_t passage,
                       struct mas_index_passage *out);

/* The term number of TOKEN, or -1 when no passage holds it.  An index
 * of segments remembers the terms looked up (index-segments.c): not
 * reentrant there, as mas_index_search. */
int64_t mas_index_term(const struct mas_index *index, const char *token,
                       size_t length);

/* The text of term TERM (borrowed, NUL-terminated). */
const char *mas_index_term_text(const struct mas_index *index,
                                uint32_t term);

/* Passages holding TERM, and its idf as above. */
uint32_t mas_index_df(const struct mas_index *index, uint32_t term);
double mas_index_idf(const struct mas_index *index, uint32_t term);

/* Search INDEX with PARAMS (copied) from now on; an index starts with
 * MAS_INDEX_PARAMS_DEFAULT.  mas_index_avgdl follows title_weight. */
void mas_index_set_params(struct mas_index *index,
                          const struct mas_index_params *params);

/* The BM25 weight of one term: IDF * tf (k1 + 1) / (tf + k1 (1 - b + b
 * dl / avgdl)) with PARAMS' k1 and b, 0 when tf is 0.  Exported for the
 * unit tests and for bounds. */
double mas_index_bm25(const struct mas_index_params *params, double idf,
                      double tf, double dl, double avgdl);

/* A weighted query term and a scored passage. */
struct mas_index_term {
	uint32_t term;
	double weight;
};
struct mas_index_hit {
	uint32_t passage;
	double score;
};

/*
 * The K best passages for TERMS (duplicates add up), best first, ties to
 * the earlier passage; returns how many (fewer when fewer passages hold a
 * term).  HITS has room for K.  Not reentrant: the index keeps one score
 * array for the purpose.
 */
size_t mas_index_search(struct mas_index *index,
                        const struct mas_index_term *terms, size_t count,
                        size_t k, struct mas_index_hit *hits);

/* A document ranked by its best passage (MaxP), with its best scored
 * passages, best first: the first earned the rank. */
#define MAS_INDEX_DOC_PASSAGES 3
struct mas_index_doc_hit {
	uint32_t doc;
	double score;        /* that of passages[0] */
	size_t count;        /* of passages, 1 to MAS_INDEX_DOC_PASSAGES */
	struct mas_index_hit passages[MAS_INDEX_DOC_PASSAGES];
};

/*
 * The K best documents for TERMS, each scored by its best passage (as
 * mas_index_search scores passages), best first, ties to the document
 * whose best passage comes first; returns how many.  HITS has room for
 * K.  Not reentrant, as mas_index_search.
 */
size_t mas_index_search_documents(struct mas_index *index,
                                  const struct mas_index_term *terms,
                                  size_t count, size_t k,
                                  struct mas_index_doc_hit *hits);

/*
 * From now on, when BUILDER holds BUDGET bytes (its text, dictionary and
 * postings, and the 7 bytes per posting that writing them out takes),
 * write what it holds as a segment to a file in DIR (made if missing,
 * mode 0700; the file is unlinked at once and gone when the builder is)
 * and go on empty: building then takes about BUDGET bytes however large
 * the corpus.  For mas_index_store.  Returns 0, or -1 with *ERROR
 * (malloc'd) when DIR cannot be made.  A segment that cannot be written
 * makes later additions no-ops and mas_index_store fail, saying why.
 */
int mas_index_builder_spill(struct mas_index_builder *builder,
                            const char *dir, size_t budget, char **error);

/* Where STORE keeps index files (malloc'd): the folder research-index
 * beside its database. */
char *mas_index_dir(const struct mas_store *store);

/*
 * Merge BUILDER's segments and what it holds (it is freed) into a new
 * file in mas_index_dir(STORE), and keep it under KEY (the corpus's
 * identity) with SIGNATURE (what its files were: path, size,
 * modification time), replacing the index kept there and removing its
 * file (a process that has it open keeps reading it).  Merging takes
 * memory for the dictionary (its terms' text and about 60 bytes a
 * term), not for the postings or the text.  Returns 0, or -1 with
 * *ERROR (malloc'd).
 */
int mas_index_store(struct mas_store *store, const char *key,
                    const char *signature,
                    struct mas_index_builder *builder, char **error);

/*
 * The index kept under KEY when its signature is SIGNATURE, mapped from
 * its file, or NULL: with *ERROR NULL when there is none or it is stale
 * (the files changed; its file is gone, damaged, or was written by
 * another version of the format or of the tokenizer, MAS_TEXT_VERSION:
 * its terms would not be the query's), with *ERROR (malloc'd) when
 * reading failed.  Only the header is read here; the rest is read as
 * searches touch it, each offset checked where it is used, so that a
 * damaged file gives poor answers, never a read outside the file.
 */
struct mas_index *mas_index_load(struct mas_store *store, const char *key,
                                 const char *signature, char **error);

/*
 * The index kept under KEY whatever its signature (NULL, *ERROR as
 * mas_index_load's): what an update takes the unchanged files from.
 */
struct mas_index *mas_index_load_any(struct mas_store *store,
                                     const char *key, char **error);

/* A file of an index, to be taken into another. */
struct mas_index_piece {
	const struct mas_index *index;
	uint32_t file;         /* below mas_index_files(index) */
};

/*
 * Write an index of PIECES[0..COUNT), in that order, to a new file in
 * mas_index_dir(STORE) and keep it under KEY with SIGNATURE, replacing
 * the index kept there as mas_index_store does (index-update.c).  Each
 * piece brings its file's documents, passages, text and postings; the
 * terms no passage holds any more are dropped.  An index of the same
 * files in the same order built by mas_index_store answers every query
 * the same, score for score: passages keep their order, terms are
 * numbered in byte order of their text in both.  The source indexes
 * are read, not changed (one may be the mapped file being replaced);
 * each file's strings are copied as one span, the postings term by
 * term.  Memory: a number per passage of the sources and the merged
 * dictionary, not the text or the postings.  Returns 0, or -1 with
 * *ERROR (malloc'd), also when a source is damaged (its documents'
 * strings are not where they should be).
 */
int mas_index_store_pieces(struct mas_store *store, const char *key,
                           const char *signature,
                           const struct mas_index_piece *pieces,
                           size_t count, char **error);

/*
 * Segments.  A stored index is a base file and up to
 * MAS_INDEX_SEGMENTS_MAX - 1 later segments, each an index file of the
 * files an update read, with the list of the live files (those neither
 * changed nor removed since) in corpus order: mas_index_load sees them
 * as one index that numbers documents and passages, counts N, df and
 * avgdl over the live passages only, and answers every query as an
 * index of every file does, score for score and tie for tie
 * (index-segments.c).  Term numbers are not the same, but they order
 * terms as their text does, as in every index.
 *
 * An update compacts, writing one index of every live file
 * (mas_index_store_pieces), when it would leave more than
 * MAS_INDEX_SEGMENTS_MAX segments, or when the passages its segments
 * hold beyond the base's live ones (every later segment's, and the
 * base's of files changed or removed) would exceed 1 /
 * MAS_INDEX_DELTA_SHARE of the live passages: a query then reads little
 * more than a full index would, and the stored bytes stay within a
 * quarter of it.
 */
#define MAS_INDEX_DELTA_SHARE 4

/* How many segment files INDEX reads: 1 for an index built in memory
 * or stored whole. */
uint32_t mas_index_segments(const struct mas_index *index);

/* Whether an index of SEGMENTS segments holding STORED passages, of
 * which LIVE are live and BASE_LIVE the base's live ones, is compacted
 * by the rule above. */
int mas_index_compacts(uint32_t segments, uint64_t stored,
                       uint64_t base_live, uint64_t live);

/*
 * Keep under KEY with SIGNATURE the index of PIECES[0..COUNT), in
 * corpus order, each a file of OLD (the index kept there, loaded with
 * mas_index_load_any) or of FRESH (built in memory from the files read
 * again, or NULL): by the rule above, either a view of OLD's segments
 * that hold a piece and of FRESH written as a new segment file, synced
 * before the row names it; or one index written whole.  Either way the
 * row changes in one transaction and the files it named that it no
 * longer does are removed after.  *SEGMENTS is how many segments the
 * index kept has.  Returns 0, or -1 with *ERROR (malloc'd), also when
 * OLD is damaged.
 */
int mas_index_store_update(struct mas_store *store, const char *key,
                           const char *signature,
                           const struct mas_index *old,
                           const struct mas_index *fresh,
                           const struct mas_index_piece *pieces,
                           size_t count, uint32_t *segments, char **error);

#endif
