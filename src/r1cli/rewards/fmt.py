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

from r1cli.errors import R1Error
from r1cli.records import completion_text
from r1cli.rewards import register

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_SHAPE = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
# R1's readable format (its cold start): reasoning, then a summary, then the answer.
_SHAPE_WITH_SUMMARY = re.compile(r"\s*<think>(.*?)</think>(.*?)<answer>(.*?)</answer>\s*", re.DOTALL)


def is_well_formatted(text: str, *, summary: bool = False) -> bool:
    """`<think>…</think>` then `<answer>…</answer>`, nothing else around, each tag exactly once;
    with `summary`, text between the two blocks is allowed.

    >>> is_well_formatted("<think>2 + 2 = 4</think>\\n<answer>4</answer>\\n")
    True
    >>> is_well_formatted("<think> </think><answer>4</answer>")  # an empty thought
    False
    >>> [is_well_formatted("<think>2 + 2 = 4</think> So it is 4. <answer>4</answer>", summary=s) for s in (False, True)]
    [False, True]
    """
    if any(text.count(tag) != 1 for tag in _TAGS):
        return False
    match = (_SHAPE_WITH_SUMMARY if summary else _SHAPE).fullmatch(text)
    return bool(match and match.group(1).strip())


@register("format")
def think_answer_format(completions: Sequence[Any], *, summary: bool = False, **kwargs: Any) -> list[float | None]:
    """1.0 for exactly `<think>…</think>` then `<answer>…</answer>` (non-empty thought), else 0.0.

    Surrounding whitespace is allowed; text before or after the two blocks, a repeated tag or
    an empty `<think>` gives 0.0, and so does text between them unless `summary=true`: R1's
    readable format after its cold start (`reject --reformat summary` writes it) puts a summary
    of the reasoning there.

    >>> think_answer_format(["<think>so 4</think> <answer>4</answer>", "<answer>4</answer>"])
    [1.0, 0.0]
    """
    if not isinstance(summary, bool):
        raise R1Error(f"reward 'format': summary must be true or false, got {summary!r}")
    return [1.0 if is_well_formatted(completion_text(c), summary=summary) else 0.0 for c in completions]


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
