"""``export_artifact``: torch -> ONNX (fp32, optimized), int8 and fp16 variants, each validated.

Steps (each graph is checked against torch before anything is kept):

1. load the torch model of the artifact (eager attention, a LoRA adapter merged);
2. ``torch.onnx.export`` with dynamic batch and sequence axes (the sentence embedder with its
   pooling and normalisation inside the graph);
3. ONNX Runtime's transformer optimizer (fused attention, layer norms, GELU) where it keeps parity;
4. int8 (``--int8``, dynamic or static): the recipes that are sound on the CPU class the graph is
   for (:func:`exports.quantize.int8_recipe_tiers`; this machine's unless ``cpu`` names another) are
   tried; the manifest records that class, the recipe and any session options it needs;
5. fp16 conversion (``--fp16``), validated on CUDA when a GPU works;
6. the graphs (and a sample of the parity texts, ``parity.json``, for the runtime's check on another
   CPU class) are written into a staging folder and moved to ``ARTIFACT/onnx/`` only when all
   passed; the manifest then records opset, files, parity, agreement and test metrics.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.artifacts import now_utc, read_manifest, staged_artifact, update_manifest
from core.errors import ExportMismatchError, ModelNotFoundError, SuiteError
from core.cpu import CpuInfo, detect_cpu
from core.inference import ONNX_FILES, PARITY_FILE, TorchPredictor
from core.tasks import get_task, uses_case_markers

from .quantize import convert_fp16, int8_recipe_tiers, prepare_static, quantize_int8, quantize_static_int8
from .validate import (
    PRIMARY_METRIC,
    PROBE_TEXTS,
    Comparison,
    ReferenceData,
    StagedOnnxPredictor,
    Tolerance,
    check_comparison,
    compare,
    encode_batches,
    reference_data,
    runtime_agreement,
    score,
    tolerance_for,
)

__all__ = ["export_artifact", "load_export_model", "export_graph", "optimize_graph", "stamp_metadata"]

log = logging.getLogger("ftsuite.exports")

INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")


# ------------------------------------------------------------------ torch side


def load_export_model(artifact: Path, task: str):
    """The artifact's torch model in eval mode, ready to trace: eager attention (the pattern the
    ONNX Runtime optimizer fuses) and any LoRA adapter merged into the weights."""
    model_dir = Path(artifact) / "model"
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"{model_dir} is missing. Fix: train the model again with 'ftsuite train'")
    kind = get_task(task)
    if (model_dir / "adapter_config.json").is_file():
        model = _merge_lora(model_dir, task)
    else:
        model = kind.load_model(str(model_dir))
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    encoder = getattr(model, "encoder", None) if task == "sentence_embedding" else model
    if hasattr(encoder, "set_attn_implementation"):
        try:
            encoder.set_attn_implementation("eager")
        except (ValueError, NotImplementedError) as exc:  # keep the default attention
            log.info("eager attention not available (%s)", exc)
    return model.eval()


def _merge_lora(model_dir: Path, task: str):
    from peft import AutoPeftModelForSequenceClassification, AutoPeftModelForTokenClassification

    if task == "sentence_embedding":
        raise SuiteError(f"{model_dir} holds a LoRA adapter, which sentence_embedding models do not use. "
                         "Fix: train it again with train.strategy = 'full'")
    cls = AutoPeftModelForTokenClassification if task == "token_classification" else AutoPeftModelForSequenceClassification
    try:
        return cls.from_pretrained(str(model_dir)).merge_and_unload()
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{model_dir} holds a LoRA adapter whose base cannot be loaded ({exc}). "
                                 "Fix: make the base model available, or train again (ftsuite merges LoRA "
                                 "before saving)") from exc


def _graph_module(model, input_names: list[str]):
    """One tensor out, named inputs in: what the ONNX graph will be."""
    import torch

    class _Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            out = self.model(**dict(zip(input_names, inputs)))
            return out if isinstance(out, torch.Tensor) else out.logits  # (B, C), (B, T, C) or (B, H)

    return _Graph().eval()


def _input_names(model, tokenizer, task: str) -> list[str]:
    import inspect

    forward = model.forward
    accepted = set(inspect.signature(forward).parameters)
    produced = set(get_task(task).tokenize(tokenizer, ["a probe"], None, 16).keys())
    names = [k for k in INPUT_ORDER if k in produced and k in accepted]
    if "input_ids" not in names or "attention_mask" not in names:
        raise SuiteError(f"the tokenizer gives {sorted(produced)}; an export needs input_ids and attention_mask")
    return names


def _run_torch(graph, batches: list[dict[str, np.ndarray]], input_names: list[str]) -> list[np.ndarray]:
    import torch

    outputs = []
    with torch.inference_mode():
        for batch in batches:
            out = graph(*[torch.from_numpy(batch[k]) for k in input_names])
            outputs.append(out.float().numpy())
    return outputs


# ------------------------------------------------------------------ ONNX side


def export_graph(graph, dummy: dict[str, np.ndarray], input_names: list[str], output_name: str, task: str,
                 path: Path, opset: int) -> str:
    """``torch.onnx.export`` with dynamic batch and sequence axes; returns the exporter used."""
    import torch

    axes = {k: {0: "batch", 1: "sequence"} for k in input_names}
    axes[output_name] = {0: "batch", 1: "sequence"} if task == "token_classification" else {0: "batch"}
    args = tuple(torch.from_numpy(dummy[k]) for k in input_names)
    common = dict(input_names=input_names, output_names=[output_name], opset_version=opset, dynamic_axes=axes)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # tracer and deprecation warnings: parity is checked below
        try:
            # the TorchScript exporter: reliable for BERT-family encoders on this torch
            torch.onnx.export(graph, args, str(path), dynamo=False, do_constant_folding=True, **common)
            return "torch.onnx.export (TorchScript)"
        except Exception as legacy_error:  # noqa: BLE001 - try the other exporter before giving up
            log.info("TorchScript exporter failed (%s); trying torch.export", legacy_error)
            try:
                torch.onnx.export(graph, args, str(path), dynamo=True, external_data=False, **common)
                return "torch.onnx.export (torch.export / dynamo)"
            except Exception as exc:  # noqa: BLE001
                raise SuiteError(f"torch.onnx.export failed with both exporters at opset {opset}: "
                                 f"{str(legacy_error).splitlines()[0][:300]} / {str(exc).splitlines()[0][:300]}. "
                                 "Fix: try another --opset (14 to 20)") from exc


def optimize_graph(source: Path, destination: Path, config) -> dict:
    """ONNX Runtime's transformer optimizer (model_type bert). Returns the fused-operator counts."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    # a raw 2-D mask rather than per-row lengths: correct for left padding too
    options.use_raw_attention_mask(True)
    with contextlib.redirect_stdout(io.StringIO()), _quiet_loggers():
        optimized = optimize_model(str(source), model_type="bert", num_heads=int(config.num_attention_heads),
                                   hidden_size=int(config.hidden_size), optimization_options=options,
                                   opt_level=1, use_gpu=False)
        fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        optimized.save_model_to_file(str(destination))
    return fused


@contextlib.contextmanager
def _quiet_loggers():
    names = ("root", "onnxruntime", "onnxruntime.transformers", "fusion", "onnx_model")
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def stamp_metadata(path: Path, props: dict[str, str]) -> None:
    """Write ``props`` into the graph's ``metadata_props`` (the tools above drop them)."""
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))


def _session(path: Path, provider: str = "CPUExecutionProvider", extra: dict[str, str] | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    for key, value in (extra or {}).items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), options, providers=[provider])


def _run_session(session, batches: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    names = {i.name for i in session.get_inputs()}
    output = session.get_outputs()[0].name
    return [np.asarray(session.run([output], {k: v for k, v in b.items() if k in names})[0], dtype=np.float32)
            for b in batches]


def _size_mb(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 2)


def cuda_works() -> tuple[bool, str]:
    """Whether an ONNX Runtime session really runs on CUDA here, and the provider's status."""
    import onnxruntime as ort

    from core.inference import onnx_providers

    # the probe's failures are reported in the status; keep ONNX Runtime's native log quiet meanwhile
    ort.set_default_logger_severity(4)
    try:
        status = onnx_providers().get("CUDAExecutionProvider", "not listed by this onnxruntime")
    finally:
        ort.set_default_logger_severity(2)  # onnxruntime's default (warnings)
    return status == "works", status


# ------------------------------------------------------------------ the stage


@dataclass
class _Reference:
    """The torch side of every comparison: outputs on the parity batches, test metrics and predictions."""

    task: str
    output_name: str
    batches: list[dict[str, np.ndarray]]
    texts: list
    outputs: list[np.ndarray]
    data: ReferenceData
    metrics: dict | None
    predictions: list

    def compare(self, outputs: list[np.ndarray]) -> Comparison:
        return compare(self.task, self.output_name, self.outputs, outputs, self.batches)

    def judge(self, label: str, comparison: Comparison, tol: Tolerance, metrics=None, predictions=None) -> float | None:
        """Raise when over ``tol``; returns the test-split agreement through the runtime."""
        metric = PRIMARY_METRIC[self.task]
        drop = self.metrics[metric] - metrics[metric] if metrics and self.metrics and metric in metrics else None
        agreement = runtime_agreement(self.task, self.predictions, predictions) if predictions else None
        check_comparison(label, [comparison], tol, self.texts, drop, metric, agreement)
        return agreement

    def entry(self, path: Path, predictor, comparison: Comparison, tol: Tolerance) -> dict:
        """Validate a staged graph through the runtime's predictor; its manifest entry."""
        metrics, predictions = score(predictor, self.data.test)
        agreement = self.judge(f"ONNX graph {path.name} ({predictor.precision})", comparison, tol, metrics, predictions)
        return _graph_entry(path, predictor.provider, comparison, tol, metrics, self.metrics, agreement)


INT8_METHODS = ("dynamic", "static")


def export_artifact(artifact: str | Path, int8: bool | str = False, fp16: bool = False, opset: int = 17,
                    optimize: bool = True, limit: int = 256, metric_limit: int = 2000,
                    tolerances: dict[str, Tolerance] | None = None, report=None, cpu: CpuInfo | None = None,
                    int8_optional: bool = False) -> dict:
    """Export an artifact to validated ONNX graphs in ``ARTIFACT/onnx/``; returns the manifest's
    new ``onnx`` entry. Raises :class:`ExportMismatchError` (and writes nothing) when a graph is
    over its tolerance.

    ``int8``: ``True`` or ``"dynamic"`` for dynamic int8 (scales read from each batch at run time),
    ``"static"`` for static int8 calibrated on up to 256 texts of the artifact's training split
    (answers independent of the batch; needs the training data). ``limit`` caps the validation +
    test texts used for parity; ``metric_limit`` the test examples
    scored per graph; ``tolerances`` overrides :data:`exports.validate.TOLERANCES` per precision;
    ``report`` is called with progress lines. ``cpu``: the CPU the int8 graph is for (default this
    one, :func:`core.cpu.detect_cpu`). ``int8_optional``: an int8 graph over its tolerance is left
    out (the manifest says why) instead of failing the whole export, for builds that must go on.
    """
    from transformers import AutoTokenizer

    say = report or (lambda line: log.info(line))
    started = time.time()
    artifact = Path(artifact)
    manifest = read_manifest(artifact)
    task = manifest["task"]
    kind = get_task(task)
    if not 14 <= int(opset) <= 20:
        raise SuiteError(f"--opset {opset}: use an opset between 14 and 20 (17 is the default)")
    int8 = "dynamic" if int8 is True else (int8 or "")
    if int8 and int8 not in INT8_METHODS:
        raise SuiteError(f"int8={int8!r}: use 'dynamic' or 'static'")
    max_length = int(manifest.get("max_length", 128))
    output_name = kind.onnx_outputs[0]
    timings: dict[str, float] = {}
    cpu = cpu or detect_cpu()

    # 1. the torch model, its inputs, and its outputs on the reference texts
    tokenizer = AutoTokenizer.from_pretrained(str(artifact / "model"))
    model = load_export_model(artifact, task)
    input_names = _input_names(model, tokenizer, task)
    graph = _graph_module(model, input_names)
    data = reference_data(artifact, manifest, limit=limit, metric_limit=metric_limit)
    say(f"reference: {data.source}" + (f" ({data.note})" if data.note else ""))
    if int8 == "static" and data.calibration is None:
        raise SuiteError(f"static int8 calibrates on the artifact's training texts, and they were not found "
                         f"({data.note}). Fix: set FTSUITE_DATA to the folder that holds them, or use "
                         "--int8 (dynamic) instead")
    batches = encode_batches(kind, tokenizer, data.parity, max_length, input_names)
    batches.append(_single(batches[0]))  # a batch of one, unpadded: the serving case
    torch_metrics, torch_predictions = (score(TorchPredictor(artifact, manifest, device="cpu"), data.test)
                                        if data.test is not None else (None, []))
    ref = _Reference(task, output_name, batches, list(data.parity.texts) + [data.parity.texts[0]],
                     _run_torch(graph, batches, input_names), data, torch_metrics, torch_predictions)
    info: dict = {
        "opset": int(opset),
        "inputs": input_names,
        "output": output_name,
        "validation": {"texts": len(ref.texts), "source": data.source, "test_split": data.test_split,
                       "test_examples": len(data.test) if data.test is not None else 0,
                       **({"note": data.note} if data.note else {})},
        "torch_test_metrics": torch_metrics,
    }
    props = _metadata(manifest, tokenizer, input_names, output_name, opset)
    graphs: dict[str, dict] = {}

    with staged_artifact(artifact / "onnx") as stage:
        # 2-3. export, then the optimizer where it keeps parity
        t = time.time()
        raw = stage / "model.raw.onnx"
        info["exporter"] = export_graph(graph, _dummy_inputs(kind, tokenizer, task, max_length, input_names),
                                        input_names, output_name, task, raw, opset)
        fp32 = stage / ONNX_FILES["fp32"]
        tol = tolerance_for(task, "fp32", tolerances)
        comparison, info["optimizer"] = _optimized_or_plain(raw, fp32, model.config, ref, tol, optimize)
        stamp_metadata(fp32, {**props, "ftsuite.precision": "fp32"})
        graphs["fp32"] = ref.entry(fp32, StagedOnnxPredictor(artifact, manifest, stage, "fp32"), comparison, tol)
        _write_parity(stage / PARITY_FILE, data.parity)
        timings["fp32"] = time.time() - t
        say(f"fp32: max |diff| {comparison.max_abs_diff:.2e}, optimizer "
            + ("applied" if info["optimizer"]["applied"] else "skipped: " + info["optimizer"]["reason"][:80]))

        # 4. int8: the recipes sound on the CPU class; dynamic keeps the closest, static the first good enough
        if int8:
            t = time.time()
            if int8 == "static":
                pre = prepare_static(raw, stage / "model.pre.onnx")
                calibration = encode_batches(kind, tokenizer, data.calibration, max_length, input_names, batch_size=1)

                def quantize(path, r):
                    return quantize_static_int8(pre, path, r, calibration)
            else:
                def quantize(path, r):
                    return quantize_int8(fp32, path, r)
            tiers = int8_recipe_tiers(int8, cpu)
            int8_tol = tolerance_for(task, "int8", tolerances)
            path, comparison, recipe, candidates = _best_int8(tiers, quantize, stage, ref, int8_tol.min_agreement,
                                                              first_good=int8 == "static")
            stamp_metadata(path, {**props, "ftsuite.precision": "int8",
                                  "ftsuite.quantization": json.dumps(recipe.describe()),
                                  "ftsuite.cpu_class": cpu.int8_class,
                                  "ftsuite.session_options": json.dumps(recipe.session_options)})
            try:
                graphs["int8"] = ref.entry(path, StagedOnnxPredictor(artifact, manifest, stage, "int8",
                                                                     session_options=recipe.session_options),
                                           comparison, int8_tol)
            except ExportMismatchError as exc:
                if not int8_optional:
                    raise
                path.unlink()
                graphs["int8"] = {"validated": False, "refused": str(exc).splitlines()[0][:300],
                                  "details": str(exc)[:2000], "cpu": cpu.describe(),
                                  "quantization": {**recipe.describe(), "candidates": candidates}}
                say(f"int8: refused by its parity check, only fp32 is written ({str(exc).splitlines()[0][:200]})")
            else:
                graphs["int8"]["quantization"] = {**recipe.describe(), "candidates": candidates}
                graphs["int8"]["tolerance"] = {"min_agreement": int8_tol.min_agreement,
                                               "max_metric_drop": int8_tol.max_metric_drop}
                if recipe.session_options:
                    graphs["int8"]["session_options"] = dict(recipe.session_options)
                if int8 == "static":
                    graphs["int8"]["quantization"]["calibration_texts"] = len(data.calibration)
                say(f"int8: {recipe.name} (for {cpu.int8_class} CPUs), agreement {comparison.agreement:.4f}, "
                    f"test agreement {graphs['int8']['test_agreement']}")
            timings["int8"] = time.time() - t

        # 5. fp16 for the GPU, validated there when CUDA works
        if fp16:
            t = time.time()
            path = convert_fp16(fp32, stage / ONNX_FILES["fp16"])
            stamp_metadata(path, {**props, "ftsuite.precision": "fp16"})
            cuda_ok, cuda_status = cuda_works()
            if cuda_ok:
                predictor = StagedOnnxPredictor(artifact, manifest, stage, "fp16", device="cuda")
                comparison = ref.compare(_run_session(predictor.session, batches))
                graphs["fp16"] = ref.entry(path, predictor, comparison, tolerance_for(task, "fp16", tolerances))
            else:
                graphs["fp16"] = {"file": f"onnx/{path.name}", "size_mb": _size_mb(path), "validated": False,
                                  "note": f"not validated: no GPU (onnxruntime CUDAExecutionProvider: {cuda_status})",
                                  "loads_on_cpu": _loads_on_cpu(path)}
            timings["fp16"] = time.time() - t
        for leftover in stage.iterdir():  # only the graphs stay
            if leftover.name not in (*ONNX_FILES.values(), PARITY_FILE):
                leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)

    import onnx
    import onnxruntime
    import torch

    for entry in graphs.values():
        entry.setdefault("cpu", cpu.describe())  # the CPU class each graph was made and checked for
    info["graphs"] = graphs
    info["cpu"] = cpu.describe()
    info["metadata"] = props
    info["versions"] = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    info["seconds"] = {k: round(v, 1) for k, v in {**timings, "total": time.time() - started}.items()}
    info["exported_at"] = now_utc()
    update_manifest(artifact, onnx=info)
    return info


def _optimized_or_plain(raw: Path, fp32: Path, config, ref: _Reference, tol: Tolerance, optimize: bool):
    """The optimizer's graph when it stays within ``tol`` of torch, else the exporter's own."""
    comparison, outcome = None, {"applied": False, "reason": "--no-optimize"}
    if optimize:
        try:
            fused = optimize_graph(raw, fp32, config)
            comparison = ref.compare(_run_session(_session(fp32), ref.batches))
            ref.judge("optimized ONNX graph (fp32)", comparison, tol)
            outcome = {"applied": True, "model_type": "bert", "fused_operators": fused}
        except ExportMismatchError as exc:
            comparison, outcome = None, {"applied": False, "reason": f"fused graph over tolerance: {str(exc)[:300]}"}
        except Exception as exc:  # noqa: BLE001 - an optimizer failure only costs speed
            comparison, outcome = None, {"applied": False,
                                         "reason": f"optimizer failed: {str(exc).splitlines()[0][:300]}"}
    if comparison is None:
        shutil.copyfile(raw, fp32)
        comparison = ref.compare(_run_session(_session(fp32), ref.batches))
        ref.judge(f"ONNX graph {fp32.name} (fp32)", comparison, tol)
    return comparison, outcome  # the exporter's graph stays in the stage: static int8 starts from it


def _best_int8(tiers: list[list], quantize, stage: Path, ref: _Reference, good_enough: float | None,
               first_good: bool = False):
    """Quantize with the recipes of each tier (``quantize(path, recipe)``) and keep one as
    ``model.int8.onnx``: within a tier the closest to torch, or with ``first_good`` (recipes listed
    fastest first) the first whose agreement reaches ``good_enough``. A later tier is tried only when
    no recipe of the earlier ones reaches it; when none does, the closest of all is kept (and the
    validation that follows says by how much it misses)."""
    tried = []
    chosen = None
    for tier in tiers:
        start = len(tried)
        for recipe in tier:
            path = stage / f"model.int8.candidate{len(tried)}.onnx"
            try:
                quantize(path, recipe)
                session = _session(path, extra=recipe.session_options)
                tried.append((recipe, path, ref.compare(_run_session(session, ref.batches)), ""))
                del session
            except Exception as exc:  # noqa: BLE001 - a recipe the quantizer cannot apply is skipped
                tried.append((recipe, None, None, f"failed: {str(exc).splitlines()[0][:200]}"))
            if first_good and _passes(tried[-1], good_enough):
                chosen = tried[-1]
                break
        if chosen is None and not first_good:
            passing = [t for t in tried[start:] if _passes(t, good_enough)]
            chosen = _closest(passing, tried) if passing else None
        if chosen is not None:
            break
    usable = [t for t in tried if t[2] is not None]
    if not usable:
        raise SuiteError("int8 quantization failed for every recipe: "
                         + "; ".join(f"{r.name}: {e}" for r, _, _, e in tried) + ". Fix: export without --int8")
    recipe, path, comparison, _ = chosen or _closest(usable, tried)
    candidates = [{"recipe": r.name, "error": e} if c is None else
                  {"recipe": r.name, "agreement": round(c.agreement, 6),
                   "mean_abs_diff": float(f"{c.mean_abs_diff:.3g}"), "size_mb": _size_mb(p)}
                  for r, p, c, e in tried]
    final = stage / ONNX_FILES["int8"]
    path.rename(final)
    for _, other, _, _ in tried:
        if other is not None and other.exists():
            other.unlink()
    return final, comparison, recipe, candidates


def _passes(attempt, good_enough: float | None) -> bool:
    return attempt[2] is not None and good_enough is not None and attempt[2].agreement >= good_enough


def _closest(attempts: list, tried: list):
    """Highest agreement (to 3 decimals) first; on a tie the earlier recipe (smaller or faster first)."""
    return max(attempts, key=lambda t: (round(t[2].agreement, 3), -tried.index(t)))


def _single(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The first row of a padded batch, cut to its own length."""
    length = int(batch["attention_mask"][0].sum())
    return {k: np.ascontiguousarray(v[:1, :length]) for k, v in batch.items()}


def _dummy_inputs(kind, tokenizer, task, max_length, input_names) -> dict[str, np.ndarray]:
    """Two texts of different lengths (padding in the mask), pairs where the task has them."""
    texts = [PROBE_TEXTS[0], PROBE_TEXTS[2]]
    pairs = [PROBE_TEXTS[1], PROBE_TEXTS[3]] if task == "pair_scoring" else None
    encoding = kind.tokenize(tokenizer, texts, pairs, max_length)
    features = [{k: encoding[k][i] for k in input_names} for i in range(len(texts))]
    padded = tokenizer.pad(features, return_tensors="np")
    return {k: np.asarray(padded[k], dtype=np.int64) for k in input_names}


def _metadata(manifest: dict, tokenizer, input_names, output_name, opset) -> dict[str, str]:
    """Labels and tokenizer settings, so that a graph can be served without the manifest."""
    lower = getattr(tokenizer, "do_lower_case", tokenizer.init_kwargs.get("do_lower_case"))
    props = {
        "ftsuite.name": str(manifest.get("name", "")),
        "ftsuite.task": manifest["task"],
        "ftsuite.labels": json.dumps(manifest.get("labels", [])),
        "ftsuite.max_length": str(manifest.get("max_length", 128)),
        "ftsuite.do_lower_case": json.dumps(lower),
        "ftsuite.tokenizer": type(tokenizer).__name__,
        "ftsuite.padding_side": str(getattr(tokenizer, "padding_side", "right")),
        # inputs are marked before tokenising (core.tasks.mark_case); the marks are added tokens
        "ftsuite.case_markers": json.dumps(uses_case_markers(tokenizer)),
        "ftsuite.inputs": json.dumps(input_names),
        "ftsuite.output": output_name,
        "ftsuite.opset": str(opset),
        "ftsuite.data_fingerprint": str(manifest.get("data", {}).get("fingerprint", "")),
        "ftsuite.base_model": str(manifest.get("base_model", {}).get("name", "")),
    }
    return props


def _graph_entry(path: Path, provider: str, comparison: Comparison, tol: Tolerance, metrics, torch_metrics,
                 test_agreement: float | None = None) -> dict:
    entry = {
        "file": f"onnx/{path.name}",
        "size_mb": _size_mb(path),
        "validated": True,
        "provider": provider,
        "parity": {comparison.output: {"shape": list(comparison.shape), "max_abs_diff": float(f"{comparison.max_abs_diff:.3g}"),
                                       "mean_abs_diff": float(f"{comparison.mean_abs_diff:.3g}"),
                                       **({"tolerance": tol.atol} if tol.atol is not None else {})}},
        "agreement": round(comparison.agreement, 6),
        "agreement_measure": comparison.agreement_measure,
        "test_agreement": test_agreement,
        "test_metrics": metrics,
    }
    if metrics and torch_metrics:
        entry["test_delta_vs_torch"] = {k: round(v - torch_metrics[k], 6) for k, v in metrics.items()
                                        if k != "support" and isinstance(v, (int, float)) and k in torch_metrics}
    return entry


def _write_parity(path: Path, parity, limit: int = 64) -> None:
    """A sample of the parity texts (spread over them) for the runtime's check on another CPU class."""
    step = max(len(parity) / limit, 1.0)
    rows = sorted({int(i * step) for i in range(min(limit, len(parity)))})
    texts = [parity.texts[i] for i in rows]
    pairs = [parity.pairs[i] for i in rows] if parity.pairs is not None else None
    path.write_text(json.dumps({"texts": texts, "pairs": pairs}, ensure_ascii=False), encoding="utf-8")


def _loads_on_cpu(path: Path) -> str:
    try:
        _session(path)
        return "yes (CPU results are not a validation of GPU fp16)"
    except Exception as exc:  # noqa: BLE001
        return f"no: {str(exc).splitlines()[0][:200]}"
