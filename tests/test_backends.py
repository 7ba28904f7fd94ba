"""Sampling backends: the fast backend against the plain one (same records, same distribution),
and the `--backend` choice.

The model is the session's tiny Qwen2 (random weights, so completions are byte soup: a good
stress test for stop strings and token counts). Greedy outputs must be identical record for
record; sampled outputs are compared statistically (the backends use different random streams).
"""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from conftest import read_jsonl, run_r1cli

from r1cli.backends import BACKENDS, SamplingParams, choose

MODES = ["eager", "static"]  # static: the fixed-shape decoding that CUDA graphs replay, run uncaptured here


@pytest.fixture(scope="module")
def loaded(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from r1cli.models import quiet_transformers

    quiet_transformers()
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    # One thread: the tiny model gains nothing from two, and on a busy 2-core CI machine
    # threads waiting for each other at every op made these tests several times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield model, tok
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def plain(loaded):
    from r1cli.backends.plain import PlainBackend

    return PlainBackend(*loaded)


@pytest.fixture(scope="module", params=MODES)
def fast(request, loaded):
    from r1cli.backends.fast import FastBackend

    backend = FastBackend(*loaded, static=request.param == "static")
    yield backend
    # A fallback to plain would make every comparison here pass without testing anything.
    assert backend.unsupported is None, backend.unsupported


@pytest.fixture(scope="module")
def ragged(loaded):
    """Prompts of very different lengths (several prefill buckets), deliberately unsorted."""
    tok = loaded[1]
    texts = [
        "Using the numbers [3, 5, 7, 11], create an equation that equals 19. Show your work in <think> </think> tags, "
        "and give the final equation in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.",
        "What is 12 + 34?",
        "the",
        "Let me think step by step. What is 7 * 8 - 3?",
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it.",
    ]
    return [tok(t)["input_ids"] for t in texts]


GREEDY = SamplingParams(k=1, temperature=0.0, top_p=1.0, max_new_tokens=40)


# -- same records as plain --------------------------------------------------------------------
@pytest.mark.e2e
def test_greedy_equals_plain_on_ragged_prompts(plain, fast, ragged):
    expected = plain.generate(ragged, GREEDY, seed=0)
    assert fast.generate(ragged, GREEDY, seed=0) == expected
    assert fast.generate(ragged, GREEDY, seed=123) == expected, "greedy ignores the seed"
    assert "length" in {g[0].finish_reason for g in expected}


@pytest.mark.e2e
def test_greedy_with_stop_strings_equals_plain(plain, fast, ragged):
    free = plain.generate(ragged, GREEDY, seed=0)
    # Stop strings taken from the completions themselves, so several rows stop, at different tokens.
    stops = (free[0][0].text[6:8], free[3][0].text[12:14])
    params = SamplingParams(k=1, temperature=0.0, top_p=1.0, max_new_tokens=40, stop=stops)
    expected = plain.generate(ragged, params, seed=0)
    got = fast.generate(ragged, params, seed=0)
    assert got == expected
    reasons = [g[0].finish_reason for g in got]
    assert "stop" in reasons and "length" in reasons, reasons
    for g, f in zip(got, free):
        if g[0].finish_reason == "stop":
            assert g[0].completion_tokens < 40 and any(g[0].text.endswith(s) for s in stops)
            assert f[0].text.startswith(g[0].text)


@pytest.mark.e2e
def test_greedy_with_eos_equals_plain(loaded, fast, ragged):
    """Rows ending at EOS at different steps: token counts include the EOS, the text does not,
    and ended rows leave the eager batch without changing anyone's output."""
    from r1cli.backends.plain import PlainBackend

    model, tok = loaded
    # Make every token containing an "e" an end-of-sequence token, so rows end early and often.
    eos = {i for i in range(len(tok)) if "e" in tok.decode([i])}
    plain = PlainBackend(model, tok)
    plain.eos_ids |= eos
    before = fast.eos_ids
    fast.eos_ids = before | eos
    try:
        expected = plain.generate(ragged, GREEDY, seed=0)
        assert fast.generate(ragged, GREEDY, seed=0) == expected
    finally:
        fast.eos_ids = before
    lengths = sorted(g[0].completion_tokens for g in expected)
    assert len(set(lengths)) > 2 and lengths[0] < 40, lengths


@pytest.mark.e2e
def test_k_completions_per_prompt_in_prompt_order(plain, fast, ragged):
    greedy = plain.generate(ragged, GREEDY, seed=0)
    # A temperature this low is greedy in effect: every one of the K completions must be its own prompt's greedy one.
    cold = SamplingParams(k=3, temperature=1e-4, top_p=1.0, max_new_tokens=40)
    got = fast.generate(ragged, cold, seed=0)
    assert [len(group) for group in got] == [3] * len(ragged)
    for group, g in zip(got, greedy):
        assert group == g * 3
    hot = SamplingParams(k=4, temperature=1.0, top_p=0.95, max_new_tokens=12)
    a, b = fast.generate(ragged, hot, seed=7), fast.generate(ragged, hot, seed=7)
    assert a == b, "same seed, same samples"
    assert a != fast.generate(ragged, hot, seed=8)
    for group in a:
        assert len(group) == 4 and len({x.text for x in group}) > 1, "K samples of one prompt differ"
        assert all(1 <= x.completion_tokens <= 12 and x.finish_reason in ("stop", "length") for x in group)


@pytest.mark.e2e
def test_a_stop_string_changes_no_other_samples(fast, ragged):
    """As with `generate`: rows that end early (and leave the eager batch) do not change the
    draws of the others, and a stopped row is the free row cut after its stop string."""
    params = SamplingParams(k=4, temperature=1.0, top_p=0.95, max_new_tokens=24)
    free = fast.generate(ragged, params, seed=3)
    stop = free[1][2].text[8:10]
    stopped = fast.generate(ragged, SamplingParams(k=4, temperature=1.0, top_p=0.95, max_new_tokens=24, stop=(stop,)), seed=3)
    cut = 0
    for a, b in zip((x for g in free for x in g), (x for g in stopped for x in g)):
        if stop in a.text:
            assert b.text == a.text[: a.text.index(stop) + len(stop)] and b.finish_reason == "stop"
            assert b.completion_tokens <= a.completion_tokens
            cut += 1
        else:
            assert b == a
    assert cut >= 1


# -- same distribution as plain ---------------------------------------------------------------
def _chi2_pvalue(a: Counter, b: Counter) -> float:
    """Two-sample chi-square test of homogeneity (equal sample sizes); categories seen fewer
    than 10 times in both samples together are pooled. Wilson-Hilferty tail approximation."""
    assert sum(a.values()) == sum(b.values())
    stat, df, rare_a, rare_b = 0.0, -1, 0, 0
    for key in set(a) | set(b):
        x, y = a[key], b[key]
        if x + y < 10:
            rare_a, rare_b = rare_a + x, rare_b + y
            continue
        stat, df = stat + (x - y) ** 2 / (x + y), df + 1
    if rare_a + rare_b:
        stat, df = stat + (rare_a - rare_b) ** 2 / (rare_a + rare_b), df + 1
    assert df >= 3, "too few categories for a meaningful test"
    z = ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def _first_tokens(backend, prompts, params, seeds) -> list[Counter]:
    """For each prompt, how often each completion (the first `max_new_tokens` tokens) came up."""
    counts = [Counter() for _ in prompts]
    for seed in seeds:
        for c, group in zip(counts, backend.generate(prompts, params, seed)):
            c.update(g.text for g in group)
    return counts


@pytest.mark.e2e
def test_same_distribution_as_plain(plain, fast, loaded):
    """The first two tokens of 1,600 samples per prompt, from each backend, at R1's evaluation
    settings: a chi-square test must not tell them apart (p > 1e-4; seeds are fixed, so the
    outcome does not flake), while the same test does tell apart a nucleus of 0.8 from 0.95
    and temperature 0.8 from 0.6, so it has the power to catch a wrong sampler."""
    tok = loaded[1]
    prompts = [tok(t)["input_ids"] for t in ("What is 12 + 34?", "the answer is", "Let me think")]
    def params(temperature: float, top_p: float) -> SamplingParams:
        return SamplingParams(k=400, temperature=temperature, top_p=top_p, max_new_tokens=2)

    reference = _first_tokens(plain, prompts, params(0.6, 0.95), seeds=(1, 2, 3, 4))
    same = _first_tokens(fast, prompts, params(0.6, 0.95), seeds=(5, 6, 7, 8))
    narrower = _first_tokens(fast, prompts, params(0.6, 0.8), seeds=(5, 6, 7, 8))
    hotter = _first_tokens(fast, prompts, params(0.8, 0.95), seeds=(5, 6, 7, 8))
    for ref, got, narrow, hot in zip(reference, same, narrower, hotter):
        assert _chi2_pvalue(ref, got) > 1e-4
        assert _chi2_pvalue(ref, narrow) < 1e-6
        assert _chi2_pvalue(ref, hot) < 1e-6


def test_nucleus_keeps_what_transformers_keeps(monkeypatch):
    """The nucleus against transformers' own TopPLogitsWarper, on both of its paths: the top
    candidates hold top_p of the mass, or they do not and the full sort decides."""
    import torch
    from transformers.generation.logits_process import TopPLogitsWarper

    from r1cli.backends import fast

    torch.manual_seed(0)
    logits = torch.randn(64, 300) * torch.linspace(0.5, 4, 64)[:, None]  # flat to peaked rows
    for candidates in (256, 4):
        monkeypatch.setattr(fast, "NUCLEUS_CANDIDATES", candidates)
        for top_p in (0.5, 0.9, 0.95, 0.999):
            values, ids = fast._nucleus(logits, top_p)
            kept = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, ids, values > float("-inf"))
            expected = TopPLogitsWarper(top_p)(None, logits.clone()) > float("-inf")
            assert torch.equal(kept, expected), (candidates, top_p)


# -- the choice of backend --------------------------------------------------------------------
def test_choose_and_flag_values():
    assert "fast" in BACKENDS
    assert choose("fast", "cpu") == "fast" and choose("plain", "cuda") == "plain"
    assert choose("auto", "cpu") == "fast"
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        assert choose("auto", "cuda") == "plain", "fast stays opt-in on CUDA until measured on a GPU"
    from r1cli.errors import R1Error

    with pytest.raises(R1Error, match="fast"):
        choose("turbo", "cpu")


def test_prefill_buckets_split_on_length_and_size(monkeypatch):
    from r1cli.backends import fast

    assert fast._buckets([10, 11, 12, 30, 31, 100]) == [(0, 3), (3, 5), (5, 6)]
    monkeypatch.setattr(fast, "PREFILL_TOKENS", 40)
    assert fast._buckets([10, 10, 10, 10, 10]) == [(0, 4), (4, 5)]


@pytest.mark.e2e
def test_unsupported_attention_falls_back_to_plain(loaded, plain, ragged, capsys):
    from r1cli.backends.fast import FastBackend

    model, tok = loaded
    backend = FastBackend(model, tok)
    backend.unsupported = "attention implementation 'flash_attention_2' is not supported"
    assert backend.generate(ragged, GREEDY, seed=0) == plain.generate(ragged, GREEDY, seed=0)
    assert "using the plain backend" in capsys.readouterr().err


@pytest.mark.e2e
def test_sample_command_with_fast_backend(tmp_path, tiny_model):
    prompts = tmp_path / "prompts.jsonl"
    assert run_r1cli("prepare", "countdown", "-n", "5", "--seed", "2", "-o", prompts).code == 0
    out = tmp_path / "samples.jsonl"
    r = run_r1cli("sample", prompts, "-m", tiny_model, "-k", "3", "--max-new-tokens", "16", "--backend", "fast",
                  "--stop", "</answer>", "-o", out)
    assert r.code == 0, r
    rows, source = read_jsonl(out), read_jsonl(prompts)
    assert [(x["id"], x["sample_index"]) for x in rows] == [(p["id"], j) for p in source for j in range(3)]
    for row in rows:
        assert {k: row[k] for k in source[0]} == next(p for p in source if p["id"] == row["id"])
        assert 1 <= row["completion_tokens"] <= 16 and row["prompt_tokens"] > 0
        assert row["finish_reason"] in ("stop", "length")
        assert row["finish_reason"] == "stop" or row["completion_tokens"] == 16
    manifest = json.loads((tmp_path / "samples.jsonl.manifest.json").read_text())
    assert "fast" in json.dumps(manifest)
