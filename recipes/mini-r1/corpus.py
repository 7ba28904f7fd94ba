"""The miniature's pretraining corpus: how a base model could have met arithmetic on the web.

    r1cli prepare arithmetic -c prepare-pretrain.yaml -n 4000 --seed 0 -o prompts.jsonl
    python corpus.py prompts.jsonl --seed 0 -o pretrain.jsonl

Each prompt record (with its `operands`, `op`, column-arithmetic `solution` and `answer`) becomes
one SFT record whose completion is written in one of three ways:

    direct   the answer alone, right only --direct-accuracy of the time (a dropped carry or a
             slip of ten otherwise): short and often wrong
    worked   the column steps, then "so the answer is N": long and (nearly) always right
    tagged   the worked answer in R1's tags, <think> steps </think> <answer> N </answer>: rare
             (--tagged), so the base has seen the format but seldom writes it

So the base sometimes answers at once and sometimes works the sum out, and working it out pays:
the situation in which R1-Zero's RL made the model think longer. Nothing here is R1-specific
beyond the rare tagged documents; the R1-Zero template the prompts use describes the format.

Not yet wired into this folder's Makefile. Measured on 2026-12-01 (2.1M-parameter base, 600
steps of full SFT on 4,000 plain-prompt and 1,000 R1-Zero-template documents, --direct 0.4,
--tagged 0.1, then GRPO with LoRA from it, accuracy + format=1, lr 1e-3, 100 steps; 200 held-out
problems, k = 4 at temperature 1.0): held-out accuracy 24.6% -> 63.6% and mean length 21.8 ->
30.8 tokens (1.41x: the worked answers won), but the format stayed rare (4.0% -> 3.1%): the base's
tagged answers were never right (0 of 35), so the format reward competed with accuracy instead
of riding on it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from typing import Any


def slip(a: int, b: int, op: str, rng: random.Random) -> int:
    """A plausible wrong answer: the carry (or borrow) dropped, else off by ten."""
    if op == "+":
        dropped = int("".join(str((int(x) + int(y)) % 10) for x, y in zip(str(a).zfill(3), str(b).zfill(3))))
        right = a + b
    else:
        dropped = int("".join(str(abs(int(x) - int(y))) for x, y in zip(str(a).zfill(3), str(b).zfill(3))))
        right = a - b
    if dropped != right and rng.random() < 0.7:
        return dropped
    return right + rng.choice((-10, 10)) if right >= 10 else right + 10


def completion(record: dict[str, Any], style: str, rng: random.Random, direct_accuracy: float) -> str:
    (a, b), op, answer, steps = record["operands"], record["op"], int(record["answer"]), record["solution"]
    if style == "direct":
        return f" {answer if rng.random() < direct_accuracy else slip(a, b, op, rng)}"
    if style == "worked":
        return f" {steps} , so the answer is {answer}"
    return f" <think> {steps} </think> <answer> {answer} </answer>"


def corpus(records: list[dict[str, Any]], *, seed: int, direct: float, tagged: float, direct_accuracy: float) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for r in records:
        u = rng.random()
        style = "tagged" if u < tagged else "direct" if u < tagged + direct else "worked"
        out.append({"id": r["id"], "prompt": r["prompt"], "completion": completion(r, style, rng, direct_accuracy), "style": style})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prompt records -> the miniature's pretraining SFT records (direct, worked, tagged).")
    parser.add_argument("input", help="prompt records from `r1cli prepare arithmetic` (JSONL)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--direct", type=float, default=0.6, help="share of direct answers (default 0.6)")
    parser.add_argument("--tagged", type=float, default=0.05, help="share of worked answers in R1's tags (default 0.05)")
    parser.add_argument("--direct-accuracy", type=float, default=0.5, help="how often a direct answer is right (default 0.5)")
    parser.add_argument("-o", "--output", required=True, help="output JSONL (written whole, then renamed)")
    args = parser.parse_args(argv)
    if not (0 <= args.direct and 0 <= args.tagged and args.direct + args.tagged <= 1 and 0 <= args.direct_accuracy <= 1):
        parser.error("--direct and --tagged are shares summing to at most 1; --direct-accuracy is in [0, 1]")
    with open(args.input, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    rows = corpus(records, seed=args.seed, direct=args.direct, tagged=args.tagged, direct_accuracy=args.direct_accuracy)
    tmp = args.output + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    os.replace(tmp, args.output)
    counts = {s: sum(r["style"] == s for r in rows) for s in ("direct", "worked", "tagged")}
    print(f"corpus: {len(rows)} documents ({', '.join(f'{v} {k}' for k, v in counts.items())}) -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
