"""Shared fixtures: a tiny BERT built in the test session, small data files, offline settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FTSUITE_DATA", REPO.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:  # noqa: D401
    """A path under ../shared/data. Missing data fails under CI=true and skips elsewhere."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = (f"{path} is missing: the shared datasets live in ../shared/data beside the repository "
                   "(or set FTSUITE_DATA to their folder)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test writes its artifacts under its own FTSUITE_HOME."""
    monkeypatch.setenv("FTSUITE_HOME", str(tmp_path / "home"))


def make_tiny_bert(folder: Path, initializer_range: float = 0.02) -> str:
    """A randomly initialised 2-layer BERT (hidden 32) with MiniLM's tokenizer: a real model
    folder that loads like any Hugging Face base but trains in milliseconds."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from core.basemodels import resolve_base

    tokenizer = AutoTokenizer.from_pretrained(resolve_base("minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
                        initializer_range=initializer_range)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> str:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


POSITIVE = ["profit rose sharply", "sales grew strongly this quarter", "the company won a large order",
            "earnings beat expectations", "the dividend was raised", "shares jumped after strong results",
            "record revenue was reported", "margins improved again", "orders doubled from last year",
            "the outlook was upgraded"]
NEGATIVE = ["profit fell sharply", "sales dropped this quarter", "the company lost a large order",
            "earnings missed expectations", "the dividend was cut", "shares slumped after weak results",
            "a record loss was reported", "margins shrank again", "orders halved from last year",
            "the outlook was downgraded"]


def write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    rows = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]
    rows += [(f"{t} in the north region", l) for t, l in rows]
    return write_csv(tmp_path / "sentiment.csv", rows)


def tiny_config(train: Path, base: str, task: str = "text_classification", **train_overrides):
    from core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig

    train_cfg = dict(epochs=2, batch_size=8, learning_rate=1e-3, warmup_ratio=0.0, progress=False)
    train_cfg.update(train_overrides)
    return ExperimentConfig(
        name="tiny", task=task,
        data=DataConfig(train=str(train), test_size=0.2, validation_size=0.2,
                        text_pair_column="pair" if task in ("pair_scoring", "sentence_embedding") else ""),
        model=ModelConfig(base=base, max_length=32),
        train=TrainConfig(**train_cfg),
    )
