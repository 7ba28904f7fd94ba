"""`r1cli report`: a run folder at a glance: the stage table, the training table and two plots.

    r1cli report runs/mini-r1                               # tables on stderr; files in runs/mini-r1/report/
    r1cli report runs/mini-r1 -o /tmp/mini-r1-report --force
    r1cli report runs/mini-r1 --format json | jq '.evaluations[] | {name, stage, "pass@1"}'

It reads only what the stages left behind, so it works on any recipe's folder: manifests
(`OUT.manifest.json` beside files, `manifest.json` inside folders), training runs'
`metrics.jsonl` and `r1cli_run.json`, and the eval stage's metrics JSON. Nothing is loaded,
sampled or recomputed.

What it finds under RUN_DIR (checkpoint-* folders, eval's *.samples folders, hidden folders
and earlier reports are not entered):

    evaluations  every entry of every eval file, in the order the eval files finished; each
                 entry's model (the path given to `eval -m`) is traced to the run folder that
                 produced it, for its stage and wall time
    training     grpo, sft and token-level distill runs, finished or not (a folder with
                 r1cli_run.json but no manifest.json is still training, or was killed); a
                 sequence-level distill folder is one row with its student's curve
    artifacts    everything else with a manifest: tiny-model, prepare, sample, reward, reject, merge
    seeds        when the run folder holds repeats as seed-N/ subfolders (seed-0/, seed-1/, ...),
                 each evaluated model's mean and standard deviation over the seeds, matched by
                 its name below seed-N/ (a model shared by the seeds counts once per seed-N/
                 eval file that evaluates it)

Output folder (default RUN_DIR/report/, built under a hidden name and moved into place whole):

    report.md      the tables in markdown (with seeds, the across-seeds one first), the image
                   links, each --probe run's answers to a held-out prompt, the date and RUN_DIR
    report.json    every collected number (the shape is `collect()`'s return value)
    reward.png     GRPO reward mean over steps, one line per run, a band of +- reward_std (<= 4 runs)
    length.png     GRPO mean completion length and accuracy reward over steps
    pass_at_1.png  pass@1 and cons@k per evaluated model, in stage-table order (with seeds:
                   the means over seeds, with +- sd bars)
    manifest.json  stage "report", written last

The core is pure: `collect()` turns what `scan()` read into the report dict, and the
`*_table()` functions turn that into header + rows; `run()` does the reading and writing.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import posixpath
import re
import shutil
import statistics
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from r1cli import __version__, artifacts, console
from r1cli.artifacts import MANIFEST_FILE, MANIFEST_SUFFIX, METRICS_FILE, RUN_FILE, SAMPLES_FILE, InputInfo, Manifest, read_metrics
from r1cli.errors import DataError, R1Error

FORMATS = ("none", "markdown", "json")
TRAINING_STAGES = ("grpo", "sft", "distill-token")
REWARD_PLOT = "reward.png"
PASS_PLOT = "pass_at_1.png"
LENGTH_PLOT = "length.png"
PROBE_CHARS = 400  # a probe completion shown in report.md is cut here
NO_VALUE = "-"


# -- reading (IO) ------------------------------------------------------------------------------
def _skipped_dir(name: str) -> bool:
    """Folders whose insides are not the run's own results: checkpoints repeat the run,
    eval's samples folders hold its intermediate samples, hidden ones are builds in progress."""
    return name.startswith((".", "checkpoint-")) or name.endswith(".samples") or name == "__pycache__"


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(str(path), f"unreadable {what}: {e}") from None


def _is_r1cli_manifest(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("stage"), str)


def scan(root: Path, *, skip: Path | None = None) -> dict[str, Any]:
    """Read every r1cli artifact under `root` into plain dicts; paths are relative to `root`.

    Returns {"folders": [{"path", "manifest", "identity", "metrics"}], "files": [{"path",
    "manifest", "result"}], "inputs": [InputInfo]}: a folder with a manifest.json or an
    r1cli_run.json, a file with an OUT.manifest.json (`result` is the parsed eval JSON for
    stage "eval"), and the files whose numbers the report uses.
    """
    skip_resolved = skip.resolve() if skip is not None else None
    found: dict[str, Any] = {"folders": [], "files": [], "inputs": []}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not _skipped_dir(d) and (here / d).resolve() != skip_resolved)
        rel = here.relative_to(root).as_posix()
        names = set(filenames)
        manifest = _read_json(here / MANIFEST_FILE, "manifest") if MANIFEST_FILE in names else None
        if not _is_r1cli_manifest(manifest):
            manifest = None
        if manifest is not None and manifest["stage"] == "report":
            dirnames[:] = []  # an earlier report: not part of the run
            continue
        identity = _read_json(here / RUN_FILE, "run file") if RUN_FILE in names else None
        if manifest is not None or identity is not None:
            metrics: list[dict[str, Any]] = []
            if METRICS_FILE in names:
                metrics, digest = read_metrics(here / METRICS_FILE)
                found["inputs"].append(InputInfo(_join(rel, METRICS_FILE), digest, len(metrics)))
            # grpo --probe: held-out prompts answered as training went (the samples file is JSONL too)
            probes = [r for r in read_metrics(here / SAMPLES_FILE)[0] if r.get("kind") == "probe"] if SAMPLES_FILE in names else []
            found["folders"].append({"path": rel, "manifest": manifest, "identity": identity if isinstance(identity, dict) else {},
                                     "metrics": metrics, "probes": probes})
        for name in sorted(names):
            if not name.endswith(MANIFEST_SUFFIX):
                continue
            file_manifest = _read_json(here / name, "manifest")
            if not _is_r1cli_manifest(file_manifest):
                continue
            output = name[: -len(MANIFEST_SUFFIX)]
            entry: dict[str, Any] = {"path": _join(rel, output), "manifest": file_manifest, "result": None}
            if file_manifest["stage"] == "eval":
                target = here / output
                if not target.exists():
                    continue  # eval writes its manifest a moment before its results: still finishing
                raw = target.read_bytes()
                result = _read_json(target, "eval results")
                if not isinstance(result, dict) or not isinstance(result.get("runs"), list):
                    raise DataError(str(target), 'not r1cli eval results (expected {"runs": [...]})')
                entry["result"] = result
                found["inputs"].append(InputInfo(entry["path"], hashlib.sha256(raw).hexdigest(), len(result["runs"])))
            found["files"].append(entry)
    return found


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


# -- collecting (pure) -------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _parse_time(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def wall_seconds(manifest: dict[str, Any] | None) -> float | None:
    """A finished stage's wall time: its own `seconds`, else TRL's train_runtime, else the
    span between its start and end stamps."""
    if not manifest:
        return None
    stats = manifest.get("stats") if isinstance(manifest.get("stats"), dict) else {}
    for key in ("seconds", "train_runtime"):
        value = _number(stats.get(key))
        if value is not None:
            return value
    start, end = _parse_time(manifest.get("started_at")), _parse_time(manifest.get("finished_at"))
    if start is not None and end is not None:
        return max((end - start).total_seconds(), 0.0)
    return None


def _step_rows(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-step training rows: not the end-of-training summary, not held-out evaluations."""
    return [r for r in metrics if "train_runtime" not in r and not any(str(k).startswith("eval_") for k in r)]


def curve(metrics: list[dict[str, Any]], key: str, std_key: str | None = None) -> list[dict[str, Any]]:
    """[{"step", "value", "std"}] for every step row that has a number under `key`."""
    points = []
    for row in _step_rows(metrics):
        value, step = _number(row.get(key)), _number(row.get("step"))
        if value is None or step is None:
            continue
        points.append({"step": int(step), "value": value, "std": _number(row.get(std_key)) if std_key else None})
    return points


def _training_row(folder: dict[str, Any]) -> dict[str, Any]:
    manifest = folder["manifest"] if folder["manifest"] and folder["manifest"]["stage"] in TRAINING_STAGES else None
    identity = folder.get("identity") or {}
    stage = manifest["stage"] if manifest else str(identity.get("stage", "training"))
    if stage == "distill":  # run files written before token-level runs were named "distill-token"
        stage = "distill-token"
    stats = manifest.get("stats", {}) if manifest else {}
    stats = stats if isinstance(stats, dict) else {}
    metric = "reward" if stage == "grpo" else "loss"
    points = curve(folder["metrics"], metric, "reward_std" if metric == "reward" else None)
    if points:
        first, last = points[0]["value"], points[-1]["value"]
    else:
        first = _number((stats.get("first") or {}).get(metric))
        last = _number((stats.get("last") or {}).get(metric))
    steps = stats.get("steps") if isinstance(stats.get("steps"), int) else (points[-1]["step"] if points else 0)
    held_out = [_number(r.get("eval_loss")) for r in folder["metrics"] if _number(r.get("eval_loss")) is not None]
    before = _number(stats.get("eval_loss_before"))
    after = _number(stats.get("eval_loss_after"))
    if before is None and held_out:
        before = held_out[0]
    if after is None and manifest is None and len(held_out) > 1:
        after = held_out[-1]
    return {
        "path": folder["path"],
        "stage": stage,
        "status": "finished" if manifest else "unfinished",
        "steps": steps,
        "wall_seconds": wall_seconds(manifest),
        "metric": metric,
        "first": first,
        "last": last,
        "eval_loss_before": before,
        "eval_loss_after": after,
        "world_size": manifest.get("world_size") if manifest else None,
        "device": manifest.get("device") if manifest else None,
        "model": (manifest or {}).get("model") or identity.get("model"),
        "started_at": manifest.get("started_at") if manifest else None,
        "finished_at": manifest.get("finished_at") if manifest else None,
        "curve": points,
        "length_curve": curve(folder["metrics"], "completions/mean_length") if stage == "grpo" else [],
        "accuracy_curve": curve(folder["metrics"], "rewards/accuracy/mean") if stage == "grpo" else [],
        "alarms": sorted({a for row in folder["metrics"] for a in row.get("alarms", []) if isinstance(a, str)}),
        "probe": probe_views(folder.get("probes", [])),
        "tokens_generated": _rollout_tokens(folder["metrics"], manifest) if stage == "grpo" else None,
        "tokens_trained": max((n for n in (_number(r.get("num_tokens")) for r in folder["metrics"]) if n is not None), default=None),
    }


def _rollout_tokens(metrics: list[dict[str, Any]], manifest: dict[str, Any] | None) -> float | None:
    """Completion tokens a GRPO run generated: each logged step's mean completion length times
    the completions a step makes (batch x accumulation x processes), over the steps it stands for."""
    config = (manifest or {}).get("config")
    if not isinstance(config, dict):
        return None
    per_step = [_number(config.get(k)) for k in ("batch_size", "gradient_accumulation_steps")] + [_number(manifest.get("world_size")) or 1]
    if any(v is None for v in per_step):
        return None
    completions = per_step[0] * per_step[1] * per_step[2]
    total, previous = 0.0, 0
    for row in _step_rows(metrics):
        length = _number(row.get("completions/mean_length"))
        if length is not None:
            total += length * completions * (row["step"] - previous)
            previous = row["step"]
    return total or None


def probe_views(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first watched prompt's greedy answers at the first, middle and last logged steps."""
    if not rows:
        return None
    first_id = rows[0].get("id")
    answers = [r for r in rows if r.get("id") == first_id and isinstance(r.get("completion"), str)]
    steps = sorted({int(r["step"]) for r in answers if isinstance(r.get("step"), int)})
    if not steps:
        return None
    chosen = list(dict.fromkeys([steps[0], steps[len(steps) // 2], steps[-1]]))
    by_step = {int(r["step"]): r["completion"] for r in answers if isinstance(r.get("step"), int)}
    prompt = rows[0].get("prompt")
    if isinstance(prompt, list):
        prompt = "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict))
    return {"id": first_id, "prompt": prompt, "answers": [{"step": s, "completion": by_step[s]} for s in chosen]}


def _distill_row(folder: dict[str, Any], student: dict[str, Any] | None) -> dict[str, Any]:
    """A sequence- or token-level distill folder: the student's curve, the whole folder's wall
    time (teacher sampling, rejection and training together: what the student cost)."""
    manifest = folder["manifest"]
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    mode = str(config.get("mode", "sequence")) + ("-on-policy" if config.get("on_policy") else "")
    base = student or {"steps": 0, "metric": "loss", "first": None, "last": None, "eval_loss_before": None,
                       "eval_loss_after": None, "world_size": None, "device": None, "curve": []}
    return {
        **base,
        "path": folder["path"],
        "stage": "distill",
        "mode": mode,
        "status": "finished",
        "wall_seconds": wall_seconds(manifest),
        "model": manifest.get("model"),
        "started_at": manifest.get("started_at"),
        "finished_at": manifest.get("finished_at"),
        "student": student["path"] if student else None,
        "student_wall_seconds": student["wall_seconds"] if student else None,
        "tokens_generated": None,  # the teacher's samples: collect() reads them from their manifest
        "tokens_trained": student.get("tokens_trained") if student else None,
    }


def _parent(path: str) -> str:
    return posixpath.dirname(path) or "."


def candidates(name: str, eval_dir: str, root: str) -> list[str]:
    """Folders (relative to the run folder) that an eval entry's model name may mean, best
    first: as given (absolute, or relative to the eval file's folder or the run folder), then
    with leading parts dropped, for names given from another working directory
    (`-m runs/mini/grpo` seen from runs/mini is `grpo`)."""
    names = [name]
    if " on " in name:  # eval's "MODEL on SOURCE" when several prompt files were evaluated
        names.append(name.split(" on ")[0])
    out: list[str] = []
    root_path = PurePosixPath(root)
    for text in names:
        path = PurePosixPath(text)
        parts = path.parts
        if path.is_absolute():
            try:
                out.append(posixpath.normpath(path.relative_to(root_path).as_posix()))
            except ValueError:
                pass
            parts = parts[1:]
        for i in range(len(parts)):
            for base in (eval_dir, "."):
                out.append(posixpath.normpath(posixpath.join(base or ".", *parts[i:])))
    seen: set[str] = set()
    return [c for c in out if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]


def _display(name: str, target: str | None, root: str) -> str:
    """The model as the tables show it: relative to the run folder when it is found there."""
    suffix = f" on {name.split(' on ', 1)[1]}" if target is not None and " on " in name else ""
    if target is not None:
        return (PurePosixPath(root).name or root if target == "." else target) + suffix
    path = PurePosixPath(name)
    if path.is_absolute():
        try:
            return path.relative_to(PurePosixPath(root)).as_posix()
        except ValueError:
            pass
    return name


def _largest_pass(entry: dict[str, Any]) -> tuple[int | None, float | None]:
    ks = []
    for key in entry:
        if key.startswith("pass@"):
            try:
                ks.append(int(key[5:]))
            except ValueError:
                pass
    if not ks:
        return None, None
    k = max(ks)
    return k, _number(entry.get(f"pass@{k}"))


def collect(found: dict[str, Any], root: str, *, generated_at: str | None = None) -> dict[str, Any]:
    """The report: every number the tables and plots show, from what `scan()` read.

    `root` is the run folder's absolute path (for eval names given as absolute paths).
    """
    folders = {f["path"]: f for f in found["folders"]}
    stage_of = {p: (f["manifest"] or {}).get("stage") for p, f in folders.items()}
    distills = [p for p, s in stage_of.items() if s == "distill"]

    runs: dict[str, dict[str, Any]] = {}
    for path, folder in folders.items():
        if stage_of[path] in TRAINING_STAGES or (stage_of[path] is None and folder.get("identity")):
            runs[path] = _training_row(folder)
    training: list[dict[str, Any]] = []
    producers: dict[str, dict[str, Any]] = {}  # model folder -> the row of the stage that made it
    folded: set[str] = set()
    for path in distills:
        student_path = _join(path, "student")
        student = runs.get(student_path)
        row = _distill_row(folders[path], student)
        teacher = next((f["manifest"] for f in found["files"] if f["path"] == _join(path, "teacher_samples.jsonl")), None)
        teacher_stats = (teacher or {}).get("stats") if isinstance((teacher or {}).get("stats"), dict) else {}
        if _number(teacher_stats.get("samples")) is not None and _number(teacher_stats.get("mean_completion_tokens")) is not None:
            row["tokens_generated"] = teacher_stats["samples"] * teacher_stats["mean_completion_tokens"]
        training.append(row)
        producers[path] = producers[student_path] = row
        if student is not None:
            folded.add(student_path)
    for path, row in runs.items():
        if path in folded:
            continue
        training.append(row)
        producers[path] = row
        producers[_join(path, "merged")] = row  # `--merge` puts base + adapter in OUT/merged
    training.sort(key=lambda r: (r["started_at"] is None, r["started_at"] or "", r["path"]))
    for row in training:
        row["name"] = _display(row["path"], row["path"], root)

    other = []
    for path, folder in folders.items():
        stage = stage_of[path]
        if stage is not None and stage not in TRAINING_STAGES and stage != "distill":
            other.append({"path": path, "kind": "folder", "manifest": folder["manifest"]})
    other += [{"path": f["path"], "kind": "file", "manifest": f["manifest"]} for f in found["files"] if f["manifest"]["stage"] != "eval"]
    artifacts_rows = []
    for item in other:
        m = item["manifest"]
        stats = m.get("stats") if isinstance(m.get("stats"), dict) else {}
        output = m.get("output") if isinstance(m.get("output"), dict) else {}
        rows = output.get("rows", stats.get("records"))
        artifacts_rows.append({"path": item["path"], "stage": m["stage"], "kind": item["kind"],
                               "rows": rows if isinstance(rows, int) else None, "wall_seconds": wall_seconds(m),
                               "started_at": m.get("started_at"), "finished_at": m.get("finished_at")})
        if item["kind"] == "folder":
            producers.setdefault(item["path"], {"path": item["path"], "stage": m["stage"], "wall_seconds": wall_seconds(m)})
    artifacts_rows.sort(key=lambda r: (r["finished_at"] is None, r["finished_at"] or "", r["path"]))
    # A model folder made by `r1cli merge` from a run here counts as that run's model.
    for row in artifacts_rows:
        if row["stage"] == "merge" and row["kind"] == "folder":
            adapter = ((folders[row["path"]]["manifest"] or {}).get("config") or {}).get("adapter")
            source = next((c for c in candidates(str(adapter), _parent(row["path"]), root) if c in runs), None) if adapter else None
            if source is not None:
                run = producers.get(source, runs[source])
                producers[row["path"]] = {"path": run["path"], "stage": f"{run['stage']} (merged)", "wall_seconds": run["wall_seconds"]}

    evals = sorted((f for f in found["files"] if f["manifest"]["stage"] == "eval"),
                   key=lambda f: (str(f["manifest"].get("finished_at") or ""), f["path"]))
    evaluations = []
    for ev in evals:
        eval_dir = _parent(ev["path"])
        for entry in ev["result"]["runs"]:
            if not isinstance(entry, dict):
                continue
            name = str(entry.get("name", "?"))
            target = next((c for c in candidates(name, eval_dir, root) if c in producers), None)
            producer = producers.get(target) if target is not None else None
            k = entry.get("k") if isinstance(entry.get("k"), int) else None
            pass_k, pass_value = _largest_pass(entry)
            evaluations.append({
                "name": _display(name, target, root),
                "model": name,
                "eval": ev["path"],
                "stage": producer["stage"] if producer else None,
                "producer": producer["path"] if producer else None,
                "wall_seconds": producer["wall_seconds"] if producer else None,
                "k": k,
                "pass@1": _number(entry.get("pass@1")),
                "pass_k": pass_k,
                "pass@k": pass_value,
                "cons@k": _number(entry.get(f"cons@{k}")) if k is not None else None,
                "best_of@k": _number(entry.get(f"best_of@{k}")) if k is not None else None,
                "format_rate": _number(entry.get("format_rate")),
                "mean_completion_tokens": _number(entry.get("mean_completion_tokens")),
                "truncation_rate": _number(entry.get("truncation_rate")),
                "prompts": entry.get("prompts"),
                "samples": entry.get("samples"),
                "metrics": entry,
            })
    return {
        "run_dir": root,
        "generated_at": generated_at or artifacts.now(),
        "r1cli_version": __version__,
        "evaluations": evaluations,
        "seeds": across_seeds(evaluations),
        "training": training,
        "artifacts": artifacts_rows,
        "eval_files": [ev["path"] for ev in evals],
        "plots": [],
    }


SEED_FOLDER = re.compile(r"seed-(\d+)")
SEED_METRICS = ("pass@1", "pass@k", "cons@k", "format_rate", "mean_completion_tokens")


def _mean_sd(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else None, "values": values}


def across_seeds(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Repeats of one run under seed-N/ folders: each model's mean and sample standard deviation.

    An evaluation belongs to seed N when its eval file lies under seed-N/ or its model does;
    the model's name without seed-N/ matches it across seeds: `seed-0/2-r1-zero` and
    `seed-1/2-r1-zero` are `2-r1-zero` twice, and a shared `1-base` evaluated by
    seed-0/evals.json and seed-1/evals.json (sampling under each seed) is `1-base` twice. A
    model met under one seed only is left out (there is nothing to average), as are metrics
    some seed lacks. Order: the models' first appearance.
    """
    groups: dict[str, dict[str, Any]] = {}
    for e in evaluations:
        first, _, rest = e["name"].partition("/")
        by_name = SEED_FOLDER.fullmatch(first) if rest else None
        by_file = SEED_FOLDER.fullmatch(PurePosixPath(e["eval"]).parts[0])
        match = by_file or by_name
        if match is None:
            continue
        name = rest if by_name else e["name"]
        group = groups.setdefault(name, {"name": name, "stage": e["stage"], "k": e["k"], "seeds": [], "rows": []})
        group["seeds"].append(int(match.group(1)))
        group["rows"].append(e)
        if group["k"] != e["k"]:
            group["k"] = None
    out = []
    for group in groups.values():
        rows = group.pop("rows")
        if len(set(group["seeds"])) < 2:
            continue
        for key in SEED_METRICS:
            values = [r[key] for r in rows]
            group[key] = _mean_sd(values) if all(v is not None for v in values) else None
        out.append(group)
    return out


# -- tables (pure) -----------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    """12.3s, 4m05s, 2h03m."""
    if seconds is None:
        return NO_VALUE
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _count(value: float | None) -> str:
    """A token count, short: 950, 48.2k, 1.3M (— when unknown)."""
    if value is None:
        return NO_VALUE
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.1f}{unit}"
    return f"{value:.0f}"


def _pct(value: float | None) -> str:
    return NO_VALUE if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, fmt: str = ".3f") -> str:
    return NO_VALUE if value is None else format(value, fmt)


def _k_label(rows: list[dict[str, Any]]) -> str:
    """The k every row shares, for headers (`pass@8`), else "k"."""
    ks = {r["k"] for r in rows}
    return str(next(iter(ks))) if len(ks) == 1 and None not in ks else "k"


def stage_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per evaluated model: the stage table."""
    rows = report["evaluations"]
    k_label = _k_label(rows)
    same_k = k_label != "k"
    with_eval = len(report["eval_files"]) > 1
    with_best = any(r["best_of@k"] is not None for r in rows)
    with_format = any(r.get("format_rate") is not None for r in rows)
    header = ["run", *(["eval"] if with_eval else []), "stage", *([] if same_k else ["k"]), "pass@1",
              f"pass@{k_label}", f"cons@{k_label}", *([f"best_of@{k_label}"] if with_best else []),
              *(["R1 format"] if with_format else []), "mean tokens", "truncated", "wall time"]
    table = []
    for r in rows:
        table.append([
            r["name"], *([r["eval"]] if with_eval else []), r["stage"] or NO_VALUE,
            *([] if same_k else [NO_VALUE if r["k"] is None else str(r["k"])]),
            _pct(r["pass@1"]), _pct(r["pass@k"]), _pct(r["cons@k"]), *([_pct(r["best_of@k"])] if with_best else []),
            *([_pct(r.get("format_rate"))] if with_format else []), _num(r["mean_completion_tokens"], ".1f"),
            _pct(r["truncation_rate"]), duration(r["wall_seconds"]),
        ])
    return header, table


def _spread(stat: dict[str, Any] | None, percent: bool = True) -> str:
    if stat is None:
        return NO_VALUE
    scale = 100 if percent else 1
    text = f"{scale * stat['mean']:.1f}"
    if stat["sd"] is not None:
        text += f" ± {scale * stat['sd']:.1f}"
    return text + ("%" if percent else "")


def seeds_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per model repeated under seed-N/ folders: mean ± standard deviation."""
    rows = report["seeds"]
    k_label = _k_label(rows)
    with_format = any(r.get("format_rate") is not None for r in rows)
    header = ["run", "stage", "seeds", "pass@1", f"pass@{k_label}", f"cons@{k_label}", *(["R1 format"] if with_format else []),
              "mean tokens"]
    return header, [[r["name"], r["stage"] or NO_VALUE, ",".join(map(str, r["seeds"])), _spread(r["pass@1"]), _spread(r["pass@k"]),
                     _spread(r["cons@k"]), *([_spread(r.get("format_rate"))] if with_format else []),
                     _spread(r["mean_completion_tokens"], percent=False)] for r in rows]


def training_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per training run."""
    header = ["run", "stage", "status", "steps", "wall time", "first → last", "held-out loss", "tokens generated / trained",
              "world size", "alarms"]
    table = []
    for r in report["training"]:
        stage = r["stage"] + (f" ({r['mode']})" if r.get("mode") else "")
        change = NO_VALUE if r["first"] is None else f"{r['metric']} {_num(r['first'])} → {_num(r['last'])}"
        held = NO_VALUE
        if r["eval_loss_before"] is not None or r["eval_loss_after"] is not None:
            held = f"{_num(r['eval_loss_before'])} → {_num(r['eval_loss_after'])}"
        compute = f"{_count(r.get('tokens_generated'))} / {_count(r.get('tokens_trained'))}"
        table.append([r["name"], stage, r["status"], str(r["steps"]), duration(r["wall_seconds"]), change, held, compute,
                      NO_VALUE if r["world_size"] is None else str(r["world_size"]), ", ".join(r.get("alarms") or []) or NO_VALUE])
    return header, table


def artifact_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["path", "stage", "rows", "wall time"]
    return header, [[r["path"] + ("/" if r["kind"] == "folder" else ""), r["stage"], NO_VALUE if r["rows"] is None else str(r["rows"]),
                     duration(r["wall_seconds"])] for r in report["artifacts"]]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    right = [i > 0 and h not in ("stage", "status", "eval") for i, h in enumerate(header)]
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_markdown(report: dict[str, Any]) -> str:
    parts = ["# r1cli report\n",
             f"Run folder: `{report['run_dir']}`  \nGenerated: {report['generated_at']} by r1cli {report['r1cli_version']}\n",
             "## Evaluated models\n"]
    if report["seeds"]:
        n = max(len(r["seeds"]) for r in report["seeds"])
        parts.append(f"Across seeds: mean ± standard deviation over {n} seeds (the seed-N/ folders; each seed's own rows follow).\n")
        parts.append(markdown_table(*seeds_table(report)))
    if report["evaluations"]:
        parts.append("Eval files, in the order they finished: " + ", ".join(f"`{p}`" for p in report["eval_files"]) + ".\n")
        parts.append(markdown_table(*stage_table(report)))
        if PASS_PLOT in report["plots"]:
            parts.append(f"![pass@1 and cons@k per model]({PASS_PLOT})\n")
    else:
        parts.append("No eval results in this folder (run `r1cli eval ... -o RUN_DIR/eval.json`).\n")
    parts.append("## Training runs\n")
    if report["training"]:
        parts.append(markdown_table(*training_table(report)))
        if REWARD_PLOT in report["plots"]:
            parts.append(f"![GRPO reward over steps]({REWARD_PLOT})\n")
        if LENGTH_PLOT in report["plots"]:
            parts.append(f"![GRPO completion length and accuracy over steps]({LENGTH_PLOT})\n")
        for r in report["training"]:
            if r.get("probe"):
                parts.append(_probe_markdown(r["name"], r["probe"]))
    else:
        parts.append("No training runs in this folder.\n")
    if report["artifacts"]:
        parts += ["## Other artifacts\n", markdown_table(*artifact_table(report))]
    return "\n".join(parts)


def _probe_markdown(name: str, probe: dict[str, Any]) -> str:
    def cut(text: str) -> str:
        return text if len(text) <= PROBE_CHARS else text[:PROBE_CHARS] + " …"

    def cut_front(text: str) -> str:  # a prompt's question is at its end, after the template
        return text if len(text) <= PROBE_CHARS else "… " + text[-PROBE_CHARS:]

    lines = [f"### How `{name}` answered a held-out prompt as it trained\n", f"Prompt `{probe['id']}`:\n",
             "```text", cut_front(str(probe["prompt"])), "```\n"]
    for answer in probe["answers"]:
        lines += [f"Step {answer['step']}:\n", "```text", cut(answer["completion"]) or "(empty)", "```\n"]
    return "\n".join(lines)


def _clean(value: Any) -> Any:
    """JSON without NaN (eval writes NaN for an empty mean): null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(_clean(report), indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


# -- plots (IO) --------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def _run_label(run: dict[str, Any]) -> str:
    return run["name"] + (" (unfinished)" if run["status"] != "finished" else "")


def _step_axis(ax: Any) -> None:
    """An x axis of training steps (whole numbers), with a light grid."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("training step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)


def plot_reward(report: dict[str, Any], path: Path) -> bool:
    """Reward mean over steps, one line per GRPO run, a light band of +- reward_std (up to four
    runs: more bands would cover each other)."""
    runs = [r for r in report["training"] if r["stage"] == "grpo" and r["curve"]]
    if not runs:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    banded = False
    try:
        for r in runs:
            steps = [p["step"] for p in r["curve"]]
            values = [p["value"] for p in r["curve"]]
            (line,) = ax.plot(steps, values, marker="o" if len(steps) <= 40 else None, markersize=3, linewidth=1.5, label=_run_label(r))
            if len(runs) <= 4 and all(p["std"] is not None for p in r["curve"]):
                banded = True
                ax.fill_between(steps, [v - p["std"] for v, p in zip(values, r["curve"])],
                                [v + p["std"] for v, p in zip(values, r["curve"])], color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_title("GRPO reward over training steps" + (" (band: ± reward std)" if banded else ""))
        ax.set_ylabel("reward (mean over the step's completions)")
        _step_axis(ax)
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True


def plot_length(report: dict[str, Any], path: Path) -> bool:
    """R1's "thinking time grows" figure in small: each GRPO run's mean completion length (left)
    and accuracy reward (right) over steps."""
    runs = [r for r in report["training"] if r["stage"] == "grpo" and r.get("length_curve")]
    if not runs:
        return False
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    try:
        for r in runs:
            left.plot([p["step"] for p in r["length_curve"]], [p["value"] for p in r["length_curve"]], linewidth=1.5, label=_run_label(r))
            accuracy = r.get("accuracy_curve") or []
            right.plot([p["step"] for p in accuracy], [p["value"] for p in accuracy], linewidth=1.5, label=_run_label(r))
        left.set_title("mean completion length (tokens)")
        right.set_title("accuracy reward (mean over the step's completions)")
        _step_axis(left)
        _step_axis(right)
        left.legend(loc="best", fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True


def plot_pass(report: dict[str, Any], path: Path) -> bool:
    """pass@1 and cons@k per evaluated model, grouped bars, in stage-table order; with seed-N/
    repeats, the means over seeds with a bar of ± one standard deviation."""
    if report["seeds"]:
        rows = [{**r, **{key: (r[key] or {}).get("mean") for key in ("pass@1", "cons@k")},
                 "errors": {key: (r[key] or {}).get("sd") for key in ("pass@1", "cons@k")}} for r in report["seeds"]]
    else:
        rows = [r for r in report["evaluations"] if r["pass@1"] is not None or r["cons@k"] is not None]
    if not rows:
        return False
    plt = _pyplot()
    k_label = _k_label(rows)
    width = 0.38
    many = len(rows) > 6
    fig, ax = plt.subplots(figsize=(max(6.5, 1.1 * len(rows) + 2.5), 4.8), dpi=120)
    try:
        xs = list(range(len(rows)))
        series = ((-width / 2, "pass@1", "pass@1 (mean over samples)"), (width / 2, "cons@k", f"cons@{k_label} (majority vote)"))
        for offset, key, label in series:
            errors = [100 * (r.get("errors", {}).get(key) or 0.0) for r in rows]
            bars = ax.bar([x + offset for x in xs], [100 * (r[key] or 0.0) for r in rows], width, label=label,
                          yerr=errors if any(errors) else None, capsize=3)
            ax.bar_label(bars, labels=[NO_VALUE if r[key] is None else f"{100 * r[key]:.0f}" for r in rows], fontsize="x-small", padding=2)
        labels = [r["name"] + (f"\n({r['stage']})" if r["stage"] else "") for r in rows]
        if len(report["eval_files"]) > 1 and not report["seeds"]:
            labels = [f"{label}\n[{Path(r['eval']).stem}]" for label, r in zip(labels, rows)]
        ax.set_xticks(xs, labels, fontsize="small", rotation=30 if many else 0, ha="right" if many else "center")
        ax.set_ylim(0, 110)
        ax.set_ylabel("% of prompts correct")
        seeds = f", mean ± sd over {max(len(r['seeds']) for r in rows)} seeds" if report["seeds"] else ""
        ax.set_title(f"pass@1 and cons@{k_label} per evaluated model (stage order{seeds})")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True


# -- the stage ---------------------------------------------------------------------------------
def _check_output(out: Path, root: Path, force: bool) -> None:
    resolved, root_resolved = out.resolve(), root.resolve()
    if resolved == root_resolved or resolved in root_resolved.parents:
        raise DataError(str(out), "the report folder cannot be the run folder or hold it; choose another --output")
    artifacts.check_output_folder(out, force=force, stage="report")


def _print_tables(report: dict[str, Any]) -> None:
    from rich.table import Table

    if console.quiet:
        return
    for title, (header, rows) in (("r1cli report: across seeds (mean ± sd)", seeds_table(report) if report["seeds"] else ([], [])),
                                  ("r1cli report: evaluated models", stage_table(report) if report["evaluations"] else ([], [])),
                                  ("training runs", training_table(report) if report["training"] else ([], []))):
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 or h in ("stage", "status", "eval") else "right")
        for row in rows:
            table.add_row(*row)
        console.stderr.print(table)


def run(run_dir: str, output_dir: str | None = None, *, fmt: str = "none", force: bool = False) -> dict[str, Any]:
    """Collect RUN_DIR's artifacts, write the report folder, print the tables; returns the report."""
    if fmt not in FORMATS:
        raise R1Error(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    root = Path(run_dir)
    if not root.exists():
        raise DataError(str(root), "no such folder")
    if not root.is_dir():
        raise DataError(str(root), "is a file; pass the run folder that r1cli stages wrote to")
    out = Path(output_dir) if output_dir else root / "report"
    _check_output(out, root, force)
    manifest = Manifest("report", {"run_dir": str(root), "output_dir": str(out), "format": fmt})
    found = scan(root, skip=out)
    if not found["folders"] and not found["files"]:
        raise DataError(str(root), "no r1cli artifacts here (no manifest.json, *.manifest.json or r1cli_run.json); "
                                   "pass the folder that r1cli stages wrote to")
    report = collect(found, str(root.resolve()), generated_at=manifest.started_at)
    manifest.inputs = found["inputs"]

    build = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    try:
        for name, draw, what in ((REWARD_PLOT, plot_reward, "no GRPO reward curve"), (LENGTH_PLOT, plot_length, "no GRPO length curve"),
                                 (PASS_PLOT, plot_pass, "no eval results")):
            try:
                drawn = draw(report, build / name)
            except ImportError:
                console.warn(f"report: matplotlib is not installed; skipping {name} (pip install matplotlib)")
                continue
            if drawn:
                report["plots"].append(name)
            else:
                console.info(f"report: {what} in {root}; skipping {name}")
        markdown = to_markdown(report)
        data = to_json(report)
        artifacts.atomic_write_text(build / "report.md", markdown)
        artifacts.atomic_write_text(build / "report.json", data)
        artifacts.write_manifest(build, manifest.finish({
            "evaluations": len(report["evaluations"]), "training_runs": len(report["training"]),
            "artifacts": len(report["artifacts"]), "files": sorted(p.name for p in build.iterdir())}))
        artifacts.publish_folder(build, out, force)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    _print_tables(report)
    console.info(f"report: evaluated models {len(report['evaluations'])}, training runs {len(report['training'])}, "
                 f"other artifacts {len(report['artifacts'])} -> {out}")
    if fmt == "markdown":
        sys.stdout.write(markdown)
    elif fmt == "json":
        sys.stdout.write(data)
    return report
