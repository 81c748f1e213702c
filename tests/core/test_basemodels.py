import io
import zipfile

import pytest

from core.basemodels import _assemble_split_zip, available_bases, resolve_base
from core.errors import ModelNotFoundError


def test_minilm_comes_from_its_pip_package():
    path = resolve_base("minilm")
    assert path.endswith("model") and available_bases()["minilm"] == path


def test_missing_mpnet_prints_the_command(monkeypatch, tmp_path):
    monkeypatch.setenv("FTSUITE_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="ftsuite models fetch mpnet"):
        resolve_base("mpnet")


def test_unknown_name_needs_allow_download(tmp_path):
    with pytest.raises(ModelNotFoundError, match="--allow-download"):
        resolve_base("bert-base-uncased")
    assert resolve_base("bert-base-uncased", allow_download=True) == "bert-base-uncased"
    with pytest.raises(ModelNotFoundError, match="config.json"):
        resolve_base(str(tmp_path))


def test_split_zip_is_joined_in_order(tmp_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        zf.writestr("all-mpnet-base-v2/vocab.txt", "a\n" * 5000)
    data = archive.getvalue()
    third = len(data) // 3
    wheels = []
    for i, chunk in enumerate([data[:third], data[third:2 * third], data[2 * third:]], start=1):
        wheel = tmp_path / f"part_{i:03d}.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"pkg_{i}/__init__.py", "")
            zf.writestr(f"pkg_{i}/input/model.zip.{i:03d}", chunk)
            zf.writestr(f"pkg_{i}-0.0.1.dist-info/METADATA", "x")
        wheels.append(wheel)
    target = tmp_path / "models" / "mpnet"
    _assemble_split_zip(list(reversed(wheels)), tmp_path / "work", target)
    assert (target / "config.json").read_text() == '{"model_type": "mpnet"}'
