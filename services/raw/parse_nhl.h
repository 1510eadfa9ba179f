#ifndef RAW_PARSE_NHL_H
#define RAW_PARSE_NHL_H

/*
 * Private to the raw parsers: the column layouts of the raw.nhl_* tables
 * (db/migrations/0014_nhl.sql, docs/parsers.md "NHL") filled by
 * parse_nhl.c. Included by parsers_int.h only.
 */

/* raw.nhl_games */
enum {
        NG_GAME_ID,
        NG_GAME_DATE,
        NG_SEASON,
        NG_GAME_TYPE,
        NG_HOME_ID,
        NG_AWAY_ID,
        NG_HOME_ABBR,
        NG_AWAY_ABBR,
        NG_HOME_SCORE,
        NG_AWAY_SCORE,
        NG_STATE,
        NG_LAST_PERIOD,
        NG_START_UTC,
        NG_VENUE,
        NG_NCOLS
};

/* raw.nhl_plays */
enum {
        NPL_GAME_ID,
        NPL_EVENT_ID,
        NPL_SORT_ORDER,
        NPL_PERIOD,
        NPL_PERIOD_TYPE,
        NPL_TIME_IN_PERIOD,
        NPL_SITUATION,
        NPL_HOME_SIDE,
        NPL_TYPE_CODE,
        NPL_TYPE_KEY,
        NPL_OWNER_TEAM,
        NPL_X,
        NPL_Y,
        NPL_ZONE,
        NPL_SHOT_TYPE,
        NPL_PLAYER1,
        NPL_PLAYER2,
        NPL_PLAYER3,
        NPL_GOALIE,
        NPL_HOME_SCORE,
        NPL_AWAY_SCORE,
        NPL_HOME_SOG,
        NPL_AWAY_SOG,
        NPL_REASON,
        NPL_PEN_MIN,
        NPL_NCOLS
};

/* raw.nhl_game_rosters */
enum { NR_GAME_ID, NR_PLAYER_ID, NR_TEAM_ID, NR_FIRST, NR_LAST, NR_SWEATER, NR_POS, NR_NCOLS };

/* raw.nhl_skater_boxscores */
enum {
        NS_GAME_ID,
        NS_PLAYER_ID,
        NS_TEAM_ID,
        NS_NAME,
        NS_POS,
        NS_GOALS,
        NS_ASSISTS,
        NS_POINTS,
        NS_PLUS_MINUS,
        NS_PIM,
        NS_HITS,
        NS_PPG,
        NS_SOG,
        NS_FO_PCT,
        NS_TOI,
        NS_BLOCKED,
        NS_SHIFTS,
        NS_GIVEAWAYS,
        NS_TAKEAWAYS,
        NS_NCOLS
};

/* raw.nhl_goalie_boxscores */
enum {
        NGB_GAME_ID,
        NGB_PLAYER_ID,
        NGB_TEAM_ID,
        NGB_NAME,
        NGB_SHOTS_AGAINST,
        NGB_SAVES,
        NGB_GOALS_AGAINST,
        NGB_SAVE_PCT,
        NGB_EV_GA,
        NGB_PP_GA,
        NGB_SH_GA,
        NGB_PIM,
        NGB_TOI,
        NGB_STARTER,
        NGB_DECISION,
        NGB_NCOLS
};

extern const char *const raw_nhl_games_cols[NG_NCOLS];
extern const char *const raw_nhl_plays_cols[NPL_NCOLS];
extern const char *const raw_nhl_rosters_cols[NR_NCOLS];
extern const char *const raw_nhl_skaters_cols[NS_NCOLS];
extern const char *const raw_nhl_goalies_cols[NGB_NCOLS];

#endif
