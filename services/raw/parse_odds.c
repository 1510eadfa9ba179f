#include "parsers.h"
#include "parsers_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

/*
 * The Odds API v4 moneylines (GET /v4/sports/basketball_nba/odds,
 * markets=h2h): a JSON array of events, each with bookmakers, each with an
 * "h2h" market of two outcomes {name, price}. One raw.moneyline_odds row per
 * event and bookmaker. Every check is in docs/parsers.md ("odds"); any
 * failure rejects the whole payload.
 */

const char *const raw_odds_cols[MO_NCOLS] = {
    "game_date",   "home_team_id", "away_team_id", "book",         "event_id",     "commence_time",
    "odds_format", "home_price",   "away_price",   "home_decimal", "away_decimal", "last_update"};

/* Full team names as The Odds API spells them, index = NBA team id - 1610612737. */
static const char *const team_names[30] = {"Atlanta Hawks",          "Boston Celtics",
                                           "Cleveland Cavaliers",    "New Orleans Pelicans",
                                           "Chicago Bulls",          "Dallas Mavericks",
                                           "Denver Nuggets",         "Golden State Warriors",
                                           "Houston Rockets",        "Los Angeles Clippers",
                                           "Los Angeles Lakers",     "Miami Heat",
                                           "Milwaukee Bucks",        "Minnesota Timberwolves",
                                           "Brooklyn Nets",          "New York Knicks",
                                           "Orlando Magic",          "Indiana Pacers",
                                           "Philadelphia 76ers",     "Phoenix Suns",
                                           "Portland Trail Blazers", "Sacramento Kings",
                                           "San Antonio Spurs",      "Oklahoma City Thunder",
                                           "Toronto Raptors",        "Utah Jazz",
                                           "Memphis Grizzlies",      "Washington Wizards",
                                           "Detroit Pistons",        "Charlotte Hornets"};

#define TEAM_ID_BASE 1610612737LL

/* NBA team id of a full name ("LA Clippers" is accepted too), or -1. */
static long long team_id(const char *name)
{
        if (strcmp(name, "LA Clippers") == 0)
                return TEAM_ID_BASE + 9;
        for (int i = 0; i < 30; i++)
                if (strcmp(name, team_names[i]) == 0)
                        return TEAM_ID_BASE + i;
        return -1;
}

/* A required non-empty string member. */
static int str_member(struct raw_ctx *ctx, const cJSON *obj, const char *key, const char **out)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

        if (!cJSON_IsString(v) || !v->valuestring[0])
                return raw_fail(ctx, "%s: expected a non-empty string, got %s", key,
                                v ? sl_json_type_name(v) : "nothing");
        if (strlen(v->valuestring) > ctx->max_str)
                return raw_fail(ctx, "%s: longer than %zu bytes", key, ctx->max_str);
        *out = v->valuestring;
        return 0;
}

/*
 * "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC, as The Odds API writes it): the date into
 * ymd and the minutes after midnight into *min. -1 when malformed.
 */
static int iso_utc(const char *s, char ymd[11], int *min)
{
        size_t n = strlen(s), i = 19;
        int h, m, sec;

        if (n < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':')
                return -1;
        memcpy(ymd, s, 10);
        ymd[10] = '\0';
        if (!sl_date_valid(ymd))
                return -1;
        for (int k = 11; k < 19; k++)
                if (k != 13 && k != 16 && (s[k] < '0' || s[k] > '9'))
                        return -1;
        h = (s[11] - '0') * 10 + (s[12] - '0');
        m = (s[14] - '0') * 10 + (s[15] - '0');
        sec = (s[17] - '0') * 10 + (s[18] - '0');
        if (h > 23 || m > 59 || sec > 59)
                return -1;
        if (s[i] == '.') {
                i++;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                        i++;
        }
        if (i + 1 != n || s[i] != 'Z')
                return -1;
        *min = h * 60 + m;
        return 0;
}

/* The US date of a UTC tip-off: the date of commence_time - 6 h (NBA tips are 12:00-23:00 ET). */
static void us_date(const char ymd[11], int min, char out[11])
{
        int64_t y = 0, mo = 0, d = 0;
        char b[5];

        memcpy(out, ymd, 11);
        if (min >= 6 * 60)
                return;
        memcpy(b, ymd, 4);
        b[4] = '\0';
        sl_parse_i64(b, 1000, 9999, &y);
        memcpy(b, ymd + 5, 2);
        b[2] = '\0';
        sl_parse_i64(b, 1, 12, &mo);
        memcpy(b, ymd + 8, 2);
        sl_parse_i64(b, 1, 31, &d);
        if (--d == 0) {
                static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
                if (--mo == 0) {
                        mo = 12;
                        y--;
                }
                d = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
        }
        {
                char tmp[32];
                snprintf(tmp, sizeof(tmp), "%04u-%02u-%02u", (unsigned)(y % 10000),
                         (unsigned)(mo % 100), (unsigned)(d % 100));
                memcpy(out, tmp, 10);
                out[10] = '\0';
        }
}

/*
 * One outcome price: American (an integer with |p| >= 100) or decimal
 * (1 < p < 100); *american tells which, *dec is the decimal value.
 */
static int price_value(struct raw_ctx *ctx, const cJSON *v, const char *team, double *price,
                       double *dec, bool *american)
{
        double p;

        if (!cJSON_IsNumber(v))
                return raw_fail(ctx, "price of \"%.60s\": expected a number, got %s", team,
                                v ? sl_json_type_name(v) : "nothing");
        p = v->valuedouble;
        if (!isfinite(p))
                return raw_fail(ctx, "price of \"%.60s\": not finite", team);
        if (fabs(p) >= 100 && p == floor(p) && fabs(p) <= 100000) {
                *american = true;
                *dec = p > 0 ? 1.0 + p / 100.0 : 1.0 + 100.0 / -p;
        } else if (p > 1 && p < 100) {
                *american = false;
                *dec = p;
        } else {
                return raw_fail(ctx, "price of \"%.60s\": %g is neither American odds nor decimal",
                                team, p);
        }
        *price = p;
        return 0;
}

/* One bookmaker of an event into a new row (cells of the event already in ev). */
static int bookmaker(struct raw_ctx *ctx, const cJSON *bk, const char *const ev[MO_NCOLS],
                     const char *home, const char *away, int *format)
{
        struct raw_table *t = raw_table_get(ctx, RAW_T_ODDS);
        const cJSON *markets, *h2h = NULL, *outcomes;
        const char *key, *upd, **row;
        double price[2] = {0, 0}, dec[2] = {0, 0};
        bool seen[2] = {false, false};
        char ymd[11];
        size_t r;
        int rc, min;

        if (!cJSON_IsObject(bk))
                return raw_fail(ctx, "bookmaker: expected an object, got %s",
                                sl_json_type_name(bk));
        rc = str_member(ctx, bk, "key", &key);
        if (rc < 0)
                return rc;
        if (!(key[0] >= 'a' && key[0] <= 'z') || strlen(key) > 32 ||
            strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(key))
                return raw_fail(ctx, "bookmaker key \"%.40s\": expected [a-z][a-z0-9_]{0,31}", key);
        markets = raw_member(ctx, bk, "markets", true);
        if (!markets)
                return -EBADMSG;
        for (const cJSON *m = markets->child; m; m = m->next) {
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(m, "key");
                if (cJSON_IsString(k) && strcmp(k->valuestring, "h2h") == 0) {
                        if (h2h)
                                return raw_fail(ctx, "bookmaker %s: two h2h markets", key);
                        h2h = m;
                }
        }
        if (!h2h)
                return raw_fail(ctx, "bookmaker %s: no h2h market", key);
        rc = str_member(ctx, h2h, "last_update", &upd);
        if (rc == 0 && iso_utc(upd, ymd, &min) < 0)
                rc = raw_fail(ctx, "bookmaker %s: last_update \"%.40s\" is not an ISO UTC time",
                              key, upd);
        if (rc < 0)
                return rc;
        outcomes = raw_member(ctx, h2h, "outcomes", true);
        if (!outcomes)
                return -EBADMSG;
        for (const cJSON *o = outcomes->child; o; o = o->next) {
                const char *name;
                double p = 0, d = 0;
                bool am = false;
                int side;
                rc = cJSON_IsObject(o)
                         ? str_member(ctx, o, "name", &name)
                         : raw_fail(ctx, "bookmaker %s: outcome is not an object", key);
                if (rc < 0)
                        return rc;
                side = strcmp(name, home) == 0 ? 0 : strcmp(name, away) == 0 ? 1 : -1;
                if (side < 0)
                        return raw_fail(ctx, "bookmaker %s: outcome \"%.60s\" is neither team", key,
                                        name);
                if (seen[side])
                        return raw_fail(ctx, "bookmaker %s: two outcomes for \"%.60s\"", key, name);
                rc = price_value(ctx, cJSON_GetObjectItemCaseSensitive(o, "price"), name, &p, &d,
                                 &am);
                if (rc < 0)
                        return rc;
                if (*format < 0)
                        *format = am;
                else if (*format != (int)am)
                        return raw_fail(ctx, "bookmaker %s: American and decimal prices mixed",
                                        key);
                seen[side] = true;
                price[side] = p;
                dec[side] = d;
        }
        if (!seen[0] || !seen[1])
                return raw_fail(ctx, "bookmaker %s: missing the outcome of \"%.60s\"", key,
                                seen[0] ? away : home);
        if (1.0 / dec[0] + 1.0 / dec[1] < 1.0)
                return raw_fail(ctx, "bookmaker %s: prices imply less than 100%% (arbitrage)", key);
        rc = raw_row_new(ctx, t, &r);
        if (rc < 0)
                return rc;
        row = raw_row(t, r);
        for (int c = 0; c < MO_NCOLS; c++)
                row[c] = ev[c];
        row[MO_BOOK] = raw_strdup(ctx, key, strlen(key));
        row[MO_FORMAT] = *format ? "american" : "decimal";
        row[MO_HOME_PRICE] = raw_printf(ctx, "%.3f", price[0]);
        row[MO_AWAY_PRICE] = raw_printf(ctx, "%.3f", price[1]);
        row[MO_HOME_DEC] = raw_printf(ctx, "%.6f", dec[0]);
        row[MO_AWAY_DEC] = raw_printf(ctx, "%.6f", dec[1]);
        row[MO_LAST_UPDATE] = raw_strdup(ctx, upd, strlen(upd));
        return 0;
}

/* One event: its own cells, then a row per bookmaker. */
static int event(struct raw_ctx *ctx, const cJSON *e, int *format)
{
        const char *ev[MO_NCOLS] = {NULL}, *id, *sport, *when, *home, *away;
        const cJSON *books;
        char ymd[11], date[11];
        long long hid, aid;
        int rc, min;

        if (!cJSON_IsObject(e))
                return raw_fail(ctx, "expected an object, got %s", sl_json_type_name(e));
        rc = str_member(ctx, e, "id", &id);
        rc = rc ? rc : str_member(ctx, e, "sport_key", &sport);
        rc = rc ? rc : str_member(ctx, e, "commence_time", &when);
        rc = rc ? rc : str_member(ctx, e, "home_team", &home);
        rc = rc ? rc : str_member(ctx, e, "away_team", &away);
        if (rc < 0)
                return rc;
        if (strcmp(sport, "basketball_nba") != 0)
                return raw_fail(ctx, "sport_key \"%.40s\" is not basketball_nba", sport);
        if (iso_utc(when, ymd, &min) < 0)
                return raw_fail(ctx, "commence_time \"%.40s\" is not an ISO UTC time", when);
        hid = team_id(home);
        aid = team_id(away);
        if (hid < 0 || aid < 0)
                return raw_fail(ctx, "unknown team \"%.60s\"", hid < 0 ? home : away);
        if (hid == aid)
                return raw_fail(ctx, "home and away team are both \"%.60s\"", home);
        us_date(ymd, min, date);
        ev[MO_GAME_DATE] = raw_strdup(ctx, date, 10);
        ev[MO_HOME_ID] = raw_printf(ctx, "%lld", hid);
        ev[MO_AWAY_ID] = raw_printf(ctx, "%lld", aid);
        ev[MO_EVENT_ID] = raw_strdup(ctx, id, strlen(id));
        ev[MO_COMMENCE] = raw_strdup(ctx, when, strlen(when));
        books = raw_member(ctx, e, "bookmakers", true);
        if (!books)
                return -EBADMSG;
        rc = raw_check_list(ctx, books, "bookmakers");
        for (const cJSON *b = books->child; rc == 0 && b; b = b->next)
                rc = bookmaker(ctx, b, ev, home, away, format);
        return rc;
}

int raw_parse_odds(struct raw_ctx *ctx)
{
        int format = -1, rc;

        raw_table_get(ctx, RAW_T_ODDS); /* the table exists even for a day without games */
        rc = raw_check_list(ctx, ctx->root, "events");
        ctx->where = "events";
        ctx->row = 0;
        for (const cJSON *e = ctx->root->child; rc == 0 && e; e = e->next, ctx->row++)
                rc = event(ctx, e, &format);
        return rc;
}

enum raw_kind raw_odds_detect(const cJSON *root)
{
        const cJSON *first;

        if (!cJSON_IsArray(root))
                return RAW_KIND_UNKNOWN;
        first = root->child;
        /* an empty array is a day without events; otherwise events carry bookmakers */
        if (!first || (cJSON_IsObject(first) && cJSON_HasObjectItem(first, "bookmakers")))
                return RAW_KIND_ODDS;
        return RAW_KIND_UNKNOWN;
}
