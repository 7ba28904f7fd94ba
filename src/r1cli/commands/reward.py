"""`r1cli reward`: score sampled completions with rule-based rewards.

    r1cli reward samples.jsonl -o scored.jsonl                       # the task's default rewards
    r1cli reward samples.jsonl --reward accuracy --reward format=0.2 -o scored.jsonl
    r1cli sample prompts.jsonl -m models/tiny -o - | r1cli reward - --reward mypkg.rewards:brevity=0.5 -o -

Each record gains `rewards` (every reward's score) and `reward` (their weighted sum). The
functions are the ones `grpo` hands to TRL, so offline and online scores agree.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from r1cli import artifacts, records as schema, rewards as registry
from r1cli.artifacts import JsonlOutput, Manifest
from r1cli.config import StageConfig
from r1cli.console import Progress, info
from r1cli.errors import R1Error

CHUNK = 512  # records scored per call: bounds memory and paces progress and streaming output


@dataclass
class RewardConfig(StageConfig):
    rewards: Any = None  # a mapping {name: weight | {weight, **params}} or a list of NAME[=WEIGHT]


def choose_specs(flags: list[str] | None, configured: Any, records: list[dict[str, Any]], config_file: str | None) -> list[registry.RewardSpec]:
    """Flags win over the config file's `rewards`; with neither, the task's default rewards."""
    if flags:
        return [registry.parse_flag(f) for f in flags]
    if configured is not None:
        return registry.parse_config(configured, config_file or "config")
    from r1cli import tasks

    names = sorted({r.get("task") for r in records})
    if len(names) != 1:
        raise R1Error(f"the input mixes tasks ({', '.join(map(str, names))}); choose rewards with --reward NAME[=WEIGHT]")
    return list(tasks.get(names[0]).rewards)


def run(input_path: str, output: str, flags: list[str] | None, cfg: RewardConfig, *, config_file: str | None = None,
        force: bool = False) -> dict[str, Any]:
    artifacts.check_output_free(output, force)
    loaded = artifacts.read_jsonl(input_path)
    schema.validate(loaded, "sample")
    specs = choose_specs(flags, cfg.rewards, loaded.records, config_file)
    resolved = registry.resolve(specs)
    check_columns(resolved, loaded.records, loaded.where)
    manifest = Manifest("reward", {"rewards": [s.as_dict() for s in specs]}, [loaded.info])
    t0 = time.monotonic()
    scored: list[dict[str, Any]] = []
    with JsonlOutput(output, force=force) as out, Progress("reward", len(loaded.records), unit="samples") as progress:
        for start in range(0, len(loaded.records), CHUNK):
            chunk = loaded.records[start : start + CHUNK]
            rows = [{**r, **s} for r, s in zip(chunk, registry.score(resolved, chunk))]
            out.write(rows)
            scored.extend({"rewards": r["rewards"], "reward": r["reward"]} for r in rows)
            progress.advance(len(chunk))
        stats = summarize(scored, [r.spec.name for r in resolved])
        stats["seconds"] = round(time.monotonic() - t0, 3)
        out.commit(manifest.finish(stats, **extra_manifest(resolved)))
    info("reward: " + ", ".join(f"{n} {s['mean']:.3f}" if s["mean"] is not None else f"{n} n/a" for n, s in stats["per_reward"].items())
         + (f"; total {stats['reward_mean']:.3f}" if stats["reward_mean"] is not None else "") + f" over {stats['samples']} samples -> {output}")
    return stats


def check_columns(resolved: list[registry.Reward], records: list[dict[str, Any]], where: Callable[[int], str]) -> None:
    """Every column a reward needs must be in every record, before any scoring (or training) starts."""
    for rw in resolved:
        for column in registry.needs(rw.fn):
            for i, record in enumerate(records):
                if column not in record:
                    raise R1Error(f"{where(i)}: field '{column}' missing; reward '{rw.spec.name}' needs it")


def extra_manifest(resolved: list[registry.Reward]) -> dict[str, Any]:
    """Facts a reader of the manifest needs about how scores were obtained (e.g. the sandbox)."""
    out: dict[str, Any] = {}
    for rw in resolved:
        describe = getattr(rw.fn, "manifest_info", None)
        if callable(describe):
            out.setdefault("reward_details", {})[rw.spec.name] = describe(**rw.spec.params)
    return out


def summarize(scored: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    per: dict[str, Any] = {}
    for name in names:
        values = [s["rewards"].get(name) for s in scored]
        present = [v for v in values if v is not None]
        per[name] = {
            "mean": math.fsum(present) / len(present) if present else None,
            "min": min(present) if present else None,
            "max": max(present) if present else None,
            "none": len(values) - len(present),
        }
    totals = [s["reward"] for s in scored if s["reward"] is not None]
    return {"samples": len(scored), "per_reward": per, "reward_mean": math.fsum(totals) / len(totals) if totals else None}
