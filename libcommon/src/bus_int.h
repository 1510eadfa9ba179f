#ifndef SL_BUS_INT_H
#define SL_BUS_INT_H

/*
 * PRIVATE to libcommon: the backend interface behind sl/bus.h. bus.c owns the
 * generic parts (envelope parsing, retries, dead-lettering, acking, stats);
 * a backend only moves bytes.
 */

#include <sl/bus.h>

#include "sl_config.h"

struct sl_bus_ops {
        const char *name;
        /* Connects; stores private state in bus->impl. 0 or -errno with errstr. */
        int (*open)(struct sl_bus *bus, char *errstr, size_t errstr_size);
        /*
         * Accepts one record for publishing. May pipeline: the record must be
         * kept (copied) until confirmed, and sent again after a reconnect. Returns
         * 0 or -errno. Must not lose an accepted record silently: a record that
         * can't be delivered makes the next flush() fail.
         */
        int (*publish)(struct sl_bus *bus, const char *topic, const char *key, const void *data,
                       size_t len, const struct sl_bus_header *headers, int n_headers);
        /* Waits for confirmation of every accepted record. 0, -ETIMEDOUT, -errno. */
        int (*flush)(struct sl_bus *bus, int64_t timeout_ms);
        /*
         * Fetches the next message of a subscribed topic into *msg (all fields;
         * data NUL-terminated; partition/offset -1 when not Kafka). Returns 1 (got
         * one; call release() when done), 0 (none within timeout_ms) or -errno.
         * A message bigger than opts.max_msg_bytes is still returned (bus.c
         * dead-letters it): backends must not drop it.
         */
        int (*fetch)(struct sl_bus *bus, struct sl_bus_msg *msg, int timeout_ms);
        /* Marks msg done (XACK / offset store). */
        int (*ack)(struct sl_bus *bus, const struct sl_bus_msg *msg);
        /*
         * msg could not be finished (drain mid-retry, dead-letter publish failed):
         * arrange for redelivery (Kafka: seek back). May be NULL.
         */
        int (*nack)(struct sl_bus *bus, const struct sl_bus_msg *msg);
        /* Frees what fetch() allocated for msg. */
        void (*release)(struct sl_bus *bus, struct sl_bus_msg *msg);
        /* Stop fetching, flush, commit. */
        int (*drain)(struct sl_bus *bus, int64_t timeout_ms);
        /* Frees bus->impl. */
        void (*close)(struct sl_bus *bus);
};

struct sl_bus {
        const struct sl_bus_ops *ops;
        struct sl_bus_opts opts;             /* strings point into owned copies; defaults applied */
        int n_topics;                        /* entries in opts.topics */
        char *owned[SL_BUS_MAX_TOPICS + 16]; /* heap copies of option strings */
        int n_owned;
        void *impl; /* backend state */
        struct sl_bus_stats stats;
        bool draining; /* set by sl_bus_drain(): fetch no more */
};

extern const struct sl_bus_ops sl_bus_mem_ops;
extern const struct sl_bus_ops sl_bus_redis_streams_ops;
extern const struct sl_bus_ops sl_bus_redis_pubsub_ops;
#if SL_HAVE_KAFKA
extern const struct sl_bus_ops sl_bus_kafka_ops;
#endif

/* For the mem backend in unit tests: forget all topics and groups. */
void sl_bus_mem_reset(void);
/* For the mem backend in unit tests: make the next count publishes fail with rc. */
void sl_bus_mem_inject_publish_errors(int count, int rc);

#endif
