#include <sl/toolopt.h>

#include <stdlib.h>
#include <string.h>

#include <sl/bus.h>

const char *sl_tool_env_or(const char *name, const char *def)
{
        const char *v = getenv(name);

        return v && v[0] ? v : def;
}

void sl_tool_conn_from_env(struct sl_tool_conn *c, const char *migrations_default)
{
        c->pg_dsn = sl_tool_env_or("STATLINE_PG_DSN", NULL);
        c->migrations = sl_tool_env_or("STATLINE_PG_MIGRATIONS", migrations_default);
        c->bus_backend = sl_tool_env_or("STATLINE_BUS_BACKEND", "redis-streams");
        c->bus_url = sl_tool_env_or("STATLINE_BUS_URL", "127.0.0.1:6379");
        c->bus_username = sl_tool_env_or("STATLINE_BUS_USERNAME", NULL);
        c->bus_password = sl_tool_env_or("STATLINE_BUS_PASSWORD", NULL);
        c->bus_prefix = sl_tool_env_or("STATLINE_BUS_PREFIX", "statline");
        c->kafka_props = sl_tool_env_or("STATLINE_BUS_KAFKA_PROPS", NULL);
}

int sl_tool_conn_flag(struct sl_tool_conn *c, const char *flag, const char *val)
{
        const char **dst = NULL;

        if (strcmp(flag, "--pg-dsn") == 0)
                dst = &c->pg_dsn;
        else if (strcmp(flag, "--migrations") == 0)
                dst = &c->migrations;
        else if (strcmp(flag, "--bus-backend") == 0)
                dst = &c->bus_backend;
        else if (strcmp(flag, "--bus-url") == 0)
                dst = &c->bus_url;
        else if (strcmp(flag, "--bus-prefix") == 0)
                dst = &c->bus_prefix;
        if (!dst)
                return 0;
        *dst = val;
        return 1;
}

struct sl_bus *sl_tool_bus_open(const struct sl_tool_conn *c, const char *service, char *errstr,
                                size_t errstr_size)
{
        struct sl_bus_opts o = {0};

        o.backend = c->bus_backend;
        o.url = c->bus_url;
        o.username = c->bus_username;
        o.password = c->bus_password;
        o.prefix = c->bus_prefix;
        o.service = service;
        o.kafka_props = c->kafka_props;
        return sl_bus_open(&o, errstr, errstr_size);
}
