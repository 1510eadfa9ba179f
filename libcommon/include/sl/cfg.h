#ifndef SL_CFG_H
#define SL_CFG_H

/*
 * Service configuration from one option table (redis static_configs[]).
 *
 *   static struct raw_cfg cfg;
 *   static const struct sl_cfg_opt raw_opts[] = {
 *           SL_CFG_STR("bus.backend", &cfg.bus_backend, "redis-streams",
 *                      SL_CFG_REQUIRED | SL_CFG_SHARED, "Message bus backend."),
 *           SL_CFG_INT("drain.timeout_ms", &cfg.drain_timeout_ms, 8000, 100, 60000, 0,
 *                      "Time allowed to drain on SIGTERM."),
 *           SL_CFG_STR("pg.dsn", &cfg.pg_dsn, NULL, SL_CFG_REQUIRED | SL_CFG_SECRET,
 *                      "PostgreSQL connection string."),
 *           SL_CFG_BOOL("bus.from_beginning", &cfg.from_beginning, false, 0,
 *                       "New consumer groups start at the oldest event."),
 *           SL_CFG_ENUM("log.level", &cfg.log_level, "info", "debug|info|warn|error",
 *                       SL_CFG_SHARED, "Minimum log level."),
 *           SL_CFG_END,
 *   };
 *
 * Sources, lowest precedence first (a later source overrides an earlier one):
 *
 *   1. the default in the table;
 *   2. the config file named by --config FILE, else by $STATLINE_CONFIG
 *      ("key = value" lines, '#' comment lines; a duplicate key is an error);
 *   3. shared environment STATLINE_<KEY>, only for options flagged
 *      SL_CFG_SHARED (settings common to all services: bus, log level);
 *   4. service environment STATLINE_<SERVICE>_<KEY> (always accepted, so the
 *      service-specific variable beats the shared one);
 *   5. --set key=value on the command line (repeatable; the last one wins).
 *
 * <KEY> is the key upper-cased with '.' and '-' turned into '_'
 * (drain.timeout_ms -> STATLINE_RAW_DRAIN_TIMEOUT_MS). An empty environment
 * variable counts as unset. SL_CFG_SECRET options may instead name a file
 * holding the value: "<key>_file = /path" in the config file or in --set, and
 * <ENV>_FILE=/path in the environment (Docker secrets). The file is read
 * once, its trailing newlines are trimmed and it may hold at most
 * SL_CFG_SECRET_MAX_BYTES. Giving both the value and its _file form at the
 * same level is an error.
 *
 * Every value from every source is validated (type, range, enum choices),
 * unknown keys in the file, in --set and under STATLINE_<SERVICE>_ are
 * errors, and every error is reported at once. The configuration is
 * immutable after sl_cfg_load(): there is no reload.
 *
 * Threads: the cfg functions are meant for main() at startup and are not
 * thread-safe with respect to each other.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sl_buf;

/* Option types. Chosen by the SL_CFG_* macros; do not set by hand. */
enum sl_cfg_type {
        SL_CFG_T_END = 0, /* table terminator */
        SL_CFG_T_STR,     /* dest: const char ** (heap copy owned by cfg) */
        SL_CFG_T_INT,     /* dest: int * */
        SL_CFG_T_I64,     /* dest: int64_t * */
        SL_CFG_T_BOOL,    /* dest: bool * */
        SL_CFG_T_ENUM,    /* dest: const char ** pointing at the canonical choice (heap copy) */
};

/* Option flags. */
#define SL_CFG_REQUIRED 0x1u /* effective string value must be non-empty */
#define SL_CFG_SECRET   0x2u /* redacted everywhere; accepts the _file forms (strings only) */
#define SL_CFG_SHARED   0x4u /* also read from STATLINE_<KEY> (shared by all services) */

/* Caps. */
#define SL_CFG_KEY_MAX          64        /* bytes in a key, NUL excluded */
#define SL_CFG_SECRET_MAX_BYTES 65536     /* bytes in a secret file */
#define SL_CFG_FILE_MAX_BYTES   (1 << 20) /* bytes in a config file */
#define SL_CFG_ERRSTR_SIZE      4096      /* recommended errstr size for sl_cfg_load() */

/* sl_cfg_load() results besides 0 and -EINVAL. */
#define SL_CFG_HELP_CONFIG 1 /* --help-config was printed: exit 0 */
#define SL_CFG_HELP        2 /* --help / -h seen: caller prints usage, exits 0 */

/*
 * One table row. Build rows only with the macros below, which check the
 * destination's type at compile time (C11 _Generic). dest points into the
 * service's config struct, which must outlive the table's use.
 */
struct sl_cfg_opt {
        const char *key; /* "drain.timeout_ms": [a-z0-9._-], at most SL_CFG_KEY_MAX */
        enum sl_cfg_type type;
        void *dest;          /* where the value is written, see enum sl_cfg_type */
        const char *def_str; /* STR/ENUM default, may be NULL (STR only) */
        int64_t def_int;     /* INT/I64 default; BOOL default as 0/1 */
        int64_t min, max;    /* INT/I64 inclusive range */
        const char *choices; /* ENUM: "a|b|c" */
        unsigned flags;      /* SL_CFG_REQUIRED | SL_CFG_SECRET | SL_CFG_SHARED */
        const char *help;    /* one-line description for --help-config and docs */
};

/* Compile-time destination checks: a wrong pointer type fails to compile. */
#define SL_CFG_STRP_(p)  _Generic((p), const char ** : (void *)(p))
#define SL_CFG_BOOLP_(p) _Generic((p), bool * : (void *)(p))
#define SL_CFG_INTT_(p)  _Generic((p), int * : SL_CFG_T_INT, int64_t * : SL_CFG_T_I64)

/* String option; def may be NULL. dest is a const char * field. */
#define SL_CFG_STR(key_, dest_, def_, flags_, help_)                                               \
        {                                                                                          \
                .key = (key_), .type = SL_CFG_T_STR, .dest = SL_CFG_STRP_(dest_),                  \
                .def_str = (def_), .flags = (flags_), .help = (help_)                              \
        }
/* Integer option in [min, max]; dest is an int or int64_t field. */
#define SL_CFG_INT(key_, dest_, def_, min_, max_, flags_, help_)                                   \
        {                                                                                          \
                .key = (key_), .type = SL_CFG_INTT_(dest_), .dest = (void *)(dest_),               \
                .def_int = (def_), .min = (min_), .max = (max_), .flags = (flags_),                \
                .help = (help_)                                                                    \
        }
/* Boolean option: true/false, yes/no, on/off, 1/0 (any case). dest is a bool field. */
#define SL_CFG_BOOL(key_, dest_, def_, flags_, help_)                                              \
        {                                                                                          \
                .key = (key_), .type = SL_CFG_T_BOOL, .dest = SL_CFG_BOOLP_(dest_),                \
                .def_int = (def_) ? 1 : 0, .flags = (flags_), .help = (help_)                      \
        }
/*
 * One of "a|b|c" (matched case-insensitively; the table's spelling is
 * stored). dest is a const char * field; def must be one of the choices.
 */
#define SL_CFG_ENUM(key_, dest_, def_, choices_, flags_, help_)                                    \
        {                                                                                          \
                .key = (key_), .type = SL_CFG_T_ENUM, .dest = SL_CFG_STRP_(dest_),                 \
                .def_str = (def_), .choices = (choices_), .flags = (flags_), .help = (help_)       \
        }
#define SL_CFG_END                                                                                 \
        {                                                                                          \
                .key = NULL, .type = SL_CFG_T_END                                                  \
        }

/*
 * Loads the configuration of service (lower-case name, e.g. "raw") into the
 * table's destinations: defaults, config file, environment, then argv.
 *
 * argv (argc entries, argv[0] is the program) may hold only:
 *   --config FILE | --config=FILE     config file (beats $STATLINE_CONFIG)
 *   --set KEY=VALUE | --set=KEY=VALUE override (repeatable)
 *   --help-config[=markdown]          print the table to stdout
 *   --help | -h                       usage, printed by the caller
 * Any other argument is an error (statline services take no operands).
 *
 * Whatever the destinations held before is ignored and overwritten (so
 * call sl_cfg_free(opts) before loading the same table again). Strings
 * written into them are heap copies owned by the cfg module, released by
 * sl_cfg_free(opts); every STR/ENUM destination is either such a copy or NULL.
 *
 * Returns:
 *   0                   loaded; secrets are registered with sl_log_add_secret()
 *   SL_CFG_HELP_CONFIG  --help-config printed; nothing loaded (exit 0)
 *   SL_CFG_HELP         --help or -h seen; nothing loaded (print usage, exit 0)
 *   -EINVAL             errors: ALL of them are written into errstr, one per
 *                       line (use SL_CFG_ERRSTR_SIZE); nothing loaded, and
 *                       main() should exit 78 (EX_CONFIG)
 * When nothing is loaded, every STR/ENUM destination is left NULL.
 */
int sl_cfg_load(const struct sl_cfg_opt *opts, const char *service, int argc, char **argv,
                char *errstr, size_t errstr_size);

/*
 * Frees the strings sl_cfg_load() wrote into opts' destinations and sets
 * them to NULL. Safe to call twice, after a failed load, or with NULL.
 */
void sl_cfg_free(const struct sl_cfg_opt *opts);

/*
 * Logs the effective configuration with sl_log_info("cfg.effective"), one
 * line per option: key, value (secrets as <secret>) and where it came from.
 * Call once after sl_log_init().
 */
void sl_cfg_log(const struct sl_cfg_opt *opts);

/*
 * Where the current value of key came from after sl_cfg_load(): "default",
 * "file /etc/x.conf:12", "env STATLINE_RAW_X", "env STATLINE_RAW_X_FILE",
 * "--set". Owned by cfg, valid until sl_cfg_free(opts). NULL for an unknown
 * key or before a successful load.
 */
const char *sl_cfg_source(const struct sl_cfg_opt *opts, const char *key);

/*
 * Writes the environment variable name for key into out:
 * STATLINE_<SERVICE>_<KEY>, or STATLINE_<KEY> when service is NULL.
 * Returns 0 or -ENAMETOOLONG.
 */
int sl_cfg_env_name(const char *service, const char *key, char *out, size_t out_size);

/*
 * Prints the table for humans (what --help-config shows): per option its
 * key, type, default (<secret> for secrets), range or choices, environment
 * variable names and help text.
 */
void sl_cfg_print_help(const struct sl_cfg_opt *opts, const char *service, FILE *out);

/*
 * Appends the table as a Markdown table (what --help-config=markdown shows
 * and docs/config.md holds): Key, Type, Default, Range/values, Environment,
 * Description. Keys are written in backticks. Returns 0 or -E2BIG (out's cap).
 */
int sl_cfg_write_markdown(const struct sl_cfg_opt *opts, const char *service, struct sl_buf *out);

/*
 * Checks that every key of opts appears in doc (e.g. docs/config.md) as
 * `key` in backticks. Missing keys are listed in errstr, one per line.
 * Returns the number of undocumented keys (0 = all documented).
 */
int sl_cfg_undocumented(const struct sl_cfg_opt *opts, const char *doc, char *errstr,
                        size_t errstr_size);

/* Prints the generic usage of the cfg flags (for the caller's --help). */
void sl_cfg_print_usage(const char *prog, FILE *out);

#endif
