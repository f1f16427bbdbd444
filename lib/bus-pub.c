/*
 * bus-pub.c — `mas-bus pub`: records in, messages out (bus.h,
 * mas_bus_pub), on the record loop.
 *
 * Messages go in batches, one transaction (SQLite) or one wait for the
 * server's acknowledgements (NATS) each, committed every BATCH_MAX
 * messages and whenever stdin has nothing more to read at once, so a
 * message is stored as soon as its producer goes quiet.  A plain line
 * never meets libjq: the record loop hands it over as text (its LINE
 * hook), the JSON scanner checks it, and the envelope is spliced around
 * it.  What the scanner refuses, and --input, --envelope or tracing,
 * take the record loop's parsed way.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "bus.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "record.h"
#include "trace.h"
#include "utf8.h"

#include "banned.h"

/* Messages per transaction at most. */
enum { BATCH_MAX = 1024 };

struct pub {
	const struct mas_bus_pub_options *options;
	/* the open batch: its receipts and, with receipts on, the output
	 * places they fill once committed */
	jv receipts;
	size_t *tickets;
	size_t count;
	int open;
};

/* Whether the next read of input will not block: more is buffered in
 * the pipe, or end of file.  Named files never block. */
static int input_ready(struct mas_run *run)
{
	struct pollfd poller = { .fd = STDIN_FILENO, .events = POLLIN };

	if (strcmp(mas_run_file(run), "-") != 0)
		return 1;
	return poll(&poller, 1, 0) > 0;
}

static jv publish_error(struct mas_run *run, const char *error)
{
	return mas_run_error_record(run, mas_error(MAS_ERR_UPSTREAM_ERROR,
	                            "%s", error ? error : "publish failed"));
}

/* Commit the open batch, then give each message its receipt (-v), or
 * each an error record when the commit failed. */
static void commit_batch(struct mas_run *run, struct pub *pub)
{
	char *error = NULL;
	int failed;

	if (!pub->open)
		return;
	failed = mas_bus_commit(pub->options->bus, &error);
	pub->open = 0;
	if (!failed)
		mas_metrics_count("mas_bus_published_total", "Messages "
		                  "published.", NULL, (double)pub->count);
	for (size_t i = 0; (failed || pub->options->receipts) &&
	                   i < pub->count; i++) {
		jv receipt = failed ? publish_error(run, error) :
		             jv_array_get(jv_copy(pub->receipts), (int)i);

		if (pub->options->receipts)
			mas_run_complete(run, pub->tickets[i], receipt);
		else
			mas_run_emit(run, receipt);
	}
	jv_free(pub->receipts);
	pub->receipts = jv_array();
	pub->count = 0;
	free(error);
}

static int begin_batch(struct pub *pub, char **error)
{
	if (!pub->open && mas_bus_begin(pub->options->bus, error) == 0)
		pub->open = 1;
	return pub->open ? 0 : -1;
}

/* A message of the open batch; RECEIPT is consumed (jv_null() when
 * receipts are off: nothing is kept then but the count). */
static void batch_add(struct mas_run *run, struct pub *pub, jv receipt)
{
	if (!pub->options->receipts) {
		jv_free(receipt);
		pub->count++;
		return;
	}
	if (pub->count % BATCH_MAX == 0) {
		size_t *tickets = realloc(pub->tickets, (pub->count +
		                          BATCH_MAX) * sizeof(*tickets));

		if (!tickets)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		pub->tickets = tickets;
	}
	pub->tickets[pub->count] = mas_run_defer(run);
	pub->receipts = jv_array_append(pub->receipts, receipt);
	pub->count++;
}

/* {"id","topic","seq"}; no seq where the backend has none (NATS). */
static jv receipt(const char *id, const char *topic, long long seq)
{
	jv row = JV_OBJECT(jv_string("id"), jv_string(id),
	                   jv_string("topic"), jv_string(topic));

	if (seq <= 0)
		return row;
	return jv_object_set(row, jv_string("seq"), jv_number((double)seq));
}

/* The receipt when they are asked for (-v), else jv_null(). */
static jv options_receipt(struct pub *pub, const char *id,
                          const char *topic, long long seq)
{
	return pub->options->receipts ? receipt(id, topic, seq) : jv_null();
}

/* Commit before the loop could block on input. */
static void after_publish(struct mas_run *run, struct pub *pub)
{
	if (pub->count >= BATCH_MAX || !input_ready(run))
		commit_batch(run, pub);
}

static jv trace_publish(jv envelope, struct mas_span **span)
{
	char traceparent[MAS_TRACEPARENT_SIZE];

	*span = mas_span_start("bus.publish", NULL);
	if (!*span)
		return envelope;
	mas_span_traceparent(*span, traceparent);
	mas_span_set(*span, "mas.bus.topic", jv_object_get(jv_copy(envelope),
	                                                  jv_string("topic")));
	return jv_object_set(envelope, jv_string("traceparent"),
	                     jv_string(traceparent));
}

static void publish_envelope(struct mas_run *run, struct pub *pub,
                             jv envelope)
{
	struct mas_span *span;
	char *error = NULL;
	long long seq = -1;
	jv id, topic;

	envelope = trace_publish(envelope, &span);
	id = jv_object_get(jv_copy(envelope), jv_string("id"));
	topic = jv_object_get(jv_copy(envelope), jv_string("topic"));
	if (begin_batch(pub, &error) == 0)
		seq = mas_bus_publish(pub->options->bus, envelope, &error);
	else
		jv_free(envelope);
	if (seq < 0) {
		mas_span_fail(span, error ? error : "publish failed");
		mas_run_emit(run, publish_error(run, error));
	} else {
		batch_add(run, pub, options_receipt(pub, jv_string_value(id),
		                                    jv_string_value(topic),
		                                    seq));
	}
	mas_span_end(span);
	jv_free(id);
	jv_free(topic);
	free(error);
}

/* The record loop's way: a parsed record, its payload chosen by --input
 * or the record a whole envelope (--envelope). */
static void publish_record(struct mas_run *run, jv record, void *data)
{
	struct pub *pub = data;
	const struct mas_bus_pub_options *options = pub->options;
	jv envelope = mas_agent_input(options->cli, record);

	jv_free(record);
	if (jv_is_valid(envelope) && options->envelope)
		envelope = mas_bus_envelope_complete(options->bus, envelope,
		                                     options->topic);
	else if (jv_is_valid(envelope))
		envelope = mas_bus_envelope(options->bus, options->topic,
		                            options->priority, envelope);
	if (jv_is_valid(envelope))
		publish_envelope(run, pub, envelope);
	else
		mas_run_emit(run, mas_run_error_record(run,
		             jv_invalid_get_msg(envelope)));
	after_publish(run, pub);
}

/* The text way: a line the scanner passes is the payload as it is.
 * Returns 0 to leave the line to the record loop. */
static int publish_line(struct mas_run *run, const char *line,
                        size_t length, void *data)
{
	struct pub *pub = data;
	const struct mas_bus_pub_options *options = pub->options;
	struct mas_json_scan scan;
	char id[MAS_ID_SIZE], *error = NULL;
	long long seq = -1;

	if (!mas_json_scan_object(line, length, &scan) ||
	    mas_utf8_invalid_offset(line, length) != length)
		return 0;
	if (begin_batch(pub, &error) == 0)
		seq = mas_bus_publish_text(options->bus, options->topic,
		                           options->priority, line, length,
		                           id, &error);
	if (seq < 0)
		mas_run_emit(run, publish_error(run, error));
	else
		batch_add(run, pub, options_receipt(pub, id, options->topic,
		                                    seq));
	free(error);
	after_publish(run, pub);
	return 1;
}

static void publish_finish(struct mas_run *run, void *data)
{
	commit_batch(run, data);
}

int mas_bus_pub(const struct mas_bus_pub_options *options)
{
	const struct mas_cli *cli = options->cli;
	struct pub pub = { .options = options, .receipts = jv_array() };
	struct mas_run_options run = { 0 };
	int status;

	run.files = cli->files;
	run.file_count = cli->file_count;
	run.each = publish_record;
	run.finish = publish_finish;
	run.data = &pub;
	/* lines are the user's payloads: they keep their ids or lack of
	 * them */
	run.keep_rows_raw = 1;
	if (!options->envelope && !cli->input && !mas_trace_enabled())
		run.line = publish_line;
	status = mas_run_records(&run);
	jv_free(pub.receipts);
	free(pub.tickets);
	return status;
}
