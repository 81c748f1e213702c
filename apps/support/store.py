"""Conversations, answers, feedback and hand-off tickets in SQLite (beside the knowledge base)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from core.errors import SuiteError

__all__ = ["ConversationStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL,
    role TEXT NOT NULL, text TEXT NOT NULL, query TEXT, answer_id TEXT, at REAL);
CREATE INDEX IF NOT EXISTS turns_conversation ON turns(conversation_id);
CREATE TABLE IF NOT EXISTS answers (answer_id TEXT PRIMARY KEY, conversation_id TEXT, question TEXT, query TEXT,
    text TEXT, intent TEXT, confidence REAL, kind TEXT, sources TEXT, at REAL);
CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL,
    helpful INTEGER NOT NULL, at REAL);
CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT, reason TEXT,
    intent TEXT, transcript TEXT, sources TEXT, status TEXT, created_at REAL);
"""


def open_sqlite(path: Path, schema: str, damaged: str) -> sqlite3.Connection:
    """A WAL-mode connection shared by the bot's threads, with ``schema`` applied; a damaged file is a
    :class:`SuiteError` whose message starts with ``damaged`` (what it is and the fix)."""
    try:
        db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
        return db
    except sqlite3.DatabaseError as exc:
        raise SuiteError(damaged.format(path=path, exc=exc)) from exc


class ConversationStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = open_sqlite(self.path, _SCHEMA, "the conversation store {path} is damaged ({exc}). Fix: move it "
                                                  "away; tickets and feedback in it are lost, the knowledge base is not")
        with self._lock, self.db:  # stores from before ticket resolution gain its columns
            have = {r["name"] for r in self.db.execute("PRAGMA table_info(tickets)")}
            for column, kind in (("resolution", "TEXT"), ("resolved_at", "REAL")):
                if column not in have:
                    self.db.execute(f"ALTER TABLE tickets ADD COLUMN {column} {kind}")

    # ------------------------------------------------------------------ turns
    def add_turn(self, conversation_id: str, role: str, text: str, query: str | None = None,
                 answer_id: str | None = None) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT INTO turns(conversation_id, role, text, query, answer_id, at) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (conversation_id, role, text, query, answer_id, time.time()))

    def history(self, conversation_id: str, limit: int = 50) -> list[dict]:
        rows = self.db.execute("SELECT role, text, query, answer_id, at FROM turns WHERE conversation_id = ? "
                               "ORDER BY id DESC LIMIT ?", (conversation_id, limit)).fetchall()
        return [dict(r) for r in reversed(rows)]

    # ------------------------------------------------------------------ answers and feedback
    def add_answer(self, answer, question: str, query: str) -> None:
        with self._lock, self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (answer.answer_id, answer.conversation_id, question, query, answer.text, answer.intent,
                 float(answer.confidence), answer.kind, json.dumps([s.to_dict() for s in answer.sources]),
                 time.time()))

    def answer(self, answer_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM answers WHERE answer_id = ?", (answer_id,)).fetchone()
        return dict(row) if row else None

    def add_feedback(self, answer_id: str, helpful: bool) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT INTO feedback(answer_id, helpful, at) VALUES (?, ?, ?)",
                            (answer_id, int(bool(helpful)), time.time()))

    def feedback(self) -> list[dict]:
        rows = self.db.execute("SELECT f.answer_id, f.helpful, f.at, a.query, a.sources, a.kind FROM feedback f "
                               "JOIN answers a USING (answer_id) ORDER BY f.id")
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ tickets
    def add_ticket(self, conversation_id: str, reason: str, intent: str | None, transcript: list[dict],
                   sources: list[dict]) -> int:
        with self._lock, self.db:
            cursor = self.db.execute(
                "INSERT INTO tickets(conversation_id, reason, intent, transcript, sources, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'open', ?)",
                (conversation_id, reason, intent, json.dumps(transcript), json.dumps(sources), time.time()))
            return int(cursor.lastrowid)

    def resolve_ticket(self, ticket_id: int, document: str) -> bool:
        """Mark a ticket resolved by ``document`` (the knowledge base's key of what answered the customer)."""
        with self._lock, self.db:
            cursor = self.db.execute("UPDATE tickets SET status = 'resolved', resolution = ?, resolved_at = ? "
                                     "WHERE id = ?", (document, time.time(), int(ticket_id)))
            return cursor.rowcount == 1

    def tickets(self) -> list[dict]:
        rows = self.db.execute("SELECT * FROM tickets ORDER BY id")
        out = []
        for r in rows:
            row = dict(r)
            row["transcript"] = json.loads(row["transcript"] or "[]")
            row["sources"] = json.loads(row["sources"] or "[]")
            out.append(row)
        return out

    def counts(self) -> dict:
        one = lambda sql: int(self.db.execute(sql).fetchone()[0])  # noqa: E731
        return {"conversations": one("SELECT COUNT(DISTINCT conversation_id) FROM turns"),
                "answers": one("SELECT COUNT(*) FROM answers"), "feedback": one("SELECT COUNT(*) FROM feedback"),
                "tickets": one("SELECT COUNT(*) FROM tickets")}
