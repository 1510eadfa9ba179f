/*
 * Redis Streams collector: one synchronous hiredis connection, read-only
 * commands (SCAN, XINFO, XPENDING, XRANGE, XLEN).
 */
#include "mon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include <sl/util.h>

#define SCAN_MAX_KEYS 10000 /* streams looked at per refresh */

struct mon_redis {
        char host[256];
        int port;
        char *username, *password, *prefix;
        int timeout_ms;
        int64_t active_ms; /* first refresh: idle below this counts as live */
        int64_t last_ms;   /* wall time of the previous refresh, 0 before the first */
        int64_t live_ms;   /* this refresh: a consumer idle less than this is live */
        redisContext *redis;
};

static int split_url(const char *url, char *host, size_t host_size, int *port)
{
        const char *colon = strrchr(url, ':');
        int64_t p;
        size_t len;

        if (!colon || colon == url)
                return -EINVAL;
        len = (size_t)(colon - url);
        if (len >= host_size || sl_parse_i64(colon + 1, 1, 65535, &p) < 0)
                return -EINVAL;
        memcpy(host, url, len);
        host[len] = '\0';
        *port = (int)p;
        return 0;
}

/* Runs argv; NULL with errstr on a transport error or an error reply. */
static redisReply *cmd(struct mon_redis *r, int argc, const char **argv, char *errstr,
                       size_t errstr_size)
{
        redisReply *reply = redisCommandArgv(r->redis, argc, argv, NULL);

        if (!reply) {
                snprintf(errstr, errstr_size, "redis %s: %s", argv[0],
                         r->redis->errstr[0] ? r->redis->errstr : "no reply");
                redisFree(r->redis); /* reconnect on the next refresh */
                r->redis = NULL;
                return NULL;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
                snprintf(errstr, errstr_size, "redis %s: %s", argv[0], reply->str);
                freeReplyObject(reply);
                return NULL;
        }
        return reply;
}

static int connect_redis(struct mon_redis *r, char *errstr, size_t errstr_size)
{
        struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
        redisReply *reply;

        r->redis = redisConnectWithTimeout(r->host, r->port, tv);
        if (!r->redis || r->redis->err) {
                snprintf(errstr, errstr_size, "redis %s:%d: %s", r->host, r->port,
                         r->redis ? r->redis->errstr : "out of memory");
                redisFree(r->redis);
                r->redis = NULL;
                return -ECONNREFUSED;
        }
        redisSetTimeout(r->redis, tv);
        if (r->password[0]) {
                const char *a3[] = {"AUTH", r->username, r->password};
                const char *a2[] = {"AUTH", r->password};
                reply = r->username[0] ? cmd(r, 3, a3, errstr, errstr_size)
                                       : cmd(r, 2, a2, errstr, errstr_size);
                if (!reply) {
                        redisFree(r->redis);
                        r->redis = NULL;
                        return -EACCES;
                }
                freeReplyObject(reply);
        }
        return 0;
}

struct mon_redis *mon_redis_open(const struct mon_bus_opts *o, char *errstr, size_t errstr_size)
{
        struct mon_redis *r = sl_xcalloc(1, sizeof(*r));

        if (split_url(o->url, r->host, sizeof(r->host), &r->port) < 0) {
                snprintf(errstr, errstr_size, "bus.url: expected host:port, got '%s'", o->url);
                free(r);
                return NULL;
        }
        r->username = sl_xstrdup(o->username ? o->username : "");
        r->password = sl_xstrdup(o->password ? o->password : "");
        r->prefix = sl_xstrdup(o->prefix);
        r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
        r->active_ms = o->active_ms;
        if (connect_redis(r, errstr, errstr_size) < 0) {
                mon_redis_close(r);
                return NULL;
        }
        return r;
}

void mon_redis_close(struct mon_redis *r)
{
        if (!r)
                return;
        redisFree(r->redis);
        free(r->username);
        free(r->password);
        free(r->prefix);
        free(r);
}

/* The value after key name in a flat [k, v, k, v...] reply, or NULL. */
static const redisReply *field(const redisReply *m, const char *name)
{
        if (!m || m->type != REDIS_REPLY_ARRAY)
                return NULL;
        for (size_t i = 0; i + 1 < m->elements; i += 2)
                if (m->element[i]->type == REDIS_REPLY_STRING ||
                    m->element[i]->type == REDIS_REPLY_STATUS)
                        if (strcmp(m->element[i]->str, name) == 0)
                                return m->element[i + 1];
        return NULL;
}

static int64_t field_int(const redisReply *m, const char *name)
{
        const redisReply *v = field(m, name);
        int64_t n;

        if (!v)
                return -1;
        if (v->type == REDIS_REPLY_INTEGER)
                return v->integer;
        if (v->type == REDIS_REPLY_STRING && sl_parse_i64(v->str, 0, INT64_MAX, &n) == 0)
                return n;
        return -1; /* nil: Redis does not know (e.g. entries-read after XDEL) */
}

static const char *field_str(const redisReply *m, const char *name)
{
        const redisReply *v = field(m, name);

        if (!v || (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_STATUS))
                return NULL;
        return v->str;
}

/* Milliseconds part of a stream entry id "<ms>-<seq>", or -1. */
static int64_t id_ms(const char *id)
{
        char ms[24];
        const char *dash = id ? strchr(id, '-') : NULL;
        size_t len;
        int64_t v;

        if (!dash || (len = (size_t)(dash - id)) == 0 || len >= sizeof(ms))
                return -1;
        memcpy(ms, id, len);
        ms[len] = '\0';
        return sl_parse_i64(ms, 0, INT64_MAX, &v) == 0 ? v : -1;
}

/* Collects the <prefix>.* stream names into *names (heap array of heap strings). */
static int scan_streams(struct mon_redis *r, char ***names, size_t *n, char *errstr,
                        size_t errstr_size)
{
        char cursor[32] = "0", match[MON_NAME_MAX + 4];
        redisReply *reply;

        snprintf(match, sizeof(match), "%s.*", r->prefix);
        do {
                const char *argv[] = {"SCAN",  cursor, "MATCH", match,
                                      "COUNT", "1000", "TYPE",  "stream"};
                reply = cmd(r, 8, argv, errstr, errstr_size);
                if (!reply)
                        return -EIO;
                if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                    reply->element[0]->type != REDIS_REPLY_STRING) {
                        freeReplyObject(reply);
                        snprintf(errstr, errstr_size, "redis SCAN: unexpected reply");
                        return -EPROTO;
                }
                snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
                for (size_t i = 0; i < reply->element[1]->elements && *n < SCAN_MAX_KEYS; i++) {
                        *names = sl_xrealloc(*names, (*n + 1) * sizeof(**names));
                        (*names)[(*n)++] = sl_xstrdup(reply->element[1]->element[i]->str);
                }
                freeReplyObject(reply);
        } while (strcmp(cursor, "0") != 0 && *n < SCAN_MAX_KEYS);
        return 0;
}

static bool is_dlq(const char *name)
{
        size_t len = strlen(name);

        return len > 4 && strcmp(name + len - 4, ".dlq") == 0;
}

static void consumers_of(struct mon_redis *r, const char *stream, struct mon_group *g, char *errstr,
                         size_t errstr_size)
{
        const char *argv[] = {"XINFO", "CONSUMERS", stream, g->group};
        redisReply *reply = cmd(r, 4, argv, errstr, errstr_size);

        if (!reply)
                return;
        g->consumers = (int)reply->elements;
        for (size_t i = 0; i < reply->elements; i++) {
                int64_t idle = field_int(reply->element[i], "idle");
                if (idle >= 0 && idle < r->live_ms)
                        g->active_consumers++;
        }
        freeReplyObject(reply);
}

/* Age (ms since its id time) of the oldest pending entry, or -1. */
static int64_t oldest_pending(struct mon_redis *r, const char *stream, const char *group,
                              int64_t now_ms, char *errstr, size_t errstr_size)
{
        const char *argv[] = {"XPENDING", stream, group, "-", "+", "1"};
        redisReply *reply = cmd(r, 6, argv, errstr, errstr_size);
        int64_t age = -1, ms;

        if (!reply)
                return -1;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
            reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements >= 1) {
                ms = id_ms(reply->element[0]->element[0]->str);
                if (ms >= 0)
                        age = now_ms > ms ? now_ms - ms : 0;
        }
        freeReplyObject(reply);
        return age;
}

/* Age of the first entry after last_id (the oldest never delivered), or -1. */
static int64_t oldest_undelivered(struct mon_redis *r, const char *stream, const char *last_id,
                                  int64_t now_ms, char *errstr, size_t errstr_size)
{
        char start[96];
        const char *argv[] = {"XRANGE", stream, start, "+", "COUNT", "1"};
        redisReply *reply;
        int64_t age = -1, ms;

        snprintf(start, sizeof(start), "(%s", last_id);
        reply = cmd(r, 6, argv, errstr, errstr_size);
        if (!reply)
                return -1;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
            reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements >= 1) {
                ms = id_ms(reply->element[0]->element[0]->str);
                if (ms >= 0)
                        age = now_ms > ms ? now_ms - ms : 0;
        }
        freeReplyObject(reply);
        return age;
}

static void group_of(struct mon_redis *r, struct mon_snapshot *snap, const char *stream,
                     int64_t added, const redisReply *info, char *errstr, size_t errstr_size)
{
        const char *name = field_str(info, "name");
        const char *last_id = field_str(info, "last-delivered-id");
        struct mon_group *g;
        int64_t read, age_p = -1, age_u = -1;

        if (!name)
                return;
        g = mon_snapshot_group(snap, name, stream);
        g->pending = field_int(info, "pending");
        g->undelivered = field_int(info, "lag");
        read = field_int(info, "entries-read");
        if (g->undelivered >= 0 && g->pending >= 0)
                g->lag = g->undelivered + g->pending;
        /* Handled entries: read minus pending. A group created at an explicit id has no
         * entries-read counter until it reads; entries-added minus the lag is the same. */
        if (read >= 0 && g->pending >= 0)
                g->offset = read - g->pending;
        else if (added >= 0 && g->lag >= 0 && added >= g->lag)
                g->offset = added - g->lag;
        consumers_of(r, stream, g, errstr, errstr_size);
        if (g->pending > 0) {
                age_p = oldest_pending(r, stream, name, snap->t_ms, errstr, errstr_size);
                g->oldest_pending_s = age_p >= 0 ? (double)age_p / 1000.0 : -1;
        }
        if (last_id && g->undelivered != 0)
                age_u = oldest_undelivered(r, stream, last_id, snap->t_ms, errstr, errstr_size);
        if (g->lag == 0)
                g->lag_s = 0;
        else if (age_p >= 0 || age_u >= 0)
                g->lag_s = (double)(age_p > age_u ? age_p : age_u) / 1000.0;
}

static int stream_of(struct mon_redis *r, struct mon_snapshot *snap, const char *stream,
                     char *errstr, size_t errstr_size)
{
        const char *ai[] = {"XINFO", "STREAM", stream};
        const char *ag[] = {"XINFO", "GROUPS", stream};
        struct mon_topic *t;
        redisReply *info, *groups;
        int64_t added;

        info = cmd(r, 3, ai, errstr, errstr_size);
        if (!info)
                return r->redis ? 0 : -EIO; /* deleted meanwhile: skip */
        t = mon_snapshot_topic(snap, stream);
        t->exists = true;
        t->length = field_int(info, "length");
        t->end_offset = field_int(info, "entries-added");
        if (t->end_offset < 0)
                t->end_offset = t->length; /* Redis < 7 */
        added = t->end_offset;
        freeReplyObject(info);
        groups = cmd(r, 3, ag, errstr, errstr_size);
        if (!groups)
                return r->redis ? 0 : -EIO;
        for (size_t i = 0; i < groups->elements && r->redis; i++)
                group_of(r, snap, stream, added, groups->element[i], errstr, errstr_size);
        freeReplyObject(groups);
        return r->redis ? 0 : -EIO;
}

static int dlq_of(struct mon_redis *r, struct mon_snapshot *snap, const char *stream, char *errstr,
                  size_t errstr_size)
{
        const char *argv[] = {"XLEN", stream};
        char parent[MON_NAME_MAX];
        redisReply *reply = cmd(r, 2, argv, errstr, errstr_size);
        size_t len = strlen(stream) - 4;

        if (!reply)
                return r->redis ? 0 : -EIO;
        if (len >= sizeof(parent))
                len = sizeof(parent) - 1;
        memcpy(parent, stream, len);
        parent[len] = '\0';
        mon_snapshot_topic(snap, parent)->dlq_depth = reply->integer;
        freeReplyObject(reply);
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int mon_redis_collect(struct mon_redis *r, struct mon_snapshot *snap, char *errstr,
                      size_t errstr_size)
{
        char **names = NULL;
        size_t n = 0;
        int rc = 0;

        if (!r->redis) {
                rc = connect_redis(r, errstr, errstr_size);
                if (rc < 0)
                        return rc;
        }
        /* Live = talked to Redis since the previous refresh (no threshold to tune). */
        r->live_ms =
            r->last_ms > 0 && snap->t_ms > r->last_ms ? snap->t_ms - r->last_ms : r->active_ms;
        r->last_ms = snap->t_ms;
        rc = scan_streams(r, &names, &n, errstr, errstr_size);
        if (rc == 0 && n > 0) /* no stream yet: names is NULL, which qsort may not get */
                sl_qsort(names, n, sizeof(*names), cmp_str);
        for (size_t i = 0; i < n && rc == 0; i++)
                if (!is_dlq(names[i]))
                        rc = stream_of(r, snap, names[i], errstr, errstr_size);
        for (size_t i = 0; i < n && rc == 0; i++)
                if (is_dlq(names[i]))
                        rc = dlq_of(r, snap, names[i], errstr, errstr_size);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return rc;
}
