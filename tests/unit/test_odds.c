/*
 * sl/odds.h: conversions and margin removal on worked examples computed by
 * hand (comments), plus model identities that do not reuse the code's own
 * formulas (Shin = additive for two outcomes; Shin's forward pricing model).
 */
#include <errno.h>
#include <math.h>

#include <sl/odds.h>

#include "sl_test.h"

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

static void test_convert(void)
{
        double d = 0, a = 0;

        /* +150 pays 150 per 100: 2.50; -110 pays 100 per 110: 1 + 100/110 = 1.909090... */
        SL_CHECK(sl_odds_american_to_decimal(150, &d) == 0 && NEAR(d, 2.5, 1e-15));
        SL_CHECK(sl_odds_american_to_decimal(-110, &d) == 0 && NEAR(d, 21.0 / 11.0, 1e-15));
        SL_CHECK(sl_odds_american_to_decimal(100, &d) == 0 && d == 2.0);
        SL_CHECK(sl_odds_american_to_decimal(-100, &d) == 0 && d == 2.0);
        /* 1.50 -> -100/0.5 = -200; 3.75 -> +275 */
        SL_CHECK(sl_odds_decimal_to_american(1.5, &a) == 0 && NEAR(a, -200, 1e-12));
        SL_CHECK(sl_odds_decimal_to_american(3.75, &a) == 0 && NEAR(a, 275, 1e-12));
        SL_CHECK(sl_odds_decimal_to_american(21.0 / 11.0, &a) == 0 && NEAR(a, -110, 1e-9));
        d = 7;
        SL_CHECK(sl_odds_american_to_decimal(50, &d) == -EINVAL && d == 7);
        SL_CHECK(sl_odds_american_to_decimal(NAN, &d) == -EINVAL);
        SL_CHECK(sl_odds_decimal_to_american(1.0, &a) == -EINVAL);
        /* parsing: a sign means American */
        SL_CHECK(sl_odds_parse("+150", &d) == 0 && NEAR(d, 2.5, 1e-15));
        SL_CHECK(sl_odds_parse("-200", &d) == 0 && NEAR(d, 1.5, 1e-15));
        SL_CHECK(sl_odds_parse("2.75", &d) == 0 && d == 2.75);
        d = 7;
        SL_CHECK(sl_odds_parse("2.75x", &d) == -EINVAL && d == 7);
        SL_CHECK(sl_odds_parse("", &d) == -EINVAL);
        SL_CHECK(sl_odds_parse("0.9", &d) == -EINVAL);
        SL_CHECK(sl_odds_parse("+50", &d) == -EINVAL);
        /* implied probability and EV: 1/2.5 = 0.4; 0.45 * 2.5 - 1 = 0.125 */
        SL_CHECK(NEAR(sl_odds_implied(2.5), 0.4, 1e-15));
        SL_CHECK(NEAR(sl_odds_ev(0.45, 2.5), 0.125, 1e-15));
        SL_CHECK(NEAR(sl_odds_edge(0.45, 0.4), 0.05, 1e-15));
}

static void test_margin(void)
{
        double both[2] = {21.0 / 11.0, 21.0 / 11.0}, fair[3], k = 0, o = 0;
        double big[2] = {1.25, 1.0 / 0.6};
        double soccer[3] = {2.10, 3.40, 3.60};

        /* -110/-110: 2 * 11/21 - 1 = 1/21 = 0.047619; every method gives 0.5/0.5 */
        SL_CHECK(sl_odds_overround(both, 2, &o) == 0 && NEAR(o, 1.0 / 21.0, 1e-15));
        for (int m = SL_ODDS_PROPORTIONAL; m <= SL_ODDS_SHIN; m++)
                SL_CHECK(sl_odds_fair(both, 2, (enum sl_odds_devig)m, fair, NULL) == 0 &&
                         NEAR(fair[0], 0.5, 1e-12) && NEAR(fair[1], 0.5, 1e-12));

        /* q = 0.8, 0.6 (sum 1.4): proportional 0.8/1.4 = 0.571429, 0.6/1.4 = 0.428571 */
        SL_CHECK(sl_odds_fair(big, 2, SL_ODDS_PROPORTIONAL, fair, &k) == 0);
        SL_CHECK(NEAR(fair[0], 4.0 / 7.0, 1e-12) && NEAR(fair[1], 3.0 / 7.0, 1e-12) && k == 1);
        /* power: 0.8^2 + 0.6^2 = 1, so k = 2 and fair = 0.64, 0.36 */
        SL_CHECK(sl_odds_fair(big, 2, SL_ODDS_POWER, fair, &k) == 0);
        SL_CHECK(NEAR(k, 2.0, 1e-9) && NEAR(fair[0], 0.64, 1e-9) && NEAR(fair[1], 0.36, 1e-9));
        /* Shin with two outcomes equals the additive method: q_i - (sum - 1)/2 = 0.6, 0.4 */
        SL_CHECK(sl_odds_fair(big, 2, SL_ODDS_SHIN, fair, &k) == 0);
        SL_CHECK(NEAR(fair[0], 0.6, 1e-9) && NEAR(fair[1], 0.4, 1e-9));

        /* 3-way 2.10/3.40/3.60: q = 0.476190, 0.294118, 0.277778, sum 1.048086
         * proportional: 0.454343, 0.280624, 0.265033 */
        SL_CHECK(sl_odds_overround(soccer, 3, &o) == 0 && NEAR(o, 0.048086, 1e-6));
        SL_CHECK(sl_odds_fair(soccer, 3, SL_ODDS_PROPORTIONAL, fair, NULL) == 0);
        SL_CHECK(NEAR(fair[0], 0.454343, 1e-6) && NEAR(fair[1], 0.280624, 1e-6) &&
                 NEAR(fair[2], 0.265033, 1e-6));
        /* Shin: the forward model q_i = sqrt(z p_i + (1-z) p_i^2) * sum_j sqrt(z p_j + (1-z) p_j^2)
         * must give back the quoted prices; favourite-longshot: the favourite keeps more */
        SL_CHECK(sl_odds_fair(soccer, 3, SL_ODDS_SHIN, fair, &k) == 0 && k > 0 && k < 0.1);
        {
                double s = 0;

                for (int i = 0; i < 3; i++)
                        s += sqrt(k * fair[i] + (1 - k) * fair[i] * fair[i]);
                for (int i = 0; i < 3; i++)
                        SL_CHECK(NEAR(sqrt(k * fair[i] + (1 - k) * fair[i] * fair[i]) * s,
                                      1.0 / soccer[i], 1e-10));
                SL_CHECK(fair[0] > 0.454343 && fair[2] < 0.265033);
        }
        /* power: sum of q_i^k is 1 and the longshot loses most */
        SL_CHECK(sl_odds_fair(soccer, 3, SL_ODDS_POWER, fair, &k) == 0 && k > 1);
        SL_CHECK(NEAR(pow(1 / 2.10, k) + pow(1 / 3.40, k) + pow(1 / 3.60, k), 1.0, 1e-10));
        SL_CHECK(NEAR(fair[0] + fair[1] + fair[2], 1.0, 1e-12));

        /* bad markets: one outcome, a price <= 1, no margin for power/Shin */
        fair[0] = 9;
        SL_CHECK(sl_odds_fair(soccer, 1, SL_ODDS_PROPORTIONAL, fair, NULL) == -EINVAL);
        SL_CHECK(sl_odds_fair((double[]){1.0, 3.0}, 2, SL_ODDS_PROPORTIONAL, fair, NULL) ==
                 -EINVAL);
        SL_CHECK(sl_odds_fair((double[]){2.2, 2.2}, 2, SL_ODDS_SHIN, fair, NULL) == -EINVAL);
        SL_CHECK(fair[0] == 9); /* untouched */
}

int main(void)
{
        test_convert();
        test_margin();
        return SL_DONE();
}
