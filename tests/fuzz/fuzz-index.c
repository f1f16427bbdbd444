/*
 * fuzz-index.c — a research index as stored beside the state store
 * (lib/index-file.c, mas_index_load): the input is the index file.  A
 * damaged file must be refused (the corpus is then indexed again) or
 * read within its bounds: one that loads answers every question asked
 * of it without reading outside the file: passages, terms, postings and
 * a search.  The same file is then kept as two segments of one index
 * (index-segments.c), with runs of live files made from the input: a
 * layout that does not fit is refused, one that does is read within
 * the segments' bounds.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "fuzz.h"
#include "index.h"
#include "store.h"

static struct mas_store store;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[256], *error = NULL;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(path, sizeof(path), "%s/state.db", fuzz_dir());
	if (mas_store_open(&store, path, &error) != 0) {
		fprintf(stderr, "fuzz-index: %s\n", error);
		exit(2);
	}
	/* a scratch store: no waiting for the disk at each input */
	sqlite3_exec(store.db, "PRAGMA synchronous = OFF", NULL, NULL, NULL);
	return 0;
}

/* The row of corpus "k": its file, segments and layout. */
static void store_row(const char *segments, const char *layout)
{
	sqlite3_stmt *st;

	FUZZ_ASSERT(sqlite3_prepare_v2(store.db, "INSERT OR REPLACE INTO "
	            "research_index (corpus, files, created, documents, "
	            "passages, data, file, segments, layout, terms) VALUES "
	            "('k', 's', 0, 0, 0, x'', 'fuzz.idx', ?1, ?2, 7)", -1,
	            &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, segments, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, layout, -1, SQLITE_STATIC);
	FUZZ_ASSERT(sqlite3_step(st) == SQLITE_DONE);
	sqlite3_finalize(st);
}

/* A layout over two segments of FILES files each, from the input's
 * bytes, into OUT: each file live in one segment or dead; with no files,
 * runs that do not fit. */
static void layout_of(const uint8_t *data, size_t size, uint32_t files,
                      char *out, size_t room)
{
	size_t n = 0;

	out[0] = '\0';
	if (files == 0 || size == 0) {
		snprintf(out, room, "0:0:1 1:%zu:2", size % 5);
		return;
	}
	for (uint32_t f = 0; f < files && f < 8; f++) {
		uint8_t b = data[(f * 7 + size) % size];
		if (b & 2)
			continue; /* dead */
		n += (size_t)snprintf(out + n, room - n, "%s%u:%u:1",
		                      n ? " " : "", b & 1, f);
	}
	if (n == 0)
		snprintf(out, room, "1:0:1");
}

/* DATA as the stored index of corpus "k" with signature "s". */
static void store_block(const uint8_t *data, size_t size)
{
	char *dir = mas_index_dir(&store), path[512];
	sqlite3_stmt *st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/fuzz.idx", dir);
	mkdir(dir, 0700);
	free(dir);
	f = fopen(path, "wb");
	FUZZ_ASSERT(f != NULL);
	FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
	FUZZ_ASSERT(fclose(f) == 0);
	FUZZ_ASSERT(sqlite3_prepare_v2(store.db, "INSERT OR REPLACE INTO "
	            "research_index (corpus, files, created, documents, "
	            "passages, data, file) VALUES ('k', 's', 0, 0, 0, x'', "
	            "'fuzz.idx')", -1, &st, NULL) == SQLITE_OK);
	FUZZ_ASSERT(sqlite3_step(st) == SQLITE_DONE);
	sqlite3_finalize(st);
}

static void ask(struct mas_index *index)
{
	uint32_t passages = mas_index_passages(index);
	uint32_t terms = mas_index_terms(index);
	struct mas_index_term query[4];
	struct mas_index_hit hits[5];
	size_t count = 0;

	for (uint32_t p = 0; p < passages; p++) {
		struct mas_index_passage out;

		mas_index_passage(index, p, &out);
		FUZZ_ASSERT(out.doc < mas_index_documents(index));
		FUZZ_ASSERT(strlen(out.doc_id) + strlen(out.title) +
		            strlen(out.path) < mas_index_bytes(index));
	}
	for (uint32_t t = 0; t < terms; t++) {
		const char *text = mas_index_term_text(index, t);

		FUZZ_ASSERT(mas_index_df(index, t) <= passages);
		(void)mas_index_idf(index, t);
		if (count < 4) {
			query[count].term = t;
			query[count++].weight = 1;
		}
		(void)mas_index_term(index, text, strlen(text));
	}
	count = mas_index_search(index, query, count, 5, hits);
	for (size_t i = 0; i < count; i++)
		FUZZ_ASSERT(hits[i].passage < passages);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mas_index *index;
	char *error = NULL, layout[128];
	uint32_t files;

	store_block(data, size);
	index = mas_index_load(&store, "k", "s", &error);
	free(error);
	files = index ? mas_index_files(index) : 0;
	if (index) {
		ask(index);
		mas_index_free(index);
	}
	/* the same file as both segments of a view */
	layout_of(data, size, files, layout, sizeof(layout));
	store_row("fuzz.idx fuzz.idx", layout);
	error = NULL;
	index = mas_index_load(&store, "k", "s", &error);
	free(error);
	if (index) {
		FUZZ_ASSERT(mas_index_segments(index) == 2);
		ask(index);
		mas_index_free(index);
	}
	return 0;
}
