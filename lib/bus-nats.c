/*
 * bus-nats.c — the NATS backend of the message bus (bus-backend.h),
 * through libnats against a nats-server.
 *
 * Subjects are the topics themselves.  Storage is JetStream: one stream
 * per first topic token, "MAS_<token>" on the subjects "<token>" and
 * "<token>.>", made on first use.  One stream per token, not one on
 * ">", because a stream on ">" would also capture the _INBOX replies of
 * every request, the JetStream API's included.  Topics whose first
 * token is "_inbox" (the private reply topics of `req`) are published
 * on core NATS only: nobody but the waiting requester wants them.
 *
 * - pub: an asynchronous JetStream publish per message, its envelope id
 *   as the Nats-Msg-Id header, so the server stores a retried publish
 *   once (within the stream's duplicate window, 2 minutes); the batch's
 *   acknowledgements are awaited at commit, each noted by its id, and
 *   what is refused for a passing reason (no JetStream yet after a
 *   restart) or not acknowledged in time (lost with a connection) is
 *   sent again, with backoff, until the commit's time is up; only what
 *   is still not acknowledged then is reported failed.
 * - the connection reconnects when the server goes away, with backoff
 *   (50 ms doubling to 1 s), for ever; what is published meanwhile waits
 *   in libnats' reconnect buffer.  Only the first connection must
 *   succeed at once: a server that is down then is a failure to report,
 *   not to wait for.
 * - sub, plain: a core subscription (messages from now on); with
 *   --from-start an ordered JetStream consumer from the stream's start.
 * - sub --group / serve: a durable pull consumer named after the group,
 *   filtered on the pattern, explicit acknowledgement, AckWait the
 *   visibility timeout.  --max-deliver is applied here: a message
 *   delivered for the (max + 1)th time is published to "_dead.<group>"
 *   (stream MAS__dead) and acknowledged instead of being handed out.
 *
 * With "?jetstream=no" in the URL nothing is stored: pub publishes on
 * core NATS, a group is a core queue group (each message to one member,
 * at most once, no acknowledgement), and --from-start is refused.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "bus-backend.h"
#include "clock.h"
#include "log.h"
#include "mas.h"
#include "banned.h"

#define STREAM_PREFIX "MAS_"
#define DEAD_TOKEN "_dead"
#define WAIT_MS 10000 /* JetStream API calls */
/* An acknowledgement this late is taken for lost with a connection: the
 * message is sent again (the server drops a repeat by its id). */
#define ACK_WAIT_MS 2000
#define COMMIT_TIMEOUT 30     /* seconds, when the bus sets none */
#define RECONNECT_BUFFER (64 << 20)

/* What became of one publish of the open batch. */
enum sent_state {
	SENT_WAITING,   /* handed to libnats, no answer yet */
	SENT_STORED,    /* JetStream acknowledged it */
	SENT_RETRY,     /* to send again: MSG holds it */
	SENT_FAILED,    /* refused for good, or given up */
};

struct sent {
	enum sent_state state;
	natsMsg *msg;
};

struct nats_bus {
	natsConnection *connection;
	jsCtx *js;               /* NULL with ?jetstream=no */
	char *url;
	char **streams;          /* tokens whose stream is known to exist */
	size_t stream_count;
	int batch_open;          /* between begin and commit */
	pthread_mutex_t lock;    /* guards what libnats' thread sets: */
	char *failure;           /* the first failed asynchronous publish */
	/* the batch's publishes, in order: their ids, and what became of
	 * each (the ids are looked up as acknowledgements come) */
	struct mas_bus_batch ids;
	struct sent *sent;
	size_t sent_size;
	size_t cursor;           /* where the next ack is looked for */
	int committed;           /* the table is a finished batch's */
	int published;           /* libnats has its publishing table */
	int closing;             /* a disconnection now is ours */
	/* Set by libnats' last callback for the connection (closed):
	 * until then its callback thread may still run disconnected()
	 * with this struct, which nats_close must not free before. */
	int closed;
	pthread_cond_t closed_cond;
	/* Released subscriptions, destroyed once the connection is
	 * closed: libnats' reader thread may still be handing one a
	 * message (seen when sub --count stops while messages flow), and
	 * would lock a freed subscription. */
	natsSubscription **retired;
	size_t retired_count;
};

struct nats_sub {
	natsSubscription *subscription;
	char stream[300];
	char durable[300];
	int pull;                /* a durable group's pull consumer */
	int ordered;             /* --from-start: stop when caught up */
	int caught_up;
	int consumer_ready;
	natsMsg **unacked;       /* fetched, not yet acknowledged, oldest
	                          * first */
	size_t unacked_count, unacked_size;
};

static struct nats_bus *state_of(struct mas_bus *bus)
{
	return bus->state;
}

static int nats_fail(char **error, const char *what, natsStatus status,
                     jsErrCode code)
{
	const char *detail = nats_GetLastError(NULL);

	if (code)
		return mas_error_set(error, "nats: %s: %s (JetStream error "
		                     "%d)", what, detail && *detail ? detail :
		                     natsStatus_GetText(status), (int)code);
	return mas_error_set(error, "nats: %s: %s", what,
	                     detail && *detail ? detail :
	                     natsStatus_GetText(status));
}

/* The publish of the table with message id ID that still waits for
 * its answer, or -1.  Answers come in about the order of the
 * publishes: the search starts after the last one found.  Under LOCK. */
static long sent_find(struct nats_bus *nats, const char *id)
{
	size_t count = nats->ids.count;

	for (size_t k = 0; k < count; k++) {
		size_t i = (nats->cursor + k) % count, len;

		if (nats->sent[i].state == SENT_WAITING &&
		    strcmp(mas_bus_batch_text(&nats->ids, i, &len), id) == 0) {
			nats->cursor = i + 1;
			return (long)i;
		}
	}
	return -1;
}

/* Note the first failure, to report.  Under LOCK. */
static void note_failure(struct nats_bus *nats, natsMsg *msg,
                         const jsPubAckErr *failure)
{
	if (nats->failure)
		return;
	if (asprintf(&nats->failure, "nats: publish to %s: %s",
	             natsMsg_GetSubject(msg), failure->ErrText ?
	             failure->ErrText : natsStatus_GetText(failure->Err)) < 0)
		nats->failure = NULL;
}

/* Whether a refusal may pass: no answer in time, no JetStream to
 * answer (a server starting), the connection lost meanwhile. */
static int passing(const jsPubAckErr *failure)
{
	if (failure->ErrCode == JSClusterNotAvailErr)
		return 1;
	return failure->ErrCode == 0 &&
	       (failure->Err == NATS_TIMEOUT ||
	        failure->Err == NATS_NO_RESPONDERS ||
	        failure->Err == NATS_CONNECTION_DISCONNECTED ||
	        failure->Err == NATS_CONNECTION_CLOSED);
}

/*
 * libnats calls this, on its own thread, with the server's answer to
 * each asynchronous publish.  The message is ours: kept to be sent
 * again after a passing failure, else destroyed here, before libnats
 * counts the publish as answered, so that js_PublishAsyncComplete
 * returns only when every message of the batch is gone.
 */
static void publish_answered(jsCtx *js, natsMsg *msg, jsPubAck *ack,
                             jsPubAckErr *failure, void *closure)
{
	struct nats_bus *nats = closure;
	const char *id = NULL;
	long i;

	natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
	pthread_mutex_lock(&nats->lock);
	i = id ? sent_find(nats, id) : -1;
	if (i >= 0 && ack) {
		nats->sent[i].state = SENT_STORED;
	} else if (i >= 0 && failure) {
		note_failure(nats, msg, failure);
		nats->sent[i].state = passing(failure) ? SENT_RETRY :
		                      SENT_FAILED;
		if (passing(failure)) {
			nats->sent[i].msg = msg;
			msg = NULL;
		}
	}
	pthread_mutex_unlock(&nats->lock);
	natsMsg_Destroy(msg);
}

static void disconnected(natsConnection *connection, void *closure)
{
	struct nats_bus *nats = closure;

	if (!nats->closing)
		mas_warn("nats: %s: disconnected; reconnecting", nats->url);
}

static void closed(natsConnection *connection, void *closure)
{
	struct nats_bus *nats = closure;

	(void)connection;
	pthread_mutex_lock(&nats->lock);
	nats->closed = 1;
	pthread_cond_broadcast(&nats->closed_cond);
	pthread_mutex_unlock(&nats->lock);
}

/* Until libnats has said the connection is closed, or WAIT_MS. */
static void wait_closed(struct nats_bus *nats)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&nats->lock);
	while (!nats->closed &&
	       pthread_cond_timedwait(&nats->closed_cond, &nats->lock,
	                              &until) == 0)
		;
	pthread_mutex_unlock(&nats->lock);
}

static void reconnected(natsConnection *connection, void *closure)
{
	struct nats_bus *nats = closure;

	mas_warn("nats: %s: reconnected", nats->url);
}

/* 50 ms, doubling to 1 s, a quarter of it random, between attempts:
 * a restarted server is found within a second of its return. */
static int64_t reconnect_delay(natsConnection *connection, int attempts,
                               void *closure)
{
	int64_t delay = 50;

	for (int i = 1; i < attempts && delay < 1000; i++)
		delay *= 2;
	if (delay > 1000)
		delay = 1000;
	return delay - delay / 4 + (int64_t)(nats_Now() % (delay / 4 + 1));
}

/* Split "nats://HOST:PORT[?jetstream=no]" into the server URL and the
 * mode; anything else after '?' is the user's mistake. */
static int parse_url(struct nats_bus *nats, const char *url, int *jetstream,
                     int *usage, char **error)
{
	const char *query = strchr(url, '?');

	*jetstream = 1;
	nats->url = strndup(url, query ? (size_t)(query - url) :
	                             strlen(url));
	if (!nats->url)
		return mas_error_set(error, "out of memory");
	if (!query)
		return 0;
	if (strcmp(query, "?jetstream=no") == 0) {
		*jetstream = 0;
		return 0;
	}
	*usage = 1;
	return mas_error_set(error, "bus.url (--url, MAS_BUS_URL): '%s': the "
	                     "only parameter is ?jetstream=no", url);
}

static int connect_to(struct nats_bus *nats, int jetstream, char **error)
{
	natsOptions *options = NULL;
	natsStatus status = natsOptions_Create(&options);
	jsOptions js_options;

	if (status == NATS_OK)
		status = natsOptions_SetURL(options, nats->url);
	if (status == NATS_OK)
		status = natsOptions_SetTimeout(options, 2000);
	if (status == NATS_OK)
		status = natsOptions_SetMaxReconnect(options, -1);
	if (status == NATS_OK)
		status = natsOptions_SetCustomReconnectDelay(options,
			reconnect_delay, NULL);
	if (status == NATS_OK)
		status = natsOptions_SetReconnectBufSize(options,
		                                         RECONNECT_BUFFER);
	if (status == NATS_OK)
		status = natsOptions_SetDisconnectedCB(options, disconnected,
		                                       nats);
	if (status == NATS_OK)
		status = natsOptions_SetReconnectedCB(options, reconnected,
		                                      nats);
	if (status == NATS_OK)
		status = natsOptions_SetClosedCB(options, closed, nats);
	if (status == NATS_OK)
		status = natsConnection_Connect(&nats->connection, options);
	natsOptions_Destroy(options);
	if (status != NATS_OK)
		return mas_error_set(error, "nats: %s: cannot connect: %s",
		                     nats->url, natsStatus_GetText(status));
	if (!jetstream)
		return 0;
	jsOptions_Init(&js_options);
	js_options.Wait = WAIT_MS;
	js_options.PublishAsync.MaxPending = 4096;
	js_options.PublishAsync.AckHandler = publish_answered;
	js_options.PublishAsync.AckHandlerClosure = nats;
	status = natsConnection_JetStream(&nats->js, nats->connection,
	                                  &js_options);
	return status == NATS_OK ? 0 :
	       nats_fail(error, "JetStream", status, 0);
}

static void nats_close(struct mas_bus *bus);

/* Buses open in this process: libnats is shut down (nats_CloseAndWait,
 * which waits for every connection) only when the last one closes, for
 * a process with a bus per thread (mas-serve). */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static int open_count;

static int nats_open(struct mas_bus *bus, const struct mas_config *config,
                     const char *url, int *usage, char **error)
{
	struct nats_bus *nats = calloc(1, sizeof(*nats));
	int jetstream;

	if (!nats)
		return mas_error_set(error, "out of memory");
	pthread_mutex_lock(&open_lock);
	open_count++;
	pthread_mutex_unlock(&open_lock);
	pthread_mutex_init(&nats->lock, NULL);
	pthread_cond_init(&nats->closed_cond, NULL);
	bus->state = nats;
	if (parse_url(nats, url, &jetstream, usage, error) ||
	    connect_to(nats, jetstream, error)) {
		nats_close(bus);
		return -1;
	}
	return 0;
}

static void sent_clear(struct nats_bus *nats);
static void take_back(struct nats_bus *nats, enum sent_state state);

/*
 * Drain the connection: libnats closes it once every subscription has
 * handled what it holds, JetStream's acknowledgement subscription
 * included.  Closing at once instead let a connection end while that
 * subscription's thread, woken js_PublishAsyncComplete's waiter, was
 * yet to free the acknowledgement it handled (and, with ErrHandler
 * only, the published message): about 630 bytes left for good, seen
 * by LeakSanitizer in `mas-bus pub` runs on a loaded machine, and
 * reproduced every time with libnats alone (publish, wait, close,
 * nats_CloseAndWait) when that thread is slowed down.
 */
static void drain(struct nats_bus *nats)
{
	double deadline = mas_clock_monotonic() + WAIT_MS / 1000.0;
	struct timespec pause = { 0, 1000000 };

	if (natsConnection_Status(nats->connection) !=
	    NATS_CONN_STATUS_CONNECTED ||
	    natsConnection_DrainTimeout(nats->connection, WAIT_MS) != NATS_OK)
		return;
	while (!natsConnection_IsClosed(nats->connection) &&
	       mas_clock_monotonic() < deadline)
		nanosleep(&pause, NULL);
}

/*
 * Close in libnats' order: no publish left waiting (a message still in
 * the JetStream context's table at its end is never freed), the
 * connection drained and closed, then the subscriptions, the connection
 * and the context destroyed, and the library's threads waited for.
 */
static void nats_close(struct mas_bus *bus)
{
	struct nats_bus *nats = state_of(bus);

	if (!nats)
		return;
	if (nats->js)
		take_back(nats, SENT_FAILED);
	sent_clear(nats);
	if (nats->connection && natsConnection_Status(nats->connection) ==
	                        NATS_CONN_STATUS_CONNECTED)
		natsConnection_FlushTimeout(nats->connection, WAIT_MS);
	nats->closing = 1;
	if (nats->connection)
		drain(nats);
	if (nats->connection) {
		natsConnection_Close(nats->connection);
		wait_closed(nats);
	}
	for (size_t i = 0; i < nats->retired_count; i++)
		natsSubscription_Destroy(nats->retired[i]);
	free(nats->retired);
	natsConnection_Destroy(nats->connection);
	jsCtx_Destroy(nats->js);
	/* libnats' own threads and memory, so nothing looks leaked; its
	 * reader thread may still be handling a message: wait for it. */
	pthread_mutex_lock(&open_lock);
	if (--open_count == 0)
		nats_CloseAndWait(WAIT_MS);
	pthread_mutex_unlock(&open_lock);
	for (size_t i = 0; i < nats->stream_count; i++)
		free(nats->streams[i]);
	free(nats->streams);
	free(nats->url);
	free(nats->failure);
	mas_bus_batch_release(&nats->ids);
	free(nats->sent);
	pthread_mutex_destroy(&nats->lock);
	pthread_cond_destroy(&nats->closed_cond);
	free(nats);
	bus->state = NULL;
}

/* The first token of TOPIC, in TOKEN (SIZE bytes). */
static void first_token(const char *topic, char *token, size_t size)
{
	size_t len = strcspn(topic, ".");

	if (len >= size)
		len = size - 1;
	memcpy(token, topic, len);
	token[len] = '\0';
}

static int core_only(const char *topic)
{
	return strncmp(topic, "_inbox", 6) == 0 &&
	       (topic[6] == '.' || topic[6] == '\0');
}

static int stream_known(struct nats_bus *nats, const char *token)
{
	for (size_t i = 0; i < nats->stream_count; i++)
		if (strcmp(nats->streams[i], token) == 0)
			return 1;
	return 0;
}

static void stream_remember(struct nats_bus *nats, const char *token)
{
	char **streams = realloc(nats->streams, (nats->stream_count + 1) *
	                         sizeof(*streams));

	if (!streams)
		return;
	nats->streams = streams;
	streams[nats->stream_count] = strdup(token);
	if (streams[nats->stream_count])
		nats->stream_count++;
}

static natsStatus add_stream(struct nats_bus *nats, const char *token,
                             const char *name, jsErrCode *code)
{
	char wildcard[260];
	const char *subjects[2] = { token, wildcard };
	jsStreamConfig config;

	snprintf(wildcard, sizeof(wildcard), "%s.>", token);
	jsStreamConfig_Init(&config);
	config.Name = name;
	config.Subjects = subjects;
	config.SubjectsLen = 2;
	config.Storage = js_FileStorage;
	return js_AddStream(NULL, nats->js, &config, NULL, code);
}

/* Make the stream of TOKEN unless it exists.  Another process may make
 * it at the same moment: then the second look finds it. */
static int stream_ensure(struct nats_bus *nats, const char *token,
                         char **error)
{
	char name[300];
	jsErrCode code = 0;
	natsStatus status;

	if (stream_known(nats, token))
		return 0;
	snprintf(name, sizeof(name), STREAM_PREFIX "%s", token);
	for (int attempt = 0; attempt < 2; attempt++) {
		jsStreamInfo *info = NULL;

		status = js_GetStreamInfo(&info, nats->js, name, NULL, &code);
		jsStreamInfo_Destroy(info);
		if (status == NATS_OK)
			break;
		if (status != NATS_NOT_FOUND)
			return nats_fail(error, name, status, code);
		status = add_stream(nats, token, name, &code);
		if (status == NATS_OK)
			break;
	}
	if (status != NATS_OK)
		return nats_fail(error, name, status, code);
	stream_remember(nats, token);
	return 0;
}

/* Empty the table of publishes for a new batch (no answer can come
 * for any of them any more). */
static void sent_clear(struct nats_bus *nats)
{
	pthread_mutex_lock(&nats->lock);
	for (size_t i = 0; i < nats->ids.count; i++)
		natsMsg_Destroy(nats->sent[i].msg);
	mas_bus_batch_clear(&nats->ids);
	nats->cursor = 0;
	nats->committed = 0;
	free(nats->failure);
	nats->failure = NULL;
	pthread_mutex_unlock(&nats->lock);
}

/* A new row for the publish of ID, waiting; -1 out of memory. */
static int sent_add(struct nats_bus *nats, const char *id,
                    enum sent_state state)
{
	int rc = 0;

	pthread_mutex_lock(&nats->lock);
	if (nats->ids.count == nats->sent_size) {
		size_t size = nats->sent_size ? nats->sent_size * 2 : 1024;
		struct sent *sent = realloc(nats->sent, size * sizeof(*sent));

		if (sent) {
			nats->sent = sent;
			nats->sent_size = size;
		}
	}
	if (nats->ids.count == nats->sent_size ||
	    mas_bus_batch_add(&nats->ids, id, strlen(id))) {
		rc = -1;
	} else {
		nats->sent[nats->ids.count - 1].state = state;
		nats->sent[nats->ids.count - 1].msg = NULL;
	}
	pthread_mutex_unlock(&nats->lock);
	return rc;
}

/* Drop the last row: its publish failed at once. */
static void sent_drop_last(struct nats_bus *nats)
{
	pthread_mutex_lock(&nats->lock);
	mas_bus_batch_truncate(&nats->ids, nats->ids.count - 1);
	pthread_mutex_unlock(&nats->lock);
}

static size_t sent_count(struct nats_bus *nats, enum sent_state state)
{
	size_t count = 0;

	pthread_mutex_lock(&nats->lock);
	for (size_t i = 0; i < nats->ids.count; i++)
		count += nats->sent[i].state == state;
	pthread_mutex_unlock(&nats->lock);
	return count;
}

/*
 * Take back from libnats every publish still waiting for its answer, as
 * STATE: SENT_RETRY keeps the messages to send again, SENT_FAILED
 * destroys them.  Then wait for the answers libnats is handing over at
 * this moment, so that none changes the table afterwards.
 */
static void take_back(struct nats_bus *nats, enum sent_state state)
{
	natsMsgList list = { 0 };
	jsPubOptions options;

	/* (libnats makes its table at the first asynchronous publish and
	 * assumes it there.) */
	if (!nats->published)
		return;
	if (js_PublishAsyncGetPendingList(&list, nats->js) == NATS_OK) {
		for (int i = 0; i < list.Count; i++) {
			const char *id = NULL;
			long row;

			natsMsgHeader_Get(list.Msgs[i], "Nats-Msg-Id", &id);
			pthread_mutex_lock(&nats->lock);
			row = id ? sent_find(nats, id) : -1;
			if (row >= 0 && state == SENT_RETRY) {
				nats->sent[row].msg = list.Msgs[i];
				list.Msgs[i] = NULL;
			}
			if (row >= 0)
				nats->sent[row].state = state;
			pthread_mutex_unlock(&nats->lock);
		}
		natsMsgList_Destroy(&list);
	}
	jsPubOptions_Init(&options);
	options.MaxWait = ACK_WAIT_MS;
	js_PublishAsyncComplete(nats->js, &options);
}

/* Send again what is to be sent again.  A message libnats cannot take
 * now stays ours, for the next round. */
static void resend(struct nats_bus *nats)
{
	for (size_t i = 0; i < nats->ids.count; i++) {
		natsMsg *msg = NULL;

		pthread_mutex_lock(&nats->lock);
		if (nats->sent[i].state == SENT_RETRY) {
			msg = nats->sent[i].msg;
			nats->sent[i].msg = NULL;
			nats->sent[i].state = SENT_WAITING;
		}
		pthread_mutex_unlock(&nats->lock);
		/* The message keeps its Nats-Msg-Id header. */
		if (!msg || js_PublishMsgAsync(nats->js, &msg, NULL) ==
		            NATS_OK)
			continue;
		pthread_mutex_lock(&nats->lock);
		nats->sent[i].msg = msg;
		nats->sent[i].state = SENT_RETRY;
		pthread_mutex_unlock(&nats->lock);
	}
}

static void pause_for(double seconds)
{
	struct timespec pause = {
		(time_t)seconds, (long)((seconds - (long)seconds) * 1e9)
	};

	nanosleep(&pause, NULL);
}

/* Give up on what is still not stored; report it with the first
 * failure seen. */
static int give_up(struct nats_bus *nats, double timeout, char **error)
{
	size_t failed;

	take_back(nats, SENT_FAILED);
	pthread_mutex_lock(&nats->lock);
	for (size_t i = 0; i < nats->ids.count; i++) {
		if (nats->sent[i].state == SENT_STORED)
			continue;
		natsMsg_Destroy(nats->sent[i].msg);
		nats->sent[i].msg = NULL;
		nats->sent[i].state = SENT_FAILED;
	}
	pthread_mutex_unlock(&nats->lock);
	nats->committed = 1;
	failed = sent_count(nats, SENT_FAILED);
	if (failed == 0)
		return 0;
	pthread_mutex_lock(&nats->lock);
	mas_error_set(error, "%s (%zu of %zu messages not acknowledged "
	              "within %g s)", nats->failure ? nats->failure :
	              "nats: publish: no acknowledgement", failed,
	              nats->ids.count, timeout);
	pthread_mutex_unlock(&nats->lock);
	return -1;
}

static int nats_begin(struct mas_bus *bus, char **error)
{
	struct nats_bus *nats = state_of(bus);

	sent_clear(nats);
	nats->batch_open = 1;
	return 0;
}

/*
 * Wait until JetStream has acknowledged every publish of the batch.  An
 * answer that does not come within ACK_WAIT_MS (the connection was lost
 * with it) or a passing refusal has the message sent again, after a
 * pause growing from 50 ms to 2 s, until the bus's timeout: the server
 * keeps one copy of each id, so a message stored before its answer was
 * lost is not stored twice.
 */
static int nats_commit(struct mas_bus *bus, char **error)
{
	struct nats_bus *nats = state_of(bus);
	double timeout = bus->timeout > 0 ? bus->timeout : COMMIT_TIMEOUT;
	double deadline = mas_clock_monotonic() + timeout, pause = 0.05;

	nats->batch_open = 0;
	/* Core NATS promises nothing past the socket: libnats' flusher
	 * sends the batch within milliseconds, and closing flushes the
	 * rest.  A round trip per batch would halve the rate. */
	if (!nats->js)
		return 0;
	for (;;) {
		double left = deadline - mas_clock_monotonic();
		jsPubOptions options;

		jsPubOptions_Init(&options);
		options.MaxWait = left * 1000 < ACK_WAIT_MS ?
		                  (int64_t)(left * 1000) + 1 : ACK_WAIT_MS;
		if (js_PublishAsyncComplete(nats->js, &options) ==
		    NATS_TIMEOUT)
			take_back(nats, SENT_RETRY);
		else if (sent_count(nats, SENT_RETRY) > 0)
			pause_for(pause); /* refused for now: not at once */
		if (sent_count(nats, SENT_RETRY) == 0 ||
		    mas_clock_monotonic() >= deadline ||
		    natsConnection_IsClosed(nats->connection))
			break;
		pause = pause * 2 > 2 ? 2 : pause * 2;
		resend(nats);
	}
	return give_up(nats, timeout, error);
}

static int nats_stored(struct mas_bus *bus, size_t i)
{
	struct nats_bus *nats = state_of(bus);
	int stored;

	if (!nats->js)
		return 1;
	pthread_mutex_lock(&nats->lock);
	stored = i < nats->ids.count && nats->sent[i].state == SENT_STORED;
	pthread_mutex_unlock(&nats->lock);
	return stored;
}

static long long publish_stored(struct nats_bus *nats,
                                const struct mas_bus_message *message,
                                char **error)
{
	char token[256];
	natsMsg *msg = NULL;
	jsPubOptions options;
	natsStatus status;

	first_token(message->topic, token, sizeof(token));
	if (stream_ensure(nats, token, error))
		return -1;
	if (nats->committed)
		sent_clear(nats);
	status = natsMsg_Create(&msg, message->topic, NULL, message->text,
	                        (int)message->len);
	jsPubOptions_Init(&options);
	options.MsgId = message->id;
	/* In the table before libnats has it: its answer may come first. */
	if (status == NATS_OK && sent_add(nats, message->id, SENT_WAITING))
		status = NATS_NO_MEMORY;
	else if (status == NATS_OK)
		status = js_PublishMsgAsync(nats->js, &msg, &options);
	if (status == NATS_OK)
		nats->published = 1;
	if (status != NATS_OK && msg)
		sent_drop_last(nats);
	natsMsg_Destroy(msg);
	if (status != NATS_OK)
		return nats_fail(error, "publish", status, 0);
	return 0;
}

static long long nats_publish(struct mas_bus *bus,
                              const struct mas_bus_message *message,
                              char **error)
{
	struct nats_bus *nats = state_of(bus);
	natsStatus status;

	if (nats->js && !core_only(message->topic)) {
		if (!nats->batch_open)
			sent_clear(nats);
		if (publish_stored(nats, message, error) < 0)
			return -1;
		/* Outside a batch a publish is its own: stored when it
		 * returns. */
		return nats->batch_open ? 0 : nats_commit(bus, error);
	}
	status = natsConnection_Publish(nats->connection, message->topic,
	                                message->text, (int)message->len);
	if (status != NATS_OK)
		return nats_fail(error, "publish", status, 0);
	/* Counted as stored, so that the table's rows stay in step with
	 * the batch's publishes. */
	if (nats->js && sent_add(nats, message->id, SENT_STORED))
		return mas_error_set(error, "out of memory");
	return 0;
}

/* The durable name of GROUP: consumer names may not hold '.', '*',
 * '>' or blanks, so anything but a token character becomes '_'. */
static void durable_name(const char *group, char *name, size_t size)
{
	size_t i;

	for (i = 0; group[i] && i + 1 < size; i++) {
		char c = group[i];
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '-' || c == '_';

		name[i] = plain ? c : '_';
	}
	name[i] = '\0';
}

/* Check that an existing group consumes PATTERN, as on SQLite. */
static int group_check(struct mas_bus_sub *sub, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = sub->state;
	jsConsumerInfo *info = NULL;
	jsErrCode code = 0;
	natsStatus status = js_GetConsumerInfo(&info, nats->js, state->stream,
	                                       state->durable, NULL, &code);
	int rc = 0;

	if (status == NATS_NOT_FOUND)
		return 0;
	if (status != NATS_OK)
		return nats_fail(error, state->durable, status, code);
	if (info->Config->FilterSubject &&
	    strcmp(info->Config->FilterSubject, sub->pattern) != 0) {
		sub->usage = 1;
		rc = mas_error_set(error, "group %s subscribes to %s, not %s",
		                   sub->group, info->Config->FilterSubject,
		                   sub->pattern);
	}
	jsConsumerInfo_Destroy(info);
	return rc;
}

static int stored_sub_init(struct mas_bus_sub *sub, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = sub->state;
	char token[256];

	first_token(sub->pattern, token, sizeof(token));
	if (strcmp(token, "*") == 0 || strcmp(token, ">") == 0) {
		sub->usage = 1;
		return mas_error_set(error, "%s: on NATS a group or "
		                     "--from-start needs a pattern whose "
		                     "first token is a name: each first "
		                     "token has its own stream", sub->pattern);
	}
	if (stream_ensure(nats, token, error))
		return -1;
	snprintf(state->stream, sizeof(state->stream), STREAM_PREFIX "%s",
	         token);
	if (!sub->group)
		return 0;
	durable_name(sub->group, state->durable, sizeof(state->durable));
	state->pull = 1;
	return group_check(sub, error);
}

static int core_sub_init(struct mas_bus_sub *sub, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = sub->state;
	natsStatus status;

	if (sub->group)
		status = natsConnection_QueueSubscribeSync(
			&state->subscription, nats->connection, sub->pattern,
			sub->group);
	else
		status = natsConnection_SubscribeSync(&state->subscription,
		                                      nats->connection,
		                                      sub->pattern);
	/* No limit: a slow consumer keeps every message, rather than
	 * libnats dropping some. */
	if (status == NATS_OK)
		status = natsSubscription_SetPendingLimits(
			state->subscription, -1, -1);
	if (status == NATS_OK)
		status = natsConnection_Flush(nats->connection);
	return status == NATS_OK ? 0 :
	       nats_fail(error, sub->pattern, status, 0);
}

static int nats_sub_init(struct mas_bus_sub *sub, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = calloc(1, sizeof(*state));

	if (!state)
		return mas_error_set(error, "out of memory");
	sub->state = state;
	if (sub->from_start && !sub->group && !nats->js) {
		sub->usage = 1;
		return mas_error_set(error, "--from-start: nothing is stored "
		                     "with ?jetstream=no");
	}
	if (nats->js && (sub->group || sub->from_start)) {
		if (stored_sub_init(sub, error))
			return -1;
		if (sub->group)
			return 0;
		state->ordered = 1;
		return 0;
	}
	return core_sub_init(sub, error);
}

/* Keep SUBSCRIPTION to destroy at close (struct nats_bus says why). */
static void retire(struct nats_bus *nats, natsSubscription *subscription)
{
	natsSubscription **more;

	if (!subscription)
		return;
	if (!nats) { /* the bus is closed already */
		natsSubscription_Destroy(subscription);
		return;
	}
	more = realloc(nats->retired, (nats->retired_count + 1) *
	               sizeof(*more));
	if (!more) {
		natsSubscription_Destroy(subscription);
		return;
	}
	nats->retired = more;
	nats->retired[nats->retired_count++] = subscription;
}

static void nats_sub_release(struct mas_bus_sub *sub)
{
	struct nats_sub *state = sub->state;

	if (!state)
		return;
	for (size_t i = 0; i < state->unacked_count; i++)
		natsMsg_Destroy(state->unacked[i]);
	free(state->unacked);
	/* An ordered consumer is ephemeral: removed now rather than when
	 * the server notices it idle; a core subscription stops taking
	 * messages.  A group's durable consumer stays: libnats deletes on
	 * unsubscribing only a consumer its own subscribe made, and
	 * consumer_ensure made this one.  Unsubscribed, no subscription
	 * holds up the drain at close. */
	if (state->subscription)
		natsSubscription_Unsubscribe(state->subscription);
	retire(state_of(sub->bus), state->subscription);
	free(state);
	sub->state = NULL;
}

/* The consumer's configuration for this member. */
static void consumer_config(struct mas_bus_sub *sub, jsConsumerConfig *config)
{
	struct nats_sub *state = sub->state;
	double visibility = sub->visibility > 0 ? sub->visibility : 30;

	jsConsumerConfig_Init(config);
	config->Durable = state->durable;
	config->DeliverPolicy = js_DeliverAll;
	config->AckPolicy = js_AckExplicit;
	config->AckWait = (int64_t)(visibility * 1e9);
	/* Dead-lettering is ours (see the top): the server never gives
	 * up on a message by itself. */
	config->MaxDeliver = -1;
	config->MaxAckPending = 65536;
	config->FilterSubject = sub->pattern;
}

/* Make the group's consumer, or change its AckWait when this member
 * asked for another visibility timeout. */
static int consumer_ensure(struct mas_bus_sub *sub, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = sub->state;
	jsConsumerInfo *info = NULL;
	jsConsumerConfig config;
	jsErrCode code = 0;
	natsStatus status;

	consumer_config(sub, &config);
	status = js_GetConsumerInfo(&info, nats->js, state->stream,
	                            state->durable, NULL, &code);
	if (status == NATS_NOT_FOUND)
		status = js_AddConsumer(NULL, nats->js, state->stream,
		                        &config, NULL, &code);
	else if (status == NATS_OK && sub->visibility > 0 &&
	         info->Config->AckWait != config.AckWait) {
		jsConsumerConfig changed = *info->Config;

		changed.AckWait = config.AckWait;
		status = js_UpdateConsumer(NULL, nats->js, state->stream,
		                           &changed, NULL, &code);
	}
	jsConsumerInfo_Destroy(info);
	if (status != NATS_OK)
		return nats_fail(error, state->durable, status, code);
	return 0;
}

static int subscribe_stored(struct mas_bus_sub *sub, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = sub->state;
	jsSubOptions options;
	jsErrCode code = 0;
	natsStatus status;

	jsSubOptions_Init(&options);
	options.Stream = state->stream;
	if (state->pull) {
		if (consumer_ensure(sub, error))
			return -1;
		options.Consumer = state->durable;
		status = js_PullSubscribe(&state->subscription, nats->js,
		                          sub->pattern, state->durable, NULL,
		                          &options, &code);
	} else {
		options.Ordered = true;
		options.Config.DeliverPolicy = js_DeliverAll;
		status = js_SubscribeSync(&state->subscription, nats->js,
		                          sub->pattern, NULL, &options, &code);
		if (status == NATS_OK)
			status = natsSubscription_SetPendingLimits(
				state->subscription, -1, -1);
	}
	if (status != NATS_OK)
		return nats_fail(error, sub->pattern, status, code);
	state->consumer_ready = 1;
	return 0;
}

/* Whether an ordered consumer has nothing left to read. */
static int stream_empty(struct mas_bus_sub *sub)
{
	struct nats_sub *state = sub->state;
	jsConsumerInfo *info = NULL;
	int empty = 0;

	if (natsSubscription_GetConsumerInfo(&info, state->subscription,
	                                     NULL, NULL) == NATS_OK)
		empty = info->NumPending == 0 && info->NumAckPending == 0 &&
		        info->Delivered.Stream == 0;
	jsConsumerInfo_Destroy(info);
	return empty;
}

static int add_text(struct mas_bus_batch *batch, natsMsg *msg)
{
	return mas_bus_batch_add(batch, natsMsg_GetData(msg),
	                         (size_t)natsMsg_GetDataLength(msg));
}

/* Messages from a push subscription (core, or ordered): the first
 * waited for up to WAIT_MS_, the rest only if already here. */
static long fetch_push(struct mas_bus_sub *sub, size_t max, int64_t wait_ms,
                       struct mas_bus_batch *batch, char **error)
{
	struct nats_sub *state = sub->state;
	long count = 0;

	while ((size_t)count < max) {
		natsMsg *msg = NULL;
		natsStatus status = natsSubscription_NextMsg(
			&msg, state->subscription, count ? 0 : wait_ms);

		if (status == NATS_TIMEOUT)
			break;
		if (status != NATS_OK)
			return nats_fail(error, sub->pattern, status, 0);
		if (state->ordered) {
			jsMsgMetaData *meta = NULL;

			if (natsMsg_GetMetaData(&meta, msg) == NATS_OK &&
			    meta->NumPending == 0)
				state->caught_up = 1;
			jsMsgMetaData_Destroy(meta);
		}
		status = add_text(batch, msg) ? NATS_NO_MEMORY : NATS_OK;
		natsMsg_Destroy(msg);
		if (status != NATS_OK)
			return nats_fail(error, sub->pattern, status, 0);
		count++;
	}
	return count;
}

static int keep_unacked(struct nats_sub *state, natsMsg *msg)
{
	if (state->unacked_count == state->unacked_size) {
		size_t size = state->unacked_size ?
		              state->unacked_size * 2 : 64;
		natsMsg **kept = realloc(state->unacked,
		                         size * sizeof(*kept));

		if (!kept)
			return -1;
		state->unacked = kept;
		state->unacked_size = size;
	}
	state->unacked[state->unacked_count++] = msg;
	return 0;
}

/* Park MSG, delivered once too often, in "_dead.<group>" and
 * acknowledge it.  Its Nats-Msg-Id keeps a repeated parking single. */
static int bury(struct mas_bus_sub *sub, natsMsg *msg, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = sub->state;
	char subject[320], id[320];
	const char *original = NULL;
	jsPubOptions options;
	jsErrCode code = 0;
	natsStatus status;

	if (stream_ensure(nats, DEAD_TOKEN, error))
		return -1;
	snprintf(subject, sizeof(subject), DEAD_TOKEN ".%s", state->durable);
	natsMsgHeader_Get(msg, "Nats-Msg-Id", &original);
	snprintf(id, sizeof(id), "%s-dead-%s", original ? original : "?",
	         state->durable);
	jsPubOptions_Init(&options);
	options.MsgId = id;
	status = js_Publish(NULL, nats->js, subject, natsMsg_GetData(msg),
	                    natsMsg_GetDataLength(msg), &options, &code);
	if (status == NATS_OK)
		status = natsMsg_AckSync(msg, NULL, &code);
	if (status != NATS_OK)
		return nats_fail(error, "dead letter", status, code);
	return 0;
}

/* Hand out MSG (consumed), or bury it.  Returns 1 when handed out. */
static int take(struct mas_bus_sub *sub, natsMsg *msg,
                struct mas_bus_batch *batch, char **error)
{
	jsMsgMetaData *meta = NULL;
	int dead = 0, rc = 1;

	if (natsMsg_GetMetaData(&meta, msg) == NATS_OK)
		dead = meta->NumDelivered > (uint64_t)sub->max_deliver;
	jsMsgMetaData_Destroy(meta);
	if (dead) {
		rc = bury(sub, msg, error) ? -1 : 0;
		natsMsg_Destroy(msg);
		return rc;
	}
	if (keep_unacked(sub->state, msg)) {
		natsMsg_Destroy(msg);
		return mas_error_set(error, "out of memory");
	}
	if (add_text(batch, msg))
		return mas_error_set(error, "out of memory");
	return 1;
}

/* One pull request for up to MAX messages: NOWAIT, whatever is ready
 * now; else the server answers when MAX have come or after WAIT_MS.
 * Returns the messages handed out; *RECEIVED counts the dead letters
 * buried too. */
static long pull(struct mas_bus_sub *sub, size_t max, int nowait,
                 int64_t wait_ms, struct mas_bus_batch *batch,
                 long *received, char **error)
{
	struct nats_sub *state = sub->state;
	natsMsgList list = { 0 };
	jsFetchRequest request;
	natsStatus status;
	long count = 0;

	jsFetchRequest_Init(&request);
	request.Batch = (int)max;
	request.NoWait = nowait;
	/* Needed with NoWait too: it is also how long libnats waits. */
	request.Expires = wait_ms * 1000000;
	*received = 0;
	status = natsSubscription_FetchRequest(&list, state->subscription,
	                                       &request);
	if (status == NATS_TIMEOUT || status == NATS_NOT_FOUND)
		status = NATS_OK;
	if (status != NATS_OK)
		return nats_fail(error, sub->pattern, status, 0);
	*received = list.Count;
	/* take() consumes a message; after a failure the list frees the
	 * rest. */
	for (int i = 0; i < list.Count && count >= 0; i++) {
		int rc = take(sub, list.Msgs[i], batch, error);

		list.Msgs[i] = NULL;
		count = rc < 0 ? -1 : count + rc;
	}
	natsMsgList_Destroy(&list);
	return count;
}

/* What is ready, up to MAX; if nothing, wait up to WAIT_MS for one, so
 * a message is handed out as soon as it comes, not when a whole batch
 * has. */
static long fetch_pull(struct mas_bus_sub *sub, size_t max, int64_t wait_ms,
                       struct mas_bus_batch *batch, char **error)
{
	long count, received;

	/* Dead letters take no place in the batch: pull on past them. */
	do
		count = pull(sub, max, 1, 100, batch, &received, error);
	while (count == 0 && received > 0);
	if (count == 0 && wait_ms > 0)
		count = pull(sub, 1, 0, wait_ms, batch, &received, error);
	return count;
}

static long nats_fetch(struct mas_bus_sub *sub, size_t max, double wait,
                       struct mas_bus_batch *batch, char **error)
{
	struct nats_sub *state = sub->state;
	int64_t wait_ms = (int64_t)(wait * 1000);

	if (!state->subscription && subscribe_stored(sub, error))
		return -1;
	if (state->pull)
		return fetch_pull(sub, max, wait_ms, batch, error);
	if (state->ordered && !state->caught_up && wait_ms <= 0) {
		/* Stored messages are on their way: wait for them, unless
		 * there are none. */
		if (stream_empty(sub))
			state->caught_up = 1;
		else
			wait_ms = WAIT_MS;
	}
	return fetch_push(sub, max, wait_ms, batch, error);
}

static int nats_ack(struct mas_bus_sub *sub, size_t count, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = sub->state;
	natsStatus status = NATS_OK;

	if (count > state->unacked_count)
		count = state->unacked_count;
	for (size_t i = 0; i < count; i++) {
		if (status == NATS_OK)
			status = natsMsg_Ack(state->unacked[i], NULL);
		natsMsg_Destroy(state->unacked[i]);
	}
	/* A flush is a round trip: the server has the acks when it ends. */
	if (status == NATS_OK && count)
		status = natsConnection_FlushTimeout(nats->connection,
		                                     WAIT_MS);
	if (count > 0)
		memmove(state->unacked, state->unacked + count,
		        (state->unacked_count - count) *
		        sizeof(*state->unacked));
	state->unacked_count -= count;
	return status == NATS_OK ? 0 :
	       nats_fail(error, "acknowledge", status, 0);
}

/* The stored subjects of the stream NAME and their message counts,
 * added to SUBJECTS, an object. */
static jv stream_subjects(struct nats_bus *nats, const char *name,
                          jv subjects)
{
	jsStreamInfo *info = NULL;
	jsOptions options;

	jsOptions_Init(&options);
	options.Stream.Info.SubjectsFilter = ">";
	if (js_GetStreamInfo(&info, nats->js, name, &options, NULL) !=
	    NATS_OK)
		return subjects;
	for (int i = 0; info->State.Subjects &&
	                i < info->State.Subjects->Count; i++) {
		jsStreamStateSubject *one = &info->State.Subjects->List[i];

		subjects = jv_object_set(subjects, jv_string(one->Subject),
		                         jv_number((double)one->Msgs));
	}
	jsStreamInfo_Destroy(info);
	return subjects;
}

/* The messages on subjects PATTERN matches. */
static double matching(jv subjects, const char *pattern)
{
	double count = 0;

	jv_object_foreach(subjects, subject, messages) {
		if (mas_bus_topic_match(pattern, jv_string_value(subject)))
			count += jv_number_value(messages);
		jv_free(subject);
		jv_free(messages);
	}
	jv_free(subjects);
	return count;
}

static jv set_number(jv row, const char *key, double value)
{
	return jv_object_set(row, jv_string(key), jv_number(value));
}

/*
 * A group's figures from its consumer.  The server counts deliveries
 * (consumer sequence), what is left (NumPending) and what is out
 * (NumAckPending); the rest follows from the stored message count:
 * a message is acknowledged when it is neither left, out nor dead.
 */
static jv consumer_row(jsConsumerInfo *info, jv subjects)
{
	const char *pattern = info->Config->FilterSubject ?
	                      info->Config->FilterSubject : ">";
	jv dead_count = jv_object_get(jv_copy(subjects), jv_string_fmt(
		DEAD_TOKEN ".%s", info->Name));
	double dead = jv_get_kind(dead_count) == JV_KIND_NUMBER ?
	              jv_number_value(dead_count) : 0;
	double total = matching(subjects, pattern);
	double left = (double)info->NumPending;
	double out = (double)info->NumAckPending;
	double delivered = (double)info->Delivered.Consumer - dead;
	jv row = jv_object();

	jv_free(dead_count);
	row = jv_object_set(row, jv_string("group"), jv_string(info->Name));
	row = jv_object_set(row, jv_string("pattern"), jv_string(pattern));
	row = jv_object_set(row, jv_string("stream"),
	                    jv_string(info->Stream));
	row = set_number(row, "depth", left);
	row = set_number(row, "in_flight", out);
	row = set_number(row, "delivered", delivered);
	row = set_number(row, "acknowledged", total - left - out - dead);
	row = set_number(row, "redelivered", delivered - (total - left));
	row = set_number(row, "dead_lettered", dead);
	return set_number(row, "lag", left + out);
}

static jv group_rows(struct nats_bus *nats, const char *stream, jv subjects,
                     jv rows)
{
	jsConsumerInfoList *list = NULL;

	if (js_Consumers(&list, nats->js, stream, NULL, NULL) != NATS_OK) {
		jv_free(subjects);
		return rows;
	}
	for (int i = 0; i < list->Count; i++)
		if (list->List[i]->Config->Durable)
			rows = jv_array_append(rows, consumer_row(
				list->List[i], jv_copy(subjects)));
	jsConsumerInfoList_Destroy(list);
	jv_free(subjects);
	return rows;
}

/* Rows sorted by their field KEY. */
static jv sorted(jv rows, const char *key)
{
	jv keys = jv_array();

	jv_array_foreach(rows, i, row)
		keys = jv_array_append(keys, jv_object_get(row,
		                                           jv_string(key)));
	return jv_sort(rows, keys);
}

static jv topic_rows(jv subjects)
{
	jv rows = jv_array();

	jv_object_foreach(subjects, subject, messages) {
		jv row = jv_object();

		row = jv_object_set(row, jv_string("topic"), subject);
		row = jv_object_set(row, jv_string("messages"), messages);
		rows = jv_array_append(rows, row);
	}
	jv_free(subjects);
	return sorted(rows, "topic");
}

static int ours(const char *stream)
{
	return strncmp(stream, STREAM_PREFIX, strlen(STREAM_PREFIX)) == 0;
}

static jv nats_stat(struct mas_bus *bus)
{
	struct nats_bus *nats = state_of(bus);
	jsStreamNamesList *names = NULL;
	jsErrCode code = 0;
	natsStatus status;
	jv subjects, groups;

	if (!nats->js)
		return jv_array_append(jv_array(), jv_object_set(jv_object_set(
			jv_object(), jv_string("url"), jv_string(nats->url)),
			jv_string("jetstream"), jv_false()));
	status = js_StreamNames(&names, nats->js, NULL, &code);
	if (status == NATS_NOT_FOUND)
		return jv_array();
	if (status != NATS_OK) {
		char *error = NULL;
		jv failure;

		nats_fail(&error, "stream names", status, code);
		failure = mas_fail(MAS_ERR_UPSTREAM_ERROR, "%s", error);
		free(error);
		return failure;
	}
	subjects = jv_object();
	groups = jv_array();
	for (int i = 0; i < names->Count; i++)
		if (ours(names->List[i]))
			subjects = stream_subjects(nats, names->List[i],
			                           subjects);
	for (int i = 0; i < names->Count; i++)
		if (ours(names->List[i]))
			groups = group_rows(nats, names->List[i],
			                    jv_copy(subjects), groups);
	jsStreamNamesList_Destroy(names);
	return jv_array_concat(topic_rows(subjects), sorted(groups, "group"));
}

const struct mas_bus_backend mas_bus_nats = {
	.name = "nats",
	.open = nats_open,
	.close = nats_close,
	.begin = nats_begin,
	.commit = nats_commit,
	.stored = nats_stored,
	.publish = nats_publish,
	.sub_init = nats_sub_init,
	.fetch = nats_fetch,
	.ack = nats_ack,
	.sub_release = nats_sub_release,
	.stat = nats_stat,
};
