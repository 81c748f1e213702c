"""``ftsuite recommend``: train on CSV files, the batch contract, clear errors."""

import json
import shutil

import pytest

from apps.recommender.data import SAMPLE_DIR
from core.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sample files trained through the CLI (no interest model: frozen text only)."""
    home = tmp_path_factory.mktemp("cli-home")
    with pytest.MonkeyPatch.context() as patch:  # a module fixture cannot take `monkeypatch`
        patch.setenv("FTSUITE_HOME", str(home))
        folder = home / "rec"
        assert main(["recommend", "train", "--items", str(SAMPLE_DIR / "items.csv"), "--interactions",
                     str(SAMPLE_DIR / "interactions.csv"), "--rating-range", "1,5", "--no-interest",
                     "--output", str(folder)]) == 0
    return home, folder


def test_batch_prints_one_json_object_per_user(built, tmp_path, capsys, monkeypatch):
    home, folder = built
    monkeypatch.setenv("FTSUITE_HOME", str(home))
    users = tmp_path / "users.txt"
    users.write_text("u01\n\nu02\nghost\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["recommend", "batch", "--users", str(users), "-k", "4", "--model", str(folder)]) == 0
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert [line["user"] for line in lines] == ["u01", "u02", "ghost"]
    for line in lines[:2]:
        assert len(line["items"]) == 4 == len(line["scores"])
        assert line["scores"] == sorted(line["scores"], reverse=True)
    assert lines[2]["items"] == [] and "unknown user 'ghost'" in lines[2]["error"]
    assert "1 user(s) could not be scored" in out.err


def test_query_commands_and_errors(built, capsys, monkeypatch):
    home, folder = built
    monkeypatch.setenv("FTSUITE_HOME", str(home))
    assert main(["recommend", "from", "The Quiet Orbit", "Neon Harbour", "-k", "3", "--model", str(folder),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {"m01", "m06"}.isdisjoint(r["item_id"] for r in rows)
    assert main(["recommend", "similar", "m01", "-k", "2", "--model", str(folder)]) == 0
    assert "similar to The Quiet Orbit" in capsys.readouterr().out
    assert main(["recommend", "user", "nobody", "--model", str(folder)]) == 2
    assert "unknown user 'nobody'" in capsys.readouterr().err
    assert (folder / "cold.json").is_file()  # the cold-start settings chosen at train time
    cold = json.loads((folder / "cold.json").read_text(encoding="utf-8"))
    assert {"alpha", "text_weight", "calib_a", "calib_b"} <= set(cold)
    assert main(["recommend", "new-item", "Orbit of Shadows", "--genres", "Sci-Fi|Thriller", "--year", "2019",
                 "-k", "3", "--model", str(folder), "--json"]) == 0
    users = json.loads(capsys.readouterr().out)
    assert len(users) == 3 and all({"user", "score", "recent"} <= set(u) for u in users)


def test_train_reports_bad_files(tmp_path, capsys):
    items = tmp_path / "items.csv"
    shutil.copy(SAMPLE_DIR / "items.csv", items)
    inter = tmp_path / "inter.csv"
    inter.write_text("user_id,item_id,rating,timestamp\nu1,m01,9,10\n", encoding="utf-8")
    assert main(["recommend", "train", "--items", str(items), "--interactions", str(inter), "--rating-range",
                 "1,5", "--no-interest", "--output", str(tmp_path / "out")]) == 2
    assert "inter.csv:2 column 'rating': rating 9 is outside 1..5" in capsys.readouterr().err
    assert main(["recommend", "train", "--items", str(items), "--no-interest"]) == 2
    assert "give both --items and --interactions" in capsys.readouterr().err
