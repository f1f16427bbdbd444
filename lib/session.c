/*
 * session.c — mas-chat's sessions in the state store (see session.h).
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "mas.h"
#include "session.h"
#include "banned.h"

enum statement {
	LOAD, HISTORY, FORGET, ADD_TURN, UPSERT, LIST, SHOW, TURNS, DELETE,
	STATEMENT_COUNT
};

static const char *const sql[STATEMENT_COUNT] = {
	[LOAD] = "SELECT turns, last_intent, last_confidence, slots,"
	         " negative_streak FROM chat_session WHERE id = ?1"
	         " AND (?2 = 0 OR updated >= ?3 - ?2)",
	[HISTORY] = "SELECT message, response, intent FROM (SELECT * FROM"
	            " chat_turn WHERE session_id = ?1 ORDER BY turn DESC"
	            " LIMIT ?2) ORDER BY turn",
	[FORGET] = "DELETE FROM chat_session WHERE id = ?1",
	[ADD_TURN] = "INSERT INTO chat_turn VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
	             " ?7, ?8, ?9, ?10)",
	[UPSERT] = "INSERT INTO chat_session VALUES (?1, ?2, ?3, ?3, ?4, ?5,"
	           " ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET"
	           " user_id = coalesce(?2, user_id), updated = ?3,"
	           " turns = ?4, last_intent = ?5, last_confidence = ?6,"
	           " slots = ?7, negative_streak = ?8",
	[LIST] = "SELECT id, user_id, created, updated, turns, last_intent"
	         " FROM chat_session ORDER BY updated DESC, id",
	[SHOW] = "SELECT id, user_id, created, updated, turns, last_intent,"
	         " slots, negative_streak FROM chat_session WHERE id = ?1",
	[TURNS] = "SELECT turn, at, message, response, intent, confidence,"
	          " sentiment, score, plan FROM chat_turn"
	          " WHERE session_id = ?1 ORDER BY turn",
	[DELETE] = "DELETE FROM chat_session WHERE id = ?1",
};

struct mas_sessions {
	struct mas_store *store;
	double ttl;
	sqlite3_stmt *statements[STATEMENT_COUNT];
};

static double now(void)
{
	return (double)mas_clock_epoch_ms() / 1000.0;
}

static int exec(struct mas_sessions *s, const char *text)
{
	char *message = NULL;

	if (sqlite3_exec(s->store->db, text, NULL, NULL, &message) ==
	    SQLITE_OK)
		return 0;
	mas_error_log("%s: %s", s->store->path,
	              message ? message : "sqlite error");
	sqlite3_free(message);
	return -1;
}

/* Deletes what expired; cascades to the turns. */
int mas_sessions_purge(struct mas_sessions *s, char **error)
{
	sqlite3_stmt *st;
	int rc;

	*error = NULL;
	rc = sqlite3_prepare_v2(s->store->db, "DELETE FROM chat_session "
	                        "WHERE updated < ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		/* run even when nothing expires (TTL 0): it takes the write
		 * lock, so a store another process holds is found now */
		sqlite3_bind_double(st, 1, s->ttl > 0 ? now() - s->ttl : 0);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc != SQLITE_OK &&
	    asprintf(error, "%s: %s", s->store->path,
	             sqlite3_errmsg(s->store->db)) < 0)
		*error = NULL;
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : mas_store_status(rc);
}

struct mas_sessions *mas_sessions_new(struct mas_store *store, double ttl,
                                      char **error)
{
	struct mas_sessions *s = calloc(1, sizeof(*s));

	*error = NULL;
	if (!s)
		mas_die(MAS_EXIT_IO, "out of memory");
	s->store = store;
	s->ttl = ttl;
	for (int i = 0; i < STATEMENT_COUNT; i++)
		if (sqlite3_prepare_v2(store->db, sql[i], -1,
		                       &s->statements[i], NULL) != SQLITE_OK) {
			if (asprintf(error, "%s: %s", store->path,
			             sqlite3_errmsg(store->db)) < 0)
				*error = NULL;
			mas_sessions_free(s);
			return NULL;
		}
	return s;
}

void mas_sessions_free(struct mas_sessions *sessions)
{
	if (!sessions)
		return;
	for (int i = 0; i < STATEMENT_COUNT; i++)
		sqlite3_finalize(sessions->statements[i]);
	free(sessions);
}

/* The statement I, reset and ready for new bindings. */
static sqlite3_stmt *statement(struct mas_sessions *s, enum statement i)
{
	sqlite3_stmt *st = s->statements[i];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static char *column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *text = sqlite3_column_text(st, i);
	char *copy = text ? strdup((const char *)text) : NULL;

	if (text && !copy)
		mas_die(MAS_EXIT_IO, "out of memory");
	return copy;
}

static jv column_jv(sqlite3_stmt *st, int i)
{
	const unsigned char *text = sqlite3_column_text(st, i);

	return text ? jv_string((const char *)text) : jv_null();
}

static jv parse_slots(sqlite3_stmt *st, int i)
{
	const unsigned char *text = sqlite3_column_text(st, i);
	jv slots = text ? jv_parse((const char *)text) : jv_object();

	if (jv_get_kind(slots) != JV_KIND_OBJECT) {
		jv_free(slots);
		return jv_object();
	}
	return slots;
}

int mas_session_load(struct mas_sessions *sessions, const char *id,
                     struct mas_session *session)
{
	sqlite3_stmt *st = statement(sessions, LOAD);
	int rc;

	memset(session, 0, sizeof(*session));
	session->id = strdup(id);
	session->slots = jv_object();
	if (!session->id)
		mas_die(MAS_EXIT_IO, "out of memory");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, sessions->ttl);
	sqlite3_bind_double(st, 3, now());
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		session->exists = 1;
		session->turns = sqlite3_column_int64(st, 0);
		session->last_intent = column_text(st, 1);
		session->last_confidence = sqlite3_column_double(st, 2);
		jv_free(session->slots);
		session->slots = parse_slots(st, 3);
		session->negative_streak = sqlite3_column_int(st, 4);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		mas_error_log("%s: %s", sessions->store->path,
		              sqlite3_errmsg(sessions->store->db));
		return -1;
	}
	return 0;
}

void mas_session_release(struct mas_session *session)
{
	free(session->id);
	free(session->last_intent);
	jv_free(session->slots);
	memset(session, 0, sizeof(*session));
	session->slots = jv_invalid();
}

jv mas_session_history(struct mas_sessions *sessions, const char *id,
                       int count)
{
	sqlite3_stmt *st = statement(sessions, HISTORY);
	jv turns = jv_array();

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, count);
	while (sqlite3_step(st) == SQLITE_ROW)
		turns = jv_array_append(turns, JV_OBJECT(
			jv_string("message"), column_jv(st, 0),
			jv_string("response"), column_jv(st, 1),
			jv_string("intent"), column_jv(st, 2)));
	sqlite3_reset(st);
	return turns;
}

static int step_done(struct mas_sessions *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	mas_error_log("%s: %s", s->store->path,
	              sqlite3_errmsg(s->store->db));
	return -1;
}

static int add_turn(struct mas_sessions *s, const struct mas_session *session,
                    const struct mas_session_turn *turn, double at)
{
	sqlite3_stmt *st = statement(s, ADD_TURN);

	sqlite3_bind_text(st, 1, session->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, session->turns + 1);
	sqlite3_bind_double(st, 3, at);
	sqlite3_bind_text(st, 4, turn->message, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, turn->response, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, turn->intent, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 7, turn->confidence);
	sqlite3_bind_text(st, 8, turn->sentiment, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 9, turn->score);
	sqlite3_bind_text(st, 10, turn->plan, -1, SQLITE_STATIC);
	return step_done(s, st);
}

static int upsert(struct mas_sessions *s, const struct mas_session *session,
                  const struct mas_session_turn *turn, const char *slots,
                  double at)
{
	sqlite3_stmt *st = statement(s, UPSERT);

	sqlite3_bind_text(st, 1, session->id, -1, SQLITE_STATIC);
	if (turn->user_id)
		sqlite3_bind_text(st, 2, turn->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, at);
	sqlite3_bind_int64(st, 4, session->turns);
	if (session->last_intent)
		sqlite3_bind_text(st, 5, session->last_intent, -1,
		                  SQLITE_STATIC);
	sqlite3_bind_double(st, 6, session->last_confidence);
	sqlite3_bind_text(st, 7, slots, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, session->negative_streak);
	return step_done(s, st);
}

/* SESSION as it is after TURN. */
static void advance(struct mas_session *session,
                    const struct mas_session_turn *turn)
{
	session->turns++;
	free(session->last_intent);
	session->last_intent = strdup(turn->intent);
	session->last_confidence = turn->confidence;
	session->negative_streak = strcmp(turn->sentiment, "negative") == 0
	                                   ? session->negative_streak + 1 : 0;
	jv_free(session->slots);
	session->slots = jv_copy(turn->slots);
}

static void refresh(struct mas_sessions *sessions,
                    struct mas_session *session)
{
	struct mas_session now;

	mas_session_load(sessions, session->id, &now);
	session->exists = now.exists;
	session->turns = now.turns;
	session->negative_streak = now.negative_streak;
	mas_session_release(&now);
}

/* Why the last statement failed, as a MAS_STORE_ status, before a
 * ROLLBACK clears it. */
static int failure(struct mas_sessions *sessions)
{
	return mas_store_status(sqlite3_errcode(sessions->store->db));
}

/* A turn is its own transaction, or a savepoint in the one a caller
 * holds open for several (mas-serve's worker commits the turns queued
 * together at once: mas_serve_agents_batch_begin). */
static int begin_turn(struct mas_sessions *sessions, int nested)
{
	return exec(sessions, nested ? "SAVEPOINT turn" : "BEGIN IMMEDIATE");
}

static int end_turn(struct mas_sessions *sessions, int nested, int status)
{
	if (status == 0)
		return exec(sessions, nested ? "RELEASE turn" : "COMMIT");
	exec(sessions, nested ? "ROLLBACK TO turn; RELEASE turn"
	                      : "ROLLBACK");
	return status;
}

int mas_session_save(struct mas_sessions *sessions,
                     struct mas_session *session,
                     const struct mas_session_turn *turn)
{
	int nested = !sqlite3_get_autocommit(sessions->store->db);
	double at = now();
	jv dumped;
	int status;

	if (begin_turn(sessions, nested))
		return failure(sessions);
	/* Another turn of the session may have been saved since it was
	 * loaded (records in flight at once, another process): number
	 * this one after it. */
	refresh(sessions, session);
	/* An expired session may still have rows: it starts again. */
	if (!session->exists) {
		sqlite3_stmt *st = statement(sessions, FORGET);
		sqlite3_bind_text(st, 1, session->id, -1, SQLITE_STATIC);
		if (step_done(sessions, st))
			return end_turn(sessions, nested, failure(sessions));
	}
	advance(session, turn);
	dumped = jv_dump_string(jv_copy(session->slots), 0);
	/* The session row first: the turn's foreign key needs it. */
	status = upsert(sessions, session, turn, jv_string_value(dumped), at);
	session->turns--;
	if (status == 0)
		status = add_turn(sessions, session, turn, at);
	session->turns++;
	jv_free(dumped);
	if (status != 0)
		status = end_turn(sessions, nested, failure(sessions));
	else if (end_turn(sessions, nested, 0))
		status = end_turn(sessions, nested, failure(sessions));
	session->exists = status == 0;
	return status;
}

jv mas_session_save_error(const char *id, int status)
{
	jv what = id ? jv_string_fmt("session %s", id)
	             : jv_string("the session");
	jv error;

	if (MAS_STORE_TRANSIENT(status)) {
		jv why = jv_string_fmt("%s not saved", jv_string_value(what));

		error = mas_store_unavailable_error(status,
		                                    jv_string_value(why));
		jv_free(why);
	} else {
		error = mas_error(MAS_ERR_INTERNAL, "%s could not be saved",
		                  jv_string_value(what));
	}
	jv_free(what);
	return error;
}

static jv iso(double seconds)
{
	char buf[MAS_CLOCK_ISO_SIZE];

	mas_clock_format_iso(seconds, buf);
	return jv_string(buf);
}

static jv summary(sqlite3_stmt *st)
{
	return JV_OBJECT(jv_string("session_id"), column_jv(st, 0),
	                 jv_string("user_id"), column_jv(st, 1),
	                 jv_string("created"),
	                 iso(sqlite3_column_double(st, 2)),
	                 jv_string("updated"),
	                 iso(sqlite3_column_double(st, 3)),
	                 jv_string("turns"),
	                 jv_number((double)sqlite3_column_int64(st, 4)),
	                 jv_string("last_intent"), column_jv(st, 5));
}

jv mas_sessions_list(struct mas_sessions *sessions)
{
	sqlite3_stmt *st = statement(sessions, LIST);
	jv list = jv_array();

	while (sqlite3_step(st) == SQLITE_ROW)
		list = jv_array_append(list, summary(st));
	sqlite3_reset(st);
	return list;
}

static jv turns_of(struct mas_sessions *sessions, const char *id,
                   jv *trend)
{
	sqlite3_stmt *st = statement(sessions, TURNS);
	jv turns = jv_array();

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		double score = sqlite3_column_double(st, 7);
		turns = jv_array_append(turns, JV_OBJECT(
			jv_string("turn"),
			jv_number((double)sqlite3_column_int64(st, 0)),
			jv_string("timestamp"),
			iso(sqlite3_column_double(st, 1)),
			jv_string("message"), column_jv(st, 2),
			jv_string("response"), column_jv(st, 3),
			jv_string("intent"), column_jv(st, 4),
			jv_string("confidence"),
			jv_number(sqlite3_column_double(st, 5)),
			jv_string("sentiment"), JV_OBJECT(
				jv_string("label"), column_jv(st, 6),
				jv_string("score"), jv_number(score)),
			jv_string("plan"), column_jv(st, 8)));
		*trend = jv_array_append(*trend, jv_number(score));
	}
	sqlite3_reset(st);
	return turns;
}

jv mas_sessions_show(struct mas_sessions *sessions, const char *id)
{
	sqlite3_stmt *st = statement(sessions, SHOW);
	jv session, trend = jv_array();

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		jv_free(trend);
		return jv_null();
	}
	session = summary(st);
	session = jv_object_set(session, jv_string("slots"),
	                        parse_slots(st, 6));
	session = jv_object_set(session, jv_string("negative_streak"),
	                        jv_number(sqlite3_column_int(st, 7)));
	sqlite3_reset(st);
	session = jv_object_set(session, jv_string("history"),
	                        turns_of(sessions, id, &trend));
	return jv_object_set(session, jv_string("sentiment_trend"), trend);
}

int mas_sessions_delete(struct mas_sessions *sessions, const char *id)
{
	sqlite3_stmt *st = statement(sessions, DELETE);

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (step_done(sessions, st))
		return -1;
	return sqlite3_changes(sessions->store->db) > 0;
}
