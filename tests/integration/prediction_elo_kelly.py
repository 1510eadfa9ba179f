#!/usr/bin/env python3
"""Independent recomputation of statline-prediction's Elo and Kelly output
(prediction_service.sh). Written from the published formulas, not from the C:

  elo GAMES RATINGS PROBS DATE
      GAMES: game_id|game_date|season|home|away|home_pts|away_pts|status of raw.games
      (every row, any order) plus the date's scheduled games (status scheduled);
      RATINGS: team_id|rating|games of prediction.elo_ratings as of DATE;
      PROBS: game_id|home|away|r_home|r_away|p_home|p_away of prediction.game_win_probs.
      FiveThirtyEight's NBA Elo: new team 1300; at a team's first game of a new
      season R = 1505 + 0.75 (R - 1505); K 20; home advantage 100;
      E = 1 / (1 + 10^(-(Rh + 100 - Ra)/400)); MOV multiplier
      (MOV + 3)^0.8 / (7.5 + 0.006 * elo_diff_winner) (winner's side, home
      advantage included); shift = K * mult * (S - E).
  kelly LINES PREDS BETS PORTFOLIO SD_POINTS SD_OTHER... OPEN
      LINES: player|market|book|line|over|under (raw.prop_lines of the date),
      PREDS: player|market|value|recommendation (ensemble_v1 of the date),
      BETS: player|market|book|side|p_model|p_fair|stake (prediction.prop_bets),
      PORTFOLIO: n_bets|n_staked|total_stake|expected_profit|scale_day|scale_portfolio|caps_bet|open_exposure,
      SD_POINTS/SD_REBOUNDS the spread per market, OPEN the open exposure before the slate.
      P(over) = 1 - Phi((line - value) / sd); fair = (1/D_i) / sum(1/D);
      p shrunk to 0.5 p + 0.5 fair (kelly.market_weight 0.5);
      edge = p - fair; best side, then best book (first in book order on ties);
      bet when edge >= 0.02; f* = (pD - 1)/(D - 1); stake = min(0.25 f* 1000, 50);
      day budget 150, portfolio budget 300 - OPEN, each by one scale factor.
Prints "ok ..." lines and "BAD ..." lines; exit 1 on any BAD.
"""
import math
import sys
from collections import defaultdict

bad = 0


def BAD(msg):
    global bad
    bad += 1
    if bad <= 20:
        print("BAD " + msg)


def rows(path):
    with open(path) as f:
        return [l.rstrip("\n").split("|") for l in f if l.strip()]


def elo(games_path, ratings_path, probs_path, date):
    games = rows(games_path)
    finals = sorted((g for g in games if g[7] == "final" and g[1] < date), key=lambda g: (g[1], g[0]))
    R, season, n = {}, {}, defaultdict(int)

    def pre(team, s):
        r = R.get(team, 1300.0)
        if team in season and season[team] != s:
            r = 1505.0 + 0.75 * (r - 1505.0)
        return r

    for gid, d, s, h, a, hp, ap, st in finals:
        rh, ra = pre(h, s), pre(a, s)
        hp, ap = int(hp), int(ap)
        diff = rh + 100.0 - ra
        e = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
        won = hp > ap
        wd = diff if won else -diff
        mult = ((abs(hp - ap) + 3) ** 0.8) / (7.5 + 0.006 * wd)
        shift = 20.0 * mult * ((1.0 if won else 0.0) - e)
        R[h], R[a] = rh + shift, ra - shift
        season[h] = season[a] = s
        n[h] += 1
        n[a] = n[a] + 1
    got = {r[0]: (float(r[1]), int(r[2])) for r in rows(ratings_path)}
    if set(got) != set(R):
        BAD("rated teams %s, expected %s" % (sorted(got), sorted(R)))
    worst = 0.0
    for t, r in R.items():
        if t in got:
            worst = max(worst, abs(got[t][0] - r))
            if got[t][1] != n[t]:
                BAD("team %s games %d, expected %d" % (t, got[t][1], n[t]))
    if worst > 1e-3:
        BAD("ratings: max abs error %.6f" % worst)
    print("ok elo: %d finals replayed, %d teams, max rating error %.2e, spread %.1f..%.1f"
          % (len(finals), len(R), worst, min(R.values()), max(R.values())))
    day = {g[0]: g for g in games if g[1] == date}
    probs = rows(probs_path)
    if len(probs) != len(day) or not probs:
        BAD("%d win-probability rows, %d games on %s" % (len(probs), len(day), date))
    worst = 0.0
    for gid, h, a, rh, ra, ph, pa in probs:
        g = day.get(gid)
        if not g or g[3] != h or g[4] != a:
            BAD("game %s: not a game of the date or teams differ" % gid)
            continue
        erh, era = pre(h, g[2]), pre(a, g[2])
        e = 1.0 / (1.0 + 10.0 ** (-(erh + 100.0 - era) / 400.0))
        worst = max(worst, abs(float(ph) - e), abs(float(pa) - (1 - e)))
        if abs(float(rh) - erh) > 1e-3 or abs(float(ra) - era) > 1e-3:
            BAD("game %s: pre-game ratings %s/%s, expected %.4f/%.4f" % (gid, rh, ra, erh, era))
    if worst > 2e-6:
        BAD("win probabilities: max abs error %.2e" % worst)
    print("ok elo: %d games of %s, max probability error %.2e" % (len(probs), date, worst))


def dec(a):
    a = int(a)
    return 1 + a / 100.0 if a >= 100 else 1 + 100.0 / -a


def kelly(lines_path, preds_path, bets_path, port_path, sd_points, sd_other, open_exp):
    preds = {(r[0], r[1]): (float(r[2]), r[3]) for r in rows(preds_path)}
    best = {}
    for pid, m, book, line, o, u in sorted(rows(lines_path), key=lambda r: (int(r[0]), r[1], r[2])):
        if (pid, m) not in preds or preds[(pid, m)][1] == "NO_BET" or not o or not u:
            continue
        v = preds[(pid, m)][0]
        sd = sd_points if m == "points" else sd_other
        p_over = 1.0 - 0.5 * (1.0 + math.erf((float(line) - v) / (sd * math.sqrt(2.0))))
        do, du = dec(o), dec(u)
        fo = (1 / do) / (1 / do + 1 / du)
        fu = 1.0 - fo
        W = 0.5  # kelly.market_weight: p = (1 - W) p_model + W p_fair (docs/models.md)
        if p_over - fo >= (1 - p_over) - fu:
            c = (book, "OVER", (1 - W) * p_over + W * fo, fo, do)
        else:
            c = (book, "UNDER", (1 - W) * (1 - p_over) + W * fu, fu, du)
        if (pid, m) not in best or c[2] - c[3] > best[(pid, m)][2] - best[(pid, m)][3]:
            best[(pid, m)] = c
    B = 1000.0
    stakes, caps = {}, 0
    for k, (book, side, p, f, D) in best.items():
        s = 0.0
        if p - f > 0 and p - f >= 0.02:
            fk = max(0.0, (p * D - 1) / (D - 1))
            s = 0.25 * fk * B
            if s > 0.05 * B:
                s, caps = 0.05 * B, caps + 1
        stakes[k] = s
    scales = []
    for budget in (0.15 * B, 0.30 * B - open_exp):
        tot = sum(stakes.values())
        sc = 1.0
        if tot > budget:
            sc = max(budget, 0.0) / tot
        stakes = {k: s * sc for k, s in stakes.items()}
        scales.append(sc)
    got = {(r[0], r[1]): r for r in rows(bets_path)}
    if set(got) != set(best):
        BAD("bets on %s, expected %s" % (sorted(got)[:5], sorted(best)[:5]))
    worst = 0.0
    for k, c in best.items():
        if k not in got:
            continue
        g = got[k]
        if (g[2], g[3]) != (c[0], c[1]):
            BAD("%s: %s %s, expected %s %s" % (k, g[2], g[3], c[0], c[1]))
            continue
        worst = max(worst, abs(float(g[4]) - c[2]), abs(float(g[5]) - c[3]))
        if abs(float(g[6]) - stakes[k]) > 0.0051:
            BAD("%s: stake %s, expected %.4f" % (k, g[6], stakes[k]))
    if worst > 1e-6:
        BAD("probabilities: max abs error %.2e" % worst)
    ev = sum(stakes[k] * (best[k][2] * best[k][4] - 1) for k in best)
    staked = sum(1 for s in stakes.values() if s > 0)
    port = rows(port_path)[0]
    want = [len(best), staked, sum(stakes.values()), ev, scales[0], scales[1], caps,
            open_exp + sum(stakes.values())]
    tol = [0, 0, 0.011, 0.011, 1e-6, 1e-6, 0, 0.011]
    for i, (g, w, t) in enumerate(zip(port, want, tol)):
        if abs(float(g) - w) > t:
            BAD("portfolio field %d: %s, expected %s" % (i, g, w))
    print("ok kelly: %d candidates, %d staked, total %.2f, expected profit %.4f, scale day %.6f "
          "portfolio %.6f, %d capped per bet" % (len(best), staked, sum(stakes.values()), ev,
                                                 scales[0], scales[1], caps))


if __name__ == "__main__":
    if sys.argv[1] == "elo":
        elo(*sys.argv[2:6])
    elif sys.argv[1] == "kelly":
        kelly(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]),
              float(sys.argv[7]), float(sys.argv[8]))
    else:
        sys.exit("usage: see the docstring")
    sys.exit(1 if bad else 0)
