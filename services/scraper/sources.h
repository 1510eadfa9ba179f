#ifndef SCRAPER_SOURCES_H
#define SCRAPER_SOURCES_H

/*
 * The scraper's sources registry: what can be fetched, from which URL
 * template, which payload kind the raw parsers expect for it
 * (services/raw/parsers.h) and whether a fetched result can still change.
 * Pure: no I/O, no allocation.
 */

#include <stdbool.h>
#include <stddef.h>

/* What identifies one document of a source (the "source key" in the execution log). */
enum scraper_key {
        SCRAPER_KEY_DATE, /* one document per game date: scoreboard, injuries, props, schedule */
        SCRAPER_KEY_GAME, /* one document per game: box scores, play-by-play */
};

/* One registry entry. Everything is static. */
struct scraper_source {
        const char *name;   /* registry name, "boxscore_v2"; the event's "scraper" field */
        const char *family; /* raw family: scoreboard boxscore injuries props schedule */
        const char *kind;   /* raw payload kind name, "boxscore_v2" (raw_kind_name()) */
        const char *source; /* "<provider>.<endpoint>", "nba.stats.boxscoretraditionalv2" */
        const char *path;   /* URL template appended to the base URL (see scraper_url_build) */
        enum scraper_key key;
        bool can_change;   /* false: once a fetch succeeded it is never fetched again */
        const char *sport; /* "nba" or "nhl": the envelope's sport and scrape.sport */
};

/* Number of NBA registry entries, and entry i (NULL when out of range). */
size_t scraper_source_count(void);
const struct scraper_source *scraper_source_at(size_t i);

/*
 * The same for sport's registry ("nba": the above; "nhl": nhl_schedule,
 * nhl_boxscore, nhl_playbyplay); 0 / NULL for another sport.
 */
size_t scraper_sport_source_count(const char *sport);
const struct scraper_source *scraper_sport_source_at(const char *sport, size_t i);

/* The entry named name ("scoreboard_v3", "nhl_schedule") of any sport, or NULL. */
const struct scraper_source *scraper_source_find(const char *name);

/*
 * The NBA entry of family ("boxscore") in version ("v2", "v3"; ignored for
 * the families that have one version), or NULL.
 */
const struct scraper_source *scraper_source_pick(const char *family, const char *version);

/*
 * scraper_source_pick() among the entries of sport ("nba", "nhl"): the NHL
 * families are schedule (lists the games), boxscore and playbyplay, one
 * version each. NULL when there is no such entry.
 */
const struct scraper_source *scraper_source_pick_sport(const char *sport, const char *family,
                                                       const char *version);

/* Values for the template placeholders; NULL = not available. Borrowed. */
struct scraper_vars {
        const char *date;    /* {date} "2024-11-05"; also gives {date_us} and {season} */
        const char *game_id; /* {game_id} "0022400061" */
};

/*
 * Expands tmpl into out: base (may be NULL or "", no trailing '/' needed)
 * followed by tmpl with {date} (YYYY-MM-DD), {date_us} (MM/DD/YYYY),
 * {season} ("2024-25": the season the date belongs to) and {game_id}
 * replaced by their values, percent-encoded outside [A-Za-z0-9._~-].
 * A tmpl starting with "http://" or "https://" is a whole URL and base is
 * not used. Returns 0, -EINVAL (unknown or unterminated placeholder, a
 * placeholder whose value is missing, a bad date) or -ENAMETOOLONG.
 */
int scraper_url_build(const char *base, const char *tmpl, const struct scraper_vars *vars,
                      char *out, size_t out_size);

/*
 * Copies url into out without credentials: "user:pass@" is removed from the
 * authority, and the values of query parameters that look secret (key,
 * api_key, apikey, token, access_token, password, secret, sig, signature)
 * become "REDACTED". For logs, events and the execution log. Returns 0 or
 * -ENAMETOOLONG.
 */
int scraper_url_redact(const char *url, char *out, size_t out_size);

/*
 * Host part of url ("127.0.0.1:8080" style, port included, no userinfo),
 * for the per-host rate limit. Returns 0, -EINVAL (no "scheme://") or
 * -ENAMETOOLONG.
 */
int scraper_url_host(const char *url, char *out, size_t out_size);

/*
 * The NBA season a date belongs to: games from August on belong to the
 * season starting that year ("2024-11-05" and "2025-03-01" give "2024-25").
 * Returns 0 or -EINVAL (not a valid date).
 */
int scraper_season(const char *date, char out[8]);

#endif
