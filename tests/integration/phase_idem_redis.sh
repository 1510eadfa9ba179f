#!/usr/bin/env bash
# phase_idem_redis.sh: the Redis SET NX EX fast path of sl_phase_claim()
# (docs/reliability.md, "Idempotency: the Redis fast path"), against the
# shared PostgreSQL (a private database) and the shared Redis (keys under a
# unique prefix, deleted at exit), through tests/integration/sl_phasetest.c:
#   - a first event is claimed, committed, published; then (and only then)
#     its key is set in Redis with a TTL;
#   - the same event again is skipped through Redis alone (the claim runs
#     with no PostgreSQL connection and still answers duplicate);
#   - an outbox row reset to unpublished (a crash between COMMIT and the
#     broker's confirmation, as raw_service.sh simulates it) is still
#     published again by the replay although the Redis key is set;
#   - with the Redis key deleted it is still skipped, by PostgreSQL's claim,
#     which sets the Redis key again;
#   - with Redis unreachable an event is processed (claimed, published) and
#     its duplicate skipped by PostgreSQL: Redis never blocks processing;
#   - a mark that fails after the publish fails the event, and its
#     redelivery publishes the row again and marks it;
#   - PostgreSQL holds one claim and one outbox row per key;
#   - the saving: N duplicates timed with the fast path and without it.
. "$(dirname "$0")/lib.sh"

it_init phase_idem_redis
[[ -n ${STATLINE_TEST_PG_DSN:-} ]] || it_skip_all "STATLINE_TEST_PG_DSN not set"
[[ -n ${STATLINE_TEST_REDIS:-} ]] || it_skip_all "STATLINE_TEST_REDIS not set"
for c in psql redis-cli; do command -v $c >/dev/null || it_skip_all "$c not installed"; done
PT=${STATLINE_PHASETEST:-${STATLINE_BUILD:-$IT_SRC/build}/tests/integration/sl_phasetest}
[[ -x $PT ]] || it_bail "driver not found: $PT (set STATLINE_PHASETEST)"
IT_URL=$STATLINE_TEST_REDIS
PREFIX="itest-idem-$IT_UNIQ"
N=${STATLINE_IDEM_BENCH_N:-300}

drop_redis_keys() {
        it_redis --scan --pattern "$PREFIX:idem:*" | while read -r k; do it_redis DEL "$k" >/dev/null; done
}
IT_ON_EXIT=drop_redis_keys

it_pg_database idem
it_must "creates a private database" it_pg_create

# pt REDIS ARGS...: runs the driver, output kept in $OUT
pt() {
        OUT=$("$PT" "$IT_DSN" "$1" "$PREFIX" "${@:2}" 2>"$IT_DIR/pt.err") || {
                it_diag "driver failed: $(cat "$IT_DIR/pt.err")"
                OUT=
        }
}
val() { sed -n "s/^$1=//p" <<<"$OUT" | head -1; }

OID=$(it_sql "SELECT oid FROM pg_database WHERE datname = current_database()")
RKEY="$PREFIX:idem:$OID:raw:game-1"

# 1. the first event: claimed, published, then marked in Redis
pt "$STATLINE_TEST_REDIS" handle raw:game-1
it_is "first event is claimed and published" "$(val result)" claimed
it_is "the driver's Redis key is <bus prefix>:idem:<database oid>:<key>" "$(val redis_key)" "$RKEY"
it_is "after the commit and publish the key is set in Redis" "$(it_redis EXISTS "$RKEY")" 1
TTL=$(it_redis TTL "$RKEY")
it_check "with the default TTL (7 days: 604800 s >= ttl > 604000, got $TTL)" \
        test "${TTL:-0}" -gt 604000 -a "${TTL:-0}" -le 604800

# 2. a replay: skipped through Redis, PostgreSQL not asked
pt "$STATLINE_TEST_REDIS" handle raw:game-1 nopg
it_is "replayed event: skipped as a duplicate, the claim with no PostgreSQL connection" "$(val result)" duplicate
it_is "...answered by Redis (redis_hits)" "$(val redis_hits)" 1
it_is "...published before: the replay sends nothing" "$(val replayed)" 0
it_sql "UPDATE ops.outbox SET published_at = NULL WHERE idempotency_key = 'raw:game-1'" >/dev/null
pt "$STATLINE_TEST_REDIS" handle raw:game-1 nopg
it_is "outbox row reset to unpublished: skipped by Redis, and the replay publishes it again" \
        "$(val result)/$(val redis_hits)/$(val replayed)" duplicate/1/1
it_is "...the outbox row is marked published again" \
        "$(it_sql "SELECT published_at IS NOT NULL FROM ops.outbox WHERE idempotency_key = 'raw:game-1'")" t
it_is "a fresh (not yet processed) key without PostgreSQL is an error, not a skip" \
        "$(pt "$STATLINE_TEST_REDIS" handle raw:game-new nopg; val result)" error

# 3. the Redis key lost: PostgreSQL's claim still skips, and sets the key again
it_redis DEL "$RKEY" >/dev/null
pt "$STATLINE_TEST_REDIS" handle raw:game-1 nopg
it_is "Redis key deleted: without PostgreSQL nothing can tell, so no skip" "$(val result)" error
pt "$STATLINE_TEST_REDIS" handle raw:game-1
it_is "Redis key deleted: still skipped, by PostgreSQL's claim" "$(val result)" duplicate
it_is "...not by Redis" "$(val redis_hits)" 0
it_is "...and the key is set in Redis again" "$(it_redis EXISTS "$RKEY")" 1

# 4. Redis unreachable (port 1 refuses): processing goes on, PostgreSQL decides
pt 127.0.0.1:1 handle raw:game-2
it_is "Redis down: a new event is still claimed and published" "$(val result)" claimed
it_check "...the Redis failure is counted ($(val redis_errors))" test "$(val redis_errors)" -ge 1
it_check "...and costs no wait ($(val elapsed_us) us < 2 s)" test "$(val elapsed_us)" -lt 2000000
pt 127.0.0.1:1 handle raw:game-2
it_is "Redis down: its duplicate is skipped by PostgreSQL" "$(val result)" duplicate
pt off handle raw:game-2
it_is "idem.redis=off: PostgreSQL only, no Redis key" "$(val redis_key)" "raw:game-2"
it_is "idem.redis=off: the duplicate is skipped" "$(val result)" duplicate
it_is "Redis down: no key was written for raw:game-2" "$(it_redis EXISTS "$PREFIX:idem:$OID:raw:game-2")" 0
it_is "a bad idem.redis is refused at open" \
        "$("$PT" "$IT_DSN" nohostport "$PREFIX" handle x >/dev/null 2>&1; echo $?)" 1

# 4b. the mark fails after the publish (PostgreSQL lost between the two, here
# a trigger refusing the UPDATE): the event fails, so its redelivery
# publishes the row again and marks it; a row left unpublished would read
# as pending for ever (backfill, statline-monitor, the chaos suite)
it_sql "CREATE FUNCTION refuse_mark_fn() RETURNS trigger LANGUAGE plpgsql AS
        \$\$BEGIN RAISE EXCEPTION 'mark refused by the test'; END\$\$;
        CREATE TRIGGER refuse_mark BEFORE UPDATE ON ops.outbox FOR EACH ROW EXECUTE FUNCTION refuse_mark_fn()" >/dev/null
pt off handle raw:game-3
it_is "the mark fails after the publish: the event fails" "$(val result)" error
it_check "...saying what failed ($(val error))" grep -q "mark phasetest.completed published: .*mark refused by the test" <<<"$(val error)"
it_is "...and its row still reads unpublished" \
        "$(it_sql "SELECT published_at IS NULL FROM ops.outbox WHERE idempotency_key = 'raw:game-3'")" t
it_sql "DROP TRIGGER refuse_mark ON ops.outbox; DROP FUNCTION refuse_mark_fn()" >/dev/null
pt off handle raw:game-3
it_is "its redelivery: a duplicate that publishes the row again" "$(val result)/$(val replayed)" duplicate/1
it_is "...and marks it" \
        "$(it_sql "SELECT published_at IS NOT NULL FROM ops.outbox WHERE idempotency_key = 'raw:game-3'")" t

# 5. PostgreSQL is the source of truth: one claim and one outbox row per key
it_is "one claim per key in ops.idempotency_keys" \
        "$(it_sql "SELECT string_agg(key || '=' || n, ',' ORDER BY key) FROM (SELECT key, count(*) n FROM ops.idempotency_keys GROUP BY key) k")" \
        "raw:game-1=1,raw:game-2=1,raw:game-3=1"
it_is "one published outbox row per key" \
        "$(it_sql "SELECT count(*) FILTER (WHERE published_at IS NOT NULL) || '/' || count(*) FROM ops.outbox")" "3/3"

# 6. the saving on duplicates
pt "$STATLINE_TEST_REDIS" bench raw:game-1 "$N"
FAST=$(val per_dup_us)
it_is "bench: $N duplicates, all answered by Redis" "$(val redis_hits)" "$N"
pt off bench raw:game-1 "$N"
SLOW=$(val per_dup_us)
it_check "bench: $N duplicates through PostgreSQL" test -n "$SLOW"
it_diag "a duplicate costs ${FAST:-?} us with the Redis fast path, ${SLOW:-?} us without" \
        "(BEGIN + claim + ROLLBACK + replay's outbox SELECT; the fast path replaces the claim INSERT by one EXISTS)"

it_done
