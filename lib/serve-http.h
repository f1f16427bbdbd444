/*
 * serve-http.h — what mas-serve's endpoints (serve-api.c) get from the
 * daemon (serve.c): the request as read, and ways to answer it.
 *
 * serve.c reads a request whole, checks it (route, method, key, rate,
 * size, content type, UTF-8, JSON) and only then calls the route's
 * handler with a request whose body, if the route takes one, is a JSON
 * object.  A handler answers at once (mas_serve_reply...), or starts
 * work elsewhere and returns after mas_serve_pending: the connection is
 * then suspended, to be resumed by exactly one mas_serve_later...
 * call from any thread, or by the watch thread answering 504 when the
 * request's time is up (what comes later is then dropped).
 *
 * Envelopes are the original API's:
 *	{"status":"success","data":DATA[,"message":M],"timestamp":T}
 *	{"status":"error","error":{"code":C,"message":M,"details":
 *	 {"field":F,"issue":I}},"timestamp":T}
 */
#ifndef MAS_SERVE_HTTP_H
#define MAS_SERVE_HTTP_H

#include <stddef.h>

#include <jv.h>

#include <pthread.h>

#include "mas.h"
#include "serve.h"
#include "serve-agents.h"
#include "serve-pool.h"
#include "serve-tasks.h"

struct mas_serve_request;   /* one request */

/* What the endpoints share, read-only once serving but for FIGURES. */
struct mas_serve {
	const struct mas_serve_options *options;
	struct mas_serve_agents_options agents;
	struct mas_serve_pool *pool;
	struct mas_serve_tasks *tasks;
	int keyed;                /* 0: no key file, open on loopback */
	double started;           /* monotonic seconds */
	double started_epoch;
	/* Figures for /metrics' JSON shape, under LOCK. */
	pthread_mutex_t lock;
	struct {
		unsigned long requests, client_errors, server_errors;
		double seconds;   /* total time answering */
		unsigned long records[MAS_SERVE_AGENT_COUNT + 1];
		unsigned long failed[MAS_SERVE_AGENT_COUNT + 1];
	} figures;
	void *daemon;             /* serve.c's */
	/* /health's answer, made a few times a second by the watch
	 * thread (mas_serve_refresh_health), under LOCK: a load
	 * balancer's many probes cost a copy, not a look at every
	 * component. */
	char *health;
	size_t health_length;
	int health_down;
};

/* Make /health's answer again (serve-api.c); any thread. */
void mas_serve_refresh_health(struct mas_serve *s);

/*
 * The route table (serve-api.c), ended by a NULL path.  PATH is exact
 * or ends in one variable segment ("/tasks/{id}"); KEY_ROUTE is the
 * route name an API key must be allowed (serve-keys.h), NULL for a
 * public route; BODY says a POST takes a JSON object.  A method without
 * a handler is answered 405.  The console's files are not rows: see
 * mas_serve_www_route.
 */
struct mas_serve_route {
	const char *path;
	const char *key_route;
	int body;
	void (*get)(struct mas_serve_request *r);
	void (*post)(struct mas_serve_request *r);
};

extern const struct mas_serve_route mas_serve_routes[];

/* The console's files (serve-www.h): the route of a GET or HEAD whose
 * path is none of the table's, so an API path never names a file. */
extern const struct mas_serve_route mas_serve_www_route;

/* ---- reading ---- */

/* The request's path, decoded, without its query. */
const char *mas_serve_path(const struct mas_serve_request *r);

/* The path's variable part, "{id}" or "{name}", or NULL. */
const char *mas_serve_param(const struct mas_serve_request *r);

/* Query argument NAME, a request header NAME, or NULL. */
const char *mas_serve_query(struct mas_serve_request *r, const char *name);
const char *mas_serve_header(struct mas_serve_request *r, const char *name);

/* Whether the client's Accept header names TYPE. */
int mas_serve_accepts(struct mas_serve_request *r, const char *type);

/*
 * The body, a JSON object, for routes that take one, moved out of the
 * request (a second call gives jv_invalid()).  libjq counts references
 * without atomics, so a value handed to another thread must have no
 * other holder: read its fields, free what was read, then hand it on.
 */
jv mas_serve_take_body(struct mas_serve_request *r);

/* This request's span as a W3C traceparent, or NULL when not tracing. */
const char *mas_serve_traceparent(const struct mas_serve_request *r);

/* The server the request came to. */
struct mas_serve *mas_serve_of(const struct mas_serve_request *r);

/* ---- answering now ---- */

/* BODY (malloc'd, LENGTH bytes, consumed) of content type TYPE. */
void mas_serve_reply(struct mas_serve_request *r, unsigned status,
                     const char *type, char *body, size_t length);

/* A body that outlives the server (borrowed). */
void mas_serve_reply_static(struct mas_serve_request *r, unsigned status,
                            const char *type, const char *body,
                            size_t length);

/* The success envelope around DATA (consumed), with MESSAGE (NULL: none). */
void mas_serve_reply_data(struct mas_serve_request *r, unsigned status,
                          jv data, const char *message);

/* The error envelope for ERROR (consumed: {"code","message"[,"field"]}),
 * with STATUS, or with the status its code maps to when 0. */
void mas_serve_reply_error(struct mas_serve_request *r, unsigned status,
                           jv error);

/* An error envelope made here: CODE, the FIELD it is about (NULL: none)
 * and a message formatted printf-style. */
void mas_serve_fail(struct mas_serve_request *r, unsigned status,
                    enum mas_error_code code, const char *field,
                    const char *format, ...)
	__attribute__((format(printf, 5, 6)));

/* Add a response header (both copied); before the answer is made. */
void mas_serve_add_header(struct mas_serve_request *r, const char *name,
                          const char *value);

/* The status an error code maps to: 400, 401, 403, 404, 429, 504, 503
 * (UPSTREAM_ERROR) or 500. */
unsigned mas_serve_status_of(const char *code);

/* ---- answering later ---- */

/* The handler starts work that answers later: call this first, then
 * exactly one mas_serve_later... call must follow (from any thread), or
 * mas_serve_unpend when the work could not be started. */
void mas_serve_pending(struct mas_serve_request *r);
void mas_serve_unpend(struct mas_serve_request *r);

/* mas_serve_reply_data and mas_serve_reply_error for a pending request,
 * from any thread; an answer after the request was answered 504 is
 * dropped.  Header lines in HEADERS ("Name: value\n", NULL: none) are
 * added. */
void mas_serve_later_data(struct mas_serve_request *r, unsigned status,
                          jv data, const char *message, const char *headers);
void mas_serve_later_error(struct mas_serve_request *r, unsigned status,
                           jv error);

/*
 * Run RECORD (consumed) through agent KIND (or flow FLOW) on a request
 * worker, the request pending meanwhile: answered with the agent's
 * result in the success envelope, or its error.  With STREAM the
 * answer is Server-Sent Events (text/event-stream) sent as the reply
 * comes: "delta" events with a model's text, then one "result" event
 * holding the envelope (the embedded engine sends that one only).  The
 * request is answered 503 at once when the workers' queue is full.
 */
void mas_serve_run(struct mas_serve_request *r, enum mas_serve_agent kind,
                   const char *flow, jv record, int stream);

/* The flows of the flows folder, listed on a request worker. */
void mas_serve_list_flows(struct mas_serve_request *r);

#endif
