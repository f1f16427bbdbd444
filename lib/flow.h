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
#include <sys/types.h>
#include <jv.h>

enum mas_flow_kind {
	MAS_FLOW_JQ,
	MAS_FLOW_RUN,
	MAS_FLOW_FLOW,            /* another flow file, as a subgraph */
	MAS_FLOW_AGENT,           /* a built-in agent, in-process */
};

/* Node indexes for the two implicit ends of every graph. */
enum { MAS_FLOW_START = -1, MAS_FLOW_END = -2, MAS_FLOW_UNKNOWN = -3 };

struct mas_flow_node {
	char *name;
	enum mas_flow_kind kind;
	int line;
	char *text;               /* jq source, or the command as written */
	struct mas_expr *expr;    /* jq nodes */
	char **argv;              /* run nodes, NULL-terminated */
	struct mas_flow *sub;     /* flow nodes: the subgraph */
	/* agent nodes (only analyze so far) */
	struct mas_analyze_options *analyze_options;
	struct mas_analyzer *analyzer;
	jv sub_path;              /* its path for the record being run */
	/* Options written NAME=VALUE between the node's name and kind. */
	double timeout;           /* seconds a run node may take; 0: none */
	int retries;              /* tries after the first fails */
	char *on_error_name;      /* on_error=NODE, or NULL: emit */
	int on_error;             /* its index, END, or UNKNOWN: emit */
	char *output;             /* output=KEY or "merge"; NULL: replace */
	/* The co-process of a run node: started on first use, restarted
	 * after it dies. */
	pid_t pid;
	int to_child;             /* its stdin (a socket: no SIGPIPE) */
	int from_child;           /* its stdout */
	char *buffer;             /* bytes read from it, not yet a line */
	size_t buffered, capacity;
};

struct mas_flow_edge {
	int from, to;             /* node indexes, or START / END */
	int line;
	struct mas_expr *condition; /* NULL: always */
	long max;                 /* times per record, 0: no bound */
};

struct mas_flow {
	char *path;
	struct mas_flow_node *nodes;
	size_t node_count;
	struct mas_flow_edge *edges;
	size_t edge_count;
	long recursion_limit;     /* node steps per record (default 25) */
	/* Where each step is stored (flow-store.h), or NULL. */
	struct mas_flow_checkpoint *checkpoint;
	int problems;             /* how many were reported */
};

/*
 * Read and check the flow file PATH into FLOW (initialised here).  Every
 * problem is printed to stderr as "PATH:LINE: message" and counted in
 * FLOW->problems; returns that count (0: ready to run).  -1 when the file
 * cannot be read at all (also reported).
 */
int mas_flow_load(struct mas_flow *flow, const char *path);

/* Print FLOW to OUT as Graphviz DOT (FORMAT "dot") or a Mermaid
 * flowchart ("mermaid").  Returns -1 for another format. */
int mas_flow_graph(const struct mas_flow *flow, const char *format,
                   FILE *out);

/*
 * Walk STATE (consumed, a JSON object) through FLOW from start to end
 * and return the final state with "meta"."flow" set to the path taken,
 * [{"node": NAME, "ms": TIME}, ...].  On a failure the state so far is
 * returned with an "error" object naming the node (never an invalid jv).
 */
jv mas_flow_step_record(struct mas_flow *flow, jv state);

/* Stop NODE's co-process, if running: close its input, wait for it. */
void mas_flow_node_stop(struct mas_flow_node *node);

/* Stop the co-processes (close their input, wait for them) and free
 * everything FLOW holds; NULL is fine. */
void mas_flow_release(struct mas_flow *flow);

#endif
