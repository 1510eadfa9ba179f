#!/usr/bin/env python3
"""Seed data for precompute_service.sh, and the expected numbers recomputed
independently (plain Python over the generated box scores, never the
service's SQL).

  precompute_seed.py seed OUT.sql EXPECTED.txt
      4 teams, games on 2024-11-01..06 (all four teams play on the 1st-5th,
      only T1 vs T3 on the 6th), the as-of date D = 2024-11-07 scheduled
      (T1-T2, T3-T4): T1/T3 on a back-to-back, T2/T4 with a day off; 2
      players per team with history, plus player 9 (T4) known only from
      analytics.upcoming_player_game_context (no history).
      EXPECTED lines: "<player>|<pts_avg_last_5>|<pts_avg_last_10>|<pts_avg_season>|
      <reb_avg_last_5>|<ast_avg_season>|<minutes_avg_last_10>|<games>|<days_since>|
      <three_pt_rate>|<two_pt_pct>|<back_to_back>|<fatigue>|<form>"
  precompute_seed.py future OUT.sql
      rows dated D and D+1 with absurd values (the leakage probe).
"""
import random
import sys
from decimal import Decimal, ROUND_HALF_UP

TEAMS = [1610612701, 1610612702, 1610612703, 1610612704]
PLAYERS = {t: [t * 10 + 1 - 16106127000, t * 10 + 2 - 16106127000] for t in TEAMS}
# player ids: 11..., keep them simple and distinct
PLAYERS = {TEAMS[0]: [101, 102], TEAMS[1]: [201, 202], TEAMS[2]: [301, 302], TEAMS[3]: [401, 402]}
NOHIST = 409
D = "2024-11-07"
SEASON = "2024-25"
SHA = "ab" * 32


def rnd(x, places):
    return str(Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def avg(vals):
    return Decimal(sum(vals)) / Decimal(len(vals)) if vals else None


def schedule():
    days = []
    for d in range(1, 6):
        if d % 2:
            days.append((f"2024-11-0{d}", [(TEAMS[0], TEAMS[1]), (TEAMS[2], TEAMS[3])]))
        else:
            days.append((f"2024-11-0{d}", [(TEAMS[0], TEAMS[2]), (TEAMS[1], TEAMS[3])]))
    days.append(("2024-11-06", [(TEAMS[2], TEAMS[0])]))
    return days


def player_line(r, minutes_cap=35):
    fg3a = r.randint(0, 9)
    fg3m = r.randint(0, fg3a)
    fg2a = r.randint(3, 15)
    fg2m = r.randint(0, fg2a)
    fta = r.randint(0, 8)
    ftm = r.randint(0, fta)
    fgm, fga = fg2m + fg3m, fg2a + fg3a
    oreb = r.randint(0, 4)
    dreb = r.randint(0, 9)
    return dict(minutes=Decimal(r.randint(1500, minutes_cap * 100)) / 100, fgm=fgm, fga=fga,
                fg3m=fg3m, fg3a=fg3a, ftm=ftm, fta=fta, pts=2 * fgm + fg3m + ftm, oreb=oreb,
                dreb=dreb, reb=oreb + dreb, ast=r.randint(0, 10), stl=r.randint(0, 3),
                blk=r.randint(0, 3), tov=r.randint(0, 5), pf=r.randint(0, 5),
                usage=Decimal(r.randint(1200, 3200)) / 10000)


def pgs_sql(gid, pid, date, team, opp, home, l):
    return ("INSERT INTO analytics.player_game_summary (game_id, player_id, game_date, season, team_id, "
            "opponent_team_id, is_home, minutes, pts, reb, oreb, dreb, ast, stl, blk, tov, pf, fgm, fga, "
            "fg3m, fg3a, ftm, fta, usage_rate) VALUES "
            f"('{gid}', {pid}, '{date}', '{SEASON}', {team}, {opp}, {str(home).lower()}, {l['minutes']}, "
            f"{l['pts']}, {l['reb']}, {l['oreb']}, {l['dreb']}, {l['ast']}, {l['stl']}, {l['blk']}, "
            f"{l['tov']}, {l['pf']}, {l['fgm']}, {l['fga']}, {l['fg3m']}, {l['fg3a']}, {l['ftm']}, "
            f"{l['fta']}, {l['usage']});")


def team_sql(gid, date, team, opp, home, mine, theirs):
    s = lambda k, ls: sum(x[k] for x in ls)
    poss = lambda ls: Decimal(s('fga', ls) - s('oreb', ls) + s('tov', ls)) + Decimal('0.44') * s('fta', ls)
    tp, op = poss(mine), poss(theirs)
    out = [("INSERT INTO analytics.team_offense_game_summary (game_id, team_id, game_date, season, "
            "opponent_team_id, is_home, pts, fgm, fga, fg3m, fg3a, ftm, fta, oreb, dreb, reb, ast, tov, "
            "possessions, pace, offensive_rating) VALUES "
            f"('{gid}', {team}, '{date}', '{SEASON}', {opp}, {str(home).lower()}, {s('pts', mine)}, "
            f"{s('fgm', mine)}, {s('fga', mine)}, {s('fg3m', mine)}, {s('fg3a', mine)}, {s('ftm', mine)}, "
            f"{s('fta', mine)}, {s('oreb', mine)}, {s('dreb', mine)}, {s('reb', mine)}, {s('ast', mine)}, "
            f"{s('tov', mine)}, {rnd(tp, 2)}, {rnd(tp, 2)}, {rnd(100 * s('pts', mine) / tp, 2)});"),
           ("INSERT INTO analytics.team_defense_game_summary (game_id, team_id, game_date, season, "
            "opponent_team_id, is_home, opp_pts, opp_fgm, opp_fga, opp_fg3m, opp_fg3a, opp_ftm, opp_fta, "
            "opp_oreb, opp_reb, opp_ast, opp_tov, stl, blk, dreb, possessions, defensive_rating) VALUES "
            f"('{gid}', {team}, '{date}', '{SEASON}', {opp}, {str(home).lower()}, {s('pts', theirs)}, "
            f"{s('fgm', theirs)}, {s('fga', theirs)}, {s('fg3m', theirs)}, {s('fg3a', theirs)}, "
            f"{s('ftm', theirs)}, {s('fta', theirs)}, {s('oreb', theirs)}, {s('reb', theirs)}, "
            f"{s('ast', theirs)}, {s('tov', theirs)}, {s('stl', mine)}, {s('blk', mine)}, "
            f"{s('dreb', mine)}, {rnd(op, 2)}, {rnd(100 * s('pts', theirs) / op, 2)});")]
    return out


def game_sql(table, gid, date, home, away, status, hp=None, ap=None):
    if table == "raw.games":
        return ("INSERT INTO raw.games (game_id, game_date, season, home_team_id, away_team_id, home_pts, "
                f"away_pts, status, source, payload_sha256) VALUES ('{gid}', '{date}', '{SEASON}', {home}, "
                f"{away}, {hp}, {ap}, '{status}', 'test', '{SHA}');")
    return ("INSERT INTO raw.schedule (game_id, game_date, season, home_team_id, away_team_id, status, "
            f"source, payload_sha256) VALUES ('{gid}', '{date}', '{SEASON}', {home}, {away}, '{status}', "
            f"'test', '{SHA}');")


def seed(out_sql, out_exp):
    r = random.Random(20241107)
    sql, hist, n = [], {p: [] for ps in PLAYERS.values() for p in ps}, 0
    for date, games in schedule():
        for home, away in games:
            n += 1
            gid = f"00224{n:05d}"
            lines = {}
            for t in (home, away):
                for p in PLAYERS[t]:
                    lines[p] = player_line(r)
                    hist[p].append((date, t, lines[p]))
            hl = [lines[p] for p in PLAYERS[home]]
            al = [lines[p] for p in PLAYERS[away]]
            sql.append(game_sql("raw.games", gid, date, home, away, "final",
                                sum(x['pts'] for x in hl), sum(x['pts'] for x in al)))
            for t, opp, ishome in ((home, away, True), (away, home, False)):
                for p in PLAYERS[t]:
                    sql.append(pgs_sql(gid, p, date, t, opp, ishome, lines[p]))
            sql += team_sql(gid, date, home, away, True, hl, al)
            sql += team_sql(gid, date, away, home, False, al, hl)
    # D: scheduled, T1 home vs T2, T3 home vs T4
    sql.append(game_sql("raw.schedule", "0022400900", D, TEAMS[0], TEAMS[1], "scheduled"))
    sql.append(game_sql("raw.schedule", "0022400901", D, TEAMS[2], TEAMS[3], "scheduled"))
    sql.append("INSERT INTO analytics.upcoming_player_game_context (game_date, player_id, game_id, team_id, "
               f"opponent_team_id, is_home) VALUES ('{D}', {NOHIST}, '0022400901', {TEAMS[3]}, {TEAMS[2]}, false);")
    open(out_sql, "w").write("\n".join(sql) + "\n")
    exp = []
    last_date = {TEAMS[0]: "2024-11-06", TEAMS[2]: "2024-11-06", TEAMS[1]: "2024-11-05", TEAMS[3]: "2024-11-05"}
    for t, ps in PLAYERS.items():
        for p in ps:
            h = sorted(hist[p], key=lambda x: x[0], reverse=True)
            ls = [x[2] for x in h]
            pts = [x['pts'] for x in ls]
            a5, a10, sea = avg(pts[:5]), avg(pts[:10]), avg(pts)
            days = 7 - int(last_date[t][-2:])
            fg3a, fga = sum(x['fg3a'] for x in ls), sum(x['fga'] for x in ls)
            fg2m = sum(x['fgm'] - x['fg3m'] for x in ls)
            fatigue = {1: Decimal('-1.5'), 2: Decimal('0')}.get(days, Decimal('0.5'))
            if avg([x['minutes'] for x in ls[:5]]) > 36:
                fatigue -= Decimal('0.5')
            form = Decimal(rnd(a5, 2)) - Decimal(rnd(sea, 2))
            exp.append("|".join([str(p), rnd(a5, 2), rnd(a10, 2), rnd(sea, 2),
                                 rnd(avg([x['reb'] for x in ls[:5]]), 2),
                                 rnd(avg([x['ast'] for x in ls]), 2),
                                 rnd(avg([x['minutes'] for x in ls[:10]]), 2),
                                 str(len(ls)), str(days), rnd(Decimal(fg3a) / fga, 3),
                                 rnd(Decimal(fg2m) / (fga - fg3a), 3),
                                 "true" if days == 1 else "false", rnd(fatigue, 3), rnd(form, 3)]))
    exp.append("|".join([str(NOHIST), "", "", "", "", "", "", "0", "", "", "", "", "0.000", ""]))
    open(out_exp, "w").write("\n".join(sorted(exp)) + "\n")


def future(out_sql):
    """Rows on D and D+1 that would change every feature if they leaked in."""
    big = dict(minutes=Decimal('48.00'), fgm=25, fga=30, fg3m=10, fg3a=12, ftm=10, fta=10, pts=70,
               oreb=5, dreb=20, reb=25, ast=20, stl=5, blk=5, tov=1, pf=1, usage=Decimal('0.5000'))
    sql = []
    for date, gid, (home, away) in (("2024-11-07", "0022400900", (TEAMS[0], TEAMS[1])),
                                    ("2024-11-07", "0022400901", (TEAMS[2], TEAMS[3])),
                                    ("2024-11-08", "0022400902", (TEAMS[0], TEAMS[3])),
                                    ("2024-11-08", "0022400903", (TEAMS[1], TEAMS[2]))):
        if date == "2024-11-08":
            sql.append(game_sql("raw.games", gid, date, home, away, "final", 140, 140))
        for t, opp, ishome in ((home, away, True), (away, home, False)):
            for p in PLAYERS[t] + ([NOHIST] if t == TEAMS[3] else []):
                sql.append(pgs_sql(gid, p, date, t, opp, ishome, big))
        bl = [big] * 2
        sql += team_sql(gid, date, home, away, True, bl, bl)
        sql += team_sql(gid, date, away, home, False, bl, bl)
    open(out_sql, "w").write("\n".join(sql) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], sys.argv[3])
    else:
        future(sys.argv[2])
