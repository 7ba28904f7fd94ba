"""`r1cli grpo` on the tiny model: it optimises, keeps the base, resumes exactly, runs distributed,
and refuses bad settings before any model loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import kill_after_checkpoint, REPO, read_jsonl, write_jsonl

pytestmark = pytest.mark.e2e

TESTS = Path(__file__).resolve().parent
# The user-defined reward in tests/rewards_for_tests.py must be importable in subprocesses too.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))}
FAST = ["-r", "rewards_for_tests:digits", "-G", "4", "--batch-size", "16", "--max-completion-length", "16"]


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    from r1cli.tasks import PromptSource, build_prompts

    folder = tmp_path_factory.mktemp("prompts")
    train, _ = build_prompts(PromptSource(task="arithmetic", n=64, template="plain", split="train"))
    test, _ = build_prompts(PromptSource(task="arithmetic", n=16, template="plain", split="test"))
    return write_jsonl(folder / "train.jsonl", train), write_jsonl(folder / "test.jsonl", test)


def _held_out_reward(cli, model, test_prompts, tmp_path, name) -> float:
    samples = tmp_path / f"{name}.jsonl"
    assert cli("sample", test_prompts, "-m", model, "-k", "4", "--temperature", "1.0", "--top-p", "1.0",
               "--max-new-tokens", "16", "--seed", "7", "-o", samples).code == 0
    scored = tmp_path / f"{name}.scored.jsonl"
    assert cli("reward", samples, "-r", "rewards_for_tests:digits", "-o", scored).code == 0
    rows = read_jsonl(scored)
    return sum(r["reward"] for r in rows) / len(rows)


def test_grpo_raises_held_out_reward(tmp_path, cli, tiny_model, prompts):
    train, test = prompts
    before = _held_out_reward(cli, tiny_model, test, tmp_path, "before")
    out = tmp_path / "run"
    r = cli("grpo", train, "-m", tiny_model, *FAST, "--learning-rate", "3e-2", "--max-steps", "40", "--beta", "0.04",
            "--save-steps", "20", "-o", out)
    assert r.code == 0, r
    after = _held_out_reward(cli, out, test, tmp_path, "after")
    # A random model writes digits in ~1% of characters; the reward is all it is trained on.
    assert before < 0.1 and after > before + 0.3, (before, after)

    metrics = [m for m in read_jsonl(out / "metrics.jsonl") if "reward" in m]
    assert [m["step"] for m in metrics] == list(range(1, 41))
    for key in ("rewards/rewards_for_tests:digits/mean", "rewards/rewards_for_tests:digits/std", "kl", "entropy", "completions/mean_length",
                "completions/clipped_ratio", "clip_ratio/region_mean", "frac_reward_zero_std", "step_time"):
        assert key in metrics[-1], key
    # beta > 0: the KL to the reference becomes positive once the policy has moved.
    assert metrics[0]["kl"] == pytest.approx(0.0, abs=1e-6) and max(m["kl"] for m in metrics[1:]) > 0
    samples = read_jsonl(out / "samples.jsonl")
    assert samples and {"step", "prompt", "completion", "rewards", "advantage"} <= set(samples[0])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "grpo" and manifest["stats"]["steps"] == 40
    assert manifest["config"]["rewards"] == [{"name": "rewards_for_tests:digits", "weight": 1.0}]
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "r1cli_run.json"} <= {p.name for p in out.iterdir()}


def test_reference_is_the_adapter_disabled_base(tmp_path, cli, tiny_model, prompts):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    train, _ = prompts
    out = tmp_path / "run"
    r = cli("grpo", train, "-m", tiny_model, *FAST, "--learning-rate", "3e-2", "--max-steps", "6", "--beta", "0.1",
            "--save-steps", "6", "--merge", "-o", out)
    assert r.code == 0, r
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out)
    ids = torch.tensor([[5, 17, 42, 99, 3, 250]])
    with torch.no_grad():
        base_logits = base(ids).logits
        with tuned.disable_adapter():
            ref_logits = tuned(ids).logits
        tuned_logits = tuned(ids).logits
    assert torch.equal(base_logits, ref_logits), "LoRA training must leave the base weights untouched"
    assert not torch.allclose(base_logits, tuned_logits, atol=1e-4), "the adapter must have learned something"
    merged = AutoModelForCausalLM.from_pretrained(out / "merged")
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, tuned_logits, atol=1e-4)


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, tiny_model, prompts):
    from safetensors.torch import load_file

    train, _ = prompts
    args = [sys.executable, "-m", "r1cli", "grpo", str(train), "-m", str(tiny_model), *FAST,
            "--learning-rate", "3e-2", "--max-steps", "12", "--save-steps", "4"]
    full = subprocess.run([*args, "-o", str(tmp_path / "full")], env=ENV, capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr
    out = tmp_path / "cut"
    kill_after_checkpoint(args, out, 4, env=ENV)
    assert not (out / "manifest.json").exists()
    # A half-written newer checkpoint must be skipped.
    (out / "checkpoint-8").mkdir(exist_ok=True)
    refused = subprocess.run([*args, "-o", str(out)], env=ENV, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "pass --resume" in refused.stderr
    resumed = subprocess.run([*args, "-o", str(out), "--resume"], env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "checkpoint-4" in resumed.stderr and "incomplete checkpoint" in resumed.stderr
    a = load_file(tmp_path / "full" / "adapter_model.safetensors")
    b = load_file(out / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff < 1e-5, diff
    steps = [m["step"] for m in read_jsonl(out / "metrics.jsonl") if "reward" in m]
    assert steps == list(range(1, 13)), "metrics of the re-trained steps must not be duplicated"


def test_resume_refuses_another_model(tmp_path, cli, tiny_model, tiny_base_model, prompts):
    train, _ = prompts
    out = tmp_path / "run"
    out.mkdir()
    (out / "r1cli_run.json").write_text(json.dumps({"stage": "grpo", "model": {"base": "elsewhere"}}))
    r = cli("grpo", train, "-m", tiny_model, *FAST, "--max-steps", "2", "-o", out, "--resume")
    assert r.code == 2 and "different model or LoRA setup" in r.stderr


def test_two_processes_on_cpu(tmp_path, tiny_model, prompts):
    """The distributed path (torchrun on gloo) gives the same artifacts as one process."""
    from safetensors.torch import load_file

    train, _ = prompts
    common = [str(train), "-m", str(tiny_model), *FAST[:4], "--batch-size", "8", *FAST[6:], "--max-steps", "4", "--save-steps", "2"]
    assert FAST[4:6] == ["--batch-size", "16"]
    one = subprocess.run([sys.executable, "-m", "r1cli", "-q", "grpo", *common, "-o", str(tmp_path / "one")],
                         env=ENV, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "r1cli", "-q", "grpo",
                          *common, "-o", str(tmp_path / "two")], env=ENV, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert two.returncode == 0, two.stderr
    files = lambda p: sorted(x.name for x in p.iterdir())  # noqa: E731
    assert files(tmp_path / "one") == files(tmp_path / "two")
    a, b = load_file(tmp_path / "one" / "adapter_model.safetensors"), load_file(tmp_path / "two" / "adapter_model.safetensors")
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["world_size"] == 2
    assert [m["step"] for m in read_jsonl(tmp_path / "two" / "metrics.jsonl") if "reward" in m] == [1, 2, 3, 4]


def test_starts_from_an_adapter_and_continues_it(tmp_path, cli, tiny_model, prompts):
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train, _ = prompts
    torch.manual_seed(0)
    sft = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    start = tmp_path / "sft"
    sft.save_pretrained(start)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(start)
    out = tmp_path / "rl"
    r = cli("grpo", train, "-m", start, *FAST, "--learning-rate", "1e-2", "--max-steps", "3", "--save-steps", "3", "--beta", "0.1", "-o", out)
    assert r.code == 0, r
    before, after = load_file(start / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert before.keys() == after.keys(), "the SFT adapter is trained further, not replaced"
    assert any(not torch.equal(before[k], after[k]) for k in before)
    config = json.loads((out / "adapter_config.json").read_text())
    assert Path(config["base_model_name_or_path"]) == Path(tiny_model).resolve()
    assert all("kl" in m for m in read_jsonl(out / "metrics.jsonl") if "reward" in m)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--batch-size", "6"], "--batch-size 6 x 1 process(es) x --gradient-accumulation-steps 1 = 6 completions per generation batch, not divisible by --num-generations 4"),
        (["--epsilon", "0.2", "--epsilon-high", "0.1"], "--epsilon-high (config key 'epsilon_high') must be >= --epsilon"),
        (["--loss-type", "ppo"], "--loss-type (config key 'loss_type') must be one of grpo, dr_grpo, dapo"),
        (["--full", "--merge"], "--merge (config key 'merge') applies to LoRA training only"),
        (["--loss-type", "luspo"], "--loss-type luspo needs trl.importance_sampling_level: sequence"),
        (["--use-vllm"], "--use-vllm: vLLM is not installed"),
        (["--trl", "learning_rate=0.1"], "trl.learning_rate: r1cli sets it from --learning-rate"),
        (["--trl", "gradient_checkpointing=false"], "trl.gradient_checkpointing: r1cli sets it from --gradient-checkpointing"),
        (["--trl", "num_generation=3"], "trl.num_generation: not an option of TRL's GRPOConfig; did you mean num_generations"),
        (["-r", "countdown"], "field 'numbers' missing; reward 'countdown' needs it"),
        (["-r", "nosuch"], "unknown reward 'nosuch'"),
        (["-G", "1"], "--num-generations (config key 'num_generations') must be at least 2"),
    ],
)
def test_preflight_errors(tmp_path, cli, tiny_model, prompts, extra, message):
    train, _ = prompts
    args = ["grpo", train, "-m", tiny_model, *FAST, "--max-steps", "1", *extra, "-o", tmp_path / "out"]
    if extra[:1] == ["-r"]:
        args = ["grpo", train, "-m", tiny_model, "-G", "4", "--batch-size", "16", *extra, "-o", tmp_path / "out"]
    r = cli(*args)
    assert r.code == 2, r
    assert message in r.stderr, r.stderr
    assert not (tmp_path / "out").exists(), "nothing may be written when the settings are refused"


def test_preflight_config_file_and_chat_template(tmp_path, cli, tiny_model, tiny_base_model, prompts):
    train, _ = prompts
    config = tmp_path / "grpo.yaml"
    config.write_text("# r1cli grpo train.jsonl -c grpo.yaml -o out\nmodel: m\nnum_generation: 4\n")
    r = cli("grpo", train, "-c", config, "-o", tmp_path / "out")
    assert r.code == 2 and "unknown key 'num_generation' (did you mean 'num_generations'?); valid keys: model" in r.stderr
    chat = tmp_path / "chat.jsonl"
    assert cli("prepare", "arithmetic", "-n", "4", "--template", "chat", "-o", chat).code == 0
    r = cli("grpo", chat, "-m", tiny_base_model, *FAST, "-o", tmp_path / "out")
    assert r.code == 2 and "has no chat template, but the prompts are chat messages" in r.stderr
    r = cli("grpo", "-m", tiny_model, *FAST, "-o", tmp_path / "out", input="")
    assert r.code == 2 and "no records" in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_failing_reward_scores_null_and_the_run_goes_on(tmp_path, cli, tiny_model, prompts):
    """A user's reward that returns infinity, and one that raises whenever a batch holds a
    completion with a '1' in it: those completions score null, the others keep their scores, the
    run trains to the end, each reward warns once, and the manifest counts the failures."""
    train, _ = prompts
    (tmp_path / "bad_reward.py").write_text(
        "def inf(completions, **kw):\n    return [float('inf')] * len(completions)\n"
        "def picky(completions, **kw):\n"
        "    if any('1' in c for c in completions):\n        raise ValueError('no ones')\n"
        "    return [1.0] * len(completions)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        r = cli("grpo", train, "-m", tiny_model, *FAST, "-r", "bad_reward:inf", "-r", "bad_reward:picky", "--max-steps", "2",
                "-o", tmp_path / "out")
    finally:
        sys.path.remove(str(tmp_path))
    assert r.code == 0, r
    assert r.stderr.count("warning: reward 'bad_reward:inf': returned a non-finite score (inf)") == 1, r.stderr
    assert r.stderr.count("warning: reward 'bad_reward:picky'") <= 1
    failures = json.loads((tmp_path / "out" / "manifest.json").read_text())["stats"]["reward_failures"]
    assert failures["bad_reward:inf"] == 2 * 16, "every completion of both steps"
    assert failures.get("bad_reward:picky", 0) <= 2 * 16


def test_task_prompts_and_existing_output(tmp_path, cli, tiny_model):
    out = tmp_path / "run"
    r = cli("grpo", "--task", "countdown", "-n", "8", "-m", tiny_model, "-G", "4", "--batch-size", "8",
            "--max-completion-length", "8", "--max-steps", "2", "-o", out)
    assert r.code == 0, r
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["rewards"] == [{"name": "countdown", "weight": 1.0}], "the task's default reward"
    r = cli("grpo", "--task", "countdown", "-n", "8", "-m", tiny_model, "-G", "4", "--batch-size", "8", "-o", out)
    assert r.code == 2 and "holds a finished run; pass --force" in r.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    r = cli("grpo", "--task", "countdown", "-m", tiny_model, "-G", "4", "--batch-size", "8", "-o", tmp_path / "mine", "--force")
    assert r.code == 2 and "not an r1cli output folder (no manifest.json or r1cli_run.json); r1cli never replaces it" in r.stderr
    assert (tmp_path / "mine" / "notes.txt").exists()
