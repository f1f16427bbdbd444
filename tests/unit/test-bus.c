/*
 * test-bus.c — lib/bus.c against bus.h: topic rules, NATS-style
 * wildcards, priorities, envelopes, and a group's claims, acks,
 * redelivery and dead letters on a store in a temporary folder.
 */
#include <stdlib.h>
#include <unistd.h>

#include "bus.h"
#include "unit.h"

static void test_topics(void)
{
	CHECK(mas_bus_topic_valid("tasks", 0));
	CHECK(mas_bus_topic_valid("tasks.daily-eu_1", 0));
	CHECK(!mas_bus_topic_valid("", 0));
	CHECK(!mas_bus_topic_valid("a..b", 0));
	CHECK(!mas_bus_topic_valid("a.", 0));
	CHECK(!mas_bus_topic_valid(".a", 0));
	CHECK(!mas_bus_topic_valid("a b", 0));
	CHECK(!mas_bus_topic_valid("a.*", 0));
	CHECK(!mas_bus_topic_valid("a.>", 0));
	CHECK(mas_bus_topic_valid("a.*", 1));
	CHECK(mas_bus_topic_valid("a.>", 1));
	CHECK(mas_bus_topic_valid(">", 1));
	CHECK(!mas_bus_topic_valid("a.>.b", 1));
	CHECK(!mas_bus_topic_valid("a.b*", 1));
	CHECK(!mas_bus_topic_valid(NULL, 0));
}

static void test_match(void)
{
	CHECK(mas_bus_topic_match("a.b", "a.b"));
	CHECK(!mas_bus_topic_match("a.b", "a.bc"));
	CHECK(!mas_bus_topic_match("a.b", "a.b.c"));
	CHECK(!mas_bus_topic_match("a.b.c", "a.b"));
	CHECK(mas_bus_topic_match("a.*", "a.b"));
	CHECK(!mas_bus_topic_match("a.*", "a.b.c"));
	CHECK(!mas_bus_topic_match("a.*", "a"));
	CHECK(mas_bus_topic_match("*.b", "a.b"));
	CHECK(mas_bus_topic_match("a.>", "a.b"));
	CHECK(mas_bus_topic_match("a.>", "a.b.c"));
	CHECK(!mas_bus_topic_match("a.>", "a"));
	CHECK(mas_bus_topic_match(">", "x"));
	CHECK(mas_bus_topic_match("a.*.c", "a.x.c"));
}

static void test_priorities(void)
{
	CHECK_INT(mas_bus_priority_parse("high"), MAS_BUS_HIGH);
	CHECK_INT(mas_bus_priority_parse("normal"), MAS_BUS_NORMAL);
	CHECK_INT(mas_bus_priority_parse("low"), MAS_BUS_LOW);
	CHECK_INT(mas_bus_priority_parse("urgent"), -1);
	CHECK_INT(mas_bus_priority_parse(NULL), -1);
}

static char folder[256];

static int open_bus(struct mas_bus *bus)
{
	char url[512], *error = NULL;
	int usage;

	snprintf(url, sizeof(url), "sqlite:%s/bus.db", folder);
	if (mas_bus_open(bus, NULL, url, &usage, &error)) {
		UNIT_FAIL("open: %s", error ? error : "?");
		free(error);
		return -1;
	}
	return 0;
}

static void publish(struct mas_bus *bus, const char *topic, int priority,
                    int n)
{
	char *error = NULL;
	jv envelope = mas_bus_envelope(bus, topic, priority, jv_number(n));

	CHECK(mas_bus_publish(bus, envelope, &error) > 0);
	free(error);
}

/* The payloads of the envelope texts in BATCH (consumed), as "1 2 3". */
static void check_payloads(jv batch, const char *want)
{
	char got[256] = "";
	size_t used = 0;

	jv_array_foreach(batch, i, text) {
		jv envelope = jv_parse(jv_string_value(text));
		jv payload = jv_object_get(envelope, jv_string("payload"));

		used += (size_t)snprintf(got + used, sizeof(got) - used,
		                         "%s%d", i ? " " : "",
		                         (int)jv_number_value(payload));
		jv_free(payload);
		jv_free(text);
	}
	jv_free(batch);
	CHECK_STR(got, want);
}

static void test_group(void)
{
	struct mas_bus bus;
	struct mas_bus_sub one, two;
	char *error = NULL;
	jv batch;

	if (open_bus(&bus))
		return;
	publish(&bus, "q", MAS_BUS_LOW, 1);
	publish(&bus, "q", MAS_BUS_NORMAL, 2);
	publish(&bus, "q", MAS_BUS_HIGH, 3);
	publish(&bus, "other", MAS_BUS_HIGH, 9);
	CHECK_INT(mas_bus_sub_init(&one, &bus, "q", "g", 0, &error), 0);
	CHECK_INT(mas_bus_sub_init(&two, &bus, "q", "g", 0, &error), 0);
	one.visibility = two.visibility = 0.2;
	one.max_deliver = two.max_deliver = 2;
	CHECK_INT(mas_bus_fetch(&one, 2, &batch, &error), 2);
	check_payloads(batch, "3 2");
	CHECK_INT(mas_bus_fetch(&two, 5, &batch, &error), 1);
	check_payloads(batch, "1");
	CHECK_INT(mas_bus_ack(&one, &error), 0);
	/* two never acks: after the visibility timeout, its message comes
	 * back once, then is dead-lettered. */
	CHECK_INT(mas_bus_fetch(&one, 5, &batch, &error), 0);
	jv_free(batch);
	usleep(300000);
	CHECK_INT(mas_bus_fetch(&one, 5, &batch, &error), 1);
	check_payloads(batch, "1");
	usleep(300000);
	CHECK_INT(mas_bus_fetch(&one, 5, &batch, &error), 0);
	jv_free(batch);
	batch = mas_bus_stat(&bus);
	/* the dead letter is a message on _dead.g too, first in order */
	CHECK_INT(jv_array_length(jv_copy(batch)), 4);
	jv topic = jv_object_get(jv_array_get(jv_copy(batch), 0),
	                         jv_string("topic"));
	CHECK(jv_get_kind(topic) == JV_KIND_STRING);
	if (jv_get_kind(topic) == JV_KIND_STRING)
		CHECK_STR(jv_string_value(topic), "_dead.g");
	jv_free(topic);
	jv group = jv_array_get(batch, 3);
	CHECK_INT(jv_number_value(jv_object_get(jv_copy(group),
	                          jv_string("dead_lettered"))), 1);
	CHECK_INT(jv_number_value(jv_object_get(jv_copy(group),
	                          jv_string("redelivered"))), 1);
	CHECK_INT(jv_number_value(jv_object_get(group,
	                          jv_string("acknowledged"))), 2);
	mas_bus_sub_release(&one);
	mas_bus_sub_release(&two);
	/* A group keeps its pattern. */
	CHECK_INT(mas_bus_sub_init(&two, &bus, "other", "g", 0, &error), -1);
	free(error);
	mas_bus_sub_release(&two);
	mas_bus_close(&bus);
}

static void test_envelope(void)
{
	struct mas_bus bus;
	jv envelope;

	if (open_bus(&bus))
		return;
	envelope = mas_bus_envelope_complete(&bus, jv_parse(
		"{\"payload\":1,\"type\":\"request\"}"), "t.x");
	CHECK(jv_is_valid(envelope));
	envelope = jv_object_get(envelope, jv_string("topic"));
	CHECK_STR(jv_string_value(envelope), "t.x");
	jv_free(envelope);
	envelope = mas_bus_envelope_complete(&bus, jv_parse(
		"{\"payload\":1,\"priority\":\"urgent\"}"), "t");
	CHECK(!jv_is_valid(envelope));
	jv_free(envelope);
	envelope = mas_bus_envelope_complete(&bus, jv_parse("{}"), "t");
	CHECK(!jv_is_valid(envelope));
	jv_free(envelope);
	mas_bus_close(&bus);
}

int main(void)
{
	UNIT_RUN(test_topics);
	UNIT_RUN(test_match);
	UNIT_RUN(test_priorities);
	unit_make_dir(folder, sizeof(folder), "test-bus");
	UNIT_RUN(test_group);
	UNIT_RUN(test_envelope);
	unit_remove_dir(folder);
	return unit_done();
}
