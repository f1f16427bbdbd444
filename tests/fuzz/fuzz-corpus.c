/*
 * fuzz-corpus.c — mas-research's corpus reader (lib/corpus.c): the
 * input's first byte chooses a JSON Lines, Markdown or text file, the
 * rest is the file, which is scanned and indexed.  Bad lines and binary
 * files are skipped, never fatal; passages are cut from inside the text
 * and belong to a document.
 */
#include <string.h>

#include "corpus.h"
#include "fuzz.h"
#include "index.h"

static const char *const names[] = { "docs.jsonl", "doc.md", "doc.txt",
	                             "doc.jsonl" };

struct cut {
	const char *text;
	size_t size;
};

static void on_passage(void *user, const char *text, size_t length)
{
	const struct cut *cut = user;

	FUZZ_ASSERT(text >= cut->text && text + length <= cut->text +
	                                                   cut->size);
}

static void check_index(struct mas_index *index)
{
	uint32_t passages = mas_index_passages(index);

	for (uint32_t p = 0; p < passages; p++) {
		struct mas_index_passage passage;

		mas_index_passage(index, p, &passage);
		FUZZ_ASSERT(passage.doc_id && passage.title && passage.text);
		FUZZ_ASSERT(passage.length > 0);
		FUZZ_ASSERT(passage.doc < mas_index_documents(index));
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mas_corpus corpus;
	struct mas_corpus_stats stats = { 0 };
	struct mas_index *index;
	struct cut cut;
	char *roots[1], *error = NULL;

	if (size < 1)
		return 0;
	cut.text = (const char *)data + 1;
	cut.size = size - 1;
	mas_corpus_passages(cut.text, cut.size, on_passage, &cut);
	roots[0] = (char *)fuzz_file(names[data[0] & 3], data + 1, size - 1);
	FUZZ_ASSERT(mas_corpus_scan(&corpus, roots, 1, NULL, &error) == 0);
	index = mas_corpus_index(&corpus, &stats, &error);
	FUZZ_ASSERT(index);
	FUZZ_ASSERT(stats.files + stats.skipped <= 1);
	check_index(index);
	mas_index_free(index);
	mas_corpus_release(&corpus);
	return 0;
}
