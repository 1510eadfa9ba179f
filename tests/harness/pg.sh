#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for tests and the demo, on a free loopback port.
#   pg.sh start DIR    initdb + pg_ctl start in DIR; prints the DSN and writes it to DIR/dsn
#   pg.sh stop DIR     fast shutdown (then immediate), never touches any other cluster
#   pg.sh restart DIR  same port, same data
# Runs the server as the 'postgres' system user when invoked as root (initdb refuses root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

pgbin=${STATLINE_PG_BIN:-}
if [ -z "$pgbin" ]; then
        for v in 15 16 17; do
                if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then
                        pgbin=/usr/lib/postgresql/$v/bin
                        break
                fi
        done
fi
[ -n "$pgbin" ] || die "PostgreSQL server binaries not found (apt-get install postgresql; or set STATLINE_PG_BIN)"

# as_pg CMD...: runs CMD as the cluster owner.
as_pg() {
        if [ "$(id -u)" = 0 ]; then
                runuser -u postgres -- "$@"
        else
                "$@"
        fi
}

pg_start() {
        local dir=$1 port
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd)
        if [ ! -f "$dir/data/PG_VERSION" ]; then
                if [ "$(id -u)" = 0 ]; then
                        chown postgres: "$dir"
                        runuser -u postgres -- test -w "$dir" ||
                                die "user postgres cannot reach $dir: make its parent directories traversable (chmod o+x)"
                fi
                as_pg "$pgbin/initdb" -D "$dir/data" -U statline --auth=trust -E UTF8 --no-locale \
                        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
        fi
        if [ -f "$dir/port" ]; then
                port=$(cat "$dir/port")
        else
                port=$(free_port)
                echo "$port" >"$dir/port"
        fi
        as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
                -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
                >/dev/null || { tail -20 "$dir/postgres.log" >&2; die "postgres did not start"; }
        local dsn="postgresql://statline@127.0.0.1:$port/postgres"
        echo "$dsn" >"$dir/dsn"
        echo "$dsn"
}

pg_stop() {
        local dir=$1
        [ -f "$dir/data/postmaster.pid" ] || return 0
        as_pg "$pgbin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
                as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
}

case "${1:-}" in
start) pg_start "${2:?usage: pg.sh start DIR}" ;;
stop) pg_stop "${2:?usage: pg.sh stop DIR}" ;;
restart)
        pg_stop "${2:?usage: pg.sh restart DIR}"
        pg_start "$2"
        ;;
*) die "usage: pg.sh start|stop|restart DIR" ;;
esac
