/*
 * PostgreSQL collector: the pipeline queries of seed 004 over
 * ops.pipeline_execution_log (per-phase breakdown, stuck runs) and the
 * service state tables of migration 0011 (ops.circuit_breakers,
 * ops.service_heartbeat), which may be absent: then they are reported
 * as missing, not as an error.
 */
#include "mon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/pg.h>
#include <sl/util.h>

#define STUCK_LIST_MAX 50 /* stuck runs listed (all are counted) */
#define STR_(x)        #x
#define XSTR(x)        STR_(x)

/* Pipeline phases in order (ops.phase minus 'ops' and 'backfill'). */
#define PHASES "ARRAY['scraper','raw','analytics','precompute','prediction','publishing']"

static const char breakdown_sql[] =
    "SELECT phase::text, count(*),"
    " count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),"
    " count(*) FILTER (WHERE status = 'skipped'), count(*) FILTER (WHERE status = 'running'),"
    " count(*) FILTER (WHERE status = 'partial'),"
    " coalesce(round(avg(duration_ms) FILTER (WHERE duration_ms IS NOT NULL)), -1)::bigint"
    " FROM ops.pipeline_execution_log"
    " WHERE started_at >= now() - make_interval(hours => $1::int)"
    " GROUP BY phase ORDER BY coalesce(array_position(" PHASES ", phase::text), 99), phase";

/*
 * A run is stuck when its last activity (start or completion of any of its
 * rows) is older than $2 minutes and it has not finished: the furthest
 * phase it reached is not publishing completed/skipped.
 */
static const char stuck_sql[] =
    "WITH runs AS ("
    " SELECT correlation_id,"
    "  (array_agg(phase::text ORDER BY array_position(" PHASES ", phase::text) DESC,"
    "    started_at DESC))[1] AS phase,"
    "  (array_agg(status ORDER BY array_position(" PHASES ", phase::text) DESC,"
    "    started_at DESC))[1] AS status,"
    "  (array_agg(processor ORDER BY array_position(" PHASES ", phase::text) DESC,"
    "    started_at DESC))[1] AS processor,"
    "  max(game_date) AS game_date, count(*) FILTER (WHERE status = 'failed') AS failures,"
    "  max(coalesce(completed_at, started_at)) AS last_at"
    " FROM ops.pipeline_execution_log"
    " WHERE started_at >= now() - make_interval(hours => $1::int)"
    "  AND phase::text = ANY (" PHASES ")"
    " GROUP BY correlation_id)"
    " SELECT correlation_id::text, phase, status, processor, coalesce(game_date::text, ''),"
    "  failures, floor(extract(epoch FROM now() - last_at))::bigint AS idle_s,"
    "  count(*) OVER ()"
    " FROM runs"
    " WHERE last_at < now() - make_interval(mins => $2::int)"
    "  AND NOT (phase = 'publishing' AND status IN ('completed', 'skipped'))"
    " ORDER BY last_at, correlation_id LIMIT " XSTR(STUCK_LIST_MAX);

static const char tables_sql[] = "SELECT to_regclass('ops.circuit_breakers') IS NOT NULL,"
                                 " to_regclass('ops.service_heartbeat') IS NOT NULL";

static const char breakers_sql[] =
    "SELECT service, dependency, state, coalesce(forced, ''),"
    " floor(extract(epoch FROM now() - updated_at))::bigint"
    " FROM ops.circuit_breakers ORDER BY service, dependency LIMIT 500";

static const char breakers_noforced_sql[] =
    "SELECT service, dependency, state, '',"
    " floor(extract(epoch FROM now() - updated_at))::bigint"
    " FROM ops.circuit_breakers ORDER BY service, dependency LIMIT 500";

static const char heartbeats_sql[] =
    "SELECT service, instance, ready, floor(extract(epoch FROM now() - last_seen))::bigint"
    " FROM ops.service_heartbeat ORDER BY service, instance LIMIT 500";

static void copy(char *dst, size_t size, const char *s)
{
        snprintf(dst, size, "%s", s ? s : "");
}

static int64_t num(const PGresult *res, int row, int col)
{
        int64_t v = 0;

        if (PQgetisnull(res, row, col) ||
            sl_parse_i64(PQgetvalue(res, row, col), INT64_MIN, INT64_MAX, &v) < 0)
                return -1;
        return v;
}

static int breakdown(struct sl_pg *pg, struct mon_snapshot *snap, const char *const *params,
                     char *errstr, size_t errstr_size)
{
        PGresult *res = NULL;
        int rc = sl_pg_exec(pg, breakdown_sql, 1, params, &res, errstr, errstr_size);
        int n;

        if (rc < 0)
                return rc;
        n = PQntuples(res);
        snap->phases = sl_xcalloc((size_t)n + 1, sizeof(*snap->phases));
        for (int i = 0; i < n; i++) {
                struct mon_phase *p = &snap->phases[i];
                int64_t avg = num(res, i, 7);
                copy(p->phase, sizeof(p->phase), PQgetvalue(res, i, 0));
                p->executions = num(res, i, 1);
                p->completed = num(res, i, 2);
                p->failed = num(res, i, 3);
                p->skipped = num(res, i, 4);
                p->running = num(res, i, 5);
                p->partial = num(res, i, 6);
                p->avg_ms = avg < 0 ? -1 : (double)avg;
        }
        snap->n_phases = (size_t)n;
        PQclear(res);
        return 0;
}

static int stuck(struct sl_pg *pg, struct mon_snapshot *snap, const char *const *params,
                 char *errstr, size_t errstr_size)
{
        PGresult *res = NULL;
        int rc = sl_pg_exec(pg, stuck_sql, 2, params, &res, errstr, errstr_size);
        int n;

        if (rc < 0)
                return rc;
        n = PQntuples(res);
        snap->stuck = sl_xcalloc((size_t)n + 1, sizeof(*snap->stuck));
        for (int i = 0; i < n; i++) {
                struct mon_stuck *s = &snap->stuck[i];
                copy(s->correlation_id, sizeof(s->correlation_id), PQgetvalue(res, i, 0));
                copy(s->phase, sizeof(s->phase), PQgetvalue(res, i, 1));
                copy(s->status, sizeof(s->status), PQgetvalue(res, i, 2));
                copy(s->processor, sizeof(s->processor), PQgetvalue(res, i, 3));
                copy(s->game_date, sizeof(s->game_date), PQgetvalue(res, i, 4));
                s->failures = num(res, i, 5);
                s->idle_s = num(res, i, 6);
                snap->stuck_total = num(res, i, 7);
        }
        snap->n_stuck = (size_t)n;
        PQclear(res);
        return 0;
}

static int breakers(struct sl_pg *pg, struct mon_snapshot *snap, char *errstr, size_t errstr_size)
{
        PGresult *res = NULL;
        int rc = sl_pg_exec(pg, breakers_sql, 0, NULL, &res, errstr, errstr_size);
        int n;

        if (rc == -EINVAL) /* no "forced" column in this version of the table */
                rc = sl_pg_exec(pg, breakers_noforced_sql, 0, NULL, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        n = PQntuples(res);
        snap->breakers = sl_xcalloc((size_t)n + 1, sizeof(*snap->breakers));
        for (int i = 0; i < n; i++) {
                struct mon_breaker *b = &snap->breakers[i];
                copy(b->service, sizeof(b->service), PQgetvalue(res, i, 0));
                copy(b->dependency, sizeof(b->dependency), PQgetvalue(res, i, 1));
                copy(b->state, sizeof(b->state), PQgetvalue(res, i, 2));
                copy(b->forced, sizeof(b->forced), PQgetvalue(res, i, 3));
                b->age_s = num(res, i, 4);
        }
        snap->n_breakers = (size_t)n;
        PQclear(res);
        return 0;
}

static int heartbeats(struct sl_pg *pg, struct mon_snapshot *snap, char *errstr, size_t errstr_size)
{
        PGresult *res = NULL;
        int rc = sl_pg_exec(pg, heartbeats_sql, 0, NULL, &res, errstr, errstr_size);
        int n;

        if (rc < 0)
                return rc;
        n = PQntuples(res);
        snap->heartbeats = sl_xcalloc((size_t)n + 1, sizeof(*snap->heartbeats));
        for (int i = 0; i < n; i++) {
                struct mon_heartbeat *h = &snap->heartbeats[i];
                copy(h->service, sizeof(h->service), PQgetvalue(res, i, 0));
                copy(h->instance, sizeof(h->instance), PQgetvalue(res, i, 1));
                h->ready = strcmp(PQgetvalue(res, i, 2), "t") == 0;
                h->age_s = num(res, i, 3);
        }
        snap->n_heartbeats = (size_t)n;
        PQclear(res);
        return 0;
}

static int services(struct sl_pg *pg, struct mon_snapshot *snap, char *errstr, size_t errstr_size)
{
        PGresult *res = NULL;
        int rc = sl_pg_exec(pg, tables_sql, 0, NULL, &res, errstr, errstr_size);

        if (rc < 0)
                return rc;
        snap->have_breakers = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        snap->have_heartbeats = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        PQclear(res);
        if (snap->have_breakers) {
                rc = breakers(pg, snap, errstr, errstr_size);
                if (rc < 0)
                        return rc;
        }
        if (snap->have_heartbeats)
                rc = heartbeats(pg, snap, errstr, errstr_size);
        return rc;
}

int mon_pg_collect(struct sl_pg *pg, struct mon_snapshot *snap, char *errstr, size_t errstr_size)
{
        char hours[16], mins[16];
        const char *params[] = {hours, mins};
        int rc;

        snprintf(hours, sizeof(hours), "%d", snap->lookback_h);
        snprintf(mins, sizeof(mins), "%d", snap->stuck_after_min);
        rc = breakdown(pg, snap, params, errstr, errstr_size);
        if (rc == 0)
                rc = stuck(pg, snap, params, errstr, errstr_size);
        if (rc == 0)
                rc = services(pg, snap, errstr, errstr_size);
        return rc;
}
