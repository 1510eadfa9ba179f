#!/usr/bin/env python3
"""Independent checks of the moneyline pipeline (odds_kelly.sh), written from
docs/models.md ("Odds", "Kelly") and docs/fixtures.md ("Odds"), not from the C:

  load URL DUMP DATE...
      raw.moneyline_odds (DUMP/moneyline_odds.csv) holds exactly the events x
      books statline-fixtures serves for each DATE (The Odds API v4, American
      prices): teams by name, prices, decimal = 1 + A/100 or 1 + 100/|A|,
      game_date = the US date of commence_time.
  bets URL DUMP PUBDIR DATE...
      For every game of prediction.game_win_probs with served odds:
        per book: fair_i = (1/D_i) / (1/D_home + 1/D_away) (proportional);
        p_side = (1 - w) p_elo_side + w fair_side (w = kelly.moneyline_market_weight,
        $ODDS_IT_ML_WEIGHT, the test sets 0.8; props use kelly.market_weight 0.5);
        the side with the larger p - fair (home on ties), then the book with
        the largest edge (first book in name order on ties);
      the slate = the date's prop bets (their stored p_model, price, p_fair)
      plus these moneylines: stake = 0 when edge < 0.02 (kelly.min_edge) or
      <= 0, else min(0.25 * f* * 1000, 50) with f* = (pD - 1)/(D - 1), then
      all scaled to fit 150 (day), then 300 - open exposure (portfolio).
      Compares prediction.moneyline_bets, the kelly_portfolio moneyline
      totals and predictions.json's moneyline_bets (staked rows) and
      portfolio. Prints the staked counts without the fix (weight 0, same
      min_edge) and with it.
  calib DUMP DATE...
      Diagnostic once the dates are final: log loss and Brier of
      (1-w) p_model + w p_fair for the prop and moneyline candidates against
      the results (DUMP/boxscores.csv, games.csv), the best w, and the mean
      claimed vs realised edge.
Prints "ok ..." / "BAD ..." lines; exit 1 on any BAD.
"""
import csv
import json
import math
import os
import sys
import urllib.request

W_ML = float(os.environ.get("ODDS_IT_ML_WEIGHT", "1.0"))  # kelly.moneyline_market_weight
W, MIN_EDGE, FRACTION, BANKROLL, MAX_BET, MAX_DAY, MAX_PORT = 0.5, 0.02, 0.25, 1000.0, 0.05, 0.15, 0.30
bad_n = 0


def BAD(msg):
    global bad_n
    bad_n += 1
    if bad_n <= 25:
        print("BAD " + msg)


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def rows(dump, name):
    with open(os.path.join(dump, name + ".csv"), newline="") as f:
        return list(csv.DictReader(f))


def decimal_of(a):
    a = float(a)
    return 1 + a / 100 if a > 0 else 1 + 100 / -a


def team_ids(fx, date):
    """Odds API full name -> NBA team id, from the league's own game log."""
    season = "%d-%02d" % ((int(date[:4]) - (1 if int(date[5:7]) < 8 else 0)),
                          (int(date[:4]) + (0 if int(date[5:7]) < 8 else 1)) % 100)
    log = get(fx + "/stats/leaguegamelog?Counter=0&Direction=ASC&LeagueID=00&PlayerOrTeam=T"
              "&Season=%s&SeasonType=Regular+Season&Sorter=DATE" % season)["resultSets"][0]
    h = {k: i for i, k in enumerate(log["headers"])}
    ids = {r[h["TEAM_NAME"]]: str(r[h["TEAM_ID"]]) for r in log["rowSet"]}
    if "LA Clippers" in ids:
        ids["Los Angeles Clippers"] = ids["LA Clippers"]
    return ids


def served(fx, d):
    return get(fx + "/v4/sports/basketball_nba/odds?regions=us&markets=h2h&oddsFormat=american"
               "&date=" + d)


def near(a, b, tol):
    return abs(float(a) - float(b)) <= tol


def check_load(fx, dump, dates):
    ids = team_ids(fx, dates[0])
    have = {(r["game_date"], r["home_team_id"], r["away_team_id"], r["book"]): r
            for r in rows(dump, "moneyline_odds")}
    want = 0
    for d in dates:
        for ev in served(fx, d):
            h, a = ids[ev["home_team"]], ids[ev["away_team"]]
            for bk in ev["bookmakers"]:
                want += 1
                o = {x["name"]: x["price"] for x in bk["markets"][0]["outcomes"]}
                r = have.get((d, h, a, bk["key"]))
                if r is None:
                    BAD("%s %s-%s %s: no raw.moneyline_odds row" % (d, h, a, bk["key"]))
                    continue
                ph, pa = o[ev["home_team"]], o[ev["away_team"]]
                if not (near(r["home_price"], ph, 1e-9) and near(r["away_price"], pa, 1e-9)
                        and near(r["home_decimal"], decimal_of(ph), 1e-6)
                        and near(r["away_decimal"], decimal_of(pa), 1e-6)
                        and r["event_id"] == ev["id"]):
                    BAD("%s %s-%s %s: row %s, served %s/%s" % (d, h, a, bk["key"], r, ph, pa))
    if len(have) != want:
        BAD("raw.moneyline_odds has %d rows, served %d" % (len(have), want))
    print("ok load: %d rows = served events x books over %d dates" % (want, len(dates)))


def size(slate, open_exposure):
    """Stakes of a slate [(p, D, p_fair)] as sl_kelly_size's documented order."""
    st = []
    for p, dec, fair in slate:
        edge = p - fair
        if edge <= 0 or edge < MIN_EDGE:
            st.append(0.0)
            continue
        f = max((p * dec - 1) / (dec - 1), 0.0)
        st.append(min(FRACTION * f * BANKROLL, MAX_BET * BANKROLL))
    total = sum(st)
    for budget in (MAX_DAY * BANKROLL, None):
        if budget is None:
            budget = MAX_PORT * BANKROLL - open_exposure
        budget = max(budget, 0.0)
        if total > budget and total > 0:
            st = [s * budget / total for s in st]
            total = budget
    return st


def check_bets(fx, dump, pubdir, dates):
    ids = team_ids(fx, dates[0])
    probs = {(r["game_date"], r["home_team_id"], r["away_team_id"]): r
             for r in rows(dump, "game_win_probs") if r["sport"] == "nba"}
    ml = {(r["game_date"], r["game_id"]): r for r in rows(dump, "moneyline_bets")}
    props = rows(dump, "prop_bets")
    port = {r["game_date"]: r for r in rows(dump, "kelly_portfolio") if r["sport"] == "nba"}
    counts = {"props": [0, 0, 0], "moneylines": [0, 0, 0]}  # candidates, staked w=0, staked w
    for d in dates:
        cands = []
        for ev in served(fx, d):
            key = (d, ids[ev["home_team"]], ids[ev["away_team"]])
            pr = probs.get(key)
            if pr is None:
                continue
            best = None
            for bk in sorted(ev["bookmakers"], key=lambda b: b["key"]):
                o = {x["name"]: x["price"] for x in bk["markets"][0]["outcomes"]}
                dh, da = decimal_of(o[ev["home_team"]]), decimal_of(o[ev["away_team"]])
                fh = (1 / dh) / (1 / dh + 1 / da)
                fa = 1 - fh
                pe_h = float(pr["p_home"])
                ph, pa = (1 - W_ML) * pe_h + W_ML * fh, (1 - W_ML) * (1 - pe_h) + W_ML * fa
                if ph - fh >= pa - fa:
                    c = ("HOME", key[1], bk["key"], o[ev["home_team"]], dh, pe_h, ph, fh)
                else:
                    c = ("AWAY", key[2], bk["key"], o[ev["away_team"]], da, 1 - pe_h, pa, fa)
                if best is None or c[6] - c[7] > best[6] - best[7]:
                    best = c
            cands.append((pr["game_id"], best))
        p = port.get(d)
        if p is None:
            BAD("%s: no kelly_portfolio row" % d)
            continue
        if not (near(p["min_edge"], MIN_EDGE, 1e-9) and near(p["market_weight"], W, 1e-9)
                and near(p["moneyline_market_weight"], W_ML, 1e-9)):
            BAD("%s: portfolio min_edge %s market_weight %s/%s, expected %s %s/%s" %
                (d, p["min_edge"], p["market_weight"], p["moneyline_market_weight"], MIN_EDGE, W, W_ML))
        open_before = float(p["open_exposure"]) - float(p["total_stake"])
        pslate = [(float(b["p_model"]), decimal_of(b["price"]), float(b["p_fair"]))
                  for b in props if b["game_date"] == d and b["sport"] == "nba"]
        mslate = [(c[6], c[4], c[7]) for _, c in cands]
        stakes = size(pslate + mslate, open_before)
        mst = stakes[len(pslate):]
        # before/after the fix: raw probabilities back from the shrunk ones (linear)
        counts["props"][0] += len(pslate)
        counts["moneylines"][0] += len(mslate)
        quads = [("props", (q - W * f) / (1 - W), q, dec, f) for q, dec, f in pslate]
        quads += [("moneylines", c[5], c[6], c[4], c[7]) for _, c in cands]
        for kind, raw, q, dec, fair in quads:
            counts[kind][1] += raw - fair >= MIN_EDGE and raw * dec > 1
            counts[kind][2] += q - fair >= MIN_EDGE and q * dec > 1
        n_staked, ml_total = 0, 0.0
        for (gid, c), s in zip(cands, mst):
            r = ml.get((d, gid))
            if r is None:
                BAD("%s game %s: no prediction.moneyline_bets row" % (d, gid))
                continue
            exp = {"side": c[0], "team_id": c[1], "book": c[2], "price": str(c[3])}
            for k, v in exp.items():
                if r[k] != v:
                    BAD("%s game %s: %s %s, expected %s" % (d, gid, k, r[k], v))
            for k, v, tol in (("p_elo", c[5], 2e-6), ("p_model", c[6], 2e-6), ("p_fair", c[7], 2e-6),
                              ("edge", c[6] - c[7], 3e-6), ("stake", s, 0.02),
                              ("ev", c[6] * c[4] - 1, 1e-5),
                              ("full_kelly", max((c[6] * c[4] - 1) / (c[4] - 1), 0.0)
                               if c[6] - c[7] >= MIN_EDGE and c[6] - c[7] > 0 else 0.0, 1e-5)):
                if not near(r[k], v, tol):
                    BAD("%s game %s: %s %s, expected %.6f" % (d, gid, k, r[k], v))
            n_staked += s >= 0.005
            ml_total += s
        if len([k for k in ml if k[0] == d]) != len(cands):
            BAD("%s: %d moneyline rows, expected %d" % (d, len([k for k in ml if k[0] == d]), len(cands)))
        if int(p["n_moneyline"]) != len(cands) or int(p["moneyline_staked"]) != n_staked or \
                not near(p["moneyline_stake"], ml_total, 0.05):
            BAD("%s: portfolio moneylines %s/%s/%s, expected %d/%d/%.2f" %
                (d, p["n_moneyline"], p["moneyline_staked"], p["moneyline_stake"], len(cands), n_staked, ml_total))
        # the published document
        path = os.path.join(pubdir, "nba", d, "predictions.json")
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except OSError as e:
            BAD("%s: %s" % (path, e))
            continue
        pub = doc.get("moneyline_bets")
        want = sorted((gid for (gid, c), s in zip(cands, mst) if s >= 0.005))
        if not isinstance(pub, list) or sorted(b["game_id"] for b in pub) != want:
            BAD("%s: published moneyline_bets %s, expected games %s" %
                (d, None if pub is None else [b["game_id"] for b in pub], want))
        else:
            for b in pub:
                r = ml[(d, b["game_id"])]
                for k in ("side", "book", "price", "p_model", "p_fair", "edge", "stake"):
                    if str(b[k]) != r[k] and not (k not in ("side", "book") and near(b[k], r[k], 1e-9)):
                        BAD("%s game %s: published %s %s, table %s" % (d, b["game_id"], k, b[k], r[k]))
        pp = doc.get("portfolio") or {}
        if pp.get("n_moneyline") != len(cands) or not near(pp.get("moneyline_stake", -1), ml_total, 0.05):
            BAD("%s: published portfolio %s" % (d, pp))
        print("ok %s: %d moneyline candidates, %d staked (%.2f), %d prop bets in the slate" %
              (d, len(cands), n_staked, ml_total, len(pslate)))
    for kind, (n, before, after) in counts.items():
        print("ok %s: %d candidates, staked with edge >= %.2f: %d without shrinkage (w=0), "
              "%d with w=%.2f" % (kind, n, MIN_EDGE, before, after, W if kind == "props" else W_ML))


def check_calib(dump, dates):
    """Diagnostic: log loss / Brier of (1-w) p_model + w p_fair against the results."""
    box = {(r["game_id"], r["player_id"]): r for r in rows(dump, "boxscores")}
    games = {r["game_id"]: r for r in rows(dump, "games")}
    sets = {"props": [], "moneylines": []}
    for b in rows(dump, "prop_bets"):
        if b["game_date"] not in dates:
            continue
        r = box.get((b["game_id"], b["player_id"]))
        stat = r and r.get({"points": "pts", "rebounds": "reb", "assists": "ast"}.get(b["market"], ""))
        if not stat:
            continue
        fair = float(b["p_fair"])
        raw = (float(b["p_model"]) - W * fair) / (1 - W)  # props: W < 1
        over = float(stat) > float(b["line"])
        sets["props"].append((raw, fair, 1.0 if over == (b["side"] == "OVER") else 0.0))
    for b in rows(dump, "moneyline_bets"):
        g = games.get(b["game_id"])
        if b["game_date"] not in dates or not g or g["status"] != "final":
            continue
        home_won = int(g["home_pts"]) > int(g["away_pts"])
        sets["moneylines"].append((float(b["p_elo"]), float(b["p_fair"]),
                                   1.0 if home_won == (b["side"] == "HOME") else 0.0))
    for kind, xs in sets.items():
        if not xs:
            print("ok %s: no settled candidates" % kind)
            continue
        out = []
        for w in (0.0, 0.5, 0.8, 0.9, 1.0):
            ll = br = 0.0
            for pm, pf, y in xs:
                p = min(max((1 - w) * pm + w * pf, 1e-9), 1 - 1e-9)
                ll -= y * math.log(p) + (1 - y) * math.log(1 - p)
                br += (p - y) ** 2
            out.append("w=%.1f logloss %.4f brier %.4f" % (w, ll / len(xs), br / len(xs)))
        best = min((sum(-(y * math.log(min(max((1 - w / 100) * pm + w / 100 * pf, 1e-9), 1 - 1e-9)) +
                          (1 - y) * math.log(1 - min(max((1 - w / 100) * pm + w / 100 * pf, 1e-9), 1 - 1e-9)))
                        for pm, pf, y in xs), w / 100) for w in range(101))
        claim = sum(pm - pf for pm, pf, _ in xs) / len(xs)
        real = sum(y - pf for pm, pf, y in xs) / len(xs)
        print("ok %s: %d settled; %s; best w %.2f; mean claimed edge %.3f, realised %.3f" %
              (kind, len(xs), "; ".join(out), best[1], claim, real))
        for w in (0.5, 0.8):
            bk = []
            for lo, hi in ((0.0, 0.02), (0.02, 0.04), (0.04, 0.08), (0.08, 1.0)):
                sel = [(pm, pf, y) for pm, pf, y in xs if lo <= (1 - w) * (pm - pf) < hi]
                if sel:
                    bk.append("%.2f..%.2f: %d claimed %.3f realised %.3f" % (
                        lo, hi, len(sel), sum((1 - w) * (pm - pf) for pm, pf, _ in sel) / len(sel),
                        sum(y - pf for _, pf, y in sel) / len(sel)))
            print("ok %s w=%.1f shrunk edge buckets: %s" % (kind, w, "; ".join(bk)))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "load" and len(sys.argv) >= 5:
        check_load(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "calib" and len(sys.argv) >= 4:
        check_calib(sys.argv[2], sys.argv[3:])
    elif cmd == "bets" and len(sys.argv) >= 6:
        check_bets(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit(__doc__)
    sys.exit(1 if bad_n else 0)


main()
