"""The `math` reward on all of MATH-500: each reference solution is right for its own answer and
wrong for a different problem's.

Needs ../shared/data/math500/test.jsonl (skipped when absent). Runs on the checking pool, a
few seconds on two cores.

What it took to pass all 500 (see r1cli.rewards.accuracy):
- Gold answers are bare LaTeX (`\\frac{14}{3}`, `\\left( 3, \\frac{\\pi}{2} \\right)`,
  `\\text{Evelyn}`) and math-verify reads LaTeX only between delimiters, so the gold is wrapped
  in `$...$` when it has none. Three golds are money, `\\$32,\\!348`, `\\$18.90`, `\\$36`: their
  escaped `\\$` is not a delimiter, so they must be wrapped too (`as_latex` ignores `\\$`).
- Solutions are whole texts with a final `\\boxed{}`; a box has priority over anything else in
  a completion, and unanchored numbers in the reasoning are not taken as the answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from r1cli.rewards.accuracy import math_accuracy
from r1cli.rewards.math_guards import screen

MATH500 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "math500" / "test.jsonl"

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    if not MATH500.exists():
        pytest.skip(f"needs {MATH500} (the project's ../shared/data is not beside this checkout)")
    rows = [json.loads(line) for line in MATH500.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == 500
    return rows


def _spelling(answer: str) -> str:
    """An answer with LaTeX spacing and sizing removed, to skip pairs that are merely respelled."""
    answer = answer.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return re.sub(r"\\left|\\right|\\[!,;: ]|\s", "", answer)


def test_every_solution_is_right_for_its_own_answer(problems):
    scores = math_accuracy([p["solution"] for p in problems], answer=[p["answer"] for p in problems])
    wrong = [(p["unique_id"], p["answer"], s) for p, s in zip(problems, scores) if s != 1.0]
    assert not wrong, f"{len(wrong)} reference solutions not accepted: {wrong[:10]}"


def test_every_reference_answer_passes_the_guards_and_is_right_for_itself(problems):
    # The guards in front of math-verify (r1cli.rewards.math_guards) must let every reference
    # answer through: as an <answer>, boxed, and as the whole solution with its own box.
    texts = [(p["unique_id"], t) for p in problems for t in (f"<answer>{p['answer']}</answer>", rf"\boxed{{{p['answer']}}}", p["solution"])]
    rejected = [(uid, t[-60:], screen(t)) for uid, t in texts if screen(t) is not None]
    assert not rejected, rejected[:10]
    answers = [p["answer"] for p in problems]
    scores = math_accuracy([f"<answer>{a}</answer>" for a in answers] + [rf"\boxed{{{a}}}" for a in answers], answer=answers * 2)
    wrong = [(a, s) for a, s in zip(answers * 2, scores) if s != 1.0]
    assert not wrong, f"{len(wrong)} reference answers not right for themselves: {wrong[:10]}"


def test_every_solution_is_wrong_for_another_problems_answer(problems):
    n = len(problems)
    answers = [p["answer"] for p in problems]
    # For problem i take the problem halfway round the list, moving on while the two answers are
    # the same answer: equal after removing LaTeX spacing, or equivalent to math-verify in either
    # direction (e.g. `\frac{1}{2}` and `0.5`). "Genuinely different" therefore means different
    # as written and not equal as mathematics.
    partner = [(i + n // 2) % n for i in range(n)]
    for _ in range(10):
        same_text = [i for i in range(n) if _spelling(answers[i]) == _spelling(answers[partner[i]])]
        forward = math_accuracy([f"<answer>{answers[j]}</answer>" for j in partner], answer=answers)
        backward = math_accuracy([f"<answer>{answers[i]}</answer>" for i in range(n)], answer=[answers[j] for j in partner])
        same = set(same_text) | {i for i in range(n) if forward[i] != 0.0 or backward[i] != 0.0}
        if not same:
            break
        for i in same:
            partner[i] = (partner[i] + 1) % n
    else:
        pytest.fail("could not find a different answer for every problem")

    scores = math_accuracy([p["solution"] for p in problems], answer=[answers[j] for j in partner])
    accepted = [(problems[i]["unique_id"], answers[partner[i]], s) for i, s in enumerate(scores) if s != 0.0]
    assert not accepted, f"{len(accepted)} solutions accepted for another problem's answer: {accepted[:10]}"
