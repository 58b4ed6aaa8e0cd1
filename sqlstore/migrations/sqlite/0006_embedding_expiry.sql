-- Embeddings may carry metadata and an expiry time (Embedding.Metadata,
-- Embedding.ExpiresAt). expires_at is Unix nanoseconds, NULL for never;
-- reads skip rows whose expires_at is at or before the store's clock, and
-- the sweep (memory) deletes them through embeddings_by_expiry, which
-- holds only the rows that expire. metadata is a JSON object, NULL for
-- none. A row with either set has its digest over them too (digest.go).
ALTER TABLE embeddings ADD COLUMN expires_at INTEGER;
ALTER TABLE embeddings ADD COLUMN metadata TEXT;
CREATE INDEX embeddings_by_expiry ON embeddings (expires_at) WHERE expires_at IS NOT NULL;
