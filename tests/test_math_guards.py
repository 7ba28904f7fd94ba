"""The guards in front of math-verify (r1cli.rewards.math_guards): what they reject, and what they
must let through. Decisions only, no timings; benchmarks/bench_math_guards.py times them."""

from __future__ import annotations

import json

import pytest

from conftest import shared_data
from r1cli.rewards import accuracy
from r1cli.rewards.math_guards import MAX_ANSWER_CHARS, MAX_BOXES, MAX_DEPTH, MAX_MATRIX_CELLS, MAX_TEXT_CHARS, screen


def matrix(rows: int, cols: int, env: str = "pmatrix") -> str:
    body = r" \\ ".join(" & ".join(str((r + c) % 10) for c in range(cols)) for r in range(rows))
    return rf"\begin{{{env}}} {body} \end{{{env}}}"


def nest(template: str, depth: int, core: str = "2") -> str:
    for _ in range(depth):
        core = template.format(core)
    return core


# (completion, the guard that rejects it: its reason starts with that name and a colon)
PATHOLOGICAL = [
    ("x" * (MAX_TEXT_CHARS + 1), "length"),
    (r"\boxed{1} " * (MAX_BOXES + 1), "boxes"),
    (" ".join(rf"\boxed{{{i}}}" for i in range(10_000)), "boxes"),
    (r"\boxed{" + "+".join(["12345"] * 200) + "}", "answer"),
    ("<answer>" + "1+" * MAX_ANSWER_CHARS + "1</answer>", "answer"),
    (r"\boxed{" + matrix(300, 300) + "}", "answer"),
    (r"\boxed{" + nest(r"\frac{{1}}{{{}}}", 20) + "}", "depth"),
    (r"\boxed{" + nest(r"\sqrt{{{}}}", 50) + "}", "depth"),
    (r"\boxed{" + nest(r"\frac{{1}}{{1+{}}}", 15) + "}", "depth"),
    ("<answer>" + "(" * (MAX_DEPTH + 1) + "5" + ")" * (MAX_DEPTH + 1) + "</answer>", "depth"),
    (r"\boxed{" + r"\left(" * 40 + "5" + r"\right)" * 40 + "}", "depth"),
    (r"\boxed{" + "{" * 14 + "5" + "}" * 14 + "}", "depth"),
    (r"\boxed{[(\{[(\{[(\{x\})]\})]\})]}", "depth"),  # kinds mixed
    ("The final answer is " + "7" * 5_000, "digits"),  # no box, no tag: after "answer"
    (r"\boxed{" + matrix(11, 11) + "}", "matrix"),
    (r"\boxed{" + matrix(2, 60, "bmatrix") + "}", "matrix"),
    (r"\boxed{" + matrix(MAX_MATRIX_CELLS + 1, 1, "array") + "}", "matrix"),
    (r"\boxed{9^{9^{9^{9}}}}", "power"),
    ("<answer>9^9^9^9</answer>", "power"),  # Python's parser reads it right-associated
    ("<answer>9**9**9**9</answer>", "power"),
    ("The final answer is 9^9^9^9.", "power"),
    (r"\boxed{2^{2^{2^{2^{2^{2}}}}}}", "power"),
    (r"\boxed{10^{10^{10}}}", "power"),
    (r"\boxed{10^{10^{10}} - 10^{10^{10}} + 5}", "power"),
    (r"\boxed{2^{1000000000}}", "power"),
    ("<answer>2^1000000000</answer>", "power"),
    ("<answer>2^(10^9)</answer>", "power"),
    (r"\boxed{x + 7^{123456789}}", "power"),  # a number inside a symbolic answer is still computed
    (r"\boxed{\left(10^{10}\right)^{10^{10}}}", "power"),
    (r"\boxed{10^{10001}}", "power"),
    (r"\boxed{(x+1)^{1000}}", "expansion"),  # expanded by sympy
    (r"\boxed{\left(x+y+1\right)^{50}}", "expansion"),
    (r"\boxed{100000!}", "factorial"),
    (r"\boxed{(10^{10})!}", "factorial"),
    (r"\boxed{4000!}", "factorial"),  # 12,674 digits
    (r"\boxed{\binom{10^6}{500000}}", "binomial"),
    (r"\boxed{\dbinom{1000000}{500000}}", "binomial"),
    (r"\boxed{\tbinom{100000}{50000}}", "binomial"),
    (r"\boxed{1} \boxed{\binom{10^{6}}{500000}}", "binomial"),  # every box is screened
]


@pytest.mark.parametrize("completion, reason", PATHOLOGICAL, ids=[f"{i}-{r}" for i, (_, r) in enumerate(PATHOLOGICAL)])
def test_pathological_answer_is_rejected_with_its_reason(completion, reason):
    got = screen(completion)
    assert got is not None and got.startswith(reason + ":"), got


# (completion, gold): each passes the guards and scores 1.0 against its gold.
LEGITIMATE = [
    (r"\boxed{2^{2005}}", "2^{2005}"),
    (r"\boxed{10^{100}}", "10^{100}"),
    (r"\boxed{2^{2^{10}}}", "2^{1024}"),
    ("<answer>1267650600228229401496703205376</answer>", "2^{100}"),
    (r"\boxed{3000!}", "3000!"),  # 9,131 digits, under the limit
    (r"\boxed{\frac{100!}{98!}}", "9900"),
    (r"\boxed{\binom{100}{50}}", r"\binom{100}{50}"),
    (r"\boxed{\binom{2n}{n}}", r"\binom{2n}{n}"),
    (r"\boxed{x^{2023}}", "x^{2023}"),
    (r"\boxed{(x+1)^{10}}", "(x+1)^{10}"),
    (r"\boxed{e^{-x^2}}", "e^{-x^2}"),
    (r"\boxed{\frac{1}{1+\frac{1}{1+\frac{1}{2}}}}", r"\frac{3}{5}"),
    (r"\boxed{\sqrt{2+\sqrt{2+\sqrt{2}}}}", r"\sqrt{2+\sqrt{2+\sqrt{2}}}"),
    (r"\boxed{\left(\frac{\sqrt{2}}{2}, -\frac{\sqrt{2}}{2}\right)}", r"\left(\frac{\sqrt{2}}{2}, -\frac{\sqrt{2}}{2}\right)"),
    (r"\boxed{\begin{pmatrix} 1 & 2 & 3 \\ 4 & 5 & 6 \\ 7 & 8 & 9 \end{pmatrix}}", r"\begin{pmatrix} 1 & 2 & 3 \\ 4 & 5 & 6 \\ 7 & 8 & 9 \end{pmatrix}"),
    (r"\boxed{" + matrix(10, 10) + "}", matrix(10, 10)),  # 100 cells, at the limit
    (r"\boxed{\begin{bmatrix} \frac{1}{2} & -\frac{1}{3} \\ 0 & \sqrt{5} \end{bmatrix}}", r"\begin{pmatrix} \frac{1}{2} & -\frac{1}{3} \\ 0 & \sqrt{5} \end{pmatrix}"),
    (r"\boxed{[-2, 7)}", "[-2, 7)"),
    (r"\boxed{(-\infty, 0] \cup [1, \infty)}", r"(-\infty, 0] \cup [1, \infty)"),
    (r"\boxed{\left(\frac{3}{5},\frac{8}{3}\right]}", r"\left(\frac{3}{5},\frac{8}{3}\right]"),
    (r"\boxed{\{1\pm\sqrt{5},-2\}}", r"\{1\pm\sqrt{5},-2\}"),
    (r"\boxed{\{1, 2, 3\}}", r"\{3, 2, 1\}"),
    (r"\boxed{\text{Evelyn}}", r"\text{Evelyn}"),
    (r"\boxed{90^\circ}", r"90^\circ"),
    (r"\boxed{10,\!080}", r"10,\!080"),  # \! is a space, not a factorial
    (r"<answer>\$32,\!348</answer>", r"\$32,\!348"),
    (r"\boxed{50\%}", r"50\%"),
    (r"\boxed{0.0000672}", ".0000672"),
    (r"\boxed{5!}", "120"),
    (r"The two parts are \boxed{3} and \boxed{5}.", r"3, 5"),
    # The checks look at what math-verify reads: a tower in the reasoning is not the answer.
    (r"<think>Not $9^{9^{9^{9}}}$: with $(10^{10})!$ ways, " + "(" * 12 + ")" * 12 + r" we get</think> \boxed{7}", "7"),
    ("The answer: " + "Let $x = 2$. " * 3_000 + r"So the final answer is $\frac{14}{3}$.", r"\frac{14}{3}"),
    # An unclosed box before the last one is not read, as in math-verify.
    (r"We will write \boxed{ once sure. " + "Check the cases. " * 200 + r"So \boxed{5}", "5"),
    # Boxes far apart are not read together: the last one is the answer.
    ("".join(rf"Case {i} gives \boxed{{{i}}}. We check this case in full before we move on to the next one." for i in range(MAX_BOXES - 1))
     + r" So \boxed{17}", "17"),
    ("<answer>" + "x" * (MAX_ANSWER_CHARS - 20) + r" $\frac{14}{3}$</answer>", r"\frac{14}{3}"),
]


def test_legitimate_answers_pass_the_guards_and_score():
    passed = [(c[:60], screen(c)) for c, _ in LEGITIMATE]
    assert all(reason is None for _, reason in passed), [p for p in passed if p[1]]
    scores = accuracy.math_accuracy([c for c, _ in LEGITIMATE], answer=[g for _, g in LEGITIMATE])
    wrong = [(c[:60], g, s) for (c, g), s in zip(LEGITIMATE, scores) if s != 1.0]
    assert not wrong


def test_guarded_answers_score_zero_without_a_check(monkeypatch):
    checked = []
    real = accuracy.map_with_deadline

    def spy(fn, items, *args, **kwargs):
        checked.extend(items)
        return real(fn, items, *args, **kwargs)

    monkeypatch.setattr(accuracy, "map_with_deadline", spy)
    monkeypatch.setattr(accuracy, "_CACHE", type(accuracy._CACHE)())  # earlier tests may have scored \boxed{5}
    metrics = {}
    completions = [c for c, _ in PATHOLOGICAL] + [r"\boxed{5}"]
    scores = accuracy.math_accuracy(completions, answer=["5"] * len(completions), log_metric=metrics.__setitem__)
    assert scores == [0.0] * len(PATHOLOGICAL) + [1.0]
    assert checked == [("5", r"\boxed{5}")]  # only the sane answer reached a worker
    assert metrics == {"math/guarded": len(PATHOLOGICAL) / len(completions)}
    # A missing gold is still "not judged", whatever the completion.
    assert accuracy.math_accuracy([r"\boxed{9^{9^{9^{9}}}}"], answer=[None]) == [None]


def test_answer_keys_skip_guarded_answers(monkeypatch):
    from r1cli.tasks import answers

    monkeypatch.setattr(answers, "map_with_deadline", lambda fn, items, *a, **k: [answers.answer_key(t, "math") for t in items])
    assert answers.answer_keys([r"\boxed{(10^{10})!}", r"<answer>\frac{1}{2}</answer>"], "math") == [None, "1/2"]


@pytest.mark.shared_data
def test_gsm8k_solutions_pass_the_guards():
    rows = [json.loads(line) for line in shared_data("gsm8k", "test.jsonl").read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        reasoning, gold = row["answer"].rsplit("####", 1)
        for text in (row["answer"], f"{reasoning}The answer is \\boxed{{{gold.strip()}}}.", f"<answer>{gold.strip()}</answer>"):
            assert screen(text) is None, (text[-80:], screen(text))
