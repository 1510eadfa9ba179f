/*
 * Replays FiveThirtyEight game files through libmodels' Elo and measures how
 * close it gets (replay.h, README.md, docs/models.md).
 */
#include "replay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sl/util.h>

#include "csv.h"

#define MAX_FILE_BYTES (64u << 20)

enum fmt { FMT_NFL, FMT_ELO, FMT_NHL, FMT_SPI };

/* One game, normalised across the file formats. Absent numbers are NaN. */
struct row {
        const char *date, *team1, *team2; /* borrowed from the csv */
        int season;
        bool neutral, playoff, played;
        int score1, score2;
        double pre1, pre2, prob1, prob2, pdraw, post1, post2;
        size_t order; /* position in date order as the file gives it */
};

/* Column indexes of one format. -1 = not in this format. */
struct cols {
        int date, season, neutral, playoff, team1, team2, score1, score2;
        int pre1, pre2, prob1, prob2, pdraw, post1, post2, league, status;
};

static double num_or_nan(const char *s)
{
        char *end;
        double v;

        if (!s || !*s)
                return NAN;
        v = strtod(s, &end);
        return *end == '\0' ? v : NAN;
}

static int int_field(const char *s, int64_t min, int64_t max, int *out)
{
        int64_t v;
        int rc = sl_parse_i64(s, min, max, &v);

        if (rc == 0)
                *out = (int)v;
        return rc;
}

static int col(const struct elo_csv *csv, const char *name)
{
        return elo_csv_col(csv, name);
}

static int detect(const struct elo_csv *csv, enum fmt *fmt, struct cols *c)
{
        memset(c, -1, sizeof(*c));
        c->date = col(csv, "date");
        if (col(csv, "result1") >= 0 && col(csv, "elo1") >= 0) {
                *fmt = FMT_NFL;
                c->pre1 = col(csv, "elo1");
                c->pre2 = col(csv, "elo2");
        } else if (col(csv, "elo1_pre") >= 0) {
                *fmt = FMT_ELO;
                c->pre1 = col(csv, "elo1_pre");
                c->pre2 = col(csv, "elo2_pre");
                c->prob2 = col(csv, "elo_prob2");
                c->post1 = col(csv, "elo1_post");
                c->post2 = col(csv, "elo2_post");
        } else if (col(csv, "home_team_pregame_rating") >= 0) {
                *fmt = FMT_NHL;
                c->team1 = col(csv, "home_team_abbr");
                c->team2 = col(csv, "away_team_abbr");
                c->pre1 = col(csv, "home_team_pregame_rating");
                c->pre2 = col(csv, "away_team_pregame_rating");
                c->prob1 = col(csv, "home_team_winprob");
                c->prob2 = col(csv, "away_team_winprob");
                c->post1 = col(csv, "home_team_postgame_rating");
                c->post2 = col(csv, "away_team_postgame_rating");
                c->score1 = col(csv, "home_team_score");
                c->score2 = col(csv, "away_team_score");
                c->status = col(csv, "status");
        } else if (col(csv, "spi1") >= 0) {
                *fmt = FMT_SPI;
                c->prob2 = col(csv, "prob2");
                c->pdraw = col(csv, "probtie");
                c->league = col(csv, "league");
        } else {
                return -EBADMSG;
        }
        if (*fmt != FMT_NHL) {
                c->team1 = col(csv, "team1");
                c->team2 = col(csv, "team2");
                c->prob1 = col(csv, "elo_prob1") >= 0 ? col(csv, "elo_prob1") : col(csv, "prob1");
                c->score1 = col(csv, "score1");
                c->score2 = col(csv, "score2");
        }
        if (*fmt != FMT_SPI) {
                c->season = col(csv, "season");
                c->neutral = col(csv, "neutral");
                c->playoff = col(csv, "playoff");
        }
        if (c->date < 0 || c->team1 < 0 || c->team2 < 0 || c->score1 < 0 || c->score2 < 0 ||
            c->prob1 < 0)
                return -EBADMSG;
        return 0;
}

static const char *field(char **f, int i)
{
        return i >= 0 ? f[i] : "";
}

/* Season of a soccer match dated YYYY-MM-DD: the year it started (July on). */
static int soccer_season(const char *date)
{
        char year_s[5] = {0}, month_s[3] = {0};
        int year = 0, month = 0;

        if (strlen(date) < 7)
                return 0;
        memcpy(year_s, date, 4);
        memcpy(month_s, date + 5, 2);
        if (int_field(year_s, 1800, 2200, &year) < 0 || int_field(month_s, 1, 12, &month) < 0)
                return 0;
        return month >= 7 ? year : year - 1;
}

/* Parses one csv row into *r; returns 1 to keep, 0 to skip, -EBADMSG on bad data. */
static int parse_row(enum fmt fmt, const struct cols *c, char **f, const char *league,
                     struct row *r)
{
        const char *pl = field(f, c->playoff);

        memset(r, 0, sizeof(*r));
        if (fmt == FMT_SPI && league && strcmp(field(f, c->league), league) != 0)
                return 0;
        r->date = f[c->date];
        r->team1 = f[c->team1];
        r->team2 = f[c->team2];
        if (fmt == FMT_SPI) {
                r->season = soccer_season(r->date);
                if (r->season == 0)
                        return -EBADMSG;
        } else if (int_field(field(f, c->season), 1800, 3000, &r->season) < 0)
                return -EBADMSG;
        r->neutral = strcmp(field(f, c->neutral), "1") == 0;
        r->playoff = *pl && strcmp(pl, "0") != 0;
        r->pre1 = c->pre1 >= 0 ? num_or_nan(f[c->pre1]) : NAN;
        r->pre2 = c->pre2 >= 0 ? num_or_nan(f[c->pre2]) : NAN;
        r->prob1 = num_or_nan(f[c->prob1]);
        r->prob2 = c->prob2 >= 0 ? num_or_nan(f[c->prob2]) : NAN;
        r->pdraw = c->pdraw >= 0 ? num_or_nan(f[c->pdraw]) : NAN;
        r->post1 = c->post1 >= 0 ? num_or_nan(f[c->post1]) : NAN;
        r->post2 = c->post2 >= 0 ? num_or_nan(f[c->post2]) : NAN;
        r->played =
            *f[c->score1] && *f[c->score2] && (c->status < 0 || strcmp(f[c->status], "post") == 0);
        if (r->played && (int_field(f[c->score1], 0, 1000, &r->score1) < 0 ||
                          int_field(f[c->score2], 0, 1000, &r->score2) < 0))
                return -EBADMSG;
        return 1;
}

static int cmp_row(const void *a, const void *b)
{
        const struct row *x = a, *y = b;
        int d = strcmp(x->date, y->date);

        if (d)
                return d;
        return x->order < y->order ? -1 : x->order > y->order;
}

struct loaded {
        struct elo_csv *csvs;
        size_t ncsvs;
        struct row *rows;
        size_t nrows, cap;
};

static void loaded_free(struct loaded *l)
{
        for (size_t i = 0; i < l->ncsvs; i++)
                elo_csv_free(&l->csvs[i]);
        free(l->csvs);
        free(l->rows);
}

/* Reads one file's rows; a file listed newest first is taken in reverse. */
static int load_file(struct loaded *l, const char *path, const char *league, char *errstr,
                     size_t errstr_size)
{
        struct elo_csv *csv = &l->csvs[l->ncsvs];
        struct cols c;
        enum fmt fmt;
        size_t first = l->nrows;
        int rc;

        rc = elo_csv_read(path, MAX_FILE_BYTES, csv, errstr, errstr_size);
        l->ncsvs++;
        if (rc < 0)
                return rc;
        if (detect(csv, &fmt, &c) < 0) {
                snprintf(errstr, errstr_size, "%s: not a known 538 game file format", path);
                return -EBADMSG;
        }
        for (size_t i = 0; i < csv->nrows; i++) {
                if (l->nrows == l->cap) {
                        l->cap = l->cap ? 2 * l->cap : 4096;
                        l->rows = sl_xrealloc(l->rows, l->cap * sizeof(*l->rows));
                }
                rc = parse_row(fmt, &c, csv->rows[i], league, &l->rows[l->nrows]);
                if (rc < 0) {
                        snprintf(errstr, errstr_size, "%s:%zu: bad season or score", path, i + 2);
                        return rc;
                }
                if (rc == 1) {
                        l->rows[l->nrows].order = l->nrows;
                        l->nrows++;
                }
        }
        if (l->nrows - first > 1 && strcmp(l->rows[first].date, l->rows[l->nrows - 1].date) > 0) {
                for (size_t i = first; i < l->nrows; i++)
                        l->rows[i].order = first + (l->nrows - 1 - i); /* newest first: reverse */
        }
        return 0;
}

static int load_seeds(struct sl_elo_league *league, const char *path, char *errstr,
                      size_t errstr_size)
{
        struct elo_csv csv;
        int rc = elo_csv_read(path, MAX_FILE_BYTES, &csv, errstr, errstr_size);
        int ct = elo_csv_col(&csv, "team"), ce = elo_csv_col(&csv, "elo");

        if (rc < 0)
                goto out;
        if (ct < 0 || ce < 0) {
                snprintf(errstr, errstr_size, "%s: want columns team,elo", path);
                rc = -EBADMSG;
                goto out;
        }
        for (size_t i = 0; i < csv.nrows; i++) {
                rc = sl_elo_league_set(league, csv.rows[i][ct], num_or_nan(csv.rows[i][ce]));
                if (rc < 0) {
                        snprintf(errstr, errstr_size, "%s:%zu: bad team or rating", path, i + 2);
                        goto out;
                }
        }
out:
        elo_csv_free(&csv);
        return rc;
}

void elo_calib_add(struct elo_calib *calib, double p, double obs)
{
        int bin = (int)(p * ELO_NBINS);

        if (bin < 0)
                bin = 0;
        if (bin >= ELO_NBINS)
                bin = ELO_NBINS - 1;
        calib->n[bin]++;
        calib->sum_p[bin] += p;
        calib->sum_obs[bin] += obs;
}

static double fmax_nan(double acc, double v)
{
        if (isnan(v))
                return acc;
        return isnan(acc) || v > acc ? v : acc;
}

static double clamp_p(double p)
{
        return p < 1e-15 ? 1e-15 : (p > 1 - 1e-15 ? 1 - 1e-15 : p);
}

/* Scores one prediction: Brier and log loss, 3-way when soccer. */
static void score(bool soccer, double pw, double pd, double pl, double result, double *brier,
                  double *logloss)
{
        if (soccer) {
                double ow = result == 1.0, od = result == 0.5, ol = result == 0.0;

                *brier += (pw - ow) * (pw - ow) + (pd - od) * (pd - od) + (pl - ol) * (pl - ol);
                *logloss -= log(clamp_p(ow ? pw : (od ? pd : pl)));
        } else {
                *brier += (pw - result) * (pw - result);
                *logloss -= result * log(clamp_p(pw)) + (1 - result) * log(clamp_p(1 - pw));
        }
}

/* One step from 538's own pre-game ratings and probability: isolates the update rule. */
static double step_from_538(const struct sl_elo_params *params, const struct row *r)
{
        struct sl_elo_params p = *params;
        struct sl_elo_game g = {.r1 = r->pre1,
                                .r2 = r->pre2,
                                .playoff = r->playoff,
                                .score1 = r->score1,
                                .score2 = r->score2};
        struct sl_elo_outcome o;

        if (isnan(r->pre1) || isnan(r->pre2) || isnan(r->prob1) || isnan(r->post1) ||
            isnan(r->post2) || r->prob1 <= 0 || r->prob1 >= 1)
                return NAN;
        p.home_side = true;
        p.home_adv = p.scale * log10(r->prob1 / (1 - r->prob1)) - (r->pre1 - r->pre2);
        if (sl_elo_rate(&p, &g, &o) < 0)
                return NAN;
        return fmax(fabs(o.r1_post - r->post1), fabs(o.r2_post - r->post2));
}

/* Rates the game from 538's own pre-game ratings with our rules (no chaining). */
static void resync(struct elo_eval *ev, const struct sl_elo_params *params, const struct row *r)
{
        struct sl_elo_game g = {.r1 = r->pre1,
                                .r2 = r->pre2,
                                .neutral = r->neutral,
                                .playoff = r->playoff,
                                .score1 = r->score1,
                                .score2 = r->score2};
        struct sl_elo_outcome o;

        if (isnan(r->pre1) || isnan(r->pre2) || sl_elo_rate(params, &g, &o) < 0)
                return;
        if (!isnan(r->prob1))
                ev->max_prob_err_resync =
                    fmax_nan(ev->max_prob_err_resync, fabs(o.p_win1 - r->prob1));
        if (!isnan(r->post1) && !isnan(r->post2))
                ev->max_post_err_resync =
                    fmax_nan(ev->max_post_err_resync,
                             fmax(fabs(o.r1_post - r->post1), fabs(o.r2_post - r->post2)));
}

/*
 * Counts places where 538's file does not chain: a team's pre-game rating
 * differs from its previous post-game rating (within a season). last538
 * holds each team's last published post (a league used as a name->number map).
 */
static void chain_check(struct elo_eval *ev, struct sl_elo_league *last538, const struct row *r)
{
        const char *teams[2] = {r->team1, r->team2};
        double pre[2] = {r->pre1, r->pre2}, post[2] = {r->post1, r->post2};

        for (int i = 0; i < 2; i++) {
                double prev;

                if (isnan(pre[i]) || isnan(post[i]))
                        continue;
                if (sl_elo_league_get(last538, teams[i], &prev, NULL) == 0 &&
                    fabs(prev - pre[i]) > 1e-6) {
                        if (ev->chain_breaks++ == 0)
                                snprintf(ev->first_break, sizeof(ev->first_break), "%s %s %+.6f",
                                         r->date, teams[i], pre[i] - prev);
                }
                sl_elo_league_set(last538, teams[i], post[i]);
        }
}

static void eval_init(struct elo_eval *ev, enum sl_elo_sport sport)
{
        memset(ev, 0, sizeof(*ev));
        ev->sport = sport;
        ev->max_prob_err = ev->max_pre_err = ev->max_post_err = NAN;
        ev->max_post_err_538prob = ev->max_implied_hfa = ev->min_implied_hfa = NAN;
        ev->max_prob_err_resync = ev->max_post_err_resync = NAN;
        ev->brier_538 = ev->logloss_538 = ev->mean_prob_err = NAN;
}

/* Accumulates the comparison of one rated game into *ev. */
static void eval_game(struct elo_eval *ev, const struct sl_elo_params *params, const struct row *r,
                      const struct sl_elo_outcome *o, double *b538, double *l538, size_t *n538,
                      double *sum_err)
{
        bool soccer = params->draw_max > 0;
        double obs = soccer ? (o->result1 == 1.0) : o->result1;

        ev->games++;
        score(soccer, o->p_win1, o->p_draw, o->p_win2, o->result1, &ev->brier, &ev->logloss);
        elo_calib_add(&ev->calib, o->p_win1, obs);
        if (!isnan(r->prob1)) {
                double p2 = soccer ? r->prob2 : 1 - r->prob1;

                score(soccer, r->prob1, soccer ? r->pdraw : 0, p2, o->result1, b538, l538);
                elo_calib_add(&ev->calib_538, r->prob1, obs);
                (*n538)++;
                *sum_err += fabs(o->p_win1 - r->prob1);
                ev->max_prob_err = fmax_nan(ev->max_prob_err, fabs(o->p_win1 - r->prob1));
        }
        if (!isnan(r->pre1) && !isnan(r->pre2))
                ev->max_pre_err =
                    fmax_nan(ev->max_pre_err, fmax(fabs(o->r1 - r->pre1), fabs(o->r2 - r->pre2)));
        if (!isnan(r->post1) && !isnan(r->post2)) {
                double err = fmax(fabs(o->r1_post - r->post1), fabs(o->r2_post - r->post2));

                ev->max_post_err = fmax_nan(ev->max_post_err, err);
                if (err < 1e-6)
                        ev->post_ok++;
        }
        if (!soccer)
                resync(ev, params, r);
        if (!soccer)
                ev->max_post_err_538prob =
                    fmax_nan(ev->max_post_err_538prob, step_from_538(params, r));
        if (!r->neutral && !isnan(r->prob1) && !isnan(r->pre1) && r->prob1 > 0 && r->prob1 < 1) {
                double hfa = params->scale * log10(r->prob1 / (1 - r->prob1)) - (r->pre1 - r->pre2);

                ev->max_implied_hfa = fmax_nan(ev->max_implied_hfa, hfa);
                ev->min_implied_hfa = isnan(ev->min_implied_hfa) || hfa < ev->min_implied_hfa
                                          ? hfa
                                          : ev->min_implied_hfa;
        }
}

static void print_game(const struct row *r, const struct sl_elo_outcome *o)
{
        printf("%s,%d,%s,%s,%d,%d,%.10f,%.10f,%.6f,%.6f,%.6f,%.6f\n", r->date, r->season, r->team1,
               r->team2, r->score1, r->score2, o->p_win1, r->prob1, o->r1_post, o->r2_post,
               r->post1, r->post2);
}

static int run_rows(const struct elo_replay_opts *opts, struct sl_elo_league *league,
                    const struct row *rows, size_t n, struct elo_eval *ev, char *errstr,
                    size_t errstr_size)
{
        const struct sl_elo_params *params = sl_elo_params_get(opts->sport);
        struct sl_elo_league *last538 = sl_elo_league_new(params);
        double b538 = 0, l538 = 0, sum_err = 0;
        size_t n538 = 0;

        if (opts->print_games)
                printf("date,season,team1,team2,score1,score2,p1,p1_538,post1,post2,post1_538,"
                       "post2_538\n");
        for (size_t i = 0; i < n; i++) {
                const struct row *r = &rows[i];
                struct sl_elo_match m = {.team1 = r->team1,
                                         .team2 = r->team2,
                                         .season = r->season,
                                         .neutral = r->neutral,
                                         .playoff = r->playoff,
                                         .score1 = r->score1,
                                         .score2 = r->score2};
                struct sl_elo_outcome o;

                if (!opts->initial && sl_elo_league_get(league, r->team1, NULL, NULL) < 0 &&
                    !isnan(r->pre1))
                        sl_elo_league_set(league, r->team1, r->pre1);
                if (!opts->initial && sl_elo_league_get(league, r->team2, NULL, NULL) < 0 &&
                    !isnan(r->pre2))
                        sl_elo_league_set(league, r->team2, r->pre2);
                if (!r->played)
                        continue;
                if (sl_elo_league_play(league, &m, &o) < 0) {
                        snprintf(errstr, errstr_size, "%s %s-%s: cannot rate", r->date, r->team1,
                                 r->team2);
                        sl_elo_league_free(last538);
                        return -EBADMSG;
                }
                chain_check(ev, last538, r);
                if (r->season < opts->from_season)
                        continue;
                eval_game(ev, params, r, &o, &b538, &l538, &n538, &sum_err);
                if (opts->print_games)
                        print_game(r, &o);
        }
        sl_elo_league_free(last538);
        if (ev->games) {
                ev->brier /= (double)ev->games;
                ev->logloss /= (double)ev->games;
        }
        if (n538) {
                ev->brier_538 = b538 / (double)n538;
                ev->logloss_538 = l538 / (double)n538;
                ev->mean_prob_err = sum_err / (double)n538;
        }
        return 0;
}

int elo_replay(const struct elo_replay_opts *opts, const char *const *files, size_t nfiles,
               struct elo_eval *ev, char *errstr, size_t errstr_size)
{
        const struct sl_elo_params *params = sl_elo_params_get(opts->sport);
        struct loaded l = {0};
        struct sl_elo_league *league = NULL;
        size_t used = 0;
        int rc = 0;

        eval_init(ev, opts->sport);
        if (!params || nfiles == 0) {
                snprintf(errstr, errstr_size, "no sport or no files");
                return -EINVAL;
        }
        l.csvs = sl_xcalloc(nfiles, sizeof(*l.csvs));
        for (size_t i = 0; i < nfiles; i++) {
                rc = load_file(&l, files[i], opts->league, errstr, errstr_size);
                if (rc < 0)
                        goto out;
                used += (size_t)snprintf(
                    ev->source + used, sizeof(ev->source) - used, "%s%s", i ? " " : "",
                    strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i]);
                if (used >= sizeof(ev->source))
                        used = sizeof(ev->source) - 1; /* a long list is cut, not an error */
        }
        ev->rows = l.nrows;
        sl_qsort(l.rows, l.nrows, sizeof(*l.rows), cmp_row);
        league = sl_elo_league_new(params);
        if (opts->initial) {
                rc = load_seeds(league, opts->initial, errstr, errstr_size);
                if (rc < 0)
                        goto out;
        }
        rc = run_rows(opts, league, l.rows, l.nrows, ev, errstr, errstr_size);
out:
        sl_elo_league_free(league);
        loaded_free(&l);
        return rc;
}
