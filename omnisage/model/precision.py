"""In what precision torch runs a forward: bf16 autocast where the device computes bf16 natively, else fp32.

Training (`train.precision`), the relevance teacher and batch inference of entities share these, so a device
that has native bf16 uses it everywhere and one that would emulate it (slower than fp32) nowhere.
"""

from __future__ import annotations

import torch


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX), so bf16 autocast beats fp32; elsewhere
    bf16 is emulated and slower. torch exposes the probes only privately, so a build without them reads as no."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """ "auto", "fp32" or "bf16" -> the autocast dtype (None: fp32). "auto" is bf16 where the device computes it
    natively (a GPU that supports it, a CPU with AVX512-BF16 or AMX)."""
    if precision == "auto":
        native = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_native_bf16()
        precision = "bf16" if native else "fp32"
    return None if precision == "fp32" else torch.bfloat16  # the value is checked where the config is built


def autocast(device: torch.device, amp: torch.dtype | None) -> torch.autocast:
    """Autocast to `amp`, or a disabled one (fp32) for None."""
    return torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None)
