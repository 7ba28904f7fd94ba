"""Where the parts of an R1-style completion are: the `<answer>` and the `<think>` spans.

Every reward and filter that reads a part of a completion finds it here, so they agree.
"""

from __future__ import annotations


def answer_span(text: str) -> str | None:
    """The content of the last `<answer>...</answer>`, or None when there is none.

    Found from the end with `rfind`: a regex search for `<answer>(.*?)</answer>` rescans the
    rest of the text for every unclosed `<answer>`, quadratic on a degenerate repeating output.

    >>> answer_span("<think>2+2</think><answer> 4 </answer>")
    ' 4 '
    """
    end = text.rfind("</answer>")
    if end < 0:
        return None
    start = text.rfind("<answer>", 0, end)
    return None if start < 0 else text[start + len("<answer>") : end]


def thought(text: str) -> str:
    """The chain of thought: the `<think>` content, else the whole text.

    Unclosed `<think>` (a truncated completion): everything after it. Only `</think>` (the chat
    template already opened the block): everything before it.
    """
    start = text.find("<think>")
    if start >= 0:
        body = text[start + len("<think>"):]
        end = body.find("</think>")
        return body if end < 0 else body[:end]
    end = text.find("</think>")
    return text if end < 0 else text[:end]
