#include "prediction.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/sha256.h>
#include <sl/util.h>

/*
 * The prediction phase's handler (README.md): precompute.completed in; in ONE
 * transaction claim the idempotency key, score past predictions
 * (prediction.system_errors), run the five systems over the players with a
 * prop line, upsert the predictions, one execution log row per processor,
 * the prediction.completed envelope into ops.outbox; after COMMIT publish it.
 */

#define MAX_ENTITIES 1000 /* players listed in prediction.completed; more: whole date */

/* ---- the model ------------------------------------------------------------------------- */

int pred_svc_refresh_model(struct pred_svc *svc, char *errstr, size_t n)
{
        PGresult *res = NULL;
        struct pred_model *model;
        int rc;

        rc = sl_pg_exec(svc->ph.pg,
                        "SELECT model_version, file_path, feature_version, holdout_mae, "
                        "(SELECT cardinality(feature_names) FROM precompute.ml_feature_versions v "
                        "WHERE v.feature_version = m.feature_version) FROM prediction.models m "
                        "WHERE system_id = 'xgboost_v1' ORDER BY trained_at DESC, model_version "
                        "DESC LIMIT 1",
                        0, NULL, &res, errstr, n);
        if (rc < 0)
                return rc;
        if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), svc->model_version) == 0) {
                PQclear(res);
                return 0;
        }
        if (PQgetisnull(res, 0, 4)) {
                rc = sl_errf(errstr, n, -EIO, "model %s: feature version %s unknown",
                             PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2));
                PQclear(res);
                return rc;
        }
        model = pred_model_load(PQgetvalue(res, 0, 1),
                                (size_t)strtol(PQgetvalue(res, 0, 4), NULL, 10), errstr, n);
        if (!model) {
                PQclear(res);
                return -EIO;
        }
        pred_model_free(svc->model);
        svc->model = model;
        snprintf(svc->model_version, sizeof(svc->model_version), "%s", PQgetvalue(res, 0, 0));
        snprintf(svc->model_feature_version, sizeof(svc->model_feature_version), "%s",
                 PQgetvalue(res, 0, 2));
        svc->model_mae = PQgetisnull(res, 0, 3) ? NAN : strtod(PQgetvalue(res, 0, 3), NULL);
        sl_log_info("prediction.model.loaded", "model=%s feature_version=%s holdout_mae=%.3f",
                    svc->model_version, svc->model_feature_version, svc->model_mae);
        PQclear(res);
        return 0;
}

/* ---- one run ---------------------------------------------------------------------------- */

struct run {
        struct pred_svc *svc;
        const struct sl_envelope *env;
        char game_date[11];
        const char *feature_version; /* from the payload, may be NULL */
        char *players;               /* "{1,2}" bigint[] literal or NULL (whole date); owned */
        char idem_key[SL_ENVELOPE_MAX_IDEM_KEY];
        char topic[256];
        int64_t started_wall_ms, t0_ms;
        struct pred_set set;
        int rows[PRED_N_SYSTEMS];    /* predictions produced */
        int written[PRED_N_SYSTEMS]; /* rows inserted or changed */
        int errors_rows;
        struct pred_elo_stats elo;
        struct pred_kelly_stats kelly;
        char inputs_key[SL_SHA256_HEX_LEN + 1]; /* pred_inputs_key(), "" when not read */
        bool unchanged;                         /* skipped: inputs seen by an earlier run */
        char *event;
        size_t event_len;
        char errstr[PRED_ERRSTR_SIZE];
};

/* The execution log's entity list of the "{1,2}" players literal (NULL: whole date, "[]"). */
static char *players_json(const char *players)
{
        char *list = sl_xstrdup(players ? players : "{}");
        const char **ids = sl_xcalloc(strlen(list) / 2 + 1, sizeof(*ids));
        size_t n = 0;
        char *json;

        list[strlen(list) - 1] = '\0'; /* drop the closing brace */
        for (char *p = list + 1; *p; n++) {
                ids[n] = p;
                p += strcspn(p, ",");
                if (*p)
                        *p++ = '\0';
        }
        json = sl_phase_entities_json("player", ids, n);
        free(ids);
        free(list);
        return json;
}

/* Execution log row for one processor of this run. */
static int exec_log(struct run *run, const char *processor, const char *status, int64_t dur_ms,
                    int rows, const char *missing, const char *skip, const char *error,
                    char *errstr, size_t n)
{
        char missing_arr[200];
        char *ents = players_json(run->players);
        struct sl_phase_exec x = {
            .correlation_id = run->env->correlation_id,
            .event_id = run->env->event_id,
            .processor = processor,
            .status = status,
            .started_wall_ms = run->started_wall_ms,
            .elapsed_ms = dur_ms,
            .duration_ms = dur_ms,
            .deps_met = missing && *missing ? "false" : "true",
            .missing = missing_arr,
            .skip_reason = skip,
            .error = error,
            .rows = rows,
            .entities = ents,
            .game_date = run->game_date,
            .sport = run->env->sport,
        };
        int rc;

        snprintf(missing_arr, sizeof(missing_arr), "{%s}", missing ? missing : "");
        rc = sl_phase_exec_log(&run->svc->ph, &x, errstr, n);
        free(ents);
        return rc;
}

/* Parses the precompute.completed payload: game_date, feature_version, player entities. */
static int parse_event(struct run *run)
{
        const struct sl_envelope *env = run->env;
        const cJSON *p = env->payload, *gd, *fv;
        struct sl_buf b;
        size_t np = 0;

        if (!cJSON_IsObject(p))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "payload: not an object");
        gd = cJSON_GetObjectItemCaseSensitive(p, "game_date");
        fv = cJSON_GetObjectItemCaseSensitive(p, "feature_version");
        if (gd && !cJSON_IsNull(gd) && (!cJSON_IsString(gd) || !sl_date_valid(gd->valuestring)))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "payload.game_date: not YYYY-MM-DD");
        if (fv && !cJSON_IsNull(fv) &&
            (!cJSON_IsString(fv) || strlen(fv->valuestring) > 32 || !*fv->valuestring))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "payload.feature_version: not a version");
        run->feature_version = fv && cJSON_IsString(fv) ? fv->valuestring : NULL;
        snprintf(run->game_date, sizeof(run->game_date), "%s",
                 gd && cJSON_IsString(gd) ? gd->valuestring : env->game_date);
        if (!sl_date_valid(run->game_date))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "no game_date in the event");
        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "{");
        for (size_t i = 0; i < env->n_entities; i++) {
                int64_t id;
                if (strcmp(env->entities[i].kind, "player") != 0)
                        continue;
                if (sl_parse_i64(env->entities[i].id, 1, INT64_MAX, &id) < 0) {
                        sl_buf_fini(&b);
                        return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                                       "affected_entities: player id '%.32s' is not a number",
                                       env->entities[i].id);
                }
                sl_buf_printf(&b, "%s%lld", np++ ? "," : "", (long long)id);
        }
        sl_buf_puts(&b, "}");
        run->players = np ? sl_buf_steal(&b) : NULL;
        sl_buf_fini(&b);
        return 0;
}

/* prediction:<sport>:<date>:<sha256(players | upstream key | model)[0:32]>. */
static void make_idem_key(struct run *run)
{
        char hex[SL_SHA256_HEX_LEN + 1];
        char *in =
            sl_xasprintf("%s|%s|%s|%s", run->players ? run->players : "*",
                         run->env->idempotency_key ? run->env->idempotency_key : run->env->event_id,
                         run->svc->model_version, run->feature_version ? run->feature_version : "");

        sl_sha256_hex(in, strlen(in), hex);
        free(in);
        snprintf(run->idem_key, sizeof(run->idem_key), "prediction:%s:%s:%.32s", run->env->sport,
                 run->game_date, hex);
}

static int claim(struct run *run)
{
        return sl_phase_claim(&run->svc->ph, run->idem_key, "prediction", run->env->correlation_id,
                              run->errstr, sizeof(run->errstr));
}

/*
 * The error sums of the window's prediction dates whose change-log
 * fingerprint moved since they were taken (migration 0024): read the
 * fingerprints first (a change committed after that moves the next one),
 * then the sums of those dates again, then the fingerprints they came from.
 */
static int refresh_error_sums(struct run *run, const char *window)
{
        const char *params[] = {run->game_date, window}, *dp[2];
        struct sl_buf days, fps;
        PGresult *res = NULL;
        int rc, n;

        rc =
            sl_pg_exec(run->svc->ph.pg,
                       "SELECT w.day::text, w.fp FROM (SELECT g.day::date AS day, (SELECT count(*) "
                       "|| ':' || coalesce(sum(d.seq), 0) FROM ops.data_changes d WHERE d.tbl IN "
                       "('prediction.player_prop_predictions', 'analytics.player_game_summary') "
                       "AND (d.game_date = g.day::date OR d.game_date IS NULL)) AS fp "
                       "FROM generate_series($1::date - $2::int, $1::date - 1, interval '1 day') "
                       "AS g(day)) w LEFT JOIN ops.system_error_days s "
                       "ON s.game_date = w.day WHERE s.inputs_fp IS DISTINCT FROM w.fp",
                       2, params, &res, run->errstr, sizeof(run->errstr));
        if (rc < 0)
                return rc;
        n = PQntuples(res);
        sl_buf_init(&days, 0);
        sl_buf_init(&fps, 0);
        for (int r = 0; r < n; r++) {
                sl_buf_puts(&days, r ? "," : "{");
                sl_buf_puts(&days, PQgetvalue(res, r, 0));
                sl_buf_puts(&fps, r ? ",\"" : "{\"");
                sl_buf_puts(&fps, PQgetvalue(res, r, 1)); /* digits and ':' only */
                sl_buf_puts(&fps, "\"");
        }
        PQclear(res);
        sl_buf_puts(&days, "}");
        sl_buf_puts(&fps, "}");
        dp[0] = days.data;
        dp[1] = fps.data;
        if (n > 0)
                rc = sl_pg_exec(run->svc->ph.pg,
                                "DELETE FROM prediction.system_error_sums WHERE game_date = "
                                "ANY($1::date[])",
                                1, dp, NULL, run->errstr, sizeof(run->errstr));
        if (n > 0 && rc == 0)
                rc = sl_pg_exec(
                    run->svc->ph.pg,
                    "INSERT INTO prediction.system_error_sums (game_date, system_id, market, "
                    "n_samples, sum_abs, sum_sq, sum_err) SELECT p.game_date, p.system_id, "
                    "p.market, count(*), sum(abs(p.predicted_value - a.v)), "
                    "sum((p.predicted_value - a.v) ^ 2), sum(p.predicted_value - a.v) "
                    "FROM prediction.player_prop_predictions p JOIN LATERAL (SELECT CASE p.market "
                    "WHEN 'points' THEN g.pts WHEN 'rebounds' THEN g.reb WHEN 'assists' THEN g.ast "
                    "END AS v FROM analytics.player_game_summary g WHERE g.player_id = p.player_id "
                    "AND g.game_id = p.game_id AND g.game_date = p.game_date) a ON a.v IS NOT NULL "
                    "WHERE p.game_date = ANY($1::date[]) "
                    "GROUP BY 1, 2, 3 ON CONFLICT (game_date, system_id, market) DO UPDATE SET "
                    "n_samples = excluded.n_samples, sum_abs = excluded.sum_abs, "
                    "sum_sq = excluded.sum_sq, sum_err = excluded.sum_err",
                    1, dp, NULL, run->errstr, sizeof(run->errstr));
        if (n > 0 && rc == 0)
                rc = sl_pg_exec(run->svc->ph.pg,
                                "INSERT INTO ops.system_error_days (game_date, inputs_fp) "
                                "SELECT * FROM unnest($1::date[], $2::text[]) ON CONFLICT "
                                "(game_date) DO UPDATE SET inputs_fp = excluded.inputs_fp",
                                2, dp, NULL, run->errstr, sizeof(run->errstr));
        sl_buf_fini(&days);
        sl_buf_fini(&fps);
        return rc;
}

/*
 * prediction.system_errors as of the run's date: each system's and market's
 * count, MAE, RMSE and bias over the predictions of the PRED_ERR_WINDOW days
 * before it, scored against the player's box score of the same game on the
 * same date. Summed from the kept per-date sums (refresh_error_sums()): the
 * same numeric values as avg() over the rows (sums of numerics are exact;
 * avg is sum / count), ~40,000 rows joined with their box scores on every
 * date before (docs/performance.md, pass 5). An entity run (a player list)
 * keeps the scores an earlier run of the date wrote (*skip set): they read
 * only rows dated before the date, which an injury or a line of that date
 * does not change, and scoring reads every prediction of the window.
 */
static int score_errors(struct run *run, const char **skip)
{
        char window[16];
        const char *params[] = {run->game_date, window};
        PGresult *res = NULL;
        int rc;

        *skip = NULL;
        if (run->players) {
                rc =
                    sl_pg_exec(run->svc->ph.pg,
                               "SELECT 1 FROM prediction.system_errors WHERE as_of_date = $1::date "
                               "LIMIT 1",
                               1, params, &res, run->errstr, sizeof(run->errstr));
                if (rc == 0 && PQntuples(res) > 0)
                        *skip = "entity update: the date's errors were scored by an earlier run";
                PQclear(res);
                if (rc < 0 || *skip)
                        return rc;
                res = NULL;
        }
        snprintf(window, sizeof(window), "%d", PRED_ERR_WINDOW);
        rc = refresh_error_sums(run, window);
        if (rc < 0)
                return rc;
        rc = sl_pg_exec(
            run->svc->ph.pg,
            "INSERT INTO prediction.system_errors (system_id, market, as_of_date, window_days, "
            "n_samples, mae, rmse, bias) SELECT system_id, market, $1::date, $2::smallint, "
            "sum(n_samples), round(sum(sum_abs) / sum(n_samples), 3), "
            "round(sqrt(sum(sum_sq) / sum(n_samples))::numeric, 3), "
            "round(sum(sum_err) / sum(n_samples), 3) FROM prediction.system_error_sums "
            "WHERE game_date < $1::date AND game_date >= $1::date - $2::int "
            "GROUP BY system_id, market ON CONFLICT (system_id, market, as_of_date) DO "
            "UPDATE SET window_days = excluded.window_days, n_samples = excluded.n_samples, "
            "mae = excluded.mae, rmse = excluded.rmse, bias = excluded.bias RETURNING 1",
            2, params, &res, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                run->errors_rows = PQntuples(res);
        PQclear(res);
        return rc;
}

/* Column arrays of one system's upsert, as PostgreSQL array literals. */
#define NCOLS 12

struct cols {
        struct sl_buf b[NCOLS];
        int n;
};

static void cols_add(struct cols *c, const char *const v[NCOLS])
{
        for (int i = 0; i < NCOLS; i++) {
                sl_buf_puts(&c->b[i], c->n ? "," : "{");
                if (!v[i]) {
                        sl_buf_puts(&c->b[i], "NULL");
                        continue;
                }
                sl_buf_printf(&c->b[i], "\"%s\"", v[i]); /* ids, names, numbers: no quotes inside */
        }
        c->n++;
}

static const char SQL_UPSERT[] =
    "INSERT INTO prediction.player_prop_predictions (player_id, game_date, system_id, market, "
    "game_id, predicted_value, line, recommendation, confidence, model_version, feature_version, "
    "player_status) "
    "SELECT * FROM unnest($1::bigint[], $2::date[], $3::text[], $4::text[], $5::text[], "
    "$6::numeric[], $7::numeric[], $8::text[], $9::numeric[], $10::text[], $11::text[], "
    "$12::text[]) "
    "ON CONFLICT (player_id, game_date, system_id, market) DO UPDATE SET "
    "game_id = excluded.game_id, predicted_value = excluded.predicted_value, line = excluded.line, "
    "recommendation = excluded.recommendation, confidence = excluded.confidence, "
    "model_version = excluded.model_version, feature_version = excluded.feature_version, "
    "player_status = excluded.player_status "
    "RETURNING 1";

/* The version a row names: the model for xgboost_v1, "<system>@1" otherwise. */
static const char *row_version(const struct run *run, int s, char *buf, size_t n)
{
        if (s == PRED_XGBOOST)
                return run->svc->model_version;
        snprintf(buf, n, "%s@1", pred_system_name(s));
        return buf;
}

static void add_rows(struct run *run, int s, struct cols *c)
{
        const struct pred_set *set = &run->set;
        char pid[24], val[32], line[32], conf[16], ver[80];

        for (size_t i = 0; i < set->n; i++) {
                const struct pred_target *t = &set->t[i];
                for (int m = 0; m < PRED_N_MARKETS; m++) {
                        struct pred_value v = set->out[s][m][i];
                        double sd = v.sd;
                        if (isnan(v.value) || (m != PRED_POINTS && isnan(t->line[m])))
                                continue;
                        if (s == PRED_XGBOOST)
                                sd = isnan(run->svc->model_mae) ? 5.0 : run->svc->model_mae * 1.25;
                        bool out = strcmp(t->status, "Out") == 0;
                        snprintf(pid, sizeof(pid), "%lld", (long long)t->player_id);
                        snprintf(val, sizeof(val), "%.2f", v.value);
                        snprintf(line, sizeof(line), "%.1f", t->line[m]);
                        /* an Out player: no bet, whatever the numbers say */
                        snprintf(conf, sizeof(conf), "%.3f",
                                 out ? 0.0 : pred_confidence(v.value, t->line[m], sd, v.n));
                        const char *vals[NCOLS] = {
                            pid,
                            t->game_date,
                            pred_system_name(s),
                            pred_market_name(m),
                            t->game_id,
                            val,
                            isnan(t->line[m]) ? NULL : line,
                            out ? "NO_BET" : pred_recommend(v.value, t->line[m], run->svc->edge[m]),
                            conf,
                            row_version(run, s, ver, sizeof(ver)),
                            set->feature_version[0] ? set->feature_version : NULL,
                            t->status[0] ? t->status : NULL};
                        cols_add(c, vals);
                }
        }
}

static int upsert_system(struct run *run, int s)
{
        struct cols c = {.n = 0};
        const char *params[NCOLS];
        PGresult *res = NULL;
        int rc = 0;

        for (int i = 0; i < NCOLS; i++)
                sl_buf_init(&c.b[i], 0);
        add_rows(run, s, &c);
        run->rows[s] = c.n;
        if (c.n > 0) {
                for (int i = 0; i < NCOLS; i++) {
                        sl_buf_puts(&c.b[i], "}");
                        params[i] = c.b[i].data;
                }
                rc = sl_pg_exec(run->svc->ph.pg, SQL_UPSERT, NCOLS, params, &res, run->errstr,
                                sizeof(run->errstr));
                if (rc == 0)
                        run->written[s] = PQntuples(res);
                PQclear(res);
        }
        for (int i = 0; i < NCOLS; i++)
                sl_buf_fini(&c.b[i]);
        return rc;
}

/* Upserts each system's rows and logs one execution row per processor. */
static int write_systems(struct run *run)
{
        int rc = 0;

        for (int s = 0; s < PRED_N_SYSTEMS && rc == 0; s++) {
                const char *skip = run->set.skip_reason[s];
                if (run->set.ran[s])
                        rc = upsert_system(run, s);
                if (rc == 0 && run->set.ran[s] && run->rows[s] == 0)
                        skip = "no prediction for any target";
                /* a failed system (its breaker counted it) is logged skipped with the reason */
                if (rc == 0)
                        rc = exec_log(run, pred_system_name(s),
                                      run->set.ran[s] && run->rows[s] ? "completed" : "skipped",
                                      run->set.duration_ms[s], run->written[s], run->set.missing[s],
                                      *skip ? skip : NULL,
                                      run->set.failed[s] ? skip + strlen("system failed: ") : NULL,
                                      run->errstr, sizeof(run->errstr));
        }
        return rc;
}

static cJSON *completed_payload(const struct run *run)
{
        cJSON *p = cJSON_CreateObject(), *arr = cJSON_CreateArray();

        for (int s = 0; s < PRED_N_SYSTEMS; s++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "name", pred_system_name(s));
                cJSON_AddNumberToObject(o, "rows", run->rows[s]);
                cJSON_AddNumberToObject(o, "written", run->written[s]);
                if (!run->set.ran[s])
                        cJSON_AddStringToObject(o, "skip_reason", run->set.skip_reason[s]);
                cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddItemToObject(p, "systems", arr);
        cJSON_AddStringToObject(p, "game_date", run->game_date);
        if (run->svc->model_version[0] && run->set.ran[PRED_XGBOOST])
                cJSON_AddStringToObject(p, "model_version", run->svc->model_version);
        else
                cJSON_AddNullToObject(p, "model_version");
        if (run->set.feature_version[0])
                cJSON_AddStringToObject(p, "feature_version", run->set.feature_version);
        cJSON_AddNumberToObject(p, "players", (double)run->set.n);
        cJSON_AddNumberToObject(p, "elo_games", run->elo.games_predicted);
        cJSON_AddNumberToObject(p, "bets", run->kelly.staked);
        return p;
}

static int outbox_write(struct run *run)
{
        struct sl_envelope *ev;
        char pid[24];
        int rc = 0;

        ev = sl_envelope_new("prediction.completed", "prediction", run->env->sport, run->game_date,
                             run->env);
        if (!ev)
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL, "envelope");
        for (size_t i = 0; run->set.n <= MAX_ENTITIES && i < run->set.n && rc == 0; i++) {
                snprintf(pid, sizeof(pid), "%lld", (long long)run->set.t[i].player_id);
                rc = sl_envelope_add_entity(ev, "player", pid);
        }
        if (rc == 0)
                rc = sl_envelope_set_idem_key(ev, run->idem_key);
        if (rc == 0)
                rc = sl_envelope_set_payload(ev, completed_payload(run));
        if (rc == 0)
                run->event = sl_envelope_serialize(ev, &run->event_len);
        sl_envelope_free(ev);
        if (rc < 0)
                return sl_errf(run->errstr, sizeof(run->errstr), rc,
                               "building prediction.completed");
        /* the partition key is the game date */
        return sl_phase_outbox_insert(&run->svc->ph, run->topic, run->game_date, run->idem_key,
                                      run->event, run->errstr, sizeof(run->errstr));
}

/*
 * Elo ratings as of the date and the date's win probabilities (processor
 * "elo"; skipped for a sport without results in raw.games).
 */
static int elo_step(struct run *run)
{
        int64_t t0 = sl_mono_ms();
        int rc = pred_elo_run(run->svc->ph.pg, run->env->sport, run->game_date, &run->elo,
                              run->errstr, sizeof(run->errstr));

        if (rc < 0)
                return rc;
        return exec_log(run, "elo", rc == 1 ? "skipped" : "completed", sl_mono_ms() - t0,
                        run->elo.ratings_written + run->elo.probs_written, NULL,
                        rc == 1 ? "no results of this sport in raw.games" : NULL, NULL, run->errstr,
                        sizeof(run->errstr));
}

/* Kelly stakes of the date's priced props, whole date (processor "kelly"). */
static int kelly_step(struct run *run)
{
        int64_t t0 = sl_mono_ms();
        int rc =
            pred_kelly_run(run->svc->ph.pg, run->env->sport, run->game_date, &run->svc->kelly,
                           &run->svc->kelly_open, &run->kelly, run->errstr, sizeof(run->errstr));

        if (rc < 0)
                return rc;
        return exec_log(run, "kelly", "completed", sl_mono_ms() - t0, run->kelly.written, NULL,
                        NULL, NULL, run->errstr, sizeof(run->errstr));
}

/*
 * Reads the run's input fingerprint (after the date's errors are scored,
 * before any input is read, so a write committed in between changes the
 * next run's key, never hides from it). 1 when an earlier committed run of
 * the date with the same key predicted every player of this one, else 0.
 */
static int unchanged_inputs(struct run *run)
{
        char context[160];
        int rc;

        snprintf(context, sizeof(context), "%s|%s", run->svc->model_version,
                 run->feature_version ? run->feature_version : "");
        rc = pred_inputs_key(run->svc->ph.pg, run->game_date, context, run->inputs_key,
                             sizeof(run->inputs_key), run->errstr, sizeof(run->errstr));
        if (rc < 0)
                return rc;
        return pred_seen_covered(&run->svc->seen, run->game_date, run->inputs_key, run->players);
}

/* The whole unit of work in one transaction. 1 = nothing to predict (committed). */
static int predict_tx(struct run *run)
{
        struct sl_pg *pg = run->svc->ph.pg;
        const char *skip = NULL;
        int rc, ntargets = 0;

        rc = sl_pg_begin(pg, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = claim(run);
        if (rc == 0)
                rc = score_errors(run, &skip);
        if (rc == 0)
                rc = exec_log(run, "system_errors", skip ? "skipped" : "completed",
                              sl_mono_ms() - run->t0_ms, run->errors_rows, NULL, skip, NULL,
                              run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = unchanged_inputs(run);
        if (rc == 1) { /* an earlier run of the date predicted these players from these rows */
                run->unchanged = true;
                rc = exec_log(run, "prediction", "skipped", sl_mono_ms() - run->t0_ms, 0, NULL,
                              "inputs unchanged: an earlier run of the date predicted these "
                              "players from the same rows",
                              NULL, run->errstr, sizeof(run->errstr));
                if (rc == 0)
                        rc = sl_pg_commit(pg, run->errstr, sizeof(run->errstr));
                return rc < 0 ? sl_phase_tx_end(&run->svc->ph, rc) : 1;
        }
        if (rc == 0)
                rc = elo_step(run);
        if (rc == 0)
                rc = ntargets = pred_targets_from_lines(pg, run->game_date, run->players,
                                                        run->errstr, sizeof(run->errstr));
        if (rc >= 0 && ntargets == 0) {
                rc = exec_log(run, "prediction", "skipped", sl_mono_ms() - run->t0_ms, 0,
                              "raw.prop_lines", "no prop lines on the date", NULL, run->errstr,
                              sizeof(run->errstr));
                if (rc == 0)
                        rc = sl_pg_commit(pg, run->errstr, sizeof(run->errstr));
                return rc < 0 ? sl_phase_tx_end(&run->svc->ph, rc) : 1;
        }
        run->set.hcache = run->svc->hcache;
        if (rc >= 0)
                rc = pred_set_load(pg, &run->set, run->feature_version, run->errstr,
                                   sizeof(run->errstr));
        run->set.rt = run->svc->rt; /* the system breakers (pred_set_load zeroed the set) */
        if (rc == 0)
                rc = pred_run_systems(pg, &run->set, run->svc->model, true, run->errstr,
                                      sizeof(run->errstr));
        if (rc == 0)
                rc = write_systems(run);
        if (rc == 0)
                rc = kelly_step(run);
        if (rc == 0)
                rc = outbox_write(run);
        if (rc == 0)
                rc = sl_pg_commit(pg, run->errstr, sizeof(run->errstr));
        return sl_phase_tx_end(&run->svc->ph, rc);
}

/* The key was claimed: publish its event if it never went out, else -EEXIST. */
static int duplicate(struct run *run)
{
        int rc, lrc;

        rc = sl_phase_replay(&run->svc->ph, run->topic, run->idem_key, &run->event, &run->event_len,
                             run->errstr, sizeof(run->errstr));
        if (rc < 0 && rc != -EEXIST)
                return rc;
        run->svc->duplicates++;
        sl_log_info("prediction.duplicate", "key=%s: handled before%s", run->idem_key,
                    rc == 0 ? "; unpublished event published now" : "");
        lrc = exec_log(run, "prediction", "skipped", sl_mono_ms() - run->t0_ms, 0, NULL,
                       rc == 0 ? "duplicate: prediction.completed re-published"
                               : "duplicate: already predicted and published",
                       NULL, run->errstr, sizeof(run->errstr));
        return lrc < 0 ? lrc : rc; /* unrecorded: the redelivery records it */
}

static int failed(struct run *run, int rc)
{
        char err[256];

        run->svc->failed++;
        if (run->errstr[0])
                sl_bus_set_error("%s", run->errstr); /* into a dead letter's dlq.error */
        if (rc == -EBADMSG)
                sl_log_warn("prediction.poison", "%s (dead-lettered)", run->errstr);
        else
                sl_log_warn("prediction.error", "%s (%s)", run->errstr, sl_strerror(rc));
        if (!run->svc->ph.pg_down &&
            exec_log(run, "prediction", "failed", sl_mono_ms() - run->t0_ms, 0, NULL, NULL,
                     run->errstr[0] ? run->errstr : sl_strerror(rc), err, sizeof(err)) < 0)
                sl_log_debug("prediction.exec_log.error", "%s", err);
        return rc;
}

int pred_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct pred_svc *svc = opaque;
        struct run run;
        int rc;

        (void)msg;
        if (env->sport && strcmp(env->sport, "nhl") == 0)
                return pred_nhl_handle(svc, env); /* GOI win probabilities, nhl.c */
        memset(&run, 0, sizeof(run));
        run.svc = svc;
        run.env = env;
        run.started_wall_ms = sl_wall_ms();
        run.t0_ms = sl_mono_ms();
        rc = parse_event(&run);
        if (rc == 0 && sl_bus_topic(run.topic, sizeof(run.topic), svc->cfg->svc.bus_prefix,
                                    env->sport, "prediction") < 0)
                rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "topic too long");
        if (rc == 0 && pred_svc_refresh_model(svc, run.errstr, sizeof(run.errstr)) < 0) {
                sl_log_warn("prediction.model.error", "%s (xgboost_v1 keeps the loaded model)",
                            run.errstr);
                run.errstr[0] = '\0';
        }
        if (rc == 0) {
                make_idem_key(&run);
                rc = predict_tx(&run);
        }
        if (rc == 0)
                rc = sl_phase_publish(&svc->ph, run.topic, run.game_date, run.idem_key, run.event,
                                      run.event_len, run.errstr, sizeof(run.errstr));
        if (rc == -EEXIST) {
                rc = duplicate(&run);
                if (rc < 0 && rc != -EEXIST) /* the outbox read or the re-publish failed */
                        rc = failed(&run, rc);
        } else if (rc == 1) {
                sl_log_info("prediction.skip", "date=%s: %s", run.game_date,
                            run.unchanged ? "inputs unchanged since an earlier run of the date"
                                          : "no prop lines");
                rc = 0;
        } else if (rc == 0) {
                svc->handled++;
                /* a run with a failed or circuit-open system is not "seen": the same inputs
                   run again once the system is back */
                bool whole = true;
                for (int s = 0; s < PRED_N_SYSTEMS; s++)
                        whole = whole && !run.set.failed[s] && !run.set.cb_open[s];
                if (whole)
                        pred_seen_record(&svc->seen, run.game_date, run.inputs_key, run.players);
                uint64_t hits, loads;
                pred_hcache_stats(svc->hcache, &hits, &loads);
                sl_log_info("prediction.ok",
                            "date=%s players=%zu rows ma=%d zone=%d sim=%d xgb=%d ens=%d "
                            "elo_games=%d/%d bets=%d/%d stake=%.2f "
                            "model=%s history_cache hits=%llu loads=%llu duration_ms=%lld",
                            run.game_date, run.set.n, run.rows[0], run.rows[1], run.rows[2],
                            run.rows[3], run.rows[4], run.elo.games_played, run.elo.games_predicted,
                            run.kelly.staked, run.kelly.candidates, run.kelly.total_stake,
                            svc->model ? svc->model_version : "none", (unsigned long long)hits,
                            (unsigned long long)loads, (long long)(sl_mono_ms() - run.t0_ms));
        } else {
                rc = failed(&run, rc);
        }
        if (rc == 0) /* PostgreSQL answered a whole run */
                sl_phase_note_pg_up(&svc->ph);
        pred_set_fini(&run.set);
        free(run.players);
        free(run.event);
        return rc;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int pred_svc_open(struct pred_svc *svc, const struct pred_cfg *cfg, struct sl_bus *bus,
                  struct sl_http *http, char *errstr, size_t n)
{
        int rc;

        svc->cfg = cfg;
        svc->ph.bus = bus; /* set up front: sl_phase_open() below may not be reached */
        svc->ph.http = http;
        svc->model_mae = NAN;
        svc->hcache = pred_hcache_new();
        for (int m = 0; m < PRED_N_MARKETS; m++) {
                char *end;
                svc->edge[m] = strtod(cfg->edge[m], &end);
                if (end == cfg->edge[m] || *end || !(svc->edge[m] >= 0 && svc->edge[m] < 100))
                        return sl_errf(errstr, n, -EINVAL,
                                       "edge.%s: '%s' is not a number in [0, 100)",
                                       pred_market_name(m), cfg->edge[m]);
        }
        rc = pred_kelly_cfg_parse(cfg->kelly, &svc->kelly, errstr, n);
        if (rc == 0)
                rc = pred_kelly_weight_parse(cfg->kelly_market_weight, cfg->kelly_ml_market_weight,
                                             &svc->kelly, errstr, n);
        if (rc < 0)
                return rc;
        rc = sl_phase_open(&svc->ph, "prediction", &cfg->phase, bus, http, errstr, n);
        if (rc < 0)
                return rc;
        sl_log_info("prediction.init", "migrations applied=%d", rc);
        /* before the first look: a model committed in between is not missed */
        rc = sl_pg_listen(svc->ph.pg, PRED_MODEL_CHANNEL, errstr, n);
        if (rc < 0)
                return rc;
        rc = pred_svc_refresh_model(svc, errstr, n);
        if (rc < 0) {
                sl_log_warn("prediction.model.error", "%s (xgboost_v1 skipped until fixed)",
                            errstr);
                errstr[0] = '\0';
        } else if (!svc->model) {
                sl_log_info("prediction.model.none", "no trained xgboost_v1 model: skipped");
        }
        return 0;
}

void pred_svc_close(struct pred_svc *svc)
{
        sl_phase_close(&svc->ph);
        pred_model_free(svc->model);
        svc->model = NULL;
        pred_hcache_free(svc->hcache);
        svc->hcache = NULL;
        pred_seen_fini(&svc->seen);
}

int pred_svc_tick(struct pred_svc *svc)
{
        char err[PRED_ERRSTR_SIZE];

        /* a model trained (NOTIFY statline_model, migration 0021) or a reconnect: load it now,
           not in the next event's handler */
        if (sl_pg_notifications(svc->ph.pg) > 0 &&
            pred_svc_refresh_model(svc, err, sizeof(err)) < 0) {
                sl_log_warn("prediction.model.error", "%s (xgboost_v1 keeps the loaded model)",
                            err);
        }
        return sl_phase_tick(&svc->ph);
}
