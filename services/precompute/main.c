/*
 * statline-precompute: per-player caches, factors and the ML feature store
 * as of a date (README.md). This file is the option table and the runtime
 * glue; the handler is precompute.c.
 */
#include <stddef.h>

#include <sl/svc.h>

#include "precompute.h"

static struct pc_cfg cfg;
static struct pc_svc pc;

static const struct sl_cfg_opt opts[] = {
    SL_SVC_OPTS(&cfg.svc),
    SL_PHASE_OPTS(&cfg.phase, "precompute"),
    SL_CFG_INT("entities.max", &cfg.max_entities, PC_DEFAULT_ENTITIES, 1, 10000, 0,
               "players listed in precompute.completed; more means the whole date"),
    SL_CFG_INT("deps.stale_warn_days", &cfg.stale_warn_days, 3, 1, 3650, 0,
               "newest prior analytics.player_game_summary row older than this: WARN"),
    SL_CFG_INT("deps.stale_fail_days", &cfg.stale_fail_days, 30, 1, 3650, 0,
               "... older than this: dependency failed, processors skipped"),
    SL_CFG_END,
};

static int init(struct sl_svc *svc, void *ctx, char *errstr, size_t errstr_size)
{
        return pc_svc_open(ctx, &cfg, sl_svc_bus(svc), sl_svc_http(svc), errstr, errstr_size);
}

static int tick(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        return pc_svc_tick(ctx);
}

static void fini(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        pc_svc_close(ctx);
}

int main(int argc, char **argv)
{
        struct sl_svc_def def = {
            .name = "precompute",
            .consumes = "analytics",
            .usage = "Consumes <prefix>.<sport>.analytics.completed for an as-of date D, computes "
                     "player_daily_cache, player_shot_zone_analysis, team_defense_zone_analysis, "
                     "player_composite_factors and ml_feature_store for the players of D's games "
                     "from games strictly before D (sport nhl: the team ratings, z-scores and "
                     "TPI as of D), and publishes <prefix>.<sport>.precompute.completed.",
            .opts = opts,
            .cfg = &cfg.svc,
            .ctx = &pc,
            .init = init,
            .handler = pc_handle,
            .tick = tick,
            .fini = fini,
        };
        int rc = sl_svc_main(&def, argc, argv);

        pc_svc_close(&pc); /* init may have failed half-way */
        return rc;
}
