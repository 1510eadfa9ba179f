/*
 * The lag evaluator (Burrow's rules over a window of samples, no thresholds)
 * and the snapshot containers.
 */
#include "mon.h"

#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

const char *mon_status_name(enum mon_status st)
{
        switch (st) {
        case MON_OK:
                return "OK";
        case MON_WARN:
                return "WARN";
        case MON_STALL:
                return "STALL";
        case MON_STOP:
                return "STOP";
        case MON_REWIND:
                return "REWIND";
        case MON_UNKNOWN:
                break;
        }
        return "UNKNOWN";
}

/* Copies the samples with a known offset and lag into v; returns their count. */
static size_t usable(const struct mon_sample *s, size_t n, struct mon_sample *v)
{
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                if (s[i].offset >= 0 && s[i].lag >= 0)
                        v[k++] = s[i];
        return k;
}

static bool offsets_rewound(const struct mon_sample *v, size_t n)
{
        for (size_t i = 1; i < n; i++)
                if (v[i].offset < v[i - 1].offset)
                        return true;
        return false;
}

static bool lag_ever_zero(const struct mon_sample *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (v[i].lag == 0)
                        return true;
        return false;
}

/*
 * Burrow's "stopped": the time since the last sign of life is longer than
 * the span over which life was seen (from the first sample on).
 */
static bool activity_stopped(const struct mon_sample *v, size_t n, int64_t now_ms)
{
        int64_t last = -1;

        for (size_t i = 0; i < n; i++)
                if (v[i].active || (i > 0 && v[i].offset != v[i - 1].offset))
                        last = v[i].t_ms;
        if (last < 0)
                return true;
        return now_ms - last > last - v[0].t_ms;
}

static bool lag_never_decreased(const struct mon_sample *v, size_t n)
{
        for (size_t i = 1; i < n; i++)
                if (v[i].lag < v[i - 1].lag)
                        return false;
        return v[n - 1].lag > v[0].lag;
}

enum mon_status mon_evaluate(const struct mon_sample *s, size_t n, int64_t now_ms)
{
        struct mon_sample v[MON_HISTORY_MAX];
        size_t k;

        if (n > MON_HISTORY_MAX) {
                s += n - MON_HISTORY_MAX;
                n = MON_HISTORY_MAX;
        }
        k = usable(s, n, v);
        if (k == 0)
                return MON_UNKNOWN;
        if (k < 2)
                return v[0].lag == 0 ? MON_OK : MON_UNKNOWN;
        if (offsets_rewound(v, k))
                return MON_REWIND;
        if (lag_ever_zero(v, k))
                return MON_OK;
        if (activity_stopped(v, k, now_ms))
                return MON_STOP;
        if (v[0].offset == v[k - 1].offset)
                return MON_STALL;
        if (lag_never_decreased(v, k))
                return MON_WARN;
        return MON_OK;
}

/* ---- snapshot containers ----------------------------------------------------- */

void mon_snapshot_fini(struct mon_snapshot *snap)
{
        if (!snap)
                return;
        free(snap->topics);
        free(snap->groups);
        free(snap->phases);
        free(snap->stuck);
        free(snap->breakers);
        free(snap->heartbeats);
        snap->topics = NULL;
        snap->groups = NULL;
        snap->phases = NULL;
        snap->stuck = NULL;
        snap->breakers = NULL;
        snap->heartbeats = NULL;
        snap->n_topics = snap->cap_topics = snap->n_groups = snap->cap_groups = 0;
        snap->n_phases = snap->n_stuck = snap->n_breakers = snap->n_heartbeats = 0;
        snap->stuck_total = 0;
        snap->bus_error[0] = '\0';
        snap->pg_error[0] = '\0';
        snap->have_breakers = snap->have_heartbeats = false;
}

/* Copies s into a fixed field, cutting it at size - 1 bytes. */
static void set_name(char *dst, size_t size, const char *s)
{
        size_t len = strlen(s);

        if (len >= size)
                len = size - 1;
        memcpy(dst, s, len);
        dst[len] = '\0';
}

struct mon_topic *mon_snapshot_topic(struct mon_snapshot *snap, const char *name)
{
        struct mon_topic *t;

        for (size_t i = 0; i < snap->n_topics; i++)
                if (strcmp(snap->topics[i].name, name) == 0)
                        return &snap->topics[i];
        if (snap->n_topics == snap->cap_topics) {
                snap->cap_topics = snap->cap_topics ? snap->cap_topics * 2 : 16;
                snap->topics = sl_xrealloc(snap->topics, snap->cap_topics * sizeof(*t));
        }
        t = &snap->topics[snap->n_topics++];
        memset(t, 0, sizeof(*t));
        set_name(t->name, sizeof(t->name), name);
        t->length = -1;
        t->publish_rate = -1;
        t->dlq_growth = -1;
        return t;
}

struct mon_group *mon_snapshot_group(struct mon_snapshot *snap, const char *group,
                                     const char *topic)
{
        struct mon_group *g;

        if (snap->n_groups == snap->cap_groups) {
                snap->cap_groups = snap->cap_groups ? snap->cap_groups * 2 : 16;
                snap->groups = sl_xrealloc(snap->groups, snap->cap_groups * sizeof(*g));
        }
        g = &snap->groups[snap->n_groups++];
        memset(g, 0, sizeof(*g));
        set_name(g->group, sizeof(g->group), group);
        set_name(g->topic, sizeof(g->topic), topic);
        g->offset = g->lag = g->undelivered = g->pending = -1;
        g->lag_s = g->oldest_pending_s = g->consume_rate = -1;
        g->status = MON_UNKNOWN;
        return g;
}
