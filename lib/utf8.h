/*
 * utf8.h — UTF-8 validation.
 */
#ifndef MAS_UTF8_H
#define MAS_UTF8_H

#include <stddef.h>

/*
 * The offset of the first byte of TEXT[0..SIZE) that does not start a
 * well-formed UTF-8 sequence (overlong forms, surrogates and code points
 * above U+10FFFF are not well-formed), or SIZE if all of it is.  ASCII is
 * checked eight bytes at a time: this runs on every input line.
 */
size_t mas_utf8_invalid_offset(const char *text, size_t size);

#endif
