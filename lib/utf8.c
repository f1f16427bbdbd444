/*
 * utf8.c — UTF-8 validation (see utf8.h), after the table of well-formed
 * byte sequences in the Unicode Standard, section 3.9, table 3-7.
 */
#include <stdint.h>
#include <string.h>

#include "utf8.h"
#include "banned.h"

/* Length of a well-formed sequence at P (at most END), or 0. */
static size_t sequence_length(const unsigned char *p,
                              const unsigned char *end)
{
	unsigned char lead = p[0];
	unsigned char low = 0x80, high = 0xBF;
	size_t length;

	if (lead >= 0xC2 && lead <= 0xDF)
		length = 2;
	else if (lead >= 0xE0 && lead <= 0xEF)
		length = 3;
	else if (lead >= 0xF0 && lead <= 0xF4)
		length = 4;
	else
		return 0;
	if (lead == 0xE0)
		low = 0xA0; /* no overlong 3-byte forms */
	else if (lead == 0xED)
		high = 0x9F; /* no surrogates */
	else if (lead == 0xF0)
		low = 0x90; /* no overlong 4-byte forms */
	else if (lead == 0xF4)
		high = 0x8F; /* nothing above U+10FFFF */
	if ((size_t)(end - p) < length)
		return 0;
	if (p[1] < low || p[1] > high)
		return 0;
	for (size_t i = 2; i < length; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return length;
}

size_t mas_utf8_invalid_offset(const char *text, size_t size)
{
	const unsigned char *p = (const unsigned char *)text;
	const unsigned char *end = p + size;

	while (p < end) {
		uint64_t word;

		if (end - p >= 8) {
			memcpy(&word, p, 8);
			if ((word & 0x8080808080808080u) == 0) {
				p += 8;
				continue;
			}
		}
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t length = sequence_length(p, end);
		if (length == 0)
			return (size_t)(p - (const unsigned char *)text);
		p += length;
	}
	return size;
}
