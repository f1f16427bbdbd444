/*
 * fuzz-sse.c — the server-sent events parser of the model client
 * (lib/llm.c, mas_sse_*): the events a stream makes do not depend on
 * where the network cut it.  Each input is fed at once, then byte by
 * byte, then in pieces of a size the input chooses; the three lists of
 * events must be the same, every event type short and NUL-terminated,
 * every data string NUL-terminated at its length.
 */
#include <string.h>

#include "fuzz.h"
#include "llm.h"

/* Events as "TYPE\nLENGTH\nDATA\n", appended. */
struct events {
	char *text;
	size_t length, capacity;
};

static void append(struct events *e, const char *bytes, size_t n)
{
	if (e->length + n + 1 > e->capacity) {
		e->capacity = (e->length + n + 1) * 2;
		e->text = realloc(e->text, e->capacity);
		FUZZ_ASSERT(e->text);
	}
	memcpy(e->text + e->length, bytes, n);
	e->length += n;
	e->text[e->length] = '\0';
}

static void on_event(void *user, const char *event, const char *data,
                     size_t length)
{
	struct events *e = user;
	char number[32];
	size_t type = strlen(event);

	FUZZ_ASSERT(type < 32);
	FUZZ_ASSERT(data[length] == '\0');
	snprintf(number, sizeof(number), "\n%zu\n", length);
	append(e, event, type);
	append(e, number, strlen(number));
	append(e, data, length);
	append(e, "\n", 1);
}

/* The events of DATA fed in pieces of PIECE bytes (0: at once). */
static struct events parse(const uint8_t *data, size_t size, size_t piece)
{
	struct events e = { NULL, 0, 0 };
	struct mas_sse sse;

	mas_sse_init(&sse, on_event, &e);
	for (size_t at = 0, n; at < size; at += n) {
		n = piece && piece < size - at ? piece : size - at;
		FUZZ_ASSERT(mas_sse_feed(&sse, (const char *)data + at, n) ==
		            0);
	}
	mas_sse_finish(&sse);
	mas_sse_release(&sse);
	append(&e, "", 0);
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct events whole = parse(data, size, 0);
	struct events bytes = parse(data, size, 1);
	struct events some = parse(data, size, size ? 1 + data[0] % 7 : 0);

	FUZZ_ASSERT(whole.length == bytes.length &&
	            memcmp(whole.text, bytes.text, whole.length) == 0);
	FUZZ_ASSERT(whole.length == some.length &&
	            memcmp(whole.text, some.text, whole.length) == 0);
	free(whole.text);
	free(bytes.text);
	free(some.text);
	return 0;
}
