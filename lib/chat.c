/*
 * chat.c — the customer-service agent (see chat.h and mas-chat(1)).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdi.h"
#include "chat.h"
#include "chat-cache.h"
#include "chat-model.h"
#include "classify.h"
#include "clock.h"
#include "kb.h"
#include "log.h"
#include "mas.h"
#include "sentiment.h"
#include "banned.h"

#define NO_CLASS ((size_t)-1)

/* A FAQ answer is given only when its question is this close (cosine,
 * slot bonus included) to the message. */
#define FAQ_MIN_SCORE 0.2

/* Turns of history a model sees. */
#define HISTORY_TURNS 6

struct mas_chat {
	const struct mas_chat_options *options;
	struct mas_kb kb;
	struct mas_classifier *classifier;
	size_t classes;             /* intents, and one for out of scope */
	size_t oos_class;           /* NO_CLASS without examples */
	double threshold;
	struct mas_classify_calibration calibration;
	struct mas_sentiment *sentiment;
	struct mas_features *faq_vectors; /* one per FAQ question */
	size_t *faq_of_vector;
	size_t faq_vector_count;
	size_t examples;
	double train_seconds;
	const char *model_source;   /* for mas_chat_info */
	char *key;                  /* of the model cache, or NULL */
	struct mas_classifier *cached; /* mapped by lookup_model, until
	                                * make_model takes it */
};

/* ---- training ---- */

struct training {
	const char **texts;
	size_t *labels;
	size_t count;
};

static void add_example(struct training *t, const char *text, size_t label)
{
	if ((t->count & (t->count - 1)) == 0) {
		size_t capacity = t->count ? t->count * 2 : 64;
		t->texts = realloc(t->texts, capacity * sizeof(*t->texts));
		t->labels = realloc(t->labels, capacity * sizeof(*t->labels));
		if (!t->texts || !t->labels)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	t->texts[t->count] = text;
	t->labels[t->count++] = label;
}

/* Every intent's examples, the FAQ questions as examples of their
 * intent, and the out-of-scope examples as a class of their own. */
static void collect(const struct mas_kb *kb, struct training *t,
                    size_t oos_class)
{
	for (size_t i = 0; i < kb->intent_count; i++)
		for (size_t j = 0; j < kb->intents[i].example_count; j++)
			add_example(t, kb->intents[i].examples[j], i);
	for (size_t i = 0; i < kb->faq_count; i++)
		for (size_t j = 0; j < kb->faqs[i].question_count; j++)
			add_example(t, kb->faqs[i].questions[j],
			            kb->faqs[i].intent);
	for (size_t i = 0; i < kb->out_of_scope_count; i++)
		add_example(t, kb->out_of_scope[i], oos_class);
}

static void vectorise_faqs(struct mas_chat *chat)
{
	const struct mas_kb *kb = &chat->kb;
	size_t count = 0, k = 0;

	for (size_t i = 0; i < kb->faq_count; i++)
		count += kb->faqs[i].question_count;
	chat->faq_vectors = calloc(count + 1, sizeof(*chat->faq_vectors));
	chat->faq_of_vector = calloc(count + 1, sizeof(*chat->faq_of_vector));
	if (!chat->faq_vectors || !chat->faq_of_vector)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < kb->faq_count; i++)
		for (size_t j = 0; j < kb->faqs[i].question_count; j++) {
			mas_features_init(&chat->faq_vectors[k]);
			mas_classify_vector(chat->classifier,
			                    kb->faqs[i].questions[j],
			                    &chat->faq_vectors[k]);
			chat->faq_of_vector[k++] = i;
		}
	chat->faq_vector_count = count;
}

/* The rule the calibration follows, as mas_classify_calibrate takes it:
 * a recall target, 0 for the default rule, < 0 for accuracy+recall. */
static double calibration_target(const struct mas_chat *chat)
{
	double recall = chat->options->oos_recall;

	return recall > 0 ? recall : recall < 0 ? -1 : 0;
}

static void train(struct mas_chat *chat)
{
	struct training t = { 0 };
	struct mas_classify_params params = { 0 };

	collect(&chat->kb, &t, chat->oos_class);
	chat->examples = t.count;
	/* Calibrate first: its models are gone before the real one is
	 * made, so that two never take memory at once. */
	mas_classify_calibrate(t.texts, t.labels, t.count, chat->classes,
	                       chat->oos_class, 5, calibration_target(chat),
	                       &params, &chat->calibration);
	chat->classifier = mas_classify_train(t.texts, t.labels, t.count,
	                                      chat->classes, &params);
	mas_classify_set_scale(chat->classifier, chat->calibration.scale);
	free(t.texts);
	free(t.labels);
}

/* ---- the model cache ---- */

/* What shapes training, for the cache's key (chat-cache.h): bump the
 * format when the cached bytes change. */
static void shape(const struct mas_chat *chat, char *out, size_t size)
{
	snprintf(out, size, "mas-chat model 4; features %016llx; "
	         "liblinear svm c=1; folds 5; oos_recall %.17g",
	         (unsigned long long)mas_classify_fingerprint(),
	         calibration_target(chat));
}

static const char *const rules[] = {
	"none", "correct_p5", "accuracy+recall", "oos_recall",
	"oos_recall_capped", NULL
};

/* The chat's part of a cached model, before the classifier's bytes;
 * then the reduced knowledge base (kb.h). */
struct cached {
	char magic[8];
	uint64_t examples, rule;
	double threshold, scale, target, top1, accuracy, oos_recall;
};

static void *cache_bytes(const struct mas_chat *chat, size_t *size)
{
	const struct mas_classify_calibration *k = &chat->calibration;
	struct cached head = { "mas-cht", chat->examples, 0, k->threshold,
	                       k->scale, k->target, k->top1, k->accuracy,
	                       k->oos_recall };

	size_t extra_size = sizeof(head) + chat->kb.reduced_size;
	char *extra = malloc(extra_size);
	void *bytes;

	if (!extra)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t r = 0; rules[r]; r++)
		if (strcmp(rules[r], k->rule) == 0)
			head.rule = r;
	memcpy(extra, &head, sizeof(head));
	if (chat->kb.reduced_size)
		memcpy(extra + sizeof(head), chat->kb.reduced,
		       chat->kb.reduced_size);
	bytes = mas_classify_save(chat->classifier, extra, extra_size, size);
	free(extra);
	return bytes;
}

/* The head of MODEL's extra bytes into *HEAD, and the reduced
 * knowledge base after it; NULL when they are not a chat's. */
static const char *cached_head(const struct mas_classifier *model,
                               struct cached *head, size_t *reduced_size)
{
	size_t extra_size;
	const char *extra = mas_classify_extra(model, &extra_size);

	if (extra_size <= sizeof(*head))
		return NULL;
	memcpy(head, extra, sizeof(*head));
	if (memcmp(head->magic, "mas-cht", 8) != 0 ||
	    head->rule >= sizeof(rules) / sizeof(rules[0]) - 1)
		return NULL;
	*reduced_size = extra_size - sizeof(*head);
	return extra + sizeof(*head);
}

/* The cached model of CHAT's key, when it is whole and for its
 * classes: into chat->classifier and its calibration. */
static int from_cache(struct mas_chat *chat)
{
	struct cached head;
	struct mas_classify_calibration *k = &chat->calibration;
	struct mas_classifier *model = chat->cached;
	size_t reduced_size;

	chat->cached = NULL;
	if (!model || !cached_head(model, &head, &reduced_size) ||
	    mas_classify_classes(model) != chat->classes) {
		if (model)
			mas_warn("model cache: the stored model for %s is not "
			         "one this program reads; training again",
			         chat->kb.path);
		mas_classify_free(model);
		return -1;
	}
	chat->classifier = model;
	chat->examples = head.examples;
	k->rule = rules[head.rule];
	k->threshold = head.threshold;
	k->scale = head.scale;
	k->target = head.target;
	k->top1 = head.top1;
	k->accuracy = head.accuracy;
	k->oos_recall = head.oos_recall;
	return 0;
}

/* mas_kb_lookup for mas_kb_load_cached: maps the model cached for the
 * knowledge base of DIGEST (into chat->cached) and gives its reduced
 * knowledge base. */
static const char *lookup_model(const char *digest, void *arg,
                                size_t *size)
{
	struct mas_chat *chat = arg;
	char options[256], *error = NULL;
	size_t block_size = 0;
	struct cached head;
	const char *reduced = NULL;
	void *block;

	shape(chat, options, sizeof(options));
	chat->key = mas_chat_cache_key(digest, options);
	block = mas_chat_cache_map(chat->options->store, chat->key,
	                           &block_size, &error);
	if (error)
		mas_warn("%s; training again", error);
	free(error);
	if (block)
		chat->cached = mas_classify_attach(block, block_size, 1);
	if (chat->cached)
		reduced = cached_head(chat->cached, &head, size);
	if (block && !reduced) {
		mas_warn("model cache: the stored model for %s is not one "
		         "this program reads; training again",
		         chat->options->kb_path);
		mas_classify_free(chat->cached);
		chat->cached = NULL;
	}
	return reduced;
}

/* Stores the model under KEY; a store that cannot take it (locked, full)
 * costs the next start a training, nothing more. */
static void store_trained(struct mas_chat *chat, const char *key)
{
	char *error = NULL;
	size_t size;
	void *bytes = cache_bytes(chat, &size);
	int status = mas_chat_cache_put(chat->options->store, key,
	                                chat->kb.path, bytes, size, &error);

	if (status)
		mas_warn("%s; the model is not cached", error ? error
		         : "model cache: cannot store");
	chat->model_source = status ? "trained in memory" : "trained";
	free(error);
	free(bytes);
}

/* mas_kb_lookup of a cache that has nothing: the file is parsed and
 * reduced. */
static const char *no_model(const char *digest, void *arg, size_t *size)
{
	return NULL;
}

/* The knowledge base with its examples, to train on: the model mapped
 * with the reduced one could not be used (damaged).  The file is read
 * again; one that was changed meanwhile is trained on but not cached
 * under the old digest's key, and one that no longer loads is an error
 * like any other (naming the line). */
static void reload_kb(struct mas_chat *chat)
{
	struct mas_kb kb;
	char *error = NULL;

	if (mas_kb_load_cached(&kb, chat->options->kb_path, no_model, NULL,
	                       &error))
		mas_die(MAS_EXIT_USAGE, "%s", error ? error : "out of memory");
	if (strcmp(kb.digest, chat->kb.digest) != 0) {
		free(chat->key);
		chat->key = NULL;
	}
	mas_kb_release(&chat->kb);
	chat->kb = kb;
}

/* The classifier: from the cache when it has it, else trained (and
 * cached); then the FAQ questions' vectors. */
static void make_model(struct mas_chat *chat)
{
	double start = mas_clock_monotonic();

	chat->oos_class = chat->kb.out_of_scope_count ? chat->kb.intent_count
	                                              : NO_CLASS;
	chat->classes = chat->kb.intent_count + (chat->oos_class != NO_CLASS);
	chat->model_source = "trained in memory";
	if (from_cache(chat) == 0) {
		chat->model_source = "cached";
	} else {
		if (chat->kb.examples_absent)
			reload_kb(chat);
		train(chat);
		if (chat->key)
			store_trained(chat, chat->key);
	}
	chat->threshold = chat->options->threshold >= 0
	        ? chat->options->threshold : chat->calibration.threshold;
	vectorise_faqs(chat);
	chat->train_seconds = mas_clock_monotonic() - start;
}

struct mas_chat *mas_chat_new(const struct mas_chat_options *options,
                              char **error)
{
	struct mas_chat *chat = calloc(1, sizeof(*chat));

	if (!chat)
		mas_die(MAS_EXIT_IO, "out of memory");
	chat->options = options;
	if (mas_kb_load_cached(&chat->kb, options->kb_path,
	                       options->store ? lookup_model : NULL, chat,
	                       error)) {
		mas_classify_free(chat->cached);
		free(chat->key);
		free(chat);
		return NULL;
	}
	if (options->sentiment_train) {
		struct mas_sentiment_source source = {
			options->sentiment_train, options->text_field,
			options->label_field, options->label_map };
		chat->sentiment = mas_sentiment_train_file(&source, error);
		if (!chat->sentiment) {
			mas_classify_free(chat->cached);
			free(chat->key);
			mas_kb_release(&chat->kb);
			free(chat);
			return NULL;
		}
	}
	make_model(chat);
	return chat;
}

void mas_chat_free(struct mas_chat *chat)
{
	if (!chat)
		return;
	for (size_t i = 0; i < chat->faq_vector_count; i++)
		mas_features_release(&chat->faq_vectors[i]);
	free(chat->faq_vectors);
	free(chat->faq_of_vector);
	mas_classify_free(chat->classifier);
	free(chat->key);
	mas_sentiment_free(chat->sentiment);
	mas_kb_release(&chat->kb);
	free(chat);
}

static jv round4(double x)
{
	return jv_number(round(x * 10000) / 10000);
}

/* How the threshold was chosen: "given" (--threshold), else the rule
 * of the calibration (classify.h). */
static const char *threshold_rule(const struct mas_chat *chat)
{
	return chat->options->threshold >= 0 ? "given"
	                                     : chat->calibration.rule;
}

/* The cross-validated figures of the calibration (classify.h). */
static jv cv_json(const struct mas_classify_calibration *c)
{
	return JV_OBJECT(
		jv_string("top1"), round4(c->top1),
		jv_string("accuracy"), round4(c->accuracy),
		jv_string("oos_recall"),
		c->oos_recall < 0 ? jv_null() : round4(c->oos_recall));
}

/* What sentiment training did (sentiment.h). */
static jv sentiment_json(const struct mas_sentiment_report *r)
{
	return JV_OBJECT(
		jv_string("examples"), jv_number((double)r->examples),
		jv_string("positive"), jv_number((double)r->per_label[2]),
		jv_string("neutral"), jv_number((double)r->per_label[1]),
		jv_string("negative"), jv_number((double)r->per_label[0]),
		jv_string("labels"), jv_number(r->binary ? 2 : 3),
		jv_string("features"), jv_number((double)r->features),
		jv_string("values"), jv_number((double)r->nodes),
		jv_string("train_seconds"), round4(r->seconds));
}

jv mas_chat_info(const struct mas_chat *chat)
{
	jv info = JV_OBJECT(
		jv_string("kb"), jv_string(chat->kb.path),
		jv_string("intents"), jv_number((double)chat->kb.intent_count),
		jv_string("examples"), jv_number((double)chat->examples),
		jv_string("faqs"), jv_number((double)chat->kb.faq_count),
		jv_string("features"), jv_number((double)
			mas_classify_feature_count(chat->classifier)),
		jv_string("threshold"), round4(chat->threshold),
		jv_string("threshold_rule"), jv_string(threshold_rule(chat)),
		jv_string("scale"), round4(chat->calibration.scale));

	info = jv_object_set(info, jv_string("cv"),
	                     cv_json(&chat->calibration));
	info = jv_object_set(info, jv_string("model"),
	                     jv_string(chat->model_source));
	info = jv_object_set(info, jv_string(
		strcmp(chat->model_source, "cached") == 0 ? "load_seconds"
		                                          : "train_seconds"),
		round4(chat->train_seconds));
	info = jv_object_set(info, jv_string("sentiment"), jv_string(
		chat->sentiment ? "model" : "lexicon"));
	if (chat->sentiment)
		info = jv_object_set(info, jv_string("sentiment_model"),
		                     sentiment_json(mas_sentiment_report(
		                             chat->sentiment)));
	return info;
}

/* ---- beliefs ---- */

/* Classes whose probabilities live in the beliefs, on the stack: a
 * malloc of this size is not in the allocator's per-thread cache, and
 * took 3,000 instructions per message. */
#define PROBS_SPACE 256

struct chat_beliefs {
	struct mas_chat *chat;
	jv input;                   /* the record's input (borrowed) */
	const char *message;        /* borrowed from input */
	char *folded;
	const char *lang;           /* "en" or "zh" */
	const char *session_id;     /* borrowed, or NULL */
	int has_session;
	struct mas_session session;

	struct mas_features vector;
	double *probs;              /* per class: probs_space, or malloc'd
	                             * past PROBS_SPACE classes */
	double probs_space[PROBS_SPACE];
	size_t top;                 /* most probable class */
	int in_scope;               /* top is an intent, above threshold */
	const char *sentiment;
	double score;
	int streak;                 /* negative turns in a row, this one
	                             * included */
	jv message_slots;           /* slots named in the message */
	jv slots;                   /* and those the session remembers */

	long intent;                /* -1: out of scope */
	long clarify;               /* -1, or the intent a clarifying
	                             * question asks about first */
	double confidence;
	int followup;

	const struct mas_kb_escalation *escalation;
	const char *escalation_reason;
	jv escalation_matched;
	const struct mas_kb_faq *faq;
	const char *missing_slot;   /* for ask_slot */
	char *response;
	jv actions;
	jv knowledge;
	int want_model;
};

static const struct mas_kb_intent *intent_of(const struct chat_beliefs *b)
{
	return b->intent >= 0 ? &b->chat->kb.intents[b->intent] : NULL;
}

static void add_knowledge(struct chat_beliefs *b, const char *kind,
                          const char *id)
{
	b->knowledge = jv_array_append(b->knowledge,
	                               jv_string_fmt("%s%s", kind, id));
}

static void add_action(struct chat_beliefs *b, const char *action)
{
	jv_array_foreach(b->actions, i, a) {
		int same = strcmp(jv_string_value(a), action) == 0;
		jv_free(a);
		if (same)
			return;
		(void)i;
	}
	b->actions = jv_array_append(b->actions, jv_string(action));
}

static void add_intent_actions(struct chat_beliefs *b)
{
	const struct mas_kb_intent *it = intent_of(b);

	for (size_t i = 0; it && i < it->action_count; i++)
		add_action(b, it->actions[i]);
}

/* ---- slots ---- */

/* Whether folded NEEDLE occurs in folded HAYSTACK as whole words (or
 * anywhere, for CJK text, which has no spaces). */
static int mentions(const char *haystack, const char *needle)
{
	size_t length = strlen(needle);
	const char *at = haystack;
	int cjk = mas_classify_has_han(needle);

	while ((at = strstr(at, needle)) != NULL) {
		int before = at == haystack || at[-1] == ' ';
		int after = at[length] == '\0' || at[length] == ' ';
		if (cjk || (before && after))
			return 1;
		at++;
	}
	return 0;
}

/* The value of SLOT the folded text names, the longest synonym winning;
 * NULL when none. */
static const char *slot_in(const struct mas_kb_slot *slot, const char *text)
{
	const char *best = NULL;
	size_t best_length = 0;

	for (size_t v = 0; v < slot->value_count; v++)
		for (size_t s = 0; s < slot->values[v].synonym_count; s++) {
			const char *synonym = slot->values[v].synonyms[s];
			size_t length = strlen(synonym);
			if (length > best_length && mentions(text, synonym)) {
				best = slot->values[v].value;
				best_length = length;
			}
		}
	return best;
}

static jv find_slots(const struct mas_kb *kb, const char *folded)
{
	jv found = jv_object();

	for (size_t i = 0; i < kb->slot_count; i++) {
		const char *value = slot_in(&kb->slots[i], folded);
		if (value)
			found = jv_object_set(found,
			                      jv_string(kb->slots[i].name),
			                      jv_string(value));
	}
	return found;
}

/* The label of slot NAME's VALUE in LANG, or VALUE itself. */
static const char *slot_label(const struct mas_kb *kb, const char *name,
                              const char *value, const char *lang)
{
	const struct mas_kb_slot *slot = mas_kb_slot(kb, name);

	for (size_t v = 0; slot && v < slot->value_count; v++)
		if (strcmp(slot->values[v].value, value) == 0) {
			const char *label = mas_kb_pick(&slot->values[v].label,
			                                lang, 0);
			return label ? label : value;
		}
	return value;
}

/* ---- templates ---- */

struct text_buffer {
	char *data;
	size_t length, capacity;
};

static void append(struct text_buffer *t, const char *s, size_t n)
{
	if (t->length + n + 1 > t->capacity) {
		size_t capacity = (t->length + n + 1) * 2;
		t->data = realloc(t->data, capacity);
		if (!t->data)
			mas_die(MAS_EXIT_IO, "out of memory");
		t->capacity = capacity;
	}
	memcpy(t->data + t->length, s, n);
	t->length += n;
	t->data[t->length] = '\0';
}

/* A scalar of OBJECT (borrowed) as text into OUT, or 0. */
static int scalar(jv object, const char *key, struct text_buffer *out)
{
	jv value;
	int found = 1;

	if (jv_get_kind(object) != JV_KIND_OBJECT)
		return 0;
	value = jv_object_get(jv_copy(object), jv_string(key));
	if (jv_get_kind(value) == JV_KIND_STRING) {
		append(out, jv_string_value(value),
		       strlen(jv_string_value(value)));
	} else if (jv_get_kind(value) == JV_KIND_NUMBER) {
		jv text = jv_dump_string(jv_copy(value), 0);
		append(out, jv_string_value(text),
		       strlen(jv_string_value(text)));
		jv_free(text);
	} else {
		found = 0;
	}
	jv_free(value);
	return found;
}

/* The value of {{NAME}}: VARS (the plan's), a filled slot's label, a
 * field of the record, a field of its context. */
static int slot_value(const struct chat_beliefs *b, jv vars,
                      const char *name, struct text_buffer *out)
{
	jv value, context;
	int found;

	if (scalar(vars, name, out))
		return 1;
	value = jv_object_get(jv_copy(b->slots), jv_string(name));
	if (jv_get_kind(value) == JV_KIND_STRING) {
		const char *label = slot_label(&b->chat->kb, name,
		                               jv_string_value(value),
		                               b->lang);
		append(out, label, strlen(label));
		jv_free(value);
		return 1;
	}
	jv_free(value);
	if (scalar(b->input, name, out))
		return 1;
	context = jv_object_get(jv_copy(b->input), jv_string("context"));
	found = scalar(context, name, out);
	jv_free(context);
	return found;
}

/*
 * TEMPLATE with every {{name}} filled; NULL when one cannot be, its name
 * then in MISSING (of MISSING_SIZE bytes).
 */
static char *fill(const struct chat_beliefs *b, const char *template,
                  jv vars, char *missing, size_t missing_size)
{
	struct text_buffer out = { 0 };
	const char *p = template;

	append(&out, "", 0);
	while (*p) {
		const char *open = strstr(p, "{{");
		const char *close = open ? strstr(open + 2, "}}") : NULL;
		char name[64];
		if (!close) {
			append(&out, p, strlen(p));
			break;
		}
		append(&out, p, (size_t)(open - p));
		snprintf(name, sizeof(name), "%.*s", (int)(close - open - 2),
		         open + 2);
		if (!slot_value(b, vars, name, &out)) {
			snprintf(missing, missing_size, "%s", name);
			free(out.data);
			return NULL;
		}
		p = close + 2;
	}
	return out.data;
}

/* The first template of TEXTS in the reply's language that fills
 * (VARS borrowed). */
static char *fill_first(const struct chat_beliefs *b,
                        const struct mas_kb_texts *texts, jv vars,
                        char *missing, size_t missing_size)
{
	size_t count = 0;

	for (size_t i = 0; i < texts->count; i++)
		count += strcmp(texts->items[i].lang, b->lang) == 0;
	for (size_t i = 0; i < (count ? count : texts->count); i++) {
		const char *t = count ? mas_kb_pick(texts, b->lang, i)
		                      : texts->items[i].text;
		char *text = fill(b, t, vars, missing, missing_size);
		if (text)
			return text;
	}
	return NULL;
}

/* Built-in texts for the KB messages a KB may leave out. */
static const char *builtin_message(const char *name, const char *lang)
{
	static const char *const texts[][3] = {
		{ "clarify", "Sorry, I'm not sure I understood. Is your "
		  "question about {{candidates}}?",
		  "抱歉，我不太确定您的意思。"
		  "请问您是想咨询{{candidates}}吗？" },
		{ "out_of_scope", "Sorry, I can't help with that. I can "
		  "answer questions about {{topics}}.",
		  "抱歉，这个问题我无法解答。"
		  "我可以解答关于{{topics}}的问题。" },
		{ "escalate", "I'm connecting you with a member of our "
		  "team.", "正在为您转接人工客服，请稍候。" },
		{ "ask_slot", "Which {{slot}} do you mean: {{values}}?",
		  "请问您指的是哪个{{slot}}：{{values}}？" },
		{ "fallback", "Thank you for your message. A member of our "
		  "team will get back to you.",
		  "感谢您的留言，我们的工作人员会尽快回复您。" },
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcmp(texts[i][0], name) == 0)
			return texts[i][strcmp(lang, "zh") == 0 ? 2 : 1];
	return "";
}

/* The KB's message NAME (or the built-in one) with VARS filled. */
static char *message_text(struct chat_beliefs *b, const char *name, jv vars)
{
	const struct mas_kb_message *m = mas_kb_message(&b->chat->kb, name);
	char missing[64];
	char *text = NULL;

	if (m) {
		text = fill_first(b, &m->responses, vars, missing,
		                  sizeof(missing));
		add_knowledge(b, "message:", name);
	}
	if (!text)
		text = fill(b, builtin_message(name, b->lang), vars, missing,
		            sizeof(missing));
	jv_free(vars);
	return text ? text : strdup("");
}

static void set_response(struct chat_beliefs *b, char *text)
{
	free(b->response);
	b->response = text;
}

/* "A, B or C" / "A、B或C": a list for a sentence in the reply's
 * language. */
static jv join_list(const char *const *items, size_t count, const char *lang)
{
	int zh = strcmp(lang, "zh") == 0;
	jv text = jv_string("");

	for (size_t i = 0; i < count; i++) {
		const char *sep = zh ? "、" : ", ";
		if (i == 0)
			sep = "";
		else if (i + 1 == count)
			sep = zh ? "还是" : " or ";
		text = jv_string_append_str(text, sep);
		text = jv_string_append_str(text, items[i]);
	}
	return text;
}

static const char *intent_label(const struct mas_kb_intent *it,
                                const char *lang)
{
	const char *label = mas_kb_pick(&it->label, lang, 0);

	return label ? label : it->name;
}

/* ---- the plans: interpret ---- */

static int has_followup_cue(const char *folded)
{
	static const char *const cues[] = {
		"what about", "how about", "and the", "and for", "and what",
		"what of", "and if", NULL
	};
	size_t length = strlen(folded);

	for (int i = 0; cues[i]; i++)
		if (strncmp(folded, cues[i], strlen(cues[i])) == 0)
			return 1;
	if (strncmp(folded, "and ", 4) == 0 ||
	    strncmp(folded, "那", strlen("那")) == 0)
		return 1;
	return length >= 3 && strcmp(folded + length - 3, "呢") == 0;
}

/* A follow-up: the session's last intent takes a slot this message
 * names, and the message either fits no intent well or sounds like one
 * ("and the pro plan?", "那专业版呢"). */
static int is_followup(const void *beliefs, const char *subject)
{
	const struct chat_beliefs *b = beliefs;
	long last;
	const struct mas_kb_intent *it;

	if (!b->has_session || !b->session.last_intent)
		return 0;
	last = mas_kb_intent_index(&b->chat->kb, b->session.last_intent);
	if (last < 0)
		return 0;
	it = &b->chat->kb.intents[last];
	for (size_t i = 0; i < it->slot_count; i++) {
		jv value = jv_object_get(jv_copy(b->message_slots),
		                         jv_string(it->slots[i]));
		int named = jv_get_kind(value) == JV_KIND_STRING;
		jv_free(value);
		if (named && (!b->in_scope || has_followup_cue(b->folded)))
			return 1;
	}
	return 0;
}

static int step_carry_intent(struct mas_bdi *bdi, void *beliefs,
                             const char *subject)
{
	struct chat_beliefs *b = beliefs;

	b->intent = mas_kb_intent_index(&b->chat->kb, b->session.last_intent);
	/* The intent is the session's: so is the belief in it. */
	b->confidence = b->session.last_confidence;
	b->followup = 1;
	return 0;
}

static int step_take_classification(struct mas_bdi *bdi, void *beliefs,
                                    const char *subject)
{
	struct chat_beliefs *b = beliefs;

	b->intent = b->in_scope ? (long)b->top : -1;
	b->confidence = b->probs[b->top];
	return 0;
}

/* ---- the plans: respond ---- */

static int rule_applies(struct chat_beliefs *b,
                        const struct mas_kb_escalation *e)
{
	for (size_t i = 0; i < e->intent_count; i++)
		if ((long)e->intents[i] == b->intent) {
			b->escalation_reason = "intent";
			b->escalation_matched = jv_string(intent_of(b)->name);
			return 1;
		}
	for (size_t i = 0; i < e->keyword_count; i++)
		if (mentions(b->folded, e->keywords[i])) {
			b->escalation_reason = "keyword";
			b->escalation_matched = jv_string(e->keywords[i]);
			return 1;
		}
	if (e->negative_streak > 0 && b->streak >= e->negative_streak) {
		b->escalation_reason = "negative_streak";
		b->escalation_matched = jv_number(b->streak);
		return 1;
	}
	return 0;
}

/* Whether an escalation rule applies; the first that does is kept. */
static int escalation_due(const void *beliefs, const char *subject)
{
	struct chat_beliefs *b = (struct chat_beliefs *)beliefs;
	const struct mas_kb *kb = &b->chat->kb;

	for (size_t i = 0; i < kb->escalation_count; i++)
		if (rule_applies(b, &kb->escalations[i])) {
			b->escalation = &kb->escalations[i];
			return 1;
		}
	return 0;
}

static int step_hand_over(struct mas_bdi *bdi, void *beliefs,
                          const char *subject)
{
	struct chat_beliefs *b = beliefs;
	char missing[64];
	char *text = fill_first(b, &b->escalation->responses, jv_null(),
	                        missing, sizeof(missing));

	add_knowledge(b, "escalation:", b->escalation->id);
	if (!text)
		text = message_text(b, "escalate", jv_object());
	set_response(b, text);
	add_action(b, "connect_human");
	add_intent_actions(b);
	return 0;
}

/* The in-scope candidates above half the threshold, best first (at most
 * two): what a clarifying question offers. */
static size_t candidates(const struct chat_beliefs *b, size_t *out)
{
	const struct mas_chat *chat = b->chat;
	size_t count = 0;

	for (size_t round = 0; round < 2; round++) {
		size_t best = NO_CLASS;
		for (size_t k = 0; k < chat->kb.intent_count; k++) {
			if (count == 1 && out[0] == k)
				continue;
			if (best == NO_CLASS || b->probs[k] > b->probs[best])
				best = k;
		}
		if (best == NO_CLASS ||
		    b->probs[best] < chat->threshold / 2)
			break;
		out[count++] = best;
	}
	return count;
}

static int unsure(const void *beliefs, const char *subject)
{
	const struct chat_beliefs *b = beliefs;
	size_t best[2];

	return b->intent < 0 && b->top != b->chat->oos_class &&
	       candidates(b, best) > 0;
}

static int step_ask_which_intent(struct mas_bdi *bdi, void *beliefs,
                                 const char *subject)
{
	struct chat_beliefs *b = beliefs;
	size_t best[2], count = candidates(b, best);
	const char *labels[2];

	for (size_t i = 0; i < count; i++)
		labels[i] = intent_label(&b->chat->kb.intents[best[i]],
		                         b->lang);
	b->clarify = (long)best[0];
	set_response(b, message_text(b, "clarify", JV_OBJECT(
		jv_string("candidates"), join_list(labels, count, b->lang))));
	add_action(b, "confirm_intent");
	return 0;
}

static int out_of_scope(const void *beliefs, const char *subject)
{
	return ((const struct chat_beliefs *)beliefs)->intent < 0;
}

static int step_decline(struct mas_bdi *bdi, void *beliefs,
                        const char *subject)
{
	struct chat_beliefs *b = beliefs;
	const struct mas_kb *kb = &b->chat->kb;
	const char **labels = calloc(kb->intent_count + 1, sizeof(*labels));
	size_t count = 0;

	if (!labels)
		mas_die(MAS_EXIT_IO, "out of memory");
	/* The topics: what the informational intents answer, else all. */
	for (size_t i = 0; i < kb->intent_count; i++)
		if (kb->intents[i].informational)
			labels[count++] = intent_label(&kb->intents[i],
			                               b->lang);
	for (size_t i = 0; count == 0 && i < kb->intent_count; i++)
		labels[i] = intent_label(&kb->intents[i], b->lang);
	if (count == 0)
		count = kb->intent_count;
	set_response(b, message_text(b, "out_of_scope", JV_OBJECT(
		jv_string("topics"), join_list(labels, count, b->lang))));
	free(labels);
	add_action(b, "rephrase");
	add_action(b, "connect_human");
	return 0;
}

static int has_faqs(const void *beliefs, const char *subject)
{
	const struct chat_beliefs *b = beliefs;

	if (b->intent < 0 || !intent_of(b)->informational)
		return 0;
	for (size_t i = 0; i < b->chat->kb.faq_count; i++)
		if ((long)b->chat->kb.faqs[i].intent == b->intent)
			return 1;
	return 0;
}

/* How well FAQ's slots fit the slots filled: a FAQ about the plan the
 * customer named is the answer; one about another plan is not. */
static double slot_fit(const struct chat_beliefs *b,
                       const struct mas_kb_faq *faq)
{
	double fit = 0;

	for (size_t i = 0; i < faq->slot_count; i++) {
		jv value = jv_object_get(jv_copy(b->slots),
		                         jv_string(faq->slots[i].name));
		if (jv_get_kind(value) != JV_KIND_STRING)
			fit -= 0.1;
		else if (strcmp(jv_string_value(value),
		                faq->slots[i].value) == 0)
			fit += 0.5;
		else
			fit -= 1;
		jv_free(value);
	}
	return fit;
}

/* The best FAQ of the intent in the reply's language (any language when
 * it has none in that one), by cosine of the questions plus slot fit. */
static const struct mas_kb_faq *best_faq(const struct chat_beliefs *b,
                                         double *score)
{
	const struct mas_chat *chat = b->chat;
	const struct mas_kb_faq *best = NULL;
	int any_in_lang = 0;

	for (size_t i = 0; i < chat->kb.faq_count; i++)
		any_in_lang |= (long)chat->kb.faqs[i].intent == b->intent &&
		               strcmp(chat->kb.faqs[i].lang, b->lang) == 0;
	*score = -INFINITY;
	for (size_t v = 0; v < chat->faq_vector_count; v++) {
		const struct mas_kb_faq *faq =
			&chat->kb.faqs[chat->faq_of_vector[v]];
		double s;
		if ((long)faq->intent != b->intent ||
		    (any_in_lang && strcmp(faq->lang, b->lang) != 0))
			continue;
		s = mas_features_dot(&b->vector, &chat->faq_vectors[v]) +
		    slot_fit(b, faq);
		if (s > *score) {
			*score = s;
			best = faq;
		}
	}
	return best;
}

static int step_retrieve_faq(struct mas_bdi *bdi, void *beliefs,
                             const char *subject)
{
	struct chat_beliefs *b = beliefs;
	double score;
	const struct mas_kb_faq *faq = best_faq(b, &score);

	if (!faq || score < FAQ_MIN_SCORE)
		return mas_bdi_fail(bdi, "no FAQ close enough (best %.2f)",
		                    faq ? score : 0.0);
	for (size_t i = 0; i < faq->slot_count; i++) {
		jv value = jv_object_get(jv_copy(b->slots),
		                         jv_string(faq->slots[i].name));
		int filled = jv_get_kind(value) == JV_KIND_STRING;
		jv_free(value);
		if (!filled) {
			b->missing_slot = faq->slots[i].name;
			return mas_bdi_fail(bdi, "%s is about one %s; which "
			                    "one is not known", faq->id,
			                    faq->slots[i].name);
		}
	}
	b->faq = faq;
	return 0;
}

static int step_answer(struct mas_bdi *bdi, void *beliefs,
                       const char *subject)
{
	struct chat_beliefs *b = beliefs;

	set_response(b, strdup(b->faq->answer));
	add_knowledge(b, "", b->faq->id);
	add_intent_actions(b);
	return 0;
}

static int slot_missing(const void *beliefs, const char *subject)
{
	return ((const struct chat_beliefs *)beliefs)->missing_slot != NULL;
}

static int step_ask_for_slot(struct mas_bdi *bdi, void *beliefs,
                             const char *subject)
{
	struct chat_beliefs *b = beliefs;
	const struct mas_kb_slot *slot = mas_kb_slot(&b->chat->kb,
	                                             b->missing_slot);
	const char **labels = calloc(slot->value_count + 1, sizeof(*labels));
	int zh = strcmp(b->lang, "zh") == 0;

	if (!labels)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < slot->value_count; i++)
		labels[i] = slot_label(&b->chat->kb, slot->name,
		                       slot->values[i].value, b->lang);
	set_response(b, message_text(b, "ask_slot", JV_OBJECT(
		jv_string("slot"),
		jv_string(strcmp(slot->name, "plan") == 0 && zh ? "版本"
		                                                 : slot->name),
		jv_string("values"),
		join_list(labels, slot->value_count, b->lang))));
	free(labels);
	add_knowledge(b, "slot:", slot->name);
	add_action(b, "choose_slot");
	return 0;
}

static int has_templates(const void *beliefs, const char *subject)
{
	const struct chat_beliefs *b = beliefs;

	return b->intent >= 0 && intent_of(b)->responses.count > 0;
}

static int step_fill_template(struct mas_bdi *bdi, void *beliefs,
                              const char *subject)
{
	struct chat_beliefs *b = beliefs;
	char missing[64] = "";
	char *text = fill_first(b, &intent_of(b)->responses, jv_null(),
	                        missing, sizeof(missing));

	if (!text)
		return mas_bdi_fail(bdi, "every template needs {{%s}}, which "
		                    "is not known", missing);
	set_response(b, text);
	add_knowledge(b, "intent:", intent_of(b)->name);
	add_intent_actions(b);
	return 0;
}

static int step_generic_reply(struct mas_bdi *bdi, void *beliefs,
                              const char *subject)
{
	struct chat_beliefs *b = beliefs;

	set_response(b, message_text(b, "fallback", jv_object()));
	add_intent_actions(b);
	return 0;
}

/* ---- the plans: generate ---- */

static int model_available(const void *beliefs, const char *subject)
{
	const struct mas_engine *engine =
		((const struct chat_beliefs *)beliefs)->chat->options->engine;

	return engine && engine->llm;
}

/* The request goes out after deliberation (it is asynchronous); the
 * embedded reply written first is the fallback. */
static int step_request_model(struct mas_bdi *bdi, void *beliefs,
                              const char *subject)
{
	((struct chat_beliefs *)beliefs)->want_model = 1;
	return 0;
}

static int step_keep_reply(struct mas_bdi *bdi, void *beliefs,
                           const char *subject)
{
	return 0;
}

#define STEPS(...) \
	((const struct mas_bdi_step[]){ __VA_ARGS__, { NULL, NULL } })

/*
 * The plan library, in order of preference within each goal.
 * mas-chat(1) lists it under PLANS; keep the two in step.
 */
static const struct mas_bdi_plan plans[] = {
	{ "follow_up", "interpret", is_followup,
	  STEPS({ "carry_intent", step_carry_intent }) },
	{ "classified", "interpret", NULL,
	  STEPS({ "take_classification", step_take_classification }) },
	{ "escalate", "respond", escalation_due,
	  STEPS({ "hand_over", step_hand_over }) },
	{ "clarify", "respond", unsure,
	  STEPS({ "ask_which_intent", step_ask_which_intent }) },
	{ "out_of_scope", "respond", out_of_scope,
	  STEPS({ "decline", step_decline }) },
	{ "faq_answer", "respond", has_faqs,
	  STEPS({ "retrieve_faq", step_retrieve_faq },
	        { "answer", step_answer }) },
	{ "ask_slot", "respond", slot_missing,
	  STEPS({ "ask_for_slot", step_ask_for_slot }) },
	{ "template_reply", "respond", has_templates,
	  STEPS({ "fill_template", step_fill_template }) },
	{ "fallback", "respond", NULL,
	  STEPS({ "generic_reply", step_generic_reply }) },
	{ "model_reply", "generate", model_available,
	  STEPS({ "request_model", step_request_model }) },
	{ "embedded_reply", "generate", NULL,
	  STEPS({ "keep_reply", step_keep_reply }) },
};

/* ---- perception: the input, classified ---- */

static jv field(jv object, const char *key)
{
	if (jv_get_kind(object) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(object), jv_string(key));
}

/* An optional string field: absent, null or a string; else an error. */
static jv check_string(jv input, const char *name)
{
	jv value = field(input, name);
	jv_kind kind = jv_get_kind(value);

	jv_free(value);
	if (kind == JV_KIND_INVALID || kind == JV_KIND_NULL ||
	    kind == JV_KIND_STRING)
		return jv_true();
	return mas_fail(MAS_ERR_INVALID_REQUEST, "%s: expected a string, "
	                "got %s", name, jv_kind_name(kind));
}

static jv validate(jv input)
{
	jv message = field(input, "message"), context, status;
	jv_kind kind = jv_get_kind(message);

	if (jv_get_kind(input) != JV_KIND_OBJECT)
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "input: expected "
		                  "an object, got %s (check --input)",
		                  jv_kind_name(jv_get_kind(input)));
	else if (kind == JV_KIND_INVALID)
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "message: missing");
	else if (kind != JV_KIND_STRING)
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "message: expected "
		                  "a string, got %s", jv_kind_name(kind));
	else if (jv_string_length_bytes(jv_copy(message)) == 0)
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "message: empty");
	else if (jv_string_length_bytes(jv_copy(message)) >
	         MAS_CHAT_MESSAGE_MAX)
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "message: %d bytes, "
		                  "longer than the %d a message may have",
		                  jv_string_length_bytes(jv_copy(message)),
		                  MAS_CHAT_MESSAGE_MAX);
	else
		status = jv_true();
	jv_free(message);
	if (!jv_is_valid(status))
		return status;
	jv_free(status);
	status = check_string(input, "user_id");
	if (jv_is_valid(status)) {
		jv_free(status);
		status = check_string(input, "session_id");
	}
	context = field(input, "context");
	if (jv_is_valid(status) && jv_is_valid(context) &&
	    jv_get_kind(context) != JV_KIND_OBJECT &&
	    jv_get_kind(context) != JV_KIND_NULL) {
		jv_free(status);
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "context: expected "
		                  "an object, got %s",
		                  jv_kind_name(jv_get_kind(context)));
	}
	jv_free(context);
	return status;
}

/* "en" or "zh" from a setting such as "zh-CN", or NULL. */
static const char *language_code(const char *setting)
{
	if (!setting)
		return NULL;
	if (strncmp(setting, "zh", 2) == 0 && strchr("_-.", setting[2]))
		return "zh";
	if (strncmp(setting, "en", 2) == 0 && strchr("_-.", setting[2]))
		return "en";
	return NULL;
}

static const char *reply_language(const struct chat_beliefs *b)
{
	jv context = field(b->input, "context");
	jv preferred = field(context, "preferred_language");
	const char *lang = language_code(b->chat->options->lang);

	if (!lang && jv_get_kind(preferred) == JV_KIND_STRING)
		lang = language_code(jv_string_value(preferred));
	jv_free(context);
	jv_free(preferred);
	if (lang)
		return lang;
	return mas_classify_has_han(b->message) ? "zh" : "en";
}

/* The session this record belongs to, loaded (with a store). */
static void load_session(struct chat_beliefs *b)
{
	jv id = field(b->input, "session_id");
	struct mas_sessions *sessions = b->chat->options->sessions;

	if (jv_get_kind(id) == JV_KIND_STRING && *jv_string_value(id))
		b->session_id = jv_string_value(id);
	else
		b->session_id = b->chat->options->session;
	jv_free(id); /* the string lives on in b->input */
	if (b->session_id && sessions) {
		mas_session_load(sessions, b->session_id, &b->session);
		b->has_session = 1;
	}
}

static void perceive(struct chat_beliefs *b)
{
	struct mas_chat *chat = b->chat;
	jv message = field(b->input, "message");

	b->message = jv_string_value(message);
	jv_free(message); /* still held by b->input */
	b->folded = mas_classify_fold(b->message, strlen(b->message));
	b->lang = reply_language(b);
	load_session(b);
	b->probs = chat->classes <= PROBS_SPACE
	        ? b->probs_space : calloc(chat->classes, sizeof(*b->probs));
	if (!b->probs)
		mas_die(MAS_EXIT_IO, "out of memory");
	mas_features_init(&b->vector);
	mas_classify_vector(chat->classifier, b->message, &b->vector);
	b->top = mas_classify_predict_vector(chat->classifier, &b->vector,
	                                     b->probs);
	b->in_scope = b->top != chat->oos_class &&
	              b->probs[b->top] >= chat->threshold;
	b->sentiment = mas_sentiment_analyse(chat->sentiment, b->message,
	                                     b->folded, &b->score);
	b->streak = strcmp(b->sentiment, "negative") == 0
	        ? (b->has_session ? b->session.negative_streak : 0) + 1 : 0;
	b->message_slots = find_slots(&chat->kb, b->folded);
	b->slots = jv_object_merge(b->has_session ? jv_copy(b->session.slots)
	                                          : jv_object(),
	                           jv_copy(b->message_slots));
}

static void release_beliefs(struct chat_beliefs *b)
{
	free(b->folded);
	if (b->probs != b->probs_space)
		free(b->probs);
	free(b->response);
	mas_features_release(&b->vector);
	if (b->has_session)
		mas_session_release(&b->session);
	jv_free(b->message_slots);
	jv_free(b->slots);
	jv_free(b->escalation_matched);
	jv_free(b->actions);
	jv_free(b->knowledge);
	jv_free(b->input);
}

/* ---- the answer ---- */

static jv candidates_json(const struct chat_beliefs *b)
{
	const struct mas_chat *chat = b->chat;
	jv list = jv_array();
	size_t shown[3];
	size_t count = 0;

	for (; count < 3 && count < chat->classes; count++) {
		size_t best = NO_CLASS;
		for (size_t k = 0; k < chat->classes; k++) {
			int taken = 0;
			for (size_t j = 0; j < count; j++)
				taken |= shown[j] == k;
			if (!taken && (best == NO_CLASS ||
			               b->probs[k] > b->probs[best]))
				best = k;
		}
		shown[count] = best;
		list = jv_array_append(list, JV_OBJECT(
			jv_string("intent"),
			jv_string(best == chat->oos_class
			          ? "out_of_scope"
			          : chat->kb.intents[best].name),
			jv_string("confidence"), round4(b->probs[best])));
	}
	return list;
}

static jv escalation_json(const struct chat_beliefs *b)
{
	jv e = JV_OBJECT(jv_string("rule"), jv_string(b->escalation->id),
	                 jv_string("reason"),
	                 jv_string(b->escalation_reason),
	                 jv_string("matched"),
	                 jv_copy(b->escalation_matched));

	if (b->escalation->priority)
		e = jv_object_set(e, jv_string("priority"),
		                  jv_string(b->escalation->priority));
	return e;
}

static jv meta_json(const struct chat_beliefs *b, struct mas_bdi *bdi)
{
	const char *plan = mas_bdi_plan_used(bdi, "respond", NULL);

	return JV_OBJECT(
		jv_string("engine"), jv_string("embedded"),
		jv_string("plan"), jv_string(plan ? plan : "none"),
		jv_string("knowledge"), jv_copy(b->knowledge),
		jv_string("candidates"), candidates_json(b),
		jv_string("threshold"), round4(b->chat->threshold),
		jv_string("threshold_rule"), jv_string(threshold_rule(b->chat)),
		jv_string("followup"), jv_bool(b->followup),
		jv_string("turn"), b->has_session
		        ? jv_number((double)b->session.turns + 1) : jv_null(),
		jv_string("plans"), mas_bdi_trace(bdi));
}

/* The intent taken; unsure, the best candidate (with status "clarify");
 * else out_of_scope. */
static const char *intent_name(const struct chat_beliefs *b)
{
	if (b->intent >= 0)
		return intent_of(b)->name;
	if (b->clarify >= 0)
		return b->chat->kb.intents[b->clarify].name;
	return "out_of_scope";
}

static jv result_json(const struct chat_beliefs *b, struct mas_bdi *bdi)
{
	char now[MAS_CLOCK_ISO_SIZE];
	jv out;

	mas_clock_now_iso(now);
	out = JV_OBJECT(
		jv_string("response"), jv_string(b->response),
		jv_string("intent"), jv_string(intent_name(b)),
		jv_string("status"), jv_string(
			b->intent >= 0 ? "answer"
			: b->clarify >= 0 ? "clarify" : "out_of_scope"),
		jv_string("sentiment"), JV_OBJECT(
			jv_string("label"), jv_string(b->sentiment),
			jv_string("score"), round4(b->score)),
		jv_string("confidence"), round4(b->confidence),
		jv_string("suggested_actions"), jv_copy(b->actions),
		jv_string("session_id"), b->session_id
		        ? jv_string(b->session_id) : jv_null(),
		jv_string("timestamp"), jv_string(now));
	if (b->escalation)
		out = jv_object_set(out, jv_string("escalation"),
		                    escalation_json(b));
	out = jv_object_set(out, jv_string("slots"), jv_copy(b->slots));
	out = jv_object_set(out, jv_string("language"), jv_string(b->lang));
	return jv_object_set(out, jv_string("meta"), meta_json(b, bdi));
}

/* Runs the cycle over B (perceived) and returns the answer. */
static jv deliberate(struct chat_beliefs *b)
{
	struct mas_bdi bdi;
	jv result;

	b->actions = jv_array();
	b->knowledge = jv_array();
	b->escalation_matched = jv_null();
	mas_bdi_init(&bdi, plans, sizeof(plans) / sizeof(plans[0]), b);
	mas_bdi_post(&bdi, "interpret", NULL);
	mas_bdi_post(&bdi, "respond", NULL);
	mas_bdi_post(&bdi, "generate", NULL);
	mas_bdi_run(&bdi);
	/* Escalation was looked for before the plan ran; a rule checked
	 * but not chosen leaves its match behind. */
	if (!b->escalation) {
		jv_free(b->escalation_matched);
		b->escalation_matched = jv_null();
	}
	result = result_json(b, &bdi);
	mas_bdi_release(&bdi);
	return result;
}

/* ---- memory ---- */

static const char *string_at(jv object, const char *a, const char *b)
{
	jv value = b ? jv_getpath(jv_copy(object),
	                          JV_ARRAY(jv_string(a), jv_string(b)))
	             : jv_object_get(jv_copy(object), jv_string(a));
	const char *text = jv_get_kind(value) == JV_KIND_STRING
	                           ? jv_string_value(value) : NULL;

	/* OBJECT holds the string: it outlives this copy. */
	jv_free(value);
	return text;
}

static double number_at(jv object, const char *a, const char *b)
{
	jv value = b ? jv_getpath(jv_copy(object),
	                          JV_ARRAY(jv_string(a), jv_string(b)))
	             : jv_object_get(jv_copy(object), jv_string(a));
	double x = jv_get_kind(value) == JV_KIND_NUMBER
	                   ? jv_number_value(value) : 0;

	jv_free(value);
	return x;
}

/* The intent a session remembers of RESULT (borrowed): the one taken,
 * not the candidate of a clarifying question, which the next turn must
 * not carry on as if it had been understood. */
static const char *remembered_intent(jv result)
{
	const char *status = string_at(result, "status", NULL);

	if (status && strcmp(status, "clarify") == 0)
		return "out_of_scope";
	return string_at(result, "intent", NULL);
}

/* Remember the turn RESULT (consumed) answered, and return it; or, when
 * the session could not be saved, the failure: an answer the session
 * does not remember would make the next turn wrong, so the record fails
 * (for now, when the store is locked or the disk full) and is answered
 * again when tried again. */
static jv remember(struct mas_chat *chat, struct mas_session *session,
                   const char *message, jv input, jv result)
{
	jv slots = jv_object_get(jv_copy(result), jv_string("slots"));
	struct mas_session_turn turn = {
		.user_id = string_at(input, "user_id", NULL),
		.message = message,
		.response = string_at(result, "response", NULL),
		.intent = remembered_intent(result),
		.confidence = number_at(result, "confidence", NULL),
		.sentiment = string_at(result, "sentiment", "label"),
		.score = number_at(result, "sentiment", "score"),
		.plan = string_at(result, "meta", "plan"),
		.slots = slots,
	};

	int status = mas_session_save(chat->options->sessions, session,
	                              &turn);

	jv_free(slots);
	if (status == 0)
		return result;
	jv_free(result);
	return jv_invalid_with_msg(mas_session_save_error(session->id,
	                                                  status));
}

/* ---- the agent ---- */

/* Everything a model request needs once deliberation is over. */
static struct mas_chat_turn *turn_of(struct chat_beliefs *b, jv result)
{
	struct mas_chat_turn *turn = calloc(1, sizeof(*turn));

	if (!turn)
		mas_die(MAS_EXIT_IO, "out of memory");
	turn->chat = b->chat;
	turn->kb = &b->chat->kb;
	turn->engine = b->chat->options->engine;
	turn->input = jv_copy(b->input);
	turn->result = result;
	turn->lang = b->lang;
	turn->history = b->has_session
	        ? mas_session_history(b->chat->options->sessions,
	                              b->session_id, HISTORY_TURNS)
	        : jv_array();
	turn->knowledge = mas_chat_related_faqs(b->chat, &b->vector, b->lang);
	turn->has_session = b->has_session;
	if (b->has_session) {
		turn->session = b->session;
		b->has_session = 0; /* moved */
	}
	return turn;
}

const struct mas_kb *mas_chat_kb(const struct mas_chat *chat)
{
	return &chat->kb;
}

jv mas_chat_related_faqs(const struct mas_chat *chat,
                         const struct mas_features *vector, const char *lang)
{
	double best[3] = { -1, -1, -1 };
	size_t which[3] = { NO_CLASS, NO_CLASS, NO_CLASS };
	jv list = jv_array();

	for (size_t v = 0; v < chat->faq_vector_count; v++) {
		size_t f = chat->faq_of_vector[v];
		double s = mas_features_dot(vector, &chat->faq_vectors[v]);
		if (strcmp(chat->kb.faqs[f].lang, lang) != 0)
			s -= 0.5;
		for (int k = 0; k < 3; k++) {
			if (which[k] == f)
				break;
			if (s > best[k]) {
				memmove(best + k + 1, best + k,
				        (size_t)(2 - k) * sizeof(*best));
				memmove(which + k + 1, which + k,
				        (size_t)(2 - k) * sizeof(*which));
				best[k] = s;
				which[k] = f;
				break;
			}
		}
	}
	for (int k = 0; k < 3 && which[k] != NO_CLASS; k++) {
		const struct mas_kb_faq *faq = &chat->kb.faqs[which[k]];
		list = jv_array_append(list, JV_OBJECT(
			jv_string("id"), jv_string(faq->id),
			jv_string("intent"),
			jv_string(chat->kb.intents[faq->intent].name),
			jv_string("question"), jv_string(faq->questions[0]),
			jv_string("answer"), jv_string(faq->answer)));
	}
	return list;
}

void mas_chat_turn_finish(struct mas_chat_turn *turn, jv result,
                          mas_agent_reply_fn reply, void *context)
{
	if (turn->has_session && jv_is_valid(result)) {
		jv message = jv_object_get(jv_copy(turn->input),
		                           jv_string("message"));
		result = remember(turn->chat, &turn->session,
		                  jv_string_value(message), turn->input,
		                  result);
		jv_free(message);
	}
	if (turn->has_session)
		mas_session_release(&turn->session);
	jv_free(turn->input);
	jv_free(turn->result);
	jv_free(turn->history);
	jv_free(turn->knowledge);
	free(turn);
	reply(context, result);
}

/* Answers INPUT; with a model wanted, *TURN gets what the request
 * needs (the result is then in it), else the result is returned with
 * the turn remembered. */
static jv answer(struct mas_chat *chat, jv input, struct mas_chat_turn **turn)
{
	struct chat_beliefs b = { .chat = chat, .input = input,
	                          .clarify = -1 };
	jv status = validate(input);
	jv result;

	*turn = NULL;
	if (!jv_is_valid(status)) {
		jv_free(input);
		return status;
	}
	jv_free(status);
	perceive(&b);
	result = deliberate(&b);
	if (b.want_model) {
		*turn = turn_of(&b, result);
		release_beliefs(&b);
		return jv_invalid();
	}
	if (b.has_session)
		result = remember(chat, &b.session, b.message, b.input,
		                  result);
	release_beliefs(&b);
	return result;
}

jv mas_chat_reply(struct mas_chat *chat, jv input)
{
	struct mas_chat_turn *turn;
	jv result = answer(chat, input, &turn);

	if (turn) {
		/* No model asked for here: the embedded answer stands. */
		result = turn->result;
		turn->result = jv_invalid();
		mas_chat_turn_finish(turn, jv_copy(result), mas_chat_ignore,
		                     NULL);
	}
	return result;
}

void mas_chat_ignore(void *context, jv result)
{
	jv_free(result);
}

void mas_chat_start(void *agent, jv input, mas_agent_reply_fn reply,
                    void *context)
{
	struct mas_chat *chat = agent;
	struct mas_chat_turn *turn;
	jv result = answer(chat, input, &turn);

	if (!turn) {
		reply(context, result);
		return;
	}
	mas_chat_model_submit(turn, chat->options->on_text,
	                      chat->options->text_user, reply, context);
}

jv mas_chat_reply_wait(struct mas_chat *chat, jv input, int stop_fd)
{
	struct mas_llm_waiter waiter = MAS_LLM_WAITER_INIT;
	const struct mas_engine *engine = chat->options->engine;

	mas_chat_start(chat, input, mas_llm_keep_answer, &waiter);
	return mas_llm_wait_or_stop(engine ? engine->llm : NULL, &waiter,
	                            stop_fd);
}
