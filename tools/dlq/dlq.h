#ifndef SL_DLQ_TOOL_H
#define SL_DLQ_TOOL_H

/*
 * statline-dlq internals (tools/dlq/README.md).
 *
 *   dlq_core.c   pure: letters, filters, times, rate pacing, replay bytes, JSON
 *   dlq_store.c  reading and removing dead letters: Redis (hiredis) and Kafka
 *                (librdkafka), independent of the bus consume path
 *   dlq_db.c     PostgreSQL: ops.dlq_audit, ops.dlq_resolved, ops.outbox
 *
 * A dead letter's id is "<dlq topic>/<entry>": the entry is the stream entry id
 * on Redis ("1732400000000-0") and "<partition>:<offset>" on Kafka.
 *
 * Threads: single-threaded tool; nothing here locks.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct sl_envelope;
struct sl_pg;

#define DLQ_MAX_HEADERS 32
#define DLQ_ID_MAX      512

/* One dead letter as read from the broker. All strings owned; free with dlq_letter_free(). */
struct dlq_letter {
        char id[DLQ_ID_MAX]; /* "<dlq topic>/<entry>" */
        char *dlq_topic;     /* "<original topic>.dlq" */
        char *entry;         /* stream entry id, or "<partition>:<offset>" */
        char *origin;        /* original topic (set by dlq_letter_finish()) */
        int32_t partition;   /* Kafka partition, -1 on Redis */
        int64_t offset;      /* Kafka offset, -1 on Redis */
        char *key;           /* message key, may be NULL */
        char *data;          /* the original bytes, NUL-terminated */
        size_t len;          /* bytes in data */
        char *hname[DLQ_MAX_HEADERS];
        char *hvalue[DLQ_MAX_HEADERS];
        int n_headers;
        int64_t failed_ms;       /* dlq.last_failure_at, else the broker's time; 0 unknown */
        struct sl_envelope *env; /* parsed data; NULL for poison (unparseable) */
        char parse_error[160];   /* why env is NULL */
};

/* Allocates an empty letter (partition -1, offset -1). */
struct dlq_letter *dlq_letter_new(void);
/* Frees l and all it owns; NULL is a no-op. */
void dlq_letter_free(struct dlq_letter *l);
/* Appends a header (copied); silently ignores headers past DLQ_MAX_HEADERS. */
void dlq_letter_add_header(struct dlq_letter *l, const char *name, const char *value, size_t vlen);
/* Value of header name (borrowed from l), or NULL. */
const char *dlq_letter_header(const struct dlq_letter *l, const char *name);
/*
 * Completes a letter after the store filled topic, entry, data and headers:
 * builds the id, parses the envelope and sets failed_ms from
 * dlq.last_failure_at (else fallback_ms). Returns 0 or -ENAMETOOLONG.
 */
int dlq_letter_finish(struct dlq_letter *l, int64_t fallback_ms);
/* The original topic: dlq.original_topic, else dlq_topic without ".dlq". Borrowed from l. */
const char *dlq_letter_origin(const struct dlq_letter *l);

/* Filters of list/stats/replay/purge. NULL / 0 fields match everything. Strings borrowed. */
struct dlq_filter {
        const char *topic;          /* fnmatch glob against the original or the DLQ topic */
        const char *service;        /* dlq.service */
        const char *error_class;    /* dlq.error_class, case-insensitive */
        const char *type;           /* envelope type (glob) */
        const char *sport;          /* envelope sport */
        const char *correlation_id; /* envelope correlation_id */
        const char *id;             /* exactly this letter */
        int64_t since_ms;           /* failed at or after (0: open) */
        int64_t until_ms;           /* failed before (0: open) */
};

/* True when l passes every set criterion (poison never passes type/sport/correlation). */
bool dlq_filter_match(const struct dlq_filter *f, const struct dlq_letter *l);

/*
 * The filter as a JSON object of its set fields (times as RFC 3339), for the
 * audit row and --json. Caller deletes.
 */
struct cJSON *dlq_filter_json(const struct dlq_filter *f);

/*
 * Parses "YYYY-MM-DD" (midnight UTC; with end_of_day the next midnight, so
 * --until 2026-11-23 includes that whole day) or an RFC 3339 UTC time.
 * Returns 0 or -EINVAL.
 */
int dlq_parse_time(const char *s, bool end_of_day, int64_t *wall_ms);

/* Parses a rate "N", "N/s" (0.01..100000 per second). Returns 0 or -EINVAL. */
int dlq_parse_rate(const char *s, double *per_s);

/*
 * Rate pacing: the earliest monotonic time (ms) at which message i (0-based)
 * of a run that started at start_ms may be sent at per_s messages a second
 * (per_s <= 0: no limit, returns start_ms). So n messages take at least
 * (n - 1) / per_s seconds.
 */
int64_t dlq_pace_at_ms(int64_t start_ms, uint64_t i, double per_s);

/* Age bucket of a letter that failed at failed_ms: "<1h", "1h-24h", "1d-7d", ">7d", "unknown". */
const char *dlq_age_bucket(int64_t now_ms, int64_t failed_ms);

/*
 * The bytes to replay: the envelope of l with replay_count + 1, same
 * event_id and everything else unchanged. Returns a heap string (free())
 * and its length, or NULL when l is poison (no envelope).
 */
char *dlq_replay_bytes(const struct dlq_letter *l, size_t *len);

/*
 * A fresh copy of a stored completion event, for replay-from-phase: new
 * event_id, causation_id = the stored event's id, correlation_id =
 * correlation (a UUID), idempotency_key = "<stored key or event_id>:rerun:<tag>",
 * produced_at now, replay_count 0. Returns a new envelope (caller frees) or
 * NULL if the key would be too long or correlation is not a UUID.
 */
struct sl_envelope *dlq_rerun_copy(const struct sl_envelope *stored, const char *correlation,
                                   const char *tag);

/*
 * The phase whose completion events trigger phase ("analytics" -> "raw"), or
 * NULL when phase is unknown or is the first one ("scraper").
 */
const char *dlq_upstream_phase(const char *phase);

/*
 * JSON form of a letter: id, topics, key, headers (object), failed_at, and
 * either the envelope summary (event_id, type, sport, correlation_id,
 * game_date, replay_count) or parse_error; with full, also the whole
 * envelope (parsed) or the raw data as a string. Caller deletes.
 */
struct cJSON *dlq_letter_json(const struct dlq_letter *l, bool full);

/* ---- dlq_store.c ------------------------------------------------------------------------- */

struct dlq_store;

/* Connection settings of the store (strings borrowed for the store's life). */
struct dlq_store_opts {
        const char *backend;     /* "redis-streams", "redis-pubsub" or "kafka" */
        const char *url;         /* Redis host:port or Kafka bootstrap servers */
        const char *username;    /* may be "" */
        const char *password;    /* may be "" */
        const char *prefix;      /* topic prefix: DLQ topics are "<prefix>.*.dlq" */
        const char *kafka_props; /* "k=v,k=v", may be "" */
        int timeout_ms;          /* connect / read bound */
        struct sl_pg *pg;        /* Kafka: ops.dlq_resolved (required); Redis: unused */
};

/*
 * Called for each letter; l is owned by the callee (free it, or keep it).
 * Returns 0 to go on, 1 to stop early, or -errno to stop with that error.
 */
typedef int dlq_letter_fn(struct dlq_letter *l, void *opaque);

/* Connects. Returns a store (dlq_store_close()) or NULL with errstr. */
struct dlq_store *dlq_store_open(const struct dlq_store_opts *opts, char *errstr,
                                 size_t errstr_size);
/* Closes; NULL is a no-op. */
void dlq_store_close(struct dlq_store *st);

/*
 * Calls fn for every live dead letter (Kafka: not in ops.dlq_resolved) of
 * every DLQ topic under the prefix, oldest first per topic, topics in name
 * order. Returns 0, or -errno with errstr (including fn's error).
 */
int dlq_store_scan(struct dlq_store *st, dlq_letter_fn *fn, void *opaque, char *errstr,
                   size_t errstr_size);

/* Fetches one letter by id. Returns 0 and *out, -ENOENT (absent or resolved) or -errno. */
int dlq_store_get(struct dlq_store *st, const char *id, struct dlq_letter **out, char *errstr,
                  size_t errstr_size);

/*
 * Takes l out of the DLQ: XDEL on Redis; on Kafka (which cannot delete) a row
 * in ops.dlq_resolved (action "replayed" or "purged", audit_id). Returns 0
 * (also when it was gone already) or -errno with errstr.
 */
int dlq_store_remove(struct dlq_store *st, const struct dlq_letter *l, const char *action,
                     int64_t audit_id, char *errstr, size_t errstr_size);

/*
 * Redis: subscribers on Pub/Sub channel (PUBSUB NUMSUB), so a replay on
 * redis-pubsub (at-most-once) can refuse to publish into the void. Returns
 * the count, -ENOTSUP on Kafka, or -errno with errstr.
 */
int dlq_store_subscribers(struct dlq_store *st, const char *channel, char *errstr,
                          size_t errstr_size);

/* ---- dlq_db.c ---------------------------------------------------------------------------- */

/* Counts of a replay/purge run, written to ops.dlq_audit. */
struct dlq_counts {
        int64_t matched, done, skipped, failed;
};

/*
 * Inserts the ops.dlq_audit row of a run (result "running") and returns its
 * id in *id. filter_json is the JSON text of the filter and options. Returns
 * 0 or -errno with errstr.
 */
int dlq_db_audit_start(struct sl_pg *pg, const char *command, const char *backend, bool dry_run,
                       const char *filter_json, int64_t *id, char *errstr, size_t errstr_size);
/* Finishes audit row id with counts, result (ok, partial, interrupted, failed, dry-run, aborted)
 * and error (may be NULL). Returns 0 or -errno with errstr. */
int dlq_db_audit_finish(struct sl_pg *pg, int64_t id, const struct dlq_counts *c,
                        const char *result, const char *error, char *errstr, size_t errstr_size);

/* Records a Kafka dead letter as resolved (idempotent). Returns 0 or -errno with errstr. */
int dlq_db_resolve(struct sl_pg *pg, const char *topic, int32_t partition, int64_t offset,
                   const char *action, const char *event_id, int64_t audit_id, char *errstr,
                   size_t errstr_size);

/*
 * The resolved offsets of (topic, partition), sorted ascending, in a heap
 * array *out (free()) of *n. Returns 0 or -errno with errstr.
 */
int dlq_db_resolved(struct sl_pg *pg, const char *topic, int32_t partition, int64_t **out,
                    size_t *n, char *errstr, size_t errstr_size);

/* One stored completion event from ops.outbox. */
struct dlq_outbox_row {
        int64_t id;
        char *topic, *key, *event; /* owned */
};

/*
 * The ops.outbox events of topic whose envelope game_date is date (and
 * correlation_id is correlation, when not NULL), in publish order, into a
 * heap array *rows of *n (free with dlq_db_outbox_free()). Returns 0 or
 * -errno with errstr.
 */
int dlq_db_outbox(struct sl_pg *pg, const char *topic, const char *date, const char *correlation,
                  struct dlq_outbox_row **rows, size_t *n, char *errstr, size_t errstr_size);
/* Frees what dlq_db_outbox() returned. */
void dlq_db_outbox_free(struct dlq_outbox_row *rows, size_t n);

#endif
