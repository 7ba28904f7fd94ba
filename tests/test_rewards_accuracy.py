"""The accuracy rewards (`math`, `numeric`) and `answer_key`, table-driven."""

from __future__ import annotations

import time

import pytest

from r1cli.rewards.accuracy import as_latex, math_accuracy, numeric_accuracy
from r1cli.tasks.answers import answer_key, answer_keys
from r1cli.rewards.tags import answer_span


def chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


# --- math -----------------------------------------------------------------------------------

MATH_CASES = [
    # (completion, gold, expected, why)
    (r"<think>7+7=14</think><answer>\frac{14}{3}</answer>", r"\frac{14}{3}", 1.0, "answer tag, bare LaTeX"),
    (r"So the result is $\boxed{\frac{14}{3}}$.", r"\frac{14}{3}", 1.0, "boxed, no answer tag"),
    (r"<answer>4.6666666667</answer>", r"\frac{14}{3}", 1.0, "decimal within rounding"),
    (r"<answer>0.5</answer>", r"\frac{1}{2}", 1.0, "decimal equals fraction"),
    (r"<answer>1/2</answer>", r"\frac12", 1.0, "slash fraction"),
    (r"<answer>\left( 3, \frac{\pi}{2} \right)</answer>", r"\left( 3, \frac{\pi}{2} \right)", 1.0, "tuple"),
    (r"<answer>(3, \pi/2)</answer>", r"\left( 3, \frac{\pi}{2} \right)", 1.0, "tuple, other spelling"),
    (r"<answer>\text{Evelyn}</answer>", r"\text{Evelyn}", 1.0, "text answer"),
    (r"<answer>Evelyn</answer>", r"\text{Evelyn}", 1.0, "text answer without \\text"),
    (r"<answer>x = 5</answer>", "5", 1.0, "assignment"),
    (r"<answer>$18.90</answer>", r"\$18.90", 1.0, "escaped dollar in gold"),
    (r"<answer>32348</answer>", r"\$32,\!348", 1.0, "thousands separator in gold"),
    (r"first \boxed{3} then <answer>5</answer>", "5", 1.0, "answer tag wins over an earlier box"),
    (r"<answer>3</answer> <answer>5</answer>", "5", 1.0, "last answer tag"),
    ("<answer>5</answer>", 5, 1.0, "numeric gold"),
    (r"<answer>\frac{14}{5}</answer>", r"\frac{14}{3}", 0.0, "wrong"),
    (r"<answer>\text{Bob}</answer>", r"\text{Evelyn}", 0.0, "wrong name"),
    ("<answer>(3, 1)</answer>", r"\left( 3, \frac{\pi}{2} \right)", 0.0, "wrong tuple"),
    ("The value is 14/3 I think", r"\frac{14}{3}", 0.0, "no box, no tag: unanchored numbers do not count"),
    ("<answer></answer>", "5", 0.0, "empty answer"),
    ("", "5", 0.0, "empty completion"),
    ("<answer>5", "5", 0.0, "unclosed answer tag, no box"),
    ("<answer>five</answer>", "5", 0.0, "words"),
    ("<answer>5</answer>", None, None, "no gold"),
    ("<answer>5</answer>", "", None, "empty gold"),
    ("<answer>5</answer>", r"\frac{", None, "unparseable gold"),
    ("<answer>5</answer>", "???", None, "gold with no math"),
]


def test_math_table():
    completions = [c for c, *_ in MATH_CASES]
    golds = [g for _, g, *_ in MATH_CASES]
    scores = math_accuracy(completions, answer=golds)
    failures = [(why, c, g, s, want) for (c, g, want, why), s in zip(MATH_CASES, scores) if s != want]
    assert not failures


def test_math_chat_messages_and_trl_keywords():
    scores = math_accuracy(
        completions=[chat(r"<answer>\frac{14}{3}</answer>"), chat("<answer>2</answer>")],
        answer=[r"\frac{14}{3}", r"\frac{14}{3}"],
        prompts=["p", "p"],
        completion_ids=[[1, 2], [3]],
        trainer_state=None,
        log_extra=lambda *a: None,
        log_metric=lambda *a: None,
        level=[3, 3],
    )
    assert scores == [1.0, 0.0]


def test_math_without_answer_column_is_not_judged():
    assert math_accuracy(["<answer>5</answer>"]) == [None]


# Each of these sends sympy into hours of work or gigabytes; the deadline must cut them off.
ADVERSARIAL_MATH = [
    r"\boxed{9^{9^{9^{9}}}}",
    "<answer>9^9^9^9</answer>",
    r"\boxed{(10^{10})!}",
    r"\boxed{10^{10^{10}} - 10^{10^{10}} + 5}",
    "<answer>" + "(" * 5000 + "5" + ")" * 5000 + "</answer>",
    r"\boxed{" + r"\left(" * 2000 + "5" + r"\right)" * 2000 + "}",
    "<answer>" + "7" * 1_000_000 + "</answer>",
    "5" * 1_000_000,
]


def test_math_adversarial_inputs_score_zero_within_deadline():
    deadline = 1.0
    t0 = time.monotonic()
    scores = math_accuracy(ADVERSARIAL_MATH, answer=["5"] * len(ADVERSARIAL_MATH), timeout=deadline)
    elapsed = time.monotonic() - t0
    assert scores == [0.0] * len(ADVERSARIAL_MATH)
    # Serial worst case: every item runs to its deadline, plus kill/restart slack per item.
    assert elapsed < len(ADVERSARIAL_MATH) * (deadline + 1.0)


def test_math_repeated_completions_are_scored_once():
    # Same (gold, completion) pairs: scored once, answers copied (GRPO groups repeat completions).
    out = math_accuracy(["<answer>7</answer>"] * 5 + ["<answer>8</answer>"], answer=["7"] * 6)
    assert out == [1.0] * 5 + [0.0]


def test_math_timeout_parameter_is_validated():
    from r1cli.errors import R1Error

    for bad in (0, -1, float("inf"), "5"):
        with pytest.raises(R1Error, match="timeout"):
            math_accuracy(["x"], answer=["1"], timeout=bad)


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"\frac{14}{3}", r"$\frac{14}{3}$"),
        (r"\text{Evelyn}", r"$\text{Evelyn}$"),
        (r"\$32,\!348", r"$\$32,\!348$"),  # an escaped dollar is not a delimiter
        (r"$x$ and $y$", r"$x$ and $y$"),
        (r"\boxed{5}", r"\boxed{5}"),
        (r"\(5\)", r"\(5\)"),
        ("  7 ", "$7$"),
        ("", ""),
    ],
)
def test_as_latex(text, expected):
    assert as_latex(text) == expected


def test_answer_span():
    assert answer_span("<answer>1</answer> x <answer>2</answer>") == "2"
    assert answer_span("<answer>\n3\n</answer>") == "\n3\n"
    assert answer_span("<answer>4") is None
    assert answer_span("no tags") is None
    assert answer_span("</answer><answer>") is None
    assert answer_span("<answer>a<answer>b</answer>") == "b"  # the innermost, nearest the end


def test_answer_span_is_linear_on_degenerate_output():
    t0 = time.monotonic()
    for text in ("<answer>" * 200_000, "<answer>" * 200_000 + "</answer>", "</answer>" * 200_000):
        answer_span(text)
        numeric_accuracy([text], answer=["1"])
    assert time.monotonic() - t0 < 2.0


# --- numeric --------------------------------------------------------------------------------

NUMERIC_CASES = [
    ("<answer>72</answer>", "72", 1.0, "plain"),
    ("<answer>72</answer>", "Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", 1.0, "GSM8K gold"),
    ("<answer>$1,234</answer>", "1234", 1.0, "currency and comma in prediction"),
    ("<answer>1234</answer>", "1,234", 1.0, "comma in gold"),
    ("<answer>72.0</answer>", 72, 1.0, "int gold, decimal prediction"),
    ("<answer>0.1</answer>", 0.1, 1.0, "float gold"),
    ("<answer>0.30000001</answer>", "0.3", 1.0, "within tolerance"),
    ("<answer>-3</answer>", "-3", 1.0, "negative"),
    ("I think it's 5.\n#### 72\nor maybe 9", "72", 1.0, "#### in the completion"),
    ("5 apples and 3 more make 72", "72", 1.0, "last number"),
    ("<answer>The total is 72 dollars.</answer>", "72", 1.0, "number inside words"),
    ("<answer>73</answer>", "72", 0.0, "wrong"),
    ("<answer>0.31</answer>", "0.3", 0.0, "outside tolerance"),
    ("72 is wrong, <answer>70</answer>", "72", 0.0, "answer tag wins"),
    ("<answer>seventy-two</answer>", "72", 0.0, "no number"),
    ("", "72", 0.0, "empty completion"),
    ("<answer>" + "9" * 1_000_000 + "</answer>", "72", 0.0, "a million digits"),
    ("<answer>9^9^9^9</answer>", "72", 0.0, "exponent tower (read as its last number)"),
    ("<answer>72</answer>", "seventy-two", None, "unparseable gold"),
    ("<answer>72</answer>", None, None, "no gold"),
    ("<answer>72</answer>", True, None, "boolean gold"),
    ("<answer>72</answer>", float("nan"), None, "NaN gold"),
]


def test_numeric_table():
    scores = numeric_accuracy([c for c, *_ in NUMERIC_CASES], answer=[g for _, g, *_ in NUMERIC_CASES])
    failures = [(why, s, want) for (_, _, want, why), s in zip(NUMERIC_CASES, scores) if s != want]
    assert not failures


def test_numeric_chat_messages():
    assert numeric_accuracy([chat("<answer>72</answer>")], answer=["72"], completion_ids=[[1]]) == [1.0]


def test_numeric_adversarial_is_fast():
    t0 = time.monotonic()
    numeric_accuracy(["1," * 500_000, "-" * 1_000_000 + "1", "." * 1_000_000], answer=["1"] * 3)
    assert time.monotonic() - t0 < 5.0


# --- answer keys ----------------------------------------------------------------------------

MATH_KEYS = [
    # completions in one group share a key; different groups differ
    [r"<answer>\frac{1}{2}</answer>", "<answer>0.5</answer>", "<answer>1/2</answer>", r"\boxed{\dfrac12}", r"<answer>50\%</answer>"],
    ["<answer>x = 5</answer>", "<answer>5</answer>", r"So \boxed{5.0}", "The final answer is 5."],
    [r"<answer>\{1, 2\}</answer>", r"<answer>\{2,1\}</answer>"],
    [r"<answer>\left( 3, \frac{\pi}{2} \right)</answer>", r"<answer>(3, 1.5707963)</answer>"],
    [r"<answer>\sqrt{2}</answer>", r"<answer>2^{1/2}</answer>", r"<answer>\frac{2}{\sqrt{2}}</answer>"],
    [r"<answer>(x+1)^2</answer>", r"<answer>x^2 + 2x + 1</answer>"],
    [r"<answer>\frac13</answer>", "<answer>0.333333</answer>"],
    [r"<answer>\text{Evelyn}</answer>", "<answer>Evelyn</answer>"],
    [r"<answer>(1, 2)</answer>"],
    [r"<answer>[1, 2)</answer>"],
    ["<answer>-1/2</answer>"],
]


def test_math_answer_keys_group_equal_answers():
    keys = [[answer_key(c, "math") for c in group] for group in MATH_KEYS]
    for group, group_keys in zip(MATH_KEYS, keys):
        assert None not in group_keys, group
        assert len(set(group_keys)) == 1, (group, group_keys)
    firsts = [k[0] for k in keys]
    assert len(set(firsts)) == len(firsts), firsts


@pytest.mark.parametrize(
    "completion, kind, expected",
    [
        ("<answer>1,234.50</answer>", "numeric", "1234.5"),
        ("<answer>72.0</answer>", "numeric", "72"),
        ("so 3 then 4", "numeric", "4"),
        ("<answer>-0</answer>", "numeric", "0"),
        ("#### 18", "numeric", "18"),
        ("no number", "numeric", None),
        ("", "math", None),
        ("no answer here at all", "math", None),
        ("<answer></answer>", "math", None),
        ("<answer>(6 - 2) × 6</answer>", "countdown", "(6-2)*6"),
        ("<answer>six</answer>", "countdown", None),
    ],
)
def test_answer_key_table(completion, kind, expected):
    assert answer_key(completion, kind) == expected


def test_answer_key_unknown_kind():
    from r1cli.errors import R1Error

    with pytest.raises(R1Error, match="unknown kind"):
        answer_key("<answer>1</answer>", "poetry")


def test_answer_keys_pool_cuts_off_pathological_input():
    out = answer_keys([r"\boxed{9^{9^{9^{9}}}}", chat(r"<answer>\frac{1}{2}</answer>"), "#### 4"], "math", timeout=1.0)
    assert out == [None, "1/2", None]
    assert answer_keys(["#### 4", "x"], "numeric") == ["4", None]
