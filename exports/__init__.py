"""The export stage: torch -> validated ONNX graphs (fp32, int8, fp16) and the inference benchmark.

``export_artifact`` writes ``ARTIFACT/onnx/`` and the manifest's ``onnx`` entry; the apps load the
graphs through ``core.inference``, never through this package.
"""

from .bench import benchmark_artifact, format_markdown
from .onnx_export import export_artifact
from .validate import TOLERANCES, Tolerance

__all__ = ["export_artifact", "benchmark_artifact", "format_markdown", "Tolerance", "TOLERANCES"]
