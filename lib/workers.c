/*
 * workers.c — a fixed set of threads for CPU work (see workers.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mas.h"
#include "workers.h"
#include "banned.h"

struct job {
	mas_work_fn work, done;
	void *data;
	struct job *next;
};

struct list {
	struct job *head, *tail;
};

struct mas_workers {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct list todo, done;
	size_t pending;            /* submitted, not collected */
	int stopping;
	int pipe[2];               /* a byte while DONE is not empty */
	pthread_t *threads;
	unsigned count;
};

static void push(struct list *list, struct job *job)
{
	job->next = NULL;
	if (list->tail)
		list->tail->next = job;
	else
		list->head = job;
	list->tail = job;
}

static struct job *pop(struct list *list)
{
	struct job *job = list->head;

	if (job) {
		list->head = job->next;
		if (!list->head)
			list->tail = NULL;
	}
	return job;
}

unsigned mas_workers_cpus(void)
{
	cpu_set_t set;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	/* A container's cpuset or taskset(1) leaves fewer than are online,
	 * and threads beyond them only wait for each other's time slices. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < cpus)
		cpus = CPU_COUNT(&set);
	return cpus < 1 ? 1 : cpus > 1024 ? 1024 : (unsigned)cpus;
}

static void *worker_main(void *data)
{
	struct mas_workers *workers = data;
	struct job *job;

	pthread_mutex_lock(&workers->lock);
	for (;;) {
		while (!workers->todo.head && !workers->stopping)
			pthread_cond_wait(&workers->wake, &workers->lock);
		job = pop(&workers->todo);
		if (!job)
			break;
		pthread_mutex_unlock(&workers->lock);
		job->work(job->data);
		pthread_mutex_lock(&workers->lock);
		/* One byte says "something is done"; collect drains it. */
		if (!workers->done.head) {
			char byte = 1;
			while (write(workers->pipe[1], &byte, 1) < 0 &&
			       errno == EINTR)
				;
		}
		push(&workers->done, job);
	}
	pthread_mutex_unlock(&workers->lock);
	return NULL;
}

static int open_pipe(int fds[2])
{
	if (pipe(fds) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
	}
	return 0;
}

struct mas_workers *mas_workers_start(unsigned threads)
{
	struct mas_workers *workers = calloc(1, sizeof(*workers));

	if (!workers || threads == 0 ||
	    !(workers->threads = calloc(threads, sizeof(pthread_t))) ||
	    open_pipe(workers->pipe) != 0) {
		if (workers)
			free(workers->threads);
		free(workers);
		mas_warn("cannot start worker threads: %s", strerror(errno));
		return NULL;
	}
	pthread_mutex_init(&workers->lock, NULL);
	pthread_cond_init(&workers->wake, NULL);
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&workers->threads[workers->count], NULL,
		                   worker_main, workers) != 0) {
			mas_warn("worker thread %u could not start", i + 1);
			continue;
		}
		workers->count++;
	}
	if (workers->count == 0) {
		mas_workers_stop(workers);
		return NULL;
	}
	return workers;
}

void mas_workers_submit(struct mas_workers *workers, mas_work_fn work,
                        mas_work_fn done, void *data)
{
	struct job *job = malloc(sizeof(*job));

	if (!job)
		mas_die(MAS_EXIT_IO, "out of memory");
	job->work = work;
	job->done = done;
	job->data = data;
	pthread_mutex_lock(&workers->lock);
	push(&workers->todo, job);
	workers->pending++;
	pthread_cond_signal(&workers->wake);
	pthread_mutex_unlock(&workers->lock);
}

int mas_workers_fd(const struct mas_workers *workers)
{
	return workers->pipe[0];
}

size_t mas_workers_pending(const struct mas_workers *workers)
{
	return workers->pending;
}

size_t mas_workers_collect(struct mas_workers *workers)
{
	struct list done;
	char bytes[64];
	size_t count = 0;
	struct job *job;

	pthread_mutex_lock(&workers->lock);
	done = workers->done;
	workers->done.head = workers->done.tail = NULL;
	while (read(workers->pipe[0], bytes, sizeof(bytes)) > 0)
		;
	pthread_mutex_unlock(&workers->lock);
	while ((job = pop(&done)) != NULL) {
		workers->pending--;
		job->done(job->data);
		free(job);
		count++;
	}
	return count;
}

size_t mas_workers_wait(struct mas_workers *workers, int timeout_ms, int fd)
{
	struct pollfd fds[2] = {
		{ .fd = workers->pipe[0], .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};

	if (workers->pending > 0 || fd >= 0)
		poll(fds, fd >= 0 ? 2 : 1, timeout_ms);
	return mas_workers_collect(workers);
}

void mas_workers_stop(struct mas_workers *workers)
{
	if (!workers)
		return;
	pthread_mutex_lock(&workers->lock);
	workers->stopping = 1;
	pthread_cond_broadcast(&workers->wake);
	pthread_mutex_unlock(&workers->lock);
	for (unsigned i = 0; i < workers->count; i++)
		pthread_join(workers->threads[i], NULL);
	mas_workers_collect(workers);
	close(workers->pipe[0]);
	close(workers->pipe[1]);
	pthread_mutex_destroy(&workers->lock);
	pthread_cond_destroy(&workers->wake);
	free(workers->threads);
	free(workers);
}
