"""Start-up time of `r1cli --help` and every `r1cli COMMAND --help` (goal: under 0.5 s each).

    python benchmarks/bench_cli.py [--repeats 10]

Each command runs in a fresh process, as a user's shell runs it; the median of the repeats is
reported. The CLI module imports no torch, transformers or trl, which is what keeps this fast.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    exe = shutil.which("r1cli") or ""
    base = [exe] if exe else [sys.executable, "-m", "r1cli"]
    import typer

    from r1cli.cli import app

    commands = [[]] + [[name] for name in sorted(typer.main.get_command(app).commands)]
    worst = 0.0
    print(f"{'command':<28} {'median s':>9} {'max s':>7}")
    for cmd in commands:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run([*base, *cmd, "--help"], check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        worst = max(worst, med)
        print(f"{'r1cli ' + ' '.join(cmd) + ' --help':<28} {med:9.3f} {max(times):7.3f}")
    print(f"slowest median: {worst:.3f} s (goal < 0.5 s)")


if __name__ == "__main__":
    main()
