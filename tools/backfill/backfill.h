#ifndef BACKFILL_H
#define BACKFILL_H

/*
 * statline-backfill (tools/backfill/README.md): the pure parts (date lists,
 * the resume key, progress and ETA, the retry command, counting the player
 * lines of a box score) and the per-date validation that writes
 * ops.data_quality. main.c holds the options and the loop.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct sl_pg;

#define BACKFILL_MAX_DATES 3660 /* ten years of days */

/* A list of dates, "YYYY-MM-DD" each, sorted and without duplicates. */
struct backfill_dates {
        char (*d)[11]; /* owned, n entries */
        int n;
};

/*
 * Fills out with every date from from to to, both included. Returns 0, or
 * -EINVAL with the reason in errstr (a bad date, from after to, more than
 * BACKFILL_MAX_DATES). Free out with backfill_dates_fini().
 */
int backfill_dates_range(const char *from, const char *to, struct backfill_dates *out, char *errstr,
                         size_t errstr_size);

/*
 * Fills out with the dates of a comma-separated list, sorted and
 * deduplicated. Same returns as backfill_dates_range().
 */
int backfill_dates_list(const char *list, struct backfill_dates *out, char *errstr,
                        size_t errstr_size);

/* Frees the list (a zeroed or finished list is fine). */
void backfill_dates_fini(struct backfill_dates *d);

/*
 * The resume key of a backfill over dates of sport: "<sport>:<first>..<last>:
 * <n>:<first 16 hex of the SHA-256 of the dates>". Two invocations over the
 * same dates have the same key. out needs 64 bytes.
 */
void backfill_run_key(const char *sport, const struct backfill_dates *d, char *out,
                      size_t out_size);

/*
 * True when the settled count going from before to after (of total)
 * crosses pct percent: before/total < pct/100 <= after/total. Pure.
 */
bool backfill_progress_crossed(int before, int after, int total, int pct);

/*
 * Estimated time left, ms: the wall time per date settled in this session
 * (elapsed_ms / settled, which already reflects the parallelism) times the
 * dates left. -1 when nothing settled yet, 0 when nothing is left. Pure.
 */
int64_t backfill_eta_ms(int64_t elapsed_ms, int settled, int left);

/* ms as "2h03m", "4m05s" or "12s" into out (16 bytes). */
void backfill_fmt_duration(int64_t ms, char *out, size_t out_size);

/*
 * The command that retries the failed dates: "statline-backfill --sport S
 * --dates D1,D2 <extra>" into out. Returns 0 or -ENAMETOOLONG.
 */
int backfill_retry_command(const char *sport, const char *const *dates, int n, const char *extra,
                           char *out, size_t out_size);

/*
 * The player lines of a box score document: v2 (resultSets PlayerStats
 * rowSet) or v3 (boxScoreTraditional.homeTeam/awayTeam.players). Returns the
 * count or -EBADMSG for another shape. doc is only read.
 */
int backfill_count_players(const struct cJSON *doc);

/* One validation check of a date. */
struct backfill_check {
        const char *name; /* games, boxscore_games, player_rows, required_nulls */
        int64_t expected, actual;
        bool passed;
        char detail[160];
};

#define BACKFILL_MAX_CHECKS 4

/* What validation needs to know about the date's run. */
struct backfill_validate_in {
        const char *sport, *date, *run_id, *correlation_id; /* run_id may be NULL */
        const char *blob_dir;                               /* NULL or "": no player_rows check */
        int games, games_final; /* from the scoreboard (ops.scrape_runs), -1 = unknown */
};

/*
 * Validates one date against raw: raw.games rows = the scoreboard's games;
 * dates with box scores in raw = the scoreboard's Final games; raw player
 * lines = the lines in the stored box score documents (read from blob_dir);
 * no NULL in the required stats of a player who played. Writes each check
 * to ops.data_quality and into checks (at most BACKFILL_MAX_CHECKS; count in
 * *n). Returns the number of failed checks (>= 0) or an sl_pg errno with
 * the reason in errstr.
 */
int backfill_validate(struct sl_pg *pg, const struct backfill_validate_in *in,
                      struct backfill_check *checks, int *n, char *errstr, size_t errstr_size);

#endif
