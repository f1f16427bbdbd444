/*
 * route.c — dispatch records to co-process filters (see route.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mas.h"
#include "route.h"
#include "banned.h"

#define MAX_ROUTES 64

struct route {
	char *name;
	pid_t pid;
	int in, out;         /* our ends; -1 once closed */
	char *buf;           /* unread output */
	size_t len, cap;
	size_t *tickets;     /* output places awaiting its answers, FIFO */
	size_t head, count, size;
};

struct mas_route_set {
	struct mas_expr *by;
	struct route routes[MAX_ROUTES];
	int count;
	struct mas_run *run;
};

static int fail(char **error, const char *message, const char *spec)
{
	if (asprintf(error, "--to '%s': %s", spec, message) < 0)
		*error = NULL;
	return -1;
}

struct mas_route_set *mas_route_set_new(struct mas_expr *by)
{
	struct mas_route_set *set = calloc(1, sizeof(*set));

	if (set)
		set->by = by;
	return set;
}

static struct route *find(struct mas_route_set *set, const char *name)
{
	for (int i = 0; i < set->count; i++)
		if (strcmp(set->routes[i].name, name) == 0)
			return &set->routes[i];
	return NULL;
}

static int start(struct route *route, const char *command)
{
	int to[2], from[2];

	if (pipe2(to, O_CLOEXEC))
		return -1;
	if (pipe2(from, O_CLOEXEC)) {
		close(to[0]);
		close(to[1]);
		return -1;
	}
	route->pid = fork();
	if (route->pid == 0) {
		dup2(to[0], STDIN_FILENO);
		dup2(from[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	route->in = to[1];
	route->out = from[0];
	/* Non-blocking: a full pipe means "read the answers first". */
	fcntl(route->in, F_SETFL, fcntl(route->in, F_GETFL) | O_NONBLOCK);
	return route->pid < 0 ? -1 : 0;
}

int mas_route_add(struct mas_route_set *set, const char *spec,
                  char **error)
{
	const char *equals = strchr(spec, '=');
	struct route *route;

	*error = NULL;
	if (!equals || equals == spec || !equals[1])
		return fail(error, "not NAME=COMMAND", spec);
	if (set->count == MAX_ROUTES)
		return fail(error, "too many routes", spec);
	route = &set->routes[set->count];
	memset(route, 0, sizeof(*route));
	route->name = strndup(spec, (size_t)(equals - spec));
	if (!route->name)
		return fail(error, "out of memory", spec);
	if (find(set, route->name)) {
		free(route->name);
		return fail(error, "the name is given twice", spec);
	}
	if (start(route, equals + 1)) {
		free(route->name);
		return fail(error, strerror(errno), spec);
	}
	set->count++;
	return 0;
}

static jv route_error(const struct route *route, const char *what)
{
	jv error = mas_error(MAS_ERR_UPSTREAM_ERROR, "route %s: %s",
	                     route->name, what);

	error = jv_object_set(error, jv_string("route"),
	                      jv_string(route->name));
	/* A broken filter stays broken: not worth a retry by cron. */
	error = jv_object_set(error, jv_string("transient"), jv_false());
	return jv_object_set(jv_object(), jv_string("error"), error);
}

/* Fill the oldest place waiting on ROUTE with RECORD (consumed). */
static void answer(struct mas_route_set *set, struct route *route,
                   jv record)
{
	if (route->head == route->count) {
		jv_free(record); /* an answer nobody asked for */
		return;
	}
	mas_run_complete(set->run, route->tickets[route->head++], record);
	if (route->head == route->count)
		route->head = route->count = 0;
}

/* The route's output ended: whatever it still owes becomes errors. */
static void route_ended(struct mas_route_set *set, struct route *route)
{
	close(route->out);
	route->out = -1;
	if (route->in >= 0)
		close(route->in);
	route->in = -1;
	while (route->head < route->count)
		answer(set, route, route_error(route, "ended without an "
		                               "answer"));
}

static void take_lines(struct mas_route_set *set, struct route *route)
{
	char *start = route->buf, *end = route->buf + route->len, *newline;

	while ((newline = memchr(start, '\n', (size_t)(end - start)))) {
		jv record;

		*newline = '\0';
		record = jv_parse(start);
		if (!jv_is_valid(record)) {
			jv_free(record);
			record = route_error(route, "answered a line that is "
			                     "not JSON");
		}
		answer(set, route, record);
		start = newline + 1;
	}
	route->len = (size_t)(end - start);
	memmove(route->buf, start, route->len);
}

static void read_route(struct mas_route_set *set, struct route *route)
{
	ssize_t got;

	if (route->cap - route->len < 65536) {
		size_t cap = route->cap * 2 + 65536;
		char *buf = realloc(route->buf, cap);

		if (!buf)
			return;
		route->buf = buf;
		route->cap = cap;
	}
	got = read(route->out, route->buf + route->len,
	           route->cap - route->len);
	if (got > 0) {
		route->len += (size_t)got;
		take_lines(set, route);
	} else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
		route_ended(set, route);
	}
}

/* Read what the routes have answered, waiting at most TIMEOUT_MS for
 * something to happen: an answer, FD readable, or WRITER (-1: none)
 * writable. */
static void pump(struct mas_route_set *set, int timeout_ms, int fd,
                 int writer)
{
	struct pollfd polls[MAX_ROUTES + 2];
	int n = 0;

	for (int i = 0; i < set->count; i++) {
		polls[n].fd = set->routes[i].out;
		polls[n++].events = POLLIN;
	}
	polls[n].fd = fd;
	polls[n++].events = POLLIN;
	polls[n].fd = writer;
	polls[n++].events = POLLOUT;
	if (poll(polls, (nfds_t)n, timeout_ms) <= 0)
		return;
	for (int i = 0; i < set->count; i++)
		if (set->routes[i].out >= 0 && polls[i].revents)
			read_route(set, &set->routes[i]);
}

/*
 * write(2) to a route with SIGPIPE held back: a route that died must
 * give EPIPE here, not end mas-bus, while SIGPIPE keeps its default for
 * stdout (so `| head` still ends the program quietly).
 */
static ssize_t write_route(int fd, const char *text, size_t len)
{
	sigset_t pipe_only, old;
	struct timespec now = { 0, 0 };
	ssize_t put;
	int saved;

	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
	put = write(fd, text, len);
	saved = errno;
	if (put < 0 && errno == EPIPE)
		sigtimedwait(&pipe_only, NULL, &now); /* drop it */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return put;
}

static int write_all(struct mas_route_set *set, struct route *route,
                     const char *text, size_t len)
{
	while (len > 0 && route->in >= 0) {
		ssize_t put = write_route(route->in, text, len);

		if (put > 0) {
			text += put;
			len -= (size_t)put;
		} else if (put < 0 && errno == EAGAIN) {
			pump(set, -1, -1, route->in);
		} else if (errno != EINTR) {
			return -1;
		}
	}
	return len == 0 ? 0 : -1;
}

static void defer(struct mas_route_set *set, struct route *route)
{
	if (route->count == route->size) {
		size_t size = route->size ? route->size * 2 : 256;
		size_t *tickets = realloc(route->tickets,
		                          size * sizeof(*tickets));

		if (!tickets)
			abort();
		route->tickets = tickets;
		route->size = size;
	}
	route->tickets[route->count++] = mas_run_defer(set->run);
}

static void send_record(struct mas_route_set *set, struct route *route,
                        jv record)
{
	jv line = jv_string_append_str(jv_dump_string(record, 0), "\n");

	defer(set, route);
	if (route->in < 0 ||
	    write_all(set, route, jv_string_value(line),
	              (size_t)jv_string_length_bytes(jv_copy(line))))
		answer(set, route, route_error(route, "does not take "
		                               "input"));
	jv_free(line);
}

void mas_route_each(struct mas_run *run, jv record, void *data)
{
	struct mas_route_set *set = data;
	jv name = mas_expr_first(set->by, jv_copy(record));
	struct route *route = NULL;

	set->run = run;
	if (jv_get_kind(name) == JV_KIND_STRING)
		route = find(set, jv_string_value(name));
	if (route) {
		send_record(set, route, record);
	} else {
		jv error = jv_get_kind(name) == JV_KIND_STRING ?
			mas_error(MAS_ERR_INVALID_REQUEST, "no route named "
			          "'%s'", jv_string_value(name)) :
			mas_error(MAS_ERR_INVALID_REQUEST, "--by '%s' gave "
			          "no route name", mas_expr_text(set->by));

		jv_free(record);
		mas_run_emit(run, mas_run_error_record(run, error));
	}
	jv_free(name);
}

void mas_route_wait(struct mas_run *run, int timeout_ms, int fd,
                    void *data)
{
	struct mas_route_set *set = data;

	set->run = run;
	pump(set, timeout_ms, fd, -1);
}

int mas_route_set_free(struct mas_route_set *set)
{
	int failed = 0;

	if (!set)
		return 0;
	for (int i = 0; i < set->count; i++) {
		struct route *route = &set->routes[i];
		int status = 0;

		if (route->in >= 0)
			close(route->in);
		if (route->out >= 0)
			close(route->out);
		waitpid(route->pid, &status, 0);
		failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		free(route->name);
		free(route->buf);
		free(route->tickets);
	}
	free(set);
	return failed;
}
