/*
 * statline-backfill: runs a range of dates through the whole pipeline, one
 * scrape.requested trigger per date, with a checkpoint table so a rerun
 * resumes where it stopped (tools/backfill/README.md).
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

#include "backfill.h"
#include "track.h"

#ifndef BACKFILL_MIGRATIONS_DIR
#define BACKFILL_MIGRATIONS_DIR "db/migrations"
#endif

#define MAX_WORKERS    64
#define ABORT_RETRIES  3 /* triggers per date when the scraper stops mid-run */
#define EXIT_USAGE     78
#define EXIT_INTERRUPT 130

static volatile sig_atomic_t stop_signal; /* written only by on_signal() */

static void on_signal(int sig)
{
        if (stop_signal)
                _exit(128 + sig); /* second signal: exit now (the checkpoint is consistent) */
        stop_signal = sig;
}

struct opts {
        const char *sport, *from, *to, *dates, *sources;
        struct sl_tool_conn conn; /* pg.dsn, migrations, bus (sl/toolopt.h) */
        const char *blob_dir;
        int workers;
        int64_t timeout_s, poll_ms, yield_window_s; /* yield_window_s 0: never yield */
        bool dry_run, restart, no_validate;
        enum sl_log_level level;
};

/* One date of the run. */
struct item {
        char date[11];
        char status[12]; /* pending in_flight done failed */
        char corr[37];   /* "" until first dispatched */
        char trig[37];   /* the last trigger published */
        char reason[768];
        char reached[16];
        int attempts;
        int64_t t0_ms, deadline_ms; /* monotonic */
        bool active;
};

struct bf {
        struct opts o;
        struct backfill_dates dates;
        struct sl_pg *pg;
        struct sl_bus *bus;
        char topic[256];
        char run_id[37];
        char run_key[96];
        struct item *items;              /* dates.n, in order */
        int n_done, n_failed, n_skipped; /* skipped: done before this session */
        int settled_now;                 /* settled in this session */
        int64_t t0_ms;
        bool tty;
        char yielding_to[37]; /* the live run we wait for, "" when not yielding */
        int64_t yielded_ms;   /* time spent waiting for live runs */
};

static void usage(FILE *f)
{
        fprintf(
            f, "usage: statline-backfill --sport nba (--from YYYY-MM-DD --to YYYY-MM-DD | --dates "
               "D1,D2,...)\n"
               "                         [--workers N] [--timeout S] [--sources LIST] "
               "[--dry-run] [--restart]\n"
               "                         [--pg-dsn DSN] [--bus-backend B] [--bus-url U] "
               "[--bus-prefix P]\n"
               "                         [--blob-dir DIR] [--no-validate] [--poll-ms MS] "
               "[--log-level L]\n"
               "\n"
               "Runs every date through all six phases: for each date it publishes a\n"
               "scrape.requested trigger on <prefix>.<sport>.scrape.requested (statline-scraper\n"
               "in service mode consumes it), waits until that run's correlation id reached\n"
               "publishing (or failed, or --timeout passed), then validates the date's raw rows\n"
               "against what the source reported and stores the checks in ops.data_quality.\n"
               "\n"
               "  --sport S          sport (nba)\n"
               "  --from D --to D    the dates, both included; or --dates D1,D2 (a list)\n"
               "  --workers N        dates in flight at once (default 3; 1 = strictly one after\n"
               "                     another: a date's features read the days before it, so\n"
               "                     only --workers 1 gives the same numbers as a sequential run)\n"
               "  --timeout S        per date, seconds (default 600)\n"
               "  --sources LIST     families to scrape (default: the scraper's scrape.sources)\n"
               "  --dry-run          print the plan (and the checkpoint state) and exit\n"
               "  --restart          start a new run even if an unfinished one exists\n"
               "  --pg-dsn DSN       PostgreSQL (env STATLINE_PG_DSN)\n"
               "  --migrations DIR   applied at start (env STATLINE_PG_MIGRATIONS)\n"
               "  --bus-backend B    redis-streams|redis-pubsub|kafka (env STATLINE_BUS_BACKEND)\n"
               "  --bus-url U        host:port / bootstrap servers (env STATLINE_BUS_URL)\n"
               "  --bus-prefix P     topic prefix (env STATLINE_BUS_PREFIX, default statline)\n"
               "                     (STATLINE_BUS_USERNAME/PASSWORD/KAFKA_PROPS are read too)\n"
               "  --blob-dir DIR     the scraper's blob store, for the player_rows check\n"
               "                     (env STATLINE_BLOB_DIR; without it that check is skipped)\n"
               "  --no-validate      skip the per-date validation\n"
               "  --poll-ms MS       how often a run's progress is read (default 500)\n"
               "  --yield-window S   live traffic first: no new date is started while a run\n"
               "                     triggered by anyone else (statline-scheduler, an operator)\n"
               "                     in the last S seconds is still in flight (default 3600;\n"
               "                     0 = never yield)\n"
               "  --log-level L      debug|info|warn|error (JSON lines on stderr; default warn)\n"
               "\n"
               "Resume: the same command again continues the latest unfinished run with the\n"
               "same dates (ops.backfill_runs / ops.backfill_checkpoint): done dates are\n"
               "skipped, a date that was in flight or failed is run again under its first\n"
               "correlation id (the pipeline is idempotent).\n"
               "Progress goes to stdout: a line per date on a terminal, else 25/50/75/100%%\n"
               "lines, with an ETA. The end is a report; failed dates are listed with the\n"
               "reason and the command that retries them.\n"
               "Exit: 0 all dates done, 1 a date failed, 78 bad usage or config, 130\n"
               "interrupted (rerun to resume).\n");
}

/* Parses argv. Returns 0, 1 (--help) or -EINVAL with the reason in errstr. */
static int parse_args(int argc, char **argv, struct opts *o, char *errstr, size_t errstr_size)
{
        int64_t v;

        o->sport = NULL;
        o->workers = 3;
        o->timeout_s = 600;
        o->poll_ms = 500;
        o->yield_window_s = 3600;
        o->level = SL_LOG_WARN;
        sl_tool_conn_from_env(&o->conn, BACKFILL_MIGRATIONS_DIR);
        o->blob_dir = sl_tool_env_or("STATLINE_BLOB_DIR", NULL);
        for (int i = 1; i < argc; i++) {
                const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

                if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0)
                        return 1;
                if (strcmp(opt, "--dry-run") == 0) {
                        o->dry_run = true;
                        continue;
                }
                if (strcmp(opt, "--restart") == 0) {
                        o->restart = true;
                        continue;
                }
                if (strcmp(opt, "--no-validate") == 0) {
                        o->no_validate = true;
                        continue;
                }
                if (!val) {
                        snprintf(errstr, errstr_size, "unknown option or missing value: %s", opt);
                        return -EINVAL;
                }
                i++;
                if (strcmp(opt, "--sport") == 0) {
                        o->sport = val;
                } else if (strcmp(opt, "--from") == 0) {
                        o->from = val;
                } else if (strcmp(opt, "--to") == 0) {
                        o->to = val;
                } else if (strcmp(opt, "--dates") == 0) {
                        o->dates = val;
                } else if (strcmp(opt, "--sources") == 0) {
                        o->sources = val;
                } else if (strcmp(opt, "--workers") == 0) {
                        if (sl_parse_i64(val, 1, MAX_WORKERS, &v) < 0)
                                goto bad;
                        o->workers = (int)v;
                } else if (strcmp(opt, "--timeout") == 0) {
                        if (sl_parse_i64(val, 1, 86400, &o->timeout_s) < 0)
                                goto bad;
                } else if (strcmp(opt, "--poll-ms") == 0) {
                        if (sl_parse_i64(val, 10, 60000, &o->poll_ms) < 0)
                                goto bad;
                } else if (strcmp(opt, "--yield-window") == 0) {
                        if (sl_parse_i64(val, 0, 7 * 86400, &o->yield_window_s) < 0)
                                goto bad;
                } else if (sl_tool_conn_flag(&o->conn, opt, val)) {
                        /* --pg-dsn --migrations --bus-backend --bus-url --bus-prefix */
                } else if (strcmp(opt, "--blob-dir") == 0) {
                        o->blob_dir = val;
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
        if (!o->sport || strcmp(o->sport, "nba") != 0) {
                snprintf(errstr, errstr_size, "--sport: required; the pipeline scrapes nba");
                return -EINVAL;
        }
        if (!o->dates == !(o->from || o->to) || (!o->dates && (!o->from || !o->to))) {
                snprintf(errstr, errstr_size, "give --from and --to, or --dates (not both)");
                return -EINVAL;
        }
        return 0;
}

/* ---- the checkpoint --------------------------------------------------------------------- */

static int sql(struct bf *bf, const char *q, int n, const char *const *params, PGresult **res)
{
        char errstr[512];
        int rc = sl_pg_exec(bf->pg, q, n, params, res, errstr, sizeof(errstr));

        if (rc < 0)
                sl_log_error("backfill.pg", "%s", errstr);
        return rc;
}

/* The dates as a PostgreSQL array literal. */
static char *date_array(const struct backfill_dates *d)
{
        struct sl_buf b;

        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "{");
        for (int i = 0; i < d->n; i++)
                sl_buf_printf(&b, "%s%s", i ? "," : "", d->d[i]);
        sl_buf_puts(&b, "}");
        return sl_buf_steal(&b);
}

/* Finds the unfinished run with our key (unless --restart) or creates one. */
static int open_run(struct bf *bf, const char *command, bool *resumed)
{
        const char *kp[1] = {bf->run_key};
        PGresult *res = NULL;
        int rc;

        *resumed = false;
        if (!bf->o.restart) {
                rc = sql(bf,
                         "SELECT run_id FROM ops.backfill_runs WHERE run_key = $1 AND status <> "
                         "'completed' ORDER BY started_at DESC LIMIT 1",
                         1, kp, &res);
                if (rc < 0)
                        return rc;
                if (PQntuples(res) > 0) {
                        snprintf(bf->run_id, sizeof(bf->run_id), "%s", PQgetvalue(res, 0, 0));
                        *resumed = true;
                }
                PQclear(res);
        }
        if (*resumed) {
                const char *p[1] = {bf->run_id};
                return sql(bf,
                           "UPDATE ops.backfill_runs SET status = 'running', finished_at = NULL, "
                           "updated_at = now() WHERE run_id = $1::uuid",
                           1, p, NULL);
        } else {
                char n[16], errstr[512], *arr = date_array(&bf->dates);
                const char *p[7] = {bf->run_id,
                                    bf->run_key,
                                    bf->o.sport,
                                    bf->dates.d[0],
                                    bf->dates.d[bf->dates.n - 1],
                                    n,
                                    command};
                const char *q[2] = {bf->run_id, arr};

                sl_uuid7(bf->run_id);
                snprintf(n, sizeof(n), "%d", bf->dates.n);
                rc = sl_pg_begin(bf->pg, errstr, sizeof(errstr));
                if (rc == 0)
                        rc =
                            sql(bf,
                                "INSERT INTO ops.backfill_runs (run_id, run_key, sport, date_from, "
                                "date_to, n_dates, status, command) VALUES ($1::uuid, $2, $3, "
                                "$4::date, $5::date, $6::int, 'running', $7)",
                                7, p, NULL);
                if (rc == 0)
                        rc = sql(bf,
                                 "INSERT INTO ops.backfill_checkpoint (run_id, game_date, seq, "
                                 "status) SELECT $1::uuid, d, o::int, 'pending' FROM "
                                 "unnest($2::date[]) WITH ORDINALITY AS t(d, o)",
                                 2, q, NULL);
                if (rc == 0)
                        rc = sl_pg_commit(bf->pg, errstr, sizeof(errstr));
                else
                        sl_pg_rollback(bf->pg, errstr, sizeof(errstr));
                if (rc < 0)
                        sl_log_error("backfill.pg", "new run: %s", errstr);
                free(arr);
                return rc;
        }
}

/* Loads the checkpoint rows into bf->items. */
static int load_items(struct bf *bf)
{
        const char *p[1] = {bf->run_id};
        PGresult *res = NULL;
        int rc =
            sql(bf,
                "SELECT game_date::text, status, coalesce(correlation_id::text, ''), attempts, "
                "coalesce(reason, ''), coalesce(reached, '') FROM ops.backfill_checkpoint "
                "WHERE run_id = $1::uuid ORDER BY seq",
                1, p, &res);

        if (rc < 0)
                return rc;
        if (PQntuples(res) != bf->dates.n) {
                sl_log_error("backfill.checkpoint", "run %s has %d dates, expected %d", bf->run_id,
                             PQntuples(res), bf->dates.n);
                PQclear(res);
                return -EIO;
        }
        bf->items = sl_xcalloc((size_t)bf->dates.n, sizeof(*bf->items));
        for (int i = 0; i < bf->dates.n; i++) {
                struct item *it = &bf->items[i];
                int64_t v = 0;

                snprintf(it->date, sizeof(it->date), "%s", PQgetvalue(res, i, 0));
                snprintf(it->status, sizeof(it->status), "%s", PQgetvalue(res, i, 1));
                snprintf(it->corr, sizeof(it->corr), "%s", PQgetvalue(res, i, 2));
                sl_parse_i64(PQgetvalue(res, i, 3), 0, INT32_MAX, &v);
                it->attempts = (int)v;
                snprintf(it->reason, sizeof(it->reason), "%s", PQgetvalue(res, i, 4));
                snprintf(it->reached, sizeof(it->reached), "%s", PQgetvalue(res, i, 5));
        }
        PQclear(res);
        return 0;
}

static int save_item(struct bf *bf, const struct item *it)
{
        char att[16], dur[24];
        const char *p[9];

        snprintf(att, sizeof(att), "%d", it->attempts);
        snprintf(dur, sizeof(dur), "%lld", (long long)(it->t0_ms ? sl_mono_ms() - it->t0_ms : 0));
        p[0] = bf->run_id;
        p[1] = it->date;
        p[2] = it->status;
        p[3] = it->corr[0] ? it->corr : NULL;
        p[4] = it->trig[0] ? it->trig : NULL;
        p[5] = att;
        p[6] = it->reached[0] ? it->reached : NULL;
        p[7] = it->reason[0] ? it->reason : NULL;
        p[8] = dur;
        return sql(bf,
                   "UPDATE ops.backfill_checkpoint SET status = $3, correlation_id = $4::uuid, "
                   "trigger_event_id = coalesce($5::uuid, trigger_event_id), attempts = $6::int, "
                   "reached = $7, reason = $8, "
                   "started_at = CASE WHEN $3 = 'in_flight' THEN coalesce(started_at, now()) "
                   "ELSE started_at END, "
                   "finished_at = CASE WHEN $3 IN ('done', 'failed') THEN now() END, "
                   "duration_ms = CASE WHEN $3 IN ('done', 'failed') THEN $9::int END, "
                   "updated_at = now() WHERE run_id = $1::uuid AND game_date = $2::date",
                   9, p, NULL);
}

/* ---- one date --------------------------------------------------------------------------- */

/* Publishes the date's trigger (the checkpoint says in_flight, with the correlation id, first). */
static int dispatch(struct bf *bf, struct item *it)
{
        struct track_trigger t = {.topic = bf->topic,
                                  .sport = bf->o.sport,
                                  .date = it->date,
                                  .sources = bf->o.sources,
                                  .requested_by = "statline-backfill",
                                  .phase = "backfill",
                                  .correlation_id = it->corr,
                                  .timeout_ms = 10000};
        char errstr[256], corr[37];
        int rc;

        if (!it->corr[0])
                sl_uuid7(it->corr); /* stored before publishing: a resume reuses it */
        if (!it->active) {
                it->t0_ms = sl_mono_ms();
                it->deadline_ms = it->t0_ms + bf->o.timeout_s * 1000;
        }
        it->attempts++;
        snprintf(it->status, sizeof(it->status), "in_flight");
        it->reason[0] = it->reached[0] = '\0';
        rc = save_item(bf, it);
        if (rc < 0)
                return rc;
        rc = track_publish_trigger(bf->bus, &t, it->trig, corr, errstr, sizeof(errstr));
        if (rc < 0) {
                snprintf(it->reason, sizeof(it->reason), "trigger not published: %s", errstr);
                return rc;
        }
        it->active = true;
        sl_log_info("backfill.dispatch", "date=%s correlation_id=%s trigger=%s attempt=%d",
                    it->date, it->corr, it->trig, it->attempts);
        return save_item(bf, it);
}

/*
 * Priority (live traffic before backfill): the runs somebody else triggered
 * in the last yield_window_s seconds (ops.scrape_runs.requested_by is not
 * us), newest first. While one of them is still going (track_verdict says
 * RUNNING) no new date is dispatched; dates already in flight go on. A run
 * older than the window no longer holds the backfill back, so a stuck live
 * run cannot stop it for good. Returns true when we must wait (the run's
 * correlation id in bf->yielding_to). A database error does not block: it
 * is logged and the backfill goes on.
 */
static const char live_runs_sql[] =
    "SELECT correlation_id::text, trigger_event_id::text FROM ops.scrape_runs "
    "WHERE sport = $1 AND requested_by <> 'statline-backfill' "
    "AND started_at > now() - make_interval(secs => $2::double precision) "
    "ORDER BY started_at DESC LIMIT 16";

static bool must_yield(struct bf *bf)
{
        char window[24], errstr[256];
        const char *params[2] = {bf->o.sport, window};
        PGresult *res = NULL;
        bool wait = false;

        if (bf->o.yield_window_s <= 0)
                return false;
        snprintf(window, sizeof(window), "%lld", (long long)bf->o.yield_window_s);
        if (sql(bf, live_runs_sql, 2, params, &res) < 0)
                return false;
        for (int r = 0; r < PQntuples(res) && !wait; r++) {
                struct track_status st;
                char note[256];
                if (track_query(bf->pg, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), &st, errstr,
                                sizeof(errstr)) < 0) {
                        sl_log_warn("backfill.yield.error", "%s", errstr);
                        break;
                }
                if (track_verdict(&st, note, sizeof(note)) != TRACK_RUNNING)
                        continue;
                wait = true;
                if (strcmp(bf->yielding_to, PQgetvalue(res, r, 0)) != 0) {
                        snprintf(bf->yielding_to, sizeof(bf->yielding_to), "%s",
                                 PQgetvalue(res, r, 0));
                        printf("yielding to live run %s (%s)\n", bf->yielding_to, note);
                        fflush(stdout);
                        sl_log_info("backfill.yield", "correlation_id=%s note=%s", bf->yielding_to,
                                    note);
                }
        }
        PQclear(res);
        if (!wait && bf->yielding_to[0]) {
                printf("live run %s settled; backfill goes on\n", bf->yielding_to);
                fflush(stdout);
                bf->yielding_to[0] = '\0';
        }
        return wait;
}

/* Validation of a settled date; 0 when it passed, else the reason is in it->reason. */
static int validate(struct bf *bf, struct item *it, const struct track_status *st)
{
        struct backfill_check checks[BACKFILL_MAX_CHECKS];
        bool board = !bf->o.sources || strstr(bf->o.sources, "scoreboard");
        bool box = !bf->o.sources || strstr(bf->o.sources, "boxscore");
        struct backfill_validate_in in = {.sport = bf->o.sport,
                                          .date = it->date,
                                          .run_id = bf->run_id,
                                          .correlation_id = it->corr,
                                          .blob_dir = box ? bf->o.blob_dir : NULL,
                                          .games = board ? st->games : -1,
                                          .games_final = box ? st->games_final : -1};
        char errstr[512];
        size_t len = 0;
        int n = 0, failed;

        failed = backfill_validate(bf->pg, &in, checks, &n, errstr, sizeof(errstr));
        if (failed < 0) {
                snprintf(it->reason, sizeof(it->reason), "validation: %s", errstr);
                return failed;
        }
        if (failed == 0)
                return 0;
        len = (size_t)snprintf(it->reason, sizeof(it->reason), "validation:");
        for (int i = 0; i < n && len < sizeof(it->reason); i++) {
                if (checks[i].passed)
                        continue;
                len += (size_t)snprintf(it->reason + len, sizeof(it->reason) - len,
                                        " %s expected %lld got %lld (%s);", checks[i].name,
                                        (long long)checks[i].expected, (long long)checks[i].actual,
                                        checks[i].detail);
        }
        return -EPROTO;
}

static void settle(struct bf *bf, struct item *it, bool ok)
{
        char took[16];

        it->active = false;
        snprintf(it->status, sizeof(it->status), "%s", ok ? "done" : "failed");
        save_item(bf, it);
        if (ok)
                bf->n_done++;
        else
                bf->n_failed++;
        bf->settled_now++;
        backfill_fmt_duration(sl_mono_ms() - it->t0_ms, took, sizeof(took));
        sl_log_info("backfill.date", "date=%s status=%s correlation_id=%s reason=\"%s\"", it->date,
                    it->status, it->corr, it->reason);
        if (bf->tty || !ok)
                printf("%s %-6s %s (%s, correlation %s)\n", it->date, ok ? "done" : "FAILED",
                       it->reason, took, it->corr);
}

/* Reads one in-flight date and settles it when its run is over. */
static void check(struct bf *bf, struct item *it)
{
        struct track_status st;
        char errstr[512], note[512];
        enum track_state state;

        if (track_query(bf->pg, it->corr, it->trig, &st, errstr, sizeof(errstr)) < 0) {
                sl_log_warn("backfill.track", "date=%s: %s", it->date, errstr);
                if (sl_mono_ms() > it->deadline_ms) {
                        snprintf(it->reason, sizeof(it->reason),
                                 "timeout after %llds; cannot read its progress: %s",
                                 (long long)bf->o.timeout_s, errstr);
                        settle(bf, it, false);
                }
                return; /* PostgreSQL trouble: try again next turn */
        }
        state = track_verdict(&st, note, sizeof(note));
        snprintf(it->reached, sizeof(it->reached), "%s", st.reached);
        if (state == TRACK_RUNNING) {
                if (sl_mono_ms() > it->deadline_ms) {
                        snprintf(it->reason, sizeof(it->reason), "timeout after %llds: %s",
                                 (long long)bf->o.timeout_s, note);
                        settle(bf, it, false);
                }
                return;
        }
        if (state == TRACK_ABORTED && it->attempts < ABORT_RETRIES) {
                sl_log_warn("backfill.retrigger", "date=%s: %s", it->date, note);
                if (dispatch(bf, it) < 0)
                        settle(bf, it, false);
                return;
        }
        snprintf(it->reason, sizeof(it->reason), "%s", note);
        if (state != TRACK_DONE) {
                settle(bf, it, false);
                return;
        }
        if (!bf->o.no_validate && validate(bf, it, &st) < 0) {
                settle(bf, it, false);
                return;
        }
        settle(bf, it, true);
}

/* ---- progress and report ---------------------------------------------------------------- */

static void progress(struct bf *bf, int before)
{
        int total = bf->dates.n, settled = bf->n_done + bf->n_failed + bf->n_skipped;
        int64_t elapsed = sl_mono_ms() - bf->t0_ms;
        char el[16], eta[16];

        if (settled == before)
                return;
        backfill_fmt_duration(elapsed, el, sizeof(el));
        backfill_fmt_duration(backfill_eta_ms(elapsed, bf->settled_now, total - settled), eta,
                              sizeof(eta));
        if (bf->tty) {
                printf("  [%d/%d] %d%% done=%d failed=%d elapsed %s ETA %s\n", settled, total,
                       settled * 100 / total, bf->n_done + bf->n_skipped, bf->n_failed, el,
                       bf->settled_now ? eta : "?");
        } else {
                /* logs: one line per quarter mark crossed, each mark once */
                for (int q = 25; q <= 100; q += 25) {
                        if (backfill_progress_crossed(before, settled, total, q))
                                printf("progress: %d%% (%d/%d dates, %d failed) elapsed %s ETA "
                                       "%s\n",
                                       q, settled, total, bf->n_failed, el, eta);
                }
        }
        fflush(stdout);
}

/* The options a retry command repeats (no connection settings: they may hold secrets). */
static void retry_extra(const struct opts *o, char *out, size_t out_size)
{
        size_t len = 0;

        out[0] = '\0';
        if (o->workers != 3)
                len += (size_t)snprintf(out + len, out_size - len, " --workers %d", o->workers);
        if (len < out_size && o->timeout_s != 600)
                len += (size_t)snprintf(out + len, out_size - len, " --timeout %lld",
                                        (long long)o->timeout_s);
        if (len < out_size && o->sources)
                len += (size_t)snprintf(out + len, out_size - len, " --sources %s", o->sources);
        if (len < out_size && o->no_validate)
                snprintf(out + len, out_size - len, " --no-validate");
}

static int report(struct bf *bf)
{
        int64_t elapsed = sl_mono_ms() - bf->t0_ms;
        const char **failed = sl_xcalloc((size_t)bf->dates.n + 1, sizeof(*failed));
        char el[16], extra[256], *cmd;
        size_t cmd_size = (size_t)bf->dates.n * 11 + 512;
        int nf = 0;

        backfill_fmt_duration(elapsed, el, sizeof(el));
        printf("backfill %s %s..%s: %d dates, %d done (%d before this session), %d failed in %s "
               "(run %s)\n",
               bf->o.sport, bf->dates.d[0], bf->dates.d[bf->dates.n - 1], bf->dates.n,
               bf->n_done + bf->n_skipped, bf->n_skipped, bf->n_failed, el, bf->run_id);
        if (bf->yielded_ms > 0) {
                backfill_fmt_duration(bf->yielded_ms, el, sizeof(el));
                printf("waited %s for live runs (--yield-window)\n", el);
        }
        for (int i = 0; i < bf->dates.n; i++) {
                if (strcmp(bf->items[i].status, "failed") != 0)
                        continue;
                if (nf == 0)
                        printf("failed dates:\n");
                printf("  %s  %s\n", bf->items[i].date, bf->items[i].reason);
                failed[nf++] = bf->items[i].date;
        }
        if (nf > 0) {
                cmd = sl_xmalloc(cmd_size);
                retry_extra(&bf->o, extra, sizeof(extra));
                if (backfill_retry_command(bf->o.sport, failed, nf, extra + (extra[0] == ' '), cmd,
                                           cmd_size) == 0)
                        printf("retry them with:\n  %s\n", cmd);
                free(cmd);
        }
        fflush(stdout);
        free(failed);
        return nf;
}

/* ---- dry run ----------------------------------------------------------------------------- */

static int dry_run(struct bf *bf)
{
        const char *kp[1] = {bf->run_key};
        PGresult *res = NULL;
        char errstr[512];
        int rc = -ENOENT;

        printf("plan: backfill %s, %d date%s %s..%s, %d worker%s, timeout %llds per date, "
               "sources %s\n",
               bf->o.sport, bf->dates.n, bf->dates.n == 1 ? "" : "s", bf->dates.d[0],
               bf->dates.d[bf->dates.n - 1], bf->o.workers, bf->o.workers == 1 ? "" : "s",
               (long long)bf->o.timeout_s, bf->o.sources ? bf->o.sources : "(scraper default)");
        printf("each date: publish scrape.requested on %s, wait until its correlation id "
               "reached publishing, validate%s\n",
               bf->topic, bf->o.no_validate ? " (off)" : " raw counts into ops.data_quality");
        if (bf->o.conn.pg_dsn && !bf->o.restart) {
                bf->pg = sl_pg_open(bf->o.conn.pg_dsn, 5000, errstr, sizeof(errstr));
                if (bf->pg)
                        rc = sl_pg_exec(bf->pg,
                                        "SELECT c.game_date::text, c.status, "
                                        "coalesce(c.correlation_id::text, ''), r.run_id "
                                        "FROM ops.backfill_runs r JOIN ops.backfill_checkpoint c "
                                        "USING (run_id) WHERE r.run_id = (SELECT run_id FROM "
                                        "ops.backfill_runs WHERE run_key = $1 AND status <> "
                                        "'completed' ORDER BY started_at DESC LIMIT 1) "
                                        "ORDER BY c.seq",
                                        1, kp, &res, errstr, sizeof(errstr));
        }
        if (rc == 0 && PQntuples(res) == bf->dates.n) {
                printf("resumes run %s:\n", PQgetvalue(res, 0, 3));
                for (int i = 0; i < PQntuples(res); i++) {
                        const char *s = PQgetvalue(res, i, 1);
                        printf("  %s  %s\n", PQgetvalue(res, i, 0),
                               strcmp(s, "done") == 0        ? "done: skip"
                               : strcmp(s, "in_flight") == 0 ? "was in flight: run again"
                               : strcmp(s, "failed") == 0    ? "failed before: run again"
                                                             : "run");
                }
        } else {
                printf("a new run:\n");
                for (int i = 0; i < bf->dates.n; i++)
                        printf("  %s  run\n", bf->dates.d[i]);
        }
        PQclear(res);
        fflush(stdout);
        return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

static int open_bus(struct bf *bf, char *errstr, size_t errstr_size)
{
        bf->bus = sl_tool_bus_open(&bf->o.conn, "backfill", errstr, errstr_size);
        return bf->bus ? 0 : -ECONNREFUSED;
}

static void join_args(int argc, char **argv, char *out, size_t out_size)
{
        size_t len = 0;

        out[0] = '\0';
        for (int i = 0; i < argc && len < out_size; i++) {
                bool secret = i > 0 && strcmp(argv[i - 1], "--pg-dsn") == 0;
                len += (size_t)snprintf(out + len, out_size - len, "%s%s", i ? " " : "",
                                        secret ? "***" : argv[i]);
        }
}

static int run(struct bf *bf)
{
        int next = 0, active = 0;

        for (int i = 0; i < bf->dates.n; i++) {
                struct item *it = &bf->items[i];
                if (strcmp(it->status, "done") == 0) {
                        bf->n_skipped++;
                } else if (strcmp(it->status, "failed") == 0) {
                        /* a fresh run: the old one's failed rows would fail it again */
                        it->corr[0] = '\0';
                        it->attempts = 0;
                }
                /* in_flight: its run may still be going; the same correlation id follows it */
        }
        if (bf->n_skipped > 0)
                printf("resuming run %s: %d of %d dates already done\n", bf->run_id, bf->n_skipped,
                       bf->dates.n);
        fflush(stdout);
        while (!stop_signal) {
                int before = bf->n_done + bf->n_failed + bf->n_skipped;
                bool yield = active < bf->o.workers && next < bf->dates.n && must_yield(bf);

                if (yield)
                        bf->yielded_ms += bf->o.poll_ms;
                while (!yield && active < bf->o.workers && next < bf->dates.n && !stop_signal) {
                        struct item *it = &bf->items[next++];
                        if (strcmp(it->status, "done") == 0)
                                continue;
                        if (dispatch(bf, it) < 0)
                                settle(bf, it, false);
                        else
                                active++;
                }
                if (active == 0 && next >= bf->dates.n && !yield)
                        break;
                sl_sleep_ms(bf->o.poll_ms, (volatile const int *)&stop_signal);
                for (int i = 0; i < next && !stop_signal; i++) {
                        struct item *it = &bf->items[i];
                        if (!it->active)
                                continue;
                        check(bf, it);
                        if (!it->active)
                                active--;
                }
                progress(bf, before);
        }
        return stop_signal ? -EINTR : 0;
}

int main(int argc, char **argv)
{
        struct bf bf = {0};
        char errstr[512], command[2048];
        bool resumed = false;
        int rc, nf, exit_code = EXIT_FAILURE;

        rc = parse_args(argc, argv, &bf.o, errstr, sizeof(errstr));
        if (rc == 1) {
                usage(stdout);
                return 0;
        }
        if (rc == 0)
                rc = bf.o.dates ? backfill_dates_list(bf.o.dates, &bf.dates, errstr, sizeof(errstr))
                                : backfill_dates_range(bf.o.from, bf.o.to, &bf.dates, errstr,
                                                       sizeof(errstr));
        if (rc == 0 &&
            track_trigger_topic(bf.topic, sizeof(bf.topic), bf.o.conn.bus_prefix, bf.o.sport) < 0) {
                snprintf(errstr, sizeof(errstr), "--bus-prefix too long");
                rc = -EINVAL;
        }
        if (rc < 0) {
                fprintf(stderr, "statline-backfill: %s\n(--help for usage)\n", errstr);
                return EXIT_USAGE;
        }
        sl_log_init("backfill", bf.o.level);
        backfill_run_key(bf.o.sport, &bf.dates, bf.run_key, sizeof(bf.run_key));
        if (bf.o.dry_run) {
                dry_run(&bf);
                exit_code = 0;
                goto out;
        }
        if (!bf.o.conn.pg_dsn) {
                fprintf(stderr, "statline-backfill: no PostgreSQL: --pg-dsn or STATLINE_PG_DSN\n");
                exit_code = EXIT_USAGE;
                goto out;
        }
        if (sl_signals_install(on_signal) < 0) {
                fprintf(stderr, "statline-backfill: cannot install signal handlers\n");
                goto out;
        }
        bf.tty = isatty(STDOUT_FILENO);
        bf.pg = sl_pg_open(bf.o.conn.pg_dsn, 10000, errstr, sizeof(errstr));
        rc = bf.pg ? sl_pg_migrate(bf.pg, bf.o.conn.migrations, errstr, sizeof(errstr))
                   : -ECONNREFUSED;
        if (rc >= 0)
                rc = open_bus(&bf, errstr, sizeof(errstr));
        if (rc < 0) {
                fprintf(stderr, "statline-backfill: %s\n", errstr);
                goto out;
        }
        join_args(argc, argv, command, sizeof(command));
        rc = open_run(&bf, command, &resumed);
        if (rc == 0)
                rc = load_items(&bf);
        if (rc < 0) {
                fprintf(stderr, "statline-backfill: checkpoint: %s (see the log on stderr)\n",
                        sl_strerror(rc));
                goto out;
        }
        printf("backfill %s %s..%s: %d dates, %d workers, run %s%s\n", bf.o.sport, bf.dates.d[0],
               bf.dates.d[bf.dates.n - 1], bf.dates.n, bf.o.workers, bf.run_id,
               resumed ? " (resumed)" : "");
        bf.t0_ms = sl_mono_ms();
        rc = run(&bf);
        if (rc == -EINTR) {
                printf("interrupted: %d done, the rest is in the checkpoint; run the same command "
                       "again to resume (run %s)\n",
                       bf.n_done + bf.n_skipped, bf.run_id);
                exit_code = EXIT_INTERRUPT;
                goto out;
        }
        nf = report(&bf);
        {
                const char *p[2] = {bf.run_id, nf ? "failed" : "completed"};
                sql(&bf,
                    "UPDATE ops.backfill_runs SET status = $2, finished_at = now(), updated_at = "
                    "now() WHERE run_id = $1::uuid",
                    2, p, NULL);
        }
        exit_code = nf ? EXIT_FAILURE : EXIT_SUCCESS;
out:
        fflush(stdout);
        if (bf.bus)
                sl_bus_flush(bf.bus, 5000);
        sl_bus_close(bf.bus);
        sl_pg_close(bf.pg);
        free(bf.items);
        backfill_dates_fini(&bf.dates);
        return exit_code;
}
