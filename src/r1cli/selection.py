"""Rejection sampling's pure core: which of a prompt's K samples become SFT data, and in what form.

Everything here is a function of records already in memory, with no IO, so each rule is unit
tested with a table (`tests/test_select.py`); `r1cli reject` (`commands/reject.py`) reads,
groups, calls these and writes. The rules follow the DeepSeek-R1 report's third stage: keep only
correct samples, then drop chains of thought that mix languages, have overly long paragraphs or
code blocks; plus the usual companions: length bounds, truncation, duplicates, a cap per prompt,
a difficulty band on the prompt's pass rate, R1's readable "reasoning, then a summary" format
and journey-learning traces (a wrong attempt, a correction, then a correct attempt).

Every dropped sample is reported under exactly one reason: the first rule it fails, in the
order of `SAMPLE_REASONS`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from r1cli.records import SAMPLE_FIELDS, SCORED_FIELDS, completion_text
from r1cli.rewards.language import LANGUAGE_SCRIPTS, count_words, language_share, normalize_language
from r1cli.rewards.tags import answer_span, thought

# Drop reasons, in the order the rules are applied. Unit: samples.
SAMPLE_REASONS = (
    "pass_rate_unknown",  # --pass-rate set, but no sample of the prompt could be judged
    "pass_rate_below",  # the prompt's pass rate is under the band: too hard
    "pass_rate_above",  # over the band: too easy
    "unjudged",  # the correctness score (or, for --keep best, the total reward) is null
    "incorrect",
    "low_reward",  # total reward under --min-reward
    "truncated",  # finish_reason "length": cut off, so no final answer
    "too_short",
    "too_long",
    "mixed_language",
    "long_paragraph",
    "code_block",
    "no_answer",  # --reformat summary needs a final answer to state, and there is none
    "duplicate",  # the same text (up to whitespace) as a better-ranked kept sample
    "near_duplicate",  # word-shingle Jaccard similarity to a kept sample >= --near-duplicate
    "not_best",  # --keep best: outside the best --n
    "over_cap",  # beyond --max-per-prompt
)
# Journey mode and --prompts mode report per prompt. Unit: prompts.
JOURNEY_REASONS = (
    "pass_rate_unknown", "pass_rate_below", "pass_rate_above",
    "unjudged",  # no sample of the prompt could be judged
    "all_correct",  # no wrong attempt to start the trace from
    "none_correct",  # no correct attempt to end it with
    "no_clean_correct",  # correct attempts exist, but every one fails a filter
    "no_clean_wrong",  # wrong attempts exist, but every one fails a filter
    "too_short",  # every (wrong, correct) pair together is under --min-tokens
    "too_long",  # every (wrong, correct) pair together exceeds --max-tokens
)
PROMPT_REASONS = ("pass_rate_unknown", "pass_rate_below", "pass_rate_above")

KEEP_POLICIES = ("correct", "best")
CODE_BLOCK_MODES = ("auto", "drop", "keep")
REFORMATS = ("none", "summary")

# Near-duplicates compare sets of 5-token shingles: long enough that two different solutions of
# the same problem (which share most of their words) rarely collide, short enough that a
# one-word edit changes only a few of them. One changed word costs up to 5 shingles, so two
# 50-word texts one word apart score about 0.82 and 500-word ones about 0.98: the default
# threshold of 0.8 catches copies with a few words changed, not different solutions.
SHINGLE = 5


@dataclass(frozen=True)
class Rules:
    """The selection settings `r1cli reject` passes to the pure functions (its flags, parsed).

    These defaults are the stage's defaults (`RejectConfig` takes them from here)."""

    keep: str = "correct"  # correct: every correct sample; best: the best `n` by total reward
    n: int | None = None  # with keep="best": how many (None means 1)
    min_reward: float | None = None  # total reward threshold
    max_per_prompt: int = 0  # 0: no cap
    drop_truncated: bool = True
    min_tokens: int = 0
    max_tokens: int = 0  # 0: no bound
    min_language_share: float = 0.9  # 0: no language filter
    max_paragraph_chars: int = 3000  # 0: no paragraph filter
    code_blocks: str = "auto"
    dedup: bool = True
    near_duplicate: float = 0.8
    pass_rate: tuple[float, float] | None = None
    reformat: str = "none"

    @property
    def best_n(self) -> int:
        return self.n if self.n is not None else 1


# -- correctness and difficulty --------------------------------------------------------------------
def pass_rate(judgements: Sequence[bool | None]) -> float | None:
    """Share of a prompt's judged samples that are correct; None when none was judged.

    Unjudged samples (an unparseable gold answer, a sandbox failure) say nothing about the
    prompt's difficulty, so they are left out of the rate rather than counted as failures.

    >>> pass_rate([True, False, None, True])
    0.6666666666666666
    """
    judged = [j for j in judgements if j is not None]
    return sum(judged) / len(judged) if judged else None


def parse_band(text: str) -> tuple[float, float]:
    """`"MIN:MAX"` (either side may be empty: `"0.1:"`, `":0.9"`) -> (min, max), inclusive.

    Raises ValueError with a message meant for the user.

    >>> parse_band("0.1:0.9"), parse_band(":0.5"), parse_band("0.25:")
    ((0.1, 0.9), (0.0, 0.5), (0.25, 1.0))
    """
    low, sep, high = str(text).partition(":")
    if not sep or ":" in high:
        raise ValueError("must be MIN:MAX, e.g. 0.1:0.9 (either side may be left empty)")
    try:
        lo = float(low) if low.strip() else 0.0
        hi = float(high) if high.strip() else 1.0
    except ValueError:
        raise ValueError("must be MIN:MAX with numbers between 0 and 1, e.g. 0.1:0.9") from None
    if not (0.0 <= lo <= hi <= 1.0) or math.isnan(lo) or math.isnan(hi):
        raise ValueError("must satisfy 0 <= MIN <= MAX <= 1")
    return lo, hi


def band_reason(rate: float | None, band: tuple[float, float] | None) -> str | None:
    """Why a prompt with pass rate `rate` is outside `band`; None when inside (or no band)."""
    if band is None:
        return None
    if rate is None:
        return "pass_rate_unknown"
    if rate < band[0]:
        return "pass_rate_below"
    if rate > band[1]:
        return "pass_rate_above"
    return None


def pass_rate_summary(rates: Sequence[float | None]) -> dict[str, Any]:
    """Mean, the all/none-correct counts and a ten-bin histogram of prompts' pass rates."""
    known = [r for r in rates if r is not None]
    bins = {f"{i / 10:.1f}-{(i + 1) / 10:.1f}": 0 for i in range(10)}
    for r in known:
        i = min(int(r * 10), 9)  # the last bin includes 1.0
        bins[f"{i / 10:.1f}-{(i + 1) / 10:.1f}"] += 1
    return {
        "prompts": len(rates),
        "mean": math.fsum(known) / len(known) if known else None,
        "none_correct": sum(r == 0 for r in known),
        "all_correct": sum(r == 1 for r in known),
        "unjudged": len(rates) - len(known),
        "histogram": bins,
    }


# -- language ----------------------------------------------------------------------------------------
# The language a script most likely means: the first code of LANGUAGE_SCRIPTS with that script
# alone (Latin -> en, Cyrillic -> ru, Han -> zh, ...). Only used to guess a target language
# from the question; every Latin-script code counts the same words anyway.
_SCRIPT_LANGUAGE: dict[str, str] = {}
for _code, _scripts in LANGUAGE_SCRIPTS.items():
    if len(_scripts) == 1:
        _SCRIPT_LANGUAGE.setdefault(next(iter(_scripts)), _code)


def dominant_language(text: str) -> str | None:
    """The language code of the script most of `text`'s words are in; None without words.

    >>> dominant_language("芳芳买了一本书有99页"), dominant_language("How many pages?"), dominant_language("42")
    ('zh', 'en', None)
    """
    counts = count_words(text)
    if not counts:
        return None
    if counts.get("Hiragana") or counts.get("Katakana"):
        return "ja"  # kana only occur in Japanese, whose Han characters would otherwise say "zh"
    script = max(sorted(counts), key=lambda s: counts[s])
    return _SCRIPT_LANGUAGE.get(script)


def _prompt_text(record: dict[str, Any]) -> str:
    question = record.get("question")
    if isinstance(question, str) and question.strip():
        return question
    prompt = record.get("prompt")
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else ""
    return prompt if isinstance(prompt, str) else ""


def target_language(record: dict[str, Any], default: str = "auto") -> str | None:
    """The language a sample's chain of thought should be in, or None when it cannot be told.

    The record's own `language` field wins (as for the `language` reward); else `default`, a
    code, or "auto": the language of the question (the raw question, not the templated prompt,
    whose template may be in another language).
    """
    own = record.get("language")
    if own not in (None, ""):
        return normalize_language(str(own))
    if default != "auto":
        return normalize_language(default)
    return dominant_language(_prompt_text(record))


def mixed_language(text: str, language: str | None, min_share: float) -> bool:
    """Does the chain of thought of `text` have fewer than `min_share` of its words in `language`?

    A thought without words (`3 + 4 = 7`) mixes nothing and passes: unlike the `language`
    reward, which must not pay for an empty thought, a filter has nothing to object to.

    >>> mixed_language("<think>先算 3 + 4 = 7，所以答案是 7</think>", "zh", 0.9)
    False
    >>> mixed_language("<think>先算 total, then we subtract 再减</think>", "zh", 0.9)
    True
    """
    if language is None or min_share <= 0:
        return False
    cot = thought(text)
    # Counting words is the cost here; only a failing share needs the second count that tells
    # "mixed" from "no words at all".
    return language_share(cot, language) < min_share and bool(count_words(cot))


# -- text filters -------------------------------------------------------------------------------------
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_FENCE = re.compile(r"^[ \t]*(?:```|~~~)", re.MULTILINE)


def longest_paragraph(text: str) -> int:
    """Characters in the longest paragraph (paragraphs are separated by blank lines).

    >>> longest_paragraph("abc\\n\\nabcdef\\n  \\nab")
    6
    """
    return max((len(p.strip()) for p in _PARAGRAPH_BREAK.split(text)), default=0)


def has_code_block(text: str) -> bool:
    """A fenced Markdown code block (a line starting with ``` or ~~~), closed or not.

    >>> has_code_block("so\\n```python\\nprint(1)\\n```"), has_code_block("inline `x` only")
    (True, False)
    """
    return _FENCE.search(text) is not None


def is_code_sample(record: dict[str, Any]) -> bool:
    """A sample judged by running its program: its code blocks are the point, not noise."""
    rewards = record.get("rewards")
    return isinstance(rewards, dict) and "code" in rewards


def quality_reason(record: dict[str, Any], rules: Rules, language: str | None) -> str | None:
    """The first text rule a sample fails (truncation, length, language, paragraphs, code), or None."""
    text = completion_text(record.get("completion"))
    tokens = record.get("completion_tokens", 0)
    if rules.drop_truncated and record.get("finish_reason") == "length":
        return "truncated"
    if tokens < rules.min_tokens:
        return "too_short"
    if rules.max_tokens and tokens > rules.max_tokens:
        return "too_long"
    if mixed_language(text, language, rules.min_language_share):
        return "mixed_language"
    if rules.max_paragraph_chars and longest_paragraph(text) > rules.max_paragraph_chars:
        return "long_paragraph"
    drop_code = rules.code_blocks == "drop" or (rules.code_blocks == "auto" and not is_code_sample(record))
    if drop_code and has_code_block(text):
        return "code_block"
    return None


def judge_reason(record: dict[str, Any], rules: Rules, correct: bool | None) -> str | None:
    """Why a sample fails the keep policy's judgement (null score, wrong, low reward), or None."""
    reward = record.get("reward")
    if rules.keep == "correct":
        if correct is None:
            return "unjudged"
        if not correct:
            return "incorrect"
    elif reward is None:
        return "unjudged"
    if rules.min_reward is not None and (reward is None or reward < rules.min_reward):
        return "low_reward"
    return None


# -- duplicates -----------------------------------------------------------------------------------------
# Han and kana characters are one token each (no spaces between words); other letters and
# digits form tokens by runs, as words.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def shingles(text: str, size: int = SHINGLE) -> frozenset[tuple[str, ...]]:
    """The set of `size`-token windows of `text` (lower-cased); a shorter text is one shingle.

    >>> sorted(shingles("a b c", 2))
    [('a', 'b'), ('b', 'c')]
    """
    tokens = _TOKEN.findall(text.lower())
    if len(tokens) <= size:
        return frozenset({tuple(tokens)}) if tokens else frozenset()
    return frozenset(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a & b| / |a | b|; 0.0 for two empty sets (nothing in common to speak of)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def duplicates(texts: Sequence[str], near: float | None) -> list[str | None]:
    """For texts in order of preference: "duplicate"/"near_duplicate" of an earlier kept text, or None.

    Greedy: a text is compared with the texts kept before it only, so of a cluster of
    near-copies the best-ranked one stays. Pairwise, which is fine for a prompt's 10-30 samples.

    >>> duplicates(["x = 1 so y = 2", "x = 1  so y = 2", "x = 1 so y = 3", "a b"], near=None)
    [None, 'duplicate', None, None]
    """
    reasons: list[str | None] = []
    kept_exact: set[str] = set()
    kept_shingles: list[frozenset] = []
    for text in texts:
        normal = " ".join(text.split())
        if normal in kept_exact:
            reasons.append("duplicate")
            continue
        sh = shingles(text) if near is not None else frozenset()
        if near is not None and any(jaccard(sh, other) >= near for other in kept_shingles):
            reasons.append("near_duplicate")
            continue
        reasons.append(None)
        kept_exact.add(normal)
        kept_shingles.append(sh)
    return reasons


# -- the per-prompt selection -----------------------------------------------------------------------------
def rank(group: Sequence[dict[str, Any]]) -> list[int]:
    """Indexes of `group` best first: total reward descending (null last), then sample_index."""
    def key(i: int) -> tuple[float, int]:
        reward = group[i].get("reward")
        return (-reward if reward is not None else math.inf, group[i].get("sample_index", i))

    return sorted(range(len(group)), key=key)


def select_samples(
    group: Sequence[dict[str, Any]],
    rules: Rules,
    correct: Sequence[bool | None],
    languages: Sequence[str | None],
) -> list[str | None]:
    """One prompt's samples -> for each, None (kept) or the reason it is dropped.

    `correct[i]` is sample i's judgement (`is_correct`), `languages[i]` its target language.
    """
    n = len(group)
    reasons: list[str | None] = [None] * n
    prompt_reason = band_reason(pass_rate(correct), rules.pass_rate)
    if prompt_reason is not None:
        return [prompt_reason] * n
    for i, record in enumerate(group):
        reasons[i] = judge_reason(record, rules, correct[i]) or quality_reason(record, rules, languages[i])
        if reasons[i] is None and rules.reformat == "summary" and stated_answer(record, correct[i]) is None:
            reasons[i] = "no_answer"
    order = [i for i in rank(group) if reasons[i] is None]
    if rules.dedup:
        texts = [completion_text(group[i].get("completion")) for i in order]
        for i, why in zip(order, duplicates(texts, rules.near_duplicate)):
            reasons[i] = why
        order = [i for i in order if reasons[i] is None]
    limit = rules.best_n if rules.keep == "best" else len(order)
    cap = rules.max_per_prompt or len(order)
    for position, i in enumerate(order):
        if position >= limit:
            reasons[i] = "not_best"
        elif position >= cap:
            reasons[i] = "over_cap"
    return reasons


def prompt_record(record: dict[str, Any], rate: float | None) -> dict[str, Any]:
    """A sample record turned back into its prompt record, with the prompt's `pass_rate` added.

    Everything `sample` and `reward` added goes (so `sample` and `grpo` read it as a prompt
    file); everything the prompt had, task metadata included, stays.
    """
    added = set(SAMPLE_FIELDS) | set(SCORED_FIELDS) | {"reward_info"}
    return {**{k: v for k, v in record.items() if k not in added}, "pass_rate": rate}


# -- reformatting: R1's readable format ----------------------------------------------------------------------
def final_answer(text: str) -> str | None:
    r"""The stated final answer: the last `<answer>` content, else the last `\boxed{}`; None if neither.

    >>> final_answer("<think>..</think><answer> 7 </answer>"), final_answer(r"so \boxed{\frac{1}{2}}"), final_answer("7")
    ('7', '\\frac{1}{2}', None)
    """
    from r1cli.tasks import last_boxed

    span = answer_span(text)
    if span is not None and span.strip():
        return span.strip()
    boxed = last_boxed(text)
    return boxed if boxed else None


def stated_answer(record: dict[str, Any], correct: bool | None) -> str | None:
    """The final answer a sample states (`final_answer`); for a sample judged correct that puts
    it in no tag (a chat model answering in prose, "... so 38 + 2 is 40."), the gold answer,
    which the judge found it gave. None when neither is there.

    >>> stated_answer({"completion": "38 + 2 is 40.", "answer": "40"}, True), stated_answer({"completion": "40", "answer": "40"}, None)
    ('40', None)
    """
    answer = final_answer(completion_text(record.get("completion")))
    if answer is None and correct is True and isinstance(record.get("answer"), (str, int, float)) and str(record["answer"]).strip():
        answer = str(record["answer"]).strip()
    return answer


def split_thought(text: str) -> tuple[str, str, str]:
    """(style, reasoning, rest) of a completion.

    style "tags": `<think>…</think>` in the completion; "opened": only `</think>` (the chat
    template opened the block in the prompt); "none": no think block, and the reasoning is the
    text before the last `<answer>`. `rest` is what follows the reasoning (the answer part).
    """
    start = text.find("<think>")
    if start >= 0 or "</think>" in text:
        close = text.find("</think>", start + len("<think>") if start >= 0 else 0)
        rest = text[close + len("</think>"):] if close >= 0 else ""
        return ("tags" if start >= 0 else "opened"), thought(text), rest
    end = text.rfind("</answer>")
    begin = text.rfind("<answer>", 0, end) if end >= 0 else -1
    if begin >= 0:
        return "none", text[:begin], text[begin:]
    return "none", text, ""


_SUMMARY = {"en": "The final answer is {answer}.", "zh": "最终答案是 {answer}。"}
_CORRECTION = {
    "en": "Wait, that gives {answer}, which does not check out. Let me redo it.",
    "zh": "等等，这样算出来是 {answer}，验算不对。让我重新做一遍。",
}
_CORRECTION_NO_ANSWER = {
    "en": "Wait, this does not lead to a clear answer. Let me redo it.",
    "zh": "等等，这样得不出明确的答案。让我重新做一遍。",
}


def _show(answer: str) -> str:
    # LaTeX answers (\frac{1}{2}, x^2) read as math only between dollars.
    return f"${answer}$" if "$" not in answer and any(c in answer for c in "\\^_{") else answer


def _phrase(table: dict[str, str], language: str | None, **values: str) -> str:
    # Sentences exist in English and Chinese (the languages R1 reasons in); others get English.
    return table.get(language or "en", table["en"]).format(**values)


def summary_sentence(answer: str, language: str | None) -> str:
    """The summary that closes a reformatted target: states the final answer in the target language.

    >>> summary_sentence("7", "en"), summary_sentence(r"\\frac{1}{2}", "zh")
    ('The final answer is 7.', '最终答案是 $\\\\frac{1}{2}$。')
    """
    return _phrase(_SUMMARY, language, answer=_show(answer))


def correction_sentence(wrong_answer: str | None, language: str | None) -> str:
    """The sentence between a wrong attempt and a correct one in a journey trace."""
    if wrong_answer is None:
        return _phrase(_CORRECTION_NO_ANSWER, language)
    return _phrase(_CORRECTION, language, answer=_show(wrong_answer))


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*|\n+")
_CONCLUSION_CHARS = 240  # a longer "sentence" is a paragraph: not a summary


def conclusion(reasoning: str, answer: str) -> str | None:
    """The reasoning's concluding sentence: the last one that states the answer (None when no
    short sentence does, or when the reasoning is that one sentence: a summary would repeat it).
    A summary condensed from the reasoning itself, without a model call.

    >>> conclusion("Add the tens: 30 + 40 = 70. Then the ones: 3 + 4 = 7. So the total is 77", "77")
    'So the total is 77.'
    >>> conclusion("I am not sure. It might be 7.", "77") is None, conclusion("3 + 4 = 7", "7") is None
    (True, True)
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(reasoning) if s and s.strip()]
    if len(sentences) < 2:
        return None
    found = next((s for s in reversed(sentences) if answer in s and len(s) <= _CONCLUSION_CHARS), None)
    if found is None or found[-1] in ".!?。！？":
        return found
    return found + ("。" if re.search(r"[\u4e00-\u9fff]", found) else ".")


def _readable(style: str, reasoning: str, answer: str, language: str | None) -> str:
    # Under a template that opened <think> in the prompt, the target must not open it again.
    opener = "" if style == "opened" else "<think>\n"
    concluded = conclusion(reasoning, answer)
    summary = f"{concluded} {summary_sentence(answer, language)}" if concluded else summary_sentence(answer, language)
    return f"{opener}{reasoning.strip()}\n</think>\n\n{summary}\n\n<answer>{answer}</answer>"


def readable(text: str, language: str | None, answer: str | None = None) -> str | None:
    """R1's readable format: the reasoning in a think block, then a short summary with the answer.

        <think>
        {reasoning}
        </think>

        {summary: the reasoning's concluding sentence, when one states the answer, then the
         answer sentence, e.g. "So the total is 7. The final answer is 7."}

        <answer>{answer}</answer>

    R1's cold-start summaries restate what the reasoning concluded; this one is condensed from
    the reasoning itself (its last sentence that states the answer), deterministically, with no
    model call. The answer tag stays so every reward that reads `<answer>` still judges the
    model trained on it. `answer` is the one to state (`stated_answer`), by default the
    completion's own final answer; None when there is none.
    """
    answer = answer or final_answer(text)
    if answer is None:
        return None
    style, reasoning, _ = split_thought(text)
    return _readable(style, reasoning, answer, language)


def journey(wrong: str, correct: str, language: str | None, *, summary: bool = False, answer: str | None = None) -> str:
    """A journey-learning trace: the wrong attempt's reasoning, a correction, the correct attempt.

        <think>
        {wrong reasoning}

        Wait, that gives {wrong answer}, which does not check out. Let me redo it.

        {correct reasoning}
        </think>
        {the correct completion's answer part, e.g. <answer>7</answer>}

    The correct completion's layout is kept (no `<think>` opener when the template opened it,
    no think block when it had none); with `summary`, the ending is `readable`'s summary instead.
    """
    _, wrong_reasoning, _ = split_thought(wrong)
    style, correct_reasoning, rest = split_thought(correct)
    body = f"{wrong_reasoning.strip()}\n\n{correction_sentence(final_answer(wrong), language)}\n\n{correct_reasoning.strip()}"
    answer = answer or final_answer(correct)
    if summary and answer is not None:
        return _readable(style, body, answer, language)
    if style == "none":
        return f"{body}\n{rest.strip()}".rstrip()
    opener = "" if style == "opened" else "<think>\n"
    return f"{opener}{body}\n</think>\n{rest.strip()}".rstrip()


def pick_pair(
    wrong: Sequence[dict[str, Any]], correct: Sequence[dict[str, Any]], *, seed: int, key: str,
    min_tokens: int = 0, max_tokens: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """One (wrong, correct) pair, chosen at random but reproducibly from `seed` and the prompt `key`.

    Only pairs whose two completions together have between `min_tokens` and `max_tokens`
    (0: no bound) tokens qualify: the trace is about as long as both. None when none does.
    """
    pairs = [(w, c) for w in wrong for c in correct]
    # A string seed is hashed with SHA-512 by `random`, so the choice is the same in every
    # process and Python version (unlike `hash()`), and differs from prompt to prompt.
    random.Random(f"{seed}:{key}").shuffle(pairs)
    for w, c in pairs:
        tokens = w.get("completion_tokens", 0) + c.get("completion_tokens", 0)
        if tokens >= min_tokens and (not max_tokens or tokens <= max_tokens):
            return w, c
    return None


def select_journey(
    group: Sequence[dict[str, Any]],
    rules: Rules,
    correct: Sequence[bool | None],
    languages: Sequence[str | None],
    *,
    seed: int,
) -> tuple[dict[str, Any] | None, str | None]:
    """One prompt -> (its journey record, None) or (None, the reason it gives none).

    The record is the correct sample's, grown by `target` (the trace) and
    `journey: {"wrong": sample_index, "correct": sample_index}`. Both attempts must pass the
    text filters and the correct one `--min-reward`; the token bounds apply to the pair.
    """
    reason = band_reason(pass_rate(correct), rules.pass_rate)
    if reason is not None:
        return None, reason
    if all(c is None for c in correct):
        return None, "unjudged"
    if not any(c is False for c in correct):
        return None, "all_correct"
    if not any(c is True for c in correct):
        return None, "none_correct"
    text_rules = dataclasses.replace(rules, min_tokens=0, max_tokens=0)
    rights: list[int] = []
    wrongs: list[int] = []
    for i, record in enumerate(group):
        if correct[i] is None or quality_reason(record, text_rules, languages[i]) is not None:
            continue
        if not correct[i]:
            wrongs.append(i)
        elif judge_reason(record, rules, True) is None and (
            rules.reformat != "summary" or stated_answer(record, True) is not None
        ):
            rights.append(i)
    if not rights:
        return None, "no_clean_correct"
    if not wrongs:
        return None, "no_clean_wrong"
    # Pick among indexes (records may compare equal), then map back.
    tagged = [{"completion_tokens": group[i].get("completion_tokens", 0), "i": i} for i in range(len(group))]
    pair = pick_pair([tagged[i] for i in wrongs], [tagged[i] for i in rights], seed=seed, key=str(group[0].get("id")),
                     min_tokens=rules.min_tokens, max_tokens=rules.max_tokens)
    if pair is None:
        longest = max(group[w].get("completion_tokens", 0) + group[c].get("completion_tokens", 0) for w in wrongs for c in rights)
        return None, "too_short" if longest < rules.min_tokens else "too_long"
    w, c = group[pair[0]["i"]], group[pair[1]["i"]]
    target = journey(completion_text(w.get("completion")), completion_text(c.get("completion")), languages[pair[1]["i"]],
                     summary=rules.reformat == "summary", answer=stated_answer(c, True))
    return {**c, "sft_target": target, "journey": {"wrong": w.get("sample_index"), "correct": c.get("sample_index")}}, None
