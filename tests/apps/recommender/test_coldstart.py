"""The cold-start mapping: content -> the user's EASE scores, learned on warm items only."""

import numpy as np
import pytest

from apps.recommender.candidates import EASE, interaction_matrix
from apps.recommender.coldstart import ColdItemModel, ColdSettings, content_features, fit_cold_model
from apps.recommender.ranker import Signals, UserState, fit_hybrid
from apps.recommender.split import cold_items, drop_items, holdout_last
from core.errors import ConfigError

from .conftest import synthetic, taste_vectors


def _popular_catalogue(n_items: int = 60, n_users: int = 200, seed: int = 0):
    """Content decides popularity: items whose feature 0 is high are liked by many users,
    feature 1 is noise. Returns (features, X) with X the binary user x item matrix."""
    rng = np.random.default_rng(seed)
    appeal = rng.uniform(0, 1, n_items)
    features = np.stack([appeal, rng.normal(size=n_items), np.ones(n_items)], axis=1).astype(np.float32)
    likes = rng.uniform(0, 1, (n_users, n_items)) < 0.05 + 0.5 * appeal
    users, items = np.nonzero(likes)
    return features, appeal, interaction_matrix(users, items, n_users, n_items)


def test_mapping_learns_popularity_from_content_on_warm_items_only():
    features, appeal, X = _popular_catalogue()
    cold = np.arange(50, 60)
    X_warm = X.tolil()
    X_warm[:, cold] = 0
    X_warm = X_warm.tocsr()
    counts = np.asarray(X_warm.sum(axis=0)).ravel()
    model = ColdItemModel(ColdSettings(alpha=1.0), features, counts)
    assert not np.isin(cold, model.warm).any()  # the held-out items teach the mapping nothing
    ease = EASE(50.0).fit(X_warm)
    user = X_warm[0].indices
    predicted = model.predicted_ease(ease.scores(user), cold)
    assert predicted.std() > 0  # non-constant scores for cold items
    # items with more appeal get higher predicted collaborative scores
    assert np.corrcoef(predicted, appeal[cold])[0, 1] > 0.8


def test_cold_items_follow_the_users_taste_through_the_full_model():
    catalogue, inter = synthetic()
    split = holdout_last(inter)
    cold = cold_items(inter, fraction=0.2)
    warm = drop_items(split.train, cold)
    model = fit_hybrid(catalogue, warm, taste_vectors(catalogue), ranker_params={"max_iter": 30}, cold_candidates=8)
    assert model.cold is not None and set(model.cold_items) >= set(cold)
    for history, taste in (([0, 2, 4], lambda i: i < 20), ([21, 23, 25], lambda i: i >= 20)):
        state = UserState(np.array(history), 1_000_000)
        scores = model.score_items(state, cold)
        liked = np.array([taste(i) for i in cold])
        assert liked.any() and (~liked).any()
        assert scores[liked].min() > scores[~liked].max()
        assert np.all((scores > 0) & (scores < 1))  # calibrated: the ranker's probability scale
        # with cold_candidates, rank() retrieves new items itself and scores them the same way
        items, ranked, _, _ = model.rank(state, 40)
        in_rank = np.isin(items, cold)
        assert in_rank.any()
        expected = dict(zip(cold.tolist(), scores.tolist()))
        assert np.allclose([expected[i] for i in items[in_rank]], ranked[in_rank], atol=1e-5)


def test_validation_choice_and_its_saved_settings(tmp_path):
    catalogue, inter = synthetic(n_users=80)
    train = holdout_last(inter).train
    signals = Signals(catalogue, train, taste_vectors(catalogue))
    settings = fit_cold_model(signals.content(), signals.text.embeddings, train, len(catalogue), 10.0,
                              alphas=(1.0, 10.0), text_weights=(0.0, 0.5))
    assert set(settings.validation) == {"1/0", "1/0.5", "10/0", "10/0.5"}
    assert settings.validation_auc == max(v for v in settings.validation.values() if v is not None)
    assert settings.validation_auc > 0.8  # two clear tastes: the held-out items are easy
    settings.save(tmp_path / "cold.json")
    assert ColdSettings.load(tmp_path / "cold.json") == settings
    (tmp_path / "bad.json").write_text('{"alpha": 1, "beta": 2}', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown cold-start keys"):
        ColdSettings.load(tmp_path / "bad.json")


def test_failure_cases():
    with pytest.raises(ConfigError, match="must be > 0"):
        ColdSettings(alpha=0.0)
    features = np.ones((5, 3), np.float32)
    with pytest.raises(ConfigError, match="no item has a training positive"):
        ColdItemModel(ColdSettings(), features, np.zeros(5))
    # too little data for a validation split: the defaults, not a crash
    catalogue, inter = synthetic(n_users=4)
    train = holdout_last(inter).train
    signals = Signals(catalogue, train, taste_vectors(catalogue))
    small = fit_cold_model(signals.content(), signals.text.embeddings, drop_items(train, np.arange(38)),
                           len(catalogue), 10.0)
    assert small == ColdSettings()


def test_content_features_use_the_catalogue_year_scale_for_new_items():
    vectors = np.eye(3, dtype=np.float32)
    genres = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    years = np.array([1990, 2000, 2010], np.float32)
    F = content_features(vectors, genres, years)
    stats = (float(years.mean()), float(years.std()))
    one = content_features(vectors[1:2], genres[1:2], years[1:2], stats)
    assert np.allclose(F[1], one[0])
    assert F.shape == (3, 3 + 2 + 13 + 3)


def test_build_refits_the_ranker_and_cold_settings_of_an_existing_folder(tmp_path, monkeypatch):
    from apps.recommender.config import RecommenderConfig
    from apps.recommender.data import load_dataset
    from apps.recommender.train import build

    monkeypatch.setenv("FTSUITE_HOME", str(tmp_path))
    catalogue, inter, _ = load_dataset("sample")
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "cold.json").write_text('{"alpha": 1, "beta": 2}', encoding="utf-8")  # stale and invalid
    build(RecommenderConfig(name="sample", rating_min=1, rating_max=5, interest=False, ranker_iterations=20),
          catalogue, inter, folder, "sample")
    assert ColdSettings.load(folder / "cold.json").validation is not None
    assert json_params(folder)["max_iter"] == 20


def json_params(folder):
    import json

    return json.loads((folder / "ranker.npz.json").read_text(encoding="utf-8"))["params"]


def test_interest_model_path_resolves_from_another_working_directory(tmp_path, monkeypatch):
    from pathlib import Path

    from apps.recommender.pipeline import interest_artifact

    home = tmp_path / "home"
    (home / "artifacts" / "recommender-interest-x").mkdir(parents=True)
    (home / "artifacts" / "recommender-interest-x" / "manifest.json").write_text("{}")
    monkeypatch.setenv("FTSUITE_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert interest_artifact("${FTSUITE_HOME}/artifacts/recommender-interest-x") == home / "artifacts" / "recommender-interest-x"
    # written by an earlier version: relative to the directory it was built from
    assert interest_artifact(".ftsuite/artifacts/recommender-interest-x") == home / "artifacts" / "recommender-interest-x"
    assert interest_artifact(".ftsuite/artifacts/missing") == Path(".ftsuite/artifacts/missing")  # named in the error
