#include "prediction.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <xgboost/c_api.h>

#include <sl/util.h>

/* xgboost_v1: a gradient-boosted regression model through XGBoost's C API. */

struct pred_model {
        BoosterHandle booster;
        size_t nf; /* features the model was trained on */
};

static void xgb_err(char *errstr, size_t n, const char *what)
{
        if (n > 0)
                snprintf(errstr, n, "xgboost %s: %s", what, XGBGetLastError());
}

/* Our fixed parameters: deterministic (one thread, no sampling unless asked). */
static int set_params(BoosterHandle b, const struct pred_train_opts *o)
{
        char depth[16], eta[32], sub[32];
        int rc = 0;

        snprintf(depth, sizeof(depth), "%d", o && o->max_depth > 0 ? o->max_depth : 4);
        snprintf(eta, sizeof(eta), "%g", o && o->eta > 0 ? o->eta : 0.05);
        snprintf(sub, sizeof(sub), "%g", o && o->subsample > 0 ? o->subsample : 1.0);
        rc |= XGBoosterSetParam(b, "objective", "reg:squarederror");
        rc |= XGBoosterSetParam(b, "tree_method", "hist");
        rc |= XGBoosterSetParam(b, "nthread", "1");
        rc |= XGBoosterSetParam(b, "seed", "0");
        rc |= XGBoosterSetParam(b, "verbosity", "0");
        rc |= XGBoosterSetParam(b, "max_depth", depth);
        rc |= XGBoosterSetParam(b, "eta", eta);
        rc |= XGBoosterSetParam(b, "subsample", sub);
        rc |= XGBoosterSetParam(b, "min_child_weight", "5");
        return rc;
}

struct pred_model *pred_model_train(const float *x, const float *y, size_t n, size_t nf,
                                    const struct pred_train_opts *opts, char *errstr, size_t en)
{
        DMatrixHandle d = NULL;
        BoosterHandle b = NULL;
        struct pred_model *model = NULL;
        int rounds = opts && opts->rounds > 0 ? opts->rounds : 200;

        if (n == 0 || nf == 0) {
                snprintf(errstr, en, "xgboost train: no rows");
                return NULL;
        }
        if (XGDMatrixCreateFromMat(x, (bst_ulong)n, (bst_ulong)nf, NAN, &d) != 0 ||
            XGDMatrixSetFloatInfo(d, "label", y, (bst_ulong)n) != 0) {
                xgb_err(errstr, en, "matrix");
                goto out;
        }
        if (XGBoosterCreate(&d, 1, &b) != 0 || set_params(b, opts) != 0) {
                xgb_err(errstr, en, "create");
                goto out;
        }
        for (int i = 0; i < rounds; i++) {
                if (XGBoosterUpdateOneIter(b, i, d) != 0) {
                        xgb_err(errstr, en, "update");
                        goto out;
                }
        }
        model = sl_xcalloc(1, sizeof(*model));
        model->booster = b;
        model->nf = nf;
        b = NULL;
out:
        if (b)
                XGBoosterFree(b);
        if (d)
                XGDMatrixFree(d);
        return model;
}

int pred_model_save(const struct pred_model *model, const char *path, char *errstr, size_t en)
{
        if (XGBoosterSaveModel(model->booster, path) != 0) {
                xgb_err(errstr, en, "save");
                return -EIO;
        }
        return 0;
}

struct pred_model *pred_model_load(const char *path, size_t nf, char *errstr, size_t en)
{
        BoosterHandle b = NULL;
        bst_ulong have = 0;
        struct pred_model *model;

        if (XGBoosterCreate(NULL, 0, &b) != 0 || XGBoosterLoadModel(b, path) != 0 ||
            XGBoosterSetParam(b, "nthread", "1") != 0) {
                xgb_err(errstr, en, "load");
                if (b)
                        XGBoosterFree(b);
                return NULL;
        }
        if (XGBoosterGetNumFeature(b, &have) != 0 || (size_t)have != nf) {
                snprintf(errstr, en, "xgboost load %s: model has %llu features, expected %zu", path,
                         (unsigned long long)have, nf);
                XGBoosterFree(b);
                return NULL;
        }
        model = sl_xcalloc(1, sizeof(*model));
        model->booster = b;
        model->nf = nf;
        return model;
}

int pred_model_predict(const struct pred_model *model, const float *x, size_t n, size_t nf,
                       double *out, char *errstr, size_t en)
{
        DMatrixHandle d = NULL;
        bst_ulong len = 0;
        const float *res = NULL;
        int rc = -EIO;

        if (nf != model->nf) {
                snprintf(errstr, en, "xgboost predict: %zu features, model has %zu", nf, model->nf);
                return -EINVAL;
        }
        if (n == 0)
                return 0;
        if (XGDMatrixCreateFromMat(x, (bst_ulong)n, (bst_ulong)nf, NAN, &d) != 0 ||
            XGBoosterPredict(model->booster, d, 0, 0, 0, &len, &res) != 0) {
                xgb_err(errstr, en, "predict");
                goto out;
        }
        if ((size_t)len != n) {
                snprintf(errstr, en, "xgboost predict: %llu results for %zu rows",
                         (unsigned long long)len, n);
                goto out;
        }
        for (size_t i = 0; i < n; i++)
                out[i] = res[i];
        rc = 0;
out:
        if (d)
                XGDMatrixFree(d);
        return rc;
}

size_t pred_model_nfeatures(const struct pred_model *model)
{
        return model ? model->nf : 0;
}

void pred_model_free(struct pred_model *model)
{
        if (!model)
                return;
        XGBoosterFree(model->booster);
        free(model);
}
