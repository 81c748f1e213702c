"""The DATA.md protocol pieces against hand-computed values."""

import math

import numpy as np
import pytest

from apps.recommender.data import Interactions
from apps.recommender.split import (auc, cold_items, drop_items, hit_at_k, holdout_last, ndcg_at_k, ranking_metrics,
                                    recall_at_k, top_k)


def test_recall_ndcg_hit_by_hand():
    ranked = [5, 1, 7, 2, 9]
    relevant = [1, 2, 3]
    assert recall_at_k(ranked, relevant, 5) == pytest.approx(2 / 3)
    # hits at ranks 2 and 4: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3) + 1/log2(4))
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 0.5)
    assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(expected)
    assert hit_at_k(ranked, relevant, 5) == 1.0
    assert hit_at_k(ranked, [4], 5) == 0.0
    assert recall_at_k(ranked, relevant, 1) == 0.0
    assert ndcg_at_k([1], [1], 10) == pytest.approx(1.0)


def test_ranking_metrics_average_over_users():
    rows = ranking_metrics({0: [1, 2], 1: [3, 4]}, {0: [1], 1: [9]}, k=2)
    assert rows["recall@2"] == pytest.approx(0.5)
    assert rows["ndcg@2"] == pytest.approx(0.5)
    assert rows["hr@2"] == pytest.approx(0.5)
    assert rows["users"] == 2


def test_auc_by_hand_with_ties():
    assert auc([3, 2], [1, 0]) == 1.0
    assert auc([0], [1]) == 0.0
    assert auc([1, 0], [1]) == pytest.approx(0.25)  # (0.5 tie + 0) / 2
    assert math.isnan(auc([], [1]))


def test_top_k_best_first_ties_by_position():
    assert top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3).tolist() == [1, 3, 2]


def _inter(rows):
    users, items, ratings, stamps = zip(*rows)
    ids = sorted(set(users))
    return Interactions([str(u) for u in ids], np.array(users), np.array(items), np.array(ratings, np.float32),
                        np.array(stamps))


def test_holdout_last_is_temporal_and_uses_positives_only():
    # user 0: 6 positives (t = 1..6, inserted shuffled) and one low rating; user 1: only 4 positives
    rows = [(0, i, 5.0, t) for i, t in zip([10, 11, 12, 13, 14, 15], [3, 1, 2, 6, 4, 5])]
    rows += [(0, 16, 2.0, 7)] + [(1, i, 4.0, i) for i in range(4)]
    split = holdout_last(_inter(rows))
    assert split.test == {0: [13]}  # int(0.2 * 6) = 1: the positive with the last timestamp
    assert 16 not in split.train.items.tolist()  # ratings below 4 are not interactions
    assert sorted(split.train.items[split.train.users == 1].tolist()) == [0, 1, 2, 3]  # < 5 positives: all train
    rows10 = [(0, i, 4.0, i) for i in range(10)]
    assert holdout_last(_inter(rows10)).test == {0: [8, 9]}


def test_cold_items_seeded_and_dropped():
    rows = [(u, i, 5.0, u * 100 + i) for u in range(6) for i in range(30)]
    inter = _inter(rows)
    cold = cold_items(inter)
    assert len(cold) == 3 and cold.tolist() == cold_items(inter).tolist()
    assert not np.isin(drop_items(inter, cold).items, cold).any()
