/*
 * Fractional Kelly with per-bet, per-day and portfolio caps (sl/kelly.h).
 */
#include <sl/kelly.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

double sl_kelly_full(double p, double decimal)
{
        double f = (p * decimal - 1.0) / (decimal - 1.0);

        return f > 0 ? f : 0.0;
}

/* Fills in the defaults of an all-zero option struct; -EINVAL for negatives. */
static int resolve_opts(const struct sl_kelly_opts *in, struct sl_kelly_opts *out)
{
        struct sl_kelly_opts o = {0};

        if (in)
                o = *in;
        if (!(o.fraction >= 0 && o.max_bet >= 0 && o.max_day >= 0 && o.max_portfolio >= 0 &&
              o.min_edge >= 0) ||
            o.fraction > 1.0)
                return -EINVAL; /* also rejects NaN */
        out->fraction = o.fraction > 0 ? o.fraction : 0.25;
        out->max_bet = o.max_bet > 0 ? o.max_bet : 0.05;
        out->max_day = o.max_day > 0 ? o.max_day : 0.15;
        out->max_portfolio = o.max_portfolio > 0 ? o.max_portfolio : 0.30;
        out->min_edge = o.min_edge;
        return 0;
}

static bool bets_valid(const struct sl_kelly_bet *bets, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const struct sl_kelly_bet *b = &bets[i];

                if (!(b->p >= 0 && b->p <= 1) || !(b->decimal > 1) || !isfinite(b->decimal) ||
                    !(b->p_fair >= 0 && b->p_fair <= 1))
                        return false;
        }
        return true;
}

/* Scales all stakes by one factor so their sum fits budget; returns the factor. */
static double fit_budget(struct sl_kelly_stake *stakes, size_t n, double total, double budget,
                         unsigned flag)
{
        double scale;

        if (budget < 0)
                budget = 0;
        if (total <= budget || total <= 0)
                return 1.0;
        scale = budget / total;
        for (size_t i = 0; i < n; i++) {
                if (stakes[i].stake > 0) {
                        stakes[i].stake *= scale;
                        stakes[i].capped |= flag;
                }
        }
        return scale;
}

int sl_kelly_size(const struct sl_kelly_opts *opts, double bankroll, double day_staked,
                  double open_exposure, const struct sl_kelly_bet *bets, size_t n,
                  struct sl_kelly_stake *stakes, struct sl_kelly_summary *summary)
{
        struct sl_kelly_opts o;
        struct sl_kelly_summary sum;
        double total = 0;

        if (resolve_opts(opts, &o) < 0 || !(bankroll > 0) || !isfinite(bankroll) ||
            !(day_staked >= 0) || !(open_exposure >= 0) || (n > 0 && (!bets || !stakes)) ||
            !bets_valid(bets, n))
                return -EINVAL;
        memset(&sum, 0, sizeof(sum));
        for (size_t i = 0; i < n; i++) {
                const struct sl_kelly_bet *b = &bets[i];
                struct sl_kelly_stake *s = &stakes[i];
                double fair = b->p_fair > 0 ? b->p_fair : 1.0 / b->decimal;

                memset(s, 0, sizeof(*s));
                s->edge = b->p - fair;
                s->ev = b->p * b->decimal - 1.0;
                if (s->edge <= 0 || s->edge < o.min_edge)
                        continue;
                s->full_kelly = sl_kelly_full(b->p, b->decimal);
                s->stake = o.fraction * s->full_kelly * bankroll;
                if (s->stake > o.max_bet * bankroll) {
                        s->stake = o.max_bet * bankroll;
                        s->capped |= SL_KELLY_CAP_BET;
                }
                total += s->stake;
        }
        sum.scale_day =
            fit_budget(stakes, n, total, o.max_day * bankroll - day_staked, SL_KELLY_CAP_DAY);
        total *= sum.scale_day;
        sum.scale_portfolio = fit_budget(
            stakes, n, total, o.max_portfolio * bankroll - open_exposure, SL_KELLY_CAP_PORTFOLIO);
        sum.n_bets = n;
        for (size_t i = 0; i < n; i++) {
                if (stakes[i].stake <= 0)
                        continue;
                sum.n_staked++;
                sum.total_stake += stakes[i].stake;
                sum.expected_profit += stakes[i].stake * stakes[i].ev;
        }
        sum.day_staked = day_staked + sum.total_stake;
        sum.open_exposure = open_exposure + sum.total_stake;
        if (summary)
                *summary = sum;
        return 0;
}
