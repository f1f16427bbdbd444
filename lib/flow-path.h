/*
 * flow-path.h — meta.flow, the path a record took through a flow.
 *
 * A step is kept as a few C fields, not a jv object: building, copying
 * and dumping an object per step cost more than running a `cat`-like
 * step itself.  The path becomes JSON only when it is written: as text
 * spliced into a record that stayed text, or as a jv when the record is
 * a jv anyway.
 */
#ifndef MAS_FLOW_PATH_H
#define MAS_FLOW_PATH_H

#include <stddef.h>

#include <jv.h>

#include "json.h"

struct mas_flow_step {
	const char *node;     /* the node's name (borrowed from the flow), or
	                       * NULL: EXTRA is the whole entry (stored) */
	double ms;            /* US / 1000 */
	long long us;         /* microseconds: what is written */
	int tries;            /* shown when more than 1 */
	jv extra;             /* more members (error, flow, branches), an
	                       * object, or invalid */
};

struct mas_flow_path {
	struct mas_flow_step *steps;
	size_t count, capacity;
};

/* An empty path (a zeroed struct is one too). */
void mas_flow_path_init(struct mas_flow_path *path);

/* Add a step; EXTRA (consumed) may be jv_invalid(). */
void mas_flow_path_add(struct mas_flow_path *path, const char *node,
                       double ms, int tries, jv extra);

/* Add an entry as stored (consumed, an object). */
void mas_flow_path_add_entry(struct mas_flow_path *path, jv entry);

/* {"node", "ms"[, "tries"], ...extra} */
jv mas_flow_step_json(const struct mas_flow_step *step);

/* The path as a jv array of entries. */
jv mas_flow_path_json(const struct mas_flow_path *path);

/* The path, or one step, as compact JSON text, malloc'd, NUL-terminated,
 * *LENGTH bytes; exactly as mas_json_dump_text would write the jv. */
char *mas_flow_path_text(const struct mas_flow_path *path, size_t *length);

/* The path as that text, appended to TEXT. */
void mas_flow_path_put(struct mas_json_text *text,
                       const struct mas_flow_path *path);
char *mas_flow_step_text(const struct mas_flow_step *step, size_t *length);

/* Free the steps; the path is empty again. */
void mas_flow_path_release(struct mas_flow_path *path);

/* Empty the path, keeping its memory for the next record's steps. */
void mas_flow_path_clear(struct mas_flow_path *path);

#endif
