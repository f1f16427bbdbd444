/*
 * ratelimit.c — token buckets by name (see ratelimit.h).
 *
 * An open-addressed table under one lock: a take is a hash, a probe
 * and a little arithmetic, far below what a request costs otherwise.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "banned.h"

#define TABLE_SIZE 8192      /* a power of two */
#define TABLE_FULL 4096      /* buckets kept before forgetting full ones */
#define NAME_MAX_BYTES 64

struct bucket {
	char name[NAME_MAX_BYTES]; /* "" for a free slot */
	double tokens;
	double updated;          /* monotonic seconds */
	double rate, burst;
};

struct mas_ratelimit {
	pthread_mutex_t lock;
	struct bucket *table;
	size_t used;
};

struct mas_ratelimit *mas_ratelimit_new(void)
{
	struct mas_ratelimit *limits = calloc(1, sizeof(*limits));

	if (!limits)
		return NULL;
	limits->table = calloc(TABLE_SIZE, sizeof(*limits->table));
	if (!limits->table) {
		free(limits);
		return NULL;
	}
	pthread_mutex_init(&limits->lock, NULL);
	return limits;
}

void mas_ratelimit_free(struct mas_ratelimit *limits)
{
	if (!limits)
		return;
	pthread_mutex_destroy(&limits->lock);
	free(limits->table);
	free(limits);
}

static size_t hash_name(const char *name)
{
	uint64_t hash = 0xcbf29ce484222325u;

	for (const char *p = name; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 0x100000001b3u;
	return (size_t)hash & (TABLE_SIZE - 1);
}

/* The bucket's tokens at NOW. */
static double level(const struct bucket *b, double now)
{
	double tokens = b->tokens + (now - b->updated) * b->rate;

	return tokens > b->burst ? b->burst : tokens;
}

/* Forget every bucket that is full again: a new one would be the
 * same.  Rebuilt rather than deleted in place, which would break the
 * probe chains. */
static void forget_full(struct mas_ratelimit *limits, double now)
{
	struct bucket *old = limits->table;
	struct bucket *table = calloc(TABLE_SIZE, sizeof(*table));

	if (!table)
		return;
	limits->table = table;
	limits->used = 0;
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		size_t slot;

		if (!old[i].name[0] || level(&old[i], now) >= old[i].burst)
			continue;
		for (slot = hash_name(old[i].name); table[slot].name[0];
		     slot = (slot + 1) & (TABLE_SIZE - 1))
			;
		table[slot] = old[i];
		limits->used++;
	}
	free(old);
}

/* NAME's bucket, made full when new; NULL when the table is full of
 * buckets still in use. */
static struct bucket *bucket_of(struct mas_ratelimit *limits,
                                const char *name, double rate, double burst,
                                double now)
{
	size_t slot = hash_name(name);
	struct bucket *b;

	for (; limits->table[slot].name[0];
	     slot = (slot + 1) & (TABLE_SIZE - 1))
		if (strncmp(limits->table[slot].name, name,
		            NAME_MAX_BYTES - 1) == 0)
			return &limits->table[slot];
	if (limits->used >= TABLE_FULL) {
		forget_full(limits, now);
		if (limits->used >= TABLE_FULL)
			return NULL;
		return bucket_of(limits, name, rate, burst, now);
	}
	b = &limits->table[slot];
	memcpy(b->name, name, strnlen(name, NAME_MAX_BYTES - 1));
	b->name[NAME_MAX_BYTES - 1] = '\0';
	b->tokens = burst;
	b->updated = now;
	limits->used++;
	return b;
}

int mas_ratelimit_take(struct mas_ratelimit *limits, const char *name,
                       double rate, double burst, double now,
                       struct mas_ratelimit_verdict *verdict)
{
	struct bucket *b;
	double tokens;

	memset(verdict, 0, sizeof(*verdict));
	verdict->allowed = 1;
	if (rate <= 0 || !name || !*name)
		return 1;
	if (burst < 1)
		burst = 1;
	pthread_mutex_lock(&limits->lock);
	b = bucket_of(limits, name, rate, burst, now);
	if (!b) {
		/* Thousands of clients all busy at once: let them be,
		 * rather than refuse one for another's use. */
		pthread_mutex_unlock(&limits->lock);
		return 1;
	}
	b->rate = rate;
	b->burst = burst;
	tokens = level(b, now);
	verdict->allowed = tokens >= 1;
	if (verdict->allowed)
		tokens -= 1;
	else
		verdict->retry_after = (1 - tokens) / rate;
	b->tokens = tokens;
	b->updated = now;
	verdict->limit = burst;
	verdict->remaining = floor(tokens);
	verdict->reset = (burst - tokens) / rate;
	pthread_mutex_unlock(&limits->lock);
	return verdict->allowed;
}

int mas_ratelimit_parse(const char *text, double *rate)
{
	static const struct { const char *unit; double seconds; } units[] = {
		{ "", 1 }, { "/s", 1 }, { "/m", 60 }, { "/h", 3600 },
	};
	char *end;
	double value = strtod(text, &end);

	if (end == text || !(value > 0) || !isfinite(value))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			*rate = value / units[i].seconds;
			return 0;
		}
	return -1;
}
