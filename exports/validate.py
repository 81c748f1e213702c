"""Validation of exported graphs against the torch model they came from.

Every graph runs on the artifact's own validation and test texts (the splits are rebuilt from the
data files recorded in the manifest) next to the torch model. fp32 and fp16 graphs are judged by
the largest absolute difference of each output; int8 graphs by their agreement with torch and the
drop of the test metric, since quantization moves logits by design. A graph over its tolerance
raises :class:`core.errors.ExportMismatchError` that lists each output, its shape and its largest
difference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.config import DataConfig, expand_path
from core.data import Examples, load_examples
from core.errors import ExportMismatchError, SuiteError
from core.evaluation import evaluate_predictor
from core.inference import INT8_MIN_AGREEMENT, ONNX_FILES, PROBE_TEXTS, OnnxPredictor

__all__ = [
    "Tolerance",
    "TOLERANCES",
    "tolerance_for",
    "PROBE_TEXTS",
    "ReferenceData",
    "reference_data",
    "encode_batches",
    "compare",
    "Comparison",
    "check_comparison",
    "StagedOnnxPredictor",
    "score",
    "runtime_agreement",
    "PRIMARY_METRIC",
]

log = logging.getLogger("ftsuite.exports")

# What each task's test metric is judged on (the figure a user reads first).
PRIMARY_METRIC = {"text_classification": "accuracy", "pair_scoring": "accuracy",
                  "token_classification": "f1", "sentence_embedding": "mrr"}
_SUMMARY_KEYS = ("accuracy", "macro_f1", "weighted_f1", "precision", "recall", "f1", "token_accuracy",
                 "mrr", "accuracy_at_1", "support")

@dataclass(frozen=True)
class Tolerance:
    """How far a graph may drift from torch.

    ``atol``: largest absolute difference of an output (None: not judged by it).
    ``min_agreement``: share of predictions equal to torch's (labels, tags), or the mean cosine
    similarity of torch and ONNX embeddings. ``max_metric_drop``: test-metric loss allowed
    (0.02 = 2 points).
    """

    atol: float | None = None
    min_agreement: float | None = None
    max_metric_drop: float | None = None


TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-4),
    "fp16": Tolerance(atol=5e-2, min_agreement=0.98),
    "int8": Tolerance(min_agreement=INT8_MIN_AGREEMENT, max_metric_drop=0.02),
}


def tolerance_for(task: str, precision: str, overrides: dict[str, Tolerance] | None = None) -> Tolerance:
    if overrides and precision in overrides:
        return overrides[precision]
    tol = TOLERANCES[precision]
    if task == "sentence_embedding" and precision == "fp16":
        tol = replace(tol, atol=1e-2)  # unit vectors: components are small
    return tol


# ------------------------------------------------------------------ reference data


@dataclass
class ReferenceData:
    """Texts that every graph is checked on, and the labelled split its metrics come from."""

    parity: Examples
    test: Examples | None
    source: str
    test_split: str = ""
    note: str = ""
    calibration: Examples | None = None  # training texts for static int8; None without the data


def _spread(examples: Examples, limit: int) -> Examples:
    """At most ``limit`` examples, evenly spread over the split rather than its first ones."""
    if len(examples) <= limit:
        return examples
    step = len(examples) / limit
    return examples.subset(sorted({int(i * step) for i in range(limit)}))


def _sides(examples: Examples) -> Examples:
    """Both sides of each pair as texts of their own: what an embedding graph is run on."""
    sides = list(examples.texts) + list(examples.pairs or [])
    return Examples(sides, [None] * len(sides), None)


def reference_data(artifact: Path, manifest: dict, limit: int = 256, metric_limit: int = 2000,
                   calibration_limit: int = 256) -> ReferenceData:
    """The artifact's validation and test splits, rebuilt exactly as training split them.

    The manifest holds the config (with paths relative to its TOML file) and the resolved data
    files; the config's own base folder is recovered from the pair. When the files are gone, a
    few built-in probe sentences still check parity, and the result says so.
    """
    task = manifest["task"]
    try:
        splits = _rebuild_splits(manifest)
    except (SuiteError, OSError, KeyError, TypeError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        texts = PROBE_TEXTS
        pairs = PROBE_TEXTS[1:] + PROBE_TEXTS[:1] if task == "pair_scoring" else None
        parity = Examples(list(texts), [None] * len(texts), pairs)
        return ReferenceData(parity, None, source=f"{len(texts)} built-in probe sentences",
                             note=f"training data not found ({reason}); no test metrics")
    note = ""
    fingerprint = manifest.get("data", {}).get("fingerprint")
    rebuilt = _fingerprint(splits)
    if fingerprint and rebuilt != fingerprint:
        note = (f"the data files changed since training (fingerprint {rebuilt} != {fingerprint}); "
                "torch and ONNX are still compared on the same texts")
    held_out = [splits[k] for k in ("validation", "test") if k in splits] or [splits["train"]]
    parity = held_out[0]
    for extra in held_out[1:]:
        parity = parity.concat(extra)
    calibration = splits["train"]
    if task == "sentence_embedding":  # both sides of a pair are texts to embed, each on its own
        parity, calibration = _sides(parity), _sides(calibration)
    parity = _spread(parity, limit)
    test_split = "test" if "test" in splits else ("validation" if "validation" in splits else "")
    test = splits.get(test_split) if test_split else None
    if test is not None and len(test) > metric_limit:
        test = test.subset(range(metric_limit))
        note = (note + "; " if note else "") + f"test metrics on the first {metric_limit} {test_split} examples"
    names = "+".join(k for k in ("validation", "test") if k in splits) or "train"
    return ReferenceData(parity, test, source=f"{len(parity)} {names} texts of the training data",
                         test_split=test_split, note=note, calibration=_spread(calibration, calibration_limit))


def _rebuild_splits(manifest: dict) -> dict[str, Examples]:
    cfg = dict(manifest["config"]["data"])
    cfg["fetch"] = ""  # never download anything during an export
    config = DataConfig(**{k: v for k, v in cfg.items() if k in DataConfig.__dataclass_fields__})
    files = manifest["data"]["files"]
    # several training files are recorded as one ", "-joined string, in the config's order
    written = config.train if isinstance(config.train, list) else [config.train]
    resolved = str(files["train"]).split(", ") if len(written) > 1 else [str(files["train"])]
    known = dict(zip(written, map(Path, resolved))) if len(written) == len(resolved) else {}
    known.update({getattr(config, k): Path(v) for k, v in files.items()
                  if k != "train" and isinstance(getattr(config, k, ""), str) and getattr(config, k, "")})
    # the config's folder: the resolved train path ends with the path written in the config
    base_dir = None
    first, first_file = (written[0], resolved[0]) if written and resolved else ("", "")
    if first and not Path(first).is_absolute() and first_file.endswith(first):
        base_dir = Path(first_file[: len(first_file) - len(first)] or ".")

    def resolve(value):
        if value in known:
            return known[value]
        path = expand_path(value, base_dir)
        if path is None:
            raise SuiteError(f"cannot resolve data path {value!r}")
        return path

    splits, _ = load_examples(config, manifest["task"], resolve=resolve,
                              labels=manifest.get("labels") or None)
    return splits


def _fingerprint(splits) -> str:
    from core.data import fingerprint

    return fingerprint(splits)


# ------------------------------------------------------------------ running and comparing


def encode_batches(kind, tokenizer, examples: Examples, max_length: int, input_names: list[str],
                   batch_size: int = 16) -> list[dict[str, np.ndarray]]:
    """Padded int64 batches in input order, so that mixed lengths exercise the attention mask."""
    encoding = kind.tokenize(tokenizer, examples.texts, examples.pairs, max_length)
    batches = []
    for start in range(0, len(examples), batch_size):
        rows = range(start, min(start + batch_size, len(examples)))
        features = [{k: encoding[k][i] for k in input_names} for i in rows]
        padded = tokenizer.pad(features, return_tensors="np")
        batches.append({k: np.asarray(padded[k], dtype=np.int64) for k in input_names})
    return batches


@dataclass
class Comparison:
    """Torch vs one graph on the reference texts."""

    output: str
    shape: tuple
    max_abs_diff: float
    mean_abs_diff: float
    agreement: float
    agreement_measure: str
    worst_text: int


def compare(task: str, output_name: str, reference: list[np.ndarray], candidate: list[np.ndarray],
            batches: list[dict[str, np.ndarray]]) -> Comparison:
    """Largest and mean absolute difference over real tokens, and agreement of the decisions."""
    means, agree, total, worst, worst_text, offset = [], 0.0, 0, -1.0, 0, 0
    rows = 0
    width = None
    for ref, out, batch in zip(reference, candidate, batches):
        ref = np.asarray(ref, dtype=np.float64)
        out = np.asarray(out, dtype=np.float64)
        if ref.shape != out.shape:
            raise ExportMismatchError(f"output {output_name}: torch gives shape {ref.shape}, the graph "
                                      f"{out.shape}. Fix: export again; if it persists, report the model type")
        if ref.ndim == 3:  # (B, T, C): only positions of real tokens count
            mask = batch["attention_mask"].astype(bool)  # (B, T)
            diff = np.abs(ref - out).max(axis=-1) * mask  # (B, T)
            per_text = diff.max(axis=1)
            means.append(float((np.abs(ref - out).mean(axis=-1) * mask).sum() / max(mask.sum(), 1)))
            agree += float(((ref.argmax(-1) == out.argmax(-1)) & mask).sum())
            total += int(mask.sum())
            measure = "tag agreement (argmax per token)"
        else:  # (B, C) logits or (B, H) embeddings
            diff = np.abs(ref - out)
            per_text = diff.max(axis=1)
            means.append(float(diff.mean()))
            if task == "sentence_embedding":
                cos = (ref * out).sum(-1) / np.maximum(np.linalg.norm(ref, axis=-1) * np.linalg.norm(out, axis=-1),
                                                       1e-12)
                agree += float(cos.sum())
                measure = "mean cosine similarity of the embeddings"
            else:
                agree += float((ref.argmax(-1) == out.argmax(-1)).sum())
                measure = "label agreement (argmax)"
            total += len(ref)
        if per_text.size and per_text.max() > worst:
            worst = float(per_text.max())
            worst_text = offset + int(per_text.argmax())
        offset += len(ref)
        rows += len(ref)
        width = ref.shape[-1]
    shape = (rows, "T", width) if reference and np.asarray(reference[0]).ndim == 3 else (rows, width)
    return Comparison(output_name, shape, max(worst, 0.0), float(np.mean(means)) if means else 0.0,
                      agree / max(total, 1), measure, worst_text)


def check_comparison(label: str, comparisons: list[Comparison], tolerance: Tolerance, texts,
                     metric_drop: float | None = None, metric_name: str = "",
                     test_agreement: float | None = None) -> None:
    """Raise ExportMismatchError naming every output that is over its tolerance.

    ``test_agreement``: agreement on the test split through the runtime (length bucketing,
    batches of 32), judged by ``min_agreement`` too: dynamic int8 quantizes activations per
    batch, so a graph's outputs depend a little on which texts share its batch.
    """
    problems = []
    for c in comparisons:
        over_atol = tolerance.atol is not None and not c.max_abs_diff <= tolerance.atol  # NaN fails too
        low_agreement = tolerance.min_agreement is not None and c.agreement < tolerance.min_agreement
        if over_atol or low_agreement:
            text = texts[c.worst_text] if c.worst_text < len(texts) else ""
            text = " ".join(text) if isinstance(text, list) else str(text)
            problems.append(
                f"  {c.output}: shape {c.shape}, largest |difference| {c.max_abs_diff:.3g}"
                + (f" (tolerance {tolerance.atol:g})" if tolerance.atol is not None else "")
                + f", {c.agreement_measure} {c.agreement:.4f}"
                + (f" (at least {tolerance.min_agreement:g})" if tolerance.min_agreement is not None else "")
                + f"; worst on text {c.worst_text}: {text[:80]!r}"
            )
    if (test_agreement is not None and tolerance.min_agreement is not None
            and test_agreement < tolerance.min_agreement):
        problems.append(f"  test-split agreement through the runtime {test_agreement:.4f} "
                        f"(at least {tolerance.min_agreement:g})")
    if metric_drop is not None and tolerance.max_metric_drop is not None and metric_drop > tolerance.max_metric_drop:
        problems.append(f"  test {metric_name} drops by {metric_drop * 100:.2f} points "
                        f"(at most {tolerance.max_metric_drop * 100:.2f} allowed)")
    if problems:
        outputs = ", ".join(f"{c.output} {c.shape} max |diff| {c.max_abs_diff:.3g}" for c in comparisons)
        raise ExportMismatchError(
            f"{label} disagrees with the torch model beyond its tolerance ({outputs}):\n" + "\n".join(problems)
            + "\nNothing was written. Fix: export again with --no-optimize (rules out the graph optimizer); "
              "for int8, export without --int8 (the fp32 graph is exact) or train the model further; "
              "if fp32 itself fails, report the model type and opset"
        )


class StagedOnnxPredictor(OnnxPredictor):
    """The runtime's own ONNX predictor, reading graphs from a staging folder before they are
    moved into ``ARTIFACT/onnx``: metrics are computed through exactly the code users run."""

    def __init__(self, artifact, manifest, folder: Path, precision: str, device: str = "cpu",
                 session_options: dict[str, str] | None = None):
        self._folder = Path(folder)
        super().__init__(artifact, manifest, device=device, precision=precision,
                         session_options=session_options or {}, check_cpu=False)

    def _file(self, precision: str) -> Path:
        return self._folder / ONNX_FILES[precision]


class _Recorder:
    """Passes calls to a predictor and keeps what it returned (the predictions behind a metric)."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.task = predictor.task
        self.labels = predictor.labels
        self.outputs: list = []

    def predict(self, *args, **kwargs):
        out = self.predictor.predict(*args, **kwargs)
        self.outputs.append(out)
        return out

    def embed(self, *args, **kwargs):
        out = self.predictor.embed(*args, **kwargs)
        self.outputs.append(out)
        return out


def score(predictor, examples: Examples | None) -> tuple[dict | None, list]:
    """The headline test metrics of a predictor (no per-class tables) and its raw predictions."""
    if examples is None or not len(examples):
        return None, []
    recorder = _Recorder(predictor)
    metrics = evaluate_predictor(recorder, examples)
    summary = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items() if k in _SUMMARY_KEYS}
    return summary, recorder.outputs


def runtime_agreement(task: str, reference: list, candidate: list) -> float | None:
    """Agreement of two predictors' outputs from :func:`score` (the runtime path: bucketing,
    batches of 32): equal labels, equal tags per word, or the mean cosine of embeddings."""
    if not reference or len(reference) != len(candidate):
        return None
    if task == "sentence_embedding":
        a = np.concatenate([np.asarray(x, dtype=np.float64) for x in reference])
        b = np.concatenate([np.asarray(x, dtype=np.float64) for x in candidate])
        cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
        return round(float(cos.mean()), 6)
    key = "tags" if task == "token_classification" else "label"
    same = total = 0
    for ref_call, cand_call in zip(reference, candidate):
        for r, c in zip(ref_call, cand_call):
            if key == "tags":
                same += sum(x == y for x, y in zip(r["tags"], c["tags"]))
                total += len(r["tags"])
            else:
                same += r["label"] == c["label"]
                total += 1
    return round(same / total, 6) if total else None
