"""Static int8 (activation scales fixed by calibration) against the export's dynamic int8, FPB 50Agree test.

A dynamic int8 graph reads its activation scales from each batch, so a text's answer moves with its
batch mates (benchmarks/batch_effect.py). Static quantization fixes the scales beforehand from
calibration texts. ONNX Runtime's static quantizer fails on the fused graph the export serves, so the
artifact is exported again without the optimizer (into a temporary copy), pre-processed, and
quantized statically (MatMul and Gemm, per-channel weights, min-max calibration on the first
``--calibration`` training texts of ``--config``) in both formats. Then all graphs score the 968 test
sentences: speed at one thread (best of three, batches of 64), accuracy, and labels changed between
batches of 1 and 64.

    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/static_int8.py .ftsuite/artifacts/sentiment-news-distilled \\
        --config configs/sentiment-news.toml
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
    parser.add_argument("--config", required=True, help="its recipe: the calibration texts come from its training split")
    parser.add_argument("--calibration", type=int, default=400)
    args = parser.parse_args(argv)
    args.artifact = str(Path(args.artifact).resolve())
    here = Path.cwd()
    os.environ.setdefault("FTSUITE_DATA", str(REPO.parent / "shared" / "data"))
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from transformers import AutoTokenizer

    from benchmarks.sentiment_news import fpb_test_parts
    from core.config import load_config
    from core.data import load_examples
    from core.inference import load_predictor
    from exports import export_artifact

    config = load_config(args.config)
    splits, _ = load_examples(config.data, config.task, resolve=config.path)
    calibration = splits["train"].texts[:args.calibration]
    work = Path(tempfile.mkdtemp(prefix="static-int8-"))
    plain = work / "plain"
    plain.mkdir()
    for name in ("manifest.json", "model"):
        source = Path(args.artifact) / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, plain / name)
    export_artifact(plain, optimize=False)  # the exporter's own graph: the static quantizer needs it unfused
    tokenizer = AutoTokenizer.from_pretrained(str(plain / "model"))
    inputs = {i.name for i in onnx.load(str(plain / "onnx" / "model.onnx")).graph.input}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.texts = iter(calibration)

        def get_next(self):
            text = next(self.texts, None)
            if text is None:
                return None
            encoded = tokenizer(text, truncation=True, max_length=128, return_tensors="np")
            return {k: v.astype(np.int64) for k, v in encoded.items() if k in inputs}

    os.chdir(work)  # the quantizer writes its scratch files (shape inference, external data) into the cwd
    pre = work / "pre.onnx"
    quant_pre_process(str(plain / "onnx" / "model.onnx"), str(pre), skip_symbolic_shape=True)
    variants = {}
    for label, fmt in (("static int8, QOperator", QuantFormat.QOperator), ("static int8, QDQ", QuantFormat.QDQ)):
        folder = work / label.split(", ")[1]
        shutil.copytree(plain, folder)
        started = time.perf_counter()
        quantize_static(str(pre), str(folder / "onnx" / "model.int8.onnx"), Reader(), quant_format=fmt,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["MatMul", "Gemm"], calibrate_method=CalibrationMethod.MinMax)
        print(f"{label}: quantized in {time.perf_counter() - started:.1f} s", flush=True)
        variants[label] = load_predictor(folder, backend="onnx", device="cpu", precision="int8", threads=1)
    predictors = {"fp32 (served, fused)": load_predictor(args.artifact, backend="onnx", device="cpu", precision="fp32", threads=1),
                  "dynamic int8 (served, fused)": load_predictor(args.artifact, backend="onnx", device="cpu", precision="int8", threads=1),
                  **variants}

    os.chdir(here)
    test = fpb_test_parts()["50Agree"]
    best = {name: float("inf") for name in predictors}
    for _ in range(3):  # in turn, best of three: the machine is shared
        for name, predictor in predictors.items():
            started = time.perf_counter()
            predictor.predict(test.texts, batch_size=64)
            best[name] = min(best[name], time.perf_counter() - started)
    rows = []
    print("| graph | texts/s (1 thread) | against dynamic int8 | accuracy (batches of 64) | labels changed, batch 1 vs 64 |\n"
          "|---|---:|---:|---:|---:|")
    for name, predictor in predictors.items():
        labels = {b: [p["label"] for p in predictor.predict(test.texts, batch_size=b)] for b in (1, 64)}
        row = {"graph": name, "texts_per_s": round(len(test.texts) / best[name], 1),
               "vs_dynamic": round(best["dynamic int8 (served, fused)"] / best[name], 2),
               "accuracy": round(float(np.mean([p == g for p, g in zip(labels[64], test.labels)])), 4),
               "changed": sum(a != b for a, b in zip(labels[1], labels[64])), "texts": len(test.texts)}
        rows.append(row)
        print(f"| {name} | {row['texts_per_s']} | {row['vs_dynamic']:.2f}x | {row['accuracy']:.4f} | "
              f"{row['changed']} of {row['texts']} |")
    shutil.rmtree(work, ignore_errors=True)
    with open(REPO / "benchmarks" / "results" / "static_int8.jsonl", "a") as handle:
        handle.write(json.dumps({"artifact": args.artifact, "calibration": len(calibration), "rows": rows,
                                 "date": time.strftime("%Y-%m-%d")}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
