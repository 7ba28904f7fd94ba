"""Tasks generated offline from a seed: Countdown (TinyZero's task) and arithmetic.

Generated problems are split into train and test by a hash of the problem itself, not by the
seed: a problem lands in the same split whatever seed or count produced it, so prompts
generated for training never appear among held-out evaluation prompts.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from r1cli.errors import R1Error

TEST_SHARE = 10  # one problem in TEST_SHARE belongs to the test split


def split_of(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "test" if digest[0] % TEST_SHARE == 0 else "train"


def _take(make: Callable[[random.Random], dict[str, Any] | None], n: int, seed: int, split: str, key: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 200 * n + 10_000:
            raise R1Error(f"could only generate {len(rows)} distinct {split} problems of the {n} asked for; widen the task's ranges (--option) or ask for fewer")
        row = make(rng)
        if row is None:
            continue
        k = key(row)
        if k in seen or split_of(k) != split:
            continue
        seen.add(k)
        rows.append(row)
    return rows


# -- Countdown -------------------------------------------------------------------------------

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

    return _take(make, n, seed, split, key=lambda r: f"{sorted(r['numbers'])}->{r['target']}")


# -- Arithmetic --------------------------------------------------------------------------------

def column_steps(a: int, b: int, op: str) -> str:
    """Column arithmetic, one digit at a time from the right, as a worked solution.

    Many problems share the same one-digit steps, so a model that learns the steps can solve
    problems it has never seen: the reason a chain of thought helps even a tiny model.

    >>> column_steps(97, 53, "+")
    '7 + 3 = 10 , 9 + 5 + 1 = 15'
    >>> column_steps(52, 38, "-")
    '12 - 8 = 4 , 5 - 3 - 1 = 1'
    >>> column_steps(7, 6, "*")
    '7 * 6 = 42'
    """
    if op not in "+-":
        return f"{a} {op} {b} = {a * b}"
    width = max(len(str(a)), len(str(b)))
    xs, ys = str(a).zfill(width)[::-1], str(b).zfill(width)[::-1]
    steps, carry = [], 0
    for x, y in zip(map(int, xs), map(int, ys)):
        extra = " + 1" if op == "+" and carry else " - 1" if carry else ""
        if op == "+":
            value = x + y + carry
            steps.append(f"{x} + {y}{extra} = {value}")
            carry = int(value >= 10)
        else:
            borrow = int(x - y - carry < 0)
            value = x + 10 * borrow - y - carry
            steps.append(f"{x + 10 * borrow} - {y}{extra} = {value}")
            carry = borrow
    return " , ".join(steps)


def arithmetic(n: int, seed: int, split: str, *, digits: int = 2, ops: str = "+-") -> list[dict[str, Any]]:
    """`a + b` style problems with a non-negative integer answer and a column-arithmetic
    solution: easy enough for a tiny model."""
    hi = 10**digits - 1

    def make(rng: random.Random) -> dict[str, Any]:
        op = rng.choice(ops)
        a, b = rng.randint(0, hi), rng.randint(0, hi)
        if op == "-" and b > a:
            a, b = b, a
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        return {"question": f"What is {a} {op} {b}?", "answer": str(value), "operands": [a, b], "op": op,
                "solution": column_steps(a, b, op)}

    return _take(make, n, seed, split, key=lambda r: r["question"])

