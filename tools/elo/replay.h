#ifndef ELO_REPLAY_H
#define ELO_REPLAY_H

/*
 * statline-elo's evaluation core: replays FiveThirtyEight game files
 * through libmodels' Elo (replay.c), simulates seasons with known true
 * strengths (sim.c) and writes the report (report.c). README.md.
 */

#include <stdbool.h>
#include <stddef.h>

#include <sl/elo.h>

#define ELO_NBINS 10 /* calibration bins of width 0.1 */

/* Calibration of P(team 1 wins) in 10 equal-width bins. */
struct elo_calib {
        size_t n[ELO_NBINS];
        double sum_p[ELO_NBINS];   /* sum of predicted probabilities */
        double sum_obs[ELO_NBINS]; /* sum of outcomes (1 win, 0.5 tie, 0 loss/draw-for-soccer) */
};

/* What a replay measured. Errors are NaN where the file has no such column. */
struct elo_eval {
        enum sl_elo_sport sport;
        char source[256]; /* file name(s) */
        size_t rows;      /* rows read */
        size_t games;     /* completed games rated */
        double brier;     /* ours: binary, or 3-way (sum over win/draw/loss) for soccer */
        double brier_538; /* 538's probabilities on the same games */
        double logloss, logloss_538;
        double max_prob_err, mean_prob_err; /* |our P(team1) - 538's| */
        double max_pre_err;                 /* |our pre-game rating - 538's| */
        double max_post_err;                /* |our post-game rating - 538's|, both teams */
        double max_post_err_538prob;        /* same, one step from 538's pre and probability */
        double max_prob_err_resync; /* |our P - 538's| rating each game from 538's own pre */
        double max_post_err_resync; /* |our post - 538's| rating each game from 538's own pre */
        size_t post_ok;             /* chained games whose both posts are within 1e-6 of 538's */
        size_t chain_breaks;        /* team-games where 538's pre != its previous 538 post */
        char first_break[128];      /* the first such break, "date team delta" */
        double max_implied_hfa, min_implied_hfa; /* 538's implied home advantage (non-neutral) */
        struct elo_calib calib, calib_538;
};

/* Options of a replay. */
struct elo_replay_opts {
        enum sl_elo_sport sport;
        const char *initial; /* team,elo seeds (NFL); NULL: seed from each team's first pre */
        const char *league;  /* SPI files: league name to keep ("Barclays Premier League") */
        bool print_games;    /* write one CSV line per game to stdout */
        int from_season;     /* count games from this season on (0 = all); ratings run on all */
};

/*
 * Replays files[0..nfiles-1] (rows of one format; the format is detected
 * from the header: nfl_games, nba/mlb elo, nhl elo, spi_matches) and fills
 * *ev. Returns 0 or a negative errno with a reason in errstr.
 */
int elo_replay(const struct elo_replay_opts *opts, const char *const *files, size_t nfiles,
               struct elo_eval *ev, char *errstr, size_t errstr_size);

/* Adds one prediction p of outcome obs (0..1) to a calibration table. */
void elo_calib_add(struct elo_calib *calib, double p, double obs);

/* Simulation options (sim.c). */
struct elo_sim_opts {
        enum sl_elo_sport sport; /* tennis, ncaab or wncaab */
        unsigned long long seed;
        int teams;   /* players/teams; 0 = 64 (tennis) or 120 (college) */
        int seasons; /* 0 = 5 */
        int games;   /* games per team per season; 0 = 30 */
};

/* Per-season numbers of a simulation. */
struct elo_sim_season {
        int season;
        size_t games;
        double rmse;         /* rating vs truth, both centred on their means, end of season */
        double corr;         /* Pearson correlation rating vs truth */
        double brier;        /* our predictions this season */
        double brier_oracle; /* predictions from the true strengths */
};

/* The whole simulation: seasons[0..nseasons-1] and the overall evaluation. */
struct elo_sim_result {
        struct elo_sim_season *seasons; /* owned; free() */
        int nseasons;
        double truth_sd; /* spread of the true strengths */
        struct elo_eval ev;
};

/*
 * Simulates opts->seasons seasons with known true strengths and rates them
 * with the sport's parameters. Deterministic for a seed. Returns 0 or
 * -EINVAL (unsupported sport). Free res->seasons.
 */
int elo_simulate(const struct elo_sim_opts *opts, struct elo_sim_result *res);

/* Writes the Markdown and/or JSON report for evals[0..n-1] (either path may be NULL). */
int elo_report_write(const struct elo_eval *evals, size_t n, const struct elo_sim_result *sims,
                     size_t nsims, const char *md_path, const char *json_path, char *errstr,
                     size_t errstr_size);

#endif
