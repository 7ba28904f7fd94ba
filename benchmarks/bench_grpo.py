"""`r1cli grpo` step time vs a minimal plain-TRL script with identical settings.

Goals: with fast rollouts (`--rollout fast`, what `auto` picks on a CPU) at an R1-like shape,
<= 0.75x plain TRL's time per step; with `--rollout trl` (TRL's own generate on both sides),
<= 1.05x, r1cli's overhead.

    python benchmarks/bench_grpo.py --threads 1 --num-generations 8 --batch-size 16 --max-completion-length 128 --steps 6 --repeats 5   # R1-like, CPU
    python benchmarks/bench_grpo.py                    # CPU-sized defaults
    python benchmarks/bench_grpo.py --rollout trl      # r1cli's overhead alone: both sides generate with TRL
    python benchmarks/bench_grpo.py --hidden-size 896 --layers 24 --steps 20 --max-completion-length 256   # GPU
    python benchmarks/bench_grpo.py --threads 1 --steps 10 --json grpo.json   # as benchmarks/run_all.py runs it on a CPU

Both sides train the same LoRA on the same prompts with the same GRPOConfig values and seed; the
plain side is what a user would write by hand with TRL (dataset, reward function, trainer,
train), at r1cli's rollout temperature and top-p. The r1cli side is the stage itself
(`r1cli.commands.grpo.run`) with its validation, callbacks (progress, metrics and samples
files), checkpoint marks and, unless `--rollout trl`, its fast rollouts (r1cli/rollouts.py).
Time per step is transformers' `train_runtime` / steps on each side (the training loop with
callbacks, not model loading or the final save). Runs alternate (plain, r1cli, ...); the ratio
is of the medians, with the median of the run-by-run ratios beside it (run i of both sides ran
back to back, under about the same load). The mean completion length of each side is printed
too: a side whose completions ended sooner would do less work, so they should agree within
sampling noise (every run of a side samples the same completions: same seed, same prompts).

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
    ap.add_argument("--rollout", default="auto", choices=("auto", "trl", "fast"), help="r1cli's rollout engine (GrpoConfig.rollout)")
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
    from r1cli.rollouts import choose
    from workload import tiny_workload

    wl = tiny_workload("grpo", hidden_size=args.hidden_size, layers=args.layers, n_prompts=200, threads=args.threads)
    work, prompts, records = wl.work, wl.prompts, wl.records
    cfg = GrpoConfig.build(
        model=str(work / "model"), num_generations=args.num_generations, batch_size=args.batch_size,
        max_completion_length=args.max_completion_length, max_steps=args.steps, save_steps=10_000, learning_rate=1e-4,
        rewards={"countdown": 1.0}, gradient_checkpointing=False, rollout=args.rollout,
    )
    device = pick_device("auto")

    lengths: dict[str, list[float]] = {"plain_trl": [], "r1cli_grpo": []}

    def mean_length(log: list[dict]) -> float:
        values = [row["completions/mean_length"] for row in log if "completions/mean_length" in row]
        return sum(values) / len(values)

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
            temperature=cfg.temperature, top_p=cfg.top_p,
            save_strategy="steps", save_steps=10_000, logging_steps=1, seed=0, report_to=[], use_cpu=device == "cpu",
            disable_tqdm=True, **training_precision(device), **{checkpointing_field(GRPOConfig): False},
        )
        trainer = GRPOTrainer(
            model=str(work / "model"), reward_funcs=[countdown_reward], args=config,
            train_dataset=Dataset.from_list(records), processing_class=AutoTokenizer.from_pretrained(work / "model"),
            peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"),
        )
        result = trainer.train()
        lengths["plain_trl"].append(mean_length(trainer.state.log_history))
        return result.metrics["train_runtime"] / args.steps

    def ours(out: Path) -> float:
        stats = grpo_run(str(prompts), str(out), cfg, force=True)
        lengths["r1cli_grpo"].append(mean_length([json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]))
        return stats["train_runtime"] / args.steps

    plain(work / "warmup")  # first-run costs (imports, allocator) charged to neither side
    lengths["plain_trl"].clear()
    mem = PeakMemory(device)
    plain_s, ours_s = [], []
    for i in range(args.repeats):
        with mem.side("plain_trl"):
            plain_s.append(plain(work / f"plain{i}"))
        with mem.side("r1cli_grpo"):
            ours_s.append(ours(work / f"ours{i}"))
    p, o = statistics.median(plain_s), statistics.median(ours_s)
    paired = statistics.median(b / a for a, b in zip(plain_s, ours_s))
    fast = choose(args.rollout, device, use_vllm=False) == "fast"
    goal = 0.75 if fast else 1.05
    goal_note = f"goal <= {goal}x" + (" at G=8, batch 16, 128 tokens" if fast else "")
    result = {
        "command": "python benchmarks/bench_grpo.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "json"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, device {device}",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "settings": vars(args),
        "plain_trl_s_per_step": plain_s, "r1cli_s_per_step": ours_s,
        "ratio_r1cli_over_plain": o / p,
        "paired_ratio": paired,
        "goal": goal,
        "rollout": args.rollout,
        "mean_completion_length": lengths,
        "memory": mem.report(),
        "rewards": rewards.names(),
    }
    print(f"plain TRL  : {p * 1000:8.1f} ms/step  (median of {args.repeats}: {', '.join(f'{x * 1000:.1f}' for x in plain_s)})")
    print(f"r1cli grpo : {o * 1000:8.1f} ms/step  (median of {args.repeats}: {', '.join(f'{x * 1000:.1f}' for x in ours_s)})")
    print(f"lengths    : mean completion {statistics.mean(lengths['plain_trl']):.1f} tokens plain, "
          f"{statistics.mean(lengths['r1cli_grpo']):.1f} r1cli (limit {args.max_completion_length})")
    print(f"ratio : {o / p:.2f}x  (r1cli / plain, medians; paired {paired:.2f}x; rollout {args.rollout}; {goal_note})")
    print(mem.line())
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
