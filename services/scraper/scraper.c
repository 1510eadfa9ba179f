#include "scraper.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include <sl/bus.h>
#include <sl/cb.h>
#include <sl/envelope.h>
#include <sl/err.h>
#include <sl/http.h>
#include <sl/log.h>
#include <sl/metrics.h>
#include <sl/pg.h>
#include <sl/sha256.h>
#include <sl/svc.h>
#include <sl/util.h>

#include "blob.h"
#include "fetch.h"

#define SPORT          "nba" /* the default sport (scrape.sport) */
#define MAX_GAMES      64    /* games on one date (the NBA plays at most 15) */
#define URL_MAX        2048
#define SKIP_FINAL     "final_already_fetched"
#define SKIP_CB_OPEN   "circuit_open"
#define SKIP_UNCHANGED "unchanged"

/* The sport of a run: scrape.sport ("nba" when unset, as in the unit tests' zeroed cfg). */
static const char *ctx_sport(const struct scraper_ctx *ctx)
{
        return ctx->cfg && ctx->cfg->sport && ctx->cfg->sport[0] ? ctx->cfg->sport : SPORT;
}

/* ---- pure decisions ----------------------------------------------------------- */

bool scraper_should_fetch(const struct scraper_source *src, bool fetched_before)
{
        return src->can_change || !fetched_before;
}

bool scraper_is_unchanged(const char *sha, const char *last_sha)
{
        return last_sha && last_sha[0] && strcmp(sha, last_sha) == 0;
}

void scraper_today(int64_t wall_ms, int64_t utc_offset_min, char out[11])
{
        time_t t = (time_t)((wall_ms + utc_offset_min * 60000) / 1000);
        struct tm tm;
        char buf[64];

        gmtime_r(&t, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        snprintf(out, 11, "%.10s", buf);
}

int scraper_date_add(const char *date, int days, char out[11])
{
        struct tm tm = {0};
        int64_t y, m, d;
        char buf[64];
        time_t t;

        if (!date || !sl_date_valid(date))
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%.4s", date);
        sl_parse_i64(buf, 1800, 9999, &y);
        snprintf(buf, sizeof(buf), "%.2s", date + 5);
        sl_parse_i64(buf, 1, 12, &m);
        snprintf(buf, sizeof(buf), "%.2s", date + 8);
        sl_parse_i64(buf, 1, 31, &d);
        tm.tm_year = (int)y - 1900;
        tm.tm_mon = (int)m - 1;
        tm.tm_mday = (int)d + days; /* timegm normalizes */
        tm.tm_hour = 12;
        t = timegm(&tm);
        gmtime_r(&t, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        snprintf(out, 11, "%.10s", buf);
        return sl_date_valid(out) ? 0 : -EINVAL;
}

/* ---- reading payloads ------------------------------------------------------------ */

/* The v2 result set named name ({"resultSets": [{"name", "headers", "rowSet"}]}), or NULL. */
static const cJSON *result_set(const cJSON *doc, const char *name)
{
        const cJSON *sets = cJSON_GetObjectItemCaseSensitive(doc, "resultSets");
        const cJSON *set;

        cJSON_ArrayForEach(set, sets)
        {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(set, "name");
                if (!name || (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0))
                        return set;
        }
        return NULL;
}

/* Index of header name in a v2 result set, or -1. */
static int column(const cJSON *set, const char *name)
{
        const cJSON *h;
        int i = 0;

        cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(set, "headers"))
        {
                if (cJSON_IsString(h) && strcmp(h->valuestring, name) == 0)
                        return i;
                i++;
        }
        return -1;
}

/* A string or integral number as text into out; false for anything else. */
static bool id_text(const cJSON *v, char *out, size_t out_size)
{
        int n;

        if (cJSON_IsString(v) && v->valuestring[0])
                n = snprintf(out, out_size, "%s", v->valuestring);
        else if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9.0e15 &&
                 v->valuedouble == (double)(int64_t)v->valuedouble)
                n = snprintf(out, out_size, "%lld", (long long)v->valuedouble);
        else
                return false;
        return n > 0 && (size_t)n < out_size;
}

static void add_game(struct scraper_game *out, int max, int count, const char *id, bool final)
{
        if (count >= max)
                return;
        snprintf(out[count].id, sizeof(out[count].id), "%s", id);
        out[count].final = final;
}

static int games_v2(const cJSON *doc, struct scraper_game *out, int max)
{
        const cJSON *set = result_set(doc, "GameHeader"), *row;
        int c_id = set ? column(set, "GAME_ID") : -1;
        int c_status = set ? column(set, "GAME_STATUS_ID") : -1;
        int count = 0;

        if (c_id < 0 || c_status < 0 || !cJSON_IsArray(cJSON_GetObjectItem(set, "rowSet")))
                return -EBADMSG;
        cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(set, "rowSet"))
        {
                const cJSON *st = cJSON_GetArrayItem(row, c_status);
                char id[16];
                if (!id_text(cJSON_GetArrayItem(row, c_id), id, sizeof(id)) || strlen(id) != 10 ||
                    !cJSON_IsNumber(st))
                        return -EBADMSG;
                add_game(out, max, count++, id, st->valueint == 3);
        }
        return count;
}

static int games_v3(const cJSON *doc, struct scraper_game *out, int max)
{
        const cJSON *sb = cJSON_GetObjectItemCaseSensitive(doc, "scoreboard");
        const cJSON *games = cJSON_GetObjectItemCaseSensitive(sb, "games"), *g;
        int count = 0;

        if (!cJSON_IsArray(games))
                return -EBADMSG;
        cJSON_ArrayForEach(g, games)
        {
                const cJSON *st = cJSON_GetObjectItemCaseSensitive(g, "gameStatus");
                char id[16];
                if (!id_text(cJSON_GetObjectItemCaseSensitive(g, "gameId"), id, sizeof(id)) ||
                    strlen(id) != 10 || !cJSON_IsNumber(st))
                        return -EBADMSG;
                add_game(out, max, count++, id, st->valueint == 3);
        }
        return count;
}

/* NHL gameWeek[] days (only date's when date is not NULL): games[].id, gameState OFF/FINAL. */
static int games_nhl(const cJSON *doc, const char *date, struct scraper_game *out, int max)
{
        const cJSON *week = cJSON_GetObjectItemCaseSensitive(doc, "gameWeek"), *day, *g;
        int count = 0;

        if (!cJSON_IsArray(week))
                return -EBADMSG;
        cJSON_ArrayForEach(day, week)
        {
                const cJSON *d = cJSON_GetObjectItemCaseSensitive(day, "date");
                const cJSON *games = cJSON_GetObjectItemCaseSensitive(day, "games");
                if (!cJSON_IsString(d) || !cJSON_IsArray(games))
                        return -EBADMSG;
                if (date && strcmp(d->valuestring, date) != 0)
                        continue;
                cJSON_ArrayForEach(g, games)
                {
                        const cJSON *st = cJSON_GetObjectItemCaseSensitive(g, "gameState");
                        char id[16];
                        if (!id_text(cJSON_GetObjectItemCaseSensitive(g, "id"), id, sizeof(id)) ||
                            strlen(id) != 10 || !cJSON_IsString(st))
                                return -EBADMSG;
                        add_game(out, max, count++, id,
                                 strcmp(st->valuestring, "OFF") == 0 ||
                                     strcmp(st->valuestring, "FINAL") == 0);
                }
        }
        return count;
}

int scraper_scoreboard_games(const cJSON *doc, const char *kind, struct scraper_game *out, int max)
{
        return scraper_board_games(doc, kind, NULL, out, max);
}

int scraper_board_games(const cJSON *doc, const char *kind, const char *date,
                        struct scraper_game *out, int max)
{
        if (!doc || !kind)
                return -EBADMSG;
        if (strcmp(kind, "scoreboard_v2") == 0)
                return games_v2(doc, out, max);
        if (strcmp(kind, "scoreboard_v3") == 0)
                return games_v3(doc, out, max);
        if (strcmp(kind, "nhl_schedule") == 0)
                return games_nhl(doc, date, out, max);
        return -EBADMSG;
}

bool scraper_is_board(const struct scraper_source *src)
{
        return strcmp(src->family, "scoreboard") == 0 || strcmp(src->kind, "nhl_schedule") == 0;
}

/* Distinct entity ids, in first-seen order, capped. */
struct idlist {
        char **ids;
        size_t n, cap;
        bool overflow; /* more than SL_ENVELOPE_MAX_ENTITIES */
};

static void idlist_add(struct idlist *l, const cJSON *v)
{
        char id[SL_ENVELOPE_MAX_ENTITY_ID + 1];

        if (l->overflow || !id_text(v, id, sizeof(id)))
                return;
        for (size_t i = 0; i < l->n; i++) {
                if (strcmp(l->ids[i], id) == 0)
                        return;
        }
        if (l->n == SL_ENVELOPE_MAX_ENTITIES) {
                l->overflow = true;
                return;
        }
        if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 32;
                l->ids = sl_xrealloc(l->ids, l->cap * sizeof(*l->ids));
        }
        l->ids[l->n++] = sl_xstrdup(id);
}

static void idlist_fini(struct idlist *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->ids[i]);
        free(l->ids);
}

/* Collects member key of every object in the array member list of doc. */
static void collect_members(struct idlist *l, const cJSON *doc, const char *list, const char *key)
{
        const cJSON *e;

        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, list))
            idlist_add(l, cJSON_GetObjectItemCaseSensitive(e, key));
}

/* Collects column col of every row of every v2 result set that has it. */
static void collect_column(struct idlist *l, const cJSON *doc, const char *col)
{
        const cJSON *set, *row;

        cJSON_ArrayForEach(set, cJSON_GetObjectItemCaseSensitive(doc, "resultSets"))
        {
                int c = column(set, col);
                if (c < 0)
                        continue;
                cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(set, "rowSet"))
                    idlist_add(l, cJSON_GetArrayItem(row, c));
        }
}

/* Adds every id of l as kind; nothing when l overflowed. */
static int add_all(struct sl_envelope *env, const struct idlist *l, const char *kind)
{
        int added = 0;

        for (size_t i = 0; !l->overflow && i < l->n; i++) {
                int rc = sl_envelope_add_entity(env, kind, l->ids[i]);
                if (rc == -E2BIG)
                        break;
                if (rc == 0)
                        added++;
        }
        return added;
}

int scraper_add_entities(struct sl_envelope *env, const struct scraper_source *src,
                         const cJSON *doc, const char *game_id)
{
        struct idlist games = {0}, players = {0};
        int added = 0;

        if (game_id && sl_envelope_add_entity(env, "game", game_id) == 0)
                added++;
        if (doc && strcmp(src->family, "scoreboard") == 0) {
                collect_column(&games, doc, "GAME_ID"); /* v2 */
                collect_members(&games, cJSON_GetObjectItemCaseSensitive(doc, "scoreboard"),
                                "games", "gameId"); /* v3 */
        } else if (doc && strcmp(src->family, "schedule") == 0) {
                collect_column(&games, doc, "GAME_ID");
        } else if (doc && strcmp(src->family, "injuries") == 0) {
                collect_members(&players, doc, "players", "playerId");
        } else if (doc && strcmp(src->family, "props") == 0) {
                collect_members(&games, doc, "props", "gameId");
                collect_members(&players, doc, "props", "playerId");
        }
        if (games.n + players.n + (size_t)added > SL_ENVELOPE_MAX_ENTITIES)
                games.overflow = players.overflow = true;
        added += add_all(env, &games, "game");
        added += add_all(env, &players, "player");
        idlist_fini(&games);
        idlist_fini(&players);
        return added;
}

/* The NHL families: schedule (the board), then the per-game documents of its Final games. */
static int parse_nhl_sources(const char *list, const char *what,
                             const struct scraper_source *srcs[8], int *n_out, char *errstr,
                             size_t errstr_size)
{
        static const char *const order[] = {"schedule", "boxscore", "playbyplay"};
        const char *items[8];
        char buf[256];
        bool want[3] = {false};
        int n = sl_svc_split_list(list, buf, sizeof(buf), items, 8);

        if (n < 0) {
                snprintf(errstr, errstr_size, "%s: '%s' is not a list", what, list);
                return -EINVAL;
        }
        for (int i = 0; i < n; i++) {
                size_t j = 0;
                while (j < 3 && strcmp(items[i], order[j]) != 0)
                        j++;
                if (j == 3) {
                        snprintf(errstr, errstr_size,
                                 "%s: unknown NHL source '%s' (schedule, boxscore, playbyplay)",
                                 what, items[i]);
                        return -EINVAL;
                }
                want[j] = true;
        }
        if ((want[1] || want[2]) && !want[0]) {
                snprintf(errstr, errstr_size,
                         "%s: boxscore and playbyplay need schedule (it lists the games)", what);
                return -EINVAL;
        }
        *n_out = 0;
        for (size_t j = 0; j < 3; j++) {
                if (want[j])
                        srcs[(*n_out)++] = scraper_source_pick_sport("nhl", order[j], NULL);
        }
        return 0;
}

int scraper_parse_sources_sport(const char *sport, const char *list, const char *scoreboard_ver,
                                const char *boxscore_ver, const char *what,
                                const struct scraper_source *srcs[8], int *n_out, char *errstr,
                                size_t errstr_size)
{
        if (sport && strcmp(sport, "nhl") == 0)
                return parse_nhl_sources(list, what, srcs, n_out, errstr, errstr_size);
        if (sport && strcmp(sport, SPORT) != 0) {
                snprintf(errstr, errstr_size, "%s: no sources for sport '%s' (nba, nhl)", what,
                         sport);
                return -EINVAL;
        }
        return scraper_parse_sources(list, scoreboard_ver, boxscore_ver, what, srcs, n_out, errstr,
                                     errstr_size);
}

int scraper_parse_sources(const char *list, const char *scoreboard_ver, const char *boxscore_ver,
                          const char *what, const struct scraper_source *srcs[8], int *n_out,
                          char *errstr, size_t errstr_size)
{
        static const char *const order[] = {"scoreboard", "boxscore", "injuries",
                                            "props",      "schedule", "odds"};
        const char *items[8];
        char buf[256];
        bool want[6] = {false};
        int n = sl_svc_split_list(list, buf, sizeof(buf), items, 8);

        if (n < 0) {
                snprintf(errstr, errstr_size, "%s: '%s' is not a list", what, list);
                return -EINVAL;
        }
        for (int i = 0; i < n; i++) {
                size_t j = 0;
                while (j < 6 && strcmp(items[i], order[j]) != 0)
                        j++;
                if (j == 6) {
                        snprintf(errstr, errstr_size,
                                 "%s: unknown source '%s' (scoreboard, boxscore, "
                                 "injuries, props, schedule, odds)",
                                 what, items[i]);
                        return -EINVAL;
                }
                want[j] = true;
        }
        if (want[1] && !want[0]) {
                snprintf(errstr, errstr_size, "%s: boxscore needs scoreboard (it lists the games)",
                         what);
                return -EINVAL;
        }
        *n_out = 0;
        for (size_t j = 0; j < 6; j++) {
                const char *ver = j == 0 ? scoreboard_ver : j == 1 ? boxscore_ver : NULL;
                if (want[j])
                        srcs[(*n_out)++] = scraper_source_pick(order[j], ver);
        }
        return 0;
}

int scraper_pick_sources(struct scraper_ctx *ctx, char *errstr, size_t errstr_size)
{
        const struct scraper_cfg *cfg = ctx->cfg;

        if (strcmp(ctx_sport(ctx), "nhl") == 0)
                return scraper_parse_sources_sport("nhl", cfg->nhl_sources, NULL, NULL,
                                                   "scrape.nhl_sources", ctx->srcs, &ctx->n_srcs,
                                                   errstr, errstr_size);
        return scraper_parse_sources_sport(ctx_sport(ctx), cfg->sources, cfg->scoreboard,
                                           cfg->boxscore, "scrape.sources", ctx->srcs, &ctx->n_srcs,
                                           errstr, errstr_size);
}

/* ---- the execution log ------------------------------------------------------------- */

/* One ops.scraper_execution_log row. NULL strings and negative numbers are SQL NULL. */
struct exec_row {
        const struct scraper_source *src;
        const char *key;    /* source_key: game id or date */
        const char *url;    /* redacted */
        const char *status; /* completed failed skipped unchanged */
        const char *skip_reason;
        const char *sha;
        char error[300];
        long http_status; /* 0 = none */
        int64_t bytes;    /* -1 = none */
        int attempts;
        int64_t started_wall_ms, t0_mono_ms;
};

/* The state of one run. */
struct run {
        struct scraper_ctx *ctx;
        struct sl_envelope *root; /* the run's root event: correlation and causation */
        const char *date;
        struct scraper_summary *sum;
};

static const char *num(char *buf, size_t n, int64_t v, bool null)
{
        if (null)
                return NULL;
        snprintf(buf, n, "%lld", (long long)v);
        return buf;
}

/* Inserts the row. Returns 0 or the sl_pg errno (logged). */
static int log_row(struct run *run, struct exec_row *row)
{
        static const char sql[] =
            "INSERT INTO ops.scraper_execution_log (execution_id, correlation_id, source, "
            "scraper, url, http_status, bytes, blob_sha256, status, attempts, started_at, "
            "completed_at, duration_ms, error_message, game_date, source_key, skip_reason) "
            "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6::smallint, $7::bigint, $8, $9, "
            "$10::smallint, $11::timestamptz, $12::timestamptz, $13::integer, $14, $15::date, "
            "$16, $17)";
        char id[37], started[25], completed[25], http[16], bytes[24], attempts[16], dur[24];
        char errstr[512];
        int64_t now = sl_wall_ms(), duration = sl_mono_ms() - row->t0_mono_ms;
        const char *params[17];
        int rc;

        sl_uuid7(id);
        sl_time_rfc3339(row->started_wall_ms, started);
        sl_time_rfc3339(now < row->started_wall_ms ? row->started_wall_ms : now, completed);
        params[0] = id;
        params[1] = run->root->correlation_id;
        params[2] = row->src->source;
        params[3] = row->src->name;
        params[4] = row->url;
        params[5] = num(http, sizeof(http), row->http_status,
                        row->http_status < 100 || row->http_status > 599);
        params[6] = num(bytes, sizeof(bytes), row->bytes, row->bytes < 0);
        params[7] = row->sha;
        params[8] = row->status;
        params[9] = num(attempts, sizeof(attempts), row->attempts, false);
        params[10] = started;
        params[11] = completed;
        params[12] = num(dur, sizeof(dur), duration, false);
        params[13] = row->error[0] ? row->error : NULL;
        params[14] = run->date;
        params[15] = row->key;
        params[16] = row->skip_reason;
        rc = sl_pg_exec(run->ctx->pg, sql, 17, params, NULL, errstr, sizeof(errstr));
        if (rc < 0)
                sl_log_error("scraper.log.error", "scraper=%s key=%s: %s", row->src->name, row->key,
                             errstr);
        sl_metric_inc(run->ctx->m_fetches, row->src->name, row->status);
        return rc;
}

/*
 * The digest of the last stored document of (source, key) into last ("" when
 * there is none), and whether any successful fetch is recorded.
 */
static int last_fetch(struct run *run, const struct exec_row *row, char last[65], bool *found,
                      char *errstr, size_t errstr_size)
{
        static const char sql[] =
            "SELECT coalesce(blob_sha256, '') FROM ops.scraper_execution_log "
            "WHERE source = $1 AND source_key = $2 AND status IN ('completed', 'unchanged') "
            "ORDER BY started_at DESC LIMIT 1";
        const char *params[2] = {row->src->source, row->key};
        PGresult *res = NULL;
        int rc = sl_pg_exec(run->ctx->pg, sql, 2, params, &res, errstr, errstr_size);

        last[0] = '\0';
        *found = false;
        if (rc < 0)
                return rc;
        if (PQntuples(res) > 0) {
                *found = true;
                snprintf(last, 65, "%s", PQgetvalue(res, 0, 0));
        }
        PQclear(res);
        return 0;
}

/* ---- one document -------------------------------------------------------------------- */

static void note_failure(struct run *run, const struct exec_row *row)
{
        struct scraper_summary *sum = run->sum;

        sum->failed++;
        if (sum->n_failures < SCRAPER_MAX_FAILURES) {
                char *line = sum->failures[sum->n_failures++];
                int n = snprintf(line, sizeof(sum->failures[0]), "%s %s: %s", row->src->name,
                                 row->key, row->error);
                if (n >= (int)sizeof(sum->failures[0]))
                        memcpy(line + sizeof(sum->failures[0]) - 4, "...", 4); /* cut: say so */
        }
        sl_log_error("scraper.fetch.failed", "scraper=%s key=%s url=%s attempts=%d error=\"%s\"",
                     row->src->name, row->key, row->url, row->attempts, row->error);
}

/* Builds and publishes the scraper.completed event, waiting for confirmation. */
static int publish(struct run *run, const struct exec_row *row, const struct scraper_response *resp,
                   const char *game_id, char *errstr, size_t errstr_size)
{
        struct sl_bus *bus = sl_svc_bus(run->ctx->svc);
        struct sl_envelope *env = NULL;
        char rel[SCRAPER_BLOB_REL_MAX], key[SL_ENVELOPE_MAX_IDEM_KEY];
        cJSON *p = cJSON_CreateObject();
        int rc;

        env = sl_envelope_new("scraper.completed", "scraper", ctx_sport(run->ctx), run->date,
                              run->root);
        scraper_blob_relpath(row->sha, rel, sizeof(rel));
        cJSON_AddStringToObject(p, "scraper", row->src->name);
        cJSON_AddStringToObject(p, "source", row->src->source);
        cJSON_AddStringToObject(p, "kind", row->src->kind);
        cJSON_AddStringToObject(p, "url", row->url);
        cJSON_AddNumberToObject(p, "http_status", (double)resp->http_status);
        if (resp->content_type[0])
                cJSON_AddStringToObject(p, "content_type", resp->content_type);
        cJSON_AddNumberToObject(p, "bytes", (double)resp->body.len);
        cJSON_AddStringToObject(p, "blob_sha256", row->sha);
        cJSON_AddStringToObject(p, "blob_path", rel);
        if (game_id)
                cJSON_AddStringToObject(p, "game_id", game_id);
        cJSON_AddStringToObject(p, "game_date", run->date);
        sl_envelope_set_payload(env, p); /* takes p */
        snprintf(key, sizeof(key), "scraper:%s:%s", row->src->source, row->sha);
        sl_envelope_set_idem_key(env, key);
        scraper_add_entities(env, row->src, resp->json, game_id);
        rc = sl_bus_publish(bus, run->ctx->topic, env);
        if (rc == 0)
                rc = sl_bus_flush(bus, run->ctx->cfg->publish_timeout_ms);
        if (rc < 0)
                snprintf(errstr, errstr_size, "publish to %s: %s", run->ctx->topic,
                         sl_strerror(rc));
        else
                sl_log_info("scraper.published", "scraper=%s key=%s event_id=%s sha256=%.12s",
                            row->src->name, row->key, env->event_id, row->sha);
        sl_envelope_free(env);
        return rc;
}

/*
 * After a successful fetch: unchanged check, blob, event. Fills row (status,
 * error) for the execution log; returns 0 or a negative errno.
 */
static int store(struct run *run, struct exec_row *row, const struct scraper_response *resp,
                 const char *game_id, char sha[65])
{
        char last[65];
        bool found, written;
        int rc;

        sl_sha256_hex(resp->body.data, resp->body.len, sha);
        row->sha = sha;
        rc = last_fetch(run, row, last, &found, row->error, sizeof(row->error));
        if (rc == 0)
                rc = scraper_blob_put(run->ctx->cfg->blob_dir, resp->body.data, resp->body.len, sha,
                                      &written, row->error, sizeof(row->error));
        if (rc < 0)
                return rc;
        if (scraper_is_unchanged(sha, last)) {
                row->status = "unchanged";
                row->skip_reason = SKIP_UNCHANGED;
                run->sum->unchanged++;
                return 0;
        }
        rc = publish(run, row, resp, game_id, row->error, sizeof(row->error));
        if (rc < 0)
                return rc;
        row->status = "completed";
        run->sum->stored++;
        return 0;
}

/*
 * Fetches, stores, publishes and logs one document of src. key is the game
 * id or the date. When keep is not NULL and the fetch succeeded, the parsed
 * document is handed over there (cJSON_Delete() it). Returns 0, -ECANCELED
 * or the errno of the failure (already logged and counted).
 */
static int run_job(struct run *run, const struct scraper_source *src, const char *game_id,
                   cJSON **keep)
{
        const struct scraper_cfg *cfg = run->ctx->cfg;
        struct scraper_vars vars = {.date = run->date, .game_id = game_id};
        struct exec_row row = {.src = src,
                               .key = game_id ? game_id : run->date,
                               .bytes = -1,
                               .status = "failed",
                               .started_wall_ms = sl_wall_ms(),
                               .t0_mono_ms = sl_mono_ms()};
        struct scraper_response resp;
        const char *tmpl = src->path;
        char url[URL_MAX], safe[URL_MAX], sha[65], last[65];
        bool before = false;
        int rc;

        if (strcmp(src->family, "injuries") == 0 && cfg->injuries_url[0])
                tmpl = cfg->injuries_url;
        else if (strcmp(src->family, "props") == 0 && cfg->props_url[0])
                tmpl = cfg->props_url;
        rc = scraper_url_build(cfg->base_url, tmpl, &vars, url, sizeof(url));
        scraper_url_redact(rc == 0 ? url : tmpl, safe, sizeof(safe));
        row.url = safe;
        if (rc < 0) {
                snprintf(row.error, sizeof(row.error), "bad URL template: %s", sl_strerror(rc));
                row.attempts = 1;
                note_failure(run, &row);
                log_row(run, &row);
                return rc;
        }
        if (!src->can_change) {
                rc = last_fetch(run, &row, last, &before, row.error, sizeof(row.error));
                if (rc == 0 && !scraper_should_fetch(src, before)) {
                        row.status = "skipped";
                        row.skip_reason = SKIP_FINAL;
                        run->sum->skipped++;
                        return log_row(run, &row) < 0 ? -EIO : 0;
                }
                if (rc < 0) {
                        row.attempts = 1;
                        note_failure(run, &row);
                        log_row(run, &row);
                        return rc;
                }
        }
        /* per-source breaker (sl/cb.h), shared by replicas: while open, nothing is fetched */
        char dep[SL_CB_NAME_MAX];
        snprintf(dep, sizeof(dep), "source:%s", src->name);
        struct sl_cb *cb = run->ctx->svc ? sl_svc_cb(run->ctx->svc, dep, NULL) : NULL;
        if (cb && !sl_cb_allow(cb, sl_mono_ms())) {
                row.status = "skipped";
                row.skip_reason = SKIP_CB_OPEN;
                run->sum->skipped++;
                return log_row(run, &row) < 0 ? -EIO : 0;
        }
        scraper_response_init(&resp);
        rc = scraper_fetch(run->ctx->fetcher, url, &resp);
        if (cb)
                sl_cb_record(cb, rc, sl_mono_ms() - row.t0_mono_ms, sl_mono_ms());
        row.attempts = resp.attempts > 0 ? resp.attempts : 1;
        row.http_status = resp.http_status;
        run->sum->requests += resp.attempts;
        sl_metric_add(run->ctx->m_requests, (double)resp.attempts, src->name);
        if (rc == 0) {
                row.bytes = (int64_t)resp.body.len;
                run->sum->fetched++;
                run->sum->bytes += row.bytes;
                sl_metric_add(run->ctx->m_bytes, (double)row.bytes, src->name);
                rc = store(run, &row, &resp, game_id, sha);
        } else {
                snprintf(row.error, sizeof(row.error), "%s after %d attempt%s", resp.error,
                         resp.attempts, resp.attempts == 1 ? "" : "s");
        }
        if (rc < 0 && rc != -ECANCELED)
                note_failure(run, &row);
        if (rc != -ECANCELED && log_row(run, &row) < 0 && rc == 0) {
                rc = -EIO; /* the effect happened, but the record of it is missing */
                snprintf(row.error, sizeof(row.error), "execution log write failed");
                note_failure(run, &row);
        }
        if (rc == 0 && keep) {
                *keep = resp.json;
                resp.json = NULL;
        }
        scraper_response_fini(&resp);
        return rc;
}

/* Box scores (or play-by-play) of the Final games of a scoreboard (or NHL schedule). */
static int run_boxscores(struct run *run, const struct scraper_source *src,
                         const struct scraper_source *board, const cJSON *doc)
{
        struct scraper_game games[MAX_GAMES];
        int n = scraper_board_games(doc, board->kind, run->date, games, MAX_GAMES), rc = 0;

        if (n < 0) {
                struct exec_row row = {.src = src, .key = run->date, .url = ""};
                snprintf(row.error, sizeof(row.error), "%s: no game list in the scoreboard",
                         board->name);
                note_failure(run, &row);
                return n;
        }
        if (n > MAX_GAMES)
                n = MAX_GAMES;
        for (int i = 0; i < n && rc != -ECANCELED; i++) {
                if (games[i].final)
                        rc = run_job(run, src, games[i].id, NULL);
        }
        return rc;
}

/* The summary's game counts from the scoreboard (NULL when it failed). */
static void count_games(struct scraper_summary *sum, const struct scraper_source *board,
                        const cJSON *doc, const char *date)
{
        struct scraper_game games[MAX_GAMES];
        int n = doc ? scraper_board_games(doc, board->kind, date, games, MAX_GAMES) : 0;

        sum->games = n > 0 ? n : 0;
        for (int i = 0; i < n && i < MAX_GAMES; i++)
                sum->games_final += games[i].final;
}

int scraper_run_date(struct scraper_ctx *ctx, const char *date, struct scraper_summary *sum)
{
        return scraper_run_date_from(ctx, date, ctx->srcs, ctx->n_srcs, NULL, sum);
}

int scraper_run_date_from(struct scraper_ctx *ctx, const char *date,
                          const struct scraper_source *const *srcs, int n_srcs,
                          const struct sl_envelope *cause, struct scraper_summary *sum)
{
        struct run run = {.ctx = ctx, .date = date, .sum = sum};
        const struct scraper_source *board = NULL;
        cJSON *board_doc = NULL;
        int64_t t0 = sl_mono_ms();
        int rc = 0;

        memset(sum, 0, sizeof(*sum));
        snprintf(sum->date, sizeof(sum->date), "%s", date);
        run.root = sl_envelope_new("scraper.run", "scraper", ctx_sport(ctx), date, cause);
        if (!run.root)
                return -EINVAL; /* not a valid date: checked by the caller */
        snprintf(sum->correlation_id, sizeof(sum->correlation_id), "%s", run.root->correlation_id);
        snprintf(sum->root_event_id, sizeof(sum->root_event_id), "%s", run.root->event_id);
        sl_log_set_event(run.root);
        sl_log_info("scraper.run.start", "date=%s sources=%d%s%s", date, n_srcs,
                    cause ? " trigger=" : "", cause ? cause->event_id : "");
        for (int i = 0; i < n_srcs && rc != -ECANCELED; i++) {
                const struct scraper_source *src = srcs[i];
                if (scraper_is_board(src)) {
                        board = src;
                        rc = run_job(&run, src, NULL, &board_doc);
                        count_games(sum, src, board_doc, date);
                } else if (src->key == SCRAPER_KEY_GAME) {
                        rc = board_doc ? run_boxscores(&run, src, board, board_doc) : 0;
                } else {
                        rc = run_job(&run, src, NULL, NULL);
                }
        }
        cJSON_Delete(board_doc);
        sum->aborted = rc == -ECANCELED;
        sum->duration_ms = sl_mono_ms() - t0;
        sl_log_info("scraper.run.done",
                    "date=%s games=%d final=%d fetched=%d stored=%d unchanged=%d skipped=%d "
                    "failed=%d requests=%d bytes=%lld duration_ms=%lld aborted=%d",
                    date, sum->games, sum->games_final, sum->fetched, sum->stored, sum->unchanged,
                    sum->skipped, sum->failed, sum->requests, (long long)sum->bytes,
                    (long long)sum->duration_ms, sum->aborted);
        sl_log_set_event(NULL);
        sl_envelope_free(run.root);
        if (sum->aborted)
                return -ECANCELED;
        return sum->failed > 0 ? -EIO : 0;
}

void scraper_summary_print(const struct scraper_summary *sum, FILE *out)
{
        fprintf(out,
                "scrape %s: %s\n  correlation_id=%s games=%d final=%d fetched=%d stored=%d "
                "unchanged=%d skipped=%d failed=%d requests=%d bytes=%lld duration_ms=%lld\n",
                sum->date,
                sum->aborted  ? "ABORTED"
                : sum->failed ? "FAILED"
                              : "ok",
                sum->correlation_id, sum->games, sum->games_final, sum->fetched, sum->stored,
                sum->unchanged, sum->skipped, sum->failed, sum->requests, (long long)sum->bytes,
                (long long)sum->duration_ms);
        for (int i = 0; i < sum->n_failures; i++)
                fprintf(out, "  failed: %s\n", sum->failures[i]);
        if (sum->failed > sum->n_failures)
                fprintf(out, "  ... and %d more failures\n", sum->failed - sum->n_failures);
        fflush(out);
}

/* ---- triggers -------------------------------------------------------------------- */

int scraper_trigger_topic(char *out, size_t out_size, const char *prefix, const char *sport)
{
        int n = snprintf(out, out_size, "%s.%s.%s.requested", prefix ? prefix : "statline", sport,
                         SCRAPER_TRIGGER_PHASE);

        return n < 0 || (size_t)n >= out_size ? -ENAMETOOLONG : 0;
}

/* payload "sources": a string or an array of strings, joined with commas into out. */
static int trigger_sources(const cJSON *v, char *out, size_t out_size, char *errstr,
                           size_t errstr_size)
{
        const cJSON *item;
        size_t len = 0;

        out[0] = '\0';
        if (!v || cJSON_IsNull(v))
                return 0;
        if (cJSON_IsString(v)) {
                if (snprintf(out, out_size, "%s", v->valuestring) >= (int)out_size)
                        goto too_long;
                return 0;
        }
        if (!cJSON_IsArray(v)) {
                snprintf(errstr, errstr_size, "payload.sources: expected a string or an array");
                return -EBADMSG;
        }
        cJSON_ArrayForEach(item, v)
        {
                int n;
                if (!cJSON_IsString(item)) {
                        snprintf(errstr, errstr_size, "payload.sources: expected strings");
                        return -EBADMSG;
                }
                n = snprintf(out + len, out_size - len, "%s%s", len ? "," : "", item->valuestring);
                if (n < 0 || (size_t)n >= out_size - len)
                        goto too_long;
                len += (size_t)n;
        }
        return 0;
too_long:
        snprintf(errstr, errstr_size, "payload.sources: too long");
        return -EBADMSG;
}

int scraper_trigger_parse(const struct sl_envelope *env, struct scraper_trigger *out, char *errstr,
                          size_t errstr_size)
{
        return scraper_trigger_parse_sport(env, SPORT, out, errstr, errstr_size);
}

int scraper_trigger_parse_sport(const struct sl_envelope *env, const char *sport,
                                struct scraper_trigger *out, char *errstr, size_t errstr_size)
{
        const cJSON *date = cJSON_GetObjectItemCaseSensitive(env->payload, "game_date");
        const cJSON *by = cJSON_GetObjectItemCaseSensitive(env->payload, "requested_by");

        memset(out, 0, sizeof(*out));
        if (!env->type || strcmp(env->type, SCRAPER_TRIGGER_TYPE) != 0) {
                snprintf(errstr, errstr_size, "type: expected %s, got %s", SCRAPER_TRIGGER_TYPE,
                         env->type ? env->type : "(none)");
                return -EBADMSG;
        }
        if (!env->sport || strcmp(env->sport, sport) != 0) {
                snprintf(errstr, errstr_size, "sport: this scraper scrapes %s only", sport);
                return -EBADMSG;
        }
        if (env->game_date[0])
                snprintf(out->date, sizeof(out->date), "%s", env->game_date);
        else if (cJSON_IsString(date) && sl_date_valid(date->valuestring))
                snprintf(out->date, sizeof(out->date), "%s", date->valuestring);
        if (!sl_date_valid(out->date)) {
                snprintf(errstr, errstr_size, "game_date: missing or not YYYY-MM-DD");
                return -EBADMSG;
        }
        if (by && !cJSON_IsNull(by)) {
                if (!cJSON_IsString(by) || strlen(by->valuestring) >= sizeof(out->requested_by)) {
                        snprintf(errstr, errstr_size,
                                 "payload.requested_by: expected a short string");
                        return -EBADMSG;
                }
                snprintf(out->requested_by, sizeof(out->requested_by), "%s", by->valuestring);
        }
        return trigger_sources(cJSON_GetObjectItemCaseSensitive(env->payload, "sources"),
                               out->sources, sizeof(out->sources), errstr, errstr_size);
}

/* Inserts (or, for a redelivered trigger, resets) the ops.scrape_runs row. */
static int scrape_run_start(struct scraper_ctx *ctx, const struct sl_envelope *env,
                            const struct scraper_trigger *trg, const char *sources)
{
        static const char sql[] =
            "INSERT INTO ops.scrape_runs (trigger_event_id, correlation_id, sport, game_date, "
            "requested_by, sources, status, started_at) VALUES ($1::uuid, $2::uuid, $3, "
            "$4::date, $5, $6, 'running', now()) ON CONFLICT (trigger_event_id) DO UPDATE SET "
            "status = 'running', started_at = now(), completed_at = NULL, updated_at = now()";
        const char *params[6] = {env->event_id, env->correlation_id, ctx_sport(ctx),
                                 trg->date,     trg->requested_by,   sources};
        char errstr[512];
        int rc = sl_pg_exec(ctx->pg, sql, 6, params, NULL, errstr, sizeof(errstr));

        if (rc < 0)
                sl_log_error("scraper.trigger.log", "scrape_runs insert: %s", errstr);
        return rc;
}

/* Records the outcome of a triggered run (status from rc, counts from sum). */
static int scrape_run_done(struct scraper_ctx *ctx, const struct sl_envelope *env, int rc,
                           const struct scraper_summary *sum, const char *error)
{
        static const char sql[] =
            "UPDATE ops.scrape_runs SET status = $2, games = $3::int, games_final = $4::int, "
            "fetched = $5::int, stored = $6::int, unchanged = $7::int, skipped = $8::int, "
            "failed = $9::int, error_message = $10, completed_at = now(), updated_at = now() "
            "WHERE trigger_event_id = $1::uuid";
        char v[8][16], errstr[512], err[1024] = "";
        const char *params[10];
        const int counts[8] = {sum->games,     sum->games_final, sum->fetched, sum->stored,
                               sum->unchanged, sum->skipped,     sum->failed,  0};
        size_t len = 0;

        for (int i = 0; i < 7; i++)
                snprintf(v[i], sizeof(v[i]), "%d", counts[i]);
        for (int i = 0; i < sum->n_failures && len < sizeof(err) - 1; i++) {
                int n =
                    snprintf(err + len, sizeof(err) - len, "%s%s", i ? "; " : "", sum->failures[i]);
                if (n < 0)
                        break;
                len += (size_t)n;
        }
        if (len >= sizeof(err))
                memcpy(err + sizeof(err) - 4, "...", 4); /* cut: say so */
        if (error && error[0])
                snprintf(err, sizeof(err), "%s", error);
        params[0] = env->event_id;
        params[1] = rc == -ECANCELED ? "aborted" : rc < 0 ? "failed" : "completed";
        for (int i = 0; i < 7; i++)
                params[2 + i] = v[i];
        params[9] = err[0] ? err : NULL;
        rc = sl_pg_exec(ctx->pg, sql, 10, params, NULL, errstr, sizeof(errstr));
        if (rc < 0)
                sl_log_error("scraper.trigger.log", "scrape_runs update: %s", errstr);
        return rc;
}

int scraper_trigger_handler(const struct sl_envelope *env, const struct sl_bus_msg *msg,
                            void *opaque)
{
        struct scraper_ctx *ctx = opaque;
        const struct scraper_cfg *cfg = ctx->cfg;
        const struct scraper_source *srcs[8];
        struct scraper_trigger trg;
        struct scraper_summary *sum;
        char errstr[256];
        const char *list;
        int n = 0, rc;

        (void)msg;
        rc = scraper_trigger_parse_sport(env, ctx_sport(ctx), &trg, errstr, sizeof(errstr));
        list = trg.sources[0]                       ? trg.sources
               : strcmp(ctx_sport(ctx), "nhl") == 0 ? cfg->nhl_sources
                                                    : cfg->sources;
        if (rc == 0)
                rc = scraper_parse_sources_sport(ctx_sport(ctx), list, cfg->scoreboard,
                                                 cfg->boxscore, "payload.sources", srcs, &n, errstr,
                                                 sizeof(errstr));
        if (rc < 0) {
                sl_log_warn("scraper.trigger.bad", "event_id=%s: %s", env->event_id, errstr);
                sl_bus_set_error("%s", errstr);
                return -EBADMSG;
        }
        sl_log_info("scraper.trigger", "event_id=%s correlation_id=%s date=%s sources=%s by=%s",
                    env->event_id, env->correlation_id, trg.date, list,
                    trg.requested_by[0] ? trg.requested_by : "-");
        rc = scrape_run_start(ctx, env, &trg, list);
        if (rc < 0)
                return rc; /* PostgreSQL trouble: retried, then dead-lettered */
        sum = sl_xmalloc(sizeof(*sum));
        rc = scraper_run_date_from(ctx, trg.date, srcs, n, env, sum);
        scraper_summary_print(sum, stdout);
        scrape_run_done(ctx, env, rc, sum, rc == -ECANCELED ? "scraper stopped mid-run" : NULL);
        free(sum);
        return 0; /* the outcome is in ops.scrape_runs */
}

/* Opens the trigger consumer: a second bus on the service's settings. */
static int open_triggers(struct scraper_ctx *ctx, char *errstr, size_t errstr_size)
{
        const struct sl_svc_cfg *svc = &ctx->cfg->svc;
        struct sl_bus_opts o = {0};

        if (scraper_trigger_topic(ctx->trigger_topic, sizeof(ctx->trigger_topic), svc->bus_prefix,
                                  ctx_sport(ctx)) < 0) {
                snprintf(errstr, errstr_size, "bus.prefix too long");
                return -EINVAL;
        }
        if (sl_retry_parse_delays(&o.retry, svc->retry_delays_ms) < 0) {
                snprintf(errstr, errstr_size, "retry.delays_ms: not a list of ms");
                return -EINVAL;
        }
        o.retry.max_attempts = svc->retry_attempts;
        o.backend = svc->bus_backend;
        o.url = svc->bus_url;
        o.username = svc->bus_username[0] ? svc->bus_username : NULL;
        o.password = svc->bus_password[0] ? svc->bus_password : NULL;
        o.prefix = svc->bus_prefix;
        o.service = "scraper";
        o.group = svc->bus_group[0] ? svc->bus_group : "scraper";
        o.kafka_props = svc->bus_kafka_props[0] ? svc->bus_kafka_props : NULL;
        o.topics[0] = ctx->trigger_topic;
        /* a run takes minutes with the default rate limit: no takeover meanwhile */
        o.claim_idle_ms = svc->claim_idle_ms > 3600000 ? svc->claim_idle_ms : 3600000;
        o.max_deliveries = svc->max_deliveries;
        o.from_beginning = true; /* a trigger sent before the first start still counts */
        ctx->trigger_bus = sl_bus_open(&o, errstr, errstr_size);
        if (!ctx->trigger_bus)
                return -ECONNREFUSED;
        sl_log_info("scraper.trigger.open", "topic=%s group=%s", ctx->trigger_topic, o.group);
        return 0;
}

/* ---- the service ------------------------------------------------------------------ */

/*
 * The fetcher's poll: a run blocks the service loop for as long as its
 * requests take (minutes with the default rate limit), so /healthz is kept
 * fresh from here, and a stop signal cuts the run short.
 */
static bool svc_stopping(void *opaque)
{
        struct scraper_ctx *ctx = opaque;

        if (!ctx->svc)
                return false;
        sl_http_tick(sl_svc_http(ctx->svc));
        return sl_svc_stopping(ctx->svc);
}

/* Opens PostgreSQL and brings the schema up to date. */
static int open_pg(struct scraper_ctx *ctx, char *errstr, size_t errstr_size)
{
        int rc;

        ctx->pg = sl_pg_open(ctx->cfg->pg_dsn, 10000, errstr, errstr_size);
        if (!ctx->pg)
                return -ECONNREFUSED;
        rc = sl_pg_migrate(ctx->pg, ctx->cfg->pg_migrations, errstr, errstr_size);
        if (rc < 0)
                return rc;
        sl_log_info("scraper.migrate", "applied=%d dir=%s", rc, ctx->cfg->pg_migrations);
        return 0;
}

static int open_fetcher(struct scraper_ctx *ctx, char *errstr, size_t errstr_size)
{
        const struct scraper_cfg *cfg = ctx->cfg;
        struct scraper_fetch_opts o = {
            .connect_timeout_ms = cfg->connect_timeout_ms,
            .timeout_ms = cfg->timeout_ms,
            .max_bytes = (size_t)cfg->max_bytes,
            .user_agent = cfg->user_agent,
            .username = cfg->username,
            .password = cfg->password,
            .retry_after_max_ms = cfg->retry_after_max_ms,
            .rate_interval_ms = cfg->rate_interval_ms,
            .rate_jitter_ms = cfg->rate_jitter_ms,
            .stopping = svc_stopping,
            .stop_opaque = ctx,
        };

        if (sl_retry_parse_delays(&o.retry, cfg->fetch_delays_ms) < 0) {
                snprintf(errstr, errstr_size, "fetch.retry_delays_ms: '%s' is not a list of ms",
                         cfg->fetch_delays_ms);
                return -EINVAL;
        }
        o.retry.max_attempts = cfg->fetch_attempts;
        ctx->fetcher = scraper_fetcher_new(&o, errstr, errstr_size);
        return ctx->fetcher ? 0 : -ENOMEM;
}

/* True if url has "user[:password]@" in its authority. */
static bool has_userinfo(const char *url)
{
        const char *scheme = strstr(url, "://");
        const char *auth = scheme ? scheme + 3 : url;

        return memchr(auth, '@', strcspn(auth, "/?#")) != NULL;
}

int scraper_svc_init(struct sl_svc *svc, void *opaque, char *errstr, size_t errstr_size)
{
        struct scraper_ctx *ctx = opaque;
        const struct scraper_cfg *cfg = ctx->cfg;
        int rc;

        ctx->svc = svc;
        if (cfg->date[0] && !sl_date_valid(cfg->date)) {
                snprintf(errstr, errstr_size, "scrape.date: '%s' is not YYYY-MM-DD", cfg->date);
                return -EINVAL;
        }
        if (cfg->once && !cfg->date[0])
                sl_log_info("scraper.date", "no scrape.date: scraping the league's current date");
        rc = scraper_pick_sources(ctx, errstr, errstr_size);
        if (rc == 0 && has_userinfo(cfg->base_url)) {
                /* the URL is logged and published: credentials go in source.password */
                snprintf(errstr, errstr_size,
                         "source.base_url: no credentials in the URL, use "
                         "source.username and source.password");
                rc = -EINVAL;
        }
        if (rc == 0 && sl_bus_topic(ctx->topic, sizeof(ctx->topic), cfg->svc.bus_prefix,
                                    ctx_sport(ctx), "scraper") < 0) {
                snprintf(errstr, errstr_size, "bus.prefix too long");
                rc = -EINVAL;
        }
        if (rc == 0)
                rc = scraper_blob_open_dir(cfg->blob_dir, errstr, errstr_size);
        if (rc == 0)
                rc = open_fetcher(ctx, errstr, errstr_size);
        if (rc == 0)
                rc = open_pg(ctx, errstr, errstr_size);
        if (rc == 0 && !cfg->once && cfg->triggers)
                rc = open_triggers(ctx, errstr, errstr_size);
        if (rc == 0 && !cfg->once && !cfg->triggers && !cfg->timer) {
                snprintf(errstr, errstr_size,
                         "scrape.timer and scrape.triggers are both off: nothing to do");
                rc = -EINVAL;
        }
        if (rc < 0) {
                scraper_svc_fini(svc, ctx); /* the runtime calls fini only after a good init */
                return rc;
        }
        ctx->m_fetches = sl_metrics_counter("sl_scraper_documents_total",
                                            "documents by scraper and outcome", "scraper,status");
        ctx->m_requests = sl_metrics_counter("sl_scraper_requests_total",
                                             "HTTP requests, retries included", "scraper");
        ctx->m_bytes = sl_metrics_counter("sl_scraper_bytes_total", "bytes fetched", "scraper");
        ctx->next_run_ms = sl_mono_ms();
        return 0;
}

/*
 * The date to scrape: scrape.date, else the league's current date from
 * scrape.now_path ({"now": "YYYY-MM-DD"}), else the local clock.
 */
static void pick_date(struct scraper_ctx *ctx, char out[11])
{
        const struct scraper_cfg *cfg = ctx->cfg;
        struct scraper_response resp;
        char url[URL_MAX];
        const cJSON *now;
        int rc;

        if (cfg->date[0]) {
                snprintf(out, 11, "%s", cfg->date);
                return;
        }
        scraper_today(sl_wall_ms(), cfg->utc_offset_min, out);
        if (!cfg->now_path[0])
                return;
        rc = scraper_url_build(cfg->base_url, cfg->now_path, NULL, url, sizeof(url));
        scraper_response_init(&resp);
        if (rc == 0)
                rc = scraper_fetch(ctx->fetcher, url, &resp);
        now = rc == 0 ? cJSON_GetObjectItemCaseSensitive(resp.json, "now") : NULL;
        if (cJSON_IsString(now) && sl_date_valid(now->valuestring))
                snprintf(out, 11, "%s", now->valuestring);
        else
                sl_log_warn("scraper.date.clock", "scrape.now_path gave no date (%s): using %s",
                            rc < 0 ? resp.error : "no \"now\" member", out);
        scraper_response_fini(&resp);
}

int scraper_svc_tick(struct sl_svc *svc, void *opaque)
{
        struct scraper_ctx *ctx = opaque;
        const struct scraper_cfg *cfg = ctx->cfg;
        struct scraper_summary *sum;
        char today[11], date[11];
        int back, rc = 0;

        /* The runtime does not sleep before this tick (tick_waits): wait here,
           on the trigger bus when there is one, so a trigger is handled as soon
           as it arrives (it used to wait out the loop's poll.timeout_ms first). */
        if (!ctx->trigger_bus || sl_svc_stopping(svc))
                sl_sleep_ms(cfg->svc.poll_timeout_ms, NULL);
        if (ctx->trigger_bus && !sl_svc_stopping(svc)) {
                rc = sl_bus_poll(ctx->trigger_bus, scraper_trigger_handler, ctx,
                                 cfg->svc.poll_timeout_ms);
                if (rc < 0 && sl_mono_ms() - ctx->trigger_warn_ms >= 10000) {
                        /* the client reconnects by itself: say so every 10 s, not every tick */
                        sl_log_warn("scraper.trigger.poll", "%s", sl_strerror(rc));
                        ctx->trigger_warn_ms = sl_mono_ms();
                }
                rc = 0;
        }
        if (ctx->done || (!cfg->once && !cfg->timer) || sl_svc_stopping(svc) ||
            sl_mono_ms() < ctx->next_run_ms)
                return 0;
        pick_date(ctx, today);
        /* service mode on the league's clock also re-checks the days before:
           late games turn Final after the date has rolled over */
        back = cfg->once || cfg->date[0] ? 0 : cfg->lookback_days;
        sum = sl_xmalloc(sizeof(*sum));
        for (int k = back; k >= 0 && !sl_svc_stopping(svc); k--) {
                if (scraper_date_add(today, -k, date) < 0)
                        continue;
                rc = scraper_run_date(ctx, date, sum);
        }
        ctx->next_run_ms = sl_mono_ms() + (int64_t)cfg->interval_s * 1000;
        if (cfg->once) {
                scraper_summary_print(sum, stdout);
                ctx->done = true;
                ctx->once_failed = rc < 0;
                sl_svc_request_stop(svc);
        }
        free(sum);
        return 0;
}

void scraper_svc_fini(struct sl_svc *svc, void *opaque)
{
        struct scraper_ctx *ctx = opaque;

        if (ctx->trigger_bus) {
                sl_bus_drain(ctx->trigger_bus, ctx->cfg->svc.drain_timeout_ms);
                sl_bus_close(ctx->trigger_bus);
                ctx->trigger_bus = NULL;
        }
        (void)svc;
        scraper_fetcher_free(ctx->fetcher);
        ctx->fetcher = NULL;
        sl_pg_close(ctx->pg);
        ctx->pg = NULL;
}
