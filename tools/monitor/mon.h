#ifndef MON_H
#define MON_H

/*
 * statline-monitor internals (README.md): the data model of one snapshot,
 * the Burrow-style lag evaluator, the per-group/per-topic history that feeds
 * it, the collectors (Redis Streams, Kafka, PostgreSQL) and the renderers
 * (JSON, terminal table, Prometheus gauges, HTML page).
 *
 * Threads: everything here is used by the monitor's main loop only, except
 * mon_page_html() (static text) which the HTTP thread may call.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_buf;
struct cJSON;

/* ---- the lag evaluator (eval.c) --------------------------------------------- */

/*
 * Status of one consumer group on one topic, derived from a window of
 * samples without thresholds (Burrow's rules, see mon_evaluate()).
 */
enum mon_status {
        MON_UNKNOWN = -1, /* fewer than two samples with lag: no verdict yet */
        MON_OK = 0,       /* lag was zero at some point, or it is shrinking */
        MON_WARN = 1,     /* consuming, but the lag never shrank across the window */
        MON_STALL = 2,    /* consumers are there, offset does not move, lag exists */
        MON_STOP = 3,     /* the group stopped consuming/committing (no activity) with lag */
        MON_REWIND = 4,   /* the committed offset went backwards */
};

/* One observation of a group on a topic. */
struct mon_sample {
        int64_t t_ms;   /* wall-clock time of the observation */
        int64_t offset; /* committed position (Kafka: sum over partitions; Streams: entries
                           read minus pending); -1 = unknown */
        int64_t lag;    /* messages not yet handled; -1 = unknown */
        bool active;    /* the group showed life at this sample: a live member or consumer
                           interaction since the previous sample, or its offset moved */
};

/*
 * Evaluates samples s[0..n-1] (oldest first) at wall time now_ms. Rules,
 * first match wins (Burrow's evaluator, with "a commit" read as "an active
 * sample"):
 *   n < 2 or no sample with a known lag        -> UNKNOWN (OK if that lag is 0)
 *   the offset decreased between two samples   -> REWIND
 *   the lag was 0 in any sample                 -> OK
 *   no active sample, or now - last active >
 *     last active - first sample (activity
 *     stopped for longer than it was seen)      -> STOP
 *   the offset never changed in the window      -> STALL
 *   the offset moved but the lag never decreased
 *     between two samples (and grew overall)    -> WARN
 *   otherwise                                   -> OK
 * Samples with unknown offset or lag are skipped. Pure function.
 */
enum mon_status mon_evaluate(const struct mon_sample *s, size_t n, int64_t now_ms);

/* "OK", "WARN", "STALL", "STOP", "REWIND" or "UNKNOWN". Static string. */
const char *mon_status_name(enum mon_status st);

/* ---- one snapshot ------------------------------------------------------------ */

#define MON_NAME_MAX 256

/* A topic (Redis stream or Kafka topic) and its dead-letter topic. */
struct mon_topic {
        char name[MON_NAME_MAX];
        int64_t end_offset;  /* entries ever added (Streams) / sum of high watermarks (Kafka) */
        int64_t length;      /* entries stored now; -1 = unknown */
        bool exists;         /* false: only its .dlq exists */
        int64_t dlq_depth;   /* entries in <name>.dlq; 0 when absent */
        double publish_rate; /* messages/s over the window; -1 = not yet known */
        double dlq_growth;   /* dead letters added per minute over the window; -1 = unknown */
};

/* A consumer group on one topic. */
struct mon_group {
        char group[MON_NAME_MAX];
        char topic[MON_NAME_MAX];
        int64_t offset;          /* see struct mon_sample */
        int64_t lag;             /* messages not yet handled: undelivered + pending */
        int64_t undelivered;     /* never delivered to the group (Streams lag); Kafka: = lag */
        int64_t pending;         /* delivered, not acked (Streams); -1 on Kafka */
        int consumers;           /* registered consumers (Streams) / members (Kafka) */
        int active_consumers;    /* of those, seen since the previous sample */
        double lag_s;            /* age of the oldest unhandled message, s; -1 unknown */
        double oldest_pending_s; /* age of the oldest pending entry, s; -1 none/unknown */
        double consume_rate;     /* handled messages/s over the window; -1 unknown */
        enum mon_status status;  /* mon_evaluate() over the window */
        int window;              /* samples the status was derived from */
};

struct mon_phase {
        char phase[16];
        int64_t executions, completed, failed, skipped, running, partial;
        double avg_ms; /* -1 when no run finished */
};

/* A pipeline run (correlation id) without progress for a while. */
struct mon_stuck {
        char correlation_id[40];
        char phase[16];     /* the furthest phase it reached */
        char status[16];    /* that phase's latest status */
        char processor[64]; /* and processor */
        char game_date[16]; /* "" if none */
        int64_t failures;   /* failed rows of this run */
        int64_t idle_s;     /* seconds since its last activity */
};

struct mon_breaker {
        char service[64], dependency[64], state[16], forced[16];
        int64_t age_s; /* since updated_at */
};

struct mon_heartbeat {
        char service[64], instance[128];
        bool ready;
        int64_t age_s; /* since last_seen */
};

/* Everything one refresh collected. Arrays are heap-owned (mon_snapshot_fini). */
struct mon_snapshot {
        int64_t t_ms;        /* wall clock when the collection started */
        const char *backend; /* borrowed */
        const char *prefix;  /* borrowed */
        struct mon_topic *topics;
        size_t n_topics, cap_topics;
        struct mon_group *groups;
        size_t n_groups, cap_groups;
        char bus_error[512]; /* "" when the bus collection worked */

        bool pg_enabled;     /* pg.dsn configured */
        char pg_error[512];  /* "" when the PostgreSQL collection worked */
        int lookback_h;      /* pipeline look-back window */
        int stuck_after_min; /* stuck threshold */
        struct mon_phase *phases;
        size_t n_phases;
        struct mon_stuck *stuck;
        size_t n_stuck;
        int64_t stuck_total;                 /* stuck runs in all (the list is capped) */
        bool have_breakers, have_heartbeats; /* tables exist (migration 0011) */
        struct mon_breaker *breakers;
        size_t n_breakers;
        struct mon_heartbeat *heartbeats;
        size_t n_heartbeats;
};

/* Empties snap (frees its arrays); it can be filled again. NULL is a no-op. */
void mon_snapshot_fini(struct mon_snapshot *snap);

/*
 * Returns the topic called name, added (zeroed, length -1, rates -1) if new.
 * The pointer is valid until the next mon_snapshot_topic() call.
 */
struct mon_topic *mon_snapshot_topic(struct mon_snapshot *snap, const char *name);

/* Appends a zeroed group entry for (group, topic) with unknown values; same validity. */
struct mon_group *mon_snapshot_group(struct mon_snapshot *snap, const char *group,
                                     const char *topic);

/* ---- history and derived values (state.c) ------------------------------------ */

#define MON_HISTORY_MAX 120 /* samples kept per group / topic (chart and window) */

struct mon_state;

/* New empty history; window = samples the evaluator looks at (2..MON_HISTORY_MAX). */
struct mon_state *mon_state_new(int window);
/* Frees st. NULL is a no-op. */
void mon_state_free(struct mon_state *st);

/*
 * Records snap in the history and fills in its derived fields: each group's
 * sample (active when active_consumers > 0 or its offset moved since the
 * previous sample), status and window, consume_rate, and each topic's
 * publish_rate and dlq_growth (over the last `window` samples). Groups and
 * topics not seen for MON_HISTORY_MAX refreshes are forgotten.
 */
void mon_state_update(struct mon_state *st, struct mon_snapshot *snap);

/*
 * Appends the chart history as JSON: {"groups":{"<group> <topic>":
 * [[t_ms,lag,consume_rate],...]},"topics":{"<topic>":[[t_ms,publish_rate],...]}}.
 * Returns 0 or -E2BIG.
 */
int mon_state_history_json(const struct mon_state *st, struct sl_buf *out);

/* ---- collectors --------------------------------------------------------------- */

struct mon_bus_opts {
        const char *backend; /* "redis-streams", "redis-pubsub" or "kafka" */
        const char *url;
        const char *username, *password; /* may be "" */
        const char *prefix;
        const char *kafka_props; /* "k=v,k=v" or "" */
        int timeout_ms;
        int64_t active_ms; /* Streams, first refresh: a consumer idle less than this is live;
                              later: live = interacted since the previous refresh */
};

struct mon_redis;
/* Connects to Redis. NULL with errstr on failure. Close with mon_redis_close(). */
struct mon_redis *mon_redis_open(const struct mon_bus_opts *o, char *errstr, size_t errstr_size);
void mon_redis_close(struct mon_redis *r);
/*
 * Adds every <prefix>.* stream to snap: topics (XINFO STREAM), groups
 * (XINFO GROUPS / CONSUMERS, XPENDING, XRANGE for the oldest undelivered
 * entry) and dead-letter depths (XLEN of *.dlq). Reconnects on a broken
 * connection. Returns 0 or a negative errno with errstr.
 */
int mon_redis_collect(struct mon_redis *r, struct mon_snapshot *snap, char *errstr,
                      size_t errstr_size);

struct mon_kafka;
/* Creates the Kafka client (admin + metadata). NULL with errstr on failure. */
struct mon_kafka *mon_kafka_open(const struct mon_bus_opts *o, char *errstr, size_t errstr_size);
void mon_kafka_close(struct mon_kafka *k);
/*
 * Adds every <prefix>.* topic: watermarks, every consumer group known to the
 * brokers (also those without members) with its committed offsets
 * (ListConsumerGroupOffsets), lag per topic, and the age of the oldest
 * unconsumed message (its timestamp, read at the committed offset).
 */
int mon_kafka_collect(struct mon_kafka *k, struct mon_snapshot *snap, char *errstr,
                      size_t errstr_size);

struct sl_pg;
/*
 * Fills the pipeline part of snap from ops.pipeline_execution_log (per-phase
 * breakdown and stuck runs over snap->lookback_h / snap->stuck_after_min)
 * and the services part from ops.circuit_breakers / ops.service_heartbeat
 * when those tables exist. Returns 0 or a negative errno with errstr.
 */
int mon_pg_collect(struct sl_pg *pg, struct mon_snapshot *snap, char *errstr, size_t errstr_size);

/* ---- alerts (alerts.c) ------------------------------------------------------- */

struct sl_alert;

struct mon_alert_opts {
        int failures;            /* failed runs of one (phase, processor) that alert; 0 = off */
        int failures_window_min; /* ... within this many minutes */
        int64_t dlq_depth;       /* dead letters in one <topic>.dlq that alert; 0 = off */
};

struct mon_alert_counts {
        uint64_t checks;   /* mon_alerts_check() calls */
        uint64_t raised;   /* conditions that appeared (alert raised) */
        uint64_t resolved; /* conditions that cleared (resolve sent) */
        size_t active;     /* conditions holding now */
};

struct mon_alerts;

/*
 * The alert checks, posting through alert (borrowed, outlives the result;
 * service name "monitor"). Keys: "pipeline.stuck:<correlation_id>"
 * (warning; every stuck run of the snapshot), "pipeline.failures:<phase>:
 * <processor>" (critical; at least o->failures failed rows in the last
 * o->failures_window_min minutes), "dlq.depth:<topic>" (warning; depth >=
 * o->dlq_depth). Free with mon_alerts_free().
 */
struct mon_alerts *mon_alerts_new(struct sl_alert *alert, const struct mon_alert_opts *o);
/* Frees a. NULL is a no-op. */
void mon_alerts_free(struct mon_alerts *a);

/*
 * One check against snap (and pg, for the failure query; NULL or a snap
 * without pg skips the pipeline checks). A condition seen for the first
 * time is raised (sl_alert_raise) once; one that held at the previous check
 * and no longer does is resolved (sl_alert_resolve) once. A source that
 * could not be read (snap->pg_error, snap->bus_error, the failure query)
 * resolves nothing of its kind. Returns 0, or the failure query's -errno
 * with errstr (the other checks still ran).
 */
int mon_alerts_check(struct mon_alerts *a, const struct mon_snapshot *snap, struct sl_pg *pg,
                     char *errstr, size_t errstr_size);

/* Counters since mon_alerts_new(). */
void mon_alerts_get_counts(const struct mon_alerts *a, struct mon_alert_counts *out);

/* ---- renderers (render.c, page.c) ------------------------------------------- */

/*
 * The snapshot as a JSON object (see README.md "JSON"), owned by the caller
 * (cJSON_Delete).
 */
struct cJSON *mon_snapshot_json(const struct mon_snapshot *snap);

/*
 * The terminal view: plain text tables, width-limited to cols columns.
 * ansi adds bold headers and status colours. Returns 0 or -E2BIG.
 */
int mon_render_text(const struct mon_snapshot *snap, struct sl_buf *out, bool ansi, int cols);

/* Sets the Prometheus gauges (sl_monitor_*) from snap. */
void mon_metrics_update(const struct mon_snapshot *snap);

/*
 * The status page (HTML with inline JS and SVG, no external resources).
 * It renders /api/status and fetches it again every refresh_ms.
 * Returns 0 or -E2BIG.
 */
int mon_page_html(struct sl_buf *out, int refresh_ms);

#endif
