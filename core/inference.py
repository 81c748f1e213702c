"""One inference interface over every artifact; torch or ONNX Runtime is a parameter.

``load_predictor(artifact, backend, device, precision)`` returns a :class:`Predictor`. Both
backends share tokenisation, length bucketing, dynamic padding and output decoding; they differ
only in ``_forward``. The execution provider really used is reported in ``provider``: asking for
CUDA where it does not work is an error, never a quiet fall-back to the CPU.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np

from .artifacts import read_manifest
from .errors import ConfigError, DataError, ModelNotFoundError, SuiteError
from .tasks import get_task

__all__ = ["Predictor", "TorchPredictor", "OnnxPredictor", "CascadePredictor", "load_predictor", "onnx_providers",
           "int8_is_static", "ONNX_FILES"]

log = logging.getLogger("ftsuite.inference")

ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}


class Predictor:
    """Turns raw texts into task predictions. Subclasses implement ``_forward`` only."""

    backend = "?"

    def __init__(self, artifact: str | os.PathLike, manifest: dict | None = None):
        from transformers import AutoTokenizer

        self.artifact = Path(artifact)
        self.manifest = manifest or read_manifest(artifact)
        self.task = self.manifest["task"]
        self.kind = get_task(self.task)
        self.labels: list[str] = list(self.manifest.get("labels", []))
        self.max_length = int(self.manifest.get("max_length", 128))
        model_dir = self.artifact / "model"
        if not model_dir.is_dir():
            raise ModelNotFoundError(f"{model_dir} is missing. Fix: train the model again with 'ftsuite train'")
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.device = "cpu"
        self.provider = "torch-cpu"
        self.precision = "fp32"

    # ------------------------------------------------------------------ public API
    def describe(self) -> dict:
        return {"artifact": str(self.artifact), "task": self.task, "backend": self.backend,
                "device": self.device, "provider": self.provider, "precision": self.precision}

    @property
    def batch_independent(self) -> bool:
        """Whether a text gets the same answer whatever else is in its batch: false only for a
        dynamic int8 graph, which reads its activation scales from the whole batch."""
        return self.precision != "int8" or int8_is_static(self.manifest)

    def predict(self, texts, pairs=None, batch_size: int = 32) -> list[dict]:
        """Predictions in input order: ``label`` and ``scores`` (classification; ``score`` for pairs),
        ``tags`` and ``entities`` (token classification), ``embedding`` (sentence embedding).
        Each carries ``truncated: True`` when the text was cut at the model's maximum length."""
        texts = self._check_inputs(texts, "texts")
        if not texts:
            return []
        if pairs is not None:
            pairs = self._check_inputs(pairs, "pairs")
            if len(pairs) != len(texts):
                raise DataError(f"{len(texts)} texts but {len(pairs)} pairs; give one pair per text")
        elif self.kind.uses_pairs and self.task == "pair_scoring":
            raise DataError("this is a pair-scoring model: pass pairs= (one second text per text)")
        encoding = self.kind.tokenize(self.tokenizer, texts, pairs, self.max_length)
        outputs = self._run_batches(encoding, batch_size)
        results = []
        for i, row in enumerate(outputs):
            result = self.kind.decode(row, self.labels, encoding, i)
            if len(encoding["input_ids"][i]) >= self.max_length:
                result["truncated"] = True
            results.append(result)
        return results

    def embed(self, texts, batch_size: int = 32) -> np.ndarray:
        """``(N, H)`` float32 L2-normalised embeddings (sentence-embedding artifacts)."""
        if self.task != "sentence_embedding":
            raise ConfigError(f"{self.artifact} is a {self.task} model; embed() needs a sentence_embedding model")
        texts = self._check_inputs(texts, "texts")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        encoding = self.kind.tokenize(self.tokenizer, texts, None, self.max_length)
        return np.stack(self._run_batches(encoding, batch_size)).astype(np.float32)

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _check_inputs(values, name: str) -> list:
        if isinstance(values, str):
            values = [values]
        values = list(values)
        problems = []
        for i, value in enumerate(values):
            if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
                continue  # pre-split words (token classification)
            if not isinstance(value, str):
                problems.append((None, None, None, f"{name}[{i}] is {type(value).__name__}, expected text"))
            elif not value.strip():
                problems.append((None, None, None, f"{name}[{i}] is an empty string"))
        if problems:
            raise DataError(problems, fix="pass non-empty strings")
        return values

    def _run_batches(self, encoding, batch_size: int) -> list[np.ndarray]:
        """Length bucketing: sort by length, pad each batch only to its longest member."""
        ids = encoding["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoding]
        outputs: list[np.ndarray | None] = [None] * len(ids)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            features = [{k: encoding[k][i] for k in keys} for i in chunk]
            batch = self.tokenizer.pad(features, return_tensors="np")
            result = self._forward({k: batch[k].astype(np.int64) for k in keys})
            for j, i in enumerate(chunk):
                row = result[j]
                if row.ndim == 2:  # (T, C): keep the example's own tokens only
                    row = row[: len(ids[i])]
                outputs[i] = row
        return outputs

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class TorchPredictor(Predictor):
    backend = "torch"

    def __init__(self, artifact, manifest=None, device: str = "auto", threads: int | None = None,
                 precision: str = "fp32"):
        import torch

        super().__init__(artifact, manifest)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise SuiteError("device='cuda' was asked for, but torch sees no CUDA GPU. Fix: use device='cpu'")
        if threads:
            torch.set_num_threads(threads)
        self.device = device
        self.provider = f"torch-{device}"
        self.model = self.kind.load_model(str(self.artifact / "model")).to(device).eval()
        if precision not in ("fp32", "fp16"):
            raise ConfigError(f"precision={precision!r} with the torch backend; use fp32 or fp16 "
                              "(int8 is an exported graph: backend='onnx')")
        if precision == "fp16":
            if device != "cuda":
                raise SuiteError("fp16 torch inference needs CUDA. Fix: use precision='fp32' on the CPU")
            self.model = self.model.half()
        self.precision = precision
        self._input_names = _forward_inputs(self.model)

    def _forward(self, batch):
        import torch

        with torch.inference_mode():
            tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items() if k in self._input_names}
            out = self.model(**tensors)
            out = out if isinstance(out, torch.Tensor) else out.logits
            return out.float().cpu().numpy()


def _forward_inputs(model) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


def onnx_providers() -> dict[str, str]:
    """Each execution provider onnxruntime lists, and whether a session really runs on it.

    onnxruntime-gpu lists CUDA even where the CUDA libraries cannot load, so each provider is
    tried on a one-node graph and the session's own provider list is read back.
    """
    import onnxruntime as ort

    import contextlib
    import io

    graph = _identity_model_bytes()
    status = {}
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the failures are reported below, not as native log noise
    for provider in ort.get_available_providers():
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                session = ort.InferenceSession(graph, options, providers=[provider])
            got = session.get_providers()
            status[provider] = "works" if got and got[0] == provider else f"not usable (session ran on {got[0]})"
        except Exception as exc:  # noqa: BLE001 - report any failure as the provider's status
            status[provider] = f"not usable ({str(exc).splitlines()[0][:120]})"
    return status


def _identity_model_bytes() -> bytes:
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


@functools.lru_cache(maxsize=1)
def _cuda_usable() -> bool:
    """Whether an ONNX Runtime session really runs on CUDA here (probed once per process, quietly)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    ort.set_default_logger_severity(4)  # a failed CUDA load is the answer here, not an error to print
    try:
        session = ort.InferenceSession(_identity_model_bytes(), options,
                                       providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        return session.get_providers()[0] == "CUDAExecutionProvider"
    except Exception:  # noqa: BLE001
        return False
    finally:
        ort.set_default_logger_severity(2)  # onnxruntime's default


class OnnxPredictor(Predictor):
    backend = "onnx"

    def __init__(self, artifact, manifest=None, device: str = "auto", precision: str = "auto",
                 threads: int | None = None):
        import onnxruntime as ort

        super().__init__(artifact, manifest)
        available = ort.get_available_providers()
        cuda_listed = "CUDAExecutionProvider" in available
        if device not in ("auto", "cuda", "cpu"):
            raise ConfigError(f"device={device!r}; expected auto, cuda or cpu")
        asked = device
        if device == "auto":
            # onnxruntime-gpu lists CUDA even where its libraries cannot load: probe before choosing
            device = "cuda" if cuda_listed and _cuda_usable() else "cpu"
            if cuda_listed and device == "cpu":
                log.info("CUDA execution provider listed but not usable; running on the CPU")
        if precision == "auto":
            want_gpu = device == "cuda"
            precision = "fp16" if want_gpu and self._file("fp16").is_file() else (
                "int8" if not want_gpu and self._file("int8").is_file() else "fp32")
        if precision not in ONNX_FILES:
            raise ConfigError(f"precision={precision!r}; expected auto, fp32, int8 or fp16")
        path = self._file(precision)
        if not path.is_file():
            flag = {"fp32": "", "int8": " --int8", "fp16": " --fp16"}[precision]
            raise ModelNotFoundError(f"{path} is missing. Fix: ftsuite export {self.artifact}{flag}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = None
        if device == "cuda" and cuda_listed:
            try:
                session = ort.InferenceSession(str(path), options, providers=["CUDAExecutionProvider",
                                                                              "CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001
                if asked == "cuda":
                    raise SuiteError(f"CUDA was asked for but onnxruntime could not use it: {exc}") from exc
            if session is not None and session.get_providers()[0] != "CUDAExecutionProvider":
                if asked == "cuda":
                    raise SuiteError("CUDA was asked for but onnxruntime fell back to the CPU (CUDA or cuDNN "
                                     "libraries missing). Fix: pip install 'ftsuite[gpu]', or use device='cpu'")
                session = None
        if asked == "cuda" and session is None:
            raise SuiteError("CUDA was asked for but this onnxruntime has no CUDAExecutionProvider. "
                             "Fix: pip install onnxruntime-gpu (and 'ftsuite[gpu]'), or use device='cpu'")
        if session is None:
            if device == "cuda":
                log.info("auto: the CUDA session failed; running on the CPU")
            try:
                session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - a corrupt graph surfaces here
                raise ModelNotFoundError(f"{path} cannot be loaded ({str(exc).splitlines()[0][:200]}). "
                                         f"Fix: ftsuite export {self.artifact} to rebuild it") from exc
        self.session = session
        self.provider = session.get_providers()[0]
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.precision = precision
        self._input_names = {i.name for i in session.get_inputs()}
        self._output_name = session.get_outputs()[0].name

    def _file(self, precision: str) -> Path:
        return self.artifact / "onnx" / ONNX_FILES[precision]

    def _forward(self, batch):
        feed = {k: v for k, v in batch.items() if k in self._input_names}
        return np.asarray(self.session.run([self._output_name], feed)[0], dtype=np.float32)


def load_predictor(artifact: str | os.PathLike, backend: str = "auto", device: str = "auto",
                   precision: str = "auto", threads: int | None = None) -> Predictor:
    """Load an artifact for inference.

    ``backend="auto"`` takes ONNX when the artifact has been exported, else torch; the choice is
    visible in ``predictor.describe()``.
    """
    manifest = read_manifest(artifact)
    if backend == "auto":
        backend = "onnx" if (Path(artifact) / "onnx" / ONNX_FILES["fp32"]).is_file() else "torch"
    if backend == "torch":
        return TorchPredictor(artifact, manifest, device=device, threads=threads,
                              precision="fp32" if precision == "auto" else precision)
    if backend == "onnx":
        return OnnxPredictor(artifact, manifest, device=device, precision=precision, threads=threads)
    raise ConfigError(f"backend={backend!r}; expected auto, torch or onnx")


def int8_is_static(manifest: dict) -> bool:
    """Whether the artifact's int8 graph was quantized statically (``ftsuite export --int8 static``),
    as its manifest's ``onnx`` entry records."""
    quantized = (manifest.get("onnx") or {}).get("graphs", {}).get("int8", {}).get("quantization", {})
    return str(quantized.get("method", "")).startswith("static")


class CascadePredictor:
    """A fast text classifier that hands the texts it is unsure of to a stronger, slower one.

    ``first`` predicts every text; a text whose top probability is below ``defer_below`` is
    predicted again by ``second``, whose answer is kept and marked ``deferred: True``. With a
    distilled student and its teacher, the share deferred sets the trade-off between the student's
    speed and the teacher's accuracy (0 = the student alone, 1 = the teacher alone).
    ``second_weight`` < 1 blends the two for a deferred text: its probabilities are
    ``second_weight * second + (1 - second_weight) * first``, and its label their argmax.
    """

    def __init__(self, first: Predictor, second: Predictor, defer_below: float, second_weight: float = 1.0):
        for predictor in (first, second):
            if predictor.task != "text_classification":
                raise ConfigError(f"{predictor.artifact} is a {predictor.task} model; a cascade needs two "
                                  "text-classification models")
        if sorted(first.labels) != sorted(second.labels):
            raise ConfigError(f"{first.artifact} has labels {first.labels} but {second.artifact} has "
                              f"{second.labels}; a cascade needs the same labels in both")
        if not 0.0 <= defer_below <= 1.0:
            raise ConfigError(f"defer_below = {defer_below}; give a probability between 0 and 1")
        if not 0.0 < second_weight <= 1.0:
            raise ConfigError(f"second_weight = {second_weight}; give a weight above 0 and at most 1 "
                              "(1 = the second model's answer alone)")
        self.first, self.second, self.defer_below = first, second, float(defer_below)
        self.second_weight = float(second_weight)
        self.task, self.labels, self.artifact = first.task, first.labels, first.artifact
        self.backend = first.backend if first.backend == second.backend else f"{first.backend}+{second.backend}"
        self.deferred = 0  # texts handed to ``second`` so far, against ``seen``
        self.seen = 0

    def describe(self) -> dict:
        return {**self.first.describe(), "backend": self.backend, "then": self.second.describe(),
                "defer_below": self.defer_below, "second_weight": self.second_weight}

    @property
    def batch_independent(self) -> bool:
        return self.first.batch_independent and self.second.batch_independent

    def predict(self, texts, pairs=None, batch_size: int = 32) -> list[dict]:
        results = self.first.predict(texts, pairs, batch_size=batch_size)
        unsure = [i for i, r in enumerate(results) if max(r["scores"].values()) < self.defer_below]
        if unsure:
            texts = Predictor._check_inputs(texts, "texts")
            pairs = None if pairs is None else list(pairs)
            again = self.second.predict([texts[i] for i in unsure],
                                        None if pairs is None else [pairs[i] for i in unsure],
                                        batch_size=batch_size)
            w = self.second_weight
            for i, result in zip(unsure, again):
                if w < 1.0:
                    own = results[i]["scores"]
                    scores = {l: w * p + (1.0 - w) * own[l] for l, p in result["scores"].items()}
                    result = {**result, "label": max(self.labels, key=scores.__getitem__), "scores": scores}
                results[i] = {**result, "deferred": True}
        self.seen += len(results)
        self.deferred += len(unsure)
        return results
