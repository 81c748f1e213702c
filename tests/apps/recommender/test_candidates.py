"""Each candidate source on small hand-made matrices."""

import numpy as np
import pytest

from apps.recommender.candidates import EASE, ItemKNN, Popularity, TextSimilarity, interaction_matrix, profile_vector
from core.errors import ConfigError

# users 0-2 like items 0 and 1 together; user 3 likes 2 and 3; item 4 is never liked
X = interaction_matrix([0, 0, 1, 1, 2, 2, 3, 3, 2], [0, 1, 0, 1, 0, 1, 2, 3, 2], 4, 5)


def test_popularity_counts():
    pop = Popularity().fit(X)
    assert pop.counts.tolist() == [3, 3, 2, 1, 0]
    assert np.argmax(pop.scores([3])) in (0, 1)


def test_item_knn_cosine_neighbours():
    knn = ItemKNN(k=2, shrink=0.0).fit(X)
    assert knn.similarity[0, 1] == pytest.approx(1.0)  # always liked together
    scores = knn.scores([0])
    assert np.argmax(scores) == 1 and scores[4] == 0.0
    assert np.allclose(knn.scores_many(X[[0]])[0], knn.scores([0, 1]))
    with pytest.raises(ConfigError):
        ItemKNN(k=0)


def test_ease_matches_the_closed_form():
    l2 = 2.0
    ease = EASE(l2).fit(X)
    active = [0, 1, 2, 3]
    dense = X.toarray()[:, active]
    P = np.linalg.inv(dense.T @ dense + l2 * np.eye(4))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    assert np.allclose(ease.weights, B, atol=1e-5)
    scores = ease.scores([0])
    assert np.argmax(scores) == 1 and scores[4] == 0.0
    assert np.allclose(ease.scores_many(X[[3]])[0], ease.scores([2, 3]), atol=1e-6)
    with pytest.raises(ConfigError):
        EASE(0)


def test_text_similarity_profile_and_faiss_search():
    vectors = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]  # items 0 and 1 share a direction
    text = TextSimilarity(vectors)
    assert text.scores([0])[1] == pytest.approx(1.0) and text.scores([0])[2] == pytest.approx(0.0)
    scores, items = text.search(vectors[2], 2)
    assert items[0] == 2 and scores[0] == pytest.approx(1.0)
    assert np.allclose(profile_vector(vectors, []), 0.0)
    many = text.scores_many(interaction_matrix([0], [3], 1, 4))
    assert np.argmax(many[0]) == 3
