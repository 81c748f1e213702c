"""Static int8 (``ftsuite export --int8 static``) against the artifact's dynamic int8 and fp32, FPB 50Agree test.

A dynamic int8 graph reads its activation scales from each batch, so a text's answer moves with its
batch mates (benchmarks/batch_effect.py). Static quantization fixes the scales beforehand from the
artifact's training texts. The artifact (weights and manifest) is copied into a temporary folder and
exported there with ``int8="static"``, so the artifact itself is left as it is (``--each-recipe``: one
copy per static recipe, each exported with that recipe only). Then the artifact's
fp32 and int8 graphs and the static one score the 968 test sentences: speed at one thread (best of
three, batches of 64), accuracy, and labels changed between batches of 1 and 64.

    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/static_int8.py .ftsuite/artifacts/sentiment-news-distilled \\
        [--each-recipe]
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
    parser.add_argument("--each-recipe", action="store_true",
                        help="export one copy per static recipe and compare them all, not only the export's choice")
    args = parser.parse_args(argv)
    args.artifact = str(Path(args.artifact).resolve())
    os.environ.setdefault("FTSUITE_DATA", str(REPO.parent / "shared" / "data"))
    from benchmarks.sentiment_news import fpb_test_parts
    from core.inference import load_predictor
    from exports import export_artifact

    work = Path(tempfile.mkdtemp(prefix="static-int8-"))
    from core.errors import ExportMismatchError
    from exports import onnx_export
    from exports.quantize import STATIC_INT8_RECIPES

    # one exported copy per static recipe (--each-recipe), else one with the export's own choice
    runs = [(r.name, (r,)) for r in STATIC_INT8_RECIPES] if args.each_recipe else [("", STATIC_INT8_RECIPES)]
    copies, exported = {}, {}
    for n, (name, recipes) in enumerate(runs):
        copy = work / str(n) / Path(args.artifact).name
        copy.mkdir(parents=True)
        for part in ("manifest.json", "model"):
            source = Path(args.artifact) / part
            (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / part)
        started = time.perf_counter()
        onnx_export.STATIC_INT8_RECIPES = recipes  # the export tries these only
        try:
            info = export_artifact(copy, int8="static")
        except ExportMismatchError as exc:  # a recipe alone can miss the int8 tolerance
            print(f"{name}: not validated ({str(exc).splitlines()[0][:300]})", flush=True)
            exported[name] = {"error": str(exc).splitlines()[0][:300]}
            continue
        finally:
            onnx_export.STATIC_INT8_RECIPES = STATIC_INT8_RECIPES
        quantization = info["graphs"]["int8"]["quantization"]
        print(f"static export in {time.perf_counter() - started:.0f} s: {quantization['recipe']} "
              f"(candidates: {json.dumps(quantization['candidates'])})", flush=True)
        copies[quantization["recipe"]] = copy
        exported[quantization["recipe"]] = {"candidates": quantization["candidates"],
                                            "calibration_texts": quantization["calibration_texts"],
                                            "agreement": info["graphs"]["int8"]["agreement"],
                                            "test_agreement": info["graphs"]["int8"].get("test_agreement")}
    served = json.loads((Path(args.artifact) / "manifest.json").read_text())["onnx"]["graphs"]["int8"]["quantization"]
    predictors = {"fp32": load_predictor(args.artifact, backend="onnx", device="cpu", precision="fp32", threads=1),
                  f"int8 as exported ({served['recipe']})": load_predictor(args.artifact, backend="onnx", device="cpu",
                                                                          precision="int8", threads=1)}
    for recipe, copy in copies.items():
        predictors[f"static int8 ({recipe})"] = load_predictor(copy, backend="onnx", device="cpu", precision="int8",
                                                               threads=1)
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
                                 "each_recipe": args.each_recipe, "static": exported,
                                 "rows": rows, "date": time.strftime("%Y-%m-%d")}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
