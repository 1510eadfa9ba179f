/* sl/phase.h: the option rows, the execution-log parameters, entity JSON, readiness state. */
#include <sl/phase.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sl/cfg.h>

#include "sl_test.h"

static struct sl_phase_cfg pcfg;
static const char *extra;

static const struct sl_cfg_opt opts[] = {
    SL_PHASE_OPTS(&pcfg, "demo"),
    SL_CFG_STR("extra", &extra, "x", 0, "a service key after the shared ones"),
    SL_CFG_END,
};

static const struct sl_cfg_opt split_opts[] = {
    SL_PHASE_PG_OPTS(&pcfg, "custom/migrations"),
    SL_CFG_STR("extra", &extra, "x", 0, "a service key between the shared ones"),
    SL_PHASE_PUBLISH_OPTS(&pcfg, "demo"),
    SL_CFG_END,
};

static void test_opts(void)
{
        char err[SL_CFG_ERRSTR_SIZE];
        char *argv_ok[] = {"demo", "--set", "pg.dsn=dbname=x", "--set", "publish.timeout_ms=2500",
                           NULL};
        char *argv_none[] = {"demo", NULL};

        unsetenv("STATLINE_PG_DSN");
        unsetenv("STATLINE_DEMO_PG_DSN");
        SL_CHECKF(sl_cfg_load(opts, "demo", 5, argv_ok, err, sizeof(err)) == 0, "%s", err);
        SL_CHECK(pcfg.pg_dsn && strcmp(pcfg.pg_dsn, "dbname=x") == 0);
        SL_CHECK(pcfg.pg_migrations && strcmp(pcfg.pg_migrations, "db/migrations") == 0);
        SL_CHECK(pcfg.pg_connect_timeout_ms == 5000);
        SL_CHECK(pcfg.publish_timeout_ms == 2500);
        SL_CHECK(extra && strcmp(extra, "x") == 0);
        /* the claim's Redis fast path: on with a Redis bus by default, 7 days */
        SL_CHECK(pcfg.idem_redis && strcmp(pcfg.idem_redis, "auto") == 0);
        SL_CHECK(pcfg.idem_redis_ttl_s == 604800);
        sl_cfg_free(opts);

        /* pg.dsn is required */
        SL_CHECK(sl_cfg_load(opts, "demo", 1, argv_none, err, sizeof(err)) == -EINVAL);
        SL_CHECK(strstr(err, "pg.dsn") != NULL);
        sl_cfg_free(opts);

        SL_CHECKF(sl_cfg_load(split_opts, "demo", 3, argv_ok, err, sizeof(err)) == 0, "%s", err);
        SL_CHECK(strcmp(pcfg.pg_migrations, "custom/migrations") == 0);
        SL_CHECK(pcfg.publish_timeout_ms == 10000);
        SL_CHECK(strcmp(split_opts[5].key, "idem.redis") == 0);
        SL_CHECK(strcmp(split_opts[6].key, "idem.redis_ttl_s") == 0);
        sl_cfg_free(split_opts);

        /* the help text names the phase's event */
        SL_CHECK(strcmp(split_opts[4].help,
                        "wait for the broker to confirm demo.completed before acking") == 0);
}

static void test_exec_params(void)
{
        struct sl_phase_exec x = {
            .execution_id = "0190a0b0-0000-7000-8000-000000000001",
            .correlation_id = "0190a0b0-0000-7000-8000-000000000002",
            .event_id = NULL,
            .processor = "player_daily_cache",
            .status = "completed",
            .started_wall_ms = 1700000000000,
            .elapsed_ms = 1500,
            .duration_ms = -1,
            .rows = 42,
            .game_date = "",
            .sport = "nba",
        };
        struct sl_phase_exec_buf buf;
        const char *p[SL_PHASE_EXEC_NPARAMS];

        SL_CHECK(sl_phase_exec_params(&x, "precompute", &buf, p) == 0);
        SL_CHECK(strcmp(p[0], x.execution_id) == 0 && strcmp(p[1], x.correlation_id) == 0);
        SL_CHECK(p[2] == NULL);
        SL_CHECK(strcmp(p[3], "precompute") == 0 && strcmp(p[4], "player_daily_cache") == 0);
        SL_CHECK(strcmp(p[6], "2023-11-14T22:13:20.000Z") == 0);
        SL_CHECKF(strcmp(p[7], "2023-11-14T22:13:21.500Z") == 0, "%s", p[7]);
        SL_CHECK(strcmp(p[8], "1500") == 0); /* duration < 0: the elapsed time */
        SL_CHECK(p[9] == NULL && p[10] == NULL && p[11] == NULL && p[12] == NULL);
        SL_CHECK(strcmp(p[13], "42") == 0);
        SL_CHECK(p[14] == NULL);
        SL_CHECK(p[15] == NULL); /* "" game date: NULL */
        SL_CHECK(strcmp(p[16], "nba") == 0);

        x.duration_ms = 7;
        x.rows = -1;
        x.game_date = "2024-01-15";
        x.deps_met = "false";
        x.missing = "{raw.prop_lines}";
        SL_CHECK(sl_phase_exec_params(&x, "precompute", &buf, p) == 0);
        SL_CHECK(strcmp(p[8], "7") == 0);
        SL_CHECK(p[13] == NULL);
        SL_CHECK(strcmp(p[15], "2024-01-15") == 0);
        SL_CHECK(strcmp(p[9], "false") == 0 && strcmp(p[10], "{raw.prop_lines}") == 0);

        x.processor = NULL;
        SL_CHECK(sl_phase_exec_params(&x, "precompute", &buf, p) == -EINVAL);
        x.processor = "p";
        SL_CHECK(sl_phase_exec_params(&x, NULL, &buf, p) == -EINVAL);
}

static void test_entities_json(void)
{
        const char *ids[] = {"2544", "201939"};
        char *s;

        s = sl_phase_entities_json("player", ids, 2);
        SL_CHECKF(strcmp(s, "[{\"kind\":\"player\",\"id\":\"2544\"},"
                            "{\"kind\":\"player\",\"id\":\"201939\"}]") == 0,
                  "%s", s);
        free(s);
        s = sl_phase_entities_json("player", NULL, 0);
        SL_CHECK(strcmp(s, "[]") == 0);
        free(s);
}

/* Readiness state without a server: the HTTP side is NULL (a no-op). */
static void test_readiness(void)
{
        struct sl_phase ph = {0};
        char err[256];

        memcpy(ph.name, "demo", 5);
        sl_phase_note_pg(&ph, -EINVAL); /* not a lost connection */
        SL_CHECK(!ph.pg_down);
        sl_phase_note_pg(&ph, -ECONNRESET);
        SL_CHECK(ph.pg_down && ph.pg_probe_ms > 0);
        sl_phase_note_pg_up(&ph);
        SL_CHECK(!ph.pg_down);

        /* no connection: every statement fails without touching the state */
        SL_CHECK(sl_phase_claim(&ph, "k", "p", "c", err, sizeof(err)) == -EINVAL);
        SL_CHECK(sl_phase_tx_end(&ph, -ECONNRESET) == -ECONNRESET && ph.pg_down);
        SL_CHECK(sl_phase_tx_end(&ph, -EEXIST) == -EEXIST);
        sl_phase_close(&ph);
        sl_phase_close(&ph);
        SL_CHECK(ph.pg == NULL);
}

static void test_open_fails(void)
{
        struct sl_phase ph = {0};
        struct sl_phase_cfg c = {.pg_dsn = "host=127.0.0.1 port='unterminated",
                                 .pg_migrations = "db/migrations",
                                 .pg_connect_timeout_ms = 100,
                                 .publish_timeout_ms = 100};
        char err[256] = "";

        SL_CHECK(sl_phase_open(&ph, "demo", &c, NULL, NULL, err, sizeof(err)) == -ECONNREFUSED);
        SL_CHECK(err[0] != '\0');
        SL_CHECK(strcmp(ph.name, "demo") == 0 && ph.pg == NULL);
        SL_CHECK(sl_phase_open(&ph, "a-name-that-is-much-too-long-for-the-buffer", &c, NULL, NULL,
                               err, sizeof(err)) == -EINVAL);
        sl_phase_close(&ph);
}

/* Without a Redis server configured the fast path stays off and claims go to PostgreSQL. */
static void test_fast_path_off(void)
{
        struct sl_phase ph = {0};
        char err[256];

        memcpy(ph.name, "demo", 5);
        SL_CHECK(sl_phase_claim(&ph, "k", "p", "c", err, sizeof(err)) == -EINVAL); /* no pg */
        SL_CHECK(ph.redis_hits == 0 && ph.redis == NULL);
        /* the replay always reads the outbox */
        SL_CHECK(sl_phase_replay(&ph, "t", "k", &(char *){NULL}, &(size_t){0}, err, sizeof(err)) ==
                 -EINVAL);
        sl_phase_close(&ph);
}

int main(void)
{
        test_opts();
        test_exec_params();
        test_entities_json();
        test_readiness();
        test_open_fails();
        test_fast_path_off();
        return SL_DONE();
}
