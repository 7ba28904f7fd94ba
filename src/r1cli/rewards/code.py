"""The code reward: run the completion's Python program on the row's test cases, in the sandbox.

    r1cli reward samples.jsonl -r code -o scored.jsonl
    r1cli sample prompts.jsonl -m models/tiny -k 8 -o - | r1cli reward - -r code -r format=0.2 -o -
    r1cli reward samples.jsonl -c code.yaml -o scored.jsonl   # code.yaml: rewards: {code: {mode: all, timeout: 2}}

The rows need a `tests` column (schema in `code_reward`'s docstring and docs/sandbox.md). Each
completion's status goes to TRL's `log_extra("code_status", ...)`, which the offline `reward`
stage stores in the record's `reward_info`; `manifest_info` tells the stage's manifest which
sandbox tier ran the programs.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from r1cli import sandbox
from r1cli.errors import R1Error
from r1cli.records import completion_text
from r1cli.rewards import register
from r1cli.rewards.tags import answer_span

# A completion's status, in the order a failing test is reported (the first failing test decides).
STATUSES = ("passed", "wrong", "runtime_error", "timeout", "memory", "output_limit", "sandbox_error",
            "internal_error", "no_code", "no_tests", "bad_tests")
MODES = ("fraction", "all")
PYTHON_TAGS = {"python", "python3", "py", "py3"}

# A fence opens at the start of a line (```python or ~~~) and closes with the same fence on a line of its own.
_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$", re.DOTALL | re.MULTILINE)


def extract_code(text: str) -> str | None:
    """The program in a completion, or None.

    Looks inside the last `<answer>…</answer>` when there is one (code in the thinking is a
    draft), else in the whole text. Of the fenced blocks found there, the last non-empty one
    tagged python (python, python3, py, py3) wins; failing that, the last non-empty untagged one.
    Blocks tagged with another language, empty blocks and an unclosed fence are ignored.

    >>> extract_code("<think>```python\\nprint(0)\\n```</think><answer>```python\\nprint(1)\\n```</answer>")
    'print(1)\\n'
    >>> extract_code("no code here") is None
    True
    """
    span = answer_span(text)
    region = text if span is None else span
    tagged, untagged = None, None
    for m in _FENCE.finditer(region):
        body = m.group("body")
        if not body.strip():
            continue
        words = m.group("info").strip().split()
        tag = words[0].lower() if words else ""
        if tag in PYTHON_TAGS:
            tagged = body
        elif not tag:
            untagged = body
    return tagged if tagged is not None else untagged


@dataclass(frozen=True)
class Suite:
    """A row's parsed test cases: what goes into the sandbox and what the output must be."""

    cases: list[sandbox.Case]
    expected: list[Any]  # stdout text (stdin/stdout style) or a JSON value (function-call style)
    fn_name: str | None = None


def parse_tests(value: Any) -> Suite:
    """Parse a `tests` cell (a mapping or its JSON text); raises ValueError saying what is wrong."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise ValueError(f"not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping with 'inputs' and 'outputs', got {type(value).__name__}")
    inputs, outputs, fn_name = value.get("inputs"), value.get("outputs"), value.get("fn_name")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise ValueError("'inputs' and 'outputs' must both be lists")
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise ValueError("no test cases")
    if fn_name is None:
        for i, (a, b) in enumerate(zip(inputs, outputs)):
            if not isinstance(a, str) or not isinstance(b, str):
                raise ValueError(f"case {i}: stdin/stdout tests need string inputs and outputs (or give 'fn_name')")
        return Suite([sandbox.Case(stdin=a) for a in inputs], list(outputs))
    if not isinstance(fn_name, str) or not fn_name.strip():
        raise ValueError("'fn_name' must be a non-empty string")
    for i, args in enumerate(inputs):
        if not isinstance(args, list):
            raise ValueError(f"case {i}: function-call inputs must be argument lists")
    return Suite([sandbox.Case(call=fn_name.strip(), args=args) for args in inputs], list(outputs), fn_name.strip())


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def outputs_match(actual: str, expected: str) -> bool:
    """Line by line, ignoring trailing whitespace on each line and trailing blank lines.

    >>> outputs_match("3 \\n4\\n\\n", "3\\n4")
    True
    >>> outputs_match("3\\n", "3\\n4\\n")
    False
    """
    return _lines(actual) == _lines(expected)


def json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values: numbers by value (1 == 1.0), but true is not 1; lists in order.

    >>> json_equal([1, {"a": 2.0}], [1.0, {"a": 2}]), json_equal(True, 1)
    (True, False)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@dataclass
class Verdict:
    """A completion's result: `score` (None: not judged), `status`, and one status per test."""

    score: float | None
    status: str
    tests: list[str] = field(default_factory=list)
    detail: str = ""  # why the first failing test failed (the end of its stderr), for debugging


def _judge_case(result: sandbox.CaseResult, expected: Any, call: bool) -> str:
    if result.status != "ok":
        return result.status
    if call:
        if result.returned is None:
            return "runtime_error" if "return value is not JSON" not in result.stderr else "wrong"
        try:
            value = result.value  # bounded: the program chose this text, maybe nested 200,000 deep
        except ValueError:
            return "wrong"
        return "passed" if json_equal(value, expected) else "wrong"
    return "passed" if outputs_match(result.stdout, expected) else "wrong"


def check(program: str, tests: Suite, *, mode: str = "fraction", limits: sandbox.Limits | None = None,
          isolation: str = "auto", python: str = "") -> Verdict:
    """Run one program on its tests and judge it (the code reward for a single completion).

    Never raises for one completion's sake: a sandbox that fails to start gives `sandbox_error`,
    anything else unexpected `internal_error` (both not judged, score None) with a warning, so one
    completion cannot stop a reward run or a training run. Configuration errors (R1Error) still raise.
    """
    try:
        return _check(program, tests, mode, limits, isolation, python)
    except R1Error:
        raise
    except sandbox.SandboxError as e:
        return Verdict(None, "sandbox_error", detail=str(e))
    except Exception as e:  # a bug of ours, not the program's doing: its replies are checked before use
        from r1cli import console

        detail = f"{type(e).__name__}: {e}"[:500]
        console.warn(f"reward 'code': one completion could not be judged ({detail}); it scores None")
        return Verdict(None, "internal_error", detail=detail)


def _check(program: str, tests: Suite, mode: str, limits: sandbox.Limits | None, isolation: str, python: str) -> Verdict:
    call = tests.fn_name is not None
    statuses: list[str] = []

    def keep_going(i: int, result: sandbox.CaseResult) -> bool:
        statuses.append(_judge_case(result, tests.expected[i], call))
        return mode != "all" or statuses[-1] == "passed"  # all-or-nothing: the first failure decides

    results = sandbox.run_python(program, tests.cases, limits=limits, isolation=isolation, python=python, keep_going=keep_going)
    judged = [_judge_case(r, tests.expected[i], call) if i >= len(statuses) else statuses[i] for i, r in enumerate(results)]
    passed = judged.count("passed")
    failures = [(s, r) for s, r in zip(judged, results) if s not in ("passed", "skipped")]
    status = failures[0][0] if failures else "passed"
    detail = failures[0][1].stderr.strip()[-500:] if failures else ""
    if mode == "all":
        score = 1.0 if passed == len(judged) else 0.0
    else:
        score = passed / len(judged)
    return Verdict(score, status, judged, detail)


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


@register("code", needs=("tests",))
def code_reward(
    completions: Sequence[Any],
    tests: Sequence[Any] | None = None,
    *,
    mode: str = "fraction",
    timeout: float = 5.0,
    memory_mb: int = 1024,
    max_output_bytes: int = 1048576,
    workers: int = 0,
    isolation: str = "auto",
    python: str = "",
    **kwargs: Any,
) -> list[float | None]:
    """Code accuracy: the fraction of test cases the completion's Python program passes (sandboxed).

    The program is the last python-tagged fenced block inside the last `<answer>…</answer>` (or in
    the whole completion when there is no answer tag); see `extract_code`. No program: 0.0.

    The `tests` column holds, per row, a mapping (or its JSON text) in one of two styles:

        stdin/stdout:   {"inputs": ["1 2\\n", "5 7\\n"], "outputs": ["3\\n", "12\\n"]}
        function call:  {"fn_name": "add", "inputs": [[1, 2], [5, 7]], "outputs": [3, 12]}

    stdin/stdout: each input is fed on stdin (then closed); stdout must equal the output line by
    line, ignoring trailing whitespace per line and trailing blank lines (the line count must
    match). Function call: `fn_name` names a top-level function (or a method of a top-level class
    `Solution`, LeetCode style); each input is its argument list; the return value must equal the
    output as JSON (numbers by value, tuples as lists, true is not 1). Function-call programs run
    with `__name__ == "solution"`, stdin/stdout programs as `__main__`.

    Parameters: `mode` "fraction" (passed/total) or "all" (1.0 only if every test passes; stops at
    the first failure); `timeout` wall-clock seconds per test; `memory_mb` address-space limit;
    `max_output_bytes` stdout+stderr per test; `workers` programs run at once (0: one per CPU);
    `isolation` "auto" (bubblewrap, or an error saying how to install it), "bwrap", or the UNSAFE
    "unshare" / "limits"; `python` the interpreter inside the sandbox (default /usr/bin/python3).

    Scores: a wrong answer, crash, timeout or limit scores 0.0 for that test; a sandbox failure
    scores None (not judged), as does an unexpected error while judging one completion
    (internal_error: a warning says what), a row whose `tests` is null (no_tests: e.g. a math row
    in a mixed dataset) or malformed (bad_tests). Statuses per completion (reported through
    `log_extra("code_status", ...)`): passed, wrong, runtime_error, timeout, memory, output_limit,
    sandbox_error, internal_error, no_code, no_tests, bad_tests; with failures, the status of the
    first failing test.
    """
    if tests is None:
        raise R1Error("reward 'code' needs a `tests` column with each row's test cases "
                      '(e.g. {"inputs": ["1 2\\n"], "outputs": ["3\\n"]}); see docs/sandbox.md')
    if mode not in MODES:
        raise R1Error(f"reward 'code': mode={mode!r} must be one of {', '.join(MODES)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise R1Error(f"reward 'code': workers={workers!r} must be 0 (one per CPU) or a positive integer")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not math.isfinite(timeout):
        raise R1Error(f"reward 'code': timeout={timeout!r} must be a number of seconds")
    try:
        limits = sandbox.Limits(timeout=float(timeout), memory_mb=int(memory_mb), max_output_bytes=int(max_output_bytes))
    except (TypeError, ValueError):
        raise R1Error(f"reward 'code': memory_mb={memory_mb!r} and max_output_bytes={max_output_bytes!r} must be integers") from None
    sandbox.probe(isolation, python)  # fail once, with one clear line, before any work
    if len(tests) != len(completions):
        raise R1Error(f"reward 'code': {len(tests)} `tests` values for {len(completions)} completions")

    verdicts: list[Verdict | None] = [None] * len(completions)
    parsed: list[tuple[Any, Suite | str]] = []  # (cell, its tests or why they are unusable); GRPO repeats cells
    jobs: dict[tuple[str, int], list[int]] = {}  # identical (program, tests) pairs run once

    def suite_of(raw: Any) -> int:
        for k, (seen, _) in enumerate(parsed):
            if seen is raw or (type(seen) is type(raw) and seen == raw):
                return k
        try:
            parsed.append((raw, parse_tests(raw)))
        except ValueError as e:
            parsed.append((raw, str(e)))
        return len(parsed) - 1

    for i, (completion, raw) in enumerate(zip(completions, tests)):
        if raw is None:  # e.g. a math row in a mixed dataset: not this reward's to judge
            verdicts[i] = Verdict(None, "no_tests")
            continue
        k = suite_of(raw)
        suite = parsed[k][1]
        if isinstance(suite, str):
            verdicts[i] = Verdict(None, "bad_tests", detail=f"`tests`: {suite}")
            continue
        program = extract_code(completion_text(completion))
        if program is None:
            verdicts[i] = Verdict(0.0, "no_code")
            continue
        jobs.setdefault((program, k), []).append(i)

    def run(key: tuple[str, int]) -> Verdict:
        suite = parsed[key[1]][1]
        assert isinstance(suite, Suite)
        return check(key[0], suite, mode=mode, limits=limits, isolation=isolation, python=python)

    keys = list(jobs)
    n_workers = min(workers or _default_workers(), len(keys)) or 1
    if n_workers == 1:
        done = [run(k) for k in keys]
    else:
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="r1cli-sandbox") as pool:
            done = list(pool.map(run, keys))  # the work happens in the sandbox processes
    for key, verdict in zip(keys, done):
        for i in jobs[key]:
            verdicts[i] = verdict

    log_extra = kwargs.get("log_extra")
    if callable(log_extra):
        log_extra("code_status", [v.status for v in verdicts])
    return [v.score for v in verdicts]


def manifest_info(**params: Any) -> dict[str, Any]:
    """What a stage's manifest records about this reward: the sandbox tier really used and the limits.

    The `reward` stage calls it with the spec's parameter overrides (see commands/reward.py).
    """
    from r1cli.rewards import parameters

    resolved = {**parameters(code_reward), **params}
    tier = sandbox.probe(resolved["isolation"], resolved["python"])
    return {"sandbox": tier.as_dict(), "params": resolved, "limits": vars(sandbox.Limits(
        timeout=float(resolved["timeout"]), memory_mb=int(resolved["memory_mb"]), max_output_bytes=int(resolved["max_output_bytes"])))}


code_reward.manifest_info = manifest_info  # type: ignore[attr-defined]
