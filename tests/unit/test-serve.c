/*
 * test-serve.c — mas-serve's parts that need no server: the token
 * buckets (lib/ratelimit.c) and the key file (lib/serve-keys.c).
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm.h"
#include "ratelimit.h"
#include "serve-keys.h"
#include "unit.h"

static void test_rate_parse(void)
{
	double rate = -1;

	CHECK_INT(mas_ratelimit_parse("5", &rate), 0);
	CHECK_NEAR(rate, 5, 1e-12);
	CHECK_INT(mas_ratelimit_parse("120/m", &rate), 0);
	CHECK_NEAR(rate, 2, 1e-12);
	CHECK_INT(mas_ratelimit_parse("36/h", &rate), 0);
	CHECK_NEAR(rate, 0.01, 1e-12);
	CHECK_INT(mas_ratelimit_parse("2/s", &rate), 0);
	CHECK_INT(mas_ratelimit_parse("0", &rate), -1);
	CHECK_INT(mas_ratelimit_parse("-1/s", &rate), -1);
	CHECK_INT(mas_ratelimit_parse("5/d", &rate), -1);
	CHECK_INT(mas_ratelimit_parse("", &rate), -1);
	CHECK_INT(mas_ratelimit_parse("nan", &rate), -1);
}

static void test_bucket(void)
{
	struct mas_ratelimit *limits = mas_ratelimit_new();
	struct mas_ratelimit_verdict v;

	/* 2 a second, bursts of 3: three at once, then one per half
	 * second. */
	CHECK(mas_ratelimit_take(limits, "a", 2, 3, 100.0, &v));
	CHECK_NEAR(v.remaining, 2, 1e-12);
	CHECK(mas_ratelimit_take(limits, "a", 2, 3, 100.0, &v));
	CHECK(mas_ratelimit_take(limits, "a", 2, 3, 100.0, &v));
	CHECK_NEAR(v.remaining, 0, 1e-12);
	CHECK_NEAR(v.reset, 1.5, 1e-9);
	CHECK(!mas_ratelimit_take(limits, "a", 2, 3, 100.0, &v));
	CHECK_NEAR(v.retry_after, 0.5, 1e-9);
	CHECK_NEAR(v.limit, 3, 1e-12);
	CHECK(!mas_ratelimit_take(limits, "a", 2, 3, 100.4, &v));
	CHECK(mas_ratelimit_take(limits, "a", 2, 3, 100.5, &v));
	/* Another name has its own bucket; no rate, no limit. */
	CHECK(mas_ratelimit_take(limits, "b", 2, 3, 100.5, &v));
	CHECK(mas_ratelimit_take(limits, "a", 0, 0, 100.5, &v));
	/* A bucket refills to its burst, no further. */
	CHECK(mas_ratelimit_take(limits, "a", 2, 3, 1000, &v));
	CHECK_NEAR(v.remaining, 2, 1e-12);
	mas_ratelimit_free(limits);
}

static void test_many_names(void)
{
	struct mas_ratelimit *limits = mas_ratelimit_new();
	struct mas_ratelimit_verdict v;
	char name[32];
	int refused = 0;

	/* More clients than the table keeps: the full buckets are
	 * forgotten, the busy ones kept. */
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "ip:10.0.%d.%d", i / 256,
		         i % 256);
		refused += !mas_ratelimit_take(limits, name, 1, 1,
		                               (double)i, &v);
	}
	CHECK_INT(refused, 0);
	CHECK(mas_ratelimit_take(limits, "ip:10.0.0.0", 1, 1, 20000.0, &v));
	CHECK(!mas_ratelimit_take(limits, "ip:10.0.0.0", 1, 1, 20000.0, &v));
	mas_ratelimit_free(limits);
}

/* A key file's name in this run's folder (malloc'd), not there yet. */
static char dir[256];

static char *temporary_file(void)
{
	static int n;
	char *path;

	if (asprintf(&path, "%s/keys.%d", dir, ++n) < 0)
		exit(99);
	return path;
}

static void test_keys(void)
{
	char *path = temporary_file(), key[MAS_SERVE_KEY_SIZE], *error = NULL;
	struct mas_serve_keys keys;
	const struct mas_serve_key *found;
	char hex[65];
	FILE *file;

	CHECK_INT(mas_serve_keys_add(path, "alice", "chat,tasks", "5/s", "10",
	                             key, &error), 0);
	CHECK_INT(strlen(key), 47);
	CHECK_INT(strncmp(key, "mas_", 4), 0);
	CHECK_INT(mas_serve_keys_load(&keys, path, &error), 0);
	CHECK_INT(keys.count, 1);
	found = mas_serve_keys_find(&keys, key, strlen(key));
	CHECK(found != NULL);
	if (found) {
		CHECK_STR(found->name, "alice");
		unsigned chat = mas_serve_key_route_bit("chat");
		unsigned tasks = mas_serve_key_route_bit("tasks");
		unsigned metrics = mas_serve_key_route_bit("metrics");

		CHECK(mas_serve_key_allows(found, chat));
		CHECK(mas_serve_key_allows(found, tasks));
		CHECK(!mas_serve_key_allows(found, metrics));
		CHECK_NEAR(found->rate, 5, 1e-12);
		CHECK_NEAR(found->burst, 10, 1e-12);
	}
	CHECK(mas_serve_keys_find(&keys, key, strlen(key) - 1) == NULL);
	CHECK(mas_serve_keys_find(&keys, "", 0) == NULL);
	mas_serve_keys_release(&keys);
	/* A line written by hand: the digest of "secret". */
	mas_sha256_hex("secret", 6, hex);
	file = fopen(path, "a");
	fprintf(file, "# ops\n\n  ops sha256:%s *\n", hex);
	fclose(file);
	CHECK_INT(mas_serve_keys_load(&keys, path, &error), 0);
	found = mas_serve_keys_find(&keys, "secret", 6);
	CHECK(found && strcmp(found->name, "ops") == 0 &&
	      mas_serve_key_allows(found, mas_serve_key_route_bit("metrics")));
	mas_serve_keys_release(&keys);
	CHECK_INT(mas_serve_keys_remove(path, "alice", &error), 1);
	CHECK_INT(mas_serve_keys_remove(path, "alice", &error), 0);
	CHECK_INT(mas_serve_keys_load(&keys, path, &error), 0);
	CHECK_INT(keys.count, 1);
	mas_serve_keys_release(&keys);
	unlink(path);
	free(path);
}

/* Loading PATH after writing LINE fails, naming the line. */
static void check_refused(const char *line, const char *words)
{
	char *path = temporary_file(), *error = NULL;
	struct mas_serve_keys keys;
	FILE *file = fopen(path, "w");

	fputs(line, file);
	fclose(file);
	chmod(path, 0600);
	CHECK_INT(mas_serve_keys_load(&keys, path, &error), -1);
	if (!error || !strstr(error, words))
		UNIT_FAIL("'%s': %s, want '%s'", line,
		          error ? error : "(none)", words);
	free(error);
	unlink(path);
	free(path);
}

static void test_bad_files(void)
{
	char line[256], hex[65];

	mas_sha256_hex("k", 1, hex);
	check_refused("alice\n", ":1: expected NAME DIGEST ROUTES");
	check_refused("alice sha256:abc chat\n", ":1: the digest");
	snprintf(line, sizeof(line), "alice sha256:%s chat,nothing\n", hex);
	check_refused(line, ":1: unknown route");
	snprintf(line, sizeof(line), "a sha256:%s chat\na sha256:%s *\n", hex,
	         hex);
	check_refused(line, ":2: this name is given");
	snprintf(line, sizeof(line), "a sha256:%s chat rate=fast\n", hex);
	check_refused(line, ":1: expected rate=");
	snprintf(line, sizeof(line), "a b sha256:%s chat\n", hex);
	check_refused(line, ":1: the digest");
	{
		char *path = temporary_file(), *error = NULL;
		struct mas_serve_keys keys;
		FILE *file = fopen(path, "w");

		fprintf(file, "a sha256:%s chat\n", hex);
		fclose(file);
		chmod(path, 0640);
		CHECK_INT(mas_serve_keys_load(&keys, path, &error), -1);
		CHECK(error && strstr(error, "readable by group or others"));
		free(error);
		unlink(path);
		free(path);
	}
}

int main(void)
{
	unit_make_dir(dir, sizeof(dir), "serve");
	UNIT_RUN(test_rate_parse);
	UNIT_RUN(test_bucket);
	UNIT_RUN(test_many_names);
	UNIT_RUN(test_keys);
	UNIT_RUN(test_bad_files);
	unit_remove_dir(dir);
	return unit_done();
}
