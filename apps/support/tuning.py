"""Retrieval settings chosen on the knowledge base's own questions, never on another base's.

A base that has never been seen gets no help from settings tuned on BANKING77: fusing BM25 into
dense retrieval with equal weights, or an intent prior over intents the base does not use, can rank
below a plain search. So each base is asked its own questions and keeps the candidate that ranks
them best: dense alone, BM25 alone, or their fusion with a few weights; the intent prior on or off
(offered only when the intent model knows some of the base's intents); the reranker on or off
(when one is built). Dense alone and BM25 alone are always candidates, so on these questions the
served pipeline is never below the better of the two plain searches.

The questions, in order of preference: the base's FAQ questions; else its section headings; else
its document titles. Each is asked with a third of its words dropped (the words a customer would not
use), and the right answer is the FAQ entry, section or document it came from, or any chunk
labelled with the same intent (an intent's article answers its FAQ questions too). A question's own
words are in the passage it came from, which would favour BM25 unfairly, so the questions are
matched against the chunks' bodies alone (no title, heading or FAQ question): both retrievers are
built for the tuning on those bodies. At most ``limit`` questions, spread over the base; with fewer
than ``MIN_QUESTIONS`` the configured settings stay. The choice is kept in the base (``meta``) until
its documents or models change.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from .kb import Chunk

__all__ = ["Mode", "candidate_modes", "kb_questions", "tune_retrieval", "MIN_QUESTIONS"]

MIN_QUESTIONS = 20
WEIGHTS = ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (4.0, 1.0))  # (dense, BM25) fusions besides each alone


@dataclass(frozen=True)
class Mode:
    dense: float
    bm25: float
    prior: bool
    rerank: bool

    @property
    def name(self) -> str:
        if self.dense and self.bm25:
            base = f"fused {self.dense:g}:{self.bm25:g} (dense:BM25)"
        else:
            base = "dense only" if self.dense else "BM25 only"
        return base + (" + intent prior" if self.prior else "") + (" + reranker" if self.rerank else "")


def candidate_modes(prior_possible: bool, rerank_possible: bool) -> list[Mode]:
    """Simplest first: a later mode must rank strictly better to be chosen."""
    modes = []
    for rerank in ([False, True] if rerank_possible else [False]):
        for prior in ([False, True] if prior_possible else [False]):
            modes += [Mode(1.0, 0.0, prior, rerank), Mode(0.0, 1.0, prior, rerank)]
            modes += [Mode(d, b, prior, rerank) for d, b in WEIGHTS]
    return modes


def _drop_third(text: str) -> str:
    """The text with every third word (from a position fixed by the text) left out; two words stay at least."""
    words = text.split()
    if len(words) < 3:
        return text
    start = int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:4], 16) % 3
    kept = [w for i, w in enumerate(words) if (i - start) % 3 != 0]
    return " ".join(kept if len(kept) >= 2 else words[:2])


def kb_questions(chunks: dict[int, Chunk], limit: int = 300) -> tuple[list[tuple[str, tuple]], str]:
    """``[(question, answer key)]`` from the base itself (see the module), and where they came from.
    A hit is right when its chunk's :func:`answer_key` equals the question's."""
    faq = {}
    for c in chunks.values():
        if c.kind == "faq" and c.section:
            faq.setdefault(answer_key(c, "faq"), c.section)
    headings = {}
    for c in chunks.values():
        if c.kind != "faq" and c.section and c.section != c.title:
            headings.setdefault(answer_key(c, "section"), c.section)
    titles = {}
    for c in chunks.values():
        if c.kind != "faq" and c.title:
            titles.setdefault(answer_key(c, "document"), c.title)
    for found, source in ((faq, "FAQ questions"), (headings, "section headings"), (titles, "document titles")):
        if len(found) >= MIN_QUESTIONS:
            items = sorted(found.items(), key=lambda kv: kv[0])
            step = max(len(items) / limit, 1.0)
            picked = [items[int(i * step)] for i in range(min(limit, len(items)))]
            return [(_drop_third(q), key) for key, q in picked], f"{len(picked)} {source}, a third of each one's words dropped"
    return [], "too few questions in the base (FAQ entries, section headings or document titles)"


def answer_key(chunk: Chunk, level: str) -> tuple:
    if level == "faq":
        return ("faq", chunk.path, chunk.section)
    if level == "section":
        return ("section", chunk.path, chunk.section)
    return ("document", chunk.path)


def _metrics(ranked: list[list[bool]]) -> dict:
    r1 = np.mean([bool(hits) and hits[0] for hits in ranked])
    rr = [next((1.0 / n for n, right in enumerate(hits[:10], 1) if right), 0.0) for hits in ranked]
    return {"recall_at_1": round(float(r1), 4), "mrr_at_10": round(float(np.mean(rr)), 4)}


def _bodies(retriever, level: str):
    """Dense and BM25 rankers over the bodies of the chunks a question of ``level`` may be answered by."""
    from .kb import import_bm25s

    chunks = [c for c in retriever.kb.chunks.values() if (c.kind == "faq") == (level == "faq") or c.intent]
    ids = [c.id for c in chunks]
    matrix = retriever.kb.embedder.encode([c.text for c in chunks])  # (N, H) unit vectors
    bm25s = import_bm25s()
    index = bm25s.BM25()
    index.index(bm25s.tokenize([c.text for c in chunks], stopwords="en", show_progress=False), show_progress=False)

    def dense(vector):
        scores = matrix @ vector
        top = np.argsort(-scores)[: retriever.dense_k]
        return [(ids[j], float(scores[j])) for j in top]

    def lexical(text):
        tokens = bm25s.tokenize([text], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        docs, scores = index.retrieve(tokens, k=min(retriever.bm25_k, len(ids)), show_progress=False, n_threads=1)
        return [(ids[int(d)], float(v)) for d, v in zip(docs[0], scores[0]) if v > 0]

    return dense, lexical


def tune_retrieval(retriever, intents, limit: int = 300) -> dict:
    """Rank the base's own questions with every candidate mode; returns the choice and the table
    (``chosen``: a :class:`Mode` as a dict, or None when there were too few questions)."""
    kb = retriever.kb
    questions, source = kb_questions(kb.chunks, limit)
    if len(questions) < MIN_QUESTIONS:
        return {"chosen": None, "source": source, "table": []}
    level = questions[0][1][0]
    texts = [q for q, _ in questions]
    targets = [key for _, key in questions]
    intent_of = {}
    for c in kb.chunks.values():
        if c.intent:
            intent_of.setdefault(answer_key(c, level), c.intent)
    vectors = retriever.embed(texts)
    dense_of, lexical_of = _bodies(retriever, level)
    dense = [dense_of(v) for v in vectors]
    lexical = [lexical_of(t) for t in texts]

    def right(chunk, target) -> bool:
        return answer_key(chunk, level) == target or (chunk.intent is not None and chunk.intent == intent_of.get(target))

    kb_intents = {retriever.label(c) for c in kb.chunks.values() if retriever.label(c)}
    probs = [None] * len(texts)
    if intents is not None and kb_intents & set(intents.labels):
        probs = intents.probabilities(texts)
    modes = candidate_modes(probs[0] is not None, retriever.reranker is not None)
    saved = (retriever.weights, retriever.intent_prior, retriever.use_reranker)
    table = []
    try:
        for mode in modes:
            ranked = []
            for t, v, d, lx, p, target in zip(texts, vectors, dense, lexical, probs, targets):
                hits = retriever.fused(t, dense=d, lexical=lx, weights=(mode.dense, mode.bm25))
                if mode.prior:
                    hits = retriever.with_prior(t, hits, p, v)
                if mode.rerank:
                    head = retriever.rerank(t, hits[: retriever.rerank_k])
                    if mode.prior:
                        head = retriever.diversify(retriever.apply_prior(head, retriever.sharpen(p)))
                    hits = head + hits[retriever.rerank_k:]
                ranked.append([right(h.chunk, target) for h in hits[:10]])
            table.append({"mode": mode.name, **asdict(mode), **_metrics(ranked)})
    finally:
        retriever.weights, retriever.intent_prior, retriever.use_reranker = saved
    best = max(range(len(table)), key=lambda i: (table[i]["recall_at_1"], table[i]["mrr_at_10"], -i))
    plain = max(r["recall_at_1"] for r in table if not r["prior"] and not r["rerank"] and not (r["dense"] and r["bm25"]))
    return {"chosen": asdict(modes[best]), "name": modes[best].name, "source": source, "questions": len(texts),
            "recall_at_1": table[best]["recall_at_1"], "mrr_at_10": table[best]["mrr_at_10"],
            "best_plain_search_recall_at_1": plain, "table": table}
