"""`r1cli sft`: supervised fine-tuning with TRL's SFTTrainer (cold start, rejection-sampled data,
distillation into a student, Sky-T1 and journey-learning data).

    r1cli sft cold_start.jsonl -m Qwen/Qwen2.5-1.5B -o runs/cold-start
    r1cli sft reasoning.jsonl general.jsonl --weight 3 --weight 1 -m BASE --epochs 2 -o runs/sft   # R1's mix
    r1cli reject scored.jsonl -o - | r1cli sft - -m models/tiny --eval-data held_out.jsonl -o runs/sft

Each input record is either a prompt record with its answer text (`sft_target` when a stage
wrote one, e.g. `reject --reformat` or `prepare --targets`, else `completion`), or a chat conversation in `messages` whose
last turn is the assistant's. The loss covers the answer only, never the prompt; TRL appends
the end-of-sequence token to text answers, and chat templates close the assistant turn, so
the fine-tuned model learns to stop. Inputs mix by weight: 2 repeats a file's records, 0.5 keeps
a random half.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from r1cli import artifacts
from r1cli import records as schema
from r1cli.config import ConfigError, option
from r1cli.console import info
from r1cli.errors import DataError
from r1cli.training import TrainConfig


@dataclass
class SftConfig(TrainConfig):
    inputs: list[dict[str, Any]] = field(default_factory=list)  # [{path, weight}], the YAML form of INPUT... --weight
    max_length: int = option(1024, help="Token limit per example (longer ones are truncated).")
    packing: bool = option(False, help="Pack several examples into each sequence (faster on short data).", show="")
    eval_data: str | None = option(None, help="Held-out SFT data: its loss is measured before and after training.", show="")
    learning_rate: float | None = option(None, help="Learning rate.", show="1e-4 with LoRA, 1e-5 full")

    def validate(self) -> None:
        super().validate()
        self.require(self.max_length >= 8, "max_length", "must be at least 8 tokens")
        for item in self.inputs:
            if not isinstance(item, dict) or "path" not in item:
                raise ConfigError(f"inputs: each entry needs a 'path' (and optionally a 'weight'), got {item!r}")
            weight = item.get("weight", 1.0)
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
                raise ConfigError(f"inputs: weight of {item['path']} must be a number > 0, got {weight!r}")

    def lr(self) -> float:
        # Supervised targets carry more signal per step than RL advantages: larger default rates.
        return self.learning_rate if self.learning_rate is not None else (1e-4 if self.lora else 1e-5)


def combine_inputs(paths: list[str] | None, weights: list[float] | None) -> list[dict[str, Any]]:
    """INPUT paths with their --weight flags, in the YAML form `[{path, weight}]` (flags win over the file)."""
    if not paths:
        if weights:
            raise ConfigError("--weight needs INPUT files on the command line to apply to")
        return []
    weights = weights or []
    for w in weights:
        if not math.isfinite(w):
            raise ConfigError(f"--weight {w}: must be a finite number > 0")
    if len(weights) > len(paths):
        raise ConfigError(f"{len(weights)} --weight values for {len(paths)} inputs; give one weight per input (or none)")
    return [{"path": p, "weight": weights[i] if i < len(weights) else 1.0} for i, p in enumerate(paths)]


def to_example(record: dict[str, Any], where: str) -> dict[str, Any]:
    """One record as TRL's prompt-completion example (text, or conversational)."""
    if "messages" in record:
        messages = record["messages"]
        ok = isinstance(messages, list) and len(messages) >= 2 and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages)
        if not ok:
            raise DataError(where, 'must be a list of at least two {"role", "content"} messages', field="messages")
        if messages[-1]["role"] != "assistant":
            raise DataError(where, "the last message must be the assistant's (it is what the model learns)", field="messages")
        problem = schema.role_problem(messages)
        if problem:
            raise DataError(where, problem, field="messages")
        return {"prompt": messages[:-1], "completion": [messages[-1]]}
    if "prompt" not in record:
        raise DataError(where, "missing; an SFT record needs `prompt` with `completion` (or `sft_target`), or `messages`", field="prompt")
    # Only these two fields are training text: a task's own fields (Countdown's `target`, the
    # goal number) never are.
    key = "sft_target" if "sft_target" in record else "completion"
    if key not in record:
        raise DataError(where, "missing; the answer to learn goes in `completion` (or `sft_target`)", field="completion")
    prompt, answer = record["prompt"], record[key]
    if not isinstance(answer, str) or not answer.strip():
        raise DataError(where, "must be a non-empty string", field=key)
    if isinstance(prompt, str) and prompt:
        return {"prompt": prompt, "completion": answer}
    if isinstance(prompt, list) and prompt and all(isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in prompt):
        problem = schema.role_problem(prompt)
        if problem:
            raise DataError(where, problem, field="prompt")
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": answer}]}
    raise DataError(where, 'must be a non-empty string or a list of {"role", "content"} messages', field="prompt")


def load_examples(inputs: list[dict[str, Any]], seed: int) -> tuple[list[dict[str, Any]], list[artifacts.InputInfo], dict[str, int]]:
    """All inputs as TRL examples, mixed by weight; one kind of prompt (text or chat) throughout."""
    rng = random.Random(seed)
    examples: list[dict[str, Any]] = []
    infos = []
    counts: dict[str, int] = {}
    kinds: dict[bool, str] = {}
    for item in inputs:
        loaded = artifacts.read_jsonl(item["path"])
        infos.append(loaded.info)
        rows = [to_example(r, loaded.where(i)) for i, r in enumerate(loaded.records)]
        for i, row in enumerate(rows):
            chat = isinstance(row["prompt"], list)
            kinds.setdefault(chat, loaded.where(i))
            if len(kinds) > 1:
                raise DataError(loaded.where(i), f"mixes text prompts and chat messages (see {kinds[not chat]}); use one template for all inputs", field="prompt")
        weight = float(item.get("weight", 1.0))
        whole, frac = int(math.floor(weight)), weight - math.floor(weight)
        picked = rows * whole + rng.sample(rows, round(frac * len(rows)))
        counts[loaded.info.path] = len(picked)
        examples.extend(picked)
    if not examples:
        raise ConfigError("the inputs' weights leave no examples to train on")
    rng.shuffle(examples)
    return examples, infos, counts


def run(cfg: SftConfig, output: str, *, force: bool = False, resume: bool = False, dry_run: bool = False) -> dict[str, Any]:
    import datasets

    from r1cli import models, trl_compat, training

    if not cfg.inputs:
        raise ConfigError("no inputs: pass SFT data files (or - for stdin)")
    examples, infos, counts = load_examples(cfg.inputs, cfg.seed)
    eval_examples = None
    if cfg.eval_data:
        eval_examples, eval_infos, _ = load_examples([{"path": cfg.eval_data, "weight": 1.0}], cfg.seed)
        infos += eval_infos
    ref = models.resolve(cfg.model, cfg.adapter)
    cfg.check_model(ref)
    tokenizer = models.load_tokenizer(ref, trust_remote_code=cfg.trust_remote_code)
    if isinstance(examples[0]["prompt"], list):
        models.require_chat_template(tokenizer, ref, "the SFT data are chat messages")
    config_class, trainer_class = trl_compat.sft_classes()

    def trainer(model: Any, args: Any, peft_config: Any) -> Any:
        return trainer_class(model=model, args=args, train_dataset=datasets.Dataset.from_list(examples),
                             eval_dataset=datasets.Dataset.from_list(eval_examples) if eval_examples else None,
                             processing_class=tokenizer, peft_config=peft_config)

    def held_out(when: str) -> Callable[[Any], dict[str, Any]]:
        return lambda t: {f"eval_loss_{when}": _evaluate(t) if eval_examples else None}

    stats = training.fit(training.Stage(
        "sft", config_class, {"max_length": cfg.max_length, "packing": cfg.packing, "completion_only_loss": True, "eval_strategy": "no"},
        trainer, {**cfg.to_dict(), "learning_rate": cfg.lr()}, infos, before=held_out("before"), after=held_out("after"),
        stats={"examples": len(examples), "examples_per_input": counts},
        plan=lambda steps: _plan(cfg, steps, examples, tokenizer),
    ), cfg, ref, output, force=force, resume=resume, dry_run=dry_run)
    if dry_run:
        return stats
    if training.is_main_process():
        before, after = stats["eval_loss_before"], stats["eval_loss_after"]
        held = f", held-out loss {before:.3f} -> {after:.3f}" if before is not None else ""
        info(f"sft: {stats['steps']} steps on {len(examples)} examples{held} -> {output}")
    return stats


def _plan(cfg: SftConfig, steps: int, examples: list[dict[str, Any]], tokenizer: Any) -> dict[str, str]:
    """The examples and the tokens a step trains on, measured on up to 200 of them."""
    import statistics

    from r1cli.models import tokenize_prompt

    def length(example: dict[str, Any]) -> int:
        prompt, answer = example["prompt"], example["completion"]
        if isinstance(prompt, list):
            return len(tokenize_prompt(tokenizer, [*prompt, *answer]))
        return len(tokenizer(prompt + answer)["input_ids"])

    mean = statistics.fmean(min(cfg.max_length, length(e)) for e in examples[:200])
    per_step = cfg.batch_size * cfg.gradient_accumulation_steps * cfg.world_size
    return {"data": f"{len(examples):,} examples, about {mean:.0f} tokens each (at most --max-length {cfg.max_length}); "
                    f"about {steps * per_step * mean:,.0f} tokens to train on"}


def _evaluate(trainer: Any) -> float:
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):
        return float(trainer.evaluate()["eval_loss"])
