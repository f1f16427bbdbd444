/*
 * test-utf8.c — lib/utf8.c against utf8.h and the Unicode Standard's
 * table 3-7 of well-formed byte sequences.
 *
 * Every input is copied into a buffer of exactly its size, so a read past
 * the end shows up under ASan or valgrind.
 */
#include <stdlib.h>

#include "utf8.h"
#include "unit.h"

/* mas_utf8_invalid_offset over an exact-size copy of TEXT[0..SIZE). */
static size_t offset_of(const char *text, size_t size)
{
	char *copy = malloc(size ? size : 1);
	size_t offset;

	memcpy(copy, text, size);
	offset = mas_utf8_invalid_offset(copy, size);
	free(copy);
	return offset;
}

#define OFFSET(literal) offset_of(literal, sizeof(literal) - 1)
#define VALID(literal) CHECK_INT(OFFSET(literal), sizeof(literal) - 1)

static void test_empty(void)
{
	CHECK_INT(offset_of("", 0), 0);
}

static void test_ascii(void)
{
	VALID("a");
	VALID("hello, world");
	VALID("{\"id\":\"01J\",\"message\":\"a longer line of plain text\"}");
	VALID("\t\r\n\x7f");
}

static void test_nul_is_valid(void)
{
	VALID("a\0b");
	VALID("\0\0\0\0\0\0\0\0\0");
}

static void test_two_byte(void)
{
	VALID("\xc2\x80");         /* U+0080, the smallest */
	VALID("caf\xc3\xa9");      /* café */
	VALID("\xdf\xbf");         /* U+07FF, the largest */
}

static void test_three_byte(void)
{
	VALID("\xe0\xa0\x80");     /* U+0800 */
	VALID("\xe4\xb8\xad\xe6\x96\x87"); /* 中文 */
	VALID("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"); /* 日本語 */
	VALID("\xed\x9f\xbf");     /* U+D7FF, just below the surrogates */
	VALID("\xee\x80\x80");     /* U+E000, just above them */
	VALID("\xef\xbf\xbf");     /* U+FFFF */
}

static void test_four_byte(void)
{
	VALID("\xf0\x90\x80\x80"); /* U+10000 */
	VALID("\xf0\x9f\x98\x80"); /* 😀 */
	VALID("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"); /* 👍🏽 */
	VALID("\xf4\x8f\xbf\xbf"); /* U+10FFFF, the largest */
}

static void test_mixed_text(void)
{
	VALID("{\"message\":\"\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 "
	      "caf\xc3\xa9 ok\"}");
}

static void test_overlong(void)
{
	CHECK_INT(OFFSET("\xc0\x80"), 0);         /* NUL in two bytes */
	CHECK_INT(OFFSET("\xc0\xaf"), 0);         /* '/' in two bytes */
	CHECK_INT(OFFSET("\xc1\xbf"), 0);
	CHECK_INT(OFFSET("\xe0\x80\x80"), 0);
	CHECK_INT(OFFSET("\xe0\x80\xaf"), 0);
	CHECK_INT(OFFSET("\xe0\x9f\xbf"), 0);     /* U+07FF in three */
	CHECK_INT(OFFSET("\xf0\x80\x80\x80"), 0);
	CHECK_INT(OFFSET("\xf0\x8f\xbf\xbf"), 0); /* U+FFFF in four */
	CHECK_INT(OFFSET("ab\xc0\x80"), 2);
}

static void test_surrogates(void)
{
	CHECK_INT(OFFSET("\xed\xa0\x80"), 0);     /* U+D800 */
	CHECK_INT(OFFSET("\xed\xaf\xbf"), 0);     /* U+DBFF */
	CHECK_INT(OFFSET("\xed\xb0\x80"), 0);     /* U+DC00 */
	CHECK_INT(OFFSET("\xed\xbf\xbf"), 0);     /* U+DFFF */
	/* A CESU-8 pair for U+1F600. */
	CHECK_INT(OFFSET("x\xed\xa0\xbd\xed\xb8\x80"), 1);
}

static void test_above_max(void)
{
	CHECK_INT(OFFSET("\xf4\x90\x80\x80"), 0); /* U+110000 */
	CHECK_INT(OFFSET("\xf4\xbf\xbf\xbf"), 0);
	CHECK_INT(OFFSET("\xf5\x80\x80\x80"), 0);
	CHECK_INT(OFFSET("\xf7\xbf\xbf\xbf"), 0);
	CHECK_INT(OFFSET("\xf8\x88\x80\x80\x80"), 0); /* five bytes */
	CHECK_INT(OFFSET("\xfc\x84\x80\x80\x80\x80"), 0);
	CHECK_INT(OFFSET("\xfe"), 0);
	CHECK_INT(OFFSET("\xff"), 0);
}

static void test_stray_continuation(void)
{
	CHECK_INT(OFFSET("\x80"), 0);
	CHECK_INT(OFFSET("\xbf"), 0);
	CHECK_INT(OFFSET("abc\x80"), 3);
	CHECK_INT(OFFSET("\xc3\xa9\xa9"), 2); /* one too many */
}

static void test_bad_continuation(void)
{
	CHECK_INT(OFFSET("\xc3\x41"), 0);           /* ASCII, not 10xxxxxx */
	CHECK_INT(OFFSET("\xc3\xc3\xa9"), 0);       /* a lead, not 10xxxxxx */
	CHECK_INT(OFFSET("\xe4\xb8\x41xyz"), 0);
	CHECK_INT(OFFSET("\xf0\x9f\x98\x41"), 0);
	CHECK_INT(OFFSET("ok \xf0\x9f\xc0\x80"), 3);
}

static void test_truncated_at_end(void)
{
	CHECK_INT(OFFSET("abc\xc3"), 3);
	CHECK_INT(OFFSET("abc\xe4"), 3);
	CHECK_INT(OFFSET("abc\xe4\xb8"), 3);
	CHECK_INT(OFFSET("abc\xf0"), 3);
	CHECK_INT(OFFSET("abc\xf0\x9f"), 3);
	CHECK_INT(OFFSET("abc\xf0\x9f\x98"), 3);
	CHECK_INT(OFFSET("\xe4\xb8\xad\xe6\x96"), 3);
}

static void test_size_is_respected(void)
{
	/* The bytes after SIZE are not looked at, even when invalid. */
	CHECK_INT(mas_utf8_invalid_offset("abc\xff", 3), 3);
	/* A sequence cut by SIZE is truncated, whatever follows. */
	CHECK_INT(mas_utf8_invalid_offset("ab\xe4\xb8\xad", 4), 2);
	CHECK_INT(mas_utf8_invalid_offset("abcdefghij\xc3\xa9", 11), 10);
}

/* An invalid byte at every offset of an ASCII run, so that it falls
 * before, on and after each eight-byte boundary. */
static void test_fast_path_bad_byte_anywhere(void)
{
	char buf[40];

	for (size_t size = 1; size <= sizeof(buf); size++)
		for (size_t at = 0; at < size; at++) {
			memset(buf, 'a', size);
			buf[at] = (char)0xff;
			CHECK_INT(offset_of(buf, size), at);
		}
}

/* A valid multi-byte character straddling every eight-byte boundary. */
static void test_fast_path_multibyte_anywhere(void)
{
	static const char *const chars[] = {
		"\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80"
	};
	char buf[48];

	for (size_t c = 0; c < 3; c++) {
		size_t length = strlen(chars[c]);
		for (size_t at = 0; at + length <= 40; at++) {
			memset(buf, 'z', 40);
			memcpy(buf + at, chars[c], length);
			CHECK_INT(offset_of(buf, 40), 40);
		}
	}
}

/* A sequence truncated at the end of an ASCII run of every length. */
static void test_fast_path_truncated_anywhere(void)
{
	char buf[40];

	for (size_t ascii = 0; ascii + 3 <= sizeof(buf); ascii++) {
		memset(buf, 'q', ascii);
		memcpy(buf + ascii, "\xf0\x9f\x98", 3);
		CHECK_INT(offset_of(buf, ascii + 3), ascii);
	}
}

static void test_long_run_then_error(void)
{
	size_t size = 1 << 16;
	char *buf = malloc(size);

	memset(buf, 'x', size);
	CHECK_INT(offset_of(buf, size), size);
	buf[size - 1] = (char)0xc3;
	CHECK_INT(offset_of(buf, size), size - 1);
	free(buf);
}

int main(void)
{
	UNIT_RUN(test_empty);
	UNIT_RUN(test_ascii);
	UNIT_RUN(test_nul_is_valid);
	UNIT_RUN(test_two_byte);
	UNIT_RUN(test_three_byte);
	UNIT_RUN(test_four_byte);
	UNIT_RUN(test_mixed_text);
	UNIT_RUN(test_overlong);
	UNIT_RUN(test_surrogates);
	UNIT_RUN(test_above_max);
	UNIT_RUN(test_stray_continuation);
	UNIT_RUN(test_bad_continuation);
	UNIT_RUN(test_truncated_at_end);
	UNIT_RUN(test_size_is_respected);
	UNIT_RUN(test_fast_path_bad_byte_anywhere);
	UNIT_RUN(test_fast_path_multibyte_anywhere);
	UNIT_RUN(test_fast_path_truncated_anywhere);
	UNIT_RUN(test_long_run_then_error);
	return unit_done();
}
