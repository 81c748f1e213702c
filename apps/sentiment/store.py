"""SQLite store of items, mentions, topics, scores, alerts and the notification outbox.

WAL journal, one transaction per ingested batch (an item is stored with its mentions, topics and
score or not at all), and a schema version with forward migrations. Many writers: each thread has
a connection of its own (a transaction never takes in another thread's statements), and each
migration runs inside ``BEGIN IMMEDIATE`` with the version read again there, so that processes that
open a new database together apply each migration once.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["Store", "SCHEMA_VERSION"]

MIGRATIONS = [
    # 1: the first schema
    """
    CREATE TABLE items (
        uid TEXT PRIMARY KEY, title TEXT NOT NULL, summary TEXT NOT NULL, published REAL NOT NULL,
        source TEXT, url TEXT, origin TEXT, ingested_at REAL NOT NULL);
    CREATE INDEX items_published ON items(published);
    CREATE TABLE mentions (
        item_uid TEXT NOT NULL REFERENCES items(uid), entity TEXT NOT NULL, kind TEXT NOT NULL,
        on_watchlist INTEGER NOT NULL, PRIMARY KEY (item_uid, entity));
    CREATE INDEX mentions_entity ON mentions(entity);
    CREATE TABLE topics (
        item_uid TEXT NOT NULL REFERENCES items(uid), topic TEXT NOT NULL, similarity REAL NOT NULL,
        PRIMARY KEY (item_uid, topic));
    CREATE INDEX topics_topic ON topics(topic);
    CREATE TABLE scores (
        item_uid TEXT NOT NULL REFERENCES items(uid), model TEXT NOT NULL, label TEXT NOT NULL,
        p_negative REAL, p_neutral REAL, p_positive REAL, score REAL NOT NULL, scored_at REAL NOT NULL,
        PRIMARY KEY (item_uid, model));
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, scope TEXT NOT NULL, scope_key TEXT NOT NULL,
        severity TEXT NOT NULL, state TEXT NOT NULL, fired_at REAL NOT NULL, resolved_at REAL,
        value REAL, details TEXT);
    CREATE INDEX alerts_key ON alerts(rule, scope_key, state);
    CREATE TABLE outbox (
        alert_id INTEGER NOT NULL REFERENCES alerts(id), notifier TEXT NOT NULL, event TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, delivered_at REAL,
        PRIMARY KEY (alert_id, notifier, event));
    """,
    # 2: files of watched folders already read (name, size, mtime), so a restart does not re-read them
    """
    CREATE TABLE files_seen (path TEXT PRIMARY KEY, size INTEGER, mtime REAL, read_at REAL);
    """,
    # 3: which scores a cascade's stronger model made (its first model was unsure of the headline)
    """
    ALTER TABLE scores ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: the health of each source: last success, last error, items read, back-off after failures
    """
    CREATE TABLE sources (
        name TEXT PRIMARY KEY, last_success REAL, last_error TEXT, last_error_at REAL,
        failures INTEGER NOT NULL DEFAULT 0, items INTEGER NOT NULL DEFAULT 0, next_try REAL);
    """,
    # 5: an analyst's corrections of a headline's sentiment, and verdicts on alerts (who and when)
    """
    CREATE TABLE corrections (
        item_uid TEXT PRIMARY KEY REFERENCES items(uid), label TEXT NOT NULL, previous_label TEXT,
        model TEXT, analyst TEXT NOT NULL, corrected_at REAL NOT NULL);
    CREATE TABLE alert_verdicts (
        alert_id INTEGER PRIMARY KEY REFERENCES alerts(id), verdict TEXT NOT NULL, analyst TEXT NOT NULL,
        note TEXT, decided_at REAL NOT NULL);
    """,
    # 6: the records a source's last read skipped (how many, and the first with its place and reason)
    """
    ALTER TABLE sources ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sources ADD COLUMN first_skipped TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def ts(moment: dt.datetime) -> float:
    return moment.timestamp()


def from_ts(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            _retry_locked(lambda: connection.execute("PRAGMA journal_mode=WAL"))
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ schema
    def schema_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() if self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() else None
        return int(row["value"]) if row else 0

    def _migrate(self) -> None:
        """One migration per write transaction, the version read inside it: a second process waits
        for the first, then finds the migration done."""
        while True:
            with self.transaction():
                self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                current = self.schema_version()
                if current > SCHEMA_VERSION:
                    from core.errors import SuiteError

                    raise SuiteError(f"{self.path} has schema version {current}, newer than this ftsuite "
                                     f"({SCHEMA_VERSION}). Fix: upgrade ftsuite")
                if current == SCHEMA_VERSION:
                    return
                for statement in MIGRATIONS[current].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(current + 1),))

    def transaction(self):
        return _Transaction(self.db)

    # ------------------------------------------------------------------ items
    def known(self, uids: list[str]) -> set[str]:
        found = set()
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            rows = self.db.execute(f"SELECT uid FROM items WHERE uid IN ({','.join('?' * len(chunk))})", chunk)
            found.update(r["uid"] for r in rows)
        return found

    def add_batch(self, records: list[dict], model: str) -> int:
        """Store items with their mentions, topics and score in one transaction; returns new items."""
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        added = 0
        with self.transaction():
            for r in records:
                item = r["item"]
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO items VALUES (?,?,?,?,?,?,?,?)",
                    (item.uid, item.title, item.summary, ts(item.published), item.source, item.url, item.origin, now))
                if cur.rowcount == 0:
                    continue
                added += 1
                self.db.executemany("INSERT OR IGNORE INTO mentions VALUES (?,?,?,?)",
                                    [(item.uid, m.entity, m.kind, int(m.on_watchlist)) for m in r["mentions"]])
                self.db.executemany("INSERT OR IGNORE INTO topics VALUES (?,?,?)",
                                    [(item.uid, t, s) for t, s in r["topics"].items()])
                self._put_score(item.uid, model, r["sentiment"], now)
        return added

    def _put_score(self, uid: str, model: str, sentiment: dict, now: float) -> None:
        p = sentiment["scores"]
        self.db.execute("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?)",
                        (uid, model, sentiment["label"], p.get("negative"), p.get("neutral"), p.get("positive"),
                         sentiment["score"], now, int(sentiment.get("deferred", False))))

    def put_scores(self, model: str, scored: list[tuple[str, dict]]) -> None:
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        with self.transaction():
            for uid, sentiment in scored:
                self._put_score(uid, model, sentiment, now)

    def items_without_score(self, model: str, limit: int = 1000) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT i.* FROM items i WHERE NOT EXISTS (SELECT 1 FROM scores s WHERE s.item_uid=i.uid AND s.model=?) "
            "ORDER BY i.published LIMIT ?", (model, limit)).fetchall()

    def count(self, table: str = "items") -> int:
        assert table in ("items", "mentions", "topics", "scores", "alerts", "outbox", "corrections")
        return self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def latest(self, model: str, limit: int = 50, entity: str | None = None) -> list[dict]:
        where, args = "", [model]
        if entity:
            where = "AND i.uid IN (SELECT item_uid FROM mentions WHERE entity=?)"
            args.append(entity)
        rows = self.db.execute(
            f"SELECT i.*, s.label, s.score, s.deferred, "
            f"(SELECT group_concat(entity, ', ') FROM mentions m WHERE m.item_uid=i.uid) AS entities, "
            f"(SELECT group_concat(topic, ', ') FROM topics t WHERE t.item_uid=i.uid) AS topics "
            f"FROM items i LEFT JOIN scores s ON s.item_uid=i.uid AND s.model=? WHERE 1=1 {where} "
            f"ORDER BY i.published DESC LIMIT ?", (*args, limit)).fetchall()
        return [dict(r) for r in rows]

    def entities(self, watchlist_only: bool = False) -> list[tuple[str, int]]:
        rows = self.db.execute(
            "SELECT entity, COUNT(*) n FROM mentions " + ("WHERE on_watchlist=1 " if watchlist_only else "")
            + "GROUP BY entity ORDER BY n DESC").fetchall()
        return [(r["entity"], r["n"]) for r in rows]

    def scope_events(self, model: str, scope: str, key: str, start: float, end: float) -> list[tuple[float, str, float]]:
        """``(published, label, score)`` of the scored items of a scope in ``[start, end]``."""
        if scope == "entity":
            join, cond, args = "JOIN mentions m ON m.item_uid=i.uid", "AND m.entity=?", [key]
        elif scope == "topic":
            join, cond, args = "JOIN topics t ON t.item_uid=i.uid", "AND t.topic=?", [key]
        else:
            join, cond, args = "", "", []
        rows = self.db.execute(
            f"SELECT i.published, s.label, s.score FROM items i {join} "
            f"JOIN scores s ON s.item_uid=i.uid AND s.model=? WHERE i.published BETWEEN ? AND ? {cond} "
            f"ORDER BY i.published", (model, start, end, *args)).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def time_range(self) -> tuple[float, float] | None:
        row = self.db.execute("SELECT MIN(published), MAX(published) FROM items").fetchone()
        return (row[0], row[1]) if row[0] is not None else None

    # ------------------------------------------------------------------ alerts
    def open_alert(self, rule: str, key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM alerts WHERE rule=? AND scope_key=? AND state='firing'",
                               (rule, key)).fetchone()

    def last_alert(self, rule: str, key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM alerts WHERE rule=? AND scope_key=? ORDER BY fired_at DESC LIMIT 1",
                               (rule, key)).fetchone()

    def fire(self, rule: str, scope: str, key: str, severity: str, at: float, value: float, details: dict,
             notifiers: list[str]) -> int:
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO alerts (rule, scope, scope_key, severity, state, fired_at, value, details) "
                "VALUES (?,?,?,?, 'firing', ?,?,?)", (rule, scope, key, severity, at, value, json.dumps(details)))
            alert_id = cur.lastrowid
            self.db.executemany("INSERT OR IGNORE INTO outbox (alert_id, notifier, event) VALUES (?,?, 'fired')",
                                [(alert_id, n) for n in notifiers])
        return alert_id

    def resolve(self, alert_id: int, at: float, notifiers: list[str]) -> None:
        with self.transaction():
            self.db.execute("UPDATE alerts SET state='resolved', resolved_at=? WHERE id=?", (at, alert_id))
            self.db.executemany("INSERT OR IGNORE INTO outbox (alert_id, notifier, event) VALUES (?,?, 'resolved')",
                                [(alert_id, n) for n in notifiers])

    def firing(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM alerts WHERE state='firing'").fetchall()

    def alerts(self, limit: int = 200) -> list[dict]:
        rows = self.db.execute("SELECT a.*, v.verdict, v.analyst AS judged_by FROM alerts a "
                               "LEFT JOIN alert_verdicts v ON v.alert_id=a.id ORDER BY a.fired_at DESC LIMIT ?",
                               (limit,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["details"] = json.loads(d["details"] or "{}")
            out.append(d)
        return out

    def pending_deliveries(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT o.*, a.rule, a.scope, a.scope_key, a.severity, a.state, a.fired_at, a.resolved_at, a.value, "
            "a.details FROM outbox o JOIN alerts a ON a.id=o.alert_id WHERE o.delivered_at IS NULL "
            "ORDER BY o.alert_id").fetchall()

    def mark_delivery(self, alert_id: int, notifier: str, event: str, error: str | None) -> None:
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        with self.transaction():
            if error is None:
                self.db.execute("UPDATE outbox SET delivered_at=?, attempts=attempts+1, last_error=NULL "
                                "WHERE alert_id=? AND notifier=? AND event=?", (now, alert_id, notifier, event))
            else:
                self.db.execute("UPDATE outbox SET attempts=attempts+1, last_error=? "
                                "WHERE alert_id=? AND notifier=? AND event=?", (error[:500], alert_id, notifier, event))

    def clear_alerts(self) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM outbox")
            self.db.execute("DELETE FROM alerts")

    # ------------------------------------------------------------------ watched folders
    def file_seen(self, path: str, size: int, mtime: float) -> bool:
        row = self.db.execute("SELECT size, mtime FROM files_seen WHERE path=?", (path,)).fetchone()
        return row is not None and row["size"] == size and row["mtime"] == mtime

    def mark_file(self, path: str, size: int, mtime: float) -> None:
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO files_seen VALUES (?,?,?,?)", (path, size, mtime, now))

    # ------------------------------------------------------------------ an analyst's corrections
    def find_item(self, key: str) -> sqlite3.Row | None:
        """An item by uid, by url, or by a uid prefix that names exactly one item."""
        row = self.db.execute("SELECT * FROM items WHERE uid=? OR url=? LIMIT 1", (key, key)).fetchone()
        if row is not None or len(key) < 6:
            return row
        rows = self.db.execute("SELECT * FROM items WHERE uid LIKE ? ESCAPE '\\' LIMIT 2",
                               (key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",)).fetchall()
        return rows[0] if len(rows) == 1 else None

    def correct(self, uid: str, label: str, analyst: str, model: str, previous: str | None) -> None:
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO corrections VALUES (?,?,?,?,?,?)",
                            (uid, label, previous, model, analyst, now))

    def corrections(self) -> list[dict]:
        rows = self.db.execute("SELECT c.*, i.title, i.summary FROM corrections c JOIN items i ON i.uid=c.item_uid "
                               "ORDER BY c.corrected_at, c.item_uid").fetchall()
        return [dict(r) for r in rows]

    def uncertain(self, model: str, limit: int = 20, scan: int = 5000) -> list[dict]:
        """Stored items the model is least sure of (smallest margin between its two likeliest labels),
        newest first among the ``scan`` most recent, leaving out the corrected ones."""
        rows = self.db.execute(
            "SELECT i.uid, i.title, i.summary, i.published, i.source, s.label, s.score, s.p_negative, s.p_neutral, "
            "s.p_positive FROM items i JOIN scores s ON s.item_uid=i.uid AND s.model=? "
            "WHERE NOT EXISTS (SELECT 1 FROM corrections c WHERE c.item_uid=i.uid) "
            "ORDER BY i.published DESC LIMIT ?", (model, scan)).fetchall()
        out = []
        for r in rows:
            probs = sorted((p for p in (r["p_negative"], r["p_neutral"], r["p_positive"]) if p is not None),
                           reverse=True)
            margin = probs[0] - probs[1] if len(probs) > 1 else 1.0
            out.append({**dict(r), "margin": round(margin, 4)})
        out.sort(key=lambda d: (d["margin"], -d["published"]))
        return out[:limit]

    def judge_alert(self, alert_id: int, verdict: str, analyst: str, note: str = "") -> None:
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO alert_verdicts VALUES (?,?,?,?,?)",
                            (alert_id, verdict, analyst, note, now))

    def alert(self, alert_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()

    # ------------------------------------------------------------------ sources
    def source_succeeded(self, name: str, items: int, skipped: int = 0, first_skipped: str | None = None) -> None:
        """Record a read of ``name`` that gave ``items`` items and skipped ``skipped`` bad records
        (``first_skipped``: the first of those, its place and reason)."""
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        with self.transaction():
            self.db.execute("INSERT INTO sources (name, last_success, items, failures, skipped, first_skipped) "
                            "VALUES (?,?,?,0,?,?) ON CONFLICT(name) DO UPDATE SET last_success=excluded.last_success, "
                            "items=items+excluded.items, failures=0, next_try=NULL, skipped=excluded.skipped, "
                            "first_skipped=excluded.first_skipped",
                            (name, now, items, skipped, first_skipped[:500] if first_skipped else None))

    def source_failed(self, name: str, error: str, base_delay: float, max_delay: float = 3600.0) -> float:
        """Record a failure; the source is next tried after ``base_delay * 2**(failures - 1)``
        seconds (at most ``max_delay``). Returns that delay."""
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        with self.transaction():
            row = self.db.execute("SELECT failures FROM sources WHERE name=?", (name,)).fetchone()
            failures = (row["failures"] if row else 0) + 1
            delay = min(max(base_delay, 1.0) * 2 ** (failures - 1), max_delay)
            self.db.execute("INSERT INTO sources (name, last_error, last_error_at, failures, next_try) "
                            "VALUES (?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET last_error=excluded.last_error, "
                            "last_error_at=excluded.last_error_at, failures=excluded.failures, "
                            "next_try=excluded.next_try, skipped=0, first_skipped=NULL",
                            (name, error[:500], now, failures, now + delay))
        return delay

    def source_due(self, name: str, now: float | None = None) -> bool:
        now = dt.datetime.now(dt.timezone.utc).timestamp() if now is None else now
        row = self.db.execute("SELECT next_try FROM sources WHERE name=?", (name,)).fetchone()
        return row is None or row["next_try"] is None or row["next_try"] <= now

    def sources(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM sources ORDER BY name")]


def _retry_locked(call, seconds: float = 30.0):
    """Run ``call``, retrying while another process holds the database (a new database switching to
    WAL does not wait on the busy timeout)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception; nests as a no-op."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.outer = False

    def __enter__(self):
        if not self.db.in_transaction:
            _retry_locked(lambda: self.db.execute("BEGIN IMMEDIATE"))
            self.outer = True
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if self.outer:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
