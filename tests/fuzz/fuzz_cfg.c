/*
 * Fuzz target: the config loader (libcommon/src/cfg.c) on a table with every
 * option type. Input layout: the bytes up to the first NUL are the config
 * file ("key = value" lines, read through --config), every further
 * NUL-separated item is one command-line argument (--set k=v, --set=k=v,
 * --help-config, junk). Items naming another --config are dropped (they
 * would read arbitrary paths, which is not what is tested here). Secret
 * _file keys may name real files: run with stdin at /dev/null.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sl/cfg.h>
#include <sl/log.h>

#include "fuzz.h"

#define MAX_ARGS 64

static struct {
        const char *backend, *password, *dsn, *level, *name;
        int timeout_ms;
        int64_t big;
        bool flag;
} cfg;

static const struct sl_cfg_opt opts[] = {
    SL_CFG_ENUM("bus.backend", &cfg.backend, "redis-streams",
                "redis-streams|redis-pubsub|kafka|mem", SL_CFG_SHARED, "Bus."),
    SL_CFG_STR("bus.password", &cfg.password, NULL, SL_CFG_SECRET | SL_CFG_SHARED, "Secret."),
    SL_CFG_STR("pg.dsn", &cfg.dsn, "postgresql://x", SL_CFG_SECRET | SL_CFG_REQUIRED, "DSN."),
    SL_CFG_ENUM("log.level", &cfg.level, "info", "debug|info|warn|error", SL_CFG_SHARED, "Lvl."),
    SL_CFG_STR("fuzz.name", &cfg.name, "", 0, "A string."),
    SL_CFG_INT("drain.timeout_ms", &cfg.timeout_ms, 8000, 100, 60000, 0, "An int."),
    SL_CFG_INT("fuzz.big", &cfg.big, 0, INT64_MIN, INT64_MAX, 0, "An int64."),
    SL_CFG_BOOL("fuzz.flag", &cfg.flag, false, 0, "A bool."),
    SL_CFG_END,
};

static char path[64];
static char config_arg[96];

static void remove_file(void)
{
        unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        int fd;

        (void)argc;
        (void)argv;
        snprintf(path, sizeof(path), "/tmp/sl-fuzz-cfg.XXXXXX");
        fd = mkstemp(path);
        if (fd < 0)
                abort();
        close(fd);
        atexit(remove_file);
        snprintf(config_arg, sizeof(config_arg), "--config=%s", path);
        /* The environment is not fuzzed: keep the runner's from leaking in. */
        unsetenv("STATLINE_CONFIG");
        return 0;
}

static void write_file(const uint8_t *data, size_t size)
{
        FILE *f = fopen(path, "wb");

        if (!f)
                abort();
        if (size && fwrite(data, 1, size, f) != size)
                abort();
        fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *argv[MAX_ARGS + 3];
        char *copy, *p, *end;
        char errstr[SL_CFG_ERRSTR_SIZE];
        size_t file_len;
        int argc = 0;

        if (!path[0])
                LLVMFuzzerInitialize(NULL, NULL);
        p = memchr(data, '\0', size);
        file_len = p ? (size_t)(p - (const char *)data) : size;
        write_file(data, file_len);

        /* NUL-terminated copy of the argument part. */
        copy = malloc(size - file_len + 1);
        if (!copy)
                abort();
        memcpy(copy, data + file_len, size - file_len);
        copy[size - file_len] = '\0';
        argv[argc++] = "statline-fuzz";
        argv[argc++] = config_arg;
        end = copy + (size - file_len);
        for (p = copy; p < end && argc < MAX_ARGS + 2; p += strlen(p) + 1) {
                if (p == copy && *p == '\0')
                        continue; /* the separator itself */
                if (strncmp(p, "--config", 8) == 0)
                        continue;
                argv[argc++] = p;
        }
        argv[argc] = NULL;

        (void)sl_cfg_load(opts, "fuzz", argc, argv, errstr, sizeof(errstr));
        sl_cfg_free(opts);
        sl_log_clear_secrets();
        free(copy);
        return 0;
}
