#ifndef SL_ELO_H
#define SL_ELO_H

/*
 * One Elo rating engine for nine sports, with a parameter set per sport
 * (docs/models.md gives every formula with its source and the accuracy
 * measured against FiveThirtyEight's published histories).
 *
 * Two layers:
 *   - pure functions on numbers (sl_elo_expected, sl_elo_mov_mult,
 *     sl_elo_rate, ...): no state, no I/O, safe from any thread;
 *   - struct sl_elo_league: an in-memory table of team ratings that applies
 *     season carry-over and K rules as games are played in date order.
 *     A league is not thread-safe; use one per thread.
 *
 * Conventions: team 1 is the home side (unless neutral); ratings are in Elo
 * points; a probability is P(team 1 wins) unless stated otherwise.
 */

#include <stdbool.h>
#include <stddef.h>

enum sl_elo_sport {
        SL_ELO_NBA,
        SL_ELO_NHL,
        SL_ELO_MLB,
        SL_ELO_NFL,
        SL_ELO_EPL,
        SL_ELO_TENNIS,
        SL_ELO_NCAAB,
        SL_ELO_WNCAAB,
        SL_ELO_LIGUE1,
        SL_ELO_NSPORTS
};

/* Margin-of-victory multiplier families (docs/models.md "Margin of victory"). */
enum sl_elo_mov {
        SL_ELO_MOV_NONE,   /* 1 */
        SL_ELO_MOV_NFL538, /* ln(max(|PD|,1)+1) * 2.2/(0.001*wd + 2.2); tie: ln(..)*2.2 */
        SL_ELO_MOV_NBA538, /* (|PD|+3)^0.8 / (7.5 + 0.006*wd) */
        SL_ELO_MOV_NHL538, /* (0.6686*ln|PD| + 0.8048) * 2.05/(2.05 + 0.001*wd) */
        SL_ELO_MOV_MLB,    /* (|PD|+1)^0.7 / (1 + wd/1113): statline's fit to 538 MLB 2021 */
        SL_ELO_MOV_GOALS,  /* eloratings.net: 1 goal 1, 2 goals 1.5, N>=3 goals (11+N)/8 */
};

/* How K is chosen for a game. */
enum sl_elo_k_rule {
        SL_ELO_K_FIXED,  /* k (k_playoff in playoffs) */
        SL_ELO_K_TENNIS, /* per player: k / (matches_played + 5)^0.4 (538 tennis) */
};

/* A hard-coded season start rating (538 NFL has 11 "of unknown origin"). */
struct sl_elo_reversion {
        const char *team; /* team code as in the game file */
        int season;       /* the new season */
        double rating;    /* rating at its first game of that season */
};

/* A sport's parameters. The built-in sets are returned by sl_elo_params_get(). */
struct sl_elo_params {
        const char *name;          /* "nba", "nfl", ... */
        double k;                  /* K factor (or the tennis numerator, 250) */
        double k_playoff;          /* K in playoff games; 0 means k */
        enum sl_elo_k_rule k_rule; /* fixed or per-player decaying */
        bool home_side;            /* false: no home advantage ever (tennis) */
        double home_adv;           /* Elo points added to team 1 when not neutral */
        enum sl_elo_mov mov;       /* margin-of-victory multiplier */
        double scale;              /* logistic scale, 400 */
        double initial;            /* rating of a team first seen */
        double mean;               /* carry-over target between seasons */
        double carry;              /* fraction of (rating - mean) kept between seasons; 1 = none */
        double draw_max;           /* soccer: P(draw) when evenly matched; 0 = no draw model */
        const struct sl_elo_reversion *reversions; /* season-start exceptions, may be NULL */
        size_t n_reversions;
};

/* One game between two rated sides (inputs to sl_elo_rate). */
struct sl_elo_game {
        double r1, r2; /* pre-game ratings (after any season carry-over) */
        bool neutral;  /* no home advantage */
        bool playoff;  /* use k_playoff */
        int score1;    /* points/goals/runs/sets of team 1, >= 0 */
        int score2;    /* of team 2, >= 0; equal scores are a draw/tie */
        int played1;   /* games team 1 played before this one (tennis K) */
        int played2;   /* games team 2 played before this one */
};

/* What sl_elo_rate computes. */
struct sl_elo_outcome {
        double r1, r2;  /* pre-game ratings used (after any season carry-over) */
        double diff;    /* r1 - r2 + home advantage (0 at neutral sites / no home side) */
        double expect1; /* expected score of team 1, 1/(1+10^(-diff/scale)) */
        double p_win1;  /* P(team 1 wins); equals expect1 without a draw model */
        double p_draw;  /* P(draw); 0 without a draw model */
        double p_win2;  /* P(team 2 wins) */
        double result1; /* 1, 0.5 or 0 */
        double mult;    /* margin-of-victory multiplier used */
        double shift1;  /* rating change of team 1 */
        double shift2;  /* rating change of team 2 (-shift1 unless tennis K) */
        double r1_post; /* r1 + shift1 */
        double r2_post; /* r2 + shift2 */
};

/*
 * Returns the built-in parameters of a sport (static storage, never NULL for
 * a valid sport; NULL for an out-of-range value).
 */
const struct sl_elo_params *sl_elo_params_get(enum sl_elo_sport sport);

/*
 * Parses a sport name ("nba", "nhl", "mlb", "nfl", "epl", "tennis", "ncaab",
 * "wncaab", "ligue1"; case-insensitive) into *sport. Returns 0 or -EINVAL.
 */
int sl_elo_sport_parse(const char *name, enum sl_elo_sport *sport);

/* Returns the short name of a sport ("nba"), or "?" when out of range. */
const char *sl_elo_sport_name(enum sl_elo_sport sport);

/* Logistic expectation: 1 / (1 + 10^(-diff/scale)). scale must be > 0. */
double sl_elo_expected(double diff, double scale);

/*
 * The HFA-inclusive rating difference of team 1: r1 - r2, plus home_adv when
 * the sport has a home side and the game is not neutral.
 */
double sl_elo_diff(const struct sl_elo_params *params, double r1, double r2, bool neutral);

/*
 * Margin-of-victory multiplier for params->mov. margin is |score1 - score2|,
 * winner_diff the HFA-inclusive rating difference seen from the winner's side
 * (negative when the underdog won), draw true for a tie (margin 0).
 */
double sl_elo_mov_mult(const struct sl_elo_params *params, int margin, double winner_diff,
                       bool draw);

/*
 * Splits the expected score e of team 1 into win/draw/loss for sports with a
 * draw model: p_draw = draw_max * 4e(1-e), p_win1 = e - p_draw/2,
 * p_win2 = 1 - e - p_draw/2 (so p_win1 + p_draw/2 = e). Without a draw model
 * p_draw = 0. Any output pointer may be NULL.
 */
void sl_elo_probs3(const struct sl_elo_params *params, double e, double *p_win1, double *p_draw,
                   double *p_win2);

/* K for a side that has played `played` games (tennis rule) in a (playoff) game. */
double sl_elo_k(const struct sl_elo_params *params, bool playoff, int played);

/* Season carry-over: mean + carry * (rating - mean). */
double sl_elo_carry(const struct sl_elo_params *params, double rating);

/*
 * Rates one game: probabilities, multiplier and both post-game ratings into
 * *out. Pure. Returns 0, or -EINVAL (out untouched) for a negative score,
 * a non-finite rating or NULL arguments.
 */
int sl_elo_rate(const struct sl_elo_params *params, const struct sl_elo_game *game,
                struct sl_elo_outcome *out);

/*
 * Like sl_elo_rate for a game not yet played: fills diff, expect1 and the
 * three probabilities; result1, mult and shifts are 0, posts equal pre.
 */
int sl_elo_predict(const struct sl_elo_params *params, const struct sl_elo_game *game,
                   struct sl_elo_outcome *out);

/* ---- league: ratings of many teams through seasons ---------------------- */

struct sl_elo_league;

/* A played (or, for sl_elo_league_predict, scheduled) game by team name. */
struct sl_elo_match {
        const char *team1; /* home side unless neutral; NUL-terminated, copied */
        const char *team2;
        int season; /* a change of season triggers carry-over for that team */
        bool neutral;
        bool playoff;
        int score1, score2; /* ignored by sl_elo_league_predict */
};

/*
 * Creates an empty league using *params (borrowed: it must outlive the
 * league). Free with sl_elo_league_free().
 */
struct sl_elo_league *sl_elo_league_new(const struct sl_elo_params *params);

/* Frees a league; NULL is a no-op. */
void sl_elo_league_free(struct sl_elo_league *league);

/*
 * Sets a team's rating (a seed such as 538's initial_elos.csv), creating the
 * team if needed; its season stays unknown, so no carry-over applies before
 * its first game. Returns 0 or -EINVAL (empty name, non-finite rating).
 */
int sl_elo_league_set(struct sl_elo_league *league, const char *team, double rating);

/*
 * Current rating of a team into *rating (and games played into *played when
 * not NULL). Returns 0, or -ENOENT for an unknown team.
 */
int sl_elo_league_get(const struct sl_elo_league *league, const char *team, double *rating,
                      int *played);

/*
 * Plays one game: creates unknown teams at params->initial, applies season
 * carry-over (or a listed reversion) to a team whose last game was in another
 * season, rates the game and stores both post-game ratings. *out receives the
 * outcome, whose r1/r2 pre values are the carried-over ratings.
 * Returns 0 or -EINVAL (bad names, same team twice, negative score): then
 * nothing changes.
 */
int sl_elo_league_play(struct sl_elo_league *league, const struct sl_elo_match *match,
                       struct sl_elo_outcome *out);

/*
 * Predicts a scheduled game from current ratings (carry-over applied as it
 * would be at that game, but nothing stored; unknown teams count as
 * params->initial). Returns 0 or -EINVAL.
 */
int sl_elo_league_predict(const struct sl_elo_league *league, const struct sl_elo_match *match,
                          struct sl_elo_outcome *out);

/* Number of teams in the league. */
size_t sl_elo_league_count(const struct sl_elo_league *league);

/*
 * The i-th team (0 <= i < count, in first-seen order): name (owned by the
 * league, valid until it is freed), rating and games played. Any output may
 * be NULL. Returns 0 or -ERANGE.
 */
int sl_elo_league_team(const struct sl_elo_league *league, size_t i, const char **name,
                       double *rating, int *played);

#endif
