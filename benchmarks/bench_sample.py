"""`r1cli sample` throughput vs a raw `model.generate` loop with identical settings.

    python benchmarks/bench_sample.py                      # CPU-sized defaults
    python benchmarks/bench_sample.py --hidden-size 896 --layers 24 --prompts 256 --k 8 --max-new-tokens 512  # GPU
    python benchmarks/bench_sample.py --threads 1 --repeats 5 --json sample.json   # as benchmarks/run_all.py runs it on a CPU

Both sides generate exactly the same tokens: the same prompts, bucketed and batched the same
way, with the same per-batch seeds. The raw loop does nothing else; the stage also validates,
writes and fsyncs records, tracks progress and writes a manifest. Runs alternate
(raw, stage, raw, stage, ...) and the medians are compared. Goal: stage >= 0.95x raw.

Peak memory per side (see peakmem.py): on CUDA the tensors allocated while that side ran; on a
CPU the process's peak RSS while that side ran, which includes the model both sides share.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's); 1 steadies timings on a shared host")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    import torch
    import transformers

    from peakmem import PeakMemory
    from r1cli import backends, models
    from r1cli.commands.sample import SampleConfig, _tokenize, run as sample_run
    from r1cli.device import pick_device, pick_dtype
    from workload import tiny_workload

    wl = tiny_workload("sample", hidden_size=args.hidden_size, layers=args.layers, n_prompts=args.prompts, threads=args.threads)
    work, prompts, records = wl.work, wl.prompts, wl.records
    cfg = SampleConfig.build(model=str(work / "model"), k=args.k, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, backend="plain")

    device = pick_device("auto")
    dtype = pick_dtype(device, "auto")
    ref = models.resolve(cfg.model)
    tok = models.load_tokenizer(ref)
    model = models.load_model(ref, device=device, dtype=dtype)
    ids = [_tokenize(tok, r["prompt"]) for r in records]
    order = sorted(range(len(records)), key=lambda i: len(ids[i]))
    engine = backends.create("plain", lambda: model, tok)

    def raw() -> tuple[float, int]:
        # The same work with nothing around it: pad, seed, generate.
        t0 = time.perf_counter()
        tokens = 0
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            padded = tok.pad({"input_ids": [ids[i] for i in batch]}, padding_side="left", return_tensors="pt").to(device)
            torch.manual_seed(backends.batch_seed(cfg.seed, [records[i]["id"] for i in batch]))
            with torch.inference_mode():
                out = model.generate(**padded, max_new_tokens=cfg.max_new_tokens, num_return_sequences=cfg.k, do_sample=True,
                                     temperature=cfg.temperature, top_p=cfg.top_p, top_k=0, pad_token_id=engine.pad_id,
                                     eos_token_id=sorted(engine.eos_ids))
            tokens += int((out[:, padded["input_ids"].shape[1]:] != engine.pad_id).sum())
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, tokens

    def stage(i: int) -> tuple[float, int]:
        out = work / f"s{i}.jsonl"
        stats = sample_run(str(prompts), str(out), cfg, force=True)
        return stats["seconds"], stats["new_tokens"]

    raw()  # warm-up (allocator, kernels)
    mem = PeakMemory(device)
    raw_runs, stage_runs = [], []
    for i in range(args.repeats):
        with mem.side("raw_generate"):
            raw_runs.append(raw())
        with mem.side("r1cli_sample"):
            stage_runs.append(stage(i))
    raw_s = statistics.median(t for t, _ in raw_runs)
    stage_s = statistics.median(t for t, _ in stage_runs)
    raw_tok, stage_tok = raw_runs[0][1], stage_runs[0][1]
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()} {platform.processor() or ''} {torch.get_num_threads()} threads, device {device}",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__},
        "model": {"hidden_size": args.hidden_size, "layers": args.layers, "parameters": sum(p.numel() for p in model.parameters())},
        "work": {"prompts": args.prompts, "k": args.k, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size},
        "raw_generate": {"seconds_median": raw_s, "tokens": raw_tok, "tokens_per_s": raw_tok / raw_s,
                         "seconds": [round(t, 4) for t, _ in raw_runs]},
        "r1cli_sample": {"seconds_median": stage_s, "tokens": stage_tok, "tokens_per_s": stage_tok / stage_s,
                         "seconds": [round(t, 4) for t, _ in stage_runs]},
        "ratio_sample_over_raw": (stage_tok / stage_s) / (raw_tok / raw_s),
        "memory": mem.report(),
    }
    print(f"raw generate : {raw_tok / raw_s:10.1f} tok/s  (median of {args.repeats}, {raw_tok} tokens)")
    print(f"r1cli sample : {stage_tok / stage_s:10.1f} tok/s  (median of {args.repeats}, {stage_tok} tokens)")
    print(f"ratio        : {result['ratio_sample_over_raw']:.3f}x  (goal >= 0.95x)")
    print(f"runs (s)     : raw {', '.join(f'{t:.2f}' for t, _ in raw_runs)}; sample {', '.join(f'{t:.2f}' for t, _ in stage_runs)}")
    print(mem.line())
    if raw_tok != stage_tok:
        print(f"note: token counts differ ({raw_tok} vs {stage_tok}); counted as non-pad tokens on the raw side")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
