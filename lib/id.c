/*
 * id.c — ULIDs (see id.h).
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "id.h"
#include "clock.h"
#include "banned.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;
static uint8_t entropy[10]; /* the 80 random bits */

static void fill_random(uint8_t *buf, size_t size)
{
	ssize_t got;

	/* A pinned clock (clock.h) asks for the same ids run after run:
	 * the first from zero bits, the next ones counted from it. */
	if (mas_clock_pinned()) {
		memset(buf, 0, size);
		return;
	}
	got = getrandom(buf, size, GRND_NONBLOCK);

	/* Without entropy (very early boot) fall back to time and pid:
	 * ids must still differ between processes, not be unguessable. */
	if (got != (ssize_t)size) {
		uint64_t seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15u ^
		                (uint64_t)time(NULL);
		for (size_t i = 0; i < size; i++) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			buf[i] = (uint8_t)(seed >> 56);
		}
	}
}

/* Adds one to the 80-bit big-endian entropy; 0 on overflow. */
static int increment_entropy(void)
{
	for (int i = 9; i >= 0; i--)
		if (++entropy[i] != 0)
			return 1;
	return 0;
}

static void encode(uint64_t ms, const uint8_t rand[10], char *out)
{
	for (int i = 9; i >= 0; i--) {
		out[i] = crockford[ms & 31];
		ms >>= 5;
	}
	/* 80 bits as 16 groups of 5, most significant first. */
	for (int i = 0; i < 16; i++) {
		int bit = i * 5;
		int byte = bit / 8, shift = bit % 8;
		unsigned value = (unsigned)rand[byte] << 8;
		if (byte + 1 < 10)
			value |= rand[byte + 1];
		out[10 + i] = crockford[(value >> (11 - shift)) & 31];
	}
	out[26] = '\0';
}

void mas_id_new(char buf[MAS_ID_SIZE])
{
	mas_id_new_at(buf, mas_clock_epoch_ms());
}

void mas_id_new_at(char buf[MAS_ID_SIZE], unsigned long long now_ms)
{
	uint64_t ms = now_ms;
	uint8_t rand[10];

	pthread_mutex_lock(&id_lock);
	if (ms <= last_ms && increment_entropy()) {
		ms = last_ms;
	} else {
		fill_random(entropy, sizeof(entropy));
		if (ms <= last_ms)
			ms = last_ms + 1; /* overflowed: borrow the next ms */
		last_ms = ms;
	}
	memcpy(rand, entropy, sizeof(rand));
	pthread_mutex_unlock(&id_lock);
	encode(ms, rand, buf);
}
