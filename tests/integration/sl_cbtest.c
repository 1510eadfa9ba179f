/*
 * sl_cbtest: one breaker process for cb_shared.sh, sharing its state through
 * PostgreSQL (sl_cb_store_pg). Each run is a fresh process, so a second run
 * sees only what the first one wrote.
 *
 *   sl_cbtest DSN SERVICE DEP migrate DIR   apply the migrations in DIR
 *   sl_cbtest DSN SERVICE DEP fail N        record N failures (min_calls N, open_ms 600000)
 *   sl_cbtest DSN SERVICE DEP state         print "<STATE> allow=<0|1>"
 *
 * Prints the state after the action; exits 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sl/cb.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/util.h>

int main(int argc, char **argv)
{
        struct sl_cb_opts o = {.min_calls = 1, .open_ms = 600000, .cache_ttl_ms = 1000};
        struct sl_cb_store store;
        struct sl_pg *pg = NULL;
        struct sl_cb *cb = NULL;
        char errstr[512];
        int64_t n = 0, now = sl_mono_ms();
        int rc = 1;

        if (argc < 5) {
                fprintf(stderr, "usage: sl_cbtest DSN SERVICE DEP migrate DIR|fail N|state\n");
                return 2;
        }
        sl_log_init("cbtest", SL_LOG_WARN);
        pg = sl_pg_open(argv[1], 5000, errstr, sizeof(errstr));
        if (!pg)
                goto fail;
        if (strcmp(argv[4], "migrate") == 0 && argc == 6) {
                if (sl_pg_migrate(pg, argv[5], errstr, sizeof(errstr)) < 0)
                        goto fail;
                rc = 0;
                goto out;
        }
        if (strcmp(argv[4], "fail") == 0 && argc == 6 && sl_parse_i64(argv[5], 1, 1000, &n) == 0)
                o.min_calls = (int)n;
        o.window_size = o.min_calls;
        o.service = argv[2];
        o.dependency = argv[3];
        cb = sl_cb_new(&o, errstr, sizeof(errstr));
        if (!cb)
                goto fail;
        sl_cb_store_pg(&store, pg);
        sl_cb_attach(cb, &store);
        if (sl_cb_refresh(cb, now) < 0) {
                snprintf(errstr, sizeof(errstr), "refresh failed (ops.circuit_breakers?)");
                goto fail;
        }
        for (int64_t i = 0; i < n; i++) {
                if (sl_cb_allow(cb, now))
                        sl_cb_record(cb, -ECONNRESET, 1, now);
        }
        bool allow = sl_cb_allow(cb, now);
        printf("%s allow=%d\n", sl_cb_state_name(sl_cb_state(cb)), allow ? 1 : 0);
        rc = 0;
        goto out;
fail:
        fprintf(stderr, "sl_cbtest: %s\n", errstr);
out:
        sl_cb_free(cb);
        sl_pg_close(pg);
        return rc;
}
