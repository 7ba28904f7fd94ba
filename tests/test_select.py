"""Rejection sampling's rules (`r1cli.selection`), one table per rule, on made-up and real text."""

from __future__ import annotations

import dataclasses
import doctest
import json
import re

import pytest

from conftest import shared_data
from r1cli import selection
from r1cli.tasks.accuracy import is_correct
from r1cli.selection import Rules


def sample(i: int, completion: str, score: float | None = 1.0, reward: float | None = None, *, tokens: int = 50,
           finish: str = "stop", **extra) -> dict:
    """A scored record of prompt "p" whose correctness score is `score` under `accuracy`."""
    return {
        "id": "p", "task": "arithmetic", "prompt": "What is 3+4?", "question": "What is 3+4?", "answer": "7",
        "sample_index": i, "completion": completion, "finish_reason": finish, "prompt_tokens": 9, "completion_tokens": tokens,
        "rewards": {"accuracy": score}, "reward": score if reward is None else reward, **extra,
    }


def ok(text: str = "3 plus 4 makes 7", answer: str = "7") -> str:
    return f"<think>{text}</think> <answer>{answer}</answer>"


def read_rows(*parts: str) -> list[dict]:
    return [json.loads(line) for line in shared_data(*parts).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_docstring_examples():
    assert doctest.testmod(selection).failed == 0


# -- correctness, pass rate, band ------------------------------------------------------------------------
@pytest.mark.parametrize("judgements, rate", [
    ([True, True], 1.0), ([True, False, False, False], 0.25), ([False], 0.0),
    ([True, None, False], 0.5),  # unjudged samples are left out of the rate
    ([None, None], None), ([], None),
])
def test_pass_rate(judgements, rate):
    assert selection.pass_rate(judgements) == rate


@pytest.mark.parametrize("text, band", [
    ("0.1:0.9", (0.1, 0.9)), ("0:1", (0.0, 1.0)), (":0.5", (0.0, 0.5)), ("0.25:", (0.25, 1.0)), (" 0.2 : 0.2 ", (0.2, 0.2)),
])
def test_parse_band(text, band):
    assert selection.parse_band(text) == band


@pytest.mark.parametrize("text, message", [
    ("0.5", "must be MIN:MAX"), ("0.1-0.9", "must be MIN:MAX"), ("a:b", "with numbers"), ("0.9:0.1", "0 <= MIN <= MAX <= 1"),
    ("-0.1:0.5", "0 <= MIN"), ("0:1.5", "<= 1"), ("0:0.5:1", "must be MIN:MAX"), ("nan:1", "0 <= MIN"),
])
def test_parse_band_errors(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        selection.parse_band(text)


@pytest.mark.parametrize("rate, band, reason", [
    (0.5, None, None), (None, None, None), (None, (0.1, 0.9), "pass_rate_unknown"),
    (0.0, (0.1, 0.9), "pass_rate_below"), (1.0, (0.1, 0.9), "pass_rate_above"),
    (0.1, (0.1, 0.9), None), (0.9, (0.1, 0.9), None),  # inclusive at both ends
])
def test_band_reason(rate, band, reason):
    assert selection.band_reason(rate, band) == reason


def test_pass_rate_summary():
    s = selection.pass_rate_summary([0.0, 0.25, 1.0, 1.0, None, 0.95])
    assert s["prompts"] == 6 and s["unjudged"] == 1 and s["none_correct"] == 1 and s["all_correct"] == 2
    assert s["mean"] == pytest.approx(3.2 / 5)
    assert s["histogram"]["0.0-0.1"] == 1 and s["histogram"]["0.2-0.3"] == 1 and s["histogram"]["0.9-1.0"] == 3
    assert sum(s["histogram"].values()) == 5


# -- judgement ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rules, score, reward, reason", [
    (Rules(), 1.0, 1.2, None),
    (Rules(), 0.0, 0.2, "incorrect"),
    (Rules(), 0.1, 0.1, "incorrect"),  # Countdown's partial credit is not correct
    (Rules(), None, None, "unjudged"),
    (Rules(min_reward=1.1), 1.0, 1.0, "low_reward"),
    (Rules(min_reward=1.0), 1.0, 1.0, None),  # the threshold itself passes
    (Rules(keep="best"), 0.0, 0.3, None),  # best does not require correctness
    (Rules(keep="best"), None, None, "unjudged"),
    (Rules(keep="best", min_reward=0.5), 0.0, 0.3, "low_reward"),
])
def test_judge_reason(rules, score, reward, reason):
    record = sample(0, ok(), score, reward)
    assert selection.judge_reason(record, rules, is_correct(score)) == reason


# -- text filters -------------------------------------------------------------------------------------------
LONG = "word " * 700  # 3500 characters in one paragraph
FENCED = ok("let me check:\n```python\nprint(3 + 4)\n```\nit prints 7")


@pytest.mark.parametrize("rules, record, language, reason", [
    (Rules(), sample(0, ok()), "en", None),
    (Rules(), sample(0, "<think>3 plus 4 is", finish="length"), "en", "truncated"),
    (Rules(drop_truncated=False), sample(0, "<think>3 plus 4 is", finish="length"), "en", None),
    (Rules(min_tokens=10), sample(0, ok(), tokens=9), "en", "too_short"),
    (Rules(min_tokens=10), sample(0, ok(), tokens=10), "en", None),
    (Rules(max_tokens=40), sample(0, ok(), tokens=41), "en", "too_long"),
    (Rules(max_tokens=40), sample(0, ok(), tokens=40), "en", None),
    (Rules(), sample(0, ok("先把 3 和 4 相加得到 7")), "en", "mixed_language"),
    (Rules(), sample(0, ok("先把 3 和 4 相加得到 7")), "zh", None),
    (Rules(min_language_share=0), sample(0, ok("先把 3 和 4 相加得到 7")), "en", None),  # 0: filter off
    (Rules(), sample(0, ok("3 + 4 = 7")), "zh", None),  # no words, nothing mixed
    (Rules(), sample(0, ok("先把 3 和 4 相加")), None, None),  # no target language known: not checked
    (Rules(), sample(0, "<think>3 plus 4</think><answer>七 is seven</answer>"), "en", None),  # only the thought counts
    (Rules(), sample(0, ok(LONG)), "en", "long_paragraph"),
    (Rules(), sample(0, ok(LONG.replace("word word ", "word\n\nword ", 200))), "en", None),  # broken into paragraphs
    (Rules(max_paragraph_chars=0), sample(0, ok(LONG)), "en", None),
    (Rules(max_paragraph_chars=20), sample(0, ok("short one\n\n" + "x" * 21)), "en", "long_paragraph"),
    (Rules(), sample(0, FENCED), "en", "code_block"),
    (Rules(), sample(0, ok("the code `print(7)` prints 7")), "en", None),  # inline code is no block
    (Rules(), sample(0, FENCED, rewards={"code": 1.0}), "en", None),  # auto: code tasks keep their code
    (Rules(code_blocks="drop"), sample(0, FENCED, rewards={"code": 1.0}), "en", "code_block"),
    (Rules(code_blocks="keep"), sample(0, FENCED), "en", None),
    (Rules(), sample(0, ok("so\n~~~\n3 + 4\n~~~")), "en", "code_block"),
])
def test_quality_reason(rules, record, language, reason):
    assert selection.quality_reason(record, rules, language) == reason


@pytest.mark.parametrize("text, expected", [
    ("", 0), ("abc", 3), ("abc\n\nabcdef", 6), ("abc\ndef", 7), ("  abc  \n \t \nx", 3),
])
def test_longest_paragraph(text, expected):
    assert selection.longest_paragraph(text) == expected


@pytest.mark.parametrize("record, default, language", [
    ({"language": "zh-CN", "question": "How many?"}, "auto", "zh"),  # the record's own field wins
    ({"language": "", "question": "How many?"}, "auto", "en"),
    ({"question": "芳芳买了一本书有99页"}, "auto", "zh"),
    ({"question": "How many pages are left?"}, "zh", "zh"),  # an explicit default beats guessing
    ({"question": "本を3冊買いました。残りはいくつ？"}, "auto", "ja"),
    ({"question": "Сколько страниц осталось?"}, "auto", "ru"),
    ({"question": "12 + 30"}, "auto", None),
    ({"prompt": [{"role": "system", "content": "Think in English."}, {"role": "user", "content": "还剩多少页？"}]}, "auto", "zh"),
    ({"prompt": "还剩多少页？"}, "auto", "zh"),
])
def test_target_language(record, default, language):
    assert selection.target_language(record, default) == language


# -- language mixing on real text ---------------------------------------------------------------------------------
ENGLISH_ASIDE = " Let me double check this step carefully. "


def chinese_cot(question: str, answer: str) -> str:
    return f"<think>题目说：{question}我们一步一步地算，最后得到 {answer}。</think><answer>{answer}</answer>"


def mixed_cot(question: str, answer: str) -> str:
    # An English sentence after every Chinese clause: the code-switching R1's filter removes.
    mixed = re.sub(r"([，。？；])", r"\1" + ENGLISH_ASIDE, question)
    return f"<think>题目说：{mixed} So the answer should be {answer}.</think><answer>{answer}</answer>"


@pytest.mark.shared_data
def test_chinese_cot_kept_for_zh_and_mixed_cot_dropped_on_cmath():
    rows = read_rows("cmath", "test.jsonl")[:200]
    rules = Rules()
    for row in rows:
        language = selection.target_language({"question": row["question"]})
        assert language == "zh", row["question"]
        pure = sample(0, chinese_cot(row["question"], row["answer"]))
        assert selection.quality_reason(pure, rules, language) is None, row["question"]
        mixed = sample(1, mixed_cot(row["question"], row["answer"]))
        assert selection.quality_reason(mixed, rules, language) == "mixed_language", row["question"]
        # The same Chinese chain of thought is mixed when the target is English.
        assert selection.quality_reason(pure, rules, "en") == "mixed_language"


@pytest.mark.shared_data
def test_units_in_latin_letters_do_not_make_a_chinese_cot_mixed():
    # Real CMATH questions write units as "cm" or "m": the default threshold (0.9) keeps them.
    rows = [r for r in read_rows("cmath", "test.jsonl") if re.search(r"\d(cm|m)\b", r["question"])]
    assert rows
    for row in rows:
        assert selection.quality_reason(sample(0, chinese_cot(row["question"], row["answer"])), Rules(), "zh") is None


@pytest.mark.shared_data
def test_english_cot_kept_for_en_on_gsm8k():
    rows = read_rows("gsm8k", "test.jsonl")[:200]
    for row in rows:
        assert selection.target_language({"question": row["question"]}) == "en"
        solution, gold = row["answer"].rsplit("####", 1)
        english = sample(0, f"<think>{solution.strip()}</think><answer>{gold.strip()}</answer>")
        assert selection.quality_reason(english, Rules(), "en") is None, row["answer"]
        assert selection.quality_reason(english, Rules(), "zh") == "mixed_language"


# -- duplicates -----------------------------------------------------------------------------------------------------
BASE = "first we add three and four to get seven then we check that seven minus four is three so the answer is seven"


@pytest.mark.parametrize("texts, near, reasons", [
    (["a b c", "a  b\nc", "a b d"], None, [None, "duplicate", None]),
    ([BASE, BASE.replace("check", "verify"), "a different route entirely"], 0.5, [None, "near_duplicate", None]),
    ([BASE, BASE.replace("check", "verify")], 0.95, [None, None]),  # one word in 23 changes 5 of 19 shingles
    ([BASE, BASE + " indeed"], 0.9, [None, "near_duplicate"]),
    (["先把三和四相加得到七", "先把三和四相加得到七。", "先把五和二相加得到七"], 0.9, [None, "near_duplicate", None]),
    (["7", "7"], 0.9, [None, "duplicate"]),
    (["", "..."], 0.9, [None, None]),  # no tokens: only exact copies count
])
def test_duplicates(texts, near, reasons):
    assert selection.duplicates(texts, near) == reasons


def test_jaccard_and_shingles():
    a, b = selection.shingles("x y z w v u"), selection.shingles("x y z w v t")
    assert selection.jaccard(a, a) == 1.0 and selection.jaccard(a, b) == pytest.approx(1 / 3)
    assert selection.jaccard(frozenset(), frozenset()) == 0.0
    assert len(selection.shingles("三加四等于七")) == 2  # Han characters are tokens of their own


# -- per-prompt selection ------------------------------------------------------------------------------------------
def group(*specs) -> list[dict]:
    """specs: (score, reward, text) per sample."""
    return [sample(i, ok(text), score, reward) for i, (score, reward, text) in enumerate(specs)]


G = group(
    (1.0, 1.2, "three plus four is seven, checked twice"),  # 0
    (1.0, 1.0, "3 plus 4 makes 7"),  # 1
    (0.0, 0.2, "3 plus 4 makes 8"),  # 2
    (1.0, 1.2, "three plus four is seven, checked twice"),  # 3: exact copy of 0
    (None, None, "unknown"),  # 4
    (1.0, 1.1, "adding the numbers gives seven"),  # 5
)


@pytest.mark.parametrize("rules, reasons", [
    (Rules(), [None, None, "incorrect", "duplicate", "unjudged", None]),
    (Rules(max_per_prompt=2), [None, "over_cap", "incorrect", "duplicate", "unjudged", None]),  # best reward first
    (Rules(max_per_prompt=1), [None, "over_cap", "incorrect", "duplicate", "unjudged", "over_cap"]),
    (Rules(dedup=False), [None, None, "incorrect", None, "unjudged", None]),
    (Rules(min_reward=1.1), [None, "low_reward", "incorrect", "duplicate", "unjudged", None]),
    (Rules(keep="best"), [None, "not_best", "not_best", "duplicate", "unjudged", "not_best"]),
    (Rules(keep="best", n=3), [None, None, "not_best", "duplicate", "unjudged", None]),
    (Rules(keep="best", n=4), [None, None, None, "duplicate", "unjudged", None]),
    (Rules(keep="best", n=3, max_per_prompt=2), [None, "over_cap", "not_best", "duplicate", "unjudged", None]),
    (Rules(pass_rate=(0.0, 0.5)), ["pass_rate_above"] * 6),  # 4 of 5 judged are correct
    (Rules(pass_rate=(0.5, 0.8)), [None, None, "incorrect", "duplicate", "unjudged", None]),
])
def test_select_samples(rules, reasons):
    correct = [is_correct(r["rewards"]["accuracy"]) for r in G]
    assert selection.select_samples(G, rules, correct, ["en"] * len(G)) == reasons


def test_select_samples_reformat_needs_an_answer():
    """A tagged or boxed answer is stated; a correct sample in prose states the gold its judge
    found in it; with no gold to fall back on, an untagged one has no answer to state."""
    g = [sample(0, ok()), sample(1, "<think>3 plus 4 makes 7</think> so 7"), sample(2, r"<think>add</think> \boxed{7}"),
         {**sample(3, "3 plus 4 is 7."), "answer": None}]
    rules = Rules(reformat="summary", dedup=False)
    assert selection.select_samples(g, rules, [True] * 4, ["en"] * 4) == [None, None, None, "no_answer"]
    assert selection.stated_answer(g[1], True) == "7" and selection.stated_answer(g[1], False) is None
    target = selection.readable(g[1]["completion"], "en", selection.stated_answer(g[1], True))
    assert target.endswith("<answer>7</answer>") and "3 plus 4 makes 7" in target


def test_prompt_record_is_a_prompt_again(tmp_path):
    from conftest import write_jsonl
    from r1cli import artifacts, records

    record = {**sample(3, ok()), "reward_info": {"status": "ok"}, "numbers": [3, 4]}
    prompt = selection.prompt_record(record, 0.25)
    assert prompt == {"id": "p", "task": "arithmetic", "prompt": "What is 3+4?", "question": "What is 3+4?", "answer": "7",
                      "numbers": [3, 4], "pass_rate": 0.25}
    records.validate(artifacts.read_jsonl(write_jsonl(tmp_path / "p.jsonl", [prompt])), "prompt")


# -- reformatting and journeys ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("completion, language, target", [
    ("<think>3 plus 4 makes 7</think> <answer>7</answer>", "en",
     "<think>\n3 plus 4 makes 7\n</think>\n\nThe final answer is 7.\n\n<answer>7</answer>"),
    # the chat template opened <think> in the prompt: the target must not open it again
    ("\n3 plus 4 makes 7\n</think>\n<answer>7</answer>", "en",
     "3 plus 4 makes 7\n</think>\n\nThe final answer is 7.\n\n<answer>7</answer>"),
    # no think block: the reasoning is what precedes the answer
    ("3 plus 4 makes 7. <answer>7</answer>", "en",
     "<think>\n3 plus 4 makes 7.\n</think>\n\nThe final answer is 7.\n\n<answer>7</answer>"),
    (r"<think>half of one</think> so \boxed{\frac{1}{2}}", "zh",
     "<think>\nhalf of one\n</think>\n\n最终答案是 $\\frac{1}{2}$。\n\n<answer>\\frac{1}{2}</answer>"),
    ("<think>先算 3 + 4 = 7</think><answer>7</answer>", "zh",
     "<think>\n先算 3 + 4 = 7\n</think>\n\n最终答案是 7。\n\n<answer>7</answer>"),
    ("<think>3 plus 4</think>", "en", None),  # no final answer to summarise
    ("<think>3 plus 4</think><answer>7</answer>", "ko", "<think>\n3 plus 4\n</think>\n\nThe final answer is 7.\n\n<answer>7</answer>"),
])
def test_readable(completion, language, target):
    assert selection.readable(completion, language) == target


def test_readable_output_is_judged_like_the_completion():
    from r1cli.rewards import lookup

    target = selection.readable("<think>3 plus 4 makes 7</think> <answer>7</answer>", "en")
    assert lookup("numeric")([target], answer=["7"]) == [1.0]
    assert lookup("tags")([target]) == [1.0]


WRONG = "<think>3 plus 4 makes 8</think> <answer>8</answer>"
RIGHT = "<think>3 plus 4 makes 7</think> <answer>7</answer>"


@pytest.mark.parametrize("wrong, right, language, summary, target", [
    (WRONG, RIGHT, "en", False,
     "<think>\n3 plus 4 makes 8\n\nWait, that gives 8, which does not check out. Let me redo it.\n\n3 plus 4 makes 7\n</think>\n<answer>7</answer>"),
    (WRONG, RIGHT, "zh", False,
     "<think>\n3 plus 4 makes 8\n\n等等，这样算出来是 8，验算不对。让我重新做一遍。\n\n3 plus 4 makes 7\n</think>\n<answer>7</answer>"),
    ("<think>3 plus 4 makes", RIGHT, "en", False,
     "<think>\n3 plus 4 makes\n\nWait, this does not lead to a clear answer. Let me redo it.\n\n3 plus 4 makes 7\n</think>\n<answer>7</answer>"),
    (WRONG, RIGHT, "en", True,
     "<think>\n3 plus 4 makes 8\n\nWait, that gives 8, which does not check out. Let me redo it.\n\n3 plus 4 makes 7\n</think>\n\n"
     "3 plus 4 makes 7. The final answer is 7.\n\n<answer>7</answer>"),  # the summary: the concluding sentence, then the answer
    ("3 plus 4 makes 8\n</think><answer>8</answer>", "3 plus 4 makes 7\n</think><answer>7</answer>", "en", False,
     "3 plus 4 makes 8\n\nWait, that gives 8, which does not check out. Let me redo it.\n\n3 plus 4 makes 7\n</think>\n<answer>7</answer>"),
    ("It is 8. #### 8", "It is 3 + 4 = 7. <answer>7</answer>", "en", False,
     "It is 8. #### 8\n\nWait, this does not lead to a clear answer. Let me redo it.\n\nIt is 3 + 4 = 7.\n<answer>7</answer>"),
])
def test_journey_trace(wrong, right, language, summary, target):
    assert selection.journey(wrong, right, language, summary=summary) == target


def test_journey_trace_is_judged_correct_and_well_formatted():
    from r1cli.rewards import lookup

    trace = selection.journey(WRONG, RIGHT, "en")
    assert lookup("numeric")([trace], answer=["7"]) == [1.0]
    assert lookup("format")([trace]) == [1.0]


def test_pick_pair_is_reproducible_and_varies():
    wrong = [{"completion_tokens": 10, "i": i} for i in range(4)]
    right = [{"completion_tokens": 10, "i": i} for i in range(4, 8)]
    pick = lambda seed, key, **kw: tuple(x["i"] for x in selection.pick_pair(wrong, right, seed=seed, key=key, **kw))  # noqa: E731
    assert pick(0, "p") == pick(0, "p")
    assert len({pick(0, f"p{k}") for k in range(30)}) > 3  # prompts do not all get the same pair
    assert len({pick(s, "p") for s in range(30)}) > 3  # nor all seeds
    assert selection.pick_pair(wrong, right, seed=0, key="p", max_tokens=19) is None
    assert selection.pick_pair(wrong, right, seed=0, key="p", min_tokens=21) is None
    assert pick(0, "p", min_tokens=20, max_tokens=20) == pick(0, "p")


JG = [
    sample(0, RIGHT, 1.0),
    sample(1, WRONG, 0.0),
    sample(2, "<think>3 plus 4 makes 9</think> <answer>9</answer>", 0.0),
    sample(3, "<think>3 plus 4 is", 0.0, finish="length"),
]


@pytest.mark.parametrize("scores, rules, language, reason", [
    ([1.0, 1.0, 1.0, 1.0], Rules(), "en", "all_correct"),
    ([0.0, 0.0, 0.0, 0.0], Rules(), "en", "none_correct"),
    ([None] * 4, Rules(), "en", "unjudged"),
    ([1.0, 0.0, 0.0, 0.0], Rules(pass_rate=(0.5, 1.0)), "en", "pass_rate_below"),
    ([1.0, 0.0, 0.0, 0.0], Rules(min_reward=1.5), "en", "no_clean_correct"),
    ([1.0, 0.0, None, None], Rules(), "zh", "no_clean_correct"),  # English thoughts for a Chinese prompt
    ([1.0, 0.0, 0.0, 0.0], Rules(max_tokens=99), "en", "too_long"),  # each pair is 50 + 50 tokens
    ([1.0, 0.0, 0.0, 0.0], Rules(min_tokens=101), "en", "too_short"),
    ([1.0, None, None, 0.0], Rules(), "en", "no_clean_wrong"),  # the only wrong one is truncated
])
def test_select_journey_reasons(scores, rules, language, reason):
    g = [{**r, "rewards": {"accuracy": s}, "reward": s} for r, s in zip(JG, scores)]
    record, why = selection.select_journey(g, rules, [is_correct(s) for s in scores], [language] * 4, seed=0)
    assert record is None and why == reason


def test_select_journey_record():
    correct = [is_correct(r["rewards"]["accuracy"]) for r in JG]
    record, why = selection.select_journey(JG, Rules(max_tokens=100), correct, ["en"] * 4, seed=0)
    assert why is None
    assert record["journey"]["correct"] == 0 and record["journey"]["wrong"] in (1, 2)  # never the truncated one
    assert record["completion"] == RIGHT  # records only grow
    assert {k: v for k, v in record.items() if k not in ("sft_target", "journey")} == JG[0]
    wrong_text = JG[record["journey"]["wrong"]]["completion"]
    assert record["sft_target"] == selection.journey(wrong_text, RIGHT, "en")
    again, _ = selection.select_journey(JG, Rules(max_tokens=100), correct, ["en"] * 4, seed=0)
    assert again == record
    wrongs = {selection.select_journey([{**r, "id": f"p{k}"} for r in JG], Rules(), correct, ["en"] * 4, seed=0)[0]["journey"]["wrong"]
              for k in range(20)}
    assert wrongs == {1, 2}


def test_rules_defaults_are_the_stage_defaults():
    from r1cli.commands.reject import RejectConfig

    stage = RejectConfig().rules()
    assert dataclasses.asdict(stage) == dataclasses.asdict(Rules())
