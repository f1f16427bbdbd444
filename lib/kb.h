/*
 * kb.h — the knowledge base of mas-chat: what it can recognise and what
 * it answers (the format is mas-chat(5)).
 *
 * JSON Lines, one entry per line, each an object with a "type":
 *
 *   intent        {"name", "examples": [S...], "responses": [S...] or
 *                  {"en": [S...], "zh": [S...]}, "suggested_actions",
 *                  "informational", "label", "slots"}
 *   faq           {"id", "intent", "question" or "questions", "answer",
 *                  "slots"}
 *   slot          {"name", "values": {VALUE: [synonym...]}, "labels":
 *                  {VALUE: {"en": S, "zh": S}}}
 *   escalation    {"id", "intents", "keywords", "negative_streak",
 *                  "priority", "responses"}
 *   out_of_scope  {"examples": [S...]}
 *   message       {"name": clarify|out_of_scope|escalate|ask_slot|
 *                  fallback, "responses"}
 *
 * Blank lines and lines starting with '#' are skipped.  Every problem is
 * reported as "FILE:LINE: what" and the load fails: malformed JSON, an
 * unknown type or field, a missing or mistyped field, a duplicate intent,
 * slot or id, a reference to an intent or slot that is not defined.
 */
#ifndef MAS_KB_H
#define MAS_KB_H

#include <stddef.h>

/* A text in a language: "en", "zh", or "" for any. */
struct mas_kb_text {
	char lang[8];
	char *text;
};

struct mas_kb_texts {
	struct mas_kb_text *items;
	size_t count;
};

struct mas_kb_intent {
	char *name;
	struct mas_kb_texts label;     /* for clarifying questions */
	char **examples;
	size_t example_count;
	struct mas_kb_texts responses; /* templates with {{slot}} */
	char **actions;                /* suggested_actions */
	size_t action_count;
	char **slots;                  /* slots the intent asks for */
	size_t slot_count;
	int informational;             /* answer from the FAQ */
	unsigned long line;
};

/* A slot value filled from the message: NAME=VALUE. */
struct mas_kb_pair {
	char *name;
	char *value;
};

struct mas_kb_faq {
	char *id;
	size_t intent;                 /* index into intents */
	char **questions;
	size_t question_count;
	char *answer;
	char lang[8];                  /* of the answer: "en", "zh" */
	struct mas_kb_pair *slots;     /* what the entry is about */
	size_t slot_count;
	unsigned long line;
};

struct mas_kb_slot_value {
	char *value;
	char **synonyms;               /* folded (classify.h) */
	size_t synonym_count;
	struct mas_kb_texts label;
};

struct mas_kb_slot {
	char *name;
	struct mas_kb_slot_value *values;
	size_t value_count;
	unsigned long line;
};

struct mas_kb_escalation {
	char *id;
	size_t *intents;               /* indices into intents */
	size_t intent_count;
	char **keywords;               /* folded */
	size_t keyword_count;
	int negative_streak;           /* 0: not a condition */
	char *priority;                /* or NULL */
	struct mas_kb_texts responses;
	unsigned long line;
};

struct mas_kb_message {
	char *name;
	struct mas_kb_texts responses;
};

/* XXH3-128 in hex, and a NUL. */
#define MAS_KB_DIGEST_SIZE 33

struct mas_kb {
	char *path;
	/* of the file's bytes, as they were read and loaded: what a model
	 * cache keys on (chat-cache.h) */
	char digest[MAS_KB_DIGEST_SIZE];
	struct mas_kb_intent *intents;
	size_t intent_count;
	struct mas_kb_faq *faqs;
	size_t faq_count;
	struct mas_kb_slot *slots;
	size_t slot_count;
	struct mas_kb_escalation *escalations;
	size_t escalation_count;
	char **out_of_scope;           /* examples */
	size_t out_of_scope_count;
	struct mas_kb_message *messages;
	size_t message_count;
	/* Loaded by mas_kb_load_cached: the knowledge base reduced (see
	 * there), REDUCED_SIZE bytes and a NUL; and whether the intents'
	 * examples are absent because it was loaded from that. */
	char *reduced;
	size_t reduced_size;
	int examples_absent;
};

/*
 * Load the knowledge base at PATH into KB.  Returns 0, or -1 with a
 * malloc'd "PATH:LINE: ..." message in *ERROR (KB is then empty).
 */
int mas_kb_load(struct mas_kb *kb, const char *path, char **error);

/*
 * What mas_kb_load_cached asks a cache: the reduced knowledge base kept
 * for the file whose bytes have DIGEST (MAS_KB_DIGEST_SIZE, hex), *SIZE
 * bytes borrowed until mas_kb_load_cached returns, or NULL.
 */
typedef const char *mas_kb_lookup(const char *digest, void *arg,
                                  size_t *size);

/*
 * Load as mas_kb_load, for a caller that keeps a model trained on the
 * knowledge base (chat-cache.h).  Parsing the intents' examples is most
 * of a load (15,000 examples: 40% of a start of mas-chat with a cached
 * model), and a trained model needs them no more.  So the file is read
 * and digested, and LOOKUP (with ARG) asked for the reduced knowledge
 * base: the same JSON Lines, line for line, each intent without its
 * "examples" (out-of-scope examples are kept: a few dozen, and they say
 * whether there is an out-of-scope class).  When it has it, that is
 * parsed instead, with intents' examples allowed to be absent, and
 * KB->examples_absent is 1.  Else (or when the reduced text does not
 * load: a damaged cache) the file is parsed, with its errors, and the
 * reduced form written to KB->reduced, for the caller to keep with its
 * model.  The reduced text is kept only of a file that loaded: a file
 * with an error is never reduced, so its error is always reported.
 * LOOKUP may be NULL (no cache: nothing reduced).
 */
int mas_kb_load_cached(struct mas_kb *kb, const char *path,
                       mas_kb_lookup *lookup, void *arg, char **error);

void mas_kb_release(struct mas_kb *kb);

/* The intent named NAME, or -1. */
long mas_kb_intent_index(const struct mas_kb *kb, const char *name);

/* The slot named NAME, or NULL. */
const struct mas_kb_slot *mas_kb_slot(const struct mas_kb *kb,
                                      const char *name);

/* The message named NAME (clarify, ...), or NULL. */
const struct mas_kb_message *mas_kb_message(const struct mas_kb *kb,
                                            const char *name);

/*
 * The text of TEXTS for LANG: the first in LANG, else the first for any
 * language, else the first; NULL when TEXTS is empty.  With CHOICE, the
 * CHOICE-th (modulo their number) among those in LANG.
 */
const char *mas_kb_pick(const struct mas_kb_texts *texts, const char *lang,
                        unsigned long choice);

#endif
