"""``ftsuite export`` and ``ftsuite bench``: parse, forward to the library, print the result.

Registered through the ``ftsuite.commands`` entry point (see pyproject.toml), so that ``core``
never imports this package.
"""

from __future__ import annotations

import json
import sys

__all__ = ["register", "cmd_export", "cmd_bench"]


def cmd_export(args) -> int:
    from core.cpu import cpu_info_for

    from .onnx_export import export_artifact

    try:
        cpu = cpu_info_for(args.cpu_class) if args.cpu_class else None
    except ValueError as exc:
        print(f"error: --cpu-class: {exc}", file=sys.stderr)
        return 2
    info = export_artifact(args.artifact, int8=args.int8, fp16=args.fp16, opset=args.opset,
                           optimize=not args.no_optimize, limit=args.limit, cpu=cpu, int8_optional=args.int8_optional,
                           report=None if args.quiet else (lambda line: print(line, file=sys.stderr)))
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(format_export(info))
    print(f"written: {args.artifact}/onnx/ and the manifest's 'onnx' entry")
    return 0


def format_export(info: dict) -> str:
    """A table of the graphs just written: size, parity, agreement and the test metric."""
    torch_metrics = info.get("torch_test_metrics") or {}
    metric = next((k for k in ("accuracy", "f1", "mrr") if k in torch_metrics), None)
    lines = [f"ONNX export (opset {info['opset']}, {info['exporter']}); validated on {info['validation']['source']}",
             f"optimizer: {json.dumps(info['optimizer'].get('fused_operators') or info['optimizer'].get('reason'))}",
             "",
             f"| graph | file | MB | max abs diff | agreement | test agreement | test {metric or 'metric'} |",
             "|---|---|---:|---:|---:|---:|---:|"]
    if metric:
        lines.append(f"| torch fp32 | model/ | | | | | {torch_metrics[metric]:.4f} |")
    for name, g in info["graphs"].items():
        if g.get("refused"):
            lines.append(f"| {name} | not written | | | | | refused: {g['refused'][:120]} |")
            continue
        if not g.get("validated"):
            lines.append(f"| {name} | {g['file']} | {g['size_mb']} | | | | {g.get('note')} |")
            continue
        diff = next(iter(g["parity"].values()))["max_abs_diff"]
        value = (g.get("test_metrics") or {}).get(metric)
        shown = f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"
        test_agreement = g.get("test_agreement")
        shown_agreement = f"{test_agreement:.4f}" if isinstance(test_agreement, (int, float)) else "n/a"
        lines.append(f"| {name} | {g['file']} | {g['size_mb']} | {diff:.2e} | {g['agreement']:.4f} | "
                     f"{shown_agreement} | {shown} |")
    quantization = info["graphs"].get("int8", {}).get("quantization")
    if quantization:
        calibrated = quantization.get("calibration_texts")
        lines += ["", f"int8 recipe: {quantization['recipe']} ({quantization['method'].split(' (')[0]}"
                  + (f", calibrated on {calibrated} training texts" if calibrated else "")
                  + f"), for {info.get('cpu', {}).get('class', '?')} CPUs"
                  + (f", session options {json.dumps(quantization['session_options'])}"
                     if quantization.get("session_options") else "")]
    lines += ["", "agreement: on the parity texts, in fixed batches of 16; test agreement: on the test split "
              "through the runtime (length-bucketed batches of 32)"]
    if info["validation"].get("note"):
        lines += [f"note: {info['validation']['note']}"]
    return "\n".join(lines)


def cmd_bench(args) -> int:
    from .bench import run_from_args

    return run_from_args(args)


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export an artifact to validated ONNX graphs (fp32, --int8, --fp16)")
    p.add_argument("artifact", help="artifact folder written by 'ftsuite train'")
    p.add_argument("--int8", nargs="?", const="dynamic", choices=["dynamic", "static"], default=None,
                   help="also an int8 graph for the CPU: dynamic (the default) or static (calibrated on the "
                        "training texts: answers independent of the batch, needs the training data)")
    p.add_argument("--fp16", action="store_true", help="also an fp16 graph for the GPU (validated when CUDA works)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (14 to 20; default 17)")
    p.add_argument("--no-optimize", action="store_true", help="skip ONNX Runtime's transformer optimizer")
    p.add_argument("--limit", type=int, default=256, help="validation + test texts used for parity (default 256)")
    p.add_argument("--cpu-class", default="",
                   help="the CPU class the int8 graph will serve on (default: this machine's; e.g. avx2, "
                        "avx512-vnni, arm-dotprod; 'ftsuite doctor' names a machine's class)")
    p.add_argument("--int8-optional", action="store_true",
                   help="an int8 graph over its tolerance is left out (fp32 is still written) instead of failing")
    p.add_argument("--json", action="store_true", help="print the manifest's new 'onnx' entry as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_export)

    from .bench import add_arguments

    p = subparsers.add_parser("bench", help="throughput and latency: torch vs ONNX Runtime fp32 / int8 (and GPU)")
    add_arguments(p)
    p.set_defaults(func=cmd_bench)
