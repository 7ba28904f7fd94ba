"""The plain backend: batched transformers `generate`, on any device."""

from __future__ import annotations

from typing import Any

from r1cli.backends import Generation, SamplingParams


class PlainBackend:
    name = "plain"

    def __init__(self, model: Any, tokenizer: Any):
        self.model = model
        self.tokenizer = tokenizer
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(self.eos_ids))

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams, seed: int) -> list[list[Generation]]:
        import torch

        batch = self.tokenizer.pad({"input_ids": prompt_ids}, padding_side="left", return_tensors="pt").to(self.model.device)
        width = batch["input_ids"].shape[1]
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "num_return_sequences": params.k,
            "pad_token_id": self.pad_id,
            "eos_token_id": sorted(self.eos_ids),
        }
        if params.temperature > 0:
            # top_k=0: nucleus sampling only, as in vLLM and TRL (transformers defaults to top_k=50).
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        torch.manual_seed(seed)
        with torch.inference_mode():
            out = self.model.generate(**batch, **kwargs)
        completions = out[:, width:].tolist()
        results: list[list[Generation]] = []
        for i in range(len(prompt_ids)):
            group = [self._finish(tokens, params) for tokens in completions[i * params.k : (i + 1) * params.k]]
            results.append(group)
        return results

    def _finish(self, tokens: list[int], params: SamplingParams) -> Generation:
        # A finished sequence is padded to the batch's length; padding is not part of it.
        end = next((j for j, t in enumerate(tokens) if t in self.eos_ids or t == self.pad_id), None)
        kept = tokens if end is None else tokens[:end]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        cut = cut_at_stop(text, params.stop) if params.stop else None
        if cut is not None:
            # Stopped by a stop string: generation ended on the token that completed it.
            return Generation(cut, len(kept), "stop")
        if end is None:
            return Generation(text, len(tokens), "length")
        # The end-of-sequence token was generated, so it counts as a completion token.
        return Generation(text, end + 1, "stop")


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str | None:
    """`text` up to and including the earliest stop string, or None if none occurs."""
    hits = [(text.find(s), s) for s in stops if s and s in text]
    if not hits:
        return None
    pos, s = min(hits)
    return text[: pos + len(s)]
