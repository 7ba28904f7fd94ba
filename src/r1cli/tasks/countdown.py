"""TinyZero's Countdown: reach the target with each given number once, using + - * /.

    r1cli prepare countdown -n 1000 -o countdown.jsonl
    r1cli prepare countdown -n 200 --split test --option max_numbers=5 -o test.jsonl

Problems are generated from a seed and solvable by construction (the solution is kept).
Correct means the `countdown` reward's 1.0 without format credit (rule=strict).
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

from r1cli.rewards import RewardSpec
from r1cli.tasks.generated import take
from r1cli.tasks.task import Task

COUNTDOWN_QUESTION = (
    "Using the numbers {numbers}, create an equation that equals {target}. "
    "You can use basic arithmetic operations (+, -, *, /) and each number must be used exactly once. "
    "Show your reasoning in <think> </think> tags and give the final equation in <answer> </answer> tags, "
    "for example <answer> (1 + 2) / 3 </answer>"
)


def _random_expression(rng: random.Random, numbers: list[int]) -> tuple[str, Fraction] | None:
    """Combine all numbers with random operations; None if an intermediate goes bad."""
    items: list[tuple[str, Fraction]] = [(str(n), Fraction(n)) for n in numbers]
    while len(items) > 1:
        i, j = rng.sample(range(len(items)), 2)
        (ea, va), (eb, vb) = items[i], items[j]
        op = rng.choice("+-*/")
        if op == "/" and (vb == 0 or (va / vb).denominator != 1):
            return None
        value = {"+": va + vb, "-": va - vb, "*": va * vb, "/": va / vb if vb else Fraction(0)}[op]
        if value <= 0:
            return None
        rest = [it for k, it in enumerate(items) if k not in (i, j)]
        items = [*rest, (f"({ea} {op} {eb})", value)]
    expr, value = items[0]
    return expr[1:-1] if expr.startswith("(") else expr, value


def countdown(n: int, seed: int, split: str, *, min_numbers: int = 3, max_numbers: int = 4, max_number: int = 99, max_target: int = 100) -> list[dict[str, Any]]:
    """Countdown problems that are solvable by construction (the solution is kept)."""

    def make(rng: random.Random) -> dict[str, Any] | None:
        numbers = [rng.randint(1, max_number) for _ in range(rng.randint(min_numbers, max_numbers))]
        built = _random_expression(rng, numbers)
        if built is None or built[1].denominator != 1 or not 1 <= built[1] <= max_target:
            return None
        solution, value = built
        target = int(value)
        return {
            "question": COUNTDOWN_QUESTION.format(numbers=numbers, target=target),
            "answer": str(target),
            "numbers": numbers,
            "target": target,
            "solution": solution,
        }

    return take(make, n, seed, split, key=lambda r: f"{sorted(r['numbers'])}->{r['target']}")


TASK = Task(
    "countdown",
    "TinyZero's Countdown: reach the target with each given number once (generated)",
    accuracy=RewardSpec("countdown", 1.0, {"format_score": 0.0, "rule": "strict"}),
    rewards=(RewardSpec("countdown", 1.0),),
    answer_kind="countdown",
    generate=countdown,
    answer_is_solution=True,
)
