"""The `math` reward on normal answers alone and with pathological answers mixed in (20%).

    python benchmarks/bench_math_guards.py                            # guards on: 800 normal + 200 pathological, 3 repeats
    python benchmarks/bench_math_guards.py --no-guards --repeat 1     # as before the guards: about 7 minutes, mostly deadlines
    python benchmarks/bench_math_guards.py --survey                   # also time every MATH-500 and GSM8K gold check (the deadline's basis)

Normal answers: (gold, completion) pairs from MATH-500 and GSM8K test, right and wrong (the
reference solution, the gold in `<answer>` tags, another problem's solution or answer, a GSM8K
number off by one). Pathological answers are generated here, each one distinct: power towers and
huge exponents, sums of 50,000 characters, `\\frac` and `\\sqrt` nested 20 to 130 deep, brackets
nested thousands deep, `100000!` and `(10^{10})!`, `\\binom{10^6}{500000}`, 10,000 boxes,
300x300 matrices, a million digits, `(x+1)^{1000}`, each boxed or in `<answer>` tags, with the
gold of a normal pair.

Both sides call `math_accuracy` on the process-wide checking pool (2 workers by default), one
side after the other in every repeat (which goes first alternates), with the reward's cache
emptied before each call; the pool is started and warmed before the first timed call. The
ratio is the mix's median time over the normal side's median. `--no-guards` swaps
`math_guards.screen` for one that lets everything through, in this process only (the guards run
in the parent, before the pool). Every normal answer's score must be the same on both sides and
with the guards off; the script stops with an error where it is not.

`--survey` times each legitimate check on its own inside a checking worker: each MATH-500 and
GSM8K test gold against itself (in `<answer>` tags) and against its reference solution (GSM8K's
`#### N` written as `\\boxed{N}`). "cold": each check in a fresh fork of an idle worker, with
nothing parsed before it but the forkserver's warm-up, which is the state of a worker that has
just replaced a killed one; "warm": the same checks one after the other in the pool's workers.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout on the development machines, shared/ inside it elsewhere.
DATA = next((base / "shared" / "data" for base in (ROOT.parent, ROOT) if (base / "shared" / "data" / "math500").exists()),
            ROOT.parent / "shared" / "data")
sys.path.insert(0, str(ROOT / "src"))
# Workers import functions by module name and never run this script: the survey's functions must
# come from a module called `bench_math_guards`, not `__main__`.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def gsm8k_gold(row: dict) -> str:
    return row["answer"].rsplit("####", 1)[1].strip().replace(",", "")


def gsm8k_solution(row: dict) -> str:
    reasoning, gold = row["answer"].rsplit("####", 1)
    return f"{reasoning.strip()}\nThe answer is $\\boxed{{{gold.strip()}}}$."


def normal_items(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """`n` (gold, completion) pairs, half from each data set, right and wrong."""
    math500 = read_jsonl(DATA / "math500" / "test.jsonl")
    gsm8k = read_jsonl(DATA / "gsm8k" / "test.jsonl")
    math_items, gsm_items = [], []
    for i, row in enumerate(math500):
        other = math500[(i + 250) % len(math500)]
        math_items += [(row["answer"], row["solution"]), (row["answer"], f"<answer>{row['answer']}</answer>"),
                       (row["answer"], other["solution"]), (row["answer"], f"<answer>{other['answer']}</answer>")]
    for row in gsm8k:
        gold = gsm8k_gold(row)
        wrong = str(int(gold) + 1) if gold.lstrip("-").isdigit() else gold + "1"
        gsm_items += [(gold, gsm8k_solution(row)), (gold, f"<answer>{gold}</answer>"), (gold, f"The answer is \\boxed{{{wrong}}}.")]
    return rng.sample(math_items, n // 2) + rng.sample(gsm_items, n - n // 2)


def _nest(template: str, depth: int, core: str) -> str:
    for _ in range(depth):
        core = template.format(core)
    return core


def _matrix(n: int, rng: random.Random) -> str:
    rows = (" & ".join(str(rng.randint(0, 99)) for _ in range(n)) for _ in range(n))
    return r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"


def pathological(k: int, rng: random.Random) -> str:
    """The k-th pathological completion (the kinds in turn, each with its own numbers)."""
    a, b = rng.randint(3, 9), rng.randint(3, 9)  # 2^{2^{2^{2}}} is only 65536
    kinds = [
        lambda: rf"\boxed{{{a}^{{{b}^{{{a}^{{{b}}}}}}}}}",
        lambda: f"<answer>{a}^{b}^{a}^{b}^{a}</answer>",
        lambda: rf"\boxed{{{a}^{{{rng.randint(10**8, 10**9)}}}}}",
        lambda: r"\boxed{" + "+".join(str(rng.randint(1, 999)) for _ in range(12_500)) + "}",
        lambda: r"\boxed{" + _nest(r"\frac{{1}}{{{}}}", rng.randint(20, 90), str(a)) + "}",
        lambda: r"\boxed{" + _nest(r"\sqrt{{{}}}", rng.randint(50, 130), str(a)) + "}",
        lambda: "<answer>" + _nest("({})", rng.randint(500, 5000), str(a)) + "</answer>",
        lambda: rf"\boxed{{{rng.randint(100_000, 200_000)}!}}",
        lambda: rf"\boxed{{(10^{{{rng.randint(10, 12)}}})!}}",
        lambda: rf"\boxed{{\binom{{10^6}}{{{rng.randint(400_000, 500_000)}}}}}",
        lambda: " ".join(rf"\boxed{{{rng.randint(1, 10**6)}}}" for _ in range(10_000)),
        lambda: r"\boxed{" + _matrix(300, rng) + "}",
        lambda: "<answer>" + str(a) * 1_000_000 + "</answer>",
        lambda: rf"\boxed{{(x+{a})^{{{rng.randint(1000, 5000)}}}}}",
    ]
    return kinds[k % len(kinds)]()


def timed_check(item):
    """`check_math` and its own duration, measured inside the worker."""
    from r1cli.rewards.accuracy import check_math

    t0 = time.perf_counter()
    score = check_math(item)
    return score, time.perf_counter() - t0


def cold_check(item):
    """`timed_check` in a fresh fork of this worker, which runs nothing itself: every check
    starts from the state a replacement worker starts from."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.write(write_end, pickle.dumps(timed_check(item)))
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return pickle.loads(b"".join(chunks))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def survey(workers: int) -> None:
    import bench_math_guards

    from r1cli import pool
    from r1cli.rewards.math_guards import screen

    math500 = read_jsonl(DATA / "math500" / "test.jsonl")
    gsm8k = read_jsonl(DATA / "gsm8k" / "test.jsonl")
    sets = {
        "MATH-500 gold vs itself": [(r["answer"], f"<answer>{r['answer']}</answer>") for r in math500],
        "MATH-500 gold vs solution": [(r["answer"], r["solution"]) for r in math500],
        "GSM8K gold vs itself": [(gsm8k_gold(r), f"<answer>{gsm8k_gold(r)}</answer>") for r in gsm8k],
        "GSM8K gold vs solution": [(gsm8k_gold(r), gsm8k_solution(r)) for r in gsm8k],
    }
    every = [item for items in sets.values() for item in items]
    t0 = time.perf_counter()
    rejected = [item for item in every if screen(item[1]) is not None]
    screen_us = 1e6 * (time.perf_counter() - t0) / len(every)
    print(f"survey    : {len(every)} legitimate checks; the guards reject {len(rejected)} of them, {screen_us:.1f} us each in the parent")
    print(f"{'check time (ms)':<34}{'n':>6}{'right':>7}{'p50':>9}{'p99':>9}{'max':>9}   slowest")
    slowest_cold = 0.0
    for mode, fn in (("cold", bench_math_guards.cold_check), ("warm", bench_math_guards.timed_check)):
        pool.map_with_deadline(fn, [("1", "1")] * workers, 60.0, workers=workers)
        for name, items in sets.items():
            out = pool.map_with_deadline(fn, items, 60.0, on_timeout=(None, 60.0), workers=workers)
            ms = [1000 * t for _, t in out]
            worst = max(range(len(items)), key=ms.__getitem__)
            if mode == "cold":
                slowest_cold = max(slowest_cold, ms[worst])
            right = sum(score == 1.0 for score, _ in out)
            print(f"{mode + ', ' + name:<34}{len(items):>6}{right:>7}{percentile(ms, 50):>9.1f}{percentile(ms, 99):>9.1f}"
                  f"{ms[worst]:>9.1f}   {items[worst][0][:40]!r}")
    print(f"slowest   : {slowest_cold:.0f} ms cold; the default deadline, {_default_timeout():g} s, is "
          f"{_default_timeout() * 1000 / slowest_cold:.0f}x that")
    print()


def _default_timeout() -> float:
    import inspect

    from r1cli.rewards.accuracy import math_accuracy

    return inspect.signature(math_accuracy).parameters["timeout"].default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal", type=int, default=800, help="normal (gold, completion) pairs")
    parser.add_argument("--pathological", type=int, default=200, help="pathological completions mixed in")
    parser.add_argument("--workers", type=int, default=2, help="checking pool size (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side; medians are compared")
    parser.add_argument("--deadline", type=float, help="per-check deadline in seconds (default: the reward's own)")
    parser.add_argument("--no-guards", action="store_true", help="let every answer through to the pool, as before the guards")
    parser.add_argument("--survey", action="store_true", help="first time every MATH-500 / GSM8K gold check, cold and warm")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (DATA / "math500" / "test.jsonl").exists() or not (DATA / "gsm8k" / "test.jsonl").exists():
        sys.exit(f"needs MATH-500 and GSM8K test under {DATA} (../shared/data beside the checkout, or shared/data inside it)")

    from r1cli import pool
    from r1cli.rewards import accuracy

    deadline = args.deadline or _default_timeout()
    print(f"command   : {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"machine   : {platform.platform()}, {os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable, "
          f"load average {os.getloadavg()[0]:.2f} (shared host)")
    pool.map_with_deadline(accuracy.check_math, [("1", r"\boxed{1}")], 60.0, workers=args.workers, preload=accuracy.PRELOAD)
    if args.survey:
        survey(args.workers)

    rng = random.Random(args.seed)
    normal = normal_items(args.normal, rng)
    # The mix: the same normal pairs in the same order, pathological ones inserted at random places.
    slots = set(rng.sample(range(len(normal) + args.pathological), args.pathological))
    bad = iter([(normal[rng.randrange(len(normal))][0], pathological(k, rng)) for k in range(args.pathological)])
    good = iter(normal)
    mix = [next(bad) if i in slots else next(good) for i in range(len(normal) + args.pathological)]
    is_normal = [i not in slots for i in range(len(mix))]
    print(f"inputs    : {len(normal)} normal pairs (MATH-500 and GSM8K test); the mix adds {args.pathological} pathological "
          f"({args.pathological / len(mix):.0%} of {len(mix)}); {args.workers} workers, deadline {deadline:g} s, "
          f"guards {'OFF' if args.no_guards else 'on'}")
    guards = collections.Counter((accuracy.screen(c) or "none:").split(":")[0] for (_, c), keep in zip(mix, is_normal) if not keep)
    print(f"guards    : pathological items by the guard that rejects them (when on): "
          f"{', '.join(f'{name} {count}' for name, count in guards.most_common())}")

    def score(items):
        accuracy._CACHE.clear()
        return accuracy.math_accuracy([c for _, c in items], answer=[g for g, _ in items], timeout=deadline)

    # Every normal score is the reference with the guards on and off; untimed, and it warms the
    # workers' parsers on these very answers for both sides alike.
    guards_on = score(normal)
    real_screen = accuracy.screen
    accuracy.screen = lambda text: None
    guards_off = score(normal)
    if not args.no_guards:
        accuracy.screen = real_screen
    assert guards_on == guards_off, "the guards changed a normal score"

    times: dict[str, list[float]] = {"normal": [], "mix": []}
    replaced = []
    for r in range(args.repeat):
        for side in (("normal", "mix") if r % 2 == 0 else ("mix", "normal")):
            items = normal if side == "normal" else mix
            before = pool.get_pool(args.workers).replaced
            t0 = time.perf_counter()
            scores = score(items)
            times[side].append(time.perf_counter() - t0)
            if side == "mix":
                replaced.append(pool.get_pool(args.workers).replaced - before)
                scores = [s for s, keep in zip(scores, is_normal) if keep]
            assert scores == guards_on, f"{side}: a normal score differs from the reference run"
    pool.shutdown()

    med = {side: statistics.median(ts) for side, ts in times.items()}
    paired = [m / n for n, m in zip(times["normal"], times["mix"])]
    print(f"scores    : all {len(normal)} normal scores equal on both sides and with the guards on or off"
          f" ({sum(s == 1.0 for s in guards_on)} right)")
    print(f"normal    : median {med['normal']:.2f} s  (runs {', '.join(f'{t:.2f}' for t in times['normal'])})")
    print(f"mix       : median {med['mix']:.2f} s  (runs {', '.join(f'{t:.2f}' for t in times['mix'])});"
          f" workers killed at the deadline and replaced: {', '.join(map(str, replaced))}")
    print(f"paired    : run by run {', '.join(f'{p:.2f}x' for p in paired)} (goal <= 3x)")
    print(f"ratio : {med['mix'] / med['normal']:.2f}x")


if __name__ == "__main__":
    main()
