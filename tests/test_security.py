"""Security defaults: no remote code unless asked, safetensors only, no unpickling of files the
user did not produce, and secrets kept out of everything r1cli writes.

The sandbox that runs model-written code is tested in tests/test_sandbox.py; its empty
environment (no tokens, no proxies) is `test_environment_and_home_are_not_visible` there.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, read_jsonl, write_jsonl

SRC = REPO / "src" / "r1cli"
PROMPTS = [{"id": f"q{i}", "task": "arithmetic", "question": f"What is {i} + 1?", "prompt": f"{i}+1=", "answer": str(i + 1)}
           for i in range(2)]


class _Canary:
    """A pickle that, when loaded, creates a file: proof that something was unpickled."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _booby_trapped(folder: Path, name: str, canary: Path) -> None:
    with open(folder / name, "wb") as f:
        pickle.dump(_Canary(canary), f)


@pytest.fixture
def spy(monkeypatch):
    """Record the keyword arguments of every transformers `from_pretrained` r1cli makes."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    calls: list[tuple[str, dict]] = []
    for cls in (AutoModelForCausalLM, AutoTokenizer, AutoConfig):
        original = cls.from_pretrained

        def wrapper(*args, _original=original, _name=cls.__name__, **kwargs):
            calls.append((_name, dict(kwargs)))
            return _original(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", staticmethod(wrapper))
    return calls


# -- trust_remote_code and safetensors: what r1cli asks transformers for ---------------------------
def test_sample_loads_without_remote_code_and_from_safetensors(tmp_path, cli, tiny_model, spy):
    write_jsonl(tmp_path / "p.jsonl", PROMPTS)
    r = cli("sample", tmp_path / "p.jsonl", "-m", tiny_model, "-k", "1", "--max-new-tokens", "2", "-o", tmp_path / "s.jsonl")
    assert r.code == 0, r
    models = [k for name, k in spy if name == "AutoModelForCausalLM"]
    assert models and all(k.get("use_safetensors") is True for k in models)
    assert spy and all(k.get("trust_remote_code", False) is False for _, k in spy)
    manifest = json.loads((tmp_path / "s.jsonl.manifest.json").read_text())
    assert manifest["config"]["trust_remote_code"] is False


def test_trust_remote_code_only_when_asked(tmp_path, cli, tiny_model, spy):
    write_jsonl(tmp_path / "p.jsonl", PROMPTS)
    r = cli("sample", tmp_path / "p.jsonl", "-m", tiny_model, "-k", "1", "--max-new-tokens", "2", "--trust-remote-code",
            "-o", tmp_path / "s.jsonl")
    assert r.code == 0, r
    loads = [k for name, k in spy if name in ("AutoModelForCausalLM", "AutoTokenizer")]
    assert loads and all(k.get("trust_remote_code") is True for k in loads)
    assert all(k.get("use_safetensors") is True for name, k in spy if name == "AutoModelForCausalLM"), \
        "trusting remote code does not turn pickle loading back on"
    assert json.loads((tmp_path / "s.jsonl.manifest.json").read_text())["config"]["trust_remote_code"] is True


class _Stop(Exception):
    pass


@pytest.mark.parametrize("stage", ["grpo", "sft"])
@pytest.mark.parametrize("flag", [[], ["--trust-remote-code"]])
def test_training_stages_hand_trl_safe_model_kwargs(tmp_path, cli, tiny_model, monkeypatch, spy, stage, flag):
    """TRL builds the model from its name with `model_init_kwargs`: safetensors, and remote code
    exactly as the user chose. (The trainer is stopped before it loads anything.)"""
    from r1cli import trl_compat

    seen = {}

    def fake_trainer(*args, **kwargs):
        seen.update(kwargs)
        raise _Stop("stop before training")

    if stage == "grpo":
        config_class, _ = trl_compat.grpo_classes()
        monkeypatch.setattr(trl_compat, "grpo_classes", lambda: (config_class, fake_trainer))
        write_jsonl(tmp_path / "data.jsonl", PROMPTS)
        extra = ["-G", "2", "--batch-size", "2", "-r", "format"]
    else:
        config_class, _ = trl_compat.sft_classes()
        monkeypatch.setattr(trl_compat, "sft_classes", lambda: (config_class, fake_trainer))
        write_jsonl(tmp_path / "data.jsonl", [{**p, "completion": p["answer"]} for p in PROMPTS])
        extra = []
    r = cli(stage, tmp_path / "data.jsonl", "-m", tiny_model, *extra, *flag, "-o", tmp_path / "run")
    assert r.code == 1 and "_Stop: stop before training" in r.stderr, r
    assert seen["model"] == str(tiny_model.resolve()), "TRL loads the model itself, from its name"
    kwargs = seen["args"].model_init_kwargs
    assert kwargs["use_safetensors"] is True
    assert kwargs["trust_remote_code"] is bool(flag)
    assert all(k.get("trust_remote_code", False) is bool(flag) for _, k in spy)


def test_every_model_load_in_the_source_asks_for_safetensors():
    """Each `AutoModel*.from_pretrained(...)` call and each `*model_init_kwargs` dict in src/
    passes use_safetensors=True; nothing sets trust_remote_code=True by itself."""
    problems = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_pretrained":
                owner = ast.unparse(node.func.value)
                kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg}
                if owner.startswith("AutoModel") and kwargs.get("use_safetensors") != "True":
                    problems.append(f"{where}: {owner}.from_pretrained without use_safetensors=True")
                if kwargs.get("trust_remote_code") == "True":
                    problems.append(f"{where}: trust_remote_code=True hard-coded")
            if isinstance(node, ast.Assign) and any(ast.unparse(t).endswith("model_init_kwargs") for t in node.targets):
                if isinstance(node.value, ast.Dict):
                    keys = {ast.literal_eval(k): ast.unparse(v) for k, v in zip(node.value.keys, node.value.values) if k is not None}
                    if keys.get("use_safetensors") != "True":
                        problems.append(f"{where}: model_init_kwargs without use_safetensors")
    assert not problems, problems


# -- pickles: refused, never loaded --------------------------------------------------------------
def _pickle_only_copy(tiny_model: Path, dest: Path, canary: Path) -> Path:
    shutil.copytree(tiny_model, dest)
    (dest / "model.safetensors").unlink()
    _booby_trapped(dest, "pytorch_model.bin", canary)
    return dest


def test_model_with_only_pickle_weights_is_refused_and_not_unpickled(tmp_path, cli, tiny_model):
    canary = tmp_path / "unpickled"
    model = _pickle_only_copy(tiny_model, tmp_path / "pickled", canary)
    write_jsonl(tmp_path / "p.jsonl", [{**p, "completion": p["answer"]} for p in PROMPTS])
    for args in (["sample", tmp_path / "p.jsonl", "-m", model, "-o", tmp_path / "s.jsonl"],
                 ["sample", tmp_path / "p.jsonl", "-m", model, "--trust-remote-code", "-o", tmp_path / "s.jsonl"],
                 ["sft", tmp_path / "p.jsonl", "-m", model, "-o", tmp_path / "run"],
                 ["distill", tmp_path / "p.jsonl", "--teacher", model, "--student", tiny_model, "-o", tmp_path / "run"]):
        r = cli(*args)
        lines = r.stderr.strip().splitlines()
        assert r.code == 2 and len(lines) == 1, r
        assert f"--model {model}: has only pickle weights (pytorch_model.bin), which can run code when loaded" in lines[0]
    assert not canary.exists(), "the pickle was loaded"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl", "pickled"]


def test_transformers_refuses_the_pickle_too(tmp_path, tiny_model):
    """Below r1cli's own check, loading asks transformers for safetensors only: it fails
    rather than unpickle (so a hub model with only .bin files is refused as well)."""
    import torch

    from r1cli import models
    from r1cli.errors import R1Error

    canary = tmp_path / "unpickled"
    model = _pickle_only_copy(tiny_model, tmp_path / "pickled", canary)
    with pytest.raises(R1Error, match="cannot be loaded: .*model.safetensors"):
        models.load_model(models.ModelRef(str(model)), device="cpu", dtype=torch.float32)
    assert not canary.exists()


def test_adapter_with_only_pickle_weights_is_refused(tmp_path, cli, tiny_model):
    canary = tmp_path / "unpickled"
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model), "peft_type": "LORA"}))
    _booby_trapped(adapter, "adapter_model.bin", canary)
    write_jsonl(tmp_path / "p.jsonl", PROMPTS)
    for model_args in (["-m", adapter], ["-m", tiny_model, "--adapter", adapter]):
        r = cli("sample", tmp_path / "p.jsonl", *model_args, "-o", tmp_path / "s.jsonl")
        assert r.code == 2 and "has only pickle weights (adapter_model.bin)" in r.stderr, r
    assert not canary.exists()


# Unpickling a file runs code. The only pickle r1cli reads is its own: the function a worker of
# r1cli.pool runs, sent by the parent process over a pipe.
FORBIDDEN = {
    r"\btorch\.load\(": "torch.load unpickles",
    r"\bpickle\.load\(": "pickle.load reads a pickle file",
    r"\bpickle\.Unpickler\b": "unpickling",
    r"\b(joblib|dill|cloudpickle)\b": "pickle-based loaders",
    r"read_pickle\(": "pandas.read_pickle",
    r"allow_pickle\s*=\s*True": "numpy loading pickles",
    r"weights_only\s*=\s*False": "torch.load with pickles allowed",
}
ALLOWED = {("pool.py", r"\bpickle\.loads\(")}


def test_source_never_unpickles_user_files():
    problems = []
    for path in SRC.rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for pattern, why in {**FORBIDDEN, r"\bpickle\.loads\(": "pickle.loads"}.items():
                if re.search(pattern, code) and (path.name, pattern) not in ALLOWED and not _in_string(code, pattern):
                    problems.append(f"{path.relative_to(REPO)}:{n}: {why}: {line.strip()}")
    assert not problems, "\n".join(problems)


def _in_string(code: str, pattern: str) -> bool:
    """A match inside a string literal (a docstring or a message) is not a call."""
    stripped = re.sub(r"(\"[^\"]*\"|'[^']*')", '""', code)
    return re.search(pattern, stripped) is None


# -- secrets -------------------------------------------------------------------------------------
SECRET_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY", "WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY")


@pytest.mark.e2e
def test_secrets_in_the_environment_reach_no_file_and_no_log(tmp_path, tiny_model):
    """A pipeline run with tokens in its environment: none of them appears in any file r1cli
    writes (records, manifests, metrics, checkpoints, even pickled trainer state) or on stdout
    and stderr, with --debug on to make the logs as talkative as they get."""
    secret = "hf_s3cret" + os.urandom(8).hex()
    env = {**os.environ, **{v: f"{secret}-{v}" for v in SECRET_VARS}, "HF_HUB_OFFLINE": "1"}

    def run(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "r1cli", "--debug", *map(str, args)], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    logs = [
        run("prepare", "arithmetic", "-n", "4", "--option", "digits=1", "-o", "p.jsonl"),
        run("sample", "p.jsonl", "-m", tiny_model, "-k", "2", "--max-new-tokens", "6", "-o", "s.jsonl"),
        run("reward", "s.jsonl", "-r", "accuracy", "-r", "format=0.1", "-o", "scored.jsonl"),
        run("reject", "scored.jsonl", "--keep", "best", "--best-n", "1", "--no-dedup", "--keep-truncated", "--min-tokens", "0",
            "--max-paragraph-chars", "0", "--min-language-share", "0", "-o", "sft.jsonl"),
        run("eval", "s.jsonl", "-o", "eval.json"),
        run("sft", "sft.jsonl", "-m", tiny_model, "--max-steps", "1", "--save-steps", "1", "--batch-size", "2", "-o", "run"),
    ]
    assert read_jsonl(tmp_path / "sft.jsonl"), "the pipeline must carry data to the training stage"
    assert (tmp_path / "run" / "checkpoint-1").is_dir()
    for text in logs:
        assert secret not in text
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 15
    leaks = [str(p.relative_to(tmp_path)) for p in written if secret.encode() in p.read_bytes()]
    assert not leaks, f"secret found in {leaks}"
