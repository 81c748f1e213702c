"""A fast sentiment model that hands its unsure texts to a stronger one: accuracy against the share deferred.

Both models score the recipe's validation part and the four FPB test parts once. For each share of
texts to defer, ``defer_below`` is read off the validation part (the share-quantile of the fast
model's top probability), and so is the strong model's weight in a handed-on text's probabilities
(``--weights``; 1 = its answer alone); both are then applied unchanged to every test part: the test
parts choose nothing.
The chosen row is checked against a real :class:`core.inference.CascadePredictor` run on FPB 50Agree.

    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/cascade.py configs/sentiment-news.toml \\
        .ftsuite/artifacts/sentiment-news-distilled .ftsuite/artifacts/sentiment-news-mpnet [--shares 0.1,0.2,0.3] \\
        [--weights 1,0.9,0.8,0.7,0.6,0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def probabilities(predictor, texts: list[str], labels: list[str]) -> np.ndarray:
    return np.array([[p["scores"][l] for l in labels] for p in predictor.predict(texts, batch_size=64)])


def cascade_labels(fast: np.ndarray, strong: np.ndarray, below: float,
                   weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The cascade's label indices and which texts it handed on, from both models' probabilities
    (``weight``: the strong model's share of a handed-on text's probabilities)."""
    unsure = fast.max(1) < below
    return np.where(unsure, (weight * strong + (1.0 - weight) * fast).argmax(1), fast.argmax(1)), unsure


def cascade_accuracy(fast: np.ndarray, strong: np.ndarray, gold: np.ndarray, below: float,
                     weight: float = 1.0) -> tuple[float, float]:
    """Accuracy and deferred share of the cascade."""
    predicted, unsure = cascade_labels(fast, strong, below, weight)
    return float((predicted == gold).mean()), float(unsure.mean())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="the recipe both models were trained on (its validation part picks the thresholds)")
    parser.add_argument("fast")
    parser.add_argument("strong")
    parser.add_argument("--shares", default="0.1,0.15,0.2,0.25,0.3,0.35,0.4")
    parser.add_argument("--check", type=float, default=0.25, help="the share whose cascade is also run for real")
    parser.add_argument("--weights", default="1",
                        help="strong-model weights to try for handed-on texts (fallback_weight); for each share "
                             "the validation part picks one (ties: the larger)")
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--strong-precision", default="auto",
                        help="graph of the strong model (fp32: its answers do not depend on its batch mates)")
    args = parser.parse_args(argv)
    os.environ.setdefault("FTSUITE_DATA", str(REPO.parent / "shared" / "data"))
    from benchmarks.sentiment_news import fpb_test_parts
    from core.config import load_config
    from core.data import load_examples
    from core.inference import CascadePredictor, load_predictor

    config = load_config(args.config)
    splits, _ = load_examples(config.data, config.task, resolve=config.path)
    parts = {"validation": splits["validation"], **{f"FPB {k} test": v for k, v in fpb_test_parts().items()}}
    fast = load_predictor(args.fast, backend=args.backend, device="cpu")
    strong = load_predictor(args.strong, backend=args.backend, device="cpu",
                            precision=args.strong_precision if args.backend == "onnx" else "auto")
    labels = fast.labels
    probs = {}
    for name, examples in parts.items():
        gold = np.array([labels.index(l) for l in examples.labels])
        probs[name] = (probabilities(fast, examples.texts, labels), probabilities(strong, examples.texts, labels), gold)

    shares = [float(s) for s in args.shares.split(",")]
    weights = sorted((float(w) for w in args.weights.split(",")), reverse=True)
    tops = probs["validation"][0].max(1)
    rows = [{"share": 0.0, "defer_below": 0.0}] + [
        {"share": s, "defer_below": round(float(np.quantile(tops, s)), 4)} for s in shares] + [
        {"share": 1.0, "defer_below": 1.0}]
    header = " | ".join(f"{name} acc (deferred)" for name in parts)
    print(f"fast {args.fast} ({fast.describe()['precision']}), strong {args.strong} ({strong.describe()['precision']})")
    print(f"| share asked (validation) | defer_below | weight | {header} |\n|---|---:|---:|" + "---:|" * len(parts))
    for row in rows:
        below = 1.01 if row["share"] == 1.0 else row["defer_below"]  # 1.0: the strong model alone
        f, s, gold = probs["validation"]
        # the validation part picks the weight; max() keeps the first (largest) of equal accuracies
        row["weight"] = 1.0 if row["share"] in (0.0, 1.0) else max(
            weights, key=lambda w: round(cascade_accuracy(f, s, gold, below, w)[0], 6))
        row["parts"] = {}
        for name, (f, s, gold) in probs.items():
            accuracy, deferred = cascade_accuracy(f, s, gold, below, row["weight"])
            row["parts"][name] = {"accuracy": round(accuracy, 4), "deferred": round(deferred, 4)}
        cells = " | ".join(f"{v['accuracy']:.4f} ({v['deferred']:.0%})" for v in row["parts"].values())
        print(f"| {row['share']:.2f} | {row['defer_below']:.4f} | {row['weight']:g} | {cells} |")

    # the offline sum above is what CascadePredictor does: check one row against the real thing
    check = min(rows[1:-1], key=lambda r: abs(r["share"] - args.check))
    cascade = CascadePredictor(fast, strong, check["defer_below"], check["weight"])
    test = parts["FPB 50Agree test"]
    predicted = [p["label"] for p in cascade.predict(test.texts, batch_size=64)]
    f, s, _ = probs["FPB 50Agree test"]
    offline, _ = cascade_labels(f, s, check["defer_below"], check["weight"])
    differ = sum(p != labels[o] for p, o in zip(predicted, offline))
    real = float(np.mean([p == g for p, g in zip(predicted, test.labels)]))
    print(f"CascadePredictor on FPB 50Agree test at defer_below {check['defer_below']}, weight {check['weight']:g}: "
          f"accuracy {real:.4f}, "
          f"{cascade.deferred} of {cascade.seen} deferred; {differ} labels differ from the offline sum")
    # a dynamic int8 strong model answers a text differently among other batch mates (batch_effect.py)
    if differ and strong.batch_independent:
        raise SystemExit("the real cascade disagrees with the offline sum")
    with open(REPO / "benchmarks" / "results" / "cascade.jsonl", "a") as handle:
        handle.write(json.dumps({"config": args.config, "fast": args.fast, "strong": args.strong,
                                 "backend": args.backend, "strong_precision": strong.describe()["precision"],
                                 "rows": rows, "real_check": {"defer_below": check["defer_below"],
                                                              "weight": check["weight"],
                                                              "accuracy": round(real, 4), "differ": differ}}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
