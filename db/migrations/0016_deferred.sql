-- 0016_deferred: "not ready yet" messages parked by the service runtime
-- (issue 5 item 4; sl/defer.h, docs/reliability.md "Not ready yet"). A
-- handler whose critical input is missing returns SL_BUS_NOT_READY; the
-- runtime stores the message here in one statement, acks it on the bus and
-- hands it to the handler again when due_at has passed, with growing waits
-- (retry.not_ready_delays_ms) for up to retry.not_ready_max_ms, then
-- dead-letters it. A row is deleted once its message is done.
CREATE TABLE ops.deferred_events (
        consumer_group text NOT NULL,
        service        text NOT NULL,
        topic          text NOT NULL,
        event_id       text NOT NULL,
        msg_key        text,
        envelope       text NOT NULL,                -- the original message bytes
        reason         text NOT NULL,                -- what is missing, in the handler's words
        waits          integer NOT NULL CHECK (waits >= 1),
        first_seen     timestamptz NOT NULL,
        due_at         timestamptz NOT NULL,
        updated_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer_group, topic, event_id)
);
CREATE INDEX deferred_events_due_idx ON ops.deferred_events (consumer_group, due_at);
SELECT ops.add_replay_guard('ops.deferred_events');

-- A processor whose input is not there yet is 'waiting', not 'failed'.
ALTER TABLE ops.pipeline_execution_log DROP CONSTRAINT pipeline_execution_log_status_check;
ALTER TABLE ops.pipeline_execution_log ADD CONSTRAINT pipeline_execution_log_status_check
        CHECK (status IN ('running', 'completed', 'failed', 'skipped', 'partial', 'waiting'));
