#ifndef SL_UTIL_H
#define SL_UTIL_H

/*
 * Small helpers every module needs: allocation that aborts on OOM, a capped
 * byte buffer, clocks, bounded integer parsing and UUIDv7 ids.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Allocation wrappers. Out of memory logs one line and aborts (redis
 * zmalloc_default_oom), so callers never NULL-check the result.
 * Memory is released with free().
 */
void *sl_xmalloc(size_t size);
void *sl_xcalloc(size_t nmemb, size_t size);
void *sl_xrealloc(void *ptr, size_t size);
char *sl_xstrdup(const char *s);
char *sl_xstrndup(const char *s, size_t n);
/* Returns a heap string formatted like printf; free() it. */
char *sl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A growable byte buffer with a hard cap (curl dynbuf). data is always
 * NUL-terminated so text can be used in place. Caller-owned struct:
 * sl_buf_init() then sl_buf_fini().
 */
struct sl_buf {
        char *data;       /* owned, NUL-terminated, NULL until first append */
        size_t len;       /* bytes used, excluding the NUL */
        size_t cap;       /* bytes allocated */
        size_t max_bytes; /* hard cap on len; 0 means SIZE_MAX */
};

void sl_buf_init(struct sl_buf *b, size_t max_bytes);
void sl_buf_fini(struct sl_buf *b);
/* Empties the buffer, keeping its memory. */
void sl_buf_reset(struct sl_buf *b);
/* Appends len bytes. Returns 0, or -E2BIG if the cap would be exceeded (nothing appended). */
int sl_buf_append(struct sl_buf *b, const void *data, size_t len);
int sl_buf_puts(struct sl_buf *b, const char *s);
int sl_buf_printf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
int sl_buf_json_str(struct sl_buf *b, const char *s);
/* Gives the data to the caller (free() it) and resets the buffer. */
char *sl_buf_steal(struct sl_buf *b);

/* Milliseconds: CLOCK_MONOTONIC for durations, CLOCK_REALTIME for timestamps. */
int64_t sl_mono_ms(void);
int64_t sl_wall_ms(void);
/* Monotonic microseconds, for latency measurements. */
int64_t sl_mono_us(void);
/* Sleeps ms milliseconds; returns early (-EINTR) when *stop becomes non-zero. stop may be NULL. */
int sl_sleep_ms(int64_t ms, volatile const int *stop);

/*
 * Formats wall-clock ms as RFC 3339 UTC with milliseconds
 * ("2026-11-23T17:28:24.123Z"). out must hold 25 bytes.
 */
void sl_time_rfc3339(int64_t wall_ms, char out[25]);
/* Parses an RFC 3339 timestamp into wall-clock ms. Returns 0 or -EINVAL. */
int sl_time_parse_rfc3339(const char *s, int64_t *wall_ms);

/*
 * Parses a whole string as a base-10 integer in [min, max]. Returns 0,
 * -EINVAL (not a number, trailing junk, empty) or -ERANGE.
 */
int sl_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Fills buf with len random bytes from getrandom(2). */
void sl_random_bytes(void *buf, size_t len);
/* Uniform random integer in [0, n); n > 0. */
uint64_t sl_random_below(uint64_t n);

/* Writes a new UUIDv7 (RFC 9562) in canonical text form; out holds 37 bytes. */
void sl_uuid7(char out[37]);
/* Returns true if s is a canonical lower/upper-case UUID of any version. */
bool sl_uuid_valid(const char *s);
/* Returns the version nibble of a valid UUID text, or -1. */
int sl_uuid_version(const char *s);

/* Returns true if s is a calendar date YYYY-MM-DD that exists. */
bool sl_date_valid(const char *s);

/*
 * qsort() and bsearch() with no call for fewer than 2 (1) elements: the C
 * library's versions are undefined for a NULL base even with a count of 0
 * (UBSan "null pointer passed as argument"), which an empty list has. Plain
 * qsort/bsearch are banned by scripts/checksrc.sh outside util.c.
 */
void sl_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
void *sl_bsearch(const void *key, const void *base, size_t n, size_t size,
                 int (*cmp)(const void *, const void *));

/* Lengths of fixed ids */
#define SL_UUID_LEN 36

#endif
