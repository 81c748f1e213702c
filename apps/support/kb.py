"""The knowledge base: documents in, chunks out, a SQLite store and the indexes over it.

Offline path: :func:`parse_document` reads Markdown, plain text, HTML (main text by ``trafilatura``),
PDF (``pypdf``), Word, PowerPoint and Excel files (``python-docx``, ``python-pptx``, ``openpyxl``) and
FAQ files (CSV / JSONL with question, answer and optional category / intent) into sections;
:func:`chunk_sections` cuts them along headings and paragraphs with overlap; :class:`KnowledgeBase`
stores documents and chunks in SQLite (the source of truth), keeps a faiss :class:`VectorIndex`
(dense) and a ``bm25s`` index (lexical) in step with it under ``FTSUITE_HOME/support/<kb>/``.
A content hash skips unchanged documents; documents are added, replaced and removed one by one
(only their chunks are embedded). A missing or damaged index is rebuilt from the store.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.artifacts import read_manifest
from core.errors import SuiteError
from core.index import VectorIndex

from .store import open_sqlite

__all__ = ["Chunk", "Section", "ParsedDocument", "IngestReport", "KnowledgeBase", "parse_document",
           "chunk_sections", "SUPPORTED", "display_path", "passage_text"]

log = logging.getLogger("ftsuite.support")

SUPPORTED = (".md", ".markdown", ".txt", ".html", ".htm", ".csv", ".jsonl", ".pdf", ".docx", ".pptx", ".xlsx")
REPO = Path(__file__).resolve().parents[2]
MAX_DOCUMENT_BYTES = 5_000_000  # a text file
MAX_BINARY_DOCUMENT_BYTES = 25_000_000  # a PDF or Office file (images make them large, their text is small)
MAX_UNPACKED_BYTES = 200_000_000  # an Office file is a zip: what it may unpack to (a zip bomb is refused)
_OLD_FORMATS = {".doc": ".docx", ".ppt": ".pptx", ".xls": ".xlsx", ".rtf": ".docx", ".odt": ".docx"}


# ---------------------------------------------------------------------------------------------- parsing
@dataclass
class Section:
    heading: str
    paragraphs: list[str]
    intent: str | None = None
    category: str | None = None
    whole: bool = False  # an FAQ entry: one chunk, never cut


@dataclass
class ParsedDocument:
    path: str
    title: str
    kind: str
    sections: list[Section]
    meta: dict = field(default_factory=dict)


@dataclass
class Chunk:
    id: int
    path: str
    title: str
    section: str
    text: str
    intent: str | None = None
    category: str | None = None
    position: int = 0
    kind: str = "markdown"  # the document's kind: markdown, text, html, faq, pdf, docx, pptx, xlsx


def passage_text(title: str, section: str, text: str) -> str:
    """What the embedder, BM25 and the reranker read: the chunk with its title and section."""
    head = title if not section or section == title else f"{title} - {section}"
    return f"{head}. {text}"


def display_path(path: str | Path) -> str:
    """A document's key: relative to the repository when inside it, else absolute."""
    resolved = Path(path).expanduser().resolve()
    try:
        return str(resolved.relative_to(REPO))
    except ValueError:
        return str(resolved)


_META = re.compile(r"^\s*<!--(.*?)-->\s*", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _strip_markdown(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    return text


def _paragraphs(lines: list[str], clean=_strip_markdown) -> list[str]:
    """Blank-line separated blocks; list items and table rows stay one per line inside a block."""
    blocks, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    cleaned = []
    for block in blocks:
        rows = [r for r in block.split("\n") if not re.fullmatch(r"\s*\|?\s*:?-{2,}.*", r)]  # table rules
        rows = [r.strip().strip("|").strip() if r.lstrip().startswith("|") else r for r in rows]  # table rows
        text = clean("\n".join(rows)).strip()
        if text:
            cleaned.append(text)
    return cleaned


def _parse_meta(comment: str) -> dict:
    meta = {}
    for part in comment.split(";"):
        if ":" in part:
            key, value = part.split(":", 1)
            meta[key.strip().lower()] = value.strip()
    return meta


def _markdown_sections(text: str, clean=_strip_markdown) -> tuple[str, list[Section]]:
    """The first level-1 heading (the title) and the sections the other headings start."""
    title, sections, heading, lines = "", [], "", []
    for line in text.splitlines():
        found = _HEADING.match(line)
        if found:
            level, name = len(found.group(1)), clean(found.group(2)).strip()
            if level == 1 and not title:
                if lines:
                    sections.append(Section(heading, _paragraphs(lines, clean)))
                    lines = []
                title = name
                continue
            sections.append(Section(heading, _paragraphs(lines, clean)))
            heading, lines = name, []
        else:
            lines.append(line)
    sections.append(Section(heading, _paragraphs(lines, clean)))
    return title, sections


def _parse_markdown(text: str, path: Path) -> ParsedDocument:
    meta = {}
    match = _META.match(text)
    if match:
        meta = _parse_meta(match.group(1))
        text = text[match.end():]
    title, sections = _markdown_sections(text)
    title = title or path.stem.replace("_", " ")
    intent, category = meta.get("intent"), meta.get("category")
    sections = [Section(s.heading or title, s.paragraphs, intent, category) for s in sections if s.paragraphs]
    return ParsedDocument(str(path), title, "markdown", sections, meta)


def _parse_text(text: str, path: Path) -> ParsedDocument:
    paragraphs = _paragraphs(text.splitlines())
    title = path.stem.replace("_", " ")
    if paragraphs and len(paragraphs[0]) <= 100 and "\n" not in paragraphs[0] and len(paragraphs) > 1:
        title = paragraphs.pop(0)
    return ParsedDocument(str(path), title, "text", [Section(title, paragraphs)] if paragraphs else [])


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash-escaped ASCII punctuation character
_HIDDEN = re.compile("[\ue000-\ue07f]")  # private-use: where escaped characters wait (a page's own become punctuation)


def _clean_escaped_markdown(text: str) -> str:
    """Markdown written by an extractor that backslash-escapes the page's own characters: the
    formatting it added is stripped, an escaped character is text (``\\[x\\](y)`` stays ``[x](y)``)."""
    hidden = _ESCAPED.sub(lambda m: chr(0xE000 + ord(m.group(1))), text)  # out of the regexes' way
    return _HIDDEN.sub(lambda m: chr(ord(m.group(0)) - 0xE000), _strip_markdown(hidden))


def _parse_html(text: str, path: Path) -> ParsedDocument:
    """The page's main text by trafilatura (navigation, header, footer, scripts and forms left out),
    as Markdown so that its headings start sections and tables keep one ``cell | cell`` line per row."""
    import trafilatura
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "1")  # a short help page is content too (default: 250 chars)
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")  # no signal alarms: ingestion may run in a worker thread
    markdown = trafilatura.extract(text, output_format="markdown", include_formatting=True, include_tables=True,
                                   include_links=False, include_images=False, include_comments=False,
                                   deduplicate=False, config=config) or ""
    title, sections = _markdown_sections(markdown, _clean_escaped_markdown)
    if not title:
        metadata = trafilatura.extract_metadata(text)
        title = (metadata.title or "").strip() if metadata is not None else ""
    title = title or path.stem.replace("_", " ")
    sections = [Section(s.heading or title, s.paragraphs) for s in sections if s.paragraphs]
    return ParsedDocument(str(path), title, "html", sections)


_FAQ_Q = ("question", "q", "title")
_FAQ_A = ("answer", "a", "response")


def _faq_rows(rows: list[tuple[int, dict]], path: Path) -> ParsedDocument:
    if not rows:
        raise ValueError("no FAQ rows in the file")
    sections = []
    for line, row in rows:
        keys = {k.strip().lower(): k for k in row if isinstance(k, str)}
        q_key = next((keys[k] for k in _FAQ_Q if k in keys), None)
        a_key = next((keys[k] for k in _FAQ_A if k in keys), None)
        if not q_key or not a_key:
            raise ValueError(f"line {line}: an FAQ entry needs 'question' and 'answer' fields; it has "
                             f"{sorted(keys.values())}")
        question, answer = row.get(q_key), row.get(a_key)
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"line {line}: empty or missing question")
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError(f"line {line}: empty or missing answer")
        intent = str(row.get(keys["intent"]) or "").strip() or None if "intent" in keys else None
        category = str(row.get(keys["category"]) or "").strip() or None if "category" in keys else None
        sections.append(Section(question.strip(), [answer.strip()], intent, category, whole=True))
    return ParsedDocument(str(path), f"FAQ ({path.name})", "faq", sections)


def _parse_csv(text: str, path: Path) -> ParsedDocument:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
        if None in row:
            raise ValueError(f"line {reader.line_num}: more fields than the header has (quote commas)")
        rows.append((reader.line_num, row))
    return _faq_rows(rows, path)


def _parse_jsonl(text: str, path: Path) -> ParsedDocument:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"line {number}: expected an object with question and answer")
        rows.append((number, row))
    return _faq_rows(rows, path)


_PARSERS = {".md": _parse_markdown, ".markdown": _parse_markdown, ".txt": _parse_text, ".html": _parse_html,
            ".htm": _parse_html, ".csv": _parse_csv, ".jsonl": _parse_jsonl}


# PDF and Office files: each library reads its own format; what they raise on a damaged file
# (anything from KeyError to a zlib error) becomes one ValueError that says so.
class _Unusable(ValueError):
    """A reason of ours, passed on as it is (not wrapped as a damaged file)."""


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _row_lines(rows) -> list[str]:
    """Table rows as ``cell | cell`` lines; a merged cell (repeated by the library) counts once."""
    lines = []
    for row in rows:
        cells = []
        for cell in row:
            text = _tidy(cell)
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            lines.append(" | ".join(cells))
    return lines


def _cell_text(value) -> str:
    import datetime as dt

    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    return str(value)


def _parse_pdf(data: bytes, path: Path) -> ParsedDocument:
    """One section per page, or per entry of the PDF's outline (bookmarks) when it has one."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # only an owner password (printing, copying): readable
        except DependencyError:
            raise _Unusable("the PDF is encrypted with AES, which pypdf opens only with the 'cryptography' "
                            "package (pip install cryptography); or add an unprotected copy") from None
        if not opened:
            raise _Unusable("the PDF is encrypted (password-protected); add an unprotected copy")
    pages = []
    for page in reader.pages:
        text = re.sub(r"([a-z])-\n([a-z])", r"\1\2", page.extract_text() or "")  # words cut at line ends
        blocks = [_tidy(block) for block in re.split(r"\n\s*\n", text)]
        pages.append([b for b in blocks if b])
    if not any(pages):
        raise _Unusable("no text found in the PDF: it may be scanned images; run OCR on it and add the result")
    try:
        title = _tidy(reader.metadata.title or "") if reader.metadata is not None else ""
    except Exception:  # noqa: BLE001 - damaged metadata: the title falls back to the file name
        title = ""
    title = title or path.stem.replace("_", " ")

    starts: dict[int, list[str]] = {}  # first page of each outline entry -> its titles (nested ones too)

    def walk(entries):
        for entry in entries:
            if isinstance(entry, list):
                walk(entry)
                continue
            page, name = reader.get_destination_page_number(entry), _tidy(str(entry.title or ""))
            if page is not None and 0 <= page < len(pages) and name:
                starts.setdefault(page, []).append(name)

    try:
        walk(reader.outline)
    except Exception:  # noqa: BLE001 - a damaged outline: one section per page instead
        starts = {}
    if starts:
        bounds = sorted(starts)
        sections = [Section(title, [b for page in pages[:bounds[0]] for b in page])] if bounds[0] else []
        for i, first in enumerate(bounds):
            end = bounds[i + 1] if i + 1 < len(bounds) else len(pages)
            sections.append(Section(" / ".join(starts[first]), [b for page in pages[first:end] for b in page]))
    else:
        sections = [Section(f"Page {n}", blocks) for n, blocks in enumerate(pages, 1)]
    return ParsedDocument(str(path), title, "pdf", [s for s in sections if s.paragraphs])


_DOCX_HEADING = re.compile(r"heading\s*(\d)", re.I)


def _parse_docx(data: bytes, path: Path) -> ParsedDocument:
    """Headings (Word's Title and Heading n styles) start sections, as in Markdown: the Title (else the
    first Heading 1) is the document's title; tables become ``cell | cell`` lines."""
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    title, sections, heading, paragraphs = "", [], "", []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            paragraphs.extend(_row_lines([cell.text for cell in row.cells] for row in block.rows))
            continue
        text = _tidy(block.text)
        if not text:
            continue
        style = _tidy(block.style.name if block.style is not None else "")
        found = _DOCX_HEADING.fullmatch(style)
        level = 0 if style.lower() == "title" else int(found.group(1)) if found else None
        if level is None:
            paragraphs.append(text)
        elif level <= 1 and not title:
            sections.append(Section(heading, paragraphs))
            title, heading, paragraphs = text, "", []
        else:
            sections.append(Section(heading, paragraphs))
            heading, paragraphs = text, []
    sections.append(Section(heading, paragraphs))
    title = title or _tidy(document.core_properties.title or "") or path.stem.replace("_", " ")
    return ParsedDocument(str(path), title, "docx", [Section(s.heading or title, s.paragraphs)
                                                     for s in sections if s.paragraphs])


def _parse_pptx(data: bytes, path: Path) -> ParsedDocument:
    """One section per slide, headed by the slide's title: its text boxes, tables and speaker notes."""
    from pptx import Presentation

    def shape_lines(shapes, skip) -> list[str]:
        lines = []
        for shape in shapes:
            if shape.shape_id == skip:
                continue
            if hasattr(shape, "shapes"):  # a group
                lines.extend(shape_lines(shape.shapes, skip))
            elif shape.has_text_frame:
                lines.extend(t for t in (_tidy(p.text) for p in shape.text_frame.paragraphs) if t)
            elif getattr(shape, "has_table", False):
                lines.extend(_row_lines([cell.text for cell in row.cells] for row in shape.table.rows))
        return lines

    deck = Presentation(io.BytesIO(data))
    sections, slide_titles = [], []
    for number, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        heading = _tidy(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
        lines = shape_lines(slide.shapes, title_shape.shape_id if title_shape is not None else None)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            lines.extend(t for t in (_tidy(p.text) for p in slide.notes_slide.notes_text_frame.paragraphs) if t)
        sections.append(Section(heading or f"Slide {number}", lines))
        slide_titles += [heading] if heading else []
    title = _tidy(deck.core_properties.title or "") or next(iter(slide_titles), "") or path.stem.replace("_", " ")
    return ParsedDocument(str(path), title, "pptx", [s for s in sections if s.paragraphs])


def _parse_xlsx(data: bytes, path: Path) -> ParsedDocument:
    """One section per sheet, headed by its name; each row with text a ``cell | cell`` line (formulas
    as the values Excel last computed)."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sections = [Section(sheet.title, _row_lines([_cell_text(v) for v in row]
                                                   for row in sheet.iter_rows(values_only=True)))
                    for sheet in book.worksheets]
        title = _tidy(book.properties.title or "") or path.stem.replace("_", " ")
    finally:
        book.close()
    return ParsedDocument(str(path), title, "xlsx", [s for s in sections if s.paragraphs])


_BINARY_PARSERS = {".pdf": _parse_pdf, ".docx": _parse_docx, ".pptx": _parse_pptx, ".xlsx": _parse_xlsx}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an old binary Office file, or an encrypted new one


def _check_office_zip(data: bytes, suffix: str) -> None:
    import zipfile

    if data.startswith(_OLE):
        raise _Unusable(f"a password-protected or old-format Office file, not a {suffix} file; save an "
                        f"unprotected copy as {suffix} and add that")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except zipfile.BadZipFile:
        raise _Unusable(f"not a valid {suffix} file (a {suffix} file is a zip archive; this one is damaged "
                        f"or of another type)") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise _Unusable(f"the {suffix} file unpacks to {unpacked / 1e6:.0f} MB; the limit is "
                        f"{MAX_UNPACKED_BYTES / 1e6:.0f} MB")


def _parse_binary(suffix: str, data: bytes, path: Path) -> ParsedDocument:
    if len(data) > MAX_BINARY_DOCUMENT_BYTES:
        raise ValueError(f"file is {len(data) / 1e6:.1f} MB; the limit for {suffix} files is "
                         f"{MAX_BINARY_DOCUMENT_BYTES / 1e6:.0f} MB")
    if not data.strip():
        raise ValueError(f"empty file; expected a {suffix} document")
    try:
        if suffix == ".pdf":
            if b"%PDF-" not in data[:1024]:
                raise _Unusable("not a PDF file (no '%PDF-' header)")
        else:
            _check_office_zip(data, suffix)
        return _BINARY_PARSERS[suffix](data, path)
    except _Unusable as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a damaged file may make a parser raise anything
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ValueError(f"cannot read this {suffix} file: it is damaged or not a real {suffix} file "
                         f"({type(exc).__name__}{': ' + detail if detail else ''})") from None


def parse_document(path: Path, data: bytes) -> ParsedDocument:
    """Parse one file's bytes; raises ``ValueError`` with the reason when it cannot be used."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        hint = f"save it as {_OLD_FORMATS[suffix]} and add that; " if suffix in _OLD_FORMATS else ""
        raise ValueError(f"unsupported file type '{suffix or path.name}'; {hint}supported: {', '.join(SUPPORTED)}")
    if suffix in _BINARY_PARSERS:
        document = _parse_binary(suffix, data, path)
    else:
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"file is {len(data) / 1e6:.1f} MB; the limit is {MAX_DOCUMENT_BYTES / 1e6:.0f} MB")
        if b"\x00" in data[:8192]:
            raise ValueError("binary file (NUL bytes); expected UTF-8 text")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text (byte {exc.start}); re-save the file as UTF-8") from None
        document = _PARSERS[suffix](text, path)
    if not document.sections:
        raise ValueError("no text found in the document")
    return document


# ---------------------------------------------------------------------------------------------- chunking
def _split_long(paragraph: str, limit: int) -> list[str]:
    """A paragraph over ``limit`` words cut at sentence ends (words as a last resort)."""
    words = paragraph.split()
    if len(words) <= limit:
        return [paragraph]
    sentences = re.split(r"(?<=[.!?])\s+", paragraph)
    pieces, current = [], []
    for sentence in sentences:
        sentence_words = sentence.split()
        if len(sentence_words) > limit:
            if current:
                pieces.append(" ".join(current))
                current = []
            pieces.extend(" ".join(sentence_words[i:i + limit]) for i in range(0, len(sentence_words), limit))
            continue
        if current and len(current) + len(sentence_words) > limit:
            pieces.append(" ".join(current))
            current = []
        current.extend(sentence_words)
    if current:
        pieces.append(" ".join(current))
    return pieces


def chunk_sections(document: ParsedDocument, chunk_words: int = 120, overlap_words: int = 25) -> list[dict]:
    """Chunks along sections and paragraphs: paragraphs join until ``chunk_words``; the next chunk
    of the same section starts with the last ``overlap_words`` words of the previous one."""
    chunks = []
    for section in document.sections:
        base = {"title": document.title, "section": section.heading, "intent": section.intent,
                "category": section.category}
        if section.whole:
            chunks.append({**base, "text": "\n".join(section.paragraphs)})
            continue
        pieces = [p for paragraph in section.paragraphs for p in _split_long(paragraph, chunk_words)]
        current: list[str] = []
        count = 0
        for piece in pieces:
            n = len(piece.split())
            if current and count + n > chunk_words:
                text = "\n".join(current)
                chunks.append({**base, "text": text})
                tail = text.split()[-overlap_words:] if overlap_words else []
                current, count = ([" ".join(tail)], len(tail)) if tail else ([], 0)
                if tail:
                    current[0] = "... " + current[0]
            current.append(piece)
            count += n
        if current:
            chunks.append({**base, "text": "\n".join(current)})
    return chunks


# ---------------------------------------------------------------------------------------------- store
@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    chunks_embedded: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        text = (f"added {len(self.added)}, replaced {len(self.replaced)}, unchanged {len(self.unchanged)}, "
                f"removed {len(self.removed)}, skipped {len(self.skipped)}; {self.chunks_embedded} chunks embedded "
                f"in {self.seconds:.1f} s")
        for path, reason in self.skipped:
            text += f"\n  skipped {path}: {reason}"
        return text

    def to_dict(self) -> dict:
        return {"added": self.added, "replaced": self.replaced, "unchanged": self.unchanged,
                "removed": self.removed, "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "chunks_embedded": self.chunks_embedded, "seconds": round(self.seconds, 3)}


_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (path TEXT PRIMARY KEY, title TEXT, kind TEXT, hash TEXT, meta TEXT,
    n_chunks INTEGER, updated_at REAL);
CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, position INTEGER,
    title TEXT, section TEXT, text TEXT, intent TEXT, category TEXT);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def _expand(paths) -> tuple[list[Path], list[tuple[str, str]]]:
    files, missing = [], []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED
                                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        elif path.is_file():
            files.append(path)
        else:
            missing.append((str(raw), "no such file or folder"))
    return files, missing


class KnowledgeBase:
    """SQLite documents and chunks + the dense and BM25 indexes, under one folder."""

    def __init__(self, folder: Path, embedder, chunk_words: int = 120, overlap_words: int = 25):
        self.folder = Path(folder)
        self.embedder = embedder
        self.chunk_words, self.overlap_words = chunk_words, overlap_words
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path = self.folder / "kb.sqlite"
        self.index_path = self.folder / "dense.faiss"
        self.bm25_dir = self.folder / "bm25"
        self.db = open_sqlite(self.db_path, _SCHEMA, "the knowledge-base store {path} is damaged ({exc}). Fix: move "
                                                     "it away and ingest the documents again (ftsuite support ingest "
                                                     "PATH --kb ...)")
        self.index: VectorIndex | None = None
        self.bm25 = None
        self.bm25_ids: np.ndarray = np.zeros(0, np.int64)
        self.chunks: dict[int, Chunk] = {}
        self.loaded_generation = -1
        self.repairs: list[str] = []

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def generation(self) -> int:
        return int(self.get_meta("generation", 0))

    def _bump(self) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('generation', ?)",
                        (json.dumps(self.generation() + 1),))

    # ------------------------------------------------------------------ documents
    def documents(self) -> list[dict]:
        rows = self.db.execute("SELECT path, title, kind, hash, n_chunks, updated_at FROM documents ORDER BY path")
        return [dict(r) for r in rows]

    def chunk_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def ingest(self, paths, keys: dict[str, str] | None = None) -> IngestReport:
        """Add new documents, replace changed ones, skip unchanged ones and unreadable ones (with the reason).
        ``keys``: a document key per file (by its resolved path) in place of its path, e.g. an upload's
        original name, so that a changed file uploaded again replaces the old one."""
        started = time.perf_counter()
        report = IngestReport()
        files, missing = _expand(paths)
        report.skipped.extend(missing)
        self.load()
        changed = False
        for path in files:
            key = (keys or {}).get(str(path.resolve())) or display_path(path)
            try:
                data = path.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                row = self.db.execute("SELECT hash FROM documents WHERE path = ?", (key,)).fetchone()
                if row and row[0] == digest:
                    report.unchanged.append(key)
                    continue
                document = parse_document(path, data)
                chunks = chunk_sections(document, self.chunk_words, self.overlap_words)
            except (ValueError, OSError) as exc:
                report.skipped.append((key, str(exc)))
                log.warning("skipped %s: %s", key, exc)
                continue
            report.chunks_embedded += self._store(key, document, digest, chunks, finish=False)
            (report.replaced if row else report.added).append(key)
            changed = True
        if changed:  # both indexes are rebuilt and saved once per call, not once per document
            self._after_change()
        report.seconds = time.perf_counter() - started
        return report

    def _store(self, key: str, document: ParsedDocument, digest: str, chunks: list[dict], finish: bool = True) -> int:
        """Write one document's chunks (replacing old ones) and their vectors; SQLite commits last
        so that a crash in between leaves the store as it was (the index is re-synced on load).
        ``finish=False``: the caller saves the indexes once after its last document."""
        if finish:
            self.load()
        vectors = self.embedder.encode([passage_text(c["title"], c["section"], c["text"]) for c in chunks])
        with self.db:
            old = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE path = ?", (key,))]
            self.db.execute("DELETE FROM chunks WHERE path = ?", (key,))
            ids = []
            for position, c in enumerate(chunks):
                cursor = self.db.execute(
                    "INSERT INTO chunks(path, position, title, section, text, intent, category) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, position, c["title"], c["section"], c["text"], c["intent"], c["category"]))
                ids.append(cursor.lastrowid)
            self.db.execute("INSERT OR REPLACE INTO documents(path, title, kind, hash, meta, n_chunks, updated_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (key, document.title, document.kind, digest, json.dumps(document.meta), len(chunks),
                             time.time()))
            self._bump()
        self.index.remove(old)
        if ids:
            self.index.add(ids, vectors)
        if finish:
            self._after_change()
        else:
            self.loaded_generation = self.generation()  # this process made the change: no reload
        return len(chunks)

    def remove(self, path) -> bool:
        """Remove a document and its chunks; ``False`` when it was not in the base."""
        key = display_path(path) if not isinstance(path, str) or not self._known(path) else path
        self.load()
        with self.db:
            old = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE path = ?", (key,))]
            found = self.db.execute("DELETE FROM documents WHERE path = ?", (key,)).rowcount
            self.db.execute("DELETE FROM chunks WHERE path = ?", (key,))
            if found:
                self._bump()
        if not found:
            return False
        self.index.remove(old)
        self._after_change()
        return True

    def _known(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM documents WHERE path = ?", (key,)).fetchone() is not None

    def _after_change(self) -> None:
        self.index.meta["generation"] = self.generation()
        self.index.save(self.index_path)
        self._load_chunks()
        self._build_bm25(save=True)
        self.loaded_generation = self.generation()

    # ------------------------------------------------------------------ loading
    def _load_chunks(self) -> None:
        rows = self.db.execute("SELECT c.id, c.path, c.title, c.section, c.text, c.intent, c.category, c.position, "
                               "d.kind FROM chunks c JOIN documents d ON d.path = c.path ORDER BY c.id")
        self.chunks = {r["id"]: Chunk(r["id"], r["path"], r["title"], r["section"], r["text"], r["intent"],
                                      r["category"], r["position"], r["kind"]) for r in rows}

    def load(self, force: bool = False) -> "KnowledgeBase":
        """Load (or re-load after another process changed the base) the chunks and both indexes;
        a missing, damaged or out-of-step index is repaired from the SQLite store."""
        generation = self.generation()
        if not force and self.index is not None and generation == self.loaded_generation:
            return self
        self._load_chunks()
        try:
            index = VectorIndex.load(self.index_path)
            if index.dimension != self.embedder.dimension:
                raise SuiteError(f"index dimension {index.dimension} != embedder dimension {self.embedder.dimension}")
            made_by = index.meta.get("embedder")
            if made_by not in (None, self._embedder_id()):
                raise SuiteError(f"its vectors were made by {made_by}, the knowledge base now embeds with "
                                 f"{self._embedder_id()}: every chunk is re-embedded once")
        except SuiteError as exc:
            if self.index_path.exists() or self.chunks:
                self.repairs.append(f"vector index rebuilt: {exc}")
                log.warning("rebuilding the vector index of %s: %s", self.folder, exc)
            index = VectorIndex(self.embedder.dimension, meta={"embedder": self._embedder_id()})
        self.index = index
        self._sync_index()
        self._build_bm25(save=False)
        self.loaded_generation = generation
        return self

    def _embedder_id(self) -> str:
        """Which embedder made the vectors: its artifact folder and the time it was written (a retrained
        embedder in the same folder counts as another one)."""
        artifact = getattr(self.embedder, "artifact", None)
        if artifact is None:
            return "embedder"
        try:
            created = read_manifest(artifact).get("created_at")
        except (SuiteError, OSError, ValueError):
            created = None
        return f"{artifact}@{created}" if created else str(artifact)

    def embedder_id(self) -> str:
        """The embedder the stored vectors come from (as recorded with the index)."""
        return str(self.index.meta.get("embedder")) if self.index is not None else self._embedder_id()

    def _sync_index(self) -> None:
        have = set(self.index.ids().tolist())
        want = set(self.chunks)
        stale = sorted(have - want)
        missing = sorted(want - have)
        if stale:
            self.index.remove(stale)
        if missing:
            if have:
                self.repairs.append(f"vector index: {len(missing)} chunk(s) re-embedded from the store")
            for start in range(0, len(missing), 256):
                batch = missing[start:start + 256]
                chunks = [self.chunks[i] for i in batch]
                self.index.add(batch, self.embedder.encode([passage_text(c.title, c.section, c.text) for c in chunks]))
        if stale or missing:
            self.index.meta.update(embedder=self._embedder_id(), generation=self.generation())
            self.index.save(self.index_path)

    def _build_bm25(self, save: bool) -> None:
        bm25s = import_bm25s()

        ids = np.array(sorted(self.chunks), dtype=np.int64)
        self.bm25_ids = ids
        if not len(ids):
            self.bm25 = None
            return
        ids_file = self.bm25_dir / "ids.json"
        if not save and ids_file.is_file():
            try:
                stored = json.loads(ids_file.read_text(encoding="utf-8"))
                if stored.get("ids") == ids.tolist() and stored.get("generation") == self.generation():
                    self.bm25 = bm25s.BM25.load(str(self.bm25_dir))
                    return
            except Exception as exc:  # noqa: BLE001 - any damage means: rebuild below
                self.repairs.append(f"BM25 index rebuilt: {exc}")
        corpus = [passage_text(self.chunks[i].title, self.chunks[i].section, self.chunks[i].text) for i in ids]
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)
        self.bm25_dir.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(self.bm25_dir), show_progress=False)
        ids_file.write_text(json.dumps({"ids": ids.tolist(), "generation": self.generation()}), encoding="utf-8")

    def rebuild(self) -> IngestReport:
        """Re-embed every chunk and rebuild both indexes from the SQLite store."""
        started = time.perf_counter()
        for path in (self.index_path, self.index_path.with_name(self.index_path.name + ".json")):
            path.unlink(missing_ok=True)
        self.index = None
        self.repairs = []
        self._load_chunks()
        self.index = VectorIndex(self.embedder.dimension, meta={"embedder": self._embedder_id()})
        self._sync_index()
        self.index.save(self.index_path)
        self._build_bm25(save=True)
        self.loaded_generation = self.generation()
        return IngestReport(unchanged=[d["path"] for d in self.documents()], chunks_embedded=len(self.chunks),
                            seconds=time.perf_counter() - started)

    def close(self) -> None:
        self.db.close()


def import_bm25s():
    """bm25s, with its logger (set to DEBUG by the library itself) brought back to WARNING."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s

