"""GRPO rollouts through the fast backend (r1cli/rollouts.py) against TRL's own generation.

The trainer is TRL's GRPOTrainer with r1cli's rollout hook, on the session's tiny model, with
LoRA B matrices set to random values (a fresh adapter's B is zero, which would hide a LoRA that
is applied wrongly or not at all) and lora_dropout 0, so that TRL's rollouts (generated in
train mode) and the fast ones (eval mode) sample the same policy. TRL's side is the base
class's `_generate_single_turn` called on the same trainer: the same model, weights, tokens
and settings. Greedy rollouts must be equal token for token; sampled ones are compared with a
chi-square test, as tests/test_backends.py does for `r1cli sample`.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from conftest import read_jsonl
from test_backends import _chi2_pvalue

G = 4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # As in test_backends: the tiny model gains nothing from two threads, and on a busy 2-core
    # machine threads waiting for each other at every op make these tests several times slower.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _trainer(model_path, out, *, lora_dropout=0.0, adapter=None, **settings):
    """The hooked trainer on the tiny model: a new LoRA with random B, or `adapter` (a folder)."""
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from r1cli import rollouts, trl_compat
    from r1cli.models import quiet_transformers

    quiet_transformers()
    GRPOConfig, GRPOTrainer = trl_compat.grpo_classes()
    trainer_class = trl_compat.with_rollout_engine(GRPOTrainer, rollouts.FastRollouts)
    assert trainer_class is not GRPOTrainer, "the hook must fit this TRL"
    args = {"per_device_train_batch_size": 2 * G, "num_generations": G, "max_completion_length": 24, "temperature": 0.8,
            "top_p": 0.95, trl_compat.checkpointing_field(GRPOConfig): False, **settings}
    model, lora = str(model_path), LoraConfig(r=8, lora_alpha=16, lora_dropout=lora_dropout, target_modules="all-linear",
                                              task_type="CAUSAL_LM")
    if adapter is not None:
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_path), adapter, is_trainable=True)
        lora = None
    trainer = trainer_class(
        model=model, reward_funcs=[lambda completions, **kw: [0.0] * len(completions)], peft_config=lora,
        args=GRPOConfig(output_dir=str(out), use_cpu=True, report_to=[], seed=0, disable_tqdm=True, **args),
        train_dataset=Dataset.from_list([{"prompt": "unused"}] * 8), processing_class=AutoTokenizer.from_pretrained(model_path))
    if adapter is None:
        _randomize_lora(trainer.model, seed=0)
    trainer.model.train()  # as during training, when TRL generates
    return trainer


def _randomize_lora(model, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.fixture(scope="module")
def trainer(tiny_model, tmp_path_factory):
    return _trainer(tiny_model, tmp_path_factory.mktemp("grpo"))


def trl_rollouts(trainer, rows):
    from r1cli import trl_compat

    base = trl_compat.grpo_classes()[1]
    return base._generate_single_turn(trainer, rows, None, {}, G)[0]


def fast_rollouts(trainer, rows):
    return trainer._generate_single_turn(rows, None, {}, G)[0]


class settings:
    """Temporarily change the trainer's generation settings (a new config object, as TRL holds one)."""

    def __init__(self, trainer, **changes):
        self.trainer, self.changes = trainer, changes

    def __enter__(self):
        self.saved = self.trainer.generation_config
        config = copy.deepcopy(self.saved)
        for key, value in self.changes.items():
            setattr(config, key, value)
        self.trainer.generation_config = config

    def __exit__(self, *exc):
        self.trainer.generation_config = self.saved


@pytest.fixture(scope="module")
def batch(trainer):
    """A batch as TRL builds it (each prompt G times), plus a prompt that appears twice (2G
    rows) and one that appears once, so rows are grouped by their number of copies."""
    tok = trainer.processing_class
    texts = ["What is 12 + 34?", "the", "Using the numbers [3, 5, 7, 11], create an equation that equals 19.",
             "Let me think step by step.", "A conversation between User and Assistant."]
    ids = [tok(t)["input_ids"] for t in texts]
    return [p for p in ids[:3] for _ in range(G)] + [ids[0]] * G + [ids[3]] + [ids[4]] * G


# -- greedy: token for token ------------------------------------------------------------------
@pytest.mark.e2e
def test_greedy_rollouts_equal_trl(trainer, batch):
    """Rows ending at EOS at different steps and rows cut at the limit: the same ids as TRL's,
    EOS included (TRL keeps a completion up to and including its first EOS)."""
    with settings(trainer, do_sample=False):
        free = trl_rollouts(trainer, batch)
    # More end tokens, taken from the free completions at different places, so that rows end
    # at different steps (and some not at all).
    eos = sorted({*trainer.eos_token_ids, free[0][3], free[G][10], free[2 * G][17]})
    saved = trainer.eos_token_ids
    trainer.eos_token_ids = eos
    try:
        with settings(trainer, do_sample=False, eos_token_id=eos):
            expected = trl_rollouts(trainer, batch)
            assert fast_rollouts(trainer, batch) == expected
    finally:
        trainer.eos_token_ids = saved
    lengths = [len(c) for c in expected]
    assert min(lengths) < 24 and max(lengths) == 24 and len(set(lengths)) > 3, lengths
    assert all(c[-1] in eos for c in expected if len(c) < 24)


@pytest.mark.e2e
def test_a_padding_token_mid_completion_stays_as_in_trl(trainer, batch):
    """`generate` stops rows at EOS only: a sampled padding token (when it is not EOS) stays in
    the completion, and TRL keeps it. Here padding is made a token greedy decoding emits."""
    tok = trainer.processing_class
    with settings(trainer, do_sample=False):
        free = trl_rollouts(trainer, batch)
    pad = Counter(t for c in free for t in c[:-1] if t not in trainer.eos_token_ids).most_common(1)[0][0]
    saved = tok.pad_token_id
    tok.pad_token_id = pad
    try:
        with settings(trainer, do_sample=False, pad_token_id=pad):
            expected = trl_rollouts(trainer, batch)
            assert fast_rollouts(trainer, batch) == expected
    finally:
        tok.pad_token_id = saved
    assert any(pad in c[:-1] for c in expected)


# -- sampled: the same distribution -----------------------------------------------------------
def _counts(rollouts, rows, prompts):
    counts = {tuple(p): Counter() for p in prompts}
    for row, completion in zip(rows, rollouts):
        counts[tuple(row)][tuple(completion)] += 1
    return [counts[tuple(p)] for p in prompts]


@pytest.mark.e2e
@pytest.mark.parametrize("case", [
    # r1cli's defaults; the wrong sampler is a hotter one.
    {"same": {"temperature": 0.8, "top_p": 0.95}, "other": {"temperature": 1.0, "top_p": 0.95}},
    # TRL's top-k, before the nucleus; the wrong sampler keeps more tokens.
    {"same": {"temperature": 1.0, "top_p": 0.9, "top_k": 4}, "other": {"temperature": 1.0, "top_p": 0.9, "top_k": 6}},
])
def test_sampled_rollouts_have_trl_distribution(trainer, case):
    """The first two tokens of 1,600 rollouts per prompt from each side: a chi-square test must
    not tell them apart (p > 1e-4; seeds are fixed, so the outcome does not flake), while the
    same test does tell TRL's from the fast sampler at other settings, so it has the power to
    catch a wrong sampler."""
    import torch

    tok = trainer.processing_class
    prompts = [tok(t)["input_ids"] for t in ("What is 12 + 34?", "the answer is", "Let me think")]
    rows = [p for p in prompts for _ in range(1600)]
    torch.manual_seed(1)
    with settings(trainer, max_new_tokens=2, **case["same"]):
        reference = _counts(trl_rollouts(trainer, rows), rows, prompts)
        same = _counts(fast_rollouts(trainer, rows), rows, prompts)
    with settings(trainer, max_new_tokens=2, **case["other"]):
        other = _counts(fast_rollouts(trainer, rows), rows, prompts)
    for ref, got, wrong in zip(reference, same, other):
        assert _chi2_pvalue(ref, got) > 1e-4
        assert _chi2_pvalue(ref, wrong) < 1e-6


def test_top_k_keeps_what_transformers_keeps():
    """The fast sampler with top-k then top-p draws only tokens that transformers' TopK and
    TopP warpers keep, and top-k 1 is argmax at any temperature."""
    import torch
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    from r1cli.backends import SamplingParams
    from r1cli.backends.fast import _mix, _row_keys, _sample

    torch.manual_seed(0)
    logits = torch.randn(32, 300) * torch.linspace(0.5, 4, 32)[:, None]
    params = SamplingParams(temperature=0.7, top_p=0.9)
    kept = TopPLogitsWarper(0.9)(None, TopKLogitsWarper(5)(None, logits / 0.7)) > float("-inf")
    keys = _row_keys(3, 32, "cpu")
    drawn = torch.stack([_sample(logits, params, _mix(keys + step), top_k=5) for step in range(200)], dim=1)
    assert bool(kept.gather(1, drawn).all())
    assert (kept.sum(1) > 1).any() and len(set(drawn[0].tolist())) > 1, "a test of choice, not of argmax"
    assert torch.equal(_sample(logits, SamplingParams(temperature=1.5, top_p=1.0), _mix(keys), top_k=1), logits.argmax(-1))


# -- the model between rollouts: weights, modes, LoRA -----------------------------------------
@pytest.mark.e2e
def test_rollouts_leave_the_model_as_training_needs_it(tiny_model, tmp_path):
    """With LoRA dropout on and gradient checkpointing: rollouts run in eval mode (greedy output
    is deterministic and equals TRL's in eval mode), every module keeps its mode, structure,
    weights and requires_grad, checkpointing stays on, and once the LoRA weights change the
    next rollout uses the new ones (nothing merged is kept from the step before)."""
    import torch

    trainer = _trainer(tiny_model, tmp_path, lora_dropout=0.3)
    model = trainer.model
    # transformers 5.24 renamed gradient to activation checkpointing (the old names warn).
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable()
    else:
        model.gradient_checkpointing_enable()

    def checkpointing():
        return getattr(model, "is_activation_checkpointing", None) or model.is_gradient_checkpointing

    tok = trainer.processing_class
    rows = [tok(t)["input_ids"] for t in ("What is 12 + 34?", "the")] * G
    modules = dict(model.named_modules())
    params = {n: (p.detach().clone(), p.requires_grad) for n, p in model.named_parameters()}
    assert checkpointing() and all(m.training for m in modules.values())

    with settings(trainer, do_sample=False):
        first = fast_rollouts(trainer, rows)
        assert fast_rollouts(trainer, rows) == first, "dropout must be off in rollouts"
        model.eval()
        assert trl_rollouts(trainer, rows) == first
        model.train()

        assert dict(model.named_modules()) == modules and all(m.training for m in modules.values())
        assert checkpointing()
        for n, p in model.named_parameters():
            assert torch.equal(p, params[n][0]) and p.requires_grad == params[n][1], n

        _randomize_lora(model, seed=1)  # as an optimizer step would change them
        second = fast_rollouts(trainer, rows)
        assert second != first
        model.eval()
        assert trl_rollouts(trainer, rows) == second
        model.train()


# -- what the fast sampler does not do goes to TRL --------------------------------------------
def test_unsupported_settings_are_named():
    from transformers import GenerationConfig

    from r1cli.rollouts import unsupported

    base = dict(do_sample=True, temperature=0.8, top_p=0.95, top_k=0, max_new_tokens=16, eos_token_id=[2])
    assert unsupported(GenerationConfig(**base), [2]) is None
    for change, word in [({"repetition_penalty": 1.2}, "repetition_penalty"), ({"min_p": 0.1}, "min_p"),
                         ({"num_beams": 2}, "num_beams"), ({"eos_token_id": [2, 7]}, "TRL ends")]:
        assert word in unsupported(GenerationConfig(**{**base, **change}), [2])


@pytest.mark.e2e
def test_unsupported_settings_and_models_fall_back_to_trl(trainer, batch, capsys):
    """A repetition penalty, or a model the fast backend cannot drive: TRL's own generation
    runs, so the rollouts are exactly TRL's for the same torch seed, and a warning says why."""
    import torch

    with settings(trainer, repetition_penalty=1.3):
        torch.manual_seed(5)
        expected = trl_rollouts(trainer, batch)
        torch.manual_seed(5)
        assert fast_rollouts(trainer, batch) == expected
    assert "repetition_penalty=1.3" in capsys.readouterr().err

    fast_rollouts(trainer, batch)  # the engine and its backend exist from here on
    backend = trainer._r1cli_engine.backend
    backend.unsupported = "attention implementation 'flash_attention_2' is not supported"
    try:
        torch.manual_seed(6)
        expected = trl_rollouts(trainer, batch)
        torch.manual_seed(6)
        assert fast_rollouts(trainer, batch) == expected
    finally:
        backend.unsupported = None
    assert "these rollouts use TRL's generation" in capsys.readouterr().err


# -- the config field and the choice ----------------------------------------------------------
def test_rollout_choice_and_validation():
    import importlib.util

    from r1cli.commands.grpo import GrpoConfig
    from r1cli.config import ConfigError
    from r1cli.rollouts import choose

    assert choose("auto", "cpu", use_vllm=False) == "fast"
    assert choose("auto", "cuda", use_vllm=False) == "trl", "fast stays opt-in on CUDA until measured on a GPU"
    assert choose("auto", "mps", use_vllm=False) == "trl"
    assert choose("auto", "cuda", use_vllm=True) == "vllm"
    assert choose("trl", "cpu", use_vllm=False) == "trl" and choose("fast", "cuda", use_vllm=False) == "fast"

    assert GrpoConfig.build(model="m").rollout == "auto"
    with pytest.raises(ConfigError, match="rollout"):
        GrpoConfig.build(model="m", rollout="turbo")
    with pytest.raises(ConfigError, match="use rollout: vllm"):
        GrpoConfig.build(model="m", rollout="fast", use_vllm=True)
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ConfigError, match="vLLM is not installed"):
            GrpoConfig.build(model="m", rollout="vllm")
    else:
        assert GrpoConfig.build(model="m", rollout="vllm").use_vllm


# -- training: the same reward curve ----------------------------------------------------------
@pytest.mark.e2e
def test_fast_rollouts_train_like_trl(tmp_path, cli, tiny_model):
    """`r1cli grpo` with rollout: fast and with rollout: trl, 20 steps on the digits reward, 6
    seeds each, lora_dropout 0 (TRL generates in train mode, the fast path in eval mode: only
    without dropout are the two the same policy). Both must learn, their mean reward over
    steps 11-20 and seeds must agree within the seed-to-seed noise, and at the final weights
    of one run the two engines' rollouts must score the same.

    The runs differ only in who samples, so only in the random numbers; but the step at which
    a run's reward takes off varies by several steps from seed to seed either way. Calibration
    (this setup, 12 seeds a side; benchmarks/RESULTS.md, "GRPO rollouts through the fast
    backend"): a seed's mean over steps 11-20 has a spread (std) of about 0.3, so the mean of 6
    has a standard error of 0.12 a side and the difference one of 0.17; the margin is 2 of those."""
    import statistics

    import torch

    from conftest import write_jsonl
    from rewards_for_tests import digits
    from r1cli.tasks import PromptSource, build_prompts

    train, _ = build_prompts(PromptSource(task="arithmetic", n=64, template="plain", split="train"))
    prompts = write_jsonl(tmp_path / "train.jsonl", train)
    curves: dict[str, list[list[float]]] = {"trl": [], "fast": []}
    for seed in range(6):
        for rollout in curves:
            config = tmp_path / f"{rollout}.yaml"
            config.write_text(f"rollout: {rollout}\nlora_dropout: 0.0\n")
            r = cli("grpo", prompts, "-m", tiny_model, "-c", config, "-r", "rewards_for_tests:digits", "-G", "4",
                    "--batch-size", "16", "--max-completion-length", "16", "--learning-rate", "3e-2", "--beta", "0.04",
                    "--max-steps", "20", "--save-steps", "1000", "--seed", str(seed), "-o", tmp_path / f"{rollout}-{seed}")
            assert r.code == 0, r
            metrics = read_jsonl(tmp_path / f"{rollout}-{seed}" / "metrics.jsonl")
            curves[rollout].append([m["reward"] for m in metrics if "reward" in m])
    early = {k: statistics.mean(statistics.mean(c[:5]) for c in v) for k, v in curves.items()}
    late = {k: statistics.mean(statistics.mean(c[10:]) for c in v) for k, v in curves.items()}
    assert all(late[k] > early[k] + 0.15 for k in late), (early, late)
    assert abs(late["fast"] - late["trl"]) < 0.35, (late, json.dumps(curves))

    # The trl run that ended nearest a reward of 0.5 (neither untrained nor saturated): 1,600
    # rollouts of its final policy from each engine. The mean reward's standard error is under
    # 0.01 a side. When written, the two scored 0.576 and 0.583, and fast rollouts at temperature
    # 1.0 instead of 0.8 scored 0.536: caught. Finer errors are the chi-square tests' to catch.
    seed = min(range(6), key=lambda s: abs(curves["trl"][s][-1] - 0.5))
    trainer = _trainer(tiny_model, tmp_path / "check", adapter=tmp_path / f"trl-{seed}", max_completion_length=16)
    tok = trainer.processing_class
    rows = [tok(r["prompt"])["input_ids"] for r in train[:4] for _ in range(400)]
    torch.manual_seed(0)
    scores = {name: statistics.mean(digits(tok.batch_decode(generate(trainer, rows), skip_special_tokens=True)))
              for name, generate in (("trl", trl_rollouts), ("fast", fast_rollouts))}
    assert 0.05 < scores["trl"] < 0.95 and abs(scores["fast"] - scores["trl"]) < 0.04, scores
