"""Inference benchmark of an exported artifact: torch eager vs ONNX Runtime fp32 / int8 (and GPU).

The same function as ``ftsuite bench`` (``exports.bench.benchmark_artifact``); this script exists so
that the figures in BENCHMARKS.md can be reproduced with one command:

    python benchmarks/bench_inference.py .ftsuite/artifacts/sentiment-sample --output bench.md
"""

from __future__ import annotations

import argparse
import os
import sys

from exports.bench import add_arguments, benchmark_artifact, run_from_args

__all__ = ["benchmark_artifact", "main"]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    from core.errors import SuiteError

    try:
        return run_from_args(parser.parse_args(argv))
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
