/*
 * The Odds API moneyline parser (services/raw/parse_odds.c, kind "odds") on
 * good and bad payloads, the fixture server's odds round-tripped through
 * it, and a moneyline worked by hand: margin removal (proportional) and the
 * Kelly stake (sl/odds.h, sl/kelly.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sl/kelly.h>
#include <sl/odds.h>
#include <sl/util.h>

#include "odds_render.h"
#include "parsers.h"
#include "sim.h"
#include "sl_test.h"

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

/* One event with the two given outcome blocks per book (JSON text fragments). */
#define EVENT(id, when, home, away, books)                                                         \
        "{\"id\":\"" id "\",\"sport_key\":\"basketball_nba\",\"sport_title\":\"NBA\","             \
        "\"commence_time\":\"" when "\",\"home_team\":\"" home "\",\"away_team\":\"" away "\","    \
        "\"bookmakers\":[" books "]}"
#define BOOK(key, outcomes)                                                                        \
        "{\"key\":\"" key "\",\"title\":\"T\",\"last_update\":\"2024-11-05T16:02:00Z\","           \
        "\"markets\":[{\"key\":\"h2h\",\"last_update\":\"2024-11-05T16:02:00Z\",\"outcomes\":"     \
        "[" outcomes "]}]}"
#define OUT(name, price) "{\"name\":\"" name "\",\"price\":" price "}"

static const char GOOD[] = "[" EVENT(
    "e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
    BOOK("draftkings", OUT("Atlanta Hawks", "-150") "," OUT("Orlando Magic", "130")) "," BOOK(
        "fanduel", OUT("Orlando Magic", "120") "," OUT(
                       "Atlanta Hawks",
                       "-140"))) "," EVENT("e2", "2024-11-06T03:30:00Z", "LA Clippers",
                                           "Boston Celtics",
                                           BOOK("draftkings", OUT("LA Clippers", "105") "," OUT(
                                                                  "Boston Celtics", "-125"))) "]";

static const char *cell(const struct raw_table *t, size_t r, const char *col)
{
        return raw_table_cell(t, r, (size_t)raw_table_col_index(t, col));
}

static void test_good(void)
{
        struct raw_batch *b = NULL;
        char err[256];
        const struct raw_table *t;

        SL_CHECKF(raw_parse("odds", GOOD, strlen(GOOD), NULL, &b, err, sizeof(err)) == 0, "%s",
                  err);
        SL_CHECK(b && raw_batch_kind(b) == RAW_KIND_ODDS);
        t = b ? raw_batch_find(b, "raw.moneyline_odds") : NULL;
        SL_CHECK(t && raw_table_nrows(t) == 3);
        if (!t) {
                raw_batch_free(b);
                return;
        }
        /* 00:00Z = 19:00 EST on the 5th; 03:30Z = 22:30 EST on the 5th */
        SL_CHECK(strcmp(cell(t, 0, "game_date"), "2024-11-05") == 0);
        SL_CHECK(strcmp(cell(t, 2, "game_date"), "2024-11-05") == 0);
        SL_CHECK(strcmp(raw_batch_date(b), "2024-11-05") == 0);
        SL_CHECK(strcmp(cell(t, 0, "home_team_id"), "1610612737") == 0); /* ATL */
        SL_CHECK(strcmp(cell(t, 0, "away_team_id"), "1610612753") == 0); /* ORL */
        SL_CHECK(strcmp(cell(t, 2, "home_team_id"), "1610612746") == 0); /* LAC */
        SL_CHECK(strcmp(cell(t, 2, "away_team_id"), "1610612738") == 0); /* BOS */
        SL_CHECK(strcmp(cell(t, 1, "book"), "fanduel") == 0);
        /* outcome order does not matter: fanduel lists the away team first */
        SL_CHECK(strtod(cell(t, 1, "home_price"), NULL) == -140);
        SL_CHECK(strtod(cell(t, 1, "away_price"), NULL) == 120);
        /* -150 -> 1 + 100/150 = 1.666667; +130 -> 2.30 */
        SL_CHECK(NEAR(strtod(cell(t, 0, "home_decimal"), NULL), 1.666667, 1e-6));
        SL_CHECK(NEAR(strtod(cell(t, 0, "away_decimal"), NULL), 2.3, 1e-9));
        SL_CHECK(strcmp(cell(t, 0, "odds_format"), "american") == 0);
        SL_CHECK(strcmp(cell(t, 0, "event_id"), "e1") == 0);
        raw_batch_free(b);

        /* decimal prices; "auto" detects the kind from the array shape */
        {
                static const char dec[] = "[" EVENT(
                    "e3", "2024-11-05T19:00:00.000Z", "Denver Nuggets", "Utah Jazz",
                    BOOK("betmgm", OUT("Denver Nuggets", "1.42") "," OUT("Utah Jazz", "2.95"))) "]";
                SL_CHECKF(raw_parse(NULL, dec, strlen(dec), NULL, &b, err, sizeof(err)) == 0, "%s",
                          err);
                t = b ? raw_batch_find(b, "raw.moneyline_odds") : NULL;
                SL_CHECK(t && raw_table_nrows(t) == 1 &&
                         strcmp(cell(t, 0, "odds_format"), "decimal") == 0 &&
                         NEAR(strtod(cell(t, 0, "home_decimal"), NULL), 1.42, 1e-9));
                raw_batch_free(b);
        }
        /* a day without events */
        SL_CHECK(raw_parse("odds", "[]", 2, NULL, &b, err, sizeof(err)) == 0);
        t = b ? raw_batch_find(b, "raw.moneyline_odds") : NULL;
        SL_CHECK(t && raw_table_nrows(t) == 0);
        raw_batch_free(b);
}

/* A bad payload: -EBADMSG, no batch, and a reason containing want. */
static void bad(const char *payload, const char *want)
{
        struct raw_batch *b = (struct raw_batch *)1;
        char err[256] = "";
        int rc = raw_parse("odds", payload, strlen(payload), NULL, &b, err, sizeof(err));

        SL_CHECKF(rc == -EBADMSG && b == NULL && strstr(err, want) != NULL,
                  "rc=%d want '%s' got '%s'", rc, want, err);
}

static void test_bad(void)
{
        bad("[" EVENT("e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Springfield Isotopes",
                      BOOK("dk", OUT("Atlanta Hawks", "-150") "," OUT("Springfield Isotopes",
                                                                      "130"))) "]",
            "unknown team \"Springfield Isotopes\"");
        bad("[" EVENT(
                "e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
                BOOK("dk", OUT("Atlanta Hawks", "\"-150\"") "," OUT("Orlando Magic", "130"))) "]",
            "expected a number, got string");
        bad("[" EVENT("e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
                      BOOK("dk", OUT("Atlanta Hawks", "-150"))) "]",
            "missing the outcome of \"Orlando Magic\"");
        bad("[" EVENT(
                "e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
                BOOK("dk", OUT("Atlanta Hawks", "-150") "," OUT("Orlando Magic", "2.30"))) "]",
            "American and decimal prices mixed");
        bad("[" EVENT("e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
                      BOOK("dk", OUT("Atlanta Hawks", "-50") "," OUT("Orlando Magic", "130"))) "]",
            "neither American odds nor decimal");
        bad("[" EVENT("e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
                      BOOK("dk", OUT("Atlanta Hawks", "-150") "," OUT("Miami Heat", "130"))) "]",
            "is neither team");
        bad("[" EVENT("e1", "tomorrow", "Atlanta Hawks", "Orlando Magic",
                      BOOK("dk", OUT("Atlanta Hawks", "-150") "," OUT("Orlando Magic", "130"))) "]",
            "not an ISO UTC time");
        bad("[" EVENT("e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
                      BOOK("dk", OUT("Atlanta Hawks", "200") "," OUT("Orlando Magic", "200"))) "]",
            "arbitrage");
        /* the same game and book twice: the natural key check */
        bad("[" EVENT(
                "e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
                BOOK("dk", OUT("Atlanta Hawks", "-150") "," OUT("Orlando Magic", "130")) "," BOOK(
                    "dk", OUT("Atlanta Hawks", "-150") "," OUT("Orlando Magic", "130"))) "]",
            "");
        /* a later bad event rejects the whole payload: nothing partial */
        bad("[" EVENT("e1", "2024-11-06T00:00:00Z", "Atlanta Hawks", "Orlando Magic",
                      BOOK("dk", OUT("Atlanta Hawks", "-150") "," OUT("Orlando Magic",
                                                                      "130"))) ","
                                                                               "{\"id\":\"e2\"}]",
            "events[1]");
        bad("[{\"id\":\"x\",\"bookmakers\":[]}]", "sport_key");
        /* not odds at all */
        bad("{\"date\":\"2024-11-05\",\"props\":[]}", "not a odds payload");
}

/* The fixture server's rendering parses, one row per game and book, in both formats. */
static void test_fixture_roundtrip(void)
{
        struct sim_opts o = {.seed = 7};
        char err[256];
        struct sim_league *lg = sim_league_new(&o, err, sizeof(err));
        int32_t day = sim_day_from_ymd(2024, 11, 5);
        int first = 0, ng;
        struct sl_buf am, de;
        struct raw_batch *ba = NULL, *bd = NULL;
        const struct raw_table *ta, *td;
        double max_diff = 0, max_over = 0, min_over = 1;

        SL_CHECK(lg != NULL);
        if (!lg)
                return;
        ng = sim_games_on(lg, day, &first);
        sl_buf_init(&am, 0);
        sl_buf_init(&de, 0);
        SL_CHECK(fixtures_render_odds(lg, day, false, &am) == 0);
        SL_CHECK(fixtures_render_odds(lg, day, true, &de) == 0);
        SL_CHECKF(raw_parse("odds", am.data, am.len, NULL, &ba, err, sizeof(err)) == 0, "%s", err);
        SL_CHECKF(raw_parse("odds", de.data, de.len, NULL, &bd, err, sizeof(err)) == 0, "%s", err);
        ta = ba ? raw_batch_find(ba, "raw.moneyline_odds") : NULL;
        td = bd ? raw_batch_find(bd, "raw.moneyline_odds") : NULL;
        SL_CHECKF(ng > 0 && ta && td && raw_table_nrows(ta) == (size_t)ng * FIXTURES_ODDS_BOOKS &&
                      raw_table_nrows(td) == raw_table_nrows(ta),
                  "games %d", ng);
        for (size_t r = 0; ta && td && r < raw_table_nrows(ta); r++) {
                double h = strtod(cell(ta, r, "home_decimal"), NULL);
                double a = strtod(cell(ta, r, "away_decimal"), NULL);
                double ov = 1 / h + 1 / a - 1;
                double d = fabs(h - strtod(cell(td, r, "home_decimal"), NULL));
                max_diff = d > max_diff ? d : max_diff;
                max_over = ov > max_over ? ov : max_over;
                min_over = ov < min_over ? ov : min_over;
                SL_CHECK(strcmp(cell(ta, r, "game_date"), "2024-11-05") == 0);
        }
        /* rounding to whole American points or 2 decimals moves a price by under 0.01 */
        SL_CHECKF(max_diff < 0.011, "max |american - decimal| %g", max_diff);
        /* the books' margins are 4.2%..5.0%, give or take the rounding */
        SL_CHECKF(min_over > 0.035 && max_over < 0.06, "overround %g..%g", min_over, max_over);
        raw_batch_free(ba);
        raw_batch_free(bd);
        sl_buf_fini(&am);
        sl_buf_fini(&de);
        sim_league_free(lg);
}

/*
 * By hand: home -150, away +130.
 *   decimal: 1 + 100/150 = 5/3 and 1 + 130/100 = 2.3
 *   implied: 3/5 = 0.6 and 10/23 = 0.434783; sum 119/115 (overround 4/115 = 0.034783)
 *   proportional fair: (3/5)/(119/115) = 69/119 = 0.579832, (10/23)/(119/115) = 50/119 = 0.420168
 * Elo says the away team wins with 0.50; market weight 0.5:
 *   p = 0.5 * 0.50 + 0.5 * 50/119 = 54.75/119 = 0.460084; edge = 0.039916 (>= 0.02)
 *   f* = (p * 2.3 - 1) / 1.3 = 0.0581933 / 1.3 = 0.0447641
 *   stake = 0.25 * 0.0447641 * 1000 = 11.19 (under the 50 cap)
 * The home side: p = 0.5 * 0.5 + 0.5 * 69/119 = 0.539916 < 69/119: negative edge, no bet.
 * With market weight 0.8 the away edge is 0.2 * (0.5 - 50/119) = 0.015966 < 0.02: no bet.
 */
static void test_worked_moneyline(void)
{
        double dec[2], fair[2], over;
        struct sl_kelly_opts o = {.min_edge = 0.02};
        struct sl_kelly_bet bets[2];
        struct sl_kelly_stake st[2];
        struct sl_kelly_summary sum;

        SL_CHECK(sl_odds_american_to_decimal(-150, &dec[0]) == 0 && NEAR(dec[0], 5.0 / 3, 1e-12));
        SL_CHECK(sl_odds_american_to_decimal(130, &dec[1]) == 0 && NEAR(dec[1], 2.3, 1e-12));
        SL_CHECK(sl_odds_overround(dec, 2, &over) == 0 && NEAR(over, 0.034783, 1e-6));
        SL_CHECK(sl_odds_fair(dec, 2, SL_ODDS_PROPORTIONAL, fair, NULL) == 0);
        SL_CHECK(NEAR(fair[0], 0.579832, 1e-6) && NEAR(fair[1], 0.420168, 1e-6));
        bets[0] = (struct sl_kelly_bet){.p = 0.539916, .decimal = dec[0], .p_fair = fair[0]};
        bets[1] = (struct sl_kelly_bet){.p = 0.460084, .decimal = dec[1], .p_fair = fair[1]};
        SL_CHECK(sl_kelly_size(&o, 1000, 0, 0, bets, 2, st, &sum) == 0);
        SL_CHECKF(st[0].stake == 0, "home stake %g", st[0].stake);
        SL_CHECKF(NEAR(st[1].edge, 0.039916, 1e-6), "edge %g", st[1].edge);
        SL_CHECKF(NEAR(st[1].full_kelly, 0.0447641, 1e-6), "f* %g", st[1].full_kelly);
        SL_CHECKF(NEAR(st[1].stake, 11.19, 0.005), "stake %g", st[1].stake);
        SL_CHECK(sum.n_staked == 1);
        bets[1].p = 0.2 * 0.5 + 0.8 * fair[1]; /* market weight 0.8 */
        SL_CHECK(sl_kelly_size(&o, 1000, 0, 0, bets, 2, st, &sum) == 0);
        SL_CHECKF(st[1].stake == 0 && sum.n_staked == 0, "stake %g", st[1].stake);
}

int main(void)
{
        test_good();
        test_bad();
        test_fixture_roundtrip();
        test_worked_moneyline();
        return SL_DONE();
}
