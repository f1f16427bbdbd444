/*
 * route.h — mas-bus route: dispatch records to co-process filters by a
 * field, without a broker, and merge their answers back in input order.
 *
 * Each route is a long-lived command (run by sh -c, through coprocess.h)
 * that answers every input line with exactly one output line, in order.
 * Records go to the route whose name the --by expression yields; each
 * record's output place is reserved with mas_run_defer and filled when
 * its route answers, so the record loop writes answers in input order.
 * An answer that is a JSON object goes out as the route wrote it, not
 * parsed and dumped again.
 *
 * What goes wrong becomes an error record carrying the input record's
 * id (and "route", "transient": false): a route that ends owing answers
 * (one per record it owed), a line that is not a JSON object, an answer
 * whose "id" is not the id of the record sent.  When both ids are
 * known, answers are matched by id: a route that skipped a record fails
 * only that record, a second line for the record just answered is
 * dropped with a warning (and the route counts as failed), so one
 * misbehaving line never shifts every later answer onto the wrong
 * record.  An answer object without an "id" gets the record's.
 *
 * Nothing waits for ever.  At the end of input every route's input is
 * closed, so a filter that reads ahead or answers at end of file (mawk,
 * a shell loop) still answers.  A route that owes answers and writes
 * nothing for the set's timeout is killed with its process group; the
 * records it owed fail with TIMEOUT, and so does every record sent to it
 * later.
 */
#ifndef MAS_ROUTE_H
#define MAS_ROUTE_H

#include <jv.h>

#include "expr.h"
#include "record.h"

struct mas_route_set;

/* Seconds a route may owe answers in silence, unless told otherwise. */
#define MAS_ROUTE_TIMEOUT 300.0

/* A set routing by BY (borrowed, kept); a route silent for TIMEOUT
 * seconds (<= 0: MAS_ROUTE_TIMEOUT) while it owes answers is hung. */
struct mas_route_set *mas_route_set_new(struct mas_expr *by,
                                        double timeout);

/*
 * Add the route SPEC, "name=command ...", and start its command.  Returns
 * 0, or -1 with a malloc'd message in *ERROR (a bad spec, a repeated
 * name).
 */
int mas_route_add(struct mas_route_set *set, const char *spec,
                  char **error);

/* The record loop's `each`: DATA is the set. */
void mas_route_each(struct mas_run *run, jv record, void *data);

/* The record loop's `wait`: DATA is the set. */
void mas_route_wait(struct mas_run *run, int timeout_ms, int fd,
                    void *data);

/* The record loop's `input_end`: every route gets end of file. */
void mas_route_input_end(struct mas_run *run, void *data);

/* Close every route's input, wait for them; returns the number of
 * routes that failed (exited non-zero or by a signal, or printed a line
 * nobody asked for).  Then free.  NULL is fine. */
int mas_route_set_free(struct mas_route_set *set);

#endif
