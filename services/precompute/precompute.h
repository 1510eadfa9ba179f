#ifndef PRECOMPUTE_PRECOMPUTE_H
#define PRECOMPUTE_PRECOMPUTE_H

/*
 * statline-precompute's handler: an analytics.completed envelope for an
 * as-of date D in, five processors' rows in precompute.* and one
 * precompute.completed event out (README.md in this directory).
 *
 *   1. parse the event: D (payload game_date, else the envelope's), the
 *      players named in affected_entities (game and team entities next to
 *      them do not widen the scope; no player entity at all: the whole date);
 *   2. nothing of D changed: an event of game summaries only, every named
 *      game dated D or later (raw.games), is skipped (logged, acked,
 *      nothing published): no row of D reads them (the leakage rule);
 *      dependency check: analytics.player_game_summary must have rows before
 *      D, the newest at most stale_fail_days old (critical; a WARN past
 *      stale_warn_days); the team summaries are optional; D must have games
 *      on the schedule. A failed check skips every processor (logged, acked,
 *      nothing published);
 *   3. in ONE transaction: claim the idempotency key, build the slate (the
 *      players of D's games) and their history (games strictly before D),
 *      run player_daily_cache, player_shot_zone_analysis,
 *      team_defense_zone_analysis, player_composite_factors, ml_feature_store
 *      (each one INSERT ... SELECT ... ON CONFLICT DO UPDATE), write one
 *      execution log row per processor and the event into ops.outbox;
 *   4. after COMMIT publish the event, flush, mark the outbox row published.
 *
 * No feature reads a row dated D or later: every history read is
 * "game_date < D" (the leakage rule; tested by tests/integration/
 * precompute_service.sh, which adds rows on and after D and checks that no
 * precompute row changes).
 *
 * Threads: one struct pc_svc per service loop (single-threaded).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/phase.h>
#include <sl/svc.h>

struct sl_http;
struct sl_pg;

#define PC_FEATURE_VERSION   "v1" /* bump whenever pc_feature_names() changes */
#define PC_NPROCESSORS       5
#define PC_DEFAULT_ENTITIES  1000 /* players listed in precompute.completed before "whole date" */
#define PC_ERROR_MAX         1000 /* bytes of an error_message in the execution log */
#define PC_MAX_PLAYER_FILTER 2000 /* player entities honoured in an incoming event */

/* Configuration: SL_SVC_OPTS plus the keys of main.c's table (README.md). */
struct pc_cfg {
        struct sl_svc_cfg svc;
        struct sl_phase_cfg phase; /* pg.*, publish.timeout_ms (SL_PHASE_OPTS) */
        int max_entities;          /* players listed before "whole date" */
        int stale_warn_days;       /* newest prior analytics row older than this: WARN */
        int stale_fail_days;       /* ... older than this: dependency failed, skip */
};

/* The fields of an analytics.completed event precompute needs. */
struct pc_request {
        char game_date[11];  /* the as-of date D, "YYYY-MM-DD" */
        char *player_filter; /* "{1,2,3}" (a bigint[] literal, heap) or NULL: whole date */
        size_t nplayers;     /* ids in player_filter */
        char upstream[65];   /* SHA-256 hex of the upstream event's idempotency key (or event id) */
        char entities[65];   /* SHA-256 hex of the sorted player filter ("" -> of "*") */
};

/*
 * What committed runs computed from (pc_seen_*, the "inputs unchanged" skip).
 * A precompute row of date D for player P is a function of P's slate row
 * (game, team, opponent, home) and of the history before D (the analytics
 * game summaries, logged in ops.data_changes: migration 0023), nothing
 * else. A run whose every slate player was computed by a committed run of D
 * from the same slate row and the same history fingerprint has nothing new
 * to compute: it skips the processors and still publishes
 * precompute.completed (the downstream may depend on what precompute does
 * not read: injuries, lines). Kept per process for PC_SEEN_DATES dates
 * (least recently used goes); a restart computes once more.
 */
#define PC_SEEN_DATES 8

struct pc_seen_player {
        int64_t id;
        uint64_t slate; /* hash of the player's slate row */
};

struct pc_seen {
        char date[11];            /* "" = free slot */
        char hist[96];            /* history fingerprint the players were computed from */
        struct pc_seen_player *p; /* sorted by id, heap */
        size_t n, cap;
        uint64_t used; /* LRU tick */
};

struct pc_seen_cache {
        struct pc_seen e[PC_SEEN_DATES];
        uint64_t tick;
};

/*
 * True when every one of the n players (sorted by id, n > 0) was computed
 * for date from the same slate row and history fingerprint.
 */
bool pc_seen_covered(struct pc_seen_cache *c, const char *date, const char *hist,
                     const struct pc_seen_player *p, size_t n);
/*
 * After a committed run: date's entry gets the players (merged when its
 * history fingerprint is the same, else replaced).
 */
void pc_seen_record(struct pc_seen_cache *c, const char *date, const char *hist,
                    const struct pc_seen_player *p, size_t n);
void pc_seen_fini(struct pc_seen_cache *c);

/* The service state; zero it, then pc_svc_open(). */
struct pc_svc {
        const struct pc_cfg *cfg;  /* borrowed */
        struct sl_phase ph;        /* PostgreSQL, bus, readiness (sl/phase.h) */
        struct pc_seen_cache seen; /* inputs of committed runs */
        uint64_t completed, skipped, duplicates, failed; /* counters since start */
        uint64_t unchanged;                              /* runs with inputs unchanged */
};

/* ---- pure helpers (unit-tested) ------------------------------------------------------ */

/* The processors in run order: "player_daily_cache", ... (PC_NPROCESSORS names). */
const char *pc_processor_name(size_t i);

/*
 * The feature list of PC_FEATURE_VERSION, in vector order (the i-th name is
 * the i-th element of ml_feature_store.features). *n gets the count.
 * Registered in precompute.ml_feature_versions at start; a changed list
 * under the same version refuses to start.
 */
const char *const *pc_feature_names(size_t *n);

/* The feature names as a text[] literal "{a,b,...}" (heap, free()). */
char *pc_feature_names_literal(void);

/* The SQL of the ml_feature_store processor (to check that it names every feature). */
const char *pc_feature_sql(void);

/*
 * Extracts the request from an analytics.completed envelope: game_date from
 * the payload, else the envelope (required, a real calendar date); player
 * entities (ids of digits only, at most PC_MAX_PLAYER_FILTER, de-duplicated
 * and sorted; entities of other kinds are ignored); no player entity (or
 * more than PC_MAX_PLAYER_FILTER) means the whole date. Returns 0 or -EBADMSG with the reason in
 * errstr; free with pc_request_fini() either way.
 */
int pc_request_parse(const struct sl_envelope *env, struct pc_request *req, char *errstr,
                     size_t errstr_size);
void pc_request_fini(struct pc_request *req);

/*
 * The idempotency key "precompute:<sport>:<date>:<entities[0:16]>:<upstream[0:16]>"
 * into out: one per (phase, sport, date, entity set, upstream event).
 * Returns 0 or -ENAMETOOLONG.
 */
int pc_idem_key(char *out, size_t out_size, const char *sport, const struct pc_request *req);

/* True if s is a valid calendar date "YYYY-MM-DD" (1900..2199). */
bool pc_date_ok(const char *s);

/* ---- the service ------------------------------------------------------------------- */

/*
 * Connects, migrates (advisory lock), registers the feature version (fails
 * with -EINVAL if PC_FEATURE_VERSION is stored with other names). Returns 0
 * or a negative errno with the reason in errstr; call pc_svc_close() anyway.
 */
int pc_svc_open(struct pc_svc *svc, const struct pc_cfg *cfg, struct sl_bus *bus,
                struct sl_http *http, char *errstr, size_t errstr_size);
/* Frees what svc owns. Safe on a zeroed or failed svc. */
void pc_svc_close(struct pc_svc *svc);
/* Loop callback: PostgreSQL readiness probe (as statline-raw). Always 0. */
int pc_svc_tick(struct pc_svc *svc);

/*
 * The bus handler for analytics.completed; opaque is the struct pc_svc.
 * Returns 0 (computed and published, skipped on a failed dependency check,
 * or an unpublished event re-published), -EEXIST (this event was handled
 * before), -EBADMSG (poison: bad payload or data) or a retriable errno.
 */
int pc_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque);

/*
 * pc_handle() for an event of sport "nhl" (nhl.c): analytics.nhl_team_ratings
 * (z-scores, TPI; sl_nhl_ratings) of every season with team games on D, as of
 * D (D's games included), and one precompute.completed. Same returns.
 */
int pc_nhl_handle(struct pc_svc *svc, const struct sl_envelope *env);

#endif
