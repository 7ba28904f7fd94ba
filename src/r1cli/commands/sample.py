"""`r1cli sample`: K completions per prompt from a model, resumable, on any backend.

    r1cli sample prompts.jsonl -m models/tiny -k 4 -o samples.jsonl
    r1cli prepare countdown -n 8 -o - | r1cli sample - -m Qwen/Qwen2.5-0.5B -k 8 -o - | r1cli reward - -o -
    r1cli sample prompts.jsonl -m runs/grpo --backend vllm --max-new-tokens 4096 -o samples.jsonl

A killed run leaves `OUT.partial`; the same command again finishes the missing prompts
without duplicating or losing a completed group. Other settings are refused unless --force.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from r1cli import artifacts, records as schema
from r1cli.artifacts import JsonlOutput, Manifest
from r1cli.config import StageConfig, option
from r1cli.console import Progress, info, warn
from r1cli.device import DEVICE_HELP, DTYPE_HELP, DTYPES
from r1cli.models import LONG_PROMPTS, LONG_PROMPTS_HELP, MAX_PROMPT_HELP, MODEL_HELP, TRUST_HELP, tokenize_prompt


@dataclass
class SampleConfig(StageConfig):
    model: str = option("", help=MODEL_HELP, flags=("--model", "-m"), show="")
    adapter: str | None = option(None, help="LoRA adapter folder to put on top of --model.")
    k: int = option(4, help="Completions per prompt.")
    temperature: float = option(0.6, help="Sampling temperature (0: greedy).")
    top_p: float = option(0.95, help="Nucleus sampling mass.")
    max_new_tokens: int = option(512, help="Token limit per completion.")
    max_prompt_tokens: int | None = option(None, help=MAX_PROMPT_HELP, show="")
    long_prompts: str = option("refuse", help=LONG_PROMPTS_HELP)
    seed: int = option(0, help="Seed (each batch's seed derives from it and the batch's prompts).")
    stop: list[str] = option(help="Stop string, kept in the completion (e.g. '</answer>'). Repeatable.", default_factory=list, show="")
    batch_size: int = option(8, help="Prompts per generation batch (x K sequences).")
    backend: str = option("auto", help="auto (vllm if installed on a CUDA host, fast on CPU, else plain), plain (transformers "
                          "generate), fast (one prefill per prompt for its K samples, static KV cache, CUDA graphs) or vllm.")
    device: str = option("auto", help=DEVICE_HELP)
    dtype: str = option("auto", help=DTYPE_HELP)
    trust_remote_code: bool = option(False, help=TRUST_HELP, show="")
    vllm: dict[str, Any] = field(default_factory=dict)  # extra vllm.LLM arguments, e.g. tensor_parallel_size

    def validate(self) -> None:
        self.require(bool(self.model), "model", "is required (a hub name or a local folder)")
        self.require(self.k >= 1, "k", "must be at least 1")
        self.require(self.temperature >= 0, "temperature", "must be >= 0 (0 means greedy)")
        self.require(0 < self.top_p <= 1, "top_p", "must be in (0, 1]")
        self.require(self.max_new_tokens >= 1, "max_new_tokens", "must be at least 1")
        self.require(self.max_prompt_tokens is None or self.max_prompt_tokens >= 1, "max_prompt_tokens", "must be at least 1")
        self.require(self.long_prompts in LONG_PROMPTS, "long_prompts", f"must be one of {', '.join(LONG_PROMPTS)}")
        self.require(self.batch_size >= 1, "batch_size", "must be at least 1")
        self.require(self.dtype in DTYPES, "dtype", f"must be one of {', '.join(DTYPES)}")
        self.require(self.temperature > 0 or self.k == 1, "k", "must be 1 with --temperature 0 (greedy decoding gives K identical completions)")

    def settings(self) -> dict[str, Any]:
        """What decides the output's distribution: a resumed run must match these."""
        keys = ("k", "temperature", "top_p", "max_new_tokens", "seed", "stop")
        # Refusing long prompts changes no output, truncating them does: only then are they
        # settings (and a partial from before these options existed still resumes).
        if self.long_prompts == "truncate":
            keys += ("max_prompt_tokens", "long_prompts")
        return {k: getattr(self, k) for k in keys}


_tokenize = tokenize_prompt  # (benchmarks import it from here)


def run(input_path: str, output: str, cfg: SampleConfig, *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
    from r1cli import backends, models

    artifacts.check_output_free(output, force)
    loaded = artifacts.read_jsonl(input_path)
    schema.validate(loaded, "prompt")
    ref = models.resolve(cfg.model, cfg.adapter)
    tokenizer = models.load_tokenizer(ref, trust_remote_code=cfg.trust_remote_code)
    models.check_prompts(tokenizer, ref, [r["prompt"] for r in loaded.records])
    context = models.context_length(ref, tokenizer, trust_remote_code=cfg.trust_remote_code)
    fitted = models.fit_prompts(tokenizer, [r["prompt"] for r in loaded.records], loaded.where, cfg, context=context,
                                new_field="max_new_tokens", model=ref.name)
    prompt_ids = fitted.ids
    if fitted.truncated:
        warn(f"sample: {fitted.truncated} prompt(s) over {fitted.limit:,} tokens cut to at most their last {fitted.limit:,} tokens "
             "(--long-prompts truncate)")

    from r1cli.device import pick_device

    device = pick_device(cfg.device)
    backend_name = backends.choose(cfg.backend, device, gguf=ref.gguf_file is not None)
    params = backends.SamplingParams(cfg.k, cfg.temperature, cfg.top_p, cfg.max_new_tokens, tuple(cfg.stop))
    if dry_run:
        return _dry_run(cfg, params, lambda: _engine(cfg, ref, tokenizer, device, backend_name), prompt_ids, device, backend_name)
    manifest = Manifest("sample", cfg.to_dict(), [loaded.info], ref.identity())
    header = None if artifacts.is_stream(output) else {
        "stage": "sample", "model": ref.identity(), "input_sha256": loaded.info.sha256, **cfg.settings()
    }

    with JsonlOutput(output, force=force, header=header) as out:
        done_ids = _complete_groups(out, cfg.k)
        todo = [i for i, r in enumerate(loaded.records) if r["id"] not in done_ids]
        if done_ids:
            info(f"sample: resuming {output}: {len(done_ids)} of {len(loaded.records)} prompts already done")
        engine = _engine(cfg, ref, tokenizer, device, backend_name)
        # Similar lengths batched together waste less compute on padding.
        todo.sort(key=lambda i: len(prompt_ids[i]))
        reasons = {"stop": 0, "length": 0}
        new_tokens = 0
        t0 = time.monotonic()
        with Progress("sample", len(loaded.records), unit="prompts", rate_unit="tok", done=len(done_ids)) as progress:
            for start in range(0, len(todo), cfg.batch_size):
                batch = todo[start : start + cfg.batch_size]
                ids = [loaded.records[i]["id"] for i in batch]
                groups = engine.generate([prompt_ids[i] for i in batch], params, backends.batch_seed(cfg.seed, ids))
                rows = []
                for i, group in zip(batch, groups):
                    for j, g in enumerate(group):
                        rows.append({
                            **loaded.records[i],
                            "sample_index": j,
                            "completion": g.text,
                            "finish_reason": g.finish_reason,
                            "prompt_tokens": len(prompt_ids[i]),
                            "completion_tokens": g.completion_tokens,
                        })
                        reasons[g.finish_reason] += 1
                        new_tokens += g.completion_tokens
                out.write(rows)
                progress.advance(len(batch), rate_count=sum(r["completion_tokens"] for r in rows))
        elapsed = time.monotonic() - t0
        final = None
        if not out.to_stdout:
            final = _in_input_order(out.resumed_and_written(), loaded.records)
        stats = _stats(final if final is not None else [], reasons, new_tokens, elapsed, len(todo), backend_name)
        stats["truncated_prompts"] = fitted.truncated
        out.commit(manifest.finish(stats, backend=backend_name, device=device), order=final)
    info(f"sample: {len(loaded.records)} prompts x {cfg.k} -> {output}  ({stats['new_tokens_per_s']:.0f} tok/s, "
         f"{stats['finish_length']} hit the token limit)")
    return stats


def _engine(cfg: SampleConfig, ref: Any, tokenizer: Any, device: str, backend_name: str) -> Any:
    """The sampling backend, with the model loaded (vLLM loads its own)."""
    from r1cli import backends, models
    from r1cli.device import pick_dtype

    dtype = pick_dtype(device, cfg.dtype)
    return backends.create(
        backend_name,
        lambda: models.load_model(ref, device=device, dtype=dtype, trust_remote_code=cfg.trust_remote_code),
        tokenizer,
        base=ref.base, adapter=ref.adapter, tokenizer_source=ref.tokenizer_source,
        dtype=str(dtype).removeprefix("torch."), seed=cfg.seed, trust_remote_code=cfg.trust_remote_code,
        **({"engine_args": cfg.vllm} if backend_name == "vllm" else {}),
    )


def _dry_run(cfg: SampleConfig, params: Any, engine: Callable[[], Any], prompt_ids: list[list[int]], device: str,
             backend_name: str) -> dict[str, Any]:
    """Every check done; now the model loaded and one batch of the real run, cut to a few
    tokens, timed."""
    from r1cli import plans
    from r1cli.commands.report import duration

    t0 = time.monotonic()
    backend = engine()
    load_seconds = time.monotonic() - t0
    batch = prompt_ids[: cfg.batch_size]
    t0 = time.monotonic()
    groups = backend.generate(batch, dataclasses.replace(params, max_new_tokens=min(cfg.max_new_tokens, plans.DRY_TOKENS)), cfg.seed)
    seconds = time.monotonic() - t0
    tokens = sum(g.completion_tokens for group in groups for g in group)
    rate = tokens / seconds if seconds > 0 else float("inf")
    most = len(prompt_ids) * cfg.k * cfg.max_new_tokens
    plan = {
        "work": f"{len(prompt_ids)} prompts x {cfg.k} completions, at most {most:,} new tokens "
                f"({sum(map(len, prompt_ids)):,} prompt tokens, the longest {max(map(len, prompt_ids)):,})",
        "measured": f"{tokens} tokens in {seconds:.1f} s on {device} with the {backend_name} backend ({rate:,.0f} tok/s; "
                    f"model loaded in {load_seconds:.1f} s)",
        "estimated time": f"at most {duration(most / rate)} if every completion reaches --max-new-tokens",
        "peak memory": plans.size(plans.peak_memory_bytes()),
    }
    plans.show("sample", plan)
    return plan


def _complete_groups(out: JsonlOutput, k: int) -> set[str]:
    """Ids whose K samples are all in the partial file; anything else is dropped and redone."""
    counts: dict[str, set[int]] = {}
    for r in out.resumed:
        counts.setdefault(r.get("id"), set()).add(r.get("sample_index"))
    done = {i for i, idx in counts.items() if idx == set(range(k))}
    if len(done) * k != len(out.resumed):
        warn(f"sample: dropping {len(out.resumed) - len(done) * k} samples of unfinished groups; they are sampled again")
        out.retain(lambda r: r.get("id") in done)
    return done


def _in_input_order(rows: list[dict[str, Any]], prompts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    position = {r["id"]: i for i, r in enumerate(prompts)}
    return sorted(rows, key=lambda r: (position.get(r["id"], len(position)), r["sample_index"]))


def _stats(rows: list[dict[str, Any]], reasons: dict[str, int], new_tokens: int, elapsed: float, generated: int, backend: str) -> dict[str, Any]:
    lengths = [r["completion_tokens"] for r in rows]
    return {
        "samples": len(rows),
        "prompts_generated_this_run": generated,
        "finish_stop": sum(r["finish_reason"] == "stop" for r in rows) if rows else reasons["stop"],
        "finish_length": sum(r["finish_reason"] == "length" for r in rows) if rows else reasons["length"],
        "mean_completion_tokens": (sum(lengths) / len(lengths)) if lengths else None,
        "new_tokens": new_tokens,
        "seconds": round(elapsed, 3),
        "new_tokens_per_s": new_tokens / elapsed if elapsed > 0 else 0.0,
        "backend": backend,
    }
