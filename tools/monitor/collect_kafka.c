/*
 * Kafka collector (librdkafka): topic metadata and watermarks, the group
 * list (groups without live members too: state "Empty"), committed offsets
 * per group (admin ListConsumerGroupOffsets) and the timestamp of the oldest
 * unconsumed message (a group-less consumer reads one message at the
 * committed offset). Read-only: it never joins a group or commits.
 */
#include "mon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl_config.h>
#include <sl/util.h>

#if SL_HAVE_KAFKA

#include <librdkafka/rdkafka.h>

#define MAX_PARTS    4096 /* partitions looked at per refresh */
#define READER_GROUP "statline-monitor.reader"

/* One partition of a <prefix>.* topic. */
struct part {
        char topic[MON_NAME_MAX];
        int32_t partition;
        int64_t lo, hi;
};

struct mon_kafka {
        rd_kafka_t *rk;     /* producer handle: metadata, watermarks, admin */
        rd_kafka_t *reader; /* consumer without group.id: reads timestamps */
        char *prefix;
        int timeout_ms;
        struct part *parts;
        size_t n_parts;
};

static rd_kafka_conf_t *make_conf(const struct mon_bus_opts *o, bool consumer, char *errstr,
                                  size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char *props = sl_xstrdup(o->kafka_props ? o->kafka_props : ""), *save = NULL;
        bool ok = rd_kafka_conf_set(conf, "bootstrap.servers", o->url, errstr, errstr_size) ==
                  RD_KAFKA_CONF_OK;

        ok = ok && rd_kafka_conf_set(conf, "client.id", "statline-monitor", errstr, errstr_size) ==
                       RD_KAFKA_CONF_OK;
        if (o->username && o->username[0])
                ok = ok && rd_kafka_conf_set(conf, "sasl.username", o->username, errstr,
                                             errstr_size) == RD_KAFKA_CONF_OK;
        if (o->password && o->password[0])
                ok = ok && rd_kafka_conf_set(conf, "sasl.password", o->password, errstr,
                                             errstr_size) == RD_KAFKA_CONF_OK;
        if (consumer) {
                /* librdkafka wants a group.id even for assign(); it never joins nor commits */
                ok = ok && rd_kafka_conf_set(conf, "group.id", READER_GROUP, errstr, errstr_size) ==
                               RD_KAFKA_CONF_OK;
                ok = ok && rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
                                             errstr_size) == RD_KAFKA_CONF_OK;
                ok = ok && rd_kafka_conf_set(conf, "fetch.wait.max.ms", "50", errstr,
                                             errstr_size) == RD_KAFKA_CONF_OK;
                /* an offset gone to retention is reported, not silently moved */
                ok = ok && rd_kafka_conf_set(conf, "auto.offset.reset", "error", errstr,
                                             errstr_size) == RD_KAFKA_CONF_OK;
        }
        for (char *kv = strtok_r(props, ",", &save); kv && ok; kv = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(kv, '=');
                if (!eq) {
                        snprintf(errstr, errstr_size, "bus.kafka_props: '%s' is not k=v", kv);
                        ok = false;
                        break;
                }
                *eq = '\0';
                ok = rd_kafka_conf_set(conf, kv, eq + 1, errstr, errstr_size) == RD_KAFKA_CONF_OK;
        }
        free(props);
        if (!ok) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        return conf;
}

static rd_kafka_t *make_client(const struct mon_bus_opts *o, bool consumer, char *errstr,
                               size_t errstr_size)
{
        rd_kafka_conf_t *conf = make_conf(o, consumer, errstr, errstr_size);
        rd_kafka_t *rk;

        if (!conf)
                return NULL;
        rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr,
                          errstr_size);
        if (!rk)
                rd_kafka_conf_destroy(conf);
        return rk;
}

struct mon_kafka *mon_kafka_open(const struct mon_bus_opts *o, char *errstr, size_t errstr_size)
{
        struct mon_kafka *k = sl_xcalloc(1, sizeof(*k));

        k->prefix = sl_xstrdup(o->prefix);
        k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
        k->rk = make_client(o, false, errstr, errstr_size);
        if (k->rk)
                k->reader = make_client(o, true, errstr, errstr_size);
        if (!k->rk || !k->reader) {
                mon_kafka_close(k);
                return NULL;
        }
        return k;
}

void mon_kafka_close(struct mon_kafka *k)
{
        if (!k)
                return;
        if (k->reader) {
                rd_kafka_consumer_close(k->reader);
                rd_kafka_destroy(k->reader);
        }
        if (k->rk)
                rd_kafka_destroy(k->rk);
        free(k->parts);
        free(k->prefix);
        free(k);
}

static bool has_prefix(const char *name, const char *prefix)
{
        size_t len = strlen(prefix);

        return strncmp(name, prefix, len) == 0 && name[len] == '.';
}

static bool is_dlq(const char *name)
{
        size_t len = strlen(name);

        return len > 4 && strcmp(name + len - 4, ".dlq") == 0;
}

/* Topics, partitions and watermarks into k->parts and snap's topics. */
static int collect_topics(struct mon_kafka *k, struct mon_snapshot *snap, char *errstr,
                          size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(k->rk, 1, NULL, &md, k->timeout_ms);

        if (err) {
                snprintf(errstr, errstr_size, "kafka metadata: %s", rd_kafka_err2str(err));
                return -EIO;
        }
        k->n_parts = 0;
        for (int i = 0; i < md->topic_cnt; i++) {
                const struct rd_kafka_metadata_topic *mt = &md->topics[i];
                if (!has_prefix(mt->topic, k->prefix) || mt->err)
                        continue;
                for (int p = 0; p < mt->partition_cnt && k->n_parts < MAX_PARTS; p++) {
                        struct part *pt;
                        k->parts = sl_xrealloc(k->parts, (k->n_parts + 1) * sizeof(*k->parts));
                        pt = &k->parts[k->n_parts];
                        snprintf(pt->topic, sizeof(pt->topic), "%s", mt->topic);
                        pt->partition = mt->partitions[p].id;
                        err = rd_kafka_query_watermark_offsets(k->rk, mt->topic, pt->partition,
                                                               &pt->lo, &pt->hi, k->timeout_ms);
                        if (err)
                                continue; /* leader moving: skip this partition this time */
                        k->n_parts++;
                }
        }
        rd_kafka_metadata_destroy(md);

        for (size_t i = 0; i < k->n_parts; i++) {
                struct part *pt = &k->parts[i];
                if (is_dlq(pt->topic)) {
                        char parent[MON_NAME_MAX];
                        snprintf(parent, sizeof(parent), "%.*s", (int)(strlen(pt->topic) - 4),
                                 pt->topic);
                        mon_snapshot_topic(snap, parent)->dlq_depth += pt->hi - pt->lo;
                } else {
                        struct mon_topic *t = mon_snapshot_topic(snap, pt->topic);
                        if (!t->exists)
                                t->length = 0;
                        t->exists = true;
                        t->end_offset += pt->hi;
                        t->length += pt->hi - pt->lo;
                }
        }
        return 0;
}

static const struct part *find_part(const struct mon_kafka *k, const char *topic, int32_t p)
{
        for (size_t i = 0; i < k->n_parts; i++)
                if (k->parts[i].partition == p && strcmp(k->parts[i].topic, topic) == 0)
                        return &k->parts[i];
        return NULL;
}

/* Asks for every group's committed offsets at once; returns events in *evs (n of them). */
static int fetch_offsets(struct mon_kafka *k, const struct rd_kafka_group_list *gl,
                         rd_kafka_event_t **evs, char *errstr, size_t errstr_size)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
        int sent = 0, got = 0;
        int64_t deadline = sl_mono_ms() + k->timeout_ms + 1000;

        for (int i = 0; i < gl->group_cnt; i++) {
                rd_kafka_ListConsumerGroupOffsets_t *req =
                    rd_kafka_ListConsumerGroupOffsets_new(gl->groups[i].group, NULL);
                rd_kafka_AdminOptions_t *ao =
                    rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
                rd_kafka_AdminOptions_set_request_timeout(ao, k->timeout_ms, errstr, errstr_size);
                rd_kafka_AdminOptions_set_opaque(ao, (void *)(intptr_t)i);
                rd_kafka_ListConsumerGroupOffsets(k->rk, &req, 1, ao, q);
                rd_kafka_ListConsumerGroupOffsets_destroy(req);
                rd_kafka_AdminOptions_destroy(ao);
                sent++;
        }
        while (got < sent && sl_mono_ms() < deadline) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 200);
                if (!ev)
                        continue;
                if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT) {
                        rd_kafka_event_destroy(ev);
                        continue;
                }
                evs[(intptr_t)rd_kafka_event_opaque(ev)] = ev;
                got++;
        }
        rd_kafka_queue_destroy(q);
        if (got < sent) {
                snprintf(errstr, errstr_size, "kafka: %d of %d group offset requests timed out",
                         sent - got, sent);
                return -ETIMEDOUT;
        }
        return 0;
}

/* The group entry for (group, topic) in snap, created on first use. */
static struct mon_group *group_topic(struct mon_snapshot *snap, size_t first, const char *group,
                                     const char *topic)
{
        for (size_t i = first; i < snap->n_groups; i++)
                if (strcmp(snap->groups[i].topic, topic) == 0)
                        return &snap->groups[i];
        (void)group;
        return NULL;
}

static void add_group(struct mon_kafka *k, struct mon_snapshot *snap,
                      const struct rd_kafka_group_info *gi, rd_kafka_event_t *ev,
                      rd_kafka_topic_partition_list_t *want)
{
        const rd_kafka_ListConsumerGroupOffsets_result_t *res =
            rd_kafka_event_ListConsumerGroupOffsets_result(ev);
        const rd_kafka_group_result_t **gres;
        const rd_kafka_topic_partition_list_t *parts;
        size_t cnt = 0, first = snap->n_groups;

        if (!res)
                return;
        gres = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &cnt);
        if (cnt < 1 || rd_kafka_group_result_error(gres[0]))
                return;
        parts = rd_kafka_group_result_partitions(gres[0]);
        for (int i = 0; parts && i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &parts->elems[i];
                const struct part *pt = find_part(k, tp->topic, tp->partition);
                struct mon_group *g;
                if (!pt || tp->offset < 0 || tp->err)
                        continue; /* another prefix, or no commit on this partition */
                g = group_topic(snap, first, gi->group, tp->topic);
                if (!g) {
                        g = mon_snapshot_group(snap, gi->group, tp->topic);
                        g->offset = g->lag = 0;
                        g->consumers = gi->member_cnt;
                        g->active_consumers = gi->member_cnt;
                }
                g->offset += tp->offset;
                if (pt->hi > tp->offset) {
                        g->lag += pt->hi - tp->offset;
                        rd_kafka_topic_partition_list_add(want, tp->topic, tp->partition)->offset =
                            tp->offset;
                }
                g->undelivered = g->lag;
        }
}

/* Raises lag_s of (group, topic) in snap[first..] to the age of a message stamped ts_ms. */
static void note_age(struct mon_snapshot *snap, size_t first, const char *group, const char *topic,
                     int64_t ts_ms)
{
        double age = ts_ms < snap->t_ms ? (double)(snap->t_ms - ts_ms) / 1000.0 : 0;

        for (size_t j = first; j < snap->n_groups; j++) {
                struct mon_group *g = &snap->groups[j];
                if (strcmp(g->group, group) == 0 && strcmp(g->topic, topic) == 0 && age > g->lag_s)
                        g->lag_s = age;
        }
}

/* The wanted partition m belongs to (not yet done), or NULL. */
static rd_kafka_topic_partition_t *wanted(rd_kafka_topic_partition_list_t *want,
                                          const rd_kafka_message_t *m)
{
        for (int i = 0; m->rkt && i < want->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &want->elems[i];
                if (tp->partition == m->partition && !tp->err &&
                    strcmp(tp->topic, rd_kafka_topic_name(m->rkt)) == 0)
                        return tp;
        }
        return NULL;
}

/*
 * Reads the message at each wanted (partition, committed offset) with the
 * group-less reader and sets lag_s of group's entries to the age of the
 * oldest such message. Bounded by timeout_ms / 2; a partition whose offset
 * is gone (retention) or fails is given up, its lag_s stays unknown.
 */
static void read_ages(struct mon_kafka *k, struct mon_snapshot *snap, size_t first,
                      rd_kafka_topic_partition_list_t *want, const char *group)
{
        int64_t deadline = sl_mono_ms() + k->timeout_ms / 2;
        int left = want->cnt;

        if (want->cnt == 0 || rd_kafka_assign(k->reader, want) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return;
        while (left > 0 && sl_mono_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(k->reader, 100);
                rd_kafka_topic_partition_t *tp = m ? wanted(want, m) : NULL;
                rd_kafka_timestamp_type_t tstype;

                if (tp && (m->err || m->offset >= tp->offset)) {
                        if (!m->err && m->offset == tp->offset)
                                note_age(snap, first, group, tp->topic,
                                         rd_kafka_message_timestamp(m, &tstype));
                        tp->err = RD_KAFKA_RESP_ERR__NOENT; /* mark: done */
                        left--;
                }
                if (m)
                        rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(k->reader, NULL);
}

int mon_kafka_collect(struct mon_kafka *k, struct mon_snapshot *snap, char *errstr,
                      size_t errstr_size)
{
        const struct rd_kafka_group_list *gl = NULL;
        rd_kafka_event_t **evs = NULL;
        rd_kafka_resp_err_t err;
        int rc = collect_topics(k, snap, errstr, errstr_size);

        if (rc < 0)
                return rc;
        err = rd_kafka_list_groups(k->rk, NULL, &gl, k->timeout_ms);
        if (err) {
                snprintf(errstr, errstr_size, "kafka list groups: %s", rd_kafka_err2str(err));
                return -EIO;
        }
        evs = sl_xcalloc((size_t)gl->group_cnt + 1, sizeof(*evs));
        rc = fetch_offsets(k, gl, evs, errstr, errstr_size);
        for (int i = 0; i < gl->group_cnt; i++) {
                rd_kafka_topic_partition_list_t *want = rd_kafka_topic_partition_list_new(8);
                size_t first = snap->n_groups;
                if (evs[i])
                        add_group(k, snap, &gl->groups[i], evs[i], want);
                for (size_t j = first; j < snap->n_groups; j++)
                        snap->groups[j].lag_s = snap->groups[j].lag == 0 ? 0 : -1;
                read_ages(k, snap, first, want, gl->groups[i].group);
                rd_kafka_topic_partition_list_destroy(want);
                if (evs[i])
                        rd_kafka_event_destroy(evs[i]);
        }
        free(evs);
        rd_kafka_group_list_destroy(gl);
        return rc;
}

#else /* !SL_HAVE_KAFKA */

struct mon_kafka {
        int unused;
};

struct mon_kafka *mon_kafka_open(const struct mon_bus_opts *o, char *errstr, size_t errstr_size)
{
        (void)o;
        snprintf(errstr, errstr_size, "this build has no Kafka support (meson -Dkafka=enabled)");
        return NULL;
}

void mon_kafka_close(struct mon_kafka *k)
{
        free(k);
}

int mon_kafka_collect(struct mon_kafka *k, struct mon_snapshot *snap, char *errstr,
                      size_t errstr_size)
{
        (void)k;
        (void)snap;
        snprintf(errstr, errstr_size, "no Kafka support");
        return -ENOTSUP;
}

#endif
