/*
 * serve.c — mas-serve's daemon on libmicrohttpd (see serve.h).
 *
 * libmicrohttpd runs a pool of threads, each polling its connections
 * with epoll; its access handler is called after the headers, for each
 * piece of the body, and once the request is whole.  Checks that need
 * only the headers (route, method, key, rate, Content-Length, content
 * type) answer before the body is read.  Work that takes time suspends
 * the connection (MHD_suspend_connection) until another thread answers
 * and resumes it; a request is reference-counted between its connection
 * and the job working for it, so either may end first.
 *
 * libmicrohttpd's own connection timeout only closes connections that
 * are silent, so a client sending a byte a second would hold one for
 * ever: a watch thread closes (shutdown(2)) connections whose request
 * did not arrive whole in time, and answers 504 to requests whose agent
 * took too long.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "ratelimit.h"
#include "serve.h"
#include "serve-http.h"
#include "serve-www.h"
#include "serve-keys.h"
#include "store.h"
#include "workers.h"
#include "trace.h"
#include "utf8.h"
#include "banned.h"

#define WATCH_INTERVAL_NS 100000000L /* the watch looks ten times a second */
#define HEALTH_INTERVAL 0.5        /* seconds between looks at the parts */

/* One TCP connection, watched for time limits. */
struct conn {
	int fd;
	double deadline;          /* monotonic seconds; 0: none */
	struct conn *prev, *next;
};

struct server {
	struct mas_serve shared;  /* first: serve-api.c sees this */
	struct MHD_Daemon *mhd;
	struct mas_serve_keys keys;
	struct mas_ratelimit *limits;
	FILE *access_log;
	int log_json;
	pthread_mutex_t log_lock;
	pthread_mutex_t conns_lock;
	struct conn *conns;
	pthread_mutex_t pending_lock;
	struct mas_serve_request *pending;
	unsigned long open_requests; /* begun, not completed */
	pthread_t watch;
	struct mas_store checkpointer; /* the watch's, for the WAL */
	int checkpointing;
	int watching, stopping;
	int closing;              /* stopping: new requests answered 503 */
	char address[128];
};

/* An answer not yet queued. */
struct reply {
	unsigned status;
	const char *type;
	char *body;
	size_t length;
	int is_static;
	char *headers;            /* "Name: value\n"..., malloc'd */
};

struct mas_serve_request {
	struct server *server;
	struct MHD_Connection *connection;
	const struct mas_serve_route *route;
	char method[16];
	char *path;
	char param[128];
	char key[MAS_SERVE_KEY_NAME_MAX + 1]; /* the key's name, or "" */
	char remote[INET6_ADDRSTRLEN + 8];
	double started;
	time_t wall;
	/* the body */
	char *body;
	size_t length, capacity;
	int too_large;
	jv record;
	/* tracing */
	struct mas_span *span;
	char traceparent[MAS_TRACEPARENT_SIZE];
	/* the answer; LOCK guards what other threads touch */
	pthread_mutex_t lock;
	int refs;
	int handled, pending, answered, suspended, completed;
	int queued;
	struct reply *reply;
	char *headers;            /* added by handlers before answering */
	/* Server-Sent Events */
	int stream;
	char *events;
	size_t events_length, events_capacity, events_sent;
	int events_done;
	/* while pending: the watch's list */
	double deadline;
	int listed;
	struct mas_serve_request *prev, *next;
	/* for the log */
	unsigned status;
	size_t bytes;
};

static struct server *server_of(struct mas_serve_request *r)
{
	return r->server;
}

/* ---- options ---- */

static int read_count(const struct mas_config *config, const char *key,
                      const char *flag, long min, long max, long *out,
                      char **error)
{
	const char *text = mas_config_get(config, key);
	char *end;
	long value;

	if (!text) {
		*out = 0;
		return 0;
	}
	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || end == text || *end || value < min || value > max)
		return mas_error_set(error, "%s (%s): '%s' is not a whole "
		                     "number from %ld to %ld", key, flag, text,
		                     min, max);
	*out = value;
	return 0;
}

static int read_seconds(const struct mas_config *config, const char *key,
                        const char *flag, double *out, char **error)
{
	const char *text = mas_config_get(config, key);
	char *end;
	double value;

	if (!text) {
		*out = 0;
		return 0;
	}
	value = strtod(text, &end);
	if (end == text || *end || !(value > 0 && value <= 86400))
		return mas_error_set(error, "%s (%s): '%s' is not a number of "
		                     "seconds up to a day", key, flag, text);
	*out = value;
	return 0;
}

static int read_limits(struct mas_serve_options *o,
                       const struct mas_config *config, char **error)
{
	const char *rate = mas_config_get(config, "serve.rate");
	const char *burst = mas_config_get(config, "serve.burst");
	char *end;

	o->rate = 0;
	o->burst = 0;
	if (rate && mas_ratelimit_parse(rate, &o->rate))
		return mas_error_set(error, "serve.rate (--rate): '%s' is not "
		                     "N, N/s, N/m or N/h", rate);
	if (burst) {
		o->burst = strtod(burst, &end);
		if (end == burst || *end || !(o->burst >= 1))
			return mas_error_set(error, "serve.burst (--burst): "
			                     "'%s' is not a number of at "
			                     "least 1", burst);
	}
	if (o->rate > 0 && o->burst < 1)
		o->burst = o->rate < 1 ? 1 : ceil(o->rate);
	return 0;
}

int mas_serve_options_read(struct mas_serve_options *o, struct mas_cli *cli,
                           char **error)
{
	const struct mas_config *c = &cli->config;
	long cpus = mas_workers_cpus(), n;

	o->cli = cli;
	o->listen = mas_config_get(c, "serve.listen");
	o->keys = mas_config_get(c, "serve.keys");
	o->flows_dir = mas_config_get(c, "serve.flows_dir");
	o->www = mas_config_get(c, "serve.www");
	if (o->www && mas_serve_www_check(o->www, error))
		return -1;
	o->bus_url = mas_config_get(c, "bus.url");
	o->access_log = mas_config_get(c, "serve.access_log");
	if (cpus < 1)
		cpus = 1;
	if (read_count(c, "serve.threads", "--threads", 1, 256, &n, error))
		return -1;
	o->threads = n ? (unsigned)n : (unsigned)cpus;
	if (read_count(c, "serve.workers", "--workers", 1, 1024, &n, error))
		return -1;
	o->workers = n ? (unsigned)n : (unsigned)cpus;
	if (read_count(c, "serve.task_workers", "--task-workers", 0, 1024,
	               &n, error))
		return -1;
	o->task_workers = (unsigned)n;
	if (read_count(c, "serve.queue", "--queue", 1, 1000000, &n, error))
		return -1;
	o->queue = (size_t)n;
	if (read_count(c, "serve.max_body", "--max-body", 1, 1L << 30, &n,
	               error))
		return -1;
	o->max_body = (size_t)n;
	if (read_count(c, "serve.connections", "--connections", 1, 1000000,
	               &n, error))
		return -1;
	o->connections = (unsigned)n;
	if (read_seconds(c, "serve.timeout", "--request-timeout", &o->timeout,
	                 error) ||
	    read_seconds(c, "serve.task_timeout", "--task-timeout",
	                 &o->task_timeout, error) ||
	    read_seconds(c, "serve.header_timeout", "--header-timeout",
	                 &o->header_timeout, error) ||
	    read_seconds(c, "serve.idle_timeout", "--idle-timeout",
	                 &o->idle_timeout, error) ||
	    read_seconds(c, "serve.shutdown_timeout", "--shutdown-timeout",
	                 &o->shutdown_timeout, error))
		return -1;
	return read_limits(o, c, error);
}

/* ---- the listening address ---- */

static int is_loopback(const struct sockaddr *address)
{
	if (address->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)address;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (address->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)address;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into ADDRESS.  Returns 0, or -1 with
 * *ERROR. */
static int parse_listen(const char *listen, struct sockaddr_storage *address,
                        char **error)
{
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { 0 }, *found = NULL;
	char host[256];
	size_t length;
	int rc;

	if (!colon || colon == listen || !colon[1])
		return mas_error_set(error, "--listen: '%s' is not HOST:PORT",
		                     listen);
	length = (size_t)(colon - listen);
	if (listen[0] == '[' && colon[-1] == ']') {
		listen++;
		length -= 2;
	}
	if (length >= sizeof(host))
		return mas_error_set(error, "--listen: host name too long");
	memcpy(host, listen, length);
	host[length] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host, colon + 1, &hints, &found);
	if (rc != 0)
		return mas_error_set(error, "--listen: %s: %s", listen,
		                     gai_strerror(rc));
	memset(address, 0, sizeof(*address));
	memcpy(address, found->ai_addr, found->ai_addrlen);
	freeaddrinfo(found);
	return 0;
}

/* ---- replies ---- */

static void reply_free(struct reply *reply)
{
	if (!reply)
		return;
	if (!reply->is_static)
		free(reply->body);
	free(reply->headers);
	free(reply);
}

static struct reply *reply_new(unsigned status, const char *type,
                               char *body, size_t length)
{
	struct reply *reply = calloc(1, sizeof(*reply));

	if (!reply) {
		free(body);
		return NULL;
	}
	reply->status = status;
	reply->type = type;
	reply->body = body;
	reply->length = length;
	return reply;
}

static void append_header(char **headers, const char *name,
                          const char *value)
{
	char *joined;

	if (asprintf(&joined, "%s%s: %s\n", *headers ? *headers : "", name,
	             value) < 0)
		return;
	free(*headers);
	*headers = joined;
}

void mas_serve_add_header(struct mas_serve_request *r, const char *name,
                          const char *value)
{
	append_header(&r->headers, name, value);
}

unsigned mas_serve_status_of(const char *code)
{
	static const struct { const char *code; unsigned status; } map[] = {
		{ "INVALID_REQUEST", 400 }, { "UNAUTHORIZED", 401 },
		{ "FORBIDDEN", 403 }, { "NOT_FOUND", 404 },
		{ "RATE_LIMITED", 429 }, { "TIMEOUT", 504 },
		{ "UPSTREAM_ERROR", 503 }, { "INTERNAL", 500 },
	};

	for (size_t i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].status;
	return 500;
}

/* {"status":"success","data":DATA[,"message":M],"timestamp":T}. */
static char *success_text(jv data, const char *message, size_t *length)
{
	static const char head[] = "{\"status\":\"success\",\"data\":";
	static const char stamp[] = ",\"timestamp\":\"";
	char now[MAS_CLOCK_ISO_SIZE];
	struct mas_json_text text = { 0 };

	mas_clock_now_iso(now);
	mas_json_put(&text, head, sizeof(head) - 1);
	mas_json_put_value(&text, data);
	if (message) {
		mas_json_put(&text, ",\"message\":", 11);
		mas_json_put_value(&text, jv_string(message));
	}
	/* The time is digits and punctuation: nothing to escape. */
	mas_json_put(&text, stamp, sizeof(stamp) - 1);
	mas_json_put(&text, now, strlen(now));
	mas_json_put(&text, "\"}", 2);
	*length = text.length;
	return text.data;
}

/* The field an agent's message names: the agents write "FIELD: what
 * is wrong" ("message: missing", "parameters.metrics: ..."); NULL
 * when the message does not start so. */
static jv field_in_message(jv message)
{
	const char *text = jv_get_kind(message) == JV_KIND_STRING ?
	                   jv_string_value(message) : "";
	size_t length = strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
	                       "KLMNOPQRSTUVWXYZ0123456789_.[]");

	if (length == 0 || length > 64 || strncmp(text + length, ": ", 2) ||
	    !strchr("abcdefghijklmnopqrstuvwxyz_", text[0]))
		return jv_invalid();
	return jv_string_sized(text, (int)length);
}

/* The envelope for ERROR (consumed). */
static char *error_text(jv error, size_t *length)
{
	char now[MAS_CLOCK_ISO_SIZE];
	jv code = jv_object_get(jv_copy(error), jv_string("code"));
	jv message = jv_object_get(jv_copy(error), jv_string("message"));
	jv field = jv_object_get(jv_copy(error), jv_string("field"));
	jv details = jv_object_get(jv_copy(error), jv_string("details"));
	jv envelope;

	if (jv_get_kind(details) != JV_KIND_OBJECT) {
		jv_free(details);
		details = jv_object();
	}
	if (jv_get_kind(field) != JV_KIND_STRING) {
		jv_free(field);
		field = field_in_message(message);
	}
	if (jv_get_kind(field) == JV_KIND_STRING)
		details = jv_object_set(details, jv_string("field"), field);
	else
		jv_free(field);
	if (jv_get_kind(message) == JV_KIND_STRING &&
	    !jv_object_has(jv_copy(details), jv_string("issue")))
		details = jv_object_set(details, jv_string("issue"),
		                        jv_copy(message));
	/* The rest of the error object (node, line, attempts...) is kept
	 * beside the code and message, as a record's error has it. */
	error = jv_object_delete(error, jv_string("field"));
	error = jv_object_delete(error, jv_string("details"));
	error = jv_object_set(error, jv_string("code"),
	                      jv_get_kind(code) == JV_KIND_STRING ? code
	                      : jv_string("INTERNAL"));
	error = jv_object_set(error, jv_string("message"),
	                      jv_get_kind(message) == JV_KIND_STRING ? message
	                      : jv_string("unknown error"));
	error = jv_object_set(error, jv_string("details"), details);
	if (jv_get_kind(code) != JV_KIND_STRING)
		jv_free(code);
	if (jv_get_kind(message) != JV_KIND_STRING)
		jv_free(message);
	mas_clock_now_iso(now);
	envelope = JV_OBJECT(jv_string("status"), jv_string("error"),
	                     jv_string("error"), error,
	                     jv_string("timestamp"), jv_string(now));
	return mas_json_dump_text(envelope, length);
}

static struct reply *data_reply(unsigned status, jv data, const char *message)
{
	size_t length;
	char *body = success_text(data, message, &length);

	return reply_new(status, "application/json", body, length);
}

static unsigned error_status(jv error)
{
	jv code = jv_object_get(jv_copy(error), jv_string("code"));
	jv transient = jv_object_get(jv_copy(error), jv_string("transient"));
	unsigned status = mas_serve_status_of(jv_get_kind(code) ==
	                                      JV_KIND_STRING ?
	                                      jv_string_value(code) : NULL);

	/* The state store locked or full: a component down for now, to
	 * be tried again (mas_store_unavailable_error), not a fault. */
	if (jv_get_kind(transient) == JV_KIND_TRUE)
		status = 503;
	jv_free(code);
	jv_free(transient);
	return status;
}

static struct reply *error_reply(unsigned status, jv error)
{
	size_t length;
	char *body;

	if (jv_get_kind(error) != JV_KIND_OBJECT) {
		jv_free(error);
		error = mas_error(MAS_ERR_INTERNAL, "unknown error");
	}
	if (!status)
		status = error_status(error);
	body = error_text(error, &length);
	return reply_new(status, "application/json", body, length);
}

/* Answer R now with REPLY (consumed). */
static void set_reply(struct mas_serve_request *r, struct reply *reply)
{
	if (r->reply || r->answered) {
		reply_free(reply);
		return;
	}
	r->reply = reply;
}

void mas_serve_reply(struct mas_serve_request *r, unsigned status,
                     const char *type, char *body, size_t length)
{
	set_reply(r, reply_new(status, type, body, length));
}

void mas_serve_reply_static(struct mas_serve_request *r, unsigned status,
                            const char *type, const char *body,
                            size_t length)
{
	struct reply *reply = reply_new(status, type, NULL, length);

	if (reply) {
		reply->body = (char *)body;
		reply->is_static = 1;
	}
	set_reply(r, reply);
}

void mas_serve_reply_data(struct mas_serve_request *r, unsigned status,
                          jv data, const char *message)
{
	set_reply(r, data_reply(status, data, message));
}

void mas_serve_reply_error(struct mas_serve_request *r, unsigned status,
                           jv error)
{
	set_reply(r, error_reply(status, error));
}

static jv make_error(enum mas_error_code code, const char *field,
                     const char *format, va_list ap)
{
	char *message = NULL;
	jv error;

	if (vasprintf(&message, format, ap) < 0)
		message = NULL;
	error = mas_error(code, "%s", message ? message : "error");
	free(message);
	if (field)
		error = jv_object_set(error, jv_string("field"),
		                      jv_string(field));
	return error;
}

void mas_serve_fail(struct mas_serve_request *r, unsigned status,
                    enum mas_error_code code, const char *field,
                    const char *format, ...)
{
	va_list ap;
	jv error;

	va_start(ap, format);
	error = make_error(code, field, format, ap);
	va_end(ap);
	mas_serve_reply_error(r, status, error);
}

/* ---- reading ---- */

const char *mas_serve_path(const struct mas_serve_request *r)
{
	return r->path;
}

const char *mas_serve_param(const struct mas_serve_request *r)
{
	return r->param[0] ? r->param : NULL;
}

const char *mas_serve_query(struct mas_serve_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->connection,
	                                   MHD_GET_ARGUMENT_KIND, name);
}

const char *mas_serve_header(struct mas_serve_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND,
	                                   name);
}

int mas_serve_accepts(struct mas_serve_request *r, const char *type)
{
	const char *accept = mas_serve_header(r, "Accept");
	size_t length = strlen(type);

	for (const char *p = accept; p && *p; p++)
		if (strncasecmp(p, type, length) == 0 &&
		    (p == accept || strchr(", ", p[-1])) &&
		    strchr(",; ", p[length]))
			return 1;
	return 0;
}

jv mas_serve_take_body(struct mas_serve_request *r)
{
	jv body = r->record;

	r->record = jv_invalid();
	return body;
}

const char *mas_serve_traceparent(const struct mas_serve_request *r)
{
	return r->traceparent[0] ? r->traceparent : NULL;
}

struct mas_serve *mas_serve_of(const struct mas_serve_request *r)
{
	return &r->server->shared;
}

/* ---- the request's life ---- */

static void request_free(struct mas_serve_request *r)
{
	jv_free(r->record);
	reply_free(r->reply);
	free(r->headers);
	free(r->body);
	free(r->events);
	free(r->path);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void request_ref(struct mas_serve_request *r)
{
	pthread_mutex_lock(&r->lock);
	r->refs++;
	pthread_mutex_unlock(&r->lock);
}

static void request_unref(struct mas_serve_request *r)
{
	int last;

	pthread_mutex_lock(&r->lock);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->lock);
	if (last)
		request_free(r);
}

static void client_address(struct mas_serve_request *r)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		r->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *address = info ? info->client_addr : NULL;

	snprintf(r->remote, sizeof(r->remote), "-");
	if (address && address->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		                     (const void *)address)->sin_addr,
		          r->remote, sizeof(r->remote));
	else if (address && address->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		                      (const void *)address)->sin6_addr,
		          r->remote, sizeof(r->remote));
}

static void start_span(struct mas_serve_request *r)
{
	char name[160];

	if (!mas_trace_enabled())
		return;
	snprintf(name, sizeof(name), "HTTP %s %s", r->method,
	         r->route ? r->route->path : "unmatched");
	r->span = mas_span_start_remote(name, mas_serve_header(r,
	                                                       "traceparent"));
	mas_span_set(r->span, "http.request.method", jv_string(r->method));
	mas_span_set(r->span, "url.path", jv_string(r->path));
	mas_span_traceparent(r->span, r->traceparent);
}

static int is_get(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Which route PATH is, its variable part copied to PARAM; NULL for
 * none. */
static const struct mas_serve_route *find_route(const char *path,
                                                char *param, size_t size)
{
	for (const struct mas_serve_route *route = mas_serve_routes;
	     route->path; route++) {
		const char *brace = strchr(route->path, '{');
		size_t prefix = brace ? (size_t)(brace - route->path) : 0;
		const char *rest;

		if (!brace) {
			if (strcmp(path, route->path) == 0)
				return route;
			continue;
		}
		if (strncmp(path, route->path, prefix) != 0)
			continue;
		rest = path + prefix;
		if (!*rest || strchr(rest, '/') || strlen(rest) >= size)
			continue;
		snprintf(param, size, "%s", rest);
		return route;
	}
	return NULL;
}

static struct mas_serve_request *request_new(struct server *s,
                                             struct MHD_Connection *c,
                                             const char *url,
                                             const char *method)
{
	struct mas_serve_request *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->server = s;
	r->connection = c;
	r->path = strdup(url);
	r->record = jv_invalid();
	r->refs = 1; /* the connection's */
	r->started = mas_clock_monotonic();
	r->wall = (time_t)(mas_clock_epoch_ms() / 1000);
	snprintf(r->method, sizeof(r->method), "%s", method);
	pthread_mutex_init(&r->lock, NULL);
	if (!r->path) {
		free(r);
		return NULL;
	}
	client_address(r);
	r->route = find_route(r->path, r->param, sizeof(r->param));
	if (!r->route && is_get(r->method))
		r->route = &mas_serve_www_route;
	pthread_mutex_lock(&s->pending_lock);
	s->open_requests++;
	pthread_mutex_unlock(&s->pending_lock);
	start_span(r);
	return r;
}

/* ---- connections and their time limits ---- */

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

static void conn_deadline(struct server *s, struct MHD_Connection *c,
                          double seconds)
{
	struct conn *conn = conn_of(c);

	if (!conn)
		return;
	pthread_mutex_lock(&s->conns_lock);
	conn->deadline = seconds > 0 ? mas_clock_monotonic() + seconds : 0;
	pthread_mutex_unlock(&s->conns_lock);
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct server *s = cls;
	struct conn *conn = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_CONNECTION_FD);
		conn = calloc(1, sizeof(*conn));
		if (!conn)
			return;
		conn->fd = info ? info->connect_fd : -1;
		conn->deadline = mas_clock_monotonic() +
		                 s->shared.options->header_timeout;
		pthread_mutex_lock(&s->conns_lock);
		conn->next = s->conns;
		if (s->conns)
			s->conns->prev = conn;
		s->conns = conn;
		pthread_mutex_unlock(&s->conns_lock);
		*socket_context = conn;
		return;
	}
	if (!conn)
		return;
	/* Unlinked before libmicrohttpd closes the socket: the watch
	 * never shuts down a number that was given to another. */
	pthread_mutex_lock(&s->conns_lock);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		s->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	pthread_mutex_unlock(&s->conns_lock);
	free(conn);
	*socket_context = NULL;
}

static void drop_slow_clients(struct server *s, double now)
{
	unsigned dropped = 0;

	pthread_mutex_lock(&s->conns_lock);
	for (struct conn *conn = s->conns; conn; conn = conn->next)
		if (conn->deadline > 0 && now > conn->deadline &&
		    conn->fd >= 0) {
			shutdown(conn->fd, SHUT_RDWR);
			conn->deadline = 0;
			dropped++;
		}
	pthread_mutex_unlock(&s->conns_lock);
	if (dropped) {
		mas_info("closed %u connection(s) whose request did not "
		         "arrive in time", dropped);
		mas_metrics_count("mas_http_slow_clients_total", "Connections "
		                  "closed because their request did not "
		                  "arrive in time.", NULL, dropped);
	}
}

/* ---- answering later ---- */

static void unlist(struct mas_serve_request *r)
{
	struct server *s = server_of(r);

	pthread_mutex_lock(&s->pending_lock);
	if (r->listed) {
		if (r->prev)
			r->prev->next = r->next;
		else
			s->pending = r->next;
		if (r->next)
			r->next->prev = r->prev;
		r->listed = 0;
	}
	pthread_mutex_unlock(&s->pending_lock);
}

void mas_serve_pending(struct mas_serve_request *r)
{
	struct server *s = server_of(r);

	request_ref(r); /* the later answer's, dropped with it */
	r->pending = 1;
	r->deadline = mas_clock_monotonic() + s->shared.options->timeout;
	pthread_mutex_lock(&s->pending_lock);
	r->next = s->pending;
	r->prev = NULL;
	if (s->pending)
		s->pending->prev = r;
	s->pending = r;
	r->listed = 1;
	pthread_mutex_unlock(&s->pending_lock);
}

/* Append TEXT to R's event stream; the caller holds R's lock. */
static void add_event(struct mas_serve_request *r, const char *text,
                      size_t length)
{
	size_t need = r->events_length + length;

	if (need > r->events_capacity) {
		size_t capacity = need * 2 + 256;
		char *grown = realloc(r->events, capacity);
		if (!grown)
			return;
		r->events = grown;
		r->events_capacity = capacity;
	}
	memcpy(r->events + r->events_length, text, length);
	r->events_length += length;
}

/* "event: NAME\ndata: BODY\n\n" (BODY one line of JSON). */
static void add_named_event(struct mas_serve_request *r, const char *name,
                            const char *body, size_t length)
{
	char head[64];

	snprintf(head, sizeof(head), "event: %s\ndata: ", name);
	add_event(r, head, strlen(head));
	add_event(r, body, length);
	add_event(r, "\n\n", 2);
}

/* Answer pending R with REPLY (consumed), once: whatever comes second
 * (a late job after a 504) is dropped. */
static void answer_later(struct mas_serve_request *r, struct reply *reply)
{
	int resume = 0;

	unlist(r);
	pthread_mutex_lock(&r->lock);
	if (r->answered || r->completed || !reply) {
		pthread_mutex_unlock(&r->lock);
		reply_free(reply);
		return;
	}
	r->answered = 1;
	if (r->stream) {
		add_named_event(r, reply->status < 400 ? "result" : "error",
		                reply->body, reply->length);
		r->events_done = 1;
		reply_free(reply);
	} else {
		r->reply = reply;
	}
	resume = r->suspended;
	r->suspended = 0;
	pthread_mutex_unlock(&r->lock);
	if (resume)
		MHD_resume_connection(r->connection);
}

void mas_serve_unpend(struct mas_serve_request *r)
{
	unlist(r);
	r->pending = 0;
	request_unref(r);
}

void mas_serve_later_data(struct mas_serve_request *r, unsigned status,
                          jv data, const char *message, const char *headers)
{
	struct reply *reply = data_reply(status, data, message);

	if (reply && headers)
		reply->headers = strdup(headers);
	answer_later(r, reply);
	request_unref(r);
}

void mas_serve_later_error(struct mas_serve_request *r, unsigned status,
                           jv error)
{
	answer_later(r, error_reply(status, error));
	request_unref(r);
}

static void expire_pending(struct server *s, double now, int all)
{
	struct mas_serve_request *expired[256];
	size_t count = 0;

	pthread_mutex_lock(&s->pending_lock);
	for (struct mas_serve_request *r = s->pending;
	     r && count < sizeof(expired) / sizeof(expired[0]); r = r->next)
		if (all || now >= r->deadline) {
			request_ref(r);
			expired[count++] = r;
		}
	pthread_mutex_unlock(&s->pending_lock);
	for (size_t i = 0; i < count; i++) {
		if (all)
			answer_later(expired[i], error_reply(503, mas_error(
				MAS_ERR_UPSTREAM_ERROR, "the server is "
				"stopping")));
		else
			answer_later(expired[i], error_reply(504, mas_error(
				MAS_ERR_TIMEOUT, "no answer within %g s",
				s->shared.options->timeout)));
		request_unref(expired[i]);
	}
}

static void *watch_main(void *data)
{
	struct server *s = data;
	struct timespec pause = { 0, WATCH_INTERVAL_NS };
	double healthy = 0;

	for (;;) {
		double now = mas_clock_monotonic();
		int stopping;

		drop_slow_clients(s, now);
		expire_pending(s, now, 0);
		if (now - healthy >= HEALTH_INTERVAL) {
			mas_serve_refresh_health(&s->shared);
			healthy = now;
			/* The log of the state store, moved into the
			 * database here rather than by a writer on a
			 * request's path: a checkpoint waits for the
			 * disk. */
			if (s->checkpointing)
				sqlite3_exec(s->checkpointer.db, "PRAGMA "
				             "wal_checkpoint(PASSIVE)", NULL,
				             NULL, NULL);
		}
		pthread_mutex_lock(&s->pending_lock);
		stopping = s->stopping;
		pthread_mutex_unlock(&s->pending_lock);
		if (stopping)
			break;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* ---- jobs for the request workers ---- */

/* The figures for /metrics' JSON shape. */
static void count_record(struct server *s, int kind, int failed)
{
	int i = kind >= 0 && kind <= MAS_SERVE_AGENT_COUNT ? kind
	                                                   : MAS_SERVE_FLOW;

	pthread_mutex_lock(&s->shared.lock);
	s->shared.figures.records[i]++;
	s->shared.figures.failed[i] += failed != 0;
	pthread_mutex_unlock(&s->shared.lock);
}

struct job {
	struct mas_serve_request *request;
	int kind;
};

/* A job's output as the answer: the agent's result (the flow's whole
 * state) in the success envelope, or the record's error. */
static void job_done(void *owner, jv output)
{
	struct job *job = owner;
	struct mas_serve_request *r = job->request;
	const char *key = mas_serve_agent_key((enum mas_serve_agent)job->kind);
	jv error = jv_invalid(), id;
	char headers[96] = "";

	if (!jv_is_valid(output)) {
		error = jv_invalid_get_msg(output);
		output = jv_null();
	} else if (job->kind != MAS_SERVE_FLOW_LIST) {
		error = jv_object_get(jv_copy(output), jv_string("error"));
		id = jv_object_get(jv_copy(output), jv_string("id"));
		if (jv_get_kind(id) == JV_KIND_STRING)
			snprintf(headers, sizeof(headers),
			         "X-Request-Id: %s\n", jv_string_value(id));
		jv_free(id);
	}
	count_record(r->server, job->kind, jv_get_kind(error) ==
	             JV_KIND_OBJECT);
	if (jv_get_kind(error) == JV_KIND_OBJECT) {
		jv_free(output);
		mas_serve_later_error(r, 0, error);
	} else {
		jv_free(error);
		if (key)
			output = jv_object_get(output, jv_string(key));
		else if (job->kind == MAS_SERVE_FLOW_LIST)
			output = JV_OBJECT(jv_string("flows"), output);
		mas_serve_later_data(r, 200, output, NULL,
		                     headers[0] ? headers : NULL);
	}
	free(job);
}

/* A piece of a model's reply, as a "delta" event. */
static void job_text(void *owner, const char *text, size_t length)
{
	struct job *job = owner;
	struct mas_serve_request *r = job->request;
	jv piece = JV_OBJECT(jv_string("text"),
	                     jv_string_sized(text, (int)length));
	size_t dumped_length;
	char *dumped = mas_json_dump_text(piece, &dumped_length);
	int resume;

	pthread_mutex_lock(&r->lock);
	if (!r->answered && !r->completed && dumped)
		add_named_event(r, "delta", dumped, dumped_length);
	resume = r->suspended;
	r->suspended = 0;
	pthread_mutex_unlock(&r->lock);
	free(dumped);
	if (resume)
		MHD_resume_connection(r->connection);
}

static ssize_t read_events(void *cls, uint64_t position, char *buffer,
                           size_t max)
{
	struct mas_serve_request *r = cls;
	size_t length;

	pthread_mutex_lock(&r->lock);
	length = r->events_length - r->events_sent;
	if (length > 0) {
		if (length > max)
			length = max;
		memcpy(buffer, r->events + r->events_sent, length);
		r->events_sent += length;
		r->bytes += length;
		pthread_mutex_unlock(&r->lock);
		return (ssize_t)length;
	}
	if (r->events_done) {
		pthread_mutex_unlock(&r->lock);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	/* Nothing yet: wait for the worker, which resumes us. */
	r->suspended = 1;
	MHD_suspend_connection(r->connection);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Start R's event stream: 200 now, the events as they come. */
static void start_stream(struct mas_serve_request *r)
{
	struct MHD_Response *response = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 4096, read_events, r, NULL);

	if (!response)
		return;
	MHD_add_response_header(response, "Content-Type",
	                        "text/event-stream");
	MHD_add_response_header(response, "Cache-Control", "no-cache");
	MHD_add_response_header(response, "X-Accel-Buffering", "no");
	if (MHD_queue_response(r->connection, 200, response) == MHD_YES) {
		r->queued = 1;
		r->status = 200;
	}
	MHD_destroy_response(response);
}

static int submit(struct mas_serve_request *r, int kind, const char *flow,
                  jv record, int stream)
{
	struct server *s = server_of(r);
	struct job *job = calloc(1, sizeof(*job));

	if (!job) {
		jv_free(record);
		return -1;
	}
	job->request = r;
	job->kind = kind;
	mas_serve_pending(r);
	if (mas_serve_pool_submit(s->shared.pool, kind, flow, record,
	                          r->deadline, job_done,
	                          stream ? job_text : NULL, job) == 0)
		return 0;
	mas_serve_unpend(r);
	free(job);
	return -1;
}

static void busy(struct mas_serve_request *r)
{
	mas_serve_add_header(r, "Retry-After", "1");
	mas_serve_fail(r, 503, MAS_ERR_UPSTREAM_ERROR, NULL, "the server is "
	               "busy: %zu requests are waiting already; try again",
	               server_of(r)->shared.options->queue);
}

void mas_serve_run(struct mas_serve_request *r, enum mas_serve_agent kind,
                   const char *flow, jv record, int stream)
{
	if (mas_trace_enabled() && r->traceparent[0])
		record = jv_object_set(record, jv_string("traceparent"),
		                       jv_string(r->traceparent));
	r->stream = stream;
	if (submit(r, (int)kind, flow, record, stream)) {
		r->stream = 0;
		busy(r);
		return;
	}
	if (stream)
		start_stream(r);
}

void mas_serve_list_flows(struct mas_serve_request *r)
{
	if (submit(r, MAS_SERVE_FLOW_LIST, NULL, jv_null(), 0))
		busy(r);
}

/* ---- checks before the body ---- */

/* The key the client sent, or NULL. */
static const char *presented_key(struct mas_serve_request *r)
{
	const char *authorization = mas_serve_header(r, "Authorization");

	if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
		authorization += 7;
		while (*authorization == ' ')
			authorization++;
		return *authorization ? authorization : NULL;
	}
	return mas_serve_header(r, "X-API-Key");
}

/* The key's limits, or the server's. */
static void limits_of(struct server *s, const struct mas_serve_key *key,
                      double *rate, double *burst)
{
	*rate = key && key->rate > 0 ? key->rate : s->shared.options->rate;
	*burst = key && key->burst > 0 ? key->burst
	       : s->shared.options->burst;
	if (*rate > 0 && *burst < 1)
		*burst = *rate < 1 ? 1 : ceil(*rate);
}

static int authorize(struct mas_serve_request *r,
                     const struct mas_serve_key **found)
{
	struct server *s = server_of(r);
	const char *key;

	*found = NULL;
	if (!r->route->key_route || !s->shared.keyed)
		return 0;
	key = presented_key(r);
	if (!key) {
		mas_serve_add_header(r, "WWW-Authenticate", "Bearer");
		mas_serve_fail(r, 401, MAS_ERR_UNAUTHORIZED, "Authorization",
		               "an API key is needed: send Authorization: "
		               "Bearer KEY or X-API-Key: KEY");
		return -1;
	}
	*found = mas_serve_keys_find(&s->keys, key, strlen(key));
	if (!*found) {
		mas_serve_add_header(r, "WWW-Authenticate", "Bearer");
		mas_serve_fail(r, 401, MAS_ERR_UNAUTHORIZED, "Authorization",
		               "the API key is not known");
		return -1;
	}
	snprintf(r->key, sizeof(r->key), "%s", (*found)->name);
	if (!mas_serve_key_allows(*found, mas_serve_key_route_bit(
	                          r->route->key_route))) {
		mas_serve_fail(r, 403, MAS_ERR_FORBIDDEN, "Authorization",
		               "the key '%s' may not call %s", r->key,
		               r->route->path);
		return -1;
	}
	return 0;
}

static void add_number_header(struct mas_serve_request *r, const char *name,
                              double value)
{
	char text[32];

	snprintf(text, sizeof(text), "%.0f", value);
	mas_serve_add_header(r, name, text);
}

static int limit_rate(struct mas_serve_request *r,
                      const struct mas_serve_key *key)
{
	struct server *s = server_of(r);
	struct mas_ratelimit_verdict verdict;
	char bucket[96];
	double rate, burst;

	if (!r->route->key_route)
		return 0;
	limits_of(s, key, &rate, &burst);
	if (rate <= 0)
		return 0;
	snprintf(bucket, sizeof(bucket), "%s%s", key ? "key:" : "ip:",
	         key ? key->name : r->remote);
	mas_ratelimit_take(s->limits, bucket, rate, burst,
	                   mas_clock_monotonic(), &verdict);
	add_number_header(r, "RateLimit-Limit", verdict.limit);
	add_number_header(r, "RateLimit-Remaining", verdict.remaining);
	add_number_header(r, "RateLimit-Reset", ceil(verdict.reset));
	if (verdict.allowed)
		return 0;
	add_number_header(r, "Retry-After", ceil(verdict.retry_after));
	mas_serve_fail(r, 429, MAS_ERR_RATE_LIMITED, NULL, "too many requests "
	               "for %s: %g a second at most, bursts of %g",
	               key ? key->name : r->remote, rate, burst);
	mas_metrics_count("mas_http_rate_limited_total", "Requests refused "
	                  "for a rate limit.", NULL, 1);
	return -1;
}

static int json_type(const char *type)
{
	size_t length = strlen("application/json");

	if (!type)
		return 0;
	while (*type == ' ')
		type++;
	return strncasecmp(type, "application/json", length) == 0 &&
	       strchr("; ", type[length]);
}

static int check_body_headers(struct mas_serve_request *r)
{
	struct server *s = server_of(r);
	const char *length = mas_serve_header(r, "Content-Length");
	char *end;

	if (length) {
		unsigned long long n = strtoull(length, &end, 10);
		if (*end == '\0' && n > s->shared.options->max_body) {
			mas_serve_fail(r, 413, MAS_ERR_INVALID_REQUEST, "body",
			               "the body is %llu bytes; %zu at most",
			               n, s->shared.options->max_body);
			return -1;
		}
	}
	if (!json_type(mas_serve_header(r, "Content-Type"))) {
		mas_serve_fail(r, 415, MAS_ERR_INVALID_REQUEST, "Content-Type",
		               "the body must be JSON: send Content-Type: "
		               "application/json");
		return -1;
	}
	return 0;
}

static void method_not_allowed(struct mas_serve_request *r)
{
	const struct mas_serve_route *route = r->route;
	char allow[32];

	snprintf(allow, sizeof(allow), "%s%s%s", route->get ? "GET, HEAD" : "",
	         route->get && route->post ? ", " : "",
	         route->post ? "POST" : "");
	mas_serve_add_header(r, "Allow", allow);
	mas_serve_fail(r, 405, MAS_ERR_INVALID_REQUEST, "method", "%s does "
	               "not take %s (it takes %s)", route->path, r->method,
	               allow);
}

/* Everything the headers tell; -1 when R is answered already. */
static int check_head(struct mas_serve_request *r)
{
	const struct mas_serve_key *key;

	if (!r->route) {
		mas_serve_fail(r, 404, MAS_ERR_NOT_FOUND, "path", "no such "
		               "endpoint: %s (see /openapi.json)", r->path);
		return -1;
	}
	if (!(is_get(r->method) && r->route->get) &&
	    !(strcmp(r->method, "POST") == 0 && r->route->post)) {
		method_not_allowed(r);
		return -1;
	}
	if (authorize(r, &key) || limit_rate(r, key))
		return -1;
	if (r->route->body && strcmp(r->method, "POST") == 0)
		return check_body_headers(r);
	return 0;
}

/* Stopping: a request on a connection still open is turned away. */
static int closing(struct mas_serve_request *r)
{
	struct server *s = server_of(r);
	int closing;

	pthread_mutex_lock(&s->pending_lock);
	closing = s->closing;
	pthread_mutex_unlock(&s->pending_lock);
	if (!closing)
		return 0;
	mas_serve_add_header(r, "Connection", "close");
	mas_serve_add_header(r, "Retry-After", "1");
	mas_serve_fail(r, 503, MAS_ERR_UPSTREAM_ERROR, NULL, "the server is "
	               "stopping");
	return 1;
}

/* ---- the body ---- */

static void take_body(struct mas_serve_request *r, const char *data,
                      size_t size)
{
	size_t max = server_of(r)->shared.options->max_body;

	if (r->too_large || r->length + size > max) {
		r->too_large = 1;
		return; /* read and dropped: answered 413 at the end */
	}
	if (r->length + size + 1 > r->capacity) {
		size_t capacity = (r->length + size + 1) * 2;
		char *grown;
		if (capacity > max + 1)
			capacity = max + 1;
		grown = realloc(r->body, capacity);
		if (!grown) {
			r->too_large = 1;
			return;
		}
		r->body = grown;
		r->capacity = capacity;
	}
	memcpy(r->body + r->length, data, size);
	r->length += size;
	r->body[r->length] = '\0';
}

static const char *kind_name(jv_kind kind)
{
	switch (kind) {
	case JV_KIND_ARRAY: return "an array";
	case JV_KIND_STRING: return "a string";
	case JV_KIND_NUMBER: return "a number";
	case JV_KIND_NULL: return "null";
	default: return "true or false";
	}
}

static int parse_body(struct mas_serve_request *r)
{
	size_t bad;
	jv value;

	if (r->too_large) {
		mas_serve_fail(r, 413, MAS_ERR_INVALID_REQUEST, "body", "the "
		               "body is larger than %zu bytes",
		               server_of(r)->shared.options->max_body);
		return -1;
	}
	if (r->length == 0) {
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "body", "the "
		               "body is empty; a JSON object is needed");
		return -1;
	}
	bad = mas_utf8_invalid_offset(r->body, r->length);
	if (bad < r->length) {
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "body", "the "
		               "body is not valid UTF-8 at byte %zu", bad + 1);
		return -1;
	}
	value = jv_parse_sized(r->body, (int)r->length);
	if (!jv_is_valid(value)) {
		jv message = jv_invalid_get_msg(value);
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "body", "the "
		               "body is not JSON: %s",
		               jv_get_kind(message) == JV_KIND_STRING ?
		               jv_string_value(message) : "parse error");
		jv_free(message);
		return -1;
	}
	if (jv_get_kind(value) != JV_KIND_OBJECT) {
		mas_serve_fail(r, 400, MAS_ERR_INVALID_REQUEST, "body", "the "
		               "body must be a JSON object, not %s",
		               kind_name(jv_get_kind(value)));
		jv_free(value);
		return -1;
	}
	r->record = value;
	return 0;
}

/* ---- queueing the answer ---- */

static void add_headers(struct MHD_Response *response, const char *lines)
{
	char name[128], value[512];

	for (const char *p = lines; p && *p;) {
		const char *colon = strchr(p, ':');
		const char *end = strchr(p, '\n');
		size_t n;

		if (!colon || !end || colon > end)
			break;
		n = (size_t)(colon - p);
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		colon += 2;
		snprintf(value, sizeof(value), "%.*s", (int)(end - colon),
		         colon);
		MHD_add_response_header(response, name, value);
		p = end + 1;
	}
}

static enum MHD_Result queue_reply(struct mas_serve_request *r)
{
	struct reply *reply = r->reply;
	struct MHD_Response *response;
	enum MHD_Result result;

	if (!reply)
		return MHD_NO; /* out of memory: close the connection */
	response = MHD_create_response_from_buffer(
		reply->length, reply->body, reply->is_static ?
		MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
	if (!response)
		return MHD_NO;
	reply->body = NULL; /* libmicrohttpd frees it now */
	MHD_add_response_header(response, "Content-Type", reply->type);
	add_headers(response, r->headers);
	add_headers(response, reply->headers);
	result = MHD_queue_response(r->connection, reply->status, response);
	MHD_destroy_response(response);
	r->status = reply->status;
	r->bytes = reply->length;
	r->queued = 1;
	return result;
}

/* The request is whole: check the body, call the handler, and answer
 * now or suspend. */
static enum MHD_Result handle(struct mas_serve_request *r)
{
	int post = strcmp(r->method, "POST") == 0;

	r->handled = 1;
	conn_deadline(r->server, r->connection, 0);
	if (!r->reply && r->route->body && post && parse_body(r))
		return queue_reply(r);
	if (!r->reply) {
		if (post)
			r->route->post(r);
		else
			r->route->get(r);
	}
	if (r->queued)
		return MHD_YES; /* an event stream */
	if (!r->pending)
		return queue_reply(r);
	pthread_mutex_lock(&r->lock);
	if (r->answered) {
		pthread_mutex_unlock(&r->lock);
		return queue_reply(r);
	}
	r->suspended = 1;
	MHD_suspend_connection(r->connection);
	pthread_mutex_unlock(&r->lock);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
	struct mas_serve_request *r = *con_cls;

	if (!r) {
		r = request_new(cls, c, url, method);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		if (closing(r) || check_head(r))
			return queue_reply(r);
		return MHD_YES;
	}
	if (*upload_size) {
		take_body(r, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->handled)
		return handle(r);
	if (r->queued)
		return MHD_YES;
	/* Resumed: the answer is there. */
	return queue_reply(r);
}

/* ---- after the answer: log, metrics, span ---- */

static void format_clf_time(time_t wall, char *text, size_t size)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&wall, &tm);
	snprintf(text, size, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday,
	         months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
}

/* One access log line: common log format, or a JSON object. */
static void access_log(struct server *s, struct mas_serve_request *r,
                       double seconds)
{
	char when[64], iso[MAS_CLOCK_ISO_SIZE];
	jv line;

	if (!s->access_log)
		return;
	if (!s->log_json) {
		format_clf_time(r->wall, when, sizeof(when));
		pthread_mutex_lock(&s->log_lock);
		fprintf(s->access_log, "%s - %s [%s] \"%s %s HTTP/1.1\" %u "
		        "%zu\n", r->remote, r->key[0] ? r->key : "-", when,
		        r->method, r->path, r->status, r->bytes);
		pthread_mutex_unlock(&s->log_lock);
		return;
	}
	mas_clock_format_iso((double)r->wall, iso);
	line = JV_OBJECT(jv_string("ts"), jv_string(iso),
	                 jv_string("level"), jv_string("info"),
	                 jv_string("program"), jv_string("mas-serve"),
	                 jv_string("remote"), jv_string(r->remote),
	                 jv_string("key"), r->key[0] ? jv_string(r->key)
	                                             : jv_null());
	line = jv_object_set(line, jv_string("method"), jv_string(r->method));
	line = jv_object_set(line, jv_string("path"), jv_string(r->path));
	line = jv_object_set(line, jv_string("status"), jv_number(r->status));
	line = jv_object_set(line, jv_string("bytes"),
	                     jv_number((double)r->bytes));
	line = jv_object_set(line, jv_string("duration_ms"),
	                     jv_number(round(seconds * 1e6) / 1e3));
	{
		size_t length;
		char *text = mas_json_dump_text(line, &length);
		pthread_mutex_lock(&s->log_lock);
		fprintf(s->access_log, "%s\n", text);
		pthread_mutex_unlock(&s->log_lock);
		free(text);
	}
}

static void count_request(struct server *s, struct mas_serve_request *r,
                          double seconds)
{
	char labels[256];
	const char *route = r->route ? r->route->path : "unmatched";

	snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\","
	         "status=\"%u\",key=\"%s\"", route, r->method, r->status,
	         r->key[0] ? r->key : "-");
	mas_metrics_count("mas_http_requests_total", "HTTP requests answered, "
	                  "by route, method, status and API key.", labels, 1);
	snprintf(labels, sizeof(labels), "route=\"%s\"", route);
	mas_metrics_observe("mas_http_request_duration_seconds", "Time from "
	                    "a request's headers to its answer, by route.",
	                    labels, seconds);
	pthread_mutex_lock(&s->shared.lock);
	s->shared.figures.requests++;
	s->shared.figures.client_errors += r->status >= 400 && r->status < 500;
	s->shared.figures.server_errors += r->status >= 500;
	s->shared.figures.seconds += seconds;
	pthread_mutex_unlock(&s->shared.lock);
}

static void end_span(struct mas_serve_request *r)
{
	if (!r->span)
		return;
	if (r->route)
		mas_span_set(r->span, "http.route",
		             jv_string(r->route->path));
	mas_span_set(r->span, "http.response.status_code",
	             jv_number(r->status));
	if (r->key[0])
		mas_span_set(r->span, "mas.api_key.name", jv_string(r->key));
	if (r->status >= 500)
		mas_span_fail(r->span, "server error");
	mas_span_end(r->span);
	r->span = NULL;
}

static void on_completed(void *cls, struct MHD_Connection *c,
                         void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
	struct server *s = cls;
	struct mas_serve_request *r = *con_cls;
	double seconds;

	if (!r)
		return;
	*con_cls = NULL;
	seconds = mas_clock_monotonic() - r->started;
	if (!r->status)
		r->status = 499; /* closed before an answer: nginx's word */
	access_log(s, r, seconds);
	count_request(s, r, seconds);
	end_span(r);
	if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		conn_deadline(s, c, s->shared.options->idle_timeout);
	unlist(r);
	pthread_mutex_lock(&r->lock);
	r->completed = 1;
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_lock(&s->pending_lock);
	s->open_requests--;
	pthread_mutex_unlock(&s->pending_lock);
	request_unref(r);
}

static void on_mhd_log(void *cls, const char *format, va_list ap)
{
	char text[512];
	size_t length;

	vsnprintf(text, sizeof(text), format, ap);
	length = strlen(text);
	while (length > 0 && text[length - 1] == '\n')
		text[--length] = '\0';
	mas_debug("libmicrohttpd: %s", text);
}

/* ---- starting ---- */

static int open_access_log(struct server *s, char **error)
{
	const char *where = s->shared.options->access_log;
	const char *format = mas_config_get(&s->shared.options->cli->config,
	                                    "log.format");

	s->log_json = format && strcmp(format, "json") == 0;
	if (!where || strcmp(where, "-") == 0) {
		s->access_log = stderr;
		return 0;
	}
	if (strcmp(where, "off") == 0)
		return 0;
	s->access_log = fopen(where, "ae");
	if (!s->access_log)
		return mas_error_set(error, "--access-log %s: %s", where,
		                     strerror(errno));
	setvbuf(s->access_log, NULL, _IOLBF, 0);
	return 0;
}

static int start_daemon(struct server *s, const struct sockaddr *address,
                        char **error)
{
	const struct mas_serve_options *o = s->shared.options;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	if (address->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s,
		MHD_OPTION_SOCK_ADDR, address,
		MHD_OPTION_THREAD_POOL_SIZE, o->threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ceil(o->idle_timeout),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16 * 1024,
		MHD_OPTION_CONNECTION_LIMIT, o->connections,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
		MHD_OPTION_END);
	if (!s->mhd)
		return mas_error_set(error, "cannot listen on %s: %s",
		                     o->listen, errno ? strerror(errno)
		                                      : "refused");
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	if (address->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		                      (const void *)address)->sin6_addr,
		          s->address, sizeof(s->address) - 16);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		                     (const void *)address)->sin_addr,
		          s->address, sizeof(s->address) - 16);
	snprintf(s->address + strlen(s->address), 16, ":%u",
	         info ? (unsigned)info->port : 0);
	return 0;
}

static void collect(void *data)
{
	struct server *s = data;
	size_t waiting = 0, running = 0;
	unsigned alive = 0;

	if (s->shared.pool)
		mas_serve_pool_figures(s->shared.pool, &waiting, &running,
		                       &alive);
	mas_metrics_set("mas_serve_queue_depth", "gauge", "Requests waiting "
	                "for a worker.", NULL, (double)waiting);
	mas_metrics_set("mas_serve_requests_in_flight", "gauge", "Requests "
	                "being answered by a worker.", NULL, (double)running);
	mas_metrics_set("mas_serve_workers", "gauge", "Request workers "
	                "alive.", NULL, alive);
	mas_metrics_set("mas_serve_uptime_seconds", "gauge", "Seconds since "
	                "the server started.", NULL,
	                mas_clock_monotonic() - s->shared.started);
	if (s->shared.tasks)
		jv_free(mas_serve_tasks_counts(s->shared.tasks));
}

/* Refuse what would be unsafe: keys readable by others; no keys on an
 * address others can reach. */
static int check_access(struct server *s, const struct sockaddr *address,
                        char **error)
{
	const struct mas_serve_options *o = s->shared.options;

	if (o->keys) {
		if (mas_serve_keys_load(&s->keys, o->keys, error))
			return -1;
		s->shared.keyed = 1;
		mas_info("%zu API key(s) from %s", s->keys.count, o->keys);
		return 0;
	}
	if (!is_loopback(address))
		return mas_error_set(error, "--listen %s: without a key file "
		                     "(--keys, serve.keys) the server runs "
		                     "open, so only on a loopback address",
		                     o->listen);
	mas_warn("no key file (--keys): the API is open to anyone on this "
	         "machine, and listens on loopback only");
	return 0;
}

static void fill_agents(struct server *s)
{
	const struct mas_serve_options *o = s->shared.options;
	struct mas_serve_agents_options *a = &s->shared.agents;

	a->cli = o->cli;
	a->engine = o->engine;
	a->flows_dir = o->flows_dir;
	a->flow_command = o->flow_command ? o->flow_command : "mas-flow";
	a->sessions = o->sessions;
}

static int start_work(struct server *s, int *status, char **error)
{
	const struct mas_serve_options *o = s->shared.options;
	struct mas_serve_tasks_options tasks = { 0 };
	int usage = 0;

	fill_agents(s);
	s->shared.pool = mas_serve_pool_start(&s->shared.agents, o->workers,
	                                      o->queue, error);
	if (!s->shared.pool) {
		*status = MAS_EXIT_TEMPFAIL;
		return -1;
	}
	tasks.cli = o->cli;
	tasks.bus_url = o->bus_url;
	tasks.workers = o->task_workers;
	tasks.timeout = o->task_timeout;
	tasks.queue = o->queue * 16;
	tasks.agents = &s->shared.agents;
	s->shared.tasks = mas_serve_tasks_start(&tasks, &usage, error);
	if (!s->shared.tasks) {
		*status = usage ? MAS_EXIT_USAGE : MAS_EXIT_TEMPFAIL;
		return -1;
	}
	return 0;
}

/* ---- stopping ---- */

static unsigned long open_requests(struct server *s)
{
	unsigned long open;

	pthread_mutex_lock(&s->pending_lock);
	open = s->open_requests;
	pthread_mutex_unlock(&s->pending_lock);
	return open;
}

/* Wait until no request is open, for at most SECONDS. */
static void drain(struct server *s, double seconds)
{
	double until = mas_clock_monotonic() + seconds;
	struct timespec pause = { 0, 20000000 };

	while (open_requests(s) > 0 && mas_clock_monotonic() < until)
		nanosleep(&pause, NULL);
}

static void stop_watch(struct server *s)
{
	pthread_mutex_lock(&s->pending_lock);
	s->stopping = 1;
	pthread_mutex_unlock(&s->pending_lock);
	if (s->watching)
		pthread_join(s->watch, NULL);
	s->watching = 0;
}

/*
 * No new connections, and new requests on open ones answered 503; the
 * requests in flight get the bound; then the watch, the workers and the
 * tasks stop, in that order, so that nothing reads what was freed.
 */
static void stop(struct server *s)
{
	const struct mas_serve_options *o = s->shared.options;
	double bound = o->shutdown_timeout;
	MHD_socket listener = MHD_INVALID_SOCKET;

	if (s->mhd) {
		mas_info("stopping: no new connections; finishing %lu "
		         "request(s)", open_requests(s));
		listener = MHD_quiesce_daemon(s->mhd);
	}
	pthread_mutex_lock(&s->pending_lock);
	s->closing = 1;
	pthread_mutex_unlock(&s->pending_lock);
	drain(s, bound);
	stop_watch(s);
	/* What is still pending is answered now. */
	expire_pending(s, mas_clock_monotonic(), 1);
	mas_serve_pool_stop(s->shared.pool, bound);
	mas_serve_tasks_stop(s->shared.tasks, bound);
	drain(s, 1);
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (listener != MHD_INVALID_SOCKET)
		close(listener);
}

/* SIGTERM and SIGINT write their number down a pipe the main thread
 * waits on: a handler works whichever thread the signal lands on
 * (threads made before main, such as a sanitizer's, do not block it). */
static int signal_pipe[2] = { -1, -1 };

static void on_signal(int number)
{
	unsigned char byte = (unsigned char)number;
	int saved = errno;

	if (write(signal_pipe[1], &byte, 1) < 0)
		_exit(MAS_EXIT_TEMPFAIL);
	errno = saved;
}

static int catch_signals(void)
{
	struct sigaction action = { 0 };

	if (pipe2(signal_pipe, O_CLOEXEC) != 0)
		return -1;
	action.sa_handler = on_signal;
	sigemptyset(&action.sa_mask);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	return 0;
}

static int wait_for_signal(void)
{
	unsigned char byte = 0;

	while (read(signal_pipe[0], &byte, 1) < 0 && errno == EINTR)
		;
	return byte;
}

static void release(struct server *s)
{
	mas_metrics_remove_collector(collect, s);
	mas_serve_keys_release(&s->keys);
	mas_ratelimit_free(s->limits);
	free(s->shared.health);
	if (s->checkpointing)
		mas_store_close(&s->checkpointer);
	if (s->access_log && s->access_log != stderr)
		fclose(s->access_log);
	pthread_mutex_destroy(&s->shared.lock);
}

struct mas_serve_server *mas_serve_start(
	const struct mas_serve_options *options, int *status)
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage address;
	char *error = NULL;

	*status = MAS_EXIT_TEMPFAIL;
	if (!s) {
		mas_error_log("out of memory");
		return NULL;
	}
	s->shared.options = options;
	*status = MAS_EXIT_USAGE;
	pthread_mutex_init(&s->shared.lock, NULL);
	pthread_mutex_init(&s->log_lock, NULL);
	pthread_mutex_init(&s->conns_lock, NULL);
	pthread_mutex_init(&s->pending_lock, NULL);
	s->shared.started = mas_clock_monotonic();
	s->shared.started_epoch = (double)mas_clock_epoch_ms() / 1000;
	s->limits = mas_ratelimit_new();
	/* a client gone before its answer is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	if (!s->limits ||
	    parse_listen(options->listen, &address, &error) ||
	    check_access(s, (struct sockaddr *)&address, &error) ||
	    open_access_log(s, &error))
		goto fail;
	mas_metrics_keep("mas-serve");
	mas_metrics_add_collector(collect, s);
	if (start_work(s, status, &error))
		goto fail;
	*status = MAS_EXIT_TEMPFAIL;
	if (start_daemon(s, (struct sockaddr *)&address, &error))
		goto fail;
	s->shared.daemon = s->mhd;
	mas_serve_refresh_health(&s->shared);
	s->checkpointing = mas_store_open_configured(&s->checkpointer,
		&options->cli->config, &error) == 0;
	free(error);
	error = NULL;
	s->watching = pthread_create(&s->watch, NULL, watch_main, s) == 0;
	mas_info("listening on http://%s/", s->address);
	*status = MAS_EXIT_OK;
	return (struct mas_serve_server *)s;
fail:
	mas_error_log("%s", error ? error : "cannot start");
	free(error);
	stop(s);
	release(s);
	free(s);
	return NULL;
}

int mas_serve_connect(struct mas_serve_server *server)
{
	struct server *s = (struct server *)server;
	struct sockaddr_in peer = { .sin_family = AF_INET };
	int fds[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
		return -1;
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* libmicrohttpd owns (and closes) its end, even on failure */
	if (MHD_add_connection(s->mhd, fds[1], (struct sockaddr *)&peer,
	                       sizeof(peer)) != MHD_YES) {
		close(fds[0]);
		return -1;
	}
	return fds[0];
}

void mas_serve_stop(struct mas_serve_server *server)
{
	struct server *s = (struct server *)server;

	if (!s)
		return;
	stop(s);
	release(s);
	free(s);
}

int mas_serve_main(const struct mas_serve_options *options)
{
	struct mas_serve_server *server;
	int status, received;

	if (catch_signals()) {
		mas_error_log("cannot catch signals: %s", strerror(errno));
		return MAS_EXIT_TEMPFAIL;
	}
	server = mas_serve_start(options, &status);
	if (!server)
		return status;
	received = wait_for_signal();
	mas_info("%s received", received == SIGINT ? "SIGINT" : "SIGTERM");
	mas_serve_stop(server);
	return MAS_EXIT_OK;
}
