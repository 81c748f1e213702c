import json

import pytest

from apps.sentiment.entities import EntityExtractor, Watchlist
from apps.sentiment.items import Item, Skipped, read_source
from core.errors import DataError

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Acme &lt;b&gt;wins&lt;/b&gt; order</title><link>https://x.test/1</link>
<description>&lt;script&gt;alert(1)&lt;/script&gt;Big order.</description><pubDate>Mon, 02 Nov 2026 08:00:00 +0100</pubDate></item>
<item><title></title><link>https://x.test/2</link><pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_rss_items_are_plain_text_in_utc(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(RSS)
    out = list(read_source(path))
    item, skipped = out
    assert isinstance(item, Item) and isinstance(skipped, Skipped) and skipped.reason == "no title"
    assert item.title == "Acme wins order" and "<" not in item.summary
    assert item.published.isoformat() == "2026-11-02T07:00:00+00:00" and item.uid == "url:https://x.test/1"


def test_jsonl_and_csv_malformed_entries_are_skipped_with_reasons(tmp_path):
    path = tmp_path / "f.jsonl"
    rows = [json.dumps({"title": "Fine", "published": "2026-10-01T10:00:00Z", "url": "javascript:alert(1)"}),
            "{broken", json.dumps(["list"]), json.dumps({"title": "No time"}),
            json.dumps({"title": "Bad time", "published": "yesterday"}),
            json.dumps({"title": 5, "published": "2026-10-01"})]
    path.write_text("\n".join(rows) + "\n")
    out = list(read_source(path))
    assert isinstance(out[0], Item) and out[0].url == "" and out[0].uid.startswith("sha1:")
    reasons = [s.reason for s in out[1:]]
    assert "not valid JSON" in reasons[0] and reasons[1] == "expected a JSON object"
    assert reasons[2] == "no published time" and "unreadable time" in reasons[3] and reasons[4] == "no title"
    assert [s.origin for s in out[1:]] == [f"{path}:{n}" for n in (2, 3, 4, 5, 6)]
    csv_path = tmp_path / "f.csv"
    csv_path.write_text("headline,when\nx,y\n")
    assert "no 'title' column" in list(read_source(csv_path))[0].reason


def test_only_http_https_and_files(tmp_path):
    with pytest.raises(DataError, match="only http, https and file"):
        list(read_source("ftp://example.com/feed.xml"))
    with pytest.raises(DataError, match="not found"):
        list(read_source(tmp_path / "missing.jsonl"))


def test_watchlist_cashtags_and_boundaries(tmp_path):
    wl = tmp_path / "w.csv"
    wl.write_text("name,aliases,ticker,sector\nHalvorsen Shipping,Halvorsen|HSG,HALV,shipping\nArcon,,ARC,x\n")
    extractor = EntityExtractor(Watchlist.from_csv(wl))
    mentions = extractor.extract(["Halvorsen Shipping and $ARC rally; $ZZZ too", "halvorsenfoo hsg news",
                                  "HSG shares fall"])
    assert [(m.entity, m.kind, m.on_watchlist) for m in mentions[0]] == [
        ("Halvorsen Shipping", "watchlist", True), ("Arcon", "cashtag", True), ("$ZZZ", "cashtag", False)]
    assert mentions[1] == []  # no partial words, and a short all-caps alias must be written in caps
    assert mentions[2][0].entity == "Halvorsen Shipping"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ticker\n,XX\n")
    with pytest.raises(DataError, match="bad.csv:2 column 'name': empty company name"):
        Watchlist.from_csv(bad)
