/*
 * index.c — BM25 over passages, one block of memory (see index.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "index.h"
#include "log.h"
#include "mas.h"
#include "text.h"
#include "banned.h"

#include "index-private.h"

#define MAGIC MAS_INDEX_MAGIC
#define FORMAT_VERSION MAS_INDEX_FORMAT_VERSION
#define BYTE_ORDER_MARK MAS_INDEX_BYTE_ORDER

#define header mas_index_header
#define doc_rec mas_index_doc_rec
#define passage_rec mas_index_passage_rec
#define term_rec mas_index_term_rec
#define buf mas_index_buf
#define entry mas_index_entry
#define file_rec mas_index_file_rec

#define NO_PASSAGE UINT32_MAX

/* ---- growable buffers ---- */

void *mas_index_grow(struct buf *b, size_t more)
{
	if (b->size + more > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->size + more)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (!b->data)
			mas_die(MAS_EXIT_IO, "out of memory");
		b->cap = cap;
	}
	b->size += more;
	return b->data + b->size - more;
}

#define grow mas_index_grow
#define hash mas_index_hash

static uint64_t add_string(struct buf *b, const char *s, size_t length)
{
	uint64_t at = b->size;
	char *to = grow(b, length + 1);

	memcpy(to, s, length);
	to[length] = '\0';
	return at;
}

#define PUSH(buffer, type) ((type *)grow(buffer, sizeof(type)))
#define COUNT(buffer, type) ((buffer).size / sizeof(type))

/* ---- building ---- */

uint32_t mas_index_hash(const char *s, size_t length)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < length; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

struct mas_index_builder *mas_index_builder_new(void)
{
	struct mas_index_builder *b = calloc(1, sizeof(*b));

	if (!b)
		mas_die(MAS_EXIT_IO, "out of memory");
	b->table_size = 1024;
	b->table = calloc(b->table_size, sizeof(uint32_t));
	if (!b->table)
		mas_die(MAS_EXIT_IO, "out of memory");
	return b;
}

void mas_index_builder_free(struct mas_index_builder *b)
{
	if (!b)
		return;
	free(b->strings.data);
	free(b->term_text.data);
	free(b->docs.data);
	free(b->passages.data);
	free(b->terms.data);
	free(b->table);
	free(b->entries.data);
	free(b->title_terms.data);
	free(b->scratch.data);
	free(b->files.data);
	free(b->file_paths.data);
	for (size_t i = 0; i < b->segment_count; i++)
		close(b->segments[i]);
	free(b->segments);
	free(b->spill_dir);
	free(b->failed);
	free(b);
}

void mas_index_builder_reset(struct mas_index_builder *b)
{
	b->strings.size = b->term_text.size = 0;
	b->docs.size = b->passages.size = b->terms.size = 0;
	b->entries.size = b->title_terms.size = b->scratch.size = 0;
	memset(b->table, 0, (size_t)b->table_size * sizeof(uint32_t));
	b->text_tokens = b->title_tokens = 0;
}

uint32_t mas_index_table_size(uint32_t terms)
{
	uint32_t size = 1024;

	while ((uint64_t)terms * 2 > size)
		size *= 2;
	return size;
}

static void rehash(struct mas_index_builder *b)
{
	uint32_t size = b->table_size * 2;
	uint32_t *table = calloc(size, sizeof(uint32_t));
	const struct term_rec *terms = (const struct term_rec *)b->terms.data;

	if (!table)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (uint32_t i = 0; i < COUNT(b->terms, struct term_rec); i++) {
		uint32_t slot = hash(b->term_text.data + terms[i].text,
		                     terms[i].length) & (size - 1);
		while (table[slot])
			slot = (slot + 1) & (size - 1);
		table[slot] = i + 1;
	}
	free(b->table);
	b->table = table;
	b->table_size = size;
}

static uint32_t intern(struct mas_index_builder *b, const char *token,
                       size_t length)
{
	uint32_t mask = b->table_size - 1;
	uint32_t slot = hash(token, length) & mask;
	struct term_rec *term;
	uint32_t count;

	while (b->table[slot]) {
		const struct term_rec *t =
			(const struct term_rec *)b->terms.data +
			b->table[slot] - 1;
		if (t->length == length &&
		    memcmp(b->term_text.data + t->text, token, length) == 0)
			return b->table[slot] - 1;
		slot = (slot + 1) & mask;
	}
	count = (uint32_t)COUNT(b->terms, struct term_rec);
	term = PUSH(&b->terms, struct term_rec);
	memset(term, 0, sizeof(*term));
	term->text = (uint32_t)add_string(&b->term_text, token, length);
	term->length = (uint32_t)length;
	b->table[slot] = count + 1;
	if ((count + 1) * 2 > b->table_size)
		rehash(b);
	return count;
}

static void collect_term(void *user, const char *token, size_t length,
                         enum mas_text_token_kind kind)
{
	struct mas_index_builder *b = user;

	*PUSH(&b->scratch, uint32_t) = intern(b, token, length);
}

static uint32_t offset32(struct mas_index_builder *b, uint64_t offset)
{
	if (offset > UINT32_MAX)
		b->too_big = 1;
	return (uint32_t)offset;
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

uint32_t mas_index_add_document(struct mas_index_builder *b, const char *id,
                                const char *title, const char *path)
{
	struct doc_rec *doc;

	if (b->spill_dir && !b->failed && b->docs.size &&
	    mas_index_builder_bytes(b) >= b->budget)
		mas_index_spill(b);
	if (b->failed)
		return 0; /* mas_index_store says why */
	doc = PUSH(&b->docs, struct doc_rec);
	doc->id = offset32(b, add_string(&b->strings, id, strlen(id)));
	doc->title = offset32(b, add_string(&b->strings, title,
	                                    strlen(title)));
	doc->path = offset32(b, add_string(&b->strings, path, strlen(path)));
	doc->first_passage = (uint32_t)COUNT(b->passages, struct passage_rec);
	doc->passage_count = 0;
	b->scratch.size = 0;
	mas_text_tokens(title, strlen(title), 0, collect_term, b);
	b->title_terms.size = 0;
	if (b->scratch.size) { /* a title of no terms: data may be NULL */
		memcpy(grow(&b->title_terms, b->scratch.size), b->scratch.data,
		       b->scratch.size);
		qsort(b->title_terms.data, COUNT(b->title_terms, uint32_t),
		      sizeof(uint32_t), compare_u32);
	}
	return b->spilled_docs + (uint32_t)COUNT(b->docs, struct doc_rec) - 1;
}

void mas_index_add_file(struct mas_index_builder *b, const char *real,
                        long long size, long long mtime_ns)
{
	uint32_t docs = b->spilled_docs +
	                (uint32_t)COUNT(b->docs, struct doc_rec);
	struct file_rec *f;

	mas_index_close_files(b, docs);
	f = PUSH(&b->files, struct file_rec);
	memset(f, 0, sizeof(*f));
	f->size = size < 0 ? 0 : (uint64_t)size;
	f->mtime_ns = mtime_ns;
	f->path = offset32(b, add_string(&b->file_paths, real,
	                                 strlen(real)));
	f->first_doc = docs;
}

void mas_index_close_files(struct mas_index_builder *b, uint32_t total)
{
	size_t n = COUNT(b->files, struct file_rec);
	struct file_rec *last;

	if (n == 0)
		return; /* files.data may be NULL */
	last = (struct file_rec *)b->files.data + n - 1;
	last->docs = total - last->first_doc;
}

/* The run of equal ids at IDS[*I..N) (sorted): its id and length, with
 * *I moved past it. */
static uint32_t run_of(const uint32_t *ids, size_t n, size_t *i,
                       uint32_t *count)
{
	size_t j = *i;

	while (j < n && ids[j] == ids[*i])
		j++;
	*count = (uint32_t)(j - *i);
	*i = j;
	return ids[j - 1];
}

/* Entries of passage P, whose sorted text terms are TEXT[0..N) and
 * title terms TITLE[0..M): a merge, so a term in both is one entry. */
static void add_entries(struct mas_index_builder *b, uint32_t p,
                        const uint32_t *text, size_t n,
                        const uint32_t *title, size_t m)
{
	struct term_rec *terms = (struct term_rec *)b->terms.data;
	size_t i = 0, j = 0;

	while (i < n || j < m) {
		struct entry *e = PUSH(&b->entries, struct entry);
		uint32_t next = i < n && (j >= m || text[i] <= title[j])
		                        ? text[i] : title[j];
		uint32_t tf = 0, ttf = 0;
		if (i < n && text[i] == next)
			run_of(text, n, &i, &tf);
		if (j < m && title[j] == next)
			run_of(title, m, &j, &ttf);
		e->term = next;
		e->passage = p;
		e->tf = (uint16_t)(tf > 65535 ? 65535 : tf);
		e->ttf = (uint8_t)(ttf > 255 ? 255 : ttf);
		terms[next].df++;
	}
}

void mas_index_add_passage(struct mas_index_builder *b, const char *text,
                           size_t length)
{
	struct doc_rec *doc;
	struct passage_rec *passage;
	uint32_t *ids;
	size_t n, m = COUNT(b->title_terms, uint32_t);

	if (b->failed)
		return;
	doc = (struct doc_rec *)b->docs.data + COUNT(b->docs, struct doc_rec)
	      - 1;
	passage = PUSH(&b->passages, struct passage_rec);
	passage->doc = (uint32_t)COUNT(b->docs, struct doc_rec) - 1;
	passage->number = ++doc->passage_count;
	passage->text = offset32(b, add_string(&b->strings, text, length));
	passage->length = (uint32_t)length;
	b->scratch.size = 0;
	mas_text_tokens(text, length, 0, collect_term, b);
	ids = (uint32_t *)b->scratch.data;
	n = COUNT(b->scratch, uint32_t);
	passage->tokens = (uint32_t)n;
	passage->title_tokens = (uint32_t)m;
	b->text_tokens += n;
	b->title_tokens += m;
	if (n)
		qsort(ids, n, sizeof(uint32_t), compare_u32);
	add_entries(b, (uint32_t)COUNT(b->passages, struct passage_rec) - 1,
	            ids, n, (const uint32_t *)b->title_terms.data, m);
}

static uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* Lays out the header for B's contents. */
static void layout(struct header *h, const struct mas_index_builder *b)
{
	uint64_t at = align8(sizeof(*h));

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, MAGIC, sizeof(MAGIC));
	h->version = FORMAT_VERSION;
	h->byte_order = BYTE_ORDER_MARK;
	h->tokenizer = MAS_TEXT_VERSION;
	h->docs = (uint32_t)COUNT(b->docs, struct doc_rec);
	h->passages = (uint32_t)COUNT(b->passages, struct passage_rec);
	h->terms = (uint32_t)COUNT(b->terms, struct term_rec);
	h->table_size = b->table_size;
	h->postings = COUNT(b->entries, struct entry);
	h->strings_size = b->strings.size + b->file_paths.size +
	                  b->term_text.size;
	h->doc_strings = b->strings.size;
	h->text_tokens = b->text_tokens;
	h->title_tokens = b->title_tokens;
	h->files = (uint32_t)COUNT(b->files, struct file_rec);
	h->off_files = at;
	at = align8(at + b->files.size);
	h->off_docs = at;
	at = align8(at + b->docs.size);
	h->off_passages = at;
	at = align8(at + b->passages.size);
	h->off_terms = at;
	at = align8(at + b->terms.size);
	h->off_table = at;
	at = align8(at + (uint64_t)b->table_size * 4);
	h->off_post = at;
	at = align8(at + h->postings * 4);
	h->off_tf = at;
	at = align8(at + h->postings * 2);
	h->off_ttf = at;
	at = align8(at + h->postings);
	h->off_strings = at;
	h->size = align8(at + h->strings_size);
}

static void attach(struct mas_index *index)
{
	const struct header *h = (const struct header *)index->block;

	index->h = h;
	index->files = (const struct file_rec *)(index->block + h->off_files);
	index->docs = (const struct doc_rec *)(index->block + h->off_docs);
	index->passages = (const struct passage_rec *)(index->block +
	                                               h->off_passages);
	index->terms = (const struct term_rec *)(index->block + h->off_terms);
	index->table = (const uint32_t *)(index->block + h->off_table);
	index->post = (const uint32_t *)(index->block + h->off_post);
	index->tf = (const uint16_t *)(index->block + h->off_tf);
	index->ttf = (const uint8_t *)(index->block + h->off_ttf);
	index->strings = index->block + h->off_strings;
	index->params = (struct mas_index_params)MAS_INDEX_PARAMS_DEFAULT;
	mas_index_set_params(index, &index->params);
}

static void release_block(char *block, uint64_t size, int mapped)
{
	if (mapped)
		munmap(block, size);
	else
		free(block);
}

struct mas_index *mas_index_attach(char *block, uint64_t size, int mapped)
{
	const struct header *h = (const struct header *)block;
	struct mas_index *index;

	/* the strings end with a NUL: any offset inside them is a string
	 * that ends inside them */
	if (!mas_index_header_ok(h, size) || h->strings_size == 0 ||
	    (h->passages > 0 && h->docs == 0) ||
	    block[h->off_strings + h->strings_size - 1] != '\0') {
		release_block(block, size, mapped);
		return NULL;
	}
	index = calloc(1, sizeof(*index));
	if (!index)
		mas_die(MAS_EXIT_IO, "out of memory");
	index->block = block;
	index->mapped = mapped ? size : 0;
	attach(index);
	return index;
}

void mas_index_set_params(struct mas_index *index,
                          const struct mas_index_params *params)
{
	const struct header *h = index->h;

	index->params = *params;
	if (index->segs) {
		/* as below, over the live passages' integer sums */
		index->avgdl = index->v_passages
			? (index->text_tokens + params->title_weight *
			   index->title_tokens) / index->v_passages
			: 0;
		return;
	}
	index->avgdl = h->passages
		? (h->text_tokens + params->title_weight * h->title_tokens) /
		  h->passages
		: 0;
}

/* The terms in byte order of their text, as every index numbers them
 * (a stored one cannot number them as a builder met them, since an
 * update merges files met in another order), and the dictionary's table
 * over them: ORDER[i] is the builder's number of term i. */
static void put_terms(struct mas_index_builder *b, char *block,
                      const struct header *h, const uint32_t *order)
{
	struct term_rec *terms = (struct term_rec *)(block + h->off_terms);
	const struct term_rec *met = (const struct term_rec *)b->terms.data;
	uint32_t *table = (uint32_t *)(block + h->off_table);
	uint32_t mask = h->table_size - 1;

	for (uint32_t i = 0; i < h->terms; i++) {
		uint32_t slot = hash(b->term_text.data + met[order[i]].text,
		                     met[order[i]].length) & mask;
		terms[i] = met[order[i]];
		while (table[slot])
			slot = (slot + 1) & mask;
		table[slot] = i + 1;
	}
}

/* Postings in term order, each term's by passage: a counting sort of the
 * builder's entries, which are in passage order. */
static void scatter(struct mas_index_builder *b, char *block,
                    const struct header *h, const uint32_t *order)
{
	struct term_rec *terms = (struct term_rec *)(block + h->off_terms);
	uint32_t *post = (uint32_t *)(block + h->off_post);
	uint16_t *tf = (uint16_t *)(block + h->off_tf);
	uint8_t *ttf = (uint8_t *)(block + h->off_ttf);
	const struct entry *e = (const struct entry *)b->entries.data;
	uint64_t *cursor = malloc((h->terms + 1) * sizeof(uint64_t));
	uint64_t at = 0;

	if (!cursor)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (uint32_t i = 0; i < h->terms; i++) {
		terms[i].postings = at;
		terms[i].text += (uint32_t)(b->strings.size +
		                            b->file_paths.size);
		cursor[order[i]] = at; /* by the builder's number */
		at += terms[i].df;
	}
	for (uint64_t k = 0; k < h->postings; k++) {
		uint64_t slot = cursor[e[k].term]++;
		post[slot] = e[k].passage;
		tf[slot] = e[k].tf;
		ttf[slot] = e[k].ttf;
	}
	free(cursor);
}

/* memcpy, but an empty corpus's arrays were never allocated, and
 * memcpy from NULL is undefined even for no bytes. */
static void put(char *to, const void *from, size_t size)
{
	if (size)
		memcpy(to, from, size);
}

struct mas_index *mas_index_build(struct mas_index_builder *b, char **error)
{
	struct mas_index *index;
	struct header h;
	uint32_t *order;

	*error = NULL;
	mas_index_close_files(b, (uint32_t)COUNT(b->docs, struct doc_rec));
	layout(&h, b);
	if (b->too_big || h.strings_size > UINT32_MAX) {
		mas_index_builder_free(b);
		if (asprintf(error, "the corpus holds more than 4 GiB of "
		             "text") < 0)
			*error = NULL;
		return NULL;
	}
	index = calloc(1, sizeof(*index));
	if (!index || !(index->block = calloc(1, h.size)))
		mas_die(MAS_EXIT_IO, "out of memory");
	memcpy(index->block, &h, sizeof(h));
	put(index->block + h.off_files, b->files.data, b->files.size);
	for (uint32_t i = 0; i < h.files; i++)
		((struct file_rec *)(index->block + h.off_files))[i].path +=
			(uint32_t)b->strings.size;
	put(index->block + h.off_docs, b->docs.data, b->docs.size);
	put(index->block + h.off_passages, b->passages.data,
	    b->passages.size);
	put(index->block + h.off_strings, b->strings.data, b->strings.size);
	put(index->block + h.off_strings + b->strings.size,
	    b->file_paths.data, b->file_paths.size);
	put(index->block + h.off_strings + b->strings.size +
	    b->file_paths.size, b->term_text.data, b->term_text.size);
	order = mas_index_sorted_terms(b, h.terms);
	put_terms(b, index->block, &h, order);
	scatter(b, index->block, &h, order);
	free(order);
	mas_index_builder_free(b);
	index->mapped = 0;
	attach(index);
	return index;
}

void mas_index_free(struct mas_index *index)
{
	if (!index)
		return;
	if (index->segs)
		mas_index_view_free(index);
	else
		release_block(index->block, index->mapped,
		              index->mapped != 0);
	free(index->name);
	free(index->scores);
	free(index->touched);
	free(index->best);
	free(index->touched_docs);
	free(index);
}

/* ---- reading ---- */

uint32_t mas_index_documents(const struct mas_index *index)
{
	return index->segs ? index->v_docs : index->h->docs;
}

uint32_t mas_index_passages(const struct mas_index *index)
{
	return index->segs ? index->v_passages : index->h->passages;
}

uint32_t mas_index_terms(const struct mas_index *index)
{
	return index->segs ? (uint32_t)index->v_terms : index->h->terms;
}

const struct header *mas_index_header_of(const struct mas_index *index)
{
	return index->h;
}

void mas_index_release_pages(const struct mas_index *index, uint64_t from,
                             uint64_t to)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start, end;

	if (!index->mapped || index->segs || page <= 0)
		return;
	start = (from + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	end = (to < index->mapped ? to : index->mapped) / (uint64_t)page *
	      (uint64_t)page;
	if (start < end)
		madvise(index->block + start, end - start, MADV_DONTNEED);
}

uint32_t mas_index_segments(const struct mas_index *index)
{
	return index->segs ? index->seg_count : 1;
}

uint32_t mas_index_files(const struct mas_index *index)
{
	return index->segs ? index->v_files : index->h->files;
}

size_t mas_index_bytes(const struct mas_index *index)
{
	size_t bytes = 0;

	if (!index->segs)
		return (size_t)index->h->size;
	for (uint32_t s = 0; s < index->seg_count; s++)
		bytes += (size_t)index->segs[s]->h->size;
	return bytes;
}

double mas_index_avgdl(const struct mas_index *index)
{
	return index->avgdl;
}

/*
 * A stored index is mapped, not read: it is checked where it is read,
 * so that a damaged file answers badly but never reads out of bounds.
 */

/* The string at OFFSET, or "" (the strings' last byte) outside them. */
static const char *string_at(const struct mas_index *index, uint64_t offset)
{
	if (offset >= index->h->strings_size)
		offset = index->h->strings_size - 1;
	return index->strings + offset;
}

void mas_index_passage(const struct mas_index *index, uint32_t passage,
                       struct mas_index_passage *out)
{
	const struct passage_rec *p;
	const struct doc_rec *d;
	uint32_t doc;

	if (index->segs) {
		mas_index_view_passage(index, passage, out);
		return;
	}
	p = &index->passages[passage];
	doc = p->doc < index->h->docs ? p->doc : 0;
	d = &index->docs[doc];

	out->doc_id = string_at(index, d->id);
	out->title = string_at(index, d->title);
	out->path = string_at(index, d->path);
	out->length = p->length;
	if ((uint64_t)p->text + p->length >= index->h->strings_size)
		out->length = 0;
	out->text = string_at(index, out->length ? p->text : UINT64_MAX);
	out->doc = doc;
	out->number = p->number;
	out->tokens = p->tokens + p->title_tokens;
}

void mas_index_file(const struct mas_index *index, uint32_t file,
                    struct mas_index_file *out)
{
	const struct file_rec *f;
	uint32_t docs;

	if (index->segs) {
		mas_index_view_file(index, file, out);
		return;
	}
	f = &index->files[file];
	docs = index->h->docs;
	out->path = string_at(index, f->path);
	out->size = (long long)f->size;
	out->mtime_ns = f->mtime_ns;
	out->first_doc = f->first_doc < docs ? f->first_doc : docs;
	out->docs = f->docs < docs - out->first_doc
	                    ? f->docs : docs - out->first_doc;
}

int64_t mas_index_term(const struct mas_index *index, const char *token,
                       size_t length)
{
	uint32_t mask, slot;

	if (index->segs) /* the view remembers terms looked up */
		return mas_index_view_term((struct mas_index *)index, token,
		                           length);
	mask = index->h->table_size - 1;
	slot = hash(token, length) & mask;
	for (uint32_t probes = 0; index->table[slot] &&
	                          index->table[slot] <= index->h->terms &&
	                          probes <= mask; probes++) {
		const struct term_rec *t =
			&index->terms[index->table[slot] - 1];
		if (t->length == length &&
		    (uint64_t)t->text + length < index->h->strings_size &&
		    memcmp(index->strings + t->text, token, length) == 0)
			return index->table[slot] - 1;
		slot = (slot + 1) & mask;
	}
	return -1;
}

const char *mas_index_term_text(const struct mas_index *index, uint32_t term)
{
	if (index->segs)
		return mas_index_view_term_text(index, term);
	return string_at(index, index->terms[term].text);
}

uint32_t mas_index_df(const struct mas_index *index, uint32_t term)
{
	const struct term_rec *t;

	if (index->segs)
		return mas_index_view_df(index, term);
	t = &index->terms[term];
	if (t->df > index->h->passages || t->postings > index->h->postings ||
	    t->df > index->h->postings - t->postings)
		return 0;
	return t->df;
}

double mas_index_idf(const struct mas_index *index, uint32_t term)
{
	double n = mas_index_passages(index), df = mas_index_df(index, term);

	return log(1 + (n - df + 0.5) / (df + 0.5));
}

double mas_index_bm25(const struct mas_index_params *p, double idf,
                      double tf, double dl, double avgdl)
{
	double norm = 1 - p->b + p->b * dl / (avgdl > 0 ? avgdl : 1);

	if (tf <= 0)
		return 0;
	return idf * tf * (p->k1 + 1) / (tf + p->k1 * norm);
}

/* ---- search ---- */

/* Whether hit A ranks below hit B. */
static int worse(const struct mas_index_hit *a, const struct mas_index_hit *b)
{
	return a->score < b->score ||
	       (a->score == b->score && a->passage > b->passage);
}

static void sift_down(struct mas_index_hit *heap, size_t n, size_t i)
{
	for (;;) {
		size_t least = i, l = 2 * i + 1, r = l + 1;
		struct mas_index_hit swap;
		if (l < n && worse(&heap[l], &heap[least]))
			least = l;
		if (r < n && worse(&heap[r], &heap[least]))
			least = r;
		if (least == i)
			return;
		swap = heap[i];
		heap[i] = heap[least];
		heap[least] = swap;
		i = least;
	}
}

static int compare_hits(const void *a, const void *b)
{
	const struct mas_index_hit *x = a, *y = b;

	return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

static void accumulate(struct mas_index *index, uint32_t term, double weight,
                       size_t *touched)
{
	uint64_t first = index->terms[term].postings;
	uint64_t end = first + mas_index_df(index, term);
	double idf = mas_index_idf(index, term) * weight;
	double w = index->params.title_weight;

	for (uint64_t i = first; i < end; i++) {
		uint32_t p = index->post[i];
		const struct passage_rec *rec;
		double tf = index->tf[i] + w * index->ttf[i];
		double dl, score;
		if (tf <= 0 || p >= index->h->passages)
			continue; /* only in the title, weighed 0 */
		rec = &index->passages[p];
		dl = rec->tokens + w * rec->title_tokens;
		score = mas_index_bm25(&index->params, idf, tf, dl,
		                       index->avgdl);
		/* bounded even so: TOUCHED has room for each passage once */
		if (index->scores[p] == 0 && *touched < index->h->passages)
			index->touched[(*touched)++] = p;
		index->scores[p] += score;
	}
}

/* Scores every passage holding a term of TERMS into index->scores;
 * returns how many there are, listed in index->touched. */
static size_t score_passages(struct mas_index *index,
                             const struct mas_index_term *terms,
                             size_t count)
{
	size_t touched = 0;
	uint32_t all = mas_index_passages(index);

	if (!index->scores) {
		size_t passages = all ? all : 1;
		index->scores = calloc(passages, sizeof(double));
		index->touched = malloc(passages * sizeof(uint32_t));
		if (!index->scores || !index->touched)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		if (terms[i].weight <= 0)
			continue;
		if (index->segs)
			mas_index_view_accumulate(index, terms[i].term,
			                          terms[i].weight, &touched);
		else if (terms[i].term < index->h->terms)
			accumulate(index, terms[i].term, terms[i].weight,
			           &touched);
	}
	return touched;
}

/* HIT into the heap HITS[0..*N) of the K best. */
static void keep_best(struct mas_index_hit *hits, size_t *n, size_t k,
                      struct mas_index_hit hit)
{
	if (*n < k) {
		hits[(*n)++] = hit;
		if (*n == k)
			for (size_t j = k / 2 + 1; j-- > 0;)
				sift_down(hits, *n, j);
	} else if (worse(&hits[0], &hit)) {
		hits[0] = hit;
		sift_down(hits, *n, 0);
	}
}

size_t mas_index_search(struct mas_index *index,
                        const struct mas_index_term *terms, size_t count,
                        size_t k, struct mas_index_hit *hits)
{
	size_t touched = score_passages(index, terms, count), n = 0;

	for (size_t i = 0; i < touched && k > 0; i++) {
		uint32_t p = index->touched[i];
		struct mas_index_hit hit = { p, index->scores[p] };
		keep_best(hits, &n, k, hit);
	}
	for (size_t i = 0; i < touched; i++)
		index->scores[index->touched[i]] = 0;
	qsort(hits, n, sizeof(*hits), compare_hits);
	return n;
}

/* The document of passage P. */
static uint32_t passage_doc(const struct mas_index *index, uint32_t p)
{
	if (index->segs)
		return mas_index_view_passage_doc(index, p);
	return index->passages[p].doc;
}

/* Each scored passage's document into index->best; returns how many
 * documents, listed in index->touched_docs. */
static size_t best_passages(struct mas_index *index, size_t touched)
{
	size_t docs = 0;

	if (!index->best) {
		uint32_t all = mas_index_documents(index);
		size_t n = all ? all : 1;
		index->best = malloc(n * sizeof(uint32_t));
		index->touched_docs = malloc(n * sizeof(uint32_t));
		if (!index->best || !index->touched_docs)
			mas_die(MAS_EXIT_IO, "out of memory");
		for (size_t d = 0; d < n; d++)
			index->best[d] = NO_PASSAGE;
	}
	for (size_t i = 0; i < touched; i++) {
		uint32_t p = index->touched[i];
		uint32_t d = passage_doc(index, p), was;
		struct mas_index_hit a = { p, index->scores[p] };
		struct mas_index_hit b = { 0, 0 };
		if (d >= mas_index_documents(index))
			continue; /* a damaged index */
		was = index->best[d];
		b.passage = was;
		if (was == NO_PASSAGE) {
			index->touched_docs[docs++] = d;
			index->best[d] = p;
			continue;
		}
		b.score = index->scores[was];
		if (worse(&b, &a))
			index->best[d] = p;
	}
	return docs;
}

/* The best scored passages of document HIT->doc into HIT, best first. */
static void doc_passages(const struct mas_index *index,
                         struct mas_index_doc_hit *hit)
{
	struct mas_index_hit *top = hit->passages;
	uint32_t first, end;
	size_t n = 0;

	if (index->segs) {
		mas_index_view_doc_passages(index, hit->doc, &first, &end);
	} else {
		const struct doc_rec *doc = &index->docs[hit->doc];
		uint64_t last = (uint64_t)doc->first_passage +
		                doc->passage_count;
		first = doc->first_passage;
		end = last > index->h->passages ? index->h->passages
		                                : (uint32_t)last;
	}
	for (uint32_t p = first; p < end; p++) {
		struct mas_index_hit h = { p, index->scores[p] };
		if (h.score > 0)
			keep_best(top, &n, MAS_INDEX_DOC_PASSAGES, h);
	}
	qsort(top, n, sizeof(*top), compare_hits);
	hit->count = n;
}

size_t mas_index_search_documents(struct mas_index *index,
                                  const struct mas_index_term *terms,
                                  size_t count, size_t k,
                                  struct mas_index_doc_hit *hits)
{
	size_t touched = score_passages(index, terms, count);
	size_t docs = best_passages(index, touched), n = 0;
	struct mas_index_hit *heap = malloc((k ? k : 1) * sizeof(*heap));

	if (!heap)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < docs && k > 0; i++) {
		uint32_t p = index->best[index->touched_docs[i]];
		struct mas_index_hit hit = { p, index->scores[p] };
		keep_best(heap, &n, k, hit);
	}
	qsort(heap, n, sizeof(*heap), compare_hits);
	for (size_t i = 0; i < n; i++) {
		hits[i].doc = passage_doc(index, heap[i].passage);
		hits[i].score = heap[i].score;
		doc_passages(index, &hits[i]);
	}
	free(heap);
	for (size_t i = 0; i < docs; i++)
		index->best[index->touched_docs[i]] = NO_PASSAGE;
	for (size_t i = 0; i < touched; i++)
		index->scores[index->touched[i]] = 0;
	return n;
}

/* ---- checking a block ---- */

static int section_ok(const struct header *h, uint64_t offset, uint64_t size)
{
	return offset % 8 == 0 && offset <= h->size &&
	       size <= h->size - offset;
}

/* Whether a block read back is one this program wrote and whole. */
int mas_index_header_ok(const struct header *h, uint64_t size)
{
	if (size < sizeof(*h) || memcmp(h->magic, MAGIC, sizeof(MAGIC)) != 0 ||
	    h->version != FORMAT_VERSION || h->byte_order != BYTE_ORDER_MARK ||
	    h->tokenizer != MAS_TEXT_VERSION ||
	    h->size != size || h->table_size == 0 ||
	    (h->table_size & (h->table_size - 1)) != 0 ||
	    h->terms >= h->table_size)
		return 0;
	return section_ok(h, h->off_files,
	                  (uint64_t)h->files * sizeof(struct file_rec)) &&
	       h->doc_strings <= h->strings_size &&
	       section_ok(h, h->off_docs,
	                  (uint64_t)h->docs * sizeof(struct doc_rec)) &&
	       section_ok(h, h->off_passages,
	                  h->passages * (uint64_t)sizeof(struct passage_rec)) &&
	       section_ok(h, h->off_terms,
	                  (uint64_t)h->terms * sizeof(struct term_rec)) &&
	       section_ok(h, h->off_table, (uint64_t)h->table_size * 4) &&
	       section_ok(h, h->off_post, h->postings * 4) &&
	       section_ok(h, h->off_tf, h->postings * 2) &&
	       section_ok(h, h->off_ttf, h->postings) &&
	       section_ok(h, h->off_strings, h->strings_size);
}
