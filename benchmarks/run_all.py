"""Every benchmark in this folder in one command: one markdown table and one JSON file.

    python benchmarks/run_all.py                                    # the mode of this machine: gpu with CUDA, else cpu
    python benchmarks/run_all.py --mode cpu --out runs/bench/cpu.md   # also writes runs/bench/cpu.json
    python benchmarks/run_all.py --mode gpu --only cli,sample,reward  # a subset, e.g. to fit a 10-minute slot
    python benchmarks/run_all.py --mode gpu --list                  # print the commands and stop

Each benchmark script runs in its own process with `--json`, one after the other, at the
mode's sizes (BENCHMARKS below): `cpu` uses small shapes that finish in a few minutes in all;
`gpu` uses the Qwen2.5-0.5B-shaped targets of the scripts, with the amount of work trimmed
where a run would not fit a 10-minute slot. `--mode cpu` hides CUDA from the scripts, so it
measures the CPU even on a GPU host.

The table has one row per comparison: the baseline and r1cli's side, their medians, r1cli's
ratio to the baseline, the goal and whether it is met, the spread of the runs, and each side's
peak memory as the script measured it (peakmem.py: CUDA's allocator peak per side on a GPU,
the process's peak RSS while the side ran on a CPU). Below it: the machine, versions, date,
load averages, this command and each script's exact command, wall time and process peak RSS.
Every script's own JSON and output log are kept in a folder beside the table.

A shared, noisy machine is handled as well as this can be: before measuring, the suite waits
(up to --wait-load seconds) for the 1-minute load average to drop below --max-load and records
what it was; on CPU the model benchmarks run one torch thread (with two, a core taken by
another user stalls every matrix product); every script alternates its sides run by run and
the table reports medians with the spread of the runs, and in its notes the median of the
run-by-run ratios (run i of each side ran back to back, under about the same load).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name: (script, arguments in cpu mode, arguments in gpu mode)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "cli": ("bench_cli.py", ["--repeats", "5"], ["--repeats", "5"]),
    "sample": ("bench_sample.py",
               ["--threads", "1", "--repeats", "5"],
               # Qwen2.5-0.5B's shape; 64 prompts x K=8 x 256 tokens rather than the script's
               # GPU example (256 x 8 x 512): seven runs of a million tokens through `generate`
               # would not fit a 10-minute slot (an estimate: nothing here has run on a GPU yet).
               ["--hidden-size", "896", "--layers", "24", "--prompts", "64", "--k", "8", "--max-new-tokens", "256",
                "--batch-size", "16", "--repeats", "3"]),
    "fast": ("bench_fast.py",
             # tiny only: at the speeds RESULTS.md gives for the script's second CPU shape
             # (cpu-large, about 200 tok/s plain), its eight runs alone would take minutes.
             ["--shape", "tiny", "--threads", "1", "--repeats", "3"],
             # The script's CUDA defaults: batch 64 prompts, K=8, 512 new tokens, 128 prompts.
             ["--shape", "qwen2.5-0.5b", "--repeats", "3"]),
    "reward": ("bench_reward.py",
               ["--items", "1000", "--repeat", "5"],
               ["--items", "2000", "--repeat", "5"]),
    "grpo": ("bench_grpo.py",
             # 5 short runs a side rather than 3 long ones: more pairs to take a median of.
             ["--threads", "1", "--steps", "6", "--repeats", "5"],
             # Qwen2.5-0.5B's shape; 10 steps of 128 new tokens rather than 20 of 256, meant to
             # fit a 10-minute slot with the fast benchmark (an estimate, as for sample).
             ["--hidden-size", "896", "--layers", "24", "--steps", "10", "--max-completion-length", "128", "--repeats", "3"]),
}
VERSIONS = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "math-verify")
MIB = 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("cpu", "gpu"), help="default: gpu where torch sees CUDA, else cpu")
    ap.add_argument("--out", help="markdown file (the JSON goes beside it); default runs/benchmarks/suite-MODE-DATE.md")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    ap.add_argument("--max-load", type=float, default=1.5, help="wait for the 1-minute load average to drop below this")
    ap.add_argument("--wait-load", type=float, default=180, help="wait at most this many seconds for it (0: do not wait)")
    ap.add_argument("--list", action="store_true", help="print the commands and stop")
    args = ap.parse_args()

    gpu = _gpu() if args.mode != "cpu" else None
    mode = args.mode or ("gpu" if gpu else "cpu")
    names = list(BENCHMARKS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    started = dt.datetime.now().astimezone()
    out = Path(args.out or ROOT / "runs" / "benchmarks" / f"suite-{mode}-{started:%Y%m%d-%H%M%S}.md").resolve()
    work = out.with_suffix("")  # each script's JSON and log
    # Paths relative to the repository root, where the scripts run, so the commands shown can
    # be pasted there as they are.
    commands = {n: [sys.executable, _rel(HERE / BENCHMARKS[n][0]), *BENCHMARKS[n][1 if mode == "cpu" else 2],
                    "--json", _rel(work / f"{n}.json")] for n in names}
    if args.list:
        for n in names:
            print(_show(commands[n]))
        return 0
    if mode == "gpu" and not gpu:
        ap.error("--mode gpu: torch sees no CUDA GPU here")

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # The working tree's code is what is measured, installed or not (a GPU host may only have
    # the checkout); the scripts find peakmem.py beside themselves.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    if mode == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # `auto` then picks the CPU even on a GPU host

    work.mkdir(parents=True, exist_ok=True)
    versions = _versions()  # before the runs: the git commit is the code the runs start from
    load = {"at_start": os.getloadavg()}
    waited = _wait_for_quiet(args.max_load, args.wait_load)
    load["when_measuring_began"] = os.getloadavg()
    load["waited_s"] = waited
    _say(f"load average {_loads(load['at_start'])} at start, {_loads(load['when_measuring_began'])} after waiting "
         f"{waited:.0f} s (threshold {args.max_load:g})")

    t_suite = time.perf_counter()
    runs = {}
    for n in names:
        runs[n] = _run(n, commands[n], env, work)
    wall = time.perf_counter() - t_suite
    load["at_end"] = os.getloadavg()

    rows = []
    for n in names:
        rows += _rows(n, runs[n], mode)
    suite = {
        "date": started.isoformat(timespec="seconds"),
        "mode": mode,
        "command": _show([Path(sys.executable).name, *sys.argv]),
        "cwd": os.getcwd(),
        "note": "the scripts' commands run in the repository root",
        "machine": _machine(gpu if mode == "gpu" else None),
        "versions": versions,
        "load_average": load,
        "max_load": args.max_load,
        "wall_s": wall,
        "rows": rows,
        "runs": runs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_markdown(suite))
    out.with_suffix(".json").write_text(json.dumps(suite, indent=2) + "\n")
    sys.stdout.write(_markdown(suite))
    _say(f"wrote {out} and {out.with_suffix('.json')} (suite wall time {wall:.0f} s)")
    return 0 if all(r["exit_code"] == 0 for r in runs.values()) else 1


# ---------------------------------------------------------------------------------------------
# running


def _run(name: str, argv: list[str], env: dict, work: Path) -> dict:
    """One script in its own process; its output goes to a log and to our stderr."""
    _say(f"[{name}] {_show(argv)}")
    log = work / f"{name}.log"
    json_path = ROOT / argv[argv.index("--json") + 1]
    json_path.unlink(missing_ok=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT, text=True)
        for line in proc.stdout:
            fh.write(line)
            sys.stderr.write(f"  {line}")
        # wait4, not Popen.wait: it also returns the child's peak RSS. The scripts' own figure
        # is preferred where they give one (their per-side resets lower this one: peakmem.py).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    result = json.loads(json_path.read_text()) if proc.returncode == 0 and json_path.exists() else None
    _say(f"[{name}] exit {proc.returncode} after {seconds:.0f} s")
    return {"command": _show(argv), "exit_code": proc.returncode, "wall_s": seconds, "log": str(log),
            "load_before": load_before, "load_after": os.getloadavg(),
            "wait4_peak_rss_bytes": usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024), "result": result}


def _wait_for_quiet(max_load: float, limit: float) -> float:
    """Wait until the 1-minute load average is below max_load, at most `limit` seconds."""
    t0 = time.monotonic()
    while os.getloadavg()[0] >= max_load and time.monotonic() - t0 < limit:
        _say(f"load average {os.getloadavg()[0]:.2f} >= {max_load:g}: waiting "
             f"({limit - (time.monotonic() - t0):.0f} s left before measuring anyway)")
        time.sleep(min(15.0, max(0.0, limit - (time.monotonic() - t0))))
    return time.monotonic() - t0


# ---------------------------------------------------------------------------------------------
# rows of the table: baseline vs r1cli, from each script's JSON


def _row(benchmark: str, compared: str, base: str, ours: str, ratio: float | None, goal: str, met: bool | None,
         spread: str = "", mem: tuple = (None, None), notes: str = "") -> dict:
    return {"benchmark": benchmark, "compared": compared, "baseline": base, "r1cli": ours,
            "ratio": None if ratio is None else round(ratio, 4), "goal": goal, "met": met, "spread": spread,
            "peak_memory_baseline_bytes": mem[0], "peak_memory_r1cli_bytes": mem[1], "notes": notes}


def _spread(*series: list[float]) -> str:
    """(max - min) / median of each side's runs, as a percentage."""
    return " / ".join(f"{(max(s) - min(s)) / statistics.median(s):.0%}" for s in series)


def _paired(numerator: list[float], denominator: list[float]) -> str:
    """The median of run-by-run ratios. The scripts alternate sides, so run i of each side ran
    back to back and saw about the same load from other users: on a shared machine this is
    steadier than the ratio of the two medians, which the table's ratio column shows."""
    return f"paired ratio {statistics.median(n / d for n, d in zip(numerator, denominator)):.3f}x"


def _rows(name: str, run: dict, mode: str) -> list[dict]:
    r = run["result"]
    if r is None:
        return [_row(name, "failed", "", "", None, "", False, notes=f"exit {run['exit_code']}; see {_rel(Path(run['log']))}")]
    mem = r.get("memory", {}).get("sides_bytes", {})
    if name == "cli":
        base, slowest = r["baseline"], r["slowest"]
        cli = r["commands"]
        return [_row(
            "CLI start-up", f"slowest of {len(cli)} `r1cli [COMMAND] --help` vs bare `python -c pass`, fresh process, "
            f"median of {r['repeats']}", f"{base['median_s']:.3f} s", f"{slowest['median_s']:.3f} s",
            slowest["median_s"] / base["median_s"], f"< {r['goal_s']} s each", slowest["median_s"] < r["goal_s"],
            _spread(base["runs_s"], slowest["runs_s"]),
            (base["peak_rss_bytes"], max(c["peak_rss_bytes"] for c in cli)),
            f"slowest: `{slowest['command']}`; `r1cli --help` {cli[0]['median_s']:.3f} s")]
    if name == "sample":
        raw, ours, w = r["raw_generate"], r["r1cli_sample"], r["work"]
        m = r["model"]
        return [_row(
            "`sample` vs raw `generate`", f"{m['parameters'] / 1e6:.1f}M params (hidden {m['hidden_size']}, {m['layers']} layers), "
            f"{w['prompts']} prompts x K={w['k']}, {w['max_new_tokens']} new tokens, batch {w['batch_size']}; tok/s, "
            f"median of {len(raw['seconds'])}", f"{raw['tokens_per_s']:.1f} tok/s", f"{ours['tokens_per_s']:.1f} tok/s",
            r["ratio_sample_over_raw"], ">= 0.95x", r["ratio_sample_over_raw"] >= 0.95,
            _spread(raw["seconds"], ours["seconds"]), (mem.get("raw_generate"), mem.get("r1cli_sample")),
            _paired(raw["seconds"], ours["seconds"])
            + ("" if raw["tokens"] == ours["tokens"] else f"; token counts differ: {raw['tokens']} vs {ours['tokens']}"))]
    if name == "fast":
        s = r["settings"]
        rows = []
        for shape in r["runs"]:
            m, goal = shape["model"], 3.0 if mode == "gpu" else 1.0
            smem = shape.get("memory", {}).get("sides_bytes", {})
            rows.append(_row(
                "fast vs plain backend", f"{shape['shape']}: {m['parameters'] / 1e6:.1f}M params, {m['dtype']}; "
                f"{s['prompts']} prompts x K={s['k']}, {s['max_new_tokens']} new tokens, batch {s['batch_size']}; tok/s, "
                f"median of {s['repeats']}", f"{shape['plain']['tokens_per_s']:.1f} tok/s",
                f"{shape['fast']['tokens_per_s']:.1f} tok/s", shape["ratio_fast_over_plain"], f">= {goal:g}x",
                shape["ratio_fast_over_plain"] >= goal, _spread(shape["plain"]["seconds"], shape["fast"]["seconds"]),
                (smem.get("plain"), smem.get("fast")),
                # tok/s per pair, with each side's median token count (counts barely vary by run)
                _paired([shape["fast"]["tokens"] / t for t in shape["fast"]["seconds"]],
                        [shape["plain"]["tokens"] / t for t in shape["plain"]["seconds"]])))
            if "bandwidth_bound" in shape:
                b = shape["bandwidth_bound"]
                share = shape["fast"]["share_of_bandwidth_bound"]
                rows.append(_row(
                    "fast vs memory-bandwidth bound", f"{shape['shape']}: the bound (weights + live KV read per decode step "
                    f"at {b['bandwidth_bytes_per_s'] / 1e9:.0f} GB/s) vs fast's tok/s", f"{b['tokens_per_s']:.1f} tok/s",
                    f"{shape['fast']['tokens_per_s']:.1f} tok/s", share, ">= 50% of the bound", share >= 0.5,
                    notes=f"plain reaches {shape['plain']['share_of_bandwidth_bound']:.0%}"))
        return rows
    if name == "reward":
        clean, inp = r["clean"], r["inputs"]
        rows = [_row(
            "`reward` pool vs serial", f"math-verify checks of {inp['items']} clean {inp['source'].split(' (')[0]} pairs, deadline pool "
            f"({inp['workers']} workers) vs one in-process loop; items/s, median of {inp['repeat']}",
            f"{clean['serial']['items_per_s_median']:.1f} items/s", f"{clean['pool']['items_per_s_median']:.1f} items/s",
            r["speedup_pool_over_serial_median"], f">= 1.8x ({inp['workers']} workers)",
            r["speedup_pool_over_serial_median"] >= 1.8, _spread(clean["serial"]["seconds"], clean["pool"]["seconds"]),
            (mem.get("serial"), mem.get("pool")),
            f"{_paired(clean['serial']['seconds'], clean['pool']['seconds'])}; "
            f"{r['agreement']['equal']}/{r['agreement']['items']} scores equal; best of {inp['repeat']}: "
            f"{r['speedup_pool_over_serial_best']:.2f}x; no-IPC ceiling {clean['ceiling']['items_per_s_median']:.1f} items/s; "
            f"pool memory = parent + workers {', '.join(f'{w / MIB:.0f}' for w in r['memory']['worker_peak_rss_bytes'] if w)} MiB")]
        if "mixed" in r:
            x = r["mixed"]
            rows.append(_row(
                "`reward` with pathological inputs", f"the pool on the same pairs with {x['pathological']} pathological "
                f"completions mixed in ({x['pathological'] / x['items']:.1%}), deadline {x['deadline_s']:g} s, vs the pool on "
                "clean pairs; items/s (the serial loop does not finish these)",
                f"{clean['pool']['items_per_s_median']:.1f} items/s", f"{x['items_per_s']:.1f} items/s (1 run)",
                x["items_per_s"] / clean["pool"]["items_per_s_median"],
                f"each pathological item cut off at the deadline ({x['pathological']})", x["cut_off"] == x["pathological"],
                notes=f"{x['cut_off']} cut off, {x['workers_replaced']} workers replaced; latency p50 "
                f"{x['latency_ms_all']['p50']:.1f} ms, p99 {x['latency_ms_all']['p99']:.0f} ms (cut-offs counted at the "
                f"deadline); finished items p99 {x['latency_ms_finished']['p99']:.1f} ms"))
        return rows
    if name == "grpo":
        p, o, s = r["plain_trl_s_per_step"], r["r1cli_s_per_step"], r["settings"]
        return [_row(
            "`grpo` vs plain TRL", f"hidden {s['hidden_size']}, {s['layers']} layers, LoRA r=16, G={s['num_generations']}, "
            f"batch {s['batch_size']}, {s['max_completion_length']} new tokens, {s['steps']} steps; ms/step, "
            f"median of {s['repeats']}", f"{statistics.median(p) * 1000:.1f} ms/step", f"{statistics.median(o) * 1000:.1f} ms/step",
            r["ratio_r1cli_over_plain"], f"<= {r.get('goal', 1.05)}x", r["ratio_r1cli_over_plain"] <= r.get("goal", 1.05), _spread(p, o),
            (mem.get("plain_trl"), mem.get("r1cli_grpo")), f"{_paired(o, p)}; time per step = train_runtime / steps")]
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# the report


def _markdown(s: dict) -> str:
    def mem(b: int | None) -> str:
        return "—" if b is None else f"{b / MIB:.0f} MiB"

    def met(m: bool | None) -> str:
        return "—" if m is None else ("yes" if m else "**no**")

    lines = [
        f"### Suite, {s['mode'].upper()}: `{s['command']}`",
        "",
        f"Date {s['date']}; machine: {s['machine']['summary']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in s["versions"].items()) + ".",
        f"Load average (1, 5, 15 min): {_loads(s['load_average']['at_start'])} at start; "
        f"{_loads(s['load_average']['when_measuring_began'])} when measuring began (after waiting "
        f"{s['load_average']['waited_s']:.0f} s for the 1-minute figure to drop below {s['max_load']:g}); "
        f"{_loads(s['load_average']['at_end'])} at the end. Suite wall time {s['wall_s']:.0f} s.",
        "",
        "| benchmark | compared | baseline | r1cli | ratio | goal | met | spread | peak mem baseline | peak mem r1cli | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        ratio = "—" if r["ratio"] is None else (f"{r['ratio']:.0%}" if "bound" in r["goal"] else f"{r['ratio']:.3f}x")
        lines.append(f"| {r['benchmark']} | {r['compared']} | {r['baseline']} | {r['r1cli']} | {ratio} | {r['goal']} | "
                     f"{met(r['met'])} | {r['spread']} | {mem(r['peak_memory_baseline_bytes'])} | "
                     f"{mem(r['peak_memory_r1cli_bytes'])} | {r['notes']} |")
    cpu = s["mode"] == "cpu"
    lines += [
        "",
        "Ratio: r1cli's figure over the baseline's (for `grpo`, time per step, so lower is better). Spread: "
        "(max - min) / median of each side's runs, baseline / r1cli. Peak memory: "
        + ("the process's peak RSS while that side ran (VmHWM, reset before each side). It is the whole process, so "
           "what both sides share (interpreter, libraries, the model) counts in both; compare the two sides, not a "
           "side with a model's size. CLI: each command process's own peak RSS. `reward` pool: the parent's peak "
           "plus each worker's (pages the forked workers share are counted in each)."
           if cpu else
           "torch.cuda.max_memory_allocated() while that side ran, reset between sides (tensors only, not the "
           "allocator's cache or the CUDA context); CLI and `reward`, which use no GPU: peak RSS as on a CPU."),
        "",
        "| benchmark | exact command | wall s | exit | load before -> after | process peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in s["runs"].items():
        # The script's own figure where it gives one: its per-side resets lower what wait4 sees.
        reported = ((run["result"] or {}).get("memory") or {}).get("process_peak_rss_bytes")
        peak = reported or run["wait4_peak_rss_bytes"]
        lines.append(f"| {name} | `{run['command']}` | {run['wall_s']:.0f} | {run['exit_code']} | "
                     f"{run['load_before'][0]:.2f} -> {run['load_after'][0]:.2f} | {mem(peak)} |")
    return "\n".join(lines) + "\n"


def _machine(gpu: dict | None) -> dict:
    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0))}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or platform.machine()
    try:
        kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
        info["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    if gpu:
        info.update(gpu)
    info["summary"] = (f"{info['cpu']}, {info['cpus']} CPUs ({info['usable_cpus']} usable)"
                       + (f", {info['memory_gib']} GiB" if "memory_gib" in info else "")
                       + (f", {info['gpu']} (CUDA {info['cuda']})" if "gpu" in info else "")
                       + f"; {info['platform']}")
    return info


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    sys.path.insert(0, str(ROOT / "src"))
    from r1cli import __version__

    out["r1cli"] = __version__ + _git()
    return out


def _git() -> str:
    """` (git abc1234)`, with `+ local changes` when the working tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" (git {head}{' + local changes in src/' if dirty else ''})"


def _gpu() -> dict | None:
    """The GPU torch sees, or None, asked in a child process. Not here: with torch imported this
    process would hold about 200 MiB, and on Linux a process's peak RSS (ru_maxrss, wait4) starts
    from the peak of the one that launched it, so every script would report at least that."""
    code = ("import json, torch; print(json.dumps({'gpu': torch.cuda.get_device_name(0), 'cuda': torch.version.cuda} "
            "if torch.cuda.is_available() else None))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def _rel(path: Path) -> str:
    """path relative to the repository root where it lies inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _loads(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _show(argv: list[str]) -> str:
    return shlex.join(Path(a).name if i == 0 and "python" in Path(a).name else a for i, a in enumerate(argv))


def _say(message: str) -> None:
    print(f"run_all: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
