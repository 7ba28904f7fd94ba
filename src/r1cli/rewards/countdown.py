"""The Countdown reward (TinyZero): reach `target` using each of `numbers` exactly once.

    r1cli prepare countdown -n 1000 -o prompts.jsonl
    r1cli reward samples.jsonl --reward countdown -o scored.jsonl
    r1cli reward samples.jsonl --reward countdown --reward format=0.2 -o - | jq .reward

The equation is read from the last `<answer>...</answer>` and evaluated safely: parsed with
`ast`, only integer literals, `+ - * /`, unary minus and parentheses are allowed, arithmetic is
exact (`fractions.Fraction`), and nothing from the model is ever passed to `eval`.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from r1cli.errors import R1Error
from r1cli.records import completion_text
from r1cli.rewards import register
from r1cli.rewards.tags import answer_span

# A handful of numbers and operators fits in far less; this bounds parsing work and the depth
# of the tree we walk on hostile input.
MAX_EQUATION_CHARS = 512

_SYMBOLS = str.maketrans({"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-"})
_ALLOWED_CHARS = re.compile(r"[\d\s+\-*/()]+")
_RESULT = re.compile(r"\s*(-?\d+)\s*")


class _Malformed(Exception):
    """Not an equation in the Countdown grammar."""


def _literals(node: ast.AST) -> list[int]:
    """The integer literals of a well-formed expression; raises _Malformed otherwise."""
    if isinstance(node, ast.Expression):
        return _literals(node.body)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return _literals(node.left) + _literals(node.right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _literals(node.operand)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [node.value]
    raise _Malformed(type(node).__name__)


def _value(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _value(node.body)
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right  # ZeroDivisionError is the caller's to judge
    if isinstance(node, ast.UnaryOp):
        return -_value(node.operand) if isinstance(node.op, ast.USub) else _value(node.operand)
    return Fraction(node.value)


def parse_equation(text: str) -> tuple[ast.Expression, int | None]:
    """`"(1 + 2) * 3"` or `"(1 + 2) * 3 = 9"` -> (expression tree, stated result or None).

    Raises ValueError when the text is not an equation in the Countdown grammar.
    """
    text = text.translate(_SYMBOLS).strip()
    if not text or len(text) > MAX_EQUATION_CHARS:
        raise ValueError("empty or too long")
    expression, equals, result_text = text.partition("=")
    result = None
    if equals:
        match = _RESULT.fullmatch(result_text)
        if not match:
            raise ValueError("right of '=' is not an integer")
        result = int(match.group(1))
    # Checked before ast sees it: no names, attributes, calls, floats, hex or `1_000` literals.
    if not _ALLOWED_CHARS.fullmatch(expression):
        raise ValueError("only digits, + - * / and parentheses are allowed")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        _literals(tree)
    except (SyntaxError, _Malformed, RecursionError, MemoryError, ValueError) as e:
        raise ValueError(f"not an arithmetic expression ({type(e).__name__})") from None
    return tree, result


def score_countdown(text: str, numbers: Sequence[int], target: int, format_score: float = 0.1) -> float:
    """Score one completion (see `countdown`).

    >>> score_countdown("<answer>(6 - 2) * 6</answer>", [2, 6, 6], 24)
    1.0
    >>> score_countdown("<answer>6 * 6 - 2</answer>", [2, 6, 6], 24)
    0.1
    >>> score_countdown("<answer>6 * 4</answer>", [2, 6, 6], 24)
    0.1
    >>> score_countdown("24", [2, 6, 6], 24)
    0.0
    """
    span = answer_span(text)
    if span is None:
        return 0.0
    try:
        tree, stated = parse_equation(span)
    except ValueError:
        return 0.0
    if Counter(_literals(tree)) != Counter(numbers):
        return format_score
    try:
        value = _value(tree)
    except (ZeroDivisionError, RecursionError):
        return format_score
    if value == target and (stated is None or stated == target):
        return 1.0
    return format_score


def equation_key(text: str) -> str | None:
    """The `<answer>` equation without spaces, for majority voting; None when there is none.

    >>> equation_key("<answer>(6 - 2) × 6</answer>")
    '(6-2)*6'
    """
    span = answer_span(text)
    if span is None:
        return None
    try:
        parse_equation(span)
    except ValueError:
        return None
    return "".join(span.translate(_SYMBOLS).split())


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
        return int(value)
    return None


@register("countdown", needs=("numbers", "target"))
def countdown(
    completions: Sequence[Any],
    numbers: Sequence[Any] | None = None,
    target: Sequence[Any] | None = None,
    *,
    format_score: float = 0.1,
    **kwargs: Any,
) -> list[float | None]:
    """Countdown equation: 1.0 if it reaches `target` using every one of `numbers` once, else format_score/0.

    TinyZero's rule. The equation is the last `<answer>` content, e.g. `(6 - 2) * 6` (a
    trailing `= 24` is allowed and must state the target). 1.0 when it evaluates exactly to
    `target` and uses the given numbers as a multiset (each once, none extra); `format_score`
    when it is a well-formed equation that is wrong, uses the numbers wrongly or divides by
    zero; 0.0 with no `<answer>`, or content that is not an equation of integers, `+ - * /` and
    parentheses (`**`, decimals, words, over 512 characters). Rows without `numbers`/`target`
    give None.

    >>> countdown(["<answer>(6-2)*6</answer>", "<answer>6*6-2</answer>", "I give up"], numbers=[[2, 6, 6]] * 3, target=[24] * 3)
    [1.0, 0.1, 0.0]
    """
    if not isinstance(format_score, (int, float)) or isinstance(format_score, bool):
        raise R1Error(f"reward 'countdown': format_score must be a number, got {format_score!r}")
    n = len(completions)
    if numbers is None or target is None:
        return [None] * n
    scores: list[float | None] = []
    for completion, nums, goal in zip(completions, numbers, target):
        goal_int = _as_int(goal)
        ints = [_as_int(x) for x in nums] if isinstance(nums, (list, tuple)) else [None]
        if goal_int is None or not ints or any(x is None for x in ints):
            scores.append(None)
            continue
        scores.append(float(score_countdown(completion_text(completion), ints, goal_int, float(format_score))))
    return scores
