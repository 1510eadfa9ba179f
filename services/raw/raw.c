#include "raw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/http.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/pg.h>
#include <sl/util.h>

#include "parsers.h"

/*
 * The raw phase's handler (README.md): blob -> parser -> one transaction of
 * upserts + execution log + outbox row -> publish -> mark published.
 */

#define SQL_MAX_BYTES   (64u * 1024) /* one generated statement */
#define RAW_ERRSTR_SIZE 1024

/* ---- load specs: the only identifiers besides the parser's column names -------------- */

/* Natural keys are the primary keys of db/migrations/0002_raw.sql. */
static const struct raw_load_spec specs[] = {
    {"raw.games", {"game_id"}, 1, "payload_sha256"},
    {"raw.player_boxscores", {"game_id", "player_id"}, 2, "payload_sha256"},
    {"raw.team_boxscores", {"game_id", "team_id"}, 2, "payload_sha256"},
    {"raw.schedule", {"game_id"}, 1, "payload_sha256"},
    {"raw.league_game_log", {"game_id", "team_id"}, 2, "payload_sha256"},
    {"raw.play_by_play", {"game_id", "event_num"}, 2, "payload_sha256"},
    {"raw.injuries", {"report_date", "player_id"}, 2, "payload_sha256"},
    {"raw.prop_lines", {"game_date", "player_id", "market", "book"}, 4, "payload_sha256"},
    /* NHL: db/migrations/0014_nhl.sql */
    {"raw.nhl_games", {"game_id"}, 1, "payload_sha256"},
    {"raw.nhl_plays", {"game_id", "event_id"}, 2, "payload_sha256"},
    {"raw.nhl_game_rosters", {"game_id", "player_id"}, 2, "payload_sha256"},
    {"raw.nhl_skater_boxscores", {"game_id", "player_id"}, 2, "payload_sha256"},
    {"raw.nhl_goalie_boxscores", {"game_id", "player_id"}, 2, "payload_sha256"},
    /* moneylines: db/migrations/0017_moneyline_odds.sql */
    {"raw.moneyline_odds",
     {"game_date", "home_team_id", "away_team_id", "book"},
     4,
     "payload_sha256"},
};

#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

const struct raw_load_spec *raw_load_spec_at(size_t i)
{
        return i < N_SPECS ? &specs[i] : NULL;
}

const struct raw_load_spec *raw_load_spec_find(const char *table)
{
        for (size_t i = 0; table && i < N_SPECS; i++)
                if (strcmp(specs[i].table, table) == 0)
                        return &specs[i];
        return NULL;
}

static bool ident_part(const char *s, size_t n)
{
        if (n == 0 || n > RAW_IDENT_MAX || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                        return false;
        }
        return true;
}

bool raw_ident_ok(const char *s, bool dotted)
{
        const char *dot;

        if (!s)
                return false;
        dot = strchr(s, '.');
        if (!dotted)
                return !dot && ident_part(s, strlen(s));
        return dot && ident_part(s, (size_t)(dot - s)) && ident_part(dot + 1, strlen(dot + 1));
}

/* ---- blob paths ----------------------------------------------------------------------- */

static bool path_char_ok(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
}

int raw_blob_path_check(const char *rel, char *errstr, size_t n)
{
        size_t len = rel ? strlen(rel) : 0;
        const char *p;

        if (len == 0)
                return sl_errf(errstr, n, -EBADMSG, "blob_path: empty");
        if (len > RAW_BLOB_PATH_MAX)
                return sl_errf(errstr, n, -EBADMSG, "blob_path: longer than %d bytes",
                               RAW_BLOB_PATH_MAX);
        if (rel[0] == '/')
                return sl_errf(errstr, n, -EBADMSG, "blob_path: absolute path refused");
        for (p = rel; *p;) {
                size_t clen = strcspn(p, "/");
                if (clen == 0)
                        return sl_errf(errstr, n, -EBADMSG, "blob_path: empty component");
                if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.'))
                        return sl_errf(errstr, n, -EBADMSG,
                                       "blob_path: '.' or '..' component refused");
                for (size_t i = 0; i < clen; i++)
                        if (!path_char_ok(p[i]))
                                return sl_errf(errstr, n, -EBADMSG,
                                               "blob_path: character 0x%02x not allowed",
                                               (unsigned char)p[i]);
                p += clen;
                if (*p == '/' && *++p == '\0')
                        return sl_errf(errstr, n, -EBADMSG, "blob_path: trailing '/'");
        }
        return 0;
}

/* Reads the open regular file fd (at most max_bytes) and checks its digest. */
static int read_verify(int fd, const char *rel, const char *sha_hex, size_t max_bytes, char **data,
                       size_t *len, char *errstr, size_t n)
{
        struct stat st;
        struct sl_sha256 h;
        char hex[SL_SHA256_HEX_LEN + 1];
        size_t got = 0;
        char *buf;

        if (fstat(fd, &st) < 0)
                return sl_errf(errstr, n, -EIO, "blob %s: fstat: %s", rel, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return sl_errf(errstr, n, -EBADMSG, "blob %s: not a regular file", rel);
        if ((uint64_t)st.st_size > max_bytes)
                return sl_errf(errstr, n, -EBADMSG, "blob %s: %lld bytes exceed blob.max_bytes %zu",
                               rel, (long long)st.st_size, max_bytes);
        buf = sl_xmalloc((size_t)st.st_size + 1);
        while (got <= (size_t)st.st_size) { /* one byte more than stat said: a growing file */
                ssize_t r = read(fd, buf + got, (size_t)st.st_size + 1 - got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        free(buf);
                        return sl_errf(errstr, n, -EIO, "blob %s: read: %s", rel, strerror(errno));
                }
                if (r == 0)
                        break;
                got += (size_t)r;
        }
        if (got != (size_t)st.st_size) {
                free(buf);
                return sl_errf(errstr, n, -EBADMSG, "blob %s: changed size while read", rel);
        }
        buf[got] = '\0';
        sl_sha256_init(&h);
        sl_sha256_update(&h, buf, got);
        sl_sha256_final_hex(&h, hex);
        if (strcmp(hex, sha_hex) != 0) {
                free(buf);
                return sl_errf(errstr, n, -EBADMSG, "blob %s: sha256 is %s, the event says %s", rel,
                               hex, sha_hex);
        }
        *data = buf;
        *len = got;
        return 0;
}

int raw_blob_load(const char *root, const char *rel, const char *sha_hex, size_t max_bytes,
                  char **data, size_t *len, char *errstr, size_t n)
{
        char *joined = NULL, *real = NULL;
        size_t root_len = strlen(root);
        int fd = -1, rc;

        *data = NULL;
        *len = 0;
        rc = raw_blob_path_check(rel, errstr, n);
        if (rc < 0)
                return rc;
        joined = sl_xasprintf("%s/%s", root, rel);
        real = realpath(joined, NULL);
        if (!real) {
                int e = errno;
                if (e == ENOENT)
                        rc = sl_errf(errstr, n, -EAGAIN, "blob %s: not found under blob.dir", rel);
                else if (e == ELOOP || e == ENOTDIR || e == ENAMETOOLONG)
                        rc = sl_errf(errstr, n, -EBADMSG, "blob %s: %s", rel, strerror(e));
                else
                        rc = sl_errf(errstr, n, -EIO, "blob %s: %s", rel, strerror(e));
                goto out;
        }
        while (root_len > 1 && root[root_len - 1] == '/')
                root_len--;
        if (strncmp(real, root, root_len) != 0 || (real[root_len] != '/' && root_len > 1)) {
                rc = sl_errf(errstr, n, -EBADMSG, "blob %s: resolves outside blob.dir", rel);
                goto out;
        }
        fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                rc = sl_errf(errstr, n, errno == ENOENT ? -EAGAIN : -EIO, "blob %s: open: %s", rel,
                             strerror(errno));
                goto out;
        }
        rc = read_verify(fd, rel, sha_hex, max_bytes, data, len, errstr, n);
out:
        if (fd >= 0)
                close(fd);
        free(real);
        free(joined);
        return rc;
}

/* ---- the scraper.completed payload ----------------------------------------------------- */

static bool sha_hex_ok(const char *s)
{
        size_t i;

        for (i = 0; s[i]; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return i == SL_SHA256_HEX_LEN;
}

static bool kind_ok(const char *s)
{
        size_t len = strlen(s);

        return len > 0 && len <= RAW_KIND_MAX &&
               strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

static bool printable(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

/* Optional string member: NULL when absent or null; -EBADMSG for another type. */
static int opt_str(const cJSON *obj, const char *name, const char **out, char *errstr, size_t n)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

        *out = NULL;
        if (!v || cJSON_IsNull(v))
                return 0;
        if (!cJSON_IsString(v) || !v->valuestring)
                return sl_errf(errstr, n, -EBADMSG, "payload.%s: not a string", name);
        *out = v->valuestring;
        return 0;
}

/* bytes and game_date: the checks that need more than a string type. */
static int scrape_numbers(const struct sl_envelope *env, const cJSON *p, struct raw_scrape *out,
                          char *errstr, size_t n)
{
        const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(p, "bytes");
        const char *date;
        int rc;

        out->bytes = -1;
        if (bytes && !cJSON_IsNull(bytes)) {
                if (!cJSON_IsNumber(bytes) || bytes->valuedouble < 0 ||
                    bytes->valuedouble > 9007199254740992.0 ||
                    bytes->valuedouble != (double)(int64_t)bytes->valuedouble)
                        return sl_errf(errstr, n, -EBADMSG, "payload.bytes: not a byte count");
                out->bytes = (int64_t)bytes->valuedouble;
        }
        rc = opt_str(p, "game_date", &date, errstr, n);
        if (rc < 0)
                return rc;
        if (date && *date && !sl_date_valid(date))
                return sl_errf(errstr, n, -EBADMSG, "payload.game_date: '%.32s' is not YYYY-MM-DD",
                               date);
        snprintf(out->game_date, sizeof(out->game_date), "%s",
                 date && *date ? date : env->game_date);
        return 0;
}

int raw_scrape_parse(const struct sl_envelope *env, struct raw_scrape *out, char *errstr, size_t n)
{
        const cJSON *p = env->payload;
        int rc;

        memset(out, 0, sizeof(*out));
        if (!cJSON_IsObject(p))
                return sl_errf(errstr, n, -EBADMSG, "payload: not an object");
        rc = opt_str(p, "source", &out->source, errstr, n);
        if (rc == 0)
                rc = opt_str(p, "kind", &out->kind, errstr, n);
        if (rc == 0)
                rc = opt_str(p, "blob_sha256", &out->blob_sha256, errstr, n);
        if (rc == 0)
                rc = opt_str(p, "blob_path", &out->blob_path, errstr, n);
        if (rc == 0)
                rc = opt_str(p, "game_id", &out->game_id, errstr, n);
        if (rc < 0)
                return rc;
        if (!out->source || !*out->source || strlen(out->source) > RAW_SOURCE_MAX ||
            !printable(out->source))
                return sl_errf(errstr, n, -EBADMSG, "payload.source: missing or not a source name");
        if (out->kind && !kind_ok(out->kind))
                return sl_errf(errstr, n, -EBADMSG, "payload.kind: '%.64s' is not a kind name",
                               out->kind);
        if (!out->blob_sha256 || !sha_hex_ok(out->blob_sha256))
                return sl_errf(errstr, n, -EBADMSG,
                               "payload.blob_sha256: missing or not 64 lower-case hex");
        if (out->game_id && (strlen(out->game_id) > 32 || !printable(out->game_id)))
                return sl_errf(errstr, n, -EBADMSG, "payload.game_id: not an id");
        rc = scrape_numbers(env, p, out, errstr, n);
        if (rc < 0)
                return rc;
        snprintf(out->default_path, sizeof(out->default_path), "%.2s/%s.json", out->blob_sha256,
                 out->blob_sha256);
        if (!out->blob_path)
                out->blob_path = out->default_path;
        return 0;
}

/* ---- SQL builders ------------------------------------------------------------------------ */

/* Appends a checked identifier, double-quoted ("raw"."games" for a dotted one). */
static int put_ident(struct sl_buf *b, const char *s, bool dotted)
{
        const char *dot = strchr(s, '.');

        if (!raw_ident_ok(s, dotted))
                return -EINVAL;
        if (dotted)
                return sl_buf_printf(b, "\"%.*s\".\"%s\"", (int)(dot - s), s, dot + 1);
        return sl_buf_printf(b, "\"%s\"", s);
}

/* Appends "<prefix><c1>, <prefix><c2>, ..." for the columns with skip[i] false (skip may be NULL).
 */
static int put_list(struct sl_buf *b, const char *prefix, const char *const *cols, size_t ncols,
                    const bool *skip)
{
        bool first = true;
        int rc = 0;

        for (size_t i = 0; i < ncols && rc == 0; i++) {
                if (skip && skip[i])
                        continue;
                rc = sl_buf_printf(b, "%s%s", first ? "" : ", ", prefix);
                if (rc == 0)
                        rc = put_ident(b, cols[i], false);
                first = false;
        }
        return rc;
}

int raw_sql_temp(struct sl_buf *out, const char *table, const char *tmp, const char *const *cols,
                 size_t ncols)
{
        int rc = sl_buf_puts(out, "CREATE TEMP TABLE ");

        if (rc == 0)
                rc = put_ident(out, tmp, false);
        if (rc == 0)
                rc = sl_buf_puts(out, " ON COMMIT DROP AS SELECT ");
        if (rc == 0)
                rc = put_list(out, "", cols, ncols, NULL);
        if (rc == 0)
                rc = sl_buf_puts(out, " FROM ");
        if (rc == 0)
                rc = put_ident(out, table, true);
        if (rc == 0)
                rc = sl_buf_puts(out, " WITH NO DATA");
        return rc;
}

static int col_index(const char *const *cols, size_t ncols, const char *name)
{
        for (size_t i = 0; i < ncols; i++)
                if (strcmp(cols[i], name) == 0)
                        return (int)i;
        return -1;
}

/* The SET/WHERE part; keys[i] marks key columns, cmp_skip[i] columns not compared. */
static int put_update(struct sl_buf *b, const char *const *cols, size_t ncols, const bool *keys,
                      const bool *cmp_skip, size_t n_set, size_t n_cmp)
{
        bool first = true;
        int rc = 0;

        if (n_set == 0)
                return sl_buf_puts(b, " DO NOTHING");
        rc = sl_buf_puts(b, " DO UPDATE SET ");
        for (size_t i = 0; i < ncols && rc == 0; i++) {
                if (keys[i])
                        continue;
                rc = sl_buf_puts(b, first ? "" : ", ");
                if (rc == 0)
                        rc = put_ident(b, cols[i], false);
                if (rc == 0)
                        rc = sl_buf_puts(b, " = EXCLUDED.");
                if (rc == 0)
                        rc = put_ident(b, cols[i], false);
                first = false;
        }
        if (rc == 0 && n_cmp == 0)
                return sl_buf_puts(b, " WHERE false");
        if (rc == 0)
                rc = sl_buf_puts(b, " WHERE (");
        if (rc == 0)
                rc = put_list(b, "t.", cols, ncols, cmp_skip);
        if (rc == 0)
                rc = sl_buf_puts(b, ") IS DISTINCT FROM (");
        if (rc == 0)
                rc = put_list(b, "EXCLUDED.", cols, ncols, cmp_skip);
        if (rc == 0)
                rc = sl_buf_puts(b, ")");
        return rc;
}

/* RETURNING (xmax = 0), game id, player id: what the counts and entities need. */
static int put_returning(struct sl_buf *b, const char *const *cols, size_t ncols)
{
        int rc = sl_buf_puts(b, " RETURNING (xmax = 0)");

        if (rc == 0)
                rc = sl_buf_puts(b, col_index(cols, ncols, "game_id") >= 0 ? ", t.\"game_id\"::text"
                                                                           : ", NULL::text");
        if (rc == 0)
                rc = sl_buf_puts(b, col_index(cols, ncols, "player_id") >= 0
                                        ? ", t.\"player_id\"::text"
                                        : ", NULL::text");
        return rc;
}

int raw_sql_upsert(struct sl_buf *out, const struct raw_load_spec *spec, const char *tmp,
                   const char *const *cols, size_t ncols)
{
        bool *keys = sl_xcalloc(ncols ? ncols : 1, sizeof(bool));
        bool *cmp_skip = sl_xcalloc(ncols ? ncols : 1, sizeof(bool));
        size_t n_set = 0, n_cmp = 0;
        int rc = -EINVAL;

        if (spec->nkeys == 0 || spec->nkeys > RAW_MAX_KEYS || !raw_ident_ok(spec->sha_col, false))
                goto out;
        for (size_t k = 0; k < spec->nkeys; k++) {
                int i = col_index(cols, ncols, spec->keys[k]);
                if (i < 0)
                        goto out;
                keys[i] = true;
        }
        for (size_t i = 0; i < ncols; i++) {
                cmp_skip[i] = keys[i] || strcmp(cols[i], "source") == 0 ||
                              strcmp(cols[i], spec->sha_col) == 0;
                n_set += !keys[i];
                n_cmp += !cmp_skip[i];
        }
        rc = sl_buf_puts(out, "INSERT INTO ");
        if (rc == 0)
                rc = put_ident(out, spec->table, true);
        if (rc == 0)
                rc = sl_buf_puts(out, " AS t (");
        if (rc == 0)
                rc = put_list(out, "", cols, ncols, NULL);
        if (rc == 0)
                rc = sl_buf_puts(out, ") SELECT ");
        if (rc == 0)
                rc = put_list(out, "", cols, ncols, NULL);
        if (rc == 0)
                rc = sl_buf_puts(out, " FROM ");
        if (rc == 0)
                rc = put_ident(out, tmp, false);
        if (rc == 0)
                rc = sl_buf_puts(out, " ON CONFLICT (");
        if (rc == 0)
                rc = put_list(out, "", spec->keys, spec->nkeys, NULL);
        if (rc == 0)
                rc = sl_buf_puts(out, ")");
        if (rc == 0)
                rc = put_update(out, cols, ncols, keys, cmp_skip, n_set, n_cmp);
        if (rc == 0)
                rc = put_returning(out, cols, ncols);
out:
        free(keys);
        free(cmp_skip);
        return rc;
}

/* ---- entities ---------------------------------------------------------------------------- */

void raw_entities_init(struct raw_entities *ents, size_t max)
{
        memset(ents, 0, sizeof(*ents));
        ents->max = max ? max : RAW_DEFAULT_ENTITIES;
}

static void entities_clear(struct raw_entities *ents)
{
        for (size_t i = 0; i < ents->n; i++) {
                free(ents->kinds[i]);
                free(ents->ids[i]);
        }
        free(ents->kinds);
        free(ents->ids);
        ents->kinds = ents->ids = NULL;
        ents->n = ents->cap = 0;
}

void raw_entities_fini(struct raw_entities *ents)
{
        entities_clear(ents);
        ents->overflow = false;
}

int raw_entities_add(struct raw_entities *ents, const char *kind, const char *id)
{
        if (!kind || !*kind || !id || !*id)
                return -EINVAL;
        if (ents->overflow)
                return 0;
        for (size_t i = ents->n; i-- > 0;) /* newest first: rows of one game come together */
                if (strcmp(ents->ids[i], id) == 0 && strcmp(ents->kinds[i], kind) == 0)
                        return 0;
        if (ents->n == ents->max) {
                entities_clear(ents);
                ents->overflow = true;
                return 0;
        }
        if (ents->n == ents->cap) {
                ents->cap = ents->cap ? ents->cap * 2 : 16;
                ents->kinds = sl_xrealloc(ents->kinds, ents->cap * sizeof(char *));
                ents->ids = sl_xrealloc(ents->ids, ents->cap * sizeof(char *));
        }
        ents->kinds[ents->n] = sl_xstrdup(kind);
        ents->ids[ents->n] = sl_xstrdup(id);
        ents->n++;
        return 0;
}

/* The entities as the jsonb of the execution log: [{"kind":..,"id":..}, ...]. Heap string. */
static char *entities_json(const struct raw_entities *ents)
{
        struct sl_buf b;

        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "[");
        for (size_t i = 0; i < ents->n; i++) {
                sl_buf_puts(&b, i ? ",{\"kind\":" : "{\"kind\":");
                sl_buf_json_str(&b, ents->kinds[i]);
                sl_buf_puts(&b, ",\"id\":");
                sl_buf_json_str(&b, ents->ids[i]);
                sl_buf_puts(&b, "}");
        }
        sl_buf_puts(&b, "]");
        return sl_buf_steal(&b);
}

/* ---- the raw.completed envelope -------------------------------------------------------- */

int raw_idem_key(char *out, size_t out_size, const char *processor, const char *sha_hex)
{
        int w = snprintf(out, out_size, "raw:%s:%s", processor, sha_hex);

        return w < 0 || (size_t)w >= out_size ? -ENAMETOOLONG : 0;
}

static cJSON *completed_payload(const char *processor, const char *source, const char *sha_hex,
                                const struct raw_table_result *res, size_t nres)
{
        cJSON *p = cJSON_CreateObject(), *tables = cJSON_CreateArray();
        int64_t written = 0;

        for (size_t i = 0; i < nres; i++) {
                cJSON *t = cJSON_CreateObject();
                int64_t w = res[i].inserted + res[i].updated;
                cJSON_AddStringToObject(t, "table", res[i].table);
                cJSON_AddNumberToObject(t, "rows", (double)w);
                cJSON_AddNumberToObject(t, "parsed", (double)res[i].rows);
                cJSON_AddNumberToObject(t, "inserted", (double)res[i].inserted);
                cJSON_AddNumberToObject(t, "updated", (double)res[i].updated);
                cJSON_AddItemToArray(tables, t);
                written += w;
        }
        cJSON_AddStringToObject(p, "processor", processor);
        cJSON_AddStringToObject(p, "source", source);
        cJSON_AddStringToObject(p, "source_blob_sha256", sha_hex);
        cJSON_AddNumberToObject(p, "rows", (double)written);
        cJSON_AddItemToObject(p, "tables", tables);
        return p;
}

struct sl_envelope *raw_completed_new(const struct sl_envelope *parent, const char *processor,
                                      const char *source, const char *sha_hex,
                                      const char *game_date, const struct raw_table_result *res,
                                      size_t nres, const struct raw_entities *ents)
{
        struct sl_envelope *env;
        char key[SL_ENVELOPE_MAX_IDEM_KEY];

        if (!processor || !sha_hex || !sha_hex_ok(sha_hex) ||
            raw_idem_key(key, sizeof(key), processor, sha_hex) < 0)
                return NULL;
        env = sl_envelope_new("raw.completed", "raw", parent->sport,
                              game_date && *game_date ? game_date : NULL, parent);
        if (!env)
                return NULL;
        for (size_t i = 0; ents && !ents->overflow && i < ents->n; i++) {
                if (sl_envelope_add_entity(env, ents->kinds[i], ents->ids[i]) < 0) {
                        sl_envelope_free(env);
                        return NULL;
                }
        }
        if (sl_envelope_set_idem_key(env, key) < 0 ||
            sl_envelope_set_payload(
                env, completed_payload(processor, source ? source : "", sha_hex, res, nres)) < 0) {
                sl_envelope_free(env);
                return NULL;
        }
        return env;
}

/* ---- one run: state shared by the steps of raw_handle() ------------------------------- */

struct run {
        struct raw_svc *svc;
        const struct sl_envelope *env;
        struct raw_scrape scrape;
        struct raw_batch *batch; /* owned */
        const char *processor;   /* kind name, or the event's kind before parsing */
        char execution_id[37];
        char game_date[11];
        char idem_key[SL_ENVELOPE_MAX_IDEM_KEY];
        char topic[256];
        int64_t started_wall_ms, t0_ms;
        int64_t parsed_ms, committed_ms; /* monotonic: after the parse, after COMMIT */
        struct raw_table_result res[16];
        size_t nres;
        struct raw_entities ents; /* entities of changed rows */
        char *event;              /* serialized raw.completed, owned */
        size_t event_len;
        char event_key[160]; /* partition key of raw.completed */
        char errstr[RAW_ERRSTR_SIZE];
};

static int64_t total(const struct run *run, int what)
{
        int64_t s = 0;

        for (size_t i = 0; i < run->nres; i++)
                s += what == 0   ? run->res[i].rows
                     : what == 1 ? run->res[i].inserted
                                 : run->res[i].updated;
        return s;
}

/*
 * One ops.pipeline_execution_log row (autocommit, or inside the caller's
 * transaction). status: completed | failed | skipped.
 */
static int exec_log(struct run *run, const char *status, const char *skip_reason, const char *error,
                    char *errstr, size_t n)
{
        int64_t dur = sl_mono_ms() - run->t0_ms;
        char *ents = entities_json(&run->ents);
        struct sl_phase_exec x = {
            .execution_id = run->execution_id,
            .correlation_id = run->env->correlation_id,
            .event_id = run->env->event_id,
            .processor = run->processor,
            .status = status,
            .started_wall_ms = run->started_wall_ms,
            .elapsed_ms = dur,
            .duration_ms = dur,
            .skip_reason = skip_reason,
            .error = error,
            .rows = total(run, 1) + total(run, 2),
            .entities = ents,
            .game_date = run->game_date,
            .sport = run->env->sport,
        };
        int rc = sl_phase_exec_log(&run->svc->ph, &x, errstr, n);

        free(ents);
        return rc;
}

/* ---- loading one table ------------------------------------------------------------------ */

/* COPY row source: the batch row's cells, then the loader's extra columns. */
struct copy_src {
        const struct raw_table *t;
        size_t row, nrows, nbatch;
        const char *extra[2];
        size_t nextra;
};

static int copy_next(void *opaque, const char **values, size_t ncols)
{
        struct copy_src *src = opaque;
        const char *const *cells;

        if (src->row == src->nrows)
                return 0;
        cells = raw_table_row(src->t, src->row++);
        if (!cells || ncols != src->nbatch + src->nextra)
                return -EINVAL;
        memcpy(values, cells, src->nbatch * sizeof(*values));
        for (size_t i = 0; i < src->nextra; i++)
                values[src->nbatch + i] = src->extra[i];
        return 1;
}

/* Columns to load for t: the parser's (checked identifiers), then the provenance columns. */
static int load_columns(struct run *run, const struct raw_table *t,
                        const struct raw_load_spec *spec, const char **cols, struct copy_src *src)
{
        size_t nb = raw_table_ncols(t), n = 0;

        for (size_t c = 0; c < nb; c++) {
                cols[n] = raw_table_col_name(t, c);
                if (!raw_ident_ok(cols[n], false))
                        return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                                       "%s: column name refused", spec->table);
                n++;
        }
        src->nbatch = nb;
        if (raw_table_col_index(t, "source") < 0) {
                cols[n++] = "source";
                src->extra[src->nextra++] = run->scrape.source;
        }
        if (raw_table_col_index(t, spec->sha_col) < 0) {
                cols[n++] = spec->sha_col;
                src->extra[src->nextra++] = run->scrape.blob_sha256;
        }
        return (int)n;
}

/* A statement failed inside the load: pick the errno the bus should act on. */
static int load_errno(struct run *run, int rc)
{
        const char *state = sl_pg_sqlstate(run->svc->ph.pg);

        sl_phase_note_pg(&run->svc->ph, rc);
        if (strcmp(state, "21000") ==
            0) /* ON CONFLICT hit one key twice: the payload repeats a row */
                return -EBADMSG;
        if (rc == -EEXIST) /* another unique constraint raced us: run it again */
                return -EAGAIN;
        return rc;
}

/* Counts the upsert's RETURNING rows and collects the changed rows' entities. */
static void count_returned(struct run *run, PGresult *res, struct raw_table_result *tr)
{
        int nrows = PQntuples(res);

        for (int r = 0; r < nrows; r++) {
                if (strcmp(PQgetvalue(res, r, 0), "t") == 0)
                        tr->inserted++;
                else
                        tr->updated++;
                if (!PQgetisnull(res, r, 1))
                        raw_entities_add(&run->ents, "game", PQgetvalue(res, r, 1));
                if (!PQgetisnull(res, r, 2))
                        raw_entities_add(&run->ents, "player", PQgetvalue(res, r, 2));
        }
}

static int load_table(struct run *run, const struct raw_table *t, struct raw_table_result *tr)
{
        const struct raw_load_spec *spec = raw_load_spec_find(raw_table_name(t));
        struct copy_src src = {.t = t, .nrows = raw_table_nrows(t)};
        const char **cols = NULL;
        char tmp[RAW_IDENT_MAX + 1];
        PGresult *res = NULL;
        struct sl_buf sql;
        int rc, ncols;

        sl_buf_init(&sql, SQL_MAX_BYTES);
        if (!spec) {
                rc = sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                             "table %.64s has no load spec (parser and loader disagree)",
                             raw_table_name(t));
                goto out;
        }
        tr->table = spec->table;
        tr->rows = (int64_t)src.nrows;
        if (src.nrows == 0) {
                rc = 0;
                goto out;
        }
        cols = sl_xcalloc(raw_table_ncols(t) + 2, sizeof(*cols));
        rc = ncols = load_columns(run, t, spec, cols, &src);
        if (rc < 0)
                goto out;
        snprintf(tmp, sizeof(tmp), "raw_load_%s", strchr(spec->table, '.') + 1);
        rc = raw_sql_temp(&sql, spec->table, tmp, cols, (size_t)ncols);
        if (rc == 0)
                rc = sl_pg_exec(run->svc->ph.pg, sql.data, 0, NULL, NULL, run->errstr,
                                sizeof(run->errstr));
        if (rc == 0)
                rc = sl_pg_copy(run->svc->ph.pg, tmp, cols, (size_t)ncols, copy_next, &src,
                                run->errstr, sizeof(run->errstr));
        sl_buf_reset(&sql);
        if (rc == 0)
                rc = raw_sql_upsert(&sql, spec, tmp, cols, (size_t)ncols);
        if (rc == 0)
                rc = sl_pg_exec(run->svc->ph.pg, sql.data, 0, NULL, &res, run->errstr,
                                sizeof(run->errstr));
        if (rc < 0) {
                rc = load_errno(run, rc);
                goto out;
        }
        count_returned(run, res, tr);
out:
        PQclear(res);
        free(cols);
        sl_buf_fini(&sql);
        return rc;
}

/* ---- the transaction ------------------------------------------------------------------- */

/* Claims the idempotency key in the open transaction: 0 claimed, -EEXIST held already. */
static int claim(struct run *run)
{
        return sl_phase_claim(&run->svc->ph, run->idem_key, run->processor,
                              run->env->correlation_id, run->errstr, sizeof(run->errstr));
}

/* With no changed row, the event names every entity of the batch (never "whole date" by accident).
 */
static void batch_entities(struct run *run)
{
        for (size_t i = 0; i < raw_batch_ntables(run->batch); i++) {
                const struct raw_table *t = raw_batch_table(run->batch, i);
                int g = raw_table_col_index(t, "game_id"), p = raw_table_col_index(t, "player_id");
                for (size_t r = 0; r < raw_table_nrows(t); r++) {
                        const char *gv = g >= 0 ? raw_table_cell(t, r, (size_t)g) : NULL;
                        const char *pv = p >= 0 ? raw_table_cell(t, r, (size_t)p) : NULL;
                        if (gv)
                                raw_entities_add(&run->ents, "game", gv);
                        if (pv)
                                raw_entities_add(&run->ents, "player", pv);
                }
        }
}

/* Builds and serializes raw.completed, and writes it to ops.outbox. */
static int outbox_write(struct run *run)
{
        struct sl_envelope *ev;

        ev =
            raw_completed_new(run->env, run->processor, run->scrape.source, run->scrape.blob_sha256,
                              run->game_date, run->res, run->nres, &run->ents);
        if (!ev)
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                               "could not build raw.completed");
        if (ev->n_entities > 0)
                snprintf(run->event_key, sizeof(run->event_key), "%s:%s", ev->entities[0].kind,
                         ev->entities[0].id);
        else
                snprintf(run->event_key, sizeof(run->event_key), "%s:%s", ev->sport, ev->game_date);
        run->event = sl_envelope_serialize(ev, &run->event_len);
        sl_envelope_free(ev);
        return sl_phase_outbox_insert(&run->svc->ph, run->topic, run->event_key, run->idem_key,
                                      run->event, run->errstr, sizeof(run->errstr));
}

/* The tables of the batch, in order. */
static int load_tables(struct run *run)
{
        size_t nt = raw_batch_ntables(run->batch);
        int rc = 0;

        if (nt > sizeof(run->res) / sizeof(run->res[0]))
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL, "batch has %zu tables",
                               nt);
        for (size_t i = 0; i < nt && rc == 0; i++) {
                rc = load_table(run, raw_batch_table(run->batch, i), &run->res[i]);
                run->nres = i + 1;
        }
        return rc;
}

/*
 * BEGIN, claim, upsert every table, execution log, outbox, COMMIT.
 * Returns 0 (committed), -EEXIST (key claimed before; nothing done) or the
 * error (rolled back, nothing kept).
 */
static int load_tx(struct run *run)
{
        struct sl_pg *pg = run->svc->ph.pg;
        int rc;

        rc = sl_pg_begin(pg, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = claim(run);
        if (rc == 0)
                rc = load_tables(run);
        if (rc == 0 && run->ents.n == 0 && !run->ents.overflow)
                batch_entities(run);
        if (rc == 0)
                rc = outbox_write(run);
        if (rc == 0)
                rc = exec_log(run, "completed", NULL, NULL, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = sl_pg_commit(pg, run->errstr, sizeof(run->errstr));
        run->committed_ms = sl_mono_ms();
        return sl_phase_tx_end(&run->svc->ph, rc);
}

/* ---- publishing ------------------------------------------------------------------------ */

/* ---- the handler ------------------------------------------------------------------------ */

/* Blob -> batch. Sets processor and game_date. */
static int read_and_parse(struct run *run)
{
        struct raw_opts opts = {.max_bytes = (size_t)run->svc->cfg->blob_max_bytes};
        const struct raw_scrape *sc = &run->scrape;
        char *blob = NULL;
        size_t len = 0;
        int rc;

        rc = raw_blob_load(run->svc->blob_root, sc->blob_path, sc->blob_sha256,
                           (size_t)run->svc->cfg->blob_max_bytes, &blob, &len, run->errstr,
                           sizeof(run->errstr));
        if (rc < 0)
                return rc;
        if (sc->bytes >= 0 && (size_t)sc->bytes != len)
                sl_log_warn("raw.blob.size",
                            "blob %s: event says %lld bytes, file has %zu "
                            "(digest verified, loading)",
                            sc->blob_path, (long long)sc->bytes, len);
        rc = raw_parse(sc->kind, blob, len, &opts, &run->batch, run->errstr, sizeof(run->errstr));
        free(blob);
        if (rc == -EINVAL) /* the event names a kind no parser has */
                rc = sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG, "kind '%s': no parser",
                             sc->kind ? sc->kind : "");
        if (rc < 0)
                return rc;
        run->processor = raw_kind_name(raw_batch_kind(run->batch));
        run->parsed_ms = sl_mono_ms();
        if (!run->game_date[0])
                snprintf(run->game_date, sizeof(run->game_date), "%s", raw_batch_date(run->batch));
        return raw_idem_key(run->idem_key, sizeof(run->idem_key), run->processor, sc->blob_sha256);
}

static void metric_load(const char *processor, const char *status)
{
        sl_metric_inc(sl_metrics_counter("statline_raw_loads_total",
                                         "Raw loads by processor and outcome.", "processor,status"),
                      processor, status);
}

static void log_loaded(struct run *run)
{
        struct sl_metric *m =
            sl_metrics_counter("statline_raw_rows_total",
                               "Rows upserted into raw tables, by outcome.", "table,outcome");

        for (size_t i = 0; i < run->nres; i++) {
                const struct raw_table_result *r = &run->res[i];
                sl_metric_add(m, (double)r->inserted, r->table, "inserted");
                sl_metric_add(m, (double)r->updated, r->table, "updated");
                sl_metric_add(m, (double)(r->rows - r->inserted - r->updated), r->table,
                              "unchanged");
        }
        int64_t now = sl_mono_ms();

        sl_log_info("raw.load.ok",
                    "processor=%s blob=%.16s rows=%lld inserted=%lld updated=%lld entities=%zu%s "
                    "duration_ms=%lld (read+parse %lld, load+commit %lld, publish %lld)",
                    run->processor, run->scrape.blob_sha256, (long long)total(run, 0),
                    (long long)total(run, 1), (long long)total(run, 2), run->ents.n,
                    run->ents.overflow ? " (overflow: whole date)" : "",
                    (long long)(now - run->t0_ms), (long long)(run->parsed_ms - run->t0_ms),
                    (long long)(run->committed_ms - run->parsed_ms),
                    (long long)(now - run->committed_ms));
}

/* A failed run: log it once (with the reason) and record it in its own statement. */
static int failed(struct run *run, int rc)
{
        char err[256];

        run->svc->failed++;
        run->nres = 0; /* rolled back: the failed row claims no rows and no entities */
        raw_entities_fini(&run->ents);
        metric_load(run->processor, "failed");
        if (run->errstr[0])
                sl_bus_set_error("%s", run->errstr); /* into the dead letter's dlq.error */
        if (rc == -EBADMSG || sl_err_classify(rc) == SL_ERR_PERMANENT)
                sl_log_warn("raw.load.poison", "processor=%s blob_path=%s: %s (dead-lettered)",
                            run->processor, run->scrape.blob_path ? run->scrape.blob_path : "",
                            run->errstr);
        else if (sl_err_retriable(rc))
                sl_log_warn("raw.load.retry", "processor=%s: %s (%s)", run->processor, run->errstr,
                            sl_strerror(rc));
        else
                sl_log_error("raw.load.error", "processor=%s: %s (%s)", run->processor, run->errstr,
                             sl_strerror(rc));
        if (!run->svc->ph.pg_down &&
            exec_log(run, "failed", NULL, run->errstr[0] ? run->errstr : sl_strerror(rc), err,
                     sizeof(err)) < 0)
                sl_log_debug("raw.exec_log.error", "%s", err);
        return rc;
}

/* The key was taken: re-publish an unpublished event, or report the duplicate. */
static int duplicate(struct run *run)
{
        int lrc, rc = sl_phase_replay(&run->svc->ph, run->topic, run->idem_key, &run->event,
                                      &run->event_len, run->errstr, sizeof(run->errstr));

        if (rc < 0 && rc != -EEXIST)
                return failed(run, rc);
        if (rc == 0) {
                run->svc->republished++;
                sl_log_info("raw.republish",
                            "key=%s: loaded before, event was unpublished: "
                            "published now",
                            run->idem_key);
        } else {
                run->svc->duplicates++;
                sl_log_info("raw.duplicate", "key=%s: loaded and published before", run->idem_key);
        }
        metric_load(run->processor, rc == 0 ? "republished" : "duplicate");
        lrc = exec_log(run, "skipped",
                       rc == 0 ? "duplicate: raw.completed re-published"
                               : "duplicate: already loaded and published",
                       NULL, run->errstr, sizeof(run->errstr));
        return lrc < 0 ? failed(run, lrc) : rc; /* unrecorded: the redelivery records it */
}

static void run_init(struct run *run, struct raw_svc *svc, const struct sl_envelope *env)
{
        memset(run, 0, sizeof(*run));
        run->svc = svc;
        run->env = env;
        run->processor = "unknown";
        sl_uuid7(run->execution_id);
        run->started_wall_ms = sl_wall_ms();
        run->t0_ms = sl_mono_ms();
        raw_entities_init(&run->ents, (size_t)svc->cfg->max_entities);
}

int raw_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct raw_svc *svc = opaque;
        struct run run;
        int rc;

        (void)msg;
        run_init(&run, svc, env);
        rc = raw_scrape_parse(env, &run.scrape, run.errstr, sizeof(run.errstr));
        if (rc == 0 && run.scrape.kind)
                run.processor = run.scrape.kind;
        if (rc == 0) {
                snprintf(run.game_date, sizeof(run.game_date), "%s", run.scrape.game_date);
                rc = sl_bus_topic(run.topic, sizeof(run.topic), svc->cfg->svc.bus_prefix,
                                  env->sport, "raw");
                if (rc < 0)
                        rc = sl_errf(run.errstr, sizeof(run.errstr), -EBADMSG, "topic too long");
        }
        if (rc == 0)
                rc = read_and_parse(&run);
        if (rc == 0)
                rc = load_tx(&run);
        if (rc == 0)
                rc = sl_phase_publish(&svc->ph, run.topic, run.event_key, run.idem_key, run.event,
                                      run.event_len, run.errstr, sizeof(run.errstr));
        if (rc == -EEXIST) {
                rc = duplicate(&run);
        } else if (rc == 0) {
                svc->loaded++;
                metric_load(run.processor, "completed");
                log_loaded(&run);
        } else {
                rc = failed(&run, rc);
        }
        if (rc == 0) /* PostgreSQL answered a whole load */
                sl_phase_note_pg_up(&svc->ph);
        raw_entities_fini(&run.ents);
        raw_batch_free(run.batch);
        free(run.event);
        return rc;
}

/* ---- service lifecycle ---------------------------------------------------------------- */

/* mkdir -p for blob.dir: the scraper may not have created it yet. */
static int make_dirs(const char *path)
{
        char *p = sl_xstrdup(path);
        int rc = 0;

        for (char *s = p + 1; rc == 0; s++) {
                bool end = *s == '\0';
                if (*s != '/' && !end)
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        rc = -errno;
                if (end)
                        break;
                *s = '/';
        }
        free(p);
        return rc;
}

int raw_svc_open(struct raw_svc *svc, const struct raw_cfg *cfg, struct sl_bus *bus,
                 struct sl_http *http, char *errstr, size_t n)
{
        int rc;

        svc->cfg = cfg;
        svc->ph.bus = bus; /* set up front: sl_phase_open() below may not be reached */
        svc->ph.http = http;
        rc = make_dirs(cfg->blob_dir);
        svc->blob_root = rc == 0 ? realpath(cfg->blob_dir, NULL) : NULL;
        if (!svc->blob_root)
                return sl_errf(errstr, n, rc < 0 ? rc : -errno, "blob.dir %s: %s", cfg->blob_dir,
                               sl_strerror(rc < 0 ? rc : -errno));
        rc = sl_phase_open(&svc->ph, "raw", &cfg->phase, bus, http, errstr, n);
        if (rc < 0)
                return rc;
        sl_log_info("raw.init", "migrations applied=%d blob.dir=%s", rc, svc->blob_root);
        return 0;
}

void raw_svc_close(struct raw_svc *svc)
{
        sl_phase_close(&svc->ph);
        free(svc->blob_root);
        svc->blob_root = NULL;
}

int raw_svc_tick(struct raw_svc *svc)
{
        return sl_phase_tick(&svc->ph);
}
