#include "prediction.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/err.h>
#include <sl/pg.h>
#include <sl/sha256.h>
#include <sl/util.h>

/*
 * Input fingerprints (prediction.h, "Unchanged inputs"): a date's scoreboard
 * pass and its props pass usually predict the same players from the same
 * rows (the props were loaded before the first pass read them). The
 * fingerprint covers every row a run of date D reads, in two parts. The
 * date's own rows (a few hundred, by index): count + sum of updated_at
 * (microseconds), which the replay guard moves on every real change (an
 * insert or a delete moves the count). The history (every earlier date, the
 * season's rows): its change log (migration 0020), a few thousand rows. A
 * run whose players were all predicted by an earlier committed run of D
 * with the same fingerprint has nothing to change and is skipped.
 */

/*
 * One statement, $1 the game date: the date's own rows ('|'-joined), '#',
 * then the history: count + sum(seq) of the change log's rows (migration
 * 0020: one row per table, date and committed statement that changed it)
 * of each input table over the dates a run of D reads. Elo: results up to
 * D; the systems: box scores before D, feature rows up to D; ensemble
 * weights and Kelly's sd: system errors up to D; Kelly's open exposure:
 * bets and portfolios of earlier dates; moneyline odds up to D, bets
 * before it. A log row of date NULL (a TRUNCATE) counts for every date.
 */
static const char SQL_INPUTS[] =
    "SELECT (SELECT count(*) || ':' || coalesce(sum((date_part('epoch', updated_at) * 1e6)"
    "::bigint), 0) FROM raw.prop_lines WHERE game_date = $1::date) || '|' || "
    /*
     * the targets: lines, schedule of D; of the upcoming context only the injury
     * status (by content: the props' context update that follows the lines moves
     * updated_at without changing what a run reads)
     */
    "(SELECT count(*) || ':' || coalesce(md5(string_agg(player_id || '=' || "
    "coalesce(injury_status, ''), ',' ORDER BY player_id)), '') "
    "FROM analytics.upcoming_player_game_context WHERE game_date = $1::date) || '|' || "
    "(SELECT count(*) || ':' || coalesce(sum((date_part('epoch', updated_at) * 1e6)"
    "::bigint), 0) FROM raw.schedule WHERE game_date = $1::date) || '#' || "
    "(SELECT string_agg(r.tbl || '=' || c.n || ':' || c.s, '|' ORDER BY r.tbl) FROM (VALUES "
    "('raw.games', true), ('analytics.player_game_summary', false), "
    "('precompute.ml_feature_store', true), ('prediction.system_errors', true), "
    "('prediction.prop_bets', false), ('prediction.kelly_portfolio', false), "
    "('raw.moneyline_odds', true), ('prediction.moneyline_bets', false)) r(tbl, upto) "
    "CROSS JOIN LATERAL (SELECT count(*) n, coalesce(sum(d.seq), 0) s FROM ops.data_changes d "
    "WHERE d.tbl = r.tbl AND (d.game_date IS NULL OR d.game_date < $1::date "
    "OR (r.upto AND d.game_date = $1::date))) c)";

int pred_inputs_key(struct sl_pg *pg, const char *game_date, const char *context, char *key,
                    size_t key_size, char *errstr, size_t n)
{
        const char *params[] = {game_date};
        PGresult *res = NULL;
        struct sl_buf in;
        int rc;

        if (key_size < SL_SHA256_HEX_LEN + 1)
                return sl_errf(errstr, n, -EINVAL, "inputs key buffer too small");
        rc = sl_pg_exec(pg, SQL_INPUTS, 1, params, &res, errstr, n);
        if (rc < 0)
                return rc;
        sl_buf_init(&in, 0);
        sl_buf_printf(&in, "%s|%s|%s", game_date, context ? context : "", PQgetvalue(res, 0, 0));
        sl_sha256_hex(in.data, in.len, key);
        sl_buf_fini(&in);
        PQclear(res);
        return 0;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

/* "{3,1,2}" -> sorted unique ids (heap, *n); NULL literal: NULL, 0. -1 on junk. */
static int parse_ids(const char *players, int64_t **out, size_t *n)
{
        size_t cap = 0, k = 0;
        int64_t *ids = NULL;
        const char *p;

        *out = NULL;
        *n = 0;
        if (!players)
                return 0;
        if (*players != '{')
                return -1;
        for (p = players; *p; p++)
                cap += *p == ',';
        ids = sl_xcalloc(cap + 2, sizeof(*ids));
        p = players + 1;
        while (*p && *p != '}') {
                char num[24];
                size_t len = strcspn(p, ",}");
                int64_t v;
                if (len == 0 || len >= sizeof(num)) {
                        free(ids);
                        return -1;
                }
                memcpy(num, p, len);
                num[len] = '\0';
                if (sl_parse_i64(num, 0, INT64_MAX, &v) < 0) {
                        free(ids);
                        return -1;
                }
                ids[k++] = v;
                p += len;
                if (*p == ',')
                        p++;
        }
        sl_qsort(ids, k, sizeof(*ids), cmp_i64);
        *n = 0;
        for (size_t i = 0; i < k; i++)
                if (i == 0 || ids[i] != ids[i - 1])
                        ids[(*n)++] = ids[i];
        *out = ids;
        return 0;
}

static struct pred_seen *seen_find(struct pred_seen_cache *c, const char *date)
{
        for (size_t i = 0; i < PRED_SEEN_DATES; i++)
                if (c->e[i].date[0] && strcmp(c->e[i].date, date) == 0)
                        return &c->e[i];
        return NULL;
}

bool pred_seen_covered(const struct pred_seen_cache *c, const char *date, const char *key,
                       const char *players)
{
        const struct pred_seen *e = seen_find((struct pred_seen_cache *)c, date);
        int64_t *ids;
        size_t n, j = 0;
        bool ok = true;

        if (!e || !key || !*key || strcmp(e->key, key) != 0)
                return false;
        if (e->whole)
                return true;
        if (!players || parse_ids(players, &ids, &n) < 0)
                return false; /* a whole-date run after player runs: compute */
        for (size_t i = 0; i < n && ok; i++) {
                while (j < e->n && e->ids[j] < ids[i])
                        j++;
                ok = j < e->n && e->ids[j] == ids[i];
        }
        free(ids);
        return ok;
}

void pred_seen_record(struct pred_seen_cache *c, const char *date, const char *key,
                      const char *players)
{
        struct pred_seen *e = seen_find(c, date);
        int64_t *ids = NULL, *merged;
        size_t n = 0, k = 0, i = 0, j = 0;

        if (!key || !*key || strlen(date) >= sizeof(e->date) || strlen(key) >= sizeof(e->key))
                return;
        if (players && parse_ids(players, &ids, &n) < 0) {
                if (e)
                        e->date[0] = '\0'; /* unknown coverage: forget the date */
                return;
        }
        if (!e) {
                e = &c->e[c->next];
                c->next = (c->next + 1) % PRED_SEEN_DATES;
                free(e->ids);
                memset(e, 0, sizeof(*e));
        } else if (strcmp(e->key, key) != 0) { /* inputs moved: only this run counts */
                free(e->ids);
                e->ids = NULL;
                e->n = 0;
                e->whole = false;
        }
        snprintf(e->date, sizeof(e->date), "%s", date);
        snprintf(e->key, sizeof(e->key), "%s", key);
        if (!players) {
                e->whole = true;
                free(e->ids);
                e->ids = NULL;
                e->n = 0;
                free(ids);
                return;
        }
        if (e->whole) {
                free(ids);
                return;
        }
        merged = sl_xcalloc(e->n + n + 1, sizeof(*merged));
        while (i < e->n || j < n) {
                int64_t v;
                if (j >= n || (i < e->n && e->ids[i] < ids[j]))
                        v = e->ids[i++];
                else if (i >= e->n || ids[j] < e->ids[i])
                        v = ids[j++];
                else {
                        v = ids[j++];
                        i++;
                }
                merged[k++] = v;
        }
        free(e->ids);
        free(ids);
        e->ids = merged;
        e->n = k;
}

void pred_seen_fini(struct pred_seen_cache *c)
{
        for (size_t i = 0; i < PRED_SEEN_DATES; i++)
                free(c->e[i].ids);
        memset(c, 0, sizeof(*c));
}
