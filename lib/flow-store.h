/*
 * flow-store.h — mas-flow's checkpoints in the state store (store.h).
 *
 * With a run id, each completed node step of each record is stored: the
 * record's latest state (one row per record, replaced at each step) and
 * a line of the step log (node and time).  So storage grows with the
 * number of records plus the number of steps, never with steps times
 * state size.  Writes go in batches of 1,000 records per transaction:
 * after a kill -9, the steps of at most the last batch are lost.
 * Resuming from them is the next stage's.
 */
#ifndef MAS_FLOW_STORE_H
#define MAS_FLOW_STORE_H

#include <stdio.h>
#include <jv.h>

#include "config.h"

struct mas_flow_checkpoint;

/*
 * Open the store CONFIG points to and start run RUN_ID of the flow file
 * FLOW.  NULL with a malloc'd message in *ERROR when the store cannot be
 * opened or the run id is taken.
 */
struct mas_flow_checkpoint *mas_flow_checkpoint_open(
	const struct mas_config *config, const char *run_id,
	const char *flow, char **error);

/* A new record begins; STATE (borrowed) gives its id.  Each call below
 * accepts a NULL checkpoint and then does nothing. */
void mas_flow_checkpoint_record(struct mas_flow_checkpoint *checkpoint,
                                jv state);

/* Node NODE took MS and left STATE (borrowed). */
void mas_flow_checkpoint_step(struct mas_flow_checkpoint *checkpoint,
                              const char *node, double ms, jv state);

/* The record is finished with STATE (borrowed), an error in it or not. */
void mas_flow_checkpoint_done(struct mas_flow_checkpoint *checkpoint,
                              jv state);

/* Mark the run finished ("done", or "failed" if a record failed),
 * commit and close.  Returns 0, or -1 after reporting an error. */
int mas_flow_checkpoint_close(struct mas_flow_checkpoint *checkpoint);

/* Print the runs in the store CONFIG points to, newest first, as JSON
 * Lines to OUT.  Returns 0, or -1 with a malloc'd message in *ERROR. */
int mas_flow_runs(const struct mas_config *config, FILE *out, char **error);

/*
 * Print run RUN_ID as `mas_flow_runs` does, then one line per record:
 * {"seq", "id", "steps", "done", "error"} (error: its code, or null).
 * Returns 0, 1 when there is no such run, or -1 with *ERROR set.
 */
int mas_flow_show(const struct mas_config *config, const char *run_id,
                  FILE *out, char **error);

/* Remove the runs last updated more than SECONDS ago, with their
 * checkpoints; their number, or -1 with *ERROR set. */
long mas_flow_gc(const struct mas_config *config, double seconds,
                 char **error);

#endif
