#include "sl/nhl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * NHL shot metrics, the xG logistic model and the team ratings
 * (docs/models-nhl.md). Pure arithmetic over caller-owned arrays.
 */

#define NET_X       89.0
#define DEG_PER_RAD (180.0 / 3.14159265358979323846)

int sl_nhl_event_from_key(const char *k)
{
        if (!k)
                return SL_NHL_EV_OTHER;
        if (strcmp(k, "goal") == 0)
                return SL_NHL_EV_GOAL;
        if (strcmp(k, "shot-on-goal") == 0)
                return SL_NHL_EV_SOG;
        if (strcmp(k, "missed-shot") == 0)
                return SL_NHL_EV_MISSED;
        if (strcmp(k, "blocked-shot") == 0)
                return SL_NHL_EV_BLOCKED;
        return SL_NHL_EV_OTHER;
}

static const char *const shot_names[SL_NHL_ST_COUNT] = {"wrist",  "snap",      "slap", "backhand",
                                                        "tip-in", "deflected", "other"};

int sl_nhl_shot_type_from_key(const char *k)
{
        for (int i = 0; k && i < SL_NHL_ST_OTHER; i++)
                if (strcmp(k, shot_names[i]) == 0)
                        return i;
        return SL_NHL_ST_OTHER;
}

const char *sl_nhl_shot_type_name(int t)
{
        return t >= 0 && t < SL_NHL_ST_COUNT ? shot_names[t] : "other";
}

int sl_nhl_situation(const char *c, int *ag, int *as, int *hs, int *hg)
{
        if (!c || strlen(c) != 4 || strspn(c, "0123456789") != 4)
                return -EINVAL;
        if (c[0] > '1' || c[3] > '1' || c[1] < '3' || c[1] > '6' || c[2] < '3' || c[2] > '6')
                return -EINVAL;
        *ag = c[0] - '0';
        *as = c[1] - '0';
        *hs = c[2] - '0';
        *hg = c[3] - '0';
        return 0;
}

bool sl_nhl_is_5v5(const char *code)
{
        return code && strcmp(code, "1551") == 0;
}

int sl_nhl_shot_geometry(const struct sl_nhl_play *p, bool is_home, double *dist, double *angle)
{
        double net, dx;

        if (!p->has_xy)
                return -EINVAL;
        if (p->home_def_right < 0)
                net = p->x >= 0 ? NET_X : -NET_X;
        else /* home defends +x when "right": it attacks -x */
                net = ((p->home_def_right == 1) == is_home) ? -NET_X : NET_X;
        dx = fabs(net - p->x);
        *dist = sqrt(dx * dx + p->y * p->y);
        *angle = atan2(fabs(p->y), dx) * DEG_PER_RAD;
        return 0;
}

/* ---- expected goals ------------------------------------------------------------------ */

int sl_nhl_xg_features(const struct sl_nhl_play *p, int64_t home_id, double x[SL_NHL_XG_NFEAT])
{
        int ag, as, hs, hg, own_sk, opp_sk, opp_g;
        bool is_home;
        double d, a;

        if (p->shootout || (p->event != SL_NHL_EV_GOAL && p->event != SL_NHL_EV_SOG &&
                            p->event != SL_NHL_EV_MISSED))
                return -ENOENT;
        if (p->team_id == 0)
                return -EINVAL;
        is_home = p->team_id == home_id;
        if (sl_nhl_shot_geometry(p, is_home, &d, &a) < 0)
                return -EINVAL;
        memset(x, 0, SL_NHL_XG_NFEAT * sizeof(*x));
        x[0] = 1.0;
        x[1] = d / 10.0;
        x[2] = (d / 10.0) * (d / 10.0) / 10.0;
        x[3] = a / 45.0;
        x[4] = log(d + 1.0);
        if (p->shot_type > SL_NHL_ST_WRIST && p->shot_type < SL_NHL_ST_COUNT)
                x[4 + p->shot_type] = 1.0;
        if (sl_nhl_situation(p->situation, &ag, &as, &hs, &hg) == 0) {
                own_sk = is_home ? hs : as;
                opp_sk = is_home ? as : hs;
                opp_g = is_home ? ag : hg;
                x[11] = own_sk > opp_sk;
                x[12] = own_sk < opp_sk;
                x[13] = opp_g == 0;
        }
        return 0;
}

double sl_nhl_xg_prob(const struct sl_nhl_xg_model *m, const double x[SL_NHL_XG_NFEAT])
{
        double z = 0;

        for (int j = 0; j < SL_NHL_XG_NFEAT; j++)
                z += m->w[j] * x[j];
        return 1.0 / (1.0 + exp(-z));
}

void sl_nhl_xg_default(struct sl_nhl_xg_model *m)
{
        /* statline-nhl train-xg (simulated seasons 2023-24 of seed 1, tested on 2024-25) */
        static const double w[SL_NHL_XG_NFEAT] = {
            -1.122855, -0.503458, -0.164524, -0.667897, 0.002843, 0.082484, -0.105974,
            -0.048619, 0.342774,  0.211373,  -0.307417, 0.341421, 0.063406, 3.028197};
        memcpy(m->w, w, sizeof(w));
}

/* Solves A x = b (k x k, row-major, destroyed) by Gaussian elimination with partial pivoting. */
static int solve(double *A, double *b, int k)
{
        for (int c = 0; c < k; c++) {
                int piv = c;
                for (int r = c + 1; r < k; r++)
                        if (fabs(A[r * k + c]) > fabs(A[piv * k + c]))
                                piv = r;
                if (fabs(A[piv * k + c]) < 1e-12)
                        return -EDOM;
                if (piv != c) {
                        for (int j = 0; j < k; j++) {
                                double t = A[c * k + j];
                                A[c * k + j] = A[piv * k + j];
                                A[piv * k + j] = t;
                        }
                        double t = b[c];
                        b[c] = b[piv];
                        b[piv] = t;
                }
                for (int r = c + 1; r < k; r++) {
                        double f = A[r * k + c] / A[c * k + c];
                        for (int j = c; j < k; j++)
                                A[r * k + j] -= f * A[c * k + j];
                        b[r] -= f * b[c];
                }
        }
        for (int r = k - 1; r >= 0; r--) {
                double s = b[r];
                for (int j = r + 1; j < k; j++)
                        s -= A[r * k + j] * b[j];
                b[r] = s / A[r * k + r];
        }
        return 0;
}

/* Penalized negative log likelihood of w (the training objective). */
static double objective(const double *w, const double *X, const int *y, size_t n, double lambda)
{
        double s = 0;

        for (size_t i = 0; i < n; i++) {
                const double *x = X + i * SL_NHL_XG_NFEAT;
                double z = 0;
                for (int j = 0; j < SL_NHL_XG_NFEAT; j++)
                        z += w[j] * x[j];
                /* log(1 + e^z) - y z, computed without overflow */
                s += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - (y[i] ? z : 0);
        }
        for (int j = 1; j < SL_NHL_XG_NFEAT; j++)
                s += 0.5 * lambda * w[j] * w[j];
        return s;
}

int sl_nhl_xg_train(const double *X, const int *y, size_t n, double lambda,
                    struct sl_nhl_xg_model *m, int *iters)
{
        enum { K = SL_NHL_XG_NFEAT };
        double H[K * K], g[K], w[K], obj;
        size_t pos = 0;

        for (size_t i = 0; i < n; i++)
                pos += y[i] != 0;
        if (!X || !y || !m || n == 0 || pos == 0 || pos == n || !(lambda >= 0))
                return -EINVAL;
        memset(m->w, 0, sizeof(m->w));
        m->w[0] = log((double)pos / (double)(n - pos));
        obj = objective(m->w, X, y, n, lambda);
        for (int it = 1; it <= 50; it++) {
                double step = 0, t = 1.0, next = obj;
                memset(H, 0, sizeof(H));
                for (int j = 0; j < K; j++)
                        g[j] = j ? -lambda * m->w[j] : 0;
                for (size_t i = 0; i < n; i++) {
                        const double *x = X + i * K;
                        double p = sl_nhl_xg_prob(m, x), wgt = p * (1 - p);
                        for (int j = 0; j < K; j++) {
                                if (x[j] == 0)
                                        continue;
                                g[j] += ((y[i] != 0) - p) * x[j];
                                for (int l = 0; l < K; l++)
                                        H[j * K + l] += wgt * x[j] * x[l];
                        }
                }
                for (int j = 1; j < K; j++)
                        H[j * K + j] += lambda;
                for (int j = 0; j < K; j++)
                        H[j * K + j] += 1e-9; /* features absent from the data */
                if (solve(H, g, K) < 0)
                        return -EDOM;
                /* damped Newton: halve the step until the objective does not increase */
                for (int h = 0; h < 30; h++, t *= 0.5) {
                        for (int j = 0; j < K; j++)
                                w[j] = m->w[j] + t * g[j];
                        next = objective(w, X, y, n, lambda);
                        if (next <= obj)
                                break;
                }
                if (!(next <= obj))
                        return -EDOM;
                for (int j = 0; j < K; j++)
                        step = fmax(step, fabs(w[j] - m->w[j]));
                memcpy(m->w, w, sizeof(w));
                obj = next;
                if (step < 1e-7) {
                        if (iters)
                                *iters = it;
                        return 0;
                }
        }
        return -EDOM;
}

static double clamp_p(double p)
{
        return p < 1e-12 ? 1e-12 : p > 1 - 1e-12 ? 1 - 1e-12 : p;
}

double sl_nhl_log_loss(const struct sl_nhl_xg_model *m, const double *X, const int *y, size_t n)
{
        double s = 0;

        for (size_t i = 0; i < n; i++) {
                double p = clamp_p(sl_nhl_xg_prob(m, X + i * SL_NHL_XG_NFEAT));
                s -= y[i] ? log(p) : log(1 - p);
        }
        return n ? s / (double)n : 0;
}

double sl_nhl_base_log_loss(double p, const int *y, size_t n)
{
        double s = 0;

        p = clamp_p(p);
        for (size_t i = 0; i < n; i++)
                s -= y[i] ? log(p) : log(1 - p);
        return n ? s / (double)n : 0;
}

/* ---- game metrics -------------------------------------------------------------------- */

static void count(struct sl_nhl_counts *c, int ev, double xg)
{
        switch (ev) {
        case SL_NHL_EV_GOAL:
                c->goals++;
                break;
        case SL_NHL_EV_SOG:
                c->sog++;
                break;
        case SL_NHL_EV_MISSED:
                c->missed++;
                break;
        case SL_NHL_EV_BLOCKED:
                c->blocked++;
                break;
        default:
                return;
        }
        c->corsi++;
        if (ev != SL_NHL_EV_BLOCKED)
                c->fenwick++;
        if (ev == SL_NHL_EV_GOAL || ev == SL_NHL_EV_SOG)
                c->shots++;
        c->xg += xg;
}

int sl_nhl_game_metrics(const struct sl_nhl_play *plays, size_t n, int64_t home_id, int64_t away_id,
                        const struct sl_nhl_xg_model *m, struct sl_nhl_team_game out[2], int *no_xy)
{
        struct sl_nhl_xg_model def;
        int missing = 0;

        if (home_id <= 0 || away_id <= 0 || home_id == away_id)
                return -EINVAL;
        if (!m) {
                sl_nhl_xg_default(&def);
                m = &def;
        }
        memset(out, 0, 2 * sizeof(*out));
        out[0].team_id = home_id;
        out[0].home = true;
        out[1].team_id = away_id;
        for (size_t i = 0; i < n; i++) {
                const struct sl_nhl_play *p = &plays[i];
                double x[SL_NHL_XG_NFEAT], xg = 0;
                int s, rc;

                if (p->event == SL_NHL_EV_OTHER || p->shootout)
                        continue;
                if (p->team_id == home_id)
                        s = 0;
                else if (p->team_id == away_id)
                        s = 1;
                else
                        return -EINVAL;
                rc = sl_nhl_xg_features(p, home_id, x);
                if (rc == 0)
                        xg = sl_nhl_xg_prob(m, x);
                else if (rc == -EINVAL)
                        missing++;
                count(&out[s].all_for, p->event, xg);
                count(&out[1 - s].all_against, p->event, xg);
                if (sl_nhl_is_5v5(p->situation)) {
                        count(&out[s].ev_for, p->event, xg);
                        count(&out[1 - s].ev_against, p->event, xg);
                }
        }
        if (no_xy)
                *no_xy = missing;
        return 0;
}

/* ---- aggregates and ratings ---------------------------------------------------------- */

int sl_nhl_agg_add(struct sl_nhl_team_agg *a, const struct sl_nhl_team_game *g)
{
        if (!a || !g || a->team_id != g->team_id)
                return -EINVAL;
        a->games++;
        a->cf += g->all_for.corsi;
        a->ca += g->all_against.corsi;
        a->ff += g->all_for.fenwick;
        a->fa += g->all_against.fenwick;
        a->sf += g->all_for.shots;
        a->sa += g->all_against.shots;
        a->gf += g->all_for.goals;
        a->ga += g->all_against.goals;
        a->xgf += g->all_for.xg;
        a->xga += g->all_against.xg;
        a->cf5 += g->ev_for.corsi;
        a->ca5 += g->ev_against.corsi;
        a->ff5 += g->ev_for.fenwick;
        a->fa5 += g->ev_against.fenwick;
        a->gf5 += g->ev_for.goals;
        a->ga5 += g->ev_against.goals;
        a->xgf5 += g->ev_for.xg;
        a->xga5 += g->ev_against.xg;
        return 0;
}

const double sl_nhl_tpi_weights[SL_NHL_M_COUNT] = {0.30, 0.20, 0.25, 0.15, 0.10};

static double share(double f, double a)
{
        return f + a > 0 ? f / (f + a) : 0.5;
}

int sl_nhl_ratings(const struct sl_nhl_team_agg *aggs, size_t n, struct sl_nhl_rating *out)
{
        if (!aggs || !out || n < 2)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                const struct sl_nhl_team_agg *a = &aggs[i];
                struct sl_nhl_rating *r = &out[i];
                if (a->games <= 0 || a->sf <= 0 || a->sa <= 0)
                        return -EINVAL;
                memset(r, 0, sizeof(*r));
                r->team_id = a->team_id;
                r->games = a->games;
                r->value[SL_NHL_M_XGF_PCT5] = share(a->xgf5, a->xga5);
                r->value[SL_NHL_M_CF_PCT5] = share(a->cf5, a->ca5);
                r->value[SL_NHL_M_GF_PCT] = share(a->gf, a->ga);
                r->value[SL_NHL_M_SV_PCT] = 1.0 - a->ga / a->sa;
                r->value[SL_NHL_M_SH_PCT] = a->gf / a->sf;
        }
        for (int k = 0; k < SL_NHL_M_COUNT; k++) {
                double mean = 0, var = 0, sd;
                for (size_t i = 0; i < n; i++)
                        mean += out[i].value[k];
                mean /= (double)n;
                for (size_t i = 0; i < n; i++)
                        var += (out[i].value[k] - mean) * (out[i].value[k] - mean);
                sd = sqrt(var / (double)n);
                for (size_t i = 0; i < n; i++) {
                        out[i].z[k] = sd > 1e-12 ? (out[i].value[k] - mean) / sd : 0;
                        out[i].tpi += sl_nhl_tpi_weights[k] * out[i].z[k];
                }
        }
        return 0;
}

double sl_nhl_goi(const struct sl_nhl_rating *home, const struct sl_nhl_rating *away,
                  double *p_home)
{
        double goi = home->tpi - away->tpi + SL_NHL_GOI_HOME;

        if (p_home)
                *p_home = 1.0 / (1.0 + exp(-SL_NHL_GOI_SCALE * goi));
        return goi;
}
