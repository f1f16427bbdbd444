/*
 * flow-run.c — walking records through a flow (mas-flow(1) run).
 *
 * One record at a time: each node step finishes before the next begins,
 * which keeps order trivially.  A run node's command is a co-process,
 * started once and fed one line per record; it must answer each line
 * with one line and flush it (jq --unbuffered, sed -u, any mas program).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analyze.h"
#include "expr.h"
#include "flow-store.h"
#include "flow.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "trace.h"

#include "banned.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void child_exec(struct mas_flow_node *node, int input, int output)
{
	if (dup2(input, 0) < 0 || dup2(output, 1) < 0)
		_exit(127);
	/* the other ends were opened close-on-exec */
	execvp(node->argv[0], node->argv);
	fprintf(stderr, "mas-flow: node '%s': %s: %s\n", node->name,
	        node->argv[0], strerror(errno));
	_exit(127);
}

/*
 * The child's stdin is a socket so that writing to a child that died
 * fails with EPIPE (send's MSG_NOSIGNAL) rather than killing mas-flow.
 */
static jv start(struct mas_flow_node *node)
{
	int input[2], output[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, input) != 0)
		return mas_fail(MAS_ERR_INTERNAL, "socketpair: %s",
		                strerror(errno));
	if (pipe2(output, O_CLOEXEC) != 0) {
		close(input[0]);
		close(input[1]);
		return mas_fail(MAS_ERR_INTERNAL, "pipe: %s", strerror(errno));
	}
	fflush(stdout);
	node->pid = fork();
	if (node->pid == 0)
		child_exec(node, input[1], output[1]);
	close(input[1]);
	close(output[1]);
	if (node->pid < 0) {
		node->pid = 0;
		close(input[0]);
		close(output[0]);
		return mas_fail(MAS_ERR_INTERNAL, "fork: %s", strerror(errno));
	}
	node->to_child = input[0];
	node->from_child = output[0];
	node->buffered = 0;
	return jv_true();
}

/*
 * A broken filter stays broken when the run is tried again later, so
 * its errors are not transient (the run exits 1, not 75).
 */
static jv permanent(jv error)
{
	error = jv_object_set(error, jv_string("transient"), jv_false());
	return jv_invalid_with_msg(error);
}

/* How the child ended, for the message, once it has been reaped. */
static void describe_status(int status, char *text, size_t size)
{
	if (WIFEXITED(status))
		snprintf(text, size, "exited with status %d",
		         WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(text, size, "was killed by signal %d",
		         WTERMSIG(status));
	else
		snprintf(text, size, "stopped");
}

void mas_flow_node_stop(struct mas_flow_node *node)
{
	int status;

	if (!node || node->pid <= 0)
		return;
	close(node->to_child);
	close(node->from_child);
	node->to_child = node->from_child = -1;
	while (waitpid(node->pid, &status, 0) < 0 && errno == EINTR)
		;
	node->pid = 0;
}

/* The child died (EOF or a failed write): reap it and say how, so the
 * next record starts a fresh one. */
static jv died(struct mas_flow_node *node)
{
	char how[64];
	int status = 0;

	close(node->to_child);
	close(node->from_child);
	node->to_child = node->from_child = -1;
	while (waitpid(node->pid, &status, 0) < 0 && errno == EINTR)
		;
	node->pid = 0;
	describe_status(status, how, sizeof(how));
	return permanent(mas_error(MAS_ERR_UPSTREAM_ERROR, "node '%s': "
	                           "command '%s' %s", node->name,
	                           node->argv[0], how));
}

/* A child that took too long is killed: it may hold half an answer,
 * and the next record must not read it.  The next use restarts it. */
static jv timed_out(struct mas_flow_node *node)
{
	kill(node->pid, SIGKILL);
	jv_free(died(node));
	return mas_fail(MAS_ERR_TIMEOUT, "node '%s': command '%s' gave no "
	                "answer within %g s", node->name, node->argv[0],
	                node->timeout);
}

static int send_all(int fd, const char *data, size_t length)
{
	while (length > 0) {
		ssize_t n = send(fd, data, length, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		length -= (size_t)n;
	}
	return 0;
}

/* Wait for the child's output until DEADLINE (ms, 0: none); 0 when
 * it timed out. */
static int wait_readable(struct mas_flow_node *node, double deadline)
{
	struct pollfd fd = { node->from_child, POLLIN, 0 };
	int left, n;

	if (deadline <= 0)
		return 1;
	do {
		left = (int)(deadline - now_ms());
		if (left < 0)
			return 0;
		n = poll(&fd, 1, left + 1);
	} while (n < 0 && errno == EINTR);
	return n != 0;
}

/* Read from the child until a whole line is buffered; its length
 * (without the newline), -1 at EOF or error, -2 past DEADLINE. */
static ssize_t read_line(struct mas_flow_node *node, double deadline)
{
	for (;;) {
		/* memchr must not see the NULL buffer of a fresh node */
		char *newline = node->buffered ?
		                memchr(node->buffer, '\n', node->buffered) :
		                NULL;
		ssize_t n;

		if (newline)
			return newline - node->buffer;
		if (!wait_readable(node, deadline))
			return -2;
		if (node->capacity - node->buffered < 4096) {
			size_t more = node->capacity * 2 + 65536;
			char *buffer = realloc(node->buffer, more);

			if (!buffer)
				return -1;
			node->buffer = buffer;
			node->capacity = more;
		}
		n = read(node->from_child, node->buffer + node->buffered,
		         node->capacity - node->buffered);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		node->buffered += (size_t)n;
	}
}

/* Take the line read_line found (LENGTH bytes) out of the buffer as a
 * parsed value. */
static jv take_line(struct mas_flow_node *node, size_t length)
{
	jv value = jv_parse_sized(node->buffer, (int)length);

	if (!jv_is_valid(value)) {
		jv message = jv_invalid_get_msg(value);
		int shown = length > 200 ? 200 : (int)length;

		value = permanent(mas_error(MAS_ERR_UPSTREAM_ERROR, "node "
		                  "'%s': command '%s' wrote a line that is "
		                  "not JSON (%s): %.*s", node->name,
		                  node->argv[0],
		                  jv_get_kind(message) == JV_KIND_STRING ?
		                  jv_string_value(message) : "?", shown,
		                  node->buffer));
		jv_free(message);
	}
	node->buffered -= length + 1;
	memmove(node->buffer, node->buffer + length + 1, node->buffered);
	return value;
}

static jv step_run(struct mas_flow_node *node, jv state)
{
	jv line;
	ssize_t length;

	if (node->pid == 0) {
		jv started = start(node);

		if (!jv_is_valid(started)) {
			jv_free(state);
			return started;
		}
	}
	line = jv_dump_string(state, 0);
	line = jv_string_append_str(line, "\n");
	if (send_all(node->to_child, jv_string_value(line),
	             (size_t)jv_string_length_bytes(jv_copy(line))) != 0) {
		jv_free(line);
		return died(node);
	}
	jv_free(line);
	length = read_line(node, node->timeout > 0 ?
	                   now_ms() + node->timeout * 1e3 : 0);
	if (length == -2)
		return timed_out(node);
	if (length < 0)
		return died(node);
	return take_line(node, (size_t)length);
}

static jv step_jq(struct mas_flow_node *node, jv state)
{
	jv result = mas_expr_first(node->expr, state);

	if (jv_is_valid(result))
		return result;
	if (jv_invalid_has_msg(jv_copy(result))) {
		jv message = jv_invalid_get_msg(result);

		result = mas_fail(MAS_ERR_INVALID_REQUEST, "node '%s': jq: %s",
		                  node->name, jv_get_kind(message) ==
		                  JV_KIND_STRING ? jv_string_value(message) :
		                  "error");
		jv_free(message);
		return result;
	}
	jv_free(result);
	return mas_fail(MAS_ERR_INVALID_REQUEST, "node '%s': jq expression "
	                "gave no output", node->name);
}

/*
 * Put RESULT, NODE's output, into STATE (both consumed) as the node's
 * output option says: in place of the state, merged into it, or under a
 * key.  The new state, or an invalid jv when it would not be an object.
 */
static jv place(struct mas_flow_node *node, jv state, jv result)
{
	if (node->output && strcmp(node->output, "merge") != 0)
		return jv_object_set(state, jv_string(node->output), result);
	/* an agent's result goes where its program puts it */
	if (!node->output && node->kind == MAS_FLOW_AGENT)
		return jv_object_set(state, jv_string("analysis"), result);
	if (jv_get_kind(result) != JV_KIND_OBJECT) {
		jv_free(state);
		jv_free(result);
		return mas_fail(MAS_ERR_INVALID_REQUEST, "node '%s': output "
		                "is not a JSON object", node->name);
	}
	if (node->output)
		return jv_object_merge(state, result);
	jv_free(state);
	return result;
}

/*
 * A subgraph walks the state through its own graph; its path is kept in
 * SUB_PATH for this step's entry, and an error it ends with is this
 * node's failure.
 */
static jv step_flow(struct mas_flow_node *node, jv state)
{
	jv result = mas_flow_step_record(node->sub, state);
	jv meta = jv_object_get(jv_copy(result), jv_string("meta"));
	jv error = jv_object_get(jv_copy(result), jv_string("error"));

	jv_free(node->sub_path);
	node->sub_path = jv_object_get(jv_copy(meta), jv_string("flow"));
	meta = jv_object_delete(meta, jv_string("flow"));
	if (jv_get_kind(error) == JV_KIND_OBJECT) {
		jv_free(meta);
		jv_free(result);
		return jv_invalid_with_msg(error);
	}
	jv_free(error);
	if (jv_object_length(jv_copy(meta)) == 0) {
		jv_free(meta);
		return jv_object_delete(result, jv_string("meta"));
	}
	return jv_object_set(result, jv_string("meta"), meta);
}

/* Run NODE on STATE (consumed): the new state, or an invalid jv with an
 * error object. */
static jv step(struct mas_flow_node *node, jv state)
{
	jv result;

	switch (node->kind) {
	case MAS_FLOW_JQ: result = step_jq(node, jv_copy(state)); break;
	case MAS_FLOW_RUN: result = step_run(node, jv_copy(state)); break;
	case MAS_FLOW_FLOW: result = step_flow(node, jv_copy(state)); break;
	default:
		result = mas_analyze_task(node->analyzer, jv_copy(state));
		break;
	}

	if (!jv_is_valid(result)) {
		jv_free(state);
		return result;
	}
	return place(node, state, result);
}

/* Try NODE up to 1 + retries times, waiting 10 ms, 20 ms, 40 ms, ... (at
 * most a second) between tries; *TRIES says how many it took. */
static jv step_with_retries(struct mas_flow_node *node, jv state,
                            int *tries)
{
	jv result = jv_invalid();

	for (*tries = 1;; ++*tries) {
		long wait_ms = 10L << (*tries - 1 < 6 ? *tries - 1 : 6);
		struct timespec pause;

		jv_free(result);
		result = step(node, jv_copy(state));
		if (jv_is_valid(result) || *tries > node->retries)
			break;
		if (wait_ms > 1000)
			wait_ms = 1000;
		pause.tv_sec = wait_ms / 1000;
		pause.tv_nsec = (wait_ms % 1000) * 1000000L;
		nanosleep(&pause, NULL);
	}
	jv_free(state);
	return result;
}

/*
 * The edge to take from FROM: the first whose condition holds and whose
 * bound (COUNTS, per edge, for this record) is not used up.  Its index,
 * or -1 with *ERROR set.
 */
static long choose(struct mas_flow *flow, int from, jv state,
                   unsigned long *counts, jv *error)
{
	for (size_t i = 0; i < flow->edge_count; i++) {
		struct mas_flow_edge *edge = &flow->edges[i];
		jv why;
		int test = 1;

		if (edge->from != from ||
		    (edge->max && counts[i] >= (unsigned long)edge->max))
			continue;
		if (edge->condition)
			test = mas_expr_test(edge->condition, jv_copy(state),
			                     &why);
		if (test < 0) {
			jv message = why; /* the message itself */

			*error = mas_error(MAS_ERR_INVALID_REQUEST, "%s:%d: "
			                   "if: %s", flow->path, edge->line,
			                   jv_get_kind(message) ==
			                   JV_KIND_STRING ?
			                   jv_string_value(message) : "error");
			jv_free(message);
			return -1;
		}
		if (test) {
			counts[i]++;
			return (long)i;
		}
	}
	*error = mas_error(MAS_ERR_INVALID_REQUEST, "no edge from '%s' "
	                   "matched", from >= 0 ? flow->nodes[from].name :
	                   "start");
	return -1;
}

static jv finish(jv state, jv path, jv error)
{
	jv meta = jv_object_get(jv_copy(state), jv_string("meta"));

	if (jv_get_kind(meta) != JV_KIND_OBJECT) {
		jv_free(meta);
		meta = jv_object();
	}
	meta = jv_object_set(meta, jv_string("flow"), path);
	state = jv_object_set(state, jv_string("meta"), meta);
	if (jv_is_valid(error))
		state = jv_object_set(state, jv_string("error"), error);
	else
		jv_free(error);
	return state;
}

static jv path_step(jv path, struct mas_flow_node *node, double ms,
                    int tries)
{
	jv entry = jv_object();
	const char *name = node->name;

	entry = jv_object_set(entry, jv_string("node"), jv_string(name));
	/* microseconds are enough, and keep the lines short */
	entry = jv_object_set(entry, jv_string("ms"),
	                      jv_number((double)(long)(ms * 1000) / 1000));
	if (tries > 1)
		entry = jv_object_set(entry, jv_string("tries"),
		                      jv_number(tries));
	if (node->kind == MAS_FLOW_FLOW && jv_is_valid(node->sub_path)) {
		entry = jv_object_set(entry, jv_string("flow"),
		                      node->sub_path);
		node->sub_path = jv_invalid();
	}
	return jv_array_append(path, entry);
}

/* One node step with its span, metric and entry in PATH; *MS is the
 * time it took. */
static jv timed_step(struct mas_flow_node *node, jv state, jv *path,
                     double *ms)
{
	char name[256];
	struct mas_span *span;
	double begin = now_ms();
	jv result;
	int tries;

	snprintf(name, sizeof(name), "node:%s", node->name);
	span = mas_span_start(name, NULL);
	result = step_with_retries(node, state, &tries);

	*ms = now_ms() - begin;
	*path = path_step(*path, node, *ms, tries);
	if (!jv_is_valid(result) && span) {
		jv error = jv_invalid_get_msg(jv_copy(result));

		mas_span_error(span, error);
	}
	mas_span_end(span);
	snprintf(name, sizeof(name), "node=\"%s\"", node->name);
	mas_metrics_count("mas_flow_steps_total", "Node steps run by "
	                  "mas-flow", name, 1);
	return result;
}

jv mas_flow_step_record(struct mas_flow *flow, jv state)
{
	unsigned long *counts = calloc(flow->edge_count + 1, sizeof(*counts));
	jv path = jv_array(), error = jv_invalid();
	int at = MAS_FLOW_START, next = MAS_FLOW_UNKNOWN;
	long steps = 0;

	if (!counts)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	mas_flow_checkpoint_record(flow->checkpoint, state);
	for (;;) {
		jv result;
		double ms;

		if (next == MAS_FLOW_UNKNOWN) {
			long edge = choose(flow, at, state, counts, &error);

			if (edge < 0)
				break;
			next = flow->edges[edge].to;
		}
		at = next;
		next = MAS_FLOW_UNKNOWN;
		if (at == MAS_FLOW_END)
			break;
		if (++steps > flow->recursion_limit) {
			error = mas_error(MAS_ERR_INVALID_REQUEST, "recursion "
			                  "limit of %ld steps reached before "
			                  "node '%s'", flow->recursion_limit,
			                  flow->nodes[at].name);
			break;
		}
		result = timed_step(&flow->nodes[at], jv_copy(state), &path,
		                    &ms);
		if (!jv_is_valid(result)) {
			error = jv_invalid_get_msg(result);
			error = jv_object_set(error, jv_string("node"),
			                      jv_string(flow->nodes[at].name));
			next = flow->nodes[at].on_error;
			if (next == MAS_FLOW_UNKNOWN)
				break;
			/* the handler sees the error, and may remove it */
			state = jv_object_set(state, jv_string("error"),
			                      error);
			error = jv_invalid();
			continue;
		}
		mas_flow_checkpoint_step(flow->checkpoint,
		                         flow->nodes[at].name, ms, result);
		jv_free(state);
		state = result;
	}
	free(counts);
	state = finish(state, path, error);
	mas_flow_checkpoint_done(flow->checkpoint, state);
	return state;
}
