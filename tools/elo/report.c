/*
 * The Markdown and JSON accuracy report of statline-elo (replay.h).
 */
#include "replay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <sl/util.h>

/* Formats v as %.4f (kind 'f') or %.2e (kind 'e'), or "n/a" for NaN, into buf. */
static const char *fmtnum(char *buf, size_t size, char kind, double v)
{
        if (isnan(v))
                snprintf(buf, size, "n/a");
        else if (kind == 'e')
                snprintf(buf, size, "%.2e", v);
        else
                snprintf(buf, size, "%.4f", v);
        return buf;
}

static void md_summary(FILE *f, const struct elo_eval *evals, size_t n)
{
        fprintf(f, "## Summary\n\n"
                   "Brier: binary (P(team 1 wins) vs 1/0.5/0), or 3-way for soccer (sum over "
                   "win/draw/loss, range 0..2). \"Ref\" is FiveThirtyEight's own probability "
                   "on the same games, or the true probability for simulated sports. "
                   "Errors are absolute differences from 538's published numbers: "
                   "p = P(team 1 wins), pre/post = ratings; \"post, 538 p\" takes one step from "
                   "538's pre-game ratings and probability, isolating the update rule; \"post, 538 "
                   "pre\" rates every game with our rules from 538's own pre-game ratings; "
                   "\"538 breaks\" counts places where 538's file does not chain (a pre-game "
                   "rating differs from the team's previous post-game rating).\n\n"
                   "| sport | source | games | Brier | ref Brier | log loss | ref log loss | "
                   "max err p | mean err p | max err pre | max err post | max err post, 538 p "
                   "| max err post, 538 pre | 538 breaks | 538 implied HFA |\n"
                   "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (size_t i = 0; i < n; i++) {
                const struct elo_eval *e = &evals[i];
                char b[12][32];

                fprintf(
                    f, "| %s | %s | %zu | %s | %s | %s | %s | %s | %s | %s | %s | %s | ",
                    sl_elo_sport_name(e->sport), e->source, e->games,
                    fmtnum(b[0], 32, 'f', e->brier), fmtnum(b[1], 32, 'f', e->brier_538),
                    fmtnum(b[2], 32, 'f', e->logloss), fmtnum(b[3], 32, 'f', e->logloss_538),
                    fmtnum(b[4], 32, 'e', e->max_prob_err), fmtnum(b[5], 32, 'e', e->mean_prob_err),
                    fmtnum(b[6], 32, 'e', e->max_pre_err), fmtnum(b[7], 32, 'e', e->max_post_err),
                    fmtnum(b[8], 32, 'e', e->max_post_err_538prob));
                fprintf(f, "%s | %zu | ", fmtnum(b[9], 32, 'e', e->max_post_err_resync),
                        e->chain_breaks);
                if (isnan(e->min_implied_hfa))
                        fprintf(f, "n/a |\n");
                else
                        fprintf(f, "%.1f..%.1f |\n", e->min_implied_hfa, e->max_implied_hfa);
        }
        fprintf(f, "\n");
}

static void md_calib(FILE *f, const struct elo_eval *e, const char *ref)
{
        fprintf(f,
                "### %s calibration (%s)\n\n"
                "P(team 1 wins) in 10 bins: games, mean forecast, observed rate (ties 0.5; "
                "soccer draws count as not a home win).\n\n"
                "| bin | n | forecast | observed | %s n | %s forecast | %s observed |\n"
                "|---|---:|---:|---:|---:|---:|---:|\n",
                sl_elo_sport_name(e->sport), e->source, ref, ref, ref);
        for (int b = 0; b < ELO_NBINS; b++) {
                const struct elo_calib *c = &e->calib, *r = &e->calib_538;

                fprintf(f, "| %.1f-%.1f | %zu | ", b / 10.0, (b + 1) / 10.0, c->n[b]);
                if (c->n[b])
                        fprintf(f, "%.3f | %.3f | ", c->sum_p[b] / (double)c->n[b],
                                c->sum_obs[b] / (double)c->n[b]);
                else
                        fprintf(f, "- | - | ");
                fprintf(f, "%zu | ", r->n[b]);
                if (r->n[b])
                        fprintf(f, "%.3f | %.3f |\n", r->sum_p[b] / (double)r->n[b],
                                r->sum_obs[b] / (double)r->n[b]);
                else
                        fprintf(f, "- | - |\n");
        }
        fprintf(f, "\n");
}

static void md_sims(FILE *f, const struct elo_sim_result *sims, size_t nsims)
{
        fprintf(f, "## Simulated seasons (known true strengths)\n\n"
                   "RMSE and correlation compare end-of-season ratings with the true strengths "
                   "(both centred on their means). Oracle Brier uses the true probabilities.\n\n"
                   "| sport | season | games | RMSE | corr | Brier | oracle Brier |\n"
                   "|---|---:|---:|---:|---:|---:|---:|\n");
        for (size_t i = 0; i < nsims; i++) {
                for (int s = 0; s < sims[i].nseasons; s++) {
                        const struct elo_sim_season *ss = &sims[i].seasons[s];

                        fprintf(f, "| %s | %d | %zu | %.1f | %.3f | %.4f | %.4f |\n",
                                sl_elo_sport_name(sims[i].ev.sport), ss->season, ss->games,
                                ss->rmse, ss->corr, ss->brier, ss->brier_oracle);
                }
        }
        fprintf(f, "\n");
}

static int write_md(const struct elo_eval *evals, size_t n, const struct elo_sim_result *sims,
                    size_t nsims, const char *path, char *errstr, size_t errstr_size)
{
        FILE *f = fopen(path, "w");

        if (!f) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return -errno;
        }
        fprintf(f, "# statline Elo accuracy report\n\n"
                   "Written by `statline-elo report` (tools/elo/README.md); formulas in "
                   "docs/models.md.\n\n");
        md_summary(f, evals, n);
        if (nsims)
                md_sims(f, sims, nsims);
        fprintf(f, "## Calibration\n\n");
        for (size_t i = 0; i < n; i++)
                md_calib(f, &evals[i],
                         strncmp(evals[i].source, "simulated", 9) == 0 ? "oracle" : "538");
        if (fclose(f) != 0) {
                snprintf(errstr, errstr_size, "%s: write failed", path);
                return -EIO;
        }
        return 0;
}

static void json_num(cJSON *o, const char *name, double v)
{
        if (isnan(v))
                cJSON_AddNullToObject(o, name);
        else
                cJSON_AddNumberToObject(o, name, v);
}

static cJSON *json_calib(const struct elo_calib *c)
{
        cJSON *arr = cJSON_CreateArray();

        for (int b = 0; b < ELO_NBINS; b++) {
                cJSON *bin = cJSON_CreateObject();

                cJSON_AddNumberToObject(bin, "lo", b / 10.0);
                cJSON_AddNumberToObject(bin, "hi", (b + 1) / 10.0);
                cJSON_AddNumberToObject(bin, "n", (double)c->n[b]);
                json_num(bin, "forecast", c->n[b] ? c->sum_p[b] / (double)c->n[b] : NAN);
                json_num(bin, "observed", c->n[b] ? c->sum_obs[b] / (double)c->n[b] : NAN);
                cJSON_AddItemToArray(arr, bin);
        }
        return arr;
}

static cJSON *json_eval(const struct elo_eval *e)
{
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "sport", sl_elo_sport_name(e->sport));
        cJSON_AddStringToObject(o, "source", e->source);
        cJSON_AddNumberToObject(o, "games", (double)e->games);
        json_num(o, "brier", e->brier);
        json_num(o, "brier_ref", e->brier_538);
        json_num(o, "logloss", e->logloss);
        json_num(o, "logloss_ref", e->logloss_538);
        json_num(o, "max_prob_err", e->max_prob_err);
        json_num(o, "mean_prob_err", e->mean_prob_err);
        json_num(o, "max_pre_err", e->max_pre_err);
        json_num(o, "max_post_err", e->max_post_err);
        json_num(o, "max_post_err_538prob", e->max_post_err_538prob);
        json_num(o, "max_prob_err_resync", e->max_prob_err_resync);
        json_num(o, "max_post_err_resync", e->max_post_err_resync);
        cJSON_AddNumberToObject(o, "post_ok", (double)e->post_ok);
        cJSON_AddNumberToObject(o, "chain_breaks", (double)e->chain_breaks);
        json_num(o, "min_implied_hfa", e->min_implied_hfa);
        json_num(o, "max_implied_hfa", e->max_implied_hfa);
        cJSON_AddItemToObject(o, "calibration", json_calib(&e->calib));
        cJSON_AddItemToObject(o, "calibration_ref", json_calib(&e->calib_538));
        return o;
}

static cJSON *json_sim(const struct elo_sim_result *s)
{
        cJSON *o = json_eval(&s->ev), *arr = cJSON_CreateArray();

        cJSON_AddNumberToObject(o, "truth_sd", s->truth_sd);
        for (int i = 0; i < s->nseasons; i++) {
                cJSON *ss = cJSON_CreateObject();

                cJSON_AddNumberToObject(ss, "season", s->seasons[i].season);
                cJSON_AddNumberToObject(ss, "games", (double)s->seasons[i].games);
                cJSON_AddNumberToObject(ss, "rmse", s->seasons[i].rmse);
                cJSON_AddNumberToObject(ss, "corr", s->seasons[i].corr);
                cJSON_AddNumberToObject(ss, "brier", s->seasons[i].brier);
                cJSON_AddNumberToObject(ss, "brier_oracle", s->seasons[i].brier_oracle);
                cJSON_AddItemToArray(arr, ss);
        }
        cJSON_AddItemToObject(o, "seasons", arr);
        return o;
}

static int write_json(const struct elo_eval *evals, size_t n, const struct elo_sim_result *sims,
                      size_t nsims, const char *path, char *errstr, size_t errstr_size)
{
        cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray(), *sarr = cJSON_CreateArray();
        char *text = NULL;
        FILE *f = NULL;
        int rc = 0;

        for (size_t i = 0; i < n; i++)
                cJSON_AddItemToArray(arr, json_eval(&evals[i]));
        for (size_t i = 0; i < nsims; i++)
                cJSON_AddItemToArray(sarr, json_sim(&sims[i]));
        cJSON_AddItemToObject(root, "replays", arr);
        cJSON_AddItemToObject(root, "simulations", sarr);
        text = cJSON_Print(root);
        f = fopen(path, "w");
        if (!f || !text || fputs(text, f) < 0 || fputc('\n', f) < 0) {
                snprintf(errstr, errstr_size, "%s: cannot write", path);
                rc = -EIO;
        }
        if (f && fclose(f) != 0 && rc == 0) {
                snprintf(errstr, errstr_size, "%s: write failed", path);
                rc = -EIO;
        }
        free(text);
        cJSON_Delete(root);
        return rc;
}

int elo_report_write(const struct elo_eval *evals, size_t n, const struct elo_sim_result *sims,
                     size_t nsims, const char *md_path, const char *json_path, char *errstr,
                     size_t errstr_size)
{
        int rc = 0;

        if (md_path)
                rc = write_md(evals, n, sims, nsims, md_path, errstr, errstr_size);
        if (rc == 0 && json_path)
                rc = write_json(evals, n, sims, nsims, json_path, errstr, errstr_size);
        return rc;
}
