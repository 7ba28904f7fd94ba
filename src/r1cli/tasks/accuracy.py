"""What "correct" means, decided here once: the task-routed `accuracy` reward and `is_correct`.

A task names the reward that judges its answers (`math` for MATH, `numeric` for GSM8K and
arithmetic, `countdown` without the format bonus for Countdown). `accuracy` routes every
completion to its task's checker, so one spec works for any task, mixed files included:

    r1cli reward samples.jsonl --reward accuracy --reward format=0.2 -o scored.jsonl

A score of 1.0 is correct (`is_correct`); eval's pass@1 and cons@k, reject's rejection
sampling and GRPO's accuracy all count the same thing. Importing `r1cli.tasks` registers
`accuracy` with the reward registry (the rewards package knows no tasks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from r1cli.errors import DataError
from r1cli.rewards import Reward, register

CORRECT = 1.0  # the score at and above which an answer counts as correct


def is_correct(score: float | None) -> bool | None:
    """True/False for a correctness score; None when it could not be judged.

    >>> [is_correct(s) for s in (1.0, 0.1, 0.0, None)]
    [True, False, False, None]
    """
    return None if score is None else score >= CORRECT


def judges(records: Sequence[dict[str, Any]], where: Callable[[int], str], explicit: str | None, *, required: bool) -> list[str] | None:
    """For each scored record, the reward whose score decides "correct" (None if not
    `required` and unknown).

    An explicit name must be scored on every record. Otherwise `accuracy` when the records
    carry it, else each record's task's own accuracy reward (`numeric` for gsm8k, ...).
    """
    from r1cli import tasks

    if explicit is not None:
        for i, r in enumerate(records):
            if explicit not in r["rewards"]:
                scored = ", ".join(sorted(r["rewards"])) or "none"
                raise DataError(where(i), f"no score '{explicit}' for --correct-reward (scored: {scored}); "
                                f"score it with `r1cli reward -r {explicit}` or pass one of the scored names", field="rewards")
        return [explicit] * len(records)
    names: list[str] = []
    for i, r in enumerate(records):
        name = "accuracy" if "accuracy" in r["rewards"] else None
        if name is None and r["task"] in tasks.TASKS:
            own = tasks.get(r["task"]).accuracy.name
            name = own if own in r["rewards"] else None
        if name is None:
            if not required:
                return None
            scored = ", ".join(sorted(r["rewards"])) or "none"
            raise DataError(where(i), f"no correctness score among {scored}; pass --correct-reward NAME, "
                            "or score the samples with `r1cli reward -r accuracy`", field="rewards")
        names.append(name)
    return names

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
