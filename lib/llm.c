/*
 * llm.c — the LLM client (see llm.h).
 *
 * A request lives in one of two places: the queue (waiting for a free
 * slot, or for its backoff time) or a slot (attached to the curl multi
 * handle).  Each HTTP attempt builds its payload and buffers afresh and
 * frees them when it ends, so memory grows with `jobs`, while a queued
 * request holds only its jv body.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "curl-lazy.h"

#include "clock.h"
#include "llm.h"
#include "log.h"
#include "mas.h"
#include "trace.h"
#include "banned.h"

#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_TIMEOUT 120.0
#define DEFAULT_ATTEMPTS 4
#define DEFAULT_BACKOFF_BASE 0.5
#define DEFAULT_BACKOFF_MAX 30.0
#define DEFAULT_JOBS 8
#define MAX_JOBS 1024
#define MAX_REPLY ((size_t)64 << 20)
#define SSE_MAX_LINE ((size_t)16 << 20)
#define MAX_QUOTE 300 /* bytes of server text quoted in an error */
#define WAIT_FOREVER_MS 3600000 /* one poll's longest sleep */

/* ------------------------------------------------------------------ */
/* Buffers */

struct buf {
	char *p;
	size_t len, cap;
};

static void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (!q)
		mas_die(MAS_EXIT_IO, "out of memory");
	return q;
}

/* Appends, keeping a NUL after the bytes so P is always a string. */
static void grow_add(char **p, size_t *len, size_t *cap, const void *data,
                     size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t want = *cap ? *cap : 256;
		while (want < *len + n + 1)
			want *= 2;
		*p = xrealloc(*p, want);
		*cap = want;
	}
	if (n)
		memcpy(*p + *len, data, n);
	*len += n;
	(*p)[*len] = '\0';
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
	grow_add(&b->p, &b->len, &b->cap, data, n);
}

static void buf_release(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4), for cache keys: collisions must not happen. */

struct sha256 {
	uint32_t h[8];
	uint64_t length;
	unsigned char block[64];
	size_t fill;
};

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b,
	0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
	0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7,
	0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152,
	0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
	0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
	0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
	0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], v[8], t1, t2;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 |
		       (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (int i = 16; i < 64; i++)
		w[i] = w[i - 16] + w[i - 7] +
		       (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^
		        (w[i - 15] >> 3)) +
		       (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^
		        (w[i - 2] >> 10));
	memcpy(v, s->h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		t1 = v[7] + (ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25)) +
		     ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha_k[i] + w[i];
		t2 = (ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22)) +
		     ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		s->h[i] += v[i];
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, h0, sizeof(h0));
	s->length = 0;
	s->fill = 0;
}

static void sha256_add(struct sha256 *s, const unsigned char *p, size_t n)
{
	s->length += n;
	while (n > 0) {
		size_t take = 64 - s->fill < n ? 64 - s->fill : n;
		memcpy(s->block + s->fill, p, take);
		s->fill += take;
		p += take;
		n -= take;
		if (s->fill == 64) {
			sha256_block(s, s->block);
			s->fill = 0;
		}
	}
}

void mas_sha256_hex(const void *data, size_t length, char hex[65])
{
	static const unsigned char pad[64] = { 0x80 };
	unsigned char bits[8];
	struct sha256 s;
	uint64_t total;

	sha256_init(&s);
	sha256_add(&s, data, length);
	total = s.length * 8;
	sha256_add(&s, pad, s.fill < 56 ? 56 - s.fill : 120 - s.fill);
	for (int i = 0; i < 8; i++)
		bits[i] = (unsigned char)(total >> (56 - 8 * i));
	sha256_add(&s, bits, 8);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 8 * i, 9, "%08x", (unsigned)s.h[i]);
}

/* ------------------------------------------------------------------ */
/* Server-sent events */

void mas_sse_init(struct mas_sse *sse,
                  void (*on_event)(void *, const char *, const char *,
                                   size_t),
                  void *user)
{
	memset(sse, 0, sizeof(*sse));
	sse->on_event = on_event;
	sse->user = user;
	snprintf(sse->event, sizeof(sse->event), "message");
}

void mas_sse_release(struct mas_sse *sse)
{
	free(sse->line);
	free(sse->data);
	mas_sse_init(sse, sse->on_event, sse->user);
}

static void sse_dispatch(struct mas_sse *sse)
{
	if (sse->has_data)
		sse->on_event(sse->user, sse->event,
		              sse->data ? sse->data : "", sse->data_len);
	sse->data_len = 0;
	sse->has_data = 0;
	snprintf(sse->event, sizeof(sse->event), "message");
}

/* One complete line, without its end (the SSE spec's field rules). */
static void sse_line(struct mas_sse *sse, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n);
	size_t name = colon ? (size_t)(colon - line) : n;
	const char *value = colon ? colon + 1 : line + n;
	size_t value_len = (size_t)(line + n - value);

	if (n == 0) {
		sse_dispatch(sse);
		return;
	}
	if (name == 0) /* a comment, often a keep-alive */
		return;
	if (value_len > 0 && *value == ' ') {
		value++;
		value_len--;
	}
	if (name == 4 && memcmp(line, "data", 4) == 0) {
		if (sse->has_data)
			grow_add(&sse->data, &sse->data_len, &sse->data_cap,
			         "\n", 1);
		grow_add(&sse->data, &sse->data_len, &sse->data_cap, value,
		         value_len);
		sse->has_data = 1;
	} else if (name == 5 && memcmp(line, "event", 5) == 0) {
		size_t keep = value_len < sizeof(sse->event) - 1
		                      ? value_len
		                      : sizeof(sse->event) - 1;
		memcpy(sse->event, value, keep);
		sse->event[keep] = '\0';
	}
}

int mas_sse_feed(struct mas_sse *sse, const char *bytes, size_t length)
{
	const char *end = bytes + length;

	while (bytes < end) {
		const char *eol;
		/* CRLF split between two reads: the LF ends nothing. */
		if (sse->skip_lf) {
			sse->skip_lf = 0;
			if (*bytes == '\n') {
				bytes++;
				continue;
			}
		}
		eol = bytes;
		while (eol < end && *eol != '\n' && *eol != '\r')
			eol++;
		if (eol > bytes)
			grow_add(&sse->line, &sse->line_len, &sse->line_cap,
			         bytes, (size_t)(eol - bytes));
		if (sse->line_len > SSE_MAX_LINE)
			return -1;
		if (eol == end)
			break;
		sse->skip_lf = *eol == '\r';
		sse_line(sse, sse->line ? sse->line : "", sse->line_len);
		sse->line_len = 0;
		bytes = eol + 1;
	}
	return 0;
}

void mas_sse_finish(struct mas_sse *sse)
{
	if (sse->line_len > 0)
		sse_line(sse, sse->line, sse->line_len);
	sse->line_len = 0;
	sse_dispatch(sse);
}

/* ------------------------------------------------------------------ */
/* Backoff and Retry-After */

double mas_llm_backoff(int attempt, double base, double max, double unit)
{
	double cap = base;

	for (int i = 1; i < attempt && cap < max; i++)
		cap *= 2;
	if (cap > max)
		cap = max;
	return unit * cap;
}

/* Plain decimal seconds: digits, an optional fraction, nothing else
 * (strtod would take "1e3", "inf" and hex too). */
static int parse_seconds(const char *p, double *seconds)
{
	double value = 0, scale = 0.1;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++)
		value = value * 10 + (*p - '0');
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
			value += (*p - '0') * scale;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return -1;
	*seconds = value;
	return 0;
}

/* libcurl, for a caller that made no mas_llm (curl-lazy.h); 0 or -1. */
static int load_curl(void)
{
	char *error = NULL;
	int status = mas_curl_load(&error);

	free(error);
	return status;
}

int mas_llm_parse_retry_after(const char *value, double now,
                              double *seconds)
{
	time_t when;

	while (*value == ' ' || *value == '\t')
		value++;
	if (parse_seconds(value, seconds) == 0)
		return 0;
	/* An HTTP date, in any of the three forms RFC 9110 allows. */
	if (!isalpha((unsigned char)*value) || load_curl() != 0)
		return -1;
	when = curl_getdate(value, NULL);
	if (when == (time_t)-1)
		return -1;
	*seconds = (double)when > now ? (double)when - now : 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Configuration */

static int nonempty(const char *s)
{
	return s && *s;
}

int mas_llm_configured(const struct mas_config *config)
{
	return nonempty(mas_config_get(config, "llm.api_key")) ||
	       nonempty(mas_config_get(config, "llm.base_url"));
}

/* A number from config key NAME within [MIN, MAX]; unset leaves *OUT. */
static int config_number(const struct mas_config *config, const char *name,
                         double min, double max, double *out, char **error)
{
	const char *text = mas_config_get(config, name);
	char *end;
	double value;

	if (!nonempty(text))
		return 0;
	errno = 0;
	value = strtod(text, &end);
	if (errno || end == text || *end || !(value >= min && value <= max))
		return mas_error_set(error,
		                     "%s: \"%s\" is not a number from %g to "
		                     "%g", name, text, min, max);
	*out = value;
	return 0;
}

int mas_llm_options_from_config(struct mas_llm_options *options,
                                const struct mas_config *config,
                                char **error)
{
	double jobs = 0;

	*error = NULL;
	memset(options, 0, sizeof(*options));
	options->cache = 1;
	options->base_url = mas_config_get(config, "llm.base_url");
	options->api_key = mas_config_get(config, "llm.api_key");
	options->model = mas_config_get(config, "llm.model");
	if (config_number(config, "llm.timeout", 0.001, 86400,
	                  &options->timeout, error) ||
	    config_number(config, "llm.jobs", 1, MAX_JOBS, &jobs, error) ||
	    config_number(config, "llm.cache_ttl", 0, 1e12,
	                  &options->cache_ttl, error))
		return -1;
	if (jobs != floor(jobs))
		return mas_error_set(error,
		                     "llm.jobs: \"%s\" is not a whole number",
		                     mas_config_get(config, "llm.jobs"));
	options->jobs = (size_t)jobs;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The client */

struct req {
	struct mas_llm *llm;
	struct mas_span *span;      /* the request's span, or NULL */
	unsigned long seq;          /* submission order, for the queue */
	jv body;                    /* what is sent, without stream fields */
	jv required;                /* field names, or null */
	int structured, stream;
	int cacheable;
	char key[65];               /* cache key */
	mas_llm_done_fn done;
	mas_llm_token_fn on_token;
	void *user;
	int attempts, phase_attempts, repaired;
	long long estimate;         /* prompt tokens, guessed as bytes/4 */
	double started;             /* first attempt, monotonic; 0: none */
	double not_before;          /* monotonic */
	struct req *next;           /* in the queue */
	/* The current attempt */
	size_t slot;
	CURL *easy;
	char *payload;
	size_t payload_len;
	long status;
	double retry_after;         /* -1: none */
	int too_big, sse_mode;
	int silent;                 /* a stream ended for its silence */
	double heard;               /* last byte received, monotonic */
	struct buf reply;
	struct mas_sse sse;
	struct buf content;         /* streamed content */
	jv stream_model, stream_finish, stream_usage;
	char *stream_error;
	int stream_done;
	char errbuf[CURL_ERROR_SIZE];
};

/* A reply waiting to be written to the cache (cache_flush). */
struct pending_put {
	char key[65];
	char *model;
	double created;             /* epoch seconds */
	char *reply;                /* the row's JSON text */
};

enum { PENDING_MAX = 64 };
#define PENDING_AGE 0.05        /* seconds the oldest may wait */

struct mas_llm {
	char *url, *key, *model;
	struct mas_llm_options o;   /* with defaults filled in */
	CURLM *multi;
	struct curl_slist *headers;
	struct req **slots;
	size_t active;
	struct req *queue;          /* by seq */
	size_t queued;
	CURL **pool;                /* idle easy handles */
	size_t pooled;
	sqlite3_stmt *get, *put;
	struct pending_put pending[PENDING_MAX];
	size_t pending_count;
	double pending_since;       /* monotonic: the oldest's arrival */
	int cache_warned;
	unsigned long seq;
	unsigned long answered;     /* DONE calls, to see progress */
	uint64_t rng;
	long long tokens_used;      /* for the budget, estimates included */
	long long reserved;         /* estimated cost of those in flight */
	int held;                   /* the queue waits for the budget */
	int budget_told;            /* its end was logged */
	struct mas_llm_stats stats;
};

static int curl_users;

static double now(void)
{
	return mas_clock_monotonic();
}

/* xorshift64*: jitter needs spread, not secrecy. */
static double unit_random(struct mas_llm *llm)
{
	llm->rng ^= llm->rng >> 12;
	llm->rng ^= llm->rng << 25;
	llm->rng ^= llm->rng >> 27;
	return (double)((llm->rng * 2685821657736338717ULL) >> 11) /
	       9007199254740992.0;
}

/* Replaces each copy of the key in S (malloc'd) by "[redacted]". */
static char *scrub(const struct mas_llm *llm, char *s)
{
	size_t klen = llm->key ? strlen(llm->key) : 0;
	struct buf out = { 0 };
	const char *p = s, *hit;

	if (klen < 4 || !strstr(s, llm->key))
		return s;
	for (hit = strstr(p, llm->key); hit; hit = strstr(p, llm->key)) {
		buf_add(&out, p, (size_t)(hit - p));
		buf_add(&out, "[redacted]", 10);
		p = hit + klen;
	}
	buf_add(&out, p, strlen(p));
	free(s);
	return out.p;
}

static void fill_defaults(struct mas_llm_options *o)
{
	if (o->connect_timeout <= 0)
		o->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
	if (o->timeout <= 0)
		o->timeout = DEFAULT_TIMEOUT;
	if (o->max_attempts <= 0)
		o->max_attempts = DEFAULT_ATTEMPTS;
	if (o->backoff_base <= 0)
		o->backoff_base = DEFAULT_BACKOFF_BASE;
	if (o->backoff_max <= 0)
		o->backoff_max = DEFAULT_BACKOFF_MAX;
	if (o->jobs == 0)
		o->jobs = DEFAULT_JOBS;
	if (o->jobs > MAX_JOBS)
		o->jobs = MAX_JOBS;
	if (!o->store)
		o->cache = 0;
}

static int check_options(const struct mas_llm_options *o, char **error)
{
	const char *base = nonempty(o->base_url) ? o->base_url
	                                          : MAS_LLM_DEFAULT_BASE_URL;

	if (strncmp(base, "http://", 7) != 0 &&
	    strncmp(base, "https://", 8) != 0)
		return mas_error_set(error,
		                     "llm.base_url: \"%s\" is not an http:// "
		                     "or https:// URL", base);
	for (const char *p = o->api_key; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			/* It would end the header line: refuse, unquoted. */
			return mas_error_set(error,
			                     "llm.api_key: the key holds a "
			                     "control character (a stray "
			                     "newline?)");
	if (o->cache_ttl < 0 || o->max_tokens_total < 0)
		return mas_error_set(error,
		                     "llm: negative cache TTL or token "
		                     "budget");
	if (o->cache_only && !(o->cache && o->store))
		return mas_error_set(error,
		                     "--cache-only needs the cache (no "
		                     "--no-cache, a state store)");
	return 0;
}

static int make_url(struct mas_llm *llm, const char *base)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return asprintf(&llm->url, "%.*s/chat/completions", (int)n, base) < 0
	               ? -1
	               : 0;
}

static struct curl_slist *add_header(struct curl_slist *list,
                                     const char *line)
{
	struct curl_slist *next = curl_slist_append(list, line);

	if (!next)
		mas_die(MAS_EXIT_IO, "out of memory");
	return next;
}

static void make_headers(struct mas_llm *llm)
{
	char *auth = NULL;

	llm->headers = add_header(NULL, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip for large prompts. */
	llm->headers = add_header(llm->headers, "Expect:");
	if (!llm->key)
		return;
	if (asprintf(&auth, "Authorization: Bearer %s", llm->key) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	llm->headers = add_header(llm->headers, auth);
	/* The copy in the list is all curl needs; wipe ours. */
	memset(auth, 0, strlen(auth));
	free(auth);
}

static int prepare_cache(struct mas_llm *llm, char **error)
{
	sqlite3 *db = llm->o.store->db;

	if (sqlite3_prepare_v2(db,
	                       "SELECT reply, created FROM llm_cache "
	                       "WHERE key = ?1",
	                       -1, &llm->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "INSERT OR REPLACE INTO llm_cache "
	                       "(key, model, created, reply) "
	                       "VALUES (?1, ?2, ?3, ?4)",
	                       -1, &llm->put, NULL) != SQLITE_OK)
		return mas_error_set(error, "%s: llm cache: %s",
		                     llm->o.store->path, sqlite3_errmsg(db));
	return 0;
}

static char *dup_or_null(const char *s)
{
	char *copy;

	if (!nonempty(s))
		return NULL;
	copy = strdup(s);
	if (!copy)
		mas_die(MAS_EXIT_IO, "out of memory");
	return copy;
}

struct mas_llm *mas_llm_new(const struct mas_llm_options *options,
                            char **error)
{
	struct mas_llm *llm;

	*error = NULL;
	if (check_options(options, error) || mas_curl_load(error))
		return NULL;
	llm = calloc(1, sizeof(*llm));
	if (!llm)
		mas_die(MAS_EXIT_IO, "out of memory");
	llm->o = *options;
	fill_defaults(&llm->o);
	llm->key = dup_or_null(options->api_key);
	llm->model = dup_or_null(options->model);
	llm->o.api_key = NULL;
	llm->o.base_url = NULL;
	llm->o.model = NULL;
	if (curl_users++ == 0)
		curl_global_init(CURL_GLOBAL_DEFAULT);
	llm->multi = curl_multi_init();
	llm->slots = calloc(llm->o.jobs, sizeof(*llm->slots));
	llm->pool = calloc(llm->o.jobs, sizeof(*llm->pool));
	if (!llm->multi || !llm->slots || !llm->pool ||
	    make_url(llm, nonempty(options->base_url)
	                          ? options->base_url
	                          : MAS_LLM_DEFAULT_BASE_URL))
		mas_die(MAS_EXIT_IO, "out of memory");
	make_headers(llm);
	llm->rng = ((uint64_t)mas_clock_epoch_ms() << 20) ^
	           (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ULL;
	if (llm->o.cache && prepare_cache(llm, error)) {
		mas_llm_free(llm);
		return NULL;
	}
	if (llm->o.insecure)
		mas_warn("TLS certificate verification is off (--insecure): "
		         "anyone on the path can read and change the "
		         "traffic, the key included");
	return llm;
}

static void req_free(struct req *r);
static void cache_flush(struct mas_llm *llm);

void mas_llm_free(struct mas_llm *llm)
{
	if (!llm)
		return;
	cache_flush(llm);
	for (size_t i = 0; i < llm->o.jobs; i++) {
		struct req *r = llm->slots[i];
		if (!r)
			continue;
		curl_multi_remove_handle(llm->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		req_free(r);
	}
	while (llm->queue) {
		struct req *r = llm->queue;
		llm->queue = r->next;
		req_free(r);
	}
	for (size_t i = 0; i < llm->pooled; i++)
		curl_easy_cleanup(llm->pool[i]);
	curl_multi_cleanup(llm->multi);
	curl_slist_free_all(llm->headers);
	sqlite3_finalize(llm->get);
	sqlite3_finalize(llm->put);
	if (llm->key)
		memset(llm->key, 0, strlen(llm->key));
	free(llm->key);
	free(llm->model);
	free(llm->url);
	free(llm->slots);
	free(llm->pool);
	free(llm);
	if (--curl_users == 0)
		curl_global_cleanup();
}

void mas_llm_get_stats(const struct mas_llm *llm,
                       struct mas_llm_stats *stats)
{
	*stats = llm->stats;
}

size_t mas_llm_in_flight(const struct mas_llm *llm)
{
	return llm->active + llm->queued;
}

/* ------------------------------------------------------------------ */
/* Requests: life and death */

static struct req *req_new(struct mas_llm *llm, mas_llm_done_fn done,
                           mas_llm_token_fn on_token, void *user)
{
	struct req *r = calloc(1, sizeof(*r));

	if (!r)
		mas_die(MAS_EXIT_IO, "out of memory");
	r->llm = llm;
	r->seq = llm->seq++;
	r->body = jv_null();
	r->required = jv_null();
	r->done = done;
	r->on_token = on_token;
	r->user = user;
	r->stream_model = jv_null();
	r->stream_finish = jv_null();
	r->stream_usage = jv_null();
	/* A child of whatever is current: the record, or the plan step. */
	r->span = mas_span_start("llm.request", NULL);
	return r;
}

/* Frees what one attempt used, so a request waiting to be retried
 * holds no buffers. */
static void attempt_release(struct req *r)
{
	free(r->payload);
	r->payload = NULL;
	buf_release(&r->reply);
	buf_release(&r->content);
	mas_sse_release(&r->sse);
	jv_free(r->stream_model);
	jv_free(r->stream_finish);
	jv_free(r->stream_usage);
	r->stream_model = jv_null();
	r->stream_finish = jv_null();
	r->stream_usage = jv_null();
	free(r->stream_error);
	r->stream_error = NULL;
}

static void attempt_reset(struct req *r)
{
	attempt_release(r);
	r->stream_done = 0;
	r->too_big = 0;
	r->silent = 0;
	r->heard = now();
	r->sse_mode = 0;
	r->status = 0;
	r->retry_after = -1;
	r->errbuf[0] = '\0';
}

static void req_free(struct req *r)
{
	mas_span_end(r->span); /* dropped unanswered, at exit */
	r->span = NULL;
	attempt_release(r);
	jv_free(r->body);
	jv_free(r->required);
	free(r);
}

/* Puts R into the queue in submission order: a retry goes back ahead of
 * requests submitted after it. */
static void enqueue(struct mas_llm *llm, struct req *r)
{
	struct req **at = &llm->queue;

	while (*at && (*at)->seq < r->seq)
		at = &(*at)->next;
	r->next = *at;
	*at = r;
	llm->queued++;
}

/* Adds "status", "attempts" and "transient" to a failure and scrubs the
 * key.  TRANSIENT says whether trying later may help: it decides a
 * run's exit status (75 or 1), whatever the code. */
static jv failure(struct mas_llm *llm, enum mas_error_code code, long status,
                  int attempts, int transient, const char *message)
{
	char *text = scrub(llm, strdup(message ? message : "failed"));
	jv error = mas_error(code, "%s", text ? text : "failed");

	free(text);
	error = jv_object_set(error, jv_string("transient"),
	                      jv_bool(transient));
	if (status > 0)
		error = jv_object_set(error, jv_string("status"),
		                      jv_number((double)status));
	error = jv_object_set(error, jv_string("attempts"),
	                      jv_number(attempts));
	return jv_invalid_with_msg(error);
}

static void count_failure(struct mas_llm *llm, jv result)
{
	jv message = jv_invalid_get_msg(jv_copy(result));
	jv code = jv_object_get(message, jv_string("code"));

	llm->stats.failures++;
	for (int c = 0; c <= MAS_ERR_INTERNAL; c++)
		if (jv_get_kind(code) == JV_KIND_STRING &&
		    strcmp(jv_string_value(code),
		           mas_error_code_name((enum mas_error_code)c)) == 0)
			llm->stats.failures_by_code[c]++;
	jv_free(code);
}

/* Answers R with RESULT (consumed) and frees it.  R is gone from the
 * queue and slots before DONE runs, so DONE may submit more. */
/* Ends R's span with what came of it: model, tokens, cache, attempts. */
static void end_span(struct req *r, jv result) /* borrows */
{
	struct mas_span *span = r->span;

	r->span = NULL;
	if (!span)
		return;
	mas_span_set(span, "gen_ai.request.model",
	             jv_object_get(jv_copy(r->body), jv_string("model")));
	mas_span_set(span, "mas.llm.attempts", jv_number(r->attempts));
	if (jv_is_valid(result)) {
		jv usage = jv_object_get(jv_copy(result), jv_string("usage"));
		jv cached = jv_object_get(jv_copy(result),
		                          jv_string("cached"));

		mas_span_set(span, "mas.llm.cached", cached);
		if (jv_get_kind(usage) == JV_KIND_OBJECT) {
			jv in = jv_object_get(jv_copy(usage),
			                      jv_string("prompt_tokens"));
			jv out = jv_object_get(jv_copy(usage),
			                       jv_string("completion_tokens"));
			mas_span_set(span, "gen_ai.usage.input_tokens", in);
			mas_span_set(span, "gen_ai.usage.output_tokens", out);
		}
		jv_free(usage);
	} else {
		jv error = jv_invalid_get_msg(jv_copy(result));
		mas_span_error(span, error);
		jv_free(error);
	}
	mas_span_end(span);
}

static void answer(struct mas_llm *llm, struct req *r, jv result)
{
	mas_llm_done_fn done = r->done;
	void *user = r->user;

	end_span(r, result);
	if (!jv_is_valid(result))
		count_failure(llm, result);
	llm->answered++;
	req_free(r);
	done(user, result);
}

/* ------------------------------------------------------------------ */
/* Building the request */

/* response_format as the caller gave it: a bare schema is wrapped; a
 * complete {"type": "json_schema" | "json_object", ...} is kept. */
static jv response_format(jv given)
{
	jv type = jv_object_get(jv_copy(given), jv_string("type"));
	int complete = jv_get_kind(type) == JV_KIND_STRING &&
	               (strcmp(jv_string_value(type), "json_schema") == 0 ||
	                strcmp(jv_string_value(type), "json_object") == 0);

	jv_free(type);
	if (complete)
		return given;
	return JV_OBJECT(jv_string("type"), jv_string("json_schema"),
	                 jv_string("json_schema"),
	                 JV_OBJECT(jv_string("name"), jv_string("reply"),
	                           jv_string("schema"), given,
	                           jv_string("strict"), jv_true()));
}

static int valid_required(jv required) /* borrows */
{
	if (jv_get_kind(required) != JV_KIND_ARRAY)
		return 0;
	jv_array_foreach(required, i, field) {
		int ok = jv_get_kind(field) == JV_KIND_STRING;
		jv_free(field);
		if (!ok)
			return 0;
	}
	return 1;
}

/* One field of the caller's request into R->body; a message when bad. */
static const char *take_field(struct req *r, const char *name, jv value)
{
	if (strcmp(name, "required") == 0) {
		if (!valid_required(value)) {
			jv_free(value);
			return "\"required\" is not an array of field names";
		}
		jv_free(r->required);
		r->required = value;
	} else if (strcmp(name, "stream") == 0) {
		r->stream = jv_get_kind(value) == JV_KIND_TRUE;
		jv_free(value);
	} else if (strcmp(name, "stream_options") == 0) {
		jv_free(value); /* ours is added per attempt */
	} else if (strcmp(name, "response_format") == 0) {
		if (jv_get_kind(value) != JV_KIND_OBJECT) {
			jv_free(value);
			return "\"response_format\" is not a JSON object";
		}
		r->structured = 1;
		r->body = jv_object_set(r->body, jv_string(name),
		                        response_format(value));
	} else {
		r->body = jv_object_set(r->body, jv_string(name), value);
	}
	return NULL;
}

static const char *check_messages(jv body) /* borrows */
{
	jv messages = jv_object_get(jv_copy(body), jv_string("messages"));
	int ok = jv_get_kind(messages) == JV_KIND_ARRAY &&
	         jv_array_length(jv_copy(messages)) > 0;

	jv_free(messages);
	return ok ? NULL : "\"messages\" is not a non-empty array";
}

static const char *build_body(struct mas_llm *llm, struct req *r,
                              jv request)
{
	const char *bad = NULL;
	jv model;

	r->body = jv_object();
	jv_object_foreach(request, name, value) {
		if (!bad)
			bad = take_field(r, jv_string_value(name), value);
		else
			jv_free(value);
		jv_free(name);
	}
	jv_free(request);
	if (bad)
		return bad;
	model = jv_object_get(jv_copy(r->body), jv_string("model"));
	if (jv_get_kind(model) != JV_KIND_STRING && llm->model)
		r->body = jv_object_set(r->body, jv_string("model"),
		                        jv_string(llm->model));
	else if (jv_get_kind(model) != JV_KIND_STRING) {
		jv_free(model);
		return "no model: set MAS_MODEL, llm.model or --model";
	}
	jv_free(model);
	return check_messages(r->body);
}

/* The cache key: the body with "required", keys sorted, hashed. */
static void cache_key(struct req *r)
{
	jv canon = jv_object_set(jv_copy(r->body), jv_string("required"),
	                         jv_copy(r->required));
	jv text = jv_dump_string(canon, JV_PRINT_SORTED);

	mas_sha256_hex(jv_string_value(text),
	               (size_t)jv_string_length_bytes(jv_copy(text)), r->key);
	jv_free(text);
}

/* ------------------------------------------------------------------ */
/* The cache */

static void cache_warn(struct mas_llm *llm, const char *what)
{
	if (llm->cache_warned)
		return;
	llm->cache_warned = 1;
	mas_warn("%s: llm cache %s: %s (going on without it)",
	         llm->o.store->path, what, sqlite3_errmsg(llm->o.store->db));
}

static double epoch_now(void)
{
	return (double)mas_clock_epoch_ms() / 1000.0;
}

static char *check_structured(struct req *r, jv *reply);

/*
 * Whether REPLY, read from the cache for R, is what a live reply would
 * be: its content a string and, for a structured request, JSON with the
 * required fields, made its "json" afresh.  A row of another version, or
 * damaged, is not: the agents ask a structured reply's "json" for its
 * members, and libjq asserts on those of a number.
 */
static int usable_cached(struct req *r, jv *reply)
{
	jv content = jv_object_get(jv_copy(*reply), jv_string("content"));
	int ok = jv_get_kind(content) == JV_KIND_STRING;
	char *why;

	jv_free(content);
	if (!ok || !r->structured)
		return ok;
	*reply = jv_object_delete(*reply, jv_string("json"));
	why = check_structured(r, reply);
	free(why);
	return why == NULL;
}

/* The text of the reply waiting under KEY to be written, or NULL. */
static const char *pending_reply(const struct mas_llm *llm, const char *key)
{
	for (size_t i = llm->pending_count; i > 0; i--)
		if (strcmp(llm->pending[i - 1].key, key) == 0)
			return llm->pending[i - 1].reply;
	return NULL;
}

/* The row stored for R (its reply parsed), or jv_invalid() on a miss
 * or a stale row. */
static jv stored_reply(struct mas_llm *llm, struct req *r)
{
	sqlite3_stmt *s = llm->get;
	jv reply = jv_invalid();
	int rc;

	sqlite3_bind_text(s, 1, r->key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		double age = epoch_now() - sqlite3_column_double(s, 1);
		if (llm->o.cache_ttl <= 0 || age <= llm->o.cache_ttl)
			reply = jv_parse((const char *)sqlite3_column_text(s,
			                                                   0));
	} else if (rc != SQLITE_DONE) {
		cache_warn(llm, "read");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return reply;
}

/* The stored reply for R, or jv_invalid() on a miss, a stale entry or
 * one that is not usable (then the answer is fetched and replaces it). */
static jv cache_get(struct mas_llm *llm, struct req *r)
{
	const char *waiting = pending_reply(llm, r->key);
	jv reply = waiting ? jv_parse(waiting) : stored_reply(llm, r);

	if (jv_get_kind(reply) != JV_KIND_OBJECT ||
	    !usable_cached(r, &reply)) {
		jv_free(reply);
		return jv_invalid();
	}
	return reply;
}

static void pending_release(struct pending_put *p)
{
	free(p->model);
	free(p->reply);
	memset(p, 0, sizeof(*p));
}

/* Write the waiting replies, in one transaction when the connection is
 * not in one already. */
static void cache_flush(struct mas_llm *llm)
{
	sqlite3 *db;
	sqlite3_stmt *s = llm->put;
	int own;

	if (llm->pending_count == 0)
		return;
	db = llm->o.store->db;
	own = sqlite3_get_autocommit(db) &&
	      sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
	              SQLITE_OK;
	for (size_t i = 0; i < llm->pending_count; i++) {
		struct pending_put *p = &llm->pending[i];
		sqlite3_bind_text(s, 1, p->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, p->model, -1, SQLITE_STATIC);
		sqlite3_bind_double(s, 3, p->created);
		sqlite3_bind_text(s, 4, p->reply, -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE)
			cache_warn(llm, "write");
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		pending_release(p);
	}
	llm->pending_count = 0;
	if (own && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		cache_warn(llm, "write");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
}

/* Flush when the batch is full, its oldest reply has waited long
 * enough, or nothing is in flight (an interactive session's reply is
 * stored before the next question). */
static void cache_settle(struct mas_llm *llm)
{
	if (llm->pending_count > 0 &&
	    (llm->pending_count == PENDING_MAX || llm->active == 0 ||
	     now() - llm->pending_since >= PENDING_AGE))
		cache_flush(llm);
}

static char *dup_text(const char *s)
{
	char *copy = strdup(s ? s : "");

	if (!copy)
		mas_die(MAS_EXIT_IO, "out of memory");
	return copy;
}

static void cache_put(struct mas_llm *llm, const struct req *r, jv result)
{
	jv keep = jv_copy(result);
	jv text, model;
	struct pending_put *p;

	keep = jv_object_delete(keep, jv_string("cached"));
	keep = jv_object_delete(keep, jv_string("cache_key"));
	keep = jv_object_delete(keep, jv_string("attempts"));
	keep = jv_object_delete(keep, jv_string("latency_ms"));
	text = jv_dump_string(keep, 0);
	model = jv_object_get(jv_copy(r->body), jv_string("model"));
	if (llm->pending_count == 0)
		llm->pending_since = now();
	p = &llm->pending[llm->pending_count++];
	memcpy(p->key, r->key, sizeof(p->key));
	p->model = dup_text(jv_get_kind(model) == JV_KIND_STRING
	                            ? jv_string_value(model) : NULL);
	p->created = epoch_now();
	p->reply = dup_text(jv_string_value(text));
	jv_free(text);
	jv_free(model);
	jv_free(result);
	cache_settle(llm);
}

void mas_llm_forget(struct mas_llm *llm, const char *key)
{
	sqlite3_stmt *s;
	size_t kept = 0;

	for (size_t i = 0; key && i < llm->pending_count; i++) {
		if (strcmp(llm->pending[i].key, key) == 0)
			pending_release(&llm->pending[i]);
		else
			llm->pending[kept++] = llm->pending[i];
	}
	if (key)
		llm->pending_count = kept;
	if (!llm->o.store || !llm->o.cache || !key ||
	    sqlite3_prepare_v2(llm->o.store->db,
	                       "DELETE FROM llm_cache WHERE key = ?1", -1, &s,
	                       NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		cache_warn(llm, "delete");
	sqlite3_finalize(s);
}

/* ------------------------------------------------------------------ */
/* Submitting */

/* What a prompt costs, guessed as bytes/4 (OpenAI's rule of thumb). */
static long long estimate_tokens(jv body) /* borrows */
{
	jv text = jv_dump_string(jv_copy(body), 0);
	long long bytes = jv_string_length_bytes(text);

	return bytes / 4 + 1;
}

static int budget_spent(const struct mas_llm *llm)
{
	return llm->o.max_tokens_total > 0 &&
	       llm->tokens_used >= llm->o.max_tokens_total;
}

static jv budget_failure(struct mas_llm *llm, const struct req *r)
{
	char message[160];

	snprintf(message, sizeof(message),
	         "token budget of %lld used up (--max-tokens-total)",
	         llm->o.max_tokens_total);
	/* once, at the default level: every later record falls back or
	 * fails for it, and a user without -v must know why */
	if (!llm->budget_told) {
		llm->budget_told = 1;
		mas_warn("llm: %s: no more model requests this run",
		         message);
	}
	return failure(llm, MAS_ERR_FORBIDDEN, 0, r->attempts, 0, message);
}

static void give_cached(struct mas_llm *llm, struct req *r, jv reply,
                        double started)
{
	jv content = jv_object_get(jv_copy(reply), jv_string("content"));

	llm->stats.cache_hits++;
	if (r->on_token && jv_get_kind(content) == JV_KIND_STRING)
		r->on_token(r->user, jv_string_value(content),
		            (size_t)jv_string_length_bytes(jv_copy(content)));
	jv_free(content);
	reply = jv_object_set(reply, jv_string("cache_key"),
	                      jv_string(r->key));
	reply = jv_object_set(reply, jv_string("cached"), jv_true());
	reply = jv_object_set(reply, jv_string("attempts"), jv_number(0));
	reply = jv_object_set(reply, jv_string("latency_ms"),
	                      jv_number((now() - started) * 1000.0));
	answer(llm, r, reply);
}

/* Answers R at once from the cache, or with a failure that needs no
 * network; 1 when answered, 0 when R must go out. */
static int answer_early(struct mas_llm *llm, struct req *r, int *failed)
{
	if (r->cacheable) {
		double started = now();
		jv reply = cache_get(llm, r);
		if (jv_is_valid(reply)) {
			give_cached(llm, r, reply, started);
			return 1;
		}
		llm->stats.cache_misses++;
	}
	*failed = 1;
	if (llm->o.cache_only) {
		answer(llm, r, failure(llm, MAS_ERR_NOT_FOUND, 0, 0, 0,
		                       "not in the cache (--cache-only)"));
		return 1;
	}
	if (budget_spent(llm)) {
		answer(llm, r, budget_failure(llm, r));
		return 1;
	}
	*failed = 0;
	return 0;
}

int mas_llm_submit(struct mas_llm *llm, jv request, mas_llm_done_fn done,
                   mas_llm_token_fn on_token, void *user)
{
	struct req *r = req_new(llm, done, on_token, user);
	const char *bad;
	int failed = 0;

	llm->stats.requests++;
	if (jv_get_kind(request) != JV_KIND_OBJECT) {
		jv_free(request);
		answer(llm, r, failure(llm, MAS_ERR_INVALID_REQUEST, 0, 0, 0,
		                       "request is not a JSON object"));
		return -1;
	}
	bad = build_body(llm, r, request);
	if (bad) {
		answer(llm, r, failure(llm, MAS_ERR_INVALID_REQUEST, 0, 0, 0,
		                       bad));
		return -1;
	}
	r->cacheable = llm->o.cache;
	if (r->cacheable)
		cache_key(r);
	if (llm->o.max_tokens_total > 0)
		r->estimate = estimate_tokens(r->body);
	if (answer_early(llm, r, &failed))
		return failed ? -1 : 0;
	r->not_before = 0;
	enqueue(llm, r);
	return 0;
}

/* ------------------------------------------------------------------ */
/* One HTTP attempt */

static void on_event(void *user, const char *event, const char *data,
                     size_t length);

static size_t too_big(struct req *r)
{
	r->too_big = 1;
	return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
}

static int is_event_stream(struct req *r)
{
	char *type = NULL;

	curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &type);
	return type && strncasecmp(type, "text/event-stream", 17) == 0;
}

/* Bytes of the reply as they come: buffered, or through the event
 * parser.  How many were taken: fewer ends the transfer. */
static size_t take_bytes(struct req *r, const char *data, size_t bytes)
{
	if (!r->sse_mode) {
		if (r->reply.len + bytes > MAX_REPLY)
			return too_big(r);
		buf_add(&r->reply, data, bytes);
		return bytes;
	}
	if (mas_sse_feed(&r->sse, data, bytes) != 0)
		return too_big(r);
	/* After an error event the rest is of no use: stop reading. */
	return r->stream_error ? 0 : bytes;
}

static size_t on_write(char *data, size_t size, size_t n, void *user)
{
	struct req *r = user;

	r->heard = now();
	if (r->reply.len == 0 && !r->sse_mode && r->stream &&
	    r->status / 100 == 2 && is_event_stream(r)) {
		r->sse_mode = 1;
		mas_sse_init(&r->sse, on_event, r);
	}
	return take_bytes(r, data, size * n);
}

/* When LINE is header NAME (with its colon, any case), its trimmed value
 * into VALUE; else 0. */
static int header_value(const char *line, size_t bytes, const char *name,
                        char *value, size_t size)
{
	size_t skip = strlen(name), len;

	if (bytes <= skip || strncasecmp(line, name, skip) != 0)
		return 0;
	len = bytes - skip < size - 1 ? bytes - skip : size - 1;
	memcpy(value, line + skip, len);
	while (len > 0 && isspace((unsigned char)value[len - 1]))
		len--;
	value[len] = '\0';
	while (*value == ' ' || *value == '\t')
		memmove(value, value + 1, len--);
	return 1;
}

static size_t on_header(char *line, size_t size, size_t n, void *user)
{
	struct req *r = user;
	size_t bytes = size * n;
	char value[128];

	r->heard = now();
	if (bytes > 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *space = memchr(line, ' ', bytes);
		r->status = space ? strtol(space + 1, NULL, 10) : 0;
		r->retry_after = -1;
	} else if (header_value(line, bytes, "retry-after-ms:", value,
	                        sizeof(value))) {
		/* Azure's and the OpenAI SDK's finer-grained form. */
		if (parse_seconds(value, &r->retry_after) == 0)
			r->retry_after /= 1000.0;
		else
			r->retry_after = -1;
	} else if (header_value(line, bytes, "retry-after:", value,
	                        sizeof(value))) {
		if (mas_llm_parse_retry_after(value, epoch_now(),
		                              &r->retry_after) != 0)
			r->retry_after = -1;
	}
	return bytes;
}

static jv get_path(jv v, const char *a, int index, const char *b,
                   const char *c)
{
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return jv_invalid();
	}
	v = jv_object_get(v, jv_string(a));
	if (jv_get_kind(v) == JV_KIND_ARRAY)
		v = jv_array_get(v, index);
	if (b && jv_get_kind(v) == JV_KIND_OBJECT)
		v = jv_object_get(v, jv_string(b));
	if (c && jv_get_kind(v) == JV_KIND_OBJECT)
		v = jv_object_get(v, jv_string(c));
	return v;
}

/* The error text a server put in {"error": {"message": ...}} or
 * {"error": "..."} (llama.cpp, Ollama, vLLM all use one of these), or
 * NULL; malloc'd. */
static char *error_text(jv body) /* borrows */
{
	jv error, message;
	char *text = NULL;

	if (jv_get_kind(body) != JV_KIND_OBJECT)
		return NULL;
	error = jv_object_get(jv_copy(body), jv_string("error"));
	message = jv_get_kind(error) == JV_KIND_OBJECT
	                  ? jv_object_get(jv_copy(error), jv_string("message"))
	                  : jv_copy(error);

	if (jv_get_kind(message) == JV_KIND_STRING)
		text = strdup(jv_string_value(message));
	else if (jv_get_kind(error) != JV_KIND_NULL &&
	         jv_get_kind(error) != JV_KIND_INVALID) {
		jv dumped = jv_dump_string(jv_copy(error), 0);
		text = strdup(jv_string_value(dumped));
		jv_free(dumped);
	}
	jv_free(error);
	jv_free(message);
	return text;
}

/* What a chunk of a stream adds: a piece of content, the finish
 * reason, usage (in the last chunk when include_usage was asked), the
 * model's name. */
static void read_chunk(struct req *r, jv chunk)
{
	jv piece = get_path(jv_copy(chunk), "choices", 0, "delta",
	                    "content");

	if (jv_get_kind(piece) == JV_KIND_STRING) {
		size_t n = (size_t)jv_string_length_bytes(jv_copy(piece));
		buf_add(&r->content, jv_string_value(piece), n);
		if (r->on_token && n > 0)
			r->on_token(r->user, jv_string_value(piece), n);
	}
	jv_free(piece);
	piece = get_path(jv_copy(chunk), "choices", 0, "finish_reason", NULL);
	if (jv_get_kind(piece) == JV_KIND_STRING) {
		jv_free(r->stream_finish);
		r->stream_finish = jv_copy(piece);
	}
	jv_free(piece);
	piece = jv_object_get(jv_copy(chunk), jv_string("usage"));
	if (jv_get_kind(piece) == JV_KIND_OBJECT) {
		jv_free(r->stream_usage);
		r->stream_usage = jv_copy(piece);
	}
	jv_free(piece);
	piece = jv_object_get(chunk, jv_string("model"));
	if (jv_get_kind(piece) == JV_KIND_STRING &&
	    jv_get_kind(r->stream_model) == JV_KIND_NULL)
		r->stream_model = jv_copy(piece);
	jv_free(piece);
}

static void on_event(void *user, const char *event, const char *data,
                     size_t length)
{
	struct req *r = user;
	jv chunk;

	if (r->stream_done || r->stream_error)
		return;
	if (length == 6 && memcmp(data, "[DONE]", 6) == 0) {
		r->stream_done = 1;
		return;
	}
	chunk = jv_parse_sized(data, (int)length);
	if (jv_get_kind(chunk) != JV_KIND_OBJECT) {
		jv_free(chunk);
		r->stream_error = strdup("a stream event is not an object");
		return;
	}
	r->stream_error = error_text(chunk);
	if (!r->stream_error && strcmp(event, "error") == 0)
		r->stream_error = strdup("error event");
	if (r->stream_error)
		jv_free(chunk);
	else
		read_chunk(r, chunk);
}

static char *make_payload(struct req *r, size_t *length)
{
	jv body = jv_copy(r->body);
	jv text;
	char *payload;

	if (r->stream) {
		body = jv_object_set(body, jv_string("stream"), jv_true());
		body = jv_object_set(body, jv_string("stream_options"),
		                     JV_OBJECT(jv_string("include_usage"),
		                               jv_true()));
	}
	text = jv_dump_string(body, 0);
	*length = (size_t)jv_string_length_bytes(jv_copy(text));
	payload = strdup(jv_string_value(text));
	jv_free(text);
	if (!payload)
		mas_die(MAS_EXIT_IO, "out of memory");
	return payload;
}

static CURL *pool_take(struct mas_llm *llm)
{
	CURL *easy;

	if (llm->pooled > 0)
		return llm->pool[--llm->pooled];
	easy = curl_easy_init();
	if (!easy)
		mas_die(MAS_EXIT_IO, "out of memory");
	return easy;
}

/* Back to the pool: reset drops the options (and pointers into the
 * freed payload) but keeps the connection cache of the multi handle. */
static void pool_give(struct mas_llm *llm, CURL *easy)
{
	curl_easy_reset(easy);
	if (llm->pooled < llm->o.jobs)
		llm->pool[llm->pooled++] = easy;
	else
		curl_easy_cleanup(easy);
}

static void set_timeouts(struct mas_llm *llm, struct req *r)
{
	CURL *e = r->easy;

	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(llm->o.connect_timeout * 1000));
	if (!r->stream) {
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
		                 (long)(llm->o.timeout * 1000));
		return;
	}
	/* A stream may rightly run longer than any total limit; what
	 * betrays a dead one is silence, watched by end_silent_streams
	 * (curl's low-speed limit samples too coarsely: 7 s for 1). */
}

static void set_options(struct mas_llm *llm, struct req *r)
{
	CURL *e = r->easy;

	curl_easy_setopt(e, CURLOPT_URL, llm->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	                 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->payload);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	                 (curl_off_t)r->payload_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, llm->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "mas/" MAS_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, llm->o.insecure ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, llm->o.insecure ? 0L : 2L);
	set_timeouts(llm, r);
}

static void log_attempt(const struct mas_llm *llm, const struct req *r)
{
	char *body;

	if (mas_log_get_level() < MAS_LOG_DEBUG)
		return;
	/* The headers are logged by hand, never by CURLOPT_VERBOSE: that
	 * would print the key.  The body may quote a reply that echoed it
	 * (a request asked again): scrubbed whole, then cut. */
	body = scrub(llm, strndup(r->payload, r->payload_len));
	if (!body)
		mas_die(MAS_EXIT_IO, "out of memory");
	mas_debug("llm: POST %s attempt %d, %zu bytes, Authorization: %s; "
	          "body: %.500s%s",
	          llm->url, r->attempts, r->payload_len,
	          llm->key ? "Bearer [redacted]" : "(none)", body,
	          strlen(body) > 500 ? "..." : "");
	free(body);
}

static size_t free_slot(const struct mas_llm *llm)
{
	size_t i = 0;

	while (llm->slots[i])
		i++;
	return i;
}

static void start(struct mas_llm *llm, struct req *r)
{
	if (budget_spent(llm)) {
		answer(llm, r, budget_failure(llm, r));
		return;
	}
	attempt_reset(r);
	r->attempts++;
	r->phase_attempts++;
	if (r->attempts > 1)
		llm->stats.retries++;
	if (r->started == 0)
		r->started = now();
	r->payload = make_payload(r, &r->payload_len);
	r->estimate = (long long)(r->payload_len / 4 + 1);
	llm->reserved += r->estimate;
	r->easy = pool_take(llm);
	set_options(llm, r);
	log_attempt(llm, r);
	r->slot = free_slot(llm);
	llm->slots[r->slot] = r;
	llm->active++;
	curl_multi_add_handle(llm->multi, r->easy);
}

/*
 * Whether R must wait for the requests in flight to report what they
 * cost: with a budget, a request that may cross it does not start while
 * others might still spend it, so a run overshoots by one request at
 * most, whatever --jobs.
 */
static int budget_holds(const struct mas_llm *llm, const struct req *r)
{
	return llm->o.max_tokens_total > 0 && llm->active > 0 &&
	       llm->tokens_used + llm->reserved + r->estimate >=
	               llm->o.max_tokens_total;
}

/* Starts queued requests whose time has come while slots are free. */
static void start_ready(struct mas_llm *llm)
{
	struct req **at = &llm->queue;
	double t = now();

	llm->held = 0;
	while (*at && llm->active < llm->o.jobs) {
		struct req *r = *at;
		if (r->not_before > t) {
			at = &r->next;
			continue;
		}
		if (budget_holds(llm, r)) {
			llm->held = 1;
			return;
		}
		*at = r->next;
		llm->queued--;
		start(llm, r);
	}
}

/* ------------------------------------------------------------------ */
/* Judging an attempt */

/* What an attempt came to, before structured output is checked. */
struct outcome {
	jv reply;                 /* success: the result object */
	enum mas_error_code code; /* failure */
	int transient;
	char *message;            /* failure, malloc'd */
};

static int set_failure(struct outcome *out, enum mas_error_code code,
                       int transient, const char *format, ...)
	__attribute__((format(printf, 4, 5)));

static int set_failure(struct outcome *out, enum mas_error_code code,
                       int transient, const char *format, ...)
{
	va_list ap;

	out->code = code;
	out->transient = transient;
	va_start(ap, format);
	if (vasprintf(&out->message, format, ap) < 0)
		out->message = NULL;
	va_end(ap);
	return -1;
}

static int transport_failure(struct mas_llm *llm, struct req *r,
                             CURLcode rc, struct outcome *out)
{
	const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return set_failure(out, MAS_ERR_TIMEOUT, 1, "timed out: %s",
		                   why);
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return set_failure(out, MAS_ERR_INVALID_REQUEST, 0, "%s: %s",
		                   llm->url, why);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return set_failure(out, MAS_ERR_FORBIDDEN, 0, "%s: %s",
		                   llm->url, why);
	case CURLE_TOO_MANY_REDIRECTS:
		return set_failure(out, MAS_ERR_UPSTREAM_ERROR, 0, "%s: %s",
		                   llm->url, why);
	default:
		return set_failure(out, MAS_ERR_UPSTREAM_ERROR, 1,
		                   "connection to %s failed: %s", llm->url,
		                   why);
	}
}

/* A status's code and whether trying again may help. */
static enum mas_error_code status_code(long status, int *transient)
{
	*transient = status == 408 || status == 429 || status == 500 ||
	             status == 502 || status == 503 || status == 504;
	switch (status) {
	case 401: return MAS_ERR_UNAUTHORIZED;
	case 403: return MAS_ERR_FORBIDDEN;
	case 404: return MAS_ERR_NOT_FOUND;
	case 408: return MAS_ERR_TIMEOUT;
	case 429: return MAS_ERR_RATE_LIMITED;
	}
	return status >= 500 || status < 400 ? MAS_ERR_UPSTREAM_ERROR
	                                     : MAS_ERR_INVALID_REQUEST;
}

/* Server text is quoted short and on one line. */
static void tidy_quote(char *text)
{
	size_t n = strlen(text), cut = MAX_QUOTE - 3;

	for (char *p = text; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	if (n <= MAX_QUOTE)
		return;
	while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
		cut--; /* not inside a UTF-8 character */
	memcpy(text + cut, "...", 4);
}

static int http_failure(struct req *r, struct outcome *out)
{
	jv body = jv_parse(r->reply.p ? r->reply.p : "");
	char *text = jv_is_valid(body) ? error_text(body) : NULL;
	int transient;
	enum mas_error_code code = status_code(r->status, &transient);

	jv_free(body);
	if (!text && r->reply.len > 0)
		text = strdup(r->reply.p);
	if (text)
		tidy_quote(text);
	set_failure(out, code, transient, "HTTP %ld%s%s", r->status,
	            text ? ": " : "", text ? text : "");
	free(text);
	return -1;
}

/* The server's token counts, the three of the OpenAI protocol only:
 * servers add their own (llama-server's prompt_tokens_details), which
 * would make a record's shape depend on the server.  Null for none. */
static jv usage_counts(jv usage)
{
	static const char *const names[] = {
		"prompt_tokens", "completion_tokens", "total_tokens",
	};
	jv counts;
	int found = 0;

	if (jv_get_kind(usage) != JV_KIND_OBJECT) {
		jv_free(usage);
		return jv_null();
	}
	counts = jv_object();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		jv n = jv_object_get(jv_copy(usage), jv_string(names[i]));

		if (jv_get_kind(n) == JV_KIND_NUMBER) {
			counts = jv_object_set(counts, jv_string(names[i]), n);
			found = 1;
		} else {
			jv_free(n);
		}
	}
	jv_free(usage);
	if (found)
		return counts;
	jv_free(counts);
	return jv_null();
}

static jv reply_object(jv content, jv model, jv finish, jv usage)
{
	return JV_OBJECT(jv_string("content"), content, jv_string("model"),
	                 model, jv_string("finish_reason"), finish,
	                 jv_string("usage"), usage_counts(usage));
}

/* VALUE (consumed) when it is a string, else null: a server decides
 * what a reply holds, and a member jv_object_get did not find is an
 * invalid value, which dumping aborts on. */
static jv string_or_null(jv value)
{
	if (jv_get_kind(value) == JV_KIND_STRING)
		return value;
	jv_free(value);
	return jv_null();
}

static jv or_requested(jv value, const struct req *r)
{
	if (jv_get_kind(value) == JV_KIND_STRING)
		return value;
	jv_free(value);
	return string_or_null(jv_object_get(jv_copy(r->body),
	                                     jv_string("model")));
}

static int parse_reply(struct req *r, struct outcome *out)
{
	jv body = jv_parse(r->reply.p ? r->reply.p : "");
	jv content;
	char *text;

	if (jv_get_kind(body) != JV_KIND_OBJECT) {
		jv_free(body);
		return set_failure(out, MAS_ERR_UPSTREAM_ERROR, 1,
		                   "malformed reply: not a JSON object");
	}
	text = error_text(body);
	if (text) {
		tidy_quote(text);
		set_failure(out, MAS_ERR_UPSTREAM_ERROR, 1, "server error: %s",
		            text);
		free(text);
		jv_free(body);
		return -1;
	}
	content = get_path(jv_copy(body), "choices", 0, "message", "content");
	if (jv_get_kind(content) != JV_KIND_STRING) {
		jv_free(content);
		jv_free(body);
		return set_failure(out, MAS_ERR_UPSTREAM_ERROR, 1,
		                   "malformed reply: no "
		                   "choices[0].message.content");
	}
	out->reply = reply_object(
		content, or_requested(jv_object_get(jv_copy(body),
		                                    jv_string("model")), r),
		string_or_null(get_path(jv_copy(body), "choices", 0,
		                        "finish_reason", NULL)),
		jv_object_get(jv_copy(body), jv_string("usage")));
	jv_free(body);
	return 0;
}

static int stream_reply(struct mas_llm *llm, struct req *r, CURLcode rc,
                        struct outcome *out)
{
	if (r->stream_error) {
		tidy_quote(r->stream_error);
		return set_failure(out, MAS_ERR_UPSTREAM_ERROR, 1,
		                   "error in the stream: %s", r->stream_error);
	}
	if (rc == CURLE_OK)
		mas_sse_finish(&r->sse);
	if (rc != CURLE_OK && !r->stream_done)
		return transport_failure(llm, r, rc, out);
	/* A clean end after the finish reason is whole even without
	 * [DONE]; anything less is a cut stream. */
	if (!r->stream_done && jv_get_kind(r->stream_finish) == JV_KIND_NULL)
		return set_failure(out, MAS_ERR_UPSTREAM_ERROR, 1,
		                   "the stream ended before [DONE]");
	out->reply = reply_object(
		jv_string_sized(r->content.p ? r->content.p : "",
		                (int)r->content.len),
		or_requested(jv_copy(r->stream_model), r),
		jv_copy(r->stream_finish), jv_copy(r->stream_usage));
	return 0;
}

static int judge(struct mas_llm *llm, struct req *r, CURLcode rc,
                 struct outcome *out)
{
	if (r->silent)
		return set_failure(out, MAS_ERR_TIMEOUT, 1,
		                   "the server sent nothing for %g s",
		                   llm->o.timeout);
	if (r->too_big)
		return set_failure(out, MAS_ERR_UPSTREAM_ERROR, 0,
		                   "the reply is larger than %zu MiB",
		                   MAX_REPLY >> 20);
	if (r->sse_mode)
		return stream_reply(llm, r, rc, out);
	if (rc != CURLE_OK)
		return transport_failure(llm, r, rc, out);
	if (r->status / 100 != 2)
		return http_failure(r, out);
	return parse_reply(r, out);
}

/* ------------------------------------------------------------------ */
/* After an attempt */

static long long usage_number(jv usage, const char *name) /* borrows */
{
	jv n = jv_object_get(jv_copy(usage), jv_string(name));
	long long value = jv_get_kind(n) == JV_KIND_NUMBER
	                          ? (long long)jv_number_value(n)
	                          : 0;

	jv_free(n);
	return value;
}

/* Counts what a reply cost; without usage, bytes/4 for the budget. */
static void account(struct mas_llm *llm, struct req *r, jv reply)
{
	jv usage = jv_object_get(jv_copy(reply), jv_string("usage"));
	jv content = jv_object_get(reply, jv_string("content"));

	if (jv_get_kind(usage) == JV_KIND_OBJECT) {
		long long in = usage_number(usage, "prompt_tokens");
		long long out = usage_number(usage, "completion_tokens");
		long long total = usage_number(usage, "total_tokens");
		llm->stats.prompt_tokens += in;
		llm->stats.completion_tokens += out;
		llm->tokens_used += total > 0 ? total : in + out;
	} else {
		size_t bytes = r->payload_len;
		if (jv_get_kind(content) == JV_KIND_STRING)
			bytes += strlen(jv_string_value(content));
		llm->tokens_used += (long long)(bytes / 4 + 1);
	}
	jv_free(usage);
	jv_free(content);
}

static void retry_later(struct mas_llm *llm, struct req *r,
                        const struct outcome *out)
{
	double wait = r->retry_after >= 0
	                      ? fmin(r->retry_after, llm->o.backoff_max)
	                      : mas_llm_backoff(r->phase_attempts,
	                                        llm->o.backoff_base,
	                                        llm->o.backoff_max,
	                                        unit_random(llm));

	mas_debug("llm: attempt %d failed (%s), retrying in %.3f s",
	          r->attempts, out->message ? out->message : "?", wait);
	r->not_before = now() + wait;
	enqueue(llm, r);
}

jv mas_llm_parse_content(const char *text)
{
	const char *start = text, *end = text + strlen(text);

	while (isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (end - start >= 6 && strncmp(start, "```", 3) == 0 &&
	    strncmp(end - 3, "```", 3) == 0) {
		const char *nl = memchr(start, '\n', (size_t)(end - start));
		if (nl) {
			start = nl + 1;
			end -= 3;
		}
	}
	return jv_parse_sized(start, (int)(end - start));
}

/* The first of REQUIRED (an array, or null) that PARSED lacks, as a
 * malloc'd "reply lacks field X", or NULL. */
static char *missing_field(jv required, jv parsed) /* borrows both */
{
	char *why = NULL;

	if (jv_get_kind(required) != JV_KIND_ARRAY)
		return NULL;
	jv_array_foreach(required, i, field) {
		int has = jv_get_kind(parsed) == JV_KIND_OBJECT &&
		          jv_object_has(jv_copy(parsed), jv_copy(field));
		if (!has && !why &&
		    asprintf(&why, "reply lacks field %s",
		             jv_string_value(field)) < 0)
			mas_die(MAS_EXIT_IO, "out of memory");
		jv_free(field);
	}
	return why;
}

/* Checks a structured reply; NULL when good (the parsed reply is then
 * added as "json"), else a malloc'd reason. */
static char *check_structured(struct req *r, jv *reply)
{
	jv content = jv_object_get(jv_copy(*reply), jv_string("content"));
	jv parsed = mas_llm_parse_content(jv_get_kind(content) ==
	                                  JV_KIND_STRING ?
	                                  jv_string_value(content) : "");
	char *why = NULL;

	jv_free(content);
	if (!jv_is_valid(parsed)) {
		jv message = jv_invalid_get_msg(parsed);
		if (asprintf(&why, "reply is not valid JSON: %.200s",
		             jv_get_kind(message) == JV_KIND_STRING
		                     ? jv_string_value(message)
		                     : "not JSON") < 0)
			mas_die(MAS_EXIT_IO, "out of memory");
		jv_free(message);
		return why;
	}
	why = missing_field(r->required, parsed);
	if (!why)
		*reply = jv_object_set(*reply, jv_string("json"), parsed);
	else
		jv_free(parsed);
	return why;
}

/* The one repair: the bad reply and what was wrong go back to the
 * model, which usually gets it right the second time. */
static void repair(struct mas_llm *llm, struct req *r, jv reply,
                   const char *why)
{
	jv messages = jv_object_get(jv_copy(r->body), jv_string("messages"));
	jv content = jv_object_get(reply, jv_string("content"));
	char *ask = NULL;

	if (asprintf(&ask, "Your reply could not be used: %s. Reply again "
	             "with only a JSON object that follows the schema.",
	             why) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	messages = jv_array_append(messages,
	                           JV_OBJECT(jv_string("role"),
	                                     jv_string("assistant"),
	                                     jv_string("content"), content));
	messages = jv_array_append(messages,
	                           JV_OBJECT(jv_string("role"),
	                                     jv_string("user"),
	                                     jv_string("content"),
	                                     jv_string(ask)));
	free(ask);
	r->body = jv_object_set(r->body, jv_string("messages"), messages);
	r->repaired = 1;
	r->phase_attempts = 0;
	r->not_before = 0;
	mas_debug("llm: %s; asking again", why);
	enqueue(llm, r);
}

static void succeed(struct mas_llm *llm, struct req *r, jv reply)
{
	if (r->cacheable)
		reply = jv_object_set(reply, jv_string("cache_key"),
		                      jv_string(r->key));
	reply = jv_object_set(reply, jv_string("cached"), jv_false());
	reply = jv_object_set(reply, jv_string("attempts"),
	                      jv_number(r->attempts));
	reply = jv_object_set(reply, jv_string("latency_ms"),
	                      jv_number((now() - r->started) * 1000.0));
	if (r->cacheable)
		cache_put(llm, r, jv_copy(reply));
	answer(llm, r, reply);
}

static void judge_reply(struct mas_llm *llm, struct req *r, jv reply)
{
	char *why;

	if (!r->structured) {
		succeed(llm, r, reply);
		return;
	}
	why = check_structured(r, &reply);
	if (!why) {
		succeed(llm, r, reply);
	} else if (!r->repaired) {
		repair(llm, r, reply, why);
	} else {
		jv_free(reply);
		answer(llm, r, failure(llm, MAS_ERR_UPSTREAM_ERROR, 0,
		                       r->attempts, 0, why));
	}
	free(why);
}

static void attempt_done(struct mas_llm *llm, struct req *r, CURLcode rc)
{
	struct outcome out = { .reply = jv_invalid() };
	int ok;

	curl_multi_remove_handle(llm->multi, r->easy);
	llm->slots[r->slot] = NULL;
	llm->active--;
	llm->reserved -= r->estimate;
	ok = judge(llm, r, rc, &out) == 0;
	if (ok)
		account(llm, r, jv_copy(out.reply));
	else if (out.message) /* before the debug log quotes it */
		out.message = scrub(llm, out.message);
	pool_give(llm, r->easy);
	r->easy = NULL;
	attempt_release(r);
	if (ok) {
		judge_reply(llm, r, out.reply);
		return;
	}
	if (out.transient && r->phase_attempts < llm->o.max_attempts)
		retry_later(llm, r, &out);
	else
		answer(llm, r, failure(llm, out.code, r->status, r->attempts,
		                       out.transient, out.message));
	free(out.message);
}

jv mas_llm_read_reply(long status, int stream, const char *bytes,
                      size_t length, size_t piece, jv required)
{
	struct mas_llm llm = { .url = (char *)"reply" };
	struct req r = {
		.llm = &llm, .status = status, .stream = stream,
		.retry_after = -1, .required = required,
		/* no model asked for: the reply's, or null */
		.body = JV_OBJECT(jv_string("model"), jv_null()),
		.stream_model = jv_null(), .stream_finish = jv_null(),
		.stream_usage = jv_null(),
		.structured = jv_get_kind(required) == JV_KIND_ARRAY,
	};
	struct outcome out = { .reply = jv_invalid() };
	CURLcode rc = CURLE_OK;
	jv result;
	char *why;

	if (stream && status / 100 == 2) {
		r.sse_mode = 1;
		mas_sse_init(&r.sse, on_event, &r);
	}
	for (size_t at = 0, n; at < length; at += n) {
		n = piece && piece < length - at ? piece : length - at;
		if (take_bytes(&r, bytes + at, n) != n) {
			rc = CURLE_WRITE_ERROR;
			break;
		}
	}
	if (judge(&llm, &r, rc, &out) != 0) {
		result = failure(&llm, out.code, status, 1, out.transient,
		                 out.message);
	} else if (r.structured && (why = check_structured(&r, &out.reply))) {
		result = failure(&llm, MAS_ERR_UPSTREAM_ERROR, 0, 1, 0, why);
		jv_free(out.reply);
		free(why);
	} else {
		result = out.reply;
	}
	free(out.message);
	attempt_release(&r);
	jv_free(r.body);
	jv_free(r.required);
	return result;
}

/* ------------------------------------------------------------------ */
/* Cancelling */

/* Takes R out of its slot, its transfer aborted (libcurl closes the
 * connection of a transfer removed half-way). */
static void unslot(struct mas_llm *llm, struct req *r)
{
	curl_multi_remove_handle(llm->multi, r->easy);
	llm->slots[r->slot] = NULL;
	llm->active--;
	llm->reserved -= r->estimate;
	pool_give(llm, r->easy);
	r->easy = NULL;
}

void mas_llm_cancel(struct mas_llm *llm)
{
	struct req *taken = NULL;

	/* Everything is taken out first: a DONE may submit anew, and what
	 * it submits is not cancelled by this call. */
	for (size_t i = 0; i < llm->o.jobs; i++) {
		struct req *r = llm->slots[i];
		if (!r)
			continue;
		unslot(llm, r);
		r->next = taken;
		taken = r;
	}
	while (llm->queue) {
		struct req *r = llm->queue;
		llm->queue = r->next;
		llm->queued--;
		r->next = taken;
		taken = r;
	}
	while (taken) {
		struct req *r = taken;
		jv error = jv_invalid_get_msg(failure(llm, MAS_ERR_TIMEOUT, 0,
		                                      r->attempts, 0,
		                                      "cancelled"));
		taken = r->next;
		error = jv_object_set(error, jv_string("cancelled"),
		                      jv_true());
		answer(llm, r, jv_invalid_with_msg(error));
	}
}

/* ------------------------------------------------------------------ */
/* Driving */

static void drain(struct mas_llm *llm)
{
	int left;

	for (;;) {
		struct req *r = NULL;
		CURLMsg *msg = curl_multi_info_read(llm->multi, &left);
		if (!msg)
			break;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
		attempt_done(llm, r, msg->data.result);
	}
}

/* Ends the streams that have been silent longer than the timeout. */
static void end_silent_streams(struct mas_llm *llm)
{
	double t = now();

	for (size_t i = 0; i < llm->o.jobs; i++) {
		struct req *r = llm->slots[i];
		if (r && r->stream && t - r->heard >= llm->o.timeout) {
			r->silent = 1;
			attempt_done(llm, r, CURLE_OPERATION_TIMEDOUT);
		}
	}
}

/* The first moment something is due: a queued request's backoff end
 * (when a slot is free for it) or a stream's silence limit; -1: none. */
static double next_due(const struct mas_llm *llm)
{
	double first = -1;

	for (size_t i = 0; i < llm->o.jobs; i++) {
		const struct req *r = llm->slots[i];
		double due = r && r->stream ? r->heard + llm->o.timeout : -1;
		if (due >= 0 && (first < 0 || due < first))
			first = due;
	}
	if (llm->active >= llm->o.jobs || llm->held)
		return first;
	for (const struct req *r = llm->queue; r; r = r->next)
		if (first < 0 || r->not_before < first)
			first = r->not_before;
	return first;
}

/* How long perform may sleep: TIMEOUT_MS, or less when something is due
 * sooner. */
static int wait_ms(const struct mas_llm *llm, int timeout_ms)
{
	double t = now(), first = next_due(llm);

	if (first >= 0) {
		double ms = ceil((first - t) * 1000.0);
		if (ms < 0)
			ms = 0;
		if (ms < timeout_ms)
			return (int)ms;
	}
	return timeout_ms;
}

/* One poll and one perform; 1 when EXTRA_FD became readable. */
static int poll_once(struct mas_llm *llm, int timeout_ms, int extra_fd)
{
	struct curl_waitfd fd = { .fd = extra_fd, .events = CURL_WAIT_POLLIN };
	int running = 0;

	curl_multi_poll(llm->multi, extra_fd >= 0 ? &fd : NULL,
	                extra_fd >= 0 ? 1 : 0, wait_ms(llm, timeout_ms),
	                NULL);
	curl_multi_perform(llm->multi, &running);
	drain(llm);
	end_silent_streams(llm);
	start_ready(llm);
	cache_settle(llm);
	return extra_fd >= 0 && (fd.revents & CURL_WAIT_POLLIN);
}

int mas_llm_perform(struct mas_llm *llm, int timeout_ms, int extra_fd)
{
	double deadline = now() + timeout_ms / 1000.0;
	unsigned long answered = llm->answered;
	int left = timeout_ms < 0 ? WAIT_FOREVER_MS : timeout_ms;

	start_ready(llm);
	if (mas_llm_in_flight(llm) == 0 && extra_fd < 0)
		return 0;
	for (;;) {
		if (poll_once(llm, left, extra_fd) ||
		    llm->answered != answered ||
		    mas_llm_in_flight(llm) == 0 || timeout_ms == 0)
			break;
		if (timeout_ms > 0) {
			left = (int)ceil((deadline - now()) * 1000.0);
			if (left <= 0)
				break;
		}
	}
	return (int)mas_llm_in_flight(llm);
}

int mas_llm_poll(struct mas_llm *llm, const struct pollfd *fds,
                 size_t count, int timeout_ms)
{
	struct curl_waitfd stack[64], *waits = stack;
	int running = 0;

	if (count > sizeof(stack) / sizeof(stack[0]) &&
	    !(waits = calloc(count, sizeof(*waits))))
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	for (size_t i = 0; i < count; i++)
		waits[i] = (struct curl_waitfd){
			.fd = fds[i].fd,
			.events = (short)((fds[i].events & POLLIN ?
			                   CURL_WAIT_POLLIN : 0) |
			                  (fds[i].events & POLLOUT ?
			                   CURL_WAIT_POLLOUT : 0)),
		};
	start_ready(llm);
	curl_multi_poll(llm->multi, waits, (unsigned)count,
	                wait_ms(llm, timeout_ms < 0 ? WAIT_FOREVER_MS :
	                        timeout_ms), NULL);
	curl_multi_perform(llm->multi, &running);
	drain(llm);
	end_silent_streams(llm);
	start_ready(llm);
	cache_settle(llm);
	if (waits != stack)
		free(waits);
	return (int)mas_llm_in_flight(llm);
}

void mas_llm_keep_answer(void *waiter, jv answer)
{
	struct mas_llm_waiter *w = waiter;

	w->done = 1;
	w->answer = answer;
}

jv mas_llm_wait(struct mas_llm *llm, struct mas_llm_waiter *waiter)
{
	while (!waiter->done && llm)
		mas_llm_perform(llm, 1000, -1);
	return waiter->answer;
}

/* Whether FD has something to read, without waiting. */
static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP));
}

jv mas_llm_wait_or_stop(struct mas_llm *llm, struct mas_llm_waiter *waiter,
                        int stop_fd)
{
	while (!waiter->done && llm) {
		mas_llm_perform(llm, 1000, stop_fd);
		if (stop_fd >= 0 && readable(stop_fd))
			mas_llm_cancel(llm);
	}
	return waiter->answer;
}

jv mas_llm_complete(struct mas_llm *llm, jv request)
{
	struct mas_llm_waiter waiter = MAS_LLM_WAITER_INIT;

	mas_llm_submit(llm, request, mas_llm_keep_answer, NULL, &waiter);
	return mas_llm_wait(llm, &waiter);
}
