"""Peak memory of each side of a benchmark, shared by the scripts in this folder.

    from peakmem import PeakMemory
    mem = PeakMemory(device)
    with mem.side("raw"):
        raw()
    print(mem.line()); result["memory"] = mem.report()

The scripts run as `python benchmarks/bench_X.py`, which puts this folder on `sys.path`, so
this module needs no installing.

On CUDA a side's figure is `torch.cuda.max_memory_allocated()` while it ran, after
`reset_peak_memory_stats()`: tensors only, not the allocator's cache or the CUDA context.

On a CPU (Linux) it is the process's peak resident set (VmHWM) while the side ran, reset before
the side by writing 5 to /proc/self/clear_refs. That is still the whole process: what it holds
before the side starts (libraries, a model both sides share, heap the allocator kept from the
other side) counts in both, so compare the sides' figures with each other, not with a model's
size. Where the reset is refused (not Linux, a locked-down kernel) every side gets the process's
peak so far, and the report says `per_side: false`: the figure is per process, not per side.
The reset also lowers what the kernel reports as the process's lifetime peak (ru_maxrss, and
so a parent's wait4), so this module keeps that peak itself: use `process_peak()`.
"""

from __future__ import annotations

import contextlib
import gc
import re
import resource
import sys
from collections.abc import Iterator
from pathlib import Path

MIB = 2**20
_lifetime_peak = 0  # this process's highest VmHWM seen before a reset lowered it


def rss_peak(pid: int | str = "self") -> int | None:
    """Peak resident set (VmHWM) of a process in bytes, or None where /proc does not say."""
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def reset_rss_peak(pid: int | str = "self") -> bool:
    """Start a process's VmHWM again from its current RSS (Linux >= 4.0); False if refused."""
    global _lifetime_peak
    if pid == "self":
        _lifetime_peak = max(_lifetime_peak, rss_peak() or 0)
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def ru_maxrss() -> int:
    """The kernel's peak RSS of this process in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def process_peak() -> int:
    """This process's peak RSS since it started, in bytes, resets notwithstanding."""
    return max(_lifetime_peak, rss_peak() or 0, ru_maxrss())


def mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / MIB:.0f} MiB"


class PeakMemory:
    """The highest peak each named side reached over all its runs."""

    def __init__(self, device: str = "cpu") -> None:
        self.cuda = device.startswith("cuda")
        self.sides: dict[str, int] = {}
        self.per_side = self.cuda or (rss_peak() is not None and reset_rss_peak())

    @property
    def measure(self) -> str:
        if self.cuda:
            return "torch.cuda.max_memory_allocated, reset before each side"
        if self.per_side:
            return "peak RSS of the process while the side ran (VmHWM, reset before each side); includes what the process already held"
        return "peak RSS of the whole process so far (per process, not per side)"

    @contextlib.contextmanager
    def side(self, name: str) -> Iterator[None]:
        # Collect first, so garbage left by the other side is not charged to this one.
        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        elif self.per_side:
            reset_rss_peak()
        try:
            yield
        finally:
            if self.cuda:
                import torch

                torch.cuda.synchronize()
                peak = torch.cuda.max_memory_allocated()
            else:
                peak = (rss_peak() if self.per_side else None) or ru_maxrss()
            self.sides[name] = max(self.sides.get(name, 0), peak)

    def report(self) -> dict:
        return {"measure": self.measure, "per_side": self.per_side, "sides_bytes": dict(self.sides),
                "process_peak_rss_bytes": process_peak()}

    def line(self) -> str:
        sides = ", ".join(f"{name} {mib(peak)}" for name, peak in self.sides.items())
        return f"peak memory: {sides}  ({self.measure}); process peak RSS {mib(process_peak())}"
