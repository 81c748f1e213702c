"""Item catalogues and interactions: the documented CSV format and two MovieLens recipes.

Documented CSV format (UTF-8, header row, comma separated):

``items.csv``
    ``item_id`` (required, unique), ``title`` (required), and optional ``year`` (integer),
    ``genres`` and ``tags`` (``|``-separated lists), ``description`` (free text).

``interactions.csv``
    ``user_id``, ``item_id``, ``timestamp`` (integer seconds; orders each user's history) and an
    optional ``rating`` (a number in the configured range; absent or empty = implicit, counted
    as a positive).

Bad rows are reported with file, line and column: an interaction naming an item missing from the
catalogue is skipped and listed in the :class:`LoadReport`; a duplicate (user, item) pair, a
rating outside the range, a missing id or a bad number is a :class:`core.errors.DataError`.
Item text (what the text models read) is built from title, year, genres, tags and description.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import ftsuite_home
from core.errors import DataError

__all__ = ["Catalogue", "Interactions", "LoadReport", "load_catalogue", "load_interactions", "load_csv_dataset",
           "load_ml100k", "load_ml_latest_small", "load_dataset", "SAMPLE_DIR", "DATASETS"]

SAMPLE_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "samples" / "recommender"
DATASETS = ("sample", "ml-100k", "ml-latest-small")
_YEAR_IN_TITLE = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


@dataclass
class Catalogue:
    """Items by position ``0..n-1``; ``ids`` are the external (string) ids."""

    ids: list[str]
    titles: list[str]
    years: list[int | None]
    genres: list[list[str]]
    tags: list[list[str]] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)

    def __post_init__(self):
        n = len(self.ids)
        self.tags = self.tags or [[] for _ in range(n)]
        self.descriptions = self.descriptions or ["" for _ in range(n)]
        self.index = {item_id: i for i, item_id in enumerate(self.ids)}
        self._by_title: dict[str, list[int]] = {}
        for i, title in enumerate(self.titles):
            self._by_title.setdefault(title.casefold(), []).append(i)
            if self.years[i]:
                self._by_title.setdefault(f"{title} ({self.years[i]})".casefold(), []).append(i)

    def __len__(self) -> int:
        return len(self.ids)

    def label(self, i: int) -> str:
        return f"{self.titles[i]} ({self.years[i]})" if self.years[i] else self.titles[i]

    def text(self, i: int, max_tags: int = 8) -> str:
        """What the text models read: ``Title (year). Genres: a, b. Tags: x, y. description``."""
        parts = [self.label(i) + "."]
        if self.genres[i]:
            parts.append("Genres: " + ", ".join(self.genres[i]) + ".")
        if self.tags[i]:
            parts.append("Tags: " + ", ".join(self.tags[i][:max_tags]) + ".")
        if self.descriptions[i]:
            parts.append(self.descriptions[i])
        return " ".join(parts)

    def texts(self) -> list[str]:
        return [self.text(i) for i in range(len(self))]

    def find(self, query) -> int | None:
        """An item by id, ``Title``, or ``Title (year)`` (case-insensitive); None when unknown.
        A title shared by several items gives the first (the lowest position)."""
        key = str(query).strip()
        if key in self.index:
            return self.index[key]
        hits = self._by_title.get(key.casefold())
        return hits[0] if hits else None

    def search_titles(self, text: str, limit: int = 5) -> list[int]:
        """Items whose title contains ``text`` (case-insensitive): suggestions for an unknown title."""
        needle = text.strip().casefold()
        if not needle:
            return []
        return [i for i, t in enumerate(self.titles) if needle in t.casefold()][:limit]


@dataclass
class Interactions:
    """One row per (user, item): positions into ``user_ids`` and the catalogue."""

    user_ids: list[str]
    users: np.ndarray       # (N,) int64
    items: np.ndarray       # (N,) int64
    ratings: np.ndarray     # (N,) float32; implicit rows carry the positive threshold
    timestamps: np.ndarray  # (N,) int64

    def __post_init__(self):
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)


@dataclass
class LoadReport:
    """What loading skipped and why (file, line, message), kept for the CLI and the demo."""

    skipped: list[tuple[str, int | None, str]] = field(default_factory=list)

    def add(self, file, line, message):
        self.skipped.append((str(file), line, message))

    def summary(self, limit: int = 5) -> str:
        if not self.skipped:
            return "no rows skipped"
        shown = [f"{f}:{l}: {m}" if l else f"{f}: {m}" for f, l, m in self.skipped[:limit]]
        more = len(self.skipped) - limit
        return f"{len(self.skipped)} row(s) skipped:\n  " + "\n  ".join(shown) + (
            f"\n  ... and {more} more" if more > 0 else "")


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split("|") if v.strip()]


def _open_csv(path: Path, required: tuple[str, ...]):
    if not path.is_file():
        raise DataError([(str(path), None, None, "file not found")], fix="pass an existing CSV file")
    handle = open(path, newline="", encoding="utf-8")
    reader = csv.DictReader(handle)
    columns = reader.fieldnames or []
    missing = [c for c in required if c not in columns]
    if missing:
        handle.close()
        raise DataError([(str(path), 1, c, "missing column") for c in missing],
                        fix=f"the header must name {', '.join(required)} (found: {', '.join(columns) or 'nothing'})")
    return handle, reader


def load_catalogue(path: str | Path) -> Catalogue:
    """Read ``items.csv`` (see the module docstring); every problem is reported at once."""
    path = Path(path)
    handle, reader = _open_csv(path, ("item_id", "title"))
    ids, titles, years, genres, tags, descs, problems = [], [], [], [], [], [], []
    seen: dict[str, int] = {}
    with handle:
        for line, row in enumerate(reader, start=2):
            item_id = (row.get("item_id") or "").strip()
            title = (row.get("title") or "").strip()
            if not item_id:
                problems.append((str(path), line, "item_id", "empty item id"))
                continue
            if item_id in seen:
                problems.append((str(path), line, "item_id", f"duplicate item id {item_id!r} (first on line "
                                                             f"{seen[item_id]})"))
                continue
            if not title:
                problems.append((str(path), line, "title", f"item {item_id!r} has an empty title"))
                continue
            year_text = (row.get("year") or "").strip()
            year = None
            if year_text:
                if not year_text.isdigit():
                    problems.append((str(path), line, "year", f"year {year_text!r} is not an integer"))
                    continue
                year = int(year_text)
            seen[item_id] = line
            ids.append(item_id)
            titles.append(title)
            years.append(year)
            genres.append(_split_list(row.get("genres", "")))
            tags.append(_split_list(row.get("tags", "")))
            descs.append((row.get("description") or "").strip())
    if problems:
        raise DataError(problems, fix="correct or remove these rows of the item catalogue")
    if not ids:
        raise DataError([(str(path), None, None, "the catalogue has no items")], fix="add one item per row")
    return Catalogue(ids, titles, years, genres, tags, descs)


def _build_interactions(rows, catalogue: Catalogue, path: Path, rating_range: tuple[float, float],
                        implicit_rating: float, report: LoadReport) -> Interactions:
    """``rows``: iterable of ``(line, user, item, rating_text, timestamp_text)``."""
    low, high = rating_range
    problems = []
    user_index: dict[str, int] = {}
    users, items, ratings, stamps = [], [], [], []
    first_line: dict[tuple[int, int], int] = {}
    for line, user, item, rating_text, stamp_text in rows:
        user, item = str(user).strip(), str(item).strip()
        if not user or not item:
            problems.append((str(path), line, "user_id" if not user else "item_id", "empty id"))
            continue
        if item not in catalogue.index:
            report.add(path, line, f"item {item!r} is not in the catalogue (interaction of user {user!r} skipped)")
            continue
        try:
            stamp = int(float(stamp_text))
        except (TypeError, ValueError):
            problems.append((str(path), line, "timestamp", f"timestamp {stamp_text!r} is not a number"))
            continue
        rating_text = "" if rating_text is None else str(rating_text).strip()
        if rating_text:
            try:
                rating = float(rating_text)
            except ValueError:
                problems.append((str(path), line, "rating", f"rating {rating_text!r} is not a number"))
                continue
            if not (low <= rating <= high) or rating != rating:
                problems.append((str(path), line, "rating", f"rating {rating_text} is outside {low:g}..{high:g}"))
                continue
        else:
            rating = implicit_rating
        u = user_index.setdefault(user, len(user_index))
        i = catalogue.index[item]
        if (u, i) in first_line:
            problems.append((str(path), line, "item_id", f"duplicate interaction of user {user!r} with item "
                                                        f"{item!r} (first on line {first_line[(u, i)]})"))
            continue
        first_line[(u, i)] = line
        users.append(u)
        items.append(i)
        ratings.append(rating)
        stamps.append(stamp)
    if problems:
        raise DataError(problems, fix="keep one row per user and item, ratings within the configured range, "
                                      "integer timestamps")
    if not users:
        raise DataError([(str(path), None, None, "no usable interactions (every row was skipped or the file is "
                                                  "empty)")], fix="check that item ids match the catalogue")
    return Interactions(list(user_index), np.asarray(users, np.int64), np.asarray(items, np.int64),
                        np.asarray(ratings, np.float32), np.asarray(stamps, np.int64))


def load_interactions(path: str | Path, catalogue: Catalogue, rating_range=(0.5, 5.0), implicit_rating=5.0,
                      report: LoadReport | None = None) -> Interactions:
    """Read ``interactions.csv`` (see the module docstring) against a catalogue."""
    path = Path(path)
    handle, reader = _open_csv(path, ("user_id", "item_id", "timestamp"))
    with handle:
        rows = [(line, r.get("user_id") or "", r.get("item_id") or "", r.get("rating"), r.get("timestamp"))
                for line, r in enumerate(reader, start=2)]
    return _build_interactions(rows, catalogue, path, rating_range, implicit_rating,
                               report if report is not None else LoadReport())


def load_csv_dataset(items: str | Path, interactions: str | Path, rating_range=(0.5, 5.0)):
    report = LoadReport()
    catalogue = load_catalogue(items)
    return catalogue, load_interactions(interactions, catalogue, rating_range, report=report), report


# --------------------------------------------------------------------------- recipes


def load_ml100k(folder: str | Path | None = None):
    """MovieLens-100K from the files ``ftsuite data fetch ml-100k`` puts in FTSUITE_HOME/data/ml-100k."""
    folder = Path(folder) if folder else ftsuite_home() / "data" / "ml-100k"
    item_file, inter_file = folder / "ml-100k.item", folder / "ml-100k.inter"
    if not item_file.is_file() or not inter_file.is_file():
        raise DataError([(str(folder), None, None, "MovieLens-100K is not there")],
                        fix="run: ftsuite data fetch ml-100k")
    ids, titles, years, genres = [], [], [], []
    with open(item_file, encoding="utf-8", errors="replace") as handle:
        next(handle)
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            ids.append(parts[0])
            titles.append(parts[1].strip())
            years.append(int(parts[2]) if parts[2].strip().isdigit() else None)
            genres.append([g.replace("_", " ") for g in parts[3].split()])
    catalogue = Catalogue(ids, titles, years, genres)
    with open(inter_file, encoding="utf-8") as handle:
        next(handle)
        rows = [(n, *line.rstrip("\n").split("\t")) for n, line in enumerate(handle, start=2)]
    report = LoadReport()
    return catalogue, _build_interactions(rows, catalogue, inter_file, (1.0, 5.0), 5.0, report), report


def load_ml_latest_small(folder: str | Path):
    """ml-latest-small (movies.csv with ``Title (year)``, genres, and the free-text tags.csv)."""
    folder = Path(folder)
    movies, ratings, tags_file = folder / "movies.csv", folder / "ratings.csv", folder / "tags.csv"
    if not movies.is_file() or not ratings.is_file():
        raise DataError([(str(folder), None, None, "movies.csv or ratings.csv missing")],
                        fix="point to the ml-latest-small folder (e.g. ../shared/data/movielens-latest-small)")
    tag_counts: dict[str, dict[str, int]] = {}
    if tags_file.is_file():
        with open(tags_file, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                tag = row["tag"].strip().lower()
                if tag:
                    counts = tag_counts.setdefault(row["movieId"], {})
                    counts[tag] = counts.get(tag, 0) + 1
    ids, titles, years, genres, tags = [], [], [], [], []
    with open(movies, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            match = _YEAR_IN_TITLE.match(row["title"].strip())
            title, year = (match.group(1), int(match.group(2))) if match else (row["title"].strip(), None)
            ids.append(row["movieId"])
            titles.append(title)
            years.append(year)
            genres.append([g for g in row["genres"].split("|") if g and g != "(no genres listed)"])
            counts = tag_counts.get(row["movieId"], {})
            tags.append(sorted(counts, key=lambda t: (-counts[t], t)))
    catalogue = Catalogue(ids, titles, years, genres, tags)
    with open(ratings, newline="", encoding="utf-8") as handle:
        rows = [(n, r["userId"], r["movieId"], r["rating"], r["timestamp"])
                for n, r in enumerate(csv.DictReader(handle), start=2)]
    report = LoadReport()
    return catalogue, _build_interactions(rows, catalogue, ratings, (0.5, 5.0), 5.0, report), report


def load_dataset(name: str, data_root: str | Path | None = None):
    """``(catalogue, interactions, report)`` for a named recipe: sample, ml-100k, ml-latest-small."""
    if name == "sample":
        return load_csv_dataset(SAMPLE_DIR / "items.csv", SAMPLE_DIR / "interactions.csv", (1.0, 5.0))
    if name == "ml-100k":
        return load_ml100k(data_root)
    if name == "ml-latest-small":
        import os

        root = Path(data_root) if data_root else Path(os.environ.get("FTSUITE_DATA", "../shared/data")) / \
            "movielens-latest-small"
        return load_ml_latest_small(root)
    raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or --items/--interactions files)")
