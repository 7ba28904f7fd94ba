"""The deadline pool: order, deadlines, crashes, threads, interrupted calls.

The functions below run inside the workers, which import this module by name, so they live at
module level. Deadlines are short and slack generous: the test machines are shared.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time

import pytest

from r1cli import pool
from r1cli.errors import R1Error, RunError

SLACK_S = 3.0  # killing and restarting a worker on a busy 2-core machine


def work(item):
    """Worker-side behaviour chosen by the item."""
    if item == "hang":
        while True:
            pass
    if item == "sleep":
        time.sleep(3600)
    if item == "segfault":
        ctypes.string_at(0)
    if item == "exit":
        os._exit(3)
    if item == "memory":
        return bytearray(1 << 40)  # far above the workers' address-space cap
    if item == "raise":
        raise ValueError("boom")
    if item == "unpicklable":
        return threading.Lock()
    if isinstance(item, tuple) and item[0] == "nap":
        time.sleep(item[1])
        return item[1]
    return item * 2


def worker_pid(_item):
    return os.getpid()


@pytest.fixture
def own_pool():
    p = pool.DeadlinePool(2, preload=[__name__])
    yield p
    p.close()


def test_order_is_preserved_with_uneven_work(own_pool):
    items = [("nap", 0.02 * (i % 3)) if i % 5 == 0 else i for i in range(60)]
    expected = [work(i) for i in items]
    assert own_pool.map(work, items, deadline_s=10) == expected


def test_empty_input():
    assert pool.map_with_deadline(work, [], deadline_s=1) == []


def test_stuck_item_is_killed_within_deadline_and_worker_replaced(own_pool):
    own_pool.map(work, [1, 2], deadline_s=10)  # warm: the deadline should not pay for start-up
    before = set(own_pool.pids())
    t0 = time.monotonic()
    out = own_pool.map(work, [1, "hang", 2, 3], deadline_s=0.5, on_timeout="timeout")
    elapsed = time.monotonic() - t0
    assert out == [2, "timeout", 4, 6]
    assert elapsed < 0.5 + SLACK_S
    assert own_pool.replaced == 1
    assert len(set(own_pool.pids()) - before) == 1
    # The replacement works.
    assert own_pool.map(work, list(range(10)), deadline_s=10) == [2 * i for i in range(10)]


def test_items_behind_a_stuck_one_are_redispatched(own_pool):
    # One batch holds many items; the stuck one is first, so the rest were never started.
    items = ["sleep"] + list(range(40)) + ["sleep"]
    out = own_pool.map(work, items, deadline_s=0.5, on_timeout=None)
    assert out == [None] + [2 * i for i in range(40)] + [None]


@pytest.mark.parametrize("bad", ["segfault", "exit", "memory", "raise", "unpicklable"])
def test_crash_or_error_gives_the_error_value(own_pool, bad):
    out = own_pool.map(work, [1, bad, 2], deadline_s=10, on_timeout="timeout", on_error="error")
    assert out == [2, "error", 4]
    assert own_pool.map(work, [5], deadline_s=10) == [10]


def test_on_error_defaults_to_on_timeout():
    assert pool.map_with_deadline(work, ["raise", 1], deadline_s=10, on_timeout=0.0) == [0.0, 2]


def test_workers_are_persistent_across_calls():
    first = set(pool.map_with_deadline(worker_pid, range(16), deadline_s=10))
    second = set(pool.map_with_deadline(worker_pid, range(16), deadline_s=10))
    assert first <= set(pool.get_pool().pids()) and second <= set(pool.get_pool().pids())
    assert os.getpid() not in first


def test_called_from_a_thread():
    out: list = []
    errors: list = []

    def run():
        try:
            out.append(pool.map_with_deadline(work, [1, "hang", 3], deadline_s=0.5, on_timeout=-1))
        except BaseException as e:  # surfaced below
            errors.append(e)

    t0 = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and not errors
    assert out == [[2, -1, 6]]
    assert time.monotonic() - t0 < 0.5 + SLACK_S + 2.0  # may include the pool's first start


def test_concurrent_callers_each_get_their_own_results():
    results: dict[int, list] = {}

    def run(k):
        results[k] = pool.map_with_deadline(work, [k * 100 + i for i in range(30)], deadline_s=10)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {k: [2 * (k * 100 + i) for i in range(30)] for k in range(3)}


def test_progress_hook_counts_to_total():
    seen: list[tuple[int, int]] = []
    pool.map_with_deadline(work, range(50), deadline_s=10, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (50, 50)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_interrupted_call_leaves_no_stale_results(own_pool):
    def explode(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        own_pool.map(work, [("nap", 0.2)] * 6, deadline_s=10, progress=explode)
    assert own_pool.map(work, list(range(8)), deadline_s=10) == [2 * i for i in range(8)]


def test_lambda_is_refused():
    with pytest.raises(TypeError, match="module-level function"):
        pool.map_with_deadline(lambda x: x, [1], deadline_s=1)


def test_deadline_must_be_positive():
    with pytest.raises(ValueError):
        pool.map_with_deadline(work, [1], deadline_s=0)


def test_worker_count_from_environment(monkeypatch):
    monkeypatch.setenv("R1CLI_WORKERS", "3")
    assert pool.default_workers() == 3
    monkeypatch.setenv("R1CLI_WORKERS", "many")
    with pytest.raises(R1Error, match="R1CLI_WORKERS"):
        pool.default_workers()
    monkeypatch.delenv("R1CLI_WORKERS")
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    cpus = len(os.sched_getaffinity(0))
    assert pool.default_workers() == cpus
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(2 * cpus))  # more ranks than CPUs: still one each
    assert pool.default_workers() == 1


def test_zero_workers_runs_in_process(monkeypatch):
    monkeypatch.setenv("R1CLI_WORKERS", "0")
    assert pool.map_with_deadline(worker_pid, [1, 2], deadline_s=1) == [os.getpid()] * 2
    assert pool.map_with_deadline(work, [1, "raise"], deadline_s=1, on_error="e") == [2, "e"]


def test_function_from_main_is_refused():
    def f(x):
        return x

    f.__module__ = "__main__"
    with pytest.raises(TypeError, match="__main__"):
        pool.map_with_deadline(f, [1], deadline_s=1)


class _BrokenPool(pool.DeadlinePool):
    """Workers that exit before they report ready (a broken install, a bad preload)."""

    def _spawn(self):
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=os._exit, args=(7,), daemon=True, name="r1cli-check")
        process.start()
        child_conn.close()
        return pool._Worker(process, parent_conn, time.monotonic())


def test_workers_that_cannot_start_raise_instead_of_looping():
    p = _BrokenPool(2)
    try:
        t0 = time.monotonic()
        with pytest.raises(RunError, match="start-up"):
            p.map(work, [1, 2], deadline_s=1)
        assert time.monotonic() - t0 < 30
    finally:
        p.close()


def loaded_modules(_item):
    import sys

    return sorted(m for m in ("torch", "transformers", "trl", "pytest") if m in sys.modules)


def test_workers_stay_light():
    # Forkserver children never inherit the parent's torch, and they do not re-run its
    # __main__ (here pytest's), so only what the mapped function's module imports is there.
    assert pool.map_with_deadline(loaded_modules, [0], deadline_s=30) == [["pytest"]]  # this test module imports pytest


def forkserver_flag(_item):
    return pool.in_forkserver_preload()


def test_in_forkserver_preload_is_false_outside_the_forkserver():
    assert pool.in_forkserver_preload() is False
    assert pool.map_with_deadline(forkserver_flag, [0, 1], deadline_s=30) == [False, False]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_workers_die_with_a_killed_parent():
    # SIGKILL skips all clean-up; a worker stuck in a computation must still not outlive it.
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    script = (
        "import os, signal, sys, threading, time\n"
        f"sys.path[:0] = [{str(here.parent / 'src')!r}, {str(here)!r}]\n"
        "from r1cli import pool\n"
        "import test_pool\n"
        "pool.map_with_deadline(test_pool.work, [1, 2], deadline_s=30, workers=2)\n"
        "print(*pool.get_pool(2).pids(), flush=True)\n"
        "threading.Thread(target=pool.map_with_deadline, args=(test_pool.work, ['hang', 'hang'], 600), daemon=True).start()\n"
        "time.sleep(1.0)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2, proc.stderr
    deadline = time.monotonic() + 10
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if _running(p)]
    for p in alive:  # do not leave them spinning if the assertion fails
        os.kill(p, 9)
    assert not alive


def test_function_the_workers_cannot_import_is_an_error(tmp_path, monkeypatch):
    # A module imported here whose file is gone by the time the workers look for it.
    (tmp_path / "only_here.py").write_text("def f(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_here

    (tmp_path / "only_here.py").unlink()
    p = pool.DeadlinePool(1, preload=[__name__])
    try:
        with pytest.raises(RunError, match="cannot load"):
            p.map(only_here.f, [1, 2], deadline_s=30)
        assert p.map(work, [3], deadline_s=30) == [6]  # the pool is still usable
    finally:
        p.close()
