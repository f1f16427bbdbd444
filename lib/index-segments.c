/*
 * index-segments.c — an index made of segments, seen as one (index.h,
 * index-private.h).
 *
 * An update writes the files it read as a new segment, an ordinary
 * index file, and leaves the older segments as they are: the files of
 * theirs that changed or went are dead.  A view numbers the live files
 * of its segments in corpus order, so documents and passages get the
 * numbers an index of every file would give them: a span per run of
 * live files maps a range of virtual numbers to a segment's own.
 *
 * Statistics count live passages only.  N is the spans' passages; the
 * token sums (for avgdl) are each segment's less its dead passages',
 * integers, so avgdl is the full index's to the bit; df(t) is each
 * segment's less its postings in dead passages, two binary searches
 * per dead range (a segment's postings of a term follow its passages,
 * and a dead file is a range of them).
 *
 * Term numbers: a full index numbers its terms in byte order of their
 * text, and research.c sorts and breaks ties by those numbers.  A view
 * numbers a term by the sum over its segments of the number of their
 * terms that come before it: two terms met in any segment then compare
 * as their texts do (the one before is in some segment, which counts it
 * for the other), so every order research.c makes is the full index's,
 * though the numbers are not.  Terms looked up are kept in a table by
 * number, with each segment's number and the live df.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "index-private.h"
#include "log.h"
#include "mas.h"
#include "banned.h"

#define NO_TERM UINT32_MAX

/* Live files of one segment, numbered as in the view from V*. */
struct mas_index_span {
	uint32_t segment;
	uint32_t first_file, files, vfile;
	uint32_t first_doc, docs, vdoc;
	uint32_t first_passage, passages, vpassage;
};

/* A segment's spans by its own passage numbers, and the dead ranges
 * between them. */
struct mas_index_view {
	uint32_t *order;       /* span numbers, by first_passage */
	uint32_t count;
	uint32_t *gaps;        /* [start, end) pairs of dead passages */
	uint32_t gap_count;
};

struct mas_index_vterm {
	uint32_t id, df;
	uint32_t local[MAS_INDEX_SEGMENTS_MAX]; /* or NO_TERM */
};

/* ---- composing ---- */

/* The span of RUN in SEG into SP; -1 when it does not fit. */
static int span_of(const struct mas_index *seg,
                   const struct mas_index_run *run,
                   struct mas_index_span *sp)
{
	struct mas_index_file first, last;
	const struct mas_index_doc_rec *d;
	uint64_t end;

	if (run->files == 0 || run->first_file >= seg->h->files ||
	    run->files > seg->h->files - run->first_file)
		return -1;
	mas_index_file(seg, run->first_file, &first);
	mas_index_file(seg, run->first_file + run->files - 1, &last);
	sp->first_file = run->first_file;
	sp->files = run->files;
	sp->first_doc = first.first_doc;
	if ((uint64_t)last.first_doc + last.docs < first.first_doc)
		return -1;
	sp->docs = last.first_doc + last.docs - first.first_doc;
	sp->first_passage = 0;
	sp->passages = 0;
	if (sp->docs == 0)
		return 0;
	d = &seg->docs[sp->first_doc + sp->docs - 1];
	end = (uint64_t)d->first_passage + d->passage_count;
	sp->first_passage = seg->docs[sp->first_doc].first_passage;
	if (end > seg->h->passages || sp->first_passage > end)
		return -1;
	sp->passages = (uint32_t)(end - sp->first_passage);
	return 0;
}

static _Thread_local const struct mas_index_span *sorting_spans;

static int by_passage(const void *a, const void *b)
{
	const struct mas_index_span *x = &sorting_spans[*(const uint32_t *)a];
	const struct mas_index_span *y = &sorting_spans[*(const uint32_t *)b];

	if (x->first_doc != y->first_doc)
		return x->first_doc < y->first_doc ? -1 : 1;
	return x->first_passage < y->first_passage ? -1
	       : x->first_passage > y->first_passage;
}

static void push_gap(struct mas_index_view *v, uint32_t start, uint32_t end)
{
	if (start >= end)
		return;
	v->gaps[2 * v->gap_count] = start;
	v->gaps[2 * v->gap_count + 1] = end;
	v->gap_count++;
}

/* Segment S's spans in its order, its dead ranges and its live token
 * sums into INDEX; -1 when two spans overlap. */
static int view_segment(struct mas_index *index, uint32_t s)
{
	struct mas_index_view *v = &index->views[s];
	const struct mas_index *seg = index->segs[s];
	uint32_t at = 0, doc_at = 0;
	uint64_t text = seg->h->text_tokens, title = seg->h->title_tokens;

	v->order = malloc((index->span_count + 1) * sizeof(uint32_t));
	v->gaps = malloc((index->span_count + 1) * 2 * sizeof(uint32_t));
	if (!v->order || !v->gaps)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (uint32_t i = 0; i < index->span_count; i++)
		if (index->spans[i].segment == s)
			v->order[v->count++] = i;
	sorting_spans = index->spans;
	qsort(v->order, v->count, sizeof(uint32_t), by_passage);
	for (uint32_t i = 0; i <= v->count; i++) {
		const struct mas_index_span *sp =
			i < v->count ? &index->spans[v->order[i]] : NULL;
		uint32_t start = sp ? sp->first_passage : seg->h->passages;
		if (sp && (sp->first_passage < at || sp->first_doc < doc_at))
			return -1;
		push_gap(v, at, start);
		for (uint32_t p = at; p < start; p++) {
			text -= seg->passages[p].tokens;
			title -= seg->passages[p].title_tokens;
		}
		if (sp) {
			at = sp->first_passage + sp->passages;
			doc_at = sp->first_doc + sp->docs;
		}
	}
	index->text_tokens += text;
	index->title_tokens += title;
	return 0;
}

/* The spans of RUNS into INDEX, numbered in order; -1 when one does
 * not fit or the view would be too large. */
static int lay_out(struct mas_index *index, const struct mas_index_run *runs,
                   size_t count)
{
	uint64_t files = 0, docs = 0, passages = 0;

	index->spans = calloc(count ? count : 1, sizeof(*index->spans));
	if (!index->spans)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < count; i++) {
		struct mas_index_span *sp = &index->spans[i];
		if (runs[i].segment >= index->seg_count ||
		    span_of(index->segs[runs[i].segment], &runs[i], sp) != 0)
			return -1;
		sp->segment = runs[i].segment;
		sp->vfile = (uint32_t)files;
		sp->vdoc = (uint32_t)docs;
		sp->vpassage = (uint32_t)passages;
		files += sp->files;
		docs += sp->docs;
		passages += sp->passages;
		if (files >= UINT32_MAX || docs >= UINT32_MAX ||
		    passages >= UINT32_MAX)
			return -1;
		index->span_count++;
	}
	index->v_files = (uint32_t)files;
	index->v_docs = (uint32_t)docs;
	index->v_passages = (uint32_t)passages;
	return 0;
}

struct mas_index *mas_index_compose(struct mas_index **segs, uint32_t count,
                                    int own, const struct mas_index_run *runs,
                                    size_t run_count, uint64_t terms)
{
	struct mas_index *index = calloc(1, sizeof(*index));
	uint64_t all = 0;
	int bad = count == 0 || count > MAS_INDEX_SEGMENTS_MAX;

	if (!index)
		mas_die(MAS_EXIT_IO, "out of memory");
	index->segs = malloc((count ? count : 1) * sizeof(*segs));
	index->views = calloc(count ? count : 1, sizeof(*index->views));
	if (!index->segs || !index->views)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (uint32_t s = 0; s < count; s++) {
		index->segs[s] = segs[s];
		bad |= segs[s] == NULL || segs[s]->segs != NULL;
		if (!bad)
			all += segs[s]->h->terms;
	}
	index->seg_count = count;
	index->owns_segs = own;
	index->v_terms = terms;
	bad |= all >= UINT32_MAX;
	if (!bad)
		bad = lay_out(index, runs, run_count) != 0;
	for (uint32_t s = 0; s < count && !bad; s++)
		bad = view_segment(index, s) != 0;
	if (bad) {
		mas_index_free(index);
		return NULL;
	}
	index->params = (struct mas_index_params)MAS_INDEX_PARAMS_DEFAULT;
	mas_index_set_params(index, &index->params);
	return index;
}

void mas_index_view_free(struct mas_index *index)
{
	for (uint32_t s = 0; s < index->seg_count; s++) {
		if (index->owns_segs)
			mas_index_free(index->segs[s]);
		if (index->views) {
			free(index->views[s].order);
			free(index->views[s].gaps);
		}
	}
	free(index->segs);
	free(index->views);
	free(index->spans);
	free(index->vterms);
	free(index->vtable);
}

/* ---- files, documents, passages ---- */

/* The span holding virtual number N of the field at OFFSET (vfile,
 * vdoc or vpassage): the last whose first is at most N. */
static const struct mas_index_span *span_at(const struct mas_index *index,
                                            size_t offset, uint32_t n)
{
	uint32_t low = 0, high = index->span_count;

	while (low < high) {
		uint32_t mid = low + (high - low) / 2;
		uint32_t first;
		memcpy(&first, (const char *)&index->spans[mid] + offset,
		       sizeof(first));
		if (first <= n)
			low = mid + 1;
		else
			high = mid;
	}
	return &index->spans[low ? low - 1 : 0];
}

#define SPAN_AT(index, field, n) \
	span_at(index, offsetof(struct mas_index_span, field), n)

void mas_index_file_source(const struct mas_index *index, uint32_t file,
                           const struct mas_index **segment,
                           uint32_t *local)
{
	const struct mas_index_span *sp;

	if (!index->segs) {
		*segment = index;
		*local = file;
		return;
	}
	sp = SPAN_AT(index, vfile, file);
	*segment = index->segs[sp->segment];
	*local = sp->first_file + (file - sp->vfile);
}

void mas_index_view_file(const struct mas_index *index, uint32_t file,
                         struct mas_index_file *out)
{
	const struct mas_index_span *sp = SPAN_AT(index, vfile, file);

	mas_index_file(index->segs[sp->segment],
	               sp->first_file + (file - sp->vfile), out);
	if (out->first_doc < sp->first_doc ||
	    out->first_doc > sp->first_doc + sp->docs)
		out->first_doc = sp->first_doc; /* damaged */
	if (out->docs > sp->first_doc + sp->docs - out->first_doc)
		out->docs = sp->first_doc + sp->docs - out->first_doc;
	out->first_doc = sp->vdoc + (out->first_doc - sp->first_doc);
}

/* Virtual document of SEG's document D in span SP. */
static uint32_t vdoc_of(const struct mas_index_span *sp, uint32_t d)
{
	if (d < sp->first_doc || d >= sp->first_doc + sp->docs)
		d = sp->first_doc; /* damaged */
	return sp->vdoc + (d - sp->first_doc);
}

void mas_index_view_passage(const struct mas_index *index, uint32_t passage,
                            struct mas_index_passage *out)
{
	const struct mas_index_span *sp = SPAN_AT(index, vpassage, passage);

	mas_index_passage(index->segs[sp->segment],
	                  sp->first_passage + (passage - sp->vpassage), out);
	out->doc = vdoc_of(sp, out->doc);
}

uint32_t mas_index_view_passage_doc(const struct mas_index *index,
                                    uint32_t p)
{
	const struct mas_index_span *sp = SPAN_AT(index, vpassage, p);
	const struct mas_index *seg = index->segs[sp->segment];

	return vdoc_of(sp, seg->passages[sp->first_passage +
	                                 (p - sp->vpassage)].doc);
}

void mas_index_view_doc_passages(const struct mas_index *index, uint32_t d,
                                 uint32_t *first, uint32_t *end)
{
	const struct mas_index_span *sp = SPAN_AT(index, vdoc, d);
	const struct mas_index_doc_rec *doc =
		&index->segs[sp->segment]->docs[sp->first_doc +
		                                (d - sp->vdoc)];
	uint64_t from = doc->first_passage, to = from + doc->passage_count;
	uint64_t span_end = (uint64_t)sp->first_passage + sp->passages;

	if (from < sp->first_passage || to > span_end || from > to)
		from = to = sp->first_passage; /* damaged */
	*first = sp->vpassage + (uint32_t)(from - sp->first_passage);
	*end = sp->vpassage + (uint32_t)(to - sp->first_passage);
}

/* ---- terms ---- */

/* Term T's text in SEG, "" when it is not inside the strings. */
static const char *text_of(const struct mas_index *seg, uint32_t t,
                           uint32_t *length)
{
	const struct mas_index_term_rec *rec = &seg->terms[t];

	if ((uint64_t)rec->text + rec->length >= seg->h->strings_size) {
		*length = 0;
		return "";
	}
	*length = rec->length;
	return seg->strings + rec->text;
}

/* How many of SEG's terms come before TOKEN in byte order. */
static uint32_t terms_before(const struct mas_index *seg, const char *token,
                             size_t length)
{
	uint32_t low = 0, high = seg->h->terms;

	while (low < high) {
		uint32_t mid = low + (high - low) / 2, n;
		const char *text = text_of(seg, mid, &n);
		int c = memcmp(text, token, n < length ? n : length);
		if (c == 0)
			c = n < length ? -1 : n > length;
		if (c < 0)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

/* The first of POST[LOW..HIGH) at least P. */
static uint64_t first_from(const uint32_t *post, uint64_t low, uint64_t high,
                           uint32_t p)
{
	while (low < high) {
		uint64_t mid = low + (high - low) / 2;
		if (post[mid] < p)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

/* Segment S's postings of its term T in live passages. */
static uint32_t live_df(const struct mas_index *index, uint32_t s,
                        uint32_t t)
{
	const struct mas_index *seg = index->segs[s];
	const struct mas_index_view *v = &index->views[s];
	uint32_t df = mas_index_df(seg, t), dead = 0, low, high;
	uint64_t first = seg->terms[t].postings, end = first + df;

	if (df == 0 || v->gap_count == 0)
		return df; /* all live: no posting read */
	low = seg->post[first];
	high = seg->post[end - 1];
	for (uint32_t g = 0; g < v->gap_count; g++) {
		if (v->gaps[2 * g + 1] <= low || v->gaps[2 * g] > high)
			continue; /* no posting there: no page read */
		dead += (uint32_t)(first_from(seg->post, first, end,
		                              v->gaps[2 * g + 1]) -
		                   first_from(seg->post, first, end,
		                              v->gaps[2 * g]));
	}
	return dead < df ? df - dead : 0;
}

static uint32_t id_slot(const struct mas_index *index, uint32_t id)
{
	return (id * 2654435761u) & (index->vtable_size - 1);
}

/* The term numbered ID looked up before, or NULL. */
static struct mas_index_vterm *vterm(const struct mas_index *index,
                                     uint32_t id)
{
	uint32_t mask = index->vtable_size - 1;
	uint32_t slot;

	if (!index->vtable)
		return NULL;
	for (slot = id_slot(index, id); index->vtable[slot];
	     slot = (slot + 1) & mask)
		if (index->vterms[index->vtable[slot] - 1].id == id)
			return &index->vterms[index->vtable[slot] - 1];
	return NULL;
}

static void vtable_put(struct mas_index *index, uint32_t i)
{
	uint32_t mask = index->vtable_size - 1;
	uint32_t slot = id_slot(index, index->vterms[i].id);

	while (index->vtable[slot])
		slot = (slot + 1) & mask;
	index->vtable[slot] = i + 1;
}

static void remember(struct mas_index *index,
                     const struct mas_index_vterm *t)
{
	if (index->vterm_count == index->vterm_cap) {
		index->vterm_cap = index->vterm_cap ? index->vterm_cap * 2
		                                    : 256;
		index->vterms = realloc(index->vterms, index->vterm_cap *
		                        sizeof(*index->vterms));
		free(index->vtable);
		index->vtable_size = index->vterm_cap * 2;
		index->vtable = calloc(index->vtable_size, sizeof(uint32_t));
		if (!index->vterms || !index->vtable)
			mas_die(MAS_EXIT_IO, "out of memory");
		for (uint32_t i = 0; i < index->vterm_count; i++)
			vtable_put(index, i);
	}
	index->vterms[index->vterm_count] = *t;
	vtable_put(index, index->vterm_count++);
}

int64_t mas_index_view_term(struct mas_index *index, const char *token,
                            size_t length)
{
	struct mas_index_vterm t;
	uint64_t id = 0;
	int any = 0;

	memset(&t, 0, sizeof(t));
	for (uint32_t s = 0; s < index->seg_count; s++) {
		int64_t local = mas_index_term(index->segs[s], token, length);
		t.local[s] = local >= 0 ? (uint32_t)local : NO_TERM;
		id += local >= 0 ? (uint64_t)local
		                 : terms_before(index->segs[s], token, length);
		any |= local >= 0;
	}
	if (!any || id >= UINT32_MAX)
		return -1;
	t.id = (uint32_t)id;
	if (vterm(index, t.id))
		return t.id;
	for (uint32_t s = 0; s < index->seg_count; s++)
		if (t.local[s] != NO_TERM)
			t.df += live_df(index, s, t.local[s]);
	if (t.df == 0)
		return -1; /* only in dead passages */
	if (t.df > index->v_passages)
		t.df = index->v_passages; /* a damaged segment */
	remember(index, &t);
	return t.id;
}

const char *mas_index_view_term_text(const struct mas_index *index,
                                     uint32_t term)
{
	const struct mas_index_vterm *t = vterm(index, term);
	uint32_t n;

	for (uint32_t s = 0; t && s < index->seg_count; s++)
		if (t->local[s] != NO_TERM)
			return text_of(index->segs[s], t->local[s], &n);
	return "";
}

uint32_t mas_index_view_df(const struct mas_index *index, uint32_t term)
{
	const struct mas_index_vterm *t = vterm(index, term);

	return t ? t->df : 0;
}

/* ---- scoring ---- */

/* Scores segment S's postings of its term T in live passages. */
static void accumulate_segment(struct mas_index *index, uint32_t s,
                               uint32_t t, double idf, size_t *touched)
{
	const struct mas_index *seg = index->segs[s];
	const struct mas_index_view *v = &index->views[s];
	uint64_t first = seg->terms[t].postings;
	uint64_t end = first + mas_index_df(seg, t);
	double w = index->params.title_weight;
	uint32_t j = 0;

	for (uint64_t i = first; i < end && j < v->count; i++) {
		uint32_t p = seg->post[i], vp;
		const struct mas_index_span *sp = &index->spans[v->order[j]];
		const struct mas_index_passage_rec *rec;
		double tf = seg->tf[i] + w * seg->ttf[i], dl;
		while (p >= sp->first_passage + sp->passages &&
		       ++j < v->count)
			sp = &index->spans[v->order[j]];
		if (j == v->count || p < sp->first_passage ||
		    p >= seg->h->passages || tf <= 0)
			continue; /* dead, or only in the title weighed 0 */
		vp = sp->vpassage + (p - sp->first_passage);
		rec = &seg->passages[p];
		dl = rec->tokens + w * rec->title_tokens;
		if (index->scores[vp] == 0 && *touched < index->v_passages)
			index->touched[(*touched)++] = vp;
		index->scores[vp] += mas_index_bm25(&index->params, idf, tf,
		                                    dl, index->avgdl);
	}
}

void mas_index_view_accumulate(struct mas_index *index, uint32_t term,
                               double weight, size_t *touched)
{
	const struct mas_index_vterm *t = vterm(index, term);
	double idf;

	if (!t)
		return;
	idf = mas_index_idf(index, term) * weight;
	for (uint32_t s = 0; s < index->seg_count; s++)
		if (t->local[s] != NO_TERM)
			accumulate_segment(index, s, t->local[s], idf,
			                   touched);
}
