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
 *
 * Each message of a batch keeps where it came from (file and line) and
 * its envelope (the bus's journal) until the commit says what became of
 * it, so that a message the commit could not store comes out as an
 * error record naming its own line and carrying its envelope.
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
#include "store.h"
#include "trace.h"
#include "utf8.h"

#include "banned.h"

/* Messages per transaction at most. */
enum { BATCH_MAX = 1024 };

/* Where a message of the open batch came from, and its output place. */
struct place {
	const char *file;    /* borrowed from the options */
	unsigned long line;
	size_t ticket;       /* with receipts on */
};

struct pub {
	const struct mas_bus_pub_options *options;
	/* the open batch: its messages' envelopes (the bus's journal),
	 * origins and, with receipts on, receipts */
	struct mas_bus_batch journal;
	struct place *places;
	size_t places_size;
	jv receipts;
	size_t count;
	int open;
	/* why the store refused the last batch: the records that follow
	 * at once fail the same way rather than each wait for it again */
	char *refusal;
	int refusal_status;
	size_t refused;
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

/* The error object of a failure: STATUS a transient MAS_STORE_ status
 * (a locked store, a full disk) or -1, MESSAGE (borrowed) what the bus
 * said.  Transient either way: a publish may succeed later. */
static jv failure(int status, const char *message)
{
	if (MAS_STORE_TRANSIENT(status))
		return mas_store_unavailable_error(status, message);
	return mas_error(MAS_ERR_UPSTREAM_ERROR, "%s", message ? message :
	                 "publish failed");
}

/*
 * The error record of a message that is not stored: its id and topic,
 * the error naming the line it came from, and its envelope, TEXT (LEN
 * bytes), whole, so that publishing it again (--envelope) under its id
 * is safe: a copy stored after all is not stored twice.
 */
static jv unstored(const char *text, size_t len, const char *file,
                   unsigned long line, jv error)
{
	jv envelope = jv_parse_sized(text, (int)len);
	jv record = mas_run_error_record_at(error, file, line);

	if (jv_get_kind(envelope) != JV_KIND_OBJECT) {
		jv_free(envelope);
		return record;
	}
	return JV_OBJECT(jv_string("id"), jv_object_get(jv_copy(envelope),
	                                               jv_string("id")),
	                 jv_string("topic"), jv_object_get(jv_copy(envelope),
	                                                  jv_string("topic")),
	                 jv_string("error"), jv_object_get(record,
	                                                  jv_string("error")),
	                 jv_string("envelope"), envelope);
}

/* Message I of the batch did not make it: its error record. */
static jv batch_error(struct pub *pub, size_t i, int status,
                      const char *message)
{
	size_t len;
	const char *text = mas_bus_batch_text(&pub->journal, i, &len);

	return unstored(text, len, pub->places[i].file, pub->places[i].line,
	                failure(status, message));
}

/* Commit the open batch, then give each message its receipt (-v), or
 * an error record when the commit did not store it. */
static void commit_batch(struct mas_run *run, struct pub *pub)
{
	char *error = NULL;
	size_t stored = 0;
	int status;

	if (!pub->open)
		return;
	status = mas_bus_commit(pub->options->bus, &error);
	pub->open = 0;
	for (size_t i = 0; i < pub->count; i++) {
		int ok = status == 0 || mas_bus_stored(pub->options->bus, i);
		jv record;

		stored += ok;
		if (ok && !pub->options->receipts)
			continue;
		record = ok ? jv_array_get(jv_copy(pub->receipts), (int)i) :
		         batch_error(pub, i, status, error);
		if (pub->options->receipts)
			mas_run_complete(run, pub->places[i].ticket, record);
		else
			mas_run_emit(run, record);
	}
	if (stored)
		mas_metrics_count("mas_bus_published_total", "Messages "
		                  "published.", NULL, (double)stored);
	jv_free(pub->receipts);
	pub->receipts = jv_array();
	pub->count = 0;
	mas_bus_batch_clear(&pub->journal);
	free(error);
}

/*
 * Open a batch unless one is open.  Returns 0, or the failure's status
 * with *ERROR.  A store that refused (locked past its busy timeout)
 * refuses the records that follow at once too, without a new wait,
 * until input pauses or a batch's worth has gone by (after_publish).
 */
static int begin_batch(struct pub *pub, char **error)
{
	int status;

	if (pub->refusal) {
		pub->refused++;
		*error = strdup(pub->refusal);
		return pub->refusal_status;
	}
	if (pub->open)
		return 0;
	mas_bus_batch_clear(&pub->journal);
	status = mas_bus_begin(pub->options->bus, error);
	if (status == 0)
		pub->open = 1;
	return status;
}

/* Remember a refusal that may pass (a lock, a full disk) for the
 * records that follow. */
static void note_refusal(struct pub *pub, int status, const char *error)
{
	if (!MAS_STORE_TRANSIENT(status) || pub->refusal)
		return;
	pub->refusal = strdup(error ? error : "publish failed");
	pub->refusal_status = status;
	pub->refused = 1;
}

/* RECORD (consumed), whole, with the error of a batch that could not
 * begin, naming its line: nothing was made of it. */
static void refused(struct mas_run *run, jv record, int status,
                    const char *error)
{
	jv located = mas_run_error_record(run, failure(status, error));

	mas_run_emit(run, jv_object_set(record, jv_string("error"),
	                                jv_object_get(located,
	                                              jv_string("error"))));
}

/* The message just made failed at once: its error record, and its
 * envelope leaves the journal. */
static void publish_failed(struct mas_run *run, struct pub *pub,
                           int status, const char *error)
{
	size_t len;
	const char *text;

	note_refusal(pub, status, error);
	if (pub->journal.count <= pub->count) {
		mas_run_emit(run, mas_run_error_record(run,
		             failure(status, error)));
		return;
	}
	text = mas_bus_batch_text(&pub->journal, pub->journal.count - 1,
	                          &len);
	mas_run_emit(run, unstored(text, len, mas_run_file(run),
	                           mas_run_line(run), failure(status, error)));
	mas_bus_batch_truncate(&pub->journal, pub->count);
}

/* A message of the open batch; RECEIPT is consumed (jv_null() when
 * receipts are off: nothing is kept then but its origin). */
static void batch_add(struct mas_run *run, struct pub *pub, jv receipt)
{
	struct place *place;

	if (pub->count == pub->places_size) {
		size_t size = pub->places_size + BATCH_MAX;
		struct place *places = realloc(pub->places,
		                               size * sizeof(*places));

		if (!places)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		pub->places = places;
		pub->places_size = size;
	}
	place = &pub->places[pub->count++];
	place->file = mas_run_file(run);
	place->line = mas_run_line(run);
	if (!pub->options->receipts) {
		jv_free(receipt);
		return;
	}
	place->ticket = mas_run_defer(run);
	pub->receipts = jv_array_append(pub->receipts, receipt);
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

/* Commit before the loop could block on input; a refusal stands until
 * then, or for a batch's worth of records. */
static void after_publish(struct mas_run *run, struct pub *pub)
{
	int pausing = !input_ready(run);

	if (pub->count >= BATCH_MAX || pausing)
		commit_batch(run, pub);
	if (pub->refusal && (pausing || pub->refused >= BATCH_MAX)) {
		free(pub->refusal);
		pub->refusal = NULL;
	}
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

/* Publish ENVELOPE (consumed) in the open batch. */
static void publish_envelope(struct mas_run *run, struct pub *pub,
                             jv envelope)
{
	struct mas_span *span;
	char *error = NULL;
	long long seq;
	jv id, topic;

	envelope = trace_publish(envelope, &span);
	id = jv_object_get(jv_copy(envelope), jv_string("id"));
	topic = jv_object_get(jv_copy(envelope), jv_string("topic"));
	seq = mas_bus_publish(pub->options->bus, envelope, &error);
	if (seq < 0) {
		mas_span_fail(span, error ? error : "publish failed");
		publish_failed(run, pub, (int)seq, error);
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
	char *error = NULL;
	int status = begin_batch(pub, &error);
	jv envelope;

	if (status) {
		refused(run, record, status, error);
		free(error);
		after_publish(run, pub);
		return;
	}
	envelope = mas_agent_input(options->cli, record);
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
	long long seq;
	int status;

	if (!mas_json_scan_object(line, length, &scan) ||
	    mas_utf8_invalid_offset(line, length) != length)
		return 0;
	status = begin_batch(pub, &error);
	if (status) {
		refused(run, jv_parse_sized(line, (int)length), status,
		        error);
	} else {
		seq = mas_bus_publish_text(options->bus, options->topic,
		                           options->priority, line, length,
		                           id, &error);
		if (seq < 0)
			publish_failed(run, pub, (int)seq, error);
		else
			batch_add(run, pub, options_receipt(pub, id,
			                                    options->topic,
			                                    seq));
	}
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
	if (!options->bus) {
		jv_free(pub.receipts);
		return mas_run_records_failing(&run, failure(
			options->unavailable_status, options->unavailable));
	}
	if (!options->envelope && !cli->input && !mas_trace_enabled())
		run.line = publish_line;
	options->bus->journal = &pub.journal;
	status = mas_run_records(&run);
	options->bus->journal = NULL;
	jv_free(pub.receipts);
	free(pub.places);
	free(pub.refusal);
	mas_bus_batch_release(&pub.journal);
	return status;
}
