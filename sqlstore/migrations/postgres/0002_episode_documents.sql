-- One row per record document. An episode's doc now holds the whole
-- episode as returned by a read (its steps, created_at and updated_at
-- included) and digest its SHA-256, so a read or a cache rebuild decodes
-- one document per episode. Patterns and heuristics were one document per
-- row already.
--
-- The steps table keeps one row per step only for what queries filter,
-- aggregate and search on: the step's tool, time, latency, tokens and
-- result (type and message), and the rowid of its search row. The Go step
-- (episodeDocuments) rewrites every episode's doc from its old doc and its
-- steps' docs, fills these columns, then drops steps.doc and steps.digest.
-- episodes.steps_bytes is no longer used.
ALTER TABLE steps ADD COLUMN at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN latency_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN tokens_used BIGINT NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN result_type TEXT NOT NULL DEFAULT '';
ALTER TABLE steps ADD COLUMN result_message TEXT NOT NULL DEFAULT '';
