#!/bin/bash
# Entry point of the postgres:15 stand-in: initialise $PGDATA on first start
# (superuser $POSTGRES_USER with $POSTGRES_PASSWORD, database $POSTGRES_DB,
# password auth from any address), then exec postgres.
set -euo pipefail
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
        rm -f "$pwfile"
        echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
        echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
        if [ "$db" != postgres ]; then
                pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
                psql -X -q -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$db\""
                pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
        fi
fi
if [ "${1:-}" = postgres ]; then
        shift
        exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
