#ifndef RAW_PARSERS_H
#define RAW_PARSERS_H

/*
 * Raw-phase parsers: bytes of one scraped payload in, a validated batch of
 * rows for the raw.* tables out. Pure: no I/O besides the bytes given, no
 * globals, no logging. A payload that fails any check gives -EBADMSG with a
 * precise reason and no batch at all (nothing partial). The payload formats,
 * the kinds, the column mapping and every check are described in
 * docs/parsers.md.
 *
 * A batch is a list of tables; each has a name ("raw.player_boxscores"),
 * column names, and rows of text cells in PostgreSQL input syntax, where
 * NULL means SQL NULL: exactly what COPY ... FROM STDIN (text format) or a
 * batched parameterized INSERT needs.
 *
 * Thread rules: no shared state; distinct batches may be used from distinct
 * threads. cJSON records its last parse error position in a process global
 * (unused here), a benign race only.
 */

#include <stdbool.h>
#include <stddef.h>

struct sl_buf;
struct raw_batch;
struct raw_table;

/* Payload kinds. Names (raw_kind_name()) are stable: they appear in logs and DLQ reasons. */
enum raw_kind {
        RAW_KIND_UNKNOWN = 0,
        RAW_KIND_BOXSCORE_V2,   /* "boxscore_v2": boxscoretraditionalv2 (resultSets) */
        RAW_KIND_BOXSCORE_V3,   /* "boxscore_v3": boxscoretraditionalv3 */
        RAW_KIND_SUMMARY_V2,    /* "summary_v2": boxscoresummaryv2 */
        RAW_KIND_PBP_V2,        /* "playbyplay_v2": playbyplay / playbyplayv2 */
        RAW_KIND_SCOREBOARD_V2, /* "scoreboard_v2": scoreboardV2 */
        RAW_KIND_SCOREBOARD_V3, /* "scoreboard_v3": scoreboardv3 */
        RAW_KIND_GAME_LOG,      /* "league_game_log": leaguegamelog, team (T) or player (P) */
        RAW_KIND_GAME_FINDER,   /* "league_game_finder": leaguegamefinder, team or player */
        RAW_KIND_INJURIES,      /* "injuries": statline injury report (docs/parsers.md) */
        RAW_KIND_PROPS,         /* "props": statline player-prop lines (docs/parsers.md) */
        RAW_KIND_NHL_PBP,       /* "nhl_playbyplay": api-web.nhle.com gamecenter play-by-play */
        RAW_KIND_NHL_BOXSCORE,  /* "nhl_boxscore": api-web.nhle.com gamecenter boxscore */
        RAW_KIND_NHL_SCHEDULE,  /* "nhl_schedule": api-web.nhle.com schedule/{date} */
        RAW_KIND_ODDS,          /* "odds": The Odds API v4 h2h moneylines (parse_odds.c) */
        RAW_KIND_COUNT
};

/* Default caps (struct raw_opts, zero fields). */
#define RAW_DEFAULT_MAX_BYTES  (16u * 1024 * 1024) /* payload bytes */
#define RAW_DEFAULT_MAX_VALUES 2000000             /* JSON values (bounds cJSON memory) */
#define RAW_DEFAULT_MAX_ROWS   50000               /* rows per table */
#define RAW_DEFAULT_MAX_STR    256                 /* bytes per string value, after trimming */
#define RAW_MAX_DEPTH          64                  /* JSON nesting */
#define RAW_MAX_COLS           128                 /* headers per v2 result set */

/* Caps for one parse. All-zero means the defaults above. */
struct raw_opts {
        size_t max_bytes;  /* input length cap; larger input is refused unread */
        size_t max_values; /* JSON values in the document */
        size_t max_rows;   /* rows per output table, and entries per input list */
        size_t max_str;    /* bytes of one string value */
};

/*
 * Parses len bytes at buf (need not be NUL-terminated; only read) as the
 * payload of source. source is a kind name ("boxscore_v2"), a family name
 * from the scraper's source registry ("boxscore", "scoreboard", "schedule",
 * "summary", "playbyplay", "gamelog", "injuries", "props"), or NULL/""/"auto"
 * to detect the kind from the payload; with a name, the detected kind must
 * belong to it. opts may be NULL (defaults).
 * Returns 0 and sets *out (free with raw_batch_free()); -EBADMSG with a
 * NUL-terminated reason in errstr (truncated to errstr_size) and *out = NULL
 * for any bad payload; -EINVAL if buf or out is NULL or source names no kind.
 * Safe on any input.
 */
int raw_parse(const char *source, const char *buf, size_t len, const struct raw_opts *opts,
              struct raw_batch **out, char *errstr, size_t errstr_size);

/* Frees a batch and every string in it. NULL is a no-op. */
void raw_batch_free(struct raw_batch *batch);

/* Stable name of a kind ("boxscore_v2"); "unknown" for RAW_KIND_UNKNOWN or out of range. */
const char *raw_kind_name(enum raw_kind kind);

/* The kind detected for the batch. */
enum raw_kind raw_batch_kind(const struct raw_batch *batch);

/*
 * The single date of the batch ("YYYY-MM-DD"): set when every row that has a
 * game_date or report_date column agrees on it, "" otherwise (box scores and
 * play-by-play carry no date). Owned by the batch.
 */
const char *raw_batch_date(const struct raw_batch *batch);

/* Number of tables in the batch (a kind always yields the same tables, possibly with 0 rows). */
size_t raw_batch_ntables(const struct raw_batch *batch);

/* The i-th table (i < raw_batch_ntables()), owned by the batch; NULL if out of range. */
const struct raw_table *raw_batch_table(const struct raw_batch *batch, size_t i);

/* The table named name ("raw.games"), owned by the batch, or NULL if the batch has none. */
const struct raw_table *raw_batch_find(const struct raw_batch *batch, const char *name);

/* Accessors of a table; all strings are owned by the batch and live until raw_batch_free(). */
const char *raw_table_name(const struct raw_table *t);
size_t raw_table_ncols(const struct raw_table *t);
size_t raw_table_nrows(const struct raw_table *t);
/* Column name, or NULL if col >= ncols. */
const char *raw_table_col_name(const struct raw_table *t, size_t col);
/* Index of the column named name, or -1. */
int raw_table_col_index(const struct raw_table *t, const char *name);
/* Cell text (PostgreSQL input syntax), or NULL for SQL NULL or when out of range. */
const char *raw_table_cell(const struct raw_table *t, size_t row, size_t col);
/*
 * The row's cells as an array of ncols pointers (NULL = SQL NULL), ready for
 * PQexecParams paramValues. Owned by the batch; NULL if row is out of range.
 */
const char *const *raw_table_row(const struct raw_table *t, size_t row);

/*
 * Appends row as one line of COPY text format (tab-separated, "\N" for NULL,
 * backslash escapes, '\n' at the end) to out. Returns 0, -E2BIG when out's
 * cap is reached (out may then hold a partial line: reset it), or -EINVAL if
 * row is out of range.
 */
int raw_table_copy_row(const struct raw_table *t, size_t row, struct sl_buf *out);

#endif
