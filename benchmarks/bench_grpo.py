"""`r1cli grpo` step time vs a minimal plain-TRL script with identical settings (goal <= 1.05x).

    python benchmarks/bench_grpo.py                    # CPU-sized defaults
    python benchmarks/bench_grpo.py --hidden-size 896 --layers 24 --steps 20 --max-completion-length 256   # GPU
    python benchmarks/bench_grpo.py --threads 1 --steps 10 --json grpo.json   # as benchmarks/run_all.py runs it on a CPU

Both sides train the same LoRA on the same prompts with the same GRPOConfig values and seed; the
plain side is what a user would write by hand with TRL (dataset, reward function, trainer,
train). The r1cli side is the stage itself (`r1cli.commands.grpo.run`) with its validation,
callbacks (progress, metrics and samples files) and checkpoint marks. Time per step is
transformers' `train_runtime` / steps on each side (the training loop with callbacks, not model
loading or the final save). Runs alternate (plain, r1cli, ...) and medians are compared.

Peak memory per side (see peakmem.py) covers the whole run of that side, model loading and
saving included: on CUDA the tensors allocated; on a CPU the process's peak RSS while that side
ran (each side loads its own model; what the allocator kept from the other side counts too).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-completion-length", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's); 1 steadies timings on a shared host")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    import torch
    import transformers
    import trl

    from peakmem import PeakMemory
    from r1cli import rewards
    from r1cli.commands.grpo import GrpoConfig, run as grpo_run
    from r1cli.device import pick_device, training_precision
    from workload import tiny_workload

    wl = tiny_workload("grpo", hidden_size=args.hidden_size, layers=args.layers, n_prompts=200, threads=args.threads)
    work, prompts, records = wl.work, wl.prompts, wl.records
    cfg = GrpoConfig.build(
        model=str(work / "model"), num_generations=args.num_generations, batch_size=args.batch_size,
        max_completion_length=args.max_completion_length, max_steps=args.steps, save_steps=10_000, learning_rate=1e-4,
        rewards={"countdown": 1.0}, gradient_checkpointing=False,
    )
    device = pick_device("auto")

    def plain(out: Path) -> float:
        # What a user writes by hand with TRL, with the same settings.
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import AutoTokenizer
        from trl import GRPOConfig, GRPOTrainer

        from r1cli.rewards.countdown import countdown
        from r1cli.trl_compat import checkpointing_field

        def countdown_reward(completions, numbers, target, **kwargs):
            return countdown(completions, numbers=numbers, target=target)

        config = GRPOConfig(
            output_dir=str(out), learning_rate=1e-4, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
            num_generations=args.num_generations, max_completion_length=args.max_completion_length, beta=cfg.beta,
            save_strategy="steps", save_steps=10_000, logging_steps=1, seed=0, report_to=[], use_cpu=device == "cpu",
            disable_tqdm=True, **training_precision(device), **{checkpointing_field(GRPOConfig): False},
        )
        trainer = GRPOTrainer(
            model=str(work / "model"), reward_funcs=[countdown_reward], args=config,
            train_dataset=Dataset.from_list(records), processing_class=AutoTokenizer.from_pretrained(work / "model"),
            peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"),
        )
        result = trainer.train()
        return result.metrics["train_runtime"] / args.steps

    def ours(out: Path) -> float:
        stats = grpo_run(str(prompts), str(out), cfg, force=True)
        return stats["train_runtime"] / args.steps

    plain(work / "warmup")  # first-run costs (imports, allocator) charged to neither side
    mem = PeakMemory(device)
    plain_s, ours_s = [], []
    for i in range(args.repeats):
        with mem.side("plain_trl"):
            plain_s.append(plain(work / f"plain{i}"))
        with mem.side("r1cli_grpo"):
            ours_s.append(ours(work / f"ours{i}"))
    p, o = statistics.median(plain_s), statistics.median(ours_s)
    result = {
        "command": "python benchmarks/bench_grpo.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "json"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, device {device}",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "settings": vars(args),
        "plain_trl_s_per_step": plain_s, "r1cli_s_per_step": ours_s,
        "ratio_r1cli_over_plain": o / p,
        "memory": mem.report(),
        "rewards": rewards.names(),
    }
    print(f"plain TRL  : {p * 1000:8.1f} ms/step  (median of {args.repeats}: {', '.join(f'{x * 1000:.1f}' for x in plain_s)})")
    print(f"r1cli grpo : {o * 1000:8.1f} ms/step  (median of {args.repeats}: {', '.join(f'{x * 1000:.1f}' for x in ours_s)})")
    print(f"ratio      : {o / p:.3f}x  (goal <= 1.05x)")
    print(mem.line())
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
