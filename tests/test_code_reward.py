"""The code reward: program extraction, test-case schema, strict judging, scores and statuses.

Programs run in the strongest sandbox tier that works here (bubblewrap in CI); the programs in
this file are benign, so a weaker tier is safe for them.
"""

from __future__ import annotations

import json
import time

import pytest

from r1cli import sandbox
from r1cli.errors import R1Error
from r1cli.rewards.code import Suite, code_reward, extract_code, json_equal, outputs_match, parse_tests

ADD = {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}
CALL = {"fn_name": "add", "inputs": [[1, 2], [5, 7]], "outputs": [3, 12]}


@pytest.fixture(scope="module")
def isolation() -> str:
    for name in ("bwrap", "unshare", "limits"):
        try:
            sandbox.probe(name)
            return name
        except sandbox.SandboxUnavailable:
            continue
    pytest.fail("no sandbox tier works, not even limits")


def answer(code: str, lang: str = "python") -> str:
    return f"<think>easy</think>\n<answer>\n```{lang}\n{code}\n```\n</answer>"


def score(completions, tests, isolation, **params):
    logged = {}
    scores = code_reward(completions, tests=tests, isolation=isolation, log_extra=lambda k, v: logged.setdefault(k, []).extend(v), **params)
    return scores, logged.get("code_status")


# --- extraction --------------------------------------------------------------------------------

EXTRACT = [
    ("answer tag wins over thinking", "<think>```python\nprint(0)\n```</think><answer>```python\nprint(1)\n```</answer>", "print(1)\n"),
    ("last answer tag", "<answer>```python\na\n```</answer> <answer>```python\nb\n```</answer>", "b\n"),
    ("no answer tag: whole text", "Here:\n```python\nx = 1\n```\nthen\n```py\nx = 2\n```", "x = 2\n"),
    ("python tag beats a later untagged block", "```python\nreal()\n```\n```\n$ run it\n```", "real()\n"),
    ("untagged when no python block", "```\nprint(3)\n```", "print(3)\n"),
    ("other languages ignored", "```cpp\nint main(){}\n```\n```bash\nls\n```", None),
    ("empty blocks skipped", "```python\nkeep()\n```\n```python\n\n```", "keep()\n"),
    ("tilde fences", "~~~python\nt()\n~~~", "t()\n"),
    ("unclosed fence ignored", "```python\nprint(1)", None),
    ("answer without code: no program", "```python\ndraft()\n```<answer>42</answer>", None),
    ("nothing at all", "I don't know.", None),
    ("tag with attributes", "```python title=x.py\nok()\n```", "ok()\n"),
]


@pytest.mark.parametrize("text, expected", [(t, e) for _, t, e in EXTRACT], ids=[n for n, _, _ in EXTRACT])
def test_extract_code(text, expected):
    assert extract_code(text) == expected


# --- judging -----------------------------------------------------------------------------------

MATCH = [
    ("3\n", "3\n", True),
    ("3", "3\n", True),
    ("3  \n\n\n", "3\n", True),
    ("3\r\n4\r\n", "3\n4\n", True),
    ("1 2 \n", "1 2\n", True),
    (" 3\n", "3\n", False),  # leading whitespace matters
    ("3\n", "3\n4\n", False),  # printing only the first line fails
    ("3\n4\n", "3\n", False),
    ("\n3\n", "3\n", False),
    ("", "", True),
]


@pytest.mark.parametrize("actual, expected, same", MATCH)
def test_outputs_match(actual, expected, same):
    assert outputs_match(actual, expected) is same


@pytest.mark.parametrize("a, b, same", [
    (3, 3.0, True), ([1, [2]], [1, [2]], True), ({"a": 1}, {"a": 1.0}, True), (True, 1, False),
    ([1, 2], [2, 1], False), ("1", 1, False), (None, None, True), ({"a": 1}, {"a": 1, "b": 2}, False),
])
def test_json_equal(a, b, same):
    assert json_equal(a, b) is same


def test_parse_tests_both_styles_and_json_text():
    stdio = parse_tests(json.dumps(ADD))
    assert isinstance(stdio, Suite) and stdio.fn_name is None and [c.stdin for c in stdio.cases] == ADD["inputs"]
    call = parse_tests(CALL)
    assert call.fn_name == "add" and [list(c.args) for c in call.cases] == CALL["inputs"] and call.expected == [3, 12]


@pytest.mark.parametrize("bad, why", [
    ("{nope", "JSON"), ([1], "mapping"), ({"inputs": ["1"]}, "lists"), ({"inputs": ["1"], "outputs": []}, "1 inputs but 0"),
    ({"inputs": [], "outputs": []}, "no test cases"), ({"inputs": [1], "outputs": ["1"]}, "string"),
    ({"fn_name": "f", "inputs": [1], "outputs": [1]}, "argument lists"), ({"fn_name": "", "inputs": [[]], "outputs": [1]}, "fn_name"),
])
def test_parse_tests_says_what_is_wrong(bad, why):
    with pytest.raises(ValueError, match=why):
        parse_tests(bad)


# --- the reward --------------------------------------------------------------------------------


def test_scores_and_statuses(isolation):
    sums = "a, b = map(int, input().split())\nprint(a + b)"
    completions = [
        answer(sums),  # passed
        answer("print(3)"),  # one of two right
        answer("print(input())"),  # wrong
        answer("raise ValueError('boom')"),  # runtime_error
        answer("while True: pass"),  # timeout
        "no code at all",  # no_code
        answer(sums),  # a math row mixed in: no tests
        answer(sums),  # malformed tests
        [{"role": "assistant", "content": answer("def add(a, b):\n    return a + b")}],  # chat format, call style
    ]
    tests = [ADD] * 6 + [None, {"inputs": "x"}, CALL]
    scores, statuses = score(completions, tests, isolation, timeout=0.5)
    assert scores == [1.0, 0.5, 0.0, 0.0, 0.0, 0.0, None, None, 1.0]
    assert statuses == ["passed", "wrong", "wrong", "runtime_error", "timeout", "no_code", "no_tests", "bad_tests", "passed"]


def test_all_mode_is_all_or_nothing_and_stops_early(isolation):
    # Fails the first test, then would loop on the second: "all" must not wait for that timeout.
    program = answer("s = input()\nif s == '1 2':\n    print(0)\nelse:\n    while True: pass")
    t0 = time.monotonic()
    scores, statuses = score([program, answer("print(sum(map(int, input().split())))")], [ADD, ADD], isolation, mode="all", timeout=3)
    assert scores == [0.0, 1.0] and statuses == ["wrong", "passed"]
    assert time.monotonic() - t0 < 2.5


def test_call_style_compares_json_values(isolation):
    programs = [
        answer("def add(a, b):\n    return float(a + b)"),  # 3.0 == 3 as JSON
        answer("def add(a, b):\n    return str(a + b)"),  # "3" is not 3
        answer("class Solution:\n    def add(self, a, b):\n        return a + b"),  # LeetCode style
        answer("def plus(a, b):\n    return a + b"),  # wrong name
    ]
    scores, statuses = score(programs, [CALL] * 4, isolation)
    assert scores == [1.0, 0.0, 1.0, 0.0]
    assert statuses == ["passed", "wrong", "passed", "runtime_error"]


def test_limits_map_to_statuses(isolation):
    programs = [answer("import sys\nsys.stdout.write('x' * 10**6)"), answer("x = b' ' * 10**10")]
    scores, statuses = score(programs, [ADD, ADD], isolation, max_output_bytes=1000, memory_mb=256)
    assert scores == [0.0, 0.0] and statuses == ["output_limit", "memory"]


def test_sandbox_failure_is_not_judged(isolation, monkeypatch):
    def broken(*args, **kwargs):
        raise sandbox.SandboxError("bwrap: setting up uid map: Permission denied")

    monkeypatch.setattr(sandbox, "run_python", broken)
    scores, statuses = score([answer("print(3)"), "no code"], [ADD, ADD], isolation)
    assert scores == [None, 0.0] and statuses == ["sandbox_error", "no_code"]


def test_an_unexpected_error_is_that_completions_alone(isolation, monkeypatch, capsys):
    real = sandbox.run_python

    def flaky(code, *args, **kwargs):
        if "boom" in code:
            raise RecursionError("maximum recursion depth exceeded")
        return real(code, *args, **kwargs)

    monkeypatch.setattr(sandbox, "run_python", flaky)
    scores, statuses = score([answer("print(3)  # boom"), answer("print(sum(map(int, input().split())))")], [ADD, ADD], isolation)
    assert scores == [None, 1.0] and statuses == ["internal_error", "passed"]
    assert "RecursionError" in capsys.readouterr().err


def test_identical_programs_run_once_and_order_is_kept(isolation, monkeypatch):
    calls = []
    real = sandbox.run_python
    monkeypatch.setattr(sandbox, "run_python", lambda code, *a, **k: calls.append(code) or real(code, *a, **k))
    good, bad = answer("print(sum(map(int, input().split())))"), answer("print(0)")
    completions = [good, bad, good, bad, good, bad]
    tests = [dict(ADD) for _ in completions]  # equal but distinct cells, as in a GRPO batch
    scores, _ = score(completions, tests, isolation, workers=2)
    assert scores == [1.0, 0.0] * 3
    assert len(calls) == 2


def test_bad_configuration_is_an_error(isolation):
    with pytest.raises(R1Error, match="tests"):
        code_reward([answer("print(1)")], isolation=isolation)
    with pytest.raises(R1Error, match="mode"):
        code_reward([answer("print(1)")], tests=[ADD], mode="most", isolation=isolation)
    with pytest.raises(R1Error, match="timeout"):
        code_reward([answer("print(1)")], tests=[ADD], timeout=0, isolation=isolation)
    with pytest.raises(R1Error, match="isolation"):
        code_reward([answer("print(1)")], tests=[ADD], isolation="chroot")


def test_registered_with_its_parameters(monkeypatch):
    from r1cli import rewards
    from r1cli.rewards import Reward, RewardSpec, names, parameters

    monkeypatch.setattr(rewards, "_LOADED", False)  # load the built-ins again even if an earlier call failed halfway
    assert "code" in names()  # imports every built-in reward module: a missing or broken one fails here
    reward = Reward(RewardSpec("code", params={"mode": "all", "timeout": 2}))
    assert set(parameters(reward.fn)) == {"mode", "timeout", "memory_mb", "max_output_bytes", "workers", "isolation", "python"}


def test_offline_scoring_stores_the_status(isolation):
    from r1cli.rewards import Reward, RewardSpec, score as score_records

    reward = Reward(RewardSpec("code", params={"isolation": isolation}))
    rows = [{"id": "a", "completion": answer("print(3)"), "tests": ADD}, {"id": "b", "completion": "none", "tests": ADD}]
    out = score_records([reward], rows)
    assert [r["rewards"]["code"] for r in out] == [0.5, 0.0]
    assert [r["reward_info"]["code_status"] for r in out] == ["wrong", "no_code"]


def test_a_grpo_sized_batch_is_quick(isolation):
    # 16 completions x 10 tests, half of them distinct programs: well under a few seconds on 2 cores.
    tests = {"inputs": [f"{i} {i}\n" for i in range(10)], "outputs": [f"{2 * i}\n" for i in range(10)]}
    completions = [answer(f"a, b = map(int, input().split())\nprint(a + b + {i % 8 // 7})") for i in range(16)]
    t0 = time.monotonic()
    scores, _ = score(completions, [tests] * 16, isolation, workers=2)
    assert scores.count(1.0) == 14 and scores.count(0.0) == 2
    assert time.monotonic() - t0 < 10
