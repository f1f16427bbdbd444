/*
 * fuzz-llm.c — what the model client makes of a server's reply
 * (lib/llm.c, mas_llm_read_reply): a plain reply or an event stream, in
 * pieces, under any status, checked as a structured reply or not.  The
 * input's first byte chooses the status, streaming and structure, its
 * second the size of the pieces; the rest is the body.  Whatever the
 * server sends, the result is an object whose every member is valid
 * JSON (content a string, model a string or null, usage an object or
 * null), or a failure with a known code and a string message; a status
 * that is not 2xx is always a failure.  The same body also goes through
 * mas_llm_parse_content (a model's JSON reply, fences allowed) and
 * mas_llm_parse_retry_after (a header value).
 */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "llm.h"
#include "mas.h"

static const long statuses[] = { 200, 200, 200, 201, 400, 401, 429, 503 };

/* VALUE dumped and read back is VALUE: nothing invalid inside. */
static void check_json(jv value) /* borrows */
{
	jv text = jv_dump_string(jv_copy(value), 0);
	jv back = jv_parse(jv_string_value(text));

	FUZZ_ASSERT(jv_is_valid(back));
	jv_free(back);
	jv_free(text);
}

static int member_is(jv object, const char *key, jv_kind a, jv_kind b)
{
	jv value = jv_object_get(jv_copy(object), jv_string(key));
	int ok = jv_get_kind(value) == a || jv_get_kind(value) == b;

	jv_free(value);
	return ok;
}

static void check_failure(jv result)
{
	jv error = jv_invalid_get_msg(result);
	jv code = jv_object_get(jv_copy(error), jv_string("code"));
	int known = 0;

	FUZZ_ASSERT(jv_get_kind(error) == JV_KIND_OBJECT);
	FUZZ_ASSERT(jv_get_kind(code) == JV_KIND_STRING);
	for (int c = 0; c <= MAS_ERR_INTERNAL; c++)
		known |= strcmp(jv_string_value(code), mas_error_code_name(
		                        (enum mas_error_code)c)) == 0;
	FUZZ_ASSERT(known);
	FUZZ_ASSERT(member_is(error, "message", JV_KIND_STRING,
	                      JV_KIND_STRING));
	check_json(error);
	jv_free(code);
	jv_free(error);
}

static void check_reply(jv result, long status)
{
	if (!jv_is_valid(result)) {
		check_failure(result);
		return;
	}
	FUZZ_ASSERT(status / 100 == 2);
	FUZZ_ASSERT(jv_get_kind(result) == JV_KIND_OBJECT);
	FUZZ_ASSERT(member_is(result, "content", JV_KIND_STRING,
	                      JV_KIND_STRING));
	FUZZ_ASSERT(member_is(result, "model", JV_KIND_STRING,
	                      JV_KIND_NULL));
	FUZZ_ASSERT(member_is(result, "usage", JV_KIND_OBJECT,
	                      JV_KIND_NULL));
	check_json(result);
	jv_free(result);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long status;
	int stream, structured;
	size_t piece;
	char *text;
	double seconds;
	jv required, parsed;

	if (size < 2)
		return 0;
	status = statuses[data[0] & 7];
	stream = data[0] >> 3 & 1;
	structured = data[0] >> 4 & 1;
	piece = data[1];
	data += 2;
	size -= 2;
	required = structured ? JV_ARRAY(jv_string("answer")) : jv_null();
	check_reply(mas_llm_read_reply(status, stream, (const char *)data,
	                               size, piece, required), status);

	text = malloc(size + 1);
	FUZZ_ASSERT(text);
	memcpy(text, data, size);
	text[size] = '\0';
	parsed = mas_llm_parse_content(text);
	if (jv_is_valid(parsed))
		check_json(parsed);
	jv_free(parsed);
	if (mas_llm_parse_retry_after(text, 1e9, &seconds) == 0)
		FUZZ_ASSERT(seconds >= 0 && !isnan(seconds));
	free(text);
	return 0;
}
