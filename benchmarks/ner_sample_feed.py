"""The monitor's NER on the shipped sample feed: how many watch-list companies in the headlines
each NER artifact tags as an organisation, and which other spans it calls organisations.

The watch-list gives silver labels for free (every company on it is an organisation), so this
checks what the CoNLL-2003 benchmark cannot: headlines of the kind the monitor reads.

    .venv/bin/python benchmarks/ner_sample_feed.py .ftsuite/bench/ner-conll2003-full \\
        .ftsuite/bench/ner-conll2003-full-casemarks
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--feed", default=str(REPO / "data/samples/news_feed.jsonl"))
    parser.add_argument("--watchlist", default=str(REPO / "data/samples/watchlist.csv"))
    args = parser.parse_args(argv)
    from apps.sentiment.entities import Watchlist
    from core.inference import load_predictor

    watchlist = Watchlist.from_csv(args.watchlist)
    titles = [json.loads(line)["title"] for line in Path(args.feed).read_text(encoding="utf-8").splitlines()
              if line.strip()]
    gold = [{c.name for c in watchlist.find(t)} for t in titles]
    print(f"{len(titles)} headlines, {sum(map(len, gold))} watch-list company mentions")
    for artifact in args.artifacts:
        predictor = load_predictor(artifact, backend="torch")
        found = tagged = 0
        others: collections.Counter = collections.Counter()
        for title, names, pred in zip(titles, gold, predictor.predict([t.split() for t in titles])):
            words = title.split()
            spans = [" ".join(words[e["start"]:e["end"]]) for e in pred["entities"] if e["type"] == "ORG"]
            on_list = {c.name for s in spans for c in watchlist.find(s)}
            found += len(names & on_list)
            tagged += len(spans)
            others.update(s for s in spans if not watchlist.find(s))
        print(json.dumps({"artifact": artifact, "case_markers": predictor.manifest.get("case_markers", False),
                          "watchlist_recall": round(found / max(1, sum(map(len, gold))), 4),
                          "found": found, "org_spans": tagged, "spans_off_the_list": sum(others.values()),
                          "most_common_off_the_list": others.most_common(8)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
