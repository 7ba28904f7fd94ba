"""The trusted test harness that runs inside the sandbox (see r1cli.sandbox and docs/sandbox.md).

r1cli.sandbox reads this file's text and hands it to the sandbox's interpreter with `python -I -c`,
where r1cli is not importable: it must use the standard library only, run on Python 3.6+, and never
import r1cli. Importing it does nothing (tests import it for its pure functions).

It reads the job (the program, the test inputs, the limits) as JSON on stdin, compiles the program
once and forks one child per test case, and writes one JSON line per case to a private copy of its
stdout, which the program's processes close right after fork. It never sees expected outputs.
"""

import json
import math
import os
import resource
import select
import signal
import sys
import time
import traceback

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
REPORT_KEYS = ("value", "value_error", "error")  # what a child may report on its private pipe

out = None
current = [0]
program_signals = {}  # the signal dispositions we found, given back to each child


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
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def shield():
    """Keep the program (same uid as us) away from this process; returns the signal dispositions
    the program should get back.

    Not dumpable: the kernel then refuses ptrace, /proc/PID/mem and fd, process_vm_readv/writev and
    pidfd_getfd on us to any process without CAP_SYS_PTRACE, which the program does not have. Only
    an exec or a change of uid would make us dumpable again, and we do neither. Our children
    inherit it, so the program's processes cannot trace each other either (core dumps are off anyway).

    Every signal we may ignore is ignored, so none reaches us in any tier. As init of a pid
    namespace the kernel already drops the program's signals whose action is the default (SIGKILL
    and SIGSTOP included), but not those with a handler, and Python handles SIGINT: without this
    one os.kill(1, SIGINT) from the program would end the run. SIGCHLD keeps its default: ignoring
    it would make the kernel reap the children whose exit status we need.
    """
    prctl(PR_SET_DUMPABLE, 0)
    saved = {}
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
            continue
        try:
            handler = signal.getsignal(sig)
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError, RuntimeError):  # the real-time signals glibc keeps for itself
            continue
        saved[sig] = signal.SIG_DFL if handler is None else handler
    return saved


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


def read_report(data):
    """What a child reported on its private pipe: the fields of REPORT_KEYS that are strings.

    The program holds that pipe too and can write anything there (or replace json.dumps, which the
    child uses), so whatever is not the expected small object counts as no report at all.
    """
    try:
        info = json.loads(data.decode("utf-8"))
    except Exception:  # undecodable, or RecursionError from nesting 200,000 deep
        return {}
    if not isinstance(info, dict):
        return {}
    return {k: v for k, v in info.items() if k in REPORT_KEYS and isinstance(v, str)}


def child(code, case, lim, fds, pidns):
    in_r, o_w, e_w, v_w = fds
    os.setpgid(0, 0)
    for sig, handler in program_signals.items():
        signal.signal(sig, handler)
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
    info = read_report(bytes(bufs[v_r]))
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
    global out, program_signals
    program_signals = shield()  # before anything of the program runs
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    lim = job["limits"]
    # Only as init of our own pid namespace may we kill(-1): without one it would hit every
    # process of this user.
    pidns = bool(job["pidns"]) and os.getpid() == 1
    if not pidns:
        pdeathsig()
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        signal.signal(signal.SIGTERM, on_term)  # r1cli's way to stop us; the program can use it too (UNSAFE tier)
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


if __name__ == "__main__":
    main()
