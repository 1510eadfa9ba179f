/*
 * The "kafka" bus backend against librdkafka's in-process mock cluster (two
 * brokers on loopback, no real Kafka): configuration errors, a publish /
 * fetch / ack round trip with keys and headers, nack redelivery, sl_bus_poll
 * with an envelope, committed offsets surviving a reopen, publishes while
 * the leader is down (flush must not claim success), and the publish
 * barrier (an ack is not committed while an output it follows is unconfirmed).
 * Takes about 15 s, mostly the mock coordinator's group-join delay.
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
#include <sl/log.h>
#include <sl/util.h>

#include "sl_test.h"

#define N_MSGS 200
/* The mock group coordinator waits out old members' sessions on a rejoin: keep them short. */
#define CONSUMER_PROPS "session.timeout.ms=3000,heartbeat.interval.ms=500"

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
        } topics[] = {{"rt", 1}, {"in", 1}, {"out", 2}, {"down", 2}};

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
        opts.kafka_props = props ? props : topic ? CONSUMER_PROPS : NULL;
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
        int good = 0, rc = 1;

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
                        SL_CHECK(bus->ops->nack(bus, &msg) == 0);
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
        rd_kafka_mock_cluster_destroy(mock);
        rd_kafka_destroy(mock_rk);
        return SL_DONE();
}
