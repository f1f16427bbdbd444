/*
 * metrics.c — Prometheus text format, written atomically (see metrics.h).
 *
 * One lock guards the series: a server's threads count at once.  A
 * series is found through a small open-addressed index of its name and
 * labels, not a scan, since a server counts every request and a scan
 * held under the lock would make its threads queue for it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "banned.h"

#define WRITE_INTERVAL 5.0 /* seconds between writes of a long run */
#define MAX_COLLECTORS 8

/* Upper bounds of latency buckets, in seconds. */
static const double buckets[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60
};
#define BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

enum kind { COUNTER, GAUGE, HISTOGRAM };

struct series {
	char *name, *help, *labels;
	enum kind kind;
	double value;              /* counter, gauge; histogram: sum */
	unsigned long count;       /* histogram */
	unsigned long bucket[BUCKETS];
};

static struct {
	char *path;
	char *program;
	int memory;                /* kept for mas_metrics_text, no file */
	struct series *series;
	size_t count, capacity;
	size_t *index;             /* series number + 1, 0: free; by hash */
	size_t index_size;         /* a power of two, > 2 * capacity */
	double last_write;
	struct { void (*collect)(void *); void *data; } collectors[MAX_COLLECTORS];
	size_t collector_count;
} metrics;

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;

int mas_metrics_enabled(void)
{
	return metrics.path != NULL || metrics.memory;
}

/* PATH with every "%p" replaced by PROGRAM, so that the programs of one
 * pipeline sharing MAS_METRICS_FILE each keep a file of their own. */
static char *expand_program(const char *path, const char *program)
{
	size_t size = strlen(path) + 1;
	char *out, *p;

	for (const char *q = strstr(path, "%p"); q; q = strstr(q + 2, "%p"))
		size += strlen(program);
	out = malloc(size);
	if (!out)
		return NULL;
	for (p = out; *path; path++) {
		if (path[0] == '%' && path[1] == 'p') {
			memcpy(p, program, strlen(program));
			p += strlen(program);
			path++;
		} else {
			*p++ = *path;
		}
	}
	*p = '\0';
	return out;
}

int mas_metrics_init(const char *program, const struct mas_config *config,
                     char **error)
{
	const char *path = mas_config_get(config, "metrics.file");
	char *folder, *slash;
	struct stat st;

	*error = NULL;
	if (!path)
		return 0;
	metrics.path = expand_program(path, program);
	path = metrics.path;
	folder = strdup(path);
	slash = folder ? strrchr(folder, '/') : NULL;
	if (slash)
		*slash = '\0';
	if (folder && slash && *folder &&
	    (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))) {
		if (asprintf(error, "--metrics-file %s: no folder %s", path,
		             folder) < 0)
			*error = NULL;
		free(folder);
		free(metrics.path);
		metrics.path = NULL;
		return -1;
	}
	free(folder);
	if (!metrics.program)
		metrics.program = strdup(program);
	metrics.last_write = mas_clock_monotonic();
	/* A run that ends early (exit 2, 74, a closed stdout) still leaves
	 * its figures. */
	atexit(mas_metrics_shutdown);
	return 0;
}

int mas_metrics_keep(const char *program)
{
	pthread_mutex_lock(&metrics_lock);
	if (!metrics.program)
		metrics.program = strdup(program);
	metrics.memory = metrics.program != NULL;
	pthread_mutex_unlock(&metrics_lock);
	return metrics.memory ? 0 : -1;
}

/* FNV-1a over the name, a NUL, then the labels. */
static uint64_t series_hash(const char *name, const char *labels)
{
	uint64_t hash = 0xcbf29ce484222325u;

	for (const char *p = name; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 0x100000001b3u;
	hash *= 0x100000001b3u;
	for (const char *p = labels; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 0x100000001b3u;
	return hash;
}

/* The slot of NAME and LABELS in the index: where the series is, or
 * the free slot where it would go. */
static size_t slot_of(const char *name, const char *labels)
{
	size_t mask = metrics.index_size - 1;
	size_t slot = (size_t)series_hash(name, labels) & mask;

	while (metrics.index[slot]) {
		const struct series *s = &metrics.series[metrics.index[slot]
		                                         - 1];
		if (strcmp(s->name, name) == 0 &&
		    strcmp(s->labels, labels) == 0)
			break;
		slot = (slot + 1) & mask;
	}
	return slot;
}

/* Room for one more series, the index kept under half full. */
static int grow(void)
{
	size_t capacity = metrics.capacity ? metrics.capacity * 2 : 32;
	struct series *series;
	size_t *index;

	if (metrics.count < metrics.capacity)
		return 0;
	series = realloc(metrics.series, capacity * sizeof(*series));
	if (!series)
		return -1;
	metrics.series = series;
	index = calloc(capacity * 4, sizeof(*index));
	if (!index)
		return -1;
	free(metrics.index);
	metrics.index = index;
	metrics.index_size = capacity * 4;
	metrics.capacity = capacity;
	for (size_t i = 0; i < metrics.count; i++)
		metrics.index[slot_of(metrics.series[i].name,
		                      metrics.series[i].labels)] = i + 1;
	return 0;
}

/* The series NAME{LABELS}, made on first use; NULL when memory is
 * short.  The caller holds the lock. */
static struct series *find(const char *name, const char *labels,
                           enum kind kind, const char *help)
{
	struct series *series;
	size_t slot;

	labels = labels ? labels : "";
	if (metrics.index_size) {
		slot = slot_of(name, labels);
		if (metrics.index[slot])
			return &metrics.series[metrics.index[slot] - 1];
	}
	if (grow() != 0)
		return NULL;
	series = &metrics.series[metrics.count];
	memset(series, 0, sizeof(*series));
	series->name = strdup(name);
	series->help = strdup(help);
	series->labels = strdup(labels);
	series->kind = kind;
	if (!series->name || !series->help || !series->labels) {
		free(series->name);
		free(series->help);
		free(series->labels);
		return NULL;
	}
	metrics.index[slot_of(name, labels)] = ++metrics.count;
	return series;
}

void mas_metrics_count(const char *name, const char *help,
                       const char *labels, double by)
{
	struct series *series;

	if (!mas_metrics_enabled())
		return;
	pthread_mutex_lock(&metrics_lock);
	series = find(name, labels, COUNTER, help);
	if (series)
		series->value += by;
	pthread_mutex_unlock(&metrics_lock);
}

void mas_metrics_set(const char *name, const char *type, const char *help,
                     const char *labels, double value)
{
	struct series *series;

	if (!mas_metrics_enabled())
		return;
	pthread_mutex_lock(&metrics_lock);
	series = find(name, labels,
	              strcmp(type, "gauge") == 0 ? GAUGE : COUNTER, help);
	if (series)
		series->value = value;
	pthread_mutex_unlock(&metrics_lock);
}

void mas_metrics_observe(const char *name, const char *help,
                         const char *labels, double seconds)
{
	struct series *series;

	if (!mas_metrics_enabled())
		return;
	pthread_mutex_lock(&metrics_lock);
	series = find(name, labels, HISTOGRAM, help);
	if (series) {
		series->value += seconds;
		series->count++;
		for (size_t b = 0; b < BUCKETS; b++)
			if (seconds <= buckets[b])
				series->bucket[b]++;
	}
	pthread_mutex_unlock(&metrics_lock);
}

void mas_metrics_add_collector(void (*collect)(void *data), void *data)
{
	pthread_mutex_lock(&metrics_lock);
	if (metrics.collector_count < MAX_COLLECTORS) {
		metrics.collectors[metrics.collector_count].collect = collect;
		metrics.collectors[metrics.collector_count].data = data;
		metrics.collector_count++;
	}
	pthread_mutex_unlock(&metrics_lock);
}

void mas_metrics_remove_collector(void (*collect)(void *data), void *data)
{
	size_t kept = 0;

	pthread_mutex_lock(&metrics_lock);
	for (size_t i = 0; i < metrics.collector_count; i++)
		if (metrics.collectors[i].collect != collect ||
		    metrics.collectors[i].data != data)
			metrics.collectors[kept++] = metrics.collectors[i];
	metrics.collector_count = kept;
	pthread_mutex_unlock(&metrics_lock);
}

/* The collectors run outside the lock: they set series themselves. */
static void run_collectors(void)
{
	size_t count;

	pthread_mutex_lock(&metrics_lock);
	count = metrics.collector_count;
	pthread_mutex_unlock(&metrics_lock);
	for (size_t i = 0; i < count; i++)
		metrics.collectors[i].collect(metrics.collectors[i].data);
}

/* ---- writing ---- */

static const char *kind_name(enum kind kind)
{
	return kind == COUNTER ? "counter"
	     : kind == GAUGE ? "gauge" : "histogram";
}

/* {program="…",LABELS[,EXTRA]} */
static void print_labels(FILE *out, const struct series *series,
                         const char *extra)
{
	fprintf(out, "{program=\"%s\"", metrics.program);
	if (*series->labels)
		fprintf(out, ",%s", series->labels);
	if (extra)
		fprintf(out, ",%s", extra);
	fputc('}', out);
}

static void print_series(FILE *out, const struct series *series)
{
	char le[48];

	if (series->kind != HISTOGRAM) {
		fputs(series->name, out);
		print_labels(out, series, NULL);
		fprintf(out, " %.17g\n", series->value);
		return;
	}
	for (size_t b = 0; b < BUCKETS; b++) {
		snprintf(le, sizeof(le), "le=\"%g\"", buckets[b]);
		fprintf(out, "%s_bucket", series->name);
		print_labels(out, series, le);
		fprintf(out, " %lu\n", series->bucket[b]);
	}
	fprintf(out, "%s_bucket", series->name);
	print_labels(out, series, "le=\"+Inf\"");
	fprintf(out, " %lu\n%s_sum", series->count, series->name);
	print_labels(out, series, NULL);
	fprintf(out, " %.17g\n%s_count", series->value, series->name);
	print_labels(out, series, NULL);
	fprintf(out, " %lu\n", series->count);
}

/* Every series, grouped by name with one HELP and TYPE each, as the
 * exposition format requires. */
static void print_all(FILE *out)
{
	for (size_t i = 0; i < metrics.count; i++) {
		const struct series *first = &metrics.series[i];
		int seen = 0;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(metrics.series[j].name, first->name) == 0;
		if (seen)
			continue;
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", first->name,
		        first->help, first->name, kind_name(first->kind));
		for (size_t j = i; j < metrics.count; j++)
			if (strcmp(metrics.series[j].name, first->name) == 0)
				print_series(out, &metrics.series[j]);
	}
}

char *mas_metrics_text(size_t *length)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out;

	run_collectors();
	out = open_memstream(&text, &size);
	if (!out)
		return NULL;
	pthread_mutex_lock(&metrics_lock);
	print_all(out);
	pthread_mutex_unlock(&metrics_lock);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	*length = size;
	return text;
}

static void write_file(void)
{
	char *temporary = NULL;
	FILE *out;

	run_collectors();
	if (asprintf(&temporary, "%s.%ld.tmp", metrics.path,
	             (long)getpid()) < 0)
		return;
	out = fopen(temporary, "w");
	if (!out) {
		mas_warn("--metrics-file %s: %s", temporary, strerror(errno));
		free(temporary);
		return;
	}
	pthread_mutex_lock(&metrics_lock);
	print_all(out);
	pthread_mutex_unlock(&metrics_lock);
	/* Renamed only when whole: a scraper never reads half a file. */
	if (fclose(out) != 0 || rename(temporary, metrics.path) != 0) {
		mas_warn("--metrics-file %s: %s", metrics.path,
		         strerror(errno));
		unlink(temporary);
	}
	free(temporary);
	metrics.last_write = mas_clock_monotonic();
}

void mas_metrics_tick(void)
{
	if (metrics.path &&
	    mas_clock_monotonic() - metrics.last_write >= WRITE_INTERVAL)
		write_file();
}

void mas_metrics_shutdown(void)
{
	if (!mas_metrics_enabled())
		return;
	if (metrics.path)
		write_file();
	for (size_t i = 0; i < metrics.count; i++) {
		free(metrics.series[i].name);
		free(metrics.series[i].help);
		free(metrics.series[i].labels);
	}
	free(metrics.series);
	free(metrics.index);
	free(metrics.path);
	free(metrics.program);
	memset(&metrics, 0, sizeof(metrics));
}
