#!/usr/bin/env python3
"""Simulated league for prediction_service.sh: writes SQL that seeds
analytics.player_game_summary (history), precompute.ml_feature_versions /
ml_feature_store (one feature row per player-game, as of the date),
raw.schedule and raw.prop_lines (the target date), and for the Elo and Kelly
checks raw.games finals (every simulated game, team score = its players'
points + a bench, plus ten days of a previous season so carry-over runs) and
over/under prices on the lines (a second book for every third player).
Deterministic (seeds; the Elo/Kelly extras draw from their own generator so
the players' numbers are the same as without them).

Signal beyond a season average: every player's role (minutes) changes once
mid-season, opponents differ in how much they allow, home court adds a bit.
Features (v1.sim): pts last 5, pts last 10, season avg, minutes last 5,
opponent points-allowed factor (last 60 days), is_home, games played.

usage: prediction_sim.py OUT.sql TARGET_DATE_OUT  (prints nothing else)
"""
import datetime, random, sys

rng = random.Random(20240601)
rng2 = random.Random(8)  # raw.games scores, prices
N_TEAMS, PER_TEAM, N_DATES = 8, 6, 70
start = datetime.date(2024, 11, 1)
dates = [start + datetime.timedelta(days=d) for d in range(N_DATES)]
target = dates[-1] + datetime.timedelta(days=1)
teams = [1610612700 + t for t in range(N_TEAMS)]
defense = {t: rng.uniform(0.8, 1.2) for t in teams}
players = []
for ti, t in enumerate(teams):
    for k in range(PER_TEAM):
        pid = 1000 + ti * 10 + k
        base = rng.uniform(0.35, 0.75)  # points per minute
        m0, m1 = rng.uniform(12, 36), rng.uniform(12, 36)
        switch = rng.randrange(15, N_DATES - 10)
        three = rng.uniform(0.1, 0.5)
        players.append(dict(id=pid, team=t, ppm=base, m0=m0, m1=m1, sw=switch, three=three))

out = open(sys.argv[1], "w")
w = out.write
w("INSERT INTO precompute.ml_feature_versions (feature_version, feature_names) VALUES ('v1', "
  "ARRAY['pts_last5','pts_last10','pts_season','min_last5','opp_factor','is_home','games'])"
  " ON CONFLICT DO NOTHING;\n")
hist = {p["id"]: [] for p in players}
allowed = {t: [] for t in teams}  # (date, pts allowed in game)
game_no = 0
SHA = "0" * 64
PRICES = [(-110, -110), (-120, 100), (105, -125), (-115, -105), (-130, 110), (120, -140)]

def final(gid, d, season, home, away, hp, ap):
    if hp == ap:
        hp += 1  # overtime
    w("INSERT INTO raw.games (game_id, game_date, season, home_team_id, away_team_id, home_pts, away_pts, status, source, payload_sha256) VALUES ('%s', '%s', '%s', %d, %d, %d, %d, 'final', 'sim', '%s');\n"
      % (gid, d, season, home, away, hp, ap, SHA))

# the end of a previous season (teams 0..5 only: two teams enter new, at the initial rating)
for k in range(10):
    d = datetime.date(2024, 4, 1) + datetime.timedelta(days=k)
    ts = teams[:6]
    random.Random(1000 + k).shuffle(ts)
    for j in range(0, 6, 2):
        game_no += 1
        final("00223%05d" % game_no, d, "2023-24", ts[j], ts[j + 1],
              rng2.randint(95, 125), rng2.randint(92, 122))

def priced(d, pid, market, book, line, gid, team):
    o, u = PRICES[rng2.randrange(len(PRICES))]
    w("INSERT INTO raw.prop_lines (game_date, player_id, market, book, line, over_price, under_price, game_id, team_id, source, payload_sha256) VALUES ('%s', %d, '%s', '%s', %.1f, %d, %d, '%s', %d, 'sim', '%s');\n"
      % (d, pid, market, book, line, o, u, gid, team, SHA))

def features(p, d, opp, home):
    h = hist[p["id"]]
    l5, l10 = h[-5:], h[-10:]
    avg = lambda xs, i: sum(x[i] for x in xs) / len(xs) if xs else 0.0
    a = [x[1] for x in allowed[opp] if (d - x[0]).days <= 60]
    lg = [x[1] for t in teams for x in allowed[t] if (d - x[0]).days <= 60]
    f = (sum(a) / len(a)) / (sum(lg) / len(lg)) if a and lg else 1.0
    return [avg(l5, 1), avg(l10, 1), avg(h, 1), avg(l5, 2), f, 1.0 if home else 0.0, float(len(h))]

def matchups(d, i):
    ts = teams[:]
    random.Random(i).shuffle(ts)
    return [(ts[j], ts[j + 1]) for j in range(0, len(ts), 2)]

for di, d in enumerate(dates + [target]):
    for home, away in matchups(d, di):
        game_no += 1
        gid = "00224%05d" % game_no
        if d == target:
            w("INSERT INTO raw.schedule (game_id, game_date, season, home_team_id, away_team_id, status, source, payload_sha256) VALUES ('%s', '%s', '2024-25', %d, %d, 'scheduled', 'sim', '%s');\n"
              % (gid, d, home, away, "0" * 64))
        totals = {home: 0, away: 0}
        for team, opp in ((home, away), (away, home)):
            for p in [q for q in players if q["team"] == team]:
                fv = features(p, d, opp, team == home)
                w("INSERT INTO precompute.ml_feature_store (player_id, game_date, feature_version, game_id, features) VALUES (%d, '%s', 'v1', '%s', '{%s}');\n"
                  % (p["id"], d, gid, ",".join("%.4f" % x for x in fv)))
                if d == target:
                    line = round(max(fv[0] if fv[6] else 10.0, 0.5) * 2) / 2
                    priced(d, p["id"], "points", "simbook", line, gid, team)
                    if p["id"] % 3 == 0:
                        priced(d, p["id"], "points", "altbook", line + 1.0, gid, team)
                    if p["id"] % 2 == 0:
                        priced(d, p["id"], "rebounds", "simbook", 4.5, gid, team)
                    continue
                mins = p["m0"] if di < p["sw"] else p["m1"]
                mins = max(1.0, rng.gauss(mins, 3))
                mean = p["ppm"] * mins * defense[opp] * (1.05 if team == home else 0.97)
                pts = max(0, int(round(rng.gauss(mean, 3))))
                fg3m = min(int(pts * p["three"] / 3), pts // 3)
                rest = pts - 3 * fg3m
                ftm = min(rest % 2 + 2 * rng.randrange(0, 3), rest)
                fg2m = (rest - ftm) // 2
                ftm = rest - 2 * fg2m
                fgm = fg2m + fg3m
                reb = max(0, int(rng.gauss(mins / 6, 2)))
                ast = max(0, int(rng.gauss(mins / 10, 1.5)))
                w("INSERT INTO analytics.player_game_summary (game_id, player_id, game_date, season, team_id, opponent_team_id, is_home, minutes, pts, reb, oreb, dreb, ast, stl, blk, tov, pf, fgm, fga, fg3m, fg3a, ftm, fta) VALUES ('%s', %d, '%s', '2024-25', %d, %d, %s, %.2f, %d, %d, 0, %d, %d, 0, 0, 0, 0, %d, %d, %d, %d, %d, %d);\n"
                  % (gid, p["id"], d, team, opp, "true" if team == home else "false", mins, pts, reb, reb, ast, fgm, fgm + 5, fg3m, fg3m + 2, ftm, ftm + 1))
                hist[p["id"]].append((d, pts, mins))
                totals[opp] += pts
        if d != target:
            allowed[home].append((d, totals[home]))
            allowed[away].append((d, totals[away]))
            # totals[x] = points x allowed: the home score is what the away side allowed
            final(gid, d, "2024-25", home, away, totals[away] + rng2.randint(30, 50),
                  totals[home] + rng2.randint(30, 50))
out.close()
open(sys.argv[2], "w").write(str(target))
