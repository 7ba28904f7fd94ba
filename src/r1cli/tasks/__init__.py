"""Tasks: turn raw data into prompt records, and know what a correct answer is.

A task names the reward that decides correctness (`accuracy`; a score of 1.0 means correct),
the default reward mix for `reward` and `grpo`, and how answers are normalised for majority
voting. Because a task's reward *is* its evaluation, the metric and the reward cannot drift.

    countdown    TinyZero's Countdown, generated from a seed (numbers, target, a known solution)
    arithmetic   `a + b` / `a - b` problems, generated; easy enough for a tiny model
    gsm8k        GSM8K format: `question`, and `answer` whose gold number follows `####`
    math         MATH format: `problem`, `answer` (or the last \\boxed{} of `solution`)

File tasks read any local JSONL/JSON/parquet/CSV file or `datasets` folder (or a hub dataset by
name); `--field question=COLUMN` maps differently named columns. Every column of the source is
kept on the record, so nothing a later stage might want is lost.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field as dc_field
from typing import Any

from r1cli.config import StageConfig
from r1cli.errors import DataError, R1Error
from r1cli.rewards import RewardSpec
from r1cli.tasks import generated, sources
from r1cli import templates
from r1cli.templates import Template

# Fields every prompt record owns; a source column of the same name is not copied over them.
# (`sft_target` is the text `sft` learns, which --targets writes: never a task's column.)
RESERVED = ("id", "task", "question", "prompt", "answer", "sft_target")


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    accuracy: RewardSpec
    rewards: tuple[RewardSpec, ...]
    answer_kind: str  # how `answer_key` normalises answers for majority voting
    generate: Callable[..., list[dict[str, Any]]] | None = None
    fields: Mapping[str, str] = dc_field(default_factory=dict)  # record field -> default source column
    gold: Callable[[dict[str, Any]], Any] | None = None  # gold answer from a source row
    hub: tuple[str, str | None] | None = None  # default hub dataset (name, config)

    @property
    def generated(self) -> bool:
        return self.generate is not None


def _gsm8k_gold(row: dict[str, Any]) -> str | None:
    value = row.get("answer")
    if value is None:
        return None
    text = str(value)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    return text.strip().replace(",", "") or None


def last_boxed(text: str) -> str | None:
    r"""Content of the last `\boxed{...}` (or `\fbox{...}`) in `text`, braces balanced."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    i = start = starts[-1]
    depth = 1
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i].strip()
        i += 1
    return None


def _math_gold(row: dict[str, Any]) -> str | None:
    value = row.get("answer")
    if value not in (None, ""):
        return str(value).strip()
    solution = row.get("solution")
    return last_boxed(str(solution)) if solution else None


_ACCURACY_FORMAT = (RewardSpec("accuracy", 1.0), RewardSpec("format", 0.2))

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "countdown",
            "TinyZero's Countdown: reach the target with each given number once (generated)",
            accuracy=RewardSpec("countdown", 1.0, {"format_score": 0.0, "rule": "strict"}),
            rewards=(RewardSpec("countdown", 1.0),),
            answer_kind="countdown",
            generate=generated.countdown,
        ),
        Task(
            "arithmetic",
            "two-number addition and subtraction (generated; learnable by a tiny model)",
            accuracy=RewardSpec("numeric"),
            rewards=_ACCURACY_FORMAT,
            answer_kind="numeric",
            generate=generated.arithmetic,
        ),
        Task(
            "gsm8k",
            "grade-school word problems with a numeric answer (GSM8K format)",
            accuracy=RewardSpec("numeric"),
            rewards=_ACCURACY_FORMAT,
            answer_kind="numeric",
            fields={"question": "question", "answer": "answer"},
            gold=_gsm8k_gold,
            hub=("openai/gsm8k", "main"),
        ),
        Task(
            "math",
            "competition math with LaTeX answers checked by math-verify (MATH / MATH-500 / AIME format)",
            accuracy=RewardSpec("math"),
            rewards=_ACCURACY_FORMAT,
            answer_kind="math",
            fields={"question": "problem", "answer": "answer"},
            gold=_math_gold,
            hub=("HuggingFaceH4/MATH-500", None),
        ),
    )
}


def get(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise R1Error(f"unknown task {name!r}; built-in tasks: {', '.join(TASKS)}") from None


@dataclass
class PromptSource(StageConfig):
    """Where prompts come from: a task plus its data, count, split, seed and template.

    Field names are the flags of `r1cli prepare` (and of other stages that take `--task`)."""

    task: str = ""
    data: str | None = None
    split: str | None = None
    subset: str | None = None  # a hub dataset's configuration name
    n: int | None = None
    seed: int = 0
    shuffle: bool = False
    template: str = "auto"  # r1-chat for a model with a chat template, else r1-zero (see templates.py)
    system: str | None = None
    field: dict[str, str] = dc_field(default_factory=dict)  # record field -> source column
    language: str | None = None
    option: dict[str, Any] = dc_field(default_factory=dict)  # generator options, e.g. digits
    targets: bool = False  # add `target`: the reference solution in R1's format, as SFT data

    def validate(self) -> None:
        self.require(bool(self.task), "task", f"is required (one of {', '.join(TASKS)})")
        self.require(self.n is None or self.n >= 1, "n", "must be at least 1")


def load_prompts(input_path: str | None, prompts: dict[str, Any],
                 has_chat_template: Callable[[], bool]) -> tuple[list[dict[str, Any]], Callable[[int], str], Any]:
    """Prompt records for a stage that takes them as INPUT or builds them from a task (`--task`,
    `prompts:` in a config): the records, a `where(i)` for error messages, and the input's
    `InputInfo` for the manifest. `has_chat_template()` (asked only for `--template auto`)
    tells the model's kind."""
    from r1cli import artifacts, records as schema
    from r1cli.config import ConfigError

    if input_path is not None and prompts:
        raise ConfigError("give prompts either as INPUT or with --task / prompts:, not both")
    if input_path is not None:
        loaded = artifacts.read_jsonl(input_path)
        schema.validate(loaded, "prompt")
        return loaded.records, loaded.where, loaded.info
    if not prompts:
        raise ConfigError("no prompts: pass a prompt JSONL file (or - for stdin), or --task NAME")
    unknown = sorted(set(prompts) - set(PromptSource.field_names()))
    if unknown:
        raise ConfigError(f"prompts.{unknown[0]}: unknown key; valid keys: {', '.join(PromptSource.field_names())}")
    src = PromptSource.build(None, **prompts)
    if src.template == "auto":
        src.template = templates.choose("auto", has_chat_template())
    records, source = build_prompts(src)
    name = source.get("path") or source.get("hub") or f"task {src.task}"
    return records, (lambda i: f"{name} prompt {i + 1}"), artifacts.InputInfo(name, source.get("sha256", ""), len(records))


def build_prompts(src: PromptSource) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Prompt records for `src`, and a description of the source for the manifest."""
    task = get(src.task)
    # `auto` is decided by the model (`load_prompts`, `prepare -m`); with none known, the text
    # template every model takes.
    template = Template(templates.choose(src.template, has_chat_template=False), src.system)
    if task.generated:
        assert task.generate is not None
        if src.data:
            raise R1Error(f"task {task.name!r} is generated from a seed; it takes no --data")
        split = src.split or "train"
        if split not in ("train", "test"):
            raise R1Error(f"--split {split!r}: generated tasks have the splits 'train' and 'test'")
        import inspect

        valid = [p.name for p in inspect.signature(task.generate).parameters.values() if p.kind is p.KEYWORD_ONLY]
        unknown = sorted(set(src.option) - set(valid))
        if unknown:
            raise R1Error(f"--option {unknown[0]}: task {task.name!r} has no such option; its options: {', '.join(valid)}")
        rows = task.generate(src.n if src.n is not None else 100, src.seed, split, **src.option)
        source = {"generated": task.name, "seed": src.seed, "split": split, "options": src.option}
        records = [_record(task, f"{task.name}-{split}-{src.seed}-{i}", row, template, src.language) for i, row in enumerate(rows)]
        if src.targets:
            add_targets(records)
        return records, source

    if src.data is None and task.hub is None:
        raise R1Error(f"task {task.name!r} needs --data PATH")
    if src.data is None:
        assert task.hub is not None
        data, config = task.hub
        loaded = sources.load(data, split=src.split, config=src.subset or config)
    else:
        loaded = sources.load(src.data, split=src.split, config=src.subset)
    order = list(range(len(loaded.rows)))
    if src.shuffle:
        random.Random(src.seed).shuffle(order)
    if src.n is not None:
        order = order[: src.n]
    mapping = {**task.fields, **src.field}
    unknown = sorted(set(src.field) - {"id", "question", "answer"})
    if unknown:
        raise R1Error(f"--field {unknown[0]}=...: only id, question and answer can be mapped")
    records = []
    for i in order:
        row, where = loaded.rows[i], loaded.where[i]
        qcol = mapping["question"]
        if qcol not in row:
            raise DataError(where, f"missing; map the question column with --field question=COLUMN (columns: {', '.join(map(str, row))})", field=qcol)
        if not isinstance(row[qcol], str) or not row[qcol].strip():
            raise DataError(where, "must be a non-empty string", field=qcol)
        acol = mapping.get("answer", "answer")
        renamed = {**row, "answer": row.get(acol)} if acol != "answer" else row
        if acol not in row and not (task.name == "math" and "solution" in row):
            raise DataError(where, "missing; map the gold answer column with --field answer=COLUMN", field=acol)
        gold = task.gold(renamed) if task.gold else renamed.get("answer")
        idcol = mapping.get("id") or next((c for c in ("id", "unique_id") if c in row), None)
        rid = str(row[idcol]) if idcol and row.get(idcol) is not None else f"{task.name}-{i}"
        extra = {k: v for k, v in row.items() if k not in (qcol, acol) and k not in RESERVED}
        if task.name == "gsm8k" and isinstance(row.get(acol), str) and "solution" not in extra:
            extra["solution"] = row[acol]  # GSM8K's worked solution: cold-start SFT material
        records.append(_record(task, rid, {"question": row[qcol], "answer": gold, **extra}, template, src.language))
    _check_unique(records)
    if src.targets and add_targets(records) == 0:
        raise R1Error("--targets: the data has no reference solutions (a `solution` field) to turn into targets")
    return records, loaded.source


def _record(task: Task, rid: str, row: dict[str, Any], template: Template, language: str | None) -> dict[str, Any]:
    question = row["question"]
    rest = {k: v for k, v in row.items() if k not in ("question", "answer")}
    record = {"id": rid, "task": task.name, "question": question, "prompt": template.apply(question, row), "answer": row.get("answer"), **rest}
    if language:
        record["language"] = language
    return record


def solution_target(record: dict[str, Any]) -> str | None:
    """A record's reference solution as an R1-format answer, `<think>...</think> <answer>...</answer>`:
    cold-start SFT data from worked solutions (GSM8K's `####` line is left out of the thought).
    Countdown's answer is the equation itself, which is what its reward reads."""
    solution, answer = record.get("solution"), record.get("answer")
    if not isinstance(solution, str) or not solution.strip() or answer is None:
        return None
    thought = re.sub(r"\n?####.*$", "", solution.strip(), flags=re.S).strip()
    if record.get("task") == "countdown":
        return f"<think> {thought} = {answer} </think> <answer> {thought} </answer>"
    return f"<think> {thought} </think> <answer> {answer} </answer>"


def add_targets(records: list[dict[str, Any]]) -> int:
    """Give every record that has a reference solution an `sft_target` (see `solution_target`):
    its own field, so a task's own fields (Countdown's `target`, the goal number) stay as they are."""
    count = 0
    for r in records:
        target = solution_target(r)
        if target is not None:
            r["sft_target"] = target
            count += 1
    return count


def _check_unique(records: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for r in records:
        if r["id"] in seen:
            raise R1Error(f"the data has the id {r['id']!r} twice; map a unique column with --field id=COLUMN")
        seen.add(r["id"])
