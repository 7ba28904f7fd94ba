"""The fast backend: batched decoding on transformers + torch alone, for hosts without vLLM.

    r1cli sample prompts.jsonl -m models/tiny -k 8 --backend fast -o samples.jsonl
    r1cli prepare countdown -n 64 -o - | r1cli sample - -m Qwen/Qwen2.5-0.5B -k 8 --backend fast -o - | r1cli reward - -o -
    python benchmarks/bench_fast.py          # plain vs fast tokens/s, side by side

It runs the model's own transformers modules (any decoder whose attention layers call
the cache's `update`, which is all the Llama/Qwen/Mistral-style models), so LoRA-merged
checkpoints and new architectures work unchanged; what it replaces is `generate`'s loop:

1. **Bucketing.** Prompts are sorted by length and prefilled in buckets of similar length, so
   little compute goes to left padding; a bucket's keys and values are written right-aligned into
   one batch-wide cache, so decoding still runs over the whole batch at once.
2. **Prefill once per prompt.** `generate(num_return_sequences=K)` copies each prompt K times
   and prefills every copy. Here each prompt is prefilled once and its keys and values are
   written into the K rows that will decode its K completions (the first token's logits are
   shared the same way). For R1 prompts of a few hundred tokens and K=8 that removes 7/8 of
   the prefill.
3. **Static KV cache.** One preallocated buffer per layer, `[prompts x K, kv heads, prompt width
   + max new tokens, head dim]`, written in place. transformers' default cache grows by
   concatenation, which copies the whole cache at every step.
4. **CUDA graphs (GPU).** On CUDA one decoding step (mask update, model forward, logits) is
   captured and replayed: a 0.5B model's step is hundreds of small kernels whose launch cost,
   not the GPU, sets the pace in eager mode. Shapes are bucketed (widths rounded up to 64
   slots) so consecutive batches reuse one cache and its graphs; a step attends to the cache
   only up to the next multiple of 128 slots, one graph per such span, so early steps do not
   read the empty end of the cache. Sampling runs outside the graph. If capture fails, decoding
   goes on uncaptured, with a warning; `R1CLI_FAST_CUDA_GRAPHS=0` turns graphs off.
5. **Finished rows leave the batch (eager).** Without graphs (CPU), when a quarter of the
   rows have ended (EOS or a stop string) the cache is compacted to the live rows, so short
   completions stop costing compute; `generate` keeps decoding padding for them until the
   longest one ends. Under CUDA graphs the shape is fixed and the batch stops when every row
   has ended.

The output is exactly the plain backend's: the same `Generation` records, built by the plain
backend's own `_finish` (EOS and padding rules, `cut_at_stop`, token counts), and generation of
a row stops at the token that completes a stop string, as transformers' `StopStringCriteria`
does. The distribution is the same: temperature, then nucleus (top-p with top-k off) exactly
as transformers' `TopPLogitsWarper` keeps tokens (a token stays while the probability mass
ranked above it is below top_p), then an exact categorical draw (the inverse of the cumulative
distribution at a uniform number); temperature 0 is argmax. (`sample_tokens`, the raw-token
entry point GRPO's rollouts use, r1cli/rollouts.py, also takes a top-k, applied between
temperature and nucleus as transformers orders them.) A row's uniform numbers are a
hash of the seed, the row and the step, so the same seed gives the same samples, and rows
ending early never change the others' (as in `generate`). Seeds give other tokens than
plain's (another source of randomness), not another distribution: tests/test_backends.py
checks that statistically, and greedy output token for token. Like
vLLM, it applies only these sampling parameters: extra processors a model's
`generation_config` may set (e.g. `repetition_penalty`), which `generate` would apply, are
ignored, with a warning.

Models it cannot drive are handed to the plain backend with a warning: attention other than
`sdpa`/`eager` (flash-attention takes no 4D mask), layer kinds other than full or sliding
attention, and sliding-window layers whose window is shorter than the batch's sequences.

Which backend `--backend auto` picks, and the measurements behind it, are in the docstring of
`r1cli.backends`.
"""

from __future__ import annotations

import os
from typing import Any

from r1cli.backends import Generation, SamplingParams
from r1cli.backends.plain import PlainBackend
from r1cli.console import warn

# Nucleus sampling looks at the most likely tokens first: when they already hold top_p of the
# mass (nearly always, after temperature 0.6-1.0), the nucleus is among them and a full sort of
# a 150k vocabulary per row per step is skipped; otherwise it falls back to the full sort.
NUCLEUS_CANDIDATES = 256
# CUDA graphs need fixed shapes: prompt widths and cache lengths round up to this many slots,
# so batches of similar length reuse one captured graph (and the attention kernels get aligned
# masks).
SLOT_BUCKET = 64
# Static mode attends to the slots up to the next multiple of this, not to the whole cache.
SPAN_BUCKET = 128
# Static caches (with their graphs) kept for reuse; each holds its KV cache in GPU memory.
CACHES_KEPT = 2
# In static mode the host looks at new tokens (EOS, stop strings, all done?) every this many
# steps: each look waits for the GPU, and rows cannot leave a fixed-shape batch anyway.
CHECK_EVERY_STATIC = 8
# A prefill bucket holds at most this many padded prompt tokens (bounds activation memory) ...
PREFILL_TOKENS = 16384
# ... and prompts at most this much longer than its shortest one (bounds padding waste).
BUCKET_SPREAD = 1.25
# Without graphs, the cache is compacted to the live rows once this share of them has ended.
COMPACT_SHARE = 0.25

_SUPPORTED_ATTENTION = ("sdpa", "eager")
_SUPPORTED_LAYERS = {"full_attention", "sliding_attention"}
# generation_config entries that `generate` would apply on top of temperature/top-p.
_IGNORED_PROCESSORS = ("repetition_penalty", "no_repeat_ngram_size", "min_new_tokens", "min_p", "typical_p",
                       "epsilon_cutoff", "eta_cutoff", "bad_words_ids", "suppress_tokens", "begin_suppress_tokens",
                       "sequence_bias", "forced_bos_token_id", "forced_eos_token_id")
_NEUTRAL = (None, 1.0, 0, 0.0, [], ())


class FastBackend(PlainBackend):
    """The plain backend with its own decoding loop; records are finished by the plain code."""

    name = "fast"

    def __init__(self, model: Any, tokenizer: Any, *, static: bool | None = None, warn_processors: bool = True):
        """`static`: fixed-shape decoding, captured in CUDA graphs on a GPU; the default is
        static on CUDA unless R1CLI_FAST_CUDA_GRAPHS=0, eager elsewhere. `warn_processors`:
        warn about `generation_config` entries this engine does not apply (a caller that checks
        its own generation settings, as GRPO's rollouts do, turns this off)."""
        super().__init__(model, tokenizer)
        self.device = model.device
        on_cuda = self.device.type == "cuda"
        graphs = on_cuda and os.environ.get("R1CLI_FAST_CUDA_GRAPHS", "1") != "0"
        self.static = graphs if static is None else static
        self.capture = graphs and self.static
        self.unsupported = _unsupported(model)
        self._warned: set[str] = set()
        self._caches: dict[tuple[int, int], _Cache] = {}
        self._stop_tables: dict[tuple[str, ...], list[bool] | None] = {}
        self.fallback = "using the plain backend"  # what happens when this engine cannot run (for warnings)
        config = model.generation_config
        ignored = [f"{n}={getattr(config, n)!r}" for n in _IGNORED_PROCESSORS if getattr(config, n, None) not in _NEUTRAL]
        if ignored and warn_processors:
            self._warn(f"backend fast: the model's generation_config sets {', '.join(ignored)}; the plain backend "
                       "applies it, fast (like vllm) samples with temperature and top-p only")

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams, seed: int) -> list[list[Generation]]:
        tokens = self.sample_tokens(prompt_ids, params, seed)
        if tokens is None:
            return super().generate(prompt_ids, params, seed)
        return [[self._finish(toks, params) for toks in group] for group in tokens]

    def sample_tokens(self, prompt_ids: list[list[int]], params: SamplingParams, seed: int, *, top_k: int = 0,
                      end_ids: set[int] | None = None) -> list[list[list[int]]] | None:
        """K token lists per prompt, in prompt order: each row's tokens up to and including the
        one that ended it, or `max_new_tokens` of them. `top_k` > 0 keeps the k most likely
        tokens before the nucleus (as transformers orders its warpers); `end_ids`: the tokens
        that end a row (default: EOS and padding, the plain backend's rule). None when this
        engine cannot drive the model (the reason is warned); the caller then uses another."""
        import torch

        width = max(len(p) for p in prompt_ids)
        reason = self.unsupported or _window_too_short(self.model, width + params.max_new_tokens)
        if reason:
            self._warn(f"backend fast: {reason}; {self.fallback}")
            return None
        ends = end_ids if end_ids is not None else self.eos_ids | {self.pad_id}
        k = params.k
        # Shortest first: prefill buckets are runs of similar lengths.
        order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
        prompts = [prompt_ids[i] for i in order]
        rows = len(prompts) * k
        if self.static:
            width = _round_up(width, SLOT_BUCKET)
            cache = self._static_cache(rows, _round_up(width + params.max_new_tokens, SLOT_BUCKET))
        else:
            cache = _Cache(self.model, rows, width + params.max_new_tokens, static=False)
        with torch.inference_mode():
            try:
                logits = self._prefill(cache, prompts, width, k)
            except (AttributeError, TypeError, NotImplementedError) as e:
                # The model's forward wants more of a transformers Cache than `update`: not this engine's kind.
                self.unsupported = f"{type(self.model).__name__} does not run on its static cache ({type(e).__name__}: {e})"
                self._caches.clear()
                self._warn(f"backend fast: {self.unsupported}; {self.fallback}")
                return None
            lengths = torch.tensor([len(p) for p in prompts for _ in range(k)], device=self.device)
            tokens = self._decode(cache, logits, lengths, width, params, _row_keys(seed, rows, self.device), top_k, ends)
        results: list[list[list[int]]] = [[] for _ in prompt_ids]
        for row, toks in enumerate(tokens):
            results[order[row // k]].append(toks)
        return results

    # -- prefill ------------------------------------------------------------------------------
    def _prefill(self, cache: _Cache, prompts: list[list[int]], width: int, k: int) -> Any:
        """Each prompt once, bucket by bucket; returns the first token's logits, K rows per prompt."""
        import torch

        last = []
        for start, stop in _buckets([len(p) for p in prompts]):
            batch = prompts[start:stop]
            w = len(batch[-1])
            ids = torch.full((len(batch), w), self.pad_id, dtype=torch.long)
            real = torch.zeros((len(batch), w), dtype=torch.bool)
            for i, p in enumerate(batch):
                ids[i, w - len(p):] = torch.tensor(p, dtype=torch.long)
                real[i, w - len(p):] = True
            ids, real = ids.to(self.device), real.to(self.device)
            # Positions as `generate` numbers them: from 0 at each prompt's first real token.
            positions = (real.cumsum(-1) - 1).masked_fill(~real, 1)
            causal = torch.ones((w, w), dtype=torch.bool, device=self.device).tril()
            # A padding query sees itself only: a row with nothing to attend to gives NaN in sdpa.
            mask = causal & (real[:, None, :] | torch.eye(w, dtype=torch.bool, device=self.device))
            cache.prefill_into(start * k, stop * k, width - w, k)
            out = self.model(input_ids=ids, attention_mask=cache.mask_arg(mask[:, None]), position_ids=positions,
                             use_cache=True, logits_to_keep=1, **{cache.cache_kwarg: cache})
            last.append(out.logits[:, -1])
        cache.prefill_done()
        return torch.cat(last).repeat_interleave(k, dim=0)

    # -- decode -------------------------------------------------------------------------------
    def _decode(self, cache: _Cache, logits: Any, lengths: Any, width: int, params: SamplingParams,
                row_keys: Any, top_k: int, ends: set[int]) -> list[list[int]]:
        """Sample token by token; returns each row's tokens up to and including its last one."""
        import torch

        rows = len(row_keys)
        stops = params.stop
        table = self._stop_table(stops) if stops else None
        window = 2 * max((len(s.encode()) for s in stops), default=0) + 8
        out: list[list[int]] = [[] for _ in range(rows)]
        ended = [False] * rows
        live = list(range(rows))  # cache row -> output row (rows leave when compacted)
        check_every = CHECK_EVERY_STATIC if cache.static else 1
        cache.start_decode(lengths, width)
        pending = []
        tokens = _sample(logits, params, _mix(row_keys), top_k)
        for step in range(params.max_new_tokens):
            pending.append(tokens)
            last_step = step == params.max_new_tokens - 1
            if len(pending) == check_every or last_step:
                block = torch.stack(pending, dim=1).tolist()
                pending.clear()
                for i, row in enumerate(live):
                    if ended[row]:
                        continue
                    toks = out[row]
                    for t in block[i]:
                        toks.append(t)
                        if self._ends(toks, t, ends, stops, table, window):
                            ended[row] = True
                            break
                n_ended = sum(ended[row] for row in live)
                if n_ended == len(live):
                    break
                if not cache.static and n_ended >= COMPACT_SHARE * len(live):
                    keep = [i for i, row in enumerate(live) if not ended[row]]
                    live = [live[i] for i in keep]
                    keep_t = torch.tensor(keep, device=self.device)
                    cache.keep_rows(keep_t)
                    tokens = tokens.index_select(0, keep_t)
                    row_keys = row_keys.index_select(0, keep_t)
            if last_step:
                break
            tokens = _sample(cache.step(tokens, step), params, _mix(row_keys + _wrap((step + 1) * _GOLDEN)), top_k)
        return out

    def _ends(self, toks: list[int], t: int, ends: set[int], stops: tuple[str, ...], table: list[bool] | None,
              window: int) -> bool:
        """Does the row end at its newest token `t`? One of `ends` (plain's rule: EOS or padding),
        or a stop string completed by `t` (the text up to the previous token held none, so it
        suffices to look at the last few tokens, and only after a token that can end a stop string)."""
        if t in ends:
            return True
        if not stops or (table is not None and t < len(table) and not table[t]):
            return False
        tail = self.tokenizer.decode(toks[-window:], skip_special_tokens=True)
        return any(s and s in tail for s in stops)

    def _stop_table(self, stops: tuple[str, ...]) -> list[bool] | None:
        """For each token id: can it be the token that completes one of `stops`? None: any can.

        The completing token holds the stop string's last character, or a piece of it (a byte of
        a multi-byte character decodes to U+FFFD); tokens that decode to nothing or only spaces
        are kept too, since decoders move spaces around."""
        if stops not in self._stop_tables:
            lasts = {s[-1] for s in stops if s}
            if any(c.isspace() for c in lasts):
                table = None
            else:
                pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))], skip_special_tokens=True)
                table = [not p.strip() or "\ufffd" in p or any(c in p for c in lasts) for p in pieces]
            self._stop_tables[stops] = table
        return self._stop_tables[stops]

    def _static_cache(self, rows: int, slots: int) -> _Cache:
        key = (rows, slots)
        if key not in self._caches:
            while len(self._caches) >= CACHES_KEPT:
                # Oldest first: `sample` walks through prompts sorted by length, so an old shape rarely returns.
                self._caches.pop(next(iter(self._caches)))
            self._caches[key] = _Cache(self.model, rows, slots, static=True, capture=self.capture,
                                       on_capture_error=self._capture_failed)
        return self._caches[key]

    def _capture_failed(self, error: Exception) -> None:
        self.capture = False
        for cache in self._caches.values():
            cache.capture = False
            cache.graphs.clear()
        self._warn(f"backend fast: CUDA graph capture failed ({str(error).splitlines()[0]}); decoding without graphs")

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warn(message)


class _Cache:
    """A static KV cache that the model's attention layers write through `update`, plus the
    decoding step's inputs. One tensor pair per layer: `[rows, kv heads, slots, head dim]`.

    Slots `[0, width)` hold the prompts, right-aligned (left padding masked out); decoding
    step s writes slot `width + s` in every row.

    Eager mode (CPU) hands attention exactly the filled slots and drops ended rows. Static mode
    (what CUDA graphs replay) keeps every shape fixed: the slot to write is a tensor, attention
    gets the slots up to the next multiple of SPAN_BUCKET with the mask hiding the unfilled
    ones, and one graph is captured per such span (a handful per batch shape), so early steps
    do not read the whole cache. Static mode runs uncaptured on CPU too, which is how the tests
    check its bookkeeping without a GPU."""

    def __init__(self, model: Any, rows: int, slots: int, *, static: bool, capture: bool = False,
                 on_capture_error: Any = None):
        import torch

        self.model, self.rows, self.slots, self.static = model, rows, slots, static
        self.capture = capture and static
        self.on_capture_error = on_capture_error
        self.device = model.device
        self.keys: dict[int, Any] = {}
        self.values: dict[int, Any] = {}
        self.eager_attention = model.config._attn_implementation == "eager"
        self.cache_kwarg = cache_keyword(model)
        self.mask = torch.zeros((rows, 1, 1, slots), dtype=torch.bool, device=self.device)
        self.filled = 0  # slots [0, filled) are in use
        self.prefill: tuple[int, int, int, int] | None = None
        if static:
            self.slot = torch.zeros(1, dtype=torch.long, device=self.device)  # the slot this step writes
            self.span = slots  # slots attention reads this step
            self.ids = torch.zeros((rows, 1), dtype=torch.long, device=self.device)
            self.positions = torch.zeros((rows, 1), dtype=torch.long, device=self.device)
            self.graphs: dict[int, tuple[Any, Any]] = {}  # span -> (graph, its logits tensor)
            self.pool = None

    # The part of transformers' Cache interface that attention layers use.
    def update(self, key: Any, value: Any, layer_idx: int, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        import torch

        if layer_idx not in self.keys:
            # Zeros, not empty: masked slots still enter attention's weighted sum (with weight 0), and 0 * NaN is NaN.
            shape = (self.rows, key.shape[1], self.slots, key.shape[3])
            self.keys[layer_idx] = torch.zeros(shape, dtype=key.dtype, device=key.device)
            self.values[layer_idx] = torch.zeros((*shape[:3], value.shape[3]), dtype=value.dtype, device=value.device)
        keys, values = self.keys[layer_idx], self.values[layer_idx]
        if self.prefill is not None:
            # One prompt's keys go to each of its K rows: [prompts, heads, w, dim] -> [prompts, K, heads, w, dim].
            start, stop, offset, k = self.prefill
            w = key.shape[2]
            keys[start:stop].view(-1, k, *keys.shape[1:])[:, :, :, offset:offset + w] = key[:, None]
            values[start:stop].view(-1, k, *values.shape[1:])[:, :, :, offset:offset + w] = value[:, None]
            return key, value  # the prompt attends to itself only
        if self.static:
            keys.index_copy_(2, self.slot, key)
            values.index_copy_(2, self.slot, value)
            return keys[:, :, : self.span], values[:, :, : self.span]
        s = self.filled - 1
        keys[:, :, s] = key[:, :, 0]
        values[:, :, s] = value[:, :, 0]
        return keys[:, :, : self.filled], values[:, :, : self.filled]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.filled

    def mask_arg(self, mask: Any) -> Any:
        """The 4D mask as the attention implementation takes it: sdpa a boolean one (True:
        attend), eager an additive one. transformers passes a 4D mask through unchanged."""
        if not self.eager_attention:
            return mask
        import torch

        dtype = self.model.dtype
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)

    def prefill_into(self, start: int, stop: int, offset: int, k: int) -> None:
        self.prefill = (start, stop, offset, k)

    def prefill_done(self) -> None:
        self.prefill = None

    def start_decode(self, lengths: Any, width: int) -> None:
        import torch

        self.lengths, self.width = lengths, width
        self.mask.zero_()
        self.mask[:, 0, 0, :width] = torch.arange(width, device=self.device)[None, :] >= (width - lengths)[:, None]
        self.filled = width

    def step(self, tokens: Any, step: int) -> Any:
        """Feed each row's newest token (decoding step `step`); returns the next logits."""
        import torch

        if not self.static:
            self.filled = self.width + step + 1
            self.mask[:, :, :, self.filled - 1] = True
            out = self.model(input_ids=tokens[:, None], position_ids=(self.lengths + step)[:, None],
                             attention_mask=self.mask_arg(self.mask[:, :, :, : self.filled]), use_cache=True,
                             **{self.cache_kwarg: self})
            return out.logits[:, -1]
        self.filled = self.width + step + 1
        self.ids.copy_(tokens[:, None])
        torch.add(self.lengths[:, None], step, out=self.positions)
        self.slot.fill_(self.width + step)
        self.span = min(self.slots, _round_up(self.filled, SPAN_BUCKET))
        if self.capture and self.span not in self.graphs:
            self._capture()
        if not self.capture:
            return self._forward()[:, -1]
        graph, logits = self.graphs[self.span]
        graph.replay()
        return logits[:, -1]

    def _forward(self) -> Any:
        # A graph replays this: it reads its inputs from the fixed tensors only.
        self.mask.index_fill_(3, self.slot, True)
        out = self.model(input_ids=self.ids, position_ids=self.positions, use_cache=True,
                         attention_mask=self.mask_arg(self.mask[:, :, :, : self.span]), **{self.cache_kwarg: self})
        return out.logits

    def _capture(self) -> None:
        import torch

        try:
            # Warm-up on a side stream, as torch's CUDA graph docs prescribe (lazy inits, kernel choice).
            # It writes the current slot, which the real step rewrites before anything reads it.
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._forward()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # One memory pool for all spans: they replay one at a time and each output is read before the next.
            with torch.cuda.graph(graph, pool=self.pool):
                logits = self._forward()
            self.pool = graph.pool()
            self.graphs[self.span] = (graph, logits)
        except RuntimeError as e:
            # Some model code cannot be captured (a host sync, a data-dependent branch): decode uncaptured.
            torch.cuda.synchronize()
            self.capture = False
            self.graphs.clear()
            if self.on_capture_error is not None:
                self.on_capture_error(e)

    def keep_rows(self, keep: Any) -> None:
        """Drop ended rows (eager only): the cache shrinks to the rows still decoding."""
        for layer in self.keys:
            self.keys[layer] = self.keys[layer].index_select(0, keep)
            self.values[layer] = self.values[layer].index_select(0, keep)
        self.mask = self.mask.index_select(0, keep)
        self.lengths = self.lengths.index_select(0, keep)
        self.rows = len(keep)


def _sample(logits: Any, params: SamplingParams, keys: Any, top_k: int = 0) -> Any:
    """One token per row: argmax at temperature 0, else temperature, top-k (when > 0), nucleus,
    categorical draw: transformers' warpers in transformers' order.

    The draw inverts the cumulative distribution at one uniform number per row, and that number
    is a hash of the row's key for this step (seed, row, step), not the next output of a random
    stream: a row's draws then do not depend on which other rows are still in the batch, so
    ending rows early (EOS, stop strings, compaction) never changes another row's tokens, as it
    does not in `generate`. One number per row, not one per token (as Gumbel-max would need),
    keeps the cost at a softmax and a cumulative sum over the vocabulary."""
    import torch

    logits = logits.float()  # as `generate` does: sampling in float32 whatever the model's dtype
    if params.temperature == 0:
        return logits.argmax(-1)
    logits = logits / params.temperature
    if 0 < top_k < logits.shape[-1]:
        # As TopKLogitsWarper: tokens tied with the k-th most likely stay in.
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    ids = None
    if params.top_p < 1:
        logits, ids = _nucleus(logits, params.top_p)
    # Summed in float64: over 150k tokens float32 rounding would shift the rarer tokens' share.
    cdf = logits.softmax(-1).cumsum(-1, dtype=torch.float64)
    uniform = (((keys >> 11) & _LOW53).double() + 0.5) * 2.0**-53  # in (0, 1), never 0 or 1
    target = (uniform * cdf[:, -1])[:, None]
    # The first token whose cumulative mass reaches the target; tokens of probability 0
    # (outside the nucleus) span no mass and are never chosen.
    choice = torch.searchsorted(cdf, target)[:, 0].clamp_(max=cdf.shape[-1] - 1)
    return choice if ids is None else ids.gather(-1, choice[:, None])[:, 0]


# splitmix64 (Steele et al., the mixer behind java.util.SplittableRandom) on int64 tensors:
# multiplication wraps modulo 2**64 as unsigned arithmetic would, and the masks turn torch's
# arithmetic right shift into a logical one.
_GOLDEN = 0x9E3779B97F4A7C15 - 2**64
_M1, _M2 = 0xBF58476D1CE4E5B9 - 2**64, 0x94D049BB133111EB - 2**64
_LOW53 = 2**53 - 1


def _wrap(n: int) -> int:
    """A Python int as the int64 with the same low 64 bits."""
    return (n + 2**63) % 2**64 - 2**63


def _mix(x: Any) -> Any:
    x = (x ^ ((x >> 30) & (2**34 - 1))) * _M1
    x = (x ^ ((x >> 27) & (2**37 - 1))) * _M2
    return x ^ ((x >> 31) & (2**33 - 1))


def _row_keys(seed: int, rows: int, device: Any) -> Any:
    """Each row's base key: every (seed, row) pair gets its own stream of draws."""
    import torch

    return _mix(_mix(torch.tensor(seed, dtype=torch.long, device=device)) + torch.arange(rows, device=device) * _GOLDEN)


def _nucleus(logits: Any, top_p: float) -> tuple[Any, Any]:
    """The nucleus of each row as (logits, token ids), -inf outside it, most likely first.

    transformers' TopPLogitsWarper keeps a token while the mass of the tokens ranked above it is
    below top_p. If the top candidates already hold top_p, everything beyond them is out and
    the answer is the same as with a full sort."""
    vocab = logits.shape[-1]
    log_total = logits.logsumexp(-1, keepdim=True)
    values, ids = logits.topk(min(NUCLEUS_CANDIDATES, vocab), dim=-1)
    mass = (values - log_total).exp()
    cumulative = mass.cumsum(-1)
    if values.shape[-1] < vocab and not bool((cumulative[:, -1] >= top_p).all()):
        values, ids = logits.sort(dim=-1, descending=True)
        mass = (values - log_total).exp()
        cumulative = mass.cumsum(-1)
    return values.masked_fill(cumulative - mass >= top_p, float("-inf")), ids


def _buckets(lengths: list[int]) -> list[tuple[int, int]]:
    """Split sorted `lengths` into runs [start, stop) of similar length for prefill."""
    runs, start = [], 0
    for i in range(1, len(lengths) + 1):
        too_long = i < len(lengths) and lengths[i] > BUCKET_SPREAD * lengths[start] + 16
        too_many = i < len(lengths) and (i + 1 - start) * lengths[i] > PREFILL_TOKENS
        if i == len(lengths) or too_long or too_many:
            runs.append((start, i))
            start = i
    return runs


def cache_keyword(model: Any) -> str:
    """The keyword a model's forward takes its KV cache by: transformers 5.24 renamed
    `past_key_values` to `cache` (the old name warns, and goes in 5.40); older releases know
    only `past_key_values`."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _unsupported(model: Any) -> str | None:
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return f"{type(model).__name__} is an encoder-decoder model"
    attention = getattr(config, "_attn_implementation", None) or "eager"
    if attention not in _SUPPORTED_ATTENTION:
        return f"attention implementation {attention!r} is not supported (only {', '.join(_SUPPORTED_ATTENTION)})"
    kinds = set(getattr(config, "layer_types", None) or ["full_attention"]) - _SUPPORTED_LAYERS
    if kinds:
        return f"layers of kind {', '.join(sorted(kinds))} are not supported"
    return None


def _window_too_short(model: Any, length: int) -> str | None:
    """Sliding-window layers get the full causal mask, which is exact while no sequence outgrows the window."""
    config = model.config
    window = getattr(config, "sliding_window", None)
    sliding = "sliding_attention" in (getattr(config, "layer_types", None) or []) or (
        window and getattr(config, "use_sliding_window", True) and not getattr(config, "layer_types", None))
    if sliding and window and length > window:
        return f"sequences of {length} tokens outgrow the sliding window of {window}"
    return None
