#ifndef SCHED_CRON_H
#define SCHED_CRON_H

/*
 * Five-field cron expressions (minute hour day-of-month month day-of-week),
 * as in crontab(5): "*", numbers, ranges "a-b", steps "*\/n" and "a-b/n",
 * lists "a,b-c", month names jan..dec, day names sun..sat (0 and 7 are
 * Sunday), and the macros @yearly @annually @monthly @weekly @daily
 * @midnight @hourly. When both day fields are restricted a day matches if
 * either does (Vixie cron). Times are minutes since the epoch on a clock
 * the caller chooses (statline-scheduler shifts UTC by --utc-offset-min).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sched_cron {
        uint64_t minute;         /* bit m: minute m (0-59) */
        uint32_t hour;           /* bit h (0-23) */
        uint32_t dom;            /* bit d (1-31) */
        uint16_t month;          /* bit m (1-12) */
        uint8_t dow;             /* bit d (0-6, Sunday 0) */
        bool dom_star, dow_star; /* the field was "*" (or "*\/n") */
};

/*
 * Parses expr (five fields separated by blanks, or a macro) into out.
 * Returns 0 or -EINVAL with the reason in errstr. Pure.
 */
int sched_cron_parse(const char *expr, struct sched_cron *out, char *errstr, size_t errstr_size);

/* True if the minute t (minutes since the epoch, on the schedule's clock) matches. Pure. */
bool sched_cron_match(const struct sched_cron *c, int64_t t);

/*
 * The first matching minute strictly after t, or -1 when none within eight
 * years (e.g. "0 0 30 2 *"). Pure.
 */
int64_t sched_cron_next(const struct sched_cron *c, int64_t t);

#endif
