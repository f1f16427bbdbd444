/*
 * fuzz-json.c — the JSON Lines scanner (lib/json.c) against libjq.
 *
 * The scanner lets a runner pass a line on as text without libjq; that
 * is safe only if it never accepts what libjq refuses.  So for every
 * input: when the scanner takes it, libjq must parse it to an object, and
 * what the scanner noted (the id's text, "meta", "error", emptiness, the
 * closing brace) must agree with libjq's value.  The dumper must write
 * exactly what jv_dump_string writes, and the id splicer must make an
 * object libjq reads as the original with the id added.
 */
#include <limits.h>
#include <string.h>

#include <jv.h>

#include "fuzz.h"
#include "json.h"

static int has_key(jv object, const char *key) /* borrows */
{
	return jv_object_has(jv_copy(object), jv_string(key));
}

/* The dumper writes what libjq writes; the scanner takes an object's
 * dump. */
static void check_dump(jv value) /* borrows */
{
	size_t length;
	char *text = mas_json_dump_text(jv_copy(value), &length);
	jv theirs = jv_dump_string(jv_copy(value), 0);
	struct mas_json_scan scan;

	FUZZ_ASSERT(strlen(text) == length);
	FUZZ_ASSERT(strcmp(text, jv_string_value(theirs)) == 0);
	if (jv_get_kind(value) == JV_KIND_OBJECT)
		FUZZ_ASSERT(mas_json_scan_object(text, length, &scan));
	jv_free(theirs);
	free(text);
}

static void check_scan(const char *text, size_t size,
                       const struct mas_json_scan *scan, jv object)
{
	FUZZ_ASSERT(scan->close < size && text[scan->close] == '}');
	FUZZ_ASSERT(scan->has_meta == has_key(object, "meta"));
	FUZZ_ASSERT(scan->has_error == has_key(object, "error"));
	FUZZ_ASSERT(scan->empty ==
	            (jv_object_length(jv_copy(object)) == 0));
	FUZZ_ASSERT(!scan->id == !has_key(object, "id"));
	if (scan->id) {
		/* the id's text is the value libjq keeps (the last, when
		 * a key is repeated) */
		jv id = jv_parse_sized(scan->id, (int)scan->id_length);

		FUZZ_ASSERT(scan->id >= text &&
		            scan->id + scan->id_length <= text + size);
		FUZZ_ASSERT(jv_equal(id, jv_object_get(jv_copy(object),
		                                       jv_string("id"))));
	}
}

/* An object without an id, given one by text, reads as the object with
 * that id. */
static void check_with_id(const char *text, size_t size, jv object)
{
	static const char id[] = "\"fuzz-1\"";
	size_t length;
	char *line = mas_json_with_id(text, size, id, sizeof(id) - 1,
	                              &length);
	struct mas_json_scan scan;
	jv parsed = jv_parse_sized(line, (int)length);
	jv want = jv_object_set(jv_copy(object), jv_string("id"),
	                        jv_string("fuzz-1"));

	FUZZ_ASSERT(mas_json_scan_object(line, length, &scan));
	FUZZ_ASSERT(scan.id && scan.id_length == sizeof(id) - 1 &&
	            memcmp(scan.id, id, sizeof(id) - 1) == 0);
	FUZZ_ASSERT(jv_equal(parsed, want));
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct mas_json_scan scan;
	int taken;
	jv value;

	if (size > INT_MAX / 2)
		return 0;
	taken = mas_json_scan_object(text, size, &scan);
	value = jv_parse_sized(text, (int)size);
	if (!taken) {
		/* Refusing what libjq takes is allowed (the caller asks
		 * libjq then); the dumper must still agree with it. */
		if (jv_is_valid(value))
			check_dump(value);
		jv_free(value);
		return 0;
	}
	if (jv_get_kind(value) != JV_KIND_OBJECT) {
		jv message = jv_is_valid(value) ? jv_string("not an object")
		                                : jv_invalid_get_msg(value);

		fuzz_say("scanner accepted what libjq refuses: %s\n",
		         jv_get_kind(message) == JV_KIND_STRING
		                 ? jv_string_value(message) : "?");
		FUZZ_ASSERT(!"scanner accepts only what libjq accepts");
	}
	check_scan(text, size, &scan, value);
	check_dump(value);
	if (!scan.id)
		check_with_id(text, size, value);
	jv_free(value);
	return 0;
}
