"""Ingestion: every format, chunking, content hash, replace / remove, bad files, persistence and repair."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.support.kb import KnowledgeBase, chunk_sections, parse_document

from .conftest import CARDS, HTML, make_bot, write_kb


def parse(name: str, text: str | bytes):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_document(Path(name), data)


def test_markdown_keeps_title_sections_intent_and_cleans_tables():
    doc = parse("cards.md", CARDS)
    assert doc.title == "Card delivery"
    assert [s.heading for s in doc.sections] == ["When your card arrives", "If the card is lost in the post"]
    assert {s.intent for s in doc.sections} == {"card_arrival"}
    table = parse("t.md", "# T\n\n## Fees\n| Transfer | Fee |\n| --- | --- |\n| **SWIFT** | £5 |\n")
    assert table.sections[0].paragraphs == ["Transfer | Fee\nSWIFT | £5"]


def test_html_text_skips_boilerplate_and_keeps_sections_and_table_rows():
    doc = parse("contact.html", HTML)
    text = " ".join(p for s in doc.sections for p in s.paragraphs)
    assert doc.title == "Contact us"
    assert [s.heading for s in doc.sections] == ["Phone", "Opening hours"]
    assert "Chat | 24 hours" in text and "0100 000 000" in text
    for boilerplate in ("navigation", "Footer", "do not index"):
        assert boilerplate not in text


def test_faq_csv_and_jsonl_rows_become_whole_entries():
    doc = parse("faq.csv", 'question,answer,intent\n"Can I, really?","Yes, you can.",x\n')
    assert doc.kind == "faq" and doc.sections[0].heading == "Can I, really?"
    assert doc.sections[0].intent == "x" and doc.sections[0].whole
    doc = parse("faq.jsonl", '{"question": "Q1?", "answer": "A1."}\n\n{"q": "Q2?", "a": "A2."}\n')
    assert [s.heading for s in doc.sections] == ["Q1?", "Q2?"]


@pytest.mark.parametrize("name,data,reason", [
    ("faq.csv", "title_x,body\nq,a\n", "needs 'question' and 'answer'"),
    ("faq.csv", "question,answer\nq1,\n", "line 2: empty or missing answer"),
    ("faq.jsonl", '{"question": "q", "answer": "a"}\nnot json\n', "line 2: not JSON"),
    ("x.md", b"\xff\xfe\x00\x00binary", "binary file"),
    ("x.txt", b"caf\xe9 latin-1", "not UTF-8"),
    ("x.md", "   \n\n", "no text"),
    ("x.pdf", "%PDF-1.4", r"cannot read this \.pdf file: it is damaged"),
    ("x.doc", "text", r"unsupported file type '\.doc'; save it as \.docx"),
])
def test_unusable_documents_say_why(name, data, reason):
    with pytest.raises(ValueError, match=reason):
        parse(name, data)


def test_chunks_follow_paragraphs_with_overlap():
    paragraphs = [" ".join(f"p{n}w{i}" for i in range(40)) for n in range(4)]
    doc = parse("long.md", "# Long\n\n## Part\n" + "\n\n".join(paragraphs))
    chunks = chunk_sections(doc, chunk_words=90, overlap_words=10)
    assert len(chunks) == 2
    assert chunks[0]["text"].startswith("p0w0") and "p1w39" in chunks[0]["text"]
    assert chunks[1]["text"].startswith("... p1w30") and chunks[1]["section"] == "Part"
    assert all(c["title"] == "Long" for c in chunks)


def test_ingest_all_formats_hash_skip_replace_and_remove(tmp_path, docs, embedder):
    kb = KnowledgeBase(tmp_path / "kb", embedder).load()
    report = kb.ingest([docs])
    assert len(report.added) == 7 and not report.skipped
    assert len(kb.index) == kb.chunk_count() == len(kb.chunks)
    kinds = {d["path"].rsplit("/", 1)[-1]: d["kind"] for d in kb.documents()}
    assert kinds == {"accounts.md": "markdown", "cards.md": "markdown", "contact.html": "html", "faq.csv": "faq",
                     "more.jsonl": "faq", "savings.txt": "text", "transfers.md": "markdown"}

    again = kb.ingest([docs])
    assert len(again.unchanged) == 7 and again.chunks_embedded == 0

    before = {c.id for c in kb.chunks.values() if c.path.endswith("cards.md")}
    (docs / "cards.md").write_text(CARDS.replace("3-5 working days", "2 working days"), encoding="utf-8")
    replaced = kb.ingest([docs / "cards.md"])
    assert [p.rsplit("/", 1)[-1] for p in replaced.replaced] == ["cards.md"] and replaced.chunks_embedded == 2
    after = {c.id for c in kb.chunks.values() if c.path.endswith("cards.md")}
    assert not before & after and set(kb.index.ids().tolist()) == set(kb.chunks)
    assert any("2 working days" in c.text for c in kb.chunks.values())

    assert kb.remove(str(docs / "savings.txt")) and not kb.remove(str(docs / "savings.txt"))
    assert not any(c.path.endswith("savings.txt") for c in kb.chunks.values())
    assert set(kb.index.ids().tolist()) == set(kb.chunks) == set(kb.bm25_ids.tolist())


def test_bad_files_are_skipped_with_reasons_and_the_rest_ingested(tmp_path, docs, embedder):
    (docs / "broken.csv").write_text("question,answer\nonly a question,\n", encoding="utf-8")
    (docs / "binary.md").write_bytes(b"\x00\x01\x02")
    kb = KnowledgeBase(tmp_path / "kb", embedder).load()
    report = kb.ingest([docs, tmp_path / "missing.md"])
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in report.skipped}
    assert set(reasons) == {"broken.csv", "binary.md", "missing.md"}
    assert "empty or missing answer" in reasons["broken.csv"] and "binary" in reasons["binary.md"]
    assert len(report.added) == 7 and "skipped 3" in report.summary()


def test_indexes_persist_and_damaged_or_missing_ones_are_rebuilt(tmp_path, docs, embedder):
    kb = KnowledgeBase(tmp_path / "kb", embedder).load()
    kb.ingest([docs])
    count = len(kb.chunks)
    kb.close()

    reloaded = KnowledgeBase(tmp_path / "kb", embedder).load()
    assert len(reloaded.index) == count and reloaded.repairs == []

    (tmp_path / "kb" / "dense.faiss").write_bytes(b"not a faiss index")
    (tmp_path / "kb" / "bm25" / "params.index.json").write_text("{broken", encoding="utf-8")
    repaired = KnowledgeBase(tmp_path / "kb", embedder).load()
    assert len(repaired.index) == count and repaired.bm25 is not None
    assert any("rebuilt" in r for r in repaired.repairs)

    (tmp_path / "kb" / "dense.faiss").unlink()
    again = KnowledgeBase(tmp_path / "kb", embedder).load()
    assert set(again.index.ids().tolist()) == set(again.chunks)
    assert (tmp_path / "kb" / "dense.faiss").is_file()  # written back


def test_damaged_store_is_a_clear_error(tmp_path, embedder):
    from core.errors import SuiteError

    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "kb.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(SuiteError, match="damaged.*ingest the documents again"):
        KnowledgeBase(folder, embedder)


def test_base_changed_while_serving_is_picked_up(tmp_path, embedder):
    docs = write_kb(tmp_path / "docs")
    serving = make_bot(tmp_path / "kb", embedder).warm_up()
    serving.ingest([docs / "cards.md"])
    admin = make_bot(tmp_path / "kb", embedder).warm_up()  # another process: the admin view
    (docs / "pets.md").write_text("# Pet insurance\n\n## Cover\nPet insurance covers vet bills up to £3,000 "
                                  "a year for cats and dogs.", encoding="utf-8")
    admin.ingest([docs / "pets.md"])
    answer = serving.ask("Does the pet insurance cover vet bills for my dog?")
    assert answer.kind == "answer" and answer.sources[0].title == "Pet insurance"
    admin.remove(str(docs / "pets.md"))
    assert all(s.title != "Pet insurance" for s in serving.ask("pet insurance vet bills").sources)
