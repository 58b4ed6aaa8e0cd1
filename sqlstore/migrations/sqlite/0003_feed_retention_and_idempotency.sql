-- The change feed's retention horizon: entries up to pruned_through have been
-- dropped (see feed.go). One row.
CREATE TABLE feed_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through INTEGER NOT NULL
);
INSERT INTO feed_state (id, pruned_through) VALUES (1, 0);

-- Idempotency keys: one row per keyed write committed, written in the same
-- transaction as the write (see idempotency.go). request_digest identifies
-- the request; result holds what the write filled in, returned to a repeat.
CREATE TABLE idempotency_keys (
    namespace      TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    op             TEXT    NOT NULL,
    request_digest BLOB    NOT NULL,
    record_kind    TEXT    NOT NULL,
    record_key     TEXT    NOT NULL,
    result         BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
