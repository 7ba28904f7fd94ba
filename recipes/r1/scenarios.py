"""R1 stage 4's general prompts: chat data (`messages`) turned into prompt records with `task: general`.

    python scenarios.py general.jsonl -n 2000 -o runs/r1/general_prompts.jsonl

DeepSeek-R1's last stage trains on reasoning prompts and general ones together. The reasoning
prompts come from `r1cli prepare`; this file makes the general ones from chat data (the
conversation up to the last assistant turn is the prompt). Stage 4's rewards are all built in
(the Makefile's STAGE4_REWARDS): `accuracy` leaves these records unjudged (null), and two
instances of `reward_model` with `only_task=general` judge them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

GENERAL = "general"


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
