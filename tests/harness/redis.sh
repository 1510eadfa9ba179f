#!/usr/bin/env bash
# A throwaway redis-server on a free loopback port, for integration and chaos
# tests (hiredis test.sh style). Never touches the default port 6379.
#
#   redis.sh start DIR [--aof]  start a server whose files live in DIR (caller
#                               made DIR, e.g. mktemp -d); prints "127.0.0.1:<port>"
#                               on stdout and writes it to DIR/addr. --aof turns on
#                               appendonly with appendfsync always, so data survives
#                               a restart (even a kill -9). Without it the server
#                               keeps nothing (--save '').
#   redis.sh stop DIR           TERM the server, wait up to 10 s, then KILL (that pid
#                               only). DIR is left for the caller to delete.
#   redis.sh restart DIR        stop, then start again on the same port, with the
#                               same options and the same data dir.
#   redis.sh pause DIR          kill -STOP the server (it keeps its sockets open but
#                               answers nothing: a hung broker).
#   redis.sh resume DIR         kill -CONT it.
#
# Files in DIR: redis.pid, redis.log, addr, port, opts (the start options, for
# restart), appendonlydir/ (with --aof).
#
# Environment:
#   STATLINE_REDIS_START_TIMEOUT  readiness timeout in seconds (default 10)
#
# Exit status: 0 ok, 1 failure, 2 usage, 77 redis-server or redis-cli missing
# (so a test can skip). Diagnostics go to stderr; stdout carries only the address.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # free_ports; die/log are redefined below

START_TIMEOUT=${STATLINE_REDIS_START_TIMEOUT:-10}
PORT_TRIES=20

log() { printf 'redis.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
usage() { log "usage: redis.sh start DIR [--aof] | stop|restart|pause|resume DIR"; exit 2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "missing binary: $1"; exit 77; }; }
now_ms() { date +%s%3N; }

# --- ports ------------------------------------------------------------------

# --- process helpers --------------------------------------------------------

# The pid in DIR/redis.pid, only if that process is still our redis-server
# (not a zombie, not a recycled pid). Prints nothing otherwise.
live_pid() {
        local dir=$1 pid state
        [[ -f $dir/redis.pid ]] || return 0
        pid=$(<"$dir/redis.pid")
        [[ $pid =~ ^[0-9]+$ ]] || return 0
        [[ -r /proc/$pid/cmdline ]] || return 0
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'redis-server' || return 0
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        [[ $state == Z ]] && return 0
        echo "$pid"
}

# The server options for DIR and PORT, one per line (read back by mapfile).
server_args() {
        local dir=$1 port=$2 aof=$3
        printf '%s\n' --bind 127.0.0.1 --port "$port" --save '' --dir "$dir" \
                --daemonize no --protected-mode no --appendonly "$aof"
        [[ $aof == yes ]] && printf '%s\n' --appendfsync always
        return 0
}

# Launches redis-server detached from the caller's stdio (a caller running
# "addr=$(redis.sh start DIR)" must not wait for the server to exit). $! is
# the forked shell until it execs redis-server; wait for the exec, so that
# every later check of the pid file sees redis-server (or nothing).
launch() {
        local dir=$1 port=$2 aof=$3 args pid i
        mapfile -t args < <(server_args "$dir" "$port" "$aof")
        redis-server "${args[@]}" </dev/null >>"$dir/redis.log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/redis.pid"
        for ((i = 0; i < 200; i++)); do
                [[ -e /proc/$pid ]] || return 0
                tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'redis-server' && return 0
                sleep 0.01
        done
}

# Waits until our server answers PING on PORT. Returns 0 when ready, 1 when
# it died (e.g. the port was taken), 2 on timeout.
wait_ready() {
        local dir=$1 port=$2 deadline info pid
        deadline=$(($(now_ms) + START_TIMEOUT * 1000))
        pid=$(<"$dir/redis.pid")
        while (($(now_ms) < deadline)); do
                [[ -n $(live_pid "$dir") ]] || return 1
                if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
                        # Whoever answers must be our process, not a stranger on the port.
                        info=$(redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r')
                        grep -qx "process_id:$pid" <<<"$info" && return 0
                fi
                sleep 0.05
        done
        return 2
}

# Kills the pid in DIR/redis.pid (if it is our redis) and waits for it.
kill_server() {
        local dir=$1 pid i
        pid=$(live_pid "$dir")
        [[ -n $pid ]] || return 0
        kill -CONT "$pid" 2>/dev/null || true # a paused server cannot handle TERM
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do
                [[ -n $(live_pid "$dir") ]] || return 0
                sleep 0.05
        done
        log "redis-server $pid ignored TERM for 10 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
                [[ -n $(live_pid "$dir") ]] || return 0
                sleep 0.05
        done
        die "redis-server $pid did not die"
}

# --- commands ---------------------------------------------------------------

# Starts on PORT if given (restart), else on a fresh free port, retrying
# when another process grabbed the port between pick and bind.
start_server() {
        local dir=$1 aof=$2 port=${3:-} tries rc log_off
        for ((tries = 0; tries < PORT_TRIES; tries++)); do
                if [[ -z ${3:-} ]]; then
                        port=$(free_port) || die "no free loopback port found"
                fi
                # Only this attempt's part of the log tells why it failed.
                log_off=$(stat -c %s "$dir/redis.log" 2>/dev/null || echo 0)
                launch "$dir" "$port" "$aof"
                rc=0
                wait_ready "$dir" "$port" || rc=$?
                if ((rc == 0)); then
                        echo "$port" >"$dir/port"
                        echo "aof=$aof" >"$dir/opts"
                        echo "127.0.0.1:$port" >"$dir/addr"
                        echo "127.0.0.1:$port"
                        return 0
                fi
                kill_server "$dir"
                if ((rc == 2)); then
                        tail -n 20 "$dir/redis.log" >&2 || true
                        die "redis-server on port $port not ready after ${START_TIMEOUT}s"
                fi
                if [[ -n ${3:-} ]] ||
                        ! tail -c +$((log_off + 1)) "$dir/redis.log" | grep -q 'Address already in use'; then
                        tail -n 20 "$dir/redis.log" >&2 || true
                        die "redis-server failed to start on port $port"
                fi
                log "port $port taken; trying another"
        done
        die "no free port after $PORT_TRIES tries"
}

cmd_start() {
        local dir=$1 aof=no
        shift
        case ${1:-} in
        --aof) aof=yes ;;
        "") ;;
        *) usage ;;
        esac
        [[ -d $dir ]] || die "no such directory: $dir"
        dir=$(cd "$dir" && pwd)
        [[ -z $(live_pid "$dir") ]] || die "a redis-server already runs for $dir"
        start_server "$dir" "$aof"
}

cmd_restart() {
        local dir port aof
        dir=$(cd "$1" && pwd)
        [[ -f $dir/port && -f $dir/opts ]] || die "$dir holds no server to restart"
        port=$(<"$dir/port")
        aof=$(sed -n 's/^aof=//p' "$dir/opts")
        kill_server "$dir"
        start_server "$dir" "$aof" "$port" >/dev/null
        cat "$dir/addr"
}

cmd_signal() {
        local dir=$1 sig=$2 pid
        pid=$(live_pid "$dir")
        [[ -n $pid ]] || die "no redis-server runs for $dir"
        kill "-$sig" "$pid"
}

main() {
        (($# >= 2)) || usage
        local cmd=$1 dir=$2
        shift 2
        need redis-server
        need redis-cli
        case $cmd in
        start) cmd_start "$dir" "$@" ;;
        stop) (($# == 0)) || usage; [[ -d $dir ]] && kill_server "$dir"; return 0 ;;
        restart) (($# == 0)) || usage; cmd_restart "$dir" ;;
        pause) (($# == 0)) || usage; cmd_signal "$dir" STOP ;;
        resume) (($# == 0)) || usage; cmd_signal "$dir" CONT ;;
        *) usage ;;
        esac
}

main "$@"
