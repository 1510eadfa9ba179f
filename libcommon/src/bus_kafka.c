/*
 * The "kafka" bus backend: librdkafka (2.0.x) under the sl_bus_ops contract
 * of bus_int.h. bus.c does envelopes, retries and dead-lettering; this file
 * only moves bytes.
 *
 * Producer: one idempotent producer (acks=all, small linger). publish() hands
 * a copy to librdkafka, which retries through broker restarts until
 * message.timeout.ms; a record it finally gives up on makes the next flush()
 * fail. Delivery reports are served on the caller's thread (publish, flush,
 * fetch), so the stats are updated without locks.
 *
 * Consumer (only when topics are configured): a KafkaConsumer in group
 * opts.group with enable.auto.offset.store=false and auto-commit of *stored*
 * offsets. ack() stores offset+1, but only once every record published before
 * it is confirmed (a "publish barrier"): an acked input is never committed
 * while the outputs its handler published could still be lost. If one of
 * those outputs turns out undeliverable, the partitions are rewound to the
 * first acked-but-unstored offset, so the inputs are handled again
 * (at-least-once; handlers are idempotent).
 *
 * Dead letters: bus.c confirms a dead letter's publish before it acks the
 * original. That ack (recognised by stats.dead_lettered having advanced) is
 * stored and committed synchronously (waiting at most KAFKA_DLQ_COMMIT_MS;
 * after a failed one, for KAFKA_DLQ_COMMIT_PAUSE only the auto-commit
 * runs), not left to the next auto-commit, so a kill or a rebalance right after it does not deliver
 * the poison again. Every input whose dead letter the broker confirmed is
 * also remembered (a ring of KAFKA_DLQ_RING; publish() recognises a dead
 * letter by its dlq.original_* headers, the delivery report adds it), so
 * one fetched again anyway is acked and skipped, never dead-lettered twice:
 * the commit failed (broker restart, rebalance) and the partition came back
 * to this process, or the dead letter's flush timed out during a broker
 * outage (bus.c then nacks the input) but librdkafka delivered the record
 * later. Left open: a SIGKILL in the milliseconds between the dead letter's
 * confirmation and the commit's answer (the ring dies with the process).
 *
 * Threads: one caller thread per bus (bus.h). librdkafka's own threads only
 * call log_cb, which goes to the thread-safe sl_log_emit().
 */

#include "sl_config.h"

#include "bus_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include <sl/err.h>
#include <sl/log.h>
#include <sl/util.h>

#define KAFKA_DEFAULT_BOOTSTRAP "127.0.0.1:9092"
#define KAFKA_LINGER_MS         "5"
#define KAFKA_MIN_MSG_TIMEOUT   30000 /* ms: publishes survive a 30 s broker outage */
#define KAFKA_SEEK_TIMEOUT_MS   15000 /* a loaded host under valgrind needed > 5 s */
#define KAFKA_BARRIER_FLUSH_MS  1000  /* force a flush when acks waited this long */
#define KAFKA_ARENA_KEEP        (64 * 1024)
#define KAFKA_CLOSE_MAX_MS      10000 /* close(): time to leave the group */
#define KAFKA_DLQ_COMMIT_MS     5000  /* wait for the commit after a dead letter */
#define KAFKA_DLQ_RING          4096  /* dead-lettered offsets remembered */
#define KAFKA_DLQ_PENDING       256   /* dead letters awaiting their delivery report */
#define KAFKA_DLQ_COMMIT_PAUSE  10000 /* ms without synchronous commits after one failed */

/* One dead-lettered input: skipped if fetched again. */
struct kafka_dead {
        uint64_t topic_hash; /* sl_kafka_topic_hash() of the topic, 0 = empty slot */
        int32_t partition;
        int64_t offset;
};

/* An ack waiting for the publish barrier: offsets [first, next) of one partition. */
struct kafka_deferred {
        char *topic; /* owned */
        int32_t partition;
        int64_t first; /* lowest acked offset not yet stored (rewind target) */
        int64_t next;  /* offset to store: last acked + 1 */
};

struct kafka {
        struct sl_bus *bus;       /* back pointer, for stats and opts */
        rd_kafka_t *producer;     /* always present */
        rd_kafka_t *consumer;     /* NULL when the bus is publish-only */
        rd_kafka_queue_t *closeq; /* consumer close/commit results, drain only */
        bool close_started;       /* rd_kafka_consumer_close_queue() was called */
        bool consumer_closed;     /* ...and finished */
        bool closing;             /* close(): purged records are not errors */

        uint64_t inflight;      /* records accepted, delivery report not yet seen */
        int first_err;          /* -errno of first undeliverable record, 0 = none */
        char first_errstr[160]; /* why, for the log at flush() */
        uint64_t failed;        /* undeliverable records since last flush() */
        bool fatal;             /* producer raised a fatal error: publish refuses */
        bool broker_down;       /* between ALL_BROKERS_DOWN and the next delivery */

        struct kafka_deferred *deferred; /* acks waiting for the barrier; owned */
        int n_deferred, cap_deferred;
        int64_t deferred_since_ms; /* monotonic time of the oldest deferred ack */
        bool rewind;               /* a barrier record failed: seek deferred back */

        uint64_t dl_seen;                          /* stats.dead_lettered at the last ack */
        rd_kafka_queue_t *commitq;                 /* results of the dead-letter commits */
        struct kafka_dead dead[KAFKA_DLQ_RING];    /* ring of dead-lettered offsets */
        int dead_next;                             /* next slot to overwrite */
        struct kafka_dead pend[KAFKA_DLQ_PENDING]; /* dead letters in flight (opaque = slot+1) */
        int64_t dlq_commit_after; /* monotonic ms: no synchronous commit before (one failed) */
        uint64_t dlq_commits;     /* synchronous commits after a dead letter */
        uint64_t dlq_skipped;     /* dead-lettered offsets fetched again */

        char *arena; /* fetch(): data, key, header values; owned */
        size_t arena_cap;
        rd_kafka_message_t *held; /* the fetched message until release() */
};

/*
 * Maps a librdkafka error to a negative errno (0 for NO_ERROR), so callers
 * can use sl_err_retriable(): timeouts and lost connections are retriable,
 * auth and size errors are not, anything unknown is -EIO.
 */
static int err_to_errno(rd_kafka_resp_err_t err)
{
        switch (err) {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
                return 0;
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
                return -ETIMEDOUT;
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
                return -ENOBUFS;
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
                return -EMSGSIZE;
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
                return -ECONNREFUSED;
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
                return -ENOENT;
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
                return -EACCES;
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
                return -EINVAL;
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
        case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
                return -ECANCELED;
        case RD_KAFKA_RESP_ERR__STATE:
                return -ESTALE;
        default:
                return -EIO;
        }
}

/* --- logging --------------------------------------------------------------- */

/* librdkafka log lines (syslog levels; any thread) into the JSON log. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        enum sl_log_level lvl = SL_LOG_DEBUG;

        if (level <= 2)
                lvl = SL_LOG_ERROR;
        else if (level <= 4)
                lvl = SL_LOG_WARN;
        else if (level <= 6)
                lvl = SL_LOG_INFO;
        sl_log_emit(lvl, __FILE__, __LINE__, "bus.kafka.log", "%s %s: %s", rd_kafka_name(rk), fac,
                    buf);
}

/*
 * Client-level errors (served by poll on the caller's thread). Connection
 * errors are retried by librdkafka and were already logged by on_log.
 */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        struct kafka *k = opaque;
        char fatal[256];

        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                err = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
                sl_log_error("bus.kafka.fatal", "%s: %s: %s", rd_kafka_name(rk),
                             rd_kafka_err2name(err), fatal);
                if (rk == k->producer)
                        k->fatal = true;
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && rk == k->producer && !k->broker_down) {
                /* An upper bound: records in flight now are sent again after reconnect. */
                k->broker_down = true;
                k->bus->stats.reconnects++;
                k->bus->stats.publish_retries += k->inflight;
                sl_log_warn("bus.kafka.down", "all brokers down, %" PRIu64 " records in flight",
                            k->inflight);
                return;
        }
        sl_log_debug("bus.kafka.error", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err),
                     reason);
}

/* --- configuration --------------------------------------------------------- */

/* True for property names whose values must never reach a log or errstr. */
static bool prop_secret(const char *name)
{
        return strstr(name, "password") || strstr(name, "secret") || strstr(name, "jaas") ||
               strstr(name, "oauthbearer.config") || strstr(name, ".pem");
}

/* Sets one property; on failure writes a reason (value redacted if secret). */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                    size_t errstr_size)
{
        char rderr[256];

        if (prop_secret(name))
                sl_log_add_secret(value); /* librdkafka's debug=conf dumps would show it */
        if (rd_kafka_conf_set(conf, name, value, rderr, sizeof(rderr)) == RD_KAFKA_CONF_OK)
                return 0;
        if (prop_secret(name))
                snprintf(errstr, errstr_size, "kafka: invalid value for property \"%s\"", name);
        else
                snprintf(errstr, errstr_size, "kafka: %s", rderr);
        return -EINVAL;
}

/* Trims spaces in place: returns the first non-space, cuts trailing ones. */
static char *trim(char *s)
{
        char *end;

        while (*s == ' ' || *s == '\t')
                s++;
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
                *--end = '\0';
        return s;
}

/*
 * Returns the comma that ends the value starting at value, or NULL if it
 * runs to the end: a comma ends it only if the next piece has an '='.
 */
static char *value_end(char *value)
{
        char *comma = strchr(value, ','), *next, *eq;

        while (comma) {
                next = strchr(comma + 1, ',');
                eq = strchr(comma + 1, '=');
                if (eq && (!next || eq < next))
                        return comma;
                comma = next;
        }
        return NULL;
}

/*
 * Applies "k=v,k=v" properties (opts.kafka_props). A comma-separated piece
 * without '=' continues the previous value, so "debug=broker,topic" works.
 */
static int apply_props(rd_kafka_conf_t *conf, const char *props, char *errstr, size_t errstr_size)
{
        char *copy = sl_xstrdup(props);
        char *p = copy, *eq, *end;
        int rc = 0;

        while (rc == 0 && *trim(p)) {
                eq = strchr(p, '=');
                if (!eq) {
                        snprintf(errstr, errstr_size, "kafka: kafka_props: \"%s\" has no '='",
                                 trim(p));
                        rc = -EINVAL;
                        break;
                }
                *eq = '\0';
                end = value_end(eq + 1);
                if (end)
                        *end = '\0';
                rc = conf_set(conf, trim(p), trim(eq + 1), errstr, errstr_size);
                p = end ? end + 1 : eq + 1 + strlen(eq + 1);
        }
        free(copy);
        return rc;
}

/* Sets n name/value pairs; stops at the first failure. */
static int conf_set_all(rd_kafka_conf_t *conf, const char *const kv[][2], size_t n, char *errstr,
                        size_t errstr_size)
{
        int rc = 0;

        for (size_t i = 0; i < n && rc == 0; i++)
                rc = conf_set(conf, kv[i][0], kv[i][1], errstr, errstr_size);
        return rc;
}

/* Settings shared by the producer and the consumer, SASL included. */
static int conf_common(struct kafka *k, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
        const struct sl_bus_opts *o = &k->bus->opts;
        char connect_ms[24];
        int rc;

        snprintf(connect_ms, sizeof(connect_ms), "%" PRId64,
                 o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000);
        const char *const kv[][2] = {
            {"bootstrap.servers", o->url ? o->url : KAFKA_DEFAULT_BOOTSTRAP},
            {"client.id", o->service ? o->service : "statline"},
            {"socket.connection.setup.timeout.ms", connect_ms},
            /* come back quickly after a broker restart (default backs off to 10 s) */
            {"reconnect.backoff.max.ms", "1000"},
            {"log.connection.close", "false"},
        };
        rd_kafka_conf_set_opaque(conf, k);
        rd_kafka_conf_set_log_cb(conf, on_log);
        rd_kafka_conf_set_error_cb(conf, on_error);
        rc = conf_set_all(conf, kv, sizeof(kv) / sizeof(kv[0]), errstr, errstr_size);
        if (rc < 0 || !o->username)
                return rc;
        const char *const sasl[][2] = {
            {"security.protocol", "SASL_PLAINTEXT"}, /* kafka_props may say SASL_SSL */
            {"sasl.mechanisms", "PLAIN"},
            {"sasl.username", o->username},
            {"sasl.password", o->password ? o->password : ""},
        };
        return conf_set_all(conf, sasl, sizeof(sasl) / sizeof(sasl[0]), errstr, errstr_size);
}

/* Settings of one client: common ones, then the role's, then opts.kafka_props. */
static int conf_build(struct kafka *k, rd_kafka_conf_t *conf, const char *const kv[][2], size_t n,
                      char *errstr, size_t errstr_size)
{
        int rc = conf_common(k, conf, errstr, errstr_size);

        if (rc == 0)
                rc = conf_set_all(conf, kv, n, errstr, errstr_size);
        if (rc == 0 && k->bus->opts.kafka_props)
                rc = apply_props(conf, k->bus->opts.kafka_props, errstr, errstr_size);
        return rc;
}

/* --- producer -------------------------------------------------------------- */

/* Stores the deferred acks once nothing published before them is in flight. */
static void barrier_try_store(struct kafka *k);
/* Remembers an input offset whose dead letter was confirmed. */
static void dead_add(struct kafka *k, const struct kafka_dead *d);
/* FNV-1a of a topic name, never 0. */
static uint64_t topic_hash(const char *topic);
/* True when rkm's offset was dead-lettered by this process (see kafka_ack). */
static bool dead_seen(const struct kafka *k, const rd_kafka_message_t *rkm);

/*
 * Delivery report for one record (caller's thread, from poll/flush). A
 * failure is remembered for the next flush() and voids the deferred acks.
 */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
        struct kafka *k = opaque;

        (void)rk;
        if (k->inflight > 0)
                k->inflight--;
        if (rkm->_private) { /* a dead letter: its input is done once it is confirmed */
                struct kafka_dead *d = &k->pend[(intptr_t)rkm->_private - 1];

                if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                        dead_add(k, d);
                d->topic_hash = 0; /* slot free */
        }
        if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                k->bus->stats.confirmed++;
                k->broker_down = false;
                barrier_try_store(k);
                return;
        }
        k->failed++;
        /*
         * Its input was acked (deferred: the record was in flight) or is being
         * handled now (acked before the next fetch, which rewinds).
         */
        k->rewind = true;
        if (k->first_err == 0 && !k->closing) {
                k->first_err = err_to_errno(rkm->err);
                snprintf(k->first_errstr, sizeof(k->first_errstr), "%s [%" PRId32 "]: %s",
                         rd_kafka_topic_name(rkm->rkt), rkm->partition, rd_kafka_err2str(rkm->err));
        }
}

/* Creates the idempotent producer; on failure writes errstr. */
static int producer_new(struct kafka *k, char *errstr, size_t errstr_size)
{
        const struct sl_bus_opts *o = &k->bus->opts;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        int64_t timeout_ms = o->reconnect_max_ms > 0 ? o->reconnect_max_ms : 30000;
        char msg_timeout[24], queue_max[24];

        if (timeout_ms < KAFKA_MIN_MSG_TIMEOUT)
                timeout_ms = KAFKA_MIN_MSG_TIMEOUT;
        snprintf(msg_timeout, sizeof(msg_timeout), "%" PRId64, timeout_ms);
        snprintf(queue_max, sizeof(queue_max), "%d", o->pending_max > 0 ? o->pending_max : 1000);
        const char *const kv[][2] = {
            {"enable.idempotence", "true"},
            {"acks", "all"},
            {"linger.ms", KAFKA_LINGER_MS},
            {"message.timeout.ms", msg_timeout},         /* librdkafka retries until then */
            {"queue.buffering.max.messages", queue_max}, /* = opts.pending_max */
        };
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        if (conf_build(k, conf, kv, sizeof(kv) / sizeof(kv[0]), errstr, errstr_size) < 0) {
                rd_kafka_conf_destroy(conf);
                return -EINVAL;
        }
        k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!k->producer) {
                rd_kafka_conf_destroy(conf); /* rd_kafka_new took it only on success */
                return -EINVAL;
        }
        return 0;
}

/* Offers one record to librdkafka (copied). Returns the librdkafka error. */
static rd_kafka_resp_err_t produce_once(struct kafka *k, const char *topic, const char *key,
                                        const void *data, size_t len,
                                        const struct sl_bus_header *headers, int n_headers,
                                        void *opaque)
{
        rd_kafka_vu_t vus[5 + SL_BUS_MAX_HEADERS];
        rd_kafka_error_t *error;
        rd_kafka_resp_err_t err;
        size_t n = 0;

        vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[n++].u.cstr = topic;
        vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
        vus[n].u.mem.ptr = (void *)data; /* copied: RD_KAFKA_MSG_F_COPY below */
        vus[n++].u.mem.size = len;
        vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
        if (key) {
                vus[n].vtype = RD_KAFKA_VTYPE_KEY;
                vus[n].u.mem.ptr = (void *)key;
                vus[n++].u.mem.size = strlen(key);
        }
        if (opaque) {
                vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
                vus[n++].u.ptr = opaque;
        }
        for (int i = 0; i < n_headers && i < SL_BUS_MAX_HEADERS; i++) {
                vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
                vus[n].u.header.name = headers[i].name;
                vus[n].u.header.val = headers[i].value;
                vus[n++].u.header.size = headers[i].value ? -1 : 0; /* -1: strlen */
        }
        error = rd_kafka_produceva(k->producer, vus, n);
        if (!error)
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        err = rd_kafka_error_code(error);
        rd_kafka_error_destroy(error);
        return err;
}

#define DEAD_IN_FLIGHT ((void *)-1) /* dead_pending(): the same dead letter is in flight */

/*
 * A dead letter (its dlq.original_topic / _partition / _offset headers name
 * a Kafka input): takes a free pending slot for it and returns slot+1 as the
 * record's opaque, else NULL (not a dead letter, or no slot: then only the
 * ack path remembers it). DEAD_IN_FLIGHT when a dead letter of the same
 * input is still awaiting its delivery report (an earlier flush timed out
 * and the input came again): publishing another would put it in the DLQ
 * twice once the broker is back.
 */
static void *dead_pending(struct kafka *k, const struct sl_bus_header *headers, int n_headers)
{
        struct kafka_dead d;
        const char *topic = NULL, *part = NULL, *off = NULL;
        int64_t p, o;

        for (int i = 0; i < n_headers; i++) {
                if (!headers[i].name || !headers[i].value)
                        continue;
                if (strcmp(headers[i].name, SL_DLQ_H_TOPIC) == 0)
                        topic = headers[i].value;
                else if (strcmp(headers[i].name, SL_DLQ_H_PARTITION) == 0)
                        part = headers[i].value;
                else if (strcmp(headers[i].name, SL_DLQ_H_OFFSET) == 0)
                        off = headers[i].value;
        }
        if (!topic || !part || !off || sl_parse_i64(part, 0, INT32_MAX, &p) < 0 ||
            sl_parse_i64(off, 0, INT64_MAX, &o) < 0)
                return NULL;
        d = (struct kafka_dead){topic_hash(topic), (int32_t)p, o};
        for (int i = 0; i < KAFKA_DLQ_PENDING; i++)
                if (k->pend[i].topic_hash == d.topic_hash && k->pend[i].partition == d.partition &&
                    k->pend[i].offset == d.offset)
                        return DEAD_IN_FLIGHT;
        for (int i = 0; i < KAFKA_DLQ_PENDING; i++)
                if (k->pend[i].topic_hash == 0) {
                        k->pend[i] = d;
                        return (void *)(intptr_t)(i + 1);
                }
        return NULL;
}

/*
 * publish(): accepts a copy of the record. A full queue (opts.pending_max
 * records unconfirmed) waits for confirmations, for at most reconnect_max_ms
 * (or until opts.stop is set): then -ETIMEDOUT.
 */
static int kafka_publish(struct sl_bus *bus, const char *topic, const char *key, const void *data,
                         size_t len, const struct sl_bus_header *headers, int n_headers)
{
        struct kafka *k = bus->impl;
        int64_t wait_ms = bus->opts.reconnect_max_ms > 0 ? bus->opts.reconnect_max_ms : 30000;
        int64_t deadline = sl_mono_ms() + wait_ms;
        rd_kafka_resp_err_t err;
        void *dl;

        if (n_headers < 0 || n_headers > SL_BUS_MAX_HEADERS)
                return -EINVAL;
        dl = dead_pending(k, headers, n_headers);
        if (dl == DEAD_IN_FLIGHT) {
                /* flush() waits for the one in flight; if it fails, flush() says so */
                sl_log_info("bus.kafka.dlq.inflight",
                            "%s: a dead letter of this input is still in flight: not sent again",
                            topic);
                return 0;
        }
        /* Only a full queue is retried here; librdkafka retries sends itself. */
        for (;;) {
                if (k->fatal)
                        err = RD_KAFKA_RESP_ERR__FATAL;
                else
                        err = produce_once(k, topic, key, data, len, headers, n_headers, dl);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                        break;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || sl_mono_ms() >= deadline ||
                    (bus->opts.stop && *bus->opts.stop)) {
                        if (dl)
                                k->pend[(intptr_t)dl - 1].topic_hash = 0;
                        if (err == RD_KAFKA_RESP_ERR__FATAL)
                                return -EIO; /* e.g. idempotence broken: a new producer */
                        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? -ETIMEDOUT
                                                                    : err_to_errno(err);
                }
                rd_kafka_poll(k->producer, 10); /* serves delivery reports: frees room */
        }
        k->inflight++;
        rd_kafka_poll(k->producer, 0);
        return 0;
}

/*
 * flush(): waits for every accepted record. Reports (once) the first record
 * librdkafka gave up on since the previous flush.
 */
static int kafka_flush(struct sl_bus *bus, int64_t timeout_ms)
{
        struct kafka *k = bus->impl;
        rd_kafka_resp_err_t err;
        int rc;

        err = rd_kafka_flush(k->producer, timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms);
        /* A lost record outranks a timeout: it will never be delivered. */
        if (k->first_err != 0) {
                rc = k->first_err;
                sl_log_error("bus.kafka.delivery.failed", "%" PRIu64 " undeliverable, first: %s",
                             k->failed, k->first_errstr);
                k->first_err = 0;
                k->failed = 0;
                return rc;
        }
        if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
                return -ETIMEDOUT;
        if (k->fatal)
                return -EIO;
        return err_to_errno(err);
}

/* --- publish barrier for acks --------------------------------------------- */

/* Forgets the deferred acks without storing them. */
static void deferred_clear(struct kafka *k)
{
        for (int i = 0; i < k->n_deferred; i++)
                free(k->deferred[i].topic);
        k->n_deferred = 0;
        k->rewind = false;
}

/* Stores and forgets the deferred offsets. Partitions no longer ours are skipped. */
static void deferred_store(struct kafka *k)
{
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_resp_err_t err;

        parts = rd_kafka_topic_partition_list_new(k->n_deferred);
        for (int i = 0; i < k->n_deferred; i++)
                rd_kafka_topic_partition_list_add(parts, k->deferred[i].topic,
                                                  k->deferred[i].partition)
                    ->offset = k->deferred[i].next;
        err = rd_kafka_offsets_store(k->consumer, parts);
        for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].err)
                        sl_log_warn("bus.kafka.ack.stale",
                                    "offset %" PRId64 " of %s [%" PRId32 "] not stored (%s): "
                                    "partition revoked, its new owner redelivers",
                                    parts->elems[i].offset, parts->elems[i].topic,
                                    parts->elems[i].partition,
                                    rd_kafka_err2name(parts->elems[i].err));
        if (err && err != RD_KAFKA_RESP_ERR__STATE && err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
                sl_log_error("bus.kafka.ack.error", "offsets_store: %s", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(parts);
        deferred_clear(k);
}

/*
 * The barrier itself: inflight == 0 means every record published before the
 * deferred acks was confirmed, so their inputs are really done. Not while a
 * rewind is pending (a record failed: those inputs must come again).
 */
static void barrier_try_store(struct kafka *k)
{
        if (k->inflight == 0 && k->n_deferred > 0 && !k->rewind && k->consumer)
                deferred_store(k);
}

/*
 * A record published before these acks was lost: seek every deferred
 * partition back to its first unstored ack, so those inputs are redelivered.
 */
static void deferred_rewind(struct kafka *k)
{
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_error_t *error;

        parts = rd_kafka_topic_partition_list_new(k->n_deferred);
        for (int i = 0; i < k->n_deferred; i++) {
                rd_kafka_topic_partition_list_add(parts, k->deferred[i].topic,
                                                  k->deferred[i].partition)
                    ->offset = k->deferred[i].first;
                free(k->deferred[i].topic);
        }
        sl_log_warn("bus.kafka.rewind", "a publish failed: redelivering %d partition(s)",
                    parts->cnt);
        k->n_deferred = 0;
        k->rewind = false;
        error = rd_kafka_seek_partitions(k->consumer, parts, KAFKA_SEEK_TIMEOUT_MS);
        if (error) {
                sl_log_error("bus.kafka.rewind.error", "seek: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
        rd_kafka_topic_partition_list_destroy(parts);
}

/* Records offset+1 of msg as a deferred ack (merging with its partition's entry). */
static void deferred_add(struct kafka *k, const struct sl_bus_msg *msg)
{
        struct kafka_deferred *d;

        for (int i = 0; i < k->n_deferred; i++) {
                d = &k->deferred[i];
                if (d->partition == msg->partition && strcmp(d->topic, msg->topic) == 0) {
                        d->next = msg->offset + 1;
                        return;
                }
        }
        if (k->n_deferred == k->cap_deferred) {
                k->cap_deferred = k->cap_deferred ? 2 * k->cap_deferred : 8;
                k->deferred = sl_xrealloc(k->deferred, k->cap_deferred * sizeof(*k->deferred));
        }
        if (k->n_deferred == 0)
                k->deferred_since_ms = sl_mono_ms();
        d = &k->deferred[k->n_deferred++];
        d->topic = sl_xstrdup(msg->topic);
        d->partition = msg->partition;
        d->first = msg->offset;
        d->next = msg->offset + 1;
}

/*
 * Before fetching: serve delivery reports, rewind after a lost publish, and
 * flush (within budget_ms) if acks have waited for the barrier too long.
 */
static void barrier_service(struct kafka *k, int budget_ms)
{
        rd_kafka_poll(k->producer, 0);
        if (k->rewind && k->n_deferred > 0)
                deferred_rewind(k);
        k->rewind = false;
        if (k->n_deferred > 0 && sl_mono_ms() - k->deferred_since_ms >= KAFKA_BARRIER_FLUSH_MS)
                rd_kafka_flush(k->producer, budget_ms); /* delivery reports store the acks */
        barrier_try_store(k);
}

/* --- consumer -------------------------------------------------------------- */

/* The consumer group: opts.group, else the service name. */
static const char *group_name(const struct sl_bus_opts *o)
{
        return o->group ? o->group : o->service ? o->service : "statline";
}

/* Creates the KafkaConsumer (not yet subscribed); on failure writes errstr. */
static int consumer_new(struct kafka *k, char *errstr, size_t errstr_size)
{
        const struct sl_bus_opts *o = &k->bus->opts;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const char *const kv[][2] = {
            {"group.id", group_name(o)},
            {"enable.auto.offset.store", "false"}, /* ack() stores */
            {"enable.auto.commit", "true"},        /* ...and this commits what was stored */
            {"auto.commit.interval.ms", "1000"},
            {"auto.offset.reset", o->from_beginning ? "earliest" : "latest"},
            {"allow.auto.create.topics", "true"},
            /*
             * A topic subscribed before anyone published to it is "not
             * available" until the next metadata refresh (default 5 min): a new
             * pipeline would sit idle that long. Refresh every 2 s instead.
             */
            {"topic.metadata.refresh.interval.ms", "2000"},
            /* a crashed member's partitions move on after 10 s, not 45 s */
            {"session.timeout.ms", "10000"},
            {"heartbeat.interval.ms", "3000"},
        };

        if (conf_build(k, conf, kv, sizeof(kv) / sizeof(kv[0]), errstr, errstr_size) < 0) {
                rd_kafka_conf_destroy(conf);
                return -EINVAL;
        }
        k->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
        if (!k->consumer) {
                rd_kafka_conf_destroy(conf);
                return -EINVAL;
        }
        rd_kafka_poll_set_consumer(k->consumer); /* errors and logs come via consumer_poll */
        return 0;
}

/* Subscribes the consumer to the bus's topics. */
static int consumer_subscribe(struct kafka *k, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *topics;
        rd_kafka_resp_err_t err;

        topics = rd_kafka_topic_partition_list_new(k->bus->n_topics);
        for (int i = 0; i < k->bus->n_topics; i++)
                rd_kafka_topic_partition_list_add(topics, k->bus->opts.topics[i],
                                                  RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(k->consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err) {
                snprintf(errstr, errstr_size, "kafka: subscribe: %s", rd_kafka_err2str(err));
                return err_to_errno(err);
        }
        return 0;
}

/*
 * The fetch arena: one buffer reused for every message (payloads are not
 * NUL-terminated in librdkafka, bus.h promises NUL-terminated data), so a
 * steady consumer allocates nothing per message. Grows to the largest
 * message seen; release() frees it after an oversized one.
 */

/* Grows the fetch arena to hold need bytes (contents are not kept). */
static void arena_reserve(struct kafka *k, size_t need)
{
        if (need <= k->arena_cap)
                return;
        free(k->arena);
        k->arena_cap = need < 4096 ? 4096 : need;
        k->arena = sl_xmalloc(k->arena_cap);
}

/* Copies len bytes at *pos in the arena, NUL-terminated; returns the copy. */
static const char *arena_put(struct kafka *k, size_t *pos, const void *src, size_t len)
{
        char *dst = k->arena + *pos;

        if (len > 0)
                memcpy(dst, src, len);
        dst[len] = '\0';
        *pos += len + 1;
        return dst;
}

/* Fills msg from rkm. Data, key and header values are NUL-terminated arena copies. */
static void fill_msg(struct kafka *k, rd_kafka_message_t *rkm, struct sl_bus_msg *msg)
{
        rd_kafka_headers_t *hdrs = NULL;
        const char *name;
        const void *val;
        size_t size, need = rkm->len + 1 + rkm->key_len + 1, pos = 0;
        int n;

        if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
                hdrs = NULL;
        for (n = 0; hdrs && n < SL_BUS_MAX_HEADERS &&
                    !rd_kafka_header_get_all(hdrs, (size_t)n, &name, &val, &size);
             n++)
                need += size + 1;
        arena_reserve(k, need);
        memset(msg, 0, sizeof(*msg));
        msg->data = arena_put(k, &pos, rkm->payload, rkm->len);
        msg->len = rkm->len;
        msg->key = rkm->key ? arena_put(k, &pos, rkm->key, rkm->key_len) : NULL;
        for (int i = 0; i < n; i++) {
                rd_kafka_header_get_all(hdrs, (size_t)i, &name, &val, &size);
                msg->headers[i].name = name; /* NUL-terminated, lives in rkm */
                msg->headers[i].value = arena_put(k, &pos, val, val ? size : 0);
        }
        msg->n_headers = n;
        msg->topic = rd_kafka_topic_name(rkm->rkt);
        msg->partition = rkm->partition;
        msg->offset = rkm->offset;
        msg->deliveries = 1; /* Kafka keeps no delivery count */
        snprintf(msg->id, sizeof(msg->id), "%" PRId32 ":%" PRId64, rkm->partition, rkm->offset);
        msg->backend_ref = rkm;
        k->held = rkm;
}

/* A consumer error event: logged; returns -errno only when consuming can't go on. */
static int consumer_error(struct kafka *k, const rd_kafka_message_t *rkm)
{
        char fatal[256];
        rd_kafka_resp_err_t err = rkm->err;

        if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                return 0;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                err = rd_kafka_fatal_error(k->consumer, fatal, sizeof(fatal));
                sl_log_error("bus.kafka.consume.fatal", "%s: %s", rd_kafka_err2name(err), fatal);
                return -EIO;
        }
        sl_log_warn("bus.kafka.consume.error", "%s%s%s: %s",
                    rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "", rkm->rkt ? " " : "",
                    rd_kafka_err2name(err), rd_kafka_message_errstr(rkm));
        if (err_to_errno(err) == -EACCES)
                return -EACCES;
        return 0;
}

/*
 * fetch(): the next message, or 0 after timeout_ms. One message may be
 * outstanding per bus: the arena holding its bytes is reused by the next
 * fetch, so release() must come first (-EBUSY otherwise).
 */
static int kafka_fetch(struct sl_bus *bus, struct sl_bus_msg *msg, int timeout_ms)
{
        struct kafka *k = bus->impl;
        int64_t deadline = sl_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        rd_kafka_message_t *rkm;
        int64_t left;
        int rc;

        if (!k->consumer)
                return -EINVAL;
        if (k->held)
                return -EBUSY;
        barrier_service(k, timeout_ms);
        if (bus->draining || k->consumer_closed)
                return 0;
        /* Error events (not messages) are logged and skipped until the deadline. */
        for (;;) {
                left = deadline - sl_mono_ms();
                rkm = rd_kafka_consumer_poll(k->consumer, left > 0 ? (int)left : 0);
                if (!rkm)
                        return 0;
                if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR && dead_seen(k, rkm)) {
                        /* dead-lettered before; its commit was lost: ack, don't hand out */
                        sl_log_warn("bus.kafka.dlq.skip",
                                    "%s [%" PRId32 "] offset %" PRId64
                                    " was dead-lettered already: skipped",
                                    rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset);
                        k->dlq_skipped++;
                        memset(msg, 0, sizeof(*msg));
                        msg->topic = rd_kafka_topic_name(rkm->rkt);
                        msg->partition = rkm->partition;
                        msg->offset = rkm->offset;
                        deferred_add(k, msg);
                        barrier_try_store(k);
                        rd_kafka_message_destroy(rkm);
                        memset(msg, 0, sizeof(*msg));
                        if (left <= 0)
                                return 0;
                        continue;
                }
                if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        fill_msg(k, rkm, msg);
                        return 1;
                }
                rc = consumer_error(k, rkm);
                rd_kafka_message_destroy(rkm);
                if (rc < 0)
                        return rc;
                if (left <= 0)
                        return 0;
        }
}

/* --- dead letters: commit at once, never twice ----------------------------- */

/* FNV-1a of a topic name; never 0 (0 marks an empty ring slot). */
static uint64_t topic_hash(const char *topic)
{
        uint64_t h = 1469598103934665603ULL;

        for (const unsigned char *p = (const unsigned char *)topic; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        return h ? h : 1;
}

/* Remembers a dead-lettered input offset (the ring forgets the oldest). */
static void dead_add(struct kafka *k, const struct kafka_dead *d)
{
        k->dead[k->dead_next] = *d;
        k->dead_next = (k->dead_next + 1) % KAFKA_DLQ_RING;
}

/* Remembers msg as dead-lettered. */
static void dead_remember(struct kafka *k, const struct sl_bus_msg *msg)
{
        struct kafka_dead d = {topic_hash(msg->topic), msg->partition, msg->offset};

        dead_add(k, &d);
}

/* True when rkm's offset was dead-lettered by this process. */
static bool dead_seen(const struct kafka *k, const rd_kafka_message_t *rkm)
{
        uint64_t h = topic_hash(rd_kafka_topic_name(rkm->rkt));

        for (int i = 0; i < KAFKA_DLQ_RING; i++)
                if (k->dead[i].topic_hash == h && k->dead[i].partition == rkm->partition &&
                    k->dead[i].offset == rkm->offset)
                        return true;
        return false;
}

/*
 * Commits the stored offsets now and waits (at most KAFKA_DLQ_COMMIT_MS) for
 * the answer. A failure only logs: the dead-lettered offset is in the ring.
 */
static void dead_commit(struct kafka *k)
{
        int64_t deadline = sl_mono_ms() + KAFKA_DLQ_COMMIT_MS;
        rd_kafka_event_t *ev;
        rd_kafka_resp_err_t err;

        if (!k->commitq)
                k->commitq = rd_kafka_queue_new(k->consumer);
        /* answers of earlier commits that timed out */
        while ((ev = rd_kafka_queue_poll(k->commitq, 0)))
                rd_kafka_event_destroy(ev);
        err = rd_kafka_commit_queue(k->consumer, NULL, k->commitq, NULL, NULL);
        while (!err) {
                int64_t left = deadline - sl_mono_ms();

                ev = rd_kafka_queue_poll(k->commitq, left > 0 ? (int)left : 0);
                if (!ev) {
                        err = RD_KAFKA_RESP_ERR__TIMED_OUT;
                        break;
                }
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
                        err = rd_kafka_event_error(ev);
                        rd_kafka_event_destroy(ev);
                        break;
                }
                rd_kafka_event_destroy(ev);
        }
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                /* coordinator loading after a broker restart? don't stall each dead letter */
                k->dlq_commit_after = sl_mono_ms() + KAFKA_DLQ_COMMIT_PAUSE;
                sl_log_warn("bus.kafka.dlq.commit",
                            "commit after a dead letter: %s (a redelivery here is skipped; "
                            "auto-commit only for %d ms)",
                            rd_kafka_err2str(err), KAFKA_DLQ_COMMIT_PAUSE);
        } else {
                k->dlq_commits++;
        }
}

/*
 * ack(): stores offset+1 for the next auto-commit, once every record
 * published so far is confirmed (see the file comment). An ack for a
 * partition revoked meanwhile is logged and dropped: the new owner
 * redelivers. The ack of a dead-lettered message (bus.c confirmed the dead
 * letter just before) is remembered and committed synchronously.
 */
static int kafka_ack(struct sl_bus *bus, const struct sl_bus_msg *msg)
{
        struct kafka *k = bus->impl;
        bool dead = bus->stats.dead_lettered != k->dl_seen;

        if (!k->consumer || msg->partition < 0 || msg->offset < 0 || !msg->topic)
                return -EINVAL;
        k->dl_seen = bus->stats.dead_lettered;
        if (dead)
                dead_remember(k, msg);
        deferred_add(k, msg);
        barrier_try_store(k);
        if (dead && k->n_deferred == 0 && sl_mono_ms() >= k->dlq_commit_after)
                dead_commit(k); /* stored (the barrier was clear): commit it now */
        return 0;
}

/* nack(): seeks msg's partition back to msg->offset, so it comes again. */
static int kafka_nack(struct sl_bus *bus, const struct sl_bus_msg *msg)
{
        struct kafka *k = bus->impl;
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_error_t *error;
        int rc = 0;

        if (!k->consumer || msg->partition < 0 || msg->offset < 0 || !msg->topic)
                return -EINVAL;
        parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, msg->topic, msg->partition)->offset = msg->offset;
        error = rd_kafka_seek_partitions(k->consumer, parts, KAFKA_SEEK_TIMEOUT_MS);
        if (!error && parts->elems[0].err)
                rc = err_to_errno(parts->elems[0].err);
        if (error) {
                rc = err_to_errno(rd_kafka_error_code(error));
                rd_kafka_error_destroy(error);
        }
        if (rc < 0)
                sl_log_warn("bus.kafka.nack", "seek %s [%" PRId32 "] to %" PRId64 ": %s",
                            msg->topic, msg->partition, msg->offset, sl_strerror(rc));
        rd_kafka_topic_partition_list_destroy(parts);
        return rc;
}

/* release(): destroys the message fetch() handed out; shrinks a huge arena. */
static void kafka_release(struct sl_bus *bus, struct sl_bus_msg *msg)
{
        struct kafka *k = bus->impl;
        size_t keep = bus->opts.max_msg_bytes + KAFKA_ARENA_KEEP;

        if (!msg->backend_ref)
                return;
        rd_kafka_message_destroy(msg->backend_ref);
        if (k->held == msg->backend_ref)
                k->held = NULL;
        msg->backend_ref = NULL;
        if (k->arena_cap > keep) {
                free(k->arena);
                k->arena = NULL;
                k->arena_cap = 0;
        }
}

/* --- drain and close ------------------------------------------------------- */

/* Milliseconds left until deadline, clamped to [0, INT32_MAX]. */
static int left_ms(int64_t deadline)
{
        int64_t left = deadline - sl_mono_ms();

        return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Commits the stored offsets and waits for the result until deadline. */
static int consumer_commit(struct kafka *k, int64_t deadline)
{
        rd_kafka_event_t *ev;
        rd_kafka_resp_err_t err;

        err = rd_kafka_commit_queue(k->consumer, NULL, k->closeq, NULL, NULL);
        while (!err) {
                ev = rd_kafka_queue_poll(k->closeq, left_ms(deadline));
                if (!ev)
                        return -ETIMEDOUT;
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
                        err = rd_kafka_event_error(ev);
                        rd_kafka_event_destroy(ev);
                        break;
                }
                rd_kafka_event_destroy(ev);
        }
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || !err)
                return 0;
        sl_log_warn("bus.kafka.commit", "commit: %s", rd_kafka_err2str(err));
        return err_to_errno(err);
}

/* Gives up an assignment during close (the close queue hands us rebalances). */
static void close_rebalance(struct kafka *k, rd_kafka_event_t *ev)
{
        rd_kafka_error_t *error = NULL;

        if (strcmp(rd_kafka_rebalance_protocol(k->consumer), "COOPERATIVE") == 0)
                error = rd_kafka_incremental_unassign(k->consumer,
                                                      rd_kafka_event_topic_partition_list(ev));
        else
                rd_kafka_assign(k->consumer, NULL);
        if (error)
                rd_kafka_error_destroy(error);
}

/*
 * Leaves the group (committing stored offsets), serving the close queue
 * until deadline. May be called again to finish a close that timed out:
 * librdkafka 2.0.2 can hang in rd_kafka_destroy() when a started close is
 * abandoned, so close() always finishes it first.
 */
static int consumer_close(struct kafka *k, int64_t deadline)
{
        rd_kafka_error_t *error;
        rd_kafka_event_t *ev;

        if (!k->closeq)
                k->closeq = rd_kafka_queue_new(k->consumer);
        if (!k->close_started) {
                error = rd_kafka_consumer_close_queue(k->consumer, k->closeq);
                if (error) {
                        sl_log_warn("bus.kafka.close", "%s", rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        return -EIO;
                }
                k->close_started = true;
        }
        while (!rd_kafka_consumer_closed(k->consumer)) {
                if (left_ms(deadline) == 0)
                        return -ETIMEDOUT;
                ev = rd_kafka_queue_poll(k->closeq,
                                         left_ms(deadline) < 100 ? left_ms(deadline) : 100);
                if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                        close_rebalance(k, ev);
                if (ev)
                        rd_kafka_event_destroy(ev);
        }
        k->consumer_closed = true;
        return 0;
}

/*
 * drain(): stop fetching, confirm every publish (which stores the acks
 * waiting for them), commit stored offsets and leave the group, all within
 * timeout_ms. Returns 0, -ETIMEDOUT or the first error.
 */
static int kafka_drain(struct sl_bus *bus, int64_t timeout_ms)
{
        struct kafka *k = bus->impl;
        int64_t deadline = sl_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        int rc, rc2;

        bus->draining = true;
        /* Outputs first: their confirmations release the acks waiting on them. */
        rc = kafka_flush(bus, timeout_ms);
        if (!k->consumer || k->consumer_closed)
                return rc;
        if (k->rewind)
                deferred_clear(k); /* never stored: the next consumer gets them again */
        barrier_try_store(k);
        if (!k->closeq)
                k->closeq = rd_kafka_queue_new(k->consumer);
        rc2 = consumer_commit(k, deadline);
        rc = rc ? rc : rc2;
        rc2 = consumer_close(k, deadline);
        return rc ? rc : rc2;
}

/*
 * close(): leaves the group if drain() did not (bounded by
 * KAFKA_CLOSE_MAX_MS), then destroys both clients; unconfirmed records are
 * lost.
 */
static void kafka_close(struct sl_bus *bus)
{
        struct kafka *k = bus->impl;

        if (!k)
                return;
        k->closing = true;
        if (k->held)
                rd_kafka_message_destroy(k->held);
        /* Consumer before producer: leaving the group may still commit offsets. */
        if (k->consumer && !k->consumer_closed &&
            consumer_close(k, sl_mono_ms() + KAFKA_CLOSE_MAX_MS) < 0)
                sl_log_warn("bus.kafka.close", "consumer did not leave its group in %d ms",
                            KAFKA_CLOSE_MAX_MS);
        if (k->closeq)
                rd_kafka_queue_destroy(k->closeq);
        if (k->commitq)
                rd_kafka_queue_destroy(k->commitq);
        if (k->consumer)
                rd_kafka_destroy_flags(
                    k->consumer, k->consumer_closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        if (k->producer) {
                rd_kafka_purge(k->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                                                RD_KAFKA_PURGE_F_NON_BLOCKING);
                rd_kafka_destroy(k->producer);
        }
        deferred_clear(k);
        free(k->deferred);
        free(k->arena);
        free(k);
        bus->impl = NULL;
}

/*
 * Asks a broker for metadata within connect_timeout_ms, so a wrong address
 * or bad credentials fail open() instead of hanging the first publish.
 * Later outages are ridden out by librdkafka's reconnects.
 */
static int probe_broker(struct kafka *k, char *errstr, size_t errstr_size)
{
        const struct sl_bus_opts *o = &k->bus->opts;
        int64_t timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;

        err = rd_kafka_metadata(k->producer, 0, NULL, &md,
                                timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms);
        if (md)
                rd_kafka_metadata_destroy(md);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                return 0;
        snprintf(errstr, errstr_size, "kafka: no broker answered at %s within %" PRId64 " ms: %s",
                 o->url ? o->url : KAFKA_DEFAULT_BOOTSTRAP, timeout_ms, rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__TIMED_OUT ? -ETIMEDOUT : err_to_errno(err);
}

/* open(): the producer always, the consumer when opts.topics has entries. */
static int kafka_open(struct sl_bus *bus, char *errstr, size_t errstr_size)
{
        struct kafka *k = sl_xcalloc(1, sizeof(*k));
        int rc;

        k->bus = bus;
        bus->impl = k;
        if (bus->opts.password)
                sl_log_add_secret(bus->opts.password);
        rc = producer_new(k, errstr, errstr_size);
        if (rc == 0)
                rc = probe_broker(k, errstr, errstr_size);
        if (rc == 0 && bus->n_topics > 0)
                rc = consumer_new(k, errstr, errstr_size);
        if (rc == 0 && bus->n_topics > 0)
                rc = consumer_subscribe(k, errstr, errstr_size);
        if (rc < 0) {
                kafka_close(bus);
                return rc;
        }
        sl_log_info("bus.kafka.open", "bootstrap=%s topics=%d group=%s",
                    bus->opts.url ? bus->opts.url : KAFKA_DEFAULT_BOOTSTRAP, bus->n_topics,
                    bus->n_topics > 0 ? group_name(&bus->opts) : "-");
        return 0;
}

const struct sl_bus_ops sl_bus_kafka_ops = {
    .name = "kafka",
    .open = kafka_open,
    .publish = kafka_publish,
    .flush = kafka_flush,
    .fetch = kafka_fetch,
    .ack = kafka_ack,
    .nack = kafka_nack,
    .release = kafka_release,
    .drain = kafka_drain,
    .close = kafka_close,
};
