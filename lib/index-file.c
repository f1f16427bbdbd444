/*
 * index-file.c — an index built in segments, merged into a file beside
 * the state store, and opened by mapping it (see index.h).
 *
 * A segment is what a builder held when it reached its memory budget:
 * its documents, passages and their text, then its terms in byte order
 * of their text, each with its postings.  Segments are files made and
 * unlinked at once in the index folder (so a crash leaves nothing), read
 * back one after the other for the documents, then all together for the
 * terms: a k-way merge by term text, which writes each term's postings
 * (the segments' in segment order, so in passage order) straight to the
 * file.  The terms are numbered in that order, byte order of their
 * text, and a merged index holds, term for term and posting for
 * posting, what the index built in memory holds (which numbers its terms
 * as it met them): the same answers, ties included, as nothing ranks by
 * term number (research.c breaks ties between terms by their text).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index-private.h"
#include "log.h"
#include "mas.h"
#include "store-file.h"
#include "text.h"
#include "banned.h"

#define COUNT(buffer, type) ((buffer).size / sizeof(type))
#define IO_BUFFER (256 * 1024)

static uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* ---- buffered reading and writing at offsets ---- */

#define writer mas_index_writer
#define writer_init mas_index_writer_init
#define writer_flush mas_index_writer_flush
#define writer_close mas_index_writer_close
#define put mas_index_put

void writer_init(struct writer *w, int fd, uint64_t at)
{
	w->fd = fd;
	w->at = at;
	w->n = 0;
	w->error = 0;
	w->buf = malloc(IO_BUFFER);
	if (!w->buf)
		mas_die(MAS_EXIT_IO, "out of memory");
}

void writer_flush(struct writer *w)
{
	size_t done = 0;

	while (done < w->n && !w->error) {
		ssize_t n = pwrite(w->fd, w->buf + done, w->n - done,
		                   (off_t)(w->at + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			w->error = n < 0 ? errno : EIO;
		else
			done += (size_t)n;
	}
	w->at += w->n;
	w->n = 0;
}

void put(struct writer *w, const void *data, size_t size)
{
	const char *p = data;

	while (size > 0) {
		size_t room = IO_BUFFER - w->n;
		size_t n = size < room ? size : room;
		memcpy(w->buf + w->n, p, n);
		w->n += n;
		p += n;
		size -= n;
		if (w->n == IO_BUFFER)
			writer_flush(w);
	}
}

int writer_close(struct writer *w)
{
	writer_flush(w);
	free(w->buf);
	w->buf = NULL;
	return w->error;
}

struct reader {
	int fd;
	uint64_t at;           /* of the byte after the buffer */
	char *buf;
	size_t pos, len;
};

static void reader_init(struct reader *r, int fd, uint64_t at)
{
	r->fd = fd;
	r->at = at;
	r->pos = r->len = 0;
	r->buf = malloc(IO_BUFFER / 4);
	if (!r->buf)
		mas_die(MAS_EXIT_IO, "out of memory");
}

/* SIZE bytes into DATA; -1 at the end of the file or on an error. */
static int take(struct reader *r, void *data, size_t size)
{
	char *to = data;

	while (size > 0) {
		size_t n;
		if (r->pos == r->len) {
			ssize_t got = pread(r->fd, r->buf, IO_BUFFER / 4,
			                    (off_t)r->at);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return -1;
			r->at += (uint64_t)got;
			r->pos = 0;
			r->len = (size_t)got;
		}
		n = r->len - r->pos < size ? r->len - r->pos : size;
		memcpy(to, r->buf + r->pos, n);
		r->pos += n;
		to += n;
		size -= n;
	}
	return 0;
}

/* ---- segments ---- */

struct segment_header {
	uint32_t docs, passages, terms, pad;
	uint64_t postings, strings_size, text_tokens, title_tokens;
};

/* A term of a segment, then LENGTH bytes of text, DF passages (uint32),
 * DF counts in the text (uint16), DF counts in the title (uint8). */
struct segment_term {
	uint32_t length, number, df;
};

size_t mas_index_builder_bytes(const struct mas_index_builder *b)
{
	size_t entries = COUNT(b->entries, struct mas_index_entry);

	/* spilling sorts the entries into postings of 7 bytes each */
	return b->strings.size + b->term_text.size + b->docs.size +
	       b->passages.size + b->terms.size + b->entries.size +
	       (size_t)b->table_size * 4 + entries * 7 +
	       COUNT(b->terms, struct mas_index_term_rec) * 8;
}

/* The builder whose terms are being sorted (qsort has no context; one
 * per thread: mas-serve builds indexes in several at once). */
static _Thread_local const struct mas_index_builder *sorting;

static int by_text(const void *a, const void *b)
{
	const struct mas_index_term_rec *terms =
		(const struct mas_index_term_rec *)sorting->terms.data;
	const struct mas_index_term_rec *x = &terms[*(const uint32_t *)a];
	const struct mas_index_term_rec *y = &terms[*(const uint32_t *)b];
	size_t n = x->length < y->length ? x->length : y->length;
	int c = memcmp(sorting->term_text.data + x->text,
	               sorting->term_text.data + y->text, n);

	if (c)
		return c;
	return x->length < y->length ? -1 : x->length > y->length;
}

uint32_t *mas_index_sorted_terms(const struct mas_index_builder *b,
                                 uint32_t count)
{
	uint32_t *order = malloc((count ? count : 1) * sizeof(uint32_t));

	if (!order)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (uint32_t t = 0; t < count; t++)
		order[t] = t;
	sorting = b;
	if (count)
		qsort(order, count, sizeof(uint32_t), by_text);
	sorting = NULL;
	return order;
}

/* Postings by term number, each term's by passage: a counting sort of
 * the builder's entries, which are in passage order.  START[t] is where
 * term t's begin. */
struct postings {
	uint32_t *post;
	uint16_t *tf;
	uint8_t *ttf;
	uint64_t *start;
};

static void sort_postings(const struct mas_index_builder *b,
                          struct postings *out)
{
	const struct mas_index_term_rec *terms =
		(const struct mas_index_term_rec *)b->terms.data;
	const struct mas_index_entry *e =
		(const struct mas_index_entry *)b->entries.data;
	uint32_t count = (uint32_t)COUNT(b->terms, struct mas_index_term_rec);
	uint64_t n = COUNT(b->entries, struct mas_index_entry), at = 0;
	uint64_t *cursor = malloc((count + 1) * sizeof(uint64_t));

	out->post = malloc((n ? n : 1) * sizeof(uint32_t));
	out->tf = malloc((n ? n : 1) * sizeof(uint16_t));
	out->ttf = malloc(n ? n : 1);
	out->start = malloc((count + 1) * sizeof(uint64_t));
	if (!cursor || !out->post || !out->tf || !out->ttf || !out->start)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (uint32_t t = 0; t < count; t++) {
		out->start[t] = cursor[t] = at;
		at += terms[t].df;
	}
	for (uint64_t k = 0; k < n; k++) {
		uint64_t slot = cursor[e[k].term]++;
		out->post[slot] = e[k].passage;
		out->tf[slot] = e[k].tf;
		out->ttf[slot] = e[k].ttf;
	}
	free(cursor);
}

static void free_postings(struct postings *p)
{
	free(p->post);
	free(p->tf);
	free(p->ttf);
	free(p->start);
}

static void write_terms(struct writer *w, const struct mas_index_builder *b)
{
	const struct mas_index_term_rec *terms =
		(const struct mas_index_term_rec *)b->terms.data;
	uint32_t count = (uint32_t)COUNT(b->terms, struct mas_index_term_rec);
	uint32_t *order = mas_index_sorted_terms(b, count);
	struct postings p;

	sort_postings(b, &p);
	for (uint32_t i = 0; i < count; i++) {
		const struct mas_index_term_rec *t = &terms[order[i]];
		struct segment_term st = { t->length, order[i], t->df };
		uint64_t at = p.start[order[i]];
		put(w, &st, sizeof(st));
		put(w, b->term_text.data + t->text, t->length);
		put(w, p.post + at, (size_t)t->df * sizeof(uint32_t));
		put(w, p.tf + at, (size_t)t->df * sizeof(uint16_t));
		put(w, p.ttf + at, t->df);
	}
	free_postings(&p);
	free(order);
}

/* A new segment file in DIR, already unlinked; -1 with errno. */
static int segment_file(const char *dir)
{
	char *path;
	int fd;

	if (asprintf(&path, "%s/.segment-XXXXXX", dir) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd;
}

static int spill_failed(struct mas_index_builder *b, int error)
{
	if (!b->failed && asprintf(&b->failed, "%s: writing a segment of "
	                           "the index: %s", b->spill_dir,
	                           strerror(error)) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	return -1;
}

int mas_index_spill(struct mas_index_builder *b)
{
	struct segment_header h = {
		(uint32_t)COUNT(b->docs, struct mas_index_doc_rec),
		(uint32_t)COUNT(b->passages, struct mas_index_passage_rec),
		(uint32_t)COUNT(b->terms, struct mas_index_term_rec), 0,
		COUNT(b->entries, struct mas_index_entry), b->strings.size,
		b->text_tokens, b->title_tokens
	};
	struct writer w;
	int fd = segment_file(b->spill_dir), error;
	int *grown;

	if (fd < 0)
		return spill_failed(b, errno);
	if (b->too_big) {
		close(fd);
		return spill_failed(b, EFBIG);
	}
	writer_init(&w, fd, 0);
	put(&w, &h, sizeof(h));
	put(&w, b->docs.data, b->docs.size);
	put(&w, b->passages.data, b->passages.size);
	put(&w, b->strings.data, b->strings.size);
	write_terms(&w, b);
	error = writer_close(&w);
	if (error) {
		close(fd);
		return spill_failed(b, error);
	}
	grown = realloc(b->segments, (b->segment_count + 1) * sizeof(int));
	if (!grown)
		mas_die(MAS_EXIT_IO, "out of memory");
	b->segments = grown;
	b->segments[b->segment_count++] = fd;
	b->spilled_docs += h.docs;
	mas_debug("index segment %zu: %u documents, %u terms",
	          b->segment_count, h.docs, h.terms);
	mas_index_builder_reset(b);
	return 0;
}

int mas_index_builder_spill(struct mas_index_builder *b, const char *dir,
                            size_t budget, char **error)
{
	*error = NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return mas_error_set(error, "%s: cannot create folder: %s",
		                     dir, strerror(errno));
	free(b->spill_dir);
	b->spill_dir = strdup(dir);
	if (!b->spill_dir)
		mas_die(MAS_EXIT_IO, "out of memory");
	b->budget = budget;
	return 0;
}

/* ---- merging ---- */

/* A segment being merged: where its parts go, its current term. */
struct source {
	struct reader in;
	struct segment_header h;
	uint32_t doc_base, passage_base, strings_base;
	struct segment_term term;
	char *text;
	size_t text_cap;
	uint32_t terms_left;
};

struct merge {
	struct source *sources;
	size_t count;
	struct mas_index_header h;
	uint64_t doc_strings;
	struct mas_index_sections out;
	struct mas_index_buf terms, term_text; /* term_rec, text */
	size_t *heap;          /* of sources with a current term */
	size_t heap_size;
	int bad;               /* a segment read back short */
};

static int next_term(struct source *s)
{
	if (s->terms_left == 0)
		return 0;
	s->terms_left--;
	if (take(&s->in, &s->term, sizeof(s->term)) != 0)
		return -1;
	if (s->term.length + 1 > s->text_cap) {
		s->text_cap = s->term.length + 1;
		s->text = realloc(s->text, s->text_cap);
		if (!s->text)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	if (take(&s->in, s->text, s->term.length) != 0)
		return -1;
	s->text[s->term.length] = '\0';
	return 1;
}

/* Whether source A's term comes before source B's: by text, then by
 * segment (a term's postings in passage order). */
static int before(const struct merge *m, size_t a, size_t b)
{
	const struct source *x = &m->sources[a], *y = &m->sources[b];
	size_t n = x->term.length < y->term.length ? x->term.length
	                                           : y->term.length;
	int c = memcmp(x->text, y->text, n);

	if (c == 0 && x->term.length != y->term.length)
		c = x->term.length < y->term.length ? -1 : 1;
	return c < 0 || (c == 0 && a < b);
}

static void heap_down(struct merge *m, size_t i)
{
	for (;;) {
		size_t least = i, l = 2 * i + 1, r = l + 1, swap;
		if (l < m->heap_size && before(m, m->heap[l], m->heap[least]))
			least = l;
		if (r < m->heap_size && before(m, m->heap[r], m->heap[least]))
			least = r;
		if (least == i)
			return;
		swap = m->heap[i];
		m->heap[i] = m->heap[least];
		m->heap[least] = swap;
		i = least;
	}
}

/* The source with the least term off the heap, its next term read. */
static size_t heap_pop_advance(struct merge *m)
{
	size_t top = m->heap[0];
	int more = next_term(&m->sources[top]);

	if (more < 0)
		m->bad = 1;
	if (more <= 0)
		m->heap[0] = m->heap[--m->heap_size];
	return top;
}

static int same_text(const struct source *a,
                     const struct mas_index_term_rec *t,
                     const char *text)
{
	return a->term.length == t->length &&
	       memcmp(a->text, text, t->length) == 0;
}

/* Copies DF postings of source S to the merged postings, its passage
 * numbers made the merged index's. */
static void copy_postings(struct merge *m, struct source *s, uint32_t df)
{
	char chunk[4096];

	for (uint32_t i = 0; i < df; i++) {
		uint32_t p;
		if (take(&s->in, &p, sizeof(p)) != 0)
			m->bad = 1;
		p += s->passage_base;
		put(&m->out.post, &p, sizeof(p));
	}
	for (uint64_t left = (uint64_t)df * 3; left > 0;) {
		size_t n = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);
		uint64_t tf_left = left > df ? left - df : 0;
		/* the first 2 * df bytes are tf, the last df ttf */
		if (tf_left && n > tf_left)
			n = (size_t)tf_left;
		if (take(&s->in, chunk, n) != 0)
			m->bad = 1;
		put(tf_left ? &m->out.tf : &m->out.ttf, chunk, n);
		left -= n;
	}
}

/* One term of the merged index: every source whose current term is
 * the least, in segment order. */
static void merge_term(struct merge *m)
{
	struct source *s = &m->sources[m->heap[0]];
	struct mas_index_term_rec *t = mas_index_grow(&m->terms, sizeof(*t));
	uint64_t text = m->term_text.size;

	t->postings = m->h.postings;
	t->text = (uint32_t)text;
	t->length = s->term.length;
	t->df = 0;
	t->pad = 0;
	memcpy(mas_index_grow(&m->term_text, s->term.length + 1), s->text,
	       s->term.length + 1);
	while (m->heap_size > 0 &&
	       same_text(&m->sources[m->heap[0]], t,
	                 m->term_text.data + text)) {
		s = &m->sources[m->heap[0]];
		t->df += s->term.df;
		m->h.postings += s->term.df;
		copy_postings(m, s, s->term.df);
		heap_pop_advance(m);
		heap_down(m, 0);
	}
}

/* The segments' headers, and where each one's parts go. */
static int read_headers(struct merge *m, const struct mas_index_builder *b)
{
	uint64_t docs = 0, passages = 0, strings = 0;

	m->count = b->segment_count;
	m->sources = calloc(m->count ? m->count : 1, sizeof(*m->sources));
	if (!m->sources)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < m->count; i++) {
		struct source *s = &m->sources[i];
		reader_init(&s->in, b->segments[i], 0);
		if (take(&s->in, &s->h, sizeof(s->h)) != 0)
			return -1;
		s->doc_base = (uint32_t)docs;
		s->passage_base = (uint32_t)passages;
		s->strings_base = (uint32_t)strings;
		s->terms_left = s->h.terms;
		docs += s->h.docs;
		passages += s->h.passages;
		strings += s->h.strings_size;
		m->h.text_tokens += s->h.text_tokens;
		m->h.title_tokens += s->h.title_tokens;
		m->h.postings += s->h.postings;
		if (docs > UINT32_MAX || passages > UINT32_MAX ||
		    strings > UINT32_MAX)
			return 1;
	}
	m->h.docs = (uint32_t)docs;
	m->h.passages = (uint32_t)passages;
	m->doc_strings = strings;
	return 0;
}

void mas_index_layout(struct mas_index_header *h, uint64_t room, int fd,
                      struct mas_index_sections *out)
{
	memcpy(h->magic, MAS_INDEX_MAGIC, sizeof(MAS_INDEX_MAGIC));
	h->version = MAS_INDEX_FORMAT_VERSION;
	h->byte_order = MAS_INDEX_BYTE_ORDER;
	h->tokenizer = MAS_TEXT_VERSION;
	h->off_files = align8(sizeof(*h));
	h->off_docs = align8(h->off_files + (uint64_t)h->files *
	                     sizeof(struct mas_index_file_rec));
	h->off_passages = align8(h->off_docs + (uint64_t)h->docs *
	                         sizeof(struct mas_index_doc_rec));
	h->off_post = align8(h->off_passages + (uint64_t)h->passages *
	                     sizeof(struct mas_index_passage_rec));
	h->off_tf = align8(h->off_post + room * 4);
	h->off_ttf = align8(h->off_tf + room * 2);
	h->off_strings = align8(h->off_ttf + room);
	writer_init(&out->docs, fd, h->off_docs);
	writer_init(&out->passages, fd, h->off_passages);
	writer_init(&out->post, fd, h->off_post);
	writer_init(&out->tf, fd, h->off_tf);
	writer_init(&out->ttf, fd, h->off_ttf);
	writer_init(&out->strings, fd, h->off_strings);
}

void mas_index_sections_free(struct mas_index_sections *out)
{
	free(out->docs.buf);
	free(out->passages.buf);
	free(out->post.buf);
	free(out->tf.buf);
	free(out->ttf.buf);
	free(out->strings.buf);
	memset(out, 0, sizeof(*out));
}

int mas_index_sections_close(struct mas_index_sections *out)
{
	struct writer *all[] = {
		&out->docs, &out->passages, &out->post, &out->tf, &out->ttf,
		&out->strings
	};
	int error = 0;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int e = all[i]->buf ? writer_close(all[i]) : 0;
		if (!error)
			error = e;
	}
	return error;
}

/* Where the parts of M go; FILES, B's file records, written. */
static void layout_front(struct merge *m, int fd,
                         const struct mas_index_builder *b)
{
	struct mas_index_header *h = &m->h;
	struct mas_index_file_rec *files =
		(struct mas_index_file_rec *)b->files.data;
	struct writer w;

	h->files = (uint32_t)COUNT(b->files, struct mas_index_file_rec);
	mas_index_layout(h, h->postings, fd, &m->out);
	h->postings = 0; /* counted again as they are written */
	writer_init(&w, fd, h->off_files);
	for (uint32_t i = 0; i < h->files; i++) {
		struct mas_index_file_rec f = files[i];
		f.path += (uint32_t)m->doc_strings;
		put(&w, &f, sizeof(f));
	}
	m->bad |= writer_close(&w) != 0;
}

/* The documents, passages and text of source S, renumbered. */
static int copy_documents(struct merge *m, struct source *s)
{
	char chunk[4096];

	for (uint32_t i = 0; i < s->h.docs; i++) {
		struct mas_index_doc_rec d;
		if (take(&s->in, &d, sizeof(d)) != 0)
			return -1;
		d.id += s->strings_base;
		d.title += s->strings_base;
		d.path += s->strings_base;
		d.first_passage += s->passage_base;
		put(&m->out.docs, &d, sizeof(d));
	}
	for (uint32_t i = 0; i < s->h.passages; i++) {
		struct mas_index_passage_rec p;
		if (take(&s->in, &p, sizeof(p)) != 0)
			return -1;
		p.doc += s->doc_base;
		p.text += s->strings_base;
		put(&m->out.passages, &p, sizeof(p));
	}
	for (uint64_t left = s->h.strings_size; left > 0;) {
		size_t n = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);
		if (take(&s->in, chunk, n) != 0)
			return -1;
		put(&m->out.strings, chunk, n);
		left -= n;
	}
	return 0;
}

int mas_index_write_dictionary(int fd, struct mas_index_header *h,
                               const struct mas_index_term_rec *terms,
                               uint32_t count, const char *text,
                               uint64_t text_base)
{
	uint32_t *table, mask;
	struct writer w;
	int error;

	h->terms = count;
	h->table_size = mas_index_table_size(count);
	h->off_terms = align8(h->off_strings + h->strings_size);
	h->off_table = align8(h->off_terms + (uint64_t)count *
	                      sizeof(struct mas_index_term_rec));
	h->size = align8(h->off_table + (uint64_t)h->table_size * 4);
	table = calloc(h->table_size, sizeof(uint32_t));
	if (!table)
		mas_die(MAS_EXIT_IO, "out of memory");
	mask = h->table_size - 1;
	writer_init(&w, fd, h->off_terms);
	for (uint32_t i = 0; i < count; i++) {
		struct mas_index_term_rec rec = terms[i];
		uint32_t slot = mas_index_hash(text + rec.text,
		                               rec.length) & mask;
		rec.text = (uint32_t)(text_base + rec.text);
		put(&w, &rec, sizeof(rec));
		while (table[slot])
			slot = (slot + 1) & mask;
		table[slot] = i + 1;
	}
	writer_flush(&w);
	w.at = h->off_table;
	put(&w, table, (size_t)h->table_size * 4);
	error = writer_close(&w);
	free(table);
	return error;
}

static void merge_release(struct merge *m)
{
	for (size_t i = 0; i < m->count; i++) {
		free(m->sources[i].in.buf);
		free(m->sources[i].text);
	}
	free(m->sources);
	free(m->heap);
	free(m->terms.data);
	free(m->term_text.data);
	mas_index_sections_free(&m->out);
}

/* Every segment's terms, merged. */
static void merge_terms(struct merge *m)
{
	m->heap = malloc((m->count ? m->count : 1) * sizeof(size_t));
	if (!m->heap)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < m->count; i++) {
		int more = next_term(&m->sources[i]);
		if (more < 0)
			m->bad = 1;
		if (more > 0)
			m->heap[m->heap_size++] = i;
	}
	for (size_t i = m->heap_size / 2 + 1; i-- > 0;)
		heap_down(m, i);
	while (m->heap_size > 0 && !m->bad)
		merge_term(m);
}

void mas_index_put_tail(struct mas_index_header *h,
                        struct mas_index_sections *out, uint64_t doc_strings,
                        const struct mas_index_buf *paths,
                        const struct mas_index_buf *terms)
{
	/* never empty, so that the last byte is a NUL even in an empty
	 * index */
	if (paths->size)
		put(&out->strings, paths->data, paths->size);
	if (terms->size)
		put(&out->strings, terms->data, terms->size);
	else
		put(&out->strings, "", 1);
	h->doc_strings = doc_strings;
	h->strings_size = doc_strings + paths->size +
	                  (terms->size ? terms->size : 1);
}

static int close_writers(struct merge *m, const struct mas_index_builder *b)
{
	mas_index_put_tail(&m->h, &m->out, m->doc_strings, &b->file_paths,
	                   &m->term_text);
	return mas_index_sections_close(&m->out);
}

int mas_index_finish(int fd, const struct mas_index_header *h)
{
	struct writer w;
	int error;

	writer_init(&w, fd, 0);
	put(&w, h, sizeof(*h));
	error = writer_close(&w);
	if (!error && ftruncate(fd, (off_t)h->size) != 0)
		error = errno;
	if (!error && fsync(fd) != 0)
		error = errno;
	return error;
}

/* Merges B's segments into FD; 0, or an errno value (EFBIG: too big
 * for the format, EIO: a segment did not read back). */
static int merge_into(struct mas_index_builder *b, int fd,
                      struct mas_index_header *out)
{
	struct merge m;
	int error = 0, headers, failure;

	memset(&m, 0, sizeof(m));
	headers = read_headers(&m, b);
	if (headers != 0) {
		merge_release(&m);
		return headers > 0 ? EFBIG : EIO;
	}
	mas_index_close_files(b, m.h.docs);
	layout_front(&m, fd, b);
	for (size_t i = 0; i < m.count && !error; i++)
		if (copy_documents(&m, &m.sources[i]) != 0)
			error = EIO;
	if (!error)
		merge_terms(&m);
	if (m.bad)
		error = EIO;
	failure = close_writers(&m, b);
	if (failure && !error)
		error = failure;
	if (!error && m.h.strings_size > UINT32_MAX)
		error = EFBIG;
	if (!error)
		error = mas_index_write_dictionary(
			fd, &m.h, (const struct mas_index_term_rec *)
			m.terms.data, (uint32_t)COUNT(m.terms,
			struct mas_index_term_rec), m.term_text.data,
			m.doc_strings + b->file_paths.size);
	if (!error)
		error = mas_index_finish(fd, &m.h);
	*out = m.h;
	merge_release(&m);
	return error;
}

/* Frees B's buffers before the merge, which needs none of them. */
static void drop_buffers(struct mas_index_builder *b)
{
	struct mas_index_buf *bufs[] = {
		&b->strings, &b->term_text, &b->docs, &b->passages,
		&b->terms, &b->entries, &b->title_terms, &b->scratch
	};

	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
		free(bufs[i]->data);
		memset(bufs[i], 0, sizeof(*bufs[i]));
	}
}

/* Writes B's index to FD, the new file PATH; 0, or -1 with *ERROR. */
static int write_index(struct mas_index_builder *b, int fd, const char *path,
                       struct mas_index_header *h, char **error)
{
	int failure;

	if (!b->failed && (b->docs.size || b->segment_count == 0))
		mas_index_spill(b);
	if (b->failed)
		return mas_error_set(error, "%s", b->failed);
	drop_buffers(b);
	failure = merge_into(b, fd, h);
	if (failure == EFBIG)
		mas_error_set(error, "the corpus holds more than 4 GiB of "
		              "text");
	else if (failure)
		mas_error_set(error, "%s: %s", path, strerror(failure));
	return failure ? -1 : 0;
}

/* ---- the file in the state store ---- */

char *mas_index_dir(const struct mas_store *store)
{
	return mas_store_file_dir(store, "research-index");
}

static int fail(char **error, const char *what, sqlite3 *db)
{
	return mas_error_set(error, "%s: %s", what, sqlite3_errmsg(db));
}

/* The row kept for a corpus: its files' names (malloc'd). */
struct kept {
	char *file;            /* the base segment's */
	char *segments;        /* every segment's, base first, or NULL */
	char *layout;          /* the runs of live files, or NULL */
	uint64_t terms;
	int fresh;             /* made from the files of the signature */
};

static void kept_release(struct kept *k)
{
	free(k->file);
	free(k->segments);
	free(k->layout);
	memset(k, 0, sizeof(*k));
}

static char *column_text(sqlite3_stmt *st, int column)
{
	const unsigned char *text = sqlite3_column_text(st, column);
	char *copy;

	if (!text)
		return NULL;
	copy = strdup((const char *)text);
	if (!copy)
		mas_die(MAS_EXIT_IO, "out of memory");
	return copy;
}

/* The row kept for KEY into *K (K->file NULL when there is none): 0,
 * or -1 with *ERROR. */
static int kept_row(struct mas_store *store, const char *key,
                    const char *signature, struct kept *k, char **error)
{
	static const char sql[] =
		"SELECT file, files = ?2, segments, layout, terms"
		" FROM research_index WHERE corpus = ?1";
	sqlite3_stmt *st;
	int rc;

	memset(k, 0, sizeof(*k));
	if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(error, store->path, store->db);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, signature ? signature : "", -1,
	                  SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
		k->file = column_text(st, 0);
		k->fresh = sqlite3_column_int(st, 1);
		k->segments = column_text(st, 2);
		k->layout = column_text(st, 3);
		k->terms = (uint64_t)sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(error, store->path, store->db);
	return 0;
}

static int record(struct mas_store *store, const char *key,
                  const char *signature, const struct mas_index_row *row,
                  char **error)
{
	static const char sql[] =
		"INSERT OR REPLACE INTO research_index (corpus, files,"
		" created, documents, passages, data, file, segments, layout,"
		" terms) VALUES (?1, ?2, (julianday('now') - 2440587.5) *"
		" 86400.0, ?3, ?4, x'', ?5, ?6, ?7, ?8)";
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(error, store->path, store->db);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, signature, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)row->docs);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)row->passages);
	sqlite3_bind_text(st, 5, row->file, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, row->segments, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, row->layout, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)row->terms);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(error, store->path, store->db);
	return 0;
}

/* Whether WORD[0..N) is one of the space-separated LIST (NULL: none). */
static int listed(const char *list, const char *word, size_t n)
{
	for (const char *at = list; at && *at;) {
		size_t length = strcspn(at, " ");
		if (length == n && memcmp(at, word, n) == 0)
			return 1;
		at += length;
		at += *at == ' ';
	}
	return 0;
}

/* Whether the segments ROW keeps from before are still OLD's: another
 * update that committed meanwhile may have removed one. */
static int still_kept(const struct kept *old, const struct mas_index_row *row)
{
	const char *list = old->segments ? old->segments : old->file;

	for (const char *at = row->segments; at && *at;) {
		size_t n = strcspn(at, " ");
		int added = row->added && strlen(row->added) == n &&
		            memcmp(at, row->added, n) == 0;
		if (!added && !listed(list, at, n))
			return 0;
		at += n;
		at += *at == ' ';
	}
	return 1;
}

/* Points KEY's row at ROW's files; *OLD the row before. */
static int replace(struct mas_store *store, const char *key,
                   const char *signature, const struct mas_index_row *row,
                   struct kept *old, char **error)
{
	if (sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return fail(error, store->path, store->db);
	if (kept_row(store, key, NULL, old, error) != 0 ||
	    (!still_kept(old, row) &&
	     mas_error_set(error, "the index kept changed meanwhile")) ||
	    record(store, key, signature, row, error) != 0 ||
	    sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) !=
	            SQLITE_OK) {
		if (!*error)
			fail(error, store->path, store->db);
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Removes the index files of DIR no row names, left by a build that
 * was killed before it was kept (store-file.h). */
static void remove_orphans(struct mas_store *store, const char *dir)
{
	mas_store_file_prune(store, dir, ".idx", "SELECT 1 FROM"
	                     " research_index WHERE file = ?1 OR instr(' ' ||"
	                     " coalesce(segments, '') || ' ', ' ' || ?1 ||"
	                     " ' ') > 0", "an index");
}

/* Removes the files of OLD that ROW does not name (a process that has
 * one open keeps it until it closes it). */
static void remove_replaced(const char *dir, const struct kept *old,
                            const struct mas_index_row *row)
{
	const char *list = old->segments ? old->segments : old->file;

	for (const char *at = list; at && *at;) {
		size_t word = strcspn(at, " ");
		char *name = strndup(at, word);
		if (!name)
			mas_die(MAS_EXIT_IO, "out of memory");
		if (strcmp(name, row->file) != 0 &&
		    !listed(row->segments, name, strlen(name)) &&
		    strchr(name, '/') == NULL && name[0] != '.') {
			mas_store_file_remove(dir, name);
		}
		free(name);
		at += word;
		at += *at == ' ';
	}
}

int mas_index_keep_row(struct mas_store *store, const char *key,
                       const char *signature,
                       const struct mas_index_row *row, char **error)
{
	char *dir = mas_index_dir(store);
	struct kept old;
	int rc = replace(store, key, signature, row, &old, error);

	if (rc == 0) {
		remove_replaced(dir, &old, row);
		remove_orphans(store, dir);
	}
	kept_release(&old);
	free(dir);
	return rc;
}

int mas_index_keep(struct mas_store *store, const char *key,
                   const char *signature, const char *name,
                   const struct mas_index_header *h, char **error)
{
	struct mas_index_row row = {
		name, NULL, NULL, NULL, h->docs, h->passages, h->terms
	};

	return mas_index_keep_row(store, key, signature, &row, error);
}

int mas_index_store(struct mas_store *store, const char *key,
                    const char *signature,
                    struct mas_index_builder *builder, char **error)
{
	char *dir = mas_index_dir(store), *path = NULL, *name = NULL;
	struct mas_index_header h;
	int rc = -1, fd = -1;

	*error = NULL;
	if (builder->spill_dir ||
	    mas_index_builder_spill(builder, dir, SIZE_MAX, error) == 0)
		fd = mas_store_file_create(dir, ".idx", &name, error);
	if (fd >= 0) {
		path = mas_store_file_join(dir, name);
		rc = write_index(builder, fd, path, &h, error);
		if (close(fd) != 0 && rc == 0)
			rc = mas_error_set(error, "%s: %s", path,
			                   strerror(errno));
		if (rc == 0)
			rc = mas_index_keep(store, key, signature, name, &h,
			                    error);
		if (rc != 0)
			unlink(path);
	}
	mas_index_builder_free(builder);
	free(path);
	free(name);
	free(dir);
	return rc;
}

/* FILE in DIR mapped, or NULL: *ERROR set when it could not be read. */
static struct mas_index *map_file(const char *dir, const char *file,
                                  char **error)
{
	size_t size = 0;
	char *block = mas_store_file_map(dir, file, &size, error);
	struct mas_index *index;

	if (!block)
		return NULL;
	index = mas_index_attach(block, size, 1);
	if (index) {
		index->name = strdup(file);
		if (!index->name)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	return index;
}

/* The run WORD ("segment:first:count", up to a space or the end) into
 * *RUN; -1 when it is not one. */
static int parse_run(const char *word, struct mas_index_run *run)
{
	uint32_t v[3];

	for (int i = 0; i < 3; i++) {
		char *end;
		unsigned long long n;
		if (*word < '0' || *word > '9')
			return -1;
		n = strtoull(word, &end, 10);
		if (n > UINT32_MAX || *end != (i < 2 ? ':' : *end) ||
		    (i == 2 && *end != ' ' && *end != '\0'))
			return -1;
		v[i] = (uint32_t)n;
		word = end + 1;
	}
	run->segment = v[0];
	run->first_file = v[1];
	run->files = v[2];
	return 0;
}

/* The runs of LAYOUT ("segment:first:count ..."), malloc'd, their
 * count in *COUNT; NULL when it is not one. */
static struct mas_index_run *parse_layout(const char *layout, size_t *count)
{
	struct mas_index_run *runs = malloc((strlen(layout) / 6 + 1) *
	                                    sizeof(*runs));

	if (!runs)
		mas_die(MAS_EXIT_IO, "out of memory");
	*count = 0;
	for (const char *at = layout; *at;) {
		if (parse_run(at, &runs[*count]) != 0) {
			free(runs);
			return NULL;
		}
		(*count)++;
		at += strcspn(at, " ");
		at += *at == ' ';
	}
	return runs;
}

/* The segments K names mapped and seen as one index, or NULL: *ERROR
 * set when one could not be read, not when one is gone or damaged. */
static struct mas_index *map_view(const char *dir, const struct kept *k,
                                  char **error)
{
	struct mas_index *segs[MAS_INDEX_SEGMENTS_MAX], *view;
	struct mas_index_run *runs;
	uint32_t count = 0;
	size_t run_count;
	const char *at = k->segments;
	int bad = 0;

	while (*at && !bad) {
		size_t word = strcspn(at, " ");
		char *name = strndup(at, word);
		if (!name)
			mas_die(MAS_EXIT_IO, "out of memory");
		bad = count == MAS_INDEX_SEGMENTS_MAX ||
		      strchr(name, '/') != NULL;
		if (!bad) {
			segs[count] = map_file(dir, name, error);
			bad = segs[count] == NULL;
			count += !bad;
		}
		free(name);
		at += word;
		at += *at == ' ';
	}
	runs = bad || !k->layout ? NULL : parse_layout(k->layout, &run_count);
	if (!runs) {
		while (count > 0)
			mas_index_free(segs[--count]);
		return NULL;
	}
	view = mas_index_compose(segs, count, 1, runs, run_count, k->terms);
	free(runs);
	if (!view)
		mas_info("%s: the layout of index %s does not fit its "
		         "segments", dir, k->file);
	return view;
}

/* The index kept under KEY, when its signature is SIGNATURE or ANY. */
static struct mas_index *load(struct mas_store *store, const char *key,
                              const char *signature, int any, char **error)
{
	struct mas_index *index = NULL;
	struct kept k;
	char *dir;

	*error = NULL;
	if (kept_row(store, key, signature, &k, error) != 0 || !k.file ||
	    !(k.fresh || any)) {
		kept_release(&k);
		return NULL;
	}
	dir = mas_index_dir(store);
	if (k.segments)
		index = map_view(dir, &k, error);
	else if (strchr(k.file, '/') == NULL)
		index = map_file(dir, k.file, error);
	free(dir);
	kept_release(&k);
	return index;
}

struct mas_index *mas_index_load(struct mas_store *store, const char *key,
                                 const char *signature, char **error)
{
	return load(store, key, signature, 0, error);
}

struct mas_index *mas_index_load_any(struct mas_store *store,
                                     const char *key, char **error)
{
	return load(store, key, NULL, 1, error);
}
