"""Fixtures of the export tests: a tiny BERT, one tiny trained artifact per task kind, exported once.

Everything is built in the session (no download): a 2-layer BERT with hidden size 32 and MiniLM's
tokenizer, trained for a few steps on small files written here. Tests that change an artifact
work on a copy (:func:`copy_artifact`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import NEGATIVE, POSITIVE, make_tiny_bert, write_csv

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TASKS = ("text_classification", "pair_scoring", "token_classification", "sentence_embedding")

QUESTIONS = [("how do I reset my password", "open settings and choose reset password"),
             ("my card was declined", "check the card limit and the merchant block list"),
             ("where is my transfer", "transfers arrive within two working days"),
             ("can I change my pin", "the pin can be changed at any cash machine"),
             ("how do I close my account", "send a closing request from the app"),
             ("why was I charged a fee", "fees are listed in the price list"),
             ("is there a daily limit", "the daily limit is set in the card settings"),
             ("how do I order a new card", "a new card can be ordered in the app"),
             ("what is the exchange rate", "rates follow the market during opening hours"),
             ("can I get a loan", "loan offers depend on your income and history")]
COMPANIES = ["Nokia", "Kone", "Fortum", "Elisa", "Orion", "Neste", "Metso", "Sampo"]
CITIES = ["Helsinki", "Espoo", "Tampere", "Oulu", "Turku"]


def data_file(folder: Path, task: str) -> Path:
    if task == "text_classification":
        rows = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]
        rows += [(f"{t} in the north region", label) for t, label in rows]
        return write_csv(folder / "sentiment.csv", rows, ("text", "label"))
    if task == "pair_scoring":
        rows = []
        for i, (q, a) in enumerate(QUESTIONS):
            rows.append((q, a, "1"))
            rows.append((q, QUESTIONS[(i + 3) % len(QUESTIONS)][1], "0"))
            rows.append((f"please tell me {q}", a, "1"))
            rows.append((f"please tell me {q}", QUESTIONS[(i + 5) % len(QUESTIONS)][1], "0"))
        return write_csv(folder / "pairs.csv", rows, ("text", "pair", "label"))
    if task == "sentence_embedding":
        rows = [(q, a) for q, a in QUESTIONS] + [(f"please tell me {q}", f"in short: {a}") for q, a in QUESTIONS]
        rows += [(f"{p} in the north region", n) for p, n in zip(POSITIVE, NEGATIVE)]
        return write_csv(folder / "embeddings.csv", rows, ("text", "pair"))
    lines = []
    for i, company in enumerate(COMPANIES * 4):
        city = CITIES[i % len(CITIES)]
        verb = ["opened", "closed", "expanded", "moved"][i % 4]
        tokens = [(company, "B-ORG"), (verb, "O"), ("an", "O"), ("office", "O"), ("in", "O"), (city, "B-LOC")]
        if i % 3 == 0:
            tokens += [("last", "O"), ("year", "O")]
        if i % 2 == 0:
            tokens = [("Shares", "O"), ("of", "O")] + tokens[:1] + [("Group", "I-ORG")] + tokens[1:]
        lines += [f"{w} {t}" for w, t in tokens] + [""]
    path = folder / "entities.conll"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def export_tiny_base(tmp_path_factory) -> str:
    # wide initial weights, so that outputs differ from text to text and parity checks mean something
    return make_tiny_bert(tmp_path_factory.mktemp("export-tiny-bert"), initializer_range=0.2)


def tiny_experiment(data: Path, base: str, task: str, name: str = "tiny", max_steps: int = 6):
    from core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig

    return ExperimentConfig(
        name=name, task=task,
        data=DataConfig(train=str(data), test_size=0.2, validation_size=0.2,
                        text_pair_column="pair" if task in ("pair_scoring", "sentence_embedding") else ""),
        model=ModelConfig(base=base, max_length=32),
        train=TrainConfig(epochs=1, max_steps=max_steps, batch_size=8, learning_rate=1e-3, warmup_ratio=0.0,
                          progress=False),
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory, export_tiny_base):
    """``trained(task)``: the path of a tiny artifact of that task kind (trained once per session)."""
    cache: dict[str, Path] = {}

    def get(task: str) -> Path:
        if task not in cache:
            from core.training import train_model

            folder = tmp_path_factory.mktemp(f"train-{task}")
            config = tiny_experiment(data_file(folder, task), export_tiny_base, task, name=f"tiny-{task}")
            cache[task] = train_model(config, output=folder / "artifact", progress=False).path
        return cache[task]

    return get


# int8 on a 32-wide model trained for six steps: logits sit close together, so its gate is loose here


def loose_tolerances():
    from exports import Tolerance

    return {"int8": Tolerance(min_agreement=0.75, max_metric_drop=0.5)}


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory):
    """``exported(task)``: a copy of the trained artifact, exported with fp32 and int8 graphs."""
    cache: dict[str, tuple[Path, dict]] = {}

    def get(task: str) -> tuple[Path, dict]:
        if task not in cache:
            from exports import export_artifact

            target = tmp_path_factory.mktemp(f"export-{task}") / "artifact"
            shutil.copytree(trained(task), target)
            info = export_artifact(target, int8=True, tolerances=loose_tolerances())
            cache[task] = (target, info)
        return cache[task]

    return get


def copy_artifact(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination)
    return destination
