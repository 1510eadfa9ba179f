/*
 * statline-raw: loads scraped payloads into raw.* and announces them
 * (README.md). This file is the option table and the runtime glue; the
 * handler is raw.c.
 */
#include <stddef.h>

#include <sl/svc.h>

#include "raw.h"

#ifndef RAW_MIGRATIONS_DIR
#define RAW_MIGRATIONS_DIR "db/migrations"
#endif

static struct raw_cfg cfg;
static struct raw_svc raw;

static const struct sl_cfg_opt opts[] = {
    SL_SVC_OPTS(&cfg.svc),
    SL_PHASE_PG_OPTS(&cfg.phase, RAW_MIGRATIONS_DIR),
    SL_CFG_STR("blob.dir", &cfg.blob_dir, "var/blobs", SL_CFG_REQUIRED | SL_CFG_SHARED,
               "root of the content-addressed blob store written by the scraper"),
    SL_CFG_INT("blob.max_bytes", &cfg.blob_max_bytes, 16 * 1024 * 1024, 1024, 256 * 1024 * 1024,
               SL_CFG_SHARED, "largest blob loaded; larger is dead-lettered"),
    SL_PHASE_PUBLISH_OPTS(&cfg.phase, "raw"),
    SL_CFG_INT("entities.max", &cfg.max_entities, 1000, 1, 10000, 0,
               "affected entities listed in raw.completed; more means the whole date"),
    SL_CFG_END,
};

static int init(struct sl_svc *svc, void *ctx, char *errstr, size_t errstr_size)
{
        return raw_svc_open(ctx, &cfg, sl_svc_bus(svc), sl_svc_http(svc), errstr, errstr_size);
}

static int tick(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        return raw_svc_tick(ctx);
}

static void fini(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        raw_svc_close(ctx);
}

int main(int argc, char **argv)
{
        struct sl_svc_def def = {
            .name = "raw",
            .consumes = "scraper",
            .usage = "Consumes <prefix>.<sport>.scraper.completed, parses the blob it names, "
                     "upserts the rows into raw.* in one transaction and publishes "
                     "<prefix>.<sport>.raw.completed.",
            .opts = opts,
            .cfg = &cfg.svc,
            .ctx = &raw,
            .init = init,
            .handler = raw_handle,
            .tick = tick,
            .fini = fini,
        };
        int rc = sl_svc_main(&def, argc, argv);

        raw_svc_close(&raw); /* init may have failed half-way (fini only runs after a good init) */
        return rc;
}
