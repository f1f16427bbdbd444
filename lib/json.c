/*
 * json.c — a validating JSON scanner (recursive descent over the bytes,
 * no allocation) and a dumper with fast numbers (see json.h).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "banned.h"

/* Deep enough for any record; deeper texts go to libjq, which decides. */
enum { MAX_DEPTH = 256 };

struct scanner {
	const char *p, *end;
	int depth;
};

static void skip_space(struct scanner *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	                         *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* A string from its opening quote; control characters and bad escapes
 * are errors.  UTF-8 validity is the record reader's concern. */
/* The four hex digits of a \u escape, after the 'u'; their value, or
 * -1. */
static long hex4(struct scanner *s)
{
	char digits[5];

	if (s->end - s->p < 4 || !hex(s->p[0]) || !hex(s->p[1]) ||
	    !hex(s->p[2]) || !hex(s->p[3]))
		return -1;
	memcpy(digits, s->p, 4);
	digits[4] = '\0';
	s->p += 4;
	return strtol(digits, NULL, 16);
}

/* A \u escape; a high surrogate must be followed by a low one, as
 * libjq requires. */
static int scan_unicode_escape(struct scanner *s)
{
	long code = hex4(s), low;

	if (code < 0xd800 || code > 0xdbff)
		return code >= 0;
	if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
		return 0;
	s->p += 2;
	low = hex4(s);
	return low >= 0xdc00 && low <= 0xdfff;
}

/*
 * The bytes of V (eight bytes of text, the first in the lowest byte)
 * that are a quote, a backslash or a control character, each as its
 * high bit, tested all at once (the "has zero byte" trick).  A byte
 * above the first one found may be marked wrongly by the borrow; the
 * lowest mark is always right, and it is the only one used.
 */
static uint64_t special8(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t quote = v ^ (ones * '"'), backslash = v ^ (ones * '\\');

	return ((quote - ones) & ~quote & highs) |
	       ((backslash - ones) & ~backslash & highs) |
	       ((v - ones * 0x20) & ~v & highs);
}

/* Move S past plain string text, eight bytes a step, to the first byte
 * that needs a look of its own (or to the last seven bytes). */
static void skip_plain(struct scanner *s)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (s->end - s->p >= 8) {
		uint64_t v, special;

		memcpy(&v, s->p, 8);
		special = special8(v);
		if (special) {
			s->p += __builtin_ctzll(special) / 8;
			return;
		}
		s->p += 8;
	}
#else
	(void)special8;
#endif
}

static int scan_string(struct scanner *s)
{
	s->p++;
	while (s->p < s->end) {
		unsigned char c;

		skip_plain(s);
		if (s->p >= s->end)
			break;
		c = (unsigned char)*s->p++;

		if (c == '"')
			return 1;
		if (c < 0x20)
			return 0;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return 0;
		c = (unsigned char)*s->p++;
		if (c == 'u') {
			if (!scan_unicode_escape(s))
				return 0;
		} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
			return 0;
		}
	}
	return 0;
}

static int digits(struct scanner *s)
{
	const char *start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static int scan_number(struct scanner *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return 0;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return 0;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return 0;
	}
	return 1;
}

static int scan_word(struct scanner *s, const char *word, size_t length)
{
	if ((size_t)(s->end - s->p) < length || memcmp(s->p, word, length))
		return 0;
	s->p += length;
	return 1;
}

static int scan_value(struct scanner *s);

static int scan_array(struct scanner *s)
{
	s->p++;
	skip_space(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 1;
	}
	for (;;) {
		if (!scan_value(s))
			return 0;
		skip_space(s);
		if (s->p >= s->end)
			return 0;
		if (*s->p++ == ']')
			return 1;
		if (s->p[-1] != ',')
			return 0;
	}
}

/* An object's members; at the top level (SCAN not NULL) noting "id",
 * "meta" and "error". */
static int scan_members(struct scanner *s, struct mas_json_scan *scan)
{
	s->p++;
	skip_space(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 1;
	}
	if (scan)
		scan->empty = 0;
	for (;;) {
		const char *key, *value;
		size_t key_length;

		skip_space(s); /* after a comma: {"a": 1, "b": 2} */
		key = s->p;
		if (s->p >= s->end || *s->p != '"' || !scan_string(s))
			return 0;
		key_length = (size_t)(s->p - key);
		skip_space(s);
		if (s->p >= s->end || *s->p++ != ':')
			return 0;
		skip_space(s);
		value = s->p;
		if (scan && key_length == 6 && memcmp(key, "\"meta\"", 6) == 0)
			scan->has_meta = 1;
		if (scan && key_length == 7 &&
		    memcmp(key, "\"error\"", 7) == 0)
			scan->has_error = 1;
		if (!scan_value(s))
			return 0;
		/* the last "id" when there are two, as libjq keeps it */
		if (scan && key_length == 4 && memcmp(key, "\"id\"", 4) == 0) {
			scan->id = value;
			scan->id_length = (size_t)(s->p - value);
		}
		skip_space(s);
		if (s->p >= s->end)
			return 0;
		if (*s->p++ == '}')
			return 1;
		if (s->p[-1] != ',')
			return 0;
	}
}

static int scan_value(struct scanner *s)
{
	int ok;

	skip_space(s);
	if (s->p >= s->end)
		return 0;
	switch (*s->p) {
	case '"': return scan_string(s);
	case '{':
	case '[':
		if (++s->depth > MAX_DEPTH)
			return 0;
		ok = *s->p == '{' ? scan_members(s, NULL) : scan_array(s);
		s->depth--;
		return ok;
	case 't': return scan_word(s, "true", 4);
	case 'f': return scan_word(s, "false", 5);
	case 'n': return scan_word(s, "null", 4);
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s);
		return 0;
	}
}

int mas_json_scan_object(const char *text, size_t length,
                         struct mas_json_scan *scan)
{
	struct scanner s = { text, text + length, 1 };

	memset(scan, 0, sizeof(*scan));
	skip_space(&s);
	if (s.p >= s.end || *s.p != '{')
		return 0;
	scan->empty = 1;
	if (!scan_members(&s, scan))
		return 0;
	scan->close = (size_t)(s.p - 1 - text);
	skip_space(&s);
	if (s.p != s.end)
		return 0;
	return 1;
}

/* Room for MORE bytes and a NUL after them. */
void mas_json_grow(struct mas_json_text *t, size_t more)
{
	t->capacity = t->capacity * 2 + more + 64;
	t->data = realloc(t->data, t->capacity);
	if (!t->data)
		abort(); /* as libjq does when memory runs out */
}

static void put_char(struct mas_json_text *t, char c)
{
	mas_json_reserve(t, 1);
	t->data[t->length++] = c;
	t->data[t->length] = '\0';
}

static size_t format_integer(long long n, char *out)
{
	char digits[24];
	int i = sizeof(digits);
	unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n :
	                       (unsigned long long)n;

	do {
		digits[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (n < 0)
		digits[--i] = '-';
	memcpy(out, digits + i, sizeof(digits) - (size_t)i);
	return sizeof(digits) - (size_t)i;
}

/* X when it has at most PLACES decimals (1 to 4); 0 if not.  |X| must
 * be under 10^(15 - PLACES), so that the text has at most 15 digits. */
static size_t format_fixed(double x, int places, char *out)
{
	static const long long scales[] = { 1, 10, 100, 1000, 10000 };
	long long scale = scales[places];
	long long m = llround(x * (double)scale), whole, part;
	size_t n = 0;

	if ((double)m / (double)scale != x)
		return 0;
	whole = m / scale;
	part = llabs(m % scale);
	if (m < 0 && whole == 0)
		out[n++] = '-';
	n += format_integer(whole, out + n);
	if (part) {
		out[n++] = '.';
		for (long long d = scale / 10; d > 0; d /= 10)
			out[n++] = (char)('0' + part / d % 10);
		while (out[n - 1] == '0')
			n--;
	}
	return n;
}

size_t mas_json_millis(long long us, char out[MAS_JSON_NUMBER_SIZE])
{
	long long part = llabs(us % 1000);
	size_t n = 0;

	if (us < 0 && us > -1000)
		out[n++] = '-';
	n += format_integer(us / 1000, out + n);
	if (part) {
		out[n++] = '.';
		out[n++] = (char)('0' + part / 100);
		out[n++] = (char)('0' + part / 10 % 10);
		out[n++] = (char)('0' + part % 10);
		while (out[n - 1] == '0')
			n--;
	}
	out[n] = '\0';
	return n;
}

/*
 * A number the way jq writes it (shortest text that reads back the
 * same).  Integers and numbers of at most three decimals (times in ms)
 * or four (probabilities rounded for output) are written by hand: such
 * a text of at most 15 digits is the only one of so few digits that
 * reads back as X, hence the shortest.  Then %.15g when it reads back
 * exactly; libjq's dtoa for the rest.
 */
size_t mas_json_number(double x, char out[MAS_JSON_NUMBER_SIZE])
{
	size_t n;
	jv dumped;

	if (x == 0) {
		const char *zero = signbit(x) ? "-0" : "0";

		n = strlen(zero);
		memcpy(out, zero, n + 1);
		return n;
	}
	if (fabs(x) < 1e12 && (n = format_fixed(x, 3, out)) > 0) {
		out[n] = '\0';
		return n;
	}
	if (fabs(x) < 1e11 && (n = format_fixed(x, 4, out)) > 0) {
		out[n] = '\0';
		return n;
	}
	if (isfinite(x) && fabs(x) < 1e15) {
		snprintf(out, MAS_JSON_NUMBER_SIZE, "%.15g", x);
		if (!strchr(out, 'e') && strtod(out, NULL) == x)
			return strlen(out);
	}
	dumped = jv_dump_string(jv_number(x), 0);
	snprintf(out, MAS_JSON_NUMBER_SIZE, "%s", jv_string_value(dumped));
	jv_free(dumped);
	return strlen(out);
}

static void put_number(struct mas_json_text *t, double x)
{
	char text[MAS_JSON_NUMBER_SIZE];

	mas_json_put(t, text, mas_json_number(x, text));
}

/* A string as jq escapes it: quote, backslash and control characters
 * (DEL too), the rest as is (jv strings are valid UTF-8). */
static void put_string(struct mas_json_text *t, const char *s, size_t length)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s, *end = s + length;

	/* room for the string as it mostly is, unescaped: one reserve */
	mas_json_reserve(t, length + 2);
	t->data[t->length++] = '"';
	for (; s < end; s++) {
		unsigned char c = (unsigned char)*s;
		char escape[6] = { '\\', 'u', '0', '0', 0, 0 };
		size_t size = 2;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		mas_json_put(t, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': escape[1] = '"'; break;
		case '\\': escape[1] = '\\'; break;
		case '\b': escape[1] = 'b'; break;
		case '\f': escape[1] = 'f'; break;
		case '\n': escape[1] = 'n'; break;
		case '\r': escape[1] = 'r'; break;
		case '\t': escape[1] = 't'; break;
		default:
			escape[4] = hex[c >> 4];
			escape[5] = hex[c & 15];
			size = 6;
		}
		mas_json_put(t, escape, size);
	}
	mas_json_put(t, run, (size_t)(end - run));
	put_char(t, '"');
}


static void put_array(struct mas_json_text *t, jv array)
{
	int length = jv_array_length(jv_copy(array));

	put_char(t, '[');
	for (int i = 0; i < length; i++) {
		if (i)
			put_char(t, ',');
		mas_json_put_value(t, jv_array_get(jv_copy(array), i));
	}
	jv_free(array);
	put_char(t, ']');
}

static void put_object(struct mas_json_text *t, jv object)
{
	int first = 1;

	put_char(t, '{');
	jv_object_foreach(object, key, member) {
		if (!first)
			put_char(t, ',');
		first = 0;
		put_string(t, jv_string_value(key),
		           (size_t)jv_string_length_bytes(jv_copy(key)));
		jv_free(key);
		put_char(t, ':');
		mas_json_put_value(t, member);
	}
	jv_free(object);
	put_char(t, '}');
}

void mas_json_put_value(struct mas_json_text *t, jv value)
{
	switch (jv_get_kind(value)) {
	case JV_KIND_NUMBER:
		put_number(t, jv_number_value(value));
		break;
	case JV_KIND_STRING:
		put_string(t, jv_string_value(value),
		           (size_t)jv_string_length_bytes(jv_copy(value)));
		break;
	case JV_KIND_ARRAY: put_array(t, value); return;
	case JV_KIND_OBJECT: put_object(t, value); return;
	case JV_KIND_TRUE: mas_json_put(t, "true", 4); break;
	case JV_KIND_FALSE: mas_json_put(t, "false", 5); break;
	case JV_KIND_NULL: mas_json_put(t, "null", 4); break;
	default: {
		jv dumped = jv_dump_string(jv_copy(value), 0);

		mas_json_put(t, jv_string_value(dumped), strlen(jv_string_value(dumped)));
		jv_free(dumped);
	}
	}
	jv_free(value);
}

char *mas_json_dump_text(jv value, size_t *length)
{
	struct mas_json_text t = { NULL, 0, 0 };

	mas_json_put_value(&t, value);
	*length = t.length;
	return t.data;
}

char *mas_json_with_id(const char *line, size_t length, const char *id,
                       size_t id_length, size_t *out_length)
{
	const char *brace = memchr(line, '{', length);
	size_t before = brace ? (size_t)(brace - line) + 1 : 0;
	struct mas_json_text text = { 0 };
	size_t rest = length - before;
	const char *after = line + before;
	int empty = 1;

	for (size_t i = 0; i < rest && empty; i++)
		empty = after[i] == ' ' || after[i] == '\t' ||
		        after[i] == '\r' || after[i] == '\n' || after[i] == '}';
	mas_json_put(&text, "{\"id\":", 6);
	mas_json_put(&text, id, id_length);
	if (!empty)
		mas_json_put(&text, ",", 1);
	mas_json_put(&text, after, rest);
	*out_length = text.length;
	return text.data;
}

int mas_json_equal_text(const char *a, size_t a_length, const char *b,
                        size_t b_length)
{
	if (a_length == b_length && memcmp(a, b, a_length) == 0)
		return 1;
	return mas_json_same_value(jv_parse_sized(a, (int)a_length),
	                           jv_parse_sized(b, (int)b_length));
}

int mas_json_same_value(jv a, jv b)
{
	char a_text[MAS_JSON_NUMBER_SIZE], b_text[MAS_JSON_NUMBER_SIZE];

	if (jv_get_kind(a) != JV_KIND_NUMBER ||
	    jv_get_kind(b) != JV_KIND_NUMBER)
		return jv_equal(a, b);
	mas_json_number(jv_number_value(a), a_text);
	mas_json_number(jv_number_value(b), b_text);
	jv_free(a);
	jv_free(b);
	return strcmp(a_text, b_text) == 0;
}
