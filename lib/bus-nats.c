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
 *   acknowledgements are awaited at commit.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "bus-backend.h"
#include "mas.h"
#include "banned.h"

#define STREAM_PREFIX "MAS_"
#define DEAD_TOKEN "_dead"
#define WAIT_MS 10000 /* JetStream API calls and publish acks */

struct nats_bus {
	natsConnection *connection;
	jsCtx *js;               /* NULL with ?jetstream=no */
	char *url;
	char **streams;          /* tokens whose stream is known to exist */
	size_t stream_count;
	int batch_open;          /* between begin and commit */
	pthread_mutex_t lock;    /* guards failure, set by libnats' thread */
	char *failure;           /* the first failed asynchronous publish */
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
	natsMsg **unacked;       /* the last batch, until mas_bus_ack */
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

/* libnats calls this, on its own thread, for a publish the server
 * refused or did not acknowledge in time. */
static void publish_failed(jsCtx *js, jsPubAckErr *failure, void *closure)
{
	struct nats_bus *nats = closure;

	pthread_mutex_lock(&nats->lock);
	if (!nats->failure &&
	    asprintf(&nats->failure, "nats: publish to %s: %s",
	             natsMsg_GetSubject(failure->Msg), failure->ErrText ?
	             failure->ErrText : natsStatus_GetText(failure->Err)) < 0)
		nats->failure = NULL;
	pthread_mutex_unlock(&nats->lock);
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
		status = natsOptions_SetAllowReconnect(options, false);
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
	js_options.PublishAsync.ErrHandler = publish_failed;
	js_options.PublishAsync.ErrHandlerClosure = nats;
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
	bus->state = nats;
	if (parse_url(nats, url, &jetstream, usage, error) ||
	    connect_to(nats, jetstream, error)) {
		nats_close(bus);
		return -1;
	}
	return 0;
}

static void nats_close(struct mas_bus *bus)
{
	struct nats_bus *nats = state_of(bus);

	if (!nats)
		return;
	if (nats->connection) {
		natsConnection_FlushTimeout(nats->connection, WAIT_MS);
		natsConnection_Close(nats->connection);
	}
	for (size_t i = 0; i < nats->retired_count; i++)
		natsSubscription_Destroy(nats->retired[i]);
	free(nats->retired);
	jsCtx_Destroy(nats->js);
	natsConnection_Destroy(nats->connection);
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
	pthread_mutex_destroy(&nats->lock);
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

static int nats_begin(struct mas_bus *bus, char **error)
{
	state_of(bus)->batch_open = 1;
	return 0;
}

/* Wait for every outstanding publish to be acknowledged. */
static int nats_commit(struct mas_bus *bus, char **error)
{
	struct nats_bus *nats = state_of(bus);
	jsPubOptions options;
	natsStatus status;
	int rc = 0;

	nats->batch_open = 0;
	/* Core NATS promises nothing past the socket: libnats' flusher
	 * sends the batch within milliseconds, and closing flushes the
	 * rest.  A round trip per batch would halve the rate. */
	if (!nats->js)
		return 0;
	jsPubOptions_Init(&options);
	options.MaxWait = WAIT_MS;
	status = js_PublishAsyncComplete(nats->js, &options);
	pthread_mutex_lock(&nats->lock);
	if (nats->failure) {
		*error = nats->failure;
		nats->failure = NULL;
		rc = -1;
	}
	pthread_mutex_unlock(&nats->lock);
	if (rc == 0 && status != NATS_OK)
		rc = nats_fail(error, "publish", status, 0);
	return rc;
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
	status = natsMsg_Create(&msg, message->topic, NULL, message->text,
	                        (int)message->len);
	jsPubOptions_Init(&options);
	options.MsgId = message->id;
	if (status == NATS_OK)
		status = js_PublishMsgAsync(nats->js, &msg, &options);
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
	 * messages.  A group's durable consumer stays. */
	if (!state->pull && state->subscription)
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
 * now; else the server answers when MAX have come or after WAIT_MS. */
static long pull(struct mas_bus_sub *sub, size_t max, int nowait,
                 int64_t wait_ms, struct mas_bus_batch *batch, char **error)
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
	status = natsSubscription_FetchRequest(&list, state->subscription,
	                                       &request);
	if (status == NATS_TIMEOUT || status == NATS_NOT_FOUND)
		status = NATS_OK;
	if (status != NATS_OK)
		return nats_fail(error, sub->pattern, status, 0);
	for (int i = 0; i < list.Count; i++) {
		int rc = count < 0 ? 0 : take(sub, list.Msgs[i], batch, error);

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
	long count = pull(sub, max, 1, 100, batch, error);

	if (count == 0 && wait_ms > 0)
		count = pull(sub, 1, 0, wait_ms, batch, error);
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

static int nats_ack(struct mas_bus_sub *sub, char **error)
{
	struct nats_bus *nats = state_of(sub->bus);
	struct nats_sub *state = sub->state;
	natsStatus status = NATS_OK;

	for (size_t i = 0; i < state->unacked_count; i++) {
		if (status == NATS_OK)
			status = natsMsg_Ack(state->unacked[i], NULL);
		natsMsg_Destroy(state->unacked[i]);
	}
	/* A flush is a round trip: the server has the acks when it ends. */
	if (status == NATS_OK && state->unacked_count)
		status = natsConnection_FlushTimeout(nats->connection,
		                                     WAIT_MS);
	state->unacked_count = 0;
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
	jv subjects = jv_object(), groups = jv_array();

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
	.publish = nats_publish,
	.sub_init = nats_sub_init,
	.fetch = nats_fetch,
	.ack = nats_ack,
	.sub_release = nats_sub_release,
	.stat = nats_stat,
};
