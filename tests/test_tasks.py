"""Tasks and templates: generated problems, file formats, gold answers, field mapping."""

from __future__ import annotations

import ast
import json
from fractions import Fraction

import pytest

from conftest import shared_data, write_jsonl
from r1cli.errors import DataError, R1Error
from r1cli.tasks import PromptSource, arithmetic, build_prompts, countdown, last_boxed
from r1cli.templates import R1_ZERO, Template


def _value(expr: str) -> Fraction:
    def ev(node):
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) if not isinstance(node.op, ast.Div) else a / b
        return Fraction(node.value)

    return ev(ast.parse(expr, mode="eval").body)


def _leaves(expr: str) -> list[int]:
    return sorted(n.value for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Constant))


def test_countdown_is_solvable_by_construction_and_seeded():
    rows = countdown.countdown(200, seed=3, split="train")
    assert rows == countdown.countdown(200, seed=3, split="train")
    assert rows != countdown.countdown(200, seed=4, split="train")
    for r in rows:
        assert 3 <= len(r["numbers"]) <= 4 and 1 <= r["target"] <= 100
        assert _value(r["solution"]) == r["target"]
        assert _leaves(r["solution"]) == sorted(r["numbers"])


def test_generated_splits_never_overlap():
    for make in (countdown.countdown, arithmetic.arithmetic):
        train = {json.dumps(r, sort_keys=True) for r in make(300, seed=0, split="train")}
        test = {json.dumps(r, sort_keys=True) for r in make(60, seed=0, split="test")}
        other_seed_test = {json.dumps(r, sort_keys=True) for r in make(60, seed=9, split="test")}
        assert not train & test and not train & other_seed_test


def test_arithmetic_answers():
    for r in arithmetic.arithmetic(100, seed=1, split="train", digits=1, ops="+-*"):
        a, b = r["operands"]
        assert int(r["answer"]) == {"+": a + b, "-": a - b, "*": a * b}[r["op"]] >= 0


def test_generator_runs_out_clearly():
    with pytest.raises(R1Error, match="distinct"):
        arithmetic.arithmetic(500, seed=0, split="test", digits=1, ops="+")


def test_r1_zero_template_is_verbatim():
    t = Template("r1-zero")
    text = t.apply("What is 2 + 2?")
    assert text == R1_ZERO.replace("{prompt}", "What is 2 + 2?")
    assert text.startswith("A conversation between User and Assistant.") and text.endswith("User: What is 2 + 2?. Assistant:")


def test_template_file_keeps_latex_braces(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("Solve: {question}\nUse \\frac{a}{b} and reach {target}.")
    assert Template(str(path)).apply("x+1", {"target": 5}) == "Solve: x+1\nUse \\frac{a}{b} and reach 5."
    (tmp_path / "bad.txt").write_text("no placeholder")
    with pytest.raises(R1Error, match="no {question} placeholder"):
        Template(str(tmp_path / "bad.txt"))
    with pytest.raises(R1Error, match="not a built-in template"):
        Template("r1zero")


def test_chat_template_gives_messages():
    assert Template("chat", system="Be brief.").apply("hi") == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]


def test_last_boxed():
    assert last_boxed(r"so \boxed{\frac{1}{2}} and \boxed{x^{2}}.") == "x^{2}"
    assert last_boxed("none") is None
    assert last_boxed(r"\boxed{unclosed") is None


def _prepare(**kw):
    return build_prompts(PromptSource(**kw))[0]


@pytest.mark.parametrize("suffix", ["jsonl", "json", "parquet", "csv"])
def test_file_formats(tmp_path, suffix):
    rows = [{"question": f"q{i}", "answer": f"#### {i},000"} for i in range(3)]
    path = tmp_path / f"d.{suffix}"
    if suffix == "jsonl":
        write_jsonl(path, rows)
    elif suffix == "json":
        path.write_text(json.dumps(rows))
    elif suffix == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("question,answer\n" + "".join(f"{r['question']},\"{r['answer']}\"\n" for r in rows))
    records = _prepare(task="gsm8k", data=str(path), template="plain")
    assert [r["answer"] for r in records] == ["0000", "1000", "2000"]
    assert [r["prompt"] for r in records] == ["q0", "q1", "q2"]
    assert records[0]["solution"] == "#### 0,000"


def test_datasets_folder_and_field_mapping(tmp_path):
    import datasets

    ds = datasets.DatasetDict({"test": datasets.Dataset.from_list([{"problem_text": "1+1", "gold": "2", "level": 1}])})
    ds.save_to_disk(str(tmp_path / "ds"))
    records = _prepare(task="math", data=str(tmp_path / "ds"), split="test", field={"question": "problem_text", "answer": "gold"})
    assert records[0]["question"] == "1+1" and records[0]["answer"] == "2" and records[0]["level"] == 1
    with pytest.raises(DataError, match="field 'problem': missing; map the question column"):
        _prepare(task="math", data=str(tmp_path / "ds"), split="test")


def test_hub_name_fails_clearly_offline():
    with pytest.raises(R1Error, match="not a local file or folder, and loading it from the Hugging Face hub failed"):
        _prepare(task="gsm8k", data="someone/no-such-dataset")


def test_duplicate_ids_in_data(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": 1, "problem": "a", "answer": "1"}, {"id": 1, "problem": "b", "answer": "2"}])
    with pytest.raises(R1Error, match="id '1' twice"):
        _prepare(task="math", data=str(path))


@pytest.mark.shared_data
def test_real_datasets_prepare():
    gsm = _prepare(task="gsm8k", data=str(shared_data("gsm8k", "test.jsonl")))
    assert len(gsm) == 1319 and gsm[0]["answer"] == "18"
    assert all(r["answer"].lstrip("-").replace(".", "").isdigit() for r in gsm)
    math500 = _prepare(task="math", data=str(shared_data("math500", "test.jsonl")))
    assert len(math500) == 500 and math500[0]["answer"] == r"\left( 3, \frac{\pi}{2} \right)"
    assert math500[0]["id"] == "test/precalculus/807.json" and "solution" in math500[0]
    aime = _prepare(task="math", data=str(shared_data("aime24", "test.jsonl")))
    assert len(aime) == 30 and all(r["answer"].isdigit() for r in aime)
    cmath = _prepare(task="gsm8k", data=str(shared_data("cmath", "test.jsonl")), language="zh", template="chat")
    assert len(cmath) == 600 and cmath[0]["language"] == "zh" and cmath[0]["prompt"][0]["role"] == "user"
