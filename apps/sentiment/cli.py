"""``ftsuite monitor ...``: ingest, run, alerts, backtest, report, rescore."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

DEFAULT_CONFIG = "configs/monitor-sample.toml"


def register(sub) -> None:
    p = sub.add_parser("monitor", help="financial-news sentiment monitor (ingest, run, alerts, backtest, report)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"monitor TOML (default {DEFAULT_CONFIG})")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("ingest", help="read sources once (feeds, JSONL, CSV, folders) and raise alerts")
    a.add_argument("sources", nargs="*", help="default: the config's sources")
    actions.add_parser("run", help="poll the config's sources every poll_interval until Ctrl-C")
    a = actions.add_parser("alerts", help="list stored alerts")
    a.add_argument("--json", action="store_true")
    actions.add_parser("backtest", help="replay stored items through the rules; list what would fire")
    a = actions.add_parser("report", help="PNG of volume and sentiment over time for an entity or topic")
    a.add_argument("entity")
    a.add_argument("--topic", action="store_true", help="ENTITY names a topic")
    a.add_argument("--output", help="PNG path (default FTSUITE_HOME/monitor/report-<entity>.png)")
    actions.add_parser("rescore", help="score stored items with the configured model where not yet scored")
    actions.add_parser("deliver", help="retry undelivered alert notifications")
    a = actions.add_parser("status", help="the models in use and each source's health (last success, last error)")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("review", help="the stored headlines the model is least sure of (label these first)")
    a.add_argument("-n", type=int, default=20)
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("label", help="correct a stored headline's sentiment (ITEM: uid or url from 'review')")
    a.add_argument("item")
    a.add_argument("label")
    a.add_argument("--analyst", default=os.environ.get("USER") or "analyst")
    a = actions.add_parser("verdict", help="mark an alert as a false alarm, or confirm it")
    a.add_argument("alert", type=int)
    a.add_argument("verdict", choices=["false_alarm", "confirmed"])
    a.add_argument("--analyst", default=os.environ.get("USER") or "analyst")
    a.add_argument("--note", default="")
    a = actions.add_parser("retrain", help="re-train the sentiment model on its data plus the corrections; "
                                           "swapped in only when not worse")
    a.add_argument("--min-corrections", type=int, default=10)
    a.add_argument("--held-out", type=float, default=0.3, help="share of corrections held out to compare (0.3)")
    a.add_argument("--max-test-drop", type=float, default=0.01, help="test-split accuracy it may lose (0.01)")
    a.add_argument("--epochs", type=int, help="default: the model's recipe")
    a = actions.add_parser("score", help="score texts exactly as the monitor does (model, cascade, graph): "
                                         "one JSON object per input, in order")
    a.add_argument("texts", nargs="*")
    a.add_argument("--input", help="a file: one text per line, or JSONL / CSV with a 'text' field")
    p.set_defaults(func=run_command)


def _monitor(args):
    from .config import load_monitor_config
    from .pipeline import Monitor

    return Monitor(load_monitor_config(args.config)).warm_up()


def _fmt_time(value) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M") if value else "-"


def run_command(args) -> int:
    monitor = _monitor(args)
    try:
        if args.action == "ingest":
            report = monitor.ingest(args.sources or None)
            print(report.summary())
            for skipped in report.skipped[:20]:
                print(f"  skipped {skipped.origin}: {skipped.reason}")
            for name, reason in report.failed_sources:
                print(f"  source failed {name}: {reason}")
            for alert in report.alerts_fired:
                print(f"  ALERT {alert['rule']} {alert['scope_key']} at {alert['at']:%Y-%m-%d %H:%M} "
                      f"(value {alert['value']:.2f})")
            print(f"sentiment: {monitor.sentiment_status}; NER: {monitor.ner_status}")
        elif args.action == "run":
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print(f"polling {monitor.config.sources} every {monitor.config.poll_interval}; Ctrl-C stops")
            monitor.run(stop)
            print("stopped cleanly")
        elif args.action == "alerts":
            alerts = monitor.store.alerts()
            if args.json:
                print(json.dumps(alerts, indent=2, default=str))
            for a in [] if args.json else alerts:
                print(f"{a['state']:9} {a['severity']:8} {a['rule']:20} {a['scope_key']:24} "
                      f"fired {_fmt_time(a['fired_at'])} resolved {_fmt_time(a['resolved_at'])} value {a['value']:.2f}")
        elif args.action == "backtest":
            for a in monitor.backtest():
                print(f"{a['rule']:20} {a['scope_key']:24} fired {_fmt_time(a['fired_at'])} "
                      f"resolved {_fmt_time(a['resolved_at'])} value {a['value']:.2f}")
        elif args.action == "report":
            out = Path(args.output) if args.output else monitor.store.path.parent / f"report-{args.entity}.png"
            print(monitor.report_png("topic" if args.topic else "entity", args.entity, out))
        elif args.action == "rescore":
            print(f"scored {monitor.rescore()} items with {monitor.model_id}")
        elif args.action == "deliver":
            print(monitor.deliver())
        elif args.action == "review":
            queue = monitor.review_queue(args.n)
            if args.json:
                print(json.dumps(queue, indent=2, default=str))
            for row in [] if args.json else queue:
                print(f"{row['uid']}  {row['label']:8} margin {row['margin']:.3f}  {row['title'][:100]}")
        elif args.action == "label":
            done = monitor.correct(args.item, args.label, args.analyst)
            print(f"stored: {done['title'][:80]!r} is {done['label']} (the model said {done['model_said']}), "
                  f"by {done['analyst']}; 'ftsuite monitor retrain' learns from the corrections")
        elif args.action == "verdict":
            print(json.dumps(monitor.judge_alert(args.alert, args.verdict, args.analyst, args.note)))
        elif args.action == "retrain":
            result = monitor.retrain(min_corrections=args.min_corrections, held_out_share=args.held_out,
                                     max_test_drop=args.max_test_drop, epochs=args.epochs)
            print(result.summary())
            return 0 if result.accepted else 1
        elif args.action == "score":
            return _score(monitor, args)
        elif args.action == "status":
            health = monitor.source_health()
            if args.json:
                print(json.dumps({"sentiment": monitor.sentiment_status, "ner": monitor.ner_status,
                                  "model": monitor.trained_on, "sample_only": monitor.sample_only,
                                  "sources": health}, indent=2, default=str))
                return 0
            print(f"sentiment: {monitor.sentiment_status}; NER: {monitor.ner_status}")
            print(f"model: {monitor.trained_on}")
            for h in health:
                state = "failing" if h["failures"] else "partial" if h["skipped"] else "ok"
                print(f"{state:8} {h['name']}: last success {_fmt_time(h['last_success'])}, items {h['items']}"
                      + (f", {h['skipped']} record(s) skipped in the last read, first {h['first_skipped']}"
                         if h["skipped"] else "")
                      + (f", {h['failures']} failure(s), last error {_fmt_time(h['last_error_at'])}: "
                         f"{h['last_error']}, next try {_fmt_time(h['next_try'])}" if h["failures"] else ""))
            if not health:
                print("no source read yet")
    finally:
        monitor.close()
    return 0


def _score(monitor, args) -> int:
    """``monitor score``: the monitor's own scoring path (model, cascade, graph), one JSON line per
    input line in order; a line that cannot be scored gets ``error`` instead."""
    import sys

    from core.data import input_problem, read_texts

    if args.input:
        rows = read_texts(Path(args.input))
    else:
        rows = [(n, t, None, None) for n, t in enumerate(args.texts, start=1)]
    if not rows:
        print("error: nothing to score. Fix: pass texts, or --input FILE with one text per line", file=sys.stderr)
        return 2
    rows = [(n, t, e or input_problem(t, None, "text_classification")) for n, t, _, e in rows]
    texts = [t for _, t, e in rows if e is None]
    scored = iter(monitor.score_texts(texts) if texts else [])
    for number, text, error in rows:
        if error is not None:
            print(json.dumps({"line": number, "error": error}))
            continue
        result = next(scored)
        out = {"line": number, "label": result["label"], "scores": result["scores"], "score": result["score"]}
        if result.get("deferred"):
            out["deferred"] = True
        print(json.dumps(out))
    return 0
