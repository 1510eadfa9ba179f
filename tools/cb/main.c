/*
 * statline-cb: lists the shared circuit breakers (ops.circuit_breakers) and
 * forces one open or closed, or back to automatic (tools/cb/README.md).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <sl/cb.h>
#include <sl/cfg.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/pg.h>

#define EX_USAGE  64
#define EX_CONFIG 78
#define MAX_ARGS  64

static struct cb_cfg {
        const char *pg_dsn, *log_level;
        int pg_connect_timeout_ms;
} cfg;

static const struct sl_cfg_opt cfg_opts[] = {
    SL_CFG_STR("pg.dsn", &cfg.pg_dsn, NULL, SL_CFG_REQUIRED | SL_CFG_SHARED | SL_CFG_SECRET,
               "PostgreSQL holding ops.circuit_breakers (STATLINE_PG_DSN)"),
    SL_CFG_INT("pg.connect_timeout_ms", &cfg.pg_connect_timeout_ms, 5000, 100, 600000,
               SL_CFG_SHARED, "PostgreSQL connect timeout"),
    SL_CFG_ENUM("log.level", &cfg.log_level, "warn", "debug|info|warn|error", SL_CFG_SHARED,
                "minimum log level (JSON lines on stderr)"),
    SL_CFG_END,
};

struct cli {
        const char *cmd;
        const char *service, *dependency; /* operands, or the list filter */
        bool json;
        char *cfg_argv[MAX_ARGS];
        int cfg_argc;
};

static void usage(FILE *out)
{
        fputs("usage: statline-cb COMMAND [--json] [--config FILE] [--set key=value]...\n"
              "\n"
              "Circuit breakers are shared by all replicas of a service through the table\n"
              "ops.circuit_breakers, one row per (service, dependency). Services re-read it\n"
              "every cb.cache_ttl_ms (30 s by default), so a change here takes effect within\n"
              "that time. A forced state wins over the breaker's own decisions.\n"
              "\n"
              "commands:\n"
              "  list [--service SVC]   every breaker: effective state (the forced one if\n"
              "                         set), own state, forced, last update, window counts\n"
              "  open SVC DEP           force open: SVC stops calling DEP, its messages wait\n"
              "                         (nacked, not dead-lettered) until close or reset\n"
              "  close SVC DEP          force closed: calls go through whatever the failures\n"
              "  reset SVC DEP          back to automatic: forced cleared, state CLOSED,\n"
              "                         counts zeroed\n"
              "\n"
              "options:\n"
              "  --json                 JSON output (list: an array; others: the row)\n"
              "  --config FILE, --set key=value, --help-config\n"
              "                         configuration (pg.dsn, or STATLINE_PG_DSN)\n"
              "  -h, --help             this text\n"
              "\n"
              "exit status: 0 done, 1 database error, 64 usage, 78 configuration.\n",
              out);
}

/* 0, 1 for --help, -EINVAL (reported) for a usage error. */
static int cli_parse(struct cli *c, int argc, char **argv)
{
        const char *ops[3] = {NULL, NULL, NULL};
        int n_ops = 0;

        c->cfg_argv[c->cfg_argc++] = argv[0];
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
                        return 1;
                if (strcmp(a, "--json") == 0) {
                        c->json = true;
                } else if (strcmp(a, "--service") == 0 && i + 1 < argc) {
                        c->service = argv[++i];
                } else if ((strcmp(a, "--config") == 0 || strcmp(a, "--set") == 0) &&
                           i + 1 < argc) {
                        if (c->cfg_argc + 2 > MAX_ARGS)
                                goto bad;
                        c->cfg_argv[c->cfg_argc++] = argv[i];
                        c->cfg_argv[c->cfg_argc++] = argv[++i];
                } else if (strncmp(a, "--config=", 9) == 0 || strncmp(a, "--set=", 6) == 0 ||
                           strncmp(a, "--help-config", 13) == 0) {
                        if (c->cfg_argc + 1 > MAX_ARGS)
                                goto bad;
                        c->cfg_argv[c->cfg_argc++] = argv[i];
                } else if (a[0] == '-') {
                        fprintf(stderr, "statline-cb: unknown option '%s'\n", a);
                        return -EINVAL;
                } else if (n_ops < 3) {
                        ops[n_ops++] = a;
                } else {
                        goto bad;
                }
        }
        c->cmd = ops[0];
        if (!c->cmd)
                return 0; /* --help-config alone, or nothing: main decides */
        if (strcmp(c->cmd, "list") == 0 && n_ops == 1)
                return 0;
        if ((strcmp(c->cmd, "open") == 0 || strcmp(c->cmd, "close") == 0 ||
             strcmp(c->cmd, "reset") == 0) &&
            n_ops == 3 && !c->service) {
                c->service = ops[1];
                c->dependency = ops[2];
                if (strlen(c->service) >= SL_CB_NAME_MAX ||
                    strlen(c->dependency) >= SL_CB_NAME_MAX) {
                        fprintf(stderr, "statline-cb: SVC and DEP are at most %d bytes\n",
                                SL_CB_NAME_MAX - 1);
                        return -EINVAL;
                }
                return 0;
        }
bad:
        fprintf(stderr, "statline-cb: bad command line (see --help)\n");
        return -EINVAL;
}

static const char list_sql[] =
    "SELECT service, dependency, state, COALESCE(forced, ''), "
    "COALESCE(to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ''), "
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), failures, "
    "calls, CASE forced WHEN 'forced_open' THEN 'OPEN' WHEN 'forced_closed' THEN 'CLOSED' ELSE "
    "state END FROM ops.circuit_breakers WHERE ($1::text IS NULL OR service = $1) AND "
    "($2::text IS NULL OR dependency = $2) ORDER BY service, dependency";

/* Prints the rows of list_sql as a table or a JSON array (one object for a single row). */
static void print_rows(PGresult *res, bool json, bool single)
{
        static const char *names[] = {"service",    "dependency", "state", "forced",   "opened_at",
                                      "updated_at", "failures",   "calls", "effective"};
        int n = PQntuples(res);

        if (!json) {
                printf("%-12s %-28s %-9s %-9s %-13s %-24s %8s %6s\n", "SERVICE", "DEPENDENCY",
                       "EFFECTIVE", "STATE", "FORCED", "UPDATED", "FAILURES", "CALLS");
                for (int r = 0; r < n; r++) {
                        const char *forced = PQgetvalue(res, r, 3);
                        printf("%-12s %-28s %-9s %-9s %-13s %-24s %8s %6s\n", PQgetvalue(res, r, 0),
                               PQgetvalue(res, r, 1), PQgetvalue(res, r, 8), PQgetvalue(res, r, 2),
                               forced[0] ? forced : "-", PQgetvalue(res, r, 5),
                               PQgetvalue(res, r, 6), PQgetvalue(res, r, 7));
                }
                return;
        }
        cJSON *arr = cJSON_CreateArray();
        for (int r = 0; r < n; r++) {
                cJSON *o = cJSON_CreateObject();
                for (int c = 0; c < 9; c++) {
                        const char *v = PQgetvalue(res, r, c);
                        if (c == 6 || c == 7)
                                cJSON_AddNumberToObject(o, names[c], strtod(v, NULL));
                        else if ((c == 3 || c == 4) && !v[0])
                                cJSON_AddNullToObject(o, names[c]);
                        else
                                cJSON_AddStringToObject(o, names[c], v);
                }
                cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_PrintUnformatted(single && n == 1 ? cJSON_GetArrayItem(arr, 0) : arr);
        if (s)
                puts(s);
        free(s);
        cJSON_Delete(arr);
}

static int run(struct cli *c, char *errstr, size_t n)
{
        struct sl_pg *pg = NULL;
        PGresult *res = NULL;
        bool single = strcmp(c->cmd, "list") != 0;
        int rc;

        pg = sl_pg_open(cfg.pg_dsn, cfg.pg_connect_timeout_ms, errstr, n);
        if (!pg)
                return -ECONNREFUSED;
        if (strcmp(c->cmd, "open") == 0 || strcmp(c->cmd, "close") == 0 ||
            strcmp(c->cmd, "reset") == 0) {
                enum sl_cb_forced forced = c->cmd[0] == 'o'   ? SL_CB_FORCED_OPEN
                                           : c->cmd[0] == 'c' ? SL_CB_FORCED_CLOSED
                                                              : SL_CB_FORCED_NONE;
                rc = sl_cb_pg_force(pg, c->service, c->dependency, forced, c->cmd[0] == 'r', errstr,
                                    n);
                if (rc < 0)
                        goto out;
        }
        const char *params[] = {c->service, c->dependency};
        rc = sl_pg_exec(pg, list_sql, 2, params, &res, errstr, n);
        if (rc < 0)
                goto out;
        print_rows(res, c->json, single);
out:
        PQclear(res);
        sl_pg_close(pg);
        return rc;
}

int main(int argc, char **argv)
{
        static struct cli cli;
        char errstr[SL_CFG_ERRSTR_SIZE];
        enum sl_log_level lvl = SL_LOG_WARN;
        int rc;

        rc = cli_parse(&cli, argc, argv);
        if (rc == 1) {
                usage(stdout);
                return 0;
        }
        if (rc < 0)
                return EX_USAGE;
        rc = sl_cfg_load(cfg_opts, "cb", cli.cfg_argc, cli.cfg_argv, errstr, sizeof(errstr));
        if (rc == SL_CFG_HELP_CONFIG)
                return 0;
        if (rc == SL_CFG_HELP) {
                usage(stdout);
                return 0;
        }
        if (rc < 0) {
                fprintf(stderr, "statline-cb: config:\n%s\n", errstr);
                return EX_CONFIG;
        }
        if (!cli.cmd) {
                usage(stderr);
                sl_cfg_free(cfg_opts);
                return EX_USAGE;
        }
        sl_log_level_parse(cfg.log_level, &lvl);
        sl_log_init("cb", lvl);
        errstr[0] = '\0';
        rc = run(&cli, errstr, sizeof(errstr));
        if (rc < 0)
                fprintf(stderr, "statline-cb: %s\n", errstr[0] ? errstr : sl_strerror(rc));
        sl_cfg_free(cfg_opts);
        return rc < 0 ? 1 : 0;
}
