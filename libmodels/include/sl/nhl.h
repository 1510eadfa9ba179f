#ifndef SL_NHL_H
#define SL_NHL_H

/*
 * NHL metrics from play-by-play: shot attempts (Corsi, Fenwick) for and
 * against, all situations and 5v5; an expected-goals (xG) shot model
 * (logistic regression on distance, angle, shot type and strength state)
 * with its training and log loss; team aggregates over games, league
 * z-scores, the Team Performance Index (TPI) and the Game Outcome Index
 * (GOI). Pure functions over caller-owned arrays: no I/O, no globals,
 * thread-safe. Formulas: docs/models-nhl.md.
 *
 * Plays follow api-web.nhle.com v1/gamecenter/{id}/play-by-play: the
 * shooting team of every shot event (goal, shot-on-goal, missed-shot,
 * blocked-shot) is details.eventOwnerTeamId (2024-25 onwards; older feeds
 * gave blocked shots to the blocking team); coordinates are feet from
 * centre ice, nets at x = +-89; situationCode is four digits: away goalie
 * in net (0/1), away skaters, home skaters, home goalie in net.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shot events; every other play type is SL_NHL_EV_OTHER. */
enum sl_nhl_event {
        SL_NHL_EV_OTHER = 0,
        SL_NHL_EV_GOAL,    /* "goal" */
        SL_NHL_EV_SOG,     /* "shot-on-goal" (saved; goals are separate) */
        SL_NHL_EV_MISSED,  /* "missed-shot" */
        SL_NHL_EV_BLOCKED, /* "blocked-shot" */
};

/* details.shotType values; wrist is the model's baseline. */
enum sl_nhl_shot_type {
        SL_NHL_ST_WRIST = 0,
        SL_NHL_ST_SNAP,
        SL_NHL_ST_SLAP,
        SL_NHL_ST_BACKHAND,
        SL_NHL_ST_TIP_IN,
        SL_NHL_ST_DEFLECTED,
        SL_NHL_ST_OTHER, /* wrap-around, bat, poke, between-legs, cradle, missing */
        SL_NHL_ST_COUNT
};

/* One play, reduced to what the metrics need. */
struct sl_nhl_play {
        int event;          /* enum sl_nhl_event */
        int period;         /* periodDescriptor.number */
        bool shootout;      /* periodType "SO": never counted */
        int64_t team_id;    /* details.eventOwnerTeamId (shooting team), 0 = none */
        bool has_xy;        /* xCoord and yCoord present */
        double x, y;        /* feet */
        int shot_type;      /* enum sl_nhl_shot_type */
        char situation[5];  /* situationCode, "" when absent */
        int home_def_right; /* homeTeamDefendingSide: 1 "right", 0 "left", -1 absent */
};

/* Maps typeDescKey to enum sl_nhl_event (SL_NHL_EV_OTHER for the rest). */
int sl_nhl_event_from_key(const char *type_desc_key);

/* Maps details.shotType to enum sl_nhl_shot_type (NULL or unknown -> SL_NHL_ST_OTHER). */
int sl_nhl_shot_type_from_key(const char *shot_type);

/* Stable name of a shot type ("wrist", ..., "other"). */
const char *sl_nhl_shot_type_name(int shot_type);

/*
 * Splits a situationCode ("1551") into goalies in net and skaters per side.
 * Returns 0, or -EINVAL if code is not four digits with goalies 0/1 and
 * skaters 3..6.
 */
int sl_nhl_situation(const char *code, int *away_goalie, int *away_skaters, int *home_skaters,
                     int *home_goalie);

/* True for 5-on-5 with both goalies in net ("1551"). */
bool sl_nhl_is_5v5(const char *code);

/*
 * Distance (feet) and absolute angle (degrees, 0 = straight on) of a shot
 * from the net the shooting side attacks. is_home tells the side; the
 * attacked net is x = -89 when the home team defends the right (+x) net.
 * When homeTeamDefendingSide is absent, the net nearer the shot is used.
 * Returns 0, or -EINVAL without coordinates.
 */
int sl_nhl_shot_geometry(const struct sl_nhl_play *p, bool is_home, double *dist_ft,
                         double *angle_deg);

/* ---- expected goals ------------------------------------------------------------------ */

/*
 * Features of an unblocked shot attempt (goal, shot on goal, missed shot):
 *  0 intercept, 1 distance/10, 2 (distance/10)^2/10, 3 angle/45,
 *  4 ln(distance+1), 5..10 shot type snap, slap, backhand, tip-in,
 *  deflected, other (wrist = 0), 11 power play (shooter has more skaters),
 *  12 shorthanded, 13 empty net (defending goalie pulled).
 */
#define SL_NHL_XG_NFEAT 14

struct sl_nhl_xg_model {
        double w[SL_NHL_XG_NFEAT]; /* logistic coefficients, P(goal) = 1/(1+exp(-w.x)) */
};

/*
 * Fills x with the features of play p of a game whose home team is home_id.
 * Returns 0; -ENOENT if p is not an unblocked shot attempt outside the
 * shootout (blocked shots carry the block location, not the shot's);
 * -EINVAL without coordinates or shooting team.
 */
int sl_nhl_xg_features(const struct sl_nhl_play *p, int64_t home_id, double x[SL_NHL_XG_NFEAT]);

/* P(goal) of features x under model m. */
double sl_nhl_xg_prob(const struct sl_nhl_xg_model *m, const double x[SL_NHL_XG_NFEAT]);

/* The built-in model (coefficients trained by `statline-nhl train-xg`, docs/models-nhl.md). */
void sl_nhl_xg_default(struct sl_nhl_xg_model *m);

/*
 * Fits m to n rows of features X (row-major, n * SL_NHL_XG_NFEAT) and
 * outcomes y (1 goal, 0 not) by Newton's method (IRLS) with an L2 penalty
 * lambda on every coefficient but the intercept. Returns 0 and sets *iters;
 * -EINVAL for n == 0 or y all 0 or all 1; -EDOM if it did not converge in
 * 50 iterations (m holds the last iterate). Allocates O(features^2).
 */
int sl_nhl_xg_train(const double *X, const int *y, size_t n, double lambda,
                    struct sl_nhl_xg_model *m, int *iters);

/* Mean log loss of m on (X, y); probabilities are clamped to [1e-12, 1 - 1e-12]. */
double sl_nhl_log_loss(const struct sl_nhl_xg_model *m, const double *X, const int *y, size_t n);

/* Mean log loss of predicting the constant rate p for every row of y. */
double sl_nhl_base_log_loss(double p, const int *y, size_t n);

/* ---- game metrics -------------------------------------------------------------------- */

/* Shot counts of one team in one game (for, or against = the opponent's). */
struct sl_nhl_counts {
        int goals;   /* goal plays (shootout excluded) */
        int sog;     /* shot-on-goal plays (saves; goals not included) */
        int missed;  /* missed-shot plays */
        int blocked; /* blocked-shot plays (the team's attempts that were blocked) */
        int corsi;   /* goals + sog + missed + blocked */
        int fenwick; /* goals + sog + missed */
        int shots;   /* shots on goal as the NHL counts them: sog + goals */
        double xg;   /* sum of P(goal) over the unblocked attempts */
};

/* One team's game. */
struct sl_nhl_team_game {
        int64_t team_id;
        bool home;
        struct sl_nhl_counts all_for, all_against; /* all situations */
        struct sl_nhl_counts ev_for, ev_against;   /* 5v5 (situationCode 1551) */
};

/*
 * Counts the n plays of a game between home_id and away_id into out[0]
 * (home) and out[1] (away). Shot plays of another team are an error. Plays
 * without coordinates count in Corsi/Fenwick but add no xG (*no_xy counts
 * them; may be NULL). m NULL means the built-in model.
 * Returns 0 or -EINVAL (bad ids, a shot of a third team).
 */
int sl_nhl_game_metrics(const struct sl_nhl_play *plays, size_t n, int64_t home_id, int64_t away_id,
                        const struct sl_nhl_xg_model *m, struct sl_nhl_team_game out[2],
                        int *no_xy);

/* ---- season aggregates, z-scores, TPI, GOI ------------------------------------------ */

/* A team's sums over its games (start zeroed, team_id set). */
struct sl_nhl_team_agg {
        int64_t team_id;
        int games;
        double cf, ca, ff, fa, sf, sa, gf, ga, xgf, xga; /* all situations */
        double cf5, ca5, ff5, fa5, gf5, ga5, xgf5, xga5; /* 5v5 */
};

/* Adds one game of the team (g->team_id must equal a->team_id: -EINVAL otherwise). */
int sl_nhl_agg_add(struct sl_nhl_team_agg *a, const struct sl_nhl_team_game *g);

/* The rated metrics, in z[] order. */
enum sl_nhl_metric {
        SL_NHL_M_XGF_PCT5, /* xGF / (xGF + xGA), 5v5 */
        SL_NHL_M_CF_PCT5,  /* CF / (CF + CA), 5v5 */
        SL_NHL_M_GF_PCT,   /* GF / (GF + GA), all situations */
        SL_NHL_M_SV_PCT,   /* 1 - GA / SA */
        SL_NHL_M_SH_PCT,   /* GF / SF */
        SL_NHL_M_COUNT
};

/* TPI weights of the z-scores (sum 1), in enum sl_nhl_metric order. */
extern const double sl_nhl_tpi_weights[SL_NHL_M_COUNT];

struct sl_nhl_rating {
        int64_t team_id;
        int games;
        double value[SL_NHL_M_COUNT]; /* the metric */
        double z[SL_NHL_M_COUNT];     /* (value - league mean) / league sd (population) */
        double tpi;                   /* sum of weight * z */
};

/*
 * Rates n teams against each other: metrics, z-scores over the n teams,
 * TPI. A metric with zero spread gives z = 0. Teams with no games are
 * refused. Returns 0 or -EINVAL (n < 2, a team without games or shots).
 */
int sl_nhl_ratings(const struct sl_nhl_team_agg *aggs, size_t n, struct sl_nhl_rating *out);

#define SL_NHL_GOI_HOME  0.27 /* home-ice edge in TPI units */
#define SL_NHL_GOI_SCALE 0.35 /* logistic scale of GOI into a win probability */

/*
 * Game Outcome Index of home vs away: GOI = TPI_home - TPI_away +
 * SL_NHL_GOI_HOME; *p_home (may be NULL) = 1 / (1 + exp(-SCALE * GOI)).
 */
double sl_nhl_goi(const struct sl_nhl_rating *home, const struct sl_nhl_rating *away,
                  double *p_home);

#endif
