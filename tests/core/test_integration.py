"""Fine-tunes the shipped MiniLM for a few steps on a slice of the project's sample data."""

from pathlib import Path

import pytest

from core.config import load_config
from core.data import load_examples
from core.evaluation import evaluate_predictor
from core.inference import load_predictor
from core.training import train_model

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).parents[2] / "configs" / "sentiment-sample.toml"


def test_minilm_loss_falls_and_the_reloaded_artifact_agrees(tmp_path):
    config = load_config(CONFIG, ["data.max_examples=160", "train.max_steps=24", "train.batch_size=16",
                                  "train.early_stopping_patience=0", "train.progress=false",
                                  f"output='{tmp_path / 'art'}'"])
    manifest = train_model(config)
    losses = [h["loss"] for h in manifest["training"]["history"] if "loss" in h]
    assert len(losses) >= 3 and losses[-1] < losses[0]

    splits, _ = load_examples(config.data, config.task, resolve=config.path)
    again = evaluate_predictor(load_predictor(manifest.path, backend="torch"), splits["test"])
    assert again["accuracy"] == manifest["metrics"]["test"]["accuracy"]
    assert again["macro_f1"] == manifest["metrics"]["test"]["macro_f1"]
    assert manifest["metrics"]["test"]["accuracy"] > 0.5  # three balanced classes: chance is ~0.33
