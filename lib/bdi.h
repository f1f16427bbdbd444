/*
 * bdi.h — the belief–desire–intention interpreter every agent runs.
 *
 * Beliefs are the agent's own struct (what it knows about this record:
 * the input, the data, evidence, engine health); the interpreter only
 * passes a pointer to it around.  Desires are goals posted for the
 * record, each with an optional subject ("forecast" of "engagement").
 * The plan library is a static table of plans; a plan names the goal it
 * achieves, a context condition over the beliefs, and its steps.
 *
 * The cycle, per record (mas_bdi_run):
 *
 *   1. take the next desire (in the order posted);
 *   2. the applicable plans are those for that goal whose context holds
 *      now, in library order: the first becomes the intention;
 *   3. run its steps in order; a step may change beliefs, post new
 *      desires, or fail with a reason (mas_bdi_fail);
 *   4. a failed plan is dropped for this desire and the next applicable
 *      plan — re-checked against the beliefs as they are now — is tried;
 *      when none is left the desire is failed and the agent decides what
 *      that means (an error, or a partial answer).
 *
 * Everything chosen and done is kept as a trace: mas_bdi_trace() returns
 * it as JSON for the record's meta ("plans": [{"goal","subject","plan",
 * "status","steps",["failed":[{"plan","reason"}]]}]), so a reader of the
 * output can see why the agent answered as it did.
 */
#ifndef MAS_BDI_H
#define MAS_BDI_H

#include <stddef.h>

#include <jv.h>

struct mas_bdi;

/* A step returns 0 when it succeeded, -1 after mas_bdi_fail(). */
struct mas_bdi_step {
	const char *name;
	int (*run)(struct mas_bdi *bdi, void *beliefs, const char *subject);
};

struct mas_bdi_plan {
	const char *name;     /* "seasonal_forecast" */
	const char *goal;     /* the desire it achieves: "forecast" */
	/* The context condition; NULL means always applicable. */
	int (*context)(const void *beliefs, const char *subject);
	const struct mas_bdi_step *steps; /* ends with a { NULL } step */
};

struct mas_bdi_desire {
	char *goal;
	char *subject;
	const char *plan; /* the plan that achieved it (the library's
	                   * name), or NULL */
};

struct mas_bdi {
	const struct mas_bdi_plan *plans;
	size_t plan_count;
	void *beliefs;
	struct mas_bdi_desire *desires;
	size_t desire_count, desire_capacity, next_desire;
	char *failure;    /* the reason given by the failing step */
	jv trace;         /* array of intention records */
	size_t failed_goals;
};

void mas_bdi_init(struct mas_bdi *bdi, const struct mas_bdi_plan *plans,
                  size_t plan_count, void *beliefs);
void mas_bdi_release(struct mas_bdi *bdi);

/* Post a desire for GOAL about SUBJECT (may be NULL); both copied. */
void mas_bdi_post(struct mas_bdi *bdi, const char *goal, const char *subject);

/*
 * Deliberate until no desire is left.  Returns the number of desires that
 * no plan could achieve (0 when all were).
 */
size_t mas_bdi_run(struct mas_bdi *bdi);

/* Called by a step to fail its plan with a reason (printf-style); returns
 * -1 so a step can `return mas_bdi_fail(bdi, "...")`. */
int mas_bdi_fail(struct mas_bdi *bdi, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* Whether GOAL (about SUBJECT, or any subject when NULL) was achieved. */
int mas_bdi_achieved(const struct mas_bdi *bdi, const char *goal,
                     const char *subject);

/* The plan that achieved GOAL about SUBJECT, or NULL (borrowed). */
const char *mas_bdi_plan_used(const struct mas_bdi *bdi, const char *goal,
                              const char *subject);

/* The trace so far (a copy). */
jv mas_bdi_trace(const struct mas_bdi *bdi);

#endif
