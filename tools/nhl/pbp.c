#include "pbp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

/* Loading of play-by-play documents and model files (pbp.h). */

__attribute__((format(printf, 3, 4))) static int bad(char *errstr, size_t n, const char *fmt, ...);
static int bad(char *errstr, size_t n, const char *fmt, ...)
{
        va_list ap;

        if (errstr && n) {
                va_start(ap, fmt);
                if (vsnprintf(errstr, n, fmt, ap) < 0)
                        errstr[0] = '\0';
                va_end(ap);
        }
        return -EBADMSG;
}

static bool get_i64(const cJSON *obj, const char *key, int64_t *v)
{
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int64_t)it->valuedouble)
                return false;
        *v = (int64_t)it->valuedouble;
        return true;
}

static const char *get_str(const cJSON *obj, const char *key)
{
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
        return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int team(const cJSON *root, const char *key, int64_t *id, char *abbr, int *score,
                char *errstr, size_t n)
{
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, key);
        const char *a;
        int64_t s;

        if (!cJSON_IsObject(t) || !get_i64(t, "id", id) || *id <= 0)
                return bad(errstr, n, "%s.id missing", key);
        a = get_str(t, "abbrev");
        snprintf(abbr, 8, "%s", a ? a : "");
        *score = get_i64(t, "score", &s) ? (int)s : -1;
        return 0;
}

static int play(const cJSON *it, size_t i, struct sl_nhl_play *p, char *errstr, size_t n)
{
        const cJSON *pd = cJSON_GetObjectItemCaseSensitive(it, "periodDescriptor");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "details");
        const char *key = get_str(it, "typeDescKey"), *s;
        int64_t v, x, y;

        memset(p, 0, sizeof(*p));
        p->home_def_right = -1;
        if (!key)
                return bad(errstr, n, "plays[%zu]: no typeDescKey", i);
        if (!cJSON_IsObject(pd) || !get_i64(pd, "number", &v))
                return bad(errstr, n, "plays[%zu]: no periodDescriptor.number", i);
        p->period = (int)v;
        s = get_str(pd, "periodType");
        p->shootout = s && strcmp(s, "SO") == 0;
        p->event = sl_nhl_event_from_key(key);
        s = get_str(it, "situationCode");
        snprintf(p->situation, sizeof(p->situation), "%s", s && strlen(s) == 4 ? s : "");
        s = get_str(it, "homeTeamDefendingSide");
        if (s)
                p->home_def_right = strcmp(s, "right") == 0 ? 1 : strcmp(s, "left") == 0 ? 0 : -1;
        if (cJSON_IsObject(d)) {
                if (get_i64(d, "eventOwnerTeamId", &v))
                        p->team_id = v;
                if (get_i64(d, "xCoord", &x) && get_i64(d, "yCoord", &y)) {
                        p->has_xy = true;
                        p->x = (double)x;
                        p->y = (double)y;
                }
                p->shot_type = sl_nhl_shot_type_from_key(get_str(d, "shotType"));
        } else {
                p->shot_type = SL_NHL_ST_OTHER;
        }
        if (p->event != SL_NHL_EV_OTHER && p->team_id <= 0)
                return bad(errstr, n, "plays[%zu]: %s without details.eventOwnerTeamId", i, key);
        return 0;
}

int nhl_pbp_load(const char *buf, size_t len, struct nhl_pbp_game *g, char *errstr,
                 size_t errstr_size)
{
        cJSON *root;
        const cJSON *plays, *it;
        const char *s;
        size_t i = 0;
        int rc = 0;

        memset(g, 0, sizeof(*g));
        root = cJSON_ParseWithLength(buf, len);
        if (!root)
                return bad(errstr, errstr_size, "not JSON");
        if (!cJSON_IsObject(root) || !get_i64(root, "id", &g->id)) {
                rc = bad(errstr, errstr_size, "no game id: not a gamecenter play-by-play");
                goto cleanup;
        }
        s = get_str(root, "gameDate");
        snprintf(g->date, sizeof(g->date), "%s", s ? s : "");
        s = get_str(root, "gameState");
        snprintf(g->state, sizeof(g->state), "%s", s ? s : "");
        rc = team(root, "homeTeam", &g->home_id, g->home_abbr, &g->home_score, errstr, errstr_size);
        if (rc == 0)
                rc = team(root, "awayTeam", &g->away_id, g->away_abbr, &g->away_score, errstr,
                          errstr_size);
        if (rc < 0)
                goto cleanup;
        plays = cJSON_GetObjectItemCaseSensitive(root, "plays");
        if (!cJSON_IsArray(plays)) {
                rc = bad(errstr, errstr_size, "no plays array");
                goto cleanup;
        }
        g->nplays_all = (size_t)cJSON_GetArraySize(plays);
        g->plays = sl_xcalloc(g->nplays_all ? g->nplays_all : 1, sizeof(*g->plays));
        cJSON_ArrayForEach(it, plays)
        {
                rc = play(it, i, &g->plays[i], errstr, errstr_size);
                if (rc < 0)
                        goto cleanup;
                i++;
        }
        g->nplays = i;
cleanup:
        cJSON_Delete(root);
        if (rc < 0)
                nhl_pbp_fini(g);
        return rc;
}

void nhl_pbp_fini(struct nhl_pbp_game *g)
{
        if (!g)
                return;
        free(g->plays);
        g->plays = NULL;
        g->nplays = 0;
}

int nhl_read_file(const char *path, char **data, size_t *len)
{
        FILE *f = fopen(path, "rb");
        struct sl_buf b;
        char chunk[65536];
        size_t k;
        int rc = 0;

        if (!f)
                return -errno;
        sl_buf_init(&b, 256u << 20);
        while (rc == 0 && (k = fread(chunk, 1, sizeof(chunk), f)) > 0)
                rc = sl_buf_append(&b, chunk, k);
        if (rc == 0 && ferror(f))
                rc = -EIO;
        fclose(f);
        if (rc < 0) {
                sl_buf_fini(&b);
                return rc;
        }
        *len = b.len;
        *data = b.data ? sl_buf_steal(&b) : sl_xstrdup("");
        sl_buf_fini(&b);
        return 0;
}

int nhl_model_load(const char *path, struct sl_nhl_xg_model *m, char *errstr, size_t errstr_size)
{
        char *data = NULL;
        size_t len = 0;
        cJSON *root;
        const cJSON *coef, *it;
        int rc = nhl_read_file(path, &data, &len), k = 0;

        if (rc < 0)
                return rc;
        root = cJSON_ParseWithLength(data, len);
        free(data);
        coef = root ? cJSON_GetObjectItemCaseSensitive(root, "coef") : NULL;
        if (!cJSON_IsArray(coef) || cJSON_GetArraySize(coef) != SL_NHL_XG_NFEAT) {
                cJSON_Delete(root);
                return bad(errstr, errstr_size, "%s: want {\"coef\": [%d numbers]}", path,
                           SL_NHL_XG_NFEAT);
        }
        cJSON_ArrayForEach(it, coef)
        {
                if (!cJSON_IsNumber(it)) {
                        cJSON_Delete(root);
                        return bad(errstr, errstr_size, "%s: coef[%d] is not a number", path, k);
                }
                m->w[k++] = it->valuedouble;
        }
        cJSON_Delete(root);
        return 0;
}
