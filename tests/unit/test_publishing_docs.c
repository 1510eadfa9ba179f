/*
 * The pure parts of statline-publishing (services/publishing/publishing.c):
 * canonical JSON (sorted keys, byte-identical for equal input), ETags and
 * If-None-Match matching, document paths, the atomic writer (on a temp
 * directory: content, no temp file left, mode), serving a document
 * (200/304/404) and the publishing.completed envelope and idempotency key.
 * No network, no database.
 */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include <sl/envelope.h>
#include <sl/sha256.h>
#include <sl/util.h>

#include "publishing.h"
#include "sl_test.h"

static char tmpdir[256];

static void test_canonical(void)
{
        const char *a = "{\"b\":1,\"a\":{\"z\":[{\"y\":2,\"x\":1}],\"c\":null},\"sport\":\"nba\","
                        "\"v\":21.30,\"i\":1629029,\"t\":1610612747,\"n\":-110}";
        const char *b = "{\"sport\":\"nba\",\"n\":-110,\"t\":1610612747,\"i\":1629029,\"v\":21.3,"
                        "\"a\":{\"c\":null,\"z\":[{\"x\":1,\"y\":2}]},\"b\":1}";
        cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
        size_t la = 0, lb = 0;
        char *ra = pub_json_render(ja, &la), *rb = pub_json_render(jb, &lb);

        SL_CHECKF(strcmp(ra, "{\"a\":{\"c\":null,\"z\":[{\"x\":1,\"y\":2}]},\"b\":1,\"i\":1629029,"
                             "\"n\":-110,\"sport\":\"nba\",\"t\":1610612747,\"v\":21.3}\n") == 0,
                  "%s", ra);
        SL_CHECK(la == strlen(ra) && la == lb && memcmp(ra, rb, la) == 0);
        /* Arrays keep their order (rows are ordered in SQL). */
        cJSON *arr = cJSON_Parse("[3,1,2]");
        char *rarr = pub_json_render(arr, NULL);
        SL_CHECK(strcmp(rarr, "[3,1,2]\n") == 0);
        /* Re-rendering a parsed rendering is a fixed point. */
        cJSON *again = cJSON_Parse(ra);
        char *rr = pub_json_render(again, NULL);
        SL_CHECK(strcmp(rr, ra) == 0);
        free(ra);
        free(rb);
        free(rarr);
        free(rr);
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        cJSON_Delete(arr);
        cJSON_Delete(again);
        pub_json_sort(NULL);
}

static void test_etag(void)
{
        char sha[SL_SHA256_HEX_LEN + 1], etag[PUB_ETAG_SIZE];

        /* SHA-256("abc"): FIPS 180-2 example. */
        pub_etag("abc", 3, sha, etag);
        SL_CHECK(strcmp(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
                 0);
        SL_CHECK(
            strcmp(etag, "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"") ==
            0);
        SL_CHECK(pub_etag_match(etag, etag));
        SL_CHECK(pub_etag_match("*", etag));
        SL_CHECK(pub_etag_match(
            " \"x\" , W/\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"",
            etag));
        SL_CHECK(!pub_etag_match("\"x\", \"y\"", etag));
        SL_CHECK(!pub_etag_match("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                                 etag));
        SL_CHECK(!pub_etag_match("", etag));
        SL_CHECK(!pub_etag_match(NULL, etag));
        SL_CHECK(pub_etag_match("\"a\",*", etag));
}

static void test_ids_paths(void)
{
        char p[PUB_RELPATH_MAX];

        SL_CHECK(pub_player_id_ok("2544"));
        SL_CHECK(pub_player_id_ok("1629029"));
        SL_CHECK(!pub_player_id_ok(""));
        SL_CHECK(!pub_player_id_ok(NULL));
        SL_CHECK(!pub_player_id_ok("0123"));
        SL_CHECK(!pub_player_id_ok("12a"));
        SL_CHECK(!pub_player_id_ok("../1"));
        SL_CHECK(!pub_player_id_ok("12345678901234567890")); /* 20 digits */
        SL_CHECK(pub_doc_path(p, sizeof(p), "nba", "2025-01-10", "predictions", NULL) == 0 &&
                 strcmp(p, "nba/2025-01-10/predictions.json") == 0);
        SL_CHECK(pub_doc_path(p, sizeof(p), "nba", "2025-01-10", "games", NULL) == 0 &&
                 strcmp(p, "nba/2025-01-10/games.json") == 0);
        SL_CHECK(pub_doc_path(p, sizeof(p), "nba", "2025-01-10", "player", "2544") == 0 &&
                 strcmp(p, "nba/2025-01-10/players/2544.json") == 0);
        SL_CHECK(pub_doc_path(p, sizeof(p), "nba", "2025-02-30", "games", NULL) == -EINVAL);
        SL_CHECK(pub_doc_path(p, sizeof(p), "nba", "2025-01-10", "player", "x") == -EINVAL);
        SL_CHECK(pub_doc_path(p, sizeof(p), "../x", "2025-01-10", "games", NULL) == -EINVAL);
        SL_CHECK(pub_doc_path(p, sizeof(p), "nba", "2025-01-10", "other", NULL) == -EINVAL);
        SL_CHECK(pub_doc_path(p, 10, "nba", "2025-01-10", "games", NULL) == -ENAMETOOLONG);
}

static int count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        if (!d)
                return -1;
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

static void test_files(void)
{
        char err[256], path[512], etag[PUB_ETAG_SIZE], sha[SL_SHA256_HEX_LEN + 1];
        const char *rel = "nba/2025-01-10/players/2544.json";
        struct sl_buf out;
        struct stat st;
        char *data = NULL;
        size_t len = 0;

        SL_CHECKF(pub_write_atomic(tmpdir, rel, "{\"a\":1}\n", 8, err, sizeof(err)) == 0, "%s",
                  err);
        snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
        SL_CHECK(stat(path, &st) == 0 && st.st_size == 8 && (st.st_mode & 0777) == 0644);
        SL_CHECK(pub_file_same(tmpdir, rel, "{\"a\":1}\n", 8));
        SL_CHECK(!pub_file_same(tmpdir, rel, "{\"a\":2}\n", 8));
        SL_CHECK(!pub_file_same(tmpdir, rel, "{\"a\":1}", 7));
        SL_CHECK(!pub_file_same(tmpdir, "nba/none.json", "x", 1));
        /* Replace: new bytes, still one file (no temp file left behind). */
        SL_CHECK(pub_write_atomic(tmpdir, rel, "{\"a\":22}\n", 9, err, sizeof(err)) == 0);
        SL_CHECK(pub_file_read(tmpdir, rel, &data, &len) == 0 && len == 9 &&
                 strcmp(data, "{\"a\":22}\n") == 0);
        free(data);
        snprintf(path, sizeof(path), "%s/nba/2025-01-10/players", tmpdir);
        SL_CHECK(count_entries(path) == 1);
        SL_CHECK(pub_file_read(tmpdir, "nba/x.json", &data, &len) == -ENOENT && data == NULL);

        /* Serving: 200 with the bytes and the ETag, 304 on a match, 404 when absent. */
        pub_etag("{\"a\":22}\n", 9, sha, etag);
        char got[PUB_ETAG_SIZE];
        sl_buf_init(&out, 0);
        SL_CHECK(pub_serve_doc(tmpdir, rel, NULL, &out, got) == 200);
        SL_CHECK(out.len == 9 && memcmp(out.data, "{\"a\":22}\n", 9) == 0);
        SL_CHECK(strcmp(got, etag) == 0);
        sl_buf_reset(&out);
        SL_CHECK(pub_serve_doc(tmpdir, rel, etag, &out, got) == 304 && out.len == 0);
        SL_CHECK(strcmp(got, etag) == 0);
        sl_buf_reset(&out);
        SL_CHECK(pub_serve_doc(tmpdir, rel, "\"stale\"", &out, got) == 200);
        sl_buf_reset(&out);
        SL_CHECK(pub_serve_doc(tmpdir, "nba/2025-01-11/games.json", NULL, &out, got) == 404);
        SL_CHECK(got[0] == '\0' && strstr(out.data, "not published") != NULL);
        sl_buf_fini(&out);

        /* A write into a path whose parent is a file fails cleanly. */
        SL_CHECK(pub_write_atomic(tmpdir, "nba/2025-01-10/players/2544.json/x.json", "x", 1, err,
                                  sizeof(err)) < 0);

        /* A batch over two directories: every file in place, no temp file left. */
        {
                const char *rels[] = {"nba/2025-01-12/games.json", "nba/2025-01-12/players/1.json",
                                      "nba/2025-01-12/players/2.json"};
                const void *datas[] = {"g\n", "one\n", "two\n"};
                size_t lens[] = {2, 4, 4};
                SL_CHECKF(pub_write_batch(tmpdir, rels, datas, lens, 3, err, sizeof(err)) == 0,
                          "%s", err);
                SL_CHECK(pub_file_same(tmpdir, rels[0], "g\n", 2));
                SL_CHECK(pub_file_same(tmpdir, rels[1], "one\n", 4));
                SL_CHECK(pub_file_same(tmpdir, rels[2], "two\n", 4));
                snprintf(path, sizeof(path), "%s/nba/2025-01-12/players", tmpdir);
                SL_CHECK(count_entries(path) == 2);
                snprintf(path, sizeof(path), "%s/nba/2025-01-12", tmpdir);
                SL_CHECK(count_entries(path) == 2); /* games.json and players/ */
                /* the third cannot be written: nothing renamed, no temp file left */
                const char *bad[] = {"nba/2025-01-12/players/1.json", "nba/2025-01-12/games.json",
                                     "nba/2025-01-12/players/2.json/x.json"};
                const void *bdatas[] = {"ONE\n", "G\n", "x"};
                size_t blens[] = {4, 2, 1};
                SL_CHECK(pub_write_batch(tmpdir, bad, bdatas, blens, 3, err, sizeof(err)) < 0);
                SL_CHECK(pub_file_same(tmpdir, rels[1], "one\n", 4));
                SL_CHECK(pub_file_same(tmpdir, rels[0], "g\n", 2));
                snprintf(path, sizeof(path), "%s/nba/2025-01-12/players", tmpdir);
                SL_CHECK(count_entries(path) == 2);
                snprintf(path, sizeof(path), "%s/nba/2025-01-12", tmpdir);
                SL_CHECK(count_entries(path) == 2);
                SL_CHECK(pub_write_batch(tmpdir, NULL, NULL, NULL, 0, err, sizeof(err)) == 0);
        }
}

static void test_event(void)
{
        struct sl_envelope *parent =
            sl_envelope_new("prediction.completed", "prediction", "nba", "2025-01-10", NULL);
        struct sl_envelope *ev;
        struct pub_doc docs[2];
        char k1[SL_ENVELOPE_MAX_IDEM_KEY], k2[SL_ENVELOPE_MAX_IDEM_KEY],
            k3[SL_ENVELOPE_MAX_IDEM_KEY];
        char *s;

        memset(docs, 0, sizeof(docs));
        snprintf(docs[0].path, sizeof(docs[0].path), "nba/2025-01-10/games.json");
        pub_etag("g", 1, docs[0].sha256, docs[0].etag);
        docs[0].changed = true;
        snprintf(docs[1].path, sizeof(docs[1].path), "nba/2025-01-10/players/7.json");
        pub_etag("p", 1, docs[1].sha256, docs[1].etag);
        sl_envelope_add_entity(parent, "player", "7");
        sl_envelope_add_entity(parent, "player", "12");

        ev = pub_completed_new(parent, "publishing:documents:x", docs, 2);
        SL_CHECK(ev != NULL);
        SL_CHECK(strcmp(ev->type, "publishing.completed") == 0 &&
                 strcmp(ev->phase, "publishing") == 0);
        SL_CHECK(strcmp(ev->correlation_id, parent->correlation_id) == 0);
        SL_CHECK(strcmp(ev->causation_id, parent->event_id) == 0);
        SL_CHECK(strncmp(ev->traceparent + 3, parent->traceparent + 3, 32) == 0);
        SL_CHECK(strcmp(ev->game_date, "2025-01-10") == 0 && ev->n_entities == 2);
        s = cJSON_PrintUnformatted(ev->payload);
        SL_CHECKF(
            strstr(s, "\"documents\":[{\"path\":\"nba/2025-01-10/games.json\",\"etag\":\"\\\"") &&
                strstr(s, "\"changed\":true},{\"path\":\"nba/2025-01-10/players/7.json\"") &&
                strstr(s, "\"changed\":false}]") && strstr(s, "\"game_date\":\"2025-01-10\""),
            "%s", s);
        cJSON_free(s);
        sl_envelope_free(ev);

        /* The key: entity order does not matter, content does. */
        pub_idem_key(k1, sizeof(k1), parent, docs, 2);
        struct sl_envelope *swapped =
            sl_envelope_new("prediction.completed", "prediction", "nba", "2025-01-10", NULL);
        sl_envelope_add_entity(swapped, "player", "12");
        sl_envelope_add_entity(swapped, "player", "7");
        pub_idem_key(k2, sizeof(k2), swapped, docs, 2);
        SL_CHECKF(strcmp(k1, k2) == 0, "%s vs %s", k1, k2);
        SL_CHECK(strncmp(k1, "publishing:documents:nba:2025-01-10:", 36) == 0 &&
                 strlen(k1) == 36 + SL_SHA256_HEX_LEN);
        pub_etag("p2", 2, docs[1].sha256, docs[1].etag);
        pub_idem_key(k3, sizeof(k3), parent, docs, 2);
        SL_CHECK(strcmp(k1, k3) != 0);
        pub_idem_key(k3, sizeof(k3), swapped, docs, 1); /* fewer documents */
        SL_CHECK(strcmp(k2, k3) != 0);

        /* No game date: no event. */
        struct sl_envelope *nodate =
            sl_envelope_new("prediction.completed", "prediction", "nba", NULL, NULL);
        SL_CHECK(pub_completed_new(nodate, NULL, docs, 2) == NULL);
        sl_envelope_free(nodate);
        sl_envelope_free(swapped);
        sl_envelope_free(parent);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

int main(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/sl-pubtest.XXXXXX");
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        test_canonical();
        test_etag();
        test_ids_paths();
        test_files();
        test_event();
        if (nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
        return SL_DONE();
}
