import json
import os
import signal
import subprocess
import sys
import time

import pytest

from apps.sentiment.pipeline import Monitor
from tests.apps.sentiment.conftest import BAD, GOOD, feed

pytestmark = pytest.mark.slow


def calm_then_burst(path):
    entries = []
    for day in range(1, 11):  # calm: one good and one bad Acme item a day
        entries += [(day, 9, f"Acme {GOOD[day % 6]} this week"), (day, 15, f"Acme {BAD[day % 6]} this week")]
    entries += [(12, h, f"Acme {BAD[h % 6]} this week") for h in range(8, 14)]  # burst of six on the 12th
    entries += [(d, h, f"Acme {GOOD[h % 6]} this week") for d in (15, 16) for h in (9, 12, 15)]  # recovery
    return feed(path, entries)


def test_burst_fires_once_resolves_and_is_delivered(monitor_config, tmp_path):
    monitor = Monitor(monitor_config)
    report = monitor.ingest([str(calm_then_burst(tmp_path / "f.jsonl"))])
    assert report.new == 32 and not report.skipped
    assert [(a["rule"], a["scope_key"]) for a in report.alerts_fired] == [("neg-share", "Acme")]
    assert report.alerts_fired[0]["at"].day == 12
    alerts = monitor.store.alerts()
    assert len(alerts) == 1 and alerts[0]["state"] == "resolved"
    delivered = [json.loads(l) for l in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [d["event"] for d in delivered] == ["fired", "resolved"]
    # back-testing the stored history finds the same alert without touching the stored ones
    replay = monitor.backtest()
    assert [(a["rule"], a["scope_key"]) for a in replay] == [("neg-share", "Acme")]
    assert len(monitor.store.alerts()) == 1
    # ingestion is idempotent
    again = monitor.ingest([str(tmp_path / "f.jsonl")])
    assert again.new == 0 and again.duplicates == 32 and not again.alerts_fired
    assert monitor.store.count("items") == 32 and monitor.store.count("scores") == 32
    assert monitor.analyse("Acme profit fell this week")["sentiment"]["label"] == "negative"
    png = monitor.report_png("entity", "Acme", tmp_path / "r.png")
    assert png.stat().st_size > 1000
    monitor.close()


def test_webhook_down_keeps_alerts_until_delivered(monitor_config, tmp_path):
    import http.server
    import socket
    import threading

    from apps.sentiment.fetch import FetchPolicy
    from apps.sentiment.notifiers import WebhookNotifier

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monitor = Monitor(monitor_config).warm_up()
    hook = WebhookNotifier(f"http://127.0.0.1:{port}/hook", timeout=1, retries=2, backoff=0.01)
    hook.policy = FetchPolicy(allow_hosts=("127.0.0.1",))  # a loopback webhook is refused unless allowed
    monitor.notifiers = [hook]
    monitor.ingest([str(calm_then_burst(tmp_path / "f.jsonl"))])
    pending = monitor.store.pending_deliveries()
    assert len(pending) == 2 and pending[0]["attempts"] == 1 and pending[0]["last_error"]

    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert monitor.deliver() == {"sent": 2, "failed": 0}
    finally:
        server.shutdown()
    assert [r["event"] for r in received] == ["fired", "resolved"] and received[0]["scope_key"] == "Acme"
    assert monitor.store.pending_deliveries() == []
    monitor.close()


def test_rescore_with_a_new_model(monitor_config, tmp_path, tiny_sentiment):
    import shutil

    from core.artifacts import update_manifest

    monitor = Monitor(monitor_config)
    monitor.ingest([str(feed(tmp_path / "f.jsonl", [(1, 9, "Acme profit rose this week")]))])
    monitor.close()
    second = tmp_path / "second"
    monitor_config.sentiment_model = f"{second}|{tiny_sentiment}"  # the better model when built, else the first
    monitor = Monitor(monitor_config)
    assert monitor.rescore() == 0  # the fallback already scored everything
    monitor.close()
    shutil.copytree(tiny_sentiment, second)
    update_manifest(second, created_at="2026-11-01T00:00:00+00:00")
    monitor = Monitor(monitor_config)
    monitor_config.sources = []
    from demos.sentiment import prepare

    assert "1 stored items re-scored" in prepare(monitor)  # the demo never shows a half-scored feed
    assert monitor.rescore() == 0
    assert monitor.store.count("scores") == 2  # both models' scores are kept
    monitor.close()


def test_kill_during_ingestion_loses_nothing_and_stores_nothing_twice(monitor_config, tmp_path, tiny_sentiment,
                                                                      tiny_base):
    entries = [(1 + (n // 100) % 28, n % 24, f"Acme {(GOOD + BAD)[n % 12]} item {n}") for n in range(1200)]
    path = feed(tmp_path / "big.jsonl", entries)
    # good and bad sources mixed: a file with one good record among bad ones, and a dead feed URL
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"title": "Acme profit rose again", "published": "2026-10-02T08:00:00Z"}\n'
                     '{"title": "far future", "published": 1e20}\nnot json\n', encoding="utf-8")
    sources = [str(mixed), str(path), "http://127.0.0.1:9/dead.xml"]
    db = monitor_config.path(monitor_config.database)
    script = f"""
import sys
sys.path.insert(0, {str(os.getcwd())!r})
from apps.sentiment.config import load_monitor_config
from apps.sentiment.pipeline import Monitor
Monitor(load_monitor_config({str(tmp_path / 'm.toml')!r})).ingest({sources!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    import sqlite3

    deadline = time.time() + 120
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM items").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
            if stored >= 100:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < stored < 1200, "the process must be killed in the middle of ingestion"

    monitor = Monitor(monitor_config)
    report = monitor.ingest(sources)
    assert report.new == 1201 - report.duplicates and len(report.skipped) == 2
    assert [name for name, _ in report.failed_sources] == ["http://127.0.0.1:9/dead.xml"]
    assert monitor.store.count("items") == 1201 and monitor.store.count("scores") == 1201
    orphans = monitor.store.db.execute(
        "SELECT COUNT(*) FROM items i WHERE NOT EXISTS (SELECT 1 FROM scores s WHERE s.item_uid=i.uid)").fetchone()[0]
    assert orphans == 0
    monitor.close()


def test_ner_finds_organisations_beyond_the_watch_list(tiny_base, tmp_path, monitor_config):
    """A tiny NER model that has learnt 'X Holdings' = ORG feeds mentions outside the watch-list."""
    from apps.sentiment.entities import EntityExtractor, Watchlist
    from core.inference import load_predictor
    from core.training import train_model
    from tests.conftest import tiny_config

    names = ["Zentor", "Mavri", "Quelp", "Borlin", "Tasko", "Vimmer", "Crandal", "Ostrel"]
    lines = []
    prefixes = [[], ["Shares", "of"], ["Acme", "Corp", "and"], ["Analysts", "say"]]
    for i in range(128):  # every sentence different: 8 names x 4 verbs x 4 openings
        name = names[i % 8]
        verb = ["raised", "cut", "kept", "reviewed"][(i // 8) % 4]
        before = [f"{w} O" for w in prefixes[(i // 32) % 4]]
        lines += before + [f"{name} B-ORG", "Holdings I-ORG", f"{verb} O", "its O", "outlook O", ""]
    data = tmp_path / "ner.conll"
    data.write_text("\n".join(lines))
    manifest = train_model(tiny_config(data, tiny_base, task="token_classification", max_steps=90,
                                       learning_rate=5e-3, batch_size=16), output=tmp_path / "ner")
    assert manifest["metrics"]["test"]["f1"] >= 0.9, manifest["metrics"]["test"]
    extractor = EntityExtractor(Watchlist.from_csv(monitor_config.path(monitor_config.watchlist)),
                                load_predictor(manifest.path, backend="torch"))
    mentions = extractor.extract(["Acme Corp and Quelp Holdings cut its outlook"])[0]
    found = {(m.entity, m.kind, m.on_watchlist) for m in mentions}
    assert ("Acme", "watchlist", True) in found
    assert ("Quelp Holdings", "ner", False) in found
    # an NER span that is only part of a listed name found in the same text is that company
    listed = tmp_path / "watchlist.csv"
    listed.write_text("name,aliases,ticker,sector\nQuelp Holdings Group,,QHG,industry\n")
    extractor = EntityExtractor(Watchlist.from_csv(listed), extractor.ner)
    mentions = extractor.extract(["Quelp Holdings Group cut its outlook"])[0]
    assert [(m.entity, m.kind) for m in mentions] == [("Quelp Holdings Group", "watchlist")]


def test_parallel_and_sequential_pipelines_store_the_same(monitor_config, tmp_path):
    """The pipelined path (next batch scored while one is stored) changes speed, not results."""
    import dataclasses

    source = str(calm_then_burst(tmp_path / "f.jsonl"))
    outcomes = []
    for parallel in (False, True):
        config = dataclasses.replace(monitor_config, parallel=parallel, database=str(tmp_path / f"{parallel}.db"))
        monitor = Monitor(config)
        report = monitor.ingest([source], deliver=False)
        rows = sorted((r["title"], r["label"], round(r["score"], 3), r["topics"])
                      for r in monitor.store.latest(monitor.model_id, limit=100))
        outcomes.append((report.new, [(a["rule"], a["scope_key"], a["at"]) for a in report.alerts_fired], rows))
        assert (monitor._pool is not None) == parallel
        monitor.close()
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == 32


def test_a_fallback_model_rescores_unsure_headlines_and_the_store_says_which(monitor_config, tmp_path,
                                                                            tiny_sentiment):
    import dataclasses
    import sqlite3

    from core.errors import ConfigError

    entries = [(1, 9, f"Acme {GOOD[0]} this week"), (1, 10, f"Borealis {BAD[1]} this week"),
               (1, 11, "Acme held its meeting")]
    plain = Monitor(monitor_config)
    plain.ingest([str(feed(tmp_path / "f.jsonl", entries))])
    tops = {r["title"]: r["score"] for r in plain.store.latest(plain.model_id)}
    plain.close()

    missing = dataclasses.replace(monitor_config, sentiment_fallback=str(tmp_path / "not-built"), defer_below=0.9)
    monitor = Monitor(missing).warm_up()
    assert "fallback off" in monitor.sentiment_status and ">" not in monitor.model_id
    assert "build it with" not in monitor.sentiment_status  # no recipe of that name beside the config
    monitor.close()
    (tmp_path / "not-built.toml").write_text("# a recipe of that name beside the config (m.toml)\n")
    monitor = Monitor(missing).warm_up()
    assert monitor.sentiment_status.endswith(f"; build it with 'ftsuite up {(tmp_path / 'not-built.toml').resolve()}', "
                                             f"then 'ftsuite export {tmp_path / 'not-built'} --int8 static')")
    monitor.close()

    # the same model as its own fallback, with every headline under the threshold: all deferred
    cascade = dataclasses.replace(monitor_config, sentiment_fallback=str(tiny_sentiment), defer_below=1.0)
    monitor = Monitor(cascade)
    assert monitor.rescore() == 3  # a new model id: the scores of the cascade are stored beside the old ones
    assert ">tiny@" in monitor.model_id and monitor.model_id.endswith("<1")
    rows = monitor.store.latest(monitor.model_id)
    assert all(r["deferred"] == 1 for r in rows) and {r["title"]: r["score"] for r in rows} == tops
    monitor.close()
    db = sqlite3.connect(monitor_config.path(monitor_config.database))
    assert db.execute("SELECT COUNT(*) FROM scores WHERE deferred=0").fetchone()[0] == 3  # the first model's

    # the same, its probabilities weighted half and half with the first model's: the same model, the same scores
    weighted = dataclasses.replace(cascade, fallback_weight=0.5)
    monitor = Monitor(weighted)
    assert monitor.rescore() == 3 and monitor.model_id.endswith("<1*0.5")
    assert "weighted 0.5" in monitor.sentiment_status
    assert {r["title"]: r["score"] for r in monitor.store.latest(monitor.model_id)} == tops
    monitor.close()

    with pytest.raises(ConfigError, match="defer_below is 0"):
        dataclasses.replace(monitor_config, sentiment_fallback=str(tiny_sentiment), defer_below=0.0)
    with pytest.raises(ConfigError, match="fallback_weight = 0"):
        dataclasses.replace(cascade, fallback_weight=0.0)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        dataclasses.replace(monitor_config, defer_below=2.0)


def test_a_static_int8_fallback_is_taken_and_a_dynamic_one_is_flagged(tiny_sentiment, monitor_config, tmp_path):
    import dataclasses
    import shutil

    from apps.sentiment.pipeline import batch_dependence_note
    from core.artifacts import read_manifest
    from core.inference import int8_is_static, load_predictor
    from exports import export_artifact

    artifact = tmp_path / "fallback"
    shutil.copytree(tiny_sentiment, artifact)
    export_artifact(artifact, int8=True)
    note = batch_dependence_note(load_predictor(artifact, backend="onnx", precision="int8"))
    assert "dynamic int8" in note and f"ftsuite export {artifact} --int8 static" in note
    assert batch_dependence_note(load_predictor(artifact, backend="onnx", precision="fp32")) == ""
    assert not int8_is_static(read_manifest(artifact))  # so fallback_precision = "batch-independent" takes fp32
    export_artifact(artifact, int8="static")
    assert int8_is_static(read_manifest(artifact))
    assert batch_dependence_note(load_predictor(artifact, backend="onnx", precision="int8")) == ""

    # the monitor takes the static graph as its fallback, and a headline scored alone (the demo's box)
    # gets exactly the score stored for it from a batch
    cascade = dataclasses.replace(monitor_config, backend="auto", sentiment_fallback=str(artifact), defer_below=1.0)
    monitor = Monitor(cascade).warm_up()
    assert monitor.sentiment.second.precision == "int8" and "dynamic" not in monitor.sentiment_status
    entries = [(1, 9, f"Acme {GOOD[0]} this week"), (1, 10, f"Borealis {BAD[1]} this week"),
               (1, 11, "Acme held its annual meeting in the north region with the board and the owners")]
    monitor.ingest([str(feed(tmp_path / "f.jsonl", entries))])
    stored = {r["title"]: (r["score"], r["deferred"]) for r in monitor.store.latest(monitor.model_id)}
    assert len(stored) == 3 and all(deferred == 1 for _, deferred in stored.values())
    assert {t: monitor.analyse(t)["sentiment"]["score"] for t in stored} == {t: s for t, (s, _) in stored.items()}
    monitor.close()


def test_a_database_of_schema_2_is_migrated_without_losing_scores(tmp_path):
    import sqlite3

    from apps.sentiment.store import MIGRATIONS, SCHEMA_VERSION, Store

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    for script in MIGRATIONS[:2]:
        db.executescript(script)
    db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    db.execute("INSERT INTO items VALUES ('u1', 'Acme profit rose', '', 1.0, 'wire', '', 'f', 1.0)")
    db.execute("INSERT INTO scores VALUES ('u1', 'old@1', 'positive', 0.1, 0.1, 0.8, 0.7, 1.0)")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION == 6
    row = store.latest("old@1")[0]
    assert row["score"] == 0.7 and row["deferred"] == 0  # the old score is kept, made by a single model
    store.close()
