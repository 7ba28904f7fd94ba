"""`r1cli grpo`: R1-Zero reinforcement learning with TRL's GRPOTrainer, LoRA by default.

    r1cli grpo prompts.jsonl -m Qwen/Qwen2.5-1.5B -r accuracy -r format=0.2 -o runs/r1-zero
    r1cli grpo --task countdown -n 2000 -m Qwen/Qwen2.5-3B -r countdown --num-generations 8 -o runs/tinyzero
    r1cli prepare gsm8k --data gsm8k.jsonl -o - | r1cli grpo - -m runs/sft -c grpo.yaml -o runs/rl   # from an SFT adapter
    accelerate launch -m r1cli grpo prompts.jsonl -m MODEL -c grpo.yaml -o runs/rl               # several GPUs

For each prompt a group of G completions is sampled and scored by the rule-based rewards; each
completion's advantage is its reward relative to its group (no critic), and the policy moves
toward the better ones, clipped (epsilon) and held near the reference by a k3 KL term (beta).
TRL's options pass through under `trl:` in the config file (or --trl KEY=VALUE), named as in
TRL's GRPOConfig documentation.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field
from typing import Any

from r1cli import rewards as registry
from r1cli.artifacts import Manifest
from r1cli.config import ConfigError
from r1cli.console import info
from r1cli.tasks import load_prompts
from r1cli.training import RunFolder, TrainConfig, Timer

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
SCALE_REWARDS = ("group", "batch", "none")
VLLM_MODES = ("colocate", "server")


@dataclass
class GrpoConfig(TrainConfig):
    rewards: Any = None  # {name: weight | {weight, **params}} or a list of NAME[=WEIGHT]; default: the task's
    prompts: dict[str, Any] = field(default_factory=dict)  # a prompt source (task, data, n, template...) instead of INPUT
    num_generations: int = 8
    beta: float = 0.001
    epsilon: float = 0.2
    epsilon_high: float | None = None
    num_iterations: int = 1
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    mask_truncated_completions: bool = False
    # Rollouts at 0.8 / 0.95, not TRL's 1.0 / 1.0: on SmolLM2-135M-Instruct (one-digit sums, 128
    # samples each) 1.0 / 1.0 garbled 8.6% of completions (non-ASCII noise) and 45% ran to the
    # length limit, 15% right; 0.8 / 0.95 garbled none, 31% ran out, 44% right, and still varied
    # enough for groups to differ. Large models lose little at these settings.
    temperature: float = 0.8
    top_p: float = 0.95
    max_completion_length: int = 512
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    samples_every: int = 10

    def validate(self) -> None:
        super().validate()
        self.require(self.num_generations >= 2, "num_generations", "must be at least 2 (advantages compare completions within a group)")
        self.require(self.beta >= 0, "beta", "must be >= 0 (0 turns the KL term and the reference pass off)")
        self.require(0 < self.epsilon < 1, "epsilon", "must be in (0, 1)")
        self.require(self.epsilon_high is None or self.epsilon_high >= self.epsilon, "epsilon_high", "must be >= --epsilon (DAPO's clip-higher)")
        self.require(self.num_iterations >= 1, "num_iterations", "must be at least 1")
        self.require(self.loss_type in LOSS_TYPES, "loss_type", f"must be one of {', '.join(LOSS_TYPES)}")
        self.require(self.scale_rewards in SCALE_REWARDS, "scale_rewards", f"must be one of {', '.join(SCALE_REWARDS)}")
        self.require(self.temperature > 0, "temperature", "must be > 0 (GRPO needs varied completions)")
        self.require(0 < self.top_p <= 1, "top_p", "must be in (0, 1]")
        self.require(self.max_completion_length >= 1, "max_completion_length", "must be at least 1")
        self.require(self.vllm_mode in VLLM_MODES, "vllm_mode", f"must be one of {', '.join(VLLM_MODES)}")
        self.require(self.samples_every >= 0, "samples_every", "must be >= 0 (0: no samples file)")
        if self.loss_type == "luspo" and self.trl.get("importance_sampling_level", "token") != "sequence":
            raise ConfigError("--loss-type luspo needs trl.importance_sampling_level: sequence (a sequence-level loss)")
        if self.use_vllm and importlib.util.find_spec("vllm") is None:
            raise ConfigError("--use-vllm: vLLM is not installed; install it (pip install 'r1cli[vllm]') or drop --use-vllm")

    def grpo_args(self) -> dict[str, Any]:
        """The R1 knobs, under their TRL names."""
        keys = ("num_generations", "beta", "epsilon", "epsilon_high", "num_iterations", "loss_type", "scale_rewards",
                "mask_truncated_completions", "temperature", "top_p", "max_completion_length", "use_vllm", "vllm_mode")
        return {k: getattr(self, k) for k in keys}


def run(input_path: str | None, output: str, cfg: GrpoConfig, *, flags: list[str] | None = None, config_file: str | None = None,
        force: bool = False, resume: bool = False) -> dict[str, Any]:
    from r1cli import models, training, trl_compat
    from r1cli.commands.reward import check_columns, choose_specs
    from r1cli.device import pick_device

    timer = Timer()
    ref = models.resolve(cfg.model, cfg.adapter)
    cfg.check_model(ref)
    tokenizer = functools.cache(lambda: models.load_tokenizer(ref, trust_remote_code=cfg.trust_remote_code))
    records, where, source = load_prompts(input_path, cfg.prompts, lambda: models.has_chat_template(tokenizer()))
    specs = choose_specs(flags, cfg.rewards, records, config_file)
    rewards = registry.resolve(specs)
    check_columns(rewards, records, where)
    training.check_world_batch(cfg, cfg.num_generations, "--num-generations")
    if ref.gguf_file and not cfg.lora and cfg.beta > 0:
        # Without LoRA, TRL builds the KL's reference model from a config.json, which a GGUF file replaces.
        raise ConfigError(f"--full with --beta > 0 needs a safetensors model for the reference policy; write one first "
                          f"(r1cli merge {ref.name} -o DIR) and train that, or use LoRA, or --beta 0")
    models.check_prompts(tokenizer(), ref, [r["prompt"] for r in records])
    device = pick_device(cfg.device)
    identity = cfg.identity("grpo", ref.identity())
    folder = RunFolder(output, force=force, resume=resume, identity=identity)
    folder.check()

    GRPOConfig, GRPOTrainer = trl_compat.grpo_classes()
    args = cfg.trl_config(GRPOConfig, folder.path, device, reward_weights=[r.spec.weight for r in rewards],
                          log_completions=False, **cfg.grpo_args())
    dataset = _dataset(records)
    folder.start()
    args.distributed_state.wait_for_everyone()

    model = cfg.model_for_trainer(ref, args, device)
    manifest = Manifest("grpo", {**cfg.to_dict(), "rewards": [s.as_dict() for s in specs], "learning_rate": cfg.lr()},
                        [source], ref.identity())
    trainer = GRPOTrainer(model=model, reward_funcs=rewards, args=args, train_dataset=dataset, processing_class=tokenizer(),
                          peft_config=cfg.lora_config(ref))
    training.attach(trainer, training.make_callback(folder, "grpo", note_keys=("reward", "kl"), samples_every=cfg.samples_every))
    training.train(trainer, folder)
    files = training.save_final(trainer, folder, cfg, ref)
    stats = {**training.last_metrics(folder), "seconds": timer.seconds, "prompts": len(records), "files": files}
    folder.finish(manifest.finish(stats, world_size=args.world_size, device=device))
    last = stats.get("last", {})
    if training.is_main_process():
        info(f"grpo: {stats['steps']} steps, reward {stats['first'].get('reward', float('nan')):.3f} -> "
             f"{last.get('reward', float('nan')):.3f} -> {output}")
    return stats


def _dataset(records: list[dict[str, Any]]) -> Any:
    import datasets

    # `from_list` takes its columns from the first record: give every record every column
    # (None where absent), or a field only later records have would silently vanish.
    columns = list(dict.fromkeys(k for r in records for k in r))
    try:
        return datasets.Dataset.from_list([{k: r.get(k) for k in columns} for r in records])
    except Exception as e:  # pyarrow's type errors name the column only in the message
        raise ConfigError(f"the prompt records do not form a table (a field changes type between records?): {str(e).splitlines()[0]}") from None
