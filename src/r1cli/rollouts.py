"""GRPO rollouts through r1cli's fast backend instead of TRL's `generate`.

    rollout: auto    # in the grpo config file: fast on CPU; TRL's generate on CUDA (vLLM with use_vllm)
    rollout: fast    # r1cli's fast backend (backends/fast.py), on any device
    rollout: trl     # TRL's own generation, untouched
    rollout: vllm    # TRL's vLLM path (sets use_vllm)

Why. TRL's batch holds each prompt G times and `generate` prefills every copy, grows its KV
cache by concatenation, keeps decoding rows that have ended, and runs LoRA as extra matmuls in
every linear layer. The fast backend prefills each prompt once for its G rows, writes a static
cache in place and drops ended rows (on CPU); here LoRA is also folded into the weights for
the rollout (below). `auto` picks fast on CPU only, where it is measured (benchmarks/bench_grpo.py,
RESULTS.md); on CUDA it keeps TRL's generate until the fast backend's CUDA-graph path has been
measured on a GPU, as `--backend auto` does for `r1cli sample`.

How it hooks in. trl_compat.with_rollout_engine subclasses GRPOTrainer and overrides its
narrowest generation method (`_generate_single_turn`: the batch's prompt ids in, completion ids
out); everything after it (decoding, rewards, advantages, masks, metrics, loss) stays TRL's.
`FastRollouts` then, for each generation step:

1. Checks the settings. The generation config is the one TRL's `generate` would use (TRL's
   settings, gaps filled from the model's generation_config and transformers' defaults). It
   honours do_sample (False: greedy), temperature, top-k, top-p and max_new_tokens; any other
   processor (min_p, repetition_penalty, beams, ...), vLLM, continuous batching, multimodal
   prompts or DeepSpeed/FSDP hand the step back to TRL's generation, with a warning.
2. Deduplicates: identical prompt rows are one prompt with K = its number of copies (G).
3. Prepares the model as TRL does for `generate` (unwrapped, gradient checkpointing off, no
   autograd) and also puts it in eval mode, restoring every module's mode afterwards. TRL 1.16
   itself generates in train mode, so LoRA dropout perturbs its rollouts; a prefill shared by G
   rows could not reproduce independent dropout per copy, and without dropout the rollouts
   come from the policy itself, not a noisy copy of it. With lora_dropout 0 the two engines
   sample the same policy; with r1cli's 0.05 the reward curves still agree within noise
   (benchmarks/RESULTS.md).
4. Folds LoRA in, on CPU: each LoRA linear is swapped, for this rollout only, for a plain
   linear holding base + B @ A * scaling computed from the current weights (peft's
   `get_delta_weight`), and swapped back after. It is rebuilt at every rollout, so never stale,
   and the base weights are never written (peft's merge/unmerge adds and subtracts in place,
   whose rounding would drift the frozen base over a run). On CPU the extra matmuls per layer
   cost 20-30% of rollout time on the benchmark's model; on CUDA the layers run unmerged (CUDA
   graphs read the live LoRA weights, and no second copy of the weights is held).
5. Samples with the fast backend's sampler (transformers' warpers, in their order; an exact
   draw from a counter-based hash), rows ending at TRL's EOS ids only: TRL keeps a completion up
   to and including its first EOS, and a padding token sampled mid-completion stays in it, as
   with `generate`. The seed of each step is drawn from torch's global generator, which the
   trainer seeds per process and restores on resume.

tests/test_rollouts.py checks greedy rollouts against TRL's token for token, sampled ones with
a chi-square test, and the reward curve of a short training run against TRL's.
"""

from __future__ import annotations

import contextlib
from typing import Any

from r1cli.console import info, warn

ROLLOUTS = ("auto", "trl", "fast", "vllm")

# GenerationConfig entries `generate` would apply that the fast sampler does not, with their
# neutral values: a rollout with any other value goes through TRL's generation.
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "num_beams": (None, 1), "min_p": (None,), "top_h": (None,), "typical_p": (None, 1.0), "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0), "repetition_penalty": (None, 1.0), "no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,), "suppress_tokens": (None, []), "begin_suppress_tokens": (None, []), "sequence_bias": (None,),
    "min_new_tokens": (None, 0), "min_length": (None, 0), "stop_strings": (None,), "watermarking_config": (None,),
    "guidance_scale": (None, 1.0), "exponential_decay_length_penalty": (None,), "max_time": (None,),
    "forced_bos_token_id": (None,), "forced_eos_token_id": (None,), "prompt_lookup_num_tokens": (None,),
}


def choose(rollout: str, device: str, *, use_vllm: bool) -> str:
    """The engine `rollout` means on `device`: trl, fast or vllm."""
    if rollout == "auto":
        return "vllm" if use_vllm else "fast" if device == "cpu" else "trl"
    return rollout


def trainer_class(base: Any, rollout: str, device: str, *, use_vllm: bool) -> Any:
    """GRPOTrainer (`base`) itself, or its subclass with fast rollouts."""
    from r1cli import trl_compat
    from r1cli.training import is_main_process

    chosen = choose(rollout, device, use_vllm=use_vllm)
    if is_main_process():
        engine = {"fast": "r1cli's fast backend", "trl": "TRL's generate", "vllm": "TRL's vLLM path"}[chosen]
        info(f"grpo: rollouts through {engine} (rollout: {rollout}{f' on {device}' if rollout == 'auto' else ''})")
    return trl_compat.with_rollout_engine(base, FastRollouts) if chosen == "fast" else base


class FastRollouts:
    """The rollout engine: one per trainer; keeps its fast backend between steps."""

    def __init__(self) -> None:
        self.backend: Any = None
        self._warned: set[str] = set()

    def __call__(self, request: Any) -> list[list[int]] | None:
        """Each row's completion ids, or None to let TRL generate (the reason is warned once)."""
        config = request.generation_config
        reason = request.blocker or unsupported(config, request.eos_token_ids)
        if reason:
            if reason not in self._warned:
                self._warned.add(reason)
                warn(f"rollout fast: {reason}; these rollouts use TRL's generation")
            return None
        with request.unwrapped() as model:
            if self.backend is None or self.backend.model is not model:
                from r1cli.backends.fast import FastBackend

                self.backend = FastBackend(model, request.tokenizer, warn_processors=False)  # `unsupported` checked them
                self.backend.fallback = "these rollouts use TRL's generation"
            with _eval_mode(model), _lora_folded(model):
                return sample(self.backend, request.prompt_ids, config, set(request.eos_token_ids))


def unsupported(config: Any, eos_token_ids: list[int]) -> str | None:
    """Why the fast sampler cannot reproduce `generate` with `config`, or None."""
    found = [f"{name}={getattr(config, name)!r}" for name, neutral in _UNSUPPORTED.items()
             if getattr(config, name, None) not in neutral]
    if found:
        return f"the generation settings include {', '.join(found)}, which the fast sampler does not apply"
    if config.max_new_tokens is None:
        return "the generation settings give no max_new_tokens"
    stops = config.eos_token_id
    stops = [] if stops is None else [stops] if isinstance(stops, int) else list(stops)
    if set(stops) != set(eos_token_ids):
        # `generate` would stop rows at one set of tokens and TRL cut completions at another.
        return f"generation stops at tokens {sorted(stops)} but TRL ends completions at {sorted(eos_token_ids)}"
    return None


def sample(backend: Any, prompt_ids: list[list[int]], config: Any, eos_ids: set[int]) -> list[list[int]] | None:
    """Completion ids for each row of `prompt_ids` (rows repeat prompts): each distinct prompt
    prefilled once, its K rows sampled together. None if the backend cannot drive the model."""
    import dataclasses

    import torch

    from r1cli.backends import SamplingParams

    rows_of: dict[tuple[int, ...], list[int]] = {}
    for row, ids in enumerate(prompt_ids):
        rows_of.setdefault(tuple(ids), []).append(row)
    # Normally every prompt has G rows: one call. A prompt that appears twice in the batch has
    # 2G; prompts are batched by their number of rows so that no row is sampled and thrown away.
    by_count: dict[int, list[tuple[int, ...]]] = {}
    for prompt, rows in rows_of.items():
        by_count.setdefault(len(rows), []).append(prompt)
    greedy = not config.do_sample
    params = SamplingParams(temperature=0.0 if greedy else float(config.temperature),
                            top_p=1.0 if greedy or config.top_p is None else float(config.top_p),
                            max_new_tokens=int(config.max_new_tokens))
    top_k = 0 if greedy else int(config.top_k or 0)
    completions: list[list[int]] = [[] for _ in prompt_ids]
    rng = torch.random.get_rng_state()
    for k, prompts in by_count.items():
        # From torch's generator: reproducible under the trainer's seed, new at every step.
        seed = int(torch.randint(2**62, ()).item())
        tokens = backend.sample_tokens([list(p) for p in prompts], dataclasses.replace(params, k=k), seed,
                                       top_k=top_k, end_ids=eos_ids)
        if tokens is None:
            torch.random.set_rng_state(rng)  # TRL's generation then samples exactly as it would have
            return None
        for prompt, samples in zip(prompts, tokens):
            for row, toks in zip(rows_of[prompt], samples):
                completions[row] = toks
    return completions


@contextlib.contextmanager
def _eval_mode(model: Any) -> Any:
    """Eval mode (no dropout) for the rollout; then every module back to the mode it had."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def _lora_folded(model: Any) -> Any:
    """On CPU, every LoRA linear swapped for a plain linear holding base + delta of the current
    weights, for the duration of the block; the LoRA modules themselves are left untouched."""
    swaps = _folded_layers(model) if model.device.type == "cpu" else []
    try:
        for parent, name, _, folded in swaps:
            setattr(parent, name, folded)
        yield
    finally:
        for parent, name, layer, _ in swaps:
            setattr(parent, name, layer)


def _folded_layers(model: Any) -> list[tuple[Any, str, Any, Any]]:
    """(parent, attribute, LoRA layer, folded linear) for every LoRA layer, or [] when any of
    them is of a kind this does not fold (DoRA and other variants, LoRA biases, embeddings,
    quantized bases, an adapter already merged): those run unmerged, which is exact anyway."""
    try:
        from peft.tuners.lora import LoraLayer
        from peft.tuners.lora.layer import Linear as LoraLinear
    except ImportError:
        return []
    import torch

    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, LoraLayer)]

    def foldable(m: Any) -> bool:
        active = [a for a in m.active_adapters if a in m.lora_A]
        return (type(m) is LoraLinear and type(m.get_base_layer()) is torch.nn.Linear and not m.merged
                and not any(a in m.lora_variant or m.lora_bias.get(a, False) for a in active))

    if not layers or not all(foldable(m) for _, m in layers):
        return []
    swaps = []
    for name, layer in layers:
        base = layer.get_base_layer()
        with torch.no_grad():
            weight = base.weight.detach().clone()
            if not layer.disable_adapters:
                for adapter in layer.active_adapters:
                    if adapter in layer.lora_A:
                        weight += layer.get_delta_weight(adapter)
        folded = torch.nn.Linear(base.in_features, base.out_features, bias=False, device="meta")
        folded.weight = torch.nn.Parameter(weight, requires_grad=False)
        folded.bias = base.bias
        parent, _, attr = name.rpartition(".")
        swaps.append((model.get_submodule(parent), attr, layer, folded))
    return swaps
