"""Recipes that build the recommender's models offline.

1. ``write_interest_pairs``: (history text, next liked item text) pairs from time-ordered
   training histories, written as a CSV under FTSUITE_HOME.
2. ``train_interest_model``: the core fine-tunes the sentence embedder on those pairs
   (task ``sentence_embedding``, in-batch negatives) and the export stage writes ONNX int8
   (through the ``ftsuite export`` command: apps do not import the export stage).
3. ``build``: item vectors, the interest model, the ranker fitted on a validation split, all
   saved in one folder that :class:`apps.recommender.pipeline.Recommender` loads.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from core.artifacts import read_manifest
from core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig, ftsuite_home, portable_path
from core.errors import SuiteError
from core.inference import export_with_cli

from .config import RecommenderConfig
from .data import Catalogue, Interactions
from .interest import HISTORY_ITEMS, history_text
from .ranker import user_histories

__all__ = ["write_interest_pairs", "train_interest_model", "save_dataset", "build"]


def write_interest_pairs(catalogue: Catalogue, train: Interactions, path: Path, n_pairs: int = 3000,
                         min_history: int = 3, seed: int = 0) -> int:
    """Sample ``n_pairs`` (user, step) positions; each gives (text of the liked items before the
    step, text of the item liked at the step). Returns the number of pairs written."""
    rng = np.random.default_rng(seed)
    positions = [(u, p) for u, (items, _) in user_histories(train).items() for p in range(min_history, len(items))]
    if not positions:
        raise SuiteError("no history is long enough to make interest-model pairs; add interactions")
    histories = user_histories(train)
    chosen = rng.choice(len(positions), size=min(n_pairs, len(positions)), replace=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "pair"])
        for j in sorted(chosen):
            u, p = positions[j]
            items = histories[u][0]
            writer.writerow([history_text(catalogue, items[:p], HISTORY_ITEMS), catalogue.text(int(items[p]))])
    tmp.replace(path)
    return len(chosen)


def train_interest_model(catalogue: Catalogue, train: Interactions, name: str, config: RecommenderConfig,
                         output: Path | None = None, export: bool = True, progress: bool = False) -> Path:
    """Fine-tune the interest model with the core and export it to ONNX int8; returns the artifact."""
    from core.training import train_model

    output = output or ftsuite_home() / "artifacts" / name
    pairs = ftsuite_home() / "recommender" / "pairs" / f"{name}.csv"
    count = write_interest_pairs(catalogue, train, pairs, config.interest_pairs, seed=config.seed)
    experiment = ExperimentConfig(
        name=name, task="sentence_embedding",
        data=DataConfig(train=str(pairs), text_pair_column="pair", test_size=0.05, validation_size=0.05,
                        duplicates="keep", leakage="drop", seed=config.seed),
        model=ModelConfig(base=config.base, max_length=config.interest_max_length),
        train=TrainConfig(epochs=config.interest_epochs, batch_size=config.interest_batch_size,
                          learning_rate=config.interest_learning_rate, warmup_ratio=0.1, metric="loss",
                          progress=progress, seed=config.seed),
    )
    started = time.time()
    result = train_model(experiment, output=output, progress=progress)
    print(f"interest model: {count} pairs, trained in {time.time() - started:.0f} s -> {result.path}")
    if export:
        export_int8(result.path)
    return result.path


def export_int8(artifact: Path) -> str:
    """ONNX + int8 through the ``ftsuite export`` command (validated against torch there). An int8
    graph that fails its parity check is left out: the recommender then serves the fp32 graph, and
    the line returned (also printed) says so. Returns that line."""
    if (artifact / "onnx" / "model.int8.onnx").is_file():
        return "interest model: int8 graph already exported"
    int8 = export_with_cli(artifact)
    if int8.get("refused"):
        line = (f"interest model: the int8 graph failed its parity check ({int8['refused'][:200]}); "
                "the recommender serves the fp32 graph")
    else:
        line = f"interest model: int8 graph for {int8.get('cpu', {}).get('class', '?')} CPUs"
    print(line)
    return line


def save_dataset(catalogue: Catalogue, inter: Interactions, folder: Path) -> None:
    """The catalogue and interactions in the documented CSV format (what a built recommender reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "items.csv.tmp", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "title", "year", "genres", "tags", "description"])
        for i in range(len(catalogue)):
            writer.writerow([catalogue.ids[i], catalogue.titles[i], catalogue.years[i] or "",
                             "|".join(catalogue.genres[i]), "|".join(catalogue.tags[i][:20]),
                             catalogue.descriptions[i]])
    with open(folder / "interactions.csv.tmp", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "rating", "timestamp"])
        for u, i, r, t in zip(inter.users, inter.items, inter.ratings, inter.timestamps):
            writer.writerow([inter.user_ids[u], catalogue.ids[i], f"{r:g}", int(t)])
    (folder / "items.csv.tmp").replace(folder / "items.csv")
    (folder / "interactions.csv.tmp").replace(folder / "interactions.csv")


def build(config: RecommenderConfig, catalogue: Catalogue, inter: Interactions, output: Path,
          source: str, progress: bool = False) -> dict:
    """The offline path: everything ``Recommender`` needs, in ``output``. Returns the summary."""
    from .pipeline import Recommender

    started = time.time()
    output.mkdir(parents=True, exist_ok=True)
    save_dataset(catalogue, inter, output / "data")
    interest_path = None
    if config.interest:
        interest_path = Path(config.interest_artifact) if config.interest_artifact else \
            ftsuite_home() / "artifacts" / f"recommender-interest-{config.name}"
        if not (interest_path / "manifest.json").is_file():
            from .split import holdout_last

            # trained on every user's history but the last 20% of positives: those stay unseen
            # by the interest model so that the ranker's validation features are honest
            train_interest_model(catalogue, holdout_last(inter, config.threshold).train,
                                 interest_path.name, config, interest_path, progress=progress)
        read_manifest(interest_path)
    summary = {"name": config.name, "source": source, "items": len(catalogue), "users": inter.n_users,
               "interactions": len(inter), "interest_model": portable_path(interest_path) if interest_path else None,
               "config": config.to_dict()}
    (output / "recommender.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    for stale in ("ranker.npz", "ranker.npz.json", "cold.json"):  # a rebuild fits them afresh
        (output / stale).unlink(missing_ok=True)
    recommender = Recommender(output).warm_up()
    recommender.ranker_model.ranker.save(output / "ranker.npz")
    recommender.ranker_model.cold_settings.save(output / "cold.json")
    summary["seconds"] = round(time.time() - started, 1)
    (output / "recommender.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
