/*
 * bus.c — the message bus's verbs over its backends (see bus.h and
 * bus-backend.h): topics, envelopes, and the dispatch to a backend.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-backend.h"
#include "bus.h"
#include "clock.h"
#include "id.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "banned.h"

static const char *const priorities[] = { "high", "normal", "low" };

/* The backend URL names; NULL with *USAGE set when none does. */
static const struct mas_bus_backend *backend_for(const char *url,
                                                 int *usage, char **error)
{
	if (!url || !*url || strncmp(url, "sqlite:", 7) == 0)
		return &mas_bus_sqlite;
	if (strncmp(url, "nats://", 7) == 0)
		return &mas_bus_nats;
	*usage = 1;
	mas_error_set(error, "bus.url (--url, MAS_BUS_URL): '%s': not "
	              "sqlite:PATH or nats://HOST:PORT", url);
	return NULL;
}

static void sender_init(struct mas_bus *bus)
{
	char host[64] = "localhost";
	jv quoted;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (asprintf(&bus->sender, "%s:%ld", host, (long)getpid()) < 0)
		bus->sender = NULL;
	quoted = jv_dump_string(jv_string(bus->sender ? bus->sender : "mas"),
	                        0);
	bus->sender_json = strdup(jv_string_value(quoted));
	jv_free(quoted);
}

int mas_bus_open(struct mas_bus *bus, const struct mas_config *config,
                 const char *url, int *usage, char **error)
{
	int status;

	memset(bus, 0, sizeof(*bus));
	*usage = 0;
	*error = NULL;
	bus->backend = backend_for(url, usage, error);
	if (!bus->backend)
		return -1;
	status = bus->backend->open(bus, config, url && *url ? url : NULL,
	                            usage, error);
	if (status)
		return status;
	sender_init(bus);
	if (!bus->sender_json) {
		mas_bus_close(bus);
		return mas_error_set(error, "out of memory");
	}
	return 0;
}

void mas_bus_close(struct mas_bus *bus)
{
	if (!bus)
		return;
	if (bus->backend)
		bus->backend->close(bus);
	bus->backend = NULL;
	free(bus->sender);
	free(bus->sender_json);
	bus->sender = bus->sender_json = NULL;
}

const char *mas_bus_backend_name(const struct mas_bus *bus)
{
	return bus->backend ? bus->backend->name : "none";
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

void mas_bus_dead_topic(const char *group, char *topic, size_t size)
{
	size_t at = (size_t)snprintf(topic, size, "_dead.");

	for (size_t i = 0; group[i] && at + 1 < size; i++)
		topic[at++] = token_char(group[i]) ? group[i] : '_';
	topic[at < size ? at : size - 1] = '\0';
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

int mas_bus_begin(struct mas_bus *bus, char **error)
{
	*error = NULL;
	return bus->backend->begin(bus, error);
}

int mas_bus_commit(struct mas_bus *bus, char **error)
{
	*error = NULL;
	return bus->backend->commit(bus, error);
}

int mas_bus_stored(struct mas_bus *bus, size_t i)
{
	return bus->backend->stored ? bus->backend->stored(bus, i) : 0;
}

/* The text of a message about to be handed to the backend, for the
 * journal's owner. */
static void journal(struct mas_bus *bus, const char *text, size_t len)
{
	if (bus->journal && mas_bus_batch_add(bus->journal, text, len))
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
}

long long mas_bus_publish(struct mas_bus *bus, jv envelope, char **error)
{
	jv holder[3];
	const char *priority = field(envelope, "priority", &holder[2]);
	jv text = jv_dump_string(jv_copy(envelope), 0);
	struct mas_bus_message message = {
		.id = field(envelope, "id", &holder[0]),
		.topic = field(envelope, "topic", &holder[1]),
		.priority = mas_bus_priority_parse(priority),
		.text = jv_string_value(text),
		.len = (size_t)jv_string_length_bytes(jv_copy(text)),
	};
	long long seq;

	*error = NULL;
	journal(bus, message.text, message.len);
	seq = bus->backend->publish(bus, &message, error);
	for (int i = 0; i < 3; i++)
		jv_free(holder[i]);
	jv_free(text);
	jv_free(envelope);
	return seq;
}

/* Now as ISO 8601, formatted once per millisecond: at a million
 * messages a second, formatting each timestamp was a tenth of the
 * publishing time. */
static const char *now_iso(uint64_t ms)
{
	static uint64_t last_ms;
	static char last[MAS_CLOCK_ISO_SIZE];

	if (ms != last_ms || !last[0]) {
		mas_clock_format_iso((double)ms / 1000, last);
		last_ms = ms;
	}
	return last;
}

struct text {
	char *at, *end;
};

static void put(struct text *out, const char *text)
{
	size_t len = strlen(text);

	if (len > (size_t)(out->end - out->at))
		len = (size_t)(out->end - out->at);
	memcpy(out->at, text, len);
	out->at += len;
}

/* The envelope mas_bus_envelope makes, as text up to its payload, in
 * OUT (SIZE bytes); its new id in ID.  Returns the length, or -1 when
 * it does not fit. */
static int envelope_head(struct mas_bus *bus, const char *topic,
                         int priority, char *id, char *out, size_t size)
{
	struct text text = { out, out + size };
	uint64_t ms = mas_clock_epoch_ms();

	mas_id_new_at(id, ms);
	put(&text, "{\"id\":\"");
	put(&text, id);
	put(&text, "\",\"topic\":\"");
	put(&text, topic);
	put(&text, "\",\"type\":\"event\",\"priority\":\"");
	put(&text, priorities[priority]);
	put(&text, "\",\"sender\":");
	put(&text, bus->sender_json);
	put(&text, ",\"timestamp\":\"");
	put(&text, now_iso(ms));
	put(&text, "\",\"correlation_id\":null,\"reply_to\":null,"
	     "\"payload\":");
	return text.at == text.end ? -1 : (int)(text.at - out);
}

long long mas_bus_publish_text(struct mas_bus *bus, const char *topic,
                               int priority, const char *payload,
                               size_t len, char *id, char **error)
{
	/* Topics are at most 255 bytes of plain characters, the sender a
	 * short host name: the head fits; the payload is appended. */
	char small[4096], *text = small;
	int head = envelope_head(bus, topic, priority, id, small,
	                         sizeof(small));
	struct mas_bus_message message = {
		.id = id, .topic = topic, .priority = priority,
	};
	long long seq;

	*error = NULL;
	if (head < 0)
		return mas_error_set(error, "envelope too long");
	if ((size_t)head + len + 2 > sizeof(small)) {
		text = malloc((size_t)head + len + 2);
		if (!text)
			return mas_error_set(error, "out of memory");
		memcpy(text, small, (size_t)head);
	}
	memcpy(text + head, payload, len);
	text[(size_t)head + len] = '}';
	text[(size_t)head + len + 1] = '\0';
	message.text = text;
	message.len = (size_t)head + len + 1;
	journal(bus, message.text, message.len);
	seq = bus->backend->publish(bus, &message, error);
	if (text != small)
		free(text);
	return seq;
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
	sub->from_start = from_start;
	sub->visibility = 0; /* the backend's default, 30 s */
	sub->max_deliver = 5;
	return bus->backend->sub_init(sub, error);
}

void mas_bus_sub_release(struct mas_bus_sub *sub)
{
	if (!sub || !sub->bus)
		return;
	sub->bus->backend->sub_release(sub);
}

void mas_bus_batch_clear(struct mas_bus_batch *batch)
{
	batch->used = 0;
	batch->count = 0;
}

void mas_bus_batch_release(struct mas_bus_batch *batch)
{
	if (!batch)
		return;
	free(batch->data);
	free(batch->starts);
	memset(batch, 0, sizeof(*batch));
}

static int grow(void **memory, size_t *size, size_t need, size_t unit)
{
	size_t bigger = *size ? *size : 4096 / unit;
	void *grown;

	while (bigger < need)
		bigger *= 2;
	grown = realloc(*memory, bigger * unit);
	if (!grown)
		return -1;
	*memory = grown;
	*size = bigger;
	return 0;
}

int mas_bus_batch_add(struct mas_bus_batch *batch, const char *text,
                      size_t len)
{
	if (batch->used + len + 1 > batch->size &&
	    grow((void **)&batch->data, &batch->size, batch->used + len + 1,
	         1))
		return -1;
	if (batch->count == batch->capacity &&
	    grow((void **)&batch->starts, &batch->capacity, batch->count + 1,
	         sizeof(*batch->starts)))
		return -1;
	batch->starts[batch->count++] = batch->used;
	memcpy(batch->data + batch->used, text, len);
	batch->data[batch->used + len] = '\0';
	batch->used += len + 1;
	return 0;
}

void mas_bus_batch_truncate(struct mas_bus_batch *batch, size_t count)
{
	if (count >= batch->count)
		return;
	batch->used = batch->starts[count];
	batch->count = count;
}

const char *mas_bus_batch_text(const struct mas_bus_batch *batch, size_t i,
                               size_t *len)
{
	size_t end = i + 1 < batch->count ? batch->starts[i + 1] :
	             batch->used;

	*len = end - batch->starts[i] - 1;
	return batch->data + batch->starts[i];
}

long mas_bus_fetch_batch(struct mas_bus_sub *sub, size_t max, double wait,
                         struct mas_bus_batch *batch, char **error)
{
	*error = NULL;
	mas_bus_batch_clear(batch);
	if (max == 0)
		return 0;
	return sub->bus->backend->fetch(sub, max, wait, batch, error);
}

long mas_bus_fetch_wait(struct mas_bus_sub *sub, size_t max, double wait,
                        jv *batch, char **error)
{
	struct mas_bus_batch texts = { 0 };
	long count = mas_bus_fetch_batch(sub, max, wait, &texts, error);

	*batch = jv_array();
	for (size_t i = 0; count > 0 && i < texts.count; i++) {
		size_t len;
		const char *text = mas_bus_batch_text(&texts, i, &len);

		*batch = jv_array_append(*batch, jv_string_sized(text,
		                                                 (int)len));
	}
	mas_bus_batch_release(&texts);
	return count;
}

long mas_bus_fetch(struct mas_bus_sub *sub, size_t max, jv *batch,
                   char **error)
{
	return mas_bus_fetch_wait(sub, max, 0, batch, error);
}

int mas_bus_ack(struct mas_bus_sub *sub, char **error)
{
	return mas_bus_ack_first(sub, SIZE_MAX, error);
}

int mas_bus_ack_first(struct mas_bus_sub *sub, size_t count, char **error)
{
	*error = NULL;
	return sub->bus->backend->ack(sub, count, error);
}

jv mas_bus_stat(struct mas_bus *bus)
{
	return bus->backend->stat(bus);
}

/* 'group="NAME"' in LABELS, NAME escaped as the text format wants; 0,
 * or -1 when it does not fit (a name far longer than any worth a
 * series). */
static int group_label(const char *name, char *labels, size_t size)
{
	size_t n = (size_t)snprintf(labels, size, "group=\"");

	for (; *name && n + 4 < size; name++) {
		if (*name == '\\' || *name == '"' || *name == '\n')
			labels[n++] = '\\';
		labels[n++] = *name == '\n' ? 'n' : *name;
	}
	if (*name)
		return -1;
	labels[n++] = '"';
	labels[n] = '\0';
	return 0;
}

static void group_metrics(jv row)
{
	/* The bus's own totals: they only grow, so they are counters that
	 * a scraper may take from any run of stat. */
	static const struct {
		const char *key, *name, *type, *help;
	} figures[] = {
		{ "depth", "mas_bus_group_depth", "gauge",
		  "Messages ready to be claimed, by group." },
		{ "in_flight", "mas_bus_group_in_flight", "gauge",
		  "Messages claimed and not yet acknowledged, by group." },
		{ "lag", "mas_bus_group_lag", "gauge", "Messages on the "
		  "group's topics not yet acknowledged, by group." },
		{ "delivered", "mas_bus_group_delivered_total", "counter",
		  "Messages delivered to the group's members, by group." },
		{ "acknowledged", "mas_bus_group_acknowledged_total",
		  "counter", "Messages acknowledged, by group." },
		{ "redelivered", "mas_bus_group_redelivered_total",
		  "counter", "Messages delivered again, by group." },
		{ "dead_lettered", "mas_bus_group_dead_lettered_total",
		  "counter", "Messages dead-lettered, by group." },
	};
	jv group = jv_object_get(jv_copy(row), jv_string("group"));
	char labels[320];

	if (jv_get_kind(group) != JV_KIND_STRING ||
	    group_label(jv_string_value(group), labels, sizeof(labels))) {
		jv_free(group);
		return;
	}
	jv_free(group);
	for (size_t i = 0; i < sizeof(figures) / sizeof(*figures); i++) {
		jv value = jv_object_get(jv_copy(row),
		                         jv_string(figures[i].key));

		if (jv_get_kind(value) == JV_KIND_NUMBER)
			mas_metrics_set(figures[i].name, figures[i].type,
			                figures[i].help, labels,
			                jv_number_value(value));
		jv_free(value);
	}
}

void mas_bus_stat_metrics(jv rows)
{
	if (jv_get_kind(rows) != JV_KIND_ARRAY || !mas_metrics_enabled())
		return;
	jv_array_foreach(rows, i, row) {
		if (jv_get_kind(row) == JV_KIND_OBJECT)
			group_metrics(row);
		jv_free(row);
	}
}

long mas_bus_gc(struct mas_bus *bus, double seconds, char **error)
{
	*error = NULL;
	if (!bus->backend->gc) {
		mas_error_set(error, "gc: the %s backend keeps messages as "
		              "its server's limits say (on NATS, a stream's "
		              "max age)", bus->backend->name);
		return -2;
	}
	return bus->backend->gc(bus, seconds, error);
}
