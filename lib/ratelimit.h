/*
 * ratelimit.h — token buckets by name, for mas-serve's per-key limits.
 *
 * A bucket holds up to BURST tokens and gains RATE tokens a second; a
 * request takes one, or is refused when none is left.  Buckets are made
 * on first use and kept by name (a key's name, or the client's address
 * on an open server); when the table is full, the buckets that have
 * filled up again, which a fresh bucket would equal, are forgotten.
 * Every call may come from any thread.
 */
#ifndef MAS_RATELIMIT_H
#define MAS_RATELIMIT_H

struct mas_ratelimit;

/* What a take decided, for the response headers (RateLimit-Limit,
 * RateLimit-Remaining, RateLimit-Reset and, refused, Retry-After). */
struct mas_ratelimit_verdict {
	int allowed;
	double limit;          /* the burst */
	double remaining;      /* whole tokens left after this take */
	double reset;          /* seconds until the bucket is full */
	double retry_after;    /* refused: seconds until a token is back */
};

/* A new table, or NULL when memory is short. */
struct mas_ratelimit *mas_ratelimit_new(void);
void mas_ratelimit_free(struct mas_ratelimit *limits);

/*
 * Take a token from NAME's bucket (RATE tokens a second, BURST at
 * most) at monotonic time NOW, and fill VERDICT.  Returns
 * VERDICT->allowed.  A RATE of 0 or less allows everything.
 */
int mas_ratelimit_take(struct mas_ratelimit *limits, const char *name,
                       double rate, double burst, double now,
                       struct mas_ratelimit_verdict *verdict);

/*
 * Parse a rate "N", "N/s", "N/m" or "N/h" (N > 0) into tokens a second.
 * Returns 0, or -1 when TEXT is none of these.
 */
int mas_ratelimit_parse(const char *text, double *rate);

#endif
