"""Device-aware defaults: the same command runs on a CPU laptop and a GPU host.

`auto` picks CUDA when present (bf16 where the GPU supports it, else fp16), then Apple's MPS,
else the CPU in float32 (bf16 matmuls on most CPUs are slow and some kernels lack them).
"""

from __future__ import annotations

from typing import Any

from r1cli.errors import R1Error

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_HELP = "auto, cpu, cuda, cuda:1, mps."
DTYPE_HELP = "auto (bf16 on GPUs that support it, float32 on CPU), float32, bfloat16, float16."


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        try:
            kind = torch.device(requested).type
        except (RuntimeError, ValueError):
            raise R1Error(f"--device {requested!r}: not a device; use auto, cpu, cuda, cuda:N or mps") from None
        if kind == "cuda" and not torch.cuda.is_available():
            raise R1Error(f"--device {requested}: no CUDA GPU is available on this machine; use --device cpu or auto")
        if kind == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise R1Error(f"--device {requested}: Apple's MPS is not available on this machine; use --device cpu or auto")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, requested: str = "auto") -> Any:
    import torch

    if requested not in DTYPES:
        raise R1Error(f"--dtype {requested!r}: choose one of {', '.join(DTYPES)}")
    if requested != "auto":
        return getattr(torch, requested)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def training_precision(device: str) -> dict[str, bool]:
    """`bf16`/`fp16` flags for a transformers/TRL training config on this device."""
    import torch

    if device.startswith("cuda"):
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16}
    return {"bf16": False, "fp16": False}
