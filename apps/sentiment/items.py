"""News items and the readers that produce them: RSS / Atom, JSONL, CSV, and folders of those.

A reader never stops on a bad entry: it yields :class:`Skipped` with the reason and the place, and
the caller logs it; a bad file of a folder is skipped the same way. Only ``http``, ``https`` and
local regular files are read, through the fence of :mod:`apps.sentiment.fetch`.
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

from .fetch import FetchPolicy, failure_reason, fetch_url, read_local, redact

__all__ = ["Item", "Skipped", "read_source", "normalise", "parse_time", "item_uid", "FEED_SUFFIXES"]

log = logging.getLogger("ftsuite.sentiment")

FEED_SUFFIXES = (".xml", ".rss", ".atom", ".jsonl", ".ndjson", ".csv")
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
MAX_BYTES = FetchPolicy.max_bytes  # a feed larger than this is refused rather than read into memory
MAX_TITLE = 2_000  # characters; a longer "headline" is a broken record, not news
MAX_BODY = 200_000


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


def _fetch(source: str, policy: FetchPolicy) -> tuple[bytes, str]:
    """The bytes of a source and a label for messages. Refuses schemes other than http(s)/file."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        return fetch_url(source, policy), redact(source)
    if parsed.scheme == "file":
        source = urllib.request.url2pathname(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise DataError(f"source {redact(source)!r}: only http, https and file sources are read",
                        fix="give a feed URL, a file or a folder")
    return read_local(source, policy), str(source)


def read_source(source: str | Path, default_source: str = "",
                policy: FetchPolicy | None = None) -> Iterator[Item | Skipped]:
    """Items from one source: a feed URL, a feed / JSONL / CSV file, or a folder of such files.
    A source that cannot be read at all raises (the caller guards each source); a bad file inside a
    folder, and every bad record, is yielded as :class:`Skipped`."""
    policy = policy or FetchPolicy()
    path = Path(str(source))
    if path.is_dir():
        for child in sorted(p for p in path.iterdir() if p.suffix.lower() in FEED_SUFFIXES):
            try:
                yield from read_source(child, default_source, policy)
            except Exception as exc:  # noqa: BLE001 - one bad file never stops its folder
                yield Skipped(str(child), failure_reason(exc))
        return
    data, label = _fetch(str(source), policy)
    suffix = Path(urllib.parse.urlparse(str(source)).path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        yield from _read_jsonl(data, label, default_source)
    elif suffix == ".csv":
        yield from _read_csv(data, label, default_source)
    else:
        yield from _read_feed(data, label, default_source)


def _from_record(record: dict, origin: str, default_source: str) -> Item | Skipped:
    try:
        return _record_item(record, origin, default_source)
    except Exception as exc:  # noqa: BLE001 - one bad record never stops its source
        return Skipped(origin, f"unreadable record ({failure_reason(exc)})")


def _record_item(record: dict, origin: str, default_source: str) -> Item | Skipped:
    title = record.get("title")
    if not isinstance(title, str) or not normalise(title):
        return Skipped(origin, "no title")
    body = record.get("body") or record.get("summary") or record.get("description") or ""
    if not isinstance(body, str):
        return Skipped(origin, f"body is {type(body).__name__}, expected text")
    if len(title) > MAX_TITLE or len(body) > MAX_BODY:
        return Skipped(origin, f"title over {MAX_TITLE} or body over {MAX_BODY} characters")
    when = record.get("published") or record.get("time") or record.get("date")
    try:
        published = parse_time(when)
    except (ValueError, OverflowError, OSError) as exc:  # epoch seconds out of range raise the latter two
        return Skipped(origin, f"unreadable time {when!r} ({exc})" if not isinstance(exc, ValueError) else str(exc))
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
    # the csv module's field limit (128 KB) would stop the whole file at one long field: read fields
    # up to the file's own size and let the record check refuse what is too long
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.DictReader(io.StringIO(text))
    try:
        if "title" not in (reader.fieldnames or []):
            yield Skipped(label, f"no 'title' column (columns: {reader.fieldnames})")
            return
        for record in reader:
            yield _from_record(record, f"{label}:{reader.line_num}", default_source)
    except csv.Error as exc:  # broken quoting: what was read so far stands, the rest is reported
        yield Skipped(f"{label}:{reader.line_num}", f"CSV cannot be read past this line ({exc})")


def _read_feed(data: bytes, label: str, default_source: str):
    import feedparser

    parsed = feedparser.parse(io.BytesIO(data))  # bytes, so feedparser itself never opens anything
    if not parsed.entries:
        if parsed.get("version") and not parsed.get("bozo"):
            return  # a well-formed feed with nothing in it yet
        # the whole source is unreadable (broken XML, an error page): a failure of the source, which
        # then backs off and shows in status, not a skipped record of a source that was read
        raise DataError(f"{label}: not a readable RSS/Atom feed ({parsed.get('bozo_exception', 'no entries')})",
                        fix="check the URL; it should serve RSS or Atom")
    feed_title = normalise(parsed.feed.get("title", "")) or default_source
    for number, entry in enumerate(parsed.entries, start=1):
        when = entry.get("published_parsed") or entry.get("updated_parsed") or entry.get("published")
        record = {"title": entry.get("title"), "summary": entry.get("summary", ""), "published": when,
                  "url": entry.get("link", ""), "source": feed_title}
        yield _from_record(record, f"{label}#entry{number}", default_source)
