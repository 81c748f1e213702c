"""int8 recipes side by side on this machine's CPU class: speed against torch eager fp32 and accuracy.

For one exported artifact, each int8 recipe is quantized into a scratch folder and run on the same
batches in one process, interleaved, so that the ratios compare (the machine is shared and noisy):

    python benchmarks/int8_cpu_class.py .ftsuite/artifacts/sentiment-sample --threads 1,2 --lengths 16,128

Rows: ORT fp32; dynamic int8 as exported for a VNNI CPU (full-range weights: on x86 without VNNI
ONNX Runtime's U8S8 kernel may saturate); the same on the U8U8 kernel (session.x64quantprecision);
dynamic with 7-bit weights (reduce_range); static int8 (the first static recipe) in the same
three forms. Accuracy is the test split's (rebuilt from the manifest), through the runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--lengths", default="16,128")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--static", action="store_true", help="also the static recipes (needs the training data)")
    parser.add_argument("--output", help="write the rows as JSON here too")
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort
    import torch
    from dataclasses import replace

    from core.artifacts import read_manifest
    from core.cpu import PRECISE_KERNEL_OPTION, detect_cpu
    from core.inference import TorchPredictor
    from exports.bench import synthetic_texts
    from exports.onnx_export import _graph_module, _input_names, export_graph, _dummy_inputs, load_export_model
    from exports.quantize import INT8_RECIPES, STATIC_INT8_RECIPES, prepare_static, quantize_int8, quantize_static_int8
    from exports.validate import PRIMARY_METRIC, StagedOnnxPredictor, encode_batches, reference_data, score

    artifact = Path(args.artifact)
    manifest = read_manifest(artifact)
    task = manifest["task"]
    fp32 = artifact / "onnx" / "model.onnx"
    if not fp32.is_file():
        print(f"error: {fp32} is missing; run 'ftsuite export {artifact}' first", file=sys.stderr)
        return 2
    cpu = detect_cpu()
    scratch = Path(tempfile.mkdtemp(prefix="int8-class-"))
    data = reference_data(artifact, manifest)
    torch_predictor = TorchPredictor(artifact, manifest, device="cpu")
    tokenizer, kind = torch_predictor.tokenizer, torch_predictor.kind

    variants = {"ORT fp32": (fp32, {})}
    base = INT8_RECIPES[0]
    for name, recipe, options in (
            ("dynamic, full-range weights (the VNNI recipe)", base, {}),
            ("dynamic, full-range weights, U8U8 kernel", base, {PRECISE_KERNEL_OPTION: "1"}),
            ("dynamic, 7-bit weights", replace(base, reduce_range=True), {})):
        path = scratch / f"dyn{len(variants)}.onnx"
        quantize_int8(fp32, path, recipe)
        variants[name] = (path, options)
    if args.static:
        if data.calibration is None:
            print("error: --static needs the training data (set FTSUITE_DATA)", file=sys.stderr)
            return 2
        model = load_export_model(artifact, task)
        names = _input_names(model, tokenizer, task)
        raw = scratch / "raw.onnx"
        export_graph(_graph_module(model, names), _dummy_inputs(kind, tokenizer, task, 32, names), names,
                     manifest.get("onnx", {}).get("output", "logits"), task, raw, 17)
        pre = prepare_static(raw, scratch / "pre.onnx")
        calibration = encode_batches(kind, tokenizer, data.calibration, int(manifest.get("max_length", 128)), names,
                                     batch_size=1)
        srecipe = STATIC_INT8_RECIPES[0]
        for name, recipe, options in (
                ("static, full-range weights (the VNNI recipe)", srecipe, {}),
                ("static, full-range weights, U8U8 kernel", srecipe, {PRECISE_KERNEL_OPTION: "1"}),
                ("static, 7-bit weights", replace(srecipe, reduce_range=True), {})):
            path = scratch / f"static{len(variants)}.onnx"
            quantize_static_int8(pre, path, recipe, calibration)
            variants[name] = (path, options)

    metric = PRIMARY_METRIC[task]
    accuracy = {"torch eager fp32": (manifest.get("metrics", {}).get("test") or {}).get(metric)}
    for name, (path, options) in variants.items():
        folder = scratch / f"staged{abs(hash(name))}"
        folder.mkdir()
        precision = "fp32" if name == "ORT fp32" else "int8"
        (folder / ("model.onnx" if precision == "fp32" else "model.int8.onnx")).symlink_to(path)
        predictor = StagedOnnxPredictor(artifact, manifest, folder, precision, session_options=options)
        accuracy[name] = (score(predictor, data.test)[0] or {}).get(metric)

    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        sessions = {}
        for name, (path, options) in variants.items():
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            for k, v in options.items():
                so.add_session_config_entry(k, v)
            sessions[name] = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        for tokens in [int(t) for t in args.lengths.split(",")]:
            texts = synthetic_texts(args.batch, seed=tokens, sentences=tokens // 20 + 1)
            enc = kind.tokenize(tokenizer, texts, None, tokens)
            padded = tokenizer.pad([{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))], return_tensors="np")
            feed = {k: np.asarray(v, dtype=np.int64) for k, v in padded.items()}
            times = {name: [] for name in ["torch eager fp32", *variants]}
            for _ in range(args.repeats + 1):  # the first round warms up
                t = time.perf_counter()
                torch_predictor._forward(feed)
                times["torch eager fp32"].append(time.perf_counter() - t)
                for name, session in sessions.items():
                    inputs = {i.name: feed[i.name] for i in session.get_inputs()}
                    t = time.perf_counter()
                    session.run(None, inputs)
                    times[name].append(time.perf_counter() - t)
            torch_ms = statistics.median(times["torch eager fp32"][1:]) * 1000
            for name, values in times.items():
                ms = statistics.median(values[1:]) * 1000
                rows.append({"threads": threads, "tokens": tokens, "batch": args.batch, "variant": name,
                             "ms": round(ms, 2), "vs_torch": round(torch_ms / ms, 2), metric: accuracy.get(name)})
    machine = {"cpu": cpu.describe(), "onnxruntime": ort.__version__, "torch": torch.__version__,
               "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    print(f"CPU: {cpu.model}; class {cpu.int8_class}; flags {' '.join(cpu.flags)}")
    print(f"\n| threads | tokens | variant | ms / batch of {args.batch} | x torch fp32 | test {metric} |")
    print("|---:|---:|---|---:|---:|---:|")
    for r in rows:
        value = r[metric]
        print(f"| {r['threads']} | {r['tokens']} | {r['variant']} | {r['ms']} | {r['vs_torch']} | "
              f"{'' if value is None else f'{value:.4f}'} |")
    if args.output:
        Path(args.output).write_text(json.dumps({"machine": machine, "rows": rows}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
