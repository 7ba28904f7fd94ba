"""`r1cli distill`: both modes move the student toward the teacher, measured on held-out prompts."""

from __future__ import annotations

import json

import pytest

from conftest import write_jsonl

pytestmark = pytest.mark.e2e
FAST = ["--batch-size", "8", "--no-gradient-checkpointing"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_model):
    """A teacher that writes R1-format arithmetic traces: the tiny model fine-tuned on them."""
    from r1cli.commands import sft
    from r1cli.tasks import PromptSource, build_prompts

    folder = tmp_path_factory.mktemp("teacher")
    records, _ = build_prompts(PromptSource(task="arithmetic", n=120, template="plain", option={"digits": 1}))
    for r in records:
        a, b = r["operands"]
        r["completion"] = f"<think> {a} {r['op']} {b} = {r['answer']} </think> <answer> {r['answer']} </answer>"
    data = write_jsonl(folder / "traces.jsonl", records)
    cfg = sft.SftConfig.build(model=str(tiny_model), inputs=[{"path": str(data)}], lora=False, learning_rate=3e-3, epochs=8,
                              batch_size=16, gradient_checkpointing=False)
    sft.run(cfg, str(folder / "model"))
    return folder / "model"


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    from r1cli.tasks import PromptSource, build_prompts

    folder = tmp_path_factory.mktemp("distill-prompts")
    train, _ = build_prompts(PromptSource(task="arithmetic", n=32, template="plain", option={"digits": 1}, seed=1))
    test, _ = build_prompts(PromptSource(task="arithmetic", n=8, template="plain", option={"digits": 1}, split="test"))
    return write_jsonl(folder / "train.jsonl", train), test


def teacher_student_kl(teacher, student, prompts) -> float:
    """Mean per-token KL(teacher || student) over the teacher's greedy answers to held-out prompts."""
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher)
    t_model = AutoModelForCausalLM.from_pretrained(teacher).eval()
    s_path = str(student)
    s_model = (AutoPeftModelForCausalLM if (student / "adapter_config.json").exists() else AutoModelForCausalLM).from_pretrained(s_path).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for p in prompts:
            ids = tok(p["prompt"], return_tensors="pt")["input_ids"]
            seq = t_model.generate(ids, max_new_tokens=20, do_sample=False, pad_token_id=tok.pad_token_id)
            t_logp = torch.log_softmax(t_model(seq).logits[0, ids.shape[1] - 1 : -1], -1)
            s_logp = torch.log_softmax(s_model(seq).logits[0, ids.shape[1] - 1 : -1], -1)
            total += float((t_logp.exp() * (t_logp - s_logp)).sum())
            count += t_logp.shape[0]
    return total / count


def test_sequence_level_keeps_artifacts_and_moves_the_student(tmp_path, cli, tiny_model, teacher, prompts):
    train, test = prompts
    config = tmp_path / "distill.yaml"
    # The teacher's arithmetic is often wrong; its format is right: judge samples by format here.
    config.write_text("# r1cli distill train.jsonl -c distill.yaml -o out\nreject:\n  correct_reward: format\n  dedup: false\n")
    out = tmp_path / "seq"
    r = cli("distill", train, "--teacher", teacher, "--student", tiny_model, "-k", "2", "--max-new-tokens", "30",
            "-r", "format", "--learning-rate", "1e-2", "--max-steps", "12", *FAST, "-c", config, "-o", out)
    assert r.code == 0, r
    for name in ("prompts.jsonl", "teacher_samples.jsonl", "scored.jsonl", "sft_data.jsonl", "student/adapter_model.safetensors", "manifest.json"):
        assert (out / name).exists(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["stats"]["steps"]) == {"sample", "reward", "reject", "sft"}
    before, after = teacher_student_kl(teacher, tiny_model, test), teacher_student_kl(teacher, out / "student", test)
    assert after < 0.7 * before, (before, after)
    r = cli("distill", train, "--teacher", teacher, "--student", tiny_model, "-o", out)
    assert r.code == 2 and "holds a finished run; pass --force" in r.stderr


@pytest.mark.parametrize("on_policy", [True, False], ids=["on-policy", "off-policy"])
def test_token_level_moves_the_student(tmp_path, cli, tiny_model, teacher, prompts, on_policy):
    train, test = prompts
    out = tmp_path / "tok"
    args = ["distill", train, "--teacher", teacher, "--student", tiny_model, "--mode", "token", "-k", "1",
            "--max-new-tokens", "24", "--learning-rate", "1e-2", "--max-steps", "8", *FAST, "-o", out]
    r = cli(*args, *(["--on-policy"] if on_policy else []))
    assert r.code == 0, r
    before, after = teacher_student_kl(teacher, tiny_model, test), teacher_student_kl(teacher, out / "student", test)
    # Measured here: on-policy 7.68 -> 4.80, off-policy 7.68 -> 4.27 (the student's own
    # samples are a noisier training signal than the teacher's, hence the looser bound).
    assert after < 0.8 * before, (before, after)
    assert (out / "teacher_samples.jsonl").exists() is (not on_policy)


def test_token_level_needs_a_shared_tokenizer(tmp_path, cli, tiny_model, prompts):
    other = tmp_path / "other"
    assert cli("tiny-model", other, "--vocab-size", "300").code == 0
    train, _ = prompts
    r = cli("distill", train, "--teacher", other, "--student", tiny_model, "--mode", "token", "-o", tmp_path / "out")
    assert r.code == 2 and "have different tokenizers" in r.stderr and "use --mode sequence" in r.stderr
    assert not (tmp_path / "out").exists(), "refused before anything is written"


def test_distill_flags_checked(tmp_path, cli, tiny_model, prompts):
    train, _ = prompts
    r = cli("distill", train, "--student", tiny_model, "-o", tmp_path / "out")
    assert r.code == 2 and "--teacher (config key 'teacher') is required" in r.stderr
    r = cli("distill", train, "--teacher", tiny_model, "--student", tiny_model, "--on-policy", "-o", tmp_path / "out")
    assert r.code == 2 and "--on-policy (config key 'on_policy') applies to --mode token only" in r.stderr
    config = tmp_path / "bad.yaml"
    config.write_text("reject:\n  keep_best: 2\n")
    r = cli("distill", train, "--teacher", tiny_model, "--student", tiny_model, "-c", config, "-o", tmp_path / "out")
    assert r.code == 2 and "reject.keep_best: unknown key" in r.stderr


def test_a_changed_reject_setting_redoes_what_it_affects(tmp_path, cli, tiny_model, teacher, prompts):
    """Rejection that kept nothing fails; rerun with a loosened `reject:`, the stale empty SFT
    data is made again (the teacher's samples and scores are reused), and the run finishes."""
    train, _ = prompts
    out = tmp_path / "run"
    args = ["distill", train, "--teacher", teacher, "--student", tiny_model, "-k", "2", "--max-new-tokens", "24",
            "-r", "format", "--max-steps", "2", *FAST, "-o", out]
    strict = tmp_path / "strict.yaml"
    strict.write_text("reject:\n  correct_reward: format\n  min_tokens: 100000\n")  # no sample is that long
    r = cli(*args, "-c", strict)
    assert r.code == 2 and "rejection sampling kept no teacher samples" in r.stderr, r
    samples_before = (out / "teacher_samples.jsonl").stat().st_mtime_ns

    loose = tmp_path / "loose.yaml"
    loose.write_text("reject:\n  correct_reward: format\n  dedup: false\n")
    r = cli(*args, "-c", loose)
    assert r.code == 0, r
    assert "sft_data.jsonl was made with other settings (dedup, min_tokens)" in r.stderr
    assert (out / "teacher_samples.jsonl").stat().st_mtime_ns == samples_before, "unaffected artifacts are reused"
    assert (out / "sft_data.jsonl").read_text().strip() and (out / "student" / "manifest.json").exists()
