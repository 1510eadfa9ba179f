/*
 * sl_rawpub: plays the scraper for tests/integration/raw_service.sh. Stores
 * a file in a blob directory the way the scraper does (content-addressed,
 * <sha[0:2]>/<sha>.json, temp file + rename) and publishes one
 * scraper.completed envelope naming it, through the public bus API.
 *
 *   sl_rawpub --backend B --url U --prefix P --blob-dir D --file F --source S
 *             [--kind K] [--game-date YYYY-MM-DD] [--game-id G] [--sport nba]
 *             [--correlation-id UUID] [--blob-path REL] [--sha HEX] [--no-store]
 *
 * --blob-path and --sha replace what the event says (path escapes, digest
 * mismatches; the path stays the real blob's unless --blob-path is given);
 * --no-store publishes without writing the blob. Prints one line
 * "published event_id=<id> sha=<sha> path=<rel> bytes=<n>" and exits 0 once
 * the broker confirmed the event; 1 on a publish error, 2 on bad arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include <sl/bus.h>
#include <sl/envelope.h>
#include <sl/log.h>
#include <sl/sha256.h>
#include <sl/util.h>

struct args {
        const char *backend, *url, *prefix, *blob_dir, *file, *source, *kind, *game_date;
        const char *game_id, *sport, *correlation_id, *blob_path, *sha;
        int no_store;
};

static int parse_args(struct args *a, int argc, char **argv)
{
        static const struct {
                const char *name;
                size_t off;
        } opts[] = {
            {"--backend", offsetof(struct args, backend)},
            {"--url", offsetof(struct args, url)},
            {"--prefix", offsetof(struct args, prefix)},
            {"--blob-dir", offsetof(struct args, blob_dir)},
            {"--file", offsetof(struct args, file)},
            {"--source", offsetof(struct args, source)},
            {"--kind", offsetof(struct args, kind)},
            {"--game-date", offsetof(struct args, game_date)},
            {"--game-id", offsetof(struct args, game_id)},
            {"--sport", offsetof(struct args, sport)},
            {"--correlation-id", offsetof(struct args, correlation_id)},
            {"--blob-path", offsetof(struct args, blob_path)},
            {"--sha", offsetof(struct args, sha)},
        };

        for (int i = 1; i < argc; i++) {
                size_t k;
                if (strcmp(argv[i], "--no-store") == 0) {
                        a->no_store = 1;
                        continue;
                }
                for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
                        if (strcmp(argv[i], opts[k].name) == 0)
                                break;
                if (k == sizeof(opts) / sizeof(opts[0]) || i + 1 == argc) {
                        fprintf(stderr, "sl_rawpub: bad argument %s\n", argv[i]);
                        return -EINVAL;
                }
                *(const char **)((char *)a + opts[k].off) = argv[++i];
        }
        if (!a->url || !a->prefix || !a->blob_dir || !a->file || !a->source) {
                fprintf(stderr,
                        "sl_rawpub: --url --prefix --blob-dir --file --source are required\n");
                return -EINVAL;
        }
        return 0;
}

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        struct sl_buf b;
        char chunk[65536];
        size_t n;

        if (!f)
                return NULL;
        sl_buf_init(&b, 0);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                sl_buf_append(&b, chunk, n);
        fclose(f);
        *len = b.len;
        if (!b.data)
                return sl_xstrdup("");
        return sl_buf_steal(&b);
}

/* The scraper's store: <dir>/<sha[0:2]>/<sha>.json written to a temp name and renamed. */
static int store(const char *dir, const char *sha, const char *data, size_t len)
{
        char sub[4096], tmp[4200], final[4200];
        int fd;

        snprintf(sub, sizeof(sub), "%s/%.2s", dir, sha);
        if (mkdir(sub, 0755) < 0 && errno != EEXIST)
                return -errno;
        snprintf(final, sizeof(final), "%s/%s.json", sub, sha);
        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%d", sub, sha, (int)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
                close(fd);
                return -EIO;
        }
        close(fd);
        return rename(tmp, final) < 0 ? -errno : 0;
}

static struct sl_envelope *build(const struct args *a, const char *sha, const char *rel, size_t len)
{
        struct sl_envelope *env = sl_envelope_new("scraper.completed", "scraper",
                                                  a->sport ? a->sport : "nba", a->game_date, NULL);
        cJSON *p = cJSON_CreateObject();

        if (!env)
                return NULL;
        if (a->correlation_id)
                snprintf(env->correlation_id, sizeof(env->correlation_id), "%s", a->correlation_id);
        cJSON_AddStringToObject(p, "source", a->source);
        if (a->kind)
                cJSON_AddStringToObject(p, "kind", a->kind);
        cJSON_AddStringToObject(p, "blob_sha256", sha);
        cJSON_AddStringToObject(p, "blob_path", rel);
        cJSON_AddNumberToObject(p, "bytes", (double)len);
        cJSON_AddStringToObject(p, "url", "http://127.0.0.1/test");
        if (a->game_id) {
                cJSON_AddStringToObject(p, "game_id", a->game_id);
                sl_envelope_add_entity(env, "game", a->game_id);
        }
        if (a->game_date)
                cJSON_AddStringToObject(p, "game_date", a->game_date);
        sl_envelope_set_payload(env, p);
        sl_envelope_set_idem_key(env, sha);
        return env;
}

int main(int argc, char **argv)
{
        struct args a = {0};
        struct sl_bus_opts o = {0};
        struct sl_envelope *env = NULL;
        struct sl_bus *bus = NULL;
        char sha[SL_SHA256_HEX_LEN + 1], rel[128], topic[256], errstr[512];
        char *data = NULL;
        size_t len = 0;
        int rc = 2;

        sl_log_init("rawpub", SL_LOG_WARN);
        if (parse_args(&a, argc, argv) < 0)
                return 2;
        data = slurp(a.file, &len);
        if (!data) {
                fprintf(stderr, "sl_rawpub: %s: %s\n", a.file, strerror(errno));
                return 2;
        }
        sl_sha256_hex(data, len, sha);
        if (!a.no_store && store(a.blob_dir, sha, data, len) < 0) {
                fprintf(stderr, "sl_rawpub: cannot store the blob in %s\n", a.blob_dir);
                goto out;
        }
        snprintf(rel, sizeof(rel), "%.2s/%s.json", sha, sha); /* where the bytes really are */
        if (a.sha)
                snprintf(sha, sizeof(sha), "%s", a.sha);
        env = build(&a, sha, a.blob_path ? a.blob_path : rel, len);
        if (!env || sl_bus_topic(topic, sizeof(topic), a.prefix, env->sport, "scraper") < 0) {
                fprintf(stderr, "sl_rawpub: bad envelope arguments\n");
                goto out;
        }
        o.backend = a.backend;
        o.url = a.url;
        o.prefix = a.prefix;
        o.service = "rawpub";
        bus = sl_bus_open(&o, errstr, sizeof(errstr));
        rc = 1;
        if (!bus) {
                fprintf(stderr, "sl_rawpub: %s\n", errstr);
                goto out;
        }
        if (sl_bus_publish(bus, topic, env) == 0 && sl_bus_flush(bus, 30000) == 0) {
                printf("published event_id=%s sha=%s path=%s bytes=%zu\n", env->event_id, sha,
                       a.blob_path ? a.blob_path : rel, len);
                rc = 0;
        }
out:
        sl_bus_close(bus);
        sl_envelope_free(env);
        free(data);
        return rc;
}
