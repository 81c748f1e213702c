"""Fine-tuning quality on the DATA.md protocols: full, LoRA and top-layers side by side.

Each run is a fresh `ftsuite train` process (so peak memory is per run); results are appended to
benchmarks/results/train_quality.jsonl as they finish and printed as a markdown table.

    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/train_quality.py fpb-allagree fpb-50agree
    .venv/bin/python benchmarks/train_quality.py --table      # print the table of what has run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "train_quality.jsonl"

# Each strategy's own learning rates: adapters and frozen stacks want larger steps than full tuning.
STRATEGIES = {
    "full": [],
    "lora": ["train.strategy=lora", "train.learning_rate=5e-4", "train.lora.r=16", "train.lora.alpha=32"],
    "top_layers": ["train.strategy=top_layers", "train.top_layers=2", "train.learning_rate=2e-4"],
}


def run(config: str, strategy: str, extra: list[str], home: Path, tag: str = "") -> dict:
    output = home / "bench" / f"{config}-{strategy}{'-' + tag if tag else ''}"
    cmd = [sys.executable, "-m", "core.cli", "train", str(REPO / "configs" / f"{config}.toml"), "--quiet",
           "--output", str(output)]
    for item in STRATEGIES[strategy] + extra:
        cmd += ["--set", item]
    started = time.time()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"config": config, "strategy": strategy, "error": proc.stderr.strip()[-1500:]}
    manifest = json.loads((output / "manifest.json").read_text())
    test = manifest["metrics"]["test"]
    return {
        "config": config, "strategy": strategy, "overrides": STRATEGIES[strategy] + extra, "tag": tag,
        "test": {k: test[k] for k in ("accuracy", "macro_f1", "weighted_f1", "precision", "recall", "f1", "ece")
                 if k in test},
        "validation": {k: v for k, v in manifest["metrics"].get("validation", {}).items()
                       if k in ("accuracy", "macro_f1", "f1")},
        "trainable_parameters": manifest["training"]["trainable_parameters"],
        "total_parameters": manifest["training"]["total_parameters"],
        "train_seconds": manifest["training"]["wall_seconds"],
        "process_seconds": round(time.time() - started, 1),
        "epochs_run": manifest["training"]["epochs_run"],
        "peak_rss_mb": manifest["training"]["peak_memory_mb"],
        "sizes": manifest["data"]["sizes"],
        "artifact": str(output),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads default",
        "date": time.strftime("%Y-%m-%d"),
    }


def table(rows: list[dict]) -> str:
    lines = ["| model | strategy | test acc | macro-F1 | weighted-F1 | span F1 | trainable params | train s | epochs | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['config']} | {r['strategy']} | error: {r['error'].splitlines()[-1][:80]} |||||||")
            continue
        t = r["test"]
        fmt = lambda k: f"{t[k]:.4f}" if k in t else ""  # noqa: E731
        lines.append(f"| {r['config']}{' (' + r['tag'] + ')' if r.get('tag') else ''} | {r['strategy']} | {fmt('accuracy')} | {fmt('macro_f1')} | "
                     f"{fmt('weighted_f1')} | {fmt('f1')} | {r['trainable_parameters']:,} | {r['train_seconds']} | "
                     f"{r['epochs_run']} | {r['peak_rss_mb']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help="config names under configs/")
    parser.add_argument("--strategies", default="full,lora,top_layers")
    parser.add_argument("--set", action="append", default=[], help="extra override for every run")
    parser.add_argument("--tag", default="", help="suffix of the output folder (e.g. seed1 for a --set train.seed run)")
    parser.add_argument("--table", action="store_true", help="print the table of recorded runs")
    args = parser.parse_args()
    os.environ.setdefault("FTSUITE_DATA", str(REPO.parent / "shared" / "data"))
    home = Path(os.environ.setdefault("FTSUITE_HOME", str(REPO / ".ftsuite")))
    for config in args.configs:
        for strategy in args.strategies.split(","):
            result = run(config, strategy, args.set, home, args.tag)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            with open(RESULTS, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(result) + "\n")
            print(table([result]).splitlines()[-1], flush=True)
    if args.table or not args.configs:
        rows = [json.loads(l) for l in RESULTS.read_text().splitlines()] if RESULTS.is_file() else []
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
