/*
 * sl/kelly.h: fractional Kelly and the three caps on a worked slate whose
 * numbers are computed by hand in the comments.
 */
#include <errno.h>
#include <math.h>

#include <sl/kelly.h>

#include "sl_test.h"

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

static void test_full(void)
{
        /* f* = (p D - 1)/(D - 1): 0.55 at evens: 0.1/1 = 0.10; 0.6 at 2.5: 0.5/1.5 = 1/3 */
        SL_CHECK(NEAR(sl_kelly_full(0.55, 2.0), 0.10, 1e-15));
        SL_CHECK(NEAR(sl_kelly_full(0.60, 2.5), 1.0 / 3.0, 1e-15));
        SL_CHECK(sl_kelly_full(0.45, 2.0) == 0); /* negative edge: no bet */
        /* -110 (D = 21/11) at 0.55: (1.05 - 1)/(10/11) = 0.055 */
        SL_CHECK(NEAR(sl_kelly_full(0.55, 21.0 / 11.0), 0.055, 1e-12));
}

/*
 * Bankroll 1000, defaults: quarter Kelly, per bet 5%, day 15%, portfolio 30%.
 *   bet 0: p .55 @ 2.00   f* .10   -> 0.25*.10*1000   = 25.00
 *   bet 1: p .60 @ 2.50   f* 1/3   -> 83.33, capped   = 50.00 (5%)
 *   bet 2: p .45 @ 2.00   no edge  -> 0
 *   bet 3: p .55 @ 21/11  f* .055  -> 13.75
 * sum 88.75. Uncapped (no day/portfolio use yet) these stand.
 * With 100 already staked today, the day budget is 150 - 100 = 50:
 *   scale 50/88.75 = 0.5633803 -> 14.0845, 28.1690, 0, 7.7465
 * With 270 open, the portfolio budget is 300 - 270 = 30: scale 30/50 = 0.6
 *   -> 8.450704, 16.901408, 0, 4.647887 (sum 30)
 * expected profit = 8.450704*0.10 + 16.901408*0.50 + 4.647887*0.05 = 9.528169
 */
static void test_slate(void)
{
        const struct sl_kelly_bet bets[4] = {
            {.p = 0.55, .decimal = 2.0},
            {.p = 0.60, .decimal = 2.5},
            {.p = 0.45, .decimal = 2.0},
            {.p = 0.55, .decimal = 21.0 / 11.0},
        };
        struct sl_kelly_stake st[4];
        struct sl_kelly_summary sum;

        SL_CHECK(sl_kelly_size(NULL, 1000, 0, 0, bets, 4, st, &sum) == 0);
        SL_CHECK(NEAR(st[0].stake, 25.0, 1e-9) && st[0].capped == 0);
        SL_CHECK(NEAR(st[1].stake, 50.0, 1e-9) && st[1].capped == SL_KELLY_CAP_BET);
        SL_CHECK(st[2].stake == 0 && st[2].edge < 0);
        SL_CHECK(NEAR(st[3].stake, 13.75, 1e-9));
        SL_CHECK(sum.n_bets == 4 && sum.n_staked == 3 && NEAR(sum.total_stake, 88.75, 1e-9));
        SL_CHECK(sum.scale_day == 1 && sum.scale_portfolio == 1);

        SL_CHECK(sl_kelly_size(NULL, 1000, 100, 0, bets, 4, st, &sum) == 0);
        SL_CHECK(NEAR(sum.scale_day, 0.5633803, 1e-7) && NEAR(st[0].stake, 14.0845, 1e-4));
        SL_CHECK(NEAR(sum.total_stake, 50, 1e-9) && NEAR(sum.day_staked, 150, 1e-9));
        SL_CHECK(st[1].capped == (SL_KELLY_CAP_BET | SL_KELLY_CAP_DAY));

        SL_CHECK(sl_kelly_size(NULL, 1000, 100, 270, bets, 4, st, &sum) == 0);
        SL_CHECK(NEAR(sum.scale_portfolio, 0.6, 1e-12));
        SL_CHECK(NEAR(st[0].stake, 8.450704, 1e-6) && NEAR(st[1].stake, 16.901408, 1e-6) &&
                 NEAR(st[3].stake, 4.647887, 1e-6));
        SL_CHECK(NEAR(sum.total_stake, 30, 1e-9) && NEAR(sum.open_exposure, 300, 1e-9));
        SL_CHECK(NEAR(sum.expected_profit, 9.528169, 1e-6));
        SL_CHECK(st[3].capped == (SL_KELLY_CAP_DAY | SL_KELLY_CAP_PORTFOLIO));

        /* portfolio already full: nothing is staked */
        SL_CHECK(sl_kelly_size(NULL, 1000, 0, 400, bets, 4, st, &sum) == 0);
        SL_CHECK(sum.total_stake == 0 && sum.n_staked == 0);
}

/*
 * min_edge and a devigged fair price: -110 at p .55 has edge .55 - 11/21 =
 * 0.02619 against the raw price, 0.05 against the fair 0.5.
 * Half Kelly, 2% per-bet cap: 0.5 * .055 * 1000 = 27.5 -> 20.
 */
static void test_opts(void)
{
        struct sl_kelly_opts opts = {.fraction = 0.5, .max_bet = 0.02, .min_edge = 0.03};
        struct sl_kelly_bet bet = {.p = 0.55, .decimal = 21.0 / 11.0};
        struct sl_kelly_stake st;
        struct sl_kelly_summary sum;

        SL_CHECK(sl_kelly_size(&opts, 1000, 0, 0, &bet, 1, &st, &sum) == 0);
        SL_CHECK(st.stake == 0 && NEAR(st.edge, 0.55 - 11.0 / 21.0, 1e-12));
        bet.p_fair = 0.5;
        SL_CHECK(sl_kelly_size(&opts, 1000, 0, 0, &bet, 1, &st, &sum) == 0);
        SL_CHECK(NEAR(st.edge, 0.05, 1e-12) && NEAR(st.full_kelly, 0.055, 1e-12));
        SL_CHECK(NEAR(st.stake, 20, 1e-9) && st.capped == SL_KELLY_CAP_BET);
        SL_CHECK(NEAR(st.ev, 0.05, 1e-12));
}

static void test_invalid(void)
{
        struct sl_kelly_bet bets[2] = {{.p = 0.55, .decimal = 2.0}, {.p = 1.2, .decimal = 2.0}};
        struct sl_kelly_stake st[2] = {{.stake = 7}, {.stake = 7}};
        struct sl_kelly_opts neg = {.max_bet = -0.1};

        SL_CHECK(sl_kelly_size(NULL, 1000, 0, 0, bets, 2, st, NULL) == -EINVAL);
        SL_CHECK(st[0].stake == 7); /* nothing written */
        bets[1].p = 0.5;
        bets[1].decimal = 1.0;
        SL_CHECK(sl_kelly_size(NULL, 1000, 0, 0, bets, 2, st, NULL) == -EINVAL);
        bets[1].decimal = 2.0;
        SL_CHECK(sl_kelly_size(NULL, 0, 0, 0, bets, 2, st, NULL) == -EINVAL);
        SL_CHECK(sl_kelly_size(NULL, 1000, -1, 0, bets, 2, st, NULL) == -EINVAL);
        SL_CHECK(sl_kelly_size(&neg, 1000, 0, 0, bets, 2, st, NULL) == -EINVAL);
        SL_CHECK(sl_kelly_size(NULL, 1000, 0, 0, bets, 2, st, NULL) == 0);
}

int main(void)
{
        test_full();
        test_slate();
        test_opts();
        test_invalid();
        return SL_DONE();
}
