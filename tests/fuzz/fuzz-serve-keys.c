/*
 * fuzz-serve-keys.c — mas-serve's key file (lib/serve-keys.c): any file
 * (mode 0600) loads or fails with one message naming it; what loads has
 * valid, distinct names and routes, is listed name for name, and finds
 * no key but one whose digest it holds.  Then the file is edited as
 * `mas-serve keys add` and `keys remove` do: a key added to a file that
 * loaded is found in it afterwards, with every key that was there, and
 * removing it gives the same keys back.
 */
#include <string.h>
#include <sys/stat.h>

#include <jv.h>

#include "fuzz.h"
#include "serve-keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* What a loaded file must be: valid names, given once, some routes. */
static void check_keys(const struct mas_serve_keys *keys)
{
	for (size_t i = 0; i < keys->count; i++) {
		const struct mas_serve_key *key = &keys->keys[i];
		size_t length = strlen(key->name);

		FUZZ_ASSERT(length >= 1 && length <= MAS_SERVE_KEY_NAME_MAX);
		for (size_t c = 0; c < length; c++)
			FUZZ_ASSERT(name_char(key->name[c]));
		FUZZ_ASSERT(key->routes != 0);
		FUZZ_ASSERT(key->rate >= 0 && key->burst >= 0);
		for (size_t j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(keys->keys[j].name, key->name) != 0);
	}
}

/* KEYS and OTHER hold the same keys, in the same order. */
static int same_keys(const struct mas_serve_keys *keys,
                     const struct mas_serve_keys *other)
{
	if (keys->count != other->count)
		return 0;
	for (size_t i = 0; i < keys->count; i++)
		if (strcmp(keys->keys[i].name, other->keys[i].name) != 0 ||
		    memcmp(keys->keys[i].digest, other->keys[i].digest,
		           32) != 0 ||
		    keys->keys[i].routes != other->keys[i].routes)
			return 0;
	return 1;
}

/* The listing names the keys loaded, in order. */
static void check_list(const char *path, const struct mas_serve_keys *keys)
{
	jv list = mas_serve_keys_list(path);

	FUZZ_ASSERT(jv_get_kind(list) == JV_KIND_ARRAY);
	FUZZ_ASSERT((size_t)jv_array_length(jv_copy(list)) == keys->count);
	jv_array_foreach(list, i, item) {
		jv name = jv_object_get(item, jv_string("name"));

		FUZZ_ASSERT(jv_get_kind(name) == JV_KIND_STRING);
		FUZZ_ASSERT(strcmp(jv_string_value(name),
		                   keys->keys[i].name) == 0);
		jv_free(name);
	}
	jv_free(list);
}

/* Add a key to PATH, which loaded as KEYS; find it; remove it. */
static void add_and_remove(const char *path,
                           const struct mas_serve_keys *keys)
{
	struct mas_serve_keys after;
	const struct mas_serve_key *found;
	char key[MAS_SERVE_KEY_SIZE], *error = NULL;

	for (size_t i = 0; i < keys->count; i++)
		if (strcmp(keys->keys[i].name, "fuzz-added") == 0)
			return;
	FUZZ_ASSERT(mas_serve_keys_add(path, "fuzz-added", "chat,tasks",
	                               "5/s", "10", key, &error) == 0);
	if (mas_serve_keys_load(&after, path, &error) != 0)
		fuzz_say("after add: %s\n", error);
	FUZZ_ASSERT(!error);
	FUZZ_ASSERT(after.count == keys->count + 1);
	found = mas_serve_keys_find(&after, key, strlen(key));
	FUZZ_ASSERT(found && strcmp(found->name, "fuzz-added") == 0);
	FUZZ_ASSERT(found->routes == (mas_serve_key_route_bit("chat") |
	                              mas_serve_key_route_bit("tasks")));
	after.count--; /* the rest are the keys that were there */
	FUZZ_ASSERT(same_keys(keys, &after));
	after.count++;
	mas_serve_keys_release(&after);
	FUZZ_ASSERT(mas_serve_keys_remove(path, "fuzz-added", &error) == 1);
	if (mas_serve_keys_load(&after, path, &error) != 0)
		fuzz_say("after remove: %s\n", error);
	FUZZ_ASSERT(!error);
	FUZZ_ASSERT(same_keys(keys, &after));
	mas_serve_keys_release(&after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("keys", data, size);
	struct mas_serve_keys keys;
	char *error = NULL;

	chmod(path, 0600);
	if (mas_serve_keys_load(&keys, path, &error) != 0) {
		FUZZ_ASSERT(error && strncmp(error, path, strlen(path)) == 0);
		FUZZ_ASSERT(keys.count == 0 && !keys.keys);
		free(error);
		return 0;
	}
	FUZZ_ASSERT(!error);
	check_keys(&keys);
	check_list(path, &keys);
	/* a key made of the input is found only by its digest */
	if (size >= MAS_SERVE_KEY_SIZE - 1) {
		const struct mas_serve_key *found = mas_serve_keys_find(
			&keys, (const char *)data, MAS_SERVE_KEY_SIZE - 1);

		FUZZ_ASSERT(!found || found->name[0]);
	}
	add_and_remove(path, &keys);
	mas_serve_keys_release(&keys);
	return 0;
}
