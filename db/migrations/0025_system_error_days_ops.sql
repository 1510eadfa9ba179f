-- 0025_system_error_days_ops: the fingerprints of 0024 are bookkeeping, not
-- data: they hold change-log sequence numbers, which differ between two runs
-- that produce the same rows (an interrupted and resumed backfill, a chaos
-- run). Like ops.data_changes they belong in ops, where the "same data"
-- comparisons of the five data schemas (backfill_tool, chaos) do not look.
-- The sums themselves (prediction.system_error_sums) are data and stay.
ALTER TABLE prediction.system_error_days SET SCHEMA ops;
