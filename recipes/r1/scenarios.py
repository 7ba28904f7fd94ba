"""R1 stage 4, RL for all scenarios: rule rewards for reasoning prompts, a reward model for general ones.

    python scenarios.py general.jsonl -n 2000 -o runs/r1/general_prompts.jsonl        # chat data -> prompt records
    R1_REWARD_MODEL=Skywork/Skywork-Reward-Llama-3.1-8B-v0.2 PYTHONPATH=. \
        r1cli grpo runs/r1/all_prompts.jsonl -m runs/r1/sft -c grpo-all.yaml -o runs/r1/r1

r1cli's rewards are rules (the report's choice for reasoning). DeepSeek-R1's last stage also
scores general prompts with reward models: helpfulness judged on the final summary only,
harmlessness on the whole response. Any function with TRL's reward signature can be passed to
`r1cli grpo` by dotted path (`scenarios:helpfulness`, with this folder on PYTHONPATH), so this
module holds those rewards:

    reasoning      `accuracy` for prompts of an r1cli task; None (not judged) for general prompts
    helpfulness    a reward model's score of the final summary (after `</think>`); None for reasoning prompts
    harmlessness   a reward model's score of the whole response, reasoning included; None for reasoning prompts

A None score is left out of the weighted total (and of GRPO's advantages), so each prompt is
judged only by the rewards meant for it. General prompts are records with `task: general`,
made from chat data (`messages`, the last turn the assistant's) by running this file.

The reward model is any transformers sequence-classification model that scores a chat
(Skywork-Reward, ...): the `model` parameter in the YAML (`scenarios:helpfulness: {weight: 1,
model: NAME}`), else the R1_REWARD_MODEL environment variable, which the Makefile sets from
REWARD_MODEL (`r1cli grpo -r` takes no parameters). It is loaded once per process, on the
process's GPU, and called without gradients. Both rewards share one model here; R1 used a
separate one for each.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

GENERAL = "general"


def _text(completion: Any) -> str:
    """A completion as TRL passes it (a string, or a list of chat messages) as text."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") if isinstance(m, dict) else str(m) for m in completion)
    return "" if completion is None else str(completion)


def _subset(kwargs: dict[str, Any], rows: list[int], n: int) -> dict[str, Any]:
    """The per-completion columns for `rows`; everything else (TRL's trainer_state, log
    callbacks) passes through unchanged."""
    return {k: [v[i] for i in rows] if isinstance(v, list) and len(v) == n else v for k, v in kwargs.items()}


def reasoning(completions: Sequence[Any], task: Sequence[str], **kwargs: Any) -> list[float | None]:
    """r1cli's `accuracy` for reasoning prompts (a task r1cli knows); None for general prompts.

    >>> reasoning(["<answer>7</answer>", "Sure!"], task=["arithmetic", "general"], answer=["7", None])
    [1.0, None]
    """
    from r1cli import rewards

    n = len(completions)
    rows = [i for i in range(n) if task[i] != GENERAL]
    scores: list[float | None] = [None] * n
    if rows:
        accuracy = rewards.lookup("accuracy")
        for i, s in zip(rows, accuracy([completions[i] for i in rows], task=[task[i] for i in rows], **_subset(kwargs, rows, n))):
            scores[i] = s
    return scores


def final_summary(text: str) -> str:
    """What the user reads: the response after the chain of thought (all of it when there is none)."""
    end = text.rfind("</think>")
    return text[end + len("</think>"):].strip() if end >= 0 else text.strip()


def helpfulness(completions: Sequence[Any], prompts: Sequence[Any], task: Sequence[str], *, model: str = "",
                batch_size: int = 8, max_length: int = 4096, **kwargs: Any) -> list[float | None]:
    """Reward-model score of the final summary, for general prompts (R1: helpfulness); None for reasoning prompts."""
    return _judge(completions, prompts, task, final_summary, model, batch_size, max_length)


def harmlessness(completions: Sequence[Any], prompts: Sequence[Any], task: Sequence[str], *, model: str = "",
                 batch_size: int = 8, max_length: int = 4096, **kwargs: Any) -> list[float | None]:
    """Reward-model score of the whole response, reasoning included, for general prompts (R1: harmlessness)."""
    return _judge(completions, prompts, task, str.strip, model, batch_size, max_length)


def _judge(completions: Sequence[Any], prompts: Sequence[Any], task: Sequence[str], view: Any, model: str,
           batch_size: int, max_length: int) -> list[float | None]:
    rows = [i for i in range(len(completions)) if task[i] == GENERAL]
    scores: list[float | None] = [None] * len(completions)
    if not rows:
        return scores
    name = model or os.environ.get("R1_REWARD_MODEL", "")
    if not name:
        raise ValueError("no reward model: set the reward's `model` parameter in the YAML, or R1_REWARD_MODEL")
    chats = [_chat(prompts[i], view(_text(completions[i]))) for i in rows]
    for i, s in zip(rows, _score(name, chats, batch_size, max_length)):
        scores[i] = s
    return scores


def _chat(prompt: Any, response: str) -> list[dict[str, str]]:
    messages = list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
    return [*messages, {"role": "assistant", "content": response}]


@functools.lru_cache(maxsize=2)
def _load(name: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    cuda = torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else torch.device("cpu")
    tokenizer = AutoTokenizer.from_pretrained(name)
    rm = AutoModelForSequenceClassification.from_pretrained(name, dtype=torch.bfloat16 if cuda else torch.float32).to(device).eval()
    if rm.config.pad_token_id is None:  # batched scoring finds each sequence's last token by padding
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        rm.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, rm


def _score(name: str, chats: list[list[dict[str, str]]], batch_size: int, max_length: int) -> list[float]:
    import torch

    tokenizer, rm = _load(name)
    out: list[float] = []
    for start in range(0, len(chats), batch_size):
        texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in chats[start : start + batch_size]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                          add_special_tokens=False).to(rm.device)
        with torch.no_grad():
            logits = rm(**batch).logits
        out.extend(float(x) for x in logits[:, 0])
    return out


def general_prompts(lines: Sequence[str], n: int | None, where: str, language: str = "en") -> list[dict[str, Any]]:
    """Prompt records (`task: general`) from chat records: the conversation up to the last
    assistant turn is the prompt; `language` is the target of the language-consistency reward.

    Every record carries `language` as the reasoning prompts do: `r1cli grpo` builds its dataset
    with `datasets.Dataset.from_list`, which keeps only the first record's columns, and general
    prompts come first in the stage-4 prompt file.
    """
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        messages = json.loads(line).get("messages")
        if not (isinstance(messages, list) and len(messages) >= 2 and messages[-1].get("role") == "assistant"):
            raise SystemExit(f"{where}:{i + 1}: field 'messages': needs a conversation ending with the assistant's turn")
        prompt = messages[:-1]
        question = next((m["content"] for m in reversed(prompt) if m.get("role") == "user"), "")
        records.append({"id": f"{GENERAL}-{i}", "task": GENERAL, "question": question, "prompt": prompt, "answer": None,
                        "language": language})
        if n is not None and len(records) >= n:
            break
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Turn chat data (messages) into r1cli prompt records with task 'general'.")
    parser.add_argument("input", help="JSONL of chat records with `messages`")
    parser.add_argument("-n", type=int, default=None, help="at most this many prompts")
    parser.add_argument("--language", default="en", help="target language of the language-consistency reward (default: en)")
    parser.add_argument("-o", "--output", required=True, help="output JSONL (written whole, then renamed)")
    args = parser.parse_args(argv)
    with open(args.input, encoding="utf-8") as f:
        records = general_prompts(f.read().splitlines(), args.n, args.input, args.language)
    tmp = args.output + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    os.replace(tmp, args.output)
    print(f"scenarios: {len(records)} general prompts -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
