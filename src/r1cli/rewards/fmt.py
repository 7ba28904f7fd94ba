"""Format rewards: does the completion follow R1-Zero's `<think>...</think><answer>...</answer>`?

    r1cli reward samples.jsonl --reward math --reward format=0.2 -o scored.jsonl
    r1cli reward samples.jsonl --reward tags -o - | jq -c .rewards

`format` is all or nothing, as in the R1 report. `tags` gives partial credit per tag, a denser
signal that helps a small base model find the format early in training.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from r1cli.records import completion_text
from r1cli.rewards import register

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_SHAPE = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)


def is_well_formatted(text: str) -> bool:
    """`<think>…</think>` then `<answer>…</answer>`, nothing else around, each tag exactly once.

    >>> is_well_formatted("<think>2 + 2 = 4</think>\\n<answer>4</answer>\\n")
    True
    >>> is_well_formatted("<think> </think><answer>4</answer>")  # an empty thought
    False
    """
    if any(text.count(tag) != 1 for tag in _TAGS):
        return False
    match = _SHAPE.fullmatch(text)
    return bool(match and match.group(1).strip())


@register("format")
def think_answer_format(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 for exactly `<think>…</think>` then `<answer>…</answer>` (non-empty thought), else 0.0.

    Surrounding whitespace is allowed; text before, between (other than whitespace) or after
    the two blocks, a repeated tag or an empty `<think>` gives 0.0.

    >>> think_answer_format(["<think>so 4</think> <answer>4</answer>", "<answer>4</answer>"])
    [1.0, 0.0]
    """
    return [1.0 if is_well_formatted(completion_text(c)) else 0.0 for c in completions]


@register("tags")
def tag_count(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """0.25 for each of `<think>`, `</think>`, `<answer>`, `</answer>` appearing exactly once.

    >>> tag_count(["<think>hm</think><answer>4</answer>", "<think>hm</think> 4", "<think><think>4"])
    [1.0, 0.5, 0.0]
    """
    scores: list[float | None] = []
    for c in completions:
        text = completion_text(c)
        scores.append(0.25 * sum(text.count(tag) == 1 for tag in _TAGS))
    return scores
