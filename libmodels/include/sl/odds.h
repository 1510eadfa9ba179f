#ifndef SL_ODDS_H
#define SL_ODDS_H

/*
 * Bookmaker odds: American <-> decimal conversion, implied probabilities,
 * margin (overround) removal and edge. Pure functions, no I/O, thread-safe.
 * Formulas and worked examples: docs/models.md ("Odds").
 *
 * Decimal odds D pay D units back (stake included) per unit staked, D > 1.
 * American odds A: A >= +100 pays A per 100 staked (D = 1 + A/100);
 * A <= -100 needs |A| staked to win 100 (D = 1 + 100/|A|).
 */

#include <stddef.h>

/* Ways to remove the bookmaker's margin from a market's implied probabilities. */
enum sl_odds_devig {
        SL_ODDS_PROPORTIONAL, /* p_i = q_i / sum(q) (multiplicative) */
        SL_ODDS_POWER,        /* p_i = q_i^k with k such that sum(p) = 1 */
        SL_ODDS_SHIN,         /* Shin (1993): insider share z solved so sum(p) = 1 */
};

/* American to decimal. Returns 0, or -EINVAL when |american| < 100 or not finite. */
int sl_odds_american_to_decimal(double american, double *decimal);

/*
 * Decimal to American: D >= 2 gives +100(D-1), D < 2 gives -100/(D-1).
 * Returns 0, or -EINVAL when decimal <= 1 or not finite.
 */
int sl_odds_decimal_to_american(double decimal, double *american);

/*
 * Parses odds text into decimal: "+150" / "-110" (a leading sign means
 * American) or "2.50" (decimal). Returns 0 or -EINVAL (empty, trailing
 * garbage, out of range). *decimal is written only on success.
 */
int sl_odds_parse(const char *text, double *decimal);

/* Implied probability 1/decimal (includes the margin). decimal must be > 1. */
double sl_odds_implied(double decimal);

/*
 * Overround of a market of n mutually exclusive outcomes: sum(1/D_i) - 1
 * (0.0476 for -110/-110). Returns 0 or -EINVAL (n < 2, a bad price).
 */
int sl_odds_overround(const double *decimal, size_t n, double *overround);

/*
 * Fair (margin-free) probabilities of a market of n >= 2 outcomes into
 * fair[0..n-1] (sums to 1 within 1e-12). *param, when not NULL, receives
 * the method's parameter (1 for proportional, the exponent k for power,
 * Shin's z). Returns 0, or -EINVAL (bad prices, n < 2, a market with
 * sum(1/D) < 1 for power/Shin) with fair untouched, or -ERANGE if the
 * solver does not converge.
 */
int sl_odds_fair(const double *decimal, size_t n, enum sl_odds_devig method, double *fair,
                 double *param);

/* Edge: model probability minus fair probability. */
double sl_odds_edge(double p_model, double p_fair);

/* Expected profit per unit staked at decimal odds: p*D - 1. */
double sl_odds_ev(double p_model, double decimal);

#endif
