#ifndef ANALYTICS_ANALYTICS_H
#define ANALYTICS_ANALYTICS_H

/*
 * statline-analytics' handler: a raw.completed envelope in, rows in
 * analytics.* and one analytics.completed event out (README.md here).
 *
 *   1. read the tables and affected entities of the event; the trigger
 *      registry maps each raw table to the processors it feeds (fan-out); a
 *      processor no table of the event triggers is not run (smart skip, no
 *      log row); an event that triggers nothing gets one 'skipped' log row
 *      (processor "trigger_registry") and publishes nothing;
 *   2. per triggered processor, the dependency check: each upstream table
 *      (critical or optional) must have rows for the date / games, and the
 *      newest of them must not be older than the WARN / FAIL thresholds;
 *      a critical table missing (or FAIL-stale) makes the whole event
 *      retriable (-EAGAIN, nothing written but a 'failed' log row);
 *   3. in ONE transaction: claim the idempotency key, run each processor's
 *      INSERT ... SELECT ... ON CONFLICT DO UPDATE (limited to the date and
 *      the entity ids), one ops.pipeline_execution_log row per processor,
 *      the analytics.completed envelope into ops.outbox;
 *   4. after COMMIT publish it, flush, mark the outbox row published.
 *
 * With coalesce.window_ms > 0 a ready event with a correlation id and a
 * game date stops after step 2: it is merged into the PostgreSQL batch row
 * of its (correlation, sport, date) and acked; analytics_svc_tick() runs a
 * due batch through steps 2-4 once, deleting the row in step 3's
 * transaction (README.md "Coalescing").
 *
 * The pure parts (registry, routing, the event reader, dependency
 * evaluation, entity filters, idempotency key, envelope builder) are
 * exported for the unit tests; analytics_svc_open()/analytics_handle() do I/O.
 * Threads: one struct analytics_svc per service loop (single-threaded).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sl/phase.h>
#include <sl/bus.h>
#include <sl/svc.h>

struct sl_envelope;
struct sl_http;
struct sl_pg;
struct pg_result; /* libpq's PGresult */

#define ANALYTICS_MAX_TABLES   16   /* tables read from one raw.completed */
#define ANALYTICS_MAX_DEPS     6    /* upstream tables of one processor */
#define ANALYTICS_MAX_TRIGGERS 4    /* raw tables that trigger one processor */
#define ANALYTICS_MAX_ENTITIES 1000 /* entities of one kind in an event */
#define ANALYTICS_ERROR_MAX    1000 /* bytes of an error_message in the execution log */
#define ANALYTICS_DEFAULT_EMAX 1000 /* affected entities published before "whole date" */

/* Configuration: SL_SVC_OPTS plus the keys of main.c's table (README.md). */
struct analytics_cfg {
        struct sl_svc_cfg svc;     /* the runtime's shared options */
        struct sl_phase_cfg phase; /* pg.*, publish.timeout_ms (SL_PHASE_OPTS) */
        int max_entities;          /* affected entities published before "whole date" */
        int64_t stale_warn_s;      /* newest upstream row older than this: WARN (logged) */
        int64_t stale_fail_s; /* ... older than this: a critical dependency counts as missing */
        int64_t coalesce_window_ms; /* merge ready events of one (correlation, sport, date)
                                       arriving within this many ms into one run; 0 = off */
};

/* One upstream table of a processor. */
struct analytics_dep {
        const char *table; /* "raw.games" */
        bool critical;     /* missing -> the processor cannot run (-EAGAIN) */
};

/* A processor: what triggers it, what it reads, the one statement it runs. */
struct analytics_processor {
        const char *name;                              /* "player_game_summary" */
        const char *target;                            /* "analytics.player_game_summary" */
        const char *triggers[ANALYTICS_MAX_TRIGGERS];  /* raw tables, NULL-terminated */
        struct analytics_dep deps[ANALYTICS_MAX_DEPS]; /* table NULL ends the list */
        bool needs_date;                               /* upcoming_*: no date, nothing to do */
        const char *sql; /* $1 date, $2 game ids text[], $3 player ids bigint[], $4 team ids
                            bigint[] (NULL = no filter); RETURNING inserted?, game, player, team */
        /*
         * A C processor (NULL for SQL ones): computes and writes in the open
         * transaction from the same four parameters, and hands back a result
         * of the same shape as sql's RETURNING in *res. Returns 0 or a
         * negative errno (-EBADMSG for data that contradicts itself) with
         * errstr.
         */
        int (*run)(struct sl_pg *pg, const char *const params[4], struct pg_result **res,
                   char *errstr, size_t errstr_size);
};

/* The entities of one kind, as a PostgreSQL array literal "{1,2}" (NULL when none). */
struct analytics_ids {
        char *literal; /* owned, NULL = no filter on this kind */
        size_t n;
};

/* What raw.completed says; strings are copies (owned) or borrowed from the envelope. */
struct analytics_event {
        const char *tables[ANALYTICS_MAX_TABLES]; /* borrowed from env->payload */
        size_t ntables;
        const char *upstream; /* data version: payload blob sha, else idempotency key, else event
                                 id (borrowed) */
        char game_date[11];   /* "" when the event has none */
        struct analytics_ids games, players, teams;
};

/* The result of a dependency check of one processor. */
struct analytics_dep_obs {
        int64_t rows; /* upstream rows for the date / games */
        double age_s; /* age of the newest of them, seconds (ignored when rows == 0) */
};

struct analytics_dep_result {
        bool met;                   /* every critical dependency present and not FAIL-stale */
        char missing[512];          /* PostgreSQL text[] literal of what is missing or stale */
        size_t nmissing;            /* entries in missing */
        char critical_missing[256]; /* human text of the critical ones, "" when met */
        bool absent;                /* a critical dependency has no row at all (not just stale) */
};

/* Counts of one processor's upsert: rows written = inserted + updated. */
struct analytics_proc_result {
        const struct analytics_processor *proc; /* static */
        int64_t inserted, updated;
};

/* The service state; zero it, then analytics_svc_open(). */
struct analytics_svc {
        const struct analytics_cfg *cfg;             /* borrowed, outlives the service */
        struct sl_phase ph;                          /* PostgreSQL, bus, readiness (sl/phase.h) */
        uint64_t runs, duplicates, deferred, failed; /* counters since start */
        uint64_t coalesced;                          /* events merged into a batch */
        int64_t next_batch_ms, next_prune_ms;        /* monotonic: next batch claim / prune */
};

/* ---- pure helpers (unit-tested) ------------------------------------------------------ */

/* The i-th processor of the NBA registry, NULL past the end. */
const struct analytics_processor *analytics_processor_at(size_t i);
/*
 * The i-th processor of sport's registry ("nba": the one above; "nhl":
 * nhl_team_game_stats, nhl_team_aggregates), NULL past the end or for a
 * sport without processors (its events are skipped: nothing triggered).
 */
const struct analytics_processor *analytics_sport_processor_at(const char *sport, size_t i);
/* The processor called name in any sport's registry, or NULL. */
const struct analytics_processor *analytics_processor_find(const char *name);

/*
 * Trigger registry: sets want[i] for every processor i (registry order)
 * that one of tables[0..ntables) triggers. Returns how many are set.
 * analytics_route() is the NBA registry; analytics_route_sport() sport's.
 */
size_t analytics_route(const char *const *tables, size_t ntables, bool *want, size_t nwant);
size_t analytics_route_sport(const char *sport, const char *const *tables, size_t ntables,
                             bool *want, size_t nwant);

/*
 * The NHL C processors (nhl.c; struct analytics_processor.run): team game
 * stats from raw.nhl_plays via sl_nhl_game_metrics(), and the season
 * aggregates of the affected teams via sl_nhl_agg_add().
 */
int analytics_nhl_game_stats(struct sl_pg *pg, const char *const params[4], struct pg_result **res,
                             char *errstr, size_t errstr_size);
int analytics_nhl_aggregates(struct sl_pg *pg, const char *const params[4], struct pg_result **res,
                             char *errstr, size_t errstr_size);

/*
 * Reads a raw.completed envelope into ev: payload.tables[] (each object's
 * "name" or "table", a "<schema>.<table>" string), the upstream version
 * (payload "blob_sha256" or "source_blob_sha256", else the idempotency key,
 * else the event id), the game date, and the affected entities (kinds game,
 * player, team; ids checked: game ids 10 digits, player/team ids 1-19 digits;
 * other kinds ignored). Release with analytics_event_fini(), also on failure.
 * Returns 0 or -EBADMSG with the reason in errstr.
 */
int analytics_event_parse(const struct sl_envelope *env, struct analytics_event *ev, char *errstr,
                          size_t errstr_size);
void analytics_event_fini(struct analytics_event *ev);

/*
 * Dependency evaluation for proc from one observation per dependency
 * (obs[i] for proc->deps[i]): a table with no rows is missing; one whose
 * newest row is older than fail_s is stale (counts as missing when critical),
 * older than warn_s is noted. res->missing lists "raw.x" (missing) and
 * "raw.x (stale NNN s)" entries as a text[] literal. Pure.
 */
void analytics_deps_eval(const struct analytics_processor *proc,
                         const struct analytics_dep_obs *obs, int64_t warn_s, int64_t fail_s,
                         struct analytics_dep_result *res);

/*
 * The idempotency key of a run: "analytics:<sport>:<date or ->:<16 hex>"
 * where the hex is the start of SHA-256 over the processors run, the entity
 * filters and the upstream data version. Same inputs, same key; any
 * difference, another key. Returns 0 or -ENAMETOOLONG.
 */
int analytics_idem_key(char *out, size_t out_size, const char *sport,
                       const struct analytics_event *ev, const bool *want, size_t nwant);

/*
 * Builds analytics.completed, a child of parent: game_date from ev (may be
 * ""), entities as given (kinds[i], ids[i], n of them; none when n == 0),
 * idempotency key key, payload {"processors": [{"name", "rows", "inserted",
 * "updated"}], "game_date", "rows"}. Returns the envelope
 * (sl_envelope_free()) or NULL on a bad argument.
 */
struct sl_envelope *analytics_completed_new(const struct sl_envelope *parent, const char *key,
                                            const char *game_date,
                                            const struct analytics_proc_result *res, size_t nres,
                                            const char *const *kinds, const char *const *ids,
                                            size_t n);

/*
 * Coalescing (README.md "Coalescing"): true when a ready event may be merged
 * into a batch: cfg->coalesce_window_ms > 0, the envelope has a correlation
 * id, a sport and a game date. Pure.
 */
bool analytics_coalesce_eligible(const struct analytics_cfg *cfg, const struct sl_envelope *env);

/*
 * Sets want[i] (i < nwant, sport's registry order) for each processor named
 * in names, a PostgreSQL text[] literal "{a,b}" of processor names (as a
 * batch row stores them). Returns how many are set, or -EINVAL for a
 * malformed literal or a name not in sport's registry. Pure.
 */
int analytics_want_from_names(const char *sport, const char *names, bool *want, size_t nwant);

/* ---- the service ------------------------------------------------------------------- */

/*
 * Connects to PostgreSQL and applies the migrations (advisory lock). bus and
 * http are borrowed (http may be NULL). Returns 0 or -errno with errstr; on
 * failure call analytics_svc_close() anyway.
 */
int analytics_svc_open(struct analytics_svc *svc, const struct analytics_cfg *cfg,
                       struct sl_bus *bus, struct sl_http *http, char *errstr, size_t errstr_size);
/* Closes the connection. Safe on a zeroed or failed svc. */
void analytics_svc_close(struct analytics_svc *svc);
/*
 * Loop callback: probes PostgreSQL every 5 s (1 s while down), drives
 * /readyz; runs the due coalesced batches (every min(window, 250) ms, every
 * 5 s with coalescing off: left-over batches still run), at most 4 a call,
 * and prunes batch members older than 14 days hourly. Returns 0 (a batch
 * that failed is retried later, logged "analytics.batch.retry").
 */
int analytics_svc_tick(struct analytics_svc *svc);

/*
 * The bus handler for raw.completed; opaque is the struct analytics_svc.
 * Returns 0 (processed and published, nothing triggered, or merged into a
 * coalesced batch in PostgreSQL), -EEXIST (this run was done before, or the
 * event was merged into a batch before), -EBADMSG (poison payload), -EAGAIN (a critical
 * dependency is missing: retry later) or another retriable errno
 * (PostgreSQL / broker trouble; nothing kept).
 */
int analytics_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque);

#endif
