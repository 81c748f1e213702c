"""``ftsuite monitor ...``: ingest, run, alerts, backtest, report, rescore."""

from __future__ import annotations

import json
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
        elif args.action == "status":
            health = monitor.source_health()
            if args.json:
                print(json.dumps({"sentiment": monitor.sentiment_status, "ner": monitor.ner_status,
                                  "sources": health}, indent=2, default=str))
                return 0
            print(f"sentiment: {monitor.sentiment_status}; NER: {monitor.ner_status}")
            for h in health:
                state = "failing" if h["failures"] else "ok"
                print(f"{state:8} {h['name']}: last success {_fmt_time(h['last_success'])}, items {h['items']}"
                      + (f", {h['failures']} failure(s), last error {_fmt_time(h['last_error_at'])}: "
                         f"{h['last_error']}, next try {_fmt_time(h['next_try'])}" if h["failures"] else ""))
            if not health:
                print("no source read yet")
    finally:
        monitor.close()
    return 0
