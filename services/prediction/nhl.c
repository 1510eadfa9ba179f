/*
 * statline-prediction for the NHL (README.md, "NHL: GOI"): an nhl
 * precompute.completed for date D in; every game of D in raw.nhl_games gets
 * its Game Outcome Index win probabilities (sl_nhl_goi(), docs/models-nhl.md)
 * in prediction.game_win_probs (model 'goi:nhl'); one prediction.completed
 * on <prefix>.nhl.prediction.completed.
 *
 * A team's TPI for a game is its analytics.nhl_team_ratings row of the
 * game's season with the newest as_of_date strictly before the game date
 * (a rating "as of D" includes D's games: no leakage). A game without such a
 * row for either team is not predicted (no row; listed in the log).
 *
 * Same guarantees as the NBA path: claim of the idempotency key, the rows,
 * one execution log row (processor goi) and the outbox in ONE transaction,
 * publish after COMMIT; the replay guard on prediction.game_win_probs keeps
 * a recomputation with equal numbers from touching a row.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <libpq-fe.h>

#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/nhl.h>
#include <sl/pg.h>
#include <sl/sha256.h>
#include <sl/util.h>

#include "prediction.h"

#define NHL_PROCESSOR "goi"
#define NHL_MODEL     "goi:nhl"

/* The date's games with each team's newest TPI before the game date (NULL: none). */
static const char SQL_GAMES[] =
    "SELECT g.game_id, g.home_team_id, g.away_team_id, h.tpi, a.tpi "
    "FROM raw.nhl_games g "
    "LEFT JOIN LATERAL (SELECT r.tpi FROM analytics.nhl_team_ratings r WHERE r.season = g.season "
    "  AND r.team_id = g.home_team_id AND r.as_of_date < g.game_date "
    "  ORDER BY r.as_of_date DESC LIMIT 1) h ON true "
    "LEFT JOIN LATERAL (SELECT r.tpi FROM analytics.nhl_team_ratings r WHERE r.season = g.season "
    "  AND r.team_id = g.away_team_id AND r.as_of_date < g.game_date "
    "  ORDER BY r.as_of_date DESC LIMIT 1) a ON true "
    "WHERE g.game_date = $1::date ORDER BY g.game_id";

static const char SQL_UPSERT[] =
    "INSERT INTO prediction.game_win_probs (sport, game_id, game_date, home_team_id, "
    "away_team_id, r_home, r_away, p_home, p_away, model) "
    "SELECT 'nhl', g, $8::date, h, a, rh, ra, ph, pa, '" NHL_MODEL "' FROM unnest($1::text[], "
    "$2::bigint[], $3::bigint[], $4::numeric[], $5::numeric[], $6::numeric[], $7::numeric[]) "
    "AS x(g, h, a, rh, ra, ph, pa) ON CONFLICT (sport, game_id) DO UPDATE SET "
    "game_date = excluded.game_date, home_team_id = excluded.home_team_id, "
    "away_team_id = excluded.away_team_id, r_home = excluded.r_home, r_away = excluded.r_away, "
    "p_home = excluded.p_home, p_away = excluded.p_away, model = excluded.model RETURNING 1";

struct nhl_run {
        struct pred_svc *svc;
        const struct sl_envelope *env;
        char game_date[11];
        char idem_key[SL_ENVELOPE_MAX_IDEM_KEY];
        char topic[256];
        int64_t t0_ms, started_wall_ms;
        struct pred_nhl_stats st;
        char *event;
        size_t event_len;
        char errstr[PRED_ERRSTR_SIZE];
};

/* Appends one element to a PostgreSQL array literal (values need no quoting). */
static void arr_add(struct sl_buf *b, const char *v)
{
        sl_buf_puts(b, b->len ? "," : "{");
        sl_buf_puts(b, v);
}

int pred_nhl_goi_run(struct sl_pg *pg, const char *date, struct pred_nhl_stats *st, char *errstr,
                     size_t n)
{
        const char *params[8];
        struct sl_buf col[7];
        PGresult *res = NULL;
        int rc, rows;

        memset(st, 0, sizeof(*st));
        params[0] = date;
        rc = sl_pg_exec(pg, SQL_GAMES, 1, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        for (int i = 0; i < 7; i++)
                sl_buf_init(&col[i], 0);
        rows = PQntuples(res);
        st->games = rows;
        for (int r = 0; r < rows; r++) {
                struct sl_nhl_rating home, away;
                char v[6][40];
                double p;
                if (PQgetisnull(res, r, 3) || PQgetisnull(res, r, 4))
                        continue; /* a team without a rating before the date */
                memset(&home, 0, sizeof(home));
                memset(&away, 0, sizeof(away));
                home.tpi = strtod(PQgetvalue(res, r, 3), NULL);
                away.tpi = strtod(PQgetvalue(res, r, 4), NULL);
                if (!isfinite(home.tpi) || !isfinite(away.tpi))
                        continue;
                sl_nhl_goi(&home, &away, &p);
                snprintf(v[0], sizeof(v[0]), "%.4f", home.tpi);
                snprintf(v[1], sizeof(v[1]), "%.4f", away.tpi);
                snprintf(v[2], sizeof(v[2]), "%.6f", p);
                snprintf(v[3], sizeof(v[3]), "%.6f", 1.0 - p);
                arr_add(&col[0], PQgetvalue(res, r, 0));
                arr_add(&col[1], PQgetvalue(res, r, 1));
                arr_add(&col[2], PQgetvalue(res, r, 2));
                for (int k = 0; k < 4; k++)
                        arr_add(&col[3 + k], v[k]);
                st->predicted++;
        }
        PQclear(res);
        res = NULL;
        if (st->predicted > 0) {
                for (int i = 0; i < 7; i++) {
                        sl_buf_puts(&col[i], "}");
                        params[i] = col[i].data;
                }
                params[7] = date;
                rc = sl_pg_exec(pg, SQL_UPSERT, 8, params, &res, errstr, n);
                if (rc == 0)
                        st->written = PQntuples(res);
                PQclear(res);
        }
        for (int i = 0; i < 7; i++)
                sl_buf_fini(&col[i]);
        return rc;
}

static int exec_log(struct nhl_run *run, const char *processor, const char *status,
                    const char *skip, const char *error, char *errstr, size_t n)
{
        int64_t dur = sl_mono_ms() - run->t0_ms;
        struct sl_phase_exec x = {
            .correlation_id = run->env->correlation_id,
            .event_id = run->env->event_id,
            .processor = processor,
            .status = status,
            .started_wall_ms = run->started_wall_ms,
            .elapsed_ms = dur,
            .duration_ms = dur,
            .deps_met = "true",
            .skip_reason = skip,
            .error = error,
            .rows = run->st.written,
            .entities = "[]",
            .game_date = run->game_date,
            .sport = run->env->sport,
        };

        return sl_phase_exec_log(&run->svc->ph, &x, errstr, n);
}

/* game_date from the payload (else the envelope's). */
static int parse_event(struct nhl_run *run)
{
        const cJSON *p = run->env->payload, *gd;

        if (!cJSON_IsObject(p))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "payload: not an object");
        gd = cJSON_GetObjectItemCaseSensitive(p, "game_date");
        if (gd && !cJSON_IsNull(gd) && (!cJSON_IsString(gd) || !sl_date_valid(gd->valuestring)))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "payload.game_date: not YYYY-MM-DD");
        snprintf(run->game_date, sizeof(run->game_date), "%s",
                 gd && cJSON_IsString(gd) ? gd->valuestring : run->env->game_date);
        if (!sl_date_valid(run->game_date))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "no game_date in the event");
        return 0;
}

/* prediction:nhl:<date>:<sha256(upstream key | model)[0:32]>. */
static void make_idem_key(struct nhl_run *run)
{
        char hex[SL_SHA256_HEX_LEN + 1];
        char *in = sl_xasprintf(
            "%s|%s", run->env->idempotency_key ? run->env->idempotency_key : run->env->event_id,
            NHL_MODEL);

        sl_sha256_hex(in, strlen(in), hex);
        free(in);
        snprintf(run->idem_key, sizeof(run->idem_key), "prediction:%s:%s:%.32s", run->env->sport,
                 run->game_date, hex);
}

static int outbox_write(struct nhl_run *run)
{
        struct sl_envelope *ev;
        cJSON *p = cJSON_CreateObject(), *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
        int rc;

        cJSON_AddStringToObject(o, "name", NHL_PROCESSOR);
        cJSON_AddNumberToObject(o, "rows", run->st.predicted);
        cJSON_AddNumberToObject(o, "written", run->st.written);
        cJSON_AddItemToArray(arr, o);
        cJSON_AddItemToObject(p, "systems", arr);
        cJSON_AddStringToObject(p, "game_date", run->game_date);
        cJSON_AddStringToObject(p, "model_version", NHL_MODEL);
        cJSON_AddNumberToObject(p, "games", run->st.games);
        cJSON_AddNumberToObject(p, "games_predicted", run->st.predicted);
        ev = sl_envelope_new("prediction.completed", "prediction", run->env->sport, run->game_date,
                             run->env);
        if (!ev) {
                cJSON_Delete(p);
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                               "could not build prediction.completed");
        }
        rc = sl_envelope_set_idem_key(ev, run->idem_key);
        if (rc == 0)
                rc = sl_envelope_set_payload(ev, p);
        else
                cJSON_Delete(p);
        if (rc == 0)
                run->event = sl_envelope_serialize(ev, &run->event_len);
        sl_envelope_free(ev);
        if (rc < 0)
                return sl_errf(run->errstr, sizeof(run->errstr), rc,
                               "building prediction.completed");
        return sl_phase_outbox_insert(&run->svc->ph, run->topic, run->game_date, run->idem_key,
                                      run->event, run->errstr, sizeof(run->errstr));
}

/* BEGIN, claim, GOI rows, execution log, outbox, COMMIT. */
static int predict_tx(struct nhl_run *run)
{
        struct sl_pg *pg = run->svc->ph.pg;
        int rc;

        rc = sl_pg_begin(pg, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = sl_phase_claim(&run->svc->ph, run->idem_key, "prediction",
                                    run->env->correlation_id, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = pred_nhl_goi_run(pg, run->game_date, &run->st, run->errstr,
                                      sizeof(run->errstr));
        if (rc == 0)
                rc = exec_log(run, NHL_PROCESSOR, run->st.predicted ? "completed" : "skipped",
                              run->st.predicted ? NULL
                              : run->st.games   ? "no team rating before the date"
                                                : "no game on the date",
                              NULL, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = outbox_write(run);
        if (rc == 0)
                rc = sl_pg_commit(pg, run->errstr, sizeof(run->errstr));
        return sl_phase_tx_end(&run->svc->ph, rc);
}

int pred_nhl_handle(struct pred_svc *svc, const struct sl_envelope *env)
{
        struct nhl_run run;
        char err[256];
        int rc;

        memset(&run, 0, sizeof(run));
        run.svc = svc;
        run.env = env;
        run.t0_ms = sl_mono_ms();
        run.started_wall_ms = sl_wall_ms();
        rc = parse_event(&run);
        if (rc == 0 && sl_bus_topic(run.topic, sizeof(run.topic), svc->cfg->svc.bus_prefix,
                                    env->sport, "prediction") < 0)
                rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "topic too long");
        if (rc == 0) {
                make_idem_key(&run);
                rc = predict_tx(&run);
        }
        if (rc == 0)
                rc = sl_phase_publish(&svc->ph, run.topic, run.game_date, run.idem_key, run.event,
                                      run.event_len, run.errstr, sizeof(run.errstr));
        if (rc == -EEXIST) {
                free(run.event);
                run.event = NULL;
                rc = sl_phase_replay(&svc->ph, run.topic, run.idem_key, &run.event, &run.event_len,
                                     run.errstr, sizeof(run.errstr));
                if (rc == 0 || rc == -EEXIST) {
                        svc->duplicates++;
                        sl_log_info("prediction.nhl.duplicate", "key=%s: handled before%s",
                                    run.idem_key,
                                    rc == 0 ? "; unpublished event published now" : "");
                        int lrc = exec_log(&run, "prediction", "skipped",
                                           rc == 0 ? "duplicate: prediction.completed re-published"
                                                   : "duplicate: already predicted and published",
                                           NULL, run.errstr, sizeof(run.errstr));
                        rc = lrc < 0 ? lrc : rc; /* unrecorded: the redelivery records it */
                }
        } else if (rc == 0) {
                svc->handled++;
                sl_log_info("prediction.nhl.ok",
                            "date=%s games=%d predicted=%d written=%d duration_ms=%lld",
                            run.game_date, run.st.games, run.st.predicted, run.st.written,
                            (long long)(sl_mono_ms() - run.t0_ms));
        }
        if (rc < 0 && rc != -EEXIST) {
                svc->failed++;
                if (run.errstr[0])
                        sl_bus_set_error("%s", run.errstr); /* into a dead letter's dlq.error */
                sl_log_warn(rc == -EBADMSG ? "prediction.poison" : "prediction.error",
                            "sport=nhl date=%s: %s (%s)", run.game_date, run.errstr,
                            sl_strerror(rc));
                run.st.written = 0;
                if (!svc->ph.pg_down &&
                    exec_log(&run, "prediction", "failed", NULL,
                             run.errstr[0] ? run.errstr : sl_strerror(rc), err, sizeof(err)) < 0)
                        sl_log_debug("prediction.exec_log.error", "%s", err);
        } else {
                sl_phase_note_pg_up(&svc->ph);
        }
        free(run.event);
        return rc;
}
