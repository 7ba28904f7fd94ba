"""Worker processes with a hard per-item deadline, for checks that may never finish.

Checking a model's math answer means handing its text to sympy (through math-verify), and
model text can be adversarial by accident: `9^{9^{9^9}}`, a million digits, a thousand nested
brackets. Such a check can run for hours or eat all memory, and it must not stall a GRPO step or
an eval. math-verify's own timeouts use SIGALRM, which only works on the main thread (TRL may
call a reward from anywhere) and cannot interrupt long C-level arithmetic anyway. So the checks
run in worker processes, and the parent kills (SIGKILL) a worker whose current item has run
past its deadline, gives that item the `on_timeout` value and starts a replacement.

    from r1cli.pool import map_with_deadline
    scores = map_with_deadline(check, [(gold, pred), ...], deadline_s=5.0, on_timeout=0.0)

Design
    - Workers are started with the "forkserver" method: the parent may have torch and CUDA
      loaded, and a forked copy of that is heavy and unsafe. The forkserver preloads this module
      and the module of the first function mapped (e.g. math-verify via the accuracy reward), so
      a replacement worker is a cheap fork of an already-warm process.
    - One pool per process, created on first use, workers kept and reused across calls, shut
      down at interpreter exit. Size: the `workers` argument, else `R1CLI_WORKERS`, else the
      number of CPUs this process may run on (divided among the ranks on this host under
      torchrun / accelerate, by `LOCAL_WORLD_SIZE`). `R1CLI_WORKERS=0` runs everything in-process
      with no deadline at all (for debugging with pdb only).
    - Items go out in small batches (fewer round trips) but results come back one by one, so
      the parent always knows which item a worker is on and since when: a stuck item costs its
      own deadline and nothing more. Unstarted items of a killed worker are sent out again.
    - No in-process fast path for small inputs. A deadline cannot be enforced in-process
      (signals fail off the main thread and cannot interrupt a huge integer power in C), and a
      warm pool answers a handful of items in a millisecond or two; only the first call in a
      process pays the start-up (about a second, mostly importing sympy once in the forkserver).
    - `fn` must be a module-level function of an importable module, not of `__main__`: workers
      do not re-run the parent's script, as multiprocessing otherwise does (a training script
      importing torch at the top would make every worker import torch too).
    - A worker that dies (segfault, the kernel's OOM killer) costs only its current item, which
      gets `on_error`; an exception raised by `fn` does too. Workers cap their address space
      (`R1CLI_WORKER_MEMORY_MB`, default 4096) so a runaway allocation fails with MemoryError
      inside the worker instead of swapping the host.

Deadlines are wall-clock time measured by the parent. On an oversubscribed host a legitimate
item can run out of time; pick deadlines with room to spare (the rewards default to seconds
for work that normally takes milliseconds).
"""

from __future__ import annotations

import atexit
import collections
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from r1cli.errors import R1Error, RunError

ProgressHook = Callable[[int, int], None]

_SAME = object()  # on_error defaults to on_timeout
_START_TIMEOUT_S = 60.0  # a fresh worker must report ready within this (cold imports, busy host)
_MAX_START_FAILURES = 3  # consecutive failed starts before giving up instead of looping forever
_MAX_BATCH = 32
_DEFAULT_MEMORY_MB = 4096


def default_workers() -> int:
    """`R1CLI_WORKERS` if set, else this process's share of the CPUs it may use.

    The share: usable CPUs divided by `LOCAL_WORLD_SIZE` (set by torchrun and accelerate), so
    eight training ranks on one host do not start eight full-size pools.
    """
    text = os.environ.get("R1CLI_WORKERS", "").strip()
    if text:
        try:
            n = int(text)
        except ValueError:
            raise R1Error(f"R1CLI_WORKERS={text!r} is not an integer; set it to the number of checking processes (0 = in-process)") from None
        if n < 0:
            raise R1Error(f"R1CLI_WORKERS={n} must be 0 or more")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        ranks = 1
    return max(1, cpus // ranks)


def _memory_limit_mb() -> int:
    text = os.environ.get("R1CLI_WORKER_MEMORY_MB", "").strip()
    try:
        return int(text) if text else _DEFAULT_MEMORY_MB
    except ValueError:
        raise R1Error(f"R1CLI_WORKER_MEMORY_MB={text!r} is not an integer (megabytes; 0 = no limit)") from None


# --- worker side -------------------------------------------------------------------------

_WORKER_NAME = "r1cli-check"


def in_forkserver_preload() -> bool:
    """True while the forkserver imports its preload modules (not in the workers it forks).

    A preloaded module can do one-time warm-up work there, and every worker inherits it.
    """
    forkserver = sys.modules.get("multiprocessing.forkserver")
    spawn = sys.modules.get("multiprocessing.spawn")
    server_main = getattr(forkserver, "main", None)
    child_main = getattr(spawn, "_main", None)
    if server_main is None:
        return False
    found = False
    frame = sys._getframe(1)
    while frame is not None:
        if child_main is not None and frame.f_code is child_main.__code__:
            return False  # a forked worker: forkserver.main is still on its copied stack
        found = found or frame.f_code is server_main.__code__
        frame = frame.f_back
    return found


def _skip_main_module_in_workers() -> None:
    """Keep our workers from re-running the parent's `__main__` script.

    multiprocessing re-imports the parent's main script (as `__mp_main__`) in every child it
    starts, so that functions defined there can be unpickled. Our workers only run functions
    from importable modules, and a training script that imports torch at the top would make
    every worker (and every replacement) import torch too. This runs inside the forkserver
    while it preloads this module, and only affects processes named like our workers.
    """
    from multiprocessing import process, spawn

    by_path = getattr(spawn, "_fixup_main_from_path", None)
    by_name = getattr(spawn, "_fixup_main_from_name", None)
    if by_path is None or by_name is None:  # a Python that does this differently: keep its way
        return

    def skip_for_workers(original):
        def fixup(arg):
            if not process.current_process().name.startswith(_WORKER_NAME):
                original(arg)

        return fixup

    spawn._fixup_main_from_path = skip_for_workers(by_path)
    spawn._fixup_main_from_name = skip_for_workers(by_name)


if in_forkserver_preload():
    _skip_main_module_in_workers()


def _die_with_parent() -> None:
    """Make sure a worker stuck in C code does not outlive a parent killed without clean-up.

    A worker's parent is the forkserver, which exits once nobody holds the write end of its
    "alive" pipe: the main process, and every child it forked, which inherits a copy so that
    it could start processes of its own. Workers start none, so they close theirs; then the
    forkserver goes with the main process, and PR_SET_PDEATHSIG has the kernel SIGKILL the
    workers, even mid-computation with the GIL held.
    """
    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver
        if server._forkserver_alive_fd is not None:
            os.close(server._forkserver_alive_fd)
            server._forkserver_alive_fd = None
    except (AttributeError, OSError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _limit_memory(memory_mb: int) -> None:
    if memory_mb <= 0:
        return
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def _worker_main(conn: multiprocessing.connection.Connection, memory_mb: int) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent decides what to do.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _limit_memory(memory_mb)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn_bytes, batch = message
        try:
            fn = pickle.loads(fn_bytes)
        except BaseException as e:  # its module does not import here: the caller's mistake
            conn.send(("no_function", _describe(e)))
            continue
        for index, item in batch:
            try:
                result = (index, True, fn(item))
            except BaseException as e:  # MemoryError and RecursionError included
                result = (index, False, _describe(e))
            try:
                conn.send(result)
            except (pickle.PicklingError, TypeError, AttributeError) as e:
                conn.send((index, False, f"result not picklable: {_describe(e)}"))


def _describe(e: BaseException) -> str:
    try:
        text = str(e)
    except BaseException:
        text = ""
    return f"{type(e).__name__}: {text[:200]}"


# --- parent side -------------------------------------------------------------------------


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    spawned: float
    ready: bool = False
    queue: collections.deque = field(default_factory=collections.deque)  # sent, not yet answered
    started: float = 0.0  # when the item at queue[0] began, on the parent's clock


class DeadlinePool:
    """A fixed number of persistent worker processes; see the module docstring.

    Use the module-level `map_with_deadline` unless you need a pool of your own.
    """

    def __init__(self, workers: int | None = None, *, preload: Sequence[str] = ()):
        self.size = default_workers() if workers is None else workers
        if self.size < 1:
            raise ValueError("a DeadlinePool needs at least one worker")
        self.preload = ["r1cli.pool", *[m for m in preload if m != "r1cli.pool"]]
        self.memory_mb = _memory_limit_mb()
        self.replaced = 0  # workers killed or lost and started again, for tests and logs
        self._ctx = multiprocessing.get_context("forkserver")
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    # lifecycle

    def _spawn(self) -> _Worker:
        # The preload list is global to the forkserver and only read when it starts; setting it
        # again later is harmless.
        self._ctx.set_forkserver_preload(self.preload)
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, args=(child_conn, self.memory_mb), daemon=True, name=_WORKER_NAME)
        process.start()
        child_conn.close()
        return _Worker(process, parent_conn, time.monotonic())

    def _ensure_workers(self) -> None:
        if self._closed:
            raise RunError("the checking pool was shut down")
        while len(self._workers) < self.size:
            self._workers.append(self._spawn())

    def _retire(self, worker: _Worker) -> None:
        try:
            if worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGKILL)
        except (ProcessLookupError, OSError, ValueError):
            pass
        worker.process.join(timeout=5)
        worker.conn.close()

    def _replace(self, worker: _Worker) -> _Worker:
        self._retire(worker)
        self.replaced += 1
        fresh = self._spawn()
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def close(self) -> None:
        """Stop every worker (politely, then with SIGKILL)."""
        # A daemon thread may be inside `map` at interpreter exit and never let go of the
        # lock; the workers are stopped all the same.
        locked = self._lock.acquire(timeout=5.0)
        try:
            self._closed = True
            if os.getpid() != self._pid:
                return  # inherited through fork: the workers belong to the parent
            workers = list(self._workers)
            for w in workers:
                if not w.queue:
                    try:
                        w.conn.send(None)
                    except (OSError, ValueError):
                        pass
            deadline = time.monotonic() + 1.0
            for w in workers:
                if not w.queue:
                    w.process.join(timeout=max(0.0, deadline - time.monotonic()))
                self._retire(w)
            self._workers.clear()
        finally:
            if locked:
                self._lock.release()

    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [w.process.pid for w in self._workers]

    # work

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        deadline_s: float,
        *,
        on_timeout: Any = None,
        on_error: Any = _SAME,
        progress: ProgressHook | None = None,
    ) -> list[Any]:
        """`[fn(item) for item in items]`, in order, each call cut off after `deadline_s` seconds.

        A call that runs out of time yields `on_timeout`; one that raises, or whose worker dies,
        yields `on_error` (default: the same as `on_timeout`). `fn` and the items must be
        picklable: `fn` a module-level function of an importable module (not `__main__`: workers
        do not run the parent's script). `progress(done, total)` is called as results arrive.
        """
        items = list(items)
        if on_error is _SAME:
            on_error = on_timeout
        if not (isinstance(deadline_s, (int, float)) and 0 < deadline_s < math.inf):
            raise ValueError(f"deadline_s must be a positive number of seconds, got {deadline_s!r}")
        if getattr(fn, "__module__", None) == "__main__":
            # Workers do not run the parent's main script (see _skip_main_module_in_workers).
            raise TypeError(f"map_with_deadline needs a function from an importable module, not from __main__: {fn!r}")
        try:
            fn_bytes = pickle.dumps(fn)
        except Exception as e:
            raise TypeError(f"map_with_deadline needs a module-level function, got {fn!r} ({e})") from None
        if not items:
            return []
        with self._lock:
            self._ensure_workers()
            return self._run(fn_bytes, items, deadline_s, on_timeout, on_error, progress)

    def _run(self, fn_bytes, items, deadline_s, on_timeout, on_error, progress) -> list[Any]:
        n = len(items)
        results: list[Any] = [None] * n
        pending = collections.deque(range(n))
        done = 0
        start_failures = 0
        finished = False

        def settle(index: int, value: Any) -> None:
            nonlocal done
            results[index] = value
            done += 1

        def received(index: int, ok: bool, value: Any) -> None:
            settle(index, value if ok else on_error)

        try:
            while done < n:
                now = time.monotonic()
                for w in self._workers:
                    if w.ready and not w.queue and pending:
                        # Batches shrink as the work runs out (guided scheduling): few round
                        # trips early, and no worker left holding a long batch at the end.
                        batch_size = max(1, min(_MAX_BATCH, len(pending) // (self.size * 4)))
                        batch = [pending.popleft() for _ in range(batch_size)]
                        w.queue.extend(batch)
                        w.started = now
                        try:
                            w.conn.send((fn_bytes, [(i, items[i]) for i in batch]))
                        except (OSError, ValueError):
                            pass  # the worker is gone; its sentinel fires below and the batch is redone
                timeout = None
                for w in self._workers:
                    limit = (w.started + deadline_s) if w.ready and w.queue else (None if w.ready else w.spawned + _START_TIMEOUT_S)
                    if limit is not None:
                        timeout = limit - now if timeout is None else min(timeout, limit - now)
                waitables = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
                ready = set(multiprocessing.connection.wait(waitables, timeout=None if timeout is None else max(0.0, timeout)))
                before = done
                for w in list(self._workers):
                    was_ready = w.ready
                    dead = w.process.sentinel in ready
                    # Also read before judging a deadline: the answer may have just arrived.
                    if dead or w.conn in ready or (w.queue and time.monotonic() >= w.started + deadline_s):
                        dead = self._drain(w, received) or dead
                    if w.ready and not was_ready:
                        start_failures = 0
                    now = time.monotonic()
                    if dead:
                        if w.queue:
                            settle(w.queue.popleft(), on_error)
                            pending.extendleft(reversed(w.queue))
                        elif not w.ready:
                            start_failures += 1
                            if start_failures > _MAX_START_FAILURES:
                                self._retire(w)
                                raise RunError(
                                    f"checking workers keep dying at start-up (exit code {w.process.exitcode}); "
                                    "set R1CLI_WORKERS=0 to check in-process and see the error"
                                )
                        self._replace(w)
                    elif w.ready and w.queue and now >= w.started + deadline_s:
                        settle(w.queue.popleft(), on_timeout)
                        pending.extendleft(reversed(w.queue))
                        self._replace(w)
                    elif not w.ready and now >= w.spawned + _START_TIMEOUT_S:
                        start_failures += 1
                        if start_failures > _MAX_START_FAILURES:
                            raise RunError(f"checking workers did not start within {_START_TIMEOUT_S:.0f}s; is the host overloaded?")
                        self._replace(w)
                if progress is not None and done != before:
                    progress(done, n)
            finished = True
            return results
        finally:
            if not finished:
                # Interrupted (Ctrl-C, an exception from `progress`): results still in flight
                # would be read by the next call as its own, so those workers go. The next call
                # starts new ones; none are started now, the program may be on its way out.
                for w in list(self._workers):
                    if w.queue:
                        self._retire(w)
                        self._workers.remove(w)

    def _drain(self, w: _Worker, received: Callable[[int, bool, Any], None]) -> bool:
        """Read every message waiting from `w`; True when its connection is closed (it died)."""
        try:
            while w.conn.poll():
                message = w.conn.recv()
                if message[0] == "ready":
                    w.ready = True
                    continue
                if message[0] == "no_function":
                    raise RunError(f"the checking workers cannot load the function to run: {message[1]}")
                index, ok, value = message
                if not w.queue or w.queue[0] != index:
                    continue  # cannot happen with one call at a time; never misfile a result
                w.queue.popleft()
                w.started = time.monotonic()
                received(index, ok, value)
        except (EOFError, OSError):
            return True
        return False


# --- the process-wide pool -------------------------------------------------------------------

_POOL: DeadlinePool | None = None
_POOL_LOCK = threading.Lock()
_ATEXIT = False


def get_pool(workers: int | None = None, *, preload: Sequence[str] = ()) -> DeadlinePool:
    """The process-wide pool, created on first use (a different `workers` recreates it)."""
    global _POOL, _ATEXIT
    size = default_workers() if workers is None else workers
    with _POOL_LOCK:
        pool = _POOL
        if pool is not None and (pool._pid != os.getpid() or pool._closed):
            pool = None  # inherited through fork, or shut down: start afresh
        if pool is not None and pool.size != size:
            pool.close()
            pool = None
        if pool is None:
            pool = DeadlinePool(size, preload=preload)
            _POOL = pool
            if not _ATEXIT:
                atexit.register(shutdown)
                _ATEXIT = True
        return pool


def shutdown() -> None:
    """Stop the process-wide pool's workers (also done at interpreter exit)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool._pid == os.getpid():
        pool.close()


_warned_inprocess = False


def map_with_deadline(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    deadline_s: float,
    *,
    on_timeout: Any = None,
    on_error: Any = _SAME,
    progress: ProgressHook | None = None,
    workers: int | None = None,
    preload: Sequence[str] = (),
) -> list[Any]:
    """`[fn(item) for item in items]` on the process-wide pool, each call cut off after `deadline_s`.

    Order is preserved. A call past its deadline yields `on_timeout` (its worker is killed and
    replaced); a call that raises or crashes its worker yields `on_error` (default: the same as
    `on_timeout`). `fn` must be a module-level function; `progress(done, total)` sees the count
    of finished items. `fn`'s module and the `preload` modules are imported once in the
    forkserver when the pool starts, so workers begin warm.

    >>> map_with_deadline(abs, [-1, 2, -3], deadline_s=10.0)
    [1, 2, 3]
    """
    global _warned_inprocess
    if on_error is _SAME:
        on_error = on_timeout
    size = default_workers() if workers is None else workers
    items = list(items)
    if size == 0 or multiprocessing.current_process().daemon:
        # Debugging (R1CLI_WORKERS=0), or inside a daemonic process, which may not have
        # children: no deadline can be enforced here.
        if size != 0 and not _warned_inprocess:
            _warned_inprocess = True
            from r1cli import console

            console.warn("checking in-process (daemonic process cannot start workers): no per-item deadline")
        return _serial(fn, items, on_error, progress)
    module = getattr(fn, "__module__", None)
    pool = get_pool(size, preload=([module] if module and module != "__main__" else []) + list(preload))
    return pool.map(fn, items, deadline_s, on_timeout=on_timeout, on_error=on_error, progress=progress)


def _serial(fn, items, on_error, progress) -> list[Any]:
    out = []
    for i, item in enumerate(items):
        try:
            out.append(fn(item))
        except Exception:
            out.append(on_error)
        if progress is not None:
            progress(i + 1, len(items))
    return out
