"""The workload the model benchmarks share: a tiny Qwen2 built offline and Countdown prompts.

Every side of a comparison runs on the same model folder and the same prompts, built here once
per benchmark run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Workload:
    work: Path  # a fresh temporary folder for this run's outputs
    model: Path  # the tiny model's folder
    prompts: Path  # the prompt records as JSONL
    records: list[dict[str, Any]]


def tiny_workload(prefix: str, *, hidden_size: int, layers: int, n_prompts: int, threads: int | None = None) -> Workload:
    """Build the model and prompts; `threads` pins torch's CPU threads (1 steadies timings on a
    shared host). r1cli's own logging is silenced: the benchmark prints what it measures."""
    import torch

    from r1cli import artifacts, console
    from r1cli.tasks import PromptSource, build_prompts
    from r1cli.tiny import TinySpec, build

    console.quiet = True
    if threads:
        torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    build(work / "model", TinySpec(hidden_size=hidden_size, layers=layers, heads=max(4, hidden_size // 64), kv_heads=2,
                                   intermediate_size=hidden_size * 4))
    records, _ = build_prompts(PromptSource(task="countdown", n=n_prompts, seed=0))
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(artifacts.dumps(r) for r in records), encoding="utf-8")
    return Workload(work, work / "model", prompts, records)
