"""`r1cli prepare`: a task's data as prompt records, templated for the model.

    r1cli prepare countdown -n 1000 --seed 0 -o countdown.jsonl
    r1cli prepare gsm8k --data ../shared/data/gsm8k/test.jsonl -m models/SmolLM2-135M-Instruct.Q4_1.gguf -o gsm8k.jsonl  # r1-chat
    r1cli prepare math --data my_problems.parquet --field question=problem_text -n 100 -o - | r1cli sample - -m models/tiny -o -
"""

from __future__ import annotations

from typing import Any

from r1cli import templates
from r1cli.artifacts import InputInfo, JsonlOutput, Manifest, check_output_free
from r1cli.console import info
from r1cli.tasks import PromptSource, build_prompts


def _has_chat_template(model: str) -> bool:
    from r1cli import models

    return models.has_chat_template(models.load_tokenizer(models.resolve(model)))


def _number(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def run(src: PromptSource, output: str, *, force: bool = False, model: str | None = None) -> dict[str, Any]:
    check_output_free(output, force)
    if src.template == "auto":
        # r1-chat for a chat model; with no model named, the text template every model takes.
        src.template = templates.choose("auto", model is not None and _has_chat_template(model))
    elif model is not None:
        _has_chat_template(model)  # a wrong -m fails here, whatever the template
    records, source = build_prompts(src)
    manifest = Manifest("prepare", src.to_dict())
    if "sha256" in source and "path" in source:
        manifest.inputs.append(InputInfo(source["path"], source["sha256"], source.get("rows", len(records))))
    stats = {"records": len(records), "task": src.task, "source": source}
    with JsonlOutput(output, force=force) as out:
        out.write(records)
        out.commit(manifest.finish(stats))
    info(f"prepare: {len(records)} {src.task} prompts ({src.template} template) -> {output}")
    return stats
