#ifndef SL_RETRY_H
#define SL_RETRY_H

/*
 * Retry policy: exponential backoff with jitter. The defaults come from the
 * requirement notes: 3 attempts, waiting 2 s, 5 s, then 10 s. An explicit
 * delay list wins over the exponential formula; tests use milliseconds.
 */

#include <stdint.h>

#define SL_RETRY_MAX_DELAYS 16

struct sl_retry_opts {
        int max_attempts; /* handler calls before dead-lettering; 0 = 3. 1 means no retry */
        int64_t delays_ms[SL_RETRY_MAX_DELAYS]; /* wait before retry k (1-based k -> [k-1]); all
                                                   zero = 2000,5000,10000 */
        int n_delays;                           /* entries used in delays_ms; the last repeats */
        int64_t base_ms;      /* used when n_delays == 0 and delays_ms unset: base * 2^(k-1) */
        int64_t max_delay_ms; /* cap for the exponential formula; 0 = 60000 */
        int jitter_pct;       /* +- percent of random jitter; 0 = 20, negative = none */
};

/* Fills opts with the defaults (3 attempts, 2 s, 5 s, 10 s, 20% jitter). */
void sl_retry_defaults(struct sl_retry_opts *opts);

/*
 * Parses a delay list like "2000,5000,10000" (milliseconds) into opts.
 * Returns 0 or -EINVAL.
 */
int sl_retry_parse_delays(struct sl_retry_opts *opts, const char *list);

/*
 * The wait before retry number `retry` (1 = first retry), jitter applied.
 * Never negative.
 */
int64_t sl_retry_delay_ms(const struct sl_retry_opts *opts, int retry);

/* Effective max attempts (applies the default). */
int sl_retry_max_attempts(const struct sl_retry_opts *opts);

/*
 * "Not ready yet" policy (SL_BUS_NOT_READY, sl/bus.h): a message whose
 * critical input is missing is parked and handled again after a growing
 * wait, for up to max_ms in total since it was first parked, then
 * dead-lettered. No jitter: a parked message is claimed by one replica.
 */
struct sl_not_ready_opts {
        int64_t delays_ms[SL_RETRY_MAX_DELAYS]; /* wait before re-dispatch k (1-based k ->
                                                   [k-1]); the last repeats; n_delays 0 =
                                                   5000,10000,30000,60000,300000 */
        int n_delays;
        int64_t max_ms; /* total wait since first parked; 0 = 6 h */
};

/*
 * Parses a delay list like "5000,10000,30000" (ms, each 0..86400000) into
 * opts. Returns 0 or -EINVAL (opts unchanged).
 */
int sl_not_ready_parse_delays(struct sl_not_ready_opts *opts, const char *list);

/* The wait before re-dispatch number `wait` (1 = the first parking). Never negative. */
int64_t sl_not_ready_delay_ms(const struct sl_not_ready_opts *opts, int wait);

/*
 * Decides what happens to a message found not ready at now_ms, first parked
 * at first_ms (== now_ms the first time) and parked `waits` times before.
 * Returns 0 with *due_ms = when to try again (never after first_ms + max_ms,
 * so the last try happens at the cutoff), or -ETIME when now_ms - first_ms
 * >= max_ms: the wait is over, dead-letter it. Pure function.
 */
int sl_not_ready_next(const struct sl_not_ready_opts *opts, int64_t first_ms, int64_t now_ms,
                      int waits, int64_t *due_ms);

#endif
