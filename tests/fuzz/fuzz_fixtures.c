/*
 * Fuzz target: request and query handling of statline-fixtures
 * (tools/fixtures/server.c: parameter collection and caps, every endpoint's
 * parameter checks, the controls /_faults /_now /_injury /_stats, and the
 * replay-mode file name mapping). Two servers are started once: the
 * simulated league (seed 1) and a replay server on a small directory. An
 * input starting with 'R' goes to the replay server (minus that byte), any
 * other to the simulation; fuzz_net.c turns it into one GET. After every
 * input armed faults are cleared, so a fuzzed /_faults?kind=slow cannot
 * stall later inputs. Checks: an answer (or a close) within 30 s, and no
 * answer carries a file from outside the replay directory.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sl/log.h>
#include <sl/util.h>

#include "fuzz.h"
#include "server.h"

#define OUTSIDE_TEXT                                                                               \
        "{\"outside\":\"OUTSIDE-THE-REPLAY-DIR-91c2\"}\n" /* a file next to the served dir */

static struct fixtures_server *sim, *replay;
static char *resp;

static void put_file(const char *dir, const char *name, const char *text)
{
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                abort();
}

static struct fixtures_server *start(const struct fixtures_server_opts *opts)
{
        char errstr[256];
        struct fixtures_server *srv = fixtures_server_start(opts, errstr, sizeof(errstr));

        if (!srv) {
                fprintf(stderr, "fuzz_fixtures: %s\n", errstr);
                abort();
        }
        return srv;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        struct fixtures_server_opts opts = {.seed = 1, .max_connections = 32};
        char base[64], dir[128];

        (void)argc;
        (void)argv;
        sl_log_init("fuzz", SL_LOG_ERROR);
        snprintf(base, sizeof(base), "/tmp/sl-fuzz-fixtures.XXXXXX");
        if (!mkdtemp(base))
                abort();
        fuzz_remove_at_exit(base);
        put_file(base, "outside.json", OUTSIDE_TEXT);
        snprintf(dir, sizeof(dir), "%s/replay", base);
        if (mkdir(dir, 0755) < 0)
                abort();
        put_file(dir, "stats_scoreboardv3.json", "{\"scoreboard\":{}}\n");
        put_file(dir, "boxscoretraditionalv2_0021600270.json", "{\"resultSets\":[]}\n");
        put_file(dir, "scoreboardv2_gleague_2020-02-25.json", "{\"resultSets\":[]}\n");
        put_file(dir, "leaguegamelog_T_2018-19_regular_season.json", "{\"resultSets\":[]}\n");
        put_file(dir, "injuries_2024-12-01.json", "{\"players\":[]}\n");
        sim = start(&opts);
        opts.replay_dir = dir;
        replay = start(&opts);
        resp = sl_xmalloc(FUZZ_HTTP_RESPONSE_MAX);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t clear[] = "/_faults?clear=1";
        struct fixtures_server *srv = sim;
        int status;

        if (!sim)
                LLVMFuzzerInitialize(NULL, NULL);
        if (size > 0 && data[0] == 'R') {
                srv = replay;
                data++;
                size--;
        }
        status = fuzz_http_get(fixtures_server_port(srv), data, size, FUZZ_HTTP_TIMEOUT_MS, resp,
                               FUZZ_HTTP_RESPONSE_MAX);
        if (status < 0) {
                fprintf(stderr, "fuzz_fixtures: no HTTP answer (%d)\n", status);
                abort();
        }
        if (fuzz_http_body_is(resp, OUTSIDE_TEXT)) {
                fprintf(stderr, "fuzz_fixtures: served a file outside the replay directory\n");
                abort();
        }
        /* The path may arrive %-encoded (/%5ffaults): clear unconditionally. */
        if (fuzz_http_get(fixtures_server_port(srv), clear, sizeof(clear) - 1, FUZZ_HTTP_TIMEOUT_MS,
                          resp, FUZZ_HTTP_RESPONSE_MAX) != 200)
                abort();
        return 0;
}
