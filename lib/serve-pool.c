/*
 * serve-pool.c — request workers with agents of their own (see
 * serve-pool.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "mas.h"
#include "serve-pool.h"
#include "session.h"
#include "banned.h"

struct job {
	int kind;
	char *flow;
	jv record;
	double deadline;
	mas_serve_done_fn done;
	mas_serve_text_fn text;
	void *owner;
	struct job *next;
};

struct worker {
	struct mas_serve_pool *pool;
	pthread_t thread;
	struct mas_serve_agents *agents;
};

struct mas_serve_pool {
	const struct mas_serve_agents_options *options;
	struct mas_serve_agents_options quiet;
	pthread_mutex_t lock;
	pthread_cond_t wake, stopped;
	struct job *head, *tail;
	size_t waiting, running, queue;
	int stopping;
	unsigned threads, alive;
	unsigned ready;            /* workers past their set-up */
	struct worker *workers;
	unsigned worker_count;
	char *problems[MAS_SERVE_AGENT_COUNT];
};

static void free_job(struct job *job)
{
	jv_free(job->record);
	free(job->flow);
	free(job);
}

static struct job *take(struct mas_serve_pool *pool)
{
	struct job *job;

	pthread_mutex_lock(&pool->lock);
	while (!pool->head && !pool->stopping)
		pthread_cond_wait(&pool->wake, &pool->lock);
	job = pool->head;
	if (job) {
		pool->head = job->next;
		if (!pool->head)
			pool->tail = NULL;
		pool->waiting--;
		pool->running++;
	}
	pthread_mutex_unlock(&pool->lock);
	return job;
}

/* Jobs of one kind taken at once, whose session turns are committed
 * together: one write of the store's log for them all. */
#define BATCH_MAX 32

/* More jobs of KIND from the head of the queue, up to MAX, into BATCH:
 * how many. */
static size_t take_more(struct mas_serve_pool *pool, int kind,
                        struct job **batch, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&pool->lock);
	while (n < max && pool->head && pool->head->kind == kind) {
		batch[n++] = pool->head;
		pool->head = pool->head->next;
		pool->waiting--;
		pool->running++;
	}
	if (!pool->head)
		pool->tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

static jv job_output(struct worker *w, struct job *job)
{
	jv output;

	if (mas_clock_monotonic() >= job->deadline)
		return mas_fail(MAS_ERR_TIMEOUT, "the request waited too "
		                "long for a worker");
	if (job->kind == MAS_SERVE_FLOW_LIST)
		return mas_serve_agents_flows(w->agents);
	output = mas_serve_agents_run(w->agents,
	                              (enum mas_serve_agent)job->kind,
	                              job->flow, job->record, job->deadline,
	                              job->text, job->owner);
	job->record = jv_invalid();
	mas_serve_agents_count(w->agents);
	return output;
}

/* Run FIRST and the jobs of its kind queued behind it in one
 * transaction of the store, and answer them once it is committed: a
 * reply never tells of a turn the store does not hold.  Returns how
 * many jobs were run. */
static size_t run_batch(struct worker *w, struct job *first)
{
	struct job *batch[BATCH_MAX];
	jv outputs[BATCH_MAX];
	size_t n;
	int status;

	batch[0] = first;
	n = 1 + take_more(w->pool, first->kind, batch + 1, BATCH_MAX - 1);
	for (size_t i = 0; i < n; i++)
		outputs[i] = job_output(w, batch[i]);
	status = mas_serve_agents_batch_end(w->agents);
	for (size_t i = 0; i < n; i++) {
		if (status != 0) {
			jv_free(outputs[i]);
			outputs[i] = jv_invalid_with_msg(
				mas_session_save_error(NULL, status));
		}
		batch[i]->done(batch[i]->owner, outputs[i]);
		free_job(batch[i]);
	}
	return n;
}

static void *worker_main(void *data)
{
	struct worker *w = data;
	struct mas_serve_pool *pool = w->pool;
	struct job *job;
	size_t ran;

	if (!w->agents)
		w->agents = mas_serve_agents_new(&pool->quiet);
	pthread_mutex_lock(&pool->lock);
	pool->alive += w->agents != NULL;
	pool->ready++;
	pthread_cond_broadcast(&pool->stopped);
	pthread_mutex_unlock(&pool->lock);
	while (w->agents && (job = take(pool)) != NULL) {
		int batch = mas_serve_agents_batch_begin(w->agents, job->kind,
		                                         job->record);
		if (batch > 0) {
			ran = run_batch(w, job);
		} else {
			job->done(job->owner, batch < 0 ?
			          jv_invalid_with_msg(
			                  mas_session_save_error(NULL, batch)) :
			          job_output(w, job));
			free_job(job);
			ran = 1;
		}
		pthread_mutex_lock(&pool->lock);
		pool->running -= ran;
		pthread_mutex_unlock(&pool->lock);
	}
	mas_serve_agents_free(w->agents);
	w->agents = NULL;
	pthread_mutex_lock(&pool->lock);
	pool->alive -= pool->alive > 0;
	pool->threads--;
	pthread_cond_broadcast(&pool->stopped);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* The problems of the first set, kept for /health and 503 answers. */
static void keep_problems(struct mas_serve_pool *pool,
                          const struct mas_serve_agents *agents)
{
	for (int kind = 0; kind < MAS_SERVE_AGENT_COUNT; kind++) {
		const char *problem = mas_serve_agents_problem(
			agents, (enum mas_serve_agent)kind);
		pool->problems[kind] = problem ? strdup(problem) : NULL;
	}
}

struct mas_serve_pool *mas_serve_pool_start(
	const struct mas_serve_agents_options *agents, unsigned workers,
	size_t queue, char **error)
{
	struct mas_serve_pool *pool = calloc(1, sizeof(*pool));

	if (!pool || workers == 0) {
		free(pool);
		mas_error_set(error, "no request workers");
		return NULL;
	}
	pool->options = agents;
	pool->quiet = *agents;
	pool->quiet.quiet = 1;
	pool->queue = queue;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pthread_cond_init(&pool->stopped, NULL);
	pool->workers = calloc(workers, sizeof(*pool->workers));
	if (!pool->workers) {
		free(pool);
		mas_error_set(error, "out of memory");
		return NULL;
	}
	/* Worker 0's set is made here, where its problems are told. */
	pool->workers[0].agents = mas_serve_agents_new(agents);
	if (pool->workers[0].agents)
		keep_problems(pool, pool->workers[0].agents);
	for (unsigned i = 0; i < workers; i++) {
		pool->workers[i].pool = pool;
		pthread_mutex_lock(&pool->lock);
		pool->threads++;
		pthread_mutex_unlock(&pool->lock);
		if (pthread_create(&pool->workers[i].thread, NULL, worker_main,
		                   &pool->workers[i]) != 0) {
			pthread_mutex_lock(&pool->lock);
			pool->threads--;
			pthread_mutex_unlock(&pool->lock);
			mas_warn("request worker %u could not start", i + 1);
			continue;
		}
		pthread_detach(pool->workers[i].thread);
		pool->worker_count++;
	}
	/* Listen only once every worker has its agents. */
	pthread_mutex_lock(&pool->lock);
	while (pool->ready < pool->worker_count)
		pthread_cond_wait(&pool->stopped, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
	if (pool->worker_count == 0) {
		mas_serve_agents_free(pool->workers[0].agents);
		mas_serve_pool_stop(pool, 0);
		mas_error_set(error, "cannot start request workers");
		return NULL;
	}
	return pool;
}

int mas_serve_pool_submit(struct mas_serve_pool *pool, int kind,
                          const char *flow, jv record, double deadline,
                          mas_serve_done_fn done, mas_serve_text_fn text,
                          void *owner)
{
	struct job *job = calloc(1, sizeof(*job));

	if (!job) {
		jv_free(record);
		return -1;
	}
	job->kind = kind;
	job->flow = flow ? strdup(flow) : NULL;
	job->record = record;
	job->deadline = deadline;
	job->done = done;
	job->text = text;
	job->owner = owner;
	pthread_mutex_lock(&pool->lock);
	if (pool->stopping || pool->waiting >= pool->queue) {
		pthread_mutex_unlock(&pool->lock);
		free_job(job);
		return -1;
	}
	if (pool->tail)
		pool->tail->next = job;
	else
		pool->head = job;
	pool->tail = job;
	pool->waiting++;
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

const char *mas_serve_pool_problem(const struct mas_serve_pool *pool,
                                   enum mas_serve_agent kind)
{
	return kind < MAS_SERVE_AGENT_COUNT ? pool->problems[kind] : NULL;
}

void mas_serve_pool_figures(struct mas_serve_pool *pool, size_t *waiting,
                            size_t *running, unsigned *alive)
{
	pthread_mutex_lock(&pool->lock);
	*waiting = pool->waiting;
	*running = pool->running;
	*alive = pool->alive;
	pthread_mutex_unlock(&pool->lock);
}

void mas_serve_pool_stop(struct mas_serve_pool *pool, double bound)
{
	struct timespec until;
	struct job *job;
	int all;

	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	job = pool->head;
	pool->head = pool->tail = NULL;
	pool->waiting = 0;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	while (job) {
		struct job *next = job->next;
		job->done(job->owner, mas_fail(MAS_ERR_UPSTREAM_ERROR, "the "
		          "server is stopping"));
		free_job(job);
		job = next;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)bound + 1;
	pthread_mutex_lock(&pool->lock);
	while (pool->threads > 0 &&
	       pthread_cond_timedwait(&pool->stopped, &pool->lock,
	                              &until) == 0)
		;
	all = pool->threads == 0;
	pthread_mutex_unlock(&pool->lock);
	if (!all) {
		mas_warn("%u request worker(s) still busy after %g s",
		         pool->threads, bound);
		return;
	}
	for (int kind = 0; kind < MAS_SERVE_AGENT_COUNT; kind++)
		free(pool->problems[kind]);
	free(pool->workers);
	free(pool);
}
