"""Built-in rewards through the registry, and the format, countdown and length rewards, table-driven.

The accuracy rewards are in test_rewards_accuracy.py, the language reward in
test_rewards_language.py, real MATH-500 data in test_math500.py.
"""

from __future__ import annotations

import doctest
import importlib
import math
import time

import pytest

from r1cli import rewards
from r1cli.errors import R1Error
from r1cli.rewards import RewardSpec, Reward, describe, lookup, names, parameters, resolve, score
from r1cli.rewards.countdown import MAX_EQUATION_CHARS, countdown, parse_equation
from r1cli.rewards.fmt import tag_count, think_answer_format
from r1cli.rewards.length import cosine, overlong, repetition, words

MINE = ["cosine", "countdown", "format", "language", "math", "numeric", "overlong", "repetition", "tags"]
MODULES = ["r1cli.pool", "r1cli.rewards.accuracy", "r1cli.rewards.countdown", "r1cli.rewards.fmt", "r1cli.rewards.language",
           "r1cli.rewards.length", "r1cli.rewards.tags"]


def chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


# --- registry -------------------------------------------------------------------------------


def test_builtins_are_registered_with_one_line_descriptions():
    assert set(MINE) <= set(names())
    for name in MINE:
        line = describe(name)
        assert line and "\n" not in line and len(line) <= 110, (name, line)


def test_parameters():
    assert parameters(lookup("math")) == {"timeout": 5.0}
    assert parameters(lookup("numeric")) == {}
    assert parameters(lookup("countdown")) == {"format_score": 0.1, "rule": "strict"}
    assert parameters(lookup("language")) == {"target_language": "en"}
    assert parameters(lookup("overlong")) == {"max_length": 1024, "cache": 256}
    assert parameters(lookup("repetition")) == {"ngram": 3, "max_penalty": -1.0}
    assert parameters(lookup("cosine")) == {
        "accuracy": "math", "max_length": 1024, "min_value_correct": 0.5, "max_value_correct": 1.0,
        "min_value_wrong": -1.0, "max_value_wrong": -0.5,
    }


def test_declared_columns():
    assert rewards.needs(lookup("math")) == ("answer",)
    assert rewards.needs(lookup("numeric")) == ("answer",)
    assert rewards.needs(lookup("countdown")) == ("numbers", "target")
    assert rewards.needs(lookup("format")) == ()


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0


def test_offline_score_matches_the_records():
    records = [
        {"id": "a", "completion": "<think>7*2=14</think><answer>14</answer>", "answer": "14", "completion_tokens": 100},
        {"id": "b", "completion": "<think>hm</think><answer>15</answer>", "answer": "14", "completion_tokens": 1024},
        {"id": "c", "completion": "no format at all", "answer": "14", "completion_tokens": 10},
    ]
    specs = [RewardSpec("math"), RewardSpec("format", 0.5), RewardSpec("overlong", 1.0, {"max_length": 1024, "cache": 256}),
             RewardSpec("cosine", 1.0, {"accuracy": "numeric"}), RewardSpec("tags", 0.1), RewardSpec("repetition", 0.1),
             RewardSpec("language", 0.1)]
    rows = score(resolve(specs), records)
    assert [r["rewards"]["math"] for r in rows] == [1.0, 0.0, 0.0]
    assert [r["rewards"]["format"] for r in rows] == [1.0, 1.0, 0.0]
    assert [r["rewards"]["overlong"] for r in rows] == [0.0, -1.0, 0.0]
    assert rows[0]["rewards"]["cosine"] > 0.9 and rows[1]["rewards"]["cosine"] == pytest.approx(-0.5)
    for r in rows:
        assert all(isinstance(v, float) and math.isfinite(v) for v in r["rewards"].values())


def test_parameters_do_not_collide_with_known_columns():
    # TRL passes every dataset column as a keyword argument, next to the bound parameters.
    columns = {"id", "task", "prompt", "question", "answer", "numbers", "target", "language", "level", "subject", "solution",
               "tests", "sample_index", "finish_reason", "prompt_tokens", "completion_tokens", "rewards", "reward"}
    for name in MINE:
        assert not set(parameters(lookup(name))) & columns, name


def test_every_reward_takes_trl_keywords_and_chat_messages():
    kwargs = dict(prompts=["q"] * 2, completion_ids=[[1] * 5, [2] * 7], trainer_state=None, log_extra=lambda *a: None,
                  log_metric=lambda *a: None, answer=["4", "4"], numbers=[[2, 2], [2, 2]], target=[4, 4])
    completions = [chat("<think>2 and 2</think><answer>2+2</answer>"), chat("<think>so</think><answer>4</answer>")]
    for name in MINE:
        out = Reward(RewardSpec(name))(completions, **kwargs)
        assert len(out) == 2, name


# --- format / tags --------------------------------------------------------------------------

FORMAT_CASES = [
    ("<think>reasoning</think><answer>4</answer>", 1.0, 1.0),
    ("  <think>\nreasoning\n</think>\n\n<answer>\n4\n</answer>\n", 1.0, 1.0),
    ("<think>reasoning</think><answer></answer>", 1.0, 1.0),  # the answer's content is the accuracy reward's business
    ("<think> \n </think><answer>4</answer>", 0.0, 1.0),  # empty thought
    ("<think>r</think>text between<answer>4</answer>", 0.0, 1.0),
    ("preamble <think>r</think><answer>4</answer>", 0.0, 1.0),
    ("<think>r</think><answer>4</answer> trailing", 0.0, 1.0),
    ("<answer>4</answer><think>r</think>", 0.0, 1.0),  # wrong order
    ("<think>r</think><think>r</think><answer>4</answer>", 0.0, 0.5),
    ("<think>r <answer>1</answer></think><answer>4</answer>", 0.0, 0.5),
    ("<think>r</think>", 0.0, 0.5),
    ("r</think><answer>4</answer>", 0.0, 0.75),  # template already opened the think block
    ("<think>r</think><answer>4", 0.0, 0.75),
    ("4", 0.0, 0.0),
    ("", 0.0, 0.0),
    ("<think>" * 100_000, 0.0, 0.0),
]


def test_format_and_tags_table():
    texts = [t for t, _, _ in FORMAT_CASES]
    assert think_answer_format(texts) == [f for _, f, _ in FORMAT_CASES]
    assert tag_count(texts) == [t for _, _, t in FORMAT_CASES]


def test_format_chat_messages():
    assert think_answer_format([chat("<think>r</think><answer>4</answer>")]) == [1.0]
    assert tag_count([chat("<think>r</think>")]) == [0.5]


def test_format_long_input_is_fast():
    t0 = time.monotonic()
    think_answer_format(["<think>" + "a" * 1_000_000 + "</think><answer>" + "<" * 100_000 + "</answer>"])
    assert time.monotonic() - t0 < 2.0


# --- countdown ------------------------------------------------------------------------------

N, T = [2, 6, 6], 24
COUNTDOWN_CASES = [
    ("<answer>(6 - 2) * 6</answer>", 1.0, "correct"),
    ("<think>try</think>\n<answer>\n6 * (6 - 2)\n</answer>", 1.0, "correct, whitespace"),
    ("<answer>(6 − 2) × 6</answer>", 1.0, "unicode operators"),
    ("<answer>(6 - 2) * 6 = 24</answer>", 1.0, "stated result"),
    ("<answer>6 / (2 / 8) </answer>", 0.1, "wrong numbers (8 not given)"),
    ("<answer>6 * 6 - 2</answer>", 0.1, "wrong value"),
    ("<answer>(6 - 2) * 6 = 25</answer>", 0.1, "stated result differs"),
    ("<answer>6 * 4</answer>", 0.1, "numbers not used"),
    ("<answer>(6 - 2) * 6 * 2 / 2</answer>", 0.1, "a number used twice"),
    ("<answer>2 / (6 - 6)</answer>", 0.1, "division by zero"),
    ("<answer>-(2 - 6) * 6</answer>", 1.0, "unary minus"),
    ("<answer>(6 - 2) ** 6</answer>", 0.0, "power is not allowed"),
    ("<answer>9^9^9^9</answer>", 0.0, "caret is not allowed"),
    ("<answer>6.0 * (6 - 2)</answer>", 0.0, "decimals are not allowed"),
    ("<answer>__import__('os').system('true')</answer>", 0.0, "code"),
    ("<answer>(6 - 2) * 6)</answer>", 0.0, "unbalanced"),
    ("<answer>24</answer>", 0.1, "just the target: well-formed, numbers unused"),
    ("<answer>I cannot find one</answer>", 0.0, "words"),
    ("<answer></answer>", 0.0, "empty"),
    ("(6 - 2) * 6", 0.0, "no answer tag"),
    ("", 0.0, "empty completion"),
    ("<answer>" + "(" * 300 + "6" + ")" * 300 + "</answer>", 0.0, "deep nesting (over the length cap)"),
    ("<answer>" + "(" * 150 + "6-2" + ")" * 150 + "*6</answer>", 1.0, "redundant parentheses are fine"),
    ("<answer>" + "(" * 250 + "6-2" + ")" * 250 + "*6</answer>", 0.0, "nesting beyond Python's parser (200 levels)"),
    ("<answer>" + "9" * 1_000_000 + "</answer>", 0.0, "a million digits"),
    ("<answer>" + "+".join(["6"] * 200) + "</answer>", 0.1, "long but well-formed"),
]


def test_countdown_table():
    texts = [t for t, _, _ in COUNTDOWN_CASES]
    t0 = time.monotonic()
    scores = countdown(texts, numbers=[N] * len(texts), target=[T] * len(texts))
    assert time.monotonic() - t0 < 2.0
    failures = [(why, s, want) for (_, want, why), s in zip(COUNTDOWN_CASES, scores) if s != want]
    assert not failures


def test_countdown_multiset_and_types():
    # numbers and target may arrive as strings or floats from a CSV; a duplicate must be used twice
    assert countdown(["<answer>3 + 3 + 4</answer>"], numbers=[["3", 3.0, 4]], target=["10"]) == [1.0]
    assert countdown(["<answer>3 + 4</answer>"], numbers=[[3, 3, 4]], target=[7]) == [0.1]
    assert countdown(["<answer>3 + 4</answer>"], numbers=[None], target=[7]) == [None]
    assert countdown(["<answer>3 + 4</answer>"], numbers=[[3, "x"]], target=[7]) == [None]
    assert countdown(["<answer>3 + 4</answer>"]) == [None]


def test_countdown_format_score_parameter():
    out = Reward(RewardSpec("countdown", params={"format_score": 0.0}))(["<answer>6*6-2</answer>"], numbers=[N], target=[T])
    assert out == [0.0]
    with pytest.raises(R1Error, match="format_score"):
        countdown(["x"], numbers=[N], target=[T], format_score="high")


def test_parse_equation_rejects_long_input():
    with pytest.raises(ValueError):
        parse_equation("1+" * MAX_EQUATION_CHARS + "1")


# --- length rewards --------------------------------------------------------------------------


def test_overlong_table():
    lengths = [0, 768, 769, 832, 896, 1024, 1025, 10_000]
    out = overlong(["x"] * len(lengths), completion_ids=[[0] * n for n in lengths])
    assert out == pytest.approx([0.0, 0.0, -1 / 256, -0.25, -0.5, -1.0, -1.0, -1.0])


def test_overlong_reads_completion_tokens_offline():
    assert overlong(["x", "y"], completion_tokens=[100, 2000], max_length=1000, cache=100) == [0.0, -1.0]
    assert overlong(["x"] * 3, completion_tokens=[950, 1000, 1001], max_length=1000, cache=0) == [0.0, 0.0, -1.0]  # a hard limit


def test_length_rewards_need_token_counts():
    for fn in (overlong, cosine):
        with pytest.raises(R1Error, match="token counts"):
            fn(["x"], answer=["1"])
        with pytest.raises(R1Error, match="lack"):
            fn(["x"], completion_tokens=[None], answer=["1"])


@pytest.mark.parametrize("params", [{"max_length": 0}, {"cache": -1}, {"cache": 2000}, {"max_length": "big"}])
def test_overlong_parameters_validated(params):
    with pytest.raises(R1Error):
        overlong(["x"], completion_ids=[[1]], **params)


def test_cosine_shape():
    lengths = [0, 256, 512, 1024, 4096]
    ids = [[0] * n for n in lengths]
    right = cosine(["<answer>4</answer>"] * 5, completion_ids=ids, answer=["4"] * 5)
    wrong = cosine(["<answer>5</answer>"] * 5, completion_ids=ids, answer=["4"] * 5)
    assert right[0] == pytest.approx(1.0) and right[2] == pytest.approx(0.75) and right[3] == pytest.approx(0.5)
    assert right[4] == pytest.approx(0.5)  # clipped beyond max_length
    assert wrong[0] == pytest.approx(-1.0) and wrong[2] == pytest.approx(-0.75) and wrong[3] == pytest.approx(-0.5)
    assert right == sorted(right, reverse=True) and wrong == sorted(wrong)


def test_cosine_passes_none_through_and_uses_the_named_accuracy():
    assert cosine(["<answer>4</answer>"], completion_ids=[[0]], answer=[None]) == [None]
    out = cosine(["<answer>(6-2)*6</answer>"], completion_tokens=[0], numbers=[N], target=[T], accuracy="countdown")
    assert out == [pytest.approx(1.0)]
    with pytest.raises(R1Error, match="another reward"):
        cosine(["x"], completion_ids=[[0]], accuracy="cosine")
    with pytest.raises(R1Error, match="unknown reward"):
        cosine(["x"], completion_ids=[[0]], accuracy="nope")


REPETITION_CASES = [
    ("the cat sat on the mat", 0.0),
    ("go go go go go", -2 / 3),
    ("Wait wait WAIT wait", -0.5),  # lowercase: 2 trigrams, both "wait wait wait"
    ("two words", 0.0),  # fewer words than n
    ("", 0.0),
    ("我们再算一遍我们再算一遍", -(1 - 6 / 10)),  # characters as tokens: 10 trigrams, 6 distinct
    ("1" * 1_000_000, 0.0),  # one token
]


def test_repetition_table():
    out = repetition([t for t, _ in REPETITION_CASES])
    assert out == pytest.approx([v for _, v in REPETITION_CASES])
    assert repetition([chat("go go go go go")], ngram=1, max_penalty=-0.5) == [pytest.approx(-0.4)]


def test_repetition_parameters_validated():
    with pytest.raises(R1Error):
        repetition(["x"], ngram=0)
    with pytest.raises(R1Error):
        repetition(["x"], max_penalty=0.5)


def test_words_split_unspaced_scripts():
    assert words("Hello, World! 你好") == ["hello", "world", "你", "好"]
    assert words("かな漢字 abc") == ["か", "な", "漢", "字", "abc"]


def test_accuracy_routes_each_record_to_its_task():
    completions = [
        "<think>x</think><answer>\\frac{1}{2}</answer>",  # math: equivalent to 0.5
        "<answer>72</answer>",  # gsm8k: numeric
        "<answer>(6 - 2) * 6</answer>",  # countdown, correct
        "<answer>6 * 6 - 2</answer>",  # countdown, well-formed but wrong: no format bonus here
        "<answer>41</answer>",  # arithmetic, wrong
    ]
    columns = {
        "task": ["math", "gsm8k", "countdown", "countdown", "arithmetic"],
        "answer": ["0.5", "72", "24", "24", "42"],
        "numbers": [None, None, [2, 6, 6], [2, 6, 6], None],
        "target": [None, None, 24, 24, None],
    }
    scores = Reward(RewardSpec("accuracy"))(completions, **columns)
    assert scores == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_accuracy_leaves_other_tasks_unjudged(capsys):
    scores = Reward(RewardSpec("accuracy"))(["<answer>1</answer>", "<answer>1</answer>"], task=["general", "gsm8k"], answer=[None, "1"])
    assert scores == [None, 1.0]
    assert "no built-in task 'general'" in capsys.readouterr().err
