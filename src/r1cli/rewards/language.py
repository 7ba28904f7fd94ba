"""R1's language-consistency reward: the share of the chain of thought written in the target language.

    r1cli reward samples.jsonl --reward math --reward language=0.1 -o scored.jsonl
    r1cli reward samples.jsonl --reward language -o - | jq '.rewards.language'

DeepSeek-R1 adds it in its second RL stage to stop the model mixing languages in its
reasoning ("the proportion of target language words in the CoT"). Words are told apart by
script, with `unicodedata` only (no language-identification model): that separates Chinese
from English, Russian or Korean, which is the mixing R1 suffers from, but not French from
English (both Latin script; all Latin-script codes mean "Latin script").
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

from r1cli.errors import R1Error
from r1cli.records import completion_text
from r1cli.rewards import register
from r1cli.rewards.tags import thought

# Scripts written without spaces between words: each character counts as one word (a Chinese
# word is one to two characters, so this is close enough for a share).
_PER_CHARACTER = frozenset({"Han", "Hiragana", "Katakana"})
# One-letter Latin or Greek "words" outside LaTeX are nearly always variables or labels (x, n,
# A, π), which a Chinese chain of thought uses as much as an English one; they are neutral.
# The price is that English "a" and "I" are not counted, which barely moves a share.
_NEUTRAL_SINGLE = frozenset({"Latin", "Greek"})

_LATIN = {"Latin"}
_CYRILLIC = {"Cyrillic"}
_ARABIC = {"Arabic"}
_DEVANAGARI = {"Devanagari"}
LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    **{code: frozenset(_LATIN) for code in (
        "en", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "nb", "fi", "pl", "cs", "sk", "sl", "hr",
        "ro", "hu", "tr", "id", "ms", "vi", "tl", "sw", "ca", "eu", "gl", "et", "lv", "lt", "af", "sq", "is",
    )},
    **{code: frozenset(_CYRILLIC) for code in ("ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "mn", "tg")},
    **{code: frozenset(_ARABIC) for code in ("ar", "fa", "ur", "ps")},
    **{code: frozenset(_DEVANAGARI) for code in ("hi", "mr", "ne", "sa")},
    "zh": frozenset({"Han"}),
    "ja": frozenset({"Han", "Hiragana", "Katakana"}),
    "ko": frozenset({"Hangul"}),
    "el": frozenset({"Greek"}),
    "he": frozenset({"Hebrew"}),
    "th": frozenset({"Thai"}),
    "bn": frozenset({"Bengali"}),
    "ta": frozenset({"Tamil"}),
    "te": frozenset({"Telugu"}),
    "ka": frozenset({"Georgian"}),
    "hy": frozenset({"Armenian"}),
    "am": frozenset({"Ethiopic"}),
}
_ALIASES = {
    "english": "en", "chinese": "zh", "mandarin": "zh", "japanese": "ja", "korean": "ko", "russian": "ru",
    "french": "fr", "german": "de", "spanish": "es", "arabic": "ar", "hindi": "hi", "greek": "el",
}

# Unicode character names start with the script, under a few other spellings.
_NAME_PREFIXES = {
    "CJK": "Han", "IDEOGRAPHIC": "Han", "KATAKANA-HIRAGANA": "Katakana", "LATIN": "Latin", "CYRILLIC": "Cyrillic",
    "GREEK": "Greek", "ARABIC": "Arabic", "HEBREW": "Hebrew", "HIRAGANA": "Hiragana", "KATAKANA": "Katakana",
    "HANGUL": "Hangul", "DEVANAGARI": "Devanagari", "THAI": "Thai", "BENGALI": "Bengali", "TAMIL": "Tamil",
    "TELUGU": "Telugu", "GEORGIAN": "Georgian", "ARMENIAN": "Armenian", "ETHIOPIC": "Ethiopic",
}

# Mathematics and code are neutral: what matters is the language the model reasons in, and
# `\frac`, `x^2` or `print(i)` are no language. Spans are paired in one pass over these marks
# (a regex with lazy `.*?` would rescan the rest of the text for every unclosed opener, which
# is quadratic on a degenerate "\\[ \\[ \\[ ..." loop).
_MARKS = re.compile(r"```|`|(?<!\\)\$\$|(?<!\\)\$|\\\[|\\\]|\\\(|\\\)|\\[A-Za-z]+|</?(?:think|answer)>")
_CLOSERS = {"```": "```", "`": "`", "$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
_ONE_LINE = {"`", "$"}  # inline code and inline math do not span lines


def strip_neutral(text: str) -> str:
    """`text` with code, LaTeX math, LaTeX commands and think/answer tags blanked out.

    >>> strip_neutral(r"so $x^2$ is \\frac{a}{b} and `len(s)`")
    'so   is  {a}{b} and  '
    """
    marks = list(_MARKS.finditer(text))
    positions: dict[str, list[int]] = {}
    for i, m in enumerate(marks):
        positions.setdefault(m.group(), []).append(i)
    pieces, last, i = [], 0, 0
    while i < len(marks):
        m = marks[i]
        closer = _CLOSERS.get(m.group())
        j = None
        if closer is not None:
            candidates = positions.get(closer, [])
            k = bisect.bisect_right(candidates, i)
            if k < len(candidates):
                j = candidates[k]
                if m.group() in _ONE_LINE and "\n" in text[m.end() : marks[j].start()]:
                    j = None
        if closer is not None and j is None:
            i += 1  # an unpaired opener is just a character
            continue
        end = marks[j].end() if j is not None else m.end()
        pieces.append(text[last : m.start()])
        pieces.append(" ")
        last = end
        i = (j if j is not None else i) + 1
    pieces.append(text[last:])
    return "".join(pieces)


@functools.lru_cache(maxsize=65536)
def script_of(ch: str) -> str | None:
    """The script of a letter (`"Han"`, `"Latin"`, ...), None for anything without a language.

    >>> [script_of(c) for c in "a中к가7"]
    ['Latin', 'Han', 'Cyrillic', 'Hangul', None]
    """
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    for width in ("FULLWIDTH ", "HALFWIDTH "):
        if name.startswith(width):
            name = name[len(width):]
    return _NAME_PREFIXES.get(name.split(" ", 1)[0])


def count_words(text: str) -> Counter[str]:
    """Words per script: a run of letters of one script is a word, except Han and kana characters.

    >>> sorted(count_words("设 x 为 the answer, 即 42").items())
    [('Han', 3), ('Latin', 2)]
    """
    counts: Counter[str] = Counter()
    run_script: str | None = None
    run_length = 0

    def close_run() -> None:
        if run_script is not None and not (run_length == 1 and run_script in _NEUTRAL_SINGLE):
            counts[run_script] += 1

    for ch in strip_neutral(text):
        script = script_of(ch)
        if script is None:
            if run_script is not None and unicodedata.category(ch).startswith("M"):
                continue  # accents and vowel signs belong to the word they are on
            close_run()
            run_script, run_length = None, 0
        elif script in _PER_CHARACTER:
            close_run()
            run_script, run_length = None, 0
            counts[script] += 1
        elif script == run_script:
            run_length += 1
        else:
            close_run()
            run_script, run_length = script, 1
    close_run()
    return counts


def normalize_language(code: str) -> str:
    """`"zh-CN"`, `"zh_Hans"`, `"Chinese"` -> `"zh"`; an unknown language is an error."""
    key = str(code).strip().lower()
    key = _ALIASES.get(key, re.split(r"[-_]", key, maxsplit=1)[0])
    if key not in LANGUAGE_SCRIPTS:
        known = ", ".join(sorted(LANGUAGE_SCRIPTS))
        raise R1Error(f"reward 'language': unknown language {code!r}; known codes: {known}")
    return key


def language_share(text: str, language: str) -> float:
    """Share of the words of `text` written in `language`'s script(s); 0.0 with no words at all."""
    scripts = LANGUAGE_SCRIPTS[normalize_language(language)]
    counts = count_words(text)
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return sum(n for script, n in counts.items() if script in scripts) / total


@register("language")
def language_consistency(
    completions: Sequence[Any],
    language: Sequence[Any] | None = None,
    *,
    target_language: str = "en",
    **kwargs: Any,
) -> list[float | None]:
    """Share of chain-of-thought words in the target language (R1's language-consistency reward).

    The chain of thought is the `<think>` content, or the whole completion when there is no
    think tag. The target is the row's `language` column (a code like "zh" or "en-US") when
    present, else `target_language` (not `target`: that is Countdown's column, and a column
    and a parameter of one name would collide in TRL's keyword arguments). Letters are classified by Unicode script: each Han or kana
    character is a word, a run of letters of another script is a word; digits, punctuation,
    LaTeX math, code and one-letter Latin/Greek variables are neutral. A thought with no words
    scores 0.0, not 1.0: an empty or all-symbol thought is not a thought in the target language,
    and rewarding it would teach the model to stop thinking.

    >>> language_consistency(["<think>先算 3 + 4 = 7</think><answer>7</answer>", "<think>so 7</think>"], target_language="zh")
    [1.0, 0.0]
    """
    normalize_language(target_language)  # fail early on a bad parameter, even for rows that bring their own
    languages = list(language) if language is not None else [None] * len(completions)
    scores: list[float | None] = []
    for completion, row_language in zip(completions, languages):
        lang = target_language if row_language is None or row_language == "" else str(row_language)
        scores.append(language_share(thought(completion_text(completion)), lang))
    return scores
