/*
 * session.h — mas-chat's conversation memory in the state store
 * (mas-chat(1), SESSIONS).
 *
 * A session is keyed by the record's session_id.  Its row keeps what the
 * next turn needs — the last intent and its confidence, the slots filled
 * so far, how many turns in a row were negative — and each turn is kept
 * in full (message, response, intent, confidence, sentiment, plan), so
 * that `mas-chat sessions show` tells the whole conversation and its
 * sentiment trend.  A session not updated for TTL seconds is expired:
 * it is deleted when mas-chat opens the store, and a record naming it
 * starts a new one.
 */
#ifndef MAS_SESSION_H
#define MAS_SESSION_H

#include <jv.h>

#include "store.h"

struct mas_sessions;

/* What one turn knows of its session before it is answered. */
struct mas_session {
	char *id;
	int exists;            /* 0: a new session */
	long turns;            /* turns so far */
	char *last_intent;     /* or NULL */
	double last_confidence;
	jv slots;              /* object: slot name -> value */
	int negative_streak;   /* negative turns in a row, up to the last */
};

/* One answered turn, to be remembered (strings borrowed). */
struct mas_session_turn {
	const char *user_id;   /* or NULL */
	const char *message;
	const char *response;
	const char *intent;
	double confidence;
	const char *sentiment; /* label */
	double score;
	const char *plan;
	jv slots;              /* borrowed: the slots filled now */
};

/*
 * Sessions over STORE (borrowed, open), expiring after TTL seconds (0:
 * never).  Returns NULL with a malloc'd message in *ERROR when the store
 * cannot be used.
 */
struct mas_sessions *mas_sessions_new(struct mas_store *store, double ttl,
                                      char **error);
void mas_sessions_free(struct mas_sessions *sessions);

/*
 * Delete the sessions that expired (none when TTL is 0), the first write
 * a program makes, so a store it cannot write is found before any record:
 * returns 0, or -1 (MAS_STORE_BUSY when another process keeps the store
 * locked, MAS_STORE_FULL when the disk is full) with a malloc'd message
 * in *ERROR.
 */
int mas_sessions_purge(struct mas_sessions *sessions, char **error);

/*
 * Load session ID into SESSION (to be released with
 * mas_session_release); a missing or expired one comes back with
 * exists 0 and nothing remembered.  Returns 0, or -1 on a database error
 * (SESSION is then a new session, and the error is logged).
 */
int mas_session_load(struct mas_sessions *sessions, const char *id,
                     struct mas_session *session);
void mas_session_release(struct mas_session *session);

/*
 * The last COUNT turns of SESSION, oldest first, as an array of
 * {"message", "response", "intent"}.
 */
jv mas_session_history(struct mas_sessions *sessions, const char *id,
                       int count);

/*
 * Remember TURN as the next turn of SESSION (whose counters it updates:
 * turns, last intent, streak, slots).  Returns 0, or on a database error
 * (logged) -1, MAS_STORE_BUSY or MAS_STORE_FULL.  The turn is its own
 * transaction; when the caller holds one open on the store, the turn is
 * a savepoint in it (undone alone on error), stored by the caller's
 * COMMIT.
 */
int mas_session_save(struct mas_sessions *sessions,
                     struct mas_session *session,
                     const struct mas_session_turn *turn);

/*
 * The error object for a turn of session ID (NULL: a batch's, not one
 * session's) that mas_session_save, or the commit of the transaction it
 * was a savepoint in, failed to store with STATUS: the store's "try
 * again" error when it was locked or full, else INTERNAL.
 */
jv mas_session_save_error(const char *id, int status);

/* The live sessions, most recently updated first, as an array of
 * {"session_id", "user_id", "created", "updated", "turns",
 * "last_intent"}. */
jv mas_sessions_list(struct mas_sessions *sessions);

/* Session ID in full: the summary, "slots", "negative_streak",
 * "sentiment_trend" (scores by turn) and "history" (every turn); jv_null()
 * when there is none. */
jv mas_sessions_show(struct mas_sessions *sessions, const char *id);

/* Delete session ID; 1 when it existed, 0 when not, -1 on error. */
int mas_sessions_delete(struct mas_sessions *sessions, const char *id);

#endif
