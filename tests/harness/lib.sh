#!/usr/bin/env bash
# Shared helpers for the test harness scripts (sourced, not run).

die() {
        echo "${0##*/}: $*" >&2
        exit 1
}

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
# Picks at random from the ephemeral range and checks by connecting, so two
# harnesses started at once rarely collide; callers still retry on bind errors.
free_port() {
        local port i
        for i in $(seq 1 200); do
                port=$((20000 + RANDOM % 30000))
                if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                        echo "$port"
                        return 0
                fi
        done
        die "no free port found"
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
