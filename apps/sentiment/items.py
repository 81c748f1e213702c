"""News items and the readers that produce them: RSS / Atom, JSONL, CSV, and folders of those.

A reader never stops on a bad entry: it yields :class:`Skipped` with the reason and the place, and
the caller logs it. Only ``http``, ``https`` and local files are read.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import json
import logging
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from core.errors import DataError

__all__ = ["Item", "Skipped", "read_source", "normalise", "parse_time", "item_uid", "FEED_SUFFIXES"]

log = logging.getLogger("ftsuite.sentiment")

FEED_SUFFIXES = (".xml", ".rss", ".atom", ".jsonl", ".ndjson", ".csv")
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
MAX_BYTES = 20_000_000  # a feed larger than this is refused rather than read into memory


@dataclass
class Item:
    """One news item, times in UTC. ``uid`` is the url, else a hash of the normalised text."""

    title: str
    summary: str
    published: dt.datetime
    source: str = ""
    url: str = ""
    uid: str = ""
    origin: str = ""  # where it was read from (file:line or url), for messages

    def __post_init__(self):
        if not self.uid:
            self.uid = item_uid(self.url, self.title, self.summary)

    @property
    def text(self) -> str:
        """What the models read: the headline, then the body."""
        return f"{self.title}. {self.summary}".strip(" .") if self.summary else self.title


@dataclass
class Skipped:
    origin: str
    reason: str


def normalise(text: str) -> str:
    """Plain text from feed markup: tags dropped, entities decoded, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text or ""))).strip()


def item_uid(url: str, title: str, summary: str) -> str:
    if url:
        return "url:" + url.strip()
    key = " ".join(f"{title} {summary}".lower().split())
    return "sha1:" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def parse_time(value) -> dt.datetime:
    """An aware UTC datetime from ISO-8601 text, epoch seconds or a struct_time; naive means UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)
    elif hasattr(value, "tm_year"):
        moment = dt.datetime(*value[:6], tzinfo=dt.timezone.utc)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00") if value.strip().endswith("Z") else value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                moment = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                raise ValueError(f"unreadable time {value!r} (use ISO-8601, e.g. 2026-10-03T08:15:00Z)") from None
    else:
        raise ValueError("no published time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _fetch(source: str, timeout: float = 20.0) -> tuple[bytes, str]:
    """The bytes of a source and a label for messages. Refuses schemes other than http(s)/file."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        request = urllib.request.Request(source, headers={"User-Agent": "ftsuite-monitor/0.1"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            return response.read(MAX_BYTES + 1)[:MAX_BYTES + 1], source
    if parsed.scheme == "file":
        source = urllib.request.url2pathname(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise DataError(f"source {source!r}: only http, https and file sources are read",
                        fix="give a feed URL, a file or a folder")
    path = Path(source)
    if not path.exists():
        raise DataError([(str(path), None, None, "source not found")], fix="check the path or URL")
    if path.stat().st_size > MAX_BYTES:
        raise DataError([(str(path), None, None, f"larger than {MAX_BYTES} bytes")], fix="split the file")
    return path.read_bytes(), str(path)


def read_source(source: str | Path, default_source: str = "") -> Iterator[Item | Skipped]:
    """Items from one source: a feed URL, a feed / JSONL / CSV file, or a folder of such files."""
    path = Path(str(source))
    if path.is_dir():
        for child in sorted(p for p in path.iterdir() if p.suffix.lower() in FEED_SUFFIXES):
            yield from read_source(child, default_source)
        return
    data, label = _fetch(str(source))
    suffix = Path(urllib.parse.urlparse(str(source)).path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        yield from _read_jsonl(data, label, default_source)
    elif suffix == ".csv":
        yield from _read_csv(data, label, default_source)
    else:
        yield from _read_feed(data, label, default_source)


def _from_record(record: dict, origin: str, default_source: str) -> Item | Skipped:
    title = record.get("title")
    if not isinstance(title, str) or not normalise(title):
        return Skipped(origin, "no title")
    body = record.get("body") or record.get("summary") or record.get("description") or ""
    if not isinstance(body, str):
        return Skipped(origin, f"body is {type(body).__name__}, expected text")
    when = record.get("published") or record.get("time") or record.get("date")
    try:
        published = parse_time(when)
    except ValueError as exc:
        return Skipped(origin, str(exc))
    url = record.get("url") or record.get("link") or ""
    if url and urllib.parse.urlparse(str(url)).scheme not in ("http", "https"):
        url = ""  # a javascript: or data: link is never kept, let alone shown
    return Item(title=normalise(title), summary=normalise(body), published=published,
                source=normalise(str(record.get("source") or default_source)), url=str(url).strip(),
                origin=origin)


def _read_jsonl(data: bytes, label: str, default_source: str):
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{label}:{number}"
        try:
            record = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            yield Skipped(origin, "not UTF-8")
            continue
        except json.JSONDecodeError as exc:
            yield Skipped(origin, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            yield Skipped(origin, "expected a JSON object")
            continue
        yield _from_record(record, origin, default_source)


def _read_csv(data: bytes, label: str, default_source: str):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Skipped(label, f"not UTF-8 (byte {exc.start}); save the file as UTF-8")
        return
    reader = csv.DictReader(io.StringIO(text))
    if "title" not in (reader.fieldnames or []):
        yield Skipped(label, f"no 'title' column (columns: {reader.fieldnames})")
        return
    for record in reader:
        yield _from_record(record, f"{label}:{reader.line_num}", default_source)


def _read_feed(data: bytes, label: str, default_source: str):
    import feedparser

    parsed = feedparser.parse(io.BytesIO(data))  # bytes, so feedparser itself never opens anything
    if not parsed.entries:
        reason = f"not a readable RSS/Atom feed ({parsed.get('bozo_exception', 'no entries')})"
        yield Skipped(label, reason)
        return
    feed_title = normalise(parsed.feed.get("title", "")) or default_source
    for number, entry in enumerate(parsed.entries, start=1):
        when = entry.get("published_parsed") or entry.get("updated_parsed") or entry.get("published")
        record = {"title": entry.get("title"), "summary": entry.get("summary", ""), "published": when,
                  "url": entry.get("link", ""), "source": feed_title}
        yield _from_record(record, f"{label}#entry{number}", default_source)
