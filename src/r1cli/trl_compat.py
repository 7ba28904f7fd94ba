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


# -- rollouts: GRPOTrainer's generation step handed to an r1cli engine (r1cli/rollouts.py) ----------

# The generation method r1cli overrides and the parameters it was written against (TRL 1.16).
_GENERATION_METHOD = "_generate_single_turn"
_GENERATION_PARAMS = ("self", "prompt_ids", "images", "multimodal_fields", "num_generations", "has_tool_images")


@dataclasses.dataclass
class RolloutRequest:
    """One generation step of GRPOTrainer, as an r1cli rollout engine sees it."""

    prompt_ids: list[list[int]]  # one row per completion wanted: TRL repeats each prompt G times
    # What TRL's `generate` would use: TRL's settings, gaps filled as transformers fills them (None if blocked).
    generation_config: Any
    eos_token_ids: list[int]  # TRL keeps a completion up to and including the first of these
    tokenizer: Any
    unwrapped: Any  # () -> context manager giving the model as TRL prepares it for `generate`
    blocker: str | None  # a setting only TRL's own generation handles, if any


def with_rollout_engine(trainer_class: Any, make_engine: Any) -> Any:
    """A subclass of GRPOTrainer whose rollouts go to `make_engine()` (made once per trainer):
    the engine gets a RolloutRequest and returns each row's completion ids, or None to let
    TRL's own generation run. Returns `trainer_class` itself, with a warning, if it lacks the
    generation method this was written against (another TRL version)."""
    import inspect

    from r1cli.console import warn

    method = getattr(trainer_class, _GENERATION_METHOD, None) if isinstance(trainer_class, type) else None
    if method is None or tuple(inspect.signature(method).parameters) != _GENERATION_PARAMS:
        warn(f"rollout fast: this TRL's GRPOTrainer has no {_GENERATION_METHOD}{_GENERATION_PARAMS[1:]} "
             "(written against trl 1.16); rollouts use TRL's own generation")
        return trainer_class

    class RolloutGRPOTrainer(trainer_class):  # type: ignore[misc, valid-type]
        # The narrowest generation method: the batch's prompt token ids in, completion ids out
        # (TRL decodes, scores and masks them afterwards, whoever generated them).
        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,  # noqa: ANN001
                                  has_tool_images=False):
            if getattr(self, "_r1cli_engine", None) is None:
                self._r1cli_engine = make_engine()
            request = _rollout_request(self, prompt_ids, images, multimodal_fields, has_tool_images)
            completion_ids = self._r1cli_engine(request)
            if completion_ids is None:
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)
            return completion_ids, None  # no sampling logprobs, as from TRL's own `generate` path

    RolloutGRPOTrainer.__name__ = RolloutGRPOTrainer.__qualname__ = f"Fast{trainer_class.__name__}"
    return RolloutGRPOTrainer


def _rollout_request(trainer: Any, prompt_ids: list[list[int]], images: Any, multimodal_fields: Any,
                     has_tool_images: bool) -> RolloutRequest:
    import contextlib

    blocker = None
    if trainer.use_vllm:
        blocker = "vLLM generates the rollouts (use_vllm)"
    elif getattr(trainer, "use_transformers_continuous_batching", False):
        blocker = "use_transformers_continuous_batching is on"
    elif images is not None or multimodal_fields or has_tool_images or getattr(trainer, "_is_vlm", False):
        blocker = "the prompts are multimodal"
    elif trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled:
        blocker = "DeepSpeed or FSDP shards the weights"

    @contextlib.contextmanager
    def unwrapped():  # as TRL's `generate` path: no DDP wrapper, gradient checkpointing off, no autograd
        import torch
        from trl.models import unwrap_model_for_generation

        with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                         gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
                                         gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs) as model, \
                torch.no_grad():
            yield model

    # With vLLM, TRL builds no GenerationConfig at all; a blocked step needs none.
    config = None if blocker else _effective_generation_config(trainer)
    return RolloutRequest(prompt_ids=prompt_ids, generation_config=config, eos_token_ids=list(trainer.eos_token_ids),
                          tokenizer=getattr(trainer, "_tokenizer", trainer.processing_class), unwrapped=unwrapped,
                          blocker=blocker)


def _effective_generation_config(trainer: Any) -> Any:
    """TRL's GenerationConfig for rollouts completed as `generate` completes it: unset (None)
    entries from the model's generation_config, then transformers' global defaults. Computed
    once per config object (it does not change during training, and `update` may log warnings)."""
    source = trainer.generation_config
    cached = getattr(trainer, "_r1cli_generation_config", None)
    if cached is not None and cached[0] is source:
        return cached[1]
    import copy

    from transformers import GenerationConfig

    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    config = copy.deepcopy(source)
    config.update(**model.generation_config.to_dict(), defaults_only=True, allow_custom_entries=True)
    config.update(**GenerationConfig._get_default_generation_params(), defaults_only=True)
    trainer._r1cli_generation_config = (source, config)
    return config
