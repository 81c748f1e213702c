"""End-to-end throughput of the news monitor, and the time from an item's arrival to its alert.

1. Throughput: the sample feed, repeated with fresh urls (and shifted a month per copy), goes
   through parse, de-duplicate, entities, topics, sentiment score, store, aggregate and rules.
2. Arrival to alert: `run` mode polls a watched folder every second; the burst is fed up to its
   last-but-one item, then the item that tips the rule is dropped into the folder as a new file,
   and the clock runs until the alert is in the store.
   The sequential pipeline (`parallel = false`) and the parallel one run in turn, two rounds each;
   when the NER model has been built, also the parallel pipeline with NER switched off.
3. The sample month through the shipped rules: which alerts fire (only the scripted burst should).

    .venv/bin/python benchmarks/monitor_throughput.py [--copies 10] [--backend onnx|torch] [--ner-model ARTIFACT ...]
        [--sentiment-model ARTIFACT ...] [--cascade FALLBACK=DEFER_BELOW[:PRECISION[:WEIGHT]] ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def one_run(feed: str, backend: str, parallel: bool, database: str, ner: bool, ner_model: str = "",
            sentiment_model: str = "", cascade: str = "") -> dict:
    """Ingest ``feed`` once (after a warm-up) and time it; runs in its own process."""
    from apps.sentiment import Monitor, load_monitor_config

    overrides = {"database": database, "backend": backend, "parallel": parallel,
                 "notifiers": [{"kind": "file", "path": database + ".alerts.jsonl"}]}
    if not ner:
        overrides["ner_model"] = ""
    elif ner_model:
        overrides["ner_model"] = ner_model
    if sentiment_model:
        overrides["sentiment_model"] = sentiment_model
    if cascade == "off":  # the configured sentiment model alone
        overrides["sentiment_fallback"] = ""
    elif cascade:
        fallback, _, below = cascade.rpartition("=")
        below, _, precision = below.partition(":")
        precision, _, weight = precision.partition(":")
        overrides.update(sentiment_fallback=fallback, defer_below=float(below), fallback_precision=precision or "fp32",
                         fallback_weight=float(weight or 1.0))
    config = load_monitor_config(REPO / "configs/monitor-sample.toml", overrides)
    monitor = Monitor(config).warm_up()
    monitor.ingest([str(REPO / "data/samples/feed.xml")])  # warm the graphs before the clock starts
    if hasattr(monitor.sentiment, "deferred"):
        monitor.sentiment.deferred = monitor.sentiment.seen = 0
    started = time.perf_counter()
    report = monitor.ingest([feed])
    seconds = time.perf_counter() - started
    monitor.close()
    deferred = getattr(monitor.sentiment, "deferred", None)  # a cascade: the share its fallback scored
    return {"items": report.read, "seconds": seconds, "items_per_s": report.read / seconds,
            "deferred_share": deferred / monitor.sentiment.seen if deferred is not None else None,
            "alerts_fired": len(report.alerts_fired), "sentiment": monitor.sentiment.describe(),
            "ner": monitor.ner_status}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one timed ingest of this feed
    parser.add_argument("--parallel", default="true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--ner", default="true", help=argparse.SUPPRESS)
    parser.add_argument("--ner-model", action="append", default=[],
                        help="an NER artifact to run the parallel pipeline with, instead of the configured one "
                             "(give it more than once to compare models in the same run)")
    parser.add_argument("--sentiment-model", action="append", default=[],
                        help="a sentiment artifact to run the parallel pipeline with, instead of the configured "
                             "one (more than once to compare models in the same run)")
    parser.add_argument("--cascade", action="append", default=[], metavar="FALLBACK=DEFER_BELOW[:PRECISION[:WEIGHT]]",
                        help="run the parallel pipeline with this sentiment_fallback, defer_below, "
                             "fallback_precision (default fp32) and fallback_weight (default 1); more than once "
                             "to compare in the same run")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.one:
        print(json.dumps(one_run(args.one, args.backend, args.parallel == "true", args.db, args.ner == "true",
                                 args.ner_model[0] if args.ner_model else "",
                                 args.sentiment_model[0] if args.sentiment_model else "",
                                 args.cascade[0] if args.cascade else "")))
        return 0
    from apps.sentiment import Monitor, load_monitor_config

    rows = [json.loads(l) for l in (REPO / "data/samples/news_feed.jsonl").read_text().splitlines()]
    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    feed = tmp / "feed.jsonl"
    with open(feed, "w") as handle:
        for copy in range(args.copies):
            for n, row in enumerate(rows):
                moment = dt.datetime.fromisoformat(row["published"].replace("Z", "+00:00")) + dt.timedelta(days=31 * copy)
                handle.write(json.dumps({**row, "url": f"{row['url']}?copy={copy}", "published": moment.isoformat()}) + "\n")
    # the same feed through the sequential pipeline and the parallel one (models side by side), in turn,
    # each in a fresh process so that one's ONNX sessions and thread pools cannot slow the other
    import subprocess

    base = load_monitor_config(REPO / "configs/monitor-sample.toml")
    ner_path = base.artifact(base.ner_model) if base.ner_model else None
    ner_built = bool(ner_path and (ner_path / "manifest.json").is_file())
    variants = {"sequential": (False, True, "", "", ""), "parallel": (True, True, "", "", "")}
    for model in args.ner_model:  # absolute: the monitor config resolves relative paths from configs/
        variants[f"parallel, NER {model}"] = (True, True, str(Path(model).resolve()), "", "")
    for model in args.sentiment_model:
        variants[f"parallel, sentiment {model}"] = (True, True, "", str(Path(model).resolve()), "")
    for cascade in args.cascade:
        fallback, _, below = cascade.rpartition("=")
        variants[f"parallel, fallback {fallback} below {below.replace(':', ', ')}"] = (True, True, "", "",
                                                                   f"{Path(fallback).resolve()}={below}")
    if ner_built or args.ner_model:
        variants["parallel, NER off"] = (True, False, "", "", "")
    fallback_path = base.artifact(base.sentiment_fallback) if base.sentiment_fallback else None
    if fallback_path is not None and (fallback_path / "manifest.json").is_file():  # the configured cascade is on
        variants["parallel, fallback off"] = (True, True, "", "", "off")
    throughput, seconds_by, ner_status, sentiment_by, deferred_by = {}, {}, {}, {}, {}
    for rnd in range(2):
        for n, (key, (parallel, ner, model, sentiment, cascade)) in enumerate(variants.items()):
            out = subprocess.run([sys.executable, __file__, "--one", str(feed), "--backend", args.backend,
                                  "--parallel", str(parallel).lower(), "--ner", str(ner).lower(),
                                  *(["--ner-model", model] if model else []),
                                  *(["--sentiment-model", sentiment] if sentiment else []),
                                  *(["--cascade", cascade] if cascade else []),
                                  "--db", str(tmp / f"t-{n}-{rnd}.db")],
                                 check=True, capture_output=True, text=True).stdout
            run = json.loads(out.strip().splitlines()[-1])
            throughput[key] = max(throughput.get(key, 0.0), run["items_per_s"])  # best of two rounds
            seconds_by[key] = min(seconds_by.get(key, 1e9), run["seconds"])
            ner_status[key] = run["ner"]
            if not sentiment and not cascade:
                describe, items = run["sentiment"], run["items"]
            sentiment_by[key] = run["sentiment"]["artifact"]
            if run["deferred_share"] is not None:
                deferred_by[key] = round(run["deferred_share"], 4)
            print(f"round {rnd} {key}: {run['items_per_s']:.1f} items/s (NER {run['ner']})", flush=True)

    # 2. arrival to alert in run mode
    watched = tmp / "inbox"
    watched.mkdir()
    burst_day = "2026-10-27"
    history = [r for r in rows if r["published"] < burst_day + "T17:20"]
    trigger = [r for r in rows if r["published"] >= burst_day + "T17:20"][:1]
    config = load_monitor_config(REPO / "configs/monitor-sample.toml",
                                 {"database": str(tmp / "run.db"), "backend": args.backend, "poll_interval": "1s",
                                  "sources": [str(watched)], "notifiers": [{"kind": "file", "path": str(tmp / "a2.jsonl")}]})
    monitor = Monitor(config).warm_up()
    (watched / "0-history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.time() + 120
    while time.time() < deadline and monitor.store.count("items") < len(history):
        time.sleep(0.1)
    fired_before = monitor.store.count("alerts")
    arrived = time.perf_counter()
    (watched / "1-new.jsonl").write_text("".join(json.dumps(r) + "\n" for r in trigger))
    latency = None
    while time.time() < deadline:
        if monitor.store.count("alerts") > fired_before:
            latency = time.perf_counter() - arrived
            break
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=10)
    monitor.close()

    # 3. the sample month through the shipped rules
    config = load_monitor_config(REPO / "configs/monitor-sample.toml",
                                 {"database": str(tmp / "sample.db"), "backend": args.backend, "notifiers": []})
    monitor = Monitor(config)
    sample = monitor.ingest()
    fired = [(a["rule"], a["scope_key"], a["at"].strftime("%Y-%m-%d %H:%M")) for a in sample.alerts_fired]
    monitor.close()

    result = {
        "items": items, "seconds": {k: round(v, 2) for k, v in seconds_by.items()},
        "items_per_s": round(throughput["parallel"], 1),
        "items_per_s_sequential": round(throughput["sequential"], 1),
        "parallel_speedup": round(throughput["parallel"] / throughput["sequential"], 2),
        "items_per_s_by_variant": {k: round(v, 1) for k, v in throughput.items()},
        "arrival_to_alert_s": round(latency, 2) if latency else None,
        "poll_interval_s": 1.0, "sample_month_alerts": fired, "sentiment": describe,
        "ner": ner_status, "sentiment_by_variant": sentiment_by, "deferred_share_by_variant": deferred_by,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=2))
    out = REPO / "benchmarks" / "results" / "monitor_throughput.jsonl"
    with open(out, "a") as handle:
        handle.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
