/*
 * workers.h — CPU work on a fixed set of threads, each result taken back
 * on the thread that asked for it.
 *
 * A program that reads records on one thread (the record loop) hands a
 * job's computing to a worker and keeps reading; when the work is done
 * the job waits in a "done" list and a byte on a pipe says so, so the
 * owner's poll wakes (next to its input and its model requests), and
 * mas_workers_collect runs each job's DONE on the owner's thread, where
 * the record loop and libjq values shared with it live.
 *
 * WORK runs on a worker thread and must touch nothing another thread
 * uses meanwhile: libjq values in particular are reference-counted
 * without atomics, so a job carries plain C data or jv values no one
 * else holds, and what WORK makes it hands back whole (moved, not
 * shared).  The queue is not bounded here: the caller bounds it (the
 * record loop keeps at most --jobs records in flight).
 *
 * mas-serve's request workers (serve-pool.h) are not built on this: they
 * keep a set of agents per thread, answer from the worker thread and
 * turn a full queue into 503s; this module is for a program with one
 * owner thread.
 */
#ifndef MAS_WORKERS_H
#define MAS_WORKERS_H

#include <stddef.h>

struct mas_workers;

typedef void (*mas_work_fn)(void *job);

/* The processors this process may run on (its affinity mask, as
 * nproc(1) counts them; else those online), at least 1. */
unsigned mas_workers_cpus(void);

/*
 * Start THREADS worker threads.  Returns NULL, with a warning, when not
 * one could start (the caller then does the work itself).
 */
struct mas_workers *mas_workers_start(unsigned threads);

/* Queue JOB: WORK(JOB) on a worker, then DONE(JOB) from
 * mas_workers_collect on the owner's thread.  Never fails (out of
 * memory ends the program, as elsewhere). */
void mas_workers_submit(struct mas_workers *workers, mas_work_fn work,
                        mas_work_fn done, void *job);

/* A descriptor that is readable while finished jobs wait for
 * mas_workers_collect. */
int mas_workers_fd(const struct mas_workers *workers);

/* Jobs submitted and not yet collected. */
size_t mas_workers_pending(const struct mas_workers *workers);

/* Run DONE for every job finished so far, on the calling thread (any
 * order; the record loop restores input order).  Returns how many. */
size_t mas_workers_collect(struct mas_workers *workers);

/*
 * Wait at most TIMEOUT_MS (-1: no limit) until a job finishes or FD
 * (-1: none) is readable, then collect.  Returns the jobs collected.
 */
size_t mas_workers_wait(struct mas_workers *workers, int timeout_ms,
                        int fd);

/* Finish the queued jobs, collect them, join the threads, free.  NULL
 * is fine. */
void mas_workers_stop(struct mas_workers *workers);

#endif
