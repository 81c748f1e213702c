"""Inference benchmark of an artifact: torch eager vs ONNX Runtime fp32 / int8 (and the GPU).

Every backend runs the same synthetic-but-realistic texts at the same batch sizes and lengths,
through the runtime users get (``core.inference`` predictors: tokenization, bucketing, padding,
decoding). Each backend runs its repetitions in one block (torch's OpenMP workers and ONNX Runtime's
thread pool spin after a call and slow each other down when interleaved). Tokenization is timed on its own so that the model's share is visible,
and the achieved GFLOP/s is set against a measured fp32 GEMM ceiling of this machine.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.artifacts import read_manifest
from core.errors import SuiteError
from core.inference import ONNX_FILES, Predictor, load_predictor

__all__ = ["benchmark_artifact", "format_markdown", "synthetic_texts", "add_arguments", "run_from_args"]

log = logging.getLogger("ftsuite.exports")

_COMPANIES = ["Nokia", "Stora Enso", "Fortum", "Kone", "UPM-Kymmene", "Elisa", "Wartsila", "Outokumpu",
              "Metso", "Sampo", "Orion", "Tieto", "Cargotec", "Kesko", "Neste", "YIT"]
_FIGURES = ["net sales", "operating profit", "pre-tax profit", "order intake", "net profit", "EBITDA",
            "cash flow from operations", "earnings per share", "revenue", "gross margin"]
_MOVES = ["rose to", "fell to", "increased to", "decreased to", "totalled", "was", "climbed to", "dropped to"]
_PERIODS = ["in the first quarter of 2009", "for the full year", "in January-September", "in the second quarter",
            "compared with the corresponding period a year earlier", "for the financial year 2008"]
_TAILS = ["the company said in a statement", "according to the interim report",
          "analysts had expected a smaller figure", "the board will propose a dividend",
          "the outlook for the rest of the year is unchanged", "the market reacted calmly",
          "the result was burdened by restructuring costs", "demand remained weak in Europe"]


def synthetic_texts(n: int, seed: int = 0, sentences: int = 1) -> list[str]:
    """``n`` distinct financial-news sentences (``sentences`` joined per text)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(sentences):
            amount = f"EUR {rng.randint(1, 950)}.{rng.randint(0, 9)} mn"
            parts.append(f"{rng.choice(_COMPANIES)} {rng.choice(_FIGURES)} {rng.choice(_MOVES)} {amount} "
                         f"{rng.choice(_PERIODS)}, {rng.choice(_TAILS)}.")
        out.append(" ".join(parts))
    return out


@dataclass
class _Runner:
    name: str
    backend: str
    device: str
    precision: str
    predictor: Predictor
    size_mb: float | None
    accuracy: float | None
    latencies: dict = field(default_factory=dict)


def _size_mb(paths) -> float | None:
    files = [p for p in paths if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 1) if files else None


def _build_runners(artifact: Path, manifest: dict, threads: int | None, gpu: bool, precisions) -> tuple[list, list]:
    """The CPU backends always; the GPU ones when CUDA really works (else a message says why)."""
    from .validate import PRIMARY_METRIC

    metric = PRIMARY_METRIC[manifest["task"]]
    torch_acc = (manifest.get("metrics", {}).get("test") or {}).get(metric)
    graphs = manifest.get("onnx", {}).get("graphs", {})

    def onnx_acc(precision):
        return ((graphs.get(precision) or {}).get("test_metrics") or {}).get(metric)

    torch_size = _size_mb(list((artifact / "model").glob("*.safetensors")) + list((artifact / "model").glob("*.bin")))
    runners, skipped = [], []
    runners.append(_Runner("torch eager fp32 (CPU)", "torch", "cpu", "fp32",
                           load_predictor(artifact, backend="torch", device="cpu", threads=threads), torch_size, torch_acc))
    for precision in precisions:
        path = artifact / "onnx" / ONNX_FILES[precision]
        if not path.is_file():
            flag = " --int8" if precision == "int8" else ""
            skipped.append(f"ORT {precision} (CPU): {path} is missing; run 'ftsuite export {artifact}{flag}'")
            continue
        predictor = load_predictor(artifact, backend="onnx", device="cpu", precision=precision, threads=threads)
        runners.append(_Runner(f"ORT {precision} (CPU)", "onnxruntime", "cpu", precision, predictor,
                               _size_mb([path]), onnx_acc(precision)))
    if not gpu:
        return runners, skipped + ["GPU rows: not asked for (--no-gpu)"]
    import torch

    if torch.cuda.is_available():
        for precision in ("fp32", "fp16"):
            predictor = load_predictor(artifact, backend="torch", device="cuda", precision=precision)
            runners.append(_Runner(f"torch eager {precision} (CUDA)", "torch", "cuda", precision, predictor,
                                   torch_size, torch_acc if precision == "fp32" else None))
    else:
        skipped.append("torch CUDA fp32/fp16: torch sees no CUDA GPU")
    from .onnx_export import cuda_works

    cuda_ok, cuda_status = cuda_works()
    if not cuda_ok:
        return runners, skipped + [f"ORT CUDA fp32/fp16: onnxruntime's CUDAExecutionProvider is {cuda_status}"]
    for precision in ("fp32", "fp16"):
        path = artifact / "onnx" / ONNX_FILES[precision]
        if not path.is_file():
            skipped.append(f"ORT CUDA {precision}: {path} is missing"
                           + (f"; run 'ftsuite export {artifact} --fp16'" if precision == "fp16" else ""))
            continue
        try:
            predictor = load_predictor(artifact, backend="onnx", device="cuda", precision=precision)
        except SuiteError as exc:
            skipped.append(f"ORT CUDA {precision}: {str(exc).splitlines()[0][:160]}")
            continue
        runners.append(_Runner(f"ORT {precision} (CUDA)", "onnxruntime", "cuda", precision, predictor,
                               _size_mb([path]), onnx_acc(precision)))
    return runners, skipped


def _gflop_per_text(config: dict, tokens: int) -> float | None:
    """Arithmetic of one text through the encoder: projections, feed-forward, attention."""
    try:
        h, layers = int(config["hidden_size"]), int(config["num_hidden_layers"])
        inter = int(config.get("intermediate_size", 4 * h))
    except (KeyError, TypeError, ValueError):
        return None
    per_token = layers * (8 * h * h + 4 * h * inter + 4 * tokens * h)
    return per_token * tokens / 1e9


def gemm_ceiling(threads: int | None = None, size: int = 1024, repeats: int = 5) -> float:
    """fp32 GFLOP/s of a large matrix product with torch on this machine (an attainable peak)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def benchmark_artifact(artifact: str | Path, batch_sizes=(1, 32), lengths=(16, 128), repeats: int | None = None,
                       threads: int | None = None, gpu: bool = True, precisions=("fp32", "int8"),
                       report=None) -> dict:
    """Time every backend on the same inputs; returns rows plus the machine and notes.

    ``repeats`` per (batch, length): default 20 at batch 1, else 5, after one warm-up call.
    """
    say = report or (lambda line: log.info(line))
    artifact = Path(artifact)
    manifest = read_manifest(artifact)
    task = manifest["task"]
    config_path = artifact / "model" / "config.json"
    model_config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    max_positions = int(model_config.get("max_position_embeddings", 512))
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    runners, skipped = _build_runners(artifact, manifest, threads, gpu, precisions)
    tokenizer = runners[0].predictor.tokenizer
    kind = runners[0].predictor.kind
    notes = list(skipped)
    if load_before > 0.5 * (os.cpu_count() or 1):
        notes.append(f"the machine was busy when the benchmark started (load average {load_before:.2f} on "
                     f"{os.cpu_count()} cores): other work shares the cores, and torch's OpenMP threads suffer "
                     "most from that (--threads 1 is disturbed least); compare rows of one run only, and repeat on an "
                     "idle machine")
    served = int(manifest.get("max_length", 128))
    if any(t > served for t in lengths):
        notes.append(f"the artifact serves up to {served} tokens; the longer rows run the graph at their "
                     "own length (position embeddings allow it) to compare with published figures")
    rows = []
    for tokens in lengths:
        run_tokens = min(tokens, max_positions)
        if run_tokens != tokens:
            notes.append(f"{tokens} tokens exceed the model's {max_positions} positions; ran {run_tokens}")
        for batch in batch_sizes:
            n = repeats or (20 if batch == 1 else 5)
            # enough sentences that truncation cuts every text at exactly run_tokens
            texts = synthetic_texts(batch, seed=tokens * 1000 + batch, sentences=run_tokens // 20 + 1)
            pairs = synthetic_texts(batch, seed=tokens * 1000 + batch + 1) if task == "pair_scoring" else None
            tokenize = []
            for _ in range(n):
                t = time.perf_counter()
                enc = kind.tokenize(tokenizer, texts, pairs, run_tokens)
                tokenizer.pad([{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))], return_tensors="np")
                tokenize.append(time.perf_counter() - t)
            for runner in runners:
                # one backend at a time: torch's OpenMP workers and ONNX Runtime's pool spin after
                # each call, so interleaving them in one process slows whichever runs second
                runner.predictor.max_length = run_tokens
                runner.predictor.predict(texts, pairs, batch_size=batch)  # warm-up
                latencies = runner.latencies[(batch, tokens)] = []
                for _ in range(n):
                    t = time.perf_counter()
                    runner.predictor.predict(texts, pairs, batch_size=batch)
                    latencies.append(time.perf_counter() - t)
            measured = int(np.mean([len(x) for x in enc["input_ids"]]))
            tok_ms = float(np.median(tokenize)) * 1e3
            flops = _gflop_per_text(model_config, measured)
            for runner in runners:
                lat = np.array(runner.latencies[(batch, tokens)])
                p50 = float(np.median(lat)) * 1e3
                throughput = batch * len(lat) / float(lat.sum())
                rows.append({
                    "backend": runner.name, "device": runner.device, "precision": runner.precision,
                    "provider": runner.predictor.provider, "batch": batch, "tokens": measured,
                    "texts_per_s": round(throughput, 1), "p50_ms": round(p50, 2),
                    "p95_ms": round(float(np.percentile(lat, 95)) * 1e3, 2),
                    "tokenize_ms": round(tok_ms, 2), "tokenize_share": round(min(tok_ms / p50, 1.0), 3),
                    "gflops": round(flops * throughput, 1) if flops else None,
                    "size_mb": runner.size_mb, "accuracy": runner.accuracy, "repeats": len(lat),
                })
            say(f"batch {batch}, {measured} tokens: "
                + ", ".join(f"{r['backend']} {r['texts_per_s']}/s" for r in rows[-len(runners):]))
    for runner in runners:
        runner.predictor.max_length = served
    import onnxruntime
    import torch

    return {
        "artifact": str(artifact),
        "task": task,
        "metric": _metric_name(task),
        "machine": {
            "cpu": _cpu_name(), "cores": os.cpu_count(), "threads": threads or torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
            "fp32_gemm_gflops": round(gemm_ceiling(threads), 1),
            "python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
        },
        "rows": rows,
        "speedups": _speedups(rows),
        "notes": notes,
    }


def _metric_name(task: str) -> str:
    from .validate import PRIMARY_METRIC

    return PRIMARY_METRIC[task]


def _speedups(rows: list[dict]) -> dict:
    """Throughput of each backend over torch eager fp32 on the CPU, per (batch, tokens)."""
    base = {(r["batch"], r["tokens"]): r["texts_per_s"] for r in rows if r["backend"] == "torch eager fp32 (CPU)"}
    out = {}
    for r in rows:
        ref = base.get((r["batch"], r["tokens"]))
        if ref and r["backend"] != "torch eager fp32 (CPU)":
            out[f"{r['backend']} b{r['batch']} t{r['tokens']}"] = round(r["texts_per_s"] / ref, 2)
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_markdown(result: dict) -> str:
    m = result["machine"]
    metric = result["metric"]
    lines = [
        f"Benchmark of `{result['artifact']}` ({result['task']}) on {m['cpu']}, {m['cores']} cores, "
        f"{m['threads']} threads; load average {m['load_average']}; torch {m['torch']}, onnxruntime {m['onnxruntime']}.",
        f"fp32 GEMM ceiling of this machine (torch.mm 1024^3): {m['fp32_gemm_gflops']} GFLOP/s.",
        "",
        f"| backend | batch | tokens | texts/s | x torch | p50 ms | p95 ms | tokenize ms (share) | GFLOP/s | MB | test {metric} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = {(r["batch"], r["tokens"]): r["texts_per_s"] for r in result["rows"] if r["backend"] == "torch eager fp32 (CPU)"}
    for r in sorted(result["rows"], key=lambda r: (r["tokens"], r["batch"])):
        ref = base.get((r["batch"], r["tokens"]))
        ratio = f"{r['texts_per_s'] / ref:.2f}" if ref else ""
        acc = f"{r['accuracy']:.4f}" if isinstance(r["accuracy"], (int, float)) else "n/a"
        lines.append(f"| {r['backend']} | {r['batch']} | {r['tokens']} | {r['texts_per_s']:.1f} | {ratio} | "
                     f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['tokenize_ms']:.1f} ({r['tokenize_share']:.0%}) | "
                     f"{r['gflops'] if r['gflops'] is not None else ''} | {r['size_mb'] or ''} | {acc} |")
    lines += ["", "texts/s and latency are end to end (tokenize, pad, run, decode); GFLOP/s counts the encoder's "
              "multiply-adds (int8 rows: integer operations) at the measured throughput."]
    for note in result["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("artifact", help="artifact folder (exported with 'ftsuite export --int8' for the int8 rows)")
    parser.add_argument("--batch-sizes", default="1,32", help="comma-separated (default 1,32)")
    parser.add_argument("--lengths", default="16,128", help="tokens per text, comma-separated (default 16,128)")
    parser.add_argument("--repeats", type=int, help="timed calls per case (default 20 at batch 1, else 5)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch and ONNX Runtime (default: all cores)")
    parser.add_argument("--no-gpu", action="store_true", help="CPU rows only")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    parser.add_argument("--output", help="also write the result (JSON, or markdown for a .md name) to this file")


def run_from_args(args) -> int:
    import sys

    def ints(text: str, name: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            values = ()
        if not values or min(values) < 1:
            raise SuiteError(f"--{name} {text!r}: expected positive integers separated by commas, e.g. 1,32")
        return values

    result = benchmark_artifact(args.artifact, batch_sizes=ints(args.batch_sizes, "batch-sizes"),
                                lengths=ints(args.lengths, "lengths"), repeats=args.repeats, threads=args.threads,
                                gpu=not args.no_gpu, report=lambda line: print(line, file=sys.stderr))
    text = json.dumps(result, indent=2) if args.json else format_markdown(result)
    print(text)
    if args.output:
        out = Path(args.output)
        out.write_text(format_markdown(result) if out.suffix == ".md" else json.dumps(result, indent=2),
                       encoding="utf-8")
    return 0
