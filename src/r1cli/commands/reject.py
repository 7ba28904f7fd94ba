"""`r1cli reject`: rejection sampling, from scored samples to SFT data (or to a difficulty-banded prompt set).

    r1cli reject scored.jsonl -o sft.jsonl                                   # correct, clean, deduplicated
    r1cli reward samples.jsonl -o - | r1cli reject - --max-per-prompt 4 -o sft.jsonl
    r1cli reject scored.jsonl --pass-rate 0.1:0.9 --prompts -o rl-prompts.jsonl   # for grpo, as open-r1 does

DeepSeek-R1's third stage samples 10-30 responses per prompt from the RL checkpoint, keeps only
correct ones and drops those with mixed languages, long paragraphs or code blocks; this stage
does that to the output of `r1cli reward`, grouped by `id`. It also keeps the best N instead
(`--keep best`), rewrites kept samples into R1's readable "reasoning, then a summary" format
(`--reformat summary`), builds journey-learning traces (`--journey`), and filters prompts by
pass rate. The rules themselves are pure functions in `r1cli.selection`.

Records only grow: a kept record is written whole; `sft_target` (the SFT text, when reformatted
or a journey), `journey` and `pass_rate` are added; `completion` is never changed. `r1cli sft`
trains on `sft_target` when present, else on `completion`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from r1cli import artifacts, console, records as schema, selection
from r1cli.artifacts import JsonlOutput, Loaded, Manifest
from r1cli.config import ConfigError, StageConfig, option
from r1cli.errors import DataError, R1Error
from r1cli.rewards.language import LANGUAGE_SCRIPTS, normalize_language
from r1cli.tasks.accuracy import is_correct, judges

_R = selection.Rules  # the selection defaults live once, beside the rules that use them


@dataclass
class RejectConfig(StageConfig):
    keep: Literal["correct", "best"] = option(_R.keep, help="correct: every correct sample (R1's rejection sampling); best: the best --best-n by total reward.")
    best_n: int | None = option(_R.n, help="With --keep best: samples kept per prompt.", show="1")
    min_reward: float | None = option(_R.min_reward, help="Drop samples whose total reward is below this.", show="")
    max_per_prompt: int = option(_R.max_per_prompt, help="Keep at most this many samples per prompt, best reward first (0: no cap).")
    correct_reward: str | None = option(None, help="The reward whose score >= 1.0 means correct. Default: accuracy if scored, else each task's own accuracy reward.", show="")
    language: str = option("auto", help="Target language of the chain of thought for records without a `language` field: a code (zh, en, ...) or auto (the question's language).")
    min_language_share: float = option(_R.min_language_share, help="Drop chains of thought with a smaller share of words in the target language (mixed languages; 0: off).")
    max_paragraph_chars: int = option(_R.max_paragraph_chars, help="Drop samples with a paragraph longer than this many characters (0: off).")
    code_blocks: Literal["auto", "drop", "keep"] = option(_R.code_blocks, help="Fenced code blocks: drop, keep, or auto (drop, except in samples scored by the `code` reward).")
    min_tokens: int = option(_R.min_tokens, help="Drop completions shorter than this many tokens.")
    max_tokens: int = option(_R.max_tokens, help="Drop completions longer than this many tokens (0: no bound).")
    drop_truncated: bool = option(_R.drop_truncated, help="Drop completions that hit the token limit (finish_reason 'length'; they have no final answer).",
                                  flags=("--drop-truncated/--keep-truncated",), show="drop")
    dedup: bool = option(_R.dedup, help="Drop exact and near-duplicate samples within a prompt.", flags=("--dedup/--no-dedup",), show="dedup")
    near_duplicate: float = option(_R.near_duplicate, help="Word-shingle Jaccard similarity from which two samples count as near-duplicates.")
    pass_rate: str | None = option(None, help="MIN:MAX: only prompts whose share of correct samples lies in this band (inclusive), e.g. 0.1:0.9.", show="")
    prompts: bool = option(False, help="Write one prompt record per kept prompt (with `pass_rate`), for grpo or sample, instead of SFT samples.", show="")
    reformat: Literal["none", "summary"] = option(_R.reformat, help="none, or summary: add `sft_target`, the reasoning in a think block, then a one-sentence summary and the answer tag (R1's readable format).")
    journey: bool = option(False, help="Journey learning: per prompt, one `sft_target` trace of a wrong attempt, a correction and a correct attempt.", show="")
    seed: int = option(0, help="Seed for choosing the journey pairs.")

    def validate(self) -> None:
        self.require(self.keep in selection.KEEP_POLICIES, "keep", f"must be one of {', '.join(selection.KEEP_POLICIES)}")
        self.require(self.best_n is None or self.best_n >= 1, "best_n", "must be at least 1")
        self.require(self.best_n is None or self.keep == "best", "best_n", "counts the best samples to keep; use it with --keep best")
        self.require(self.max_per_prompt >= 0, "max_per_prompt", "must be >= 0 (0: no cap)")
        self.require(self.correct_reward is None or self.correct_reward != "", "correct_reward", "must be a reward name")
        self.require(0 <= self.min_language_share <= 1, "min_language_share", "must be between 0 and 1 (0: no language filter)")
        self.require(self.max_paragraph_chars >= 0, "max_paragraph_chars", "must be >= 0 (0: no paragraph filter)")
        self.require(self.code_blocks in selection.CODE_BLOCK_MODES, "code_blocks", f"must be one of {', '.join(selection.CODE_BLOCK_MODES)}")
        self.require(self.min_tokens >= 0, "min_tokens", "must be >= 0")
        self.require(self.max_tokens >= 0, "max_tokens", "must be >= 0 (0: no bound)")
        self.require(not self.max_tokens or self.max_tokens >= self.min_tokens, "max_tokens", f"must be >= --min-tokens ({self.min_tokens})")
        self.require(0 < self.near_duplicate <= 1, "near_duplicate", "must be in (0, 1]")
        self.require(self.reformat in selection.REFORMATS, "reformat", f"must be one of {', '.join(selection.REFORMATS)}")
        if self.language != "auto":
            try:
                normalize_language(self.language)
            except R1Error:
                self.require(False, "language", f"must be auto or a language code ({', '.join(sorted(LANGUAGE_SCRIPTS))})")
        self.band()
        self.require(not (self.journey and self.keep == "best"), "keep", "must be correct with --journey (a journey pairs a wrong and a correct attempt)")
        self.require(not (self.prompts and self.journey), "prompts", "writes prompt records; it cannot be combined with --journey")
        self.require(not (self.prompts and self.reformat != "none"), "prompts", "writes prompt records; it cannot be combined with --reformat")

    def band(self) -> tuple[float, float] | None:
        if self.pass_rate is None:
            return None
        try:
            return selection.parse_band(self.pass_rate)
        except ValueError as e:
            raise ConfigError(f"--pass-rate (config key 'pass_rate') {e}, got {self.pass_rate!r}") from None

    def rules(self) -> selection.Rules:
        return selection.Rules(
            keep=self.keep, n=self.best_n, min_reward=self.min_reward, max_per_prompt=self.max_per_prompt,
            drop_truncated=self.drop_truncated, min_tokens=self.min_tokens, max_tokens=self.max_tokens,
            min_language_share=self.min_language_share,
            max_paragraph_chars=self.max_paragraph_chars, code_blocks=self.code_blocks, dedup=self.dedup,
            near_duplicate=self.near_duplicate, pass_rate=self.band(), reformat=self.reformat,
        )

    @property
    def mode(self) -> str:
        return "prompts" if self.prompts else "journey" if self.journey else "sft"


def _languages(loaded: Loaded, default: str) -> list[str | None]:
    out: list[str | None] = []
    for i, r in enumerate(loaded.records):
        try:
            out.append(selection.target_language(r, default))
        except R1Error:
            raise DataError(loaded.where(i), f"unknown language {r.get('language')!r}; use a code such as zh or en",
                            field="language") from None
    return out


def _groups(records: list[dict[str, Any]]) -> list[list[int]]:
    """Record indexes grouped by `id`, in order of first appearance (a prompt's K samples)."""
    by_id: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_id.setdefault(r["id"], []).append(i)
    return list(by_id.values())


def run(input_path: str, output: str, cfg: RejectConfig, *, force: bool = False) -> dict[str, Any]:
    t0 = time.monotonic()
    artifacts.check_output_free(output, force)
    loaded = artifacts.read_jsonl(input_path)
    schema.validate(loaded, "scored")
    rules = cfg.rules()
    needs_correctness = cfg.keep == "correct" or cfg.journey or cfg.prompts or cfg.pass_rate is not None
    records = loaded.records
    names = judges(records, loaded.where, cfg.correct_reward, required=needs_correctness or cfg.correct_reward is not None)
    judged = [is_correct(r["rewards"][names[i]]) for i, r in enumerate(records)] if names else [None] * len(records)
    languages = _languages(loaded, cfg.language)

    kept: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    rates: list[float | None] = []
    prompts_out = 0
    for group in _groups(records):
        rows = [records[i] for i in group]
        correct = [judged[i] for i in group]
        rate = selection.pass_rate(correct) if names else None
        rates.append(rate)
        grown = {"pass_rate": rate} if names else {}
        if cfg.mode == "sft":
            reasons = selection.select_samples(rows, rules, correct, [languages[i] for i in group])
            for i, row, why in zip(group, rows, reasons):
                if why is not None:
                    dropped[why] = dropped.get(why, 0) + 1
                    continue
                if cfg.reformat == "summary":
                    grown_row = {**grown, "sft_target": selection.readable(schema.completion_text(row["completion"]), languages[i],
                                                                                   selection.stated_answer(row, judged[i]))}
                else:
                    grown_row = grown
                kept.append({**row, **grown_row})
            prompts_out += any(why is None for why in reasons)
            continue
        # Journey and prompt modes give at most one record per prompt, and count prompts.
        if cfg.mode == "prompts":
            reason = selection.band_reason(rate, rules.pass_rate)
            record = selection.prompt_record(rows[0], rate) if reason is None else None
        else:
            record, reason = selection.select_journey(rows, rules, correct, [languages[i] for i in group], seed=cfg.seed)
            record = {**record, **grown} if record is not None else None
        if record is None:
            dropped[reason] = dropped.get(reason, 0) + 1
        else:
            kept.append(record)
            prompts_out += 1

    order = selection.SAMPLE_REASONS if cfg.mode == "sft" else selection.JOURNEY_REASONS if cfg.mode == "journey" else selection.PROMPT_REASONS
    stats: dict[str, Any] = {
        "mode": cfg.mode,
        "unit": "samples" if cfg.mode == "sft" else "prompts",
        "records_in": len(records),
        "prompts_in": len(rates),
        "kept": len(kept),
        "dropped": {r: dropped[r] for r in order if r in dropped},
        "records_out": len(kept),
        "prompts_out": prompts_out,
        "correct_reward": sorted(set(names)) if names else None,
        "pass_rate": selection.pass_rate_summary(rates) if names else None,
    }
    if not kept:
        console.warn("reject: nothing was kept; the output is empty (see the table for why)")
    manifest = Manifest("reject", {**cfg.to_dict(), "correct_reward_resolved": stats["correct_reward"]}, [loaded.info])
    with JsonlOutput(output, force=force) as out:
        out.write(kept)
        stats["seconds"] = round(time.monotonic() - t0, 3)
        out.commit(manifest.finish(stats))
    report(stats, output)
    return stats


def report(stats: dict[str, Any], output: str) -> None:
    """The kept/dropped table on stderr: the same counts as the manifest's stats."""
    if console.quiet:
        return
    from rich.table import Table

    unit = stats["unit"]
    total = stats["records_in"] if unit == "samples" else stats["prompts_in"]
    table = Table(title=f"reject ({stats['mode']}): {unit}", title_justify="left", show_edge=False)
    table.add_column("outcome")
    table.add_column(unit, justify="right")
    table.add_column("share", justify="right")

    def row(name: str, n: int) -> None:
        table.add_row(name, str(n), f"{n / total:.1%}" if total else "-")

    row("kept", stats["kept"])
    for reason, n in stats["dropped"].items():
        row(f"dropped: {reason}", n)
    console.stderr.print(table)
    summary = stats["pass_rate"]
    rate = f"; mean pass rate {summary['mean']:.3f}" if summary and summary["mean"] is not None else ""
    console.info(f"reject: {stats['records_out']} records from {stats['prompts_out']} of {stats['prompts_in']} prompts{rate} -> {output}")
