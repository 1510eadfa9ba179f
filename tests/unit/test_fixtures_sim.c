/*
 * Unit tests of the league simulation (tools/fixtures/sim.h): determinism,
 * the schedule formula, every box-score identity over the whole season,
 * realistic distributions, injuries, prop lines and injury overrides.
 * Each rule is one TAP line; a failing rule prints its first offender.
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "sl_test.h"

/* First failure message of a rule (printed with the rule's TAP line). */
static char why[256];

#define FAILF(...)                                                                                 \
        do {                                                                                       \
                if (!why[0])                                                                       \
                        snprintf(why, sizeof(why), __VA_ARGS__);                                   \
                bad++;                                                                             \
        } while (0)

#define RULE(cond_ok)                                                                              \
        do {                                                                                       \
                SL_CHECKF(cond_ok, "%s", why);                                                     \
                why[0] = '\0';                                                                     \
        } while (0)

static struct sim_league *league(uint64_t seed, const char *season)
{
        struct sim_opts o = {.seed = seed, .season = season};
        char err[128];
        struct sim_league *lg = sim_league_new(&o, err, sizeof(err));

        if (!lg)
                printf("# sim_league_new: %s\n", err);
        return lg;
}

/* FNV-1a over a text dump of the games in [from, to): a digest of the box scores. */
static uint64_t digest(const struct sim_league *lg, int from, int to)
{
        uint64_t h = 1469598103934665603ull;
        char buf[256];

        for (int gi = from; gi < to; gi++) {
                const struct sim_game *g = sim_game(lg, gi);
                const struct sim_side *sides[2] = {&g->home, &g->away};
                int n = snprintf(buf, sizeof(buf), "%s %d %d %d %d|", g->id, (int)g->day, g->seq,
                                 g->tip_min_et, g->periods);
                for (int k = 0; k < n; k++)
                        h = (h ^ (unsigned char)buf[k]) * 1099511628211ull;
                for (int s = 0; s < 2; s++) {
                        for (int i = 0; i < sides[s]->nlines; i++) {
                                const struct sim_line *l = &sides[s]->lines[i];
                                n = snprintf(buf, sizeof(buf),
                                             "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d "
                                             "%d %d %d %d;",
                                             l->player, l->sec, l->dnp, l->starter, l->fgm, l->fga,
                                             l->fg3m, l->fg3a, l->ftm, l->fta, l->oreb, l->dreb,
                                             l->ast, l->stl, l->blk, l->blka, l->tov, l->pf, l->pfd,
                                             l->pts, l->pm);
                                for (int k = 0; k < n; k++)
                                        h = (h ^ (unsigned char)buf[k]) * 1099511628211ull;
                        }
                }
        }
        return h;
}

static void test_calendar(void)
{
        int32_t d;
        char s[11];
        int bad = 0;

        SL_CHECK(sim_date_parse("2024-10-22", &d) == 0 && sim_weekday(d) == 2);
        sim_date_fmt(d, s);
        SL_CHECK(strcmp(s, "2024-10-22") == 0);
        sim_date_fmt_us(d, s);
        SL_CHECK(strcmp(s, "10/22/2024") == 0);
        SL_CHECK(sim_date_parse_us("02/29/2024", &d) == 0);
        SL_CHECK(sim_date_parse("2025-02-29", &d) < 0);
        SL_CHECK(sim_date_parse_us("13/01/2024", &d) < 0);
        SL_CHECK(sim_date_parse("2024-1-01", &d) < 0 && sim_date_parse("", &d) < 0);
        SL_CHECK(sim_date_parse(NULL, &d) < 0 && sim_date_parse_us("2024-10-22", &d) < 0);
        sim_date_parse("2024-11-02", &d);
        SL_CHECK(sim_et_utc_offset(d) == 4 && sim_et_utc_offset(d + 1) == 5); /* DST ends Nov 3 */
        for (int32_t day = -800; day < 80000; day += 7) { /* 1967 .. 2189 round trip */
                int y, m, dd;
                sim_day_to_ymd(day, &y, &m, &dd);
                if (sim_day_from_ymd(y, m, dd) != day)
                        FAILF("day %d", (int)day);
        }
        RULE(bad == 0);
}

static void test_bad_season(void)
{
        struct sim_opts o = {.season = "2024-26"};
        char err[128] = "";

        SL_CHECK(sim_league_new(&o, err, sizeof(err)) == NULL && strstr(err, "season"));
        o.season = "24-25";
        SL_CHECK(sim_league_new(&o, err, sizeof(err)) == NULL);
        sim_league_free(NULL);
}

static void test_teams_rosters(const struct sim_league *lg)
{
        int bad = 0;

        for (int t = 0; t < SIM_TEAMS; t++) {
                const struct sim_team *tm = sim_team(lg, t);
                if (tm->id != SIM_TEAM_ID0 + t || sim_team_index(lg, tm->id) != t)
                        FAILF("team %d id %lld", t, (long long)tm->id);
                if (tm->nplayers < SIM_ROSTER_MIN || tm->nplayers > SIM_ROSTER_MAX)
                        FAILF("team %s roster %d", tm->abbr, tm->nplayers);
                for (int p = tm->first_player; p < tm->first_player + tm->nplayers; p++)
                        if (sim_player(lg, p)->team != t ||
                            sim_player_index(lg, sim_player(lg, p)->id) != p)
                                FAILF("player %d", p);
        }
        RULE(bad == 0);
        SL_CHECK(strcmp(sim_team(lg, 1)->abbr, "BOS") == 0 && sim_team(lg, 1)->id == 1610612738);
        SL_CHECK(strcmp(sim_team(lg, 27)->abbr, "WAS") == 0 && sim_team(lg, 27)->id == 1610612764);
        SL_CHECK(sim_team(lg, 30) == NULL && sim_team_index(lg, 1610612767) < 0);
        SL_CHECK(sim_player_index(lg, 1650000) == 0 && sim_player_index(lg, 42) < 0);
        bad = 0;
        for (int i = 0; i < sim_nplayers(lg); i++) /* names unique */
                for (int j = i + 1; j < sim_nplayers(lg); j++)
                        if (strcmp(sim_player(lg, i)->name, sim_player(lg, j)->name) == 0)
                                FAILF("duplicate name %s", sim_player(lg, i)->name);
        RULE(bad == 0);
}

static void test_schedule(const struct sim_league *lg)
{
        int games[SIM_TEAMS] = {0}, home[SIM_TEAMS] = {0}, bad = 0;
        int32_t last[SIM_TEAMS], prev[SIM_TEAMS];
        int y, m, d;

        for (int t = 0; t < SIM_TEAMS; t++)
                last[t] = prev[t] = -100000;
        SL_CHECK(sim_game(lg, SIM_GAMES - 1) != NULL && sim_game(lg, SIM_GAMES) == NULL);
        for (int gi = 0; gi < SIM_GAMES; gi++) {
                const struct sim_game *g = sim_game(lg, gi);
                int ts[2] = {g->home.team, g->away.team};
                char id[11];
                snprintf(id, sizeof(id), "00224%05d", gi + 1);
                if (strcmp(g->id, id) != 0 || sim_game_index(lg, g->id) != gi)
                        FAILF("game %d id %s", gi, g->id);
                if (gi > 0 && (g->day < sim_game(lg, gi - 1)->day ||
                               (g->day == sim_game(lg, gi - 1)->day &&
                                g->seq != sim_game(lg, gi - 1)->seq + 1)))
                        FAILF("game %s out of order", g->id);
                if (g->home.team == g->away.team)
                        FAILF("game %s self", g->id);
                for (int k = 0; k < 2; k++) {
                        int t = ts[k];
                        if (last[t] == g->day)
                                FAILF("%s twice on a day", sim_team(lg, t)->abbr);
                        if (last[t] == g->day - 1 && prev[t] == g->day - 2)
                                FAILF("%s three days in a row", sim_team(lg, t)->abbr);
                        prev[t] = last[t];
                        last[t] = g->day;
                        games[t]++;
                }
                home[g->home.team]++;
        }
        RULE(bad == 0);
        bad = 0;
        for (int t = 0; t < SIM_TEAMS; t++)
                if (games[t] != SIM_TEAM_GAMES || home[t] != 41)
                        FAILF("%s: %d games, %d home", sim_team(lg, t)->abbr, games[t], home[t]);
        RULE(bad == 0);
        sim_day_to_ymd(sim_first_day(lg), &y, &m, &d);
        SL_CHECKF(y == 2024 && m == 10 && d >= 15 && d <= 31, "first %d-%d-%d", y, m, d);
        sim_day_to_ymd(sim_last_day(lg), &y, &m, &d);
        SL_CHECKF(y == 2025 && m == 4 && d >= 5 && d <= 20, "last %d-%d-%d", y, m, d);
        SL_CHECK(sim_game_index(lg, "0022401231") < 0 && sim_game_index(lg, "0022300001") < 0 &&
                 sim_game_index(lg, "x") < 0 && sim_game_index(lg, NULL) < 0);
        /* sim_games_on covers every game exactly once */
        int covered = 0;
        for (int32_t day = sim_first_day(lg) - 1; day <= sim_last_day(lg) + 1; day++) {
                int first, n = sim_games_on(lg, day, &first);
                for (int i = first; i < first + n; i++)
                        covered += sim_game(lg, i)->day == day;
        }
        SL_CHECK(covered == SIM_GAMES);
        /* team game lists are in date order and contain the team */
        bad = 0;
        for (int t = 0; t < SIM_TEAMS; t++) {
                const int *tg;
                int n = sim_team_games(lg, t, &tg);
                for (int k = 0; k < n; k++) {
                        const struct sim_game *g = sim_game(lg, tg[k]);
                        if ((g->home.team != t && g->away.team != t) ||
                            (k > 0 && tg[k] <= tg[k - 1]))
                                FAILF("team %d game list", t);
                }
        }
        RULE(bad == 0);
}

/* Every identity of sim.h for one side. */
static int check_side(const struct sim_league *lg, const struct sim_game *g,
                      const struct sim_side *sd, const struct sim_side *opp)
{
        struct sim_totals t, o;
        int bad = 0, periods_sum = 0, pm = 0, starters = 0;
        int want_sec = 14400 + (g->periods - 4) * 1500;

        sim_side_totals(sd, &t);
        sim_side_totals(opp, &o);
        for (int i = 0; i < sd->nlines; i++) {
                const struct sim_line *l = &sd->lines[i];
                int zfga = 0, zfgm = 0, z3a = l->zfga[SIM_ZONE_C3] + l->zfga[SIM_ZONE_AB3];
                for (int z = 0; z < SIM_ZONES; z++) {
                        zfga += l->zfga[z];
                        zfgm += l->zfgm[z];
                        if (l->zfgm[z] > l->zfga[z])
                                FAILF("%s zone makes", g->id);
                }
                if (l->pts != 2 * (l->fgm - l->fg3m) + 3 * l->fg3m + l->ftm)
                        FAILF("%s player %d pts", g->id, l->player);
                if (l->fgm > l->fga || l->fg3m > l->fg3a || l->fg3a > l->fga || l->ftm > l->fta ||
                    l->fg3m > l->fgm || zfga != l->fga || zfgm != l->fgm || z3a != l->fg3a)
                        FAILF("%s player %d shooting", g->id, l->player);
                if (l->blka > l->fga - l->fgm || l->pf > 6 || l->sec < 0 ||
                    l->sec > 48 * 60 + (g->periods - 4) * 300)
                        FAILF("%s player %d blka/pf/sec", g->id, l->player);
                if (l->dnp && (l->sec || l->fga || l->fta || l->oreb || l->dreb || l->ast ||
                               l->stl || l->blk || l->tov || l->pf || l->pm || l->starter))
                        FAILF("%s dnp with stats", g->id);
                if (!l->dnp && l->sec <= 0)
                        FAILF("%s player %d plays 0 s", g->id, l->player);
                if (sim_player(lg, l->player)->team != sd->team)
                        FAILF("%s line of another team", g->id);
                pm += l->pm;
                starters += l->starter;
        }
        for (int p = 0; p < g->periods; p++) {
                periods_sum += sd->period_pts[p];
                if (sd->period_pts[p] < 0)
                        FAILF("%s negative period", g->id);
        }
        if (t.pts != sd->score || periods_sum != sd->score)
                FAILF("%s score %d pts %d periods %d", g->id, sd->score, t.pts, periods_sum);
        if (t.sec != want_sec)
                FAILF("%s seconds %d want %d", g->id, t.sec, want_sec);
        if (pm != 5 * (sd->score - opp->score))
                FAILF("%s plus-minus %d margin %d", g->id, pm, sd->score - opp->score);
        if (t.blka != o.blk || t.pfd != o.pf || t.tov < o.stl)
                FAILF("%s blka/pfd/tov vs opponent", g->id);
        if (starters != 5 || sd->nlines != sim_team(lg, sd->team)->nplayers)
                FAILF("%s starters %d lines %d", g->id, starters, sd->nlines);
        return bad;
}

static void test_box_scores(const struct sim_league *lg)
{
        int bad = 0, ot_bad = 0, rec_bad = 0, ot = 0;
        int wins[SIM_TEAMS] = {0}, played[SIM_TEAMS] = {0};

        for (int gi = 0; gi < SIM_GAMES; gi++) {
                const struct sim_game *g = sim_game(lg, gi);
                int reg[2] = {0, 0};
                bad += check_side(lg, g, &g->home, &g->away);
                bad += check_side(lg, g, &g->away, &g->home);
                for (int p = 0; p < 4; p++) {
                        reg[0] += g->home.period_pts[p];
                        reg[1] += g->away.period_pts[p];
                }
                if (g->home.score == g->away.score || g->periods < 4 || g->periods > 14 ||
                    ((g->periods > 4) != (reg[0] == reg[1])))
                        ot_bad++;
                ot += g->periods > 4;
                played[g->home.team]++;
                played[g->away.team]++;
                wins[g->home.team] += g->home.score > g->away.score;
                wins[g->away.team] += g->away.score > g->home.score;
                if (g->home.wins != wins[g->home.team] ||
                    g->home.wins + g->home.losses != played[g->home.team] ||
                    g->away.wins != wins[g->away.team] ||
                    g->away.wins + g->away.losses != played[g->away.team])
                        rec_bad++;
        }
        SL_CHECKF(bad == 0, "%d violations; first: %s", bad, why);
        why[0] = '\0';
        SL_CHECKF(ot_bad == 0, "%d games with a bad overtime/tie state", ot_bad);
        SL_CHECKF(rec_bad == 0, "%d games with a wrong record", rec_bad);
        SL_CHECKF(ot >= 5 && ot <= 150, "overtime games %d", ot);
        printf("# overtime games: %d\n", ot);
}

static void test_distributions(const struct sim_league *lg)
{
        double pts = 0, sq = 0, fgm = 0, fga = 0, fg3a = 0, reb = 0, ast = 0, home_wins = 0;
        int np = sim_nplayers(lg), heavy = 0, n = 2 * SIM_GAMES, minp = 999, maxp = 0;
        double *ppts = calloc((size_t)np, sizeof(double)),
               *pfga = calloc((size_t)np, sizeof(double));
        double *p3a = calloc((size_t)np, sizeof(double));
        int *gp = calloc((size_t)np, sizeof(int));
        double top = 0;

        for (int gi = 0; gi < SIM_GAMES; gi++) {
                const struct sim_game *g = sim_game(lg, gi);
                const struct sim_side *sides[2] = {&g->home, &g->away};
                home_wins += g->home.score > g->away.score;
                for (int s = 0; s < 2; s++) {
                        struct sim_totals t;
                        sim_side_totals(sides[s], &t);
                        pts += t.pts;
                        sq += (double)t.pts * t.pts;
                        fgm += t.fgm;
                        fga += t.fga;
                        fg3a += t.fg3a;
                        reb += t.oreb + t.dreb;
                        ast += t.ast;
                        minp = t.pts < minp ? t.pts : minp;
                        maxp = t.pts > maxp ? t.pts : maxp;
                        for (int i = 0; i < sides[s]->nlines; i++) {
                                const struct sim_line *l = &sides[s]->lines[i];
                                if (l->dnp)
                                        continue;
                                ppts[l->player] += l->pts;
                                pfga[l->player] += l->fga;
                                p3a[l->player] += l->fg3a;
                                gp[l->player]++;
                        }
                }
        }
        for (int p = 0; p < np; p++) {
                heavy += pfga[p] >= 200 && p3a[p] / pfga[p] >= 0.55;
                if (gp[p] >= 40 && ppts[p] / gp[p] > top)
                        top = ppts[p] / gp[p];
        }
        double avg = pts / n, sd = sqrt(sq / n - avg * avg);
        printf("# team pts avg %.1f sd %.1f min %d max %d; FG%% %.3f 3PA %.1f REB %.1f AST %.1f; "
               "home win %.3f; 3PT-heavy players %d; top scorer %.1f ppg\n",
               avg, sd, minp, maxp, fgm / fga, fg3a / n, reb / n, ast / n, home_wins / SIM_GAMES,
               heavy, top);
        SL_CHECKF(avg >= 105 && avg <= 125, "league average team points %.1f", avg);
        SL_CHECKF(sd >= 8 && sd <= 18, "team points sd %.1f", sd);
        SL_CHECKF(minp >= 60 && maxp <= 190, "team points range %d..%d", minp, maxp);
        SL_CHECKF(fgm / fga > 0.43 && fgm / fga < 0.51, "FG%% %.3f", fgm / fga);
        SL_CHECKF(fg3a / n > 28 && fg3a / n < 45, "3PA per team game %.1f", fg3a / n);
        SL_CHECKF(reb / n > 38 && reb / n < 50 && ast / n > 20 && ast / n < 32, "reb %.1f ast %.1f",
                  reb / n, ast / n);
        SL_CHECKF(home_wins / SIM_GAMES > 0.5 && home_wins / SIM_GAMES < 0.66, "home wins %.3f",
                  home_wins / SIM_GAMES);
        SL_CHECKF(heavy >= 10, "3PT-heavy players %d", heavy);
        SL_CHECKF(top >= 22 && top <= 38, "top scorer %.1f ppg", top);
        free(ppts);
        free(pfga);
        free(p3a);
        free(gp);
}

static const struct sim_line *line_of(const struct sim_game *g, int p)
{
        const struct sim_side *sides[2] = {&g->home, &g->away};

        for (int s = 0; s < 2; s++)
                for (int i = 0; i < sides[s]->nlines; i++)
                        if (sides[s]->lines[i].player == p)
                                return &sides[s]->lines[i];
        return NULL;
}

static void test_injuries(const struct sim_league *lg)
{
        struct sim_injury inj[256];
        int bad = 0, total = 0, out = 0, dnp_injury = 0;

        for (int32_t day = sim_first_day(lg); day <= sim_last_day(lg); day++) {
                int first, ng = sim_games_on(lg, day, &first);
                int n = sim_injuries_on(lg, day, inj, 256);
                if (n > 256)
                        FAILF("report too long %d", n);
                total += n;
                for (int i = 0; i < n && i < 256; i++) {
                        const struct sim_player *pl = sim_player(lg, inj[i].player);
                        const struct sim_line *l = NULL;
                        for (int gi = first; gi < first + ng && !l; gi++)
                                l = line_of(sim_game(lg, gi), inj[i].player);
                        if (!l)
                                FAILF("%s listed but his team does not play", pl->name);
                        if (inj[i].status == SIM_STATUS_AVAILABLE || !inj[i].reason)
                                FAILF("bad entry for %s", pl->name);
                        if (inj[i].status == SIM_STATUS_OUT) {
                                out++;
                                if (l && l->dnp != SIM_DNP_INJURY)
                                        FAILF("%s is Out but plays", pl->name);
                        }
                }
                for (int gi = first; gi < first + ng; gi++) { /* sat => on the report */
                        const struct sim_game *g = sim_game(lg, gi);
                        const struct sim_side *sides[2] = {&g->home, &g->away};
                        for (int s = 0; s < 2; s++)
                                for (int i = 0; i < sides[s]->nlines; i++) {
                                        const struct sim_line *l = &sides[s]->lines[i];
                                        if (l->dnp != SIM_DNP_INJURY)
                                                continue;
                                        dnp_injury++;
                                        if (sim_status_on(lg, l->player, day, NULL) ==
                                            SIM_STATUS_AVAILABLE)
                                                FAILF("injury DNP without a report entry");
                                }
                }
        }
        RULE(bad == 0);
        printf("# injury report entries %d, Out %d, injury DNPs %d\n", total, out, dnp_injury);
        SL_CHECKF(out >= 200 && dnp_injury >= out, "out %d dnp %d", out, dnp_injury);
        SL_CHECK(sim_status_parse("out") == SIM_STATUS_OUT && sim_status_parse("x") < 0);
        SL_CHECK(strcmp(sim_dnp_comment(SIM_DNP_COACH), "DNP - Coach's Decision") == 0);
}

/* Average of market m over player p's last 10 games played before day. */
static double last10(const struct sim_league *lg, int p, int32_t day, int m)
{
        const int *tg;
        int n = sim_team_games(lg, sim_player(lg, p)->team, &tg), k = 0;
        double sum = 0;

        for (int i = n - 1; i >= 0 && k < 10; i--) {
                const struct sim_game *g = sim_game(lg, tg[i]);
                const struct sim_line *l = line_of(g, p);
                if (g->day >= day || !l || l->dnp)
                        continue;
                sum += m == 0 ? l->pts : m == 1 ? l->oreb + l->dreb : l->ast;
                k++;
        }
        return k ? sum / k : -1;
}

static void test_props(const struct sim_league *lg)
{
        int32_t day = sim_first_day(lg) + 70;
        int n = sim_props_on(lg, day, NULL, 0), bad = 0, close = 0, pts_lines = 0;
        struct sim_prop *pr = calloc((size_t)n + 1, sizeof(*pr));

        SL_CHECK(n > 50 && sim_props_on(lg, day, pr, n) == n);
        for (int i = 0; i < n; i++) {
                int st = sim_status_on(lg, pr[i].player, day, NULL);
                double frac = pr[i].line - floor(pr[i].line);
                bool valid_price = (pr[i].over_price <= -100 || pr[i].over_price >= 100) &&
                                   (pr[i].under_price <= -100 || pr[i].under_price >= 100);
                if (fabs(frac - 0.5) > 1e-9 || pr[i].line < 0.5 || pr[i].line > 70 || !valid_price)
                        FAILF("prop %d line %.2f prices %d/%d", i, pr[i].line, pr[i].over_price,
                              pr[i].under_price);
                if (st == SIM_STATUS_OUT || st == SIM_STATUS_DOUBTFUL)
                        FAILF("prop for an Out player");
                if (sim_game(lg, pr[i].game)->day != day)
                        FAILF("prop of another day");
                if (strcmp(pr[i].market, "points") == 0) {
                        double avg = last10(lg, pr[i].player, day, 0);
                        pts_lines++;
                        close += avg >= 0 && fabs(pr[i].line - avg) <= 5.0;
                }
        }
        RULE(bad == 0);
        SL_CHECKF(close >= pts_lines * 8 / 10, "points lines near the last-10 average: %d of %d",
                  close, pts_lines);
        free(pr);
}

static void test_override(struct sim_league *lg)
{
        int32_t day = sim_first_day(lg) + 40;
        int first, n = sim_games_on(lg, day, &first), gi = first, p = -1;
        uint64_t before_all = digest(lg, 0, SIM_GAMES);
        uint64_t before_other = digest(lg, 0, first);
        const struct sim_game *g = sim_game(lg, gi);

        SL_CHECK(n > 0);
        for (int i = 0; i < g->home.nlines && p < 0; i++) /* an available starter */
                if (g->home.lines[i].starter)
                        p = g->home.lines[i].player;
        SL_CHECK(p >= 0 && sim_status_on(lg, p, day, NULL) == SIM_STATUS_AVAILABLE);
        SL_CHECK(sim_set_injury(lg, p, day, SIM_STATUS_OUT, "Injury/Illness - Test") == 0);
        g = sim_game(lg, gi);
        const char *reason = NULL;
        SL_CHECK(sim_status_on(lg, p, day, &reason) == SIM_STATUS_OUT && reason &&
                 strcmp(reason, "Injury/Illness - Test") == 0);
        SL_CHECK(line_of(g, p)->dnp == SIM_DNP_INJURY);
        SL_CHECK(check_side(lg, g, &g->home, &g->away) == 0);
        SL_CHECK(digest(lg, 0, first) == before_other); /* earlier days untouched */
        SL_CHECK(sim_set_injury(lg, p, day, SIM_STATUS_AVAILABLE, NULL) == 0);
        SL_CHECK(digest(lg, 0, SIM_GAMES) == before_all); /* back to the original season */
        SL_CHECK(sim_set_injury(lg, -1, day, SIM_STATUS_OUT, NULL) < 0 &&
                 sim_set_injury(lg, p, day, 99, NULL) < 0 &&
                 sim_set_injury(lg, p, day + 1000, SIM_STATUS_OUT, NULL) < 0);
}

int main(void)
{
        struct sim_league *a = league(42, NULL), *b = league(42, "2024-25"), *c = league(43, NULL);
        struct sim_league *old = league(42, "2018-19");
        struct sim_injury ia[64], ib[64];
        struct sim_prop *pa, *pb;
        int32_t day;

        SL_CHECK(a && b && c && old);
        if (!a || !b || !c || !old)
                return SL_DONE();
        test_calendar();
        test_bad_season();
        SL_CHECK(digest(a, 0, SIM_GAMES) == digest(b, 0, SIM_GAMES));
        SL_CHECK(digest(a, 0, SIM_GAMES) != digest(c, 0, SIM_GAMES));
        day = sim_first_day(a) + 50;
        int na = sim_injuries_on(a, day, ia, 64), nb = sim_injuries_on(b, day, ib, 64);
        SL_CHECK(na == nb && memcmp(ia, ib, sizeof(ia[0]) * (size_t)(na < 64 ? na : 64)) == 0);
        na = sim_props_on(a, day, NULL, 0);
        pa = calloc((size_t)na + 1, sizeof(*pa));
        pb = calloc((size_t)na + 1, sizeof(*pb));
        nb = sim_props_on(b, day, pb, na);
        SL_CHECK(na > 0 && na == nb && sim_props_on(a, day, pa, na) == na &&
                 memcmp(pa, pb, sizeof(pa[0]) * (size_t)na) == 0);
        free(pa);
        free(pb);
        SL_CHECK(strcmp(sim_game(old, 0)->id, "0021800001") == 0 &&
                 strcmp(sim_season(old), "2018-19") == 0 && sim_season_year(old) == 2018);
        test_teams_rosters(a);
        test_schedule(a);
        test_box_scores(a);
        test_box_scores(c);
        test_distributions(a);
        test_distributions(c);
        test_injuries(a);
        test_props(a);
        test_override(a);
        sim_league_free(a);
        sim_league_free(b);
        sim_league_free(c);
        sim_league_free(old);
        return SL_DONE();
}
