#include <sl/svc.h>

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sl/alert.h>
#include <sl/cb.h>
#include <sl/defer.h>
#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/http.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/pg.h>
#include <sl/util.h>

/* The bus reads the stop flag through a volatile const int *. */
static_assert(sizeof(sig_atomic_t) == sizeof(int), "sig_atomic_t must be an int");

static volatile sig_atomic_t stop_signal; /* written only by on_signal() and request_stop */

struct sl_svc {
        const struct sl_svc_def *def;
        struct sl_bus *bus;
        struct sl_http *http;
        char topics[SL_SVC_MAX_SPORTS][256]; /* consumed topics */
        int n_topics;
        /* reliability (see the top of sl/svc.h) */
        struct sl_cb *cbs[SL_SVC_MAX_BREAKERS]; /* owned */
        int n_cbs;
        struct sl_cb *cb_pg, *cb_bus; /* the runtime's own, in cbs[]; NULL if disabled */
        int n_open;                   /* breakers now OPEN */
        const char *ops_dsn;          /* the table's pg.dsn (borrowed from cfg), NULL: none */
        struct sl_pg *ops_pg;         /* breaker store + heartbeat connection, owned */
        struct sl_cb_store store;
        int64_t ops_retry_ms;   /* next connect attempt (monotonic) */
        bool ops_warned;        /* logged that ops.* is unusable */
        struct sl_alert *alert; /* owned */
        char instance[192];     /* "<host>-<pid>" */
        char host[128];
        char started_at[25];    /* RFC 3339 */
        int64_t heartbeat_ms;   /* last heartbeat (monotonic) */
        uint64_t dead_lettered; /* bus stats at the last heartbeat */
        struct sl_metric *m_state, *m_transitions;
        /* not ready: parked messages (sl/defer.h) */
        struct sl_not_ready_opts not_ready;
        bool defer_on;         /* a pg.dsn and a handler: park in ops.deferred_events */
        const char *group;     /* consumer group (borrowed from cfg / def) */
        int64_t defer_next_ms; /* next look for due rows (monotonic) */
        /* handler timeout watchdog */
        pthread_t wd_thread;
        bool wd_started;
        struct sl_metric *m_timeouts;
};

/* What the watchdog sees of the running handler call. Guarded by wd_lock. */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
        int64_t start_ms; /* monotonic start of the running call, 0: none */
        char topic[256], id[64];
        bool flagged; /* svc.handler.timeout logged for this call */
        bool quit;
} wd;

/* The dependency the running handler blamed (sl_svc_blame), or NULL. */
static _Thread_local const char *blamed;

static void on_signal(int sig)
{
        if (stop_signal) {
                sl_log_from_handler("svc.signal", "second signal: exiting now");
                _exit(128 + sig); /* second signal: stop draining */
        }
        stop_signal = sig;
}

int sl_signals_install(void (*handler)(int sig))
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = handler;
        if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
                return -errno;
        sa.sa_handler = SIG_IGN;
        if (sigaction(SIGPIPE, &sa, NULL) < 0)
                return -errno;
        return 0;
}

int sl_svc_split_list(const char *list, char *buf, size_t buf_size, const char **items, int max)
{
        size_t len = strlen(list);
        int n = 0;
        char *p;

        if (len + 1 > buf_size)
                return -EINVAL;
        memcpy(buf, list, len + 1);
        for (p = buf; p;) {
                char *comma = strchr(p, ',');
                char *end;
                if (comma)
                        *comma = '\0';
                while (*p == ' ' || *p == '\t')
                        p++;
                end = p + strlen(p);
                while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
                        *--end = '\0';
                if (*p == '\0' || n == max)
                        return -EINVAL;
                items[n++] = p;
                p = comma ? comma + 1 : NULL;
        }
        return n;
}

struct sl_bus *sl_svc_bus(const struct sl_svc *svc)
{
        return svc->bus;
}

struct sl_http *sl_svc_http(const struct sl_svc *svc)
{
        return svc->http;
}

struct sl_alert *sl_svc_alert(const struct sl_svc *svc)
{
        return svc->alert;
}

void sl_svc_blame(const char *dependency)
{
        blamed = dependency;
}

/* Logs, exports and alerts on one breaker transition (sl_cb_transition_fn). */
static void on_transition(struct sl_cb *cb, enum sl_cb_state from, enum sl_cb_state to,
                          const char *why, void *opaque)
{
        struct sl_svc *svc = opaque;
        const char *dep = sl_cb_dependency(cb);
        char reason[SL_HTTP_REASON_MAX];

        if (to == SL_CB_OPEN) {
                sl_log_warn("cb.state.open", "dependency=%s from=%s reason=%s", dep,
                            sl_cb_state_name(from), why);
        } else {
                sl_log_info(to == SL_CB_CLOSED ? "cb.state.closed" : "cb.state.half_open",
                            "dependency=%s from=%s reason=%s", dep, sl_cb_state_name(from), why);
        }
        sl_metric_set(svc->m_state, (double)to, dep);
        sl_metric_set(sl_metrics_std()->cb_state, (double)to, dep);
        sl_metric_inc(svc->m_transitions, dep, sl_cb_state_name(to));
        /* Readiness follows the breakers that stop all work (pg, bus). A
           namespaced one ("system:zone_matchup_v1", "source:injuries") stops
           one part while the rest goes on: it alerts, but the service stays
           ready. */
        bool partial = strchr(dep, ':') != NULL;
        if (!partial)
                svc->n_open += (to == SL_CB_OPEN) - (from == SL_CB_OPEN);
        if (to == SL_CB_OPEN) {
                snprintf(reason, sizeof(reason), "circuit open: %s", dep);
                if (!partial)
                        sl_http_set_unready(svc->http, reason);
                char key[96];
                snprintf(key, sizeof(key), "cb.open:%s", dep);
                sl_alert_raise(svc->alert, key, SL_ALERT_CRITICAL, reason, "%s (was %s)", why,
                               sl_cb_state_name(from));
        } else if (from == SL_CB_OPEN && !partial && svc->n_open == 0 && !stop_signal) {
                sl_http_set_ready(svc->http, true);
        }
}

struct sl_cb *sl_svc_cb(struct sl_svc *svc, const char *dependency, const struct sl_cb_opts *opts)
{
        const struct sl_svc_cfg *cfg = svc->def->cfg;
        struct sl_cb_opts o = {0};
        char errstr[256];
        struct sl_cb *cb;

        if (!cfg->cb_enabled)
                return NULL;
        for (int i = 0; i < svc->n_cbs; i++)
                if (strcmp(sl_cb_dependency(svc->cbs[i]), dependency) == 0)
                        return svc->cbs[i];
        if (svc->n_cbs == SL_SVC_MAX_BREAKERS) {
                sl_log_error("cb.new.error", "dependency=%s: more than %d breakers", dependency,
                             SL_SVC_MAX_BREAKERS);
                return NULL;
        }
        if (opts) {
                o = *opts;
        } else {
                o.window_type =
                    strcmp(cfg->cb_window, "time") == 0 ? SL_CB_WINDOW_TIME : SL_CB_WINDOW_COUNT;
                o.window_size = cfg->cb_window_size;
                o.min_calls = cfg->cb_min_calls;
                o.failure_rate_pct = cfg->cb_failure_rate_pct;
                o.slow_rate_pct = cfg->cb_slow_rate_pct;
                o.slow_call_ms = cfg->cb_slow_call_ms;
                o.open_ms = cfg->cb_open_ms;
                o.half_open_calls = cfg->cb_half_open_calls;
                o.cache_ttl_ms = cfg->cb_cache_ttl_ms;
        }
        o.service = svc->def->name;
        o.dependency = dependency;
        o.on_transition = on_transition;
        o.opaque = svc;
        cb = sl_cb_new(&o, errstr, sizeof(errstr));
        if (!cb) {
                sl_log_error("cb.new.error", "%s", errstr);
                return NULL;
        }
        if (svc->ops_pg)
                sl_cb_attach(cb, &svc->store);
        sl_metric_set(svc->m_state, 0, dependency);
        sl_metric_set(sl_metrics_std()->cb_state, 0, dependency);
        svc->cbs[svc->n_cbs++] = cb;
        return cb;
}

bool sl_svc_stopping(const struct sl_svc *svc)
{
        (void)svc;
        return stop_signal != 0;
}

void sl_svc_request_stop(struct sl_svc *svc)
{
        (void)svc;
        if (!stop_signal)
                stop_signal = SIGTERM;
}

/* Checks what the cfg table cannot: the sports list and the retry delays. */
static int check_cfg(struct sl_svc *svc, struct sl_bus_opts *o, char *errstr, size_t n)
{
        const struct sl_svc_def *def = svc->def;
        const struct sl_svc_cfg *cfg = def->cfg;
        const char *sports[SL_SVC_MAX_SPORTS];
        char buf[512];
        int n_sports = sl_svc_split_list(cfg->sports, buf, sizeof(buf), sports, SL_SVC_MAX_SPORTS);

        if (n_sports < 0) {
                snprintf(errstr, n, "sports: '%s' is not a list of up to %d sports", cfg->sports,
                         SL_SVC_MAX_SPORTS);
                return -EINVAL;
        }
        if (sl_retry_parse_delays(&o->retry, cfg->retry_delays_ms) < 0) {
                snprintf(errstr, n, "retry.delays_ms: '%s' is not a list of milliseconds",
                         cfg->retry_delays_ms);
                return -EINVAL;
        }
        if (sl_not_ready_parse_delays(&svc->not_ready, cfg->not_ready_delays_ms) < 0) {
                snprintf(errstr, n,
                         "retry.not_ready_delays_ms: '%s' is not a list of milliseconds "
                         "(each at most 86400000)",
                         cfg->not_ready_delays_ms);
                return -EINVAL;
        }
        svc->not_ready.max_ms = cfg->not_ready_max_ms;
        for (int i = 0; def->consumes && i < n_sports; i++) {
                if (sl_bus_topic(svc->topics[i], sizeof(svc->topics[i]), cfg->bus_prefix, sports[i],
                                 def->consumes) < 0) {
                        snprintf(errstr, n, "bus.prefix/sports: topic name too long");
                        return -EINVAL;
                }
                o->topics[svc->n_topics++] = svc->topics[i];
        }
        return 0;
}

/* Bus options from the config; strings are borrowed from cfg (sl_bus_open copies them). */
static void bus_opts(const struct sl_svc_def *def, struct sl_bus_opts *o)
{
        const struct sl_svc_cfg *cfg = def->cfg;

        o->backend = cfg->bus_backend;
        o->url = cfg->bus_url;
        o->username = cfg->bus_username[0] ? cfg->bus_username : NULL;
        o->password = cfg->bus_password[0] ? cfg->bus_password : NULL;
        o->prefix = cfg->bus_prefix;
        o->service = def->name;
        o->group = cfg->bus_group[0] ? cfg->bus_group : def->name;
        o->kafka_props = cfg->bus_kafka_props[0] ? cfg->bus_kafka_props : NULL;
        o->retry.max_attempts = cfg->retry_attempts;
        o->retry.jitter_pct = 0; /* default jitter */
        o->claim_idle_ms = cfg->claim_idle_ms;
        o->max_deliveries = cfg->max_deliveries;
        o->from_beginning = true; /* a new group must not skip events published before it existed */
        o->stop = (volatile const int *)&stop_signal;
}

/*
 * Bounds every PostgreSQL statement of the connections opened from now on by
 * handler.timeout_ms: "-c statement_timeout=N" appended to PGOPTIONS, which
 * libpq reads at connect. 0, or -ENOMEM.
 */
static int statement_timeout(const struct sl_svc_def *def)
{
        const char *old = getenv("PGOPTIONS");
        char opts[1024];
        int n;

        if (def->cfg->handler_timeout_ms <= 0 || !def->handler)
                return 0;
        n = snprintf(opts, sizeof(opts), "%s%s-c statement_timeout=%d", old ? old : "",
                     old && old[0] ? " " : "", def->cfg->handler_timeout_ms);
        if (n < 0 || (size_t)n >= sizeof(opts) || setenv("PGOPTIONS", opts, 1) < 0) {
                sl_log_error("svc.statement_timeout.error", "PGOPTIONS too long or no memory");
                return -ENOMEM;
        }
        return 0;
}

/* Loads config; returns -1 to go on, or the exit code to return now. */
static int load_cfg(const struct sl_svc_def *def, int argc, char **argv)
{
        char errstr[SL_CFG_ERRSTR_SIZE];
        int rc = sl_cfg_load(def->opts, def->name, argc, argv, errstr, sizeof(errstr));

        if (rc == SL_CFG_HELP_CONFIG)
                return 0;
        if (rc == SL_CFG_HELP) {
                printf("usage: statline-%s [--config FILE] [--set key=value]... [--help-config]\n\n"
                       "%s\n\nEvery option can also be set in the environment; --help-config lists "
                       "them.\n",
                       def->name, def->usage ? def->usage : "");
                return 0;
        }
        if (rc < 0) {
                fprintf(stderr, "statline-%s: bad configuration:\n%s\n", def->name, errstr);
                return 78; /* EX_CONFIG: do not restart-loop on bad config */
        }
        return -1;
}

/* The value of the string option key in the service's table (pg.dsn), or NULL. */
static const char *opt_str(const struct sl_cfg_opt *opts, const char *key)
{
        for (const struct sl_cfg_opt *o = opts; o->key; o++) {
                if (strcmp(o->key, key) == 0 && o->type == SL_CFG_T_STR) {
                        const char *v = *(const char **)o->dest;
                        return v && v[0] ? v : NULL;
                }
        }
        return NULL;
}

/* Connects the breaker store / heartbeat connection (retried from the loop while it fails). */
static void ops_connect(struct sl_svc *svc, int64_t now)
{
        char errstr[256];

        if (svc->ops_pg || !svc->ops_dsn || now < svc->ops_retry_ms)
                return;
        svc->ops_pg = sl_pg_open(svc->ops_dsn, 2000, errstr, sizeof(errstr));
        if (!svc->ops_pg) {
                svc->ops_retry_ms = now + 5000;
                if (!svc->ops_warned)
                        sl_log_warn("svc.ops.error", "breakers local only, no heartbeat: %s",
                                    errstr);
                svc->ops_warned = true;
                return;
        }
        sl_cb_store_pg(&svc->store, svc->ops_pg);
        for (int i = 0; i < svc->n_cbs; i++)
                sl_cb_attach(svc->cbs[i], &svc->store);
}

/* The breakers as {"pg":"CLOSED",...} into out (out_size bytes). */
static void breakers_json(const struct sl_svc *svc, char *out, size_t out_size)
{
        struct sl_buf b;
        char *s;

        sl_buf_init(&b, out_size - 1);
        sl_buf_puts(&b, "{");
        for (int i = 0; i < svc->n_cbs; i++) {
                if (i > 0)
                        sl_buf_puts(&b, ",");
                sl_buf_json_str(&b, sl_cb_dependency(svc->cbs[i]));
                sl_buf_printf(&b, ":\"%s\"", sl_cb_state_name(sl_cb_state(svc->cbs[i])));
        }
        if (sl_buf_puts(&b, "}") < 0) {
                sl_buf_fini(&b);
                snprintf(out, out_size, "{}"); /* too many breakers for the buffer */
                return;
        }
        s = sl_buf_steal(&b);
        snprintf(out, out_size, "%s", s ? s : "{}");
        free(s);
}

/* Upserts this process's ops.service_heartbeat row. */
static void heartbeat(struct sl_svc *svc, bool ready)
{
        static const char sql[] =
            "INSERT INTO ops.service_heartbeat (service, instance, host, pid, started_at, "
            "last_seen, ready, breakers) VALUES ($1, $2, $3, $4::int, $5::timestamptz, now(), "
            "$6::boolean, $7::jsonb) ON CONFLICT (service, instance) DO UPDATE SET host = "
            "EXCLUDED.host, pid = EXCLUDED.pid, started_at = EXCLUDED.started_at, last_seen = "
            "now(), ready = EXCLUDED.ready, breakers = EXCLUDED.breakers";
        char pid[16], breakers[2048], errstr[256];
        const char *params[] = {
            svc->def->name,           svc->instance, svc->host, pid, svc->started_at,
            ready ? "true" : "false", breakers};
        int rc;

        if (!svc->ops_pg)
                return;
        snprintf(pid, sizeof(pid), "%ld", (long)getpid());
        breakers_json(svc, breakers, sizeof(breakers));
        rc = sl_pg_exec(svc->ops_pg, sql, 7, params, NULL, errstr, sizeof(errstr));
        if (rc < 0 && !svc->ops_warned) {
                sl_log_warn("svc.heartbeat.error", "%s", errstr);
                svc->ops_warned = true;
        } else if (rc == 0 && svc->ops_warned) {
                sl_log_info("svc.heartbeat.ok", "ops.service_heartbeat written again");
                svc->ops_warned = false;
        }
}

/* Every heartbeat.interval_ms: reconnect, refresh the breakers, heartbeat, DLQ alert. */
static void reliability_tick(struct sl_svc *svc, bool force)
{
        int64_t now = sl_mono_ms();
        struct sl_bus_stats st;

        if (!force && now - svc->heartbeat_ms < svc->def->cfg->heartbeat_interval_ms)
                return;
        svc->heartbeat_ms = now;
        ops_connect(svc, now);
        for (int i = 0; i < svc->n_cbs; i++)
                sl_cb_sync(svc->cbs[i], now);
        heartbeat(svc, !stop_signal && svc->n_open == 0);
        if (!svc->bus)
                return;
        sl_bus_get_stats(svc->bus, &st);
        if (st.dead_lettered > svc->dead_lettered)
                sl_alert_raise(svc->alert, "dlq.growth", SL_ALERT_WARNING, "messages dead-lettered",
                               "%llu more (total %llu since start)",
                               (unsigned long long)(st.dead_lettered - svc->dead_lettered),
                               (unsigned long long)st.dead_lettered);
        svc->dead_lettered = st.dead_lettered;
}

/*
 * The runtime's handler around the service's: refuses (-EBUSY, the message
 * waits) while the "pg" breaker is open, and feeds the outcome to the
 * breaker of the blamed dependency ("pg" by default). An unblamed -EAGAIN
 * is not recorded: handlers use it for "not ready yet" (a critical upstream
 * dependency missing, a blob not written yet) and for lock contention,
 * which say nothing about the database being down; a handler that means
 * the database calls sl_svc_blame("pg").
 */
/*
 * A connection to a dependency is gone (PostgreSQL restarting, the broker
 * away): not the message's fault, and retrying it a few times and then
 * dead-lettering it would turn a 10 s outage into lost work (the chaos suite
 * saw exactly that). Such a message waits like one behind an open breaker.
 */
static bool dependency_down(int rc)
{
        return rc == -ECONNRESET || rc == -ECONNREFUSED || rc == -ENOTCONN || rc == -EPIPE ||
               rc == -ECONNABORTED || rc == -ENETUNREACH || rc == -EHOSTUNREACH;
}

static int guarded_handler(const struct sl_envelope *env, const struct sl_bus_msg *msg,
                           void *opaque)
{
        struct sl_svc *svc = opaque;
        struct sl_cb *cb = svc->cb_pg, *other = NULL;
        int64_t t0 = sl_mono_ms(), t1;
        int rc;

        if (cb && !sl_cb_allow(cb, t0))
                return -EBUSY;
        blamed = NULL;
        rc = svc->def->handler(env, msg, svc->def->ctx);
        t1 = sl_mono_ms();
        if (blamed && cb && strcmp(blamed, sl_cb_dependency(cb)) != 0)
                other = sl_svc_cb(svc, blamed, NULL);
        if (other)
                sl_cb_record(other, rc, t1 - t0, t1);
        if (cb) {
                bool not_pg = (other || !blamed) && rc < 0 && rc != -EEXIST &&
                              (other || rc == -EAGAIN || rc == SL_BUS_NOT_READY);
                /* -EBUSY: not recorded, and a half-open probe permit is given back */
                sl_cb_record(cb, not_pg ? -EBUSY : rc, t1 - t0, t1);
        }
        blamed = NULL;
        if (dependency_down(rc)) {
                sl_log_warn("svc.dependency.down",
                            "topic=%s id=%s error=%s: the message waits for the connection",
                            msg->topic, msg->id, sl_strerror(rc));
                return -EBUSY; /* nacked, handed out again after the poll timeout */
        }
        return rc;
}

/* The watchdog thread: watches the running handler call (see handler.timeout_ms in sl/svc.h). */
static void *watchdog(void *opaque)
{
        struct sl_svc *svc = opaque;
        int64_t limit = svc->def->cfg->handler_timeout_ms;
        int64_t step = limit / 10 < 10 ? 10 : limit / 10 > 1000 ? 1000 : limit / 10;

        for (;;) {
                char topic[256], id[64], reason[SL_HTTP_REASON_MAX];
                int64_t now = sl_mono_ms(), elapsed;
                bool first = false, quit;

                pthread_mutex_lock(&wd_lock);
                quit = wd.quit;
                elapsed = wd.start_ms ? now - wd.start_ms : 0;
                if (elapsed > limit && !wd.flagged)
                        first = wd.flagged = true;
                snprintf(topic, sizeof(topic), "%s", wd.topic);
                snprintf(id, sizeof(id), "%s", wd.id);
                pthread_mutex_unlock(&wd_lock);
                if (quit)
                        return NULL;
                if (first) {
                        sl_log_error("svc.handler.timeout",
                                     "topic=%s id=%s elapsed_ms=%lld timeout_ms=%lld: readiness "
                                     "503; exit without ack past %lld ms",
                                     topic, id, (long long)elapsed, (long long)limit,
                                     (long long)(2 * limit));
                        snprintf(reason, sizeof(reason), "handler timeout: %.*s",
                                 (int)(sizeof(reason) - 20), topic);
                        sl_http_set_unready(svc->http, reason);
                        sl_metric_inc(svc->m_timeouts, topic);
                }
                if (elapsed > 2 * limit) {
                        sl_log_error("svc.handler.timeout.exit",
                                     "topic=%s id=%s elapsed_ms=%lld > 2 x %lld: exiting without "
                                     "ack (the message is redelivered)",
                                     topic, id, (long long)elapsed, (long long)limit);
                        _exit(70); /* EX_SOFTWARE; nothing acked, nothing flushed */
                }
                sl_sleep_ms(step, NULL);
        }
}

/* Starts the watchdog when handler.timeout_ms > 0 and the service consumes. */
static void watchdog_start(struct sl_svc *svc)
{
        int err;

        if (svc->def->cfg->handler_timeout_ms <= 0 || !svc->def->handler || svc->n_topics == 0)
                return;
        pthread_mutex_lock(&wd_lock);
        memset(&wd, 0, sizeof(wd));
        pthread_mutex_unlock(&wd_lock);
        err = pthread_create(&svc->wd_thread, NULL, watchdog, svc);
        if (err != 0) {
                sl_log_warn("svc.watchdog.error", "no handler watchdog: %s", sl_strerror(-err));
                return;
        }
        svc->wd_started = true;
}

static void watchdog_stop(struct sl_svc *svc)
{
        if (!svc->wd_started)
                return;
        pthread_mutex_lock(&wd_lock);
        wd.quit = true;
        pthread_mutex_unlock(&wd_lock);
        pthread_join(svc->wd_thread, NULL);
        svc->wd_started = false;
}

/* The handler the bus calls: the watchdog's bookkeeping around the (guarded) service handler. */
static int runtime_handler(const struct sl_envelope *env, const struct sl_bus_msg *msg,
                           void *opaque)
{
        struct sl_svc *svc = opaque;
        bool flagged;
        int rc;

        pthread_mutex_lock(&wd_lock);
        wd.start_ms = sl_mono_ms();
        wd.flagged = false;
        snprintf(wd.topic, sizeof(wd.topic), "%s", msg->topic);
        snprintf(wd.id, sizeof(wd.id), "%s", msg->id);
        pthread_mutex_unlock(&wd_lock);
        if (svc->def->cfg->cb_enabled)
                rc = guarded_handler(env, msg, svc);
        else
                rc = svc->def->handler(env, msg, svc->def->ctx);
        pthread_mutex_lock(&wd_lock);
        flagged = wd.flagged;
        wd.start_ms = 0;
        pthread_mutex_unlock(&wd_lock);
        if (flagged) {
                sl_log_warn("svc.handler.timeout.end",
                            "topic=%s id=%s returned %s after the timeout", msg->topic, msg->id,
                            rc == 0 ? "0" : sl_strerror(rc));
                if (svc->n_open == 0 && !stop_signal)
                        sl_http_set_ready(svc->http, true);
        }
        return rc;
}

/*
 * A dead letter of a parsed event, as a 'failed' row (processor "dlq") in
 * ops.pipeline_execution_log under its correlation id, so the run's log,
 * statline-monitor and statline-backfill see that it ended there (and why)
 * instead of waiting for it. Only for the five logged phases; a failed write
 * is logged and dropped (the dead letter itself is safe in the DLQ).
 */
static void record_dead_letter(struct sl_svc *svc, const struct sl_bus_msg *msg,
                               const struct sl_envelope *env, const char *reason, const char *cls)
{
        static const char *const phases[] = {"raw", "analytics", "precompute", "prediction",
                                             "publishing"};
        char id[37], err[320], errstr[256];
        const char *params[7];
        size_t i;

        for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
                if (strcmp(phases[i], svc->def->name) == 0)
                        break;
        if (i == sizeof(phases) / sizeof(phases[0]) || !env || !sl_uuid_valid(env->correlation_id))
                return;
        sl_uuid7(id);
        snprintf(err, sizeof(err), "dead-lettered (%s) to %s.dlq: %s", cls, msg->topic,
                 reason ? reason : "");
        params[0] = id;
        params[1] = env->correlation_id;
        params[2] = sl_uuid_valid(env->event_id) ? env->event_id : NULL;
        params[3] = svc->def->name;
        params[4] = err;
        params[5] = sl_date_valid(env->game_date) ? env->game_date : NULL;
        params[6] = env->sport;
        if (sl_pg_exec(svc->ops_pg,
                       "INSERT INTO ops.pipeline_execution_log (execution_id, correlation_id, "
                       "event_id, phase, processor, status, started_at, completed_at, "
                       "duration_ms, error_message, game_date, sport) VALUES ($1::uuid, "
                       "$2::uuid, $3::uuid, $4::ops.phase, 'dlq', 'failed', now(), now(), 0, "
                       "$5, $6::date, CASE WHEN $7 ~ '^[a-z][a-z0-9_]{1,15}$' THEN $7 "
                       "ELSE 'nba' END)",
                       7, params, NULL, errstr, sizeof(errstr)) < 0)
                sl_log_warn("svc.dlq.record.error", "topic=%s id=%s: %s", msg->topic, msg->id,
                            errstr);
}

/*
 * sl_bus_defer_fn: parks a not-ready message in ops.deferred_events
 * (sl/defer.h); records a dead letter in the execution log.
 */
static int park_message(void *opaque, enum sl_bus_defer_op op, const struct sl_bus_msg *msg,
                        const struct sl_envelope *env, const char *reason, char *why,
                        size_t why_size)
{
        struct sl_svc *svc = opaque;
        char errstr[256];
        int rc;

        ops_connect(svc, sl_mono_ms());
        if (!svc->ops_pg)
                return -ENOTCONN;
        if (op == SL_BUS_DEFER_DEAD) {
                record_dead_letter(svc, msg, env, reason, why);
                return 0;
        }
        if (op == SL_BUS_DEFER_DONE)
                rc = sl_defer_forget(svc->ops_pg, svc->group, msg->topic, env->event_id, errstr,
                                     sizeof(errstr));
        else
                rc = sl_defer_park(svc->ops_pg, svc->group, svc->def->name, &svc->not_ready, msg,
                                   env->event_id, reason, sl_wall_ms(), why, why_size, errstr,
                                   sizeof(errstr));
        if (rc < 0 && rc != -ETIME)
                sl_log_warn("svc.defer.error", "topic=%s id=%s: %s", msg->topic, msg->id, errstr);
        return rc;
}

/*
 * Hands one due parked message to the handler again (sl_bus_dispatch), then
 * forgets it once done. Looks again at once after a row, else after 1 s.
 */
static void defer_tick(struct sl_svc *svc)
{
        struct sl_defer_row row;
        struct sl_bus_msg msg;
        char errstr[256];
        int64_t now = sl_mono_ms();
        int rc;

        if (!svc->defer_on || stop_signal || now < svc->defer_next_ms)
                return;
        svc->defer_next_ms = now + 1000;
        if (!svc->ops_pg || (svc->cb_pg && sl_cb_state(svc->cb_pg) == SL_CB_OPEN))
                return;
        rc = sl_defer_claim(svc->ops_pg, svc->group, 60000, &row, errstr, sizeof(errstr));
        if (rc <= 0) {
                if (rc < 0)
                        sl_log_warn("svc.defer.error", "claim: %s", errstr);
                return;
        }
        memset(&msg, 0, sizeof(msg));
        msg.topic = row.topic;
        msg.key = row.key;
        msg.data = row.data;
        msg.len = row.len;
        snprintf(msg.id, sizeof(msg.id), "parked:%s", row.event_id);
        msg.partition = -1;
        msg.offset = -1;
        msg.deliveries = 1;
        sl_log_info("svc.defer.dispatch", "topic=%s id=%s waits=%d waited_ms=%lld", row.topic,
                    row.event_id, row.waits, (long long)(sl_wall_ms() - row.first_ms));
        rc = sl_bus_dispatch(svc->bus, &msg, runtime_handler, svc);
        if (rc == 0)
                rc = sl_defer_forget(svc->ops_pg, svc->group, row.topic, row.event_id, errstr,
                                     sizeof(errstr));
        else if (rc != SL_BUS_NOT_READY)
                rc = sl_defer_release(svc->ops_pg, svc->group, row.topic, row.event_id, 2000,
                                      errstr, sizeof(errstr));
        else
                rc = 0;
        if (rc < 0)
                sl_log_warn("svc.defer.error", "topic=%s id=%s: %s (the lease ends in 60 s)",
                            row.topic, row.event_id, errstr);
        svc->defer_next_ms = now; /* maybe more are due */
        sl_defer_row_fini(&row);
}

/* One loop step's bus work: poll through the breakers, or wait while "bus" is open. */
static int poll_once(struct sl_svc *svc, int timeout_ms)
{
        const struct sl_svc_def *def = svc->def;
        int64_t t0 = sl_mono_ms();
        int rc;

        if (svc->n_topics == 0)
                return def->tick_waits && def->tick
                           ? 0
                           : sl_sleep_ms(timeout_ms, (volatile const int *)&stop_signal);
        if (!svc->def->cfg->cb_enabled)
                return sl_bus_poll(svc->bus, runtime_handler, svc, timeout_ms);
        if (svc->cb_bus && !sl_cb_allow(svc->cb_bus, t0))
                return sl_sleep_ms(timeout_ms, (volatile const int *)&stop_signal);
        rc = sl_bus_poll(svc->bus, runtime_handler, svc, timeout_ms);
        if (svc->cb_bus)
                sl_cb_record(svc->cb_bus, rc > 0 ? 0 : rc, 0, sl_mono_ms());
        return rc;
}

/* The loop: poll (or wait), tick, tell /healthz we are alive. 0 on a stop signal, or -errno. */
static int run_loop(struct sl_svc *svc)
{
        const struct sl_svc_def *def = svc->def;
        int timeout_ms = def->cfg->poll_timeout_ms, rc = 0;

        while (!stop_signal) {
                rc = poll_once(svc, timeout_ms);
                if (rc < 0 && rc != -EINTR && !sl_err_retriable(rc))
                        return rc;
                reliability_tick(svc, false);
                defer_tick(svc);
                if (def->tick) {
                        rc = def->tick(svc, def->ctx);
                        if (rc < 0 && !sl_err_retriable(rc))
                                return rc;
                }
                sl_http_tick(svc->http);
        }
        return 0;
}

/* Metrics, identity, alerter, the store connection and the runtime's breakers. */
static int reliability_setup(struct sl_svc *svc, char *errstr, size_t n)
{
        const struct sl_svc_cfg *cfg = svc->def->cfg;
        struct sl_alert_opts ao = {0};

        svc->m_state =
            sl_metrics_gauge("statline_circuit_state",
                             "Circuit breaker state: 0 closed, 1 open, 2 half-open.", "dependency");
        svc->m_transitions =
            sl_metrics_counter("statline_circuit_transitions_total",
                               "Circuit breaker transitions, by new state.", "dependency,to");
        svc->m_timeouts = sl_metrics_counter(
            "statline_handler_timeouts_total",
            "Handler calls that ran past handler.timeout_ms, by topic.", "topic");
        if (gethostname(svc->host, sizeof(svc->host)) < 0)
                snprintf(svc->host, sizeof(svc->host), "host");
        svc->host[sizeof(svc->host) - 1] = '\0';
        snprintf(svc->instance, sizeof(svc->instance), "%s-%ld", svc->host, (long)getpid());
        sl_time_rfc3339(sl_wall_ms(), svc->started_at);
        ao.webhook_url = cfg->alert_webhook_url;
        ao.service = svc->def->name;
        ao.instance = svc->instance;
        ao.dedup_window_ms = cfg->alert_dedup_window_ms;
        ao.max_per_minute = cfg->alert_max_per_minute;
        ao.timeout_ms = cfg->alert_timeout_ms;
        svc->alert = sl_alert_new(&ao, errstr, n);
        if (!svc->alert)
                return -EINVAL;
        svc->ops_dsn = opt_str(svc->def->opts, "pg.dsn");
        ops_connect(svc, sl_mono_ms());
        if (svc->def->handler && svc->n_topics > 0) {
                svc->cb_pg = sl_svc_cb(svc, "pg", NULL);
                svc->cb_bus = sl_svc_cb(svc, "bus", NULL);
        }
        return 0;
}

static void reliability_teardown(struct sl_svc *svc)
{
        for (int i = 0; i < svc->n_cbs; i++)
                sl_cb_free(svc->cbs[i]);
        svc->n_cbs = 0;
        svc->cb_pg = svc->cb_bus = NULL;
        sl_pg_close(svc->ops_pg);
        svc->ops_pg = NULL;
        sl_alert_free(svc->alert);
        svc->alert = NULL;
}

int sl_svc_main(const struct sl_svc_def *def, int argc, char **argv)
{
        struct sl_svc svc = {.def = def};
        struct sl_bus_opts o = {0};
        char errstr[512] = "";
        enum sl_log_level level = SL_LOG_INFO;
        bool inited = false;
        int rc, exit_code = EXIT_FAILURE;

        rc = load_cfg(def, argc, argv);
        if (rc >= 0)
                return rc;
        if (check_cfg(&svc, &o, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "statline-%s: bad configuration:\n%s\n", def->name, errstr);
                sl_cfg_free(def->opts);
                return 78;
        }
        sl_log_level_parse(def->cfg->log_level, &level);
        sl_log_init(def->name, level);
        sl_cfg_log(def->opts);
        if (statement_timeout(def) < 0)
                goto fail;
        stop_signal = 0;
        if (sl_signals_install(on_signal) < 0)
                goto fail;
        svc.http = sl_http_start(def->cfg->health_addr, errstr, sizeof(errstr));
        if (!svc.http)
                goto fail;
        bus_opts(def, &o);
        svc.group = o.group;
        svc.defer_on = def->handler && svc.n_topics > 0 && opt_str(def->opts, "pg.dsn");
        if (svc.defer_on) {
                o.defer = park_message;
                o.defer_opaque = &svc;
        }
        svc.bus = sl_bus_open(&o, errstr, sizeof(errstr));
        if (!svc.bus)
                goto fail;
        if (reliability_setup(&svc, errstr, sizeof(errstr)) < 0)
                goto fail;
        if (def->init && def->init(&svc, def->ctx, errstr, sizeof(errstr)) < 0)
                goto fail;
        inited = true;
        reliability_tick(&svc, true); /* reads the shared breakers: an OPEN one stays open */
        sl_http_set_ready(svc.http, true);
        watchdog_start(&svc);
        sl_log_info("svc.start", "consumes=%d topics health_port=%d", svc.n_topics,
                    sl_http_port(svc.http));
        rc = run_loop(&svc);
        if (rc < 0) {
                snprintf(errstr, sizeof(errstr), "loop: %s", sl_strerror(rc));
                goto fail;
        }
        sl_log_info("svc.drain", "signal=%d", (int)stop_signal);
        sl_http_set_draining(svc.http);                         /* 1. stop taking traffic */
        rc = sl_bus_drain(svc.bus, def->cfg->drain_timeout_ms); /* 2. finish, flush, commit */
        exit_code = rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        goto out;
fail:
        sl_log_error("svc.fatal", "%s", errstr[0] ? errstr : "startup failed");
out:
        watchdog_stop(&svc);
        if (inited)
                heartbeat(&svc, false);
        if (inited && def->fini)
                def->fini(&svc, def->ctx);
        reliability_teardown(&svc);
        sl_bus_close(svc.bus);
        sl_http_stop(svc.http);
        sl_log_info("svc.stop", "exit=%d", exit_code);
        sl_cfg_free(def->opts);
        return exit_code;
}
