"""Run-health alarms: a GRPO run that is not learning says so while it runs.

The commonest silent failures of GRPO runs (users' reports; SPEC.md) each leave a mark in the
metrics TRL logs every step. Over a sliding window of the last WINDOW logged steps:

    truncated       >= 90% of completions hit --max-completion-length: no answer to reward,
                    and the advantage goes to whatever stopped first
    no_spread       >= 80% of groups have identical rewards: zero advantage, no gradient
    reward_flat_kl  the reward does not move while the KL to the reference climbs: the policy
                    drifts without getting better
    entropy         the token entropy collapsed (below 10% of where it started, or under 0.05):
                    every group's completions are the same, so groups stop differing
    format_zero     a format-type reward (format, tags) is 0 in every step on a chat model given
                    the r1-zero text template: the model is continuing a document, not answering

Each alarm is one `warning:` line on stderr, once per run and kind, saying what to change; its
name goes into that step's metrics.jsonl line (`alarms`), and `r1cli report` lists it. With
--stop-on-alarm the run stops cleanly at the first alarm, after a checkpoint (resumable).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

WINDOW = 5  # logged steps an alarm looks at: long enough not to fire on one odd batch
TRUNCATED_SHARE = 0.9
NO_SPREAD_SHARE = 0.8
FLAT_REWARD = 0.02  # |last - first| mean reward over the window below this is "not moving"...
KL_GROWTH = 2.0  # ... while the KL at the window's end is this many times its start
ENTROPY_FLOOR = 0.05
ENTROPY_DROP = 0.1  # the share of the first logged entropy under which it has collapsed
FORMAT_REWARDS = ("format", "tags")

ADVICE = {
    "truncated": "{share:.0%} of completions hit the length limit; raise --max-completion-length (or shorten the "
                 "answers the prompts ask for)",
    "no_spread": "{share:.0%} of groups have no reward spread (no gradient); raise the temperature or -G, or use prompts "
                 "the model sometimes gets right (reject --pass-rate 0.1:0.9 --prompts)",
    "reward_flat_kl": "the reward is flat ({reward:.3f}) while the KL climbed {growth:.1f}x; lower --learning-rate or raise --beta",
    "entropy": "the entropy collapsed to {entropy:.3g} (from {first:.3g}); completions no longer differ: raise the "
               "temperature or lower --learning-rate",
    "format_zero": "the {name} reward is 0 in every step, and the prompts are the r1-zero text template on a model with a "
                   "chat template; prepare them with --template r1-chat (or auto -m MODEL), or cold-start the format with sft",
}


def _number(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@dataclass
class Alarm:
    name: str
    message: str


class Health:
    """Reads each logged step's metrics; returns the alarms that fire for the first time."""

    def __init__(self, *, text_template_on_chat_model: bool = False):
        self.text_template_on_chat_model = text_template_on_chat_model
        self.window: deque[dict[str, Any]] = deque(maxlen=WINDOW)
        self.first_entropy: float | None = None
        self.raised: set[str] = set()

    def observe(self, row: dict[str, Any]) -> list[Alarm]:
        if _number(row, "reward") is None:  # not a training step's line (a summary, an evaluation)
            return []
        if self.first_entropy is None:
            self.first_entropy = _number(row, "entropy")
        self.window.append(row)
        if len(self.window) < WINDOW:
            return []
        found = [alarm for alarm in self._check() if alarm.name not in self.raised]
        self.raised.update(alarm.name for alarm in found)
        return found

    def _series(self, key: str) -> list[float] | None:
        values = [_number(row, key) for row in self.window]
        return None if any(v is None for v in values) else values  # type: ignore[return-value]

    def _check(self) -> list[Alarm]:
        out = []
        truncated = self._series("completions/clipped_ratio")
        if truncated and _mean(truncated) >= TRUNCATED_SHARE:
            out.append(Alarm("truncated", ADVICE["truncated"].format(share=_mean(truncated))))
        flat_groups = self._series("frac_reward_zero_std")
        if flat_groups and _mean(flat_groups) >= NO_SPREAD_SHARE:
            out.append(Alarm("no_spread", ADVICE["no_spread"].format(share=_mean(flat_groups))))
        reward, kl = self._series("reward"), self._series("kl")
        if reward and kl and abs(reward[-1] - reward[0]) < FLAT_REWARD and kl[0] > 0 and kl[-1] >= KL_GROWTH * kl[0]:
            out.append(Alarm("reward_flat_kl", ADVICE["reward_flat_kl"].format(reward=_mean(reward), growth=kl[-1] / kl[0])))
        entropy = self._series("entropy")
        if entropy and self.first_entropy and max(entropy) < max(ENTROPY_FLOOR, ENTROPY_DROP * self.first_entropy):
            out.append(Alarm("entropy", ADVICE["entropy"].format(entropy=entropy[-1], first=self.first_entropy)))
        if self.text_template_on_chat_model:
            for name in FORMAT_REWARDS:
                scores = self._series(f"rewards/{name}/mean")
                if scores is not None and max(scores) == 0:
                    out.append(Alarm("format_zero", ADVICE["format_zero"].format(name=name)))
                    break
        return out
