"""`r1cli sft` and `r1cli merge` on the tiny model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import kill_after_checkpoint, read_jsonl, write_jsonl
from r1cli.commands.sft import to_example
from r1cli.errors import DataError

pytestmark = pytest.mark.e2e
FAST = ["--batch-size", "16", "--no-gradient-checkpointing"]


def _traces(split: str, n: int) -> list[dict]:
    """Arithmetic prompts with a correct R1-format trace as the completion."""
    from r1cli.tasks import PromptSource, build_prompts

    records, _ = build_prompts(PromptSource(task="arithmetic", n=n, split=split, template="plain", option={"digits": 1}))
    for r in records:
        a, b = r["operands"]
        r["completion"] = f"<think> {a} {r['op']} {b} = {r['answer']} </think> <answer> {r['answer']} </answer>"
    return records


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sft-data")
    return write_jsonl(folder / "train.jsonl", _traces("train", 120)), write_jsonl(folder / "test.jsonl", _traces("test", 10))


def test_sft_lowers_held_out_loss_and_teaches_the_format(tmp_path, cli, tiny_model, data):
    train, test = data
    out = tmp_path / "sft"
    r = cli("sft", train, "-m", tiny_model, "--eval-data", test, "--full", "--learning-rate", "3e-3", "--epochs", "8", *FAST, "-o", out)
    assert r.code == 0, r
    manifest = json.loads((out / "manifest.json").read_text())
    before, after = manifest["stats"]["eval_loss_before"], manifest["stats"]["eval_loss_after"]
    assert after < before - 3, (before, after)
    assert (out / "model.safetensors").exists(), "--full saves a whole model"
    samples, scored = tmp_path / "s.jsonl", tmp_path / "scored.jsonl"
    assert cli("sample", test, "-m", out, "-k", "1", "--temperature", "0", "--max-new-tokens", "40", "-o", samples).code == 0
    assert cli("reward", samples, "-r", "format", "-o", scored).code == 0
    rows = read_jsonl(scored)
    assert sum(x["rewards"]["format"] for x in rows) / len(rows) >= 0.8, [x["completion"] for x in rows]
    # The end-of-sequence token was part of every target: the model stops by itself.
    assert sum(x["finish_reason"] == "stop" for x in rows) >= 8


def test_lora_sft_and_merge_give_the_same_logits(tmp_path, cli, tiny_model, data):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    train, _ = data
    out = tmp_path / "lora"
    assert cli("sft", train, "-m", tiny_model, "--learning-rate", "1e-2", "--max-steps", "6", *FAST, "-o", out).code == 0
    assert (out / "adapter_model.safetensors").exists()
    merged = tmp_path / "merged"
    r = cli("merge", out, "-o", merged)
    assert r.code == 0, r
    assert json.loads((merged / "manifest.json").read_text())["stage"] == "merge"
    ids = torch.tensor([[7, 3, 99, 41, 5]])
    with torch.no_grad():
        expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out)(ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged)(ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model)(ids).logits
    assert torch.allclose(expected, got, atol=1e-5)
    assert not torch.allclose(base, got, atol=1e-3)
    assert cli("merge", out, "-o", merged).code == 2, "an existing output is refused"
    r = cli("merge", tiny_model, "-o", tmp_path / "x")
    assert r.code == 2 and "not a LoRA adapter folder" in r.stderr


def test_inputs_mix_by_weight(tmp_path, cli, tiny_model, data):
    train, test = data
    out = tmp_path / "mix"
    r = cli("sft", train, test, "--weight", "0.5", "--weight", "2", "-m", tiny_model, "--max-steps", "1", *FAST, "-o", out)
    assert r.code == 0, r
    counts = json.loads((out / "manifest.json").read_text())["stats"]["examples_per_input"]
    assert counts == {str(train): 60, str(test): 20}


def test_chat_messages_and_packing(tmp_path, cli, tiny_model, tiny_base_model):
    rows = [{"messages": [{"role": "user", "content": f"Say {i}."}, {"role": "assistant", "content": f"{i}"}]} for i in range(16)]
    path = write_jsonl(tmp_path / "chat.jsonl", rows)
    r = cli("sft", path, "-m", tiny_model, "--max-steps", "2", "--packing", *FAST, "-o", tmp_path / "out")
    assert r.code == 0, r
    r = cli("sft", path, "-m", tiny_base_model, "--max-steps", "2", *FAST, "-o", tmp_path / "out2")
    assert r.code == 2 and "has no chat template, but the SFT data are chat messages" in r.stderr


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"prompt": "q", "completion": "a"}, {"prompt": "q", "completion": "a"}),
        ({"prompt": "q", "completion": "a", "sft_target": "t"}, {"prompt": "q", "completion": "t"}),
        # a task's own `target` (Countdown's goal number) is never training text
        ({"prompt": "q", "completion": "a", "target": 24}, {"prompt": "q", "completion": "a"}),
        ({"prompt": [{"role": "user", "content": "q"}], "completion": "a"},
         {"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
         {"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}),
    ],
)
def test_record_to_example(record, expected):
    assert to_example(record, "x:1") == expected


@pytest.mark.parametrize(
    "record, message",
    [
        ({"completion": "a"}, "field 'prompt': missing"),
        ({"prompt": "q"}, "field 'completion': missing"),
        ({"prompt": "q", "completion": ""}, "field 'completion': must be a non-empty string"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "a"}]}, "the last message must be the assistant's"),
        ({"messages": "hi"}, "field 'messages': must be a list"),
    ],
)
def test_bad_sft_records(record, message):
    with pytest.raises(DataError, match=message):
        to_example(record, "x:1")


def test_mixed_prompt_kinds_refused(tmp_path, cli, tiny_model):
    path = write_jsonl(tmp_path / "mixed.jsonl", [{"prompt": "q", "completion": "a"},
                                                  {"prompt": [{"role": "user", "content": "q"}], "completion": "a"}])
    r = cli("sft", path, "-m", tiny_model, *FAST, "-o", tmp_path / "out")
    assert r.code == 2 and "mixed.jsonl:2: field 'prompt': mixes text prompts and chat messages" in r.stderr
    assert not (tmp_path / "out").exists()


def test_sft_resume_after_kill_matches_uninterrupted_run(tmp_path, tiny_model, data):
    from safetensors.torch import load_file

    train, _ = data
    args = [sys.executable, "-m", "r1cli", "sft", str(train), "-m", str(tiny_model), "--learning-rate", "1e-2",
            "--max-steps", "12", "--save-steps", "4", *FAST]
    full = subprocess.run([*args, "-o", str(tmp_path / "full")], capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr
    out = tmp_path / "cut"
    kill_after_checkpoint(args, out, 4)
    resumed = subprocess.run([*args, "-o", str(out), "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(tmp_path / "full" / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


def test_countdown_records_train_on_their_text_never_on_the_goal_number(tmp_path, cli, tiny_model):
    """Countdown's `target` is the goal number: reward -> reject --keep best -> sft works on its
    records, and prepare --targets adds an SFT text without touching `target`."""
    prompts = tmp_path / "p.jsonl"
    assert cli("prepare", "countdown", "-n", "4", "--targets", "-o", prompts).code == 0
    rows = read_jsonl(prompts)
    assert all(isinstance(r["target"], int) and r["sft_target"].startswith("<think>") for r in rows)
    # The reference targets are right answers by the task's own reward.
    samples = write_jsonl(tmp_path / "s.jsonl", [
        {**r, "sample_index": 0, "completion": r["sft_target"], "finish_reason": "stop", "prompt_tokens": 1, "completion_tokens": 1}
        for r in rows])
    scored = tmp_path / "scored.jsonl"
    assert cli("reward", samples, "-r", "countdown", "-o", scored).code == 0
    assert [r["rewards"]["countdown"] for r in read_jsonl(scored)] == [1.0] * 4
    kept = tmp_path / "kept.jsonl"
    assert cli("reject", scored, "--keep", "best", "-o", kept).code == 0
    r = cli("sft", kept, "-m", tiny_model, "--max-steps", "1", *FAST, "-o", tmp_path / "run")
    assert r.code == 0, r
