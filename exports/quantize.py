"""Lower-precision variants of an fp32 graph: dynamic int8 for the CPU, fp16 for the GPU."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Int8Recipe", "INT8_RECIPES", "quantize_int8", "convert_fp16"]

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
