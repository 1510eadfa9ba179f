/* Unit tests for sl/cfg.h: precedence, validation, secrets, help and docs output. */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sl/cfg.h>
#include <sl/log.h>
#include <sl/util.h>

#include "sl_test.h"

static struct tcfg {
        const char *backend;
        int64_t drain_ms;
        int workers;
        const char *dsn;
        bool from_beginning;
        const char *level;
        const char *name;
} cfg;

static const struct sl_cfg_opt opts[] = {
    SL_CFG_STR("bus.backend", &cfg.backend, "redis-streams", SL_CFG_REQUIRED | SL_CFG_SHARED,
               "Message bus backend."),
    SL_CFG_INT("drain.timeout_ms", &cfg.drain_ms, 8000, 100, 60000, 0, "Time allowed to drain."),
    SL_CFG_INT("workers", &cfg.workers, 2, 1, 64, 0, "Worker count."),
    SL_CFG_STR("pg.dsn", &cfg.dsn, NULL, SL_CFG_REQUIRED | SL_CFG_SECRET, "PostgreSQL DSN."),
    SL_CFG_BOOL("bus.from_beginning", &cfg.from_beginning, false, 0,
                "New groups start at the oldest event."),
    SL_CFG_ENUM("log.level", &cfg.level, "info", "debug|info|warn|error", SL_CFG_SHARED,
                "Minimum log level."),
    SL_CFG_STR("name", &cfg.name, NULL, 0, "Optional name, a|b allowed."),
    SL_CFG_END,
};

static char dir[] = "/tmp/sl_test_cfg_XXXXXX";
static char errstr[SL_CFG_ERRSTR_SIZE];

static const char *const env_vars[] = {
    "STATLINE_CONFIG",
    "STATLINE_BUS_BACKEND",
    "STATLINE_LOG_LEVEL",
    "STATLINE_T_BUS_BACKEND",
    "STATLINE_T_DRAIN_TIMEOUT_MS",
    "STATLINE_T_WORKERS",
    "STATLINE_T_PG_DSN",
    "STATLINE_T_PG_DSN_FILE",
    "STATLINE_PG_DSN",
    "STATLINE_T_BUS_FROM_BEGINNING",
    "STATLINE_T_LOG_LEVEL",
    "STATLINE_T_NAME",
    "STATLINE_T_TYPO",
    "STATLINE_T_NAME_FILE",
};

static void clear_env(void)
{
        for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
                unsetenv(env_vars[i]);
}

/* Loads opts for service "t" with the given NULL-terminated arguments. */
static int load(const char *first, ...)
{
        char *argv[32] = {"statline-t"};
        int argc = 1;
        va_list ap;

        va_start(ap, first);
        for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
                argv[argc++] = (char *)a;
        va_end(ap);
        sl_cfg_free(opts);
        return sl_cfg_load(opts, "t", argc, argv, errstr, sizeof(errstr));
}

static char *path_in_dir(const char *name)
{
        return sl_xasprintf("%s/%s", dir, name);
}

/* Writes text to dir/name and returns the path (free() it). */
static char *write_file(const char *name, const char *text)
{
        char *path = path_in_dir(name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ssize_t n = write(fd, text, strlen(text));

        SL_CHECK(fd >= 0 && n == (ssize_t)strlen(text));
        close(fd);
        return path;
}

/* Runs fn with stdout redirected to a file; returns what was printed (free() it). */
static char *capture_stdout(int (*fn)(void), int *rc)
{
        char *path = path_in_dir("stdout.txt"), *text = sl_xmalloc(65536);
        int saved, fd;
        ssize_t n;

        fflush(stdout);
        saved = dup(1);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        *rc = fn();
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        lseek(fd, 0, SEEK_SET);
        n = read(fd, text, 65535);
        text[n > 0 ? n : 0] = '\0';
        close(fd);
        unlink(path);
        free(path);
        return text;
}

static void test_defaults(void)
{
        clear_env();
        setenv("STATLINE_T_PG_DSN", "host=db password=hunter22", 1);
        SL_CHECKF(load(NULL) == 0, "%s", errstr);
        SL_CHECK(strcmp(cfg.backend, "redis-streams") == 0);
        SL_CHECK(cfg.drain_ms == 8000);
        SL_CHECK(cfg.workers == 2);
        SL_CHECK(strcmp(cfg.dsn, "host=db password=hunter22") == 0);
        SL_CHECK(cfg.from_beginning == false);
        SL_CHECK(strcmp(cfg.level, "info") == 0);
        SL_CHECK(cfg.name == NULL);
        SL_CHECK(strcmp(sl_cfg_source(opts, "drain.timeout_ms"), "default") == 0);
        SL_CHECK(strcmp(sl_cfg_source(opts, "pg.dsn"), "env STATLINE_T_PG_DSN") == 0);
        SL_CHECK(sl_cfg_source(opts, "nope") == NULL);
        sl_cfg_free(opts);
        SL_CHECK(cfg.backend == NULL && cfg.dsn == NULL && cfg.level == NULL);
        SL_CHECK(sl_cfg_source(opts, "pg.dsn") == NULL);
        sl_cfg_free(opts); /* twice is fine */
        sl_cfg_free(NULL);
}

static void test_precedence(void)
{
        char *conf;

        clear_env();
        conf = write_file("a.conf", "# comment\n"
                                    "\n"
                                    "  bus.backend = kafka  \n"
                                    "drain.timeout_ms=1000\n"
                                    "workers = 3\n"
                                    "name = \"  spaced  \"\n"
                                    "pg.dsn = from-file\n"
                                    "log.level = warn\r\n");
        /* file < shared env < service env < --set */
        setenv("STATLINE_BUS_BACKEND", "redis-pubsub", 1);
        setenv("STATLINE_T_DRAIN_TIMEOUT_MS", "2000", 1);
        setenv("STATLINE_LOG_LEVEL", "DEBUG", 1); /* shared, case-insensitive enum */
        setenv("STATLINE_T_WORKERS", "", 1);      /* empty = unset */
        SL_CHECKF(load("--config", conf, "--set", "drain.timeout_ms=3000", "--set=workers=5",
                       "--set", "workers=6", NULL) == 0,
                  "%s", errstr);
        SL_CHECK(strcmp(cfg.backend, "redis-pubsub") == 0);
        SL_CHECK(cfg.drain_ms == 3000);
        SL_CHECK(cfg.workers == 6); /* last --set wins */
        SL_CHECK(strcmp(cfg.name, "  spaced  ") == 0);
        SL_CHECK(strcmp(cfg.dsn, "from-file") == 0);
        SL_CHECK(strcmp(cfg.level, "debug") == 0); /* canonical spelling stored */
        SL_CHECK(strcmp(sl_cfg_source(opts, "bus.backend"), "env STATLINE_BUS_BACKEND") == 0);
        SL_CHECK(strcmp(sl_cfg_source(opts, "drain.timeout_ms"), "--set") == 0);
        {
                char *want = sl_xasprintf("file %s:6", conf);
                SL_CHECKF(strcmp(sl_cfg_source(opts, "name"), want) == 0, "%s",
                          sl_cfg_source(opts, "name"));
                free(want);
        }

        /* Service env beats shared env; STATLINE_CONFIG names the file; --config=FILE form. */
        setenv("STATLINE_T_BUS_BACKEND", "mem", 1);
        setenv("STATLINE_CONFIG", conf, 1);
        SL_CHECKF(load(NULL) == 0, "%s", errstr);
        SL_CHECK(strcmp(cfg.backend, "mem") == 0);
        SL_CHECK(cfg.workers == 3);
        SL_CHECK(cfg.drain_ms == 2000);
        SL_CHECKF(load("--config=/nonexistent/x.conf", NULL) == -EINVAL, "%s", errstr);
        SL_CHECK(strstr(errstr, "cannot read config file /nonexistent/x.conf") != NULL);

        /* A non-shared key ignores the service-less variable... */
        clear_env();
        setenv("STATLINE_T_PG_DSN", "x", 1);
        setenv("STATLINE_DRAIN_TIMEOUT_MS", "999999", 1);
        SL_CHECKF(load(NULL) == 0, "%s", errstr);
        SL_CHECK(cfg.drain_ms == 8000);
        unsetenv("STATLINE_DRAIN_TIMEOUT_MS");
        /* ...and booleans take the usual spellings. */
        SL_CHECK(load("--set", "bus.from_beginning=YES", NULL) == 0 && cfg.from_beginning);
        SL_CHECK(load("--set", "bus.from_beginning=off", NULL) == 0 && !cfg.from_beginning);
        SL_CHECK(load("--set", "bus.from_beginning=1", NULL) == 0 && cfg.from_beginning);
        SL_CHECK(load("--set", "name=", NULL) == 0 && strcmp(cfg.name, "") == 0);
        SL_CHECK(load("--set", "name=a=b", NULL) == 0 && strcmp(cfg.name, "a=b") == 0);
        free(conf);
}

static int count_lines(const char *s)
{
        int n = 1;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void test_errors_collected(void)
{
        char *conf;
        int rc;

        clear_env();
        conf = write_file("bad.conf", "bus.backend = kafka\n"
                                      "no equals sign here\n"
                                      "unknown.key = 1\n"
                                      "bus.backend = again\n"
                                      "workers = 0\n");
        setenv("STATLINE_T_DRAIN_TIMEOUT_MS", "12abc", 1);
        setenv("STATLINE_T_TYPO", "1", 1);
        rc = load("--config", conf, "--set", "bus.from_beginning=maybe", "--set",
                  "log.level=verbose", "--set", "drain.timeout_ms=99", "--set", "noequals",
                  "--frobnicate", "--set", NULL);
        SL_CHECK(rc == -EINVAL);
        SL_CHECKF(strstr(errstr, "invalid configuration (13 errors):\n") == errstr, "%s", errstr);
        SL_CHECK(count_lines(errstr) == 14);
        SL_CHECK(strstr(errstr, ":2: expected \"key = value\"") != NULL);
        SL_CHECK(strstr(errstr, ":3: unknown key \"unknown.key\"") != NULL);
        SL_CHECK(strstr(errstr, ":4: duplicate key bus.backend (first set on line 1)") != NULL);
        SL_CHECK(strstr(errstr, "workers: \"0\" is out of range [1, 64]") != NULL);
        SL_CHECK(strstr(errstr, "drain.timeout_ms: \"12abc\" is not an integer (from env "
                                "STATLINE_T_DRAIN_TIMEOUT_MS)") != NULL);
        SL_CHECK(strstr(errstr, "env STATLINE_T_TYPO: no such key") != NULL);
        SL_CHECK(strstr(errstr, "bus.from_beginning: \"maybe\" is not a boolean") != NULL);
        SL_CHECK(strstr(errstr, "log.level: \"verbose\" is not one of debug|info|warn|error") !=
                 NULL);
        SL_CHECK(strstr(errstr, "drain.timeout_ms: \"99\" is out of range [100, 60000] (from "
                                "--set)") != NULL);
        SL_CHECK(strstr(errstr, "--set noequals: expected KEY=VALUE") != NULL);
        SL_CHECK(strstr(errstr, "unknown argument \"--frobnicate\"") != NULL);
        SL_CHECK(strstr(errstr, "--set needs a value") != NULL);
        SL_CHECK(strstr(errstr, "pg.dsn: required but not set") != NULL);
        SL_CHECK(strstr(errstr, "STATLINE_T_PG_DSN[_FILE]") != NULL);
        /* Nothing was loaded. */
        SL_CHECK(cfg.backend == NULL && cfg.level == NULL && cfg.dsn == NULL);

        /* A single error is one line. */
        clear_env();
        SL_CHECK(load(NULL) == -EINVAL);
        SL_CHECKF(strncmp(errstr, "invalid configuration: pg.dsn: required", 39) == 0, "%s",
                  errstr);
        /* A required string set to empty is missing too. */
        SL_CHECK(load("--set", "pg.dsn=x", "--set", "bus.backend=", NULL) == -EINVAL);
        SL_CHECK(strstr(errstr, "bus.backend: required but not set") != NULL);

        /* errstr too small: cut at a line boundary, always terminated. */
        {
                char small[120];
                char *argv[] = {"statline-t", "--a", "--b", "--c", "--d", "--e", "--f"};
                rc = sl_cfg_load(opts, "t", 7, argv, small, sizeof(small));
                SL_CHECK(rc == -EINVAL);
                SL_CHECKF(strlen(small) < sizeof(small), "%zu", strlen(small));
                SL_CHECKF(strstr(small, "... (more errors not shown)") != NULL, "%s", small);
                SL_CHECK(strstr(small, "invalid configuration (7 errors):\n  unknown argument") ==
                         small);
                rc = sl_cfg_load(opts, "t", 7, argv, NULL, 0); /* no errstr at all */
                SL_CHECK(rc == -EINVAL);
        }
        free(conf);
}

static void test_secrets(void)
{
        char *secret, *conf, *big, *logpath, logtext[8192];
        int fd, saved;
        ssize_t n;

        clear_env();
        secret = write_file("dsn", "postgres://u:sup3rsecret@db/x\n\n");
        setenv("STATLINE_T_PG_DSN_FILE", secret, 1);
        SL_CHECKF(load(NULL) == 0, "%s", errstr);
        SL_CHECK(strcmp(cfg.dsn, "postgres://u:sup3rsecret@db/x") == 0);
        SL_CHECK(strcmp(sl_cfg_source(opts, "pg.dsn"), "env STATLINE_T_PG_DSN_FILE") == 0);

        /* Both forms at one level: error. Service-level beats shared either way. */
        setenv("STATLINE_T_PG_DSN", "inline", 1);
        SL_CHECK(load(NULL) == -EINVAL);
        SL_CHECK(strstr(errstr, "both STATLINE_T_PG_DSN and STATLINE_T_PG_DSN_FILE") != NULL);
        unsetenv("STATLINE_T_PG_DSN_FILE");
        setenv("STATLINE_PG_DSN", "shared-ignored-not-shared-key", 1);
        SL_CHECK(load(NULL) == 0 && strcmp(cfg.dsn, "inline") == 0);
        unsetenv("STATLINE_PG_DSN");
        unsetenv("STATLINE_T_PG_DSN");

        /* key_file in the config file and in --set. */
        conf = sl_xasprintf("pg.dsn_file = %s\n", secret);
        free(write_file("s.conf", conf));
        free(conf);
        conf = path_in_dir("s.conf");
        SL_CHECKF(load("--config", conf, NULL) == 0, "%s", errstr);
        SL_CHECK(strcmp(cfg.dsn, "postgres://u:sup3rsecret@db/x") == 0);
        {
                char *arg = sl_xasprintf("pg.dsn_file=%s", secret);
                SL_CHECKF(load("--set", arg, NULL) == 0, "%s", errstr);
                free(arg);
        }
        SL_CHECK(load("--set", "pg.dsn_file=/nonexistent/secret", NULL) == -EINVAL);
        SL_CHECK(strstr(errstr, "cannot read secret file /nonexistent/secret") != NULL);
        SL_CHECK(load("--set", "name_file=/etc/hostname", NULL) == -EINVAL); /* not a secret */
        SL_CHECK(strstr(errstr, "unknown key \"name_file\"") != NULL);
        setenv("STATLINE_T_NAME_FILE", "/etc/hostname", 1);
        SL_CHECK(load("--set", "pg.dsn=x", NULL) == -EINVAL);
        SL_CHECK(strstr(errstr, "env STATLINE_T_NAME_FILE: no such key") != NULL);
        unsetenv("STATLINE_T_NAME_FILE");

        /* Size cap. */
        big = sl_xmalloc(SL_CFG_SECRET_MAX_BYTES + 2);
        memset(big, 'x', SL_CFG_SECRET_MAX_BYTES + 1);
        big[SL_CFG_SECRET_MAX_BYTES + 1] = '\0';
        free(write_file("big", big));
        free(big);
        big = path_in_dir("big");
        setenv("STATLINE_T_PG_DSN_FILE", big, 1);
        SL_CHECK(load(NULL) == -EINVAL);
        SL_CHECK(strstr(errstr, "is larger than 65536 bytes") != NULL);
        SL_CHECK(strstr(errstr, "xxxx") == NULL); /* secret content never echoed */

        /* Loaded secrets are redacted from all logs; sl_cfg_log shows <secret>. */
        setenv("STATLINE_T_PG_DSN_FILE", secret, 1);
        sl_log_clear_secrets();
        SL_CHECKF(load(NULL) == 0, "%s", errstr);
        logpath = path_in_dir("log.txt");
        fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
        saved = sl_log_set_fd(fd);
        sl_log_init("t", SL_LOG_INFO);
        sl_cfg_log(opts);
        sl_log_info("test.leak", "dsn is %s", cfg.dsn);
        sl_log_set_fd(saved);
        lseek(fd, 0, SEEK_SET);
        n = read(fd, logtext, sizeof(logtext) - 1);
        logtext[n > 0 ? n : 0] = '\0';
        close(fd);
        SL_CHECKF(strstr(logtext, "sup3rsecret") == NULL, "%s", logtext);
        SL_CHECK(strstr(logtext, "pg.dsn=<secret> source=env STATLINE_T_PG_DSN_FILE") != NULL);
        SL_CHECK(strstr(logtext, "drain.timeout_ms=8000 source=default") != NULL);
        SL_CHECK(strstr(logtext, "name=<unset> source=default") != NULL);
        SL_CHECK(strstr(logtext, "\"event\":\"cfg.effective\"") != NULL);
        SL_CHECK(strstr(logtext, "dsn is ***") != NULL);
        sl_log_clear_secrets();
        unsetenv("STATLINE_T_PG_DSN_FILE");
        free(logpath);
        free(big);
        free(conf);
        free(secret);
}

static int help_config(void)
{
        return load("--help-config", NULL);
}

static int help_config_md(void)
{
        return load("--set", "bogus", "--help-config=markdown", NULL);
}

static void test_help(void)
{
        char *text;
        int rc;

        clear_env(); /* no pg.dsn: help must work on an incomplete config */
        text = capture_stdout(help_config, &rc);
        SL_CHECK(rc == SL_CFG_HELP_CONFIG);
        SL_CHECK(cfg.backend == NULL);
        SL_CHECKF(strstr(text,
                         "\ndrain.timeout_ms\n    int, default 8000, range 100..60000\n"
                         "    env STATLINE_T_DRAIN_TIMEOUT_MS\n    Time allowed to drain.\n") !=
                      NULL,
                  "%s", text);
        SL_CHECK(strstr(text, "\npg.dsn\n    string, default <secret>, required, secret\n") !=
                 NULL);
        SL_CHECK(strstr(text, "from a file: pg.dsn_file = PATH, or STATLINE_T_PG_DSN_FILE=PATH") !=
                 NULL);
        SL_CHECK(strstr(text, "env STATLINE_T_BUS_BACKEND (shared: STATLINE_BUS_BACKEND)") != NULL);
        SL_CHECK(strstr(text, "string, default \"redis-streams\", required\n") != NULL);
        SL_CHECK(strstr(text, "enum, default \"info\", one of debug|info|warn|error\n") != NULL);
        free(text);

        text = capture_stdout(help_config_md, &rc);
        SL_CHECK(rc == SL_CFG_HELP_CONFIG);
        SL_CHECKF(strncmp(text, "| Key | Type |", 14) == 0, "%s", text);
        free(text);

        SL_CHECK(load("--help", NULL) == SL_CFG_HELP);
        SL_CHECK(load("-h", "--set", "x", NULL) == SL_CFG_HELP);
}

static void test_markdown(void)
{
        static const char want[] =
            "| Key | Type | Default | Range / values | Environment | Description |\n"
            "|---|---|---|---|---|---|\n"
            "| `bus.backend` | string | `redis-streams` |  | `STATLINE_T_BUS_BACKEND`<br>"
            "`STATLINE_BUS_BACKEND` | **Required.** Message bus backend. |\n"
            "| `drain.timeout_ms` | int | `8000` | 100..60000 | `STATLINE_T_DRAIN_TIMEOUT_MS` "
            "| Time allowed to drain. |\n"
            "| `workers` | int | `2` | 1..64 | `STATLINE_T_WORKERS` | Worker count. |\n"
            "| `pg.dsn` | string | `<secret>` |  | `STATLINE_T_PG_DSN` | **Required.** "
            "**Secret**; also `pg.dsn_file`, `STATLINE_T_PG_DSN_FILE`. PostgreSQL DSN. |\n"
            "| `bus.from_beginning` | bool | `false` |  | `STATLINE_T_BUS_FROM_BEGINNING` | "
            "New groups start at the oldest event. |\n"
            "| `log.level` | enum | `info` | `debug`, `info`, `warn`, `error` | "
            "`STATLINE_T_LOG_LEVEL`<br>`STATLINE_LOG_LEVEL` | Minimum log level. |\n"
            "| `name` | string | (none) |  | `STATLINE_T_NAME` | Optional name, a\\|b "
            "allowed. |\n";
        struct sl_buf md, tiny;
        char missing[256];

        sl_buf_init(&md, 0);
        SL_CHECK(sl_cfg_write_markdown(opts, "t", &md) == 0);
        SL_CHECKF(strcmp(md.data, want) == 0, "got:\n%s", md.data);
        /* The generated table documents every key. */
        SL_CHECK(sl_cfg_undocumented(opts, md.data, missing, sizeof(missing)) == 0);
        SL_CHECK(sl_cfg_undocumented(opts, "only `workers` and `pg.dsn`", missing,
                                     sizeof(missing)) == 5);
        SL_CHECKF(strstr(missing, "undocumented key: bus.backend\n") == missing, "%s", missing);
        SL_CHECK(strstr(missing, "workers") == NULL);
        sl_buf_fini(&md);
        sl_buf_init(&tiny, 32);
        SL_CHECK(sl_cfg_write_markdown(opts, "t", &tiny) == -E2BIG);
        sl_buf_fini(&tiny);
}

static const char *t_a, *t_b;
static int64_t t_i;
static bool t_bool;
static int t_int;

static void check_table_error(const struct sl_cfg_opt *bad, const char *service, const char *want)
{
        char *argv[] = {"statline-x"};
        int rc = sl_cfg_load(bad, service, 1, argv, errstr, sizeof(errstr));

        SL_CHECKF(rc == -EINVAL && strstr(errstr, want) != NULL, "want \"%s\" in: %s", want,
                  errstr);
        sl_cfg_free(bad);
}

static void test_table_errors(void)
{
        const struct sl_cfg_opt dup[] = {SL_CFG_STR("a.b", &t_a, NULL, 0, "A."),
                                         SL_CFG_STR("a_b", &t_b, NULL, 0, "B."), SL_CFG_END};
        const struct sl_cfg_opt range[] = {SL_CFG_INT("i", &t_i, 5, 10, 20, 0, "I."), SL_CFG_END};
        const struct sl_cfg_opt en[] = {SL_CFG_ENUM("e", &t_a, "x", "a|b", 0, "E."), SL_CFG_END};
        const struct sl_cfg_opt nohelp[] = {SL_CFG_BOOL("b", &t_bool, true, 0, ""), SL_CFG_END};
        const struct sl_cfg_opt badkey[] = {SL_CFG_STR("Bad Key", &t_a, NULL, 0, "A."), SL_CFG_END};
        const struct sl_cfg_opt secret_int[] = {
            SL_CFG_INT("n", &t_int, 1, 0, 2, SL_CFG_SECRET, "N."), SL_CFG_END};
        const struct sl_cfg_opt int_range[] = {SL_CFG_INT("n", &t_int, 1, 0, 1LL << 40, 0, "N."),
                                               SL_CFG_END};
        const struct sl_cfg_opt file_clash[] = {SL_CFG_STR("k", &t_a, NULL, SL_CFG_SECRET, "K."),
                                                SL_CFG_STR("k_file", &t_b, NULL, 0, "K file."),
                                                SL_CFG_END};

        check_table_error(dup, "x", "table: keys a.b and a_b collide (STATLINE_X_A_B)");
        check_table_error(range, "x", "table: i: default 5 outside [10, 20]");
        check_table_error(en, "x", "table: e: default must be one of the choices");
        check_table_error(nohelp, "x", "table: b has no help text");
        check_table_error(badkey, "x", "table: bad key \"Bad Key\"");
        check_table_error(secret_int, "x", "only string options can be secret");
        check_table_error(int_range, "x", "range does not fit an int");
        check_table_error(file_clash, "x", "key k_file collides with the _file form of k");
        check_table_error(range, "Bad Service", "table: bad service name");
        check_table_error(range, NULL, "table: bad service name");
}

static void test_env_name(void)
{
        char out[64];

        SL_CHECK(sl_cfg_env_name("raw", "drain.timeout_ms", out, sizeof(out)) == 0);
        SL_CHECK(strcmp(out, "STATLINE_RAW_DRAIN_TIMEOUT_MS") == 0);
        SL_CHECK(sl_cfg_env_name(NULL, "bus.backend", out, sizeof(out)) == 0);
        SL_CHECK(strcmp(out, "STATLINE_BUS_BACKEND") == 0);
        SL_CHECK(sl_cfg_env_name("raw-2", "a-b.c", out, sizeof(out)) == 0);
        SL_CHECK(strcmp(out, "STATLINE_RAW_2_A_B_C") == 0);
        SL_CHECK(sl_cfg_env_name("raw", "drain.timeout_ms", out, 10) == -ENAMETOOLONG);
}

static void cleanup_dir(void)
{
        static const char *const names[] = {"a.conf", "bad.conf", "dsn",       "s.conf",
                                            "big",    "log.txt",  "stdout.txt"};

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char *path = path_in_dir(names[i]);
                unlink(path);
                free(path);
        }
        SL_CHECK(rmdir(dir) == 0);
}

int main(void)
{
        if (!mkdtemp(dir)) {
                printf("Bail out! mkdtemp failed\n");
                return 1;
        }
        test_env_name();
        test_defaults();
        test_precedence();
        test_errors_collected();
        test_secrets();
        test_help();
        test_markdown();
        test_table_errors();
        sl_cfg_free(opts);
        clear_env();
        cleanup_dir();
        return SL_DONE();
}
