"""A :class:`VectorIndex` over faiss: integer ids to unit vectors, inner-product search, saved in
faiss's own format beside a small JSON header (never pickle).

The apps keep their own mapping from these integer ids to documents or items. Vectors are expected
L2-normalised (what :class:`core.embedding.Embedder` returns), so inner product is cosine similarity.
The default structure is exact search (``Flat``); any faiss factory string that supports
``remove_ids`` works (e.g. ``"HNSW32"`` is approximate and does not support removal).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import ConfigError, SuiteError

__all__ = ["VectorIndex"]

_FORMAT = 1


class VectorIndex:
    """Ids (int64) -> vectors (float32, ``dimension`` wide); ``search`` returns best first."""

    def __init__(self, dimension: int, factory: str = "Flat", meta: dict | None = None):
        import faiss

        if dimension <= 0:
            raise ConfigError(f"index dimension must be positive, got {dimension}")
        self.dimension = int(dimension)
        self.factory = factory
        self.meta = dict(meta or {})
        try:
            base = faiss.index_factory(self.dimension, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ConfigError(f"faiss cannot build an index from factory string {factory!r}: {exc}") from exc
        self._index = faiss.IndexIDMap2(base)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def _vectors(self, vectors) -> np.ndarray:
        array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != self.dimension:
            raise ConfigError(f"vectors of shape {array.shape} do not fit an index of dimension {self.dimension}; "
                              "was the index built with another embedder? Rebuild it.")
        if not np.isfinite(array).all():
            raise ConfigError("vectors contain NaN or infinity")
        return array

    def add(self, ids, vectors) -> None:
        """Add (or replace) vectors under ``ids``; an id already present is replaced."""
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        array = self._vectors(vectors)
        if len(ids) != len(array):
            raise ConfigError(f"{len(ids)} ids for {len(array)} vectors")
        if len(set(ids.tolist())) != len(ids):
            raise ConfigError("duplicate ids in one add() call")
        if len(ids) == 0:
            return
        self.remove(ids)
        if not self._index.is_trained:
            self._index.train(array)
        self._index.add_with_ids(array, ids)

    def remove(self, ids) -> int:
        """Remove ``ids`` (missing ones are ignored); returns how many were removed."""
        import faiss

        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if len(ids) == 0 or len(self) == 0:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def ids(self) -> np.ndarray:
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def reconstruct(self, item_id: int) -> np.ndarray:
        return self._index.reconstruct(int(item_id))

    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)``, both ``(Q, k')`` with ``k' = min(k, len(self))``, best first."""
        array = self._vectors(queries)
        k = min(int(k), len(self))
        if k <= 0:
            return np.zeros((len(array), 0), np.float32), np.zeros((len(array), 0), np.int64)
        scores, ids = self._index.search(array, k)
        return scores, ids

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (faiss format) and ``path.json`` atomically; returns ``path``."""
        import faiss

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        header = {"format": _FORMAT, "dimension": self.dimension, "factory": self.factory,
                  "count": len(self), "meta": self.meta}
        tmp_header = path.with_name(path.name + ".json.tmp")
        tmp_header.write_text(json.dumps(header, indent=2), encoding="utf-8")
        os.replace(tmp, path)
        os.replace(tmp_header, path.with_name(path.name + ".json"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "VectorIndex":
        """Read an index written by :meth:`save`; a missing or damaged file is a :class:`SuiteError`
        that says so (callers rebuild from their document store)."""
        import faiss

        path = Path(path)
        header_path = path.with_name(path.name + ".json")
        if not path.is_file() or not header_path.is_file():
            raise SuiteError(f"no vector index at {path} (or its header {header_path.name}); build it first")
        try:
            header = json.loads(header_path.read_text(encoding="utf-8"))
            raw = faiss.read_index(str(path))
        except (RuntimeError, ValueError, OSError) as exc:
            raise SuiteError(f"the vector index {path} is damaged ({exc}); delete it and rebuild") from exc
        if header.get("format") != _FORMAT or raw.d != header.get("dimension") or raw.ntotal != header.get("count"):
            raise SuiteError(f"the vector index {path} does not match its header {header_path.name}; "
                             "delete both and rebuild")
        index = cls.__new__(cls)
        index.dimension = int(header["dimension"])
        index.factory = header.get("factory", "Flat")
        index.meta = header.get("meta", {})
        index._index = raw  # read_index returns the concrete class
        if not isinstance(raw, faiss.IndexIDMap2):
            raise SuiteError(f"the vector index {path} was not written by ftsuite; delete it and rebuild")
        return index
