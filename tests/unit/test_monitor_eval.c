/*
 * statline-monitor's lag evaluator (Burrow's rules, tools/monitor/eval.c)
 * and the history that feeds it (state.c): one hand-made window per
 * status, the rule order, and rates/statuses through mon_state_update().
 */
#include "mon.h"

#include <string.h>

#include <sl/util.h>

#include "sl_test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Samples 1 s apart starting at t = 1000 s; now = one second after the last. */
struct tcase {
        const char *name;
        struct mon_sample s[8];
        size_t n;
        int64_t now_ms; /* 0: last sample + 1000 */
        enum mon_status want;
};

#define T(i) (1000000 + (i)*1000)

static const struct tcase cases[] = {
    {"empty window", {{0}}, 0, T(1), MON_UNKNOWN},
    {"one sample with lag", {{T(0), 10, 5, true}}, 1, 0, MON_UNKNOWN},
    {"one sample without lag", {{T(0), 10, 0, false}}, 1, 0, MON_OK},
    {"caught up, idle group",
     {{T(0), 30, 0, false}, {T(1), 30, 0, false}, {T(2), 30, 0, false}},
     3,
     0,
     MON_OK},
    {"lag zero once in the window wins over everything but rewind",
     {{T(0), 10, 0, false}, {T(1), 10, 5, false}, {T(2), 10, 9, false}},
     3,
     0,
     MON_OK},
    {"offset went backwards",
     {{T(0), 50, 5, true}, {T(1), 40, 15, true}, {T(2), 45, 10, true}},
     3,
     0,
     MON_REWIND},
    {"rewind even when lag touches zero",
     {{T(0), 50, 0, true}, {T(1), 40, 10, true}},
     2,
     0,
     MON_REWIND},
    {"no activity at all, lag: stopped",
     {{T(0), 10, 20, false}, {T(1), 10, 20, false}, {T(2), 10, 20, false}},
     3,
     0,
     MON_STOP},
    {"consumers alive, offset frozen, lag: stalled",
     {{T(0), 10, 20, true}, {T(1), 10, 22, true}, {T(2), 10, 25, true}},
     3,
     0,
     MON_STALL},
    {"activity only at the start, long silence since: stopped",
     {{T(0), 10, 20, true}, {T(1), 10, 20, false}, {T(2), 10, 20, false}},
     3,
     0,
     MON_STOP},
    {"offset moved early then silence longer than the active span: stopped",
     {{T(0), 10, 20, false}, {T(1), 12, 20, false}, {T(2), 12, 20, false}, {T(3), 12, 20, false}},
     4,
     0,
     MON_STOP},
    {"recent activity within the span: not stopped",
     {{T(0), 10, 20, false}, {T(1), 12, 20, false}, {T(2), 14, 21, false}},
     3,
     0,
     MON_WARN},
    {"consuming, lag grows in every step: warn",
     {{T(0), 10, 5, true}, {T(1), 12, 8, true}, {T(2), 14, 12, true}},
     3,
     0,
     MON_WARN},
    {"consuming, lag flat then up: warn (never decreased)",
     {{T(0), 10, 5, true}, {T(1), 12, 5, true}, {T(2), 14, 6, true}},
     3,
     0,
     MON_WARN},
    {"consuming, lag constant: ok (not growing)",
     {{T(0), 10, 5, true}, {T(1), 12, 5, true}, {T(2), 14, 5, true}},
     3,
     0,
     MON_OK},
    {"consuming, lag shrinks once: ok",
     {{T(0), 10, 5, true}, {T(1), 12, 8, true}, {T(2), 20, 3, true}},
     3,
     0,
     MON_OK},
    {"unknown samples are skipped",
     {{T(0), -1, -1, true}, {T(1), 10, 20, false}, {T(2), -1, 20, true}, {T(3), 10, 20, false}},
     4,
     0,
     MON_STOP},
    {"only unknown samples", {{T(0), -1, 3, true}, {T(1), 5, -1, true}}, 2, 0, MON_UNKNOWN},
};

static void test_cases(void)
{
        for (size_t i = 0; i < N(cases); i++) {
                const struct tcase *c = &cases[i];
                int64_t now = c->now_ms ? c->now_ms : (c->n ? c->s[c->n - 1].t_ms + 1000 : 0);
                enum mon_status got = mon_evaluate(c->s, c->n, now);
                SL_CHECKF(got == c->want, "%s: got %s want %s", c->name, mon_status_name(got),
                          mon_status_name(c->want));
        }
}

static void test_names(void)
{
        SL_CHECK(strcmp(mon_status_name(MON_OK), "OK") == 0);
        SL_CHECK(strcmp(mon_status_name(MON_WARN), "WARN") == 0);
        SL_CHECK(strcmp(mon_status_name(MON_STALL), "STALL") == 0);
        SL_CHECK(strcmp(mon_status_name(MON_STOP), "STOP") == 0);
        SL_CHECK(strcmp(mon_status_name(MON_REWIND), "REWIND") == 0);
        SL_CHECK(strcmp(mon_status_name(MON_UNKNOWN), "UNKNOWN") == 0);
        SL_CHECK(strcmp(mon_status_name((enum mon_status)42), "UNKNOWN") == 0);
}

/* One refresh with one topic and one group. */
static void feed(struct mon_state *st, struct mon_snapshot *snap, int64_t t_ms, int64_t end,
                 int64_t dlq, int64_t offset, int64_t lag, int live)
{
        struct mon_topic *t;
        struct mon_group *g;

        mon_snapshot_fini(snap);
        snap->t_ms = t_ms;
        t = mon_snapshot_topic(snap, "p.nba.raw.completed");
        t->exists = true;
        t->end_offset = end;
        t->dlq_depth = dlq;
        g = mon_snapshot_group(snap, "analytics", "p.nba.raw.completed");
        g->offset = offset;
        g->lag = lag;
        g->consumers = live;
        g->active_consumers = live;
        mon_state_update(st, snap);
}

static void test_state(void)
{
        struct mon_state *st = mon_state_new(3);
        struct mon_snapshot snap = {0};

        /* 100 published per second, the group handles 40/s: lag grows 60/s -> WARN. */
        feed(st, &snap, T(0), 1000, 0, 900, 100, 1);
        SL_CHECK(snap.groups[0].status == MON_UNKNOWN);
        SL_CHECK(snap.groups[0].window == 1);
        SL_CHECK(snap.topics[0].publish_rate == -1);
        feed(st, &snap, T(1), 1100, 2, 940, 160, 1);
        feed(st, &snap, T(2), 1200, 6, 980, 220, 1);
        SL_CHECKF(snap.groups[0].status == MON_WARN, "%s", mon_status_name(snap.groups[0].status));
        SL_CHECK(snap.groups[0].window == 3);
        /* over the window (2 s): (980 - 900) / 2 = 40/s, (1200 - 1000) / 2 = 100/s */
        SL_CHECKF(snap.groups[0].consume_rate > 39.99 && snap.groups[0].consume_rate < 40.01, "%f",
                  snap.groups[0].consume_rate);
        SL_CHECKF(snap.topics[0].publish_rate > 99.99 && snap.topics[0].publish_rate < 100.01, "%f",
                  snap.topics[0].publish_rate);
        /* 6 dead letters in 2 s = 180 per minute */
        SL_CHECKF(snap.topics[0].dlq_growth > 179.99 && snap.topics[0].dlq_growth < 180.01, "%f",
                  snap.topics[0].dlq_growth);

        /* The consumer dies: no live member, offset frozen. The window (3) still holds
         * one moving step, then only frozen ones. */
        feed(st, &snap, T(3), 1300, 6, 980, 320, 0);
        SL_CHECKF(snap.groups[0].status == MON_WARN, "%s", mon_status_name(snap.groups[0].status));
        feed(st, &snap, T(4), 1400, 6, 980, 420, 0);
        SL_CHECKF(snap.groups[0].status == MON_STOP, "%s", mon_status_name(snap.groups[0].status));
        SL_CHECK(snap.groups[0].consume_rate == 0);

        /* A consumer reattaches but cannot make progress: STALL. */
        feed(st, &snap, T(5), 1400, 6, 980, 420, 1);
        feed(st, &snap, T(6), 1400, 6, 980, 420, 1);
        feed(st, &snap, T(7), 1400, 6, 980, 420, 1);
        SL_CHECKF(snap.groups[0].status == MON_STALL, "%s", mon_status_name(snap.groups[0].status));

        /* It catches up: lag 0 -> OK at once. */
        feed(st, &snap, T(8), 1400, 6, 1400, 0, 1);
        SL_CHECK(snap.groups[0].status == MON_OK);

        /* Someone resets the group to the beginning: REWIND. */
        feed(st, &snap, T(9), 1400, 6, 0, 1400, 1);
        SL_CHECK(snap.groups[0].status == MON_REWIND);

        mon_snapshot_fini(&snap);
        mon_state_free(st);
}

static void test_history_json(void)
{
        struct mon_state *st = mon_state_new(2);
        struct mon_snapshot snap = {0};
        struct sl_buf b;

        feed(st, &snap, 1000, 10, 0, 5, 5, 1);
        feed(st, &snap, 2000, 20, 0, 15, 5, 1);
        sl_buf_init(&b, 0);
        SL_CHECK(mon_state_history_json(st, &b) == 0);
        SL_CHECKF(strcmp(b.data, "{\"groups\":{\"analytics p.nba.raw.completed\":[[1000,5,null],"
                                 "[2000,5,10.000]]},\"topics\":{\"p.nba.raw.completed\":"
                                 "[[1000,null],[2000,10.000]]}}") == 0,
                  "%s", b.data);
        sl_buf_fini(&b);

        /* A group gone for MON_HISTORY_MAX refreshes is forgotten. */
        for (int i = 0; i <= MON_HISTORY_MAX; i++) {
                mon_snapshot_fini(&snap);
                snap.t_ms = 3000 + i;
                mon_state_update(st, &snap);
        }
        sl_buf_init(&b, 0);
        SL_CHECK(mon_state_history_json(st, &b) == 0);
        SL_CHECKF(strcmp(b.data, "{\"groups\":{},\"topics\":{}}") == 0, "%s", b.data);
        sl_buf_fini(&b);
        mon_snapshot_fini(&snap);
        mon_state_free(st);
}

static void test_window_cap(void)
{
        struct mon_sample s[MON_HISTORY_MAX + 10];

        /* More samples than the history holds: only the newest count. The
         * early rewind (sample 1) falls out of the window. */
        for (size_t i = 0; i < N(s); i++)
                s[i] = (struct mon_sample){T((int64_t)i), (int64_t)i + 100, 7, true};
        s[1].offset = 0;
        SL_CHECK(mon_evaluate(s, N(s), T((int64_t)N(s))) != MON_REWIND);
        SL_CHECK(mon_evaluate(s, 3, T(3)) == MON_REWIND);
}

int main(void)
{
        test_cases();
        test_names();
        test_state();
        test_history_json();
        test_window_cap();
        return SL_DONE();
}
