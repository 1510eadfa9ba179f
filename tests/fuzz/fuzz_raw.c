/*
 * Fuzz target: every raw payload parser (services/raw/parsers.h). The first
 * input byte picks the source name handed to raw_parse() (its low 7 bits: a
 * kind, a family or auto-detection, table below) and the caps (high bit:
 * tight caps, else the defaults); the rest is the payload. An accepted batch is
 * walked completely: every cell, every row as COPY text.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

#include "fuzz.h"
#include "parsers.h"

/* Index = (first byte & 0x7f) % count; scripts/fuzz.sh writes seeds with the matching byte. */
static const char *const sources[] = {
    "auto",          "boxscore_v2",   "boxscore_v3",     "summary_v2",         "playbyplay_v2",
    "scoreboard_v2", "scoreboard_v3", "league_game_log", "league_game_finder", "injuries",
    "props",         "boxscore",      "scoreboard",      "schedule",           "summary",
    "playbyplay",    "gamelog",       "nhl_playbyplay",  "nhl_boxscore",       "nhl_schedule",
    "nhl",
};

/* Byte 0's high bit: parse under these small caps, so every cap's error path is reached. */
static const struct raw_opts tight = {
    .max_bytes = 4096, .max_values = 300, .max_rows = 4, .max_str = 12};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        return 0;
}

static void walk(const struct raw_batch *batch)
{
        struct sl_buf line;

        sl_buf_init(&line, 1u << 20);
        (void)raw_kind_name(raw_batch_kind(batch));
        if (strlen(raw_batch_date(batch)) > 10)
                abort();
        for (size_t i = 0; i < raw_batch_ntables(batch); i++) {
                const struct raw_table *t = raw_batch_table(batch, i);
                size_t ncols = raw_table_ncols(t);

                if (raw_batch_find(batch, raw_table_name(t)) == NULL)
                        abort();
                for (size_t r = 0; r < raw_table_nrows(t); r++) {
                        const char *const *row = raw_table_row(t, r);

                        for (size_t c = 0; c < ncols; c++)
                                if (row[c] && strlen(row[c]) > (1u << 20))
                                        abort();
                        sl_buf_reset(&line);
                        if (raw_table_copy_row(t, r, &line) < 0)
                                abort();
                        if (line.len == 0 || line.data[line.len - 1] != '\n')
                                abort();
                }
        }
        sl_buf_fini(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct raw_batch *batch = NULL;
        char errstr[512];
        const char *source;
        int rc;

        if (size < 1)
                return 0;
        source = sources[(data[0] & 0x7f) % (sizeof(sources) / sizeof(sources[0]))];
        rc = raw_parse(source, (const char *)data + 1, size - 1, data[0] & 0x80 ? &tight : NULL,
                       &batch, errstr, sizeof(errstr));
        if (rc == 0)
                walk(batch);
        else if (batch || rc != -EBADMSG || !errstr[0])
                abort(); /* contract: -EBADMSG, a reason, no batch */
        raw_batch_free(batch);
        return 0;
}
