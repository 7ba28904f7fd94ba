"""Loading models and tokenizers the same way in every stage.

A model is a hub name, a local folder, or a GGUF file. A folder holding a LoRA adapter
(`adapter_config.json`) is loaded as its base model with the adapter on top, so a stage's output
folder can be passed straight to the next stage. Weights load from safetensors only, and
`trust_remote_code` stays off unless the user asks for it.

GGUF (what llama.cpp, ollama and LM Studio keep on laptops): `-m model.gguf`, or a folder holding
one `.gguf` and no `config.json`. transformers reads it with the `gguf` package, de-quantizing the
weights to the run's dtype; the tokenizer and its chat template come from the file's metadata.
The file is checked (readable to its end, an architecture transformers can load) before any
weights load. Whatever a stage writes is an ordinary safetensors folder; an adapter trained on a
GGUF base records the `.gguf` path as its base, so `-m ADAPTER_FOLDER` finds it again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1cli.errors import DataError, R1Error

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
MODEL_HELP = "Hub name, local folder, or .gguf file (a LoRA adapter folder loads its base with the adapter)."
TRUST_HELP = "Allow model code from the model's repository to run."
GGUF_SUFFIX = ".gguf"
GGUF_INSTALL = "pip install 'gguf>=0.10'"
# What a folder's tokenizer is saved as (fast, sentencepiece, BPE, WordPiece, tiktoken, Mistral's).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model",
                   "tekken.json")
# Files that are only ever local: a model name ending in one names a path, never a hub repository.
_FILE_SUFFIXES = (GGUF_SUFFIX, ".safetensors", ".json", ".bin", ".pt", ".pth")
# A hub repository id: `name` or `org/name`, letters, digits, `-`, `_`, `.` (as huggingface_hub checks).
_HUB_NAME = re.compile(r"(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}")


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
    gguf_file: str | None = None  # a GGUF file's name inside the folder `base`

    @property
    def base_is_local(self) -> bool:
        return Path(self.base).is_dir()

    @property
    def name(self) -> str:
        """The base as a user names it: a hub name, a folder, or the .gguf file."""
        return str(Path(self.base) / self.gguf_file) if self.gguf_file else self.base

    def load_kwargs(self) -> dict[str, Any]:
        """What `from_pretrained(self.base, ...)` needs besides the usual arguments."""
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}

    @property
    def tokenizer_source(self) -> str:
        # Stage outputs save the tokenizer beside the adapter (it may carry a chat template).
        if self.adapter and (Path(self.adapter) / "tokenizer_config.json").exists():
            return self.adapter
        return self.base

    def tokenizer_kwargs(self) -> dict[str, Any]:
        return self.load_kwargs() if self.tokenizer_source == self.base else {}

    def identity(self) -> dict[str, Any]:
        """Model identity for manifests and resume checks."""
        if self.gguf_file:
            out: dict[str, Any] = {"base": self.name, "fingerprint": _gguf_fingerprint(Path(self.name))}
        elif self.base_is_local:
            out = {"base": str(Path(self.base).resolve()), "fingerprint": _fingerprint(Path(self.base))}
        else:
            out = {"base": self.base}
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


def _gguf_fingerprint(path: Path) -> str:
    """A GGUF file's identity: its size and its first 4 MiB (the header: architecture,
    hyperparameters, tokenizer, and the table of every tensor's name, shape, type and offset),
    read in milliseconds where hashing the whole file would take seconds per gigabyte."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        digest.update(f.read(4 << 20))
    return digest.hexdigest()[:16]


def resolve(model: str, adapter: str | None = None) -> ModelRef:
    """Check that `model` (and `adapter`) can be loaded, without loading any weights: the path
    exists (a path that does not is never looked up on the hub, which takes a minute to fail),
    the weights are safetensors, a GGUF file is readable, and a local model has a tokenizer."""
    ref = _resolve(model, adapter)
    source = Path(ref.tokenizer_source)
    # GGUF files carry their tokenizer; an adapter without one uses its base's.
    if not ref.gguf_file and source.is_dir() and not _has_tokenizer(source):
        whose = "" if source.resolve() == Path(model).resolve() else f"its base {source} has "
        raise R1Error(f"--model {model}: {whose}no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); copy them "
                      "from the model it was made from")
    return ref


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).exists() for name in TOKENIZER_FILES) or any(folder.glob("*.tiktoken"))


def looks_local(model: str) -> bool:
    """Whether a model name that exists nowhere is a path (refused at once) rather than a hub
    name (looked up): it starts with `.`, `/` or `~`, has more than one `/`, names a file, or
    its first folder exists here (`models/tiny` with a `models/` folder beside)."""
    first = model.split("/", 1)[0]
    return (model.startswith((".", "/", "~")) or model.count("/") > 1 or model.lower().endswith(_FILE_SUFFIXES)
            or (first != model and Path(first).is_dir()) or not _HUB_NAME.fullmatch(model) or "--" in model or ".." in model)


def _resolve(model: str, adapter: str | None = None) -> ModelRef:
    if model.startswith("~"):
        model = str(Path(model).expanduser())
    path = Path(model)
    if path.exists():
        if not path.is_dir():
            if path.suffix.lower() != GGUF_SUFFIX:
                raise R1Error(f"--model {model}: is a file; pass the model folder (with config.json), a .gguf file, or a hub name")
            ref = _gguf(path)
        elif (path / "adapter_config.json").exists():
            if adapter:
                raise R1Error(f"--model {model} is itself a LoRA adapter; pass its base as --model, or drop --adapter")
            _require_safetensors(path, "--model")
            return dataclasses.replace(_resolve(_adapter_base(path)), adapter=str(path.resolve()))
        elif not (path / "config.json").exists():
            found = sorted(path.glob(f"*{GGUF_SUFFIX}"))
            if len(found) > 1:
                names = ", ".join(p.name for p in found[:4])
                raise R1Error(f"--model {model}: holds {len(found)} .gguf files ({names}); pass the one to use")
            if not found:
                raise R1Error(f"--model {model}: not a model folder (no config.json, adapter_config.json or .gguf file)")
            ref = _gguf(found[0])
        else:
            _require_safetensors(path, "--model")
            # Absolute, so that adapters trained on it record a base that loads from anywhere.
            ref = ModelRef(str(path.resolve()))
    elif looks_local(model):
        hint = "" if model.startswith((".", "/")) else " (a local path by its form, so not looked up on the hub)"
        what = "file" if model.lower().endswith(_FILE_SUFFIXES) else "folder"
        raise R1Error(f"--model {model}: no such {what}{hint}")
    else:
        ref = ModelRef(model)
    if adapter is not None:
        apath = Path(adapter)
        if not (apath / "adapter_config.json").exists():
            raise R1Error(f"--adapter {adapter}: not a LoRA adapter folder (no adapter_config.json)")
        _require_safetensors(apath, "--adapter")
        ref = dataclasses.replace(ref, adapter=str(apath.resolve()))
    return ref


def _gguf(path: Path) -> ModelRef:
    path = path.resolve()
    check_gguf(str(path), path.stat().st_size, path.stat().st_mtime_ns)
    return ModelRef(str(path.parent), gguf_file=path.name)


@functools.lru_cache(maxsize=8)
def check_gguf(path: str, size: int, mtime: int) -> str:
    """Refuse a GGUF file transformers cannot load, before any weights load: the `gguf` package
    missing, a file cut short or not GGUF at all, an architecture transformers does not map.
    Returns the architecture. (Cached per file version: stages resolve a model more than once.)"""
    if importlib.util.find_spec("gguf") is None:
        raise R1Error(f"--model {path}: reading GGUF files needs the gguf package; install it: {GGUF_INSTALL}")
    from gguf import GGUFReader

    try:
        # Parses the header and every tensor's extent; a truncated file fails here.
        reader = GGUFReader(path)
        field = reader.fields["general.architecture"]
        architecture = bytes(field.parts[field.data[0]]).decode("utf-8")
    except Exception as e:  # the reader's errors on a bad file are numpy's and IndexError/KeyError: any means unreadable
        raise R1Error(f"--model {path}: not a readable GGUF file ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                      "it may be cut short: download it again") from None
    supported = _gguf_architectures()
    if architecture not in supported:
        import transformers

        raise R1Error(f"--model {path}: transformers {transformers.__version__} cannot load GGUF models of architecture "
                      f"{architecture!r} (it can: {', '.join(sorted(supported))}); use a safetensors copy of the model")
    return architecture


def _gguf_architectures() -> set[str]:
    """What this transformers loads from GGUF: the unpacking loader's list, plus (5.24+) the
    architectures its packed-weights loader maps."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    names = set(GGUF_SUPPORTED_ARCHITECTURES)
    try:
        from transformers.integrations.gguf import GGUF_ARCHS

        names |= set(GGUF_ARCHS)
    except ImportError:
        pass
    return names


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
        tok = AutoTokenizer.from_pretrained(ref.tokenizer_source, trust_remote_code=trust_remote_code, **ref.tokenizer_kwargs())
    except _load_errors() as e:
        raise _hub_error("--model", ref.tokenizer_source, e) from None
    if tok.pad_token is None:
        # Batched generation needs a pad token; the EOS token is the usual stand-in.
        tok.pad_token = tok.eos_token
    return tok


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def check_prompts(tokenizer: Any, ref: ModelRef, prompts: list[Any]) -> None:
    """Prompts fit the model, checked before any weights load: chat messages need a chat
    template; the r1-zero text on a model that has one works badly, which is said once."""
    from r1cli import templates

    if any(isinstance(p, list) for p in prompts):
        require_chat_template(tokenizer, ref, "the prompts are chat messages")
    elif has_chat_template(tokenizer) and any(templates.is_r1_zero_text(p) for p in prompts):
        from r1cli.console import warn

        warn(f"--model {ref.name} has a chat template, but the prompts are the r1-zero text template, which instruct "
             "models tend to continue as a document instead of answering; for such a model prepare them with "
             "--template r1-chat (or --template auto -m MODEL)")


def require_chat_template(tokenizer: Any, ref: ModelRef, why: str) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise R1Error(
            f"--model {ref.tokenizer_source}: the tokenizer has no chat template, but {why}; "
            "use a text template (--template r1-zero, plain or a file) for base models"
        )


# -- prompt length ---------------------------------------------------------------------------------
# A prompt longer than the model's context is not an error a model reports: it samples on at a
# crawl past its trained positions, or runs out of memory minutes later. Prompts are measured
# after tokenizing, before any weights load.
LONG_PROMPTS = ("refuse", "truncate")
LONG_PROMPTS_HELP = ("What to do with a prompt over the limit (--max-prompt-tokens, else the model's context): refuse (name it "
                     "and stop) or truncate (keep its end: the question's last part and the cue to answer, not its preamble).")
MAX_PROMPT_HELP = "Token limit per prompt (default: what the model's context leaves)."
# Tokens a prompt surely has at least, from its length alone: a token never stands for more
# characters than the longest string in the vocabulary, with a margin of 4 for normalizers that
# shorten text (NFKC). Measured by this, a prompt far over the limit (a 50 MB line) is refused
# without tokenizing it, which would take gigabytes and minutes.
_NORMALIZER_MARGIN = 4


def context_length(ref: ModelRef, tokenizer: Any, *, trust_remote_code: bool = False) -> int | None:
    """How many tokens (prompt and completion) the model attends to: its config's
    max_position_embeddings, stretched by a rope scaling factor where the config sets one (how
    long-context variants are configured), else the tokenizer's model_max_length where it is a
    real number (tokenizers without one say 1e30). None when neither says."""
    config = load_config(ref, trust_remote_code=trust_remote_code)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    positions = getattr(text, "max_position_embeddings", None)
    if isinstance(positions, int) and not isinstance(positions, bool) and positions > 0:
        rope = getattr(text, "rope_parameters", None) or getattr(text, "rope_scaling", None)
        if isinstance(rope, dict) and rope.get("rope_type", rope.get("type")) not in (None, "default"):
            factor = rope.get("factor")
            if isinstance(factor, (int, float)) and factor > 1:
                positions = max(positions, int((rope.get("original_max_position_embeddings") or positions) * factor))
        return positions
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10_000_000 else None


def tokenize_prompt(tokenizer: Any, prompt: Any) -> list[int]:
    """A prompt's token ids as TRL makes them: chat messages through the chat template, text
    prompts through the tokenizer."""
    if isinstance(prompt, list):
        return list(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
    return list(tokenizer(prompt)["input_ids"])


def _tokenize_all(tokenizer: Any, prompts: list[Any]) -> list[list[int]]:
    """Every prompt's ids; text prompts in batches (the fast tokenizer's threads), the same ids."""
    out: list[list[int]] = [[] for _ in prompts]
    text = [i for i, p in enumerate(prompts) if isinstance(p, str)]
    for start in range(0, len(text), 256):
        chunk = text[start : start + 256]
        for i, ids in zip(chunk, tokenizer([prompts[i] for i in chunk])["input_ids"]):
            out[i] = list(ids)
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            out[i] = tokenize_prompt(tokenizer, p)
    return out


def _chars(prompt: Any) -> int:
    return len(prompt) if isinstance(prompt, str) else sum(len(m["content"]) for m in prompt)


def _keep_end(prompt: Any, keep: int) -> Any:
    """The last `keep` characters of a prompt; of chat messages, of their contents taken
    together, every message (and so the template around them) kept."""
    if isinstance(prompt, str):
        return prompt[len(prompt) - keep :]
    out = []
    for message in reversed(prompt):
        content = message["content"]
        take = min(len(content), keep)
        keep -= take
        out.append({**message, "content": content[len(content) - take :]})
    return out[::-1]


def _cut(tokenizer: Any, prompt: Any, limit: int, where: str) -> tuple[Any, list[int]]:
    """A prompt's end of at most `limit` tokens. Its length in characters is searched (a few
    tokenizations, each of about the text kept, never of the whole of a huge prompt): cutting
    text rather than ids keeps what the tokenizer adds (BOS) and a chat template's frame."""
    total = _chars(prompt)
    keep = min(total, 8 * (limit + 64))  # most text has 3-5 characters per token
    ids = tokenize_prompt(tokenizer, _keep_end(prompt, keep))
    while len(ids) <= limit and keep < total:  # denser text than that: take more
        keep = min(total, 2 * keep)
        ids = tokenize_prompt(tokenizer, _keep_end(prompt, keep))
    while len(ids) > limit:
        if keep == 0:
            raise DataError(where, f"the template around the prompt alone is {len(ids)} tokens, over the limit of {limit}; "
                                   "raise --max-prompt-tokens", field="prompt")
        keep = max(0, min(keep - 1, int(keep * limit / len(ids) * 0.99)))
        ids = tokenize_prompt(tokenizer, _keep_end(prompt, keep))
    return _keep_end(prompt, keep), ids


def _longest_token(tokenizer: Any) -> int:
    return max((len(t) for t in tokenizer.get_vocab()), default=1) or 1


@dataclass
class FittedPrompts:
    ids: list[list[int]]  # each prompt's token ids (of its end, where it was truncated)
    prompts: list[Any]  # the prompts as given, or truncated to fit (text, or messages)
    truncated: int  # how many were truncated
    limit: int | None  # the token limit per prompt (None: the model's context is unknown)


def fit_prompts(tokenizer: Any, prompts: list[Any], where: Callable[[int], str], cfg: Any, *, context: int | None,
                new_field: str, model: str) -> FittedPrompts:
    """Measure every prompt against the limit and refuse or truncate one over it
    (`cfg.long_prompts`); then the completion limit (`cfg.<new_field>`) must fit beside the
    longest prompt in the model's context. Before any weights load; every message names the
    record (file:line) or the flag."""
    new_tokens, given, policy = getattr(cfg, new_field), cfg.max_prompt_tokens, cfg.long_prompts
    new_flag = f"{cfg.flag(new_field)} (config key '{new_field}')"
    if context is not None and new_tokens >= context:
        raise R1Error(f"{new_flag} must be below the model's context of {context:,} tokens ({model}), to leave room for the "
                      f"prompt, got {new_tokens}")
    if context is not None and given is not None and given >= context:
        raise R1Error(f"{cfg.flag('max_prompt_tokens')} (config key 'max_prompt_tokens') must be below the model's context of "
                      f"{context:,} tokens ({model}), to leave room for the completion, got {given}")
    if given is not None:
        limit: int | None = given
        limit_text = f"the limit of {given:,} (--max-prompt-tokens)"
    elif context is None:
        limit, limit_text = None, ""
    elif policy == "refuse":
        limit, limit_text = context, f"the model's context of {context:,} tokens"
    else:  # truncating, leave the completion its room
        limit, limit_text = context - new_tokens, f"the {context - new_tokens:,} tokens the model's {context:,}-token context leaves beside {cfg.flag(new_field)} {new_tokens}"
    fitted = list(prompts)
    ids: list[list[int] | None] = [None] * len(prompts)
    hopeless: dict[int, int] = {}  # prompt -> tokens it has at least, where that alone is over the limit
    if limit is not None and any(_chars(p) > _NORMALIZER_MARGIN * limit for p in prompts):
        per_token = _NORMALIZER_MARGIN * _longest_token(tokenizer)
        hopeless = {i: _chars(p) // per_token for i, p in enumerate(prompts) if _chars(p) // per_token > limit + 64}
    measured = [i for i in range(len(prompts)) if i not in hopeless]
    for i, got in zip(measured, _tokenize_all(tokenizer, [prompts[i] for i in measured])):
        ids[i] = got
    truncated = 0
    for i, prompt in enumerate(prompts):
        count = ids[i]
        if limit is None or (count is not None and len(count) <= limit):
            continue
        if policy == "refuse":
            size = f"{len(count):,} tokens" if count is not None else f"{_chars(prompt):,} characters, at least {hopeless[i]:,} tokens"
            raise DataError(where(i), f"{size}, over {limit_text}; shorten it, or pass --long-prompts truncate to keep its end",
                            field="prompt")
        fitted[i], ids[i] = _cut(tokenizer, prompt, limit, where(i))
        truncated += 1
    done: list[list[int]] = [x if x is not None else [] for x in ids]
    if context is not None and done:
        longest = max(range(len(done)), key=lambda i: len(done[i]))
        room = context - len(done[longest])
        if new_tokens > room:
            raise R1Error(f"{new_flag} must be at most {room:,} here: the model's context is {context:,} tokens and the longest "
                          f"prompt ({where(longest)}) has {len(done[longest]):,}; lower it, or shorten the prompts "
                          f"(--max-prompt-tokens N --long-prompts truncate), got {new_tokens}")
    return FittedPrompts(done, fitted, truncated, limit)


def _load(ref: ModelRef, *, dtype: Any, trust_remote_code: bool, trainable: bool) -> Any:
    """The base, with the adapter (if any) on top."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    if ref.gguf_file:
        from r1cli.console import info

        info(f"loading {ref.name} (de-quantizing GGUF weights)")
    try:
        model = AutoModelForCausalLM.from_pretrained(ref.base, dtype=dtype, trust_remote_code=trust_remote_code, use_safetensors=True,
                                                     **ref.load_kwargs(), **_dense(ref))
    except _load_errors() as e:
        raise _hub_error("--model", ref.name, e) from None
    if ref.gguf_file:
        # PEFT records this as an adapter's base: the file itself, which `resolve` finds again.
        model.name_or_path = ref.name
    if ref.adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, ref.adapter, is_trainable=trainable)
        except (OSError, ValueError, RuntimeError) as e:
            raise R1Error(f"--adapter {ref.adapter}: does not fit model {ref.base}: {str(e).splitlines()[0]}") from None
    return model


def _dense(ref: ModelRef) -> dict[str, Any]:
    """GGUF weights unpacked into ordinary dense tensors, which train, merge and save as
    safetensors. (transformers from 5.24 can keep some architectures' weights packed in GGUF
    blocks, which neither trains nor saves; older releases always unpack.)"""
    if not ref.gguf_file:
        return {}
    try:
        from transformers import GgufConfig
    except ImportError:  # transformers before 5.24: unpacking is all it does
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


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


def load_config(ref: ModelRef, *, trust_remote_code: bool = False) -> Any:
    """The base model's config, without its weights."""
    from transformers import AutoConfig

    quiet_transformers()
    try:
        return AutoConfig.from_pretrained(ref.base, trust_remote_code=trust_remote_code, **ref.load_kwargs())
    except _load_errors() as e:
        raise _hub_error("--model", ref.name, e) from None


def merge(ref: ModelRef, out: str | Path, *, dtype: Any = None, trust_remote_code: bool = False) -> Path:
    """Base + LoRA adapter -> a standalone model folder (transformers and vLLM load it directly).
    A GGUF base without an adapter is written out de-quantized, as safetensors."""
    import torch

    if not ref.adapter and not ref.gguf_file:
        raise R1Error(f"--model {ref.base}: no LoRA adapter to merge")
    model = load_model(ref, device="cpu", dtype=dtype or torch.float32, trust_remote_code=trust_remote_code, merge_adapter=True)
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    load_tokenizer(ref, trust_remote_code=trust_remote_code).save_pretrained(out)
    return out
