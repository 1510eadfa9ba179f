/*
 * statline-publishing: publishes the predictions as JSON documents and
 * serves them (README.md). This file is the option table and the runtime
 * glue; the handler and the read API are publishing.c.
 */
#include <stddef.h>

#include <sl/svc.h>

#include "publishing.h"

static struct pub_cfg cfg;
static struct pub_svc pub;

static const struct sl_cfg_opt opts[] = {
    SL_SVC_OPTS(&cfg.svc),
    SL_PHASE_PG_OPTS(&cfg.phase, "db/migrations"),
    SL_CFG_STR("publish.dir", &cfg.publish_dir, NULL, SL_CFG_REQUIRED | SL_CFG_SHARED,
               "root of the published documents (<sport>/<date>/...json)"),
    SL_PHASE_PUBLISH_OPTS(&cfg.phase, "publishing"),
    SL_CFG_END,
};

static int init(struct sl_svc *svc, void *ctx, char *errstr, size_t errstr_size)
{
        return pub_svc_open(ctx, &cfg, sl_svc_bus(svc), sl_svc_http(svc), errstr, errstr_size);
}

static int tick(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        return pub_svc_tick(ctx);
}

static void fini(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        pub_svc_close(ctx);
}

int main(int argc, char **argv)
{
        struct sl_svc_def def = {
            .name = "publishing",
            .consumes = "prediction",
            .usage = "Consumes <prefix>.<sport>.prediction.completed, writes the date's "
                     "predictions.json, games.json and players/<id>.json into publish.dir "
                     "atomically (sport nhl: games.json with the GOI win probabilities and "
                     "TPI), records them in publishing.documents, publishes "
                     "<prefix>.<sport>.publishing.completed and serves GET /v1/predictions "
                     "and GET /v1/games with ETags.",
            .opts = opts,
            .cfg = &cfg.svc,
            .ctx = &pub,
            .init = init,
            .handler = pub_handle,
            .tick = tick,
            .fini = fini,
        };
        int rc = sl_svc_main(&def, argc, argv);

        pub_svc_free(&pub); /* the HTTP server has stopped: the read API no longer needs root */
        return rc;
}
