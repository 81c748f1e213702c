"""The ranker on a synthetic two-taste catalogue: learned blend, cold start, new items."""

import numpy as np

from apps.recommender.candidates import EASE, interaction_matrix
from apps.recommender.ranker import FEATURES, Ranker, Signals, UserState, fit_hybrid, user_histories
from apps.recommender.split import cold_items, drop_items, holdout_last, ranking_metrics

from .conftest import synthetic, taste_vectors


def _fit():
    catalogue, inter = synthetic()
    split = holdout_last(inter)
    model = fit_hybrid(catalogue, split.train, taste_vectors(catalogue), ranker_params={"max_iter": 50})
    return catalogue, inter, split, model


def test_features_have_the_declared_shape():
    catalogue, inter = synthetic()
    signals = Signals(catalogue, holdout_last(inter).train, taste_vectors(catalogue))
    state = UserState(np.array([0, 1, 2]), 1_000_000)
    dense = signals.dense_scores(state)
    cands = signals.candidates(state, dense)
    assert not np.isin([0, 1, 2], cands).any()  # the history is never a candidate
    assert signals.features(state, dense, cands).shape == (len(cands), len(FEATURES))


def test_ranker_learns_the_taste_and_sequence():
    catalogue, inter, split, model = _fit()
    histories = user_histories(split.train)
    ranked = {u: model.rank(UserState(*histories[u][:1], int(histories[u][1][-1])), 10)[0].tolist()
              for u in split.test}
    full = ranking_metrics(ranked, split.test)
    X = interaction_matrix(split.train.users, split.train.items, inter.n_users, len(catalogue))
    pop = {u: [int(i) for i in np.argsort(-np.where(X[u].toarray()[0] > 0, -1, X.sum(0).A1))[:10]]
           for u in split.test}
    assert full["ndcg@10"] > ranking_metrics(pop, split.test)["ndcg@10"] + 0.1
    # a sci-fi fan's first five are sci-fi (items 0-19; ten of them are left to recommend)
    assert all(i < 20 for i in ranked[0][:5])


def test_cold_start_user_from_text_vector_and_new_items():
    catalogue, inter, split, model = _fit()
    query = taste_vectors(catalogue)[25]  # "like the cosy comedies"
    items, scores, _, _ = model.rank(UserState(np.zeros(0, np.int64), None, query_vector=query), 5)
    assert all(i >= 20 for i in items) and list(scores) == sorted(scores, reverse=True)
    # item cold start: drop every interaction of some items; the ranker still orders them by text
    cold = cold_items(inter, fraction=0.2)
    warm = drop_items(split.train, cold)
    model_c = fit_hybrid(catalogue, warm, taste_vectors(catalogue), ranker_params={"max_iter": 50})
    assert np.allclose(EASE(10).fit(interaction_matrix(warm.users, warm.items, inter.n_users, 40)).scores([0])[cold],
                       0.0)
    fan = UserState(np.array([0, 2, 4]), 1_000_000)
    scores = model_c.score_items(fan, cold)
    scifi = cold < 20
    assert scifi.any() and (~scifi).any()
    assert scores[scifi].mean() > scores[~scifi].mean()


def test_ranker_saves_without_pickle_and_refits_the_same(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, len(FEATURES))).astype(np.float32)
    y = (X[:, 0] + 0.1 * rng.normal(size=300) > 0).astype(np.int8)
    ranker = Ranker(max_iter=20).fit(X, y)
    ranker.save(tmp_path / "r.npz")
    again = Ranker.load(tmp_path / "r.npz")
    assert np.allclose(ranker.score(X), again.score(X))
    assert (tmp_path / "r.npz.json").is_file()


def test_user_weighting_gives_every_user_the_same_weight(tmp_path):
    """User 0 has 900 rows where feature 0 decides the label, users 1-9 have 10 rows each where
    feature 1 does: weighted, the small users' rule counts as much as the big user's."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(990, len(FEATURES))).astype(np.float32)
    groups = np.r_[np.zeros(900), np.repeat(np.arange(1, 10), 10)].astype(np.int64)
    y = np.where(groups == 0, X[:, 0] > 0, X[:, 1] > 0).astype(np.int8)
    plain = Ranker(max_iter=30, user_weighting=False).fit(X, y, groups)
    weighted = Ranker(max_iter=30).fit(X, y, groups)
    small = groups > 0
    acc = lambda r: ((r.score(X[small]) > 0.5) == y[small]).mean()  # noqa: E731
    assert acc(weighted) > acc(plain) + 0.1
    weighted.save(tmp_path / "w.npz")
    assert np.allclose(Ranker.load(tmp_path / "w.npz").score(X), weighted.score(X))
