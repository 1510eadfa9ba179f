/*
 * sl/cb.h: the breaker state machine on a fake clock (thresholds, count and
 * time windows, slow calls, half-open probes, forced states) and the shared
 * store through a fake in-memory store (cache TTL, write-through, adoption
 * between two "replicas", store failures). The PostgreSQL store is covered
 * by tests/integration/cb_shared.sh.
 */
#include <errno.h>
#include <string.h>

#include <sl/cb.h>
#include <sl/log.h>

#include "sl_test.h"

/* Transition log filled by the callback. */
struct tlog {
        int n;
        enum sl_cb_state from[64], to[64];
        char why[64][160];
};

static void on_tr(struct sl_cb *cb, enum sl_cb_state from, enum sl_cb_state to, const char *why,
                  void *opaque)
{
        struct tlog *t = opaque;

        (void)cb;
        if (t->n < 64) {
                t->from[t->n] = from;
                t->to[t->n] = to;
                snprintf(t->why[t->n], sizeof(t->why[0]), "%s", why);
        }
        t->n++;
}

static struct sl_cb *mk(struct sl_cb_opts *o, struct tlog *t)
{
        char errstr[256];

        o->dependency = o->dependency ? o->dependency : "pg";
        o->on_transition = on_tr;
        o->opaque = t;
        return sl_cb_new(o, errstr, sizeof(errstr));
}

/* A fake store: one row, counters, an on/off failure switch. */
struct fake_store {
        bool has_row;
        struct sl_cb_shared row;
        int64_t *clock; /* the test's clock: rows age with it */
        int64_t row_at; /* clock when the row's state was entered */
        int loads, saves;
        bool fail;
};

static int fake_load(void *opaque, const char *service, const char *dep, struct sl_cb_shared *out)
{
        struct fake_store *f = opaque;

        (void)service;
        (void)dep;
        f->loads++;
        if (f->fail)
                return -ECONNRESET;
        if (!f->has_row)
                return -ENOENT;
        *out = f->row;
        out->age_ms = *f->clock - f->row_at;
        return 0;
}

static int fake_save(void *opaque, const char *service, const char *dep,
                     const struct sl_cb_shared *row)
{
        struct fake_store *f = opaque;

        (void)service;
        (void)dep;
        f->saves++;
        if (f->fail)
                return -ECONNRESET;
        enum sl_cb_forced forced = f->has_row ? f->row.forced : SL_CB_FORCED_NONE;
        f->row = *row;
        f->row.forced = forced; /* save never touches forced */
        f->row_at = *f->clock - row->age_ms;
        f->has_row = true;
        return 0;
}

static void test_count_window(void)
{
        struct tlog t = {0};
        struct sl_cb_opts o = {.window_size = 10, .min_calls = 5, .failure_rate_pct = 50};
        struct sl_cb *cb = mk(&o, &t);
        int64_t now = 1000;

        SL_CHECK(cb && sl_cb_state(cb) == SL_CB_CLOSED);
        /* 4 failures: below min_calls, stays closed */
        for (int i = 0; i < 4; i++) {
                SL_CHECK(sl_cb_allow(cb, now));
                sl_cb_record(cb, -ECONNRESET, 5, now);
        }
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED && t.n == 0);
        /* the 5th failure: 5/5 = 100% >= 50% over min_calls */
        sl_cb_record(cb, -ETIMEDOUT, 5, now);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN);
        SL_CHECK(t.n == 1 && t.from[0] == SL_CB_CLOSED && t.to[0] == SL_CB_OPEN);
        SL_CHECKF(strstr(t.why[0], "100.0%") != NULL, "why: %s", t.why[0]);
        sl_cb_free(cb);

        /* 4 failures in 10 calls (40%) stay closed; the window slides */
        memset(&t, 0, sizeof(t));
        cb = mk(&o, &t);
        int seq[] = {-EIO, 0, 0, 0, 0, 0, 0, -EIO, -EIO, -EIO}; /* 4/10, never >= 50% */
        for (int i = 0; i < 10; i++)
                sl_cb_record(cb, seq[i], 1, now);
        struct sl_cb_stats st;
        sl_cb_get_stats(cb, now, &st);
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED && st.calls == 10 && st.failures == 4);
        /* one more failure pushes out seq[0] (a failure): still 4/10 */
        sl_cb_record(cb, -EIO, 1, now);
        sl_cb_get_stats(cb, now, &st);
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED && st.calls == 10 && st.failures == 4);
        /* next one pushes out seq[1] (a success): 5/10 = 50% -> open */
        sl_cb_record(cb, -EIO, 1, now);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN && t.n == 1);
        sl_cb_free(cb);
}

static void test_ignored_outcomes(void)
{
        struct tlog t = {0};
        struct sl_cb_opts o = {.window_size = 5, .min_calls = 1, .failure_rate_pct = 100};
        struct sl_cb *cb = mk(&o, &t);
        struct sl_cb_stats st;

        sl_cb_record(cb, -EBADMSG, 1, 0); /* poison: not the dependency's fault */
        sl_cb_record(cb, -EINVAL, 1, 0);  /* a bug */
        sl_cb_record(cb, -EBUSY, 1, 0);   /* nothing attempted */
        sl_cb_get_stats(cb, 0, &st);
        SL_CHECK(st.calls == 0 && sl_cb_state(cb) == SL_CB_CLOSED);
        sl_cb_record(cb, -EEXIST, 1, 0); /* duplicate: a success */
        sl_cb_record(cb, 0, 1, 0);
        sl_cb_get_stats(cb, 0, &st);
        SL_CHECK(st.calls == 2 && st.failures == 0);
        sl_cb_record(cb, -EAGAIN, 1, 0); /* retriable: a failure, 1/3 < 100% */
        sl_cb_get_stats(cb, 0, &st);
        SL_CHECK(st.failures == 1 && sl_cb_state(cb) == SL_CB_CLOSED);
        sl_cb_free(cb);
}

static void test_half_open(void)
{
        struct tlog t = {0};
        struct sl_cb_opts o = {.window_size = 4,
                               .min_calls = 4,
                               .failure_rate_pct = 50,
                               .open_ms = 10000,
                               .half_open_calls = 3};
        struct sl_cb *cb = mk(&o, &t);
        int64_t now = 500;

        for (int i = 0; i < 4; i++)
                sl_cb_record(cb, -ECONNREFUSED, 1, now);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN);
        /* refused for open_ms, counted */
        SL_CHECK(!sl_cb_allow(cb, now));
        SL_CHECK(!sl_cb_allow(cb, now + 9999));
        struct sl_cb_stats st;
        sl_cb_get_stats(cb, now, &st);
        SL_CHECK(st.refused == 2);
        /* at open_ms: half-open, exactly 3 probes */
        SL_CHECK(sl_cb_allow(cb, now + 10000));
        SL_CHECK(sl_cb_state(cb) == SL_CB_HALF_OPEN && t.n == 2 && t.to[1] == SL_CB_HALF_OPEN);
        SL_CHECK(sl_cb_allow(cb, now + 10001) && sl_cb_allow(cb, now + 10002));
        SL_CHECK(!sl_cb_allow(cb, now + 10003));
        /* an ignored outcome gives its permit back */
        sl_cb_record(cb, -EBADMSG, 1, now + 10004);
        SL_CHECK(sl_cb_allow(cb, now + 10005));
        /* 3 successes -> closed, window empty */
        for (int i = 0; i < 3; i++)
                sl_cb_record(cb, 0, 1, now + 10010);
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED && t.to[t.n - 1] == SL_CB_CLOSED);
        sl_cb_get_stats(cb, now + 10010, &st);
        SL_CHECK(st.calls == 0);

        /* open again; 2 of 3 probes fail (66.7% >= 50%) -> open for another open_ms */
        now = 100000;
        for (int i = 0; i < 4; i++)
                sl_cb_record(cb, -ETIMEDOUT, 1, now);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN);
        now += 10000;
        SL_CHECK(sl_cb_allow(cb, now) && sl_cb_allow(cb, now) && sl_cb_allow(cb, now));
        sl_cb_record(cb, 0, 1, now);
        sl_cb_record(cb, -EIO, 1, now);
        SL_CHECK(sl_cb_state(cb) == SL_CB_HALF_OPEN); /* waits for all 3 probes */
        sl_cb_record(cb, -EIO, 1, now + 5);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN);
        SL_CHECK(!sl_cb_allow(cb, now + 5 + 9999));
        SL_CHECK(sl_cb_allow(cb, now + 5 + 10000) && sl_cb_state(cb) == SL_CB_HALF_OPEN);
        sl_cb_free(cb);
}

static void test_slow_calls(void)
{
        struct tlog t = {0};
        struct sl_cb_opts o = {.window_size = 10,
                               .min_calls = 5,
                               .failure_rate_pct = 50,
                               .slow_call_ms = 1000,
                               .slow_rate_pct = 60};
        struct sl_cb *cb = mk(&o, &t);

        /* 2 slow of 5 (40%): closed; 999 ms is not slow */
        int64_t d[] = {1000, 999, 5000, 10, 999};
        for (int i = 0; i < 5; i++)
                sl_cb_record(cb, 0, d[i], 0);
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED);
        /* a third slow success: 3/6 = 50% < 60%; a fourth: 4/7 = 57.1%; fifth 5/8 = 62.5% */
        sl_cb_record(cb, 0, 1500, 0);
        sl_cb_record(cb, 0, 1500, 0);
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED);
        sl_cb_record(cb, 0, 1500, 0);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN);
        SL_CHECKF(strstr(t.why[0], "slow-call rate 62.5%") != NULL, "why: %s", t.why[0]);
        sl_cb_free(cb);
}

static void test_time_window(void)
{
        struct tlog t = {0};
        struct sl_cb_opts o = {.window_type = SL_CB_WINDOW_TIME,
                               .window_size = 10, /* seconds */
                               .min_calls = 4,
                               .failure_rate_pct = 75};
        struct sl_cb *cb = mk(&o, &t);
        struct sl_cb_stats st;

        /* 3 failures at 0..2 s */
        for (int i = 0; i < 3; i++)
                sl_cb_record(cb, -EIO, 1, (int64_t)i * 1000);
        sl_cb_get_stats(cb, 9999, &st);
        SL_CHECK(st.calls == 3 && st.failures == 3);
        /* at 10.5 s the first second (0..1 s) has left the window */
        sl_cb_get_stats(cb, 10500, &st);
        SL_CHECK(st.calls == 2 && st.failures == 2);
        /* at 12.0 s all three have left: a failure now is 1 call, below min_calls */
        sl_cb_record(cb, -EIO, 1, 12000);
        sl_cb_get_stats(cb, 12000, &st);
        SL_CHECK(st.calls == 1 && sl_cb_state(cb) == SL_CB_CLOSED);
        /* 1 success + 2 failures more within the window: 3/4 = 75% -> open */
        sl_cb_record(cb, 0, 1, 13000);
        sl_cb_record(cb, -EIO, 1, 14000);
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED); /* 2/3, below min_calls */
        sl_cb_record(cb, -EIO, 1, 21999);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN);
        sl_cb_free(cb);
}

static void test_forced(void)
{
        struct tlog t = {0};
        struct sl_cb_opts o = {.window_size = 2, .min_calls = 2};
        struct sl_cb *cb = mk(&o, &t);

        sl_cb_force(cb, SL_CB_FORCED_OPEN, 0);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN && sl_cb_forced(cb) == SL_CB_FORCED_OPEN);
        SL_CHECK(!sl_cb_allow(cb, 0) && !sl_cb_allow(cb, 1000000000)); /* no timer */
        SL_CHECK(strcmp(t.why[0], "forced_open") == 0);
        sl_cb_force(cb, SL_CB_FORCED_CLOSED, 10);
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED);
        for (int i = 0; i < 10; i++) {
                SL_CHECK(sl_cb_allow(cb, 10 + i));
                sl_cb_record(cb, -ECONNRESET, 1, 10 + i);
        }
        SL_CHECK(sl_cb_state(cb) == SL_CB_CLOSED); /* records nothing */
        sl_cb_force(cb, SL_CB_FORCED_NONE, 20);
        sl_cb_record(cb, -ECONNRESET, 1, 21);
        sl_cb_record(cb, -ECONNRESET, 1, 22);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN && sl_cb_forced(cb) == SL_CB_FORCED_NONE);
        sl_cb_free(cb);
}

static void test_store_cache(void)
{
        int64_t now = 0;
        struct fake_store f = {.clock = &now};
        struct sl_cb_store store = {fake_load, fake_save, &f};
        struct tlog t = {0};
        struct sl_cb_opts o = {.window_size = 4, .min_calls = 2, .open_ms = 60000};
        struct sl_cb *cb = mk(&o, &t); /* cache_ttl_ms: the default 30 s */

        sl_cb_attach(cb, &store);
        SL_CHECK(sl_cb_allow(cb, now));
        /* first use: read (no row), then the row is created */
        SL_CHECK(f.loads == 1 && f.saves == 1 && f.has_row && f.row.state == SL_CB_CLOSED);
        now = 29999;
        for (int i = 0; i < 5; i++)
                sl_cb_allow(cb, now);
        SL_CHECK(f.loads == 1); /* served from the cache */
        now = 30000;
        sl_cb_allow(cb, now);
        SL_CHECK(f.loads == 2); /* TTL expired: read again */
        /* a transition is written through at once, not at the next refresh */
        sl_cb_record(cb, -EIO, 1, now);
        sl_cb_record(cb, -EIO, 1, now);
        SL_CHECK(f.saves == 2 && f.row.state == SL_CB_OPEN && f.row.failures == 2);
        SL_CHECK(f.loads == 2);
        /* the operator forces closed: seen at the next refresh (<= TTL later) */
        f.row.forced = SL_CB_FORCED_CLOSED;
        now = 40000;
        SL_CHECK(!sl_cb_allow(cb, now)); /* cache still valid: OPEN */
        now = 60000;
        SL_CHECK(sl_cb_allow(cb, now) && sl_cb_state(cb) == SL_CB_CLOSED);
        SL_CHECK(sl_cb_forced(cb) == SL_CB_FORCED_CLOSED);
        /* forced cleared while the row still says OPEN (entered 30 s ago of 60 s): OPEN */
        f.row.forced = SL_CB_FORCED_NONE;
        sl_cb_refresh(cb, now);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN);
        SL_CHECK(!sl_cb_allow(cb, 89999)); /* 30000 + 60000 - 1 */
        SL_CHECK(sl_cb_allow(cb, 90000) && sl_cb_state(cb) == SL_CB_HALF_OPEN);
        SL_CHECK(f.row.state == SL_CB_HALF_OPEN);
        sl_cb_free(cb);

        /* the store fails: the breaker works locally and writes at the next refresh */
        int64_t now2 = 0;
        struct fake_store g = {.clock = &now2, .fail = true};
        struct sl_cb_store store2 = {fake_load, fake_save, &g};
        memset(&t, 0, sizeof(t));
        cb = mk(&o, &t);
        sl_cb_attach(cb, &store2);
        SL_CHECK(sl_cb_allow(cb, 0));
        sl_cb_record(cb, -EIO, 1, 0);
        sl_cb_record(cb, -EIO, 1, 0);
        SL_CHECK(sl_cb_state(cb) == SL_CB_OPEN && !g.has_row);
        g.fail = false;
        now2 = 30000;
        SL_CHECK(sl_cb_refresh(cb, now2) == 0);
        SL_CHECK(g.has_row && g.row.state == SL_CB_OPEN);
        struct sl_cb_stats st;
        sl_cb_get_stats(cb, now2, &st);
        SL_CHECK(st.store_errors >= 2);
        sl_cb_free(cb);
}

static void test_two_replicas(void)
{
        int64_t now = 0;
        struct fake_store f = {.clock = &now};
        struct sl_cb_store store = {fake_load, fake_save, &f};
        struct tlog ta = {0}, tb = {0};
        struct sl_cb_opts o = {.window_size = 4,
                               .min_calls = 2,
                               .open_ms = 20000,
                               .half_open_calls = 1,
                               .cache_ttl_ms = 1000};
        struct sl_cb *a = mk(&o, &ta), *b = mk(&o, &tb);

        sl_cb_attach(a, &store);
        sl_cb_attach(b, &store);
        SL_CHECK(sl_cb_allow(a, 0) && sl_cb_allow(b, 0));
        now = 100;
        sl_cb_record(a, -EIO, 1, 100);
        sl_cb_record(a, -EIO, 1, 100);
        SL_CHECK(sl_cb_state(a) == SL_CB_OPEN && sl_cb_state(b) == SL_CB_CLOSED);
        /* b still has a fresh cache at 999 ms; at 1000 it reads and adopts OPEN */
        SL_CHECK(sl_cb_allow(b, 999));
        now = 1000;
        SL_CHECK(!sl_cb_allow(b, 1000) && sl_cb_state(b) == SL_CB_OPEN);
        SL_CHECK(tb.n == 1 && strcmp(tb.why[0], "shared") == 0);
        /* b's open_ms counts from a's opening (100 ms), not from when b read it */
        now = 20099;
        SL_CHECK(!sl_cb_allow(b, 20099));
        now = 20100;
        SL_CHECK(sl_cb_allow(a, 20100) && sl_cb_state(a) == SL_CB_HALF_OPEN);
        sl_cb_record(a, 0, 1, 20100);
        SL_CHECK(sl_cb_state(a) == SL_CB_CLOSED && f.row.state == SL_CB_CLOSED);
        /* b reads CLOSED (another replica's probe succeeded) and closes too */
        now = 21200;
        SL_CHECK(sl_cb_refresh(b, now) == 0 && sl_cb_state(b) == SL_CB_CLOSED);
        sl_cb_free(a);
        sl_cb_free(b);
}

static void test_opts_and_names(void)
{
        char errstr[128];
        struct sl_cb_opts o = {0};
        enum sl_cb_state s;
        enum sl_cb_forced fo;

        SL_CHECK(sl_cb_new(&o, errstr, sizeof(errstr)) == NULL && strstr(errstr, "dependency"));
        o.dependency = "pg";
        o.window_size = SL_CB_MAX_WINDOW + 1;
        SL_CHECK(sl_cb_new(&o, errstr, sizeof(errstr)) == NULL);
        o.window_size = 0;
        o.failure_rate_pct = 101;
        SL_CHECK(sl_cb_new(&o, errstr, sizeof(errstr)) == NULL);
        o.failure_rate_pct = 0;
        struct sl_cb *cb = sl_cb_new(&o, errstr, sizeof(errstr));
        SL_CHECK(cb && strcmp(sl_cb_service(cb), "svc") == 0 &&
                 strcmp(sl_cb_dependency(cb), "pg") == 0);
        sl_cb_free(cb);
        sl_cb_free(NULL);
        SL_CHECK(sl_cb_state_parse("HALF_OPEN", &s) == 0 && s == SL_CB_HALF_OPEN);
        SL_CHECK(sl_cb_state_parse("open", &s) == -EINVAL);
        SL_CHECK(strcmp(sl_cb_state_name(SL_CB_OPEN), "OPEN") == 0);
        SL_CHECK(sl_cb_forced_parse("forced_open", &fo) == 0 && fo == SL_CB_FORCED_OPEN);
        SL_CHECK(sl_cb_forced_parse(NULL, &fo) == 0 && fo == SL_CB_FORCED_NONE);
        SL_CHECK(sl_cb_forced_parse("open", &fo) == -EINVAL);
        SL_CHECK(sl_cb_forced_name(SL_CB_FORCED_NONE) == NULL);
}

int main(void)
{
        sl_log_init("test_cb", SL_LOG_ERROR);
        test_count_window();
        test_ignored_outcomes();
        test_half_open();
        test_slow_calls();
        test_time_window();
        test_forced();
        test_store_cache();
        test_two_replicas();
        test_opts_and_names();
        return SL_DONE();
}
