/*
 * research-beliefs.h — what the research agent believes about one task,
 * shared by its plans (research.c), its extractive answer
 * (research-extract.c) and its use of a model (research-model.c).  Not a
 * public interface: only those files include it.
 */
#ifndef MAS_RESEARCH_BELIEFS_H
#define MAS_RESEARCH_BELIEFS_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "agent.h"
#include "index.h"
#include "research.h"

/* Passages ranked per round at least (more when more sources are
 * asked for). */
#define RESEARCH_POOL 20

/* Thin evidence (mas-research(1), PLANS): fewer than MIN_GOOD of the
 * passages wanted score GOOD_FRACTION of S1, or the coverage of the
 * query's weight is below MIN_COVERAGE. */
#define RESEARCH_GOOD_FRACTION 0.5
#define RESEARCH_MIN_GOOD 3
#define RESEARCH_MIN_COVERAGE 0.6

/* An answer rests on evidence whose confidence, the smaller of known and
 * held (mas-research(1), CONFIDENCE), is at least this; below it the
 * status is insufficient_evidence.  Chosen on the judged set of
 * tests/bats/research-judged.bats. */
#define RESEARCH_SUFFICIENT 0.7

/* Pseudo-relevance feedback: terms from the top passages. */
#define RESEARCH_FEEDBACK_PASSAGES 3
#define RESEARCH_FEEDBACK_TERMS 5
#define RESEARCH_FEEDBACK_WEIGHT 0.4

/* context.domain's words join the query with this weight. */
#define RESEARCH_DOMAIN_WEIGHT 0.3

/* Maximal marginal relevance: relevance against redundancy, and the
 * similarity above which a sentence counts as said already. */
#define RESEARCH_MMR_LAMBDA 0.7
#define RESEARCH_DUPLICATE 0.8

/* A summary's sentences, and a finding, are at least this share as
 * relevant as the best sentence. */
#define RESEARCH_SUMMARY_NEAR 0.5
#define RESEARCH_FINDING_NEAR 0.25

/* A source supports a sentence holding this share of its weight. */
#define RESEARCH_SUPPORT 0.6

struct research_depth {
	const char *name;
	size_t sources, summary, findings, recommendations;
};

/* The distinct terms of a passage or sentence, sorted, with counts. */
struct bag {
	uint32_t *ids;
	uint32_t *tf;
	size_t count;
	size_t tokens;
};

struct evidence {
	double s1;          /* the score of an average passage holding
	                     * every query term once */
	double coverage, strength, support, confidence;
	double known;       /* the share of the query's weight in terms the
	                     * corpus holds */
	double held;        /* the largest share of the query's terms
	                     * one document holds in the window */
	int sufficient;     /* confidence reaches RESEARCH_SUFFICIENT */
	size_t good;        /* passages scoring at least half of s1 */
	int thin;
};

/* One retrieval round.  Only the first bag_count hits have a bag of
 * terms: those the evidence, the feedback and the answer read, however
 * many sources a first stage asks for. */
struct round {
	struct mas_index_hit *hits;     /* best first; with --rank documents
	                                 * each document's best passage */
	struct mas_index_doc_hit *docs; /* with --rank documents, else NULL */
	struct bag *bags;
	size_t hit_count, bag_count, capacity;
	size_t term_count;  /* the query terms it ran with */
	struct evidence evidence;
};

/* A sentence of a source that may be said. */
struct candidate {
	const char *start;
	size_t length;
	size_t source;      /* index in best.hits */
	struct bag bag;
	double norm;        /* of its idf vector */
	double relevance;
	int advice;
	int used;
};

struct research {
	const struct mas_research_options *options;
	struct mas_index *index;
	jv query_value;
	const char *query;        /* borrowed from query_value */
	int zh;                   /* the query has CJK text */
	const struct research_depth *depth;
	size_t want;              /* sources to return */
	size_t window;            /* passages the evidence is judged on */
	int llm_available, ask_model, grounded;
	const char *status;

	/* the query: original terms first, then feedback terms */
	struct mas_index_term *terms;
	size_t term_count, term_capacity, original_count;
	size_t query_tokens;
	double missing_mass;      /* weight of words the corpus lacks */
	jv unmatched, expansion;

	int rounds;
	struct round current, best;
	size_t source_count;

	struct candidate *candidates;
	size_t candidate_count;
	size_t *said;             /* candidates said so far, in order */
	size_t said_count;

	jv summary, summary_sources, findings, recommendations;
};

/* The distinct terms of TITLE (may be NULL) and TEXT, as terms of
 * INDEX, sorted, with their counts (research.c). */
void mas_research_bag(struct bag *bag, struct mas_index *index,
                      const char *title, const char *text, size_t length);
void mas_research_bag_free(struct bag *bag);
int mas_research_compare_u32(const void *a, const void *b);

/* "DOC#N", the id sources and citations use for a passage. */
jv mas_research_passage_id(const struct research *r, uint32_t passage);

/* The sentences of the sources, scored (research-extract.c). */
void mas_research_candidates(struct research *r);
void mas_research_candidates_free(struct research *r);
void mas_research_summary(struct research *r);
void mas_research_findings(struct research *r);
void mas_research_recommendations(struct research *r);

/* Ask the model (research-model.c); R is the embedded answer's beliefs
 * (taken over and freed), RESULT the embedded answer (consumed). */
void mas_research_ask_model(struct research *r, jv result,
                            mas_agent_reply_fn reply, void *context);

/* Release R's contents (not R itself). */
void mas_research_release(struct research *r);

#endif
