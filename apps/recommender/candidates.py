"""Candidate sources: popularity, item-kNN, EASE (closed form) and text similarity in faiss.

Each source is fitted offline on the training positives as a binary user x item matrix ``X``
(scipy CSR) and answers online with a score for every catalogue item: ``scores(history)`` for
one history (item positions), ``scores_many(X_users)`` for a batch. Their top items, united,
feed the ranker.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from core.errors import ConfigError

__all__ = ["interaction_matrix", "Popularity", "ItemKNN", "EASE", "TextSimilarity", "profile_vector"]


def interaction_matrix(users, items, n_users: int, n_items: int, weights=None) -> sp.csr_matrix:
    """Binary (or weighted) CSR matrix ``(n_users, n_items)``."""
    data = np.ones(len(users), np.float32) if weights is None else np.asarray(weights, np.float32)
    X = sp.csr_matrix((data, (np.asarray(users), np.asarray(items))), shape=(n_users, n_items), dtype=np.float32)
    X.sum_duplicates()
    return X


def _active_items(X: sp.csr_matrix) -> np.ndarray:
    return np.flatnonzero(np.asarray(X.sum(axis=0)).ravel() > 0)


def _scatter_square(M: sp.csr_matrix, active: np.ndarray, n: int) -> sp.csr_matrix:
    coo = M.tocoo()
    return sp.csr_matrix((coo.data, (active[coo.row], active[coo.col])), shape=(n, n))


def _history_row(history, n_items: int) -> sp.csr_matrix:
    history = np.unique(np.asarray(history, dtype=np.int64))
    return sp.csr_matrix((np.ones(len(history), np.float32), (np.zeros(len(history), np.int64), history)),
                         shape=(1, n_items))


class Popularity:
    """Items by their number of training positives (log-scaled)."""

    name = "popularity"

    def fit(self, X: sp.csr_matrix) -> "Popularity":
        self.counts = np.asarray(X.sum(axis=0)).ravel().astype(np.float32)
        self.item_scores = np.log1p(self.counts)
        return self

    def scores(self, history) -> np.ndarray:
        return self.item_scores.copy()

    def scores_many(self, X_users: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.item_scores, (X_users.shape[0], 1))


class ItemKNN:
    """Cosine item-item similarity over co-occurrence, ``k`` neighbours kept per item;
    a user's score for an item is the sum of its similarities to the user's history."""

    name = "item-knn"

    def __init__(self, k: int = 100, shrink: float = 10.0):
        if k < 1:
            raise ConfigError(f"item-kNN k = {k}; must be >= 1")
        self.k = k
        self.shrink = shrink

    def fit(self, X: sp.csr_matrix) -> "ItemKNN":
        n_items = X.shape[1]
        active = _active_items(X)  # items nobody liked score 0: leave them out of the dense algebra
        Xc = X[:, active].tocsc().astype(np.float32)
        co = (Xc.T @ Xc).toarray()  # (A, A)
        norms = np.sqrt(np.diag(co))
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-9)
        np.fill_diagonal(sim, 0.0)
        if self.k < sim.shape[1]:
            # keep the k largest of each row (neighbours of each item)
            cut = np.argpartition(-sim, self.k, axis=1)[:, self.k:]
            np.put_along_axis(sim, cut, 0.0, axis=1)
        self.similarity = _scatter_square(sp.csr_matrix(sim.astype(np.float32)), active, n_items)
        return self

    def scores(self, history) -> np.ndarray:
        return self.scores_many(_history_row(history, self.similarity.shape[0]))[0]

    def scores_many(self, X_users: sp.csr_matrix) -> np.ndarray:
        return np.asarray((X_users @ self.similarity).todense(), dtype=np.float32)


class EASE:
    """EASE (Steck 2019): ``B = I - P diagMat(1/diag(P))`` with ``P = (X^T X + lambda I)^-1``."""

    name = "ease"

    def __init__(self, l2: float = 250.0):
        if l2 <= 0:
            raise ConfigError(f"EASE lambda = {l2}; must be > 0")
        self.l2 = l2

    def fit(self, X: sp.csr_matrix) -> "EASE":
        n_items = X.shape[1]
        active = _active_items(X)
        Xa = X[:, active]
        G = (Xa.T @ Xa).toarray().astype(np.float64)  # (A, A)
        G[np.diag_indices_from(G)] += self.l2
        P = np.linalg.inv(G)
        B = -P / np.diag(P)
        np.fill_diagonal(B, 0.0)
        self.n_items, self.active = n_items, active
        self.weights = B.astype(np.float32)  # (A, A) over the active items; the others score 0
        self._position = np.full(n_items, -1, np.int64)
        self._position[active] = np.arange(len(active))
        return self

    def scores(self, history) -> np.ndarray:
        rows = self._position[np.unique(np.asarray(history, dtype=np.int64))]
        out = np.zeros(self.n_items, np.float32)
        out[self.active] = self.weights[rows[rows >= 0]].sum(axis=0)
        return out

    def scores_many(self, X_users: sp.csr_matrix) -> np.ndarray:
        out = np.zeros((X_users.shape[0], self.n_items), np.float32)
        out[:, self.active] = np.asarray(X_users[:, self.active] @ self.weights, dtype=np.float32)
        return out


def profile_vector(embeddings: np.ndarray, history, weights=None) -> np.ndarray:
    """The unit mean of the history's item vectors (optionally weighted); zeros for no history."""
    history = np.asarray(history, dtype=np.int64)
    if len(history) == 0:
        return np.zeros(embeddings.shape[1], np.float32)
    w = np.ones(len(history), np.float32) if weights is None else np.asarray(weights, np.float32)
    vec = (embeddings[history] * w[:, None]).sum(axis=0)
    norm = np.linalg.norm(vec)
    return (vec / norm).astype(np.float32) if norm > 0 else vec.astype(np.float32)


class TextSimilarity:
    """Cosine similarity between a profile vector and item text embeddings, searched in faiss."""

    name = "text"

    def __init__(self, embeddings: np.ndarray):
        from core.index import VectorIndex

        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)  # (I, H), unit rows
        self.index = VectorIndex(self.embeddings.shape[1])
        self.index.add(np.arange(len(self.embeddings)), self.embeddings)

    def fit(self, X=None) -> "TextSimilarity":
        return self

    def scores(self, history) -> np.ndarray:
        return self.embeddings @ profile_vector(self.embeddings, history)

    def scores_vector(self, query: np.ndarray) -> np.ndarray:
        return self.embeddings @ np.asarray(query, np.float32)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` items for a query vector, through the faiss index: ``(scores, items)``."""
        scores, ids = self.index.search(np.asarray(query, np.float32)[None, :], k)
        return scores[0], ids[0]

    def scores_many(self, X_users: sp.csr_matrix) -> np.ndarray:
        sums = np.asarray(X_users @ self.embeddings, dtype=np.float32)
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)
        return sums @ self.embeddings.T
