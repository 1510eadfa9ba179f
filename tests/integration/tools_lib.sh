# tools_lib.sh: what the operator-tool stack tests (backfill_tool.sh,
# scheduler_tool.sh) share, sourced after lib.sh:
#   tl_bins          BUILD, FIXTURES, BACKFILL and BIN[service] (the six service
#                    binaries, STATLINE_<X>BIN overrides), SERVICES (start order)
#   sql STATEMENT    runs it on $DSN (tuples only, unaligned, '|' between columns)
#   fx PATH          GET $FX/PATH from statline-fixtures
#   day DATE N       DATE + N days (YYYY-MM-DD)
#   PENDING_SQL      one number: the work of the whole database still in flight
#                    (scraper events raw has not handled, outbox events the next
#                    phase has not handled, unpublished outbox rows)
#   idle             PENDING_SQL is 0 (for it_wait_for)

tl_bins() {
        BUILD=${STATLINE_BUILD:-$IT_SRC/build}
        FIXTURES=${STATLINE_FIXTURES:-$BUILD/tools/fixtures/statline-fixtures}
        BACKFILL=${STATLINE_BACKFILL:-$BUILD/tools/backfill/statline-backfill}
        declare -gA BIN=(
                [raw]=${STATLINE_RAWBIN:-$BUILD/services/raw/statline-raw}
                [analytics]=${STATLINE_ANALYTICSBIN:-$BUILD/services/analytics/statline-analytics}
                [precompute]=${STATLINE_PRECOMPUTEBIN:-$BUILD/services/precompute/statline-precompute}
                [prediction]=${STATLINE_PREDBIN:-$BUILD/services/prediction/statline-prediction}
                [publishing]=${STATLINE_PUBBIN:-$BUILD/services/publishing/statline-publishing}
                [scraper]=${STATLINE_SCRAPER:-$BUILD/services/scraper/statline-scraper}
        )
        SERVICES=(raw analytics precompute prediction publishing scraper)
}

sql() {
        PGOPTIONS="-c client_min_messages=warning" PGCONNECT_TIMEOUT=10 \
                psql "$DSN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"
}
fx() { curl -sf --max-time 10 "$FX/$1"; }
day() { date -u -d "$1 + $2 days" +%F; }

PENDING_SQL="
WITH s AS (SELECT correlation_id, count(*) n FROM ops.scraper_execution_log
           WHERE status = 'completed' GROUP BY 1),
     r AS (SELECT correlation_id, count(DISTINCT event_id) n FROM ops.pipeline_execution_log
           WHERE phase = 'raw' AND status IN ('completed', 'skipped') GROUP BY 1)
SELECT (SELECT coalesce(sum(s.n - coalesce(r.n, 0)), 0) FROM s LEFT JOIN r USING (correlation_id))
     + (SELECT count(*) FROM ops.outbox o
        WHERE o.topic NOT LIKE '%.publishing.completed'
          AND NOT EXISTS (SELECT 1 FROM ops.pipeline_execution_log l
                          WHERE l.event_id = (convert_from(o.payload, 'UTF8')::jsonb->>'event_id')::uuid
                            AND l.status IN ('completed', 'skipped')))
     + (SELECT count(*) FROM ops.outbox WHERE published_at IS NULL)"
idle() { [[ $(sql "$PENDING_SQL" 2>/dev/null) == 0 ]]; }
