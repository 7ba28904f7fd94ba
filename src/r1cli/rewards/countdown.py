"""The Countdown reward (TinyZero): reach `target` using each of `numbers` exactly once.

    r1cli prepare countdown -n 1000 -o prompts.jsonl
    r1cli reward samples.jsonl --reward countdown -o scored.jsonl
    r1cli reward samples.jsonl --reward countdown=1,rule=tinyzero -o - | jq .reward

Two rules (see `countdown`). `strict`, the default: the last `<answer>` anywhere, parsed with
`ast`, only integer literals, `+ - * /`, unary minus and parentheses, exact arithmetic
(`fractions.Fraction`). `tinyzero`: TinyZero's `compute_score`, quirks included, with Python's
own arithmetic reproduced on the `ast` tree. Nothing from the model is ever passed to `eval`.
"""

from __future__ import annotations

import ast
import operator
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


# -- rule=tinyzero: TinyZero's compute_score (verl/utils/reward_score/countdown.py) -------------

# TinyZero's character filter before its eval; \d and \s are Unicode here as there.
_TINYZERO_CHARS = re.compile(r"[\d+\-*/().\s]+")
# An int power certain to exceed this many bits counts as a failed evaluation. TinyZero's eval
# would grind on `99 ** 99 ** 99` until it ran out of memory (its MemoryError scores
# format_score); below the cap the arithmetic is Python's own and costs milliseconds.
MAX_POWER_BITS = 1 << 17
# Python's parser refuses parentheses nested past 200 levels and trees deeper than a few
# thousand (a MemoryError by 6,000 in CPython 3.11). So an arithmetic expression of k numbers
# it accepts has fewer than k * (2 * 6,000 + 403) characters besides digits and whitespace
# (unary signs on 2k - 1 chains, 200 parenthesis pairs per number, operators, decimal points).
# A longer one fails in eval too, or holds `()` or a call (a TypeError): format_score,
# without building a tree that can take a gigabyte for a few megabytes of `+()`.
_MAX_SYMBOLS_PER_NUMBER = 12_403


class _NoValue(Exception):
    """Python's eval of the equation would raise (or never finish)."""


def _power(base: Any, exponent: Any) -> Any:
    if type(base) is int and type(exponent) is int and exponent > 0 and abs(base) > 1:
        # |base| ** exponent >= 2 ** (exponent * (bits - 1)): checked before any work is done
        if exponent * (abs(base).bit_length() - 1) > MAX_POWER_BITS:
            raise _NoValue("power too large")
    return base**exponent


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Pow: _power}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def python_value(equation: str) -> Any:
    """What Python's `eval(equation)` returns, computed on the `ast` tree without running code.

    Raises _NoValue (or the parser's or arithmetic's own error) where eval would raise. The
    character filter leaves `()`, `...` and calls like `(2)(3)` as the only non-arithmetic
    trees, and eval raises TypeError on each, so any such node ends the evaluation.
    The walk keeps its own stack: a chain of ~3,000 unary minus signs is a valid tree. Near
    that depth Python's parser gives up (RecursionError, then MemoryError) at a point that
    depends on the caller's stack, so only there can this and TinyZero's eval differ.

    >>> python_value("2 ** -1 + 7 // 2"), python_value("1.5 * 4")
    (3.5, 6.0)
    """
    tree = ast.parse(equation, mode="eval")  # eval's own parser, so the same syntax errors
    values: list[Any] = []
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, operands_done = stack.pop()
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            values.append(node.value)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            if operands_done:
                right = values.pop()
                values.append(_BINARY[type(node.op)](values.pop(), right))
            else:  # left is popped, so evaluated, first, as in Python
                stack += [(node, True), (node.right, False), (node.left, False)]
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            if operands_done:
                values.append(_UNARY[type(node.op)](values.pop()))
            else:
                stack += [(node, True), (node.operand, False)]
        else:
            raise _NoValue(type(node).__name__)
    return values[0]


def tinyzero_answer(text: str) -> str | None:
    """The equation TinyZero reads: the last `<answer>...</answer>` of the last line, stripped.

    TinyZero takes non-overlapping matches of a lazy `<answer>(.*?)</answer>` from the left;
    this walk finds the same ones with `str.find`, linear where a regex rescans the line for
    every unclosed `<answer>`.

    >>> tinyzero_answer("<answer>1</answer> x <answer> 2 </answer>"), tinyzero_answer("<answer>1</answer>\\nok")
    ('2', None)
    >>> tinyzero_answer("<answer>a<answer>b</answer>")
    'a<answer>b'
    """
    line = text[text.rfind("\n") + 1 :]
    found, pos = None, 0
    while (start := line.find("<answer>", pos)) >= 0 and (end := line.find("</answer>", start + 8)) >= 0:
        found, pos = (start + 8, end), end + 9
    return None if found is None else line[found[0] : found[1]].strip()


def _tinyzero_uses_numbers(equation: str, numbers: Sequence[int]) -> bool:
    """Every digit run, read as an int, is one of `numbers`, each used once (`1.5` is 1 and 5)."""
    runs = re.findall(r"\d+", equation)
    if len(runs) != len(numbers):
        return False
    try:
        return sorted(int(r) for r in runs) == sorted(numbers)
    except ValueError:  # over Python's 4,300-digit int limit: TinyZero's int() fails the same way
        return False


def score_tinyzero(text: str, numbers: Sequence[int], target: int, format_score: float = 0.1) -> float:
    """TinyZero's `compute_score` on one completion (see `countdown`).

    >>> score_tinyzero("<think>2 ** 6 is 64</think>\\n<answer>2 ** 6 // 2</answer>", [2, 6, 2], 32)
    1.0
    >>> score_tinyzero("<answer>(6 - 2) * 6</answer>\\nDone.", [2, 6, 6], 24)
    0.0
    >>> score_tinyzero("<answer>(6 - 2) × 6</answer>", [2, 6, 6], 24)
    0.1
    """
    equation = tinyzero_answer(text)
    if equation is None:
        return 0.0
    if not _tinyzero_uses_numbers(equation, numbers) or not _TINYZERO_CHARS.fullmatch(equation):
        return format_score
    if len(re.sub(r"[\d\s]+", "", equation)) > _MAX_SYMBOLS_PER_NUMBER * len(numbers):
        return format_score
    try:
        value = python_value(equation)
        return 1.0 if abs(value - target) < 1e-5 else format_score
    except (_NoValue, SyntaxError, ArithmeticError, TypeError, ValueError, MemoryError, RecursionError):
        # TinyZero scores every failure of its eval format_score: a syntax error, 1/0, float
        # overflow, an out-of-range complex, the parser giving up on deep nesting.
        return format_score


RULES = {"strict": score_countdown, "tinyzero": score_tinyzero}


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
    rule: str = "strict",
    **kwargs: Any,
) -> list[float | None]:
    """Countdown equation: 1.0 reaching `target` with each of `numbers` once; rule=strict (default) or tinyzero.

    1.0 for a correct equation, else `format_score` or 0.0 as the rule says; rows without
    `numbers`/`target` give None. The rules differ in what they read and accept:

    strict (default): the last `<answer>` anywhere, e.g. `(6 - 2) * 6` (a trailing `= 24` must
    state the target). 1.0 when it evaluates exactly to `target` using the numbers as a
    multiset (each once, none extra); `format_score` when it is a well-formed equation that is
    wrong, uses the numbers wrongly or divides by zero; 0.0 for content that is not an equation
    of integers, `+ - * /` and parentheses (`**`, `//`, decimals, words, over 512 characters).

    tinyzero: TinyZero's `compute_score`, quirks included. Only the last line is read, and on it
    the last `<answer>`: an answer followed by another line scores 0.0. Any tagged answer that
    is not a valid equation reaching the target scores `format_score`. The digit runs must be
    the numbers (`1.5` uses 1 and 5); the characters `0-9 + - * / ( ) .` and spaces; the value
    is Python's arithmetic (`**`, `//` and float division allowed) within 1e-5 of `target`.
    TinyZero scores prompt + completion after its first "Assistant:" marker; here the
    completion is that text, the `prompt` column unread (after the marker TinyZero's prompts
    hold only a line ending in `<think>`, r1cli's R1-Zero template nothing, and neither can
    change the result; a prompt with no marker would score 0.0 there, not here). An int
    power certain to exceed 2**17 bits scores `format_score` at once, where TinyZero's eval
    would run out of time or memory.

    strict is the default because its 1.0 means a valid Countdown solution (`+ - * /` only,
    exact), which the countdown task's correctness check (format_score 0) relies on, and
    because earlier scores keep their meaning; recipes/tinyzero sets rule=tinyzero to train
    on TinyZero's exact reward.

    >>> countdown(["<answer>(6-2)*6</answer>", "<answer>6*6-2</answer>", "I give up"], numbers=[[2, 6, 6]] * 3, target=[24] * 3)
    [1.0, 0.1, 0.0]
    >>> [countdown(["<answer>6 ** 2 - 6 * 2</answer>"], numbers=[[2, 2, 6, 6]], target=[24], rule=r)[0] for r in RULES]
    [0.0, 1.0]
    """
    if not isinstance(format_score, (int, float)) or isinstance(format_score, bool):
        raise R1Error(f"reward 'countdown': format_score must be a number, got {format_score!r}")
    if rule not in RULES:
        raise R1Error(f"reward 'countdown': rule must be one of {', '.join(RULES)}, got {rule!r}")
    score_one = RULES[rule]
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
        scores.append(float(score_one(completion_text(completion), ints, goal_int, float(format_score))))
    return scores
