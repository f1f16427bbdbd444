/*
 * bus.h — the message bus (mas-bus(1)), over one of two backends.
 *
 * A message is an envelope {"id","topic","type","priority","sender",
 * "timestamp","correlation_id","reply_to","payload"}, handed around as
 * its JSON text.  The verbs below are written once; a backend (see
 * bus-backend.h) stores and delivers the texts:
 *
 * - sqlite:PATH (the default, bus-sqlite.c): a durable log in the state
 *   store, consumer groups with claims, a visibility timeout, priorities
 *   and dead letters, all in SQLite; no daemon.
 * - nats://HOST:PORT (bus-nats.c): NATS through libnats; JetStream
 *   streams and durable pull consumers for storage and groups, core
 *   subscriptions for plain subscribers and replies.
 *
 * Topics are tokens of letters, digits, '-' and '_' joined by '.'.
 * Subscription patterns may also use '*' for one token and '>' as the
 * last token for one or more tokens, as NATS does.
 */
#ifndef MAS_BUS_H
#define MAS_BUS_H

#include <stddef.h>

#include <jv.h>

#include "cli.h"
#include "config.h"

enum mas_bus_priority {
	MAS_BUS_HIGH,
	MAS_BUS_NORMAL,
	MAS_BUS_LOW,
};

struct mas_bus_backend;
struct mas_bus_batch;

struct mas_bus {
	const struct mas_bus_backend *backend;
	void *state;  /* the backend's */
	char *sender; /* "host:pid", for envelopes made here */
	char *sender_json; /* the same as a JSON string, quoted */
	/* Seconds a commit may wait for the store: on NATS, for the
	 * server to come back and acknowledge (0: 30).  Set after open. */
	double timeout;
	/* When set (by its owner, borrowed), each publish appends the
	 * envelope text it hands the backend, so a publisher can give a
	 * failed message back whole; a publish that fails at once leaves
	 * its text as the last one. */
	struct mas_bus_batch *journal;
};

/*
 * Open the bus URL names ("sqlite:PATH", "nats://HOST:PORT[?jetstream=
 * no]"; NULL or "" for the state store CONFIG points to).  Returns 0, or
 * -1 (MAS_STORE_BUSY or MAS_STORE_FULL when the store is locked or full,
 * store.h) with a malloc'd message in *ERROR; *USAGE is set when the
 * URL itself is wrong (exit 2) rather than the store or server being
 * unreachable (exit 75).
 *
 * The functions below that return a status likewise return those two
 * for a store that is locked past its busy timeout or full: a failure
 * that may pass.
 */
int mas_bus_open(struct mas_bus *bus, const struct mas_config *config,
                 const char *url, int *usage, char **error);

/* Close; a zeroed bus is fine. */
void mas_bus_close(struct mas_bus *bus);

/* Whether TOPIC is a valid topic (PATTERN 0) or subscription pattern
 * (PATTERN 1). */
int mas_bus_topic_valid(const char *topic, int pattern);

/* Whether TOPIC matches the subscription PATTERN. */
int mas_bus_topic_match(const char *pattern, const char *topic);

/*
 * The topic where GROUP's dead letters go, in TOPIC (SIZE bytes):
 * "_dead." and the group's name, every character but letters, digits,
 * '-' and '_' made '_' (NATS consumer names allow no more).
 */
void mas_bus_dead_topic(const char *group, char *topic, size_t size);

/* "high", "normal", "low" to their value, or -1. */
int mas_bus_priority_parse(const char *name);

/*
 * A new envelope on TOPIC carrying PAYLOAD (consumed), type "event".
 */
jv mas_bus_envelope(struct mas_bus *bus, const char *topic, int priority,
                    jv payload);

/*
 * Check and complete an envelope given whole (consumed): it must be an
 * object with a valid "topic" (else TOPIC is used) and "payload"; a
 * missing id, type, priority, sender or timestamp is filled in.  Returns
 * the envelope, or jv_invalid_with_msg(error object).
 */
jv mas_bus_envelope_complete(struct mas_bus *bus, jv envelope,
                             const char *topic);

/*
 * Group the publishes that follow into one batch, ended by
 * mas_bus_commit, which returns 0 once every message of the batch is
 * stored, or -1 with *ERROR.  On SQLite the batch is one write
 * transaction, begun at its first publish (so that making the messages
 * slowly does not hold the store's write lock), rolled back on failure
 * (none of it stored); on NATS the
 * publishes are asynchronous and the commit waits for JetStream's
 * acknowledgements (on failure some may be stored; on core NATS the
 * commit only means "handed to libnats").  A commit with no batch open
 * does nothing.  One commit per batch rather than per message is what
 * makes publishing fast.
 */
int mas_bus_begin(struct mas_bus *bus, char **error);
int mas_bus_commit(struct mas_bus *bus, char **error);

/*
 * After mas_bus_commit: whether message I of the batch (counting the
 * publishes that returned success, from 0) is stored.  All are when the
 * commit returned 0.  After a failed commit none is on SQLite (rolled
 * back); on NATS those JetStream acknowledged are, and the others may
 * be or not: publishing them again with the same ids is safe.
 */
int mas_bus_stored(struct mas_bus *bus, size_t i);

/*
 * Append ENVELOPE (consumed, as made above) to the log, in its own
 * transaction unless one is open.  A message whose id is already stored
 * is not stored again (a retried publish): its sequence number is
 * returned.  Returns the sequence number (0 when the backend learns it
 * only at commit, as NATS does), or -1 with a malloc'd message in
 * *ERROR.
 */
long long mas_bus_publish(struct mas_bus *bus, jv envelope, char **error);

/*
 * Publish PAYLOAD, LEN bytes of JSON text already known to be one valid
 * object or value (borrowed), as a new event on TOPIC, without parsing
 * it: the envelope is spliced around the text.  The new id is written
 * to ID (MAS_ID_SIZE bytes).  Returns as mas_bus_publish.
 */
long long mas_bus_publish_text(struct mas_bus *bus, const char *topic,
                               int priority, const char *payload,
                               size_t len, char *id, char **error);

/* What `mas-bus pub` publishes, for mas_bus_pub. */
struct mas_bus_pub_options {
	struct mas_bus *bus;   /* NULL: it could not be opened, and every
	                        * record fails, whole, with UNAVAILABLE and
	                        * UNAVAILABLE_STATUS (mas_bus_open's) */
	const char *unavailable;
	int unavailable_status;
	const char *topic;
	int priority;
	int receipts;    /* write {"id","topic"[,"seq"]} per message (-v) */
	int envelope;    /* records are whole envelopes (--envelope) */
	const struct mas_cli *cli; /* --input, and the input files */
};

/*
 * Publish each input record as the payload of a new event (or, with
 * ENVELOPE, as an envelope completed by mas_bus_envelope_complete), on
 * the record loop, in batches committed every 1,024 messages and
 * whenever standard input has nothing more to read at once; a plain
 * line is published as its text, never parsed (bus-pub.c says how).
 * After each commit the batch's receipts (with RECEIPTS) are written in
 * input order, and an error record for each message the commit could
 * not store: {"id","topic","error","envelope"}, the error naming the
 * message's own line, the envelope whole so that it can be published
 * again (--envelope) under its id.  Returns the record loop's exit
 * status.
 */
int mas_bus_pub(const struct mas_bus_pub_options *options);

/* The name of the bus's backend: "sqlite" or "nats". */
const char *mas_bus_backend_name(const struct mas_bus *bus);

/* A subscription: plain (every message) or as a member of a group.
 * VISIBILITY and MAX_DELIVER may be changed after mas_bus_sub_init,
 * before the first fetch. */
struct mas_bus_sub {
	struct mas_bus *bus;
	const char *pattern;  /* borrowed */
	const char *group;    /* borrowed; NULL: no group */
	int from_start;
	double visibility;    /* group: seconds a claim lasts; 0: the
	                       * default (30), or on NATS the group's */
	int max_deliver;      /* group: deliveries before dead-lettering */
	int usage;            /* set when init failed for the user's
	                       * reason (exit 2), not the bus's */
	void *state;          /* the backend's */
};

/*
 * Start a subscription to PATTERN (SUB fresh or released).  A plain
 * one begins after the newest message (at the first with FROM_START); a
 * group is made on first use, starting at the first retained message,
 * and keeps its pattern.  Returns 0, or -1 with *ERROR.
 */
int mas_bus_sub_init(struct mas_bus_sub *sub, struct mas_bus *bus,
                     const char *pattern, const char *group, int from_start,
                     char **error);

/* Envelope texts as fetched, kept as text: building a jv string per
 * message (libjq checks its UTF-8 byte by byte) cost a subscriber a
 * quarter of its time. */
struct mas_bus_batch {
	char *data;          /* the texts, each followed by '\0' */
	size_t used, size;
	size_t *starts;      /* where each text begins in DATA */
	size_t count, capacity;
};

/* A zeroed batch is empty and ready; clear empties it for reuse,
 * release frees it. */
void mas_bus_batch_clear(struct mas_bus_batch *batch);
void mas_bus_batch_release(struct mas_bus_batch *batch);

/* Append a copy of TEXT (LEN bytes).  Returns 0, or -1 out of memory. */
int mas_bus_batch_add(struct mas_bus_batch *batch, const char *text,
                      size_t len);

/* Keep the first COUNT texts of BATCH, drop the rest. */
void mas_bus_batch_truncate(struct mas_bus_batch *batch, size_t count);

/* Text I of BATCH (borrowed, '\0'-ended), its length in *LEN. */
const char *mas_bus_batch_text(const struct mas_bus_batch *batch, size_t i,
                               size_t *len);

/*
 * As mas_bus_fetch_wait, the texts appended to BATCH (cleared first).
 */
long mas_bus_fetch_batch(struct mas_bus_sub *sub, size_t max, double wait,
                         struct mas_bus_batch *batch, char **error);

/*
 * Up to MAX messages now available: an array of envelope texts (JSON
 * strings, as stored) in *BATCH.  For a group they are claimed until
 * mas_bus_ack or the visibility timeout.  Returns the count, or -1 with
 * *ERROR.
 */
long mas_bus_fetch(struct mas_bus_sub *sub, size_t max, jv *batch,
                   char **error);

/* mas_bus_fetch, waiting up to WAIT seconds for a first message when
 * none is ready (a short adaptive poll on SQLite, the server's push on
 * NATS).  Returns 0 when none came. */
long mas_bus_fetch_wait(struct mas_bus_sub *sub, size_t max, double wait,
                        jv *batch, char **error);

/* Acknowledge every message fetched and not yet acknowledged (nothing
 * for a plain subscription). */
int mas_bus_ack(struct mas_bus_sub *sub, char **error);

/* Acknowledge the COUNT oldest of them (fewer if fewer are owed); the
 * rest stay claimed until acknowledged or the visibility timeout. */
int mas_bus_ack_first(struct mas_bus_sub *sub, size_t count, char **error);

void mas_bus_sub_release(struct mas_bus_sub *sub);

/* What `mas-bus sub` writes out, for mas_bus_copy_out. */
struct mas_bus_copy_options {
	struct mas_bus_sub *sub;  /* started, borrowed */
	long count;               /* stop after COUNT messages; 0: no limit */
	int follow;               /* wait for more rather than stop when
	                           * none is ready */
	int payload;              /* write payloads, not envelopes */
	size_t prefetch;          /* a group's window (see bus-sub.c);
	                           * 0: adaptive, 1 doubling to 256 */
};

/*
 * Write the messages SUB receives to standard output, one line each
 * (the envelope as stored, or its payload), flushed after each fetch.
 * A group's messages are acknowledged once the reader has taken them:
 * read from the pipe, or written to a file; at the end the reader is
 * given up to the visibility timeout to take the last.  Returns 0, or
 * 141 when the reader of the pipe went away first (its messages are
 * delivered again after the visibility timeout), or 1 when some messages
 * read with PAYLOAD were no envelopes (each an error record quoting it);
 * a bus failure ends the program (exit 75).
 */
int mas_bus_copy_out(const struct mas_bus_copy_options *options);

/* What `mas-bus replay` sends back, for mas_bus_replay. */
struct mas_bus_replay_options {
	struct mas_bus_sub *sub;  /* started: a group on dead letters */
	const char *to;           /* NULL: each message to its own topic */
	const char *suffix;       /* after the old id, the new id's end:
	                           * one per replaying group */
	long count;               /* at most COUNT messages; 0: all */
};

/*
 * Publish again the messages SUB's group has not yet taken (dead
 * letters, _dead.GROUP), each under the id ID + SUFFIX on TO or on the
 * topic its envelope names, every other field kept; a batch is
 * acknowledged once its messages are stored, so each is replayed once
 * (bus-replay.c says how a crash is covered).  A message that cannot be
 * replayed (no topic; a topic the pattern matches, which would loop) is
 * said on stderr, counted in *SKIPPED and left behind, acknowledged.
 * Returns the count replayed, or -1 with *ERROR on a bus failure (the
 * batch not acknowledged: it is replayed by the next run).
 */
long mas_bus_replay(const struct mas_bus_replay_options *options,
                    long *skipped, char **error);

/*
 * The bus's figures: one object per topic {"topic","messages",...} then
 * one per group {"group","pattern","depth","in_flight","delivered",
 * "acknowledged","redelivered","dead_lettered","lag"}, as an array;
 * mas-bus(1) says what each backend adds.  jv_invalid_with_msg on error.
 */
jv mas_bus_stat(struct mas_bus *bus);

/*
 * Set, for each group of ROWS (mas_bus_stat's answer; borrowed), the
 * gauges mas_bus_group_depth, _in_flight and _lag and the counters
 * mas_bus_group_delivered_total, _acknowledged_total,
 * _redelivered_total and _dead_lettered_total, labelled with the group
 * (mas(7), METRICS), so that `mas-bus stat --metrics-file` run by cron
 * shows every worker pool to Prometheus.  Nothing without metrics.
 */
void mas_bus_stat_metrics(jv rows);

/*
 * Remove the messages older than SECONDS that no consumer group still
 * owes (dead letters are kept), and return how many; -1 with *ERROR on
 * failure, -2 with *ERROR when the backend has no such thing (NATS:
 * JetStream's stream limits do it).
 */
long mas_bus_gc(struct mas_bus *bus, double seconds, char **error);

#endif
