#!/usr/bin/env bash
# security_secrets.sh: the credentials of docs/security.md, end to end, and that
# no secret ever reaches a log or the help output.
#   - a PRIVATE redis-server with requirepass (default user) and an ACL user
#     sl_svc with its own password; a PRIVATE PostgreSQL cluster (tests/harness/
#     pg.sh) whose pg_hba.conf demands scram-sha-256 on TCP, with a login role
#     owning the test database;
#   - both are really enforced: redis-cli without AUTH gets NOAUTH, psql without
#     the password is refused;
#   - statline-analytics run 1: bus.username + bus.password_file (env
#     STATLINE_BUS_PASSWORD_FILE: a Docker secret), pg.dsn_file holding the DSN
#     with the password, and a sasl.password inside bus.kafka_props: it starts, connects (its consumer group exists on the
#     private redis, its migrations ran as the role), /readyz is 200, SIGTERM -> 0;
#   - run 2: the DSN without a password + PGPASSFILE (libpq), --set
#     bus.password_file=...: same;
#   - run 3: a wrong bus password: the service exits non-zero and says why;
#   - every line of every log of the three runs, `--help-config` and
#     `--help-config=markdown` (with the secrets configured) is grepped for the
#     three passwords and the DSN: none may appear.
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || it_skip_all "redis-server not installed"
command -v psql >/dev/null || it_skip_all "psql not installed"
command -v curl >/dev/null || it_skip_all "curl not installed"
it_init security_secrets
BUILD=${STATLINE_BUILD:-$IT_SRC/build}
AN=${STATLINE_ANALYTICSBIN:-$BUILD/services/analytics/statline-analytics}
[[ -x $AN ]] || it_bail "statline-analytics not found: $AN (set STATLINE_ANALYTICSBIN)"
IT_BACKEND=redis-streams

# Random secrets: long enough that a hit cannot be a coincidence.
rnd() { head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 24; }
REDIS_ADMIN_PW="adm$(rnd)"
BUS_PW="bus$(rnd)"
PG_PW="pgr$(rnd)"
KAFKA_PW="kfk$(rnd)" # inside bus.kafka_props (SASL passthrough): must be redacted too
SECRETS=$IT_DIR/secrets
mkdir -p "$SECRETS"
chmod 700 "$SECRETS"

# ---- private redis with requirepass + an ACL user ----------------------------------
it_start_redis redis
REDIS_URL=$IT_URL
radmin() { redis-cli -h "${REDIS_URL%:*}" -p "${REDIS_URL##*:}" --no-auth-warning -a "$REDIS_ADMIN_PW" "$@"; }
redis-cli -h "${REDIS_URL%:*}" -p "${REDIS_URL##*:}" CONFIG SET requirepass "$REDIS_ADMIN_PW" >/dev/null
acl_user() { [[ $(radmin ACL SETUSER sl_svc on ">$BUS_PW" '~*' '&*' '+@all') == OK ]]; }
it_must "redis ACL user sl_svc created" acl_user
it_like "redis without AUTH is refused" \
        "$(redis-cli -h "${REDIS_URL%:*}" -p "${REDIS_URL##*:}" PING 2>&1)" "NOAUTH"
it_is "redis as sl_svc works" \
        "$(redis-cli -h "${REDIS_URL%:*}" -p "${REDIS_URL##*:}" --no-auth-warning --user sl_svc --pass "$BUS_PW" PING)" "PONG"

# ---- private PostgreSQL demanding scram-sha-256 on TCP --------------------------------
PGDIR=$IT_DIR/pg
ADMIN_DSN=$("$IT_HARNESS/pg.sh" start "$PGDIR") || it_bail "private PostgreSQL did not start"
IT_ON_EXIT=stop_pg
stop_pg() { "$IT_HARNESS/pg.sh" stop "$PGDIR" >/dev/null 2>&1; }
PGPORT=$(cat "$PGDIR/port")
ADMIN_SOCK="host=$PGDIR port=$PGPORT user=statline dbname=postgres"
it_must "role sl_sec with a password, owning database sl_sec" \
        psql "$ADMIN_SOCK" -X -q -v ON_ERROR_STOP=1 \
        -c "SET password_encryption = 'scram-sha-256'" \
        -c "CREATE ROLE sl_sec LOGIN PASSWORD '$PG_PW'" \
        -c "CREATE DATABASE sl_sec OWNER sl_sec"
# Unix socket (the test's admin) stays trust; every TCP login needs the password.
printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$PGDIR/data/pg_hba.conf"
reload_pg() { [[ $(psql "$ADMIN_SOCK" -X -q -t -A -c "SELECT pg_reload_conf()") == t ]]; }
it_must "pg_hba reloaded" reload_pg
sleep 0.5
it_check "psql without the password is refused" \
        bash -c "! PGPASSWORD= PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=5 psql 'postgresql://sl_sec@127.0.0.1:$PGPORT/sl_sec' -X -w -c 'select 1' >/dev/null 2>&1"
DSN_NOPW="postgresql://sl_sec@127.0.0.1:$PGPORT/sl_sec"
DSN_PW="postgresql://sl_sec:$PG_PW@127.0.0.1:$PGPORT/sl_sec"
it_is "psql with the password works" \
        "$(PGPASSWORD=$PG_PW psql "$DSN_NOPW" -X -w -t -A -c 'select 1')" "1"

# ---- the secret files ------------------------------------------------------------------
printf '%s\n' "$BUS_PW" >"$SECRETS/bus_password"
printf '%s\n' "$DSN_PW" >"$SECRETS/pg_dsn"
printf '127.0.0.1:%s:sl_sec:sl_sec:%s\n' "$PGPORT" "$PG_PW" >"$SECRETS/pgpass"
chmod 600 "$SECRETS"/*
PREFIX="itsec$$r$RANDOM"

# run LOG [ARGS...]: statline-analytics with the common settings (no secret in argv or
# the environment: only file paths), ARGS appended. Sets PID.
run() {
        local log=$1
        shift
        HPORT=$(free_port)
        env -u STATLINE_CONFIG \
                STATLINE_ANALYTICS_BUS_BACKEND=redis-streams \
                STATLINE_ANALYTICS_BUS_URL="$REDIS_URL" \
                STATLINE_ANALYTICS_BUS_USERNAME=sl_svc \
                STATLINE_ANALYTICS_BUS_PREFIX="$PREFIX" \
                STATLINE_ANALYTICS_PG_MIGRATIONS="$IT_SRC/db/migrations" \
                STATLINE_ANALYTICS_HEALTH_ADDR="127.0.0.1:$HPORT" \
                STATLINE_ANALYTICS_DRAIN_TIMEOUT_MS=3000 \
                STATLINE_ANALYTICS_LOG_LEVEL=debug \
                "$@" >"$IT_DIR/$log" 2>&1 &
        PID=$!
        IT_PIDS+=("$PID")
}
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/readyz") == 200 ]]; }
. "$IT_HARNESS/lib.sh" # free_port

# Run 1: Docker-secret style files through the environment.
run an1.log STATLINE_BUS_PASSWORD_FILE="$SECRETS/bus_password" \
        STATLINE_BUS_KAFKA_PROPS="security.protocol=SASL_SSL,sasl.password=$KAFKA_PW,ssl.ca.location=/x" \
        STATLINE_ANALYTICS_PG_DSN_FILE="$SECRETS/pg_dsn" "$AN"
it_check "run 1 (password files in env): /readyz 200" it_wait_for 60 ready
it_check "run 1: consumer group registered on the private redis as sl_svc" \
        it_wait_for 10 bash -c "[[ \$(redis-cli -h ${REDIS_URL%:*} -p ${REDIS_URL##*:} --no-auth-warning --user sl_svc --pass '$BUS_PW' --raw EXISTS $PREFIX.nba.raw.completed) == 1 ]]"
it_is "run 1: migrations ran as sl_sec" \
        "$(psql "$ADMIN_SOCK dbname=sl_sec" -X -t -A -c "select count(*) > 0 from pg_tables where tableowner = 'sl_sec'")" "t"
kill -TERM "$PID"
wait "$PID"
it_is "run 1: SIGTERM -> exit 0" "$?" 0

# Run 2: PGPASSFILE for libpq, --set for the bus password file.
run an2.log STATLINE_ANALYTICS_PG_DSN="$DSN_NOPW" PGPASSFILE="$SECRETS/pgpass" \
        "$AN" --set "bus.password_file=$SECRETS/bus_password"
it_check "run 2 (PGPASSFILE, --set bus.password_file): /readyz 200" it_wait_for 60 ready
kill -TERM "$PID"
wait "$PID"
it_is "run 2: SIGTERM -> exit 0" "$?" 0

# Run 3: a wrong bus password is refused, and said so (without the password).
printf 'wrong%s\n' "$BUS_PW" >"$SECRETS/bus_password_wrong"
run an3.log STATLINE_ANALYTICS_BUS_PASSWORD_FILE="$SECRETS/bus_password_wrong" \
        STATLINE_ANALYTICS_PG_DSN_FILE="$SECRETS/pg_dsn" "$AN"
it_check "run 3 (wrong bus password): exits by itself" it_wait_for 60 bash -c "! kill -0 $PID 2>/dev/null"
wait "$PID"
rc=$?
it_check "run 3: exit status non-zero (got $rc)" test "$rc" -ne 0
it_check "run 3: the log names the auth failure" grep -qiE 'WRONGPASS|auth' "$IT_DIR/an3.log"

# The help output, with every secret configured.
env STATLINE_BUS_PASSWORD_FILE="$SECRETS/bus_password" STATLINE_ANALYTICS_PG_DSN_FILE="$SECRETS/pg_dsn" \
        "$AN" --help-config >"$IT_DIR/help.txt" 2>&1
env STATLINE_ANALYTICS_BUS_PASSWORD="$BUS_PW" STATLINE_ANALYTICS_PG_DSN="$DSN_PW" \
        "$AN" --help-config=markdown >"$IT_DIR/help.md" 2>&1
it_check "--help-config printed the table" grep -q 'bus.password' "$IT_DIR/help.txt"

# The grep: no secret (nor the wrong one) anywhere in what statline wrote.
lines=$(cat "$IT_DIR"/an*.log "$IT_DIR"/help.* | wc -l)
it_diag "grepped $lines lines of logs and help output"
it_check "logs + help hold at least 20 lines (the grep is not vacuous)" test "$lines" -ge 20
it_check "control: the same grep finds what is logged in clear (the bus user sl_svc)" \
        grep -qF -- sl_svc "$IT_DIR/an1.log"
for s in "$REDIS_ADMIN_PW" "$BUS_PW" "$PG_PW" "$DSN_PW" "$KAFKA_PW"; do
        it_check "secret ${s:0:3}... appears in no log or help line" \
                bash -c "! grep -rqF -- '$s' '$IT_DIR'/an1.log '$IT_DIR'/an2.log '$IT_DIR'/an3.log '$IT_DIR'/help.txt '$IT_DIR'/help.md"
done
it_check "the redaction marker is used (the secrets were logged as <secret>)" \
        grep -q '<secret>' "$IT_DIR/an1.log"
it_done
