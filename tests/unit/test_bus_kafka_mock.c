/*
 * The "kafka" bus backend against librdkafka's in-process mock cluster (two
 * brokers on loopback, no real Kafka): configuration errors, a publish /
 * fetch / ack round trip with keys and headers, nack redelivery, sl_bus_poll
 * with an envelope, committed offsets surviving a reopen, publishes while
 * the leader is down (flush must not claim success), and the publish
 * barrier (an ack is not committed while an output it follows is unconfirmed),
 * and dead letters (the poison's offset is committed at once, and a poison
 * fetched again is skipped, not dead-lettered twice).
 * Takes about 50 s: the mock coordinator's group-join delays and a 10 s dead-letter flush timeout.
 *
 * Broker 1 is the group coordinator and leads the input topics; broker 2
 * leads the "out"/"down" topics, so it can be taken down while consuming
 * and committing keep working.
 */

#include "sl_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "bus_int.h"
#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/util.h>

#include "sl_test.h"

#define N_MSGS 200
/*
 * The mock group coordinator waits out old members' sessions on a rejoin: keep them short.
 * Not too short under valgrind: a heartbeat thread starved past the session timeout gets the
 * consumer thrown out of its group, the partition is revoked, and a nack's seek then fails
 * (seen once in CI: "nack(bus, &msg) == 0" failed 30 s into a valgrind run).
 */
static const char *consumer_props(void)
{
        return getenv("SL_UNDER_VALGRIND") ? "session.timeout.ms=15000,heartbeat.interval.ms=1000"
                                           : "session.timeout.ms=3000,heartbeat.interval.ms=500";
}

static rd_kafka_t *mock_rk;           /* owns the mock cluster */
static rd_kafka_mock_cluster_t *mock; /* two brokers, ids 1 and 2 */
static char bootstrap[256];

/* Starts the mock cluster and creates the topics (1 partition each). */
static int mock_start(void)
{
        char errstr[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const struct {
                const char *name;
                int32_t leader;
        } topics[] = {{"rt", 1}, {"in", 1},     {"out", 2}, {"down", 2},
                      {"dl", 1}, {"dl.dlq", 1}, {"dl2", 1}, {"dl2.dlq", 2}};

        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!mock_rk)
                return -1;
        mock = rd_kafka_mock_cluster_new(mock_rk, 2);
        if (!mock)
                return -1;
        snprintf(bootstrap, sizeof(bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(mock));
        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
                rd_kafka_mock_topic_create(mock, topics[i].name, 1, 1);
                rd_kafka_mock_partition_set_leader(mock, topics[i].name, 0, topics[i].leader);
        }
        return 0;
}

/* Opens a kafka bus on the mock; topic NULL means publish-only. */
static struct sl_bus *open_bus(const char *topic, const char *group, const char *props,
                               char *errstr, size_t errstr_size)
{
        struct sl_bus_opts opts = {0};

        opts.backend = "kafka";
        opts.url = bootstrap;
        opts.service = "test";
        opts.group = group;
        opts.topics[0] = topic;
        opts.from_beginning = true;
        opts.kafka_props = props ? props : topic ? consumer_props() : NULL;
        if (group)
                rd_kafka_mock_coordinator_set(mock, "group", group, 1);
        return sl_bus_open(&opts, errstr, errstr_size);
}

/*
 * Waits are bounds, not measurements: under valgrind (meson's valgrind setup
 * sets SL_UNDER_VALGRIND) on a loaded 2-core machine the mock cluster's group
 * join alone can take tens of seconds, so every bound is five times longer.
 */
static int64_t bound_ms(int64_t ms)
{
        return getenv("SL_UNDER_VALGRIND") ? 5 * ms : ms;
}

/* Fetches until a message comes or timeout_ms (scaled by bound_ms()) passes. Returns fetch()'s
 * value. */
static int fetch_one(struct sl_bus *bus, struct sl_bus_msg *msg, int64_t timeout_ms)
{
        int64_t deadline = sl_mono_ms() + bound_ms(timeout_ms);
        int rc;

        do {
                memset(msg, 0, sizeof(*msg));
                rc = bus->ops->fetch(bus, msg, 200);
        } while (rc == 0 && sl_mono_ms() < deadline);
        return rc;
}

static const char *header(const struct sl_bus_msg *msg, const char *name)
{
        for (int i = 0; i < msg->n_headers; i++)
                if (strcmp(msg->headers[i].name, name) == 0)
                        return msg->headers[i].value;
        return NULL;
}

static void test_config_errors(void)
{
        char errstr[256] = "";
        struct sl_bus *bus;

        bus = open_bus(NULL, NULL, "no.such.property=1", errstr, sizeof(errstr));
        SL_CHECKF(!bus && strstr(errstr, "no.such.property"), "errstr: %s", errstr);
        bus = open_bus(NULL, NULL, "linger.ms", errstr, sizeof(errstr));
        SL_CHECKF(!bus && strstr(errstr, "'='"), "errstr: %s", errstr);
        bus = open_bus(NULL, NULL, "socket.timeout.ms=soon", errstr, sizeof(errstr));
        SL_CHECKF(!bus && strstr(errstr, "socket.timeout.ms"), "errstr: %s", errstr);
        /* a secret's value never reaches errstr */
        bus = open_bus(NULL, NULL, "sasl.password=hunter2secret,ssl.key.password=x,acks=-7", errstr,
                       sizeof(errstr));
        SL_CHECKF(!bus && !strstr(errstr, "hunter2secret"), "errstr: %s", errstr);
        /* a comma inside a value ("debug=a,b") continues the value */
        bus = open_bus("rt", "g-cfg", " debug=broker,topic , log_level=0", errstr, sizeof(errstr));
        SL_CHECKF(bus != NULL, "errstr: %s", errstr);
        SL_CHECK(bus && strcmp(sl_bus_backend(bus), "kafka") == 0);
        sl_bus_close(bus);
}

/* Publishes N_MSGS records with keys and headers to "rt"; checks confirmations. */
static void test_publish(void)
{
        char errstr[256] = "", key[16], val[32];
        struct sl_bus_header hdrs[2] = {{"h.one", "1"}, {"h.seq", val}};
        struct sl_bus_stats st;
        struct sl_bus *bus = open_bus(NULL, NULL, NULL, errstr, sizeof(errstr));
        int bad = 0;

        SL_CHECKF(bus != NULL, "errstr: %s", errstr);
        if (!bus)
                return;
        for (int i = 0; i < N_MSGS; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                snprintf(val, sizeof(val), "m%d", i);
                bad += sl_bus_publish_raw(bus, "rt", key, val, strlen(val), hdrs, 2) != 0;
        }
        SL_CHECK(bad == 0);
        SL_CHECK(sl_bus_flush(bus, 10000) == 0);
        sl_bus_get_stats(bus, &st);
        SL_CHECKF(st.published == N_MSGS && st.confirmed == N_MSGS, "published=%llu confirmed=%llu",
                  (unsigned long long)st.published, (unsigned long long)st.confirmed);
        sl_bus_close(bus);
}

/* Checks one fetched message against what test_publish() sent as number i. */
static bool msg_ok(const struct sl_bus_msg *msg, int i)
{
        char want[32], key[32], id[32];
        const char *one = header(msg, "h.one"), *seq = header(msg, "h.seq");

        snprintf(want, sizeof(want), "m%d", i);
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(id, sizeof(id), "0:%d", i);
        return strcmp(msg->topic, "rt") == 0 && strcmp(msg->data, want) == 0 &&
               msg->len == strlen(want) && msg->key && strcmp(msg->key, key) == 0 &&
               strcmp(msg->id, id) == 0 && msg->partition == 0 && msg->offset == i &&
               msg->deliveries == 1 && msg->n_headers == 2 && one && strcmp(one, "1") == 0 && seq &&
               strcmp(seq, want) == 0;
}

/* Consumes what test_publish() sent, in order, acking each; one nack. */
static void test_consume(void)
{
        char errstr[256] = "";
        struct sl_bus_msg msg, other;
        struct sl_bus *bus = open_bus("rt", "g-rt", NULL, errstr, sizeof(errstr));
        int good = 0, rc = 1, nrc;

        SL_CHECKF(bus != NULL, "errstr: %s", errstr);
        if (!bus)
                return;
        for (int i = 0; i < N_MSGS && rc == 1; i++) {
                rc = fetch_one(bus, &msg, 20000);
                if (rc != 1)
                        break;
                if (i == 0)
                        SL_CHECK(bus->ops->fetch(bus, &other, 0) == -EBUSY); /* not released */
                if (i == 5) {
                        /* nack: the same offset comes again */
                        nrc = bus->ops->nack(bus, &msg);
                        SL_CHECKF(nrc == 0, "nack: %s", sl_strerror(nrc));
                        bus->ops->release(bus, &msg);
                        rc = fetch_one(bus, &msg, 10000);
                        SL_CHECKF(rc == 1 && msg.offset == 5, "rc=%d offset=%lld", rc,
                                  (long long)msg.offset);
                }
                good += msg_ok(&msg, i);
                if (sl_bus_ack(bus, &msg) != 0)
                        good--;
                bus->ops->release(bus, &msg);
        }
        SL_CHECKF(good == N_MSGS, "good=%d rc=%d", good, rc);
        SL_CHECK(sl_bus_drain(bus, 10000) == 0);
        SL_CHECK(bus->ops->fetch(bus, &msg, 0) == 0); /* drained: nothing more */
        sl_bus_close(bus);
}

static int seen_type_ok;

static int on_event(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        (void)opaque;
        seen_type_ok = strcmp(env->type, "raw.completed") == 0 && msg->offset == N_MSGS;
        return 0;
}

/*
 * A reopened consumer in the same group resumes after the committed offsets
 * (nothing of test_consume() again) and sl_bus_poll() runs a handler.
 */
static void test_resume_and_poll(void)
{
        char errstr[256] = "";
        struct sl_envelope *env =
            sl_envelope_new("raw.completed", "raw", "nba", "2024-01-15", NULL);
        struct sl_bus *pub = open_bus(NULL, NULL, NULL, errstr, sizeof(errstr));
        struct sl_bus *bus = open_bus("rt", "g-rt", NULL, errstr, sizeof(errstr));
        int rc = 0;

        SL_CHECK(env && pub && bus);
        if (!env || !pub || !bus)
                goto out;
        SL_CHECK(sl_bus_publish(pub, "rt", env) == 0);
        SL_CHECK(sl_bus_flush(pub, 10000) == 0);
        for (int64_t end = sl_mono_ms() + bound_ms(20000); rc == 0 && sl_mono_ms() < end;)
                rc = sl_bus_poll(bus, on_event, NULL, 200);
        SL_CHECKF(rc == 1 && seen_type_ok, "rc=%d seen=%d (offset %d expected)", rc, seen_type_ok,
                  N_MSGS);
        SL_CHECK(sl_bus_drain(bus, 10000) == 0);
out:
        sl_bus_close(bus);
        sl_bus_close(pub);
        sl_envelope_free(env);
}

/* While the leader is down, flush must not report success; later it must. */
static void test_leader_down(void)
{
        char errstr[256] = "";
        struct sl_bus *bus = open_bus(NULL, NULL, NULL, errstr, sizeof(errstr));
        struct sl_bus *shortbus =
            open_bus(NULL, NULL, "message.timeout.ms=1500", errstr, sizeof(errstr));
        struct sl_bus_stats st;
        int rc;

        SL_CHECK(bus && shortbus);
        if (!bus || !shortbus)
                goto out;
        SL_CHECK(sl_bus_publish_raw(bus, "down", "k", "warmup", 6, NULL, 0) == 0);
        SL_CHECK(sl_bus_flush(bus, 10000) == 0);
        rd_kafka_mock_broker_set_down(mock, 2);
        SL_CHECK(sl_bus_publish_raw(bus, "down", "k", "kept", 4, NULL, 0) == 0);
        SL_CHECK(sl_bus_publish_raw(shortbus, "down", "k", "expires", 7, NULL, 0) == 0);
        rc = sl_bus_flush(bus, 1000);
        SL_CHECKF(rc == -ETIMEDOUT, "flush while down: %d", rc);
        /* shortbus's record expires (message.timeout.ms): reported once, then gone */
        rc = sl_bus_flush(shortbus, 8000);
        SL_CHECKF(rc == -ETIMEDOUT, "flush of expired record: %d", rc);
        SL_CHECK(sl_bus_flush(shortbus, 100) == 0);
        rd_kafka_mock_broker_set_up(mock, 2);
        rc = sl_bus_flush(bus, 20000);
        SL_CHECKF(rc == 0, "flush after leader back: %d", rc);
        sl_bus_get_stats(bus, &st);
        SL_CHECKF(st.confirmed == 2, "confirmed=%llu", (unsigned long long)st.confirmed);
out:
        sl_bus_close(shortbus);
        sl_bus_close(bus);
}

/*
 * Consumes the next "in" message of group g, publishes an output to "out"
 * (leader broker 2, down when out_down), acks the input, drains. Returns the
 * input's offset, or -1.
 */
static int64_t handle_one(const char *group, bool out_down)
{
        char errstr[256] = "";
        struct sl_bus *bus = open_bus("in", group, NULL, errstr, sizeof(errstr));
        struct sl_bus_msg msg;
        int64_t offset = -1;
        int rc;

        if (!bus)
                return -1;
        if (fetch_one(bus, &msg, 20000) == 1) {
                offset = msg.offset;
                if (out_down)
                        rd_kafka_mock_broker_set_down(mock, 2);
                sl_bus_publish_raw(bus, "out", NULL, "output", 6, NULL, 0);
                sl_bus_ack(bus, &msg);
                bus->ops->release(bus, &msg);
        }
        rc = sl_bus_drain(bus, out_down ? 1500 : 10000);
        SL_CHECKF(out_down ? rc == -ETIMEDOUT : rc == 0, "drain: %d", rc);
        sl_bus_close(bus);
        rd_kafka_mock_broker_set_up(mock, 2);
        return offset;
}

/* An ack waits for outputs published before it (at-least-once across services). */
static void test_publish_barrier(void)
{
        char errstr[256] = "";
        struct sl_bus *pub = open_bus(NULL, NULL, NULL, errstr, sizeof(errstr));
        int64_t first, again;

        SL_CHECK(pub != NULL);
        if (!pub)
                return;
        SL_CHECK(sl_bus_publish_raw(pub, "in", NULL, "in0", 3, NULL, 0) == 0);
        SL_CHECK(sl_bus_flush(pub, 10000) == 0);
        sl_bus_close(pub);
        first = handle_one("g-in", true);  /* output stuck: the ack must not be committed */
        again = handle_one("g-in", false); /* so the input comes again */
        SL_CHECKF(first == 0 && again == 0, "offsets %lld %lld", (long long)first,
                  (long long)again);
}

static int never_called(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        (void)env;
        (void)msg;
        (void)opaque;
        return 0;
}

/* The committed offset of group g on topic/0 as the coordinator answers it (-1001: none). */
static int64_t committed(const char *group, const char *topic)
{
        char errstr[256], props[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_t *rk;
        int64_t off = -2;

        snprintf(props, sizeof(props), "%s", bootstrap);
        rd_kafka_conf_set(conf, "bootstrap.servers", props, NULL, 0);
        rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!rk)
                return -2;
        parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, topic, 0);
        if (rd_kafka_committed(rk, parts, (int)bound_ms(10000)) == RD_KAFKA_RESP_ERR_NO_ERROR)
                off = parts->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return off;
}

/*
 * A dead letter's input offset is committed before sl_bus_poll() returns
 * (not at the next auto-commit: a kill then would deliver the poison again),
 * and a dead-lettered offset fetched again (seek back, as after a lost
 * commit and a rebalance) is acked and skipped: one dead letter, not two.
 */
static void test_dead_letter_once(void)
{
        char errstr[256] = "";
        struct sl_bus *pub = open_bus(NULL, NULL, NULL, errstr, sizeof(errstr));
        struct sl_bus *bus = open_bus("dl", "g-dl", NULL, errstr, sizeof(errstr));
        struct sl_bus *dlq = NULL;
        struct sl_bus_msg msg;
        struct sl_bus_stats st;
        int rc = 0, n_dlq = 0;

        SL_CHECK(pub && bus);
        if (!pub || !bus)
                goto out;
        SL_CHECK(sl_bus_publish_raw(pub, "dl", "k", "{poison", 7, NULL, 0) == 0);
        SL_CHECK(sl_bus_publish_raw(pub, "dl", "k", "{poison2", 8, NULL, 0) == 0);
        SL_CHECK(sl_bus_flush(pub, 10000) == 0);
        for (int64_t end = sl_mono_ms() + bound_ms(20000); rc == 0 && sl_mono_ms() < end;)
                rc = sl_bus_poll(bus, never_called, NULL, 200);
        SL_CHECKF(rc == 1, "poll: %d", rc);
        /* at once: auto-commit (1 s) has not run yet */
        SL_CHECKF(committed("g-dl", "dl") == 1, "committed offset %lld right after the dead letter",
                  (long long)committed("g-dl", "dl"));
        /* the poison comes again (seek back): skipped, the next one is dead-lettered */
        memset(&msg, 0, sizeof(msg));
        msg.topic = "dl";
        msg.partition = 0;
        msg.offset = 0;
        rc = bus->ops->nack(bus, &msg);
        SL_CHECKF(rc == 0, "nack: %s", sl_strerror(rc));
        rc = 0;
        for (int64_t end = sl_mono_ms() + bound_ms(20000); rc == 0 && sl_mono_ms() < end;)
                rc = sl_bus_poll(bus, never_called, NULL, 200);
        SL_CHECKF(rc == 1, "poll: %d", rc);
        sl_bus_get_stats(bus, &st);
        SL_CHECKF(st.dead_lettered == 2, "dead_lettered=%llu (2 poison messages)",
                  (unsigned long long)st.dead_lettered);
        SL_CHECKF(committed("g-dl", "dl") == 2, "committed offset %lld",
                  (long long)committed("g-dl", "dl"));
        /* the DLQ holds each poison message once */
        dlq = open_bus("dl.dlq", "g-dlq", NULL, errstr, sizeof(errstr));
        SL_CHECK(dlq != NULL);
        while (dlq && fetch_one(dlq, &msg, n_dlq == 0 ? 20000 : 3000) == 1) {
                n_dlq++;
                dlq->ops->release(dlq, &msg);
        }
        SL_CHECKF(n_dlq == 2, "dead letters in dl.dlq: %d", n_dlq);
out:
        sl_bus_close(dlq);
        sl_bus_close(bus);
        sl_bus_close(pub);
}

/*
 * The DLQ's leader is down: the dead letter's flush times out and the input
 * stays unacked (bus.c nacks it). It comes again while the first dead
 * letter still waits in librdkafka's queue: no second record is produced,
 * and once the leader is back the one record is confirmed and the input
 * acked. The DLQ holds it once.
 */
static void test_dead_letter_in_flight(void)
{
        char errstr[256] = "";
        struct sl_bus *pub = open_bus(NULL, NULL, NULL, errstr, sizeof(errstr));
        struct sl_bus *bus = open_bus("dl2", "g-dl2", NULL, errstr, sizeof(errstr));
        struct sl_bus *dlq = NULL;
        struct sl_bus_msg msg;
        struct sl_bus_stats st;
        int rc = 0, n_dlq = 0;

        SL_CHECK(pub && bus);
        if (!pub || !bus)
                goto out;
        SL_CHECK(sl_bus_publish_raw(pub, "dl2", "k", "{poison", 7, NULL, 0) == 0);
        SL_CHECK(sl_bus_flush(pub, 10000) == 0);
        rd_kafka_mock_broker_set_down(mock, 2);
        for (int64_t end = sl_mono_ms() + bound_ms(30000); rc == 0 && sl_mono_ms() < end;)
                rc = sl_bus_poll(bus, never_called, NULL, 200);
        SL_CHECKF(rc < 0, "poll with the DLQ leader down: %d (dead letter not confirmed)", rc);
        rd_kafka_mock_broker_set_up(mock, 2);
        rc = 0;
        for (int64_t end = sl_mono_ms() + bound_ms(30000); rc <= 0 && sl_mono_ms() < end;)
                rc = sl_bus_poll(bus, never_called, NULL, 200);
        SL_CHECKF(rc == 1, "poll with the leader back: %d", rc);
        sl_bus_get_stats(bus, &st);
        SL_CHECKF(st.dead_lettered == 1, "dead_lettered=%llu",
                  (unsigned long long)st.dead_lettered);
        SL_CHECKF(committed("g-dl2", "dl2") == 1, "committed offset %lld",
                  (long long)committed("g-dl2", "dl2"));
        dlq = open_bus("dl2.dlq", "g-dlq2", NULL, errstr, sizeof(errstr));
        SL_CHECK(dlq != NULL);
        while (dlq && fetch_one(dlq, &msg, n_dlq == 0 ? 20000 : 3000) == 1) {
                n_dlq++;
                dlq->ops->release(dlq, &msg);
        }
        SL_CHECKF(n_dlq == 1, "dead letters in dl2.dlq: %d", n_dlq);
out:
        sl_bus_close(dlq);
        sl_bus_close(bus);
        sl_bus_close(pub);
}

int main(void)
{
        sl_log_init("test_bus_kafka_mock", SL_LOG_ERROR);
        if (mock_start() < 0) {
                printf("not ok 1 - mock cluster\n1..1\n");
                return 1;
        }
        test_config_errors();
        test_publish();
        test_consume();
        test_resume_and_poll();
        test_leader_down();
        test_publish_barrier();
        test_dead_letter_once();
        test_dead_letter_in_flight();
        rd_kafka_mock_cluster_destroy(mock);
        rd_kafka_destroy(mock_rk);
        return SL_DONE();
}
