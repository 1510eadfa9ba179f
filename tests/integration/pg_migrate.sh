#!/usr/bin/env bash
# pg_migrate.sh: sl/pg.h against real PostgreSQL (driver: sl_pgtest).
#   - a fresh database per run (dropped at exit) on the shared cluster
#     (STATLINE_TEST_PG_DSN): six migrators started at once all succeed and
#     apply every migration exactly once; the recorded checksums equal
#     sha256sum of the files; all schemas and tables exist, each with a
#     primary key and the replay guard; the change log (0020) logs inserts,
#     real updates (both dates), deletes and TRUNCATE, not replays or
#     rolled-back statements; a second run is a no-op; a tampered
#     checksum, a renamed or deleted applied file, and a broken new file are
#     refused with a clear message and change nothing;
#   - COPY round-trips tabs, newlines, CRs, backslashes and NULLs exactly, and
#     is all-or-nothing; SQLSTATEs map to our errnos (23505 -> -EEXIST, ...);
#   - 100k box score rows by COPY (rows/s), replayed: nothing double-counted,
#     no row changed;
#   - on a PRIVATE cluster (the shared one must stay up): a stopped server
#     gives a retriable error, the connection comes back after a restart, and
#     a transaction lost with the connection can never report a commit.
. "$(dirname "$0")/lib.sh"

[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
command -v psql >/dev/null || it_skip_all "psql not installed"
it_init pg_migrate
PGTEST=${STATLINE_PGTEST:-${STATLINE_BUILD:-$IT_SRC/build}/tests/integration/sl_pgtest}
[[ -x $PGTEST ]] || it_bail "driver not found: $PGTEST (set STATLINE_PGTEST)"
MIGS=$IT_SRC/db/migrations
ADMIN_DSN=$STATLINE_TEST_PG_DSN
DB="sl_it_migrate_$$_$RANDOM"
PRIV_DIR=

# dsn_for DSN DB: the same server, database DB (URI or key=value form).
dsn_for() {
        local base=$1 db=$2 scheme rest host query=
        if [[ $base =~ ^postgres(ql)?:// ]]; then
                scheme=${base%%://*}
                rest=${base#*://}
                [[ $rest == *\?* ]] && query="?${rest#*\?}"
                host=${rest%%\?*}
                host=${host%%/*}
                echo "$scheme://$host/$db$query"
        else
                echo "$base dbname=$db"
        fi
}
DSN=$(dsn_for "$ADMIN_DSN" "$DB")

pg_cleanup() {
        [[ -n $PRIV_DIR ]] && "$IT_HARNESS/pg.sh" stop "$PRIV_DIR" >/dev/null 2>&1
        psql "$ADMIN_DSN" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
}
IT_ON_EXIT=pg_cleanup

# sql STATEMENTS: runs them on the test database, tuples only, stops on error.
sql() {
        PGOPTIONS="-c client_min_messages=warning" PGCONNECT_TIMEOUT=10 \
                psql "$DSN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}

# pgtest LOG ARGS...: runs the driver (bounded), output in $IT_DIR/LOG.{out,err};
# diags its lines; returns its exit status.
pgtest() {
        local log=$IT_DIR/$1 rc
        shift
        timeout -k 5 150 "$PGTEST" "$@" >"$log.out" 2>"$log.err"
        rc=$?
        [[ -s $log.out ]] && it_diag "$(cat "$log.out")"
        return $rc
}

field() { it_field "$1" "$2"; }

it_must "creates a fresh database $DB" psql "$ADMIN_DSN" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"

files=("$MIGS"/[0-9][0-9][0-9][0-9]_*.sql)
nfiles=${#files[@]}
it_diag "$nfiles migration files in $MIGS"

# --- six migrators at once ---------------------------------------------------
t0=$(date +%s%3N)
pids=()
for i in 1 2 3 4 5 6; do
        "$PGTEST" migrate "$DSN" "$MIGS" >"$IT_DIR/mig$i.out" 2>"$IT_DIR/mig$i.err" &
        pids+=($!)
        IT_PIDS+=($!)
done
ok=0
total=0
for i in 1 2 3 4 5 6; do
        wait "${pids[$((i - 1))]}" && ok=$((ok + 1))
        total=$((total + $(field "mig$i" applied || echo 0)))
        it_diag "migrator $i: $(cat "$IT_DIR/mig$i.out")"
done
it_diag "six concurrent migrators: $(($(date +%s%3N) - t0)) ms wall"
it_is "six concurrent migrators all exit 0" "$ok" 6
it_is "every migration applied exactly once in total" "$total" "$nfiles"
it_is "one schema_migrations row per file, no duplicates" \
        "$(sql 'SELECT count(*) || '"'/'"' || count(DISTINCT version) FROM ops.schema_migrations')" \
        "$nfiles/$nfiles"

want=
for f in "${files[@]}"; do
        b=$(basename "$f" .sql)
        want+="$((10#${b:0:4}))|${b:5}|$(sha256sum "$f" | cut -d' ' -f1)"$'\n'
done
it_is "versions, names and checksums match sha256sum of the files" \
        "$(sql "SELECT version || '|' || name || '|' || checksum FROM ops.schema_migrations ORDER BY version")" \
        "${want%$'\n'}"

it_is "all six schemas exist" \
        "$(sql "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace
                WHERE nspname IN ('raw','analytics','precompute','prediction','publishing','ops')")" \
        "analytics,ops,precompute,prediction,publishing,raw"

tables="raw.games raw.player_boxscores raw.team_boxscores raw.schedule raw.injuries raw.prop_lines
raw.league_game_log raw.play_by_play analytics.player_game_summary analytics.team_offense_game_summary
analytics.team_defense_game_summary analytics.upcoming_player_game_context
analytics.upcoming_team_game_context precompute.player_daily_cache precompute.player_composite_factors
precompute.player_shot_zone_analysis precompute.team_defense_zone_analysis precompute.ml_feature_versions
precompute.ml_feature_store prediction.models prediction.player_prop_predictions prediction.system_errors
publishing.documents ops.pipeline_execution_log ops.scraper_execution_log ops.idempotency_keys ops.outbox
ops.schema_migrations"
missing=
for t in $tables; do
        [[ $(sql "SELECT to_regclass('$t') IS NOT NULL") == t ]] || missing+=" $t"
done
it_is "all $(wc -w <<<"$tables") tables exist" "${missing:-none}" none

schemas="'raw','analytics','precompute','prediction','publishing','ops'"
it_is "every table has a primary key" "$(sql "
        SELECT coalesce(string_agg(c.oid::regclass::text, ' '), 'none') FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname IN ($schemas)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')")" none
it_is "every table but schema_migrations has the replay guard" "$(sql "
        SELECT coalesce(string_agg(c.oid::regclass::text, ' '), 'none') FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname IN ($schemas) AND c.oid <> 'ops.schema_migrations'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'replay_guard')")" none

# The replay guard: an identical upsert changes nothing, a real change stamps updated_at.
upsert="INSERT INTO raw.injuries (report_date, player_id, team_id, player_name, status, reason, source, payload_sha256)
        VALUES ('2025-11-05', 2544, 1610612747, 'LeBron James', '%s', 'sciatica', 'it', repeat('a', 64))
        ON CONFLICT (report_date, player_id) DO UPDATE SET status = excluded.status,
                reason = excluded.reason, updated_at = now()"
# shellcheck disable=SC2059
sql "$(printf "$upsert" Out)" >/dev/null
v1=$(sql "SELECT xmin || '/' || updated_at FROM raw.injuries")
# shellcheck disable=SC2059
sql "$(printf "$upsert" Out)" >/dev/null
it_is "replaying an identical upsert changes no row (same xmin, same updated_at)" \
        "$(sql "SELECT xmin || '/' || updated_at FROM raw.injuries")" "$v1"
# shellcheck disable=SC2059
sql "$(printf "$upsert" Questionable)" >/dev/null
it_like "a real change goes through" "$(sql "SELECT status || ' ' || (xmin || '/' || updated_at <> '$v1')
        FROM raw.injuries")" '^Questionable true$'
sql "DELETE FROM raw.injuries" >/dev/null

# The change log (0020): one row per committed statement and date that changed a history table.
changes() { sql "SELECT coalesce(string_agg(coalesce(game_date::text, 'ALL'), ',' ORDER BY seq), '')
                 FROM ops.data_changes WHERE tbl = 'raw.games'"; }
game="INSERT INTO raw.games (game_id, game_date, season, home_team_id, away_team_id, status, source, payload_sha256)
      VALUES ('%s', '%s', '2024-25', 1, 2, '%s', 'it', repeat('a', 64))
      ON CONFLICT (game_id) DO UPDATE SET game_date = excluded.game_date, status = excluded.status"
# shellcheck disable=SC2059
sql "$(printf "$game" 0022400001 2025-01-02 scheduled); $(printf "$game" 0022400002 2025-01-02 scheduled)" >/dev/null
it_is "change log: two inserts of one date in one statement each: two rows of that date" "$(changes)" "2025-01-02,2025-01-02"
# shellcheck disable=SC2059
sql "$(printf "$game" 0022400001 2025-01-02 scheduled)" >/dev/null
it_is "change log: a replayed identical upsert logs nothing (the replay guard skipped it)" "$(changes)" "2025-01-02,2025-01-02"
# shellcheck disable=SC2059
sql "$(printf "$game" 0022400001 2025-01-03 postponed)" >/dev/null
it_is "change log: an update moving a row to another date logs both dates" "$(changes)" "2025-01-02,2025-01-02,2025-01-02,2025-01-03"
sql "BEGIN; DELETE FROM raw.games WHERE game_id = '0022400002'; ROLLBACK" >/dev/null
it_is "change log: a rolled-back delete leaves no row" "$(changes)" "2025-01-02,2025-01-02,2025-01-02,2025-01-03"
sql "DELETE FROM raw.games WHERE game_id = '0022400002'; UPDATE raw.games SET status = 'final' WHERE false" >/dev/null
it_is "change log: a delete logs its date, an update of no row nothing" "$(changes)" "2025-01-02,2025-01-02,2025-01-02,2025-01-03,2025-01-02"
sql "TRUNCATE raw.games CASCADE" >/dev/null
it_like "change log: TRUNCATE logs every date (NULL)" "$(changes)" ",ALL$"
it_is "change log: the prediction's and precompute's history tables all log" "$(sql "
        SELECT string_agg(c.oid::regclass::text, ' ' ORDER BY c.oid::regclass::text) FROM pg_class c
        WHERE (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname LIKE 'log_changes_%') = 4")" \
        "analytics.player_game_summary analytics.team_defense_game_summary analytics.team_offense_game_summary precompute.ml_feature_store prediction.kelly_portfolio prediction.moneyline_bets prediction.player_prop_predictions prediction.prop_bets prediction.system_errors raw.games raw.moneyline_odds"
sql "DELETE FROM ops.data_changes" >/dev/null

# --- again: a no-op ----------------------------------------------------------
it_check "migrating again succeeds" pgtest again migrate "$DSN" "$MIGS"
it_is "migrating again applies nothing" "$(field again applied)" 0

# --- refusals ----------------------------------------------------------------
good_sum=$(sql "SELECT checksum FROM ops.schema_migrations WHERE version = 2")
sql "UPDATE ops.schema_migrations SET checksum = repeat('0', 64) WHERE version = 2" >/dev/null
if pgtest tampered migrate "$DSN" "$MIGS"; then
        it_not_ok "a tampered checksum is refused"
else
        it_ok "a tampered checksum is refused"
fi
it_like "the refusal names the file and says what to do" "$(cat "$IT_DIR/tampered.out")" \
        "0002_[a-z_]+\.sql was changed after it was applied .*new migration"
it_is "the refusal is not retriable" "$(field tampered retriable)" 0
sql "UPDATE ops.schema_migrations SET checksum = '$good_sum' WHERE version = 2" >/dev/null
it_check "with the checksum restored it migrates again" pgtest restored migrate "$DSN" "$MIGS"

alt=$IT_DIR/migs
mkdir -p "$alt"
cp "${files[@]}" "$alt/"
third=$(basename "${files[2]}")
mv "$alt/$third" "$alt/${third:0:4}_renamed.sql"
pgtest renamed migrate "$DSN" "$alt"
it_like "a renamed applied migration is refused" "$(cat "$IT_DIR/renamed.out")" \
        "migration ${third:0:4} was applied as $third but the file is now ${third:0:4}_renamed.sql"
rm "$alt/${third:0:4}_renamed.sql"
pgtest deleted migrate "$DSN" "$alt"
it_like "a deleted applied migration is refused" "$(cat "$IT_DIR/deleted.out")" \
        "${third%.sql}\.sql was applied but is missing"
cp "${files[2]}" "$alt/"

next=$(printf '%04d' $((nfiles + 1)))
printf 'CREATE TABLE ops.itest_partial (x int);\n\nSELEC oops;\n' >"$alt/${next}_bad.sql"
pgtest bad migrate "$DSN" "$alt"
it_like "a broken migration fails with file, line and the server's message" \
        "$(cat "$IT_DIR/bad.out")" "${next}_bad\.sql line 3: syntax error at or near \"SELEC\""
it_is "a broken migration leaves nothing behind (its transaction rolled back)" \
        "$(sql "SELECT (to_regclass('ops.itest_partial') IS NULL) || ' ' || count(*) FROM ops.schema_migrations WHERE version = $((10#$next))")" \
        "true 0"

# --- COPY, errors, bench ---------------------------------------------------
it_check "COPY round-trips tabs, newlines, CRs, backslashes and NULLs; all-or-nothing" \
        pgtest copy copy "$DSN"
it_check "SQLSTATE mapping: 23505 -> -EEXIST, data -> -EBADMSG, syntax -> -EINVAL, lock/statement timeouts retriable" \
        pgtest errors errors "$DSN"
it_like "unique violation reported as -EEXIST" "$(grep '^# unique violation' "$IT_DIR/errors.out")" \
        "rc=-17 .*duplicate key"
rows=${STATLINE_IT_PG_BENCH_ROWS:-100000}
it_check "COPY $rows box score rows, replay refused as a whole, upsert replay changes no row" \
        pgtest bench bench-copy "$DSN" "$rows"
it_diag "COPY: $(field bench rows_per_s) rows/s ($rows rows in $(field bench copy_ms) ms); upsert replay of all rows: $(field bench upsert_replay_ms) ms, $(field bench upsert_changed) rows changed"

# --- reconnection, on a private cluster --------------------------------------
PRIV_DIR=$IT_DIR/pgpriv
mkdir -p "$PRIV_DIR"
priv_dsn=$("$IT_HARNESS/pg.sh" start "$PRIV_DIR" 2>"$IT_DIR/pgpriv.err" | tail -n 1)
[[ -n $priv_dsn ]] || { cat "$IT_DIR/pgpriv.err" >&2; it_bail "private PostgreSQL did not start"; }
it_ok "private cluster started"

# wait_state NAME: waits (30 s) for the driver to create $state/NAME.
wait_state() { it_wait_for 30 test -e "$state/$1"; }

state=$IT_DIR/state1
mkdir -p "$state"
"$PGTEST" reconnect "$priv_dsn" "$state" >"$IT_DIR/reconnect.out" 2>"$IT_DIR/reconnect.err" &
drv=$!
IT_PIDS+=("$drv")
it_must "driver connected and opened a transaction" wait_state ready
"$IT_HARNESS/pg.sh" stop "$PRIV_DIR" >/dev/null 2>&1
touch "$state/stopped"
it_check "calls fail retriably while the server is down" wait_state failed
t_start=$(date +%s%3N)
"$IT_HARNESS/pg.sh" start "$PRIV_DIR" >/dev/null 2>"$IT_DIR/pgpriv.err" || it_bail "private PostgreSQL did not restart"
it_diag "server restart took $(($(date +%s%3N) - t_start)) ms"
touch "$state/started"
if wait "$drv"; then rc=0; else rc=$?; fi
it_diag "$(cat "$IT_DIR/reconnect.out")"
it_is "reconnects after the server is back; the uncommitted row is gone" "$rc" 0
it_is "the failing call returned -ECONNRESET" "$(field reconnect down_rc)" -104

state=$IT_DIR/state2
mkdir -p "$state"
"$PGTEST" lost-tx "$priv_dsn" "$state" >"$IT_DIR/lost.out" 2>"$IT_DIR/lost.err" &
drv=$!
IT_PIDS+=("$drv")
it_must "driver opened a transaction" wait_state ready
"$IT_HARNESS/pg.sh" restart "$PRIV_DIR" >/dev/null 2>&1 || it_bail "private PostgreSQL did not restart"
touch "$state/restarted"
if wait "$drv"; then rc=0; else rc=$?; fi
it_diag "$(cat "$IT_DIR/lost.out")"
it_is "a transaction lost in a restart never reports a commit (and rollback clears it)" "$rc" 0

it_done
