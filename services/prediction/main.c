/*
 * statline-prediction: five systems predict player props from the
 * precompute phase's output (README.md). This file is the option table and
 * the runtime glue; the handler is prediction.c.
 */
#include <stddef.h>

#include <sl/svc.h>

#include "prediction.h"

static struct pred_cfg cfg;
static struct pred_svc svc_state;

static const struct sl_cfg_opt opts[] = {
    SL_SVC_OPTS(&cfg.svc),
    SL_CFG_STR("pg.dsn", &cfg.pg_dsn, NULL, SL_CFG_REQUIRED | SL_CFG_SECRET | SL_CFG_SHARED,
               "PostgreSQL connection string (libpq URI or key=value)"),
    SL_CFG_STR("pg.migrations", &cfg.pg_migrations, "db/migrations",
               SL_CFG_REQUIRED | SL_CFG_SHARED,
               "directory of the NNNN_name.sql migrations applied at start"),
    SL_CFG_INT("pg.connect_timeout_ms", &cfg.pg_connect_timeout_ms, 5000, 100, 600000,
               SL_CFG_SHARED, "PostgreSQL connect timeout"),
    SL_CFG_STR("edge.points", &cfg.edge[PRED_POINTS], "1.0", 0,
               "PASS when |predicted - line| is below this (points)"),
    SL_CFG_STR("edge.rebounds", &cfg.edge[PRED_REBOUNDS], "0.5", 0, "PASS band for rebounds"),
    SL_CFG_STR("edge.assists", &cfg.edge[PRED_ASSISTS], "0.5", 0, "PASS band for assists"),
    SL_CFG_INT("publish.timeout_ms", &cfg.publish_timeout_ms, 10000, 100, 600000, 0,
               "wait for the broker to confirm prediction.completed before acking"),
    SL_CFG_END,
};

static int init(struct sl_svc *svc, void *ctx, char *errstr, size_t errstr_size)
{
        return pred_svc_open(ctx, &cfg, sl_svc_bus(svc), errstr, errstr_size);
}

static void fini(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        pred_svc_close(ctx);
}

int main(int argc, char **argv)
{
        struct sl_svc_def def = {
            .name = "prediction",
            .consumes = "precompute",
            .usage = "Consumes <prefix>.<sport>.precompute.completed, predicts every player "
                     "with a prop line on the date with moving_average, zone_matchup_v1, "
                     "similarity_balanced_v1, xgboost_v1 and ensemble_v1, upserts "
                     "prediction.player_prop_predictions and publishes "
                     "<prefix>.<sport>.prediction.completed.",
            .opts = opts,
            .cfg = &cfg.svc,
            .ctx = &svc_state,
            .init = init,
            .handler = pred_handle,
            .fini = fini,
        };
        int rc = sl_svc_main(&def, argc, argv);

        pred_svc_close(&svc_state);
        return rc;
}
