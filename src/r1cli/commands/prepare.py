"""`r1cli prepare`: a task's data as prompt records, templated for the model.

    r1cli prepare countdown -n 1000 --seed 0 -o countdown.jsonl
    r1cli prepare gsm8k --data ../shared/data/gsm8k/test.jsonl --template chat -o gsm8k.jsonl
    r1cli prepare math --data my_problems.parquet --field question=problem_text -n 100 -o - | r1cli sample - -m models/tiny -o -
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any

from r1cli.artifacts import InputInfo, JsonlOutput, Manifest, check_output_free
from r1cli.config import StageConfig
from r1cli.console import info
from r1cli.errors import R1Error


@dataclass
class PrepareConfig(StageConfig):
    data: str | None = None
    split: str | None = None
    subset: str | None = None
    n: int | None = None
    seed: int = 0
    shuffle: bool = False
    template: str = "r1-zero"
    system: str | None = None
    field: dict[str, str] = dc_field(default_factory=dict)
    language: str | None = None
    option: dict[str, Any] = dc_field(default_factory=dict)

    def validate(self) -> None:
        self.require(self.n is None or self.n >= 1, "n", "must be at least 1")


def parse_pairs(pairs: list[str] | None, flag: str, *, numbers: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise R1Error(f"{flag} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = _number(value) if numbers else value
    return out


def _number(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def run(task: str, output: str, cfg: PrepareConfig, *, force: bool = False) -> dict[str, Any]:
    from r1cli.tasks import PromptSource, build_prompts

    check_output_free(output, force)
    src = PromptSource(task=task, data=cfg.data, split=cfg.split, config=cfg.subset, n=cfg.n, seed=cfg.seed,
                       shuffle=cfg.shuffle, template=cfg.template, system=cfg.system, fields=cfg.field,
                       language=cfg.language, options=cfg.option)
    records, source = build_prompts(src)
    manifest = Manifest("prepare", {"task": task, **cfg.to_dict()})
    if "sha256" in source and "path" in source:
        manifest.inputs.append(InputInfo(source["path"], source["sha256"], source.get("rows", len(records))))
    stats = {"records": len(records), "task": task, "source": source}
    with JsonlOutput(output, force=force) as out:
        out.write(records)
        out.commit(manifest.finish(stats))
    info(f"prepare: {len(records)} {task} prompts ({cfg.template} template) -> {output}")
    return stats
