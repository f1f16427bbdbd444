/*
 * coprocess.c — long-lived JSON-lines filters (see coprocess.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "coprocess.h"
#include "log.h"
#include "mas.h"

#include "banned.h"

/* Bytes asked of read(2) at least: one pipe's worth and more. */
enum { READ_SIZE = 1 << 17 };

void mas_coprocess_init(struct mas_coprocess *child, const char *name,
                        char *const *argv)
{
	memset(child, 0, sizeof(*child));
	child->name = name;
	child->argv = argv;
	child->input = child->output = -1;
}

static void child_exec(struct mas_coprocess *child, int input, int output)
{
	/* A group of its own, so a kill takes what it started too. */
	setpgid(0, 0);
	if (dup2(input, STDIN_FILENO) < 0 || dup2(output, STDOUT_FILENO) < 0)
		_exit(127);
	/* The parent ignores SIGPIPE; a filter expects the default. */
	signal(SIGPIPE, SIG_DFL);
	execvp(child->argv[0], child->argv);
	fprintf(stderr, "%s: %s: %s\n", child->name, child->argv[0],
	        strerror(errno));
	_exit(127);
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int start_failed(char **error, const char *what, int *fds)
{
	int saved = errno;

	for (int i = 0; fds && i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (asprintf(error, "%s: %s", what, strerror(saved)) < 0)
		*error = NULL;
	return -1;
}

int mas_coprocess_start(struct mas_coprocess *child, char **error)
{
	int fds[4] = { -1, -1, -1, -1 }; /* socket pair, then pipe */

	*error = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
		return start_failed(error, "socketpair", NULL);
	if (pipe2(fds + 2, O_CLOEXEC) != 0)
		return start_failed(error, "pipe", fds);
	child->pid = fork();
	if (child->pid < 0) {
		child->pid = 0;
		return start_failed(error, "fork", fds);
	}
	if (child->pid == 0)
		child_exec(child, fds[1], fds[3]);
	/* Also here, so no kill can come before the child's own call. */
	setpgid(child->pid, child->pid);
	close(fds[1]);
	close(fds[3]);
	child->input = fds[0];
	child->output = fds[2];
	child->eof = 0;
	child->closing = 0;
	child->progress = 0;
	set_nonblocking(child->input);
	set_nonblocking(child->output);
	return 0;
}

/* Room for MORE bytes at the end of BUFFER, moving what is unread to
 * the front first. */
static void buffer_reserve(struct mas_coprocess_buffer *buffer, size_t more)
{
	size_t used = buffer->end - buffer->start;

	if (buffer->capacity - buffer->end >= more)
		return;
	if (buffer->start > 0) {
		memmove(buffer->data, buffer->data + buffer->start, used);
		buffer->start = 0;
		buffer->end = used;
	}
	if (buffer->capacity - used < more) {
		size_t capacity = buffer->capacity * 2 + more;
		char *data = realloc(buffer->data, capacity);

		if (!data)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		buffer->data = data;
		buffer->capacity = capacity;
	}
}

void mas_coprocess_send(struct mas_coprocess *child, const char *line,
                        size_t length)
{
	struct mas_coprocess_buffer *to = &child->to;

	child->unanswered++;
	if (child->input < 0 || child->closing)
		return; /* it stopped reading: keep nothing for it */
	buffer_reserve(to, length + 1);
	memcpy(to->data + to->end, line, length);
	to->data[to->end + length] = '\n';
	to->end += length + 1;
}

/* The child no longer reads: what it was sent is lost, and its output
 * ending (or having ended) tells the caller. */
static void input_closed(struct mas_coprocess *child)
{
	close(child->input);
	child->input = -1;
	child->to.start = child->to.end = 0;
}

static void write_some(struct mas_coprocess *child)
{
	struct mas_coprocess_buffer *to = &child->to;

	while (child->input >= 0 && to->end > to->start) {
		ssize_t n = send(child->input, to->data + to->start,
		                 to->end - to->start,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			to->start += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n < 0 && errno != EAGAIN)
				input_closed(child);
			break;
		}
	}
	if (to->start == to->end) {
		to->start = to->end = 0;
		if (child->closing && child->input >= 0)
			input_closed(child);
	}
}

static void read_some(struct mas_coprocess *child)
{
	struct mas_coprocess_buffer *from = &child->from;

	for (int reads = 0; child->output >= 0 && reads < 4; reads++) {
		ssize_t n;

		buffer_reserve(from, READ_SIZE);
		n = read(child->output, from->data + from->end,
		         from->capacity - from->end);
		if (n > 0) {
			from->end += (size_t)n;
			child->progress = 0; /* stamped at the next poll */
			if ((size_t)n < from->capacity - from->end)
				break; /* drained for now */
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n == 0 || errno != EAGAIN) {
				close(child->output);
				child->output = -1;
				child->eof = 1;
			}
			break;
		}
	}
}

static int running(const struct mas_coprocess *child)
{
	return child && child->pid > 0;
}

/* Silence is measured from the first poll that finds a child owing an
 * answer since its last output: one clock read a poll, none a line. */
static void stamp(struct mas_coprocess **list, size_t count)
{
	double now = 0;

	for (size_t i = 0; i < count; i++) {
		struct mas_coprocess *child = list[i];

		if (!running(child) || child->unanswered == 0 ||
		    child->progress > 0)
			continue;
		if (now == 0)
			now = mas_clock_monotonic();
		child->progress = now;
	}
}

size_t mas_coprocess_pollfds(struct mas_coprocess **list, size_t count,
                             struct pollfd *fds)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		struct mas_coprocess *child = list[i];

		if (!running(child))
			continue;
		if (child->output >= 0)
			fds[n++] = (struct pollfd){ child->output, POLLIN, 0 };
		if (child->input >= 0 && child->to.end > child->to.start)
			fds[n++] = (struct pollfd){ child->input, POLLOUT, 0 };
	}
	return n;
}

void mas_coprocess_handle(struct mas_coprocess **list, size_t count,
                          const struct pollfd *fds)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		struct mas_coprocess *child = list[i];
		int reading, writing;

		if (!running(child))
			continue;
		reading = child->output >= 0 && fds[n++].revents;
		writing = child->input >= 0 && child->to.end > child->to.start &&
		          fds[n++].revents;
		if (writing)
			write_some(child);
		if (reading)
			read_some(child);
	}
	stamp(list, count);
}

int mas_coprocess_poll(struct mas_coprocess **list, size_t count, int fd,
                       int timeout_ms)
{
	struct pollfd stack[64], *fds = stack;
	size_t n;
	int ready;

	/* Most writes succeed at once: try before paying for a poll. */
	for (size_t i = 0; i < count; i++)
		if (running(list[i]))
			write_some(list[i]);
	stamp(list, count);
	if (2 * count + 1 > sizeof(stack) / sizeof(stack[0])) {
		fds = malloc((2 * count + 1) * sizeof(*fds));
		if (!fds)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	}
	n = mas_coprocess_pollfds(list, count, fds);
	fds[n] = (struct pollfd){ fd, POLLIN, 0 };
	ready = poll(fds, n + 1, timeout_ms);
	if (ready > 0)
		mas_coprocess_handle(list, count, fds);
	ready = ready > 0 && fd >= 0 && (fds[n].revents & (POLLIN | POLLHUP));
	if (fds != stack)
		free(fds);
	return ready;
}

char *mas_coprocess_line(struct mas_coprocess *child, size_t *length)
{
	struct mas_coprocess_buffer *from = &child->from;
	char *begin = from->data + from->start;
	char *newline;

	if (from->end - from->start <= child->scanned)
		return NULL;
	newline = memchr(begin + child->scanned, '\n',
	                 from->end - from->start - child->scanned);
	if (!newline) {
		child->scanned = from->end - from->start;
		return NULL;
	}
	*newline = '\0';
	*length = (size_t)(newline - begin);
	from->start += *length + 1;
	child->scanned = 0;
	if (child->unanswered > 0)
		child->unanswered--;
	return begin;
}

/* Milliseconds to wait for CHILD's answer before TIMEOUT seconds of
 * silence have passed (-1: no limit), at least one. */
static int silence_left_ms(const struct mas_coprocess *child, double timeout)
{
	double left;

	if (timeout <= 0)
		return -1;
	left = timeout - mas_coprocess_silent(child, mas_clock_monotonic());
	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

char *mas_coprocess_await(struct mas_coprocess *child, double timeout,
                          size_t *answer_length)
{
	for (;;) {
		char *answer = mas_coprocess_line(child, answer_length);
		int wait_ms;

		if (answer || mas_coprocess_ended(child))
			return answer;
		wait_ms = silence_left_ms(child, timeout);
		if (wait_ms == 0)
			return NULL;
		mas_coprocess_poll(&child, 1, -1, wait_ms);
	}
}

int mas_coprocess_finish(struct mas_coprocess *child, double timeout)
{
	double deadline = mas_clock_monotonic() + timeout;
	size_t length;

	if (!running(child))
		return mas_coprocess_stop(child, 0);
	mas_coprocess_close_input(child);
	/* Whatever it still writes is nobody's answer: read and dropped,
	 * so that a child writing at its end never blocks on a full
	 * pipe. */
	while (child->output >= 0) {
		double left = deadline - mas_clock_monotonic();

		if (left <= 0)
			return mas_coprocess_stop(child, 1);
		mas_coprocess_poll(&child, 1, -1, (int)(left * 1000) + 1);
		while (mas_coprocess_line(child, &length))
			;
		child->from.start = child->from.end = 0;
		child->scanned = 0;
	}
	/* Its output ended; a child that closed it and lives on is given
	 * the rest of the time to exit. */
	while (waitpid(child->pid, &child->status, WNOHANG) == 0) {
		if (mas_clock_monotonic() >= deadline)
			return mas_coprocess_stop(child, 1);
		usleep(10000);
	}
	if (child->input >= 0)
		close(child->input);
	child->input = -1;
	child->pid = 0; /* reaped: stop only resets the rest */
	return mas_coprocess_stop(child, 0);
}

void mas_coprocess_close_input(struct mas_coprocess *child)
{
	child->closing = 1;
	if (child->input >= 0 && child->to.end == child->to.start)
		input_closed(child);
}

int mas_coprocess_input_closed(const struct mas_coprocess *child)
{
	return child->closing || child->input < 0;
}

double mas_coprocess_silent(const struct mas_coprocess *child, double now)
{
	if (!running(child) || child->unanswered == 0 || child->progress == 0)
		return 0;
	return now - child->progress;
}

int mas_coprocess_ended(struct mas_coprocess *child)
{
	struct mas_coprocess_buffer *from = &child->from;

	if (child->output >= 0)
		return 0;
	return !from->data ||
	       !memchr(from->data + from->start, '\n',
	               from->end - from->start);
}

int mas_coprocess_stop(struct mas_coprocess *child, int kill_first)
{
	if (child->pid > 0) {
		if (kill_first && kill(-child->pid, SIGKILL) != 0)
			kill(child->pid, SIGKILL);
		if (child->input >= 0)
			close(child->input);
		if (child->output >= 0)
			close(child->output);
		while (waitpid(child->pid, &child->status, 0) < 0 &&
		       errno == EINTR)
			;
	}
	child->pid = 0;
	child->input = child->output = -1;
	child->to.start = child->to.end = 0;
	child->from.start = child->from.end = 0;
	child->scanned = child->unanswered = 0;
	child->eof = child->closing = 0;
	child->progress = 0;
	return child->status;
}

void mas_coprocess_describe(int status, char *text, size_t size)
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

void mas_coprocess_release(struct mas_coprocess *child)
{
	mas_coprocess_stop(child, 0);
	free(child->to.data);
	free(child->from.data);
	child->to.data = child->from.data = NULL;
	child->to.capacity = child->from.capacity = 0;
}
