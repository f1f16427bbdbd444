/*
 * pty-run — drive an interactive program through a pseudo-terminal, for
 * the tests (mas-chat -i): COMMAND runs on a new terminal of 80x24, the
 * STEPs are done in order, and everything COMMAND wrote to the terminal
 * is printed on stdout at the end.
 *
 * Usage: pty-run [-t SECONDS] STEP... -- COMMAND [ARG...]
 *
 * Steps:
 *   expect=TEXT  wait until TEXT appears in what COMMAND wrote after the
 *                end of the previous match
 *   send=TEXT    type TEXT; escapes \r \n \t \e \\ and \xHH (\x03 is
 *                Ctrl-C, \x04 Ctrl-D, \e[A the Up arrow)
 *   sleep=MS     wait MS milliseconds, reading what comes
 *   run=COMMAND  run `sh -c COMMAND` and wait for it (to kill a server)
 * After the last step, pty-run waits for COMMAND to exit.
 *
 * Bounded: when the steps and the exit take more than SECONDS (default
 * 10) in all, COMMAND's process group is killed, the step that waited is
 * named on stderr and pty-run exits 124.  Otherwise it exits with
 * COMMAND's status (128+N after signal N); 2 on bad usage, 1 when the
 * terminal cannot be made.  The transcript is printed in every case.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *transcript;
static size_t length, capacity, mark;
static int master = -1, ended;
static pid_t child;
static double deadline;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void print_transcript(void)
{
	fwrite(transcript, 1, length, stdout);
	fflush(stdout);
}

static void give_up(const char *step)
{
	kill(-child, SIGKILL);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	print_transcript();
	fprintf(stderr, "pty-run: timed out at %s\n", step);
	exit(124);
}

/* Reads what comes within MS milliseconds (at most until the deadline). */
static void read_some(int ms)
{
	struct pollfd p = { .fd = master, .events = POLLIN };
	char buf[4096];
	ssize_t n;

	if (ended) {
		if (ms > 0)
			poll(NULL, 0, ms);
		return;
	}
	if (poll(&p, 1, ms) <= 0)
		return;
	n = read(master, buf, sizeof(buf));
	if (n <= 0) { /* EIO: every end of the terminal's other side closed */
		ended = 1;
		return;
	}
	if (length + (size_t)n + 1 > capacity) {
		capacity = (length + (size_t)n + 1) * 2;
		transcript = realloc(transcript, capacity);
		if (!transcript) {
			perror("pty-run");
			exit(1);
		}
	}
	memcpy(transcript + length, buf, (size_t)n);
	length += (size_t)n;
	transcript[length] = '\0';
}

static int remaining_ms(void)
{
	double left = deadline - now();

	return left > 0 ? (int)(left * 1000) + 1 : 0;
}

static void expect(const char *text, const char *step)
{
	for (;;) {
		char *at = length ? memmem(transcript + mark, length - mark,
		                           text, strlen(text)) : NULL;
		if (at) {
			mark = (size_t)(at - transcript) + strlen(text);
			return;
		}
		if (remaining_ms() == 0 || ended)
			give_up(step);
		read_some(remaining_ms() < 50 ? remaining_ms() : 50);
	}
}

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	     : c >= 'a' && c <= 'f' ? c - 'a' + 10
	     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* TEXT with its escapes turned into bytes, into OUT; returns the count. */
static size_t unescape(const char *text, char *out)
{
	size_t n = 0;

	for (const char *p = text; *p; p++) {
		if (*p != '\\' || !p[1]) {
			out[n++] = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'r': out[n++] = '\r'; break;
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'e': out[n++] = '\033'; break;
		case 'x':
			if (hex(p[1]) >= 0 && hex(p[2]) >= 0) {
				out[n++] = (char)(hex(p[1]) * 16 + hex(p[2]));
				p += 2;
				break;
			}
			/* fall through */
		default: out[n++] = *p;
		}
	}
	return n;
}

static void send_text(const char *text)
{
	char *bytes = malloc(strlen(text) + 1);
	size_t n = unescape(text, bytes), done = 0;

	while (done < n) {
		ssize_t w = write(master, bytes + done, n - done);
		if (w < 0 && errno != EINTR && errno != EAGAIN)
			break;
		if (w > 0)
			done += (size_t)w;
		read_some(0); /* the echo must not fill the terminal */
	}
	free(bytes);
}

static void pause_ms(int ms)
{
	double until = now() + ms / 1000.0;

	while (now() < until)
		read_some((int)((until - now()) * 1000) + 1);
}

static void start(char **argv)
{
	struct winsize size = { .ws_row = 24, .ws_col = 80 };
	const char *name;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
	    !(name = ptsname(master))) {
		perror("pty-run: a pseudo-terminal");
		exit(1);
	}
	ioctl(master, TIOCSWINSZ, &size);
	child = fork();
	if (child < 0) {
		perror("pty-run: fork");
		exit(1);
	}
	if (child == 0) {
		int slave;
		setsid();
		slave = open(name, O_RDWR);
		if (slave < 0) {
			perror("pty-run: open the terminal");
			_exit(127);
		}
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		if (slave > 2)
			close(slave);
		close(master);
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
}

static int finish(void)
{
	int status;

	for (;;) {
		pid_t done = waitpid(child, &status, WNOHANG);
		if (done == child)
			break;
		if (remaining_ms() == 0)
			give_up("the exit");
		read_some(ended ? 20 : 50);
	}
	while (!ended && remaining_ms() > 0) { /* what is left */
		size_t before = length;
		read_some(20);
		if (length == before)
			break;
	}
	print_transcript();
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	double seconds = 10;
	int first = 1, command = 0;

	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		seconds = atof(argv[2]);
		first = 3;
	}
	for (int i = first; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			command = i + 1;
			break;
		}
	if (!command || command >= argc || seconds <= 0) {
		fprintf(stderr, "usage: pty-run [-t SECONDS] STEP... -- "
		        "COMMAND [ARG...]\n");
		return 2;
	}
	deadline = now() + seconds;
	start(argv + command);
	for (int i = first; i < command - 1; i++) {
		const char *step = argv[i];
		if (strncmp(step, "expect=", 7) == 0)
			expect(step + 7, step);
		else if (strncmp(step, "send=", 5) == 0)
			send_text(step + 5);
		else if (strncmp(step, "sleep=", 6) == 0)
			pause_ms(atoi(step + 6));
		else if (strncmp(step, "run=", 4) == 0) {
			if (system(step + 4) != 0)
				fprintf(stderr, "pty-run: %s failed\n", step);
		} else {
			kill(-child, SIGKILL);
			fprintf(stderr, "pty-run: unknown step %s\n", step);
			return 2;
		}
	}
	return finish();
}
