/*
 * research.c — the research agent (see research.h): a task becomes
 * beliefs about a query and its evidence, two desires (evidence, then an
 * answer), and plans from the library below.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdi.h"
#include "clock.h"
#include "log.h"
#include "mas.h"
#include "research.h"
#include "research-beliefs.h"
#include "text.h"
#include "banned.h"

static const struct research_depth depths[] = {
	{ "brief", 3, 2, 3, 2 },
	{ "standard", 5, 3, 5, 3 },
	{ "comprehensive", 10, 5, 8, 5 },
};

struct mas_researcher {
	const struct mas_research_options *options;
};

int mas_research_depth_valid(const char *name)
{
	for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++)
		if (strcmp(depths[i].name, name) == 0)
			return 1;
	return 0;
}

static const struct research_depth *depth_named(const char *name)
{
	for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++)
		if (name && strcmp(depths[i].name, name) == 0)
			return &depths[i];
	return &depths[1];
}

static jv set(jv object, const char *key, jv value)
{
	return jv_object_set(object, jv_string(key), value);
}

/* A score for output: four decimals are all a reader can use. */
static jv rounded(double x, double scale)
{
	return jv_number(isfinite(x) ? round(x * scale) / scale : 0);
}

/* ---- the query ---- */

struct query_builder {
	struct research *r;
	double weight;
	int original;
	jv matched_cjk;     /* the query's CJK tokens the corpus holds */
	jv unmatched_cjk;   /* and its CJK pairs it does not */
};

static void add_term(struct research *r, uint32_t term, double weight,
                     int original)
{
	for (size_t i = 0; i < r->term_count; i++)
		if (r->terms[i].term == term) {
			r->terms[i].weight += weight;
			return;
		}
	if (r->term_count == r->term_capacity) {
		r->term_capacity = r->term_capacity ? r->term_capacity * 2
		                                    : 16;
		r->terms = realloc(r->terms,
		                   r->term_capacity * sizeof(*r->terms));
		if (!r->terms)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	r->terms[r->term_count].term = term;
	r->terms[r->term_count++].weight = weight;
	if (original)
		r->original_count = r->term_count;
}

/* The weight a query word the corpus lacks counts with: the largest
 * idf, that of a term in no passage. */
static double missing_weight(const struct research *r, double weight)
{
	double n = mas_index_passages(r->index);

	return weight * log(1 + (n + 0.5) / 0.5);
}

static void query_token(void *user, const char *token, size_t length,
                        enum mas_text_token_kind kind)
{
	struct query_builder *q = user;
	struct research *r = q->r;
	int64_t term = mas_index_term(r->index, token, length);
	jv text = jv_string_sized(token, (int)length);

	r->query_tokens++;
	if (term >= 0) {
		add_term(r, (uint32_t)term, q->weight, q->original);
		if (kind != MAS_TEXT_WORD && q->original)
			q->matched_cjk = jv_array_append(q->matched_cjk,
			                                 text);
		else
			jv_free(text);
		return;
	}
	if (!q->original) {
		jv_free(text);
	} else if (kind == MAS_TEXT_WORD) {
		r->missing_mass += missing_weight(r, q->weight);
		r->unmatched = jv_array_append(r->unmatched, text);
	} else {
		q->unmatched_cjk = jv_array_append(q->unmatched_cjk, text);
	}
}

/* Whether a token of MATCHED (borrowed) holds the character at C. */
static int char_matched(jv matched, const char *c)
{
	int found = 0;

	jv_array_foreach(matched, i, token) {
		/* UTF-8 matches only on character boundaries */
		found = found || strstr(jv_string_value(token), c);
		jv_free(token);
	}
	return found;
}

/*
 * A CJK pair the corpus never holds is either a pair across a word
 * boundary ("在医" of "在医疗") or part of a subject the corpus lacks
 * ("转型" of "数字化转型").  It is taken to straddle a boundary when one
 * of its characters is in a pair of the query the corpus holds, and
 * counts against coverage as a missing word otherwise.
 */
static void judge_unmatched_cjk(struct research *r, jv matched,
                                jv unmatched)
{
	jv_array_foreach(unmatched, i, pair) {
		const char *p = jv_string_value(pair), *end = p + strlen(p);
		const char *second = p;
		int boundary;
		char first[8] = "";

		mas_text_decode(&second, end);
		memcpy(first, p, (size_t)(second - p));
		boundary = char_matched(matched, first) ||
		           char_matched(matched, second);
		if (boundary) {
			jv_free(pair);
			continue;
		}
		r->missing_mass += missing_weight(r, 1.0);
		r->unmatched = jv_array_append(r->unmatched, pair);
	}
	jv_free(matched);
	jv_free(unmatched);
}

static void read_query(struct research *r, const char *domain)
{
	struct query_builder q = { r, 1.0, 1, jv_array(), jv_array() };

	mas_text_tokens(r->query, strlen(r->query), 0, query_token, &q);
	q.original = 0;
	if (domain) {
		q.weight = RESEARCH_DOMAIN_WEIGHT;
		mas_text_tokens(domain, strlen(domain), 0, query_token, &q);
	}
	judge_unmatched_cjk(r, q.matched_cjk, q.unmatched_cjk);
	r->original_count = r->term_count;
}

static double query_mass(const struct research *r, size_t count)
{
	double mass = 0;

	for (size_t i = 0; i < count; i++)
		mass += r->terms[i].weight * mas_index_idf(r->index,
		                                           r->terms[i].term);
	return mass;
}

/* ---- bags of terms ---- */

struct bag_builder {
	struct mas_index *index;
	uint32_t *ids;
	size_t count, capacity;
};

static void bag_token(void *user, const char *token, size_t length,
                      enum mas_text_token_kind kind)
{
	struct bag_builder *b = user;
	int64_t term = mas_index_term(b->index, token, length);

	if (term < 0)
		return;
	if (b->count == b->capacity) {
		b->capacity = b->capacity ? b->capacity * 2 : 64;
		b->ids = realloc(b->ids, b->capacity * sizeof(uint32_t));
		if (!b->ids)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	b->ids[b->count++] = (uint32_t)term;
}

int mas_research_compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The distinct terms of TEXT (and TITLE), sorted, with their counts. */
void mas_research_bag(struct bag *bag, struct mas_index *index,
                     const char *title, const char *text, size_t length)
{
	struct bag_builder b = { index, NULL, 0, 0 };
	size_t n = 0;

	if (title)
		mas_text_tokens(title, strlen(title), 0, bag_token, &b);
	mas_text_tokens(text, length, 0, bag_token, &b);
	if (b.count) /* a text of stop words only: ids is NULL */
		qsort(b.ids, b.count, sizeof(uint32_t),
		      mas_research_compare_u32);
	bag->tf = malloc((b.count ? b.count : 1) * sizeof(uint32_t));
	if (!bag->tf)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < b.count; i++) {
		if (n > 0 && b.ids[n - 1] == b.ids[i]) {
			bag->tf[n - 1]++;
			continue;
		}
		b.ids[n] = b.ids[i];
		bag->tf[n++] = 1;
	}
	bag->ids = b.ids;
	bag->count = n;
	bag->tokens = b.count;
}

void mas_research_bag_free(struct bag *bag)
{
	free(bag->ids);
	free(bag->tf);
	memset(bag, 0, sizeof(*bag));
}

static int bag_has(const struct bag *bag, uint32_t term)
{
	return bsearch(&term, bag->ids, bag->count, sizeof(uint32_t),
	               mas_research_compare_u32) != NULL;
}

/* ---- retrieval and evidence ---- */

/* Bags for the hits something reads: the evidence's window, the
 * feedback's passages and, in an answer, the sources. */
static void bag_hits(struct research *r, struct round *round)
{
	size_t need = r->window;

	if (!r->options->retrieve_only && r->want > need)
		need = r->want;
	if (need < RESEARCH_FEEDBACK_PASSAGES)
		need = RESEARCH_FEEDBACK_PASSAGES;
	if (need > round->hit_count)
		need = round->hit_count;
	for (size_t i = 0; i < need; i++) {
		struct mas_index_passage p;
		mas_index_passage(r->index, round->hits[i].passage, &p);
		mas_research_bag(&round->bags[i], r->index, p.title, p.text,
		                 p.length);
	}
	round->bag_count = need;
}

static void free_round(struct round *round)
{
	for (size_t i = 0; i < round->bag_count; i++)
		mas_research_bag_free(&round->bags[i]);
	round->hit_count = 0;
	round->bag_count = 0;
}

static void release_round(struct round *round)
{
	free_round(round);
	free(round->hits);
	free(round->docs);
	free(round->bags);
	memset(round, 0, sizeof(*round));
}

/* Room in ROUND for N hits (and documents, when ranked). */
static void round_room(struct round *round, size_t n, int documents)
{
	if (round->capacity >= n)
		return;
	round->hits = realloc(round->hits, n * sizeof(*round->hits));
	round->bags = realloc(round->bags, n * sizeof(*round->bags));
	if (documents)
		round->docs = realloc(round->docs, n * sizeof(*round->docs));
	if (!round->hits || !round->bags || (documents && !round->docs))
		mas_die(MAS_EXIT_IO, "out of memory");
	round->capacity = n;
}

/* Ranks the pool: passages, or documents by their best passage (each
 * document's best passage then stands for it among the hits). */
static void rank(struct research *r, struct round *round)
{
	size_t pool = r->want > RESEARCH_POOL ? r->want : RESEARCH_POOL;
	const struct mas_index_term *terms =
		(const struct mas_index_term *)r->terms;

	round_room(round, pool, r->options->rank_documents);
	if (!r->options->rank_documents) {
		round->hit_count = mas_index_search(r->index, terms,
		                                    r->term_count, pool,
		                                    round->hits);
		return;
	}
	round->hit_count = mas_index_search_documents(
		r->index, terms, r->term_count, pool, round->docs);
	for (size_t i = 0; i < round->hit_count; i++)
		round->hits[i] = round->docs[i].passages[0];
}

/* Whether passages A and B of the index are of one document. */
static int same_document(const struct research *r, uint32_t a, uint32_t b)
{
	struct mas_index_passage pa, pb;

	mas_index_passage(r->index, a, &pa);
	mas_index_passage(r->index, b, &pb);
	return strcmp(pa.doc_id, pb.doc_id) == 0;
}

/*
 * The share that the document of hit I holds, in its passages among
 * the first K of ROUND, of the query's terms the corpus holds, each
 * weighing w(t) sqrt(idf(t)): the square root keeps a rare verb of the
 * question ("help") from outweighing its subject (CONFIDENCE).
 */
static double held(const struct research *r, const struct round *round,
                   size_t i, size_t k)
{
	double covered = 0, all = 0;

	for (size_t t = 0; t < r->original_count; t++) {
		uint32_t term = r->terms[t].term;
		double w = r->terms[t].weight *
		           sqrt(mas_index_idf(r->index, term));
		int has = 0;
		for (size_t j = 0; j < k && !has; j++)
			has = bag_has(&round->bags[j], term) &&
			      (j == i || same_document(
			               r, round->hits[i].passage,
			               round->hits[j].passage));
		all += w;
		if (has)
			covered += w;
	}
	return all > 0 ? covered / all : 0;
}

/*
 * The evidence of a round (mas-research(1), CONFIDENCE): over the
 * window, the share of the query's weight the passages hold together
 * (coverage), the top score against S1 (strength) and the share of the
 * window scoring at least half of S1 (support), which judge whether to
 * widen the query; and what the answer rests on: the share of the
 * query's weight the corpus holds at all (known) and the largest share
 * of that one passage holds (held), the confidence being the smaller.
 */
static void assess(struct research *r, struct round *round)
{
	size_t k = round->hit_count < r->window ? round->hit_count
	                                        : r->window;
	double s1 = query_mass(r, round->term_count);
	double known = query_mass(r, r->original_count);
	double total = known + r->missing_mass;
	double covered = 0;
	struct evidence *e = &round->evidence;

	memset(e, 0, sizeof(*e));
	e->s1 = s1;
	for (size_t t = 0; t < r->original_count; t++)
		for (size_t i = 0; i < k; i++)
			if (bag_has(&round->bags[i], r->terms[t].term)) {
				covered += r->terms[t].weight *
				           mas_index_idf(r->index,
				                         r->terms[t].term);
				break;
			}
	for (size_t i = 0; i < k; i++)
		e->held = fmax(e->held, held(r, round, i, k));
	for (size_t i = 0; i < k; i++)
		e->good += round->hits[i].score >= RESEARCH_GOOD_FRACTION * s1;
	e->coverage = total > 0 ? covered / total : 0;
	e->known = total > 0 ? known / total : 0;
	e->strength = s1 > 0 && k > 0 ? fmin(1, round->hits[0].score / s1) : 0;
	e->support = (double)e->good / (double)r->window;
	e->confidence = fmin(e->held, e->known);
	e->sufficient = e->confidence >= RESEARCH_SUFFICIENT;
	e->thin = e->good < (r->window < RESEARCH_MIN_GOOD
	                             ? r->window : RESEARCH_MIN_GOOD) ||
	          e->coverage < RESEARCH_MIN_COVERAGE;
}

static int has_index(const void *b, const char *subject)
{
	return ((const struct research *)b)->index != NULL;
}

static int first_round(const void *b, const char *subject)
{
	return has_index(b, subject) &&
	       ((const struct research *)b)->rounds == 0;
}

/* Whether evidence A beats B: by confidence, then by how much of the
 * window scores well (mas-research(1), PLANS, best_available). */
static int better(const struct evidence *a, const struct evidence *b)
{
	double x = 0.4 * a->coverage + 0.4 * a->strength + 0.2 * a->support;
	double y = 0.4 * b->coverage + 0.4 * b->strength + 0.2 * b->support;

	if (a->confidence != b->confidence)
		return a->confidence > b->confidence;
	return x > y;
}

static int step_rank(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct research *r = b;
	struct round *round = &r->current;

	free_round(round);
	rank(r, round);
	round->term_count = r->term_count;
	bag_hits(r, round);
	assess(r, round);
	r->rounds++;
	if (r->rounds == 1 || better(&round->evidence, &r->best.evidence)) {
		struct round swap = r->best;
		r->best = *round;
		*round = swap;
	}
	return 0;
}

static int step_check(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct research *r = b;
	const struct evidence *e = &r->best.evidence;

	if (!e->thin)
		return 0;
	return mas_bdi_fail(bdi, "thin evidence: %zu of %zu passages score "
	                    "at least half of S1, coverage %.2f",
	                    e->good, r->window, e->coverage);
}

/* A first stage (--retrieve-only) stays pure, its ranking the same
 * whatever --sources asks, unless --feedback asks for expansion. */
static int can_feed_back(const void *b, const char *subject)
{
	const struct research *r = b;

	if (r->options->retrieve_only && !r->options->feedback)
		return 0;
	return r->index && r->rounds == 1 && r->best.hit_count > 0;
}

/* A term worth adding: not in the query, not a number, in at least two
 * passages and at most half of them (mas-research(1), PLANS). */
static int feedback_candidate(const struct research *r, uint32_t term)
{
	const char *text = mas_index_term_text(r->index, term);
	uint32_t df = mas_index_df(r->index, term);

	for (size_t i = 0; i < r->term_count; i++)
		if (r->terms[i].term == term)
			return 0;
	if (text[strspn(text, "0123456789.")] == '\0')
		return 0;
	return df >= 2 && df <= mas_index_passages(r->index) / 2;
}

struct feedback {
	uint32_t term;
	double score;
};

static int compare_feedback(const void *a, const void *b)
{
	const struct feedback *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->term < y->term ? -1 : x->term > y->term;
}

/* TERM's count in BAG, 0 when absent. */
static uint32_t bag_tf(const struct bag *bag, uint32_t term)
{
	const uint32_t *at = bsearch(&term, bag->ids, bag->count,
	                             sizeof(uint32_t), mas_research_compare_u32);

	return at ? bag->tf[at - bag->ids] : 0;
}

static void add_feedback(struct feedback **list, size_t *count,
                         uint32_t term, double score)
{
	if ((*count & (*count + 1)) == 0 || !*list) {
		*list = realloc(*list, (*count + 1) * 2 * sizeof(**list));
		if (!*list)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	(*list)[*count].term = term;
	(*list)[(*count)++].score = score;
}

/* Scores the terms of the top M passages: in how many of them a term is,
 * times its idf, times log(1 + its count there).  Each term is scored
 * at its first passage. */
static size_t feedback_terms(struct research *r, struct feedback **out)
{
	size_t m = r->best.hit_count < RESEARCH_FEEDBACK_PASSAGES
	                   ? r->best.hit_count : RESEARCH_FEEDBACK_PASSAGES;
	size_t need = m >= 2 ? 2 : 1, count = 0;
	struct feedback *list = NULL;

	for (size_t i = 0; i < m; i++) {
		const struct bag *bag = &r->best.bags[i];
		for (size_t j = 0; j < bag->count; j++) {
			uint32_t term = bag->ids[j], tf = 0, in = 0, seen = 0;
			for (size_t h = 0; h < i; h++)
				seen += bag_tf(&r->best.bags[h], term) > 0;
			if (seen || !feedback_candidate(r, term))
				continue;
			for (size_t h = i; h < m; h++) {
				uint32_t n = bag_tf(&r->best.bags[h], term);
				in += n > 0;
				tf += n;
			}
			if (in >= need)
				add_feedback(&list, &count, term, in *
				             log(1.0 + tf) *
				             mas_index_idf(r->index, term));
		}
	}
	if (count)
		qsort(list, count, sizeof(*list), compare_feedback);
	*out = list;
	return count;
}

static int step_expand(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct research *r = b;
	struct feedback *list;
	size_t count = feedback_terms(r, &list);

	if (count == 0) {
		free(list);
		return mas_bdi_fail(bdi, "no feedback terms in the top "
		                    "passages");
	}
	for (size_t i = 0; i < count && i < RESEARCH_FEEDBACK_TERMS; i++) {
		add_term(r, list[i].term, RESEARCH_FEEDBACK_WEIGHT, 0);
		r->expansion = jv_array_append(r->expansion, jv_string(
			mas_index_term_text(r->index, list[i].term)));
	}
	free(list);
	return 0;
}

static int has_evidence(const void *b, const char *subject)
{
	const struct research *r = b;

	return r->index && r->best.hit_count > 0;
}

static int step_keep_best(struct mas_bdi *bdi, void *b, const char *subject)
{
	return 0; /* the best round is kept as it goes: nothing left to do */
}

static int step_no_evidence(struct mas_bdi *bdi, void *b, const char *subject)
{
	((struct research *)b)->status = "no_evidence";
	return 0;
}

static int model_without_corpus(const void *b, const char *subject)
{
	const struct research *r = b;

	return !r->index && r->llm_available;
}

static int step_ungrounded(struct mas_bdi *bdi, void *b, const char *subject)
{
	((struct research *)b)->grounded = 0;
	return 0;
}

/* ---- the answer ---- */

static int retrieve_only(const void *b, const char *subject)
{
	return ((const struct research *)b)->options->retrieve_only;
}

static int nothing_found(const void *b, const char *subject)
{
	const struct research *r = b;

	return r->index && r->best.hit_count == 0;
}

static int model_with_corpus(const void *b, const char *subject)
{
	return has_evidence(b, subject) &&
	       ((const struct research *)b)->llm_available;
}

static int insufficient(const void *b, const char *subject)
{
	const struct research *r = b;

	return has_evidence(b, subject) && !r->best.evidence.sufficient;
}

static int model_insufficient(const void *b, const char *subject)
{
	return insufficient(b, subject) &&
	       ((const struct research *)b)->llm_available;
}

static int step_sources(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct research *r = b;

	r->source_count = r->best.hit_count < r->want ? r->best.hit_count
	                                              : r->want;
	return 0;
}

static int step_say_nothing(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct research *r = b;

	jv_free(r->summary);
	r->summary = jv_string(r->zh ? "语料库中没有与该问题相关的段落。"
	                             : "No passage in the corpus matches "
	                               "the query.");
	return 0;
}

/* No answer dressed up from passages about something else: the
 * sources are the closest passages, and the summary says so. */
static int step_say_insufficient(struct mas_bdi *bdi, void *b,
                                 const char *subject)
{
	struct research *r = b;

	r->status = "insufficient_evidence";
	jv_free(r->summary);
	r->summary = jv_string(r->zh
		? "语料库中没有足以回答该问题的证据；sources 列出的是最接近"
		  "的段落，并非答案。"
		: "The corpus does not hold enough evidence to answer the "
		  "query; the sources are the closest passages, not an "
		  "answer.");
	return 0;
}

static int step_summarise(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct research *r = b;

	mas_research_candidates(r);
	mas_research_summary(r);
	return 0;
}

static int step_findings(struct mas_bdi *bdi, void *b, const char *subject)
{
	mas_research_findings((struct research *)b);
	return 0;
}

static int step_recommendations(struct mas_bdi *bdi, void *b,
                                const char *subject)
{
	mas_research_recommendations((struct research *)b);
	return 0;
}

static int step_request_synthesis(struct mas_bdi *bdi, void *b,
                                  const char *subject)
{
	((struct research *)b)->ask_model = 1;
	return 0;
}

#define STEPS(...) \
	((const struct mas_bdi_step[]){ __VA_ARGS__, { NULL, NULL } })

/*
 * The plan library, in order of preference within each goal.
 * mas-research(1) lists it under PLANS; keep the two in step.
 */
static const struct mas_bdi_plan plans[] = {
	{ "direct_retrieval", "evidence", first_round,
	  STEPS({ "rank_passages", step_rank },
	        { "check_evidence", step_check }) },
	{ "feedback_retrieval", "evidence", can_feed_back,
	  STEPS({ "expand_query", step_expand },
	        { "rank_passages", step_rank },
	        { "check_evidence", step_check }) },
	{ "best_available", "evidence", has_evidence,
	  STEPS({ "keep_best_round", step_keep_best }) },
	{ "nothing_found", "evidence", has_index,
	  STEPS({ "note_no_evidence", step_no_evidence }) },
	{ "model_knowledge", "evidence", model_without_corpus,
	  STEPS({ "mark_ungrounded", step_ungrounded }) },
	{ "ranked_sources", "answer", retrieve_only,
	  STEPS({ "list_sources", step_sources }) },
	{ "report_nothing_found", "answer", nothing_found,
	  STEPS({ "say_nothing_found", step_say_nothing }) },
	{ "model_insufficient", "answer", model_insufficient,
	  STEPS({ "list_sources", step_sources },
	        { "say_insufficient", step_say_insufficient },
	        { "request_synthesis", step_request_synthesis }) },
	{ "report_insufficient", "answer", insufficient,
	  STEPS({ "list_sources", step_sources },
	        { "say_insufficient", step_say_insufficient }) },
	{ "model_synthesis", "answer", model_with_corpus,
	  STEPS({ "list_sources", step_sources },
	        { "summarise_by_mmr", step_summarise },
	        { "extract_findings", step_findings },
	        { "extract_recommendations", step_recommendations },
	        { "request_synthesis", step_request_synthesis }) },
	{ "model_only", "answer", model_without_corpus,
	  STEPS({ "request_synthesis", step_request_synthesis }) },
	{ "extractive_answer", "answer", has_evidence,
	  STEPS({ "list_sources", step_sources },
	        { "summarise_by_mmr", step_summarise },
	        { "extract_findings", step_findings },
	        { "extract_recommendations", step_recommendations }) },
};

/* ---- output ---- */

jv mas_research_passage_id(const struct research *r, uint32_t passage)
{
	struct mas_index_passage p;

	mas_index_passage(r->index, passage, &p);
	return jv_string_fmt("%s#%u", p.doc_id, p.number);
}

/* The passages that earned document hit HIT its rank. */
static jv doc_passages_json(const struct research *r,
                            const struct mas_index_doc_hit *hit)
{
	jv list = jv_array();

	for (size_t i = 0; i < hit->count; i++)
		list = jv_array_append(list, JV_OBJECT(
			jv_string("passage_id"),
			mas_research_passage_id(r, hit->passages[i].passage),
			jv_string("score"),
			rounded(hit->passages[i].score, 1e4)));
	return list;
}

static jv sources_json(const struct research *r)
{
	jv sources = jv_array();

	for (size_t i = 0; i < r->source_count; i++) {
		const struct mas_index_hit *hit = &r->best.hits[i];
		struct mas_index_passage p;
		jv source;

		mas_index_passage(r->index, hit->passage, &p);
		source = JV_OBJECT(jv_string("id"), jv_string(p.doc_id),
		                   jv_string("passage_id"),
		                   mas_research_passage_id(r, hit->passage),
		                   jv_string("title"), jv_string(p.title));
		source = set(source, "path", jv_string(p.path));
		source = set(source, "text", jv_string_sized(p.text,
		                                             (int)p.length));
		source = set(source, "score", rounded(hit->score, 1e4));
		source = set(source, "rank", jv_number((double)i + 1));
		if (r->best.docs)
			source = set(source, "passages", doc_passages_json(
				r, &r->best.docs[i]));
		sources = jv_array_append(sources, source);
	}
	return sources;
}

static jv evidence_json(const struct research *r)
{
	const struct evidence *e = &r->best.evidence;

	return JV_OBJECT(jv_string("coverage"), rounded(e->coverage, 1e3),
	                 jv_string("strength"), rounded(e->strength, 1e3),
	                 jv_string("support"), rounded(e->support, 1e3),
	                 jv_string("held"), rounded(e->held, 1e3),
	                 jv_string("known"), rounded(e->known, 1e3),
	                 jv_string("sufficient"), jv_bool(e->sufficient),
	                 jv_string("thin"), jv_bool(e->thin));
}

static jv meta_json(const struct research *r, const struct mas_bdi *bdi)
{
	const char *plan = mas_bdi_plan_used(bdi, "answer", NULL);
	jv meta = JV_OBJECT(jv_string("engine"), jv_string("embedded"),
	                    jv_string("plan"),
	                    plan ? jv_string(plan) : jv_null(),
	                    jv_string("plans"), mas_bdi_trace(bdi));

	meta = set(meta, "depth", jv_string(r->depth->name));
	meta = set(meta, "grounded", jv_bool(r->grounded));
	meta = set(meta, "retrieval_rounds", jv_number(r->rounds));
	if (r->index) {
		meta = set(meta, "expansion_terms", jv_copy(r->expansion));
		meta = set(meta, "unmatched_terms", jv_copy(r->unmatched));
		meta = set(meta, "evidence", evidence_json(r));
		meta = set(meta, "corpus", JV_OBJECT(
			jv_string("documents"),
			jv_number(mas_index_documents(r->index)),
			jv_string("passages"),
			jv_number(mas_index_passages(r->index))));
	}
	return meta;
}

static jv result_json(struct research *r, const struct mas_bdi *bdi)
{
	jv out = JV_OBJECT(jv_string("query"), jv_string(r->query));
	int answer = !r->options->retrieve_only;

	if (answer) {
		out = set(out, "summary", jv_copy(r->summary));
		out = set(out, "summary_sources", jv_copy(r->summary_sources));
		out = set(out, "key_findings", jv_copy(r->findings));
		out = set(out, "recommendations", jv_copy(r->recommendations));
	}
	out = set(out, "sources", r->index ? sources_json(r) : jv_array());
	out = set(out, "confidence", r->index
	                  ? rounded(r->best.evidence.confidence, 1e3)
	                  : jv_null());
	out = set(out, "status", jv_string(r->status));
	return set(out, "meta", meta_json(r, bdi));
}

/* ---- reading a task ---- */

static jv field(jv object, const char *key)
{
	if (jv_get_kind(object) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(object), jv_string(key));
}

static int present(jv value)
{
	return jv_is_valid(value) && jv_get_kind(value) != JV_KIND_NULL;
}

/* The query of TASK (borrowed) as a string, or the error. */
static jv task_query(jv task)
{
	jv query;
	const char *text;

	if (jv_get_kind(task) == JV_KIND_STRING)
		query = jv_copy(task);
	else if (jv_get_kind(task) == JV_KIND_OBJECT)
		query = field(task, "query");
	else
		return mas_fail(MAS_ERR_INVALID_REQUEST, "input: expected an "
		                "object or a string, got %s (check --input)",
		                jv_kind_name(jv_get_kind(task)));
	if (!present(query)) {
		jv_free(query);
		return mas_fail(MAS_ERR_INVALID_REQUEST, "query: missing");
	}
	if (jv_get_kind(query) != JV_KIND_STRING) {
		jv error = mas_fail(MAS_ERR_INVALID_REQUEST, "query: expected "
		                    "a string, got %s",
		                    jv_kind_name(jv_get_kind(query)));
		jv_free(query);
		return error;
	}
	text = jv_string_value(query);
	if (text[strspn(text, " \t\r\n")] == '\0') {
		jv_free(query);
		return mas_fail(MAS_ERR_INVALID_REQUEST, "query: empty");
	}
	if (strlen(text) > MAS_RESEARCH_QUERY_MAX) {
		jv error = mas_fail(MAS_ERR_INVALID_REQUEST, "query: %zu bytes, "
		                    "longer than the %d a query may have",
		                    strlen(text), MAS_RESEARCH_QUERY_MAX);
		jv_free(query);
		return error;
	}
	return query;
}

/* context.depth and context.domain of TASK (borrowed) into R. */
static jv task_context(struct research *r, jv task, jv *domain)
{
	jv context = field(task, "context");
	jv depth = field(context, "depth");
	jv status = jv_true();

	*domain = jv_null();
	r->depth = depth_named(r->options->depth);
	if (present(context) && jv_get_kind(context) != JV_KIND_OBJECT) {
		status = mas_fail(MAS_ERR_INVALID_REQUEST,
		                  "context: expected an object");
	} else if (jv_get_kind(depth) == JV_KIND_STRING &&
	           mas_research_depth_valid(jv_string_value(depth))) {
		r->depth = depth_named(jv_string_value(depth));
	} else if (present(depth)) {
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "context.depth: "
		                  "expected brief, standard or comprehensive");
	}
	if (jv_is_valid(status)) {
		jv value = field(context, "domain");
		if (jv_get_kind(value) == JV_KIND_STRING)
			*domain = value;
		else
			jv_free(value);
	}
	jv_free(depth);
	jv_free(context);
	return status;
}

static void release(struct research *r)
{
	release_round(&r->current);
	release_round(&r->best);
	mas_research_candidates_free(r);
	free(r->terms);
	jv_free(r->query_value);
	jv_free(r->unmatched);
	jv_free(r->expansion);
	jv_free(r->summary);
	jv_free(r->summary_sources);
	jv_free(r->findings);
	jv_free(r->recommendations);
}

static void init(struct research *r, const struct mas_research_options *o)
{
	memset(r, 0, sizeof(*r));
	r->options = o;
	r->index = o->index;
	r->llm_available = o->engine && o->engine->llm;
	r->grounded = 1;
	r->status = "completed";
	r->query_value = jv_null();
	r->unmatched = jv_array();
	r->expansion = jv_array();
	r->summary = jv_string("");
	r->summary_sources = jv_array();
	r->findings = jv_array();
	r->recommendations = jv_array();
}

/* Reads TASK (borrowed) into R, or returns the error. */
static jv prepare(struct research *r, jv task)
{
	jv domain, status, query = task_query(task);

	if (!jv_is_valid(query))
		return query;
	r->query_value = query;
	r->query = jv_string_value(query);
	r->zh = mas_text_has_cjk(r->query, strlen(r->query));
	status = task_context(r, task, &domain);
	if (!jv_is_valid(status)) {
		jv_free(domain);
		return status;
	}
	r->want = r->options->sources ? r->options->sources
	                              : r->depth->sources;
	/* A first stage judges its evidence on the depth's window, so
	 * that --sources changes how many come out, never which. */
	r->window = r->options->retrieve_only ? r->depth->sources : r->want;
	if (!r->index && !r->llm_available) {
		jv_free(domain);
		jv_free(status);
		return mas_fail(MAS_ERR_NOT_FOUND, "no corpus and no model: "
		                "give --corpus PATH (or set research.corpus, "
		                "MAS_CORPUS) or configure a model endpoint "
		                "(OPENAI_BASE_URL, OPENAI_API_KEY)");
	}
	if (r->index)
		read_query(r, jv_get_kind(domain) == JV_KIND_STRING
		                      ? jv_string_value(domain) : NULL);
	jv_free(domain);
	if (r->index && r->query_tokens == 0) {
		jv_free(status);
		return mas_fail(MAS_ERR_INVALID_REQUEST, "query: no words to "
		                "search for (only punctuation or symbols)");
	}
	return status;
}

/*
 * The embedded answer to TASK (consumed), with *R left holding the
 * beliefs for a model to build on (the caller releases it).
 */
static jv research(struct mas_researcher *researcher, jv task,
                   struct research *r)
{
	char created[MAS_CLOCK_ISO_SIZE], completed[MAS_CLOCK_ISO_SIZE];
	struct mas_bdi bdi;
	jv status, result;

	mas_clock_now_iso(created);
	init(r, researcher->options);
	status = prepare(r, task);
	if (!jv_is_valid(status)) {
		jv_free(task);
		return status;
	}
	jv_free(status);
	mas_bdi_init(&bdi, plans, sizeof(plans) / sizeof(plans[0]), r);
	mas_bdi_post(&bdi, "evidence", NULL);
	mas_bdi_post(&bdi, "answer", NULL);
	mas_bdi_run(&bdi);
	result = result_json(r, &bdi);
	mas_bdi_release(&bdi);
	mas_clock_now_iso(completed);
	result = set(result, "created_at", jv_string(created));
	result = set(result, "completed_at", jv_string(completed));
	jv_free(task);
	return result;
}

jv mas_research_task(struct mas_researcher *researcher, jv task)
{
	struct research r;
	jv result = research(researcher, task, &r);

	release(&r);
	return result;
}

void mas_research_start(void *agent, jv task, mas_agent_reply_fn reply,
                        void *context)
{
	struct mas_researcher *researcher = agent;
	struct research *r = malloc(sizeof(*r));
	jv result;

	if (!r)
		mas_die(MAS_EXIT_IO, "out of memory");
	result = research(researcher, task, r);
	if (!jv_is_valid(result) || !r->ask_model) {
		release(r);
		free(r);
		reply(context, result);
		return;
	}
	mas_research_ask_model(r, result, reply, context);
}

struct mas_researcher *mas_researcher_new(
	const struct mas_research_options *options)
{
	struct mas_researcher *researcher = calloc(1, sizeof(*researcher));

	if (!researcher)
		mas_die(MAS_EXIT_IO, "out of memory");
	researcher->options = options;
	return researcher;
}

void mas_researcher_free(struct mas_researcher *researcher)
{
	free(researcher);
}

void mas_research_release(struct research *r)
{
	release(r);
}
