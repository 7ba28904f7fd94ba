"""Sampling backends: one interface, so changing the engine is a flag, not a fork of the stage.

A backend turns tokenized prompts into K generations each. Every backend returns the same
`Generation` facts, so `sample` writes identical records whichever engine produced them.

    plain   transformers `generate`, everywhere (CPU included)
    fast    transformers modules under r1cli's own decoding loop: each prompt prefilled once for
            its K completions, a static KV cache, CUDA graphs on GPUs (backends/fast.py)
    vllm    vLLM, when it is installed (GPU hosts)
    auto    vllm when importable on a CUDA host; fast on CPU; plain elsewhere

Why `auto` picks fast over plain. On CPU, measured (`python benchmarks/bench_fast.py --threads 1`,
2026-11-21, 2-core shared VM, torch 2.13 CPU, Countdown prompts of ~194 tokens, temperature 0.6,
top-p 0.95): fast gave 1.84x plain's tokens/s on a 4M-parameter Qwen2 (K=4, 128 new tokens), 1.49x
on a 68M one, 2.6x with K=8 and 256 new tokens, and 1.37x even with K=1. It does less work per
token: one prefill per prompt instead of K, a cache written in place instead of re-concatenated at
each step, and (on CPU) no decoding of rows that have ended. On CUDA without vLLM, `auto` stays with
plain for now: fast's CUDA-graph path has not yet run on a GPU. Try it with `--backend fast` and
`python benchmarks/bench_fast.py` (it prints the ratio and the share of the memory-bandwidth
bound); once measured, flip the choice below. MPS keeps plain: fast has not been tried there.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Protocol

from r1cli.errors import R1Error

BACKENDS = ("auto", "plain", "fast", "vllm")


@dataclass(frozen=True)
class SamplingParams:
    k: int = 4
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 512
    stop: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class Generation:
    text: str
    completion_tokens: int
    finish_reason: str  # "stop" | "length"


class Backend(Protocol):
    name: str

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams, seed: int) -> list[list[Generation]]:
        """K generations for each prompt, in prompt order."""
        ...


def batch_seed(seed: int, ids: list[str]) -> int:
    """A batch's seed depends on the run's seed and the prompts in it, not on what ran before,
    so a resumed run samples a batch exactly as a fresh run with the same batches would."""
    digest = hashlib.sha256(f"{seed}:{chr(31).join(ids)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def choose(name: str, device: str, *, gguf: bool = False) -> str:
    if name not in BACKENDS:
        raise R1Error(f"--backend {name!r}: choose one of {', '.join(BACKENDS)}")
    has_vllm = importlib.util.find_spec("vllm") is not None
    if name == "vllm" and not has_vllm:
        raise R1Error("--backend vllm: vLLM is not installed; install it (pip install 'r1cli[vllm]') or use --backend plain")
    if name == "vllm" and gguf:
        raise R1Error("--backend vllm: r1cli does not hand GGUF files to vLLM (untested); use --backend fast or plain, "
                      "or write a safetensors copy first: r1cli merge MODEL.gguf -o DIR")
    if name == "auto":
        if device.startswith("cuda"):
            return "vllm" if has_vllm and not gguf else "plain"
        return "fast" if device == "cpu" else "plain"
    return name


def create(name: str, model_loader: Any, tokenizer: Any, **options: Any) -> Backend:
    """Instantiate backend `name`. `model_loader()` loads the transformers model on demand,
    since vLLM loads weights itself."""
    if name == "vllm":
        from r1cli.backends.vllm import VllmBackend

        return VllmBackend(tokenizer=tokenizer, **options)
    if name == "fast":
        from r1cli.backends.fast import FastBackend

        return FastBackend(model_loader(), tokenizer)
    from r1cli.backends.plain import PlainBackend

    return PlainBackend(model_loader(), tokenizer)
