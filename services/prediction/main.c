/*
 * statline-prediction: five systems predict player props from the
 * precompute phase's output (README.md). This file is the option table and
 * the runtime glue; the handler is prediction.c.
 */
#include <stddef.h>

#include <sl/svc.h>

#include "prediction.h"

static struct pred_cfg cfg;
static struct pred_svc svc_state;

static const struct sl_cfg_opt opts[] = {
    SL_SVC_OPTS(&cfg.svc),
    SL_PHASE_PG_OPTS(&cfg.phase, "db/migrations"),
    SL_CFG_STR("edge.points", &cfg.edge[PRED_POINTS], "1.0", 0,
               "PASS when |predicted - line| is below this (points)"),
    SL_CFG_STR("edge.rebounds", &cfg.edge[PRED_REBOUNDS], "0.5", 0, "PASS band for rebounds"),
    SL_CFG_STR("edge.assists", &cfg.edge[PRED_ASSISTS], "0.5", 0, "PASS band for assists"),
    SL_CFG_STR("kelly.bankroll", &cfg.kelly[0], "1000", 0,
               "Kelly: bankroll the prop stakes are sized against (> 0)"),
    SL_CFG_STR("kelly.fraction", &cfg.kelly[1], "0.25", 0,
               "Kelly: multiplier of full Kelly, (0, 1] (0.25 = quarter Kelly)"),
    SL_CFG_STR("kelly.max_bet", &cfg.kelly[2], "0.05", 0,
               "Kelly: cap per bet, fraction of bankroll"),
    SL_CFG_STR("kelly.max_day", &cfg.kelly[3], "0.15", 0,
               "Kelly: cap on a date's stakes, fraction of bankroll (>= max_bet)"),
    SL_CFG_STR("kelly.max_portfolio", &cfg.kelly[4], "0.30", 0,
               "Kelly: cap on open (unsettled) stakes, fraction of bankroll (>= max_day)"),
    SL_CFG_STR("kelly.min_edge", &cfg.kelly[5], "0.02", 0,
               "Kelly: bet only when P(model) - P(fair) is at least this, [0, 1)"),
    SL_CFG_STR("kelly.market_weight", &cfg.kelly_market_weight, PRED_KELLY_MARKET_WEIGHT, 0,
               "Kelly: shrink the prop P(model) toward the market: p = (1-w) p_model + w p_fair, "
               "[0, 1]"),
    SL_CFG_STR("kelly.moneyline_market_weight", &cfg.kelly_ml_market_weight,
               PRED_KELLY_ML_MARKET_WEIGHT, 0,
               "Kelly: the same for the Elo moneyline probability, [0, 1] (1 = never bet them)"),
    SL_PHASE_PUBLISH_OPTS(&cfg.phase, "prediction"),
    SL_CFG_END,
};

static int init(struct sl_svc *svc, void *ctx, char *errstr, size_t errstr_size)
{
        /* the system breakers "system:<name>" (pred_run_systems) live in the runtime */
        ((struct pred_svc *)ctx)->rt = svc;
        return pred_svc_open(ctx, &cfg, sl_svc_bus(svc), sl_svc_http(svc), errstr, errstr_size);
}

static int tick(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        return pred_svc_tick(ctx);
}

static void fini(struct sl_svc *svc, void *ctx)
{
        (void)svc;
        pred_svc_close(ctx);
}

int main(int argc, char **argv)
{
        struct sl_svc_def def = {
            .name = "prediction",
            .consumes = "precompute",
            .usage = "Consumes <prefix>.<sport>.precompute.completed, predicts every player "
                     "with a prop line on the date with moving_average, zone_matchup_v1, "
                     "similarity_balanced_v1, xgboost_v1 and ensemble_v1, upserts "
                     "prediction.player_prop_predictions, NBA Elo ratings and win "
                     "probabilities (prediction.elo_ratings, game_win_probs), Kelly stakes "
                     "of the priced props (prediction.prop_bets, kelly_portfolio); sport nhl: "
                     "GOI win probabilities of the date's games from the team ratings "
                     "(prediction.game_win_probs, model goi:nhl); and publishes "
                     "<prefix>.<sport>.prediction.completed. Each system runs behind a circuit "
                     "breaker system:<name> (cb.* options): a failing system is skipped and the "
                     "others still predict.",
            .opts = opts,
            .cfg = &cfg.svc,
            .ctx = &svc_state,
            .init = init,
            .handler = pred_handle,
            .tick = tick,
            .fini = fini,
        };
        int rc = sl_svc_main(&def, argc, argv);

        pred_svc_close(&svc_state);
        return rc;
}
