"""Math-reward checking throughput: the deadline pool against a serial in-process loop.

    python benchmarks/bench_reward.py
    R1CLI_WORKERS=4 python benchmarks/bench_reward.py --items 4000 --deadline 5
    python benchmarks/bench_reward.py --pathological 0.03 2>&1 | tee bench.txt
    python benchmarks/bench_reward.py --items 1000 --repeat 5 --json reward.json   # as benchmarks/run_all.py runs it on a CPU

Inputs: (gold, completion) pairs made from MATH-500 when ../shared/data (or shared/data inside
the checkout) exists (per problem, a group of four completions: its reference solution and
three other problems' solutions; 2,000 distinct pairs in problem order, as `reward` and GRPO
see them), else generated fraction problems. Both sides call the same
`check_math` (math-verify parse + verify, gold parse cached per process) with caches cleared
and math-verify warmed up first; the pool's start-up is timed separately.

Then the same clean inputs with pathological completions mixed in (exponent towers, huge
factorials, a million digits, deep brackets) to show per-item latency under the deadline. The
serial loop cannot bound those (they run for hours in-process), so it runs on the clean
inputs only.

The clean measurements print the best of --repeat runs and also their medians and spread
(benchmarks/run_all.py reports the medians). Peak memory (see peakmem.py): the serial side is
this process's peak RSS while the serial runs ran; the pool side is this process's peak RSS while
the pool runs ran plus each worker's own peak RSS (VmHWM, reset before the pool runs). Workers
are forked from one preloaded server, so pages they share are counted once in each of them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout on the development machines; shared/ inside it where only the
# checkout travels (the lent GPU machines), else generated problems.
SHARED = next((base / "shared" / "data" / "math500" / "test.jsonl" for base in (ROOT.parent, ROOT)
               if (base / "shared" / "data" / "math500" / "test.jsonl").exists()),
              ROOT.parent / "shared" / "data" / "math500" / "test.jsonl")
sys.path.insert(0, str(ROOT / "src"))
# Workers import functions by module name and never run this script, so the timing wrapper
# below must be imported from a module called `bench_reward`, not `__main__`.
sys.path.insert(0, str(Path(__file__).resolve().parent))

PATHOLOGICAL = [
    r"The answer is \boxed{9^{9^{9^{9}}}}.",
    r"\boxed{(10^{10})!}",
    r"\boxed{10^{10^{10}} - 10^{10^{10}} + 5}",
    "<answer>" + "7" * 1_000_000 + "</answer>",
    r"\boxed{" + r"\left(" * 2000 + "5" + r"\right)" * 2000 + "}",
    "<answer>" + "(" * 5000 + "5" + ")" * 5000 + "</answer>",
]


def timed_check(item):
    """`check_math` and its own duration, measured inside the worker."""
    from r1cli.rewards.accuracy import check_math

    t0 = time.perf_counter()
    result = check_math(item)
    return result, time.perf_counter() - t0


def clear_caches(pause):
    """Forget parsed golds and sympy's cache; `pause` makes every worker get one of these."""
    import sympy.core.cache

    from r1cli.rewards.accuracy import _parse_gold

    _parse_gold.cache_clear()
    sympy.core.cache.clear_cache()
    if pause:
        time.sleep(pause)


def check_all(chunk):
    """A whole chunk in one call: two of these side by side are parallel work with no IPC at all."""
    from r1cli.rewards.accuracy import check_math

    return [check_math(item) for item in chunk]


def clean_items(n: int, seed: int) -> tuple[list[tuple[str, str]], str]:
    rng = random.Random(seed)
    if SHARED.exists():
        rows = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").splitlines() if line.strip()]
        # As `reward` and GRPO see them: a group of completions per problem, one right (the
        # reference solution) and three wrong (other problems' solutions), in problem order.
        items = []
        for i, row in enumerate(rows):
            items.append((row["answer"], row["solution"]))
            for k in (1, 2, 3):
                items.append((row["answer"], rows[(i + k * 97) % len(rows)]["solution"]))
        source = f"MATH-500 ({SHARED})"
    else:
        items = []
        for _ in range(n):
            a, b, k = rng.randint(1, 99), rng.randint(2, 99), rng.randint(1, 9)
            pred = rf"We simplify. The answer is $\boxed{{\frac{{{a * k}}}{{{b * k}}}}}$." if rng.random() < 0.5 else rf"So \boxed{{{a / b:.6f}}}"
            items.append((rf"\frac{{{a}}}{{{b}}}", pred))
        source = "generated fractions (../shared/data absent)"
    while len(items) < n:
        items += items[: n - len(items)]
    return items[:n], source


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the given processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="clean (gold, completion) pairs")
    parser.add_argument("--workers", type=int, default=2, help="pool size (default 2)")
    parser.add_argument("--deadline", type=float, default=2.0, help="per-item deadline in seconds for the pool")
    parser.add_argument("--pathological", type=float, default=0.02, help="share of pathological items in the latency run")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each clean measurement; the best and the median are reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    import bench_reward  # this file under its module name, for the workers
    import math_verify  # noqa: F401  (imported before any timing)
    from peakmem import PeakMemory, mib, reset_rss_peak, rss_peak

    from r1cli import __version__, pool
    from r1cli.rewards import accuracy

    items, source = clean_items(args.items, args.seed)
    load_start = os.getloadavg()[0]
    print(f"command   : {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"machine   : {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable, load average {load_start:.2f} (shared host)")
    print(f"versions  : python {platform.python_version()}, r1cli {__version__}, math-verify {version('math-verify')}, "
          f"latex2sympy2_extended {version('latex2sympy2_extended')}, sympy {version('sympy')}, "
          f"antlr4-python3-runtime {version('antlr4-python3-runtime')}")
    print(f"inputs    : {len(items)} clean (gold, completion) pairs from {source}")
    print()

    # The machine's own ceiling: the same work split in `workers` contiguous chunks, each
    # checked in one call in its own process (no per-item messages, no deadlines). On a shared
    # host this is below workers x serial, and no pool can beat it.
    size = -(-len(items) // args.workers)
    chunks = [items[k : k + size] for k in range(0, len(items), size)]

    pool.shutdown()
    t0 = time.perf_counter()
    pool.map_with_deadline(accuracy.check_math, [("1", r"\boxed{1}")], 60.0, workers=args.workers, preload=accuracy.PRELOAD)
    startup_s = time.perf_counter() - t0
    # One untimed pass on each side: parsers (antlr's DFA cache, sympy's) grow warm in a
    # long-lived process, and the pool's workers are long-lived too.
    [accuracy.check_math(item) for item in items]
    pool.map_with_deadline(accuracy.check_math, items, 60.0, workers=args.workers)
    pids = pool.get_pool(args.workers).pids()

    serial_s = pool_s = ceiling_s = math.inf
    runs: dict[str, list[float]] = {"serial": [], "pool": [], "ceiling": []}
    mem = PeakMemory("cpu")
    workers_reset = all(reset_rss_peak(pid) for pid in pids)
    # Best of --repeat, the three interleaved so that the other users' load hits them alike.
    # Before each run both sides forget their parsed golds and sympy's cache, so each run does
    # the same work.
    for _ in range(args.repeat):
        clear_caches(None)
        with mem.side("serial"):
            t0, c0 = time.perf_counter(), time.process_time()
            serial = [accuracy.check_math(item) for item in items]
            runs["serial"].append(time.perf_counter() - t0)
        if runs["serial"][-1] < serial_s:
            serial_s, serial_cpu = runs["serial"][-1], time.process_time() - c0

        pool.map_with_deadline(bench_reward.clear_caches, [0.05] * 4 * args.workers, 60.0, workers=args.workers)
        with mem.side("pool_parent"):
            t0, c0, w0 = time.perf_counter(), time.process_time(), cpu_seconds(pids)
            pooled = pool.map_with_deadline(accuracy.check_math, items, args.deadline, on_timeout=0.0, workers=args.workers)
            runs["pool"].append(time.perf_counter() - t0)
        if runs["pool"][-1] < pool_s:
            pool_s, parent_cpu, worker_cpu = runs["pool"][-1], time.process_time() - c0, cpu_seconds(pids) - w0
        disagree = sum(a != b for a, b in zip(serial, pooled))

        pool.map_with_deadline(bench_reward.clear_caches, [0.05] * 4 * args.workers, 60.0, workers=args.workers)
        t0 = time.perf_counter()
        pool.map_with_deadline(bench_reward.check_all, chunks, 3600.0, workers=args.workers)
        runs["ceiling"].append(time.perf_counter() - t0)
        ceiling_s = min(ceiling_s, time.perf_counter() - t0)
    assert pool.get_pool(args.workers).pids() == pids, "a worker was replaced during the clean runs"
    # The workers' peaks also cover the ceiling's chunks, which run in the same workers and do
    # the same work per item; they are the pool side's figure.
    worker_peaks = [rss_peak(pid) for pid in pids]

    print(f"{f'clean inputs, best of {args.repeat}':<28}{'items/s':>10}{'wall s':>10}")
    print(f"{'serial, in-process':<28}{len(items) / serial_s:>10.1f}{serial_s:>10.2f}")
    print(f"{f'pool, {args.workers} workers':<28}{len(items) / pool_s:>10.1f}{pool_s:>10.2f}")
    print(f"{f'ceiling, {args.workers} processes':<28}{len(items) / ceiling_s:>10.1f}{ceiling_s:>10.2f}   (one chunk per process, no IPC)")
    print(f"speed-up  : pool {serial_s / pool_s:.2f}x, ceiling {serial_s / ceiling_s:.2f}x over serial (goal >= 1.8x with 2 workers on 2 cores);"
          f" the pool reaches {ceiling_s / pool_s:.0%} of the ceiling")
    print(f"CPU time  : serial {serial_cpu:.2f} s; pool {worker_cpu:.2f} s in workers + {parent_cpu:.2f} s in the parent"
          f" (work the pool adds: {(worker_cpu + parent_cpu) / serial_cpu - 1:+.0%};"
          f" speed-up if both cores were ours and perfectly balanced: {serial_cpu / max(worker_cpu / args.workers, parent_cpu):.2f}x)")
    print(f"pool start: {startup_s:.2f} s to the first answer, once per process (forkserver + preloaded math-verify), not in the figures above")
    print(f"agreement : {len(items) - disagree}/{len(items)} scores equal between serial and pool"
          f" (right answers: {sum(s == 1.0 for s in serial)})")
    med = {name: statistics.median(ts) for name, ts in runs.items()}
    print(f"medians   : serial {len(items) / med['serial']:.1f}, pool {len(items) / med['pool']:.1f}, ceiling "
          f"{len(items) / med['ceiling']:.1f} items/s; pool speed-up {med['serial'] / med['pool']:.2f}x"
          f"  (wall s: serial {', '.join(f'{t:.2f}' for t in runs['serial'])}; pool {', '.join(f'{t:.2f}' for t in runs['pool'])})")
    print(f"memory    : serial {mib(mem.sides['serial'])} (this process); pool {mib(mem.sides['pool_parent'])} (this process) + "
          f"workers {', '.join(mib(w) for w in worker_peaks)}  (peak RSS{'' if workers_reset else '; workers since their start'})")
    print()
    result = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable",
        "load_average_start": load_start,
        "versions": {"python": platform.python_version(), "r1cli": __version__, "math-verify": version("math-verify"),
                     "sympy": version("sympy")},
        "inputs": {"items": len(items), "source": source, "workers": args.workers, "deadline_s": args.deadline,
                   "repeat": args.repeat},
        "clean": {name: {"seconds": [round(t, 4) for t in ts], "seconds_median": med[name], "seconds_best": min(ts),
                         "items_per_s_median": len(items) / med[name]} for name, ts in runs.items()},
        "speedup_pool_over_serial_median": med["serial"] / med["pool"],
        "speedup_pool_over_serial_best": serial_s / pool_s,
        "agreement": {"equal": len(items) - disagree, "items": len(items)},
        "pool_startup_s": startup_s,
        "memory": {**mem.report(), "worker_peak_rss_bytes": worker_peaks, "workers_reset": workers_reset,
                   "sides_bytes": {"serial": mem.sides["serial"],
                                   "pool": mem.sides["pool_parent"] + sum(w or 0 for w in worker_peaks)},
                   "measure": "peak RSS: serial = this process while serial ran; pool = this process while the pool ran "
                              "+ the sum of the workers' own peaks (pages shared between workers counted in each)"},
    }

    # Latency with pathological completions mixed in, through the pool only (warm caches).
    rng = random.Random(args.seed + 1)
    n_bad = round(args.pathological * len(items))
    if n_bad == 0:
        pool.shutdown()
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        return
    mixed = list(items)
    for k in range(n_bad):
        mixed.insert(rng.randrange(len(mixed) + 1), ("5", PATHOLOGICAL[k % len(PATHOLOGICAL)]))
    before = pool.get_pool(args.workers).replaced
    t0 = time.perf_counter()
    out = pool.map_with_deadline(bench_reward.timed_check, mixed, args.deadline, on_timeout=None, workers=args.workers)
    mixed_s = time.perf_counter() - t0
    cut = sum(o is None for o in out)
    latencies = [args.deadline if o is None else o[1] for o in out]
    clean_latencies = [o[1] for o in out if o is not None]
    print(f"mixed run : {len(mixed)} items, {n_bad} pathological ({n_bad / len(mixed):.1%}), deadline {args.deadline:g} s, "
          f"{len(mixed) / mixed_s:.1f} items/s, wall {mixed_s:.1f} s")
    print(f"            {cut} cut off at the deadline (worker killed and replaced: {pool.get_pool(args.workers).replaced - before}),"
          f" scored 0.0 by the math reward")
    print(f"latency   : all items   p50 {1000 * percentile(latencies, 50):8.1f} ms   p99 {1000 * percentile(latencies, 99):8.1f} ms"
          f"   max {1000 * max(latencies):8.1f} ms  (cut-off items counted at the deadline)")
    print(f"            finished    p50 {1000 * percentile(clean_latencies, 50):8.1f} ms   p99 {1000 * percentile(clean_latencies, 99):8.1f} ms"
          f"   mean {1000 * statistics.fmean(clean_latencies):8.1f} ms  (time inside the worker)")
    print("serial    : not run on the mixed set: in-process the pathological items do not finish (hours, or memory)")
    result["mixed"] = {
        "items": len(mixed), "pathological": n_bad, "deadline_s": args.deadline, "seconds": mixed_s,
        "items_per_s": len(mixed) / mixed_s, "cut_off": cut, "workers_replaced": pool.get_pool(args.workers).replaced - before,
        "latency_ms_all": {"p50": 1000 * percentile(latencies, 50), "p99": 1000 * percentile(latencies, 99),
                           "max": 1000 * max(latencies)},
        "latency_ms_finished": {"p50": 1000 * percentile(clean_latencies, 50), "p99": 1000 * percentile(clean_latencies, 99),
                                "mean": 1000 * statistics.fmean(clean_latencies)},
    }
    pool.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
