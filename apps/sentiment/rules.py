"""Rolling aggregates and alert rules.

A rule looks at one scope (an entity, a topic, or all items) over a window ending at the time of
evaluation, and compares it with a baseline over a longer window before it:

- ``share_negative``: share of negative items >= ``threshold`` with at least ``min_volume`` items;
- ``negative_zscore``: negative items in the window, as a z-score against the same-length windows of
  the baseline, >= ``threshold`` (and at least ``min_volume`` negative items);
- ``mean_drop``: the baseline's mean score minus the window's mean score >= ``threshold``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from core.config import from_dict
from core.errors import ConfigError

__all__ = ["Rule", "Aggregate", "aggregate", "parse_duration", "rules_from_config"]

KINDS = ("share_negative", "negative_zscore", "mean_drop")
SCOPES = ("entity", "topic", "all")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | int | float) -> float:
    """Seconds from ``"90s"``, ``"30m"``, ``"12h"``, ``"3d"``, ``"2w"`` (a bare number is seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"duration {text!r}: expected a number and a unit s, m, h, d or w, e.g. '3d'")
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass
class Rule:
    name: str
    kind: str
    scope: str = "entity"
    window: str = "3d"
    baseline: str = "21d"
    threshold: float = 0.5
    min_volume: int = 5
    cooldown: str = "2d"
    severity: str = "warning"
    watchlist_only: bool = field(default=True, metadata={"help": "entity scope: watch-list companies only"})

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"rule {self.name!r}: kind = {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.scope not in SCOPES:
            raise ConfigError(f"rule {self.name!r}: scope = {self.scope!r}; expected one of {', '.join(SCOPES)}")
        if self.severity not in ("info", "warning", "high", "critical"):
            raise ConfigError(f"rule {self.name!r}: severity must be info, warning, high or critical")
        self.window_s = parse_duration(self.window)
        self.baseline_s = parse_duration(self.baseline)
        self.cooldown_s = parse_duration(self.cooldown)
        if self.window_s <= 0 or self.baseline_s < 2 * self.window_s:
            raise ConfigError(f"rule {self.name!r}: baseline must be at least twice the window")
        if self.min_volume < 0:
            raise ConfigError(f"rule {self.name!r}: min_volume must be >= 0")

    def describe(self) -> str:
        what = {"share_negative": f"share negative >= {self.threshold:.0%}",
                "negative_zscore": f"negative volume z-score >= {self.threshold}",
                "mean_drop": f"mean score drop >= {self.threshold}"}[self.kind]
        return (f"{self.name}: {what} over {self.window} per {self.scope} (min {self.min_volume} items, "
                f"baseline {self.baseline}, cooldown {self.cooldown}, {self.severity})")

    def check(self, agg: "Aggregate") -> tuple[bool, float]:
        """Whether the rule holds on these aggregates, and the value it compared."""
        if self.kind == "share_negative":
            value = agg.share_negative
            return agg.volume >= self.min_volume and value >= self.threshold, value
        if self.kind == "negative_zscore":
            value = agg.negative_zscore
            return agg.negative >= self.min_volume and value >= self.threshold, value
        value = agg.mean_drop
        return agg.volume >= self.min_volume and value >= self.threshold, value


@dataclass
class Aggregate:
    volume: int
    negative: int
    mean_score: float
    share_negative: float
    baseline_volume: float  # items per window-length, averaged over the baseline
    baseline_mean: float
    negative_zscore: float
    mean_drop: float

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def aggregate(events: list[tuple[float, str, float]], at: float, window_s: float, baseline_s: float) -> Aggregate:
    """Window and baseline statistics from ``(published, label, score)`` events ending at ``at``."""
    start = at - window_s
    current = [e for e in events if start < e[0] <= at]
    base = [e for e in events if at - baseline_s < e[0] <= start]
    volume = len(current)
    negative = sum(1 for e in current if e[1] == "negative")
    mean_score = sum(e[2] for e in current) / volume if volume else 0.0
    buckets = max(1, int(round((baseline_s - window_s) / window_s)))
    counts = [0] * buckets
    for t, label, _ in base:
        if label == "negative":
            counts[min(buckets - 1, int((start - t) // window_s))] += 1
    mu = sum(counts) / buckets
    sd = math.sqrt(sum((c - mu) ** 2 for c in counts) / buckets)
    zscore = (negative - mu) / max(sd, 1.0)  # a floor of one item keeps quiet baselines from exploding
    base_mean = sum(e[2] for e in base) / len(base) if base else 0.0
    return Aggregate(volume, negative, mean_score, negative / volume if volume else 0.0,
                     len(base) / buckets, base_mean, zscore, (base_mean - mean_score) if base and volume else 0.0)


def rules_from_config(tables: list[dict]) -> list[Rule]:
    rules = [from_dict(Rule, dict(t), f"rules[{i}]") for i, t in enumerate(tables)]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ConfigError(f"rule names must be unique: {names}")
    return rules
