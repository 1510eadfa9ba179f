-- 0019_analytics_batch_messages: every member of a coalesced analytics batch
-- keeps the message it came in (topic, key, the original bytes), so a batch
-- whose run fails for good dead-letters each member with the error instead
-- of retrying forever (issue 5; services/analytics/README.md "Coalescing",
-- docs/reliability.md "Batch coalescing"). A dead-lettered member's row is
-- deleted with its batch, so a replay from the DLQ is merged and run again.
-- Rows merged before this migration have NULLs: their batch is retried as
-- before and logged when it fails for good.
ALTER TABLE ops.analytics_batch_members
        ADD COLUMN topic   text,
        ADD COLUMN msg_key text,
        ADD COLUMN message text;
