#include "precompute.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/err.h>
#include <sl/http.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/pg.h>
#include <sl/sha256.h>
#include <sl/util.h>

/*
 * The precompute phase's handler (README.md): dependency check -> one
 * transaction (idempotency claim, slate, five processors, execution log,
 * outbox) -> publish -> mark published. The pattern is statline-raw's.
 */

#include "sql.inc"

#define PC_ERRSTR_SIZE 1024

/* ---- processors and features ---------------------------------------------------------- */

/* One processor: its name and its statement (with the number of parameters it takes). */
struct proc {
        const char *name;
        const char *sql;
        int nparams;
};

/* Run order: each reads what the ones before it wrote for D. */
static const struct proc procs[PC_NPROCESSORS] = {
    {"player_daily_cache", SQL_DAILY_CACHE, 1},
    {"player_shot_zone_analysis", SQL_SHOT_ZONE, 1},
    {"team_defense_zone_analysis", SQL_TEAM_DEFENSE, 1},
    {"player_composite_factors", SQL_COMPOSITE, 1},
    {"ml_feature_store", SQL_FEATURES, 4},
};

const char *pc_processor_name(size_t i)
{
        return i < PC_NPROCESSORS ? procs[i].name : NULL;
}

/* Feature layout of PC_FEATURE_VERSION (README.md, "Feature store"). Never reorder: bump. */
static const char *const feature_names[] = {
    "pts_avg_last_5",
    "pts_avg_last_10",
    "pts_avg_season",
    "pts_std_last_10",
    "reb_avg_last_5",
    "reb_avg_last_10",
    "reb_avg_season",
    "ast_avg_last_5",
    "ast_avg_last_10",
    "ast_avg_season",
    "minutes_avg_last_5",
    "minutes_avg_last_10",
    "minutes_avg_season",
    "fga_avg_last_10",
    "usage_avg_last_10",
    "usage_avg_season",
    "games_played_season",
    "days_since_last_game",
    "back_to_back",
    "is_home",
    "fatigue_score",
    "form_score",
    "matchup_score",
    "pace_score",
    "opp_defensive_rating",
    "opp_three_pt_pct_allowed",
    "opp_two_pt_pct_allowed",
    "three_pt_rate",
    "three_pt_pct",
    "two_pt_pct",
    "ft_rate",
};

const char *const *pc_feature_names(size_t *n)
{
        *n = sizeof(feature_names) / sizeof(feature_names[0]);
        return feature_names;
}

char *pc_feature_names_literal(void)
{
        struct sl_buf b;
        size_t n;
        const char *const *names = pc_feature_names(&n);

        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "{");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        sl_buf_puts(&b, ",");
                sl_buf_puts(&b, names[i]); /* [a-z0-9_]: no quoting needed */
        }
        sl_buf_puts(&b, "}");
        return sl_buf_steal(&b);
}

const char *pc_feature_sql(void)
{
        return SQL_FEATURES;
}

/* ---- the request ------------------------------------------------------------------------ */

bool pc_date_ok(const char *s)
{
        static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y, m, d;

        if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return false;
        for (int i = 0; i < 10; i++)
                if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                        return false;
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        m = (s[5] - '0') * 10 + (s[6] - '0');
        d = (s[8] - '0') * 10 + (s[9] - '0');
        if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
                return false;
        if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
                return false;
        return true;
}

/* Digits only, 1..18 of them (fits a bigint). */
static bool player_id_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 18)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static int cmp_id(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;

        return (x > y) - (x < y);
}

/* The player filter of env into req (sorted, unique), or none for a whole-date event. */
static int parse_players(const struct sl_envelope *env, struct pc_request *req, char *errstr,
                         size_t n)
{
        long long *ids;
        size_t k = 0, nplayers = 0;
        struct sl_buf b;

        /*
         * Every precompute row of D is a player's (or his opponent's) and
         * reads only analytics rows of that player before D and D's
         * upcoming context of that player: the players an event names are
         * the rows it can change. Game and team entities next to them (a
         * box score's game, a team context) add nothing; an event that
         * names no player at all (or too many) means the whole date.
         */
        for (size_t i = 0; i < env->n_entities; i++)
                nplayers += strcmp(env->entities[i].kind, "player") == 0;
        if (nplayers == 0 || nplayers > PC_MAX_PLAYER_FILTER)
                return 0;
        ids = sl_xcalloc(nplayers, sizeof(*ids));
        for (size_t i = 0; i < env->n_entities; i++) {
                int64_t v;
                if (strcmp(env->entities[i].kind, "player") != 0)
                        continue;
                if (!player_id_ok(env->entities[i].id) ||
                    sl_parse_i64(env->entities[i].id, 0, INT64_MAX, &v) < 0) {
                        free(ids);
                        return sl_errf(errstr, n, -EBADMSG, "affected_entities[%zu]: bad player id",
                                       i);
                }
                ids[k++] = (long long)v;
        }
        sl_qsort(ids, k, sizeof(*ids), cmp_id);
        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "{");
        for (size_t i = 0; i < k; i++) {
                if (i > 0 && ids[i] == ids[i - 1])
                        continue;
                sl_buf_printf(&b, "%s%lld", req->nplayers ? "," : "", ids[i]);
                req->nplayers++;
        }
        sl_buf_puts(&b, "}");
        req->player_filter = sl_buf_steal(&b);
        free(ids);
        return 0;
}

int pc_request_parse(const struct sl_envelope *env, struct pc_request *req, char *errstr, size_t n)
{
        const cJSON *p = env->payload, *gd = cJSON_GetObjectItemCaseSensitive(p, "game_date");
        const char *date = env->game_date;
        const char *up =
            env->idempotency_key && *env->idempotency_key ? env->idempotency_key : env->event_id;
        int rc;

        memset(req, 0, sizeof(*req));
        if (gd && !cJSON_IsNull(gd)) {
                if (!cJSON_IsString(gd))
                        return sl_errf(errstr, n, -EBADMSG, "payload.game_date: expected a string");
                date = gd->valuestring;
                if (env->game_date[0] && strcmp(env->game_date, date) != 0)
                        return sl_errf(errstr, n, -EBADMSG,
                                       "payload.game_date %.10s differs from the envelope's %s",
                                       date, env->game_date);
        }
        if (!date || !*date)
                return sl_errf(errstr, n, -EBADMSG, "no game_date (payload or envelope)");
        if (!pc_date_ok(date))
                return sl_errf(errstr, n, -EBADMSG, "game_date: not a date: %.16s", date);
        memcpy(req->game_date, date, 10);
        rc = parse_players(env, req, errstr, n);
        if (rc < 0)
                return rc;
        sl_sha256_hex(up, strlen(up), req->upstream);
        if (req->player_filter)
                sl_sha256_hex(req->player_filter, strlen(req->player_filter), req->entities);
        else
                sl_sha256_hex("*", 1, req->entities);
        return 0;
}

void pc_request_fini(struct pc_request *req)
{
        free(req->player_filter);
        req->player_filter = NULL;
}

int pc_idem_key(char *out, size_t out_size, const char *sport, const struct pc_request *req)
{
        int w = snprintf(out, out_size, "precompute:%s:%s:%.16s:%.16s", sport, req->game_date,
                         req->entities, req->upstream);

        return w < 0 || (size_t)w >= out_size ? -ENAMETOOLONG : 0;
}

/* ---- inputs of committed runs (pc_seen_*) ------------------------------------------- */

static int cmp_seen_player(const void *a, const void *b)
{
        int64_t x = ((const struct pc_seen_player *)a)->id;
        int64_t y = ((const struct pc_seen_player *)b)->id;

        return (x > y) - (x < y);
}

static struct pc_seen *seen_find(struct pc_seen_cache *c, const char *date)
{
        for (size_t i = 0; i < PC_SEEN_DATES; i++)
                if (c->e[i].date[0] && strcmp(c->e[i].date, date) == 0)
                        return &c->e[i];
        return NULL;
}

bool pc_seen_covered(struct pc_seen_cache *c, const char *date, const char *hist,
                     const struct pc_seen_player *p, size_t n)
{
        struct pc_seen *e = seen_find(c, date);

        if (!e || n == 0 || strcmp(e->hist, hist) != 0)
                return false;
        e->used = ++c->tick;
        for (size_t i = 0; i < n; i++) {
                const struct pc_seen_player *q =
                    sl_bsearch(&p[i], e->p, e->n, sizeof(*e->p), cmp_seen_player);
                if (!q || q->slate != p[i].slate)
                        return false;
        }
        return true;
}

void pc_seen_record(struct pc_seen_cache *c, const char *date, const char *hist,
                    const struct pc_seen_player *p, size_t n)
{
        struct pc_seen *e = seen_find(c, date);

        if (!e) { /* a free slot, else the least recently used */
                e = &c->e[0];
                for (size_t i = 0; i < PC_SEEN_DATES && e->date[0]; i++)
                        if (!c->e[i].date[0] || c->e[i].used < e->used)
                                e = &c->e[i];
                e->n = 0;
                e->hist[0] = '\0';
        }
        if (strlen(hist) >= sizeof(e->hist)) { /* cannot happen; never covered then */
                e->date[0] = '\0';
                e->n = 0;
                return;
        }
        if (strcmp(e->hist, hist) != 0)
                e->n = 0; /* other history: the players computed before do not count */
        snprintf(e->date, sizeof(e->date), "%s", date);
        snprintf(e->hist, sizeof(e->hist), "%s", hist);
        e->used = ++c->tick;
        for (size_t i = 0; i < n; i++) {
                struct pc_seen_player *q =
                    sl_bsearch(&p[i], e->p, e->n, sizeof(*e->p), cmp_seen_player);
                if (q) {
                        q->slate = p[i].slate;
                        continue;
                }
                if (e->n == e->cap) {
                        e->cap = e->cap ? e->cap * 2 : 256;
                        e->p = sl_xrealloc(e->p, e->cap * sizeof(*e->p));
                }
                e->p[e->n++] = p[i]; /* sorted again below */
        }
        sl_qsort(e->p, e->n, sizeof(*e->p), cmp_seen_player);
}

void pc_seen_fini(struct pc_seen_cache *c)
{
        for (size_t i = 0; i < PC_SEEN_DATES; i++)
                free(c->e[i].p);
        memset(c, 0, sizeof(*c));
}

/* ---- one run ------------------------------------------------------------------------------ */

struct run {
        struct pc_svc *svc;
        const struct sl_envelope *env;
        struct pc_request req;
        char idem_key[SL_ENVELOPE_MAX_IDEM_KEY];
        char topic[256];
        int64_t started_wall_ms, t0_ms;
        int64_t rows[PC_NPROCESSORS];
        int64_t dur_ms[PC_NPROCESSORS];
        const char *deps_met; /* "true" / "false", NULL when not checked */
        char missing[512];    /* text[] literal of missing dependencies */
        char *players;        /* entity jsonb [{"kind":"player","id":..}], heap */
        char **ids;           /* slate player ids (heap strings) */
        size_t nids;
        struct pc_seen_player *slate; /* the slate players and their row hashes (nids, heap) */
        char hist[96];                /* history fingerprint (pc_seen_*) */
        bool unchanged;               /* every slate player computed before from these inputs */
        char *event;
        size_t event_len;
        char event_key[64];
        char errstr[PC_ERRSTR_SIZE];
};

/* The published entity list: the slate players (none past max_entities = whole date). */
static bool entities_overflow(const struct run *run)
{
        return run->nids > (size_t)run->svc->cfg->max_entities;
}

static char *entities_json(const struct run *run)
{
        struct sl_buf b;

        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "[");
        for (size_t i = 0; !entities_overflow(run) && i < run->nids; i++) {
                sl_buf_puts(&b,
                            i ? ",{\"kind\":\"player\",\"id\":" : "{\"kind\":\"player\",\"id\":");
                sl_buf_json_str(&b, run->ids[i]);
                sl_buf_puts(&b, "}");
        }
        sl_buf_puts(&b, "]");
        return sl_buf_steal(&b);
}

/*
 * One ops.pipeline_execution_log row for processor i (autocommit or inside
 * the caller's transaction). status: completed | failed | skipped.
 */
static int exec_log(struct run *run, size_t i, const char *status, const char *skip_reason,
                    const char *error, char *errstr, size_t n)
{
        int64_t dur = sl_mono_ms() - run->t0_ms;
        struct sl_phase_exec x = {
            .correlation_id = run->env->correlation_id,
            .event_id = run->env->event_id,
            .processor = procs[i].name,
            .status = status,
            .started_wall_ms = run->started_wall_ms,
            .elapsed_ms = dur,
            .duration_ms = run->dur_ms[i] > 0 ? run->dur_ms[i] : dur,
            .deps_met = run->deps_met,
            .missing = run->missing[0] ? run->missing : NULL,
            .skip_reason = skip_reason,
            .error = error,
            .rows = run->rows[i],
            .entities = run->players,
            .game_date = run->req.game_date,
            .sport = run->env->sport,
        };

        return sl_phase_exec_log(&run->svc->ph, &x, errstr, n);
}

/*
 * Logs every processor with the same status (skips, failures), in one
 * transaction when none is open (one commit instead of five). Returns 0 or
 * the PostgreSQL error (errstr): a skip whose rows are not written is not
 * handled, its event is retried.
 */
static int exec_log_all(struct run *run, const char *status, const char *skip_reason,
                        const char *error, char *errstr, size_t n)
{
        struct sl_pg *pg = run->svc->ph.pg;
        char rb[256];
        bool tx = !sl_pg_in_tx(pg);
        int rc = tx ? sl_pg_begin(pg, errstr, n) : 0;

        for (size_t i = 0; i < PC_NPROCESSORS && rc == 0; i++)
                rc = exec_log(run, i, status, skip_reason, error, errstr, n);
        if (tx && rc == 0)
                rc = sl_pg_commit(pg, errstr, n);
        if (rc < 0) {
                sl_log_debug("precompute.exec_log.error", "%s", errstr);
                if (tx && sl_pg_in_tx(pg))
                        sl_pg_rollback(pg, rb, sizeof(rb));
        }
        return rc;
}

/* Appends name to the missing-dependency literal. */
static void add_missing(struct run *run, const char *name)
{
        size_t len = strlen(run->missing);

        if (len == 0)
                snprintf(run->missing, sizeof(run->missing), "{%s}", name);
        else if (len + strlen(name) + 2 < sizeof(run->missing))
                snprintf(run->missing + len - 1, sizeof(run->missing) - len + 1, ",%s}", name);
}

/*
 * The dependency check (autocommit, before the transaction). Fills missing,
 * deps_met; on a failed critical check writes the skip reason into skip
 * (size n) and returns 1; 0 when the processors may run; < 0 on an error.
 */
static int check_deps(struct run *run, char *skip, size_t n)
{
        const char *params[] = {run->req.game_date};
        PGresult *res = NULL;
        int64_t age = -1, games = 0;
        const char *newest;
        int rc;

        rc = sl_pg_exec(run->svc->ph.pg,
                        "SELECT (SELECT max(game_date) FROM analytics.player_game_summary "
                        "         WHERE game_date < $1::date), "
                        "       $1::date - (SELECT max(game_date) FROM "
                        "         analytics.player_game_summary WHERE game_date < $1::date), "
                        "       EXISTS (SELECT 1 FROM analytics.team_defense_game_summary "
                        "         WHERE game_date < $1::date), "
                        "       EXISTS (SELECT 1 FROM analytics.team_offense_game_summary "
                        "         WHERE game_date < $1::date), "
                        "       (SELECT count(*) FROM (SELECT game_id FROM raw.schedule "
                        "         WHERE game_date = $1::date AND status NOT IN ('postponed', "
                        "         'cancelled') UNION SELECT game_id FROM raw.games WHERE "
                        "         game_date = $1::date AND status NOT IN ('postponed', "
                        "         'cancelled')) g)",
                        1, params, &res, run->errstr, sizeof(run->errstr));
        if (rc < 0)
                return rc;
        newest = PQgetvalue(res, 0, 0);
        if (!PQgetisnull(res, 0, 1))
                sl_parse_i64(PQgetvalue(res, 0, 1), INT32_MIN, INT32_MAX, &age);
        sl_parse_i64(PQgetvalue(res, 0, 4), 0, INT32_MAX, &games);
        if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
                add_missing(run, "analytics.team_defense_game_summary");
        if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
                add_missing(run, "analytics.team_offense_game_summary");
        rc = 0;
        run->deps_met = "true";
        if (age < 0) {
                add_missing(run, "analytics.player_game_summary");
                snprintf(skip, n, "dependency: analytics.player_game_summary has no rows before %s",
                         run->req.game_date);
                run->deps_met = "false";
                rc = 1;
        } else if (age > run->svc->cfg->stale_fail_days) {
                add_missing(run, "analytics.player_game_summary");
                snprintf(skip, n,
                         "dependency: analytics.player_game_summary stale: newest %s is %lld days "
                         "before %s (fail threshold %d)",
                         newest, (long long)age, run->req.game_date,
                         run->svc->cfg->stale_fail_days);
                run->deps_met = "false";
                rc = 1;
        } else if (games == 0) {
                snprintf(skip, n, "no games on the schedule of %s", run->req.game_date);
                rc = 1;
        } else if (age > run->svc->cfg->stale_warn_days) {
                sl_log_warn("precompute.deps.stale",
                            "analytics.player_game_summary: newest %s is %lld days before %s "
                            "(warn threshold %d)",
                            newest, (long long)age, run->req.game_date,
                            run->svc->cfg->stale_warn_days);
        }
        PQclear(res);
        return rc;
}

/* True when every processor the analytics event reports is a game summary. */
static bool only_game_summaries(const struct sl_envelope *env)
{
        static const char *const summaries[] = {"player_game_summary", "team_offense_game_summary",
                                                "team_defense_game_summary"};
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(env->payload, "processors"), *p;
        size_t n = 0;

        if (!cJSON_IsArray(list))
                return false;
        cJSON_ArrayForEach(p, list)
        {
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
                bool summary = false;
                for (size_t i = 0; cJSON_IsString(name) && i < 3; i++)
                        summary |= strcmp(name->valuestring, summaries[i]) == 0;
                if (!summary)
                        return false;
                n++;
        }
        return n > 0;
}

/*
 * Leakage rule shortcut: an event that reports only game summaries of games
 * played on D or later cannot change any precompute row of D (every history
 * read is "game_date < D"; those rows feed later dates' runs). Returns 1
 * (skip, reason in skip), 0 (compute) or a PostgreSQL error. A game the
 * event names but raw.games does not know, or one dated before D (a late
 * box score), means compute.
 */
static int nothing_before_d(struct run *run, char *skip, size_t n)
{
        const struct sl_envelope *env = run->env;
        struct sl_buf games;
        const char *params[2];
        PGresult *res = NULL;
        size_t ngames = 0;
        int rc;

        if (!only_game_summaries(env))
                return 0;
        sl_buf_init(&games, 0);
        sl_buf_puts(&games, "{");
        for (size_t i = 0; i < env->n_entities; i++) {
                const char *id = env->entities[i].id;
                if (strcmp(env->entities[i].kind, "game") != 0)
                        continue;
                if (strspn(id, "0123456789") != strlen(id) || !*id || strlen(id) > 20) {
                        sl_buf_fini(&games);
                        return 0; /* not an id we can look up: compute */
                }
                sl_buf_printf(&games, "%s%s", ngames++ ? "," : "", id);
        }
        sl_buf_puts(&games, "}");
        if (ngames == 0) {
                sl_buf_fini(&games);
                return 0;
        }
        params[0] = run->req.game_date;
        params[1] = games.data;
        rc = sl_pg_exec(run->svc->ph.pg,
                        "SELECT count(*) FILTER (WHERE game_date >= $1::date), count(*) "
                        "FROM raw.games WHERE game_id = ANY ($2::text[])",
                        2, params, &res, run->errstr, sizeof(run->errstr));
        sl_buf_fini(&games);
        if (rc < 0)
                return rc;
        rc = strtoll(PQgetvalue(res, 0, 0), NULL, 10) == (long long)ngames &&
             strtoll(PQgetvalue(res, 0, 1), NULL, 10) == (long long)ngames;
        PQclear(res);
        if (rc == 1)
                snprintf(skip, n,
                         "game summaries of %zu game(s) on or after %s only: no precompute row of "
                         "%s reads them (leakage rule), later dates do",
                         ngames, run->req.game_date, run->req.game_date);
        return rc;
}

/* Claims the idempotency key in the open transaction: 0 claimed, -EEXIST held already. */
static int claim(struct run *run)
{
        return sl_phase_claim(&run->svc->ph, run->idem_key, "precompute", run->env->correlation_id,
                              run->errstr, sizeof(run->errstr));
}

/* Slate, teams, history; then the slate's player ids into run->ids. */
static int build_slate(struct run *run)
{
        const char *params[] = {run->req.game_date, run->req.player_filter};
        PGresult *res = NULL;
        int rc;

        /*
         * Temporary tables have no statistics (autovacuum never sees them): the
         * planner guesses their size and joins a one-player slate to the season
         * by sequential scans. Known sizes let the processors use the indexes;
         * pc_slate is analyzed before pc_hist reads it (one player's history:
         * 8.7 -> 0.7 ms, docs/performance.md pass 5).
         */
        rc = sl_pg_exec(run->svc->ph.pg, SQL_SLATE, 2, params, NULL, run->errstr,
                        sizeof(run->errstr));
        if (rc == 0)
                rc = sl_pg_exec(run->svc->ph.pg, "ANALYZE pc_slate", 0, NULL, NULL, run->errstr,
                                sizeof(run->errstr));
        /* the slate players with what their rows are computed from (struct pc_seen) */
        if (rc == 0)
                rc = sl_pg_exec(run->svc->ph.pg, SQL_SLATE_INPUTS, 1, params, &res, run->errstr,
                                sizeof(run->errstr));
        if (rc < 0)
                return rc;
        run->nids = (size_t)PQntuples(res);
        run->ids = sl_xcalloc(run->nids + 1, sizeof(*run->ids));
        run->slate = sl_xcalloc(run->nids + 1, sizeof(*run->slate));
        for (size_t i = 0; i < run->nids; i++) {
                int64_t h = 0;
                run->ids[i] = sl_xstrdup(PQgetvalue(res, (int)i, 0));
                if (sl_parse_i64(run->ids[i], INT64_MIN, INT64_MAX, &run->slate[i].id) < 0 ||
                    sl_parse_i64(PQgetvalue(res, (int)i, 1), INT64_MIN, INT64_MAX, &h) < 0)
                        rc = sl_errf(run->errstr, sizeof(run->errstr), -EIO,
                                     "slate row %zu: not a bigint", i); /* cannot happen */
                run->slate[i].slate = (uint64_t)h;
        }
        if (rc == 0 && PQntuples(res) > 0)
                snprintf(run->hist, sizeof(run->hist), "%s", PQgetvalue(res, 0, 2));
        PQclear(res);
        if (rc < 0)
                return rc;
        run->players = entities_json(run);
        return 0;
}

/* The slate's teams and its players' history (what the processors read; build_slate() first). */
static int build_history(struct run *run)
{
        const char *params[] = {run->req.game_date};
        int rc;

        rc =
            sl_pg_exec(run->svc->ph.pg, SQL_TEAMS, 0, NULL, NULL, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = sl_pg_exec(run->svc->ph.pg, SQL_HIST, 1, params, NULL, run->errstr,
                                sizeof(run->errstr));
        if (rc == 0)
                rc = sl_pg_exec(run->svc->ph.pg, "ANALYZE pc_teams, pc_hist", 0, NULL, NULL,
                                run->errstr, sizeof(run->errstr));
        return rc;
}

static int run_processors(struct run *run)
{
        char *names = pc_feature_names_literal();
        const char *params[] = {run->req.game_date, run->req.player_filter, PC_FEATURE_VERSION,
                                names};
        int rc = 0;

        for (size_t i = 0; i < PC_NPROCESSORS && rc == 0; i++) {
                PGresult *res = NULL;
                int64_t t = sl_mono_ms();
                rc = sl_pg_exec(run->svc->ph.pg, procs[i].sql, procs[i].nparams, params, &res,
                                run->errstr, sizeof(run->errstr));
                if (rc < 0) {
                        char tmp[PC_ERRSTR_SIZE];
                        memcpy(tmp, run->errstr, sizeof(tmp));
                        tmp[sizeof(tmp) - 64] = '\0'; /* room for the processor name */
                        snprintf(run->errstr, sizeof(run->errstr), "%.40s: %.900s", procs[i].name,
                                 tmp);
                } else {
                        run->rows[i] = PQntuples(res);
                }
                run->dur_ms[i] = sl_mono_ms() - t;
                PQclear(res);
        }
        free(names);
        return rc;
}

static cJSON *completed_payload(const struct run *run)
{
        cJSON *p = cJSON_CreateObject(), *arr = cJSON_CreateArray();

        for (size_t i = 0; i < PC_NPROCESSORS; i++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "name", procs[i].name);
                cJSON_AddNumberToObject(o, "rows", (double)run->rows[i]);
                cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddItemToObject(p, "processors", arr);
        cJSON_AddStringToObject(p, "game_date", run->req.game_date);
        cJSON_AddStringToObject(p, "feature_version", PC_FEATURE_VERSION);
        cJSON_AddNumberToObject(p, "players", (double)run->nids);
        return p;
}

/* Builds precompute.completed (a child of the incoming event) into ops.outbox. */
static int outbox_write(struct run *run)
{
        struct sl_envelope *ev;

        ev = sl_envelope_new("precompute.completed", "precompute", run->env->sport,
                             run->req.game_date, run->env);
        if (!ev)
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                               "could not build precompute.completed");
        for (size_t i = 0; !entities_overflow(run) && i < run->nids; i++)
                if (sl_envelope_add_entity(ev, "player", run->ids[i]) < 0) {
                        sl_envelope_free(ev);
                        return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL, "bad entity");
                }
        if (sl_envelope_set_idem_key(ev, run->idem_key) < 0 ||
            sl_envelope_set_payload(ev, completed_payload(run)) < 0) {
                sl_envelope_free(ev);
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                               "could not build precompute.completed");
        }
        snprintf(run->event_key, sizeof(run->event_key), "%s:%s", ev->sport, ev->game_date);
        run->event = sl_envelope_serialize(ev, &run->event_len);
        sl_envelope_free(ev);
        return sl_phase_outbox_insert(&run->svc->ph, run->topic, run->event_key, run->idem_key,
                                      run->event, run->errstr, sizeof(run->errstr));
}

#define UNCHANGED_REASON                                                                           \
        "inputs unchanged: computed before from the same slate rows and history; "                 \
        "precompute.completed published for the downstream"

/*
 * BEGIN, claim, slate, processors (unless every slate player was computed
 * from the same inputs before: struct pc_seen), execution log, outbox, COMMIT.
 */
static int compute_tx(struct run *run)
{
        struct sl_pg *pg = run->svc->ph.pg;
        int rc;

        rc = sl_pg_begin(pg, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = claim(run);
        if (rc == 0)
                rc = build_slate(run);
        if (rc == 0)
                run->unchanged = pc_seen_covered(&run->svc->seen, run->req.game_date, run->hist,
                                                 run->slate, run->nids);
        if (rc == 0 && !run->unchanged)
                rc = build_history(run);
        if (rc == 0 && !run->unchanged)
                rc = run_processors(run);
        if (rc == 0)
                rc = outbox_write(run);
        for (size_t i = 0; rc == 0 && i < PC_NPROCESSORS; i++)
                rc = exec_log(run, i, run->unchanged ? "skipped" : "completed",
                              run->unchanged ? UNCHANGED_REASON : NULL, NULL, run->errstr,
                              sizeof(run->errstr));
        if (rc == 0)
                rc = sl_pg_commit(pg, run->errstr, sizeof(run->errstr));
        return sl_phase_tx_end(&run->svc->ph, rc);
}

static void metric_run(const char *status)
{
        sl_metric_inc(sl_metrics_counter("statline_precompute_runs_total",
                                         "Precompute runs by outcome.", "status"),
                      status);
}

static int failed(struct run *run, int rc)
{
        char err[256];

        run->svc->failed++;
        memset(run->rows, 0, sizeof(run->rows));
        metric_run("failed");
        if (run->errstr[0])
                sl_bus_set_error("%s", run->errstr); /* into a dead letter's dlq.error */
        if (rc == -EBADMSG || sl_err_classify(rc) == SL_ERR_PERMANENT)
                sl_log_warn("precompute.poison", "date=%s: %s (dead-lettered)", run->req.game_date,
                            run->errstr);
        else
                sl_log_warn("precompute.retry", "date=%s: %s (%s)", run->req.game_date, run->errstr,
                            sl_strerror(rc));
        if (!run->svc->ph.pg_down)
                exec_log_all(run, "failed", NULL, run->errstr[0] ? run->errstr : sl_strerror(rc),
                             err, sizeof(err)); /* best effort: the event fails anyway */
        return rc;
}

static int duplicate(struct run *run)
{
        int lrc, rc = sl_phase_replay(&run->svc->ph, run->topic, run->idem_key, &run->event,
                                      &run->event_len, run->errstr, sizeof(run->errstr));

        if (rc < 0 && rc != -EEXIST)
                return failed(run, rc);
        lrc = exec_log_all(run, "skipped",
                           rc == 0 ? "duplicate: precompute.completed re-published"
                                   : "duplicate: already computed and published",
                           NULL, run->errstr, sizeof(run->errstr));
        if (lrc < 0)
                return failed(run, lrc); /* the redelivery logs it */
        if (rc == 0)
                sl_log_info("precompute.republish", "key=%s: event was unpublished: published now",
                            run->idem_key);
        else
                sl_log_info("precompute.duplicate", "key=%s: computed and published before",
                            run->idem_key);
        run->svc->duplicates++;
        metric_run(rc == 0 ? "republished" : "duplicate");
        return rc;
}

static void run_free(struct run *run)
{
        pc_request_fini(&run->req);
        for (size_t i = 0; run->ids && run->ids[i]; i++)
                free(run->ids[i]);
        free(run->ids);
        free(run->slate);
        free(run->players);
        free(run->event);
}

/*
 * A run with nothing to do: its "skipped" rows, then the ack. When they
 * cannot be written the event fails and is retried: a skip nobody recorded
 * would look lost.
 */
static int skipped(struct run *run, const char *reason)
{
        int rc = exec_log_all(run, "skipped", reason, NULL, run->errstr, sizeof(run->errstr));

        if (rc < 0) {
                sl_phase_note_pg(&run->svc->ph, rc);
                rc = failed(run, rc);
        } else {
                run->svc->skipped++;
                metric_run("skipped");
                sl_log_warn("precompute.skip", "date=%s: %s", run->req.game_date, reason);
        }
        run_free(run);
        return rc;
}

int pc_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct pc_svc *svc = opaque;
        struct run run;
        char skip[512];
        int rc;

        (void)msg;
        if (env->sport && strcmp(env->sport, "nhl") == 0)
                return pc_nhl_handle(svc, env); /* team ratings, nhl.c */
        memset(&run, 0, sizeof(run));
        run.svc = svc;
        run.env = env;
        run.started_wall_ms = sl_wall_ms();
        run.t0_ms = sl_mono_ms();
        rc = pc_request_parse(env, &run.req, run.errstr, sizeof(run.errstr));
        if (rc == 0 && sl_bus_topic(run.topic, sizeof(run.topic), svc->cfg->svc.bus_prefix,
                                    env->sport, "precompute") < 0)
                rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "topic too long");
        if (rc == 0)
                rc = pc_idem_key(run.idem_key, sizeof(run.idem_key), env->sport, &run.req);
        if (rc == -ENAMETOOLONG)
                rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "idempotency key too long");
        if (rc == 0) {
                rc = nothing_before_d(&run, skip, sizeof(skip));
                if (rc == 0)
                        rc = check_deps(&run, skip, sizeof(skip));
                if (rc == 1) /* nothing to do, dependency failed or nothing scheduled */
                        return skipped(&run, skip);
                if (rc < 0)
                        sl_phase_note_pg(&svc->ph, rc);
        }
        if (rc == 0)
                rc = compute_tx(&run);
        if (rc == 0)
                rc = sl_phase_publish(&svc->ph, run.topic, run.event_key, run.idem_key, run.event,
                                      run.event_len, run.errstr, sizeof(run.errstr));
        if (rc == -EEXIST) {
                rc = duplicate(&run);
        } else if (rc == 0 && run.unchanged) {
                svc->unchanged++;
                metric_run("unchanged");
                sl_log_info("precompute.unchanged",
                            "date=%s players=%zu%s: inputs unchanged, processors skipped, "
                            "precompute.completed published duration_ms=%lld",
                            run.req.game_date, run.nids,
                            run.req.player_filter ? " (entity update)" : "",
                            (long long)(sl_mono_ms() - run.t0_ms));
        } else if (rc == 0) {
                svc->completed++;
                metric_run("completed");
                pc_seen_record(&svc->seen, run.req.game_date, run.hist, run.slate, run.nids);
                sl_log_info("precompute.ok",
                            "date=%s players=%zu%s rows daily_cache=%lld shot_zone=%lld "
                            "team_defense=%lld composite=%lld features=%lld duration_ms=%lld",
                            run.req.game_date, run.nids,
                            run.req.player_filter ? " (entity update)" : "", (long long)run.rows[0],
                            (long long)run.rows[1], (long long)run.rows[2], (long long)run.rows[3],
                            (long long)run.rows[4], (long long)(sl_mono_ms() - run.t0_ms));
        } else {
                rc = failed(&run, rc);
        }
        if (rc == 0)
                sl_phase_note_pg_up(&svc->ph);
        run_free(&run);
        return rc;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* Registers PC_FEATURE_VERSION; refuses a stored version whose names differ. */
static int register_features(struct pc_svc *svc, char *errstr, size_t n)
{
        char *names = pc_feature_names_literal();
        const char *params[] = {PC_FEATURE_VERSION, names,
                                "statline-precompute feature list (services/precompute/README.md)"};
        PGresult *res = NULL;
        int rc;

        rc = sl_pg_exec(svc->ph.pg,
                        "INSERT INTO precompute.ml_feature_versions (feature_version, "
                        "feature_names, description) VALUES ($1, $2::text[], $3) "
                        "ON CONFLICT (feature_version) DO NOTHING",
                        3, params, NULL, errstr, n);
        if (rc == 0)
                rc = sl_pg_exec(svc->ph.pg,
                                "SELECT feature_names = $2::text[] FROM "
                                "precompute.ml_feature_versions WHERE feature_version = $1",
                                2, params, &res, errstr, n);
        if (rc == 0 && (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0))
                rc = sl_errf(errstr, n, -EINVAL,
                             "feature version %s is stored with another feature list: "
                             "a changed list needs a new PC_FEATURE_VERSION",
                             PC_FEATURE_VERSION);
        PQclear(res);
        free(names);
        return rc;
}

int pc_svc_open(struct pc_svc *svc, const struct pc_cfg *cfg, struct sl_bus *bus,
                struct sl_http *http, char *errstr, size_t n)
{
        int rc;

        svc->cfg = cfg;
        svc->ph.bus = bus; /* set up front: sl_phase_open() below may not be reached */
        svc->ph.http = http;
        if (cfg->stale_warn_days > cfg->stale_fail_days)
                return sl_errf(errstr, n, -EINVAL,
                               "deps.stale_warn_days (%d) exceeds deps.stale_fail_days (%d)",
                               cfg->stale_warn_days, cfg->stale_fail_days);
        rc = sl_phase_open(&svc->ph, "precompute", &cfg->phase, bus, http, errstr, n);
        if (rc < 0)
                return rc;
        sl_log_info("precompute.init", "migrations applied=%d feature_version=%s", rc,
                    PC_FEATURE_VERSION);
        return register_features(svc, errstr, n);
}

void pc_svc_close(struct pc_svc *svc)
{
        sl_phase_close(&svc->ph);
        pc_seen_fini(&svc->seen);
}

int pc_svc_tick(struct pc_svc *svc)
{
        return sl_phase_tick(&svc->ph);
}
