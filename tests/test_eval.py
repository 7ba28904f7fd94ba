"""`r1cli eval`: metrics against hand-computed tables, samples from any system, models side by side."""

from __future__ import annotations

import json

import pytest

from conftest import write_jsonl
from r1cli import metrics
from r1cli.metrics import Group, best_of, majority_vote, pass_at_k


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (1, 1, 1, 1.0), (1, 0, 1, 0.0), (4, 1, 1, 0.25), (4, 1, 2, 0.5), (4, 1, 4, 1.0),
        (4, 2, 2, 1 - 1 / 6),  # 1 - C(2,2)/C(4,2)
        (8, 3, 4, 1 - 5 / 70),  # 1 - C(5,4)/C(8,4)
        (10, 0, 5, 0.0), (10, 10, 1, 1.0), (64, 1, 1, 1 / 64),
    ],
)
def test_pass_at_k_table(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


@pytest.mark.parametrize(
    "keys, correct, expected",
    [
        (["4", "4", "5"], [True, True, False], True),
        (["5", "5", "4"], [False, False, True], False),
        (["4", "5"], [True, False], True),  # tie: the answer seen first
        (["5", "4"], [False, True], False),
        ([None, None, "4"], [False, False, True], True),  # no-answer samples do not vote
        ([None, None], [False, False], False),
    ],
)
def test_majority_vote_table(keys, correct, expected):
    assert majority_vote(keys, correct) is expected


@pytest.mark.parametrize(
    "scores, correct, expected",
    [([0.1, 0.9], [False, True], True), ([0.9, 0.1], [False, True], False), ([None, 0.2], [True, False], False),
     ([0.5, 0.5], [True, False], True), ([None], [True], False)],
)
def test_best_of_table(scores, correct, expected):
    assert best_of(scores, correct) is expected


def test_summarize_by_hand():
    groups = [
        Group([True, False, False, False], ["7", "8", "8", None], [10, 20, 30, 40], [False, False, False, True], [0.9, 0.1, 0.2, 0.0]),
        Group([True, True, True, False], ["3", "3", "3", "4"], [5, 5, 5, 5], [False] * 4, [0.1, 0.2, 0.3, 0.9]),
    ]
    out = metrics.summarize(groups, best_of_name="verifier")
    assert out["pass@1"] == pytest.approx((0.25 + 0.75) / 2)
    assert out["pass@2"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["pass@4"] == pytest.approx(1.0)
    assert out["cons@4"] == pytest.approx(0.5)  # group 1 votes "8" (wrong), group 2 votes "3" (right)
    assert out["best_of@4"] == pytest.approx(0.5)  # group 1 picks sample 0 (right), group 2 sample 3 (wrong)
    assert out["mean_completion_tokens"] == pytest.approx(120 / 8)
    assert out["truncation_rate"] == pytest.approx(1 / 8)


def _samples(rows):
    """Sample records for prompts with gold answers; rows: (id, answer, completions)."""
    out = []
    for pid, answer, completions in rows:
        for j, completion in enumerate(completions):
            out.append({"id": pid, "task": "gsm8k", "prompt": "q", "answer": answer, "sample_index": j,
                        "completion": completion, "finish_reason": "stop", "prompt_tokens": 3,
                        "completion_tokens": len(completion.split())})
    return out


def test_eval_samples_from_any_system(tmp_path, cli):
    a = write_jsonl(tmp_path / "system_a.jsonl", _samples([
        ("p1", "12", ["<answer>12</answer>", "<answer>12.0</answer>", "<answer>13</answer>", "no idea"]),
        ("p2", "5", ["<answer>6</answer>", "<answer>6</answer>", "<answer>5</answer>", "<answer>7</answer>"]),
    ]))
    b = write_jsonl(tmp_path / "system_b.jsonl", _samples([
        ("p1", "12", ["<answer>12</answer>"] * 4),
        ("p2", "5", ["<answer>5</answer>", "<answer>4</answer>", "<answer>5</answer>", "<answer>4</answer>"]),
    ]))
    out = tmp_path / "eval.json"
    r = cli("eval", a, b, "--best-of", "format", "-o", out)
    assert r.code == 0, r
    runs = {x["name"]: x for x in json.loads(out.read_text())["runs"]}
    ra, rb = runs["system_a"], runs["system_b"]
    assert ra["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert ra["cons@4"] == pytest.approx(0.5)  # p1: "12" and "12.0" are one answer and win; p2: "6" wins
    assert ra["pass@4"] == pytest.approx(1.0)
    assert rb["pass@1"] == pytest.approx((1.0 + 0.5) / 2)
    assert rb["cons@4"] == pytest.approx(1.0)  # p2: a 2-2 tie goes to "5", seen first
    assert "system_a" in r.stderr and "cons@4" in r.stderr and "R1 format" in r.stderr, "a table on stderr"
    assert (tmp_path / "eval.json.manifest.json").exists()
    # R1-Zero's format, right or wrong: none of these answers has its <think> block.
    assert ra["format_rate"] == rb["format_rate"] == 0.0
    c = write_jsonl(tmp_path / "system_c.jsonl", _samples([
        ("p1", "12", ["<think>6 + 6 = 12</think> <answer>12</answer>", "<think>6 + 6</think><answer>13</answer>", "12", "<think></think><answer>12</answer>"]),
    ]))
    r = cli("eval", c, "-o", "-")
    assert r.code == 0 and json.loads(r.stdout)["runs"][0]["format_rate"] == pytest.approx(0.5)  # an empty thought does not count
    r = cli("eval", a, "-o", "-")
    assert r.code == 0 and json.loads(r.stdout)["runs"][0]["name"] == "system_a"


def test_eval_errors(tmp_path, cli):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "task": "gsm8k", "prompt": "q", "answer": "1"}])
    r = cli("eval", prompts, "-o", tmp_path / "e.json")
    assert r.code == 2 and "prompt records need a model to sample from (-m MODEL)" in r.stderr
    r = cli("eval", prompts, "--best-of", "nosuch", "-m", "x", "-o", tmp_path / "e.json")
    assert r.code == 2 and "--best-of nosuch: not a field of the records nor a reward" in r.stderr
    assert not (tmp_path / "e.json").exists()


@pytest.mark.e2e
def test_eval_models_side_by_side_and_reuse(tmp_path, cli, tiny_model, tiny_base_model):
    prompts = tmp_path / "p.jsonl"
    assert cli("prepare", "arithmetic", "-n", "6", "--split", "test", "-o", prompts).code == 0
    out = tmp_path / "eval.json"
    r = cli("eval", prompts, "-m", tiny_model, "-m", tiny_base_model, "-k", "2", "--max-new-tokens", "8", "-o", out)
    assert r.code == 0, r
    runs = json.loads(out.read_text())["runs"]
    assert [x["prompts"] for x in runs] == [6, 6] and all(x["k"] == 2 for x in runs)
    assert all(0.0 <= x["pass@1"] <= 1.0 and x["mean_completion_tokens"] > 0 for x in runs)
    samples = sorted(p.name for p in (tmp_path / "eval.json.samples").glob("*.jsonl") if not p.name.endswith(".prompts.jsonl"))
    assert len(samples) == 2
    r = cli("eval", prompts, "-m", tiny_model, "-m", tiny_base_model, "-k", "2", "--max-new-tokens", "8", "-o", out, "--force")
    assert r.code == 0 and r.stderr.count("reusing") == 2
    assert json.loads(out.read_text())["runs"] == runs


def _others(tmp_path, rows):
    """Completions as another system writes them: id, task, gold, completion, and nothing else."""
    return write_jsonl(tmp_path / "theirs.jsonl", rows)


THEIRS = [
    {"id": "p1", "task": "gsm8k", "answer": "7", "completion": "so <answer>7</answer>", "score": 0.1},
    {"id": "p1", "task": "gsm8k", "answer": "7", "completion": "<answer>8</answer>", "score": 0.9},
    {"id": "p2", "task": "gsm8k", "answer": "3", "completion": "<answer>3</answer>", "score": 0.8},
    {"id": "p2", "task": "gsm8k", "answer": "3", "completion": "<answer>3</answer>", "score": 0.2},
]


def test_eval_takes_minimal_records_from_any_system(tmp_path, cli):
    r = cli("eval", _others(tmp_path, THEIRS), "--best-of", "score", "-o", "-")
    assert r.code == 0, r
    run = json.loads(r.stdout)["runs"][0]
    assert run["k"] == 2 and run["pass@1"] == pytest.approx(0.75) and run["prompts"] == 2
    # The external score picks p1's wrong sample and p2's right one.
    assert run["best_of@2"] == pytest.approx(0.5) and run["best_of_reward"] == "score"
    assert run["truncation_rate"] is None and run["mean_completion_tokens"] is None
    said = [line for line in r.stderr.splitlines() if line.startswith("eval: ")]
    assert len(said) == 1 and "same id are that prompt's samples" in said[0] and "truncation not reported" in said[0]


def test_eval_task_flag_names_the_task_of_records_without_one(tmp_path, cli):
    rows = [{k: v for k, v in row.items() if k != "task"} for row in THEIRS]
    r = cli("eval", _others(tmp_path, rows), "-o", "-")
    assert r.code == 2 and "field 'task': missing; name the task with --task NAME" in r.stderr
    r = cli("eval", _others(tmp_path, rows), "--task", "gsm8k", "-o", "-")
    assert r.code == 0 and json.loads(r.stdout)["runs"][0]["pass@1"] == pytest.approx(0.75), r


def test_eval_k_takes_the_first_samples_and_refuses_too_few(tmp_path, cli):
    path = _others(tmp_path, THEIRS)
    r = cli("eval", path, "-k", "1", "-o", "-")
    run = json.loads(r.stdout)["runs"][0]
    assert r.code == 0 and run["k"] == 1 and run["pass@1"] == pytest.approx(1.0)  # each prompt's first sample is right
    r = cli("eval", path, "-k", "3", "-o", "-")
    assert r.code == 2 and "id 'p1' has 2 samples, fewer than -k 3" in r.stderr and r.stdout == ""


def test_eval_best_of_a_missing_field_is_an_error_naming_it(tmp_path, cli):
    rows = [dict(THEIRS[0]), {k: v for k, v in THEIRS[1].items() if k != "score"}]
    r = cli("eval", _others(tmp_path, rows), "--best-of", "score", "-o", "-")
    assert r.code == 2 and "record 2: field 'score': missing or not a number" in r.stderr, r
    r = cli("eval", _others(tmp_path, THEIRS), "--best-of", "nonsense", "-o", "-")
    assert r.code == 2 and "--best-of nonsense: not a field of the records nor a reward" in r.stderr
