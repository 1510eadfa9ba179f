#ifndef SCRAPER_H
#define SCRAPER_H

/*
 * statline-scraper: fetches the documents of one game date (scoreboard, the
 * box scores of its Final games, injuries, props, optionally the league game
 * log), stores each unchanged in the content-addressed blob store, records
 * every fetch in ops.scraper_execution_log and publishes one
 * scraper.completed event per new document (services/scraper/README.md).
 *
 * The pure parts (the duplicate decisions, reading game ids and entities out
 * of payloads) are separate functions so unit tests need no I/O; the rest is
 * the service glue called by sl_svc_main() (sl/svc.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sl/svc.h>

#include "sources.h"

struct cJSON;
struct sl_bus;
struct sl_bus_msg;
struct sl_envelope;
struct sl_metric;
struct sl_pg;
struct scraper_fetcher;

/* The configuration (main.c's option table writes it). Strings are owned by sl/cfg. */
struct scraper_cfg {
        struct sl_svc_cfg svc;     /* the shared SL_SVC_OPTS */
        const char *pg_dsn;        /* secret */
        const char *pg_migrations; /* migrations directory applied at start */
        const char *base_url;      /* source.base_url, no credentials (refused) */
        const char *username;      /* HTTP basic auth, "" = none */
        const char *password;      /* secret */
        const char *scoreboard;    /* "v2" | "v3" */
        const char *boxscore;      /* "v2" | "v3" */
        const char *sources;       /* families: "scoreboard,boxscore,injuries,props" */
        const char *sport;         /* scrape.sport: "nba" (NULL/"" too) or "nhl" */
        const char *nhl_sources;   /* scrape.nhl_sources: "schedule,boxscore,playbyplay" */
        const char *injuries_url;  /* "" = registry template against base_url */
        const char *props_url;     /* "" = registry template against base_url */
        const char *blob_dir;
        const char *date;     /* scrape.date, "" = the current date */
        const char *now_path; /* path/URL answering {"now": date}; "" = local clock */
        const char *user_agent;
        const char *fetch_delays_ms; /* backoff between fetch attempts, ms */
        bool once;                   /* scrape one date and exit */
        bool timer;                  /* service mode: scrape on the clock (scrape.interval_s) */
        bool triggers;               /* service mode: consume <prefix>.<sport>.scrape.requested */
        int interval_s;              /* service mode: time between scrapes */
        int lookback_days;           /* service mode: also re-scrape this many days before */
        int fetch_attempts;
        int publish_timeout_ms; /* wait for broker confirmation */
        int64_t max_bytes;
        int64_t connect_timeout_ms;
        int64_t timeout_ms;
        int64_t retry_after_max_ms;
        int64_t rate_interval_ms;
        int64_t rate_jitter_ms;
        int64_t utc_offset_min; /* the league's clock: "today" is UTC plus this */
};

#define SCRAPER_MAX_FAILURES 16 /* failure lines kept for the summary */

/* Outcome of one scrape run (one date). */
struct scraper_summary {
        char date[11];
        char correlation_id[37];
        char root_event_id[37];
        int games, games_final; /* from the scoreboard */
        int fetched;            /* documents fetched successfully */
        int stored;             /* new documents: blob stored, event published, logged */
        int unchanged;          /* fetched, same bytes as last time: no event */
        int skipped;            /* not fetched: Final box score already fetched */
        int failed;             /* anything that went wrong (fetch, blob, publish, log) */
        int requests;           /* HTTP requests made, retries included */
        int64_t bytes;          /* bytes fetched */
        int64_t duration_ms;
        bool aborted;                             /* a stop signal cut the run short */
        char failures[SCRAPER_MAX_FAILURES][256]; /* "<scraper> <key>: <error>" */
        int n_failures;
};

/* Service state, passed to the svc callbacks. main.c zeroes it and sets cfg. */
struct scraper_ctx {
        const struct scraper_cfg *cfg;        /* borrowed */
        struct sl_svc *svc;                   /* borrowed, from init */
        struct sl_pg *pg;                     /* owned */
        struct scraper_fetcher *fetcher;      /* owned */
        const struct scraper_source *srcs[8]; /* enabled sources in run order */
        int n_srcs;
        char topic[256];              /* <prefix>.nba.scraper.completed */
        char trigger_topic[256];      /* <prefix>.nba.scrape.requested */
        struct sl_bus *trigger_bus;   /* owned; NULL when triggers are off or in once mode */
        int64_t trigger_warn_ms;      /* monotonic time of the last trigger poll warning */
        int64_t next_run_ms;          /* monotonic; service mode */
        bool done;                    /* once mode: the run happened */
        bool once_failed;             /* once mode: main exits 1 */
        struct sl_metric *m_fetches;  /* sl_scraper_documents_total{scraper,status} */
        struct sl_metric *m_requests; /* sl_scraper_requests_total{scraper} */
        struct sl_metric *m_bytes;    /* sl_scraper_bytes_total{scraper} */
};

/* ---- pure decisions ----------------------------------------------------------- */

/*
 * Whether to fetch a document of src: a document that cannot change (a
 * Final game's box score) is not fetched again once a successful fetch of
 * it is recorded (fetched_before). Returns true to fetch.
 */
bool scraper_should_fetch(const struct scraper_source *src, bool fetched_before);

/*
 * True if a payload with digest sha is the same as the last stored one of
 * its source and key (last_sha, NULL or "" when none): no new event then.
 */
bool scraper_is_unchanged(const char *sha, const char *last_sha);

/* ---- reading payloads ------------------------------------------------------------ */

/* One game of a scoreboard. */
struct scraper_game {
        char id[11]; /* "0022400061" */
        bool final;  /* game status 3 */
};

/*
 * The games of a scoreboard document of kind "scoreboard_v2" (resultSets
 * GameHeader: GAME_ID, GAME_STATUS_ID) or "scoreboard_v3" (scoreboard.games:
 * gameId, gameStatus). Writes at most max games to out and returns the total
 * count, or -EBADMSG when the document does not have that shape. doc is
 * only read.
 */
int scraper_scoreboard_games(const struct cJSON *doc, const char *kind, struct scraper_game *out,
                             int max);

/*
 * scraper_scoreboard_games() for every board kind, the NHL schedule
 * ("nhl_schedule": gameWeek[].games[], id and gameState, OFF or FINAL is
 * final) included; for the NHL schedule only the games of gameWeek[] day
 * date when date is not NULL (a schedule response covers a week). Same
 * returns.
 */
int scraper_board_games(const struct cJSON *doc, const char *kind, const char *date,
                        struct scraper_game *out, int max);

/* True if src lists the games of the date (a scoreboard, the NHL schedule). */
bool scraper_is_board(const struct scraper_source *src);

/*
 * Adds the affected entities of a document to env: the game (game_id, when
 * not NULL), every game of a scoreboard or game log, and the players of an
 * injury report or prop list (distinct, in document order). When there
 * would be more than SL_ENVELOPE_MAX_ENTITIES, none is added (an empty list
 * means the whole date). Returns the number added or a negative errno.
 */
int scraper_add_entities(struct sl_envelope *env, const struct scraper_source *src,
                         const struct cJSON *doc, const char *game_id);

/*
 * Today's date in the league's clock (wall_ms shifted by utc_offset_min
 * minutes) as YYYY-MM-DD into out.
 */
void scraper_today(int64_t wall_ms, int64_t utc_offset_min, char out[11]);

/*
 * date plus days (may be negative) as YYYY-MM-DD into out. Returns 0 or
 * -EINVAL (date is not a valid YYYY-MM-DD, or the result is out of range).
 */
int scraper_date_add(const char *date, int days, char out[11]);

/* ---- the service ------------------------------------------------------------------ */

/*
 * Parses the sources list and versions of cfg into ctx->srcs. Returns 0 or
 * -EINVAL with the reason in errstr. Pure (called by scraper_svc_init).
 */
int scraper_pick_sources(struct scraper_ctx *ctx, char *errstr, size_t errstr_size);

/*
 * Parses a families list ("scoreboard,boxscore,injuries,props,schedule", any
 * subset, boxscore only with scoreboard) into srcs (at most 8) in run order,
 * with the endpoint versions scoreboard_ver / boxscore_ver ("v2"/"v3"), and
 * the count into *n. Returns 0 or -EINVAL with the reason in errstr (what
 * is the prefix of the message, e.g. "scrape.sources"). Pure.
 */
int scraper_parse_sources(const char *list, const char *scoreboard_ver, const char *boxscore_ver,
                          const char *what, const struct scraper_source *srcs[8], int *n,
                          char *errstr, size_t errstr_size);

/*
 * scraper_parse_sources() for sport: "nba" (or NULL) is the function above;
 * "nhl" takes the families schedule, boxscore, playbyplay (any subset, the
 * per-game ones only with schedule; the versions are ignored). Another
 * sport: -EINVAL. Pure.
 */
int scraper_parse_sources_sport(const char *sport, const char *list, const char *scoreboard_ver,
                                const char *boxscore_ver, const char *what,
                                const struct scraper_source *srcs[8], int *n, char *errstr,
                                size_t errstr_size);

/* ---- triggers -------------------------------------------------------------------- */

#define SCRAPER_TRIGGER_TYPE  "scrape.requested"
#define SCRAPER_TRIGGER_PHASE "scrape" /* topic <prefix>.<sport>.scrape.requested */

/* A decoded scrape.requested event. */
struct scraper_trigger {
        char date[11];         /* the envelope's game_date, else payload game_date */
        char sources[128];     /* payload sources (string or array), "" = scrape.sources */
        char requested_by[64]; /* payload requested_by, "" when absent */
};

/*
 * Decodes a scrape.requested envelope (borrowed) into out: type
 * scrape.requested, sport nba, a valid date, and optional "sources" (a
 * comma-separated string or an array of strings) and "requested_by"
 * (string). Returns 0 or -EBADMSG with the reason in errstr. Pure.
 */
int scraper_trigger_parse(const struct sl_envelope *env, struct scraper_trigger *out, char *errstr,
                          size_t errstr_size);

/* scraper_trigger_parse() for a scraper of sport (the envelope's sport must match). */
int scraper_trigger_parse_sport(const struct sl_envelope *env, const char *sport,
                                struct scraper_trigger *out, char *errstr, size_t errstr_size);

/*
 * Writes "<prefix>.<sport>.scrape.requested" into out. Returns 0 or
 * -ENAMETOOLONG. prefix NULL means "statline".
 */
int scraper_trigger_topic(char *out, size_t out_size, const char *prefix, const char *sport);

/*
 * The sl_bus handler of the trigger topic (opaque is the struct
 * scraper_ctx): scrapes the trigger's date with the trigger's sources under
 * the trigger's correlation id (the run's root event is caused by the
 * trigger), and records the run in ops.scrape_runs. A failed scrape is
 * recorded there and acked (0): the requester decides whether to trigger
 * again. A malformed trigger returns -EBADMSG (dead-lettered).
 */
int scraper_trigger_handler(const struct sl_envelope *env, const struct sl_bus_msg *msg,
                            void *opaque);

/*
 * Scrapes date (YYYY-MM-DD) once: one correlation id for the run, every
 * event caused by the run's root envelope. Fills sum. Returns 0 when every
 * document was fetched (or skipped), stored, published and logged, -EIO
 * when something failed (sum says what), -ECANCELED when a stop cut it short.
 */
int scraper_run_date(struct scraper_ctx *ctx, const char *date, struct scraper_summary *sum);

/*
 * scraper_run_date() with the sources srcs (n of them, borrowed) and, when
 * cause is not NULL, cause's correlation id for the run (its root event is
 * caused by cause, borrowed). Same returns.
 */
int scraper_run_date_from(struct scraper_ctx *ctx, const char *date,
                          const struct scraper_source *const *srcs, int n,
                          const struct sl_envelope *cause, struct scraper_summary *sum);

/* Writes the human summary of a run (what `scrape.once` prints). */
void scraper_summary_print(const struct scraper_summary *sum, FILE *out);

/* The sl_svc_def callbacks; ctx is a struct scraper_ctx. */
int scraper_svc_init(struct sl_svc *svc, void *ctx, char *errstr, size_t errstr_size);
int scraper_svc_tick(struct sl_svc *svc, void *ctx);
void scraper_svc_fini(struct sl_svc *svc, void *ctx);

#endif
