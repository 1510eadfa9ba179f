/*
 * statline-monitor's renderers (tools/monitor/render.c, page.c): the JSON
 * document, the terminal table, the Prometheus gauges and the HTML page,
 * from a hand-made snapshot.
 */
#include "mon.h"

#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/metrics.h>
#include <sl/util.h>

#include "sl_test.h"

static void fill(struct mon_snapshot *snap)
{
        struct mon_topic *t;
        struct mon_group *g;

        snap->t_ms = 1795469526080; /* 2026-11-23T21:32:06.080Z */
        snap->backend = "redis-streams";
        snap->prefix = "p";
        t = mon_snapshot_topic(snap, "p.nba.raw.completed");
        t->exists = true;
        t->end_offset = 30;
        t->length = 30;
        t->dlq_depth = 2;
        t->publish_rate = 1.5;
        t->dlq_growth = 0;
        g = mon_snapshot_group(snap, "analytics-p", "p.nba.raw.completed");
        g->offset = 10;
        g->lag = 20;
        g->undelivered = 18;
        g->pending = 2;
        g->lag_s = 12.5;
        g->oldest_pending_s = 12.5;
        g->consume_rate = 0;
        g->consumers = 1;
        g->status = MON_STOP;
        g->window = 3;
        snap->pg_enabled = true;
        snap->lookback_h = 24;
        snap->stuck_after_min = 30;
        snap->phases = calloc(1, sizeof(*snap->phases));
        snap->n_phases = 1;
        snprintf(snap->phases[0].phase, sizeof(snap->phases[0].phase), "raw");
        snap->phases[0].executions = 3;
        snap->phases[0].completed = 2;
        snap->phases[0].failed = 1;
        snap->phases[0].avg_ms = 250;
        snap->stuck = calloc(1, sizeof(*snap->stuck));
        snap->n_stuck = 1;
        snap->stuck_total = 1;
        snprintf(snap->stuck[0].correlation_id, sizeof(snap->stuck[0].correlation_id),
                 "11111111-1111-7111-8111-111111111111");
        snprintf(snap->stuck[0].phase, sizeof(snap->stuck[0].phase), "analytics");
        snprintf(snap->stuck[0].status, sizeof(snap->stuck[0].status), "running");
        snap->stuck[0].idle_s = 2760;
        snap->have_breakers = true; /* table present, no rows */
        snap->have_heartbeats = false;
}

static void test_json(const struct mon_snapshot *snap)
{
        cJSON *root = mon_snapshot_json(snap);
        char *s = cJSON_PrintUnformatted(root);
        cJSON *back = cJSON_Parse(s), *g, *t, *p, *svc;

        SL_CHECK(back != NULL);
        SL_CHECK(strcmp(cJSON_GetObjectItem(back, "generated_at")->valuestring,
                        "2026-11-23T21:32:06.080Z") == 0);
        SL_CHECK(cJSON_IsNull(cJSON_GetObjectItem(back, "bus_error")));
        g = cJSON_GetArrayItem(cJSON_GetObjectItem(back, "groups"), 0);
        SL_CHECK(strcmp(cJSON_GetObjectItem(g, "status")->valuestring, "STOP") == 0);
        SL_CHECK(cJSON_GetObjectItem(g, "lag")->valuedouble == 20);
        SL_CHECK(cJSON_GetObjectItem(g, "pending")->valuedouble == 2);
        SL_CHECK(cJSON_GetObjectItem(g, "lag_seconds")->valuedouble == 12.5);
        SL_CHECK(cJSON_GetObjectItem(g, "consume_rate")->valuedouble == 0);
        t = cJSON_GetArrayItem(cJSON_GetObjectItem(back, "topics"), 0);
        SL_CHECK(strcmp(cJSON_GetObjectItem(t, "dlq_topic")->valuestring,
                        "p.nba.raw.completed.dlq") == 0);
        SL_CHECK(cJSON_GetObjectItem(t, "dlq_depth")->valuedouble == 2);
        p = cJSON_GetObjectItem(back, "pipeline");
        SL_CHECK(cJSON_GetObjectItem(p, "stuck_total")->valuedouble == 1);
        SL_CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "stuck"), 0),
                                     "idle_seconds")
                     ->valuedouble == 2760);
        SL_CHECK(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "phases"), 0), "failed")
                ->valuedouble == 1);
        svc = cJSON_GetObjectItem(back, "services");
        SL_CHECK(cJSON_IsArray(cJSON_GetObjectItem(svc, "breakers")));
        SL_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(svc, "breakers")) == 0);
        SL_CHECK(cJSON_IsNull(cJSON_GetObjectItem(svc, "heartbeats"))); /* table missing */
        cJSON_Delete(back);
        free(s);
        cJSON_Delete(root);
}

static void test_text(const struct mon_snapshot *snap)
{
        struct sl_buf b;

        sl_buf_init(&b, 0);
        SL_CHECK(mon_render_text(snap, &b, false, 0) == 0);
        SL_CHECK(strstr(b.data, "STOP    analytics-p") != NULL);
        SL_CHECK(strstr(b.data, "STUCK RUNS (no progress for 30+ min): 1") != NULL);
        SL_CHECK(strstr(b.data, "11111111-1111-7111-8111-111111111111 analytics") != NULL);
        SL_CHECK(strstr(b.data, "idle 46 min") != NULL);
        SL_CHECK(strstr(b.data, "table ops.service_heartbeat not found") != NULL);
        SL_CHECK(strchr(b.data, '\033') == NULL); /* no escapes without ansi */
        sl_buf_reset(&b);
        SL_CHECK(mon_render_text(snap, &b, true, 40) == 0);
        SL_CHECK(strstr(b.data, "\033[31mSTOP") != NULL);
        /* every line is cut to 40 visible columns (escape codes aside) */
        for (char *l = b.data, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
                size_t vis = 0;
                for (char *c = l; c < nl; c++) {
                        if (*c == '\033') {
                                while (c < nl && *c != 'm' && *c != 'K')
                                        c++;
                                continue;
                        }
                        vis++;
                }
                SL_CHECKF(vis <= 40, "line of %zu columns", vis);
        }
        sl_buf_fini(&b);
}

static void test_metrics(const struct mon_snapshot *snap)
{
        struct sl_buf b;

        sl_metrics_reset();
        mon_metrics_update(snap);
        sl_buf_init(&b, 0);
        SL_CHECK(sl_metrics_render(&b) == 0);
        SL_CHECK(strstr(b.data, "sl_monitor_group_lag_messages{group=\"analytics-p\","
                                "topic=\"p.nba.raw.completed\"} 20\n") != NULL);
        SL_CHECK(strstr(b.data, "sl_monitor_group_status{group=\"analytics-p\","
                                "topic=\"p.nba.raw.completed\"} 3\n") != NULL);
        SL_CHECK(strstr(b.data, "sl_monitor_dlq_depth{topic=\"p.nba.raw.completed\"} 2\n") != NULL);
        SL_CHECK(strstr(b.data, "sl_monitor_stuck_runs 1\n") != NULL);
        SL_CHECK(strstr(b.data, "sl_monitor_phase_runs{phase=\"raw\",status=\"failed\"} 1\n") !=
                 NULL);
        SL_CHECK(strstr(b.data, "sl_monitor_up{source=\"bus\"} 1\n") != NULL);
        sl_buf_fini(&b);
        sl_metrics_reset();
}

static void test_page(void)
{
        struct sl_buf b;

        sl_buf_init(&b, 0);
        SL_CHECK(mon_page_html(&b, 1500) == 0);
        SL_CHECK(strncmp(b.data, "<!DOCTYPE html>", 15) == 0);
        SL_CHECK(strstr(b.data, "const REFRESH_MS=1500;") != NULL);
        SL_CHECK(strstr(b.data, "fetch('api/status'") != NULL);
        SL_CHECK(strstr(b.data, "setInterval(tick,REFRESH_MS)") != NULL);
        /* self-contained: no external scripts, styles or CDN */
        SL_CHECK(strstr(b.data, "<script src") == NULL);
        SL_CHECK(strstr(b.data, "<link") == NULL);
        SL_CHECK(strstr(b.data, "https://") == NULL);
        SL_CHECK(strstr(b.data, "</html>\n") != NULL);
        sl_buf_fini(&b);
}

int main(void)
{
        struct mon_snapshot snap = {0};

        fill(&snap);
        test_json(&snap);
        test_text(&snap);
        test_metrics(&snap);
        test_page();
        mon_snapshot_fini(&snap);
        return SL_DONE();
}
