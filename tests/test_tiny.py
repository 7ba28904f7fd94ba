"""The built-in tiny model: deterministic, loadable like a hub model, with the tokens R1 needs."""

from __future__ import annotations

import hashlib
import json

import pytest

from r1cli.tiny import TAGS


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file() and p.name != "manifest.json"}


@pytest.mark.e2e
def test_same_seed_same_files(tmp_path, cli):
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        assert cli("tiny-model", tmp_path / name, "--seed", seed).code == 0
    a, b, c = (_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert a["model.safetensors"] != c["model.safetensors"]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["stage"] == "tiny-model" and manifest["stats"]["parameters"] > 0


def test_loads_like_a_hub_model(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config.model_type == "qwen2"
    for tag in TAGS:
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1, tag
    assert tok.tokenize("123") == ["1", "2", "3"], "digits must be single tokens"
    text = "<think> 芳芳买了一本书 </think> <answer> 9 </answer>"
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token is not None


def test_base_variant_has_no_chat_template(tiny_base_model):
    from transformers import AutoTokenizer

    assert not AutoTokenizer.from_pretrained(tiny_base_model).chat_template
