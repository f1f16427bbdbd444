/*
 * corpus.h — the documents mas-research answers from (mas-research(1),
 * CORPUS): files and folders named by --corpus, read into passages and
 * indexed (lib/index.h).
 *
 * A root is a file or a folder.  Folders are walked recursively in byte
 * order of names, taking the files the include patterns match (by
 * default those ending in .txt, .text, .md, .markdown and .jsonl) and no
 * exclude pattern matches; a folder an exclude pattern matches is not
 * walked.  A pattern is a glob (fnmatch(3)): without a '/' it is matched
 * against a name, with one against the path below the root ("qrels/
 * *.tsv").  Hidden files and folders (names starting with '.') and files
 * left out are skipped, logged at level info.  A file named as a root is
 * taken whatever its name and the patterns: as JSON Lines when it ends in
 * .jsonl, else as text.
 *
 * A file is binary, and skipped with a warning naming it, when its first
 * 8 KiB hold a NUL byte or are not valid UTF-8.  Invalid UTF-8 further on
 * is replaced by U+FFFD, with a warning.
 *
 * Documents: a text or Markdown file is one document whose id and path
 * are the file's path as reached from its root.  Its title is the first
 * line when that is a Markdown heading ("# Title") or, in any file, a
 * short line (at most 100 bytes) not ending like a sentence; the title
 * line is then not part of the text.  Else the title is the file's name
 * without its extension.  A .jsonl file holds one document per line,
 * {"id", "title", "text"}: "text" must be a non-empty string; the id (a
 * string or a number) is the field the rules name, else "id", else
 * "_id" (BEIR's shape), else PATH:LINE; "title" defaults to the id.  A
 * line that is not such an object is skipped with a warning naming the
 * file and line.  Ids should be unique: each id held by more than one
 * document is warned about once, naming where each is (file:line), and
 * every such document is kept.
 *
 * Passages: a document's paragraphs (separated by blank lines) become
 * its passages.  A paragraph shorter than 200 bytes (a heading, a short
 * line) is joined with the next while the two stay under 900 bytes; a
 * paragraph longer than 900 bytes is cut at sentence boundaries into
 * pieces of about 600 bytes (a piece ends at the first sentence end past
 * 600 bytes; a single longer sentence is one piece).
 *
 * The signature of a corpus says what its files were: each file's real
 * path, size and modification time (in nanoseconds).  A stored index
 * (index.h) is used only while the signature is unchanged: a file added,
 * removed, renamed, touched or resized makes it stale.  Reading a file
 * lists it in the index (mas_index_add_file) with the same size and
 * time, so that an update reads again only the files whose entry
 * changed (mas_research_store_index); a file that cannot be read is not
 * listed, and is read again next time.
 */
#ifndef MAS_CORPUS_H
#define MAS_CORPUS_H

#include <stddef.h>

#include "index.h"
#include "text.h"

struct mas_corpus_file {
	char *path;            /* as reached from the root */
	char *real;            /* realpath(3) */
	long long size;
	long long mtime_ns;
	int jsonl;
};

/* What to take from folders, and how to read JSON lines. */
struct mas_corpus_rules {
	const char *include;   /* globs separated by ':'; NULL: the kinds
	                        * above */
	const char *exclude;   /* globs separated by ':'; NULL: none */
	const char *id_field;  /* NULL: "id", else "_id" */
};

struct mas_corpus {
	struct mas_corpus_file *files;
	size_t count, capacity;
	char *key;             /* the roots' real paths, one a line, then
	                        * the rules that are set */
	long long bytes;       /* total size of the files */
	char **include, **exclude;
	size_t include_count, exclude_count;
	char *patterns;        /* the rules' globs, split in place */
	char *id_field;        /* NULL: "id", else "_id" */
};

/* Bytes of a file checked for the binary test. */
#define MAS_CORPUS_SNIFF 8192

/* Passage sizes, in bytes (see above). */
#define MAS_CORPUS_PASSAGE_MIN 200
#define MAS_CORPUS_PASSAGE_TARGET 600
#define MAS_CORPUS_PASSAGE_MAX 900

/*
 * List the files of ROOTS[0..COUNT) into CORPUS (zeroed by the call) as
 * RULES say (copied; NULL: the defaults).  Returns 0, or -1 with *ERROR
 * (malloc'd, naming the root) when a root does not exist or cannot be
 * read; entries inside folders that cannot be read are skipped with a
 * warning.
 */
int mas_corpus_scan(struct mas_corpus *corpus, char *const *roots,
                    size_t count, const struct mas_corpus_rules *rules,
                    char **error);

/* The signature of CORPUS as text (malloc'd). */
char *mas_corpus_signature(const struct mas_corpus *corpus);

/* What reading a corpus found. */
struct mas_corpus_stats {
	size_t files, skipped, documents;
	size_t duplicate_ids;  /* ids held by more than one document */
};

/*
 * Read every file of CORPUS into BUILDER (lib/index.h).  Files that
 * cannot be read, binary files and bad JSON lines are skipped with
 * warnings and counted in STATS (may be NULL).
 */
void mas_corpus_read(const struct mas_corpus *corpus,
                     struct mas_index_builder *builder,
                     struct mas_corpus_stats *stats);

/*
 * Read every file of CORPUS into a new index in memory (NULL with *ERROR when the
 * index cannot be built).  Files that cannot be read, binary files and
 * bad JSON lines are skipped with warnings and counted in STATS (may be
 * NULL).
 */
struct mas_index *mas_corpus_index(const struct mas_corpus *corpus,
                                   struct mas_corpus_stats *stats,
                                   char **error);

/* Call FN with each passage of TEXT[0..SIZE) as cut above (for tests). */
void mas_corpus_passages(const char *text, size_t size, mas_text_span_fn fn,
                         void *user);

void mas_corpus_release(struct mas_corpus *corpus);

#endif
