#ifndef SL_PHASE_H
#define SL_PHASE_H

/*
 * The plumbing every phase service (raw, analytics, precompute, prediction,
 * publishing) shares around its own computation:
 *
 *   BEGIN
 *     sl_phase_claim()          the idempotency key, -EEXIST when held already
 *     ... the service's upserts ...
 *     sl_phase_outbox_insert()  the child completion envelope into ops.outbox
 *     sl_phase_exec_log()       ops.pipeline_execution_log row(s)
 *   COMMIT                      (sl_phase_tx_end() rolls back on error)
 *   sl_phase_publish()          publish + flush, then mark the outbox row published
 *
 * A duplicate (-EEXIST from the claim) goes to sl_phase_replay(), which
 * publishes the stored event when a crash left it unpublished. A failed run
 * writes its "failed" row with sl_phase_exec_log() in its own statement
 * (autocommit) unless PostgreSQL is known to be down.
 *
 * The Redis fast path of the claim (option idem.redis): when a Redis server
 * is configured (the bus's own with a redis-* bus backend, or an explicit
 * host:port), sl_phase_publish() sets "<bus prefix>:idem:<database oid>:<key>"
 * (SET NX EX idem.redis_ttl_s) once the event is confirmed, i.e. after the
 * COMMIT that claimed the key; sl_phase_claim() first asks Redis (EXISTS) and
 * answers -EEXIST without its INSERT when the key is set. sl_phase_replay()
 * still reads the outbox row (an operator may have reset published_at to
 * have it sent again). PostgreSQL's claim stays the source of truth: a key missing in
 * Redis (expired, evicted, Redis restarted) falls through to the INSERT, and
 * a duplicate found there sets the Redis key again. A Redis error never fails
 * a call: the connection is dropped, retried after SL_PHASE_REDIS_RETRY_MS,
 * and until then only the shortcut is lost ("<phase>.idem.redis.error" logged
 * once per outage).
 *
 * Readiness: sl_phase_note_pg() marks /readyz not ready when a call lost the
 * PostgreSQL connection; sl_phase_tick() (from the service's tick) probes
 * PostgreSQL and clears it again (sl_phase_note_pg_up()).
 *
 * Log event names are "<phase>.pg.down", "<phase>.pg.up" and
 * "<phase>.outbox.mark.error" with the phase name given to sl_phase_open().
 *
 * Threads: one struct sl_phase per service loop (single-threaded).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sl/cfg.h>

struct sl_bus;
struct sl_http;
struct sl_pg;

#define SL_PHASE_NAME_MAX         32   /* bytes of a phase name, NUL included */
#define SL_PHASE_ERROR_MAX        1000 /* characters of an error_message in the execution log */
#define SL_PHASE_PROBE_UP_MS      5000 /* PostgreSQL probe spacing while it answers */
#define SL_PHASE_PROBE_DOWN_MS    1000 /* ... while it is down */
#define SL_PHASE_REDIS_TIMEOUT_MS 250  /* Redis connect / command timeout (fast path) */
#define SL_PHASE_REDIS_RETRY_MS   5000 /* reconnect spacing after a Redis error */

/* The options of SL_PHASE_OPTS, embedded in each phase service's config struct. */
struct sl_phase_cfg {
        const char *pg_dsn;        /* secret */
        const char *pg_migrations; /* directory of NNNN_name.sql */
        int pg_connect_timeout_ms; /* connect / reconnect wait */
        int publish_timeout_ms;    /* wait for the broker's confirmation of <phase>.completed */
        const char *idem_redis;    /* "auto" (NULL), "off" or host:port: claim fast path */
        int idem_redis_ttl_s;      /* lifetime of a fast-path key; 0 = 7 days */
};

/*
 * Option-table rows of the PostgreSQL options (pg.dsn, pg.migrations,
 * pg.connect_timeout_ms); c points to a struct sl_phase_cfg. migrations_ is
 * the default migrations directory (usually "db/migrations").
 */
#define SL_PHASE_PG_OPTS(c, migrations_)                                                           \
        SL_CFG_STR("pg.dsn", &(c)->pg_dsn, NULL, SL_CFG_REQUIRED | SL_CFG_SECRET | SL_CFG_SHARED,  \
                   "PostgreSQL connection string (libpq URI or key=value)"),                       \
            SL_CFG_STR("pg.migrations", &(c)->pg_migrations, migrations_,                          \
                       SL_CFG_REQUIRED | SL_CFG_SHARED,                                            \
                       "directory of the NNNN_name.sql migrations applied at start"),              \
            SL_CFG_INT("pg.connect_timeout_ms", &(c)->pg_connect_timeout_ms, 5000, 100, 600000,    \
                       SL_CFG_SHARED, "PostgreSQL connect timeout")

/*
 * The publish.timeout_ms row, then idem.redis and idem.redis_ttl_s (the
 * claim's Redis fast path); phase_ is a string literal ("raw") used in the
 * help text.
 */
#define SL_PHASE_PUBLISH_OPTS(c, phase_)                                                           \
        SL_CFG_INT("publish.timeout_ms", &(c)->publish_timeout_ms, 10000, 100, 600000, 0,          \
                   "wait for the broker to confirm " phase_ ".completed before acking"),           \
            SL_CFG_STR("idem.redis", &(c)->idem_redis, "auto", SL_CFG_SHARED,                      \
                       "idempotency fast path: auto (the bus's Redis with a redis-* bus), off, "   \
                       "or host:port"),                                                            \
            SL_CFG_INT("idem.redis_ttl_s", &(c)->idem_redis_ttl_s, 604800, 60, 31536000,           \
                       SL_CFG_SHARED, "lifetime of a fast-path idempotency key in Redis")

/*
 * All shared phase options, appended to a service's table after
 * SL_SVC_OPTS: SL_PHASE_OPTS(&cfg.phase, "precompute"). A service whose
 * table puts its own keys between them uses the two macros above.
 */
#define SL_PHASE_OPTS(c, phase_)                                                                   \
        SL_PHASE_PG_OPTS(c, "db/migrations"), SL_PHASE_PUBLISH_OPTS(c, phase_)

/* A phase service's shared runtime state (zero it before sl_phase_open()). */
struct sl_phase {
        char name[SL_PHASE_NAME_MAX];   /* "raw": ops.phase value and log event prefix */
        const struct sl_phase_cfg *cfg; /* borrowed, outlives the phase */
        struct sl_pg *pg;               /* owned */
        struct sl_bus *bus;             /* borrowed from the runtime */
        struct sl_http *http;           /* borrowed from the runtime, may be NULL */
        bool pg_down;                   /* last PostgreSQL call lost the connection: /readyz 503 */
        int64_t pg_probe_ms;            /* monotonic time of the last PostgreSQL probe */
        /* the claim's Redis fast path (see the file comment) */
        void *redis;      /* redisContext, owned; NULL: not connected */
        char *redis_host; /* owned; NULL: fast path off */
        int redis_port;
        char *redis_user;       /* owned, may be NULL */
        char *redis_pass;       /* owned, may be NULL; never logged */
        char *redis_prefix;     /* owned: "<bus prefix>:idem:<database oid>:" */
        int64_t redis_retry_ms; /* monotonic time before which no reconnect is tried */
        bool redis_warned;      /* the current outage was logged */
        uint64_t redis_hits;    /* claims answered by Redis */
        uint64_t redis_errors;  /* Redis failures (shortcut lost) */
};

/*
 * Sets up ph (name, cfg, bus, http), connects to cfg->pg_dsn and applies the
 * migrations of cfg->pg_migrations. Returns the number of migrations
 * applied (>= 0) or -errno with errstr set (-ECONNREFUSED: no connection).
 * ph->pg may be set on failure: sl_phase_close() frees it.
 */
int sl_phase_open(struct sl_phase *ph, const char *name, const struct sl_phase_cfg *cfg,
                  struct sl_bus *bus, struct sl_http *http, char *errstr, size_t errstr_size);

/* Closes the connections (PostgreSQL, Redis). Safe on a zeroed or failed ph, and twice. */
void sl_phase_close(struct sl_phase *ph);

/*
 * Records the result of a PostgreSQL call: -ECONNRESET (connection lost)
 * marks /readyz not ready ("pg: connection lost") and logs
 * "<phase>.pg.down" once; any other rc is ignored.
 */
void sl_phase_note_pg(struct sl_phase *ph, int rc);

/* PostgreSQL answered: clears what sl_phase_note_pg() set (logs "<phase>.pg.up" once). */
void sl_phase_note_pg_up(struct sl_phase *ph);

/*
 * The readiness probe, for the service's tick: every SL_PHASE_PROBE_UP_MS
 * (SL_PHASE_PROBE_DOWN_MS while down) runs SELECT 1 and updates the
 * readiness state. Always returns 0 (a down database is not fatal).
 */
int sl_phase_tick(struct sl_phase *ph);

/*
 * Claims the idempotency key in the open transaction: INSERT INTO
 * ops.idempotency_keys (key, phase, processor, correlation_id) ON CONFLICT
 * DO NOTHING. With the Redis fast path, a key set in Redis answers -EEXIST
 * first, without PostgreSQL. Returns 0 (claimed), -EEXIST (held already) or
 * -errno with errstr.
 */
int sl_phase_claim(struct sl_phase *ph, const char *key, const char *processor,
                   const char *correlation_id, char *errstr, size_t errstr_size);

/*
 * Stores the serialized completion event (event, NUL-terminated JSON) in
 * ops.outbox (topic, key = partition key, idempotency_key) in the open
 * transaction. Returns 0 or -errno with errstr; a row already there (a
 * unique violation) is -EAGAIN, since the claim should have prevented it.
 */
int sl_phase_outbox_insert(struct sl_phase *ph, const char *topic, const char *key,
                           const char *idem_key, const char *event, char *errstr,
                           size_t errstr_size);

/*
 * After COMMIT: publishes event (len bytes) to topic with partition key,
 * waits up to cfg->publish_timeout_ms for the broker (sl_bus_flush), then
 * marks the outbox row (topic, idem_key) published and sets idem_key in the
 * Redis fast path. Returns 0, the bus error with errstr "publish <topic>:
 * <reason>", or the PostgreSQL error of the mark with errstr "mark <topic>
 * published: <reason>" (logged as "<phase>.outbox.mark.error"): the event
 * is out, but the caller fails it anyway so that its redelivery, a
 * duplicate, publishes the row again through sl_phase_replay() and marks
 * it; a row left unpublished would read as pending for ever.
 */
int sl_phase_publish(struct sl_phase *ph, const char *topic, const char *key, const char *idem_key,
                     const char *event, size_t len, char *errstr, size_t errstr_size);

/*
 * The key was claimed before: reads the outbox row (topic, idem_key) and,
 * when it is still unpublished (a crash between COMMIT and the broker's
 * confirmation), publishes it with sl_phase_publish(). *event (freed
 * first, may be NULL) receives the stored event (caller frees), *len its
 * length. Returns 0 (re-published), -EEXIST (published before, or no row)
 * or -errno with errstr. A key found published is set in the Redis fast
 * path (it may have expired there).
 */
int sl_phase_replay(struct sl_phase *ph, const char *topic, const char *idem_key, char **event,
                    size_t *len, char *errstr, size_t errstr_size);

/*
 * Ends a transaction attempt: rc < 0 rolls back an open transaction and
 * (unless -EEXIST) feeds rc to sl_phase_note_pg(). Returns rc.
 */
int sl_phase_tx_end(struct sl_phase *ph, int rc);

/* One ops.pipeline_execution_log row. NULL strings are SQL NULL unless said otherwise. */
struct sl_phase_exec {
        const char *execution_id;   /* NULL: a fresh UUIDv7 */
        const char *correlation_id; /* required */
        const char *event_id;       /* the triggering event */
        const char *processor;      /* required, [a-z][a-z0-9_]* */
        const char *status;         /* completed | failed | skipped */
        int64_t started_wall_ms;    /* wall-clock start (ms since the epoch) */
        int64_t elapsed_ms;         /* completed_at = started + elapsed */
        int64_t duration_ms;        /* < 0: elapsed_ms */
        const char *deps_met;       /* "true" / "false"; NULL: not checked */
        const char *missing;        /* text[] literal "{a,b}"; NULL: '{}' */
        const char *skip_reason;
        const char *error;     /* cut to SL_PHASE_ERROR_MAX characters */
        int64_t rows;          /* rows_written; < 0: NULL */
        const char *entities;  /* jsonb array text; NULL: '[]' */
        const char *game_date; /* YYYY-MM-DD; NULL or "": NULL */
        const char *sport;     /* required */
};

#define SL_PHASE_EXEC_NPARAMS 17

/*
 * Pure: fills params[SL_PHASE_EXEC_NPARAMS] for sl_phase_exec_log()'s
 * INSERT from x, formatting the numbers and times into buf (the strings of
 * x are borrowed). execution_id must be set here (no UUID generated).
 * Returns 0, or -EINVAL when a required field is NULL.
 */
struct sl_phase_exec_buf {
        char started[25], completed[25], duration[24], rows[24];
};
int sl_phase_exec_params(const struct sl_phase_exec *x, const char *phase,
                         struct sl_phase_exec_buf *buf, const char **params);

/*
 * Writes x into ops.pipeline_execution_log with phase ph->name, in the open
 * transaction or autocommit. Returns 0 or -errno with errstr.
 */
int sl_phase_exec_log(struct sl_phase *ph, const struct sl_phase_exec *x, char *errstr,
                      size_t errstr_size);

/*
 * Pure: the envelope form of an entity list, [{"kind":kind,"id":ids[0]},
 * ...] (n may be 0: "[]"). Never NULL (aborts on OOM); caller frees.
 */
char *sl_phase_entities_json(const char *kind, const char *const *ids, size_t n);

#endif
