"""Recipe: the support reranker (a pair-scoring model the core fine-tunes).

1. Build the default knowledge base (the sample help centre) and retrieve with the fused
   dense + BM25 stage only (no reranker, no intent prior).
2. For a stratified sample of BANKING77 *train* queries (and a small one of *dev* queries for
   validation), write pairs: positive = the chunk of the query's intent article that the
   embedder ranks highest; hard negatives = the top fused chunks of other articles (chunks
   labelled with the query's own intent, FAQ entries included, are never negatives).
   Thumbs-up / down feedback stored by the bot is appended when asked.
3. Train with ``configs/support-reranker.toml`` through ``core.training.train_model``.

BANKING77 test queries are never used here: they are the benchmark's.
Run: ``ftsuite support train`` (or ``python -m apps.support.train``); then
``ftsuite export .ftsuite/artifacts/support-reranker --int8`` serves it from ONNX.

Recipe: the support embedder (the suite's MiniLM bi-encoder fine-tuned on the same kind of pairs).
Every BANKING77 train query is paired with the chunk of its intent's article that the pretrained
embedder ranks highest (``dev`` queries: the validation pairs); the core's sentence-embedding task
trains on them with in-batch negatives (``configs/support-embedder.toml``). Run:
``ftsuite support train-embedder``; then ``ftsuite export .ftsuite/artifacts/support-embedder --int8``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from core.config import ftsuite_home, load_config
from core.data import fetch_dataset

from .config import REPO, SAMPLE_KB
from .kb import chunk_sections, parse_document, passage_text
from .pipeline import default_bot, pairs_label

__all__ = ["write_pairs", "train_reranker", "write_banking77_history", "CONFIG", "EMBEDDER_CONFIG", "article_chunks", "embedder_pairs",
           "write_embedder_pairs", "train_embedder"]

CONFIG = REPO / "configs" / "support-reranker.toml"
EMBEDDER_CONFIG = REPO / "configs" / "support-embedder.toml"


def _read_tsv(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle, delimiter="\t")]


def _sample(rows, per_intent: int, seed: int) -> list[tuple[str, str]]:
    by_intent = defaultdict(list)
    for text, label in rows:
        by_intent[label].append(text)
    rng = random.Random(seed)
    out = []
    for label in sorted(by_intent):
        texts = sorted(set(by_intent[label]))
        rng.shuffle(texts)
        out.extend((t, label) for t in texts[:per_intent])
    return out


def _pairs_for(bot, queries, negatives: int) -> list[dict]:
    """One positive and ``negatives`` hard negatives per query."""
    chunks_by_intent = defaultdict(list)
    for chunk in bot.kb.chunks.values():
        if chunk.intent and not chunk.title.startswith("FAQ ("):
            chunks_by_intent[chunk.intent].append(chunk.id)
    rows = []
    vectors = bot.kb.embedder.encode([q for q, _ in queries])
    for (query, intent), vector in zip(queries, vectors):
        own = chunks_by_intent.get(intent)
        if not own:
            continue
        own_vectors = [bot.kb.index.reconstruct(i) for i in own]
        best = own[max(range(len(own)), key=lambda j: float(own_vectors[j] @ vector))]
        c = bot.kb.chunks[best]
        rows.append({"text": query, "pair": passage_text(c.title, c.section, c.text), "label": pairs_label[1]})
        hits = bot.retriever.fused(query, vector=vector)
        taken = 0
        for hit in hits:
            if hit.chunk.intent == intent:
                continue
            rows.append({"text": query, "pair": passage_text(hit.chunk.title, hit.chunk.section, hit.chunk.text),
                         "label": pairs_label[0]})
            taken += 1
            if taken == negatives:
                break
    return rows


def write_pairs(out_dir: Path | None = None, per_intent: int = 15, dev_per_intent: int = 2, negatives: int = 2,
                seed: int = 13, feedback: bool = True) -> dict:
    """Write ``train.jsonl`` and ``dev.jsonl`` pairs under FTSUITE_HOME/support/reranker-pairs."""
    out_dir = Path(out_dir or ftsuite_home() / "support" / "reranker-pairs")
    out_dir.mkdir(parents=True, exist_ok=True)
    data = fetch_dataset("banking77")
    bot = default_bot(reranker="", intent_model="").warm_up()  # the fused stage mines the negatives
    written = {}
    for split, file, n in (("train", "train.tsv", per_intent), ("dev", "dev.tsv", dev_per_intent)):
        rows = _pairs_for(bot, _sample(_read_tsv(data / file), n, seed), negatives)
        if split == "train" and feedback:
            rows += bot.feedback_pairs()
        path = _write_jsonl(out_dir / f"{split}.jsonl", rows)
        written[split] = {"path": str(path), "pairs": len(rows)}
    return written


def write_banking77_history(path: Path, split: str = "test", per_intent: int = 0, seed: int = 13) -> dict:
    """BANKING77 as a history file of the sample help centre (``question,document,category``): each query of
    ``split`` whose intent has an article, answered by that article, its intent as the category; ``per_intent``
    queries per intent (0 = all). What ``ftsuite support eval --history`` / ``train --history`` read for any base."""
    rows = _read_tsv(fetch_dataset("banking77") / f"{split}.tsv")
    if per_intent:
        rows = _sample(rows, per_intent, seed)
    articles = {p.stem for p in (SAMPLE_KB / "articles").glob("*.md")}
    kept = [(text, f"{intent}.md", intent) for text, intent in rows if intent in articles]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "document", "category"])
        writer.writerows(kept)
    return {"path": str(path), "rows": len(kept), "left_out": len(rows) - len(kept),
            "intents": len({i for _, _, i in kept})}


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` as JSON lines through a temporary file, so a killed run leaves no half file."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def article_chunks(folder: Path = SAMPLE_KB / "articles", chunk_words: int = 120,
                   overlap_words: int = 25) -> dict[str, list[str]]:
    """``{intent: [passage, ...]}`` of the help articles labelled with an intent (the knowledge base's chunking)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for path in sorted(Path(folder).glob("*.md")):
        document = parse_document(path, path.read_bytes())
        for c in chunk_sections(document, chunk_words, overlap_words):
            if c["intent"]:
                by_intent[c["intent"]].append(passage_text(c["title"], c["section"], c["text"]))
    return dict(by_intent)


def embedder_pairs(queries: list[tuple[str, str]], passages: dict[str, list[str]], embedder) -> list[dict]:
    """``{"text": query, "pair": passage}``: each query with the chunk of its intent's article that
    ``embedder`` ranks highest (queries of an intent without an article are left out)."""
    keep = [(q, i) for q, i in queries if passages.get(i)]
    if not keep:
        return []
    intents = sorted({i for _, i in keep})
    flat = [(i, p) for i in intents for p in passages[i]]
    chunk_vectors = embedder.encode([p for _, p in flat])
    query_vectors = embedder.encode([q for q, _ in keep])
    rows_of = defaultdict(list)
    for row, (intent, _) in enumerate(flat):
        rows_of[intent].append(row)
    out = []
    for (query, intent), vector in zip(keep, query_vectors):
        rows = rows_of[intent]
        best = rows[int(np.argmax(chunk_vectors[rows] @ vector))]
        out.append({"text": query, "pair": flat[best][1]})
    return out


def write_embedder_pairs(out_dir: Path | None = None, dev_per_intent: int = 4, seed: int = 13,
                         embedder=None) -> dict:
    """``train.jsonl`` (every BANKING77 train query) and ``dev.jsonl`` (``dev_per_intent`` dev queries per
    intent) under FTSUITE_HOME/support/embedder-pairs; positives chosen by the pretrained MiniLM."""
    from core.embedding import Embedder

    out_dir = Path(out_dir or ftsuite_home() / "support" / "embedder-pairs")
    out_dir.mkdir(parents=True, exist_ok=True)
    data = fetch_dataset("banking77")
    embedder = embedder or Embedder.from_base("minilm")
    passages = article_chunks()
    written = {}
    for split, rows in (("train", _read_tsv(data / "train.tsv")),
                        ("dev", _sample(_read_tsv(data / "dev.tsv"), dev_per_intent, seed))):
        pairs = embedder_pairs(rows, passages, embedder)
        random.Random(seed).shuffle(pairs)
        path = _write_jsonl(out_dir / f"{split}.jsonl", pairs)
        written[split] = {"path": str(path), "pairs": len(pairs)}
    return written


def _train(what: str, write, config, overrides, export_hint: str, pair_options: dict) -> dict:
    """Write the pairs, then one run of the core's training engine on them."""
    from core.training import train_model

    started = time.time()
    pairs = write(**pair_options)
    print(f"pairs: {pairs} ({time.time() - started:.0f} s)", flush=True)
    result = train_model(load_config(config, overrides), progress=False)
    metrics = result["metrics"].get("validation", {})
    shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
    print(f"{what} written to {result.path} in {time.time() - started:.0f} s; validation {shown}")
    print(f"serve it from ONNX: ftsuite export {result.path}{export_hint}")
    return {"pairs": pairs, "artifact": str(result.path), "validation": metrics}


def train_embedder(config: str | Path = EMBEDDER_CONFIG, overrides: list[str] | None = None, **pair_options) -> dict:
    # int8 is not the default hint: for the recipe's model the export's parity check refused it (MRR -18 points)
    return _train("embedder", write_embedder_pairs, config, overrides,
                  " (fp32; try --int8, the export checks it; the bot re-embeds its knowledge base once)", pair_options)


def train_reranker(config: str | Path = CONFIG, overrides: list[str] | None = None, **pair_options) -> dict:
    return _train("reranker", write_pairs, config, overrides, " --int8", pair_options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--per-intent", type=int, default=15, help="BANKING77 train queries per intent")
    parser.add_argument("--negatives", type=int, default=2, help="hard negatives per query")
    parser.add_argument("--pairs-only", action="store_true", help="write the pairs, do not train")
    args = parser.parse_args(argv)
    if args.pairs_only:
        print(write_pairs(per_intent=args.per_intent, negatives=args.negatives))
        return 0
    train_reranker(args.config, args.set, per_intent=args.per_intent, negatives=args.negatives)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
