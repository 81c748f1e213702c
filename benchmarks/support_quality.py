"""The support bot on BANKING77 test queries against the shipped help centre (issue #5 targets).

One run scores every retrieval stage side by side (dense, BM25, fused, fused + intent prior,
fused + reranker, fused + reranker + intent prior = the bot), the intent accuracy, out-of-scope
detection (CLINC150 / HWU64 test queries of non-banking intents; the threshold flags <= 4% of
in-scope queries) for each scope signal, and the per-turn latency of ``ask`` (no generator).

    .venv/bin/python benchmarks/support_quality.py              # all 3,080 BANKING77 test queries
    .venv/bin/python benchmarks/support_quality.py --limit 770  # a stratified subset (10 per intent)

Needs the models of `make models` (intents, embedder-minilm exported --int8, support-reranker exported
--int8); a missing one is reported and its stages are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="stratified subset of N queries per dataset (0 = all)")
    parser.add_argument("--latency-queries", type=int, default=300)
    parser.add_argument("--intent-prior", type=float, default=None, help="override the config's intent_prior")
    parser.add_argument("--rerank-k", type=int, default=None)
    parser.add_argument("--no-reranker", action="store_true", help="run without the reranker (latency without it)")
    parser.add_argument("--intent-model", default=None, help="intent artifact (default: the main job's 'intents')")
    args = parser.parse_args(argv)

    from apps.support import default_bot
    from apps.support.evaluate import evaluate, format_results

    changes = {}
    if args.intent_prior is not None:
        changes["intent_prior"] = args.intent_prior
    if args.intent_model is not None:
        changes["intent_model"] = args.intent_model
    if args.no_reranker:
        changes["reranker"] = ""
    if args.rerank_k is not None:
        changes["rerank_k"] = args.rerank_k
    bot = default_bot(**changes)
    results = evaluate(bot, limit=args.limit, latency_queries=args.latency_queries)
    print(format_results(results))
    print("off:", bot.status()["off"] or "nothing")
    row = {"benchmark": "support_quality", "limit": args.limit, "config": {"rerank_k": bot.config.rerank_k,
           "intent_prior": bot.config.intent_prior, "faq_prior": bot.config.faq_prior,
           "intent_weight": bot.config.intent_weight, "intent_model": bot.config.intent_model, "dense_k": bot.config.dense_k, "bm25_k": bot.config.bm25_k},
           **results, "machine": f"{platform.machine()}, {os.cpu_count()} cores", "off": bot.status()["off"]}
    out = REPO / "benchmarks" / "results" / "support_quality.jsonl"
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, default=str) + "\n")
    print(f"appended to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
