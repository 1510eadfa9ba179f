/*
 * statline-publishing: prediction.completed -> documents in publish.dir,
 * publishing.documents rows, publishing.completed (publishing.h, README.md).
 *
 * Order of effects: the files are written first (atomically, only when their
 * bytes differ), then the rows, execution log and outbox row commit in one
 * transaction, then the event is published. A failure after a file write
 * leaves a file whose bytes are what the retry writes again, so a retry is
 * harmless; a reader never sees a half-written file.
 */
#include "publishing.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#define PUB_ERRSTR_SIZE 1024
#define PROCESSOR       "documents" /* the one processor: execution log, idempotency key */

/* ---- canonical JSON ------------------------------------------------------------------ */

static int key_cmp(const void *a, const void *b)
{
        const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;

        return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

void pub_json_sort(cJSON *item)
{
        cJSON **kids;
        size_t n = 0, i = 0;

        if (!item)
                return;
        for (cJSON *c = item->child; c; c = c->next) {
                pub_json_sort(c);
                n++;
        }
        if (!cJSON_IsObject(item) || n < 2)
                return;
        /* Detach every member, sort, re-attach: cJSON keeps its links consistent. */
        kids = sl_xcalloc(n, sizeof(*kids));
        while (item->child)
                kids[i++] = cJSON_DetachItemViaPointer(item, item->child);
        sl_qsort(kids, n, sizeof(*kids), key_cmp);
        for (i = 0; i < n; i++)
                cJSON_AddItemToArray(item, kids[i]); /* keeps ->string: works on objects */
        free(kids);
}

char *pub_json_render(cJSON *item, size_t *len)
{
        char *s, *out;
        size_t n;

        pub_json_sort(item);
        s = cJSON_PrintUnformatted(item);
        if (!s)
                abort(); /* out of memory: like sl_xmalloc */
        n = strlen(s);
        out = sl_xmalloc(n + 2);
        memcpy(out, s, n);
        out[n] = '\n';
        out[n + 1] = '\0';
        cJSON_free(s);
        if (len)
                *len = n + 1;
        return out;
}

/* ---- small checks --------------------------------------------------------------------- */

void pub_etag(const void *bytes, size_t len, char sha256[SL_SHA256_HEX_LEN + 1],
              char etag[PUB_ETAG_SIZE])
{
        sl_sha256_hex(bytes, len, sha256);
        snprintf(etag, PUB_ETAG_SIZE, "\"%s\"", sha256);
}

bool pub_etag_match(const char *inm, const char *etag)
{
        size_t elen = strlen(etag);

        if (!inm)
                return false;
        for (const char *p = inm; *p;) {
                const char *end;
                size_t n;

                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                if (!*p)
                        break;
                end = strchr(p, ',');
                n = end ? (size_t)(end - p) : strlen(p);
                while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                        n--;
                if (n == 1 && *p == '*')
                        return true;
                if (n > 2 && p[0] == 'W' && p[1] == '/') {
                        p += 2;
                        n -= 2;
                }
                if (n == elen && memcmp(p, etag, n) == 0)
                        return true;
                p += n;
                while (*p && *p != ',')
                        p++;
        }
        return false;
}

bool pub_player_id_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > PUB_PLAYER_ID_MAX || s[0] == '0')
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static bool sport_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n < 2 || n > 16 || s[0] < 'a' || s[0] > 'z')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return false;
        return true;
}

int pub_doc_path(char *out, size_t out_size, const char *sport, const char *date, const char *kind,
                 const char *player_id)
{
        int n;

        if (!sport_ok(sport) || !date || !sl_date_valid(date) || !kind)
                return -EINVAL;
        if (strcmp(kind, "player") == 0) {
                if (!pub_player_id_ok(player_id))
                        return -EINVAL;
                n = snprintf(out, out_size, "%s/%s/players/%s.json", sport, date, player_id);
        } else if (strcmp(kind, "predictions") == 0 || strcmp(kind, "games") == 0) {
                n = snprintf(out, out_size, "%s/%s/%s.json", sport, date, kind);
        } else {
                return -EINVAL;
        }
        return n < 0 || (size_t)n >= out_size ? -ENAMETOOLONG : 0;
}

/* ---- files ----------------------------------------------------------------------------- */

/* mkdir -p of path's directories below root (rel's parent components). */
static int make_parents(const char *root, const char *rel)
{
        char *p = sl_xasprintf("%s/%s", root, rel);
        size_t skip = strlen(root) + 1;
        int rc = 0;

        for (char *s = p + skip; *s && rc == 0; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        rc = -errno;
                *s = '/';
        }
        free(p);
        return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t w = write(fd, data, len);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                data += w;
                len -= (size_t)w;
        }
        return 0;
}

/* Writes data to a fsynced temp file next to root/rel; *tmp (heap) gets its path. */
static int write_temp(const char *root, const char *rel, const void *data, size_t len, char **tmp,
                      char *errstr, size_t n)
{
        char *path = sl_xasprintf("%s/%s", root, rel);
        int fd, rc;

        *tmp = NULL;
        rc = make_parents(root, rel);
        if (rc < 0) {
                free(path);
                return sl_errf(errstr, n, rc, "mkdir for %s: %s", rel, sl_strerror(rc));
        }
        *tmp = sl_xasprintf("%s.tmp.XXXXXX", path);
        free(path);
        fd = mkstemp(*tmp);
        if (fd < 0) {
                rc = sl_errf(errstr, n, -errno, "create temp for %s: %s", rel, strerror(errno));
                free(*tmp);
                *tmp = NULL;
                return rc;
        }
        if (fchmod(fd, 0644) < 0 || (rc = write_all(fd, data, len)) < 0 || fsync(fd) < 0) {
                rc = rc < 0 ? rc : -errno;
                sl_errf(errstr, n, rc, "write %s: %s", rel, sl_strerror(rc));
                close(fd);
                return rc;
        }
        if (close(fd) < 0)
                return sl_errf(errstr, n, -errno, "close %s: %s", rel, strerror(errno));
        return 0;
}

/* fsync of the directory of root/rel. */
static int sync_dir(const char *root, const char *rel, char *errstr, size_t n)
{
        char *dir = sl_xasprintf("%s/%s", root, rel);
        int dfd, rc = 0;

        *strrchr(dir, '/') = '\0';
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                rc = sl_errf(errstr, n, -errno, "fsync dir of %s: %s", rel, strerror(errno));
        if (dfd >= 0)
                close(dfd);
        free(dir);
        return rc;
}

/* True when rels[i]'s directory is the directory of an earlier rels[j]. */
static bool dir_seen(const char *const *rels, size_t i)
{
        size_t di = (size_t)(strrchr(rels[i], '/') - rels[i]);

        for (size_t j = 0; j < i; j++) {
                size_t dj = (size_t)(strrchr(rels[j], '/') - rels[j]);
                if (di == dj && memcmp(rels[i], rels[j], di) == 0)
                        return true;
        }
        return false;
}

int pub_write_batch(const char *root, const char *const *rels, const void *const *datas,
                    const size_t *lens, size_t n, char *errstr, size_t errstr_size)
{
        char **tmps = sl_xcalloc(n ? n : 1, sizeof(*tmps));
        size_t i;
        int rc = 0;

        for (i = 0; i < n; i++)
                if (!strchr(rels[i], '/')) {
                        rc = sl_errf(errstr, errstr_size, -EINVAL, "%s: not under a directory",
                                     rels[i]);
                        goto out;
                }
        for (i = 0; i < n && rc == 0; i++)
                rc = write_temp(root, rels[i], datas[i], lens[i], &tmps[i], errstr, errstr_size);
        for (i = 0; i < n && rc == 0; i++) {
                char *path = sl_xasprintf("%s/%s", root, rels[i]);
                if (rename(tmps[i], path) < 0)
                        rc = sl_errf(errstr, errstr_size, -errno, "rename %s: %s", rels[i],
                                     strerror(errno));
                else
                        tmps[i][0] = '\0'; /* renamed: nothing to clean up */
                free(path);
        }
        for (i = 0; i < n && rc == 0; i++)
                if (!dir_seen(rels, i))
                        rc = sync_dir(root, rels[i], errstr, errstr_size);
out:
        for (i = 0; i < n; i++) {
                if (tmps[i] && tmps[i][0])
                        unlink(tmps[i]);
                free(tmps[i]);
        }
        free(tmps);
        return rc;
}

int pub_write_atomic(const char *root, const char *rel, const void *data, size_t len, char *errstr,
                     size_t n)
{
        const char *rels[1] = {rel};
        const void *datas[1] = {data};
        size_t lens[1] = {len};

        return pub_write_batch(root, rels, datas, lens, 1, errstr, n);
}

int pub_file_read(const char *root, const char *rel, char **data, size_t *len)
{
        char *path = sl_xasprintf("%s/%s", root, rel);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        char *buf = NULL;
        size_t got = 0;
        int rc = 0;

        free(path);
        *data = NULL;
        *len = 0;
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                rc = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                rc = -ENOENT;
                goto out;
        }
        if (st.st_size > PUB_DOC_MAX) {
                rc = -EFBIG;
                goto out;
        }
        buf = sl_xmalloc((size_t)st.st_size + 1);
        while (got < (size_t)st.st_size) {
                ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        rc = -errno;
                        goto out;
                }
                if (r == 0)
                        break; /* shrank: the rename replaced it, we read the old inode anyway */
                got += (size_t)r;
        }
        buf[got] = '\0';
        *data = buf;
        *len = got;
        buf = NULL;
out:
        free(buf);
        close(fd);
        return rc;
}

bool pub_file_same(const char *root, const char *rel, const void *data, size_t len)
{
        char *old = NULL;
        size_t olen = 0;
        bool same;

        if (pub_file_read(root, rel, &old, &olen) < 0)
                return false;
        same = olen == len && memcmp(old, data, len) == 0;
        free(old);
        return same;
}

int pub_serve_doc(const char *root, const char *rel, const char *inm, struct sl_buf *out,
                  char etag[PUB_ETAG_SIZE])
{
        char sha[SL_SHA256_HEX_LEN + 1];
        char *data = NULL;
        size_t len = 0;
        int rc;

        etag[0] = '\0';
        rc = pub_file_read(root, rel, &data, &len);
        if (rc == -ENOENT || rc == -ENOTDIR) {
                sl_buf_puts(out, "{\"error\":\"not published\"}");
                return 404;
        }
        if (rc < 0)
                return rc;
        pub_etag(data, len, sha, etag);
        if (pub_etag_match(inm, etag)) {
                free(data);
                return 304;
        }
        rc = sl_buf_append(out, data, len);
        free(data);
        return rc < 0 ? rc : 200;
}

/* ---- events ------------------------------------------------------------------------------ */

struct sl_envelope *pub_completed_new(const struct sl_envelope *parent, const char *idem_key,
                                      const struct pub_doc *docs, size_t ndocs)
{
        struct sl_envelope *env;
        cJSON *payload, *arr, *tables, *t, *counts;
        size_t changed = 0, players = 0;

        if (!parent || !parent->game_date[0])
                return NULL;
        env = sl_envelope_new("publishing.completed", "publishing", parent->sport,
                              parent->game_date, parent);
        if (!env)
                return NULL;
        for (size_t i = 0; i < parent->n_entities; i++)
                if (sl_envelope_add_entity(env, parent->entities[i].kind, parent->entities[i].id) <
                    0)
                        goto bad;
        if (idem_key && sl_envelope_set_idem_key(env, idem_key) < 0)
                goto bad;
        for (size_t i = 0; i < ndocs; i++) {
                changed += docs[i].changed;
                players += docs[i].player_id[0] != '\0';
        }
        /* The common completion fields (proto/events/publishing.completed.v1.json) first. */
        payload = cJSON_CreateObject();
        cJSON_AddStringToObject(payload, "processor", PROCESSOR);
        tables = cJSON_AddArrayToObject(payload, "tables");
        t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "table", "publishing.documents");
        cJSON_AddNumberToObject(t, "rows", (double)changed);
        cJSON_AddItemToArray(tables, t);
        cJSON_AddNumberToObject(payload, "rows", (double)changed);
        counts = cJSON_AddObjectToObject(payload, "entities");
        cJSON_AddNumberToObject(counts, "players", (double)players);
        cJSON_AddNumberToObject(counts, "documents", (double)ndocs);
        cJSON_AddStringToObject(payload, "game_date", parent->game_date);
        arr = cJSON_AddArrayToObject(payload, "documents");
        for (size_t i = 0; i < ndocs; i++) {
                cJSON *d = cJSON_CreateObject();
                cJSON_AddStringToObject(d, "path", docs[i].path);
                cJSON_AddStringToObject(d, "etag", docs[i].etag);
                cJSON_AddBoolToObject(d, "changed", docs[i].changed);
                cJSON_AddItemToArray(arr, d);
        }
        if (sl_envelope_set_payload(env, payload) < 0)
                goto bad;
        return env;
bad:
        sl_envelope_free(env);
        return NULL;
}

static int ent_cmp(const void *a, const void *b)
{
        const struct sl_entity *x = a, *y = b;
        int c = strcmp(x->kind, y->kind);

        return c ? c : strcmp(x->id, y->id);
}

void pub_idem_key(char *out, size_t out_size, const struct sl_envelope *env,
                  const struct pub_doc *docs, size_t ndocs)
{
        struct sl_sha256 h;
        struct sl_entity *ents = NULL;
        char hex[SL_SHA256_HEX_LEN + 1];

        sl_sha256_init(&h);
        if (env->n_entities > 0) {
                ents = sl_xcalloc(env->n_entities, sizeof(*ents));
                memcpy(ents, env->entities, env->n_entities * sizeof(*ents));
                sl_qsort(ents, env->n_entities, sizeof(*ents), ent_cmp);
        }
        for (size_t i = 0; i < env->n_entities; i++) {
                sl_sha256_update(&h, "E", 1);
                sl_sha256_update(&h, ents[i].kind, strlen(ents[i].kind) + 1);
                sl_sha256_update(&h, ents[i].id, strlen(ents[i].id) + 1);
        }
        free(ents); /* shallow copy: the strings belong to env */
        for (size_t i = 0; i < ndocs; i++) {
                sl_sha256_update(&h, "D", 1);
                sl_sha256_update(&h, docs[i].path, strlen(docs[i].path) + 1);
                sl_sha256_update(&h, docs[i].sha256, SL_SHA256_HEX_LEN);
        }
        sl_sha256_final_hex(&h, hex);
        snprintf(out, out_size, "publishing:%s:%s:%s:%s", PROCESSOR, env->sport, env->game_date,
                 hex);
}

/* ---- one run ------------------------------------------------------------------------------ */

struct run {
        struct pub_svc *svc;
        const struct sl_envelope *env;
        char execution_id[37];
        char topic[256];
        char idem_key[SL_ENVELOPE_MAX_IDEM_KEY];
        int64_t started_wall_ms, t0_ms;
        struct pub_doc *docs; /* owned */
        size_t ndocs, cap;
        size_t nplayers; /* players with predictions on the date */
        bool whole_date; /* no player entities: every player document */
        size_t written, changed;
        char *event; /* serialized publishing.completed, owned */
        size_t event_len;
        char event_key[96];
        char errstr[PUB_ERRSTR_SIZE];
};

/* Adds a document (taking ownership of bytes) and computes its digest. */
static struct pub_doc *doc_add(struct run *run, const char *kind, const char *player_id,
                               char *bytes, size_t len)
{
        struct pub_doc *d;

        if (run->ndocs == run->cap) {
                run->cap = run->cap ? run->cap * 2 : 16;
                run->docs = sl_xrealloc(run->docs, run->cap * sizeof(*run->docs));
        }
        d = &run->docs[run->ndocs];
        memset(d, 0, sizeof(*d));
        if (pub_doc_path(d->path, sizeof(d->path), run->env->sport, run->env->game_date, kind,
                         player_id) < 0) {
                free(bytes);
                return NULL;
        }
        run->ndocs++;
        d->kind = strcmp(kind, "player") == 0  ? "player"
                  : strcmp(kind, "games") == 0 ? "games"
                                               : "predictions";
        snprintf(d->player_id, sizeof(d->player_id), "%s", player_id ? player_id : "");
        d->bytes = bytes;
        d->len = len;
        pub_etag(bytes, len, d->sha256, d->etag);
        return d;
}

/* {"game_date", "sport", name: value}: value is taken over. */
static char *render_doc(const struct sl_envelope *env, const char *name, cJSON *value, size_t *len)
{
        cJSON *doc = cJSON_CreateObject();
        char *out;

        cJSON_AddStringToObject(doc, "game_date", env->game_date);
        cJSON_AddStringToObject(doc, "sport", env->sport);
        cJSON_AddItemToObject(doc, name, value);
        out = pub_json_render(doc, len);
        cJSON_Delete(doc);
        return out;
}

/*
 * Predictions of the date, one JSON object per player (ordered by player id):
 * his status ("out", "doubtful", "questionable", "probable" from the injury
 * report the predictions were made with, else "available"), each market
 * with every system's value, the ensemble's value, recommendation (NO_BET
 * for an Out player) and confidence, the line it was compared against and
 * the books' lines from raw.prop_lines. Names from the prop lines, else the
 * player's latest box score. The books are read per (player, market) through
 * the prop_lines primary key (as a CTE joined afterwards, PostgreSQL
 * re-aggregated the date's lines for every row: 3.5 s for 195 players).
 * The box-score name is looked up only for a player without a prop-line
 * name (COALESCE evaluates it lazily): as a CTE, every player's whole box
 * score history was read and sorted on every run (a cost growing with the
 * season).
 */
static const char PREDICTIONS_SQL[] =
    "WITH pm AS ("
    "  SELECT p.player_id, p.market, min(p.game_id) AS game_id,"
    "         jsonb_object_agg(p.system_id, p.predicted_value) AS systems,"
    "         max(p.line) FILTER (WHERE p.system_id = 'ensemble_v1') AS ens_line,"
    "         max(p.line) AS any_line,"
    "         max(p.predicted_value) FILTER (WHERE p.system_id = 'ensemble_v1') AS ens_value,"
    "         max(p.recommendation) FILTER (WHERE p.system_id = 'ensemble_v1') AS ens_rec,"
    "         max(p.confidence) FILTER (WHERE p.system_id = 'ensemble_v1') AS ens_conf,"
    "         max(p.player_status) AS player_status"
    "  FROM prediction.player_prop_predictions p WHERE p.game_date = $1::date"
    "    AND ($2::bigint[] IS NULL OR p.player_id = ANY ($2::bigint[]))"
    "  GROUP BY p.player_id, p.market)"
    " SELECT pm.player_id::text, jsonb_build_object("
    "   'player_id', pm.player_id,"
    "   'player_name', coalesce(min(bk.player_name),"
    "       (SELECT b.player_name FROM raw.player_boxscores b"
    "        JOIN raw.games g ON g.game_id = b.game_id WHERE b.player_id = pm.player_id"
    "        ORDER BY g.game_date DESC, b.game_id DESC LIMIT 1)),"
    "   'game_id', min(pm.game_id),"
    "   'status', lower(coalesce(max(pm.player_status), 'Available')),"
    "   'markets', jsonb_agg(jsonb_build_object("
    "       'market', pm.market,"
    "       'line', coalesce(pm.ens_line, pm.any_line),"
    "       'systems', pm.systems,"
    "       'ensemble', CASE WHEN pm.ens_value IS NULL THEN NULL ELSE jsonb_build_object("
    "                   'value', pm.ens_value, 'recommendation', pm.ens_rec,"
    "                   'confidence', pm.ens_conf) END,"
    "       'books', coalesce(bk.books, '[]'::jsonb)) ORDER BY pm.market))::text"
    " FROM pm LEFT JOIN LATERAL ("
    "  SELECT min(l.player_name) AS player_name,"
    "         jsonb_agg(jsonb_build_object('book', l.book, 'line', l.line,"
    "                   'over_price', l.over_price, 'under_price', l.under_price)"
    "                   ORDER BY l.book) AS books"
    "  FROM raw.prop_lines l WHERE l.game_date = $1::date AND l.player_id = pm.player_id"
    "    AND l.market = pm.market) bk ON true"
    " GROUP BY pm.player_id ORDER BY pm.player_id";

/*
 * The date's games from the schedule and the box-score feed, ordered by game
 * id, each with the prediction phase's Elo win probabilities (null when none).
 */
static const char GAMES_SQL[] =
    "WITH ids AS (SELECT game_id FROM raw.schedule WHERE game_date = $1::date"
    "             UNION SELECT game_id FROM raw.games WHERE game_date = $1::date)"
    " SELECT coalesce(jsonb_agg(jsonb_build_object("
    "   'game_id', i.game_id,"
    "   'status', coalesce(g.status, s.status),"
    "   'home_team_id', coalesce(g.home_team_id, s.home_team_id),"
    "   'away_team_id', coalesce(g.away_team_id, s.away_team_id),"
    "   'home_team_abbr', coalesce(g.home_team_abbr, s.home_team_abbr),"
    "   'away_team_abbr', coalesce(g.away_team_abbr, s.away_team_abbr),"
    "   'home_pts', g.home_pts, 'away_pts', g.away_pts,"
    "   'start_time', to_char(s.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    "   'arena', s.arena,"
    "   'players_predicted', (SELECT count(DISTINCT p.player_id)"
    "       FROM prediction.player_prop_predictions p"
    "       WHERE p.game_date = $1::date AND p.game_id = i.game_id),"
    "   'win_prob', (SELECT jsonb_build_object('model', w.model, 'p_home', w.p_home,"
    "       'p_away', w.p_away, 'r_home', w.r_home, 'r_away', w.r_away)"
    "       FROM prediction.game_win_probs w WHERE w.sport = $2 AND w.game_id = i.game_id))"
    "   ORDER BY i.game_id), '[]'::jsonb)::text"
    " FROM ids i LEFT JOIN raw.games g ON g.game_id = i.game_id"
    " LEFT JOIN raw.schedule s ON s.game_id = i.game_id";

/*
 * The date's Kelly slate (prediction.prop_bets, prediction.kelly_portfolio):
 * {"bets": the staked bets ordered by player and market, "moneyline_bets":
 * the staked moneyline bets by game (prediction.moneyline_bets), "portfolio":
 * the summary or null}. Always the whole date (the prediction phase sizes the
 * whole date on every run).
 */
static const char BETS_SQL[] =
    "SELECT jsonb_build_object("
    " 'bets', coalesce((SELECT jsonb_agg(jsonb_build_object("
    "   'player_id', b.player_id, 'market', b.market, 'game_id', b.game_id, 'book', b.book,"
    "   'side', b.side, 'line', b.line, 'price', b.price, 'predicted_value', b.predicted_value,"
    "   'sd', b.sd, 'p_model', b.p_model, 'p_fair', b.p_fair, 'edge', b.edge, 'ev', b.ev,"
    "   'full_kelly', b.full_kelly, 'stake', b.stake, 'capped', to_jsonb(b.capped))"
    "   ORDER BY b.player_id, b.market)"
    "   FROM prediction.prop_bets b WHERE b.game_date = $1::date AND b.sport = $2"
    "   AND b.stake > 0), '[]'::jsonb),"
    " 'moneyline_bets', coalesce((SELECT jsonb_agg(jsonb_build_object("
    "   'game_id', m.game_id, 'side', m.side, 'team_id', m.team_id, 'book', m.book,"
    "   'price', m.price, 'decimal_odds', m.decimal_odds, 'p_elo', m.p_elo,"
    "   'p_model', m.p_model, 'p_fair', m.p_fair, 'edge', m.edge, 'ev', m.ev,"
    "   'full_kelly', m.full_kelly, 'stake', m.stake, 'capped', to_jsonb(m.capped))"
    "   ORDER BY m.game_id) FROM prediction.moneyline_bets m"
    "   WHERE m.game_date = $1::date AND m.sport = $2 AND m.stake > 0), '[]'::jsonb),"
    " 'portfolio', (SELECT jsonb_build_object('bankroll', k.bankroll, 'fraction', k.fraction,"
    "   'n_bets', k.n_bets, 'n_staked', k.n_staked, 'total_stake', k.total_stake,"
    "   'expected_profit', k.expected_profit, 'scale_day', k.scale_day,"
    "   'scale_portfolio', k.scale_portfolio, 'caps_bet', k.caps_bet,"
    "   'open_exposure', k.open_exposure, 'n_moneyline', k.n_moneyline,"
    "   'moneyline_staked', k.moneyline_staked, 'moneyline_stake', k.moneyline_stake,"
    "   'min_edge', k.min_edge, 'market_weight', k.market_weight,"
    "   'moneyline_market_weight', k.moneyline_market_weight)"
    "   FROM prediction.kelly_portfolio k WHERE k.game_date = $1::date AND k.sport = $2))::text";

/* True if the event names player id (or names no player: whole date). */
static bool player_wanted(const struct run *run, const char *id)
{
        if (run->whole_date)
                return true;
        for (size_t i = 0; i < run->env->n_entities; i++)
                if (strcmp(run->env->entities[i].kind, "player") == 0 &&
                    strcmp(run->env->entities[i].id, id) == 0)
                        return true;
        return false;
}

static int build_games(struct run *run)
{
        const char *params[] = {run->env->game_date, run->env->sport};
        PGresult *res = NULL;
        cJSON *games;
        char *bytes, *json = NULL;
        size_t len;
        int rc;

        if (strcmp(run->env->sport, "nhl") == 0) { /* raw.nhl_games + GOI, nhl.c */
                rc = pub_nhl_games_json(run->svc->ph.pg, run->env->game_date, &json, run->errstr,
                                        sizeof(run->errstr));
                if (rc < 0)
                        return rc;
                games = cJSON_Parse(json);
                free(json);
        } else {
                rc = sl_pg_exec(run->svc->ph.pg, GAMES_SQL, 2, params, &res, run->errstr,
                                sizeof(run->errstr));
                if (rc < 0)
                        return rc;
                games = cJSON_Parse(PQgetvalue(res, 0, 0));
                PQclear(res);
        }
        if (!games)
                return sl_errf(run->errstr, sizeof(run->errstr), -EIO, "games: bad JSON from SQL");
        bytes = render_doc(run->env, "games", games, &len);
        return doc_add(run, "games", NULL, bytes, len) ? 0 : -EINVAL;
}

/* The event's player ids as a bigint[] literal ("{2544,201939}"); ids are digits (check_event). */
static char *players_param(const struct sl_envelope *env)
{
        struct sl_buf b;
        bool first = true;

        sl_buf_init(&b, 0);
        sl_buf_puts(&b, "{");
        for (size_t i = 0; i < env->n_entities; i++) {
                if (strcmp(env->entities[i].kind, "player") != 0)
                        continue;
                sl_buf_printf(&b, "%s%s", first ? "" : ",", env->entities[i].id);
                first = false;
        }
        sl_buf_puts(&b, "}");
        return sl_buf_steal(&b);
}

static int cmp_player(const void *a, const void *b)
{
        double x =
            cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, "player_id"));
        double y =
            cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, "player_id"));

        return (x > y) - (x < y);
}

/*
 * An entity update: the published predictions.json with the affected players'
 * entries replaced by fresh (taken over), ordered by player id as the SQL
 * orders them, so the bytes equal a whole-date rebuild. NULL when there is
 * no usable published document (the caller rebuilds the whole date).
 */
static cJSON *splice_players(struct run *run, cJSON *fresh)
{
        char rel[PUB_RELPATH_MAX], idbuf[32];
        char *data = NULL;
        size_t len = 0, n = 0, i = 0;
        cJSON *doc, *old, *out, **items;

        if (pub_doc_path(rel, sizeof(rel), run->env->sport, run->env->game_date, "predictions",
                         NULL) < 0 ||
            pub_file_read(run->svc->root, rel, &data, &len) < 0)
                return NULL;
        doc = cJSON_ParseWithLength(data, len);
        free(data);
        old = cJSON_GetObjectItemCaseSensitive(doc, "players");
        if (!cJSON_IsArray(old)) {
                cJSON_Delete(doc);
                return NULL;
        }
        items = sl_xcalloc((size_t)cJSON_GetArraySize(old) + (size_t)cJSON_GetArraySize(fresh) + 1,
                           sizeof(*items));
        while (old->child) {
                cJSON *p = cJSON_DetachItemViaPointer(old, old->child);
                double id = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "player_id"));
                snprintf(idbuf, sizeof(idbuf), "%.0f", id);
                if (player_wanted(run, idbuf)) /* replaced by the fresh entry, or gone */
                        cJSON_Delete(p);
                else
                        items[n++] = p;
        }
        while (fresh->child)
                items[n++] = cJSON_DetachItemViaPointer(fresh, fresh->child);
        sl_qsort(items, n, sizeof(*items), cmp_player);
        out = cJSON_CreateArray();
        for (i = 0; i < n; i++)
                cJSON_AddItemToArray(out, items[i]);
        free(items);
        cJSON_Delete(doc);
        return out;
}

/*
 * Runs PREDICTIONS_SQL for the date (player_ids NULL: every player) and
 * returns the players as a JSON array; adds the player documents.
 */
static int query_players(struct run *run, const char *player_ids, bool add_docs, cJSON **out)
{
        const char *params[] = {run->env->game_date, player_ids};
        PGresult *res = NULL;
        cJSON *players;
        char *bytes;
        size_t len;
        int rc, n;

        *out = NULL;
        rc = sl_pg_exec(run->svc->ph.pg, PREDICTIONS_SQL, 2, params, &res, run->errstr,
                        sizeof(run->errstr));
        if (rc < 0)
                return rc;
        n = PQntuples(res);
        players = cJSON_CreateArray();
        for (int i = 0; i < n && rc == 0; i++) {
                const char *id = PQgetvalue(res, i, 0);
                cJSON *p = cJSON_Parse(PQgetvalue(res, i, 1));
                if (!p) {
                        rc = sl_errf(run->errstr, sizeof(run->errstr), -EIO,
                                     "player %s: bad JSON from SQL", id);
                        break;
                }
                if (add_docs && player_wanted(run, id)) {
                        bytes = render_doc(run->env, "player", cJSON_Duplicate(p, 1), &len);
                        if (!doc_add(run, "player", id, bytes, len))
                                rc = sl_errf(run->errstr, sizeof(run->errstr), -EIO,
                                             "player id '%s' from SQL", id);
                }
                cJSON_AddItemToArray(players, p);
        }
        PQclear(res);
        if (rc < 0) {
                cJSON_Delete(players);
                return rc;
        }
        *out = players;
        return 0;
}

/* The date's Kelly slate (BETS_SQL) as {"bets": [...], "portfolio": {...} | null}. */
static int query_bets(struct run *run, cJSON **out)
{
        const char *params[] = {run->env->game_date, run->env->sport};
        PGresult *res = NULL;
        cJSON *slate;
        int rc;

        *out = NULL;
        rc = sl_pg_exec(run->svc->ph.pg, BETS_SQL, 2, params, &res, run->errstr,
                        sizeof(run->errstr));
        if (rc < 0)
                return rc;
        slate = cJSON_Parse(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (!cJSON_IsObject(slate) || !cJSON_GetObjectItemCaseSensitive(slate, "bets") ||
            !cJSON_GetObjectItemCaseSensitive(slate, "portfolio")) {
                cJSON_Delete(slate);
                return sl_errf(run->errstr, sizeof(run->errstr), -EIO, "bets: bad JSON from SQL");
        }
        *out = slate;
        return 0;
}

static int build_predictions(struct run *run)
{
        cJSON *players = NULL, *fresh = NULL, *slate = NULL, *doc;
        char *ids, *bytes;
        size_t len;
        int rc;

        if (run->whole_date) {
                rc = query_players(run, NULL, true, &players);
        } else {
                /* Only the affected players from SQL; predictions.json spliced. */
                ids = players_param(run->env);
                rc = query_players(run, ids, true, &fresh);
                free(ids);
                if (rc == 0)
                        players = splice_players(run, fresh);
                cJSON_Delete(fresh);
                if (rc == 0 && !players) /* nothing published yet: the whole list */
                        rc = query_players(run, NULL, false, &players);
        }
        if (rc < 0)
                return rc;
        run->nplayers = (size_t)cJSON_GetArraySize(players);
        rc = query_bets(run, &slate);
        if (rc < 0) {
                cJSON_Delete(players);
                return rc;
        }
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "game_date", run->env->game_date);
        cJSON_AddStringToObject(doc, "sport", run->env->sport);
        cJSON_AddItemToObject(doc, "players", players);
        cJSON_AddItemToObject(doc, "bets", cJSON_DetachItemFromObjectCaseSensitive(slate, "bets"));
        cJSON_AddItemToObject(doc, "moneyline_bets",
                              cJSON_DetachItemFromObjectCaseSensitive(slate, "moneyline_bets"));
        cJSON_AddItemToObject(doc, "portfolio",
                              cJSON_DetachItemFromObjectCaseSensitive(slate, "portfolio"));
        cJSON_Delete(slate);
        bytes = pub_json_render(doc, &len);
        cJSON_Delete(doc);
        return doc_add(run, "predictions", NULL, bytes, len) ? 0 : -EINVAL;
}

/* Writes each document whose file differs; marks what changed against publishing.documents. */
static int write_docs(struct run *run)
{
        struct sl_buf paths;
        PGresult *res = NULL;
        const char *params[1];
        int rc;

        const char **rels = sl_xcalloc(run->ndocs + 1, sizeof(*rels));
        const void **datas = sl_xcalloc(run->ndocs + 1, sizeof(*datas));
        size_t *lens = sl_xcalloc(run->ndocs + 1, sizeof(*lens)), k = 0;

        for (size_t i = 0; i < run->ndocs; i++) {
                struct pub_doc *d = &run->docs[i];
                if (pub_file_same(run->svc->root, d->path, d->bytes, d->len))
                        continue;
                rels[k] = d->path;
                datas[k] = d->bytes;
                lens[k++] = d->len;
                d->written = true;
        }
        /* one batch: every temp file fsynced, renamed, each directory fsynced once */
        rc = pub_write_batch(run->svc->root, rels, (const void *const *)datas, lens, k, run->errstr,
                             sizeof(run->errstr));
        free(rels);
        free(datas);
        free(lens);
        if (rc < 0)
                return rc;
        run->written = k;
        /* Recorded digests; the paths are [A-Za-z0-9_./-] (pub_doc_path): no array quoting. */
        sl_buf_init(&paths, 0);
        sl_buf_puts(&paths, "{");
        for (size_t i = 0; i < run->ndocs; i++)
                sl_buf_printf(&paths, "%s%s", i ? "," : "", run->docs[i].path);
        sl_buf_puts(&paths, "}");
        params[0] = paths.data;
        rc = sl_pg_exec(run->svc->ph.pg,
                        "SELECT doc_path, sha256 FROM publishing.documents "
                        "WHERE doc_path = ANY($1::text[])",
                        1, params, &res, run->errstr, sizeof(run->errstr));
        sl_buf_fini(&paths);
        if (rc < 0)
                return rc;
        for (size_t i = 0; i < run->ndocs; i++) {
                struct pub_doc *d = &run->docs[i];
                d->changed = true;
                for (int r = 0; r < PQntuples(res); r++)
                        if (strcmp(PQgetvalue(res, r, 0), d->path) == 0 &&
                            strcmp(PQgetvalue(res, r, 1), d->sha256) == 0)
                                d->changed = false;
                run->changed += d->changed;
        }
        PQclear(res);
        return 0;
}

static char *entities_json(const struct sl_envelope *env)
{
        cJSON *arr = cJSON_CreateArray();
        char *s, *out;

        for (size_t i = 0; i < env->n_entities; i++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "kind", env->entities[i].kind);
                cJSON_AddStringToObject(e, "id", env->entities[i].id);
                cJSON_AddItemToArray(arr, e);
        }
        s = cJSON_PrintUnformatted(arr);
        cJSON_Delete(arr);
        if (!s)
                abort();
        out = sl_xstrdup(s);
        cJSON_free(s);
        return out;
}

/* One ops.pipeline_execution_log row (autocommit, or inside the caller's transaction). */
static int exec_log(struct run *run, const char *status, const char *skip_reason, const char *error,
                    char *errstr, size_t n)
{
        int64_t dur = sl_mono_ms() - run->t0_ms;
        char *ents = entities_json(run->env);
        struct sl_phase_exec x = {
            .execution_id = run->execution_id,
            .correlation_id = run->env->correlation_id,
            .event_id = run->env->event_id,
            .processor = PROCESSOR,
            .status = status,
            .started_wall_ms = run->started_wall_ms,
            .elapsed_ms = dur,
            .duration_ms = dur,
            .deps_met = "true",
            .skip_reason = skip_reason,
            .error = error,
            .rows = (int64_t)run->changed,
            .entities = ents,
            .game_date = run->env->game_date,
            .sport = run->env->sport,
        };
        int rc = sl_phase_exec_log(&run->svc->ph, &x, errstr, n);

        free(ents);
        return rc;
}

static int claim(struct run *run)
{
        return sl_phase_claim(&run->svc->ph, run->idem_key, PROCESSOR, run->env->correlation_id,
                              run->errstr, sizeof(run->errstr));
}

/* Upserts the changed documents' rows (published_at moves only when the bytes changed). */
static int upsert_docs(struct run *run)
{
        struct sl_buf a[6];
        const char *params[7];
        size_t k = 0;
        int rc;

        for (int j = 0; j < 6; j++) {
                sl_buf_init(&a[j], 0);
                sl_buf_puts(&a[j], "{");
        }
        for (size_t i = 0; i < run->ndocs; i++) {
                const struct pub_doc *d = &run->docs[i];
                const char *sep = k ? "," : "";
                if (!d->changed)
                        continue;
                k++;
                /* Every element is [A-Za-z0-9_./-] or hex: no array quoting needed. */
                sl_buf_printf(&a[0], "%s%s", sep, d->path);
                sl_buf_printf(&a[1], "%s%s", sep, d->kind);
                sl_buf_printf(&a[2], "%s%s", sep, d->player_id[0] ? d->player_id : "NULL");
                sl_buf_printf(&a[3], "%s%s", sep, d->sha256);
                sl_buf_printf(&a[4], "%s%s", sep, d->sha256); /* etag = quoted sha, added in SQL */
                sl_buf_printf(&a[5], "%s%zu", sep, d->len);
        }
        for (int j = 0; j < 6; j++) {
                sl_buf_puts(&a[j], "}");
                params[j] = a[j].data;
        }
        params[6] = run->env->game_date;
        rc = k == 0
                 ? 0
                 : sl_pg_exec(run->svc->ph.pg,
                              "INSERT INTO publishing.documents AS d (doc_path, doc_kind, "
                              "game_date, player_id, sha256, etag, bytes) "
                              "SELECT u.p, u.k, $7::date, u.pl, u.s, '\"' || u.e || '\"', u.b "
                              "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], "
                              "$5::text[], $6::bigint[]) AS u(p, k, pl, s, e, b) "
                              "ON CONFLICT (doc_path) DO UPDATE SET doc_kind = EXCLUDED.doc_kind, "
                              "game_date = EXCLUDED.game_date, player_id = EXCLUDED.player_id, "
                              "sha256 = EXCLUDED.sha256, etag = EXCLUDED.etag, "
                              "bytes = EXCLUDED.bytes, published_at = now(), updated_at = now() "
                              "WHERE d.sha256 IS DISTINCT FROM EXCLUDED.sha256",
                              7, params, NULL, run->errstr, sizeof(run->errstr));
        for (int j = 0; j < 6; j++)
                sl_buf_fini(&a[j]);
        return rc;
}

static int outbox_write(struct run *run)
{
        struct sl_envelope *ev = pub_completed_new(run->env, run->idem_key, run->docs, run->ndocs);

        if (!ev)
                return sl_errf(run->errstr, sizeof(run->errstr), -EINVAL,
                               "could not build publishing.completed");
        snprintf(run->event_key, sizeof(run->event_key), "%s:%s", ev->sport, ev->game_date);
        run->event = sl_envelope_serialize(ev, &run->event_len);
        sl_envelope_free(ev);
        return sl_phase_outbox_insert(&run->svc->ph, run->topic, run->event_key, run->idem_key,
                                      run->event, run->errstr, sizeof(run->errstr));
}

/* BEGIN, claim, rows, execution log, outbox, COMMIT. 0, -EEXIST (claimed before) or an error. */
static int publish_tx(struct run *run)
{
        struct sl_pg *pg = run->svc->ph.pg;
        int rc;

        rc = sl_pg_begin(pg, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = claim(run);
        if (rc == 0)
                rc = upsert_docs(run);
        if (rc == 0)
                rc = outbox_write(run);
        if (rc == 0)
                rc = exec_log(run, "completed", NULL, NULL, run->errstr, sizeof(run->errstr));
        if (rc == 0)
                rc = sl_pg_commit(pg, run->errstr, sizeof(run->errstr));
        return sl_phase_tx_end(&run->svc->ph, rc);
}

static void metric_run(const char *status)
{
        sl_metric_inc(sl_metrics_counter("statline_publishing_runs_total",
                                         "Publishing runs by outcome.", "status"),
                      status);
}

static int failed(struct run *run, int rc)
{
        char err[256];

        run->svc->failed++;
        run->changed = 0;
        metric_run("failed");
        if (run->errstr[0])
                sl_bus_set_error("%s", run->errstr); /* into a dead letter's dlq.error */
        if (rc == -EBADMSG || sl_err_classify(rc) == SL_ERR_PERMANENT)
                sl_log_warn("publishing.poison", "event=%s: %s (dead-lettered)", run->env->event_id,
                            run->errstr);
        else
                sl_log_warn("publishing.retry", "event=%s: %s (%s)", run->env->event_id,
                            run->errstr, sl_strerror(rc));
        if (!run->svc->ph.pg_down &&
            exec_log(run, "failed", NULL, run->errstr[0] ? run->errstr : sl_strerror(rc), err,
                     sizeof(err)) < 0)
                sl_log_debug("publishing.exec_log.error", "%s", err);
        return rc;
}

static int duplicate(struct run *run)
{
        int lrc, rc = sl_phase_replay(&run->svc->ph, run->topic, run->idem_key, &run->event,
                                      &run->event_len, run->errstr, sizeof(run->errstr));

        if (rc < 0 && rc != -EEXIST)
                return failed(run, rc);
        run->svc->duplicates += rc == -EEXIST;
        sl_log_info(rc == 0 ? "publishing.republish" : "publishing.duplicate",
                    "key=%s: documents published before%s", run->idem_key,
                    rc == 0 ? "; the unpublished event was published now" : "");
        metric_run(rc == 0 ? "republished" : "duplicate");
        run->changed = 0;
        lrc = exec_log(run, "skipped",
                       rc == 0 ? "duplicate: publishing.completed re-published"
                               : "duplicate: documents unchanged and published",
                       NULL, run->errstr, sizeof(run->errstr));
        return lrc < 0 ? failed(run, lrc) : rc; /* unrecorded: the redelivery records it */
}

/* Checks the event: a game date, a payload object, player ids that are ids. */
static int check_event(struct run *run)
{
        const struct sl_envelope *env = run->env;
        const cJSON *systems = cJSON_GetObjectItemCaseSensitive(env->payload, "systems");
        size_t players = 0;

        if (!env->game_date[0] || !sl_date_valid(env->game_date))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "prediction.completed without a game_date");
        if (!sport_ok(env->sport))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG, "bad sport");
        if (systems && !cJSON_IsArray(systems))
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                               "payload.systems is not an array");
        for (size_t i = 0; i < env->n_entities; i++) {
                if (strcmp(env->entities[i].kind, "player") != 0)
                        continue;
                if (!pub_player_id_ok(env->entities[i].id))
                        return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG,
                                       "affected player id '%.40s' is not an id",
                                       env->entities[i].id);
                players++;
        }
        run->whole_date = players == 0;
        if (sl_bus_topic(run->topic, sizeof(run->topic), run->svc->cfg->svc.bus_prefix, env->sport,
                         "publishing") < 0)
                return sl_errf(run->errstr, sizeof(run->errstr), -EBADMSG, "topic too long");
        return 0;
}

int pub_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque)
{
        struct pub_svc *svc = opaque;
        struct run run;
        int64_t t_build, t_write, t_commit;
        int rc;

        (void)msg;
        memset(&run, 0, sizeof(run));
        run.svc = svc;
        run.env = env;
        sl_uuid7(run.execution_id);
        run.started_wall_ms = sl_wall_ms();
        run.t0_ms = sl_mono_ms();
        rc = check_event(&run);
        if (rc == 0)
                rc = build_games(&run);
        if (rc == 0 && strcmp(env->sport, "nhl") != 0) /* NHL: no player props */
                rc = build_predictions(&run);
        t_build = sl_mono_ms();
        if (rc == 0)
                rc = write_docs(&run);
        t_write = sl_mono_ms();
        if (rc == 0) {
                pub_idem_key(run.idem_key, sizeof(run.idem_key), env, run.docs, run.ndocs);
                rc = publish_tx(&run);
        }
        t_commit = sl_mono_ms();
        if (rc == 0)
                rc = sl_phase_publish(&svc->ph, run.topic, run.event_key, run.idem_key, run.event,
                                      run.event_len, run.errstr, sizeof(run.errstr));
        if (rc == -EEXIST) {
                rc = duplicate(&run);
        } else if (rc == 0) {
                svc->published++;
                metric_run("completed");
                sl_log_info("publishing.ok",
                            "date=%s players=%zu documents=%zu written=%zu changed=%zu%s "
                            "duration_ms=%lld (query+render %lld, write %lld, commit %lld, "
                            "publish %lld)",
                            env->game_date, run.nplayers, run.ndocs, run.written, run.changed,
                            run.whole_date ? " (whole date)" : "",
                            (long long)(sl_mono_ms() - run.t0_ms), (long long)(t_build - run.t0_ms),
                            (long long)(t_write - t_build), (long long)(t_commit - t_write),
                            (long long)(sl_mono_ms() - t_commit));
        } else {
                sl_phase_note_pg(&svc->ph, rc);
                rc = failed(&run, rc);
        }
        if (rc == 0 || rc == -EEXIST)
                sl_phase_note_pg_up(&svc->ph);
        for (size_t i = 0; i < run.ndocs; i++)
                free(run.docs[i].bytes);
        free(run.docs);
        free(run.event);
        return rc;
}

/* ---- HTTP read API ------------------------------------------------------------------- */

/* Answers 400 {"error": msg}. */
static int bad_request(struct sl_buf *out, const char *msg)
{
        sl_buf_puts(out, "{\"error\":");
        sl_buf_json_str(out, msg);
        sl_buf_puts(out, "}");
        return 400;
}

static int serve(const struct sl_http_req *req, struct sl_buf *out, struct pub_svc *svc,
                 const char *kind)
{
        const char *date = sl_http_query(req, "date");
        const char *player = strcmp(kind, "predictions") == 0 ? sl_http_query(req, "player") : NULL;
        const char *sport = sl_http_query(req, "sport");
        char rel[PUB_RELPATH_MAX], etag[PUB_ETAG_SIZE];
        int status;

        if (!sport || !sport[0])
                sport = svc->sport;
        if (!date || !sl_date_valid(date))
                return bad_request(out, "date must be YYYY-MM-DD");
        if (player && !pub_player_id_ok(player))
                return bad_request(out, "player must be a numeric player id");
        if (!sport_ok(sport))
                return bad_request(out, "bad sport");
        if (pub_doc_path(rel, sizeof(rel), sport, date, player ? "player" : kind, player) < 0)
                return bad_request(out, "bad parameters");
        status = pub_serve_doc(svc->root, rel, sl_http_header(req, "If-None-Match"), out, etag);
        if (etag[0]) {
                sl_http_set_header(req, "ETag", etag);
                sl_http_set_header(req, "Cache-Control", "no-cache"); /* revalidate with the ETag */
        }
        return status;
}

int pub_http_predictions(const struct sl_http_req *req, struct sl_buf *out, void *opaque)
{
        return serve(req, out, opaque, "predictions");
}

int pub_http_games(const struct sl_http_req *req, struct sl_buf *out, void *opaque)
{
        return serve(req, out, opaque, "games");
}

/* ---- service lifecycle ----------------------------------------------------------------- */

int pub_svc_open(struct pub_svc *svc, const struct pub_cfg *cfg, struct sl_bus *bus,
                 struct sl_http *http, char *errstr, size_t n)
{
        char buf[256];
        const char *items[SL_SVC_MAX_SPORTS];
        int rc;

        svc->cfg = cfg;
        svc->ph.bus = bus; /* set up front: sl_phase_open() below may not be reached */
        svc->ph.http = http;
        rc = sl_svc_split_list(cfg->svc.sports, buf, sizeof(buf), items, SL_SVC_MAX_SPORTS);
        snprintf(svc->sport, sizeof(svc->sport), "%s", rc > 0 ? items[0] : "nba");
        if (mkdir(cfg->publish_dir, 0755) < 0 && errno != EEXIST)
                return sl_errf(errstr, n, -errno, "publish.dir %s: %s", cfg->publish_dir,
                               strerror(errno));
        svc->root = realpath(cfg->publish_dir, NULL);
        if (!svc->root)
                return sl_errf(errstr, n, -errno, "publish.dir %s: %s", cfg->publish_dir,
                               strerror(errno));
        rc = sl_phase_open(&svc->ph, "publishing", &cfg->phase, bus, http, errstr, n);
        if (rc < 0)
                return rc;
        sl_log_info("publishing.init", "migrations applied=%d publish.dir=%s", rc, svc->root);
        if (http) {
                rc = sl_http_handle(http, "/v1/predictions", NULL, pub_http_predictions, svc);
                if (rc == 0)
                        rc = sl_http_handle(http, "/v1/games", NULL, pub_http_games, svc);
                if (rc < 0)
                        return sl_errf(errstr, n, rc, "register read API: %s", sl_strerror(rc));
        }
        return 0;
}

void pub_svc_close(struct pub_svc *svc)
{
        sl_phase_close(&svc->ph);
}

void pub_svc_free(struct pub_svc *svc)
{
        pub_svc_close(svc);
        free(svc->root);
        svc->root = NULL;
}

int pub_svc_tick(struct pub_svc *svc)
{
        return sl_phase_tick(&svc->ph);
}
