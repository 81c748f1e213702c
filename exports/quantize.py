"""Lower-precision variants of an fp32 graph: int8 for the CPU (dynamic or static), fp16 for the GPU.

Dynamic int8 reads each activation's scale from the batch at run time, so a text's answer can move
with the other texts in its batch (BENCHMARKS.md: 2% of FPB labels for MiniLM, 10% for mpnet).
Static int8 fixes those scales beforehand from calibration texts: answers independent of the batch.
On the CPU it runs at 0.82x dynamic int8's speed for MiniLM and 1.67x fp32's for mpnet (BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Int8Recipe", "INT8_RECIPES", "StaticInt8Recipe", "STATIC_INT8_RECIPES", "quantize_int8",
           "prepare_static", "quantize_static_int8", "convert_fp16"]

log = logging.getLogger("ftsuite.exports")


@dataclass(frozen=True)
class Int8Recipe:
    """One way to quantize: per-tensor or per-channel weights, and which operators are quantized
    (``None``: every operator ONNX Runtime can quantize, the embedding tables included)."""

    name: str
    per_channel: bool
    op_types: tuple[str, ...] | None = None

    def describe(self) -> dict:
        return {"recipe": self.name, "method": "dynamic (weights int8, activations quantized at run time)",
                "weight_type": "QInt8", "per_channel": self.per_channel,
                "operators": list(self.op_types) if self.op_types else "all quantizable"}


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
    ``ffn_output_fp32`` keeps each feed-forward block's output projection in fp32: its input (the GELU
    output) has rare large values, and one scale for them all is too coarse for some models."""

    name: str
    ffn_output_fp32: bool = False

    def describe(self) -> dict:
        return {"recipe": self.name,
                "method": "static (weights int8, activation scales fixed by calibration: answers do not "
                          "depend on the batch)",
                "calibration": "MinMax", "weight_type": "QInt8", "activation_type": "QUInt8", "per_channel": True,
                "operators": "MatMul, Gemm" + (" except the feed-forward output projections" if self.ffn_output_fp32
                                               else ""),
                "format": "QOperator"}


# MiniLM (sentiment student, 50Agree): min-max on every MatMul agrees with fp32 on 92.6% of labels at
# 1.13x dynamic int8's speed; with the FFN outputs in fp32, 98.4% at 0.82x. mpnet needs the latter
# (61% -> 95%). The export keeps the candidate closest to torch.
STATIC_INT8_RECIPES = (
    StaticInt8Recipe("static, min-max"),
    StaticInt8Recipe("static, min-max, feed-forward outputs fp32", ffn_output_fp32=True),
)


def _ffn_output_matmuls(path: Path) -> list[str]:
    """MatMul nodes with a weight whose activation comes from a Mul or Gelu (the GELU of a
    feed-forward block, unfused as the exporter writes it)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    return [n.name for n in graph.node
            if n.op_type == "MatMul" and n.input[1] in weights and n.input[0] in producer
            and producer[n.input[0]].op_type in ("Mul", "Gelu")]


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
                         per_channel=recipe.per_channel,
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
    excluded = _ffn_output_matmuls(source) if recipe.ffn_output_fp32 else []
    if recipe.ffn_output_fp32 and not excluded:
        raise ValueError("no feed-forward output projection found in the graph")
    with contextlib.redirect_stdout(io.StringIO()), _quiet("root"), contextlib.chdir(destination.parent):
        quantize_static(str(source), str(destination), Reader(), quant_format=QuantFormat.QOperator,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=excluded,
                        calibrate_method=CalibrationMethod.MinMax)
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
