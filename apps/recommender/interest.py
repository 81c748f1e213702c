"""Item text vectors and the interest model: a sentence embedder fine-tuned by the core on
(the user's recent history as text, the next liked item's text) pairs.

Both the frozen base (``minilm``) and the fine-tuned interest model are
:class:`core.embedding.Embedder` artifacts (ONNX int8 once exported, torch otherwise). Item vectors
are computed once per catalogue and cached under FTSUITE_HOME (npy, keyed by a hash of the texts
and the artifact).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from core.config import ftsuite_home
from core.embedding import Embedder

from .data import Catalogue

__all__ = ["short_text", "history_text", "encode_cached", "item_vectors", "InterestModel", "HISTORY_ITEMS"]

HISTORY_ITEMS = 5


def short_text(catalogue: Catalogue, i: int) -> str:
    """An item in a history: ``Title (year) [genres]`` (short, so that five fit in 128 tokens)."""
    genres = ", ".join(catalogue.genres[i][:3])
    return f"{catalogue.label(i)} [{genres}]" if genres else catalogue.label(i)


def history_text(catalogue: Catalogue, items, n: int = HISTORY_ITEMS) -> str:
    """The last ``n`` liked items, most recent first: what the interest model reads about a user."""
    recent = list(items)[-n:][::-1]
    return "liked: " + "; ".join(short_text(catalogue, int(i)) for i in recent)


def encode_cached(embedder: Embedder, texts: list[str], cache_dir: Path | None = None) -> np.ndarray:
    """``(N, H)`` unit vectors, cached under ``cache_dir`` by a hash of the texts and the artifact."""
    cache_dir = cache_dir or ftsuite_home() / "recommender" / "cache"
    digest = hashlib.sha256()
    digest.update(str(Path(embedder.artifact).resolve()).encode())
    manifest = Path(embedder.artifact) / "manifest.json"
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    # the graph that serves here too: an int8 graph that failed its check on this CPU serves fp32
    digest.update(f"{embedder.predictor.backend}/{embedder.predictor.precision}".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "replace") + b"\0")
    path = cache_dir / f"{digest.hexdigest()[:24]}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape[0] == len(texts):
            return vectors
    vectors = embedder.encode(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors


def item_vectors(catalogue: Catalogue, embedder: Embedder, cache_dir: Path | None = None) -> np.ndarray:
    return encode_cached(embedder, catalogue.texts(), cache_dir)


class InterestModel:
    """User history text and item text in one space (cosine = interest)."""

    def __init__(self, artifact: str | Path, backend: str = "auto"):
        self.artifact = Path(artifact)
        self.embedder = Embedder(self.artifact, backend=backend)

    def item_vectors(self, catalogue: Catalogue, cache_dir: Path | None = None) -> np.ndarray:
        return item_vectors(catalogue, self.embedder, cache_dir)

    def user_vectors(self, catalogue: Catalogue, histories: dict, cache_dir: Path | None = None) -> dict:
        """``{user: vector}`` from ``{user: (items, times)}`` (the last items of each history)."""
        users = sorted(u for u, (items, _) in histories.items() if len(items))
        if not users:
            return {}
        vectors = encode_cached(self.embedder, [history_text(catalogue, histories[u][0]) for u in users], cache_dir)
        return dict(zip(users, vectors))

    def encode_query(self, text: str) -> np.ndarray:
        return self.embedder.encode([text])[0]
