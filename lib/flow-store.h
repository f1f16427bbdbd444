/*
 * flow-store.h — mas-flow's checkpoints in the state store (store.h).
 *
 * With a run id, each record is stored when it enters (its input state),
 * after each completed node step (its latest state replaces the one
 * before, and a line of the step log keeps the node, time, the edge it
 * came by and its meta.flow entry), and when it ends.  So storage grows
 * with records plus steps, never with steps times state size.
 *
 * Writes go in one transaction that is committed before every write of
 * stdout, so whatever a reader sees is stored; after the write, a small
 * commit moves the run's "emitted" mark: the highest record number
 * whose output is written, with the output file's offset then.  A
 * resume after kill -9 therefore finishes from its stored step every
 * record after the mark and never re-runs a stored step.  What a kill
 * can cost: the steps since the last commit (at most a flush interval,
 * 200 ms, or 4,096 writes) are run again.  A kill between a write and
 * the mark after it would make the resume emit that write's records a
 * second time; when the run wrote to a file, mas_flow_checkpoint_reconcile
 * finds them there instead (the resume appending to that file, or
 * writing elsewhere while the file is still there), and cuts off a line
 * the kill left half written in the file the resume appends to.
 */
#ifndef MAS_FLOW_STORE_H
#define MAS_FLOW_STORE_H

#include <stdio.h>
#include <jv.h>

#include "config.h"

struct mas_flow_checkpoint;

/* A record's "done" column. */
enum {
	MAS_FLOW_RECORD_RUNNING = 0,
	MAS_FLOW_RECORD_DONE = 1,
	MAS_FLOW_RECORD_WAITING = 2,   /* at an interrupt node */
};

/*
 * Open the store CONFIG points to and start run RUN_ID of the flow file
 * FLOW.  NULL with a malloc'd message in *ERROR when the store cannot be
 * opened or the run id is taken; *STATUS then says whether that is for
 * now (MAS_STORE_TRANSIENT: locked, disk full) or -1.
 */
struct mas_flow_checkpoint *mas_flow_checkpoint_open(
	const struct mas_config *config, const char *run_id,
	const char *flow, int *status, char **error);

/*
 * Open run RUN_ID again, to resume it: its flow file's path in *FLOW
 * (malloc'd).  NULL with *ERROR set when there is no such run (*MISSING
 * set too) or the store fails.
 */
struct mas_flow_checkpoint *mas_flow_checkpoint_reopen(
	const struct mas_config *config, const char *run_id, char **flow,
	int *missing, char **error);

/*
 * The records a resume must emit, in order: with RECORD_ID NULL, every
 * one after the emitted mark; else the one record with that id, which
 * must be waiting at an interrupt.  Each is passed to FN as {"seq",
 * "id", "done", "node" (the last completed step's, or null), "steps",
 * "state" (text), "path" (meta.flow entries), "edges" (the edge index
 * of each step, -1 for none)}, consumed.  Returns how many, or -1 with
 * *ERROR set.
 */
long mas_flow_checkpoint_pending(struct mas_flow_checkpoint *checkpoint,
                                 const char *record_id,
                                 void (*fn)(void *data, jv record),
                                 void *data, char **error);

/* The highest record number stored in a reopened run: its input's
 * records up to it are known (0 for none). */
long mas_flow_checkpoint_last_seq(const struct mas_flow_checkpoint *checkpoint);

/* How many of the run's records wait at an interrupt. */
long mas_flow_checkpoint_waiting(struct mas_flow_checkpoint *checkpoint);

/* Each call below accepts a NULL checkpoint and then does nothing.  The
 * texts are borrowed. */

/* Record SEQ (from 1, in input order) with ID (or NULL) enters with
 * STATE. */
void mas_flow_checkpoint_record(struct mas_flow_checkpoint *checkpoint,
                                long seq, const char *id,
                                const char *state);

/* Its step STEP (from 1) ran NODE, reached by EDGE (an edge index, -1:
 * none), in MS, leaving STATE; ENTRY is the step's meta.flow entry. */
void mas_flow_checkpoint_step(struct mas_flow_checkpoint *checkpoint,
                              long seq, long step, const char *node,
                              int edge, double ms, const char *entry,
                              const char *state);

/* The record ended after STEPS steps (DONE: MAS_FLOW_RECORD_DONE, or
 * _WAITING at an interrupt) with STATE. */
void mas_flow_checkpoint_done(struct mas_flow_checkpoint *checkpoint,
                              long seq, long steps, int done,
                              const char *state);

/* Every record up to SEQ has been written to stdout: note it and
 * commit. */
void mas_flow_checkpoint_emitted(struct mas_flow_checkpoint *checkpoint,
                                 long seq);

/*
 * The run's output goes to FD (stdout): note this process and, when FD
 * is a regular file, which file and where it stands, so that the
 * emitted mark also records the file's offset.
 */
void mas_flow_checkpoint_output(struct mas_flow_checkpoint *checkpoint,
                                int fd);

/*
 * For a resume writing to FD: read what the file the run's last process
 * wrote to holds after the emitted mark's offset; that is FD when the
 * resume appends to it, else the file at the path it had, if it is
 * still the same file (device and inode).  Whole lines whose ids are,
 * in order, those of the records after the mark were written before the
 * kill: the mark moves past them, so the resume does not write them
 * again.  When FD is that file, a partial last line (a write cut by the
 * kill) is cut off it; its record is written again whole.  Returns how
 * many records were found written.
 */
long mas_flow_checkpoint_reconcile(struct mas_flow_checkpoint *checkpoint,
                                   int fd);

/* Commit what is written so far; the next write begins a transaction
 * again.  The runner calls it before another connection may write. */
void mas_flow_checkpoint_commit(struct mas_flow_checkpoint *checkpoint);

/* Settle the run's counts and status ("done", "failed", "waiting" when
 * a record waits at an interrupt, "stopped" when one never ended), commit
 * and close.  Returns 0, or -1 after reporting an error. */
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
