/*
 * Alerts from the monitor's view of the whole pipeline (README.md
 * "Alerts"): stuck runs, repeated failures of one (phase, processor), and
 * optionally dead-letter depth. Each condition has a key; a key is raised
 * once when its condition appears and resolved once when it clears, so an
 * operator gets one alert per incident however many refreshes it lasts.
 * sl_alert adds its rate limit on top (a rate-limited raise or resolve is
 * tried again at the next check).
 */
#include "mon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/alert.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/util.h>

#define KEY_MAX      320 /* topic names are up to 255 bytes; sl_alert cuts keys at 127 */
#define FAILURES_MAX 100 /* (phase, processor) pairs looked at per check */

/* Failed runs per (phase, processor) over $1 minutes, pairs with at least $2. */
static const char failures_sql[] =
    "SELECT phase::text, processor, count(*),"
    " coalesce((array_agg(error_message ORDER BY coalesce(completed_at, started_at) DESC)"
    "  FILTER (WHERE error_message IS NOT NULL))[1], '')"
    " FROM ops.pipeline_execution_log"
    " WHERE status = 'failed'"
    "  AND coalesce(completed_at, started_at) >= now() - make_interval(mins => $1::int)"
    " GROUP BY phase, processor HAVING count(*) >= $2::int"
    " ORDER BY phase, processor LIMIT 100";

enum kind { K_STUCK, K_FAILURES, K_DLQ };

struct active {
        char key[KEY_MAX];
        enum kind kind;
        uint64_t gen; /* last check that saw the condition */
};

struct mon_alerts {
        struct sl_alert *alert; /* borrowed */
        struct mon_alert_opts o;
        struct active *act;
        size_t n_act, cap_act;
        uint64_t gen;
        struct mon_alert_counts counts;
};

struct mon_alerts *mon_alerts_new(struct sl_alert *alert, const struct mon_alert_opts *o)
{
        struct mon_alerts *a = sl_xcalloc(1, sizeof(*a));

        a->alert = alert;
        a->o = *o;
        return a;
}

void mon_alerts_free(struct mon_alerts *a)
{
        if (!a)
                return;
        free(a->act);
        free(a);
}

void mon_alerts_get_counts(const struct mon_alerts *a, struct mon_alert_counts *out)
{
        *out = a->counts;
        out->active = a->n_act;
}

static struct active *find(struct mon_alerts *a, const char *key)
{
        for (size_t i = 0; i < a->n_act; i++)
                if (strcmp(a->act[i].key, key) == 0)
                        return &a->act[i];
        return NULL;
}

/*
 * The condition of key holds now: marks it seen, raising it first when it
 * is new. A rate-limited raise is not remembered (tried again next check).
 */
static void holds(struct mon_alerts *a, enum kind kind, const char *key, enum sl_alert_severity sev,
                  const char *title, const char *details)
{
        struct active *x = find(a, key);
        int rc;

        if (x) {
                x->gen = a->gen;
                return;
        }
        rc = sl_alert_raise(a->alert, key, sev, title, "%s", details);
        if (rc == -EDQUOT)
                return;
        a->counts.raised++;
        if (a->n_act == a->cap_act) {
                a->cap_act = a->cap_act ? a->cap_act * 2 : 16;
                a->act = sl_xrealloc(a->act, a->cap_act * sizeof(*a->act));
        }
        x = &a->act[a->n_act++];
        memset(x, 0, sizeof(*x));
        snprintf(x->key, sizeof(x->key), "%s", key);
        x->kind = kind;
        x->gen = a->gen;
}

static const char *kind_title(enum kind k)
{
        switch (k) {
        case K_STUCK:
                return "pipeline no longer stuck";
        case K_FAILURES:
                return "failures stopped";
        case K_DLQ:
                break;
        }
        return "dead letters below threshold";
}

/* Resolves the active keys not seen by this check, except kinds whose source failed. */
static void sweep(struct mon_alerts *a, const bool unknown[3])
{
        size_t i = 0;

        while (i < a->n_act) {
                struct active *x = &a->act[i];
                const char *sep = strchr(x->key, ':');
                int rc;

                if (x->gen == a->gen || unknown[x->kind]) {
                        i++;
                        continue;
                }
                rc = sl_alert_resolve(a->alert, x->key, kind_title(x->kind), "%s",
                                      sep ? sep + 1 : x->key);
                if (rc == -EDQUOT) {
                        i++;
                        continue;
                }
                a->counts.resolved++;
                a->act[i] = a->act[--a->n_act];
        }
}

static void check_stuck(struct mon_alerts *a, const struct mon_snapshot *snap)
{
        char key[KEY_MAX], title[160], details[512];

        for (size_t i = 0; i < snap->n_stuck; i++) {
                const struct mon_stuck *s = &snap->stuck[i];
                snprintf(key, sizeof(key), "pipeline.stuck:%s", s->correlation_id);
                snprintf(title, sizeof(title), "pipeline stuck: %s", s->correlation_id);
                snprintf(details, sizeof(details),
                         "no progress for %lld min (threshold %d) after phase %s (%s, processor "
                         "%s, game_date %s, %lld failed rows)",
                         (long long)(s->idle_s / 60), snap->stuck_after_min, s->phase, s->status,
                         s->processor, s->game_date[0] ? s->game_date : "-",
                         (long long)s->failures);
                holds(a, K_STUCK, key, SL_ALERT_WARNING, title, details);
        }
}

static int check_failures(struct mon_alerts *a, struct sl_pg *pg, char *errstr, size_t errstr_size)
{
        char mins[16], n[16], key[KEY_MAX], title[160], details[768];
        const char *params[] = {mins, n};
        PGresult *res = NULL;
        int rc, rows;

        snprintf(mins, sizeof(mins), "%d", a->o.failures_window_min);
        snprintf(n, sizeof(n), "%d", a->o.failures);
        rc = sl_pg_exec(pg, failures_sql, 2, params, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        rows = PQntuples(res);
        for (int i = 0; i < rows && i < FAILURES_MAX; i++) {
                const char *phase = PQgetvalue(res, i, 0), *proc = PQgetvalue(res, i, 1);
                const char *err = PQgetvalue(res, i, 3);
                snprintf(key, sizeof(key), "pipeline.failures:%s:%s", phase, proc);
                snprintf(title, sizeof(title), "repeated failures: %s/%s", phase, proc);
                snprintf(details, sizeof(details),
                         "%s failed runs in the last %d min (threshold %d); last error: %.300s",
                         PQgetvalue(res, i, 2), a->o.failures_window_min, a->o.failures,
                         err[0] ? err : "-");
                holds(a, K_FAILURES, key, SL_ALERT_CRITICAL, title, details);
        }
        PQclear(res);
        return 0;
}

static void check_dlq(struct mon_alerts *a, const struct mon_snapshot *snap)
{
        char key[KEY_MAX], title[KEY_MAX], details[256];

        for (size_t i = 0; i < snap->n_topics; i++) {
                const struct mon_topic *t = &snap->topics[i];
                if (t->dlq_depth < a->o.dlq_depth)
                        continue;
                snprintf(key, sizeof(key), "dlq.depth:%s", t->name);
                snprintf(title, sizeof(title), "dead letters: %s.dlq", t->name);
                snprintf(details, sizeof(details), "depth %lld >= %lld", (long long)t->dlq_depth,
                         (long long)a->o.dlq_depth);
                holds(a, K_DLQ, key, SL_ALERT_WARNING, title, details);
        }
}

int mon_alerts_check(struct mon_alerts *a, const struct mon_snapshot *snap, struct sl_pg *pg,
                     char *errstr, size_t errstr_size)
{
        bool unknown[3] = {false, false, false};
        int rc = 0;

        a->gen++;
        a->counts.checks++;
        if (!snap->pg_enabled || snap->pg_error[0] || !pg) {
                unknown[K_STUCK] = unknown[K_FAILURES] = true;
        } else {
                check_stuck(a, snap);
                if (a->o.failures > 0)
                        rc = check_failures(a, pg, errstr, errstr_size);
                if (rc < 0) {
                        unknown[K_FAILURES] = true;
                        sl_log_warn("monitor.alert.error", "%s", errstr);
                }
        }
        if (a->o.dlq_depth > 0 && !snap->bus_error[0])
                check_dlq(a, snap);
        else if (snap->bus_error[0])
                unknown[K_DLQ] = true;
        sweep(a, unknown);
        return rc;
}
