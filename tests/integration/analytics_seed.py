#!/usr/bin/env python3
"""Seed data for analytics_service.sh: a tiny deterministic league written as
SQL for the raw.* tables, plus the expected analytics numbers computed here,
independently of the service's SQL (plain Python over the generated stats).

usage: analytics_seed.py OUTDIR
writes seed.sql (raw rows; not the raw.games row of game 3, which the test
inserts later to exercise the missing-dependency path), games3.sql,
exp_player.csv, exp_team.csv, and facts.txt (ids the test needs).
"""
import csv, random, sys

out = sys.argv[1]
rnd = random.Random(20240110)
SHA = "a" * 64
TEAMS = {"A": 1610612701, "B": 1610612702, "C": 1610612703, "D": 1610612704}
players = {t: [tid * 0 + 1000 + 10 * i + k for k in range(1, 6)] for i, (t, tid) in enumerate(TEAMS.items())}
DNP = 1009  # team A, listed in game 1 without minutes
games = [  # id, date, home, away
    ("0022300001", "2024-01-10", "A", "B"),
    ("0022300002", "2024-01-10", "C", "D"),
    ("0022300003", "2024-01-11", "A", "C"),
]
upcoming = [("0022300004", "2024-01-12", "B", "A"), ("0022300005", "2024-01-12", "D", "C")]

def line(p):
    fg3a = rnd.randint(0, 8); fg3m = rnd.randint(0, fg3a)
    fg2a = rnd.randint(2, 14); fg2m = rnd.randint(0, fg2a)
    fta = rnd.randint(0, 8); ftm = rnd.randint(0, fta)
    oreb = rnd.randint(0, 4); dreb = rnd.randint(0, 9)
    s = dict(fgm=fg2m + fg3m, fga=fg2a + fg3a, fg3m=fg3m, fg3a=fg3a, ftm=ftm, fta=fta,
             oreb=oreb, dreb=dreb, ast=rnd.randint(0, 9), stl=rnd.randint(0, 3),
             blk=rnd.randint(0, 3), tov=rnd.randint(0, 5), pf=rnd.randint(0, 5))
    s["pts"] = 2 * s["fgm"] + s["fg3m"] + s["ftm"]
    s["reb"] = oreb + dreb
    return s

KEYS = ["pts", "reb", "oreb", "dreb", "ast", "stl", "blk", "tov", "pf", "fgm", "fga", "fg3m", "fg3a", "ftm", "fta"]
sql, sql3, exp_p, exp_t = [], [], [], []
team_lines = {}
for gid, date, home, away in games:
    for t in (home, away):
        mins = [round(rnd.uniform(40, 55), 2) for _ in range(4)]
        mins.append(round(240 - sum(mins), 2))
        lines = []
        for pid, m in zip(players[t], mins):
            s = line(pid); s["minutes"] = m; s["player_id"] = pid
            lines.append(s)
        tot = {k: sum(l[k] for l in lines) for k in KEYS}
        tot["minutes"] = 240
        team_lines[(gid, t)] = (lines, tot)
        for s in lines:
            cols = ", ".join(str(s[k]) for k in KEYS)
            sql.append(f"INSERT INTO raw.player_boxscores (game_id, player_id, team_id, player_name, starter, minutes, "
                       f"{', '.join(KEYS)}, plus_minus, source, payload_sha256) VALUES ('{gid}', {s['player_id']}, "
                       f"{TEAMS[t]}, 'P{s['player_id']}', true, {s['minutes']}, {cols}, 0, 'it', '{SHA}');")
        if gid == "0022300001" and t == "A":
            sql.append(f"INSERT INTO raw.player_boxscores (game_id, player_id, team_id, player_name, source, payload_sha256) "
                       f"VALUES ('{gid}', {DNP}, {TEAMS[t]}, 'P{DNP}', 'it', '{SHA}');")
        cols = ", ".join(str(tot[k]) for k in KEYS)
        sql.append(f"INSERT INTO raw.team_boxscores (game_id, team_id, team_abbr, minutes, {', '.join(KEYS)}, "
                   f"source, payload_sha256) VALUES ('{gid}', {TEAMS[t]}, '{t}', 240, {cols}, 'it', '{SHA}');")
    hp, ap = team_lines[(gid, home)][1]["pts"], team_lines[(gid, away)][1]["pts"]
    if hp == ap:  # no ties in basketball: one more free throw for the home side's first player
        raise SystemExit("tie: change the seed")
    g = (f"INSERT INTO raw.games (game_id, game_date, season, home_team_id, away_team_id, home_team_abbr, "
         f"away_team_abbr, home_pts, away_pts, status, source, payload_sha256) VALUES ('{gid}', '{date}', "
         f"'2023-24', {TEAMS[home]}, {TEAMS[away]}, '{home}', '{away}', {hp}, {ap}, 'final', 'it', '{SHA}');")
    (sql3 if gid == "0022300003" else sql).append(g)
for gid, date, home, away in games + upcoming:
    st = "final" if date < "2024-01-12" else "scheduled"
    sql.append(f"INSERT INTO raw.schedule (game_id, game_date, season, home_team_id, away_team_id, status, source, "
               f"payload_sha256) VALUES ('{gid}', '{date}', '2023-24', {TEAMS[home]}, {TEAMS[away]}, '{st}', 'it', '{SHA}');")
# injuries on the day of the upcoming games; prop lines
sql.append(f"INSERT INTO raw.injuries (report_date, player_id, team_id, player_name, status, reason, source, payload_sha256) "
           f"VALUES ('2024-01-12', {players['A'][0]}, {TEAMS['A']}, 'x', 'Out', 'Ankle', 'it', '{SHA}'), "
           f"('2024-01-12', {players['C'][1]}, {TEAMS['C']}, 'x', 'Questionable', 'Knee', 'it', '{SHA}');")
sql.append(f"INSERT INTO raw.prop_lines (game_date, player_id, market, book, line, game_id, team_id, source, payload_sha256) "
           f"VALUES ('2024-01-12', {players['A'][1]}, 'points', 'b1', 22.5, '0022300004', {TEAMS['A']}, 'it', '{SHA}'), "
           f"('2024-01-12', {players['A'][1]}, 'points', 'b2', 23.5, '0022300004', {TEAMS['A']}, 'it', '{SHA}'), "
           f"('2024-01-12', {players['A'][1]}, 'rebounds', 'b1', 7.5, '0022300004', {TEAMS['A']}, 'it', '{SHA}'), "
           f"('2024-01-12', {players['C'][0]}, 'points', 'b1', 18.5, '0022300005', {TEAMS['C']}, 'it', '{SHA}');")

# expected: per player per game, per team per game
for gid, date, home, away in games:
    for t, o in ((home, away), (away, home)):
        lines, tot = team_lines[(gid, t)]
        otot = team_lines[(gid, o)][1]
        for s in lines:
            ts = s["pts"] / (2 * (s["fga"] + 0.44 * s["fta"])) if s["fga"] + s["fta"] > 0 else ""
            efg = (s["fgm"] + 0.5 * s["fg3m"]) / s["fga"] if s["fga"] > 0 else ""
            usg = min(1.0, (s["fga"] + 0.44 * s["fta"] + s["tov"]) * (tot["minutes"] / 5)
                      / (s["minutes"] * (tot["fga"] + 0.44 * tot["fta"] + tot["tov"])))
            exp_p.append([gid, s["player_id"], date, TEAMS[t], TEAMS[o], str(t == home).lower(),
                          s["pts"], s["reb"], s["ast"], ts, efg, usg])
        poss = tot["fga"] - tot["oreb"] + tot["tov"] + 0.44 * tot["fta"]
        oposs = otot["fga"] - otot["oreb"] + otot["tov"] + 0.44 * otot["fta"]
        exp_t.append([gid, TEAMS[t], date, TEAMS[o], str(t == home).lower(), str(tot["pts"] > otot["pts"]).lower(),
                      tot["pts"], otot["pts"], poss, 100 * tot["pts"] / poss, poss * 48 / (tot["minutes"] / 5),
                      oposs, 100 * otot["pts"] / oposs])
open(f"{out}/seed.sql", "w").write("\n".join(sql) + "\n")
open(f"{out}/games3.sql", "w").write("\n".join(sql3) + "\n")
csv.writer(open(f"{out}/exp_player.csv", "w")).writerows(exp_p)
csv.writer(open(f"{out}/exp_team.csv", "w")).writerows(exp_t)
wins_a = sum(1 for gid, d, h, a in games if "A" in (h, a) and
             (team_lines[(gid, "A")][1]["pts"] > team_lines[(gid, "C" if "C" in (h, a) else "B")][1]["pts"]))
with open(f"{out}/facts.txt", "w") as f:
    f.write(f"A1={players['A'][0]}\nA2={players['A'][1]}\nC1={players['C'][0]}\nC2={players['C'][1]}\n")
    f.write(f"B1={players['B'][0]}\nDNP={DNP}\nTA={TEAMS['A']}\nTB={TEAMS['B']}\nTC={TEAMS['C']}\nTD={TEAMS['D']}\n")
    f.write(f"WINPCT_A={round(wins_a / 2, 3):.3f}\n")
    f.write("G1_PLAYERS=" + ",".join(str(p) for p in players["A"] + players["B"]) + "\n")
