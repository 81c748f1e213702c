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
           "int8_is_static", "ONNX_FILES", "PARITY_FILE", "PROBE_TEXTS", "INT8_MIN_AGREEMENT", "CPU_CHECKS_FILE", "int8_graph_entry", "serving_note",
           "export_with_cli"]

log = logging.getLogger("ftsuite.inference")

ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
# Texts the export checked its graphs on (a sample), kept beside them: an int8 graph that lands on
# another CPU class is checked again on them before it serves (see OnnxPredictor).
PARITY_FILE = "parity.json"
# Checks of an int8 graph on CPU classes other than the export's, kept so that each runs once.
CPU_CHECKS_FILE = "cpu_checks.json"
INT8_MIN_AGREEMENT = 0.95  # the share of answers an int8 graph must give as fp32 (exports.validate)

# Texts to check parity on when an artifact's own are gone (older exports, missing training data).
PROBE_TEXTS = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007.",
    "The company said that sales in the fourth quarter fell short of expectations.",
    "Shares of Nokia were unchanged in early trading in Helsinki.",
    "How do I reset the password of my online banking account?",
    "My card payment was declined at the supermarket yesterday.",
    "Apple and Microsoft both reported higher revenue for the quarter ending in June.",
    "The board proposes a dividend of EUR 0.25 per share for 2010.",
    "I would like to know why a transfer to my savings account is still pending.",
    "Barclays cut 1,200 jobs in London after a weak year in investment banking.",
    "Net sales decreased by 5 % compared to the previous year.",
    "A new plant in Finland will start production in the spring.",
    "Can I change the PIN of my card in the app?",
    "Analysts expect the merger to close in the second half of the year.",
    "The order is worth about USD 30 million.",
    "Customers in Germany can now top up their account by bank transfer.",
    "Pre-tax loss totalled EUR 0.3 mn, compared to a profit of EUR 2.2 mn.",
]


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
    """ONNX Runtime over ``ARTIFACT/onnx``. An int8 graph runs with the session options its export
    recorded; on a CPU class other than the one it was exported for it is first checked against the
    fp32 graph on the export's parity texts (once per class: ``onnx/cpu_checks.json``), and where it
    fails there the fp32 graph serves instead, with a warning that gives the re-export command.
    ``check_cpu=False`` skips that check (the export validates its own staged graphs)."""

    backend = "onnx"

    def __init__(self, artifact, manifest=None, device: str = "auto", precision: str = "auto",
                 threads: int | None = None, session_options: dict[str, str] | None = None,
                 check_cpu: bool = True):
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
        self._threads = threads
        self.session_options = dict(session_options if session_options is not None
                                    else _graph_entry(self.manifest, precision).get("session_options") or {})
        self.cpu_check: dict | None = None  # what the check on this CPU class found, when one ran
        session = self._open(path, device, asked, cuda_listed, self.session_options)
        self._use(session, precision)
        if check_cpu and precision == "int8" and self.device == "cpu":
            self._check_on_this_cpu(path)

    def _open(self, path: Path, device: str, asked: str, cuda_listed: bool, extra: dict[str, str]):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = self._threads
        for key, value in extra.items():
            options.add_session_config_entry(key, str(value))
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
        return session

    def _use(self, session, precision: str) -> None:
        self.session = session
        self.provider = session.get_providers()[0]
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.precision = precision
        self._input_names = {i.name for i in session.get_inputs()}
        self._output_name = session.get_outputs()[0].name

    def describe(self) -> dict:
        out = super().describe()
        if self.session_options:
            out["session_options"] = dict(self.session_options)
        if self.cpu_check:
            out["cpu_check"] = dict(self.cpu_check)
        return out

    def _file(self, precision: str) -> Path:
        return self.artifact / "onnx" / ONNX_FILES[precision]

    def _forward(self, batch):
        feed = {k: v for k, v in batch.items() if k in self._input_names}
        return np.asarray(self.session.run([self._output_name], feed)[0], dtype=np.float32)

    # ------------------------------------------------------------------ int8 on another CPU class
    def _check_on_this_cpu(self, path: Path) -> None:
        """Check the int8 graph here when this CPU's class is not the one it was exported for."""
        from .cpu import PRECISE_KERNEL_OPTION, detect_cpu

        entry = _graph_entry(self.manifest, "int8")
        here = detect_cpu()
        exported_for = (entry.get("cpu") or {}).get("class") or "unknown (exported before CPU classes were recorded)"
        if exported_for == here.int8_class:
            return
        key = _graph_key(path)
        known = _read_json(self.artifact / "onnx" / CPU_CHECKS_FILE).get(here.int8_class)
        if not (isinstance(known, dict) and known.get("graph") == key):
            known = self._run_check(entry, here, exported_for, key)
        self.cpu_check = known
        options = known.get("session_options") or {}
        if known.get("passed") and options != self.session_options:
            self.session_options = dict(options)
            self._use(self._open(path, "cpu", "cpu", False, self.session_options), "int8")
        if known.get("passed"):
            if PRECISE_KERNEL_OPTION in options and not entry.get("session_options"):
                log.warning("%s: the int8 graph was exported for %s CPUs; on this %s CPU it runs on ONNX Runtime's "
                            "slower U8U8 kernel. For full speed: ftsuite export %s %s", self.artifact, exported_for,
                            here.int8_class, self.artifact, _reexport_flags(entry))
            return
        log.warning("%s: the int8 graph, exported for %s CPUs, gives %.1f%% of the fp32 answers on this %s CPU "
                    "(at least %.0f%% needed); serving the fp32 graph instead. Fix: ftsuite export %s %s",
                    self.artifact, exported_for, 100 * known.get("agreement", 0.0), here.int8_class,
                    100 * known.get("min_agreement", INT8_MIN_AGREEMENT), self.artifact, _reexport_flags(entry))
        self.session_options = {}
        self._use(self._open(self._file("fp32"), "cpu", "cpu", False, {}), "fp32")

    def _run_check(self, entry: dict, here, exported_for: str, key: str) -> dict:
        """The int8 graph against the fp32 graph on the stored parity texts; on a CPU whose U8S8
        kernel saturates, again on the U8U8 kernel when the first try fails. Kept in cpu_checks.json."""
        import time

        from .cpu import PRECISE_KERNEL_OPTION

        started = time.perf_counter()
        texts, pairs, source = _parity_texts(self.artifact, self.task)
        reference = OnnxPredictor(self.artifact, self.manifest, device="cpu", precision="fp32",
                                  threads=self._threads, check_cpu=False)
        expected = _answers(reference, texts, pairs)
        need = float((entry.get("tolerance") or {}).get("min_agreement") or INT8_MIN_AGREEMENT)
        tries = [dict(self.session_options)]
        if here.u8s8_saturates and PRECISE_KERNEL_OPTION not in self.session_options:
            tries.append({**self.session_options, PRECISE_KERNEL_OPTION: "1"})
        result: dict = {}
        for options in tries:
            if options != self.session_options:
                self._use(self._open(self._file("int8"), "cpu", "cpu", False, options), "int8")
            agreement = _agreement(self.task, expected, _answers(self, texts, pairs))
            result = {"graph": key, "exported_for": exported_for, "passed": agreement >= need,
                      "agreement": round(agreement, 6), "min_agreement": need, "texts": len(texts),
                      "source": source, "session_options": options}
            if result["passed"]:
                break
        result["seconds"] = round(time.perf_counter() - started, 3)
        result["checked_at"] = _now()
        log.info("int8 graph of %s checked on this %s CPU: %s", self.artifact, here.int8_class, result)
        checks = _read_json(self.artifact / "onnx" / CPU_CHECKS_FILE)
        checks[here.int8_class] = result
        _write_json(self.artifact / "onnx" / CPU_CHECKS_FILE, checks)
        return result


def _graph_entry(manifest: dict, precision: str) -> dict:
    return ((manifest.get("onnx") or {}).get("graphs") or {}).get(precision) or {}


def int8_graph_entry(manifest: dict) -> dict:
    """The manifest's entry for the int8 graph (recipe, CPU class, session options), or {}."""
    return _graph_entry(manifest, "int8")


def serving_note(predictor) -> str:
    """How a predictor serves, in a few words for a status line: backend and precision, and why an
    int8 graph is not the one serving when the export refused it or this CPU failed it."""
    described = predictor.describe()
    note = f"{described.get('backend')} {described.get('precision')}"
    entry = int8_graph_entry(getattr(predictor, "manifest", {}) or {})
    check = described.get("cpu_check") or {}
    if described.get("precision") == "int8":
        note += f" (for {(entry.get('cpu') or {}).get('class', '?')} CPUs"
        if check.get("session_options"):
            note += ", on the U8U8 kernel here"
        return note + ")"
    if check and not check.get("passed"):
        return note + (f": the int8 graph failed its check on this CPU ({check.get('agreement', 0):.1%} of fp32's "
                       f"answers); re-export with 'ftsuite export {predictor.artifact} {_reexport_flags(entry)}'")
    if entry.get("refused"):
        return note + ": the export refused the int8 graph (its parity check failed)"
    return note


def export_with_cli(artifact: str | os.PathLike, int8: str = "dynamic", int8_optional: bool = True) -> dict:
    """``ftsuite export ARTIFACT`` in a child process, for apps (which never import ``exports``):
    ``int8`` = dynamic, static or "" (fp32 only); ``int8_optional`` keeps fp32 when int8 fails its
    check. Returns the manifest's int8 entry ({} without int8). Raises :class:`SuiteError` with the
    export's own message when it fails."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "core.cli", "export", str(artifact), "--quiet"]
    if int8:
        cmd += ["--int8"] + (["static"] if int8 == "static" else []) + (["--int8-optional"] if int8_optional else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SuiteError(f"exporting {artifact} failed:\n{done.stderr.strip()[-800:]}\n"
                         f"Fix: run 'ftsuite export {artifact}{' --int8' if int8 else ''}' to see the details")
    return int8_graph_entry(read_manifest(artifact))


def _reexport_flags(entry: dict) -> str:
    method = str((entry.get("quantization") or {}).get("method", ""))
    return "--int8 static" if method.startswith("static") else "--int8"


def _graph_key(path: Path) -> str:
    """Size and modification time: a re-export makes every recorded check stale."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _parity_texts(artifact: Path, task: str) -> tuple[list, list | None, str]:
    stored = _read_json(artifact / "onnx" / PARITY_FILE)
    texts = stored.get("texts")
    if isinstance(texts, list) and texts:
        return texts, stored.get("pairs"), f"{len(texts)} parity texts stored by the export"
    pairs = PROBE_TEXTS[1:] + PROBE_TEXTS[:1] if task == "pair_scoring" else None
    return list(PROBE_TEXTS), pairs, f"{len(PROBE_TEXTS)} built-in probe sentences (no {PARITY_FILE})"


def _answers(predictor: "Predictor", texts: list, pairs: list | None):
    if predictor.task == "sentence_embedding":
        return predictor.embed(texts)
    return predictor.predict(texts, pairs)


def _agreement(task: str, expected, got) -> float:
    """Equal labels, equal tags per word, or the mean cosine of embeddings (all unit vectors)."""
    if task == "sentence_embedding":
        return float((np.asarray(expected, np.float64) * np.asarray(got, np.float64)).sum(-1).mean())
    if task == "token_classification":
        pairs = [(a, b) for e, g in zip(expected, got) for a, b in zip(e["tags"], g["tags"])]
        return sum(a == b for a, b in pairs) / max(len(pairs), 1)
    return sum(e["label"] == g["label"] for e, g in zip(expected, got)) / max(len(expected), 1)


def _read_json(path: Path) -> dict:
    import json

    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: dict) -> None:
    """Best effort, atomic: a read-only artifact folder only means the check runs again next time."""
    import json
    import tempfile

    try:
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False,
                                         encoding="utf-8") as handle:
            json.dump(value, handle, indent=2)
        os.replace(handle.name, path)
    except OSError as exc:
        log.info("could not record %s (%s); the check runs again next time", path, exc)


def _now() -> str:
    from .artifacts import now_utc

    return now_utc()


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
