"""Start-up time of `r1cli --help` and every `r1cli COMMAND --help` (goal: under 0.5 s each).

    python benchmarks/bench_cli.py [--repeats 10]
    python benchmarks/bench_cli.py --repeats 5 --json cli.json        # as benchmarks/run_all.py runs it

Each command runs in a fresh process, as a user's shell runs it; the median of the repeats is
reported, with the slowest run beside it. The CLI module imports no torch, transformers or trl,
which is what keeps this fast. For scale, the bare interpreter's start-up (`python -c pass`) is
measured the same way, interleaved with the commands. Peak memory is each command process's own
peak RSS, from one more, untimed run of each through a small launcher (see LAUNCHER).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 0.5
# Runs argv in a forked child and prints the child's peak RSS (ru_maxrss). Why not wait4 from
# here: on Linux, exec records the peak of the image it replaces, so a command started by this
# script (typer and rich imported) would weigh at least as much as this script. The launcher is
# `python -S` importing nothing and forks before exec, so the floor is its own few MiB.
LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed(argv: list[str]) -> float:
    """Wall seconds of one run of argv in a fresh process."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return seconds


def peak_rss(argv: list[str]) -> int:
    """Peak RSS in bytes of one run of argv, through LAUNCHER."""
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *argv], capture_output=True, text=True, check=True)
    return int(done.stdout) * (1 if sys.platform == "darwin" else 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    # The entry point installed beside this interpreter first: PATH may hold another r1cli.
    beside = Path(sys.executable).with_name("r1cli")
    exe = str(beside) if beside.exists() else shutil.which("r1cli") or ""
    base = [exe] if exe else [sys.executable, "-m", "r1cli"]
    import typer

    from r1cli import __version__
    from r1cli.cli import app

    commands = [[]] + [[name] for name in sorted(typer.main.get_command(app).commands)]
    argvs = {"python -c pass": [sys.executable, "-c", "pass"]}
    argvs.update({" ".join(["r1cli", *cmd, "--help"]): [*base, *cmd, "--help"] for cmd in commands})
    runs: dict[str, list[float]] = {name: [] for name in argvs}
    # Rounds over all commands rather than all repeats of one command at a time, so that a
    # burst of load from other users hits every command alike.
    for _ in range(args.repeats):
        for name, argv in argvs.items():
            runs[name].append(timed(argv))

    rows = []
    for name, times in runs.items():
        rows.append({"command": name, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
                     "runs_s": [round(t, 4) for t in times], "peak_rss_bytes": peak_rss(argvs[name])})
    baseline, cli_rows = rows[0], rows[1:]
    slowest = max(cli_rows, key=lambda r: r["median_s"])
    print(f"{'command':<28} {'median s':>9} {'max s':>7} {'peak RSS':>9}")
    for row in cli_rows + [baseline]:
        print(f"{row['command']:<28} {row['median_s']:9.3f} {row['max_s']:7.3f} {row['peak_rss_bytes'] / 2**20:5.0f} MiB")
    print(f"slowest median: {slowest['median_s']:.3f} s, {slowest['command']} (goal < {GOAL_S} s); "
          f"the bare interpreter takes {baseline['median_s']:.3f} s")
    if args.json:
        result = {
            "command": "python " + " ".join(sys.argv),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "versions": {"python": platform.python_version(), "r1cli": __version__},
            "entry_point": " ".join(base),
            "repeats": args.repeats,
            "goal_s": GOAL_S,
            "baseline": baseline,
            "commands": cli_rows,
            "slowest": slowest,
            "memory": {"measure": "peak RSS of each command's own process, one untimed run through a fork-and-exec "
                                  "launcher (`python -S`, a few MiB, is the floor)",
                       "per_side": True, "sides_bytes": {r["command"]: r["peak_rss_bytes"] for r in rows}},
        }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
