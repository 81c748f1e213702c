"""Hybrid retrieval: dense (the suite's embedder) + BM25 (bm25s), reciprocal-rank fusion, then an
optional cross-encoder reranker (a pair-scoring artifact fine-tuned by the core) and an optional
intent prior (the probability the intent classifier gives to the intent a chunk is labelled with)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .kb import Chunk, KnowledgeBase, passage_text

__all__ = ["Hit", "Retriever", "rrf"]


@dataclass
class Hit:
    chunk: Chunk
    score: float                      # the score the ranking used
    scores: dict = field(default_factory=dict)  # dense, bm25, rrf, rerank, prior


def rrf(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal-rank fusion: sum over rankings of 1 / (k + rank), rank starting at 1."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


class Retriever:
    """One stage each: :meth:`dense`, :meth:`lexical`, :meth:`fused`, :meth:`rerank`; :meth:`search` runs them."""

    def __init__(self, kb: KnowledgeBase, reranker=None, dense_k: int = 30, bm25_k: int = 30, rrf_k: int = 60,
                 rerank_k: int = 10, intent_prior: float = 1.0, faq_prior: float = 0.5):
        self.kb = kb
        self.reranker = reranker
        self.dense_k, self.bm25_k, self.rrf_k, self.rerank_k = dense_k, bm25_k, rrf_k, rerank_k
        self.intent_prior = intent_prior
        self.faq_prior = faq_prior

    # ------------------------------------------------------------------ stages
    def embed(self, queries: list[str]) -> np.ndarray:
        return self.kb.embedder.encode(queries)

    def dense(self, query: str, k: int | None = None, vector: np.ndarray | None = None) -> list[tuple[int, float]]:
        if self.kb.index is None or not len(self.kb.index):
            return []
        vector = self.embed([query]) if vector is None else vector.reshape(1, -1)
        scores, ids = self.kb.index.search(vector, k or self.dense_k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical(self, query: str, k: int | None = None) -> list[tuple[int, float]]:
        from .kb import import_bm25s

        bm25s = import_bm25s()
        if self.kb.bm25 is None:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:  # only stopwords or punctuation
            return []
        k = min(k or self.bm25_k, len(self.kb.bm25_ids))
        docs, scores = self.kb.bm25.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [(int(self.kb.bm25_ids[d]), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def fused(self, query: str, vector: np.ndarray | None = None) -> list[Hit]:
        dense = self.dense(query, vector=vector)
        lexical = self.lexical(query)
        fused = rrf([[i for i, _ in dense], [i for i, _ in lexical]], self.rrf_k)
        dense_s, lex_s = dict(dense), dict(lexical)
        hits = [Hit(self.kb.chunks[i], s, {"rrf": s, "dense": dense_s.get(i), "bm25": lex_s.get(i)})
                for i, s in fused.items() if i in self.kb.chunks]
        hits.sort(key=lambda h: (-h.score, h.chunk.id))
        return hits

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """Cross-encoder probability of relevance for each hit (best first)."""
        if self.reranker is None or not hits:
            return hits
        passages = [passage_text(h.chunk.title, h.chunk.section, h.chunk.text) for h in hits]
        results = self.reranker.predict([query] * len(hits), pairs=passages, batch_size=len(hits))
        for hit, result in zip(hits, results):
            hit.scores["rerank"] = float(result["score"])
            hit.score = hit.scores["rerank"]
        return sorted(hits, key=lambda h: (-h.score, h.chunk.id))

    def apply_prior(self, hits: list[Hit], intent_probs: dict[str, float] | None) -> list[Hit]:
        """Add ``intent_prior x P(chunk's intent)`` to each hit's score (the reranker probability when
        reranked, else the RRF score scaled to (0, 1]). A chunk without an intent label gets the mass
        the classifier left uncommitted (1 - max probability), so policy pages win when no intent fits;
        an FAQ entry gets ``faq_prior`` of its intent's share: the article is the primary source."""
        if not intent_probs or not self.intent_prior or not hits:
            return hits
        uncommitted = 1.0 - max(intent_probs.values())
        top = max(h.scores["rrf"] for h in hits)
        for hit in hits:
            chunk = hit.chunk
            prior = intent_probs.get(chunk.intent, 0.0) if chunk.intent else uncommitted
            if chunk.kind == "faq" and chunk.intent:
                prior *= self.faq_prior
            hit.scores["prior"] = prior
            base = hit.scores["rerank"] if "rerank" in hit.scores else hit.scores["rrf"] / top
            hit.score = base + self.intent_prior * prior
        return sorted(hits, key=lambda h: (-h.score, h.chunk.id))

    def search(self, query: str, intent_probs: dict[str, float] | None = None, rerank: bool = True,
               vector: np.ndarray | None = None) -> list[Hit]:
        """fused -> intent prior over every candidate -> reranker on the best ``rerank_k`` -> reranker
        probability + prior (the reranked head stays above the rest)."""
        hits = self.apply_prior(self.fused(query, vector=vector), intent_probs)
        if not (rerank and self.reranker is not None):
            return hits
        head, tail = hits[: self.rerank_k], hits[self.rerank_k:]
        head = self.apply_prior(self.rerank(query, head), intent_probs)
        floor = min((h.score for h in head), default=0.0)
        for hit in tail:
            hit.score = min(hit.score, floor) - 1.0
        return head + tail
