"""GSM8K: grade-school word problems with a numeric answer, read from a file or the hub.

    r1cli prepare gsm8k --data ../shared/data/gsm8k/test.jsonl -n 100 -o gsm8k.jsonl

The gold number follows `####` in `answer`; the worked solution before it is kept as
`solution` (cold-start SFT material). Correct means the `numeric` reward's 1.0.
"""

from __future__ import annotations

from typing import Any

from r1cli.rewards import RewardSpec
from r1cli.tasks.task import ACCURACY_FORMAT, Task


def gold(row: dict[str, Any]) -> str | None:
    value = row.get("answer")
    if value is None:
        return None
    text = str(value)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    return text.strip().replace(",", "") or None


TASK = Task(
    "gsm8k",
    "grade-school word problems with a numeric answer (GSM8K format)",
    accuracy=RewardSpec("numeric"),
    rewards=ACCURACY_FORMAT,
    answer_kind="numeric",
    fields={"question": "question", "answer": "answer"},
    gold=gold,
    hub=("openai/gsm8k", "main"),
    answer_holds_solution=True,
)
