/*
 * Fuzz target: HTTP request and query parsing of the operations endpoint
 * (libcommon/src/http.c on libmicrohttpd) with the publishing read API
 * mounted as the service mounts it (pub_http_games, pub_http_predictions:
 * ?date=&sport=&player= and If-None-Match). Each input is one GET
 * (fuzz_net.c builds it: first line the target, further lines headers) over
 * loopback to a server started once. Besides "no crash", checks: the
 * server always answers or closes within 30 s, and no answer ever carries the bytes of a file
 * outside the publish root (path traversal through the query).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sl/http.h>
#include <sl/log.h>
#include <sl/util.h>

#include "fuzz.h"
#include "publishing.h"

#define OUTSIDE_TEXT                                                                               \
        "{\"outside\":\"OUTSIDE-THE-PUBLISH-ROOT-7f3a\"}\n" /* a file next to the served dir */

static struct sl_http *http;
static struct pub_svc svc;
static int port;
static char *resp;

static void put_file(const char *dir, const char *rel, const char *text)
{
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        f = fopen(path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                abort();
}

/* base/outside.json (the marker) and base/root/nba/2024-11-05/{games,predictions,players/2544}.json
 */
static void make_tree(char *base, size_t base_size)
{
        static const char *const subs[] = {"root", "root/nba", "root/nba/2024-11-05",
                                           "root/nba/2024-11-05/players"};
        char dir[600];

        snprintf(base, base_size, "/tmp/sl-fuzz-http.XXXXXX");
        if (!mkdtemp(base))
                abort();
        fuzz_remove_at_exit(base);
        put_file(base, "outside.json", OUTSIDE_TEXT);
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
                snprintf(dir, sizeof(dir), "%s/%s", base, subs[i]);
                if (mkdir(dir, 0755) < 0)
                        abort();
        }
        put_file(base, "root/nba/2024-11-05/games.json", "{\"games\":[]}\n");
        put_file(base, "root/nba/2024-11-05/predictions.json", "{\"predictions\":[]}\n");
        put_file(base, "root/nba/2024-11-05/players/2544.json", "{\"player\":2544}\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        struct sl_http_opts opts = {.addr = "127.0.0.1:0", .max_connections = 16};
        char base[64], root[128], errstr[256];

        (void)argc;
        (void)argv;
        sl_log_init("fuzz", SL_LOG_ERROR);
        make_tree(base, sizeof(base));
        snprintf(root, sizeof(root), "%s/root", base);
        svc.root = realpath(root, NULL);
        snprintf(svc.sport, sizeof(svc.sport), "nba");
        http = sl_http_start_opts(&opts, errstr, sizeof(errstr));
        if (!http || !svc.root) {
                fprintf(stderr, "fuzz_http: %s\n", errstr);
                abort();
        }
        if (sl_http_handle(http, "/v1/games", NULL, pub_http_games, &svc) < 0 ||
            sl_http_handle(http, "/v1/predictions", NULL, pub_http_predictions, &svc) < 0)
                abort();
        sl_http_set_ready(http, true);
        port = sl_http_port(http);
        resp = sl_xmalloc(FUZZ_HTTP_RESPONSE_MAX);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int status;

        if (!http)
                LLVMFuzzerInitialize(NULL, NULL);
        sl_http_tick(http);
        status =
            fuzz_http_get(port, data, size, FUZZ_HTTP_TIMEOUT_MS, resp, FUZZ_HTTP_RESPONSE_MAX);
        /* 0: closed without a status line (malformed request); < 0: no answer at all. */
        if (status < 0 || (status > 0 && (status < 100 || status > 599))) {
                fprintf(stderr, "fuzz_http: no HTTP answer (%d)\n", status);
                abort();
        }
        if (fuzz_http_body_is(resp, OUTSIDE_TEXT)) {
                fprintf(stderr, "fuzz_http: served a file outside the publish root\n");
                abort();
        }
        return 0;
}
