"""Does an analyst's time go further on the headlines the model is least sure of?

A model trained without a domain (FPB AllAgree: press-release sentences, no tweets) meets that domain
(Twitter financial news, TFNS). An analyst corrects N of its pool of headlines, chosen either by
uncertainty sampling (the smallest margin between the two likeliest labels: what `ftsuite monitor
review` lists first) or at random; the model is re-trained as `ftsuite monitor retrain` does it
(its recipe again, from its weights, the corrections added to its training split only:
`data.extra_train`) and scored on a held-out part of the domain. Both curves come from one run.

    FTSUITE_DATA=../shared/data python benchmarks/feedback_curve.py --sizes 50,100,200 --output curve.json

TFNS (the shared training split) is cut once with a fixed seed into a pool of 3,000 headlines the
analyst may be shown and a held-out part of 1,500 (validation: chosen settings are never read off
it); FPB's own test part is scored too, to see what the domain shift costs the original task.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TFNS_LABELS = {"0": "negative", "1": "positive", "2": "neutral"}


def _tfns(path: Path, seed: int, pool_size: int, held_size: int):
    with open(path, encoding="utf-8") as handle:
        rows = [(r["text"].strip(), TFNS_LABELS[r["label"].strip()]) for r in csv.DictReader(handle)]
    seen, unique = set(), []
    for text, label in rows:
        key = " ".join(text.lower().split())
        if text and key not in seen:
            seen.add(key)
            unique.append((text, label))
    random.Random(seed).shuffle(unique)
    return unique[:pool_size], unique[pool_size:pool_size + held_size]


def _weighted_f1(predictor, rows) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = [p["label"] for p in predictor.predict([t for t, _ in rows], batch_size=64)]
    gold = [label for _, label in rows]
    return {"weighted_f1": round(f1_score(gold, predicted, average="weighted"), 4),
            "accuracy": round(accuracy_score(gold, predicted), 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "fpb-allagree.toml"))
    parser.add_argument("--sizes", default="50,100,200")
    parser.add_argument("--retrain-epochs", type=int, default=2)
    parser.add_argument("--base-epochs", type=int, help="epochs of the model without the domain (default: the recipe's)")
    parser.add_argument("--pool", type=int, default=3000)
    parser.add_argument("--held-out", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="", help="folder for the models (default: a temporary one)")
    parser.add_argument("--output", help="append the result as one JSON line here")
    args = parser.parse_args(argv)

    from core.config import load_config
    from core.cpu import detect_cpu
    from core.inference import load_predictor
    from core.training import train_model

    data = Path(os.environ.get("FTSUITE_DATA", REPO.parent / "shared" / "data"))
    os.environ["FTSUITE_DATA"] = str(data)
    work = Path(args.work or tempfile.mkdtemp(prefix="feedback-"))
    work.mkdir(parents=True, exist_ok=True)
    pool, held = _tfns(data / "tfns" / "train.csv", args.seed, args.pool, args.held_out)
    started = time.time()

    # 1. the model without the domain
    base = work / "base"
    config = load_config(args.config, [f"train.epochs={args.base_epochs}"] if args.base_epochs else None)
    if not (base / "manifest.json").is_file():
        train_model(config, output=base, progress=False)
    predictor = load_predictor(base, backend="torch", device="cpu")
    rows = {"base": {"held_out": _weighted_f1(predictor, held), "corrections": 0}}
    print(f"base (no TFNS): {rows['base']}", flush=True)

    # 2. the order in which each strategy shows the pool to the analyst
    probabilities = predictor.predict([t for t, _ in pool], batch_size=64)
    margins = []
    for p in probabilities:
        top = sorted(p["scores"].values(), reverse=True)
        margins.append(top[0] - top[1])
    orders = {"uncertainty": sorted(range(len(pool)), key=lambda i: margins[i]),
              "random": random.Random(args.seed + 1).sample(range(len(pool)), len(pool))}

    # 3. re-train from the base's weights on its data plus the first N corrections of each order
    for strategy, order in orders.items():
        for size in [int(s) for s in args.sizes.split(",")]:
            chosen = [pool[i] for i in order[:size]]
            corrections = work / f"{strategy}-{size}.csv"
            with open(corrections, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["text", "label"])
                writer.writerows(chosen)
            again = load_config(args.config, [f"train.epochs={args.retrain_epochs}"])
            again.data.extra_train = [str(corrections)]
            t = time.time()
            out = train_model(again, output=work / f"model-{strategy}-{size}", parent=base, progress=False)
            model = load_predictor(out.path, backend="torch", device="cpu")
            rows[f"{strategy}-{size}"] = {"strategy": strategy, "corrections": size,
                                          "held_out": _weighted_f1(model, held),
                                          "fpb_test_accuracy": round(out["metrics"]["test"]["accuracy"], 4),
                                          "label_counts": {l: sum(1 for _, x in chosen if x == l)
                                                           for l in ("negative", "neutral", "positive")},
                                          "seconds": round(time.time() - t, 1)}
            print(f"{strategy} {size}: {rows[f'{strategy}-{size}']}", flush=True)

    cpu = detect_cpu()
    result = {"benchmark": "feedback_curve", "config": args.config, "pool": len(pool), "held_out": len(held),
              "retrain_epochs": args.retrain_epochs, "base_epochs": args.base_epochs, "rows": rows, "cpu": cpu.describe(),
              "seconds": round(time.time() - started, 1), "date": time.strftime("%Y-%m-%d")}
    print("\n| corrections | uncertainty: weighted-F1 | random: weighted-F1 |\n|---:|---:|---:|")
    print(f"| 0 | {rows['base']['held_out']['weighted_f1']:.4f} | {rows['base']['held_out']['weighted_f1']:.4f} |")
    for size in [int(s) for s in args.sizes.split(",")]:
        print(f"| {size} | {rows[f'uncertainty-{size}']['held_out']['weighted_f1']:.4f} | "
              f"{rows[f'random-{size}']['held_out']['weighted_f1']:.4f} |")
    if args.output:
        with open(args.output, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
