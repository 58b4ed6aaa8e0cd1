-- Full-text search moves from one table shared by every namespace to one
-- FTS5 table per namespace (search_fts_<namespace in hex>), so BM25 scores
-- depend on the namespace's own rows only. The Go step creates the tables,
-- copies each namespace's rows with their rowids (the records' fts_rowid
-- stay valid) and drops search_fts.
SELECT 1;
