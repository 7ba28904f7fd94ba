"""Answers normalised for majority voting (cons@k): each task's `answer_kind` names how.

    numeric    the number (`1,234.50` -> `1234.5`, `72.0` -> `72`)
    math       the parsed answer in a canonical form (`\\frac{1}{2}`, `0.5`, `1/2` share a key)
    countdown  the equation without spaces

The reading of a completion (its `<answer>`, a box, the last number) is the rewards' own
(`r1cli.rewards.accuracy`, `r1cli.rewards.countdown`), so a vote counts what the reward checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from r1cli.errors import R1Error
from r1cli.pool import map_with_deadline
from r1cli.records import completion_text
from r1cli.rewards.accuracy import DEADLINE_S, PRELOAD, parse_prediction, predicted_number
from r1cli.rewards.countdown import equation_key
from r1cli.rewards.math_guards import screen


def _number_key(frac: Fraction) -> str:
    if frac.denominator == 1:
        return str(frac.numerator)
    return f"{frac.numerator}/{frac.denominator}"


def _decimal_key(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _float_key(x: float, *, written: bool) -> str:
    if x == int(x) and abs(x) < 2**53:
        return str(int(x))
    if written:
        # A decimal the model wrote that is a simple fraction to 6 digits (0.5, 0.333333 for
        # 1/3) joins the exact fraction's group, as math-verify's 6-digit rounding would.
        frac = Fraction(x).limit_denominator(100)
        if abs(float(frac) - x) <= 1e-6 * max(1.0, abs(x)):
            return _number_key(frac)
    # Irrationals (sqrt 2, pi/2) and other decimals meet at 6 significant digits.
    return format(x, ".6g")


def _canonical(expr: Any) -> str:
    import sympy

    if isinstance(expr, str):
        return " ".join(expr.lower().split())
    if isinstance(expr, sympy.Basic):
        expr = expr.doit()  # percentages arrive as 50 * UnevaluatedExpr(1/100)
    if isinstance(expr, sympy.Eq) and isinstance(expr.lhs, sympy.Symbol):
        return _canonical(expr.rhs)  # "x = 5" answers 5
    if isinstance(expr, (sympy.Tuple, tuple, list)):
        return "(" + ", ".join(_canonical(e) for e in expr) + ")"
    if isinstance(expr, sympy.FiniteSet):
        return "{" + ", ".join(sorted(_canonical(e) for e in expr.args)) + "}"
    if isinstance(expr, sympy.Interval):
        left = "(" if expr.left_open else "["
        right = ")" if expr.right_open else "]"
        return f"{left}{_canonical(expr.start)}, {_canonical(expr.end)}{right}"
    if isinstance(expr, sympy.MatrixBase):
        return "[" + "; ".join(", ".join(_canonical(e) for e in expr.row(i)) for i in range(expr.rows)) + "]"
    if isinstance(expr, sympy.Rational):  # integers included
        return _number_key(Fraction(int(expr.p), int(expr.q)))
    if isinstance(expr, sympy.Basic) and expr.is_number and expr.is_finite:
        re_part, im_part = sympy.N(expr, 15).as_real_imag()
        try:
            real, imag = float(re_part), float(im_part)
        except (TypeError, ValueError):
            return str(expr)
        if not (math.isfinite(real) and math.isfinite(imag)):
            return str(sympy.N(expr, 6))
        written = isinstance(expr, sympy.Float)
        key = _float_key(real, written=written)
        if abs(imag) > 1e-12 * max(1.0, abs(real)):
            key += f" + {_float_key(imag, written=written)}i"
        return key
    if isinstance(expr, sympy.Basic):
        return str(sympy.expand(expr))
    return str(expr)


_WORDS = re.compile(r"[A-Za-z]{3,}(?: [A-Za-z]+)*")
_TEXT_COMMAND = re.compile(r"\\(?:text|textbf|mathrm)\{(.*)\}", re.DOTALL)


def _word_answer(raw: str) -> str | None:
    # A word answer ("Evelyn", "\text{even}") parses to a symbol or, without \text, to a
    # product of one-letter symbols (E*v*e*...); the word itself is the better key.
    text = raw.strip().strip("$").strip()
    match = _TEXT_COMMAND.fullmatch(text)
    if match:
        text = match.group(1).strip()
    return " ".join(text.lower().split()) if _WORDS.fullmatch(text) else None


def answer_key(completion: str, kind: str) -> str | None:
    """A normalised answer for majority voting, or None when the completion has no answer.

    kind "math": the parsed answer in a canonical form, so `\\frac{1}{2}`, `0.5` and `1/2`
    share a key (as do `x = 5` and `5`, and `{1, 2}` in any order). kind "numeric": the number
    (`1,234.50` -> `1234.5`, `72.0` -> `72`). kind "countdown": the equation without spaces
    (votes there mostly show which equation the samples agree on).

    In-process and unbounded: a hostile completion can make the "math" kind run for a long
    time. For model output use `answer_keys`, which runs in the checking pool with a deadline.

    >>> [answer_key(c, "math") for c in ["<answer>\\\\frac{1}{2}</answer>", "<answer>0.5</answer>", "no answer"]]
    ['1/2', '1/2', None]
    """
    text = completion_text(completion)
    if kind == "numeric":
        value = predicted_number(text)
        return None if value is None else _decimal_key(value)
    if kind == "countdown":
        return equation_key(text)
    if kind == "math":
        parsed = parse_prediction(text)
        if not parsed:
            return None
        raw = next((p for p in parsed if isinstance(p, str)), None)
        word = _word_answer(raw) if raw else None
        if word is not None:
            return word
        first = next((p for p in parsed if not isinstance(p, str)), parsed[0])
        try:
            return _canonical(first)
        except Exception:
            return str(first)
    raise R1Error(f"answer_key: unknown kind {kind!r}; use 'math', 'numeric' or 'countdown'")


def _answer_key_math(text: str) -> str | None:
    return answer_key(text, "math")


def answer_keys(completions: Sequence[Any], kind: str, *, timeout: float = DEADLINE_S) -> list[str | None]:
    """`answer_key` for many completions; "math" runs in the checking pool (past `timeout` seconds,
    or rejected by `math_guards.screen`: None)."""
    texts = [completion_text(c) for c in completions]
    if kind == "math":
        keys: list[str | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if screen(t) is None]
        found = map_with_deadline(_answer_key_math, [texts[i] for i in todo], timeout, on_timeout=None, on_error=None, preload=PRELOAD)
        for i, key in zip(todo, found):
            keys[i] = key
        return keys
    return [answer_key(t, kind) for t in texts]
