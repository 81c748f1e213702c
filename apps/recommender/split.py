"""The MovieLens protocol of DATA.md: temporal per-user split, ranking metrics, item cold start.

Positives are ratings >= 4 and only positives are interactions (ratings below 4 are dropped
first). For each user with at least 5 positives, the last 20% of positives by timestamp
(``int(0.2 n)``, at least one) are the test set; the rest is training. Ranking is over every
catalogue item the user has no training interaction with. Item cold start: 10% of
the items with >= 5 positives (chosen with seed 0) lose all their training interactions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Interactions

__all__ = ["Split", "positives", "temporal_split", "holdout_last", "cold_items", "drop_items", "recall_at_k", "ndcg_at_k",
           "hit_at_k", "ranking_metrics", "auc", "top_k"]


@dataclass
class Split:
    """Training positives and the held-out test positives of each eligible user."""

    train: Interactions
    test: dict[int, list[int]]          # user position -> held-out positive items (time order)
    threshold: float


def positives(inter: Interactions, threshold: float = 4.0) -> Interactions:
    """The rows rated ``>= threshold``."""
    return _subset(inter, inter.ratings >= threshold)


def _subset(inter: Interactions, mask: np.ndarray) -> Interactions:
    return Interactions(inter.user_ids, inter.users[mask], inter.items[mask], inter.ratings[mask],
                        inter.timestamps[mask])


def holdout_last(inter: Interactions, threshold: float = 4.0, min_positives: int = 5,
                 fraction: float = 0.2) -> Split:
    """Hold out the last ``fraction`` of each eligible user's positives (at least one) by time.

    Ratings below ``threshold`` are dropped first. Ties in time are broken by row order, so the
    split is deterministic.
    """
    inter = _subset(inter, inter.ratings >= threshold)
    order = np.lexsort((np.arange(len(inter)), inter.timestamps, inter.users))
    keep = np.ones(len(inter), dtype=bool)
    test: dict[int, list[int]] = {}
    users_sorted = inter.users[order]
    bounds = np.flatnonzero(np.diff(users_sorted)) + 1
    for rows in np.split(order, bounds):
        positive_rows = rows
        if len(positive_rows) < min_positives:
            continue
        n_test = max(1, int(len(positive_rows) * fraction))
        held = positive_rows[-n_test:]
        keep[held] = False
        test[int(inter.users[rows[0]])] = [int(i) for i in inter.items[held]]
    return Split(_subset(inter, keep), test, threshold)


temporal_split = holdout_last


def cold_items(inter: Interactions, threshold: float = 4.0, fraction: float = 0.1, min_positives: int = 5,
               seed: int = 0) -> np.ndarray:
    """10% of the items with >= 5 positives, chosen with ``numpy.random.default_rng(seed)``."""
    counts = np.bincount(inter.items[inter.ratings >= threshold])
    eligible = np.flatnonzero(counts >= min_positives)
    rng = np.random.default_rng(seed)
    n = max(1, int(round(len(eligible) * fraction)))
    return np.sort(rng.choice(eligible, size=n, replace=False))


def drop_items(inter: Interactions, items) -> Interactions:
    """The interactions without any row on ``items`` (cold items lose all their history)."""
    return _subset(inter, ~np.isin(inter.items, np.asarray(items)))


# --------------------------------------------------------------------------- metrics


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best scores, best first (ties by position)."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


def recall_at_k(ranked, relevant, k: int = 10) -> float:
    """Hits in the top ``k`` over the number of relevant items."""
    relevant = set(relevant)
    return len(set(list(ranked)[:k]) & relevant) / len(relevant) if relevant else 0.0


def ndcg_at_k(ranked, relevant, k: int = 10) -> float:
    """Binary-relevance NDCG: sum 1/log2(rank+1) over hits, over the ideal for min(k, |relevant|)."""
    relevant = set(relevant)
    dcg = sum(1.0 / np.log2(r + 2) for r, item in enumerate(list(ranked)[:k]) if item in relevant)
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def hit_at_k(ranked, relevant, k: int = 10) -> float:
    return 1.0 if set(list(ranked)[:k]) & set(relevant) else 0.0


def ranking_metrics(rankings: dict[int, list[int]], test: dict[int, list[int]], k: int = 10) -> dict:
    """Recall@k, NDCG@k and HR@k averaged over the users of ``test``."""
    users = sorted(test)
    rows = [(recall_at_k(rankings[u], test[u], k), ndcg_at_k(rankings[u], test[u], k),
             hit_at_k(rankings[u], test[u], k)) for u in users]
    mean = np.mean(rows, axis=0) if rows else np.zeros(3)
    return {f"recall@{k}": float(mean[0]), f"ndcg@{k}": float(mean[1]), f"hr@{k}": float(mean[2]),
            "users": len(users)}


def auc(positive_scores, negative_scores) -> float:
    """Probability that a positive outranks a negative (ties count one half)."""
    pos = np.asarray(positive_scores, dtype=np.float64)
    neg = np.asarray(negative_scores, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))  # average ranks for ties
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
