"""Where alerts go: the log, a JSONL file, a webhook. Delivery goes through the store's outbox, so
an alert that cannot be delivered now is retried later instead of being lost."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.config import from_dict
from core.errors import ConfigError

__all__ = ["Notifier", "LogNotifier", "FileNotifier", "WebhookNotifier", "notifiers_from_config"]

log = logging.getLogger("ftsuite.sentiment.alerts")


class Notifier:
    name = "notifier"

    def send(self, payload: dict) -> None:  # raises on failure
        raise NotImplementedError


class LogNotifier(Notifier):
    name = "log"

    def send(self, payload):
        log.warning("ALERT %s %s [%s] %s: %s", payload["event"], payload["rule"], payload["severity"],
                    payload["scope_key"], payload.get("summary", ""))


@dataclass
class FileNotifier(Notifier):
    path: str
    name: str = "file"

    def send(self, payload):
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(payload, ensure_ascii=False) + "\n")


@dataclass
class WebhookNotifier(Notifier):
    url: str
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    name: str = "webhook"

    def __post_init__(self):
        if urllib.parse.urlparse(self.url).scheme not in ("http", "https"):
            raise ConfigError(f"webhook url {self.url!r} must be http or https")

    def send(self, payload):
        body = json.dumps(payload).encode("utf-8")
        last = None
        for attempt in range(self.retries):
            request = urllib.request.Request(self.url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    if 200 <= response.status < 300:
                        return
                    last = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            time.sleep(self.backoff * (2 ** attempt))
        raise ConnectionError(f"webhook {self.url} failed after {self.retries} tries: {last}")


def notifiers_from_config(tables: list[dict], home: Path) -> list[Notifier]:
    out: list[Notifier] = []
    for i, table in enumerate(tables or [{"kind": "log"}]):
        table = dict(table)
        kind = table.pop("kind", None)
        if kind == "log":
            out.append(LogNotifier())
        elif kind == "file":
            table.setdefault("path", str(home / "alerts.jsonl"))
            out.append(from_dict(FileNotifier, table, f"notifiers[{i}]"))
        elif kind == "webhook":
            out.append(from_dict(WebhookNotifier, table, f"notifiers[{i}]"))
        else:
            raise ConfigError(f"notifiers[{i}].kind = {kind!r}; expected log, file or webhook")
    names = [n.name for n in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"give each notifier a distinct name (name = '...'): {names}")
    return out
