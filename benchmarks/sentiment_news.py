"""The news monitor's sentiment model on every Financial PhraseBank test part (DATA.md protocol).

`configs/sentiment-news.toml` trains on FPB 50Agree + TFNS with all four FPB test parts left out,
so each agreement file's test part can be scored honestly here.

    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/sentiment_news.py .ftsuite/bench/sentiment-news-full
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def fpb_test_parts() -> dict:
    """The test part of each FPB agreement file under the DATA.md protocol (80/20, seed 42)."""
    from core.config import DataConfig
    from core.data import PROTOCOL_TEST_SIZE, _dedupe, load_file, split_examples

    data = Path(os.environ.get("FTSUITE_DATA", REPO.parent / "shared" / "data")).resolve()
    parts = {}
    for name in ("50Agree", "66Agree", "75Agree", "AllAgree"):
        whole, _ = _dedupe(load_file(data / "financial_phrasebank" / f"Sentences_{name}.txt", DataConfig()), "drop")
        parts[name] = split_examples(whole, PROTOCOL_TEST_SIZE, 0.0, 42)["test"]
    return parts


def main(argv: list[str]) -> int:
    from core.evaluation import evaluate_predictor
    from core.inference import load_predictor

    predictor = load_predictor(argv[0], backend=argv[1] if len(argv) > 1 else "torch")
    rows = {}
    print(f"{argv[0]} ({predictor.describe()['backend']}, {predictor.describe()['precision']})")
    print("| FPB file | test sentences | accuracy | macro-F1 | weighted-F1 |\n|---|---:|---:|---:|---:|")
    for name, test in fpb_test_parts().items():
        m = evaluate_predictor(predictor, test)
        rows[name] = {k: m[k] for k in ("accuracy", "macro_f1", "weighted_f1", "support")}
        print(f"| {name} | {m['support']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['weighted_f1']:.4f} |")
    with open(REPO / "benchmarks" / "results" / "sentiment_news.jsonl", "a") as handle:
        handle.write(json.dumps({"artifact": argv[0], **predictor.describe(), "fpb_test_parts": rows}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
