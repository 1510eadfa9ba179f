#!/usr/bin/env python3
"""Helper of tests/chaos/chaos.sh: makes and injects poison events, reads the
dead-letter topics back and matches them. Independent of the code under test:
the bus is spoken to with a minimal RESP client (Redis) or kcat (Kafka).

  chaos.py poison --backend B --url U --prefix P --first I --count N --log FILE
        [--kinds K,K...]
        N poison messages, numbered I..I+N-1, each published raw (bytes that
        no producer of statline would write) to a random phase input topic
        <P>.nba.{scraper,raw,analytics,precompute,prediction}.completed.
        Appends "index kind topic bytes" per message to FILE (only after the
        broker confirmed it). Kinds, in turn: truncated JSON, wrong types,
        huge (100,500 JSON values, 201 KB; on Redis one in four is
        1 MiB + 1 KiB of string instead, over the input cap),
        invalid UTF-8, unknown schema version, wrong sport.
  chaos.py dlq --backend B --url U --prefix P --poison-log FILE --corrs FILE
        reads every <P>.nba.*.completed.dlq, matches each dead letter to a
        poison index by its marker (the correlation id
        c4a05c4a-0000-4000-8000-<index as 12 hex digits>, which every poison
        carries near its start), and prints one JSON object: dlq entries,
        poison injected / found / missing (by kind) / duplicated, entries that
        are not poison (with their correlation id and error), entries without
        a reason (dlq.error header), and the good correlation ids of FILE
        (one a line) seen in a dead letter.
"""
import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile

PHASES = ["scraper", "raw", "analytics", "precompute", "prediction"]
KINDS = ["truncated", "wrong_types", "huge", "invalid_utf8", "schema_version", "wrong_sport"]
MARK = "c4a05c4a-0000-4000-8000-%012x"
MARK_RE = re.compile(rb"c4a05c4a-0000-4000-8000-([0-9a-f]{12})")
CORR_RE = re.compile(rb'"correlation_id":"([0-9a-f-]{36})"')


# --- Redis (RESP, binary safe) ---------------------------------------------------------------------
class Resp:
    def __init__(self, url):
        host, port = url.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=60)
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.f.readline()
        if not line:
            raise IOError("redis: connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest
        if t == b"-":
            raise IOError("redis: " + rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise IOError("redis: bad reply %r" % line)


def redis_entries(url, stream):
    """[(id, data bytes, {header: value})] of a stream, in order."""
    r = Resp(url)
    out = []
    start = b"-"
    while True:
        batch = r.cmd("XRANGE", stream, start, "+", "COUNT", "200")
        if not batch:
            break
        for eid, fields in batch:
            d = b""
            h = {}
            for i in range(0, len(fields), 2):
                k, v = fields[i], fields[i + 1]
                if k == b"d":
                    d = v
                elif k.startswith(b"h:"):
                    h[k[2:].decode(errors="replace")] = v.decode(errors="replace")
            out.append((eid.decode(), d, h))
        start = b"(" + batch[-1][0]
    return out


def kafka_entries(url, topic):
    """Same for a Kafka topic (partition:offset ids); headers name=value,... from kcat."""
    fmt = "@@%p:%o@@%S@@%h@@%s"
    p = subprocess.run(["kcat", "-C", "-b", url, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    b = p.stdout
    out = []
    i = 0
    while i < len(b):
        if not b.startswith(b"@@", i):
            raise ValueError("kcat output out of step at %d" % i)
        j = b.index(b"@@", i + 2)
        eid = b[i + 2:j].decode()
        k = b.index(b"@@", j + 2)
        size = int(b[j + 2:k]) if b[j + 2:k] not in (b"", b"-1") else 0
        m = b.index(b"@@", k + 2)
        hdrs = b[k + 2:m].decode(errors="replace")
        data = b[m + 2:m + 2 + size]
        i = m + 2 + size
        h = {}
        for part in re.split(r",(?=dlq\.|replay\.)", hdrs):
            if "=" in part:
                n, v = part.split("=", 1)
                h[n] = v
        out.append((eid, data, h))
    return out


# --- poison ----------------------------------------------------------------------------------------
def uuid7ish(rng):
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-7%s-%x%s-%s" % (h[0:8], h[8:12], h[13:16], 8 + rng.getrandbits(2), h[17:20],
                                  h[20:32])


def base_envelope(rng, phase, idx):
    """A valid envelope of phase's completion type (keys in writer order)."""
    return {
        "correlation_id": MARK % idx,
        "schema_version": "1.0",
        "event_id": uuid7ish(rng),
        "type": phase + ".completed",
        "phase": phase,
        "causation_id": None,
        "traceparent": "00-%032x-%016x-01" % (rng.getrandbits(128) | 1, rng.getrandbits(64) | 1),
        "sport": "nba",
        "game_date": "2024-10-%02d" % (22 + idx % 7),
        "affected_entities": [{"kind": "game", "id": "00224%05d" % (idx % 100000)}],
        "idempotency_key": "chaos:poison:%d" % idx,
        "produced_at": "2024-10-22T12:00:00.000Z",
        "payload": {"chaos": "poison", "index": idx},
    }


def dumps(o):
    return json.dumps(o, separators=(",", ":")).encode()


def make_poison(rng, phase, idx, kind, backend):
    env = base_envelope(rng, phase, idx)
    v = idx // len(KINDS)  # the variant within the kind
    if kind == "truncated":
        b = dumps(env)
        return b[:len(b) * 3 // 5]
    if kind == "wrong_types":
        field, value = [("game_date", 20241022), ("affected_entities", "all"),
                        ("event_id", 7), ("replay_count", "1"), ("sport", ["nba"]),
                        ("payload", "x")][v % 6]
        env[field] = value
        return dumps(env)
    if kind == "huge":
        if backend != "kafka" and v % 4 == 1:
            env["payload"]["blob"] = "x" * ((1 << 20) + 1024)  # over the 1 MiB input cap
        else:
            env["payload"]["values"] = [0] * 100500  # over the 100,000 JSON values cap
        return dumps(env)
    if kind == "invalid_utf8":
        env["idempotency_key"] = "chaos:poison:BAD"
        b = dumps(env)
        bad = [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf"][v % 4]
        return b.replace(b"BAD", bad)
    if kind == "schema_version":
        env["schema_version"] = ["2.0", "9.1", "0.9"][v % 3]
        return dumps(env)
    if kind == "wrong_sport":
        env["sport"] = ["mlb", "nhl_x", "NBA"][v % 3]
        return dumps(env)
    raise ValueError(kind)


def cmd_poison(a):
    rng = random.Random(a.seed * 1000003 + a.first)
    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            sys.stderr.write("chaos.py: unknown poison kind %s (kinds: %s)\n" % (k, ",".join(KINDS)))
            return 2
    msgs = []
    for idx in range(a.first, a.first + a.count):
        kind = kinds[idx % len(kinds)]
        topic = "%s.nba.%s.completed" % (a.prefix, rng.choice(PHASES))
        msgs.append((idx, kind, topic, make_poison(rng, topic.split(".")[-2], idx, kind,
                                                     a.backend)))
    if a.backend == "kafka":
        with tempfile.TemporaryDirectory() as d:
            by_topic = {}
            for idx, kind, topic, data in msgs:
                path = os.path.join(d, "p%d" % idx)
                with open(path, "wb") as f:
                    f.write(data)
                by_topic.setdefault(topic, []).append(path)
            for topic, paths in by_topic.items():
                # one message per file; kcat waits for delivery reports and fails if any fails
                p = subprocess.run(["kcat", "-P", "-b", a.url, "-t", topic, "-X",
                                    "message.max.bytes=2000000"] + paths,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
                if p.returncode != 0:
                    sys.stderr.write(p.stderr.decode(errors="replace"))
                    return 1
    else:
        r = Resp(a.url)
        for idx, kind, topic, data in msgs:
            r.cmd("XADD", topic, "*", "d", data)
    with open(a.log, "a") as f:
        for idx, kind, topic, data in msgs:
            f.write("%d %s %s %d\n" % (idx, kind, topic, len(data)))
    return 0


# --- dlq -------------------------------------------------------------------------------------------
def cmd_dlq(a):
    poison = {}
    if os.path.exists(a.poison_log):
        with open(a.poison_log) as f:
            for line in f:
                idx, kind, topic, size = line.split()
                poison[int(idx)] = (kind, topic, int(size))
    corrs = set()
    if a.corrs and os.path.exists(a.corrs):
        with open(a.corrs) as f:
            corrs = {l.strip() for l in f if l.strip()}
    entries = []
    for ph in PHASES:
        t = "%s.nba.%s.completed.dlq" % (a.prefix, ph)
        if a.backend == "kafka":
            entries += [(t, *e) for e in kafka_entries(a.url, t)]
        else:
            entries += [(t, *e) for e in redis_entries(a.url, t)]
    found = {}
    not_poison = []
    no_reason = 0
    wrong_topic = 0
    for t, eid, data, h in entries:
        if not h.get("dlq.error"):
            no_reason += 1
        m = MARK_RE.search(data[:4096])
        idx = int(m.group(1), 16) if m else None
        if idx is not None and idx in poison:
            found[idx] = found.get(idx, 0) + 1
            if h.get("dlq.original_topic") != poison[idx][1]:
                wrong_topic += 1
            continue
        c = CORR_RE.search(data[:4096])
        not_poison.append({"dlq": t, "id": eid, "correlation_id": c.group(1).decode() if c else None,
                           "error_class": h.get("dlq.error_class"), "error": h.get("dlq.error"),
                           "service": h.get("dlq.service"), "bytes": len(data),
                           "head": data[:160].decode(errors="replace")})
    missing = {}
    for idx, (kind, _, _) in poison.items():
        if idx not in found:
            missing[kind] = missing.get(kind, 0) + 1
    classes = {}
    for t, eid, data, h in entries:
        k = h.get("dlq.error_class", "?")
        classes[k] = classes.get(k, 0) + 1
    res = {
        "dlq_entries": len(entries),
        "poison_injected": len(poison),
        "poison_found": len(found),
        "poison_missing": sum(missing.values()),
        "poison_missing_by_kind": missing,
        "poison_duplicated": sum(n - 1 for n in found.values()),
        "poison_wrong_original_topic": wrong_topic,
        "not_poison": len(not_poison),
        "not_poison_entries": not_poison[:20],
        "no_reason": no_reason,
        "error_classes": classes,
        "good_corrs_in_dlq": sorted({e["correlation_id"] for e in not_poison
                                     if e["correlation_id"] in corrs}),
    }
    print(json.dumps(res, sort_keys=True))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("poison")
    d = sub.add_parser("dlq")
    for x in (p, d):
        x.add_argument("--backend", required=True, choices=["redis-streams", "kafka"])
        x.add_argument("--url", required=True)
        x.add_argument("--prefix", required=True)
    p.add_argument("--first", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--log", required=True)
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated poison kinds")
    d.add_argument("--poison-log", required=True)
    d.add_argument("--corrs", default="")
    a = ap.parse_args()
    return cmd_poison(a) if a.cmd == "poison" else cmd_dlq(a)


if __name__ == "__main__":
    sys.exit(main())
