#include <sl/svc.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sl/err.h>
#include <sl/http.h>
#include <sl/log.h>
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
};

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

/* The loop: poll (or wait), tick, tell /healthz we are alive. 0 on a stop signal, or -errno. */
static int run_loop(struct sl_svc *svc)
{
        const struct sl_svc_def *def = svc->def;
        int timeout_ms = def->cfg->poll_timeout_ms, rc = 0;

        while (!stop_signal) {
                if (svc->n_topics > 0)
                        rc = sl_bus_poll(svc->bus, def->handler, def->ctx, timeout_ms);
                else
                        rc = sl_sleep_ms(timeout_ms, (volatile const int *)&stop_signal);
                if (rc < 0 && rc != -EINTR && !sl_err_retriable(rc))
                        return rc;
                if (def->tick) {
                        rc = def->tick(svc, def->ctx);
                        if (rc < 0 && !sl_err_retriable(rc))
                                return rc;
                }
                sl_http_tick(svc->http);
        }
        return 0;
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
        stop_signal = 0;
        if (sl_signals_install(on_signal) < 0)
                goto fail;
        svc.http = sl_http_start(def->cfg->health_addr, errstr, sizeof(errstr));
        if (!svc.http)
                goto fail;
        bus_opts(def, &o);
        svc.bus = sl_bus_open(&o, errstr, sizeof(errstr));
        if (!svc.bus)
                goto fail;
        if (def->init && def->init(&svc, def->ctx, errstr, sizeof(errstr)) < 0)
                goto fail;
        inited = true;
        sl_http_set_ready(svc.http, true);
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
        if (inited && def->fini)
                def->fini(&svc, def->ctx);
        sl_bus_close(svc.bus);
        sl_http_stop(svc.http);
        sl_log_info("svc.stop", "exit=%d", exit_code);
        sl_cfg_free(def->opts);
        return exit_code;
}
