/*
 * statline-dlq, the pure part: letters, filters, times, pacing, replay bytes
 * and JSON. No I/O here, so tests/unit/test_dlq_core.c covers it all.
 */
#include "dlq.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/util.h>

#define HOUR_MS (3600 * 1000LL)

struct dlq_letter *dlq_letter_new(void)
{
        struct dlq_letter *l = sl_xcalloc(1, sizeof(*l));

        l->partition = -1;
        l->offset = -1;
        return l;
}

void dlq_letter_free(struct dlq_letter *l)
{
        if (!l)
                return;
        free(l->dlq_topic);
        free(l->entry);
        free(l->origin);
        free(l->key);
        free(l->data);
        for (int i = 0; i < l->n_headers; i++) {
                free(l->hname[i]);
                free(l->hvalue[i]);
        }
        sl_envelope_free(l->env);
        free(l);
}

void dlq_letter_add_header(struct dlq_letter *l, const char *name, const char *value, size_t vlen)
{
        if (l->n_headers >= DLQ_MAX_HEADERS)
                return;
        l->hname[l->n_headers] = sl_xstrdup(name);
        l->hvalue[l->n_headers] = sl_xstrndup(value ? value : "", value ? vlen : 0);
        l->n_headers++;
}

const char *dlq_letter_header(const struct dlq_letter *l, const char *name)
{
        for (int i = 0; i < l->n_headers; i++)
                if (strcmp(l->hname[i], name) == 0)
                        return l->hvalue[i];
        return NULL;
}

static char *origin_of(const struct dlq_letter *l);

int dlq_letter_finish(struct dlq_letter *l, int64_t fallback_ms)
{
        const char *last = dlq_letter_header(l, SL_DLQ_H_LAST);
        int64_t ms = 0;
        int w = snprintf(l->id, sizeof(l->id), "%s/%s", l->dlq_topic, l->entry);

        if (w < 0 || (size_t)w >= sizeof(l->id))
                return -ENAMETOOLONG;
        if (!last || sl_time_parse_rfc3339(last, &ms) < 0)
                ms = fallback_ms;
        l->failed_ms = ms;
        free(l->origin);
        l->origin = origin_of(l);
        if (!l->data)
                l->data = sl_xstrdup("");
        sl_envelope_free(l->env);
        l->env = NULL;
        l->parse_error[0] = '\0';
        if (sl_envelope_parse(l->data, l->len, 0, &l->env, l->parse_error, sizeof(l->parse_error)) <
            0)
                l->env = NULL;
        return 0;
}

const char *dlq_letter_origin(const struct dlq_letter *l)
{
        return l->origin ? l->origin : "";
}

/* dlq.original_topic, else the DLQ topic without ".dlq". */
static char *origin_of(const struct dlq_letter *l)
{
        const char *t = dlq_letter_header(l, SL_DLQ_H_TOPIC);
        size_t n;

        if (t && *t)
                return sl_xstrdup(t);
        if (!l->dlq_topic)
                return sl_xstrdup("");
        n = strlen(l->dlq_topic);
        if (n > 4 && strcmp(l->dlq_topic + n - 4, ".dlq") == 0)
                return sl_xstrndup(l->dlq_topic, n - 4);
        return sl_xstrdup(l->dlq_topic);
}

/* ---- filters ------------------------------------------------------------------------------ */

static bool str_eq(const char *want, const char *have)
{
        return !want || (have && strcmp(want, have) == 0);
}

static bool glob_eq(const char *want, const char *have)
{
        return !want || (have && fnmatch(want, have, 0) == 0);
}

bool dlq_filter_match(const struct dlq_filter *f, const struct dlq_letter *l)
{
        const struct sl_envelope *env = l->env;
        const char *cls = dlq_letter_header(l, SL_DLQ_H_CLASS);

        if (f->id && strcmp(f->id, l->id) != 0)
                return false;
        if (f->topic && !glob_eq(f->topic, dlq_letter_origin(l)) &&
            !glob_eq(f->topic, l->dlq_topic))
                return false;
        if (!str_eq(f->service, dlq_letter_header(l, SL_DLQ_H_SERVICE)))
                return false;
        if (f->error_class && (!cls || strcasecmp(f->error_class, cls) != 0))
                return false;
        if ((f->type || f->sport || f->correlation_id) && !env)
                return false;
        if (f->type && !glob_eq(f->type, env->type))
                return false;
        if (f->sport && !str_eq(f->sport, env->sport))
                return false;
        if (f->correlation_id && strcasecmp(f->correlation_id, env->correlation_id) != 0)
                return false;
        if (f->since_ms && (!l->failed_ms || l->failed_ms < f->since_ms))
                return false;
        if (f->until_ms && (!l->failed_ms || l->failed_ms >= f->until_ms))
                return false;
        return true;
}

static void json_opt(struct cJSON *o, const char *name, const char *v)
{
        if (v)
                cJSON_AddStringToObject(o, name, v);
}

static void json_time(struct cJSON *o, const char *name, int64_t ms)
{
        char t[25];

        if (!ms)
                return;
        sl_time_rfc3339(ms, t);
        cJSON_AddStringToObject(o, name, t);
}

struct cJSON *dlq_filter_json(const struct dlq_filter *f)
{
        struct cJSON *o = cJSON_CreateObject();

        json_opt(o, "id", f->id);
        json_opt(o, "topic", f->topic);
        json_opt(o, "service", f->service);
        json_opt(o, "error_class", f->error_class);
        json_opt(o, "type", f->type);
        json_opt(o, "sport", f->sport);
        json_opt(o, "correlation_id", f->correlation_id);
        json_time(o, "since", f->since_ms);
        json_time(o, "until", f->until_ms);
        return o;
}

/* ---- times, rates ------------------------------------------------------------------------- */

int dlq_parse_time(const char *s, bool end_of_day, int64_t *wall_ms)
{
        char buf[32];
        int64_t ms;
        int w;

        if (!s || !*s)
                return -EINVAL;
        if (sl_date_valid(s)) {
                w = snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
                if (w < 0 || (size_t)w >= sizeof(buf) || sl_time_parse_rfc3339(buf, &ms) < 0)
                        return -EINVAL;
                *wall_ms = end_of_day ? ms + 24 * HOUR_MS : ms;
                return 0;
        }
        if (sl_time_parse_rfc3339(s, &ms) < 0)
                return -EINVAL;
        *wall_ms = ms;
        return 0;
}

int dlq_parse_rate(const char *s, double *per_s)
{
        char *end = NULL;
        double v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s)
                return -EINVAL;
        if (*end && strcmp(end, "/s") != 0)
                return -EINVAL;
        if (!(v >= 0.01 && v <= 100000.0))
                return -EINVAL;
        *per_s = v;
        return 0;
}

int64_t dlq_pace_at_ms(int64_t start_ms, uint64_t i, double per_s)
{
        if (per_s <= 0)
                return start_ms;
        return start_ms + (int64_t)ceil((double)i * 1000.0 / per_s);
}

const char *dlq_age_bucket(int64_t now_ms, int64_t failed_ms)
{
        int64_t age = now_ms - failed_ms;

        if (!failed_ms)
                return "unknown";
        if (age < HOUR_MS)
                return "<1h";
        if (age < 24 * HOUR_MS)
                return "1h-24h";
        if (age < 7 * 24 * HOUR_MS)
                return "1d-7d";
        return ">7d";
}

/* ---- replay bytes, rerun copies ----------------------------------------------------------- */

char *dlq_replay_bytes(const struct dlq_letter *l, size_t *len)
{
        struct sl_envelope *env;
        char *out;

        if (!l->env)
                return NULL;
        env = sl_envelope_dup(l->env);
        env->replay_count++;
        out = sl_envelope_serialize(env, len);
        sl_envelope_free(env);
        return out;
}

struct sl_envelope *dlq_rerun_copy(const struct sl_envelope *stored, const char *correlation,
                                   const char *tag)
{
        struct sl_envelope *env;
        char *key;
        int rc;

        if (!correlation || !sl_uuid_valid(correlation) || !tag || !*tag)
                return NULL;
        key =
            sl_xasprintf("%s:rerun:%s",
                         stored->idempotency_key ? stored->idempotency_key : stored->event_id, tag);
        env = sl_envelope_dup(stored);
        rc = sl_envelope_set_idem_key(env, key);
        free(key);
        if (rc < 0) {
                sl_envelope_free(env);
                return NULL;
        }
        sl_uuid7(env->event_id);
        snprintf(env->causation_id, sizeof(env->causation_id), "%s", stored->event_id);
        snprintf(env->correlation_id, sizeof(env->correlation_id), "%s", correlation);
        env->produced_at_ms = sl_wall_ms();
        env->replay_count = 0;
        return env;
}

const char *dlq_upstream_phase(const char *phase)
{
        static const char *const order[] = {"scraper",    "raw",        "analytics",
                                            "precompute", "prediction", "publishing"};

        if (!phase)
                return NULL;
        for (size_t i = 1; i < sizeof(order) / sizeof(order[0]); i++)
                if (strcmp(order[i], phase) == 0)
                        return order[i - 1];
        return NULL;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void add_envelope_summary(struct cJSON *o, const struct sl_envelope *env)
{
        cJSON_AddStringToObject(o, "event_id", env->event_id);
        cJSON_AddStringToObject(o, "type", env->type);
        cJSON_AddStringToObject(o, "sport", env->sport);
        cJSON_AddStringToObject(o, "correlation_id", env->correlation_id);
        cJSON_AddStringToObject(o, "game_date", env->game_date);
        cJSON_AddNumberToObject(o, "replay_count", env->replay_count);
}

struct cJSON *dlq_letter_json(const struct dlq_letter *l, bool full)
{
        struct cJSON *o = cJSON_CreateObject(), *h = cJSON_CreateObject();
        char *ser;

        cJSON_AddStringToObject(o, "id", l->id);
        cJSON_AddStringToObject(o, "dlq_topic", l->dlq_topic);
        cJSON_AddStringToObject(o, "original_topic", dlq_letter_origin(l));
        if (l->key)
                cJSON_AddStringToObject(o, "key", l->key);
        else
                cJSON_AddNullToObject(o, "key");
        json_time(o, "failed_at", l->failed_ms);
        for (int i = 0; i < l->n_headers; i++)
                cJSON_AddStringToObject(h, l->hname[i], l->hvalue[i]);
        cJSON_AddItemToObject(o, "headers", h);
        cJSON_AddNumberToObject(o, "bytes", (double)l->len);
        if (l->env) {
                add_envelope_summary(o, l->env);
        } else {
                cJSON_AddNullToObject(o, "event_id");
                cJSON_AddStringToObject(o, "parse_error", l->parse_error);
        }
        if (!full)
                return o;
        if (l->env) {
                ser = sl_envelope_serialize(l->env, NULL);
                cJSON_AddItemToObject(o, "envelope", cJSON_Parse(ser));
                free(ser);
        } else {
                /* Poison may hold any bytes: cJSON escapes control characters. */
                cJSON_AddStringToObject(o, "data", l->data);
        }
        return o;
}
