"""Lower-precision variants of an fp32 graph: int8 for the CPU (dynamic or static), fp16 for the GPU.

Dynamic int8 reads each activation's scale from the batch at run time, so a text's answer can move
with the other texts in its batch (2% of FPB labels for MiniLM, 10% for mpnet: benchmarks/LOG.md,
section 4). Static int8 fixes those scales beforehand from calibration texts: answers independent of
the batch. On the CPU it runs at 1.14x dynamic int8's speed for MiniLM and 2.27x fp32's for mpnet
(BENCHMARKS.md, section 2).
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Int8Recipe", "INT8_RECIPES", "StaticInt8Recipe", "STATIC_INT8_RECIPES", "int8_recipe_tiers",
           "quantize_int8", "prepare_static", "smooth_ffn_inputs", "quantize_static_int8", "convert_fp16"]

log = logging.getLogger("ftsuite.exports")


@dataclass(frozen=True)
class Int8Recipe:
    """One way to quantize: per-tensor or per-channel weights, and which operators are quantized
    (``None``: every operator ONNX Runtime can quantize, the embedding tables included)."""

    name: str
    per_channel: bool
    op_types: tuple[str, ...] | None = None
    reduce_range: bool = False
    precise_kernel: bool = False

    def describe(self) -> dict:
        return {"recipe": self.name, "method": "dynamic (weights int8, activations quantized at run time)",
                "weight_type": "QInt8", "per_channel": self.per_channel,
                "operators": list(self.op_types) if self.op_types else "all quantizable",
                **_kernel_fields(self)}

    @property
    def session_options(self) -> dict[str, str]:
        return _session_options(self)


# Tried in this order; the export keeps the one closest to torch (ties go to the earlier one).
INT8_RECIPES = (
    Int8Recipe("per-channel", per_channel=True),
    Int8Recipe("per-tensor", per_channel=False),
    # selective: the embedding tables stay fp32 (a larger file, sometimes more accurate)
    Int8Recipe("per-channel, embeddings fp32", per_channel=True, op_types=("MatMul", "Attention")),
)


@dataclass(frozen=True)
class StaticInt8Recipe:
    """Static int8: per-channel int8 weights, uint8 activations with min-max scales from calibration.

    ``float_outputs`` (QDQ format): only the linear layers (MatMul and Gemm with a weight) are
    quantized and their outputs stay float, which ONNX Runtime runs as MatMulIntegerToFloat. In the
    QOperator format every quantized MatMul also re-quantizes its output with one fixed scale, too
    coarse for the rare large values a feed-forward block writes into the residual stream: mpnet
    with every MatMul in QOperator agrees with torch on 61% of labels.
    ``smooth``: SmoothQuant's alpha (Xiao et al., 2023) for each feed-forward output projection: its
    input (the GELU output) is divided per channel by s = max|x|^alpha / max|w|^(1 - alpha) in a Mul
    added after the GELU, and the weight's rows are multiplied by s. The large channels
    then no longer set one coarse scale for all the others.
    ``ffn_output_fp32``: those projections stay fp32 instead (QOperator; the slower, older remedy)."""

    name: str
    ffn_output_fp32: bool = False
    float_outputs: bool = False
    smooth: float | None = None
    reduce_range: bool = False
    precise_kernel: bool = False

    @property
    def session_options(self) -> dict[str, str]:
        return _session_options(self)

    def describe(self) -> dict:
        operators = ("MatMul, Gemm with a weight (the attention products stay fp32), outputs float"
                     if self.float_outputs else "MatMul, Gemm")
        if self.ffn_output_fp32:
            operators += " except the feed-forward output projections"
        out = {"recipe": self.name,
               "method": "static (weights int8, activation scales fixed by calibration: answers do not "
                         "depend on the batch)",
               "calibration": "MinMax", "weight_type": "QInt8", "activation_type": "QUInt8", "per_channel": True,
               "operators": operators, "format": "QDQ" if self.float_outputs else "QOperator"}
        if self.smooth is not None:
            out["smoothing"] = f"SmoothQuant alpha {self.smooth:g} on the feed-forward output projections"
        return {**out, **_kernel_fields(self)}


# Tried in this order, fastest first; the export keeps the first that passes the int8 tolerance, else the
# one closest to torch (benchmarks/LOG.md, section 4). MiniLM (sentiment student, FPB 50Agree, one thread):
# the first runs at 1.14x dynamic int8's speed, agreeing with torch on 98.8% of the parity texts; without
# smoothing 1.17x and 97.3%; the last 0.80x and 98.4%. mpnet (batches of 64, two threads): the first at
# 2.27x fp32 and 1.34x the last, 97.2% of labels as fp32 (the last 96.6%); without smoothing only 88% of
# the parity texts. alpha 0.9 left the smallest error in mpnet's projections (0.5: more than none).
STATIC_INT8_RECIPES = (
    StaticInt8Recipe("static, linear layers, smoothed feed-forward inputs", float_outputs=True, smooth=0.9),
    StaticInt8Recipe("static, linear layers", float_outputs=True),
    StaticInt8Recipe("static, min-max, feed-forward outputs fp32", ffn_output_fp32=True),
)


def _kernel_fields(recipe) -> dict:
    out = {}
    if recipe.reduce_range:
        out["reduce_range"] = "7-bit weights: the fast U8S8 kernel cannot saturate on x86 without VNNI"
    if recipe.precise_kernel:
        out["session_options"] = _session_options(recipe)
        out["kernel"] = "ONNX Runtime's U8U8 kernel (exact on x86 without VNNI, slower)"
    return out


def _session_options(recipe) -> dict[str, str]:
    from core.cpu import PRECISE_KERNEL_OPTION

    return {PRECISE_KERNEL_OPTION: "1"} if recipe.precise_kernel else {}


def int8_recipe_tiers(method: str, cpu) -> list[list]:
    """The int8 recipes that are sound on ``cpu`` (a :class:`core.cpu.CpuInfo`), in tiers tried in
    order: a later tier only when no recipe of the earlier one is within the int8 tolerance.

    Where ONNX Runtime's U8S8 kernel can saturate (x86 without VNNI), the first tier is each recipe
    with 7-bit weights (``reduce_range``: same fast kernel, products that fit in 16 bits), the second
    the full-range recipe on the U8U8 kernel (exact, slower). Elsewhere the recipes as they are."""
    from dataclasses import replace

    base = STATIC_INT8_RECIPES if method == "static" else INT8_RECIPES
    if not cpu.u8s8_saturates:
        return [list(base)]
    return [[replace(r, name=r.name + ", 7-bit weights", reduce_range=True) for r in base],
            [replace(r, name=r.name + ", U8U8 kernel", precise_kernel=True) for r in base]]


def _matmul_roles(path: Path) -> dict[str, list[str]]:
    """MatMul node names of the exporter's unfused graph, by role, from one read of it:
    ``ffn_outputs``, those with a weight whose activation comes from a Mul or Gelu (a feed-forward
    block's output projection); ``activation_products``, those without a weight (attention's
    query-key and weights-value products)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    matmuls = [n for n in graph.node if n.op_type == "MatMul"]
    return {"ffn_outputs": [n.name for n in matmuls if n.input[1] in weights and n.input[0] in producer
                            and producer[n.input[0]].op_type in ("Mul", "Gelu")],
            "activation_products": [n.name for n in matmuls if not any(i in weights for i in n.input)]}


def quantize_int8(source: Path, destination: Path, recipe: Int8Recipe) -> Path:
    """Dynamic int8 quantization of ``source`` into ``destination``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kwargs = {}
    if recipe.op_types:
        kwargs["op_types_to_quantize"] = list(recipe.op_types)
    # Fused contrib operators (Attention, SkipLayerNormalization) defeat ONNX shape inference;
    # their outputs are float, which is what DefaultTensorType tells the quantizer.
    with contextlib.redirect_stdout(io.StringIO()), _quiet("root"):
        quantize_dynamic(str(source), str(destination), weight_type=QuantType.QInt8,
                         per_channel=recipe.per_channel, reduce_range=recipe.reduce_range,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}, **kwargs)
    return destination


def prepare_static(source: Path, destination: Path) -> Path:
    """Shape inference and graph clean-up that the static quantizer needs. ``source`` must be the
    exporter's own graph: the quantizer cannot calibrate the optimizer's fused operators."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, destination = Path(source).resolve(), Path(destination).resolve()  # the cwd changes below
    with _quiet("root"), contextlib.chdir(destination.parent):  # it may write scratch files in the cwd
        quant_pre_process(str(source), str(destination), skip_symbolic_shape=True)
    return destination


def smooth_ffn_inputs(source: Path, destination: Path, batches: list[dict], alpha: float,
                      names: list[str] | None = None) -> Path:
    """SmoothQuant on each feed-forward output projection of ``source`` (see :class:`StaticInt8Recipe`;
    ``names``: those MatMul nodes, found in the graph when not given), with each input channel's
    largest magnitude taken over ``batches``. The graph computes the same function (up to rounding);
    only the split of magnitude between activation and weight moves."""
    from collections import Counter

    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    names = _matmul_roles(source)["ffn_outputs"] if names is None else names
    if not names:
        raise ValueError("no feed-forward output projection found in the graph")
    model = onnx.load(str(source))
    graph = model.graph
    nodes = {n.name: n for n in graph.node}
    inputs = [nodes[n].input[0] for n in names]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in inputs)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    del probe
    largest = [None] * len(inputs)
    for batch in batches:
        for i, value in enumerate(session.run(inputs, batch)):
            top = np.abs(value).reshape(-1, value.shape[-1]).max(0)
            largest[i] = top if largest[i] is None else np.maximum(largest[i], top)
    del session
    weights = {t.name: t for t in graph.initializer}
    uses = Counter(name for n in graph.node for name in n.input)
    position = {id(n): i for i, n in enumerate(graph.node)}
    inserted = []
    for name, top in zip(names, largest):
        node = nodes[name]
        if uses[node.input[1]] != 1:
            continue  # a shared weight cannot be rescaled for this projection alone
        w = numpy_helper.to_array(weights[node.input[1]])
        s = (np.clip(top, 1e-5, None) ** alpha / np.clip(np.abs(w).max(1), 1e-5, None) ** (1 - alpha))
        s = s.astype(np.float32)
        weights[node.input[1]].CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(w.dtype), node.input[1]))
        # a Mul of its own after the GELU: folded into the GELU's 0.5 instead, it stops ONNX Runtime from
        # fusing the GELU, which cost MiniLM 9% of its speed
        graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), name + "/smooth"))
        scaled = node.input[0] + "/smoothed"
        inserted.append((position[id(node)], helper.make_node("Mul", [node.input[0], name + "/smooth"], [scaled],
                                                             name=name + "/Smooth")))
        node.input[0] = scaled
    for at, extra in sorted(inserted, key=lambda t: -t[0]):  # each just before its projection
        graph.node.insert(at, extra)
    onnx.save(model, str(destination))
    return destination


def quantize_static_int8(source: Path, destination: Path, recipe: StaticInt8Recipe,
                         batches: list[dict]) -> Path:
    """Static int8 quantization of ``source`` (from :func:`prepare_static`) into ``destination``,
    calibrated on ``batches`` (the graph's int64 inputs)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            return next(self.batches, None)

    source, destination = Path(source).resolve(), Path(destination).resolve()  # the cwd changes below
    roles = _matmul_roles(source)
    if (recipe.ffn_output_fp32 or recipe.smooth is not None) and not roles["ffn_outputs"]:
        raise ValueError("no feed-forward output projection found in the graph")
    excluded = list(roles["ffn_outputs"]) if recipe.ffn_output_fp32 else []
    extra = {}
    if recipe.float_outputs:
        excluded += roles["activation_products"]
        extra["OpTypesToExcludeOutputQuantization"] = ["MatMul", "Gemm"]
    smoothed = None
    if recipe.smooth is not None:  # node names survive the smoothing: the Muls it adds are new nodes
        smoothed = source = smooth_ffn_inputs(source, destination.with_name(destination.stem + ".smoothed.onnx"),
                                              batches, recipe.smooth, roles["ffn_outputs"])
    try:
        with contextlib.redirect_stdout(io.StringIO()), _quiet("root"), contextlib.chdir(destination.parent):
            quantize_static(str(source), str(destination), Reader(),
                            quant_format=QuantFormat.QDQ if recipe.float_outputs else QuantFormat.QOperator,
                            per_channel=True, reduce_range=recipe.reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=excluded,
                            calibrate_method=CalibrationMethod.MinMax, extra_options=extra)
    finally:
        if smoothed is not None:
            smoothed.unlink(missing_ok=True)
    return destination


def convert_fp16(source: Path, destination: Path) -> Path:
    """fp16 weights and compute with fp32 inputs and outputs (``keep_io_types``), for CUDA."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    with _quiet("root"):
        converted = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(converted, str(destination))
    return destination


@contextlib.contextmanager
def _quiet(name: str):
    """ONNX Runtime's tools log advice (pre-processing, shape inference) on the root logger."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
