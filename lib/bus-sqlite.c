/*
 * bus-sqlite.c — the embedded backend of the message bus (bus-backend.h).
 *
 * Messages are rows of a durable log (table bus_message, one row per
 * message with a sequence number, the envelope kept as text).
 * Subscribers without a group read the log from a cursor; a durable
 * consumer group (table bus_group) hands each message to one member:
 * claims run in an IMMEDIATE transaction, so two processes never claim
 * the same message, and a claim lasts a visibility timeout, after which
 * an unacknowledged message is claimable again, up to a maximum number
 * of deliveries; then it is dead-lettered (kept, flagged, counted).
 * Within a group high priority goes before normal before low, and FIFO
 * within a priority.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus-backend.h"
#include "clock.h"
#include "mas.h"
#include "store.h"
#include "banned.h"

/* The statements a subscription keeps prepared between fetches. */
enum statement {
	S_PLAIN, S_SCAN, S_ADD, S_MARK, S_CLAIM, S_DELIVER, S_BURY,
	S_DEAD, S_COUNT, S_REMOVE, S_ACKED, S_STATEMENTS
};

static const char *const statement_sql[S_STATEMENTS] = {
	[S_PLAIN] = "SELECT seq, topic, envelope FROM bus_message"
		" WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	/* fan in: the log's new messages, then the group's mark */
	[S_SCAN] = "SELECT m.seq, m.topic, m.priority FROM bus_message m,"
		" bus_group g WHERE g.name = ?1 AND m.seq > g.last_seq"
		" ORDER BY m.seq",
	[S_ADD] = "INSERT OR IGNORE INTO bus_delivery (grp, seq, priority)"
		" VALUES (?1, ?2, ?3)",
	[S_MARK] = "UPDATE bus_group SET last_seq = ?2 WHERE name = ?1",
	/* claims */
	[S_CLAIM] = "SELECT d.seq, d.deliveries, m.envelope FROM"
		" bus_delivery d JOIN bus_message m ON m.seq = d.seq"
		" WHERE d.grp = ?1 AND d.dead = 0 AND d.deadline <= ?2"
		" ORDER BY d.priority, d.seq LIMIT ?3",
	/* Two statements, so a delivery leaves the "dead" column, and
	 * with it the index, alone. */
	[S_DELIVER] = "UPDATE bus_delivery SET deliveries = deliveries + 1,"
		" deadline = ?3 WHERE grp = ?1 AND seq = ?2",
	[S_BURY] = "UPDATE bus_delivery SET dead = 1"
		" WHERE grp = ?1 AND seq = ?2",
	/* a dead letter is also a message on _dead.GROUP, as on NATS,
	 * so that every verb reads it; its id keeps a second burial of
	 * the same message single */
	[S_DEAD] = "INSERT OR IGNORE INTO bus_message"
		" (id, topic, priority, at, envelope)"
		" SELECT id || '-dead-' || ?2, ?3, priority, ?4, envelope"
		" FROM bus_message WHERE seq = ?1",
	[S_COUNT] = "UPDATE bus_group SET delivered = delivered + ?2,"
		" redelivered = redelivered + ?3, dead = dead + ?4"
		" WHERE name = ?1",
	/* acknowledgements */
	[S_REMOVE] = "DELETE FROM bus_delivery WHERE grp = ?1 AND seq = ?2"
		" AND dead = 0",
	[S_ACKED] = "UPDATE bus_group SET acknowledged = acknowledged + ?2"
		" WHERE name = ?1",
};

struct sqlite_bus {
	struct mas_store store;
	sqlite3_stmt *insert; /* publish's, kept between calls */
	int batch_open;       /* between begin and commit */
	int writing;          /* the batch's transaction has begun */
};

struct sqlite_sub {
	long long cursor;     /* plain: last sequence read */
	long long *claimed;   /* group: sequences claimed and not yet
	                       * acknowledged, oldest first */
	size_t claimed_count, claimed_size;
	sqlite3_stmt *statements[S_STATEMENTS];
};

static struct sqlite_bus *state_of(struct mas_bus *bus)
{
	return bus->state;
}

static int db_fail(struct mas_bus *bus, char **error, const char *what)
{
	struct sqlite_bus *db = state_of(bus);

	return mas_error_set(error, "%s: %s: %s", db->store.path, what,
	                     sqlite3_errmsg(db->store.db));
}

static int sqlite_open(struct mas_bus *bus, const struct mas_config *config,
                       const char *url, int *usage, char **error)
{
	struct sqlite_bus *db = calloc(1, sizeof(*db));
	int rc;

	if (!db)
		return mas_error_set(error, "out of memory");
	if (url)
		rc = mas_store_open(&db->store, url + strlen("sqlite:"),
		                    error);
	else
		rc = mas_store_open_configured(&db->store, config, error);
	if (rc) {
		free(db);
		return rc; /* MAS_STORE_BUSY or _FULL say "later" */
	}
	mas_store_wait_briefly(&db->store);
	bus->state = db;
	return 0;
}

static void sqlite_close(struct mas_bus *bus)
{
	struct sqlite_bus *db = state_of(bus);

	if (!db)
		return;
	sqlite3_finalize(db->insert);
	mas_store_close(&db->store);
	free(db);
	bus->state = NULL;
}

/* 0, or -1 (MAS_STORE_BUSY or _FULL when it may pass) with *ERROR. */
static int exec(struct mas_bus *bus, const char *sql, char **error)
{
	struct sqlite_bus *db = state_of(bus);
	char *message = NULL;
	int rc = sqlite3_exec(db->store.db, sql, NULL, NULL, &message);

	if (rc == SQLITE_OK)
		return 0;
	mas_error_set(error, "%s: %s", db->store.path,
	              message ? message : "sqlite error");
	sqlite3_free(message);
	return mas_store_status(rc);
}

static void rollback(struct mas_bus *bus)
{
	sqlite3_exec(state_of(bus)->store.db, "ROLLBACK", NULL, NULL, NULL);
}

static sqlite3_stmt *prepare(struct mas_bus *bus, const char *sql,
                             char **error)
{
	sqlite3_stmt *statement = NULL;

	if (sqlite3_prepare_v3(state_of(bus)->store.db, sql, -1,
	                       SQLITE_PREPARE_PERSISTENT, &statement,
	                       NULL) != SQLITE_OK) {
		db_fail(bus, error, "prepare");
		sqlite3_finalize(statement);
		return NULL;
	}
	return statement;
}

/* prepare for figures, where a failure just leaves them out. */
static sqlite3_stmt *prepare_quiet(struct mas_bus *bus, const char *sql)
{
	char *error = NULL;
	sqlite3_stmt *statement = prepare(bus, sql, &error);

	free(error);
	return statement;
}

/*
 * A batch's transaction begins at its first publish, not at begin: a
 * worker that makes its replies slowly (serve asking its command) would
 * otherwise hold the write lock all that time, and every other member
 * of its group would wait for it to claim anything.
 */
static int sqlite_begin(struct mas_bus *bus, char **error)
{
	state_of(bus)->batch_open = 1;
	return 0;
}

/* Begin the open batch's transaction if it has not begun. */
static int begin_writing(struct mas_bus *bus, char **error)
{
	struct sqlite_bus *db = state_of(bus);
	int rc;

	if (!db->batch_open || db->writing)
		return 0;
	rc = exec(bus, "BEGIN IMMEDIATE", error);
	if (rc == 0)
		db->writing = 1;
	return rc;
}

/* Nothing to do when no batch is open: each publish committed itself. */
static int sqlite_commit(struct mas_bus *bus, char **error)
{
	struct sqlite_bus *db = state_of(bus);
	int rc;

	if (!db->batch_open)
		return 0;
	db->batch_open = 0;
	if (!db->writing)
		return 0;
	db->writing = 0;
	rc = exec(bus, "COMMIT", error);
	if (rc)
		rollback(bus);
	return rc;
}

static const char insert_sql[] =
	"INSERT INTO bus_message (id, topic, priority, at, envelope)"
	" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE"
	" SET id = excluded.id RETURNING seq";

static long long sqlite_publish(struct mas_bus *bus,
                                const struct mas_bus_message *message,
                                char **error)
{
	struct sqlite_bus *db = state_of(bus);
	sqlite3_stmt *statement;
	long long seq = -1;
	int rc;

	rc = begin_writing(bus, error);
	if (rc)
		return rc;
	if (!db->insert)
		db->insert = prepare(bus, insert_sql, error);
	statement = db->insert;
	if (!statement)
		return -1;
	sqlite3_bind_text(statement, 1, message->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(statement, 2, message->topic, -1, SQLITE_STATIC);
	sqlite3_bind_int(statement, 3, message->priority);
	sqlite3_bind_double(statement, 4,
	                    (double)mas_clock_epoch_ms() / 1000);
	sqlite3_bind_text(statement, 5, message->text, (int)message->len,
	                  SQLITE_STATIC);
	rc = sqlite3_step(statement);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(statement, 0);
	} else {
		db_fail(bus, error, "publish");
		seq = mas_store_status(rc);
	}
	sqlite3_reset(statement);
	return seq;
}

static long long max_seq(struct mas_bus *bus)
{
	sqlite3_stmt *statement = prepare_quiet(bus,
		"SELECT coalesce(max(seq), 0) FROM bus_message");
	long long seq = 0;

	if (statement && sqlite3_step(statement) == SQLITE_ROW)
		seq = sqlite3_column_int64(statement, 0);
	sqlite3_finalize(statement);
	return seq;
}

/* The subscription's statement WHICH, prepared on first use, reset. */
static sqlite3_stmt *statement(struct mas_bus_sub *sub, enum statement which,
                               char **error)
{
	struct sqlite_sub *state = sub->state;

	if (!state->statements[which])
		state->statements[which] = prepare(sub->bus,
		                                   statement_sql[which],
		                                   error);
	return state->statements[which];
}

/* Make GROUP on first use; a group keeps one pattern for life. */
static int group_ensure(struct mas_bus_sub *sub, char **error)
{
	struct mas_bus *bus = sub->bus;
	sqlite3_stmt *statement = prepare(bus,
		"INSERT INTO bus_group (name, pattern, last_seq) VALUES"
		" (?1, ?2, 0) ON CONFLICT (name) DO UPDATE SET name = name"
		" RETURNING pattern", error);
	int rc = -1;

	if (!statement)
		return -1;
	sqlite3_bind_text(statement, 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(statement, 2, sub->pattern, -1, SQLITE_STATIC);
	if (sqlite3_step(statement) != SQLITE_ROW) {
		db_fail(bus, error, "group");
	} else if (strcmp((const char *)sqlite3_column_text(statement, 0),
	                  sub->pattern) != 0) {
		sub->usage = 1;
		mas_error_set(error, "group %s subscribes to %s, not %s",
		              sub->group,
		              (const char *)sqlite3_column_text(statement, 0),
		              sub->pattern);
	} else {
		rc = 0;
	}
	sqlite3_finalize(statement);
	return rc;
}

static int sqlite_sub_init(struct mas_bus_sub *sub, char **error)
{
	struct sqlite_sub *state = calloc(1, sizeof(*state));

	if (!state)
		return mas_error_set(error, "out of memory");
	sub->state = state;
	if (!sub->group) {
		state->cursor = sub->from_start ? 0 : max_seq(sub->bus);
		return 0;
	}
	return group_ensure(sub, error);
}

static void sqlite_sub_release(struct mas_bus_sub *sub)
{
	struct sqlite_sub *state = sub->state;

	if (!state)
		return;
	for (int i = 0; i < S_STATEMENTS; i++)
		sqlite3_finalize(state->statements[i]);
	free(state->claimed);
	free(state);
	sub->state = NULL;
}

#define PLAIN_PAGE 1024

/* One page of the log after the cursor: the rows PATTERN matches go to
 * BATCH.  Returns the rows read, or -1. */
static long plain_page(struct mas_bus_sub *sub, size_t max, long *count,
                       struct mas_bus_batch *batch, char **error)
{
	struct sqlite_sub *state = sub->state;
	sqlite3_stmt *select = statement(sub, S_PLAIN, error);
	long rows = 0;

	if (!select)
		return -1;
	sqlite3_bind_int64(select, 1, state->cursor);
	sqlite3_bind_int64(select, 2, PLAIN_PAGE);
	while ((size_t)*count < max && sqlite3_step(select) == SQLITE_ROW) {
		const char *topic = (const char *)
			sqlite3_column_text(select, 1);

		rows++;
		state->cursor = sqlite3_column_int64(select, 0);
		if (!mas_bus_topic_match(sub->pattern, topic))
			continue;
		if (mas_bus_batch_add(batch, (const char *)
		                      sqlite3_column_text(select, 2),
		                      (size_t)sqlite3_column_bytes(select, 2)))
			break;
		(*count)++;
	}
	sqlite3_reset(select);
	return rows;
}

/* Read on past pages of other topics' messages until one matches or
 * the log ends: "nothing now" must mean nothing. */
static long fetch_plain(struct mas_bus_sub *sub, size_t max,
                        struct mas_bus_batch *batch, char **error)
{
	long count = 0, rows;

	do
		rows = plain_page(sub, max, &count, batch, error);
	while (rows == PLAIN_PAGE && count == 0);
	return rows < 0 ? -1 : count;
}

static int mark(struct mas_bus_sub *sub, long long last, char **error)
{
	sqlite3_stmt *update = statement(sub, S_MARK, error);
	int rc;

	if (!update)
		return -1;
	sqlite3_bind_text(update, 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_int64(update, 2, last);
	rc = sqlite3_step(update) == SQLITE_DONE ? 0 :
	     db_fail(sub->bus, error, "fan in");
	sqlite3_reset(update);
	return rc;
}

/* Copy the log's new messages matching the group's pattern into its
 * delivery table, so claims need not scan the whole log. */
static int fan_in(struct mas_bus_sub *sub, char **error)
{
	sqlite3_stmt *scan = statement(sub, S_SCAN, error);
	sqlite3_stmt *add = statement(sub, S_ADD, error);
	long long last = -1;
	int rc = 0;

	if (!scan || !add)
		return -1;
	sqlite3_bind_text(scan, 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(add, 1, sub->group, -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(scan) == SQLITE_ROW) {
		last = sqlite3_column_int64(scan, 0);
		if (!mas_bus_topic_match(sub->pattern, (const char *)
		                         sqlite3_column_text(scan, 1)))
			continue;
		sqlite3_bind_int64(add, 2, last);
		sqlite3_bind_int(add, 3, sqlite3_column_int(scan, 2));
		if (sqlite3_step(add) != SQLITE_DONE)
			rc = db_fail(sub->bus, error, "fan in");
		sqlite3_reset(add);
	}
	sqlite3_reset(scan);
	if (rc == 0 && last >= 0)
		rc = mark(sub, last, error);
	return rc;
}

static int remember(struct sqlite_sub *state, long long seq)
{
	if (state->claimed_count == state->claimed_size) {
		size_t size = state->claimed_size ?
		              state->claimed_size * 2 : 64;
		long long *claimed = realloc(state->claimed,
		                             size * sizeof(*claimed));

		if (!claimed)
			return -1;
		state->claimed = claimed;
		state->claimed_size = size;
	}
	state->claimed[state->claimed_count++] = seq;
	return 0;
}

/* Apply one claim decision: deliver again, or dead-letter. */
/* Copy message SEQ to the group's dead-letter topic. */
static int dead_letter(struct mas_bus_sub *sub, sqlite3_stmt *insert,
                       long long seq, double now)
{
	char topic[300];
	int rc;

	mas_bus_dead_topic(sub->group, topic, sizeof(topic));
	sqlite3_bind_int64(insert, 1, seq);
	sqlite3_bind_text(insert, 2, topic + strlen("_dead."), -1,
	                  SQLITE_TRANSIENT);
	sqlite3_bind_text(insert, 3, topic, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(insert, 4, now);
	rc = sqlite3_step(insert);
	sqlite3_reset(insert);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Apply one claim decision: deliver again, or dead-letter (UPDATE[1]
 * flags it, UPDATE[2] copies it to _dead.GROUP). */
static int claim_one(struct mas_bus_sub *sub, sqlite3_stmt *update[3],
                     long long seq, int deliveries, double now)
{
	int dead = deliveries >= sub->max_deliver;
	double visibility = sub->visibility > 0 ? sub->visibility : 30;
	sqlite3_stmt *statement = update[dead];
	int rc;

	sqlite3_bind_int64(statement, 2, seq);
	if (!dead)
		sqlite3_bind_double(statement, 3, now + visibility);
	rc = sqlite3_step(statement);
	sqlite3_reset(statement);
	if (rc == SQLITE_DONE && dead && dead_letter(sub, update[2], seq,
	                                             now))
		return -1;
	return rc == SQLITE_DONE ? dead : -1;
}

static int bump_counts(struct mas_bus_sub *sub, long delivered,
                       long redelivered, long dead, char **error)
{
	sqlite3_stmt *update = statement(sub, S_COUNT, error);
	int rc;

	if (!update)
		return -1;
	sqlite3_bind_text(update, 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_int64(update, 2, delivered);
	sqlite3_bind_int64(update, 3, redelivered);
	sqlite3_bind_int64(update, 4, dead);
	rc = sqlite3_step(update) == SQLITE_DONE ? 0 :
	     db_fail(sub->bus, error, "claim");
	sqlite3_reset(update);
	return rc;
}

/* Claim up to MAX messages into BATCH; those past --max-deliver are
 * dead-lettered instead, counted in *BURIED. */
static long claim(struct mas_bus_sub *sub, size_t max,
                  struct mas_bus_batch *batch, long *buried, char **error)
{
	struct sqlite_sub *state = sub->state;
	double now = (double)mas_clock_epoch_ms() / 1000;
	sqlite3_stmt *select = statement(sub, S_CLAIM, error);
	sqlite3_stmt *update[3] = {
		statement(sub, S_DELIVER, error),
		statement(sub, S_BURY, error),
		statement(sub, S_DEAD, error),
	};
	long count = 0, redelivered = 0, dead = 0;
	int rc = 0;

	if (!select || !update[0] || !update[1] || !update[2])
		return -1;
	sqlite3_bind_text(select, 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_double(select, 2, now);
	sqlite3_bind_int64(select, 3, (long long)max);
	sqlite3_bind_text(update[0], 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(update[1], 1, sub->group, -1, SQLITE_STATIC);
	while (rc >= 0 && sqlite3_step(select) == SQLITE_ROW) {
		long long seq = sqlite3_column_int64(select, 0);
		int deliveries = sqlite3_column_int(select, 1);
		const char *text = (const char *)
			sqlite3_column_text(select, 2);
		size_t len = (size_t)sqlite3_column_bytes(select, 2);

		rc = claim_one(sub, update, seq, deliveries, now);
		if (rc == 1) {
			dead++;
			continue;
		}
		if (rc < 0 || remember(state, seq) < 0 ||
		    mas_bus_batch_add(batch, text, len)) {
			rc = db_fail(sub->bus, error, "claim");
			break;
		}
		redelivered += deliveries > 0;
		count++;
	}
	sqlite3_reset(select);
	*buried = dead;
	if (rc >= 0 && bump_counts(sub, count, redelivered, dead, error))
		return -1;
	return rc < 0 ? -1 : count;
}

static long fetch_group(struct mas_bus_sub *sub, size_t max,
                        struct mas_bus_batch *batch, char **error)
{
	struct sqlite_sub *state = sub->state;
	size_t owed = state->claimed_count;
	long count;

	/* IMMEDIATE: take the write lock before reading, so two members
	 * never read the same free message and both claim it. */
	if (exec(sub->bus, "BEGIN IMMEDIATE", error))
		return -1;
	if (fan_in(sub, error)) {
		rollback(sub->bus);
		return -1;
	}
	/* Dead letters take no place in the batch: claim on past them. */
	count = 0;
	for (;;) {
		long buried, more = claim(sub, max - (size_t)count, batch,
		                          &buried, error);

		if (more < 0) {
			count = -1;
			break;
		}
		count += more;
		if (buried == 0 || (size_t)count >= max)
			break;
	}
	if (count < 0 || exec(sub->bus, "COMMIT", error)) {
		rollback(sub->bus);
		mas_bus_batch_clear(batch);
		state->claimed_count = owed;
		return -1;
	}
	return count;
}

static long fetch_now(struct mas_bus_sub *sub, size_t max,
                      struct mas_bus_batch *batch, char **error)
{
	if (!sub->group)
		return fetch_plain(sub, max, batch, error);
	return fetch_group(sub, max, batch, error);
}

/* Sleep before the next look: 1 ms doubling to 100 ms while idle, so a
 * waiting subscriber costs ten small queries a second, and one that has
 * just received looks again at once. */
static void idle(long *delay_us, double left)
{
	struct timespec pause;
	long us = *delay_us;

	if (us > left * 1e6)
		us = (long)(left * 1e6) + 1;
	pause.tv_sec = 0;
	pause.tv_nsec = us * 1000;
	nanosleep(&pause, NULL);
	*delay_us = *delay_us * 2 > 100000 ? 100000 : *delay_us * 2;
}

static long sqlite_fetch(struct mas_bus_sub *sub, size_t max, double wait,
                         struct mas_bus_batch *batch, char **error)
{
	double deadline = mas_clock_monotonic() + wait;
	long delay_us = 1000;

	for (;;) {
		long count = fetch_now(sub, max, batch, error);
		double left = deadline - mas_clock_monotonic();

		if (count != 0 || left <= 0)
			return count;
		idle(&delay_us, left);
	}
}

static int ack_first(struct mas_bus_sub *sub, size_t count,
                     sqlite3_stmt *remove, long *acked)
{
	struct sqlite_sub *state = sub->state;
	sqlite3 *db = state_of(sub->bus)->store.db;

	for (size_t i = 0; i < count; i++) {
		int rc;

		sqlite3_bind_int64(remove, 2, state->claimed[i]);
		rc = sqlite3_step(remove);
		sqlite3_reset(remove);
		if (rc != SQLITE_DONE)
			return -1;
		*acked += sqlite3_changes(db);
	}
	return 0;
}

/* Forget the COUNT oldest claims, acknowledged. */
static void forget(struct sqlite_sub *state, size_t count)
{
	memmove(state->claimed, state->claimed + count,
	        (state->claimed_count - count) * sizeof(*state->claimed));
	state->claimed_count -= count;
}

static int sqlite_ack(struct mas_bus_sub *sub, size_t first, char **error)
{
	struct sqlite_sub *state = sub->state;
	sqlite3_stmt *remove, *count;
	long acked = 0;
	int rc = -1;

	if (first > state->claimed_count)
		first = state->claimed_count;
	if (!sub->group || first == 0)
		return 0;
	if (exec(sub->bus, "BEGIN IMMEDIATE", error))
		return -1;
	remove = statement(sub, S_REMOVE, error);
	count = statement(sub, S_ACKED, error);
	if (remove && count) {
		sqlite3_bind_text(remove, 1, sub->group, -1, SQLITE_STATIC);
		sqlite3_bind_text(count, 1, sub->group, -1, SQLITE_STATIC);
		rc = ack_first(sub, first, remove, &acked);
		sqlite3_bind_int64(count, 2, acked);
		if (rc == 0 && sqlite3_step(count) != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(count);
	}
	if (rc == 0 && exec(sub->bus, "COMMIT", error) == 0) {
		forget(state, first);
		return 0;
	}
	if (!*error)
		db_fail(sub->bus, error, "acknowledge");
	rollback(sub->bus);
	return -1;
}

static jv topic_rows(struct mas_bus *bus, jv rows)
{
	static const char *const keys[] = {
		"messages", "high", "normal", "low", "last_seq"
	};
	sqlite3_stmt *statement = prepare_quiet(bus, "SELECT topic,"
		" count(*), sum(priority = 0), sum(priority = 1),"
		" sum(priority = 2), max(seq) FROM bus_message GROUP BY topic"
		" ORDER BY topic");

	while (statement && sqlite3_step(statement) == SQLITE_ROW) {
		const char *topic = (const char *)
			sqlite3_column_text(statement, 0);
		jv row = jv_object();

		row = jv_object_set(row, jv_string("topic"),
		                    jv_string(topic));
		for (int i = 0; i < 5; i++)
			row = jv_object_set(row, jv_string(keys[i]),
			                    jv_number((double)
			                    sqlite3_column_int64(statement,
			                                         i + 1)));
		rows = jv_array_append(rows, row);
	}
	sqlite3_finalize(statement);
	return rows;
}

/* Messages in the log after LAST that PATTERN matches: not yet seen by
 * the group. */
static long long unseen(struct mas_bus *bus, const char *pattern,
                        long long last)
{
	sqlite3_stmt *statement = prepare_quiet(bus, "SELECT topic FROM"
		" bus_message WHERE seq > ?1");
	long long count = 0;

	if (!statement)
		return 0;
	sqlite3_bind_int64(statement, 1, last);
	while (sqlite3_step(statement) == SQLITE_ROW) {
		const char *topic = (const char *)
			sqlite3_column_text(statement, 0);

		count += mas_bus_topic_match(pattern, topic);
	}
	sqlite3_finalize(statement);
	return count;
}

static const char group_sql[] =
	"SELECT g.name, g.pattern, g.last_seq, g.delivered, g.acknowledged,"
	" g.redelivered, g.dead,"
	" (SELECT count(*) FROM bus_delivery d WHERE d.grp = g.name"
	"  AND d.dead = 0 AND d.deadline <= ?1),"
	" (SELECT count(*) FROM bus_delivery d WHERE d.grp = g.name"
	"  AND d.dead = 0 AND d.deadline > ?1)"
	" FROM bus_group g ORDER BY g.name";

static jv group_row(struct mas_bus *bus, sqlite3_stmt *statement)
{
	static const char *const keys[] = {
		"delivered", "acknowledged", "redelivered", "dead_lettered",
		"depth", "in_flight"
	};
	const char *pattern = (const char *)sqlite3_column_text(statement, 1);
	long long lag = unseen(bus, pattern,
	                       sqlite3_column_int64(statement, 2));
	jv row = jv_object();

	row = jv_object_set(row, jv_string("group"), jv_string((const char *)
	                    sqlite3_column_text(statement, 0)));
	row = jv_object_set(row, jv_string("pattern"), jv_string(pattern));
	for (int i = 0; i < 6; i++)
		row = jv_object_set(row, jv_string(keys[i]), jv_number(
		                    (double)sqlite3_column_int64(statement,
		                                                 i + 3)));
	lag += sqlite3_column_int64(statement, 7) +
	       sqlite3_column_int64(statement, 8);
	return jv_object_set(row, jv_string("lag"), jv_number((double)lag));
}

static jv sqlite_stat(struct mas_bus *bus)
{
	char *error = NULL;
	sqlite3_stmt *statement;
	jv rows;

	/* One read transaction: the figures agree with each other. */
	if (exec(bus, "BEGIN", &error)) {
		jv failure = mas_fail(MAS_ERR_INTERNAL, "%s", error);

		free(error);
		return failure;
	}
	rows = topic_rows(bus, jv_array());
	statement = prepare(bus, group_sql, &error);
	free(error);
	if (statement)
		sqlite3_bind_double(statement, 1,
		                    (double)mas_clock_epoch_ms() / 1000);
	while (statement && sqlite3_step(statement) == SQLITE_ROW)
		rows = jv_array_append(rows, group_row(bus, statement));
	sqlite3_finalize(statement);
	rollback(bus);
	return rows;
}

/*
 * The messages older than SECONDS that no group still owes: every
 * group's scan has passed them, and no delivery row, waiting or dead-
 * lettered, refers to them; dead letters (_dead.GROUP) stay.  (A
 * group's scan passes every topic, so a group that has not read for a
 * while holds back what came after.)
 */
static long sqlite_gc(struct mas_bus *bus, double seconds, char **error)
{
	struct sqlite_bus *db = state_of(bus);
	sqlite3_stmt *st = prepare(bus,
		"DELETE FROM bus_message WHERE at < ?1"
		" AND substr(topic, 1, 6) != '_dead.'"
		" AND seq <= coalesce((SELECT min(last_seq) FROM bus_group),"
		"   seq)"
		" AND NOT EXISTS (SELECT 1 FROM bus_group g, bus_delivery d"
		"   WHERE d.grp = g.name AND d.seq = bus_message.seq)", error);
	long removed = -1;

	if (!st)
		return -1;
	sqlite3_bind_double(st, 1, (double)mas_clock_epoch_ms() / 1000 -
	                    seconds);
	if (sqlite3_step(st) == SQLITE_DONE)
		removed = sqlite3_changes(db->store.db);
	else
		db_fail(bus, error, "gc");
	sqlite3_finalize(st);
	return removed;
}

const struct mas_bus_backend mas_bus_sqlite = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.publish = sqlite_publish,
	.sub_init = sqlite_sub_init,
	.fetch = sqlite_fetch,
	.ack = sqlite_ack,
	.sub_release = sqlite_sub_release,
	.stat = sqlite_stat,
	.gc = sqlite_gc,
};
