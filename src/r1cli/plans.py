"""`--dry-run`: everything a run would check, a real step timed, the plan printed, nothing written.

    r1cli sample prompts.jsonl -m MODEL -k 8 --dry-run -o samples.jsonl
    r1cli grpo prompts.jsonl -m MODEL -c grpo.yaml --dry-run -o runs/rl

`sample` generates one batch (at most DRY_TOKENS new tokens) and `grpo`, `sft` and
`distill --mode token` train one step in a throw-away folder (saving one checkpoint there, to
weigh it). The plan: the work (prompts, steps, tokens to generate and to train), the measured
speed, the estimated wall time, the peak memory of this process, and checkpoints with the disk
they need. Estimates are upper bounds where only a limit is known (every completion taken to
its token limit), and the first step carries start-up costs the later ones do not.
"""

from __future__ import annotations

import resource
import sys
from typing import Any

from r1cli.console import info

DRY_TOKENS = 32  # new tokens per completion when timing sampling: enough to measure a rate


def peak_memory_bytes() -> int:
    """This process's peak resident memory (and, on a GPU, the peak it allocated there)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    gpu = 0
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.max_memory_allocated()
    return rss + gpu


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def show(stage: str, plan: dict[str, Any]) -> None:
    """The plan on stderr, one fact a line (stdout stays for data)."""
    info(f"{stage} --dry-run: nothing was written; the plan:")
    for key, value in plan.items():
        info(f"  {key}: {value}")
