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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from r1cli import templates
from r1cli.config import StageConfig, option as cli_option  # `option` is a field name below
from r1cli.errors import DataError, R1Error
from r1cli.rewards import RewardSpec
from r1cli.tasks import arithmetic, countdown, gsm8k, math as math_task, sources
from r1cli.tasks.math import last_boxed  # noqa: F401  (a task's gold, also read by reject's journeys)
from r1cli.tasks.task import Task
from r1cli.templates import Template

# Fields every prompt record owns; a source column of the same name is not copied over them.
# (`sft_target` is the text `sft` learns, which --targets writes: never a task's column.)
RESERVED = ("id", "task", "question", "prompt", "answer", "sft_target")

# The registry: a new task is its own module and one line here.
TASKS: dict[str, Task] = {t.name: t for t in (countdown.TASK, arithmetic.TASK, gsm8k.TASK, math_task.TASK)}


def default_rewards(records: Sequence[Mapping[str, Any]]) -> list[RewardSpec]:
    """The rewards of the records' task, for a stage given none."""
    names = sorted({str(r.get("task")) for r in records})
    if len(names) != 1:
        raise R1Error(f"the input mixes tasks ({', '.join(names)}); choose rewards with --reward NAME[=WEIGHT]")
    return list(get(names[0]).rewards)


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
    data: str | None = cli_option(None, help="Data: a JSONL/JSON/parquet/CSV file, a folder, or a hub dataset name. File tasks default to their hub dataset.", show="")
    split: str | None = cli_option(None, help="Split (train/test for generated tasks; a split or file-name prefix for data).", show="")
    subset: str | None = cli_option(None, help="Hub dataset configuration name (e.g. 'main' for openai/gsm8k).", show="")
    n: int | None = cli_option(None, help="Number of prompts (generated: default 100; data: the first N).", show="")
    seed: int = cli_option(0, help="Seed for generation and --shuffle.")
    shuffle: bool = cli_option(False, help="Shuffle data rows (with --seed) before taking -n.", show="")
    template: str = cli_option("auto", help=templates.TEMPLATE_HELP + " auto needs -m; without it, r1-zero.")
    system: str | None = cli_option(None, help="System message for --template chat or r1-chat (default: the model's own).", show="")
    field: dict[str, str] = cli_option(help="Map a record field to a source column: question=COL, answer=COL, id=COL. Repeatable.",
                                   default_factory=dict, show="")  # record field -> source column
    language: str | None = cli_option(None, help="Add a `language` field (e.g. zh) for the language-consistency reward.", show="")
    option: dict[str, Any] = cli_option(help="Generator option KEY=VALUE, e.g. digits=3 (arithmetic) or max_numbers=5 (countdown). Repeatable.",
                                    default_factory=dict, show="")  # generator options, e.g. digits
    targets: bool = cli_option(False, help="Add `sft_target`: the reference solution as <think>...</think> <answer>...</answer> "
                           "(SFT data for a cold start).", show="")

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
        if acol not in row and not (task.gold_in_solution and "solution" in row):
            raise DataError(where, "missing; map the gold answer column with --field answer=COLUMN", field=acol)
        gold = task.gold(renamed) if task.gold else renamed.get("answer")
        if gold is None or (isinstance(gold, str) and not gold.strip()):
            # An empty cell (a parquet/CSV NaN reads as None) or a solution with no final answer:
            # a prompt nothing can judge would score null in every reward, silently.
            raise DataError(where, "no gold answer (empty, NaN, or no final answer in the solution); fix or drop the row",
                            field=acol)
        idcol = mapping.get("id") or next((c for c in ("id", "unique_id") if c in row), None)
        rid = str(row[idcol]) if idcol and row.get(idcol) is not None else f"{task.name}-{i}"
        extra = {k: v for k, v in row.items() if k not in (qcol, acol) and k not in RESERVED}
        if task.answer_holds_solution and isinstance(row.get(acol), str) and "solution" not in extra:
            extra["solution"] = row[acol]  # a worked solution: cold-start SFT material
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
    Where the solution is itself the answer (Countdown's equation), the answer is the solution."""
    solution, answer = record.get("solution"), record.get("answer")
    if not isinstance(solution, str) or not solution.strip() or answer is None:
        return None
    thought = re.sub(r"\n?####.*$", "", solution.strip(), flags=re.S).strip()
    task = TASKS.get(str(record.get("task")))
    if task is not None and task.answer_is_solution:
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


# Registers `accuracy`, the task-routed correctness reward, with the reward registry.
from r1cli.tasks import accuracy as _accuracy  # noqa: E402,F401
from r1cli.tasks.accuracy import is_correct  # noqa: E402,F401
