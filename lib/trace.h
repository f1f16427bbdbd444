/*
 * trace.h — spans of work, for a whole pipeline (mas(7), "TRACING").
 *
 * The OpenTelemetry data model, written small: a span has a trace id, a
 * span id, its parent's span id, a name, a start and an end, a status and
 * attributes.  A program makes a span for each record it handles and
 * child spans for the steps inside (BDI plan steps, model requests).
 *
 * Spans go to a file as JSON Lines when MAS_TRACE (or --trace FILE) names
 * one — appended whole lines at a time with O_APPEND, so every process of
 * a pipeline can share one file — and over OTLP/HTTP (JSON encoding) when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set, from a background thread that never
 * holds up records, with a bounded queue and a bounded wait at exit.
 *
 * Trace context travels inside the record, in the field "traceparent"
 * holding a W3C traceparent value ("00-TRACEID-SPANID-01"): a program
 * makes its record span a child of the incoming value and writes its own
 * span's value back, so `mas-chat | mas-research | mas-analyze` is one
 * trace.  With tracing off, spans are NULL and every call below is a
 * cheap no-op, and "traceparent" passes through untouched.
 *
 * A span belongs to the thread that made it, which sets attributes on
 * it and ends it; each thread has its own current span.  Ended spans
 * may come from any thread: the file and the exporter take them under
 * a lock.
 */
#ifndef MAS_TRACE_H
#define MAS_TRACE_H

#include <stdint.h>

#include <jv.h>

#include "config.h"

#define MAS_TRACEPARENT_SIZE 56 /* "00-" 32 "-" 16 "-01" and a NUL */

struct mas_span;

/*
 * Start tracing for PROGRAM as CONFIG says (trace.file / MAS_TRACE, and
 * the OTEL_* variables).  Returns 0, or -1 with a malloc'd message in
 * *ERROR when the trace file cannot be opened.  Without either, tracing
 * stays off.
 */
int mas_trace_init(const char *program, const struct mas_config *config,
                   char **error);

/* Whether spans are being recorded. */
int mas_trace_enabled(void);

/*
 * A new span named NAME, the child of PARENT; PARENT NULL means the
 * current span (see mas_trace_set_current), and with none a new trace.
 * NULL when tracing is off.
 */
struct mas_span *mas_span_start(const char *name, struct mas_span *parent);

/*
 * A new span continuing a remote parent given as a W3C traceparent value;
 * an invalid or NULL value starts a new trace.  NULL when tracing is off.
 */
struct mas_span *mas_span_start_remote(const char *name,
                                       const char *traceparent);

/* Set attribute KEY to VALUE (consumed: a string, number or boolean). */
void mas_span_set(struct mas_span *span, const char *key, jv value);

/* Mark the span failed with MESSAGE (copied); OK otherwise. */
void mas_span_fail(struct mas_span *span, const char *message);

/* Mark the span failed with an error object (borrowed: {"code",
 * "message"}): the code as attribute mas.error.code, the message as the
 * status message. */
void mas_span_error(struct mas_span *span, jv error);

/* End SPAN, queue it for output, free it.  NULL is fine. */
void mas_span_end(struct mas_span *span);

/* SPAN's W3C traceparent value, into BUF. */
void mas_span_traceparent(const struct mas_span *span,
                          char buf[MAS_TRACEPARENT_SIZE]);

/*
 * End SPAN (not NULL), a record's, with RECORD's outcome (an "error"
 * object fails it) and return RECORD (consumed, an object) with its
 * "traceparent" set to this span, for the program that reads it next.
 */
jv mas_span_end_record(struct mas_span *span, jv record);

/*
 * The span new spans hang from when no parent is given: the record loop
 * sets it to the record being handled, so library code need not pass
 * spans around.  Returns the previous current span.
 */
struct mas_span *mas_trace_set_current(struct mas_span *span);
struct mas_span *mas_trace_current(void);

/*
 * Write out what is buffered (the file), and give the exporter at most
 * two seconds to send what it holds.  Called at exit; safe to call when
 * tracing is off.
 */
void mas_trace_shutdown(void);

#endif
