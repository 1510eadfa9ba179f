/*
 * sl/elo.h: worked examples checked against numbers published by
 * FiveThirtyEight (rows of ../shared/data/elo CSV files quoted below) and
 * against hand arithmetic in the comments.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <sl/elo.h>

#include "sl_test.h"

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

static void test_expected(void)
{
        /* 1/(1+10^0) = 0.5; 1/(1+10^-1) = 1/1.1 = 0.9090...; 1/(1+10^0.5) = 1/4.16227766 */
        SL_CHECK(NEAR(sl_elo_expected(0, 400), 0.5, 1e-15));
        SL_CHECK(NEAR(sl_elo_expected(400, 400), 1.0 / 1.1, 1e-15));
        SL_CHECK(NEAR(sl_elo_expected(-200, 400), 0.2402530733520421, 1e-13));
}

static void test_sports(void)
{
        enum sl_elo_sport s;

        SL_CHECK(sl_elo_sport_parse("NBA", &s) == 0 && s == SL_ELO_NBA);
        SL_CHECK(sl_elo_sport_parse("ligue1", &s) == 0 && s == SL_ELO_LIGUE1);
        SL_CHECK(sl_elo_sport_parse("wncaab", &s) == 0 && s == SL_ELO_WNCAAB);
        SL_CHECK(sl_elo_sport_parse("curling", &s) == -EINVAL);
        SL_CHECK(sl_elo_params_get(SL_ELO_NSPORTS) == NULL);
        for (int i = 0; i < SL_ELO_NSPORTS; i++) {
                const struct sl_elo_params *p = sl_elo_params_get((enum sl_elo_sport)i);

                SL_CHECK(p &&
                         sl_elo_sport_parse(sl_elo_sport_name((enum sl_elo_sport)i), &s) == 0 &&
                         s == (enum sl_elo_sport)i);
                SL_CHECK(p->k > 0 && p->scale == 400);
        }
        /* draws only for soccer, no home side only for tennis */
        SL_CHECK(sl_elo_params_get(SL_ELO_EPL)->draw_max > 0);
        SL_CHECK(sl_elo_params_get(SL_ELO_LIGUE1)->draw_max > 0);
        SL_CHECK(sl_elo_params_get(SL_ELO_NBA)->draw_max == 0);
        SL_CHECK(!sl_elo_params_get(SL_ELO_TENNIS)->home_side);
        SL_CHECK(sl_elo_diff(sl_elo_params_get(SL_ELO_TENNIS), 1600, 1500, false) == 100);
        SL_CHECK(sl_elo_diff(sl_elo_params_get(SL_ELO_NFL), 1600, 1500, false) == 165);
        SL_CHECK(sl_elo_diff(sl_elo_params_get(SL_ELO_NFL), 1600, 1500, true) == 100);
}

/*
 * NFL, first row of nfl_games_538_1920-2020.csv:
 *   1920-09-26 RII 1503.947 (home) vs STP 1300.0, elo_prob1 0.8246512009492516, 48-0.
 * diff = 1503.947 - 1300 + 65 = 268.947; p = 1/(10^(-0.6723675)+1) = 0.82465120
 * mult = ln(48+1) * 2.2/(0.268947 + 2.2) = 3.8918203 * 0.8910769 = 3.4678771
 * shift = 20 * 3.4678771 * (1 - 0.8246512) = 12.161762
 * RII's next game (1920-10-03) starts at 1516.108 (1503.947 + 12.1618, cut to 3 decimals).
 */
static void test_nfl_row(void)
{
        const struct sl_elo_params *p = sl_elo_params_get(SL_ELO_NFL);
        struct sl_elo_game g = {.r1 = 1503.947, .r2 = 1300.0, .score1 = 48, .score2 = 0};
        struct sl_elo_outcome o;

        SL_CHECK(sl_elo_rate(p, &g, &o) == 0);
        SL_CHECKF(NEAR(o.expect1, 0.8246512009492516, 1e-12), "p=%.16f", o.expect1);
        SL_CHECK(NEAR(o.mult, 3.4678771, 1e-6));
        SL_CHECK(NEAR(o.shift1, 12.161762, 1e-5));
        SL_CHECK(NEAR(o.r1_post, 1516.108, 1e-3));
        SL_CHECK(o.shift2 == -o.shift1); /* zero-sum */
        /* a tie: ln(max(0,1)+1)*2.2/1.0 = 1.5249238 */
        SL_CHECK(NEAR(sl_elo_mov_mult(p, 0, 0, true), log(2.0) * 2.2, 1e-15));
}

/*
 * NBA, first two rows of nba_elo_538_2021-22.csv (K 20, HFA 100):
 *   MIL 1657.7498895549 vs BRK 1605.05373238011, 127-104, posts 1667.19778198462 / 1595.60583995039
 *     diff 152.696157, p 0.706612826, mult 26^0.8/(7.5+0.006*152.696) = 13.5514/8.41618 = 1.610141
 *   LAL 1549.25885123597 vs GSW 1529.01090831809, 114-121 (favourite lost),
 *     posts 1536.85182817036 / 1541.4179313837; winner diff -120.248, mult 10^0.8/(7.5-0.7215) =
 * 0.930820
 */
static void test_nba_rows(void)
{
        const struct sl_elo_params *p = sl_elo_params_get(SL_ELO_NBA);
        struct sl_elo_game g1 = {
            .r1 = 1657.7498895549, .r2 = 1605.05373238011, .score1 = 127, .score2 = 104};
        struct sl_elo_game g2 = {.r1 = 1549.25885123597,
                                 .r2 = 1529.01090831809,
                                 .score1 = 114,
                                 .score2 = 121,
                                 .playoff = true};
        struct sl_elo_outcome o;

        SL_CHECK(sl_elo_rate(p, &g1, &o) == 0);
        SL_CHECK(NEAR(o.expect1, 0.7066128262873809, 1e-12));
        SL_CHECK(NEAR(o.mult, 1.610141, 1e-6));
        SL_CHECK(NEAR(o.r1_post, 1667.19778198462, 1e-8));
        SL_CHECK(NEAR(o.r2_post, 1595.60583995039, 1e-8));
        SL_CHECK(sl_elo_rate(p, &g2, &o) == 0); /* playoff K is also 20 (README) */
        SL_CHECK(NEAR(o.expect1, 0.6664567717577439, 1e-12));
        SL_CHECK(NEAR(o.mult, 0.930820, 1e-6));
        SL_CHECK(NEAR(o.r1_post, 1536.85182817036, 1e-8));
        SL_CHECK(NEAR(o.r2_post, 1541.4179313837, 1e-8));
}

/*
 * NHL, first row of nhl_elo_538_2022-23.csv (neutral site, Prague):
 *   NSH 1506.26777290077 vs SJS 1450.24086317589, 4-1, p 0.579937497189804,
 *   posts 1510.04425524312 / 1446.46438083354.
 *   mult = (0.6686 ln 3 + 0.8048) * 2.05/(2.05 + 0.056027) = 1.539331 * 0.973400 = 1.498381
 *   shift = 6 * 1.498381 * 0.420063 = 3.776482
 */
static void test_nhl_row(void)
{
        struct sl_elo_game g = {.r1 = 1506.26777290077,
                                .r2 = 1450.24086317589,
                                .neutral = true,
                                .score1 = 4,
                                .score2 = 1};
        struct sl_elo_outcome o;

        SL_CHECK(sl_elo_rate(sl_elo_params_get(SL_ELO_NHL), &g, &o) == 0);
        SL_CHECK(NEAR(o.expect1, 0.579937497189804, 1e-12));
        SL_CHECK(NEAR(o.mult, 1.498381, 1e-6));
        SL_CHECK(NEAR(o.r1_post, 1510.04425524312, 1e-8));
        SL_CHECK(NEAR(o.r2_post, 1446.46438083354, 1e-8));
}

static void test_soccer(void)
{
        const struct sl_elo_params *p = sl_elo_params_get(SL_ELO_EPL);
        double w, d, l;
        struct sl_elo_game g = {.r1 = 1500, .r2 = 1500, .neutral = true, .score1 = 1, .score2 = 1};
        struct sl_elo_outcome o;

        /* goals multiplier: 0/1 goal 1, 2 goals 1.5, 3 goals 14/8, 5 goals 16/8 */
        SL_CHECK(sl_elo_mov_mult(p, 0, 0, true) == 1.0);
        SL_CHECK(sl_elo_mov_mult(p, 1, 0, false) == 1.0);
        SL_CHECK(sl_elo_mov_mult(p, 2, 0, false) == 1.5);
        SL_CHECK(sl_elo_mov_mult(p, 3, 0, false) == 1.75);
        SL_CHECK(sl_elo_mov_mult(p, -5, 0, false) == 2.0);
        /* e = 0.5: draw 0.28 * 4 * 0.25 = 0.28, win = loss = 0.36 */
        sl_elo_probs3(p, 0.5, &w, &d, &l);
        SL_CHECK(NEAR(d, 0.28, 1e-15) && NEAR(w, 0.36, 1e-15) && NEAR(l, 0.36, 1e-15));
        /* e = 0.8: draw 0.28 * 4 * 0.16 = 0.1792, win 0.8 - 0.0896 = 0.7104, loss 0.1104 */
        sl_elo_probs3(p, 0.8, &w, &d, &l);
        SL_CHECK(NEAR(d, 0.1792, 1e-12) && NEAR(w, 0.7104, 1e-12) && NEAR(l, 0.1104, 1e-12));
        /* an even draw moves nothing; a 3-0 home win at equal ratings, HFA 60:
         * e = 1/(1+10^(-0.15)) = 0.5854987, shift = 20 * 1.75 * 0.4145013 = 14.507546 */
        SL_CHECK(sl_elo_rate(p, &g, &o) == 0 && o.result1 == 0.5 && o.shift1 == 0);
        g.neutral = false;
        g.score1 = 3;
        g.score2 = 0;
        SL_CHECK(sl_elo_rate(p, &g, &o) == 0);
        SL_CHECK(NEAR(o.expect1, 0.5854990, 1e-6));
        SL_CHECK(NEAR(o.shift1, 14.507546, 1e-5));
        SL_CHECK(NEAR(o.p_win1 + o.p_draw + o.p_win2, 1.0, 1e-15));
}

/* 538 tennis K: 250/(0+5)^0.4 = 131.32639, 250/(95+5)^0.4 = 250/6.3095734 = 39.62233 */
static void test_tennis(void)
{
        const struct sl_elo_params *p = sl_elo_params_get(SL_ELO_TENNIS);
        struct sl_elo_game g = {
            .r1 = 1500, .r2 = 1500, .score1 = 2, .score2 = 1, .played1 = 0, .played2 = 95};
        struct sl_elo_outcome o;

        SL_CHECK(NEAR(sl_elo_k(p, false, 0), 131.32639, 1e-5));
        SL_CHECK(NEAR(sl_elo_k(p, false, 95), 39.62233, 1e-5));
        SL_CHECK(sl_elo_rate(p, &g, &o) == 0);
        SL_CHECK(o.diff == 0 && o.p_draw == 0); /* no home side even though neutral=false */
        SL_CHECK(NEAR(o.shift1, 65.663195, 1e-5));
        SL_CHECK(NEAR(o.shift2, -19.811165, 1e-5));
}

static void test_carry_and_league(void)
{
        const struct sl_elo_params *nfl = sl_elo_params_get(SL_ELO_NFL);
        struct sl_elo_league *league = sl_elo_league_new(nfl);
        struct sl_elo_match m = {
            .team1 = "CLE", .team2 = "PIT", .season = 1998, .score1 = 10, .score2 = 10};
        struct sl_elo_outcome o;
        double r;
        int played;

        /* 1505/3 + 1600*2/3 = 1568.3333; NBA: 1505/4 + 1600*3/4 = 1576.25 */
        SL_CHECK(NEAR(sl_elo_carry(nfl, 1600), 1568.3333333333, 1e-9));
        SL_CHECK(NEAR(sl_elo_carry(sl_elo_params_get(SL_ELO_NBA), 1600), 1576.25, 1e-12));

        SL_CHECK(sl_elo_league_set(league, "CLE", 1400) == 0);
        SL_CHECK(sl_elo_league_set(league, "PIT", 1600) == 0);
        SL_CHECK(sl_elo_league_play(league, &m, &o) == 0);
        SL_CHECK(o.r1 == 1400 && o.r2 == 1600); /* seeds: no carry-over before the first game */
        /* 1999: CLE restarts at 538's listed 1300.0, PIT is carried over */
        SL_CHECK(sl_elo_league_get(league, "PIT", &r, &played) == 0 && played == 1);
        m.season = 1999;
        SL_CHECK(sl_elo_league_predict(league, &m, &o) == 0);
        SL_CHECK(o.r1 == 1300.0);
        SL_CHECK(NEAR(o.r2, 1505.0 / 3 + r * 2 / 3, 1e-9));
        /* predict stored nothing; bad input changes nothing */
        SL_CHECK(sl_elo_league_get(league, "CLE", &r, &played) == 0 && played == 1 && r != 1300);
        m.team2 = "CLE";
        SL_CHECK(sl_elo_league_play(league, &m, &o) == -EINVAL);
        m.team2 = "NEW";
        m.score1 = -1;
        SL_CHECK(sl_elo_league_play(league, &m, &o) == -EINVAL);
        SL_CHECK(sl_elo_league_count(league) == 2);
        SL_CHECK(sl_elo_league_get(league, "NEW", &r, NULL) == -ENOENT);
        m.score1 = 3;
        SL_CHECK(sl_elo_league_play(league, &m, &o) == 0 && o.r2 == nfl->initial);
        SL_CHECK(sl_elo_league_count(league) == 3);
        SL_CHECK(sl_elo_league_team(league, 3, NULL, NULL, NULL) == -ERANGE);
        sl_elo_league_free(league);
        sl_elo_league_free(NULL);
}

/* Grows the table past its first hash size and checks every rating survives. */
static void test_league_many(void)
{
        struct sl_elo_league *league = sl_elo_league_new(sl_elo_params_get(SL_ELO_NCAAB));
        char name[16];
        bool ok = true;
        double r;

        for (int i = 0; i < 500; i++) {
                snprintf(name, sizeof(name), "team%d", i);
                ok = ok && sl_elo_league_set(league, name, 1000 + i) == 0;
        }
        for (int i = 0; i < 500; i++) {
                snprintf(name, sizeof(name), "team%d", i);
                ok = ok && sl_elo_league_get(league, name, &r, NULL) == 0 && r == 1000 + i;
        }
        SL_CHECK(ok && sl_elo_league_count(league) == 500);
        sl_elo_league_free(league);
}

/*
 * Convergence (independent of tools/elo's simulator): 20 players with known
 * strengths 1300..1680 play 6000 random matches decided by their true Elo
 * probability; the ratings must end close to the truth.
 */
static uint64_t xorshift(uint64_t x)
{
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
}

static void test_tennis_converges(void)
{
        struct sl_elo_league *league = sl_elo_league_new(sl_elo_params_get(SL_ELO_TENNIS));
        uint64_t x = 88172645463325252ULL; /* xorshift64 */
        double truth[20], mr = 0, mt = 0, se = 0, first_err = 0;
        char n1[8], n2[8];

        for (int i = 0; i < 20; i++)
                truth[i] = 1300 + 20 * i;
        for (int g = 0; g < 6000; g++) {
                int i, j;
                double u;
                struct sl_elo_match m = {.team1 = n1, .team2 = n2, .season = 1};
                struct sl_elo_outcome o;

                x = xorshift(x);
                i = (int)(x % 20);
                j = (int)((x >> 20) % 19);
                j += j >= i;
                x = xorshift(x);
                u = (double)(x >> 11) / 9007199254740992.0;
                snprintf(n1, sizeof(n1), "p%d", i);
                snprintf(n2, sizeof(n2), "p%d", j);
                m.score1 = u < 1.0 / (1.0 + pow(10.0, -(truth[i] - truth[j]) / 400.0)) ? 1 : 0;
                m.score2 = 1 - m.score1;
                sl_elo_league_play(league, &m, &o);
                if (g == 199) { /* error after 200 matches, for comparison */
                        for (int k = 0; k < 20; k++) {
                                double r = 1500;

                                snprintf(n1, sizeof(n1), "p%d", k);
                                sl_elo_league_get(league, n1, &r, NULL);
                                first_err += fabs((r - 1500) - (truth[k] - 1490)) / 20;
                        }
                }
        }
        for (int k = 0; k < 20; k++) {
                double r;

                snprintf(n1, sizeof(n1), "p%d", k);
                SL_CHECK(sl_elo_league_get(league, n1, &r, NULL) == 0);
                mr += r / 20;
                mt += truth[k] / 20;
        }
        for (int k = 0; k < 20; k++) {
                double r;

                snprintf(n1, sizeof(n1), "p%d", k);
                sl_elo_league_get(league, n1, &r, NULL);
                se += ((r - mr) - (truth[k] - mt)) * ((r - mr) - (truth[k] - mt)) / 20;
        }
        /* the truth's spread is sd 115.3 (20 steps of 20); ratings keep K ~ 19 noise */
        SL_CHECKF(sqrt(se) < 0.5 * 115.3, "rmse %.1f after 6000 matches (first 200: mean err %.1f)",
                  sqrt(se), first_err);
        SL_CHECKF(sqrt(se) < first_err, "rmse %.1f vs %.1f", sqrt(se), first_err);
        sl_elo_league_free(league);
}

static void test_bad_input(void)
{
        const struct sl_elo_params *p = sl_elo_params_get(SL_ELO_NBA);
        struct sl_elo_game g = {.r1 = NAN, .r2 = 1500};
        struct sl_elo_outcome o = {.shift1 = 42};

        SL_CHECK(sl_elo_rate(p, &g, &o) == -EINVAL && o.shift1 == 42);
        g.r1 = 1500;
        g.score2 = -3;
        SL_CHECK(sl_elo_rate(p, &g, &o) == -EINVAL);
        SL_CHECK(sl_elo_rate(NULL, &g, &o) == -EINVAL);
        SL_CHECK(sl_elo_league_new(NULL) == NULL);
}

int main(void)
{
        test_expected();
        test_sports();
        test_nfl_row();
        test_nba_rows();
        test_nhl_row();
        test_soccer();
        test_tennis();
        test_carry_and_league();
        test_league_many();
        test_tennis_converges();
        test_bad_input();
        return SL_DONE();
}
