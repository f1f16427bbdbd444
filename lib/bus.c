/*
 * bus.c — the embedded message bus (see bus.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "id.h"
#include "mas.h"
#include "banned.h"

static const char *const priorities[] = { "high", "normal", "low" };

static int db_fail(struct mas_bus *bus, char **error, const char *what)
{
	return mas_error_set(error, "%s: %s: %s", bus->store.path, what,
	                     sqlite3_errmsg(bus->store.db));
}

int mas_bus_open(struct mas_bus *bus, const struct mas_config *config,
                 const char *url, int *usage, char **error)
{
	char host[64] = "localhost";
	int rc;

	memset(bus, 0, sizeof(*bus));
	*usage = 0;
	*error = NULL;
	if (url && *url && strncmp(url, "sqlite:", 7) != 0) {
		*usage = 1;
		return mas_error_set(error,
		                     "bus.url (--url, MAS_BUS_URL): '%s': "
		                     "only sqlite:PATH is supported", url);
	}
	if (url && *url)
		rc = mas_store_open(&bus->store, url + 7, error);
	else
		rc = mas_store_open_configured(&bus->store, config, error);
	if (rc)
		return -1;
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (asprintf(&bus->sender, "%s:%ld", host, (long)getpid()) < 0)
		bus->sender = NULL;
	return 0;
}

void mas_bus_close(struct mas_bus *bus)
{
	if (!bus)
		return;
	sqlite3_finalize(bus->insert);
	bus->insert = NULL;
	mas_store_close(&bus->store);
	free(bus->sender);
	bus->sender = NULL;
}

static int token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* One token of LEN bytes at S; LAST says whether it ends the topic. */
static int token_valid(const char *s, size_t len, int pattern, int last)
{
	if (len == 0)
		return 0;
	if (pattern && len == 1 && *s == '*')
		return 1;
	if (pattern && len == 1 && *s == '>')
		return last;
	for (size_t i = 0; i < len; i++)
		if (!token_char(s[i]))
			return 0;
	return 1;
}

int mas_bus_topic_valid(const char *topic, int pattern)
{
	const char *s = topic;

	if (!topic || strlen(topic) > 255)
		return 0;
	for (;;) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);

		if (!token_valid(s, len, pattern, !dot))
			return 0;
		if (!dot)
			return 1;
		s = dot + 1;
	}
}

int mas_bus_topic_match(const char *pattern, const char *topic)
{
	const char *p = pattern, *t = topic;

	for (;;) {
		size_t plen = strcspn(p, "."), tlen = strcspn(t, ".");

		if (plen == 1 && *p == '>')
			return tlen > 0;
		if (!(plen == 1 && *p == '*') &&
		    (plen != tlen || memcmp(p, t, plen) != 0))
			return 0;
		if (!p[plen] || !t[tlen])
			return !p[plen] && !t[tlen];
		p += plen + 1;
		t += tlen + 1;
	}
}

int mas_bus_priority_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (name && strcmp(name, priorities[i]) == 0)
			return i;
	return -1;
}

jv mas_bus_envelope(struct mas_bus *bus, const char *topic, int priority,
                    jv payload)
{
	char id[MAS_ID_SIZE], now[MAS_CLOCK_ISO_SIZE];
	jv envelope = jv_object();

	mas_id_new(id);
	mas_clock_now_iso(now);
	envelope = jv_object_set(envelope, jv_string("id"), jv_string(id));
	envelope = jv_object_set(envelope, jv_string("topic"),
	                         jv_string(topic));
	envelope = jv_object_set(envelope, jv_string("type"),
	                         jv_string("event"));
	envelope = jv_object_set(envelope, jv_string("priority"),
	                         jv_string(priorities[priority]));
	envelope = jv_object_set(envelope, jv_string("sender"),
	                         jv_string(bus->sender ? bus->sender : "mas"));
	envelope = jv_object_set(envelope, jv_string("timestamp"),
	                         jv_string(now));
	envelope = jv_object_set(envelope, jv_string("correlation_id"),
	                         jv_null());
	envelope = jv_object_set(envelope, jv_string("reply_to"), jv_null());
	return jv_object_set(envelope, jv_string("payload"), payload);
}

/* ENVELOPE's string field KEY (borrowed view), or NULL. */
static const char *field(jv envelope, const char *key, jv *holder)
{
	*holder = jv_object_get(jv_copy(envelope), jv_string(key));
	if (jv_get_kind(*holder) != JV_KIND_STRING)
		return NULL;
	return jv_string_value(*holder);
}

static jv invalid_field(jv envelope, const char *key, const char *why)
{
	jv error = mas_error(MAS_ERR_INVALID_REQUEST, "envelope %s: %s", key,
	                     why);

	jv_free(envelope);
	error = jv_object_set(error, jv_string("field"), jv_string(key));
	return jv_invalid_with_msg(error);
}

/* Fill KEY with VALUE (consumed) when the envelope lacks it. */
static jv fill(jv envelope, const char *key, jv value)
{
	jv old = jv_object_get(jv_copy(envelope), jv_string(key));
	int missing = jv_get_kind(old) == JV_KIND_INVALID ||
	              jv_get_kind(old) == JV_KIND_NULL;

	jv_free(old);
	if (!missing) {
		jv_free(value);
		return envelope;
	}
	return jv_object_set(envelope, jv_string(key), value);
}

static int type_valid(const char *type)
{
	return type && (strcmp(type, "event") == 0 ||
	                strcmp(type, "request") == 0 ||
	                strcmp(type, "response") == 0);
}

jv mas_bus_envelope_complete(struct mas_bus *bus, jv envelope,
                             const char *topic)
{
	jv model, holder;
	const char *value;
	int ok;

	if (jv_get_kind(envelope) != JV_KIND_OBJECT)
		return invalid_field(envelope, "payload", "not an object");
	if (!jv_object_has(jv_copy(envelope), jv_string("payload")))
		return invalid_field(envelope, "payload", "missing");
	model = mas_bus_envelope(bus, topic, MAS_BUS_NORMAL, jv_null());
	jv_object_foreach(model, key, fallback) {
		if (strcmp(jv_string_value(key), "payload") != 0)
			envelope = fill(envelope, jv_string_value(key),
			                fallback);
		else
			jv_free(fallback);
		jv_free(key);
	}
	jv_free(model);
	value = field(envelope, "topic", &holder);
	ok = mas_bus_topic_valid(value, 0);
	jv_free(holder);
	if (!ok)
		return invalid_field(envelope, "topic", "not a valid topic");
	value = field(envelope, "priority", &holder);
	ok = mas_bus_priority_parse(value) >= 0;
	jv_free(holder);
	if (!ok)
		return invalid_field(envelope, "priority",
		                     "not high, normal or low");
	value = field(envelope, "type", &holder);
	ok = type_valid(value);
	jv_free(holder);
	if (!ok)
		return invalid_field(envelope, "type",
		                     "not event, request or response");
	value = field(envelope, "id", &holder);
	jv_free(holder);
	if (!value)
		return invalid_field(envelope, "id", "not a string");
	return envelope;
}

static int exec(struct mas_bus *bus, const char *sql, char **error)
{
	char *message = NULL;

	if (sqlite3_exec(bus->store.db, sql, NULL, NULL, &message) ==
	    SQLITE_OK)
		return 0;
	mas_error_set(error, "%s: %s", bus->store.path,
	              message ? message : "sqlite error");
	sqlite3_free(message);
	return -1;
}

static void rollback(struct mas_bus *bus)
{
	sqlite3_exec(bus->store.db, "ROLLBACK", NULL, NULL, NULL);
}

static sqlite3_stmt *prepare(struct mas_bus *bus, const char *sql,
                             char **error)
{
	sqlite3_stmt *statement = NULL;

	if (sqlite3_prepare_v2(bus->store.db, sql, -1, &statement, NULL) !=
	    SQLITE_OK) {
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

static const char insert_sql[] =
	"INSERT INTO bus_message (id, topic, priority, at, envelope)"
	" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE"
	" SET id = excluded.id RETURNING seq";

int mas_bus_begin(struct mas_bus *bus, char **error)
{
	*error = NULL;
	return exec(bus, "BEGIN IMMEDIATE", error);
}

int mas_bus_commit(struct mas_bus *bus, char **error)
{
	*error = NULL;
	if (exec(bus, "COMMIT", error) == 0)
		return 0;
	rollback(bus);
	return -1;
}

static long long insert(struct mas_bus *bus, jv envelope, char **error)
{
	jv holder[3];
	const char *id = field(envelope, "id", &holder[0]);
	const char *topic = field(envelope, "topic", &holder[1]);
	const char *priority = field(envelope, "priority", &holder[2]);
	jv text = jv_dump_string(jv_copy(envelope), 0);
	sqlite3_stmt *statement = bus->insert;
	long long seq = -1;

	sqlite3_bind_text(statement, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(statement, 2, topic, -1, SQLITE_STATIC);
	sqlite3_bind_int(statement, 3, mas_bus_priority_parse(priority));
	sqlite3_bind_double(statement, 4,
	                    (double)mas_clock_epoch_ms() / 1000);
	sqlite3_bind_text(statement, 5, jv_string_value(text), -1,
	                  SQLITE_STATIC);
	if (sqlite3_step(statement) == SQLITE_ROW)
		seq = sqlite3_column_int64(statement, 0);
	else
		db_fail(bus, error, "publish");
	sqlite3_reset(statement);
	sqlite3_clear_bindings(statement);
	for (int i = 0; i < 3; i++)
		jv_free(holder[i]);
	jv_free(text);
	return seq;
}

long long mas_bus_publish(struct mas_bus *bus, jv envelope, char **error)
{
	long long seq = -1;

	*error = NULL;
	if (!bus->insert)
		bus->insert = prepare(bus, insert_sql, error);
	if (bus->insert)
		seq = insert(bus, envelope, error);
	jv_free(envelope);
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
	if (sqlite3_step(statement) != SQLITE_ROW)
		db_fail(bus, error, "group");
	else if (strcmp((const char *)sqlite3_column_text(statement, 0),
	                sub->pattern) != 0)
		mas_error_set(error, "group %s subscribes to %s, not %s",
		              sub->group,
		              (const char *)sqlite3_column_text(statement, 0),
		              sub->pattern);
	else
		rc = 0;
	sqlite3_finalize(statement);
	return rc;
}

int mas_bus_sub_init(struct mas_bus_sub *sub, struct mas_bus *bus,
                     const char *pattern, const char *group, int from_start,
                     char **error)
{
	memset(sub, 0, sizeof(*sub));
	*error = NULL;
	sub->bus = bus;
	sub->pattern = pattern;
	sub->group = group;
	sub->visibility = 30;
	sub->max_deliver = 5;
	if (!group) {
		sub->cursor = from_start ? 0 : max_seq(bus);
		return 0;
	}
	return group_ensure(sub, error);
}

void mas_bus_sub_release(struct mas_bus_sub *sub)
{
	if (!sub)
		return;
	free(sub->claimed);
	sub->claimed = NULL;
}

static long fetch_plain(struct mas_bus_sub *sub, size_t max, jv *batch,
                        char **error)
{
	sqlite3_stmt *statement = prepare(sub->bus, "SELECT seq, topic,"
		" envelope FROM bus_message WHERE seq > ?1 ORDER BY seq"
		" LIMIT 1024", error);
	long count = 0;
	int rc;

	if (!statement)
		return -1;
	sqlite3_bind_int64(statement, 1, sub->cursor);
	while ((size_t)count < max &&
	       (rc = sqlite3_step(statement)) == SQLITE_ROW) {
		const char *topic = (const char *)
			sqlite3_column_text(statement, 1);

		sub->cursor = sqlite3_column_int64(statement, 0);
		if (!mas_bus_topic_match(sub->pattern, topic))
			continue;
		*batch = jv_array_append(*batch, jv_string((const char *)
			sqlite3_column_text(statement, 2)));
		count++;
	}
	sqlite3_finalize(statement);
	return count;
}

/* Copy the log's new messages matching the group's pattern into its
 * delivery table, so claims need not scan the whole log. */
static int fan_in(struct mas_bus_sub *sub, char **error)
{
	struct mas_bus *bus = sub->bus;
	sqlite3_stmt *scan = prepare(bus, "SELECT m.seq, m.topic, m.priority"
		" FROM bus_message m, bus_group g WHERE g.name = ?1 AND"
		" m.seq > g.last_seq ORDER BY m.seq", error);
	sqlite3_stmt *add = prepare(bus, "INSERT OR IGNORE INTO bus_delivery"
		" (grp, seq, priority) VALUES (?1, ?2, ?3)", error);
	long long last = -1;
	int rc = 0;

	if (!scan || !add) {
		sqlite3_finalize(scan);
		sqlite3_finalize(add);
		return -1;
	}
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
			rc = db_fail(bus, error, "fan in");
		sqlite3_reset(add);
	}
	sqlite3_finalize(scan);
	sqlite3_finalize(add);
	if (rc == 0 && last >= 0) {
		sqlite3_stmt *mark = prepare(bus, "UPDATE bus_group SET"
			" last_seq = ?2 WHERE name = ?1", error);

		if (!mark)
			return -1;
		sqlite3_bind_text(mark, 1, sub->group, -1, SQLITE_STATIC);
		sqlite3_bind_int64(mark, 2, last);
		if (sqlite3_step(mark) != SQLITE_DONE)
			rc = db_fail(bus, error, "fan in");
		sqlite3_finalize(mark);
	}
	return rc;
}

static int remember(struct mas_bus_sub *sub, long long seq)
{
	if (sub->claimed_count == sub->claimed_size) {
		size_t size = sub->claimed_size ? sub->claimed_size * 2 : 64;
		long long *claimed = realloc(sub->claimed,
		                             size * sizeof(*claimed));

		if (!claimed)
			return -1;
		sub->claimed = claimed;
		sub->claimed_size = size;
	}
	sub->claimed[sub->claimed_count++] = seq;
	return 0;
}

/* Apply one claim decision: deliver again, or dead-letter.  Two
 * statements, so a delivery leaves the "dead" column, and with it the
 * index, alone. */
static int claim_one(struct mas_bus_sub *sub, sqlite3_stmt *update[2],
                     long long seq, int deliveries, double now)
{
	int dead = deliveries >= sub->max_deliver;
	sqlite3_stmt *statement = update[dead];

	sqlite3_bind_int64(statement, 2, seq);
	if (!dead)
		sqlite3_bind_double(statement, 3, now + sub->visibility);
	if (sqlite3_step(statement) != SQLITE_DONE)
		return -1;
	sqlite3_reset(statement);
	return dead;
}

static const char claim_sql[] =
	"SELECT d.seq, d.deliveries, m.envelope FROM bus_delivery d"
	" JOIN bus_message m ON m.seq = d.seq WHERE d.grp = ?1 AND"
	" d.dead = 0 AND d.deadline <= ?2 ORDER BY d.priority, d.seq"
	" LIMIT ?3";

/* Several statements: the delivery row, then the group's counters. */
static const char deliver_sql[] =
	"UPDATE bus_delivery SET deliveries = deliveries + 1, deadline = ?3"
	" WHERE grp = ?1 AND seq = ?2";
static const char bury_sql[] =
	"UPDATE bus_delivery SET dead = 1 WHERE grp = ?1 AND seq = ?2";
static const char count_sql[] =
	"UPDATE bus_group SET delivered = delivered + ?2,"
	" redelivered = redelivered + ?3, dead = dead + ?4 WHERE name = ?1";

static int bump_counts(struct mas_bus_sub *sub, long delivered,
                       long redelivered, long dead, char **error)
{
	sqlite3_stmt *statement = prepare(sub->bus, count_sql, error);
	int rc;

	if (!statement)
		return -1;
	sqlite3_bind_text(statement, 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_int64(statement, 2, delivered);
	sqlite3_bind_int64(statement, 3, redelivered);
	sqlite3_bind_int64(statement, 4, dead);
	rc = sqlite3_step(statement) == SQLITE_DONE ? 0 :
	     db_fail(sub->bus, error, "claim");
	sqlite3_finalize(statement);
	return rc;
}

static long claim(struct mas_bus_sub *sub, size_t max, jv *batch,
                  char **error)
{
	double now = (double)mas_clock_epoch_ms() / 1000;
	sqlite3_stmt *select = prepare(sub->bus, claim_sql, error);
	sqlite3_stmt *update[2] = {
		prepare(sub->bus, deliver_sql, error),
		prepare(sub->bus, bury_sql, error),
	};
	long count = 0, redelivered = 0, dead = 0;
	int rc = 0;

	if (!select || !update[0] || !update[1]) {
		sqlite3_finalize(select);
		sqlite3_finalize(update[0]);
		sqlite3_finalize(update[1]);
		return -1;
	}
	sqlite3_bind_text(select, 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_double(select, 2, now);
	sqlite3_bind_int64(select, 3, (long long)max);
	sqlite3_bind_text(update[0], 1, sub->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(update[1], 1, sub->group, -1, SQLITE_STATIC);
	while (rc >= 0 && sqlite3_step(select) == SQLITE_ROW) {
		long long seq = sqlite3_column_int64(select, 0);
		int deliveries = sqlite3_column_int(select, 1);

		rc = claim_one(sub, update, seq, deliveries, now);
		if (rc == 1) {
			dead++;
			continue;
		}
		if (rc < 0 || remember(sub, seq) < 0) {
			rc = db_fail(sub->bus, error, "claim");
			break;
		}
		redelivered += deliveries > 0;
		*batch = jv_array_append(*batch, jv_string((const char *)
			sqlite3_column_text(select, 2)));
		count++;
	}
	sqlite3_finalize(select);
	sqlite3_finalize(update[0]);
	sqlite3_finalize(update[1]);
	if (rc >= 0 && bump_counts(sub, count, redelivered, dead, error))
		return -1;
	return rc < 0 ? -1 : count;
}

static long fetch_group(struct mas_bus_sub *sub, size_t max, jv *batch,
                        char **error)
{
	long count;

	sub->claimed_count = 0;
	/* IMMEDIATE: take the write lock before reading, so two members
	 * never read the same free message and both claim it. */
	if (exec(sub->bus, "BEGIN IMMEDIATE", error))
		return -1;
	if (fan_in(sub, error)) {
		rollback(sub->bus);
		return -1;
	}
	count = claim(sub, max, batch, error);
	if (count < 0 || exec(sub->bus, "COMMIT", error)) {
		rollback(sub->bus);
		jv_free(*batch);
		*batch = jv_array();
		sub->claimed_count = 0;
		return -1;
	}
	return count;
}

long mas_bus_fetch(struct mas_bus_sub *sub, size_t max, jv *batch,
                   char **error)
{
	*error = NULL;
	*batch = jv_array();
	if (max == 0)
		return 0;
	if (!sub->group)
		return fetch_plain(sub, max, batch, error);
	return fetch_group(sub, max, batch, error);
}

static int ack_all(struct mas_bus_sub *sub, sqlite3_stmt *remove,
                   long *acked)
{
	for (size_t i = 0; i < sub->claimed_count; i++) {
		sqlite3_bind_int64(remove, 2, sub->claimed[i]);
		if (sqlite3_step(remove) != SQLITE_DONE)
			return -1;
		*acked += sqlite3_changes(sub->bus->store.db);
		sqlite3_reset(remove);
	}
	return 0;
}

int mas_bus_ack(struct mas_bus_sub *sub, char **error)
{
	sqlite3_stmt *remove, *count;
	long acked = 0;
	int rc = -1;

	*error = NULL;
	if (!sub->group || sub->claimed_count == 0)
		return 0;
	if (exec(sub->bus, "BEGIN IMMEDIATE", error))
		return -1;
	remove = prepare(sub->bus, "DELETE FROM bus_delivery WHERE grp = ?1"
	                 " AND seq = ?2 AND dead = 0", error);
	count = prepare(sub->bus, "UPDATE bus_group SET acknowledged ="
	                " acknowledged + ?2 WHERE name = ?1", error);
	if (remove && count) {
		sqlite3_bind_text(remove, 1, sub->group, -1, SQLITE_STATIC);
		sqlite3_bind_text(count, 1, sub->group, -1, SQLITE_STATIC);
		rc = ack_all(sub, remove, &acked);
		sqlite3_bind_int64(count, 2, acked);
		if (rc == 0 && sqlite3_step(count) != SQLITE_DONE)
			rc = -1;
	}
	sqlite3_finalize(remove);
	sqlite3_finalize(count);
	if (rc == 0 && exec(sub->bus, "COMMIT", error) == 0) {
		sub->claimed_count = 0;
		return 0;
	}
	if (!*error)
		db_fail(sub->bus, error, "acknowledge");
	rollback(sub->bus);
	return -1;
}

static jv topic_rows(struct mas_bus *bus, jv rows)
{
	sqlite3_stmt *statement = prepare_quiet(bus, "SELECT topic,"
		" count(*), sum(priority = 0), sum(priority = 1),"
		" sum(priority = 2), max(seq) FROM bus_message GROUP BY topic"
		" ORDER BY topic");

	while (statement && sqlite3_step(statement) == SQLITE_ROW) {
		jv row = jv_object();
		static const char *const keys[] = {
			"messages", "high", "normal", "low", "last_seq"
		};

		const char *topic = (const char *)
			sqlite3_column_text(statement, 0);

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

jv mas_bus_stat(struct mas_bus *bus)
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
