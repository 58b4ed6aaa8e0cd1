# The C SQLite side of `engram bench compare`: python3's sqlite3 module
# (C SQLite) doing the inserts engram's durable tier does for the same
# episodes, in engram's schema (5): one row per episode holding its whole
# document (steps included) and its SHA-256, a thin row per step (the
# columns insights and search use), tags, metadata, the spatiotemporal row,
# one full-text row per episode and per step holding the same text engram
# indexes (same FTS5 tokenizer), and a change-feed row per record; one
# statement per row, WAL, synchronous=FULL.
#
#   python3 bench_compare_sqlite.py EPISODES.jsonl DIR SINGLE BATCH
#
# EPISODES.jsonl holds the episodes as engram encodes them, ids set; each
# line is the document stored as is. The rows are built before the clock
# starts: only SQLite's work is timed.
# SINGLE episodes go in one transaction each (into DIR/single.db), then all
# of them BATCH per transaction (DIR/batch.db); then every document of
# batch.db is read back with a plain SELECT. Prints one JSON object.
import hashlib
import json
import math
import os
import sqlite3
import sys
import time
import uuid

SCHEMA = """
CREATE TABLE episodes (
    namespace TEXT NOT NULL, episode_id BLOB NOT NULL, task_type TEXT NOT NULL, domain TEXT NOT NULL,
    language TEXT NOT NULL, start_time INTEGER NOT NULL, end_time INTEGER, complete INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, step_count INTEGER NOT NULL DEFAULT 0,
    last_step INTEGER NOT NULL DEFAULT 0, steps_bytes INTEGER NOT NULL DEFAULT 0, fts_rowid INTEGER NOT NULL,
    doc TEXT NOT NULL, digest BLOB, UNIQUE (namespace, episode_id));
CREATE INDEX episodes_by_start ON episodes (namespace, start_time DESC, episode_id DESC);
CREATE INDEX episodes_by_domain ON episodes (namespace, domain, start_time DESC);
CREATE INDEX episodes_by_task_type ON episodes (namespace, task_type, start_time DESC);
CREATE TABLE steps (
    namespace TEXT NOT NULL, episode_id BLOB NOT NULL, step_number INTEGER NOT NULL, tool TEXT NOT NULL,
    fts_rowid INTEGER NOT NULL, at INTEGER NOT NULL, latency_ms INTEGER NOT NULL, tokens_used INTEGER NOT NULL,
    result_type TEXT NOT NULL, result_message TEXT NOT NULL,
    PRIMARY KEY (namespace, episode_id, step_number),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE);
CREATE TABLE episode_tags (
    namespace TEXT NOT NULL, episode_id BLOB NOT NULL, tag TEXT NOT NULL,
    PRIMARY KEY (namespace, episode_id, tag),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE) WITHOUT ROWID;
CREATE INDEX episode_tags_by_tag ON episode_tags (namespace, tag, episode_id);
CREATE TABLE episode_metadata (
    namespace TEXT NOT NULL, episode_id BLOB NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (namespace, episode_id, key),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE) WITHOUT ROWID;
CREATE INDEX episode_metadata_by_kv ON episode_metadata (namespace, key, value);
CREATE TABLE spatiotemporal_index (
    namespace TEXT NOT NULL, episode_id BLOB NOT NULL, t INTEGER NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL,
    x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
    PRIMARY KEY (namespace, episode_id),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE);
CREATE INDEX spatiotemporal_by_lat ON spatiotemporal_index (namespace, lat, lon);
CREATE VIRTUAL TABLE search_fts USING fts5 (body, kind UNINDEXED, ref_id UNINDEXED, step_number UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    op TEXT NOT NULL, at INTEGER NOT NULL);
"""

NS = "default"
FTS = object()  # stands for the rowid of the preceding full-text insert


def nanos(ts):
    # RFC 3339 with up to 9 fraction digits -> Unix nanoseconds (UTC "Z" or an offset).
    if ts is None:
        return None
    import datetime
    base, frac = ts, ""
    tz = "+00:00"
    if ts.endswith("Z"):
        base = ts[:-1]
    else:
        base, tz = ts[:-6], ts[-6:]
    if "." in base:
        base, frac = base.split(".")
    dt = datetime.datetime.fromisoformat(base + tz)
    return int(dt.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def text_of(*parts):
    # engram's search text: the non-empty parts, one per line.
    return "\n".join(p for p in parts if p)


def all_tags(ep):
    # The episode's tags, then its context's, each once, in first-seen order.
    out = []
    for t in (ep.get("tags") or []) + ((ep.get("context") or {}).get("tags") or []):
        if t not in out:
            out.append(t)
    return out


def rows_of(line):
    """The rows engram writes for one episode (its document: line), as (sql, params) pairs."""
    ep = json.loads(line)
    doc = line
    eid = uuid.UUID(ep["episode_id"]).bytes
    steps = ep.get("steps") or []
    ctx = ep.get("context", {})
    o = ep.get("outcome") or {}
    r = ep.get("reflection") or {}
    tags = all_tags(ep)
    body = text_of(ep.get("task_description", ""), ep.get("task_type", ""), ctx.get("domain", ""),
                   ctx.get("language", ""), ctx.get("framework", ""), *tags,
                   o.get("verdict", ""), o.get("reason", ""), o.get("error_details", ""),
                   *(o.get("artifacts") or []), *(o.get("completed") or []), *(o.get("failed") or []),
                   *(r.get("successes") or []), *(r.get("improvements") or []), *(r.get("insights") or []))
    out = [("INSERT INTO search_fts (body, kind, ref_id, step_number) VALUES (?, 'episode', ?, 0)", (body, eid))]
    out.append(("INSERT INTO episodes (namespace, episode_id, task_type, domain, language, start_time, end_time, complete, "
                "created_at, updated_at, step_count, last_step, steps_bytes, fts_rowid, doc, digest) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [NS, eid, ep.get("task_type", ""), ctx.get("domain", ""), ctx.get("language", ""),
                 nanos(ep.get("start_time")), nanos(ep.get("end_time")), int(ep.get("outcome") is not None),
                 nanos(ep.get("created_at")), nanos(ep.get("updated_at")), len(steps),
                 steps[-1]["step_number"] if steps else 0, 0, FTS, doc,
                 hashlib.sha256(doc.encode()).digest()]))
    for t in tags:
        out.append(("INSERT INTO episode_tags (namespace, episode_id, tag) VALUES (?, ?, ?)", (NS, eid, t)))
    for k, v in (ep.get("metadata") or {}).items():
        out.append(("INSERT INTO episode_metadata (namespace, episode_id, key, value) VALUES (?, ?, ?, ?)", (NS, eid, k, v)))
    if ep.get("location"):
        loc = ep["location"]
        lat, lon = math.radians(loc["lat"]), math.radians(loc["lon"])
        out.append(("INSERT INTO spatiotemporal_index (namespace, episode_id, t, lat, lon, x, y, z) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (NS, eid, nanos(ep.get("start_time")), loc["lat"], loc["lon"],
                     math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))))
    for s in steps:
        res = s.get("result") or {}
        out.append(("INSERT INTO search_fts (body, kind, ref_id, step_number) VALUES (?, 'step', ?, ?)",
                    (text_of(s.get("tool", ""), s.get("action", ""), res.get("output", ""), res.get("message", "")),
                     eid, s["step_number"])))
        out.append(("INSERT INTO steps (namespace, episode_id, step_number, tool, fts_rowid, at, latency_ms, tokens_used, "
                    "result_type, result_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [NS, eid, s["step_number"], s.get("tool", ""), FTS, nanos(s.get("timestamp")), s.get("latency_ms", 0),
                     s.get("tokens_used", 0), res.get("type", ""), res.get("message", "")]))
    out.append(("INSERT INTO changes (namespace, kind, key, op, at) VALUES (?, 'episode', ?, 'insert', ?)",
                (NS, ep["episode_id"], nanos(ep.get("created_at")))))
    return out


def open_db(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(SCHEMA)
    return db


def insert(db, eps_rows):
    cur = db.cursor()
    cur.execute("BEGIN")
    for rows in eps_rows:
        fts = None
        for sql, params in rows:
            if isinstance(params, list):
                params = [fts if p is FTS else p for p in params]
            cur.execute(sql, params)
            if sql.startswith("INSERT INTO search_fts"):
                fts = cur.lastrowid
    cur.execute("COMMIT")


def main():
    path, work, single, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(path) as f:
        eps = [line.rstrip("\n") for line in f if line.strip()]
    rows = [rows_of(line) for line in eps]
    out = {"sqlite_version": sqlite3.sqlite_version, "episodes": len(eps), "single": min(single, len(eps)), "batch": batch}

    db = open_db(os.path.join(work, "single.db"))
    t0 = time.perf_counter()
    for r in rows[:single]:
        insert(db, [r])
    out["single_seconds"] = time.perf_counter() - t0
    db.close()

    db = open_db(os.path.join(work, "batch.db"))
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        insert(db, rows[i:i + batch])
    out["batch_seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    n = 0
    for (doc,) in db.execute("SELECT doc FROM episodes"):
        n += len(doc) > 0
    out["select_seconds"] = time.perf_counter() - t0
    out["select_rows"] = n
    out["rows"] = {t: db.execute("SELECT count(*) FROM " + t).fetchone()[0]
                   for t in ("episodes", "steps", "episode_tags", "episode_metadata", "spatiotemporal_index",
                             "search_fts", "changes")}
    # What was written, to check against engram's store (same documents,
    # same search text).
    out["doc_bytes"] = db.execute("SELECT sum(length(CAST(doc AS BLOB))) FROM episodes").fetchone()[0]
    out["search_bytes"] = db.execute("SELECT sum(length(CAST(body AS BLOB))) FROM search_fts").fetchone()[0]
    db.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
