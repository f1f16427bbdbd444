/*
 * clock.h — clocks and timestamps.
 *
 * Every wall-clock time mas writes (record timestamps, ids, bus
 * envelopes, logs, traces, access logs) is read through this module, so
 * one setting can pin it: MAS_NOW (an RFC 3339 date-time, or seconds
 * since the epoch) or else SOURCE_DATE_EPOCH (seconds, the
 * reproducible-builds convention) makes the wall clock stand still at
 * that instant, and ids are made from it and a counter instead of random
 * bits, so two runs on the same input write the same bytes.  Meant for
 * batch runs, builds and tests: a pinned clock never advances, so
 * nothing measured by it (session TTLs, bus visibility timeouts) ever
 * expires.  The monotonic clock (durations, rates) is never pinned.
 */
#ifndef MAS_CLOCK_H
#define MAS_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Room for "2026-11-24T22:55:32.123Z", with space the compiler can prove
 * enough for any int fields. */
#define MAS_CLOCK_ISO_SIZE 96

/* Wall-clock time now as RFC 3339 UTC with milliseconds, into BUF. */
void mas_clock_now_iso(char buf[MAS_CLOCK_ISO_SIZE]);

/* Seconds since the epoch, as a double, formatted as above. */
void mas_clock_format_iso(double epoch_seconds, char buf[MAS_CLOCK_ISO_SIZE]);

/* Nanoseconds since the epoch (wall clock). */
uint64_t mas_clock_epoch_ns(void);

/*
 * 1 when MAS_NOW or SOURCE_DATE_EPOCH pins the wall clock, else 0.  A
 * value that is not a time pins nothing: mas_clock_pin_problem() then
 * says which and why (a static string), else returns NULL.
 */
int mas_clock_pinned(void);
const char *mas_clock_pin_problem(void);

/*
 * A duration to write out, END - START (monotonic readings): 0 when the
 * wall clock is pinned, so that output with durations in it (a flow's
 * meta.flow) is the same run after run too.
 */
double mas_clock_written_duration(double start, double end);

/* Monotonic time in seconds (for durations and rates). */
double mas_clock_monotonic(void);

/* Monotonic time in seconds to a few milliseconds (the kernel's last
 * tick): for "is it time to flush" checks made once a record, where the
 * exact clock costs a tenth of a fast filter's CPU on a virtual
 * machine. */
double mas_clock_coarse(void);

/* Milliseconds since the epoch (wall clock). */
uint64_t mas_clock_epoch_ms(void);

/*
 * Parse an ISO 8601 / RFC 3339 date or date-time ("2026-07-01",
 * "2026-07-01T12:00:00Z", "2026-07-01 12:00:00", "...+02:00",
 * fractional seconds) into seconds since the epoch.  A value without a
 * zone is taken as UTC.  Returns 0 on success, -1 if TEXT is not one.
 */
int mas_clock_parse_iso(const char *text, double *epoch_seconds);

/* Format a date-only or date-time label for an epoch second, into BUF:
 * "2026-07-01" when the time is midnight UTC, else the ISO form. */
void mas_clock_format_label(double epoch_seconds, char *buf, size_t size);

#endif
