"""Fixtures: a synthetic two-taste catalogue built in code, and the shipped sample recommender
built once per session with the frozen MiniLM (no fine-tuning)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apps.recommender.data import Catalogue, Interactions


def synthetic(n_users: int = 60, seed: int = 0):
    """40 items in two tastes (space films 0-19, cosy comedies 20-39); each user likes one taste,
    rates 12 items of it in a fixed order (with noise) and 3 of the other taste low."""
    rng = np.random.default_rng(seed)
    ids = [f"i{i}" for i in range(40)]
    titles = [f"Space Saga {i}" if i < 20 else f"Cosy Comedy {i}" for i in range(40)]
    genres = [["Sci-Fi", "Adventure"] if i < 20 else ["Comedy", "Romance"] for i in range(40)]
    tags = [["space"] if i < 20 else ["feel good"] for i in range(40)]
    catalogue = Catalogue(ids, titles, [2000 + i % 20 for i in range(40)], genres, tags)
    users, items, ratings, stamps = [], [], [], []
    for u in range(n_users):
        taste = np.arange(20) if u % 2 == 0 else np.arange(20, 40)
        other = np.arange(20, 40) if u % 2 == 0 else np.arange(20)
        order = np.sort(rng.choice(taste, 12, replace=False))  # a shared sequence: low ids first
        t = 1_000_000 + u * 10
        for i in order:
            users.append(u), items.append(int(i)), ratings.append(float(rng.choice([4, 5]))), stamps.append(t)
            t += 1000
        for i in rng.choice(other, 3, replace=False):
            users.append(u), items.append(int(i)), ratings.append(2.0), stamps.append(t)
            t += 1000
    inter = Interactions([f"u{u}" for u in range(n_users)], np.array(users), np.array(items),
                         np.array(ratings, np.float32), np.array(stamps))
    return catalogue, inter


def taste_vectors(catalogue: Catalogue) -> np.ndarray:
    """Text-like unit vectors: items of one taste point the same way (plus a little noise)."""
    rng = np.random.default_rng(1)
    vectors = np.array([[1.0, 0.0, 0.0, 0.0] if "Sci-Fi" in g else [0.0, 1.0, 0.0, 0.0] for g in catalogue.genres])
    vectors += rng.normal(0, 0.1, vectors.shape)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="session")
def sample_recommender(tmp_path_factory):
    """The sample catalogue built into a recommender (frozen MiniLM text, no interest model)."""
    from apps.recommender.config import RecommenderConfig
    from apps.recommender.data import load_dataset
    from apps.recommender.pipeline import Recommender
    from apps.recommender.train import build

    home = tmp_path_factory.mktemp("rec-home")
    with pytest.MonkeyPatch.context() as patch:  # a session fixture cannot take `monkeypatch`
        patch.setenv("FTSUITE_HOME", str(home))
        catalogue, inter, _ = load_dataset("sample")
        folder = Path(home) / "recommender" / "sample"
        build(RecommenderConfig(name="sample", rating_min=1, rating_max=5, interest=False), catalogue, inter,
              folder, "sample")
        recommender = Recommender(folder).warm_up()
    recommender.home = home
    return recommender
