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

Records only grow: a kept record is written whole; `target` (the SFT text, when reformatted or
a journey), `journey` and `pass_rate` are added; `completion` is never changed. `r1cli sft`
trains on `target` when present, else on `completion`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from r1cli import artifacts, console, records as schema, selection
from r1cli.artifacts import JsonlOutput, Loaded, Manifest
from r1cli.config import ConfigError, StageConfig
from r1cli.errors import DataError, R1Error
from r1cli.rewards.language import LANGUAGE_SCRIPTS, normalize_language

_R = selection.Rules  # the selection defaults live once, beside the rules that use them


@dataclass
class RejectConfig(StageConfig):
    keep: Literal["correct", "best"] = _R.keep
    best_n: int | None = _R.n
    min_reward: float | None = _R.min_reward
    max_per_prompt: int = _R.max_per_prompt
    correct_reward: str | None = None  # None: "accuracy" if scored, else each task's accuracy reward
    language: str = "auto"  # target language for records without a `language` field; auto: the question's
    min_language_share: float = _R.min_language_share
    max_paragraph_chars: int = _R.max_paragraph_chars
    code_blocks: Literal["auto", "drop", "keep"] = _R.code_blocks
    min_tokens: int = _R.min_tokens
    max_tokens: int = _R.max_tokens
    drop_truncated: bool = _R.drop_truncated
    dedup: bool = _R.dedup
    near_duplicate: float = _R.near_duplicate
    pass_rate: str | None = None  # "MIN:MAX"
    prompts: bool = False
    reformat: Literal["none", "summary"] = _R.reformat
    journey: bool = False
    seed: int = 0

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


def correctness_names(loaded: Loaded, explicit: str | None, *, required: bool) -> list[str] | None:
    """For each record, the reward whose score decides "correct" (None if not required and unknown).

    An explicit --correct-reward must be scored on every record. Otherwise `accuracy` when the
    records carry it, else each record's task's own accuracy reward (`numeric` for gsm8k, ...).
    """
    from r1cli import tasks

    records = loaded.records
    if explicit is not None:
        for i, r in enumerate(records):
            if explicit not in r["rewards"]:
                scored = ", ".join(sorted(r["rewards"])) or "none"
                raise DataError(loaded.where(i), f"no score '{explicit}' for --correct-reward (scored: {scored}); "
                                f"score it with `r1cli reward -r {explicit}` or pass one of the scored names", field="rewards")
        return [explicit] * len(records)
    names: list[str] = []
    for i, r in enumerate(records):
        name = "accuracy" if "accuracy" in r["rewards"] else None
        if name is None and r["task"] in tasks.TASKS:
            own = tasks.get(r["task"]).accuracy.name
            name = own if own in r["rewards"] else None
        if name is None:
            if not required:
                return None
            scored = ", ".join(sorted(r["rewards"])) or "none"
            raise DataError(loaded.where(i), f"no correctness score among {scored}; pass --correct-reward NAME, "
                            "or score the samples with `r1cli reward -r accuracy`", field="rewards")
        names.append(name)
    return names


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
    names = correctness_names(loaded, cfg.correct_reward, required=needs_correctness or cfg.correct_reward is not None)
    records = loaded.records
    judged = [selection.is_correct(r["rewards"][names[i]]) for i, r in enumerate(records)] if names else [None] * len(records)
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
                    grown_row = {**grown, "sft_target": selection.readable(schema.completion_text(row["completion"]), languages[i])}
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
