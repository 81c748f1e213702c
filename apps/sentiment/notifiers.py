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

from .fetch import FetchPolicy, post_json, redact

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
    """POSTs each alert as JSON; a redirect is a failure (never followed), and the URL's secrets
    (password, query values) are redacted in every error and log line."""

    url: str
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    name: str = "webhook"
    policy = FetchPolicy()  # not a config key: the monitor config's fence (allow_hosts) is set here

    def __post_init__(self):
        if urllib.parse.urlparse(self.url).scheme not in ("http", "https"):
            raise ConfigError(f"webhook url {redact(self.url)!r} must be http or https")
        if not isinstance(self.retries, int) or self.retries < 1:
            raise ConfigError(f"webhook retries = {self.retries!r}; give at least 1 (the number of tries)")
        if not self.timeout > 0:
            raise ConfigError(f"webhook timeout = {self.timeout!r}; give seconds above 0")

    def send(self, payload):
        body = json.dumps(payload).encode("utf-8")
        last = None
        for attempt in range(self.retries):
            try:
                status = post_json(self.url, body, self.timeout, self.policy)
                if 200 <= status < 300:
                    return
                last = f"HTTP {status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, OSError, ConfigError, ValueError) as exc:
                last = str(getattr(exc, "reason", exc)).splitlines()[0]
            except Exception as exc:  # noqa: BLE001 - the fence's refusal (a DataError) and the like
                last = str(exc).splitlines()[0]
            if attempt + 1 < self.retries:
                time.sleep(self.backoff * (2 ** attempt))
        raise ConnectionError(redact(f"webhook {self.url} failed after {self.retries} tries: {last}"))


def notifiers_from_config(tables: list[dict], home: Path, policy: FetchPolicy | None = None) -> list[Notifier]:
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
            notifier = from_dict(WebhookNotifier, table, f"notifiers[{i}]")
            notifier.policy = policy or FetchPolicy()
            out.append(notifier)
        else:
            raise ConfigError(f"notifiers[{i}].kind = {kind!r}; expected log, file or webhook")
    names = [n.name for n in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"give each notifier a distinct name (name = '...'): {names}")
    return out
