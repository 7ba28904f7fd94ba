"""The record schema: every kind of bad record is named by file, line and field."""

from __future__ import annotations

import pytest

from conftest import write_jsonl
from r1cli import artifacts, records
from r1cli.errors import DataError

PROMPT = {"id": "p1", "task": "math", "prompt": "What is 1+1?", "answer": "2"}
SAMPLE = {**PROMPT, "sample_index": 0, "completion": "2", "finish_reason": "stop", "prompt_tokens": 5, "completion_tokens": 1}


def _check(tmp_path, rows, kind):
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    records.validate(artifacts.read_jsonl(path), kind)


@pytest.mark.parametrize(
    "rows, kind, message",
    [
        ([{"task": "math", "prompt": "x"}], "prompt", "in.jsonl:1: field 'id': missing"),
        ([{**PROMPT, "id": 7}], "prompt", "in.jsonl:1: field 'id': must be a non-empty string, got int 7"),
        ([{**PROMPT, "prompt": ""}], "prompt", "field 'prompt': must be a non-empty string or a list"),
        ([{**PROMPT, "prompt": [{"role": "user"}]}], "prompt", "field 'prompt': must be a non-empty string or a list"),
        ([{**PROMPT, "answer": [2]}], "prompt", "field 'answer': must be a string, a finite number or null"),
        ([PROMPT, {**PROMPT}], "prompt", "in.jsonl:2: field 'id': duplicate id 'p1' (first at line 1)"),
        ([PROMPT], "sample", "field 'sample_index': missing; this input must be the output of `r1cli sample`"),
        ([{**SAMPLE, "finish_reason": "eos"}], "sample", "field 'finish_reason': must be 'stop' or 'length'"),
        ([{**SAMPLE, "completion_tokens": -1}], "sample", "field 'completion_tokens': must be a non-negative integer"),
        ([{**SAMPLE, "completion": None}], "sample", "field 'completion': must be a string, got null"),
        ([SAMPLE, SAMPLE], "sample", "in.jsonl:2: field 'id': duplicate id 'p1' sample_index 0"),
        ([SAMPLE], "scored", "field 'rewards': missing; this input must be the output of `r1cli reward`"),
        ([{**SAMPLE, "rewards": {"a": "high"}, "reward": 1.0}], "scored", "field 'rewards': must be a mapping"),
    ],
)
def test_bad_records(tmp_path, monkeypatch, rows, kind, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e:
        _check(tmp_path, rows, kind)
    assert message in str(e.value)


def test_good_records(tmp_path):
    _check(tmp_path, [PROMPT, {**PROMPT, "id": "p2", "prompt": [{"role": "user", "content": "hi"}], "answer": None}], "prompt")
    _check(tmp_path, [SAMPLE, {**SAMPLE, "sample_index": 1}], "sample")
    _check(tmp_path, [{**SAMPLE, "rewards": {"math": None, "format": 1.0}, "reward": 0.2}], "scored")


@pytest.mark.parametrize(
    "completion, text",
    [("abc", "abc"), ([{"role": "assistant", "content": "abc"}], "abc"), (None, "")],
)
def test_completion_text(completion, text):
    assert records.completion_text(completion) == text


def test_shipped_examples_match_the_schema():
    """data/examples documents the record kinds; it must not drift from the schema."""
    from conftest import REPO

    examples = REPO / "data" / "examples"
    for name, kind in (("prompts.jsonl", "prompt"), ("samples.jsonl", "sample"), ("scored.jsonl", "scored"),
                       ("code.jsonl", "prompt")):
        records.validate(artifacts.read_jsonl(examples / name), kind)
    from r1cli.commands.sft import to_example

    loaded = artifacts.read_jsonl(examples / "chat.jsonl")
    assert all(to_example(r, loaded.where(i))["completion"][0]["role"] == "assistant" for i, r in enumerate(loaded.records))
    scored = artifacts.read_jsonl(examples / "scored.jsonl").records
    assert [r["rewards"]["accuracy"] for r in scored] == [1.0, 0.0] * 3, "a right and a wrong answer per prompt"


def test_numbers_must_be_finite_whatever_the_source(tmp_path):
    """Reading JSONL refuses NaN already; records made from other data (parquet, CSV) are
    checked by the schema too. A large integer is a number (it is not converted to a float)."""
    from r1cli.artifacts import InputInfo, Loaded

    def loaded(answer):
        return Loaded([{**PROMPT, "answer": answer}], [1], InputInfo("data.parquet", "", 1))

    for bad in (float("nan"), float("inf")):
        with pytest.raises(DataError, match="field 'answer': must be a string, a finite number or null"):
            records.validate(loaded(bad), "prompt")
    records.validate(loaded(10**400), "prompt")
    with pytest.raises(DataError, match="field 'reward': must be a finite number or null"):
        records.validate(Loaded([{**SAMPLE, "rewards": {"a": 1.0}, "reward": float("-inf")}], [1], InputInfo("s", "", 1)), "scored")
