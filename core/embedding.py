"""Sentence embeddings for the apps: an :class:`Embedder` over any sentence-embedding artifact.

A fine-tuned embedder is an artifact written by ``ftsuite train`` (task ``sentence_embedding``).
A pretrained base can serve as one too: :func:`base_embedder_artifact` writes an artifact around
the base's weights without training, so both load, export and run through the same
:func:`core.inference.load_predictor`.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np

from .artifacts import library_versions, model_card, now_utc, read_manifest, staged_artifact, write_manifest
from .basemodels import resolve_base
from .config import ftsuite_home

__all__ = ["Embedder", "base_embedder_artifact"]


def base_embedder_artifact(base: str = "minilm", home: Path | None = None, max_length: int = 128) -> Path:
    """An untrained sentence-embedding artifact around a base model (written once, then reused)."""
    name = Path(base).name if Path(base).is_dir() else base
    target = (home or ftsuite_home()) / "artifacts" / f"embedder-{name}"
    if (target / "manifest.json").is_file():
        return target
    source = Path(resolve_base(base))
    with staged_artifact(target) as stage:
        shutil.copytree(source, stage / "model", ignore=shutil.ignore_patterns("*.onnx", "onnx", "openvino*"))
        manifest = {
            "format_version": 1, "name": f"embedder-{name}", "task": "sentence_embedding", "labels": [],
            "base_model": {"name": base, "path": str(source)}, "max_length": max_length,
            "data": {}, "training": {"strategy": "none (pretrained weights)"}, "metrics": {},
            "versions": library_versions(), "created_at": now_utc(),
        }
        write_manifest(stage, manifest)
        (stage / "README.md").write_text(model_card(manifest), encoding="utf-8")
        (stage / "report.txt").write_text("pretrained embedder: no training, no metrics\n", encoding="utf-8")
    return target


class Embedder:
    """L2-normalised sentence vectors from an artifact; cheap to build, loads on first use."""

    def __init__(self, artifact: str | Path, backend: str = "auto", device: str = "auto",
                 precision: str = "auto", threads: int | None = None):
        self.artifact = Path(artifact)
        self._options = {"backend": backend, "device": device, "precision": precision, "threads": threads}
        self._predictor = None

    @classmethod
    def from_base(cls, base: str = "minilm", **options) -> "Embedder":
        return cls(base_embedder_artifact(base), **options)

    @property
    def predictor(self):
        if self._predictor is None:
            from .inference import load_predictor

            if read_manifest(self.artifact)["task"] != "sentence_embedding":
                from .errors import ConfigError

                raise ConfigError(f"{self.artifact} is not a sentence_embedding artifact")
            self._predictor = load_predictor(self.artifact, **self._options)
        return self._predictor

    @functools.cached_property
    def dimension(self) -> int:
        return int(self.predictor.embed(["dimension probe"]).shape[1])

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """``(N, H)`` float32 unit vectors; an empty list gives ``(0, H)``."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.predictor.embed(texts, batch_size=batch_size)
