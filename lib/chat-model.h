/*
 * chat-model.h — what chat.c and chat-model.c share: a turn waiting for
 * the model.  Not a public interface: only those two files include it.
 */
#ifndef MAS_CHAT_MODEL_H
#define MAS_CHAT_MODEL_H

#include <stddef.h>

#include <jv.h>

#include "agent.h"
#include "chat.h"
#include "classify.h"
#include "kb.h"
#include "session.h"

struct mas_chat_turn {
	struct mas_chat *chat;
	const struct mas_kb *kb;
	const struct mas_engine *engine;
	jv input;                  /* the record's input */
	jv result;                 /* the embedded answer */
	const char *lang;          /* of the reply */
	jv history;                /* the session's last turns */
	jv knowledge;              /* FAQ entries near the message */
	int has_session;
	struct mas_session session;
};

/* The knowledge base of CHAT (borrowed). */
const struct mas_kb *mas_chat_kb(const struct mas_chat *chat);

/* The three FAQ entries nearest VECTOR, those in LANG first, as
 * [{"id", "intent", "question", "answer"}]. */
jv mas_chat_related_faqs(const struct mas_chat *chat,
                         const struct mas_features *vector, const char *lang);

/* Remember the turn with RESULT (consumed, passed on to REPLY), free
 * TURN (and what is left of turn->result). */
void mas_chat_turn_finish(struct mas_chat_turn *turn, jv result,
                          mas_agent_reply_fn reply, void *context);

/* A reply function that drops the result. */
void mas_chat_ignore(void *context, jv result);

/*
 * Ask the model to write TURN's reply; when it answers (or fails, as
 * --fallback says), finish the turn and REPLY.  ON_TEXT, when not NULL,
 * gets the reply's text as it streams in.
 */
void mas_chat_model_submit(struct mas_chat_turn *turn,
                           void (*on_text)(void *, const char *, size_t),
                           void *text_user, mas_agent_reply_fn reply,
                           void *context);

#endif
