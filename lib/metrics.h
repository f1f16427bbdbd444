/*
 * metrics.h — counters and histograms in Prometheus text format
 * (mas(7), "METRICS").
 *
 * With metrics.file (MAS_METRICS_FILE, --metrics-file PATH) set, a
 * program writes every metric it keeps to PATH at exit and every few
 * seconds while it runs, atomically (a temporary file in the same folder,
 * then rename), as node_exporter's textfile collector wants: a cron job's
 * last run is always there, whole.  "%p" in PATH stands for the program's
 * name, so one MAS_METRICS_FILE can serve every program of a pipeline.
 * Every series carries the label program="mas-analyze" (or the name).
 *
 * LABELS below is the rest of the label set, already formatted
 * ('code="TIMEOUT"'), or NULL; label values must come from a small set
 * (codes, step names), never from records.  Without a file every call is
 * a no-op, unless a server keeps them to serve them (mas_metrics_keep).
 * Every call may come from any thread.
 */
#ifndef MAS_METRICS_H
#define MAS_METRICS_H

#include <stddef.h>

#include "config.h"

/* Start keeping metrics as CONFIG says.  Returns 0, or -1 with a
 * malloc'd message in *ERROR when PATH's folder does not exist. */
int mas_metrics_init(const char *program, const struct mas_config *config,
                     char **error);

/* Keep metrics in memory for PROGRAM, file or not, to be served with
 * mas_metrics_text (mas-serve's /metrics).  Returns 0, or -1 when memory
 * is short. */
int mas_metrics_keep(const char *program);

/* Whether metrics are kept (a file, or mas_metrics_keep). */
int mas_metrics_enabled(void);

/* Add BY to counter NAME. */
void mas_metrics_count(const char *name, const char *help,
                       const char *labels, double by);

/* Set counter or gauge NAME to VALUE (for figures kept elsewhere, such as
 * the LLM client's; TYPE is "counter" or "gauge"). */
void mas_metrics_set(const char *name, const char *type, const char *help,
                     const char *labels, double value);

/* Record one observation of SECONDS in histogram NAME. */
void mas_metrics_observe(const char *name, const char *help,
                         const char *labels, double seconds);

/* A function called before each write to refresh figures kept elsewhere
 * (with mas_metrics_set).  At most 8. */
void mas_metrics_add_collector(void (*collect)(void *data), void *data);

/* Every metric kept, in the text exposition format, after the
 * collectors ran: malloc'd, its length in *LENGTH; NULL when memory is
 * short. */
char *mas_metrics_text(size_t *length);

/* Forget a collector added with the same COLLECT and DATA. */
void mas_metrics_remove_collector(void (*collect)(void *data), void *data);

/* Write now if the last write is a few seconds old.  Cheap; the record
 * loop calls it for every record. */
void mas_metrics_tick(void);

/* Write a last time and free everything. */
void mas_metrics_shutdown(void);

#endif
