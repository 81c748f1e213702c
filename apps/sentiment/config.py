"""The monitor's configuration (one TOML file; see configs/monitor-sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.config import expand_path, first_artifact, from_dict, read_toml
from core.errors import ConfigError
from core.inference import ONNX_FILES

from .notifiers import notifiers_from_config
from .rules import parse_duration, rules_from_config

__all__ = ["MonitorConfig", "load_monitor_config"]


@dataclass
class MonitorConfig:
    name: str = "monitor"
    database: str = "${FTSUITE_HOME}/monitor/monitor.db"
    watchlist: str = ""
    sources: list[str] = field(default_factory=list)
    sentiment_model: str = field(
        default="${FTSUITE_HOME}/artifacts/sentiment-news-distilled|${FTSUITE_HOME}/artifacts/sentiment-news|"
                "${FTSUITE_HOME}/artifacts/sentiment-sample",
        metadata={"help": "text-classification artifact with positive / negative labels; of a|b the first built "
                          "is used: the distilled news model (configs/sentiment-news-distilled.toml), else the "
                          "plain news model (configs/sentiment-news.toml), else the main job's"})
    sentiment_fallback: str = field(
        default="", metadata={"help": "a stronger sentiment artifact (e.g. the mpnet teacher of the distilled "
                                      "model) that re-scores the headlines sentiment_model is unsure of; "
                                      "empty or not built = off"})
    defer_below: float = field(default=0.0, metadata={
        "help": "hand a headline to sentiment_fallback when sentiment_model's top probability is below this "
                "(benchmarks/cascade.py picks it on validation data for a share of deferred headlines)"})
    fallback_weight: float = field(default=1.0, metadata={
        "help": "for a handed-on headline, the weight of sentiment_fallback's probabilities, the rest being "
                "sentiment_model's (1 = the fallback's answer alone; benchmarks/cascade.py --weights picks it "
                "on validation data)"})
    fallback_precision: str = field(default="batch-independent", metadata={
        "help": "graph of sentiment_fallback: batch-independent = its int8 graph when that was exported with "
                "'ftsuite export FALLBACK --int8 static' (2.3x fp32's speed for mpnet), else fp32; or fp32, int8, "
                "fp16, auto (a dynamic int8 mpnet changed 10% of FPB labels with its batch mates: benchmarks/LOG.md)"})
    ner_model: str = field(default="${FTSUITE_HOME}/artifacts/ner-conll2003",
                           metadata={"help": "token-classification artifact; missing = NER off"})
    embedder: str = field(default="minilm", metadata={"help": "base name or sentence-embedding artifact"})
    backend: str = "auto"
    batch_size: int = field(default=512, metadata={"help": "items per pipeline batch: sorted by length, then scored in graph runs of 64"})
    parallel: bool = field(default=True, metadata={"help": "run the ONNX graphs (sentiment, topics, NER) side by "
                                                           "side, each on its share of the CPU cores, and the "
                                                           "next batch's graphs while this batch is stored"})
    read: str = field(default="title", metadata={"help": "what the models read: title (fast; headline-style "
                                                         "training data) or title_summary"})
    poll_interval: str = "60s"
    allow_hosts: list[str] = field(default_factory=list, metadata={
        "help": "hosts (names or addresses) that feeds and webhooks may reach although they are loopback, "
                "private or link-local; every other such address is refused, redirects included"})
    fetch_deadline: str = field(default="60s", metadata={"help": "the whole read of one feed URL, at most"})
    max_bytes: int = field(default=20_000_000, metadata={"help": "a larger feed or file is refused, not cut"})
    topic_threshold: float = 0.5
    topics: dict[str, list[str]] = field(default_factory=dict)
    rules: list[dict] = field(default_factory=list)
    notifiers: list[dict] = field(default_factory=lambda: [{"kind": "log"}])
    base_dir: str = ""

    def __post_init__(self):
        if self.backend not in ("auto", "torch", "onnx"):
            raise ConfigError(f"backend = {self.backend!r}; expected auto, torch or onnx")
        if self.read not in ("title", "title_summary"):
            raise ConfigError(f"read = {self.read!r}; expected title or title_summary")
        if not 0.0 < self.topic_threshold < 1.0:
            raise ConfigError("topic_threshold must be between 0 and 1")
        if not 0.0 <= self.defer_below <= 1.0:
            raise ConfigError(f"defer_below = {self.defer_below}; give a probability between 0 and 1")
        if not 0.0 < self.fallback_weight <= 1.0:
            raise ConfigError(f"fallback_weight = {self.fallback_weight}; give a weight above 0 and at most 1 "
                              "(1 = the fallback's answer alone)")
        if self.sentiment_fallback and self.defer_below == 0.0:
            raise ConfigError("sentiment_fallback is set but defer_below is 0, so nothing would be handed to it. "
                              "Fix: set defer_below (benchmarks/cascade.py suggests one), or drop the fallback")
        if self.fallback_precision not in ("batch-independent", "auto", *ONNX_FILES):
            raise ConfigError(f"fallback_precision = {self.fallback_precision!r}; expected batch-independent, auto or one of "
                              f"{', '.join(ONNX_FILES)}")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        for topic, examples in self.topics.items():
            if not examples or not all(isinstance(e, str) and e.strip() for e in examples):
                raise ConfigError(f"topics.{topic}: give a list of example sentences")
        self.poll_seconds = parse_duration(self.poll_interval)
        if self.max_bytes < 1:
            raise ConfigError("max_bytes must be >= 1")
        if not all(isinstance(h, str) and h.strip() for h in self.allow_hosts):
            raise ConfigError(f"allow_hosts = {self.allow_hosts!r}; give host names or addresses as strings")
        from .fetch import FetchPolicy

        self.fetch_policy = FetchPolicy(tuple(h.strip() for h in self.allow_hosts), self.max_bytes,
                                        parse_duration(self.fetch_deadline))
        self.rule_list = rules_from_config(self.rules)

    def path(self, value: str) -> Path | None:
        return expand_path(value, Path(self.base_dir) if self.base_dir else None)

    def artifact(self, value: str) -> Path | None:
        """The model folder ``value`` names (``a|b``: the first that has been built)."""
        return first_artifact(value, Path(self.base_dir) if self.base_dir else None)

    def build_notifiers(self):
        return notifiers_from_config(self.notifiers, self.path(self.database).parent, self.fetch_policy)


def load_monitor_config(path: str | Path, overrides: dict | None = None) -> MonitorConfig:
    tree = read_toml(path)
    tree.update(overrides or {})
    tree.setdefault("base_dir", str(Path(path).resolve().parent))
    return from_dict(MonitorConfig, tree, "monitor config")
