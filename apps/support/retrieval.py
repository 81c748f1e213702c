"""Hybrid retrieval: dense (the suite's embedder) + BM25 (bm25s), reciprocal-rank fusion, then an
optional cross-encoder reranker (a pair-scoring artifact fine-tuned by the core) and an optional
intent prior (the probability the intent classifier gives to the intent a chunk is labelled with).

The prior stage (:meth:`Retriever.with_prior`) also adds the chunks of the ``intent_articles`` most
probable intents to the candidates (so that the article of the likely intent competes even when
neither retriever found it), sharpens or flattens the probabilities with ``prior_temperature``, and
with ``one_per_source`` lists the best chunk of each source (an article, or one intent's FAQ rows)
before the second chunk of any: the next candidates are other answers, not more of the same one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .kb import Chunk, KnowledgeBase, passage_text

__all__ = ["Hit", "Retriever", "rrf"]

# (dense, BM25) weights of the fusion; (1, 0) is dense alone, (0, 1) BM25 alone
EQUAL = (1.0, 1.0)


@dataclass
class Hit:
    chunk: Chunk
    score: float                      # the score the ranking used
    scores: dict = field(default_factory=dict)  # dense, bm25, rrf, rerank, prior


def rrf(rankings: list[list[int]], k: int = 60, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal-rank fusion: sum over rankings of weight / (k + rank), rank starting at 1."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        if not weight:
            continue
        for rank, item in enumerate(ranking, 1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


class Retriever:
    """One stage each: :meth:`dense`, :meth:`lexical`, :meth:`fused`, :meth:`rerank`; :meth:`search` runs them."""

    def __init__(self, kb: KnowledgeBase, reranker=None, dense_k: int = 30, bm25_k: int = 30, rrf_k: int = 60,
                 rerank_k: int = 10, intent_prior: float = 1.0, faq_prior: float = 0.5, prior_temperature: float = 1.0,
                 intent_articles: int = 0, one_per_source: bool = False):
        self.kb = kb
        self.reranker = reranker
        self.dense_k, self.bm25_k, self.rrf_k, self.rerank_k = dense_k, bm25_k, rrf_k, rerank_k
        self.intent_prior = intent_prior
        self.faq_prior = faq_prior
        self.prior_temperature = prior_temperature
        self.intent_articles = intent_articles
        self.one_per_source = one_per_source
        self.weights = EQUAL  # chosen per knowledge base on its own questions (apps.support.tuning)
        self.use_reranker = True
        # the chunk field the intent model's labels name: "intent" (BANKING77-style intents), or "category"
        # for a model trained on the base's own categorised questions (apps.support.owndata)
        self.label_field = "intent"
        self._by_intent: tuple[tuple, dict[str, list[int]]] = ((), {})

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

    def fused(self, query: str, vector: np.ndarray | None = None, dense: list | None = None,
              lexical: list | None = None, weights: tuple[float, float] | None = None) -> list[Hit]:
        """Both rankings fused with ``weights`` (default :attr:`weights`; a zero weight skips that
        retriever); ``dense`` / ``lexical``: rankings already computed for this query."""
        w_dense, w_bm25 = weights or self.weights
        dense = (self.dense(query, vector=vector) if w_dense else []) if dense is None else dense
        lexical = (self.lexical(query) if w_bm25 else []) if lexical is None else lexical
        fused = rrf([[i for i, _ in dense], [i for i, _ in lexical]], self.rrf_k, [w_dense, w_bm25])
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

    def sharpen(self, intent_probs: dict[str, float] | None) -> dict[str, float] | None:
        """The probabilities to the power ``1 / prior_temperature``, renormalised (1 = unchanged)."""
        if not intent_probs or self.prior_temperature == 1.0:
            return intent_probs
        labels = list(intent_probs)
        p = np.array([intent_probs[k] for k in labels], dtype=np.float64)
        logp = np.log(np.clip(p, 1e-12, 1.0)) / self.prior_temperature
        q = np.exp(logp - logp.max())
        q /= q.sum()
        return dict(zip(labels, q.tolist()))

    def label(self, chunk: Chunk) -> str | None:
        """The chunk's label in the intent model's terms (see :attr:`label_field`)."""
        return chunk.category if self.label_field == "category" else chunk.intent

    def article_chunks(self, intent: str) -> list[int]:
        """Ids of the non-FAQ chunks labelled with ``intent`` (the intent's articles)."""
        generation = (self.kb.loaded_generation, self.label_field)
        if self._by_intent[0] != generation:
            by_intent: dict[str, list[int]] = {}
            for chunk in self.kb.chunks.values():
                if self.label(chunk) and chunk.kind != "faq":
                    by_intent.setdefault(self.label(chunk), []).append(chunk.id)
            self._by_intent = (generation, by_intent)
        return self._by_intent[1].get(intent, [])

    def expand(self, hits: list[Hit], intent_probs: dict[str, float] | None, query: str,
               vector: np.ndarray | None = None) -> list[Hit]:
        """Add the article chunks of the ``intent_articles`` most probable intents that fusion missed
        (RRF score 0, dense score computed from the stored vector)."""
        if not intent_probs or self.intent_articles < 1 or self.kb.index is None:
            return hits
        have = {h.chunk.id for h in hits}
        top = sorted(intent_probs, key=intent_probs.get, reverse=True)[: self.intent_articles]
        extra = [i for intent in top for i in self.article_chunks(intent) if i not in have and i in self.kb.chunks]
        if not extra:
            return hits
        vector = (self.embed([query]) if vector is None else vector).reshape(-1)
        for i in extra:
            dense = float(self.kb.index.reconstruct(i) @ vector)
            hits.append(Hit(self.kb.chunks[i], 0.0, {"rrf": 0.0, "dense": dense, "bm25": None, "added": True}))
        return hits

    def source_key(self, chunk: Chunk) -> tuple:
        return (chunk.path, self.label(chunk)) if chunk.kind == "faq" else (chunk.path,)

    def diversify(self, hits: list[Hit]) -> list[Hit]:
        """The best chunk of each source first (in score order), then the others (in score order, their
        scores capped at the lowest of the first: scores stay in rank order)."""
        if not self.one_per_source:
            return hits
        seen, first, rest = set(), [], []
        for hit in hits:
            key = self.source_key(hit.chunk)
            (rest if key in seen else first).append(hit)
            seen.add(key)
        floor = min((h.score for h in first), default=0.0)
        for hit in rest:
            hit.score = min(hit.score, floor)
        return first + rest

    def with_prior(self, query: str, hits: list[Hit], intent_probs: dict[str, float] | None,
                   vector: np.ndarray | None = None) -> list[Hit]:
        """The prior stage: candidates of the likely intents added, prior applied, one chunk per source first."""
        if not intent_probs or not self.intent_prior:
            return hits
        probs = self.sharpen(intent_probs)
        return self.diversify(self.apply_prior(self.expand(hits, probs, query, vector), probs))

    def apply_prior(self, hits: list[Hit], intent_probs: dict[str, float] | None) -> list[Hit]:
        """Add ``intent_prior x P(chunk's intent)`` to each hit's score (the reranker probability when
        reranked, else the RRF score scaled to (0, 1]). A chunk without an intent label gets the mass
        the classifier left uncommitted (1 - max probability), so policy pages win when no intent fits;
        an FAQ entry gets ``faq_prior`` of its intent's share: the article is the primary source."""
        if not intent_probs or not self.intent_prior or not hits:
            return hits
        uncommitted = 1.0 - max(intent_probs.values())
        top = max(h.scores["rrf"] for h in hits) or 1.0
        for hit in hits:
            chunk = hit.chunk
            # a chunk whose intent the model does not know (another base's categories) is treated as unlabelled
            label = self.label(chunk)
            prior = intent_probs[label] if label in intent_probs else uncommitted
            if chunk.kind == "faq" and label in intent_probs and self.label_field == "intent":
                prior *= self.faq_prior
            hit.scores["prior"] = prior
            base = hit.scores["rerank"] if "rerank" in hit.scores else hit.scores["rrf"] / top
            hit.score = base + self.intent_prior * prior
        return sorted(hits, key=lambda h: (-h.score, h.chunk.id))

    def search(self, query: str, intent_probs: dict[str, float] | None = None, rerank: bool = True,
               vector: np.ndarray | None = None) -> list[Hit]:
        """fused -> intent prior over every candidate -> reranker on the best ``rerank_k`` -> reranker
        probability + prior (the reranked head stays above the rest)."""
        hits = self.with_prior(query, self.fused(query, vector=vector), intent_probs, vector)
        if not (rerank and self.reranker is not None and self.use_reranker):
            return hits
        head, tail = hits[: self.rerank_k], hits[self.rerank_k:]
        head = self.rerank(query, head)
        if intent_probs and self.intent_prior:
            head = self.diversify(self.apply_prior(head, self.sharpen(intent_probs)))
        floor = min((h.score for h in head), default=0.0)
        for hit in tail:
            hit.score = min(hit.score, floor) - 1.0
        return head + tail
