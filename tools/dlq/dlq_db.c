/*
 * statline-dlq, the PostgreSQL part: the audit trail (ops.dlq_audit), the
 * Kafka resolution marks (ops.dlq_resolved) and the stored completion events
 * (ops.outbox) that replay-from-phase re-emits. Tables: 0010_dlq_audit.sql.
 */
#include "dlq.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <sl/pg.h>
#include <sl/util.h>

/* "user@host" of whoever runs the tool, for the audit row. */
static void who(char *out, size_t out_size)
{
        char host[256] = "";
        const char *user = getenv("USER");

        if (gethostname(host, sizeof(host)) < 0)
                host[0] = '\0';
        host[sizeof(host) - 1] = '\0';
        snprintf(out, out_size, "%s@%s", user && *user ? user : "uid", host[0] ? host : "?");
}

int dlq_db_audit_start(struct sl_pg *pg, const char *command, const char *backend, bool dry_run,
                       const char *filter_json, int64_t *id, char *errstr, size_t errstr_size)
{
        static const char sql[] =
            "INSERT INTO ops.dlq_audit (who, command, backend, dry_run, filter, result) "
            "VALUES ($1, $2, $3, $4::boolean, $5::jsonb, 'running') RETURNING id";
        char user[320];
        const char *params[5];
        PGresult *res = NULL;
        int rc;

        who(user, sizeof(user));
        params[0] = user;
        params[1] = command;
        params[2] = backend;
        params[3] = dry_run ? "true" : "false";
        params[4] = filter_json;
        rc = sl_pg_exec(pg, sql, 5, params, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        rc = sl_parse_i64(PQgetvalue(res, 0, 0), 1, INT64_MAX, id);
        PQclear(res);
        return rc;
}

int dlq_db_audit_finish(struct sl_pg *pg, int64_t id, const struct dlq_counts *c,
                        const char *result, const char *error, char *errstr, size_t errstr_size)
{
        static const char sql[] =
            "UPDATE ops.dlq_audit SET finished_at = now(), matched = $2::integer, "
            "succeeded = $3::integer, skipped = $4::integer, failed = $5::integer, "
            "result = $6, error = $7 WHERE id = $1::bigint";
        char sid[24], m[24], d[24], s[24], f[24];
        const char *params[7] = {sid, m, d, s, f, result, error};

        snprintf(sid, sizeof(sid), "%" PRId64, id);
        snprintf(m, sizeof(m), "%" PRId64, c->matched);
        snprintf(d, sizeof(d), "%" PRId64, c->done);
        snprintf(s, sizeof(s), "%" PRId64, c->skipped);
        snprintf(f, sizeof(f), "%" PRId64, c->failed);
        return sl_pg_exec(pg, sql, 7, params, NULL, errstr, errstr_size);
}

int dlq_db_resolve(struct sl_pg *pg, const char *topic, int32_t partition, int64_t offset,
                   const char *action, const char *event_id, int64_t audit_id, char *errstr,
                   size_t errstr_size)
{
        static const char sql[] =
            "INSERT INTO ops.dlq_resolved (topic, partition, \"offset\", action, event_id, "
            "audit_id) VALUES ($1, $2::integer, $3::bigint, $4, $5::uuid, $6::bigint) "
            "ON CONFLICT (topic, partition, \"offset\") DO NOTHING";
        char p[16], o[24], a[24];
        const char *params[6] = {topic, p, o, action, event_id, audit_id > 0 ? a : NULL};

        snprintf(p, sizeof(p), "%" PRId32, partition);
        snprintf(o, sizeof(o), "%" PRId64, offset);
        snprintf(a, sizeof(a), "%" PRId64, audit_id);
        return sl_pg_exec(pg, sql, 6, params, NULL, errstr, errstr_size);
}

int dlq_db_resolved(struct sl_pg *pg, const char *topic, int32_t partition, int64_t **out,
                    size_t *n, char *errstr, size_t errstr_size)
{
        static const char sql[] = "SELECT \"offset\" FROM ops.dlq_resolved "
                                  "WHERE topic = $1 AND partition = $2::integer ORDER BY 1";
        char p[16];
        const char *params[2] = {topic, p};
        PGresult *res = NULL;
        int rc, rows;

        *out = NULL;
        *n = 0;
        snprintf(p, sizeof(p), "%" PRId32, partition);
        rc = sl_pg_exec(pg, sql, 2, params, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        rows = PQntuples(res);
        if (rows > 0)
                *out = sl_xcalloc((size_t)rows, sizeof(**out));
        for (int i = 0; i < rows; i++) {
                rc = sl_parse_i64(PQgetvalue(res, i, 0), 0, INT64_MAX, &(*out)[i]);
                if (rc < 0)
                        break;
        }
        PQclear(res);
        if (rc < 0) {
                free(*out);
                *out = NULL;
                return rc;
        }
        *n = (size_t)rows;
        return 0;
}

int dlq_db_outbox(struct sl_pg *pg, const char *topic, const char *date, const char *correlation,
                  struct dlq_outbox_row **rows, size_t *n, char *errstr, size_t errstr_size)
{
        /* The envelope is stored as bytes; the filter looks inside its JSON. */
        static const char sql[] =
            "SELECT id, topic, key, convert_from(payload, 'UTF8') FROM ops.outbox "
            "WHERE topic = $1 "
            "AND convert_from(payload, 'UTF8')::jsonb ->> 'game_date' = $2 "
            "AND ($3::text IS NULL OR convert_from(payload, 'UTF8')::jsonb ->> 'correlation_id' "
            "= $3::text) ORDER BY id";
        const char *params[3] = {topic, date, correlation};
        PGresult *res = NULL;
        int rc, nrows;

        *rows = NULL;
        *n = 0;
        rc = sl_pg_exec(pg, sql, 3, params, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        nrows = PQntuples(res);
        if (nrows > 0)
                *rows = sl_xcalloc((size_t)nrows, sizeof(**rows));
        for (int i = 0; i < nrows; i++) {
                struct dlq_outbox_row *r = &(*rows)[i];
                if (sl_parse_i64(PQgetvalue(res, i, 0), 0, INT64_MAX, &r->id) < 0)
                        r->id = 0;
                r->topic = sl_xstrdup(PQgetvalue(res, i, 1));
                r->key = PQgetisnull(res, i, 2) ? NULL : sl_xstrdup(PQgetvalue(res, i, 2));
                r->event = sl_xstrdup(PQgetvalue(res, i, 3));
        }
        PQclear(res);
        *n = (size_t)nrows;
        return 0;
}

void dlq_db_outbox_free(struct dlq_outbox_row *rows, size_t n)
{
        for (size_t i = 0; rows && i < n; i++) {
                free(rows[i].topic);
                free(rows[i].key);
                free(rows[i].event);
        }
        free(rows);
}
