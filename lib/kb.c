/*
 * kb.c — loading the knowledge base (see kb.h and mas-chat(5)).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jv.h>
/* xxhash's functions inlined here: no library to load at start (a
 * knowledge base's digest is all mas needs of it) */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "classify.h"
#include "kb.h"
#include "log.h"
#include "mas.h"
#include "utf8.h"
#include "banned.h"

/* Where the loader is, and the first error it met. */
struct loader {
	struct mas_kb *kb;
	const char *path;
	unsigned long line;
	char *error;
	/* References resolved at the end, when every entry is known. */
	char **faq_intents;            /* per faq */
	jv escalation_intents;         /* per escalation: array of names */
	jv faq_slots;                  /* per faq: object */
	/* Reading a reduced knowledge base (intents without examples);
	 * else, when REDUCE, writing one into kb->reduced. */
	int reduced, reduce;
	size_t reduced_capacity;
};

static int fail(struct loader *l, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct loader *l, const char *format, ...)
{
	char *message = NULL;
	va_list ap;

	if (l->error)
		return -1;
	va_start(ap, format);
	if (vasprintf(&message, format, ap) < 0)
		message = NULL;
	va_end(ap);
	if (asprintf(&l->error, "%s:%lu: %s", l->path, l->line,
	             message ? message : "out of memory") < 0)
		l->error = NULL;
	free(message);
	return -1;
}

static void *grow(void *array, size_t count, size_t size)
{
	/* Arrays grow by doubling at powers of two; COUNT is the count
	 * before the new element. */
	if (count & (count - 1))
		return array;
	array = realloc(array, (count ? count * 2 : 1) * size);
	if (!array)
		mas_die(MAS_EXIT_IO, "out of memory");
	return array;
}

static char *copy(const char *text)
{
	char *s = strdup(text);

	if (!s)
		mas_die(MAS_EXIT_IO, "out of memory");
	return s;
}

static char *fold(const char *text)
{
	return mas_classify_fold(text, strlen(text));
}

/* ---- fields ---- */

/* Fails on a field of ENTRY that is not in ALLOWED. */
static int check_fields(struct loader *l, jv entry, const char *type,
                        const char *const *allowed)
{
	int status = 0;

	jv_object_foreach(entry, key, value) {
		int known = strcmp(jv_string_value(key), "type") == 0;
		for (int i = 0; !known && allowed[i]; i++)
			known = strcmp(jv_string_value(key), allowed[i]) == 0;
		if (!known && status == 0)
			status = fail(l, "%s: unknown field '%s'", type,
			              jv_string_value(key));
		jv_free(key);
		jv_free(value);
	}
	return status;
}

static jv get(jv entry, const char *key)
{
	return jv_object_get(jv_copy(entry), jv_string(key));
}

/* A required string FIELD, malloc'd, or NULL after failing. */
static char *need_string(struct loader *l, jv entry, const char *type,
                         const char *field)
{
	jv value = get(entry, field);
	char *s = NULL;

	if (!jv_is_valid(value))
		fail(l, "%s: missing field '%s'", type, field);
	else if (jv_get_kind(value) != JV_KIND_STRING ||
	         jv_string_length_bytes(jv_copy(value)) == 0)
		fail(l, "%s: %s: expected a non-empty string", type, field);
	else
		s = copy(jv_string_value(value));
	jv_free(value);
	return s;
}

/* An optional string FIELD, malloc'd; NULL when absent (or after
 * failing, which l->error tells). */
static char *opt_string(struct loader *l, jv entry, const char *type,
                        const char *field)
{
	jv value = get(entry, field);

	if (!jv_is_valid(value)) {
		jv_free(value);
		return NULL;
	}
	jv_free(value);
	return need_string(l, entry, type, field);
}

/* An array of non-empty strings into *OUT (malloc'd copies, folded with
 * FOLD).  REQUIRED: it must be there and not empty.  On failure *OUT is
 * NULL. */
static int string_array(struct loader *l, jv entry, const char *type,
                        const char *field, int required, int folded,
                        char ***out, size_t *count)
{
	jv value = get(entry, field);
	int status = 0;

	*out = NULL;
	*count = 0;
	if (!jv_is_valid(value)) {
		jv_free(value);
		return required ? fail(l, "%s: missing field '%s'", type,
		                       field) : 0;
	}
	if (jv_get_kind(value) != JV_KIND_ARRAY ||
	    (required && jv_array_length(jv_copy(value)) == 0)) {
		jv_free(value);
		return fail(l, "%s: %s: expected %sarray of strings", type,
		            field, required ? "a non-empty " : "an ");
	}
	jv_array_foreach(value, i, item) {
		int good = jv_get_kind(item) == JV_KIND_STRING &&
		           jv_string_length_bytes(jv_copy(item)) > 0;
		if (status == 0 && !good)
			status = fail(l, "%s: %s[%d]: expected a non-empty "
			              "string", type, field, i);
		if (status == 0) {
			*out = grow(*out, *count, sizeof(**out));
			(*out)[(*count)++] = folded
			        ? fold(jv_string_value(item))
			        : copy(jv_string_value(item));
		}
		jv_free(item);
	}
	jv_free(value);
	if (status != 0) {
		/* none of it, so no caller has half an array to free */
		for (size_t i = 0; i < *count; i++)
			free((*out)[i]);
		free(*out);
		*out = NULL;
		*count = 0;
	}
	return status;
}

static void add_text(struct mas_kb_texts *texts, const char *lang,
                     const char *text)
{
	struct mas_kb_text *t;

	texts->items = grow(texts->items, texts->count,
	                    sizeof(*texts->items));
	t = &texts->items[texts->count++];
	snprintf(t->lang, sizeof(t->lang), "%s", lang);
	t->text = copy(text);
}

static const char *language_of(const char *text)
{
	return mas_classify_has_han(text) ? "zh" : "en";
}

/* Texts: a string, an array of strings (each in the language its
 * script says), or {"en": S or [S...], "zh": ...}. */
static int texts_of(struct loader *l, jv value, const char *type,
                    const char *field, const char *lang,
                    struct mas_kb_texts *out)
{
	int status = 0;

	switch (jv_get_kind(value)) {
	case JV_KIND_STRING:
		if (!lang)
			lang = language_of(jv_string_value(value));
		add_text(out, lang, jv_string_value(value));
		break;
	case JV_KIND_ARRAY:
		jv_array_foreach(value, i, item) {
			if (status == 0 && jv_get_kind(item) != JV_KIND_STRING)
				status = fail(l, "%s: %s[%d]: expected a "
				              "string", type, field, i);
			else if (status == 0)
				status = texts_of(l, jv_copy(item), type,
				                  field, lang, out);
			jv_free(item);
		}
		break;
	case JV_KIND_OBJECT:
		if (lang) {
			status = fail(l, "%s: %s: expected strings", type,
			              field);
			break;
		}
		jv_object_foreach(value, key, item) {
			if (status == 0 && strlen(jv_string_value(key)) >= 8)
				status = fail(l, "%s: %s: '%s' is not a "
				              "language code", type, field,
				              jv_string_value(key));
			if (status == 0)
				status = texts_of(l, jv_copy(item), type,
				                  field, jv_string_value(key),
				                  out);
			jv_free(key);
			jv_free(item);
		}
		break;
	default:
		status = fail(l, "%s: %s: expected a string, an array of "
		              "strings or an object of them by language",
		              type, field);
	}
	jv_free(value);
	return status;
}

static int opt_texts(struct loader *l, jv entry, const char *type,
                     const char *field, struct mas_kb_texts *out)
{
	jv value = get(entry, field);

	if (!jv_is_valid(value)) {
		jv_free(value);
		return 0;
	}
	return texts_of(l, value, type, field, NULL, out);
}

static int opt_bool(struct loader *l, jv entry, const char *type,
                    const char *field, int *out)
{
	jv value = get(entry, field);
	jv_kind kind = jv_get_kind(value);

	jv_free(value);
	if (kind == JV_KIND_INVALID)
		return 0;
	if (kind != JV_KIND_TRUE && kind != JV_KIND_FALSE)
		return fail(l, "%s: %s: expected true or false", type, field);
	*out = kind == JV_KIND_TRUE;
	return 0;
}

/* ---- entries ---- */

static int seen_name(struct loader *l, const char *what, const char *name)
{
	const struct mas_kb *kb = l->kb;

	if (strcmp(what, "intent") == 0) {
		if (strcmp(name, "out_of_scope") == 0)
			return fail(l, "intent: 'out_of_scope' is reserved "
			            "for messages no intent fits");
		for (size_t i = 0; i < kb->intent_count; i++)
			if (strcmp(kb->intents[i].name, name) == 0)
				return fail(l, "duplicate intent '%s' (first "
				            "at line %lu)", name,
				            kb->intents[i].line);
	} else if (strcmp(what, "slot") == 0) {
		for (size_t i = 0; i < kb->slot_count; i++)
			if (strcmp(kb->slots[i].name, name) == 0)
				return fail(l, "duplicate slot '%s' (first at "
				            "line %lu)", name,
				            kb->slots[i].line);
	} else {
		for (size_t i = 0; i < kb->faq_count; i++)
			if (strcmp(kb->faqs[i].id, name) == 0)
				return fail(l, "duplicate id '%s' (first at "
				            "line %lu)", name,
				            kb->faqs[i].line);
		for (size_t i = 0; i < kb->escalation_count; i++)
			if (strcmp(kb->escalations[i].id, name) == 0)
				return fail(l, "duplicate id '%s' (first at "
				            "line %lu)", name,
				            kb->escalations[i].line);
	}
	return 0;
}

static int load_intent(struct loader *l, jv entry)
{
	static const char *const fields[] = {
		"name", "examples", "responses", "suggested_actions",
		"informational", "label", "slots", "description", NULL
	};
	struct mas_kb_intent it = { .line = l->line };
	struct mas_kb *kb = l->kb;

	if (check_fields(l, entry, "intent", fields))
		return -1;
	it.name = need_string(l, entry, "intent", "name");
	if (!it.name || seen_name(l, "intent", it.name)) {
		free(it.name);
		return -1;
	}
	kb->intents = grow(kb->intents, kb->intent_count,
	                   sizeof(*kb->intents));
	kb->intents[kb->intent_count++] = it;
	/* Filled in place, so that a failure frees it with the rest. */
	{
		struct mas_kb_intent *p = &kb->intents[kb->intent_count - 1];
		string_array(l, entry, "intent", "examples", !l->reduced, 0,
		             &p->examples, &p->example_count);
		opt_texts(l, entry, "intent", "responses", &p->responses);
		opt_texts(l, entry, "intent", "label", &p->label);
		string_array(l, entry, "intent", "suggested_actions", 0, 0,
		             &p->actions, &p->action_count);
		string_array(l, entry, "intent", "slots", 0, 0, &p->slots,
		             &p->slot_count);
		opt_bool(l, entry, "intent", "informational",
		         &p->informational);
	}
	return l->error ? -1 : 0;
}

static char *faq_id(struct loader *l, jv entry)
{
	char *id = opt_string(l, entry, "faq", "id");

	if (!id && !l->error && asprintf(&id, "faq-%lu", l->line) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	return id;
}

static void load_question(struct loader *l, jv entry, struct mas_kb_faq *f)
{
	char *q = need_string(l, entry, "faq", "question");

	if (q) {
		f->questions = grow(NULL, 0, sizeof(char *));
		f->questions[f->question_count++] = q;
	}
}

static int load_faq(struct loader *l, jv entry)
{
	static const char *const fields[] = {
		"id", "intent", "question", "questions", "answer", "slots",
		NULL
	};
	struct mas_kb *kb = l->kb;
	struct mas_kb_faq *f;
	jv slots;
	char *id;

	if (check_fields(l, entry, "faq", fields))
		return -1;
	id = faq_id(l, entry);
	if (!id || seen_name(l, "id", id)) {
		free(id);
		return -1;
	}
	kb->faqs = grow(kb->faqs, kb->faq_count, sizeof(*kb->faqs));
	l->faq_intents = grow(l->faq_intents, kb->faq_count,
	                      sizeof(*l->faq_intents));
	f = &kb->faqs[kb->faq_count];
	memset(f, 0, sizeof(*f));
	f->line = l->line;
	f->id = id;
	l->faq_intents[kb->faq_count++] = need_string(l, entry, "faq",
	                                              "intent");
	if (jv_object_has(jv_copy(entry), jv_string("question")))
		load_question(l, entry, f);
	else
		string_array(l, entry, "faq", "questions", 1, 0,
		             &f->questions, &f->question_count);
	f->answer = need_string(l, entry, "faq", "answer");
	if (f->answer)
		snprintf(f->lang, sizeof(f->lang), "%s",
		         language_of(f->answer));
	slots = get(entry, "slots");
	if (jv_is_valid(slots) && jv_get_kind(slots) != JV_KIND_OBJECT)
		fail(l, "faq: slots: expected an object of slot values");
	l->faq_slots = jv_array_append(l->faq_slots, slots);
	return l->error ? -1 : 0;
}

static int slot_value(struct loader *l, struct mas_kb_slot *slot, jv key,
                      jv synonyms, jv labels)
{
	struct mas_kb_slot_value *v;
	jv label = jv_object_get(labels, jv_copy(key));
	jv entry = JV_OBJECT(jv_string("values"), synonyms);

	slot->values = grow(slot->values, slot->value_count,
	                    sizeof(*slot->values));
	v = &slot->values[slot->value_count++];
	memset(v, 0, sizeof(*v));
	v->value = copy(jv_string_value(key));
	string_array(l, entry, "slot", "values", 1, 1, &v->synonyms,
	             &v->synonym_count);
	if (jv_is_valid(label))
		texts_of(l, label, "slot", "labels", NULL, &v->label);
	else
		jv_free(label);
	jv_free(entry);
	jv_free(key);
	return l->error ? -1 : 0;
}

static int load_slot(struct loader *l, jv entry)
{
	static const char *const fields[] = { "name", "values", "labels",
		                              NULL };
	struct mas_kb *kb = l->kb;
	struct mas_kb_slot *slot;
	jv values = get(entry, "values"), labels = get(entry, "labels");
	char *name;

	if (check_fields(l, entry, "slot", fields))
		goto done;
	name = need_string(l, entry, "slot", "name");
	if (!name || seen_name(l, "slot", name)) {
		free(name);
		goto done;
	}
	kb->slots = grow(kb->slots, kb->slot_count, sizeof(*kb->slots));
	slot = &kb->slots[kb->slot_count++];
	memset(slot, 0, sizeof(*slot));
	slot->name = name;
	slot->line = l->line;
	if (jv_get_kind(values) != JV_KIND_OBJECT ||
	    jv_object_length(jv_copy(values)) == 0) {
		fail(l, "slot '%s': values: expected an object of value: "
		     "[synonym, ...]", name);
		goto done;
	}
	if (jv_is_valid(labels) && jv_get_kind(labels) != JV_KIND_OBJECT) {
		fail(l, "slot '%s': labels: expected an object", name);
		goto done;
	}
	if (!jv_is_valid(labels)) {
		jv_free(labels);
		labels = jv_object();
	}
	jv_object_foreach(values, key, synonyms) {
		if (!l->error)
			slot_value(l, slot, key, synonyms, jv_copy(labels));
		else {
			jv_free(key);
			jv_free(synonyms);
		}
	}
done:
	jv_free(values);
	jv_free(labels);
	return l->error ? -1 : 0;
}

static int opt_streak(struct loader *l, jv entry, int *out)
{
	jv value = get(entry, "negative_streak");
	double n = jv_get_kind(value) == JV_KIND_NUMBER
	                   ? jv_number_value(value) : -1;
	int valid = jv_is_valid(value);

	jv_free(value);
	if (!valid)
		return 0;
	if (n < 1 || n > 100 || n != (int)n)
		return fail(l, "escalation: negative_streak: expected a whole "
		            "number from 1 to 100");
	*out = (int)n;
	return 0;
}

static int load_escalation(struct loader *l, jv entry)
{
	static const char *const fields[] = {
		"id", "intents", "keywords", "negative_streak", "priority",
		"responses", NULL
	};
	struct mas_kb *kb = l->kb;
	struct mas_kb_escalation *e;
	jv intents = get(entry, "intents");
	char *id;

	if (check_fields(l, entry, "escalation", fields)) {
		jv_free(intents);
		return -1;
	}
	id = need_string(l, entry, "escalation", "id");
	if (!id || seen_name(l, "id", id)) {
		free(id);
		jv_free(intents);
		return -1;
	}
	kb->escalations = grow(kb->escalations, kb->escalation_count,
	                       sizeof(*kb->escalations));
	e = &kb->escalations[kb->escalation_count++];
	memset(e, 0, sizeof(*e));
	e->id = id;
	e->line = l->line;
	if (jv_is_valid(intents) && jv_get_kind(intents) != JV_KIND_ARRAY)
		fail(l, "escalation: intents: expected an array of strings");
	l->escalation_intents = jv_array_append(l->escalation_intents,
	                                        intents);
	string_array(l, entry, "escalation", "keywords", 0, 1, &e->keywords,
	             &e->keyword_count);
	opt_streak(l, entry, &e->negative_streak);
	e->priority = opt_string(l, entry, "escalation", "priority");
	opt_texts(l, entry, "escalation", "responses", &e->responses);
	return l->error ? -1 : 0;
}

static int load_out_of_scope(struct loader *l, jv entry)
{
	static const char *const fields[] = { "examples", NULL };
	struct mas_kb *kb = l->kb;
	char **examples;
	size_t count;

	if (check_fields(l, entry, "out_of_scope", fields) ||
	    string_array(l, entry, "out_of_scope", "examples", 1, 0,
	                 &examples, &count))
		return -1;
	for (size_t i = 0; i < count; i++) {
		kb->out_of_scope = grow(kb->out_of_scope,
		                        kb->out_of_scope_count,
		                        sizeof(*kb->out_of_scope));
		kb->out_of_scope[kb->out_of_scope_count++] = examples[i];
	}
	free(examples);
	return 0;
}

static int load_message(struct loader *l, jv entry)
{
	static const char *const fields[] = { "name", "responses", NULL };
	static const char *const names[] = {
		"clarify", "out_of_scope", "escalate", "ask_slot", "fallback",
		NULL
	};
	struct mas_kb *kb = l->kb;
	struct mas_kb_message *m;
	char *name;
	int known = 0;

	if (check_fields(l, entry, "message", fields))
		return -1;
	name = need_string(l, entry, "message", "name");
	for (int i = 0; name && names[i]; i++)
		known |= strcmp(name, names[i]) == 0;
	if (name && !known) {
		fail(l, "message: unknown name '%s' (expected clarify, "
		     "out_of_scope, escalate, ask_slot or fallback)", name);
		free(name);
		return -1;
	}
	if (!name)
		return -1;
	kb->messages = grow(kb->messages, kb->message_count,
	                    sizeof(*kb->messages));
	m = &kb->messages[kb->message_count++];
	memset(m, 0, sizeof(*m));
	m->name = name;
	if (opt_texts(l, entry, "message", "responses", &m->responses))
		return -1;
	if (m->responses.count == 0)
		return fail(l, "message: missing field 'responses'");
	return 0;
}

static int load_entry(struct loader *l, jv entry)
{
	jv type = get(entry, "type");
	const char *t = jv_get_kind(type) == JV_KIND_STRING
	                        ? jv_string_value(type) : NULL;
	int status;

	if (!jv_is_valid(type))
		status = fail(l, "missing field 'type'");
	else if (!t)
		status = fail(l, "type: expected a string");
	else if (strcmp(t, "intent") == 0)
		status = load_intent(l, entry);
	else if (strcmp(t, "faq") == 0)
		status = load_faq(l, entry);
	else if (strcmp(t, "slot") == 0)
		status = load_slot(l, entry);
	else if (strcmp(t, "escalation") == 0)
		status = load_escalation(l, entry);
	else if (strcmp(t, "out_of_scope") == 0)
		status = load_out_of_scope(l, entry);
	else if (strcmp(t, "message") == 0)
		status = load_message(l, entry);
	else
		status = fail(l, "unknown type '%s' (expected intent, faq, "
		              "slot, escalation, out_of_scope or message)", t);
	jv_free(type);
	jv_free(entry);
	return status;
}

/* Appends N bytes of TEXT and a newline to the reduced knowledge base. */
static void reduce_append(struct loader *l, const char *text, size_t n)
{
	struct mas_kb *kb = l->kb;

	if (kb->reduced_size + n + 2 > l->reduced_capacity) {
		l->reduced_capacity = (kb->reduced_size + n + 2) * 2;
		kb->reduced = realloc(kb->reduced, l->reduced_capacity);
		if (!kb->reduced)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	memcpy(kb->reduced + kb->reduced_size, text, n);
	kb->reduced_size += n;
	kb->reduced[kb->reduced_size++] = '\n';
	kb->reduced[kb->reduced_size] = '\0';
}

/* The line of ENTRY (borrowed; LINE, LENGTH bytes) in the reduced
 * knowledge base: an intent without its examples, the rest as it is
 * (out-of-scope examples are a few dozen; they decide whether the
 * model has an out-of-scope class). */
static void reduce_entry(struct loader *l, jv entry, const char *line,
                         size_t length)
{
	jv type = get(entry, "type");
	jv examples = get(entry, "examples");

	if (jv_get_kind(type) == JV_KIND_STRING &&
	    strcmp(jv_string_value(type), "intent") == 0 &&
	    jv_is_valid(examples)) {
		jv text = jv_dump_string(jv_object_delete(jv_copy(entry),
		                                          jv_string("examples")),
		                         0);
		reduce_append(l, jv_string_value(text),
		              (size_t)jv_string_length_bytes(jv_copy(text)));
		jv_free(text);
	} else {
		reduce_append(l, line, length);
	}
	jv_free(type);
	jv_free(examples);
}

static int load_line(struct loader *l, const char *line, size_t length)
{
	jv entry;

	if (mas_utf8_invalid_offset(line, length) != length)
		return fail(l, "not valid UTF-8");
	entry = jv_parse_sized(line, (int)length);
	if (!jv_is_valid(entry)) {
		jv message = jv_invalid_get_msg(entry);
		fail(l, "not valid JSON: %s", jv_get_kind(message) ==
		     JV_KIND_STRING ? jv_string_value(message) : "?");
		jv_free(message);
		return -1;
	}
	if (jv_get_kind(entry) != JV_KIND_OBJECT) {
		jv_free(entry);
		return fail(l, "expected a JSON object");
	}
	if (l->reduce)
		reduce_entry(l, entry, line, length);
	return load_entry(l, entry);
}

/* ---- references, once every entry is read ---- */

static int resolve_faq_slots(struct loader *l, struct mas_kb_faq *f, jv slots)
{
	if (jv_get_kind(slots) != JV_KIND_OBJECT) {
		jv_free(slots);
		return 0;
	}
	jv_object_foreach(slots, name, value) {
		const char *slot_name = jv_string_value(name);
		const struct mas_kb_slot *slot = mas_kb_slot(l->kb, slot_name);
		int known = 0;
		for (size_t i = 0; slot && i < slot->value_count &&
		                   jv_get_kind(value) == JV_KIND_STRING; i++)
			known |= strcmp(slot->values[i].value,
			                jv_string_value(value)) == 0;
		if (!slot)
			fail(l, "faq: slots: unknown slot '%s'",
			     jv_string_value(name));
		else if (!known)
			fail(l, "faq: slots: %s: not one of the slot's values",
			     jv_string_value(name));
		else {
			f->slots = grow(f->slots, f->slot_count,
			                sizeof(*f->slots));
			f->slots[f->slot_count].name = copy(slot->name);
			f->slots[f->slot_count++].value =
				copy(jv_string_value(value));
		}
		jv_free(name);
		jv_free(value);
	}
	jv_free(slots);
	return l->error ? -1 : 0;
}

static int resolve_faqs(struct loader *l)
{
	struct mas_kb *kb = l->kb;

	for (size_t i = 0; i < kb->faq_count && !l->error; i++) {
		long intent = mas_kb_intent_index(kb, l->faq_intents[i]);
		l->line = kb->faqs[i].line;
		if (intent < 0)
			return fail(l, "faq: unknown intent '%s'",
			            l->faq_intents[i]);
		kb->faqs[i].intent = (size_t)intent;
		resolve_faq_slots(l, &kb->faqs[i],
		                  jv_array_get(jv_copy(l->faq_slots),
		                               (int)i));
	}
	return l->error ? -1 : 0;
}

static int resolve_escalations(struct loader *l)
{
	struct mas_kb *kb = l->kb;

	for (size_t i = 0; i < kb->escalation_count && !l->error; i++) {
		struct mas_kb_escalation *e = &kb->escalations[i];
		jv names = jv_array_get(jv_copy(l->escalation_intents),
		                        (int)i);
		l->line = e->line;
		if (jv_get_kind(names) != JV_KIND_ARRAY) {
			jv_free(names);
			names = jv_array();
		}
		e->intents = calloc((size_t)jv_array_length(jv_copy(names)) +
		                    1, sizeof(*e->intents));
		if (!e->intents)
			mas_die(MAS_EXIT_IO, "out of memory");
		jv_array_foreach(names, k, name) {
			long index = -2;
			if (jv_get_kind(name) == JV_KIND_STRING)
				index = mas_kb_intent_index(
					kb, jv_string_value(name));
			if (index == -2)
				fail(l, "escalation: intents[%d]: expected a "
				     "string", k);
			else if (index < 0)
				fail(l, "escalation: unknown intent '%s'",
				     jv_string_value(name));
			else
				e->intents[e->intent_count++] = (size_t)index;
			jv_free(name);
		}
		jv_free(names);
		if (!l->error && !e->intent_count && !e->keyword_count &&
		    !e->negative_streak)
			fail(l, "escalation '%s': no condition (intents, "
			     "keywords or negative_streak)", e->id);
	}
	return l->error ? -1 : 0;
}

static int resolve_intent_slots(struct loader *l)
{
	struct mas_kb *kb = l->kb;

	for (size_t i = 0; i < kb->intent_count && !l->error; i++)
		for (size_t s = 0; s < kb->intents[i].slot_count; s++)
			if (!mas_kb_slot(kb, kb->intents[i].slots[s])) {
				l->line = kb->intents[i].line;
				return fail(l, "intent '%s': slots: unknown "
				            "slot '%s'", kb->intents[i].name,
				            kb->intents[i].slots[s]);
			}
	return 0;
}

static int resolve(struct loader *l)
{
	if (resolve_faqs(l) || resolve_escalations(l) ||
	    resolve_intent_slots(l))
		return -1;
	if (l->kb->intent_count == 0) {
		free(l->error);
		if (asprintf(&l->error, "%s: no intents", l->path) < 0)
			l->error = NULL;
		return -1;
	}
	return 0;
}

/* The bytes of FILE (malloc'd, *SIZE of them, NUL-terminated), read
 * in one go when it is a regular file; NULL with errno on a failure. */
static char *read_all(FILE *file, size_t *size)
{
	struct stat st;
	size_t capacity = 65536, used = 0, n;
	char *data;

	if (fstat(fileno(file), &st) == 0 && S_ISREG(st.st_mode))
		capacity = (size_t)st.st_size + 1;
	data = malloc(capacity + 1);
	while (data) {
		n = fread(data + used, 1, capacity - used, file);
		used += n;
		if (used < capacity)
			break;
		capacity *= 2;
		data = realloc(data, capacity + 1);
	}
	if (!data)
		mas_die(MAS_EXIT_IO, "out of memory");
	if (ferror(file)) {
		free(data);
		return NULL;
	}
	data[used] = '\0';
	*size = used;
	return data;
}

/* Loads the lines of DATA (SIZE bytes). */
static int read_lines(struct loader *l, const char *data, size_t size)
{
	const char *end = data + size;

	for (const char *line = data; line < end && !l->error;) {
		const char *next = memchr(line, '\n', (size_t)(end - line));
		const char *s = line;
		size_t n;
		next = next ? next + 1 : end;
		n = (size_t)(next - line);
		line = next;
		l->line++;
		while (n > 0 && strchr("\r\n \t", s[n - 1]))
			n--;
		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		if (n > 0 && *s != '#')
			load_line(l, s, n);
		else if (l->reduce)
			reduce_append(l, "", 0); /* the lines keep their numbers */
	}
	return l->error ? -1 : 0;
}

/* The digest of SIZE bytes of DATA into HEX. */
static void digest(const char *data, size_t size,
                   char hex[MAS_KB_DIGEST_SIZE])
{
	XXH128_hash_t h = XXH3_128bits(data, size);

	snprintf(hex, MAS_KB_DIGEST_SIZE, "%016llx%016llx",
	         (unsigned long long)h.high64, (unsigned long long)h.low64);
}

/* Parses SIZE bytes of DATA into L's knowledge base; on error, L->error
 * is set and the knowledge base released. */
static void parse(struct loader *l, const char *data, size_t size)
{
	struct mas_kb *kb = l->kb;

	l->escalation_intents = jv_array();
	l->faq_slots = jv_array();
	if (read_lines(l, data, size) == 0)
		resolve(l);
	for (size_t i = 0; i < kb->faq_count; i++)
		free(l->faq_intents[i]);
	free(l->faq_intents);
	l->faq_intents = NULL;
	jv_free(l->escalation_intents);
	jv_free(l->faq_slots);
	if (l->error)
		mas_kb_release(kb);
}

/* Parses the reduced knowledge base REDUCED (SIZE bytes) into KB, named
 * PATH, whose digest is DIGEST; 0, or -1 with KB empty. */
static int parse_reduced(struct mas_kb *kb, const char *path,
                         const char *digest, const char *reduced,
                         size_t size)
{
	struct loader l = { kb, path, 0, NULL, NULL, jv_null(), jv_null(),
	                    1, 0, 0 };

	kb->path = copy(path);
	memcpy(kb->digest, digest, sizeof(kb->digest));
	kb->examples_absent = 1;
	parse(&l, reduced, size);
	if (l.error) {
		free(l.error);
		return -1;
	}
	kb->reduced = malloc(size + 1);
	if (!kb->reduced)
		mas_die(MAS_EXIT_IO, "out of memory");
	memcpy(kb->reduced, reduced, size);
	kb->reduced[size] = '\0';
	kb->reduced_size = size;
	return 0;
}

int mas_kb_load_cached(struct mas_kb *kb, const char *path,
                       mas_kb_lookup *lookup, void *arg, char **error)
{
	struct loader l = { kb, path, 0, NULL, NULL, jv_null(), jv_null(),
	                    0, lookup != NULL, 0 };
	FILE *file;
	char *data = NULL, hex[MAS_KB_DIGEST_SIZE];
	const char *reduced;
	size_t size = 0, reduced_size = 0;

	memset(kb, 0, sizeof(*kb));
	*error = NULL;
	file = fopen(path, "r");
	if (file)
		data = read_all(file, &size);
	if (!data) {
		if (asprintf(error, "%s: %s", path, strerror(errno)) < 0)
			*error = NULL;
		if (file)
			fclose(file);
		return -1;
	}
	fclose(file);
	digest(data, size, hex);
	reduced = lookup ? lookup(hex, arg, &reduced_size) : NULL;
	if (reduced && parse_reduced(kb, path, hex, reduced, reduced_size)
	                == 0) {
		free(data);
		return 0;
	}
	kb->path = copy(path);
	memcpy(kb->digest, hex, sizeof(hex));
	parse(&l, data, size);
	free(data);
	if (l.error) {
		*error = l.error;
		return -1;
	}
	return 0;
}

int mas_kb_load(struct mas_kb *kb, const char *path, char **error)
{
	return mas_kb_load_cached(kb, path, NULL, NULL, error);
}

/* ---- release and lookups ---- */

static void free_strings(char **strings, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(strings[i]);
	free(strings);
}

static void free_texts(struct mas_kb_texts *texts)
{
	for (size_t i = 0; i < texts->count; i++)
		free(texts->items[i].text);
	free(texts->items);
}

static void free_intent(struct mas_kb_intent *it)
{
	free(it->name);
	free_texts(&it->label);
	free_strings(it->examples, it->example_count);
	free_texts(&it->responses);
	free_strings(it->actions, it->action_count);
	free_strings(it->slots, it->slot_count);
}

static void free_faq(struct mas_kb_faq *f)
{
	free(f->id);
	free_strings(f->questions, f->question_count);
	free(f->answer);
	for (size_t i = 0; i < f->slot_count; i++) {
		free(f->slots[i].name);
		free(f->slots[i].value);
	}
	free(f->slots);
}

static void free_slot(struct mas_kb_slot *s)
{
	free(s->name);
	for (size_t i = 0; i < s->value_count; i++) {
		free(s->values[i].value);
		free_strings(s->values[i].synonyms,
		             s->values[i].synonym_count);
		free_texts(&s->values[i].label);
	}
	free(s->values);
}

static void free_escalation(struct mas_kb_escalation *e)
{
	free(e->id);
	free(e->intents);
	free_strings(e->keywords, e->keyword_count);
	free(e->priority);
	free_texts(&e->responses);
}

void mas_kb_release(struct mas_kb *kb)
{
	free(kb->reduced);
	for (size_t i = 0; i < kb->intent_count; i++)
		free_intent(&kb->intents[i]);
	for (size_t i = 0; i < kb->faq_count; i++)
		free_faq(&kb->faqs[i]);
	for (size_t i = 0; i < kb->slot_count; i++)
		free_slot(&kb->slots[i]);
	for (size_t i = 0; i < kb->escalation_count; i++)
		free_escalation(&kb->escalations[i]);
	for (size_t i = 0; i < kb->message_count; i++) {
		free(kb->messages[i].name);
		free_texts(&kb->messages[i].responses);
	}
	free(kb->intents);
	free(kb->faqs);
	free(kb->slots);
	free(kb->escalations);
	free(kb->messages);
	free_strings(kb->out_of_scope, kb->out_of_scope_count);
	free(kb->path);
	memset(kb, 0, sizeof(*kb));
}

long mas_kb_intent_index(const struct mas_kb *kb, const char *name)
{
	for (size_t i = 0; i < kb->intent_count; i++)
		if (strcmp(kb->intents[i].name, name) == 0)
			return (long)i;
	return -1;
}

const struct mas_kb_slot *mas_kb_slot(const struct mas_kb *kb,
                                      const char *name)
{
	for (size_t i = 0; i < kb->slot_count; i++)
		if (strcmp(kb->slots[i].name, name) == 0)
			return &kb->slots[i];
	return NULL;
}

const struct mas_kb_message *mas_kb_message(const struct mas_kb *kb,
                                            const char *name)
{
	for (size_t i = 0; i < kb->message_count; i++)
		if (strcmp(kb->messages[i].name, name) == 0)
			return &kb->messages[i];
	return NULL;
}

const char *mas_kb_pick(const struct mas_kb_texts *texts, const char *lang,
                        unsigned long choice)
{
	size_t in_lang = 0, any = 0, k;

	for (size_t i = 0; i < texts->count; i++) {
		in_lang += strcmp(texts->items[i].lang, lang) == 0;
		any += texts->items[i].lang[0] == '\0';
	}
	if (texts->count == 0)
		return NULL;
	if (!in_lang && !any)
		return texts->items[0].text;
	k = choice % (in_lang ? in_lang : any);
	for (size_t i = 0; i < texts->count; i++) {
		int match = in_lang ? strcmp(texts->items[i].lang, lang) == 0
		                    : texts->items[i].lang[0] == '\0';
		if (match && k-- == 0)
			return texts->items[i].text;
	}
	return texts->items[0].text;
}
