"""Run untrusted Python programs (model completions) in a throw-away local sandbox.

Check what works on this machine, run a program by hand, or use it from Python:

    python -m r1cli.sandbox                                  # the isolation tier in use, or why none works
    echo 3 | python -m r1cli.sandbox solution.py             # run a file on stdin; stdout passes through
    python -m r1cli.sandbox --isolation limits solution.py   # an explicit weaker (UNSAFE) tier

    from r1cli.sandbox import Case, Limits, run_python
    results = run_python("print(int(input()) * 2)", [Case(stdin="21\\n")], limits=Limits(timeout=2))

Each call to `run_python` starts one fresh, short-lived sandbox: a trusted harness (a small Python
script, `_HARNESS` below) reads the program and the test inputs on stdin, compiles the program once
and forks one child per test case, with that case's stdin fed then closed, stdout and stderr read
under a cap, a per-case wall-clock timeout, and resource limits. Expected outputs never enter the
sandbox: the harness streams raw results (output, exit status, returned value) back as JSON lines
and the caller judges them, so a program cannot read the answers it is checked against.

Tiers (`isolation=`), probed once per process, each really tried before use:
    bwrap    bubblewrap: no network, read-only /usr, nothing of $HOME or the project, private
             size-capped /tmp, empty environment, new user/pid/ipc/uts/net namespaces, new
             session, killed with its parent. The default, and the only safe tier.
    unshare  UNSAFE: util-linux `unshare` namespaces (no network, own pids) but the host filesystem.
    limits   UNSAFE: resource limits and deadlines only; the program can read and write your files
             and use the network.
"auto" means bwrap, or an R1Error saying how to install it. docs/sandbox.md has the details.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from r1cli.errors import R1Error

ISOLATIONS = ("auto", "bwrap", "unshare", "limits")
# Per-case statuses reported by the sandbox (the code reward adds "passed"/"wrong" by judging them).
CASE_STATUSES = ("ok", "runtime_error", "timeout", "memory", "output_limit", "skipped")

NOBODY = 65534  # the uid/gid programs run as when r1cli itself runs as root
STARTUP_S = 10.0  # time a sandbox may take to start and read its job before the run counts as a sandbox failure
CASE_SLACK_S = 0.5  # per-case allowance on top of `timeout` in the parent's overall deadline (fork, reap, transfer)
GRACE_S = 0.2  # between SIGTERM and SIGKILL when the parent stops a sandbox
SHM_MB = 16  # size of the sandbox's /dev/shm
ENV = {  # the whole environment a program sees: no tokens, no proxies, no user paths
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1",  # numeric libraries would otherwise start one thread per core and hit `processes`
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install bubblewrap`)"


class SandboxUnavailable(R1Error):
    """The requested isolation cannot work on this machine: a setup problem the user must fix."""


class SandboxError(RuntimeError):
    """One run could not be judged because the sandbox itself failed (not the program)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run; every test case gets its own `timeout` and output cap."""

    timeout: float = 5.0  # wall-clock seconds per test case (CPU time is capped at ceil(timeout) + 1 s)
    memory_mb: int = 1024  # address space of the program (RLIMIT_AS)
    max_output_bytes: int = 1 << 20  # stdout + stderr per test case; more stops the program (output_limit)
    file_size_mb: int = 16  # largest file the program may write (RLIMIT_FSIZE)
    tmp_mb: int = 64  # size of the private /tmp (bwrap tier)
    open_files: int = 128  # RLIMIT_NOFILE
    processes: int = 32  # processes + threads the program may have at once (RLIMIT_NPROC)

    def __post_init__(self) -> None:
        checks = {
            "timeout": self.timeout > 0 and math.isfinite(self.timeout),
            "memory_mb": self.memory_mb >= 64,
            "max_output_bytes": self.max_output_bytes >= 1,
            "file_size_mb": self.file_size_mb >= 1,
            "tmp_mb": self.tmp_mb >= 1,
            "open_files": self.open_files >= 16,
            "processes": self.processes >= 1,
        }
        floors = {"timeout": "a positive number of seconds", "memory_mb": "at least 64", "open_files": "at least 16"}
        for name, ok in checks.items():
            if not ok:
                raise R1Error(f"sandbox limit {name}={getattr(self, name)!r} must be {floors.get(name, 'at least 1')}")


@dataclass(frozen=True)
class Case:
    """One test case: the text fed on stdin, or (when `call` is set) a function call with JSON `args`."""

    stdin: str = ""
    call: str | None = None
    args: Sequence[Any] = ()

    def as_job(self) -> dict[str, Any]:
        return {"stdin": self.stdin} if self.call is None else {"stdin": "", "call": self.call, "args": list(self.args)}


@dataclass
class CaseResult:
    """What one test case did. `status` is one of CASE_STATUSES; judging output is the caller's job."""

    status: str
    stdout: str = ""
    stderr: str = ""  # the last few KiB
    exit_code: int | None = None  # negative: killed by that signal
    returned: str | None = None  # call mode: the returned value as JSON text (None if it did not return)
    seconds: float = 0.0

    @property
    def value(self) -> Any:
        """The returned value, decoded from JSON (call mode)."""
        return None if self.returned is None else json.loads(self.returned)


@dataclass(frozen=True)
class Tier:
    """An isolation tier that was tried and works here; `as_dict()` goes into a stage's manifest."""

    name: str  # bwrap | unshare | limits
    unsafe: bool
    description: str
    python: str  # the interpreter programs run with
    python_version: str = ""
    tool: str = ""  # e.g. "bubblewrap 0.8.0"
    options: tuple[str, ...] = field(default=(), repr=False)  # optional bwrap flags this version supports
    binds: tuple[str, ...] = field(default=(), repr=False)  # the interpreter's folders outside /usr (bwrap)

    @property
    def label(self) -> str:
        return f"{self.name} (UNSAFE)" if self.unsafe else self.name

    def as_dict(self) -> dict[str, Any]:
        return {"isolation": self.label, "unsafe": self.unsafe, "description": self.description,
                "python": f"{self.python} {self.python_version}".strip(), "tool": self.tool}


_DESCRIPTIONS = {
    "bwrap": "bubblewrap sandbox: no network, read-only system, private size-capped /tmp, empty environment, "
             "own user/pid/ipc/uts namespaces, resource limits and deadlines",
    "unshare": "UNSAFE: namespaces only (no network, own pids) but the program can read and write the host's "
               "files; resource limits and deadlines",
    "limits": "UNSAFE: resource limits and deadlines only; the program can read and write your files and use the network",
}

_lock = threading.Lock()
_probed: dict[tuple[str, str], Tier | SandboxUnavailable] = {}
_used: Tier | None = None
_warned: set[str] = set()


# ---------------------------------------------------------------------------------------------
# Public API


def run_python(code: str, cases: Sequence[Case], *, limits: Limits | None = None, isolation: str = "auto",
               python: str = "", keep_going: Callable[[int, CaseResult], bool] | None = None) -> list[CaseResult]:
    """Run `code` once per case in one fresh sandbox; one CaseResult per case, in order.

    `keep_going(i, result)` is called as each case finishes; returning False stops the run and
    marks the remaining cases "skipped" (the code reward's all-or-nothing mode stops at the first
    failure). Raises SandboxError when the sandbox itself failed before running the program, and
    SandboxUnavailable (an R1Error) when the requested isolation does not work here.
    """
    global _used
    limits = limits or Limits()
    tier = probe(isolation, python)
    if tier.unsafe and tier.name not in _warned:
        _warned.add(tier.name)
        from r1cli import console

        console.warn(f"running untrusted programs with isolation={tier.name}: {tier.description}")
    _used = tier
    if not cases:
        return []
    return _run(tier, code, list(cases), limits, keep_going)


def probe(isolation: str = "auto", python: str = "") -> Tier:
    """The tier `isolation` resolves to, after really running a program under it (cached per process)."""
    if isolation not in ISOLATIONS:
        raise R1Error(f"isolation={isolation!r} is not one of {', '.join(ISOLATIONS)}")
    interpreter = find_python(python)
    name = "bwrap" if isolation == "auto" else isolation
    key = (name, interpreter)
    with _lock:
        if key not in _probed:
            _probed[key] = _probe(name, interpreter)
        found = _probed[key]
    if isinstance(found, SandboxUnavailable):
        raise found
    return found


def isolation_in_use() -> dict[str, Any] | None:
    """The tier the latest run in this process used (for a stage's manifest), or None before any run."""
    return None if _used is None else _used.as_dict()


def describe(isolation: str = "auto", python: str = "") -> str:
    """One line: the tier `isolation` resolves to and what it isolates (raises SandboxUnavailable)."""
    tier = probe(isolation, python)
    tool = f", {tier.tool}" if tier.tool else ""
    return f"{tier.name}: {tier.description} ({tier.python} {tier.python_version}{tool})"


def find_python(python: str = "") -> str:
    """The interpreter programs run with: `python` if given, else /usr/bin/python3, else the base
    interpreter running r1cli (its install folder is mounted read-only; a venv's packages are not)."""
    if python:
        found = shutil.which(python)
        if not found:
            raise R1Error(f"sandbox python {python!r} not found or not executable")
        return os.path.realpath(found)
    if os.access("/usr/bin/python3", os.X_OK):
        return os.path.realpath("/usr/bin/python3")
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


# ---------------------------------------------------------------------------------------------
# Probing


def _probe(name: str, python: str) -> Tier | SandboxUnavailable:
    root = os.geteuid() == 0
    tool, options, binds = "", (), ()
    if name == "bwrap":
        bwrap = shutil.which("bwrap")
        if not bwrap:
            return SandboxUnavailable(_unavailable("bubblewrap (bwrap) is not installed"))
        tool = _version([bwrap, "--version"]) or "bubblewrap"
        help_text = _version([bwrap, "--help"], whole=True)
        options = tuple(o for o in ("--disable-userns", "--size") if o in help_text)
        binds = _python_binds(python)
        if isinstance(binds, SandboxUnavailable):
            return binds
    elif name == "unshare" and not shutil.which("unshare"):
        return SandboxUnavailable("isolation=unshare: the `unshare` command (util-linux) is not installed")
    description = _DESCRIPTIONS[name]
    if name == "bwrap" and "--size" not in options:
        description = description.replace("private size-capped /tmp", "no writable /tmp (this bubblewrap cannot cap its size)")
    tier = Tier(name, name != "bwrap", description, python, tool=tool, options=options, binds=binds)
    try:
        results = _run(tier, "import sys; print('ok', sys.version.split()[0])", [Case()], Limits(timeout=10), None)
    except SandboxError as e:
        as_nobody = f" (r1cli runs as root, so the sandbox runs as uid {NOBODY})" if root else ""
        if any(b in str(e) for b in binds):
            return SandboxUnavailable(f"isolation={name}: the sandbox cannot mount {python}'s folder: {e}{as_nobody}; "
                                      f"give an interpreter it can read (e.g. /usr/bin/python3) with the code reward's `python` parameter")
        if root:
            as_nobody = f" (r1cli runs as root, so the sandbox runs as uid {NOBODY}, which must be allowed to create user namespaces)"
        if name == "bwrap":
            return SandboxUnavailable(_unavailable(f"bubblewrap is installed and fails here: {e}{as_nobody}"))
        return SandboxUnavailable(f"isolation={name} does not work on this machine: {e}{as_nobody}")
    got = results[0]
    if got.status != "ok" or not got.stdout.startswith("ok "):
        detail = (got.stderr.strip().splitlines() or [got.status])[-1]
        return SandboxUnavailable(f"isolation={name}: {python} cannot run inside the sandbox ({detail}); "
                                  f"give another interpreter with the code reward's `python` parameter")
    return Tier(name, tier.unsafe, tier.description, python, got.stdout.split()[1], tool, options, binds)


_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _python_binds(python: str) -> tuple[str, ...] | SandboxUnavailable:
    """Folders the interpreter needs beyond the system ones, asked from the interpreter itself.

    Refuses any that would expose `/` or a home folder as a whole (a subfolder such as
    ~/.pyenv/versions/3.11.7 is fine: it holds only Python).
    """
    try:
        done = subprocess.run([python, "-I", "-c", "import sys; print(sys.base_prefix); print(sys.base_exec_prefix)"],
                              capture_output=True, text=True, timeout=30, env=ENV)
        prefixes = [os.path.realpath(p) for p in done.stdout.split("\n") if p.strip()]
    except (OSError, subprocess.SubprocessError) as e:
        return SandboxUnavailable(f"sandbox python {python} does not run: {e}")
    if done.returncode != 0 or not prefixes:
        return SandboxUnavailable(f"sandbox python {python} does not run: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    homes = {os.path.realpath(os.path.expanduser("~")), "/home", "/root"}
    binds = []
    for path in [*prefixes, os.path.dirname(python)]:
        if any(path == s or path.startswith(s + "/") for s in _SYSTEM) or path in binds:
            continue
        if path == "/" or any(h == path or h.startswith(path + "/") for h in homes):
            return SandboxUnavailable(f"sandbox python {python} lives in {path}, which cannot be mounted in the sandbox "
                                      f"without exposing it whole; give another interpreter with the code reward's `python` parameter")
        if not any(path.startswith(b + "/") for b in binds):
            binds.append(path)
    return tuple(binds)


def _unavailable(what: str) -> str:
    return (f"the code reward runs untrusted programs under bubblewrap, but {what}; {INSTALL_HINT}, "
            f"or set `isolation: unshare` or `isolation: limits` on the code reward to run them UNSAFELY without it")


def _version(argv: list[str], whole: bool = False) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, env=ENV)
    except (OSError, subprocess.SubprocessError):
        return ""
    text = done.stdout + done.stderr
    return text if whole else (text.strip().splitlines() or [""])[0]


# ---------------------------------------------------------------------------------------------
# Running one sandbox (the parent side)


def _command(tier: Tier, limits: Limits) -> list[str]:
    harness = [tier.python, "-I", "-B", "-c", _HARNESS]
    if tier.name == "limits":
        return harness
    if tier.name == "unshare":
        return [shutil.which("unshare") or "unshare", "--user", "--net", "--pid", "--ipc", "--uts", "--fork",
                "--kill-child", *harness]
    # --as-pid-1: the harness is the namespace's init, so the program cannot signal it (the kernel
    # drops signals to init from inside its namespace), and bwrap leaves no reaper behind.
    argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--as-pid-1"]
    if "--disable-userns" in tier.options:
        argv.append("--disable-userns")  # no nested namespaces: less kernel surface
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
    for key, value in {**ENV, "HOME": "/tmp", "TMPDIR": "/tmp"}.items():
        argv += ["--setenv", key, value]
    argv += ["--ro-bind", "/usr", "/usr"]
    for path in _SYSTEM[1:]:
        if os.path.islink(path):  # merged /usr: keep the symlink
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for path in tier.binds:  # e.g. /opt/conda for /opt/conda/bin/python3.11
        argv += ["--ro-bind", path, path]
    argv += ["--dev", "/dev"]
    if "--size" in tier.options:
        argv += ["--size", str(SHM_MB << 20), "--tmpfs", "/dev/shm", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp"]
    else:  # bubblewrap < 0.7 cannot cap a tmpfs, and an uncapped one is a way to fill the host's memory
        argv += ["--dir", "/tmp"]
    # The root and /dev are bwrap's own tmpfs mounts with no size cap: make them read-only so the
    # only writable places are the capped /tmp and /dev/shm.
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp"]
    return argv + harness


def _tasks_of(uid: int) -> int:
    """Processes + threads owned by `uid` (RLIMIT_NPROC counts them all when there is no user namespace)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1 0").split()[0]) == uid:
            total += int(fields.get("Threads", "1").strip() or 1)
    return total


def _run(tier: Tier, code: str, cases: list[Case], limits: Limits, keep_going: Callable[[int, CaseResult], bool] | None) -> list[CaseResult]:
    root = os.geteuid() == 0
    uid = NOBODY if root else os.getuid()
    workdir = None
    if tier.name != "bwrap":  # the weaker tiers see the host filesystem; give the program a private folder
        workdir = tempfile.mkdtemp(prefix="r1cli-sandbox-")
        if root:
            os.chown(workdir, NOBODY, NOBODY)
    if tier.name == "limits":
        nproc = _tasks_of(uid) + limits.processes + 1  # no user namespace: the limit counts all of uid's tasks
    else:  # the count is per user namespace: the harness (and the `unshare` process) count too
        nproc = limits.processes + (1 if tier.name == "bwrap" else 2)
    job = {
        "code": code,
        "cases": [c.as_job() for c in cases],
        "limits": {"timeout": limits.timeout, "memory": limits.memory_mb << 20, "output": limits.max_output_bytes,
                   "fsize": limits.file_size_mb << 20, "nofile": limits.open_files, "nproc": nproc},
        "pidns": tier.name != "limits",
    }
    env = dict(ENV) if tier.name == "bwrap" else {**ENV, "HOME": workdir, "TMPDIR": workdir}
    popen_kw: dict[str, Any] = {}
    if root:  # never run programs as root: RLIMIT_NPROC does not apply to uid 0
        popen_kw = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    try:
        proc = subprocess.Popen(_command(tier, limits), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=workdir or "/", start_new_session=True,
                                close_fds=True, **popen_kw)
    except OSError as e:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise SandboxError(f"cannot start the sandbox: {e}") from None
    finished = False
    try:
        results, finished = _exchange(proc, json.dumps(job).encode(), cases, limits, keep_going)
        return results
    finally:
        if finished:  # let a sandbox that is done exit by itself: bwrap then reaps its own init
            try:
                proc.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
        _stop(proc)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _exchange(proc: subprocess.Popen, payload: bytes, cases: list[Case], limits: Limits,
              keep_going: Callable[[int, CaseResult], bool] | None) -> tuple[list[CaseResult], bool]:
    """Feed the job, read the harness's JSON lines until done, a deadline or `keep_going` says stop.

    Returns the results and whether the harness said it was done.
    """
    assert proc.stdin and proc.stdout and proc.stderr
    n = len(cases)
    results: list[CaseResult | None] = [None] * n
    started = time.monotonic()
    deadline = started + STARTUP_S
    ready = False
    ended = "eof"  # why reading stopped: done | eof | deadline | stopped | garbled
    out_buf = bytearray()
    err_buf = bytearray()
    # The harness is trusted, but cap what it can make us hold anyway.
    out_cap = n * (8 * limits.max_output_bytes + (1 << 16)) + (1 << 16)
    sel = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin, selectors.EVENT_WRITE)
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    view = memoryview(payload)
    readers = 2
    try:
        while readers:
            left = deadline - time.monotonic()
            if left <= 0:
                ended = "deadline"
                break
            for key, _ in sel.select(left):
                if key.fileobj is proc.stdin:
                    try:
                        view = view[os.write(proc.stdin.fileno(), view[: 1 << 16]):]
                    except BlockingIOError:
                        continue
                    except OSError:  # the sandbox died before reading its job
                        view = view[:0]
                    if not view:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                data = os.read(key.fileobj.fileno(), 1 << 16)
                if not data:
                    sel.unregister(key.fileobj)
                    readers -= 1
                    continue
                if key.fileobj is proc.stderr:
                    err_buf += data
                    del err_buf[: max(0, len(err_buf) - 8192)]
                    continue
                out_buf += data
                if len(out_buf) > out_cap:
                    ended = "garbled"
                    readers = 0
                    break
                while b"\n" in out_buf:
                    line, _, rest = bytes(out_buf).partition(b"\n")
                    out_buf[:] = rest
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        ended, readers = "garbled", 0
                        break
                    if "ready" in msg:
                        ready = True
                        deadline = time.monotonic() + n * (limits.timeout + CASE_SLACK_S) + 1.0
                    elif "i" in msg and 0 <= msg["i"] < n and ready:
                        i = msg["i"]
                        results[i] = CaseResult(msg["status"], msg.get("stdout", ""), msg.get("stderr", ""),
                                                msg.get("exit"), msg.get("value"), msg.get("time", 0.0))
                        if keep_going is not None and not keep_going(i, results[i]):
                            ended, readers = "stopped", 0
                            break
                    elif msg.get("done"):
                        ended, readers = "done", 0
                        break
                if not readers:
                    break
    finally:
        sel.close()
    if not ready:
        _stop(proc)
        why = err_buf.decode("utf-8", "replace").strip().splitlines()
        detail = why[-1] if why else ("it did not start in time" if ended == "deadline" else f"exit status {proc.returncode}")
        raise SandboxError(detail)
    fill = {"done": ("runtime_error", "the test harness sent no result"),
            "deadline": ("timeout", "the run's overall deadline passed"),
            "stopped": ("skipped", ""),
            "eof": ("runtime_error", "the test harness was killed (by the program?)"),
            "garbled": ("runtime_error", "the test harness sent garbled results")}[ended]
    return [r if r is not None else CaseResult(fill[0], stderr=fill[1]) for r in results], ended == "done"


def _stop(proc: subprocess.Popen) -> None:
    """End a sandbox: SIGTERM to its process group, a short grace, then SIGKILL.

    With bwrap or unshare, ending the outer process ends the pid namespace and with it every
    process the program started, whatever session or group it moved to.
    """
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream and not stream.closed:
            try:
                stream.close()
            except OSError:
                pass
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# ---------------------------------------------------------------------------------------------
# The harness: runs inside the sandbox with the sandbox's python (3.6+, standard library only).
# It never sees expected outputs. Messages go to a private copy of its stdout, which the
# program's processes close right after fork.

_HARNESS = r'''
import json, math, os, resource, select, signal, sys, time, traceback

out = None
current = [0]

def send(msg):
    data = (json.dumps(msg, ensure_ascii=False) + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(out, data):]

def limit(which, value):
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))

def prctl(option, value):
    import ctypes
    if ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(%d) failed" % option)

def pdeathsig():
    # Without a pid namespace nothing else ends a process when its parent dies.
    prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

def children():
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry))
    return found

def on_term(signum, frame):
    # r1cli is stopping us: take the running case's processes along.
    try:
        if current[0]:
            os.killpg(current[0], signal.SIGKILL)
        for pid in children():
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    os._exit(1)

def exit_code(status):
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)

def find(mod, name):
    obj = mod
    parts = name.split(".")
    if not hasattr(mod, parts[0]) and hasattr(mod, "Solution"):
        obj = mod.Solution()  # LeetCode style: a method of class Solution
    for n, part in enumerate(parts):
        obj = getattr(obj, part)
        if isinstance(obj, type) and n < len(parts) - 1:
            obj = obj()
    return obj

def child(code, case, lim, fds, pidns):
    in_r, o_w, e_w, v_w = fds
    os.setpgid(0, 0)
    for sig in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    if not pidns:
        pdeathsig()
    os.dup2(in_r, 0)
    os.dup2(o_w, 1)
    os.dup2(e_w, 2)
    for fd in (in_r, o_w, e_w):
        if fd > 2:
            os.close(fd)
    cpu = int(math.ceil(lim["timeout"])) + 1  # a backstop: the wall-clock timeout normally comes first
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    sys.argv = ["solution.py"]
    import types
    call = case.get("call")
    mod = types.ModuleType("__main__" if call is None else "solution")
    mod.__file__ = "solution.py"
    sys.modules[mod.__name__] = mod
    status = 0
    def report(msg):
        data = json.dumps(msg).encode()
        while data:
            data = data[os.write(v_w, data):]
    try:
        exec(code, mod.__dict__)
        if call is not None:
            value = find(mod, call)(*case.get("args", []))
            try:
                report({"value": json.dumps(value)})
            except (TypeError, ValueError) as e:
                report({"value_error": "%s: %s" % (type(e).__name__, e)})
        threading = sys.modules.get("threading")
        if threading is not None:  # like a normal exit: wait for non-daemon threads
            for t in threading.enumerate():
                if t is not threading.main_thread() and not t.daemon:
                    t.join()
        import atexit
        atexit._run_exitfuncs()
    except SystemExit as e:
        if e.code is None:
            status = 0
        elif isinstance(e.code, int):
            status = e.code & 0xFF
        else:
            status = 1
            try:
                print(e.code, file=sys.stderr)
            except BaseException:
                pass
    except MemoryError:
        status = 1
        try:
            report({"error": "MemoryError"})
            sys.stderr.write("MemoryError\n")
        except BaseException:
            pass
    except BaseException:
        status = 1
        try:
            etype, e, tb = sys.exc_info()
            if tb is not None and tb.tb_next is not None:
                tb = tb.tb_next  # hide the harness's own frame
            traceback.print_exception(etype, e, tb)
        except BaseException:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            status = status or 1
    os._exit(status)

def kill_rest(pid, pidns):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if pidns:
        try:
            os.kill(-1, signal.SIGKILL)  # everything in the namespace but init and us: escaped processes too
        except OSError:
            pass
    else:
        for child_pid in children():  # orphans that left the group were handed to us (subreaper)
            try:
                os.kill(child_pid, signal.SIGKILL)
            except OSError:
                pass

def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return

def clean(pidns):
    # Wait until no other process is left in the namespace (dead ones are reaped by its init, or by
    # us when we are pid 1), so the next case starts clean and within its process limit.
    # Without a namespace we are a child subreaper instead: every orphaned descendant, even one
    # that moved to its own session, becomes our child, so kill our children until none is left.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        if pidns:
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                return
            except OSError:
                pass
        else:
            try:
                os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            for pid in children():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        reap()
        time.sleep(0.001)

def run_case(code, case, lim, pidns):
    cap = lim["output"]
    stdin = case.get("stdin", "").encode("utf-8")
    in_r, in_w = os.pipe()
    o_r, o_w = os.pipe()
    e_r, e_w = os.pipe()
    v_r, v_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            for fd in (out, in_w, o_r, e_r, v_r):
                os.close(fd)
            child(code, case, lim, (in_r, o_w, e_w, v_w), pidns)
        finally:
            os._exit(70)
    current[0] = pid
    try:
        os.setpgid(pid, pid)  # also done by the child; whichever runs first wins the race
    except OSError:
        pass
    for fd in (in_r, o_w, e_w, v_w):
        os.close(fd)
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    os.set_blocking(in_w, False)
    pending = stdin
    if not pending:
        os.close(in_w)
        in_w = None
    bufs = {o_r: bytearray(), e_r: bytearray(), v_r: bytearray()}
    open_fds = set(bufs)
    total = 0
    exited = None
    timed_out = over = False
    deadline = start + lim["timeout"]
    while open_fds or exited is None:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        rlist = list(open_fds)
        if exited is None and pidfd is not None:
            rlist.append(pidfd)
        tick = left if (pidfd is not None or exited is not None) else min(left, 0.01)
        r, w, _ = select.select(rlist, [in_w] if in_w is not None else [], [], tick)
        if w:
            try:
                pending = pending[os.write(in_w, pending[:65536]):]
            except BlockingIOError:
                pass
            except OSError:  # the program closed its stdin
                pending = b""
            if not pending:
                os.close(in_w)
                in_w = None
        for fd in r:
            if fd == pidfd:
                continue
            data = os.read(fd, 65536)
            if not data:
                open_fds.discard(fd)
                continue
            total += len(data)
            if total > cap:
                over = True
                break
            bufs[fd] += data
        if over:
            break
        if exited is None:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                exited = status
                kill_rest(pid, pidns)  # leftover processes would hold the pipes open
    kill_rest(pid, pidns)
    if exited is None:
        exited = os.waitpid(pid, 0)[1]
    current[0] = 0
    clean(pidns)
    seconds = time.monotonic() - start
    for fd in [in_w, pidfd] + list(bufs):
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
    info = {}
    try:
        info = json.loads(bytes(bufs[v_r]).decode("utf-8"))
    except ValueError:
        pass
    code_ = exit_code(exited)
    if over:
        status = "output_limit"
    elif timed_out or code_ == -signal.SIGXCPU:
        status = "timeout"
    elif info.get("error") == "MemoryError":
        status = "memory"
    elif code_ != 0:
        status = "runtime_error"
    else:
        status = "ok"
    err = bytes(bufs[e_r][-4096:]).decode("utf-8", "replace")
    if info.get("value_error"):
        err += "\nreturn value is not JSON: " + info["value_error"]
    return {"status": status, "stdout": bytes(bufs[o_r]).decode("utf-8", "replace"), "stderr": err,
            "exit": None if timed_out or over else code_, "value": info.get("value"), "time": round(seconds, 4)}

def main():
    global out
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    lim = job["limits"]
    # Only as init of our own pid namespace may we kill(-1): without one it would hit every
    # process of this user. As init, signals from the program cannot reach us either.
    pidns = bool(job["pidns"]) and os.getpid() == 1
    if not pidns:
        pdeathsig()
        prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
        signal.signal(signal.SIGTERM, on_term)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_AS, lim["memory"])
    limit(resource.RLIMIT_FSIZE, lim["fsize"])
    limit(resource.RLIMIT_NOFILE, lim["nofile"])
    limit(resource.RLIMIT_NPROC, lim["nproc"])
    try:
        code = compile(job["code"], "solution.py", "exec")
        error = None
    except Exception as e:
        code = None
        error = "".join(traceback.format_exception_only(type(e), e))
    send({"ready": sys.version.split()[0]})
    for i, case in enumerate(job["cases"]):
        if code is None:
            result = {"status": "runtime_error", "stderr": error, "exit": 1, "time": 0.0}
        else:
            result = run_case(code, case, lim, pidns)
        result["i"] = i
        send(result)
    send({"done": True})

main()
'''


# ---------------------------------------------------------------------------------------------


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m r1cli.sandbox", description="Check the sandbox, or run one Python program in it.")
    parser.add_argument("program", nargs="?", help="a Python file to run; this command's stdin is its input")
    parser.add_argument("--isolation", default="auto", choices=ISOLATIONS)
    parser.add_argument("--python", default="", help="interpreter inside the sandbox (default: /usr/bin/python3)")
    parser.add_argument("--timeout", type=float, default=Limits.timeout)
    args = parser.parse_args(argv)
    try:
        if args.program is None:
            print(describe(args.isolation, args.python))
            return 0
        with open(args.program, encoding="utf-8") as f:
            code = f.read()
        stdin = "" if sys.stdin.isatty() else sys.stdin.read()
        (result,) = run_python(code, [Case(stdin=stdin)], limits=Limits(timeout=args.timeout), isolation=args.isolation, python=args.python)
    except (R1Error, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SandboxError as e:
        print(f"error: the sandbox failed: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    print(f"[{result.status}, exit {result.exit_code}, {result.seconds:.3f} s]", file=sys.stderr)
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(_main())
