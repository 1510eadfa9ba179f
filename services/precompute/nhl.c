/*
 * statline-precompute for the NHL: an nhl analytics.completed for date D in,
 * analytics.nhl_team_ratings rows (season, as_of_date D, team) out, and one
 * precompute.completed on <prefix>.nhl.precompute.completed.
 *
 * The ratings (sl_nhl_ratings(), docs/models-nhl.md): for every season that
 * has team game rows dated D, each team's sums over its games dated D or
 * earlier (sl_nhl_agg_add() over analytics.nhl_team_game_stats), its
 * xGF%5, CF%5, GF%, SV%, SH%, their z-scores over the teams rated together
 * and the TPI. The rows of D include D's games (ratings "after D"): a
 * prediction of a game on D must read an as_of_date before D (the leakage
 * rule of the NBA features; the GOI hook in README.md). A team without a
 * shot for or against yet is left out (sl_nhl_ratings refuses it); fewer
 * than two teams rate nothing.
 *
 * Same guarantees as the NBA path: claim of the idempotency key, the rows,
 * one execution log row (processor nhl_team_ratings) and the outbox in ONE
 * transaction, publish after COMMIT; the replay guard on the target keeps a
 * recomputation with equal numbers from touching a row.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <libpq-fe.h>

#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/nhl.h>
#include <sl/pg.h>
#include <sl/util.h>

#include "precompute.h"

#define NHL_PROCESSOR "nhl_team_ratings"
#define NHL_MAX_TEAMS 64 /* teams rated together in one season (the league has 32) */
#define ERRSTR        1024

static const char sql_seasons[] = "SELECT DISTINCT season FROM analytics.nhl_team_game_stats "
                                  "WHERE game_date = $1::date ORDER BY season";

static const char sql_games[] =
    "SELECT team_id, cf, ca, ff, fa, shots_for, shots_against, goals_for, goals_against, xgf, "
    "xga, cf_5v5, ca_5v5, ff_5v5, fa_5v5, gf_5v5, ga_5v5, xgf_5v5, xga_5v5 "
    "FROM analytics.nhl_team_game_stats WHERE season = $1 AND game_date <= $2::date "
    "ORDER BY team_id, game_date, game_id";

static const char sql_upsert[] =
    "INSERT INTO analytics.nhl_team_ratings AS t (season, as_of_date, team_id, games, "
    "xgf_pct_5v5, cf_pct_5v5, gf_pct, sv_pct, sh_pct, z_xgf_pct_5v5, z_cf_pct_5v5, z_gf_pct, "
    "z_sv_pct, z_sh_pct, tpi, source_hash) "
    "SELECT r.season, $2::date, r.team_id, r.games, round(r.v0, 6), round(r.v1, 6), "
    "round(r.v2, 6), round(r.v3, 6), round(r.v4, 6), r.z0, r.z1, r.z2, r.z3, r.z4, r.tpi, "
    "encode(sha256(convert_to(ROW(r.*)::text, 'UTF8')), 'hex') "
    "FROM jsonb_to_recordset($1::jsonb) AS r(season text, team_id bigint, games int, "
    "v0 numeric, v1 numeric, v2 numeric, v3 numeric, v4 numeric, z0 float8, z1 float8, "
    "z2 float8, z3 float8, z4 float8, tpi float8) "
    "ON CONFLICT (season, as_of_date, team_id) DO UPDATE SET games = EXCLUDED.games, "
    "xgf_pct_5v5 = EXCLUDED.xgf_pct_5v5, cf_pct_5v5 = EXCLUDED.cf_pct_5v5, "
    "gf_pct = EXCLUDED.gf_pct, sv_pct = EXCLUDED.sv_pct, sh_pct = EXCLUDED.sh_pct, "
    "z_xgf_pct_5v5 = EXCLUDED.z_xgf_pct_5v5, z_cf_pct_5v5 = EXCLUDED.z_cf_pct_5v5, "
    "z_gf_pct = EXCLUDED.z_gf_pct, z_sv_pct = EXCLUDED.z_sv_pct, z_sh_pct = EXCLUDED.z_sh_pct, "
    "tpi = EXCLUDED.tpi, source_hash = EXCLUDED.source_hash "
    "RETURNING team_id::text";

struct nhl_run {
        struct pc_svc *svc;
        const struct sl_envelope *env;
        struct pc_request req;
        char idem_key[SL_ENVELOPE_MAX_IDEM_KEY];
        char topic[256];
        int64_t t0_ms, started_wall_ms;
        int64_t rows;  /* rating rows inserted or changed */
        size_t nrated; /* teams rated (all seasons) */
        char **teams;  /* rated team ids, heap */
        char *event;   /* serialized precompute.completed */
        size_t event_len;
        char event_key[64];
        char errstr[ERRSTR];
};

static int64_t col_i64(const PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static double col_f(const PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col) ? 0 : strtod(PQgetvalue(res, row, col), NULL);
}

/* Row r of sql_games as the team's game. */
static void read_game(const PGresult *res, int r, struct sl_nhl_team_game *g)
{
        memset(g, 0, sizeof(*g));
        g->team_id = col_i64(res, r, 0);
        g->all_for.corsi = (int)col_i64(res, r, 1);
        g->all_against.corsi = (int)col_i64(res, r, 2);
        g->all_for.fenwick = (int)col_i64(res, r, 3);
        g->all_against.fenwick = (int)col_i64(res, r, 4);
        g->all_for.shots = (int)col_i64(res, r, 5);
        g->all_against.shots = (int)col_i64(res, r, 6);
        g->all_for.goals = (int)col_i64(res, r, 7);
        g->all_against.goals = (int)col_i64(res, r, 8);
        g->all_for.xg = col_f(res, r, 9);
        g->all_against.xg = col_f(res, r, 10);
        g->ev_for.corsi = (int)col_i64(res, r, 11);
        g->ev_against.corsi = (int)col_i64(res, r, 12);
        g->ev_for.fenwick = (int)col_i64(res, r, 13);
        g->ev_against.fenwick = (int)col_i64(res, r, 14);
        g->ev_for.goals = (int)col_i64(res, r, 15);
        g->ev_against.goals = (int)col_i64(res, r, 16);
        g->ev_for.xg = col_f(res, r, 17);
        g->ev_against.xg = col_f(res, r, 18);
}

/* Sums the season's rows into aggs (teams with a shot for and against). Returns the count. */
static size_t aggregate(const PGresult *res, struct sl_nhl_team_agg *aggs, size_t max)
{
        size_t n = 0;
        int rows = PQntuples(res);

        for (int r = 0; r < rows; r++) {
                struct sl_nhl_team_game g;
                read_game(res, r, &g);
                if (n == 0 || aggs[n - 1].team_id != g.team_id) {
                        if (n > 0 && (aggs[n - 1].sf <= 0 || aggs[n - 1].sa <= 0))
                                n--; /* not ratable: no shot for or against */
                        if (n == max)
                                break;
                        memset(&aggs[n], 0, sizeof(aggs[n]));
                        aggs[n++].team_id = g.team_id;
                }
                sl_nhl_agg_add(&aggs[n - 1], &g); /* same team: cannot fail */
        }
        if (n > 0 && (aggs[n - 1].sf <= 0 || aggs[n - 1].sa <= 0))
                n--;
        return n;
}

/* Rates one season as of D and upserts its rows. */
static int rate_season(struct nhl_run *run, const char *season)
{
        struct sl_nhl_team_agg aggs[NHL_MAX_TEAMS];
        struct sl_nhl_rating rt[NHL_MAX_TEAMS];
        const char *params[2] = {season, run->req.game_date};
        PGresult *res = NULL;
        struct sl_buf b;
        size_t n;
        int rc;

        rc = sl_pg_exec(run->svc->ph.pg, sql_games, 2, params, &res, run->errstr,
                        sizeof(run->errstr));
        if (rc < 0)
                return rc;
        n = aggregate(res, aggs, NHL_MAX_TEAMS);
        PQclear(res);
        if (n < 2) {
                sl_log_info("precompute.nhl.few_teams", "season=%s date=%s teams=%zu: not rated",
                            season, run->req.game_date, n);
                return 0;
        }
        rc = sl_nhl_ratings(aggs, n, rt);
        if (rc < 0)
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "nhl ratings of %s as of %s: %s", season, run->req.game_date,
                               sl_strerror(rc));
        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "[");
        for (size_t i = 0; i < n; i++) {
                sl_buf_puts(&b, i ? ",{\"season\":" : "{\"season\":");
                sl_buf_json_str(&b, season);
                sl_buf_printf(&b,
                              ",\"team_id\":%lld,\"games\":%d,\"v0\":%.17g,\"v1\":%.17g,"
                              "\"v2\":%.17g,\"v3\":%.17g,\"v4\":%.17g,\"z0\":%.17g,\"z1\":%.17g,"
                              "\"z2\":%.17g,\"z3\":%.17g,\"z4\":%.17g,\"tpi\":%.17g}",
                              (long long)rt[i].team_id, rt[i].games, rt[i].value[0], rt[i].value[1],
                              rt[i].value[2], rt[i].value[3], rt[i].value[4], rt[i].z[0],
                              rt[i].z[1], rt[i].z[2], rt[i].z[3], rt[i].z[4], rt[i].tpi);
                run->teams = sl_xrealloc(run->teams, (run->nrated + 1) * sizeof(*run->teams));
                run->teams[run->nrated++] = sl_xasprintf("%lld", (long long)rt[i].team_id);
        }
        sl_buf_puts(&b, "]");
        params[0] = b.data;
        rc = sl_pg_exec(run->svc->ph.pg, sql_upsert, 2, params, &res, run->errstr,
                        sizeof(run->errstr));
        sl_buf_fini(&b);
        if (rc < 0)
                return rc;
        run->rows += PQntuples(res);
        PQclear(res);
        return 0;
}

/* Every season with team games on D. 1 when there is none (nothing to rate). */
static int rate_all(struct nhl_run *run)
{
        const char *params[1] = {run->req.game_date};
        PGresult *res = NULL;
        char **seasons;
        int rc, n;

        rc = sl_pg_exec(run->svc->ph.pg, sql_seasons, 1, params, &res, run->errstr,
                        sizeof(run->errstr));
        if (rc < 0)
                return rc;
        n = PQntuples(res);
        seasons = sl_xcalloc((size_t)n + 1, sizeof(*seasons));
        for (int i = 0; i < n; i++)
                seasons[i] = sl_xstrdup(PQgetvalue(res, i, 0));
        PQclear(res);
        for (int i = 0; rc == 0 && i < n; i++)
                rc = rate_season(run, seasons[i]);
        for (int i = 0; i < n; i++)
                free(seasons[i]);
        free(seasons);
        return rc;
}

static int exec_log(struct nhl_run *run, const char *status, const char *skip, const char *error,
                    char *errstr, size_t n)
{
        char ents[8] = "[]";
        int64_t dur = sl_mono_ms() - run->t0_ms;
        struct sl_phase_exec x = {
            .correlation_id = run->env->correlation_id,
            .event_id = run->env->event_id,
            .processor = NHL_PROCESSOR,
            .status = status,
            .started_wall_ms = run->started_wall_ms,
            .elapsed_ms = dur,
            .duration_ms = dur,
            .skip_reason = skip,
            .error = error,
            .rows = run->rows,
            .entities = ents,
            .game_date = run->req.game_date,
            .sport = run->env->sport,
        };

        return sl_phase_exec_log(&run->svc->ph, &x, errstr, n);
}

static int outbox_write(struct nhl_run *run)
{
        struct sl_envelope *ev;
        cJSON *p = cJSON_CreateObject(), *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "name", NHL_PROCESSOR);
        cJSON_AddNumberToObject(o, "rows", (double)run->rows);
        cJSON_AddItemToArray(arr, o);
        cJSON_AddItemToObject(p, "processors", arr);
        cJSON_AddStringToObject(p, "game_date", run->req.game_date);
        cJSON_AddNumberToObject(p, "teams", (double)run->nrated);
        ev = sl_envelope_new("precompute.completed", "precompute", run->env->sport,
                             run->req.game_date, run->env);
        if (!ev) {
                cJSON_Delete(p);
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                               "could not build precompute.completed");
        }
        for (size_t i = 0; i < run->nrated; i++)
                sl_envelope_add_entity(ev, "team", run->teams[i]); /* <= 64: fits */
        if (sl_envelope_set_idem_key(ev, run->idem_key) < 0 || sl_envelope_set_payload(ev, p) < 0) {
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

/* BEGIN, claim, ratings, outbox, execution log, COMMIT. */
static int compute_tx(struct nhl_run *run)
{
        struct sl_pg *pg = run->svc->ph.pg;
        int rc;

        rc = sl_pg_begin(pg, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = sl_phase_claim(&run->svc->ph, run->idem_key, "precompute",
                                    run->env->correlation_id, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = rate_all(run);
        if (rc == 0)
                rc = outbox_write(run);
        if (rc == 0)
                rc = exec_log(run, "completed", NULL, NULL, run->errstr, sizeof(run->errstr));
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

int pc_nhl_handle(struct pc_svc *svc, const struct sl_envelope *env)
{
        struct nhl_run run;
        char err[256];
        int rc;

        memset(&run, 0, sizeof(run));
        run.svc = svc;
        run.env = env;
        run.t0_ms = sl_mono_ms();
        run.started_wall_ms = sl_wall_ms();
        rc = pc_request_parse(env, &run.req, run.errstr, sizeof(run.errstr));
        if (rc == 0 && sl_bus_topic(run.topic, sizeof(run.topic), svc->cfg->svc.bus_prefix,
                                    env->sport, "precompute") < 0)
                rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "topic too long");
        if (rc == 0 && pc_idem_key(run.idem_key, sizeof(run.idem_key), env->sport, &run.req) < 0)
                rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "idempotency key too long");
        if (rc == 0)
                rc = compute_tx(&run);
        if (rc == 0)
                rc = sl_phase_publish(&svc->ph, run.topic, run.event_key, run.idem_key, run.event,
                                      run.event_len, run.errstr, sizeof(run.errstr));
        if (rc == -EEXIST) {
                free(run.event);
                run.event = NULL;
                rc = sl_phase_replay(&svc->ph, run.topic, run.idem_key, &run.event, &run.event_len,
                                     run.errstr, sizeof(run.errstr));
                svc->duplicates++;
                metric_run(rc == 0 ? "republished" : "duplicate");
                sl_log_info("precompute.nhl.duplicate", "key=%s: %s", run.idem_key,
                            rc == 0 ? "unpublished event published now"
                                    : "computed and published before");
                if (rc == 0 || rc == -EEXIST) {
                        int lrc = exec_log(&run, "skipped",
                                           rc == 0 ? "duplicate: precompute.completed re-published"
                                                   : "duplicate: already computed and published",
                                           NULL, run.errstr, sizeof(run.errstr));
                        rc = lrc < 0 ? lrc : rc; /* unrecorded: the redelivery records it */
                }
        } else if (rc == 0) {
                svc->completed++;
                metric_run("completed");
                sl_log_info("precompute.nhl.ok", "date=%s teams=%zu rows=%lld duration_ms=%lld",
                            run.req.game_date, run.nrated, (long long)run.rows,
                            (long long)(sl_mono_ms() - run.t0_ms));
        }
        if (rc < 0 && rc != -EEXIST) {
                svc->failed++;
                metric_run("failed");
                if (run.errstr[0])
                        sl_bus_set_error("%s", run.errstr); /* into a dead letter's dlq.error */
                sl_log_warn(rc == -EBADMSG ? "precompute.poison" : "precompute.retry",
                            "sport=nhl date=%s: %s (%s)", run.req.game_date, run.errstr,
                            sl_strerror(rc));
                run.rows = 0;
                if (!svc->ph.pg_down)
                        exec_log(&run, "failed", NULL, run.errstr[0] ? run.errstr : sl_strerror(rc),
                                 err, sizeof(err));
        } else {
                sl_phase_note_pg_up(&svc->ph);
        }
        pc_request_fini(&run.req);
        for (size_t i = 0; i < run.nrated; i++)
                free(run.teams[i]);
        free(run.teams);
        free(run.event);
        return rc;
}
