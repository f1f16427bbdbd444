/*
 * bus-rpc.c — request, reply and the worker's loop (see bus-rpc.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-rpc.h"
#include "clock.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "banned.h"

jv mas_bus_make_request(jv envelope, char *inbox, size_t size)
{
	jv id = jv_object_get(jv_copy(envelope), jv_string("id"));

	snprintf(inbox, size, "_inbox.%s", jv_string_value(id));
	envelope = jv_object_set(envelope, jv_string("type"),
	                         jv_string("request"));
	envelope = jv_object_set(envelope, jv_string("reply_to"),
	                         jv_string(inbox));
	return jv_object_set(envelope, jv_string("correlation_id"), id);
}

/* ENVELOPE's member KEY (borrows ENVELOPE), or invalid when it has
 * none or is no object: anyone may publish anything on a NATS subject,
 * or write a row into the store. */
static jv member(jv envelope, const char *key)
{
	if (jv_get_kind(envelope) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(envelope), jv_string(key));
}

/* The envelope in BATCH (consumed) whose correlation_id is ID, or
 * jv_invalid() when none is. */
static jv find_reply(jv batch, const char *id)
{
	jv found = jv_invalid();

	jv_array_foreach(batch, i, text) {
		jv envelope = jv_parse(jv_string_value(text));
		jv correlation = member(envelope, "correlation_id");

		jv_free(text);
		if (!jv_is_valid(found) &&
		    jv_get_kind(correlation) == JV_KIND_STRING &&
		    strcmp(jv_string_value(correlation), id) == 0) {
			found = envelope;
			envelope = jv_invalid();
		}
		jv_free(correlation);
		jv_free(envelope);
	}
	jv_free(batch);
	return found;
}

jv mas_bus_await_reply(struct mas_bus_sub *inbox, const char *id,
                       double timeout)
{
	double deadline = mas_clock_monotonic() + timeout;

	for (;;) {
		double left = deadline - mas_clock_monotonic();
		char *error = NULL;
		jv batch, reply;

		if (mas_bus_fetch_wait(inbox, 64, left > 0 ? left : 0, &batch,
		                       &error) < 0) {
			jv failure = mas_fail(MAS_ERR_UPSTREAM_ERROR, "%s",
			                      error ? error : "bus failure");
			free(error);
			jv_free(batch);
			return failure;
		}
		reply = find_reply(batch, id);
		if (jv_is_valid(reply))
			return reply;
		jv_free(reply);
		if (mas_clock_monotonic() >= deadline)
			return mas_fail(MAS_ERR_TIMEOUT, "no reply to %s on "
			                "%s within %g s", id, inbox->pattern,
			                timeout);
	}
}

jv mas_bus_request(struct mas_bus *bus, const char *topic, int priority,
                   jv payload, double timeout)
{
	struct mas_bus_sub inbox;
	char name[64], *error = NULL;
	jv envelope = mas_bus_make_request(mas_bus_envelope(bus, topic,
	                                                    priority, payload),
	                                   name, sizeof(name));
	jv id = jv_object_get(jv_copy(envelope), jv_string("id"));
	jv reply;

	if (mas_bus_sub_init(&inbox, bus, name, NULL, 0, &error)) {
		jv_free(envelope);
		reply = mas_fail(MAS_ERR_UPSTREAM_ERROR, "%s",
		                 error ? error : "bus failure");
	} else if (mas_bus_publish(bus, envelope, &error) < 0 ||
	           mas_bus_commit(bus, &error)) {
		reply = mas_fail(MAS_ERR_UPSTREAM_ERROR, "%s",
		                 error ? error : "bus failure");
	} else {
		reply = mas_bus_await_reply(&inbox, jv_string_value(id),
		                            timeout);
	}
	mas_bus_sub_release(&inbox);
	free(error);
	jv_free(id);
	return reply;
}

int mas_bus_is_response(jv envelope)
{
	jv type = member(envelope, "type");
	int yes = jv_get_kind(type) == JV_KIND_STRING &&
	          strcmp(jv_string_value(type), "response") == 0;

	jv_free(type);
	return yes;
}

jv mas_bus_make_reply(struct mas_bus *bus, jv request, jv answer)
{
	jv id = jv_object_get(jv_copy(request), jv_string("id"));
	jv to = jv_object_get(jv_copy(request), jv_string("reply_to"));
	jv topic = jv_object_get(jv_copy(request), jv_string("topic"));
	jv reply;

	if (jv_get_kind(to) != JV_KIND_STRING ||
	    !mas_bus_topic_valid(jv_string_value(to), 0)) {
		jv_free(to);
		to = jv_string_fmt("%s.done", jv_get_kind(topic) ==
		                   JV_KIND_STRING ? jv_string_value(topic)
		                                  : "unknown");
	}
	reply = mas_bus_envelope(bus, jv_string_value(to), MAS_BUS_NORMAL,
	                         answer);
	reply = jv_object_set(reply, jv_string("id"),
	                      jv_string_fmt("%s-reply", jv_get_kind(id) ==
	                                    JV_KIND_STRING ?
	                                    jv_string_value(id) : ""));
	reply = jv_object_set(reply, jv_string("type"), jv_string("response"));
	reply = jv_object_set(reply, jv_string("correlation_id"), id);
	jv_free(to);
	jv_free(topic);
	return reply;
}

/* ---- the worker ---- */

/* Set *ERROR from FAILURE (consumed, an invalid with an error object or
 * a message) and return -1. */
static int failed(jv failure, char **error)
{
	jv message = jv_invalid_get_msg(failure);

	if (jv_get_kind(message) == JV_KIND_OBJECT)
		message = jv_object_get(message, jv_string("message"));
	mas_error_set(error, "%s", jv_get_kind(message) == JV_KIND_STRING ?
	              jv_string_value(message) : "the worker failed");
	jv_free(message);
	return -1;
}

/* Whether REQUEST (borrowed) is an envelope a worker can answer: an
 * object with a string id and topic. */
static int is_request(jv request)
{
	jv id = member(request, "id"), topic = member(request, "topic");
	int yes = jv_get_kind(id) == JV_KIND_STRING &&
	          jv_get_kind(topic) == JV_KIND_STRING;

	jv_free(id);
	jv_free(topic);
	return yes;
}

/* The replies to BATCH's requests, in an array; -1 with *ERROR when an
 * answer says the worker cannot go on. */
static int answer_all(struct mas_bus *bus, const struct mas_bus_batch *batch,
                      mas_bus_answer_fn answer, void *data, jv *replies,
                      char **error)
{
	*replies = jv_array();
	for (size_t i = 0; i < batch->count; i++) {
		size_t len;
		const char *text = mas_bus_batch_text(batch, i, &len);
		jv request = jv_parse_sized(text, (int)len), result;

		if (!is_request(request)) {
			/* acknowledged with the batch, never answered */
			mas_warn("skipped a message that is not an envelope "
			         "to answer: %.*s", len > 200 ? 200 : (int)len,
			         text);
			jv_free(request);
			continue;
		}
		if (mas_bus_is_response(request)) {
			jv_free(request); /* our own replies, if they match */
			continue;
		}
		result = answer(data, jv_copy(request));
		if (!jv_is_valid(result) &&
		    jv_invalid_has_msg(jv_copy(result))) {
			jv_free(request);
			jv_free(*replies);
			*replies = jv_invalid();
			return failed(result, error);
		}
		if (jv_is_valid(result))
			*replies = jv_array_append(
				*replies, mas_bus_make_reply(bus, request,
				                             result));
		else
			jv_free(result);
		jv_free(request);
	}
	return 0;
}

/* Publish REPLIES (consumed) as one batch. */
static int publish_all(struct mas_bus *bus, jv replies, char **error)
{
	int count = jv_array_length(jv_copy(replies));
	int rc = 0;

	if (count > 0 && mas_bus_begin(bus, error)) {
		jv_free(replies);
		return -1;
	}
	jv_array_foreach(replies, i, reply) {
		if (rc == 0 && mas_bus_publish(bus, reply, error) < 0)
			rc = -1;
		else if (rc != 0)
			jv_free(reply);
	}
	jv_free(replies);
	/* The commit ends the batch even after a failure; the replies it
	 * stored are stored once however often the batch, not
	 * acknowledged, is answered again: their ids are the same. */
	if (count > 0) {
		char *late = NULL;

		if (mas_bus_commit(bus, &late) && rc == 0) {
			*error = late;
			late = NULL;
			rc = -1;
		}
		free(late);
	}
	if (rc == 0)
		mas_metrics_count("mas_bus_served_total", "Requests answered.",
		                  NULL, count);
	return rc;
}

long mas_bus_serve_batch(struct mas_bus_sub *sub, size_t max, double wait,
                         mas_bus_answer_fn answer, void *data,
                         char **error)
{
	struct mas_bus_batch batch = { 0 };
	long count = mas_bus_fetch_batch(sub, max, wait, &batch, error);
	jv replies;

	if (count > 0 &&
	    (answer_all(sub->bus, &batch, answer, data, &replies, error) ||
	     publish_all(sub->bus, replies, error)))
		count = -1;
	mas_bus_batch_release(&batch);
	/* Acknowledged only now that every reply is stored. */
	if (count > 0 && mas_bus_ack(sub, error))
		count = -1;
	return count;
}

int mas_bus_serve(struct mas_bus_sub *sub, long count, int follow,
                  size_t prefetch, mas_bus_answer_fn answer, void *data,
                  char **error)
{
	long done = 0;
	/* A worker claims what it can start soon: claims beyond that wait
	 * behind a slow command while the group's other workers idle. */
	long batch = prefetch ? (long)prefetch : 1;

	while (!count || done < count) {
		long want = count ? count - done : batch;
		long got = mas_bus_serve_batch(sub, (size_t)(want > batch ?
		                                             batch : want),
		                               follow ? 1.0 : 0, answer, data,
		                               error);

		if (got < 0)
			return -1;
		done += got;
		if (got == 0 && !follow)
			break;
	}
	return 0;
}
