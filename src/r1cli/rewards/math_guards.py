"""Cheap checks that keep pathological answers away from sympy, for the `math` reward.

math-verify hands the answer it finds to an antlr LaTeX parser and then to sympy, which
evaluates numbers eagerly. Some answers cost seconds to hours there: `9^{9^{9^{9}}}`,
`(10^{10})!`, a 300x300 matrix, a 50,000-character sum, brackets nested a few dozen deep. The
checking pool (`r1cli.pool`) cuts them off at the deadline, but each one still costs a whole
deadline and a worker. `screen` recognises them from the text alone, before any worker sees
them, and says why; `math_accuracy` then scores them 0.0, as the deadline would have.

What is screened is what math-verify would parse: the `<answer>` content when the completion
has one, else the contents of its `\\boxed{}` / `\\fbox{}`, else (no tag, no box) the completion
from the first word "answer" on, since math-verify reads nothing else there. Text outside a box
is parsed only when no box parses; it is not screened, and the deadline stays the backstop for
it and for whatever these checks do not know. Screening costs 3-15 us for a MATH-500 or GSM8K
answer, 12 ms for a 100,000-character chain of thought without a box, at most about 0.1 s for
a degenerate 500,000-character completion.

The bounds. Timings are of one check in a checking worker on a 2-core x86 VM (math-verify
0.9.0); `benchmarks/bench_math_guards.py` times the legitimate checks (at most 0.4 s each) and
the tests check that every MATH-500 reference answer and solution passes. Those answers are at
most 53 characters long, nest brackets at most 2 deep, hold numbers of at most 7 digits and
matrices of at most 2x2 or 3x1 cells, with at most 2 boxes per solution; GSM8K numbers have at
most 10 digits. Each bound leaves a wide margin over that, and a check at the bound costs well
under the deadline:

- `MAX_TEXT_CHARS` 500,000 characters of completion: about 4 characters a token at a 128k-token
  generation limit; math-verify scans 270,000 characters of reasoning in 0.12 s.
- `MAX_ANSWER_CHARS` 1,000 characters in one box or `<answer>`: a sum of 1,000 characters took
  0.18 s (2,000: 0.36 s, 50,000: 2.6 s).
- `MAX_BOXES` 50 boxes: 100 distinct boxes took 0.05 s, 1,000 took 0.6 s.
- `MAX_DEPTH` 8 levels of `(`, `[`, `{` in any mix: antlr's full-context prediction grows with
  depth; `((...5...))` 8 deep took 0.25-0.46 s, `{{...}}` 12 deep 1.3 s and 14 deep over 8 s,
  `\\frac{1}{\\frac{1}{...}}` 20 deep over 6 s.
- `MAX_DIGIT_RUN` 4,300 digits in a row: Python refuses to read a longer integer from text
  (`sys.get_int_max_str_digits`), so such an answer can never score 1.0; 10^6 digits took 5.1 s.
- `MAX_VALUE_DIGITS` 10,000 digits in a number sympy would compute from numeric operands: a
  power, factorial or binomial, or one on the way to it (2^{2005} has 604 digits): 10^{10000}
  took 4 ms, 3000! 14 ms, binom(30000, 15000) (9,000 digits) 76 ms; 9^{9^{9}}, (10^{10})! and
  binom(10^6, 500000) did not finish in 6 s.
- `MAX_EXPANSION_TERMS` 100 terms in the expansion of a power of a sum: (x+1)^{100} (101 terms)
  took 0.12 s, (x+y+1)^{20} (231 terms) 0.35 s, (x+1)^{1000} 5.8 s.
- `MAX_MATRIX_CELLS` 100 cells in one matrix: 10x10 took 0.04 s, 20x20 0.14 s, 300x300 over 6 s.
"""

from __future__ import annotations

import functools
import math
import re

from r1cli.rewards.tags import answer_span

MAX_TEXT_CHARS = 500_000
MAX_ANSWER_CHARS = 1_000
MAX_BOXES = 50
MAX_DEPTH = 8
MAX_DIGIT_RUN = 4_300
MAX_VALUE_DIGITS = 10_000
MAX_EXPANSION_TERMS = 100
MAX_MATRIX_CELLS = 100

_BOX = re.compile(r"\\(?:boxed|fbox)")
_ANSWER_WORD = re.compile("answer", re.IGNORECASE)
_BRACKET = re.compile(r"[(\[{)\]}]")
_BRACE = re.compile(r"[{}]")
_OPENERS = "([{"
_LONG_DIGITS = re.compile(r"\d{%d,}" % (MAX_DIGIT_RUN + 1))
_MATRIX_PART = re.compile(r"\\(begin|end)\{(?:[pbBvV]?matrix|smallmatrix|array)\}|&|\\\\")
# Powers, factorials and binomials. `**` as well as `^`: a plain-text answer goes through
# Python's parser too. A `!` counts after a digit or a bracket only (not `\!`, a LaTeX space,
# nor the `!!!!` of a degenerate output).
_OPERATOR = re.compile(r"\^|\*\*|(?<=[\d)\]}])\s*!|\\[dt]?binom\b")
# Sizing an operator costs a few microseconds in Python. An answer holds a handful; a chain of
# thought (no box, no tag) may hold thousands, and past the first 1,000 the deadline is the backstop.
_MAX_SIZED = 1_000
_LN10 = math.log(10)
_LOG2 = math.log10(2)


def screen(text: str) -> str | None:
    """Why this completion's answer is not worth a check (the reward is then 0.0), or None.

    A reason starts with the guard's name (length, boxes, answer, depth, digits, matrix, power,
    expansion, factorial, binomial) and a colon.

    >>> screen(r"so the answer is \\boxed{\\frac{14}{3}}") is None
    True
    >>> screen(r"\\boxed{9^{9^{9^{9}}}}")
    'power: 9^{9^{9^{9}}} makes more than 1e300 digits (limit 10000)'
    """
    if len(text) > MAX_TEXT_CHARS:
        return f"length: a completion of {len(text)} characters (limit {MAX_TEXT_CHARS})"
    span = answer_span(text)
    where = text if span is None else span
    n_boxes = len(_BOX.findall(where))
    if n_boxes > MAX_BOXES:
        return f"boxes: {n_boxes} boxes (limit {MAX_BOXES})"
    if n_boxes:
        regions, capped = _boxes(where), True
    elif span is not None:
        regions, capped = [span], True
    else:
        # Neither box nor tag: math-verify reads a completion only after the word "answer"
        # ("answer: 5", "the final answer is $5$"), and that part may be a long chain of thought.
        anchor = _ANSWER_WORD.search(text)
        if anchor is None:
            return None
        regions, capped = [text[anchor.start() :]], False
    for region in regions:
        if capped and len(region) > MAX_ANSWER_CHARS:
            return f"answer: {len(region)} characters in one answer (limit {MAX_ANSWER_CHARS})"
        reason = _screen_math(region)
        if reason:
            return reason
    return None


def _screen_math(s: str) -> str | None:
    depth, pairs = _brackets(s, _BRACKET, MAX_DEPTH)
    if depth > MAX_DEPTH:
        return f"depth: brackets nested more than {MAX_DEPTH} deep"
    run = _LONG_DIGITS.search(s)
    if run:
        return f"digits: a run of {len(run.group())} digits (limit {MAX_DIGIT_RUN})"
    cells = _largest_matrix(s)
    if cells > MAX_MATRIX_CELLS:
        return f"matrix: more than {MAX_MATRIX_CELLS} cells in one matrix"
    ops = _Operands(s, pairs)
    covered = 0  # operators inside a chain of powers already sized as a whole are skipped
    sized = 0
    for match in _OPERATOR.finditer(s):
        if match.start() < covered:
            continue
        sized += 1
        if sized > _MAX_SIZED:
            break
        op = match.group().strip()
        if op == "!":
            reason = _factorial(ops, match.start())
        elif op.endswith("binom"):
            reason = _binomial(ops, match.start(), match.end())
        else:
            reason, covered = _power(ops, op, match.start(), match.end())
        if reason:
            return reason
    return None


def _largest_matrix(s: str) -> int:
    """Cells in the largest matrix (cell and row separators, plus one), counted up to one past
    the limit; nested matrices each count their own."""
    if "\\begin" not in s:
        return 0
    largest = 0
    open_cells: list[int] = []
    for match in _MATRIX_PART.finditer(s):
        if match.group(1) == "begin":
            open_cells.append(1)
        elif match.group(1) == "end":
            if open_cells:
                largest = max(largest, open_cells.pop())
        elif open_cells:
            open_cells[-1] += 1
            if open_cells[-1] > MAX_MATRIX_CELLS:
                return open_cells[-1]
    return max([largest, *open_cells])


def _boxes(s: str) -> list[str]:
    """The contents of the boxes in `s`, as math-verify finds them.

    Like math-verify, an unclosed box (or one without a brace) runs to the end of the text, and
    counts only when it is the last box: a later closed box is the answer then.
    """
    _, pairs = _brackets(s, _BRACE, math.inf)
    starts = [m.end() for m in _BOX.finditer(s)]
    out = []
    for i, start in enumerate(starts):
        j = _skip_spaces(s, start)
        if s.startswith("{", j) and j in pairs:
            out.append(s[j + 1 : pairs[j]])
        elif i == len(starts) - 1:
            out.append(s[j:])
    return out


def _brackets(s: str, brackets: re.Pattern, limit: float) -> tuple[int, dict[int, int]]:
    """The deepest nesting (counted up to one past `limit`) and the matching brackets, both ways
    (opener -> closer, closer -> opener), in one pass. Any closer closes any opener, as in the
    interval [0, 1); a closer with nothing open is ignored."""
    deepest = 0
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for match in brackets.finditer(s):
        if match.group() in _OPENERS:
            stack.append(match.start())
            if len(stack) > deepest:
                deepest = len(stack)
                if deepest > limit:
                    break
        elif stack:
            opener = stack.pop()
            pairs[opener], pairs[match.start()] = match.start(), opener
    return deepest, pairs


def _skip_spaces(s: str, i: int) -> int:
    while i < len(s) and s[i].isspace():
        i += 1
    return i


# --- operands of ^, ! and \binom ---------------------------------------------------------------

_POWER_OP = re.compile(r"\s*(?:\^|\*\*)")
_TOKEN_AFTER = re.compile(r"\d+(?:\.\d+)?|\\[A-Za-z]+|\S")


class _Operands:
    """The operand before or after a position of one text, with its brackets matched once, up
    front, so that many operators cost no more than one pass (an unmatched bracket gives no
    operand)."""

    def __init__(self, s: str, pairs: dict[int, int]):
        self.s = s
        self.pairs = pairs

    def after(self, i: int) -> tuple[str, int]:
        """A `{...}` or `(...)` group, a number, or one token, and where it ends."""
        s = self.s
        j = _skip_spaces(s, i)
        if j < len(s) and s[j] in _OPENERS:
            end = self.pairs.get(j, j - 1) + 1
            return s[j:end], end
        # A plain-text answer (`2^1000000000`) is read by Python's parser, where the whole
        # number is the exponent; LaTeX would take one digit. The larger reading is bounded.
        match = _TOKEN_AFTER.match(s, j)
        return (match.group(), match.end()) if match else ("", j)

    def before(self, i: int) -> str:
        """A bracket group, a number, or one character ending just before `i`."""
        s = self.s
        j = i
        while j > 0 and s[j - 1].isspace():
            j -= 1
        if j > 0 and s[j - 1] in ")]}":
            opener = self.pairs.get(j - 1)
            return "" if opener is None else s[opener:j]
        k = j
        while k > 0 and (s[k - 1].isdigit() or s[k - 1] == "."):
            k -= 1
        return s[k:j] if k < j else s[j - 1 : j]


def _power(ops: _Operands, op: str, at: int, after: int) -> tuple[str | None, int]:
    """Why the power at `at` is too big, or None; and where its exponent ends when that was sized
    (the operators up to there are covered)."""
    base = ops.before(at)
    exponent, end = ops.after(after)
    # `9^9^9` is an error in LaTeX but 9**(9**9) to Python's parser: the exponent is the chain.
    # Sixteen links are plenty to overflow any limit; the rest is sized from its own first link.
    for _ in range(16):
        match = _POWER_OP.match(ops.s, end)
        if not match:
            break
        _, end = ops.after(match.end())
        exponent = ops.s[after:end]
    exp_log = _value(exponent)
    if exp_log is None:
        return None, 0  # a symbolic exponent stays symbolic
    shown = f"{base}{op}{exponent}"[:40]
    base_log = _value(base)
    digits = exp_log if base_log is None else max(exp_log, _power_log10(base_log, exp_log))
    if digits > MAX_VALUE_DIGITS:
        return f"power: {shown} makes {_digits(digits)} (limit {MAX_VALUE_DIGITS})", end
    terms = _top_level_terms(base) if base_log is None else 1
    if terms > 1:
        # A symbolic base is cheap as it stands (x^{10^9} took 0.06 s), but a power of a sum
        # is expanded: t terms raised to n make C(n + t - 1, t - 1) terms.
        expansion = _binomial_log10(math.log10(_pow10(exp_log) + terms - 1), math.log10(terms - 1))
        if expansion > math.log10(MAX_EXPANSION_TERMS):
            return f"expansion: {shown} expands to {_count(expansion)} terms (limit {MAX_EXPANSION_TERMS})", end
    return None, end


def _binomial(ops: _Operands, at: int, after: int) -> str | None:
    n, after = ops.after(after)
    k, end = ops.after(after)
    digits = _binomial_log10(_value(n), _value(k))
    if digits is not None and digits > MAX_VALUE_DIGITS:
        return f"binomial: {ops.s[at:end][:40]} makes {_digits(digits)} (limit {MAX_VALUE_DIGITS})"
    return None


def _factorial(ops: _Operands, at: int) -> str | None:
    operand = ops.before(at)
    log_n = _value(operand)
    if log_n is None:
        return None
    digits = _factorial_log10(log_n)
    if digits > MAX_VALUE_DIGITS:
        return f"factorial: {operand[:40]}! makes {_digits(digits)} (limit {MAX_VALUE_DIGITS})"
    return None


def _top_level_terms(group: str) -> int:
    """How many terms a bracketed sum like `(x + y - 1)` has at its top level (1 if not a group)."""
    if not group or group[0] not in _OPENERS:
        return 1
    depth, terms = 0, 1
    for k, ch in enumerate(group[1:-1].strip()):
        if ch in _OPENERS:
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in "+-" and depth == 0 and k > 0:
            terms += 1
    return terms


# --- the size of a numeric expression ----------------------------------------------------------

_TOKEN = re.compile(r"\s+|\d+(?:\.\d+)?|\*\*|\\(?:cdot|times|div|[dt]?frac|[dt]?binom)\b|[-+*/^!(){}\[\]]|\\left|\\right|\\[,;!: ]")
_SKIP = re.compile(r"\s+|\\left|\\right|\\[,;!: ]")
_MAX_LOG = 300.0  # beyond 1e300 every bound here is exceeded: call it infinite


def _value(snippet: str) -> float | None:
    """log10 of the largest magnitude sympy would compute for a purely numeric LaTeX snippet
    (the value itself, or a larger number on the way to it), or None when the snippet has
    anything else in it (a variable, a command sympy might keep symbolic).

    Exact for products, quotients and powers of numbers; a sum counts as twice its largest
    term, zero as one. Coarse, but the limits it is compared with are far beyond legitimate
    answers.
    """
    # Operands repeat (x, 2, {2}), most of all in degenerate output; long ones are not kept.
    return _short_value(snippet) if len(snippet) <= 64 else _evaluate(snippet)


@functools.lru_cache(maxsize=4096)
def _short_value(snippet: str) -> float | None:
    return _evaluate(snippet)


def _evaluate(snippet: str) -> float | None:
    tokens = []
    pos = 0
    while pos < len(snippet):
        match = _TOKEN.match(snippet, pos)
        if not match:
            return None
        if not _SKIP.fullmatch(match.group()):
            tokens.append(match.group())
        pos = match.end()
    if not tokens:
        return None
    parser = _Numeric(tokens)
    try:
        parser.expr()
    except (IndexError, ValueError, RecursionError):  # not a number; `\frac\frac\frac...` nested thousands deep
        return None
    return parser.largest if parser.pos == len(tokens) else None


class _Numeric:
    """Recursive descent over number tokens; each method returns log10 of a magnitude, and
    `largest` keeps the largest one seen. Chains of powers and signs are loops, brackets are
    at most `MAX_DEPTH` deep here."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.pos = 0
        self.largest = -math.inf

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def seen(self, value: float) -> float:
        self.largest = max(self.largest, value)
        return value

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-", "*", "/", r"\cdot", r"\times", r"\div"):
            op = self.take()
            right = self.term()
            if op in ("+", "-"):
                value = max(value, right) + _LOG2  # |a + b| <= 2 max(|a|, |b|)
            else:
                value = value - right if op in ("/", r"\div") else value + right
            self.seen(value)
        return value

    def term(self) -> float:
        value = self.power()
        while self.peek() == "!":
            self.take()
            value = self.seen(_factorial_log10(value))
        return value

    def power(self) -> float:
        atoms = [self.atom()]
        while self.peek() in ("^", "**"):
            self.take()
            atoms.append(self.atom())
        value = atoms.pop()
        while atoms:  # right-associative, as 9**9**9 in Python
            value = self.seen(_power_log10(atoms.pop(), value))
        return value

    def atom(self) -> float:
        token = self.take()
        while token in ("-", "+"):
            token = self.take()
        if token in ("(", "{", "["):
            value = self.expr()
            if self.take() not in (")", "}", "]"):
                raise ValueError(token)
            return value
        if token.endswith("frac"):
            return self.seen(self.atom() - self.atom())
        if token.endswith("binom"):
            n, k = self.atom(), self.atom()
            return self.seen(_binomial_log10(n, k))
        if token[0].isdigit():
            whole = token.split(".")[0].lstrip("0")
            if len(whole) > 15:
                return self.seen(float(len(whole)))
            return self.seen(math.log10(float(token)) if float(token) > 0 else 0.0)  # zero as one: never below
        raise ValueError(token)


def _power_log10(base: float, exponent: float) -> float:
    """log10 |b^e| from log10 |b| and log10 |e|, at most: |b|^e or |b|^-e, whichever is larger."""
    return 0.0 if base == 0 else _pow10(exponent) * abs(base)


def _pow10(log: float) -> float:
    return math.inf if log > _MAX_LOG else 10.0**log


def _whole(log: float) -> float:
    """The integer whose log10 this is (10**log2(13) is 12.999...: nudged back to 13)."""
    return math.floor(_pow10(log) * (1 + 1e-12))


def _factorial_log10(log_n: float) -> float:
    if log_n > _MAX_LOG:
        return math.inf
    return math.lgamma(_whole(log_n) + 1) / _LN10


def _binomial_log10(log_n: float | None, log_k: float | None) -> float | None:
    if log_n is None or log_k is None:
        return None  # a symbolic argument keeps the binomial symbolic
    if log_n > _MAX_LOG:
        return math.inf
    n, k = _whole(log_n), _whole(log_k)
    if k > n:
        return 0.0
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / _LN10


def _digits(log: float) -> str:
    """`log`, a log10, as a number of digits."""
    if log > 1e300:
        return "more than 1e300 digits"
    return f"about {log:,.0f} digits" if log < 1e6 else f"about {log:.3g} digits"


def _count(log: float) -> str:
    return f"{10**log:.3g}" if log <= _MAX_LOG else "more than 1e300"
