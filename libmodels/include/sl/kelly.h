#ifndef SL_KELLY_H
#define SL_KELLY_H

/*
 * Kelly stake sizing with a fractional multiplier and three caps (per bet,
 * per day, whole portfolio). Pure functions, no I/O, thread-safe.
 * Formulas and worked examples: docs/models.md ("Kelly").
 *
 * Sizing order for a slate of bets (sl_kelly_size):
 *   1. full Kelly f* = (p*D - 1) / (D - 1), 0 when the edge is below min_edge
 *      or f* <= 0;
 *   2. stake = fraction * f* * bankroll, cut to max_bet * bankroll;
 *   3. if the slate's stakes exceed what is left of the day's budget
 *      (max_day * bankroll - day_staked), all are scaled by one factor;
 *   4. likewise for the portfolio budget (max_portfolio * bankroll -
 *      open_exposure), open exposure being stakes on unsettled bets.
 * Scaling by one factor keeps the stakes' proportions (and so every per-bet
 * cap still holds).
 */

#include <stddef.h>

/* Option struct: all-zero means the defaults given per field. */
struct sl_kelly_opts {
        double fraction;      /* Kelly multiplier; 0 = 0.25 ("quarter Kelly") */
        double max_bet;       /* per-bet cap, fraction of bankroll; 0 = 0.05 */
        double max_day;       /* per-day cap on new stakes, fraction of bankroll; 0 = 0.15 */
        double max_portfolio; /* cap on open exposure, fraction of bankroll; 0 = 0.30 */
        double min_edge;      /* skip bets with p_model - p_fair below this; 0 = any > 0 */
};

/* One candidate bet. */
struct sl_kelly_bet {
        double p;       /* model probability that the bet wins, 0..1 */
        double decimal; /* decimal odds offered, > 1 */
        double p_fair;  /* margin-free market probability; 0 = use 1/decimal */
};

/* Flags in sl_kelly_stake.capped. */
#define SL_KELLY_CAP_BET       1u /* cut to max_bet */
#define SL_KELLY_CAP_DAY       2u /* scaled down by the day budget */
#define SL_KELLY_CAP_PORTFOLIO 4u /* scaled down by the portfolio budget */

/* The sizing of one bet. */
struct sl_kelly_stake {
        double edge;       /* p - p_fair */
        double ev;         /* expected profit per unit staked, p*D - 1 */
        double full_kelly; /* f*, fraction of bankroll (0 when not bet) */
        double stake;      /* final stake in bankroll units */
        unsigned capped;   /* SL_KELLY_CAP_* flags */
};

/* Totals for a slate. */
struct sl_kelly_summary {
        size_t n_bets;          /* candidates */
        size_t n_staked;        /* with stake > 0 */
        double total_stake;     /* sum of stakes */
        double expected_profit; /* sum of stake * ev */
        double scale_day;       /* factor applied in step 3 (1 = none) */
        double scale_portfolio; /* factor applied in step 4 (1 = none) */
        double day_staked;      /* day's stakes after this slate */
        double open_exposure;   /* open exposure after this slate */
};

/* Full Kelly fraction (p*D - 1)/(D - 1), or 0 when negative. p in [0,1], D > 1. */
double sl_kelly_full(double p, double decimal);

/*
 * Sizes a slate of n bets (see the order above) into stakes[0..n-1] and,
 * when summary is not NULL, *summary. opts may be NULL (defaults).
 * bankroll > 0; day_staked and open_exposure >= 0 are what is already staked
 * today and still open. Returns 0, or -EINVAL (bad bankroll, a p outside
 * [0,1], decimal <= 1, negative or inconsistent caps) with nothing written.
 */
int sl_kelly_size(const struct sl_kelly_opts *opts, double bankroll, double day_staked,
                  double open_exposure, const struct sl_kelly_bet *bets, size_t n,
                  struct sl_kelly_stake *stakes, struct sl_kelly_summary *summary);

#endif
