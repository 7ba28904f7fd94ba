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
from typing import Any

from r1cli import artifacts, records as schema, rewards as registry
from r1cli.artifacts import JsonlOutput, Manifest
from r1cli.config import StageConfig
from r1cli.console import Progress, info

CHUNK = 512  # records scored per call: bounds memory and paces progress and streaming output


@dataclass
class RewardConfig(StageConfig):
    rewards: registry.RewardsSetting = registry.rewards_option()

    def validate(self) -> None:
        self.rewards = registry.as_specs(self.rewards, self.source or "--reward")


def run(input_path: str, output: str, cfg: RewardConfig, *, force: bool = False) -> dict[str, Any]:
    from r1cli import tasks

    artifacts.check_output_free(output, force)
    loaded = artifacts.read_jsonl(input_path)
    schema.validate(loaded, "sample")
    specs = cfg.rewards or tasks.default_rewards(loaded.records)
    resolved = registry.prepare(specs, loaded.records, loaded.where)
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
        out.commit(manifest.finish(stats, **registry.manifest_details(resolved)))
    info("reward: " + ", ".join(f"{n} {s['mean']:.3f}" if s["mean"] is not None else f"{n} n/a" for n, s in stats["per_reward"].items())
         + (f"; total {stats['reward_mean']:.3f}" if stats["reward_mean"] is not None else "") + f" over {stats['samples']} samples -> {output}")
    return stats


def describe_rewards() -> str:
    """`r1cli reward --list`: every built-in reward, the columns it needs and its parameters."""
    import r1cli.tasks  # noqa: F401  (registers the task-routed `accuracy`)

    lines = []
    for name in registry.names():
        fn = registry.lookup(name)
        lines.append(f"{name:<12} {registry.describe(name)}")
        needs = ", ".join(registry.needs(fn))
        if needs:
            lines.append(f"{'':<12}   needs: {needs}")
        params = ", ".join(f"{k}={v!r}" for k, v in registry.parameters(fn).items())
        if params:
            lines.append(f"{'':<12}   parameters: {params}")
    return "\n".join(lines)


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
