#!/usr/bin/env bash
# Offline checks of the deployment files (seconds; no containers, no cluster):
#   1. docker-compose.yml: `docker-compose config -q` for every supported
#      COMPOSE_PROFILES value, and the bus each one gives the services
#   2. Prometheus: `promtool check config` + `check rules` + `test rules`
#      (deploy/prometheus/alerts_test.yml fires and silences every alert)
#   3. Grafana: the dashboard is JSON, every panel has a query, and every
#      metric it queries is one the code registers (grep of the sources)
#   4. Kubernetes: `kubectl kustomize` of the base and each overlay, every
#      document validated against its schema (deploy/k8s/validate.mjs with npm
#      kubernetes-models, @kubernetes-models/keda, .../prometheus-operator,
#      installed once into $STATLINE_CONTAINERS_CACHE/k8s-validate)
# TAP output. A missing tool is a failure with the install hint, not a skip.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$CT_ROOT"
n=0
fail=0
ok() {
        n=$((n + 1))
        echo "ok $n - $*"
}
not_ok() {
        n=$((n + 1))
        fail=$((fail + 1))
        echo "not ok $n - $*"
}
need() {
        command -v "$1" >/dev/null || { not_ok "$1 missing ($2)"; return 1; }
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# 1. compose
if need docker-compose "scripts/deps.sh --containers"; then
        # COMPOSE_PROFILES selects the bus env file (deploy/compose/README.md).
        # (docker-compose 1.29 config lists every service whatever the profiles: 7 statline
        # services, monitor included.)
        for spec in ":redis-streams:7" "kafka:kafka:7" "observability:redis-streams:7" \
                "kafka,observability:kafka:7" "observability,kafka:kafka:7"; do
                IFS=: read -r prof bus want <<<"$spec"
                if ! COMPOSE_PROFILES=$prof docker-compose -f docker-compose.yml config -q 2>"$out/err"; then
                        not_ok "docker-compose config (COMPOSE_PROFILES='$prof'): $(cat "$out/err")"
                        continue
                fi
                got=$(COMPOSE_PROFILES=$prof docker-compose -f docker-compose.yml config |
                        grep -c "STATLINE_BUS_BACKEND: $bus\$" || true)
                [ "$got" -eq "$want" ] && ok "docker-compose config -q, COMPOSE_PROFILES='$prof': $got services on $bus" ||
                        not_ok "COMPOSE_PROFILES='$prof': $got services on $bus, want $want"
        done
        COMPOSE_PROFILES=nosuch docker-compose -f docker-compose.yml config -q >/dev/null 2>&1 &&
                not_ok "an unknown COMPOSE_PROFILES value was accepted" || ok "an unknown COMPOSE_PROFILES value is an error"
fi

# 2. Prometheus
if need promtool "Debian package prometheus: scripts/deps.sh --containers"; then
        (cd deploy/prometheus && promtool check config prometheus.yml >"$out/p" 2>&1) &&
                ok "promtool check config prometheus.yml" || not_ok "promtool check config: $(cat "$out/p")"
        promtool check rules deploy/prometheus/alerts.yml >"$out/p" 2>&1 &&
                ok "promtool check rules alerts.yml ($(grep -o '[0-9]* rules' "$out/p"))" || not_ok "promtool check rules: $(cat "$out/p")"
        (cd deploy/prometheus && promtool test rules alerts_test.yml >"$out/p" 2>&1) &&
                ok "promtool test rules alerts_test.yml" || not_ok "promtool test rules: $(cat "$out/p")"
fi

# 3. Grafana dashboard: metric names must exist in the code.
dash=deploy/grafana/statline-pipeline.json
if metrics=$(python3 - "$dash" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
names = set()
for p in d["panels"]:
    if p["type"] == "row":
        continue
    if not p.get("targets"):
        sys.exit("panel without query: " + p["title"])
    for t in p["targets"]:
        for m in re.findall(r"\b(sl_[a-z_]+|statline_[a-z_]+|up)\b", t["expr"]):
            names.add(re.sub(r"_(bucket|sum|count)$", "", m))
print(" ".join(sorted(names - {"up"})))
PY
); then
        ok "$dash parses, every panel has a query"
        missing=
        for m in $metrics; do
                grep -rqs --include='*.c' "\"$m\"" libcommon services tools || missing="$missing $m"
        done
        [ -z "$missing" ] && ok "dashboard metrics all registered in the code ($(wc -w <<<"$metrics"))" ||
                not_ok "dashboard queries metrics no code registers:$missing"
else
        not_ok "$dash: $metrics"
fi

# 4. Kubernetes
nm=$CT_CACHE/k8s-validate/node_modules
if need kubectl "kubectl >= 1.21 (kustomize v4+)" && need node "Debian nodejs + npm"; then
        if [ ! -d "$nm/@kubernetes-models/keda" ]; then
                mkdir -p "$CT_CACHE/k8s-validate"
                npm install --no-audit --no-fund --prefix "$CT_CACHE/k8s-validate" kubernetes-models@5.1.0 \
                        @kubernetes-models/keda@2.0.0 @kubernetes-models/prometheus-operator@6.0.0 js-yaml@4 \
                        >"$out/npm" 2>&1 || not_ok "npm install of the schema packages: $(tail -3 "$out/npm")"
        fi
        for k in base overlays/dev overlays/prod; do
                if ! kubectl kustomize "deploy/k8s/$k" >"$out/k.yaml" 2>"$out/err"; then
                        not_ok "kubectl kustomize deploy/k8s/$k: $(cat "$out/err")"
                        continue
                fi
                if NODE_PATH=$nm node deploy/k8s/validate.mjs <"$out/k.yaml" >"$out/v" 2>&1; then
                        ok "deploy/k8s/$k: $(tail -1 "$out/v")"
                else
                        not_ok "deploy/k8s/$k: $(grep -v '^ok ' "$out/v")"
                fi
                kinds=$(grep -c '^kind: \(Deployment\|PodDisruptionBudget\|ScaledObject\|CronJob\)$' "$out/k.yaml" || true)
                case $k in
                base) want=14 ;; # 5 Deployments, 5 PDBs, 4 CronJobs
                *) want=19 ;;    # + 5 ScaledObjects
                esac
                [ "$kinds" -eq "$want" ] && ok "deploy/k8s/$k: $kinds Deployments/PDBs/CronJobs/ScaledObjects" ||
                        not_ok "deploy/k8s/$k: $kinds Deployments/PDBs/CronJobs/ScaledObjects, want $want"
        done
        # Each overlay must rewrite every image (a base name left over would not pull).
        for spec in "dev:localhost/statline-[a-z]*:dev" "prod:registry.example.com/statline/statline-[a-z]*:0.1.0"; do
                o=${spec%%:*}
                pat=${spec#*:}
                imgs=$(kubectl kustomize "deploy/k8s/overlays/$o" | sed -n 's/^ *image: //p' | sort -u)
                bad=$(grep -vx "$pat" <<<"$imgs" || true)
                [ -z "$bad" ] && ok "overlays/$o: all $(wc -l <<<"$imgs") images are $pat" ||
                        not_ok "overlays/$o: images not rewritten: $(tr '\n' ' ' <<<"$bad")"
        done
        # The validator must reject a broken manifest (a test that can fail).
        kubectl kustomize deploy/k8s/overlays/prod | sed 's/containerPort: 8080/containerPort: "http"/' |
                NODE_PATH=$nm node deploy/k8s/validate.mjs >/dev/null 2>&1 &&
                not_ok "validator accepted containerPort: \"http\"" || ok "validator rejects a string containerPort"
fi

echo "1..$n"
[ "$fail" -eq 0 ]
