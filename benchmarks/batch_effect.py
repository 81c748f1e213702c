"""Does a text's prediction depend on the other texts in its batch? fp32 against int8, FPB 50Agree test.

The int8 graphs quantize activations dynamically: one scale per tensor, read from the whole batch
(padding included), so a text's logits move with its batch mates. This scores the same texts in
batches of 1 (each text alone: the reference), 32 and 64 and counts the labels that change.

    FTSUITE_DATA=../shared/data .venv/bin/python benchmarks/batch_effect.py ARTIFACT [ARTIFACT ...]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str]) -> int:
    os.environ.setdefault("FTSUITE_DATA", str(REPO.parent / "shared" / "data"))
    from benchmarks.sentiment_news import fpb_test_parts
    from core.inference import load_predictor

    test = fpb_test_parts()["50Agree"]
    print("| artifact | graph | batch | accuracy | labels changed against batch 1 |\n|---|---|---:|---:|---:|")
    rows = []
    for artifact in argv:
        for precision in ("fp32", "int8"):
            predictor = load_predictor(artifact, backend="onnx", device="cpu", precision=precision)
            alone = None
            for batch in (1, 32, 64):
                labels = [p["label"] for p in predictor.predict(test.texts, batch_size=batch)]
                alone = alone or labels
                accuracy = sum(p == g for p, g in zip(labels, test.labels)) / len(labels)
                changed = sum(a != b for a, b in zip(alone, labels))
                rows.append({"artifact": artifact, "precision": precision, "batch": batch,
                             "accuracy": round(accuracy, 4), "changed": changed, "texts": len(labels)})
                print(f"| {Path(artifact).name} | {precision} | {batch} | {accuracy:.4f} | {changed} of {len(labels)} |",
                      flush=True)
    with open(REPO / "benchmarks" / "results" / "batch_effect.jsonl", "a") as handle:
        handle.write(json.dumps({"rows": rows}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
