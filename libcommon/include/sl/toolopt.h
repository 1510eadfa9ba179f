#ifndef SL_TOOLOPT_H
#define SL_TOOLOPT_H

/*
 * What the operator tools (tools/dlq, monitor, backfill, scheduler) share
 * about reaching the bus and PostgreSQL, so each connection setting is
 * declared once:
 *   - SL_TOOL_BUS_OPTS / SL_TOOL_PG_OPTS: the sl_cfg option rows of the
 *     cfg-based tools (statline-dlq, statline-monitor), shared keys
 *     (STATLINE_BUS_URL...) with the services' names; bus.password,
 *     bus.kafka_props (may carry sasl.password) and pg.dsn are secrets.
 *   - struct sl_tool_conn: the same settings for the flag-based tools
 *     (statline-backfill, statline-scheduler): from the environment
 *     (sl_tool_conn_from_env), overridden by flags (sl_tool_conn_flag),
 *     then sl_tool_bus_open().
 */

#include <stddef.h>

#include <sl/cfg.h>

struct sl_bus;

/*
 * The bus option rows. c points at a struct with const char * fields
 * bus_backend, bus_url, bus_username, bus_password, bus_prefix,
 * bus_kafka_props; backend_help / prefix_help say what the tool does with
 * them.
 */
#define SL_TOOL_BUS_OPTS(c, backend_help, prefix_help)                                             \
        SL_CFG_ENUM("bus.backend", &(c)->bus_backend, "redis-streams",                             \
                    "redis-streams|redis-pubsub|kafka", SL_CFG_SHARED, backend_help),              \
            SL_CFG_STR("bus.url", &(c)->bus_url, "127.0.0.1:6379", SL_CFG_SHARED,                  \
                       "Redis host:port, or Kafka bootstrap servers"),                             \
            SL_CFG_STR("bus.username", &(c)->bus_username, "", SL_CFG_SHARED,                      \
                       "Redis ACL user / Kafka SASL user"),                                        \
            SL_CFG_STR("bus.password", &(c)->bus_password, "", SL_CFG_SHARED | SL_CFG_SECRET,      \
                       "Redis / Kafka SASL password"),                                             \
            SL_CFG_STR("bus.prefix", &(c)->bus_prefix, "statline", SL_CFG_SHARED, prefix_help),    \
            SL_CFG_STR("bus.kafka_props", &(c)->bus_kafka_props, "",                               \
                       SL_CFG_SHARED | SL_CFG_SECRET,                                              \
                       "extra librdkafka properties k=v,k=v (SASL/TLS; secret: may hold "          \
                       "sasl.password)")

/*
 * The PostgreSQL rows: pg.dsn (secret) and pg.connect_timeout_ms. c points
 * at a struct with const char *pg_dsn and int pg_connect_timeout_ms.
 */
#define SL_TOOL_PG_OPTS(c, dsn_help)                                                               \
        SL_CFG_STR("pg.dsn", &(c)->pg_dsn, "", SL_CFG_SHARED | SL_CFG_SECRET, dsn_help),           \
            SL_CFG_INT("pg.connect_timeout_ms", &(c)->pg_connect_timeout_ms, 5000, 100, 600000,    \
                       SL_CFG_SHARED, "PostgreSQL connect timeout")

/* Connection settings of a flag-based tool. Strings are borrowed (environment, argv). */
struct sl_tool_conn {
        const char *pg_dsn;     /* NULL: none */
        const char *migrations; /* directory of the NNNN_*.sql migrations */
        const char *bus_backend, *bus_url, *bus_username, *bus_password, *bus_prefix;
        const char *kafka_props; /* NULL: none */
};

/* getenv(name) when set and not empty, else def. */
const char *sl_tool_env_or(const char *name, const char *def);

/*
 * Fills c from STATLINE_PG_DSN, STATLINE_PG_MIGRATIONS (default
 * migrations_default), STATLINE_BUS_BACKEND (redis-streams), _URL
 * (127.0.0.1:6379), _USERNAME, _PASSWORD, _PREFIX (statline), _KAFKA_PROPS.
 */
void sl_tool_conn_from_env(struct sl_tool_conn *c, const char *migrations_default);

/*
 * Applies one flag with its value: --pg-dsn, --migrations, --bus-backend,
 * --bus-url, --bus-prefix. Returns 1 when flag is one of these (val
 * stored, borrowed), 0 when it is not.
 */
int sl_tool_conn_flag(struct sl_tool_conn *c, const char *flag, const char *val);

/*
 * Opens the bus of c for publishing as service (dead-letter context name).
 * NULL with the reason in errstr.
 */
struct sl_bus *sl_tool_bus_open(const struct sl_tool_conn *c, const char *service, char *errstr,
                                size_t errstr_size);

#endif
