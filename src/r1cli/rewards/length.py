"""Length-shaping rewards: cosine-scaled accuracy, DAPO's overlong punishment, n-gram repetition.

    r1cli reward samples.jsonl --reward cosine -o scored.jsonl
    r1cli grpo prompts.jsonl -m MODEL -r accuracy -r overlong=1,max_length=4096 -o runs/rl

`cosine` and `overlong` measure length in tokens: under GRPO TRL passes `completion_ids`;
offline, records from `r1cli sample` carry `completion_tokens`. Text alone is refused rather
than guessed from characters, because a guess would make offline and online scores disagree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from r1cli.errors import R1Error
from r1cli.records import completion_text
from r1cli.rewards import lookup, register


def token_counts(name: str, n: int, completion_ids: Sequence[Any] | None, completion_tokens: Sequence[Any] | None) -> list[int]:
    """Completion lengths in tokens, from TRL's `completion_ids` or the `completion_tokens` column."""
    if completion_ids is not None:
        return [len(ids) for ids in completion_ids]
    if completion_tokens is not None and all(isinstance(t, int) and not isinstance(t, bool) for t in completion_tokens):
        return list(completion_tokens)
    raise R1Error(
        f"reward {name!r} needs token counts: under `r1cli grpo` TRL provides them; offline, score the output of "
        f"`r1cli sample` (its records have 'completion_tokens'){' — some records lack it' if completion_tokens is not None else ''}"
    )


def cosine_scale(length: int, max_length: int, start: float, end: float) -> float:
    """From `start` at length 0 to `end` at `max_length` along half a cosine; `end` beyond."""
    progress = min(length, max_length) / max_length
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * progress))


@register("cosine")
def cosine(
    completions: Sequence[Any],
    completion_ids: Sequence[Any] | None = None,
    completion_tokens: Sequence[Any] | None = None,
    *,
    accuracy: str = "math",
    max_length: int = 1024,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
    **kwargs: Any,
) -> list[float | None]:
    """Accuracy scaled by length: short correct answers earn most, short wrong ones lose most.

    From "Demystifying Long Chain-of-Thought Reasoning in LLMs" (Yeo et al., 2025). A correct
    completion (the `accuracy` reward, looked up by name, scores >= 1.0) earns
    `max_value_correct` at length 0 falling along a cosine to `min_value_correct` at
    `max_length` tokens; a wrong one earns `min_value_wrong` at length 0 rising to
    `max_value_wrong`, so the model may think longer when it is not yet right. Lengths beyond
    `max_length` count as `max_length`. Where the accuracy reward gives None, so does this.

    >>> cosine(["<answer>4</answer>", "<answer>5</answer>"], completion_ids=[[0] * 512, [0] * 512], answer=["4", "4"])
    [0.75, -0.75]
    """
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
        raise R1Error(f"reward 'cosine': max_length must be a positive integer, got {max_length!r}")
    check = lookup(accuracy)
    if check is cosine or accuracy == "cosine":
        raise R1Error("reward 'cosine': accuracy must name another reward (e.g. math, numeric, countdown)")
    lengths = token_counts("cosine", len(completions), completion_ids, completion_tokens)
    correct = check(completions, completion_ids=completion_ids, completion_tokens=completion_tokens, **kwargs)
    scores: list[float | None] = []
    for length, acc in zip(lengths, correct):
        if acc is None:
            scores.append(None)
        elif acc >= 1.0:
            scores.append(cosine_scale(length, max_length, max_value_correct, min_value_correct))
        else:
            scores.append(cosine_scale(length, max_length, min_value_wrong, max_value_wrong))
    return scores


@register("overlong")
def overlong(
    completions: Sequence[Any],
    completion_ids: Sequence[Any] | None = None,
    completion_tokens: Sequence[Any] | None = None,
    *,
    max_length: int = 1024,
    cache: int = 256,
    **kwargs: Any,
) -> list[float | None]:
    """DAPO's soft overlong punishment: 0 up to max_length - cache tokens, down to -1 at max_length.

    Linear in between, -1 beyond `max_length`. Set `max_length` to the generation limit
    (`max_completion_length`): a completion cut off there is punished, one that ends within
    the first `max_length - cache` tokens is not.

    >>> overlong(["a", "b", "c", "d"], completion_ids=[[0] * 700, [0] * 832, [0] * 1024, [0] * 2000])
    [0.0, -0.25, -1.0, -1.0]
    """
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
        raise R1Error(f"reward 'overlong': max_length must be a positive integer, got {max_length!r}")
    if not isinstance(cache, int) or isinstance(cache, bool) or not 0 <= cache <= max_length:
        raise R1Error(f"reward 'overlong': cache must be an integer from 0 to max_length ({max_length}), got {cache!r}")
    safe = max_length - cache
    scores: list[float | None] = []
    for length in token_counts("overlong", len(completions), completion_ids, completion_tokens):
        if length <= safe:
            scores.append(0.0)
        elif length <= max_length:
            scores.append((safe - length) / cache)
        else:
            scores.append(-1.0)
    return scores


# Scripts written without spaces (Chinese, Japanese, Thai): each character is a token, since a
# whole sentence would otherwise be one "word" and repetition inside it would go unseen.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f\U00020000-\U0002ffff"
_TOKEN = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+")


def words(text: str) -> list[str]:
    """Lowercase words for n-gram counting; Chinese/Japanese/Thai characters one by one.

    >>> words("Wait, wait. 我们再算")
    ['wait', 'wait', '我', '们', '再', '算']
    """
    return _TOKEN.findall(text.lower())


@register("repetition")
def repetition(
    completions: Sequence[Any],
    *,
    ngram: int = 3,
    max_penalty: float = -1.0,
    **kwargs: Any,
) -> list[float | None]:
    """N-gram repetition penalty: (1 - unique n-grams / all n-grams) * max_penalty, over lowercase words.

    0.0 for text with fewer than `ngram` words. Text in Chinese, Japanese or Thai is split into
    single characters (no spaces to split on), so a looping Chinese thought is caught too.

    >>> repetition(["the cat sat on the mat", "go go go go go"])
    [0.0, -0.6666666666666667]
    """
    if not isinstance(ngram, int) or isinstance(ngram, bool) or ngram < 1:
        raise R1Error(f"reward 'repetition': ngram must be a positive integer, got {ngram!r}")
    if not isinstance(max_penalty, (int, float)) or isinstance(max_penalty, bool) or max_penalty > 0:
        raise R1Error(f"reward 'repetition': max_penalty must be a number <= 0, got {max_penalty!r}")
    scores: list[float | None] = []
    for c in completions:
        tokens = words(completion_text(c))
        if len(tokens) < ngram:
            scores.append(0.0)
            continue
        grams = list(zip(*(tokens[i:] for i in range(ngram))))
        scores.append((1.0 - len(set(grams)) / len(grams)) * max_penalty + 0.0)
    return scores
