"""Loading models and tokenizers the same way in every stage.

A model is a hub name or a local folder. A folder holding a LoRA adapter (`adapter_config.json`)
is loaded as its base model with the adapter on top, so a stage's output folder can be passed
straight to the next stage. Weights load from safetensors only, and `trust_remote_code` stays
off unless the user asks for it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1cli.errors import R1Error

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def quiet_transformers() -> None:
    """transformers' own progress bars (loading/writing shards) would clutter our stderr."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Retries against an unreachable hub are reported once, in our own error message.
    hub_logging.set_verbosity_error()


@dataclass(frozen=True)
class ModelRef:
    """What to load: a base (hub name or folder) and optionally a LoRA adapter folder."""

    base: str
    adapter: str | None = None

    @property
    def base_is_local(self) -> bool:
        return Path(self.base).is_dir()

    @property
    def tokenizer_source(self) -> str:
        # Stage outputs save the tokenizer beside the adapter (it may carry a chat template).
        if self.adapter and (Path(self.adapter) / "tokenizer_config.json").exists():
            return self.adapter
        return self.base

    def identity(self) -> dict[str, Any]:
        """Model identity for manifests and resume checks."""
        out: dict[str, Any] = {"base": self.base if not self.base_is_local else str(Path(self.base).resolve())}
        if self.base_is_local:
            out["fingerprint"] = _fingerprint(Path(self.base))
        if self.adapter:
            out["adapter"] = str(Path(self.adapter).resolve())
            out["adapter_fingerprint"] = _fingerprint(Path(self.adapter))
        return out


def _fingerprint(folder: Path) -> str:
    """Cheap identity of a model folder: its config plus the names and sizes of its weights.

    Hashing multi-gigabyte weights would cost minutes per stage; a retrained model changes
    sizes or config in practice, and the manifests record full paths as well.
    """
    digest = hashlib.sha256()
    for name in ("config.json", "adapter_config.json"):
        p = folder / name
        if p.exists():
            digest.update(p.read_bytes())
    for p in sorted(folder.iterdir()):
        if p.suffix in WEIGHT_SUFFIXES:
            stat = p.stat()
            digest.update(f"{p.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def resolve(model: str, adapter: str | None = None) -> ModelRef:
    """Check that `model` (and `adapter`) can be loaded, without loading any weights."""
    path = Path(model)
    if path.exists():
        if not path.is_dir():
            raise R1Error(f"--model {model}: is a file; pass the model folder (with config.json) or a hub name")
        if (path / "adapter_config.json").exists():
            if adapter:
                raise R1Error(f"--model {model} is itself a LoRA adapter; pass its base as --model, or drop --adapter")
            _require_safetensors(path, "--model")
            base = _adapter_base(path)
            return ModelRef(resolve(base).base, str(path.resolve()))
        if not (path / "config.json").exists():
            raise R1Error(f"--model {model}: not a model folder (no config.json or adapter_config.json)")
        _require_safetensors(path, "--model")
        # Absolute, so that adapters trained on it record a base that loads from anywhere.
        model = str(path.resolve())
    elif model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise R1Error(f"--model {model}: no such folder")
    if adapter is not None:
        apath = Path(adapter)
        if not (apath / "adapter_config.json").exists():
            raise R1Error(f"--adapter {adapter}: not a LoRA adapter folder (no adapter_config.json)")
        _require_safetensors(apath, "--adapter")
        adapter = str(apath.resolve())
    return ModelRef(model, adapter)


def _require_safetensors(folder: Path, flag: str) -> None:
    """Refuse a folder whose weights exist only as pickle files (`pytorch_model.bin`, `.pt`):
    unpickling runs arbitrary code, so r1cli loads safetensors only. Checked before any load,
    so the user gets this line rather than a library's "no file named model.safetensors"."""
    names = [p.name for p in folder.iterdir() if p.is_file()]
    if any(n.endswith(".safetensors") or n == "model.safetensors.index.json" for n in names):
        return
    pickles = sorted(n for n in names if n.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")) and n != "training_args.bin")
    if pickles:
        raise R1Error(
            f"{flag} {folder}: has only pickle weights ({', '.join(pickles[:3])}), which can run code when loaded; "
            "r1cli loads safetensors only: use a safetensors copy, or convert these weights if you trust their source"
        )


def _adapter_base(adapter: Path) -> str:
    try:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise R1Error(f"{adapter}/adapter_config.json: unreadable ({e})") from None
    base = config.get("base_model_name_or_path")
    if not base:
        raise R1Error(f"{adapter}/adapter_config.json: no base_model_name_or_path; pass the base with --model and this folder with --adapter")
    return base


def _hub_error(what: str, name: str, e: Exception) -> R1Error:
    # The library's message, folded to one line (some put the useful part on the second line).
    first = " ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
    first = first if len(first) <= 300 else first[:297] + "..."
    if Path(name).exists():
        return R1Error(f"{what} {name}: cannot be loaded: {first}")
    return R1Error(
        f"{what} {name!r}: not a local folder, and it could not be loaded from the Hugging Face hub: {first} "
        "(offline? set HF_HUB_OFFLINE=1 to skip the network)"
    )


def _load_errors() -> tuple[type[BaseException], ...]:
    """What a broken or missing model folder raises while loading (not, e.g., out of memory):
    missing files, a bad config value, a truncated or corrupt safetensors file."""
    errors: list[type[BaseException]] = [OSError, ValueError]
    try:
        from safetensors import SafetensorError

        errors.append(SafetensorError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from huggingface_hub.errors import StrictDataclassError

        errors.append(StrictDataclassError)
    except ImportError:  # pragma: no cover (older huggingface_hub)
        pass
    return tuple(errors)


def load_tokenizer(ref: ModelRef, *, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(ref.tokenizer_source, trust_remote_code=trust_remote_code)
    except _load_errors() as e:
        raise _hub_error("--model", ref.tokenizer_source, e) from None
    if tok.pad_token is None:
        # Batched generation needs a pad token; the EOS token is the usual stand-in.
        tok.pad_token = tok.eos_token
    return tok


def require_chat_template(tokenizer: Any, ref: ModelRef, why: str) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise R1Error(
            f"--model {ref.tokenizer_source}: the tokenizer has no chat template, but {why}; "
            "use a text template (--template r1-zero, plain or a file) for base models"
        )


def _load(ref: ModelRef, *, dtype: Any, trust_remote_code: bool, trainable: bool) -> Any:
    """The base, with the adapter (if any) on top."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    try:
        model = AutoModelForCausalLM.from_pretrained(ref.base, dtype=dtype, trust_remote_code=trust_remote_code, use_safetensors=True)
    except _load_errors() as e:
        raise _hub_error("--model", ref.base, e) from None
    if ref.adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, ref.adapter, is_trainable=trainable)
        except (OSError, ValueError, RuntimeError) as e:
            raise R1Error(f"--adapter {ref.adapter}: does not fit model {ref.base}: {str(e).splitlines()[0]}") from None
    return model


def load_model(ref: ModelRef, *, device: str, dtype: Any, trust_remote_code: bool = False, merge_adapter: bool = True) -> Any:
    """Load for inference: the adapter, if any, merged into the base for speed."""
    model = _load(ref, dtype=dtype, trust_remote_code=trust_remote_code, trainable=False)
    if ref.adapter and merge_adapter:
        model = model.merge_and_unload()
    model.to(device)
    model.eval()
    return model


def load_for_training(ref: ModelRef, *, dtype: Any, trust_remote_code: bool = False) -> Any:
    """A model to train: the base, or base + adapter with the adapter trainable (training
    continues the adapter, e.g. GRPO after an SFT LoRA)."""
    return _load(ref, dtype=dtype, trust_remote_code=trust_remote_code, trainable=True)


def merge(ref: ModelRef, out: str | Path, *, dtype: Any = None, trust_remote_code: bool = False) -> Path:
    """Base + LoRA adapter -> a standalone model folder (transformers and vLLM load it directly)."""
    import torch

    if not ref.adapter:
        raise R1Error(f"--model {ref.base}: no LoRA adapter to merge")
    model = load_model(ref, device="cpu", dtype=dtype or torch.float32, trust_remote_code=trust_remote_code, merge_adapter=True)
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    load_tokenizer(ref, trust_remote_code=trust_remote_code).save_pretrained(out)
    return out
