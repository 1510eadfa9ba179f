#include "sources.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sl/util.h>

/*
 * The registry. Paths are the stats.nba.com endpoints with the parameters
 * nba_api sends; statline-fixtures serves the same paths (docs/fixtures.md).
 * Injuries and props are statline feeds (docs/parsers.md); odds is The Odds
 * API v4 moneyline endpoint (docs/fixtures.md "Odds").
 */
static const struct scraper_source sources[] = {
    {"scoreboard_v2", "scoreboard", "scoreboard_v2", "nba.stats.scoreboardv2",
     "/stats/scoreboardv2?DayOffset=0&GameDate={date_us}&LeagueID=00", SCRAPER_KEY_DATE, true,
     "nba"},
    {"scoreboard_v3", "scoreboard", "scoreboard_v3", "nba.stats.scoreboardv3",
     "/stats/scoreboardv3?GameDate={date}&LeagueID=00", SCRAPER_KEY_DATE, true, "nba"},
    {"boxscore_v2", "boxscore", "boxscore_v2", "nba.stats.boxscoretraditionalv2",
     "/stats/boxscoretraditionalv2?EndPeriod=10&EndRange=28800&GameID={game_id}"
     "&RangeType=0&StartPeriod=1&StartRange=0",
     SCRAPER_KEY_GAME, false, "nba"},
    {"boxscore_v3", "boxscore", "boxscore_v3", "nba.stats.boxscoretraditionalv3",
     "/stats/boxscoretraditionalv3?EndPeriod=0&EndRange=0&GameID={game_id}"
     "&RangeType=0&StartPeriod=0&StartRange=0",
     SCRAPER_KEY_GAME, false, "nba"},
    {"injuries", "injuries", "injuries", "statline.injuries", "/injuries?date={date}",
     SCRAPER_KEY_DATE, true, "nba"},
    {"props", "props", "props", "statline.props", "/props?date={date}", SCRAPER_KEY_DATE, true,
     "nba"},
    {"schedule", "schedule", "league_game_log", "nba.stats.leaguegamelog",
     "/stats/leaguegamelog?Counter=1000&DateFrom={date_us}&DateTo={date_us}&Direction=ASC"
     "&LeagueID=00&PlayerOrTeam=T&Season={season}&SeasonType=Regular+Season&Sorter=DATE",
     SCRAPER_KEY_DATE, true, "nba"},
    /* game moneylines, The Odds API v4 (statline-fixtures serves the same path; opt-in) */
    {"odds", "odds", "odds", "theoddsapi.v4.odds",
     "/v4/sports/basketball_nba/odds?regions=us&markets=h2h&oddsFormat=american&date={date}",
     SCRAPER_KEY_DATE, true, "nba"},
};

/* NHL: the api-web.nhle.com v1 paths under /nhl (statline-fixtures serves them). */
static const struct scraper_source nhl_sources[] = {
    {"nhl_schedule", "schedule", "nhl_schedule", "nhl.web.schedule", "/nhl/v1/schedule/{date}",
     SCRAPER_KEY_DATE, true, "nhl"},
    {"nhl_boxscore", "boxscore", "nhl_boxscore", "nhl.web.gamecenter.boxscore",
     "/nhl/v1/gamecenter/{game_id}/boxscore", SCRAPER_KEY_GAME, false, "nhl"},
    {"nhl_playbyplay", "playbyplay", "nhl_playbyplay", "nhl.web.gamecenter.playbyplay",
     "/nhl/v1/gamecenter/{game_id}/play-by-play", SCRAPER_KEY_GAME, false, "nhl"},
};

#define N_SOURCES     (sizeof(sources) / sizeof(sources[0]))
#define N_NHL_SOURCES (sizeof(nhl_sources) / sizeof(nhl_sources[0]))

size_t scraper_source_count(void)
{
        return N_SOURCES;
}

const struct scraper_source *scraper_source_at(size_t i)
{
        return i < N_SOURCES ? &sources[i] : NULL;
}

size_t scraper_sport_source_count(const char *sport)
{
        if (sport && strcmp(sport, "nba") == 0)
                return N_SOURCES;
        if (sport && strcmp(sport, "nhl") == 0)
                return N_NHL_SOURCES;
        return 0;
}

const struct scraper_source *scraper_sport_source_at(const char *sport, size_t i)
{
        if (i >= scraper_sport_source_count(sport))
                return NULL;
        return strcmp(sport, "nhl") == 0 ? &nhl_sources[i] : &sources[i];
}

const struct scraper_source *scraper_source_find(const char *name)
{
        for (size_t i = 0; i < N_SOURCES; i++) {
                if (strcmp(sources[i].name, name) == 0)
                        return &sources[i];
        }
        for (size_t i = 0; i < N_NHL_SOURCES; i++) {
                if (strcmp(nhl_sources[i].name, name) == 0)
                        return &nhl_sources[i];
        }
        return NULL;
}

const struct scraper_source *scraper_source_pick(const char *family, const char *version)
{
        return scraper_source_pick_sport("nba", family, version);
}

const struct scraper_source *scraper_source_pick_sport(const char *sport, const char *family,
                                                       const char *version)
{
        const struct scraper_source *only = NULL, *named, *s;
        char name[64];
        int n = snprintf(name, sizeof(name), "%s_%s", family, version ? version : "");

        named = n > 0 && (size_t)n < sizeof(name) ? scraper_source_find(name) : NULL;
        if (named && sport && strcmp(named->sport, sport) == 0)
                return named;
        /* families with a single version ignore the version */
        for (size_t i = 0; (s = scraper_sport_source_at(sport, i)) != NULL; i++) {
                if (strcmp(s->family, family) != 0)
                        continue;
                if (only)
                        return NULL; /* several versions: the version must match */
                only = s;
        }
        return only;
}

int scraper_season(const char *date, char out[8])
{
        int64_t y, m;
        char buf[5];

        if (!date || !sl_date_valid(date))
                return -EINVAL;
        memcpy(buf, date, 4);
        buf[4] = '\0';
        sl_parse_i64(buf, 1800, 9999, &y);
        memcpy(buf, date + 5, 2);
        buf[2] = '\0';
        sl_parse_i64(buf, 1, 12, &m);
        if (m < 8)
                y--;
        snprintf(out, 8, "%04u-%02u", (unsigned)y % 10000u, (unsigned)(y + 1) % 100u);
        return 0;
}

/* Small output cursor: every append checks the room left. */
struct cursor {
        char *out;
        size_t size, len;
};

static int put(struct cursor *c, const char *s, size_t n)
{
        if (c->len + n + 1 > c->size)
                return -ENAMETOOLONG;
        memcpy(c->out + c->len, s, n);
        c->len += n;
        c->out[c->len] = '\0';
        return 0;
}

/* Appends value percent-encoded (RFC 3986 unreserved characters stay). */
static int put_encoded(struct cursor *c, const char *value)
{
        static const char hex[] = "0123456789ABCDEF";
        int rc = 0;

        for (const unsigned char *p = (const unsigned char *)value; rc == 0 && *p; p++) {
                bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                             (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
                             *p == '~';
                char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
                rc = plain ? put(c, (const char *)p, 1) : put(c, esc, 3);
        }
        return rc;
}

/* The value of placeholder name (without braces), written into tmp when derived. */
static int var_value(const char *name, size_t len, const struct scraper_vars *v, char *tmp,
                     const char **value)
{
        *value = NULL;
        if (len == 4 && memcmp(name, "date", 4) == 0) {
                *value = v->date;
        } else if (len == 7 && memcmp(name, "game_id", 7) == 0) {
                *value = v->game_id;
        } else if (len == 7 && memcmp(name, "date_us", 7) == 0) {
                if (!v->date || !sl_date_valid(v->date))
                        return -EINVAL;
                /* YYYY-MM-DD -> MM/DD/YYYY */
                snprintf(tmp, 11, "%.2s/%.2s/%.4s", v->date + 5, v->date + 8, v->date);
                *value = tmp;
        } else if (len == 6 && memcmp(name, "season", 6) == 0) {
                if (scraper_season(v->date, tmp) < 0)
                        return -EINVAL;
                *value = tmp;
        } else {
                return -EINVAL;
        }
        if (!*value || !**value)
                return -EINVAL;
        if (len == 4 && !sl_date_valid(*value))
                return -EINVAL;
        return 0;
}

int scraper_url_build(const char *base, const char *tmpl, const struct scraper_vars *vars,
                      char *out, size_t out_size)
{
        static const struct scraper_vars none = {0};
        struct cursor c = {out, out_size, 0};
        const char *p = tmpl;
        int rc = 0;

        if (out_size == 0)
                return -ENAMETOOLONG;
        out[0] = '\0';
        if (!vars)
                vars = &none;
        if (base && strncmp(tmpl, "http://", 7) != 0 && strncmp(tmpl, "https://", 8) != 0) {
                size_t n = strlen(base);
                while (n > 0 && base[n - 1] == '/')
                        n--; /* the template brings its own '/' */
                rc = put(&c, base, n);
        }
        while (rc == 0 && *p) {
                const char *open = strchr(p, '{'), *close, *value;
                char tmp[16];
                if (!open)
                        return put(&c, p, strlen(p));
                close = strchr(open, '}');
                if (!close)
                        return -EINVAL;
                rc = put(&c, p, (size_t)(open - p));
                if (rc == 0)
                        rc = var_value(open + 1, (size_t)(close - open - 1), vars, tmp, &value);
                if (rc == 0)
                        rc = put_encoded(&c, value);
                p = close + 1;
        }
        return rc;
}

/* True if the query parameter name (len bytes) usually carries a secret. */
static bool secret_param(const char *name, size_t len)
{
        static const char *const names[] = {"key",          "api_key",  "apikey", "token",
                                            "access_token", "password", "secret", "sig",
                                            "signature",    NULL};

        for (const char *const *n = names; *n; n++) {
                if (strlen(*n) == len && strncasecmp(*n, name, len) == 0)
                        return true;
        }
        return false;
}

/* Appends the query string q with secret values replaced. */
static int put_query(struct cursor *c, const char *q)
{
        int rc = 0;

        while (rc == 0 && *q) {
                size_t plen = strcspn(q, "&#");
                const char *eq = memchr(q, '=', plen);
                if (eq && secret_param(q, (size_t)(eq - q))) {
                        rc = put(c, q, (size_t)(eq - q) + 1);
                        if (rc == 0)
                                rc = put(c, "REDACTED", 8);
                } else {
                        rc = put(c, q, plen);
                }
                q += plen;
                if (rc == 0 && *q == '&')
                        rc = put(c, q++, 1);
                else if (rc == 0 && *q == '#')
                        return put(c, q, strlen(q));
        }
        return rc;
}

int scraper_url_redact(const char *url, char *out, size_t out_size)
{
        struct cursor c = {out, out_size, 0};
        const char *scheme = strstr(url, "://");
        const char *auth = scheme ? scheme + 3 : url;
        size_t auth_len = strcspn(auth, "/?#");
        const char *at = NULL, *q;
        int rc;

        if (out_size == 0)
                return -ENAMETOOLONG;
        out[0] = '\0';
        for (size_t i = 0; i < auth_len; i++) {
                if (auth[i] == '@')
                        at = auth + i; /* the last '@' ends the userinfo */
        }
        rc = put(&c, url, (size_t)(auth - url));
        if (rc == 0 && at)
                rc = put(&c, at + 1, auth_len - (size_t)(at + 1 - auth));
        else if (rc == 0)
                rc = put(&c, auth, auth_len);
        q = auth + auth_len;
        if (rc == 0) {
                size_t path_len = strcspn(q, "?#");
                rc = put(&c, q, path_len);
                q += path_len;
        }
        if (rc == 0 && *q == '?') {
                rc = put(&c, q, 1);
                if (rc == 0)
                        rc = put_query(&c, q + 1);
        } else if (rc == 0) {
                rc = put(&c, q, strlen(q));
        }
        return rc;
}

int scraper_url_host(const char *url, char *out, size_t out_size)
{
        const char *scheme = strstr(url, "://");
        const char *auth, *at;
        size_t len;

        if (!scheme)
                return -EINVAL;
        auth = scheme + 3;
        len = strcspn(auth, "/?#");
        at = memchr(auth, '@', len);
        while (at) {
                len -= (size_t)(at + 1 - auth);
                auth = at + 1;
                at = memchr(auth, '@', len);
        }
        if (len == 0)
                return -EINVAL;
        if (len + 1 > out_size)
                return -ENAMETOOLONG;
        memcpy(out, auth, len);
        out[len] = '\0';
        return 0;
}
