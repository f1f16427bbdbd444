/*
 * test-id.c — lib/id.c against id.h: ULIDs of 26 Crockford characters,
 * time first, strictly increasing within a process, unique across threads.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "clock.h"
#include "id.h"
#include "unit.h"

#define TIGHT_LOOP 100000
#define THREADS 4
#define PER_THREAD 20000

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* The milliseconds encoded in the first ten characters of ID. */
static uint64_t id_ms(const char *id)
{
	uint64_t ms = 0;

	for (int i = 0; i < 10; i++) {
		const char *at = strchr(crockford, id[i]);
		ms = ms * 32 + (uint64_t)(at ? at - crockford : 0);
	}
	return ms;
}

static int is_crockford(const char *id)
{
	for (const char *p = id; *p; p++)
		if (!strchr(crockford, *p))
			return 0;
	return 1;
}

static void test_shape(void)
{
	char id[MAS_ID_SIZE];

	memset(id, '!', sizeof(id));
	mas_id_new(id);
	CHECK_INT(MAS_ID_SIZE, 27);
	CHECK_INT(strlen(id), 26);
	CHECK(is_crockford(id));
	/* 48 bits of milliseconds fit under "7ZZZZZZZZZ". */
	CHECK(id[0] >= '0' && id[0] <= '7');
}

static void test_no_ambiguous_letters(void)
{
	char id[MAS_ID_SIZE];

	for (int i = 0; i < 1000; i++) {
		mas_id_new(id);
		CHECK(strpbrk(id, "ILOUilou") == NULL);
		CHECK(is_crockford(id));
	}
}

static void test_time_prefix(void)
{
	uint64_t before = mas_clock_epoch_ms();
	char id[MAS_ID_SIZE];
	uint64_t after, ms;

	mas_id_new(id);
	after = mas_clock_epoch_ms();
	ms = id_ms(id);
	/* An id may borrow a later millisecond after a burst; allow some. */
	CHECK(ms >= before);
	CHECK(ms <= after + 1000);
}

static void test_strictly_increasing(void)
{
	char previous[MAS_ID_SIZE], id[MAS_ID_SIZE];
	int out_of_order = 0;

	mas_id_new(previous);
	for (int i = 0; i < TIGHT_LOOP; i++) {
		mas_id_new(id);
		if (strcmp(previous, id) >= 0 && out_of_order++ < 5)
			UNIT_FAIL("id %d: %s not after %s", i, id, previous);
		memcpy(previous, id, sizeof(id));
	}
	CHECK_INT(out_of_order, 0);
}

static void test_random_part_varies(void)
{
	char a[MAS_ID_SIZE], b[MAS_ID_SIZE];

	/* Two ids a millisecond apart get fresh randomness, not a count. */
	mas_id_new(a);
	uint64_t start = mas_clock_epoch_ms();
	while (mas_clock_epoch_ms() < start + 2)
		;
	mas_id_new(b);
	CHECK(strcmp(a + 10, b + 10) != 0);
	CHECK(strncmp(a, b, 10) < 0);
}

static void *make_ids(void *arg)
{
	char (*ids)[MAS_ID_SIZE] = arg;

	for (int i = 0; i < PER_THREAD; i++)
		mas_id_new(ids[i]);
	return NULL;
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_unique_across_threads(void)
{
	char (*ids)[MAS_ID_SIZE] = calloc(THREADS * PER_THREAD, MAS_ID_SIZE);
	pthread_t threads[THREADS];
	int duplicates = 0;

	for (int t = 0; t < THREADS; t++)
		pthread_create(&threads[t], NULL, make_ids,
		               ids + (size_t)t * PER_THREAD);
	for (int t = 0; t < THREADS; t++)
		pthread_join(threads[t], NULL);
	/* Each thread's own ids are still in order. */
	for (int t = 0; t < THREADS; t++)
		for (int i = 1; i < PER_THREAD; i++) {
			size_t at = (size_t)t * PER_THREAD + (size_t)i;
			CHECK(strcmp(ids[at - 1], ids[at]) < 0);
		}
	qsort(ids, THREADS * PER_THREAD, MAS_ID_SIZE, compare_ids);
	for (int i = 1; i < THREADS * PER_THREAD; i++)
		duplicates += strcmp(ids[i - 1], ids[i]) == 0;
	CHECK_INT(duplicates, 0);
	free(ids);
}

int main(void)
{
	UNIT_RUN(test_shape);
	UNIT_RUN(test_no_ambiguous_letters);
	UNIT_RUN(test_time_prefix);
	UNIT_RUN(test_strictly_increasing);
	UNIT_RUN(test_random_part_varies);
	UNIT_RUN(test_unique_across_threads);
	return unit_done();
}
