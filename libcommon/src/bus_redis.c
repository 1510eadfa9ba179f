/*
 * Redis bus backends (bus_int.h): "redis-streams" (Streams + consumer groups,
 * at-least-once) and "redis-pubsub" (Pub/Sub, at-most-once). Both share the
 * connection layer and the publish pipeline; they differ in the commands.
 *
 * Connections. A bus holds two hiredis 0.14 contexts: one publishes, one
 * consumes, because a blocking XREADGROUP (or SUBSCRIBE) owns its connection.
 * Both are switched to non-blocking right after connect and every wait is a
 * poll() with a deadline: in hiredis 0.14 a socket timeout leaves the context
 * unusable, and a paused broker must not hang a service past its deadlines.
 * A lost connection is reopened with capped exponential backoff.
 *
 * Publishing is pipelined. publish() formats the command once and keeps it in
 * a FIFO of unconfirmed records; replies arrive in order, so the oldest record
 * is confirmed by each reply. After a reconnect every unconfirmed record is
 * sent again: a record Redis applied but whose reply was lost is then written
 * twice. That duplicate is accepted (at-least-once; handlers are idempotent).
 * An error reply (OOM, WRONGTYPE, NOPERM) rejects the record: it is logged and
 * the next flush() returns -EIO, so nothing vanishes silently.
 *
 * Consuming (Streams): one XREADGROUP ... COUNT 64 batch is buffered and
 * handed out one message per fetch(); at most 64 entries (of any size: an
 * oversized one is still returned, bus.c dead-letters it) are held at once.
 * Order of sources per refill: our own PEL after a (re)connect, XAUTOCLAIM
 * of entries abandoned by dead consumers, then new entries. XACKs are
 * batched (one XACK with up to 64 ids per topic, sent when the batch is
 * used up, before the next read, or at drain) and pipelined: their replies
 * are read before the next command's. A crash before a batched XACK went out
 * only means those entries are delivered again (handlers are idempotent).
 *
 * SIGPIPE: hiredis writes with write(2), so a process using this backend must
 * ignore SIGPIPE (sl_signals_install() does) or a broker restart kills it.
 * Threads: like every bus, one thread at a time.
 */
#include "bus_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include <sl/err.h>
#include <sl/log.h>
#include <sl/util.h>

#define REDIS_DEFAULT_PORT     6379
#define REDIS_BATCH            "64"  /* COUNT for XREADGROUP and XAUTOCLAIM */
#define REDIS_BACKOFF_MIN_MS   50    /* first reconnect delay */
#define REDIS_BACKOFF_MAX_MS   2000  /* reconnect delay cap */
#define REDIS_CLAIM_MAX_MS     5000  /* XAUTOCLAIM at least this often */
#define REDIS_BLOCK_SLACK_MS   50    /* wait this long past BLOCK for the server's nil */
#define REDIS_WRITE_EARLY      65536 /* start sending pipelined publishes at this many bytes */
#define REDIS_MAX_VALUE_BYTES  (512u * 1024 * 1024) /* Redis proto-max-bulk-len default */
#define REDIS_HANDBACK_IDLE_MS "86400000" /* idle time given to entries handed back at drain */
#define REDIS_ID_MAX           48         /* a stream id "<ms>-<seq>" fits, NUL included */
#define REDIS_OUT_MAX          256        /* consume replies due: pipelined XACKs + one read */
#define REDIS_ACK_BATCH        64         /* ids per XACK */
#define REDIS_MAX_ARGS         (8 + 2 * SL_BUS_MAX_TOPICS) /* XREADGROUP over all topics */

/* One hiredis connection and its reconnect schedule. */
struct conn {
        redisContext *redis;   /* non-blocking context; NULL while disconnected */
        const char *role;      /* "publish" or "consume", for log lines */
        int64_t backoff_ms;    /* delay before the next attempt after a failure */
        int64_t next_try_ms;   /* mono ms before which no attempt is made */
        int64_t down_since_ms; /* mono ms the connection was lost; 0 while up */
        int last_err;          /* why the last attempt failed (-errno) */
        bool ever_up;          /* connected once: later connects are reconnects */
};

/* A publish accepted but not yet confirmed by Redis. */
struct pub_rec {
        char *cmd;   /* the RESP-encoded XADD/PUBLISH, owned (redisFreeCommand) */
        size_t len;  /* bytes in cmd */
        char *topic; /* owned copy, for error logs */
        bool sent;   /* appended to some connection before: sending it again is a retry */
};

/* Publishing side: the connection and the FIFO of unconfirmed records. */
struct pub_state {
        struct conn conn;
        struct pub_rec *q; /* ring buffer, oldest record at q[head] */
        size_t cap, head, count;
        size_t unwritten;    /* bytes appended to hiredis since the last write attempt */
        int err;             /* -EIO once a record was rejected; cleared by flush() */
        uint64_t n_rejected; /* records rejected since the last flush() */
};

/* Where the buffered consume batch came from (decides the delivery count). */
enum batch_kind {
        BATCH_NEW,     /* XREADGROUP >: first delivery */
        BATCH_PENDING, /* XREADGROUP 0: our own unacked entries, delivered again */
};

/* Replies still due on the consume connection, oldest first. */
enum out_kind { OUT_ACK, OUT_READ };

/* Consuming side (Streams or Pub/Sub). */
struct sub_state {
        struct conn conn;
        unsigned char out[REDIS_OUT_MAX]; /* enum out_kind of each reply still due */
        int out_head, out_count;
        redisReply *batch; /* entries being handed out, owned; NULL when none */
        enum batch_kind kind;
        size_t stream_i;   /* next stream of the batch */
        size_t entry_i;    /* next entry of that stream */
        bool read_pending; /* re-read our own pending entries before new ones */
        bool need_groups;  /* (re)create the consumer groups before reading */
        char pending_from[SL_BUS_MAX_TOPICS][REDIS_ID_MAX]; /* PEL re-read position per topic */
        char claim_cursor[SL_BUS_MAX_TOPICS][REDIS_ID_MAX]; /* XAUTOCLAIM cursor per topic */
        int claim_next;        /* next topic of the current XAUTOCLAIM round */
        int64_t next_claim_ms; /* mono ms of the next XAUTOCLAIM round */
        uint64_t seq;          /* Pub/Sub: local message counter, for msg->id */
        char ack_ids[REDIS_ACK_BATCH][REDIS_ID_MAX]; /* handled entries not yet XACKed */
        int n_acks;                                  /* ids in ack_ids */
        int ack_topic;                               /* topic index all of ack_ids belong to */
};

/* bus->impl of both backends. */
struct redis_bus {
        bool pubsub; /* "redis-pubsub" (else "redis-streams") */
        char host[256];
        int port;
        struct pub_state pub;
        struct sub_state sub;
        struct sl_bus_msg held; /* a nacked message to hand out again; owned when has_held */
        bool has_held;
        bool draining;
};

/* A command's arguments, binary-safe, built before sending. */
struct args {
        const char *v[REDIS_MAX_ARGS];
        size_t len[REDIS_MAX_ARGS];
        int n;
};

static void arg_n(struct args *a, const char *s, size_t len)
{
        assert(a->n < REDIS_MAX_ARGS);
        a->v[a->n] = s;
        a->len[a->n] = len;
        a->n++;
}

static void arg(struct args *a, const char *s)
{
        arg_n(a, s, strlen(s));
}

static int64_t max_i64(int64_t a, int64_t b)
{
        return a > b ? a : b;
}

static int64_t min_i64(int64_t a, int64_t b)
{
        return a < b ? a : b;
}

/* Command timeout for synchronous round trips (AUTH, XACK settling, XPENDING...). */
static int64_t cmd_timeout_ms(const struct sl_bus *bus)
{
        return bus->opts.connect_timeout_ms > 0 ? bus->opts.connect_timeout_ms : 5000;
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                   */
/* ------------------------------------------------------------------------ */

static bool reply_is_error(const redisReply *reply, const char *prefix)
{
        size_t n = strlen(prefix);

        return reply->type == REDIS_REPLY_ERROR && reply->len >= n &&
               strncmp(reply->str, prefix, n) == 0;
}

/*
 * Maps an error reply to -errno: -EAGAIN for "not now" states that a
 * reconnect outlives (LOADING after a restart, BUSY script, failover), -EACCES
 * for auth and ACL, -ENOENT for a missing group, -EINVAL for a key of another
 * type, else -EIO.
 */
static int reply_errno(const redisReply *reply)
{
        static const char *const transient[] = {"LOADING", "BUSY ", "TRYAGAIN", "MASTERDOWN",
                                                "READONLY"};
        static const char *const denied[] = {"NOAUTH", "WRONGPASS", "NOPERM", "ERR AUTH",
                                             "ERR invalid password"};

        for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
                if (reply_is_error(reply, transient[i]))
                        return -EAGAIN;
        }
        for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
                if (reply_is_error(reply, denied[i]))
                        return -EACCES;
        }
        if (reply_is_error(reply, "NOGROUP"))
                return -ENOENT;
        if (reply_is_error(reply, "WRONGTYPE"))
                return -EINVAL;
        return -EIO;
}

static bool reply_is_str(const redisReply *reply)
{
        return reply && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

static bool reply_is_array(const redisReply *reply, size_t min_elements)
{
        return reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= min_elements;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */
/* ------------------------------------------------------------------------ */

/* Maps the error recorded in a hiredis context to -errno (saved_errno: errno after the call). */
static int conn_errno(const redisContext *redis, int saved_errno)
{
        switch (redis->err) {
        case REDIS_ERR_IO:
                return saved_errno > 0 ? -saved_errno : -ECONNRESET;
        case REDIS_ERR_EOF:
                return -ECONNRESET;
        case REDIS_ERR_PROTOCOL:
                return -EPROTO;
        case REDIS_ERR_OOM:
                return -ENOMEM;
        default:
                return -EIO;
        }
}

/* Waits until conn's fd has events or deadline (mono ms) passes: 0, -ETIMEDOUT or -errno. */
static int conn_poll(struct conn *conn, short events, int64_t deadline)
{
        struct pollfd pfd = {.fd = conn->redis->fd, .events = events};

        for (;;) {
                int64_t left_ms = max_i64(deadline - sl_mono_ms(), 0);
                int rc = poll(&pfd, 1, (int)min_i64(left_ms, INT_MAX));
                if (rc > 0)
                        return 0; /* ready, or POLLERR/POLLHUP: the read or write reports it */
                if (rc == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

/* Sends everything hiredis has buffered for conn before deadline: 0, -ETIMEDOUT, -errno. */
static int conn_write(struct conn *conn, int64_t deadline)
{
        int done = 0, rc;

        for (;;) {
                if (redisBufferWrite(conn->redis, &done) != REDIS_OK)
                        return conn_errno(conn->redis, errno);
                if (done)
                        return 0;
                rc = conn_poll(conn, POLLOUT, deadline);
                if (rc < 0)
                        return rc;
        }
}

/*
 * Reads one reply before deadline; a deadline already past still takes what
 * has arrived. Returns 0 with *reply set (free it with freeReplyObject),
 * -ETIMEDOUT (the reply is still due) or -errno (the connection is broken).
 */
static int conn_read(struct conn *conn, int64_t deadline, redisReply **reply)
{
        void *got = NULL;
        int rc;

        for (;;) {
                if (redisGetReplyFromReader(conn->redis, &got) != REDIS_OK)
                        return conn_errno(conn->redis, 0);
                if (got) {
                        *reply = got;
                        return 0;
                }
                rc = conn_poll(conn, POLLIN, deadline);
                if (rc < 0)
                        return rc;
                if (redisBufferRead(conn->redis) != REDIS_OK)
                        return conn_errno(conn->redis, errno);
        }
}

/*
 * One synchronous round trip. Only for a connection with no other reply due.
 * On any error the caller must drop the connection (a reply may still come).
 */
static int conn_cmd(struct conn *conn, struct args *a, int64_t deadline, redisReply **reply)
{
        int rc;

        if (redisAppendCommandArgv(conn->redis, a->n, a->v, a->len) != REDIS_OK)
                return -ENOMEM;
        rc = conn_write(conn, deadline);
        if (rc < 0)
                return rc;
        return conn_read(conn, deadline, reply);
}

/*
 * Switches a connected context to non-blocking I/O. hiredis 0.14 treats
 * EAGAIN as "try later" only without REDIS_BLOCK, and redisBufferRead/Write
 * then never block; all waiting happens in conn_poll().
 */
static int conn_nonblock(redisContext *redis)
{
        int flags = fcntl(redis->fd, F_GETFL);

        if (flags < 0 || fcntl(redis->fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        redis->flags &= ~REDIS_BLOCK;
        redisEnableKeepAlive(redis); /* finds dead peers on real networks */
        return 0;
}

/* Runs one setup command; an error reply becomes -errno with the server's text in errstr. */
static int conn_check(struct conn *conn, struct args *a, const char *what, int64_t deadline,
                      char *errstr, size_t errstr_size)
{
        redisReply *reply = NULL;
        int rc = conn_cmd(conn, a, deadline, &reply);

        if (rc == 0 && reply->type == REDIS_REPLY_ERROR) {
                rc = reply_errno(reply);
                snprintf(errstr, errstr_size, "redis %s: %s", what, reply->str);
        } else if (rc < 0) {
                snprintf(errstr, errstr_size, "redis %s: %s", what, sl_strerror(rc));
        }
        freeReplyObject(reply);
        return rc;
}

/* AUTH (ACL form when a username is set), then PING to catch NOAUTH and LOADING now. */
static int conn_hello(struct sl_bus *bus, struct conn *conn, char *errstr, size_t errstr_size)
{
        int64_t deadline = sl_mono_ms() + cmd_timeout_ms(bus);
        struct args a = {.n = 0};
        char what[160];
        int rc;

        if (bus->opts.password) {
                arg(&a, "AUTH");
                if (bus->opts.username)
                        arg(&a, bus->opts.username);
                arg(&a, bus->opts.password); /* never logged: errstr holds the user only */
                snprintf(what, sizeof(what), "AUTH as %s",
                         bus->opts.username ? bus->opts.username : "default");
                rc = conn_check(conn, &a, what, deadline, errstr, errstr_size);
                if (rc < 0)
                        return rc;
                a.n = 0;
        }
        arg(&a, "PING");
        return conn_check(conn, &a, "PING", deadline, errstr, errstr_size);
}

/*
 * Connects conn to the bus URL: TCP connect (connect_timeout_ms), then
 * non-blocking mode, AUTH and PING. Returns 0 or -errno with errstr.
 */
static int conn_open(struct sl_bus *bus, struct conn *conn, char *errstr, size_t errstr_size)
{
        const struct redis_bus *rb = bus->impl;
        int64_t timeout_ms = cmd_timeout_ms(bus);
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        redisContext *redis;
        int rc, saved_errno;

        errno = 0;
        redis = redisConnectWithTimeout(rb->host, rb->port, tv);
        saved_errno = errno;
        if (!redis) {
                snprintf(errstr, errstr_size, "redis connect: out of memory");
                return -ENOMEM;
        }
        if (redis->err) {
                snprintf(errstr, errstr_size, "redis connect %s:%d: %s", rb->host, rb->port,
                         redis->errstr);
                rc = redis->err == REDIS_ERR_IO && saved_errno > 0 ? -saved_errno : -ECONNREFUSED;
                redisFree(redis);
                return rc;
        }
        rc = conn_nonblock(redis);
        if (rc < 0) {
                snprintf(errstr, errstr_size, "redis connect: fcntl: %s", sl_strerror(rc));
                redisFree(redis);
                return rc;
        }
        conn->redis = redis;
        rc = conn_hello(bus, conn, errstr, errstr_size);
        if (rc < 0) {
                redisFree(redis);
                conn->redis = NULL;
        }
        return rc;
}

/* Pushes the next attempt out by the current backoff (with jitter) and doubles it. */
static void conn_schedule(struct conn *conn)
{
        int64_t jitter_ms = (int64_t)sl_random_below((uint64_t)conn->backoff_ms / 4 + 1);

        conn->next_try_ms = sl_mono_ms() + conn->backoff_ms + jitter_ms;
        conn->backoff_ms = min_i64(conn->backoff_ms * 2, REDIS_BACKOFF_MAX_MS);
}

/* Forgets a broken connection (its pending replies with it) and schedules a reconnect. */
static void conn_drop(struct conn *conn, int rc)
{
        if (!conn->redis)
                return;
        sl_log_warn("bus.redis.conn.lost", "role=%s error=%s", conn->role, sl_strerror(rc));
        redisFree(conn->redis);
        conn->redis = NULL;
        conn->down_since_ms = sl_mono_ms();
        conn->last_err = rc;
        conn_schedule(conn);
}

/* The connection did useful work again: the next outage starts at the shortest backoff. */
static void conn_ready(struct conn *conn)
{
        conn->backoff_ms = REDIS_BACKOFF_MIN_MS;
}

/* One connect attempt now. Counts and logs reconnects. 0 or -errno (next try scheduled). */
static int conn_try(struct sl_bus *bus, struct conn *conn)
{
        char errstr[256];
        int rc = conn_open(bus, conn, errstr, sizeof(errstr));

        if (rc < 0) {
                sl_log_debug("bus.redis.connect.error", "role=%s %s", conn->role, errstr);
                conn->last_err = rc;
                conn_schedule(conn);
                return rc;
        }
        if (conn->ever_up) {
                bus->stats.reconnects++;
                sl_log_info("bus.redis.reconnect", "role=%s down_ms=%lld", conn->role,
                            (long long)(sl_mono_ms() - conn->down_since_ms));
        }
        conn->ever_up = true;
        conn->down_since_ms = 0;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Publishing (both backends)                                                */
/* ------------------------------------------------------------------------ */

/* The i-th oldest unconfirmed record (0 = the one the next reply confirms). */
static struct pub_rec *pub_at(struct pub_state *pub, size_t i)
{
        return &pub->q[(pub->head + i) % pub->cap];
}

/* Frees what a record owns; the slot itself belongs to the ring. */
static void pub_rec_free(struct pub_rec *rec)
{
        redisFreeCommand(rec->cmd);
        free(rec->topic);
        memset(rec, 0, sizeof(*rec));
}

/* Appends rec at the tail, growing the ring (bounded by pending_max in practice). */
static void pub_push(struct pub_state *pub, const struct pub_rec *rec)
{
        if (pub->count == pub->cap) {
                size_t cap = pub->cap ? pub->cap * 2 : 64;
                struct pub_rec *q = sl_xcalloc(cap, sizeof(*q));
                for (size_t i = 0; i < pub->count; i++)
                        q[i] = *pub_at(pub, i);
                free(pub->q);
                pub->q = q;
                pub->cap = cap;
                pub->head = 0;
        }
        *pub_at(pub, pub->count) = *rec;
        pub->count++;
}

/* Drops the oldest record: its reply arrived (confirmed or rejected). */
static void pub_pop(struct pub_state *pub)
{
        pub_rec_free(pub_at(pub, 0));
        pub->head = (pub->head + 1) % pub->cap;
        pub->count--;
}

/* Dead letters are durable even on Pub/Sub: "<topic>.dlq" always goes to a stream. */
static bool topic_is_dlq(const char *topic)
{
        size_t n = strlen(topic);

        return n >= 4 && strcmp(topic + n - 4, ".dlq") == 0;
}

/*
 * Encodes one record: "XADD <topic> * d <data> [k <key>] [h:<name> <value>]..."
 * or, on Pub/Sub, "PUBLISH <topic> <data>" (key and headers are not carried).
 */
static void pub_format(const struct redis_bus *rb, const char *topic, const char *key,
                       const void *data, size_t len, const struct sl_bus_header *headers,
                       int n_headers, struct pub_rec *rec)
{
        char *names[SL_BUS_MAX_HEADERS];
        struct args a = {.n = 0};
        char *cmd = NULL;
        int n;

        if (rb->pubsub && !topic_is_dlq(topic)) {
                arg(&a, "PUBLISH");
                arg(&a, topic);
                arg_n(&a, data, len);
                n_headers = 0;
        } else {
                arg(&a, "XADD");
                arg(&a, topic);
                arg(&a, "*");
                arg(&a, "d");
                arg_n(&a, data, len);
                if (key) {
                        arg(&a, "k");
                        arg(&a, key);
                }
                for (int i = 0; i < n_headers; i++) {
                        names[i] = sl_xasprintf("h:%s", headers[i].name);
                        arg(&a, names[i]);
                        arg(&a, headers[i].value ? headers[i].value : "");
                }
        }
        n = redisFormatCommandArgv(&cmd, a.n, a.v, a.len);
        for (int i = 0; i < n_headers; i++)
                free(names[i]);
        if (n < 0)
                abort(); /* hiredis only fails on OOM; we abort on OOM (STYLE B6) */
        *rec = (struct pub_rec){.cmd = cmd, .len = (size_t)n, .topic = sl_xstrdup(topic)};
}

/* Queues rec on the live connection (not yet written). */
static void pub_append(struct sl_bus *bus, struct pub_rec *rec)
{
        struct pub_state *pub = &((struct redis_bus *)bus->impl)->pub;

        if (redisAppendFormattedCommand(pub->conn.redis, rec->cmd, rec->len) != REDIS_OK)
                abort(); /* only fails on OOM */
        if (rec->sent)
                bus->stats.publish_retries++;
        rec->sent = true;
        pub->unwritten += rec->len;
}

/*
 * The publish connection broke. Records stay queued: pub_reconnect() sends
 * them all again, because any of them may or may not have been applied.
 */
static void pub_lost(struct sl_bus *bus, int rc)
{
        struct pub_state *pub = &((struct redis_bus *)bus->impl)->pub;

        conn_drop(&pub->conn, rc);
        pub->unwritten = 0;
}

/*
 * Applies one reply to the oldest record: confirmed, or rejected (logged, and
 * flush() will fail). Returns -EAGAIN when Redis can't take it *now* (LOADING):
 * the record stays queued and the caller reconnects and resends.
 */
static int pub_confirm(struct sl_bus *bus, const redisReply *reply)
{
        struct pub_state *pub = &((struct redis_bus *)bus->impl)->pub;
        struct pub_rec *rec;

        if (pub->count == 0)
                return -EPROTO; /* a reply to nothing we sent: the stream is out of step */
        rec = pub_at(pub, 0);
        if (reply->type == REDIS_REPLY_ERROR) {
                if (reply_errno(reply) == -EAGAIN)
                        return -EAGAIN;
                if (pub->n_rejected++ == 0)
                        sl_log_error("bus.redis.publish.rejected", "topic=%s error=%s", rec->topic,
                                     reply->str);
                pub->err = -EIO;
        } else {
                bus->stats.confirmed++;
        }
        pub_pop(pub);
        return 0;
}

/*
 * Reads confirmations: waits until deadline for the first one, then takes
 * all that already arrived. 0, -ETIMEDOUT (none came) or -errno (broken).
 */
static int pub_collect(struct sl_bus *bus, int64_t deadline)
{
        struct pub_state *pub = &((struct redis_bus *)bus->impl)->pub;
        redisReply *reply;
        int rc, got = 0;

        while (pub->count > 0) {
                rc = conn_read(&pub->conn, got ? 0 : deadline, &reply);
                if (rc == -ETIMEDOUT && got)
                        return 0;
                if (rc < 0)
                        return rc;
                rc = pub_confirm(bus, reply);
                freeReplyObject(reply);
                if (rc < 0)
                        return rc;
                got++;
        }
        return 0;
}

/*
 * Gets the publish connection back, then queues every unconfirmed record
 * again. Waits out the backoff until deadline, but never longer than
 * reconnect_max_ms per call. A call that may wait gets at least one attempt
 * (at its deadline if the backoff would be later); a call that may not
 * (deadline now) only tries when the backoff is due. Returns 0, or the last
 * connect error (records stay queued).
 */
static int pub_reconnect(struct sl_bus *bus, int64_t deadline)
{
        struct pub_state *pub = &((struct redis_bus *)bus->impl)->pub;
        struct conn *conn = &pub->conn;
        int64_t start_ms = sl_mono_ms();
        bool may_wait;
        int rc;

        deadline = min_i64(deadline, start_ms + max_i64(bus->opts.reconnect_max_ms, 0));
        may_wait = deadline > start_ms;
        for (;;) {
                int64_t at_ms = may_wait ? min_i64(conn->next_try_ms, deadline) : conn->next_try_ms;
                int64_t now = sl_mono_ms();
                if (now < at_ms) {
                        if (!may_wait)
                                return conn->last_err;
                        sl_sleep_ms(at_ms - now, NULL); /* no stop flag: drain flushes too */
                        continue;
                }
                rc = conn_try(bus, conn);
                if (rc == 0)
                        break;
                if (sl_mono_ms() >= deadline)
                        return rc;
        }
        for (size_t i = 0; i < pub->count; i++)
                pub_append(bus, pub_at(pub, i));
        conn_ready(conn);
        return 0;
}

/*
 * Moves the pipeline until at most max_left records are unconfirmed: writes,
 * reads confirmations, reconnects and resends on I/O errors. Returns 0,
 * -ETIMEDOUT (deadline passed, records kept) or the connect error when Redis
 * stayed away (records kept for the next try).
 */
static int pub_pump(struct sl_bus *bus, size_t max_left, int64_t deadline)
{
        struct pub_state *pub = &((struct redis_bus *)bus->impl)->pub;
        int rc;

        while (pub->count > max_left) {
                if (!pub->conn.redis) {
                        rc = pub_reconnect(bus, deadline);
                        if (rc < 0)
                                return rc;
                }
                rc = conn_write(&pub->conn, deadline);
                pub->unwritten = 0;
                if (rc == 0)
                        rc = pub_collect(bus, deadline);
                if (rc == -ETIMEDOUT)
                        return rc;
                if (rc < 0)
                        pub_lost(bus, rc);
        }
        return 0;
}

/* Starts sending once enough is buffered and takes confirmations that came, without waiting. */
static void pub_nudge(struct sl_bus *bus)
{
        struct pub_state *pub = &((struct redis_bus *)bus->impl)->pub;
        int rc;

        if (!pub->conn.redis || pub->unwritten < REDIS_WRITE_EARLY)
                return;
        pub->unwritten = 0;
        rc = conn_write(&pub->conn, 0);
        if (rc == 0 || rc == -ETIMEDOUT)
                rc = pub_collect(bus, 0);
        if (rc < 0 && rc != -ETIMEDOUT)
                pub_lost(bus, rc);
}

/*
 * ops->publish: copies the record into the queue and, when connected, into
 * hiredis's output buffer. Accepting never waits for Redis, except when
 * pending_max records are already unconfirmed (bounded memory): then it waits
 * up to reconnect_max_ms for room and returns that error if none came.
 */
static int redis_publish(struct sl_bus *bus, const char *topic, const char *key, const void *data,
                         size_t len, const struct sl_bus_header *headers, int n_headers)
{
        struct redis_bus *rb = bus->impl;
        struct pub_state *pub = &rb->pub;
        size_t max = bus->opts.pending_max > 0 ? (size_t)bus->opts.pending_max : 1000;
        struct pub_rec rec;
        int rc;

        if (len > REDIS_MAX_VALUE_BYTES)
                return -EMSGSIZE;
        if (n_headers < 0 || n_headers > SL_BUS_MAX_HEADERS)
                return -EINVAL;
        if (pub->count >= max) {
                /* Full pipeline: wait for confirmations (or Redis) before taking more. */
                rc = pub_pump(bus, max - 1, sl_mono_ms() + max_i64(bus->opts.reconnect_max_ms, 0));
                if (rc < 0)
                        return rc;
        }
        pub_format(rb, topic, key, data, len, headers, n_headers, &rec);
        pub_push(pub, &rec);
        if (pub->conn.redis)
                pub_append(bus, pub_at(pub, pub->count - 1));
        else if (sl_mono_ms() >= pub->conn.next_try_ms)
                pub_reconnect(bus, 0); /* one attempt, no waiting; queued records go with it */
        pub_nudge(bus);
        return 0;
}

/*
 * ops->flush: waits until every accepted record is confirmed. -EIO if any
 * was rejected since the last flush (already logged), else 0, -ETIMEDOUT or
 * the connect error; unconfirmed records stay queued for the next call.
 */
static int redis_flush(struct sl_bus *bus, int64_t timeout_ms)
{
        struct pub_state *pub = &((struct redis_bus *)bus->impl)->pub;
        int rc = pub_pump(bus, 0, sl_mono_ms() + max_i64(timeout_ms, 0));

        if (pub->err) {
                sl_log_error("bus.redis.publish.failed", "records=%llu rejected by redis",
                             (unsigned long long)pub->n_rejected);
                rc = pub->err; /* rejected records are gone: that outranks a timeout */
                pub->err = 0;
                pub->n_rejected = 0;
        }
        return rc;
}

/* ------------------------------------------------------------------------ */
/* Consumed messages                                                         */
/* ------------------------------------------------------------------------ */

/* Bytes to copy for s, NUL included; 0 for NULL (optional key). */
static size_t str_size(const char *s)
{
        return s ? strlen(s) + 1 : 0;
}

/* Copies size bytes to *at, advances it, returns where they went. */
static char *str_put(char **at, const char *s, size_t size)
{
        char *start = *at;

        memcpy(start, s, size);
        *at += size;
        return start;
}

/*
 * Replaces msg's borrowed strings with copies in one heap block, owned by
 * msg->backend_ref and freed by release(). data gets a NUL after len bytes.
 */
static void msg_own(struct sl_bus_msg *msg)
{
        size_t size = str_size(msg->topic) + str_size(msg->key) + msg->len + 1;
        char *block, *at;

        for (int i = 0; i < msg->n_headers; i++)
                size += str_size(msg->headers[i].name) + str_size(msg->headers[i].value);
        block = sl_xmalloc(size);
        at = block;
        msg->topic = str_put(&at, msg->topic, str_size(msg->topic));
        if (msg->key)
                msg->key = str_put(&at, msg->key, str_size(msg->key));
        msg->data = str_put(&at, msg->data, msg->len);
        *at++ = '\0';
        for (int i = 0; i < msg->n_headers; i++) {
                struct sl_bus_header *h = &msg->headers[i];
                h->name = str_put(&at, h->name, str_size(h->name));
                h->value = str_put(&at, h->value, str_size(h->value));
        }
        msg->backend_ref = block;
}

/* ops->release: frees the block msg_own() made. NULL-safe, idempotent. */
static void redis_release(struct sl_bus *bus, struct sl_bus_msg *msg)
{
        (void)bus;
        if (!msg)
                return;
        free(msg->backend_ref);
        msg->backend_ref = NULL;
}

/* Hands out the nacked message, if any (ownership moves to msg). */
static bool held_take(struct redis_bus *rb, struct sl_bus_msg *msg)
{
        if (!rb->has_held)
                return false;
        *msg = rb->held;
        rb->has_held = false;
        memset(&rb->held, 0, sizeof(rb->held));
        return true;
}

/*
 * nack(): keeps a copy and hands it out again on the next fetch, before
 * anything else, with the same delivery count. For Streams the entry also
 * stays in our PEL, so a crash meanwhile still redelivers it (and the
 * delivery count only grows on real redeliveries, not on a circuit-open
 * wait). For Pub/Sub this copy is the only one left.
 */
static int redis_nack(struct sl_bus *bus, const struct sl_bus_msg *msg)
{
        struct redis_bus *rb = bus->impl;

        if (rb->has_held) {
                /* Can't happen (fetch hands the held one out first); the PEL still has it. */
                rb->sub.read_pending = true;
                return 0;
        }
        rb->held = *msg;
        msg_own(&rb->held);
        rb->has_held = true;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Consume connection                                                        */
/* ------------------------------------------------------------------------ */

/* Notes that one more reply of kind is due on the consume connection. */
static void sub_out_push(struct sub_state *sub, enum out_kind kind)
{
        assert(sub->out_count < REDIS_OUT_MAX);
        sub->out[(sub->out_head + sub->out_count) % REDIS_OUT_MAX] = (unsigned char)kind;
        sub->out_count++;
}

/* Replaces the buffered batch (NULL: none) and rewinds the cursor. */
static void sub_batch_set(struct sub_state *sub, redisReply *batch, enum batch_kind kind)
{
        freeReplyObject(sub->batch);
        sub->batch = batch;
        sub->kind = kind;
        sub->stream_i = 0;
        sub->entry_i = 0;
}

/* Re-reads our own PEL from the start on the next fetch. */
static void sub_reread(struct sub_state *sub)
{
        sub->read_pending = true;
        for (int i = 0; i < SL_BUS_MAX_TOPICS; i++)
                snprintf(sub->pending_from[i], REDIS_ID_MAX, "0");
}

/*
 * The consume connection broke: replies due and the buffered batch go with
 * it. The batch's entries are in our PEL, so the re-read after reconnecting
 * delivers them again, in order.
 */
static void sub_lost(struct sl_bus *bus, int rc)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;

        conn_drop(&sub->conn, rc);
        sub->out_count = 0;
        sub->out_head = 0;
        sub_batch_set(sub, NULL, BATCH_NEW);
        sub_reread(sub);
}

/* Result of a pipelined XACK: only logged (the entry stays pending and comes back). */
static void sub_ack_result(const redisReply *reply)
{
        if (reply->type == REDIS_REPLY_ERROR)
                sl_log_warn("bus.redis.ack.error", "error=%s", reply->str);
}

/* Takes the reply of XREADGROUP >. Returns 0 or -errno (connection must be dropped). */
static int sub_read_result(struct sl_bus *bus, redisReply *reply)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;

        if (reply->type == REDIS_REPLY_ERROR) {
                int rc = reply_errno(reply);
                if (rc == -ENOENT || reply_is_error(reply, "UNBLOCKED")) {
                        /*
                         * NOGROUP: Redis lost the group (restart without persistence,
                         * FLUSHALL); UNBLOCKED: the stream was deleted under our BLOCK.
                         */
                        sl_log_warn("bus.redis.group.lost", "error=%s", reply->str);
                        sub->need_groups = true;
                        rc = 0;
                } else {
                        sl_log_warn("bus.redis.read.error", "error=%s", reply->str);
                }
                freeReplyObject(reply);
                return rc;
        }
        if (reply->type == REDIS_REPLY_ARRAY) {
                sub_batch_set(sub, reply, BATCH_NEW);
                return 0;
        }
        freeReplyObject(reply); /* nil: BLOCK ran out */
        return 0;
}

/*
 * Reads the replies due on the consume connection (pipelined XACKs, a read
 * in flight) until none is left or deadline passes. 0, -ETIMEDOUT (some
 * still due) or -errno (connection dropped).
 */
static int sub_collect(struct sl_bus *bus, int64_t deadline)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        redisReply *reply;
        int rc;

        while (sub->out_count > 0) {
                rc = conn_read(&sub->conn, deadline, &reply);
                if (rc == -ETIMEDOUT)
                        return rc;
                if (rc == 0) {
                        enum out_kind kind = sub->out[sub->out_head];
                        sub->out_head = (sub->out_head + 1) % REDIS_OUT_MAX;
                        sub->out_count--;
                        if (kind == OUT_ACK) {
                                sub_ack_result(reply);
                                freeReplyObject(reply);
                        } else {
                                rc = sub_read_result(bus, reply);
                        }
                }
                if (rc < 0) {
                        sub_lost(bus, rc);
                        return rc;
                }
        }
        return 0;
}

/*
 * Synchronous command on the consume connection, after the replies already
 * due. Returns 0 with *reply (maybe an error reply; caller frees) or -errno,
 * in which case the connection was dropped.
 */
static int sub_cmd(struct sl_bus *bus, struct args *a, redisReply **reply)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        int64_t deadline = sl_mono_ms() + cmd_timeout_ms(bus);
        int rc;

        if (!sub->conn.redis)
                return sub->conn.last_err;
        rc = sub_collect(bus, deadline);
        if (rc == 0)
                rc = conn_cmd(&sub->conn, a, deadline, reply);
        if (rc < 0)
                sub_lost(bus, rc);
        return rc;
}

/* ------------------------------------------------------------------------ */
/* Streams consumer                                                          */
/* ------------------------------------------------------------------------ */

/*
 * Creates the consumer group on every topic; MKSTREAM because the stream may
 * not exist yet. start is "$" (only new entries) or "0" (all). A group that
 * exists (BUSYGROUP) is kept as it is. Returns 0 or -errno with errstr.
 */
static int streams_groups(struct sl_bus *bus, const char *start, char *errstr, size_t errstr_size)
{
        for (int i = 0; i < bus->n_topics; i++) {
                struct args a = {.n = 0};
                redisReply *reply;
                int rc;

                arg(&a, "XGROUP");
                arg(&a, "CREATE");
                arg(&a, bus->opts.topics[i]);
                arg(&a, bus->opts.group);
                arg(&a, start);
                arg(&a, "MKSTREAM");
                rc = sub_cmd(bus, &a, &reply);
                if (rc < 0) {
                        snprintf(errstr, errstr_size, "XGROUP CREATE %s: %s", bus->opts.topics[i],
                                 sl_strerror(rc));
                        return rc;
                }
                if (reply->type == REDIS_REPLY_ERROR && !reply_is_error(reply, "BUSYGROUP")) {
                        rc = reply_errno(reply);
                        snprintf(errstr, errstr_size, "XGROUP CREATE %s: %s", bus->opts.topics[i],
                                 reply->str);
                }
                freeReplyObject(reply);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

/* How often to look for entries abandoned by dead consumers. */
static int64_t claim_every_ms(const struct sl_bus *bus)
{
        int64_t idle_ms = bus->opts.claim_idle_ms > 0 ? bus->opts.claim_idle_ms : 30000;

        return max_i64(min_i64(idle_ms / 2, REDIS_CLAIM_MAX_MS), 10);
}

/* Index of topic name in opts.topics, or -1. */
static int topic_index(const struct sl_bus *bus, const char *name)
{
        for (int i = 0; i < bus->n_topics; i++) {
                if (strcmp(bus->opts.topics[i], name) == 0)
                        return i;
        }
        return -1;
}

/* Adds "XREADGROUP GROUP <group> <consumer> COUNT <count>" to a. */
static void streams_readgroup_head(const struct sl_bus *bus, struct args *a, const char *count)
{
        arg(a, "XREADGROUP");
        arg(a, "GROUP");
        arg(a, bus->opts.group);
        arg(a, bus->opts.consumer);
        arg(a, "COUNT");
        arg(a, count);
}

/*
 * Re-reads entries delivered to this consumer but never acked (after a
 * reconnect, or a restart under the same consumer name). Returns 1 with a
 * batch buffered, 0 when our PEL is exhausted, or -errno.
 */
static int streams_read_pending(struct sl_bus *bus)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        struct args a = {.n = 0};
        redisReply *reply;
        bool any = false;
        int rc;

        /*
         * One entry at a time: Redis counts a delivery for every entry a PEL
         * read returns, so a batch would charge the entries behind one that
         * crashes its consumer with that crash too, and a crash loop would
         * dead-letter innocent neighbours. This path only runs after a
         * restart, reconnect or takeover.
         */
        streams_readgroup_head(bus, &a, "1");
        arg(&a, "STREAMS");
        for (int i = 0; i < bus->n_topics; i++)
                arg(&a, bus->opts.topics[i]);
        for (int i = 0; i < bus->n_topics; i++)
                arg(&a, sub->pending_from[i]);
        rc = sub_cmd(bus, &a, &reply);
        if (rc < 0)
                return rc;
        if (reply->type == REDIS_REPLY_ERROR) {
                rc = sub_read_result(bus, reply); /* NOGROUP: the PEL is gone with the group */
                if (rc < 0) {
                        sub_lost(bus, rc);
                        return rc;
                }
                sub->read_pending = false;
                return 0;
        }
        /* The next page starts after the last entry seen, per stream. */
        for (size_t s = 0; reply->type == REDIS_REPLY_ARRAY && s < reply->elements; s++) {
                const redisReply *pair = reply->element[s], *last;
                int t;
                if (!reply_is_array(pair, 2) || !reply_is_str(pair->element[0]) ||
                    !reply_is_array(pair->element[1], 1))
                        continue;
                last = pair->element[1]->element[pair->element[1]->elements - 1];
                t = topic_index(bus, pair->element[0]->str);
                if (t >= 0 && reply_is_array(last, 1) && reply_is_str(last->element[0]))
                        snprintf(sub->pending_from[t], REDIS_ID_MAX, "%s", last->element[0]->str);
                any = true;
        }
        if (!any) {
                freeReplyObject(reply);
                sub->read_pending = false;
                return 0;
        }
        sub_batch_set(sub, reply, BATCH_PENDING);
        return 1;
}

/*
 * One XAUTOCLAIM step of the current round, topic by topic: takes over
 * entries idle longer than claim_idle_ms in any consumer's PEL (a dead
 * consumer's, usually). JUSTID moves them into our PEL without counting a
 * delivery; they are then read one at a time by streams_read_pending(), so
 * each is charged only when it is really handed out. Returns 1 when entries
 * were taken over (our PEL is to be re-read), 0 when the round is over (the
 * next one is scheduled), or -errno.
 */
static int streams_claim(struct sl_bus *bus)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        int64_t idle_ms = bus->opts.claim_idle_ms > 0 ? bus->opts.claim_idle_ms : 30000;
        char idle[24];

        snprintf(idle, sizeof(idle), "%lld", (long long)idle_ms);
        while (sub->claim_next < bus->n_topics) {
                int i = sub->claim_next;
                const char *argv[] = {
                    "XAUTOCLAIM", bus->opts.topics[i],  bus->opts.group, bus->opts.consumer,
                    idle,         sub->claim_cursor[i], "COUNT",         REDIS_BATCH,
                    "JUSTID"};
                struct args a = {.n = 0};
                redisReply *reply;
                int rc;

                for (size_t k = 0; k < sizeof(argv) / sizeof(argv[0]); k++)
                        arg(&a, argv[k]);
                rc = sub_cmd(bus, &a, &reply);
                if (rc < 0)
                        return rc;
                if (!reply_is_array(reply, 2) || !reply_is_str(reply->element[0]) ||
                    reply->element[1]->type != REDIS_REPLY_ARRAY) {
                        if (reply_errno(reply) == -ENOENT)
                                sub->need_groups = true;
                        sl_log_warn("bus.redis.claim.error", "topic=%s error=%s",
                                    bus->opts.topics[i],
                                    reply->type == REDIS_REPLY_ERROR ? reply->str : "bad reply");
                        freeReplyObject(reply);
                        sub->claim_next++;
                        continue;
                }
                snprintf(sub->claim_cursor[i], REDIS_ID_MAX, "%s", reply->element[0]->str);
                if (strcmp(sub->claim_cursor[i], "0-0") == 0)
                        sub->claim_next++; /* scanned this topic's whole PEL */
                if (reply->element[1]->elements > 0) {
                        bus->stats.claimed += reply->element[1]->elements;
                        sl_log_info("bus.redis.claim", "topic=%s entries=%zu", bus->opts.topics[i],
                                    reply->element[1]->elements);
                        freeReplyObject(reply);
                        snprintf(sub->pending_from[i], REDIS_ID_MAX, "0");
                        sub->read_pending = true;
                        return 1;
                }
                freeReplyObject(reply);
        }
        sub->claim_next = 0;
        sub->next_claim_ms = sl_mono_ms() + claim_every_ms(bus);
        return 0;
}

/*
 * Sends XREADGROUP ... BLOCK <until deadline> STREAMS t1..tn > .. > and waits
 * for its reply a little past the deadline. A reply that is late (paused or
 * slow server) stays in flight and is picked up by the next fetch. Returns 1
 * with a batch, 0 without, or -errno.
 */
static int streams_read_new(struct sl_bus *bus, int64_t deadline)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        int64_t block_ms = deadline - sl_mono_ms();
        struct args a = {.n = 0};
        char block[24];
        int rc;

        streams_readgroup_head(bus, &a, REDIS_BATCH);
        if (block_ms > 0) {
                /* BLOCK 0 would mean forever: only block for a positive timeout. */
                snprintf(block, sizeof(block), "%lld", (long long)block_ms);
                arg(&a, "BLOCK");
                arg(&a, block);
        }
        arg(&a, "STREAMS");
        for (int i = 0; i < bus->n_topics; i++)
                arg(&a, bus->opts.topics[i]);
        for (int i = 0; i < bus->n_topics; i++)
                arg(&a, ">");
        /* Acks leave one slot free (streams_xack), and append fails only on OOM. */
        if (sub->out_count >= REDIS_OUT_MAX ||
            redisAppendCommandArgv(sub->conn.redis, a.n, a.v, a.len) != REDIS_OK)
                abort();
        sub_out_push(sub, OUT_READ);
        rc = conn_write(&sub->conn, deadline + REDIS_BLOCK_SLACK_MS);
        if (rc == 0 || rc == -ETIMEDOUT)
                rc = sub_collect(bus, deadline + REDIS_BLOCK_SLACK_MS);
        if (rc == -ETIMEDOUT)
                return 0; /* the read stays in flight */
        if (rc < 0)
                return rc;
        return sub->batch ? 1 : 0;
}

/*
 * Makes sure the consume connection is up and set up (groups, or
 * subscriptions), waiting for the reconnect backoff until deadline at most.
 * Returns 0, or a retriable -errno while Redis is away.
 */
static int sub_ready(struct sl_bus *bus, int64_t deadline);

/*
 * Buffers the next batch: first a read still in flight, then our own
 * pending entries, then entries claimed from dead consumers (when due), then
 * new entries. Returns 1 with a batch, 0 when none came by deadline, -errno.
 */
static int streams_refill(struct sl_bus *bus, int64_t deadline)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        int rc = sub_ready(bus, deadline);

        if (rc < 0)
                return rc;
        if (sub->out_count > 0) {
                rc = sub_collect(bus, deadline + REDIS_BLOCK_SLACK_MS);
                if (rc == -ETIMEDOUT)
                        return 0;
                if (rc < 0 || sub->batch)
                        return rc < 0 ? rc : 1;
                if (sub->need_groups)
                        return 0; /* recreated by sub_ready() on the next fetch */
        }
        if (sl_mono_ms() >= sub->next_claim_ms) {
                rc = streams_claim(bus); /* taken-over entries join our PEL */
                if (rc < 0)
                        return rc;
        }
        if (sub->read_pending) {
                rc = streams_read_pending(bus);
                if (rc != 0)
                        return rc;
        }
        if (sub->need_groups)
                return 0;
        return streams_read_new(bus, deadline);
}

/* The entries of stream s of the batch (NULL: malformed) and its topic; false past the end. */
static bool batch_stream(const struct sl_bus *bus, size_t s, const redisReply **entries,
                         const char **topic)
{
        const struct sub_state *sub = &((const struct redis_bus *)bus->impl)->sub;
        const redisReply *pair;

        if (s >= sub->batch->elements)
                return false;
        pair = sub->batch->element[s];
        *entries = NULL;
        if (reply_is_array(pair, 2) && reply_is_str(pair->element[0]) &&
            pair->element[1]->type == REDIS_REPLY_ARRAY) {
                *entries = pair->element[1];
                *topic = pair->element[0]->str;
        }
        return true;
}

/* Next entry of the batch, advancing; NULL (and the batch freed) when used up. */
static const redisReply *batch_next(struct sl_bus *bus, const char **topic)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        const redisReply *entries;

        while (sub->batch && batch_stream(bus, sub->stream_i, &entries, topic)) {
                if (entries && sub->entry_i < entries->elements)
                        return entries->element[sub->entry_i++];
                sub->stream_i++;
                sub->entry_i = 0;
        }
        sub_batch_set(sub, NULL, BATCH_NEW);
        return NULL;
}

/*
 * Appends one XACK for n (1..REDIS_ACK_BATCH) entries of topic (pipelined:
 * its reply is read before the next command's) and starts sending it.
 * 0 or -errno.
 */
static int streams_xack_ids(struct sl_bus *bus, const char *topic, const char *const *ids, int n)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        const char *argv[3 + REDIS_ACK_BATCH];
        int rc;

        if (n < 1 || n > REDIS_ACK_BATCH)
                return -EINVAL;
        if (sub->out_count >= REDIS_OUT_MAX - 1) { /* one slot stays free for a read */
                rc = sub_collect(bus, sl_mono_ms() + cmd_timeout_ms(bus));
                if (rc < 0) {
                        sub_lost(bus, rc);
                        return rc;
                }
        }
        argv[0] = "XACK";
        argv[1] = topic;
        argv[2] = bus->opts.group;
        memcpy(argv + 3, ids, sizeof(*ids) * (size_t)n);
        if (redisAppendCommandArgv(sub->conn.redis, 3 + n, argv, NULL) != REDIS_OK)
                abort(); /* only fails on OOM */
        sub_out_push(sub, OUT_ACK);
        rc = conn_write(&sub->conn, 0); /* no waiting: the rest goes with the next command */
        if (rc < 0 && rc != -ETIMEDOUT) {
                sub_lost(bus, rc);
                return rc;
        }
        return 0;
}

/* XACK of one entry (see streams_xack_ids()). */
static int streams_xack(struct sl_bus *bus, const char *topic, const char *id)
{
        return streams_xack_ids(bus, topic, &id, 1);
}

/*
 * Sends the batched acks as one pipelined XACK. On a lost connection they
 * are dropped: the entries stay pending and are delivered again. 0 or -errno.
 */
static int streams_acks_flush(struct sl_bus *bus)
{
        struct redis_bus *rb = bus->impl;
        struct sub_state *sub = &rb->sub;
        const char *ids[REDIS_ACK_BATCH];
        int n = sub->n_acks, rc;

        if (n == 0)
                return 0;
        sub->n_acks = 0;
        if (!sub->conn.redis) {
                rc = sub_ready(bus, sl_mono_ms());
                if (rc < 0)
                        return rc;
        }
        for (int i = 0; i < n; i++)
                ids[i] = sub->ack_ids[i];
        return streams_xack_ids(bus, bus->opts.topics[sub->ack_topic], ids, n);
}

/*
 * Delivery count of a re-read or claimed entry (this delivery included),
 * from XPENDING. Returns >= 1, 0 when the entry is no longer pending (acked
 * meanwhile: skip it), or -errno.
 */
static int streams_deliveries(struct sl_bus *bus, const char *topic, const char *id)
{
        const char *argv[] = {"XPENDING", topic, bus->opts.group, id, id, "1"};
        struct args a = {.n = 0};
        redisReply *reply;
        int rc;

        for (size_t k = 0; k < sizeof(argv) / sizeof(argv[0]); k++)
                arg(&a, argv[k]);
        rc = sub_cmd(bus, &a, &reply);
        if (rc < 0)
                return rc;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0) {
                rc = 0;
        } else if (reply_is_array(reply, 1) && reply_is_array(reply->element[0], 4) &&
                   reply->element[0]->element[3]->type == REDIS_REPLY_INTEGER) {
                long long n = reply->element[0]->element[3]->integer;
                rc = n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
        } else {
                rc = 2; /* unknown, but surely a redelivery */
        }
        freeReplyObject(reply);
        return rc;
}

/*
 * Fills msg (borrowed from entry) from the fields: "d" data, "k" key,
 * "h:<name>" headers. An entry without "d" gives empty data: bus.c then
 * dead-letters it instead of it being lost.
 */
static void streams_entry_fields(const redisReply *fields, struct sl_bus_msg *msg)
{
        msg->data = "";
        msg->len = 0;
        for (size_t f = 0; f + 1 < fields->elements; f += 2) {
                const redisReply *name = fields->element[f], *value = fields->element[f + 1];
                if (!reply_is_str(name) || !reply_is_str(value))
                        continue;
                if (strcmp(name->str, "d") == 0) {
                        msg->data = value->str;
                        msg->len = value->len;
                } else if (strcmp(name->str, "k") == 0) {
                        msg->key = value->str;
                } else if (strncmp(name->str, "h:", 2) == 0 &&
                           msg->n_headers < SL_BUS_MAX_HEADERS) {
                        msg->headers[msg->n_headers].name = name->str + 2;
                        msg->headers[msg->n_headers].value = value->str;
                        msg->n_headers++;
                }
        }
}

/*
 * Hands out the next entry of the batch as an owned message. Entries deleted
 * from the stream while pending (nil fields) are acked and skipped. Returns
 * 1, 0 (batch used up) or -errno.
 */
static int streams_next(struct sl_bus *bus, struct sl_bus_msg *msg)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        const redisReply *entry;
        const char *topic;

        while ((entry = batch_next(bus, &topic))) {
                int deliveries = 1;
                if (!reply_is_array(entry, 2) || !reply_is_str(entry->element[0]))
                        continue; /* malformed: nothing to ack it by */
                const char *id = entry->element[0]->str;
                if (entry->element[1]->type != REDIS_REPLY_ARRAY) {
                        sl_log_warn("bus.redis.entry.deleted", "topic=%s id=%s", topic, id);
                        streams_xack(bus, topic, id);
                        continue;
                }
                if (sub->kind != BATCH_NEW) {
                        deliveries = streams_deliveries(bus, topic, id);
                        if (deliveries <= 0)
                                return deliveries; /* -errno, or 0: acked meanwhile */
                }
                memset(msg, 0, sizeof(*msg));
                msg->topic = topic;
                snprintf(msg->id, sizeof(msg->id), "%s", id);
                msg->partition = -1;
                msg->offset = -1;
                msg->deliveries = deliveries;
                streams_entry_fields(entry->element[1], msg);
                msg_own(msg);
                return 1;
        }
        return 0;
}

/*
 * ops->fetch for Streams: one message per call from the buffered batch,
 * refilling it when empty. deliveries is 1 for a first delivery, else the
 * count from XPENDING. Returns 1, 0 (nothing within timeout_ms, or
 * draining) or a retriable -errno while Redis is away; -EINVAL without topics.
 */
static int streams_fetch(struct sl_bus *bus, struct sl_bus_msg *msg, int timeout_ms)
{
        struct redis_bus *rb = bus->impl;
        int64_t deadline = sl_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        int rc;

        if (bus->draining || rb->draining)
                return 0;
        if (bus->n_topics == 0)
                return -EINVAL; /* a publish-only bus */
        if (held_take(rb, msg))
                return 1;
        for (;;) {
                rc = streams_next(bus, msg);
                if (rc == 0 && rb->sub.batch)
                        continue; /* skipped an entry acked meanwhile */
                if (rc != 0)
                        return rc;
                rc = streams_acks_flush(bus); /* before a read that may block */
                if (rc < 0)
                        return rc;
                rc = streams_refill(bus, deadline);
                if (rc <= 0)
                        return rc;
        }
}

/*
 * ops->ack for Streams: XACK, pipelined (0 = sent or queued, not yet
 * confirmed). A lost XACK only means one more delivery of an entry that was
 * handled: handlers are idempotent.
 */
static int streams_ack(struct sl_bus *bus, const struct sl_bus_msg *msg)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        int t = topic_index(bus, msg->topic), rc = 0;

        if (t < 0)
                return streams_xack(bus, msg->topic, msg->id); /* not ours: ack it alone */
        if (sub->n_acks > 0 && sub->ack_topic != t)
                rc = streams_acks_flush(bus);
        if (rc < 0)
                return rc;
        sub->ack_topic = t;
        if (strlen(msg->id) >= REDIS_ID_MAX)
                return -EINVAL; /* not a stream id */
        memcpy(sub->ack_ids[sub->n_acks++], msg->id, strlen(msg->id) + 1);
        /*
         * A redelivered entry is acked at once: if its neighbour crashes the
         * consumer next, this one must not be delivered (and counted) again.
         */
        if (sub->n_acks == REDIS_ACK_BATCH || msg->deliveries > 1)
                return streams_acks_flush(bus);
        return 0;
}

/* XCLAIM ids to ourselves with a long idle time, so any consumer's XAUTOCLAIM takes them now. */
static void streams_hand_back_ids(struct sl_bus *bus, const char *topic, const char **ids, int n)
{
        struct args a = {.n = 0};
        redisReply *reply;

        if (n == 0)
                return;
        arg(&a, "XCLAIM");
        arg(&a, topic);
        arg(&a, bus->opts.group);
        arg(&a, bus->opts.consumer);
        arg(&a, "0");
        for (int i = 0; i < n; i++)
                arg(&a, ids[i]);
        arg(&a, "IDLE");
        arg(&a, REDIS_HANDBACK_IDLE_MS);
        arg(&a, "JUSTID"); /* JUSTID: the delivery count stays as it is */
        if (sub_cmd(bus, &a, &reply) == 0)
                freeReplyObject(reply);
        sl_log_info("bus.redis.handback", "topic=%s entries=%d", topic, n);
}

/*
 * At drain: entries buffered (or nacked) but not handled are in our PEL.
 * Instead of leaving them to wait claim_idle_ms, mark them long idle so
 * another consumer's next XAUTOCLAIM round picks them up. Best effort.
 */
static void streams_hand_back(struct sl_bus *bus, int64_t deadline)
{
        struct redis_bus *rb = bus->impl;
        struct sub_state *sub = &rb->sub;
        const redisReply *entries;
        const char *ids[REDIS_MAX_ARGS - 10], *topic = NULL;

        if (!sub->conn.redis || sub_collect(bus, deadline) < 0)
                return;
        if (rb->has_held) {
                const char *id = rb->held.id;
                streams_hand_back_ids(bus, rb->held.topic, &id, 1);
        }
        for (size_t s = sub->stream_i; sub->batch && batch_stream(bus, s, &entries, &topic); s++) {
                int n = 0;
                for (size_t e = s == sub->stream_i ? sub->entry_i : 0;
                     entries && e < entries->elements && n < (int)(sizeof(ids) / sizeof(ids[0]));
                     e++) {
                        if (reply_is_array(entries->element[e], 1) &&
                            reply_is_str(entries->element[e]->element[0]))
                                ids[n++] = entries->element[e]->element[0]->str;
                }
                if (n > 0)
                        streams_hand_back_ids(bus, topic, ids, n);
        }
}

/* ------------------------------------------------------------------------ */
/* Pub/Sub consumer                                                          */
/* ------------------------------------------------------------------------ */

/*
 * AT-MOST-ONCE. Redis Pub/Sub keeps nothing: a message is pushed to the
 * subscribers connected at that moment and forgotten. So:
 *   - a message published while this subscriber is down (crash, restart,
 *     reconnect backoff, Redis restart) is LOST for it, with no trace;
 *   - a message in flight when the subscriber dies is lost;
 *   - there is no ack, no redelivery, no consumer group: every subscriber
 *     gets every message (no load sharing), deliveries is always 1;
 *   - only the data travels: key and headers are not carried.
 * Use it where a missed event is harmless (a later one supersedes it) and
 * latency matters. Exception: dead letters ("<topic>.dlq") are always written
 * with XADD to a durable stream, so they never vanish; read them with the
 * redis-streams backend.
 */

/* SUBSCRIBE to every topic and wait for each confirmation. 0 or -errno with errstr. */
static int pubsub_subscribe(struct sl_bus *bus, char *errstr, size_t errstr_size)
{
        struct sub_state *sub = &((struct redis_bus *)bus->impl)->sub;
        int64_t deadline = sl_mono_ms() + cmd_timeout_ms(bus);
        struct args a = {.n = 0};
        redisReply *reply = NULL;
        int rc;

        arg(&a, "SUBSCRIBE");
        for (int i = 0; i < bus->n_topics; i++)
                arg(&a, bus->opts.topics[i]);
        rc = conn_cmd(&sub->conn, &a, deadline, &reply);
        for (int i = 1; rc == 0; i++) {
                bool ok = reply_is_array(reply, 3) && reply_is_str(reply->element[0]) &&
                          strcmp(reply->element[0]->str, "subscribe") == 0;
                if (!ok)
                        rc = reply->type == REDIS_REPLY_ERROR ? reply_errno(reply) : -EPROTO;
                freeReplyObject(reply);
                if (rc < 0 || i == bus->n_topics)
                        break;
                rc = conn_read(&sub->conn, deadline, &reply);
        }
        if (rc < 0) {
                snprintf(errstr, errstr_size, "SUBSCRIBE: %s", sl_strerror(rc));
                sub_lost(bus, rc);
        }
        return rc;
}

/*
 * ops->fetch for Pub/Sub: waits (poll, never a socket timeout) up to
 * timeout_ms for the next "message" push. msg->id is a local counter
 * ("ps-<n>"); key and headers are always empty. Returns 1, 0 or -errno.
 */
static int pubsub_fetch(struct sl_bus *bus, struct sl_bus_msg *msg, int timeout_ms)
{
        struct redis_bus *rb = bus->impl;
        struct sub_state *sub = &rb->sub;
        int64_t deadline = sl_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        redisReply *reply;
        int rc;

        if (bus->draining || rb->draining)
                return 0;
        if (bus->n_topics == 0)
                return -EINVAL;
        if (held_take(rb, msg))
                return 1;
        rc = sub_ready(bus, deadline);
        while (rc == 0) {
                rc = conn_read(&sub->conn, deadline, &reply);
                if (rc == -ETIMEDOUT)
                        return 0;
                if (rc < 0)
                        break;
                /* ["message", channel, data]; confirmations and pongs are skipped. */
                if (reply_is_array(reply, 3) && reply_is_str(reply->element[0]) &&
                    strcmp(reply->element[0]->str, "message") == 0 &&
                    reply_is_str(reply->element[1]) && reply_is_str(reply->element[2])) {
                        memset(msg, 0, sizeof(*msg));
                        msg->topic = reply->element[1]->str;
                        msg->data = reply->element[2]->str;
                        msg->len = reply->element[2]->len;
                        snprintf(msg->id, sizeof(msg->id), "ps-%llu",
                                 (unsigned long long)++sub->seq);
                        msg->partition = -1;
                        msg->offset = -1;
                        msg->deliveries = 1;
                        msg_own(msg);
                        freeReplyObject(reply);
                        return 1;
                }
                freeReplyObject(reply);
        }
        if (rc < 0 && sub->conn.redis)
                sub_lost(bus, rc);
        return rc;
}

/* Pub/Sub has nothing to acknowledge. */
static int pubsub_ack(struct sl_bus *bus, const struct sl_bus_msg *msg)
{
        (void)bus;
        (void)msg;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Shared consume plumbing, open, drain, close                               */
/* ------------------------------------------------------------------------ */

/* Role setup after a (re)connect: groups for Streams, subscriptions for Pub/Sub. */
static int sub_setup(struct sl_bus *bus, const char *start, char *errstr, size_t errstr_size)
{
        struct redis_bus *rb = bus->impl;
        int rc;

        if (rb->pubsub)
                return pubsub_subscribe(bus, errstr, errstr_size);
        rc = streams_groups(bus, start, errstr, errstr_size);
        if (rc == 0)
                rb->sub.need_groups = false;
        return rc;
}

static int sub_ready(struct sl_bus *bus, int64_t deadline)
{
        struct redis_bus *rb = bus->impl;
        struct conn *conn = &rb->sub.conn;
        int64_t down_since_ms = conn->down_since_ms;
        bool reconnected = false;
        char errstr[256];
        int rc;

        if (!conn->redis) {
                int64_t now = sl_mono_ms();
                if (conn->next_try_ms > now) {
                        int64_t wait_ms = min_i64(conn->next_try_ms, deadline) - now;
                        if (sl_sleep_ms(max_i64(wait_ms, 0), bus->opts.stop) < 0 ||
                            conn->next_try_ms > deadline)
                                return conn->last_err;
                }
                rc = conn_try(bus, conn);
                if (rc < 0)
                        return rc;
                reconnected = true;
                rb->sub.need_groups = !rb->pubsub;
        }
        /* A lost group is recreated at 0: whatever was added since Redis lost it is read. */
        if (reconnected || rb->sub.need_groups) {
                rc = sub_setup(bus, "0", errstr, sizeof(errstr));
                if (rc < 0) {
                        sl_log_warn("bus.redis.consume.setup", "%s", errstr);
                        if (conn->redis)
                                sub_lost(bus, rc); /* e.g. LOADING: retry after the backoff */
                        return rc;
                }
                if (rb->pubsub && reconnected)
                        sl_log_warn("bus.redis.pubsub.gap",
                                    "resubscribed after %lld ms; messages published meanwhile "
                                    "are lost (at-most-once)",
                                    (long long)(sl_mono_ms() - down_since_ms));
        }
        conn_ready(conn);
        return 0;
}

/* Parses "host:port", "[v6]:port", "host" (port 6379), optionally after "redis://". */
static int parse_url(const char *url, struct redis_bus *rb, char *errstr, size_t errstr_size)
{
        const char *host = url, *end, *port = NULL;
        int64_t port_num = REDIS_DEFAULT_PORT;

        if (strncmp(host, "redis://", 8) == 0)
                host += 8;
        if (*host == '[') {
                host++;
                end = strchr(host, ']');
                if (end && end[1] == ':')
                        port = end + 2;
                else if (end && end[1] != '\0')
                        end = NULL;
        } else {
                end = strrchr(host, ':');
                port = end ? end + 1 : NULL;
                end = end ? end : host + strlen(host);
        }
        if (!end || end == host || (size_t)(end - host) >= sizeof(rb->host) ||
            (port && sl_parse_i64(port, 1, 65535, &port_num) < 0)) {
                snprintf(errstr, errstr_size, "bad redis address '%s' (want host:port)", url);
                return -EINVAL;
        }
        memcpy(rb->host, host, (size_t)(end - host));
        rb->host[end - host] = '\0';
        rb->port = (int)port_num;
        return 0;
}

/* ops->close: frees everything; unconfirmed records are dropped (logged). NULL-safe. */
static void redis_close(struct sl_bus *bus)
{
        struct redis_bus *rb = bus ? bus->impl : NULL;

        if (!rb)
                return;
        if (rb->pub.count > 0)
                sl_log_warn("bus.redis.close.unflushed", "records=%zu", rb->pub.count);
        while (rb->pub.count > 0)
                pub_pop(&rb->pub);
        free(rb->pub.q);
        if (rb->pub.conn.redis)
                redisFree(rb->pub.conn.redis);
        if (rb->sub.conn.redis)
                redisFree(rb->sub.conn.redis);
        freeReplyObject(rb->sub.batch);
        if (rb->has_held)
                free(rb->held.backend_ref);
        free(rb);
        bus->impl = NULL;
}

/* open() of both backends: the publish connection always, the consume one when topics are set. */
static int redis_open(struct sl_bus *bus, bool pubsub, char *errstr, size_t errstr_size)
{
        struct redis_bus *rb = sl_xcalloc(1, sizeof(*rb));
        int rc;

        bus->impl = rb;
        rb->pubsub = pubsub;
        rb->pub.conn = (struct conn){
            .role = "publish", .backoff_ms = REDIS_BACKOFF_MIN_MS, .last_err = -ENOTCONN};
        rb->sub.conn = (struct conn){
            .role = "consume", .backoff_ms = REDIS_BACKOFF_MIN_MS, .last_err = -ENOTCONN};
        sub_reread(&rb->sub); /* a restart under the same consumer name finds its PEL */
        for (int i = 0; i < SL_BUS_MAX_TOPICS; i++)
                snprintf(rb->sub.claim_cursor[i], REDIS_ID_MAX, "0-0");
        rc = parse_url(bus->opts.url ? bus->opts.url : "127.0.0.1:6379", rb, errstr, errstr_size);
        if (rc == 0)
                rc = conn_open(bus, &rb->pub.conn, errstr, errstr_size);
        if (rc == 0 && bus->n_topics > 0) {
                rb->pub.conn.ever_up = true;
                rc = conn_open(bus, &rb->sub.conn, errstr, errstr_size);
                if (rc == 0)
                        rc = sub_setup(bus, bus->opts.from_beginning ? "0" : "$", errstr,
                                       errstr_size);
                if (rc == 0 && !rb->sub.conn.redis)
                        rc = -ENOTCONN;
        }
        if (rc < 0) {
                redis_close(bus);
                return rc;
        }
        rb->pub.conn.ever_up = true;
        rb->sub.conn.ever_up = bus->n_topics > 0;
        return 0;
}

/*
 * ops->open for "redis-streams". Fails (errstr) when Redis is unreachable,
 * AUTH fails, or a topic's key holds another type.
 */
static int streams_open(struct sl_bus *bus, char *errstr, size_t errstr_size)
{
        return redis_open(bus, false, errstr, errstr_size);
}

/* ops->open for "redis-pubsub". */
static int pubsub_open(struct sl_bus *bus, char *errstr, size_t errstr_size)
{
        return redis_open(bus, true, errstr, errstr_size);
}

/* Stops consuming (hands unhandled Streams entries back), then flushes publishes. */
static int redis_drain(struct sl_bus *bus, int64_t timeout_ms)
{
        struct redis_bus *rb = bus->impl;
        int64_t deadline = sl_mono_ms() + max_i64(timeout_ms, 0);

        rb->draining = true;
        if (!rb->pubsub) {
                streams_acks_flush(bus); /* lost acks only mean redelivery: no error here */
                streams_hand_back(bus, deadline);
        } else if (rb->has_held)
                sl_log_warn("bus.redis.pubsub.dropped", "topic=%s: nacked message lost at drain",
                            rb->held.topic);
        if (rb->has_held) {
                free(rb->held.backend_ref);
                rb->has_held = false;
        }
        sub_batch_set(&rb->sub, NULL, BATCH_NEW);
        return redis_flush(bus, deadline - sl_mono_ms());
}

const struct sl_bus_ops sl_bus_redis_streams_ops = {
    .name = "redis-streams",
    .open = streams_open,
    .publish = redis_publish,
    .flush = redis_flush,
    .fetch = streams_fetch,
    .ack = streams_ack,
    .nack = redis_nack,
    .release = redis_release,
    .drain = redis_drain,
    .close = redis_close,
};

const struct sl_bus_ops sl_bus_redis_pubsub_ops = {
    .name = "redis-pubsub",
    .open = pubsub_open,
    .publish = redis_publish,
    .flush = redis_flush,
    .fetch = pubsub_fetch,
    .ack = pubsub_ack,
    .nack = redis_nack,
    .release = redis_release,
    .drain = redis_drain,
    .close = redis_close,
};
