/*
 * chat-model.c — mas-chat with a model: the reply written from the
 * retrieved knowledge and the session's history, intent and sentiment
 * read back through structured output constrained to the knowledge
 * base's intents (mas-chat(1), MODEL).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chat-model.h"
#include "engine.h"
#include "llm.h"
#include "log.h"
#include "mas.h"
#include "banned.h"

/* ---- the request ---- */

static jv intent_names(const struct mas_kb *kb)
{
	jv names = jv_array();

	for (size_t i = 0; i < kb->intent_count; i++)
		names = jv_array_append(names, jv_string(kb->intents[i].name));
	return jv_array_append(names, jv_string("out_of_scope"));
}

/* The reply's shape.  "response" comes first so that a streamed reply
 * can be shown while the rest is still being written. */
static jv reply_schema(const struct mas_kb *kb)
{
	jv string = JV_OBJECT(jv_string("type"), jv_string("string"));
	jv number = JV_OBJECT(jv_string("type"), jv_string("number"));
	jv feelings = JV_ARRAY(jv_string("positive"), jv_string("neutral"),
	                       jv_string("negative"));

	jv schema = JV_OBJECT(
		jv_string("type"), jv_string("object"),
		jv_string("properties"), JV_OBJECT(
			jv_string("response"), string,
			jv_string("intent"), JV_OBJECT(
				jv_string("type"), jv_string("string"),
				jv_string("enum"), intent_names(kb)),
			jv_string("sentiment"), JV_OBJECT(
				jv_string("type"), jv_string("string"),
				jv_string("enum"), feelings),
			jv_string("sentiment_score"), jv_copy(number),
			jv_string("confidence"), number),
		jv_string("required"), JV_ARRAY(
			jv_string("response"), jv_string("intent"),
			jv_string("sentiment"), jv_string("sentiment_score"),
			jv_string("confidence")),
		jv_string("additionalProperties"), jv_false());

	return schema;
}

static const char system_prompt[] =
	"You are the customer-service assistant of a software company. "
	"Answer the customer's message using only the knowledge given "
	"(FAQ answers, intents) and the conversation so far. Never state a "
	"price, date, limit or policy that the knowledge does not state; "
	"when it does not cover the question, say so and offer to connect "
	"the customer with a person. When draft.escalation is set, tell the "
	"customer that a person will take over. Keep the reply short: at "
	"most three sentences. Write it in %s. Then classify the message: "
	"intent is one of the listed intents, or out_of_scope when none "
	"fits; sentiment is how the customer feels, with sentiment_score "
	"from -1 (very negative) to 1 (very positive); confidence is your "
	"probability, from 0 to 1, that the intent is right. Reply with "
	"the JSON object only.";

static jv intents_json(const struct mas_kb *kb, const char *lang)
{
	jv list = jv_array();

	for (size_t i = 0; i < kb->intent_count; i++) {
		const char *label = mas_kb_pick(&kb->intents[i].label, lang,
		                                0);
		list = jv_array_append(list, JV_OBJECT(
			jv_string("name"), jv_string(kb->intents[i].name),
			jv_string("about"),
			jv_string(label ? label : kb->intents[i].name)));
	}
	return list;
}

static jv draft_json(jv result)
{
	static const char *const kept[] = {
		"response", "intent", "suggested_actions", "escalation", NULL
	};
	jv draft = jv_object();

	for (int i = 0; kept[i]; i++) {
		jv value = jv_object_get(jv_copy(result), jv_string(kept[i]));
		if (jv_is_valid(value))
			draft = jv_object_set(draft, jv_string(kept[i]),
			                      value);
		else
			jv_free(value);
	}
	return draft;
}

static jv facts_json(const struct mas_chat_turn *turn)
{
	jv message = jv_object_get(jv_copy(turn->input), jv_string("message"));
	jv context = jv_object_get(jv_copy(turn->input), jv_string("context"));

	return JV_OBJECT(
		jv_string("intents"), intents_json(turn->kb, turn->lang),
		jv_string("knowledge"), jv_copy(turn->knowledge),
		jv_string("history"), jv_copy(turn->history),
		jv_string("customer"), jv_is_valid(context) ? context
		                                            : jv_null(),
		jv_string("draft"), draft_json(turn->result),
		jv_string("message"), message);
}

static jv model_request(const struct mas_chat_turn *turn, int stream)
{
	jv facts = facts_json(turn);
	jv system = jv_string_fmt(system_prompt,
	                          strcmp(turn->lang, "zh") == 0
	                                  ? "Simplified Chinese (简体中文)"
	                                  : "English");
	jv request = JV_OBJECT(
		jv_string("messages"), JV_ARRAY(
			JV_OBJECT(jv_string("role"), jv_string("system"),
			          jv_string("content"), system),
			JV_OBJECT(jv_string("role"), jv_string("user"),
			          jv_string("content"),
			          jv_dump_string(facts, 0))),
		jv_string("temperature"), jv_number(0.2),
		jv_string("max_tokens"), jv_number(400),
		jv_string("response_format"), reply_schema(turn->kb),
		jv_string("required"), JV_ARRAY(
			jv_string("response"), jv_string("intent"),
			jv_string("sentiment"), jv_string("sentiment_score"),
			jv_string("confidence")));

	if (stream)
		request = jv_object_set(request, jv_string("stream"),
		                        jv_true());
	return request;
}

/* ---- the streamed reply: the "response" string as it comes ---- */

enum { SEEK, AFTER_KEY, IN_STRING, DONE };

struct extractor {
	char *text;                 /* everything received */
	size_t length, capacity, at;
	int state;
	void (*on_text)(void *, const char *, size_t);
	void *user;
};

static void emit(struct extractor *x, const char *bytes, size_t n)
{
	if (n == 0)
		return;
	x->on_text(x->user, bytes, n);
}

static int hex4(const char *p, unsigned *value)
{
	*value = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int digit = c >= '0' && c <= '9' ? c - '0'
		          : c >= 'a' && c <= 'f' ? c - 'a' + 10
		          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (digit < 0)
			return -1;
		*value = *value * 16 + (unsigned)digit;
	}
	return 0;
}

static size_t utf8(unsigned c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xC0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xE0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		out[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	out[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* A \u escape at P (6 bytes, 12 for a surrogate pair); returns the
 * bytes used, 0 when more input is needed, -1 when malformed. */
static int unicode_escape(const char *p, size_t left, unsigned *c)
{
	unsigned low;

	if (left < 6)
		return 0;
	if (hex4(p + 2, c))
		return -1;
	if (*c < 0xD800 || *c > 0xDBFF)
		return 6;
	if (left < 12)
		return 0;
	if (p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &low) ||
	    low < 0xDC00 || low > 0xDFFF)
		return -1;
	*c = 0x10000 + ((*c - 0xD800) << 10) + (low - 0xDC00);
	return 12;
}

/* One escape at x->at; 0 when it needs more input. */
static int take_escape(struct extractor *x)
{
	const char *p = x->text + x->at;
	size_t left = x->length - x->at;
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *simple;
	char out[4];
	unsigned c;
	int used;

	if (left < 2)
		return 0;
	simple = strchr(from, p[1]);
	if (simple && p[1]) {
		emit(x, &to[simple - from], 1);
		x->at += 2;
		return 1;
	}
	used = p[1] == 'u' ? unicode_escape(p, left, &c) : -1;
	if (used == 0)
		return 0;
	if (used < 0) {
		x->state = DONE;
		return 1;
	}
	emit(x, out, utf8(c, out));
	x->at += (size_t)used;
	return 1;
}

static void scan_string(struct extractor *x)
{
	while (x->at < x->length && x->state == IN_STRING) {
		size_t run = x->at;
		while (run < x->length && x->text[run] != '"' &&
		       x->text[run] != '\\')
			run++;
		emit(x, x->text + x->at, run - x->at);
		x->at = run;
		if (run == x->length)
			return;
		if (x->text[run] == '"') {
			x->state = DONE;
			return;
		}
		if (!take_escape(x))
			return;
	}
}

static void scan(struct extractor *x)
{
	static const char key[] = "\"response\"";

	if (x->state == SEEK) {
		char *found = memmem(x->text + x->at, x->length - x->at, key,
		                     sizeof(key) - 1);
		if (!found) {
			/* keep a tail that may be the start of the key */
			if (x->length >= sizeof(key))
				x->at = x->length - sizeof(key) + 1;
			return;
		}
		x->at = (size_t)(found - x->text) + sizeof(key) - 1;
		x->state = AFTER_KEY;
	}
	while (x->state == AFTER_KEY && x->at < x->length) {
		char c = x->text[x->at++];
		if (c == '"')
			x->state = IN_STRING;
		else if (c != ':' && c != ' ' && c != '\n' && c != '\t' &&
		         c != '\r')
			x->state = DONE;
	}
	if (x->state == IN_STRING)
		scan_string(x);
}

static void take_piece(struct extractor *x, const char *piece,
                       size_t length)
{
	if (x->state == DONE)
		return;
	if (x->length + length + 1 > x->capacity) {
		x->capacity = (x->length + length + 1) * 2;
		x->text = realloc(x->text, x->capacity);
		if (!x->text)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	memcpy(x->text + x->length, piece, length);
	x->length += length;
	x->text[x->length] = '\0';
	scan(x);
}

/* ---- the answer ---- */

struct pending {
	struct mas_chat_turn *turn;
	mas_agent_reply_fn reply;
	void *context;
	struct extractor stream;
};

static void on_piece(void *user, const char *piece, size_t length)
{
	take_piece(&((struct pending *)user)->stream, piece, length);
}

static int in_list(jv list, const char *name) /* borrows */
{
	int found = 0;

	jv_array_foreach(list, i, item) {
		found |= jv_get_kind(item) == JV_KIND_STRING &&
		         strcmp(jv_string_value(item), name) == 0;
		jv_free(item);
		(void)i;
	}
	return found;
}

/* The model's reply when it has what the schema asks, else a failure
 * standing for it. */
static jv checked(const struct mas_chat_turn *turn, jv outcome)
{
	jv reply, intent, sentiment, response, names;
	int ok;

	if (!jv_is_valid(outcome))
		return outcome;
	reply = jv_object_get(jv_copy(outcome), jv_string("json"));
	intent = jv_object_get(jv_copy(reply), jv_string("intent"));
	sentiment = jv_object_get(jv_copy(reply), jv_string("sentiment"));
	response = jv_object_get(reply, jv_string("response"));
	names = intent_names(turn->kb);
	ok = jv_get_kind(intent) == JV_KIND_STRING &&
	     in_list(names, jv_string_value(intent)) &&
	     jv_get_kind(sentiment) == JV_KIND_STRING &&
	     (strcmp(jv_string_value(sentiment), "positive") == 0 ||
	      strcmp(jv_string_value(sentiment), "neutral") == 0 ||
	      strcmp(jv_string_value(sentiment), "negative") == 0) &&
	     jv_get_kind(response) == JV_KIND_STRING &&
	     jv_string_length_bytes(jv_copy(response)) > 0;
	jv_free(intent);
	jv_free(sentiment);
	jv_free(response);
	jv_free(names);
	if (ok)
		return outcome;
	jv_free(outcome);
	return mas_fail(MAS_ERR_UPSTREAM_ERROR, "reply: intent, sentiment or "
	                "response is not one the knowledge base allows");
}

static double clamp_number(jv value, double low, double high)
{
	double x = jv_get_kind(value) == JV_KIND_NUMBER
	                   ? jv_number_value(value) : low;

	jv_free(value);
	if (!(x >= low))
		return low;
	return x > high ? high : x;
}

static jv actions_of(const struct mas_chat_turn *turn, const char *intent,
                     jv previous)
{
	long i = mas_kb_intent_index(turn->kb, intent);
	jv actions = jv_array();

	if (in_list(previous, "connect_human"))
		actions = jv_array_append(actions, jv_string("connect_human"));
	jv_free(previous);
	for (size_t a = 0; i >= 0 && a < turn->kb->intents[i].action_count;
	     a++)
		if (!in_list(actions, turn->kb->intents[i].actions[a]))
			actions = jv_array_append(actions, jv_string(
				turn->kb->intents[i].actions[a]));
	return actions;
}

static jv set(jv object, const char *key, jv value)
{
	return jv_object_set(object, jv_string(key), value);
}

/* RESULT with what the model said. */
static jv merged(const struct mas_chat_turn *turn, jv result, jv outcome)
{
	jv reply = jv_object_get(jv_copy(outcome), jv_string("json"));
	jv intent = jv_object_get(jv_copy(reply), jv_string("intent"));
	jv old = jv_object_get(jv_copy(result), jv_string("intent"));
	jv given = jv_object_get(jv_copy(reply), jv_string("sentiment_score"));
	double score = clamp_number(given, -1, 1);

	result = set(result, "response",
	             jv_object_get(jv_copy(reply), jv_string("response")));
	result = set(result, "sentiment", JV_OBJECT(
		jv_string("label"),
		jv_object_get(jv_copy(reply), jv_string("sentiment")),
		jv_string("score"), jv_number(round(score * 10000) / 10000)));
	result = set(result, "confidence", jv_number(round(clamp_number(
		jv_object_get(jv_copy(reply), jv_string("confidence")), 0,
		1) * 10000) / 10000));
	if (strcmp(jv_string_value(old), jv_string_value(intent)) != 0)
		result = set(result, "suggested_actions", actions_of(
			turn, jv_string_value(intent),
			jv_object_get(jv_copy(result),
			              jv_string("suggested_actions"))));
	/* the model decides: an intent it names is taken */
	result = set(result, "status", jv_string(
		strcmp(jv_string_value(intent), "out_of_scope") == 0
		        ? "out_of_scope" : "answer"));
	result = set(result, "intent", intent);
	jv_free(old);
	jv_free(reply);
	jv_free(outcome);
	return jv_setpath(result, JV_ARRAY(jv_string("meta"),
	                                   jv_string("model_knowledge")),
	                  jv_copy(turn->knowledge));
}

static void model_done(void *user, jv outcome)
{
	struct pending *p = user;
	struct mas_chat_turn *turn = p->turn;
	jv result = turn->result;

	turn->result = jv_invalid();
	outcome = checked(turn, outcome);
	if (jv_is_valid(outcome))
		result = merged(turn, result, jv_copy(outcome));
	result = mas_engine_settle(turn->engine, result, outcome);
	free(p->stream.text);
	mas_chat_turn_finish(turn, result, p->reply, p->context);
	free(p);
}

void mas_chat_model_submit(struct mas_chat_turn *turn,
                           void (*on_text)(void *, const char *, size_t),
                           void *text_user, mas_agent_reply_fn reply,
                           void *context)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		mas_die(MAS_EXIT_IO, "out of memory");
	p->turn = turn;
	p->reply = reply;
	p->context = context;
	p->stream.on_text = on_text;
	p->stream.user = text_user;
	mas_llm_submit(turn->engine->llm, model_request(turn, on_text != NULL),
	               model_done, on_text ? on_piece : NULL, p);
}
