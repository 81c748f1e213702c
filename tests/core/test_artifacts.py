import json

import pytest

from core.artifacts import model_card, read_manifest, staged_artifact, update_manifest, write_manifest
from core.errors import ModelNotFoundError


def test_failed_write_leaves_nothing_and_keeps_the_old_artifact(tmp_path):
    dest = tmp_path / "a"
    with staged_artifact(dest) as stage:
        write_manifest(stage, {"name": "old", "task": "text_classification"})
    with pytest.raises(RuntimeError):
        with staged_artifact(dest) as stage:
            write_manifest(stage, {"name": "new"})
            raise RuntimeError("killed half way")
    assert read_manifest(dest)["name"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no staging folder left behind


def test_successful_write_replaces(tmp_path):
    dest = tmp_path / "a"
    for name in ("one", "two"):
        with staged_artifact(dest) as stage:
            write_manifest(stage, {"name": name})
    assert read_manifest(dest)["name"] == "two"


def test_update_manifest_merges_and_rewrites_card(tmp_path):
    with staged_artifact(tmp_path / "a") as stage:
        write_manifest(stage, {"name": "m", "task": "text_classification", "labels": ["x", "y"],
                               "metrics": {"test": {"accuracy": 0.5}}})
    manifest = update_manifest(tmp_path / "a", onnx={"opset": 17, "graphs": {}})
    assert manifest["onnx"]["opset"] == 17
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["name"] == "m"
    assert "accuracy 0.5000" in (tmp_path / "a" / "README.md").read_text()


def test_missing_or_corrupt_manifest(tmp_path):
    with pytest.raises(ModelNotFoundError, match="ftsuite train"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ModelNotFoundError, match="corrupt"):
        read_manifest(tmp_path)


def test_model_card_renders_without_optional_fields():
    assert "# x" in model_card({"name": "x"})
