import json

import pytest

from tests.conftest import tiny_config, write_csv

GOOD = ["profit rose", "sales grew", "order won", "shares jumped", "dividend raised", "outlook upgraded"]
BAD = ["profit fell", "sales dropped", "order lost", "shares slumped", "dividend cut", "outlook downgraded"]


@pytest.fixture(scope="session")
def tiny_sentiment(tiny_base, tmp_path_factory):
    """A tiny model that has learnt GOOD vs BAD phrases well enough to score them reliably."""
    from core.training import train_model

    folder = tmp_path_factory.mktemp("sentiment")
    rows = []
    for company in ("Acme", "Borealis", "Cobalt", "Dunmore"):
        rows += [(f"{company} {p} this week", "positive") for p in GOOD]
        rows += [(f"{company} {p} this week", "negative") for p in BAD]
    data = write_csv(folder / "s.csv", rows)
    config = tiny_config(data, tiny_base, max_steps=80, learning_rate=3e-3, batch_size=16)
    config.data.test_size, config.data.validation_size = 0.1, 0.1
    manifest = train_model(config, output=folder / "artifact")
    assert manifest["metrics"]["test"]["accuracy"] >= 0.99, manifest["metrics"]
    return manifest.path


@pytest.fixture
def monitor_config(tmp_path, tiny_sentiment, tiny_base):
    from apps.sentiment.config import load_monitor_config

    (tmp_path / "w.csv").write_text("name,aliases,ticker,sector\nAcme,Acme Corp,ACME,x\nBorealis,,BORE,y\n")
    config = tmp_path / "m.toml"
    config.write_text(f"""
database = "{tmp_path / 'db' / 'm.db'}"
watchlist = "w.csv"
sentiment_model = "{tiny_sentiment}"
ner_model = ""
embedder = "{tiny_base}"
backend = "torch"
batch_size = 8
[topics]
results = ["profit rose", "profit fell"]
[[rules]]
name = "neg-share"
kind = "share_negative"
scope = "entity"
window = "1d"
baseline = "5d"
threshold = 0.7
min_volume = 4
cooldown = "2d"
severity = "high"
[[notifiers]]
kind = "file"
path = "{tmp_path / 'alerts.jsonl'}"
""")
    return load_monitor_config(config)


def feed(path, entries):
    """entries: (day_of_october, hour, title) -> JSONL file with unique urls."""
    with open(path, "w") as handle:
        for n, (day, hour, title) in enumerate(entries):
            handle.write(json.dumps({"title": title, "summary": "", "source": "wire",
                                     "published": f"2026-10-{day:02d}T{hour:02d}:00:00Z",
                                     "url": f"https://news.test/{n}"}) + "\n")
    return path
