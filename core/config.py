"""Typed, self-validating configs for training a task model.

A config file is TOML with the sections of :class:`ExperimentConfig` (``[data]``, ``[model]``,
``[train]``, ``[train.lora]``). Files and ``--set key=value`` overrides are parsed only by
:func:`load_config`, called at entry points; everything else receives dataclasses.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError

__all__ = [
    "TASKS",
    "DataConfig",
    "ModelConfig",
    "LoraConfig",
    "DistillConfig",
    "TrainConfig",
    "ExperimentConfig",
    "load_config",
    "read_toml",
    "from_dict",
    "config_to_dict",
    "ftsuite_home",
    "expand_path",
    "first_artifact",
    "portable_path",
]

TASKS = ("text_classification", "token_classification", "pair_scoring", "sentence_embedding")
FORMATS = ("auto", "csv", "tsv", "jsonl", "fpb", "conll")


def ftsuite_home() -> Path:
    """Where artifacts, indexes, databases and fetched data live (``FTSUITE_HOME``)."""
    return Path(os.environ.get("FTSUITE_HOME", ".ftsuite")).expanduser()


_VAR = re.compile(r"\$\{(\w+)\}")


def expand_path(value: str | os.PathLike | None, base_dir: Path | None = None) -> Path | None:
    """Expand ``${VAR}`` and ``~``; a relative path is taken relative to ``base_dir``."""
    if value is None or value == "":
        return None
    text = str(value)

    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name == "FTSUITE_HOME":
            return str(ftsuite_home().resolve())
        if name not in os.environ:
            hint = " (the shared datasets, e.g. FTSUITE_DATA=../shared/data)" if name == "FTSUITE_DATA" else ""
            raise ConfigError(f"path '{text}' uses ${{{name}}}, which is not set. Fix: export {name}=...{hint}")
        # a relative value (FTSUITE_DATA=../shared/data) means relative to where the user is
        return str(Path(os.environ[name]).expanduser().resolve())

    path = Path(_VAR.sub(sub, text)).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def portable_path(path: str | os.PathLike) -> str:
    """``path`` as it should be stored in a file: ``${FTSUITE_HOME}/...`` when it lies in the home,
    else absolute, so that it still resolves from another working directory or a moved home."""
    resolved = Path(path).expanduser().resolve()
    try:
        return "${FTSUITE_HOME}/" + resolved.relative_to(ftsuite_home().resolve()).as_posix()
    except ValueError:
        return str(resolved)


def first_artifact(value: str | None, base_dir: Path | None = None) -> Path | None:
    """The artifact folder ``value`` names; of ``a|b|...`` the first that holds a manifest, else the last.

    Lets an app prefer a better model when it has been built (``sentiment-news|sentiment-sample``)
    and fall back to what the main job always builds.
    """
    parts = [part.strip() for part in str(value or "").split("|") if part.strip()]
    paths = [expand_path(part, base_dir) for part in parts]
    return next((path for path in paths if (path / "manifest.json").is_file()), paths[-1] if paths else None)


def _check_range(owner: str, name: str, value, low=None, high=None, low_open=False):
    if value is None:
        return
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(f"{owner}.{name} = {value!r} must be {'>' if low_open else '>='} {low}")
    if high is not None and value > high:
        raise ConfigError(f"{owner}.{name} = {value!r} must be <= {high}")


@dataclass
class DataConfig:
    """Where the examples come from and how they are split."""

    train: str | list[str] = field(default="", metadata={"help": "training file(s): CSV, TSV, JSONL, FPB txt, CoNLL"})
    validation: str = field(default="", metadata={"help": "optional validation file; else carved from train"})
    test: str = field(default="", metadata={"help": "optional test file; else carved from train"})
    format: str = field(default="auto", metadata={"help": "auto (by extension), csv, tsv, jsonl, fpb, conll"})
    text_column: str = "text"
    text_pair_column: str = field(default="", metadata={"help": "second text for pair scoring / embeddings"})
    negative_column: str = field(default="", metadata={
        "help": "sentence_embedding: a hard negative second text per row, trained on beside the in-batch negatives"})
    label_column: str = "label"
    labels: list[str] = field(default_factory=list, metadata={"help": "allowed labels, in order; else inferred"})
    label_map: dict[str, str] = field(default_factory=dict, metadata={"help": "rename raw labels, e.g. {'0'='negative'}"})
    test_size: float = 0.2
    validation_size: float = 0.1
    seed: int = 42
    duplicates: str = field(default="drop", metadata={"help": "drop (keep the first), error, keep"})
    leakage: str = field(default="error", metadata={"help": "a text in two splits: error, or drop it from "
                                                            "the earlier split (train, then validation)"})
    exclude: list[str] = field(default_factory=list, metadata={"help": "files whose texts must not be trained on"})
    exclude_test_parts: list[str] = field(default_factory=list, metadata={
        "help": "files whose protocol test part (de-duplicated, stratified 80/20 with data.seed) must not be "
                "trained on: keeps every benchmark test sentence out of a model trained on several sources"})
    max_examples: int = field(default=0, metadata={"help": "use only the first N training examples (0 = all)"})
    extra_train: list[str] = field(default_factory=list, metadata={
        "help": "files added to the training split only, after the splits are carved (re-training on new data: "
                "an analyst's corrections, a company's history): the splits stay those of train, a text of a "
                "held-out split is dropped from them, and their label replaces train's for the same text"})
    fetch: str = field(default="", metadata={"help": "dataset to fetch first when missing (banking77, ml-100k)"})

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ConfigError(f"data.format = {self.format!r}; expected one of {', '.join(FORMATS)}")
        if self.duplicates not in ("drop", "error", "keep"):
            raise ConfigError(f"data.duplicates = {self.duplicates!r}; expected drop, error or keep")
        if self.leakage not in ("error", "drop"):
            raise ConfigError(f"data.leakage = {self.leakage!r}; expected error or drop")
        _check_range("data", "test_size", self.test_size, 0.0, 0.9)
        _check_range("data", "validation_size", self.validation_size, 0.0, 0.9)
        _check_range("data", "max_examples", self.max_examples, 0)
        if self.test_size + self.validation_size >= 1.0:
            raise ConfigError("data.test_size + data.validation_size must be below 1.0")


@dataclass
class ModelConfig:
    """The pretrained base and the shape of the task model."""

    base: str = field(default="minilm", metadata={"help": "minilm, mpnet, or a local Hugging Face folder"})
    max_length: int = 128
    dropout: float | None = field(default=None, metadata={"help": "override hidden/attention dropout"})
    allow_download: bool = field(default=False, metadata={"help": "allow a hub download of the base"})
    case_markers: bool = field(default=False, metadata={
        "help": "mark capitalised words with added tokens (gives an uncased base the case cue)"})

    def __post_init__(self):
        if not self.base:
            raise ConfigError("model.base is empty; use minilm, mpnet or a local model folder")
        _check_range("model", "max_length", self.max_length, 8, 4096)
        _check_range("model", "dropout", self.dropout, 0.0, 0.9)


@dataclass
class LoraConfig:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])

    def __post_init__(self):
        _check_range("train.lora", "r", self.r, 1)
        _check_range("train.lora", "alpha", self.alpha, 1)
        _check_range("train.lora", "dropout", self.dropout, 0.0, 0.9)
        if not self.target_modules:
            raise ConfigError("train.lora.target_modules is empty; e.g. ['query', 'value']")


def _one_or_more_names(value) -> bool:
    """A string (possibly empty: unset), or a non-empty list of non-empty strings."""
    return isinstance(value, str) or (isinstance(value, list) and bool(value)
                                      and all(isinstance(v, str) and v for v in value))


@dataclass
class DistillConfig:
    """Knowledge distillation: the student also matches fine-tuned teachers' softened probabilities.

    Loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy on the gold labels
    (Hinton et al. 2015). Each teacher is an artifact of the same task and labels, trained on the same
    data and splits (its fingerprint must match), so no test sentence reaches the student through it.
    Several teachers act as one ensemble: their probabilities are averaged. ``transfer`` names files of
    unlabelled texts (one per line, JSONL / CSV with a ``text`` field, or CoNLL sentences) that the
    teachers label for the student; those rows carry only the teacher term, and repeats and texts
    already in the data (above all validation and test texts) are dropped. ``augment`` = N adds N
    perturbed copies of each training text (words dropped, swapped or replaced by words of other
    training texts), also labelled by the teachers only: more points near the teacher's decision
    boundary, from the training data's own domain (the augmentation of TinyBERT, Jiao et al. 2020,
    without its MLM substitutions).
    """

    teacher: Any = field(default="", metadata={"help": "teacher artifact folder, or a list of them (an "
                                                       "ensemble); empty = no distillation"})
    alpha: float = field(default=0.5, metadata={"help": "weight of the teacher term (0..1)"})
    temperature: float = field(default=2.0, metadata={"help": "softens both distributions"})
    transfer: Any = field(default="", metadata={"help": "file(s) of unlabelled texts the teachers label for "
                                                        "the student"})
    augment: int = field(default=0, metadata={"help": "perturbed copies of each training text the teachers "
                                                      "label for the student (0 = none)"})

    def __post_init__(self):
        _check_range("train.distill", "alpha", self.alpha, 0.0, 1.0)
        _check_range("train.distill", "temperature", self.temperature, 0.0, 20.0, low_open=True)
        if not _one_or_more_names(self.teacher):
            raise ConfigError("train.distill.teacher must be an artifact folder or a non-empty list of them")
        if not _one_or_more_names(self.transfer):
            raise ConfigError("train.distill.transfer must be a file or a non-empty list of files")
        if self.transfer and not self.teacher:
            raise ConfigError("train.distill.transfer needs a teacher to label its texts; set train.distill.teacher")
        _check_range("train.distill", "augment", self.augment, 0, 20)
        if self.augment and not self.teacher:
            raise ConfigError("train.distill.augment needs a teacher to label the copies; set train.distill.teacher")

    @property
    def teachers(self) -> list[str]:
        return [self.teacher] if isinstance(self.teacher, str) else list(self.teacher)

    @property
    def transfers(self) -> list[str]:
        if isinstance(self.transfer, str):
            return [self.transfer] if self.transfer else []
        return list(self.transfer)

    @property
    def enabled(self) -> bool:
        return bool(self.teacher)


STRATEGIES = ("full", "lora", "top_layers")
SCHEDULERS = ("linear", "cosine", "constant_with_warmup")


@dataclass
class TrainConfig:
    """Optimisation: AdamW with warm-up, a strategy for which weights move, and early stopping."""

    strategy: str = field(default="full", metadata={"help": "full, lora or top_layers"})
    top_layers: int = field(default=2, metadata={"help": "layers left trainable under top_layers"})
    lora: LoraConfig = field(default_factory=LoraConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    epochs: float = 3.0
    max_steps: int = field(default=-1, metadata={"help": "stop after N optimizer steps (-1 = epochs decide)"})
    learning_rate: float = 5e-5
    head_learning_rate: float | None = field(default=None, metadata={"help": "learning rate of the task head"})
    layerwise_lr_decay: float = field(default=1.0, metadata={"help": "lr x decay^(depth from top); 1 = off"})
    batch_size: int = 32
    eval_batch_size: int = 64
    gradient_accumulation: int = 1
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    scheduler: str = "linear"
    class_weights: Any = field(default="none", metadata={"help": "none, balanced, or {label = weight}"})
    label_smoothing: float = 0.0
    early_stopping_patience: int = field(default=0, metadata={"help": "evaluations without gain; 0 = off"})
    metric: str = field(default="macro_f1", metadata={"help": "validation metric that picks the best checkpoint"})
    eval_every: int = field(default=0, metadata={"help": "evaluate every N steps; 0 = once per epoch"})
    seed: int = 42
    group_by_length: bool = field(default=True, metadata={"help": "batch examples of similar length together "
                                                                 "(less padding, faster on short texts)"})
    precision: str = field(default="auto", metadata={"help": "auto (bf16/fp16 on GPU), fp32, fp16, bf16"})
    resume: bool = False
    progress: bool = True

    def __post_init__(self):
        if isinstance(self.lora, dict):
            self.lora = from_dict(LoraConfig, self.lora, "train.lora")
        if isinstance(self.distill, dict):
            self.distill = from_dict(DistillConfig, self.distill, "train.distill")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"train.strategy = {self.strategy!r}; expected one of {', '.join(STRATEGIES)}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"train.scheduler = {self.scheduler!r}; expected one of {', '.join(SCHEDULERS)}")
        if self.precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ConfigError(f"train.precision = {self.precision!r}; expected auto, fp32, fp16 or bf16")
        if not (isinstance(self.class_weights, dict) or self.class_weights in ("none", "balanced")):
            raise ConfigError("train.class_weights must be 'none', 'balanced' or a table {label = weight}")
        _check_range("train", "epochs", self.epochs, 0.0, low_open=True)
        _check_range("train", "learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        _check_range("train", "head_learning_rate", self.head_learning_rate, 0.0, 1.0, low_open=True)
        _check_range("train", "layerwise_lr_decay", self.layerwise_lr_decay, 0.0, 1.0, low_open=True)
        _check_range("train", "batch_size", self.batch_size, 1)
        _check_range("train", "eval_batch_size", self.eval_batch_size, 1)
        _check_range("train", "gradient_accumulation", self.gradient_accumulation, 1)
        _check_range("train", "weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("train", "warmup_ratio", self.warmup_ratio, 0.0, 0.5)
        _check_range("train", "label_smoothing", self.label_smoothing, 0.0, 0.5)
        _check_range("train", "early_stopping_patience", self.early_stopping_patience, 0)
        _check_range("train", "top_layers", self.top_layers, 0)
        _check_range("train", "eval_every", self.eval_every, 0)


@dataclass
class ExperimentConfig:
    """One task model: what it does, from which data, on which base, trained how."""

    name: str = "model"
    task: str = "text_classification"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: str = field(default="", metadata={"help": "artifact folder; default FTSUITE_HOME/artifacts/<name>"})
    base_dir: str = field(default="", metadata={"help": "folder relative data paths start from (set by load_config)"})

    def __post_init__(self):
        for name, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, from_dict(cls, value, name))
        if self.task not in TASKS:
            raise ConfigError(f"task = {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.model.case_markers and self.task == "sentence_embedding":
            raise ConfigError("model.case_markers is for classification and pair scoring; the sentence "
                              "embedder is trained by sentence-transformers on its own tokenizer: remove it")
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.name):
            raise ConfigError(f"name = {self.name!r}: use letters, digits, '.', '-' and '_' only")

    def path(self, value: str) -> Path | None:
        return expand_path(value, Path(self.base_dir) if self.base_dir else None)

    def output_dir(self) -> Path:
        return self.path(self.output) or ftsuite_home() / "artifacts" / self.name


def from_dict(cls, values: dict, where: str):
    """Build a config dataclass from a table; an unknown key is an error naming the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(repr(k) for k in unknown)} in [{where}]; "
            f"known keys: {', '.join(sorted(known))}"
        )
    try:
        return cls(**values)
    except TypeError as exc:  # pragma: no cover - defensive
        raise ConfigError(f"[{where}]: {exc}") from exc


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_override(tree: dict, assignment: str):
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. train.epochs=5")
    key, value = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment!r}: '{part}' is not a section")
    node[parts[-1]] = _parse_value(value.strip())


def read_toml(path: str | os.PathLike) -> dict:
    """Parse a TOML file; a missing or malformed file is a ConfigError that names it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found. Fix: pass one of the files in configs/")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc


# the tables that `extends` merges key by key; any other value (a list, label_map) is replaced whole
_SECTIONS = {"data", "model", "train", "train.lora", "train.distill"}


def _merge(base: dict, over: dict, prefix: str = "") -> dict:
    out = dict(base)
    for key, value in over.items():
        name = prefix + key
        if name in _SECTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, name + ".")
        else:
            out[key] = value
    return out


def _read_recipe(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A recipe's tree. ``extends = "other.toml"`` (next to this file) starts from that recipe and
    overrides it section by section, so variants of one recipe (a teacher, a distilled student) share
    its [data] table instead of copying it; the variant must have its own ``name``."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'extends' comes back to this file ({' -> '.join(p.name for p in seen)})")
    tree = read_toml(path)
    parent = tree.pop("extends", None)
    if parent is None:
        return tree
    if not isinstance(parent, str) or not parent.strip():
        raise ConfigError(f"{path}: extends = {parent!r}; expected another config file, e.g. "
                          'extends = "sentiment-news.toml"')
    if "name" not in tree:
        raise ConfigError(f"{path}: a config that extends {parent} needs its own name = ..., or it would "
                          "build over that recipe's artifact")
    return _merge(_read_recipe(path.parent / parent, (*seen, path)), tree)


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a TOML config (following ``extends``), apply ``key=value`` overrides and validate everything."""
    tree: dict = {}
    base_dir = Path.cwd()
    if path is not None:
        tree = _read_recipe(Path(path))
        base_dir = Path(path).resolve().parent
    for assignment in overrides or []:
        _apply_override(tree, assignment)
    tree.setdefault("base_dir", str(base_dir))
    return from_dict(ExperimentConfig, tree, "top level")


def experiment_from_manifest(manifest: dict) -> ExperimentConfig:
    """The recipe an artifact was trained with (its manifest's ``config``), with relative data paths
    anchored again: the manifest keeps each data path as written and as resolved, and the folder
    they started from is what the resolved path adds in front. Keys this version does not know are
    left out."""
    import copy

    tree = copy.deepcopy(manifest.get("config") or {})
    if not tree:
        raise ConfigError("the artifact's manifest has no 'config' (trained by an old ftsuite). "
                          "Fix: train it again with 'ftsuite train CONFIG'")
    for name, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        known = {f.name for f in dataclasses.fields(cls)}
        tree[name] = {k: v for k, v in (tree.get(name) or {}).items() if k in known}
    known = {f.name for f in dataclasses.fields(ExperimentConfig)}
    tree = {k: v for k, v in tree.items() if k in known}
    written = tree["data"].get("train") or []
    written = [written] if isinstance(written, str) else list(written)
    files = str((manifest.get("data") or {}).get("files", {}).get("train", ""))
    resolved = files.split(", ") if len(written) > 1 else [files]
    for as_written, as_resolved in zip(written, resolved):
        if as_written and "${" not in as_written and not Path(as_written).is_absolute() \
                and as_resolved.endswith(as_written):
            tree["base_dir"] = as_resolved[: len(as_resolved) - len(as_written)] or "."
            break
    return from_dict(ExperimentConfig, tree, "the artifact's recipe")


def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)
