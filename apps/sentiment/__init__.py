"""The financial-news sentiment monitor: feeds in, sentiment per company and topic, alerts out."""

from .config import MonitorConfig, load_monitor_config
from .entities import Company, EntityExtractor, Mention, Watchlist
from .items import Item, Skipped, read_source
from .pipeline import IngestReport, Monitor, TopicClassifier
from .rules import Aggregate, Rule, aggregate, parse_duration

__all__ = [
    "MonitorConfig", "load_monitor_config", "Company", "EntityExtractor", "Mention", "Watchlist", "Item",
    "Skipped", "read_source", "IngestReport", "Monitor", "TopicClassifier", "Aggregate", "Rule", "aggregate",
    "parse_duration",
]
