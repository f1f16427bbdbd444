/*
 * test-chat.c — mas-chat's parts against their headers: folding, the
 * classifier on a tiny knowledge base, the threshold, the lexicon
 * (negation flips, intensifiers scale, "but" weighs), the trained
 * sentiment model, the knowledge base's file:line errors, slot filling
 * and the plans through mas_chat_reply, sessions and follow-ups.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "classify.h"
#include "kb.h"
#include "sentiment.h"
#include "session.h"
#include "store.h"
#include "unit.h"

static char tmp[256];

static void setup(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp, sizeof(tmp), "%s/mas-chat-XXXXXX",
	         base && *base ? base : "/tmp");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		exit(99);
	}
}

static void teardown(void)
{
	char command[512];

	snprintf(command, sizeof(command), "rm -rf '%s'", tmp);
	if (system(command) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
}

/* Writes TEXT to NAME in the temporary folder; returns its path. */
static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *file;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	file = fopen(path, "w");
	if (!file) {
		perror(path);
		exit(99);
	}
	fputs(text, file);
	fclose(file);
	return path;
}

static const char tiny_kb[] =
	"# a tiny knowledge base\n"
	"{\"type\":\"slot\",\"name\":\"plan\",\"values\":{\"pro\":[\"pro\","
	"\"专业版\"],\"basic\":[\"basic\",\"基础版\"]},\"labels\":{\"pro\":"
	"{\"en\":\"Pro\",\"zh\":\"专业版\"}}}\n"
	"{\"type\":\"intent\",\"name\":\"pricing\",\"informational\":true,"
	"\"slots\":[\"plan\"],\"examples\":[\"how much does it cost\","
	"\"what is the price\",\"pricing please\",\"how expensive is it\","
	"\"多少钱\",\"价格是多少\",\"怎么收费\"],\"responses\":[\"Prices are "
	"online.\"],\"suggested_actions\":[\"view_pricing\"]}\n"
	"{\"type\":\"intent\",\"name\":\"refund\",\"examples\":[\"I want a "
	"refund\",\"give me my money back\",\"refund my payment\",\"return "
	"and refund\",\"我要退款\",\"退钱\",\"申请退款\"],\"responses\":{"
	"\"en\":[\"Refund started for {{user_id}}.\",\"Refund started.\"],"
	"\"zh\":[\"已为您申请退款。\"]},\"suggested_actions\":"
	"[\"start_refund\"]}\n"
	"{\"type\":\"intent\",\"name\":\"greeting\",\"examples\":[\"hello\","
	"\"hi there\",\"good morning\",\"hey\",\"你好\",\"您好\",\"早上好\"],"
	"\"responses\":[\"Hello!\",\"您好！\"]}\n"
	"{\"type\":\"intent\",\"name\":\"human\",\"examples\":[\"talk to a "
	"human\",\"real person please\",\"connect me to an agent\",\"转人工\","
	"\"人工客服\"],\"responses\":[\"Connecting.\"]}\n"
	"{\"type\":\"faq\",\"id\":\"pro-price\",\"intent\":\"pricing\","
	"\"question\":\"How much is the Pro plan?\",\"answer\":\"Pro is $15."
	"\",\"slots\":{\"plan\":\"pro\"}}\n"
	"{\"type\":\"faq\",\"id\":\"basic-price\",\"intent\":\"pricing\","
	"\"question\":\"How much is the Basic plan?\",\"answer\":\"Basic is "
	"free.\",\"slots\":{\"plan\":\"basic\"}}\n"
	"{\"type\":\"escalation\",\"id\":\"ask\",\"intents\":[\"human\"]}\n"
	"{\"type\":\"escalation\",\"id\":\"streak\",\"negative_streak\":2}\n"
	"{\"type\":\"out_of_scope\",\"examples\":[\"what is the weather\","
	"\"tell me a joke\",\"天气怎么样\",\"讲个笑话\"]}\n";

static void test_fold(void)
{
	char *f = mas_classify_fold("  Hello,  WORLD!! Don't ＡＢＣ——你好。 ",
	                            strlen("  Hello,  WORLD!! Don't ＡＢＣ——"
	                                   "你好。 "));

	CHECK_STR(f, "hello world don't abc 你好");
	free(f);
	CHECK(mas_classify_has_han("那专业版呢"));
	CHECK(!mas_classify_has_han("and the pro plan"));
}

static void test_classifier_labels(void)
{
	static const char *const texts[] = {
		"how much does it cost", "what is the price", "pricing",
		"价格是多少", "多少钱", "I want a refund", "refund my money",
		"give me my money back", "我要退款", "退钱",
	};
	static const size_t labels[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 };
	struct mas_classifier *c = mas_classify_train(texts, labels, 10, 2,
	                                              NULL);
	double p[2];

	CHECK_INT(mas_classify_predict(c, "how much is it", p), 0);
	CHECK(p[0] > 0.5);
	CHECK_INT(mas_classify_predict(c, "can I get a refund", p), 1);
	CHECK_INT(mas_classify_predict(c, "这个多少钱", p), 0);
	CHECK_INT(mas_classify_predict(c, "申请退款", p), 1);
	CHECK_NEAR(p[0] + p[1], 1.0, 1e-9);
	CHECK(mas_classify_feature_count(c) > 50);
	mas_classify_free(c);
	CHECK(mas_classify_train(texts, labels, 0, 2, NULL) == NULL);
}

static void test_classifier_deterministic(void)
{
	static const char *const texts[] = { "a b c", "d e f", "a c", "e f" };
	static const size_t labels[] = { 0, 1, 0, 1 };
	struct mas_classifier *a = mas_classify_train(texts, labels, 4, 2,
	                                              NULL);
	struct mas_classifier *b = mas_classify_train(texts, labels, 4, 2,
	                                              NULL);
	double pa[2], pb[2];

	mas_classify_predict(a, "a f", pa);
	mas_classify_predict(b, "a f", pb);
	CHECK(pa[0] == pb[0] && pa[1] == pb[1]);
	mas_classify_free(a);
	mas_classify_free(b);
}

/* A copy of SIZE bytes of BLOCK where mas_classify_attach wants it. */
static void *aligned_copy(const void *block, size_t size)
{
	void *copy = aligned_alloc(64, (size + 63) / 64 * 64);

	if (!copy)
		exit(99);
	memcpy(copy, block, size);
	return copy;
}

static void test_classifier_saved(void)
{
	static const char *const texts[] = {
		"how much does it cost", "what is the price", "pricing",
		"价格是多少", "I want a refund", "refund my money", "我要退款",
		"hello there", "hi", "good morning",
	};
	static const size_t labels[] = { 0, 0, 0, 0, 1, 1, 1, 2, 2, 2 };
	static const char *const probes[] = {
		"how much is it", "can I get a refund", "这个多少钱", "hi!",
		"nothing it knows",
	};
	struct mas_classifier *c = mas_classify_train(texts, labels, 10, 3,
	                                              NULL), *d;
	size_t size, extra_size;
	char *block = mas_classify_save(c, "calibration", 12, &size), *bad;
	const char *extra;
	double pc[3], pd[3];

	CHECK(size % 64 == 0);
	d = mas_classify_attach(aligned_copy(block, size), size, 0);
	CHECK(d != NULL);
	if (!d)
		return;
	extra = mas_classify_extra(d, &extra_size);
	CHECK_INT(extra_size, 12);
	CHECK_STR(extra, "calibration");
	CHECK(mas_classify_extra(c, &extra_size) == NULL && extra_size == 0);
	CHECK_INT(mas_classify_feature_count(d),
	          mas_classify_feature_count(c));
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		CHECK_INT(mas_classify_predict(d, probes[i], pd),
		          mas_classify_predict(c, probes[i], pc));
		CHECK(memcmp(pc, pd, sizeof(pc)) == 0);
	}
	mas_classify_free(d);
	/* truncated, or with any word of its header wrong: not a model */
	CHECK(mas_classify_attach(aligned_copy(block, size), size - 64,
	                          0) == NULL);
	CHECK(mas_classify_attach(aligned_copy(block, size), 100, 0) == NULL);
	CHECK(mas_classify_attach(aligned_copy(block, size), 0, 0) == NULL);
	for (size_t at = 0; at < 120; at += 8) {
		bad = aligned_copy(block, size);
		memset(bad + at, 0xff, 8);
		if (mas_classify_attach(bad, size, 0) != NULL)
			UNIT_FAIL("header word at %zu damaged, still a model",
			          at);
	}
	/* every byte after the header damaged (a full table of keys none
	 * of which is a feature, feature numbers past the count, NaN
	 * weights): wrong answers, but no hang and no read outside */
	bad = aligned_copy(block, size);
	memset(bad + 128, 0xff, size - 128);
	d = mas_classify_attach(bad, size, 0);
	CHECK(d != NULL);
	for (size_t i = 0; d && i < sizeof(probes) / sizeof(probes[0]); i++)
		CHECK(mas_classify_predict(d, probes[i], pd) < 3);
	mas_classify_free(d);
	free(block);
	mas_classify_free(c);
}

static void test_calibrate(void)
{
	static const char *const texts[] = {
		"price", "cost", "how much", "pricing", "expensive",
		"refund", "money back", "return", "refund please", "reimburse",
		"weather", "joke", "football", "recipe", "poem",
	};
	static const size_t labels[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
		                         2, 2, 2, 2, 2 };
	struct mas_classify_calibration t, u, r, none, d, d75;

	CHECK_INT(mas_classify_calibrate(texts, labels, 15, 3, 2, 5, -1, NULL,
	                                 &t), 0);
	CHECK(t.threshold >= 0 && t.threshold < 1);
	CHECK(strcmp(t.rule, "accuracy+recall") == 0);
	CHECK(t.scale > 0.01 && t.scale < 1000);
	CHECK(t.oos_recall >= 0 && t.oos_recall <= 1);
	CHECK(t.accuracy <= t.top1);
	CHECK_INT(mas_classify_calibrate(texts, labels, 15, 3, (size_t)-1, 5,
	                                 0, NULL, &u), 0);
	CHECK(u.threshold >= 0 && u.threshold < 1);
	CHECK(strcmp(u.rule, "correct_p5") == 0);
	CHECK(u.oos_recall == -1);
	/* asking for all out-of-scope texts refused gets them */
	CHECK_INT(mas_classify_calibrate(texts, labels, 15, 3, 2, 5, 1.0,
	                                 NULL, &r), 0);
	CHECK(strcmp(r.rule, "oos_recall") == 0);
	CHECK(r.oos_recall == 1.0);
	CHECK(r.threshold >= t.threshold);
	/* the default: recall 0.75, unless it loses more than 2% of the
	 * right in-scope answers (here, any of the 10) */
	CHECK_INT(mas_classify_calibrate(texts, labels, 15, 3, 2, 5, 0,
	                                 NULL, &d), 0);
	CHECK(strcmp(d.rule, "oos_recall_capped") == 0);
	CHECK(d.target == MAS_CLASSIFY_OOS_RECALL);
	CHECK(d.accuracy >= d.top1 - MAS_CLASSIFY_LOSS_CAP);
	CHECK_INT(mas_classify_calibrate(texts, labels, 15, 3, 2, 5,
	                                 MAS_CLASSIFY_OOS_RECALL, NULL, &d75),
	          0);
	CHECK(d.threshold <= d75.threshold);
	CHECK(d.threshold == d75.threshold ||
	      d75.accuracy < d75.top1 - MAS_CLASSIFY_LOSS_CAP);
	CHECK_INT(mas_classify_calibrate(texts, labels, 1, 3, 2, 5, 0, NULL,
	                                 &none), -1);
	CHECK(none.threshold == 0 && strcmp(none.rule, "none") == 0);
}

/* The lexicon scores the same whether the caller folded the text or
 * not. */
static void test_lexicon_folded(void)
{
	static const char *const texts[] = {
		"This is NOT good!!", "Don't you love it?",
		"价格贵，但是很好用", "Ｖｅｒｙ  bad", "",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *folded = mas_classify_fold(texts[i], strlen(texts[i]));
		double a, b;
		const char *label = mas_sentiment_analyse(NULL, texts[i],
		                                          folded, &a);

		CHECK_STR(mas_sentiment_analyse(NULL, texts[i], NULL, &b),
		          label);
		CHECK(a == b && a == mas_sentiment_lexicon(texts[i]));
		free(folded);
	}
}

static void test_negation_flips(void)
{
	CHECK(mas_sentiment_lexicon("this is good") > 0.2);
	CHECK(mas_sentiment_lexicon("this is not good") < -0.2);
	CHECK(mas_sentiment_lexicon("never happy with it") < 0);
	CHECK(mas_sentiment_lexicon("好") > 0.2);
	CHECK(mas_sentiment_lexicon("不好") < -0.2);
	CHECK(mas_sentiment_lexicon("别生气") > 0);
	CHECK(mas_sentiment_lexicon("没有问题") > 0);
	/* lexicon words that hold their negator win */
	CHECK(mas_sentiment_lexicon("不错") > 0.2);
	CHECK(mas_sentiment_lexicon("没问题") > 0.2);
}

/* The generated lists (lib/sentiment-lexicon.tsv) are in: a word of
 * VADER's, of Hu and Liu's only, of HowNet's; the written entries win
 * over them (request words held neutral), and a six-character Chinese
 * entry is matched whole. */
static void test_generated_lexicon(void)
{
	CHECK(mas_sentiment_lexicon("a superb phone") > 0.2);      /* VADER */
	CHECK(mas_sentiment_lexicon("a flimsy case") < -0.2);  /* Hu, Liu */
	CHECK(mas_sentiment_lexicon("房间干净整洁") > 0.2);    /* HowNet */
	CHECK(mas_sentiment_lexicon("设施陈旧") < -0.2);
	CHECK(mas_sentiment_lexicon("please help me cancel") == 0);
	CHECK(mas_sentiment_lexicon("帮我取消自动续费") == 0);
	CHECK(mas_sentiment_lexicon("the hotel was not flimsy") > 0);
	CHECK(mas_sentiment_lexicon("不光明正大的") < -0.2);
	CHECK(mas_sentiment_lexicon("万变不离其宗") > 0.2);
}

/* VADER's other negators, with or without the apostrophe. */
static void test_vader_negators(void)
{
	CHECK(mas_sentiment_lexicon("i wouldn't recommend it") < -0.2);
	CHECK(mas_sentiment_lexicon("dont like it") < -0.2);
	CHECK(mas_sentiment_lexicon("nor is it good") < -0.2);
	CHECK(mas_sentiment_lexicon("it no longer works") < 0);
}

/* The review model (lib/sentiment-model.tsv) speaks where the lexicon
 * has no word: none of these has one; never for a request (a word held
 * neutral), a question or Chinese, which it knows nothing of. */
static void test_review_model(void)
{
	CHECK(mas_sentiment_lexicon("don't buy it") < -0.2);
	CHECK(mas_sentiment_lexicon("I am sending it back") < -0.2);
	CHECK(mas_sentiment_lexicon("never got it") < -0.2);
	CHECK(mas_sentiment_lexicon("please send it back") == 0);
	CHECK(mas_sentiment_lexicon("can I send it back") == 0);
	CHECK(mas_sentiment_lexicon("我寄回去了") == 0);
	CHECK(mas_sentiment_lexicon("xqzv wplk") == 0);
}

static void test_intensifiers_scale(void)
{
	double plain = mas_sentiment_lexicon("good");
	double very = mas_sentiment_lexicon("very good");
	double slightly = mas_sentiment_lexicon("slightly good");

	CHECK(very > plain);
	CHECK(slightly < plain && slightly > 0);
	CHECK(mas_sentiment_lexicon("非常差") < mas_sentiment_lexicon("差"));
	CHECK(mas_sentiment_lexicon("太贵了") < mas_sentiment_lexicon("贵"));
	/* 好 before a sentiment word is "very" */
	CHECK(mas_sentiment_lexicon("好慢") < mas_sentiment_lexicon("慢"));
	CHECK(mas_sentiment_lexicon("bad!!!") < mas_sentiment_lexicon("bad"));
}

static void test_contrast_and_labels(void)
{
	CHECK(mas_sentiment_lexicon("the app is good but support is "
	                            "terrible") < 0);
	CHECK(mas_sentiment_lexicon("价格贵，但是很好用") > 0);
	CHECK_STR(mas_sentiment_label(0.5), "positive");
	CHECK_STR(mas_sentiment_label(0.0), "neutral");
	CHECK_STR(mas_sentiment_label(-0.5), "negative");
	CHECK_STR(mas_sentiment_label(mas_sentiment_lexicon(
		"how do I get an invoice")), "neutral");
}

static void test_sentiment_model(void)
{
	const char *path = write_file("s.jsonl",
		"{\"text\":\"love it\",\"label\":\"positive\"}\n"
		"{\"text\":\"great job\",\"label\":\"positive\"}\n"
		"# a comment\n\n"
		"{\"text\":\"hate it\",\"label\":\"negative\"}\n"
		"{\"text\":\"awful job\",\"label\":\"negative\"}\n"
		"{\"text\":\"what time is it\",\"label\":\"neutral\"}\n"
		"{\"text\":\"where is it\",\"label\":\"neutral\"}\n");
	struct mas_sentiment_source source = { path, NULL, NULL, NULL };
	char *error = NULL;
	struct mas_sentiment *model = mas_sentiment_train_file(&source,
	                                                       &error);
	const struct mas_sentiment_report *report;
	double score;

	CHECK(model != NULL);
	if (!model)
		return;
	report = mas_sentiment_report(model);
	CHECK_INT(report->examples, 6);
	CHECK_INT(report->per_label[0], 2);
	CHECK_INT(report->per_label[1], 2);
	CHECK_INT(report->binary, 0);
	CHECK(report->features > 0);
	CHECK_STR(mas_sentiment_analyse(model, "love this", NULL, &score),
	          "positive");
	CHECK(score > 0);
	CHECK_STR(mas_sentiment_analyse(model, "hate this", NULL, &score),
	          "negative");
	mas_sentiment_free(model);
	source.path = write_file("bad.jsonl",
	                         "{\"text\":\"x\",\"label\":\"meh\"}\n");
	CHECK(mas_sentiment_train_file(&source, &error) == NULL);
	CHECK(error && strstr(error, "bad.jsonl:1: label: 'meh' is not"));
	free(error);
}

/* Two labels, given by a map, in CSV: an unsure score is neutral. */
static void test_sentiment_binary_csv(void)
{
	const char *path = write_file("s.csv",
		"stars,body\n5,love it\n5,\"great, job\"\n"
		"1,hate it\n1,awful job\n");
	struct mas_sentiment_source source = { path, "body", "stars",
		                               "5=positive,1=negative" };
	char *error = NULL;
	struct mas_sentiment *model = mas_sentiment_train_file(&source,
	                                                       &error);
	double score;

	CHECK(model != NULL);
	if (!model)
		return;
	CHECK_INT(mas_sentiment_report(model)->binary, 1);
	CHECK_INT(mas_sentiment_report(model)->per_label[2], 2);
	CHECK_STR(mas_sentiment_analyse(model, "love", NULL, &score),
	          "positive");
	CHECK_STR(mas_sentiment_analyse(model, "awful", NULL, &score),
	          "negative");
	mas_sentiment_free(model);
}

/* The error loading TEXT as a knowledge base, or NULL. */
static char *kb_error(const char *text)
{
	struct mas_kb kb;
	char *error = NULL;

	if (mas_kb_load(&kb, write_file("kb.jsonl", text), &error) == 0)
		mas_kb_release(&kb);
	return error;
}

static void check_kb_error(const char *text, const char *want)
{
	char *error = kb_error(text);

	if (!error || !strstr(error, want))
		UNIT_FAIL("got \"%s\", want \"%s\"", error ? error : "(none)",
		          want);
	free(error);
}

static void test_kb_errors(void)
{
	static const char intent[] =
		"{\"type\":\"intent\",\"name\":\"a\",\"examples\":[\"x\"]}\n";

	check_kb_error("\n{nope\n", "kb.jsonl:2: not valid JSON");
	check_kb_error("[1]\n", "kb.jsonl:1: expected a JSON object");
	check_kb_error("{\"type\":\"wat\"}\n",
	               "kb.jsonl:1: unknown type 'wat'");
	check_kb_error("{\"name\":\"a\"}\n",
	               "kb.jsonl:1: missing field 'type'");
	check_kb_error("{\"type\":\"intent\",\"name\":\"a\"}\n",
	               "kb.jsonl:1: intent: missing field 'examples'");
	check_kb_error("{\"type\":\"intent\",\"name\":\"a\",\"examples\":7}\n",
	               "intent: examples: expected a non-empty array");
	check_kb_error("# c\n{\"type\":\"intent\",\"name\":\"a\",\"examples\":"
	               "[\"x\"],\"exampels\":[]}\n",
	               "kb.jsonl:2: intent: unknown field 'exampels'");
	{
		char twice[256];
		snprintf(twice, sizeof(twice), "%s%s", intent, intent);
		check_kb_error(twice, "kb.jsonl:2: duplicate intent 'a' "
		               "(first at line 1)");
	}
	check_kb_error("{\"type\":\"faq\",\"intent\":\"zz\","
	               "\"question\":\"q\",\"answer\":\"a\"}\n",
	               "kb.jsonl:1: faq: unknown intent 'zz'");
	check_kb_error("{\"type\":\"faq\",\"intent\":\"zz\","
	               "\"question\":\"q\",\"answer\":\"a\"}\n"
	               "{\"type\":\"intent\",\"name\":\"zz\",\"examples\":"
	               "[\"x\"]}\n"
	               "{\"type\":\"escalation\",\"id\":\"e\"}\n",
	               "kb.jsonl:3: escalation 'e': no condition");
	check_kb_error("{\"type\":\"slot\",\"name\":\"s\",\"values\":[]}\n"
	               "{\"type\":\"intent\",\"name\":\"a\",\"examples\":"
	               "[\"x\"]}\n", "kb.jsonl:1: slot 's': values");
	check_kb_error("# only a comment\n", "kb.jsonl: no intents");
	check_kb_error("{\"type\":\"intent\",\"name\":\"out_of_scope\","
	               "\"examples\":[\"x\"]}\n",
	               "'out_of_scope' is reserved");
	check_kb_error("\xff\n", "kb.jsonl:1: not valid UTF-8");
}

static void test_kb_loads(void)
{
	struct mas_kb kb;
	char *error = NULL;

	CHECK_INT(mas_kb_load(&kb, write_file("kb.jsonl", tiny_kb), &error),
	          0);
	if (error) {
		UNIT_FAIL("%s", error);
		free(error);
		return;
	}
	CHECK_INT(kb.intent_count, 4);
	CHECK_INT(kb.faq_count, 2);
	CHECK_INT(kb.escalation_count, 2);
	CHECK_INT(kb.out_of_scope_count, 4);
	CHECK_INT(mas_kb_intent_index(&kb, "refund"), 1);
	CHECK_STR(mas_kb_pick(&kb.intents[1].responses, "zh", 0),
	          "已为您申请退款。");
	CHECK_STR(mas_kb_pick(&kb.intents[2].responses, "zh", 0), "您好！");
	CHECK_STR(mas_kb_pick(&kb.intents[2].responses, "en", 0), "Hello!");
	CHECK_STR(kb.slots[0].values[0].synonyms[1], "专业版");
	CHECK_STR(kb.faqs[0].slots[0].value, "pro");
	mas_kb_release(&kb);
}

/* mas_chat_reply on MESSAGE (JSON text of the input). */
static jv reply(struct mas_chat *chat, const char *input)
{
	return mas_chat_reply(chat, jv_parse(input));
}

static int is(jv result, const char *path, const char *want)
{
	jv value = jv_getpath(jv_copy(result), jv_parse(path));
	int same = jv_get_kind(value) == JV_KIND_STRING &&
	           strcmp(jv_string_value(value), want) == 0;

	if (!same) {
		jv text = jv_dump_string(value, 0);
		printf("# %s is %s, want %s\n", path, jv_string_value(text),
		       want);
		jv_free(text);
	} else {
		jv_free(value);
	}
	return same;
}

static struct mas_chat *tiny_chat(struct mas_chat_options *options)
{
	char *error = NULL;
	struct mas_chat *chat;

	options->kb_path = write_file("kb.jsonl", tiny_kb);
	chat = mas_chat_new(options, &error);
	if (!chat) {
		UNIT_FAIL("%s", error);
		free(error);
	}
	return chat;
}

static void test_slot_filling(void)
{
	struct mas_chat_options options = { .threshold = -1 };
	struct mas_chat *chat = tiny_chat(&options);
	jv r;

	if (!chat)
		return;
	r = reply(chat, "{\"message\":\"how much is the pro plan\"}");
	CHECK(is(r, "[\"slots\",\"plan\"]", "pro"));
	CHECK(is(r, "[\"response\"]", "Pro is $15."));
	CHECK(is(r, "[\"meta\",\"plan\"]", "faq_answer"));
	jv_free(r);
	r = reply(chat, "{\"message\":\"I want a refund\",\"user_id\":"
	                "\"u7\"}");
	CHECK(is(r, "[\"response\"]", "Refund started for u7."));
	jv_free(r);
	/* without user_id the first template cannot fill: the next one */
	r = reply(chat, "{\"message\":\"I want a refund\"}");
	CHECK(is(r, "[\"response\"]", "Refund started."));
	jv_free(r);
	r = reply(chat, "{\"message\":\"我要退款\"}");
	CHECK(is(r, "[\"response\"]", "已为您申请退款。"));
	CHECK(is(r, "[\"language\"]", "zh"));
	jv_free(r);
	r = reply(chat, "{\"message\":\"how much does it cost\"}");
	CHECK(is(r, "[\"meta\",\"plan\"]", "ask_slot"));
	jv_free(r);
	mas_chat_free(chat);
}

static void test_plans(void)
{
	struct mas_chat_options options = { .threshold = -1 };
	struct mas_chat *chat = tiny_chat(&options);
	jv r;

	if (!chat)
		return;
	r = reply(chat, "{\"message\":\"talk to a human please\"}");
	CHECK(is(r, "[\"meta\",\"plan\"]", "escalate"));
	CHECK(is(r, "[\"suggested_actions\",0]", "connect_human"));
	CHECK(is(r, "[\"escalation\",\"rule\"]", "ask"));
	jv_free(r);
	r = reply(chat, "{\"message\":\"tell me a joke about the weather\"}");
	CHECK(is(r, "[\"intent\"]", "out_of_scope"));
	jv_free(r);
	r = reply(chat, "{\"message\":7}");
	CHECK(!jv_is_valid(r));
	r = jv_invalid_get_msg(r);
	CHECK(is(r, "[\"message\"]", "message: expected a string, got "
	                              "number"));
	jv_free(r);
	r = reply(chat, "{\"user_id\":\"x\"}");
	r = jv_invalid_get_msg(r);
	CHECK(is(r, "[\"code\"]", "INVALID_REQUEST"));
	CHECK(is(r, "[\"message\"]", "message: missing"));
	jv_free(r);
	mas_chat_free(chat);
	/* everything under the threshold: a clarifying question */
	options.threshold = 0.99;
	chat = tiny_chat(&options);
	r = reply(chat, "{\"message\":\"price of a refund\"}");
	CHECK(is(r, "[\"meta\",\"plan\"]", "clarify"));
	CHECK(is(r, "[\"suggested_actions\",0]", "confirm_intent"));
	jv_free(r);
	mas_chat_free(chat);
}

static void test_sessions_follow_up(void)
{
	struct mas_chat_options options = { .threshold = -1 };
	struct mas_store store;
	char path[512], *error = NULL;
	struct mas_chat *chat;
	jv r, shown;

	snprintf(path, sizeof(path), "%s/state/mas.db", tmp);
	if (mas_store_open(&store, path, &error)) {
		UNIT_FAIL("%s", error);
		free(error);
		return;
	}
	options.sessions = mas_sessions_new(&store, 0, &error);
	chat = tiny_chat(&options);
	r = reply(chat, "{\"message\":\"how much is the basic plan\","
	                "\"session_id\":\"s\"}");
	CHECK(is(r, "[\"response\"]", "Basic is free."));
	jv_free(r);
	r = reply(chat, "{\"message\":\"and the pro plan?\","
	                "\"session_id\":\"s\"}");
	CHECK(is(r, "[\"intent\"]", "pricing"));
	CHECK(is(r, "[\"response\"]", "Pro is $15."));
	CHECK(is(r, "[\"meta\",\"plans\",0,\"plan\"]", "follow_up"));
	jv_free(r);
	/* two negative turns in a row: escalation */
	jv_free(reply(chat, "{\"message\":\"this is terrible\","
	                    "\"session_id\":\"t\"}"));
	r = reply(chat, "{\"message\":\"awful, I hate it\","
	                "\"session_id\":\"t\"}");
	CHECK(is(r, "[\"escalation\",\"rule\"]", "streak"));
	jv_free(r);
	shown = mas_sessions_show(options.sessions, "s");
	CHECK(is(shown, "[\"history\",1,\"intent\"]", "pricing"));
	CHECK(is(shown, "[\"slots\",\"plan\"]", "pro"));
	jv_free(shown);
	CHECK_INT(mas_sessions_delete(options.sessions, "s"), 1);
	CHECK_INT(mas_sessions_delete(options.sessions, "s"), 0);
	CHECK(jv_get_kind(mas_sessions_show(options.sessions, "s")) ==
	      JV_KIND_NULL);
	mas_chat_free(chat);
	mas_sessions_free(options.sessions);
	mas_store_close(&store);
}

int main(void)
{
	setup();
	UNIT_RUN(test_fold);
	UNIT_RUN(test_classifier_labels);
	UNIT_RUN(test_classifier_deterministic);
	UNIT_RUN(test_classifier_saved);
	UNIT_RUN(test_calibrate);
	UNIT_RUN(test_lexicon_folded);
	UNIT_RUN(test_generated_lexicon);
	UNIT_RUN(test_negation_flips);
	UNIT_RUN(test_vader_negators);
	UNIT_RUN(test_review_model);
	UNIT_RUN(test_intensifiers_scale);
	UNIT_RUN(test_contrast_and_labels);
	UNIT_RUN(test_sentiment_model);
	UNIT_RUN(test_sentiment_binary_csv);
	UNIT_RUN(test_kb_errors);
	UNIT_RUN(test_kb_loads);
	UNIT_RUN(test_slot_filling);
	UNIT_RUN(test_plans);
	UNIT_RUN(test_sessions_follow_up);
	teardown();
	return unit_done();
}
