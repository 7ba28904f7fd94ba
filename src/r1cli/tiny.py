"""A small causal LM built offline, for smoke runs, tests and the default main job.

It is a real transformers architecture (Qwen2) with random weights and a byte-level BPE
tokenizer trained here on a built-in corpus, saved with `save_pretrained`: every stage loads it
exactly like a hub model. Digits are always single tokens (arithmetic stays learnable), the
R1 tags `<think>`, `</think>`, `<answer>`, `</answer>` are single tokens, and any text (Chinese
too) can be encoded through the byte alphabet. The same seed gives the same files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1cli.config import option
from r1cli.templates import R1_ZERO

EOS = "<|endoftext|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
TAGS = ("<think>", "</think>", "<answer>", "</answer>")

# A Qwen-style chat template: what `--template chat` and SFT on messages use.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS_WORDS = (
    "the a an of to and in is it that for on with as what how many much are was be by this from at or "
    "number numbers answer question equation equals create use each once only exactly basic arithmetic "
    "operations show your work reasoning final give example total left more less than sum difference "
    "product first then so wait check again let me think verify correct wrong because therefore "
    "compute add subtract multiply divide plus minus times result step user assistant conversation "
    "solves thinks process mind provides enclosed within tags respectively here i e "
)


def _corpus() -> list[str]:
    lines = [R1_ZERO.replace("{prompt}", "What is 12 + 34?"), _CORPUS_WORDS]
    ops = "+-*/="
    for a in range(0, 100, 7):
        for b in range(0, 100, 11):
            lines.append(f"What is {a} + {b}? <think> {a} + {b} = {a + b} </think> <answer> {a + b} </answer>")
            lines.append(f"Using the numbers [{a}, {b}], create an equation that equals {a + b}. {a} {ops[a % 4]} {b}")
    return lines


@dataclass
class TinySpec:
    hidden_size: int = option(64, help="Hidden size.")
    layers: int = option(2, help="Number of transformer layers.")
    heads: int = option(4, help="Attention heads.")
    kv_heads: int = option(2, help="Key/value heads.")
    intermediate_size: int = option(256, help="MLP width.")
    vocab_size: int = option(512, help="BPE vocabulary size to train.")
    max_positions: int = 2048
    chat_template: bool = option(True, help="Give the tokenizer a chat template (off: a 'base' model).",
                                 flags=("--chat-template/--no-chat-template",), show="")
    seed: int = option(0, help="Seed for the random weights (same seed, same files).")
    # Wider than transformers' usual 0.02: random weights then give peaked next-token
    # distributions (entropy near a real LM's, not uniform), so LoRA can move them in a few
    # dozen RL steps; at 0.02 the tied embeddings keep every logit near zero.
    init_std: float = option(0.3, help="Std of the random weights: wide (peaked outputs, LoRA-trainable) or 0.02 (transformers' usual, for pretraining).")

    def __post_init__(self) -> None:
        from r1cli.errors import R1Error

        for name in ("hidden_size", "layers", "heads", "kv_heads", "intermediate_size", "max_positions"):
            if getattr(self, name) < 1:
                raise R1Error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.hidden_size % self.heads:
            raise R1Error(f"--hidden-size {self.hidden_size} must be divisible by --heads {self.heads}")
        if self.heads % self.kv_heads:
            raise R1Error(f"--heads {self.heads} must be divisible by --kv-heads {self.kv_heads}")
        if self.vocab_size < 300:
            raise R1Error(f"--vocab-size must be at least 300 (256 byte tokens, specials and some merges), got {self.vocab_size}")
        if not 0 < self.init_std < float("inf"):
            raise R1Error(f"--init-std must be a finite number > 0, got {self.init_std}")


def build_tokenizer(spec: TinySpec) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=[EOS, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    # The tags are ordinary (non-special) added tokens: decoding with skip_special_tokens keeps them.
    tok.add_tokens(list(TAGS))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=EOS,
        additional_special_tokens=[IM_START, IM_END],
        model_max_length=spec.max_positions,
    )
    if spec.chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def build(out: str | Path, spec: TinySpec) -> dict[str, Any]:
    """Write a tiny Qwen2 model and its tokenizer to `out`; returns a summary."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from r1cli.models import quiet_transformers

    quiet_transformers()
    tokenizer = build_tokenizer(spec)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads,
        max_position_embeddings=spec.max_positions,
        initializer_range=spec.init_std,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(spec.seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(IM_END)],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    summary = {"architecture": "Qwen2ForCausalLM", "parameters": params, "vocab_size": len(tokenizer), **spec.__dict__}
    (out / "r1cli_tiny.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
