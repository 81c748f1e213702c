"""Static int8 (``ftsuite export --int8 static``) against the artifact's dynamic int8 and fp32, FPB 50Agree test.

A dynamic int8 graph reads its activation scales from each batch, so a text's answer moves with its
batch mates (benchmarks/batch_effect.py). Static quantization fixes the scales beforehand from the
artifact's training texts. The artifact (weights and manifest) is copied into a temporary folder and
exported there with ``int8="static"``, so the artifact itself is left as it is. Then the artifact's
fp32 and int8 graphs and the static one score the 968 test sentences: speed at one thread (best of
three, batches of 64), accuracy, and labels changed between batches of 1 and 64.

    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/static_int8.py .ftsuite/artifacts/sentiment-news-distilled
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", help="a text-classification artifact exported with --int8")
    args = parser.parse_args(argv)
    args.artifact = str(Path(args.artifact).resolve())
    os.environ.setdefault("FTSUITE_DATA", str(REPO.parent / "shared" / "data"))
    from benchmarks.sentiment_news import fpb_test_parts
    from core.inference import load_predictor
    from exports import export_artifact

    work = Path(tempfile.mkdtemp(prefix="static-int8-"))
    copy = work / Path(args.artifact).name
    copy.mkdir()
    for name in ("manifest.json", "model"):
        source = Path(args.artifact) / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    started = time.perf_counter()
    info = export_artifact(copy, int8="static")
    quantization = info["graphs"]["int8"]["quantization"]
    print(f"static export in {time.perf_counter() - started:.0f} s: {quantization['recipe']} "
          f"(candidates: {json.dumps(quantization['candidates'])})", flush=True)
    served = json.loads((Path(args.artifact) / "manifest.json").read_text())["onnx"]["graphs"]["int8"]["quantization"]
    predictors = {"fp32": load_predictor(args.artifact, backend="onnx", device="cpu", precision="fp32", threads=1),
                  f"int8 as exported ({served['recipe']})": load_predictor(args.artifact, backend="onnx", device="cpu",
                                                                          precision="int8", threads=1),
                  f"static int8 ({quantization['recipe']})": load_predictor(copy, backend="onnx", device="cpu",
                                                                            precision="int8", threads=1)}
    reference = list(predictors)[1]
    test = fpb_test_parts()["50Agree"]
    best = {name: float("inf") for name in predictors}
    for _ in range(3):  # in turn, best of three: the machine is shared
        for name, predictor in predictors.items():
            started = time.perf_counter()
            predictor.predict(test.texts, batch_size=64)
            best[name] = min(best[name], time.perf_counter() - started)
    rows = []
    print(f"| graph | texts/s (1 thread) | against {reference} | accuracy (batches of 64) | labels changed, batch 1 vs 64 |\n"
          "|---|---:|---:|---:|---:|")
    for name, predictor in predictors.items():
        labels = {b: [p["label"] for p in predictor.predict(test.texts, batch_size=b)] for b in (1, 64)}
        row = {"graph": name, "texts_per_s": round(len(test.texts) / best[name], 1),
               "vs_reference": round(best[reference] / best[name], 2),
               "accuracy": round(float(np.mean([p == g for p, g in zip(labels[64], test.labels)])), 4),
               "changed": sum(a != b for a, b in zip(labels[1], labels[64])), "texts": len(test.texts)}
        rows.append(row)
        print(f"| {name} | {row['texts_per_s']} | {row['vs_reference']:.2f}x | {row['accuracy']:.4f} | "
              f"{row['changed']} of {row['texts']} |")
    shutil.rmtree(work, ignore_errors=True)
    with open(REPO / "benchmarks" / "results" / "static_int8.jsonl", "a") as handle:
        handle.write(json.dumps({"artifact": args.artifact, "recipe": "ftsuite export --int8 static",
                                 "static": {k: quantization[k] for k in ("recipe", "candidates", "calibration_texts")},
                                 "agreement": info["graphs"]["int8"]["agreement"],
                                 "test_agreement": info["graphs"]["int8"].get("test_agreement"),
                                 "rows": rows, "date": time.strftime("%Y-%m-%d")}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
