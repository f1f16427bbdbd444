/*
 * index-update.c — an index made of files taken from other indexes: the
 * unchanged files of the index kept before and the files read again
 * (mas_index_store_pieces, index.h).
 *
 * The documents of each piece are copied in the order of the pieces,
 * with their passages and, as one span, their strings (a file's
 * documents' strings follow each other, index-private.h), and a map per
 * source says where each of its passages went.  Then the terms of all
 * sources are merged in byte order of their text, each term's postings
 * being the sources' mapped through those maps, the postings of
 * passages left out dropped, in passage order.  The postings sections
 * are sized for every posting of the sources; those dropped leave room
 * unused at their ends (a file's worth, for a file changed).
 *
 * Reading a kept index costs no memory for its text or postings: they
 * are copied from its mapping in order and the pages read are given
 * back as the copy goes (mas_index_release_pages).
 *
 * An update (mas_index_store_update) does that only to compact: else it
 * writes the index of the files read (built in memory) as a new segment
 * file and keeps a row naming the segments that still hold a live file
 * and the runs of live files in corpus order (index-segments.c).  The
 * row's count of terms is the old one's, less the terms of the files
 * dropped (tokenized again: their text is in the old segments) that no
 * live passage holds any more, plus the new segment's that the old
 * index did not hold: work in proportion to the files changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index-private.h"
#include "log.h"
#include "mas.h"
#include "store-file.h"
#include "banned.h"

#define COUNT(buffer, type) ((buffer).size / sizeof(type))
#define DROPPED UINT32_MAX
/* A source's pages read are given back by this many bytes at least:
 * giving back flushes the TLB, which costs more than the copy when done
 * for a small part. */
#define RELEASE_EVERY (8u << 20)

/* An index pieces are taken from. */
struct source {
	const struct mas_index *index;
	const struct mas_index_header *h;
	const char *block;
	const struct mas_index_doc_rec *docs;
	const struct mas_index_passage_rec *passages;
	const struct mas_index_term_rec *terms;
	const uint32_t *post;
	const uint16_t *tf;
	const uint8_t *ttf;
	const char *strings;
	uint32_t *map;         /* passage -> merged passage, or DROPPED */
	uint32_t *order;       /* its terms in byte order of their text */
	uint32_t next;         /* in ORDER */
	uint64_t released;     /* postings given back up to here */
	uint64_t strings_released; /* strings given back up to here */
};

struct update {
	struct source *sources;
	size_t count;
	struct mas_index_header h;
	struct mas_index_writer files;
	struct mas_index_sections out;
	struct mas_index_buf paths, terms, term_text;
	uint64_t bound;        /* of postings: the sources' */
};

/* The source of INDEX in U, added when new. */
static struct source *source_of(struct update *u,
                                const struct mas_index *index)
{
	struct source *s;

	for (size_t i = 0; i < u->count; i++)
		if (u->sources[i].index == index)
			return &u->sources[i];
	u->sources = realloc(u->sources, (u->count + 1) * sizeof(*s));
	if (!u->sources)
		mas_die(MAS_EXIT_IO, "out of memory");
	s = &u->sources[u->count++];
	memset(s, 0, sizeof(*s));
	s->index = index;
	s->h = mas_index_header_of(index);
	s->block = (const char *)s->h;
	s->docs = (const void *)(s->block + s->h->off_docs);
	s->passages = (const void *)(s->block + s->h->off_passages);
	s->terms = (const void *)(s->block + s->h->off_terms);
	s->post = (const void *)(s->block + s->h->off_post);
	s->tf = (const void *)(s->block + s->h->off_tf);
	s->ttf = (const void *)(s->block + s->h->off_ttf);
	s->strings = s->block + s->h->off_strings;
	s->map = malloc((s->h->passages ? s->h->passages : 1) *
	                sizeof(uint32_t));
	if (!s->map)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (uint32_t p = 0; p < s->h->passages; p++)
		s->map[p] = DROPPED;
	u->bound += s->h->postings;
	return s;
}

/* A file's documents in a source, and the span of their strings. */
struct span {
	uint32_t first, docs;
	uint64_t start, end;
};

static int inside(const struct span *sp, uint64_t at, uint64_t length)
{
	return at >= sp->start && at < sp->end && length < sp->end - at;
}

/* Whether the documents and passages of SP are where they should be:
 * each document's passages its own, each string inside the span. */
static int span_ok(const struct source *s, const struct span *sp)
{
	for (uint32_t d = sp->first; d < sp->first + sp->docs; d++) {
		const struct mas_index_doc_rec *doc = &s->docs[d];
		uint64_t end = (uint64_t)doc->first_passage +
		               doc->passage_count;
		if (!inside(sp, doc->id, 0) || !inside(sp, doc->title, 0) ||
		    !inside(sp, doc->path, 0) || end > s->h->passages)
			return 0;
		for (uint32_t p = doc->first_passage; p < end; p++)
			if (s->passages[p].doc != d ||
			    !inside(sp, s->passages[p].text,
			            s->passages[p].length))
				return 0;
	}
	return 1;
}

/* The documents of PIECE and their strings' span into *SP; -1 when
 * the source is damaged. */
static int piece_span(const struct source *s,
                      const struct mas_index_piece *piece,
                      struct span *sp)
{
	struct mas_index_file f;

	mas_index_file(s->index, piece->file, &f);
	sp->first = f.first_doc;
	sp->docs = f.docs;
	sp->start = sp->end = 0;
	if (f.docs == 0)
		return 0;
	sp->start = s->docs[f.first_doc].id;
	sp->end = f.first_doc + f.docs < s->h->docs
	                  ? s->docs[f.first_doc + f.docs].id
	                  : s->h->doc_strings;
	if (sp->end > s->h->doc_strings || sp->start > sp->end)
		return -1;
	return span_ok(s, sp) ? 0 : -1;
}

/* Counts what PIECES bring into U->h and maps their passages; -1 when
 * a source is damaged, 1 when the index would be too large. */
static int plan(struct update *u, const struct mas_index_piece *pieces,
                size_t count)
{
	uint64_t docs = 0, passages = 0, strings = 0;

	for (size_t i = 0; i < count; i++) {
		struct source *s = source_of(u, pieces[i].index);
		struct span sp;
		if (pieces[i].file >= s->h->files ||
		    piece_span(s, &pieces[i], &sp) != 0)
			return -1;
		docs += sp.docs;
		strings += sp.end - sp.start;
		for (uint32_t d = sp.first; d < sp.first + sp.docs; d++) {
			const struct mas_index_doc_rec *doc = &s->docs[d];
			for (uint32_t k = 0; k < doc->passage_count; k++) {
				const struct mas_index_passage_rec *p =
					&s->passages[doc->first_passage + k];
				s->map[doc->first_passage + k] =
					(uint32_t)passages++;
				u->h.text_tokens += p->tokens;
				u->h.title_tokens += p->title_tokens;
			}
		}
		if (docs > UINT32_MAX || passages >= UINT32_MAX ||
		    strings > UINT32_MAX)
			return 1;
	}
	u->h.files = (uint32_t)count;
	u->h.docs = (uint32_t)docs;
	u->h.passages = (uint32_t)passages;
	u->h.doc_strings = strings;
	return 0;
}

static void layout(struct update *u, int fd)
{
	mas_index_layout(&u->h, u->bound, fd, &u->out);
	mas_index_writer_init(&u->files, fd, u->h.off_files);
}

/* The file, documents, passages and strings of PIECE, renumbered;
 * *DOCS and *STRINGS count what was written before. */
static void copy_piece(struct update *u, const struct mas_index_piece *piece,
                       uint32_t *docs, uint64_t *strings)
{
	struct source *s = source_of(u, piece->index);
	struct mas_index_file f;
	struct mas_index_file_rec rec;
	struct span sp;
	uint32_t delta;

	piece_span(s, piece, &sp); /* checked by plan */
	mas_index_file(s->index, piece->file, &f);
	memset(&rec, 0, sizeof(rec));
	rec.size = f.size < 0 ? 0 : (uint64_t)f.size;
	rec.mtime_ns = f.mtime_ns;
	/* the paths follow the documents' strings */
	rec.path = (uint32_t)(u->h.doc_strings + u->paths.size);
	rec.first_doc = *docs;
	rec.docs = sp.docs;
	memcpy(mas_index_grow(&u->paths, strlen(f.path) + 1), f.path,
	       strlen(f.path) + 1);
	mas_index_put(&u->files, &rec, sizeof(rec));
	/* offsets move by the same amount, whichever way (mod 2^32) */
	delta = (uint32_t)(*strings - sp.start);
	for (uint32_t d = sp.first; d < sp.first + sp.docs; d++) {
		struct mas_index_doc_rec doc = s->docs[d];
		uint32_t first = doc.first_passage;
		doc.id += delta;
		doc.title += delta;
		doc.path += delta;
		doc.first_passage = s->map[first];
		for (uint32_t k = 0; k < doc.passage_count; k++) {
			struct mas_index_passage_rec p =
				s->passages[first + k];
			p.doc = *docs;
			p.text += delta;
			mas_index_put(&u->out.passages, &p, sizeof(p));
		}
		mas_index_put(&u->out.docs, &doc, sizeof(doc));
		(*docs)++;
	}
	mas_index_put(&u->out.strings, s->strings + sp.start,
	              (size_t)(sp.end - sp.start));
	if (sp.end >= s->strings_released + RELEASE_EVERY) {
		mas_index_release_pages(s->index, s->h->off_strings +
		                        s->strings_released,
		                        s->h->off_strings + sp.end);
		s->strings_released = sp.end;
	}
	*strings += sp.end - sp.start;
}

/* ---- terms ---- */

/* The text of term T of S, its length in *LENGTH; NULL when damaged. */
static const char *term_text(const struct source *s, uint32_t t,
                             uint32_t *length)
{
	const struct mas_index_term_rec *rec = &s->terms[t];

	*length = rec->length;
	if ((uint64_t)rec->text + rec->length >= s->h->strings_size)
		return NULL;
	return s->strings + rec->text;
}

static int compare_text(const char *a, uint32_t na, const char *b,
                        uint32_t nb)
{
	int c = memcmp(a, b, na < nb ? na : nb);

	if (c)
		return c;
	return na < nb ? -1 : na > nb;
}

/* The source whose terms are being sorted (qsort has no context). */
static _Thread_local const struct source *sorting;

static int by_text(const void *a, const void *b)
{
	uint32_t na, nb;
	const char *x = term_text(sorting, *(const uint32_t *)a, &na);
	const char *y = term_text(sorting, *(const uint32_t *)b, &nb);

	if (!x || !y)
		return !x - !y;
	return compare_text(x, na, y, nb);
}

/* S's terms in byte order: those of a stored index are already. */
static void sort_terms(struct source *s)
{
	uint32_t n = s->h->terms;
	int sorted = 1;

	s->order = malloc((n ? n : 1) * sizeof(uint32_t));
	if (!s->order)
		mas_die(MAS_EXIT_IO, "out of memory");
	sorting = s;
	for (uint32_t t = 0; t < n; t++) {
		s->order[t] = t;
		if (t > 0 && sorted && by_text(&s->order[t - 1],
		                               &s->order[t]) >= 0)
			sorted = 0;
	}
	if (!sorted)
		qsort(s->order, n, sizeof(uint32_t), by_text);
	sorting = NULL;
}

/* A source's postings of the term being merged. */
struct run {
	struct source *s;
	uint64_t at, end;
};

/* The merged passage of RUN's next posting, skipping those dropped;
 * DROPPED when there is none. */
static uint32_t run_head(struct run *run)
{
	while (run->at < run->end) {
		uint32_t p = run->s->post[run->at];
		if (p < run->s->h->passages && run->s->map[p] != DROPPED)
			return run->s->map[p];
		run->at++;
	}
	return DROPPED;
}

/* Gives back the pages of S's postings read, now and then. */
static void release_postings(struct source *s, uint64_t upto)
{
	const struct mas_index_header *h = s->h;

	if (upto < s->released + RELEASE_EVERY / 4)
		return;
	mas_index_release_pages(s->index, h->off_post + s->released * 4,
	                        h->off_post + upto * 4);
	mas_index_release_pages(s->index, h->off_tf + s->released * 2,
	                        h->off_tf + upto * 2);
	mas_index_release_pages(s->index, h->off_ttf + s->released,
	                        h->off_ttf + upto);
	s->released = upto;
}

/* Writes the postings of RUN, a term only one source holds; returns
 * how many.  Its counts are copied whole when no posting is dropped
 * (most terms: a file changed holds few of them). */
static uint32_t copy_run(struct update *u, struct run *run)
{
	const struct source *s = run->s;
	uint32_t chunk[1024], df = 0;
	size_t n = 0;

	for (uint64_t i = run->at; i < run->end; i++) {
		uint32_t p = s->post[i];
		if (p >= s->h->passages || s->map[p] == DROPPED)
			continue;
		chunk[n++] = s->map[p];
		df++;
		if (n == sizeof(chunk) / sizeof(chunk[0])) {
			mas_index_put(&u->out.post, chunk, sizeof(chunk));
			n = 0;
		}
	}
	mas_index_put(&u->out.post, chunk, n * sizeof(uint32_t));
	if (df == run->end - run->at) {
		mas_index_put(&u->out.tf, s->tf + run->at, df * sizeof(uint16_t));
		mas_index_put(&u->out.ttf, s->ttf + run->at, df);
		return df;
	}
	for (uint64_t i = run->at; i < run->end; i++) {
		uint32_t p = s->post[i];
		if (p >= s->h->passages || s->map[p] == DROPPED)
			continue;
		mas_index_put(&u->out.tf, &s->tf[i], sizeof(uint16_t));
		mas_index_put(&u->out.ttf, &s->ttf[i], 1);
	}
	return df;
}

/* Writes the postings of RUNS[0..N) in merged passage order; returns
 * how many. */
static uint32_t merge_postings(struct update *u, struct run *runs, size_t n)
{
	uint32_t df = 0;

	if (n == 1) {
		df = copy_run(u, &runs[0]);
		release_postings(runs[0].s, runs[0].end);
		return df;
	}

	for (;;) {
		size_t best = n;
		uint32_t least = DROPPED;
		for (size_t i = 0; i < n; i++) {
			uint32_t p = run_head(&runs[i]);
			if (p < least) {
				least = p;
				best = i;
			}
		}
		if (best == n)
			break;
		mas_index_put(&u->out.post, &least, sizeof(least));
		mas_index_put(&u->out.tf, &runs[best].s->tf[runs[best].at], 2);
		mas_index_put(&u->out.ttf, &runs[best].s->ttf[runs[best].at], 1);
		runs[best].at++;
		df++;
	}
	for (size_t i = 0; i < n; i++)
		release_postings(runs[i].s, runs[i].end);
	return df;
}

/* The least current term text of the sources (NULL: none left). */
static const char *least_term(struct update *u, uint32_t *length)
{
	const char *least = NULL;

	for (size_t i = 0; i < u->count; i++) {
		struct source *s = &u->sources[i];
		uint32_t n;
		const char *text;
		while (s->next < s->h->terms &&
		       !term_text(s, s->order[s->next], &n))
			s->next++; /* a damaged term */
		if (s->next >= s->h->terms)
			continue;
		text = term_text(s, s->order[s->next], &n);
		if (!least || compare_text(text, n, least, *length) < 0) {
			least = text;
			*length = n;
		}
	}
	return least;
}

/* One merged term: the sources' terms of that text. */
static void merge_term(struct update *u, const char *text, uint32_t length,
                       struct run *runs)
{
	struct mas_index_term_rec rec = { 0, length, 0, 0, u->h.postings };
	size_t n = 0;

	for (size_t i = 0; i < u->count; i++) {
		struct source *s = &u->sources[i];
		const struct mas_index_term_rec *t;
		uint32_t m;
		const char *x;
		if (s->next >= s->h->terms)
			continue;
		t = &s->terms[s->order[s->next]];
		x = term_text(s, s->order[s->next], &m);
		if (compare_text(x, m, text, length) != 0)
			continue;
		s->next++;
		if (t->df > s->h->postings || t->postings > s->h->postings -
		                                            t->df)
			continue; /* damaged */
		runs[n].s = s;
		runs[n].at = t->postings;
		runs[n++].end = t->postings + t->df;
	}
	rec.text = (uint32_t)u->term_text.size;
	memcpy(mas_index_grow(&u->term_text, length + 1), text, length);
	u->term_text.data[u->term_text.size - 1] = '\0';
	rec.df = merge_postings(u, runs, n);
	u->h.postings += rec.df;
	if (rec.df == 0) {
		u->term_text.size -= length + 1; /* held by no passage now */
		return;
	}
	memcpy(mas_index_grow(&u->terms, sizeof(rec)), &rec, sizeof(rec));
}

static void merge_terms(struct update *u)
{
	struct run *runs = malloc((u->count ? u->count : 1) * sizeof(*runs));
	const char *text;
	uint32_t length = 0;

	if (!runs)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < u->count; i++)
		sort_terms(&u->sources[i]);
	while ((text = least_term(u, &length)) != NULL)
		merge_term(u, text, length, runs);
	free(runs);
}

/* ---- the file ---- */

static int close_all(struct update *u)
{
	int error = mas_index_writer_close(&u->files), other;

	mas_index_put_tail(&u->h, &u->out, u->h.doc_strings, &u->paths,
	                   &u->term_text);
	other = mas_index_sections_close(&u->out);
	if (!error)
		error = other;
	if (!error && u->h.strings_size > UINT32_MAX)
		error = EFBIG;
	return error;
}

/* Writes the index of PIECES to FD: 0, an errno value, or -1 when a
 * source is damaged. */
static int write_pieces(struct update *u, int fd,
                        const struct mas_index_piece *pieces, size_t count)
{
	uint64_t strings = 0;
	uint32_t docs = 0;
	int error = plan(u, pieces, count);

	if (error)
		return error > 0 ? EFBIG : -1;
	layout(u, fd);
	for (size_t i = 0; i < count; i++)
		copy_piece(u, &pieces[i], &docs, &strings);
	merge_terms(u);
	error = close_all(u);
	if (!error)
		error = mas_index_write_dictionary(
			fd, &u->h, (const struct mas_index_term_rec *)
			u->terms.data, (uint32_t)COUNT(u->terms,
			struct mas_index_term_rec), u->term_text.data,
			u->h.doc_strings + u->paths.size);
	if (!error)
		error = mas_index_finish(fd, &u->h);
	return error;
}

static void release(struct update *u)
{
	for (size_t i = 0; i < u->count; i++) {
		free(u->sources[i].map);
		free(u->sources[i].order);
	}
	free(u->sources);
	free(u->paths.data);
	free(u->terms.data);
	free(u->term_text.data);
	/* the writers' buffers, when a failure left them open */
	free(u->files.buf);
	mas_index_sections_free(&u->out);
}

int mas_index_store_pieces(struct mas_store *store, const char *key,
                           const char *signature,
                           const struct mas_index_piece *pieces,
                           size_t count, char **error)
{
	char *dir = mas_index_dir(store), *path, *name = NULL;
	struct update u;
	int fd, failure;

	*error = NULL;
	memset(&u, 0, sizeof(u));
	fd = mas_store_file_create(dir, ".idx", &name, error);
	if (fd < 0) {
		free(dir);
		return -1;
	}
	path = mas_store_file_join(dir, name);
	free(dir);
	failure = write_pieces(&u, fd, pieces, count);
	if (close(fd) != 0 && !failure)
		failure = errno;
	if (failure < 0)
		mas_error_set(error, "the index kept is damaged");
	else if (failure == EFBIG)
		mas_error_set(error, "the corpus holds more than 4 GiB of "
		              "text");
	else if (failure)
		mas_error_set(error, "%s: %s", path, strerror(failure));
	if (failure ||
	    mas_index_keep(store, key, signature, name, &u.h, error) != 0) {
		unlink(path);
		failure = -1;
	}
	release(&u);
	free(path);
	free(name);
	return failure ? -1 : 0;
}

/* ---- an update as a new segment ---- */

/* A piece resolved to the segment holding it. */
struct placed {
	const struct mas_index *seg;
	uint32_t file;
	uint32_t passages;     /* live in it */
};

/* Passages of file FILE of SEG; UINT32_MAX when damaged. */
static uint32_t file_passages(const struct mas_index *seg, uint32_t file)
{
	const struct mas_index_header *h = seg->h;
	struct mas_index_file f;
	const struct mas_index_doc_rec *last;
	uint64_t end;

	if (file >= h->files)
		return UINT32_MAX;
	mas_index_file(seg, file, &f);
	if (f.docs == 0)
		return 0;
	last = &seg->docs[f.first_doc + f.docs - 1];
	end = (uint64_t)last->first_passage + last->passage_count;
	if (end > h->passages || seg->docs[f.first_doc].first_passage > end)
		return UINT32_MAX;
	return (uint32_t)(end - seg->docs[f.first_doc].first_passage);
}

/* The new index: its segments that hold a piece, in the order of
 * OLD's then FRESH, and its pieces placed in them. */
struct layout_plan {
	const struct mas_index *segs[MAS_INDEX_SEGMENTS_MAX + 1];
	uint32_t count;
	struct placed *placed;
	uint64_t live, stored, base_live;
	int damaged;
};

static int32_t seg_number(const struct layout_plan *lp,
                          const struct mas_index *seg)
{
	for (uint32_t s = 0; s < lp->count; s++)
		if (lp->segs[s] == seg)
			return (int32_t)s;
	return -1;
}

static void plan_layout(struct layout_plan *lp, const struct mas_index *old,
                        const struct mas_index *fresh,
                        const struct mas_index_piece *pieces, size_t count)
{
	uint32_t old_count = old->segs ? old->seg_count : 1;
	int used[MAS_INDEX_SEGMENTS_MAX + 1] = { 0 };

	memset(lp, 0, sizeof(*lp));
	lp->placed = calloc(count + 1, sizeof(*lp->placed));
	if (!lp->placed)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < count; i++) {
		struct placed *pl = &lp->placed[i];
		if (pieces[i].index == old)
			mas_index_file_source(old, pieces[i].file, &pl->seg,
			                      &pl->file);
		else {
			pl->seg = pieces[i].index;
			pl->file = pieces[i].file;
		}
		pl->passages = file_passages(pl->seg, pl->file);
		lp->damaged |= pl->passages == UINT32_MAX;
		for (uint32_t s = 0; s < old_count; s++)
			used[s] |= pl->seg == (old->segs ? old->segs[s] : old);
		used[old_count] |= pl->seg == fresh;
	}
	for (uint32_t s = 0; s <= old_count; s++)
		if (used[s])
			lp->segs[lp->count++] = s < old_count
				? (old->segs ? old->segs[s] : old) : fresh;
	for (uint32_t s = 0; s < lp->count; s++)
		lp->stored += lp->segs[s]->h->passages;
	for (size_t i = 0; i < count && !lp->damaged; i++) {
		lp->live += lp->placed[i].passages;
		if (lp->placed[i].seg == lp->segs[0] && lp->segs[0] != fresh)
			lp->base_live += lp->placed[i].passages;
	}
}

int mas_index_compacts(uint32_t segments, uint64_t stored, uint64_t base_live,
                       uint64_t live)
{
	return segments > MAS_INDEX_SEGMENTS_MAX ||
	       (stored - base_live) * MAS_INDEX_DELTA_SHARE > live;
}

/* The layout of the pieces in LP as runs (malloc'd text). */
static char *layout_text(const struct layout_plan *lp, size_t count,
                         struct mas_index_run **runs, size_t *run_count)
{
	struct mas_index_buf text = { NULL, 0, 0 };
	size_t n = 0;

	*runs = calloc(count + 1, sizeof(**runs));
	if (!*runs)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < count; i++) {
		uint32_t s = (uint32_t)seg_number(lp, lp->placed[i].seg);
		struct mas_index_run *last = n ? &(*runs)[n - 1] : NULL;
		if (last && last->segment == s &&
		    last->first_file + last->files == lp->placed[i].file) {
			last->files++;
			continue;
		}
		(*runs)[n].segment = s;
		(*runs)[n].first_file = lp->placed[i].file;
		(*runs)[n++].files = 1;
	}
	for (size_t i = 0; i < n; i++) {
		char word[40];
		int w = snprintf(word, sizeof(word), "%s%u:%u:%u",
		                 i ? " " : "", (*runs)[i].segment,
		                 (*runs)[i].first_file, (*runs)[i].files);
		memcpy(mas_index_grow(&text, (size_t)w), word, (size_t)w);
	}
	*(char *)mas_index_grow(&text, 1) = '\0';
	*run_count = n;
	return text.data;
}

/* The distinct terms of NEW, counted from OLD's: less those of the
 * files of OLD that NEW drops that no live passage of NEW holds, plus
 * those of FRESH that OLD holds in none. */
static uint64_t count_terms(const struct mas_index *old, struct mas_index *new,
                            const struct mas_index *fresh,
                            const struct mas_index_piece *pieces,
                            size_t count)
{
	uint32_t files = mas_index_files(old);
	char *kept = calloc(files + 1, 1);
	struct mas_index_builder *dead = mas_index_builder_new();
	const struct mas_index_term_rec *t;
	uint64_t terms = mas_index_terms(old);

	if (!kept)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < count; i++)
		if (pieces[i].index == old && pieces[i].file < files)
			kept[pieces[i].file] = 1;
	for (uint32_t f = 0; f < files; f++) {
		struct mas_index_file file;
		if (kept[f])
			continue;
		mas_index_file(old, f, &file);
		for (uint32_t d = file.first_doc;
		     d < file.first_doc + file.docs; d++) {
			uint32_t first, end;
			struct mas_index_passage p;
			if (old->segs)
				mas_index_view_doc_passages(old, d, &first,
				                            &end);
			else {
				first = old->docs[d].first_passage;
				end = first + old->docs[d].passage_count;
				if (end > old->h->passages || first > end)
					first = end = 0; /* damaged */
			}
			for (uint32_t k = first; k < end; k++) {
				mas_index_passage(old, k, &p);
				if (k == first)
					mas_index_add_document(dead, "",
					                       p.title, "");
				mas_index_add_passage(dead, p.text, p.length);
			}
		}
	}
	t = (const struct mas_index_term_rec *)dead->terms.data;
	for (size_t i = 0; i < COUNT(dead->terms, struct mas_index_term_rec);
	     i++) {
		const char *text = dead->term_text.data + t[i].text;
		/* OLD holds it: its passage was live there */
		terms -= mas_index_term(new, text, t[i].length) < 0;
	}
	/* every passage of FRESH is live in NEW */
	for (uint32_t i = 0; fresh && i < fresh->h->terms; i++)
		terms += mas_index_term(old, fresh->strings +
		                        fresh->terms[i].text,
		                        fresh->terms[i].length) < 0;
	mas_index_builder_free(dead);
	free(kept);
	return terms;
}

/* Writes INDEX's block (built in memory) to a new file of DIR, synced;
 * its name into *NAME (malloc'd).  0, or -1 with *ERROR. */
static int write_block(const char *dir, const struct mas_index *index,
                       char **name, char **error)
{
	return mas_store_file_write(dir, ".idx", index->block,
	                            (size_t)index->h->size, name, error);
}

/* Keeps the pieces of LP as a view of its segments, FRESH's written as
 * a new one: 0, or -1 with *ERROR. */
static int store_view(struct mas_store *store, const char *key,
                      const char *signature, const struct mas_index *old,
                      const struct mas_index *fresh,
                      const struct mas_index_piece *pieces, size_t count,
                      struct layout_plan *lp, char **error)
{
	char *dir = mas_index_dir(store), *name = NULL;
	struct mas_index_buf names = { NULL, 0, 0 };
	struct mas_index_run *runs;
	struct mas_index *view;
	struct mas_index_row row;
	size_t run_count;
	char *layout = layout_text(lp, count, &runs, &run_count);
	int new_seg = seg_number(lp, fresh) >= 0, rc = -1;

	if (new_seg && write_block(dir, fresh, &name, error) != 0)
		goto done;
	for (uint32_t s = 0; s < lp->count; s++) {
		const char *n = lp->segs[s] == fresh ? name
		                                     : lp->segs[s]->name;
		if (!n) {
			mas_error_set(error, "a segment of the index kept "
			              "has no file");
			goto done;
		}
		if (s)
			*(char *)mas_index_grow(&names, 1) = ' ';
		memcpy(mas_index_grow(&names, strlen(n)), n, strlen(n));
	}
	*(char *)mas_index_grow(&names, 1) = '\0';
	view = mas_index_compose((struct mas_index **)lp->segs, lp->count, 0,
	                         runs, run_count, 0);
	if (!view) {
		mas_error_set(error, "the index kept is damaged");
		goto done;
	}
	row.file = lp->segs[0] == fresh ? name : lp->segs[0]->name;
	row.segments = names.data;
	row.layout = layout;
	row.added = new_seg ? name : NULL;
	row.docs = mas_index_documents(view);
	row.passages = mas_index_passages(view);
	row.terms = count_terms(old, view, new_seg ? fresh : NULL, pieces,
	                        count);
	mas_index_free(view);
	rc = mas_index_keep_row(store, key, signature, &row, error);
done:
	if (rc != 0)
		mas_store_file_remove(dir, name);
	free(name);
	free(names.data);
	free(layout);
	free(runs);
	free(dir);
	return rc;
}

int mas_index_store_update(struct mas_store *store, const char *key,
                           const char *signature,
                           const struct mas_index *old,
                           const struct mas_index *fresh,
                           const struct mas_index_piece *pieces,
                           size_t count, uint32_t *segments, char **error)
{
	struct layout_plan lp;
	int rc;

	*error = NULL;
	plan_layout(&lp, old, fresh, pieces, count);
	if (lp.damaged) {
		free(lp.placed);
		return mas_error_set(error, "the index kept is damaged");
	}
	if (lp.count == 0 || lp.segs[0] == fresh ||
	    mas_index_compacts(lp.count, lp.stored, lp.base_live, lp.live)) {
		struct mas_index_piece *whole = calloc(count + 1,
		                                       sizeof(*whole));
		if (!whole)
			mas_die(MAS_EXIT_IO, "out of memory");
		for (size_t i = 0; i < count; i++) {
			whole[i].index = lp.placed[i].seg;
			whole[i].file = lp.placed[i].file;
		}
		*segments = 1;
		rc = mas_index_store_pieces(store, key, signature, whole,
		                            count, error);
		free(whole);
	} else {
		*segments = lp.count;
		rc = store_view(store, key, signature, old, fresh, pieces,
		                count, &lp, error);
	}
	free(lp.placed);
	return rc;
}
