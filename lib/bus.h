/*
 * bus.h — the message bus, embedded in the state store (mas-bus(1)).
 *
 * A message is an envelope {"id","topic","type","priority","sender",
 * "timestamp","correlation_id","reply_to","payload"} kept in a durable
 * log (table bus_message, one row per message with a sequence number).
 * Subscribers without a group read the log from a cursor; a durable
 * consumer group (table bus_group) hands each message to one member:
 * claims run in an IMMEDIATE transaction, so two processes never claim
 * the same message, and a claim lasts a visibility timeout, after which
 * an unacknowledged message is claimable again, up to a maximum number
 * of deliveries; then it is dead-lettered (kept, flagged, counted).
 * Within a group high priority goes before normal before low, and FIFO
 * within a priority.
 *
 * Topics are tokens of letters, digits, '-' and '_' joined by '.'.
 * Subscription patterns may also use '*' for one token and '>' as the
 * last token for one or more tokens, as NATS does.
 */
#ifndef MAS_BUS_H
#define MAS_BUS_H

#include <stddef.h>

#include <jv.h>

#include "config.h"
#include "store.h"

enum mas_bus_priority {
	MAS_BUS_HIGH,
	MAS_BUS_NORMAL,
	MAS_BUS_LOW,
};

struct mas_bus {
	struct mas_store store;
	char *sender; /* "host:pid", for envelopes made here */
	sqlite3_stmt *insert; /* mas_bus_publish's, kept between calls */
};

/*
 * Open the bus URL names ("sqlite:PATH"; NULL or "" for the state store
 * CONFIG points to).  Returns 0, or -1 with a malloc'd message in *ERROR;
 * *USAGE is set when the URL itself is wrong (exit 2) rather than the
 * file (exit 74).
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
 * Group the publishes that follow into one write transaction, ended by
 * mas_bus_commit, which returns 0 or -1 with *ERROR after rolling back
 * (none of the batch is stored then).  One commit per batch rather than
 * per message is what makes publishing fast.
 */
int mas_bus_begin(struct mas_bus *bus, char **error);
int mas_bus_commit(struct mas_bus *bus, char **error);

/*
 * Append ENVELOPE (consumed, as made above) to the log, in its own
 * transaction unless one is open.  A message whose id is already stored
 * is not stored again (a retried publish): its sequence number is
 * returned.  Returns the sequence number, or -1 with a malloc'd message
 * in *ERROR.
 */
long long mas_bus_publish(struct mas_bus *bus, jv envelope, char **error);

/* A subscription: plain (every message) or as a member of a group. */
struct mas_bus_sub {
	struct mas_bus *bus;
	const char *pattern;  /* borrowed */
	const char *group;    /* borrowed; NULL: no group */
	long long cursor;     /* plain: last sequence read */
	double visibility;    /* group: seconds a claim lasts */
	int max_deliver;      /* group: deliveries before dead-lettering */
	long long *claimed;   /* group: sequences of the last batch */
	size_t claimed_count, claimed_size;
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

/*
 * Up to MAX messages now available: an array of envelope texts (JSON
 * strings, as stored) in *BATCH.  For a group they are claimed until
 * mas_bus_ack or the visibility timeout.  Returns the count, or -1 with
 * *ERROR.
 */
long mas_bus_fetch(struct mas_bus_sub *sub, size_t max, jv *batch,
                   char **error);

/* Acknowledge the group's last batch (nothing for a plain one). */
int mas_bus_ack(struct mas_bus_sub *sub, char **error);

void mas_bus_sub_release(struct mas_bus_sub *sub);

/*
 * The bus's figures: one object per topic {"topic","messages","high",
 * "normal","low","last_seq"} then one per group {"group","pattern",
 * "depth","in_flight","delivered","acknowledged","redelivered",
 * "dead_lettered","lag"}, as an array.  jv_invalid_with_msg on error.
 */
jv mas_bus_stat(struct mas_bus *bus);

#endif
