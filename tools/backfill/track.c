#include "track.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <libpq-fe.h>

#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/pg.h>
#include <sl/util.h>

/*
 * pending = the run's scraper.completed events not yet handled by raw, plus
 * its outbox events (other than publishing.completed, which nothing
 * consumes) without a completed/skipped row of the consuming phase, plus its
 * outbox rows not yet handed to the bus. The outbox row is written in the
 * transaction of the effect, so a phase that finished and emitted an event
 * is never seen as idle in between. An event that was dead-lettered (the
 * runtime's 'failed' row, processor "dlq") is handled, not pending: it is a
 * failed step until a later completed/skipped row of its phase (a replay).
 */
static const char status_sql[] =
    "WITH sr AS (SELECT status, coalesce(error_message, '') err, coalesce(games, 0) games, "
    "                   coalesce(games_final, 0) gf, coalesce(stored, 0) stored "
    "            FROM ops.scrape_runs WHERE trigger_event_id = $2::uuid), "
    "s AS (SELECT count(*) n FROM ops.scraper_execution_log "
    "      WHERE correlation_id = $1::uuid AND status = 'completed'), "
    "r AS (SELECT count(DISTINCT event_id) n FROM ops.pipeline_execution_log "
    "      WHERE correlation_id = $1::uuid AND phase = 'raw' AND (status IN ('completed', "
    "'skipped') OR processor = 'dlq')), "
    "ob AS (SELECT topic, published_at, convert_from(payload, 'UTF8')::jsonb j FROM ops.outbox "
    "       WHERE convert_from(payload, 'UTF8') LIKE '%' || $1::text || '%'), "
    "ob1 AS (SELECT * FROM ob WHERE j->>'correlation_id' = $1::text), "
    "lg AS (SELECT phase::text phase, processor, status, skip_reason, error_message, event_id, "
    "              started_at FROM ops.pipeline_execution_log WHERE correlation_id = $1::uuid), "
    "reach AS (SELECT phase FROM lg WHERE status IN ('completed', 'skipped') ORDER BY "
    "          array_position(ARRAY['raw', 'analytics', 'precompute', 'prediction', 'publishing'], "
    "                         phase) DESC NULLS LAST LIMIT 1), "
    "unres AS (SELECT f.phase || '/' || f.processor || ': ' || coalesce(f.error_message, '?') msg "
    "          FROM lg f WHERE f.status = 'failed' AND NOT EXISTS (SELECT 1 FROM lg c "
    "          WHERE c.event_id = f.event_id AND c.phase = f.phase "
    "            AND (c.processor = f.processor OR f.processor = 'dlq') "
    "            AND c.status IN ('completed', 'skipped') AND c.started_at > f.started_at)) "
    "SELECT coalesce((SELECT status FROM sr), ''), coalesce((SELECT err FROM sr), ''), "
    "       coalesce((SELECT games FROM sr), 0), coalesce((SELECT gf FROM sr), 0), "
    "       coalesce((SELECT stored FROM sr), 0), "
    "       greatest((SELECT n FROM s) - (SELECT n FROM r), 0) "
    "       + (SELECT count(*) FROM ob1 WHERE topic NOT LIKE '%.publishing.completed' "
    "          AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log l "
    "                          WHERE l.event_id = (ob1.j->>'event_id')::uuid "
    "                            AND (l.status IN ('completed', 'skipped') "
    "                                 OR l.processor = 'dlq'))) "
    "       + (SELECT count(*) FROM ob1 WHERE published_at IS NULL), "
    "       coalesce((SELECT phase FROM reach), ''), "
    "       EXISTS (SELECT 1 FROM lg WHERE phase = 'publishing' "
    "               AND status IN ('completed', 'skipped')), "
    "       (SELECT count(*) FROM unres), "
    "       coalesce((SELECT string_agg(msg, '; ') FROM (SELECT DISTINCT msg FROM unres "
    "                 ORDER BY 1 LIMIT 3) u), ''), "
    "       coalesce((SELECT string_agg(DISTINCT skip_reason, '; ') FROM lg "
    "                 WHERE phase = (SELECT phase FROM reach) AND status = 'skipped'), '')";

static int to_int(const char *s)
{
        int64_t v = 0;

        sl_parse_i64(s, INT32_MIN, INT32_MAX, &v);
        return (int)v;
}

int track_query(struct sl_pg *pg, const char *correlation_id, const char *trigger_event_id,
                struct track_status *st, char *errstr, size_t errstr_size)
{
        const char *params[2] = {correlation_id, trigger_event_id};
        PGresult *res = NULL;
        int rc;

        memset(st, 0, sizeof(*st));
        rc = sl_pg_exec(pg, status_sql, 2, params, &res, errstr, errstr_size);
        if (rc < 0)
                return rc;
        snprintf(st->scrape, sizeof(st->scrape), "%s", PQgetvalue(res, 0, 0));
        snprintf(st->scrape_error, sizeof(st->scrape_error), "%s", PQgetvalue(res, 0, 1));
        st->games = to_int(PQgetvalue(res, 0, 2));
        st->games_final = to_int(PQgetvalue(res, 0, 3));
        st->stored = to_int(PQgetvalue(res, 0, 4));
        sl_parse_i64(PQgetvalue(res, 0, 5), 0, INT64_MAX, &st->pending);
        snprintf(st->reached, sizeof(st->reached), "%s", PQgetvalue(res, 0, 6));
        st->published = PQgetvalue(res, 0, 7)[0] == 't';
        st->unresolved = to_int(PQgetvalue(res, 0, 8));
        snprintf(st->failures, sizeof(st->failures), "%s", PQgetvalue(res, 0, 9));
        snprintf(st->skips, sizeof(st->skips), "%s", PQgetvalue(res, 0, 10));
        PQclear(res);
        return 0;
}

enum track_state track_verdict(const struct track_status *st, char *note, size_t note_size)
{
        if (!st->scrape[0] || strcmp(st->scrape, "running") == 0) {
                snprintf(note, note_size, "scrape %s", st->scrape[0] ? "running" : "not started");
                return TRACK_RUNNING;
        }
        if (strcmp(st->scrape, "aborted") == 0) {
                snprintf(note, note_size, "scrape aborted (the scraper stopped mid-run)");
                return TRACK_ABORTED;
        }
        if (st->pending > 0) {
                snprintf(note, note_size, "%lld event%s in flight, reached %s",
                         (long long)st->pending, st->pending == 1 ? "" : "s",
                         st->reached[0] ? st->reached : "scraper");
                return TRACK_RUNNING;
        }
        if (strcmp(st->scrape, "failed") == 0) {
                snprintf(note, note_size, "scrape failed: %s",
                         st->scrape_error[0] ? st->scrape_error : "(no reason recorded)");
                return TRACK_FAILED;
        }
        if (st->unresolved > 0) {
                snprintf(note, note_size, "%d failed step%s: %s", st->unresolved,
                         st->unresolved == 1 ? "" : "s", st->failures);
                return TRACK_FAILED;
        }
        if (st->published)
                snprintf(note, note_size, "published");
        else if (!st->reached[0])
                snprintf(note, note_size, "nothing new: %d new documents, no phase ran",
                         st->stored);
        else
                snprintf(note, note_size, "stopped after %s%s%s", st->reached,
                         st->skips[0] ? ": " : "", st->skips);
        return TRACK_DONE;
}

int track_trigger_topic(char *out, size_t out_size, const char *prefix, const char *sport)
{
        int n =
            snprintf(out, out_size, "%s.%s.scrape.requested", prefix ? prefix : "statline", sport);

        return n < 0 || (size_t)n >= out_size ? -ENAMETOOLONG : 0;
}

int track_publish_trigger(struct sl_bus *bus, const struct track_trigger *t, char event_id[37],
                          char correlation_id[37], char *errstr, size_t errstr_size)
{
        struct sl_envelope *env =
            sl_envelope_new("scrape.requested", t->phase, t->sport, t->date, NULL);
        cJSON *p;
        int rc;

        if (!env) {
                snprintf(errstr, errstr_size, "cannot build a trigger for %s/%s", t->sport,
                         t->date);
                return -EINVAL;
        }
        if (t->correlation_id && t->correlation_id[0]) {
                if (!sl_uuid_valid(t->correlation_id)) {
                        snprintf(errstr, errstr_size, "bad correlation id '%s'", t->correlation_id);
                        sl_envelope_free(env);
                        return -EINVAL;
                }
                snprintf(env->correlation_id, sizeof(env->correlation_id), "%s", t->correlation_id);
        }
        p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "game_date", t->date);
        if (t->sources && t->sources[0])
                cJSON_AddStringToObject(p, "sources", t->sources);
        if (t->requested_by)
                cJSON_AddStringToObject(p, "requested_by", t->requested_by);
        sl_envelope_set_payload(env, p); /* takes p */
        rc = sl_bus_publish(bus, t->topic, env);
        if (rc == 0)
                rc = sl_bus_flush(bus, t->timeout_ms > 0 ? t->timeout_ms : 10000);
        if (rc < 0) {
                snprintf(errstr, errstr_size, "publish to %s: %s", t->topic, sl_strerror(rc));
        } else {
                memcpy(event_id, env->event_id, 37);
                memcpy(correlation_id, env->correlation_id, 37);
        }
        sl_envelope_free(env);
        return rc;
}
