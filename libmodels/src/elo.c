/*
 * Multi-sport Elo (sl/elo.h). Formulas and sources: docs/models.md.
 */
#include <sl/elo.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sl/util.h>

/*
 * 538's NFL season-start ratings "of unknown origin" (fivethirtyeight/nfl-elo-game
 * forecast.py, REVERSIONS, commit fbec1afa).
 */
static const struct sl_elo_reversion nfl538_reversions[] = {
    {"CBD", 1925, 1502.032}, {"RAC", 1926, 1403.384}, {"LOU", 1926, 1307.201},
    {"CIB", 1927, 1362.919}, {"MNN", 1929, 1306.702}, {"BFF", 1929, 1331.943},
    {"LAR", 1944, 1373.977}, {"PHI", 1944, 1497.988}, {"ARI", 1945, 1353.939},
    {"PIT", 1945, 1353.939}, {"CLE", 1999, 1300.0},
};

/*
 * The parameter sets. Values marked 538 are FiveThirtyEight's published or
 * data-verified rules; the others are statline's choices (docs/models.md).
 */
static const struct sl_elo_params sport_params[SL_ELO_NSPORTS] = {
    [SL_ELO_NBA] = {.name = "nba",
                    .k = 20,
                    .k_playoff = 20,
                    .home_side = true,
                    .home_adv = 100,
                    .mov = SL_ELO_MOV_NBA538,
                    .scale = 400,
                    .initial = 1300,
                    .mean = 1505,
                    .carry = 0.75},
    [SL_ELO_NHL] = {.name = "nhl",
                    .k = 6,
                    .home_side = true,
                    .home_adv = 50,
                    .mov = SL_ELO_MOV_NHL538,
                    .scale = 400,
                    .initial = 1500,
                    .mean = 1505,
                    .carry = 0.7},
    [SL_ELO_MLB] = {.name = "mlb",
                    .k = 1.68,
                    .home_side = true,
                    .home_adv = 24,
                    .mov = SL_ELO_MOV_MLB,
                    .scale = 400,
                    .initial = 1500,
                    .mean = 1505,
                    .carry = 2.0 / 3.0},
    [SL_ELO_NFL] = {.name = "nfl",
                    .k = 20,
                    .home_side = true,
                    .home_adv = 65,
                    .mov = SL_ELO_MOV_NFL538,
                    .scale = 400,
                    .initial = 1300,
                    .mean = 1505,
                    .carry = 1.0 - 1.0 / 3.0,
                    .reversions = nfl538_reversions,
                    .n_reversions = sizeof(nfl538_reversions) / sizeof(nfl538_reversions[0])},
    [SL_ELO_EPL] = {.name = "epl",
                    .k = 20,
                    .home_side = true,
                    .home_adv = 60,
                    .mov = SL_ELO_MOV_GOALS,
                    .scale = 400,
                    .initial = 1500,
                    .mean = 1500,
                    .carry = 0.8,
                    .draw_max = 0.28},
    [SL_ELO_TENNIS] = {.name = "tennis",
                       .k = 250,
                       .k_rule = SL_ELO_K_TENNIS,
                       .home_side = false,
                       .mov = SL_ELO_MOV_NONE,
                       .scale = 400,
                       .initial = 1500,
                       .mean = 1500,
                       .carry = 1},
    [SL_ELO_NCAAB] = {.name = "ncaab",
                      .k = 38,
                      .home_side = true,
                      .home_adv = 90,
                      .mov = SL_ELO_MOV_NBA538,
                      .scale = 400,
                      .initial = 1500,
                      .mean = 1500,
                      .carry = 0.75},
    [SL_ELO_WNCAAB] = {.name = "wncaab",
                       .k = 38,
                       .home_side = true,
                       .home_adv = 70,
                       .mov = SL_ELO_MOV_NBA538,
                       .scale = 400,
                       .initial = 1500,
                       .mean = 1500,
                       .carry = 0.75},
    [SL_ELO_LIGUE1] = {.name = "ligue1",
                       .k = 20,
                       .home_side = true,
                       .home_adv = 60,
                       .mov = SL_ELO_MOV_GOALS,
                       .scale = 400,
                       .initial = 1500,
                       .mean = 1500,
                       .carry = 0.8,
                       .draw_max = 0.31},
};

const struct sl_elo_params *sl_elo_params_get(enum sl_elo_sport sport)
{
        if ((int)sport < 0 || sport >= SL_ELO_NSPORTS)
                return NULL;
        return &sport_params[sport];
}

int sl_elo_sport_parse(const char *name, enum sl_elo_sport *sport)
{
        if (!name || !sport)
                return -EINVAL;
        for (int i = 0; i < SL_ELO_NSPORTS; i++) {
                if (strcasecmp(name, sport_params[i].name) == 0) {
                        *sport = (enum sl_elo_sport)i;
                        return 0;
                }
        }
        return -EINVAL;
}

const char *sl_elo_sport_name(enum sl_elo_sport sport)
{
        const struct sl_elo_params *params = sl_elo_params_get(sport);

        return params ? params->name : "?";
}

double sl_elo_expected(double diff, double scale)
{
        return 1.0 / (pow(10.0, -diff / scale) + 1.0);
}

double sl_elo_diff(const struct sl_elo_params *params, double r1, double r2, bool neutral)
{
        double diff = r1 - r2;

        if (params->home_side && !neutral)
                diff += params->home_adv;
        return diff;
}

static double goals_mult(int margin)
{
        if (margin <= 1)
                return 1.0;
        if (margin == 2)
                return 1.5;
        return (11.0 + margin) / 8.0;
}

double sl_elo_mov_mult(const struct sl_elo_params *params, int margin, double winner_diff,
                       bool draw)
{
        double m = margin < 0 ? -(double)margin : (double)margin;

        switch (params->mov) {
        case SL_ELO_MOV_NFL538:
                /* forecast.py: log(max(pd,1)+1) * (2.2 / (1.0 if tie else wd*0.001+2.2)) */
                return log(fmax(m, 1.0) + 1.0) * (2.2 / (draw ? 1.0 : winner_diff * 0.001 + 2.2));
        case SL_ELO_MOV_NBA538:
                if (draw)
                        return 1.0;
                return pow(m + 3.0, 0.8) / (7.5 + 0.006 * winner_diff);
        case SL_ELO_MOV_NHL538:
                if (draw)
                        return 1.0;
                return (0.6686 * log(fmax(m, 1.0)) + 0.8048) * 2.05 / (winner_diff * 0.001 + 2.05);
        case SL_ELO_MOV_MLB:
                if (draw)
                        return 1.0;
                return pow(m + 1.0, 0.7) / (1.0 + winner_diff / 1113.0);
        case SL_ELO_MOV_GOALS:
                return goals_mult((int)m);
        case SL_ELO_MOV_NONE:
        default:
                return 1.0;
        }
}

void sl_elo_probs3(const struct sl_elo_params *params, double e, double *p_win1, double *p_draw,
                   double *p_win2)
{
        double d = params->draw_max > 0 ? params->draw_max * 4.0 * e * (1.0 - e) : 0.0;

        if (p_win1)
                *p_win1 = e - d / 2.0;
        if (p_draw)
                *p_draw = d;
        if (p_win2)
                *p_win2 = 1.0 - e - d / 2.0;
}

double sl_elo_k(const struct sl_elo_params *params, bool playoff, int played)
{
        if (params->k_rule == SL_ELO_K_TENNIS)
                return params->k / pow((played < 0 ? 0 : played) + 5.0, 0.4);
        if (playoff && params->k_playoff > 0)
                return params->k_playoff;
        return params->k;
}

double sl_elo_carry(const struct sl_elo_params *params, double rating)
{
        /* written as 538 writes it: mean*(1-carry) + rating*carry */
        return params->mean * (1.0 - params->carry) + rating * params->carry;
}

static bool game_valid(const struct sl_elo_params *params, const struct sl_elo_game *game)
{
        return params && game && isfinite(game->r1) && isfinite(game->r2) && game->score1 >= 0 &&
               game->score2 >= 0 && params->scale > 0;
}

static void fill_probs(const struct sl_elo_params *params, const struct sl_elo_game *game,
                       struct sl_elo_outcome *out)
{
        memset(out, 0, sizeof(*out));
        out->r1 = game->r1;
        out->r2 = game->r2;
        out->diff = sl_elo_diff(params, game->r1, game->r2, game->neutral);
        out->expect1 = sl_elo_expected(out->diff, params->scale);
        sl_elo_probs3(params, out->expect1, &out->p_win1, &out->p_draw, &out->p_win2);
        out->r1_post = game->r1;
        out->r2_post = game->r2;
}

int sl_elo_predict(const struct sl_elo_params *params, const struct sl_elo_game *game,
                   struct sl_elo_outcome *out)
{
        if (!game_valid(params, game) || !out)
                return -EINVAL;
        fill_probs(params, game, out);
        return 0;
}

int sl_elo_rate(const struct sl_elo_params *params, const struct sl_elo_game *game,
                struct sl_elo_outcome *out)
{
        bool draw;
        double winner_diff, delta, k1, k2;

        if (!game_valid(params, game) || !out)
                return -EINVAL;
        fill_probs(params, game, out);
        draw = game->score1 == game->score2;
        out->result1 = draw ? 0.5 : (game->score1 > game->score2 ? 1.0 : 0.0);
        winner_diff = draw ? 0.0 : (out->result1 == 1.0 ? out->diff : -out->diff);
        out->mult = sl_elo_mov_mult(params, game->score1 - game->score2, winner_diff, draw);
        delta = out->mult * (out->result1 - out->expect1);
        k1 = sl_elo_k(params, game->playoff, game->played1);
        k2 = sl_elo_k(params, game->playoff, game->played2);
        out->shift1 = k1 * delta;
        out->shift2 = -(k2 * delta);
        out->r1_post = game->r1 + out->shift1;
        out->r2_post = game->r2 + out->shift2;
        return 0;
}

/* ---- league ----------------------------------------------------------------- */

struct team {
        char *name;      /* owned */
        double rating;   /* current, after the last game */
        int season;      /* season of the last game; valid when has_season */
        bool has_season; /* false until the first game (seeds carry no season) */
        int played;      /* games rated */
};

struct sl_elo_league {
        const struct sl_elo_params *params; /* borrowed */
        struct team *teams;                 /* first-seen order */
        size_t n, cap;
        size_t *slots; /* open addressing: index+1 into teams, 0 = empty */
        size_t nslots; /* power of two, > 2n */
};

static uint64_t hash_name(const char *s)
{
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */

        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

static size_t *find_slot(const struct sl_elo_league *league, const char *name)
{
        size_t mask = league->nslots - 1;
        size_t i = (size_t)hash_name(name) & mask;

        for (;; i = (i + 1) & mask) {
                size_t *slot = &league->slots[i];

                if (*slot == 0 || strcmp(league->teams[*slot - 1].name, name) == 0)
                        return slot;
        }
}

static struct team *find_team(const struct sl_elo_league *league, const char *name)
{
        size_t *slot = find_slot(league, name);

        return *slot ? &league->teams[*slot - 1] : NULL;
}

static void rehash(struct sl_elo_league *league)
{
        free(league->slots);
        league->nslots *= 2;
        league->slots = sl_xcalloc(league->nslots, sizeof(*league->slots));
        for (size_t i = 0; i < league->n; i++)
                *find_slot(league, league->teams[i].name) = i + 1;
}

static struct team *add_team(struct sl_elo_league *league, const char *name)
{
        struct team *team;

        if (2 * (league->n + 1) >= league->nslots)
                rehash(league);
        if (league->n == league->cap) {
                league->cap = league->cap ? 2 * league->cap : 32;
                league->teams = sl_xrealloc(league->teams, league->cap * sizeof(*league->teams));
        }
        team = &league->teams[league->n++];
        memset(team, 0, sizeof(*team));
        team->name = sl_xstrdup(name);
        team->rating = league->params->initial;
        *find_slot(league, name) = league->n;
        return team;
}

struct sl_elo_league *sl_elo_league_new(const struct sl_elo_params *params)
{
        struct sl_elo_league *league;

        if (!params)
                return NULL;
        league = sl_xcalloc(1, sizeof(*league));
        league->params = params;
        league->nslots = 64;
        league->slots = sl_xcalloc(league->nslots, sizeof(*league->slots));
        return league;
}

void sl_elo_league_free(struct sl_elo_league *league)
{
        if (!league)
                return;
        for (size_t i = 0; i < league->n; i++)
                free(league->teams[i].name);
        free(league->teams);
        free(league->slots);
        free(league);
}

int sl_elo_league_set(struct sl_elo_league *league, const char *team, double rating)
{
        struct team *t;

        if (!league || !team || !*team || !isfinite(rating))
                return -EINVAL;
        t = find_team(league, team);
        if (!t)
                t = add_team(league, team);
        t->rating = rating;
        return 0;
}

int sl_elo_league_get(const struct sl_elo_league *league, const char *team, double *rating,
                      int *played)
{
        const struct team *t = league && team ? find_team(league, team) : NULL;

        if (!t)
                return -ENOENT;
        if (rating)
                *rating = t->rating;
        if (played)
                *played = t->played;
        return 0;
}

/* The rating a team would have at a game of `season` (carry-over or a listed reversion). */
static double season_rating(const struct sl_elo_params *params, const struct team *team, int season)
{
        if (!team)
                return params->initial;
        if (!team->has_season || team->season == season)
                return team->rating;
        for (size_t i = 0; i < params->n_reversions; i++) {
                if (params->reversions[i].season == season &&
                    strcmp(params->reversions[i].team, team->name) == 0)
                        return params->reversions[i].rating;
        }
        return sl_elo_carry(params, team->rating);
}

static bool match_valid(const struct sl_elo_match *match)
{
        return match && match->team1 && match->team2 && *match->team1 && *match->team2 &&
               strcmp(match->team1, match->team2) != 0;
}

static void match_game(const struct sl_elo_params *params, const struct sl_elo_match *match,
                       const struct team *t1, const struct team *t2, struct sl_elo_game *game)
{
        memset(game, 0, sizeof(*game));
        game->r1 = season_rating(params, t1, match->season);
        game->r2 = season_rating(params, t2, match->season);
        game->neutral = match->neutral;
        game->playoff = match->playoff;
        game->score1 = match->score1;
        game->score2 = match->score2;
        game->played1 = t1 ? t1->played : 0;
        game->played2 = t2 ? t2->played : 0;
}

int sl_elo_league_predict(const struct sl_elo_league *league, const struct sl_elo_match *match,
                          struct sl_elo_outcome *out)
{
        struct sl_elo_game game;

        if (!league || !match_valid(match) || !out)
                return -EINVAL;
        match_game(league->params, match, find_team(league, match->team1),
                   find_team(league, match->team2), &game);
        game.score1 = game.score2 = 0;
        return sl_elo_predict(league->params, &game, out);
}

int sl_elo_league_play(struct sl_elo_league *league, const struct sl_elo_match *match,
                       struct sl_elo_outcome *out)
{
        struct sl_elo_game game;
        struct sl_elo_outcome res;
        struct team *t1, *t2;
        int rc;

        if (!league || !match_valid(match) || !out)
                return -EINVAL;
        match_game(league->params, match, find_team(league, match->team1),
                   find_team(league, match->team2), &game);
        rc = sl_elo_rate(league->params, &game, &res);
        if (rc < 0)
                return rc;
        t1 = find_team(league, match->team1);
        if (!t1)
                t1 = add_team(league, match->team1);
        t2 = find_team(league, match->team2); /* after add_team: teams may have moved */
        if (!t2)
                t2 = add_team(league, match->team2);
        t1 = find_team(league, match->team1);
        t1->rating = res.r1_post;
        t2->rating = res.r2_post;
        t1->season = t2->season = match->season;
        t1->has_season = t2->has_season = true;
        t1->played++;
        t2->played++;
        *out = res;
        return 0;
}

size_t sl_elo_league_count(const struct sl_elo_league *league)
{
        return league ? league->n : 0;
}

int sl_elo_league_team(const struct sl_elo_league *league, size_t i, const char **name,
                       double *rating, int *played)
{
        if (!league || i >= league->n)
                return -ERANGE;
        if (name)
                *name = league->teams[i].name;
        if (rating)
                *rating = league->teams[i].rating;
        if (played)
                *played = league->teams[i].played;
        return 0;
}
