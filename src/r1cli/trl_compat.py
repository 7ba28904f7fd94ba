"""Everything r1cli takes from TRL and transformers' Trainer internals, in one place.

TRL moves fast (trainers graduate from `trl.experimental`, private attributes change). When a
TRL release breaks r1cli, this module is where to look: the rest of the code imports from here.
Tested with trl 1.16.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def grpo_classes() -> tuple[type, type]:
    from trl import GRPOConfig, GRPOTrainer

    return GRPOConfig, GRPOTrainer


def sft_classes() -> tuple[type, type]:
    from trl import SFTConfig, SFTTrainer

    return SFTConfig, SFTTrainer


def distill_classes(on_policy: bool) -> tuple[type, type]:
    """On-policy: TRL's DistillationTrainer (stable since 1.x). Off-policy: GKD with lambda 0,
    still under `trl.experimental` in 1.16."""
    if on_policy:
        from trl import DistillationConfig, DistillationTrainer

        return DistillationConfig, DistillationTrainer
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # the warning says what this docstring says
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    return GKDConfig, GKDTrainer


def config_fields(config_class: type) -> list[str]:
    """The keys a TRL config accepts (what `trl:` in a YAML file may hold)."""
    return [f.name for f in dataclasses.fields(config_class) if f.init]


def checkpointing_field(config_class: type) -> str:
    """transformers renamed `gradient_checkpointing` to `activation_checkpointing` (the old name
    warns); use whichever the installed version has."""
    return "activation_checkpointing" if "activation_checkpointing" in config_fields(config_class) else "gradient_checkpointing"


def recent_completions(trainer: Any) -> dict[str, Any] | None:
    """The last generation batch GRPOTrainer keeps for its completion logs: prompts,
    completions, per-reward scores and advantages. A private attribute, hence here."""
    logs = getattr(trainer, "_logs", None)
    if not isinstance(logs, dict) or "completion" not in logs:
        return None
    return {
        "prompt": list(logs.get("prompt", [])),
        "completion": list(logs.get("completion", [])),
        "rewards": {name: list(values) for name, values in logs.get("rewards", {}).items()},
        "advantage": list(logs.get("advantages", [])),
    }


def quiet_trainer_output(trainer: Any) -> None:
    """Drop transformers' tqdm bar and its print-the-logs callback (which writes to stdout);
    r1cli reports progress on stderr itself."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
