/*
 * flow-run.c — the pipelined runner (flow.h, "Running").
 *
 * A record in flight is a token: its state, where it is in the graph (a
 * stack of frames, one per subgraph entered), the path so far.  A token
 * moves on by itself through jq nodes, and parks where it must wait: in
 * a co-process replica's queue (its answer comes back in order, as one
 * line per line sent), on an agent or model reply, on its branches, or
 * on a retry timer.  mas_flow_wait polls every co-process and the model
 * client at once and moves the tokens whose wait is over.
 *
 * States that come back from a co-process stay text while nothing needs
 * to look inside them: a line is checked with the JSON scanner (a few ns
 * a byte) and passed to the next co-process or to the output as it is,
 * meta.flow spliced in at the end.  libjq parses it only for a jq node,
 * an edge condition or an output= key; that is what lets a chain of
 * `cat`-like filters run at hundreds of thousands of records a second.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "clock.h"
#include "coprocess.h"
#include "engine.h"
#include "expr.h"
#include "flow-path.h"
#include "flow-store.h"
#include "flow.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "mas.h"
#include "metrics.h"
#include "trace.h"
#include "utf8.h"

#include "banned.h"

/* Subgraphs nest at most 8 deep (flow.c), plus the top. */
enum { MAX_FRAMES = 10 };

struct frame {
	struct mas_flow *flow;
	int at;                 /* the node run last, or START */
	int next;               /* the node to run next; UNKNOWN: by edges */
	int edge;               /* the edge that led to AT; -1: none */
	int single;             /* a branch: its one node, then done */
	unsigned long *counts;  /* uses of each edge, for "max N" */
	size_t counts_room;     /* kept with the path's steps when the
	                         * frame is popped, for the next record */
	struct mas_flow_path path; /* meta.flow */
	jv input;               /* a flow node's state on entry (output=) */
};

struct token {
	struct runner_root *root;
	size_t ticket;          /* its output place (top-level tokens) */
	long seq;               /* its number in the run, from 1; 0: branch */
	char *id;               /* the record's id as JSON text, or NULL;
	                         * in ID_BUFFER (token_set_id) */
	char *id_buffer;        /* kept by spare tokens, as LINE is */
	size_t id_room;
	double started;         /* epoch seconds, for the joblog */
	jv state;               /* jv_invalid() while LINE holds it */
	char *line;             /* the state as a co-process wrote it */
	size_t length, line_capacity;
	int line_has_meta;      /* what the scanner found in LINE */
	int line_empty;
	size_t line_close;      /* the offset of its closing brace */
	struct frame frames[MAX_FRAMES];
	int depth;
	long steps;
	jv error;               /* the failure that ended it, or invalid */
	jv step_input;          /* the state a retried step starts from */
	jv failed_path;         /* a failed subgraph's path, for its entry */
	double step_began;      /* monotonic ms */
	int tries;
	int retrying;           /* the next start is a retry */
	double wake;            /* ms: retry time, or run node deadline */
	int in_start;           /* inside an agent's start call */
	jv early_reply;         /* a reply given inside it */
	struct token *next;     /* in a replica's or the sleepers' list */
	struct token *parent;   /* a branch's parallel token */
	int branch;
	size_t outstanding;     /* branches not back yet */
	jv results;             /* their results, by branch */
	jv errors;              /* their errors (or null), by branch */
	jv branch_paths;
};

struct replica {
	struct mas_flow_node *node;
	struct mas_coprocess child;
	struct token *head, *tail;
	size_t queued;
	size_t owed;            /* of QUEUED, those sent to this child */
	int closed;             /* its input closed at end of input */
	char *last_id;          /* the id answered last, to spot repeats,
	                         * or NULL; in LAST_BUFFER */
	char *last_buffer;
	size_t last_room;
};

struct node_runtime {
	struct replica *replicas;
	int count;
};

/* Every flow's runner: per node, its co-processes. */
struct mas_flow_runner {
	struct node_runtime *nodes;
	struct runner_root *root;
};

/* What the whole run shares. */
struct runner_root {
	struct mas_flow *flow;
	struct mas_flow_run_options options;
	struct mas_run *run;
	struct replica **replicas;   /* every replica, for polling */
	struct mas_coprocess **children;
	size_t replica_count;
	struct token *sleepers;      /* waiting to retry */
	long seq;
	long skipped;                /* input records skipped so far */
	unsigned long waiting;
	int input_ended;             /* every input record read */
	/* (ticket, seq) of top-level tokens in input order, for the
	 * emitted mark after each flush */
	size_t *tickets;
	long *seqs;
	size_t order_head, order_tail, order_size;
	/* Ended tokens, kept for the next records: a token is about a
	 * kilobyte (the frames of nested subgraphs), past what malloc
	 * keeps in its per-thread cache, and a fresh one cost each record
	 * 10 % of mas-flow's instructions on a chain of run nodes. */
	struct token *spare;
	size_t spare_count;
};

enum { SPARE_MAX = 1024 };

static int advance(struct token *t);

/*
 * The clock read once for a batch of answers from co-processes
 * (collect), or 0: read it.  Reading the clock is a tenth of the CPU of
 * a chain of run nodes on a virtual machine, two reads a record a node;
 * the records of one batch came back at the same moment anyway.  Steps
 * run in-process (jq, agents) always read the clock: see step_clock.
 * One per thread: mas-serve runs flows in many.
 */
static _Thread_local double batch_ms;

static double now_ms(void)
{
	return batch_ms > 0 ? batch_ms : mas_clock_monotonic() * 1e3;
}

/* The time a step of NODE starts or ends: the batch's for a run node,
 * whose records come and go in batches, the clock's for the rest. */
static double step_clock(const struct mas_flow_node *node)
{
	return node->kind == MAS_FLOW_RUN ? now_ms()
	                                  : mas_clock_monotonic() * 1e3;
}

static void *allocate(size_t count, size_t size)
{
	void *memory = calloc(count ? count : 1, size);

	if (!memory)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	return memory;
}

/* ---- the state: a jv, or a line of text ---- */

/* The state as a jv (parsing the line it is held as). */
static jv token_state(struct token *t)
{
	if (!jv_is_valid(t->state)) {
		t->state = jv_parse_sized(t->line, (int)t->length);
		t->length = 0;
	}
	return jv_copy(t->state);
}

static void set_state(struct token *t, jv state)
{
	jv_free(t->state);
	t->state = state;
	t->length = 0;
}

/* A copy of LENGTH bytes of TEXT, NUL-terminated, in *BUFFER of *ROOM
 * bytes, grown when it must be; returns *BUFFER. */
static char *copy_into(char **buffer, size_t *room, const char *text,
                       size_t length)
{
	if (*room < length + 1) {
		char *more = realloc(*buffer, length + 1);

		if (!more)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		*buffer = more;
		*room = length + 1;
	}
	memcpy(*buffer, text, length);
	(*buffer)[length] = '\0';
	return *buffer;
}

/* Hold the state as LINE (LENGTH bytes), which the scanner passed,
 * finding SCAN. */
static void set_line(struct token *t, const char *line, size_t length,
                     const struct mas_json_scan *scan)
{
	copy_into(&t->line, &t->line_capacity, line, length);
	t->length = length;
	t->line_has_meta = scan->has_meta;
	t->line_empty = scan->empty;
	t->line_close = scan->close;
	mas_jv_drop(t->state);
	t->state = jv_invalid();
}

/* The state as text, for a checkpoint: the line it is held as, or its
 * dump, malloc'd into *OWNED (NULL when nothing was). */
static const char *state_text(struct token *t, char **owned)
{
	size_t length;

	*owned = NULL;
	if (!jv_is_valid(t->state))
		return t->line;
	return *owned = mas_json_dump_text(jv_copy(t->state), &length);
}

/* ---- tokens ---- */

static struct frame *top(struct token *t)
{
	return &t->frames[t->depth - 1];
}

static void push_frame(struct token *t, struct mas_flow *flow, int single)
{
	struct frame *f = &t->frames[t->depth++];
	size_t edges = flow->edge_count + 1;

	f->flow = flow;
	f->at = MAS_FLOW_START;
	f->next = MAS_FLOW_UNKNOWN;
	f->edge = -1;
	f->single = single;
	if (f->counts_room < edges) {
		free(f->counts);
		f->counts = allocate(edges, sizeof(*f->counts));
		f->counts_room = edges;
	} else {
		memset(f->counts, 0, edges * sizeof(*f->counts));
	}
	/* the path is empty: never used, or cleared by pop_frame */
	f->input = jv_invalid();
}

static void pop_frame(struct token *t)
{
	struct frame *f = &t->frames[--t->depth];

	mas_flow_path_clear(&f->path);
	mas_jv_drop(f->input);
	f->input = jv_invalid();
}

/*
 * A spare token made new, with the memory of its line and of its
 * frames' counts and paths kept: allocating them afresh for every
 * record was a fifth of mas-flow's instructions on a chain of run
 * nodes (callgrind, bench-flow.sh).
 */
static void token_clear(struct token *t)
{
	char *line = t->line, *id = t->id_buffer;
	size_t room = t->line_capacity, id_room = t->id_room;

	/* the frames need no clearing: push_frame sets what it uses */
	memset(t, 0, offsetof(struct token, frames));
	memset(&t->depth, 0, sizeof(*t) - offsetof(struct token, depth));
	t->line = line;
	t->line_capacity = room;
	t->id_buffer = id;
	t->id_room = id_room;
}

static void token_set_id(struct token *t, const char *id, size_t length)
{
	t->id = copy_into(&t->id_buffer, &t->id_room, id, length);
}

static void token_destroy(struct token *t)
{
	for (int i = 0; i < MAX_FRAMES; i++) {
		free(t->frames[i].counts);
		mas_flow_path_release(&t->frames[i].path);
	}
	free(t->line);
	free(t->id_buffer);
	free(t);
}

static struct token *token_new(struct runner_root *root, jv state)
{
	struct token *t = root->spare;

	if (t) {
		root->spare = t->next;
		root->spare_count--;
		token_clear(t);
	} else {
		t = allocate(1, sizeof(*t));
	}

	t->root = root;
	t->state = state;
	t->error = jv_invalid();
	t->step_input = jv_invalid();
	t->failed_path = jv_invalid();
	t->early_reply = jv_invalid();
	t->results = jv_invalid();
	t->errors = jv_invalid();
	t->branch_paths = jv_invalid();
	return t;
}

static void token_free(struct token *t)
{
	while (t->depth > 0)
		pop_frame(t);
	mas_jv_drop(t->state);
	mas_jv_drop(t->error);
	mas_jv_drop(t->step_input);
	mas_jv_drop(t->failed_path);
	mas_jv_drop(t->early_reply);
	mas_jv_drop(t->results);
	mas_jv_drop(t->errors);
	mas_jv_drop(t->branch_paths);
	t->id = NULL;
	if (t->root->spare_count < SPARE_MAX) {
		t->next = t->root->spare;
		t->root->spare = t;
		t->root->spare_count++;
	} else {
		token_destroy(t);
	}
}

/* ---- finishing a record ---- */

static double epoch_seconds(void)
{
	return (double)mas_clock_epoch_ms() / 1000.0;
}

/* The joblog line, in GNU parallel's spirit: id, start (epoch seconds),
 * duration, 0 or 1, the nodes passed. */
static void log_job(struct token *t, int failed)
{
	FILE *joblog = t->root->options.joblog;
	const struct mas_flow_path *path = &t->frames[0].path;
	jv id = t->id ? jv_parse(t->id) : jv_string("");

	if (jv_get_kind(id) != JV_KIND_STRING) {
		jv_free(id);
		id = jv_string(t->id);
	}
	fprintf(joblog, "%s\t%.3f\t%.6f\t%d\t", jv_string_value(id),
	        t->started, epoch_seconds() - t->started, failed);
	jv_free(id);
	for (size_t i = 0; i < path->count; i++) {
		jv entry = mas_flow_step_json(&path->steps[i]);
		jv node = jv_object_get(entry, jv_string("node"));

		fprintf(joblog, "%s%s", i ? " " : "",
		        jv_get_kind(node) == JV_KIND_STRING ?
		        jv_string_value(node) : "?");
		jv_free(node);
	}
	fputc('\n', joblog);
}

/* The state with meta.flow (and the error) set, as a jv. */
static jv final_state(struct token *t, jv path, jv extra_meta)
{
	jv state = token_state(t);
	jv meta = jv_object_get(jv_copy(state), jv_string("meta"));

	if (jv_get_kind(meta) != JV_KIND_OBJECT) {
		jv_free(meta);
		meta = jv_object();
	}
	meta = jv_object_set(meta, jv_string("flow"), path);
	meta = jv_object_merge(meta, extra_meta);
	state = jv_object_set(state, jv_string("meta"), meta);
	if (jv_is_valid(t->error))
		state = jv_object_set(state, jv_string("error"),
		                      jv_copy(t->error));
	return state;
}

/* A line held as text, with meta.flow spliced in before its closing
 * brace: no parse, no dump.  Malloc'd, *LENGTH bytes. */
static char *spliced_line(struct token *t, size_t *length)
{
	static const char head[] = ",\"meta\":{\"flow\":";
	size_t skip = (size_t)t->line_empty;
	struct mas_json_text text = { NULL, 0, 0 };

	/* one buffer, sized for the usual path: no copy of the path's text */
	mas_json_reserve(&text, t->line_close + sizeof(head) + 64 *
	                 t->frames[0].path.count + 8);
	mas_json_put(&text, t->line, t->line_close);
	/* no comma after an empty object's brace */
	mas_json_put(&text, head + skip, sizeof(head) - 1 - skip);
	mas_flow_path_put(&text, &t->frames[0].path);
	mas_json_put(&text, "}}", 2);
	*length = text.length;
	return text.data;
}

static void remember_order(struct runner_root *root, size_t ticket, long seq)
{
	/* only the emitted mark of checkpoints reads it, and only its
	 * flush hook takes from it: without, it would grow for ever */
	if (!root->options.checkpoint)
		return;
	if (root->order_tail - root->order_head == root->order_size) {
		size_t size = root->order_size ? root->order_size * 2 : 1024;
		size_t *tickets = allocate(size, sizeof(*tickets));
		long *seqs = allocate(size, sizeof(*seqs));

		for (size_t i = root->order_head; i < root->order_tail; i++) {
			tickets[i & (size - 1)] =
				root->tickets[i & (root->order_size - 1)];
			seqs[i & (size - 1)] =
				root->seqs[i & (root->order_size - 1)];
		}
		free(root->tickets);
		free(root->seqs);
		root->tickets = tickets;
		root->seqs = seqs;
		root->order_size = size;
	}
	root->tickets[root->order_tail & (root->order_size - 1)] = ticket;
	root->seqs[root->order_tail++ & (root->order_size - 1)] = seq;
}

/* Before each write of stdout: what a reader will see is stored. */
static void output_flushing(void *data)
{
	struct runner_root *root = data;

	mas_flow_checkpoint_commit(root->options.checkpoint);
}

/* After each flush of stdout: every record written before it is out. */
static void output_flushed(void *data)
{
	struct runner_root *root = data;
	size_t written;
	long seq = 0;

	if (!root->run || !root->options.checkpoint)
		return;
	written = mas_run_written(root->run);
	while (root->order_head < root->order_tail &&
	       root->tickets[root->order_head & (root->order_size - 1)] <
	       written)
		seq = root->seqs[root->order_head++ & (root->order_size - 1)];
	if (seq > 0 && !root->options.keep_emitted)
		mas_flow_checkpoint_emitted(root->options.checkpoint, seq);
	else
		mas_flow_checkpoint_commit(root->options.checkpoint);
}

static void branch_done(struct token *t);

/* Whether RECORD (consumed) holds an error object. */
static int has_error(jv record)
{
	jv error;
	int kind;

	if (jv_get_kind(record) != JV_KIND_OBJECT) {
		jv_free(record);
		return 0;
	}
	error = jv_object_get(record, jv_string("error"));
	kind = jv_get_kind(error);
	jv_free(error);
	return kind == JV_KIND_OBJECT;
}

/* The record's output line (*TEXT, malloc'd, *LENGTH bytes) or, when
 * it holds an error, which the record loop must count, the record. */
static jv output_of(struct token *t, const char *waiting_at, char **text,
                    size_t *length)
{
	jv meta, record;

	*text = NULL;
	if (jv_is_valid(t->state) && !jv_is_valid(t->error) && !waiting_at &&
	    !has_error(jv_copy(t->state)) &&
	    !jv_object_has(jv_copy(t->state), jv_string("meta"))) {
		/* dumped once, the path spliced in as for a line */
		char *line = mas_json_dump_text(jv_copy(t->state), length);
		struct mas_json_scan dumped = {
			.close = *length - 1, .empty = *length == 2,
		};

		set_line(t, line, *length, &dumped);
		free(line);
	}
	if (!jv_is_valid(t->state) && !t->line_has_meta &&
	    !jv_is_valid(t->error) && !waiting_at) {
		*text = spliced_line(t, length);
		return jv_invalid();
	}
	meta = jv_object();
	if (waiting_at) {
		meta = jv_object_set(meta, jv_string("run_id"),
		                     jv_string(t->root->options.run_id ?
		                               t->root->options.run_id : ""));
		meta = jv_object_set(meta, jv_string("waiting_at"),
		                     jv_string(waiting_at));
	}
	record = final_state(t, mas_flow_path_json(&t->frames[0].path), meta);
	if (waiting_at)
		record = jv_object_set(record, jv_string("status"),
		                       jv_string("waiting"));
	if (has_error(jv_copy(record)))
		return record;
	*text = mas_json_dump_text(record, length);
	return jv_invalid();
}

/* The record has reached end, failed for good, or stopped at an
 * interrupt (WAITING_AT: that node's name; the plain state is stored,
 * to go on from). */
static void finish(struct token *t, const char *waiting_at)
{
	struct runner_root *root = t->root;
	struct mas_flow_checkpoint *checkpoint = root->options.checkpoint;
	char *line, *owned = NULL;
	size_t length;
	jv record;

	if (t->parent) {
		branch_done(t);
		return;
	}
	record = output_of(t, waiting_at, &line, &length);
	if (root->options.joblog)
		log_job(t, !line);
	if (checkpoint) {
		const char *text = waiting_at ? state_text(t, &owned) :
		                   line ? line : (owned = mas_json_dump_text(
		                           jv_copy(record), &length));

		mas_flow_checkpoint_done(checkpoint, t->seq, t->steps,
		                         waiting_at ? MAS_FLOW_RECORD_WAITING :
		                         MAS_FLOW_RECORD_DONE, text);
		free(owned);
	}
	if (line)
		mas_run_complete_line(root->run, t->ticket, line, length);
	else
		mas_run_complete(root->run, t->ticket, record);
	token_free(t);
}

/* ---- steps ---- */

static struct mas_flow_node *current_node(struct token *t)
{
	struct frame *f = top(t);

	return &f->flow->nodes[f->at];
}

/* The step joins the path, with EXTRA members (consumed) for its entry;
 * at the top level a completed step is stored (STORE), with the state it
 * left. */
static void record_step(struct token *t, jv extra, int store)
{
	struct frame *f = top(t);
	struct mas_flow_node *node = &f->flow->nodes[f->at];
	struct mas_flow_checkpoint *checkpoint = t->root->options.checkpoint;
	char name[256];

	mas_flow_path_add(&f->path, node->name,
	                  mas_clock_written_duration(t->step_began,
	                                             step_clock(node)),
	                  t->tries, extra);
	if (mas_metrics_enabled()) {
		snprintf(name, sizeof(name), "node=\"%s\"", node->name);
		mas_metrics_count("mas_flow_steps_total", "Node steps run by "
		                  "mas-flow", name, 1);
	}
	if (store && checkpoint && t->depth == 1 && t->seq > 0) {
		char *owned;
		const char *text = state_text(t, &owned);
		size_t length;
		char *entry = mas_flow_step_text(
			&f->path.steps[f->path.count - 1], &length);

		mas_flow_checkpoint_step(checkpoint, t->seq,
		                         (long)f->path.count, node->name,
		                         f->edge, f->path.steps[f->path.count -
		                         1].ms, entry, text);
		free(owned);
		free(entry);
	}
}

/*
 * Put RESULT, the node's output, into the state as its output option
 * says (or its kind's default): under a key, merged, or in place of the
 * state.  Returns 0, or -1 with *ERROR set when it cannot.
 */
static int place(struct token *t, struct mas_flow_node *node, jv result,
                 jv *error)
{
	const char *output = node->output ? node->output :
	                     node->default_output;

	if (output && strcmp(output, "merge") != 0) {
		set_state(t, jv_object_set(token_state(t), jv_string(output),
		                           result));
		return 0;
	}
	if (jv_get_kind(result) != JV_KIND_OBJECT) {
		jv_free(result);
		*error = mas_error(MAS_ERR_INVALID_REQUEST, "node '%s': output "
		                   "is not a JSON object", node->name);
		return -1;
	}
	if (output)
		set_state(t, jv_object_merge(token_state(t), result));
	else
		set_state(t, result);
	return 0;
}

static void step_failed(struct token *t, jv error);

/*
 * A step ended well with RESULT (consumed; an invalid jv means the
 * state is already set) and EXTRA fields for its path entry.  Returns
 * 1, or 0 when the result could not be placed and the step failed (the
 * token may be gone then).
 */
static int step_succeeded(struct token *t, jv result, jv extra)
{
	struct mas_flow_node *node = current_node(t);
	jv error;

	if (top(t)->single) {
		/* a branch keeps its node's raw result for the join */
		if (jv_is_valid(result))
			set_state(t, result);
	} else if (jv_is_valid(result) &&
	           place(t, node, result, &error) != 0) {
		jv_free(extra);
		step_failed(t, error);
		return 0;
	}
	mas_jv_drop(t->step_input);
	t->step_input = jv_invalid();
	record_step(t, extra, 1);
	top(t)->next = MAS_FLOW_UNKNOWN;
	return 1;
}

static long retry_delay_ms(int tries)
{
	long wait = 10L << (tries - 1 < 6 ? tries - 1 : 6);

	return wait > 1000 ? 1000 : wait;
}

static void sleep_until_retry(struct token *t)
{
	t->wake = now_ms() + (double)retry_delay_ms(t->tries);
	t->next = t->root->sleepers;
	t->root->sleepers = t;
}

/* A failure inside a subgraph is its flow node's failure: the error
 * names that node, and the node's path entry holds the inner path. */
static void leave_subgraph_failed(struct token *t, jv error)
{
	jv_free(t->failed_path);
	t->failed_path = mas_flow_path_json(&top(t)->path);
	pop_frame(t);
	step_failed(t, jv_object_delete(error, jv_string("node")));
}

/*
 * The step failed with ERROR (an error object, consumed): try again
 * after a pause while it has retries left, else take its on_error, else
 * the failure ends the subgraph or the record.
 */
static void step_failed(struct token *t, jv error)
{
	struct frame *f = top(t);
	struct mas_flow_node *node = &f->flow->nodes[f->at];
	jv entry, known;

	if (t->tries <= node->retries) {
		jv_free(error);
		if (jv_is_valid(t->step_input))
			set_state(t, jv_copy(t->step_input));
		t->tries++;
		t->retrying = 1;
		f->next = f->at;
		sleep_until_retry(t);
		return;
	}
	known = jv_object_get(jv_copy(error), jv_string("node"));
	if (!jv_is_valid(known))
		error = jv_object_set(error, jv_string("node"),
		                      jv_string(node->name));
	jv_free(known);
	entry = JV_OBJECT(jv_string("error"),
	                  jv_object_get(jv_copy(error), jv_string("code")));
	if (jv_is_valid(t->failed_path))
		entry = jv_object_set(entry, jv_string("flow"), t->failed_path);
	t->failed_path = jv_invalid();
	record_step(t, entry, 0);
	jv_free(t->step_input);
	t->step_input = jv_invalid();
	if (node->on_error != MAS_FLOW_UNKNOWN && !f->single) {
		/* the handler sees the error, and may remove it */
		set_state(t, jv_object_set(token_state(t), jv_string("error"),
		                           error));
		f->next = node->on_error;
		advance(t);
		return;
	}
	if (t->depth > 1 && !f->single) {
		leave_subgraph_failed(t, error);
		return;
	}
	jv_free(t->error);
	t->error = error;
	finish(t, NULL);
}

/* ---- run nodes: co-process replicas ---- */

/* The replica of the token's run node with the fewest records queued. */
static struct replica *pick_replica(struct token *t)
{
	struct node_runtime *rt = &top(t)->flow->runner->nodes[top(t)->at];
	struct replica *best = &rt->replicas[0];

	for (int i = 1; i < rt->count; i++)
		if (rt->replicas[i].queued < best->queued)
			best = &rt->replicas[i];
	return best;
}

static void enqueue(struct replica *r, struct token *t)
{
	t->next = NULL;
	if (r->tail)
		r->tail->next = t;
	else
		r->head = t;
	r->tail = t;
	r->queued++;
}

static struct token *dequeue(struct replica *r)
{
	struct token *t = r->head;

	if (t) {
		r->head = t->next;
		if (!r->head)
			r->tail = NULL;
		r->queued--;
		t->next = NULL;
	}
	return t;
}

static void send_state(struct replica *r, struct token *t)
{
	if (!jv_is_valid(t->state)) {
		mas_coprocess_send(&r->child, t->line, t->length);
	} else {
		size_t length;
		char *text = mas_json_dump_text(jv_copy(t->state), &length);

		mas_coprocess_send(&r->child, text, length);
		free(text);
	}
}

/* A broken filter stays broken when the run is tried again later: its
 * errors are not transient (exit 1, not 75). */
static jv permanent(jv error)
{
	return jv_object_set(error, jv_string("transient"), jv_false());
}

static int start_replica(struct replica *r, struct mas_flow_node *node,
                         jv *error)
{
	char *message = NULL;

	if (mas_coprocess_start(&r->child, &message) == 0)
		return 0;
	*error = permanent(mas_error(MAS_ERR_INTERNAL, "node '%s': %s",
	                             node->name, message ? message : "?"));
	free(message);
	return -1;
}

static int start_run(struct token *t, struct mas_flow_node *node)
{
	struct replica *r = pick_replica(t);
	jv error;

	if (r->child.pid == 0 && start_replica(r, node, &error) != 0) {
		step_failed(t, error);
		return 0;
	}
	t->wake = node->timeout > 0 ? now_ms() + node->timeout * 1e3 : 0;
	enqueue(r, t);
	/* A child whose input is closed finishes what it holds first; a
	 * fresh one gets this record then (collect). */
	if (!r->closed) {
		send_state(r, t);
		r->owed++;
	}
	return 0;
}

/* The oldest record R's child owes an answer for. */
static struct token *take_owed(struct replica *r)
{
	r->owed--;
	return dequeue(r);
}

/* The id in an answer must be the one sent, when both have one: a
 * filter that printed two lines for one would shift every answer
 * after it onto the wrong record. */
/* Whether the id texts A (NUL-terminated) and B (LENGTH bytes) name
 * the same record. */
static int same_id(const char *a, const char *b, size_t length)
{
	return mas_json_equal_text(a, strlen(a), b, length);
}

static int same_record(struct token *t, const struct mas_json_scan *scan)
{
	return !t->id || !scan->id || same_id(t->id, scan->id,
	                                      scan->id_length);
}

static jv bad_line(struct mas_flow_node *node, const char *what,
                   const char *line, size_t length)
{
	int shown = length > 200 ? 200 : (int)length;

	return permanent(mas_error(MAS_ERR_UPSTREAM_ERROR, "node '%s': "
	                           "command '%s' %s: %.*s", node->name,
	                           node->argv[0], what, shown, line));
}

/* The answer LINE, an object that lacks an id, as the state of T,
 * which has one: the id is put back, so a filter that builds its answer
 * afresh (`jq '{x: .a}'`) loses no record's identity. */
static void set_line_with_id(struct token *t, const char *line,
                             size_t length)
{
	struct mas_json_scan scan;
	size_t with_length;
	char *with = mas_json_with_id(line, length, t->id, strlen(t->id),
	                              &with_length);

	mas_json_scan_object(with, with_length, &scan);
	set_line(t, with, with_length, &scan);
	free(with);
}

/* The error object NODE's co-process answered with (consumed), as the
 * step's failure: as given when it has a string code and message, as
 * mas programs write them; else an UPSTREAM_ERROR naming the node,
 * with what was given under "given" (a missing code would put an
 * invalid value in the path, which dumping aborts on). */
static jv answer_error(const struct mas_flow_node *node, jv error)
{
	jv code = jv_object_get(jv_copy(error), jv_string("code"));
	jv message = jv_object_get(jv_copy(error), jv_string("message"));
	int whole = jv_get_kind(code) == JV_KIND_STRING &&
	            jv_get_kind(message) == JV_KIND_STRING;

	jv_free(code);
	jv_free(message);
	if (whole)
		return error;
	return jv_object_set(permanent(mas_error(MAS_ERR_UPSTREAM_ERROR,
	        "node '%s': command '%s' answered with an error that has "
	        "no string code and message", node->name, node->argv[0])),
	        jv_string("given"), error);
}

/* TOKEN's answer LINE came from NODE's co-process; OBJECT is what the
 * scanner found in it, NULL when it is not one JSON object. */
static void answered(struct token *t, struct mas_flow_node *node,
                     const char *line, size_t length,
                     const struct mas_json_scan *object)
{
	const char *output = node->output;
	int replaces = !output;
	jv value;

	/* text that is not valid UTF-8 goes to libjq, which mends it */
	if (object && mas_utf8_invalid_offset(line, length) == length) {
		if (!same_record(t, object)) {
			step_failed(t, bad_line(node, "answered for another "
			                        "record (one line out per line "
			                        "in, in order)", line, length));
			return;
		}
		if (replaces && !object->has_error) {
			if (!object->id && t->id)
				set_line_with_id(t, line, length);
			else
				set_line(t, line, length, object);
			if (step_succeeded(t, jv_invalid(), jv_invalid()))
				advance(t);
			return;
		}
	}
	value = jv_parse_sized(line, (int)length);
	if (!jv_is_valid(value)) {
		jv_free(value);
		step_failed(t, bad_line(node, "wrote a line that is not JSON",
		                        line, length));
		return;
	}
	/* only a key can hold an answer that is not an object */
	if (jv_get_kind(value) != JV_KIND_OBJECT &&
	    (replaces || strcmp(output, "merge") == 0)) {
		jv_free(value);
		step_failed(t, bad_line(node, "answered with JSON that is not "
		                        "an object", line, length));
		return;
	}
	/* a mas program answers a record it failed with an error record:
	 * the step failed, with that error */
	if (has_error(jv_copy(value))) {
		step_failed(t, answer_error(node, jv_object_get(
			value, jv_string("error"))));
		return;
	}
	if (replaces && t->id &&
	    !jv_object_has(jv_copy(value), jv_string("id")))
		value = jv_object_set(value, jv_string("id"), jv_parse(t->id));
	if (step_succeeded(t, value, jv_invalid()))
		advance(t);
}


/*
 * An answer whose id is not the oldest owed record's.  Matching by id
 * keeps one bad line from shifting every later answer: records it
 * skipped fail, a repeat of the answer just given is dropped.  Returns
 * whether LINE still answers the (new) oldest record, which answered()
 * fails if the ids still differ.
 */
static int resync(struct replica *r, const struct mas_json_scan *scan,
                  const char *line, size_t length)
{
	struct mas_flow_node *node = r->node;
	size_t skipped = 0;
	struct token *t = r->head;

	for (size_t i = 0; t && i < r->owed; i++, t = t->next)
		if (t->id && same_id(t->id, scan->id, scan->id_length)) {
			skipped = i;
			break;
		}
	if (skipped) {
		while (skipped-- > 0)
			step_failed(take_owed(r), bad_line(node, "gave no "
			            "answer for this record (its next answer "
			            "is for a later one)", line, length));
		return 1;
	}
	if (r->last_id && same_id(r->last_id, scan->id, scan->id_length)) {
		mas_log(MAS_LOG_WARN, "node '%s': a second answer for record "
		        "%s dropped (one line out per line in)", node->name,
		        r->last_id);
		return 0;
	}
	return 1;
}

/* LINE came from R's child: it answers the oldest record it owes,
 * unless its id says otherwise. */
static void take_answer(struct replica *r, const char *line,
                        size_t length)
{
	struct mas_json_scan scan;
	struct token *t;
	int is_object = mas_json_scan_object(line, length, &scan);

	if (is_object && scan.id && r->head->id &&
	    !same_id(r->head->id, scan.id, scan.id_length) &&
	    !resync(r, &scan, line, length))
		return;
	if (r->owed == 0)
		return; /* the skipped records were all it owed */
	t = take_owed(r);
	r->last_id = t->id ? copy_into(&r->last_buffer, &r->last_room, t->id,
	                               strlen(t->id))
	                   : NULL;
	answered(t, r->node, line, length, is_object ? &scan : NULL);
}

/* Seconds a run node's child may take over a record (timeout=), or
 * owe answers in silence when it has none. */
static double silence_limit(const struct mas_flow_node *node)
{
	return node->timeout > 0 ? node->timeout : MAS_FLOW_SILENCE;
}

/* Restart R's child and give it again what it still owed, the oldest
 * record excepted (the caller failed it), and what waited for it. */
static void restart(struct replica *r, struct mas_flow_node *node)
{
	size_t count = r->queued;
	jv error;

	r->closed = 0;
	r->owed = 0;
	if (count == 0)
		return;
	if (start_replica(r, node, &error) != 0) {
		while (r->head)
			step_failed(dequeue(r), jv_copy(error));
		jv_free(error);
		return;
	}
	for (struct token *t = r->head; t; t = t->next) {
		send_state(r, t);
		if (node->timeout > 0)
			t->wake = now_ms() + node->timeout * 1e3;
	}
	r->owed = count;
}

/* R's child ended or hung: the oldest record it held fails, the others
 * go to a fresh child. */
static void replica_failed(struct replica *r, struct mas_flow_node *node,
                           int hung)
{
	struct token *t;
	char how[64];
	int status = mas_coprocess_stop(&r->child, hung);
	jv error;

	mas_coprocess_describe(status, how, sizeof(how));
	if (hung)
		error = mas_error(MAS_ERR_TIMEOUT, "node '%s': command '%s' "
		                  "gave no answer within %g s", node->name,
		                  node->argv[0], silence_limit(node));
	else
		error = permanent(mas_error(MAS_ERR_UPSTREAM_ERROR, "node "
		                            "'%s': command '%s' %s",
		                            node->name, node->argv[0], how));
	mas_log(MAS_LOG_WARN, "node '%s': command '%s' %s%s", node->name,
	        node->argv[0], hung ? "timed out, killed: " : "", how);
	t = take_owed(r);
	restart(r, node);
	if (t)
		step_failed(t, error);
	else
		jv_free(error);
}

/* ---- agent and llm nodes ---- */

static void agent_replied(void *context, jv result)
{
	struct token *t = context;

	if (t->in_start) {
		t->early_reply = result;
		return;
	}
	if (jv_is_valid(result)) {
		if (step_succeeded(t, result, jv_invalid()))
			advance(t);
	} else {
		step_failed(t, jv_invalid_get_msg(result));
	}
}

/* Returns 1 when the reply came at once and the token may go on. */
static int start_agent(struct token *t, struct mas_flow_node *node)
{
	jv reply;

	/* the agent may write to the store (sessions, a model's cache):
	 * it must not wait for our lock */
	mas_flow_checkpoint_commit(t->root->options.checkpoint);
	t->in_start = 1;
	node->start(node->agent, token_state(t), agent_replied, t);
	t->in_start = 0;
	if (!jv_is_valid(t->early_reply) &&
	    !jv_invalid_has_msg(jv_copy(t->early_reply)))
		return 0;
	reply = t->early_reply;
	t->early_reply = jv_invalid();
	if (!jv_is_valid(reply)) {
		step_failed(t, jv_invalid_get_msg(reply));
		return 0;
	}
	return step_succeeded(t, reply, jv_invalid());
}

/* ---- jq nodes ---- */

static int run_jq(struct token *t, struct mas_flow_node *node)
{
	jv result = mas_expr_first(node->expr, token_state(t));
	jv message;

	if (jv_is_valid(result))
		return step_succeeded(t, result, jv_invalid());
	if (!jv_invalid_has_msg(jv_copy(result))) {
		jv_free(result);
		step_failed(t, mas_error(MAS_ERR_INVALID_REQUEST, "node '%s': "
		                         "jq expression gave no output",
		                         node->name));
		return 0;
	}
	message = jv_invalid_get_msg(result);
	step_failed(t, mas_error(MAS_ERR_INVALID_REQUEST, "node '%s': jq: "
	                         "%s", node->name,
	                         jv_get_kind(message) == JV_KIND_STRING ?
	                         jv_string_value(message) : "error"));
	jv_free(message);
	return 0;
}

/* ---- parallel nodes ---- */

static void start_branches(struct token *t, struct mas_flow_node *node)
{
	struct mas_flow *flow = top(t)->flow;
	jv state = token_state(t);

	t->outstanding = node->branch_count;
	jv_free(t->results);
	jv_free(t->errors);
	jv_free(t->branch_paths);
	t->results = jv_array();
	t->errors = jv_array();
	t->branch_paths = jv_object();
	for (size_t i = 0; i < node->branch_count; i++) {
		struct token *b = token_new(t->root, jv_copy(state));

		b->parent = t;
		b->branch = (int)i;
		b->started = t->started;
		push_frame(b, flow, 1);
		top(b)->next = node->branches[i];
		b->steps = t->steps;
		advance(b);
	}
	jv_free(state);
}

/* Every branch is back: put each result in the state, in branch order,
 * as the branch node's output option says (default: under its name). */
static void join(struct token *t)
{
	struct mas_flow_node *node = current_node(t);
	struct mas_flow *flow = top(t)->flow;
	jv extra = JV_OBJECT(jv_string("branches"), t->branch_paths);

	t->branch_paths = jv_invalid();
	for (size_t i = 0; i < node->branch_count; i++) {
		struct mas_flow_node *b = &flow->nodes[node->branches[i]];
		jv result = jv_array_get(jv_copy(t->results), (int)i);
		jv error = jv_array_get(jv_copy(t->errors), (int)i);

		if (jv_get_kind(error) == JV_KIND_OBJECT) {
			jv_free(result);
			jv_free(extra);
			step_failed(t, error);
			return;
		}
		jv_free(error);
		if (!b->output) {
			set_state(t, jv_object_set(token_state(t),
			                           jv_string(b->name), result));
		} else if (place(t, b, result, &error) != 0) {
			jv_free(extra);
			step_failed(t, error);
			return;
		}
	}
	if (step_succeeded(t, jv_invalid(), extra))
		advance(t);
}

static void branch_done(struct token *b)
{
	struct token *t = b->parent;
	struct mas_flow_node *branch = &top(b)->flow->nodes[top(b)->at];
	jv result;

	if (jv_is_valid(b->error)) {
		t->errors = jv_array_set(t->errors, b->branch,
		                         jv_copy(b->error));
		result = jv_null();
	} else {
		result = token_state(b);
	}
	t->results = jv_array_set(t->results, b->branch, result);
	t->branch_paths = jv_object_set(t->branch_paths,
	                                jv_string(branch->name),
	                                mas_flow_path_json(&top(b)->path));
	token_free(b);
	if (--t->outstanding == 0)
		join(t);
}

/* ---- walking the graph ---- */

/*
 * The edge to take from the node the token is at: the first whose
 * condition holds and whose bound is not used up.  Its index, or -1
 * after failing the token.
 */
static long choose(struct token *t)
{
	struct frame *f = top(t);
	struct mas_flow *flow = f->flow;

	for (size_t i = 0; i < flow->edge_count; i++) {
		struct mas_flow_edge *edge = &flow->edges[i];
		jv why;
		int test = 1;

		if (edge->from != f->at ||
		    (edge->max && f->counts[i] >= (unsigned long)edge->max))
			continue;
		if (edge->condition)
			test = mas_expr_test(edge->condition, token_state(t),
			                     &why);
		if (test < 0) {
			jv_free(t->error);
			t->error = mas_error(MAS_ERR_INVALID_REQUEST, "%s:%d: "
			                     "if: %s", flow->path, edge->line,
			                     jv_get_kind(why) == JV_KIND_STRING ?
			                     jv_string_value(why) : "error");
			jv_free(why);
			return -1;
		}
		if (test) {
			f->counts[i]++;
			return (long)i;
		}
	}
	jv_free(t->error);
	t->error = mas_error(MAS_ERR_INVALID_REQUEST, "no edge from '%s' "
	                     "matched", f->at >= 0 ?
	                     flow->nodes[f->at].name : "start");
	return -1;
}

/* The subgraph reached its end: the flow node's step is done, its
 * result the subgraph's final state.  As step_succeeded returns. */
static int leave_subgraph(struct token *t)
{
	jv extra = JV_OBJECT(jv_string("flow"),
	                     mas_flow_path_json(&top(t)->path));
	jv input = jv_copy(top(t)->input), result = jv_invalid();

	pop_frame(t);
	if (current_node(t)->output) {
		result = token_state(t);
		set_state(t, input);
	} else {
		jv_free(input);
	}
	return step_succeeded(t, result, extra);
}

/*
 * Start node AT of the top frame.  Returns 1 when the step finished at
 * once and the token may go on, 0 when it waits (or has ended).
 */
static int start_node(struct token *t)
{
	struct frame *f = top(t);
	struct mas_flow_node *node = &f->flow->nodes[f->at];

	t->step_began = step_clock(node);
	if (t->tries == 0)
		t->tries = 1;
	if (node->retries > 0 && !jv_is_valid(t->step_input))
		t->step_input = token_state(t);
	switch (node->kind) {
	case MAS_FLOW_JQ:
		return run_jq(t, node);
	case MAS_FLOW_RUN:
		return start_run(t, node);
	case MAS_FLOW_FLOW:
		if (t->depth == MAX_FRAMES)
			mas_die(MAS_EXIT_USAGE, "flows nested too deep");
		push_frame(t, node->sub, 0);
		top(t)->input = token_state(t);
		return 1;
	case MAS_FLOW_PARALLEL:
		start_branches(t, node);
		return 0;
	case MAS_FLOW_INTERRUPT:
		step_succeeded(t, jv_invalid(), jv_invalid());
		t->root->waiting++;
		finish(t, node->name);
		return 0;
	default:
		if (!node->start) {
			step_failed(t, permanent(mas_error(MAS_ERR_INTERNAL,
			            "node '%s' cannot run", node->name)));
			return 0;
		}
		return start_agent(t, node);
	}
}

/* Move the token on until it waits or ends; returns 0 then. */
static int advance(struct token *t)
{
	for (;;) {
		struct frame *f = top(t);
		int next = f->next;
		long edge = -1;

		if (next == MAS_FLOW_UNKNOWN && f->single)
			next = f->at >= 0 ? MAS_FLOW_END : f->next;
		if (next == MAS_FLOW_UNKNOWN) {
			edge = choose(t);
			if (edge < 0) {
				finish(t, NULL);
				return 0;
			}
			next = f->flow->edges[edge].to;
		}
		if (next == MAS_FLOW_END) {
			if (t->depth > 1 && !f->single) {
				if (!leave_subgraph(t))
					return 0;
				continue;
			}
			finish(t, NULL);
			return 0;
		}
		if (!t->retrying) {
			t->tries = 0;
			f->edge = (int)edge;
		}
		f->at = next;
		f->next = MAS_FLOW_UNKNOWN;
		if (!t->retrying &&
		    ++t->steps > t->root->flow->recursion_limit) {
			jv_free(t->error);
			t->error = mas_error(MAS_ERR_INVALID_REQUEST, "recursion "
			                     "limit of %ld steps reached before "
			                     "node '%s'",
			                     t->root->flow->recursion_limit,
			                     f->flow->nodes[next].name);
			finish(t, NULL);
			return 0;
		}
		t->retrying = 0;
		if (!start_node(t))
			return 0;
	}
}

/* ---- the record loop's callbacks ---- */

static char *record_id(jv state)
{
	jv id = jv_object_get(jv_copy(state), jv_string("id"));
	char *text = NULL;

	if (jv_is_valid(id) && jv_get_kind(id) != JV_KIND_NULL) {
		size_t length;

		text = mas_json_dump_text(id, &length);
	} else {
		jv_free(id);
	}
	return text;
}

/* A record's token, its state STATE, or (invalid) set by the caller. */
static struct token *top_token(struct runner_root *root, struct mas_run *run,
                               jv state)
{
	struct token *t = token_new(root, state);

	root->run = run;
	t->ticket = mas_run_defer(run);
	if (root->options.joblog)
		t->started = epoch_seconds();
	if (jv_is_valid(t->state)) {
		char *id = record_id(t->state);
		if (id)
			token_set_id(t, id, strlen(id));
		free(id);
	}
	push_frame(t, root->flow, 0);
	return t;
}

/* Records a resume given its input again finds already stored are
 * skipped: their stored state is what counts. */
static int skip_stored(struct runner_root *root)
{
	if (root->skipped >= root->options.skip)
		return 0;
	root->skipped++;
	return 1;
}

static void start_token(struct runner_root *root, struct token *t);

void mas_flow_each(struct mas_run *run, jv record, void *data)
{
	struct mas_flow *flow = data;
	struct runner_root *root = flow->runner->root;

	if (skip_stored(root)) {
		jv_free(record);
		return;
	}
	start_token(root, top_token(root, run, record));
}

int mas_flow_line(struct mas_run *run, const char *line, size_t length,
                  void *data)
{
	struct mas_flow *flow = data;
	struct runner_root *root = flow->runner->root;
	struct mas_json_scan scan;
	char fresh[MAS_ID_SIZE + 2];
	struct token *t;

	/* spans read the record, bad lines get the loop's words, and an id
	 * that is not a string is the loop's to keep as written */
	if (mas_trace_enabled() ||
	    !mas_json_scan_object(line, length, &scan) ||
	    (scan.id && scan.id[0] != '"') ||
	    mas_utf8_invalid_offset(line, length) != length)
		return 0;
	if (skip_stored(root))
		return 1;
	t = top_token(root, run, jv_invalid());
	if (scan.id) {
		token_set_id(t, scan.id, scan.id_length);
		set_line(t, line, length, &scan);
	} else {
		/* the id every record has, first, as the loop gives it */
		size_t n;

		fresh[0] = '"';
		mas_id_new(fresh + 1);
		n = strlen(fresh);
		fresh[n] = '"';
		fresh[n + 1] = '\0';
		token_set_id(t, fresh, n + 1);
		set_line_with_id(t, line, length);
	}
	start_token(root, t);
	return 1;
}

/* Number a new record's token, store it, and set it going. */
static void start_token(struct runner_root *root, struct token *t)
{
	t->seq = ++root->seq;
	remember_order(root, t->ticket, t->seq);
	if (root->options.checkpoint) {
		char *owned;
		const char *text = state_text(t, &owned);

		mas_flow_checkpoint_record(root->options.checkpoint, t->seq,
		                           t->id, text);
		free(owned);
	}
	advance(t);
}

/* Edge counts from the stored step log, so "max N" holds across a
 * resume. */
static void restore_counts(struct frame *f, jv edges)
{
	int length = jv_array_length(jv_copy(edges));

	for (int i = 0; i < length; i++) {
		int edge = (int)jv_number_value(jv_array_get(jv_copy(edges), i));

		if (edge >= 0 && (size_t)edge < f->flow->edge_count)
			f->counts[edge]++;
	}
	jv_free(edges);
}

static int node_index(struct mas_flow *flow, const char *name)
{
	for (size_t i = 0; i < flow->node_count; i++)
		if (strcmp(flow->nodes[i].name, name) == 0)
			return (int)i;
	return MAS_FLOW_UNKNOWN;
}

static void add_stored_path(struct mas_flow_path *path, jv entries)
{
	int length = jv_array_length(jv_copy(entries));

	for (int i = 0; i < length; i++)
		mas_flow_path_add_entry(path, jv_array_get(jv_copy(entries),
		                                           i));
	jv_free(entries);
}

/* A stored record's token, at its last completed step. */
static struct token *stored_token(struct runner_root *root,
                                  struct mas_run *run, jv stored, jv state)
{
	struct token *t = top_token(root, run, state);

	t->seq = (long)jv_number_value(jv_object_get(jv_copy(stored),
	                                             jv_string("seq")));
	t->steps = (long)jv_number_value(jv_object_get(jv_copy(stored),
	                                               jv_string("steps")));
	remember_order(root, t->ticket, t->seq);
	add_stored_path(&top(t)->path, jv_object_get(jv_copy(stored),
	                                             jv_string("path")));
	restore_counts(top(t), jv_object_get(stored, jv_string("edges")));
	return t;
}

void mas_flow_each_stored(struct mas_run *run, jv record, void *data)
{
	struct mas_flow *flow = data;
	struct runner_root *root = flow->runner->root;
	jv stored = jv_object_get(record, jv_string("resume"));
	jv text = jv_object_get(jv_copy(stored), jv_string("state"));
	jv node = jv_object_get(jv_copy(stored), jv_string("node"));
	int done = (int)jv_number_value(jv_object_get(jv_copy(stored),
	                                              jv_string("done")));
	int go_on = jv_get_kind(jv_object_get(jv_copy(stored),
	                                      jv_string("continue"))) ==
	            JV_KIND_TRUE;
	jv state = jv_get_kind(text) == JV_KIND_STRING ?
	           jv_parse(jv_string_value(text)) : jv_invalid();
	int whole = jv_get_kind(state) == JV_KIND_OBJECT;
	struct token *t = stored_token(root, run, jv_copy(stored),
		whole ? jv_copy(state) : JV_OBJECT(jv_string("id"),
			jv_object_get(jv_copy(stored), jv_string("id"))));
	int at = jv_get_kind(node) == JV_KIND_STRING ?
	         node_index(flow, jv_string_value(node)) : MAS_FLOW_START;

	jv_free(text);
	jv_free(state);
	jv_free(stored);
	if (!whole) {
		/* a damaged store: the record fails alone, with its id */
		jv_free(node);
		t->error = mas_error(MAS_ERR_INTERNAL, "resume: the stored "
		                     "state of this record is not a JSON "
		                     "object");
		finish(t, NULL);
		return;
	}
	if (done == MAS_FLOW_RECORD_DONE) {
		/* it ended, but its output was not known written: as stored */
		jv_free(node);
		mas_run_complete(run, t->ticket, jv_copy(t->state));
		token_free(t);
		return;
	}
	if (at == MAS_FLOW_UNKNOWN) {
		t->error = mas_error(MAS_ERR_INVALID_REQUEST, "resume: the "
		                     "flow has no node '%s' any more",
		                     jv_string_value(node));
		jv_free(node);
		finish(t, NULL);
		return;
	}
	top(t)->at = at;
	if (done == MAS_FLOW_RECORD_WAITING && !go_on) {
		root->waiting++;
		finish(t, jv_string_value(node));
		jv_free(node);
		return;
	}
	jv_free(node);
	advance(t);
}

/* The earliest time a sleeper or a run deadline is due, in ms from now
 * (-1: none), bounded by TIMEOUT_MS. */
static int next_due(struct runner_root *root, int timeout_ms)
{
	double first = -1, now = now_ms();
	int ms;

	for (struct token *t = root->sleepers; t; t = t->next)
		if (first < 0 || t->wake < first)
			first = t->wake;
	for (size_t i = 0; i < root->replica_count; i++) {
		struct replica *r = root->replicas[i];
		struct token *head = r->head;
		double due = head && r->node->timeout > 0 ? head->wake : 0;

		if (r->owed > 0 && r->node->timeout <= 0)
			due = now + (MAS_FLOW_SILENCE - mas_coprocess_silent(
				&r->child, now / 1e3)) * 1e3;
		if (due > 0 && (first < 0 || due < first))
			first = due;
	}
	if (first < 0)
		return timeout_ms;
	ms = first <= now ? 0 : (int)(first - now) + 1;
	return timeout_ms >= 0 && timeout_ms < ms ? timeout_ms : ms;
}

static void wake_sleepers(struct runner_root *root)
{
	double now = now_ms();
	struct token **link = &root->sleepers, *ready = NULL;

	while (*link) {
		struct token *t = *link;

		if (t->wake <= now) {
			*link = t->next;
			t->next = ready;
			ready = t;
		} else {
			link = &t->next;
		}
	}
	while (ready) {
		struct token *t = ready;

		ready = t->next;
		t->next = NULL;
		t->wake = 0;
		advance(t);
	}
}

/* R's child ended owing nothing (its input was closed, or it quit
 * between records): reaped, and started afresh for what waits. */
static void replica_ended(struct replica *r)
{
	int status = mas_coprocess_stop(&r->child, 0);
	char how[64];

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		mas_coprocess_describe(status, how, sizeof(how));
		mas_log(MAS_LOG_WARN, "node '%s': command '%s' %s",
		        r->node->name, r->node->argv[0], how);
	}
	restart(r, r->node);
}

/* Whether R's child owes answers and has been silent too long: past
 * the oldest record's deadline (timeout=), or MAS_FLOW_SILENCE. */
static int replica_hung(struct replica *r, double now)
{
	if (r->owed == 0)
		return 0;
	if (r->node->timeout > 0)
		return r->head->wake > 0 && r->head->wake <= now;
	return mas_coprocess_silent(&r->child, now / 1e3) >= MAS_FLOW_SILENCE;
}

/* Answers, deaths and deadlines of every replica. */
static void collect(struct runner_root *root)
{
	double now = mas_clock_monotonic() * 1e3;

	batch_ms = now;

	for (size_t i = 0; i < root->replica_count; i++) {
		struct replica *r = root->replicas[i];
		char *line;
		size_t length;

		while ((line = mas_coprocess_line(&r->child, &length))) {
			if (r->owed > 0)
				take_answer(r, line, length);
			else
				mas_log(MAS_LOG_WARN, "node '%s': a line for "
				        "no record dropped: %.*s", r->node->name,
				        length > 200 ? 200 : (int)length, line);
		}
		if (r->child.pid > 0 && mas_coprocess_ended(&r->child)) {
			if (r->owed > 0)
				replica_failed(r, r->node, 0);
			else
				replica_ended(r);
		} else if (replica_hung(r, now)) {
			replica_failed(r, r->node, 1);
		}
	}
	batch_ms = 0;
}

/*
 * Once every input record is read and nothing but co-processes can move
 * a record on (no retry timer, no model request), each child that owes
 * answers gets end of file: a filter that reads ahead answers only
 * then.  A record sent on to a closed child waits for a fresh one.
 */
static void close_if_stalled(struct runner_root *root, struct mas_llm *llm)
{
	if (!root->input_ended || root->sleepers ||
	    (llm && mas_llm_in_flight(llm) > 0))
		return;
	for (size_t i = 0; i < root->replica_count; i++) {
		struct replica *r = root->replicas[i];

		if (r->owed > 0 && !r->closed && r->child.pid > 0) {
			mas_coprocess_close_input(&r->child);
			r->closed = 1;
		}
	}
}

void mas_flow_input_end(struct mas_run *run, void *data)
{
	struct mas_flow *flow = data;

	flow->runner->root->run = run;
	flow->runner->root->input_ended = 1;
}

void mas_flow_wait(struct mas_run *run, int timeout_ms, int fd, void *data)
{
	struct mas_flow *flow = data;
	struct runner_root *root = flow->runner->root;
	struct mas_llm *llm = flow->engine ? flow->engine->llm : NULL;

	root->run = run;
	close_if_stalled(root, llm);
	timeout_ms = next_due(root, timeout_ms);
	if (llm && mas_llm_in_flight(llm) > 0) {
		struct pollfd fds[2 * 64 + 1];
		size_t n = root->replica_count <= 64 ?
		           mas_coprocess_pollfds(root->children,
		                                 root->replica_count, fds) : 0;

		fds[n] = (struct pollfd){ fd, POLLIN, 0 };
		mas_flow_checkpoint_commit(root->options.checkpoint);
		mas_llm_poll(llm, fds, n + (fd >= 0),
		             root->replica_count <= 64 ? timeout_ms : 10);
		mas_coprocess_poll(root->children, root->replica_count, -1, 0);
	} else {
		mas_coprocess_poll(root->children, root->replica_count, fd,
		                   timeout_ms);
	}
	collect(root);
	wake_sleepers(root);
}

unsigned long mas_flow_waiting(const struct mas_flow *flow)
{
	return flow->runner ? flow->runner->root->waiting : 0;
}

/* ---- set-up and tear-down ---- */

static void runner_new(struct runner_root *root, struct mas_flow *flow)
{
	flow->runner = allocate(1, sizeof(*flow->runner));
	flow->runner->root = root;
	flow->runner->nodes = allocate(flow->node_count,
	                               sizeof(*flow->runner->nodes));
	for (size_t i = 0; i < flow->node_count; i++) {
		struct mas_flow_node *node = &flow->nodes[i];
		struct node_runtime *rt = &flow->runner->nodes[i];

		if (node->sub)
			runner_new(root, node->sub);
		if (node->kind != MAS_FLOW_RUN)
			continue;
		rt->count = node->replicas > 0 ? node->replicas : 1;
		rt->replicas = allocate((size_t)rt->count,
		                        sizeof(*rt->replicas));
		for (int r = 0; r < rt->count; r++) {
			size_t n = root->replica_count++;

			rt->replicas[r].node = node;
			mas_coprocess_init(&rt->replicas[r].child, node->name,
			                   node->argv);
			root->replicas = realloc(root->replicas, (n + 1) *
			                         sizeof(*root->replicas));
			root->children = realloc(root->children, (n + 1) *
			                         sizeof(*root->children));
			if (!root->replicas || !root->children)
				mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
			root->replicas[n] = &rt->replicas[r];
			root->children[n] = &rt->replicas[r].child;
		}
	}
}

void mas_flow_runner_start(struct mas_flow *flow,
                           const struct mas_flow_run_options *options)
{
	struct runner_root *root = allocate(1, sizeof(*root));

	root->flow = flow;
	if (options)
		root->options = *options;
	root->seq = root->options.skip;
	runner_new(root, flow);
	mas_output_on_flush(output_flushed, root);
	if (root->options.checkpoint)
		mas_output_before_flush(output_flushing, root);
}

static void runner_free(struct mas_flow *flow, int *failed)
{
	if (!flow || !flow->runner)
		return;
	for (size_t i = 0; i < flow->node_count; i++) {
		struct node_runtime *rt = &flow->runner->nodes[i];

		runner_free(flow->nodes[i].sub, failed);
		for (int r = 0; r < rt->count; r++) {
			struct mas_coprocess *child = &rt->replicas[r].child;
			int running = child->pid > 0;
			/* given the node's silence bound to exit after end
			 * of file, then killed: it cannot hold the run */
			int status = mas_coprocess_finish(child,
				silence_limit(&flow->nodes[i]));
			char how[64];

			mas_coprocess_release(child);
			free(rt->replicas[r].last_buffer);
			if (!running || (WIFEXITED(status) &&
			                 WEXITSTATUS(status) == 0))
				continue;
			mas_coprocess_describe(status, how, sizeof(how));
			mas_log(MAS_LOG_WARN, "node '%s': command '%s' %s",
			        flow->nodes[i].name, flow->nodes[i].argv[0],
			        how);
			++*failed;
		}
		free(rt->replicas);
	}
	free(flow->runner->nodes);
	free(flow->runner);
	flow->runner = NULL;
}

void mas_flow_runner_free(struct mas_flow *flow)
{
	struct runner_root *root;
	int failed = 0;

	if (!flow || !flow->runner)
		return;
	root = flow->runner->root;
	mas_output_on_flush(NULL, NULL);
	mas_output_before_flush(NULL, NULL);
	runner_free(flow, &failed);
	while (root->sleepers) {
		struct token *t = root->sleepers;

		root->sleepers = t->next;
		token_free(t);
	}
	while (root->spare) {
		struct token *t = root->spare;

		root->spare = t->next;
		token_destroy(t);
	}
	free(root->replicas);
	free(root->children);
	free(root->tickets);
	free(root->seqs);
	free(root);
}

void mas_flow_each_resumed(struct mas_run *run, jv record, void *data)
{
	struct mas_flow *flow = data;
	struct runner_root *root = flow->runner->root;

	if (root->options.stored_file &&
	    strcmp(mas_run_file(run), root->options.stored_file) == 0)
		mas_flow_each_stored(run, record, data);
	else
		mas_flow_each(run, record, data);
}
