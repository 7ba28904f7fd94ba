"""Accuracy rewards: is the model's final answer the gold answer?

`math` checks LaTeX/symbolic answers with math-verify (sympy) in worker processes with a hard
deadline (see `r1cli.pool`); `numeric` compares plain numbers (GSM8K) in-process.
`answer_key` / `answer_keys` give normalised answers for majority voting (cons@k), so that a
vote and the reward agree on what "the same answer" means.

    r1cli reward samples.jsonl --reward math -o scored.jsonl
    r1cli prepare gsm8k -o - | r1cli sample - -m MODEL -k 8 -o - | r1cli reward - --reward numeric -o -

Where the prediction comes from: the last `<answer>...</answer>` when the completion has one
(the R1-Zero template asks for it); else the whole completion, where a `\\boxed{}` or a
"final answer is ..." phrase marks the answer.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from r1cli.errors import R1Error
from r1cli.pool import in_forkserver_preload, map_with_deadline
from r1cli.records import completion_text
from r1cli.rewards import register
from r1cli.rewards.math_guards import screen
from r1cli.rewards.tags import answer_span

# --- where the answer is ---------------------------------------------------------------------

# A `$` not escaped as `\$`, or the other LaTeX math delimiters, or a box.
_LATEX_DELIMITER = re.compile(r"(?<!\\)\$|\\\(|\\\[|\\boxed|\\fbox")


def as_latex(text: str) -> str:
    """Bare LaTeX (`\\frac{14}{3}`, `\\text{Evelyn}`) wrapped in `$...$` so math-verify sees math.

    math-verify only reads LaTeX between delimiters or inside a box; a bare gold answer or a
    bare `<answer>` content would otherwise be read as text, where only plain numbers are
    found (`\\frac{14}{3}` would come out as 14 or 3). Text that already has delimiters is kept.

    >>> as_latex(r"\\frac{14}{3}")
    '$\\\\frac{14}{3}$'
    >>> as_latex(r"so $x=2$")
    'so $x=2$'
    """
    text = text.strip()
    if not text or _LATEX_DELIMITER.search(text):
        return text
    return f"${text}$"


# --- math: runs in the checking workers ----------------------------------------------------

_quiet = False


def _math_verify():
    """math-verify, imported on first use, with its timeout warnings silenced.

    Its signal-based timeouts are turned off on every call (they raise off the main thread and
    cannot interrupt C code); the deadline is the pool's. It then logs a warning that we must
    bound the time ourselves, which we do.
    """
    global _quiet
    import math_verify

    if not _quiet:
        for name in ("math_verify", "math_verify.parser", "math_verify.grader", "math_verify.utils"):
            logging.getLogger(name).setLevel(logging.ERROR)
        _quiet = True
    return math_verify


@functools.lru_cache(maxsize=1)
def _configs():
    mv = _math_verify()
    # Gold and <answer> content are the answer itself: take whatever math is there.
    bare = (mv.LatexExtractionConfig(), mv.ExprExtractionConfig())
    # A whole completion is a chain of thought full of intermediate values: only a box or an
    # explicit "final answer is ..." / "answer: ..." counts, and a box wins over anything else
    # (models box their final answer; an "answer" word can appear anywhere in the reasoning).
    anchored = (
        mv.LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False),
        mv.ExprExtractionConfig(try_extract_without_anchor=False),
    )
    return bare, anchored


@functools.lru_cache(maxsize=4096)
def _parse_gold(gold: str) -> tuple:
    mv = _math_verify()
    parsed = mv.parse(as_latex(gold), extraction_config=_configs()[0], parsing_timeout=None)
    # Only a sympy object is a judged gold. A string alone means the regex found something
    # latex2sympy could not read, and comparing raw strings would mark near-misses wrong and
    # could mark garbage right.
    return tuple(parsed) if any(not isinstance(p, str) for p in parsed) else ()


def parse_prediction(text: str) -> list:
    mv = _math_verify()
    bare, anchored = _configs()
    span = answer_span(text)
    if span is not None:
        return mv.parse(as_latex(span), extraction_config=bare, parsing_timeout=None)
    return mv.parse(text, extraction_config=anchored, parsing_timeout=None)


def check_math(item: tuple[str, str]) -> float | None:
    """One (gold, completion text) pair: 1.0 equivalent, 0.0 not, None when the gold is unparseable.

    Runs inside a checking worker (it may never return on adversarial input).
    """
    gold_text, text = item
    gold = _parse_gold(gold_text)
    if not gold:
        return None
    pred = parse_prediction(text)
    if not pred:
        return 0.0
    return 1.0 if _math_verify().verify(list(gold), pred, timeout_seconds=None) else 0.0


# Imported once in the forkserver, so a fresh or replacement worker starts with sympy loaded.
PRELOAD = ("math_verify", "sympy")

# Typical answer shapes. Checking them once in the forkserver fills the LaTeX parser's lazily
# built tables (antlr's DFA cache and the like), which every worker then inherits: a cold
# worker is about a third slower over its first few hundred checks, and workers are replaced
# whenever one is killed.
_WARM_UP = (
    (r"\frac{14}{3}", r"<answer>\dfrac{14}{3}</answer>"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"So \boxed{(3, \frac{\pi}{2})}."),
    (r"\text{Evelyn}", r"\boxed{\text{Evelyn}}"),
    (r"2\sqrt{5}", r"$\boxed{\sqrt{20}}$"),
    (r"[-2, 7)", r"\boxed{[-2,7)}"),
    (r"x^2 + 7x + 10", r"\boxed{(x+2)(x+5)}"),
    (r"\begin{pmatrix} 1 \\ -2 \end{pmatrix}", r"\boxed{\begin{pmatrix} 1 \\ -2 \end{pmatrix}}"),
    ("6 - 5i", r"\boxed{6-5i}"),
    (r"90^\circ", r"\boxed{90^{\circ}}"),
    ("0.5", r"The final answer is $\frac{1}{2}$"),
    (r"\$18.90", r"\boxed{\$18.90}"),
    ("3, 5, 7", r"\boxed{3, 5, 7}"),
    (r"\infty", r"\boxed{\infty}"),
    (r"y = 2x + 3", r"\boxed{y=2x+3}"),
)


def _warm_up() -> None:
    try:
        for item in _WARM_UP:
            check_math(item)
        _parse_gold.cache_clear()
    except Exception:  # never break the forkserver over an optimisation
        pass

# Scores already computed in this process, keyed by (gold, digest of the text): `cosine`
# calls `math` again on the same completions, and GRPO groups repeat identical completions.
_CACHE: OrderedDict[tuple[str, bytes], float | None] = OrderedDict()
_CACHE_SIZE = 16384
_CACHE_LOCK = threading.Lock()
_CUT_OFF = object()  # out of time, or the worker crashed
# The default deadline of a check. The slowest legitimate check measured, MATH-500 and GSM8K test
# golds against themselves and their reference solutions, each in a fresh worker on a shared
# 2-core host, took 0.38 s (p99 0.13 s; benchmarks/RESULTS.md): 5 s leaves 13x for a busier host.
# With the guards (math_guards) in front, only pathologies they do not know run into it.
DEADLINE_S = 5.0


def _key(gold: str, text: str) -> tuple[str, bytes]:
    return gold, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _gold_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = str(value).strip()
    return text or None


@register("math", needs=("answer",))
def math_accuracy(
    completions: Sequence[Any],
    answer: Sequence[Any] | None = None,
    *,
    timeout: float = DEADLINE_S,
    **kwargs: Any,
) -> list[float | None]:
    """Math answer checked with math-verify against the gold `answer`: 1.0 equivalent, else 0.0.

    The gold is LaTeX (`\\frac{14}{3}`, `\\left( 3, \\frac{\\pi}{2} \\right)`, `\\text{Evelyn}`)
    or a number. The prediction is the last `<answer>` content, else a `\\boxed{}` (or a "final
    answer is" phrase) in the whole completion. A missing or unparseable gold gives None (not
    judged). An answer that `r1cli.rewards.math_guards.screen` finds too costly to check (an
    exponent tower, a million digits, brackets nested 50 deep) gives 0.0 without a check, and
    so does a check that runs past `timeout` seconds or crashes its worker: the model's output
    is at fault, and None would let such output escape the penalty every other wrong answer
    gets. The share screened out goes to TRL's `log_metric` as `math/guarded`.

    >>> math_accuracy(["<think>7+7=14, over 3</think><answer>\\\\frac{14}{3}</answer>", "It is \\\\boxed{4.5}."],
    ...               answer=["\\\\frac{14}{3}", "\\\\frac{14}{3}"])
    [1.0, 0.0]
    """
    if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise R1Error(f"reward 'math': timeout must be a positive number of seconds, got {timeout!r}")
    n = len(completions)
    if answer is None:
        return [None] * n
    golds = [_gold_text(a) for a in answer]
    texts = [completion_text(c) for c in completions]
    scores: list[float | None] = [None] * n
    # An answer that would only run into the deadline (a power tower, a 300x300 matrix) scores
    # 0.0 here and now, as the deadline would score it, and never reaches a worker.
    guarded = [gold is not None and screen(text) is not None for gold, text in zip(golds, texts)]
    log_metric = kwargs.get("log_metric")
    if callable(log_metric) and n:
        log_metric("math/guarded", sum(guarded) / n)
    todo: dict[tuple[str, bytes], list[int]] = {}
    with _CACHE_LOCK:
        for i, (gold, text) in enumerate(zip(golds, texts)):
            if gold is None:
                continue
            if guarded[i]:
                scores[i] = 0.0
                continue
            key = _key(gold, text)
            if key in _CACHE:
                _CACHE.move_to_end(key)
                scores[i] = _CACHE[key]
            else:
                todo.setdefault(key, []).append(i)
    if todo:
        # Same gold together: a worker parses each gold once (its cache) instead of every
        # worker parsing every gold; GRPO's groups already come this way, offline files may not.
        keys = sorted(todo, key=lambda k: k[0])
        items = [(golds[todo[k][0]], texts[todo[k][0]]) for k in keys]
        results = map_with_deadline(check_math, items, timeout, on_timeout=_CUT_OFF, on_error=_CUT_OFF, preload=PRELOAD)
        with _CACHE_LOCK:
            for key, result in zip(keys, results):
                for i in todo[key]:
                    scores[i] = 0.0 if result is _CUT_OFF else result
                if result is not _CUT_OFF:  # an overloaded host may cut off a fine answer: try again next time
                    _CACHE[key] = result
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return scores


# --- numeric: plain numbers, in-process -------------------------------------------------

# "1,234.5", "-3", ".5", "72": thousands commas only in groups of three, so "1,2,3" is three numbers.
_NUMBER = re.compile(r"(?<![\d.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])|(?<![\d.])-?\.\d+")
_GOLD_NUMBER = re.compile(r"\s*[$€£]?\s*(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|-?\.\d+)\s*%?\s*\.?\s*")
_MAX_DIGITS = 400  # a longer "number" is not an answer; also keeps Decimal work small
_REL_TOL = Decimal("1e-6")


def _to_decimal(text: str) -> Decimal | None:
    text = text.replace(",", "")
    if len(text) > _MAX_DIGITS:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_gold_number(value: Any) -> Decimal | None:
    """A numeric gold answer: a number, `"72"`, `"1,234"`, `"$18"`, or GSM8K's `"... #### 72"`.

    >>> parse_gold_number("She makes 9 * 2 = $18.\\n#### 18")
    Decimal('18')
    >>> parse_gold_number("eighteen") is None
    True
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value)) if math.isfinite(value) else None
    text = str(value)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    match = _GOLD_NUMBER.fullmatch(text)
    return _to_decimal(match.group(1).rstrip(".")) if match else None


def _last_number(text: str) -> Decimal | None:
    last = None
    for last in _NUMBER.finditer(text):
        pass
    return _to_decimal(last.group(0)) if last else None


def predicted_number(text: str) -> Decimal | None:
    """The model's numeric answer: in `<answer>`, else after `####`, else the last number.

    >>> predicted_number("<answer>$1,234</answer>")
    Decimal('1234')
    >>> predicted_number("5 apples and 3 pears make 8")
    Decimal('8')
    """
    span = answer_span(text)
    if span is not None:
        return _last_number(span)
    if "####" in text:
        after = text.rsplit("####", 1)[1]
        first = _NUMBER.search(after)
        return _to_decimal(first.group(0)) if first else None
    return _last_number(text)


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= _REL_TOL * max(Decimal(1), abs(b))


@register("numeric", needs=("answer",))
def numeric_accuracy(completions: Sequence[Any], answer: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """Numeric answer (GSM8K style) equal to the gold `answer` within 1e-6 relative: 1.0, else 0.0.

    The gold may be a number or text (`"72"`, `"1,234"`, `"... #### 72"`); an unparseable gold
    gives None. The prediction is the number in `<answer>`, else after `####`, else the last
    number in the completion; no number gives 0.0.

    >>> numeric_accuracy(["<answer>72</answer>", "so 70.", "no idea"], answer=["#### 72", "72", "72"])
    [1.0, 0.0, 0.0]
    """
    n = len(completions)
    if answer is None:
        return [None] * n
    scores: list[float | None] = []
    for completion, gold_value in zip(completions, answer):
        gold = parse_gold_number(gold_value)
        if gold is None:
            scores.append(None)
            continue
        pred = predicted_number(completion_text(completion))
        scores.append(1.0 if pred is not None and _close(pred, gold) else 0.0)
    return scores


# --- answer keys for majority voting ---------------------------------------------------------


if in_forkserver_preload():
    _warm_up()
