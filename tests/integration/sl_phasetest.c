/*
 * sl_phasetest: drives sl/phase.h's claim, its Redis fast path
 * (idem.redis) and the outbox publish for phase_idem_redis.sh, one process
 * per call (a fresh struct sl_phase each time, like a restarted service).
 * The bus is the in-process "mem" backend; PostgreSQL and Redis are real.
 *
 *   sl_phasetest DSN REDIS PREFIX handle KEY [nopg]
 *       BEGIN; claim KEY; when claimed: outbox row, COMMIT, publish (which
 *       sets the Redis key); when held: ROLLBACK, replay. nopg: the claim
 *       runs without a PostgreSQL connection, so only Redis can answer it.
 *   sl_phasetest DSN REDIS PREFIX bench KEY N
 *       handles the (already processed) KEY N times as a duplicate.
 *
 * REDIS is host:port or "off". Prints key=value lines: result=claimed |
 * duplicate | error, rc, replayed (an unpublished outbox row was published
 * by the replay), redis_hits, redis_errors, redis_key (the fast-path
 * key), and for bench elapsed_us and per_dup_us. Exits 0, 1 on a setup
 * failure (reason on stderr), 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/bus.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/phase.h>
#include <sl/util.h>

#define CORR "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

static int replayed; /* sl_phase_replay() published an unpublished outbox row */
#define TOPIC "phasetest.completed"

/* One event handled the way the phase services do. Returns 0, -EEXIST or -errno. */
static int handle(struct sl_phase *ph, const char *key, bool nopg, char *err, size_t n)
{
        struct sl_pg *pg = ph->pg;
        char *event = NULL;
        size_t len = 0;
        int rc;

        rc = sl_pg_begin(pg, err, n);
        if (rc < 0)
                return rc;
        if (nopg)
                ph->pg = NULL; /* only the Redis fast path can answer */
        rc = sl_phase_claim(ph, key, "phasetest", CORR, err, n);
        ph->pg = pg;
        if (rc == 0)
                rc = sl_phase_outbox_insert(ph, TOPIC, "k", key, "{\"event\":1}", err, n);
        if (rc == 0)
                rc = sl_pg_commit(pg, err, n);
        sl_phase_tx_end(ph, rc);
        if (rc == 0)
                return sl_phase_publish(ph, TOPIC, "k", key, "{\"event\":1}", 11, err, n);
        if (rc != -EEXIST)
                return rc;
        rc = sl_phase_replay(ph, TOPIC, key, &event, &len, err, n);
        replayed += rc == 0;
        free(event);
        return rc == 0 || rc == -EEXIST ? -EEXIST : rc;
}

int main(int argc, char **argv)
{
        const char *src = getenv("STATLINE_SRC");
        struct sl_phase_cfg cfg = {.pg_connect_timeout_ms = 5000, .publish_timeout_ms = 5000};
        struct sl_bus_opts bo = {.backend = "mem", .service = "phasetest"};
        struct sl_phase ph = {0};
        struct sl_bus *bus = NULL;
        char migrations[512], err[512] = "", key[512];
        int64_t n = 0, t0;
        bool nopg;
        int rc;

        if (argc < 6 || (strcmp(argv[4], "handle") != 0 && strcmp(argv[4], "bench") != 0) ||
            (strcmp(argv[4], "bench") == 0 &&
             (argc != 7 || sl_parse_i64(argv[6], 1, 1000000, &n) < 0))) {
                fprintf(stderr, "usage: sl_phasetest DSN REDIS PREFIX handle KEY [nopg] | "
                                "bench KEY N\n");
                return 2;
        }
        nopg = strcmp(argv[4], "handle") == 0 && argc == 7 && strcmp(argv[6], "nopg") == 0;
        sl_log_init("phasetest", SL_LOG_WARN);
        snprintf(migrations, sizeof(migrations), "%s/db/migrations", src ? src : ".");
        cfg.pg_dsn = argv[1];
        cfg.pg_migrations = migrations;
        cfg.idem_redis = argv[2];
        bo.prefix = argv[3];
        bus = sl_bus_open(&bo, err, sizeof(err));
        if (!bus || sl_phase_open(&ph, "raw", &cfg, bus, NULL, err, sizeof(err)) < 0) {
                fprintf(stderr, "sl_phasetest: %s\n", err);
                sl_phase_close(&ph);
                sl_bus_close(bus);
                return 1;
        }
        snprintf(key, sizeof(key), "%s", argv[5]);
        printf("redis_key=%s%s\n", ph.redis_prefix ? ph.redis_prefix : "", key);
        if (n > 0) {
                t0 = sl_mono_us();
                for (int64_t i = 0; i < n; i++) {
                        rc = handle(&ph, key, false, err, sizeof(err));
                        if (rc != -EEXIST) {
                                printf("result=error\nrc=%d\nerror=%s\n", rc, err);
                                break;
                        }
                }
                printf("elapsed_us=%lld\nper_dup_us=%lld\n", (long long)(sl_mono_us() - t0),
                       (long long)((sl_mono_us() - t0) / n));
        } else {
                t0 = sl_mono_us();
                rc = handle(&ph, key, nopg, err, sizeof(err));
                printf("result=%s\nrc=%d\nelapsed_us=%lld\n",
                       rc == 0         ? "claimed"
                       : rc == -EEXIST ? "duplicate"
                                       : "error",
                       rc, (long long)(sl_mono_us() - t0));
                if (rc < 0 && rc != -EEXIST)
                        printf("error=%s\n", err);
        }
        printf("replayed=%d\nredis_hits=%llu\nredis_errors=%llu\n", replayed,
               (unsigned long long)ph.redis_hits, (unsigned long long)ph.redis_errors);
        sl_phase_close(&ph);
        sl_bus_close(bus);
        return 0;
}
