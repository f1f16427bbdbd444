/*
 * test-index.c — BM25 scores against values worked out by hand, passage
 * cutting, corpus files, the index kept in the state store and its
 * update from the files changed (lib/index.h, lib/corpus.h,
 * mas_research_store_index).
 */
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus.h"
#include "index.h"
#include "index-private.h"
#include "log.h"
#include "research.h"
#include "store.h"
#include "unit.h"

/*
 * Three passages, no titles:
 *   p0 "solar battery storage"  -> solar batteri storag     dl 3
 *   p1 "solar solar panels"     -> solar solar panel        dl 3
 *   p2 "wind turbines"          -> wind turbin              dl 2
 * N = 3, avgdl = 8/3.  idf(solar) = ln(1 + 1.5/2.5) = ln 1.6 =
 * 0.470003629; idf(batteri) = ln(1 + 2.5/1.5) = 0.980829253.
 * For dl 3: 1 - b + b dl/avgdl = 0.25 + 0.75 * 1.125 = 1.09375, so
 * K = k1 * 1.09375 = 1.3125 and
 *   solar in p1 (tf 2): 0.470003629 * 2 * 2.2 / (2 + 1.3125) = 0.624306708
 *   solar in p0 (tf 1): 0.470003629 * 2.2 / 2.3125 = 0.447138588
 *   batteri in p0:      0.980829253 * 2.2 / 2.3125 = 0.933113235
 * For dl 2: 0.25 + 0.75 * 0.75 = 0.8125, K = 0.975, and wind in p2:
 *   idf 0.980829253 * 2.2 / 1.975 = 1.092569294
 */
static struct mas_index *tiny(void)
{
	struct mas_index_builder *b = mas_index_builder_new();
	char *error = NULL;
	struct mas_index *index;

	mas_index_add_document(b, "d1", "", "d1.txt");
	mas_index_add_passage(b, "solar battery storage", 21);
	mas_index_add_passage(b, "solar solar panels", 18);
	mas_index_add_document(b, "d2", "", "d2.txt");
	mas_index_add_passage(b, "wind turbines", 13);
	index = mas_index_build(b, &error);
	CHECK(index != NULL);
	return index;
}

static uint32_t term(struct mas_index *index, const char *text)
{
	int64_t t = mas_index_term(index, text, strlen(text));

	CHECK(t >= 0);
	return (uint32_t)t;
}

static void test_bm25_by_hand(void)
{
	struct mas_index *index = tiny();
	struct mas_index_hit hits[3];
	struct mas_index_term query[2];
	size_t n;

	CHECK_INT(mas_index_passages(index), 3);
	CHECK_INT(mas_index_documents(index), 2);
	CHECK_NEAR(mas_index_avgdl(index), 8.0 / 3, 1e-12);
	CHECK_NEAR(mas_index_idf(index, term(index, "solar")), 0.470003629,
	           1e-8);
	CHECK_NEAR(mas_index_idf(index, term(index, "batteri")), 0.980829253,
	           1e-8);
	CHECK_INT(mas_index_term(index, "sun", 3), -1);

	query[0] = (struct mas_index_term){ term(index, "solar"), 1 };
	n = mas_index_search(index, query, 1, 3, hits);
	CHECK_INT(n, 2);
	CHECK_INT(hits[0].passage, 1);
	CHECK_NEAR(hits[0].score, 0.624306708, 1e-8);
	CHECK_INT(hits[1].passage, 0);
	CHECK_NEAR(hits[1].score, 0.447138588, 1e-8);

	query[1] = (struct mas_index_term){ term(index, "batteri"), 1 };
	n = mas_index_search(index, query, 2, 1, hits);
	CHECK_INT(n, 1);
	CHECK_INT(hits[0].passage, 0);
	CHECK_NEAR(hits[0].score, 0.447138588 + 0.933113235, 1e-8);

	/* a weight scales a term's part */
	query[0] = (struct mas_index_term){ term(index, "wind"), 0.5 };
	n = mas_index_search(index, query, 1, 3, hits);
	CHECK_INT(n, 1);
	CHECK_NEAR(hits[0].score, 0.5 * 1.092569294, 1e-8);
	mas_index_free(index);
}

static void test_bm25_formula(void)
{
	const struct mas_index_params p = MAS_INDEX_PARAMS_DEFAULT;
	const struct mas_index_params flat = { 0.9, 0, 1 };

	/* tf 0 scores nothing; the weight tends to idf (k1 + 1) */
	CHECK_NEAR(mas_index_bm25(&p, 2.0, 0, 10, 10), 0, 1e-12);
	CHECK_NEAR(mas_index_bm25(&p, 2.0, 1e9, 10, 10), 2.0 * 2.2, 1e-6);
	/* an average-length passage with tf 1 scores idf exactly */
	CHECK_NEAR(mas_index_bm25(&p, 2.0, 1, 10, 10), 2.0, 1e-12);
	/* longer passages score less for the same count */
	CHECK(mas_index_bm25(&p, 1, 2, 20, 10) <
	      mas_index_bm25(&p, 1, 2, 5, 10));
	/* b 0: length does not matter; k1 0.9: 2 * 1.9 / (2 + 0.9) */
	CHECK_NEAR(mas_index_bm25(&flat, 1, 2, 20, 10),
	           mas_index_bm25(&flat, 1, 2, 5, 10), 1e-12);
	CHECK_NEAR(mas_index_bm25(&flat, 1, 2, 20, 10), 3.8 / 2.9, 1e-12);
}

/*
 * Titles are a field of their own: d1 "Solar" / "wind turbines" (text 2
 * tokens, title 1) and d2 untitled / "solar solar panels" (3).  N = 2,
 * idf(solar) = ln(1 + 0.5/2.5) = ln 1.2.  With title weight 2, p0 has
 * tf 2 and dl 2 + 2 = 4, avgdl (5 + 2 * 1) / 2 = 3.5, so with k1 1.2 and
 * b 0.75 solar scores ln 1.2 * 2 * 2.2 / (2 + 1.2 (0.25 + 0.75 * 4/3.5))
 * there (p1, tf 2 in 3 tokens, still ranks first); with title weight 0
 * only p1 holds it.
 */
static void test_title_weight(void)
{
	struct mas_index_builder *b = mas_index_builder_new();
	struct mas_index_params p = MAS_INDEX_PARAMS_DEFAULT;
	struct mas_index_hit hits[2];
	struct mas_index_term query;
	struct mas_index *index;
	char *error = NULL;
	double norm = 0.25 + 0.75 * 4 / 3.5;

	mas_index_add_document(b, "d1", "Solar", "d1.txt");
	mas_index_add_passage(b, "wind turbines", 13);
	mas_index_add_document(b, "d2", "", "d2.txt");
	mas_index_add_passage(b, "solar solar panels", 18);
	index = mas_index_build(b, &error);
	CHECK(index != NULL);
	/* the default: the title as if it were text, avgdl 6 / 2 */
	CHECK_NEAR(mas_index_avgdl(index), 3, 1e-12);
	query = (struct mas_index_term){ term(index, "solar"), 1 };
	p.title_weight = 2;
	mas_index_set_params(index, &p);
	CHECK_NEAR(mas_index_avgdl(index), 3.5, 1e-12);
	CHECK_INT(mas_index_search(index, &query, 1, 2, hits), 2);
	CHECK_INT(hits[1].passage, 0);
	CHECK_NEAR(hits[1].score, log(1.2) * 2 * 2.2 / (2 + 1.2 * norm),
	           1e-12);
	p.title_weight = 0;
	mas_index_set_params(index, &p);
	CHECK_INT(mas_index_search(index, &query, 1, 2, hits), 1);
	CHECK_INT(hits[0].passage, 1);
	mas_index_free(index);
}

static void test_ties_and_top_k(void)
{
	struct mas_index_builder *b = mas_index_builder_new();
	struct mas_index_hit hits[4];
	struct mas_index_term query;
	char *error = NULL;
	struct mas_index *index;

	mas_index_add_document(b, "d", "", "d");
	for (int i = 0; i < 10; i++)
		mas_index_add_passage(b, i == 7 ? "grid grid" : "grid",
		                      i == 7 ? 9 : 4);
	index = mas_index_build(b, &error);
	query = (struct mas_index_term){ term(index, "grid"), 1 };
	CHECK_INT(mas_index_search(index, &query, 1, 4, hits), 4);
	CHECK_INT(hits[0].passage, 7);
	CHECK_INT(hits[1].passage, 0);
	CHECK_INT(hits[2].passage, 1);
	CHECK_INT(hits[3].passage, 2);
	mas_index_free(index);
}

struct cut_pieces {
	int count;
	size_t lengths[16];
	char first[64];
};

static void piece(void *user, const char *start, size_t length)
{
	struct cut_pieces *pieces = user;

	if (pieces->count == 0)
		snprintf(pieces->first, sizeof(pieces->first), "%.*s",
		         (int)(length < 60 ? length : 60), start);
	if (pieces->count < 16)
		pieces->lengths[pieces->count] = length;
	pieces->count++;
}

static void test_passages(void)
{
	struct cut_pieces pieces = { 0 };
	char long_text[4000] = "";
	const char *text = "## Heading\n\nA short paragraph.\n\n\n"
	                   "Another paragraph that is here.\n";

	/* the heading joins the short paragraph after it, and that the next
	 * while the whole stays short */
	mas_corpus_passages(text, strlen(text), piece, &pieces);
	CHECK_INT(pieces.count, 1);
	CHECK(strncmp(pieces.first, "## Heading\n\nA short paragraph.\n\n\n"
	              "Another paragraph", 48) == 0);
	/* a long paragraph is cut at sentences near 600 bytes */
	for (int i = 0; i < 40; i++)
		strcat(long_text, "This sentence is fifty bytes long, more "
		                  "or less. ");
	memset(&pieces, 0, sizeof(pieces));
	mas_corpus_passages(long_text, strlen(long_text), piece, &pieces);
	CHECK_INT(pieces.count, 4);
	CHECK(pieces.lengths[0] >= 600 && pieces.lengths[0] < 700);
}

static void write_file(const char *path, const char *text, size_t size)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(text, 1, size, f);
	fclose(f);
}

/* Whether A and B hold the same terms, postings and passages. */
static void same_index(struct mas_index *a, struct mas_index *b)
{
	struct mas_index_hit ha[8], hb[8];

	CHECK_INT(mas_index_documents(a), mas_index_documents(b));
	for (uint32_t t = 0; t < mas_index_terms(a); t++) {
		const char *text = mas_index_term_text(a, t);
		struct mas_index_term q = { t, 1 };
		size_t na, nb;
		CHECK_STR(mas_index_term_text(b, t), text);
		CHECK_INT(mas_index_df(b, t), mas_index_df(a, t));
		na = mas_index_search(a, &q, 1, 8, ha);
		nb = mas_index_search(b, &q, 1, 8, hb);
		CHECK_INT(nb, na);
		for (size_t i = 0; i < na && i < nb; i++) {
			CHECK_INT(hb[i].passage, ha[i].passage);
			CHECK(hb[i].score == ha[i].score);
		}
	}
	for (uint32_t p = 0; p < mas_index_passages(a); p++) {
		struct mas_index_passage pa, pb;
		mas_index_passage(a, p, &pa);
		mas_index_passage(b, p, &pb);
		CHECK_STR(pb.doc_id, pa.doc_id);
		CHECK_STR(pb.title, pa.title);
		CHECK_INT(pb.length, pa.length);
		CHECK(strncmp(pb.text, pa.text, pa.length) == 0);
		CHECK_INT(pb.number, pa.number);
		CHECK_INT(pb.tokens, pa.tokens);
	}
}

/* The path of the one index file STORE keeps (malloc'd), or NULL. */
static char *kept_path(struct mas_store *store, const char *dir)
{
	sqlite3_stmt *st;
	char *path = NULL;

	if (sqlite3_prepare_v2(store->db, "SELECT file FROM research_index",
	                       -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    asprintf(&path, "%s/state/research-index/%s", dir,
	             (const char *)sqlite3_column_text(st, 0)) < 0)
		path = NULL;
	sqlite3_finalize(st);
	return path;
}

static void test_corpus_and_store(void)
{
	char dir[] = "/tmp/mas-test-index-XXXXXX";
	char path[256], db[256];
	struct mas_corpus corpus;
	struct mas_corpus_stats stats;
	struct mas_store store;
	struct mas_index *index, *loaded;
	struct mas_index_builder *builder;
	struct mas_index_passage p;
	char *error = NULL, *signature, *kept;
	char *roots[1];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a.md", dir);
	write_file(path, "# Grid storage\n\nBatteries store solar "
	           "power.\n", 44);
	snprintf(path, sizeof(path), "%s/b.jsonl", dir);
	write_file(path, "{\"id\":\"x1\",\"text\":\"储能电池\"}\nnot json\n", 37);
	snprintf(path, sizeof(path), "%s/c.txt", dir);
	write_file(path, "bin\0ary", 7);
	snprintf(path, sizeof(path), "%s/.hidden.txt", dir);
	write_file(path, "hidden", 6);
	roots[0] = dir;
	mas_log_set_level(MAS_LOG_ERROR);
	CHECK_INT(mas_corpus_scan(&corpus, roots, 1, NULL, &error), 0);
	CHECK_INT(corpus.count, 3);
	index = mas_corpus_index(&corpus, &stats, &error);
	CHECK(index != NULL);
	CHECK_INT(stats.documents, 2);
	CHECK_INT(stats.skipped, 1);
	mas_index_passage(index, 0, &p);
	CHECK_STR(p.title, "Grid storage");
	CHECK_INT(p.number, 1);
	CHECK(strncmp(p.text, "Batteries store", 15) == 0);
	mas_index_passage(index, 1, &p);
	CHECK_STR(p.doc_id, "x1");
	CHECK_STR(p.title, "x1");

	snprintf(db, sizeof(db), "%s/state/mas.db", dir);
	CHECK_INT(mas_store_open(&store, db, &error), 0);
	signature = mas_corpus_signature(&corpus);
	/* kept in the store: built in segments (one per document with no
	 * budget) and merged, it is the index built in memory */
	builder = mas_index_builder_new();
	snprintf(path, sizeof(path), "%s/segments", dir);
	CHECK_INT(mas_index_builder_spill(builder, path, 0, &error), 0);
	mas_corpus_read(&corpus, builder, NULL);
	CHECK_INT(mas_index_store(&store, corpus.key, signature, builder,
	                          &error), 0);
	loaded = mas_index_load(&store, corpus.key, signature, &error);
	CHECK(loaded != NULL && error == NULL);
	if (loaded) {
		CHECK_INT(mas_index_terms(loaded), mas_index_terms(index));
		CHECK_INT(mas_index_passages(loaded), 2);
		CHECK(mas_index_term(loaded, "电池", strlen("电池")) >= 0);
		same_index(index, loaded);
	}
	mas_index_free(loaded);
	/* an index made by another tokenizer (MAS_TEXT_VERSION at byte 16
	 * of the file) is stale too: its terms are not the query's */
	kept = kept_path(&store, dir);
	CHECK(kept != NULL);
	if (kept) {
		int fd = open(kept, O_WRONLY);
		uint32_t other = 1;
		CHECK(fd >= 0 && pwrite(fd, &other, 4, 16) == 4);
		close(fd);
	}
	loaded = mas_index_load(&store, corpus.key, signature, &error);
	CHECK(loaded == NULL && error == NULL);
	mas_index_free(loaded);
	/* another signature: stale, no error */
	loaded = mas_index_load(&store, corpus.key, "[]", &error);
	CHECK(loaded == NULL && error == NULL);
	/* storing again replaces the row and removes the old file */
	builder = mas_index_builder_new();
	mas_corpus_read(&corpus, builder, NULL);
	CHECK_INT(mas_index_store(&store, corpus.key, signature, builder,
	                          &error), 0);
	CHECK(kept && access(kept, F_OK) != 0);
	free(kept);
	loaded = mas_index_load(&store, corpus.key, signature, &error);
	CHECK(loaded != NULL);
	mas_index_free(loaded);
	free(signature);
	mas_store_close(&store);
	mas_index_free(index);
	mas_corpus_release(&corpus);
	roots[0] = "/nonexistent/corpus";
	CHECK_INT(mas_corpus_scan(&corpus, roots, 1, NULL, &error), -1);
	CHECK_STR(error, "--corpus: /nonexistent/corpus: No such file or "
	                 "directory");
	free(error);
	mas_corpus_release(&corpus);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK_INT(system(path), 0);
}

/* The index of DIR's files (a corpus's scan) updated in STORE; checks
 * it answers as one built in memory from the files. */
static void update_and_compare(struct mas_store *store, char *dir,
                               int incremental, size_t read, size_t kept)
{
	struct mas_corpus corpus;
	struct mas_research_indexed done;
	struct mas_index *memory;
	char *error = NULL, *signature;
	char *roots[1] = { dir };

	CHECK_INT(mas_corpus_scan(&corpus, roots, 1, NULL, &error), 0);
	signature = mas_corpus_signature(&corpus);
	CHECK_INT(mas_research_store_index(store, &corpus, signature,
	                                   1 << 20, &done, &error), 0);
	CHECK(error == NULL);
	CHECK_INT(done.incremental, incremental);
	CHECK_INT(done.files_read, read);
	CHECK_INT(done.files_kept, kept);
	memory = mas_corpus_index(&corpus, NULL, &error);
	CHECK(memory != NULL && done.index != NULL);
	if (memory && done.index) {
		CHECK_INT(mas_index_terms(done.index), mas_index_terms(memory));
		CHECK_INT(mas_index_passages(done.index),
		          mas_index_passages(memory));
		CHECK(mas_index_avgdl(done.index) == mas_index_avgdl(memory));
		CHECK_INT(mas_index_files(done.index), corpus.count);
		for (uint32_t i = 0; i < mas_index_files(memory); i++) {
			struct mas_index_file a, b;
			mas_index_file(memory, i, &a);
			mas_index_file(done.index, i, &b);
			CHECK_STR(b.path, a.path);
			CHECK_INT(b.size, a.size);
			CHECK_INT(b.first_doc, a.first_doc);
			CHECK_INT(b.docs, a.docs);
		}
		same_index(memory, done.index);
	}
	mas_index_free(memory);
	mas_index_free(done.index);
	free(signature);
	mas_corpus_release(&corpus);
}

static void test_update(void)
{
	char dir[256], corpus[300], db[300], path[400];
	struct mas_store store;
	char *error = NULL, *kept;

	unit_make_dir(dir, sizeof(dir), "test-update");
	snprintf(corpus, sizeof(corpus), "%s/corpus", dir);
	CHECK_INT(mkdir(corpus, 0700), 0);
	snprintf(path, sizeof(path), "%s/a.md", corpus);
	write_file(path, "# Grid storage\n\nBatteries store solar power.\n"
	           "\nFlow batteries last.\n", 66);
	snprintf(path, sizeof(path), "%s/b.jsonl", corpus);
	write_file(path, "{\"id\":\"x1\",\"text\":\"wind turbines\"}\n"
	           "{\"id\":\"x2\",\"text\":\"solar panels\"}\n", 70);
	snprintf(path, sizeof(path), "%s/c.txt", corpus);
	write_file(path, "Heat pumps warm houses.\n", 24);
	snprintf(path, sizeof(path), "%s/d.txt", corpus);
	write_file(path, "bin\0ary", 7);
	snprintf(db, sizeof(db), "%s/state/mas.db", dir);
	mas_log_set_level(MAS_LOG_ERROR);
	CHECK_INT(mas_store_open(&store, db, &error), 0);
	/* the first index reads every file (the binary one too: listed,
	 * with no documents) */
	update_and_compare(&store, corpus, 0, 4, 0);
	/* one changed (its terms "wind" gone, "tidal" new), one added,
	 * one removed: two files read, two kept */
	snprintf(path, sizeof(path), "%s/b.jsonl", corpus);
	write_file(path, "{\"id\":\"x1\",\"text\":\"tidal power\"}\n", 33);
	snprintf(path, sizeof(path), "%s/ab.txt", corpus);
	write_file(path, "Solar farms and heat storage.\n", 30);
	snprintf(path, sizeof(path), "%s/c.txt", corpus);
	CHECK_INT(unlink(path), 0);
	update_and_compare(&store, corpus, 1, 2, 2);
	/* an update of an update; then nothing left to read */
	snprintf(path, sizeof(path), "%s/a.md", corpus);
	CHECK_INT(unlink(path), 0);
	update_and_compare(&store, corpus, 1, 0, 3);
	/* a damaged index kept (a document's strings out of their file's
	 * span): the update fails and every file is read */
	kept = kept_path(&store, dir);
	CHECK(kept != NULL);
	if (kept) {
		int fd = open(kept, O_RDWR);
		uint64_t off_docs = 0;
		uint32_t far = 1u << 30;
		CHECK(fd >= 0 && pread(fd, &off_docs, 8, offsetof(
			struct mas_index_header, off_docs)) == 8);
		CHECK(off_docs > 0 &&
		      pwrite(fd, &far, 4, (off_t)off_docs) == 4);
		close(fd);
	}
	free(kept);
	snprintf(path, sizeof(path), "%s/e.txt", corpus);
	write_file(path, "Tidal lagoons.\n", 15);
	update_and_compare(&store, corpus, 0, 4, 0);
	mas_store_close(&store);
	unit_remove_dir(dir);
}


/* FILES[0..N) (name, title, passages separated by '|') built in memory,
 * each a corpus file of one document. */
static struct mas_index *files_index(const char *const *files, size_t n)
{
	struct mas_index_builder *b = mas_index_builder_new();
	struct mas_index *index;
	char *error = NULL;

	for (size_t i = 0; i < n; i += 3) {
		const char *text = files[i + 2];
		mas_index_add_file(b, files[i], 10, 1);
		mas_index_add_document(b, files[i], files[i + 1], files[i]);
		while (*text) {
			size_t len = strcspn(text, "|");
			mas_index_add_passage(b, text, len);
			text += len + (text[len] == '|');
		}
	}
	index = mas_index_build(b, &error);
	CHECK(index != NULL);
	return index;
}

/* Whether A and B answer QUERY (terms by text) the same, score for
 * score, passages and documents. */
static void same_answers(struct mas_index *a, struct mas_index *b,
                         const char *const *query, size_t n)
{
	struct mas_index_term qa[8], qb[8];
	struct mas_index_hit ha[16], hb[16];
	struct mas_index_doc_hit da[8], db[8];
	size_t m = 0, na, nb;

	for (size_t i = 0; i < n; i++) {
		int64_t ta = mas_index_term(a, query[i], strlen(query[i]));
		int64_t tb = mas_index_term(b, query[i], strlen(query[i]));
		CHECK_INT(ta >= 0, tb >= 0);
		if (ta < 0 || tb < 0)
			continue;
		CHECK_INT(mas_index_df(a, (uint32_t)ta),
		          mas_index_df(b, (uint32_t)tb));
		CHECK(mas_index_idf(a, (uint32_t)ta) ==
		      mas_index_idf(b, (uint32_t)tb));
		CHECK_STR(mas_index_term_text(a, (uint32_t)ta),
		          mas_index_term_text(b, (uint32_t)tb));
		qa[m] = (struct mas_index_term){ (uint32_t)ta, 1.0 + i };
		qb[m++] = (struct mas_index_term){ (uint32_t)tb, 1.0 + i };
	}
	na = mas_index_search(a, qa, m, 16, ha);
	nb = mas_index_search(b, qb, m, 16, hb);
	CHECK_INT(na, nb);
	for (size_t i = 0; i < na && i < nb; i++) {
		CHECK_INT(ha[i].passage, hb[i].passage);
		CHECK(ha[i].score == hb[i].score);
	}
	na = mas_index_search_documents(a, qa, m, 8, da);
	nb = mas_index_search_documents(b, qb, m, 8, db);
	CHECK_INT(na, nb);
	for (size_t i = 0; i < na && i < nb; i++) {
		CHECK_INT(da[i].doc, db[i].doc);
		CHECK(da[i].score == db[i].score);
		CHECK_INT(da[i].count, db[i].count);
		for (size_t j = 0; j < da[i].count && j < db[i].count; j++)
			CHECK_INT(da[i].passages[j].passage,
			          db[i].passages[j].passage);
	}
}

/* A view of a base and a later segment, some of the base's files dead,
 * holds and answers what an index of the live files does. */
static void test_segments_view(void)
{
	static const char *const base_files[] = {
		"a.md", "Solar", "solar panels on roofs|solar battery "
		"storage at night",
		"b.md", "Wind", "wind turbines offshore|kites and wind "
		"gusts",
		"c.md", "Hydro", "dams store water|pumped storage hydro "
		"power|tidal range",
		"d.md", "Grid", "the grid balances solar and wind",
	};
	static const char *const delta_files[] = {
		"b.md", "Wind", "wind farms near the coast|gusts only",
		"e.md", "Geothermal", "hot rocks|steam turbines and storage",
	};
	static const char *const full_files[] = {
		"a.md", "Solar", "solar panels on roofs|solar battery "
		"storage at night",
		"b.md", "Wind", "wind farms near the coast|gusts only",
		"c.md", "Hydro", "dams store water|pumped storage hydro "
		"power|tidal range",
		"e.md", "Geothermal", "hot rocks|steam turbines and storage",
	};
	/* corpus order: a (base), b (delta), c (base), e (delta); d
	 * removed, the base's b changed */
	static const struct mas_index_run runs[] = {
		{ 0, 0, 1 }, { 1, 0, 1 }, { 0, 2, 1 }, { 1, 1, 1 },
	};
	static const char *const q1[] = { "solar", "storag" };
	static const char *const q2[] = { "wind", "turbin", "gust" };
	static const char *const q3[] = { "tidal", "grid", "kite" };
	struct mas_index *segs[2], *view, *full;
	struct mas_index_passage pa, pb;
	struct mas_index_file fa, fb;
	int64_t x, y;

	segs[0] = files_index(base_files, 12);
	segs[1] = files_index(delta_files, 6);
	full = files_index(full_files, 12);
	view = mas_index_compose(segs, 2, 1, runs, 4, 0);
	CHECK(view != NULL);
	if (!view)
		return;
	CHECK_INT(mas_index_segments(view), 2);
	CHECK_INT(mas_index_files(view), mas_index_files(full));
	CHECK_INT(mas_index_documents(view), mas_index_documents(full));
	CHECK_INT(mas_index_passages(view), mas_index_passages(full));
	CHECK(mas_index_avgdl(view) == mas_index_avgdl(full));
	for (uint32_t f = 0; f < mas_index_files(full); f++) {
		mas_index_file(view, f, &fa);
		mas_index_file(full, f, &fb);
		CHECK_STR(fa.path, fb.path);
		CHECK_INT(fa.first_doc, fb.first_doc);
		CHECK_INT(fa.docs, fb.docs);
	}
	for (uint32_t p = 0; p < mas_index_passages(full); p++) {
		mas_index_passage(view, p, &pa);
		mas_index_passage(full, p, &pb);
		CHECK_STR(pa.doc_id, pb.doc_id);
		CHECK_STR(pa.text, pb.text);
		CHECK_INT(pa.doc, pb.doc);
		CHECK_INT(pa.number, pb.number);
		CHECK_INT(pa.tokens, pb.tokens);
	}
	same_answers(view, full, q1, 2);
	same_answers(view, full, q2, 3);
	/* "grid" and "kite" only in dead files: no term, as in full */
	same_answers(view, full, q3, 3);
	CHECK_INT(mas_index_term(view, "grid", 4), -1);
	/* other parameters, the title weighed */
	mas_index_set_params(view, &(struct mas_index_params){ 0.9, 0.4, 2 });
	mas_index_set_params(full, &(struct mas_index_params){ 0.9, 0.4, 2 });
	CHECK(mas_index_avgdl(view) == mas_index_avgdl(full));
	same_answers(view, full, q2, 3);
	/* term numbers order terms as their text does */
	x = mas_index_term(view, "steam", 5);
	y = mas_index_term(view, "solar", 5);
	CHECK(x >= 0 && y >= 0 && y < x);
	x = mas_index_term(view, "coast", 5);
	y = mas_index_term(view, "batteri", 7);
	CHECK(x >= 0 && y >= 0 && y < x);
	mas_index_free(view);
	mas_index_free(full);

	/* runs that do not fit: no view */
	segs[0] = files_index(base_files, 12);
	segs[1] = files_index(delta_files, 6);
	view = mas_index_compose(segs, 2, 1, (const struct mas_index_run[]){
		{ 0, 0, 2 }, { 0, 1, 1 } }, 2, 0);
	CHECK(view == NULL);
	segs[0] = files_index(base_files, 12);
	view = mas_index_compose(segs, 1, 1, (const struct mas_index_run[]){
		{ 0, 3, 2 } }, 1, 0);
	CHECK(view == NULL);
	segs[0] = files_index(base_files, 12);
	view = mas_index_compose(segs, 1, 1, (const struct mas_index_run[]){
		{ 1, 0, 1 } }, 1, 0);
	CHECK(view == NULL);
}

/* A row that keeps a segment the row kept does not name (another update
 * removed it meanwhile) is refused; one that adds a segment to those
 * kept is taken. */
static void test_keep_row(void)
{
	char dir[256], db[300];
	struct mas_store store;
	char *error = NULL;
	struct mas_index_row base = {
		"a.idx", NULL, NULL, NULL, 1, 1, 1
	};
	struct mas_index_row added = {
		"a.idx", "a.idx b.idx", "0:0:1 1:0:1", "b.idx", 2, 2, 2
	};
	struct mas_index_row stale = {
		"a.idx", "a.idx c.idx d.idx", "0:0:1 1:0:1 2:0:1", "d.idx",
		3, 3, 3
	};

	unit_make_dir(dir, sizeof(dir), "test-keep-row");
	snprintf(db, sizeof(db), "%s/mas.db", dir);
	mas_log_set_level(MAS_LOG_ERROR);
	CHECK_INT(mas_store_open(&store, db, &error), 0);
	CHECK_INT(mas_index_keep_row(&store, "k", "s1", &base, &error), 0);
	CHECK_INT(mas_index_keep_row(&store, "k", "s2", &added, &error), 0);
	CHECK(error == NULL);
	CHECK_INT(mas_index_keep_row(&store, "k", "s3", &stale, &error), -1);
	CHECK(error != NULL && strstr(error, "changed meanwhile") != NULL);
	free(error);
	mas_store_close(&store);
	unit_remove_dir(dir);
}

/* The rule by which an update compacts (index.h). */
static void test_compaction_rule(void)
{
	/* one file of 100 changed: 2 segments, little beyond the base */
	CHECK(!mas_index_compacts(2, 102, 98, 100));
	/* more than a quarter beyond the base's live passages */
	CHECK(mas_index_compacts(3, 140, 70, 100));
	CHECK(!mas_index_compacts(3, 125, 100, 100));
	CHECK(mas_index_compacts(MAS_INDEX_SEGMENTS_MAX + 1, 100, 99, 100));
}

int main(void)
{
	mas_log_init("test-index");
	UNIT_RUN(test_bm25_by_hand);
	UNIT_RUN(test_bm25_formula);
	UNIT_RUN(test_title_weight);
	UNIT_RUN(test_ties_and_top_k);
	UNIT_RUN(test_passages);
	UNIT_RUN(test_corpus_and_store);
	UNIT_RUN(test_update);
	UNIT_RUN(test_segments_view);
	UNIT_RUN(test_compaction_rule);
	UNIT_RUN(test_keep_row);
	return unit_done();
}
