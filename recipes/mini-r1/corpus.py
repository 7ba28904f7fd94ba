"""The miniature's pretraining corpus: how a base model could have met arithmetic on the web.

    r1cli prepare arithmetic -c prepare-pretrain.yaml -n 4000 --seed 0 -o prompts.jsonl
    python corpus.py prompts.jsonl --seed 0 -o pretrain.jsonl

Each prompt record (with its `operands`, `op`, column-arithmetic `solution` and `answer`) becomes
one SFT record whose completion is written in one of three ways:

    direct   the answer alone, right only --direct-accuracy of the time (a dropped carry or a
             slip of ten otherwise): short and often wrong
    worked   the column steps, then "so the answer is N": long and (nearly) always right
    tagged   the worked answer in R1's tags, <think> steps , so the answer is N </think>
             <answer> N </answer>: rare
             (--tagged), so the base has seen the format but seldom writes it

So the base sometimes answers at once and sometimes works the sum out, and working it out pays:
the situation in which R1-Zero's RL made the model think longer. Nothing here is R1-specific
beyond the rare tagged documents; the R1-Zero template the prompts use describes the format.

Not yet wired into this folder's Makefile (the branch wip/issue-15-run wires it: dialog-template
plain documents, R1-Zero-template prompts for RL and eval, `grpo --probe`, both students fully
fine-tuned). What was measured with it, 2.1M-parameter base (hidden 256, 2 layers), full SFT from
random weights, lr 1e-3, batch 32, 600 steps on 4,000 plain or dialog documents plus 1,000
R1-Zero-template documents (only those tagged, --tagged of them) and the one-digit facts;
then GRPO with LoRA from the base on R1-Zero-template prompts (G 8, 32 completions a step, lr
1e-3, temperature 1.0, up to 64 tokens); base figures from 200 held-out problems x 4 samples:

- 2026-12-01, bare-question documents, tagged 10% of all: accuracy 24.6% -> 63.6%, mean length
  21.8 -> 30.8 tokens (1.41x), format 4.0% -> 3.1%; the base's tagged answers were never right.
- 2026-12-05, bare-question documents, 8% / 25% of the template ones tagged: the base reads the
  operands behind the long template only sometimes (worked answers right 35% in one run, 2% in
  the other, the same corpus bar the tags): competence sits on a knife's edge at 600 steps.
- Dialog documents ("User: {question}. Assistant:", which ends as the R1-Zero template does, so
  operand reading carries over): worked answers right 37-64% under the template, direct ones
  1%, but tagged ones 0-9% (the model reads the operands one token further back after <think>
  only from the few tagged documents). Base format 5% (15% tagged) or 13% (25% tagged).
  GRPO, accuracy 1 + format 0.5, 80 steps: with 25% tagged the format died (0.06 -> 0.00) while
  accuracy rose 0.12 -> 0.97 and length 12.7 -> 29.5 tokens (2.3x): the worked answers won;
  with 15% it oscillated (format 0.09 -> 0.62, accuracy 0.09 -> 0.31). With format 1.0, 120
  steps: the format won (-> 0.94-1.00) and accuracy fell to 0-0.1. Restating the problem
  before the steps ("a + b : steps") made the tagged answers worse, not better. Varying lead-ins
  before the worked steps ("so", "let me think :", ...; 25% tagged) lifted tagged answers to
  20% right (worked ones 55%) with the format at 30% in the base; GRPO still chose the worked
  answers (format 0.34 -> 0.00, accuracy 0.28 -> 0.94).

The whole pipeline wired that way (branch wip/issue-15-run; dialog documents, 25% of template
documents tagged, format 0.5; both students fully fine-tuned), 2026-12-05, 200 held-out problems
x 8 at temperature 0.6, pass@1 / cons@8 / mean tokens: base 50.2% / 77.0% / 25.6; R1-Zero 95.1% /
96.5% / 31.0 (its training format reward 0.06 -> 0.00, length 12.7 -> 29.5); cold start (SFT on
prepare --targets solutions) 17.4% / 23.0%; cold start + RL 28.7% / 31.0%; rejection-sampled SFT
27.4%; student base 22.2%; distilled student 12.1%; GRPO student 0.1% (it learned the format and
nothing else). The cold start hurts here because the base computes badly inside the tags, the
same reason the format does not emerge. That run took 34 min, but with the full test suite
running beside it for its first 18; the base's pretraining alone took 4 min 47 s on a quiet
machine, so the <= 15 min budget looks reachable.

So on this base the format and accuracy rewards compete, because a tagged answer is almost never
a right one; R1-Zero's format emerged because the base's tagged answers were as good as its
untagged ones. The next thing to try: a base that reads operands by content, not position (more
layers, or more varied documents than the lead-ins above), so tagged and untagged answers are
equally often right.
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
        return f" {worked}"
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
