/*
 * sl_bustest: the driver behind the bus integration tests
 * (tests/integration/bus_*.sh). It talks to a real broker through the public
 * sl_bus and sl_envelope APIs only, so what it proves holds for services.
 *
 *   sl_bustest produce --backend B --url U --topic T --count N --keys K
 *                      [--start S] [--rate R] [--poison-every M] [--poison-dir D]
 *                      [--publish-timeout-s S]
 *       Publishes N envelopes (seq S..S+N-1, key = seq % K, entity "game:<key>",
 *       payload {"key":k,"seq":s}), plus, after every M-th one (never after
 *       the last, so a consumer that saw all N passed every poison), a poison
 *       message (invalid envelope bytes via sl_bus_publish_raw, also written to
 *       D/poison.<n> for byte-for-byte comparison). Publish errors are retried
 *       (never dropped) until the deadline. Flushes and prints one line:
 *       "produce: published=.. poison=.. confirmed=.. publish_errors=..
 *        fatal_errors=.. publish_retries=.. reconnects=..". Exit 0 only if
 *       every publish was confirmed.
 *
 *   sl_bustest consume --backend B --url U --topic T --group G --consumer C
 *                      --expect N --out FILE [--timeout-s S] [--fail-every M]
 *                      [--fail-always-every M] [--crash-on-seq S]
 *                      [--claim-idle-ms X] [--retry-delays-ms 1,2,3]
 *                      [--delay-us D] [--max-deliveries M] [--fsync]
 *       Polls until N distinct sequence numbers are in FILE (lines already in
 *       FILE count: a restarted consumer continues the count) or the timeout.
 *       Each handled event appends "key seq event_id\n" with one write(2) on
 *       an O_APPEND fd before the handler returns, so SIGKILL loses no line
 *       that was acked (--fsync also survives power loss). A line written
 *       just before a kill whose ack never happened appears again after the
 *       restart: that is at-least-once, and `check` counts it as a duplicate.
 *       --fail-every M makes the first attempt of every M-th seq fail with
 *       -EAGAIN (exercises handler retries); --fail-always-every M makes every
 *       attempt fail, so those events are dead-lettered once retries run out
 *       (they never reach FILE: count them out of --expect); --crash-on-seq S
 *       SIGKILLs the process when the handler gets seq S (a crash loop).
 *       Prints "consume: ..." stats.
 *       Exit 0 when N was reached (or N is 0 and the timeout ended the run),
 *       1 on timeout, 2 on a setup error.
 *
 *   sl_bustest check --out FILE --count N --keys K [--start S] [--except E]
 *                    [--allow-reorder]
 *       Verifies FILE: every seq in [S, S+N) except E present with key
 *       seq % K, no seq outside the range (E counts as outside), and per-key order kept (first-seen
 * seqs of one key increase). Duplicates are allowed and counted. Prints "# check: ..." lines (TAP
 * comments); exit 0 if all good, 1 otherwise.
 *
 * Logs (JSON lines) go to stderr; results go to stdout.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/retry.h>
#include <sl/util.h>

#define EVENT_TYPE   "ops.bustest"
#define EVENT_DATE   "2026-11-23"
#define MAX_SEQ      100000000 /* sanity cap on sequence numbers (bitmap size) */
#define LINE_MAX_LEN 256

/* Every option of every subcommand; unset numbers are -1 unless noted. */
struct args {
        const char *cmd;
        const char *backend;
        const char *url;
        const char *topic;
        const char *group;
        const char *consumer;
        const char *service;
        const char *out;
        const char *poison_dir;
        const char *retry_delays;
        int64_t count;
        int64_t keys;
        int64_t start;
        int64_t rate;         /* events per second, 0 = as fast as possible */
        int64_t poison_every; /* 0 = none */
        int64_t expect;
        int64_t timeout_s;
        int64_t publish_timeout_s;
        int64_t fail_every;        /* 0 = never */
        int64_t fail_always_every; /* 0 = never */
        int64_t crash_on_seq;      /* SIGKILL ourselves when handling this seq; -1 = never */
        int64_t except_seq;        /* check: this seq must be absent; -1 = none */
        int64_t claim_idle_ms;     /* 0 = bus default */
        int64_t delay_us;          /* per handled event */
        int64_t max_deliveries;    /* 0 = bus default */
        bool fsync_lines;
        bool allow_reorder;
};

static volatile sig_atomic_t stop_signal;
static volatile int stop_flag; /* mirrors stop_signal for sl_bus_opts.stop */

static void on_signal(int sig)
{
        if (stop_signal)
                _exit(128 + sig);
        stop_signal = sig;
        stop_flag = 1;
}

static void install_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
}

static void usage(void)
{
        fprintf(stderr,
                "usage: sl_bustest produce --backend B --url U --topic T --count N --keys K\n"
                "                  [--start S] [--rate R] [--poison-every M] [--poison-dir D]\n"
                "                  [--publish-timeout-s S]\n"
                "       sl_bustest consume --backend B --url U --topic T --group G --consumer C\n"
                "                  --expect N --out FILE [--timeout-s S] [--fail-every M]\n"
                "                  [--fail-always-every M] [--crash-on-seq S] [--claim-idle-ms X]\n"
                "                  [--retry-delays-ms 1,2,3] [--delay-us D]\n"
                "                  [--max-deliveries M] [--fsync]\n"
                "       sl_bustest check --out FILE --count N --keys K [--start S] "
                "[--except E] [--allow-reorder]\n");
}

/* Parses a bounded integer option value; prints why on failure. */
static int parse_num(const char *name, const char *s, int64_t min, int64_t max, int64_t *out)
{
        int rc = sl_parse_i64(s, min, max, out);

        if (rc < 0)
                fprintf(stderr, "sl_bustest: %s: bad value '%s' (%" PRId64 "..%" PRId64 ")\n", name,
                        s, min, max);
        return rc;
}

static const struct {
        const char *name;
        size_t off;
        int64_t min, max;
} num_opts[] = {
    {"--count", offsetof(struct args, count), 0, MAX_SEQ},
    {"--keys", offsetof(struct args, keys), 1, 1000000},
    {"--start", offsetof(struct args, start), 0, MAX_SEQ},
    {"--rate", offsetof(struct args, rate), 0, 10000000},
    {"--poison-every", offsetof(struct args, poison_every), 0, MAX_SEQ},
    {"--expect", offsetof(struct args, expect), 0, MAX_SEQ},
    {"--timeout-s", offsetof(struct args, timeout_s), 1, 86400},
    {"--publish-timeout-s", offsetof(struct args, publish_timeout_s), 1, 86400},
    {"--fail-every", offsetof(struct args, fail_every), 0, MAX_SEQ},
    {"--fail-always-every", offsetof(struct args, fail_always_every), 0, MAX_SEQ},
    {"--crash-on-seq", offsetof(struct args, crash_on_seq), 0, MAX_SEQ},
    {"--except", offsetof(struct args, except_seq), 0, MAX_SEQ},
    {"--claim-idle-ms", offsetof(struct args, claim_idle_ms), 0, 86400000},
    {"--delay-us", offsetof(struct args, delay_us), 0, 10000000},
    {"--max-deliveries", offsetof(struct args, max_deliveries), 0, 1000},
};

static const struct {
        const char *name;
        size_t off;
} str_opts[] = {
    {"--backend", offsetof(struct args, backend)},
    {"--url", offsetof(struct args, url)},
    {"--topic", offsetof(struct args, topic)},
    {"--group", offsetof(struct args, group)},
    {"--consumer", offsetof(struct args, consumer)},
    {"--service", offsetof(struct args, service)},
    {"--out", offsetof(struct args, out)},
    {"--poison-dir", offsetof(struct args, poison_dir)},
    {"--retry-delays-ms", offsetof(struct args, retry_delays)},
};

/* One "--name value" (or flag) pair at argv[*i]; advances *i. 0 or -EINVAL. */
static int parse_opt(struct args *a, int argc, char **argv, int *i)
{
        const char *name = argv[*i];

        if (strcmp(name, "--fsync") == 0) {
                a->fsync_lines = true;
                return 0;
        }
        if (strcmp(name, "--allow-reorder") == 0) {
                a->allow_reorder = true;
                return 0;
        }
        if (*i + 1 >= argc) {
                fprintf(stderr, "sl_bustest: %s needs a value\n", name);
                return -EINVAL;
        }
        for (size_t k = 0; k < sizeof(str_opts) / sizeof(str_opts[0]); k++) {
                if (strcmp(name, str_opts[k].name) == 0) {
                        *(const char **)((char *)a + str_opts[k].off) = argv[++*i];
                        return 0;
                }
        }
        for (size_t k = 0; k < sizeof(num_opts) / sizeof(num_opts[0]); k++) {
                if (strcmp(name, num_opts[k].name) == 0) {
                        ++*i;
                        return parse_num(name, argv[*i], num_opts[k].min, num_opts[k].max,
                                         (int64_t *)(void *)((char *)a + num_opts[k].off));
                }
        }
        fprintf(stderr, "sl_bustest: unknown option %s\n", name);
        return -EINVAL;
}

static int parse_args(struct args *a, int argc, char **argv)
{
        memset(a, 0, sizeof(*a));
        a->count = -1;
        a->keys = -1;
        a->expect = -1;
        a->crash_on_seq = -1;
        a->except_seq = -1;
        a->timeout_s = 60;
        a->publish_timeout_s = 60;
        a->service = "bustest";
        if (argc < 2)
                return -EINVAL;
        a->cmd = argv[1];
        for (int i = 2; i < argc; i++) {
                if (parse_opt(a, argc, argv, &i) < 0)
                        return -EINVAL;
        }
        return 0;
}

/* True if value (an option, or a stand-in pointer when a number was set) is present; else
 * complains. */
static bool require(const char *what, const void *value)
{
        if (value)
                return true;
        fprintf(stderr, "sl_bustest: %s is required\n", what);
        return false;
}

/* ---- a growable bitmap of sequence numbers ---------------------------------------------- */

struct seqset {
        uint8_t *bits;
        size_t n_bytes;
        int64_t distinct;
};

/* Sets seq; returns true if it was new. */
static bool seqset_add(struct seqset *s, int64_t seq)
{
        size_t byte = (size_t)seq / 8;

        if (byte >= s->n_bytes) {
                size_t n = s->n_bytes ? s->n_bytes : 1024;
                while (n <= byte)
                        n *= 2;
                s->bits = sl_xrealloc(s->bits, n);
                memset(s->bits + s->n_bytes, 0, n - s->n_bytes);
                s->n_bytes = n;
        }
        if (s->bits[byte] & (1u << (seq % 8)))
                return false;
        s->bits[byte] |= (uint8_t)(1u << (seq % 8));
        s->distinct++;
        return true;
}

/* Parses "key seq event_id" (event_id may be absent). 0 or -EINVAL. */
static int parse_line(const char *line, int64_t *key, int64_t *seq, char id[37])
{
        long long k, s;
        int n;

        id[0] = '\0';
        n = sscanf(line, "%lld %lld %36s", &k, &s, id);
        if (n < 2 || k < 0 || s < 0 || k > MAX_SEQ || s > MAX_SEQ)
                return -EINVAL;
        *key = k;
        *seq = s;
        return 0;
}

/* ---- produce ----------------------------------------------------------------------------- */

struct produce_stats {
        int64_t published;
        int64_t poison;
        int64_t errors;       /* publish calls that failed and were retried */
        int64_t fatal_errors; /* of those, errors sl_err_retriable() calls permanent */
};

static struct sl_envelope *make_event(int64_t key, int64_t seq)
{
        struct sl_envelope *env = sl_envelope_new(EVENT_TYPE, "ops", "nba", EVENT_DATE, NULL);
        char id[32];
        cJSON *payload;

        if (!env)
                return NULL;
        snprintf(id, sizeof(id), "%lld", (long long)key);
        if (sl_envelope_add_entity(env, "game", id) < 0) {
                sl_envelope_free(env);
                return NULL;
        }
        payload = cJSON_CreateObject();
        cJSON_AddNumberToObject(payload, "key", (double)key);
        cJSON_AddNumberToObject(payload, "seq", (double)seq);
        if (sl_envelope_set_payload(env, payload) < 0) {
                sl_envelope_free(env);
                return NULL;
        }
        return env;
}

/*
 * Keeps calling publish until it is accepted or the deadline passes: a broker
 * restart must delay events, never drop them. raw/len NULL means env.
 */
static int publish_retrying(struct sl_bus *bus, const char *topic, const struct sl_envelope *env,
                            const char *raw, size_t len, int64_t deadline_ms,
                            struct produce_stats *st)
{
        int last = 0;

        for (;;) {
                int rc = raw ? sl_bus_publish_raw(bus, topic, NULL, raw, len, NULL, 0)
                             : sl_bus_publish(bus, topic, env);
                if (rc == 0)
                        return 0;
                st->errors++;
                if (!sl_err_retriable(rc))
                        st->fatal_errors++;
                if (rc != last)
                        fprintf(stderr, "sl_bustest: publish: %s (%s); retrying\n", sl_strerror(rc),
                                sl_err_retriable(rc) ? "retriable" : "FATAL");
                last = rc;
                if (stop_signal || sl_mono_ms() >= deadline_ms)
                        return rc;
                sl_sleep_ms(50, &stop_flag);
        }
}

/* Writes the poison bytes to dir/poison.<n> so the test can compare the DLQ copy. */
static int save_poison(const char *dir, int64_t n, const char *data, size_t len)
{
        char path[4096];
        int fd, rc = 0;

        if (snprintf(path, sizeof(path), "%s/poison.%lld", dir, (long long)n) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t)len)
                rc = -EIO;
        close(fd);
        return rc;
}

/*
 * The n-th poison message: it starts like JSON but is not, and holds a
 * non-UTF-8 pair, a NUL and a control byte, so any text mangling (or C-string
 * truncation) on the way to the DLQ shows up in the byte-for-byte compare.
 * No newline, so line-based tools see one record per poison message.
 */
static size_t poison_bytes(char *buf, size_t size, int64_t n)
{
        static const char tail[] = {'\xff', '\xfe', '"', 'x', '\0', '\x01', 'z', 'z', '}', '\t'};
        int len = snprintf(buf, size, "{\"poison\":%lld,\"bytes\":\"", (long long)n);

        if (len < 0 || (size_t)len + sizeof(tail) > size)
                return 0;
        memcpy(buf + len, tail, sizeof(tail));
        return (size_t)len + sizeof(tail);
}

/* Paces publishing at rate events/s (0: no pacing). */
static void pace(int64_t rate, int64_t t0_ms, int64_t n_done)
{
        int64_t due_ms;

        if (rate <= 0)
                return;
        due_ms = t0_ms + n_done * 1000 / rate;
        if (due_ms > sl_mono_ms())
                sl_sleep_ms(due_ms - sl_mono_ms(), &stop_flag);
}

/* Flushes until confirmed or deadline; ETIMEDOUT chunks are retried (reconnects). */
static int flush_retrying(struct sl_bus *bus, int64_t deadline_ms)
{
        int rc;

        do {
                int64_t left = deadline_ms - sl_mono_ms();
                rc = sl_bus_flush(bus, left > 5000 ? 5000 : left > 0 ? left : 1);
                if (rc < 0 && rc != -ETIMEDOUT)
                        fprintf(stderr, "sl_bustest: flush: %s\n", sl_strerror(rc));
        } while (rc == -ETIMEDOUT && !stop_signal && sl_mono_ms() < deadline_ms);
        return rc;
}

static int cmd_produce(const struct args *a, struct sl_bus *bus)
{
        struct produce_stats st = {0};
        struct sl_bus_stats bs;
        int64_t t0 = sl_mono_ms(), deadline = t0 + a->publish_timeout_s * 1000;
        char poison[128];
        int rc = 0;

        for (int64_t i = 0; i < a->count && !stop_signal; i++) {
                int64_t seq = a->start + i;
                struct sl_envelope *env = make_event(seq % a->keys, seq);
                if (!env) {
                        fprintf(stderr, "sl_bustest: could not build event %lld\n", (long long)seq);
                        return 2;
                }
                rc = publish_retrying(bus, a->topic, env, NULL, 0, deadline, &st);
                sl_envelope_free(env);
                if (rc < 0)
                        break;
                st.published++;
                if (a->poison_every > 0 && (i + 1) % a->poison_every == 0 && i + 1 < a->count) {
                        size_t len = poison_bytes(poison, sizeof(poison), st.poison);
                        if (a->poison_dir && save_poison(a->poison_dir, st.poison, poison, len) < 0)
                                fprintf(stderr, "sl_bustest: could not save poison %lld\n",
                                        (long long)st.poison);
                        rc = publish_retrying(bus, a->topic, NULL, poison, len, deadline, &st);
                        if (rc < 0)
                                break;
                        st.poison++;
                }
                pace(a->rate, t0, i + 1);
        }
        if (rc == 0)
                rc = flush_retrying(bus, deadline);
        sl_bus_get_stats(bus, &bs);
        printf("produce: published=%lld poison=%lld confirmed=%llu publish_errors=%lld "
               "fatal_errors=%lld publish_retries=%llu reconnects=%llu flush=%s ms=%lld\n",
               (long long)st.published, (long long)st.poison, (unsigned long long)bs.confirmed,
               (long long)st.errors, (long long)st.fatal_errors,
               (unsigned long long)bs.publish_retries, (unsigned long long)bs.reconnects,
               rc == 0 ? "ok" : sl_strerror(rc), (long long)(sl_mono_ms() - t0));
        fflush(stdout);
        if (rc < 0 || st.published != a->count ||
            bs.confirmed != (uint64_t)(st.published + st.poison))
                return 1;
        return 0;
}

/* ---- consume ----------------------------------------------------------------------------- */

struct consume_ctx {
        const struct args *a;
        int fd;               /* FILE, O_APPEND */
        struct seqset seen;   /* seqs in FILE (this run and earlier ones) */
        struct seqset failed; /* seqs whose injected failure already happened */
        int64_t handled;      /* handler successes in this run */
        int64_t dups;         /* of those, seqs already in FILE */
        int64_t injected;     /* injected -EAGAIN failures */
        int64_t bad_payload;
};

/* Reads an existing FILE into ctx->seen so a restarted consumer continues the count. */
static int load_seen(struct consume_ctx *ctx, const char *path)
{
        char line[LINE_MAX_LEN], id[37];
        int64_t key, seq;
        FILE *f = fopen(path, "r");

        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof(line), f)) {
                if (parse_line(line, &key, &seq, id) == 0)
                        seqset_add(&ctx->seen, seq);
        }
        fclose(f);
        return 0;
}

static void sleep_us(int64_t us)
{
        struct timespec ts = {.tv_sec = (time_t)(us / 1000000),
                              .tv_nsec = (long)(us % 1000000) * 1000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_signal)
                ;
}

/* Appends one line with a single write(2): whole or not at all as far as readers care. */
static int append_line(struct consume_ctx *ctx, const char *line, size_t len)
{
        ssize_t n = write(ctx->fd, line, len);

        if (n != (ssize_t)len)
                return n < 0 ? -errno : -EIO;
        if (ctx->a->fsync_lines && fsync(ctx->fd) < 0)
                return -errno;
        return 0;
}

static int handle_event(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct consume_ctx *ctx = opaque;
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(env->payload, "key");
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(env->payload, "seq");
        char line[LINE_MAX_LEN];
        int64_t s;
        int len, rc;

        (void)msg;
        if (!cJSON_IsNumber(key) || !cJSON_IsNumber(seq) || seq->valuedouble < 0 ||
            seq->valuedouble > MAX_SEQ) {
                ctx->bad_payload++;
                return -EBADMSG;
        }
        s = (int64_t)seq->valuedouble;
        if (s == ctx->a->crash_on_seq)
                kill(getpid(), SIGKILL); /* a message that kills its consumer (crash loop) */
        if (ctx->a->fail_always_every > 0 && s % ctx->a->fail_always_every == 0) {
                ctx->injected++;
                return -EAGAIN; /* every attempt: retries run out, then the DLQ */
        }
        if (ctx->a->fail_every > 0 && s % ctx->a->fail_every == 0 && seqset_add(&ctx->failed, s)) {
                ctx->injected++;
                return -EAGAIN;
        }
        if (ctx->a->delay_us > 0)
                sleep_us(ctx->a->delay_us);
        len = snprintf(line, sizeof(line), "%lld %lld %s\n", (long long)key->valuedouble,
                       (long long)s, env->event_id);
        if (len < 0 || len >= (int)sizeof(line))
                return -EOVERFLOW;
        rc = append_line(ctx, line, (size_t)len);
        if (rc < 0) {
                fprintf(stderr, "sl_bustest: write %s: %s\n", ctx->a->out, sl_strerror(rc));
                return rc;
        }
        ctx->handled++;
        if (!seqset_add(&ctx->seen, s))
                ctx->dups++;
        return 0;
}

/* Polls until ctx->seen holds a->expect seqs, the deadline, or a signal. */
static void consume_loop(struct sl_bus *bus, struct consume_ctx *ctx, int64_t deadline_ms,
                         int64_t *poll_errors)
{
        const struct args *a = ctx->a;
        int last = 0;

        while (!stop_signal && sl_mono_ms() < deadline_ms &&
               (a->expect == 0 || ctx->seen.distinct < a->expect)) {
                int rc = sl_bus_poll(bus, handle_event, ctx, 200);
                if (rc >= 0)
                        continue;
                ++*poll_errors;
                if (rc != last)
                        fprintf(stderr, "sl_bustest: poll: %s (%s)\n", sl_strerror(rc),
                                sl_err_retriable(rc) ? "retriable" : "not retriable");
                last = rc;
                sl_sleep_ms(50, &stop_flag); /* the client reconnects; don't spin */
        }
}

static int cmd_consume(const struct args *a, struct sl_bus *bus)
{
        struct consume_ctx ctx = {.a = a, .fd = -1};
        struct sl_bus_stats bs;
        int64_t t0 = sl_mono_ms(), poll_errors = 0, before;
        int rc, drain_rc, exit_code;

        rc = load_seen(&ctx, a->out);
        if (rc < 0) {
                fprintf(stderr, "sl_bustest: read %s: %s\n", a->out, sl_strerror(rc));
                return 2;
        }
        before = ctx.seen.distinct;
        ctx.fd = open(a->out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (ctx.fd < 0) {
                fprintf(stderr, "sl_bustest: open %s: %s\n", a->out, strerror(errno));
                return 2;
        }
        consume_loop(bus, &ctx, t0 + a->timeout_s * 1000, &poll_errors);
        drain_rc = sl_bus_drain(bus, 10000);
        sl_bus_get_stats(bus, &bs);
        exit_code = a->expect == 0 || ctx.seen.distinct >= a->expect ? 0 : 1;
        printf("consume: %s distinct=%lld new=%lld handled=%lld dups=%lld injected=%lld "
               "consumed=%llu retries=%llu dead_lettered=%llu claimed=%llu reconnects=%llu "
               "poll_errors=%lld bad_payload=%lld drain=%s ms=%lld\n",
               exit_code == 0 ? "done"
               : stop_signal  ? "STOPPED"
                              : "TIMEOUT",
               (long long)ctx.seen.distinct, (long long)(ctx.seen.distinct - before),
               (long long)ctx.handled, (long long)ctx.dups, (long long)ctx.injected,
               (unsigned long long)bs.consumed, (unsigned long long)bs.retries,
               (unsigned long long)bs.dead_lettered, (unsigned long long)bs.claimed,
               (unsigned long long)bs.reconnects, (long long)poll_errors,
               (long long)ctx.bad_payload, drain_rc == 0 ? "ok" : sl_strerror(drain_rc),
               (long long)(sl_mono_ms() - t0));
        fflush(stdout);
        close(ctx.fd);
        free(ctx.seen.bits);
        free(ctx.failed.bits);
        return exit_code;
}

/* ---- check ------------------------------------------------------------------------------- */

struct check {
        int64_t lines, distinct, dups, redelivered_ids, outside, wrong_key, bad_lines;
        int64_t missing, reorders;
};

/* Per seq in range: first event_id seen (to tell redelivery from a republish). */
struct seen_slot {
        char id[37];
        bool seen;
};

/* Records one parsed line into the tallies. */
static void check_line(const struct args *a, struct check *c, struct seen_slot *slots,
                       int64_t *last_per_key, int64_t key, int64_t seq, const char *id)
{
        struct seen_slot *slot;

        c->lines++;
        if (seq < a->start || seq >= a->start + a->count || seq == a->except_seq) {
                if (c->outside++ < 5)
                        printf("# check: seq %lld outside [%lld, %lld)\n", (long long)seq,
                               (long long)a->start, (long long)(a->start + a->count));
                return;
        }
        if (key != seq % a->keys && c->wrong_key++ < 5)
                printf("# check: seq %lld has key %lld, expected %lld\n", (long long)seq,
                       (long long)key, (long long)(seq % a->keys));
        slot = &slots[seq - a->start];
        if (slot->seen) {
                c->dups++;
                if (strcmp(slot->id, id) != 0)
                        c->redelivered_ids++; /* same seq, new event_id: published twice */
                return;
        }
        slot->seen = true;
        snprintf(slot->id, sizeof(slot->id), "%s", id);
        c->distinct++;
        if (last_per_key[key % a->keys] > seq && c->reorders++ < 5)
                printf("# check: key %lld: seq %lld first seen after seq %lld\n", (long long)key,
                       (long long)seq, (long long)last_per_key[key % a->keys]);
        if (last_per_key[key % a->keys] < seq)
                last_per_key[key % a->keys] = seq;
}

static void report_missing(const struct args *a, struct check *c, const struct seen_slot *slots)
{
        for (int64_t i = 0; i < a->count; i++) {
                if (slots[i].seen || a->start + i == a->except_seq)
                        continue;
                if (c->missing++ < 10)
                        printf("# check: missing seq %lld\n", (long long)(a->start + i));
        }
}

static int cmd_check(const struct args *a)
{
        struct check c = {0};
        struct seen_slot *slots = sl_xcalloc((size_t)a->count + 1, sizeof(*slots));
        int64_t *last_per_key = sl_xmalloc((size_t)a->keys * sizeof(*last_per_key));
        char line[LINE_MAX_LEN], id[37];
        int64_t key, seq;
        bool ok;
        FILE *f = fopen(a->out, "r");

        for (int64_t k = 0; k < a->keys; k++)
                last_per_key[k] = -1;
        if (!f && errno != ENOENT) {
                printf("# check: cannot read %s: %s\n", a->out, strerror(errno));
                free(slots);
                free(last_per_key);
                return 1;
        }
        while (f && fgets(line, sizeof(line), f)) {
                if (parse_line(line, &key, &seq, id) < 0) {
                        c.bad_lines++;
                        continue;
                }
                check_line(a, &c, slots, last_per_key, key, seq, id);
        }
        if (f)
                fclose(f);
        report_missing(a, &c, slots);
        printf("# check: lines=%lld distinct=%lld missing=%lld duplicates=%lld "
               "republished=%lld outside=%lld wrong_key=%lld reorders=%lld bad_lines=%lld\n",
               (long long)c.lines, (long long)c.distinct, (long long)c.missing, (long long)c.dups,
               (long long)c.redelivered_ids, (long long)c.outside, (long long)c.wrong_key,
               (long long)c.reorders, (long long)c.bad_lines);
        ok = c.missing == 0 && c.outside == 0 && c.wrong_key == 0 && c.bad_lines == 0 &&
             (c.reorders == 0 || a->allow_reorder);
        free(slots);
        free(last_per_key);
        return ok ? 0 : 1;
}

/* ---- main -------------------------------------------------------------------------------- */

static struct sl_bus *open_bus(const struct args *a, bool consumer)
{
        struct sl_bus_opts opts = {0};
        char errstr[512];
        struct sl_bus *bus;

        opts.backend = a->backend;
        opts.url = a->url;
        opts.service = a->service;
        opts.group = a->group;
        opts.consumer = a->consumer;
        opts.stop = &stop_flag;
        opts.reconnect_max_ms = a->publish_timeout_s * 1000;
        if (consumer) {
                opts.topics[0] = a->topic;
                opts.from_beginning = true;
                opts.claim_idle_ms = a->claim_idle_ms;
                opts.max_deliveries = (int)a->max_deliveries;
                if (a->retry_delays) {
                        if (sl_retry_parse_delays(&opts.retry, a->retry_delays) < 0) {
                                fprintf(stderr, "sl_bustest: bad --retry-delays-ms\n");
                                return NULL;
                        }
                        opts.retry.max_attempts = opts.retry.n_delays + 1;
                        opts.retry.jitter_pct = -1;
                }
        }
        bus = sl_bus_open(&opts, errstr, sizeof(errstr));
        if (!bus)
                fprintf(stderr, "sl_bustest: sl_bus_open(%s, %s): %s\n",
                        a->backend ? a->backend : "redis-streams", a->url ? a->url : "default",
                        errstr);
        return bus;
}

static bool check_required(const struct args *a)
{
        bool ok = true;

        if (strcmp(a->cmd, "check") == 0) {
                ok &= require("--out", a->out);
                ok &= require("--count", a->count >= 0 ? a : NULL);
                ok &= require("--keys", a->keys > 0 ? a : NULL);
                return ok;
        }
        ok &= require("--backend", a->backend);
        ok &= require("--topic", a->topic);
        if (strcmp(a->cmd, "produce") == 0) {
                ok &= require("--count", a->count >= 0 ? a : NULL);
                ok &= require("--keys", a->keys > 0 ? a : NULL);
        } else {
                ok &= require("--group", a->group);
                ok &= require("--consumer", a->consumer);
                ok &= require("--out", a->out);
                ok &= require("--expect", a->expect >= 0 ? a : NULL);
        }
        return ok;
}

int main(int argc, char **argv)
{
        struct args a;
        struct sl_bus *bus = NULL;
        enum sl_log_level lvl = SL_LOG_INFO;
        const char *env_lvl = getenv("STATLINE_BUSTEST_LOG");
        int rc;

        if (parse_args(&a, argc, argv) < 0 ||
            (strcmp(a.cmd, "produce") != 0 && strcmp(a.cmd, "consume") != 0 &&
             strcmp(a.cmd, "check") != 0)) {
                usage();
                return 2;
        }
        if (!check_required(&a)) {
                usage();
                return 2;
        }
        if (env_lvl && sl_log_level_parse(env_lvl, &lvl) < 0)
                lvl = SL_LOG_INFO;
        sl_log_init("bustest", lvl);
        install_signals();
        if (strcmp(a.cmd, "check") == 0)
                return cmd_check(&a);
        bus = open_bus(&a, strcmp(a.cmd, "consume") == 0);
        if (!bus)
                return 2;
        rc = strcmp(a.cmd, "produce") == 0 ? cmd_produce(&a, bus) : cmd_consume(&a, bus);
        sl_bus_close(bus);
        return rc;
}
