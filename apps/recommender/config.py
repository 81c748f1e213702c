"""The recommender's configuration: a dataclass that validates itself."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from core.config import from_dict
from core.errors import ConfigError

__all__ = ["RecommenderConfig"]


@dataclass
class RecommenderConfig:
    name: str = "ml-100k"
    threshold: float = field(default=4.0, metadata={"help": "ratings >= threshold are positives"})
    rating_min: float = 0.5
    rating_max: float = 5.0
    ease_l2: float = field(default=250.0, metadata={"help": "EASE ridge strength lambda"})
    knn_k: int = field(default=100, metadata={"help": "neighbours kept per item in item-kNN"})
    candidates_per_source: int = field(default=100, metadata={"help": "top items each source adds to the pool"})
    base: str = field(default="minilm", metadata={"help": "frozen text embedder and interest-model base"})
    interest: bool = field(default=True, metadata={"help": "fine-tune and use the interest model"})
    interest_artifact: str = field(default="", metadata={"help": "use this interest artifact instead of training"})
    interest_pairs: int = 1500
    interest_max_length: int = 64
    interest_epochs: float = 1.0
    interest_batch_size: int = 32
    interest_learning_rate: float = 5e-5
    ranker_iterations: int = 250
    ranker_learning_rate: float = 0.05
    ranker_max_leaf_nodes: int = field(default=15, metadata={"help": "leaves per tree (chosen on validation)"})
    ranker_min_samples_leaf: int = 200
    cold_candidates: int = field(default=0, metadata={"help": "new items added to each user's candidates by the "
                                                              "cold-start blend (0: only through text similarity)"})
    seed: int = 0

    def __post_init__(self):
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ConfigError(f"name = {self.name!r}: use letters, digits, '-', '_' and '.'")
        if not self.rating_min < self.rating_max:
            raise ConfigError(f"rating_min ({self.rating_min}) must be below rating_max ({self.rating_max})")
        if not self.rating_min <= self.threshold <= self.rating_max:
            raise ConfigError(f"threshold = {self.threshold} must lie within {self.rating_min}..{self.rating_max}")
        for key, low in (("ease_l2", 0.0), ("interest_learning_rate", 0.0), ("interest_epochs", 0.0),
                         ("ranker_learning_rate", 0.0)):
            if getattr(self, key) <= low:
                raise ConfigError(f"{key} = {getattr(self, key)} must be > {low}")
        for key, low in (("knn_k", 1), ("candidates_per_source", 10), ("interest_pairs", 32),
                         ("interest_max_length", 16), ("interest_batch_size", 2), ("ranker_iterations", 10),
                         ("ranker_max_leaf_nodes", 2), ("ranker_min_samples_leaf", 1),
                         ("cold_candidates", 0)):
            if getattr(self, key) < low:
                raise ConfigError(f"{key} = {getattr(self, key)} must be >= {low}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RecommenderConfig":
        return from_dict(cls, values, "recommender")
