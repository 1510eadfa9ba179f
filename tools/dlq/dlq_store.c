/*
 * statline-dlq, the broker part: reads dead letters straight from Redis
 * (hiredis: SCAN for "<prefix>.*.dlq" streams, XRANGE, XDEL) and Kafka
 * (librdkafka: metadata for "<prefix>.*.dlq" topics, a group-less consumer
 * assigned partition by partition from the low to the high watermark, and
 * ops.dlq_resolved instead of a delete). The bus library is only used for
 * publishing replays (main.c): reading a DLQ must not join a consumer group.
 */
#include "dlq.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "sl_config.h"
#if SL_HAVE_KAFKA
#include <librdkafka/rdkafka.h>
#endif

#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/util.h>

#define XRANGE_BATCH   "200"
#define SCAN_COUNT     "1000"
#define MAX_DLQ_TOPICS 4096

struct dlq_store {
        struct dlq_store_opts o; /* strings borrowed */
        bool kafka;
        redisContext *redis; /* owned, Redis backends */
#if SL_HAVE_KAFKA
        rd_kafka_t *rk; /* owned, Kafka: a consumer that only uses assign() */
#endif
};

/* ---- Redis -------------------------------------------------------------------------------- */

/* One command from argv (NUL-terminated strings). Returns the reply (freeReplyObject) or NULL. */
static redisReply *rcmd(struct dlq_store *st, int argc, const char **argv, char *errstr,
                        size_t errstr_size)
{
        redisReply *reply = redisCommandArgv(st->redis, argc, argv, NULL);

        if (!reply) {
                sl_errf(errstr, errstr_size, -EIO, "redis %s: %s", argv[0],
                        st->redis->errstr[0] ? st->redis->errstr : "connection lost");
                return NULL;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
                sl_errf(errstr, errstr_size, -EIO, "redis %s: %s", argv[0], reply->str);
                freeReplyObject(reply);
                return NULL;
        }
        return reply;
}

static int redis_open(struct dlq_store *st, char *errstr, size_t errstr_size)
{
        const char *url = st->o.url && *st->o.url ? st->o.url : "127.0.0.1:6379";
        const char *colon = strrchr(url, ':');
        struct timeval tv = {st->o.timeout_ms / 1000, (st->o.timeout_ms % 1000) * 1000};
        char host[256];
        int64_t port;
        redisReply *reply;

        if (!colon || (size_t)(colon - url) >= sizeof(host) ||
            sl_parse_i64(colon + 1, 1, 65535, &port) < 0)
                return sl_errf(errstr, errstr_size, -EINVAL, "bus.url: want host:port, got %s",
                               url);
        memcpy(host, url, (size_t)(colon - url));
        host[colon - url] = '\0';
        st->redis = redisConnectWithTimeout(host, (int)port, tv);
        if (!st->redis || st->redis->err)
                return sl_errf(errstr, errstr_size, -ECONNREFUSED, "redis %s: %s", url,
                               st->redis ? st->redis->errstr : "out of memory");
        redisSetTimeout(st->redis, tv);
        if (st->o.password && *st->o.password) {
                const char *a2[] = {"AUTH", st->o.password};
                const char *a3[] = {"AUTH", st->o.username, st->o.password};
                bool user = st->o.username && *st->o.username;
                reply = rcmd(st, user ? 3 : 2, user ? a3 : a2, errstr, errstr_size);
                if (!reply)
                        return -EACCES;
                freeReplyObject(reply);
        }
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The DLQ streams under the prefix, sorted, into names (heap strings) / *n. */
static int redis_topics(struct dlq_store *st, char **names, size_t *n, char *errstr,
                        size_t errstr_size)
{
        char *pattern = sl_xasprintf("%s.*.dlq", st->o.prefix);
        char cursor[32] = "0";
        int rc = 0;

        *n = 0;
        do {
                const char *argv[] = {"SCAN",  cursor,     "MATCH", pattern,
                                      "COUNT", SCAN_COUNT, "TYPE",  "stream"};
                redisReply *reply = rcmd(st, 8, argv, errstr, errstr_size);
                if (!reply) {
                        rc = -EIO;
                        break;
                }
                if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
                        freeReplyObject(reply);
                        rc = sl_errf(errstr, errstr_size, -EPROTO, "redis SCAN: bad reply");
                        break;
                }
                snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
                for (size_t i = 0; i < reply->element[1]->elements && *n < MAX_DLQ_TOPICS; i++)
                        names[(*n)++] = sl_xstrdup(reply->element[1]->element[i]->str);
                freeReplyObject(reply);
        } while (strcmp(cursor, "0") != 0);
        free(pattern);
        sl_qsort(names, *n, sizeof(*names), cmp_str);
        return rc;
}

/* A letter from one XRANGE entry [id, [field, value, ...]]; NULL if malformed. */
static struct dlq_letter *redis_letter(const char *topic, const redisReply *e)
{
        struct dlq_letter *l;
        const redisReply *f;
        int64_t ms = 0;

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
                return NULL;
        f = e->element[1];
        l = dlq_letter_new();
        l->dlq_topic = sl_xstrdup(topic);
        l->entry = sl_xstrdup(e->element[0]->str);
        for (size_t i = 0; i + 1 < f->elements; i += 2) {
                const redisReply *name = f->element[i], *val = f->element[i + 1];
                if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
                        continue;
                if (strcmp(name->str, "d") == 0) {
                        free(l->data);
                        l->data = sl_xmalloc(val->len + 1);
                        memcpy(l->data, val->str, val->len);
                        l->data[val->len] = '\0';
                        l->len = val->len;
                } else if (strcmp(name->str, "k") == 0) {
                        free(l->key);
                        l->key = sl_xstrndup(val->str, val->len);
                } else if (strncmp(name->str, "h:", 2) == 0) {
                        dlq_letter_add_header(l, name->str + 2, val->str, val->len);
                }
        }
        /* The entry id starts with the ms time it was added: the fallback failure time. */
        if (sl_parse_i64(l->entry, 0, INT64_MAX, &ms) < 0) {
                char head[24];
                snprintf(head, sizeof(head), "%.*s", (int)strcspn(l->entry, "-"), l->entry);
                if (sl_parse_i64(head, 0, INT64_MAX, &ms) < 0)
                        ms = 0;
        }
        if (dlq_letter_finish(l, ms) < 0) {
                dlq_letter_free(l);
                return NULL;
        }
        return l;
}

static int redis_scan_topic(struct dlq_store *st, const char *topic, dlq_letter_fn *fn,
                            void *opaque, char *errstr, size_t errstr_size)
{
        char start[96] = "-";

        for (;;) {
                const char *argv[] = {"XRANGE", topic, start, "+", "COUNT", XRANGE_BATCH};
                redisReply *reply = rcmd(st, 6, argv, errstr, errstr_size);
                size_t got;
                int rc = 0;

                if (!reply)
                        return -EIO;
                got = reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;
                for (size_t i = 0; i < got && rc == 0; i++) {
                        struct dlq_letter *l = redis_letter(topic, reply->element[i]);
                        if (!l)
                                continue;
                        snprintf(start, sizeof(start), "(%s", l->entry);
                        rc = fn(l, opaque);
                }
                freeReplyObject(reply);
                if (rc < 0)
                        return sl_errf(errstr, errstr_size, rc, "%s", sl_strerror(rc));
                if (rc > 0)
                        return 1;
                if (got == 0)
                        return 0;
        }
}

static int redis_scan(struct dlq_store *st, dlq_letter_fn *fn, void *opaque, char *errstr,
                      size_t errstr_size)
{
        char **names = sl_xcalloc(MAX_DLQ_TOPICS, sizeof(*names));
        size_t n = 0;
        int rc = redis_topics(st, names, &n, errstr, errstr_size);

        for (size_t i = 0; i < n && rc == 0; i++)
                rc = redis_scan_topic(st, names[i], fn, opaque, errstr, errstr_size);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return rc < 0 ? rc : 0;
}

static int redis_get(struct dlq_store *st, const char *topic, const char *entry,
                     struct dlq_letter **out, char *errstr, size_t errstr_size)
{
        const char *argv[] = {"XRANGE", topic, entry, entry};
        redisReply *reply = rcmd(st, 4, argv, errstr, errstr_size);

        if (!reply)
                return -EIO;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1)
                *out = redis_letter(topic, reply->element[0]);
        freeReplyObject(reply);
        if (!*out)
                return sl_errf(errstr, errstr_size, -ENOENT, "no dead letter %s/%s", topic, entry);
        return 0;
}

static int redis_remove(struct dlq_store *st, const struct dlq_letter *l, char *errstr,
                        size_t errstr_size)
{
        const char *argv[] = {"XDEL", l->dlq_topic, l->entry};
        redisReply *reply = rcmd(st, 3, argv, errstr, errstr_size);

        if (!reply)
                return -EIO;
        freeReplyObject(reply);
        return 0;
}

/* ---- Kafka -------------------------------------------------------------------------------- */

#if SL_HAVE_KAFKA
static int kset(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
                size_t errstr_size)
{
        char err[256];

        if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
                return sl_errf(errstr, errstr_size, -EINVAL, "kafka %s: %s", k, err);
        return 0;
}

/* bus.kafka_props: "k=v,k=v". */
static int kprops(rd_kafka_conf_t *conf, const char *props, char *errstr, size_t errstr_size)
{
        char *copy = sl_xstrdup(props ? props : ""), *p = copy;
        int rc = 0;

        while (rc == 0 && p && *p) {
                char *next = strchr(p, ','), *eq;
                if (next)
                        *next++ = '\0';
                eq = strchr(p, '=');
                if (!eq) {
                        rc = sl_errf(errstr, errstr_size, -EINVAL,
                                     "bus.kafka_props: want k=v, got \"%s\"", p);
                        break;
                }
                *eq = '\0';
                rc = kset(conf, p, eq + 1, errstr, errstr_size);
                p = next;
        }
        free(copy);
        return rc;
}

static int kafka_open(struct dlq_store *st, char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[512], tmo[16];
        int rc;

        snprintf(tmo, sizeof(tmo), "%d", st->o.timeout_ms);
        rc = kset(conf, "bootstrap.servers", st->o.url, errstr, errstr_size);
        if (rc == 0)
                rc = kset(conf, "group.id", "statline-dlq-reader", errstr, errstr_size);
        if (rc == 0)
                rc = kset(conf, "enable.auto.commit", "false", errstr, errstr_size);
        if (rc == 0)
                rc = kset(conf, "enable.partition.eof", "true", errstr, errstr_size);
        if (rc == 0)
                rc = kset(conf, "socket.connection.setup.timeout.ms", tmo, errstr, errstr_size);
        if (rc == 0 && st->o.username && *st->o.username)
                rc = kset(conf, "sasl.username", st->o.username, errstr, errstr_size);
        if (rc == 0 && st->o.password && *st->o.password)
                rc = kset(conf, "sasl.password", st->o.password, errstr, errstr_size);
        if (rc == 0)
                rc = kprops(conf, st->o.kafka_props, errstr, errstr_size);
        if (rc < 0) {
                rd_kafka_conf_destroy(conf);
                return rc;
        }
        st->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        if (!st->rk) {
                rd_kafka_conf_destroy(conf);
                return sl_errf(errstr, errstr_size, -EINVAL, "kafka: %s", err);
        }
        return 0;
}

/* DLQ topics under the prefix, sorted (heap strings) with their partition counts. */
static int kafka_topics(struct dlq_store *st, char **names, int *parts, size_t *n, char *errstr,
                        size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        size_t plen = strlen(st->o.prefix);
        rd_kafka_resp_err_t err = rd_kafka_metadata(st->rk, 1, NULL, &md, st->o.timeout_ms);

        *n = 0;
        if (err)
                return sl_errf(errstr, errstr_size, -EIO, "kafka metadata: %s",
                               rd_kafka_err2str(err));
        for (int i = 0; i < md->topic_cnt && *n < MAX_DLQ_TOPICS; i++) {
                const char *t = md->topics[i].topic;
                size_t tl = strlen(t);
                if (tl > plen + 5 && strncmp(t, st->o.prefix, plen) == 0 && t[plen] == '.' &&
                    strcmp(t + tl - 4, ".dlq") == 0)
                        names[(*n)++] = sl_xstrdup(t);
        }
        sl_qsort(names, *n, sizeof(*names), cmp_str);
        for (size_t k = 0; k < *n; k++) {
                parts[k] = 0;
                for (int i = 0; i < md->topic_cnt; i++)
                        if (strcmp(md->topics[i].topic, names[k]) == 0)
                                parts[k] = md->topics[i].partition_cnt;
        }
        rd_kafka_metadata_destroy(md);
        return 0;
}

static struct dlq_letter *kafka_letter(const rd_kafka_message_t *rkm)
{
        struct dlq_letter *l = dlq_letter_new();
        rd_kafka_headers_t *hdrs = NULL;
        const char *name;
        const void *val;
        size_t size;
        int64_t ts = rd_kafka_message_timestamp(rkm, NULL);

        l->dlq_topic = sl_xstrdup(rd_kafka_topic_name(rkm->rkt));
        l->partition = rkm->partition;
        l->offset = rkm->offset;
        l->entry = sl_xasprintf("%" PRId32 ":%" PRId64, rkm->partition, rkm->offset);
        l->data = sl_xmalloc(rkm->len + 1);
        if (rkm->len)
                memcpy(l->data, rkm->payload, rkm->len);
        l->data[rkm->len] = '\0';
        l->len = rkm->len;
        if (rkm->key)
                l->key = sl_xstrndup(rkm->key, rkm->key_len);
        if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
                for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
                                   RD_KAFKA_RESP_ERR_NO_ERROR;
                     i++)
                        dlq_letter_add_header(l, name, val, val ? size : 0);
        if (dlq_letter_finish(l, ts > 0 ? ts : 0) < 0) {
                dlq_letter_free(l);
                return NULL;
        }
        return l;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

/*
 * Reads [from, to) of one partition, calling fn for each record whose offset
 * is not in skip (sorted). Returns 0, 1 (fn stopped) or -errno.
 */
static int kafka_read(struct dlq_store *st, const char *topic, int32_t part, int64_t from,
                      int64_t to, const int64_t *skip, size_t nskip, dlq_letter_fn *fn,
                      void *opaque, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
        int64_t deadline = sl_mono_ms() + 3 * (int64_t)st->o.timeout_ms, next = from;
        int rc = 0;

        rd_kafka_topic_partition_list_add(tp, topic, part)->offset = from;
        if (rd_kafka_assign(st->rk, tp)) {
                rd_kafka_topic_partition_list_destroy(tp);
                return sl_errf(errstr, errstr_size, -EIO, "kafka assign %s", topic);
        }
        rd_kafka_topic_partition_list_destroy(tp);
        while (rc == 0 && next < to) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(st->rk, 200);
                if (!rkm) {
                        if (sl_mono_ms() > deadline)
                                rc = sl_errf(errstr, errstr_size, -ETIMEDOUT,
                                             "kafka %s[%d]: read stalled at offset %" PRId64, topic,
                                             part, next);
                        continue;
                }
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        next = to;
                } else if (rkm->err) {
                        rc = sl_errf(errstr, errstr_size, -EIO, "kafka %s[%d]: %s", topic, part,
                                     rd_kafka_message_errstr(rkm));
                } else if (rkm->offset >= next) {
                        next = rkm->offset + 1;
                        deadline = sl_mono_ms() + 3 * (int64_t)st->o.timeout_ms;
                        if (rkm->offset < to &&
                            (nskip == 0 ||
                             !sl_bsearch(&rkm->offset, skip, nskip, sizeof(*skip), cmp_i64))) {
                                struct dlq_letter *l = kafka_letter(rkm);
                                if (l)
                                        rc = fn(l, opaque);
                        }
                }
                rd_kafka_message_destroy(rkm);
        }
        rd_kafka_assign(st->rk, NULL);
        if (rc < 0 && errstr_size && !errstr[0])
                sl_errf(errstr, errstr_size, rc, "%s", sl_strerror(rc));
        return rc;
}

static int kafka_partition(struct dlq_store *st, const char *topic, int32_t part, dlq_letter_fn *fn,
                           void *opaque, char *errstr, size_t errstr_size)
{
        int64_t lo = 0, hi = 0, *skip = NULL;
        size_t nskip = 0;
        rd_kafka_resp_err_t err;
        int rc;

        err = rd_kafka_query_watermark_offsets(st->rk, topic, part, &lo, &hi, st->o.timeout_ms);
        if (err)
                return sl_errf(errstr, errstr_size, -EIO, "kafka watermarks %s[%d]: %s", topic,
                               part, rd_kafka_err2str(err));
        if (hi <= lo)
                return 0;
        rc = dlq_db_resolved(st->o.pg, topic, part, &skip, &nskip, errstr, errstr_size);
        if (rc < 0)
                return rc;
        errstr[0] = '\0';
        rc = kafka_read(st, topic, part, lo, hi, skip, nskip, fn, opaque, errstr, errstr_size);
        free(skip);
        return rc;
}

static int kafka_scan(struct dlq_store *st, dlq_letter_fn *fn, void *opaque, char *errstr,
                      size_t errstr_size)
{
        char **names = sl_xcalloc(MAX_DLQ_TOPICS, sizeof(*names));
        int *parts = sl_xcalloc(MAX_DLQ_TOPICS, sizeof(*parts));
        size_t n = 0;
        int rc = kafka_topics(st, names, parts, &n, errstr, errstr_size);

        for (size_t i = 0; i < n && rc == 0; i++)
                for (int p = 0; p < parts[i] && rc == 0; p++)
                        rc = kafka_partition(st, names[i], p, fn, opaque, errstr, errstr_size);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        free(parts);
        return rc < 0 ? rc : 0;
}

/* Collects the one record a get asks for. */
static int take_one(struct dlq_letter *l, void *opaque)
{
        *(struct dlq_letter **)opaque = l;
        return 1;
}

static int kafka_get(struct dlq_store *st, const char *topic, const char *entry,
                     struct dlq_letter **out, char *errstr, size_t errstr_size)
{
        char pbuf[16];
        const char *colon = strchr(entry, ':');
        int64_t part, off, lo = 0, hi = 0, *skip = NULL;
        size_t nskip = 0;
        int rc;

        if (!colon || (size_t)(colon - entry) >= sizeof(pbuf))
                return sl_errf(errstr, errstr_size, -EINVAL, "bad Kafka id entry %s", entry);
        memcpy(pbuf, entry, (size_t)(colon - entry));
        pbuf[colon - entry] = '\0';
        if (sl_parse_i64(pbuf, 0, INT32_MAX, &part) < 0 ||
            sl_parse_i64(colon + 1, 0, INT64_MAX, &off) < 0)
                return sl_errf(errstr, errstr_size, -EINVAL, "bad Kafka id entry %s", entry);
        if (rd_kafka_query_watermark_offsets(st->rk, topic, (int32_t)part, &lo, &hi,
                                             st->o.timeout_ms) ||
            off < lo || off >= hi)
                return sl_errf(errstr, errstr_size, -ENOENT, "no dead letter %s/%s", topic, entry);
        rc = dlq_db_resolved(st->o.pg, topic, (int32_t)part, &skip, &nskip, errstr, errstr_size);
        if (rc < 0)
                return rc;
        errstr[0] = '\0';
        rc = kafka_read(st, topic, (int32_t)part, off, off + 1, skip, nskip, take_one, out, errstr,
                        errstr_size);
        free(skip);
        if (rc < 0)
                return rc;
        if (!*out || (*out)->offset != off) {
                dlq_letter_free(*out);
                *out = NULL;
                return sl_errf(errstr, errstr_size, -ENOENT, "no live dead letter %s/%s", topic,
                               entry);
        }
        return 0;
}
#endif

/* ---- the store ---------------------------------------------------------------------------- */

struct dlq_store *dlq_store_open(const struct dlq_store_opts *opts, char *errstr,
                                 size_t errstr_size)
{
        struct dlq_store *st = sl_xcalloc(1, sizeof(*st));
        int rc;

        st->o = *opts;
        if (st->o.timeout_ms <= 0)
                st->o.timeout_ms = 5000;
        st->kafka = strcmp(opts->backend, "kafka") == 0;
        if (st->kafka) {
#if SL_HAVE_KAFKA
                rc = st->o.pg ? kafka_open(st, errstr, errstr_size)
                              : sl_errf(errstr, errstr_size, -EINVAL,
                                        "kafka: pg.dsn is required (ops.dlq_resolved)");
#else
                rc = sl_errf(errstr, errstr_size, -ENOTSUP, "built without Kafka support");
#endif
        } else if (strncmp(opts->backend, "redis-", 6) == 0) {
                rc = redis_open(st, errstr, errstr_size);
        } else {
                rc = sl_errf(errstr, errstr_size, -EINVAL, "bus.backend %s has no dead letters",
                             opts->backend);
        }
        if (rc < 0) {
                dlq_store_close(st);
                return NULL;
        }
        return st;
}

void dlq_store_close(struct dlq_store *st)
{
        if (!st)
                return;
        if (st->redis)
                redisFree(st->redis);
#if SL_HAVE_KAFKA
        if (st->rk) {
                rd_kafka_consumer_close(st->rk);
                rd_kafka_destroy(st->rk);
        }
#endif
        free(st);
}

int dlq_store_scan(struct dlq_store *st, dlq_letter_fn *fn, void *opaque, char *errstr,
                   size_t errstr_size)
{
        if (errstr_size)
                errstr[0] = '\0';
#if SL_HAVE_KAFKA
        if (st->kafka)
                return kafka_scan(st, fn, opaque, errstr, errstr_size);
#endif
        return redis_scan(st, fn, opaque, errstr, errstr_size);
}

int dlq_store_get(struct dlq_store *st, const char *id, struct dlq_letter **out, char *errstr,
                  size_t errstr_size)
{
        const char *slash = strrchr(id, '/');
        char *topic;
        int rc;

        *out = NULL;
        if (!slash || slash == id || !slash[1])
                return sl_errf(errstr, errstr_size, -EINVAL,
                               "bad id \"%s\": want <dlq topic>/<entry> (see list)", id);
        topic = sl_xstrndup(id, (size_t)(slash - id));
#if SL_HAVE_KAFKA
        if (st->kafka)
                rc = kafka_get(st, topic, slash + 1, out, errstr, errstr_size);
        else
#endif
                rc = redis_get(st, topic, slash + 1, out, errstr, errstr_size);
        free(topic);
        return rc;
}

int dlq_store_remove(struct dlq_store *st, const struct dlq_letter *l, const char *action,
                     int64_t audit_id, char *errstr, size_t errstr_size)
{
        if (st->kafka)
                return dlq_db_resolve(st->o.pg, l->dlq_topic, l->partition, l->offset, action,
                                      l->env ? l->env->event_id : NULL, audit_id, errstr,
                                      errstr_size);
        return redis_remove(st, l, errstr, errstr_size);
}

int dlq_store_subscribers(struct dlq_store *st, const char *channel, char *errstr,
                          size_t errstr_size)
{
        const char *argv[] = {"PUBSUB", "NUMSUB", channel};
        redisReply *reply;
        long long n = -1;

        if (st->kafka || !st->redis)
                return -ENOTSUP;
        reply = rcmd(st, 3, argv, errstr, errstr_size);
        if (!reply)
                return -EIO;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
            reply->element[1]->type == REDIS_REPLY_INTEGER)
                n = reply->element[1]->integer;
        freeReplyObject(reply);
        if (n < 0)
                return sl_errf(errstr, errstr_size, -EPROTO, "redis PUBSUB NUMSUB: bad reply");
        return n > INT32_MAX ? INT32_MAX : (int)n;
}
