/*
 * chat.h — the customer-service agent: a message in, a reply with its
 * intent, sentiment, confidence and suggested actions out, remembering
 * sessions (mas-chat(1)).
 *
 * Input records in the original API's shape:
 *
 *	{"message": "我想了解你们的企业版定价方案", "user_id": "user_123456",
 *	 "session_id": "session_abc789", "context": {"user_tier": "premium",
 *	 "previous_interactions": 3, "preferred_language": "zh-CN"}}
 *
 * The knowledge base (kb.h) is loaded and the intent classifier
 * (classify.h) trained when the agent is made.  Each message then runs
 * the BDI plans (bdi.h) listed in mas-chat(1), PLANS: understand it
 * (classified, or a follow-up of the session's last intent), then
 * respond (escalate, clarify, decline, answer from the FAQ, ask for a
 * slot, fill a reply template, or a generic reply), then — with a model
 * — let the model write the reply from the retrieved knowledge.  The
 * same input gives the same output but for the timestamp (and what the
 * session remembers).
 */
#ifndef MAS_CHAT_H
#define MAS_CHAT_H

#include <stddef.h>

#include <jv.h>

#include "agent.h"
#include "engine.h"
#include "session.h"
#include "store.h"

/* The longest message answered, in bytes: a customer's message is a few
 * sentences, and the classifier's features grow with the text, so a
 * 200 MB "message" would cost gigabytes; a longer one is INVALID_REQUEST
 * naming the field. */
#define MAS_CHAT_MESSAGE_MAX 65536

struct mas_chat_options {
	const char *kb_path;
	const char *sentiment_train;   /* labelled examples, or NULL: the
	                                * lexicon */
	const char *text_field;        /* in them, as sentiment.h's */
	const char *label_field;       /* mas_sentiment_source says; */
	const char *label_map;         /* NULL for its defaults */
	const char *lang;              /* "en", "zh", or NULL: the record's
	                                * preferred_language, else the
	                                * message's script */
	const char *session;           /* session_id for records without
	                                * one, or NULL */
	double threshold;              /* < 0: calibrated */
	double oos_recall;             /* with out-of-scope examples, the
	                                * recall the threshold aims at
	                                * (classify.h, "oos_recall"); 0:
	                                * the default rule,
	                                * "oos_recall_capped"; < 0: the
	                                * "accuracy+recall" rule */
	struct mas_sessions *sessions; /* memory, or NULL: none (borrowed) */
	struct mas_store *store;       /* where trained models are cached
	                                * (chat-cache.h), or NULL: train at
	                                * every start (borrowed) */
	const struct mas_engine *engine; /* the model, or NULL (borrowed) */
	/* With a model: the reply's text as it streams in, for the
	 * interactive mode; NULL for none. */
	void (*on_text)(void *user, const char *text, size_t length);
	void *text_user;
};

struct mas_chat;

/*
 * Load the knowledge base and train the classifiers.  OPTIONS and what
 * it points to are borrowed and must outlive the agent.  Returns NULL
 * with a malloc'd message in *ERROR ("FILE:LINE: ..." for a bad
 * knowledge base or training file).
 */
struct mas_chat *mas_chat_new(const struct mas_chat_options *options,
                              char **error);
void mas_chat_free(struct mas_chat *chat);

/* What was loaded: {"kb", "intents", "examples", "faqs", "features",
 * "threshold", "threshold_rule", "scale", "cv", "model", "train_seconds"
 * or "load_seconds", "sentiment"} and, with a sentiment model,
 * "sentiment_model": {"examples", "positive", "neutral", "negative",
 * "labels", "features", "values", "train_seconds"} (sentiment.h's
 * report); model is "cached" (mapped from the store's model file, in
 * load_seconds), "trained" (and stored) or "trained in memory" (no
 * store, or it failed), in train_seconds. */
jv mas_chat_info(const struct mas_chat *chat);

/*
 * Answer INPUT (consumed) with the embedded engine: the object for the
 * record's output key, or jv_invalid_with_msg(error) naming the field
 * that was wrong.  The turn is remembered when the record has a session.
 */
jv mas_chat_reply(struct mas_chat *chat, jv input);

/*
 * Answer INPUT (consumed) as mas_chat_reply does and, with a model, let
 * the model write the reply: REPLY gets the result once, now or from
 * inside the engine's wait (mas_agent_start_fn).
 */
void mas_chat_start(void *chat, jv input, mas_agent_reply_fn reply,
                    void *context);

/*
 * mas_chat_start, waiting for the model: for the interactive mode.  When
 * STOP_FD (-1: none) becomes readable the model's reply is cancelled
 * (mas_llm_wait_or_stop): the turn is then settled as a failed model
 * call is, and remembered.
 */
jv mas_chat_reply_wait(struct mas_chat *chat, jv input, int stop_fd);

#endif
