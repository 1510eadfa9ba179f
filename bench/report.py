#!/usr/bin/env python3
"""make bench, last step: one results file and one page for every bench that ran.

Reads the JSON each bench script wrote into the bench directory (bus.json: a
list of rows; pipeline.json and later benches: an object with "rows"), and
writes next to them:

 results.json  every row of every bench, with the machine and the time
 report.html   the table plus a bar chart of each ratio against its baseline
        (1.0 = as fast as the baseline); rows with a target show
        met / MISSED; no JavaScript, no network (inline SVG)

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
    linear scale capped at 2.0 (ratios above are drawn full and labelled)."""
    bars = [r for r in rows if number(r["ratio"]) is not None]
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
    with open(os.path.join(bench_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"date": when, "machine": m, "rows": rows}, f, indent=1)
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
</body></html>
""" % (when, when, html.escape(m["cpu"]), m["cores"], m["memory"], m["load_avg"], chart(rows), table_html(rows))
    with open(os.path.join(bench_dir, "report.html"), "w", encoding="utf-8") as f:
        f.write(page)
    print(markdown(rows))
    print("\nresults: %s/results.json, chart: %s/report.html" % (bench_dir, bench_dir))


if __name__ == "__main__":
    main()
