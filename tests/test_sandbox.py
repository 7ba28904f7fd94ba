"""The sandbox: tiers, normal runs, and hostile programs that must stay contained.

Hostile programs run only under a tier that was probed and works; the bubblewrap ones skip (with
the probe's reason) where bubblewrap is absent. Every hostile test checks the run's status and
that it ended within its deadline plus a little slack. Nothing a test program targets is outside
the test's own temporary folders, so a containment failure fails the test without harming the host.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest

from r1cli import sandbox
from r1cli.errors import R1Error
from r1cli.sandbox import Case, Limits, SandboxUnavailable, run_python

QUICK = Limits(timeout=0.5, max_output_bytes=1 << 16, memory_mb=256)
SLACK = 2.0  # seconds on top of a run's own deadline: process start-up and teardown on a loaded 2-core CI


def deadline(limits: Limits, cases: int = 1) -> float:
    return cases * (limits.timeout + sandbox.CASE_SLACK_S) + 1.0 + SLACK


def available(isolation: str) -> str | None:
    try:
        sandbox.probe(isolation)
        return None
    except SandboxUnavailable as e:
        return str(e)


@pytest.fixture(scope="module")
def bwrap() -> str:
    why = available("bwrap")
    if why:
        pytest.skip(f"bubblewrap does not work here: {why}")
    return "bwrap"


@pytest.fixture(scope="module")
def best() -> str:
    """The strongest tier that works here, for benign programs."""
    for isolation in ("bwrap", "unshare", "limits"):
        if available(isolation) is None:
            return isolation
    pytest.fail("no sandbox tier works, not even limits")


def run1(code: str, isolation: str, stdin: str = "", limits: Limits = QUICK) -> tuple[sandbox.CaseResult, float]:
    t0 = time.monotonic()
    (result,) = run_python(code, [Case(stdin=stdin)], limits=limits, isolation=isolation)
    return result, time.monotonic() - t0


def survivors(token: str) -> list[int]:
    """Processes whose command line contains `token`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if token.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


# --- configuration and tiers -----------------------------------------------------------------


def test_limits_are_validated_with_the_field_named():
    with pytest.raises(R1Error, match="timeout"):
        Limits(timeout=0)
    with pytest.raises(R1Error, match="memory_mb"):
        Limits(memory_mb=1)


def test_unknown_isolation_lists_the_valid_ones():
    with pytest.raises(R1Error, match="auto, bwrap, unshare, limits"):
        sandbox.probe("docker")


def test_auto_without_bubblewrap_fails_with_one_line_saying_how_to_install(monkeypatch):
    monkeypatch.setattr(sandbox, "_probed", {})
    real_which = sandbox.shutil.which
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real_which(name, *a, **k))
    with pytest.raises(SandboxUnavailable) as info:
        sandbox.probe("auto")
    message = str(info.value)
    assert "\n" not in message
    assert "apt-get install bubblewrap" in message
    assert "isolation: limits" in message and "UNSAFE" in message


@pytest.mark.parametrize("prefix, ok", [("/usr", True), ("/opt/conda", True), ("/", False), ("/root", False), ("/home", False)])
def test_interpreter_folder_is_mounted_only_when_safe(monkeypatch, prefix, ok):
    import subprocess

    fake = subprocess.CompletedProcess([], 0, stdout=f"{prefix}\n{prefix}\n", stderr="")
    monkeypatch.setattr(sandbox.subprocess, "run", lambda *a, **k: fake)
    monkeypatch.setattr(sandbox.os.path, "realpath", lambda p: p)
    binds = sandbox._python_binds(f"{prefix.rstrip('/')}/bin/python3")
    if ok:
        assert binds == (() if prefix == "/usr" else (prefix,))
    else:
        assert isinstance(binds, SandboxUnavailable) and "python" in str(binds)


def test_weaker_tiers_say_unsafe(monkeypatch):
    tier = sandbox.probe("limits")
    assert tier.unsafe and "UNSAFE" in tier.label and "UNSAFE" in sandbox.describe("limits")
    monkeypatch.setattr(sandbox, "_used", None)  # as in a fresh process: no run yet
    assert sandbox.isolation_in_use() is None
    run_python("pass", [Case()], isolation="limits")
    assert sandbox.isolation_in_use() == tier.as_dict() and tier.as_dict()["isolation"] == "limits (UNSAFE)"


def test_bwrap_tier_is_the_default_and_is_recorded(bwrap):
    assert sandbox.probe("auto").name == "bwrap"
    assert not sandbox.probe("auto").unsafe
    run_python("pass", [Case()], isolation="auto")
    used = sandbox.isolation_in_use()
    assert used["isolation"] == "bwrap" and used["unsafe"] is False and used["python"]


# --- normal programs ---------------------------------------------------------------------------


def test_stdin_stdout_stderr_and_exit_codes(best):
    code = "import sys\nline = input()\nif line == 'exit3': sys.exit(3)\nif line == 'exit0': exit(0)\nprint(int(line) * 2)\nprint('note', file=sys.stderr)"
    cases = [Case("21\n"), Case("x\n"), Case("exit3\n"), Case("exit0\n"), Case("")]
    results = run_python(code, cases, limits=Limits(timeout=5), isolation=best)
    assert [r.status for r in results] == ["ok", "runtime_error", "runtime_error", "ok", "runtime_error"]
    assert results[0].stdout == "42\n" and results[0].stderr == "note\n" and results[0].exit_code == 0
    assert "ValueError" in results[1].stderr and "harness" not in results[1].stderr
    assert results[2].exit_code == 3
    assert "EOFError" in results[4].stderr  # stdin is closed after the input: no waiting forever


def test_large_stdin_is_fed_whole(best):
    data = "".join(f"{i}\n" for i in range(200_000))  # ~1.3 MB, far beyond a pipe buffer
    result, _ = run1("import sys\nprint(sum(map(int, sys.stdin.read().split())))", best, stdin=data, limits=Limits(timeout=10))
    assert result.status == "ok" and result.stdout == f"{sum(range(200_000))}\n"


def test_exit_waits_for_threads_and_runs_atexit(best):
    code = ("import atexit, threading\natexit.register(lambda: print('atexit'))\n"
            "threading.Thread(target=lambda: print('thread')).start()")
    result, _ = run1(code, best, limits=Limits(timeout=5))
    assert result.status == "ok" and sorted(result.stdout.split()) == ["atexit", "thread"]


def test_function_calls_return_json(best):
    code = ("def add(a, b):\n    return a + b\n"
            "class Solution:\n    def pair(self, x):\n        return (x, [x])\n"
            "def odd():\n    return {1, 2}\n"
            "if __name__ == '__main__':\n    raise SystemExit('must not run in call mode')\n")
    cases = [Case(call="add", args=[1, 2]), Case(call="pair", args=["a"]), Case(call="Solution.pair", args=[1]),
             Case(call="odd"), Case(call="missing")]
    results = run_python(code, cases, limits=Limits(timeout=5), isolation=best)
    assert [r.status for r in results[:4]] == ["ok"] * 4
    assert [r.value for r in results[:3]] == [3, ["a", ["a"]], [1, [1]]]
    assert results[3].returned is None and "not JSON" in results[3].stderr
    assert results[4].status == "runtime_error"


def test_syntax_error_fails_every_case(best):
    results = run_python("def f(:\n", [Case(), Case()], isolation=best)
    assert [r.status for r in results] == ["runtime_error"] * 2 and "SyntaxError" in results[0].stderr


def test_keep_going_stops_the_run(best):
    seen = []
    results = run_python("print(input())", [Case("1\n"), Case("2\n"), Case("3\n")], isolation=best,
                         keep_going=lambda i, r: seen.append(i) or False)
    assert seen == [0] and [r.status for r in results] == ["ok", "skipped", "skipped"]


# --- hostile programs under bubblewrap ---------------------------------------------------------

HOSTILE = {
    "infinite loop": ("while True: pass", "timeout"),
    "ignores SIGTERM": ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: pass", "timeout"),
    "slow drip": ("import sys, time\nwhile True:\n    sys.stdout.write('x'); sys.stdout.flush(); time.sleep(0.1)", "timeout"),
    "100 MB of output": ("import sys\nfor _ in range(1600): sys.stdout.write('x' * 65536)", "output_limit"),
    "stderr flood": ("import sys\nwhile True: sys.stderr.write('x' * 65536)", "output_limit"),
    "memory bomb": ("x = []\nwhile True: x.append(b' ' * 10**8)", "memory"),
    "huge file": ("with open('big', 'wb') as f:\n    for _ in range(1024): f.write(b'x' * 2**20)", "runtime_error"),
    "fills /dev/shm": ("with open('/dev/shm/big', 'wb') as f:\n    for _ in range(1024): f.write(b'x' * 2**20)", "runtime_error"),
    "reads stdin forever": ("import sys\nwhile True:\n    if not sys.stdin.read(): input()", "runtime_error"),
}
SIGNAL_HARNESS = "import os, signal\nos.kill(os.getppid(), signal.%s)\nprint('after')"
STOP_HARNESS, KILL_HARNESS = SIGNAL_HARNESS % "SIGSTOP", SIGNAL_HARNESS % "SIGKILL"


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_is_stopped_in_time(bwrap, name):
    code, status = HOSTILE[name]
    result, seconds = run1(code, bwrap)
    assert result.status == status, result
    assert seconds < deadline(QUICK)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGSTOP", "SIGKILL"])
def test_program_cannot_signal_the_harness(bwrap, sig):
    # The harness is the pid namespace's init, which the kernel shields from SIGKILL and SIGSTOP but
    # not from signals it handles (Python handles SIGINT), so it ignores every other signal itself.
    t0 = time.monotonic()
    results = run_python(SIGNAL_HARNESS % sig, [Case(), Case()], limits=QUICK, isolation=bwrap)
    assert [(r.status, r.stdout) for r in results] == [("ok", "after\n")] * 2
    assert time.monotonic() - t0 < deadline(QUICK, 2)


def test_fork_bomb_is_contained_and_the_next_case_runs(bwrap):
    code = ("import os\nif input() == 'bomb':\n    while True:\n        try: os.fork()\n        except OSError: pass\n"
            "else:\n    print('calm')")
    limits = Limits(timeout=0.5, processes=16)
    t0 = time.monotonic()
    bomb, calm = run_python(code, [Case("bomb\n"), Case("calm\n")], limits=limits, isolation=bwrap)
    assert bomb.status in ("timeout", "runtime_error")
    assert calm.status == "ok" and calm.stdout == "calm\n"  # the bomb's processes are gone before the next case
    assert time.monotonic() - t0 < deadline(limits, 2)


def test_process_limit_holds(bwrap):
    code = ("import os, time\nn = 0\nfor _ in range(100):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
            "    if pid == 0:\n        time.sleep(5); os._exit(0)\n    n += 1\nprint(n)")
    result, seconds = run1(code, bwrap, limits=Limits(timeout=2, processes=8))
    assert result.status == "ok" and int(result.stdout) == 7  # 8 processes: the program itself and 7 children
    assert seconds < 2


def test_escaped_processes_do_not_survive(bwrap):
    token = f"r1cli-escape-{uuid.uuid4().hex}"
    code = (f"import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', '{token}'])\n"
            f"    os._exit(0)\ntime.sleep(0.3)\nprint('left a child behind')")
    result, seconds = run1(code, bwrap, limits=Limits(timeout=2))
    assert result.status == "ok"
    assert survivors(token) == []
    assert seconds < 2 + SLACK


def test_no_network(bwrap):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    code = ("import socket\nfor host in [('127.0.0.1', %d), ('1.1.1.1', 53)]:\n    try:\n"
            "        socket.create_connection(host, timeout=1); print('CONNECTED', host)\n"
            "    except OSError as e:\n        print('blocked', e.errno)") % port
    try:
        result, _ = run1(code, bwrap, limits=Limits(timeout=5))
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    assert result.status == "ok" and "CONNECTED" not in result.stdout and result.stdout.count("blocked") == 2


def test_environment_and_home_are_not_visible(bwrap, tmp_path, monkeypatch):
    secret = f"s3cret-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    home.mkdir()
    canary = home / "canary.txt"
    canary.write_text(secret)
    monkeypatch.setenv("R1CLI_TEST_SECRET", secret)
    monkeypatch.setenv("HOME", str(home))
    code = (f"import os\nprint(dict(os.environ))\nfor p in [{str(canary)!r}, os.path.expanduser('~/canary.txt'), '/root/.bashrc']:\n"
            f"    try:\n        print(open(p).read())\n    except OSError as e:\n        print('unreadable', p)")
    result, _ = run1(code, bwrap, limits=Limits(timeout=5))
    assert result.status == "ok"
    assert secret not in result.stdout and "R1CLI_TEST_SECRET" not in result.stdout
    assert result.stdout.count("unreadable") == 3


def test_files_outside_the_sandbox_survive(bwrap, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    code = (f"import os, shutil\nfor f in (lambda: os.remove({str(canary)!r}), lambda: shutil.rmtree({str(tmp_path)!r}),\n"
            f"          lambda: open('/usr/r1cli-sandbox-probe', 'w')):\n"
            f"    try:\n        f(); print('DID IT')\n    except OSError as e:\n        print('refused', e.errno)")
    result, _ = run1(code, bwrap, limits=Limits(timeout=5))
    assert canary.read_text() == "still here"
    assert not os.path.exists("/usr/r1cli-sandbox-probe")
    assert result.status == "ok" and "DID IT" not in result.stdout


# --- the weaker tiers still enforce limits and deadlines ---------------------------------------

WEAK_HOSTILE = ["infinite loop", "ignores SIGTERM", "100 MB of output", "memory bomb"]


@pytest.mark.parametrize("isolation", ["unshare", "limits"])
def test_weaker_tiers_contain_runaway_programs(isolation):
    why = available(isolation)
    if why:
        pytest.skip(why)
    for name in WEAK_HOSTILE:
        code, status = HOSTILE[name]
        result, seconds = run1(code, isolation)
        assert result.status == status, (name, result)
        assert seconds < deadline(QUICK), name
    token = f"r1cli-escape-{uuid.uuid4().hex}"
    code = (f"import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', '{token}'])\n"
            f"    os._exit(0)\ntime.sleep(0.3)")
    result, _ = run1(code, isolation, limits=Limits(timeout=2))
    assert result.status == "ok" and survivors(token) == []
    bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"
    result, seconds = run1(bomb, isolation, limits=Limits(timeout=0.5, processes=16))
    assert result.status in ("timeout", "runtime_error") and seconds < deadline(QUICK)


def test_overall_deadline_backs_up_a_stopped_harness():
    # Only the `limits` tier lets a program signal its harness; r1cli's own deadline still ends the run.
    limits = QUICK
    t0 = time.monotonic()
    results = run_python(STOP_HARNESS, [Case(), Case()], limits=limits, isolation="limits")
    assert [r.status for r in results] == ["timeout", "timeout"]
    assert limits.timeout < time.monotonic() - t0 < deadline(limits, 2)
    results = run_python(KILL_HARNESS, [Case(), Case()], limits=limits, isolation="limits")
    assert [r.status for r in results] == ["runtime_error", "runtime_error"]
