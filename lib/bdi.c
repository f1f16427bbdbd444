/*
 * bdi.c — the belief–desire–intention interpreter (see bdi.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdi.h"
#include "log.h"
#include "clock.h"
#include "mas.h"
#include "metrics.h"
#include "trace.h"
#include "banned.h"

void mas_bdi_init(struct mas_bdi *bdi, const struct mas_bdi_plan *plans,
                  size_t plan_count, void *beliefs)
{
	memset(bdi, 0, sizeof(*bdi));
	bdi->plans = plans;
	bdi->plan_count = plan_count;
	bdi->beliefs = beliefs;
	bdi->trace = jv_array();
}

void mas_bdi_release(struct mas_bdi *bdi)
{
	for (size_t i = 0; i < bdi->desire_count; i++) {
		free(bdi->desires[i].goal);
		free(bdi->desires[i].subject);
	}
	free(bdi->desires);
	free(bdi->failure);
	jv_free(bdi->trace);
	memset(bdi, 0, sizeof(*bdi));
	bdi->trace = jv_invalid();
}

void mas_bdi_post(struct mas_bdi *bdi, const char *goal, const char *subject)
{
	struct mas_bdi_desire *desire;

	if (bdi->desire_count == bdi->desire_capacity) {
		size_t capacity = bdi->desire_capacity ? bdi->desire_capacity * 2
		                                       : 8;
		void *grown = realloc(bdi->desires,
		                      capacity * sizeof(*bdi->desires));
		if (!grown)
			mas_die(MAS_EXIT_IO, "out of memory");
		bdi->desires = grown;
		bdi->desire_capacity = capacity;
	}
	desire = &bdi->desires[bdi->desire_count++];
	desire->goal = strdup(goal);
	desire->subject = subject ? strdup(subject) : NULL;
	desire->plan = NULL;
	if (!desire->goal || (subject && !desire->subject))
		mas_die(MAS_EXIT_IO, "out of memory");
}

int mas_bdi_fail(struct mas_bdi *bdi, const char *format, ...)
{
	va_list ap;

	free(bdi->failure);
	va_start(ap, format);
	if (vasprintf(&bdi->failure, format, ap) < 0)
		bdi->failure = NULL;
	va_end(ap);
	return -1;
}

/* Runs PLAN's steps; the names of those that ran are appended to *STEPS.
 * Returns 0 when every step succeeded. */
/* Runs one step in a span of its own, current while it runs, so that
 * what the step does (a model request) hangs from it. */
static int run_step(struct mas_bdi *bdi, const struct mas_bdi_step *step,
                    const char *subject)
{
	char name[128];
	struct mas_span *span = NULL;
	struct mas_span *outer = NULL;
	double started = mas_metrics_enabled() ? mas_clock_monotonic() : 0;
	int status;

	if (mas_trace_enabled()) {
		snprintf(name, sizeof(name), "step:%s", step->name);
		span = mas_span_start(name, NULL);
		outer = mas_trace_set_current(span);
	}
	free(bdi->failure);
	bdi->failure = NULL;
	status = step->run(bdi, bdi->beliefs, subject);
	if (status != 0 && !bdi->failure)
		bdi->failure = strdup(step->name);
	if (started > 0) {
		char labels[160];
		snprintf(labels, sizeof(labels), "step=\"%s\"", step->name);
		mas_metrics_observe("mas_step_duration_seconds", "Time spent "
		                    "in each BDI plan step.", labels,
		                    mas_clock_monotonic() - started);
	}
	if (span) {
		if (status != 0)
			mas_span_fail(span, bdi->failure);
		mas_trace_set_current(outer);
		mas_span_end(span);
	}
	return status;
}

static int execute(struct mas_bdi *bdi, const struct mas_bdi_plan *plan,
                   const char *subject, jv *steps)
{
	for (const struct mas_bdi_step *step = plan->steps; step->name;
	     step++) {
		*steps = jv_array_append(*steps, jv_string(step->name));
		if (run_step(bdi, step, subject) != 0)
			return -1;
	}
	return 0;
}

/* A span for one intention: the plan tried for a goal. */
static struct mas_span *intention_span(const struct mas_bdi_plan *plan,
                                       const struct mas_bdi_desire *desire)
{
	char name[128];
	struct mas_span *span;

	if (!mas_trace_enabled())
		return NULL;
	snprintf(name, sizeof(name), "plan:%s", plan->name);
	span = mas_span_start(name, NULL);
	mas_span_set(span, "mas.bdi.goal", jv_string(desire->goal));
	if (desire->subject)
		mas_span_set(span, "mas.bdi.subject",
		             jv_string(desire->subject));
	return span;
}

static jv intention_record(const struct mas_bdi_desire *desire)
{
	jv record = JV_OBJECT(jv_string("goal"), jv_string(desire->goal));

	if (desire->subject)
		record = jv_object_set(record, jv_string("subject"),
		                       jv_string(desire->subject));
	return record;
}

static jv failed_entry(const char *plan, const char *reason)
{
	return JV_OBJECT(jv_string("plan"), jv_string(plan),
	                 jv_string("reason"),
	                 jv_string(reason ? reason : "failed"));
}

/* Tries the applicable plans for one desire, in library order. */
/* Pursues DESIRE; returns the plan that achieved it, or NULL. */
static const char *pursue(struct mas_bdi *bdi,
                          const struct mas_bdi_desire *desire)
{
	const char *achieved = NULL;
	jv record = intention_record(desire);
	jv failed = jv_array();

	for (size_t i = 0; i < bdi->plan_count; i++) {
		const struct mas_bdi_plan *plan = &bdi->plans[i];
		struct mas_span *span, *outer;
		int status;
		jv steps;

		if (strcmp(plan->goal, desire->goal) != 0)
			continue;
		/* The context is checked now, not when the desire was
		 * posted: a failed plan may have taught us something. */
		if (plan->context &&
		    !plan->context(bdi->beliefs, desire->subject))
			continue;
		steps = jv_array();
		span = intention_span(plan, desire);
		outer = span ? mas_trace_set_current(span) : NULL;
		status = execute(bdi, plan, desire->subject, &steps);
		if (span) {
			if (status != 0)
				mas_span_fail(span, bdi->failure);
			mas_trace_set_current(outer);
			mas_span_end(span);
		}
		if (status == 0) {
			record = jv_object_set(record, jv_string("plan"),
			                       jv_string(plan->name));
			record = jv_object_set(record, jv_string("status"),
			                       jv_string("achieved"));
			record = jv_object_set(record, jv_string("steps"),
			                       steps);
			achieved = plan->name;
			goto done;
		}
		jv_free(steps);
		failed = jv_array_append(failed,
		                         failed_entry(plan->name, bdi->failure));
	}
	bdi->failed_goals++;
	record = jv_object_set(record, jv_string("status"),
	                       jv_string("failed"));
done:
	if (jv_array_length(jv_copy(failed)) > 0)
		record = jv_object_set(record, jv_string("failed"), failed);
	else
		jv_free(failed);
	bdi->trace = jv_array_append(bdi->trace, record);
	return achieved;
}

size_t mas_bdi_run(struct mas_bdi *bdi)
{
	/* Desires posted by steps land at the end and are pursued in turn. */
	while (bdi->next_desire < bdi->desire_count) {
		size_t at = bdi->next_desire++;
		/* a copy: a step that posts may move the array */
		struct mas_bdi_desire desire = bdi->desires[at];
		const char *plan = pursue(bdi, &desire);

		bdi->desires[at].plan = plan;
	}
	return bdi->failed_goals;
}

/* The last achieved trace entry for GOAL/SUBJECT, or jv_invalid(): with
 * SUBJECT NULL, a failed desire about one subject must not hide another
 * subject's success. */
/* The latest desire for GOAL (about SUBJECT, any when NULL) that a
 * plan achieved, or NULL: what the trace says, read without it (this
 * runs for every record). */
static const struct mas_bdi_desire *find_achieved(const struct mas_bdi *bdi,
                                                  const char *goal,
                                                  const char *subject)
{
	for (size_t i = bdi->next_desire; i-- > 0;) {
		const struct mas_bdi_desire *d = &bdi->desires[i];
		if (d->plan && strcmp(d->goal, goal) == 0 &&
		    (!subject || (d->subject &&
		                  strcmp(d->subject, subject) == 0)))
			return d;
	}
	return NULL;
}

int mas_bdi_achieved(const struct mas_bdi *bdi, const char *goal,
                     const char *subject)
{
	return find_achieved(bdi, goal, subject) != NULL;
}

const char *mas_bdi_plan_used(const struct mas_bdi *bdi, const char *goal,
                              const char *subject)
{
	const struct mas_bdi_desire *d = find_achieved(bdi, goal, subject);

	return d ? d->plan : NULL;
}

jv mas_bdi_trace(const struct mas_bdi *bdi)
{
	return jv_copy(bdi->trace);
}
