#!/usr/bin/env bash
# Shared helpers for the test harness scripts (sourced, not run).

die() {
        echo "${0##*/}: $*" >&2
        exit 1
}

# free_ports N: prints N distinct loopback ports that were free a moment ago.
# The kernel picks them (bound together, so they differ) when python3 is
# around, else random high ports nothing answers on. Either way one can be
# taken before the server binds it: callers retry start on a bind error.
free_ports() {
        local n=${1:-1} p ports=() i
        if command -v python3 >/dev/null 2>&1 && python3 - "$n" <<'EOF' 2>/dev/null; then return 0; fi
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
        for ((i = 0; i < 200 && ${#ports[@]} < n; i++)); do
                p=$((20000 + RANDOM % 40000))
                [[ " ${ports[*]-} " == *" $p "* ]] && continue
                # A successful connect means something listens there.
                (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || ports+=("$p")
        done
        ((${#ports[@]} == n)) || return 1
        echo "${ports[@]}"
}

# free_port: one free loopback port (see free_ports).
free_port() {
        free_ports 1
}

# wait_pid_gone PID SECONDS: waits for a process to exit; returns 1 on timeout.
wait_pid_gone() {
        local pid=$1 t=$(($2 * 10))
        while kill -0 "$pid" 2>/dev/null && [ "$t" -gt 0 ]; do
                sleep 0.1
                t=$((t - 1))
        done
        ! kill -0 "$pid" 2>/dev/null
}

# start_fixtures BUILD_DIR LOG_DIR SEED: statline-fixtures from BUILD_DIR on a
# free loopback port (--port 0), its stdout and stderr in LOG_DIR/fixtures.out
# and .log; waits up to 10 s for its "listening HOST:PORT" line. Sets
# FIXTURES_PID (add it to what you stop) and FIXTURES_ADDR (HOST:PORT, empty
# when it did not come up). Call it directly, not in $(...): the variables
# would stay in the subshell.
start_fixtures() {
        "$1/tools/fixtures/statline-fixtures" --port 0 --seed "$3" >"$2/fixtures.out" \
                2>"$2/fixtures.log" &
        FIXTURES_PID=$!
        for _ in $(seq 100); do
                grep -q '^listening ' "$2/fixtures.out" 2>/dev/null && break
                sleep 0.1
        done
        FIXTURES_ADDR=$(sed -n 's/^listening //p' "$2/fixtures.out")
}
