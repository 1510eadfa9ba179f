#!/usr/bin/env bash
# elo_538.sh: libmodels' Elo against FiveThirtyEight's published histories in
# $STATLINE_SRC/../shared/data/elo (README there), through statline-elo:
#   - NFL 1920-2020 replayed from 538's initial ratings: elo_prob1 on all
#     16,810 games within 1e-5;
#   - NBA 2021-22: elo1_post/elo2_post on all 1,310 completed games within
#     1e-6 (each game rated from 538's own pre-game ratings with our rules),
#     and the chained replay exact up to 538's own break on 2022-01-10;
#   - NHL 2022-23 and MLB 2021: 538's update rule isolated, and how close a
#     plain Elo gets (Brier within a few thousandths of 538's);
#   - EPL and Ligue 1 against 538's SPI probabilities;
#   - tennis/NCAAB/WNCAAB simulated seasons converge toward the true strengths;
#   - the report has all nine sports; bad input gets a clear error.
# The data are required: a missing directory fails the test (it is not a skip).
. "$(dirname "$0")/lib.sh"

IT_NAME=elo_538
ELO=${STATLINE_ELOBIN:-${STATLINE_BUILD:-$IT_SRC/build}/tools/elo/statline-elo}
DATA=${STATLINE_ELO_DATA:-$IT_SRC/../shared/data/elo}
WORK=$(mktemp -d /tmp/sl-integ-elo.XXXXXX) || it_bail "mktemp failed"
trap 'rm -rf "$WORK"' EXIT

[[ -x $ELO ]] || it_bail "statline-elo not found: $ELO (set STATLINE_ELOBIN)"
it_must "538 data directory present ($DATA)" test -r "$DATA/nfl_games_538_1920-2020.csv"

# val FILE KEY: the value of a "key value" line of statline-elo's output.
val() {
        awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# lt A B: A < B as numbers (awk reads 1.2e-06; "nan" is never less).
lt() {
        awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "nan" && a + 0 < b + 0) }'
}

# replay NAME ARGS...: runs a replay into $WORK/NAME.out.
replay() {
        local name=$1
        shift
        "$ELO" replay "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
}

# --- NFL: 538's published algorithm (fivethirtyeight/nfl-elo-game) ----------
it_must "nfl replay runs" replay nfl --sport nfl --initial "$DATA/nfl_initial_elos_538.csv" \
        "$DATA/nfl_games_538_1920-2020.csv"
it_is "nfl: all 16810 games rated" "$(val "$WORK/nfl.out" games)" 16810
e=$(val "$WORK/nfl.out" max_prob_err)
it_check "nfl: elo_prob1 max abs error $e < 1e-5" lt "$e" 1e-5
it_is "nfl: implied home advantage is 65" \
        "$(val "$WORK/nfl.out" min_implied_hfa)/$(val "$WORK/nfl.out" max_implied_hfa)" "65.000/65.000"

# --- NBA 2021-22: K 20, HFA 100, 538's MOV multiplier ------------------------
it_must "nba replay runs" replay nba --games --sport nba "$DATA/nba_elo_538_2021-22.csv"
it_is "nba: 1310 completed games rated" "$(val "$WORK/nba.out" games)" 1310
e=$(val "$WORK/nba.out" max_post_err_resync)
it_check "nba: elo1_post/elo2_post max abs error $e < 1e-6 on every game" lt "$e" 1e-6
e=$(val "$WORK/nba.out" max_prob_err_resync)
it_check "nba: elo_prob1 from 538's pre ratings, max error $e < 1e-9" lt "$e" 1e-9
# The chained replay (our ratings only, from each team's first rating) must be
# exact until 538's own file stops chaining: on 2022-01-10 SAC and CLE start
# 2.695274 away from their previous post-game ratings (that game's own update
# applied twice by 538).
it_is "nba: 538's chain breaks only at SAC/CLE 2022-01-10" \
        "$(val "$WORK/nba.out" chain_breaks) $(awk '$1=="first_break"{print $2, $3, $4}' "$WORK/nba.out")" \
        "2 2022-01-10 SAC -2.695274"
chained=$(awk -F, 'NF == 12 && $1 ~ /^20/ && $1 < "2022-01-10" {
        n++; d1 = $9 - $11; d2 = $10 - $12; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2;
        if (d1 > m) m = d1; if (d2 > m) m = d2 } END { printf "%d %.3g", n, m }' "$WORK/nba.out")
it_like "nba: chained replay exact (< 1e-5 at 6 decimals) before the break: $chained" \
        "$chained" '^(59[0-9]|6[0-9][0-9]) [0-9.e-]+$'
it_check "nba: chained max error before the break < 1e-5" lt "${chained#* }" 1e-5

# --- NHL 2022-23: update rule exact, probability not a flat home bonus ----------
it_must "nhl replay runs" replay nhl --sport nhl "$DATA/nhl_elo_538_2022-23.csv"
it_is "nhl: 1400 games rated" "$(val "$WORK/nhl.out" games)" 1400
e=$(val "$WORK/nhl.out" max_post_err_538prob)
it_check "nhl: K 6 x 538 MOV x autocorrelation reproduces 538's posts from its p ($e)" lt "$e" 1e-9
it_check "nhl: 538's implied home edge varies (min < 50 < max)" \
        awk -v a="$(val "$WORK/nhl.out" min_implied_hfa)" -v b="$(val "$WORK/nhl.out" max_implied_hfa)" \
        'BEGIN { exit !(a < 50 && b > 50) }'
b=$(val "$WORK/nhl.out" brier)
r=$(val "$WORK/nhl.out" brier_538)
it_check "nhl: plain Elo Brier $b within 0.005 of 538's $r" \
        awk -v a="$b" -v b="$r" 'BEGIN { d = a - b; exit !(d < 0.005 && d > -0.005) }'

# --- MLB 2021: HFA 24 exact, MOV multiplier fitted -------------------------------
it_must "mlb replay runs" replay mlb --sport mlb "$DATA/mlb_elo_538_2021_partial.csv"
it_is "mlb: 1940 completed games rated" "$(val "$WORK/mlb.out" games)" 1940
it_is "mlb: implied home advantage is 24" \
        "$(val "$WORK/mlb.out" min_implied_hfa)/$(val "$WORK/mlb.out" max_implied_hfa)" "24.000/24.000"
e=$(val "$WORK/mlb.out" max_prob_err_resync)
it_check "mlb: elo_prob1 from 538's pre ratings exact ($e)" lt "$e" 1e-9
e=$(val "$WORK/mlb.out" max_prob_err)
it_check "mlb: chained P(win) max error $e < 0.01" lt "$e" 0.01
b=$(val "$WORK/mlb.out" brier)
r=$(val "$WORK/mlb.out" brier_538)
it_check "mlb: Brier $b within 0.001 of 538's $r" \
        awk -v a="$b" -v b="$r" 'BEGIN { d = a - b; exit !(d < 0.001 && d > -0.001) }'

# --- Soccer vs 538's SPI ----------------------------------------------------------
for s in "epl:Barclays Premier League:1079" "ligue1:French Ligue 1:1058"; do
        IFS=: read -r sport league n <<<"$s"
        it_must "$sport replay runs" replay "$sport" --sport "$sport" --league "$league" \
                "$DATA/spi_matches_538_2016-2019.csv"
        it_is "$sport: $n matches rated" "$(val "$WORK/$sport.out" games)" "$n"
        b=$(val "$WORK/$sport.out" brier)
        r=$(val "$WORK/$sport.out" brier_538)
        it_diag "$sport: 3-way Brier $b, 538 SPI $r"
        # uniform 1/3 forecasts score 2/3; SPI (xG, rosters) should stay ahead of plain Elo
        it_check "$sport: Elo beats uniform (Brier $b < 0.62) and trails SPI by < 0.03" \
                awk -v a="$b" -v b="$r" 'BEGIN { exit !(a < 0.62 && a - b < 0.03) }'
done

# --- Simulated seasons: ratings converge toward the truth --------------------------
for sport in tennis ncaab wncaab; do
        for seed in 1 2 3; do
                out=$WORK/sim-$sport-$seed.out
                "$ELO" simulate --sport "$sport" --seed "$seed" >"$out" 2>&1
                verdict=$(awk '$1 == "truth_sd" { sd = $2 }
                        $1 == "season" { n++; rm[n] = $6; co[n] = $8; gap[n] = $10 - $12 }
                        END {
                                ok = n >= 5 && co[n] > 0.9 && rm[n] < 0.45 * sd && rm[n] < rm[1] &&
                                     gap[n] < gap[1]
                                printf "%s rmse %.1f->%.1f (truth sd %s) corr %.3f brier gap %.4f->%.4f",
                                       ok ? "ok" : "FAIL", rm[1], rm[n], sd, co[n], gap[1], gap[n]
                        }' "$out")
                it_like "$sport seed $seed: $verdict" "$verdict" '^ok '
        done
done

# --- Report -------------------------------------------------------------------------
report() {
        "$ELO" report --data "$DATA" --md "$WORK/r.md" --json "$WORK/r.json" >"$WORK/report.out" 2>&1
}
it_check "report writes Markdown and JSON" report
it_is "report: nine sports replayed or simulated" \
        "$(jq -r '[.replays[].sport] | sort | join(",")' "$WORK/r.json")" \
        "epl,ligue1,mlb,nba,ncaab,nfl,nhl,tennis,wncaab"
it_is "report: a 10-bin calibration table per sport" \
        "$(jq '[.replays[] | .calibration | length] | unique' -c "$WORK/r.json")" "[10]"
it_is "report: calibration counts add up to the games" \
        "$(jq '[.replays[] | (.calibration | map(.n) | add) == .games] | all' "$WORK/r.json")" true
it_is "report: Markdown has nine calibration sections" "$(grep -c '^### .* calibration' "$WORK/r.md")" 9

# --- Bad input -----------------------------------------------------------------------
head -c 5000 "$DATA/nba_elo_538_2021-22.csv" >"$WORK/cut.csv" # last row cut mid-line
"$ELO" replay --sport nba "$WORK/cut.csv" >/dev/null 2>"$WORK/cut.err"
rc=$?
it_is "a truncated file fails with exit 1" "$rc" 1
it_like "and says which line" "$(cat "$WORK/cut.err")" 'cut\.csv:[0-9]+: [0-9]+ fields, header has 27'
"$ELO" replay --sport nba "$WORK/missing.csv" >/dev/null 2>&1
it_is "a missing file exits 66" "$?" 66
"$ELO" replay --sport curling "$DATA/nba_elo_538_2021-22.csv" >/dev/null 2>&1
it_is "an unknown sport exits 64" "$?" 64
printf 'team,elo\nRII,abc\n' >"$WORK/bad_initial.csv"
"$ELO" replay --sport nfl --initial "$WORK/bad_initial.csv" "$DATA/nfl_games_538_1920-2020.csv" \
        >/dev/null 2>"$WORK/bi.err"
it_is "a bad seed rating exits 1" "$?" 1

it_done
