"""`r1cli eval`: pass@1 over K samples, pass@k, cons@k majority vote, best-of-N, R1 format, length and truncation.

    r1cli eval --task math --data ../shared/data/math500/test.jsonl -m runs/grpo -k 8 -o eval.json
    r1cli eval samples_a.jsonl samples_b.jsonl -o -                    # outputs of any system, no model
    r1cli prepare gsm8k --data test.jsonl -o - | r1cli eval - -m BASE -m runs/rl -k 4 -o eval.json   # side by side

Inputs are either completions from any system (no model needed) or prompt records sampled
here from each `-m` model with the report's settings (temperature 0.6, top-p 0.95).
Correctness is each task's accuracy reward, the same function GRPO trains on; majority votes
compare normalised answers (numbers, LaTeX). `format_rate` is the share of samples in R1-Zero's
format (`<think>...</think> <answer>...</answer>`, the `format` reward), right or wrong. Samples
drawn here are kept in OUT.samples/ (resumable; reused when the settings match).

A completion record needs only `id`, `completion`, `task` (or --task for all) and the gold the
task's checker reads (`answer`; Countdown's `numbers` and `target`). Lines with the same id are
that prompt's samples (in file order unless they carry `sample_index`); `prompt`,
`finish_reason` and `completion_tokens` are optional (without them truncation and length are
not reported). What was assumed is said once on stderr. `-k N` takes each prompt's first N.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1cli import artifacts, records as schema, rewards as registry
from r1cli.artifacts import Manifest
from r1cli.config import ConfigError, StageConfig, option
from r1cli.console import info, stderr
from r1cli.errors import DataError, R1Error


@dataclass
class EvalConfig(StageConfig):
    models: list[str] = option(help="Model to sample from (repeatable: runs side by side).", flags=("--model", "-m"),
                               default_factory=list, show="")
    prompts: dict[str, Any] = field(default_factory=dict)  # a prompt source instead of INPUT (task, data, n...)
    k: int | None = option(None, help="Samples per prompt (pass@1 averages over them; cons@k votes among them): drawn with -m, or "
                           "the first K of each prompt's given samples (fewer is an error).", show="4 with -m; all given")
    temperature: float = option(0.6, help="Sampling temperature (the report's protocol: 0.6).")
    top_p: float = option(0.95, help="Nucleus sampling mass (the report's protocol: 0.95).")
    max_new_tokens: int = option(1024, help="Token limit per completion.")
    seed: int = option(0, help="Sampling seed.")
    batch_size: int = option(8, help="Prompts per generation batch.")
    backend: str = option("auto", help="Sampling backend, as in `r1cli sample`.")
    stop: list[str] = option(help="Stop string (repeatable).", default_factory=list, show="")
    best_of: str | None = option(None, help="Best-of-N: what picks one sample per prompt: a numeric field of the records (e.g. "
                                 "an external reward model's score, `reward`, or rewards.NAME), or a reward name to compute.", show="")
    timeout: float = 5.0  # per-answer deadline for normalising math answers

    def validate(self) -> None:
        self.require(self.k is None or self.k >= 1, "k", "must be at least 1")
        self.require(self.temperature >= 0, "temperature", "must be >= 0")
        self.require(0 < self.top_p <= 1, "top_p", "must be in (0, 1]")
        self.require(self.max_new_tokens >= 1, "max_new_tokens", "must be at least 1")
        self.require(self.temperature > 0 or not self.models or self.samples_per_prompt == 1, "k",
                     "must be 1 with --temperature 0 (greedy samples are identical)")

    @property
    def samples_per_prompt(self) -> int:
        """K to draw when sampling with -m."""
        return self.k if self.k is not None else 4


def run(inputs: list[str], output: str, cfg: EvalConfig, *, force: bool = False) -> dict[str, Any]:
    artifacts.check_output_free(output, force)
    default_task = None
    if inputs and cfg.prompts:
        if set(cfg.prompts) != {"task"}:
            raise ConfigError("give inputs either as files or with --task/--data/-n, not both (with input files, --task alone "
                              "names the task of records that have none)")
        default_task = cfg.prompts["task"]
        cfg.prompts = {}
    sources = _read_sources(inputs, cfg, default_task)
    sampled = [s for s in sources if s[2] == "prompt"]
    if sampled and not cfg.models:
        raise ConfigError(f"{sampled[0][3].path}: prompt records need a model to sample from (-m MODEL); or pass sample records")
    if cfg.models and len(sampled) != len(sources):
        raise ConfigError("-m samples prompt records; these inputs are already sample records (drop -m to evaluate them)")
    _check_best_of(cfg, sources)
    if cfg.models:
        from r1cli import models

        for model in cfg.models:
            models.resolve(model)  # a wrong path fails here, before any folder is made
    runs = []
    manifest = Manifest("eval", cfg.to_dict(), [info_ for _, _, _, info_ in sources])
    samples_dir, made = _samples_dir(output) if sampled else (Path(), False)
    try:
        for name, records, kind, _ in sources:
            if kind == "prompt":
                for model in cfg.models:
                    samples = _sample(records, model, cfg, samples_dir / f"{_slug(name)}--{_slug(model)}.jsonl", force)
                    runs.append(evaluate(f"{model} on {name}" if len(sources) > 1 else model, samples, cfg))
            else:
                runs.append(evaluate(name, records, cfg))
    except BaseException:
        if made:
            _discard_unsampled(samples_dir)
        raise
    finally:
        if made and artifacts.is_stream(output):
            shutil.rmtree(samples_dir, ignore_errors=True)  # nothing to resume into without an output file
    _table(runs)
    result = {"runs": runs}
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if artifacts.is_stream(output):
        artifacts.write_stream(output, text)
    else:
        artifacts.write_manifest(output, manifest.finish({"runs": len(runs)}))
        artifacts.atomic_write_text(output, text)
    return result


def _read_sources(inputs: list[str], cfg: EvalConfig, default_task: str | None) -> list[tuple[str, list[dict[str, Any]], str, artifacts.InputInfo]]:
    """(name, records, "sample" | "prompt", input info) for every input."""
    if cfg.prompts:
        from r1cli.tasks import load_prompts

        records, _, info_ = load_prompts(None, cfg.prompts, lambda: _chat_models(cfg.models))
        return [(info_.path, records, "prompt", info_)]
    if not inputs:
        raise ConfigError("no inputs: pass completion or prompt record files (- for stdin), or --task")
    out = []
    for path in inputs:
        loaded = artifacts.read_jsonl(path)
        name = "stdin" if path == artifacts.STDIO else Path(path).stem
        if "completion" in loaded.records[0]:
            out.append((name, _as_samples(loaded, default_task, cfg), "sample", loaded.info))
        else:
            schema.validate(loaded, "prompt")
            out.append((name, loaded.records, "prompt", loaded.info))
    return out


def _as_samples(loaded: artifacts.Loaded, default_task: str | None, cfg: EvalConfig) -> list[dict[str, Any]]:
    """Completion records from any system as this stage's samples: each a task, the gold its
    checker reads, and its place in its prompt's group; -k applied. What had to be assumed is
    said once."""
    from r1cli import rewards as registry, tasks

    schema.validate(loaded, "completion")
    notes = []
    records = []
    counts: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for i, r in enumerate(loaded.records):
        task = r.get("task", default_task)
        if task is None:
            raise DataError(loaded.where(i), "missing; name the task with --task NAME (or a `task` field)", field="task")
        if task not in tasks.TASKS:
            raise DataError(loaded.where(i), f"unknown task {task!r}; built-in tasks: {', '.join(tasks.TASKS)}", field="task")
        for column in registry.needs(registry.lookup(tasks.get(task).accuracy.name)):
            if column not in r:
                raise DataError(loaded.where(i), f"missing; task {task!r} is judged against it", field=column)
        index = r.get("sample_index", counts.get(r["id"], 0))
        counts[r["id"]] = counts.get(r["id"], 0) + 1
        first_line.setdefault(r["id"], i)
        records.append({**r, "task": task, "sample_index": index})
    shown = loaded.info.path
    if any("task" not in r for r in loaded.records):
        notes.append(f"task {default_task} (--task) for records without one")
    if any("sample_index" not in r for r in loaded.records):
        notes.append("lines with the same id are that prompt's samples, in file order")
    if not all("finish_reason" in r for r in loaded.records):
        notes.append("no finish_reason on every record: truncation not reported")
    if not all("completion_tokens" in r for r in loaded.records):
        notes.append("no completion_tokens on every record: length not reported")
    if notes:
        info(f"eval: {shown}: " + "; ".join(notes))
    if cfg.k is not None:
        short = next((pid for pid, n in counts.items() if n < cfg.k), None)
        if short is not None:
            raise DataError(loaded.where(first_line[short]), f"id {short!r} has {counts[short]} samples, fewer than -k {cfg.k}; "
                            "pass a smaller -k or more samples", field="id")
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            groups.setdefault(r["id"], []).append(r)
        records = [r for group in groups.values() for r in sorted(group, key=lambda r: r["sample_index"])[: cfg.k]]
    return records


def _chat_models(names: list[str]) -> bool:
    """For --template auto: whether the models have chat templates (all or none: the models are
    compared on the same prompts)."""
    from r1cli import models

    if not names:
        raise ConfigError("--task with --template auto needs the models (-m) to choose the template by")
    kinds = {name: models.has_chat_template(models.load_tokenizer(models.resolve(name))) for name in names}
    if len(set(kinds.values())) > 1:
        chat = ", ".join(n for n, k in kinds.items() if k)
        raise ConfigError(f"--template auto: some models have a chat template ({chat}) and some not; the models are "
                          "compared on the same prompts, so choose one: --template r1-chat or --template r1-zero")
    return next(iter(kinds.values()))


_NOT_A_SCORE = object()


def _field_score(record: dict[str, Any], name: str) -> Any:
    """A record's numeric field for --best-of (`rewards.NAME` reads into the scores); _NOT_A_SCORE
    when absent or not a finite number (null is a score: not judged)."""
    import math

    value: Any = record
    for part in name.split(".") if name.startswith("rewards.") else [name]:
        value = value.get(part, _NOT_A_SCORE) if isinstance(value, dict) else _NOT_A_SCORE
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else _NOT_A_SCORE


def _best_by_field(cfg: EvalConfig, sources: list[Any]) -> bool:
    """Whether --best-of names a field of the given records (rather than a reward to compute)."""
    from r1cli import rewards as registry

    given = [records for _, records, kind, _ in sources if kind == "sample"]
    in_records = any(cfg.best_of in r or cfg.best_of.startswith("rewards.") for records in given for r in records)
    if in_records or cfg.best_of == "reward":
        return True
    try:
        registry.lookup(cfg.best_of)
    except R1Error:
        raise ConfigError(f"--best-of {cfg.best_of}: not a field of the records nor a reward; name a numeric field "
                          "(e.g. a reward model's score) or a reward (r1cli reward --list)") from None
    return False


def _check_best_of(cfg: EvalConfig, sources: list[Any]) -> None:
    """Before any sampling: the field is on every given record, and numeric."""
    if cfg.best_of is None or not _best_by_field(cfg, sources):
        return
    for name, records, kind, info_ in sources:
        if kind == "prompt":
            raise ConfigError(f"--best-of {cfg.best_of}: samples drawn here have no such field; name a reward to compute")
        bad = next((i for i, r in enumerate(records) if _field_score(r, cfg.best_of) is _NOT_A_SCORE), None)
        if bad is not None:
            raise DataError(f"{info_.path} record {bad + 1}", "missing or not a number; --best-of ranks by it", field=cfg.best_of)


def _samples_dir(output: str) -> tuple[Path, bool]:
    """The folder for samples drawn here, and whether this run made it."""
    if artifacts.is_stream(output):
        return Path(tempfile.mkdtemp(prefix="r1cli-eval-")), True
    folder = Path(output).with_name(Path(output).name + ".samples")
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    return folder, made


def _discard_unsampled(folder: Path) -> None:
    """A run that failed before sampling anything (e.g. a model without a chat template) leaves
    no folder behind; one with samples in it stays, to be resumed."""
    if all(p.name.endswith(".prompts.jsonl") for p in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_")[-80:] or "run"


def _sample(records: list[dict[str, Any]], model: str, cfg: EvalConfig, path: Path, force: bool) -> list[dict[str, Any]]:
    """Sample K completions per prompt through the `sample` stage (resumable), or reuse a
    finished file sampled with the same settings."""
    from r1cli.commands import sample

    scfg = sample.SampleConfig.build(model=model, k=cfg.samples_per_prompt, temperature=cfg.temperature, top_p=cfg.top_p,
                                     max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, batch_size=cfg.batch_size,
                                     backend=cfg.backend, stop=cfg.stop)
    prompts = path.with_suffix(".prompts.jsonl")
    text = "".join(artifacts.dumps(r) for r in records)
    if not prompts.exists() or prompts.read_text(encoding="utf-8") != text:
        artifacts.atomic_write_text(prompts, text)
    previous = artifacts.read_manifest(path) if path.exists() else None
    if previous is not None:
        from r1cli import models

        same = (all(previous["config"].get(k) == v for k, v in scfg.settings().items())
                and previous.get("model") == models.resolve(model).identity()
                and previous["inputs"][0]["sha256"] == artifacts.read_jsonl(prompts).info.sha256)
        if same:
            info(f"eval: reusing {path} (same model, prompts and settings)")
            return artifacts.read_jsonl(path).records
        if not force:
            raise ConfigError(f"{path}: samples from another model or other settings exist; pass --force to sample again")
    sample.run(str(prompts), str(path), scfg, force=force)
    return artifacts.read_jsonl(path).records


def evaluate(name: str, records: list[dict[str, Any]], cfg: EvalConfig) -> dict[str, Any]:
    """Metrics for one run's sample records."""
    from r1cli import metrics, tasks
    from r1cli.records import completion_text
    from r1cli.rewards.fmt import is_well_formatted
    from r1cli.tasks.answers import answer_keys

    correct_scores = registry.Reward(registry.RewardSpec("accuracy"))(
        [r["completion"] for r in records], **_columns(records))
    best_scores: list[float | None] = []
    if cfg.best_of and all(_field_score(r, cfg.best_of) is not _NOT_A_SCORE for r in records):
        best_scores = [_field_score(r, cfg.best_of) for r in records]
    elif cfg.best_of:
        best_scores = registry.score(registry.resolve([registry.RewardSpec(cfg.best_of)]), records)
        best_scores = [s["reward"] for s in best_scores]
    keys: list[str | None] = [None] * len(records)
    by_kind: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_kind.setdefault(tasks.get(r["task"]).answer_kind, []).append(i)
    for kind, rows in by_kind.items():
        for i, key in zip(rows, answer_keys([records[i]["completion"] for i in rows], kind, timeout=cfg.timeout)):
            keys[i] = key
    groups: dict[str, metrics.Group] = {}
    for i, r in enumerate(records):
        g = groups.setdefault(r["id"], metrics.Group([], [], [], []))
        score = correct_scores[i]
        g.correct.append(tasks.is_correct(score) is True)
        g.unjudged += score is None
        g.keys.append(keys[i])
        g.tokens.append(r.get("completion_tokens"))
        g.truncated.append(r["finish_reason"] == "length" if "finish_reason" in r else None)
        if best_scores:
            g.best_scores.append(best_scores[i])
    summary = metrics.summarize(list(groups.values()), best_of_name=cfg.best_of)
    # How often the model writes R1-Zero's format (the `format` reward), right or wrong.
    formatted = [is_well_formatted(completion_text(r["completion"])) for r in records]
    summary["format_rate"] = sum(formatted) / len(formatted)
    return {"name": name, **summary}


def _columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = {k for r in records for k in r} - {"completion", "prompt"}
    return {k: [r.get(k) for r in records] for k in sorted(keys)}


def _table(runs: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from r1cli import console

    if not runs or console.quiet:
        return
    k = runs[0]["k"]
    cols = ["pass@1", *[c for c in runs[0] if c.startswith("pass@") and c != "pass@1"], f"cons@{k}",
            *([f"best_of@{k}"] if f"best_of@{k}" in runs[0] else [])]
    table = Table(title=f"r1cli eval (k={k})", title_justify="left")
    table.add_column("run")
    for c in [*cols, "R1 format", "mean tokens", "truncated", "prompts"]:
        table.add_column(c, justify="right")
    for r in runs:
        tokens = r["mean_completion_tokens"]
        table.add_row(r["name"], *[_pct(r.get(c)) for c in cols], _pct(r.get("format_rate")),
                      "-" if tokens is None else f"{tokens:.1f}", _pct(r["truncation_rate"]), str(r["prompts"]))
    stderr.print(table)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
