"""Pick the fastest accurate CPU precision: bf16 autocast only where the CPU has native bf16 instructions."""

from __future__ import annotations

from functools import cache
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@cache
def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when /proc/cpuinfo lists AVX512-BF16 or AMX-BF16 (without them bf16 is emulated and ~30x slower)."""
    try:
        flags = Path(cpuinfo).read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in BF16_FLAGS)


def cpu_precision() -> str:
    """`bf16-mixed` on CPUs with native bf16, else `32-true`."""
    return "bf16-mixed" if cpu_has_bf16() else "32-true"


def default_precision(accelerator: str = "cpu") -> str:
    """`16-mixed` on GPUs, the CPU's best otherwise; trainer configs use `${default_precision:${.accelerator}}`."""
    return "16-mixed" if str(accelerator) in ("gpu", "cuda") else cpu_precision()
