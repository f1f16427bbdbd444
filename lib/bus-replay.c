/*
 * bus-replay.c — `mas-bus replay`: dead letters sent back (bus.h,
 * mas_bus_replay).
 *
 * The dead letters of a group are messages on _dead.GROUP, each the
 * envelope as it was when it died.  Replay consumes them as a durable
 * group of its own, so that each is replayed once however often replay
 * runs, and publishes each again, to its own topic or to --to, under a
 * new id made from the old one and the replaying group: "ID-replay" by
 * default.  A replay killed between publishing a batch and
 * acknowledging it publishes the batch again under the same ids, which
 * the bus stores once (on NATS within the duplicate window); a
 * replayed message that dies again gets an id of its own,
 * "ID-replay-replay", the next time, and another group replaying the
 * same dead letters ids of its own too.
 */
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "log.h"
#include "mas.h"
#include "banned.h"

#define REPLAY_BATCH 64

/* ENVELOPE (consumed) made a new message to TO (NULL: its own topic),
 * or jv_invalid() with the reason in *WHY (static). */
static jv replayed(jv envelope, const struct mas_bus_replay_options *options,
                   const char **why)
{
	const char *to = options->to, *pattern = options->sub->pattern;
	jv id = jv_object_get(jv_copy(envelope), jv_string("id"));
	jv topic = to ? jv_string(to) :
	           jv_object_get(jv_copy(envelope), jv_string("topic"));
	int ok = jv_get_kind(id) == JV_KIND_STRING &&
	         jv_get_kind(topic) == JV_KIND_STRING &&
	         mas_bus_topic_valid(jv_string_value(topic), 0);

	*why = "no string id or no valid topic";
	if (ok && mas_bus_topic_match(pattern, jv_string_value(topic))) {
		*why = "its topic is a dead-letter topic itself";
		ok = 0;
	}
	if (!ok) {
		jv_free(id);
		jv_free(topic);
		jv_free(envelope);
		return jv_invalid();
	}
	envelope = jv_object_set(envelope, jv_string("topic"), topic);
	envelope = jv_object_set(envelope, jv_string("id"), jv_string_fmt(
		"%s%s", jv_string_value(id), options->suffix));
	jv_free(id);
	return envelope;
}

/* Publish one dead letter TEXT again: 1, 0 when it cannot be (said on
 * stderr; it stays where it is), -1 on a bus failure. */
static int replay_one(const struct mas_bus_replay_options *options,
                      const char *text, size_t len, char **error)
{
	jv envelope = jv_parse_sized(text, (int)len);
	const char *why = "not a JSON object";

	if (jv_get_kind(envelope) != JV_KIND_OBJECT) {
		jv_free(envelope);
		envelope = jv_invalid();
	} else {
		envelope = replayed(envelope, options, &why);
	}
	if (!jv_is_valid(envelope)) {
		mas_warn("replay: a message on %s is not replayed: %s",
		         options->sub->pattern, why);
		return 0;
	}
	return mas_bus_publish(options->sub->bus, envelope, error) < 0 ? -1 :
	       1;
}

/* One batch: published, stored, then acknowledged. */
static long replay_batch(const struct mas_bus_replay_options *options,
                         const struct mas_bus_batch *batch,
                         long *skipped, char **error)
{
	struct mas_bus *bus = options->sub->bus;
	long replayed = 0;

	if (mas_bus_begin(bus, error))
		return -1;
	for (size_t i = 0; i < batch->count; i++) {
		size_t len;
		const char *text = mas_bus_batch_text(batch, i, &len);
		int rc = replay_one(options, text, len, error);

		if (rc < 0)
			return -1;
		replayed += rc;
		*skipped += !rc;
	}
	if (mas_bus_commit(bus, error) || mas_bus_ack(options->sub, error))
		return -1;
	return replayed;
}

long mas_bus_replay(const struct mas_bus_replay_options *options,
                    long *skipped, char **error)
{
	struct mas_bus_batch batch = { 0 };
	long done = 0, replayed = 0;

	*error = NULL;
	*skipped = 0;
	while (!options->count || done < options->count) {
		long want = options->count ? options->count - done :
		            REPLAY_BATCH;
		long count = mas_bus_fetch_batch(options->sub, (size_t)(want <
		                                 REPLAY_BATCH ? want :
		                                 REPLAY_BATCH), 0, &batch,
		                                 error);
		long made;

		if (count <= 0) {
			replayed = count < 0 ? -1 : replayed;
			break;
		}
		made = replay_batch(options, &batch, skipped, error);
		if (made < 0) {
			replayed = -1;
			break;
		}
		replayed += made;
		done += count;
	}
	mas_bus_batch_release(&batch);
	return replayed;
}
