"""`accuracy`: correctness decided by each record's own task.

A task names the reward that judges its answers (`math` for MATH, `numeric` for GSM8K and
arithmetic, `countdown` without the format bonus for Countdown). `accuracy` routes every
completion to its task's checker, so one spec works for any task, mixed files included:

    r1cli reward samples.jsonl --reward accuracy --reward format=0.2 -o scored.jsonl
"""

from __future__ import annotations

from typing import Any

from r1cli.rewards import Reward, register

_warned: set[Any] = set()


def _warn_once(task: Any) -> None:
    if task not in _warned:
        _warned.add(task)
        from r1cli import tasks
        from r1cli.console import warn

        warn(f"accuracy: no built-in task {task!r} (known: {', '.join(tasks.TASKS)}); its records score null (unjudged)")


@register("accuracy", needs=("task",))
def accuracy(completions: list[Any], task: list[str] | None = None, **kwargs: Any) -> list[float | None]:
    """Correctness by each record's task (1.0 correct, 0.0 wrong, None if unjudgeable or another task)."""
    from r1cli import tasks

    n = len(completions)
    names = task if task is not None else [None] * n
    scores: list[float | None] = [None] * n
    by_task: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_task.setdefault(name, []).append(i)
    for name, rows in by_task.items():
        if name not in tasks.TASKS:
            # Mixed data (R1's stage 4 mixes reasoning and general prompts): what no task can
            # judge is left unjudged, like an unparseable gold answer.
            _warn_once(name)
            continue
        checker = Reward(tasks.TASKS[name].accuracy)
        # Per-completion columns are lists of length n; everything else (TRL's trainer_state,
        # log callbacks) passes through unchanged.
        subset = {k: [v[i] for i in rows] if isinstance(v, list) and len(v) == n else v for k, v in kwargs.items()}
        for i, s in zip(rows, checker([completions[i] for i in rows], task=[names[i] for i in rows], **subset)):
            scores[i] = s
    return scores
