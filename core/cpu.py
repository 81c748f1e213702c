"""The CPU's instruction sets, as far as int8 inference is concerned.

ONNX Runtime multiplies uint8 activations by int8 weights (U8S8) with whichever kernel the CPU
offers. With VNNI (AVX-512 VNNI, AVX-VNNI), AMX or an ARM dot product the sums are exact. On x86
without them (AVX2, or AVX-512 without VNNI) the kernel adds pairs of u8 x s8 products into 16
bits, which saturates: 255 x 127 x 2 > 32767. The same graph can then be exact on one machine and
wrong on the next (ONNX Runtime's own remedies: 7-bit weights, ``reduce_range``, or its U8U8
kernel, the session option ``session.x64quantprecision``). The export records the class it chose
its int8 recipe for, and the runtime re-checks a graph that lands on another class.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, field

__all__ = ["CpuInfo", "detect_cpu", "cpu_info_for", "INT8_CLASSES", "PRECISE_KERNEL_OPTION"]

# Int8 classes, best first, and the flags (as /proc/cpuinfo spells them) that make each.
INT8_CLASSES = {
    "amx": ("amx_int8",),
    "avx512-vnni": ("avx512_vnni",),
    "avx-vnni": ("avx_vnni",),
    "avx512": ("avx512bw",),
    "avx2": ("avx2",),
    "arm-dotprod": ("asimddp",),
    "arm": ("asimd",),
}
_X86_SATURATING = ("avx512", "avx2", "x86")  # U8S8 kernels that add products into 16 bits
_REPORTED = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_tile", "fma", "f16c",
             "asimd", "asimddp", "sve", "i8mm")
# ONNX Runtime's session option for its non-saturating U8U8 kernel on such CPUs (slower)
PRECISE_KERNEL_OPTION = "session.x64quantprecision"


@dataclass(frozen=True)
class CpuInfo:
    """``int8_class``: one of :data:`INT8_CLASSES`, ``x86`` (x86 without AVX2) or ``unknown``."""

    int8_class: str
    model: str = ""
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def u8s8_saturates(self) -> bool:
        """Whether ONNX Runtime's default U8S8 kernel can saturate here (x86 without VNNI)."""
        return self.int8_class in _X86_SATURATING

    def describe(self) -> dict:
        return {"class": self.int8_class, "model": self.model, "flags": list(self.flags),
                "u8s8_saturates": self.u8s8_saturates}


def cpu_info_for(int8_class: str) -> CpuInfo:
    """A CPU of the named class, to export for a machine other than this one (``--cpu-class``)."""
    if int8_class not in INT8_CLASSES and int8_class != "x86":
        raise ValueError(f"unknown CPU class {int8_class!r}; use one of {', '.join([*INT8_CLASSES, 'x86'])}")
    return CpuInfo(int8_class, model=f"(asked for: {int8_class})", flags=INT8_CLASSES.get(int8_class, ()))


@functools.lru_cache(maxsize=1)
def detect_cpu() -> CpuInfo:
    """This machine's CPU (``FTSUITE_CPU_CLASS`` overrides the class, e.g. to rehearse another)."""
    forced = os.environ.get("FTSUITE_CPU_CLASS", "").strip()
    model, flags = _read_cpuinfo()
    if forced:
        return CpuInfo(cpu_info_for(forced).int8_class, model=model, flags=flags)
    for name, needs in INT8_CLASSES.items():
        if all(f in flags for f in needs):
            return CpuInfo(name, model, flags)
    machine = platform.machine().lower()
    return CpuInfo("x86" if machine in ("x86_64", "amd64", "i686") else "unknown", model or machine, flags)


def _read_cpuinfo() -> tuple[str, tuple[str, ...]]:
    """Model name and the int8-relevant flags from /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            text = handle.read(1 << 20)
    except OSError:
        return platform.processor(), ()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model, tuple(f for f in _REPORTED if f in flags)
