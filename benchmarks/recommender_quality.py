"""The recommender on ML-100K and ml-latest-small, DATA.md protocol, every method side by side.

Popularity, item-kNN, EASE (lambda tuned on validation), text-only (frozen MiniLM), the fixed
blend EASE + 0.2 x text, the full ranker without and with the fine-tuned interest model; item
cold-start AUC (text similarity, the content -> EASE mapping alone, predicted popularity alone,
and the full model's blend of mapping and text chosen on validation); p95 latency of one user's
recommendation over the whole catalogue. Appends one JSON row per (dataset, method) to
benchmarks/results/recommender_quality.jsonl.

The interest model used here is trained by this script (``--train-interest``) on each dataset's
protocol training part minus the ranker's validation positives and minus the cold items, so that
neither the test, the validation nor the cold-start figures see its training pairs:

    .venv/bin/ftsuite data fetch ml-100k
    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/recommender_quality.py --train-interest
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def interest_for(name, catalogue, inter, args):
    """The eval interest model of one dataset: trained here when asked, else reused if present."""
    from apps.recommender.config import RecommenderConfig
    from apps.recommender.interest import InterestModel
    from apps.recommender.split import cold_items, drop_items, holdout_last
    from apps.recommender.train import train_interest_model
    from core.config import ftsuite_home

    artifact = ftsuite_home() / "artifacts" / f"recommender-interest-eval-{name}"
    if not (artifact / "manifest.json").is_file():
        if not args.train_interest:
            print(f"  no interest model at {artifact} (pass --train-interest to train it); full model without it")
            return None, None
        inner = drop_items(holdout_last(holdout_last(inter).train).train, cold_items(inter))
        started = time.time()
        train_interest_model(catalogue, inner, artifact.name, RecommenderConfig(name=name, interest_pairs=args.pairs),
                             artifact)
        print(f"  interest model trained and exported in {time.time() - started:.0f} s")
    model = InterestModel(artifact)
    return (model.item_vectors(catalogue), lambda h: model.user_vectors(catalogue, h)), str(artifact)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-latest-small"])
    parser.add_argument("--train-interest", action="store_true", help="train missing eval interest models")
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--no-interest", action="store_true")
    args = parser.parse_args(argv)

    from apps.recommender.data import load_dataset
    from apps.recommender.evaluate import evaluate
    from apps.recommender.interest import item_vectors
    from core.embedding import Embedder

    data = Path(os.environ.get("FTSUITE_DATA", REPO.parent / "shared" / "data"))
    out = REPO / "benchmarks" / "results" / "recommender_quality.jsonl"
    embedder = Embedder.from_base("minilm")
    for name in args.datasets:
        print(f"{name}:")
        root = data / "movielens-latest-small" if name == "ml-latest-small" else None
        catalogue, inter, _ = load_dataset(name, root)
        started = time.time()
        vectors = item_vectors(catalogue, embedder)
        print(f"  {len(catalogue)} items embedded (frozen MiniLM, {embedder.predictor.describe()['backend']}) "
              f"in {time.time() - started:.0f} s")
        interest, artifact = (None, None) if args.no_interest else interest_for(name, catalogue, inter, args)
        rows = evaluate(catalogue, inter, vectors, interest)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(out, "a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({"dataset": name, **row, "interest_artifact": artifact,
                                         "machine": f"{platform.machine()} {os.cpu_count()} CPU", "at": stamp}) + "\n")
        best = max((r for r in rows if r["method"] in ("item-knn", "ease")), key=lambda r: r["ndcg@10"])
        for row in rows:
            if row["method"].startswith("cold start"):
                print(f"  {row['method']}: cold AUC {row['cold_auc']}")
            if row["method"].startswith("full"):
                gain = row["ndcg@10"] / best["ndcg@10"] - 1
                print(f"  {row['method']}: {gain:+.1%} NDCG@10 over {best['method']} (target +10%), "
                      f"p95 {row['p95_ms']} ms (target < 50), cold AUC {row['cold_auc']} (target >= 0.75)")
    print(f"rows appended to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
