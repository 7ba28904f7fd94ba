"""`--dry-run`: every check, one real step timed, the plan printed, and nothing written."""

from __future__ import annotations

import json
import re

import pytest

from conftest import write_jsonl


def _files(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def prompts(cli, tmp_path, tiny_model):
    path = tmp_path / "prompts.jsonl"
    assert cli("prepare", "arithmetic", "-n", "8", "-m", tiny_model, "-o", path).code == 0
    return path


@pytest.fixture
def sft_data(tmp_path):
    return write_jsonl(tmp_path / "sft.jsonl", [
        {"id": f"s{i}", "prompt": f"What is {i} + 1? ", "completion": f"<think>{i} plus one</think> <answer>{i + 1}</answer>"}
        for i in range(10)])


def _plan(stderr: str) -> dict[str, str]:
    return dict(re.findall(r"^  ([a-z ]+): (.*)$", stderr, flags=re.M))


@pytest.mark.parametrize("stage", ["sample", "grpo", "sft", "distill"])
def test_dry_run_prints_the_plan_and_writes_nothing(cli, tmp_path, tiny_model, prompts, sft_data, stage):
    args = {
        "sample": ["sample", prompts, "-m", tiny_model, "-k", "2", "--max-new-tokens", "16", "-o", tmp_path / "out.jsonl"],
        "grpo": ["grpo", prompts, "-m", tiny_model, "-G", "2", "--batch-size", "4", "--max-completion-length", "8",
                 "--max-steps", "5", "--save-steps", "2", "-o", tmp_path / "runs" / "out"],
        "sft": ["sft", sft_data, "-m", tiny_model, "--epochs", "2", "--batch-size", "4", "-o", tmp_path / "runs" / "out"],
        "distill": ["distill", prompts, "--teacher", tiny_model, "--student", tiny_model, "--mode", "token", "--max-steps", "3",
                    "-o", tmp_path / "runs" / "out"],
    }[stage]
    before = _files(tmp_path)
    result = cli(*args, "--dry-run")
    assert result.code == 0, result
    assert _files(tmp_path) == before  # no output, no partial file, no folder
    assert result.stdout == ""
    plan = _plan(result.stderr)
    assert {"work", "measured", "estimated time", "peak memory"} <= plan.keys(), result.stderr
    assert re.search(r"\d+(\.\d+)? (MB|GB)", plan["peak memory"])
    if stage == "grpo":
        assert plan["work"].startswith("5 optimizer steps")
        assert "4 completions a step (2 prompts x G=2)" in plan["rollouts"]
        assert plan["checkpoints"].startswith("every 2 steps, 2 kept at a time")


def test_dry_run_counts_the_steps_a_real_run_takes(cli, tmp_path, tiny_model, sft_data):
    """The plan's step count is the trainer's own (epochs over the data), not a guess."""
    args = ["sft", sft_data, "-m", tiny_model, "--epochs", "3", "--batch-size", "4", "-o", tmp_path / "run"]
    plan = _plan(cli(*args, "--dry-run").stderr)
    planned = int(re.match(r"(\d+) optimizer steps", plan["work"]).group(1))
    assert cli(*args).code == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert planned == manifest["stats"]["steps"] == 9  # 10 examples, batches of 4: 3 a epoch


def test_dry_run_still_refuses_what_the_run_would(cli, tmp_path, tiny_model, prompts):
    out = tmp_path / "taken.jsonl"
    out.write_text("{}\n")
    result = cli("sample", prompts, "-m", tiny_model, "--dry-run", "-o", out)
    assert result.code == 2 and "exists" in result.stderr
    assert out.read_text() == "{}\n"
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "task": "arithmetic", "answer": "1"}])
    result = cli("grpo", bad, "-m", tiny_model, "--dry-run", "-o", tmp_path / "g")
    assert result.code == 2 and "bad.jsonl:1" in result.stderr
    assert not (tmp_path / "g").exists()
