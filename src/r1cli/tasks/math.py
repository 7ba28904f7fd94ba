"""MATH format: competition problems with LaTeX answers (MATH, MATH-500, AIME), from a file or the hub.

    r1cli prepare math --data ../shared/data/math500/test.jsonl -o math500.jsonl

The gold is `answer`, or the last \\boxed{} of `solution`. Correct means the `math` reward's
1.0 (math-verify).
"""

from __future__ import annotations

import re
from typing import Any

from r1cli.rewards import RewardSpec
from r1cli.tasks.task import ACCURACY_FORMAT, Task


def last_boxed(text: str) -> str | None:
    r"""Content of the last `\boxed{...}` (or `\fbox{...}`) in `text`, braces balanced."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    i = start = starts[-1]
    depth = 1
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i].strip()
        i += 1
    return None


def gold(row: dict[str, Any]) -> str | None:
    value = row.get("answer")
    if value not in (None, ""):
        return str(value).strip()
    solution = row.get("solution")
    return last_boxed(str(solution)) if solution else None


TASK = Task(
    "math",
    "competition math with LaTeX answers checked by math-verify (MATH / MATH-500 / AIME format)",
    accuracy=RewardSpec("math"),
    rewards=ACCURACY_FORMAT,
    answer_kind="math",
    fields={"question": "problem", "answer": "answer"},
    gold=gold,
    hub=("HuggingFaceH4/MATH-500", None),
    gold_in_solution=True,
)
