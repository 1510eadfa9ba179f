/*
 * statline-dlq's pure core (tools/dlq/dlq_core.c): letters, filters, time and
 * rate parsing, pacing, age buckets, replay bytes and rerun copies. Expected
 * times are constants computed outside the code (python datetime).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/util.h>

#include "dlq.h"
#include "sl_test.h"

#define T_2026_11_23     1795392000000LL /* 2026-11-23T00:00:00Z */
#define T_2026_11_23_TEN 1795429805250LL /* 2026-11-23T10:30:05.250Z */
#define HOUR             3600000LL

static const char *const CORR = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

/* A dead letter of a valid envelope (or of poison bytes), as a store would build it. */
static struct dlq_letter *make_letter(const char *dlq_topic, const char *entry, const char *data,
                                      const char *cls, const char *svc, const char *last)
{
        struct dlq_letter *l = dlq_letter_new();

        l->dlq_topic = sl_xstrdup(dlq_topic);
        l->entry = sl_xstrdup(entry);
        l->data = sl_xstrdup(data);
        l->len = strlen(data);
        if (cls)
                dlq_letter_add_header(l, SL_DLQ_H_CLASS, cls, strlen(cls));
        if (svc)
                dlq_letter_add_header(l, SL_DLQ_H_SERVICE, svc, strlen(svc));
        if (last)
                dlq_letter_add_header(l, SL_DLQ_H_LAST, last, strlen(last));
        SL_CHECK(dlq_letter_finish(l, 42) == 0);
        return l;
}

static char *make_event(const char *type, const char *sport, int replay_count)
{
        struct sl_envelope *env = sl_envelope_new(type, "raw", sport, "2026-11-20", NULL);
        char *s;

        snprintf(env->correlation_id, sizeof(env->correlation_id), "%s", CORR);
        sl_envelope_set_idem_key(env, "raw:boxscore:abc");
        env->replay_count = replay_count;
        s = sl_envelope_serialize(env, NULL);
        sl_envelope_free(env);
        return s;
}

static void test_letter(void)
{
        char *ev = make_event("raw.completed", "nba", 0);
        struct dlq_letter *l = make_letter("statline.nba.raw.completed.dlq", "1795429805250-0", ev,
                                           "TRANSIENT", "analytics", "2026-11-23T10:30:05.250Z");
        struct dlq_letter *p =
            make_letter("x.y.dlq", "3:17", "not json\x01", "PERMANENT", NULL, NULL);

        SL_CHECK(strcmp(l->id, "statline.nba.raw.completed.dlq/1795429805250-0") == 0);
        SL_CHECK(strcmp(dlq_letter_origin(l), "statline.nba.raw.completed") == 0);
        SL_CHECK(l->failed_ms == T_2026_11_23_TEN);
        SL_CHECK(l->env != NULL && strcmp(l->env->type, "raw.completed") == 0);
        SL_CHECK(strcmp(dlq_letter_header(l, SL_DLQ_H_SERVICE), "analytics") == 0);
        SL_CHECK(dlq_letter_header(l, "nope") == NULL);
        /* Poison: no envelope, a reason, the fallback time, origin from the DLQ name. */
        SL_CHECK(p->env == NULL && p->parse_error[0] != '\0');
        SL_CHECK(p->failed_ms == 42);
        SL_CHECK(strcmp(dlq_letter_origin(p), "x.y") == 0);
        /* dlq.original_topic wins over the name. */
        dlq_letter_add_header(p, SL_DLQ_H_TOPIC, "elsewhere", 9);
        SL_CHECK(dlq_letter_finish(p, 42) == 0 && strcmp(dlq_letter_origin(p), "elsewhere") == 0);
        /* Headers past the cap are dropped, not overflowed. */
        for (int i = 0; i < DLQ_MAX_HEADERS + 5; i++)
                dlq_letter_add_header(p, "h", "v", 1);
        SL_CHECK(p->n_headers == DLQ_MAX_HEADERS);
        dlq_letter_free(l);
        dlq_letter_free(p);
        dlq_letter_free(NULL);
        free(ev);
}

static void test_filter(void)
{
        char *ev = make_event("raw.completed", "nba", 0);
        struct dlq_letter *l = make_letter("statline.nba.raw.completed.dlq", "1-0", ev, "TRANSIENT",
                                           "analytics", "2026-11-23T10:30:05.250Z");
        struct dlq_letter *p = make_letter("statline.nba.raw.completed.dlq", "2-0", "{",
                                           "PERMANENT", "analytics", "2026-11-23T10:30:05.250Z");
        struct dlq_filter f = {0};

        SL_CHECK(dlq_filter_match(&f, l) && dlq_filter_match(&f, p));
        f.topic = "statline.*.raw.completed";
        SL_CHECK(dlq_filter_match(&f, l));
        f.topic = "statline.nba.raw.completed.dlq"; /* the DLQ name works too */
        SL_CHECK(dlq_filter_match(&f, l));
        f.topic = "statline.nhl.*";
        SL_CHECK(!dlq_filter_match(&f, l));
        f = (struct dlq_filter){.service = "analytics"};
        SL_CHECK(dlq_filter_match(&f, l));
        f.service = "raw";
        SL_CHECK(!dlq_filter_match(&f, l));
        f = (struct dlq_filter){.error_class = "transient"};
        SL_CHECK(dlq_filter_match(&f, l) && !dlq_filter_match(&f, p));
        f = (struct dlq_filter){.type = "raw.*"};
        SL_CHECK(dlq_filter_match(&f, l) && !dlq_filter_match(&f, p)); /* poison has no type */
        f = (struct dlq_filter){.sport = "nba"};
        SL_CHECK(dlq_filter_match(&f, l));
        f.sport = "nhl";
        SL_CHECK(!dlq_filter_match(&f, l));
        f = (struct dlq_filter){.correlation_id = "0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"};
        SL_CHECK(dlq_filter_match(&f, l));
        f.correlation_id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
        SL_CHECK(!dlq_filter_match(&f, l));
        f = (struct dlq_filter){.id = "statline.nba.raw.completed.dlq/2-0"};
        SL_CHECK(!dlq_filter_match(&f, l) && dlq_filter_match(&f, p));
        /* Time window: since inclusive, until exclusive. */
        f = (struct dlq_filter){.since_ms = T_2026_11_23_TEN};
        SL_CHECK(dlq_filter_match(&f, l));
        f.since_ms = T_2026_11_23_TEN + 1;
        SL_CHECK(!dlq_filter_match(&f, l));
        f = (struct dlq_filter){.until_ms = T_2026_11_23_TEN};
        SL_CHECK(!dlq_filter_match(&f, l));
        f.until_ms = T_2026_11_23_TEN + 1;
        SL_CHECK(dlq_filter_match(&f, l));
        /* The audit form of a filter. */
        f = (struct dlq_filter){.service = "raw", .since_ms = T_2026_11_23};
        struct cJSON *o = dlq_filter_json(&f);
        char *s = cJSON_PrintUnformatted(o);
        SL_CHECKF(strcmp(s, "{\"service\":\"raw\",\"since\":\"2026-11-23T00:00:00.000Z\"}") == 0,
                  "%s", s);
        free(s);
        cJSON_Delete(o);
        dlq_letter_free(l);
        dlq_letter_free(p);
        free(ev);
}

static void test_times_rates(void)
{
        int64_t ms = 0;
        double r = 0;

        SL_CHECK(dlq_parse_time("2026-11-23", false, &ms) == 0 && ms == T_2026_11_23);
        SL_CHECK(dlq_parse_time("2026-11-23", true, &ms) == 0 && ms == T_2026_11_23 + 24 * HOUR);
        SL_CHECK(dlq_parse_time("2026-11-23T10:30:05.250Z", true, &ms) == 0 &&
                 ms == T_2026_11_23_TEN);
        SL_CHECK(dlq_parse_time("2026-13-01", false, &ms) == -EINVAL);
        SL_CHECK(dlq_parse_time("yesterday", false, &ms) == -EINVAL);
        SL_CHECK(dlq_parse_time("", false, &ms) == -EINVAL);

        SL_CHECK(dlq_parse_rate("5", &r) == 0 && r == 5.0);
        SL_CHECK(dlq_parse_rate("2.5/s", &r) == 0 && r == 2.5);
        SL_CHECK(dlq_parse_rate("0", &r) == -EINVAL);
        SL_CHECK(dlq_parse_rate("-1", &r) == -EINVAL);
        SL_CHECK(dlq_parse_rate("5/m", &r) == -EINVAL);
        SL_CHECK(dlq_parse_rate("fast", &r) == -EINVAL);
        SL_CHECK(dlq_parse_rate("1e9", &r) == -EINVAL);

        /* 10 messages at 5/s: the 10th (i = 9) goes 1.8 s after the first. */
        SL_CHECK(dlq_pace_at_ms(1000, 0, 5.0) == 1000);
        SL_CHECK(dlq_pace_at_ms(1000, 9, 5.0) == 2800);
        SL_CHECK(dlq_pace_at_ms(1000, 1, 3.0) == 1334); /* 333.3 ms rounds up, never early */
        SL_CHECK(dlq_pace_at_ms(1000, 500, 0.0) == 1000);

        SL_CHECK(strcmp(dlq_age_bucket(10 * HOUR, 10 * HOUR - 1), "<1h") == 0);
        SL_CHECK(strcmp(dlq_age_bucket(10 * HOUR, 9 * HOUR), "1h-24h") == 0);
        SL_CHECK(strcmp(dlq_age_bucket(100 * HOUR, 100 * HOUR - 24 * HOUR), "1d-7d") == 0);
        SL_CHECK(strcmp(dlq_age_bucket(1000 * HOUR, 1000 * HOUR - 7 * 24 * HOUR), ">7d") == 0);
        SL_CHECK(strcmp(dlq_age_bucket(1000 * HOUR, 0), "unknown") == 0);
}

static void test_replay_bytes(void)
{
        char *ev = make_event("raw.completed", "nba", 1);
        struct dlq_letter *l = make_letter("t.dlq", "1-0", ev, "TRANSIENT", NULL, NULL);
        struct dlq_letter *p = make_letter("t.dlq", "2-0", "\xff\xfe", "PERMANENT", NULL, NULL);
        struct sl_envelope *out = NULL;
        char err[128];
        size_t len = 0;
        char *bytes = dlq_replay_bytes(l, &len);

        SL_CHECK(bytes != NULL && len == strlen(bytes));
        SL_CHECK(sl_envelope_parse(bytes, len, 0, &out, err, sizeof(err)) == 0);
        SL_CHECK(out && strcmp(out->event_id, l->env->event_id) == 0);
        SL_CHECK(out && out->replay_count == 2);
        SL_CHECK(out && strcmp(out->idempotency_key, "raw:boxscore:abc") == 0);
        SL_CHECK(out && strcmp(out->correlation_id, CORR) == 0);
        /* Everything but replay_count is byte-for-byte the original. */
        if (out) {
                out->replay_count = 1;
                char *again = sl_envelope_serialize(out, NULL);
                SL_CHECK(strcmp(again, ev) == 0);
                free(again);
        }
        SL_CHECK(dlq_replay_bytes(p, &len) == NULL);
        sl_envelope_free(out);
        free(bytes);
        dlq_letter_free(l);
        dlq_letter_free(p);
        free(ev);
}

static void test_rerun(void)
{
        struct sl_envelope *stored =
            sl_envelope_new("raw.completed", "raw", "nba", "2026-11-20", NULL);
        struct sl_envelope *c;
        char corr[37];

        sl_envelope_set_idem_key(stored, "raw:k1");
        stored->replay_count = 3;
        sl_uuid7(corr);
        c = dlq_rerun_copy(stored, corr, "run1");
        SL_CHECK(c != NULL);
        if (c) {
                SL_CHECK(strcmp(c->event_id, stored->event_id) != 0);
                SL_CHECK(sl_uuid_valid(c->event_id));
                SL_CHECK(strcmp(c->causation_id, stored->event_id) == 0);
                SL_CHECK(strcmp(c->correlation_id, corr) == 0);
                SL_CHECK(strcmp(c->idempotency_key, "raw:k1:rerun:run1") == 0);
                SL_CHECK(strcmp(c->type, "raw.completed") == 0);
                SL_CHECK(strcmp(c->game_date, "2026-11-20") == 0);
                SL_CHECK(c->replay_count == 0);
        }
        sl_envelope_free(c);
        SL_CHECK(dlq_rerun_copy(stored, "not-a-uuid", "run1") == NULL);
        sl_envelope_set_idem_key(stored, NULL);
        c = dlq_rerun_copy(stored, corr, "r2");
        SL_CHECK(c && strncmp(c->idempotency_key, stored->event_id, 36) == 0);
        sl_envelope_free(c);
        sl_envelope_free(stored);

        SL_CHECK(strcmp(dlq_upstream_phase("analytics"), "raw") == 0);
        SL_CHECK(strcmp(dlq_upstream_phase("raw"), "scraper") == 0);
        SL_CHECK(strcmp(dlq_upstream_phase("publishing"), "prediction") == 0);
        SL_CHECK(dlq_upstream_phase("scraper") == NULL);
        SL_CHECK(dlq_upstream_phase("bogus") == NULL);
        SL_CHECK(dlq_upstream_phase(NULL) == NULL);
}

static void test_json(void)
{
        char *ev = make_event("raw.completed", "nba", 0);
        struct dlq_letter *l = make_letter("a.b.dlq", "5-1", ev, "SYSTEM", "raw", NULL);
        struct dlq_letter *p = make_letter("a.b.dlq", "6-1", "oops", "PERMANENT", "raw", NULL);
        struct cJSON *o = dlq_letter_json(l, true), *q = dlq_letter_json(p, true);

        SL_CHECK(strcmp(cJSON_GetObjectItem(o, "id")->valuestring, "a.b.dlq/5-1") == 0);
        SL_CHECK(strcmp(cJSON_GetObjectItem(o, "original_topic")->valuestring, "a.b") == 0);
        SL_CHECK(strcmp(cJSON_GetObjectItem(o, "event_id")->valuestring, l->env->event_id) == 0);
        SL_CHECK(cJSON_IsObject(cJSON_GetObjectItem(o, "envelope")));
        SL_CHECK(
            strcmp(
                cJSON_GetObjectItem(cJSON_GetObjectItem(o, "headers"), SL_DLQ_H_CLASS)->valuestring,
                "SYSTEM") == 0);
        SL_CHECK(cJSON_IsNull(cJSON_GetObjectItem(q, "event_id")));
        SL_CHECK(strcmp(cJSON_GetObjectItem(q, "data")->valuestring, "oops") == 0);
        SL_CHECK(cJSON_IsString(cJSON_GetObjectItem(q, "parse_error")));
        cJSON_Delete(o);
        cJSON_Delete(q);
        dlq_letter_free(l);
        dlq_letter_free(p);
        free(ev);
}

int main(void)
{
        test_letter();
        test_filter();
        test_times_rates();
        test_replay_bytes();
        test_rerun();
        test_json();
        return SL_DONE();
}
