/*
 * statline-scheduler: publishes scrape.requested triggers at the minutes a
 * cron-style schedule file names, skipping an entry whose previous run is
 * still going (tools/scheduler/README.md).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <sl/bus.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/svc.h>
#include <sl/toolopt.h>
#include <sl/util.h>

#include "schedule.h"
#include "track.h"

#ifndef SCHED_MIGRATIONS_DIR
#define SCHED_MIGRATIONS_DIR "db/migrations"
#endif

#define EXIT_USAGE  78
#define MAX_CATCHUP 5 /* minutes evaluated after a stall (a suspended host, a slow query) */

static volatile sig_atomic_t stop_signal; /* written only by on_signal() */

static void on_signal(int sig)
{
        if (stop_signal)
                _exit(128 + sig);
        stop_signal = sig;
}

struct opts {
        const char *file, *at, *sport;
        struct sl_tool_conn conn; /* pg.dsn, migrations, bus (sl/toolopt.h) */
        int64_t utc_offset_min, count;
        bool once, dry_run;
        enum sl_log_level level;
};

struct sched {
        struct opts o;
        struct sched_schedule s;
        struct sl_pg *pg;
        struct sl_bus *bus;
        char topic[256];
        int failures;
};

static void usage(FILE *f)
{
        fprintf(
            f,
            "usage: statline-scheduler --file SCHEDULE [--once] [--at YYYY-MM-DDTHH:MM]\n"
            "                          [--dry-run [--count N]] [--utc-offset-min N]\n"
            "                          [--pg-dsn DSN] [--bus-backend B] [--bus-url U] "
            "[--bus-prefix P]\n"
            "                          [--log-level L]\n"
            "\n"
            "Reads a cron-style schedule and, at each minute an entry matches, publishes a\n"
            "scrape.requested trigger on <prefix>.nba.scrape.requested (statline-scraper in\n"
            "service mode runs it; the whole pipeline run carries the trigger's correlation\n"
            "id). An entry whose previous run is still going (its scrape not finished, or\n"
            "events of its correlation id not yet handled) is skipped for that minute. Every\n"
            "fire and skip is a row of ops.scheduler_fires, whose key (entry, minute) makes a\n"
            "minute fire once even with two schedulers.\n"
            "\n"
            "Schedule file, one entry per line ('#' comments):\n"
            "  MIN HOUR DOM MON DOW  NAME  scrape [date=today|yesterday|tomorrow|today-N|today+N]\n"
            "                                     [sources=scoreboard,boxscore,injuries,props,"
            "schedule]\n"
            "  e.g.  0 4 * * *    nightly   scrape date=yesterday\n"
            "        30 5 * * *   schedule  scrape date=today sources=schedule\n"
            "        0 9 * * *    morning   scrape date=today sources=injuries,props\n"
            "  Fields as in crontab(5): * N N-M */S N-M/S lists, jan..dec, sun..sat,\n"
            "  @hourly @daily @weekly @monthly @yearly.\n"
            "\n"
            "  --file F            the schedule (required)\n"
            "  --once              evaluate one minute (now, or --at), fire, exit\n"
            "  --at T              the minute to evaluate with --once or list from with\n"
            "                      --dry-run: a fake clock for tests, on the schedule's clock\n"
            "  --dry-run           list each entry's next --count (default 5) fire times and\n"
            "                      the date each would scrape; needs no database or bus\n"
            "  --utc-offset-min N  the schedule's clock: UTC plus N minutes (default 0;\n"
            "                      -300 is US Eastern standard time). \"today\" is on it too.\n"
            "  --pg-dsn DSN        PostgreSQL (env STATLINE_PG_DSN)\n"
            "  --migrations DIR    applied at start (env STATLINE_PG_MIGRATIONS)\n"
            "  --bus-backend B     redis-streams|redis-pubsub|kafka (env STATLINE_BUS_BACKEND)\n"
            "  --bus-url U         (env STATLINE_BUS_URL)\n"
            "  --bus-prefix P      (env STATLINE_BUS_PREFIX, default statline)\n"
            "                      (STATLINE_BUS_USERNAME/PASSWORD/KAFKA_PROPS are read too)\n"
            "  --log-level L       debug|info|warn|error (JSON lines on stderr; default info)\n"
            "\n"
            "Without --once it runs until SIGINT/SIGTERM, waking at each minute. On\n"
            "Kubernetes, a CronJob per entry running `statline-scheduler --once` (or a\n"
            "one-off trigger) is the alternative to this long-running process.\n"
            "Exit: 0, 1 when a trigger could not be published, 78 bad usage or schedule.\n");
}

static int parse_args(int argc, char **argv, struct opts *o, char *errstr, size_t errstr_size)
{
        o->sport = "nba";
        o->count = 5;
        o->level = SL_LOG_INFO;
        sl_tool_conn_from_env(&o->conn, SCHED_MIGRATIONS_DIR);
        for (int i = 1; i < argc; i++) {
                const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

                if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0)
                        return 1;
                if (strcmp(opt, "--once") == 0) {
                        o->once = true;
                        continue;
                }
                if (strcmp(opt, "--dry-run") == 0) {
                        o->dry_run = true;
                        continue;
                }
                if (!val) {
                        snprintf(errstr, errstr_size, "unknown option or missing value: %s", opt);
                        return -EINVAL;
                }
                i++;
                if (strcmp(opt, "--file") == 0) {
                        o->file = val;
                } else if (strcmp(opt, "--at") == 0) {
                        o->at = val;
                } else if (strcmp(opt, "--count") == 0) {
                        if (sl_parse_i64(val, 1, 1000, &o->count) < 0)
                                goto bad;
                } else if (strcmp(opt, "--utc-offset-min") == 0) {
                        if (sl_parse_i64(val, -720, 840, &o->utc_offset_min) < 0)
                                goto bad;
                } else if (sl_tool_conn_flag(&o->conn, opt, val)) {
                        /* --pg-dsn --migrations --bus-backend --bus-url --bus-prefix */
                } else if (strcmp(opt, "--log-level") == 0) {
                        if (sl_log_level_parse(val, &o->level) < 0)
                                goto bad;
                } else {
                        snprintf(errstr, errstr_size, "unknown option %s", opt);
                        return -EINVAL;
                }
                continue;
        bad:
                snprintf(errstr, errstr_size, "bad value for %s: '%s'", opt, val);
                return -EINVAL;
        }
        if (!o->file) {
                snprintf(errstr, errstr_size, "--file is required");
                return -EINVAL;
        }
        if (o->at && !o->once && !o->dry_run) {
                snprintf(errstr, errstr_size, "--at needs --once or --dry-run");
                return -EINVAL;
        }
        return 0;
}

/* The current minute on the schedule's clock. */
static int64_t now_minute(const struct opts *o)
{
        return sl_wall_ms() / 60000 + o->utc_offset_min;
}

static int dry_run(struct sched *sc, int64_t from)
{
        char at[17], when[17], date[11];

        sched_fmt_minute(from, at);
        printf("schedule %s: %d entr%s, clock UTC%+lld min, next fire times after %s:\n",
               sc->o.file, sc->s.n, sc->s.n == 1 ? "y" : "ies", (long long)sc->o.utc_offset_min,
               at);
        for (int i = 0; i < sc->s.n; i++) {
                const struct sched_entry *e = &sc->s.e[i];
                int64_t t = from;

                printf("%s  (%s) scrape%s%s\n", e->name, e->when, e->sources[0] ? " sources=" : "",
                       e->sources);
                for (int k = 0; k < sc->o.count; k++) {
                        t = sched_cron_next(&e->cron, t);
                        if (t < 0) {
                                printf("  never\n");
                                break;
                        }
                        sched_fmt_minute(t, when);
                        sched_entry_date(e, t, date);
                        printf("  %s  scrape %s\n", when, date);
                }
        }
        fflush(stdout);
        return 0;
}

/* ---- firing ------------------------------------------------------------------------------ */

static int sql(struct sched *sc, const char *q, int n, const char *const *params, PGresult **res)
{
        char errstr[512];
        int rc = sl_pg_exec(sc->pg, q, n, params, res, errstr, sizeof(errstr));

        if (rc < 0)
                sl_log_error("scheduler.pg", "%s", errstr);
        return rc;
}

/*
 * Whether the entry's last fired run is still going; writes what it found
 * into why. A database error counts as "going" (skip rather than pile up).
 */
static bool previous_running(struct sched *sc, const struct sched_entry *e, char *why,
                             size_t why_size)
{
        const char *p[1] = {e->name};
        struct track_status st;
        char corr[37], trig[37], errstr[512], note[512];
        PGresult *res = NULL;
        bool found;

        if (sql(sc,
                "SELECT correlation_id::text, coalesce(trigger_event_id::text, '') FROM "
                "ops.scheduler_fires WHERE entry = $1 AND status = 'fired' ORDER BY fire_at DESC "
                "LIMIT 1",
                1, p, &res) < 0) {
                snprintf(why, why_size, "cannot read the previous run (database)");
                return true;
        }
        found = PQntuples(res) > 0;
        if (found) {
                snprintf(corr, sizeof(corr), "%s", PQgetvalue(res, 0, 0));
                snprintf(trig, sizeof(trig), "%s", PQgetvalue(res, 0, 1));
        }
        PQclear(res);
        if (!found || !trig[0])
                return false;
        if (track_query(sc->pg, corr, trig, &st, errstr, sizeof(errstr)) < 0) {
                snprintf(why, why_size, "cannot read the previous run: %s", errstr);
                return true;
        }
        if (track_verdict(&st, note, sizeof(note)) != TRACK_RUNNING)
                return false;
        snprintf(why, why_size, "previous run %s still going (%s)", corr, note);
        return true;
}

/* Evaluates entry e at minute t: skip, claim the minute, publish. */
static void fire(struct sched *sc, const struct sched_entry *e, int64_t t)
{
        struct track_trigger trg = {.topic = sc->topic,
                                    .sport = sc->o.sport,
                                    .sources = e->sources,
                                    .requested_by = "statline-scheduler",
                                    .phase = "ops",
                                    .timeout_ms = 10000};
        char at[17], ts[64], date[11], corr[37], trig[37], why[600] = "", errstr[512];
        const char *p[6];
        PGresult *res = NULL;
        bool claimed;

        sched_fmt_minute(t, at);
        sched_entry_date(e, t, date);
        snprintf(ts, sizeof(ts), "%s:00%c%02lld:%02lld", at, sc->o.utc_offset_min < 0 ? '-' : '+',
                 (long long)(llabs(sc->o.utc_offset_min) / 60),
                 (long long)(llabs(sc->o.utc_offset_min) % 60));
        p[0] = e->name;
        p[1] = ts;
        p[2] = date;
        if (sql(sc,
                "SELECT status FROM ops.scheduler_fires WHERE entry = $1 AND fire_at = "
                "$2::timestamptz",
                2, p, &res) < 0) {
                sc->failures++;
                printf("%s %s: FAILED: cannot read ops.scheduler_fires (database)\n", at, e->name);
                return;
        }
        if (PQntuples(res) > 0) {
                printf("%s %s: already %s for this minute\n", at, e->name, PQgetvalue(res, 0, 0));
                PQclear(res);
                return;
        }
        PQclear(res);
        res = NULL;
        if (previous_running(sc, e, why, sizeof(why))) {
                p[3] = why;
                sql(sc,
                    "INSERT INTO ops.scheduler_fires (entry, fire_at, status, game_date, reason) "
                    "VALUES ($1, $2::timestamptz, 'skipped', $3::date, $4) ON CONFLICT DO NOTHING",
                    4, p, NULL);
                printf("%s %s: skipped: %s\n", at, e->name, why);
                sl_log_warn("scheduler.skip", "entry=%s at=%s: %s", e->name, at, why);
                return;
        }
        sl_uuid7(corr);
        p[3] = corr;
        if (sql(sc,
                "INSERT INTO ops.scheduler_fires (entry, fire_at, status, game_date, "
                "correlation_id) VALUES ($1, $2::timestamptz, 'fired', $3::date, $4::uuid) "
                "ON CONFLICT DO NOTHING RETURNING 1",
                4, p, &res) < 0) {
                sc->failures++;
                printf("%s %s: FAILED: cannot record the fire (database)\n", at, e->name);
                return;
        }
        claimed = PQntuples(res) > 0;
        PQclear(res);
        if (!claimed) {
                printf("%s %s: already fired for this minute\n", at, e->name);
                return;
        }
        trg.date = date;
        trg.correlation_id = corr;
        if (track_publish_trigger(sc->bus, &trg, trig, corr, errstr, sizeof(errstr)) < 0) {
                p[3] = errstr;
                sql(sc,
                    "UPDATE ops.scheduler_fires SET status = 'failed', reason = $4 WHERE entry = "
                    "$1 AND fire_at = $2::timestamptz AND $3::date IS NOT NULL",
                    4, p, NULL);
                sc->failures++;
                printf("%s %s: FAILED: %s\n", at, e->name, errstr);
                sl_log_error("scheduler.fire.failed", "entry=%s at=%s: %s", e->name, at, errstr);
                return;
        }
        p[2] = trig;
        sql(sc,
            "UPDATE ops.scheduler_fires SET trigger_event_id = $3::uuid WHERE entry = $1 AND "
            "fire_at = $2::timestamptz",
            3, p, NULL);
        printf("%s %s: fired: scrape %s%s%s (correlation %s, trigger %s)\n", at, e->name, date,
               e->sources[0] ? " sources=" : "", e->sources, corr, trig);
        sl_log_info("scheduler.fire", "entry=%s at=%s date=%s correlation_id=%s trigger=%s",
                    e->name, at, date, corr, trig);
}

static void evaluate(struct sched *sc, int64_t t)
{
        for (int i = 0; i < sc->s.n && !stop_signal; i++) {
                if (sched_cron_match(&sc->s.e[i].cron, t))
                        fire(sc, &sc->s.e[i], t);
        }
        fflush(stdout);
}

static int loop(struct sched *sc)
{
        int64_t last = now_minute(&sc->o); /* minutes before the start are not caught up */

        printf("scheduler: %d entries, clock UTC%+lld min, publishing on %s\n", sc->s.n,
               (long long)sc->o.utc_offset_min, sc->topic);
        fflush(stdout);
        while (!stop_signal) {
                int64_t now = now_minute(&sc->o), wait_ms;

                if (now - last > MAX_CATCHUP) {
                        sl_log_warn("scheduler.stall", "%lld minutes not evaluated",
                                    (long long)(now - last - MAX_CATCHUP));
                        last = now - MAX_CATCHUP;
                }
                for (int64_t t = last + 1; t <= now && !stop_signal; t++)
                        evaluate(sc, t);
                last = now;
                wait_ms = 60000 - sl_wall_ms() % 60000 + 50;
                sl_sleep_ms(wait_ms, (volatile const int *)&stop_signal);
        }
        return 0;
}

static int open_bus(struct sched *sc, char *errstr, size_t errstr_size)
{
        sc->bus = sl_tool_bus_open(&sc->o.conn, "scheduler", errstr, errstr_size);
        return sc->bus ? 0 : -ECONNREFUSED;
}

int main(int argc, char **argv)
{
        struct sched *sc = sl_xcalloc(1, sizeof(*sc));
        char errstr[512];
        int64_t at = 0;
        int rc, exit_code = EXIT_FAILURE;

        rc = parse_args(argc, argv, &sc->o, errstr, sizeof(errstr));
        if (rc == 1) {
                usage(stdout);
                free(sc);
                return 0;
        }
        if (rc == 0 && sc->o.at && sched_parse_minute(sc->o.at, &at) < 0) {
                snprintf(errstr, sizeof(errstr), "--at '%s': expected YYYY-MM-DDTHH:MM", sc->o.at);
                rc = -EINVAL;
        }
        if (rc == 0)
                rc = sched_load(sc->o.file, &sc->s, errstr, sizeof(errstr));
        if (rc == 0 && track_trigger_topic(sc->topic, sizeof(sc->topic), sc->o.conn.bus_prefix,
                                           sc->o.sport) < 0) {
                snprintf(errstr, sizeof(errstr), "--bus-prefix too long");
                rc = -EINVAL;
        }
        if (rc < 0) {
                fprintf(stderr, "statline-scheduler: %s\n(--help for usage)\n", errstr);
                free(sc);
                return EXIT_USAGE;
        }
        sl_log_init("scheduler", sc->o.level);
        if (!sc->o.at)
                at = now_minute(&sc->o);
        if (sc->o.dry_run) {
                dry_run(sc, at - 1); /* --at itself is listed when it matches */
                free(sc);
                return 0;
        }
        if (!sc->o.conn.pg_dsn) {
                fprintf(stderr, "statline-scheduler: no PostgreSQL: --pg-dsn or STATLINE_PG_DSN\n");
                free(sc);
                return EXIT_USAGE;
        }
        if (sl_signals_install(on_signal) < 0)
                goto out;
        sc->pg = sl_pg_open(sc->o.conn.pg_dsn, 10000, errstr, sizeof(errstr));
        rc = sc->pg ? sl_pg_migrate(sc->pg, sc->o.conn.migrations, errstr, sizeof(errstr))
                    : -ECONNREFUSED;
        if (rc >= 0)
                rc = open_bus(sc, errstr, sizeof(errstr));
        if (rc < 0) {
                fprintf(stderr, "statline-scheduler: %s\n", errstr);
                goto out;
        }
        if (sc->o.once)
                evaluate(sc, at);
        else
                loop(sc);
        exit_code = sc->failures ? EXIT_FAILURE : EXIT_SUCCESS;
out:
        fflush(stdout);
        sl_bus_close(sc->bus);
        sl_pg_close(sc->pg);
        free(sc);
        return exit_code;
}
