"""The monitor learns from its analysts: re-train the served sentiment model on its own training
data plus the headlines an analyst corrected, through the core's engine, and swap it in only when
it is not worse.

1. The corrections (``ftsuite monitor label``) become labelled texts, as the model reads them,
   split by a hash of each item into a training part and a held-out part (30% by default).
2. The served artifact's own recipe (its manifest's config) is trained again, continuing from the
   served weights, with the training part added to its training split only
   (``data.extra_train``): its validation and test splits stay what they were, and a correction's
   label replaces the training data's for the same text.
3. Before and after, through the runtime (ONNX when the served model has a graph, exported the same
   way): accuracy and macro-F1 on the held-out corrections and on the model's own test split.
4. A model that scores lower on the held-out corrections, or loses more than ``max_test_drop`` on
   its test split, is refused with the figures; otherwise it replaces the served folder (the old one
   is kept beside it) and the stored items are scored again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.artifacts import now_utc, read_manifest, update_manifest
from core.config import ftsuite_home
from core.data import Examples, load_examples, normalise_text
from core.errors import DataError, SuiteError
from core.evaluation import evaluate_predictor
from core.inference import export_with_cli, int8_graph_entry, int8_is_static, load_predictor

__all__ = ["RetrainResult", "retrain_from_corrections", "MIN_CORRECTIONS"]

MIN_CORRECTIONS = 10


@dataclass
class RetrainResult:
    accepted: bool
    reason: str
    artifact: str
    corrections: dict
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    kept_previous: str = ""

    def summary(self) -> str:
        def fmt(side: dict) -> str:
            return ", ".join(f"{part} accuracy {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f}"
                             for part, m in side.items())

        verdict = "ACCEPTED: now serving" if self.accepted else "REFUSED: still serving the previous model"
        return (f"{verdict} ({self.reason})\n  corrections: {self.corrections['train']} trained on, "
                f"{self.corrections['held_out']} held out\n  before: {fmt(self.before)}\n  after:  {fmt(self.after)}")


def _split(rows: list[dict], held_out_share: float) -> tuple[list[dict], list[dict]]:
    """Held out by a hash of the item, so that a correction stays on its side from one run to the next."""
    def bucket(row):
        return int(hashlib.sha1(row["item_uid"].encode("utf-8")).hexdigest()[:8], 16) % 1000

    train = [r for r in rows if bucket(r) >= held_out_share * 1000]
    held = [r for r in rows if bucket(r) < held_out_share * 1000]
    if not held:
        held, train = train[-1:], train[:-1]
    if not train:
        train, held = held[-1:], held[:-1]
    return train, held


def _write(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows((r["text"], r["label"]) for r in rows)
    return path


def _metrics(predictor, examples: Examples) -> dict:
    metrics = evaluate_predictor(predictor, examples)
    return {"accuracy": round(float(metrics["accuracy"]), 6), "macro_f1": round(float(metrics["macro_f1"]), 6),
            "examples": len(examples)}


def _export_like(served: Path, candidate: Path) -> None:
    """Export the candidate as the served model was exported (int8 static or dynamic, or fp32)."""
    if not (served / "onnx" / "model.onnx").is_file():
        return
    manifest = read_manifest(served)
    method = ("static" if int8_is_static(manifest) else "dynamic") if int8_graph_entry(manifest) else ""
    export_with_cli(candidate, int8=method)


def retrain_from_corrections(monitor, min_corrections: int = MIN_CORRECTIONS, held_out_share: float = 0.3,
                             max_test_drop: float = 0.01, epochs: int | None = None,
                             progress: bool = False) -> RetrainResult:
    """Re-train ``monitor``'s sentiment model on its data plus the analysts' corrections (see the
    module's steps); swaps it in and re-scores the store when it is not worse."""
    from core.config import experiment_from_manifest
    from core.training import train_model

    from .items import Item
    from .store import from_ts

    started = time.time()
    monitor.warm_up()
    cfg = monitor.config
    served = cfg.artifact(cfg.sentiment_model)
    manifest = read_manifest(served)
    labels = list(manifest.get("labels", []))
    if not 0.0 < held_out_share < 1.0:
        raise SuiteError(f"held-out share {held_out_share}; give a share between 0 and 1")

    # 1. the corrections as texts the model reads; the latest correction of a text wins
    by_text: dict[str, dict] = {}
    unusable = []
    for row in monitor.store.corrections():
        if row["label"] not in labels:
            unusable.append(f"{row['item_uid']}: label {row['label']!r} is not one of {labels}")
            continue
        text = monitor._model_text(Item(title=row["title"], summary=row["summary"], published=from_ts(0),
                                        uid=row["item_uid"]))
        by_text[normalise_text(text)] = {**row, "text": text}
    rows = list(by_text.values())
    if len(rows) < min_corrections:
        raise DataError(f"{len(rows)} usable correction(s) stored; re-training needs at least {min_corrections} "
                        "(a part of them is held out to check the new model)"
                        + (f"; not usable: {'; '.join(unusable[:5])}" if unusable else ""),
                        fix="correct more headlines: 'ftsuite monitor review' lists the ones the model is least "
                            "sure of, 'ftsuite monitor label ITEM LABEL' stores a correction")
    train_rows, held_rows = _split(rows, held_out_share)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    folder = ftsuite_home() / "monitor" / "retrain" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    train_csv = _write(train_rows, folder / "corrections-train.csv")
    _write(held_rows, folder / "corrections-held-out.csv")
    held_out = Examples([r["text"] for r in held_rows], [r["label"] for r in held_rows], None)

    # 2. the served recipe again, from the served weights, the corrections added to its training split
    config = experiment_from_manifest(manifest)
    config.data.extra_train = [str(train_csv)]
    config.data.fetch = ""
    if epochs:
        config.train.epochs = int(epochs)
    config.train.progress = progress
    splits, _ = load_examples(config.data, config.task, resolve=config.path, labels=labels)
    test = splits.get("test") or splits.get("validation")
    if test is None:
        raise DataError("the served model's recipe has no test or validation split to compare on",
                        fix="set data.test_size or data.test in its recipe")
    test = test.subset(range(min(len(test), 2000)))
    candidate = served.with_name(f".{served.name}.candidate-{stamp}")
    t = time.time()
    train_model(config, output=candidate, parent=served, progress=progress)
    seconds = {"train": round(time.time() - t, 1)}
    t = time.time()
    _export_like(served, candidate)
    seconds["export"] = round(time.time() - t, 1)

    # 3. before and after through the runtime
    old = load_predictor(served, backend=cfg.backend)
    new = load_predictor(candidate, backend=cfg.backend)
    before = {"held-out corrections": _metrics(old, held_out), "test split": _metrics(old, test)}
    after = {"held-out corrections": _metrics(new, held_out), "test split": _metrics(new, test)}
    del old, new
    corrections = {"train": len(train_rows), "held_out": len(held_rows), "unusable": unusable,
                   "folder": str(folder)}

    # 4. refuse a worse model; else swap the folders and score the store again
    drop = before["test split"]["accuracy"] - after["test split"]["accuracy"]
    gain = after["held-out corrections"]["accuracy"] - before["held-out corrections"]["accuracy"]
    if gain < 0:
        reason = f"held-out corrections accuracy would fall by {-gain * 100:.1f} points"
    elif drop > max_test_drop:
        reason = f"test-split accuracy would fall by {drop * 100:.1f} points (at most {max_test_drop * 100:.1f})"
    else:
        reason = (f"held-out corrections {gain * 100:+.1f} points, test split {-drop * 100:+.1f} points "
                  f"(at most -{max_test_drop * 100:.1f} allowed)")
    accepted = gain >= 0 and drop <= max_test_drop
    result = RetrainResult(accepted, reason, str(served), corrections, before, after, seconds)
    (folder / "result.json").write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    if not accepted:
        shutil.rmtree(candidate, ignore_errors=True)
        return result
    update_manifest(candidate, retrained_from_corrections={**asdict(result), "at": now_utc()})
    monitor.close()
    previous = served.with_name(f".{served.name}.previous-{stamp}")
    served.rename(previous)  # two renames on one file system: the served path is empty only between them
    candidate.rename(served)
    result.kept_previous = str(previous)
    monitor.warm_up()
    rescored = monitor.rescore()
    result.seconds.update(rescore_items=rescored, total=round(time.time() - started, 1))
    (folder / "result.json").write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    return result
