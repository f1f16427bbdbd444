/*
 * Unit tests of the bus's text paths (bus.h): envelopes spliced around a
 * payload's text, and fetched texts kept in a batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "id.h"
#include "unit.h"

static char folder[256];

static void test_batch(void)
{
	struct mas_bus_batch batch = { 0 };
	char big[10000];
	size_t len;

	memset(big, 'x', sizeof(big));
	CHECK_INT(mas_bus_batch_add(&batch, "{\"a\":1}", 7), 0);
	CHECK_INT(mas_bus_batch_add(&batch, big, sizeof(big)), 0);
	CHECK_INT(mas_bus_batch_add(&batch, "", 0), 0);
	CHECK_INT((int)batch.count, 3);
	CHECK_STR(mas_bus_batch_text(&batch, 0, &len), "{\"a\":1}");
	CHECK_INT((int)len, 7);
	mas_bus_batch_text(&batch, 1, &len);
	CHECK_INT((int)len, (int)sizeof(big));
	CHECK_STR(mas_bus_batch_text(&batch, 2, &len), "");
	mas_bus_batch_clear(&batch);
	CHECK_INT((int)batch.count, 0);
	mas_bus_batch_release(&batch);
	mas_bus_batch_release(NULL);
}

/* The one message on TOPIC, parsed. */
static jv read_back(struct mas_bus *bus, const char *topic)
{
	struct mas_bus_batch batch = { 0 };
	struct mas_bus_sub sub;
	char *error = NULL;
	jv envelope = jv_invalid();
	size_t len;

	CHECK_INT(mas_bus_sub_init(&sub, bus, topic, NULL, 1, &error), 0);
	CHECK_INT(mas_bus_fetch_batch(&sub, 10, 0, &batch, &error), 1);
	if (batch.count == 1)
		envelope = jv_parse(mas_bus_batch_text(&batch, 0, &len));
	mas_bus_batch_release(&batch);
	mas_bus_sub_release(&sub);
	free(error);
	return envelope;
}

static void test_publish_text(void)
{
	static const char payload[] =
		" {\"q\": \"caf\\u00e9\", \"n\": [1, 2]} ";
	struct mas_bus bus;
	char url[512], id[MAS_ID_SIZE], *error = NULL;
	jv envelope;
	int usage;

	snprintf(url, sizeof(url), "sqlite:%s/bus.db", folder);
	if (mas_bus_open(&bus, NULL, url, &usage, &error)) {
		UNIT_FAIL("open: %s", error ? error : "?");
		free(error);
		return;
	}
	CHECK_STR(mas_bus_backend_name(&bus), "sqlite");
	CHECK(mas_bus_publish_text(&bus, "t.x", MAS_BUS_HIGH, payload,
	                           strlen(payload), id, &error) > 0);
	envelope = read_back(&bus, "t.x");
	CHECK(jv_is_valid(envelope));
	/* The same envelope mas_bus_envelope makes, the payload as given. */
	CHECK(jv_equal(jv_object_get(jv_copy(envelope), jv_string("id")),
	               jv_string(id)));
	CHECK(jv_equal(jv_object_get(jv_copy(envelope), jv_string("topic")),
	               jv_string("t.x")));
	CHECK(jv_equal(jv_object_get(jv_copy(envelope),
	                             jv_string("priority")),
	               jv_string("high")));
	CHECK(jv_equal(jv_object_get(jv_copy(envelope), jv_string("type")),
	               jv_string("event")));
	CHECK(jv_equal(jv_object_get(jv_copy(envelope), jv_string("payload")),
	               jv_parse(payload)));
	CHECK(jv_equal(jv_object_get(envelope, jv_string("reply_to")),
	               jv_null()));
	mas_bus_close(&bus);
}

static void test_bad_url(void)
{
	struct mas_bus bus;
	char *error = NULL;
	int usage;

	CHECK_INT(mas_bus_open(&bus, NULL, "redis://x", &usage, &error), -1);
	CHECK_INT(usage, 1);
	free(error);
	error = NULL;
	CHECK_INT(mas_bus_open(&bus, NULL, "nats://127.0.0.1:1?x=1", &usage,
	                       &error), -1);
	CHECK_INT(usage, 1);
	free(error);
	error = NULL;
	/* Nothing listens on port 1: not the user's fault, try later. */
	CHECK_INT(mas_bus_open(&bus, NULL, "nats://127.0.0.1:1", &usage,
	                       &error), -1);
	CHECK_INT(usage, 0);
	CHECK(error && strstr(error, "cannot connect"));
	free(error);
}

int main(void)
{
	UNIT_RUN(test_batch);
	UNIT_RUN(test_bad_url);
	unit_make_dir(folder, sizeof(folder), "test-bus-text");
	UNIT_RUN(test_publish_text);
	unit_remove_dir(folder);
	return unit_done();
}
