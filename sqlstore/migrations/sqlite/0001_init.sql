-- engram durable schema, version 1 (SQLite).
-- Times are Unix nanoseconds (INTEGER); ids are 16-byte UUIDs (BLOB).
-- Every table is keyed by namespace first: no query crosses namespaces.

CREATE TABLE episodes (
    namespace    TEXT    NOT NULL,
    episode_id   BLOB    NOT NULL,
    task_type    TEXT    NOT NULL,
    domain       TEXT    NOT NULL,
    language     TEXT    NOT NULL,
    start_time   INTEGER NOT NULL,
    end_time     INTEGER,
    complete     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    step_count   INTEGER NOT NULL DEFAULT 0,
    last_step    INTEGER NOT NULL DEFAULT 0,
    steps_bytes  INTEGER NOT NULL DEFAULT 0,
    fts_rowid    INTEGER NOT NULL, -- its row in search_fts
    doc          TEXT    NOT NULL, -- the episode as JSON, without its steps
    UNIQUE (namespace, episode_id)
);
CREATE INDEX episodes_by_start ON episodes (namespace, start_time DESC, episode_id DESC);
CREATE INDEX episodes_by_domain ON episodes (namespace, domain, start_time DESC);
CREATE INDEX episodes_by_task_type ON episodes (namespace, task_type, start_time DESC);

-- Steps are rows of their own: appending one is an INSERT, never a rewrite.
CREATE TABLE steps (
    namespace    TEXT    NOT NULL,
    episode_id   BLOB    NOT NULL,
    step_number  INTEGER NOT NULL,
    tool         TEXT    NOT NULL,
    fts_rowid    INTEGER NOT NULL,
    doc          TEXT    NOT NULL,
    PRIMARY KEY (namespace, episode_id, step_number),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
);

CREATE TABLE episode_tags (
    namespace  TEXT NOT NULL,
    episode_id BLOB NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (namespace, episode_id, tag),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX episode_tags_by_tag ON episode_tags (namespace, tag, episode_id);

CREATE TABLE episode_metadata (
    namespace  TEXT NOT NULL,
    episode_id BLOB NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (namespace, episode_id, key),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX episode_metadata_by_kv ON episode_metadata (namespace, key, value);

-- Spatiotemporal index: one row per episode with a location. x, y, z are the
-- point on the unit sphere, so a radius test is exact chord arithmetic.
CREATE TABLE spatiotemporal_index (
    namespace  TEXT    NOT NULL,
    episode_id BLOB    NOT NULL,
    t          INTEGER NOT NULL,
    lat        REAL    NOT NULL,
    lon        REAL    NOT NULL,
    x          REAL    NOT NULL,
    y          REAL    NOT NULL,
    z          REAL    NOT NULL,
    PRIMARY KEY (namespace, episode_id),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
);
CREATE INDEX spatiotemporal_by_lat ON spatiotemporal_index (namespace, lat, lon);

CREATE TABLE patterns (
    namespace    TEXT    NOT NULL,
    pattern_id   BLOB    NOT NULL,
    kind         TEXT    NOT NULL,
    domain       TEXT    NOT NULL,
    language     TEXT    NOT NULL,
    success_rate REAL    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    fts_rowid    INTEGER NOT NULL,
    doc          TEXT    NOT NULL,
    UNIQUE (namespace, pattern_id)
);
CREATE INDEX patterns_by_updated ON patterns (namespace, updated_at DESC, pattern_id DESC);
CREATE INDEX patterns_by_domain ON patterns (namespace, domain, updated_at DESC);

CREATE TABLE pattern_tags (
    namespace  TEXT NOT NULL,
    pattern_id BLOB NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (namespace, pattern_id, tag),
    FOREIGN KEY (namespace, pattern_id) REFERENCES patterns (namespace, pattern_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX pattern_tags_by_tag ON pattern_tags (namespace, tag, pattern_id);

CREATE TABLE heuristics (
    namespace    TEXT    NOT NULL,
    heuristic_id BLOB    NOT NULL,
    domain       TEXT    NOT NULL,
    confidence   REAL    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    doc          TEXT    NOT NULL,
    UNIQUE (namespace, heuristic_id)
);
CREATE INDEX heuristics_by_updated ON heuristics (namespace, updated_at DESC, heuristic_id DESC);
CREATE INDEX heuristics_by_domain ON heuristics (namespace, domain, updated_at DESC);

-- Vectors are little-endian float32, dimension*4 bytes.
CREATE TABLE embeddings (
    namespace  TEXT    NOT NULL,
    item_type  TEXT    NOT NULL,
    item_id    BLOB    NOT NULL,
    model      TEXT    NOT NULL,
    dimension  INTEGER NOT NULL,
    vector     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, item_type, item_id, model)
);

CREATE TABLE relationships (
    namespace  TEXT    NOT NULL,
    from_id    BLOB    NOT NULL,
    to_id      BLOB    NOT NULL,
    type       TEXT    NOT NULL,
    weight     REAL    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, from_id, to_id, type),
    FOREIGN KEY (namespace, from_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE,
    FOREIGN KEY (namespace, to_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE
);
CREATE INDEX relationships_by_to ON relationships (namespace, to_id);

-- Full-text search: one row per episode, step and pattern, whose rowid the
-- record keeps in its fts_rowid column. Only body is indexed; the other
-- columns say what the row is.
CREATE VIRTUAL TABLE search_fts USING fts5 (
    body,
    namespace UNINDEXED,
    kind UNINDEXED,
    ref_id UNINDEXED,
    step_number UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- The change feed: every insert, update and delete of every record, in the
-- same transaction as the change. seq only ever grows (AUTOINCREMENT never
-- reuses a value, even after the newest rows are deleted).
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    key       TEXT    NOT NULL,
    op        TEXT    NOT NULL,
    at        INTEGER NOT NULL
);
