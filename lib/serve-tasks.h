/*
 * serve-tasks.h — mas-serve's durable asynchronous tasks (mas-serve(1),
 * TASKS).
 *
 * POST /tasks hands a task here; it is answered 201 only once the task
 * is stored on the bus.  A task is a request envelope (bus-rpc.h) whose
 * id is the task id and whose payload is the record to run:
 *
 *	topic        tasks.analysis, tasks.chat, tasks.research, or
 *	             tasks.flow.NAME for the flow FLOWS_DIR/NAME.flow
 *	priority     the task's: high, normal or low
 *	reply_to     tasks.done
 *
 * Each topic is consumed by the durable group of the same name, which is
 * the group `mas-bus serve TOPIC -- COMMAND` joins by default: the
 * server's task workers and any number of mas-bus serve workers on other
 * machines share the work, and each task goes to one of them.  Whoever
 * runs a task publishes the output record, exactly what the agent's
 * program writes, as the reply on tasks.done.
 *
 * The state of every task is a row of the table serve_task in the state
 * store: "queued" when stored; "running" when one of the server's
 * workers starts it; "completed", or "failed" when the output record
 * carries an error, when the server's worker finishes it or when its
 * reply is read from tasks.done (by the group mas-serve.done), whichever
 * comes first.  A finished row never changes again.
 *
 * Crashes: a task is acknowledged on the bus only after its reply is
 * stored, so one that was running when the server died is delivered
 * again once its claim lapses (the task timeout and a second); a task
 * found finished when delivered again is not run again, its stored
 * output replied once more (the reply's id makes that a no-op).  Tasks
 * run at least once and finish exactly once; a task started three times
 * (one that keeps killing its worker) is failed rather than started a
 * fourth.
 *
 * POSTs are stored in batches: every task waiting when the storing
 * thread wakes goes into one bus transaction (one wait for JetStream's
 * acknowledgements), which is what makes thousands of durable enqueues a
 * second possible.
 */
#ifndef MAS_SERVE_TASKS_H
#define MAS_SERVE_TASKS_H

#include <stddef.h>

#include <jv.h>

#include "cli.h"
#include "serve-agents.h"

struct mas_serve_tasks_options {
	struct mas_cli *cli;           /* the configuration (borrowed) */
	const char *bus_url;           /* NULL: bus.url, else the store */
	unsigned workers;              /* task workers here; 0: none */
	double timeout;                /* seconds a task may run */
	size_t queue;                  /* POSTs waiting to be stored */
	const struct mas_serve_agents_options *agents; /* for the workers */
};

struct mas_serve_tasks;

/*
 * Open the bus and the state store and start the storing thread, the
 * workers and the reader of tasks.done.  Returns NULL with a malloc'd
 * message in *ERROR (and *USAGE set for a bad bus URL rather than an
 * unreachable one).
 */
struct mas_serve_tasks *mas_serve_tasks_start(
	const struct mas_serve_tasks_options *options, int *usage,
	char **error);

/* Called once a submitted task is stored, from the storing thread: with
 * the task as GET /tasks/ID shows it, or jv_invalid_with_msg(error
 * object) when it could not be stored. */
typedef void (*mas_serve_tasks_stored_fn)(void *user, jv outcome);

/*
 * Queue a task to be stored: TYPE "analysis", "chat", "research" or
 * "flow" (FLOW naming it), PRIORITY a mas_bus_priority, RECORD
 * (consumed) its payload, TRACEPARENT (NULL: none) the trace it belongs
 * to.  STORED(USER, outcome) is called once, later.  Returns 0, or -1
 * when too many tasks wait to be stored or the server is stopping
 * (nothing is called then; RECORD is freed).
 */
int mas_serve_tasks_submit(struct mas_serve_tasks *tasks, const char *type,
                           const char *flow, int priority, jv record,
                           const char *traceparent,
                           mas_serve_tasks_stored_fn stored, void *user);

/* Task ID as GET /tasks/ID shows it: {"task_id","type","status",
 * "priority","progress","result","error","created_at","started_at",
 * "completed_at","attempts","worker"[,"flow"]}; jv_null() when there is
 * none; jv_invalid_with_msg(error object) when the store failed. */
jv mas_serve_tasks_get(struct mas_serve_tasks *tasks, const char *id);

/* The newest LIMIT tasks, of STATUS only unless NULL, newest first, as
 * mas_serve_tasks_get shows them but without their results. */
jv mas_serve_tasks_list(struct mas_serve_tasks *tasks, const char *status,
                        long limit);

/* Whether STATUS is a task status: queued, running, completed, failed. */
int mas_serve_task_status_valid(const char *status);

/*
 * The components' health for /health: {"store": {"status": "ok"|"down",
 * ...}, "bus": {...,"backend"}, "workers": {"status", "running",
 * "configured"}}; *DOWN is set when one is down.
 */
jv mas_serve_tasks_health(struct mas_serve_tasks *tasks, int *down);

/* Counts by status, and those waiting to be stored: {"queued",
 * "running", "completed", "failed", "storing"}; also set as the gauges
 * mas_tasks{state} and mas_task_queue_depth. */
jv mas_serve_tasks_counts(struct mas_serve_tasks *tasks);

/*
 * Stop taking tasks, store those waiting, let the workers finish the
 * tasks they run, for at most BOUND seconds, and free everything (a
 * worker still busy then is left to the process's exit; its task will
 * be delivered again).  NULL is fine.
 */
void mas_serve_tasks_stop(struct mas_serve_tasks *tasks, double bound);

#endif
