"""PDF, Word, PowerPoint, Excel and HTML documents: made here with the libraries that read them (the PDF
by hand), parsed into titles and sections, ingested into a real knowledge base; damaged ones refused
with a reason that names the file, never a crash."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from apps.support import kb as kb_module
from apps.support.kb import KnowledgeBase, parse_document

from .conftest import make_bot


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: per page one Helvetica text object, one line per string."""
    def literal(text: str) -> str:
        return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"

    count = len(pages)
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(count))}] /Count {count} >>",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, lines in enumerate(pages):
        stream = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"{literal(line)} Tj T*" for line in lines) + " ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


FEE_PAGES = [["Card fees", "A replacement card costs 5 pounds.", "Express delivery of a card costs 9 pounds."],
             ["Transfer fees", "A SWIFT transfer costs 5 pounds.", "SEPA transfers in euros are free."]]


def pdf_with_outline(**encrypt) -> bytes:
    """The fee guide with a title, bookmarks (its outline) and, if asked, a password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(FEE_PAGES))))
    writer.add_metadata({"/Title": "Fee guide"})
    writer.add_outline_item(title="Cards", page_number=0)
    writer.add_outline_item(title="Transfers", page_number=1)
    if encrypt:
        writer.encrypt(algorithm="RC4-128", **encrypt)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def fill(table, rows) -> None:
    """A Word or PowerPoint table, cell by cell (both libraries share ``table.cell(r, c).text``)."""
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.cell(r, c).text = text


def saved(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Travel money", level=0)
    document.add_paragraph("How your card works abroad.")
    document.add_heading("Paying abroad", level=1)
    document.add_paragraph("Card payments abroad are free in any currency.")
    document.add_heading("Cash machines abroad", level=2)
    document.add_paragraph("Withdrawals abroad are free up to 200 pounds a month, then 2%.")
    fill(document.add_table(rows=2, cols=2), [("Plan", "Free withdrawals"), ("Standard", "200 pounds")])
    return saved(document)


def pptx_bytes() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[0])
    first.shapes.title.text = "Savings pots"
    first.placeholders[1].text = "Put money aside in pots."
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Pot interest"
    second.placeholders[1].text_frame.text = "A savings pot pays 3% interest a year."
    second.notes_slide.notes_text_frame.text = "Interest is paid on the first day of each month."
    third = deck.slides.add_slide(deck.slide_layouts[6])  # blank: no title
    third.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)).text_frame.text = "Close a pot at any time."
    fill(third.shapes.add_table(2, 2, Inches(1), Inches(3), Inches(4), Inches(1)).table,
         [("Pot", "Rate"), ("Easy access", "3%")])
    return saved(deck)


def xlsx_bytes() -> bytes:
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    fees = book.active
    fees.title = "Account fees"
    fees.append(["Account", "Monthly fee", "Since"])
    fees.append(["Premium account", 12.0, dt.datetime(2025, 4, 1)])
    fees.append([None, None, None])
    fees.append(["Basic account", "free", None])
    book.create_sheet("Limits").append(["Daily ATM limit", 600])
    book.create_sheet("Empty")
    return saved(book)


PAGE = """<!DOCTYPE html><html><head><title>Refunds | Test Bank</title></head><body>
<nav><a href="/">Home navigation link</a></nav><article><h1>Refunds</h1>
<p>Most card payments can be refunded by the shop within <b>14 days</b>.</p>
<h2>Disputed payments</h2><p>Dispute a payment in the app; see [the form](http://evil.example/form).</p>
<h3>Timing</h3><ul><li>We reply within 5 working days.</li><li>Money returns within 10 days.</li></ul>
</article><footer>Footer boilerplate</footer></body></html>"""


def parse(name: str, data: bytes):
    return parse_document(Path(name), data)


def texts(document) -> str:
    return "\n".join(p for s in document.sections for p in s.paragraphs)


def test_pdf_pages_become_sections_and_its_outline_is_preferred():
    plain = parse("fee_guide.pdf", pdf_bytes(FEE_PAGES))
    assert plain.kind == "pdf" and plain.title == "fee guide"
    assert [s.heading for s in plain.sections] == ["Page 1", "Page 2"]
    assert "replacement card costs 5 pounds" in plain.sections[0].paragraphs[0]
    assert "SEPA transfers in euros are free" in plain.sections[1].paragraphs[0]

    outlined = parse("fee_guide.pdf", pdf_with_outline())
    assert outlined.title == "Fee guide" and [s.heading for s in outlined.sections] == ["Cards", "Transfers"]
    assert "SWIFT transfer costs 5 pounds" in texts(outlined)
    # an owner password only (no password to open it) does not stop reading
    assert parse("owner.pdf", pdf_with_outline(user_password="", owner_password="owner")).sections


def test_docx_headings_become_sections_and_tables_rows():
    doc = parse("travel.docx", docx_bytes())
    assert doc.kind == "docx" and doc.title == "Travel money"
    assert [s.heading for s in doc.sections] == ["Travel money", "Paying abroad", "Cash machines abroad"]
    assert doc.sections[0].paragraphs == ["How your card works abroad."]
    assert doc.sections[2].paragraphs[-2:] == ["Plan | Free withdrawals", "Standard | 200 pounds"]


def test_pptx_slides_become_sections_with_tables_and_notes():
    doc = parse("pots.pptx", pptx_bytes())
    assert doc.kind == "pptx" and doc.title == "Savings pots"
    assert [s.heading for s in doc.sections] == ["Savings pots", "Pot interest", "Slide 3"]
    assert doc.sections[1].paragraphs == ["A savings pot pays 3% interest a year.",
                                          "Interest is paid on the first day of each month."]
    assert doc.sections[2].paragraphs == ["Close a pot at any time.", "Pot | Rate", "Easy access | 3%"]


def test_xlsx_sheets_become_sections_and_rows_lines():
    doc = parse("account_fees.xlsx", xlsx_bytes())
    assert doc.kind == "xlsx" and doc.title == "account fees"
    assert [s.heading for s in doc.sections] == ["Account fees", "Limits"]  # the empty sheet is left out
    assert doc.sections[0].paragraphs == ["Account | Monthly fee | Since", "Premium account | 12 | 2025-04-01",
                                          "Basic account | free"]
    assert doc.sections[1].paragraphs == ["Daily ATM limit | 600"]


def test_html_main_text_by_trafilatura_keeps_headings_and_leaves_links_as_text():
    doc = parse("refunds.html", PAGE.encode("utf-8"))
    assert doc.kind == "html" and doc.title == "Refunds"
    assert [s.heading for s in doc.sections] == ["Refunds", "Disputed payments", "Timing"]
    text = texts(doc)
    assert "refunded by the shop within 14 days" in text and "We reply within 5 working days." in text
    assert "[the form](http://evil.example/form)" in text  # the page's own characters, kept as text
    assert "navigation" not in text and "Footer" not in text
    no_h1 = parse("no_h1.html", PAGE.replace("<h1>Refunds</h1>", "").encode("utf-8"))
    assert no_h1.title == "Refunds"  # from <title>, the site name left out


def encrypted_pdf() -> bytes:
    return pdf_with_outline(user_password="secret")


@pytest.mark.parametrize("name,data,reason", [
    ("locked.pdf", encrypted_pdf, "encrypted"),
    ("cut.pdf", lambda: pdf_bytes(FEE_PAGES)[:200], r"cannot read this \.pdf file: it is damaged"),
    ("fake.pdf", lambda: b"<html>not a pdf</html>", "not a PDF file"),
    ("blank.pdf", lambda: pdf_bytes([[]]), "no text found in the PDF.*OCR"),
    ("empty.docx", lambda: b"", "empty file"),
    ("cut.docx", lambda: docx_bytes()[:500], r"not a valid \.docx file"),
    ("sheet.docx", xlsx_bytes, r"cannot read this \.docx file.*not a Word file"),  # a zip, but not Word's
    ("locked.xlsx", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "password-protected or old-format"),
    ("garbage.pptx", lambda: b"PK\x03\x04" + bytes(300), r"not a valid \.pptx file"),
    ("old.doc", lambda: b"\xd0\xcf\x11\xe0", r"unsupported file type '\.doc'; save it as \.docx"),
])
def test_unreadable_documents_say_why(name, data, reason):
    with pytest.raises(ValueError, match=reason):
        parse(name, data())


def test_size_limits_refuse_large_files_and_zip_bombs(monkeypatch):
    monkeypatch.setattr(kb_module, "MAX_BINARY_DOCUMENT_BYTES", 1000)
    with pytest.raises(ValueError, match=r"the limit for \.pdf files is"):
        parse("big.pdf", pdf_bytes([["word " * 400]]))
    monkeypatch.setattr(kb_module, "MAX_BINARY_DOCUMENT_BYTES", 25_000_000)
    monkeypatch.setattr(kb_module, "MAX_UNPACKED_BYTES", 10_000)
    with pytest.raises(ValueError, match=r"unpacks to .* MB; the limit is"):
        parse("bomb.xlsx", xlsx_bytes())


def write_binary_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in [("fee_guide.pdf", pdf_with_outline()), ("travel.docx", docx_bytes()),
                       ("pots.pptx", pptx_bytes()), ("account_fees.xlsx", xlsx_bytes()),
                       ("refunds.html", PAGE.encode("utf-8"))]:
        (folder / name).write_bytes(data)
    return folder


def test_one_of_each_ingested_and_a_damaged_one_reported_by_name(tmp_path, embedder):
    docs = write_binary_docs(tmp_path / "docs")
    (docs / "damaged.docx").write_bytes(docx_bytes()[:700])
    (docs / "locked.pdf").write_bytes(encrypted_pdf())
    kb = KnowledgeBase(tmp_path / "kb", embedder).load()
    report = kb.ingest([docs])
    added = sorted(p.rsplit("/", 1)[-1] for p in report.added)
    assert added == ["account_fees.xlsx", "fee_guide.pdf", "pots.pptx", "refunds.html", "travel.docx"]
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in report.skipped}
    assert set(reasons) == {"damaged.docx", "locked.pdf"} and "encrypted" in reasons["locked.pdf"]
    assert "damaged.docx" in report.summary() and "not a valid .docx file" in report.summary()
    kinds = {d["path"].rsplit("/", 1)[-1]: d["kind"] for d in kb.documents()}
    assert kinds == {"account_fees.xlsx": "xlsx", "fee_guide.pdf": "pdf", "pots.pptx": "pptx",
                     "refunds.html": "html", "travel.docx": "docx"}
    sections = {(c.title, c.section) for c in kb.chunks.values()}
    assert {("Fee guide", "Transfers"), ("Travel money", "Cash machines abroad"), ("Savings pots", "Pot interest"),
            ("account fees", "Limits"), ("Refunds", "Disputed payments")} <= sections
    assert set(kb.index.ids().tolist()) == set(kb.chunks) == set(kb.bm25_ids.tolist())

    # a stored document whose file is damaged later is skipped, and what the base holds stays
    before = {c.id: c.text for c in kb.chunks.values() if c.path.endswith("fee_guide.pdf")}
    (docs / "fee_guide.pdf").write_bytes(pdf_with_outline()[:300])
    again = kb.ingest([docs / "fee_guide.pdf"])
    assert [p.rsplit("/", 1)[-1] for p, _ in again.skipped] == ["fee_guide.pdf"] and not again.replaced
    assert {c.id: c.text for c in kb.chunks.values() if c.path.endswith("fee_guide.pdf")} == before


def test_questions_are_answered_from_office_documents(tmp_path, embedder):
    bot = make_bot(tmp_path / "kb", embedder).warm_up()
    report = bot.ingest([write_binary_docs(tmp_path / "docs")])
    assert not report.skipped, report.summary()
    answer = bot.ask("How much interest does a savings pot pay?")
    assert answer.kind == "answer" and answer.sources[0].title == "Savings pots" and "3%" in answer.text
    answer = bot.ask("What does a SWIFT transfer cost?")
    assert answer.sources[0].title == "Fee guide" and answer.sources[0].section == "Transfers"
