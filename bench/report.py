#!/usr/bin/env python3
"""make bench, last step: one results file and one page for every bench that ran.

Reads the JSON each bench script wrote into the bench directory (bus.json: a
list of rows; pipeline.json and later benches: an object with "rows"), and
writes next to them:

 results.json  every row of every bench, with the machine and the time (and
        backfill.json's season and growth figures under "backfill")
 report.html   the table plus a bar chart of each ratio against its baseline
        (1.0 = as fast as the baseline); rows with a target show
        met / MISSED; the backfill bench's own section: its table, the
        time per date over the season and the growth bars (1x/2x/4x
        against linear); no JavaScript, no network (inline SVG)

and prints a Markdown table (the one docs/performance.md keeps).

A row is {metric, statline, and either baseline + ratio or target + result}.
Usage: bench/report.py [BENCH_DIR]   (default build/bench)
"""

import html
import json
import os
import platform
import sys
import time


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(f.readline().split()[1])
            mem = "%.0f GiB" % (kb / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
        "os": platform.platform(), "load_avg": os.getloadavg()[0]}


def load_rows(bench_dir):
    """Every row of every bench JSON in bench_dir, tagged with its bench."""
    rows = []
    for name in sorted(os.listdir(bench_dir)):
        if not name.endswith(".json") or name == "results.json":
            continue
        path = os.path.join(bench_dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit("bench/report.py: %s: %s" % (path, e))
        items = doc if isinstance(doc, list) else doc.get("rows", [])
        bench = name[:-5]
        for r in items:
            if not isinstance(r, dict) or "metric" not in r:
                sys.exit("bench/report.py: %s: a row without a metric: %r" % (path, r))
            row = {"bench": bench, "backend": r.get("backend", doc.get("bus", "-")
                                if isinstance(doc, dict) else "-"),
               "metric": r["metric"], "statline": str(r.get("statline", "-")),
               "baseline": str(r.get("baseline", r.get("target", "-"))),
               "ratio": str(r.get("ratio", r.get("result", "-")))}
            rows.append(row)
    return rows


def number(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def chart(rows):
    """An inline SVG bar per row that has a numeric ratio, on a log-free
    linear scale capped at 2.0 (ratios above are drawn full and labelled).
    The backfill bench's ratios are time ratios (higher = slower) and get
    their own charts (backfill_section), so they are left out here."""
    bars = [r for r in rows if number(r["ratio"]) is not None and r["bench"] != "backfill"]
    if not bars:
        return "<p>No ratios to chart.</p>"
    h, left, width = 22, 430, 360
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
       'font-size="12">' % (left + width + 60, h * len(bars) + 30)]
    x1 = left + width / 2  # 1.0 mark
    for i, r in enumerate(bars):
        v = number(r["ratio"])
        y = 10 + i * h
        w = min(v, 2.0) / 2.0 * width
        colour = "#2e7d32" if v >= 1.0 else ("#f9a825" if v >= 0.5 else "#c62828")
        label = html.escape("%s: %s" % (r["backend"], r["metric"]))
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 6, y + 14, label))
        out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (left, y + 3, w, h - 6,
                                           colour))
        out.append('<text x="%.1f" y="%d">%s</text>' % (left + w + 4, y + 14, html.escape(r["ratio"])))
    out.append('<line x1="%.1f" y1="5" x2="%.1f" y2="%d" stroke="#000" stroke-dasharray="4 3"/>' %
         (x1, x1, h * len(bars) + 12))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">baseline = 1.0</text>' % (x1, h * len(bars) + 26))
    out.append("</svg>")
    return "\n".join(out)


def load_backfill(bench_dir):
    """backfill.json (bench/backfill.sh) as a dict, or None when that bench did not run."""
    path = os.path.join(bench_dir, "backfill.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("season"), dict):
        sys.exit("bench/report.py: %s: no \"season\" object" % path)
    return doc


def days_chart(days):
    """Seconds per date over the season, one bar per date (0-game dates are gaps)."""
    if not days:
        return "<p>No dates.</p>"
    left, top, height, bw = 50, 10, 160, max(2, min(8, 700 // len(days)))
    width = max(bw * len(days), 480)
    top_s = max(d.get("ms", 0) for d in days) / 1000.0 or 1.0
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="11">' % (left + width + 20, top + height + 40)]
    for frac in (0, 0.5, 1):
        y = top + height - frac * height
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, y, left + width, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.1f s</text>' % (left - 4, y + 4, frac * top_s))
    month, label_x = None, -100
    for i, d in enumerate(days):
        h = d.get("ms", 0) / 1000.0 / top_s * height
        x = left + i * bw
        colour = "#c62828" if d.get("status") != "done" else "#1565c0"
        out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s: %d games, %.2f s</title>'
                   '</rect>' % (x, top + height - h, max(1, bw - 1), h, colour, html.escape(d.get("date", "?")),
                                d.get("games", 0), d.get("ms", 0) / 1000.0))
        m = d.get("date", "")[:7]
        if m != month:  # a label where a month starts, unless it would overlap the last one
            month = m
            if x - label_x < 50:
                continue
            label_x = x
            out.append('<text x="%d" y="%d">%s</text>' % (x, top + height + 14, html.escape(m)))
    out.append('<text x="%d" y="%d">date of the season (blue: done; red: not done); hover a bar for its '
               'figures</text>' % (left, top + height + 32))
    out.append("</svg>")
    return "\n".join(out)


def growth_chart(growth):
    """Wall seconds of the 1x/2x/4x backfills, each next to its linear expectation
    (the 1x time times the games ratio; dashed outline)."""
    sizes = growth.get("sizes") or []
    if not sizes or not sizes[0].get("games"):
        return "<p>No growth runs.</p>"
    t1, g1 = sizes[0]["wall_ms"] / 1000.0, sizes[0]["games"]
    pairs = [(s, s["wall_ms"] / 1000.0, t1 * s["games"] / g1) for s in sizes]
    top_s = max(max(a, b) for _, a, b in pairs) or 1.0
    left, top, height, bw = 40, 20, 160, 36
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="11">' % (max(left + len(pairs) * 130 + 20, 420), top + height + 50)]
    for i, (s, t, lin) in enumerate(pairs):
        x = left + i * 130
        ht, hl = t / top_s * height, lin / top_s * height
        out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#1565c0"/>' % (x, top + height - ht, bw,
                                                                                        ht))
        out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="none" stroke="#000" '
                   'stroke-dasharray="4 3"/>' % (x + bw + 4, top + height - hl, bw, hl))
        out.append('<text x="%d" y="%.1f">%.1f</text>' % (x, top - 4 + height - ht, t))
        out.append('<text x="%d" y="%.1f">%.1f</text>' % (x + bw + 4, top - 4 + height - hl, lin))
        out.append('<text x="%d" y="%d">%dx: %d dates, %d games</text>' % (x, top + height + 16, s["mult"],
                                                                            s["dates"], s["games"]))
    out.append('<text x="%d" y="%d">seconds: measured (blue) and linear in games from 1x (dashed)</text>' %
               (left, top + height + 38))
    out.append("</svg>")
    return "\n".join(out)


def backfill_section(doc):
    """The backfill bench's part of the page: season summary, per-phase table, charts."""
    s = doc["season"]
    load = doc.get("load_avg") or {}
    base = s.get("baseline") or {}
    parts = ["<h2>Full-season backfill and cost growth (bench/backfill)</h2>",
             "<p>statline-backfill --workers 1 over %s..%s: %d dates (%d done), %d games in %.1f s "
             "(%.2f games/s); baseline (first 1/8 of the games at their per-game cost, times all games): "
             "%.1f s; failed phase runs %s (never made good by a retry: %s), DLQ %s. Load average %s (start) / %s (mean) / %s (max).</p>" % (
                 html.escape(str(s.get("from"))), html.escape(str(s.get("to"))), s.get("dates", 0),
                 s.get("dates_done", 0), s.get("games", 0), s.get("wall_ms", 0) / 1000.0,
                 s.get("games", 0) * 1000.0 / max(1, s.get("wall_ms", 1)), base.get("projected_ms", 0) / 1000.0,
                 (s.get("failed_phase_runs") or {}).get("failed", "?"),
                 (s.get("failed_phase_runs") or {}).get("never_made_good", "?"), s.get("dlq_entries"),
                 load.get("start", "?"), load.get("mean", "?"), load.get("max", "?"))]
    rows = "".join("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.1f</td></tr>" % (
        html.escape(str(p.get("phase"))), p.get("runs"), p.get("failed"), p.get("skipped"), p.get("ms", 0) / 1000.0)
        for p in s.get("phases", []))
    parts.append("<table><tr><th>phase</th><th>runs</th><th>failed</th><th>skipped</th><th>summed run time s</th>"
                 "</tr>%s</table>" % rows)
    parts.append("<h3>Time per date over the season</h3>")
    parts.append(days_chart(s.get("per_date") or []))
    growth = doc.get("growth")
    if isinstance(growth, dict):
        parts.append("<h3>Cost growth: 1x, 2x, 4x the data (fresh database each)</h3>")
        parts.append("<p>Wall time t2x/t1x = %s, t4x/t1x = %s; CPU (services + PostgreSQL) 2x/1x = %s, 4x/1x = %s "
                     "(linear: 2.0 / 4.0 by dates; %s / %s by games).</p>" % (
                         growth.get("t2_t1"), growth.get("t4_t1"), growth.get("cpu2_cpu1", "-"),
                         growth.get("cpu4_cpu1", "-"), growth.get("games2_games1"), growth.get("games4_games1")))
        parts.append(growth_chart(growth))
        rows = "".join("<tr><td>%s</td><td>%.1f</td><td>%.1f</td><td>%s</td></tr>" % (
            html.escape(str(p.get("phase"))), p.get("ms_1x", 0) / 1000.0, p.get("ms_4x", 0) / 1000.0, p.get("ratio"))
            for p in growth.get("phase_growth_4x", []))
        parts.append("<table><tr><th>phase</th><th>1x s</th><th>4x s</th><th>4x / 1x</th></tr>%s</table>" % rows)
    return "\n".join(parts)


def table_html(rows):
    head = "<tr><th>bench</th><th>backend</th><th>metric</th><th>statline</th><th>baseline / target</th>" \
       "<th>ratio / result</th></tr>"
    body = []
    for r in rows:
        cls = ' class="missed"' if r["ratio"] == "MISSED" else ""
        body.append("<tr%s>%s</tr>" % (cls, "".join("<td>%s</td>" % html.escape(r[k]) for k in
                              ("bench", "backend", "metric", "statline",
                               "baseline", "ratio"))))
    return "<table>%s%s</table>" % (head, "".join(body))


def markdown(rows):
    lines = ["| bench | backend | metric | statline | baseline / target | ratio / result |",
        "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s |" % tuple(
            r[k].replace("|", "/") for k in ("bench", "backend", "metric", "statline", "baseline",
                            "ratio")))
    return "\n".join(lines)


def main():
    bench_dir = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
    if not os.path.isdir(bench_dir):
        sys.exit("bench/report.py: %s: no such directory (run make bench first)" % bench_dir)
    rows = load_rows(bench_dir)
    if not rows:
        sys.exit("bench/report.py: %s holds no bench results" % bench_dir)
    m = machine()
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        backfill = load_backfill(bench_dir)
    except (OSError, ValueError) as e:
        sys.exit("bench/report.py: %s/backfill.json: %s" % (bench_dir, e))
    results = {"date": when, "machine": m, "rows": rows}
    if backfill is not None:
        results["backfill"] = {k: backfill.get(k) for k in ("date", "load_avg", "tool", "season", "growth")}
    with open(os.path.join(bench_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    page = """<!doctype html>
<html><head><meta charset="utf-8"><title>statline bench %s</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.missed td{background:#fdd}</style></head>
<body><h1>statline bench</h1>
<p>%s UTC on %s, %s cores, %s, load average %.2f at the end. Every figure is next to a baseline measured in the
same run (ratio, 1.0 = as fast as the baseline; higher is better for rates) or next to its target.</p>
<h2>Ratios against the baselines</h2>
%s
<h2>All figures</h2>
%s
%s
</body></html>
""" % (when, when, html.escape(m["cpu"]), m["cores"], m["memory"], m["load_avg"], chart(rows), table_html(rows),
       backfill_section(backfill) if backfill is not None else "")
    with open(os.path.join(bench_dir, "report.html"), "w", encoding="utf-8") as f:
        f.write(page)
    print(markdown(rows))
    print("\nresults: %s/results.json, chart: %s/report.html" % (bench_dir, bench_dir))


if __name__ == "__main__":
    main()
