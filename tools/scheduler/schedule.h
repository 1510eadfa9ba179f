#ifndef SCHED_SCHEDULE_H
#define SCHED_SCHEDULE_H

/*
 * statline-scheduler's schedule file (tools/scheduler/README.md): one entry
 * per line,
 *
 *   MIN HOUR DOM MON DOW  NAME  scrape [date=today|yesterday|tomorrow|today-N|today+N]
 *                                      [sources=LIST]
 *
 * or a cron macro (@daily ...) in place of the five fields. '#' starts a
 * comment; blank lines are ignored.
 */

#include <stddef.h>
#include <stdint.h>

#include "cron.h"

#define SCHED_MAX_ENTRIES 64

struct sched_entry {
        char name[64];
        char when[128]; /* the cron text as written */
        struct sched_cron cron;
        int date_offset;   /* days from the fire minute's date */
        char sources[128]; /* "" = the scraper's default */
        int line;
};

struct sched_schedule {
        struct sched_entry e[SCHED_MAX_ENTRIES];
        int n;
};

/*
 * Parses the text of a schedule file (path is for messages). Returns 0 or
 * -EINVAL with "path:line: reason" in errstr. Entry names are unique. Pure.
 */
int sched_parse(const char *text, const char *path, struct sched_schedule *out, char *errstr,
                size_t errstr_size);

/* Reads and parses the file at path (at most 1 MiB). Same returns, plus -errno of the read. */
int sched_load(const char *path, struct sched_schedule *out, char *errstr, size_t errstr_size);

/*
 * The game date an entry scrapes when it fires at minute t (minutes since
 * the epoch on the schedule's clock): t's date plus date_offset days, into
 * out (11 bytes). Pure.
 */
void sched_entry_date(const struct sched_entry *e, int64_t t, char out[11]);

/* minute t as "YYYY-MM-DDTHH:MM" into out (17 bytes). */
void sched_fmt_minute(int64_t t, char out[17]);

/*
 * Parses "YYYY-MM-DDTHH:MM" (or with a space for the T) into minutes since
 * the epoch on the same clock. Returns 0 or -EINVAL. Pure.
 */
int sched_parse_minute(const char *s, int64_t *t);

#endif
