"""The record schema: one JSON object per line, and records only grow along the pipeline.

No stage renames or drops a field, so `jq` works at every step and a later stage can still
see everything an earlier one knew.

prompt record (written by `prepare`, read by `sample`, `grpo`, `eval`)
    id          str, unique in the file
    task        str: the task that made it and knows its gold answers (`countdown`, `math`, ...)
    prompt      str (a text prompt, already templated) or a list of chat messages
                `[{"role": "user", "content": "..."}]` (the model's chat template is applied at use);
                a role is one of ROLES (system, user, assistant, tool), the ones chat templates know
    question    str, optional: the raw question before templating
    answer      str | number | null, optional: the gold answer (numbers are finite: JSON has no
                NaN or infinity, and a stage cannot write one back)
    ...         task metadata, kept as top-level fields so reward functions receive them as
                keyword arguments (Countdown's `numbers` and `target`, MATH's `level`, ...)

sample record (`sample` adds)
    sample_index       int: 0..K-1 within the prompt's group; (id, sample_index) is unique
    completion         str: the generated text (special tokens removed)
    finish_reason      "stop" (end of sequence or a stop string) or "length" (hit the token limit)
    prompt_tokens      int
    completion_tokens  int

SFT text (`prepare --targets`, `reject --reformat summary`, `reject --journey` add)
    sft_target  str: the text `sft` learns instead of `completion`. Its own field, so a task's
                own fields (Countdown's `target`, the goal number) are never read as training
                text nor overwritten

scored record (`reward` adds)
    rewards     {name: float | null}: each reward's score; null means "could not be judged"
                (an unparseable gold answer, a sandbox failure, a reward function that failed
                on this completion) and is left out, as TRL does
    reward      float | null: the weighted sum of the non-null scores (null if all are null)
    reward_info {column: value}, optional: per-completion details a reward reported (TRL's
                `log_extra`), e.g. the code reward's run status; `reward_errors` {name: why}
                for each reward whose function failed on this completion
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from r1cli.artifacts import Loaded
from r1cli.errors import DataError

PROMPT_FIELDS = ("id", "task", "prompt")
SAMPLE_FIELDS = ("sample_index", "completion", "finish_reason", "prompt_tokens", "completion_tokens")
SCORED_FIELDS = ("rewards", "reward")
FINISH_REASONS = ("stop", "length")
# The roles chat templates render. Another role ("wizard", "bot") is silently dropped or
# mangled by some templates and makes others raise mid-run, so it is refused when read.
ROLES = ("system", "user", "assistant", "tool")


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_messages(v: Any) -> bool:
    return (
        isinstance(v, list)
        and len(v) > 0
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in v)
    )


def role_problem(messages: list[dict[str, Any]]) -> str | None:
    """What is wrong with the roles of well-formed chat messages, or None."""
    for i, m in enumerate(messages):
        if m["role"] not in ROLES:
            return f"message {i + 1} has role {_short(m['role'])}; chat templates know the roles {', '.join(ROLES)}"
    return None


def _is_number(v: Any) -> bool:
    # Finite: reading refuses NaN and infinity in JSON already, but records also come from data
    # files (parquet, CSV) and from other stages' code. (An int is finite, and may be too large
    # for a float, so it is not converted to find out.)
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and math.isfinite(v))


def _is_answer(v: Any) -> bool:
    return v is None or isinstance(v, str) or _is_number(v)


def _is_score(v: Any) -> bool:
    return v is None or _is_number(v)


def _is_rewards(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _is_score(s) for k, s in v.items())


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "id": (lambda v: _is_str(v) and v != "", "a non-empty string"),
    "task": (_is_str, "a string"),
    "prompt": (lambda v: (_is_str(v) and v != "") or _is_messages(v), 'a non-empty string or a list of {"role", "content"} messages'),
    "question": (_is_str, "a string"),
    "answer": (_is_answer, "a string, a finite number or null"),
    "sample_index": (_is_int, "a non-negative integer"),
    "completion": (_is_str, "a string"),
    "finish_reason": (lambda v: v in FINISH_REASONS, "'stop' or 'length'"),
    "prompt_tokens": (_is_int, "a non-negative integer"),
    "completion_tokens": (_is_int, "a non-negative integer"),
    "rewards": (_is_rewards, "a mapping of reward name to finite number or null"),
    "reward": (_is_score, "a finite number or null"),
}

_REQUIRED = {
    "prompt": PROMPT_FIELDS,
    "sample": PROMPT_FIELDS + SAMPLE_FIELDS,
    "scored": PROMPT_FIELDS + SAMPLE_FIELDS + SCORED_FIELDS,
    # Completions from any system, as `eval` takes them: lines with the same id are one
    # prompt's samples; everything else a stage of r1cli would write is optional.
    "completion": ("id", "completion"),
}


def _type_of(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def validate(loaded: Loaded, kind: str, *, require: tuple[str, ...] = ()) -> None:
    """Check every record of `loaded` against the schema of `kind`; stop at the first problem.

    `require` names extra fields a stage needs (e.g. `answer` for accuracy rewards).
    """
    required = _REQUIRED[kind] + tuple(f for f in require if f not in _REQUIRED[kind])
    # Optional fields are checked whenever present.
    checked = [f for f in _CHECKS if f not in required]
    seen: dict[Any, int] = {}
    grouped = kind != "prompt"
    for i, record in enumerate(loaded.records):
        where = loaded.where(i)
        for name in required:
            if name not in record:
                raise DataError(where, _missing_hint(kind, name), field=name)
        for name in (*required, *checked):
            if name in record and name in _CHECKS:
                ok, expected = _CHECKS[name]
                if not ok(record[name]):
                    raise DataError(where, f"must be {expected}, got {_type_of(record[name])} {_short(record[name])}", field=name)
        if isinstance(record.get("prompt"), list):
            problem = role_problem(record["prompt"])
            if problem:
                raise DataError(where, problem, field="prompt")
        if kind == "completion" and "sample_index" not in record:
            continue  # lines with the same id are the prompt's samples, in file order
        key = (record["id"], record["sample_index"]) if grouped else record["id"]
        if key in seen:
            what = f"id {record['id']!r} sample_index {record['sample_index']}" if grouped else f"id {record['id']!r}"
            raise DataError(where, f"duplicate {what} (first at line {loaded.lines[seen[key]]})", field="id")
        seen[key] = i


def _missing_hint(kind: str, name: str) -> str:
    if name in SAMPLE_FIELDS and kind != "prompt":
        return "missing; this input must be the output of `r1cli sample`"
    if name in SCORED_FIELDS:
        return "missing; this input must be the output of `r1cli reward`"
    if name == "answer":
        return "missing; the chosen rewards need a gold answer"
    return "missing"


def _short(v: Any, limit: int = 40) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def completion_text(completion: Any) -> str:
    """The text of a completion as TRL passes it: a string, or a list of chat messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content", "") if isinstance(m, dict) else str(m) for m in completion)
    return "" if completion is None else str(completion)
