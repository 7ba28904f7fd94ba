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

from r1cli import rewards as registry, templates
from r1cli.health import Health
from r1cli import rollouts
from r1cli.config import ConfigError, option
from r1cli.console import info, warn
from r1cli.models import LONG_PROMPTS, LONG_PROMPTS_HELP, MAX_PROMPT_HELP
from r1cli.tasks import load_prompts
from r1cli.training import TrainConfig

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
SCALE_REWARDS = ("group", "batch", "none")
VLLM_MODES = ("colocate", "server")


@dataclass
class GrpoConfig(TrainConfig):
    rewards: registry.RewardsSetting = registry.rewards_option(registry.REWARDS_HELP.replace("Default:", "As in `r1cli reward`. Default:"))
    prompts: dict[str, Any] = field(default_factory=dict)  # a prompt source (task, data, n, template...) instead of INPUT
    num_generations: int = option(8, help="Group size G: completions per prompt.", flags=("--num-generations", "-G"))
    beta: float = option(0.001, help="KL coefficient to the reference (k3 estimator). The R1 report used a small positive value; "
                         "TRL defaults to 0. 0 skips the reference pass.")
    epsilon: float = option(0.2, help="Clip range of the importance ratio.")
    epsilon_high: float | None = option(None, help="Upper clip (DAPO's clip-higher); default: --epsilon.", show="")
    num_iterations: int = option(1, help="Updates per generation batch (mu).")
    loss_type: str = option("dapo", help="grpo (the report's per-sequence average), dapo (token-level, TRL's default), dr_grpo, "
                            "bnpo, cispo, sapo, luspo, vespo.")
    scale_rewards: str = option("group", help="Advantage scaling: group (divide by the group's std, as in GRPO), batch, or none (Dr. GRPO).")
    mask_truncated_completions: bool = option(False, help="Leave completions that hit the length limit out of the loss (DAPO).", show="")
    # Rollouts at 0.8 / 0.95, not TRL's 1.0 / 1.0: on SmolLM2-135M-Instruct (one-digit sums, 128
    # samples each) 1.0 / 1.0 garbled 8.6% of completions (non-ASCII noise) and 45% ran to the
    # length limit, 15% right; 0.8 / 0.95 garbled none, 31% ran out, 44% right, and still varied
    # enough for groups to differ. Large models lose little at these settings.
    temperature: float = option(0.8, help="Sampling temperature for rollouts (TRL's default is 1.0; 0.8 keeps small models coherent).")
    top_p: float = option(0.95, help="Nucleus sampling mass for rollouts (TRL's default is 1.0).")
    max_completion_length: int = option(512, help="Token limit per completion.")
    max_prompt_tokens: int | None = option(None, help=MAX_PROMPT_HELP, show="")
    long_prompts: str = option("refuse", help=LONG_PROMPTS_HELP)
    use_vllm: bool = option(False, help="Generate with vLLM (installed separately).", show="")
    vllm_mode: str = option("colocate", help="colocate (same GPUs) or server (trl vllm-serve).")
    # auto: fast on CPU, where it was measured at 0.70-0.72x plain TRL's step time (benchmarks/
    # RESULTS.md); on CUDA TRL's own generate until the fast path is measured there. See rollouts.py.
    rollout: str = option("auto", help="Who generates the rollouts: auto (fast on CPU; on CUDA TRL's generate, or vLLM with --use-vllm), "
                          "trl (TRL's generate), fast (r1cli's fast backend: one prefill per prompt for its G completions, "
                          "static KV cache), vllm (TRL's vLLM path).")
    samples_every: int = option(10, help="Write completions with their rewards to OUT/samples.jsonl every N steps (0: never).")
    probe: str | None = option(None, help="Held-out prompt records to watch (the first 4): at step 1 and every --samples-every "
                               "steps their greedy completions go to OUT/samples.jsonl, and `r1cli report` shows how they changed.",
                               show="")
    stop_on_alarm: bool = option(False, help="At the first run-health alarm (all completions truncated, no reward spread, ...), "
                                 "end the run after a checkpoint (resumable) instead of only warning.", show="")

    def validate(self) -> None:
        super().validate()
        self.rewards = registry.as_specs(self.rewards, self.source or "--reward")
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
        self.require(self.max_prompt_tokens is None or self.max_prompt_tokens >= 1, "max_prompt_tokens", "must be at least 1")
        self.require(self.long_prompts in LONG_PROMPTS, "long_prompts", f"must be one of {', '.join(LONG_PROMPTS)}")
        self.require(self.vllm_mode in VLLM_MODES, "vllm_mode", f"must be one of {', '.join(VLLM_MODES)}")
        self.require(self.rollout in rollouts.ROLLOUTS, "rollout", f"must be one of {', '.join(rollouts.ROLLOUTS)}")
        self.require(not (self.use_vllm and self.rollout in ("trl", "fast")), "rollout",
                     "conflicts with use_vllm (vLLM generates the rollouts); use rollout: vllm")
        self.use_vllm = self.use_vllm or self.rollout == "vllm"
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


def run(input_path: str | None, output: str, cfg: GrpoConfig, *, force: bool = False, resume: bool = False,
        dry_run: bool = False) -> dict[str, Any]:
    from r1cli import models, tasks, training, trl_compat
    from r1cli.device import pick_device

    ref = models.resolve(cfg.model, cfg.adapter)
    cfg.check_model(ref)
    tokenizer = functools.cache(lambda: models.load_tokenizer(ref, trust_remote_code=cfg.trust_remote_code))
    records, where, source = load_prompts(input_path, cfg.prompts, lambda: models.has_chat_template(tokenizer()))
    specs = cfg.rewards or tasks.default_rewards(records)
    rewards = registry.prepare(specs, records, where)
    training.check_world_batch(cfg, cfg.num_generations, "--num-generations")
    if ref.gguf_file and not cfg.lora and cfg.beta > 0:
        # Without LoRA, TRL builds the KL's reference model from a config.json, which a GGUF file replaces.
        raise ConfigError(f"--full with --beta > 0 needs a safetensors model for the reference policy; write one first "
                          f"(r1cli merge {ref.name} -o DIR) and train that, or use LoRA, or --beta 0")
    models.check_prompts(tokenizer(), ref, [r["prompt"] for r in records])
    # TRL tokenizes the prompts itself, uncut: measure them here, before any weights load, and
    # hand TRL the truncated ones (--long-prompts truncate).
    fitted = models.fit_prompts(tokenizer(), [r["prompt"] for r in records], where, cfg, new_field="max_completion_length",
                                context=models.context_length(ref, tokenizer(), trust_remote_code=cfg.trust_remote_code),
                                model=ref.name)
    if fitted.truncated:
        warn(f"grpo: {fitted.truncated} prompt(s) over {fitted.limit:,} tokens cut to at most their last {fitted.limit:,} tokens "
             "(--long-prompts truncate)")
        records = [{**r, "prompt": p} for r, p in zip(records, fitted.prompts)]
    dataset = _dataset(records)
    GRPOConfig, GRPOTrainer = trl_compat.grpo_classes()

    def trainer(model: Any, args: Any, peft_config: Any) -> Any:
        trainer_class = rollouts.trainer_class(GRPOTrainer, cfg.rollout, pick_device(cfg.device), use_vllm=cfg.use_vllm)
        return trainer_class(model=model, reward_funcs=rewards, args=args, train_dataset=dataset, processing_class=tokenizer(),
                             peft_config=peft_config)

    stats = training.fit(training.Stage(
        "grpo", GRPOConfig, {"reward_weights": [r.spec.weight for r in rewards], "log_completions": False, **cfg.grpo_args()},
        trainer, {**cfg.to_dict(), "rewards": [s.as_dict() for s in specs], "learning_rate": cfg.lr()}, [source],
        note_keys=("reward", "kl"), samples_every=cfg.samples_every, stats={"prompts": len(records), "truncated_prompts": fitted.truncated},
        after=lambda _: {"reward_failures": registry.failures(rewards)},
        probe=_probe(cfg, tokenizer()),
        health=Health(text_template_on_chat_model=models.has_chat_template(tokenizer()) and any(
            templates.is_r1_zero_text(r["prompt"]) for r in records)), stop_on_alarm=cfg.stop_on_alarm,
        plan=lambda steps: _plan(cfg, steps, fitted.ids),
    ), cfg, ref, output, force=force, resume=resume, dry_run=dry_run)
    if dry_run:
        return stats
    last = stats.get("last", {})
    if training.is_main_process():
        info(f"grpo: {stats['steps']} steps, reward {stats['first'].get('reward', float('nan')):.3f} -> "
             f"{last.get('reward', float('nan')):.3f} -> {output}")
    return stats


def _plan(cfg: GrpoConfig, steps: int, prompt_ids: list[list[int]]) -> dict[str, str]:
    completions = cfg.batch_size * cfg.gradient_accumulation_steps * cfg.world_size
    longest = max(map(len, prompt_ids))
    return {"rollouts": f"{completions} completions a step ({completions // cfg.num_generations} prompts x G={cfg.num_generations}); "
                        f"at most {steps * completions * cfg.max_completion_length:,} tokens to generate and "
                        f"{steps * completions * (longest + cfg.max_completion_length):,} to train on"}


def _probe(cfg: GrpoConfig, tokenizer: Any) -> Any:
    """The held-out prompts a run answers as it trains (--probe), checked like any prompt input."""
    if cfg.probe is None:
        return None
    from r1cli import artifacts, records as schema
    from r1cli.training import Probe

    loaded = artifacts.read_jsonl(cfg.probe)
    schema.validate(loaded, "prompt")
    return Probe(loaded.records, tokenizer, cfg.max_completion_length)


def _dataset(records: list[dict[str, Any]]) -> Any:
    import datasets

    # `from_list` takes its columns from the first record: give every record every column
    # (None where absent), or a field only later records have would silently vanish.
    columns = list(dict.fromkeys(k for r in records for k in r))
    try:
        return datasets.Dataset.from_list([{k: r.get(k) for k in columns} for r in records])
    except Exception as e:  # pyarrow's type errors name the column only in the message
        raise ConfigError(f"the prompt records do not form a table (a field changes type between records?): {str(e).splitlines()[0]}") from None
