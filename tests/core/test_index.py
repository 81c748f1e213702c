"""VectorIndex: add / replace / remove / search / save / load, and damaged files."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError, SuiteError
from core.index import VectorIndex


def unit(rows):
    array = np.asarray(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def test_search_orders_by_inner_product_and_returns_ids():
    index = VectorIndex(3)
    index.add([10, 20, 30], unit([[1, 0, 0], [0, 1, 0], [1, 1, 0]]))
    scores, ids = index.search(unit([[1, 0.1, 0]]), k=5)
    assert ids.shape == (1, 3)  # k is capped at the number of vectors
    assert ids[0].tolist() == [10, 30, 20]
    assert scores[0, 0] == pytest.approx(float(unit([[1, 0.1, 0]])[0] @ unit([[1, 0, 0]])[0]), rel=1e-5)


def test_add_replaces_and_remove_drops():
    index = VectorIndex(2)
    index.add([1, 2], unit([[1, 0], [0, 1]]))
    index.add([1], unit([[0, 1]]))  # replace id 1
    assert len(index) == 2
    np.testing.assert_allclose(index.reconstruct(1), [0, 1], atol=1e-6)
    assert index.remove([2, 99]) == 1
    assert index.ids().tolist() == [1]
    assert index.search(unit([[1, 0]]), k=3)[1].tolist() == [[1]]


def test_empty_index_and_bad_vectors():
    index = VectorIndex(4)
    scores, ids = index.search(unit([[1, 0, 0, 0]]), k=3)
    assert scores.shape == (1, 0) and ids.shape == (1, 0)
    with pytest.raises(ConfigError, match="dimension 4"):
        index.add([1], np.ones((1, 3)))
    with pytest.raises(ConfigError, match="duplicate ids"):
        index.add([1, 1], unit([[1, 0, 0, 0], [0, 1, 0, 0]]))
    with pytest.raises(ConfigError, match="NaN"):
        index.add([1], np.full((1, 4), np.nan))
    with pytest.raises(ConfigError, match="factory"):
        VectorIndex(4, factory="NotAnIndex")


def test_save_load_round_trip_and_damage(tmp_path):
    index = VectorIndex(2, meta={"embedder": "embedder-minilm"})
    index.add([5, 6], unit([[1, 0], [1, 1]]))
    path = index.save(tmp_path / "kb" / "dense.faiss")
    again = VectorIndex.load(path)
    assert again.meta == {"embedder": "embedder-minilm"} and len(again) == 2
    assert again.search(unit([[1, 0]]), k=1)[1].tolist() == [[5]]
    again.add([7], unit([[0, 1]]))  # a loaded index stays writable
    assert len(again) == 3

    with pytest.raises(SuiteError, match="no vector index"):
        VectorIndex.load(tmp_path / "missing.faiss")
    path.write_bytes(b"not a faiss file")
    with pytest.raises(SuiteError, match="damaged"):
        VectorIndex.load(path)
