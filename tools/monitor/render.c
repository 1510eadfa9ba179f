/*
 * Renderers of a snapshot: JSON (--json, /api/status), the terminal table
 * and the Prometheus gauges.
 */
#include "mon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include <sl/metrics.h>
#include <sl/util.h>

/* ---- JSON ---------------------------------------------------------------------- */

/* A number, or null for negative "unknown" values. */
static void add_num(cJSON *o, const char *name, double v)
{
        if (v < 0)
                cJSON_AddNullToObject(o, name);
        else
                cJSON_AddNumberToObject(o, name, v);
}

static cJSON *topics_json(const struct mon_snapshot *snap)
{
        cJSON *arr = cJSON_CreateArray();

        for (size_t i = 0; i < snap->n_topics; i++) {
                const struct mon_topic *t = &snap->topics[i];
                cJSON *o = cJSON_CreateObject();
                char dlq[MON_NAME_MAX + 8];
                snprintf(dlq, sizeof(dlq), "%s.dlq", t->name);
                cJSON_AddStringToObject(o, "topic", t->name);
                cJSON_AddBoolToObject(o, "exists", t->exists);
                cJSON_AddNumberToObject(o, "end_offset", (double)t->end_offset);
                add_num(o, "length", (double)t->length);
                add_num(o, "publish_rate", t->publish_rate);
                cJSON_AddStringToObject(o, "dlq_topic", dlq);
                cJSON_AddNumberToObject(o, "dlq_depth", (double)t->dlq_depth);
                if (t->dlq_growth == -1)
                        cJSON_AddNullToObject(o, "dlq_growth_per_min");
                else
                        cJSON_AddNumberToObject(o, "dlq_growth_per_min", t->dlq_growth);
                cJSON_AddItemToArray(arr, o);
        }
        return arr;
}

static cJSON *groups_json(const struct mon_snapshot *snap)
{
        cJSON *arr = cJSON_CreateArray();

        for (size_t i = 0; i < snap->n_groups; i++) {
                const struct mon_group *g = &snap->groups[i];
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "group", g->group);
                cJSON_AddStringToObject(o, "topic", g->topic);
                cJSON_AddStringToObject(o, "status", mon_status_name(g->status));
                cJSON_AddNumberToObject(o, "window", g->window);
                add_num(o, "lag", (double)g->lag);
                add_num(o, "lag_seconds", g->lag_s);
                add_num(o, "undelivered", (double)g->undelivered);
                add_num(o, "pending", (double)g->pending);
                add_num(o, "oldest_pending_seconds", g->oldest_pending_s);
                add_num(o, "offset", (double)g->offset);
                add_num(o, "consume_rate", g->consume_rate);
                cJSON_AddNumberToObject(o, "consumers", g->consumers);
                cJSON_AddNumberToObject(o, "active_consumers", g->active_consumers);
                cJSON_AddItemToArray(arr, o);
        }
        return arr;
}

static cJSON *pipeline_json(const struct mon_snapshot *snap)
{
        cJSON *o = cJSON_CreateObject(), *phases = cJSON_CreateArray();
        cJSON *stuck = cJSON_CreateArray();

        cJSON_AddNumberToObject(o, "lookback_hours", snap->lookback_h);
        cJSON_AddNumberToObject(o, "stuck_after_minutes", snap->stuck_after_min);
        for (size_t i = 0; i < snap->n_phases; i++) {
                const struct mon_phase *p = &snap->phases[i];
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "phase", p->phase);
                cJSON_AddNumberToObject(r, "executions", (double)p->executions);
                cJSON_AddNumberToObject(r, "completed", (double)p->completed);
                cJSON_AddNumberToObject(r, "failed", (double)p->failed);
                cJSON_AddNumberToObject(r, "skipped", (double)p->skipped);
                cJSON_AddNumberToObject(r, "running", (double)p->running);
                cJSON_AddNumberToObject(r, "partial", (double)p->partial);
                add_num(r, "avg_duration_ms", p->avg_ms);
                cJSON_AddItemToArray(phases, r);
        }
        for (size_t i = 0; i < snap->n_stuck; i++) {
                const struct mon_stuck *s = &snap->stuck[i];
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "correlation_id", s->correlation_id);
                cJSON_AddStringToObject(r, "phase", s->phase);
                cJSON_AddStringToObject(r, "status", s->status);
                cJSON_AddStringToObject(r, "processor", s->processor);
                cJSON_AddStringToObject(r, "game_date", s->game_date);
                cJSON_AddNumberToObject(r, "failures", (double)s->failures);
                cJSON_AddNumberToObject(r, "idle_seconds", (double)s->idle_s);
                cJSON_AddItemToArray(stuck, r);
        }
        cJSON_AddItemToObject(o, "phases", phases);
        cJSON_AddNumberToObject(o, "stuck_total", (double)snap->stuck_total);
        cJSON_AddItemToObject(o, "stuck", stuck);
        return o;
}

static cJSON *services_json(const struct mon_snapshot *snap)
{
        cJSON *o = cJSON_CreateObject(), *arr;

        if (snap->have_breakers) {
                arr = cJSON_AddArrayToObject(o, "breakers");
                for (size_t i = 0; i < snap->n_breakers; i++) {
                        const struct mon_breaker *b = &snap->breakers[i];
                        cJSON *r = cJSON_CreateObject();
                        cJSON_AddStringToObject(r, "service", b->service);
                        cJSON_AddStringToObject(r, "dependency", b->dependency);
                        cJSON_AddStringToObject(r, "state", b->state);
                        cJSON_AddStringToObject(r, "forced", b->forced);
                        cJSON_AddNumberToObject(r, "age_seconds", (double)b->age_s);
                        cJSON_AddItemToArray(arr, r);
                }
        } else {
                cJSON_AddNullToObject(o, "breakers");
        }
        if (snap->have_heartbeats) {
                arr = cJSON_AddArrayToObject(o, "heartbeats");
                for (size_t i = 0; i < snap->n_heartbeats; i++) {
                        const struct mon_heartbeat *h = &snap->heartbeats[i];
                        cJSON *r = cJSON_CreateObject();
                        cJSON_AddStringToObject(r, "service", h->service);
                        cJSON_AddStringToObject(r, "instance", h->instance);
                        cJSON_AddBoolToObject(r, "ready", h->ready);
                        cJSON_AddNumberToObject(r, "age_seconds", (double)h->age_s);
                        cJSON_AddItemToArray(arr, r);
                }
        } else {
                cJSON_AddNullToObject(o, "heartbeats");
        }
        return o;
}

cJSON *mon_snapshot_json(const struct mon_snapshot *snap)
{
        cJSON *root = cJSON_CreateObject();
        char ts[25];

        sl_time_rfc3339(snap->t_ms, ts);
        cJSON_AddStringToObject(root, "generated_at", ts);
        cJSON_AddNumberToObject(root, "generated_at_ms", (double)snap->t_ms);
        cJSON_AddStringToObject(root, "backend", snap->backend ? snap->backend : "");
        cJSON_AddStringToObject(root, "prefix", snap->prefix ? snap->prefix : "");
        if (snap->bus_error[0])
                cJSON_AddStringToObject(root, "bus_error", snap->bus_error);
        else
                cJSON_AddNullToObject(root, "bus_error");
        cJSON_AddItemToObject(root, "topics", topics_json(snap));
        cJSON_AddItemToObject(root, "groups", groups_json(snap));
        if (!snap->pg_enabled) {
                cJSON_AddNullToObject(root, "pipeline");
                cJSON_AddNullToObject(root, "services");
                cJSON_AddStringToObject(root, "pg_error", "pg.dsn not set");
                return root;
        }
        if (snap->pg_error[0])
                cJSON_AddStringToObject(root, "pg_error", snap->pg_error);
        else
                cJSON_AddNullToObject(root, "pg_error");
        cJSON_AddItemToObject(root, "pipeline", pipeline_json(snap));
        cJSON_AddItemToObject(root, "services", services_json(snap));
        return root;
}

/* ---- terminal table ------------------------------------------------------------ */

struct tx {
        struct sl_buf *out;
        bool ansi;
        int cols;
        int rc;
};

/* Appends one line, cut to cols visible columns (no escape codes inside). */
static void line(struct tx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(struct tx *x, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (x->cols > 0 && (size_t)x->cols < sizeof(buf))
                buf[x->cols] = '\0';
        if (x->rc == 0)
                x->rc = sl_buf_printf(x->out, "%s%s\n", buf, x->ansi ? "\033[K" : "");
}

static void heading(struct tx *x, const char *title)
{
        if (x->rc == 0)
                x->rc = sl_buf_printf(x->out, "\n%s%s%s\n", x->ansi ? "\033[1m" : "", title,
                                      x->ansi ? "\033[0m\033[K" : "");
}

static void fmt_num(char *out, size_t size, double v, int decimals)
{
        if (v < 0)
                snprintf(out, size, "-");
        else
                snprintf(out, size, "%.*f", decimals, v);
}

static const char *status_colour(enum mon_status st)
{
        switch (st) {
        case MON_OK:
                return "\033[32m";
        case MON_WARN:
                return "\033[33m";
        case MON_STALL:
        case MON_STOP:
        case MON_REWIND:
                return "\033[31m";
        case MON_UNKNOWN:
                break;
        }
        return "\033[2m";
}

static void text_topics(struct tx *x, const struct mon_snapshot *snap)
{
        heading(x, "TOPICS");
        line(x, "%-48s %12s %10s %9s %9s", "topic", "end_offset", "publish/s", "dlq", "dlq/min");
        for (size_t i = 0; i < snap->n_topics; i++) {
                const struct mon_topic *t = &snap->topics[i];
                char rate[24], growth[24];
                fmt_num(rate, sizeof(rate), t->publish_rate, 2);
                if (t->dlq_growth == -1)
                        snprintf(growth, sizeof(growth), "-");
                else
                        snprintf(growth, sizeof(growth), "%+.1f", t->dlq_growth);
                line(x, "%-48s %12" PRId64 " %10s %9" PRId64 " %9s", t->name, t->end_offset, rate,
                     t->dlq_depth, growth);
        }
}

static void text_groups(struct tx *x, const struct mon_snapshot *snap)
{
        int cols = x->cols;

        heading(x, "CONSUMER GROUPS");
        line(x, "%-7s %-28s %-40s %9s %8s %8s %9s %6s", "status", "group", "topic", "lag", "lag_s",
             "pending", "consume/s", "live");
        for (size_t i = 0; i < snap->n_groups; i++) {
                const struct mon_group *g = &snap->groups[i];
                char lag[24], lag_s[24], pend[24], rate[24], st[32];
                fmt_num(lag, sizeof(lag), (double)g->lag, 0);
                fmt_num(lag_s, sizeof(lag_s), g->lag_s, 1);
                fmt_num(pend, sizeof(pend), (double)g->pending, 0);
                fmt_num(rate, sizeof(rate), g->consume_rate, 2);
                snprintf(st, sizeof(st), "%-7s", mon_status_name(g->status));
                if (x->ansi && x->rc == 0)
                        x->rc = sl_buf_printf(x->out, "%s%s\033[0m ", status_colour(g->status), st);
                else if (x->rc == 0)
                        x->rc = sl_buf_printf(x->out, "%s ", st);
                x->cols = cols > 8 ? cols - 8 : cols; /* the status column is out already */
                line(x, "%-28s %-40s %9s %8s %8s %9s %3d/%-2d", g->group, g->topic, lag, lag_s,
                     pend, rate, g->active_consumers, g->consumers);
                x->cols = cols;
        }
}

static void text_pipeline(struct tx *x, const struct mon_snapshot *snap)
{
        char title[128];

        snprintf(title, sizeof(title), "PIPELINE (last %d h)", snap->lookback_h);
        heading(x, title);
        line(x, "%-12s %10s %10s %8s %8s %8s %12s", "phase", "runs", "completed", "failed",
             "skipped", "running", "avg_ms");
        for (size_t i = 0; i < snap->n_phases; i++) {
                const struct mon_phase *p = &snap->phases[i];
                char avg[24];
                fmt_num(avg, sizeof(avg), p->avg_ms, 0);
                line(x,
                     "%-12s %10" PRId64 " %10" PRId64 " %8" PRId64 " %8" PRId64 " %8" PRId64
                     " %12s",
                     p->phase, p->executions, p->completed, p->failed, p->skipped, p->running, avg);
        }
        snprintf(title, sizeof(title), "STUCK RUNS (no progress for %d+ min): %" PRId64,
                 snap->stuck_after_min, snap->stuck_total);
        heading(x, title);
        for (size_t i = 0; i < snap->n_stuck; i++) {
                const struct mon_stuck *s = &snap->stuck[i];
                line(x, "%-36s %-11s %-9s %-20s %-10s idle %" PRId64 " min, %" PRId64 " failed",
                     s->correlation_id, s->phase, s->status, s->processor, s->game_date,
                     s->idle_s / 60, s->failures);
        }
}

static void text_services(struct tx *x, const struct mon_snapshot *snap)
{
        heading(x, "SERVICES");
        if (!snap->have_breakers)
                line(x, "breakers: table ops.circuit_breakers not found (migration 0011)");
        for (size_t i = 0; i < snap->n_breakers; i++) {
                const struct mon_breaker *b = &snap->breakers[i];
                line(x, "breaker   %-14s %-14s %-9s %-13s for %" PRId64 " s", b->service,
                     b->dependency, b->state, b->forced, b->age_s);
        }
        if (!snap->have_heartbeats)
                line(x, "heartbeats: table ops.service_heartbeat not found (migration 0011)");
        for (size_t i = 0; i < snap->n_heartbeats; i++) {
                const struct mon_heartbeat *h = &snap->heartbeats[i];
                line(x, "heartbeat %-14s %-30s %-9s last seen %" PRId64 " s ago", h->service,
                     h->instance, h->ready ? "ready" : "NOT READY", h->age_s);
        }
}

int mon_render_text(const struct mon_snapshot *snap, struct sl_buf *out, bool ansi, int cols)
{
        struct tx x = {.out = out, .ansi = ansi, .cols = cols};
        char ts[25];

        sl_time_rfc3339(snap->t_ms, ts);
        line(&x, "statline-monitor  %s  backend %s  prefix %s", ts, snap->backend, snap->prefix);
        if (snap->bus_error[0])
                line(&x, "bus error: %s", snap->bus_error);
        if (snap->pg_error[0])
                line(&x, "pg error: %s", snap->pg_error);
        text_topics(&x, snap);
        text_groups(&x, snap);
        if (snap->pg_enabled) {
                text_pipeline(&x, snap);
                text_services(&x, snap);
        }
        return x.rc;
}

/* ---- Prometheus ---------------------------------------------------------------- */

static double cb_code(const char *state)
{
        if (strcmp(state, "OPEN") == 0)
                return 1;
        if (strcmp(state, "HALF_OPEN") == 0)
                return 2;
        return 0;
}

static void metrics_bus(const struct mon_snapshot *snap)
{
        struct sl_metric *end = sl_metrics_gauge("sl_monitor_topic_end_offset",
                                                 "Messages ever published to the topic.", "topic");
        struct sl_metric *rate = sl_metrics_gauge(
            "sl_monitor_topic_publish_rate", "Messages published per second (window).", "topic");
        struct sl_metric *dlq =
            sl_metrics_gauge("sl_monitor_dlq_depth", "Dead letters in <topic>.dlq.", "topic");
        struct sl_metric *lag =
            sl_metrics_gauge("sl_monitor_group_lag_messages",
                             "Messages not yet handled by the group.", "group,topic");
        struct sl_metric *lag_s = sl_metrics_gauge(
            "sl_monitor_group_lag_seconds", "Age of the oldest unhandled message.", "group,topic");
        struct sl_metric *pend = sl_metrics_gauge(
            "sl_monitor_group_pending", "Delivered but unacked entries (Streams).", "group,topic");
        struct sl_metric *st = sl_metrics_gauge(
            "sl_monitor_group_status",
            "Evaluator status: -1 unknown, 0 OK, 1 WARN, 2 STALL, 3 STOP, 4 REWIND.",
            "group,topic");
        struct sl_metric *cons =
            sl_metrics_gauge("sl_monitor_group_consumers",
                             "Consumers (Streams) or members (Kafka) of the group.", "group,topic");

        for (size_t i = 0; i < snap->n_topics; i++) {
                const struct mon_topic *t = &snap->topics[i];
                sl_metric_set(end, (double)t->end_offset, t->name);
                if (t->publish_rate >= 0)
                        sl_metric_set(rate, t->publish_rate, t->name);
                sl_metric_set(dlq, (double)t->dlq_depth, t->name);
        }
        for (size_t i = 0; i < snap->n_groups; i++) {
                const struct mon_group *g = &snap->groups[i];
                if (g->lag >= 0)
                        sl_metric_set(lag, (double)g->lag, g->group, g->topic);
                if (g->lag_s >= 0)
                        sl_metric_set(lag_s, g->lag_s, g->group, g->topic);
                if (g->pending >= 0)
                        sl_metric_set(pend, (double)g->pending, g->group, g->topic);
                sl_metric_set(st, (double)g->status, g->group, g->topic);
                sl_metric_set(cons, (double)g->consumers, g->group, g->topic);
        }
}

static void metrics_pg(const struct mon_snapshot *snap)
{
        struct sl_metric *runs = sl_metrics_gauge(
            "sl_monitor_phase_runs", "Execution log rows in the look-back window.", "phase,status");
        struct sl_metric *stuck =
            sl_metrics_gauge("sl_monitor_stuck_runs", "Pipeline runs without progress.", NULL);
        struct sl_metric *cb =
            sl_metrics_gauge("sl_monitor_breaker_state",
                             "Breaker state: 0 closed, 1 open, 2 half-open.", "service,dependency");
        struct sl_metric *hb =
            sl_metrics_gauge("sl_monitor_heartbeat_age_seconds",
                             "Seconds since the instance's last heartbeat.", "service,instance");

        for (size_t i = 0; i < snap->n_phases; i++) {
                const struct mon_phase *p = &snap->phases[i];
                sl_metric_set(runs, (double)p->completed, p->phase, "completed");
                sl_metric_set(runs, (double)p->failed, p->phase, "failed");
                sl_metric_set(runs, (double)p->skipped, p->phase, "skipped");
                sl_metric_set(runs, (double)p->running, p->phase, "running");
                sl_metric_set(runs, (double)p->partial, p->phase, "partial");
        }
        sl_metric_set(stuck, (double)snap->stuck_total);
        for (size_t i = 0; i < snap->n_breakers; i++)
                sl_metric_set(cb, cb_code(snap->breakers[i].state), snap->breakers[i].service,
                              snap->breakers[i].dependency);
        for (size_t i = 0; i < snap->n_heartbeats; i++)
                sl_metric_set(hb, (double)snap->heartbeats[i].age_s, snap->heartbeats[i].service,
                              snap->heartbeats[i].instance);
}

void mon_metrics_update(const struct mon_snapshot *snap)
{
        struct sl_metric *up = sl_metrics_gauge(
            "sl_monitor_up", "1 when the last collection from the source worked.", "source");
        struct sl_metric *at = sl_metrics_gauge("sl_monitor_last_refresh_timestamp_seconds",
                                                "When the last refresh started (Unix time).", NULL);

        sl_metric_set(up, snap->bus_error[0] ? 0 : 1, "bus");
        sl_metric_set(at, (double)snap->t_ms / 1000.0);
        metrics_bus(snap);
        if (snap->pg_enabled) {
                sl_metric_set(up, snap->pg_error[0] ? 0 : 1, "pg");
                metrics_pg(snap);
        }
}
