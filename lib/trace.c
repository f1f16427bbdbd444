/*
 * trace.c — spans to a shared file and to an OTLP/HTTP collector
 * (see trace.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "curl-lazy.h"

#include "clock.h"
#include "log.h"
#include "mas.h"
#include "trace.h"
#include "banned.h"

#define FILE_BUFFER 65536
#define QUEUE_MAX 8192        /* spans waiting for the exporter */
#define BATCH 512             /* spans per OTLP request, at most */
#define EXPORT_INTERVAL 1     /* seconds between exports */
#define EXIT_WAIT 2           /* seconds the exporter gets at exit */

struct mas_span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	int has_parent;
	char *name;
	uint64_t start_ns, end_ns;
	int failed;
	char *message;
	jv attributes;
};

/* The exporter's queue: finished spans as OTLP JSON text. */
struct exporter {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char *spans[QUEUE_MAX];
	size_t count;
	unsigned long dropped, failures;
	int stopping;
	char *url;
	struct curl_slist *headers;
};

static struct {
	int enabled;
	const char *program;
	char *service;
	int fd;                   /* the trace file, or -1 */
	char buffer[FILE_BUFFER];
	size_t used;
	double flushed;           /* when the buffer last went out */
	pthread_mutex_t file_lock; /* the buffer, for a server's threads */
	uint64_t seed;
	int exporting;
	struct exporter exporter;
} tracer = { .fd = -1, .file_lock = PTHREAD_MUTEX_INITIALIZER };

/* Each thread has its current span and its own id sequence: a span is
 * made, used and ended by one thread (mas-serve runs agents on many). */
static _Thread_local struct mas_span *current_span;
static _Thread_local uint64_t random_state;
static _Thread_local int random_seeded;

/* ---- ids ---- */

/* splitmix64: ids need to be unique, not secret; seeded per thread
 * from getrandom so processes sharing a file never collide. */
static uint64_t next_random(void)
{
	uint64_t z;

	if (!random_seeded) {
		if (getrandom(&random_state, sizeof(random_state),
		              GRND_NONBLOCK) != sizeof(random_state))
			random_state = tracer.seed ^ (uint64_t)(uintptr_t)
			               &random_state;
		random_seeded = 1;
	}
	z = (random_state += 0x9E3779B97F4A7C15u);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	return z ^ (z >> 31);
}

static void random_bytes(uint8_t *out, size_t size)
{
	for (size_t i = 0; i < size; i += 8) {
		uint64_t value = next_random();
		memcpy(out + i, &value, size - i < 8 ? size - i : 8);
	}
}

static void hex(const uint8_t *bytes, size_t size, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < size; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * size] = '\0';
}

static int unhex(const char *text, uint8_t *out, size_t size)
{
	for (size_t i = 0; i < 2 * size; i++) {
		char c = text[i];
		int v = c >= '0' && c <= '9' ? c - '0'
		      : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

static int all_zero(const uint8_t *bytes, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (bytes[i])
			return 0;
	return 1;
}

static uint64_t now_ns(void)
{
	return mas_clock_epoch_ns();
}

/* ---- spans ---- */

int mas_trace_enabled(void)
{
	return tracer.enabled;
}

static struct mas_span *new_span(const char *name)
{
	struct mas_span *span = calloc(1, sizeof(*span));

	if (!span)
		return NULL;
	span->name = strdup(name);
	span->attributes = jv_object();
	random_bytes(span->span_id, sizeof(span->span_id));
	span->start_ns = now_ns();
	return span;
}

struct mas_span *mas_span_start(const char *name, struct mas_span *parent)
{
	struct mas_span *span;

	if (!tracer.enabled)
		return NULL;
	span = new_span(name);
	if (!span)
		return NULL;
	if (!parent)
		parent = current_span;
	if (parent) {
		memcpy(span->trace_id, parent->trace_id, 16);
		memcpy(span->parent_id, parent->span_id, 8);
		span->has_parent = 1;
	} else {
		random_bytes(span->trace_id, 16);
	}
	return span;
}

/* Reads "00-<32 hex>-<16 hex>-<2 hex>" into SPAN's trace and parent. */
static int read_traceparent(struct mas_span *span, const char *value)
{
	if (!value || strlen(value) != 55 || strncmp(value, "00-", 3) != 0 ||
	    value[35] != '-' || value[52] != '-')
		return -1;
	if (unhex(value + 3, span->trace_id, 16) ||
	    unhex(value + 36, span->parent_id, 8) ||
	    all_zero(span->trace_id, 16) || all_zero(span->parent_id, 8))
		return -1;
	span->has_parent = 1;
	return 0;
}

struct mas_span *mas_span_start_remote(const char *name,
                                       const char *traceparent)
{
	struct mas_span *span;

	if (!tracer.enabled)
		return NULL;
	span = new_span(name);
	if (!span)
		return NULL;
	if (read_traceparent(span, traceparent) != 0) {
		span->has_parent = 0;
		random_bytes(span->trace_id, 16);
	}
	return span;
}

void mas_span_set(struct mas_span *span, const char *key, jv value)
{
	if (!span) {
		jv_free(value);
		return;
	}
	span->attributes = jv_object_set(span->attributes, jv_string(key),
	                                 value);
}

void mas_span_fail(struct mas_span *span, const char *message)
{
	if (!span)
		return;
	span->failed = 1;
	free(span->message);
	span->message = message ? strdup(message) : NULL;
}

void mas_span_error(struct mas_span *span, jv error)
{
	jv code, message;

	if (!span)
		return;
	code = jv_object_get(jv_copy(error), jv_string("code"));
	message = jv_object_get(jv_copy(error), jv_string("message"));
	mas_span_set(span, "mas.error.code", code);
	mas_span_fail(span, jv_get_kind(message) == JV_KIND_STRING
	                            ? jv_string_value(message) : NULL);
	jv_free(message);
}

void mas_span_traceparent(const struct mas_span *span,
                          char buf[MAS_TRACEPARENT_SIZE])
{
	char trace[33], id[17];

	hex(span->trace_id, 16, trace);
	hex(span->span_id, 8, id);
	snprintf(buf, MAS_TRACEPARENT_SIZE, "00-%s-%s-01", trace, id);
}

jv mas_span_end_record(struct mas_span *span, jv record)
{
	char traceparent[MAS_TRACEPARENT_SIZE];
	jv error = jv_object_get(jv_copy(record), jv_string("error"));

	if (jv_get_kind(error) == JV_KIND_OBJECT)
		mas_span_error(span, error);
	jv_free(error);
	mas_span_traceparent(span, traceparent);
	mas_span_end(span);
	return jv_object_set(record, jv_string("traceparent"),
	                     jv_string(traceparent));
}

struct mas_span *mas_trace_set_current(struct mas_span *span)
{
	struct mas_span *previous = current_span;

	current_span = span;
	return previous;
}

struct mas_span *mas_trace_current(void)
{
	return current_span;
}

/* ---- the trace file ---- */

static void file_flush(void)
{
	size_t done = 0;

	tracer.flushed = mas_clock_monotonic();
	/* One write per buffer of whole lines: with O_APPEND each lands at
	 * the end as a unit, so processes sharing the file do not mix
	 * their lines. */
	while (done < tracer.used) {
		ssize_t n = write(tracer.fd, tracer.buffer + done,
		                  tracer.used - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			mas_warn("trace file: %s", strerror(errno));
			break;
		}
		done += (size_t)n;
	}
	tracer.used = 0;
}

static void file_append(const char *line, size_t length)
{
	if (tracer.used + length + 1 > sizeof(tracer.buffer))
		file_flush();
	if (length + 1 > sizeof(tracer.buffer)) {
		/* A span bigger than the buffer goes out on its own. */
		char *whole = malloc(length + 1);
		if (!whole)
			return;
		memcpy(whole, line, length);
		whole[length] = '\n';
		if (write(tracer.fd, whole, length + 1) < 0)
			mas_warn("trace file: %s", strerror(errno));
		free(whole);
		return;
	}
	memcpy(tracer.buffer + tracer.used, line, length);
	tracer.used += length;
	tracer.buffer[tracer.used++] = '\n';
}

static jv iso_time(uint64_t ns)
{
	char text[MAS_CLOCK_ISO_SIZE];
	time_t seconds = (time_t)(ns / 1000000000u);
	struct tm tm;

	gmtime_r(&seconds, &tm);
	snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (unsigned)(ns % 1000000000u / 1000u));
	return jv_string(text);
}

static jv file_record(const struct mas_span *span)
{
	char trace[33], id[17], parent[17];
	jv line;

	hex(span->trace_id, 16, trace);
	hex(span->span_id, 8, id);
	hex(span->parent_id, 8, parent);
	line = JV_OBJECT(jv_string("trace_id"), jv_string(trace),
	                 jv_string("span_id"), jv_string(id),
	                 jv_string("parent_id"),
	                 span->has_parent ? jv_string(parent) : jv_null(),
	                 jv_string("name"), jv_string(span->name),
	                 jv_string("service"), jv_string(tracer.service));
	line = jv_object_set(line, jv_string("start"), iso_time(span->start_ns));
	line = jv_object_set(line, jv_string("end"), iso_time(span->end_ns));
	line = jv_object_set(line, jv_string("duration_ms"),
	                     jv_number((double)(span->end_ns -
	                                        span->start_ns) / 1e6));
	line = jv_object_set(line, jv_string("status"),
	                     jv_string(span->failed ? "error" : "ok"));
	if (span->message)
		line = jv_object_set(line, jv_string("status_message"),
		                     jv_string(span->message));
	return jv_object_set(line, jv_string("attributes"),
	                     jv_copy(span->attributes));
}

/* ---- OTLP/HTTP JSON ---- */

static jv otlp_value(jv value)
{
	switch (jv_get_kind(value)) {
	case JV_KIND_STRING:
		return JV_OBJECT(jv_string("stringValue"), value);
	case JV_KIND_TRUE:
	case JV_KIND_FALSE:
		return JV_OBJECT(jv_string("boolValue"), value);
	case JV_KIND_NUMBER: {
		double x = jv_number_value(value);
		jv_free(value);
		if (x == (double)(long long)x && x < 9e15 && x > -9e15)
			return JV_OBJECT(jv_string("intValue"),
			                 jv_string_fmt("%lld", (long long)x));
		return JV_OBJECT(jv_string("doubleValue"), jv_number(x));
	}
	default:
		return JV_OBJECT(jv_string("stringValue"),
		                 jv_dump_string(value, 0));
	}
}

static jv otlp_attributes(jv attributes)
{
	jv list = jv_array();

	jv_object_foreach(attributes, key, value)
		list = jv_array_append(list, JV_OBJECT(jv_string("key"), key,
		                                       jv_string("value"),
		                                       otlp_value(value)));
	jv_free(attributes);
	return list;
}

static jv otlp_record(const struct mas_span *span)
{
	char trace[33], id[17], parent[17];
	jv record, status;

	hex(span->trace_id, 16, trace);
	hex(span->span_id, 8, id);
	hex(span->parent_id, 8, parent);
	status = JV_OBJECT(jv_string("code"), jv_number(span->failed ? 2 : 1));
	if (span->message)
		status = jv_object_set(status, jv_string("message"),
		                       jv_string(span->message));
	record = JV_OBJECT(jv_string("traceId"), jv_string(trace),
	                   jv_string("spanId"), jv_string(id),
	                   jv_string("name"), jv_string(span->name),
	                   jv_string("kind"), jv_number(1));
	if (span->has_parent)
		record = jv_object_set(record, jv_string("parentSpanId"),
		                       jv_string(parent));
	record = jv_object_set(record, jv_string("startTimeUnixNano"),
	                       jv_string_fmt("%llu", (unsigned long long)
	                                             span->start_ns));
	record = jv_object_set(record, jv_string("endTimeUnixNano"),
	                       jv_string_fmt("%llu", (unsigned long long)
	                                             span->end_ns));
	record = jv_object_set(record, jv_string("attributes"),
	                       otlp_attributes(jv_copy(span->attributes)));
	return jv_object_set(record, jv_string("status"), status);
}

static void export_queue(const struct mas_span *span)
{
	struct exporter *exporter = &tracer.exporter;
	jv text = jv_dump_string(otlp_record(span), 0);
	char *copy = strdup(jv_string_value(text));

	jv_free(text);
	if (!copy)
		return;
	pthread_mutex_lock(&exporter->lock);
	if (exporter->count < QUEUE_MAX) {
		exporter->spans[exporter->count++] = copy;
		copy = NULL;
		if (exporter->count >= BATCH)
			pthread_cond_signal(&exporter->wake);
	} else {
		exporter->dropped++;
	}
	pthread_mutex_unlock(&exporter->lock);
	free(copy);
}

void mas_span_end(struct mas_span *span)
{
	if (!span)
		return;
	span->end_ns = now_ns();
	if (tracer.fd >= 0) {
		jv line = jv_dump_string(file_record(span), 0);
		pthread_mutex_lock(&tracer.file_lock);
		file_append(jv_string_value(line),
		            (size_t)jv_string_length_bytes(jv_copy(line)));
		/* A slow worker's spans reach the file within a second. */
		if (mas_clock_monotonic() - tracer.flushed >= 1.0)
			file_flush();
		pthread_mutex_unlock(&tracer.file_lock);
		jv_free(line);
	}
	if (tracer.exporting)
		export_queue(span);
	if (current_span == span)
		current_span = NULL;
	jv_free(span->attributes);
	free(span->name);
	free(span->message);
	free(span);
}

/* ---- the exporter thread ---- */

static size_t discard_body(char *data, size_t size, size_t count, void *user)
{
	return size * count;
}

/* POSTs SPANS[0..COUNT) as one OTLP request; 0 on a 2xx answer. */
static int post_batch(CURL *curl, char **spans, size_t count)
{
	struct exporter *exporter = &tracer.exporter;
	size_t size = 256 + strlen(tracer.service) * 2;
	char *body, *p;
	long status = 0;
	CURLcode rc;

	for (size_t i = 0; i < count; i++)
		size += strlen(spans[i]) + 1;
	body = malloc(size);
	if (!body)
		return -1;
	p = body + snprintf(body, size, "{\"resourceSpans\":[{\"resource\":"
	                    "{\"attributes\":[{\"key\":\"service.name\","
	                    "\"value\":{\"stringValue\":\"%s\"}}]},"
	                    "\"scopeSpans\":[{\"scope\":{\"name\":\"mas\","
	                    "\"version\":\"%s\"},\"spans\":[",
	                    tracer.service, MAS_VERSION);
	for (size_t i = 0; i < count; i++) {
		size_t length = strlen(spans[i]);
		if (i)
			*p++ = ',';
		memcpy(p, spans[i], length);
		p += length;
	}
	memcpy(p, "]}]}]}", 7);
	curl_easy_setopt(curl, CURLOPT_URL, exporter->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, exporter->headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	free(body);
	if (rc == CURLE_OK && status >= 200 && status < 300)
		return 0;
	if (exporter->failures++ == 0)
		mas_warn("OTLP export to %s failed (%s); spans are being lost",
		         exporter->url, rc == CURLE_OK ? "HTTP error"
		                                       : curl_easy_strerror(rc));
	return -1;
}

/* Takes up to BATCH spans off the queue; the caller holds the lock. */
static size_t take_batch(char **batch)
{
	struct exporter *exporter = &tracer.exporter;
	size_t count = exporter->count < BATCH ? exporter->count : BATCH;

	memcpy(batch, exporter->spans, count * sizeof(char *));
	memmove(exporter->spans, exporter->spans + count,
	        (exporter->count - count) * sizeof(char *));
	exporter->count -= count;
	return count;
}

static void *export_loop(void *unused)
{
	struct exporter *exporter = &tracer.exporter;
	CURL *curl = curl_easy_init();
	static char *batch[BATCH];

	pthread_mutex_lock(&exporter->lock);
	for (;;) {
		struct timespec until;
		size_t count;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += EXPORT_INTERVAL;
		while (!exporter->stopping && exporter->count < BATCH &&
		       pthread_cond_timedwait(&exporter->wake, &exporter->lock,
		                              &until) == 0)
			;
		count = take_batch(batch);
		if (count == 0 && exporter->stopping)
			break;
		pthread_mutex_unlock(&exporter->lock);
		if (count && curl)
			post_batch(curl, batch, count);
		for (size_t i = 0; i < count; i++)
			free(batch[i]);
		pthread_mutex_lock(&exporter->lock);
	}
	pthread_mutex_unlock(&exporter->lock);
	if (curl)
		curl_easy_cleanup(curl);
	return unused;
}

/* Trims S in place and decodes %XX escapes (the OTel spec's rule for
 * header values). */
static char *decode_header_part(char *s)
{
	char *end, *in, *out;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	for (in = out = s; *in; in++) {
		unsigned value;
		if (*in == '%' && sscanf(in + 1, "%2x", &value) == 1 &&
		    in[1] && in[2]) {
			*out++ = (char)value;
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
	return s;
}

/* OTEL_EXPORTER_OTLP_HEADERS: "key=value,key2=value2". */
static struct curl_slist *otlp_headers(void)
{
	const char *spec = getenv("OTEL_EXPORTER_OTLP_HEADERS");
	struct curl_slist *headers =
		curl_slist_append(NULL, "Content-Type: application/json");
	char *copy, *item, *save = NULL;

	if (!spec || !*spec)
		return headers;
	copy = strdup(spec);
	for (item = copy ? strtok_r(copy, ",", &save) : NULL; item;
	     item = strtok_r(NULL, ",", &save)) {
		char *equals = strchr(item, '=');
		char *line = NULL;
		if (!equals)
			continue;
		*equals = '\0';
		if (asprintf(&line, "%s: %s", decode_header_part(item),
		             decode_header_part(equals + 1)) < 0)
			continue;
		headers = curl_slist_append(headers, line);
		free(line);
	}
	free(copy);
	return headers;
}

static int start_exporter(void)
{
	struct exporter *exporter = &tracer.exporter;
	const char *traces = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	const char *base = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	char *error = NULL;
	size_t length;

	if (traces && *traces) {
		exporter->url = strdup(traces);
	} else if (base && *base) {
		length = strlen(base);
		while (length && base[length - 1] == '/')
			length--;
		if (asprintf(&exporter->url, "%.*s/v1/traces", (int)length,
		             base) < 0)
			exporter->url = NULL;
	} else {
		return 0;
	}
	if (!exporter->url)
		return -1;
	if (mas_curl_load(&error)) {
		mas_error_log("%s", error ? error : "cannot load libcurl");
		free(error);
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	exporter->headers = otlp_headers();
	pthread_mutex_init(&exporter->lock, NULL);
	pthread_cond_init(&exporter->wake, NULL);
	if (pthread_create(&exporter->thread, NULL, export_loop, NULL) != 0)
		return -1;
	tracer.exporting = 1;
	return 0;
}

static void flush_at_exit(void)
{
	pthread_mutex_lock(&tracer.file_lock);
	if (tracer.fd >= 0)
		file_flush();
	pthread_mutex_unlock(&tracer.file_lock);
}

int mas_trace_init(const char *program, const struct mas_config *config,
                   char **error)
{
	const char *file = mas_config_get(config, "trace.file");
	const char *service = getenv("OTEL_SERVICE_NAME");
	uint64_t seed = 0;

	*error = NULL;
	tracer.program = program;
	tracer.service = strdup(service && *service ? service : program);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	tracer.seed = seed;
	if (file) {
		/* Spans buffered when a program exits early (exit 2, 74, a
		 * closed stdout) still reach the file. */
		atexit(flush_at_exit);
		tracer.fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		                 0644);
		if (tracer.fd < 0) {
			if (asprintf(error, "trace file %s: %s", file,
			             strerror(errno)) < 0)
				*error = NULL;
			return -1;
		}
	}
	if (start_exporter() != 0) {
		if (asprintf(error, "OTLP exporter: cannot start") < 0)
			*error = NULL;
		return -1;
	}
	tracer.enabled = tracer.fd >= 0 || tracer.exporting;
	return 0;
}

static void stop_exporter(void)
{
	struct exporter *exporter = &tracer.exporter;
	struct timespec until;

	pthread_mutex_lock(&exporter->lock);
	exporter->stopping = 1;
	pthread_cond_signal(&exporter->wake);
	pthread_mutex_unlock(&exporter->lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += EXIT_WAIT;
	/* Bounded: a collector that hangs must not hold up the exit. */
	if (pthread_timedjoin_np(exporter->thread, NULL, &until) != 0) {
		mas_warn("OTLP export to %s: gave up after %d s at exit; %zu "
		         "spans not sent", exporter->url, EXIT_WAIT,
		         exporter->count);
		return;
	}
	if (exporter->dropped)
		mas_warn("OTLP export: %lu spans dropped (queue full)",
		         exporter->dropped);
	curl_slist_free_all(exporter->headers);
	free(exporter->url);
	tracer.exporting = 0;
}

void mas_trace_shutdown(void)
{
	pthread_mutex_lock(&tracer.file_lock);
	if (tracer.fd >= 0) {
		file_flush();
		close(tracer.fd);
		tracer.fd = -1;
	}
	pthread_mutex_unlock(&tracer.file_lock);
	if (tracer.exporting)
		stop_exporter();
	tracer.enabled = 0;
	/* An exporter that would not stop in time still runs, and reads
	 * the service name: leave it to the process's exit. */
	if (!tracer.exporting) {
		free(tracer.service);
		tracer.service = NULL;
	}
}
