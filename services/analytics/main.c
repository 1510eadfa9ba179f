/*
 * statline-analytics: turns raw rows into per-game summaries and
 * upcoming-game context (README.md). This file is the option table and the
 * runtime glue; the handler is analytics.c, the processors processors.c.
 */
#include <stddef.h>

#include <sl/svc.h>

#include "analytics.h"

static struct analytics_cfg cfg;
static struct analytics_svc analytics;

static const struct sl_cfg_opt opts[] = {
    SL_SVC_OPTS(&cfg.svc),
    SL_PHASE_OPTS(&cfg.phase, "analytics"),
    SL_CFG_INT("entities.max", &cfg.max_entities, 1000, 1, 10000, 0,
               "affected entities listed in analytics.completed; more means the whole date"),
    SL_CFG_INT("deps.stale_warn_s", &cfg.stale_warn_s, 86400, 0, INT64_C(31536000), 0,
               "newest upstream row older than this: noted in missing_dependencies (WARN)"),
    SL_CFG_INT("deps.stale_fail_s", &cfg.stale_fail_s, 604800, 0, INT64_C(315360000), 0,
               "newest critical upstream row older than this: the dependency counts as "
               "missing (retry)"),
    SL_CFG_INT("coalesce.window_ms", &cfg.coalesce_window_ms, 0, 0, 60000, 0,
               "merge ready raw.completed events of one correlation id, sport and game date "
               "arriving within this many ms into ONE analytics run (0 = off); a batch that "
               "fails for good dead-letters every member"),
    SL_CFG_END,
};

static int init(struct sl_svc *svc, void *ctx, char *errstr, size_t errstr_size)
{
        return analytics_svc_open(ctx, &cfg, sl_svc_bus(svc), sl_svc_http(svc), errstr,
                                  errstr_size);
}

static int tick(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        return analytics_svc_tick(ctx);
}

static void fini(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        analytics_svc_close(ctx);
}

int main(int argc, char **argv)
{
        struct sl_svc_def def = {
            .name = "analytics",
            .consumes = "raw",
            .usage = "Consumes <prefix>.<sport>.raw.completed, runs the analytics processors its "
                     "tables trigger (player/team game summaries, upcoming-game context; for "
                     "sport nhl the team game stats and season aggregates) and "
                     "publishes <prefix>.<sport>.analytics.completed. sports=nba,nhl consumes "
                     "both leagues.",
            .opts = opts,
            .cfg = &cfg.svc,
            .ctx = &analytics,
            .init = init,
            .handler = analytics_handle,
            .tick = tick,
            .fini = fini,
        };
        int rc = sl_svc_main(&def, argc, argv);

        analytics_svc_close(&analytics); /* init may have failed half-way */
        return rc;
}
