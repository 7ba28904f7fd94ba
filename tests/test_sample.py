"""`r1cli sample` on the tiny model: records, finish reasons, token counts, resume, adapters."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_jsonl, run_r1cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def prompts(tmp_path, cli):
    path = tmp_path / "prompts.jsonl"
    assert cli("prepare", "arithmetic", "-n", "6", "--seed", "1", "-o", path).code == 0
    return path


def test_sample_records_grow_and_count_tokens(tmp_path, cli, tiny_model, prompts):
    out = tmp_path / "s.jsonl"
    r = cli("sample", prompts, "-m", tiny_model, "-k", "3", "--max-new-tokens", "12", "-o", out)
    assert r.code == 0, r
    rows = read_jsonl(out)
    source = read_jsonl(prompts)
    assert len(rows) == 18
    assert [(x["id"], x["sample_index"]) for x in rows] == [(p["id"], j) for p in source for j in range(3)]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    for row in rows:
        prompt = next(p for p in source if p["id"] == row["id"])
        assert {k: row[k] for k in prompt} == prompt, "sample must keep every prompt field unchanged"
        assert row["prompt_tokens"] == len(tok(row["prompt"])["input_ids"])
        assert 1 <= row["completion_tokens"] <= 12
        if row["completion_tokens"] < 12:
            assert row["finish_reason"] == "stop"
    assert any(x["finish_reason"] == "length" for x in rows), "a random model rarely ends within 12 tokens"
    manifest = (tmp_path / "s.jsonl.manifest.json").read_text()
    assert '"stage": "sample"' in manifest and '"fingerprint"' in manifest


def test_stop_string_cuts_where_it_first_appears(tmp_path, cli, tiny_model, prompts):
    args = ["sample", prompts, "-m", tiny_model, "-k", "2", "--temperature", "1.0", "--max-new-tokens", "30", "--seed", "3"]
    assert cli(*args, "-o", tmp_path / "free.jsonl").code == 0
    free = read_jsonl(tmp_path / "free.jsonl")
    stop = free[0]["completion"][10]
    r = cli(*args, "--stop", stop, "-o", tmp_path / "stopped.jsonl")
    assert r.code == 0, r
    # Same seed and batches: the tokens before the stop are the same as without it.
    for a, b in zip(free, read_jsonl(tmp_path / "stopped.jsonl")):
        if stop in a["completion"]:
            assert b["completion"] == a["completion"][: a["completion"].index(stop) + len(stop)]
            assert b["finish_reason"] == "stop" and b["completion_tokens"] <= a["completion_tokens"]
        else:
            assert b["completion"] == a["completion"]


def test_greedy_is_deterministic(tmp_path, cli, tiny_model, prompts):
    args = ["sample", prompts, "-m", tiny_model, "-k", "1", "--temperature", "0", "--max-new-tokens", "8"]
    assert cli(*args, "-o", tmp_path / "a.jsonl").code == 0
    assert cli(*args, "--seed", "9", "-o", tmp_path / "b.jsonl").code == 0
    assert [x["completion"] for x in read_jsonl(tmp_path / "a.jsonl")] == [x["completion"] for x in read_jsonl(tmp_path / "b.jsonl")]


def test_same_seed_same_samples(tmp_path, cli, tiny_model, prompts):
    a, b, c = (tmp_path / f"{n}.jsonl" for n in "abc")
    for path, seed in ((a, "5"), (b, "5"), (c, "6")):
        assert cli("sample", prompts, "-m", tiny_model, "-k", "2", "--max-new-tokens", "10", "--seed", seed, "-o", path).code == 0
    text = lambda p: [x["completion"] for x in read_jsonl(p)]  # noqa: E731
    assert text(a) == text(b) and text(a) != text(c)


def test_chat_prompts_need_a_chat_template(tmp_path, cli, tiny_model, tiny_base_model):
    path = tmp_path / "chat.jsonl"
    assert cli("prepare", "arithmetic", "-n", "2", "--template", "chat", "-o", path).code == 0
    r = cli("sample", path, "-m", tiny_base_model, "-o", tmp_path / "x.jsonl")
    assert r.code == 2 and "has no chat template, but the prompts are chat messages" in r.stderr
    assert not (tmp_path / "x.jsonl").exists()
    r = cli("sample", path, "-m", tiny_model, "-k", "1", "--max-new-tokens", "4", "-o", tmp_path / "y.jsonl")
    assert r.code == 0, r
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    row = read_jsonl(tmp_path / "y.jsonl")[0]
    assert row["prompt_tokens"] == len(tok.apply_chat_template(row["prompt"], add_generation_prompt=True)["input_ids"])


def test_base_model_with_r1_zero_template(tmp_path, cli, tiny_base_model, prompts):
    r = cli("sample", prompts, "-m", tiny_base_model, "-k", "1", "--max-new-tokens", "4", "-o", tmp_path / "z.jsonl")
    assert r.code == 0, r


def test_adapter_folder_loads_base_plus_adapter(tmp_path, cli, tiny_model, prompts):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(adapter)
    args = ["-k", "1", "--temperature", "0", "--max-new-tokens", "16"]
    assert cli("sample", prompts, "-m", tiny_model, *args, "-o", tmp_path / "base.jsonl").code == 0
    assert cli("sample", prompts, "-m", adapter, *args, "-o", tmp_path / "a1.jsonl").code == 0
    assert cli("sample", prompts, "-m", tiny_model, "--adapter", adapter, *args, "-o", tmp_path / "a2.jsonl").code == 0
    base, a1, a2 = ([x["completion"] for x in read_jsonl(tmp_path / f"{n}.jsonl")] for n in ("base", "a1", "a2"))
    assert a1 == a2, "an adapter folder and --model base --adapter folder are the same model"
    assert a1 != base, "a non-zero adapter must change greedy outputs"
    r = cli("sample", prompts, "-m", tiny_model, "--adapter", tmp_path, "-o", tmp_path / "bad.jsonl")
    assert r.code == 2 and "not a LoRA adapter folder" in r.stderr


def test_resume_after_sigkill(tmp_path, tiny_model):
    """Kill `sample` mid-run, rerun: exactly N x K unique samples, finished groups untouched."""
    prompts = tmp_path / "p.jsonl"
    assert run_r1cli("prepare", "countdown", "-n", "24", "-o", prompts).code == 0
    out = tmp_path / "s.jsonl"
    partial = tmp_path / "s.jsonl.partial"
    args = [sys.executable, "-m", "r1cli", "sample", str(prompts), "-m", str(tiny_model), "-k", "3",
            "--max-new-tokens", "48", "--batch-size", "1", "-o", str(out)]  # slow enough to be caught mid-run
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if partial.exists() and len(partial.read_text().splitlines()) >= 1 + 3 * 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed run must not leave a finished-looking output"
    before = [json.loads(line) for line in partial.read_text().splitlines()[1:] if line.endswith("}")]
    finished = {x["id"] for x in before if sum(y["id"] == x["id"] for y in before) == 3}
    assert len(finished) >= 4
    r = run_r1cli(*args[3:])
    assert r.code == 0, r
    assert "resuming" in r.stderr
    rows = read_jsonl(out)
    keys = [(x["id"], x["sample_index"]) for x in rows]
    assert len(keys) == 24 * 3 == len(set(keys))
    kept = [x for x in rows if x["id"] in finished]
    assert sorted(kept, key=str) == sorted((x for x in before if x["id"] in finished), key=str), \
        "completed groups must survive the resume unchanged"
    assert not partial.exists()


def test_resume_refuses_changed_settings(tmp_path, cli, tiny_model, prompts):
    out = tmp_path / "s.jsonl"
    from r1cli.artifacts import JsonlOutput

    header = {"stage": "sample", "k": 2}
    with JsonlOutput(out, header=header) as o:
        o.write([])
    r = cli("sample", prompts, "-m", tiny_model, "-k", "2", "-o", out)
    assert r.code == 2 and "unfinished run with different settings" in r.stderr and "--force" in r.stderr
    r = cli("sample", prompts, "-m", tiny_model, "-k", "2", "--max-new-tokens", "4", "-o", out, "--force")
    assert r.code == 0 and len(read_jsonl(out)) == 12


def test_stdout_output_only_data(tmp_path, tiny_model, prompts):
    r = run_r1cli("sample", prompts, "-m", tiny_model, "-k", "2", "--max-new-tokens", "4", "-o", "-")
    assert r.code == 0, r
    rows = r.records()
    assert len(rows) == 12 and all("completion" in x for x in rows)
    assert "sample:" in r.stderr
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["prompts.jsonl", "prompts.jsonl.manifest.json"], \
        "stdout output writes no file and no manifest"
