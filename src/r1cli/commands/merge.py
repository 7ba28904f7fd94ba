"""`r1cli merge`: LoRA adapter + base -> a standalone model folder (transformers and vLLM load it).

    r1cli merge runs/grpo -o models/r1-zero-merged
    r1cli merge runs/sft/checkpoint-200 -m Qwen/Qwen2.5-1.5B -o models/sft-200
    r1cli merge models/SmolLM2-135M-Instruct.Q4_1.gguf -o models/smollm2   # a GGUF file, de-quantized

A GGUF file (or a folder holding one) without an adapter is written out de-quantized: the
same standalone folder, for tools that take safetensors only (vLLM, other trainers).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from r1cli.artifacts import Manifest, check_output_folder, publish_folder, write_manifest
from r1cli.console import info
from r1cli.errors import R1Error


def run(adapter: str, output: str, *, model: str | None = None, dtype: str = "float32", trust_remote_code: bool = False,
        force: bool = False) -> dict[str, Any]:
    import torch

    from r1cli import models
    from r1cli.device import DTYPES

    if dtype not in DTYPES or dtype == "auto":
        raise R1Error(f"--dtype {dtype!r}: choose float32, bfloat16 or float16")
    out = Path(output)
    check_output_folder(out, force=force, stage="merge")
    if (Path(adapter) / "adapter_config.json").exists():
        ref = models.resolve(model, adapter) if model else models.resolve(adapter)
    elif Path(adapter).suffix.lower() == models.GGUF_SUFFIX or any(Path(adapter).glob(f"*{models.GGUF_SUFFIX}")):
        ref = models.resolve(adapter)  # a GGUF model, written out de-quantized
    else:
        raise R1Error(f"{adapter}: not a LoRA adapter folder (no adapter_config.json) nor a GGUF model; "
                      "a --full run's folder is a model already")
    manifest = Manifest("merge", {"adapter": adapter, "model": model, "dtype": dtype}, model=ref.identity())
    out.parent.mkdir(parents=True, exist_ok=True)
    build_dir = out.with_name(f".{out.name}.partial")
    shutil.rmtree(build_dir, ignore_errors=True)
    models.merge(ref, build_dir, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code)
    write_manifest(build_dir, manifest.finish({"files": sorted(p.name for p in build_dir.iterdir())}))
    publish_folder(build_dir, out, force)
    info(f"merge: {ref.name}{f' + {ref.adapter}' if ref.adapter else ' (de-quantized)'} -> {out}")
    return {"output": str(out)}
