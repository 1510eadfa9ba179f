#include <sl/bus.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_config.h"
#include "bus_int.h"
#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/util.h>

#define BUS_DEFAULT_PREFIX    "statline"
#define BUS_DEFAULT_REDIS_URL "127.0.0.1:6379"
#define BUS_DEFAULT_KAFKA_URL "127.0.0.1:9092"
#define BUS_DLQ_FLUSH_MS      10000 /* wait this long for a dead letter to be confirmed */

/* Backends by name (libseat impls[] pattern). "redis" is kept as an alias of Streams. */
static const struct {
        const char *name;
        const struct sl_bus_ops *ops;
} backends[] = {
    {"redis-streams", &sl_bus_redis_streams_ops},
    {"redis", &sl_bus_redis_streams_ops},
    {"redis-pubsub", &sl_bus_redis_pubsub_ops},
#if SL_HAVE_KAFKA
    {"kafka", &sl_bus_kafka_ops},
#endif
    {"mem", &sl_bus_mem_ops},
};

/* What went wrong with one message, for logs and dead-letter context. */
struct failure {
        int rc;           /* last handler (or parse) error */
        int attempts;     /* handler calls made */
        int64_t first_ms; /* wall clock of the first failure */
        int64_t last_ms;  /* wall clock of the last failure */
        char reason[512]; /* human-readable error text */
};

/* Why the current handler call failed, in the handler's words (sl_bus_set_error). */
static _Thread_local char handler_error[384];

void sl_bus_set_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(handler_error, sizeof(handler_error), fmt, ap);
        va_end(ap);
}

/* Keeps a heap copy of s for the life of the bus; returns it (NULL stays NULL). */
static const char *own(struct sl_bus *bus, const char *s)
{
        char *copy;

        if (!s)
                return NULL;
        if (bus->n_owned == (int)(sizeof(bus->owned) / sizeof(bus->owned[0])))
                abort(); /* more strings than options: a programmer error */
        copy = sl_xstrdup(s);
        bus->owned[bus->n_owned++] = copy;
        return copy;
}

static const struct sl_bus_ops *find_backend(const char *name)
{
        for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
                if (strcmp(backends[i].name, name) == 0)
                        return backends[i].ops;
        }
        return NULL;
}

/* Copies caller options into bus->opts and fills in every default. */
static void apply_defaults(struct sl_bus *bus, const struct sl_bus_opts *opts, bool kafka)
{
        struct sl_bus_opts *o = &bus->opts;
        char host[64], consumer[128];

        *o = *opts;
        o->backend = own(bus, opts->backend ? opts->backend : "redis-streams");
        o->url = own(bus, opts->url ? opts->url
                          : kafka   ? BUS_DEFAULT_KAFKA_URL
                                    : BUS_DEFAULT_REDIS_URL);
        o->username = own(bus, opts->username);
        o->password = own(bus, opts->password);
        o->prefix = own(bus, opts->prefix ? opts->prefix : BUS_DEFAULT_PREFIX);
        o->service = own(bus, opts->service ? opts->service : "statline");
        o->group = own(bus, opts->group ? opts->group : o->service);
        if (!opts->consumer) {
                if (gethostname(host, sizeof(host)) < 0)
                        snprintf(host, sizeof(host), "host");
                host[sizeof(host) - 1] = '\0';
                snprintf(consumer, sizeof(consumer), "%s-%ld", host, (long)getpid());
        }
        o->consumer = own(bus, opts->consumer ? opts->consumer : consumer);
        o->kafka_props = own(bus, opts->kafka_props);
        for (bus->n_topics = 0;
             bus->n_topics < SL_BUS_MAX_TOPICS - 1 && opts->topics[bus->n_topics]; bus->n_topics++)
                o->topics[bus->n_topics] = own(bus, opts->topics[bus->n_topics]);
        o->topics[bus->n_topics] = NULL;
        if (opts->retry.max_attempts == 0 && opts->retry.n_delays == 0 && opts->retry.base_ms == 0)
                sl_retry_defaults(&o->retry);
        if (!o->max_msg_bytes)
                o->max_msg_bytes = SL_ENVELOPE_MAX_BYTES;
        if (!o->claim_idle_ms)
                o->claim_idle_ms = 30000;
        if (!o->max_deliveries)
                o->max_deliveries = 5;
        if (!o->connect_timeout_ms)
                o->connect_timeout_ms = 5000;
        if (!o->reconnect_max_ms)
                o->reconnect_max_ms = 30000;
        if (!o->pending_max)
                o->pending_max = 1000;
        if (o->password)
                sl_log_add_secret(o->password);
}

static void bus_free(struct sl_bus *bus)
{
        for (int i = 0; i < bus->n_owned; i++)
                free(bus->owned[i]);
        free(bus);
}

struct sl_bus *sl_bus_open(const struct sl_bus_opts *opts, char *errstr, size_t errstr_size)
{
        const char *name = opts->backend ? opts->backend : "redis-streams";
        const struct sl_bus_ops *ops = find_backend(name);
        struct sl_bus *bus;

        if (!ops) {
                snprintf(errstr, errstr_size,
                         "unknown bus backend '%s' (expected redis-streams, redis-pubsub, %smem)",
                         name, SL_HAVE_KAFKA ? "kafka, " : "");
                return NULL;
        }
        if (opts->topics[0] && opts->topics[SL_BUS_MAX_TOPICS - 1]) {
                snprintf(errstr, errstr_size, "too many topics (max %d)", SL_BUS_MAX_TOPICS - 1);
                return NULL;
        }
        bus = sl_xcalloc(1, sizeof(*bus));
        bus->ops = ops;
        apply_defaults(bus, opts, ops == find_backend("kafka"));
        if (ops->open(bus, errstr, errstr_size) < 0) {
                bus_free(bus);
                return NULL;
        }
        sl_log_info("bus.open", "backend=%s url=%s group=%s consumer=%s topics=%d", ops->name,
                    bus->opts.url, bus->opts.group, bus->opts.consumer, bus->n_topics);
        return bus;
}

void sl_bus_close(struct sl_bus *bus)
{
        if (!bus)
                return;
        bus->ops->close(bus);
        bus_free(bus);
}

const char *sl_bus_backend(const struct sl_bus *bus)
{
        return bus->ops->name;
}

void sl_bus_get_stats(const struct sl_bus *bus, struct sl_bus_stats *out)
{
        *out = bus->stats;
}

int sl_bus_topic(char *out, size_t out_size, const char *prefix, const char *sport,
                 const char *phase)
{
        int n = snprintf(out, out_size, "%s.%s.%s.completed", prefix ? prefix : BUS_DEFAULT_PREFIX,
                         sport, phase);
        return n < 0 || (size_t)n >= out_size ? -ENAMETOOLONG : 0;
}

int sl_bus_dlq_topic(char *out, size_t out_size, const char *topic)
{
        int n = snprintf(out, out_size, "%s.dlq", topic);
        return n < 0 || (size_t)n >= out_size ? -ENAMETOOLONG : 0;
}

int sl_bus_publish_raw(struct sl_bus *bus, const char *topic, const char *key, const void *data,
                       size_t len, const struct sl_bus_header *headers, int n_headers)
{
        int rc;

        if (n_headers < 0 || n_headers > SL_BUS_MAX_HEADERS)
                return -EINVAL;
        rc = bus->ops->publish(bus, topic, key, data, len, headers, n_headers);
        if (rc == 0)
                bus->stats.published++;
        return rc;
}

int sl_bus_publish(struct sl_bus *bus, const char *topic, const struct sl_envelope *env)
{
        char key[256];
        size_t len;
        char *data = sl_envelope_serialize(env, &len);
        int rc;

        /* Per-key order: one entity's (or one date's) events share a partition. */
        if (env->n_entities > 0)
                snprintf(key, sizeof(key), "%s:%s", env->entities[0].kind, env->entities[0].id);
        else
                snprintf(key, sizeof(key), "%s:%s", env->sport, env->game_date);
        rc = sl_bus_publish_raw(bus, topic, key, data, len, NULL, 0);
        free(data);
        return rc;
}

int sl_bus_flush(struct sl_bus *bus, int64_t timeout_ms)
{
        return bus->ops->flush(bus, timeout_ms);
}

int sl_bus_ack(struct sl_bus *bus, const struct sl_bus_msg *msg)
{
        return bus->ops->ack(bus, msg);
}

int sl_bus_drain(struct sl_bus *bus, int64_t timeout_ms)
{
        bus->draining = true;
        return bus->ops->drain(bus, timeout_ms);
}

/*
 * Blanks what looks like a password in s (in place) with "***": the value of
 * password=... (a libpq key=value DSN; up to a space, quote, comma or ';'),
 * the password of a URI's userinfo ("scheme://user:SECRET@host"), and the
 * bus's own password. The log's registered secrets are blanked by
 * sl_log_redact() when libcommon has it (see docs/reliability.md).
 */
/* Replaces [v, end) by "***" (never growing the string: shorter values become '*'s). */
static void blank(char *v, char *end)
{
        if (end - v < 3) {
                memset(v, '*', (size_t)(end - v));
                return;
        }
        memcpy(v, "***", 3);
        memmove(v + 3, end, strlen(end) + 1);
}

static void redact(const struct sl_bus *bus, char *s)
{
        static const char *const keys[] = {"password=", "password = ", "pass="};
        char *p;

        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
                for (p = strstr(s, keys[k]); p; p = strstr(p, keys[k])) {
                        char *v = p + strlen(keys[k]), *end = v;
                        while (*end && !strchr(" \t'\",;&)", *end))
                                end++;
                        blank(v, end);
                        p = v;
                }
        }
        for (p = strstr(s, "://"); p; p = strstr(p, "://")) {
                char *u = p + 3, *at = u + strcspn(u, "@/ \t\"'"), *colon;
                p = u;
                if (*at != '@')
                        continue;
                colon = memchr(u, ':', (size_t)(at - u));
                if (colon)
                        blank(colon + 1, at);
        }
        if (bus->opts.password && strlen(bus->opts.password) >= 4) {
                size_t n = strlen(bus->opts.password);
                while ((p = strstr(s, bus->opts.password)) != NULL)
                        blank(p, p + n);
        }
}

static void fail_note(struct failure *f, int rc, const char *reason)
{
        int64_t now = sl_wall_ms();

        if (!f->first_ms)
                f->first_ms = now;
        f->last_ms = now;
        f->rc = rc;
        snprintf(f->reason, sizeof(f->reason), "%s", reason);
}

/*
 * Sends the original bytes of msg to "<topic>.dlq" with the failure as
 * headers, and waits for the broker to confirm. Returns 0 once it is safe to
 * ack the original, or a negative errno (the original must then stay unacked).
 */
static int dead_letter(struct sl_bus *bus, const struct sl_bus_msg *msg,
                       const struct sl_envelope *env, struct failure *f, enum sl_err_class cls,
                       const char *why)
{
        char dlq[512], part[16], off[24], attempts[16], first[25], last[25];
        const char *where = msg->partition >= 0 ? off : msg->id;
        struct sl_bus_header h[11];
        int n = 0, rc;

        rc = sl_bus_dlq_topic(dlq, sizeof(dlq), msg->topic);
        if (rc < 0)
                return rc;
        snprintf(part, sizeof(part), "%d", (int)msg->partition);
        snprintf(off, sizeof(off), "%lld", (long long)msg->offset);
        snprintf(attempts, sizeof(attempts), "%d", f->attempts);
        sl_time_rfc3339(f->first_ms, first);
        sl_time_rfc3339(f->last_ms, last);
        redact(bus, f->reason);
        sl_log_redact(f->reason);
        h[n++] = (struct sl_bus_header){SL_DLQ_H_TOPIC, msg->topic};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_PARTITION, msg->partition >= 0 ? part : ""};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_OFFSET, where};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_GROUP, bus->opts.group};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_SERVICE, bus->opts.service};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_ATTEMPTS, attempts};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_CLASS, sl_err_class_name(cls)};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_ERROR, f->reason};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_FIRST, first};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_LAST, last};
        h[n++] = (struct sl_bus_header){SL_DLQ_H_KEY, msg->key ? msg->key : ""};
        rc = sl_bus_publish_raw(bus, dlq, msg->key, msg->data, msg->len, h, n);
        if (rc == 0)
                rc = sl_bus_flush(bus, BUS_DLQ_FLUSH_MS);
        if (rc < 0) {
                sl_log_error("bus.dlq.publish.error",
                             "topic=%s id=%s: %s (message kept for redelivery)", msg->topic,
                             msg->id, sl_strerror(rc));
                return rc;
        }
        bus->stats.dead_lettered++;
        sl_metric_inc(sl_metrics_std()->events_failed, why);
        if (bus->opts.defer) {
                char cls_name[16];
                snprintf(cls_name, sizeof(cls_name), "%s", sl_err_class_name(cls));
                bus->opts.defer(bus->opts.defer_opaque, SL_BUS_DEFER_DEAD, msg, env, f->reason,
                                cls_name, sizeof(cls_name));
        }
        sl_log_warn("bus.dlq", "topic=%s id=%s class=%s attempts=%d error=%s", msg->topic, msg->id,
                    sl_err_class_name(cls), f->attempts, f->reason);
        return 0;
}

int sl_bus_dead_letter(struct sl_bus *bus, const struct sl_bus_msg *msg, int rc, int attempts,
                       int64_t first_ms, const char *reason)
{
        struct failure f = {.attempts = attempts > 0 ? attempts : 1};
        struct sl_envelope *env = NULL;
        enum sl_err_class cls;
        char why[64];
        int ret;

        if (!bus || !msg || !msg->topic || !msg->data)
                return -EINVAL;
        fail_note(&f, rc, reason && reason[0] ? reason : sl_strerror(rc));
        if (first_ms > 0 && first_ms < f.last_ms)
                f.first_ms = first_ms;
        cls = rc == SL_BUS_NOT_READY ? SL_ERR_TRANSIENT : sl_err_classify(rc);
        /* the owner records it under the event's run (op DEAD), as for the bus's own dead letters
         */
        if (sl_envelope_parse(msg->data, msg->len, bus->opts.max_msg_bytes, &env, why,
                              sizeof(why)) < 0)
                env = NULL;
        ret = dead_letter(bus, msg, env, &f, cls,
                          cls == SL_ERR_PERMANENT ? "permanent" : "retries_exhausted");
        sl_envelope_free(env);
        return ret;
}

/* Finishes msg: acks it, or (if it can't be finished now) asks for redelivery. */
static int settle(struct sl_bus *bus, const struct sl_bus_msg *msg, int rc)
{
        if (rc == 0) {
                rc = bus->ops->ack(bus, msg);
                if (rc < 0)
                        sl_log_warn("bus.ack.error", "topic=%s id=%s: %s", msg->topic, msg->id,
                                    sl_strerror(rc));
                return rc < 0 ? rc : 1;
        }
        if (bus->ops->nack)
                bus->ops->nack(bus, msg);
        return rc;
}

/*
 * A handler said SL_BUS_NOT_READY: parks the message through opts.defer.
 * Returns SL_BUS_NOT_READY (parked), 0 (waited too long: dead-lettered),
 * -EBUSY (could not park: the message waits) or the dead-letter error.
 */
static int park(struct sl_bus *bus, const struct sl_envelope *env, const struct sl_bus_msg *msg,
                struct failure *f)
{
        char why[sizeof(f->reason)];
        const char *reason = handler_error[0] ? handler_error : "not ready";
        int rc;

        why[0] = '\0';
        rc = bus->opts.defer(bus->opts.defer_opaque, SL_BUS_DEFER_PARK, msg, env, reason, why,
                             sizeof(why));
        if (rc == 0) {
                bus->stats.parked++;
                sl_log_info("bus.handler.parked", "topic=%s id=%s: not ready: %s", msg->topic,
                            msg->id, reason);
                return SL_BUS_NOT_READY;
        }
        if (rc != -ETIME) {
                sl_log_warn("bus.park.error", "topic=%s id=%s: %s (the message waits)", msg->topic,
                            msg->id, sl_strerror(rc));
                return -EBUSY;
        }
        fail_note(f, SL_BUS_NOT_READY, why[0] ? why : reason);
        rc = dead_letter(bus, msg, env, f, SL_ERR_TRANSIENT, "not_ready_timeout");
        if (rc == 0)
                bus->opts.defer(bus->opts.defer_opaque, SL_BUS_DEFER_DONE, msg, env, reason, why,
                                sizeof(why));
        return rc;
}

/*
 * Calls the handler with retries. Returns 0 when the message is done (handled,
 * duplicate or dead-lettered), SL_BUS_NOT_READY when it was parked,
 * -EBUSY/-EINTR when it must wait (circuit open, drain), or the dead-letter
 * publish error.
 */
static int run_handler(struct sl_bus *bus, const struct sl_envelope *env,
                       const struct sl_bus_msg *msg, sl_bus_handler_fn *handler, void *opaque,
                       struct failure *f)
{
        int max = sl_retry_max_attempts(&bus->opts.retry);
        enum sl_err_class cls = SL_ERR_TRANSIENT;

        const struct sl_std_metrics *m = sl_metrics_std();

        for (f->attempts = 1;; f->attempts++) {
                int64_t t0_us = sl_mono_us();
                int rc;

                handler_error[0] = '\0';
                rc = handler(env, msg, opaque);
                sl_metric_observe(m->handler_seconds, (double)(sl_mono_us() - t0_us) / 1e6,
                                  env->type);
                if (rc == 0 || rc == -EEXIST) {
                        bus->stats.handled += rc == 0;
                        bus->stats.duplicates += rc == -EEXIST;
                        if (rc == -EEXIST)
                                sl_metric_inc(m->idem_duplicates);
                        return 0;
                }
                if (rc == -EBUSY)
                        return rc; /* circuit open: nothing attempted, the message waits */
                if (rc == SL_BUS_NOT_READY && bus->opts.defer)
                        return park(bus, env, msg, f);
                if (handler_error[0]) {
                        char why[sizeof(f->reason)];
                        snprintf(why, sizeof(why), "%s: %s", sl_strerror(rc), handler_error);
                        fail_note(f, rc, why);
                } else {
                        fail_note(f, rc, sl_strerror(rc));
                }
                /* not ready without a place to park it: an ordinary retriable error */
                cls = rc == SL_BUS_NOT_READY ? SL_ERR_TRANSIENT : sl_err_classify(rc);
                if (cls == SL_ERR_PERMANENT || f->attempts >= max)
                        break;
                int64_t delay_ms = sl_retry_delay_ms(&bus->opts.retry, f->attempts);
                bus->stats.retries++;
                sl_log_warn("bus.handler.retry",
                            "topic=%s id=%s attempt=%d/%d error=%s delay_ms=%lld", msg->topic,
                            msg->id, f->attempts, max, f->reason, (long long)delay_ms);
                if (sl_sleep_ms(delay_ms, bus->opts.stop) < 0)
                        return -EINTR; /* draining: leave it for redelivery */
        }
        if (f->attempts >= max && cls != SL_ERR_PERMANENT)
                snprintf(f->reason + strlen(f->reason), sizeof(f->reason) - strlen(f->reason),
                         " (gave up after %d attempts)", f->attempts);
        return dead_letter(bus, msg, env, f, cls,
                           cls == SL_ERR_PERMANENT ? "permanent" : "retries_exhausted");
}

/*
 * A topic under the bus prefix is <prefix>.<sport>.<...>: it carries only
 * events of that sport. Topics outside the prefix have no such rule.
 */
static int topic_sport_ok(const struct sl_bus *bus, const char *topic, const char *sport)
{
        size_t p = strlen(bus->opts.prefix), s = strlen(sport);

        if (strncmp(topic, bus->opts.prefix, p) != 0 || topic[p] != '.')
                return 1;
        return strncmp(topic + p + 1, sport, s) == 0 && topic[p + 1 + s] == '.';
}

/*
 * Everything that happens to one message before it is acked: 0 done,
 * SL_BUS_NOT_READY parked (both: ack it), or a negative errno (it waits).
 */
static int process(struct sl_bus *bus, const struct sl_bus_msg *msg, sl_bus_handler_fn *handler,
                   void *opaque)
{
        struct failure f = {.attempts = msg->deliveries > 0 ? msg->deliveries : 1};
        struct sl_envelope *env = NULL;
        char why[384];
        int rc;

        if (msg->len > bus->opts.max_msg_bytes) {
                snprintf(why, sizeof(why), "message of %zu bytes exceeds the %zu byte cap",
                         msg->len, bus->opts.max_msg_bytes);
                fail_note(&f, -EMSGSIZE, why);
                return dead_letter(bus, msg, NULL, &f, SL_ERR_PERMANENT, "oversized");
        }
        rc =
            sl_envelope_parse(msg->data, msg->len, bus->opts.max_msg_bytes, &env, why, sizeof(why));
        sl_metric_inc(sl_metrics_std()->events_consumed, rc == 0 ? env->type : "invalid");
        if (rc < 0) {
                fail_note(&f, rc, why);
                return dead_letter(bus, msg, NULL, &f, SL_ERR_PERMANENT, "poison");
        }
        if (!topic_sport_ok(bus, msg->topic, env->sport)) {
                snprintf(why, sizeof(why), "sport %s does not belong on topic %s", env->sport,
                         msg->topic);
                fail_note(&f, -EBADMSG, why);
                /* no env for the record: its sport is not this topic's (it is poison) */
                sl_envelope_free(env);
                return dead_letter(bus, msg, NULL, &f, SL_ERR_PERMANENT, "poison");
        }
        if (msg->deliveries > bus->opts.max_deliveries) {
                snprintf(why, sizeof(why), "delivered %d times without being acked (max %d)",
                         msg->deliveries, bus->opts.max_deliveries);
                fail_note(&f, -ELOOP, why);
                f.attempts = msg->deliveries;
                rc = dead_letter(bus, msg, env, &f, SL_ERR_SYSTEM, "redelivery_loop");
        } else {
                sl_log_set_event(env);
                rc = run_handler(bus, env, msg, handler, opaque, &f);
                sl_log_set_event(NULL);
        }
        sl_envelope_free(env);
        return rc;
}

/* One fetched message: processed, then acked or released; returns sl_bus_poll()'s value. */
static int handle(struct sl_bus *bus, const struct sl_bus_msg *msg, sl_bus_handler_fn *handler,
                  void *opaque)
{
        int rc = process(bus, msg, handler, opaque);

        return settle(bus, msg, rc == SL_BUS_NOT_READY ? 0 : rc);
}

int sl_bus_dispatch(struct sl_bus *bus, const struct sl_bus_msg *msg, sl_bus_handler_fn *handler,
                    void *opaque)
{
        return process(bus, msg, handler, opaque);
}

int sl_bus_poll(struct sl_bus *bus, sl_bus_handler_fn *handler, void *opaque, int timeout_ms)
{
        struct sl_bus_msg msg;
        int rc;

        if (bus->draining)
                return 0;
        memset(&msg, 0, sizeof(msg));
        rc = bus->ops->fetch(bus, &msg, timeout_ms);
        if (rc <= 0)
                return rc;
        bus->stats.consumed++;
        rc = handle(bus, &msg, handler, opaque);
        bus->ops->release(bus, &msg);
        /*
         * Circuit open: the message went back to the backend, which hands it out
         * again at once. Wait out the poll timeout so the loop doesn't spin.
         */
        if (rc == -EBUSY && timeout_ms > 0)
                sl_sleep_ms(timeout_ms, bus->opts.stop);
        return rc;
}
