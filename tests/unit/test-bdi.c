/*
 * test-bdi.c — lib/bdi.c against bdi.h: plan selection by goal and
 * context in library order, plan failure and the next applicable plan
 * (context re-checked), desires posted by steps, the trace.
 */
#include <stdlib.h>

#include "bdi.h"
#include "unit.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The beliefs of the toy agent the tests drive. */
struct beliefs {
	int llm_up;          /* the LLM engine answers */
	int evidence;        /* how many passages were retrieved */
	int tries;           /* retrieval attempts */
	int calls;           /* steps run, in total */
	char log[512];       /* "plan.step subject;" for each step run */
	int extra_desires;   /* how many desires post_many posts */
};

static void note(struct beliefs *b, const char *what, const char *subject)
{
	size_t used = strlen(b->log);

	snprintf(b->log + used, sizeof(b->log) - used, "%s%s%s;", what,
	         subject ? " " : "", subject ? subject : "");
	b->calls++;
}

static int step_ok(struct mas_bdi *bdi, void *beliefs, const char *subject)
{
	note(beliefs, "ok", subject);
	return 0;
}

static int step_call_llm(struct mas_bdi *bdi, void *beliefs,
                         const char *subject)
{
	struct beliefs *b = beliefs;

	note(b, "llm", subject);
	if (!b->llm_up) {
		b->llm_up = -1; /* learnt: the engine is down */
		return mas_bdi_fail(bdi, "llm: connection refused (%d)", 111);
	}
	return 0;
}

static int step_embedded(struct mas_bdi *bdi, void *beliefs,
                         const char *subject)
{
	note(beliefs, "embedded", subject);
	return 0;
}

static int step_retrieve(struct mas_bdi *bdi, void *beliefs,
                         const char *subject)
{
	struct beliefs *b = beliefs;

	note(b, "retrieve", subject);
	b->tries++;
	b->evidence += 2;
	return 0;
}

static int step_need_evidence(struct mas_bdi *bdi, void *beliefs,
                              const char *subject)
{
	struct beliefs *b = beliefs;

	note(b, "check", subject);
	if (b->evidence < 3)
		return mas_bdi_fail(bdi, "thin evidence: %d passages",
		                    b->evidence);
	return 0;
}

/* Fails without giving a reason. */
static int step_silent_fail(struct mas_bdi *bdi, void *beliefs,
                            const char *subject)
{
	note(beliefs, "silent", subject);
	return -1;
}

static int step_never(struct mas_bdi *bdi, void *beliefs,
                      const char *subject)
{
	note(beliefs, "NEVER", subject);
	return 0;
}

static int step_post_two(struct mas_bdi *bdi, void *beliefs,
                         const char *subject)
{
	note(beliefs, "post", subject);
	mas_bdi_post(bdi, "forecast", "visits");
	mas_bdi_post(bdi, "forecast", "sales");
	return 0;
}

static int step_post_many(struct mas_bdi *bdi, void *beliefs,
                          const char *subject)
{
	struct beliefs *b = beliefs;
	char name[32];

	for (int i = 0; i < b->extra_desires; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		mas_bdi_post(bdi, "metric", name);
	}
	return 0;
}

static int when_llm_not_down(const void *beliefs, const char *subject)
{
	return ((const struct beliefs *)beliefs)->llm_up >= 0;
}

static int when_llm_down(const void *beliefs, const char *subject)
{
	return ((const struct beliefs *)beliefs)->llm_up < 0;
}

static int when_subject_sales(const void *beliefs, const char *subject)
{
	return subject && strcmp(subject, "sales") == 0;
}

static int never(const void *beliefs, const char *subject)
{
	return 0;
}

static const struct mas_bdi_step llm_steps[] = {
	{ "call_llm", step_call_llm }, { "format", step_ok }, { NULL, NULL }
};
static const struct mas_bdi_step embedded_steps[] = {
	{ "embedded", step_embedded }, { NULL, NULL }
};
static const struct mas_bdi_step never_steps[] = {
	{ "never", step_never }, { NULL, NULL }
};
static const struct mas_bdi_step ok_steps[] = {
	{ "ok", step_ok }, { NULL, NULL }
};
static const struct mas_bdi_step research_steps[] = {
	{ "retrieve", step_retrieve }, { "check", step_need_evidence },
	{ NULL, NULL }
};
static const struct mas_bdi_step silent_steps[] = {
	{ "first", step_ok }, { "quiet_failure", step_silent_fail },
	{ "after", step_never }, { NULL, NULL }
};
static const struct mas_bdi_step plan_steps[] = {
	{ "post", step_post_two }, { NULL, NULL }
};
static const struct mas_bdi_step many_steps[] = {
	{ "post_many", step_post_many }, { NULL, NULL }
};
static const struct mas_bdi_step empty_steps[] = { { NULL, NULL } };

/* The answer plans of a chat agent: LLM first, then the embedded one. */
static const struct mas_bdi_plan answer_plans[] = {
	{ "unrelated", "summarise", NULL, never_steps },
	{ "llm_answer", "answer", when_llm_not_down, llm_steps },
	{ "skipped_while_up", "answer", when_llm_down, embedded_steps },
	{ "embedded_answer", "answer", NULL, embedded_steps },
};

static jv trace_entry(const struct mas_bdi *bdi, int i)
{
	return jv_array_get(mas_bdi_trace(bdi), i);
}

static const char *get_string(jv entry, const char *key, char *buf,
                              size_t size)
{
	jv value = jv_object_get(jv_copy(entry), jv_string(key));

	if (jv_get_kind(value) == JV_KIND_STRING)
		snprintf(buf, size, "%s", jv_string_value(value));
	else
		snprintf(buf, size, "(%s)", jv_kind_name(jv_get_kind(value)));
	jv_free(value);
	return buf;
}

static void test_first_applicable_plan(void)
{
	struct beliefs b = { .llm_up = 1 };
	struct mas_bdi bdi;

	mas_bdi_init(&bdi, answer_plans, COUNT(answer_plans), &b);
	mas_bdi_post(&bdi, "answer", NULL);
	CHECK_INT(mas_bdi_run(&bdi), 0);
	CHECK_STR(b.log, "llm;ok;");
	CHECK(mas_bdi_achieved(&bdi, "answer", NULL));
	CHECK_STR(mas_bdi_plan_used(&bdi, "answer", NULL), "llm_answer");
	CHECK(!mas_bdi_achieved(&bdi, "summarise", NULL));
	CHECK(mas_bdi_plan_used(&bdi, "summarise", NULL) == NULL);
	mas_bdi_release(&bdi);
}

static void test_failure_tries_next_plan_rechecked(void)
{
	struct beliefs b = { .llm_up = 0 };
	struct mas_bdi bdi;
	char buf[128];
	jv entry, failed, first;

	mas_bdi_init(&bdi, answer_plans, COUNT(answer_plans), &b);
	mas_bdi_post(&bdi, "answer", NULL);
	CHECK_INT(mas_bdi_run(&bdi), 0);
	/* The failing step taught the agent the LLM is down, so the plan
	 * for that case is now applicable and comes first. */
	CHECK_STR(b.log, "llm;embedded;");
	CHECK_STR(mas_bdi_plan_used(&bdi, "answer", NULL),
	          "skipped_while_up");
	CHECK(mas_bdi_achieved(&bdi, "answer", NULL));

	entry = trace_entry(&bdi, 0);
	CHECK_STR(get_string(entry, "status", buf, sizeof(buf)), "achieved");
	failed = jv_object_get(jv_copy(entry), jv_string("failed"));
	CHECK_INT(jv_get_kind(failed), JV_KIND_ARRAY);
	CHECK_INT(jv_array_length(jv_copy(failed)), 1);
	first = jv_array_get(failed, 0);
	CHECK_STR(get_string(first, "plan", buf, sizeof(buf)), "llm_answer");
	CHECK_STR(get_string(first, "reason", buf, sizeof(buf)),
	          "llm: connection refused (111)");
	jv_free(first);
	jv_free(entry);
	mas_bdi_release(&bdi);
}

static void test_context_checked_when_pursued(void)
{
	/* Beliefs change after posting, before running: the context is
	 * read when the desire is taken, not when it was posted. */
	struct beliefs b = { .llm_up = 1 };
	struct mas_bdi bdi;

	mas_bdi_init(&bdi, answer_plans, COUNT(answer_plans), &b);
	mas_bdi_post(&bdi, "answer", NULL);
	b.llm_up = -1;
	CHECK_INT(mas_bdi_run(&bdi), 0);
	CHECK_STR(b.log, "embedded;");
	CHECK_STR(mas_bdi_plan_used(&bdi, "answer", NULL),
	          "skipped_while_up");
	mas_bdi_release(&bdi);
}

static const struct mas_bdi_plan research_plans[] = {
	{ "retrieve_once", "research", NULL, research_steps },
	{ "retrieve_again", "research", NULL, research_steps },
	{ "give_up", "research", never, ok_steps },
};

static void test_retry_plan_keeps_beliefs(void)
{
	struct beliefs b = { 0 };
	struct mas_bdi bdi;

	mas_bdi_init(&bdi, research_plans, COUNT(research_plans), &b);
	mas_bdi_post(&bdi, "research", "q");
	CHECK_INT(mas_bdi_run(&bdi), 0);
	CHECK_INT(b.tries, 2);
	CHECK_STR(b.log, "retrieve q;check q;retrieve q;check q;");
	CHECK_STR(mas_bdi_plan_used(&bdi, "research", "q"),
	          "retrieve_again");
	mas_bdi_release(&bdi);
}

static const struct mas_bdi_plan failing_plans[] = {
	{ "quiet", "g", NULL, silent_steps },
	{ "loud", "g", NULL, research_steps },
	{ "not_applicable", "g", never, ok_steps },
};

static void test_all_plans_fail(void)
{
	struct beliefs b = { .evidence = -10 };
	struct mas_bdi bdi;
	char buf[128];
	jv entry, failed, reason;

	mas_bdi_init(&bdi, failing_plans, COUNT(failing_plans), &b);
	mas_bdi_post(&bdi, "g", NULL);
	CHECK_INT(mas_bdi_run(&bdi), 1);
	CHECK_INT(bdi.failed_goals, 1);
	CHECK(!mas_bdi_achieved(&bdi, "g", NULL));
	CHECK(mas_bdi_plan_used(&bdi, "g", NULL) == NULL);
	/* Steps after a failing one do not run. */
	CHECK(strstr(b.log, "NEVER") == NULL);
	CHECK_STR(b.log, "ok;silent;retrieve;check;");

	entry = trace_entry(&bdi, 0);
	CHECK_STR(get_string(entry, "status", buf, sizeof(buf)), "failed");
	CHECK_STR(get_string(entry, "goal", buf, sizeof(buf)), "g");
	failed = jv_object_get(jv_copy(entry), jv_string("failed"));
	CHECK_INT(jv_array_length(jv_copy(failed)), 2);
	/* A step that gives no reason is named instead. */
	reason = jv_array_get(jv_copy(failed), 0);
	CHECK_STR(get_string(reason, "plan", buf, sizeof(buf)), "quiet");
	CHECK_STR(get_string(reason, "reason", buf, sizeof(buf)),
	          "quiet_failure");
	jv_free(reason);
	reason = jv_array_get(failed, 1);
	CHECK_STR(get_string(reason, "plan", buf, sizeof(buf)), "loud");
	CHECK_STR(get_string(reason, "reason", buf, sizeof(buf)),
	          "thin evidence: -8 passages");
	jv_free(reason);
	jv_free(entry);
	mas_bdi_release(&bdi);
}

static void test_no_plan_for_goal(void)
{
	struct beliefs b = { 0 };
	struct mas_bdi bdi;
	char buf[64];
	jv entry;

	mas_bdi_init(&bdi, answer_plans, COUNT(answer_plans), &b);
	mas_bdi_post(&bdi, "fly", "moon");
	mas_bdi_post(&bdi, "answer", NULL);
	b.llm_up = 1;
	CHECK_INT(mas_bdi_run(&bdi), 1);
	CHECK(!mas_bdi_achieved(&bdi, "fly", "moon"));
	CHECK(mas_bdi_achieved(&bdi, "answer", NULL));
	entry = trace_entry(&bdi, 0);
	CHECK_STR(get_string(entry, "status", buf, sizeof(buf)), "failed");
	CHECK_STR(get_string(entry, "subject", buf, sizeof(buf)), "moon");
	/* No plan was tried, so there is nothing under "failed". */
	CHECK_STR(get_string(entry, "failed", buf, sizeof(buf)),
	          "(<invalid>)");
	jv_free(entry);
	mas_bdi_release(&bdi);
}

static const struct mas_bdi_plan posting_plans[] = {
	{ "plan_forecasts", "analyse", NULL, plan_steps },
	{ "sales_forecast", "forecast", when_subject_sales, ok_steps },
	{ "generic_forecast", "forecast", NULL, ok_steps },
	{ "post_many", "many", NULL, many_steps },
	{ "metric", "metric", NULL, empty_steps },
};

static void test_steps_post_desires(void)
{
	struct beliefs b = { 0 };
	struct mas_bdi bdi;
	char buf[64];
	jv trace, entry;

	mas_bdi_init(&bdi, posting_plans, COUNT(posting_plans), &b);
	mas_bdi_post(&bdi, "analyse", NULL);
	CHECK_INT(mas_bdi_run(&bdi), 0);
	CHECK_STR(b.log, "post;ok visits;ok sales;");
	CHECK_STR(mas_bdi_plan_used(&bdi, "forecast", "visits"),
	          "generic_forecast");
	CHECK_STR(mas_bdi_plan_used(&bdi, "forecast", "sales"),
	          "sales_forecast");
	CHECK(mas_bdi_achieved(&bdi, "forecast", "sales"));
	CHECK(mas_bdi_achieved(&bdi, "forecast", NULL));
	CHECK(!mas_bdi_achieved(&bdi, "forecast", "weather"));
	CHECK(mas_bdi_plan_used(&bdi, "forecast", "weather") == NULL);

	trace = mas_bdi_trace(&bdi);
	CHECK_INT(jv_array_length(jv_copy(trace)), 3);
	entry = jv_array_get(trace, 2);
	CHECK_STR(get_string(entry, "goal", buf, sizeof(buf)), "forecast");
	CHECK_STR(get_string(entry, "subject", buf, sizeof(buf)), "sales");
	CHECK_STR(get_string(entry, "plan", buf, sizeof(buf)),
	          "sales_forecast");
	jv_free(entry);
	mas_bdi_release(&bdi);
}

/* Many desires posted from inside a step, so the desire array grows
 * while the interpreter is walking it. */
static void test_many_desires_from_a_step(void)
{
	struct beliefs b = { .extra_desires = 100 };
	struct mas_bdi bdi;
	jv trace;

	mas_bdi_init(&bdi, posting_plans, COUNT(posting_plans), &b);
	mas_bdi_post(&bdi, "many", NULL);
	CHECK_INT(mas_bdi_run(&bdi), 0);
	CHECK_INT(bdi.desire_count, 101);
	CHECK(mas_bdi_achieved(&bdi, "metric", "m0"));
	CHECK(mas_bdi_achieved(&bdi, "metric", "m99"));
	CHECK_STR(mas_bdi_plan_used(&bdi, "metric", "m57"), "metric");
	trace = mas_bdi_trace(&bdi);
	CHECK_INT(jv_array_length(trace), 101);
	mas_bdi_release(&bdi);
}

static void test_trace_json(void)
{
	struct beliefs b = { .llm_up = 0 };
	struct mas_bdi bdi;
	jv want, got;

	mas_bdi_init(&bdi, answer_plans, COUNT(answer_plans), &b);
	mas_bdi_post(&bdi, "answer", "greeting");
	mas_bdi_run(&bdi);
	got = mas_bdi_trace(&bdi);
	want = jv_parse("[{\"goal\":\"answer\",\"subject\":\"greeting\","
	                "\"plan\":\"skipped_while_up\","
	                "\"status\":\"achieved\","
	                "\"steps\":[\"embedded\"],"
	                "\"failed\":[{\"plan\":\"llm_answer\","
	                "\"reason\":\"llm: connection refused (111)\"}]}]");
	if (!jv_equal(jv_copy(got), jv_copy(want))) {
		jv text = jv_dump_string(jv_copy(got), 0);
		UNIT_FAIL("trace %s", jv_string_value(text));
		jv_free(text);
	}
	jv_free(got);
	jv_free(want);
	mas_bdi_release(&bdi);
}

static void test_trace_is_a_copy(void)
{
	struct beliefs b = { .llm_up = 1 };
	struct mas_bdi bdi;
	jv trace;

	mas_bdi_init(&bdi, answer_plans, COUNT(answer_plans), &b);
	trace = mas_bdi_trace(&bdi);
	CHECK_INT(jv_array_length(jv_copy(trace)), 0);
	mas_bdi_post(&bdi, "answer", NULL);
	mas_bdi_run(&bdi);
	/* The copy taken before is not changed by the run. */
	CHECK_INT(jv_array_length(trace), 0);
	trace = mas_bdi_trace(&bdi);
	CHECK_INT(jv_array_length(trace), 1);
	mas_bdi_release(&bdi);
}

static void test_run_twice(void)
{
	struct beliefs b = { .llm_up = 1 };
	struct mas_bdi bdi;

	mas_bdi_init(&bdi, answer_plans, COUNT(answer_plans), &b);
	mas_bdi_post(&bdi, "answer", "a");
	CHECK_INT(mas_bdi_run(&bdi), 0);
	/* Nothing new: nothing runs. */
	CHECK_INT(mas_bdi_run(&bdi), 0);
	CHECK_INT(b.calls, 2);
	mas_bdi_post(&bdi, "answer", "b");
	CHECK_INT(mas_bdi_run(&bdi), 0);
	CHECK_STR(b.log, "llm a;ok a;llm b;ok b;");
	mas_bdi_release(&bdi);
}

static void test_achieved_any_subject(void)
{
	/* "sales" is achieved, "visits" is not: the goal was achieved
	 * about some subject, whatever was pursued last. */
	static const struct mas_bdi_plan plans[] = {
		{ "sales_only", "forecast", when_subject_sales, ok_steps },
	};
	struct beliefs b = { 0 };
	struct mas_bdi bdi;

	mas_bdi_init(&bdi, plans, COUNT(plans), &b);
	mas_bdi_post(&bdi, "forecast", "sales");
	mas_bdi_post(&bdi, "forecast", "visits");
	CHECK_INT(mas_bdi_run(&bdi), 1);
	CHECK(mas_bdi_achieved(&bdi, "forecast", "sales"));
	CHECK(!mas_bdi_achieved(&bdi, "forecast", "visits"));
	CHECK(mas_bdi_achieved(&bdi, "forecast", NULL));
	CHECK_STR(mas_bdi_plan_used(&bdi, "forecast", NULL), "sales_only");
	mas_bdi_release(&bdi);
}

static void test_empty_library(void)
{
	struct mas_bdi bdi;

	mas_bdi_init(&bdi, NULL, 0, NULL);
	CHECK_INT(mas_bdi_run(&bdi), 0);
	mas_bdi_post(&bdi, "anything", NULL);
	CHECK_INT(mas_bdi_run(&bdi), 1);
	CHECK(!mas_bdi_achieved(&bdi, "anything", NULL));
	mas_bdi_release(&bdi);
	/* Released twice is harmless. */
	mas_bdi_release(&bdi);
}

int main(void)
{
	UNIT_RUN(test_first_applicable_plan);
	UNIT_RUN(test_failure_tries_next_plan_rechecked);
	UNIT_RUN(test_context_checked_when_pursued);
	UNIT_RUN(test_retry_plan_keeps_beliefs);
	UNIT_RUN(test_all_plans_fail);
	UNIT_RUN(test_no_plan_for_goal);
	UNIT_RUN(test_steps_post_desires);
	UNIT_RUN(test_many_desires_from_a_step);
	UNIT_RUN(test_trace_json);
	UNIT_RUN(test_trace_is_a_copy);
	UNIT_RUN(test_run_twice);
	UNIT_RUN(test_achieved_any_subject);
	UNIT_RUN(test_empty_library);
	return unit_done();
}
