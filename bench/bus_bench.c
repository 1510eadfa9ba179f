/*
 * bench/bus: publish-and-consume throughput and publish-to-handle latency of
 * 1 KiB envelopes through libcommon's bus, per backend. bench/run.sh runs it
 * next to a baseline measured on the same server in the same run
 * (redis-benchmark for Redis, kcat for Kafka) and prints the ratio.
 *
 *   bus_bench --backend B --url U --mode throughput --count N
 *   bus_bench --backend B --url U --mode latency --rate R --seconds S
 *   bus_bench --mode codec --count N      (envelope build+serialize and parse cost, no bus)
 *
 * Prints one JSON object on stdout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/util.h>

struct bench {
        const char *backend, *url, *mode;
        char topic[128], group[64];
        int64_t count;   /* throughput: events */
        int64_t rate;    /* latency: events/s */
        int64_t seconds; /* latency: duration */
        int64_t size;    /* serialized envelope bytes */
        /* consumer side */
        volatile int ready, done;
        volatile int64_t handled; /* read by the main thread while the consumer runs */
        int64_t first_us;         /* first event handled */
        int64_t last_us;
        int64_t *lat_us; /* latency samples */
        int64_t n_lat, cap_lat;
};

static int on_event(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct bench *b = opaque;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(env->payload, "t_us");
        int64_t now = sl_mono_us();

        (void)msg;
        if (b->handled++ == 0)
                b->first_us = now;
        b->last_us = now;
        if (cJSON_IsNumber(t) && b->n_lat < b->cap_lat)
                b->lat_us[b->n_lat++] = now - (int64_t)t->valuedouble;
        return 0;
}

static struct sl_bus *open_bus(struct bench *b, bool consume)
{
        struct sl_bus_opts o = {.backend = b->backend,
                                .url = b->url,
                                .service = "bench",
                                .group = b->group,
                                .from_beginning = true};
        char err[512];
        struct sl_bus *bus;

        if (consume)
                o.topics[0] = b->topic;
        bus = sl_bus_open(&o, err, sizeof(err));
        if (!bus) {
                fprintf(stderr, "bus_bench: %s\n", err);
                exit(1);
        }
        return bus;
}

static void *consumer(void *arg)
{
        struct bench *b = arg;
        struct sl_bus *bus = open_bus(b, true);
        int64_t want = b->count;

        b->ready = 1;
        while (!b->done && b->handled < want) {
                int rc = sl_bus_poll(bus, on_event, b, 100);
                if (rc < 0 && !sl_err_retriable(rc))
                        break;
        }
        sl_bus_drain(bus, 5000);
        sl_bus_close(bus);
        return NULL;
}

/* A fresh envelope padded with pad (make_pad() sizes it). */
static struct sl_envelope *make_env(const char *pad, int64_t seq)
{
        struct sl_envelope *env =
            sl_envelope_new("raw.completed", "raw", "nba", "2025-11-05", NULL);
        char id[16];

        snprintf(id, sizeof(id), "%lld", (long long)(seq % 64));
        sl_envelope_add_entity(env, "game", id);
        cJSON_AddNumberToObject(env->payload, "seq", (double)seq);
        cJSON_AddNumberToObject(env->payload, "t_us", (double)sl_mono_us());
        cJSON_AddStringToObject(env->payload, "pad", pad);
        return env;
}

/* Sizes the padding so that one envelope serializes to b->size bytes. */
static char *make_pad(const struct bench *b)
{
        struct sl_envelope *env = make_env("", 0);
        size_t len;
        char *s = sl_envelope_serialize(env, &len), *pad;
        size_t n = (size_t)b->size > len ? (size_t)b->size - len : 0;

        free(s);
        sl_envelope_free(env);
        pad = sl_xmalloc(n + 1);
        memset(pad, 'x', n);
        pad[n] = '\0';
        return pad;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

static double pct(const struct bench *b, double p)
{
        int64_t i = (int64_t)(p * (double)(b->n_lat - 1));
        return b->n_lat ? (double)b->lat_us[i] / 1000.0 : -1;
}

static void wait_consumer(struct bench *b, pthread_t th, int64_t deadline_ms)
{
        while (b->handled < b->count && sl_mono_ms() < deadline_ms)
                sl_sleep_ms(5, NULL);
        b->done = 1;
        pthread_join(th, NULL);
}

static void report(const struct bench *b, int64_t t0, int64_t t_pub)
{
        int64_t n = b->count;

        printf("{\"backend\":\"%s\",\"mode\":\"%s\",\"count\":%lld,\"handled\":%lld,"
               "\"bytes\":%lld,\"publish_per_s\":%.0f,\"consume_per_s\":%.0f,\"e2e_per_s\":%.0f,"
               "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
               b->backend, b->mode, (long long)n, (long long)b->handled, (long long)b->size,
               (double)n * 1e6 / (double)(t_pub - t0 + 1),
               (double)b->handled * 1e6 / (double)(b->last_us - b->first_us + 1),
               (double)b->handled * 1e6 / (double)(b->last_us - t0 + 1), pct(b, 0.50), pct(b, 0.99),
               pct(b, 1.0));
}

/*
 * Throughput on durable backends is measured like the baselines: publish all
 * (publish_per_s), then consume all from the start (consume_per_s, first to
 * last event, so a Kafka group join is not counted). Pub/Sub and latency runs
 * consume concurrently, since Pub/Sub keeps nothing for a late subscriber.
 */
static int run(struct bench *b)
{
        struct sl_bus *bus = open_bus(b, false);
        char *pad = make_pad(b);
        pthread_t th;
        int64_t n = b->count, t0, t_pub, interval_us = b->rate ? 1000000 / b->rate : 0;
        bool latency = strcmp(b->mode, "latency") == 0;
        bool concurrent = latency || strcmp(b->backend, "redis-pubsub") == 0;

        b->cap_lat = n;
        b->lat_us = sl_xcalloc((size_t)n, sizeof(int64_t));
        if (concurrent) {
                pthread_create(&th, NULL, consumer, b);
                while (!b->ready)
                        sl_sleep_ms(1, NULL);
                sl_sleep_ms(300, NULL); /* let the subscription settle (pubsub, kafka rebalance) */
        }
        t0 = sl_mono_us();
        for (int64_t i = 0; i < n; i++) {
                struct sl_envelope *env = make_env(pad, i);
                int rc = sl_bus_publish(bus, b->topic, env);
                sl_envelope_free(env);
                if (rc == 0 && latency)
                        rc = sl_bus_flush(bus, 10000);
                if (rc < 0) {
                        fprintf(stderr, "bus_bench: publish: %s\n", sl_strerror(rc));
                        return 1;
                }
                if (latency) {
                        int64_t next = t0 + (i + 1) * interval_us;
                        while (sl_mono_us() < next)
                                usleep(100);
                }
        }
        if (sl_bus_flush(bus, 60000) < 0)
                fprintf(stderr, "bus_bench: flush failed\n");
        t_pub = sl_mono_us();
        if (!concurrent)
                pthread_create(&th, NULL, consumer, b);
        wait_consumer(b, th, sl_mono_ms() + 120000);
        sl_qsort(b->lat_us, (size_t)b->n_lat, sizeof(int64_t), cmp_i64);
        report(b, t0, t_pub);
        free(pad);
        free(b->lat_us);
        sl_bus_close(bus);
        return b->handled == n ? 0 : 1;
}

/*
 * Codec cost per envelope of b->size bytes, no bus: what every published
 * event pays (build + serialize) and every consumed one (strict parse).
 */
static int run_codec(struct bench *b)
{
        char *pad = make_pad(b), err[256];
        struct sl_envelope *env = make_env(pad, 1), *parsed;
        size_t len;
        char *text = sl_envelope_serialize(env, &len);
        int64_t n = b->count, t0, t1, t2;

        t0 = sl_mono_us();
        for (int64_t i = 0; i < n; i++) {
                struct sl_envelope *e = make_env(pad, i);
                size_t l;
                free(sl_envelope_serialize(e, &l));
                sl_envelope_free(e);
        }
        t1 = sl_mono_us();
        for (int64_t i = 0; i < n; i++) {
                if (sl_envelope_parse(text, len, 0, &parsed, err, sizeof(err)) < 0) {
                        fprintf(stderr, "bus_bench: %s\n", err);
                        return 1;
                }
                sl_envelope_free(parsed);
        }
        t2 = sl_mono_us();
        printf("{\"mode\":\"codec\",\"bytes\":%zu,\"build_serialize_us\":%.2f,\"parse_us\":%.2f}\n",
               len, (double)(t1 - t0) / (double)n, (double)(t2 - t1) / (double)n);
        free(text);
        free(pad);
        sl_envelope_free(env);
        return 0;
}

static int64_t arg_i64(const char *s, int64_t min, int64_t max)
{
        int64_t v;
        if (sl_parse_i64(s, min, max, &v) < 0) {
                fprintf(stderr, "bus_bench: bad number '%s'\n", s);
                exit(2);
        }
        return v;
}

int main(int argc, char **argv)
{
        struct bench b = {.backend = "redis-streams",
                          .url = NULL,
                          .mode = "throughput",
                          .count = 20000,
                          .rate = 1000,
                          .seconds = 10,
                          .size = 1024};

        for (int i = 1; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--backend") == 0)
                        b.backend = argv[i + 1];
                else if (strcmp(argv[i], "--url") == 0)
                        b.url = argv[i + 1];
                else if (strcmp(argv[i], "--mode") == 0)
                        b.mode = argv[i + 1];
                else if (strcmp(argv[i], "--count") == 0)
                        b.count = arg_i64(argv[i + 1], 1, 10000000);
                else if (strcmp(argv[i], "--rate") == 0)
                        b.rate = arg_i64(argv[i + 1], 1, 1000000);
                else if (strcmp(argv[i], "--seconds") == 0)
                        b.seconds = arg_i64(argv[i + 1], 1, 3600);
                else if (strcmp(argv[i], "--size") == 0)
                        b.size = arg_i64(argv[i + 1], 256, 1 << 20);
                else {
                        fprintf(
                            stderr,
                            "usage: bus_bench --backend B --url U --mode throughput|latency|codec "
                            "[--count N] [--rate R --seconds S] [--size BYTES]\n");
                        return 2;
                }
        }
        if (strcmp(b.mode, "latency") == 0)
                b.count = b.rate * b.seconds;
        if (strcmp(b.mode, "codec") == 0)
                return run_codec(&b);
        sl_log_init("bench", SL_LOG_WARN);
        snprintf(b.topic, sizeof(b.topic), "bench.%ld.%s.%s", (long)getpid(), b.backend, b.mode);
        snprintf(b.group, sizeof(b.group), "bench-%ld", (long)getpid());
        return run(&b);
}
