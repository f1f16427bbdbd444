/*
 * route.c — dispatch records to co-process filters (see route.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "coprocess.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "route.h"
#include "utf8.h"
#include "banned.h"

/* Queued input pushed to the routes before the record loop waits: they
 * work while we parse, and a batch is still one write. */
enum { PUSH_BYTES = 1 << 16 };

/* Bytes of a bad answer quoted in its error. */
enum { SHOWN = 200 };

/* A record sent to a route, awaiting its answer. */
struct waiting {
	size_t ticket;
	jv id;               /* the record's "id", or jv_invalid() */
};

struct route {
	char *name;
	char *argv[4];       /* sh -c COMMAND */
	struct mas_coprocess child;
	struct waiting *queue; /* a ring, oldest at head */
	size_t head, tail, size;
	jv last_id;          /* of the record answered last */
	char *ended;         /* how it ended (malloc'd), NULL: running */
	unsigned long strays; /* lines for no record waiting */
};

struct mas_route_set {
	struct mas_expr *by;
	char *key;           /* BY's key when it is a plain ".key" */
	struct route **routes;
	struct mas_coprocess **children;
	int count;
	size_t queued;       /* bytes sent since the last push */
	double timeout;      /* seconds of silence that make a route hung */
	struct mas_run *run;
};

static char shell[] = "/bin/sh", dash_c[] = "-c";

static void *allocate(size_t size)
{
	void *p = calloc(1, size);

	if (!p)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	return p;
}

/* ".type", ".kind": a lookup libjq need not run for every record. */
static char *plain_key(const char *text)
{
	if (text[0] != '.' || !(text[1] == '_' ||
	                        (text[1] >= 'a' && text[1] <= 'z') ||
	                        (text[1] >= 'A' && text[1] <= 'Z')))
		return NULL;
	for (const char *p = text + 2; *p; p++)
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return NULL;
	return strdup(text + 1);
}

struct mas_route_set *mas_route_set_new(struct mas_expr *by,
                                        double timeout)
{
	struct mas_route_set *set = calloc(1, sizeof(*set));

	if (set) {
		set->by = by;
		set->key = plain_key(mas_expr_text(by));
		set->timeout = timeout > 0 ? timeout : MAS_ROUTE_TIMEOUT;
	}
	return set;
}

static struct route *find(struct mas_route_set *set, const char *name)
{
	for (int i = 0; i < set->count; i++)
		if (strcmp(set->routes[i]->name, name) == 0)
			return set->routes[i];
	return NULL;
}

static int fail(char **error, const char *message, const char *spec)
{
	if (asprintf(error, "--to '%s': %s", spec, message) < 0)
		*error = NULL;
	return -1;
}

static void route_free(struct route *route)
{
	for (size_t i = route->head; i < route->tail; i++)
		jv_free(route->queue[i & (route->size - 1)].id);
	mas_coprocess_release(&route->child);
	jv_free(route->last_id);
	free(route->name);
	free(route->argv[2]);
	free(route->queue);
	free(route->ended);
	free(route);
}

static struct route *route_new(const char *spec, const char *equals)
{
	struct route *route = allocate(sizeof(*route));

	route->name = strndup(spec, (size_t)(equals - spec));
	route->argv[0] = shell;
	route->argv[1] = dash_c;
	route->argv[2] = strdup(equals + 1);
	route->last_id = jv_invalid();
	if (!route->name || !route->argv[2])
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	mas_coprocess_init(&route->child, route->name, route->argv);
	return route;
}

static void append(struct mas_route_set *set, struct route *route)
{
	size_t n = (size_t)set->count + 1;
	struct route **routes = realloc(set->routes, n * sizeof(*routes));
	struct mas_coprocess **children = routes ?
		realloc(set->children, n * sizeof(*children)) : NULL;

	if (!children)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	set->routes = routes;
	set->children = children;
	routes[set->count] = route;
	children[set->count++] = &route->child;
}

int mas_route_add(struct mas_route_set *set, const char *spec,
                  char **error)
{
	const char *equals = strchr(spec, '=');
	struct route *route;
	char *message;

	*error = NULL;
	if (!equals || equals == spec || !equals[1])
		return fail(error, "not NAME=COMMAND", spec);
	route = route_new(spec, equals);
	if (find(set, route->name)) {
		route_free(route);
		return fail(error, "the name is given twice", spec);
	}
	if (mas_coprocess_start(&route->child, &message)) {
		fail(error, message ? message : "cannot start", spec);
		free(message);
		route_free(route);
		return -1;
	}
	append(set, route);
	return 0;
}

/* ---- answers ---- */

/* An error record for the record ID (consumed; invalid: it had none,
 * the error gets a new one, as the record loop's do) that ROUTE failed:
 * a broken filter stays broken, not worth a retry; one that hung may
 * pass another time. */
static jv route_error(const struct route *route, jv id, jv error)
{
	char fresh[MAS_ID_SIZE];

	jv code = jv_object_get(jv_copy(error), jv_string("code"));
	int hung = jv_get_kind(code) == JV_KIND_STRING &&
	           strcmp(jv_string_value(code), "TIMEOUT") == 0;

	jv_free(code);
	error = jv_object_set(error, jv_string("route"),
	                      jv_string(route->name));
	error = jv_object_set(error, jv_string("transient"),
	                      jv_bool(hung));
	if (!jv_is_valid(id)) {
		jv_free(id);
		mas_id_new(fresh);
		id = jv_string(fresh);
	}
	return JV_OBJECT(jv_string("id"), id, jv_string("error"), error);
}

static struct waiting *oldest(struct route *route)
{
	return &route->queue[route->head & (route->size - 1)];
}

/* The oldest record waiting on ROUTE gets RECORD (consumed). */
static void answer(struct mas_route_set *set, struct route *route,
                   jv record)
{
	struct waiting *w = oldest(route);

	route->head++;
	jv_free(route->last_id);
	route->last_id = w->id;
	mas_run_complete(set->run, w->ticket, record);
}

/* The oldest record waiting on ROUTE fails with ERROR (consumed). */
static void fail_oldest(struct mas_route_set *set, struct route *route,
                        jv error)
{
	jv id = jv_copy(oldest(route)->id);

	answer(set, route, route_error(route, id, error));
}

/* The oldest record waiting on ROUTE gets LINE (malloc'd here) as it
 * is, or with the record's id put back when WITH_ID. */
static void answer_line(struct mas_route_set *set, struct route *route,
                        const char *line, size_t length, int with_id)
{
	struct waiting *w = oldest(route);
	char *copy;

	if (with_id) {
		size_t id_length;
		char *id = mas_json_dump_text(jv_copy(w->id), &id_length);

		copy = mas_json_with_id(line, length, id, id_length, &length);
		free(id);
	} else {
		copy = malloc(length + 1);
		if (!copy)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		memcpy(copy, line, length + 1);
	}
	route->head++;
	jv_free(route->last_id);
	route->last_id = w->id;
	mas_run_complete_line(set->run, w->ticket, copy, length);
}

/* An answer's "id": its JSON text, and the value once needed. */
struct answer_id {
	const char *text;
	size_t length;
	jv value;            /* jv_invalid() until parsed */
};

/* Whether ANSWER is the id ID (borrowed).  The bytes the record was
 * sent with match at once; anything else (escapes, 1.0 for 1) is
 * compared as values. */
static int same_id(jv id, struct answer_id *answer)
{
	if (!jv_is_valid(id))
		return 0;
	if (jv_get_kind(id) == JV_KIND_STRING) {
		const char *text = jv_string_value(id);
		size_t n = (size_t)jv_string_length_bytes(jv_copy(id));

		if (answer->length == n + 2 &&
		    memcmp(answer->text + 1, text, n) == 0)
			return 1;
	}
	if (!jv_is_valid(answer->value)) {
		jv_free(answer->value);
		answer->value = jv_parse_sized(answer->text,
		                               (int)answer->length);
	}
	return mas_json_same_value(jv_copy(id), jv_copy(answer->value));
}

/* Where the record ANSWER names waits on ROUTE, behind the oldest; 0:
 * nowhere. */
static size_t waits_at(struct route *route, struct answer_id *answer)
{
	for (size_t i = route->head + 1; i < route->tail; i++)
		if (same_id(route->queue[i & (route->size - 1)].id, answer))
			return i - route->head;
	return 0;
}

static jv bad_line(const struct route *route, const char *what,
                   const char *line, size_t length)
{
	int shown = length > SHOWN ? SHOWN : (int)length;

	return mas_error(MAS_ERR_UPSTREAM_ERROR, "route %s %s: %.*s",
	                 route->name, what, shown, line);
}

/*
 * An answer LINE whose id is not the oldest waiting record's.  Matching
 * by id keeps one bad line from shifting every later answer: records it
 * skipped fail, a repeat of the answer just given is dropped, anything
 * else fails the oldest.  Returns whether LINE still answers the (new)
 * oldest record.
 */
static int resync(struct mas_route_set *set, struct route *route,
                  struct answer_id *id, const char *line,
                  size_t line_length)
{
	size_t skipped = waits_at(route, id);

	if (skipped) {
		while (skipped-- > 0)
			fail_oldest(set, route, mas_error(
				MAS_ERR_UPSTREAM_ERROR, "route %s gave no "
				"answer for this record (its next answer is "
				"for a later one)", route->name));
		return 1;
	}
	if (same_id(route->last_id, id)) {
		route->strays++;
		mas_warn("route %s: a second answer for record %.*s "
		         "dropped (one line out per line in)", route->name,
		         (int)id->length, id->text);
		return 0;
	}
	fail_oldest(set, route, bad_line(route, "answered for another "
	                                 "record (one line out per line "
	                                 "in, in order)", line,
	                                 line_length));
	return 0;
}

/* LINE (LENGTH bytes, NUL-terminated), which is not a plain JSON
 * object without an error: parse it to decide. */
static void answer_parsed(struct mas_route_set *set, struct route *route,
                          const char *line, size_t length)
{
	jv value = jv_parse_sized(line, (int)length);
	jv id;

	if (!jv_is_valid(value)) {
		jv_free(value);
		fail_oldest(set, route, bad_line(route, "answered a line that "
		                                 "is not JSON", line, length));
		return;
	}
	/* Other JSON values are answers too (mas-bus(1)'s example uses
	 * `jq .n`): only an object can name its record. */
	if (jv_get_kind(value) != JV_KIND_OBJECT) {
		answer(set, route, value);
		return;
	}
	id = jv_object_get(jv_copy(value), jv_string("id"));
	if (jv_is_valid(id) && jv_is_valid(oldest(route)->id) &&
	    !mas_json_same_value(jv_copy(id), jv_copy(oldest(route)->id))) {
		jv_free(value);
		value = route_error(route, jv_copy(oldest(route)->id),
		                    bad_line(route, "answered for another "
		                             "record (one line out per line "
		                             "in, in order)", line, length));
	} else if (!jv_is_valid(id) && jv_is_valid(oldest(route)->id)) {
		value = jv_object_set(value, jv_string("id"),
		                      jv_copy(oldest(route)->id));
	}
	jv_free(id);
	answer(set, route, value);
}

/* Whether LINE, scanned as SCAN, answers the oldest record waiting on
 * ROUTE, after putting right what an id says went wrong. */
static int in_step(struct mas_route_set *set, struct route *route,
                   const struct mas_json_scan *scan, const char *line,
                   size_t length)
{
	struct answer_id id = { scan->id, scan->id_length, jv_invalid() };
	int ok;

	if (!scan->id || !jv_is_valid(oldest(route)->id))
		return 1;
	ok = same_id(oldest(route)->id, &id) ||
	     resync(set, route, &id, line, length);
	jv_free(id.value);
	return ok;
}

static void take_line(struct mas_route_set *set, struct route *route,
                      const char *line, size_t length)
{
	struct mas_json_scan scan;
	int scanned;

	if (route->head == route->tail) {
		route->strays++;
		mas_warn("route %s: a line for no record dropped: %.*s",
		         route->name, length > SHOWN ? SHOWN : (int)length,
		         line);
		return;
	}
	scanned = mas_json_scan_object(line, length, &scan);

	if (scanned && !in_step(set, route, &scan, line, length))
		return;
	/* An error must be counted by the record loop, and bad UTF-8
	 * mended as libjq does: both parse. */
	if (scanned && !scan.has_error &&
	    mas_utf8_invalid_offset(line, length) == length)
		answer_line(set, route, line, length,
		            !scan.id && jv_is_valid(oldest(route)->id));
	else
		answer_parsed(set, route, line, length);
}

/* ROUTE's output ended: what it still owes becomes errors, and so does
 * every record sent to it later. */
static void route_ended(struct mas_route_set *set, struct route *route)
{
	char how[64];

	mas_coprocess_describe(mas_coprocess_stop(&route->child, 0), how,
	                       sizeof(how));
	route->ended = strdup(how);
	if (!route->ended)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	if (route->head < route->tail)
		mas_warn("route %s %s, owing %zu answers", route->name, how,
		         route->tail - route->head);
	while (route->head < route->tail)
		fail_oldest(set, route, mas_error(MAS_ERR_UPSTREAM_ERROR,
		                                  "route %s %s without "
		                                  "answering", route->name,
		                                  how));
}

/* ROUTE owed answers and said nothing for the set's timeout: it is
 * killed with what it started, and what it owed fails with TIMEOUT, a
 * transient failure (exit 75 when nothing else failed). */
static void route_timed_out(struct mas_route_set *set, struct route *route)
{
	mas_coprocess_stop(&route->child, 1);
	if (asprintf(&route->ended, "gave no answer within %g s and was "
	             "killed", set->timeout) < 0)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	mas_warn("route %s %s, owing %zu answers", route->name, route->ended,
	         route->tail - route->head);
	while (route->head < route->tail) {
		jv error = mas_error(MAS_ERR_TIMEOUT, "route %s %s",
		                     route->name, route->ended);
		jv id = jv_copy(oldest(route)->id);

		answer(set, route, route_error(route, id, error));
	}
}

/* Every answer the routes have given, and the routes that ended. */
static void collect(struct mas_route_set *set)
{
	for (int i = 0; i < set->count; i++) {
		struct route *route = set->routes[i];
		char *line;
		size_t length;

		if (route->ended)
			continue;
		for (line = mas_coprocess_line(&route->child, &length); line;
		     line = mas_coprocess_line(&route->child, &length))
			take_line(set, route, line, length);
		if (mas_coprocess_ended(&route->child))
			route_ended(set, route);
	}
}

/* ---- records ---- */

static void enqueue(struct route *route, size_t ticket, jv id)
{
	if (route->tail - route->head == route->size) {
		size_t size = route->size ? route->size * 2 : 256;
		struct waiting *queue = allocate(size * sizeof(*queue));

		for (size_t i = route->head; i < route->tail; i++)
			queue[i & (size - 1)] =
				route->queue[i & (route->size - 1)];
		free(route->queue);
		route->queue = queue;
		route->size = size;
	}
	route->queue[route->tail++ & (route->size - 1)] =
		(struct waiting){ ticket, id };
}

static void send_record(struct mas_route_set *set, struct route *route,
                        jv record)
{
	jv id = jv_object_get(jv_copy(record), jv_string("id"));
	size_t length;
	char *text;

	if (route->ended) {
		mas_run_emit(set->run, route_error(route, id, mas_error(
			MAS_ERR_UPSTREAM_ERROR, "route %s %s", route->name,
			route->ended)));
		jv_free(record);
		return;
	}
	text = mas_json_dump_text(record, &length);
	mas_coprocess_send(&route->child, text, length);
	free(text);
	enqueue(route, mas_run_defer(set->run), id);
	set->queued += length + 1;
	if (set->queued >= PUSH_BYTES) {
		set->queued = 0;
		mas_coprocess_poll(set->children, (size_t)set->count, -1, 0);
		collect(set);
	}
}

/* The route name the --by expression gives RECORD (borrowed). */
static jv route_name(struct mas_route_set *set, jv record)
{
	if (set->key)
		return jv_object_get(jv_copy(record), jv_string(set->key));
	return mas_expr_first(set->by, jv_copy(record));
}

static jv by_failed(struct mas_route_set *set, jv message)
{
	jv error = mas_error(MAS_ERR_INVALID_REQUEST, "--by '%s': %s",
	                     mas_expr_text(set->by),
	                     jv_string_value(message));

	jv_free(message);
	return error;
}

static jv no_route(struct mas_route_set *set, jv name)
{
	jv error;

	if (jv_get_kind(name) == JV_KIND_STRING)
		error = mas_error(MAS_ERR_INVALID_REQUEST, "no route named "
		                  "'%s'", jv_string_value(name));
	else if (!jv_is_valid(name) && jv_invalid_has_msg(jv_copy(name)))
		return by_failed(set, jv_invalid_get_msg(name));
	else
		error = mas_error(MAS_ERR_INVALID_REQUEST, "--by '%s' gave "
		                  "no route name", mas_expr_text(set->by));
	jv_free(name);
	return error;
}

void mas_route_each(struct mas_run *run, jv record, void *data)
{
	struct mas_route_set *set = data;
	jv name = route_name(set, record);
	struct route *route = NULL;
	jv made, error;

	set->run = run;
	if (jv_get_kind(name) == JV_KIND_STRING)
		route = find(set, jv_string_value(name));
	if (route) {
		jv_free(name);
		send_record(set, route, record);
		return;
	}
	/* The record itself, every field kept, with where it came from. */
	made = mas_run_error_record(run, no_route(set, name));
	error = jv_object_get(made, jv_string("error"));
	mas_run_emit(run, jv_object_set(record, jv_string("error"), error));
}

/* TIMEOUT_MS cut to when the first route that owes answers would have
 * been silent too long; routes already past it are timed out. */
static int watch_silence(struct mas_route_set *set, int timeout_ms)
{
	double now = mas_clock_monotonic();

	for (int i = 0; i < set->count; i++) {
		struct route *route = set->routes[i];
		double silent, left;
		int ms;

		if (route->ended || route->head == route->tail)
			continue;
		silent = mas_coprocess_silent(&route->child, now);
		left = set->timeout - silent;
		if (left <= 0) {
			route_timed_out(set, route);
			continue;
		}
		ms = (int)(left * 1e3) + 1;
		if (timeout_ms < 0 || ms < timeout_ms)
			timeout_ms = ms;
	}
	return timeout_ms;
}

void mas_route_wait(struct mas_run *run, int timeout_ms, int fd,
                    void *data)
{
	struct mas_route_set *set = data;

	set->run = run;
	set->queued = 0;
	timeout_ms = watch_silence(set, timeout_ms);
	mas_coprocess_poll(set->children, (size_t)set->count, fd,
	                   timeout_ms);
	collect(set);
	watch_silence(set, 0);
}

void mas_route_input_end(struct mas_run *run, void *data)
{
	struct mas_route_set *set = data;

	set->run = run;
	for (int i = 0; i < set->count; i++)
		if (!set->routes[i]->ended)
			mas_coprocess_close_input(&set->routes[i]->child);
}

int mas_route_set_free(struct mas_route_set *set)
{
	int failed = 0;

	if (!set)
		return 0;
	for (int i = 0; i < set->count; i++) {
		struct route *route = set->routes[i];
		/* a child that ignores end of file is given the silence
		 * bound to exit, then killed: it cannot hold route */
		int status = mas_coprocess_finish(&route->child, set->timeout);

		failed += status != 0 || route->strays > 0;
		route_free(route);
	}
	free(set->routes);
	free(set->children);
	free(set->key);
	free(set);
	return failed;
}
