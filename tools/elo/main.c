/*
 * statline-elo: replays FiveThirtyEight's published Elo histories through
 * libmodels, writes the accuracy report and simulates seasons with known
 * true strengths. README.md in this directory; formulas in docs/models.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/elo.h>
#include <sl/util.h>

#include "replay.h"

#define EX_USAGE   64
#define EX_NOINPUT 66

static const char usage_text[] =
    "usage: statline-elo COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  replay --sport S [--initial FILE] [--league NAME] [--from-season N] [--games] FILE...\n"
    "      Replay 538 game files (nfl_games, nba/mlb elo, nhl elo or spi_matches format,\n"
    "      detected from the header) in date order with the sport's parameters and\n"
    "      print 'key value' lines: games, brier, brier_538, logloss, logloss_538,\n"
    "      max_prob_err, mean_prob_err, max_pre_err, max_post_err, max_post_err_538prob,\n"
    "      min_implied_hfa, max_implied_hfa, max_prob_err_resync, max_post_err_resync,\n"
    "      post_ok, chain_breaks, first_break (nan = not in the file; see README.md).\n"
    "        --initial FILE   team,elo seed ratings (538 NFL initial_elos.csv); without it\n"
    "                         a team starts at its first pre-game rating in the file\n"
    "        --league NAME    spi_matches: keep this league (\"Barclays Premier League\")\n"
    "        --from-season N  score only games from season N on (ratings run on all)\n"
    "        --games          also print one CSV line per game (ours vs 538's)\n"
    "  report [--data DIR] [--md FILE] [--json FILE] [--seed N]\n"
    "      Replay every 538 file in DIR (default $STATLINE_SRC/../shared/data/elo, else\n"
    "      ../shared/data/elo) for NFL, NBA, NHL, MLB, EPL and Ligue 1, simulate tennis,\n"
    "      NCAAB and WNCAAB, and write the Markdown (default elo_report.md) and JSON\n"
    "      (default elo_report.json) report: Brier, log loss, errors vs 538 and a\n"
    "      10-bin calibration table per sport.\n"
    "  simulate --sport tennis|ncaab|wncaab [--seed N] [--teams N] [--seasons N] [--games N]\n"
    "      Simulate seasons with known true strengths (games = per team per season) and\n"
    "      print per-season RMSE/correlation of ratings vs truth and Brier vs the oracle.\n"
    "  help\n"
    "\n"
    "Sports: nba nhl mlb nfl epl tennis ncaab wncaab ligue1.\n"
    "Exit: 0 ok, 1 error (bad data), 64 usage, 66 input file or directory missing.\n";

static int usage(FILE *f, int code)
{
        fputs(usage_text, f);
        return code;
}

static int parse_int(const char *s, int64_t min, int64_t max, const char *what, int64_t *out)
{
        if (sl_parse_i64(s, min, max, out) < 0) {
                fprintf(stderr, "statline-elo: bad %s '%s' (%" PRId64 "..%" PRId64 ")\n", what, s,
                        min, max);
                return -EINVAL;
        }
        return 0;
}

static int parse_sport(const char *s, enum sl_elo_sport *sport)
{
        if (sl_elo_sport_parse(s, sport) < 0) {
                fprintf(stderr, "statline-elo: unknown sport '%s'\n", s);
                return -EINVAL;
        }
        return 0;
}

static void print_eval(const struct elo_eval *e)
{
        printf("sport %s\nrows %zu\ngames %zu\n", sl_elo_sport_name(e->sport), e->rows, e->games);
        printf("brier %.6f\nbrier_538 %.6f\nlogloss %.6f\nlogloss_538 %.6f\n", e->brier,
               e->brier_538, e->logloss, e->logloss_538);
        printf("max_prob_err %.3e\nmean_prob_err %.3e\nmax_pre_err %.3e\nmax_post_err %.3e\n",
               e->max_prob_err, e->mean_prob_err, e->max_pre_err, e->max_post_err);
        printf("max_post_err_538prob %.3e\nmin_implied_hfa %.3f\nmax_implied_hfa %.3f\n",
               e->max_post_err_538prob, e->min_implied_hfa, e->max_implied_hfa);
        printf("max_prob_err_resync %.3e\nmax_post_err_resync %.3e\n", e->max_prob_err_resync,
               e->max_post_err_resync);
        printf("post_ok %zu\n", e->post_ok);
        printf("chain_breaks %zu\nfirst_break %s\n", e->chain_breaks,
               e->chain_breaks ? e->first_break : "-");
}

static int error_exit(int rc, const char *errstr)
{
        fprintf(stderr, "statline-elo: %s\n", errstr);
        return rc == -ENOENT ? EX_NOINPUT : 1;
}

static int cmd_replay(int argc, char **argv)
{
        static const struct option longopts[] = {{"sport", required_argument, NULL, 's'},
                                                 {"initial", required_argument, NULL, 'i'},
                                                 {"league", required_argument, NULL, 'l'},
                                                 {"from-season", required_argument, NULL, 'f'},
                                                 {"games", no_argument, NULL, 'g'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
        struct elo_replay_opts opts = {0};
        struct elo_eval ev;
        bool have_sport = false;
        char errstr[512];
        int64_t v;
        int c, rc;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        if (parse_sport(optarg, &opts.sport) < 0)
                                return EX_USAGE;
                        have_sport = true;
                        break;
                case 'i':
                        opts.initial = optarg;
                        break;
                case 'l':
                        opts.league = optarg;
                        break;
                case 'f':
                        if (parse_int(optarg, 0, 3000, "--from-season", &v) < 0)
                                return EX_USAGE;
                        opts.from_season = (int)v;
                        break;
                case 'g':
                        opts.print_games = true;
                        break;
                case 'h':
                        return usage(stdout, 0);
                default:
                        return usage(stderr, EX_USAGE);
                }
        }
        if (!have_sport || optind >= argc) {
                fprintf(stderr, "statline-elo replay: --sport and at least one FILE needed\n");
                return EX_USAGE;
        }
        rc = elo_replay(&opts, (const char *const *)argv + optind, (size_t)(argc - optind), &ev,
                        errstr, sizeof(errstr));
        if (rc < 0)
                return error_exit(rc, errstr);
        print_eval(&ev);
        return 0;
}

static int cmd_simulate(int argc, char **argv)
{
        static const struct option longopts[] = {{"sport", required_argument, NULL, 's'},
                                                 {"seed", required_argument, NULL, 'r'},
                                                 {"teams", required_argument, NULL, 't'},
                                                 {"seasons", required_argument, NULL, 'n'},
                                                 {"games", required_argument, NULL, 'g'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
        struct elo_sim_opts opts = {.sport = SL_ELO_TENNIS, .seed = 1};
        struct elo_sim_result res;
        int64_t v;
        int c;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        if (parse_sport(optarg, &opts.sport) < 0)
                                return EX_USAGE;
                        break;
                case 'r':
                        if (parse_int(optarg, 0, INT64_MAX, "--seed", &v) < 0)
                                return EX_USAGE;
                        opts.seed = (unsigned long long)v;
                        break;
                case 't':
                        if (parse_int(optarg, 2, 100000, "--teams", &v) < 0)
                                return EX_USAGE;
                        opts.teams = (int)v;
                        break;
                case 'n':
                        if (parse_int(optarg, 1, 1000, "--seasons", &v) < 0)
                                return EX_USAGE;
                        opts.seasons = (int)v;
                        break;
                case 'g':
                        if (parse_int(optarg, 1, 10000, "--games", &v) < 0)
                                return EX_USAGE;
                        opts.games = (int)v;
                        break;
                case 'h':
                        return usage(stdout, 0);
                default:
                        return usage(stderr, EX_USAGE);
                }
        }
        if (optind < argc || elo_simulate(&opts, &res) < 0) {
                fprintf(stderr, "statline-elo simulate: --sport must be tennis, ncaab or wncaab; "
                                "no file arguments\n");
                free(res.seasons);
                return EX_USAGE;
        }
        printf("sport %s\ntruth_sd %.1f\n", sl_elo_sport_name(opts.sport), res.truth_sd);
        for (int i = 0; i < res.nseasons; i++)
                printf("season %d games %zu rmse %.2f corr %.4f brier %.5f brier_oracle %.5f\n",
                       res.seasons[i].season, res.seasons[i].games, res.seasons[i].rmse,
                       res.seasons[i].corr, res.seasons[i].brier, res.seasons[i].brier_oracle);
        printf("brier %.6f\nbrier_oracle %.6f\n", res.ev.brier, res.ev.brier_538);
        free(res.seasons);
        return 0;
}

/* The data directory: --data, else $STATLINE_SRC/../shared/data/elo, else ../shared/data/elo. */
static char *data_dir(const char *opt)
{
        const char *src = getenv("STATLINE_SRC");

        if (opt)
                return sl_xstrdup(opt);
        if (src && *src)
                return sl_xasprintf("%s/../shared/data/elo", src);
        return sl_xstrdup("../shared/data/elo");
}

struct report_item {
        enum sl_elo_sport sport;
        const char *file, *initial, *league;
        int from_season;
};

static const struct report_item report_items[] = {
    {SL_ELO_NFL, "nfl_games_538_1920-2020.csv", "nfl_initial_elos_538.csv", NULL, 0},
    {SL_ELO_NBA, "nba_elo_538_2021-22.csv", NULL, NULL, 0},
    {SL_ELO_NHL, "nhl_elo_538_2022-23.csv", NULL, NULL, 0},
    {SL_ELO_MLB, "mlb_elo_538_2021_partial.csv", NULL, NULL, 0},
    {SL_ELO_EPL, "spi_matches_538_2016-2019.csv", NULL, "Barclays Premier League", 2017},
    {SL_ELO_LIGUE1, "spi_matches_538_2016-2019.csv", NULL, "French Ligue 1", 2017},
};
#define N_ITEMS (sizeof(report_items) / sizeof(report_items[0]))
#define N_SIMS  3

static int run_report(const char *dir, unsigned long long seed, const char *md, const char *json)
{
        static const enum sl_elo_sport sim_sports[N_SIMS] = {SL_ELO_TENNIS, SL_ELO_NCAAB,
                                                             SL_ELO_WNCAAB};
        struct elo_eval evals[N_ITEMS + N_SIMS];
        struct elo_sim_result sims[N_SIMS] = {0};
        char errstr[512];
        int rc = 0;

        for (size_t i = 0; i < N_ITEMS && rc == 0; i++) {
                const struct report_item *it = &report_items[i];
                char *file = sl_xasprintf("%s/%s", dir, it->file);
                char *initial = it->initial ? sl_xasprintf("%s/%s", dir, it->initial) : NULL;
                struct elo_replay_opts opts = {.sport = it->sport,
                                               .initial = initial,
                                               .league = it->league,
                                               .from_season = it->from_season};
                const char *files[1] = {file};

                rc = elo_replay(&opts, files, 1, &evals[i], errstr, sizeof(errstr));
                if (rc == 0 && it->from_season)
                        snprintf(evals[i].source, sizeof(evals[i].source), "%s (%s, seasons %d-)",
                                 it->file, it->league, it->from_season);
                free(file);
                free(initial);
        }
        for (size_t i = 0; i < N_SIMS && rc == 0; i++) {
                struct elo_sim_opts so = {.sport = sim_sports[i], .seed = seed};

                rc = elo_simulate(&so, &sims[i]);
                if (rc == 0)
                        evals[N_ITEMS + i] = sims[i].ev;
                else
                        snprintf(errstr, sizeof(errstr), "simulation failed");
        }
        if (rc == 0)
                rc = elo_report_write(evals, N_ITEMS + N_SIMS, sims, N_SIMS, md, json, errstr,
                                      sizeof(errstr));
        for (size_t i = 0; i < N_SIMS; i++)
                free(sims[i].seasons);
        if (rc < 0)
                return error_exit(rc, errstr);
        for (size_t i = 0; i < N_ITEMS + N_SIMS; i++)
                printf("%s games %zu brier %.4f ref %.4f\n", sl_elo_sport_name(evals[i].sport),
                       evals[i].games, evals[i].brier, evals[i].brier_538);
        return 0;
}

static int cmd_report(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"data", required_argument, NULL, 'd'}, {"md", required_argument, NULL, 'm'},
            {"json", required_argument, NULL, 'j'}, {"seed", required_argument, NULL, 'r'},
            {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
        const char *data = NULL, *md = "elo_report.md", *json = "elo_report.json";
        unsigned long long seed = 1;
        char *dir;
        int64_t v;
        int c, rc;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        data = optarg;
                        break;
                case 'm':
                        md = optarg;
                        break;
                case 'j':
                        json = optarg;
                        break;
                case 'r':
                        if (parse_int(optarg, 0, INT64_MAX, "--seed", &v) < 0)
                                return EX_USAGE;
                        seed = (unsigned long long)v;
                        break;
                case 'h':
                        return usage(stdout, 0);
                default:
                        return usage(stderr, EX_USAGE);
                }
        }
        if (optind < argc)
                return usage(stderr, EX_USAGE);
        dir = data_dir(data);
        rc = run_report(dir, seed, md, json);
        free(dir);
        return rc;
}

int main(int argc, char **argv)
{
        const char *cmd = argc > 1 ? argv[1] : "";

        if (strcmp(cmd, "replay") == 0)
                return cmd_replay(argc - 1, argv + 1);
        if (strcmp(cmd, "report") == 0)
                return cmd_report(argc - 1, argv + 1);
        if (strcmp(cmd, "simulate") == 0)
                return cmd_simulate(argc - 1, argv + 1);
        if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
                return usage(stdout, 0);
        return usage(stderr, EX_USAGE);
}
