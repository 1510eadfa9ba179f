/*
 * statline-dlq: inspect, replay and purge dead letters, and re-emit stored
 * completion events to rerun the pipeline from a phase. README.md in this
 * directory and docs/operations.md ("Dead letters") describe it.
 */
#include "dlq.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include <sl/bus.h>
#include <sl/cfg.h>
#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/svc.h> /* sl_signals_install */
#include <sl/toolopt.h>
#include <sl/util.h>

#define EX_USAGE     64
#define EX_CONFIG    78
#define MAX_CFG_ARGS 64

static volatile sig_atomic_t stop_signal; /* written only by on_signal() */

static void on_signal(int sig)
{
        if (stop_signal)
                _exit(128 + sig); /* second Ctrl-C: stop at once */
        stop_signal = sig;
        sl_log_from_handler("dlq.signal", "stopping after the current message");
}

static struct dlq_cfg {
        const char *bus_backend, *bus_url, *bus_username, *bus_password, *bus_prefix;
        const char *bus_kafka_props, *pg_dsn, *pg_migrations, *log_level;
        int pg_connect_timeout_ms, publish_timeout_ms, timeout_ms;
} cfg;

static const struct sl_cfg_opt cfg_opts[] = {
    SL_TOOL_BUS_OPTS(&cfg, "message bus backend whose dead letters are handled",
                     "topic prefix: dead letters are the topics PREFIX.*.dlq"),
    SL_TOOL_PG_OPTS(&cfg, "PostgreSQL (audit, Kafka resolution marks, outbox); required except "
                          "for Redis list/show/stats"),
    SL_CFG_STR("pg.migrations", &cfg.pg_migrations, "db/migrations", SL_CFG_SHARED,
               "directory of the NNNN_name.sql migrations applied at start"),
    SL_CFG_INT("publish.timeout_ms", &cfg.publish_timeout_ms, 10000, 100, 600000, 0,
               "wait for the broker to confirm each replayed message"),
    SL_CFG_INT("timeout_ms", &cfg.timeout_ms, 5000, 100, 600000, 0,
               "broker connect and read timeout"),
    SL_CFG_ENUM("log.level", &cfg.log_level, "warn", "debug|info|warn|error", SL_CFG_SHARED,
                "minimum log level (JSON lines on stderr)"),
    SL_CFG_END,
};

/* The command line: command, operand, filters and options. */
struct cli {
        const char *cmd;
        const char *operand; /* show ID, replay-from-phase PHASE */
        struct dlq_filter f;
        bool json, dry_run, yes, same_corr;
        int64_t limit; /* 0: all */
        double rate;   /* per second, 0: unlimited */
        const char *to, *date;
        const char *rate_s, *since_s, *until_s, *limit_s; /* as given */
        char *cfg_argv[MAX_CFG_ARGS];
        int cfg_argc;
};

/* Everything a command needs. */
struct ctx {
        struct cli *cli;
        struct sl_pg *pg;
        struct dlq_store *st;
        struct sl_bus *bus;
        char errstr[SL_CFG_ERRSTR_SIZE];
};

static void usage(FILE *out)
{
        fputs("usage: statline-dlq COMMAND [options] [--config FILE] [--set key=value]...\n"
              "\n"
              "Dead letters are the <bus.prefix>.*.dlq topics (Redis streams or Kafka topics).\n"
              "A dead letter's ID is <dlq topic>/<entry> (stream entry id, or partition:offset).\n"
              "\n"
              "commands:\n"
              "  list                     dead letters matching the filters (table, or --json)\n"
              "  show ID                  one dead letter: context headers, envelope, payload\n"
              "  stats                    counts by topic, error class, service and age\n"
              "  replay                   publish matching letters back to their original topic\n"
              "                           (or --to); same event_id, replay_count + 1; each is\n"
              "                           removed from the DLQ only after the broker confirmed\n"
              "                           the publish, so an interrupted replay resumes on rerun\n"
              "  purge                    remove matching letters (asks unless --yes)\n"
              "  replay-from-phase PHASE --date D\n"
              "                           re-emit the stored completion events that trigger PHASE\n"
              "                           (from ops.outbox) for game date D, as fresh events\n"
              "\n"
              "filters (list, stats, replay, purge; all must match):\n"
              "  --topic GLOB             original or DLQ topic (fnmatch glob)\n"
              "  --service NAME           service that dead-lettered it (dlq.service)\n"
              "  --error-class CLASS      TRANSIENT, PERMANENT or SYSTEM\n"
              "  --type GLOB              envelope type (e.g. 'raw.completed')\n"
              "  --sport SPORT            envelope sport\n"
              "  --correlation-id UUID    envelope correlation_id\n"
              "  --since T, --until T     failure time: YYYY-MM-DD (UTC day, --until inclusive)\n"
              "                           or RFC 3339 (2026-11-23T10:00:00Z, --until exclusive)\n"
              "  --id ID                  only this letter\n"
              "\n"
              "options:\n"
              "  --json                   machine-readable output (list, show, stats)\n"
              "  --limit N                at most N letters (list, replay, purge, "
              "replay-from-phase)\n"
              "  --dry-run                show what would happen; change nothing (still audited)\n"
              "  --rate N[/s]             at most N messages a second (replay, replay-from-phase)\n"
              "  --to TOPIC               replay to TOPIC instead of the original topic\n"
              "  --yes                    purge without asking\n"
              "  --date YYYY-MM-DD        replay-from-phase: the game date\n"
              "  --correlation-id UUID    replay-from-phase: only that run's stored events\n"
              "  --sport SPORT            replay-from-phase: sport of the topic (default nba)\n"
              "  --same-correlation       replay-from-phase: keep each event's correlation_id\n"
              "                           (default: one new correlation_id for the rerun)\n"
              "  -h, --help               this text; --help-config lists the config keys\n"
              "\n"
              "Poison (bytes that are not an envelope) is never replayed: it is counted as\n"
              "skipped; inspect it with show and remove it with purge.\n"
              "Every replay, purge and replay-from-phase run (dry runs too) is a row in\n"
              "ops.dlq_audit. Ctrl-C stops after the current message (a second one at once).\n"
              "Exit: 0 ok, 1 failure, 64 usage, 78 config, 130 interrupted.\n"
              "Config: STATLINE_BUS_* / STATLINE_PG_DSN, or STATLINE_DLQ_<KEY> (see "
              "--help-config).\n",
              out);
}

/* ---- command line ------------------------------------------------------------------------- */

static int cfg_arg(struct cli *c, char *a)
{
        if (c->cfg_argc >= MAX_CFG_ARGS - 1)
                return -E2BIG;
        c->cfg_argv[c->cfg_argc++] = a;
        return 0;
}

/* Options with a value: name, and where the value goes (const char **). */
static const char **value_slot(struct cli *c, const char *name)
{
        struct {
                const char *name;
                const char **slot;
        } const table[] = {
            {"--topic", &c->f.topic},
            {"--service", &c->f.service},
            {"--error-class", &c->f.error_class},
            {"--type", &c->f.type},
            {"--sport", &c->f.sport},
            {"--correlation-id", &c->f.correlation_id},
            {"--id", &c->f.id},
            {"--since", &c->since_s},
            {"--until", &c->until_s},
            {"--rate", &c->rate_s},
            {"--to", &c->to},
            {"--date", &c->date},
            {"--limit", &c->limit_s},
        };

        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(table[i].name, name) == 0)
                        return table[i].slot;
        return NULL;
}

static bool flag(struct cli *c, const char *a)
{
        if (strcmp(a, "--json") == 0)
                c->json = true;
        else if (strcmp(a, "--dry-run") == 0)
                c->dry_run = true;
        else if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0)
                c->yes = true;
        else if (strcmp(a, "--same-correlation") == 0)
                c->same_corr = true;
        else
                return false;
        return true;
}

/* Checks and converts the values. Returns 0 or -EINVAL with a message on stderr. */
static int cli_finish(struct cli *c)
{
        if (c->limit_s && sl_parse_i64(c->limit_s, 1, INT64_MAX, &c->limit) < 0) {
                fprintf(stderr, "statline-dlq: --limit: want a positive integer, got %s\n",
                        c->limit_s);
                return -EINVAL;
        }
        if (c->rate_s && dlq_parse_rate(c->rate_s, &c->rate) < 0) {
                fprintf(stderr, "statline-dlq: --rate: want N or N/s (0.01..100000), got %s\n",
                        c->rate_s);
                return -EINVAL;
        }
        if (c->since_s && dlq_parse_time(c->since_s, false, &c->f.since_ms) < 0) {
                fprintf(stderr, "statline-dlq: --since: want YYYY-MM-DD or RFC 3339, got %s\n",
                        c->since_s);
                return -EINVAL;
        }
        if (c->until_s && dlq_parse_time(c->until_s, true, &c->f.until_ms) < 0) {
                fprintf(stderr, "statline-dlq: --until: want YYYY-MM-DD or RFC 3339, got %s\n",
                        c->until_s);
                return -EINVAL;
        }
        if (c->f.correlation_id && !sl_uuid_valid(c->f.correlation_id)) {
                fprintf(stderr, "statline-dlq: --correlation-id: not a UUID: %s\n",
                        c->f.correlation_id);
                return -EINVAL;
        }
        if (c->date && !sl_date_valid(c->date)) {
                fprintf(stderr, "statline-dlq: --date: want YYYY-MM-DD, got %s\n", c->date);
                return -EINVAL;
        }
        return 0;
}

/*
 * Splits argv into the command, its operand, our options and the cfg
 * options (passed on to sl_cfg_load). Returns 0, 1 for --help, or -EINVAL.
 */
static int cli_parse(struct cli *c, int argc, char **argv)
{
        const char **slot;

        c->cfg_argv[c->cfg_argc++] = argv[0];
        for (int i = 1; i < argc; i++) {
                char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
                        return 1;
                if (strncmp(a, "--help-config", 13) == 0 || strncmp(a, "--config=", 9) == 0 ||
                    strncmp(a, "--set=", 6) == 0) {
                        if (cfg_arg(c, a) < 0)
                                return -EINVAL;
                } else if (strcmp(a, "--config") == 0 || strcmp(a, "--set") == 0) {
                        if (i + 1 >= argc || cfg_arg(c, a) < 0 || cfg_arg(c, argv[++i]) < 0)
                                goto missing;
                } else if (flag(c, a)) {
                        continue;
                } else if ((slot = value_slot(c, a))) {
                        if (i + 1 >= argc)
                                goto missing;
                        *slot = argv[++i];
                } else if (a[0] == '-') {
                        fprintf(stderr, "statline-dlq: unknown option %s (see --help)\n", a);
                        return -EINVAL;
                } else if (!c->cmd) {
                        c->cmd = a;
                } else if (!c->operand) {
                        c->operand = a;
                } else {
                        fprintf(stderr, "statline-dlq: unexpected argument %s\n", a);
                        return -EINVAL;
                }
                continue;
        missing:
                fprintf(stderr, "statline-dlq: %s needs a value\n", a);
                return -EINVAL;
        }
        c->cfg_argv[c->cfg_argc] = NULL;
        return cli_finish(c);
}

/* ---- collecting letters ------------------------------------------------------------------- */

struct collect {
        const struct dlq_filter *f;
        int64_t limit;
        struct dlq_letter **v;
        size_t n, cap;
};

static int collect_one(struct dlq_letter *l, void *opaque)
{
        struct collect *c = opaque;

        if (!dlq_filter_match(c->f, l)) {
                dlq_letter_free(l);
                return 0;
        }
        if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 64;
                c->v = sl_xrealloc(c->v, c->cap * sizeof(*c->v));
        }
        c->v[c->n++] = l;
        return c->limit > 0 && (int64_t)c->n >= c->limit ? 1 : 0;
}

static void collect_free(struct collect *c)
{
        for (size_t i = 0; i < c->n; i++)
                dlq_letter_free(c->v[i]);
        free(c->v);
}

static int collect(struct ctx *x, struct collect *c, int64_t limit)
{
        *c = (struct collect){.f = &x->cli->f, .limit = limit};
        return dlq_store_scan(x->st, collect_one, c, x->errstr, sizeof(x->errstr));
}

static void print_json(struct cJSON *o, bool pretty)
{
        char *s = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);

        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
}

/* ---- list, show, stats -------------------------------------------------------------------- */

static int cmd_list(struct ctx *x)
{
        struct collect c;
        int rc = collect(x, &c, x->cli->limit);
        char when[25];

        if (rc < 0)
                goto out;
        if (x->cli->json) {
                struct cJSON *a = cJSON_CreateArray();
                for (size_t i = 0; i < c.n; i++)
                        cJSON_AddItemToArray(a, dlq_letter_json(c.v[i], false));
                print_json(a, false);
                goto out;
        }
        printf("%-58s %-24s %-10s %-9s %-22s %s\n", "ID", "FAILED_AT", "SERVICE", "CLASS", "TYPE",
               "ERROR");
        for (size_t i = 0; i < c.n; i++) {
                const struct dlq_letter *l = c.v[i];
                const char *svc = dlq_letter_header(l, SL_DLQ_H_SERVICE);
                const char *cls = dlq_letter_header(l, SL_DLQ_H_CLASS);
                const char *err = dlq_letter_header(l, SL_DLQ_H_ERROR);
                if (l->failed_ms)
                        sl_time_rfc3339(l->failed_ms, when);
                else
                        snprintf(when, sizeof(when), "-");
                printf("%-58s %-24s %-10.10s %-9.9s %-22.22s %.60s\n", l->id, when, svc ? svc : "-",
                       cls ? cls : "-", l->env ? l->env->type : "(poison)",
                       err ? err : (l->env ? "-" : l->parse_error));
        }
        printf("%zu dead letter(s)\n", c.n);
out:
        collect_free(&c);
        return rc;
}

static int cmd_show(struct ctx *x)
{
        struct dlq_letter *l = NULL;
        char when[25] = "-";
        int rc;

        if (!x->cli->operand)
                return sl_errf(x->errstr, sizeof(x->errstr), -EINVAL, "show needs an ID");
        rc = dlq_store_get(x->st, x->cli->operand, &l, x->errstr, sizeof(x->errstr));
        if (rc < 0)
                return rc;
        if (x->cli->json) {
                print_json(dlq_letter_json(l, true), true);
                dlq_letter_free(l);
                return 0;
        }
        if (l->failed_ms)
                sl_time_rfc3339(l->failed_ms, when);
        printf("id:             %s\ndlq topic:      %s\noriginal topic: %s\nkey:            "
               "%s\nfailed at:      %s\nbytes:          %zu\nerror context:\n",
               l->id, l->dlq_topic, dlq_letter_origin(l), l->key ? l->key : "-", when, l->len);
        for (int i = 0; i < l->n_headers; i++)
                printf("  %-22s %s\n", l->hname[i], l->hvalue[i]);
        if (l->env) {
                char *ser = sl_envelope_serialize(l->env, NULL);
                struct cJSON *o = cJSON_Parse(ser);
                printf("envelope:\n");
                print_json(o, true);
                free(ser);
        } else {
                struct cJSON *s = cJSON_CreateString(l->data);
                printf("poison (not an envelope): %s\ndata (JSON-escaped): ", l->parse_error);
                print_json(s, false);
        }
        dlq_letter_free(l);
        return 0;
}

/* A small name -> count table for stats. */
struct tally {
        char *name[256];
        int64_t count[256];
        int n;
};

static void tally_add(struct tally *t, const char *name)
{
        name = name && *name ? name : "-";
        for (int i = 0; i < t->n; i++)
                if (strcmp(t->name[i], name) == 0) {
                        t->count[i]++;
                        return;
                }
        if (t->n == 256)
                name = "(other)";
        if (t->n < 256) {
                t->name[t->n] = sl_xstrdup(name);
                t->count[t->n++] = 1;
        }
}

static struct cJSON *tally_out(struct tally *t, const char *title, bool json)
{
        struct cJSON *o = json ? cJSON_CreateObject() : NULL;

        if (!json)
                printf("by %s:\n", title);
        for (int i = 0; i < t->n; i++) {
                if (json)
                        cJSON_AddNumberToObject(o, t->name[i], (double)t->count[i]);
                else
                        printf("  %8" PRId64 "  %s\n", t->count[i], t->name[i]);
                free(t->name[i]);
        }
        return o;
}

static int cmd_stats(struct ctx *x)
{
        struct tally topic = {0}, cls = {0}, svc = {0}, age = {0};
        struct collect c;
        int64_t now = sl_wall_ms();
        struct cJSON *o = NULL;
        bool json = x->cli->json;
        int rc = collect(x, &c, 0);

        if (rc < 0)
                goto out;
        for (size_t i = 0; i < c.n; i++) {
                tally_add(&topic, dlq_letter_origin(c.v[i]));
                tally_add(&cls, dlq_letter_header(c.v[i], SL_DLQ_H_CLASS));
                tally_add(&svc, dlq_letter_header(c.v[i], SL_DLQ_H_SERVICE));
                tally_add(&age, dlq_age_bucket(now, c.v[i]->failed_ms));
        }
        if (json) {
                o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "total", (double)c.n);
        } else {
                printf("total: %zu\n", c.n);
        }
        struct cJSON *parts[4] = {tally_out(&topic, "topic", json),
                                  tally_out(&cls, "error class", json),
                                  tally_out(&svc, "service", json), tally_out(&age, "age", json)};
        if (json) {
                cJSON_AddItemToObject(o, "by_topic", parts[0]);
                cJSON_AddItemToObject(o, "by_error_class", parts[1]);
                cJSON_AddItemToObject(o, "by_service", parts[2]);
                cJSON_AddItemToObject(o, "by_age", parts[3]);
                print_json(o, false);
        }
out:
        collect_free(&c);
        return rc;
}

/* ---- progress ----------------------------------------------------------------------------- */

struct progress {
        bool tty;
        int64_t start_ms;
        size_t total;
};

static void progress_step(const struct progress *p, size_t done, const char *verb, const char *id,
                          const char *detail)
{
        double el = (double)(sl_mono_ms() - p->start_ms) / 1000.0;
        int width = 30, fill = p->total ? (int)(width * done / p->total) : width;

        if (!p->tty) {
                printf("%s %s%s%s (%zu/%zu)\n", verb, id, detail ? " " : "", detail ? detail : "",
                       done, p->total);
                fflush(stdout);
                return;
        }
        fprintf(stderr, "\r[%.*s%*s] %zu/%zu %.1f/s ", fill,
                "==============================", width - fill, "", done, p->total,
                el > 0 ? (double)done / el : 0.0);
        if (done == p->total)
                fputc('\n', stderr);
}

/* ---- audit -------------------------------------------------------------------------------- */

/* The audit filter: the filters plus the options that shape the run. */
static char *audit_filter(const struct cli *c)
{
        struct cJSON *o = dlq_filter_json(&c->f);
        char *s;

        if (c->operand)
                cJSON_AddStringToObject(o, "operand", c->operand);
        if (c->to)
                cJSON_AddStringToObject(o, "to", c->to);
        if (c->rate > 0)
                cJSON_AddNumberToObject(o, "rate_per_s", c->rate);
        if (c->limit > 0)
                cJSON_AddNumberToObject(o, "limit", (double)c->limit);
        if (c->date)
                cJSON_AddStringToObject(o, "date", c->date);
        if (c->same_corr)
                cJSON_AddTrueToObject(o, "same_correlation");
        s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return s;
}

static int audit_start(struct ctx *x, int64_t *id)
{
        char *f = audit_filter(x->cli);
        int rc = dlq_db_audit_start(x->pg, x->cli->cmd, cfg.bus_backend, x->cli->dry_run, f, id,
                                    x->errstr, sizeof(x->errstr));

        free(f);
        return rc;
}

static const char *result_of(const struct ctx *x, const struct dlq_counts *n, int rc)
{
        if (x->cli->dry_run)
                return "dry-run";
        if (stop_signal)
                return "interrupted";
        if (rc < 0 || n->failed > 0)
                return "failed";
        return "ok";
}

/* Finishes the audit row and prints the summary. Returns rc, or the audit error. */
static int audit_finish(struct ctx *x, int64_t id, const struct dlq_counts *n, int rc,
                        int64_t start_ms)
{
        const char *result = result_of(x, n, rc);
        char err[1024];
        int arc;

        arc =
            dlq_db_audit_finish(x->pg, id, n, result, rc < 0 ? x->errstr : NULL, err, sizeof(err));
        printf("%s: matched=%" PRId64 " %s=%" PRId64 " skipped=%" PRId64 " failed=%" PRId64
               " elapsed_ms=%" PRId64 " result=%s audit_id=%" PRId64 "\n",
               x->cli->cmd, n->matched, x->cli->dry_run ? "would" : "done", n->done, n->skipped,
               n->failed, sl_mono_ms() - start_ms, result, id);
        if (arc < 0 && rc >= 0) {
                snprintf(x->errstr, sizeof(x->errstr), "audit: %s", err);
                return arc;
        }
        return rc;
}

/* ---- replay, purge ------------------------------------------------------------------------ */

static int open_bus(struct ctx *x)
{
        struct sl_bus_opts bo = {0};

        bo.backend = cfg.bus_backend;
        bo.url = cfg.bus_url;
        bo.username = *cfg.bus_username ? cfg.bus_username : NULL;
        bo.password = *cfg.bus_password ? cfg.bus_password : NULL;
        bo.prefix = cfg.bus_prefix;
        bo.service = "dlq";
        bo.kafka_props = *cfg.bus_kafka_props ? cfg.bus_kafka_props : NULL;
        bo.connect_timeout_ms = cfg.timeout_ms;
        x->bus = sl_bus_open(&bo, x->errstr, sizeof(x->errstr));
        return x->bus ? 0 : -EIO;
}

/* Waits for the pacing slot of message i; false if a signal came first. */
static bool pace(const struct ctx *x, int64_t start_ms, uint64_t i)
{
        int64_t wait = dlq_pace_at_ms(start_ms, i, x->cli->rate) - sl_mono_ms();

        if (wait > 0)
                sl_sleep_ms(wait, (volatile const int *)&stop_signal);
        return !stop_signal;
}

/*
 * Pub/Sub keeps nothing for absent subscribers: a replay with nobody
 * subscribed would be "confirmed" and lost. Refuse instead (the letter stays).
 */
static int pubsub_guard(struct ctx *x, const char *channel)
{
        int n;

        if (strcmp(cfg.bus_backend, "redis-pubsub") != 0)
                return 0;
        n = dlq_store_subscribers(x->st, channel, x->errstr, sizeof(x->errstr));
        if (n == 0)
                return sl_errf(x->errstr, sizeof(x->errstr), -EPIPE,
                               "no subscriber on %s: a Pub/Sub publish would be lost "
                               "(start its consumer, then replay again)",
                               channel);
        return n < 0 ? n : 0;
}

/* Publishes one letter (replay_count + 1) and waits for the broker. 0, 1 skipped, or -errno. */
static int replay_one(struct ctx *x, const struct dlq_letter *l, const char **target)
{
        size_t len = 0;
        char *bytes = dlq_replay_bytes(l, &len);
        const char *key = l->key ? l->key : dlq_letter_header(l, SL_DLQ_H_KEY);
        char count[16];
        struct sl_bus_header h[2] = {{"replay.from", l->id}, {"replay.count", count}};
        int rc;

        *target = x->cli->to ? x->cli->to : dlq_letter_origin(l);
        if (!bytes || !**target) {
                free(bytes);
                return 1;
        }
        snprintf(count, sizeof(count), "%d", l->env->replay_count + 1);
        if (x->cli->dry_run) {
                free(bytes);
                return 0;
        }
        rc = pubsub_guard(x, *target);
        if (rc < 0) {
                free(bytes);
                return rc;
        }
        rc = sl_bus_publish_raw(x->bus, *target, key && *key ? key : NULL, bytes, len, h, 2);
        free(bytes);
        if (rc == 0)
                rc = sl_bus_flush(x->bus, cfg.publish_timeout_ms);
        if (rc < 0)
                return sl_errf(x->errstr, sizeof(x->errstr), rc, "publish %s to %s: %s", l->id,
                               *target, sl_strerror(rc));
        return 0;
}

static int move_letters(struct ctx *x, struct collect *c, bool replay, int64_t audit_id,
                        struct dlq_counts *n)
{
        struct progress p = {isatty(STDERR_FILENO) && !x->cli->dry_run, sl_mono_ms(), c->n};
        const char *verb = replay ? (x->cli->dry_run ? "would replay" : "replayed")
                                  : (x->cli->dry_run ? "would purge" : "purged");
        uint64_t sent = 0;
        int rc = 0;

        for (size_t i = 0; i < c->n && !stop_signal; i++) {
                const struct dlq_letter *l = c->v[i];
                const char *target = NULL;
                char detail[600];
                if (replay && !l->env) {
                        n->skipped++;
                        progress_step(&p, i + 1, "skipped (poison)", l->id, NULL);
                        continue;
                }
                if (replay && !pace(x, p.start_ms, sent))
                        break;
                rc = replay ? replay_one(x, l, &target) : 0;
                if (rc == 1) {
                        n->skipped++;
                        progress_step(&p, i + 1, "skipped (no topic)", l->id, NULL);
                        rc = 0;
                        continue;
                }
                if (rc == 0 && !x->cli->dry_run)
                        rc = dlq_store_remove(x->st, l, replay ? "replayed" : "purged", audit_id,
                                              x->errstr, sizeof(x->errstr));
                if (rc < 0) {
                        n->failed++;
                        break; /* a broker or database problem: stop, a rerun resumes */
                }
                sent++;
                n->done++;
                snprintf(detail, sizeof(detail), "%s%s%s", target ? "-> " : "",
                         target ? target : "", l->env ? "" : " (poison)");
                progress_step(&p, i + 1, verb, l->id, detail);
        }
        return rc;
}

static int cmd_move(struct ctx *x, bool replay)
{
        struct dlq_counts n = {0};
        struct collect c;
        int64_t audit_id = 0, start = sl_mono_ms();
        int rc = collect(x, &c, x->cli->limit);

        if (rc < 0)
                goto out;
        n.matched = (int64_t)c.n;
        rc = audit_start(x, &audit_id);
        if (rc < 0)
                goto out;
        if (!replay && !x->cli->dry_run && !x->cli->yes && c.n > 0) {
                char answer[16] = "";
                if (!isatty(STDIN_FILENO)) {
                        rc = sl_errf(x->errstr, sizeof(x->errstr), -EPERM,
                                     "refusing to purge %zu dead letter(s) without --yes "
                                     "(stdin is not a terminal)",
                                     c.n);
                        dlq_db_audit_finish(x->pg, audit_id, &n, "aborted", x->errstr, NULL, 0);
                        goto out;
                }
                fprintf(stderr, "purge %zu dead letter(s)? this cannot be undone [y/N] ", c.n);
                if (!fgets(answer, sizeof(answer), stdin) ||
                    (answer[0] != 'y' && answer[0] != 'Y')) {
                        rc = sl_errf(x->errstr, sizeof(x->errstr), -ECANCELED, "purge aborted");
                        dlq_db_audit_finish(x->pg, audit_id, &n, "aborted", NULL, NULL, 0);
                        goto out;
                }
        }
        if (replay && !x->cli->dry_run && c.n > 0)
                rc = open_bus(x);
        if (rc == 0)
                rc = move_letters(x, &c, replay, audit_id, &n);
        rc = audit_finish(x, audit_id, &n, rc, start);
out:
        collect_free(&c);
        return rc;
}

/* ---- replay-from-phase -------------------------------------------------------------------- */

/* Publishes a fresh copy of one stored event. 0, or -errno with errstr. */
static int rerun_one(struct ctx *x, const struct dlq_outbox_row *row, const char *corr,
                     const char *tag, char *event_id)
{
        struct sl_envelope *stored = NULL, *env = NULL;
        char perr[256];
        struct sl_bus_header h[1];
        size_t len = 0;
        char *bytes = NULL;
        int rc;

        rc = sl_envelope_parse(row->event, strlen(row->event), 0, &stored, perr, sizeof(perr));
        if (rc < 0)
                return sl_errf(x->errstr, sizeof(x->errstr), rc, "outbox row %" PRId64 ": %s",
                               row->id, perr);
        env = dlq_rerun_copy(stored, corr ? corr : stored->correlation_id, tag);
        if (!env) {
                rc = sl_errf(x->errstr, sizeof(x->errstr), -EINVAL,
                             "outbox row %" PRId64 ": cannot build a rerun copy", row->id);
                goto out;
        }
        memcpy(event_id, env->event_id, 37);
        if (x->cli->dry_run)
                goto out;
        bytes = sl_envelope_serialize(env, &len);
        h[0] = (struct sl_bus_header){"rerun.of", stored->event_id};
        rc = sl_bus_publish_raw(x->bus, row->topic, row->key, bytes, len, h, 1);
        if (rc == 0)
                rc = sl_bus_flush(x->bus, cfg.publish_timeout_ms);
        if (rc < 0)
                sl_errf(x->errstr, sizeof(x->errstr), rc, "publish to %s: %s", row->topic,
                        sl_strerror(rc));
out:
        free(bytes);
        sl_envelope_free(env);
        sl_envelope_free(stored);
        return rc;
}

static int cmd_rerun(struct ctx *x)
{
        const char *up = dlq_upstream_phase(x->cli->operand);
        const char *sport = x->cli->f.sport ? x->cli->f.sport : "nba";
        struct dlq_outbox_row *rows = NULL;
        struct dlq_counts n = {0};
        struct progress p = {false, sl_mono_ms(), 0};
        char topic[512], corr[37], event_id[37];
        size_t nrows = 0;
        int64_t audit_id = 0;
        int rc;

        if (!up)
                return sl_errf(x->errstr, sizeof(x->errstr), -EINVAL,
                               "replay-from-phase: PHASE must be raw, analytics, precompute, "
                               "prediction or publishing (got %s)",
                               x->cli->operand ? x->cli->operand : "nothing");
        if (!x->cli->date)
                return sl_errf(x->errstr, sizeof(x->errstr), -EINVAL,
                               "replay-from-phase needs --date YYYY-MM-DD");
        rc = sl_bus_topic(topic, sizeof(topic), cfg.bus_prefix, sport, up);
        if (rc == 0)
                rc = dlq_db_outbox(x->pg, topic, x->cli->date, x->cli->f.correlation_id, &rows,
                                   &nrows, x->errstr, sizeof(x->errstr));
        if (rc < 0)
                return rc;
        if (x->cli->limit > 0 && (int64_t)nrows > x->cli->limit)
                nrows = (size_t)x->cli->limit;
        sl_uuid7(corr);
        printf("replay-from-phase %s: %zu stored %s.completed event(s) for %s on %s; rerun "
               "correlation_id=%s\n",
               x->cli->operand, nrows, up, x->cli->date, topic,
               x->cli->same_corr ? "(kept per event)" : corr);
        n.matched = (int64_t)nrows;
        p.total = nrows;
        rc = audit_start(x, &audit_id);
        if (rc == 0 && !x->cli->dry_run && nrows > 0)
                rc = open_bus(x);
        for (size_t i = 0; rc == 0 && i < nrows && !stop_signal; i++) {
                if (!pace(x, p.start_ms, i))
                        break;
                rc = rerun_one(x, &rows[i], x->cli->same_corr ? NULL : corr, corr, event_id);
                if (rc < 0) {
                        n.failed++;
                        break;
                }
                n.done++;
                progress_step(&p, i + 1, x->cli->dry_run ? "would emit" : "emitted", event_id,
                              topic);
        }
        if (audit_id > 0)
                rc = audit_finish(x, audit_id, &n, rc, p.start_ms);
        dlq_db_outbox_free(rows, nrows);
        return rc;
}

/* ---- main --------------------------------------------------------------------------------- */

static int open_pg(struct ctx *x, bool required)
{
        int rc;

        if (!*cfg.pg_dsn) {
                if (!required)
                        return 0;
                return sl_errf(x->errstr, sizeof(x->errstr), -EINVAL,
                               "pg.dsn is required for %s%s (STATLINE_PG_DSN)", x->cli->cmd,
                               strcmp(cfg.bus_backend, "kafka") == 0 ? " on kafka" : "");
        }
        x->pg = sl_pg_open(cfg.pg_dsn, cfg.pg_connect_timeout_ms, x->errstr, sizeof(x->errstr));
        if (!x->pg)
                return -ECONNREFUSED;
        rc = sl_pg_migrate(x->pg, cfg.pg_migrations, x->errstr, sizeof(x->errstr));
        return rc < 0 ? rc : 0;
}

static int run(struct ctx *x)
{
        const char *cmd = x->cli->cmd;
        bool reads =
            strcmp(cmd, "list") == 0 || strcmp(cmd, "show") == 0 || strcmp(cmd, "stats") == 0;
        bool moves = strcmp(cmd, "replay") == 0 || strcmp(cmd, "purge") == 0;
        bool rerun = strcmp(cmd, "replay-from-phase") == 0;
        struct dlq_store_opts so = {0};
        int rc;

        if (!reads && !moves && !rerun)
                return sl_errf(x->errstr, sizeof(x->errstr), -EINVAL,
                               "unknown command %s (see --help)", cmd);
        rc = open_pg(x, !reads || strcmp(cfg.bus_backend, "kafka") == 0);
        if (rc < 0)
                return rc;
        if (rerun)
                return cmd_rerun(x);
        so = (struct dlq_store_opts){cfg.bus_backend,  cfg.bus_url,    cfg.bus_username,
                                     cfg.bus_password, cfg.bus_prefix, cfg.bus_kafka_props,
                                     cfg.timeout_ms,   x->pg};
        x->st = dlq_store_open(&so, x->errstr, sizeof(x->errstr));
        if (!x->st)
                return -EIO;
        if (strcmp(cmd, "list") == 0)
                return cmd_list(x);
        if (strcmp(cmd, "show") == 0)
                return cmd_show(x);
        if (strcmp(cmd, "stats") == 0)
                return cmd_stats(x);
        return cmd_move(x, strcmp(cmd, "replay") == 0);
}

int main(int argc, char **argv)
{
        static struct cli cli;
        static struct ctx x;
        enum sl_log_level lvl = SL_LOG_WARN;
        int rc, exit_code;

        rc = cli_parse(&cli, argc, argv);
        if (rc == 1) {
                usage(stdout);
                return 0;
        }
        if (rc < 0)
                return EX_USAGE;
        rc = sl_cfg_load(cfg_opts, "dlq", cli.cfg_argc, cli.cfg_argv, x.errstr, sizeof(x.errstr));
        if (rc == SL_CFG_HELP_CONFIG)
                return 0;
        if (rc == SL_CFG_HELP) {
                usage(stdout);
                return 0;
        }
        if (rc < 0) {
                fprintf(stderr, "statline-dlq: config:\n%s\n", x.errstr);
                return EX_CONFIG;
        }
        if (!cli.cmd) {
                usage(stderr);
                sl_cfg_free(cfg_opts);
                return EX_USAGE;
        }
        sl_log_level_parse(cfg.log_level, &lvl);
        sl_log_init("dlq", lvl);
        sl_cfg_log(cfg_opts);                /* info level; secrets as <secret> */
        (void)sl_signals_install(on_signal); /* SIGINT/SIGTERM stop; SIGPIPE ignored */
        x.cli = &cli;
        x.errstr[0] = '\0';
        rc = run(&x);
        if (rc < 0)
                fprintf(stderr, "statline-dlq: %s\n", x.errstr[0] ? x.errstr : sl_strerror(rc));
        exit_code = stop_signal ? 130 : rc < 0 ? 1 : 0;
        sl_bus_close(x.bus);
        dlq_store_close(x.st);
        sl_pg_close(x.pg);
        sl_cfg_free(cfg_opts);
        return exit_code;
}
