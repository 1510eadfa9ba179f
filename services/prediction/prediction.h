#ifndef PREDICTION_PREDICTION_H
#define PREDICTION_PREDICTION_H

/*
 * statline-prediction (README.md in this directory): for every player with a
 * prop line on a date, five systems predict points (and rebounds, assists
 * when a line exists), each prediction is compared with the line
 * (OVER/UNDER/PASS + confidence) and upserted into
 * prediction.player_prop_predictions.
 *
 * Layers:
 *   - pure math (systems.c): recommendation, confidence, weighted average,
 *     k-nearest neighbours, ensemble weights; unit-tested without a database;
 *   - the XGBoost model (model.c): train, save, load, predict;
 *   - the data layer (predict.c): targets (pred_targets temp table), the SQL
 *     systems, feature rows, the whole run of the five systems over a
 *     target set; shared by the service and statline-train;
 *   - the bus handler (prediction.c): one transaction per event, execution
 *     log per processor, outbox, publish prediction.completed.
 *
 * Threads: single-threaded, one struct per service loop.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sl/bus.h>
#include <sl/cb.h>
#include <sl/err.h>
#include <sl/log.h>
#include <sl/phase.h>
#include <sl/svc.h>

struct sl_pg;
struct sl_http;

/* Markets, in this order everywhere (arrays are indexed by enum pred_market). */
enum pred_market { PRED_POINTS, PRED_REBOUNDS, PRED_ASSISTS, PRED_N_MARKETS };
/* Systems, in run order: the ensemble comes last and combines the others. */
enum pred_system {
        PRED_MOVING_AVERAGE,
        PRED_ZONE_MATCHUP,
        PRED_SIMILARITY,
        PRED_XGBOOST,
        PRED_ENSEMBLE,
        PRED_N_SYSTEMS
};

#define PRED_MA_GAMES     10  /* moving_average: last N games, linear weights N..1 */
#define PRED_ZONE_GAMES   20  /* zone_matchup: the player's last N games */
#define PRED_ZONE_DAYS    60  /* zone_matchup: defense window, days before the date */
#define PRED_ZONE_PRIOR   5.0 /* zone_matchup: opponent games of shrinkage toward 1.0 */
#define PRED_SIM_K_OWN    8   /* similarity: nearest of the player's own past games */
#define PRED_SIM_K_LEAGUE 20  /* similarity: nearest of all past player-games */
#define PRED_SIM_DAYS     400 /* similarity: history window in days */
#define PRED_ERR_WINDOW   30  /* system_errors: days of past predictions scored */
#define PRED_MAX_FEATURES 256 /* longest feature vector accepted */
#define PRED_ERRSTR_SIZE  1024

/* "points", "rebounds", "assists". */
const char *pred_market_name(enum pred_market m);
/* -1 for an unknown name. */
int pred_market_from_name(const char *name);
/* "moving_average", "zone_matchup_v1", ... */
const char *pred_system_name(enum pred_system s);

/* ---- pure math (systems.c) ------------------------------------------------------------ */

/* One prediction before it meets a line: value, spread of the evidence, sample size. */
struct pred_value {
        double value; /* NaN: no prediction */
        double sd;    /* spread of the outcomes behind value (>= 0) */
        double n;     /* evidence count (games, neighbours); scales confidence */
};

/*
 * "OVER" when value - line >= edge, "UNDER" when line - value >= edge,
 * otherwise "PASS" (also when line or value is NaN). Decided on the values
 * as published: value, line and edge rounded to hundredths (a stored
 * predicted_value is numeric(6,2)), compared as integers, so the published
 * value and line always explain the recommendation. Pure.
 */
const char *pred_recommend(double value, double line, double edge);

/*
 * Confidence in [0, 1] that the recommendation is right:
 * (1 - exp(-|value - line| / max(sd, 1))) * min(1, n / 10); 0 without a line
 * or a value. Pure.
 */
double pred_confidence(double value, double line, double sd, double n);

/*
 * Ensemble of k component predictions: weights w_i = 1 / max(mae_i, 0.25)
 * where mae_i is the system's recent mean absolute error (NaN: unknown);
 * if any component's error is unknown, all weights are equal. Components
 * with a NaN value are left out. The result's sd is the weighted spread of
 * the components around the mean combined with their own sds, n the sum of
 * weights-normalised n. Returns a NaN value when no component has one. Pure.
 */
struct pred_value pred_ensemble(const struct pred_value *parts, const double *mae, size_t k);

/*
 * k nearest neighbours by squared Euclidean distance in standardised space:
 * rows (n rows of nf floats, row-major), z-scored with mean/sd (nf each; an
 * sd of 0 counts as 1); candidate i is used when use[i] is true (use may be
 * NULL = all). Writes the indices of the k nearest (ties: lower index first)
 * into out_idx and returns how many were found (<= k). Pure.
 */
size_t pred_knn(const float *query, const float *rows, size_t n, size_t nf, const double *mean,
                const double *sd, const bool *use, size_t k, size_t *out_idx);

/*
 * One step of pred_knn(): offers row i at squared distance d to the k best
 * so far (best[] ascending, out_idx[] their rows, *found of them filled).
 * Only a strictly closer row displaces one, so ties keep the earlier row.
 */
void pred_knn_keep(double *best, size_t *out_idx, size_t *found, size_t k, double d, size_t i);

/*
 * Column mean and population sd of n rows of nf floats (NaN values are
 * skipped). Pure.
 */
void pred_col_stats(const float *rows, size_t n, size_t nf, double *mean, double *sd);

/* ---- the XGBoost model (model.c) --------------------------------------------------------- */

struct pred_model;

/* Training settings; zero means the default. */
struct pred_train_opts {
        int rounds;       /* boosting rounds (default 200) */
        int max_depth;    /* default 4 */
        double eta;       /* learning rate (default 0.05) */
        double subsample; /* row subsample (default 1.0: deterministic) */
};

/*
 * Trains a regression model (reg:squarederror, hist, one thread, seed 0) on
 * n rows of nf features x (row-major, NaN = missing) and targets y.
 * Returns the model (free with pred_model_free()) or NULL with the reason
 * (XGBGetLastError) in errstr.
 */
struct pred_model *pred_model_train(const float *x, const float *y, size_t n, size_t nf,
                                    const struct pred_train_opts *opts, char *errstr,
                                    size_t errstr_size);
/* Saves to path (XGBoost's JSON format when the name ends in .json). 0 or -EIO. */
int pred_model_save(const struct pred_model *model, const char *path, char *errstr,
                    size_t errstr_size);
/* Loads a saved model expecting nf features. NULL with the reason on failure. */
struct pred_model *pred_model_load(const char *path, size_t nf, char *errstr, size_t errstr_size);
/* Predicts n rows of x into out (n values). 0 or -EIO. */
int pred_model_predict(const struct pred_model *model, const float *x, size_t n, size_t nf,
                       double *out, char *errstr, size_t errstr_size);
/* Number of features the model expects. */
size_t pred_model_nfeatures(const struct pred_model *model);
void pred_model_free(struct pred_model *model);

/* ---- targets and the five systems over them (predict.c) ------------------------------- */

/* One player-game to predict. */
struct pred_target {
        int64_t player_id;
        char game_date[11];
        char game_id[16];
        int64_t team_id, opp_team_id;
        double line[PRED_N_MARKETS];   /* NaN: no line for that market */
        double actual[PRED_N_MARKETS]; /* NaN unless known (training / reports) */
        double season_avg_pts;         /* naive baseline: season average before the date */
        char status[16]; /* injury status on the date ("Out", ...; "" when none reported) */
        float *features; /* nf floats or NULL: no feature row; owned by the set */
};

/* The targets of a run and what each system predicted for them. */
struct pred_set {
        struct pred_target *t; /* owned, n of them */
        size_t n;
        size_t nf;                /* feature vector length (0: no feature rows) */
        char feature_version[64]; /* "" when none */
        /* out[s][m][i]: system s, market m, target i */
        struct pred_value *out[PRED_N_SYSTEMS][PRED_N_MARKETS];
        bool ran[PRED_N_SYSTEMS];              /* the system produced its predictions */
        char skip_reason[PRED_N_SYSTEMS][160]; /* why it did not ("" when it ran) */
        char missing[PRED_N_SYSTEMS][160];     /* missing dependency names, comma-separated */
        int64_t duration_ms[PRED_N_SYSTEMS];
        bool failed[PRED_N_SYSTEMS];  /* the system failed (skip_reason "system failed: ...") */
        bool cb_open[PRED_N_SYSTEMS]; /* its breaker refused it (skip_reason "circuit open") */
        struct pred_hcache *hcache;   /* borrowed similarity history cache; NULL: none */
        /* borrowed service runtime for the system breakers "system:<name>" (sl_svc_cb());
           NULL: no breakers, a failing system fails the call (statline-train) */
        struct sl_svc *rt;
};

/*
 * The similarity system's history (feature rows with outcomes of the
 * PRED_SIM_DAYS before a date), kept between runs by the service: a run
 * reuses it when the window and a fingerprint of the rows behind it (count
 * and the sum of updated_at of the window's ml_feature_store and
 * player_game_summary rows) are unchanged, so an entity run (one injured
 * player) does not reload a season of feature rows. When the window moved
 * forward (the next date) and the cached window's fingerprint still holds,
 * only the new dates' rows are read and appended (rows before the new
 * start dropped): the same rows in the same order as a whole load.
 * pred_set_load() leaves set->hcache as the caller set it before.
 */
struct pred_hcache;
struct pred_hcache *pred_hcache_new(void);
void pred_hcache_free(struct pred_hcache *cache); /* NULL is fine */
/* Runs served from the cache (kept or appended to) / whole loads from the database since new. */
void pred_hcache_stats(const struct pred_hcache *cache, uint64_t *hits, uint64_t *loads);

/* Frees everything the set owns and zeroes it. */
void pred_set_fini(struct pred_set *set);

/*
 * Creates (or empties) the session temp table pred_targets and fills it with
 * the players who have a prop line on game_date (restricted to players, a
 * bigint[] text literal like "{1,2}", when not NULL), with the consensus
 * (median) line per market, game, team and opponent (raw.prop_lines, then
 * raw.schedule / raw.games, then the player's last team) and his injury
 * status on the date (analytics.upcoming_player_game_context). Returns the
 * number of targets or a negative errno.
 */
int pred_targets_from_lines(struct sl_pg *pg, const char *game_date, const char *players,
                            char *errstr, size_t errstr_size);

/*
 * Creates (or empties) pred_targets with every player-game of
 * analytics.player_game_summary between from and to (the held-out dates of
 * a training report), no lines. Returns the count or a negative errno.
 */
int pred_targets_from_games(struct sl_pg *pg, const char *from, const char *to, char *errstr,
                            size_t errstr_size);

/*
 * Loads pred_targets into set (ordered by date, player), with actuals,
 * season averages and the feature rows of feature_version (NULL or "": the
 * newest version that has rows). Returns 0 or a negative errno.
 */
int pred_set_load(struct sl_pg *pg, struct pred_set *set, const char *feature_version, char *errstr,
                  size_t errstr_size);

/*
 * Runs the systems over set: moving_average and zone_matchup_v1 in SQL,
 * similarity_balanced_v1 over the feature store history, xgboost_v1 with
 * model (NULL: skipped, "no trained model"), ensemble_v1 weighted by
 * prediction.system_errors as of each target's date (use_errors false:
 * equal weights), over the systems that produced a value. A system that
 * cannot run records skip_reason and missing dependencies.
 *
 * With set->rt (the service): each system runs behind its circuit breaker
 * "system:<name>" (sl_svc_cb) and inside a SAVEPOINT of the caller's
 * transaction. Breaker refusing: nothing is attempted, skip_reason
 * "circuit open", cb_open set. A system that fails: ROLLBACK TO SAVEPOINT,
 * its outputs NaN, failed set, skip_reason "system failed: <error>", the
 * failure recorded in its breaker (any error counts); the other systems
 * still run. A success (also a skip without error) is recorded as one.
 * Only a lost connection (-ECONNRESET, -ENOTCONN, ...), -EAGAIN
 * (serialization / deadlock: the transaction must be redone) or a failed
 * SAVEPOINT / ROLLBACK TO fail the call (negative errno in errstr).
 * Without set->rt (statline-train): no savepoints, no breakers, any
 * database error fails the call.
 */
int pred_run_systems(struct sl_pg *pg, struct pred_set *set, const struct pred_model *model,
                     bool use_errors, char *errstr, size_t errstr_size);

/*
 * Mean absolute error of system s on market m against set's actuals (only
 * targets with both); *count gets the sample size. NaN when none.
 */
double pred_mae(const struct pred_set *set, enum pred_system s, enum pred_market m, size_t *count);

/* ---- Elo win probabilities and Kelly stakes (elo_kelly.c) ------------------------------ */

/* Kelly settings (config keys kelly.*; README.md "Kelly"). */
struct pred_kelly_cfg {
        double bankroll;      /* kelly.bankroll, > 0 */
        double fraction;      /* kelly.fraction, (0, 1] */
        double max_bet;       /* kelly.max_bet, fraction of bankroll per bet */
        double max_day;       /* kelly.max_day, fraction of bankroll per date */
        double max_portfolio; /* kelly.max_portfolio, open exposure cap */
        double min_edge;      /* kelly.min_edge, skip bets with a smaller edge (>= 0) */
        double market_weight; /* kelly.market_weight w: p = (1-w) p_model + w p_fair, [0, 1] */
        /* kelly.moneyline_market_weight: the same for the Elo moneyline probability */
        double ml_market_weight;
};

/* Defaults of kelly.market_weight and kelly.moneyline_market_weight (docs/models.md). */
#define PRED_KELLY_MARKET_WEIGHT    "0.5"
#define PRED_KELLY_ML_MARKET_WEIGHT "1.0"

/*
 * Parses kelly.market_weight (props) and kelly.moneyline_market_weight
 * (numbers in [0, 1]; NULL = the default) into out. Returns 0 or -EINVAL
 * naming the key.
 */
int pred_kelly_weight_parse(const char *text, const char *ml_text, struct pred_kelly_cfg *out,
                            char *errstr, size_t errstr_size);

/* Spread used for a market when no ensemble RMSE is known (points, rebounds, assists). */
#define PRED_KELLY_SD_POINTS   6.0
#define PRED_KELLY_SD_REBOUNDS 2.5
#define PRED_KELLY_SD_ASSISTS  2.0
#define PRED_KELLY_MIN_SAMPLES 20 /* system_errors rows with fewer samples are ignored */

/*
 * P(X > line) for X ~ Normal(mean, sd): 0.5 * erfc((line - mean) / (sd sqrt 2)).
 * NaN when sd <= 0 or an input is not finite. Pure.
 */
double pred_p_over(double mean, double sd, double line);

/* Counts of one Elo or Kelly run (rows inserted or changed, as the replay guard sees). */
struct pred_elo_stats {
        int games_played;    /* finals replayed */
        int teams;           /* teams rated */
        int ratings_written; /* prediction.elo_ratings rows inserted/changed */
        int games_predicted; /* games of the date */
        int probs_written;   /* prediction.game_win_probs rows inserted/changed */
};

/*
 * Brings sport's Elo league up to date (libmodels sl_elo_league_play over every
 * final of raw.games before date, in (game_date, game_id) order, the sport's
 * built-in parameters), upserts every team's rating as of date into
 * prediction.elo_ratings and each game of the date (raw.schedule + raw.games)
 * with its win probabilities into prediction.game_win_probs. Runs inside the
 * caller's transaction. Only "nba" has results in raw.games: any other sport
 * returns 1 (nothing done). Returns 0, 1 or a negative errno with errstr.
 */
int pred_elo_run(struct sl_pg *pg, const char *sport, const char *date,
                 struct pred_elo_stats *stats, char *errstr, size_t errstr_size);

struct pred_kelly_stats {
        int candidates; /* props with two prices and an ensemble prediction */
        int staked;     /* bets with stake > 0 */
        int written;    /* prediction.prop_bets + kelly_portfolio rows inserted/changed/deleted */
        int ml_candidates, ml_staked; /* moneyline bets (prediction.moneyline_bets, in written) */
        double total_stake, expected_profit;
};

/*
 * Sizes the date's prop bets: for each raw.prop_lines row with an over and an
 * under price and an ensemble_v1 prediction (not NO_BET), P(over) by
 * pred_p_over with sd = the ensemble's newest RMSE (prediction.system_errors,
 * at least PRED_KELLY_MIN_SAMPLES samples, else PRED_KELLY_SD_*), the margin
 * removed proportionally (sl_odds_fair), the side with the larger edge; per
 * player and market the book with the largest edge; then sl_kelly_size over
 * the date with open_exposure = stakes of earlier dates whose game is not
 * final. Replaces the date's prediction.prop_bets and kelly_portfolio rows
 * (whole date, inside the caller's transaction). 0 or a negative errno.
 *
 * open (may be NULL): the open exposure of the last run, reused while the
 * change log (migration 0020) shows no change to the bets of earlier dates
 * or to any game since: summing every earlier bet took 15-25 ms a run on a
 * season, and an injury update's runs of one date change neither.
 */
struct pred_kelly_open {
        char sport[16], date[11];
        char fp[64]; /* change-log fingerprint it was computed under, "" = none */
        double value;
};

int pred_kelly_run(struct sl_pg *pg, const char *sport, const char *date,
                   const struct pred_kelly_cfg *cfg, struct pred_kelly_open *open,
                   struct pred_kelly_stats *stats, char *errstr, size_t errstr_size);

/*
 * Parses and checks the kelly.* texts into *out (bankroll > 0, fraction in
 * (0, 1], caps in (0, 1] with max_bet <= max_day <= max_portfolio, min_edge in
 * [0, 1)). Returns 0 or -EINVAL naming the key.
 */
int pred_kelly_cfg_parse(const char *const text[6], struct pred_kelly_cfg *out, char *errstr,
                         size_t errstr_size);

/* ---- NHL: Game Outcome Index win probabilities (nhl.c) --------------------------------- */

/* Counts of one GOI run. */
struct pred_nhl_stats {
        int games;     /* games of the date in raw.nhl_games */
        int predicted; /* games with both teams rated before the date */
        int written;   /* prediction.game_win_probs rows inserted or changed */
};

/*
 * For every game of date in raw.nhl_games: each team's TPI from its
 * analytics.nhl_team_ratings row of the game's season with the newest
 * as_of_date before the game date, sl_nhl_goi() (docs/models-nhl.md), and an
 * upsert into prediction.game_win_probs (sport 'nhl', model 'goi:nhl',
 * r_home/r_away = the TPIs rounded to 1e-4, p_home/p_away rounded to 1e-6).
 * A game with an unrated team is left out. Runs inside the caller's
 * transaction. Returns 0 or a negative errno with errstr.
 */
int pred_nhl_goi_run(struct sl_pg *pg, const char *date, struct pred_nhl_stats *stats, char *errstr,
                     size_t errstr_size);

/* ---- the service (prediction.c) ------------------------------------------------------ */

struct pred_cfg {
        struct sl_svc_cfg svc;
        struct sl_phase_cfg phase;        /* pg.*, publish.timeout_ms (SL_PHASE_PG_OPTS ...) */
        const char *model_dir;            /* where statline-train writes model files */
        const char *edge[PRED_N_MARKETS]; /* PASS band per market, text (validated at init) */
        const char *kelly[6]; /* kelly.bankroll, fraction, max_bet, max_day, max_portfolio,
                                 min_edge (text, validated at init) */
        const char *kelly_market_weight;    /* kelly.market_weight (text) */
        const char *kelly_ml_market_weight; /* kelly.moneyline_market_weight (text) */
};

/*
 * Unchanged inputs (inputs.c). A date's scoreboard pass and its props pass
 * usually predict the same players from the same rows; the second run is
 * skipped when an earlier committed run of the date saw the same inputs.
 *
 * pred_inputs_key(): the input fingerprint of a run of game_date: sha256
 * (hex, key_size > 64) of the date, context (the model and feature version),
 * the date's own rows (count + sum of updated_at of its prop lines and
 * schedule, the upcoming context's injury status by content; a few hundred
 * rows by index) and the history's change log (migration 0020: count +
 * sum(seq) per table over the dates the run reads: games up to the date;
 * box scores before it; feature rows up to it; system errors, Kelly bets
 * and portfolios, moneyline odds and bets). One statement, ~1 ms (summing
 * the season's rows themselves took 20-40 ms). 0 or -errno with errstr.
 *
 * pred_seen_covered(): true when a run of date with the same key predicted
 * every player of players ("{1,2}" literal; NULL = the whole date, covered
 * only by a whole-date run). pred_seen_record(): after COMMIT, adds the
 * run's players (or the whole date) to the date's entry; another key
 * replaces the entry. PRED_SEEN_DATES dates are kept (oldest dropped).
 * Pure (no I/O); memory only, so a restart recomputes.
 */
#define PRED_SEEN_DATES 8

struct pred_seen {
        char date[11]; /* "" = free slot */
        char key[65];
        bool whole;   /* a whole-date run saw key */
        int64_t *ids; /* sorted unique players predicted with key (heap) */
        size_t n;
};

struct pred_seen_cache {
        struct pred_seen e[PRED_SEEN_DATES];
        size_t next; /* slot replaced next */
};

int pred_inputs_key(struct sl_pg *pg, const char *game_date, const char *context, char *key,
                    size_t key_size, char *errstr, size_t errstr_size);
bool pred_seen_covered(const struct pred_seen_cache *c, const char *date, const char *key,
                       const char *players);
void pred_seen_record(struct pred_seen_cache *c, const char *date, const char *key,
                      const char *players);
/* Frees the entries; the cache is empty (zeroed) afterwards. */
void pred_seen_fini(struct pred_seen_cache *c);

struct pred_svc {
        const struct pred_cfg *cfg;
        struct sl_phase ph; /* PostgreSQL, bus, readiness (sl/phase.h) */
        double edge[PRED_N_MARKETS];
        struct pred_kelly_cfg kelly;
        struct pred_kelly_open kelly_open; /* Kelly's open exposure, reused (pred_kelly_run) */
        struct pred_model *model;          /* current xgboost_v1 model, NULL: none */
        char model_version[72];            /* its prediction.models key, "" when none */
        char model_feature_version[64];
        double model_mae;           /* its holdout MAE (sd for confidence), NaN unknown */
        struct pred_hcache *hcache; /* similarity history between runs (owned) */
        /* input fingerprints of committed runs (inputs.c) */
        struct pred_seen_cache seen;
        uint64_t handled, duplicates, failed;
        struct sl_svc *rt; /* the service runtime (set by main.c before pred_svc_open): the
                              system breakers; NULL: none */
};

/*
 * Connects, migrates, loads the current model. http (may be NULL) gets the
 * PostgreSQL readiness state. 0 or -errno with errstr.
 */
int pred_svc_open(struct pred_svc *svc, const struct pred_cfg *cfg, struct sl_bus *bus,
                  struct sl_http *http, char *errstr, size_t errstr_size);
void pred_svc_close(struct pred_svc *svc);
/*
 * The service loop's tick: loads a newly trained model when PostgreSQL
 * notified one (channel PRED_MODEL_CHANNEL) and probes PostgreSQL for
 * readiness. Returns 0.
 */
#define PRED_MODEL_CHANNEL "statline_model" /* NOTIFY of migration 0021 */
int pred_svc_tick(struct pred_svc *svc);

/*
 * (Re)loads the newest xgboost_v1 model of prediction.models when it differs
 * from the loaded one. No model row: svc->model stays NULL (not an error).
 * A row whose file is missing or corrupt: -EIO with the reason.
 */
int pred_svc_refresh_model(struct pred_svc *svc, char *errstr, size_t errstr_size);

/*
 * The bus handler for precompute.completed (opaque: struct pred_svc).
 * 0 (predicted and published, or nothing to predict), -EEXIST (the same
 * event was handled before), -EBADMSG (bad payload), or a retriable errno.
 */
int pred_handle(const struct sl_envelope *env, const struct sl_bus_msg *msg, void *opaque);

/*
 * pred_handle() for an event of sport "nhl" (nhl.c): pred_nhl_goi_run() for
 * the event's date in one transaction with the claim, the execution log
 * (processor goi) and the outbox, then prediction.completed published.
 * 0, -EEXIST (handled before), -EBADMSG (bad payload) or a retriable errno.
 */
int pred_nhl_handle(struct pred_svc *svc, const struct sl_envelope *env);

#endif
