"""The harness inside the sandbox: its module, its replies, and programs that go after it.

A program shares its harness's uid, so the harness must shield itself (tests of the attacks below,
through the code reward), and r1cli must survive whatever comes back from a sandbox (replies from
stand-in harnesses, and values a program shaped itself): one completion scores 0 or None with a
status, and never stops the run.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from conftest import read_jsonl, write_jsonl
from r1cli import sandbox, sandbox_harness
from r1cli.rewards.code import code_reward
from r1cli.sandbox import Case, Limits, run_python

ADD = {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}
HONEST = "print(sum(map(int, input().split())))"
QUICK = Limits(timeout=2, max_output_bytes=1 << 16, memory_mb=256)


def tiers(*names: str) -> list[str]:
    """The tiers among `names` that work here (all of them are probed once per process)."""
    found = []
    for name in names:
        try:
            sandbox.probe(name)
            found.append(name)
        except sandbox.SandboxUnavailable:
            pass
    return found


@pytest.fixture(scope="module")
def best() -> str:
    found = tiers("bwrap", "unshare", "limits")
    if not found:
        pytest.fail("no sandbox tier works, not even limits")
    return found[0]


@pytest.fixture(scope="module")
def bwrap() -> str:
    if not tiers("bwrap"):
        pytest.skip("bubblewrap does not work here")
    return "bwrap"


def answer(code: str) -> str:
    return f"<answer>\n```python\n{code}\n```\n</answer>"


def score(completions, tests, isolation, **params):
    logged = {}
    scores = code_reward(completions, tests=tests, isolation=isolation, log_extra=lambda k, v: logged.setdefault(k, []).extend(v), **params)
    return scores, logged["code_status"]


# --- the harness module ------------------------------------------------------------------------


def test_the_harness_is_a_standard_library_module_handed_over_as_text():
    path = Path(sandbox_harness.__file__)
    assert sandbox._HARNESS == path.read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(sandbox._HARNESS)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or ".").split(".")[0])
    assert imported and imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


@pytest.mark.parametrize("data, expected", [
    (b'{"value": "[1, 2]"}', {"value": "[1, 2]"}),
    (b'{"error": "MemoryError", "other": "x"}', {"error": "MemoryError"}),
    (b'{"value": 3}', {}),  # not the text of a value
    (b"[1]", {}),
    (b"[" * 200_000 + b"]" * 200_000, {}),  # json.loads would raise RecursionError
    (b"\xff\xfe", {}),
    (b"", {}),
])
def test_a_childs_report_is_read_defensively(data, expected):
    assert sandbox_harness.read_report(data) == expected


def test_find_follows_the_leetcode_convention():
    import types

    mod = types.ModuleType("solution")
    exec("def f(x): return x + 1\nclass Solution:\n    def g(self, x): return -x", mod.__dict__)
    assert sandbox_harness.find(mod, "f")(1) == 2
    assert sandbox_harness.find(mod, "g")(1) == -1
    assert sandbox_harness.find(mod, "Solution.g")(2) == -2


# --- bounded JSON ------------------------------------------------------------------------------


def test_loads_bounded_counts_depth_outside_strings_only():
    assert sandbox.loads_bounded('[[1], {"a": "[[[[[["}]', max_depth=2) == [[1], {"a": "[[[[[["}]
    assert sandbox.loads_bounded(b'{"s": "\\"]]]"}', max_depth=1) == {"s": '"]]]'}
    tricky = ["\\", "\\\"[[[", {"k": "]]]\\"}]  # escaped backslashes next to quotes and brackets
    assert sandbox.loads_bounded(json.dumps(tricky), max_depth=2) == tricky
    for deep in ("[[[1]]]", json.dumps(["\\", [["\\"]]]), json.dumps([{"\\": [["]"]]}])):
        with pytest.raises(ValueError, match="deeper than 2"):
            sandbox.loads_bounded(deep, max_depth=2)


@pytest.mark.parametrize("text", [
    "[" * 200_000 + "]" * 200_000,
    '{"a": ' * 100_000 + "1" + "}" * 100_000,
    "[" * 200_000,  # not even closed
    '"\\"' + "[" * 200_000,  # inside a string that never ends: json.loads fails on the string itself
])
def test_loads_bounded_refuses_deep_nesting_with_a_value_error(text):
    with pytest.raises(ValueError):
        sandbox.loads_bounded(text, max_depth=100)


def test_loads_bounded_refuses_long_and_undecodable_text():
    with pytest.raises(ValueError, match="longer"):
        sandbox.loads_bounded(b'"' + b"x" * 100 + b'"', max_depth=1, max_len=50)
    with pytest.raises(ValueError):
        sandbox.loads_bounded(b'"\xff"', max_depth=1)


# --- replies r1cli cannot use ------------------------------------------------------------------

# A stand-in harness: reads its job, greets, then writes the Python expression put in for %s, and exits.
STAND_IN = """import json, sys
sys.stdin.buffer.read()
GREETING = json.dumps({"ready": "3"}) + "\\n"
FIRST = json.dumps({"i": 0, "status": "ok", "stdout": "3\\n", "stderr": "", "exit": 0, "time": 0.0}) + "\\n"
sys.stdout.buffer.write((GREETING + %s).encode("utf-8", "surrogateescape"))
"""
GARBLED = {
    "nested 200,000 deep": "'[' * 200000 + ']' * 200000 + '\\n'",
    "an object nested 100,000 deep": "'{\"a\": ' * 100000 + '1' + '}' * 100000 + '\\n'",
    "megabytes without a newline": "'x' * (3 << 20)",
    "megabytes of lines": "'garbage\\n' * (1 << 18)",
    "not JSON": "'{\"i\": 0, \\n'",
    "invalid UTF-8": "'\\udcff\\udcfe\\n'",
    "not an object": "'[0, \"ok\"]\\n'",
    "a field of the wrong type": "json.dumps({'i': 0, 'status': 'ok', 'stdout': 5}) + '\\n'",
    "an unknown status": "json.dumps({'i': 0, 'status': 'passed', 'stdout': '3\\n'}) + '\\n'",
    "a result out of order": "json.dumps({'i': 1, 'status': 'ok', 'stdout': '12\\n'}) + '\\n'",
    "a second greeting": "GREETING",
    "more results than cases": "FIRST + FIRST.replace('\"i\": 0', '\"i\": 1') + FIRST.replace('\"i\": 0', '\"i\": 2')",
}


@pytest.mark.parametrize("name", list(GARBLED))
def test_a_garbled_reply_fails_the_cases_it_did_not_answer(best, monkeypatch, name):
    monkeypatch.setattr(sandbox, "_HARNESS", STAND_IN % GARBLED[name])
    results = run_python("print(3)", [Case("1 2\n"), Case("5 7\n")], limits=QUICK, isolation=best)
    if name == "more results than cases":  # both results were fine; the third one is ignored
        assert [r.status for r in results] == ["ok", "ok"]
        return
    assert [(r.status, r.stderr) for r in results] == [("runtime_error", "the test harness sent garbled results")] * 2


def test_results_before_the_garbage_are_kept(best, monkeypatch):
    monkeypatch.setattr(sandbox, "_HARNESS", STAND_IN % "FIRST + '[' * 200000 + '\\n'")
    first, second = run_python("print(3)", [Case("1 2\n"), Case("5 7\n")], limits=QUICK, isolation=best)
    assert (first.status, first.stdout) == ("ok", "3\n") and second.status == "runtime_error"


def test_a_garbled_reply_scores_zero_and_the_batch_goes_on(best, monkeypatch):
    monkeypatch.setattr(sandbox, "_HARNESS", STAND_IN % "'[' * 200000 + ']' * 200000 + '\\n'")
    scores, statuses = score([answer(HONEST), "no code"], [ADD, ADD], best)
    assert scores == [0.0, 0.0] and statuses == ["runtime_error", "no_code"]


def test_a_sandbox_that_answers_before_greeting_is_a_sandbox_error(best, monkeypatch):
    monkeypatch.setattr(sandbox, "_HARNESS", "import sys\nsys.stdin.buffer.read()\nprint('[' * 200000)")
    with pytest.raises(sandbox.SandboxError):
        run_python("print(3)", [Case()], limits=QUICK, isolation=best)
    scores, statuses = score([answer(HONEST)], [ADD], best)
    assert scores == [None] and statuses == ["sandbox_error"]


# A function whose returned value reaches r1cli as JSON text nested 200,000 deep: the program
# replaces json.dumps, which the harness's child (the program's own process) uses to report it.
DEEP_VALUE = ("import json\n_dumps = json.dumps\n"
              "json.dumps = lambda v, *a, **k: _dumps(v, *a, **k) if isinstance(v, dict) else '[' * 200000 + ']' * 200000\n"
              "def add(a, b):\n    return a + b")
CALL = {"fn_name": "add", "inputs": [[1, 2], [5, 7]], "outputs": [3, 12]}


def test_a_deeply_nested_returned_value_is_wrong_not_a_crash(best):
    (result,) = run_python(DEEP_VALUE, [Case(call="add", args=[1, 2])], limits=Limits(timeout=2), isolation=best)
    assert result.status == "ok" and result.returned.startswith("[[[")
    with pytest.raises(ValueError, match="deeper"):
        result.value
    scores, statuses = score([answer(DEEP_VALUE), answer("def add(a, b):\n    return a + b")], [CALL, CALL], best)
    assert scores == [0.0, 1.0] and statuses == ["wrong", "passed"]


def test_r1cli_reward_scores_the_honest_records_next_to_a_hostile_one(best, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = {"task": "code", "prompt": "add", "finish_reason": "stop", "prompt_tokens": 1, "completion_tokens": 1, "tests": CALL}
    programs = ["def add(a, b):\n    return a + b", DEEP_VALUE, "def add(a, b):\n    return a - b"]
    write_jsonl(tmp_path / "s.jsonl", [{**base, "id": f"r{i}", "sample_index": 0, "completion": answer(p)} for i, p in enumerate(programs)])
    (tmp_path / "code.yaml").write_text(json.dumps({"rewards": {"code": {"isolation": best, "timeout": 2}}}))
    r = cli("reward", "s.jsonl", "-c", "code.yaml", "-o", "o.jsonl")
    assert r.code == 0, r
    rows = read_jsonl(tmp_path / "o.jsonl")
    assert [row["rewards"]["code"] for row in rows] == [1.0, 0.0, 0.0]
    assert [row["reward_info"]["code_status"] for row in rows] == ["passed", "wrong", "wrong"]


# --- programs that go after their harness ------------------------------------------------------

# Each attack runs in the first case, which the program then answers wrongly; the second case it
# answers right. If the attack reached the harness (killed, stopped or traced it), the second
# verdict would change: runtime_error or timeout instead of passed.
SIGNALS = [(sig, target) for sig in ("SIGINT", "SIGTERM", "SIGKILL", "SIGSTOP") for target in ("1", "os.getppid()")]
ATTACKS = {
    **{f"{sig} to {target}": f"import os, signal, time\nos.kill({target}, signal.{sig})\ntime.sleep(0.2)" for sig, target in SIGNALS},
    "ptrace": ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]\n"
               "libc.ptrace(16, os.getppid(), None, None)  # PTRACE_ATTACH: a traced harness stays stopped"),
    "reads /proc/1/mem": ("import os\nfor pid in {1, os.getppid()}:\n"
                          "    try:\n        open('/proc/%d/mem' % pid, 'rb').read(1)\n    except OSError:\n        pass"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_on_the_harness_changes_no_other_verdict(bwrap, name):
    attacker = "line = input()\nif line == '1 2':\n" + "".join(f"    {row}\n" for row in ATTACKS[name].splitlines()) + \
               "    print(0)\nelse:\n    print(sum(map(int, line.split())))"
    scores, statuses = score([answer(attacker), answer(HONEST)], [ADD, ADD], bwrap, timeout=2)
    assert scores == [0.5, 1.0] and statuses == ["wrong", "passed"]


# What the harness's own process offers, tried directly: each line says whether the kernel refused.
PROBES = r'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.process_vm_readv.restype = ctypes.c_ssize_t
harness = os.getppid()
def outcome(name, ok):
    print(name, "WORKED" if ok else "refused")
outcome("ptrace", libc.ptrace(16, harness, None, None) == 0)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(8)
here = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
there = iovec(id(None), 8)  # the harness's copy of None: we are its fork, the address is the same
outcome("process_vm_readv", libc.process_vm_readv(harness, ctypes.byref(here), 1, ctypes.byref(there), 1, 0) == 8)
try:
    with open("/proc/%d/mem" % harness, "rb") as f:
        f.seek(id(None))
        outcome("/proc/mem", len(f.read(8)) == 8)
except OSError:
    outcome("/proc/mem", False)
pidfd = os.pidfd_open(harness)
outcome("pidfd_getfd", any(libc.syscall(438, pidfd, fd, 0) >= 0 for fd in range(3, 16)))  # the harness's reply pipe
'''


@pytest.mark.parametrize("isolation", ["bwrap", "unshare", "limits"])
def test_the_harness_cannot_be_traced_or_read(isolation):
    # These only touch the program's own harness, so the weaker tiers are safe to try them in.
    if not tiers(isolation):
        pytest.skip(f"isolation={isolation} does not work here")
    (result,) = run_python(PROBES, [Case()], limits=QUICK, isolation=isolation)
    assert result.status == "ok", result
    assert result.stdout.split("\n")[:-1] == [f"{name} refused" for name in ("ptrace", "process_vm_readv", "/proc/mem", "pidfd_getfd")]


# The attack the shielding stops: take the harness's reply pipe and write a forged result.
FORGER = r'''
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(os.getppid())
forged = json.dumps({"i": 1, "status": "ok", "stdout": "12\n", "stderr": "", "exit": 0, "time": 0.0}) + "\n"
for fd in range(3, 16):
    stolen = libc.syscall(438, pidfd, fd, 0)
    if stolen >= 0:
        try:
            os.write(stolen, forged.encode() + b"[" * 200000 + b"\n")
        except OSError:
            pass
print(0)
'''


def test_a_program_cannot_forge_results(bwrap):
    scores, statuses = score([answer(FORGER), answer(HONEST)], [ADD, ADD], bwrap)
    assert scores == [0.0, 1.0] and statuses == ["wrong", "passed"]
