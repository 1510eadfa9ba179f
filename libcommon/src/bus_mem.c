/*
 * In-process bus backend for unit tests. All "mem" buses of a process share
 * one set of topics, so a test can publish on one bus and consume on another.
 * Consumer groups work like Streams groups: each group has a read position
 * per topic, unacked messages are redelivered after nack(), and each delivery
 * is counted. Not thread-safe (unit tests are single-threaded).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_int.h"
#include <sl/util.h>

#define MEM_MAX_TOPICS 64
#define MEM_MAX_GROUPS 8

struct mem_rec {
        char *key;  /* owned, may be NULL */
        char *data; /* owned, NUL-terminated */
        size_t len;
        struct sl_bus_header headers[SL_BUS_MAX_HEADERS]; /* strings owned */
        int n_headers;
        int deliveries[MEM_MAX_GROUPS]; /* per group */
        bool acked[MEM_MAX_GROUPS];
};

struct mem_group {
        char *name;  /* owned */
        size_t next; /* index of the next record to deliver */
};

struct mem_topic {
        char *name;           /* owned */
        struct mem_rec *recs; /* owned array */
        size_t n_recs, cap;
        struct mem_group groups[MEM_MAX_GROUPS];
        int n_groups;
};

static struct mem_topic topics[MEM_MAX_TOPICS];
static int n_topics;
static int inject_count; /* publishes still to fail */
static int inject_rc;

/* Per-bus state: which topic to look at next (round robin). */
struct mem_state {
        int rr;
};

void sl_bus_mem_inject_publish_errors(int count, int rc)
{
        inject_count = count;
        inject_rc = rc;
}

static struct mem_topic *topic_get(const char *name, bool create)
{
        for (int i = 0; i < n_topics; i++) {
                if (strcmp(topics[i].name, name) == 0)
                        return &topics[i];
        }
        if (!create || n_topics == MEM_MAX_TOPICS)
                return NULL;
        memset(&topics[n_topics], 0, sizeof(topics[0]));
        topics[n_topics].name = sl_xstrdup(name);
        return &topics[n_topics++];
}

/* Returns the group's index in t, creating it at the start (mem groups always read from the
 * beginning). */
static int group_get(struct mem_topic *t, const char *group)
{
        for (int i = 0; i < t->n_groups; i++) {
                if (strcmp(t->groups[i].name, group) == 0)
                        return i;
        }
        if (t->n_groups == MEM_MAX_GROUPS)
                return -ENOSPC;
        t->groups[t->n_groups].name = sl_xstrdup(group);
        t->groups[t->n_groups].next = 0;
        return t->n_groups++;
}

void sl_bus_mem_reset(void)
{
        for (int i = 0; i < n_topics; i++) {
                struct mem_topic *t = &topics[i];
                for (size_t r = 0; r < t->n_recs; r++) {
                        free(t->recs[r].key);
                        free(t->recs[r].data);
                        for (int h = 0; h < t->recs[r].n_headers; h++) {
                                free((char *)t->recs[r].headers[h].name);
                                free((char *)t->recs[r].headers[h].value);
                        }
                }
                for (int g = 0; g < t->n_groups; g++)
                        free(t->groups[g].name);
                free(t->recs);
                free(t->name);
        }
        n_topics = 0;
        inject_count = 0;
}

static int mem_open(struct sl_bus *bus, char *errstr, size_t errstr_size)
{
        (void)errstr;
        (void)errstr_size;
        for (int i = 0; i < bus->n_topics; i++) {
                struct mem_topic *t = topic_get(bus->opts.topics[i], true);
                if (!t || group_get(t, bus->opts.group) < 0)
                        return -ENOSPC;
        }
        bus->impl = sl_xcalloc(1, sizeof(struct mem_state));
        return 0;
}

static int mem_publish(struct sl_bus *bus, const char *topic, const char *key, const void *data,
                       size_t len, const struct sl_bus_header *headers, int n_headers)
{
        struct mem_topic *t;
        struct mem_rec *rec;

        if (inject_count > 0) {
                inject_count--;
                return inject_rc;
        }
        t = topic_get(topic, true);
        if (!t)
                return -ENOSPC;
        if (t->n_recs == t->cap) {
                t->cap = t->cap ? t->cap * 2 : 16;
                t->recs = sl_xrealloc(t->recs, t->cap * sizeof(*t->recs));
        }
        rec = &t->recs[t->n_recs++];
        memset(rec, 0, sizeof(*rec));
        rec->key = key ? sl_xstrdup(key) : NULL;
        rec->data = sl_xmalloc(len + 1); /* bytes, not a string: may hold NULs */
        memcpy(rec->data, data, len);
        rec->data[len] = '\0';
        rec->len = len;
        for (int i = 0; i < n_headers; i++) {
                rec->headers[i].name = sl_xstrdup(headers[i].name);
                rec->headers[i].value = sl_xstrdup(headers[i].value);
        }
        rec->n_headers = n_headers;
        bus->stats.confirmed++;
        return 0;
}

static int mem_flush(struct sl_bus *bus, int64_t timeout_ms)
{
        (void)bus;
        (void)timeout_ms;
        return 0;
}

/* Fills msg from record r of topic t for group g. */
static void fill_msg(struct sl_bus_msg *msg, struct mem_topic *t, size_t r, int g)
{
        struct mem_rec *rec = &t->recs[r];

        msg->topic = t->name;
        msg->key = rec->key;
        msg->data = rec->data;
        msg->len = rec->len;
        snprintf(msg->id, sizeof(msg->id), "%zu-0", r + 1);
        msg->partition = -1;
        msg->offset = -1;
        msg->deliveries = ++rec->deliveries[g];
        memcpy(msg->headers, rec->headers, sizeof(rec->headers));
        msg->n_headers = rec->n_headers;
        msg->backend_ref = t;
}

static int mem_fetch(struct sl_bus *bus, struct sl_bus_msg *msg, int timeout_ms)
{
        struct mem_state *st = bus->impl;

        (void)timeout_ms; /* nothing can arrive while we wait: single-threaded */
        for (int k = 0; k < bus->n_topics; k++) {
                int i = (st->rr + k) % bus->n_topics;
                struct mem_topic *t = topic_get(bus->opts.topics[i], false);
                int g = t ? group_get(t, bus->opts.group) : -1;
                if (g < 0)
                        continue;
                while (t->groups[g].next < t->n_recs && t->recs[t->groups[g].next].acked[g])
                        t->groups[g].next++;
                if (t->groups[g].next < t->n_recs) {
                        fill_msg(msg, t, t->groups[g].next++, g);
                        st->rr = i + 1;
                        return 1;
                }
        }
        return 0;
}

/* Finds the record and group a message came from. */
static struct mem_rec *msg_rec(struct sl_bus *bus, const struct sl_bus_msg *msg, int *g)
{
        struct mem_topic *t = msg->backend_ref;
        size_t r = strtoul(msg->id, NULL, 10) - 1;

        *g = group_get(t, bus->opts.group);
        return *g >= 0 && r < t->n_recs ? &t->recs[r] : NULL;
}

static int mem_ack(struct sl_bus *bus, const struct sl_bus_msg *msg)
{
        int g;
        struct mem_rec *rec = msg_rec(bus, msg, &g);

        if (!rec)
                return -ENOENT;
        rec->acked[g] = true;
        return 0;
}

static int mem_nack(struct sl_bus *bus, const struct sl_bus_msg *msg)
{
        struct mem_topic *t = msg->backend_ref;
        size_t r = strtoul(msg->id, NULL, 10) - 1;
        int g = group_get(t, bus->opts.group);

        /* Rewind the group so the message comes again, like a Kafka seek. */
        if (g >= 0 && r < t->groups[g].next)
                t->groups[g].next = r;
        return 0;
}

static void mem_release(struct sl_bus *bus, struct sl_bus_msg *msg)
{
        (void)bus;
        (void)msg;
}

static int mem_drain(struct sl_bus *bus, int64_t timeout_ms)
{
        (void)bus;
        (void)timeout_ms;
        return 0;
}

static void mem_close(struct sl_bus *bus)
{
        free(bus->impl);
}

const struct sl_bus_ops sl_bus_mem_ops = {
    .name = "mem",
    .open = mem_open,
    .publish = mem_publish,
    .flush = mem_flush,
    .fetch = mem_fetch,
    .ack = mem_ack,
    .nack = mem_nack,
    .release = mem_release,
    .drain = mem_drain,
    .close = mem_close,
};
