/*
 * statline-monitor: topic-level monitoring of the pipeline (README.md).
 * Collects bus state (Redis Streams or Kafka) and pipeline/service state
 * (PostgreSQL) every refresh, evaluates each consumer group over a window
 * of samples, and shows the result as a live terminal view, one JSON
 * document (--json), a Prometheus endpoint and an HTML status page.
 */
#include "mon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cJSON.h>

#include <sl/alert.h>
#include <sl/cfg.h>
#include <sl/http.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/svc.h> /* sl_signals_install */
#include <sl/toolopt.h>
#include <sl/util.h>

#define EX_USAGE     64
#define EX_CONFIG    78
#define MAX_CFG_ARGS 64

static volatile sig_atomic_t stop_signal; /* written only by on_signal() */
static volatile int stop_flag;            /* mirrors stop_signal for sl_sleep_ms() */

static void on_signal(int sig)
{
        if (stop_signal)
                _exit(128 + sig);
        stop_signal = sig;
        stop_flag = 1;
}

static struct mon_cfg {
        const char *bus_backend, *bus_url, *bus_username, *bus_password, *bus_prefix;
        const char *bus_kafka_props, *pg_dsn, *http_addr, *log_level;
        int pg_connect_timeout_ms, timeout_ms, refresh_ms, window, samples;
        int lookback_h, stuck_after_min;
        const char *alert_webhook_url;
        int alert_dedup_window_ms, alert_max_per_minute, alert_timeout_ms;
        int alert_failures, alert_failures_window_min, alert_dlq_depth;
} cfg;

static const struct sl_cfg_opt cfg_opts[] = {
    SL_TOOL_BUS_OPTS(&cfg, "message bus backend to monitor",
                     "topic prefix: the <prefix>.* topics/streams are monitored"),
    SL_TOOL_PG_OPTS(&cfg, "PostgreSQL with the ops schema; empty: no pipeline and service "
                          "sections"),
    SL_CFG_INT("timeout_ms", &cfg.timeout_ms, 5000, 100, 600000, 0,
               "broker connect and request timeout"),
    SL_CFG_INT("refresh_ms", &cfg.refresh_ms, 2000, 100, 600000, 0,
               "time between two samples (and screen/page refreshes)"),
    SL_CFG_INT("window", &cfg.window, 10, 2, MON_HISTORY_MAX, 0,
               "samples the lag evaluator and the rates look at"),
    SL_CFG_INT("samples", &cfg.samples, 3, 1, MON_HISTORY_MAX, 0,
               "--json/--once: samples taken (refresh_ms apart) before the one report"),
    SL_CFG_STR("http.addr", &cfg.http_addr, "", 0,
               "host:port of the status page, /api/status and /metrics; empty: none "
               "(--serve sets it)"),
    SL_CFG_INT("pipeline.lookback_h", &cfg.lookback_h, 24, 1, 8760, 0,
               "execution-log rows started this many hours back are looked at"),
    SL_CFG_INT("pipeline.stuck_after_min", &cfg.stuck_after_min, 30, 1, 100000, 0,
               "a run without progress for this many minutes is stuck"),
    SL_CFG_STR("alert.webhook_url", &cfg.alert_webhook_url, "", SL_CFG_SHARED | SL_CFG_SECRET,
               "with --alert: webhook for JSON alerts (Slack-compatible); empty: only logged"),
    SL_CFG_INT("alert.dedup_window_ms", &cfg.alert_dedup_window_ms, 300000, 0, 86400000,
               SL_CFG_SHARED, "drop an alert whose key was sent this recently"),
    SL_CFG_INT("alert.max_per_minute", &cfg.alert_max_per_minute, 10, 1, 1000, SL_CFG_SHARED,
               "alerts (and resolves) posted in any minute, at most"),
    SL_CFG_INT("alert.timeout_ms", &cfg.alert_timeout_ms, 2000, 100, 60000, SL_CFG_SHARED,
               "longest wait for the webhook (connect included)"),
    SL_CFG_INT("alert.failures", &cfg.alert_failures, 5, 0, 1000000, 0,
               "with --alert: this many failed runs of one (phase, processor) alert; 0 = off"),
    SL_CFG_INT("alert.failures_window_min", &cfg.alert_failures_window_min, 60, 1, 100000, 0,
               "... counted over this many minutes"),
    SL_CFG_INT("alert.dlq_depth", &cfg.alert_dlq_depth, 0, 0, 2000000000, 0,
               "with --alert: a <topic>.dlq holding this many dead letters alerts; 0 = off"),
    SL_CFG_ENUM("log.level", &cfg.log_level, "warn", "debug|info|warn|error", SL_CFG_SHARED,
                "minimum log level (JSON lines on stderr)"),
    SL_CFG_END,
};

enum mode { MODE_LIVE, MODE_ONCE, MODE_JSON, MODE_SERVE, MODE_WATCH };

struct cli {
        enum mode mode;
        bool alert;
        const char *serve_addr;
        char *cfg_argv[MAX_CFG_ARGS];
        int cfg_argc;
};

/* State shared with the HTTP thread. */
struct shared {
        pthread_mutex_t lock;
        char *status_json; /* latest /api/status body, owned */
        char *page;        /* the HTML page, built once */
};

/* Everything the loop needs. */
struct ctx {
        struct mon_bus_opts bus;
        struct mon_redis *redis;
        struct mon_kafka *kafka;
        struct sl_pg *pg;
        struct mon_state *state;
        struct shared sh;
        struct sl_http *http;
        struct sl_alert *alert;
        struct mon_alerts *alerts; /* --alert */
};

static void usage(FILE *out)
{
        fputs("usage: statline-monitor [--json | --once | --serve ADDR | --watch] [--alert]\n"
              "                        [--config FILE] [--set key=value]...\n"
              "\n"
              "Monitors the <bus.prefix>.* topics of the message bus (Redis Streams or Kafka)\n"
              "and, with pg.dsn, the pipeline (ops.pipeline_execution_log) and the services\n"
              "(ops.circuit_breakers, ops.service_heartbeat).\n"
              "\n"
              "Per topic: end offset, publish rate, dead-letter depth and growth. Per consumer\n"
              "group (also groups without a live consumer): lag in messages and seconds,\n"
              "pending entries, oldest pending age, consume rate and a status from a window of\n"
              "samples: OK, WARN (lag keeps growing), STALL (consumers there, offset not\n"
              "moving, lag), STOP (group stopped consuming with lag), REWIND (offset went\n"
              "backwards), UNKNOWN (fewer than two samples). Per pipeline: runs per phase and\n"
              "stuck correlation ids (no progress for pipeline.stuck_after_min minutes).\n"
              "\n"
              "modes:\n"
              "  (none)        live terminal view, refreshed every refresh_ms (like top);\n"
              "                also serves HTTP when http.addr is set. Ctrl-C quits.\n"
              "  --once        take `samples` samples, print the text tables once, exit\n"
              "  --json        take `samples` samples, print one JSON document, exit\n"
              "  --serve ADDR  no terminal view: serve the status page (/), /api/status (JSON)\n"
              "                and /metrics (Prometheus) on ADDR (host:port; port 0 = any;\n"
              "                the URL is printed on stderr) until SIGINT/SIGTERM\n"
              "  --watch       no terminal view: refresh every refresh_ms until SIGINT/SIGTERM\n"
              "                (with --alert: the alerting daemon; serves HTTP if http.addr)\n"
              "\n"
              "  --alert       check alert conditions at every refresh and post them to\n"
              "                alert.webhook_url (JSON, Slack-compatible; same keys as the\n"
              "                services'): a stuck run (key pipeline.stuck:<correlation_id>,\n"
              "                pipeline.stuck_after_min), alert.failures failed runs of one\n"
              "                (phase, processor) within alert.failures_window_min (key\n"
              "                pipeline.failures:<phase>:<processor>), and with alert.dlq_depth\n"
              "                a dead-letter topic that deep (key dlq.depth:<topic>). One alert\n"
              "                per key while its condition lasts, a \"resolved\" one when it\n"
              "                clears; at most alert.max_per_minute posts a minute. Needs\n"
              "                pg.dsn for the pipeline checks. With --once/--json the checks\n"
              "                run on the samples taken (no memory across runs: use --watch).\n"
              "\n"
              "exit status: 0 ok; 1 a source (bus or PostgreSQL) could not be read (--json and\n"
              "--once still print what was collected); 64 usage; 78 configuration.\n"
              "\n",
              out);
        sl_cfg_print_usage("statline-monitor", out);
        fputs(
            "\nconfiguration keys (--help-config for details; environment STATLINE_MONITOR_<KEY>,\n"
            "shared keys also STATLINE_<KEY>):\n",
            out);
        for (const struct sl_cfg_opt *o = cfg_opts; o->key; o++)
                fprintf(out, "  %-26s %s\n", o->key, o->help);
}

/* Splits argv into our flags and the cfg module's (--config, --set, --help-config). */
static int parse_cli(int argc, char **argv, struct cli *cli)
{
        cli->cfg_argv[cli->cfg_argc++] = argv[0];
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--json") == 0) {
                        cli->mode = MODE_JSON;
                } else if (strcmp(a, "--watch") == 0) {
                        cli->mode = MODE_WATCH;
                } else if (strcmp(a, "--alert") == 0) {
                        cli->alert = true;
                } else if (strcmp(a, "--once") == 0) {
                        cli->mode = MODE_ONCE;
                } else if (strcmp(a, "--serve") == 0 && i + 1 < argc) {
                        cli->mode = MODE_SERVE;
                        cli->serve_addr = argv[++i];
                } else if (strncmp(a, "--serve=", 8) == 0) {
                        cli->mode = MODE_SERVE;
                        cli->serve_addr = a + 8;
                } else if ((strcmp(a, "--config") == 0 || strcmp(a, "--set") == 0) &&
                           i + 1 < argc) {
                        if (cli->cfg_argc + 2 >= MAX_CFG_ARGS)
                                return -E2BIG;
                        cli->cfg_argv[cli->cfg_argc++] = argv[i];
                        cli->cfg_argv[cli->cfg_argc++] = argv[++i];
                } else if (strncmp(a, "--config=", 9) == 0 || strncmp(a, "--set=", 6) == 0 ||
                           strncmp(a, "--help-config", 13) == 0 || strcmp(a, "--help") == 0 ||
                           strcmp(a, "-h") == 0) {
                        if (cli->cfg_argc + 1 >= MAX_CFG_ARGS)
                                return -E2BIG;
                        cli->cfg_argv[cli->cfg_argc++] = argv[i];
                } else if (strcmp(a, "--serve") == 0 || strcmp(a, "--config") == 0 ||
                           strcmp(a, "--set") == 0) {
                        fprintf(stderr, "statline-monitor: %s needs a value\n", a);
                        return -EINVAL;
                } else {
                        fprintf(stderr, "statline-monitor: unknown argument '%s'\n", a);
                        return -EINVAL;
                }
        }
        cli->cfg_argv[cli->cfg_argc] = NULL;
        return 0;
}

/* ---- HTTP -------------------------------------------------------------------- */

static int handle_status(const struct sl_http_req *req, struct sl_buf *out, void *opaque)
{
        struct shared *sh = opaque;
        int rc;

        (void)req;
        pthread_mutex_lock(&sh->lock);
        rc = sl_buf_puts(out, sh->status_json ? sh->status_json : "{}");
        pthread_mutex_unlock(&sh->lock);
        sl_http_set_header(req, "Cache-Control", "no-store");
        return rc < 0 ? rc : 200;
}

static int handle_page(const struct sl_http_req *req, struct sl_buf *out, void *opaque)
{
        struct shared *sh = opaque;
        int rc;

        if (strcmp(req->path, "/") != 0 && strcmp(req->path, "/index.html") != 0) {
                rc = sl_buf_puts(out, "not found\n");
                return rc < 0 ? rc : 404;
        }
        rc = sl_buf_puts(out, sh->page);
        return rc < 0 ? rc : 200;
}

static int start_http(struct ctx *c, const char *addr)
{
        char errstr[256];
        struct sl_buf page;

        sl_buf_init(&page, 0);
        if (mon_page_html(&page, cfg.refresh_ms) < 0) {
                sl_buf_fini(&page);
                return -E2BIG;
        }
        c->sh.page = sl_buf_steal(&page);
        c->http = sl_http_start(addr, errstr, sizeof(errstr));
        if (!c->http) {
                fprintf(stderr, "statline-monitor: http %s: %s\n", addr, errstr);
                return -EADDRINUSE;
        }
        if (sl_http_handle(c->http, "/api/status", NULL, handle_status, &c->sh) < 0 ||
            sl_http_handle(c->http, "/", "text/html; charset=utf-8", handle_page, &c->sh) < 0)
                return -EINVAL;
        sl_http_set_ready(c->http, true);
        fprintf(stderr,
                "statline-monitor: serving http://127.0.0.1:%d/ (status page), "
                "/api/status, /metrics\n",
                sl_http_port(c->http));
        sl_log_info("monitor.http", "port=%d", sl_http_port(c->http));
        return 0;
}

/* ---- alerts ------------------------------------------------------------------ */

static int start_alerts(struct ctx *c)
{
        char errstr[512];
        struct sl_alert_opts ao = {
            .webhook_url = cfg.alert_webhook_url,
            .service = "monitor",
            .dedup_window_ms = cfg.alert_dedup_window_ms,
            .max_per_minute = cfg.alert_max_per_minute,
            .timeout_ms = cfg.alert_timeout_ms,
        };
        struct mon_alert_opts mo = {
            .failures = cfg.alert_failures,
            .failures_window_min = cfg.alert_failures_window_min,
            .dlq_depth = cfg.alert_dlq_depth,
        };

        c->alert = sl_alert_new(&ao, errstr, sizeof(errstr));
        if (!c->alert) {
                fprintf(stderr, "statline-monitor: %s\n", errstr);
                return -EINVAL;
        }
        if (!cfg.pg_dsn[0])
                fprintf(stderr, "statline-monitor: --alert without pg.dsn: only dead-letter "
                                "depth is checked\n");
        c->alerts = mon_alerts_new(c->alert, &mo);
        sl_log_info("monitor.alert.start", "webhook=%s failures=%d/%dmin dlq_depth=%d",
                    cfg.alert_webhook_url[0] ? "set" : "none", cfg.alert_failures,
                    cfg.alert_failures_window_min, cfg.alert_dlq_depth);
        return 0;
}

/* ---- one refresh --------------------------------------------------------------- */

static void collect_bus(struct ctx *c, struct mon_snapshot *snap)
{
        char errstr[512] = "";
        int rc;

        if (strcmp(cfg.bus_backend, "kafka") == 0) {
                if (!c->kafka)
                        c->kafka = mon_kafka_open(&c->bus, errstr, sizeof(errstr));
                rc = c->kafka ? mon_kafka_collect(c->kafka, snap, errstr, sizeof(errstr)) : -EIO;
        } else {
                if (!c->redis)
                        c->redis = mon_redis_open(&c->bus, errstr, sizeof(errstr));
                rc = c->redis ? mon_redis_collect(c->redis, snap, errstr, sizeof(errstr)) : -EIO;
        }
        if (rc < 0) {
                snprintf(snap->bus_error, sizeof(snap->bus_error), "%s",
                         errstr[0] ? errstr : "collection failed");
                sl_log_warn("monitor.bus.error", "%s", snap->bus_error);
        }
}

static void collect_pg(struct ctx *c, struct mon_snapshot *snap)
{
        char errstr[512] = "";
        int rc;

        snap->pg_enabled = cfg.pg_dsn[0] != '\0';
        snap->lookback_h = cfg.lookback_h;
        snap->stuck_after_min = cfg.stuck_after_min;
        if (!snap->pg_enabled)
                return;
        if (!c->pg)
                c->pg = sl_pg_open(cfg.pg_dsn, cfg.pg_connect_timeout_ms, errstr, sizeof(errstr));
        rc = c->pg ? mon_pg_collect(c->pg, snap, errstr, sizeof(errstr)) : -ECONNREFUSED;
        if (rc < 0) {
                snprintf(snap->pg_error, sizeof(snap->pg_error), "%s",
                         errstr[0] ? errstr : "collection failed");
                sl_log_warn("monitor.pg.error", "%s", snap->pg_error);
        }
}

/* The /api/status body: the snapshot plus the chart history. Heap string. */
static char *status_json(const struct ctx *c, const struct mon_snapshot *snap)
{
        cJSON *root = mon_snapshot_json(snap), *hist;
        struct sl_buf b;
        char *s;

        sl_buf_init(&b, SL_HTTP_RESPONSE_MAX_BYTES / 2);
        if (mon_state_history_json(c->state, &b) == 0 && (hist = cJSON_Parse(b.data)) != NULL)
                cJSON_AddItemToObject(root, "history", hist);
        sl_buf_fini(&b);
        s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        return s;
}

static void refresh(struct ctx *c, struct mon_snapshot *snap)
{
        mon_snapshot_fini(snap);
        snap->t_ms = sl_wall_ms();
        snap->backend = cfg.bus_backend;
        snap->prefix = cfg.bus_prefix;
        collect_bus(c, snap);
        collect_pg(c, snap);
        mon_state_update(c->state, snap);
        mon_metrics_update(snap);
        if (c->alerts) {
                char errstr[512] = "";
                (void)mon_alerts_check(c->alerts, snap, c->pg, errstr, sizeof(errstr));
        }
        if (c->http) {
                char *s = status_json(c, snap);
                pthread_mutex_lock(&c->sh.lock);
                free(c->sh.status_json);
                c->sh.status_json = s;
                pthread_mutex_unlock(&c->sh.lock);
        }
}

static int term_cols(void)
{
        struct winsize ws;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 0;
}

static void print_text(const struct mon_snapshot *snap, bool live)
{
        struct sl_buf b;
        bool ansi = live && isatty(STDOUT_FILENO);

        sl_buf_init(&b, 4 << 20);
        if (ansi)
                sl_buf_puts(&b, "\033[H"); /* home; each line clears its rest */
        mon_render_text(snap, &b, ansi, ansi ? term_cols() : 0);
        if (ansi)
                sl_buf_puts(&b, "\033[J"); /* clear below */
        else if (live)
                sl_buf_puts(&b, "\n");
        if (b.data)
                fwrite(b.data, 1, b.len, stdout);
        fflush(stdout);
        sl_buf_fini(&b);
}

static int print_json(const struct mon_snapshot *snap)
{
        cJSON *root = mon_snapshot_json(snap);
        char *s = cJSON_Print(root);

        cJSON_Delete(root);
        if (!s)
                return -ENOMEM;
        puts(s);
        free(s);
        return fflush(stdout) == 0 ? 0 : -EIO;
}

static int run(struct ctx *c, const struct cli *cli)
{
        struct mon_snapshot snap = {0};
        int n = 0, rc = 0;
        bool once = cli->mode == MODE_ONCE || cli->mode == MODE_JSON;

        if (cli->mode == MODE_LIVE && isatty(STDOUT_FILENO))
                fputs("\033[2J", stdout);
        while (!stop_signal) {
                int64_t t0 = sl_mono_ms(), left;
                refresh(c, &snap);
                sl_http_tick(c->http);
                n++;
                if (cli->mode == MODE_LIVE)
                        print_text(&snap, true);
                if (once && n >= cfg.samples)
                        break;
                left = cfg.refresh_ms - (sl_mono_ms() - t0);
                if (left > 0)
                        sl_sleep_ms(left, &stop_flag);
        }
        if (cli->mode == MODE_ONCE)
                print_text(&snap, false);
        else if (cli->mode == MODE_JSON)
                rc = print_json(&snap);
        if (rc == 0 && once && (snap.bus_error[0] || snap.pg_error[0]))
                rc = -EIO;
        mon_snapshot_fini(&snap);
        return rc;
}

int main(int argc, char **argv)
{
        struct cli cli = {.mode = MODE_LIVE};
        struct ctx c = {.sh = {.lock = PTHREAD_MUTEX_INITIALIZER}};
        char errstr[SL_CFG_ERRSTR_SIZE];
        enum sl_log_level lvl = SL_LOG_WARN;
        const char *addr;
        int rc, exit_code = EXIT_FAILURE;

        if (parse_cli(argc, argv, &cli) < 0) {
                usage(stderr);
                return EX_USAGE;
        }
        rc = sl_cfg_load(cfg_opts, "monitor", cli.cfg_argc, cli.cfg_argv, errstr, sizeof(errstr));
        if (rc == SL_CFG_HELP_CONFIG)
                return 0;
        if (rc == SL_CFG_HELP) {
                usage(stdout);
                return 0;
        }
        if (rc < 0) {
                fprintf(stderr, "statline-monitor: configuration:\n%s\n", errstr);
                return EX_CONFIG;
        }
        sl_log_level_parse(cfg.log_level, &lvl);
        sl_log_init("monitor", lvl);
        sl_cfg_log(cfg_opts);                /* info level; secrets as <secret> */
        (void)sl_signals_install(on_signal); /* SIGINT/SIGTERM stop; SIGPIPE ignored */

        c.bus = (struct mon_bus_opts){
            .backend = cfg.bus_backend,
            .url = cfg.bus_url,
            .username = cfg.bus_username,
            .password = cfg.bus_password,
            .prefix = cfg.bus_prefix,
            .kafka_props = cfg.bus_kafka_props,
            .timeout_ms = cfg.timeout_ms,
            .active_ms = cfg.refresh_ms, /* first refresh only; then: since the previous */
        };
        c.state = mon_state_new(cfg.window);
        if (cli.alert) {
                rc = start_alerts(&c);
                if (rc < 0) {
                        exit_code = EX_CONFIG;
                        goto out;
                }
        }
        addr = cli.mode == MODE_SERVE ? cli.serve_addr : cfg.http_addr;
        if (cli.mode != MODE_JSON && cli.mode != MODE_ONCE && addr && addr[0]) {
                rc = start_http(&c, addr);
                if (rc < 0)
                        goto out;
        }
        rc = run(&c, &cli);
        exit_code = rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
        sl_http_stop(c.http);
        mon_redis_close(c.redis);
        mon_kafka_close(c.kafka);
        sl_pg_close(c.pg);
        mon_state_free(c.state);
        mon_alerts_free(c.alerts);
        sl_alert_free(c.alert);
        free(c.sh.status_json);
        free(c.sh.page);
        sl_cfg_free(cfg_opts);
        return exit_code;
}
