"""Ingestion cost of the support bot's knowledge base against embedding its chunks alone.

A generated set of N small documents (a title and two paragraphs each, from a fixed seed) is ingested
into a fresh base; then the same chunk passages are embedded alone with the same embedder, in the
same process. Target: ingest under 1.5x the embedding time (the indexes are rebuilt once per call).

    python benchmarks/support_ingest.py --documents 10000 [--embedder ARTIFACT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WORDS = ("account card transfer fee limit payment refund statement branch app password loan savings rate "
         "interest balance overdraft deposit cheque currency exchange travel insurance mortgage pension "
         "direct debit standing order contactless wallet freeze unlock verify identity address").split()


def generate(folder: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        title = " ".join(rng.choice(WORDS) for _ in range(4)).capitalize()
        body = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(35)).capitalize() + "." for _ in range(2))
        (folder / f"doc{i:05d}.md").write_text(f"# {title} {i}\n\n{body}\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--embedder", default="", help="sentence-embedding artifact (default: MiniLM wrapped)")
    parser.add_argument("--output", help="append the result as a JSON line here")
    args = parser.parse_args(argv)

    from apps.support.kb import KnowledgeBase, passage_text
    from core.cpu import detect_cpu
    from core.embedding import Embedder, base_embedder_artifact

    work = Path(tempfile.mkdtemp(prefix="ingest-"))
    artifact = Path(args.embedder) if args.embedder else base_embedder_artifact("minilm", home=work / "home")
    embedder = Embedder(artifact)
    embedder.encode(["warm up"])
    generate(work / "docs", args.documents)

    kb = KnowledgeBase(work / "kb", embedder)
    kb.load()
    t = time.perf_counter()
    report = kb.ingest([work / "docs"])
    ingest_s = time.perf_counter() - t
    passages = [passage_text(c.title, c.section, c.text) for c in kb.chunks.values()]
    t = time.perf_counter()
    embedder.encode(passages)
    embed_s = time.perf_counter() - t
    cpu = detect_cpu()
    result = {"benchmark": "support_ingest", "documents": args.documents, "chunks": len(passages),
              "ingest_seconds": round(ingest_s, 1), "embed_only_seconds": round(embed_s, 1),
              "ratio": round(ingest_s / embed_s, 2), "embedder": embedder.predictor.describe(),
              "cpu": cpu.describe(), "load_average": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d")}
    print(report.summary().splitlines()[0])
    print(json.dumps(result, indent=2))
    if args.output:
        with open(args.output, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
