/*
 * research-model.c — the research agent with a model (mas-research(1),
 * MODEL): the model proposes sub-questions, each is answered from the
 * passages BM25 retrieves for it, and the synthesis may cite only the
 * passages it was given; any other citation is removed and counted.
 * Two requests per task, one after the other, both asynchronous.
 */
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "log.h"
#include "mas.h"
#include "research-beliefs.h"
#include "text.h"
#include "banned.h"

/* Passages retrieved for each sub-question, and sub-questions used. */
#define PER_QUESTION 3
#define MAX_QUESTIONS 4

struct asking {
	struct research *r;
	jv result;        /* the embedded answer: the fallback */
	jv passages;      /* [{"id","title","text"}] given to the model */
	jv questions;     /* the sub-questions */
	mas_agent_reply_fn reply;
	void *context;
};

static jv string_schema(void)
{
	return JV_OBJECT(jv_string("type"), jv_string("string"));
}

static jv array_of(jv items)
{
	return JV_OBJECT(jv_string("type"), jv_string("array"),
	                 jv_string("items"), items);
}

static jv object_schema(jv properties, jv required)
{
	return JV_OBJECT(jv_string("type"), jv_string("object"),
	                 jv_string("properties"), properties,
	                 jv_string("required"), required,
	                 jv_string("additionalProperties"), jv_false());
}

static jv request(const char *system, jv user, jv schema, jv required)
{
	jv messages = JV_ARRAY(
		JV_OBJECT(jv_string("role"), jv_string("system"),
		          jv_string("content"), jv_string(system)),
		JV_OBJECT(jv_string("role"), jv_string("user"),
		          jv_string("content"), jv_dump_string(user, 0)));

	return JV_OBJECT(jv_string("messages"), messages,
	                 jv_string("temperature"), jv_number(0.2),
	                 jv_string("max_tokens"), jv_number(1200),
	                 jv_string("response_format"), schema,
	                 jv_string("required"), required);
}

static jv questions_request(const struct research *r)
{
	const char *system = r->zh
		? "你是研究助理。把研究问题拆分为 2 到 4 个具体的子问题，"
		  "使用与问题相同的语言。以 JSON 回复：{\"sub_questions\": "
		  "[\"...\"]}。"
		: "You are a research assistant. Break the research question "
		  "into 2 to 4 specific sub-questions, in the question's "
		  "language. Reply with JSON: {\"sub_questions\": [\"...\"]}.";
	jv schema = object_schema(
		JV_OBJECT(jv_string("sub_questions"), array_of(string_schema())),
		JV_ARRAY(jv_string("sub_questions")));

	return request(system, JV_OBJECT(jv_string("question"),
	                                 jv_string(r->query)),
	               schema, JV_ARRAY(jv_string("sub_questions")));
}

/* The evidence retrieved does not answer the question
 * (mas-research(1), CONFIDENCE). */
static int insufficient(const struct research *r)
{
	return strcmp(r->status, "insufficient_evidence") == 0;
}

static const char insufficient_en[] =
	"You are a research assistant. The passages given were retrieved "
	"for the research question, but they do NOT hold enough evidence "
	"to answer it (\"evidence\": \"insufficient\"). Do not answer "
	"from general knowledge. In \"summary\", say that the corpus does "
	"not answer the question and what the closest passages are about, "
	"citing their ids in \"summary_sources\"; give a finding only for "
	"what a passage states, with its id, and no recommendation. Reply "
	"with JSON: {\"answers\": [{\"question\", \"answer\", "
	"\"sources\"}], \"summary\", \"summary_sources\", "
	"\"key_findings\": [{\"text\", \"sources\"}], "
	"\"recommendations\": []}.";

static const char insufficient_zh[] =
	"你是研究助理。给出的段落是为研究问题检索到的，但它们不足以回答"
	"该问题（\"evidence\": \"insufficient\"）。不要用常识作答。在 "
	"summary 中说明语料库无法回答该问题，以及最接近的段落讲的是什么，"
	"并在 summary_sources 中列出其 id；只有段落明确陈述的内容才能作为"
	"结论并注明 id，不要给出建议。以 JSON 回复：{\"answers\": "
	"[{\"question\", \"answer\", \"sources\"}], \"summary\", "
	"\"summary_sources\", \"key_findings\": [{\"text\", "
	"\"sources\"}], \"recommendations\": []}。";

static jv synthesis_request(const struct asking *a)
{
	const char *system = a->r->zh
		? "你是研究助理。只根据给出的段落回答研究问题及其子问题，"
		  "用与问题相同的语言。每条结论和建议都必须在 sources 中"
		  "列出所依据段落的 id，只能使用给出的 id；段落中没有的内容"
		  "不要写。以 JSON 回复：{\"answers\": [{\"question\", "
		  "\"answer\", \"sources\"}], \"summary\", \"summary_sources\","
		  " \"key_findings\": [{\"text\", \"sources\"}], "
		  "\"recommendations\": [{\"text\", \"sources\"}]}。"
		: "You are a research assistant. Answer the research question "
		  "and its sub-questions only from the passages given, in the "
		  "question's language. Every finding and recommendation must "
		  "list in \"sources\" the ids of the passages it rests on, "
		  "using only the ids given; write nothing the passages do not "
		  "support. When no passages are given, answer from general "
		  "knowledge with empty sources. Reply with JSON: {\"answers\":"
		  " [{\"question\", \"answer\", \"sources\"}], \"summary\", "
		  "\"summary_sources\", \"key_findings\": [{\"text\", "
		  "\"sources\"}], \"recommendations\": [{\"text\", "
		  "\"sources\"}]}.";
	jv ids = array_of(string_schema());
	jv cited = object_schema(
		JV_OBJECT(jv_string("text"), string_schema(),
		          jv_string("sources"), jv_copy(ids)),
		JV_ARRAY(jv_string("text"), jv_string("sources")));
	jv answer = object_schema(
		JV_OBJECT(jv_string("question"), string_schema(),
		          jv_string("answer"), string_schema(),
		          jv_string("sources"), jv_copy(ids)),
		JV_ARRAY(jv_string("question"), jv_string("answer"),
		         jv_string("sources")));
	jv required = JV_ARRAY(jv_string("answers"), jv_string("summary"),
	                       jv_string("summary_sources"),
	                       jv_string("key_findings"),
	                       jv_string("recommendations"));
	jv schema = object_schema(
		JV_OBJECT(jv_string("answers"), array_of(answer),
		          jv_string("summary"), string_schema(),
		          jv_string("summary_sources"), ids,
		          jv_string("key_findings"), array_of(jv_copy(cited)),
		          jv_string("recommendations"), array_of(cited)),
		jv_copy(required));

	jv user = JV_OBJECT(
		jv_string("question"), jv_string(a->r->query),
		jv_string("sub_questions"), jv_copy(a->questions),
		jv_string("passages"), jv_copy(a->passages));

	if (insufficient(a->r)) {
		/* the model is told, so that it does not fill the gap from
		 * its own knowledge; the record says so whatever it writes */
		user = jv_object_set(user, jv_string("evidence"),
		                     jv_string("insufficient"));
		system = a->r->zh ? insufficient_zh : insufficient_en;
	}
	return request(system, user, schema, required);
}

/* ---- passages for the model ---- */

static int has_passage(jv passages, const char *id)
{
	int found = 0;

	jv_array_foreach(passages, i, passage) {
		jv pid = jv_object_get(passage, jv_string("id"));
		found = found || strcmp(jv_string_value(pid), id) == 0;
		jv_free(pid);
	}
	return found;
}

static jv add_passage(const struct research *r, jv passages, uint32_t number)
{
	struct mas_index_passage p;
	jv id = mas_research_passage_id(r, number);

	if (has_passage(passages, jv_string_value(id))) {
		jv_free(id);
		return passages;
	}
	mas_index_passage(r->index, number, &p);
	return jv_array_append(passages, JV_OBJECT(
		jv_string("id"), id, jv_string("title"), jv_string(p.title),
		jv_string("text"), jv_string_sized(p.text, (int)p.length)));
}

struct question_terms {
	struct mas_index *index;
	struct mas_index_term terms[64];
	size_t count;
};

static void question_token(void *user, const char *token, size_t length,
                           enum mas_text_token_kind kind)
{
	struct question_terms *q = user;
	int64_t term = mas_index_term(q->index, token, length);

	if (term >= 0 && q->count < 64) {
		q->terms[q->count].term = (uint32_t)term;
		q->terms[q->count++].weight = 1;
	}
}

/* The sources, then the best passages of each sub-question. */
static jv gather_passages(struct research *r, jv questions)
{
	jv passages = jv_array();
	int n = 0;

	if (!r->index) {
		jv_free(questions);
		return passages;
	}
	for (size_t i = 0; i < r->source_count; i++)
		passages = add_passage(r, passages, r->best.hits[i].passage);
	jv_array_foreach(questions, i, question) {
		struct question_terms q = { .index = r->index };
		struct mas_index_hit hits[PER_QUESTION];
		size_t found = 0;
		if (jv_get_kind(question) == JV_KIND_STRING &&
		    n++ < MAX_QUESTIONS) {
			mas_text_tokens(jv_string_value(question),
			                strlen(jv_string_value(question)), 0,
			                question_token, &q);
			found = mas_index_search(r->index, q.terms, q.count,
			                         PER_QUESTION, hits);
		}
		for (size_t h = 0; h < found; h++)
			passages = add_passage(r, passages, hits[h].passage);
		jv_free(question);
	}
	jv_free(questions);
	return passages;
}

/* ---- the reply ---- */

/* ITEMS (consumed) with their "sources" kept to the passages given;
 * *REMOVED counts what went. */
static jv keep_cited(jv items, jv passages, size_t *removed)
{
	jv out = jv_array();

	if (jv_get_kind(items) != JV_KIND_ARRAY) {
		jv_free(items);
		return out;
	}
	jv_array_foreach(items, i, item) {
		jv sources = jv_object_get(jv_copy(item), jv_string("sources"));
		jv kept = jv_array();
		if (jv_get_kind(sources) == JV_KIND_ARRAY)
			jv_array_foreach(sources, j, id) {
				if (jv_get_kind(id) == JV_KIND_STRING &&
				    has_passage(passages, jv_string_value(id)))
					kept = jv_array_append(kept, id);
				else {
					(*removed)++;
					jv_free(id);
				}
			}
		jv_free(sources);
		out = jv_array_append(out, jv_object_set(
			item, jv_string("sources"), kept));
	}
	jv_free(items);
	return out;
}

static jv reply_field(jv outcome, const char *name)
{
	return jv_getpath(jv_copy(outcome), JV_ARRAY(jv_string("json"),
	                                             jv_string(name)));
}

/* The ids of PASSAGES (borrowed). */
static jv passage_ids(jv passages)
{
	jv ids = jv_array();

	jv_array_foreach(passages, i, passage)
		ids = jv_array_append(ids, jv_object_get(passage,
		                                         jv_string("id")));
	return ids;
}

/* The model's answer in RESULT's place, its citations checked. */
static jv synthesised(struct asking *a, jv outcome)
{
	jv result = a->result, summary = reply_field(outcome, "summary");
	size_t removed = 0;
	jv wrapped, ids, meta;

	if (jv_get_kind(summary) != JV_KIND_STRING) {
		jv_free(summary);
		summary = jv_string("");
	}
	wrapped = keep_cited(JV_ARRAY(JV_OBJECT(
		jv_string("text"), jv_string(""), jv_string("sources"),
		reply_field(outcome, "summary_sources"))), a->passages,
		&removed);
	ids = jv_getpath(wrapped, JV_ARRAY(jv_number(0),
	                                   jv_string("sources")));
	result = jv_object_set(result, jv_string("summary"), summary);
	result = jv_object_set(result, jv_string("summary_sources"), ids);
	result = jv_object_set(result, jv_string("key_findings"), keep_cited(
		reply_field(outcome, "key_findings"), a->passages, &removed));
	/* evidence that does not answer recommends nothing, whatever the
	 * model wrote */
	result = jv_object_set(result, jv_string("recommendations"),
	                       insufficient(a->r)
	                       ? jv_array()
	                       : keep_cited(reply_field(outcome,
	                                                "recommendations"),
	                                    a->passages, &removed));
	result = jv_object_set(result, jv_string("sub_questions"), keep_cited(
		reply_field(outcome, "answers"), a->passages, &removed));
	meta = jv_object_get(jv_copy(result), jv_string("meta"));
	meta = jv_object_set(meta, jv_string("passages"),
	                     passage_ids(a->passages));
	meta = jv_object_set(meta, jv_string("grounded"),
	                     jv_bool(a->r->index != NULL));
	meta = jv_object_set(meta, jv_string("removed_citations"),
	                     jv_number((double)removed));
	jv_free(outcome);
	return jv_object_set(result, jv_string("meta"), meta);
}

static void finish(struct asking *a, jv result)
{
	a->reply(a->context, result);
	jv_free(a->passages);
	jv_free(a->questions);
	mas_research_release(a->r);
	free(a->r);
	free(a);
}

/* The model failed: the embedded answer, as --fallback says, or the
 * failure itself when there is no embedded answer (no corpus). */
static void failed(struct asking *a, jv outcome)
{
	if (!a->r->index) {
		jv_free(a->result);
		finish(a, outcome);
		return;
	}
	finish(a, mas_engine_settle(a->r->options->engine, a->result,
	                            outcome));
}

/* A failure naming the first item of the reply's lists that is not an
 * object (the model decides; libjq asserts on a member of a number),
 * or null when every one is. */
static jv malformed(jv outcome) /* borrows */
{
	static const char *const lists[] = {
		"answers", "key_findings", "recommendations", NULL
	};

	for (int l = 0; lists[l]; l++) {
		jv items = reply_field(outcome, lists[l]);
		int bad = -1;

		if (jv_get_kind(items) == JV_KIND_ARRAY)
			jv_array_foreach(items, i, item) {
				if (bad < 0 &&
				    jv_get_kind(item) != JV_KIND_OBJECT)
					bad = i;
				jv_free(item);
			}
		jv_free(items);
		if (bad >= 0) /* permanent, as a reply lacking a field */
			return jv_invalid_with_msg(jv_object_set(mas_error(
				MAS_ERR_UPSTREAM_ERROR, "reply: %s[%d]: "
				"expected an object", lists[l], bad),
				jv_string("transient"), jv_false()));
	}
	return jv_null();
}

static void synthesis_done(void *user, jv outcome)
{
	struct asking *a = user;
	jv why = jv_is_valid(outcome) ? malformed(outcome) : jv_null();

	if (!jv_is_valid(why)) {
		/* not replayed from the cache next time */
		jv key = jv_object_get(outcome, jv_string("cache_key"));

		if (jv_get_kind(key) == JV_KIND_STRING)
			mas_llm_forget(a->r->options->engine->llm,
			               jv_string_value(key));
		jv_free(key);
		outcome = why;
	}
	if (!jv_is_valid(outcome)) {
		failed(a, outcome);
		return;
	}
	a->result = synthesised(a, jv_copy(outcome));
	finish(a, mas_engine_settle(a->r->options->engine, a->result,
	                            outcome));
}

static void questions_done(void *user, jv outcome)
{
	struct asking *a = user;
	const struct mas_engine *engine = a->r->options->engine;
	jv questions;

	if (!jv_is_valid(outcome)) {
		failed(a, outcome);
		return;
	}
	questions = reply_field(outcome, "sub_questions");
	jv_free(outcome);
	if (jv_get_kind(questions) != JV_KIND_ARRAY) {
		jv_free(questions);
		questions = jv_array();
	}
	jv_free(a->questions);
	jv_free(a->passages);
	a->questions = jv_array_slice(questions, 0, MAX_QUESTIONS);
	a->passages = gather_passages(a->r, jv_copy(a->questions));
	mas_llm_submit(engine->llm, synthesis_request(a), synthesis_done,
	               NULL, a);
}

void mas_research_ask_model(struct research *r, jv result,
                            mas_agent_reply_fn reply, void *context)
{
	struct asking *a = calloc(1, sizeof(*a));

	if (!a)
		mas_die(MAS_EXIT_IO, "out of memory");
	a->r = r;
	a->result = result;
	a->passages = jv_array();
	a->questions = jv_array();
	a->reply = reply;
	a->context = context;
	mas_llm_submit(r->options->engine->llm, questions_request(r),
	               questions_done, NULL, a);
}
