/*
 * index-private.h — what index.c (the block, searching it) and
 * index-file.c (segments, merging them into a file, the file in the
 * state store) share.  Not part of libmas's interface.
 *
 * The block: a header, then sections, each 8-byte aligned, wherever the
 * header's offsets say (an index built in memory lays them out in one
 * order, one merged from segments in another: the postings before the
 * terms, whose count is known only at the end).
 */
#ifndef MAS_INDEX_PRIVATE_H
#define MAS_INDEX_PRIVATE_H

#include <stdint.h>
#include <stdio.h>

#include "index.h"
#include "store.h"

#define MAS_INDEX_MAGIC "MASBM25"
#define MAS_INDEX_FORMAT_VERSION 4
#define MAS_INDEX_BYTE_ORDER 0x01020304u

struct mas_index_header {
	char magic[8];
	uint32_t version, byte_order;
	uint32_t tokenizer, pad;  /* MAS_TEXT_VERSION of the tokens */
	uint32_t docs, passages, terms, table_size;
	uint64_t postings, strings_size;
	uint64_t text_tokens, title_tokens; /* summed over passages */
	uint32_t files, pad2;     /* the corpus files it was read from */
	uint64_t doc_strings;     /* the documents' part of the strings */
	uint64_t off_files;
	uint64_t off_docs, off_passages, off_terms, off_table, off_post,
	         off_tf, off_ttf, off_strings, size;
};

struct mas_index_doc_rec {
	uint32_t id, title, path; /* offsets of NUL-terminated strings */
	uint32_t first_passage, passage_count;
};

struct mas_index_passage_rec {
	uint32_t doc, number, text, length;
	uint32_t tokens, title_tokens; /* of its text, of its title */
};

/* A corpus file: its documents are FIRST_DOC.. FIRST_DOC + DOCS - 1;
 * PATH its real path, in the strings after the documents' strings.  A
 * document's strings (id, title, path, its passages' text) follow each
 * other, document after document, so a file's are one span. */
struct mas_index_file_rec {
	uint64_t size;
	int64_t mtime_ns;
	uint32_t path, first_doc, docs, pad;
};

struct mas_index_term_rec {
	uint32_t text, length, df, pad;
	uint64_t postings; /* first posting */
};

/* A growable buffer. */
struct mas_index_buf {
	char *data;
	size_t size, cap;
};

/* One term of one passage, in the order passages were added. */
struct mas_index_entry {
	uint32_t term, passage;
	uint16_t tf;   /* in the text, capped at 65535 */
	uint8_t ttf;   /* in the title, capped at 255 */
};

struct mas_index_builder {
	struct mas_index_buf strings, term_text;
	struct mas_index_buf docs, passages, terms;  /* of the *_rec */
	uint32_t *table;
	uint32_t table_size;
	struct mas_index_buf entries;      /* struct mas_index_entry */
	struct mas_index_buf title_terms;  /* uint32: current title's */
	struct mas_index_buf scratch;      /* uint32: current passage's */
	uint64_t text_tokens, title_tokens;
	int too_big;
	/* the files (mas_index_add_file), kept across spills: their
	 * records, paths relative to file_paths */
	struct mas_index_buf files, file_paths;
	/* spilling (index-file.c): segments written to DIR when the
	 * builder holds BUDGET bytes */
	char *spill_dir;
	size_t budget;
	int *segments;                     /* unlinked files */
	size_t segment_count;
	uint32_t spilled_docs;             /* documents in the segments */
	char *failed;                      /* why spilling failed */
};

/* Grows B by MORE bytes; returns where they start. */
void *mas_index_grow(struct mas_index_buf *b, size_t more);

/* Empties B and the dictionary, keeping their memory: after a spill. */
void mas_index_builder_reset(struct mas_index_builder *b);

/* The table size an index of TERMS terms gets: a power of two, at least
 * 1024 and twice the terms. */
uint32_t mas_index_table_size(uint32_t terms);

/* FNV-1a, the dictionary's hash. */
uint32_t mas_index_hash(const char *s, size_t length);

/* Whether a block of SIZE bytes starting with H is one this program
 * wrote, every section inside it. */
int mas_index_header_ok(const struct mas_index_header *h, uint64_t size);

/* The index over BLOCK (SIZE bytes, mapped when MAPPED, else malloc'd),
 * taken over; NULL when its header is not right (BLOCK then freed or
 * unmapped). */
struct mas_index *mas_index_attach(char *block, uint64_t size, int mapped);

/* What B holds in memory, in bytes, with what spilling it would add. */
size_t mas_index_builder_bytes(const struct mas_index_builder *b);

/* Writes what B holds as a segment; 0, or -1 with b->failed set. */
int mas_index_spill(struct mas_index_builder *b);

/* B's first COUNT term numbers in byte order of their text (malloc'd):
 * the order terms are numbered in every index. */
uint32_t *mas_index_sorted_terms(const struct mas_index_builder *b,
                                 uint32_t count);

/* Sets the document count of B's last file, now that TOTAL documents
 * have been added. */
void mas_index_close_files(struct mas_index_builder *b, uint32_t total);

/* Buffered writing at offsets of a file (index-file.c). */
struct mas_index_writer {
	int fd;
	uint64_t at;           /* where the buffer goes */
	char *buf;
	size_t n;
	int error;             /* errno of the first failure */
};
void mas_index_writer_init(struct mas_index_writer *w, int fd, uint64_t at);
void mas_index_put(struct mas_index_writer *w, const void *data,
                   size_t size);
void mas_index_writer_flush(struct mas_index_writer *w);
/* Flushes and frees W; returns its errno, 0 when all went well. */
int mas_index_writer_close(struct mas_index_writer *w);

/* The sections of an index file written as they come. */
struct mas_index_sections {
	struct mas_index_writer docs, passages, post, tf, ttf, strings;
};

/* Fills H's magic and versions, lays out its sections from its counts
 * (with room for ROOM postings) up to its strings, and starts OUT's
 * writers at them, to FD. */
void mas_index_layout(struct mas_index_header *h, uint64_t room, int fd,
                      struct mas_index_sections *out);

/* Writes the strings after the documents' (DOC_STRINGS bytes): the
 * files' paths PATHS, then the term texts TERMS, and sets H's
 * doc_strings and strings_size. */
void mas_index_put_tail(struct mas_index_header *h,
                        struct mas_index_sections *out, uint64_t doc_strings,
                        const struct mas_index_buf *paths,
                        const struct mas_index_buf *terms);

/* Flushes OUT's writers and frees them (again is fine); returns the
 * errno of the first failure, 0 when all went well. */
int mas_index_sections_close(struct mas_index_sections *out);

/* Frees OUT's writers without flushing them: after a failure. */
void mas_index_sections_free(struct mas_index_sections *out);

/*
 * Writes to FD, after H's strings, the term records TERMS (COUNT of
 * them, in their final order, each text relative to the term texts,
 * which start at TEXT_BASE in the strings) and the dictionary's table
 * over TEXT; sets H's terms, table and size.  Returns 0 or an errno.
 */
int mas_index_write_dictionary(int fd, struct mas_index_header *h,
                               const struct mas_index_term_rec *terms,
                               uint32_t count, const char *text,
                               uint64_t text_base);

/* Writes H at the start of FD, sizes FD and syncs it: 0 or an errno. */
int mas_index_finish(int fd, const struct mas_index_header *h);

/* Keeps the index file NAME (in mas_index_dir(STORE)) under KEY with
 * SIGNATURE and H's counts, removing the file kept before (index-file.c).
 * 0, or -1 with *ERROR. */
int mas_index_keep(struct mas_store *store, const char *key,
                   const char *signature, const char *name,
                   const struct mas_index_header *h, char **error);

/* A row of the state store's research_index: the index of a corpus. */
struct mas_index_row {
	const char *file;      /* the base segment's file */
	const char *segments;  /* every segment's, base first, space
	                        * separated; NULL: FILE alone */
	const char *layout;    /* its runs, "segment:first:count ..."
	                        * (mas_index_compose), or NULL */
	const char *added;     /* the segment new in SEGMENTS, or NULL */
	uint64_t docs, passages, terms;
};

/* Keeps ROW under KEY with SIGNATURE, in one transaction, then removes
 * the files of the row it replaced that ROW does not name.  0, or -1
 * with *ERROR, also when ROW keeps a segment the row replaced does not
 * name (another update removed it meanwhile). */
int mas_index_keep_row(struct mas_store *store, const char *key,
                       const char *signature,
                       const struct mas_index_row *row, char **error);

/* Gives back the whole pages of INDEX's bytes FROM to TO when it is
 * mapped (they are read again from the file if touched): a copy of an
 * index's text and postings costs no memory for them. */
void mas_index_release_pages(const struct mas_index *index, uint64_t from,
                             uint64_t to);

/* The header of INDEX (for index-file.c and index-update.c). */
const struct mas_index_header *mas_index_header_of(
	const struct mas_index *index);

/* The most segments a stored index has (index-segments.c). */
#define MAS_INDEX_SEGMENTS_MAX 8

struct mas_index_span;
struct mas_index_view;
struct mas_index_vterm;

/*
 * An index: one block (h and the arrays over it), or, when SEGS is set,
 * a view of several (index-segments.c) whose own block is NULL: the
 * live files of its segments in corpus order, numbered as one index.
 */
struct mas_index {
	char *block;
	uint64_t mapped;       /* the block's size when mmap'ed, else 0 */
	const struct mas_index_header *h;
	const struct mas_index_file_rec *files;
	const struct mas_index_doc_rec *docs;
	const struct mas_index_passage_rec *passages;
	const struct mas_index_term_rec *terms;
	const uint32_t *table;
	const uint32_t *post;  /* passage of each posting */
	const uint16_t *tf;    /* its count in the text, capped at 65535 */
	const uint8_t *ttf;    /* its count in the title, capped at 255 */
	const char *strings;
	struct mas_index_params params;
	double avgdl;          /* with params.title_weight */
	double *scores;        /* search scratch, one per passage */
	uint32_t *touched;
	uint32_t *best;        /* document search scratch, one per document:
	                        * its best passage, or NO_PASSAGE */
	uint32_t *touched_docs;
	char *name;            /* its file's, in mas_index_dir (stored) */
	/* a view of segments (index-segments.c) */
	struct mas_index **segs;
	uint32_t seg_count;
	int owns_segs;
	struct mas_index_span *spans;      /* in corpus order */
	uint32_t span_count;
	struct mas_index_view *views;      /* per segment */
	uint32_t v_files, v_docs, v_passages;
	uint64_t v_terms, text_tokens, title_tokens;
	struct mas_index_vterm *vterms;    /* terms looked up */
	uint32_t vterm_count, vterm_cap;
	uint32_t *vtable;                  /* by id: vterm + 1 */
	uint32_t vtable_size;
};

/* A run of a view: FILES files of segment SEGMENT from FIRST_FILE,
 * live, one after the other in corpus order. */
struct mas_index_run {
	uint32_t segment, first_file, files;
};

/*
 * The view of SEGS[0..COUNT) (taken over when OWN, else borrowed) whose
 * live files are RUNS[0..RUN_COUNT) in corpus order and which holds
 * TERMS distinct terms; NULL when the runs do not fit the segments
 * (SEGS then freed when OWN).
 */
struct mas_index *mas_index_compose(struct mas_index **segs, uint32_t count,
                                    int own, const struct mas_index_run *runs,
                                    size_t run_count, uint64_t terms);

/* The segment and its file that file FILE of INDEX is (for an update):
 * INDEX itself and FILE when it is one block. */
void mas_index_file_source(const struct mas_index *index, uint32_t file,
                           const struct mas_index **segment,
                           uint32_t *local);

/* The view's versions of index.h's functions (index-segments.c). */
void mas_index_view_file(const struct mas_index *index, uint32_t file,
                         struct mas_index_file *out);
void mas_index_view_passage(const struct mas_index *index, uint32_t passage,
                            struct mas_index_passage *out);
int64_t mas_index_view_term(struct mas_index *index, const char *token,
                            size_t length);
const char *mas_index_view_term_text(const struct mas_index *index,
                                     uint32_t term);
uint32_t mas_index_view_df(const struct mas_index *index, uint32_t term);
/* Scores passages holding TERM, as index.c's accumulate does. */
void mas_index_view_accumulate(struct mas_index *index, uint32_t term,
                               double weight, size_t *touched);
/* The document of passage P, and the passages of document D. */
uint32_t mas_index_view_passage_doc(const struct mas_index *index,
                                    uint32_t p);
void mas_index_view_doc_passages(const struct mas_index *index, uint32_t d,
                                 uint32_t *first, uint32_t *end);
void mas_index_view_free(struct mas_index *index);

#endif
