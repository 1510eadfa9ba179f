#ifndef RAW_PARSE_ODDS_H
#define RAW_PARSE_ODDS_H

/*
 * Private to the raw parsers: the column layout of raw.moneyline_odds
 * (db/migrations/0017_moneyline_odds.sql, docs/parsers.md "odds") filled by
 * parse_odds.c. Included by parsers_int.h only.
 */

/* raw.moneyline_odds */
enum {
        MO_GAME_DATE,
        MO_HOME_ID,
        MO_AWAY_ID,
        MO_BOOK,
        MO_EVENT_ID,
        MO_COMMENCE,
        MO_FORMAT,
        MO_HOME_PRICE,
        MO_AWAY_PRICE,
        MO_HOME_DEC,
        MO_AWAY_DEC,
        MO_LAST_UPDATE,
        MO_NCOLS
};

extern const char *const raw_odds_cols[MO_NCOLS];

#endif
