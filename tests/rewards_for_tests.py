"""A user-defined reward for the training tests, loaded by dotted path (`rewards_for_tests:digits`).

A random tiny model emits digits now and then, so this reward has spread inside every group
from the first step: exactly what GRPO needs to show it optimises.
"""

from __future__ import annotations

from typing import Any

from r1cli.records import completion_text


def digits(completions: list[Any], **kwargs: Any) -> list[float]:
    """Share of characters that are digits."""
    texts = [completion_text(c) for c in completions]
    return [sum(ch.isdigit() for ch in t) / max(1, len(t)) for t in texts]
