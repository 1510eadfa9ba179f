#include <sl/cfg.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sl/log.h>
#include <sl/util.h>

extern char **environ;

#define ENV_NAME_MAX   160   /* "STATLINE_" + service + key + "_FILE" */
#define SERVICE_MAX    32    /* bytes in a service name */
#define ERRS_MAX_BYTES 32768 /* cap on the collected error text */
#define ECHO_MAX       64    /* bytes of a bad value quoted back in an error */

/* Precedence levels, lowest first (see sl/cfg.h). */
enum level { LV_DEFAULT, LV_FILE, LV_ENV_SHARED, LV_ENV_SERVICE, LV_SET };

/* The value collected so far for one option while loading. */
struct slot {
        char *val;     /* raw text, owned; NULL = unset */
        char *src;     /* where val came from, owned */
        enum level lv; /* level that set val */
        int file_line; /* config file line that set it, for duplicate reports */
};

/* State of one sl_cfg_load() call. */
struct loader {
        const struct sl_cfg_opt *opts;
        const char *service;
        size_t n;           /* options in the table */
        struct slot *slots; /* n entries, owned */
        struct sl_buf errs; /* collected errors, one per line */
        int n_errs;
        const char *config; /* --config argument (borrowed from argv), or NULL */
        const char **sets;  /* --set arguments in order (borrowed from argv) */
        int n_sets;
        int help;      /* 0, SL_CFG_HELP_CONFIG or SL_CFG_HELP */
        bool markdown; /* --help-config=markdown */
};

/*
 * Where each loaded value came from, keyed by its destination address: the
 * destination outlives any particular table array (services may build the
 * table on the stack), so it is the stable key. Main thread only.
 */
struct src_entry {
        const void *dest;
        char *src; /* owned */
};
static struct src_entry *src_reg;
static size_t src_n, src_cap;

static void add_err(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_err(struct loader *ld, const char *fmt, ...)
{
        char line[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap); /* truncating one long message is fine */
        va_end(ap);
        ld->n_errs++;
        /* The text is capped (-E2BIG drops the line); the count stays exact. */
        sl_buf_printf(&ld->errs, "%s\n", line);
}

/* Forgets the source recorded for dest, if any. */
static void reg_remove(const void *dest)
{
        for (size_t i = 0; i < src_n; i++) {
                if (src_reg[i].dest == dest) {
                        free(src_reg[i].src);
                        src_reg[i] = src_reg[--src_n];
                        return;
                }
        }
}

/* Records (a copy of) src as the source of the value at dest, replacing an older one. */
static void reg_set(const void *dest, const char *src)
{
        reg_remove(dest);
        if (src_n == src_cap) {
                src_cap = src_cap ? src_cap * 2 : 32;
                src_reg = sl_xrealloc(src_reg, src_cap * sizeof(*src_reg));
        }
        src_reg[src_n].dest = dest;
        src_reg[src_n].src = sl_xstrdup(src);
        src_n++;
}

/* Returns the recorded source of the value at dest, or NULL. */
static const char *reg_get(const void *dest)
{
        for (size_t i = 0; i < src_n; i++) {
                if (src_reg[i].dest == dest)
                        return src_reg[i].src;
        }
        return NULL;
}

int sl_cfg_env_name(const char *service, const char *key, char *out, size_t out_size)
{
        int n;
        size_t i;

        if (service)
                n = snprintf(out, out_size, "STATLINE_%s_%s", service, key);
        else
                n = snprintf(out, out_size, "STATLINE_%s", key);
        if (n < 0 || (size_t)n >= out_size)
                return -ENAMETOOLONG;
        /* Shells only allow [A-Z0-9_] in names: "drain.timeout_ms" -> "DRAIN_TIMEOUT_MS". */
        for (i = 0; out[i]; i++) {
                if (out[i] == '.' || out[i] == '-')
                        out[i] = '_';
                else if (out[i] >= 'a' && out[i] <= 'z')
                        out[i] = (char)(out[i] - 'a' + 'A');
        }
        return 0;
}

static bool is_str_type(const struct sl_cfg_opt *opt)
{
        return opt->type == SL_CFG_T_STR || opt->type == SL_CFG_T_ENUM;
}

static bool is_int_type(const struct sl_cfg_opt *opt)
{
        return opt->type == SL_CFG_T_INT || opt->type == SL_CFG_T_I64;
}

/* Type as shown in --help-config and docs (int and int64_t both read "int"). */
static const char *type_name(const struct sl_cfg_opt *opt)
{
        switch (opt->type) {
        case SL_CFG_T_STR:
                return "string";
        case SL_CFG_T_INT:
        case SL_CFG_T_I64:
                return "int";
        case SL_CFG_T_BOOL:
                return "bool";
        case SL_CFG_T_ENUM:
                return "enum";
        case SL_CFG_T_END:
                break;
        }
        return "?";
}

static size_t count_opts(const struct sl_cfg_opt *opts)
{
        size_t n = 0;

        while (opts[n].type != SL_CFG_T_END)
                n++;
        return n;
}

/* Finds choice (case-insensitive) in "a|b|c". Returns its start in choices, or NULL. */
static const char *enum_find(const char *choices, const char *val, size_t *len)
{
        const char *p = choices;

        while (*p) {
                const char *bar = strchr(p, '|');
                size_t n = bar ? (size_t)(bar - p) : strlen(p);
                if (n == strlen(val) && strncasecmp(p, val, n) == 0) {
                        *len = n;
                        return p;
                }
                if (!bar)
                        break;
                p = bar + 1;
        }
        return NULL;
}

/* Accepts the spellings found in env files and compose files, in any case. */
static int parse_bool(const char *s, bool *out)
{
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};

        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *out = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *out = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/*
 * Checks that val is valid for opt; on failure writes why (without the
 * value when the option is secret) and returns -EINVAL.
 */
static int check_value(const struct sl_cfg_opt *opt, const char *val, char *why, size_t why_size)
{
        int64_t i64;
        bool b;
        size_t len;
        int rc;

        switch (opt->type) {
        case SL_CFG_T_INT:
        case SL_CFG_T_I64:
                rc = sl_parse_i64(val, opt->min, opt->max, &i64);
                if (rc == -ERANGE)
                        snprintf(why, why_size,
                                 "\"%.*s\" is out of range [%" PRId64 ", %" PRId64 "]", ECHO_MAX,
                                 val, opt->min, opt->max);
                else if (rc < 0)
                        snprintf(why, why_size, "\"%.*s\" is not an integer", ECHO_MAX, val);
                return rc < 0 ? -EINVAL : 0;
        case SL_CFG_T_BOOL:
                rc = parse_bool(val, &b);
                if (rc < 0)
                        snprintf(why, why_size,
                                 "\"%.*s\" is not a boolean (true/false, yes/no, on/off, 1/0)",
                                 ECHO_MAX, val);
                return rc;
        case SL_CFG_T_ENUM:
                if (enum_find(opt->choices, val, &len))
                        return 0;
                snprintf(why, why_size, "\"%.*s\" is not one of %s", ECHO_MAX, val, opt->choices);
                return -EINVAL;
        case SL_CFG_T_STR:
        case SL_CFG_T_END:
                break;
        }
        return 0;
}

/*
 * Stores val (copied) as opt i's value from level lv, if valid. A bad value
 * is an error wherever it appears, even if a higher level overrides it.
 */
static void set_value(struct loader *ld, size_t i, const char *val, enum level lv, const char *src)
{
        const struct sl_cfg_opt *opt = &ld->opts[i];
        struct slot *slot = &ld->slots[i];
        char why[256];

        if (check_value(opt, val, why, sizeof(why)) < 0) {
                add_err(ld, "%s: %s (from %s)", opt->key, why, src);
                return;
        }
        free(slot->val);
        free(slot->src);
        slot->val = sl_xstrdup(val);
        slot->src = sl_xstrdup(src);
        slot->lv = lv;
}

/*
 * Reads a secret file: at most SL_CFG_SECRET_MAX_BYTES, no NUL bytes,
 * trailing CR/LF trimmed. Returns 0 with *out (free() it) or -errno.
 */
static int read_file_capped(const char *path, size_t max_bytes, char **out)
{
        char *data = sl_xmalloc(max_bytes + 2);
        size_t len = 0;
        ssize_t n;
        int fd, rc = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                free(data);
                return -errno;
        }
        /* Read one byte past the cap to tell "exactly max" from "too big". */
        while (len <= max_bytes) {
                n = read(fd, data + len, max_bytes + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rc = -errno;
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (rc == 0 && len > max_bytes)
                rc = -EFBIG;
        if (rc == 0 && memchr(data, '\0', len))
                rc = -EBADMSG;
        if (rc < 0) {
                free(data);
                return rc;
        }
        data[len] = '\0';
        *out = data;
        return 0;
}

static void trim_newlines(char *s)
{
        size_t len = strlen(s);

        while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
                s[--len] = '\0';
}

/* Reads the secret for opt i from path and stores it. */
static void set_from_file(struct loader *ld, size_t i, const char *path, enum level lv,
                          const char *src)
{
        char *val = NULL;
        int rc;

        rc = read_file_capped(path, SL_CFG_SECRET_MAX_BYTES, &val);
        if (rc == -EFBIG)
                add_err(ld, "%s: secret file %s is larger than %d bytes (from %s)", ld->opts[i].key,
                        path, SL_CFG_SECRET_MAX_BYTES, src);
        else if (rc == -EBADMSG)
                add_err(ld, "%s: secret file %s contains a NUL byte (from %s)", ld->opts[i].key,
                        path, src);
        else if (rc < 0)
                add_err(ld, "%s: cannot read secret file %s: %s (from %s)", ld->opts[i].key, path,
                        strerror(-rc), src);
        if (rc < 0)
                return;
        trim_newlines(val);
        set_value(ld, i, val, lv, src);
        free(val);
}

/*
 * Looks key up in the table. "<key>_file" names the file form of a secret
 * option (*file_form = true). Returns the index, or -1.
 */
static long find_key(const struct loader *ld, const char *key, bool *file_form)
{
        size_t klen = strlen(key);

        *file_form = false;
        for (size_t i = 0; i < ld->n; i++) {
                if (strcmp(ld->opts[i].key, key) == 0)
                        return (long)i;
        }
        if (klen <= 5 || strcmp(key + klen - 5, "_file") != 0)
                return -1;
        for (size_t i = 0; i < ld->n; i++) {
                const struct sl_cfg_opt *opt = &ld->opts[i];
                if ((opt->flags & SL_CFG_SECRET) && strlen(opt->key) == klen - 5 &&
                    strncmp(opt->key, key, klen - 5) == 0) {
                        *file_form = true;
                        return (long)i;
                }
        }
        return -1;
}

/* Applies "key = value" (file) or "key=value" (--set) at level lv. */
static void apply_kv(struct loader *ld, const char *key, const char *val, enum level lv,
                     const char *src, int file_line)
{
        bool file_form;
        long i = find_key(ld, key, &file_form);
        struct slot *slot;

        if (i < 0) {
                add_err(ld, "%s: unknown key \"%.*s\"", src, SL_CFG_KEY_MAX, key);
                return;
        }
        slot = &ld->slots[i];
        /* In a file a repeated key is almost always a mistake; --set may repeat (last wins). */
        if (lv == LV_FILE && slot->lv == LV_FILE) {
                add_err(ld, "%s: duplicate key %s (first set on line %d)", src, ld->opts[i].key,
                        slot->file_line);
                return;
        }
        if (file_form)
                set_from_file(ld, (size_t)i, val, lv, src);
        else
                set_value(ld, (size_t)i, val, lv, src);
        /* Mark the file level even if the value was bad, so duplicates are still caught. */
        if (lv == LV_FILE) {
                slot->lv = LV_FILE;
                slot->file_line = file_line;
        }
}

static char *trim(char *s)
{
        char *end;

        while (*s == ' ' || *s == '\t')
                s++;
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                *--end = '\0';
        return s;
}

/* Parses one config file line; lineno counts from 1. */
static void file_line(struct loader *ld, const char *path, int lineno, char *line)
{
        char src[PATH_MAX + 32];
        char *eq, *key, *val;
        size_t vlen;

        line = trim(line);
        if (*line == '\0' || *line == '#')
                return;
        snprintf(src, sizeof(src), "file %s:%d", path, lineno);
        eq = strchr(line, '=');
        if (!eq) {
                add_err(ld, "%s: expected \"key = value\"", src);
                return;
        }
        *eq = '\0';
        key = trim(line);
        val = trim(eq + 1);
        /* "value" keeps leading/trailing blanks; no escapes inside. */
        vlen = strlen(val);
        if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
                val[vlen - 1] = '\0';
                val++;
        }
        if (*key == '\0') {
                add_err(ld, "%s: empty key", src);
                return;
        }
        apply_kv(ld, key, val, LV_FILE, src, lineno);
}

/*
 * Reads the whole config file (capped) and applies it line by line, so error
 * messages can name exact line numbers. A missing final newline is fine.
 */
static void load_file(struct loader *ld, const char *path)
{
        char *data = NULL, *line, *nl;
        int lineno = 0, rc;

        rc = read_file_capped(path, SL_CFG_FILE_MAX_BYTES, &data);
        if (rc == -EFBIG)
                add_err(ld, "config file %s is larger than %d bytes", path, SL_CFG_FILE_MAX_BYTES);
        else if (rc == -EBADMSG)
                add_err(ld, "config file %s contains a NUL byte", path);
        else if (rc < 0)
                add_err(ld, "cannot read config file %s: %s", path, strerror(-rc));
        if (rc < 0)
                return;
        for (line = data; line; line = nl) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl++ = '\0';
                lineno++;
                file_line(ld, path, lineno, line);
        }
        free(data);
}

/* Reads NAME and NAME_FILE for opt i at level lv. Empty variables count as unset. */
static void env_pair(struct loader *ld, size_t i, const char *name, enum level lv)
{
        const struct sl_cfg_opt *opt = &ld->opts[i];
        char fname[ENV_NAME_MAX + 8], src[ENV_NAME_MAX + 16];
        const char *val = getenv(name), *path = NULL;

        if (val && !*val)
                val = NULL;
        if (opt->flags & SL_CFG_SECRET) {
                snprintf(fname, sizeof(fname), "%s_FILE", name); /* fits: sized for it */
                path = getenv(fname);
                if (path && !*path)
                        path = NULL;
        }
        if (val && path) {
                add_err(ld, "%s: both %s and %s are set; use one", opt->key, name, fname);
                return;
        }
        if (val) {
                snprintf(src, sizeof(src), "env %s", name);
                set_value(ld, i, val, lv, src);
        } else if (path) {
                snprintf(src, sizeof(src), "env %s", fname);
                set_from_file(ld, i, path, lv, src);
        }
}

/* Shared variables first, so the service-specific ones override them. */
static void load_env(struct loader *ld)
{
        char name[ENV_NAME_MAX];

        for (size_t i = 0; i < ld->n; i++) {
                if ((ld->opts[i].flags & SL_CFG_SHARED) &&
                    sl_cfg_env_name(NULL, ld->opts[i].key, name, sizeof(name)) == 0)
                        env_pair(ld, i, name, LV_ENV_SHARED);
        }
        for (size_t i = 0; i < ld->n; i++) {
                if (sl_cfg_env_name(ld->service, ld->opts[i].key, name, sizeof(name)) == 0)
                        env_pair(ld, i, name, LV_ENV_SERVICE);
        }
}

/* True if the variable name (len bytes) belongs to some option of the table. */
static bool env_known(const struct loader *ld, const char *var, size_t len)
{
        char name[ENV_NAME_MAX];

        for (size_t i = 0; i < ld->n; i++) {
                size_t nlen;
                if (sl_cfg_env_name(ld->service, ld->opts[i].key, name, sizeof(name)) < 0)
                        continue;
                nlen = strlen(name);
                if (len == nlen && strncmp(var, name, len) == 0)
                        return true;
                if ((ld->opts[i].flags & SL_CFG_SECRET) && len == nlen + 5 &&
                    strncmp(var, name, nlen) == 0 && strncmp(var + nlen, "_FILE", 5) == 0)
                        return true;
        }
        return false;
}

/* Every STATLINE_<SERVICE>_* variable must name an option (catches typos). */
static void check_unknown_env(struct loader *ld)
{
        char prefix[SERVICE_MAX + 16];
        size_t plen;

        if (sl_cfg_env_name(ld->service, "", prefix, sizeof(prefix)) < 0)
                return;
        plen = strlen(prefix);
        for (char **e = environ; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
                if (len <= plen || strncmp(*e, prefix, plen) != 0)
                        continue;
                if (!env_known(ld, *e, len))
                        add_err(ld, "env %.*s: no such key in the %s config", (int)len, *e,
                                ld->service);
        }
}

/* Applies the --set arguments in command-line order, after file and environment. */
static void apply_sets(struct loader *ld)
{
        for (int k = 0; k < ld->n_sets; k++) {
                const char *arg = ld->sets[k], *eq = strchr(arg, '=');
                char key[SL_CFG_KEY_MAX + 8];

                if (!eq || eq == arg) {
                        add_err(ld, "--set %.*s: expected KEY=VALUE", ECHO_MAX, arg);
                        continue;
                }
                if ((size_t)(eq - arg) >= sizeof(key)) {
                        add_err(ld, "--set: unknown key \"%.*s\"", SL_CFG_KEY_MAX, arg);
                        continue;
                }
                memcpy(key, arg, (size_t)(eq - arg));
                key[eq - arg] = '\0';
                apply_kv(ld, key, eq + 1, LV_SET, "--set", 0);
        }
}

/* Takes the value of a flag: "--flag=V" or "--flag V". Returns NULL (error noted) if missing. */
static const char *flag_value(struct loader *ld, int argc, char **argv, int *k, size_t flen)
{
        const char *arg = argv[*k];

        if (arg[flen] == '=')
                return arg + flen + 1;
        if (*k + 1 < argc)
                return argv[++*k];
        add_err(ld, "%s needs a value", arg);
        return NULL;
}

/*
 * Sorts argv into --config, --set and help requests before any value is
 * read, so --help-config works even when the configuration is incomplete.
 * --set values are applied later, at their precedence level.
 */
static void parse_args(struct loader *ld, int argc, char **argv)
{
        ld->sets = sl_xcalloc((size_t)(argc > 0 ? argc : 1), sizeof(*ld->sets));
        for (int k = 1; k < argc; k++) {
                const char *arg = argv[k], *val;

                if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
                        if (!ld->help)
                                ld->help = SL_CFG_HELP;
                } else if (strcmp(arg, "--help-config") == 0) {
                        ld->help = SL_CFG_HELP_CONFIG;
                } else if (strcmp(arg, "--help-config=markdown") == 0) {
                        ld->help = SL_CFG_HELP_CONFIG;
                        ld->markdown = true;
                } else if (strncmp(arg, "--config", 8) == 0 && (!arg[8] || arg[8] == '=')) {
                        val = flag_value(ld, argc, argv, &k, 8);
                        if (val && ld->config)
                                add_err(ld, "--config given twice");
                        else if (val)
                                ld->config = val;
                } else if (strncmp(arg, "--set", 5) == 0 && (!arg[5] || arg[5] == '=')) {
                        val = flag_value(ld, argc, argv, &k, 5);
                        if (val)
                                ld->sets[ld->n_sets++] = val;
                } else {
                        add_err(ld, "unknown argument \"%.*s\" (see --help)", ECHO_MAX, arg);
                }
        }
}

/*
 * Keys are lower-case [a-z0-9_-] plus '.', so that the upper-cased
 * environment name maps back to exactly one key (see check_collisions).
 */
static bool valid_name(const char *s, size_t max, bool dots)
{
        size_t len = strlen(s);

        if (len == 0 || len > max)
                return false;
        for (; *s; s++) {
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
                      *s == '-' || (dots && *s == '.')))
                        return false;
        }
        return true;
}

/* Checks one row; the table is code, so these are programmer errors reported like config errors. */
static void check_row(struct loader *ld, const struct sl_cfg_opt *opt)
{
        size_t len;

        if (!valid_name(opt->key, SL_CFG_KEY_MAX, true))
                add_err(ld, "table: bad key \"%.*s\" (use [a-z0-9._-])", SL_CFG_KEY_MAX, opt->key);
        if (!opt->dest)
                add_err(ld, "table: %s has no destination", opt->key);
        if (!opt->help || !*opt->help)
                add_err(ld, "table: %s has no help text", opt->key);
        if ((opt->flags & SL_CFG_SECRET) && opt->type != SL_CFG_T_STR)
                add_err(ld, "table: %s: only string options can be secret", opt->key);
        if (is_int_type(opt) &&
            (opt->min > opt->max || opt->def_int < opt->min || opt->def_int > opt->max))
                add_err(ld, "table: %s: default %" PRId64 " outside [%" PRId64 ", %" PRId64 "]",
                        opt->key, opt->def_int, opt->min, opt->max);
        if (opt->type == SL_CFG_T_INT && (opt->min < INT_MIN || opt->max > INT_MAX))
                add_err(ld, "table: %s: range does not fit an int", opt->key);
        if (opt->type == SL_CFG_T_ENUM && (!opt->choices || !*opt->choices || !opt->def_str ||
                                           !enum_find(opt->choices, opt->def_str, &len)))
                add_err(ld, "table: %s: default must be one of the choices", opt->key);
}

/* Two keys must not share an environment name (a.b vs a_b, or x vs x_file of a secret). */
static void check_collisions(struct loader *ld)
{
        char a[ENV_NAME_MAX], b[ENV_NAME_MAX];

        for (size_t i = 0; i < ld->n; i++) {
                if (sl_cfg_env_name(ld->service, ld->opts[i].key, a, sizeof(a)) < 0)
                        continue;
                for (size_t j = 0; j < ld->n; j++) {
                        if (j == i ||
                            sl_cfg_env_name(ld->service, ld->opts[j].key, b, sizeof(b)) < 0)
                                continue;
                        if (j > i && strcmp(a, b) == 0)
                                add_err(ld, "table: keys %s and %s collide (%s)", ld->opts[i].key,
                                        ld->opts[j].key, a);
                        if ((ld->opts[i].flags & SL_CFG_SECRET) && strncmp(b, a, strlen(a)) == 0 &&
                            strcmp(b + strlen(a), "_FILE") == 0)
                                add_err(ld, "table: key %s collides with the _file form of %s",
                                        ld->opts[j].key, ld->opts[i].key);
                }
        }
}

/* Validates the service name and the table before anything is read. */
static void check_table(struct loader *ld)
{
        if (!ld->service || !valid_name(ld->service, SERVICE_MAX, false))
                add_err(ld, "table: bad service name (use [a-z0-9_-], at most %d bytes)",
                        SERVICE_MAX);
        for (size_t i = 0; i < ld->n; i++) {
                if (!ld->opts[i].key) {
                        add_err(ld, "table: row %zu has no key", i);
                        return; /* later checks dereference keys */
                }
                check_row(ld, &ld->opts[i]);
        }
        if (ld->n_errs == 0)
                check_collisions(ld);
}

/*
 * Defaults are stored as text like every other source, so all levels share
 * one validation and one commit path.
 */
static void set_defaults(struct loader *ld)
{
        for (size_t i = 0; i < ld->n; i++) {
                const struct sl_cfg_opt *opt = &ld->opts[i];
                struct slot *slot = &ld->slots[i];

                slot->lv = LV_DEFAULT;
                slot->src = sl_xstrdup("default");
                if (is_int_type(opt))
                        slot->val = sl_xasprintf("%" PRId64, opt->def_int);
                else if (opt->type == SL_CFG_T_BOOL)
                        slot->val = sl_xstrdup(opt->def_int ? "true" : "false");
                else if (opt->def_str)
                        slot->val = sl_xstrdup(opt->def_str);
        }
}

/* A required option must end up non-empty; the message says where to set it. */
static void check_required(struct loader *ld)
{
        char env[ENV_NAME_MAX];

        for (size_t i = 0; i < ld->n; i++) {
                const struct sl_cfg_opt *opt = &ld->opts[i];
                if (!(opt->flags & SL_CFG_REQUIRED) || (ld->slots[i].val && *ld->slots[i].val))
                        continue;
                if (sl_cfg_env_name(ld->service, opt->key, env, sizeof(env)) < 0)
                        env[0] = '\0';
                add_err(ld, "%s: required but not set (config file, env %s%s, or --set %s=...)",
                        opt->key, env, (opt->flags & SL_CFG_SECRET) ? "[_FILE]" : "", opt->key);
        }
}

/* True if a "name=value" piece's name says its value is a credential (sasl.password, ...). */
static bool embedded_secret_name(const char *name, size_t len)
{
        static const char *const words[] = {"password", "secret", "jaas", "token",
                                            "oauthbearer.config"};
        char lower[SL_CFG_KEY_MAX * 2];

        if (len >= sizeof(lower))
                len = sizeof(lower) - 1;
        for (size_t i = 0; i < len; i++)
                lower[i] = (char)tolower((unsigned char)name[i]);
        lower[len] = '\0';
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (strstr(lower, words[i]))
                        return true;
        return false;
}

/*
 * A plain string option may carry credentials inside "k=v,k=v" (bus.kafka_props
 * = "sasl.password=..."): registers each such value as a log secret, so the
 * effective-config line and later log lines show "***". A value runs to the
 * next comma that starts another "k=" piece (bus_kafka.c's rule).
 */
static void add_embedded_secrets(const char *val)
{
        const char *p = val;

        while (p && *p) {
                const char *eq = strchr(p, '='), *end, *comma;
                const char *name = p;

                if (!eq)
                        return;
                end = eq + 1;
                for (comma = strchr(end, ','); comma; comma = strchr(comma + 1, ',')) {
                        const char *next = strchr(comma + 1, ','), *neq = strchr(comma + 1, '=');
                        if (neq && (!next || neq < next))
                                break;
                }
                end = comma ? comma : eq + strlen(eq);
                while (*name == ' ' || *name == '\t')
                        name++;
                if (embedded_secret_name(name, (size_t)(eq - name)) && end > eq + 1) {
                        char *v = sl_xstrndup(eq + 1, (size_t)(end - eq - 1));
                        sl_log_add_secret(v);
                        free(v);
                }
                p = comma ? comma + 1 : NULL;
        }
}

/* Writes the validated values into the destinations. Cannot fail. */
static void commit(struct loader *ld)
{
        for (size_t i = 0; i < ld->n; i++) {
                const struct sl_cfg_opt *opt = &ld->opts[i];
                const char *val = ld->slots[i].val;
                int64_t i64 = 0;
                size_t len = 0;
                const char *choice;

                if (is_int_type(opt))
                        sl_parse_i64(val, opt->min, opt->max, &i64); /* validated earlier */
                if (opt->type == SL_CFG_T_INT)
                        *(int *)opt->dest = (int)i64;
                else if (opt->type == SL_CFG_T_I64)
                        *(int64_t *)opt->dest = i64;
                else if (opt->type == SL_CFG_T_BOOL)
                        parse_bool(val, (bool *)opt->dest);
                else if (opt->type == SL_CFG_T_STR)
                        *(const char **)opt->dest = val ? sl_xstrdup(val) : NULL;
                if (opt->type == SL_CFG_T_ENUM) {
                        choice = enum_find(opt->choices, val, &len);
                        *(const char **)opt->dest = sl_xstrndup(choice, len);
                }
                if ((opt->flags & SL_CFG_SECRET) && val)
                        sl_log_add_secret(val);
                else if (opt->type == SL_CFG_T_STR && val)
                        add_embedded_secrets(val);
                reg_set(opt->dest, ld->slots[i].src);
        }
}

/*
 * Formats the collected errors into errstr: one line for a single error,
 * else a count and one indented line each. Cuts at a line boundary and says
 * so when errstr is too small.
 */
static void format_errors(struct loader *ld, char *errstr, size_t errstr_size)
{
        static const char more[] = "\n  ... (more errors not shown)";
        struct sl_buf out;
        const char *p = ld->errs.data ? ld->errs.data : "", *text;
        size_t keep;

        if (errstr_size == 0)
                return;
        sl_buf_init(&out, 0);
        if (ld->n_errs == 1)
                sl_buf_puts(&out, "invalid configuration: ");
        else
                sl_buf_printf(&out, "invalid configuration (%d errors):", ld->n_errs);
        for (size_t len; *p; p += len + (p[len] == '\n')) {
                len = strcspn(p, "\n");
                if (ld->n_errs > 1)
                        sl_buf_puts(&out, "\n  ");
                sl_buf_append(&out, p, len);
        }
        text = out.data ? out.data : "";
        if (out.len < errstr_size) {
                memcpy(errstr, text, out.len + 1);
        } else {
                keep = errstr_size > sizeof(more) ? errstr_size - sizeof(more) : 0;
                while (keep > 0 && text[keep] != '\n')
                        keep--;
                snprintf(errstr, errstr_size, "%.*s%s", (int)keep, text, keep ? more : "");
        }
        sl_buf_fini(&out);
}

/* Writes the default as shown to humans: <secret>, (none), "text", 8000, true. */
static void fmt_default(const struct sl_cfg_opt *opt, char *out, size_t out_size)
{
        if (opt->flags & SL_CFG_SECRET)
                snprintf(out, out_size, "<secret>");
        else if (is_int_type(opt))
                snprintf(out, out_size, "%" PRId64, opt->def_int);
        else if (opt->type == SL_CFG_T_BOOL)
                snprintf(out, out_size, "%s", opt->def_int ? "true" : "false");
        else if (!opt->def_str)
                snprintf(out, out_size, "(none)");
        else
                snprintf(out, out_size, "\"%s\"", opt->def_str);
}

/* Writes "min..max" for integers, the choices for enums, else "". */
static void fmt_range(const struct sl_cfg_opt *opt, char *out, size_t out_size)
{
        out[0] = '\0';
        if (is_int_type(opt))
                snprintf(out, out_size, "%" PRId64 "..%" PRId64, opt->min, opt->max);
        else if (opt->type == SL_CFG_T_ENUM)
                snprintf(out, out_size, "%s", opt->choices);
}

void sl_cfg_print_help(const struct sl_cfg_opt *opts, const char *service, FILE *out)
{
        char def[256], range[256], env[ENV_NAME_MAX], shared[ENV_NAME_MAX], prefix[ENV_NAME_MAX];

        /* "STATLINE_RAW_X" -> "STATLINE_RAW": the service's env prefix as the shell sees it */
        if (sl_cfg_env_name(service, "x", prefix, sizeof(prefix)) < 0)
                snprintf(prefix, sizeof(prefix), "STATLINE_<SERVICE>__");
        prefix[strlen(prefix) - 2] = '\0';
        fprintf(out,
                "statline-%s configuration. Precedence, lowest first: default < config file\n"
                "(--config FILE or $STATLINE_CONFIG) < STATLINE_<KEY> (shared keys only) <\n"
                "%s_<KEY> < --set KEY=VALUE. <KEY> is the key upper-cased, '.' -> '_'.\n",
                service, prefix);
        for (const struct sl_cfg_opt *opt = opts; opt->type != SL_CFG_T_END; opt++) {
                fmt_default(opt, def, sizeof(def));
                fmt_range(opt, range, sizeof(range));
                if (sl_cfg_env_name(service, opt->key, env, sizeof(env)) < 0 ||
                    sl_cfg_env_name(NULL, opt->key, shared, sizeof(shared)) < 0)
                        continue;
                fprintf(out, "\n%s\n    %s, default %s%s%s%s%s\n", opt->key, type_name(opt), def,
                        range[0] ? is_int_type(opt) ? ", range " : ", one of " : "", range,
                        (opt->flags & SL_CFG_REQUIRED) ? ", required" : "",
                        (opt->flags & SL_CFG_SECRET) ? ", secret" : "");
                fprintf(out, "    env %s", env);
                if (opt->flags & SL_CFG_SHARED)
                        fprintf(out, " (shared: %s)", shared);
                fprintf(out, "\n");
                if (opt->flags & SL_CFG_SECRET)
                        fprintf(out, "    from a file: %s_file = PATH, or %s_FILE=PATH\n", opt->key,
                                env);
                fprintf(out, "    %s\n", opt->help);
        }
}

/* Appends s with '|' escaped and newlines flattened, for a Markdown table cell. */
static int md_cell(struct sl_buf *out, const char *s)
{
        int rc = 0;

        for (; rc == 0 && *s; s++) {
                if (*s == '|')
                        rc = sl_buf_puts(out, "\\|");
                else if (*s == '\n' || *s == '\r')
                        rc = sl_buf_puts(out, " ");
                else
                        rc = sl_buf_append(out, s, 1);
        }
        return rc;
}

/* Appends the Default and Range/values cells of opt. */
static int md_default_range(struct sl_buf *out, const struct sl_cfg_opt *opt)
{
        char def[256];
        int rc;

        if (is_str_type(opt) && opt->def_str && !(opt->flags & SL_CFG_SECRET))
                snprintf(def, sizeof(def), "%s", *opt->def_str ? opt->def_str : "\"\"");
        else
                fmt_default(opt, def, sizeof(def));
        if (strcmp(def, "(none)") == 0) {
                rc = sl_buf_puts(out, " | (none) | ");
        } else {
                rc = sl_buf_puts(out, " | `");
                if (rc == 0)
                        rc = md_cell(out, def);
                if (rc == 0)
                        rc = sl_buf_puts(out, "` | ");
        }
        if (rc == 0 && is_int_type(opt))
                rc = sl_buf_printf(out, "%" PRId64 "..%" PRId64, opt->min, opt->max);
        for (const char *p = opt->choices; rc == 0 && opt->type == SL_CFG_T_ENUM && *p;) {
                size_t n = strcspn(p, "|");
                rc = sl_buf_printf(out, "%s`%.*s`", p == opt->choices ? "" : ", ", (int)n, p);
                p += n + (p[n] == '|');
        }
        return rc;
}

/* Appends one Markdown table row for opt. */
static int md_row(struct sl_buf *out, const struct sl_cfg_opt *opt, const char *service)
{
        char env[ENV_NAME_MAX], shared[ENV_NAME_MAX];
        int rc;

        if (sl_cfg_env_name(service, opt->key, env, sizeof(env)) < 0 ||
            sl_cfg_env_name(NULL, opt->key, shared, sizeof(shared)) < 0)
                return -ENAMETOOLONG;
        rc = sl_buf_printf(out, "| `%s` | %s", opt->key, type_name(opt));
        if (rc == 0)
                rc = md_default_range(out, opt);
        if (rc == 0)
                rc = sl_buf_printf(out, " | `%s`", env);
        if (rc == 0 && (opt->flags & SL_CFG_SHARED))
                rc = sl_buf_printf(out, "<br>`%s`", shared);
        if (rc == 0)
                rc = sl_buf_puts(out, " | ");
        if (rc == 0 && (opt->flags & SL_CFG_REQUIRED))
                rc = sl_buf_puts(out, "**Required.** ");
        if (rc == 0 && (opt->flags & SL_CFG_SECRET))
                rc = sl_buf_printf(out, "**Secret**; also `%s_file`, `%s_FILE`. ", opt->key, env);
        if (rc == 0)
                rc = md_cell(out, opt->help);
        if (rc == 0)
                rc = sl_buf_puts(out, " |\n");
        return rc;
}

int sl_cfg_write_markdown(const struct sl_cfg_opt *opts, const char *service, struct sl_buf *out)
{
        int rc = sl_buf_puts(out, "| Key | Type | Default | Range / values | Environment | "
                                  "Description |\n|---|---|---|---|---|---|\n");

        for (const struct sl_cfg_opt *opt = opts; rc == 0 && opt->type != SL_CFG_T_END; opt++)
                rc = md_row(out, opt, service);
        return rc;
}

/* Prints the table for --help-config[=markdown] to stdout. */
static void print_table(const struct sl_cfg_opt *opts, const char *service, bool markdown)
{
        struct sl_buf md;

        if (!markdown) {
                sl_cfg_print_help(opts, service, stdout);
                fflush(stdout);
                return;
        }
        sl_buf_init(&md, 0);
        if (sl_cfg_write_markdown(opts, service, &md) == 0 && md.data)
                fputs(md.data, stdout);
        fflush(stdout);
        sl_buf_fini(&md);
}

int sl_cfg_undocumented(const struct sl_cfg_opt *opts, const char *doc, char *errstr,
                        size_t errstr_size)
{
        char needle[SL_CFG_KEY_MAX + 8];
        struct sl_buf missing;
        int n = 0;

        sl_buf_init(&missing, 0);
        for (const struct sl_cfg_opt *opt = opts; opt->type != SL_CFG_T_END; opt++) {
                snprintf(needle, sizeof(needle), "`%s`", opt->key);
                if (doc && strstr(doc, needle))
                        continue;
                sl_buf_printf(&missing, "%sundocumented key: %s", n ? "\n" : "", opt->key);
                n++;
        }
        if (errstr_size > 0)
                snprintf(errstr, errstr_size, "%s", missing.data ? missing.data : "");
        sl_buf_fini(&missing);
        return n;
}

void sl_cfg_print_usage(const char *prog, FILE *out)
{
        fprintf(out,
                "Usage: %s [--config FILE] [--set KEY=VALUE]... [--help-config[=markdown]]\n"
                "  --config FILE           read \"KEY = VALUE\" lines (default: $STATLINE_CONFIG)\n"
                "  --set KEY=VALUE         override one key; repeatable, beats file and env\n"
                "  --help-config           list every key: type, default, range, env variable\n"
                "  --help-config=markdown  the same as a Markdown table (docs/config.md)\n"
                "  -h, --help              this help\n"
                "Bad configuration exits with status 78 (EX_CONFIG).\n",
                prog);
}

/* Frees the loader's own allocations (the destinations are not touched). */
static void loader_fini(struct loader *ld)
{
        for (size_t i = 0; ld->slots && i < ld->n; i++) {
                free(ld->slots[i].val);
                free(ld->slots[i].src);
        }
        free(ld->slots);
        free(ld->sets);
        sl_buf_fini(&ld->errs);
}

/* Leaves every string destination NULL so sl_cfg_free() is safe after a failed load. */
static void clear_dests(const struct sl_cfg_opt *opts, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (is_str_type(&opts[i]) && opts[i].dest)
                        *(const char **)opts[i].dest = NULL;
        }
}

int sl_cfg_load(const struct sl_cfg_opt *opts, const char *service, int argc, char **argv,
                char *errstr, size_t errstr_size)
{
        struct loader ld = {.opts = opts, .service = service};
        const char *path;
        int rc = -EINVAL;

        if (errstr_size > 0)
                errstr[0] = '\0';
        sl_buf_init(&ld.errs, ERRS_MAX_BYTES);
        ld.n = count_opts(opts);
        ld.slots = sl_xcalloc(ld.n ? ld.n : 1, sizeof(*ld.slots));
        clear_dests(opts, ld.n);
        check_table(&ld);
        if (ld.n_errs > 0)
                goto out;
        parse_args(&ld, argc, argv);
        if (ld.help == SL_CFG_HELP_CONFIG) {
                print_table(opts, service, ld.markdown);
                rc = SL_CFG_HELP_CONFIG;
                goto out;
        }
        if (ld.help == SL_CFG_HELP) {
                rc = SL_CFG_HELP;
                goto out;
        }
        /* Lowest precedence first: each level overwrites the slots it names. */
        set_defaults(&ld);
        path = ld.config ? ld.config : getenv("STATLINE_CONFIG");
        if (path && *path)
                load_file(&ld, path);
        load_env(&ld);
        check_unknown_env(&ld);
        apply_sets(&ld);
        check_required(&ld);
        /* All or nothing: destinations are written only when every check passed. */
        if (ld.n_errs > 0)
                goto out;
        commit(&ld);
        rc = 0;
out:
        if (rc == -EINVAL)
                format_errors(&ld, errstr, errstr_size);
        loader_fini(&ld);
        return rc;
}

void sl_cfg_free(const struct sl_cfg_opt *opts)
{
        if (!opts)
                return;
        /* Every STR/ENUM destination holds a cfg-owned copy or NULL (sl_cfg_load contract). */
        for (const struct sl_cfg_opt *opt = opts; opt->type != SL_CFG_T_END; opt++) {
                if (!opt->dest)
                        continue;
                if (is_str_type(opt)) {
                        free((void *)*(const char **)opt->dest);
                        *(const char **)opt->dest = NULL;
                }
                reg_remove(opt->dest);
        }
        /* Release the registry itself once empty, so tests end with nothing allocated. */
        if (src_n == 0) {
                free(src_reg);
                src_reg = NULL;
                src_cap = 0;
        }
}

const char *sl_cfg_source(const struct sl_cfg_opt *opts, const char *key)
{
        for (const struct sl_cfg_opt *opt = opts; key && opt->type != SL_CFG_T_END; opt++) {
                if (opt->key && strcmp(opt->key, key) == 0)
                        return reg_get(opt->dest);
        }
        return NULL;
}

/* Writes the current value of opt for the log; secrets become <secret>. */
static void fmt_value(const struct sl_cfg_opt *opt, char *out, size_t out_size)
{
        const char *s = is_str_type(opt) ? *(const char *const *)opt->dest : NULL;

        if (opt->type == SL_CFG_T_INT)
                snprintf(out, out_size, "%d", *(const int *)opt->dest);
        else if (opt->type == SL_CFG_T_I64)
                snprintf(out, out_size, "%" PRId64, *(const int64_t *)opt->dest);
        else if (opt->type == SL_CFG_T_BOOL)
                snprintf(out, out_size, "%s", *(const bool *)opt->dest ? "true" : "false");
        else if (!s)
                snprintf(out, out_size, "<unset>");
        else if (opt->flags & SL_CFG_SECRET)
                snprintf(out, out_size, "<secret>");
        else
                snprintf(out, out_size, "%s", s);
}

/* One line per option keeps each log line short (log lines are capped at 4 KiB). */
void sl_cfg_log(const struct sl_cfg_opt *opts)
{
        char val[512];

        for (const struct sl_cfg_opt *opt = opts; opt->type != SL_CFG_T_END; opt++) {
                const char *src = reg_get(opt->dest);
                fmt_value(opt, val, sizeof(val));
                sl_log_info("cfg.effective", "%s=%s source=%s", opt->key, val,
                            src ? src : "unknown");
        }
}
