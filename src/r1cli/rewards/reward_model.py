"""`reward_model`: a learned reward model's score, for prompts no rule can judge (R1's stage 4).

    r1cli reward samples.jsonl -r reward_model=1,model=Skywork/Skywork-Reward-Llama-3.1-8B-v0.2 -o scored.jsonl
    r1cli grpo all.jsonl -m runs/sft -r accuracy -r helpfulness=1,reward=reward_model,model=RM,on=summary,only_task=general -o runs/r1

The model is any transformers sequence-classification model with one output (Skywork-Reward,
...): it reads the conversation (the prompt, then the completion as the assistant's turn, through
its chat template when it has one) and its logit is the score. `on=summary` shows it only what
follows the chain of thought (after the last `</think>`), as R1 judged helpfulness; `on=full`
shows the whole response, as R1 judged harmlessness. `only_task` leaves the records of other
tasks unjudged (null), so rule rewards judge reasoning prompts and the model judges the rest.

It is loaded once per process on the run's device (the process's GPU under a launcher), in
bf16 on GPUs, from safetensors, without remote code, and called without gradients in batches.
Scores are the model's raw logits: their scale is the model's, so weigh them against the rule
rewards accordingly.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

from r1cli.errors import R1Error
from r1cli.records import completion_text
from r1cli.rewards import register

VIEWS = ("full", "summary")


def summary_of(text: str) -> str:
    """What the user reads: the response after the chain of thought (all of it when there is none).

    >>> summary_of("<think>2 + 2 is 4</think> The answer is 4."), summary_of("Four.")
    ('The answer is 4.', 'Four.')
    """
    end = text.rfind("</think>")
    return text[end + len("</think>"):].strip() if end >= 0 else text.strip()


@register("reward_model")
def reward_model(completions: Sequence[Any], prompts: Sequence[Any] | None = None, task: Sequence[Any] | None = None, *,
                 model: str = "", on: str = "full", only_task: str = "", batch_size: int = 8, max_length: int = 4096,
                 **kwargs: Any) -> list[float | None]:
    """A reward model's score of the conversation (on=summary: only the text after </think>); model=PATH or hub name."""
    n = len(completions)
    rows = [i for i in range(n) if not only_task or (task is not None and task[i] == only_task)]
    scores: list[float | None] = [None] * n
    if not rows:
        return scores
    view = summary_of if on == "summary" else str.strip
    chats = [_chat(prompts[i] if prompts is not None else None, view(completion_text(completions[i]))) for i in rows]
    for i, s in zip(rows, _score(model, chats, batch_size, max_length)):
        scores[i] = s
    return scores


def check_params(*, model: str, on: str, only_task: str, batch_size: int, max_length: int) -> None:
    """Settings judged before any scoring or training: a model named (and, if local, there)."""
    from r1cli import models

    if not model:
        raise R1Error("reward 'reward_model': name the model, e.g. -r reward_model=1,model=PATH (a sequence-classification model)")
    if on not in VIEWS:
        raise R1Error(f"reward 'reward_model': on must be one of {', '.join(VIEWS)}, got {on!r}")
    if batch_size < 1 or max_length < 8:
        raise R1Error(f"reward 'reward_model': batch_size must be >= 1 and max_length >= 8, got {batch_size}, {max_length}")
    models.resolve(model)  # a wrong path fails here, in a second


reward_model.check_params = check_params  # type: ignore[attr-defined]


def _chat(prompt: Any, response: str) -> list[dict[str, str]]:
    messages = list(prompt) if isinstance(prompt, list) else ([{"role": "user", "content": str(prompt)}] if prompt else [])
    return [*messages, {"role": "assistant", "content": response}]


@functools.lru_cache(maxsize=2)
def _load(name: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification

    from r1cli import models
    from r1cli.device import pick_device

    device = pick_device("auto")
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{os.environ['LOCAL_RANK']}"  # each process of a launcher scores on its own GPU
    ref = models.resolve(name)
    tokenizer = models.load_tokenizer(ref)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        rm = AutoModelForSequenceClassification.from_pretrained(ref.base, dtype=dtype, use_safetensors=True, **ref.load_kwargs())
    except (OSError, ValueError) as e:
        raise R1Error(f"reward 'reward_model': {name} cannot be loaded as a sequence-classification model: {str(e).splitlines()[0]}") from None
    if rm.config.pad_token_id is None:  # batched scoring finds each sequence's last token by the pad token
        rm.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, rm.to(device).eval()


def _score(name: str, chats: list[list[dict[str, str]]], batch_size: int, max_length: int) -> list[float]:
    import torch

    tokenizer, rm = _load(name)
    chat_template = bool(getattr(tokenizer, "chat_template", None))
    texts = [tokenizer.apply_chat_template(c, tokenize=False) if chat_template else "\n\n".join(m["content"] for m in c) for c in chats]
    out: list[float] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True, truncation=True,
                          max_length=max_length, add_special_tokens=not chat_template).to(rm.device)
        with torch.no_grad():
            out.extend(rm(**batch).logits[:, 0].float().tolist())
    return out
