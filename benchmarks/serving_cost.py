"""Serving cost of task models side by side: texts/s of each artifact on the same texts, interleaved.

Used to show what distillation buys: the mpnet teacher against the MiniLM student it taught.

    .venv/bin/python benchmarks/serving_cost.py .ftsuite/bench/fpb-allagree-mpnet-full \\
        .ftsuite/bench/fpb-allagree-distilled-full --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from core.inference import load_predictor
    from exports.bench import synthetic_texts

    texts = synthetic_texts(args.texts)
    predictors = {a: load_predictor(a, backend=args.backend, threads=args.threads) for a in args.artifacts}
    seconds: dict[str, list[float]] = {a: [] for a in predictors}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for name, predictor in predictors.items():
            started = time.perf_counter()
            predictor.predict(texts, batch_size=32)
            if round_:
                seconds[name].append(time.perf_counter() - started)
    first = statistics.median(seconds[args.artifacts[0]])
    print("| artifact | parameters | texts/s | x first |\n|---|---:|---:|---:|")
    rows = []
    for name, predictor in predictors.items():
        median = statistics.median(seconds[name])
        params = predictor.manifest["training"]["total_parameters"]
        rows.append({"artifact": name, "texts_per_s": round(args.texts / median, 1), "x_first": round(first / median, 2),
                     "parameters": params})
        print(f"| {Path(name).name} | {params:,} | {args.texts / median:.1f} | {first / median:.2f} |")
    out = REPO / "benchmarks" / "results" / "serving_cost.jsonl"
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"rows": rows, "backend": args.backend, "threads": args.threads,
                                 "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                                 "date": time.strftime("%Y-%m-%d")}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
