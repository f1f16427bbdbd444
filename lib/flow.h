/*
 * flow.h — workflow graphs over record streams (mas-flow(1), mas-flow(5)).
 *
 * A flow file declares nodes (a jq expression, an external JSON-lines
 * filter kept running as a co-process, another flow file as a subgraph,
 * or a built-in agent run in-process) and edges between them, from
 * `start` to `end`.  mas_flow_load parses and checks a file, reporting
 * every problem as "FILE:LINE: message" on stderr; mas_flow_step_record
 * walks one record (the state) through the graph.
 *
 * Stage 1 runs one record at a time through the graph: simple and in
 * order; the pipelined dataflow of the design comes later.
 */
#ifndef MAS_FLOW_H
#define MAS_FLOW_H

#include <stdio.h>

#include <jv.h>

#include "agent.h"
#include "record.h"

enum mas_flow_kind {
	MAS_FLOW_JQ,
	MAS_FLOW_RUN,
	MAS_FLOW_FLOW,            /* another flow file, as a subgraph */
	MAS_FLOW_AGENT,           /* a built-in agent, in-process */
	MAS_FLOW_LLM,             /* a prompt template sent to the model */
	MAS_FLOW_PARALLEL,        /* branches run at once, then joined */
	MAS_FLOW_INTERRUPT,       /* waits for a person (resume --record) */
};

/* Node indexes for the two implicit ends of every graph. */
enum { MAS_FLOW_START = -1, MAS_FLOW_END = -2, MAS_FLOW_UNKNOWN = -3 };

struct mas_engine;
struct mas_flow_runner;

struct mas_flow_node {
	char *name;
	enum mas_flow_kind kind;
	int line;
	char *text;               /* jq source, or the command as written */
	struct mas_expr *expr;    /* jq nodes */
	char **argv;              /* words after the kind, NULL-terminated */
	struct mas_flow *sub;     /* flow nodes: the subgraph */
	/* agent and llm nodes (flow-agent.h), started asynchronously as
	 * the agents' own programs start them (agent.h): START(AGENT,
	 * state, reply, context) calls reply once, now or later from
	 * inside the model client's perform. */
	mas_agent_start_fn start;
	void *agent;
	void (*release)(void *agent);
	/* Where the result goes without output=: under this key, or in
	 * place of the state when NULL. */
	const char *default_output;
	/* parallel nodes: the branches' node indexes */
	int *branches;
	size_t branch_count;
	/* Options written NAME=VALUE between the node's name and kind. */
	double timeout;           /* seconds a step may take; 0: none */
	int retries;              /* tries after the first fails */
	char *on_error_name;      /* on_error=NODE, or NULL: emit */
	int on_error;             /* its index, END, or UNKNOWN: emit */
	char *output;             /* output=KEY or "merge"; NULL: default */
	int replicas;             /* run nodes: co-processes (jobs=N) */
	int is_branch;            /* named by a parallel node */
};

struct mas_flow_edge {
	int from, to;             /* node indexes, or START / END */
	int line;
	struct mas_expr *condition; /* NULL: always */
	char *condition_text;     /* its source, as written */
	long max;                 /* times per record, 0: no bound */
};

struct mas_flow {
	char *path;
	struct mas_flow_node *nodes;
	size_t node_count;
	struct mas_flow_edge *edges;
	size_t edge_count;
	long recursion_limit;     /* node steps per record (default 25) */
	/* The model for agent and llm nodes (borrowed; its llm may be
	 * NULL: embedded engines only), or NULL. */
	const struct mas_engine *engine;
	int problems;             /* how many were reported */
	int syntax_only;          /* read by mas_flow_parse: cannot run */
	FILE *problem_log;        /* where they are printed; NULL: stderr
	                           * (mas-serve keeps them to report) */
	struct mas_flow_runner *runner; /* flow-run.c's, while running */
};

/* Report a problem of FLOW's file at LINE (0: none) as "PATH:LINE:
 * message" on FLOW->problem_log (stderr when NULL), and count it. */
void mas_flow_problem(struct mas_flow *flow, int line, const char *format,
                      ...) __attribute__((format(printf, 3, 4)));

/*
 * Read and check the flow file PATH into FLOW (initialised here), its
 * agent and llm nodes using ENGINE (borrowed, may be NULL).  Every
 * problem is printed to stderr as "PATH:LINE: message" and counted in
 * FLOW->problems; returns that count (0: ready to run).  -1 when the file
 * cannot be read at all (also reported).
 */
int mas_flow_load(struct mas_flow *flow, const char *path,
                  const struct mas_engine *engine);

/* The same, the problems (and those of included flows) printed to
 * PROBLEM_LOG (NULL: stderr): libmas keeps them to report. */
int mas_flow_load_to(struct mas_flow *flow, const char *path,
                     const struct mas_engine *engine, FILE *problem_log);

/*
 * Parse the flow text TEXT (LENGTH bytes; each line is read up to a NUL
 * byte), reporting problems as "NAME:LINE: message", as mas_flow_load
 * does, but for the file's syntax and graph alone: no jq expression is
 * compiled (edges keep no condition), no subgraph, template or
 * knowledge file is read, no command looked up, no agent set up.  So it
 * costs microseconds where compiling jq costs tens of milliseconds a
 * node: for the fuzz target (tests/fuzz/fuzz-flow.c).  FLOW (initialised
 * here; release it with mas_flow_release) can be drawn, not run.
 * Returns the number of problems.
 */
int mas_flow_parse(struct mas_flow *flow, const char *name,
                   const char *text, size_t length);

/* Print FLOW to OUT as Graphviz DOT (FORMAT "dot") or a Mermaid
 * flowchart ("mermaid").  Returns -1 for another format. */
int mas_flow_graph(const struct mas_flow *flow, const char *format,
                   FILE *out);

/*
 * Running (flow-run.c).  Records walk the graph as tokens, many in flight
 * at once: a jq node runs at once; a run node queues the record on one
 * of its co-processes (jobs=N of them) and the record waits there for
 * its answer line; agent and llm nodes wait for their reply; a parallel
 * node sends a copy of the state down each branch and joins their
 * results.  The record loop (record.h) bounds the records in flight
 * (--jobs) and writes the final states in input order, each with
 * "meta"."flow", the path taken: [{"node", "ms"[, "tries"][, "flow"]
 * [, "branches"]}, ...].  A failure that no on_error takes leaves the
 * state so far with an "error" object naming the node.
 */
struct mas_flow_checkpoint;

struct mas_flow_run_options {
	struct mas_flow_checkpoint *checkpoint; /* steps stored, or NULL */
	const char *run_id;       /* shown in waiting records' meta */
	FILE *joblog;             /* a line per record, or NULL */
	int keep_emitted;         /* leave the run's emitted mark alone */
	long skip;                /* input records already stored: skip
	                           * them (a resume given the input again) */
	const char *stored_file;  /* a resume's input of stored records */
};

/* Ready FLOW to run with OPTIONS (copied; what it points to is
 * borrowed). */
void mas_flow_runner_start(struct mas_flow *flow,
                           const struct mas_flow_run_options *options);

/* The record loop's `each`, `wait` and `input_end`; DATA is the flow. */
void mas_flow_each(struct mas_run *run, jv record, void *data);
void mas_flow_wait(struct mas_run *run, int timeout_ms, int fd, void *data);
void mas_flow_input_end(struct mas_run *run, void *data);

/*
 * The record loop's `line` for mas-flow run: a line that is a JSON
 * object with a string id (or none, which it is given) starts its walk
 * as the text it is, parsed only when a node must look inside; others
 * (returns 0) go the loop's way.
 */
int mas_flow_line(struct mas_run *run, const char *line, size_t length,
                  void *data);

/* Seconds a run node without timeout= may owe answers without writing
 * any before it counts as hung. */
#define MAS_FLOW_SILENCE 300.0

/*
 * The record loop's `each` for mas-flow resume: RECORD is one that
 * mas_flow_checkpoint_pending gave, under the key "resume"; finished
 * ones are emitted as stored, the others continue after their last
 * stored step.
 */
void mas_flow_each_stored(struct mas_run *run, jv record, void *data);

/* The `each` of a resume reading FILE (borrowed) of stored records
 * first, then input given again: records of FILE go to
 * mas_flow_each_stored, the others to mas_flow_each. */
void mas_flow_each_resumed(struct mas_run *run, jv record, void *data);

/* Records that stopped at an interrupt node so far. */
unsigned long mas_flow_waiting(const struct mas_flow *flow);

/* Stop the co-processes and free what running FLOW took; the exit
 * statuses of co-processes that failed are logged.  NULL is fine. */
void mas_flow_runner_free(struct mas_flow *flow);

/* Stop the co-processes (close their input, wait for them) and free
 * everything FLOW holds; NULL is fine. */
void mas_flow_release(struct mas_flow *flow);

#endif
