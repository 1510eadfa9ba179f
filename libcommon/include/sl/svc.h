#ifndef SL_SVC_H
#define SL_SVC_H

/*
 * The service runtime every phase binary shares (STYLE B9): config loading
 * (exit 78 on bad config), logging, signals, the health/metrics endpoint, the
 * bus, the poll loop and the drain on SIGTERM. A service's main.c declares
 * its option table (starting with SL_SVC_OPTS), fills a struct sl_svc_def
 * and returns sl_svc_main(). Handlers, init and tick are the service's own.
 *
 * Drain: the first SIGTERM/SIGINT sets a flag the loop checks every
 * poll.timeout_ms; /readyz goes 503, the bus stops fetching, the in-flight
 * handler finishes (a retry wait is cut short and the message released for
 * redelivery), publishes are flushed and acks/offsets committed, exit 0. A
 * second signal exits at once (128 + signal).
 *
 * Reliability (docs/reliability.md): the runtime keeps a circuit breaker
 * (sl/cb.h) per dependency it knows, "pg" and "bus" for a consuming service,
 * shared by all replicas through ops.circuit_breakers (read through a
 * cb.cache_ttl_ms cache, transitions written at once) when the option table
 * has a pg.dsn. The "pg" breaker is fed by the handler's outcomes (a
 * retriable error is a failure, unless the handler blamed another
 * dependency with sl_svc_blame()); the "bus" breaker by sl_bus_poll(). While
 * "pg" is open the handler is not called and the message waits (-EBUSY:
 * nacked, not dead-lettered); while "bus" is open the loop does not poll.
 * Each transition is logged (cb.state.open|half_open|closed), exported
 * (statline_circuit_state{dependency} 0 closed / 1 open / 2 half-open,
 * statline_circuit_transitions_total{dependency,to}), marks /readyz 503
 * while open and raises an alert on opening (sl/alert.h, alert.webhook_url).
 * Dead-lettered messages raise a "dlq.growth" alert. Every
 * heartbeat.interval_ms the runtime upserts its ops.service_heartbeat row.
 *
 * Not ready (SL_BUS_NOT_READY, sl/bus.h): with a pg.dsn the runtime parks
 * such a message in ops.deferred_events (sl/defer.h) and acks it; the loop
 * hands due rows to the handler again after retry.not_ready_delays_ms
 * (5 s, 10 s, 30 s, 60 s, then every 300 s) until it is done or has waited
 * retry.not_ready_max_ms (6 h): then it is dead-lettered with "dependency
 * not ready after N s: <what is missing>". PostgreSQL unreachable: the
 * message waits (-EBUSY). Without a pg.dsn it is an ordinary retriable error.
 *
 * Handler timeout (handler.timeout_ms, 120 s): every PostgreSQL connection
 * the service opens after startup gets statement_timeout = the timeout
 * (PGOPTIONS), so a query running past it fails into the retry path. A
 * watchdog thread logs svc.handler.timeout (topic, id), marks /readyz 503 and
 * counts statline_handler_timeouts_total when a handler call runs past it;
 * past twice the timeout the process exits 70 without acking (the message
 * is redelivered after the restart, or to another replica).
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <sl/bus.h>
#include <sl/cfg.h>

#define SL_SVC_MAX_SPORTS 16

/* Options every service has; filled by sl_cfg_load() through SL_SVC_OPTS. */
struct sl_svc_cfg {
        const char *bus_backend;         /* "redis-streams", "redis-pubsub", "kafka" */
        const char *bus_url;             /* host:port / bootstrap list */
        const char *bus_username;        /* may be empty */
        const char *bus_password;        /* secret, may be empty */
        const char *bus_prefix;          /* topic prefix */
        const char *bus_group;           /* consumer group; empty = service name */
        const char *bus_kafka_props;     /* extra librdkafka k=v,k=v */
        const char *sports;              /* comma-separated sports consumed: "nba,nhl" */
        const char *health_addr;         /* "127.0.0.1:0" */
        const char *log_level;           /* debug|info|warn|error */
        const char *retry_delays_ms;     /* "2000,5000,10000" */
        int retry_attempts;              /* handler calls before dead-lettering */
        int drain_timeout_ms;            /* SIGTERM to exit, at most */
        int poll_timeout_ms;             /* bounds signal latency */
        int64_t claim_idle_ms;           /* streams: take over entries idle this long */
        int max_deliveries;              /* dead-letter after this many deliveries */
        bool cb_enabled;                 /* runtime breakers on */
        const char *cb_window;           /* "count" | "time" */
        int cb_window_size;              /* calls or seconds */
        int cb_min_calls;                /* outcomes before rates count */
        int cb_failure_rate_pct;         /* open at this failure rate */
        int cb_slow_rate_pct;            /* open at this slow-call rate */
        int cb_slow_call_ms;             /* a handler call this long is slow */
        int cb_open_ms;                  /* OPEN before HALF_OPEN */
        int cb_half_open_calls;          /* probes in HALF_OPEN */
        int cb_cache_ttl_ms;             /* shared-state cache lifetime */
        const char *alert_webhook_url;   /* "" = alerts only logged */
        int alert_dedup_window_ms;       /* same alert key again within this: dropped */
        int alert_max_per_minute;        /* alerts posted in any minute */
        int alert_timeout_ms;            /* bound on one POST */
        int heartbeat_interval_ms;       /* ops.service_heartbeat upsert spacing */
        const char *not_ready_delays_ms; /* waits between not-ready re-dispatches */
        int64_t not_ready_max_ms;        /* total not-ready wait before the DLQ */
        int handler_timeout_ms;          /* watchdog + statement_timeout; 0 = off */
};

/* The shared entries of a service's option table; c is a struct sl_svc_cfg *. */
#define SL_SVC_OPTS(c)                                                                             \
        SL_CFG_ENUM("bus.backend", &(c)->bus_backend, "redis-streams",                             \
                    "redis-streams|redis-pubsub|kafka|mem", SL_CFG_SHARED,                         \
                    "message bus backend (redis-pubsub: at-most-once; mem: tests only)"),          \
            SL_CFG_STR("bus.url", &(c)->bus_url, "127.0.0.1:6379", SL_CFG_SHARED,                  \
                       "Redis host:port, or Kafka bootstrap servers"),                             \
            SL_CFG_STR("bus.username", &(c)->bus_username, "", SL_CFG_SHARED,                      \
                       "Redis ACL user / Kafka SASL user"),                                        \
            SL_CFG_STR("bus.password", &(c)->bus_password, "", SL_CFG_SHARED | SL_CFG_SECRET,      \
                       "Redis / Kafka SASL password"),                                             \
            SL_CFG_STR("bus.prefix", &(c)->bus_prefix, "statline", SL_CFG_SHARED,                  \
                       "topic prefix: <prefix>.<sport>.<phase>.completed"),                        \
            SL_CFG_STR("bus.group", &(c)->bus_group, "", 0,                                        \
                       "consumer group (empty: the service name)"),                                \
            SL_CFG_STR("bus.kafka_props", &(c)->bus_kafka_props, "",                               \
                       SL_CFG_SHARED | SL_CFG_SECRET,                                              \
                       "extra librdkafka properties k=v,k=v (SASL/TLS)"),                          \
            SL_CFG_STR("sports", &(c)->sports, "nba", SL_CFG_SHARED,                               \
                       "comma-separated sports whose events this service consumes"),               \
            SL_CFG_STR("health.addr", &(c)->health_addr, "127.0.0.1:0", 0,                         \
                       "address of /healthz /readyz /metrics (port 0: any free port)"),            \
            SL_CFG_ENUM("log.level", &(c)->log_level, "info", "debug|info|warn|error",             \
                        SL_CFG_SHARED, "minimum log level"),                                       \
            SL_CFG_STR("retry.delays_ms", &(c)->retry_delays_ms, "2000,5000,10000", SL_CFG_SHARED, \
                       "waits between handler retries, ms"),                                       \
            SL_CFG_INT("retry.attempts", &(c)->retry_attempts, 3, 1, 100, SL_CFG_SHARED,           \
                       "handler calls before a message is dead-lettered"),                         \
            SL_CFG_INT("drain.timeout_ms", &(c)->drain_timeout_ms, 8000, 100, 600000, 0,           \
                       "SIGTERM to exit at most (keep under the orchestrator's grace period)"),    \
            SL_CFG_INT("poll.timeout_ms", &(c)->poll_timeout_ms, 100, 1, 10000, 0,                 \
                       "longest wait for an event; bounds signal latency"),                        \
            SL_CFG_INT("bus.claim_idle_ms", &(c)->claim_idle_ms, 30000, 100, 86400000,             \
                       SL_CFG_SHARED, "streams: take over entries pending this long"),             \
            SL_CFG_INT("bus.max_deliveries", &(c)->max_deliveries, 5, 1, 1000, SL_CFG_SHARED,      \
                       "dead-letter a message delivered this often (crash loops)"),                \
            SL_CFG_BOOL("cb.enabled", &(c)->cb_enabled, true, SL_CFG_SHARED,                       \
                        "circuit breakers on the runtime's dependencies (pg, bus)"),               \
            SL_CFG_ENUM("cb.window", &(c)->cb_window, "count", "count|time", SL_CFG_SHARED,        \
                        "breaker window: the last N calls, or the calls of the last N seconds"),   \
            SL_CFG_INT("cb.window_size", &(c)->cb_window_size, 20, 1, 1000, SL_CFG_SHARED,         \
                       "breaker window size N (calls or seconds)"),                                \
            SL_CFG_INT("cb.min_calls", &(c)->cb_min_calls, 5, 1, 1000, SL_CFG_SHARED,              \
                       "calls in the window before its rates can open a breaker"),                 \
            SL_CFG_INT("cb.failure_rate_pct", &(c)->cb_failure_rate_pct, 50, 1, 100,               \
                       SL_CFG_SHARED, "open a breaker at this failure rate (%)"),                  \
            SL_CFG_INT("cb.slow_rate_pct", &(c)->cb_slow_rate_pct, 100, 1, 100, SL_CFG_SHARED,     \
                       "open a breaker at this slow-call rate (%)"),                               \
            SL_CFG_INT("cb.slow_call_ms", &(c)->cb_slow_call_ms, 60000, 1, 3600000, SL_CFG_SHARED, \
                       "a call at least this long counts as slow"),                                \
            SL_CFG_INT("cb.open_ms", &(c)->cb_open_ms, 30000, 100, 3600000, SL_CFG_SHARED,         \
                       "an open breaker waits this long before probing (half-open)"),              \
            SL_CFG_INT("cb.half_open_calls", &(c)->cb_half_open_calls, 3, 1, 100, SL_CFG_SHARED,   \
                       "probe calls a half-open breaker lets through"),                            \
            SL_CFG_INT("cb.cache_ttl_ms", &(c)->cb_cache_ttl_ms, 30000, 100, 3600000,              \
                       SL_CFG_SHARED, "re-read the shared breaker state this often"),              \
            SL_CFG_STR("alert.webhook_url", &(c)->alert_webhook_url, "",                           \
                       SL_CFG_SHARED | SL_CFG_SECRET,                                              \
                       "webhook for JSON alerts (Slack-compatible); empty: alerts only logged"),   \
            SL_CFG_INT("alert.dedup_window_ms", &(c)->alert_dedup_window_ms, 300000, 0, 86400000,  \
                       SL_CFG_SHARED, "drop an alert whose key was sent this recently"),           \
            SL_CFG_INT("alert.max_per_minute", &(c)->alert_max_per_minute, 10, 1, 1000,            \
                       SL_CFG_SHARED, "alerts posted in any minute, at most"),                     \
            SL_CFG_INT("alert.timeout_ms", &(c)->alert_timeout_ms, 2000, 100, 60000,               \
                       SL_CFG_SHARED, "longest wait for the webhook (connect included)"),          \
            SL_CFG_INT("heartbeat.interval_ms", &(c)->heartbeat_interval_ms, 5000, 100, 600000,    \
                       SL_CFG_SHARED, "ops.service_heartbeat upsert spacing"),                     \
            SL_CFG_STR("retry.not_ready_delays_ms", &(c)->not_ready_delays_ms,                     \
                       "5000,10000,30000,60000,300000", SL_CFG_SHARED,                             \
                       "waits before a not-ready message is handled again, ms (last repeats)"),    \
            SL_CFG_INT("retry.not_ready_max_ms", &(c)->not_ready_max_ms, INT64_C(21600000), 1,     \
                       INT64_C(2592000000), SL_CFG_SHARED,                                         \
                       "a message not ready this long after it was first parked: DLQ"),            \
            SL_CFG_INT("handler.timeout_ms", &(c)->handler_timeout_ms, 120000, 0, 86400000,        \
                       SL_CFG_SHARED,                                                              \
                       "handler call limit: PostgreSQL statement_timeout, readiness 503 past it, " \
                       "exit without ack past twice it (0: off)")

struct sl_svc;
struct sl_http;
struct sl_cb;
struct sl_cb_opts;
struct sl_alert;

/* What a service plugs into the runtime. Borrowed for the whole run. */
struct sl_svc_def {
        const char *name;              /* "raw": log svc, env prefix STATLINE_RAW_, group default */
        const char *consumes;          /* phase whose completion events it consumes, NULL: none */
        const char *usage;             /* one paragraph for --help */
        const struct sl_cfg_opt *opts; /* the table, SL_SVC_OPTS first, SL_CFG_END last */
        struct sl_svc_cfg *cfg;        /* where SL_SVC_OPTS writes */
        void *ctx;                     /* the service's state, passed to every callback */
        /* After config, logging, bus and HTTP are up; before the loop. 0 or -errno with errstr. */
        int (*init)(struct sl_svc *svc, void *ctx, char *errstr, size_t errstr_size);
        sl_bus_handler_fn *handler; /* required when consumes is set; opaque = ctx */
        /* Called every loop turn (after a poll); non-retriable < 0 stops the service. May be NULL.
         */
        int (*tick)(struct sl_svc *svc, void *ctx);
        /*
         * True: a service that consumes no topic waits in its tick itself (up
         * to poll.timeout_ms, e.g. a blocking poll of a bus of its own), so
         * the loop does not sleep first. The scraper's trigger consumer: a
         * trigger is handled when it arrives, not after the loop's sleep.
         */
        bool tick_waits;
        /* After the drain, before the bus closes. May be NULL. */
        void (*fini)(struct sl_svc *svc, void *ctx);
};

/*
 * Runs the service: returns the process exit code (0 after a clean drain,
 * 78 on bad config, 1 on a fatal error, 0 for --help / --help-config).
 */
int sl_svc_main(const struct sl_svc_def *def, int argc, char **argv);

/* The runtime's bus (for publishing from handlers); valid during init..fini. */
struct sl_bus *sl_svc_bus(const struct sl_svc *svc);
/* The runtime's HTTP server (to register extra GET handlers in init). */
struct sl_http *sl_svc_http(const struct sl_svc *svc);
/* True once a stop signal arrived (long handlers may check it). */
bool sl_svc_stopping(const struct sl_svc *svc);
/* Sets the stop flag as a signal would (tests, fatal conditions in handlers). */
void sl_svc_request_stop(struct sl_svc *svc);

/*
 * The breaker of dependency ("pg", "bus", "source:nba_boxscore",
 * "system:xgboost_v1"), created on first call with the cb.* options
 * (opts NULL) or opts (its service, dependency, on_transition and opaque are
 * set by the runtime), shared through ops.circuit_breakers when the runtime
 * has a pg.dsn, logged, exported and alerted on like the runtime's own.
 * The caller does sl_cb_allow(cb, sl_mono_ms()) before a call (false:
 * attempt nothing) and sl_cb_record() after. Owned by the runtime, valid
 * until fini returns. NULL when cb.enabled is false, after
 * SL_SVC_MAX_BREAKERS breakers, or for a bad name or opts (logged).
 * Call from init or the loop (not from the HTTP thread).
 */
#define SL_SVC_MAX_BREAKERS 32
struct sl_cb *sl_svc_cb(struct sl_svc *svc, const char *dependency, const struct sl_cb_opts *opts);

/*
 * Called by a handler before it returns a retriable error, to name the
 * dependency that failed (a string literal or one that outlives the call):
 * the runtime then records the failure on that breaker instead of "pg".
 * Applies to the current handler call on the calling thread only.
 */
void sl_svc_blame(const char *dependency);

/* The runtime's alerter (sl/alert.h), for the service's own alerts. Valid during init..fini. */
struct sl_alert *sl_svc_alert(const struct sl_svc *svc);

/*
 * Installs handler for SIGINT and SIGTERM with sigaction (SA_RESTART off, so
 * blocking calls return) and ignores SIGPIPE (hiredis and libpq write to
 * sockets). Returns 0 or -errno.
 */
int sl_signals_install(void (*handler)(int sig));

/*
 * Splits a comma-separated list ("nba, nhl") into at most max trimmed items,
 * written into buf (buf_size bytes) and pointed to by items. Returns the
 * count, or -EINVAL (empty item, too many, or too long).
 */
int sl_svc_split_list(const char *list, char *buf, size_t buf_size, const char **items, int max);

#endif
