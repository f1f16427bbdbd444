/*
 * id.h — record and message identifiers.
 *
 * An id is a ULID: 26 characters of Crockford base32, the first 10 the
 * milliseconds since the epoch, the last 16 random.  Ids sort by time as
 * plain strings, and within one process ids made in the same millisecond
 * still sort in the order they were made (the random part is incremented,
 * as the ULID spec's monotonic mode does), so `sort` on ids restores the
 * order a program produced them in.
 */
#ifndef MAS_ID_H
#define MAS_ID_H

#define MAS_ID_SIZE 27 /* 26 characters and a NUL */

/* A new id into BUF.  Thread-safe. */
void mas_id_new(char buf[MAS_ID_SIZE]);

/* The same for a caller that has just read the clock (NOW_MS, the
 * milliseconds since the epoch): one clock read where two were. */
void mas_id_new_at(char buf[MAS_ID_SIZE], unsigned long long now_ms);

#endif
