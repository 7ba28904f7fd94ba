"""The miniature's pretraining corpus: how a base model could have met arithmetic on the web.

    r1cli prepare arithmetic -c prepare-pretrain.yaml -n 4000 --seed 0 -o prompts.jsonl
    python corpus.py prompts.jsonl --seed 0 -o pretrain.jsonl

Each prompt record (with its `operands`, `op`, column-arithmetic `solution` and `answer`) becomes
one SFT record whose completion is written in one of three ways:

    direct   the answer alone, right only --direct-accuracy of the time (a dropped carry or a
             slip of ten otherwise): short and often wrong
    worked   " : " and the column steps, then ", so the answer is N": long and right
    tagged   the worked answer in R1's tags, " <think> steps , so the answer is N </think>
             <answer> N </answer>": rare (--tagged), so the base has met the format but seldom
             writes it

So the base sometimes answers at once and sometimes works the sum out, and working it out pays:
the situation in which R1-Zero's RL made the model think longer. Nothing here is R1-specific
beyond the rare tagged documents; the R1-Zero template the prompts use describes the format.

The colon matters. The tiny base (2 layers) finds the operands by their distance from the token
it is writing, so a worked answer that starts right after "Assistant:" and a tagged one that
starts after " <think> " are, to it, two different skills, and it learns the second from the few
tagged documents only. Its tagged answers were then almost never right, and RL had to choose
between the format reward and the accuracy reward (measured below). " : " is the same shape as
" <think> " (a space, one token, a space), so the steps sit at the same distance from the
question either way and what the base learns from the worked documents carries over into the
tags, as a large model's reasoning does.

Measured (2026-12-05; 2.1M-parameter base, hidden 256, 2 layers, full SFT from random weights,
lr 1e-3, batch 32, 600 steps on 4,000 dialog documents, "User: {question}. Assistant:", plus
1,000 R1-Zero-template documents, of which only these may be tagged, and the one-digit facts;
base samples: 200 held-out problems x 4 at temperature 1.0; GRPO: LoRA from the base, R1-Zero
template, accuracy 1.0 + format 0.5, G 8, 32 completions a step, lr 1e-3, 80 steps, figures
averaged over its first 3 and last 5 logged steps):

- without the colon, 25% of template documents tagged: tagged answers right 0-9% of the time,
  worked ones 37-64%; RL kept the worked answers and the format died (0.06 -> 0.00), or, with
  format weight 1.0, the format won and accuracy fell to 0-0.1. Restating the problem before
  the steps, or varying lead-ins before them, did not close the gap (tagged right 20% at best).
- with the colon, 25% tagged: base writes direct 53% (right 1%), worked 29% (right 79%), tagged
  18% (right 79%). GRPO: format 0.12 -> 0.96, accuracy 0.30 -> 0.83, length 19 -> 42 tokens.
- with the colon, 20% tagged (the recipe's default): direct 51% (right 1%), worked 32% (right
  81%), tagged 17% (right 71%). GRPO: format 0.13 -> 0.98 (0.03 at the first step, sampled
  from the base itself), accuracy 0.37 -> 0.72, length 21 -> 42 tokens (2.0x).
- with the colon, 15% tagged: direct 52% (right 8%), worked 40% (right 62%), tagged 9% (right
  46%). GRPO kept the worked answers: format 0.00 -> 0.00, accuracy 0.27 -> 0.83, length 18 ->
  32 tokens.
- with the colon, 12% tagged: tagged 16% (right 30%; most misses copy the number they worked
  out wrongly into <answer>). GRPO: format 0.14 -> 0.45 at 80 steps, accuracy 0.37 -> 0.71.
- with the colon, 10% of 2,500 template documents tagged: tagged 11% (right 37%). GRPO kept the
  worked answers (format 0.06 -> 0.04, accuracy 0.46 -> 0.81); with format weight 1.0 the format
  won (0.06 -> 0.90) but accuracy did not rise in 80 steps (0.46 -> 0.39).

So the format emerges when the base's tagged answers are about as often right as its untagged
ones, which on this base takes tagged documents at about a fifth of the template documents:
the base then writes the format in about one answer in seven (14% of held-out samples at
temperature 0.6), more than the one in ten the miniature was asked for. The whole pipeline on
that base, 3 seeds (README): R1-Zero's format 14% -> 99%, pass@1 47% -> 87%, mean length 23 ->
42 tokens on the held-out problems. Competence also sits on a knife's edge at 600 steps:
the same corpus bar the tags gave bases whose worked answers were right 35% of the time in one
run and 2% in another, so another machine's floating point may give another base.
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
    worked = f"{steps} , so the answer is {answer}"
    if style == "worked":
        # The colon takes the slot `<think>` takes in a tagged answer (both one token between
        # spaces), so the steps sit at the same distance from the question either way.
        return f" : {worked}"
    return f" <think> {worked} </think> <answer> {answer} </answer>"


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
    parser.add_argument("--tagged", type=float, default=0.2, help="share of answers written in R1's tags (default 0.2)")
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
