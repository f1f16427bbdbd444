/*
 * research-extract.c — the research agent's extractive answer: the
 * sentences of the sources, chosen by maximal marginal relevance for the
 * summary, the findings and the recommendations, each citing its
 * passages (mas-research(1), METHODS).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mas.h"
#include "research-beliefs.h"
#include "text.h"
#include "banned.h"

/* ---- advice ---- */

static int word_start(const char *text, const char *at)
{
	char before = (char)(at == text ? ' ' : at[-1] | 0x20);

	return !(before >= 'a' && before <= 'z');
}

static int english_advice(const char *lower)
{
	static const char *const cues[] = {
		"should", "recommend", "advis", "must ", "need to", "needs to",
		"important to", "consider", "best practice", "ought to",
		"it is essential", "we suggest", "prioriti", NULL
	};

	for (int i = 0; cues[i]; i++)
		for (const char *at = strstr(lower, cues[i]); at;
		     at = strstr(at + 1, cues[i]))
			if (word_start(lower, at))
				return 1;
	return 0;
}

static int starts_with_any(const char *at, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strncmp(at, list[i], strlen(list[i])) == 0)
			return 1;
	return 0;
}

static int ends_with_any(const char *text, const char *at,
                         const char *const *list)
{
	for (int i = 0; list[i]; i++) {
		size_t n = strlen(list[i]);
		if ((size_t)(at - text) >= n &&
		    strncmp(at - n, list[i], n) == 0)
			return 1;
	}
	return 0;
}

/*
 * 应 alone means "should" except in words such as 应用 (application),
 * 应对 (respond), 相应, 供应, 反应, 适应, 效应, 响应: those are not
 * advice.
 */
static int chinese_advice(const char *text)
{
	static const char *const cues[] = {
		"建议", "应当", "应该", "必须", "需要", "推荐", "务必", NULL
	};
	static const char *const not_after[] = {
		"用", "对", "急", "答", "变", "激", "力", NULL
	};
	static const char *const stops[] = { "。", "，", "；", "、", NULL };
	static const char *const not_before[] = {
		"相", "供", "反", "适", "效", "响", "回", "感", "对", "呼",
		"顺", "答", "报", NULL
	};

	for (int i = 0; cues[i]; i++)
		for (const char *at = strstr(text, cues[i]); at;
		     at = strstr(at + 1, cues[i]))
			if (!starts_with_any(at + strlen(cues[i]), stops))
				return 1; /* "提出建议。" is a noun */
	for (const char *at = strstr(text, "应"); at;
	     at = strstr(at + 1, "应"))
		if (!starts_with_any(at + strlen("应"), not_after) &&
		    !ends_with_any(text, at, not_before))
			return 1;
	return 0;
}

static int is_advice(const char *start, size_t length)
{
	char *text = malloc(length + 1);
	int advice;

	if (!text)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < length; i++)
		text[i] = (char)(start[i] >= 'A' && start[i] <= 'Z'
		                         ? start[i] + 0x20 : start[i]);
	text[length] = '\0';
	advice = english_advice(text) || chinese_advice(text);
	free(text);
	return advice;
}

/* ---- candidates ---- */

struct gather {
	struct research *r;
	size_t source;
	double top;
};

static double idf_of(const struct research *r, uint32_t term)
{
	return mas_index_idf(r->index, term);
}

static double query_weight(const struct research *r, uint32_t term)
{
	for (size_t i = 0; i < r->best.term_count; i++)
		if (r->terms[i].term == term)
			return r->terms[i].weight;
	return 0;
}

static void score(struct research *r, struct candidate *c, double passage)
{
	double matched = 0, norm = 0;

	for (size_t i = 0; i < c->bag.count; i++) {
		double idf = idf_of(r, c->bag.ids[i]);
		matched += query_weight(r, c->bag.ids[i]) * idf;
		norm += idf * idf;
	}
	c->norm = sqrt(norm);
	/* the share of the query's weight the sentence holds, and a little
	 * for coming from a strong passage; nothing without a query term */
	c->relevance = matched > 0 ? matched / r->best.evidence.s1 +
	                             0.1 * passage : 0;
}

static void add_candidate(void *user, const char *start, size_t length)
{
	struct gather *g = user;
	struct research *r = g->r;
	struct candidate c = { .start = start, .length = length,
	                       .source = g->source };

	if (*start == '#' || length > 1000)
		return;
	mas_research_bag(&c.bag, r->index, NULL, start, length);
	if (c.bag.tokens < 3) {
		mas_research_bag_free(&c.bag);
		return;
	}
	score(r, &c, r->best.hits[g->source].score / g->top);
	c.advice = is_advice(start, length);
	if ((r->candidate_count & (r->candidate_count + 1)) == 0 ||
	    !r->candidates) {
		size_t capacity = (r->candidate_count + 1) * 2;
		r->candidates = realloc(r->candidates,
		                        capacity * sizeof(*r->candidates));
		r->said = realloc(r->said, capacity * sizeof(size_t));
		if (!r->candidates || !r->said)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	r->candidates[r->candidate_count++] = c;
}

void mas_research_candidates(struct research *r)
{
	struct gather g = { r, 0, r->best.hits[0].score };

	for (g.source = 0; g.source < r->source_count; g.source++) {
		struct mas_index_passage p;
		mas_index_passage(r->index, r->best.hits[g.source].passage,
		                  &p);
		mas_text_sentences(p.text, p.length, add_candidate, &g);
	}
}

void mas_research_candidates_free(struct research *r)
{
	for (size_t i = 0; i < r->candidate_count; i++)
		mas_research_bag_free(&r->candidates[i].bag);
	free(r->candidates);
	free(r->said);
	r->candidates = NULL;
	r->said = NULL;
	r->candidate_count = r->said_count = 0;
}

/* ---- maximal marginal relevance ---- */

/* Cosine of the idf-weighted term sets of A and B. */
static double similarity(const struct research *r, const struct bag *a,
                         double norm_a, const struct bag *b, double norm_b)
{
	size_t i = 0, j = 0;
	double dot = 0;

	while (i < a->count && j < b->count) {
		if (a->ids[i] < b->ids[j]) {
			i++;
		} else if (a->ids[i] > b->ids[j]) {
			j++;
		} else {
			double idf = idf_of(r, a->ids[i]);
			dot += idf * idf;
			i++;
			j++;
		}
	}
	return norm_a > 0 && norm_b > 0 ? dot / (norm_a * norm_b) : 0;
}

static double redundancy(const struct research *r, const struct candidate *c)
{
	double most = 0;

	for (size_t i = 0; i < r->said_count; i++) {
		const struct candidate *s = &r->candidates[r->said[i]];
		double sim = similarity(r, &c->bag, c->norm, &s->bag, s->norm);
		if (sim > most)
			most = sim;
	}
	return most;
}

/*
 * The next sentence by MMR among those not said whose advice flag is
 * ADVICE (-1: either): the highest lambda * relevance - (1 - lambda) *
 * (its greatest similarity to a sentence said), never one that is as
 * good as said already.  Returns its index, or -1.
 */
static long next_sentence(struct research *r, int advice)
{
	long best = -1;
	double best_score = -INFINITY;

	for (size_t i = 0; i < r->candidate_count; i++) {
		struct candidate *c = &r->candidates[i];
		double penalty, value;

		if (c->used || c->relevance <= 0 ||
		    (advice >= 0 && c->advice != advice))
			continue;
		penalty = redundancy(r, c);
		if (penalty >= RESEARCH_DUPLICATE) {
			c->used = 1; /* said already, in other words */
			continue;
		}
		value = RESEARCH_MMR_LAMBDA * c->relevance -
		        (1 - RESEARCH_MMR_LAMBDA) * penalty;
		if (value > best_score) {
			best_score = value;
			best = (long)i;
		}
	}
	if (best >= 0) {
		r->candidates[best].used = 1;
		r->said[r->said_count++] = (size_t)best;
	}
	return best;
}

/* ---- sentences out ---- */

static int cjk_at(const char *p, const char *end)
{
	return p < end && mas_text_class_of(mas_text_decode(&p, end)) ==
	                          MAS_TEXT_CJK;
}

static int upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/*
 * Past the section label of a structured abstract at P: a run of
 * capitals of four letters or more (words joined by spaces or "AND"),
 * ended by a colon or glued to the sentence's first word
 * ("CONCLUSIONSThe trial..."), as abstracts pasted from databases
 * have them.  Returns P when there is none.
 */
static const char *skip_label(const char *p, const char *end)
{
	const char *q = p;
	size_t letters = 0;

	while (q < end && (upper(*q) || *q == ' ' || *q == '&')) {
		letters += upper(*q);
		q++;
	}
	if (letters < 4)
		return p;
	if (q < end && *q == ':') {
		q++;
		while (q < end && *q == ' ')
			q++;
		return q;
	}
	/* glued: the label's last capital starts the sentence's word */
	if (q < end && *q >= 'a' && *q <= 'z' && q - 1 > p && upper(q[-2]))
		return q - 1;
	return p;
}

/* The sentence as a reader wants it: no list marker, line breaks inside
 * it joined (with nothing between CJK characters, else a space). */
static jv clean(const char *start, size_t length)
{
	const char *p = start, *end = start + length;
	char *out = malloc(length + 1);
	size_t n = 0;
	jv text;

	if (!out)
		mas_die(MAS_EXIT_IO, "out of memory");
	if (end - p > 2 && strchr("-*+>", *p) && p[1] == ' ')
		p += 2;
	p = skip_label(p, end);
	while (p < end) {
		if (*p == '\n' || *p == '\r') {
			const char *q = p;
			while (q < end && strchr(" \t\r\n", *q))
				q++;
			if (n > 0 && !(out[n - 1] & 0x80 && cjk_at(q, end)))
				out[n++] = ' ';
			p = q;
			continue;
		}
		out[n++] = *p++;
	}
	text = jv_string_sized(out, (int)n);
	free(out);
	return text;
}

/* The passages citing candidate C: its own, then the other sources that
 * hold RESEARCH_SUPPORT of its weight, three at most. */
static jv citations(const struct research *r, const struct candidate *c)
{
	jv ids = JV_ARRAY(mas_research_passage_id(
		r, r->best.hits[c->source].passage));
	double mass = 0;

	for (size_t i = 0; i < c->bag.count; i++)
		mass += idf_of(r, c->bag.ids[i]);
	for (size_t s = 0; s < r->source_count &&
	                   jv_array_length(jv_copy(ids)) < 3; s++) {
		const struct bag *bag = &r->best.bags[s];
		double held = 0;
		if (s == c->source)
			continue;
		for (size_t i = 0; i < c->bag.count; i++)
			if (bsearch(&c->bag.ids[i], bag->ids, bag->count,
			            sizeof(uint32_t),
			            mas_research_compare_u32))
				held += idf_of(r, c->bag.ids[i]);
		if (mass > 0 && held >= RESEARCH_SUPPORT * mass)
			ids = jv_array_append(ids, mas_research_passage_id(
				r, r->best.hits[s].passage));
	}
	return ids;
}

static jv cited(const struct research *r, const struct candidate *c)
{
	return JV_OBJECT(jv_string("text"), clean(c->start, c->length),
	                 jv_string("sources"), citations(r, c));
}

/* Whether the summary so far ends, or TEXT starts, in CJK: no space
 * between them then. */
static int joins_tight(jv summary, jv text)
{
	const char *a = jv_string_value(summary), *b = jv_string_value(text);
	size_t n = strlen(a);

	return n == 0 || (a[n - 1] & 0x80) || (b[0] & 0x80);
}

/* ARRAY with ID at the end unless it holds it already. */
static jv append_unique(jv array, jv id)
{
	jv_array_foreach(array, i, item) {
		if (jv_equal(item, jv_copy(id))) {
			jv_free(id);
			return array;
		}
	}
	return jv_array_append(array, id);
}

/* The best relevance among the sentences that are not advice. */
static double top_relevance(const struct research *r)
{
	double top = 0;

	for (size_t i = 0; i < r->candidate_count; i++)
		if (!r->candidates[i].advice)
			top = fmax(top, r->candidates[i].relevance);
	return top;
}

/* The next sentence that is not advice, by MMR, if it is at least
 * FLOOR relevant; -1 when none is. */
static long next_near(struct research *r, double floor)
{
	long i = next_sentence(r, 0);

	if (i >= 0 && r->candidates[i].relevance < floor) {
		r->candidates[i].used = 0; /* not said after all */
		r->said_count--;
		return -1;
	}
	return i;
}

/*
 * The summary: by MMR, but only sentences at least RESEARCH_SUMMARY_NEAR
 * as relevant as the best one, so that sources about different things
 * do not string unrelated sentences together; the findings, a list,
 * keep to RESEARCH_FINDING_NEAR.
 */
void mas_research_summary(struct research *r)
{
	jv summary = jv_string("");
	jv sources = jv_array();
	double floor = RESEARCH_SUMMARY_NEAR * top_relevance(r);

	for (size_t n = 0; n < r->depth->summary; n++) {
		long i = next_near(r, floor);
		jv text, id;
		if (i < 0)
			break;
		text = clean(r->candidates[i].start, r->candidates[i].length);
		if (!joins_tight(summary, text))
			summary = jv_string_append_str(summary, " ");
		summary = jv_string_concat(summary, text);
		id = mas_research_passage_id(
			r, r->best.hits[r->candidates[i].source].passage);
		sources = append_unique(sources, id);
	}
	jv_free(r->summary);
	jv_free(r->summary_sources);
	r->summary = summary;
	r->summary_sources = sources;
}

void mas_research_findings(struct research *r)
{
	double floor = RESEARCH_FINDING_NEAR * top_relevance(r);

	for (size_t n = 0; n < r->depth->findings; n++) {
		long i = next_near(r, floor);
		if (i < 0)
			break;
		r->findings = jv_array_append(r->findings,
		                              cited(r, &r->candidates[i]));
	}
}

/* Recommendations are advice the sources give, each once: none when
 * they give none (next_sentence never says a sentence twice). */
void mas_research_recommendations(struct research *r)
{
	for (size_t n = 0; n < r->depth->recommendations; n++) {
		long i = next_sentence(r, 1);
		if (i < 0)
			break;
		r->recommendations = jv_array_append(
			r->recommendations, cited(r, &r->candidates[i]));
	}
}
