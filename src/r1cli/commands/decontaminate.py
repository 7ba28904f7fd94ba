"""`r1cli decontaminate`: drop training records whose question overlaps a held-out (eval) item.

    r1cli decontaminate prompts.jsonl --against test_prompts.jsonl -o prompts.clean.jsonl
    r1cli decontaminate ../shared/data/gsm8k/train.jsonl --against '../shared/data/*/test.jsonl' -o train.clean.jsonl
    r1cli prepare arithmetic -n 500 -o - | r1cli decontaminate - --against test.jsonl -o - | r1cli sample - ...

A record is dropped when its text shares an n-gram (n consecutive words, default 8, as
open-r1's decontamination script uses) with an item of any --against file. Kept records pass
through unchanged and in order.

Which text
    In INPUT and in every --against file, a record's text is the first of its `question`,
    `problem` and `prompt` fields (a text prompt, or the user turns of chat messages). So prompt
    records, sample records and raw dataset rows (GSM8K and CMATH's `question`, MATH-500 and
    AIME's `problem`) all work as they are; the fields used are logged and in the manifest. A
    record with none of them, or with a value that is not text, is bad input.
Normalisation
    Unicode NFKC, then case folding. Words are runs of letters and digits; other punctuation is
    a space, except the operators + - * / = < > ^ × ÷ −, which are words of their own, so
    "What is 97 - 53?" and "What is 97 + 53?" stay two problems. Chinese characters and Japanese
    kana are one word each (those scripts put no spaces between words), so there an n-gram is n
    characters.
Short texts
    A text of fewer than n words has no n-gram: it is compared whole, and matches an item whose
    normalised text is the same. (A short eval question quoted inside a longer training question
    is not found that way; lower -n for such sets.)
Templates
    Text that most items of one --against file share is its task's template, not content: every
    Countdown question carries the same instructions, and without care each training question
    would match every test item. So a three-word phrase found in more than --template-share of a
    file's distinct items (and in two at least) is cut from both texts before they are compared
    with that file, leaving the numbers and words that make each problem. --template-share 1
    turns this off.
Outputs
    OUT gets the kept records. The dropped ones go to the report (--report; by default
    OUT.report.jsonl beside a file OUT; for -o - only when --report is given, else a summary on
    stderr), each with a `contamination` field: the shared n-gram, normalised (for a short text,
    the whole text), the --against file, and the eval item's line, id, field and text. The manifest holds the kept and dropped
    counts, per --against file its items, fields, template phrases and drops, the report's
    sha256, and every input with its sha256.
"""

from __future__ import annotations

import glob
import re
import time
import unicodedata
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1cli import artifacts
from r1cli.artifacts import JsonlOutput, Loaded, Manifest
from r1cli.config import StageConfig, option
from r1cli.console import info
from r1cli.errors import DataError

TEXT_FIELDS = ("question", "problem", "prompt")
TEMPLATE_WORDS = 3  # template phrases are this long: short enough to cover the bits between numbers
EXAMPLES = 5  # dropped records shown on stderr when no report file keeps them

_OPERATORS = r"+\-*/=<>^×÷−"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, CJK ideographs (+ extension A, compatibility)
_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+|[{_OPERATORS}]")

Gram = tuple[str, ...]


@dataclass
class DecontaminateConfig(StageConfig):
    against: list[str] = option(help="Held-out JSONL file (prompt or sample records, or dataset rows with `question`/`problem`); "
                                     "repeatable; a quoted glob such as '../shared/data/*/test.jsonl' is expanded.",
                                default_factory=list, show="")
    ngram: int = option(8, help="Words in an n-gram: a record sharing n consecutive words with a held-out item is dropped.",
                        flags=("-n", "--ngram"))
    template_share: float = option(0.5, help="Three-word phrases in more than this share of one --against file's items are its "
                                             "template (instructions), cut before comparing; 1 turns this off.")

    def validate(self) -> None:
        self.require(bool(self.against), "against", "is required: the held-out JSONL file(s) to check against")
        self.require(self.ngram >= 1, "ngram", "must be at least 1")
        self.require(0 < self.template_share <= 1, "template_share", "must be in (0, 1]")


def words(text: str) -> list[str]:
    """The normalised words of a text (see the module docstring)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def grams(tokens: list[str], n: int) -> list[Gram]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def record_text(record: dict[str, Any], where: str) -> tuple[str, str]:
    """(field, text) of a record: its question, else problem, else prompt."""
    for name in TEXT_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        if name == "prompt" and isinstance(value, list):
            turns = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == "user"]
            if not turns or not all(isinstance(t, str) for t in turns):
                raise DataError(where, "chat messages without a user turn of text", field=name)
            value = "\n".join(turns)
        if not isinstance(value, str) or not value.strip():
            raise DataError(where, f"must be a non-empty string, got {type(value).__name__} {value!r:.40}", field=name)
        return name, value
    raise DataError(where, "missing; the text to compare is a record's 'question', else 'problem', else 'prompt'", field="question")


def strip_template(tokens: list[str], template: set[Gram]) -> list[str]:
    """The words of `tokens` that no template phrase covers."""
    if not template:
        return tokens
    covered = [False] * len(tokens)
    for i, gram in enumerate(grams(tokens, TEMPLATE_WORDS)):
        if gram in template:
            covered[i : i + TEMPLATE_WORDS] = [True] * TEMPLATE_WORDS
    return [t for t, c in zip(tokens, covered) if not c]


@dataclass
class HeldOut:
    """One --against file as lookups: its n-grams and short texts, each to the first item that has it."""

    loaded: Loaded
    texts: list[tuple[str, str]]  # (field, text) per record
    n: int
    template: set[Gram]
    ngrams: dict[Gram, int] = field(default_factory=dict)
    whole: dict[Gram, int] = field(default_factory=dict)
    distinct: int = 0
    dropped: int = 0

    @classmethod
    def build(cls, loaded: Loaded, n: int, template_share: float) -> HeldOut:
        texts = [record_text(r, loaded.where(i)) for i, r in enumerate(loaded.records)]
        # Distinct texts only: sample records repeat their question K times, which is not a template.
        distinct: dict[Gram, int] = {}
        for i, (_, text) in enumerate(texts):
            distinct.setdefault(tuple(words(text)), i)
        counts = Counter(g for tokens in distinct for g in set(grams(list(tokens), TEMPLATE_WORDS)))
        template = {g for g, c in counts.items() if c >= 2 and c > template_share * len(distinct)}
        held = cls(loaded, texts, n, template, distinct=len(distinct))
        for tokens, i in distinct.items():
            content = strip_template(list(tokens), template)
            if len(content) >= n:
                for g in grams(content, n):
                    held.ngrams.setdefault(g, i)
            elif content:
                held.whole.setdefault(tuple(content), i)
        return held

    def match(self, tokens: list[str]) -> tuple[Gram, int] | None:
        """The first n-gram (or the whole short text) `tokens` shares with an item, and that item's index."""
        content = strip_template(tokens, self.template)
        if len(content) < self.n:
            index = self.whole.get(tuple(content))
            return (tuple(content), index) if index is not None else None
        for g in grams(content, self.n):
            index = self.ngrams.get(g)
            if index is not None:
                return g, index
        return None

    def describe(self, index: int, gram: Gram) -> dict[str, Any]:
        field_name, text = self.texts[index]
        return {"ngram": " ".join(gram), "against": self.loaded.info.path, "line": self.loaded.lines[index],
                "id": self.loaded.records[index].get("id"), "field": field_name, "text": text}

    def summary(self) -> dict[str, Any]:
        return {"path": self.loaded.info.path, "items": len(self.texts), "distinct": self.distinct,
                "fields": dict(Counter(f for f, _ in self.texts)), "template_phrases": len(self.template), "dropped": self.dropped}


def expand(patterns: list[str]) -> list[str]:
    """--against values, a glob pattern (quoted, so the shell left it) expanded to its files."""
    paths: list[str] = []
    for pattern in patterns:
        if Path(pattern).exists() or not any(c in pattern for c in "*?["):
            paths.append(pattern)
            continue
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise DataError(pattern, "no file matches this --against pattern")
        paths.extend(matches)
    return paths


def default_report(output: str) -> str | None:
    return None if artifacts.is_stream(output) else output + ".report.jsonl"


def run(input_path: str, output: str, cfg: DecontaminateConfig, *, report: str | None = None, force: bool = False) -> dict[str, Any]:
    t0 = time.monotonic()
    if report == artifacts.STDIO:
        raise DataError("--report", "must be a file: stdout carries the kept records (with -o -)")
    report = report or default_report(output)
    for path in (output, report):
        if path is not None:
            artifacts.check_output_free(path, force)
    if report is not None and not artifacts.is_stream(output) and Path(report).resolve() == Path(output).resolve():
        raise DataError(report, "--report is the output itself; choose another file")

    # Everything is read and checked before any output is opened.
    held_out = [HeldOut.build(artifacts.read_jsonl(p), cfg.ngram, cfg.template_share) for p in expand(cfg.against)]
    loaded = artifacts.read_jsonl(input_path)
    texts = [record_text(r, loaded.where(i)) for i, r in enumerate(loaded.records)]
    for held in held_out:
        info(f"decontaminate: {held.loaded.info.path}: {len(held.texts)} items ({held.distinct} distinct), text from "
             + ", ".join(f"'{f}'" for f in held.summary()["fields"])
             + (f"; {len(held.template)} template phrases set aside" if held.template else ""))

    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    examples: list[str] = []  # for stderr, where no report file keeps the dropped records
    for i, (record, (_, text)) in enumerate(zip(loaded.records, texts)):
        tokens = words(text)
        for held in held_out:
            found = held.match(tokens)
            if found is not None:
                held.dropped += 1
                match = held.describe(found[1], found[0])
                dropped.append({**record, "contamination": match})
                examples.append(f"  {loaded.where(i)} ~ {match['against']}:{match['line']}: '{match['ngram']}'")
                break
        else:
            kept.append(record)

    manifest = Manifest("decontaminate", {"against": [h.loaded.info.path for h in held_out], "ngram": cfg.ngram,
                                          "template_share": cfg.template_share},
                        [loaded.info, *(h.loaded.info for h in held_out)])
    stats = {"records": len(loaded.records), "kept": len(kept), "dropped": len(dropped),
             "fields": dict(Counter(f for f, _ in texts)), "against": [h.summary() for h in held_out]}
    with ExitStack() as stack:
        out = stack.enter_context(JsonlOutput(output, force=force))
        report_out = stack.enter_context(JsonlOutput(report, force=force)) if report is not None else None
        out.write(kept)
        report_info = None
        if report_out is not None:
            report_out.write(dropped)
            report_out.commit(None)
            report_info = {"path": report, "rows": len(dropped), "sha256": artifacts.sha256_file(report)}
        stats["seconds"] = round(time.monotonic() - t0, 3)
        # The output last: a finished OUT means its report is complete too.
        out.commit(manifest.finish(stats, report=report_info))

    per_file = ", ".join(f"{h.dropped} by {h.loaded.info.path}" for h in held_out)
    info(f"decontaminate: dropped {len(dropped)} of {len(loaded.records)} records sharing a run of {cfg.ngram} words with held-out items "
         f"({per_file}); kept {len(kept)} -> {'<stdout>' if output == artifacts.STDIO else output}" + (f"; dropped ones -> {report}" if report else ""))
    if report is None and dropped:
        for line in examples[:EXAMPLES]:
            info(line)
        info(("  ... " if len(dropped) > EXAMPLES else "  ") + "pass --report FILE to keep every dropped record with its match")
    return stats
