/*
 * The generic bus layer (retries, dead-lettering, acks) driven through the
 * in-process "mem" backend: no network, no real sleeps (delays of 1 ms).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus_int.h"
#include <cjson/cJSON.h>
#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/util.h>

#include "sl_test.h"

#define TOPIC "statline.nba.raw.completed"
#define DLQ   "statline.nba.raw.completed.dlq"

struct script {
        int calls;         /* handler calls so far */
        int fail_n;        /* fail the first fail_n calls ... */
        int rc;            /* ... with this code */
        char seen[16][64]; /* types of handled envelopes */
        int n_seen;
};

static int handler(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct script *s = opaque;

        (void)msg;
        s->calls++;
        if (s->calls <= s->fail_n) {
                if (s->rc == -EBADMSG)
                        sl_bus_set_error("field %s is bad", "pts");
                return s->rc;
        }
        if (s->n_seen < 16)
                snprintf(s->seen[s->n_seen++], 64, "%s", env->type);
        return 0;
}

static struct sl_bus *open_bus(const char *group, int attempts)
{
        struct sl_bus_opts o = {.backend = "mem", .service = "raw", .group = group};
        char err[256];

        o.topics[0] = TOPIC;
        o.retry.max_attempts = attempts;
        o.retry.delays_ms[0] = 1;
        o.retry.n_delays = 1;
        o.retry.jitter_pct = -1;
        return sl_bus_open(&o, err, sizeof(err));
}

static void publish_env(struct sl_bus *bus, const char *type)
{
        struct sl_envelope *env = sl_envelope_new(type, "raw", "nba", "2025-11-05", NULL);
        sl_envelope_add_entity(env, "game", "0022500165");
        SL_CHECK(sl_bus_publish(bus, TOPIC, env) == 0);
        sl_envelope_free(env);
}

/* Reads one dead letter from the DLQ topic into a caller-provided copy. */
static int dlq_header(const char *name, char *out, size_t n)
{
        struct sl_bus_opts o = {.backend = "mem", .group = "inspector"};
        struct sl_bus_msg msg = {0};
        struct sl_bus *bus;
        char err[128];
        int found = -1;

        o.topics[0] = DLQ;
        bus = sl_bus_open(&o, err, sizeof(err));
        if (bus->ops->fetch(bus, &msg, 0) == 1) {
                for (int i = 0; i < msg.n_headers; i++) {
                        if (strcmp(msg.headers[i].name, name) == 0) {
                                snprintf(out, n, "%s", msg.headers[i].value);
                                found = 0;
                        }
                }
                bus->ops->nack(bus, &msg); /* leave it for the next look */
        }
        sl_bus_close(bus);
        return found;
}

static void test_ok_and_order(void)
{
        struct sl_bus *pub = open_bus("pub", 3), *sub = open_bus("raw", 3);
        struct script s = {0};
        struct sl_bus_stats st;

        publish_env(pub, "raw.completed");
        publish_env(pub, "scraper.completed");
        SL_CHECK(sl_bus_flush(pub, 100) == 0);
        SL_CHECK(sl_bus_poll(sub, handler, &s, 0) == 1);
        SL_CHECK(sl_bus_poll(sub, handler, &s, 0) == 1);
        SL_CHECK(sl_bus_poll(sub, handler, &s, 0) == 0); /* acked: nothing comes again */
        SL_CHECK(s.n_seen == 2 && strcmp(s.seen[0], "raw.completed") == 0 &&
                 strcmp(s.seen[1], "scraper.completed") == 0);
        sl_bus_get_stats(sub, &st);
        SL_CHECK(st.consumed == 2 && st.handled == 2 && st.dead_lettered == 0);
        sl_bus_close(pub);
        sl_bus_close(sub);
        sl_bus_mem_reset();
}

static void test_transient_then_ok(void)
{
        struct sl_bus *bus = open_bus("raw", 3);
        struct script s = {.fail_n = 2, .rc = -ETIMEDOUT};
        struct sl_bus_stats st;

        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 1);
        sl_bus_get_stats(bus, &st);
        SL_CHECK(s.calls == 3 && st.retries == 2 && st.handled == 1 && st.dead_lettered == 0);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static void test_exhausted_retries(void)
{
        struct sl_bus *bus = open_bus("raw", 3);
        struct script s = {.fail_n = 100, .rc = -ECONNREFUSED};
        char v[256];

        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 1); /* dead-lettered, then acked */
        SL_CHECK(s.calls == 3);
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_CLASS, v, sizeof(v)) == 0 && strcmp(v, "TRANSIENT") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ATTEMPTS, v, sizeof(v)) == 0 && strcmp(v, "3") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 && strstr(v, "gave up after 3"));
        SL_CHECK(dlq_header(SL_DLQ_H_TOPIC, v, sizeof(v)) == 0 && strcmp(v, TOPIC) == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_GROUP, v, sizeof(v)) == 0 && strcmp(v, "raw") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_SERVICE, v, sizeof(v)) == 0 && strcmp(v, "raw") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_OFFSET, v, sizeof(v)) == 0 && strcmp(v, "1-0") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_FIRST, v, sizeof(v)) == 0 && strlen(v) == 24);
        SL_CHECK(dlq_header(SL_DLQ_H_LAST, v, sizeof(v)) == 0 && strlen(v) == 24);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static void test_poison(void)
{
        sl_metrics_reset();
        struct sl_bus *bus = open_bus("raw", 3);
        struct script s = {0};
        static const char junk[] = "{\"schema_version\":\"1.0\", truncated";
        struct sl_bus_opts o = {.backend = "mem", .group = "inspector"};
        struct sl_bus_msg msg = {0};
        struct sl_bus *dlq;
        char err[128], v[256];

        publish_env(bus, "scraper.completed");
        SL_CHECK(sl_bus_publish_raw(bus, TOPIC, "k1", junk, sizeof(junk) - 1, NULL, 0) == 0);
        publish_env(bus, "raw.completed");
        for (int i = 0; i < 3; i++)
                SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 1);
        SL_CHECK(s.calls == 2 &&
                 s.n_seen == 2); /* neighbours handled, poison never reached handler */
        SL_CHECK(sl_metric_get(sl_metrics_std()->events_failed, "poison") == 1);
        SL_CHECK(sl_metric_get(sl_metrics_std()->events_consumed, "invalid") == 1);
        SL_CHECK(sl_metric_get(sl_metrics_std()->events_consumed, "raw.completed") >= 1);
        SL_CHECK(dlq_header(SL_DLQ_H_CLASS, v, sizeof(v)) == 0 && strcmp(v, "PERMANENT") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ATTEMPTS, v, sizeof(v)) == 0 &&
                 strcmp(v, "1") == 0); /* deliveries */
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 && v[0] != '\0');
        SL_CHECK(dlq_header(SL_DLQ_H_KEY, v, sizeof(v)) == 0 && strcmp(v, "k1") == 0);
        /* The dead letter holds the original bytes, byte for byte. */
        o.topics[0] = DLQ;
        dlq = sl_bus_open(&o, err, sizeof(err));
        SL_CHECK(dlq->ops->fetch(dlq, &msg, 0) == 1);
        SL_CHECK(msg.len == sizeof(junk) - 1 && memcmp(msg.data, junk, msg.len) == 0);
        sl_bus_close(dlq);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

/* A topic <prefix>.<sport>.* carries only that sport: a valid envelope of another
 * sport is poison (the chaos suite found mlb events processed on nba topics). */
static void test_wrong_sport(void)
{
        sl_metrics_reset();
        struct sl_bus *bus = open_bus("raw", 3);
        struct script s = {0};
        struct sl_envelope *env = sl_envelope_new("raw.completed", "raw", "mlb", NULL, NULL);
        char v[256];

        SL_CHECK(sl_bus_publish(bus, TOPIC, env) == 0);
        sl_envelope_free(env);
        publish_env(bus, "raw.completed");
        for (int i = 0; i < 2; i++)
                SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 1);
        SL_CHECK(s.calls == 1 && s.n_seen == 1); /* only the nba event reached the handler */
        SL_CHECK(dlq_header(SL_DLQ_H_CLASS, v, sizeof(v)) == 0 && strcmp(v, "PERMANENT") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 &&
                 strstr(v, "sport mlb does not belong on topic " TOPIC));
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static void test_handler_badmsg_and_dup(void)
{
        sl_metrics_reset();
        struct sl_bus *bus = open_bus("raw", 3);
        struct script bad = {.fail_n = 1, .rc = -EBADMSG};
        struct script dup = {.fail_n = 1, .rc = -EEXIST};
        struct sl_bus_stats st;

        publish_env(bus, "raw.completed");
        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, handler, &bad, 0) == 1 && bad.calls == 1); /* no retry */
        char v[256];
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 && strstr(v, ": field pts is bad"));
        SL_CHECK(sl_bus_poll(bus, handler, &dup, 0) == 1 && dup.calls == 1);
        sl_bus_get_stats(bus, &st);
        SL_CHECK(st.dead_lettered == 1 && st.duplicates == 1 && st.retries == 0);
        SL_CHECK(sl_metric_get(sl_metrics_std()->idem_duplicates) == 1);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static void test_busy_waits(void)
{
        struct sl_bus *bus = open_bus("raw", 3);
        struct script s = {.fail_n = 1, .rc = -EBUSY};
        struct sl_bus_stats st;

        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == -EBUSY); /* not DLQ'd, not acked */
        s.fail_n = 2;
        int64_t t0 = sl_mono_ms();
        SL_CHECK(sl_bus_poll(bus, handler, &s, 20) == -EBUSY);
        SL_CHECK(sl_mono_ms() - t0 >= 20); /* waits out the timeout instead of spinning */
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 1); /* redelivered, handled */
        sl_bus_get_stats(bus, &st);
        SL_CHECK(st.dead_lettered == 0 && st.handled == 1 && s.calls == 3);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static void test_dlq_publish_fails(void)
{
        struct sl_bus *bus = open_bus("raw", 1);
        struct script s = {.fail_n = 1, .rc = -EBADMSG};
        struct sl_bus_stats st;

        publish_env(bus, "raw.completed");
        sl_bus_mem_inject_publish_errors(1, -ECONNRESET);
        /* The dead letter could not be written: the original must not be acked. */
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == -ECONNRESET);
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 1); /* redelivered and handled */
        sl_bus_get_stats(bus, &st);
        SL_CHECK(st.dead_lettered == 0 && st.handled == 1);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

/* sl_bus_dead_letter(): work taken over from the bus that failed for good, by hand. */
static void test_dead_letter_by_hand(void)
{
        struct sl_bus *bus = open_bus("analytics", 1);
        static const char body[] = "{\"event\":\"member\"}";
        struct sl_bus_msg msg = {.topic = TOPIC,
                                 .key = "2025-11-05",
                                 .data = body,
                                 .len = sizeof(body) - 1,
                                 .partition = -1,
                                 .offset = -1};
        struct sl_bus_opts o = {.backend = "mem", .group = "inspector"};
        struct sl_bus_msg got = {0};
        struct sl_bus_stats st;
        struct sl_bus *dlq;
        char err[128], v[256];

        snprintf(msg.id, sizeof(msg.id), "batch:7");
        SL_CHECK(sl_bus_dead_letter(bus, NULL, -EINVAL, 1, 0, "x") == -EINVAL);
        SL_CHECK(sl_bus_dead_letter(bus, &msg, -EINVAL, 2, INT64_C(1700000000000),
                                    "batch 7 failed: relation does not exist") == 0);
        sl_bus_get_stats(bus, &st);
        SL_CHECK(st.dead_lettered == 1);
        SL_CHECK(dlq_header(SL_DLQ_H_CLASS, v, sizeof(v)) == 0 && strcmp(v, "PERMANENT") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ATTEMPTS, v, sizeof(v)) == 0 && strcmp(v, "2") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 && strstr(v, "batch 7 failed"));
        SL_CHECK(dlq_header(SL_DLQ_H_FIRST, v, sizeof(v)) == 0 &&
                 strncmp(v, "2023-11-14", 10) == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_OFFSET, v, sizeof(v)) == 0 && strcmp(v, "batch:7") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_KEY, v, sizeof(v)) == 0 && strcmp(v, "2025-11-05") == 0);
        o.topics[0] = DLQ;
        dlq = sl_bus_open(&o, err, sizeof(err));
        SL_CHECK(dlq->ops->fetch(dlq, &got, 0) == 1);
        SL_CHECK(got.len == msg.len && memcmp(got.data, body, got.len) == 0);
        sl_bus_close(dlq);
        /* not ready for too long: TRANSIENT; a failed publish is reported, nothing counted */
        sl_bus_mem_reset();
        SL_CHECK(sl_bus_dead_letter(bus, &msg, SL_BUS_NOT_READY, 4, 0, "waited 6 h") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_CLASS, v, sizeof(v)) == 0 && strcmp(v, "TRANSIENT") == 0);
        sl_bus_mem_inject_publish_errors(1, -ECONNRESET);
        SL_CHECK(sl_bus_dead_letter(bus, &msg, -EINVAL, 1, 0, "x") == -ECONNRESET);
        sl_bus_get_stats(bus, &st);
        SL_CHECK(st.dead_lettered == 2);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static void test_caps_and_loops(void)
{
        struct sl_bus_opts o = {
            .backend = "mem", .service = "raw", .max_msg_bytes = 64, .max_deliveries = 2};
        struct script s = {0};
        struct sl_bus_msg msg = {0};
        struct sl_bus *bus;
        char err[128], v[256];

        o.topics[0] = TOPIC;
        bus = sl_bus_open(&o, err, sizeof(err));
        publish_env(bus, "raw.completed"); /* far over 64 bytes */
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 1 && s.calls == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 && strstr(v, "byte cap"));
        sl_bus_close(bus);
        sl_bus_mem_reset();

        /* A message that keeps coming back unacked (consumer crash loop) is dead-lettered. */
        o.max_msg_bytes = 0;
        bus = sl_bus_open(&o, err, sizeof(err));
        publish_env(bus, "raw.completed");
        for (int i = 0; i < 2; i++) {
                SL_CHECK(bus->ops->fetch(bus, &msg, 0) == 1);
                bus->ops->nack(bus, &msg); /* as if the consumer died */
        }
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 1 && s.calls == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_CLASS, v, sizeof(v)) == 0 && strcmp(v, "SYSTEM") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 && strstr(v, "delivered 3 times"));
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static void test_drain_interrupts_retry(void)
{
        struct sl_bus_opts o = {.backend = "mem", .service = "raw"};
        struct script s = {.fail_n = 1, .rc = -EAGAIN};
        volatile int stop = 1;
        struct sl_bus *bus;
        char err[128];

        o.topics[0] = TOPIC;
        o.stop = &stop; /* default 2 s delay: must end at once */
        bus = sl_bus_open(&o, err, sizeof(err));
        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == -EINTR);
        SL_CHECK(sl_bus_drain(bus, 100) == 0);
        SL_CHECK(sl_bus_poll(bus, handler, &s, 0) == 0); /* draining: nothing more */
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static void test_open_errors_and_topics(void)
{
        struct sl_bus_opts o = {.backend = "carrier-pigeon"};
        char err[256], t[64];

        SL_CHECK(sl_bus_open(&o, err, sizeof(err)) == NULL && strstr(err, "carrier-pigeon"));
        SL_CHECK(sl_bus_topic(t, sizeof(t), NULL, "nba", "raw") == 0 &&
                 strcmp(t, "statline.nba.raw.completed") == 0);
        SL_CHECK(sl_bus_topic(t, sizeof(t), "stage", "nhl", "analytics") == 0 &&
                 strcmp(t, "stage.nhl.analytics.completed") == 0);
        SL_CHECK(sl_bus_topic(t, 10, NULL, "nba", "raw") == -ENAMETOOLONG);
        SL_CHECK(sl_bus_dlq_topic(t, sizeof(t), "a.b") == 0 && strcmp(t, "a.b.dlq") == 0);
        sl_bus_close(NULL);
}

/* A park hook that records its calls; answers with `rc` (and a reason for -ETIME). */
struct parker {
        int park_calls, done_calls, rc;
        char reason[256];
        int dead_calls, dead_with_env; /* op DEAD: dead letters recorded, how many parsed */
        char dead_cls[16], dead_reason[256];
};

static int park_hook(void *opaque, enum sl_bus_defer_op op, const struct sl_bus_msg *msg,
                     const struct sl_envelope *env, const char *reason, char *why, size_t n)
{
        struct parker *p = opaque;

        (void)msg;
        if (op == SL_BUS_DEFER_DEAD) {
                p->dead_calls++;
                p->dead_with_env += env != NULL;
                snprintf(p->dead_cls, sizeof(p->dead_cls), "%s", why);
                snprintf(p->dead_reason, sizeof(p->dead_reason), "%s", reason);
                return 0;
        }
        if (op == SL_BUS_DEFER_DONE) {
                p->done_calls++;
                return 0;
        }
        p->park_calls++;
        snprintf(p->reason, sizeof(p->reason), "%s", reason);
        if (p->rc == -ETIME)
                snprintf(why, n, "dependency not ready after 7 s: %s", reason);
        return p->rc;
}

static int not_ready_handler(const struct sl_envelope *env, const struct sl_bus_msg *msg,
                             void *opaque)
{
        int *calls = opaque;

        (void)env;
        (void)msg;
        (*calls)++;
        sl_bus_set_error("critical dependency missing: raw.games");
        return SL_BUS_NOT_READY;
}

static struct sl_bus *open_parking_bus(struct parker *p)
{
        struct sl_bus_opts o = {.backend = "mem", .service = "analytics", .group = "an"};
        char err[256];

        o.topics[0] = TOPIC;
        o.retry.max_attempts = 3;
        o.retry.delays_ms[0] = 1;
        o.retry.n_delays = 1;
        o.retry.jitter_pct = -1;
        if (p) {
                o.defer = park_hook;
                o.defer_opaque = p;
        }
        return sl_bus_open(&o, err, sizeof(err));
}

/* Not ready: parked (one handler call, no retries), acked, nothing dead-lettered. */
static void test_not_ready_parked(void)
{
        struct parker p = {.rc = 0};
        struct sl_bus *bus = open_parking_bus(&p);
        struct sl_bus_stats st;
        char v[256];
        int calls = 0;

        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, not_ready_handler, &calls, 0) == 1);
        SL_CHECK(calls == 1 && p.park_calls == 1 && p.done_calls == 0);
        SL_CHECK(strcmp(p.reason, "critical dependency missing: raw.games") == 0);
        SL_CHECK(sl_bus_poll(bus, not_ready_handler, &calls, 0) == 0); /* acked */
        sl_bus_get_stats(bus, &st);
        SL_CHECK(st.parked == 1 && st.retries == 0 && st.dead_lettered == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) < 0);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

/* Waited too long (-ETIME): dead-lettered with the reason, then forgotten. */
static void test_not_ready_timeout(void)
{
        struct parker p = {.rc = -ETIME};
        struct sl_bus *bus = open_parking_bus(&p);
        char v[512];
        int calls = 0;

        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, not_ready_handler, &calls, 0) == 1);
        SL_CHECK(calls == 1 && p.park_calls == 1 && p.done_calls == 1);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 &&
                 strcmp(v, "dependency not ready after 7 s: critical dependency missing: "
                           "raw.games") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_CLASS, v, sizeof(v)) == 0 && strcmp(v, "TRANSIENT") == 0);
        /* and told to the owner (op DEAD), with the event and its class */
        SL_CHECK(p.dead_calls == 1 && p.dead_with_env == 1 && strcmp(p.dead_cls, "TRANSIENT") == 0);
        SL_CHECK(strstr(p.dead_reason, "dependency not ready after 7 s") != NULL);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static int badmsg_handler(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        (void)env;
        (void)msg;
        (void)opaque;
        sl_bus_set_error("box score without players");
        return -EBADMSG;
}

/* Every confirmed dead letter is told to the owner (op DEAD): with the event when it parsed. */
static void test_dead_letter_told(void)
{
        struct parker p = {.rc = 0};
        struct sl_bus *bus = open_parking_bus(&p);
        static const char junk[] = "{\"schema_version\": 1, trunc";

        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, badmsg_handler, NULL, 0) == 1);
        SL_CHECK(p.dead_calls == 1 && p.dead_with_env == 1 && strcmp(p.dead_cls, "PERMANENT") == 0);
        SL_CHECK(strstr(p.dead_reason, "box score without players") != NULL);
        SL_CHECK(sl_bus_publish_raw(bus, TOPIC, "k", junk, sizeof(junk) - 1, NULL, 0) == 0);
        SL_CHECK(sl_bus_poll(bus, badmsg_handler, NULL, 0) == 1);
        SL_CHECK(p.dead_calls == 2 && p.dead_with_env == 1); /* poison: no envelope */
        /* a failed dead-letter publish tells nothing */
        publish_env(bus, "raw.completed");
        sl_bus_mem_inject_publish_errors(1, -ECONNRESET);
        SL_CHECK(sl_bus_poll(bus, badmsg_handler, NULL, 0) == -ECONNRESET);
        SL_CHECK(p.dead_calls == 2 && p.park_calls == 0);
        /* a dead letter by hand (sl_bus_dead_letter) is told too, with its envelope */
        struct sl_envelope *env =
            sl_envelope_new("raw.completed", "raw", "nba", "2025-11-05", NULL);
        size_t len = 0;
        char *data = sl_envelope_serialize(env, &len);
        struct sl_bus_msg m = {
            .topic = TOPIC, .data = data, .len = len, .partition = -1, .offset = -1};
        SL_CHECK(sl_bus_dead_letter(bus, &m, -EINVAL, 2, 0, "analytics batch 3 failed") == 0);
        SL_CHECK(p.dead_calls == 3 && p.dead_with_env == 2 && strcmp(p.dead_cls, "PERMANENT") == 0);
        SL_CHECK(strcmp(p.dead_reason, "analytics batch 3 failed") == 0);
        free(data);
        sl_envelope_free(env);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

/* The hook cannot park (PostgreSQL down): the message waits, nothing is dead-lettered. */
static void test_not_ready_park_fails(void)
{
        struct parker p = {.rc = -ECONNREFUSED};
        struct sl_bus *bus = open_parking_bus(&p);
        char v[256];
        int calls = 0;

        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, not_ready_handler, &calls, 0) == -EBUSY);
        SL_CHECK(sl_bus_poll(bus, not_ready_handler, &calls, 0) == -EBUSY); /* delivered again */
        SL_CHECK(calls == 2 && p.park_calls == 2);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) < 0);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

/* No hook: an ordinary retriable error (3 attempts, then TRANSIENT in the DLQ). */
static void test_not_ready_without_hook(void)
{
        struct sl_bus *bus = open_parking_bus(NULL);
        char v[512];
        int calls = 0;

        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, not_ready_handler, &calls, 0) == 1);
        SL_CHECK(calls == 3);
        SL_CHECK(dlq_header(SL_DLQ_H_CLASS, v, sizeof(v)) == 0 && strcmp(v, "TRANSIENT") == 0);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0 && strstr(v, "raw.games") &&
                 strstr(v, "gave up after 3"));
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

/* sl_bus_dispatch: a message not from the backend; done = 0, parked again = NOT_READY. */
static void test_dispatch(void)
{
        struct parker p = {.rc = 0};
        struct sl_bus *bus = open_parking_bus(&p);
        struct sl_envelope *env =
            sl_envelope_new("raw.completed", "raw", "nba", "2025-11-05", NULL);
        struct sl_bus_msg msg = {.topic = TOPIC, .partition = -1, .offset = -1, .deliveries = 1};
        struct script s = {0};
        size_t len;
        char *data = sl_envelope_serialize(env, &len);
        int calls = 0;

        msg.data = data;
        msg.len = len;
        snprintf(msg.id, sizeof(msg.id), "parked:x");
        SL_CHECK(sl_bus_dispatch(bus, &msg, not_ready_handler, &calls) == SL_BUS_NOT_READY);
        SL_CHECK(calls == 1 && p.park_calls == 1);
        SL_CHECK(sl_bus_dispatch(bus, &msg, handler, &s) == 0 && s.n_seen == 1);
        free(data);
        sl_envelope_free(env);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

static int leaky_handler(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        (void)env;
        (void)msg;
        (void)opaque;
        sl_bus_set_error("connect postgresql://stat:Sup3rS3cret@db:5432/statline failed; "
                         "dsn host=db password=hunter22xyz user=stat; redis pw buspass-42; "
                         "sasl K4fkaSasl!x");
        return -EINVAL;
}

/*
 * dlq.error never carries a password (URI, key=value DSN, the bus's own, or
 * one registered with the log, such as a SASL password in bus.kafka_props).
 */
static void test_dlq_error_redacted(void)
{
        struct sl_bus_opts o = {
            .backend = "mem", .service = "raw", .group = "raw", .password = "buspass-42"};
        struct sl_bus *bus;
        char err[256], v[512];

        o.topics[0] = TOPIC;
        o.retry.max_attempts = 1;
        sl_log_add_secret("K4fkaSasl!x");
        bus = sl_bus_open(&o, err, sizeof(err));
        publish_env(bus, "raw.completed");
        SL_CHECK(sl_bus_poll(bus, leaky_handler, NULL, 0) == 1);
        SL_CHECK(dlq_header(SL_DLQ_H_ERROR, v, sizeof(v)) == 0);
        SL_CHECK(!strstr(v, "Sup3rS3cret") && !strstr(v, "hunter22xyz") &&
                 !strstr(v, "buspass-42") && !strstr(v, "K4fkaSasl!x"));
        SL_CHECK(strstr(v, "sasl ***") != NULL);
        sl_log_clear_secrets();
        SL_CHECK(strstr(v, "postgresql://stat:***@db:5432/statline") != NULL);
        SL_CHECK(strstr(v, "password=*** user=stat") != NULL);
        sl_bus_close(bus);
        sl_bus_mem_reset();
}

int main(void)
{
        sl_log_init("test", SL_LOG_ERROR);
        test_ok_and_order();
        test_transient_then_ok();
        test_exhausted_retries();
        test_poison();
        test_wrong_sport();
        test_handler_badmsg_and_dup();
        test_busy_waits();
        test_dlq_publish_fails();
        test_dead_letter_by_hand();
        test_caps_and_loops();
        test_drain_interrupts_retry();
        test_open_errors_and_topics();
        test_not_ready_parked();
        test_not_ready_timeout();
        test_dead_letter_told();
        test_not_ready_park_fails();
        test_not_ready_without_hook();
        test_dispatch();
        test_dlq_error_redacted();
        return SL_DONE();
}
