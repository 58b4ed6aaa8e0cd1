-- engram durable schema, version 1 (PostgreSQL): the tables of SQLite's
-- schema version 4 in PostgreSQL's types. Times are Unix nanoseconds
-- (BIGINT); ids are 16-byte UUIDs (BYTEA). Every table is keyed by namespace
-- first: no query crosses namespaces. Every document row carries the SHA-256
-- of its document (digest.go). Search tables are created per namespace at
-- run time (search_fts_<namespace in hex>, see dialect_postgres.go).

CREATE TABLE episodes (
    namespace    TEXT    NOT NULL,
    episode_id   BYTEA   NOT NULL,
    task_type    TEXT    NOT NULL,
    domain       TEXT    NOT NULL,
    language     TEXT    NOT NULL,
    start_time   BIGINT  NOT NULL,
    end_time     BIGINT,
    complete     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    step_count   INTEGER NOT NULL DEFAULT 0,
    last_step    INTEGER NOT NULL DEFAULT 0,
    steps_bytes  BIGINT  NOT NULL DEFAULT 0,
    fts_rowid    BIGINT  NOT NULL,
    doc          TEXT    NOT NULL,
    digest       BYTEA,
    PRIMARY KEY (namespace, episode_id)
);
CREATE INDEX episodes_by_start ON episodes (namespace, start_time DESC, episode_id DESC);
CREATE INDEX episodes_by_domain ON episodes (namespace, domain, start_time DESC);
CREATE INDEX episodes_by_task_type ON episodes (namespace, task_type, start_time DESC);

CREATE TABLE steps (
    namespace    TEXT    NOT NULL,
    episode_id   BYTEA   NOT NULL,
    step_number  INTEGER NOT NULL,
    tool         TEXT    NOT NULL,
    fts_rowid    BIGINT  NOT NULL,
    doc          TEXT    NOT NULL,
    digest       BYTEA,
    PRIMARY KEY (namespace, episode_id, step_number),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
);

CREATE TABLE episode_tags (
    namespace  TEXT  NOT NULL,
    episode_id BYTEA NOT NULL,
    tag        TEXT  NOT NULL,
    PRIMARY KEY (namespace, episode_id, tag),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
);
CREATE INDEX episode_tags_by_tag ON episode_tags (namespace, tag, episode_id);

CREATE TABLE episode_metadata (
    namespace  TEXT  NOT NULL,
    episode_id BYTEA NOT NULL,
    key        TEXT  NOT NULL,
    value      TEXT  NOT NULL,
    PRIMARY KEY (namespace, episode_id, key),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
);
CREATE INDEX episode_metadata_by_kv ON episode_metadata (namespace, key, value);

CREATE TABLE spatiotemporal_index (
    namespace  TEXT             NOT NULL,
    episode_id BYTEA            NOT NULL,
    t          BIGINT           NOT NULL,
    lat        DOUBLE PRECISION NOT NULL,
    lon        DOUBLE PRECISION NOT NULL,
    x          DOUBLE PRECISION NOT NULL,
    y          DOUBLE PRECISION NOT NULL,
    z          DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, episode_id),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
);
CREATE INDEX spatiotemporal_by_lat ON spatiotemporal_index (namespace, lat, lon);

CREATE TABLE patterns (
    namespace    TEXT             NOT NULL,
    pattern_id   BYTEA            NOT NULL,
    kind         TEXT             NOT NULL,
    domain       TEXT             NOT NULL,
    language     TEXT             NOT NULL,
    success_rate DOUBLE PRECISION NOT NULL,
    created_at   BIGINT           NOT NULL,
    updated_at   BIGINT           NOT NULL,
    fts_rowid    BIGINT           NOT NULL,
    doc          TEXT             NOT NULL,
    digest       BYTEA,
    PRIMARY KEY (namespace, pattern_id)
);
CREATE INDEX patterns_by_updated ON patterns (namespace, updated_at DESC, pattern_id DESC);
CREATE INDEX patterns_by_domain ON patterns (namespace, domain, updated_at DESC);

CREATE TABLE pattern_tags (
    namespace  TEXT  NOT NULL,
    pattern_id BYTEA NOT NULL,
    tag        TEXT  NOT NULL,
    PRIMARY KEY (namespace, pattern_id, tag),
    FOREIGN KEY (namespace, pattern_id) REFERENCES patterns (namespace, pattern_id) ON DELETE CASCADE
);
CREATE INDEX pattern_tags_by_tag ON pattern_tags (namespace, tag, pattern_id);

CREATE TABLE heuristics (
    namespace    TEXT             NOT NULL,
    heuristic_id BYTEA            NOT NULL,
    domain       TEXT             NOT NULL,
    confidence   DOUBLE PRECISION NOT NULL,
    created_at   BIGINT           NOT NULL,
    updated_at   BIGINT           NOT NULL,
    doc          TEXT             NOT NULL,
    digest       BYTEA,
    PRIMARY KEY (namespace, heuristic_id)
);
CREATE INDEX heuristics_by_updated ON heuristics (namespace, updated_at DESC, heuristic_id DESC);
CREATE INDEX heuristics_by_domain ON heuristics (namespace, domain, updated_at DESC);

CREATE TABLE embeddings (
    namespace  TEXT    NOT NULL,
    item_type  TEXT    NOT NULL,
    item_id    BYTEA   NOT NULL,
    model      TEXT    NOT NULL,
    dimension  INTEGER NOT NULL,
    vector     BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL,
    digest     BYTEA,
    PRIMARY KEY (namespace, item_type, item_id, model)
);

CREATE TABLE relationships (
    namespace  TEXT             NOT NULL,
    from_id    BYTEA            NOT NULL,
    to_id      BYTEA            NOT NULL,
    type       TEXT             NOT NULL,
    weight     DOUBLE PRECISION NOT NULL,
    created_at BIGINT           NOT NULL,
    PRIMARY KEY (namespace, from_id, to_id, type),
    FOREIGN KEY (namespace, from_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE,
    FOREIGN KEY (namespace, to_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
);
CREATE INDEX relationships_by_to ON relationships (namespace, to_id);

-- The change feed. seq comes from an identity sequence, but every write
-- transaction holds the store-wide advisory lock from its start to its
-- commit (see Store.write), so seq values are handed out in commit order:
-- a reader's snapshot always holds a prefix of the feed.
CREATE TABLE changes (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    key       TEXT   NOT NULL,
    op        TEXT   NOT NULL,
    at        BIGINT NOT NULL
);

CREATE TABLE feed_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT  NOT NULL
);
INSERT INTO feed_state (id, pruned_through) VALUES (1, 0);

CREATE TABLE idempotency_keys (
    namespace      TEXT   NOT NULL,
    key            TEXT   NOT NULL,
    op             TEXT   NOT NULL,
    request_digest BYTEA  NOT NULL,
    record_kind    TEXT   NOT NULL,
    record_key     TEXT   NOT NULL,
    result         BYTEA  NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
