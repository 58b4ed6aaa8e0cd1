-- Every document row carries the SHA-256 of its document (embeddings: of
-- their canonical encoding; see digest.go). Reads verify it, so a damaged
-- row is an error instead of a silently wrong record. The migration's Go
-- step fills the digests of the rows already stored.
ALTER TABLE episodes ADD COLUMN digest BLOB;
ALTER TABLE steps ADD COLUMN digest BLOB;
ALTER TABLE patterns ADD COLUMN digest BLOB;
ALTER TABLE heuristics ADD COLUMN digest BLOB;
ALTER TABLE embeddings ADD COLUMN digest BLOB;
