"""Accuracy of an ensemble (mean of class probabilities) of artifacts trained on one recipe.

    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/ensemble.py configs/fpb-allagree.toml \
        .ftsuite/bench/fpb-allagree-full .ftsuite/bench/fpb-allagree-lora .ftsuite/bench/fpb-allagree-top_layers
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str]) -> int:
    os.environ.setdefault("FTSUITE_DATA", str(REPO.parent / "shared" / "data"))
    from core.config import load_config
    from core.data import load_examples
    from core.evaluation import classification_metrics
    from core.inference import load_predictor

    config = load_config(argv[0])
    splits, _ = load_examples(config.data, config.task, resolve=config.path)
    test = splits["test"]
    probabilities, labels, rows = [], None, {}
    for artifact in argv[1:]:
        predictor = load_predictor(artifact, backend="torch")
        labels = predictor.labels
        probs = np.array([[p["scores"][l] for l in labels] for p in predictor.predict(test.texts)])
        probabilities.append(probs)
        rows[Path(artifact).name] = classification_metrics(test.labels, [labels[i] for i in probs.argmax(1)], labels,
                                                           summary_only=True)
    mean = np.mean(probabilities, axis=0)
    rows["ensemble (mean probability)"] = classification_metrics(test.labels, [labels[i] for i in mean.argmax(1)],
                                                                 labels, summary_only=True)
    print("| model | test accuracy | macro-F1 | weighted-F1 |\n|---|---|---|---|")
    for name, m in rows.items():
        print(f"| {name} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['weighted_f1']:.4f} |")
    out = REPO / "benchmarks" / "results" / "ensemble.jsonl"
    with open(out, "a") as handle:
        handle.write(json.dumps({"config": argv[0], "artifacts": argv[1:], "metrics": rows}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
