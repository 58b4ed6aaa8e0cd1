# The C SQLite side of `engram bench compare`: python3's sqlite3 module
# (C SQLite) doing the inserts engram's durable tier does for the same
# episodes, in a schema shaped like engram's (episodes and steps as JSON
# documents with their indexed columns, tags, metadata, the spatiotemporal
# row, one full-text row per episode and per step, a change-feed row per
# record), one statement per row, WAL, synchronous=FULL.
#
#   python3 bench_compare_sqlite.py EPISODES.jsonl DIR SINGLE BATCH
#
# EPISODES.jsonl holds the episodes as engram encodes them, ids set. The
# rows are built before the clock starts: only SQLite's work is timed.
# SINGLE episodes go in one transaction each (into DIR/single.db), then all
# of them BATCH per transaction (DIR/batch.db); then every document of
# batch.db is read back with a plain SELECT. Prints one JSON object.
import hashlib
import json
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
    fts_rowid INTEGER NOT NULL, doc TEXT NOT NULL, digest BLOB,
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
    PRIMARY KEY (namespace, episode_id),
    FOREIGN KEY (namespace, episode_id) REFERENCES episodes (namespace, episode_id) ON DELETE CASCADE);
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


def rows_of(ep):
    """The rows engram writes for one episode, as (sql, params) pairs."""
    eid = uuid.UUID(ep["episode_id"]).bytes
    steps = ep.get("steps") or []
    head = dict(ep)
    head["steps"] = []
    doc = json.dumps(head, separators=(",", ":"))
    out = []
    body = " ".join([ep.get("task_description", "")] + ep.get("tags", []))
    out.append(("INSERT INTO search_fts (body, kind, ref_id, step_number) VALUES (?, 'episode', ?, 0)", (body, ep["episode_id"])))
    ctx = ep.get("context", {})
    steps_bytes = 0
    step_rows = []
    for s in steps:
        sdoc = json.dumps(s, separators=(",", ":"))
        steps_bytes += len(sdoc)
        res = s.get("result") or {}
        step_rows.append((s, sdoc, " ".join([s.get("action", ""), res.get("output", ""), res.get("message", "")])))
    out.append(("INSERT INTO episodes (namespace, episode_id, task_type, domain, language, start_time, end_time, complete, "
                "created_at, updated_at, step_count, last_step, steps_bytes, fts_rowid, doc, digest) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [NS, eid, ep.get("task_type", ""), ctx.get("domain", ""), ctx.get("language", ""),
                 nanos(ep.get("start_time")), nanos(ep.get("end_time")), int(ep.get("outcome") is not None),
                 nanos(ep.get("created_at")), nanos(ep.get("updated_at")), len(steps),
                 steps[-1]["step_number"] if steps else 0, steps_bytes, FTS, doc,
                 hashlib.sha256(doc.encode()).digest()]))
    for s, sdoc, text in step_rows:
        out.append(("INSERT INTO search_fts (body, kind, ref_id, step_number) VALUES (?, 'step', ?, ?)",
                    (text, ep["episode_id"], s["step_number"])))
        out.append(("INSERT INTO steps (namespace, episode_id, step_number, tool, fts_rowid, doc, digest) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [NS, eid, s["step_number"], s.get("tool", ""), FTS, sdoc, hashlib.sha256(sdoc.encode()).digest()]))
    for t in sorted(set(ep.get("tags", []) + ctx.get("tags", []))):
        out.append(("INSERT INTO episode_tags (namespace, episode_id, tag) VALUES (?, ?, ?)", (NS, eid, t)))
    for k, v in sorted((ep.get("metadata") or {}).items()):
        out.append(("INSERT INTO episode_metadata (namespace, episode_id, key, value) VALUES (?, ?, ?, ?)", (NS, eid, k, v)))
    if ep.get("location"):
        loc = ep["location"]
        out.append(("INSERT INTO spatiotemporal_index (namespace, episode_id, t, lat, lon) VALUES (?, ?, ?, ?, ?)",
                    (NS, eid, nanos(ep.get("start_time")), loc["lat"], loc["lon"])))
    out.append(("INSERT INTO changes (namespace, kind, key, op, at) VALUES (?, 'episode', ?, 'put', ?)",
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
        eps = [json.loads(line) for line in f if line.strip()]
    rows = [rows_of(ep) for ep in eps]
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
    for table in ("episodes", "steps"):
        for (doc,) in db.execute("SELECT doc FROM " + table):
            n += len(doc) > 0
    out["select_seconds"] = time.perf_counter() - t0
    out["select_rows"] = n
    out["rows"] = {t: db.execute("SELECT count(*) FROM " + t).fetchone()[0]
                   for t in ("episodes", "steps", "episode_tags", "episode_metadata", "search_fts", "changes")}
    db.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
