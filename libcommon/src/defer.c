#include <sl/defer.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include <sl/bus.h>
#include <sl/err.h>
#include <sl/pg.h>
#include <sl/util.h>

int sl_defer_park(struct sl_pg *pg, const char *group, const char *service,
                  const struct sl_not_ready_opts *opts, const struct sl_bus_msg *msg,
                  const char *event_id, const char *reason, int64_t now_ms, char *why,
                  size_t why_size, char *errstr, size_t errstr_size)
{
        static const char sel[] =
            "SELECT waits, (extract(epoch FROM first_seen) * 1000)::bigint FROM "
            "ops.deferred_events WHERE consumer_group = $1 AND topic = $2 AND event_id = $3";
        static const char ups[] =
            "INSERT INTO ops.deferred_events (consumer_group, service, topic, event_id, msg_key, "
            "envelope, reason, waits, first_seen, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, "
            "to_timestamp($8::double precision / 1000), to_timestamp($9::double precision / "
            "1000)) ON CONFLICT (consumer_group, topic, event_id) DO UPDATE SET waits = "
            "ops.deferred_events.waits + 1, reason = EXCLUDED.reason, due_at = EXCLUDED.due_at, "
            "msg_key = EXCLUDED.msg_key, envelope = EXCLUDED.envelope, updated_at = now()";
        const char *p_sel[] = {group, msg->topic, event_id};
        char first_s[24], due_s[24];
        const char *p_ups[] = {group,     service, msg->topic, event_id, msg->key,
                               msg->data, reason,  first_s,    due_s};
        PGresult *res = NULL;
        int64_t first_ms = now_ms, due_ms = 0;
        int waits = 0, rc;

        if (strlen(msg->data) != msg->len)
                return sl_errf(errstr, errstr_size, -EINVAL, "message bytes contain a NUL");
        rc = sl_pg_exec(pg, sel, 3, p_sel, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        if (PQntuples(res) == 1) {
                waits = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
                first_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        }
        PQclear(res);
        rc = sl_not_ready_next(opts, first_ms, now_ms, waits, &due_ms);
        if (rc == -ETIME) {
                snprintf(why, why_size, "dependency not ready after %lld s: %s",
                         (long long)((now_ms - first_ms) / 1000), reason);
                return rc;
        }
        snprintf(first_s, sizeof(first_s), "%" PRId64, first_ms);
        snprintf(due_s, sizeof(due_s), "%" PRId64, due_ms);
        return sl_pg_exec(pg, ups, 9, p_ups, NULL, errstr, errstr_size);
}

/* A heap copy of column c of row 0, or NULL for SQL NULL. */
static char *col(PGresult *res, int c)
{
        return PQgetisnull(res, 0, c) ? NULL : sl_xstrdup(PQgetvalue(res, 0, c));
}

int sl_defer_claim(struct sl_pg *pg, const char *group, int64_t lease_ms, struct sl_defer_row *row,
                   char *errstr, size_t errstr_size)
{
        static const char sql[] =
            "UPDATE ops.deferred_events SET due_at = now() + make_interval(secs => "
            "$2::double precision / 1000), updated_at = now() WHERE (consumer_group, topic, "
            "event_id) IN (SELECT consumer_group, topic, event_id FROM ops.deferred_events WHERE "
            "consumer_group = $1 AND due_at <= now() ORDER BY due_at LIMIT 1 FOR UPDATE SKIP "
            "LOCKED) RETURNING topic, event_id, msg_key, envelope, waits, (extract(epoch FROM "
            "first_seen) * 1000)::bigint, reason";
        char lease[24];
        const char *params[] = {group, lease};
        PGresult *res = NULL;
        int rc;

        memset(row, 0, sizeof(*row));
        snprintf(lease, sizeof(lease), "%" PRId64, lease_ms);
        rc = sl_pg_exec(pg, sql, 2, params, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return 0;
        }
        row->topic = col(res, 0);
        row->event_id = col(res, 1);
        row->key = col(res, 2);
        row->data = col(res, 3);
        row->len = strlen(row->data);
        row->waits = (int)strtol(PQgetvalue(res, 0, 4), NULL, 10);
        row->first_ms = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
        row->reason = col(res, 6);
        PQclear(res);
        return 1;
}

void sl_defer_row_fini(struct sl_defer_row *row)
{
        free(row->topic);
        free(row->event_id);
        free(row->key);
        free(row->data);
        free(row->reason);
        memset(row, 0, sizeof(*row));
}

int sl_defer_forget(struct sl_pg *pg, const char *group, const char *topic, const char *event_id,
                    char *errstr, size_t errstr_size)
{
        const char *params[] = {group, topic, event_id};

        return sl_pg_exec(pg,
                          "DELETE FROM ops.deferred_events WHERE consumer_group = $1 AND topic = "
                          "$2 AND event_id = $3",
                          3, params, NULL, errstr, errstr_size);
}

int sl_defer_release(struct sl_pg *pg, const char *group, const char *topic, const char *event_id,
                     int64_t delay_ms, char *errstr, size_t errstr_size)
{
        char delay[24];
        const char *params[] = {group, topic, event_id, delay};

        snprintf(delay, sizeof(delay), "%" PRId64, delay_ms);
        return sl_pg_exec(pg,
                          "UPDATE ops.deferred_events SET due_at = now() + make_interval(secs => "
                          "$4::double precision / 1000), updated_at = now() WHERE consumer_group "
                          "= $1 AND topic = $2 AND event_id = $3",
                          4, params, NULL, errstr, errstr_size);
}

int64_t sl_defer_count(struct sl_pg *pg, const char *group, char *errstr, size_t errstr_size)
{
        const char *params[] = {group};
        PGresult *res = NULL;
        int64_t n;
        int rc =
            sl_pg_exec(pg, "SELECT count(*) FROM ops.deferred_events WHERE consumer_group = $1", 1,
                       params, &res, errstr, errstr_size);

        if (rc < 0)
                return rc;
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return n;
}
