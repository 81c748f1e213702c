"""Analysts correct, the model learns: corrections with who/when, the least-sure headlines first,
and a re-training that is swapped in only when it is not worse (a real tiny model, trained here)."""

import json
import shutil

import pytest

from apps.sentiment.pipeline import Monitor
from core.errors import DataError
from tests.apps.sentiment.conftest import BAD, GOOD, feed

# a domain the tiny model never saw: new phrases, with their true sentiment
NEW_GOOD = ["bookings hit a record", "guidance lifted", "margin beat", "buyback announced", "upgrade by analysts"]
NEW_BAD = ["plant closure announced", "guidance slashed", "margin miss", "recall widened", "downgrade by analysts"]


@pytest.fixture
def own_monitor(tmp_path, tiny_sentiment, monitor_config):
    """The test monitor serving a copy of the tiny model (a re-training swaps the served folder)."""
    from apps.sentiment.config import load_monitor_config

    served = shutil.copytree(tiny_sentiment, tmp_path / "served")
    config = tmp_path / "own.toml"
    config.write_text((tmp_path / "m.toml").read_text().replace(f'"{tiny_sentiment}"', f'"{served}"'))
    monitor = Monitor(load_monitor_config(config)).warm_up()
    companies = ["Acme", "Borealis", "Cobalt", "Dunmore"]
    entries = [(1 + n % 20, n % 24, f"{companies[n // 10]} {phrase} this week")
               for n, phrase in enumerate([p for pair in zip(NEW_GOOD * 4, NEW_BAD * 4) for p in pair])]
    entries += [(22, 1, f"Acme {GOOD[0]} this week"), (22, 2, f"Acme {BAD[0]} this week")]
    monitor.ingest([str(feed(tmp_path / "news.jsonl", entries))])
    yield monitor
    monitor.close()


def _truth(title: str) -> str:
    return "positive" if any(p in title for p in NEW_GOOD + GOOD) else "negative"


def test_corrections_are_stored_with_who_and_the_least_sure_come_first(own_monitor):
    queue = own_monitor.review_queue(50)
    assert len(queue) == 42
    assert [q["margin"] for q in queue] == sorted(q["margin"] for q in queue)
    first = queue[0]
    done = own_monitor.correct(first["uid"], _truth(first["title"]), "ana")
    assert done["model_said"] == first["label"] and done["analyst"] == "ana"
    stored = own_monitor.store.corrections()
    assert [(c["item_uid"], c["analyst"], c["previous_label"]) for c in stored] == [(first["uid"], "ana", first["label"])]
    assert stored[0]["corrected_at"] > 0
    assert first["uid"] not in [q["uid"] for q in own_monitor.review_queue(50)]  # corrected: off the queue
    with pytest.raises(DataError, match="not one of the model's labels"):
        own_monitor.correct(first["uid"], "bullish", "ana")
    with pytest.raises(DataError, match="no stored item"):
        own_monitor.correct("nothing-like-this", "positive", "ana")
    with pytest.raises(DataError, match="analyst"):
        own_monitor.correct(first["uid"], "positive", " ")


def test_alerts_take_a_verdict(monitor_config, tmp_path):
    from tests.apps.sentiment.test_monitor import calm_then_burst

    monitor = Monitor(monitor_config)
    monitor.ingest([str(calm_then_burst(tmp_path / "f.jsonl"))])
    alert = monitor.store.alerts()[0]
    monitor.judge_alert(alert["id"], "false_alarm", "ben", "one-off story")
    judged = monitor.store.alerts()[0]
    assert judged["verdict"] == "false_alarm" and judged["judged_by"] == "ben"
    with pytest.raises(DataError, match="no alert 999"):
        monitor.judge_alert(999, "false_alarm", "ben")
    monitor.close()


def test_retraining_needs_enough_corrections(own_monitor):
    for row in own_monitor.review_queue(3):
        own_monitor.correct(row["uid"], _truth(row["title"]), "ana")
    with pytest.raises(DataError, match="3 usable correction.*at least 10"):
        own_monitor.retrain()


@pytest.mark.slow
def test_retraining_on_corrections_is_swapped_in_only_when_not_worse(own_monitor, tmp_path):
    from core.artifacts import read_manifest

    for row in own_monitor.review_queue(30):
        own_monitor.correct(row["uid"], _truth(row["title"]), "ana")
    served = own_monitor.config.artifact(own_monitor.config.sentiment_model)
    created = read_manifest(served)["created_at"]

    # a bar no model can pass (the test split would have to gain 100 points): refused, nothing moves
    refused = own_monitor.retrain(max_test_drop=-1.0)
    assert not refused.accepted and "test-split accuracy" in refused.reason
    assert read_manifest(served)["created_at"] == created
    assert not list(served.parent.glob(".served.candidate-*"))
    assert set(refused.before) == set(refused.after) == {"held-out corrections", "test split"}
    assert refused.corrections["train"] + refused.corrections["held_out"] == 30

    # the ordinary rule: accepted when not worse on the held-out corrections and the test split
    old_model = own_monitor.model_id
    result = own_monitor.retrain()
    print(result.summary())  # shown with -s: the figures of this run
    gain = result.after["held-out corrections"]["accuracy"] - result.before["held-out corrections"]["accuracy"]
    drop = result.before["test split"]["accuracy"] - result.after["test split"]["accuracy"]
    assert result.accepted == (gain >= 0 and drop <= 0.01)
    saved = json.loads((tmp_path / "home" / "monitor" / "retrain").glob("*/result.json").__next__().read_text())
    assert "before" in saved and "after" in saved
    if result.accepted:
        assert read_manifest(served)["retrained_from_corrections"]["corrections"]["train"] == result.corrections["train"]
        assert own_monitor.model_id != old_model and "re-trained on" in own_monitor.trained_on
        assert own_monitor.store.items_without_score(own_monitor.model_id, 5) == []  # the store was re-scored
        assert result.kept_previous and (tmp_path / result.kept_previous.split("/")[-1]).is_dir()
        # on the new domain the corrected model is right more often than the served one was
        assert result.after["held-out corrections"]["accuracy"] >= result.before["held-out corrections"]["accuracy"]


def test_monitor_score_and_status_say_what_the_model_is(own_monitor, tmp_path, capsys):
    from core.cli import main

    config = str(tmp_path / "own.toml")
    texts = tmp_path / "texts.txt"
    texts.write_text(f"Acme {GOOD[1]} this week\n\nAcme {BAD[1]} this week\n", encoding="utf-8")
    assert main(["monitor", "--config", config, "score", "--input", str(texts)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["line"] for line in lines] == [1, 2, 3] and lines[1]["error"] == "empty text"
    assert lines[0]["label"] == "positive" and lines[2]["label"] == "negative"
    expected = own_monitor.score_texts([f"Acme {GOOD[1]} this week"])[0]
    assert lines[0]["scores"] == pytest.approx(expected["scores"])
    assert main(["monitor", "--config", config, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["model"].startswith("tiny: trained on s.csv") and "own test split: accuracy" in status["model"]
    assert status["sample_only"] is False
    assert main(["monitor", "--config", config, "review", "-n", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
