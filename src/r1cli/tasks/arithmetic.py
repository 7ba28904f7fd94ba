"""Two-number arithmetic (`a + b`, `a - b`, optionally `a * b`), generated; easy enough for a
tiny model, and partly for a small real one.

    r1cli prepare arithmetic -n 500 -o arithmetic.jsonl
    r1cli prepare arithmetic --option digits=1 --split test -n 200 -o test.jsonl

Each problem keeps a column-arithmetic worked solution (`prepare --targets` turns it into a
cold-start SFT target). Correct means the `numeric` reward's 1.0.
"""

from __future__ import annotations

import random
from typing import Any

from r1cli.errors import R1Error
from r1cli.rewards import RewardSpec
from r1cli.tasks.generated import take
from r1cli.tasks.task import ACCURACY_FORMAT, Task

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


def arithmetic(n: int, seed: int, split: str, *, digits: int = 2, ops: str = "+-", max_operand: int = 0) -> list[dict[str, Any]]:
    """`a + b` style problems with a non-negative integer answer and a column-arithmetic
    solution: easy enough for a tiny model. Operands have up to `digits` digits, or, with
    `max_operand`, go from 0 to it (a difficulty between one and two digits)."""
    if max_operand < 0 or digits < 1:
        raise R1Error(f"--option digits must be >= 1 and max_operand >= 0, got digits={digits}, max_operand={max_operand}")
    hi = max_operand or 10**digits - 1

    def make(rng: random.Random) -> dict[str, Any]:
        op = rng.choice(ops)
        a, b = rng.randint(0, hi), rng.randint(0, hi)
        if op == "-" and b > a:
            a, b = b, a
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        return {"question": f"What is {a} {op} {b}?", "answer": str(value), "operands": [a, b], "op": op,
                "solution": column_steps(a, b, op)}

    return take(make, n, seed, split, key=lambda r: r["question"])


TASK = Task(
    "arithmetic",
    "two-number addition and subtraction (generated; learnable by a tiny model)",
    accuracy=RewardSpec("numeric"),
    rewards=ACCURACY_FORMAT,
    answer_kind="numeric",
    generate=arithmetic,
)
