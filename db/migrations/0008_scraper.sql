-- 0008_scraper: what statline-scraper (services/scraper/) needs on top of
-- 0007's ops.scraper_execution_log for its duplicate-fetch decisions.
--   source_key   the document within a source: a game id ("0022400061") for
--                box scores, the date ("2024-11-05") for date documents. The
--                scraper looks up the last successful fetch by (source, source_key).
--   skip_reason  why nothing was fetched or published: 'final_already_fetched'
--                (a Final game's box score is fetched once) or 'unchanged' (same
--                SHA-256 as the last stored document: no new event).
-- A skipped fetch makes no request, so attempts may now be 0.

ALTER TABLE ops.scraper_execution_log
        ADD COLUMN source_key  text CHECK (source_key IS NULL OR length(source_key) BETWEEN 1 AND 128),
        ADD COLUMN skip_reason text;

ALTER TABLE ops.scraper_execution_log
        DROP CONSTRAINT scraper_execution_log_attempts_check,
        ADD CONSTRAINT scraper_execution_log_attempts_check CHECK (attempts >= 0),
        ADD CONSTRAINT scraper_execution_log_skip_reason_check
                CHECK (status NOT IN ('skipped', 'unchanged') OR skip_reason IS NOT NULL);

-- "has this document been fetched successfully, and what was its digest?"
CREATE INDEX scraper_execution_log_last_ok_idx
        ON ops.scraper_execution_log (source, source_key, started_at DESC)
        WHERE status IN ('completed', 'unchanged');
