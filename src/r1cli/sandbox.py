"""Run untrusted Python programs (model completions) in a throw-away local sandbox.

Check what works on this machine, run a program by hand, or use it from Python:

    python -m r1cli.sandbox                                  # the isolation tier in use, or why none works
    echo 3 | python -m r1cli.sandbox solution.py             # run a file on stdin; stdout passes through
    python -m r1cli.sandbox --isolation limits solution.py   # an explicit weaker (UNSAFE) tier

    from r1cli.sandbox import Case, Limits, run_python
    results = run_python("print(int(input()) * 2)", [Case(stdin="21\\n")], limits=Limits(timeout=2))

Each call to `run_python` starts one fresh, short-lived sandbox: a trusted harness (a small Python
script, r1cli/sandbox_harness.py) reads the program and the test inputs on stdin, compiles the
program once and forks one child per test case, with that case's stdin fed then closed, stdout and
stderr read under a cap, a per-case wall-clock timeout, and resource limits. Expected outputs never
enter the sandbox: the harness streams raw results (output, exit status, returned value) back as
JSON lines and the caller judges them, so a program cannot read the answers it is checked against.
The harness shields itself from the program (same uid: not dumpable, signals ignored), and its
replies are parsed with bounded size and depth all the same.

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

import itertools
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
from pathlib import Path
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
VALUE_DEPTH = 100  # deepest JSON a function-call case may return (deeper is not accepted as a value)
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
        """The returned value, decoded from JSON (call mode); ValueError if nested deeper than VALUE_DEPTH."""
        return None if self.returned is None else loads_bounded(self.returned, max_depth=VALUE_DEPTH)


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


_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def loads_bounded(text: str | bytes, *, max_depth: int, max_len: int | None = None) -> Any:
    """json.loads for text a sandboxed program may have shaped. ValueError when it is longer than
    `max_len`, not UTF-8, not JSON, or nested deeper than `max_depth`.

    The depth is counted first, on the brackets outside strings: json.loads recurses once per
    level, so a value nested 200,000 deep raises RecursionError instead of ValueError.
    """
    if max_len is not None and len(text) > max_len:
        raise ValueError(f"longer than {max_len}")
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    # Without escaped backslashes and escaped quotes, every quote left opens or closes a string, so
    # every other piece between quotes is outside strings. Where this misreads invalid JSON (a
    # backslash outside a string), json.loads fails at that point, before any deeper bracket.
    plain = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(plain.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    if max(itertools.accumulate(map(_NESTING.__getitem__, brackets)), default=0) > max_depth:
        raise ValueError(f"nested deeper than {max_depth}")
    return json.loads(text if isinstance(text, str) else text.decode("utf-8"))  # UnicodeDecodeError is a ValueError


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


# The harness's source: handed to the sandbox's interpreter as text, since r1cli is not importable there.
_HARNESS = Path(__file__).with_name("sandbox_harness.py").read_text(encoding="utf-8")


def _command(tier: Tier, limits: Limits) -> list[str]:
    harness = [tier.python, "-I", "-B", "-c", _HARNESS]
    if tier.name == "limits":
        return harness
    if tier.name == "unshare":
        return [shutil.which("unshare") or "unshare", "--user", "--net", "--pid", "--ipc", "--uts", "--fork",
                "--kill-child", *harness]
    # --as-pid-1: the harness is the namespace's init, so the kernel drops the program's SIGKILL and
    # SIGSTOP to it (it ignores the other signals itself), and bwrap leaves no reaper behind.
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
    received = 0  # results arrive in case order
    deadline = time.monotonic() + STARTUP_S
    ready = False
    ended = "eof"  # why reading stopped: done | eof | deadline | stopped | garbled
    out_buf = bytearray()
    err_buf = bytearray()
    # The harness is trusted, but a reply is checked anyway before it is used: one line is at most
    # a case's output, JSON-escaped (6 bytes a byte at worst), plus a little.
    line_cap = 8 * limits.max_output_bytes + (1 << 16)
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
                while readers and b"\n" in out_buf:
                    line, _, rest = bytes(out_buf).partition(b"\n")
                    out_buf[:] = rest
                    try:
                        msg = loads_bounded(line, max_depth=1, max_len=line_cap)  # every reply is one flat object
                        if not isinstance(msg, dict):
                            raise ValueError("not an object")
                        if not ready:  # the greeting comes first, once
                            if "ready" not in msg:
                                raise ValueError("no greeting")
                            ready = True
                            deadline = time.monotonic() + n * (limits.timeout + CASE_SLACK_S) + 1.0
                            continue
                        if msg.get("done") is True:
                            ended, readers = "done", 0
                            continue
                        if received == n:
                            raise ValueError("more results than cases")
                        result = results[received] = _case_result(msg, received)
                    except ValueError:
                        ended, readers = "garbled", 0
                        continue
                    received += 1
                    if keep_going is not None and not keep_going(received - 1, result):
                        ended, readers = "stopped", 0
                if readers and len(out_buf) > line_cap:
                    ended, readers = "garbled", 0
                if not readers:
                    break
    finally:
        sel.close()
    if not ready:
        _stop(proc)
        why = err_buf.decode("utf-8", "replace").strip().splitlines()
        detail = why[-1] if why else {"deadline": "it did not start in time", "garbled": "it sent garbled results"}.get(
            ended, f"exit status {proc.returncode}")
        raise SandboxError(detail)
    fill = {"done": ("runtime_error", "the test harness sent no result"),
            "deadline": ("timeout", "the run's overall deadline passed"),
            "stopped": ("skipped", ""),
            "eof": ("runtime_error", "the test harness was killed (by the program?)"),
            "garbled": ("runtime_error", "the test harness sent garbled results")}[ended]
    return [r if r is not None else CaseResult(fill[0], stderr=fill[1]) for r in results], ended == "done"


def _case_result(msg: dict[str, Any], i: int) -> CaseResult:
    """Case i's result from the harness's reply, checked field by field (ValueError if anything is off)."""
    fields = {"stdout": (str, ""), "stderr": (str, ""), "exit": ((int, type(None)), None),
              "value": ((str, type(None)), None), "time": ((int, float), 0.0)}
    got = {k: msg.get(k, default) for k, (_, default) in fields.items()}
    if msg.get("i") != i or msg.get("status") not in CASE_STATUSES or not all(isinstance(got[k], t) for k, (t, _) in fields.items()):
        raise ValueError(f"malformed result for case {i}")
    return CaseResult(msg["status"], got["stdout"], got["stderr"], got["exit"], got["value"], float(got["time"]))


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
