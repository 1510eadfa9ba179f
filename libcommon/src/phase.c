#include <sl/phase.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <sl/bus.h>
#include <sl/err.h>
#include <sl/http.h>
#include <sl/log.h>
#include <sl/pg.h>
#include <sl/util.h>

#include "bus_int.h" /* the bus's Redis address and credentials for idem.redis=auto */

/*
 * The shared transaction / outbox / execution-log plumbing of the phase
 * services (phase.h). Every SQL text here is constant; values only travel
 * as parameters. Log event names are built from the phase name.
 */

/* "<phase>.<what>" into out (event names are short: truncation cannot happen in practice). */
static const char *event_name(char *out, size_t n, const struct sl_phase *ph, const char *what)
{
        if (snprintf(out, n, "%s.%s", ph->name, what) >= (int)n)
                return what;
        return out;
}

/* ---- the claim's Redis fast path ------------------------------------------------------- */

/* Drops the Redis connection after a failure; the next try waits SL_PHASE_REDIS_RETRY_MS. */
static void redis_fail(struct sl_phase *ph, const char *what)
{
        char ev[SL_PHASE_NAME_MAX + 24];

        ph->redis_errors++;
        if (!ph->redis_warned)
                sl_log_warn(event_name(ev, sizeof(ev), ph, "idem.redis.error"),
                            "%s:%d: %s (the claim goes to PostgreSQL only until Redis answers)",
                            ph->redis_host, ph->redis_port, what);
        ph->redis_warned = true;
        if (ph->redis)
                redisFree(ph->redis);
        ph->redis = NULL;
        ph->redis_retry_ms = sl_mono_ms() + SL_PHASE_REDIS_RETRY_MS;
}

/* One command (argv form), blocking with SL_PHASE_REDIS_TIMEOUT_MS; NULL on any error. */
static redisReply *redis_cmd(struct sl_phase *ph, int argc, const char **argv)
{
        redisReply *r = redisCommandArgv(ph->redis, argc, argv, NULL);

        if (!r) {
                redis_fail(ph, ((redisContext *)ph->redis)->errstr);
                return NULL;
        }
        if (r->type == REDIS_REPLY_ERROR) {
                char what[200];

                snprintf(what, sizeof(what), "%s: %s", argv[0], r->str);
                freeReplyObject(r);
                redis_fail(ph, what);
                return NULL;
        }
        return r;
}

/* The connection, (re)connected and authenticated when due; NULL: no shortcut now. */
static redisContext *redis_conn(struct sl_phase *ph)
{
        struct timeval tv = {.tv_sec = 0, .tv_usec = SL_PHASE_REDIS_TIMEOUT_MS * 1000};
        const char *auth[3] = {"AUTH"};
        char ev[SL_PHASE_NAME_MAX + 24];
        redisReply *r;
        int na = 1;

        if (!ph->redis_host)
                return NULL;
        if (ph->redis)
                return ph->redis;
        if (sl_mono_ms() < ph->redis_retry_ms)
                return NULL;
        ph->redis = redisConnectWithTimeout(ph->redis_host, ph->redis_port, tv);
        if (!ph->redis || ((redisContext *)ph->redis)->err ||
            redisSetTimeout(ph->redis, tv) != REDIS_OK) {
                redis_fail(ph, ph->redis ? ((redisContext *)ph->redis)->errstr : "out of memory");
                return NULL;
        }
        if (ph->redis_pass) {
                if (ph->redis_user)
                        auth[na++] = ph->redis_user;
                auth[na++] = ph->redis_pass;
                r = redis_cmd(ph, na, auth);
                if (!r)
                        return NULL;
                freeReplyObject(r);
        }
        if (ph->redis_warned)
                sl_log_info(event_name(ev, sizeof(ev), ph, "idem.redis.up"), "%s:%d answers again",
                            ph->redis_host, ph->redis_port);
        ph->redis_warned = false;
        return ph->redis;
}

/* "<prefix><key>" into a new string. */
static char *redis_key(const struct sl_phase *ph, const char *key)
{
        size_t len = strlen(ph->redis_prefix) + strlen(key) + 1;
        char *out = sl_xmalloc(len);

        snprintf(out, len, "%s%s", ph->redis_prefix, key);
        return out;
}

/* SET key 1 NX EX ttl: the key's event is committed and confirmed. Errors only log. */
static void redis_mark(struct sl_phase *ph, const char *key)
{
        char ttl[24], *rkey;
        redisReply *r;

        if (!redis_conn(ph))
                return;
        snprintf(ttl, sizeof(ttl), "%d",
                 ph->cfg->idem_redis_ttl_s > 0 ? ph->cfg->idem_redis_ttl_s : 604800);
        rkey = redis_key(ph, key);
        const char *argv[] = {"SET", rkey, "1", "NX", "EX", ttl};
        r = redis_cmd(ph, 6, argv);
        if (r)
                freeReplyObject(r);
        free(rkey);
}

/* 1 when key is set in Redis (processed and published before), 0 when not or unknown. */
static int redis_seen(struct sl_phase *ph, const char *key)
{
        char *rkey;
        redisReply *r;
        int seen = 0;

        if (!redis_conn(ph))
                return 0;
        rkey = redis_key(ph, key);
        const char *argv[] = {"EXISTS", rkey};
        r = redis_cmd(ph, 2, argv);
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
                seen = 1;
        if (r)
                freeReplyObject(r);
        free(rkey);
        return seen;
}

/*
 * Sets up the fast path from cfg->idem_redis and the bus: "off" or a
 * non-Redis bus under "auto" leave it off. The key prefix holds the bus
 * prefix and the database's oid, so a recreated database (tests) never sees
 * the keys of the one before. Returns 0 or -EINVAL with errstr.
 */
static int redis_setup(struct sl_phase *ph, char *errstr, size_t n)
{
        const char *mode = ph->cfg->idem_redis ? ph->cfg->idem_redis : "auto";
        const char *addr = NULL, *colon, *prefix = "statline";
        const struct sl_bus_opts *bo = ph->bus ? &ph->bus->opts : NULL;
        PGresult *res = NULL;
        char err[256];
        int64_t port = 6379;
        size_t len;

        if (strcmp(mode, "off") == 0)
                return 0;
        if (bo && bo->prefix)
                prefix = bo->prefix;
        if (strcmp(mode, "auto") == 0) {
                if (!bo || !bo->backend || strncmp(bo->backend, "redis-", 6) != 0)
                        return 0;
                addr = bo->url ? bo->url : "127.0.0.1:6379";
                if (bo->password)
                        ph->redis_pass = sl_xstrdup(bo->password);
                if (bo->username)
                        ph->redis_user = sl_xstrdup(bo->username);
        } else {
                addr = mode;
        }
        colon = strrchr(addr, ':');
        if (!colon || colon == addr || sl_parse_i64(colon + 1, 1, 65535, &port) < 0)
                return sl_errf(errstr, n, -EINVAL,
                               "idem.redis: \"%s\" is not auto, off or host:port", addr);
        ph->redis_host = sl_xmalloc((size_t)(colon - addr) + 1);
        memcpy(ph->redis_host, addr, (size_t)(colon - addr));
        ph->redis_host[colon - addr] = '\0';
        ph->redis_port = (int)port;
        if (sl_pg_exec(ph->pg,
                       "SELECT oid::text FROM pg_database WHERE datname = current_database()", 0,
                       NULL, &res, err, sizeof(err)) < 0 ||
            PQntuples(res) != 1) {
                PQclear(res);
                free(ph->redis_host);
                ph->redis_host = NULL;
                sl_log_warn(event_name(err, sizeof(err), ph, "idem.redis.off"),
                            "database oid unknown: fast path off");
                return 0;
        }
        len = strlen(prefix) + strlen(PQgetvalue(res, 0, 0)) + 16;
        ph->redis_prefix = sl_xmalloc(len);
        snprintf(ph->redis_prefix, len, "%s:idem:%s:", prefix, PQgetvalue(res, 0, 0));
        PQclear(res);
        sl_log_info(event_name(err, sizeof(err), ph, "idem.redis"),
                    "claim fast path on %s:%d, keys %s*", ph->redis_host, ph->redis_port,
                    ph->redis_prefix);
        return 0;
}

/* ---- lifecycle and readiness ---------------------------------------------------------- */

int sl_phase_open(struct sl_phase *ph, const char *name, const struct sl_phase_cfg *cfg,
                  struct sl_bus *bus, struct sl_http *http, char *errstr, size_t n)
{
        int rc;

        if (!name || snprintf(ph->name, sizeof(ph->name), "%s", name) >= (int)sizeof(ph->name))
                return sl_errf(errstr, n, -EINVAL, "phase name too long");
        ph->cfg = cfg;
        ph->bus = bus;
        ph->http = http;
        ph->pg = sl_pg_open(cfg->pg_dsn, cfg->pg_connect_timeout_ms, errstr, n);
        if (!ph->pg)
                return -ECONNREFUSED;
        rc = sl_pg_migrate(ph->pg, cfg->pg_migrations, errstr, n);
        if (rc >= 0) {
                int rc2 = redis_setup(ph, errstr, n);

                if (rc2 < 0)
                        return rc2;
        }
        return rc;
}

void sl_phase_close(struct sl_phase *ph)
{
        sl_pg_close(ph->pg);
        ph->pg = NULL;
        if (ph->redis)
                redisFree(ph->redis);
        ph->redis = NULL;
        free(ph->redis_host);
        free(ph->redis_user);
        free(ph->redis_pass);
        free(ph->redis_prefix);
        ph->redis_host = ph->redis_user = ph->redis_pass = ph->redis_prefix = NULL;
}

void sl_phase_note_pg(struct sl_phase *ph, int rc)
{
        char ev[SL_PHASE_NAME_MAX + 16];

        if (rc != -ECONNRESET || ph->pg_down)
                return;
        ph->pg_down = true;
        ph->pg_probe_ms = sl_mono_ms();
        sl_http_set_unready(ph->http, "pg: connection lost");
        sl_log_warn(event_name(ev, sizeof(ev), ph, "pg.down"),
                    "PostgreSQL connection lost; /readyz reports not ready");
}

void sl_phase_note_pg_up(struct sl_phase *ph)
{
        char ev[SL_PHASE_NAME_MAX + 16];

        if (!ph->pg_down)
                return;
        ph->pg_down = false;
        sl_http_set_ready(ph->http, true);
        sl_log_info(event_name(ev, sizeof(ev), ph, "pg.up"),
                    "PostgreSQL answers again; /readyz reports ready");
}

int sl_phase_tick(struct sl_phase *ph)
{
        char err[256];
        int64_t now = sl_mono_ms();
        int rc;

        if (now - ph->pg_probe_ms < (ph->pg_down ? SL_PHASE_PROBE_DOWN_MS : SL_PHASE_PROBE_UP_MS))
                return 0;
        ph->pg_probe_ms = now;
        rc = sl_pg_exec(ph->pg, "SELECT 1", 0, NULL, NULL, err, sizeof(err));
        if (rc < 0) {
                /* any retriable failure of the probe counts as a lost connection */
                sl_phase_note_pg(ph, sl_err_retriable(rc) ? -ECONNRESET : rc);
                return 0;
        }
        sl_phase_note_pg_up(ph);
        return 0;
}

/* ---- the transaction ------------------------------------------------------------------ */

int sl_phase_claim(struct sl_phase *ph, const char *key, const char *processor,
                   const char *correlation_id, char *errstr, size_t n)
{
        const char *params[] = {key, ph->name, processor, correlation_id};
        PGresult *res = NULL;
        int rc;

        if (ph->redis_host && redis_seen(ph, key)) {
                ph->redis_hits++;
                return -EEXIST; /* committed and published before: no PostgreSQL round trip */
        }
        rc = sl_pg_exec(ph->pg,
                        "INSERT INTO ops.idempotency_keys (key, phase, processor, correlation_id, "
                        "completed_at) VALUES ($1, $2::ops.phase, $3, $4::uuid, now()) "
                        "ON CONFLICT (key) DO NOTHING RETURNING 1",
                        4, params, &res, errstr, n);
        if (rc == 0 && PQntuples(res) == 0)
                rc = -EEXIST; /* claimed by an earlier run */
        PQclear(res);
        return rc;
}

int sl_phase_outbox_insert(struct sl_phase *ph, const char *topic, const char *key,
                           const char *idem_key, const char *event, char *errstr, size_t n)
{
        const char *params[] = {topic, key, idem_key, event};
        int rc;

        rc = sl_pg_exec(ph->pg,
                        "INSERT INTO ops.outbox (topic, key, idempotency_key, payload) "
                        "VALUES ($1, $2, $3, convert_to($4, 'UTF8'))",
                        4, params, NULL, errstr, n);
        /* the claim makes a second row impossible; if it happens anyway, retry later */
        return rc == -EEXIST ? -EAGAIN : rc;
}

int sl_phase_tx_end(struct sl_phase *ph, int rc)
{
        char rb[256];

        if (rc < 0 && sl_pg_in_tx(ph->pg))
                sl_pg_rollback(ph->pg, rb, sizeof(rb));
        if (rc < 0 && rc != -EEXIST)
                sl_phase_note_pg(ph, rc);
        return rc;
}

/* ---- publishing ------------------------------------------------------------------------ */

int sl_phase_publish(struct sl_phase *ph, const char *topic, const char *key, const char *idem_key,
                     const char *event, size_t len, char *errstr, size_t n)
{
        const char *params[] = {topic, idem_key};
        char err[256], ev[SL_PHASE_NAME_MAX + 24];
        int rc;

        rc = sl_bus_publish_raw(ph->bus, topic, key, event, len, NULL, 0);
        if (rc == 0)
                rc = sl_bus_flush(ph->bus, ph->cfg->publish_timeout_ms);
        if (rc < 0)
                return sl_errf(errstr, n, rc, "publish %s: %s", topic, sl_strerror(rc));
        rc = sl_pg_exec(ph->pg,
                        "UPDATE ops.outbox SET published_at = now() "
                        "WHERE topic = $1 AND idempotency_key = $2 AND published_at IS NULL",
                        2, params, NULL, err, sizeof(err));
        if (rc < 0) {
                /*
                 * The event is out but its row still reads unpublished, which
                 * the backfill tracker and the monitor count as pending for
                 * ever. Fail the event: its redelivery finds the claim, and
                 * sl_phase_replay() publishes the row again (the next phase
                 * skips the copy by its own claim) and marks it.
                 */
                sl_phase_note_pg(ph, rc);
                sl_log_warn(event_name(ev, sizeof(ev), ph, "outbox.mark.error"),
                            "key=%s: %s (published; the redelivery marks it)", idem_key, err);
                return sl_errf(errstr, n, rc, "mark %s published: %s", topic, err);
        }
        if (ph->redis_host)
                redis_mark(ph, idem_key); /* after COMMIT and the broker's confirmation */
        return 0;
}

int sl_phase_replay(struct sl_phase *ph, const char *topic, const char *idem_key, char **event,
                    size_t *len, char *errstr, size_t n)
{
        const char *params[] = {topic, idem_key};
        PGresult *res = NULL;
        char *key;
        int rc;

        rc = sl_pg_exec(ph->pg,
                        "SELECT convert_from(payload, 'UTF8'), coalesce(key, ''), "
                        "published_at IS NOT NULL FROM ops.outbox "
                        "WHERE topic = $1 AND idempotency_key = $2",
                        2, params, &res, errstr, n);
        if (rc < 0) {
                sl_phase_note_pg(ph, rc);
                return rc;
        }
        if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
                if (PQntuples(res) > 0 && ph->redis_host)
                        redis_mark(ph, idem_key); /* e.g. the Redis key expired or was lost */
                PQclear(res);
                return -EEXIST; /* published before (or never stored) */
        }
        free(*event);
        *event = sl_xstrdup(PQgetvalue(res, 0, 0));
        *len = strlen(*event);
        key = sl_xstrdup(PQgetvalue(res, 0, 1)); /* the partition key it was stored with */
        PQclear(res);
        rc = sl_phase_publish(ph, topic, key, idem_key, *event, *len, errstr, n);
        free(key);
        return rc;
}

/* ---- execution log ---------------------------------------------------------------------- */

int sl_phase_exec_params(const struct sl_phase_exec *x, const char *phase,
                         struct sl_phase_exec_buf *buf, const char **params)
{
        int64_t dur = x->duration_ms >= 0 ? x->duration_ms : x->elapsed_ms;

        if (!x->execution_id || !x->correlation_id || !x->processor || !x->status || !x->sport ||
            !phase)
                return -EINVAL;
        sl_time_rfc3339(x->started_wall_ms, buf->started);
        sl_time_rfc3339(x->started_wall_ms + x->elapsed_ms, buf->completed);
        snprintf(buf->duration, sizeof(buf->duration), "%lld", (long long)dur);
        snprintf(buf->rows, sizeof(buf->rows), "%lld", (long long)x->rows);
        params[0] = x->execution_id;
        params[1] = x->correlation_id;
        params[2] = x->event_id;
        params[3] = phase;
        params[4] = x->processor;
        params[5] = x->status;
        params[6] = buf->started;
        params[7] = buf->completed;
        params[8] = buf->duration;
        params[9] = x->deps_met;
        params[10] = x->missing;
        params[11] = x->skip_reason;
        params[12] = x->error;
        params[13] = x->rows >= 0 ? buf->rows : NULL;
        params[14] = x->entities;
        params[15] = x->game_date && x->game_date[0] ? x->game_date : NULL;
        params[16] = x->sport;
        return 0;
}

int sl_phase_exec_log(struct sl_phase *ph, const struct sl_phase_exec *x, char *errstr, size_t n)
{
        struct sl_phase_exec copy = *x;
        struct sl_phase_exec_buf buf;
        const char *params[SL_PHASE_EXEC_NPARAMS];
        char exec_id[37];

        if (!copy.execution_id) {
                sl_uuid7(exec_id);
                copy.execution_id = exec_id;
        }
        if (sl_phase_exec_params(&copy, ph->name, &buf, params) < 0)
                return sl_errf(errstr, n, -EINVAL, "execution log: a required field is missing");
        return sl_pg_exec(ph->pg,
                          "INSERT INTO ops.pipeline_execution_log (execution_id, correlation_id, "
                          "event_id, phase, processor, status, started_at, completed_at, "
                          "duration_ms, dependencies_met, missing_dependencies, skip_reason, "
                          "error_message, rows_written, affected_entities, game_date, sport) "
                          "VALUES ($1::uuid, $2::uuid, $3::uuid, $4::ops.phase, $5, $6, "
                          "$7::timestamptz, $8::timestamptz, $9::int, $10::boolean, "
                          "coalesce($11::text[], '{}'), $12, left($13, 1000), $14::int, "
                          "coalesce($15::jsonb, '[]'), $16::date, $17)",
                          SL_PHASE_EXEC_NPARAMS, params, NULL, errstr, n);
}

char *sl_phase_entities_json(const char *kind, const char *const *ids, size_t n)
{
        cJSON *arr = cJSON_CreateArray();
        char *s, *out;

        for (size_t i = 0; arr && i < n; i++) {
                cJSON *e = cJSON_CreateObject();
                if (!e)
                        abort();
                cJSON_AddStringToObject(e, "kind", kind);
                cJSON_AddStringToObject(e, "id", ids[i]);
                cJSON_AddItemToArray(arr, e);
        }
        s = arr ? cJSON_PrintUnformatted(arr) : NULL;
        cJSON_Delete(arr);
        if (!s)
                abort(); /* out of memory: like sl_xmalloc */
        out = sl_xstrdup(s);
        cJSON_free(s);
        return out;
}
