"""The fast sample backend vs the plain one (transformers `generate`): tokens/s side by side.

    python benchmarks/bench_fast.py                                   # CPU: two tiny shapes
    python benchmarks/bench_fast.py --shape tiny --k 8 --max-new-tokens 256 --json out.json
    python benchmarks/bench_fast.py --shape qwen2.5-0.5b              # on a GPU host: the GPU targets
    python benchmarks/bench_fast.py --model Qwen/Qwen2.5-0.5B         # a real model instead of a shape

Both backends get the same prompts (Countdown, R1-Zero template), sorted by length and batched
as `r1cli sample` batches them, with the same per-batch seeds and sampling settings; runs
alternate (plain, fast, plain, fast, ...) after a warm-up of each, and medians are compared.
Throughput counts completion tokens (EOS included, padding not) per second of `generate` calls.

Shapes are random-weight Qwen2 models built offline by `r1cli.tiny` (the architecture, not the
quality, sets the speed). `qwen2.5-0.5b` has Qwen2.5-0.5B's dimensions and vocabulary size.

Targets: on CPU, fast >= 1.0x plain at every shape. On CUDA (qwen2.5-0.5b, >= 64 prompts per
batch, K=8, 512 new tokens, the defaults there): fast >= 3x plain, and fast >= 50% of the
memory-bandwidth bound. That bound, printed on CUDA only: every decode step must read all
weights once and each live row's KV cache (its prompt and the tokens so far); the bound time of
the run is those bytes, summed over the steps actually taken, divided by the device-to-device
bandwidth measured here with torch (a large tensor copy; bytes read + written per second).
Prefill is not in the bound, so the figure slightly understates how close decoding gets.

Peak memory per backend (see peakmem.py): on CUDA the tensors allocated while that backend's
timed runs ran (fast's preallocated cache and captured graphs included); on a CPU the process's
peak RSS while it ran, which includes the model both backends share.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    # name: (hidden, layers, heads, kv heads, intermediate, vocab or None for the tokenizer's)
    "tiny": (256, 4, 4, 2, 1024, None),
    "cpu-large": (768, 8, 12, 2, 3072, None),
    "qwen2.5-0.5b": (896, 24, 14, 2, 4864, 151936),
}
DEFAULTS = {  # per device kind: prompts, batch size (prompts), K, new tokens
    "cpu": dict(prompts=16, batch_size=8, k=4, max_new_tokens=128),
    "cuda": dict(prompts=128, batch_size=64, k=8, max_new_tokens=512),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", action="append", choices=sorted(SHAPES),
                    help="model shape (repeatable); default: tiny and cpu-large on CPU, qwen2.5-0.5b on CUDA")
    ap.add_argument("--model", help="a real model (hub name or folder) instead of --shape")
    ap.add_argument("--prompts", type=int)
    ap.add_argument("--batch-size", type=int, help="prompts per generate call (each with K completions)")
    ap.add_argument("--k", type=int)
    ap.add_argument("--max-new-tokens", type=int)
    ap.add_argument("--temperature", type=float, default=0.6)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    import torch
    import transformers

    from r1cli import console
    from r1cli.device import pick_device

    console.quiet = True
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    for key, value in DEFAULTS[kind].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    shapes = [args.model] if args.model else (args.shape or (["qwen2.5-0.5b"] if kind == "cuda" else ["tiny", "cpu-large"]))
    gpu = f", {torch.cuda.get_device_name(device)}" if kind == "cuda" else ""
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, device {device}{gpu}",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__},
        "settings": {k: getattr(args, k) for k in ("prompts", "batch_size", "k", "max_new_tokens", "temperature", "top_p", "repeats")},
        "runs": [],
    }
    print(f"command : {result['command']}")
    print(f"machine : {result['machine']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    print(f"settings: {args.prompts} prompts in batches of {args.batch_size} x K={args.k}, {args.max_new_tokens} new tokens, "
          f"temperature {args.temperature}, top-p {args.top_p}, median of {args.repeats} alternating runs")
    bandwidth = _d2d_bandwidth(device) if kind == "cuda" else None
    if bandwidth:
        print(f"device-to-device bandwidth: {bandwidth / 1e9:.0f} GB/s (read + written, torch copy of 1 GiB)")
    for shape in shapes:
        result["runs"].append(_bench(shape, args, device, bandwidth))
    from peakmem import process_peak

    result["memory"] = {"process_peak_rss_bytes": process_peak(), "per_side": "per shape, under runs"}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


def _bench(shape: str, args: argparse.Namespace, device: str, bandwidth: float | None) -> dict:
    import torch

    from peakmem import PeakMemory
    from r1cli import backends, models
    from r1cli.backends.fast import FastBackend
    from r1cli.backends.plain import PlainBackend
    from r1cli.device import pick_dtype
    from r1cli.tasks import PromptSource, build_prompts
    from r1cli.tiny import TinySpec, build

    dtype = pick_dtype(device, "auto")
    if shape in SHAPES:
        hidden, layers, heads, kv_heads, inter, vocab = SHAPES[shape]
        folder = Path(tempfile.mkdtemp(prefix="bench-fast-")) / shape
        build(folder, TinySpec(hidden_size=hidden, layers=layers, heads=heads, kv_heads=kv_heads, intermediate_size=inter,
                               max_positions=4096))
        ref = models.resolve(str(folder))
    else:
        ref, vocab = models.resolve(shape), None
    tok = models.load_tokenizer(ref)
    model = models.load_model(ref, device=device, dtype=dtype)
    if vocab and model.config.vocab_size < vocab:
        # The real vocabulary's size: the output layer is a large share of a small model's bytes and time.
        model.resize_token_embeddings(vocab, mean_resizing=False)
    records, _ = build_prompts(PromptSource(task="countdown", n=args.prompts, seed=0))
    from r1cli.commands.sample import _tokenize

    ids = [_tokenize(tok, r["prompt"]) for r in records]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    params = backends.SamplingParams(args.k, args.temperature, args.top_p, args.max_new_tokens)
    engines = {"plain": PlainBackend(model, tok), "fast": FastBackend(model, tok)}

    def run(name: str, batches: list[list[int]]) -> tuple[float, int, list]:
        engine = engines[name]
        out = []
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for batch in batches:
            seed = backends.batch_seed(0, [records[i]["id"] for i in batch])
            out.append(engine.generate([ids[i] for i in batch], params, seed))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        return seconds, sum(g.completion_tokens for groups in out for group in groups for g in group), out

    # Warm-up: allocator, kernels; on CUDA fast sees every batch shape once (it captures its graphs then).
    run("plain", batches[:1])
    run("fast", batches if device.startswith("cuda") else batches[:1])
    runs: dict[str, list[tuple[float, int, list]]] = {"plain": [], "fast": []}
    mem = PeakMemory(device)
    for _ in range(args.repeats):
        for name in engines:
            with mem.side(name):
                runs[name].append(run(name, batches))
    params_count = sum(p.numel() for p in model.parameters())
    summary = {
        "shape": shape,
        "model": {"hidden_size": model.config.hidden_size, "layers": model.config.num_hidden_layers,
                  "vocab_size": model.config.vocab_size, "parameters": params_count, "dtype": str(dtype).removeprefix("torch.")},
        "prompt_tokens_mean": sum(map(len, ids)) / len(ids),
    }
    m = summary["model"]
    print(f"\n{shape}: {params_count / 1e6:.1f}M parameters (hidden {m['hidden_size']}, {m['layers']} layers, vocab {m['vocab_size']}, "
          f"{m['dtype']}), prompts of {summary['prompt_tokens_mean']:.0f} tokens on average")
    for name, rs in runs.items():
        seconds = statistics.median(t for t, _, _ in rs)
        tokens = statistics.median(n for _, n, _ in rs)
        summary[name] = {"seconds_median": seconds, "seconds": [round(t, 3) for t, _, _ in rs], "tokens": tokens,
                         "tokens_per_s": tokens / seconds}
        print(f"  {name:5}: {tokens / seconds:10.1f} tok/s   (runs {', '.join(f'{t:.2f}' for t, _, _ in rs)} s; {tokens:.0f} tokens)")
    ratio = summary["fast"]["tokens_per_s"] / summary["plain"]["tokens_per_s"]
    summary["ratio_fast_over_plain"] = ratio
    summary["memory"] = mem.report()
    goal = "goal >= 3x at batch >= 64, K=8, 512 new tokens" if device.startswith("cuda") else "goal >= 1.0x"
    print(f"  ratio: {ratio:.2f}x fast / plain  ({goal})")
    print(f"  {mem.line()}")
    if bandwidth:
        bound = _bandwidth_bound(model, batches, ids, runs["fast"][0][2], bandwidth)
        summary["bandwidth_bound"] = bound
        for name in ("fast", "plain"):
            share = bound["seconds"] / summary[name]["seconds_median"]
            summary[name]["share_of_bandwidth_bound"] = share
        print(f"  bound: {bound['weight_bytes'] / 1e9:.2f} GB of weights per step + {bound['kv_bytes_per_step'] / 1e9:.2f} GB of KV "
              f"per step on average, {bound['steps']} steps: {bound['seconds']:.2f} s = {bound['tokens_per_s']:.0f} tok/s")
        print(f"  fast reaches {summary['fast']['share_of_bandwidth_bound']:.0%} of the bandwidth bound (goal >= 50%); "
              f"plain {summary['plain']['share_of_bandwidth_bound']:.0%}")
    return summary


def _d2d_bandwidth(device: str) -> float:
    """Bytes read + written per second by a device-to-device copy of 1 GiB (best of 10)."""
    import torch

    src = torch.empty(2**28, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    del src, dst
    torch.cuda.empty_cache()
    return 2 * 2**30 / best


def _bandwidth_bound(model, batches: list[list[int]], ids: list[list[int]], generated: list, bandwidth: float) -> dict:
    """The least time the decode steps of one fast run could take, reading only what they must."""
    config = model.config
    weights = {p.data_ptr(): p.numel() * p.element_size() for p in model.parameters()}
    embedding = model.get_input_embeddings().weight
    if embedding.data_ptr() != model.get_output_embeddings().weight.data_ptr():
        weights.pop(embedding.data_ptr())  # an untied input embedding is only gathered from, a few rows a step
    weight_bytes = sum(weights.values())
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_per_token = 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * embedding.element_size()
    steps, kv_bytes = 0, 0
    for batch, groups in zip(batches, generated):
        lengths = [(len(ids[i]), g.completion_tokens) for i, group in zip(batch, groups) for g in group]
        steps += max(n for _, n in lengths)
        # The step producing token s reads the prompt and the s tokens before it.
        kv_bytes += sum(p * n + n * (n - 1) // 2 for p, n in lengths) * kv_per_token
    seconds = (steps * weight_bytes + kv_bytes) / bandwidth
    tokens = sum(g.completion_tokens for groups in generated for group in groups for g in group)
    return {"weight_bytes": weight_bytes, "kv_bytes_per_step": kv_bytes / steps, "steps": steps, "seconds": seconds,
            "tokens_per_s": tokens / seconds, "bandwidth_bytes_per_s": bandwidth}


if __name__ == "__main__":
    main()
