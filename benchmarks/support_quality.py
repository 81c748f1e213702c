"""The support bot on BANKING77 test queries against the shipped help centre (issue #5 targets).

One run scores every retrieval stage side by side, for the pretrained MiniLM embedder and for the
support embedder fine-tuned on BANKING77 train queries x the help centre (when built): dense, BM25,
fused, fused + intent prior as combined before the dev tuning ("previous"), fused + intent prior
(the bot's settings), and with the reranker when it exists; the intent accuracy, out-of-scope
detection (CLINC150 / HWU64 test queries of non-banking intents; the threshold flags <= 4% of
in-scope queries) for each scope signal, and the per-turn latency of ``ask`` (no generator) of the
bot as it is served (the fine-tuned embedder when built).

    .venv/bin/python benchmarks/support_quality.py              # all 3,080 BANKING77 test queries
    .venv/bin/python benchmarks/support_quality.py --limit 770  # a stratified subset (10 per intent)
    .venv/bin/python benchmarks/support_quality.py --tune       # the intent-prior grid on the 1,000 dev queries
    .venv/bin/python benchmarks/support_quality.py --tune --embedder '${FTSUITE_HOME}/artifacts/embedder-minilm' \
        --kb bench-embedder-minilm                              # the same grid with the pretrained embedder

Needs the models of `make models` (intents, embedder-minilm exported --int8); support-embedder
(`ftsuite support train-embedder`) and support-reranker (`ftsuite support train`), exported --int8, are
used when built; a missing one is reported and its stages are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BASE_EMBEDDER = "${FTSUITE_HOME}/artifacts/embedder-minilm"
BASE_KB = "bench-embedder-minilm"  # the help centre embedded by the pretrained MiniLM, beside the default base


def _append(name: str, row: dict) -> Path:
    out = REPO / "benchmarks" / "results" / name
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, default=str) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="stratified subset of N queries per dataset (0 = all)")
    parser.add_argument("--latency-queries", type=int, default=300)
    parser.add_argument("--intent-prior", type=float, default=None, help="override the config's intent_prior")
    parser.add_argument("--rerank-k", type=int, default=None)
    parser.add_argument("--no-reranker", action="store_true", help="run without the reranker (latency without it)")
    parser.add_argument("--intent-model", default=None, help="intent artifact (default: the config's list)")
    parser.add_argument("--embedder", default=None, help="the served bot's embedder (default: the config's list)")
    parser.add_argument("--kb", default=None, help="knowledge-base name (default: default; give another one for "
                                                  "another embedder, e.g. bench-embedder-minilm, so neither re-embeds)")
    parser.add_argument("--no-base", action="store_true", help="skip the pretrained-MiniLM comparison run")
    parser.add_argument("--tune", action="store_true", help="grid of the intent-prior settings on BANKING77 dev")
    args = parser.parse_args(argv)

    from apps.support import default_bot
    from apps.support.evaluate import evaluate, format_results, tune_prior

    changes = {}
    if args.intent_prior is not None:
        changes["intent_prior"] = args.intent_prior
    if args.intent_model is not None:
        changes["intent_model"] = args.intent_model
    if args.no_reranker:
        changes["reranker"] = ""
    if args.rerank_k is not None:
        changes["rerank_k"] = args.rerank_k
    if args.embedder is not None:
        changes["embedder"] = args.embedder
    if args.kb is not None:
        changes["kb"] = args.kb
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    bot = default_bot(**changes)
    if args.tune:
        started = time.perf_counter()
        results = tune_prior(bot.warm_up(), progress=False)
        for r in results[:10]:
            print(r)
        row = {"benchmark": "support_prior_tuning", "split": "dev", "embedder": bot.status()["embedder"],
               "intent_model": bot.status()["intent_model"], "grid": results, "machine": machine,
               "seconds": time.perf_counter() - started}
        print(f"appended to {_append('support_tuning.jsonl', row)}")
        return 0
    load = {"before": os.getloadavg()}
    by_embedder = {}
    served = bot.warm_up().kb.embedder.artifact
    if not args.no_base and Path(served).name != "embedder-minilm":
        base = default_bot(**{**changes, "embedder": BASE_EMBEDDER, "kb": BASE_KB})
        by_embedder[Path(base.warm_up().kb.embedder.artifact).name] = evaluate(base, limit=args.limit,
                                                                                 latency_queries=0)
    results = evaluate(bot, limit=args.limit, latency_queries=args.latency_queries)
    by_embedder[Path(served).name] = results
    load["after"] = os.getloadavg()
    for name, r in by_embedder.items():
        print(f"\n=== embedder {name}" + (" (the bot as served)" if r is results else ""))
        print(format_results(r))
    print("off:", bot.status()["off"] or "nothing", "; load average before/after:", load)
    cfg = bot.config
    row = {"benchmark": "support_quality", "limit": args.limit,
           "config": {k: getattr(cfg, k) for k in ("rerank_k", "intent_prior", "faq_prior", "prior_temperature",
                                                   "intent_articles", "one_per_source", "intent_weight",
                                                   "intent_model", "embedder", "dense_k", "bm25_k")},
           **results, "by_embedder": {k: {"retrieval": v["retrieval"], "oos": v["oos"],
                                          "intent_accuracy": v["intent_accuracy"],
                                          "pipeline_intent_accuracy": v["pipeline_intent_accuracy"]}
                                      for k, v in by_embedder.items()},
           "machine": machine, "load_average": load, "off": bot.status()["off"]}
    print(f"appended to {_append('support_quality.jsonl', row)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
