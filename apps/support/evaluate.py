"""Retrieval, intent and out-of-scope metrics of a bot on BANKING77 / CLINC150 / HWU64 (the sample help centre).

A hit is a chunk of the help article of the query's intent (``articles/<intent>.md``). Every
retrieval stage is scored on the same queries in one pass: dense only, BM25 only, fused (RRF),
fused + intent prior, fused + reranker, fused + reranker + intent prior (the bot's ranking).
Out of scope: CLINC150 and HWU64 test queries whose intents are not about banking
(:data:`BANKING_RELATED` lists the ones left out); the threshold flags at most 4% of in-scope
(BANKING77 test) queries.
"""

from __future__ import annotations

import contextlib
import csv
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from core.data import fetch_dataset

__all__ = ["evaluate", "format_results", "BANKING_RELATED", "stratified", "tune_prior", "PRIOR_GRID"]

# CLINC150 intents of its "banking" and "credit cards" domains, plus the ones a bank's help centre covers
BANKING_RELATED = {
    "clinc150": {
        "transfer", "transactions", "balance", "freeze_account", "pay_bill", "bill_balance", "bill_due",
        "interest_rate", "routing", "min_payment", "order_checks", "pin_change", "report_fraud", "account_blocked",
        "spending_history", "credit_score", "report_lost_card", "credit_limit", "rewards_balance", "new_card",
        "application_status", "card_declined", "international_fees", "apr", "redeem_rewards",
        "credit_limit_change", "damaged_card", "replacement_card_duration", "improve_credit_score",
        "expiration_date", "exchange_rate", "direct_deposit", "travel_notification", "payday",
    },
    "hwu64": {"qa_currency"},
}
STAGES = ("dense", "bm25", "fused", "fused+prior (previous)", "fused+prior", "fused+rerank", "full")


def _read(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle, delimiter="\t")]


def stratified(rows: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """Round-robin over labels (each in file order): any prefix is label-balanced."""
    if not limit or limit >= len(rows):
        return rows
    by_label = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    out, i = [], 0
    while len(out) < limit:
        for label in sorted(by_label):
            if i < len(by_label[label]):
                out.append(by_label[label][i])
        i += 1
    return out[:limit]


def _is_hit(chunk, intent: str) -> bool:
    path = Path(chunk.path)
    return path.parent.name == "articles" and path.stem == intent


def _rank_metrics(ranked_hits: list[list[bool]]) -> dict:
    r1, mrr = [], []
    for hits in ranked_hits:
        r1.append(1.0 if hits[:1] and hits[0] else 0.0)
        first = next((i for i, h in enumerate(hits[:10]) if h), None)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
    return {"recall@1": float(np.mean(r1)), "mrr@10": float(np.mean(mrr))}


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(in-scope score > out-of-scope score), ties half."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return float(roc_auc_score(y, np.r_[pos, neg]))


def _oos(in_scores: np.ndarray, out_scores: np.ndarray, max_fpr: float = 0.04, calibrated: float | None = None) -> dict:
    from .scope import calibrate_threshold

    threshold = calibrate_threshold(in_scores, max_fpr)
    result = {"threshold": threshold, "in_scope_flagged": float(np.mean(in_scores < threshold)),
              "oos_caught": float(np.mean(out_scores < threshold)), "auroc": _auroc(in_scores, out_scores)}
    if calibrated is not None:
        result.update(calibrated_threshold=calibrated, calibrated_in_scope_flagged=float(np.mean(in_scores < calibrated)),
                      calibrated_oos_caught=float(np.mean(out_scores < calibrated)))
    return result


PREVIOUS_PRIOR = {"intent_prior": 1.0, "faq_prior": 0.5, "prior_temperature": 1.0, "intent_articles": 0,
                  "one_per_source": False}  # the combination before the dev-split tuning


@contextlib.contextmanager
def _settings(retriever, settings: dict):
    """The retriever with ``settings`` in force for the block, its own restored afterwards."""
    saved = {k: getattr(retriever, k) for k in settings}
    try:
        for k, v in settings.items():
            setattr(retriever, k, v)
        yield retriever
    finally:
        for k, v in saved.items():
            setattr(retriever, k, v)


def _signals(bot, queries: list[str], with_stages: bool, intents: list[str] | None = None):
    """Per query: the rankings of each stage (hit flags) and the scope signals, through the
    retriever's own stages (the bot's ranking is ``Retriever.search``, stage ``full``)."""
    r = bot.retriever
    vectors = bot.kb.embedder.encode(queries)
    probs = bot.intents.probabilities(queries) if bot.intents else [None] * len(queries)
    rankings = {s: [] for s in STAGES}
    signals = defaultdict(list)
    predicted, pipeline_intents = [], []
    for n, (query, vector, p) in enumerate(zip(queries, vectors, probs)):
        fused = r.fused(query, vector=vector)
        dense_top = max((h.scores["dense"] for h in fused if h.scores.get("dense") is not None), default=0.0)
        final = r.search(query, p, vector=vector)  # what ask() ranks with
        rerank_top = max((h.scores["rerank"] for h in final if "rerank" in h.scores), default=np.nan)
        if p is not None:
            predicted.append(max(p, key=p.get))
        pipeline_intents.append(final[0].chunk.intent if final else None)
        signals["p_max"].append(max(p.values()) if p else np.nan)
        signals["rerank_max"].append(rerank_top)
        signals["dense_max"].append(dense_top)
        if not with_stages:
            continue
        intent = intents[n]

        def flags(hits):
            return [_is_hit(h.chunk, intent) for h in hits[:10]]

        rankings["dense"].append([_is_hit(bot.kb.chunks[i], intent) for i, _ in r.dense(query, k=10, vector=vector)])
        rankings["bm25"].append([_is_hit(bot.kb.chunks[i], intent) for i, _ in r.lexical(query, k=10)])
        rankings["fused"].append(flags(fused))
        if p is not None:
            rankings["fused+prior"].append(flags(r.search(query, p, rerank=False, vector=vector)))
            with _settings(r, PREVIOUS_PRIOR):
                rankings["fused+prior (previous)"].append(flags(r.search(query, p, rerank=False, vector=vector)))
        if bot.reranker is not None:
            plain = r.fused(query, vector=vector)
            rankings["fused+rerank"].append(flags(r.rerank(query, plain[: r.rerank_k]) + plain[r.rerank_k:]))
            if p is not None:
                rankings["full"].append(flags(final))
    return rankings, {k: np.array(v, dtype=np.float64) for k, v in signals.items()}, predicted, pipeline_intents


def _mix(p: np.ndarray, r: np.ndarray, w: float) -> np.ndarray:
    return w * np.clip(p, 0, 1) + (1 - w) * np.clip(r, 0, 1)


def _scope_variants(s: dict, w: float) -> dict[str, np.ndarray]:
    out = {"dense cosine": s["dense_max"]}
    has_intent, has_rerank = not np.isnan(s["p_max"]).all(), not np.isnan(s["rerank_max"]).all()
    if has_intent:
        out["intent max probability"] = s["p_max"]
        for weight in sorted({0.5, w}):
            out[f"{weight:g} x intent + {1 - weight:g} x dense cosine"] = _mix(s["p_max"], s["dense_max"], weight)
    if has_rerank:
        out["reranker max probability"] = s["rerank_max"]
        if has_intent:
            for weight in sorted({0.5, w}):
                out[f"{weight:g} x intent + {1 - weight:g} x reranker"] = _mix(s["p_max"], s["rerank_max"], weight)
    return out


def _bot_variant(bot) -> str:
    w = bot.config.intent_weight
    if bot.intents and bot.reranker and bot.config.scope_retrieval == "reranker":
        return f"{w:g} x intent + {1 - w:g} x reranker"
    if bot.intents:
        return f"{w:g} x intent + {1 - w:g} x dense cosine"
    return "reranker max probability" if (bot.reranker and bot.config.scope_retrieval == "reranker") \
        else "dense cosine"


def evaluate(bot, limit: int = 0, latency_queries: int = 300, progress: bool = True) -> dict:
    bot.warm_up()
    data = fetch_dataset("banking77")
    test = stratified(_read(data / "test.tsv"), limit)
    oos = []
    for name in ("clinc150", "hwu64"):
        rows = [(t, lab) for t, lab in _read(data.parent / name / "test.tsv") if lab not in BANKING_RELATED[name]]
        oos.extend(stratified(rows, limit))
    started = time.perf_counter()
    queries, intents = [q for q, _ in test], [i for _, i in test]
    rankings, in_signals, predicted, pipeline = _signals(bot, queries, True, intents)
    if progress:
        print(f"in-scope: {len(queries)} queries in {time.perf_counter() - started:.0f} s", flush=True)
    _, out_signals, _, _ = _signals(bot, [q for q, _ in oos], False)
    results = {"in_scope_queries": len(queries), "oos_queries": len(oos),
               "kb": {"documents": len(bot.kb.documents()), "chunks": len(bot.kb.chunks)},
               "retrieval": {s: _rank_metrics(v) for s, v in rankings.items() if v},
               "intent_accuracy": float(np.mean([p == t for p, t in zip(predicted, intents)])) if predicted else None,
               "pipeline_intent_accuracy": float(np.mean([p == t for p, t in zip(pipeline, intents)])),
               "excluded_intents": {k: sorted(v) for k, v in BANKING_RELATED.items()}}
    w = bot.config.intent_weight
    ins, outs = _scope_variants(in_signals, w), _scope_variants(out_signals, w)
    chosen = _bot_variant(bot)
    results["oos"] = {name: _oos(ins[name], outs[name], calibrated=bot.threshold if name == chosen else None)
                      for name in ins}
    results["oos_bot_signal"] = chosen
    # per-turn latency of ask(): each question in a new conversation
    sample = stratified(test, latency_queries) if latency_queries else []
    times = []
    for q, _ in sample:
        t = time.perf_counter()
        bot.ask(q)
        times.append((time.perf_counter() - t) * 1000)
    if times:
        results["latency_ms"] = {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)),
                                 "mean": statistics.fmean(times), "n": len(times)}
    status = bot.status()
    results["models"] = {k: status[k] for k in ("embedder", "intent_model", "reranker")}
    results["seconds"] = time.perf_counter() - started
    return results


def format_results(r: dict) -> str:
    lines = [f"in-scope queries {r['in_scope_queries']}, out-of-scope {r['oos_queries']}; "
             f"KB {r['kb']['documents']} documents, {r['kb']['chunks']} chunks", "",
             f"{'stage':24} {'R@1':>7} {'MRR@10':>7}"]
    for stage, m in r["retrieval"].items():
        lines.append(f"{stage:24} {m['recall@1']:7.4f} {m['mrr@10']:7.4f}")
    if r["intent_accuracy"] is not None:
        lines.append(f"\nintent accuracy: classifier {r['intent_accuracy']:.4f}")
    lines.append(f"intent of the top-ranked chunk (the bot's ranking): {r['pipeline_intent_accuracy']:.4f}")
    lines.append(f"\n{'scope signal':44} {'AUROC':>6} {'thr':>6} {'flagged':>8} {'OOS caught':>10}")
    for name, m in r["oos"].items():
        lines.append(f"{name:44} {m['auroc']:6.4f} {m['threshold']:6.3f} {m['in_scope_flagged']:8.4f} "
                     f"{m['oos_caught']:10.4f}")
        if "calibrated_threshold" in m:
            lines.append(f"{'  the bot (threshold from its FAQ)':44} {'':6} {m['calibrated_threshold']:6.3f} "
                         f"{m['calibrated_in_scope_flagged']:8.4f} {m['calibrated_oos_caught']:10.4f}")
    lat = r.get("latency_ms")
    if lat:
        lines.append(f"\nask() latency over {lat['n']} turns: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms")
    return "\n".join(lines)


PRIOR_GRID = {"intent_prior": [1.0, 2.0, 4.0], "prior_temperature": [0.5, 1.0, 2.0], "intent_articles": [0, 1, 3],
              "one_per_source": [False, True], "faq_prior": [0.25, 0.5]}


def tune_prior(bot, grid: dict | None = None, split: str = "dev", limit: int = 0, progress: bool = True) -> list[dict]:
    """Recall@1 and MRR@10 of the fused + intent prior stage (no reranker) for every setting of ``grid``
    on BANKING77 ``split`` queries (dev by default: the test queries are the benchmark's), best first."""
    import itertools

    if split == "test":
        raise ValueError("tune on dev (or train) queries; the test queries are the benchmark's")
    bot.warm_up()
    if bot.intents is None:
        raise ValueError("tuning the intent prior needs the intent model")
    rows = stratified(_read(fetch_dataset("banking77") / f"{split}.tsv"), limit)
    queries, intents = [q for q, _ in rows], [i for _, i in rows]
    vectors = bot.kb.embedder.encode(queries)
    probs = bot.intents.probabilities(queries)
    fused = [bot.retriever.fused(q, vector=v) for q, v in zip(queries, vectors)]
    grid = grid or PRIOR_GRID
    names = list(grid)
    r = bot.retriever
    results = []
    for values in itertools.product(*(grid[n] for n in names)):
        with _settings(r, dict(zip(names, values))):
            ranked = []
            for q, v, p, hits, intent in zip(queries, vectors, probs, fused, intents):
                fresh = [type(h)(h.chunk, h.score, dict(h.scores)) for h in hits]
                ranked.append([_is_hit(h.chunk, intent) for h in r.with_prior(q, fresh, p, v)[:10]])
        results.append({**dict(zip(names, values)), **_rank_metrics(ranked)})
        if progress:
            print(results[-1], flush=True)
    results.sort(key=lambda x: (-(x["recall@1"] + x["mrr@10"]), -x["recall@1"]))
    return results
