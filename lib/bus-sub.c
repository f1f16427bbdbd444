/*
 * bus-sub.c — `mas-bus sub`: messages out to standard output (bus.h,
 * mas_bus_copy_out).
 *
 * A member of a group acknowledges a message once its reader has it,
 * not merely once it is written: a write into a pipe succeeds as soon
 * as the pipe has room, and `sub --group g | head -1` then acknowledged
 * a whole batch that head never read.  On Linux the write end of a pipe
 * tells how many bytes are still in it (FIONREAD): a message whose last
 * byte has left the pipe has been read.  Output to a file or terminal
 * is read once written.  (A socket is taken as a file: what its peer
 * did with the bytes is not knowable from here.)
 *
 * How many messages a member claims ahead is its window: what it has
 * written and its reader not yet taken, plus what it fetches.  Given
 * (--prefetch) it is fixed; else it starts at one message and doubles,
 * up to 256, each time the reader has taken everything before the next
 * fetch, so a member behind a slow reader claims little and leaves the
 * rest to the others, while one behind a fast reader soon fetches 256 at
 * a time.  A reader that has not taken the window holds the fetching.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "id.h"
#include "mas.h"
#include "metrics.h"
#include "record.h"
#include "trace.h"
#include "banned.h"

#define WINDOW_MAX 256
#define EXIT_PIPE 141 /* 128 + SIGPIPE, as a write to no reader ends */

/* Messages written and not yet acknowledged, oldest first: where each
 * one's last byte is in the output. */
struct owed {
	unsigned long long *ends;
	size_t count, size;
};

struct copy {
	const struct mas_bus_copy_options *options;
	struct mas_bus_sub *sub;
	int pipe;                    /* stdout is a pipe */
	unsigned long long written;  /* bytes written to stdout */
	struct owed owed;
	size_t window;
	unsigned long failed;        /* messages that were no envelopes */
};

static void copy_fail(char *error)
{
	mas_die(MAS_EXIT_TEMPFAIL, "%s", error ? error : "bus failure");
}

static int stdout_is_pipe(void)
{
	struct stat st;

	return fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* Bytes of the output the reader has taken. */
static unsigned long long taken(const struct copy *copy)
{
	int unread = 0;

	if (!copy->pipe || ioctl(STDOUT_FILENO, FIONREAD, &unread) != 0 ||
	    unread < 0)
		return copy->written;
	if ((unsigned long long)unread > copy->written)
		return 0; /* another writer's bytes: nothing of ours yet */
	return copy->written - (unsigned long long)unread;
}

/* Whether the reader of the pipe has gone (POLLERR on the write end). */
static int reader_gone(const struct copy *copy)
{
	struct pollfd poller = { .fd = STDOUT_FILENO, .events = 0 };

	return copy->pipe && poll(&poller, 1, 0) > 0 &&
	       (poller.revents & (POLLERR | POLLHUP));
}

static void owe(struct copy *copy)
{
	struct owed *owed = &copy->owed;

	if (owed->count == owed->size) {
		size_t size = owed->size ? owed->size * 2 : 64;
		unsigned long long *ends = realloc(owed->ends,
		                                   size * sizeof(*ends));

		if (!ends)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		owed->ends = ends;
		owed->size = size;
	}
	owed->ends[owed->count++] = copy->written;
}

/* Acknowledge the messages the reader has taken. */
static void settle(struct copy *copy)
{
	struct owed *owed = &copy->owed;
	unsigned long long done = taken(copy);
	size_t count = 0;
	char *error = NULL;

	while (count < owed->count && owed->ends[count] <= done)
		count++;
	if (count == 0)
		return;
	if (mas_bus_ack_first(copy->sub, count, &error))
		copy_fail(error);
	memmove(owed->ends, owed->ends + count,
	        (owed->count - count) * sizeof(*owed->ends));
	owed->count -= count;
}

/* The error record written in place of the payload of TEXT (LEN bytes),
 * a message that is not an envelope (anyone may publish anything on a
 * NATS subject, or write a row into the store); it quotes the message. */
static jv not_an_envelope(const char *text, size_t len)
{
	char id[MAS_ID_SIZE];
	jv error = mas_error(MAS_ERR_UPSTREAM_ERROR, "message is not an "
	                     "envelope with a payload");

	mas_id_new(id);
	error = jv_object_set(error, jv_string("input"), jv_string_sized(
		text, (int)(len < 65536 ? len : 65536)));
	return JV_OBJECT(jv_string("id"), jv_string(id), jv_string("error"),
	                 error);
}

/* ENVELOPE's payload (borrowed), or invalid when it is no envelope. */
static jv payload_of(jv envelope)
{
	if (jv_get_kind(envelope) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(envelope), jv_string("payload"));
}

/* One line out: the envelope TEXT as stored, or its payload. */
static void write_message(struct copy *copy, const char *text, size_t len)
{
	jv envelope = jv_invalid();
	struct mas_span *span = NULL;

	if (copy->options->payload || mas_trace_enabled())
		envelope = jv_parse_sized(text, (int)len);
	if (mas_trace_enabled() && jv_get_kind(envelope) == JV_KIND_OBJECT) {
		jv parent = jv_object_get(jv_copy(envelope),
		                          jv_string("traceparent"));

		span = mas_span_start_remote("bus.consume",
			jv_get_kind(parent) == JV_KIND_STRING ?
			jv_string_value(parent) : NULL);
		jv_free(parent);
	}
	if (copy->options->payload) {
		jv payload = payload_of(envelope);
		jv dumped;
		size_t size;

		if (!jv_is_valid(payload)) {
			jv_free(payload);
			payload = not_an_envelope(text, len);
			copy->failed++;
		}
		dumped = jv_dump_string(payload, 0);
		size = (size_t)jv_string_length_bytes(jv_copy(dumped));

		fwrite(jv_string_value(dumped), 1, size, stdout);
		copy->written += size;
		jv_free(dumped);
	} else {
		fwrite(text, 1, len, stdout);
		copy->written += len;
	}
	putchar('\n');
	copy->written++;
	mas_span_end(span);
	jv_free(envelope);
}

/* Write BATCH and flush; a group's messages are owed until taken. */
static void deliver(struct copy *copy, const struct mas_bus_batch *batch)
{
	for (size_t i = 0; i < batch->count; i++) {
		size_t len;
		const char *text = mas_bus_batch_text(batch, i, &len);

		write_message(copy, text, len);
		if (copy->sub->group)
			owe(copy);
	}
	mas_output_flush();
	mas_metrics_count("mas_bus_delivered_total", "Messages delivered.",
	                  NULL, (double)batch->count);
}

static void pause_for(long us)
{
	struct timespec pause = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&pause, NULL);
}

/*
 * Wait until the reader has taken something owed, for at most SECONDS;
 * returns -1 when it has gone.  The pipe says nothing when it is read,
 * so this looks: after 0.5 ms, then twice as long each time, up to
 * 20 ms.
 */
static int wait_for_reader(struct copy *copy, double seconds)
{
	double deadline = mas_clock_monotonic() + seconds;
	size_t before = copy->owed.count;
	long us = 500;

	for (;;) {
		/* what it read before it went counts */
		settle(copy);
		if (copy->owed.count < before)
			return 0;
		if (reader_gone(copy))
			return -1;
		if (mas_clock_monotonic() >= deadline)
			return 0;
		pause_for(us);
		us = us * 2 > 20000 ? 20000 : us * 2;
	}
}

/* How many to fetch now: the window less what is owed, within
 * --count. */
static size_t wanted(const struct copy *copy, long done)
{
	const struct mas_bus_copy_options *options = copy->options;
	size_t want = copy->window - copy->owed.count;

	if (options->count && (size_t)(options->count - done) < want)
		want = (size_t)(options->count - done);
	return want;
}

/* The window after a fetch: doubled when the reader had taken all. */
static void adapt(struct copy *copy, int kept_up)
{
	if (copy->options->prefetch == 0 && kept_up &&
	    copy->window < WINDOW_MAX)
		copy->window *= 2;
}

/* At the end: acknowledge what the reader takes, while it reads, for
 * at most the visibility timeout (the messages are redelivered then
 * anyway). */
static void drain(struct copy *copy)
{
	double visibility = copy->sub->visibility > 0 ?
	                    copy->sub->visibility : 30;
	double deadline = mas_clock_monotonic() + visibility;

	settle(copy);
	while (copy->owed.count > 0 && mas_clock_monotonic() < deadline)
		if (wait_for_reader(copy, deadline - mas_clock_monotonic()))
			break;
}

int mas_bus_copy_out(const struct mas_bus_copy_options *options)
{
	struct mas_bus_batch batch = { 0 };
	struct copy copy = {
		.options = options,
		.sub = options->sub,
		.pipe = stdout_is_pipe(),
		.window = options->prefetch ? options->prefetch : 1,
	};
	int status = MAS_EXIT_OK;
	char *error = NULL;
	long done = 0;

	/* Without a group nothing is owed: fetch as much as there is. */
	if (!options->sub->group)
		copy.window = WINDOW_MAX;
	while (!options->count || done < options->count) {
		int kept_up;
		long count;

		settle(&copy);
		if (copy.owed.count >= copy.window) {
			if (wait_for_reader(&copy, 1.0) == 0)
				continue;
			status = EXIT_PIPE;
			break;
		}
		/* (the first fetch shows nothing of the reader yet) */
		kept_up = copy.owed.count == 0 && copy.written > 0;
		count = mas_bus_fetch_batch(options->sub, wanted(&copy, done),
		                            options->follow ? 1.0 : 0, &batch,
		                            &error);
		if (count < 0)
			copy_fail(error);
		if (count == 0 && !options->follow)
			break;
		if (count == 0)
			continue;
		deliver(&copy, &batch);
		done += count;
		adapt(&copy, kept_up);
	}
	if (status == MAS_EXIT_OK)
		drain(&copy);
	mas_bus_batch_release(&batch);
	free(copy.owed.ends);
	if (status == MAS_EXIT_OK && copy.failed)
		status = MAS_EXIT_RECORDS;
	return status;
}
