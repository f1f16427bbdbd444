/*
 * coprocess.h — a long-lived JSON-lines filter fed many lines: the
 * co-processes of mas-flow's run nodes, mas-bus route and mas-bus serve.
 *
 * The child runs ARGV (execvp, no shell; route passes "sh -c" itself).
 * Its stdin is a socket, so a write to a child that died fails with
 * EPIPE (send's MSG_NOSIGNAL) instead of raising SIGPIPE in the parent;
 * its stdout is a pipe.  Both directions are buffered here and never
 * block: mas_coprocess_send appends a line to the child's input buffer,
 * mas_coprocess_poll moves bytes both ways on every co-process that can
 * take or give some, and mas_coprocess_line hands back the child's
 * output a whole line at a time.  A caller with many co-processes waits
 * on all at once, so a child whose stdout is full while we fill its
 * stdin — the classic co-process deadlock — cannot stall anything, and
 * a slow child never blocks lines meant for another.
 *
 * Lines are written in large batches: sending a thousand records costs
 * one write, not a thousand, which is what lets a chain of `cat`-like
 * filters run at hundreds of thousands of records a second.
 *
 * Two things keep a caller from waiting for ever.  Many filters read
 * ahead or answer only at the end of their input (mawk, sort, a shell
 * loop that reads everything first): mas_coprocess_close_input gives the
 * child EOF once its queued input is written, so it can answer what it
 * holds.  And a child that owes answers yet stays silent is found by
 * mas_coprocess_silent, so the caller can kill it.  The child runs in a
 * process group of its own, and a kill takes the whole group: a filter's
 * own children (a `sleep` in a shell script) do not outlive it.
 */
#ifndef MAS_COPROCESS_H
#define MAS_COPROCESS_H

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

struct mas_coprocess_buffer {
	char *data;
	size_t start, end, capacity;
};

struct mas_coprocess {
	const char *name;          /* for messages (borrowed) */
	char *const *argv;         /* NULL-terminated (borrowed) */
	pid_t pid;                 /* 0: not running */
	int input, output;         /* our ends; -1 once closed */
	struct mas_coprocess_buffer to, from;
	size_t scanned;            /* bytes of FROM known to hold no newline */
	size_t unanswered;         /* lines sent, not yet answered */
	double progress;           /* monotonic s: last answer, or the
	                              send that made it owe one */
	int closing;               /* close its input once drained */
	int eof;                   /* its output ended */
	int status;                /* its wait status, once reaped */
};

/* Ready CHILD to run ARGV (not yet started). */
void mas_coprocess_init(struct mas_coprocess *child, const char *name,
                        char *const *argv);

/* Start CHILD.  Returns 0, or -1 with a malloc'd message in *ERROR.
 * A command that cannot be executed shows as a child that exits 127
 * after printing why on stderr. */
int mas_coprocess_start(struct mas_coprocess *child, char **error);

/* Queue LINE (LENGTH bytes, no newline: one is added) for CHILD's
 * input, and count it as awaiting an answer.  Never blocks; a child that
 * closed its input is sent nothing. */
void mas_coprocess_send(struct mas_coprocess *child, const char *line,
                        size_t length);

/*
 * Wait at most TIMEOUT_MS (-1: no limit, 0: not at all) until one of the
 * COUNT co-processes in LIST (NULL entries and stopped ones are skipped)
 * can move bytes or FD (-1: none) is readable, then move them: write
 * queued input, read output.  Returns 1 when FD is readable, else 0.
 */
int mas_coprocess_poll(struct mas_coprocess **list, size_t count, int fd,
                       int timeout_ms);

/*
 * The same in two halves, for a caller whose poll is someone else's
 * (the model client's): fill FDS (room for 2 per co-process) and return
 * how many were used; after the poll, move the bytes FDS says can move.
 */
size_t mas_coprocess_pollfds(struct mas_coprocess **list, size_t count,
                             struct pollfd *fds);
void mas_coprocess_handle(struct mas_coprocess **list, size_t count,
                          const struct pollfd *fds);

/*
 * The next whole line CHILD wrote, without its newline, NUL-terminated;
 * valid until the next call on CHILD.  NULL when no whole line is
 * buffered.  Each line taken answers one sent line.
 */
char *mas_coprocess_line(struct mas_coprocess *child, size_t *length);

/*
 * Wait for the answer to a line sent to CHILD, for a caller with one
 * record at a time (mas-bus serve, which sends it, and may close the
 * input after it, first): the answer as mas_coprocess_line gives it, or
 * NULL when the child ended without one or stayed silent for TIMEOUT
 * seconds (<= 0: no limit) — mas_coprocess_ended tells which; a silent
 * child is left running, for the caller to stop.
 */
char *mas_coprocess_await(struct mas_coprocess *child, double timeout,
                          size_t *answer_length);

/*
 * The end of CHILD's work: close its input, drop what it still writes
 * and wait for it to exit, at most TIMEOUT seconds, then kill its
 * process group.  Its wait status, as mas_coprocess_stop's.  So a child
 * that ignores end of file cannot keep its caller waiting for ever.
 */
int mas_coprocess_finish(struct mas_coprocess *child, double timeout);

/*
 * Give CHILD end of file on its input as soon as the lines queued for it
 * are written (at once when none are), so that a filter that reads
 * ahead answers what it holds.  Nothing may be sent to it afterwards:
 * stop it and start it again for more.
 */
void mas_coprocess_close_input(struct mas_coprocess *child);

/* Whether CHILD's input is closed (or closing): it takes no more lines. */
int mas_coprocess_input_closed(const struct mas_coprocess *child);

/*
 * Seconds CHILD has owed an answer without writing any output, as of NOW
 * (mas_clock_monotonic()); 0 when it owes nothing.
 */
double mas_coprocess_silent(const struct mas_coprocess *child, double now);

/* Whether CHILD is gone: its output ended (or it was never started, or
 * was stopped) and no whole line is left to take. */
int mas_coprocess_ended(struct mas_coprocess *child);

/*
 * Close CHILD's input and wait for it to exit, discarding output it
 * still writes; its wait status (also in child->status), after which it
 * may be started again.  KILL first sends SIGKILL to its process group
 * (a child that hangs or holds half an answer, and whatever it started).
 * Buffers are emptied; a stopped child is fine.
 */
int mas_coprocess_stop(struct mas_coprocess *child, int kill);

/* "exited with status 3", "was killed by signal 9". */
void mas_coprocess_describe(int status, char *text, size_t size);

/* Stop CHILD if running and free its buffers. */
void mas_coprocess_release(struct mas_coprocess *child);

#endif
