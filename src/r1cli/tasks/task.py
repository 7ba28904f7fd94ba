"""A task: what its data looks like, which reward decides a correct answer, and how answers
are normalised for majority voting. One file per task beside this one, and a line in
`r1cli.tasks.TASKS`, is all a new task takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field as dc_field
from typing import Any

from r1cli.rewards import RewardSpec

# The rewards most tasks train with: correctness, and a little for R1's format.
ACCURACY_FORMAT = (RewardSpec("accuracy", 1.0), RewardSpec("format", 0.2))


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    accuracy: RewardSpec
    rewards: tuple[RewardSpec, ...]
    answer_kind: str  # how `answer_key` normalises answers for majority voting
    generate: Callable[..., list[dict[str, Any]]] | None = None
    fields: Mapping[str, str] = dc_field(default_factory=dict)  # record field -> default source column
    gold: Callable[[dict[str, Any]], Any] | None = None  # gold answer from a source row
    hub: tuple[str, str | None] | None = None  # default hub dataset (name, config)
    # The name checks a stage would otherwise make:
    gold_in_solution: bool = False  # with no answer column, the gold is the last \\boxed{} of `solution` (MATH)
    answer_holds_solution: bool = False  # the gold column holds a worked solution too, kept as `solution` (GSM8K's "... #### 42")
    answer_is_solution: bool = False  # the reference solution is itself the answer, e.g. an equation (Countdown)

    @property
    def generated(self) -> bool:
        return self.generate is not None
