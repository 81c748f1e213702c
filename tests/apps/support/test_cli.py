"""``ftsuite support`` as a user runs it: ingest into a named base, ask --json, ask --input --json, tickets."""

from __future__ import annotations

import json

from core.cli import main


def test_ingest_ask_json_and_input_jsonl(tmp_path, docs, capsys):
    kb = str(tmp_path / "kb")
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n", encoding="utf-8")
    assert main(["support", "ingest", str(docs), str(bad), "--kb", kb]) == 0
    out = capsys.readouterr().out
    assert "added 7" in out and "skipped 1" in out and "bad.csv" in out

    assert main(["support", "ask", "How much does a SWIFT transfer cost?", "--json", "--kb", kb]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    answer = json.loads(lines[0])
    assert {"answer", "sources", "intent", "confidence", "handed_off", "kind"} <= set(answer)
    assert answer["sources"][0]["path"].endswith("transfers.md") and answer["handed_off"] is False
    assert set(answer["sources"][0]) == {"path", "title", "section", "text", "score"}
    scores = [s["score"] for s in answer["sources"]]
    assert scores == sorted(scores, reverse=True)

    questions = tmp_path / "questions.txt"
    questions.write_text("How long does card delivery take?\n\nI want to speak to a human\nWhat is the weather "
                         "on Mars?\n", encoding="utf-8")
    assert main(["support", "ask", "--input", str(questions), "--json", "--kb", kb]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["kind"] for r in rows] == ["answer", "dont_know", "handoff", "dont_know"]
    assert rows[0]["sources"][0]["title"] == "Card delivery" and rows[2]["handed_off"] is True
    assert rows[3]["sources"]  # sources also when it does not know

    assert main(["support", "tickets", "--kb", kb]) == 0
    assert "customer asked for a person" in capsys.readouterr().out
    assert main(["support", "ingest", "--remove", str(docs / "faq.csv"), "--kb", kb]) == 0
    assert "removed" in capsys.readouterr().out
    assert main(["support", "ask", "--input", str(tmp_path / "none.txt"), "--kb", kb]) == 2


def test_train_embedder_is_a_command(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["support", "train-embedder", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "support train-embedder" in out and "--set" in out
