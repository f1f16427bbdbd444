/*
 * json.h — JSON text where libjq is slow: checking a line without
 * building values, and dumping values with fast numbers.
 *
 * Passing a record from one co-process to the next through libjq costs a
 * parse and a dump per hop, most of a `cat`-like filter chain's time.
 * This scanner only checks that a line is one JSON object (RFC 8259,
 * strict) and notes the two top-level keys a runner cares about, at a
 * few nanoseconds a byte, so a valid line can be passed on as text.  It
 * accepts nothing libjq refuses (a high surrogate escape without its low
 * one included) and refuses some texts libjq takes (NaN, nan, 1.): the
 * callers parse a refused line with libjq to decide and to word the
 * error.
 */
#ifndef MAS_JSON_SCAN_H
#define MAS_JSON_SCAN_H

#include <stddef.h>
#include <string.h>

#include <jv.h>

struct mas_json_scan {
	const char *id;      /* the top-level "id" value's text, or NULL */
	size_t id_length;
	int has_meta;        /* a top-level "meta" key */
	int has_error;       /* a top-level "error" key */
	size_t close;        /* offset of the object's closing brace */
	int empty;           /* the object has no members */
};

/* Whether TEXT (LENGTH bytes) is exactly one JSON object, white space
 * around it allowed; fills SCAN when it is. */
int mas_json_scan_object(const char *text, size_t length,
                         struct mas_json_scan *scan);

/*
 * LINE (LENGTH bytes), an object the scanner passed, with "id": ID (ID_LENGTH
 * bytes of JSON text) put first: how a filter's answer that dropped the
 * record's id gets it back.  Malloc'd, NUL-terminated, *OUT_LENGTH bytes.
 */
char *mas_json_with_id(const char *line, size_t length, const char *id,
                       size_t id_length, size_t *out_length);

/*
 * Whether the JSON texts A (A_LENGTH bytes) and B name the same value:
 * the same bytes, or failing that equal once parsed (1.0 and 1, escapes).
 * How ids coming back from filters are matched to the records sent.
 */
int mas_json_equal_text(const char *a, size_t a_length, const char *b,
                        size_t b_length);

/* Whether A and B (consumed) are equal, numbers compared as they are
 * written (libjq reads 1e999 as infinity but writes it as the largest
 * double, which must still name the same record). */
int mas_json_same_value(jv a, jv b);

/*
 * VALUE (consumed) as compact JSON text, malloc'd, NUL-terminated,
 * *LENGTH bytes, exactly as jv_dump_string(VALUE, 0) writes it; but
 * integers and numbers of few decimals are written by hand, not through
 * libjq's dtoa, which costs thousands of instructions a number, and no
 * jv string is made on the way.  Anything else is left to libjq.
 */
char *mas_json_dump_text(jv value, size_t *length);

/* Text written piece by piece, for writers of JSON by hand: a zeroed
 * one is empty; DATA is malloc'd and kept NUL-terminated. */
struct mas_json_text {
	char *data;
	size_t length, capacity;
};

/* Room for MORE bytes (and a NUL) after TEXT's end, so that many small
 * puts of a known total do not grow the buffer step by step. */
void mas_json_grow(struct mas_json_text *text, size_t more);
static inline void mas_json_reserve(struct mas_json_text *text,
                                    size_t more)
{
	if (text->capacity - text->length <= more)
		mas_json_grow(text, more);
}

/* Append LENGTH BYTES to TEXT.  Inline: writers of meta.flow make some
 * twenty small puts a record, most of a length known when compiled,
 * which then cost a few moves instead of two calls. */
static inline void mas_json_put(struct mas_json_text *text,
                                const char *bytes, size_t length)
{
	mas_json_reserve(text, length);
	memcpy(text->data + text->length, bytes, length);
	text->length += length;
	text->data[text->length] = '\0';
}

/* Append VALUE (consumed) as mas_json_dump_text writes it. */
void mas_json_put_value(struct mas_json_text *text, jv value);

/* The number X as mas_json_dump_text writes it, NUL-terminated in OUT; its
 * length. */
enum { MAS_JSON_NUMBER_SIZE = 40 };
size_t mas_json_number(double x, char out[MAS_JSON_NUMBER_SIZE]);

/* US microseconds as milliseconds, exactly as mas_json_number writes
 * US / 1000.0 (at most three decimals, no trailing zero), in OUT; its
 * length.  Integer arithmetic only: times in meta.flow are written for
 * every step of every record. */
size_t mas_json_millis(long long us, char out[MAS_JSON_NUMBER_SIZE]);

/*
 * Whether V is a bare jv_invalid() (no message), and jv_free(V) without
 * a call into libjq for one:
 * jv_free and the jv_get_kind calls it makes cost about 80 instructions
 * even with nothing to free, and a token of mas-flow holds a dozen such
 * fields (a tenth of its instructions on a chain of run nodes).  The
 * test, here only, reads jv's public fields: kind JV_KIND_INVALID with no payload is
 * what jv_invalid() is (checked by tests/unit/test-json.c).
 */
static inline int mas_jv_is_bare_invalid(jv v)
{
	return v.kind_flags == JV_KIND_INVALID && v.u.ptr == NULL;
}

static inline void mas_jv_drop(jv v)
{
	if (!mas_jv_is_bare_invalid(v))
		jv_free(v);
}

#endif
