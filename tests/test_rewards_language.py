"""The language-consistency reward, on made-up strings and on real Chinese and English data."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from r1cli.errors import R1Error
from r1cli.rewards.language import count_words, language_consistency, language_share, normalize_language
from r1cli.rewards.tags import thought

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def rows(*parts: str) -> list[dict]:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's ../shared/data is not beside this checkout)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def think(text: str) -> str:
    return f"<think>{text}</think><answer>1</answer>"


CASES = [
    # (completion, target, expected share)
    (think("先算总数，再减去用掉的部分。"), "zh", 1.0),
    (think("First add them, then subtract what was used."), "en", 1.0),
    (think("First add them, then subtract what was used."), "zh", 0.0),
    (think("先算 total 再减"), "zh", 4 / 5),  # 4 Han characters, 1 English word
    (think("设 $x^2 + 3x = 10$，则 \\frac{a}{b} 中 x 为 2"), "zh", 1.0),  # math and variables are neutral
    (think("The code ```python\nprint('hello world')\n``` prints it"), "en", 1.0),
    ("<think>中文推理过程</think><answer>The answer is 5</answer>", "zh", 1.0),  # only the thought counts
    ("没有标签的中文", "zh", 1.0),  # no think tag: the whole completion
    ("中文推理</think><answer>ok</answer>", "zh", 1.0),  # template opened the block
    ("<think>中文推理 but truncated", "zh", 4 / 6),  # unclosed: everything after <think>
    (think("Сначала сложим числа"), "ru", 1.0),
    (think("먼저 숫자를 더합니다"), "ko", 1.0),
    (think("まず数字を足します"), "ja", 1.0),
    (think("Ça fait déjà vingt-deux élèves"), "fr", 1.0),  # accents stay inside words
    (think(""), "en", 0.0),  # empty thought: not rewarded
    (think("2 + 2 = 4 !!! ... 42"), "en", 0.0),  # no words at all
    ("", "zh", 0.0),
]


def test_language_table():
    out = [language_consistency([c], target_language=t)[0] for c, t, _ in CASES]
    assert out == pytest.approx([e for _, _, e in CASES])


def test_language_column_overrides_target_and_chat_messages():
    completions = [[{"role": "assistant", "content": think("先算")}], think("add"), think("add")]
    out = language_consistency(completions, language=["zh-CN", "en_US", None], target_language="zh", prompts=["p"] * 3)
    assert out == [1.0, 1.0, 0.0]


def test_unknown_language_is_an_error():
    with pytest.raises(R1Error, match="unknown language 'klingon'"):
        language_consistency([think("x")], target_language="klingon")
    with pytest.raises(R1Error, match="unknown language"):
        language_consistency([think("x")], language=["xx"])


@pytest.mark.parametrize("code, expected", [("zh", "zh"), ("zh-CN", "zh"), ("zh_Hans", "zh"), ("EN-us", "en"), ("Chinese", "zh")])
def test_normalize_language(code, expected):
    assert normalize_language(code) == expected


def test_count_words_units():
    assert count_words("hello world") == {"Latin": 2}
    assert count_words("你好世界") == {"Han": 4}
    assert count_words("x y z a I") == {}  # one-letter Latin words are neutral
    assert count_words("don't") == {"Latin": 1}  # "t" alone is neutral


def test_thought_extraction():
    assert thought("<think>a</think>b") == "a"
    assert thought("a</think>b") == "a"
    assert thought("<think>a") == "a"
    assert thought("plain") == "plain"


def test_long_text_is_fast_enough():
    text = think("数学" * 200_000 + " word" * 100_000)
    t0 = time.monotonic()
    share = language_consistency([text], target_language="zh")[0]
    assert share == pytest.approx(400_000 / 500_000)
    # Degenerate loops of unclosed math/code openers stay linear.
    for opener in ("\\[ ", "\\( ", "$$ ", "``` ", "$\n"):
        language_consistency([think(opener * 200_000)], target_language="en")
    assert time.monotonic() - t0 < 10.0


# --- real data --------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_real_chinese_questions_score_zh():
    data = rows("cmath", "test.jsonl")
    pure = [r["question"] for r in data if not re.search(r"[A-Za-z]", r["question"])]
    with_units = [r["question"] for r in data if re.search(r"[A-Za-z]{2,}", r["question"])]
    assert len(pure) > 500 and with_units
    assert language_consistency([think(q) for q in pure], target_language="zh") == [1.0] * len(pure)
    assert language_consistency([think(q) for q in pure[:50]], target_language="en") == [0.0] * 50
    # Units such as "MB" and "cm" are Latin-script words: a little below 1.
    for share in language_consistency([think(q) for q in with_units], target_language="zh"):
        assert 0.8 < share < 1.0


@pytest.mark.shared_data
def test_real_english_questions_score_en():
    questions = [r["question"] for r in rows("gsm8k", "test.jsonl")[:200]]
    shares = language_consistency([think(q) for q in questions], target_language="en")
    assert min(shares) >= 0.99
    assert language_consistency([think(q) for q in questions[:50]], target_language="zh") == [0.0] * 50


@pytest.mark.shared_data
def test_real_mixed_texts_score_in_between():
    zh = [r["question"] for r in rows("cmath", "test.jsonl")[:50]]
    en = [r["question"] for r in rows("gsm8k", "test.jsonl")[:50]]
    mixed = [think(a + "\n" + b) for a, b in zip(zh, en)]
    for text, share_zh, share_en in zip(mixed, language_consistency(mixed, target_language="zh"), language_consistency(mixed, target_language="en")):
        assert 0.05 < share_zh < 0.95, text
        assert share_zh + share_en == pytest.approx(1.0)
    # More Chinese, higher share.
    assert language_share(zh[0] + zh[1] + en[0], "zh") > language_share(zh[0] + en[0], "zh") > language_share(zh[0] + en[0] + en[1], "zh")
