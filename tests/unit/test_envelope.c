/*
 * Envelope parse/build/serialize tests. Table-driven over
 * tests/data/envelope/{valid,invalid}/NAME.json and proto/examples/NAME.json,
 * located through STATLINE_SRC (set by meson to the source root).
 */
#include <sl/envelope.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

#include "sl_test.h"

#define MAX_FILE (2 * 1024 * 1024)

static const char *src_root(void)
{
        const char *s = getenv("STATLINE_SRC");
        return s && *s ? s : ".";
}

/* Reads a whole file (at most MAX_FILE bytes) into a malloc'd buffer without a NUL terminator. */
static char *read_file(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        size_t n;

        if (!f)
                return NULL;
        buf = sl_xmalloc(MAX_FILE);
        n = fread(buf, 1, MAX_FILE, f);
        fclose(f);
        *len = n;
        /* shrink to the exact size so ASan/valgrind catch any read past len */
        return sl_xrealloc(buf, n ? n : 1);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists *.json in dir (sorted); returns the count, names in *out (free each and the array). */
static size_t list_json(const char *dir, char ***out)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char **v = NULL;
        size_t n = 0;

        *out = NULL;
        if (!d)
                return 0;
        while ((de = readdir(d)) != NULL) {
                size_t len = strlen(de->d_name);
                if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
                        continue;
                v = sl_xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = sl_xasprintf("%s/%s", dir, de->d_name);
        }
        closedir(d);
        if (n)
                sl_qsort(v, n, sizeof(*v), cmp_str);
        *out = v;
        return n;
}

static void free_list(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static const char *base_name(const char *path)
{
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

/* serialize -> parse -> serialize gives identical bytes; returns true on success. */
static bool round_trips(const struct sl_envelope *env, char *why, size_t why_size)
{
        struct sl_envelope *again = NULL;
        size_t len1, len2;
        char *s1 = sl_envelope_serialize(env, &len1), *s2 = NULL;
        int rc = sl_envelope_parse(s1, len1, 0, &again, why, why_size);
        bool ok = false;

        if (rc == 0) {
                s2 = sl_envelope_serialize(again, &len2);
                ok = len1 == len2 && memcmp(s1, s2, len1) == 0 && strlen(s1) == len1;
                if (!ok)
                        snprintf(why, why_size, "bytes differ:\n#   %.300s\n#   %.300s", s1, s2);
        }
        free(s1);
        free(s2);
        sl_envelope_free(again);
        return ok;
}

static void test_valid_files(void)
{
        char **files, *dir = sl_xasprintf("%s/tests/data/envelope/valid", src_root());
        size_t n = list_json(dir, &files);

        SL_CHECKF(n >= 20, "valid cases found in %s: %zu", dir, n);
        for (size_t i = 0; i < n; i++) {
                struct sl_envelope *env = NULL;
                char err[256] = "", why[1024] = "";
                size_t len = 0;
                char *buf = read_file(files[i], &len);
                int rc = buf ? sl_envelope_parse(buf, len, 0, &env, err, sizeof(err)) : -ENOENT;
                SL_CHECKF(rc == 0 && env, "valid/%s: rc=%d %s", base_name(files[i]), rc, err);
                if (env)
                        SL_CHECKF(round_trips(env, why, sizeof(why)), "valid/%s round trip: %s",
                                  base_name(files[i]), why);
                sl_envelope_free(env);
                free(buf);
        }
        free_list(files, n);
        free(dir);
}

static void test_invalid_files(void)
{
        char **files, *dir = sl_xasprintf("%s/tests/data/envelope/invalid", src_root());
        size_t n = list_json(dir, &files);

        SL_CHECKF(n >= 30, "invalid cases found in %s: %zu", dir, n);
        for (size_t i = 0; i < n; i++) {
                struct sl_envelope *env = (struct sl_envelope *)1; /* must be reset to NULL */
                char err[256] = "";
                size_t len = 0;
                char *buf = read_file(files[i], &len);
                int rc = buf ? sl_envelope_parse(buf, len, 0, &env, err, sizeof(err)) : -ENOENT;
                SL_CHECKF(rc == -EBADMSG && env == NULL && err[0] != '\0',
                          "invalid/%s: rc=%d reason=\"%s\"", base_name(files[i]), rc, err);
                printf("#   %s -> %s\n", base_name(files[i]), err);
                free(buf);
        }
        free_list(files, n);
        free(dir);
}

/* The six golden examples parse, round-trip and form one causal chain with one trace. */
static void test_examples(void)
{
        static const char *const order[] = {"scraper",    "raw",        "analytics",
                                            "precompute", "prediction", "publishing"};
        struct sl_envelope *prev = NULL;

        for (size_t i = 0; i < 6; i++) {
                struct sl_envelope *env = NULL;
                char err[256] = "", why[1024] = "", t1[33], t2[33];
                char *path =
                    sl_xasprintf("%s/proto/examples/%s.completed.json", src_root(), order[i]);
                size_t len = 0;
                char *buf = read_file(path, &len);
                int rc = buf ? sl_envelope_parse(buf, len, 0, &env, err, sizeof(err)) : -ENOENT;

                SL_CHECKF(rc == 0, "example %s: rc=%d %s", path, rc, err);
                if (env) {
                        SL_CHECK(strcmp(env->phase, order[i]) == 0);
                        SL_CHECK(strncmp(env->type, order[i], strlen(order[i])) == 0);
                        SL_CHECK(strcmp(env->sport, "nba") == 0);
                        SL_CHECK(env->n_entities > 0 && env->idempotency_key != NULL);
                        SL_CHECKF(round_trips(env, why, sizeof(why)), "example %s: %s", order[i],
                                  why);
                }
                if (env && prev) {
                        sl_envelope_trace_id(env, t1);
                        sl_envelope_trace_id(prev, t2);
                        SL_CHECK(strcmp(env->correlation_id, prev->correlation_id) == 0);
                        SL_CHECK(strcmp(env->causation_id, prev->event_id) == 0);
                        SL_CHECK(strcmp(t1, t2) == 0 && strlen(t1) == 32);
                        SL_CHECK(env->produced_at_ms > prev->produced_at_ms);
                } else if (env) {
                        SL_CHECK(env->causation_id[0] == '\0');
                }
                sl_envelope_free(prev);
                prev = env;
                free(buf);
                free(path);
        }
        sl_envelope_free(prev);

        /* no other example may sneak in unparsed */
        char **files, *dir = sl_xasprintf("%s/proto/examples", src_root());
        size_t n = list_json(dir, &files);
        SL_CHECKF(n >= 6, "examples: %zu", n);
        for (size_t i = 0; i < n; i++) {
                struct sl_envelope *env = NULL;
                char err[256] = "";
                size_t len = 0;
                char *buf = read_file(files[i], &len);
                SL_CHECKF(buf && sl_envelope_parse(buf, len, 0, &env, err, sizeof(err)) == 0,
                          "example %s: %s", base_name(files[i]), err);
                sl_envelope_free(env);
                free(buf);
        }
        free_list(files, n);
        free(dir);
}

static char *example(const char *name, size_t *len)
{
        char *path = sl_xasprintf("%s/proto/examples/%s", src_root(), name);
        char *buf = read_file(path, len);
        free(path);
        if (!buf) {
                fprintf(stderr, "cannot read example %s (STATLINE_SRC=%s)\n", name, src_root());
                exit(1);
        }
        return buf;
}

/* The byte cap is checked before any parsing, and the max_bytes argument is honoured. */
static void test_caps(void)
{
        struct sl_envelope *env = NULL;
        char err[256] = "";
        size_t len = 0, big = SL_ENVELOPE_MAX_BYTES + 1;
        char *ex = example("raw.completed.json", &len);
        char *buf = sl_xmalloc(big);

        /* 1 MiB + 1: garbage (would be a JSON error) still reports the cap */
        memset(buf, '{', big);
        SL_CHECK(sl_envelope_parse(buf, big, 0, &env, err, sizeof(err)) == -EBADMSG);
        SL_CHECKF(strstr(err, "cap") != NULL, "%s", err);
        /* a valid envelope padded with whitespace to exactly 1 MiB parses; +1 byte does not */
        memcpy(buf, ex, len);
        memset(buf + len, ' ', big - len);
        SL_CHECKF(sl_envelope_parse(buf, big - 1, 0, &env, err, sizeof(err)) == 0, "%s", err);
        sl_envelope_free(env);
        env = NULL;
        SL_CHECK(sl_envelope_parse(buf, big, 0, &env, err, sizeof(err)) == -EBADMSG && !env);
        SL_CHECKF(strstr(err, "cap") != NULL, "%s", err);

        /* explicit cap: len - 1 fails, len succeeds */
        SL_CHECK(sl_envelope_parse(ex, len, len - 1, &env, err, sizeof(err)) == -EBADMSG);
        SL_CHECKF(strstr(err, "cap") != NULL, "%s", err);
        SL_CHECK(sl_envelope_parse(ex, len, len, &env, err, sizeof(err)) == 0);
        sl_envelope_free(env);
        env = NULL;

        /* odd arguments */
        SL_CHECK(sl_envelope_parse(ex, len, 0, NULL, err, sizeof(err)) == -EINVAL);
        SL_CHECK(sl_envelope_parse(NULL, 0, 0, &env, err, sizeof(err)) == -EBADMSG);
        SL_CHECK(sl_envelope_parse("[]", 2, 0, &env, NULL, 0) == -EBADMSG);
        SL_CHECK(sl_envelope_parse("[]", 2, 0, &env, err, 8) == -EBADMSG && strlen(err) == 7);
        free(buf);
        free(ex);
}

/* Builds {"...":..., "payload": <body>} from the raw example with payload replaced. */
static char *with_payload(const char *body)
{
        size_t len;
        char *ex = example("raw.completed.json", &len), *out;
        cJSON *root = cJSON_ParseWithLength(ex, len), *p = cJSON_Parse(body);
        cJSON_ReplaceItemInObjectCaseSensitive(root, "payload", p);
        out = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        free(ex);
        return out;
}

static void test_value_and_entity_caps(void)
{
        struct sl_envelope *env = NULL;
        struct sl_buf b;
        char err[256] = "", why[1024] = "", *doc;
        int rc;

        /* SL_ENVELOPE_MAX_VALUES: 100,001 numbers in one array */
        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "{\"a\":[0");
        for (int i = 0; i < SL_ENVELOPE_MAX_VALUES; i++)
                sl_buf_puts(&b, ",0");
        sl_buf_puts(&b, "]}");
        doc = with_payload(b.data);
        rc = sl_envelope_parse(doc, strlen(doc), 0, &env, err, sizeof(err));
        SL_CHECKF(rc == -EBADMSG && strstr(err, "values"), "value cap: %d %s", rc, err);
        free(doc);
        sl_buf_fini(&b);

        /* SL_ENVELOPE_MAX_ENTITIES via the builder: 10,000 fit and round-trip, 10,001 do not */
        env = sl_envelope_new("raw.completed", "raw", "nba", "2025-11-03", NULL);
        for (int i = 0; i < SL_ENVELOPE_MAX_ENTITIES; i++) {
                char id[16];
                snprintf(id, sizeof(id), "%d", 1000000 + i);
                rc = sl_envelope_add_entity(env, "player", id);
                if (rc < 0)
                        break;
        }
        SL_CHECK(rc == 0 && env->n_entities == SL_ENVELOPE_MAX_ENTITIES);
        SL_CHECK(sl_envelope_add_entity(env, "player", "1") == -E2BIG);
        SL_CHECK(env->n_entities == SL_ENVELOPE_MAX_ENTITIES);
        SL_CHECKF(round_trips(env, why, sizeof(why)), "10000 entities: %s", why);
        sl_envelope_free(env);
}

static void test_new(void)
{
        struct sl_envelope *root =
            sl_envelope_new("scraper.completed", "scraper", "nba", "2025-11-03", NULL);
        struct sl_envelope *child, *copy;
        char t1[33], t2[33], why[1024] = "";
        char *s1, *s2;

        SL_CHECK(root != NULL);
        SL_CHECK(strcmp(root->schema_version, SL_ENVELOPE_VERSION) == 0);
        SL_CHECK(sl_uuid_version(root->event_id) == 7);
        SL_CHECK(sl_uuid_valid(root->correlation_id) && root->causation_id[0] == '\0');
        SL_CHECK(strlen(root->traceparent) == 55 && strncmp(root->traceparent, "00-", 3) == 0);
        SL_CHECK(strcmp(root->traceparent + 53, "01") == 0);
        SL_CHECK(cJSON_IsObject(root->payload) && root->payload->child == NULL);
        SL_CHECK(strcmp(root->game_date, "2025-11-03") == 0 && root->produced_at_ms > 0);
        SL_CHECKF(round_trips(root, why, sizeof(why)), "root: %s", why);

        /* a child continues the trace: same trace id and flags, new span, causation = parent */
        memcpy(root->traceparent + 53, "00", 2);
        child = sl_envelope_new("raw.completed", "raw", "nba", NULL, root);
        SL_CHECK(child != NULL);
        SL_CHECK(strcmp(child->correlation_id, root->correlation_id) == 0);
        SL_CHECK(strcmp(child->causation_id, root->event_id) == 0);
        SL_CHECK(strcmp(child->event_id, root->event_id) != 0);
        sl_envelope_trace_id(root, t1);
        sl_envelope_trace_id(child, t2);
        SL_CHECK(strlen(t1) == 32 && strcmp(t1, t2) == 0);
        SL_CHECK(strncmp(child->traceparent + 36, root->traceparent + 36, 16) != 0);
        SL_CHECK(strcmp(child->traceparent + 53, "00") == 0);
        SL_CHECK(child->game_date[0] == '\0');
        SL_CHECKF(round_trips(child, why, sizeof(why)), "child: %s", why);

        /* two roots get different traces and correlation ids */
        struct sl_envelope *other =
            sl_envelope_new("scraper.completed", "scraper", "nba", NULL, NULL);
        sl_envelope_trace_id(other, t2);
        SL_CHECK(strcmp(t1, t2) != 0);
        SL_CHECK(strcmp(other->correlation_id, root->correlation_id) != 0);
        sl_envelope_free(other);

        /* setters */
        SL_CHECK(sl_envelope_add_entity(child, "game", "0022500165") == 0);
        SL_CHECK(sl_envelope_add_entity(child, "team", "1610612747") == 0);
        SL_CHECK(sl_envelope_add_entity(child, "Player", "2544") == -EINVAL);
        SL_CHECK(sl_envelope_add_entity(child, "player", "") == -EINVAL);
        SL_CHECK(sl_envelope_add_entity(child, "player", "25\n44") == -EINVAL);
        SL_CHECK(child->n_entities == 2);
        SL_CHECK(sl_envelope_set_idem_key(child, "raw:nba:0022500165") == 0);
        SL_CHECK(sl_envelope_set_idem_key(child, "") == -EINVAL);
        SL_CHECK(strcmp(child->idempotency_key, "raw:nba:0022500165") == 0);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "rows", 31);
        SL_CHECK(sl_envelope_set_payload(child, p) == 0);
        SL_CHECK(sl_envelope_set_payload(child, cJSON_CreateArray()) == -EINVAL);
        SL_CHECK(sl_envelope_set_payload(child, NULL) == -EINVAL);
        SL_CHECK(cJSON_GetObjectItem(child->payload, "rows") != NULL);
        child->replay_count = 2;
        SL_CHECKF(round_trips(child, why, sizeof(why)), "child with fields: %s", why);

        /* dup is deep and serializes identically */
        copy = sl_envelope_dup(child);
        s1 = sl_envelope_serialize(child, NULL);
        s2 = sl_envelope_serialize(copy, NULL);
        SL_CHECK(strcmp(s1, s2) == 0);
        SL_CHECK(copy->payload != child->payload && copy->entities != child->entities);
        SL_CHECK(sl_envelope_add_entity(copy, "player", "2544") == 0 && child->n_entities == 2);
        SL_CHECK(sl_envelope_set_idem_key(copy, NULL) == 0 && child->idempotency_key != NULL);
        SL_CHECK(strstr(s1, "\"replay_count\":2,\"payload\":{\"rows\":31}}") != NULL);
        SL_CHECK(strncmp(s1, "{\"schema_version\":\"1.0\",\"event_id\":", 35) == 0);
        free(s1);
        free(s2);

        /* invalid arguments give NULL */
        SL_CHECK(sl_envelope_new("Raw", "raw", "nba", NULL, NULL) == NULL);
        SL_CHECK(sl_envelope_new("raw.completed", "transform", "nba", NULL, NULL) == NULL);
        SL_CHECK(sl_envelope_new("raw.completed", "raw", "NBA", NULL, NULL) == NULL);
        SL_CHECK(sl_envelope_new("raw.completed", "raw", "nba", "2025-02-30", NULL) == NULL);
        SL_CHECK(sl_envelope_dup(NULL) == NULL);
        sl_envelope_free(NULL);

        sl_envelope_free(copy);
        sl_envelope_free(child);
        sl_envelope_free(root);
}

/* Specific reasons for a few cases (the message names the field). */
static void test_reasons(void)
{
        static const struct {
                const char *file, *want;
        } cases[] = {
            {"schema_version_unknown_major_2.0.json",
             "unsupported schema_version 2.0 (this build reads major 1)"},
            {"event_id_uuid_v4.json", "event_id: not a UUIDv7"},
            {"payload_array.json", "payload: expected object, got array"},
            {"game_date_feb_30.json", "game_date: "},
            {"traceparent_all_zero_trace_id.json", "traceparent: all-zero trace id"},
            {"affected_entities_over_cap_10001.json", "affected_entities: 10001 entries"},
            {"duplicate_key_event_id.json", "duplicate key \"event_id\""},
            {"duplicate_key_in_payload.json", "payload: duplicate key \"rows\""},
            {"nested_depth_bomb.json", "nesting deeper than 64"},
            {"trailing_garbage.json", "trailing data"},
            {"invalid_utf8_in_string.json", "invalid UTF-8"},
            {"empty_file.json", "empty input"},
            {"truncated_mid_string.json", "truncated"},
            {"affected_entities_id_number.json",
             "affected_entities[0].id: expected string, got number"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct sl_envelope *env = NULL;
                char err[256] = "";
                char *path =
                    sl_xasprintf("%s/tests/data/envelope/invalid/%s", src_root(), cases[i].file);
                size_t len = 0;
                char *buf = read_file(path, &len);
                if (buf)
                        sl_envelope_parse(buf, len, 0, &env, err, sizeof(err));
                SL_CHECKF(strstr(err, cases[i].want) != NULL, "%s: want \"%s\", got \"%s\"",
                          cases[i].file, cases[i].want, err);
                free(buf);
                free(path);
        }
}

/* xorshift64*: deterministic across runs and platforms. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 2685821657736338717ULL;
}

/* Applies one random edit to buf (len bytes, capacity cap); returns the new length. */
static size_t mutate(unsigned char *buf, size_t len, size_t cap)
{
        static const char tokens[] = "{}[]\",:\\0-eE.tfn \x00\xff\xc3";
        size_t at = len ? (size_t)(rng() % len) : 0;

        switch (rng() % 6) {
        case 0: /* flip a bit */
                if (len)
                        buf[at] ^= (unsigned char)(1u << (rng() % 8));
                return len;
        case 1: /* random byte */
                if (len)
                        buf[at] = (unsigned char)rng();
                return len;
        case 2: /* JSON-significant byte */
                if (len)
                        buf[at] = (unsigned char)tokens[rng() % (sizeof(tokens) - 1)];
                return len;
        case 3: /* truncate */
                return at;
        case 4: /* delete a byte */
                if (len) {
                        memmove(buf + at, buf + at + 1, len - at - 1);
                        return len - 1;
                }
                return len;
        default: /* insert a byte */
                if (len < cap) {
                        memmove(buf + at + 1, buf + at, len - at);
                        buf[at] = (unsigned char)tokens[rng() % (sizeof(tokens) - 1)];
                        return len + 1;
                }
                return len;
        }
}

static void test_fuzz(void)
{
        static const char *const names[] = {
            "scraper.completed.json",    "raw.completed.json",        "analytics.completed.json",
            "precompute.completed.json", "prediction.completed.json", "publishing.completed.json"};
        const char *env_iters = getenv("SL_FUZZ_ITERS"); /* longer local runs */
        int64_t iters = 20000;
        int bad_rc = 0, accepted = 0, unstable = 0;
        char why[1024], *ex[6];
        size_t ex_len[6];

        if (env_iters && sl_parse_i64(env_iters, 1, INT32_MAX, &iters) < 0)
                iters = 20000;
        for (int i = 0; i < 6; i++)
                ex[i] = example(names[i], &ex_len[i]);
        for (int64_t it = 0; it < iters; it++) {
                size_t len = ex_len[it % 6], cap;
                char *buf;
                struct sl_envelope *env = NULL;
                char err[256] = "";
                int rc, edits = 1 + (int)(rng() % 4);

                cap = len + 8;
                buf = sl_xmalloc(cap);
                memcpy(buf, ex[it % 6], len);
                for (int e = 0; e < edits; e++)
                        len = mutate((unsigned char *)buf, len, cap);
                buf = sl_xrealloc(buf, len ? len : 1); /* exact size: overreads are caught */
                rc = sl_envelope_parse(buf, len, 0, &env, err, sizeof(err));
                if (rc == 0) {
                        accepted++;
                        if (!round_trips(env, why, sizeof(why)))
                                unstable++;
                } else if (rc != -EBADMSG || err[0] == '\0' || env != NULL) {
                        bad_rc++;
                }
                sl_envelope_free(env);
                free(buf);
        }
        for (int i = 0; i < 6; i++)
                free(ex[i]);
        printf("# fuzz: %lld mutations, %d still valid\n", (long long)iters, accepted);
        SL_CHECKF(bad_rc == 0, "fuzz: %d results other than 0 / -EBADMSG+reason", bad_rc);
        SL_CHECKF(unstable == 0, "fuzz: %d accepted mutants did not round-trip", unstable);
}

int main(void)
{
        test_valid_files();
        test_invalid_files();
        test_examples();
        test_caps();
        test_value_and_entity_caps();
        test_new();
        test_reasons();
        test_fuzz();
        return SL_DONE();
}
