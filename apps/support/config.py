"""The support bot's configuration: one dataclass that validates itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.config import first_artifact, ftsuite_home
from core.errors import ConfigError

__all__ = ["SupportConfig", "SAMPLE_KB"]

REPO = Path(__file__).resolve().parents[2]
SAMPLE_KB = REPO / "data" / "samples" / "helpcentre"


@dataclass
class SupportConfig:
    """Where the knowledge base lives, which models serve it, and the thresholds of each decision."""

    kb: str = field(default="default", metadata={"help": "knowledge-base name (FTSUITE_HOME/support/<kb>) "
                                                          "or a folder path"})
    seed_paths: list[str] = field(default_factory=list, metadata={
        "help": "documents ingested on first use when the base is empty (default_bot: the sample help centre)"})
    embedder: str = field(default="${FTSUITE_HOME}/artifacts/support-embedder|${FTSUITE_HOME}/artifacts/embedder-minilm",
                          metadata={"help": "sentence-embedding artifact, or several separated by '|' (the first "
                                            "built is used: the support embedder fine-tuned on BANKING77 train x "
                                            "the help centre when built, else the shared MiniLM), or a base name "
                                            "such as minilm; the base re-embeds its chunks once when it changes"})
    intent_model: str = field(default="${FTSUITE_HOME}/artifacts/intents-banking77|${FTSUITE_HOME}/artifacts/intents",
                              metadata={"help": "text-classification artifact, or several separated by '|' (the "
                                                "first that exists is used: the five-epoch BANKING77 recipe when "
                                                "built, else the main job's); none = intents off"})
    reranker: str = field(default="${FTSUITE_HOME}/artifacts/support-reranker",
                          metadata={"help": "pair-scoring artifact; missing = reranker off"})
    backend: str = "auto"
    # chunking
    chunk_words: int = field(default=120, metadata={"help": "target words per chunk"})
    overlap_words: int = field(default=25, metadata={"help": "words repeated from the previous chunk"})
    # retrieval (the prior's five settings were tuned on the 1,000 BANKING77 dev queries, never on test:
    # benchmarks/support_quality.py --tune)
    dense_k: int = 30
    bm25_k: int = 30
    rrf_k: int = field(default=60, metadata={"help": "reciprocal-rank-fusion constant"})
    rerank_k: int = field(default=10, metadata={"help": "fused candidates the reranker scores"})
    top_k: int = field(default=10, metadata={"help": "sources returned with an answer, in rank order"})
    cite_k: int = field(default=3, metadata={"help": "of those, the ones the answer text quotes or cites"})
    tune_retrieval: bool = field(default=True, metadata={
        "help": "choose the fusion weights, the intent prior and the reranker on the base's own questions "
                "(apps.support.tuning); false = the settings below as they are"})
    intent_prior: float = field(default=2.0, metadata={
        "help": "weight of P(intent of the chunk) added to the reranker score (chunks labelled with an intent)"})
    faq_prior: float = field(default=0.25, metadata={
        "help": "share of the intent prior an FAQ entry gets (the intent's article is the primary source)"})
    prior_temperature: float = field(default=0.5, metadata={
        "help": "intent probabilities to the power 1/T before the prior (below 1 sharpens them)"})
    intent_articles: int = field(default=1, metadata={
        "help": "the article chunks of this many most probable intents join the candidates (0 = off)"})
    one_per_source: bool = field(default=True, metadata={
        "help": "rank the best chunk of each source (article, or one intent's FAQ rows) before second chunks"})
    # scope
    scope_threshold: float | None = field(default=None, metadata={
        "help": "in-scope when the scope score reaches this; None = calibrated on the base's FAQ questions"})
    intent_weight: float = field(default=0.25, metadata={
        "help": "weight of the intent classifier's max probability in the scope score (the rest: retrieval)"})
    scope_retrieval: str = field(default="dense", metadata={
        "help": "retrieval score in the scope score: dense (top cosine) or reranker (top probability)"})
    target_fpr: float = field(default=0.04, metadata={"help": "share of FAQ questions calibration may flag"})
    # messages
    max_message_chars: int = 1000
    history_turns: int = 6

    def __post_init__(self):
        if not self.kb or not str(self.kb).strip():
            raise ConfigError("kb is empty; give a knowledge-base name such as 'default' or a folder")
        if "/" not in str(self.kb) and not re.fullmatch(r"[A-Za-z0-9][\w.-]*", str(self.kb)):
            raise ConfigError(f"kb = {self.kb!r}: use letters, digits, '.', '-' and '_' (or a folder path)")
        if self.backend not in ("auto", "torch", "onnx"):
            raise ConfigError(f"backend = {self.backend!r}; expected auto, torch or onnx")
        for name in ("chunk_words", "dense_k", "bm25_k", "rrf_k", "rerank_k", "top_k", "cite_k", "max_message_chars",
                     "history_turns"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} = {getattr(self, name)!r} must be >= 1")
        if not 0 <= self.overlap_words < self.chunk_words:
            raise ConfigError(f"overlap_words = {self.overlap_words} must be >= 0 and below chunk_words "
                              f"({self.chunk_words})")
        if self.intent_prior < 0:
            raise ConfigError("intent_prior must be >= 0")
        if not self.prior_temperature > 0:
            raise ConfigError(f"prior_temperature = {self.prior_temperature} must be > 0")
        if int(self.intent_articles) < 0:
            raise ConfigError(f"intent_articles = {self.intent_articles} must be >= 0")
        if not 0.0 <= self.faq_prior <= 1.0:
            raise ConfigError(f"faq_prior = {self.faq_prior} must be in [0, 1]")
        if self.scope_threshold is not None and not 0.0 <= self.scope_threshold <= 1.0:
            raise ConfigError(f"scope_threshold = {self.scope_threshold} must be in [0, 1] (or None to calibrate)")
        if self.scope_retrieval not in ("dense", "reranker"):
            raise ConfigError(f"scope_retrieval = {self.scope_retrieval!r}; expected dense or reranker")
        if not 0.0 <= self.intent_weight <= 1.0:
            raise ConfigError(f"intent_weight = {self.intent_weight} must be in [0, 1]")
        if not 0.0 < self.target_fpr < 0.5:
            raise ConfigError(f"target_fpr = {self.target_fpr} must be in (0, 0.5)")

    # ------------------------------------------------------------------ paths
    def kb_dir(self) -> Path:
        """FTSUITE_HOME/support/<kb>, or the folder itself when ``kb`` is a path."""
        text = str(self.kb)
        if "/" in text or text.startswith("."):
            return Path(text).expanduser().resolve()
        return ftsuite_home() / "support" / text

    def artifact(self, value: str) -> Path | None:
        """The artifact folder ``value`` names; of ``a|b|...`` the first that has a manifest (else the last)."""
        return first_artifact(value)
