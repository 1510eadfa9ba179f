#ifndef SL_BUS_H
#define SL_BUS_H

/*
 * One message-bus API over four backends:
 *
 *   "redis-streams" (default)  Redis Streams + consumer groups. At-least-once:
 *                              an entry is XACKed only after it was handled (or
 *                              dead-lettered); entries left pending by a dead
 *                              consumer are taken over with XAUTOCLAIM.
 *   "redis-pubsub"             Redis Pub/Sub. AT-MOST-ONCE: an event published
 *                              while no subscriber is connected is lost, and so
 *                              is one in flight when a subscriber dies.
 *                              Dead letters still go to a durable stream.
 *   "kafka"                    librdkafka, idempotent producer, offsets stored
 *                              only after a message was handled.
 *   "mem"                      in-process, for unit tests.
 *
 * Delivery is at-least-once (except pubsub) plus idempotency in handlers.
 * sl_bus_poll() is the consume loop step: it fetches a message, parses the
 * envelope, calls the handler with retries and backoff, dead-letters poison
 * messages and exhausted retries to "<topic>.dlq" (original bytes plus
 * context), and acks only after that.
 *
 * Threads: a bus is used by one thread at a time.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sl/retry.h>

struct sl_bus;
struct sl_envelope;

#define SL_BUS_MAX_TOPICS  64
#define SL_BUS_MAX_HEADERS 16

/* A header on a message (Kafka headers, Streams fields). Borrowed strings. */
struct sl_bus_header {
        const char *name;
        const char *value;
};

/*
 * A consumed message, handed to handlers. Everything is borrowed: owned by the
 * bus and valid only during the handler call (copy what you keep).
 */
struct sl_bus_msg {
        const char *topic; /* full topic/stream name */
        const char *key;   /* partition key, may be NULL */
        const char *data;  /* the message bytes (NUL-terminated for convenience) */
        size_t len;        /* bytes in data, excluding the NUL */
        char id[64];       /* stream entry id, or "<partition>:<offset>" for Kafka */
        int32_t partition; /* Kafka partition, -1 otherwise */
        int64_t offset;    /* Kafka offset, -1 otherwise */
        int deliveries;    /* times delivered, this one included (>= 1) */
        struct sl_bus_header headers[SL_BUS_MAX_HEADERS];
        int n_headers;
        void *backend_ref; /* backend's private handle for ack */
};

/*
 * A handler's "not ready yet" outcome: the message is fine but a critical
 * input it needs is not there yet (late data). Distinct from failure: it is
 * neither retried 3 times nor dead-lettered, and it never blocks the consumer.
 */
#define SL_BUS_NOT_READY (-ENODATA)

/* What sl_bus_opts.defer is asked to do. */
enum sl_bus_defer_op {
        SL_BUS_DEFER_PARK, /* park msg durably until it is due again (see sl_bus_defer_fn) */
        SL_BUS_DEFER_DONE, /* msg was dead-lettered after waiting too long: forget it */
        SL_BUS_DEFER_DEAD, /* msg was dead-lettered (confirmed), for any reason: record it;
                              env is NULL when msg did not parse, reason is the error text */
};

/*
 * Parks a not-ready message (op PARK) outside the bus, e.g. in PostgreSQL
 * (the service runtime's ops.deferred_events), so the bus can ack it.
 * reason is the handler's text (what is missing). Returns 0 (parked: the bus
 * acks the original), -ETIME after writing "dependency not ready after N s:
 * <reason>" into why (why_size bytes): the bus dead-letters it and calls
 * again with op DONE, or another negative errno: not parked, the message
 * waits like one behind an open breaker (-EBUSY). Op DEAD tells of any dead
 * letter the broker confirmed (why holds its class name), so the owner can
 * record it where its runs are logged. The returns of DONE and DEAD are ignored.
 */
typedef int sl_bus_defer_fn(void *opaque, enum sl_bus_defer_op op, const struct sl_bus_msg *msg,
                            const struct sl_envelope *env, const char *reason, char *why,
                            size_t why_size);

/* Options for sl_bus_open(). All-zero means defaults, except where noted. */
struct sl_bus_opts {
        const char *backend; /* "redis-streams" (NULL), "redis-pubsub", "kafka", "mem" */
        const char *url; /* redis: "host:port" (default 127.0.0.1:6379); kafka: bootstrap list */
        const char *username; /* Redis ACL user / Kafka SASL user, may be NULL */
        const char *password; /* may be NULL; never logged */
        const char *prefix;   /* topic prefix, default "statline" */
        const char *service;  /* service name, written into dead-letter context */
        const char *group;    /* consumer group; default = service */
        const char *consumer; /* consumer name; default "<hostname>-<pid>" */
        const char *
            topics[SL_BUS_MAX_TOPICS]; /* topics to consume, NULL-terminated; none = publish only */
        struct sl_retry_opts retry;    /* handler retry policy */
        size_t max_msg_bytes;          /* cap on a consumed message; 0 = 1 MiB */
        int64_t claim_idle_ms; /* streams: take over entries pending longer than this; 0 = 30000 */
        int max_deliveries;    /* dead-letter a message delivered this often (crash loops); 0 = 5 */
        int64_t connect_timeout_ms; /* 0 = 5000 */
        int64_t
            reconnect_max_ms; /* give up publishing after this long without a broker; 0 = 30000 */
        bool from_beginning;  /* new consumer group starts at the oldest entry (else: only new ones)
                               */
        int pending_max;      /* publishes in flight before waiting for confirmations; 0 = 1000 */
        const char *kafka_props; /* extra librdkafka "k=v,k=v" properties (SASL/TLS), may be NULL */
        volatile const int *stop; /* when non-NULL and set, retry sleeps end early (drain) */
        sl_bus_defer_fn *defer;   /* parks SL_BUS_NOT_READY messages; NULL: they are retried
                                     like a retriable error (then dead-lettered) */
        void *defer_opaque;
};

/*
 * Handler for one consumed event. env and msg are borrowed for the call.
 * Return 0 (done), -EEXIST (duplicate: done), -EBADMSG (poison: dead-letter
 * now), -EBUSY (nothing attempted, e.g. circuit open: the message waits),
 * SL_BUS_NOT_READY (a critical input is missing: parked through opts.defer
 * and handled again later with growing waits, dead-lettered only after
 * retry.not_ready_max_ms; call sl_bus_set_error() with what is missing), a
 * retriable error (retried with backoff, then dead-lettered) or another
 * negative errno (dead-lettered as SYSTEM after retries). The text of a
 * dead letter's dlq.error is redacted like log lines (registered secrets,
 * URI passwords, password=... in a DSN).
 */
typedef int sl_bus_handler_fn(const struct sl_envelope *env, const struct sl_bus_msg *msg,
                              void *opaque);

/*
 * Called by a handler before it returns an error: the text (printf-style) is
 * written into the dead letter's dlq.error (after the errno text) and the
 * retry log lines, so an operator sees the handler's own reason ("boxscore_v2:
 * PlayerStats[3]: PTS: expected an integer"), not just "Bad message". Applies
 * to the current handler call on the calling thread only.
 */
void sl_bus_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Opens the bus backend named by opts->backend. The returned bus must be
 * closed with sl_bus_close(). On failure returns NULL and writes a reason
 * into errstr. opts and its strings are copied.
 */
struct sl_bus *sl_bus_open(const struct sl_bus_opts *opts, char *errstr, size_t errstr_size);

/*
 * Publishes env to topic (full name). The envelope is serialized and copied:
 * the caller keeps ownership. key (may be NULL: the envelope's first entity
 * or its game_date is used) selects the Kafka partition.
 * Publishing is pipelined: 0 means accepted, not yet confirmed; call
 * sl_bus_flush() to wait for confirmation. Returns 0 or a negative errno.
 */
int sl_bus_publish(struct sl_bus *bus, const char *topic, const struct sl_envelope *env);

/*
 * Publishes raw bytes with optional headers (dead letters, replays, tests).
 * Same confirmation rules as sl_bus_publish().
 */
int sl_bus_publish_raw(struct sl_bus *bus, const char *topic, const char *key, const void *data,
                       size_t len, const struct sl_bus_header *headers, int n_headers);

/*
 * Waits until every accepted publish is confirmed by the broker, retrying
 * through reconnects. Returns 0, -ETIMEDOUT, or the error that made a
 * message undeliverable.
 */
int sl_bus_flush(struct sl_bus *bus, int64_t timeout_ms);

/*
 * Fetches at most one message (waiting up to timeout_ms), runs it through
 * handler with retries and dead-lettering, and acks it. Returns 1 if a
 * message was handled (acked), 0 if none came, or a negative errno for a
 * bus failure (retriable ones: keep polling, the client reconnects).
 */
int sl_bus_poll(struct sl_bus *bus, sl_bus_handler_fn *handler, void *opaque, int timeout_ms);

/*
 * Runs msg, one not fetched from the backend (a parked message handed out
 * again; msg->backend_ref NULL), through the same handling as sl_bus_poll():
 * parse, retries, dead-lettering, parking. Nothing is acked. Returns 0 when
 * msg is done (handled, duplicate or dead-lettered), SL_BUS_NOT_READY when
 * it was parked again, or a negative errno when it must wait (-EBUSY, -EINTR
 * while draining, a failed dead-letter publish).
 */
int sl_bus_dispatch(struct sl_bus *bus, const struct sl_bus_msg *msg, sl_bus_handler_fn *handler,
                    void *opaque);

/*
 * Dead-letters msg by hand, the way sl_bus_poll() does after its retries:
 * the original bytes go to "<topic>.dlq" with the error context as headers
 * (class from rc: SL_BUS_NOT_READY and retriable errors TRANSIENT, else
 * sl_err_classify(); attempts; first_ms, the wall clock of the first
 * failure, or 0 for now; reason, the error text, redacted), and the call
 * waits for the broker's confirmation. For work a service took over from
 * the bus and acked (statline-analytics' coalesced batches) that then fails
 * for good. Like the bus's own dead letters, a confirmed one is told to
 * opts.defer (op DEAD, with msg's envelope when it parses), so the service
 * runtime logs it under the event's run. Returns 0 once confirmed, -EINVAL,
 * or the publish error.
 */
int sl_bus_dead_letter(struct sl_bus *bus, const struct sl_bus_msg *msg, int rc, int attempts,
                       int64_t first_ms, const char *reason);

/*
 * Acknowledges msg: XACK for Streams, offset store for Kafka, no-op for
 * pubsub. sl_bus_poll() does this itself; for tools that fetch by hand.
 */
int sl_bus_ack(struct sl_bus *bus, const struct sl_bus_msg *msg);

/*
 * Stops consuming, flushes pending publishes and commits acks/offsets, within
 * timeout_ms. Returns 0 or -ETIMEDOUT. The bus can still be closed after.
 */
int sl_bus_drain(struct sl_bus *bus, int64_t timeout_ms);

/* Closes the bus and frees it. NULL is a no-op. Unflushed publishes are lost. */
void sl_bus_close(struct sl_bus *bus);

/* Backend name in use. */
const char *sl_bus_backend(const struct sl_bus *bus);

/*
 * Writes "<prefix>.<sport>.<phase>.completed" into out. Returns 0 or -ENAMETOOLONG.
 * prefix may be NULL ("statline").
 */
int sl_bus_topic(char *out, size_t out_size, const char *prefix, const char *sport,
                 const char *phase);
/* Dead-letter topic for topic: "<topic>.dlq". */
int sl_bus_dlq_topic(char *out, size_t out_size, const char *topic);

/* Counters since open, for /metrics and benches. */
struct sl_bus_stats {
        uint64_t published;       /* publishes accepted */
        uint64_t confirmed;       /* publishes confirmed by the broker */
        uint64_t publish_retries; /* publishes sent again after a reconnect */
        uint64_t consumed;        /* messages fetched */
        uint64_t handled;         /* handler returned 0 */
        uint64_t duplicates;      /* handler returned -EEXIST */
        uint64_t retries;         /* handler retries */
        uint64_t dead_lettered;
        uint64_t reconnects;
        uint64_t claimed; /* entries taken over from dead consumers */
        uint64_t parked;  /* SL_BUS_NOT_READY messages parked through opts.defer */
};
void sl_bus_get_stats(const struct sl_bus *bus, struct sl_bus_stats *out);

/* Dead-letter header names (Kafka headers / Streams fields). */
#define SL_DLQ_H_TOPIC     "dlq.original_topic"
#define SL_DLQ_H_PARTITION "dlq.original_partition"
#define SL_DLQ_H_OFFSET    "dlq.original_offset"
#define SL_DLQ_H_GROUP     "dlq.consumer_group"
#define SL_DLQ_H_SERVICE   "dlq.service"
#define SL_DLQ_H_ATTEMPTS  "dlq.attempts"
#define SL_DLQ_H_CLASS     "dlq.error_class"
#define SL_DLQ_H_ERROR     "dlq.error"
#define SL_DLQ_H_FIRST     "dlq.first_failure_at"
#define SL_DLQ_H_LAST      "dlq.last_failure_at"
#define SL_DLQ_H_KEY       "dlq.original_key"

#endif
