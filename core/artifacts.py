"""The artifact folder: ``manifest.json``, ``model/``, ``onnx/``, ``report.txt``, ``README.md``.

Artifacts are written into a hidden staging folder beside the destination and renamed into place
only when complete, so a run killed half way leaves no half artifact behind. Manifest updates
(by the export stage) replace the file atomically.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from .errors import ModelNotFoundError

__all__ = [
    "MANIFEST",
    "staged_artifact",
    "read_manifest",
    "write_manifest",
    "update_manifest",
    "library_versions",
    "model_card",
    "now_utc",
]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("ftsuite", "torch", "transformers", "sentence-transformers", "peft", "scikit-learn",
                 "onnx", "onnxruntime-gpu", "onnxruntime", "faiss-cpu", "gradio"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


@contextlib.contextmanager
def staged_artifact(destination: Path):
    """Yield a staging folder; on success it replaces ``destination`` atomically.

    An existing artifact at ``destination`` is kept until the new one is complete.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.staging-", dir=destination.parent))
    try:
        yield staging
        old = None
        if destination.exists():
            old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
            destination.rename(old)
        staging.rename(destination)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_manifest(artifact: str | os.PathLike) -> dict:
    path = Path(artifact) / MANIFEST
    if not path.is_file():
        raise ModelNotFoundError(
            f"{artifact} is not an ftsuite artifact (no {MANIFEST}). "
            "Fix: pass a folder written by 'ftsuite train', e.g. .ftsuite/artifacts/<name>"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelNotFoundError(f"{path} is corrupt ({exc}). Fix: train the model again") from exc


def write_manifest(artifact: str | os.PathLike, manifest: dict) -> None:
    path = Path(artifact) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def update_manifest(artifact: str | os.PathLike, **changes) -> dict:
    """Merge top-level keys into the manifest and rewrite it (and the model card) atomically."""
    manifest = read_manifest(artifact)
    manifest.update(changes)
    manifest["updated_at"] = now_utc()
    write_manifest(artifact, manifest)
    (Path(artifact) / "README.md").write_text(model_card(manifest), encoding="utf-8")
    return manifest


def _metric_line(name: str, metrics: dict) -> str:
    keys = ("accuracy", "macro_f1", "weighted_f1", "precision", "recall", "f1", "ece",
            "mrr", "accuracy_at_1")
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), (int, float)))
    return f"- {name}: {shown}" if shown else f"- {name}: n/a"


def model_card(manifest: dict) -> str:
    """A model card generated from the manifest alone."""
    data = manifest.get("data", {})
    train = manifest.get("training", {})
    lines = [
        f"# {manifest.get('name', 'model')}",
        "",
        f"Task: **{manifest.get('task')}**, fine-tuned by ftsuite from base `{manifest.get('base_model', {}).get('name')}` "
        f"with strategy `{train.get('strategy')}`.",
        "",
        "## Labels",
        "",
        ", ".join(f"`{l}`" for l in manifest.get("labels", [])) or "(none: embeddings)",
        "",
        "## Data",
        "",
        f"- files: {', '.join(f'{k}: `{v}`' for k, v in data.get('files', {}).items())}",
        f"- sizes: {data.get('sizes')}",
        f"- fingerprint: `{data.get('fingerprint')}`; duplicates dropped: {data.get('duplicates_dropped', 0)}",
        "",
        "## Metrics",
        "",
    ]
    for split, metrics in manifest.get("metrics", {}).items():
        lines.append(_metric_line(split, metrics))
    lines += [
        "",
        "## Training",
        "",
        f"- trainable parameters: {train.get('trainable_parameters')} of {train.get('total_parameters')}",
        f"- wall time: {train.get('wall_seconds')} s; epochs run: {train.get('epochs_run')}",
        f"- hyper-parameters: `{json.dumps(manifest.get('config', {}).get('train', {}), default=str)}`",
    ]
    if train.get("distill"):
        teachers = ", ".join(f"`{t}`" for t in train["distill"]["teachers"])
        lines.append(f"- distilled from: {teachers} (mean probability); "
                     f"unlabelled transfer texts: {train['distill']['transfer_rows']}; perturbed copies of "
                     f"training texts: {train['distill'].get('augmented_rows', 0)}")
    if manifest.get("onnx"):
        lines += ["", "## ONNX", ""]
        for name, info in manifest["onnx"].get("graphs", {}).items():
            lines.append(f"- `{info.get('file')}`: {json.dumps({k: v for k, v in info.items() if k != 'file'}, default=str)}")
    lines += ["", f"Created {manifest.get('created_at')} with {json.dumps(manifest.get('versions', {}))}.", ""]
    return "\n".join(lines)
