#!/usr/bin/env bash
# pg_smoke.sh: the harness PostgreSQL cluster (STATLINE_TEST_PG_DSN) is real
# and usable: connect, create a schema and a table with a unique constraint,
# and prove INSERT ... ON CONFLICT DO NOTHING deduplicates (the idempotency
# pattern the services will use). Drops its schema again.
. "$(dirname "$0")/lib.sh"

IT_NAME=pg_smoke
[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
schema="itest_$$_$RANDOM"
trap 'psql "$STATLINE_TEST_PG_DSN" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1' EXIT

# sql STATEMENTS: runs them, prints tuples only (unaligned), stops on error.
sql() {
        PGOPTIONS="-c client_min_messages=warning" PGCONNECT_TIMEOUT=10 psql "$STATLINE_TEST_PG_DSN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

it_is "connects and answers" "$(sql 'SELECT 1')" 1
it_like "is PostgreSQL 15 or newer" "$(sql 'SHOW server_version_num')" '^(1[5-9]|[2-9][0-9])[0-9]{4}$'
it_check "creates a schema and a table with a unique constraint" sql "
        CREATE SCHEMA $schema;
        CREATE TABLE $schema.processed (
                idempotency_key text NOT NULL,
                result int NOT NULL,
                CONSTRAINT processed_key_uniq UNIQUE (idempotency_key));"
insert() {
        sql "WITH ins AS (INSERT INTO $schema.processed VALUES ('$1', $2)
                          ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1)
             SELECT count(*) FROM ins"
}
it_is "first insert of a key adds a row" "$(insert game:1 1)" 1
it_is "same key again: ON CONFLICT DO NOTHING adds nothing" "$(insert game:1 2)" 0
it_is "another key adds a row" "$(insert game:2 3)" 1
it_is "two rows, the first value kept" \
        "$(sql "SELECT string_agg(idempotency_key || '=' || result, ',' ORDER BY 1) FROM $schema.processed")" \
        "game:1=1,game:2=3"
if sql "INSERT INTO $schema.processed VALUES ('game:1', 9)" >/dev/null 2>&1; then
        it_not_ok "a plain duplicate insert violates the unique constraint"
else
        it_ok "a plain duplicate insert violates the unique constraint"
fi
it_check "drops the schema" sql "DROP SCHEMA $schema CASCADE"
echo "1..$IT_N"
[[ $IT_FAILED -eq 0 ]]
