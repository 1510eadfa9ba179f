/*
 * History of samples per (group, topic) and per topic: the evaluator's
 * window, the rates and the chart data.
 */
#include "mon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

/* One ring of MON_HISTORY_MAX points; i-th oldest is at (head + i) % MAX. */
struct ring {
        size_t n, head;
};

static size_t ring_push(struct ring *r)
{
        size_t at;

        if (r->n < MON_HISTORY_MAX) {
                at = (r->head + r->n) % MON_HISTORY_MAX;
                r->n++;
        } else {
                at = r->head;
                r->head = (r->head + 1) % MON_HISTORY_MAX;
        }
        return at;
}

static size_t ring_at(const struct ring *r, size_t i)
{
        return (r->head + i) % MON_HISTORY_MAX;
}

struct hgroup {
        char group[MON_NAME_MAX], topic[MON_NAME_MAX];
        struct ring r;
        struct mon_sample s[MON_HISTORY_MAX];
        double rate[MON_HISTORY_MAX]; /* consume_rate at that sample, -1 unknown */
        int unseen;                   /* refreshes since last seen */
};

struct htopic {
        char name[MON_NAME_MAX];
        struct ring r;
        int64_t t_ms[MON_HISTORY_MAX], end[MON_HISTORY_MAX], dlq[MON_HISTORY_MAX];
        double rate[MON_HISTORY_MAX];
        int unseen;
};

struct mon_state {
        int window;
        struct hgroup **g;
        size_t ng;
        struct htopic **t;
        size_t nt;
};

struct mon_state *mon_state_new(int window)
{
        struct mon_state *st = sl_xcalloc(1, sizeof(*st));

        if (window < 2)
                window = 2;
        if (window > MON_HISTORY_MAX)
                window = MON_HISTORY_MAX;
        st->window = window;
        return st;
}

void mon_state_free(struct mon_state *st)
{
        if (!st)
                return;
        for (size_t i = 0; i < st->ng; i++)
                free(st->g[i]);
        for (size_t i = 0; i < st->nt; i++)
                free(st->t[i]);
        free(st->g);
        free(st->t);
        free(st);
}

static struct hgroup *find_group(struct mon_state *st, const struct mon_group *g)
{
        struct hgroup *h;

        for (size_t i = 0; i < st->ng; i++)
                if (strcmp(st->g[i]->group, g->group) == 0 &&
                    strcmp(st->g[i]->topic, g->topic) == 0)
                        return st->g[i];
        h = sl_xcalloc(1, sizeof(*h));
        memcpy(h->group, g->group, sizeof(h->group));
        memcpy(h->topic, g->topic, sizeof(h->topic));
        st->g = sl_xrealloc(st->g, (st->ng + 1) * sizeof(*st->g));
        st->g[st->ng++] = h;
        return h;
}

static struct htopic *find_topic(struct mon_state *st, const char *name)
{
        struct htopic *h;

        for (size_t i = 0; i < st->nt; i++)
                if (strcmp(st->t[i]->name, name) == 0)
                        return st->t[i];
        h = sl_xcalloc(1, sizeof(*h));
        memcpy(h->name, name, sizeof(h->name));
        st->t = sl_xrealloc(st->t, (st->nt + 1) * sizeof(*st->t));
        st->t[st->nt++] = h;
        return h;
}

/* Index (ring position) of the oldest point of the last `window` points. */
static size_t window_first(const struct ring *r, int window)
{
        size_t k = r->n < (size_t)window ? r->n : (size_t)window;

        return ring_at(r, r->n - k);
}

static void update_group(struct mon_state *st, struct mon_group *g, int64_t now_ms)
{
        struct hgroup *h = find_group(st, g);
        struct mon_sample win[MON_HISTORY_MAX];
        const struct mon_sample *prev = h->r.n ? &h->s[ring_at(&h->r, h->r.n - 1)] : NULL;
        struct mon_sample cur = {.t_ms = now_ms, .offset = g->offset, .lag = g->lag};
        size_t at, first, k;

        cur.active = g->active_consumers > 0 ||
                     (prev && prev->offset >= 0 && cur.offset >= 0 && cur.offset != prev->offset);
        at = ring_push(&h->r);
        h->s[at] = cur;
        h->unseen = 0;

        k = h->r.n < (size_t)st->window ? h->r.n : (size_t)st->window;
        for (size_t i = 0; i < k; i++)
                win[i] = h->s[ring_at(&h->r, h->r.n - k + i)];
        g->status = mon_evaluate(win, k, now_ms);
        g->window = (int)k;

        first = window_first(&h->r, st->window);
        g->consume_rate = -1;
        if (k >= 2 && h->s[first].offset >= 0 && cur.offset >= h->s[first].offset &&
            now_ms > h->s[first].t_ms)
                g->consume_rate = (double)(cur.offset - h->s[first].offset) * 1000.0 /
                                  (double)(now_ms - h->s[first].t_ms);
        h->rate[at] = g->consume_rate;
}

static void update_topic(struct mon_state *st, struct mon_topic *t, int64_t now_ms)
{
        struct htopic *h = find_topic(st, t->name);
        size_t at = ring_push(&h->r), first, k;
        double span_ms;

        h->t_ms[at] = now_ms;
        h->end[at] = t->end_offset;
        h->dlq[at] = t->dlq_depth;
        h->unseen = 0;
        k = h->r.n < (size_t)st->window ? h->r.n : (size_t)st->window;
        first = window_first(&h->r, st->window);
        span_ms = (double)(now_ms - h->t_ms[first]);
        t->publish_rate = -1;
        t->dlq_growth = -1;
        if (k >= 2 && span_ms > 0) {
                if (t->end_offset >= h->end[first])
                        t->publish_rate =
                            (double)(t->end_offset - h->end[first]) * 1000.0 / span_ms;
                t->dlq_growth = (double)(t->dlq_depth - h->dlq[first]) * 60000.0 / span_ms;
        }
        h->rate[at] = t->publish_rate;
}

/* Drops histories not seen for MON_HISTORY_MAX refreshes. */
static void expire(struct mon_state *st)
{
        size_t j = 0;

        for (size_t i = 0; i < st->ng; i++) {
                if (++st->g[i]->unseen > MON_HISTORY_MAX)
                        free(st->g[i]);
                else
                        st->g[j++] = st->g[i];
        }
        st->ng = j;
        j = 0;
        for (size_t i = 0; i < st->nt; i++) {
                if (++st->t[i]->unseen > MON_HISTORY_MAX)
                        free(st->t[i]);
                else
                        st->t[j++] = st->t[i];
        }
        st->nt = j;
}

void mon_state_update(struct mon_state *st, struct mon_snapshot *snap)
{
        expire(st); /* every unseen counter +1; the updates below reset theirs */
        for (size_t i = 0; i < snap->n_groups; i++)
                update_group(st, &snap->groups[i], snap->t_ms);
        for (size_t i = 0; i < snap->n_topics; i++)
                update_topic(st, &snap->topics[i], snap->t_ms);
}

/* Appends a number, or null for a negative "unknown". */
static int num_or_null(struct sl_buf *out, double v)
{
        if (v < 0)
                return sl_buf_puts(out, "null");
        return sl_buf_printf(out, "%.3f", v);
}

static int history_groups(const struct mon_state *st, struct sl_buf *out)
{
        int rc = sl_buf_puts(out, "{");

        for (size_t i = 0; i < st->ng && rc == 0; i++) {
                const struct hgroup *h = st->g[i];
                char key[2 * MON_NAME_MAX + 2];

                snprintf(key, sizeof(key), "%s %s", h->group, h->topic);
                rc = sl_buf_puts(out, i ? "," : "");
                rc = rc ? rc : sl_buf_json_str(out, key);
                rc = rc ? rc : sl_buf_puts(out, ":[");
                for (size_t j = 0; j < h->r.n && rc == 0; j++) {
                        size_t at = ring_at(&h->r, j);
                        rc = sl_buf_printf(out, "%s[%" PRId64 ",%" PRId64 ",", j ? "," : "",
                                           h->s[at].t_ms, h->s[at].lag);
                        rc = rc ? rc : num_or_null(out, h->rate[at]);
                        rc = rc ? rc : sl_buf_puts(out, "]");
                }
                rc = rc ? rc : sl_buf_puts(out, "]");
        }
        return rc ? rc : sl_buf_puts(out, "}");
}

static int history_topics(const struct mon_state *st, struct sl_buf *out)
{
        int rc = sl_buf_puts(out, "{");

        for (size_t i = 0; i < st->nt && rc == 0; i++) {
                const struct htopic *h = st->t[i];

                rc = sl_buf_puts(out, i ? "," : "");
                rc = rc ? rc : sl_buf_json_str(out, h->name);
                rc = rc ? rc : sl_buf_puts(out, ":[");
                for (size_t j = 0; j < h->r.n && rc == 0; j++) {
                        size_t at = ring_at(&h->r, j);
                        rc = sl_buf_printf(out, "%s[%" PRId64 ",", j ? "," : "", h->t_ms[at]);
                        rc = rc ? rc : num_or_null(out, h->rate[at]);
                        rc = rc ? rc : sl_buf_puts(out, "]");
                }
                rc = rc ? rc : sl_buf_puts(out, "]");
        }
        return rc ? rc : sl_buf_puts(out, "}");
}

int mon_state_history_json(const struct mon_state *st, struct sl_buf *out)
{
        int rc = sl_buf_puts(out, "{\"groups\":");

        rc = rc ? rc : history_groups(st, out);
        rc = rc ? rc : sl_buf_puts(out, ",\"topics\":");
        rc = rc ? rc : history_topics(st, out);
        rc = rc ? rc : sl_buf_puts(out, "}");
        return rc < 0 ? rc : 0;
}
