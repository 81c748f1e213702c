"""The sample feed, RSS file and watch-list that ship with the project read cleanly."""

from pathlib import Path

from apps.sentiment.config import load_monitor_config
from apps.sentiment.entities import EntityExtractor, Watchlist
from apps.sentiment.items import Item, read_source

SAMPLES = Path(__file__).parents[3] / "data" / "samples"
CONFIG = Path(__file__).parents[3] / "configs" / "monitor-sample.toml"


def test_sample_feed_watchlist_and_rss():
    items = list(read_source(SAMPLES / "news_feed.jsonl"))
    assert len(items) >= 300 and all(isinstance(i, Item) for i in items)
    assert len({i.uid for i in items}) == len(items)
    days = {i.published.date() for i in items}
    assert (max(days) - min(days)).days >= 28
    watchlist = Watchlist.from_csv(SAMPLES / "watchlist.csv")
    mentions = EntityExtractor(watchlist).extract([i.text for i in items])
    named = {m.entity for ms in mentions for m in ms if m.on_watchlist}
    assert named == {c.name for c in watchlist.companies} and len(named) >= 12
    rss = list(read_source(SAMPLES / "feed.xml"))
    assert len(rss) == 20 and all(isinstance(i, Item) for i in rss)


def test_sample_config_is_valid():
    config = load_monitor_config(CONFIG)
    assert {r.kind for r in config.rule_list} == {"share_negative", "negative_zscore", "mean_drop"}
    assert config.path(config.watchlist).is_file() and len(config.topics) >= 7
