"""Which companies an item is about: cashtags, a watch-list, and organisations found by NER."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError

__all__ = ["Company", "Watchlist", "Mention", "EntityExtractor"]

_CASHTAG = re.compile(r"(?<![\w$])\$([A-Z]{1,6}(?:\.[A-Z]{1,2})?)\b")


@dataclass(frozen=True)
class Company:
    name: str
    ticker: str = ""
    aliases: tuple[str, ...] = ()
    sector: str = ""


@dataclass(frozen=True)
class Mention:
    entity: str  # the watch-list name, or the organisation as written when not on the list
    kind: str  # "watchlist", "cashtag", "ner"
    on_watchlist: bool


class Watchlist:
    """Companies with aliases and tickers; matched on word boundaries, case-sensitively for
    short all-caps aliases (so 'ARC' does not match 'arc') and case-insensitively otherwise."""

    def __init__(self, companies: list[Company]):
        self.companies = companies
        self.by_ticker = {c.ticker.upper(): c for c in companies if c.ticker}
        patterns = []
        self._owner: dict[str, Company] = {}
        for company in companies:
            for alias in (company.name, *company.aliases):
                alias = alias.strip()
                if not alias:
                    continue
                self._owner[alias.lower()] = company
                patterns.append(alias)
        patterns.sort(key=len, reverse=True)  # longest alias wins ("Halvorsen Group" over "Halvorsen")
        self._pattern = (re.compile(r"(?<!\w)(" + "|".join(re.escape(p) for p in patterns) + r")(?!\w)",
                                    re.IGNORECASE) if patterns else None)

    @classmethod
    def from_csv(cls, path: str | Path) -> "Watchlist":
        """CSV with ``name`` and optional ``aliases`` (``|``-separated), ``ticker``, ``sector``."""
        path = Path(path)
        if not path.is_file():
            raise DataError([(str(path), None, None, "watch-list not found")], fix="check monitor.watchlist")
        try:
            rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
        except UnicodeDecodeError as exc:
            raise DataError([(str(path), None, None, f"not UTF-8 ({exc.reason})")], fix="save it as UTF-8")
        if rows and "name" not in rows[0]:
            raise DataError([(str(path), 1, "name", "column is missing")],
                            fix="header must be name,aliases,ticker,sector")
        companies, problems = [], []
        for number, row in enumerate(rows, start=2):
            name = (row.get("name") or "").strip()
            if not name:
                problems.append((str(path), number, "name", "empty company name"))
                continue
            aliases = tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip())
            companies.append(Company(name, (row.get("ticker") or "").strip().upper(), aliases,
                                     (row.get("sector") or "").strip()))
        if problems:
            raise DataError(problems, fix="give every row a company name")
        return cls(companies)

    def find(self, text: str) -> list[Company]:
        if self._pattern is None:
            return []
        found = []
        for match in self._pattern.finditer(text):
            written = match.group(1)
            company = self._owner[written.lower()]
            alias_is_caps = any(a == a.upper() and len(a) <= 5 and a.lower() == written.lower()
                                for a in (company.name, *company.aliases))
            if alias_is_caps and written != written.upper():
                continue
            if company not in found:
                found.append(company)
        return found


@dataclass
class EntityExtractor:
    """Cashtags + watch-list, and optionally an NER predictor (a token-classification artifact)."""

    watchlist: Watchlist
    ner: object | None = None  # a core Predictor; None switches NER off
    ner_types: tuple[str, ...] = ("ORG",)

    @property
    def ner_enabled(self) -> bool:
        return self.ner is not None

    def extract(self, texts: list[str], ner_texts: list[str] | None = None) -> list[list[Mention]]:
        """Mentions per text; NER (the costly part) may read shorter ``ner_texts`` (e.g. headlines)."""
        results = []
        ner_texts = texts if ner_texts is None else ner_texts
        ner_out = self.ner.predict([t.split() for t in ner_texts]) if (self.ner is not None and texts) else None
        for i, text in enumerate(texts):
            mentions: dict[str, Mention] = {}
            listed = self.watchlist.find(text)
            for company in listed:
                mentions[company.name] = Mention(company.name, "watchlist", True)
            for ticker in _CASHTAG.findall(text):
                company = self.watchlist.by_ticker.get(ticker.upper())
                name = company.name if company else f"${ticker.upper()}"
                mentions.setdefault(name, Mention(name, "cashtag", company is not None))
            if ner_out is not None:
                words = ner_texts[i].split()
                for span in ner_out[i]["entities"]:
                    if span["type"] not in self.ner_types:
                        continue
                    written = " ".join(words[span["start"]:span["end"]]).strip(".,;:'\"()")
                    known = self.watchlist.find(written)
                    if known:
                        mentions.setdefault(known[0].name, Mention(known[0].name, "ner", True))
                    elif len(written) > 1 and not _part_of_a_name(written, listed):
                        mentions.setdefault(written, Mention(written, "ner", False))
            results.append(list(mentions.values()))
        return results


def _part_of_a_name(written: str, companies: list[Company]) -> bool:
    """True when ``written`` is whole words of a name or alias of ``companies`` (the ones the
    watch-list found in the same text): an NER span that covers only "Assurance" of "Penbury
    Assurance" is that company, not another organisation."""
    pattern = re.compile(r"(?<!\w)" + re.escape(written) + r"(?!\w)", re.IGNORECASE)
    return any(pattern.search(alias) for c in companies for alias in (c.name, *c.aliases))
