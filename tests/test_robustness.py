"""Robustness through the real CLI: what the bad-input catalogue (test_bad_inputs.py) cannot
express as one command line. Closed stdin and stdout, a full stdout, read-only folders, named
pipes, outputs in folders that do not exist yet, model paths that do not exist, reward functions
that fail on some completions, and prompts too long for the model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import read_jsonl, write_jsonl

PROMPT = {"id": "a", "task": "arithmetic", "question": "What is 1 + 1?", "prompt": "1+1=", "answer": "2"}
SAMPLE = {**PROMPT, "sample_index": 0, "completion": "<answer>2</answer>", "finish_reason": "stop", "prompt_tokens": 3,
          "completion_tokens": 5}
R1CLI = f"{sys.executable} -m r1cli"


def _shell(command: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """A command line as a shell runs it (redirections such as `<&-` close the streams)."""
    return subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent), **(env or {})})


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


# -- closed and full standard streams --------------------------------------------------------------
def test_closed_stdin(tmp_path, tiny_model):
    r = _shell(f"exec {R1CLI} sample - -m {tiny_model} -o o.jsonl <&-", tmp_path)
    assert r.returncode == 2 and _one_error_line(r.stderr) == "error: <stdin>: stdin is closed; pipe records in, or pass a file"
    r = _shell(f"exec {R1CLI} reward -o o.jsonl <&-", tmp_path)  # no INPUT: it would read stdin
    assert r.returncode == 2 and "no input: pass a JSONL file, or - to read records from stdin" in _one_error_line(r.stderr)
    assert list(tmp_path.iterdir()) == []


def test_closed_or_full_stdout(tmp_path):
    r = _shell(f"exec {R1CLI} prepare arithmetic -n 2 -o - >&-", tmp_path)
    assert r.returncode == 2
    assert _one_error_line(r.stderr) == "error: -o -: stdout is closed; pass a file with -o, or run the command with stdout open"
    # A full disk behind stdout: one line (not a second one when Python flushes stdout at exit).
    r = _shell(f"exec {R1CLI} prepare arithmetic -n 2 -o - > /dev/full", tmp_path)
    assert r.returncode == 1 and _one_error_line(r.stderr) == "error: <stdout>: no space left on device; free space and rerun"
    write_jsonl(tmp_path / "s.jsonl", [SAMPLE])
    r = _shell(f"exec {R1CLI} eval s.jsonl -o /dev/full 2>&1 >/dev/null | grep error:", tmp_path)
    assert r.stdout.strip() == "error: /dev/full: no space left on device; free space and rerun"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl"]


def _user_namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"], capture_output=True).returncode == 0


def test_read_only_output_folder(tmp_path):
    """A read-only folder (a read-only tmpfs in a user namespace: the tests may run as root, whom
    file modes do not stop) is refused before any work, for a file and for a folder output."""
    if not _user_namespaces_work():
        pytest.skip("needs unprivileged user namespaces (unshare -Urm) to mount a read-only tmpfs")
    (tmp_path / "ro").mkdir()
    script = (f"mount -t tmpfs -o ro,size=64k tmpfs ro && {R1CLI} prepare arithmetic -n 2 -o ro/o.jsonl; echo \"rc=$?\" >&2; "
              f"{R1CLI} tiny-model ro/new/model; echo \"rc=$?\" >&2")
    r = subprocess.run(["unshare", "-Urm", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.stderr.splitlines() == ["error: ro/o.jsonl: folder ro is not writable; choose another output", "rc=2",
                                     "error: ro/new/model: folder ro is not writable; choose another output", "rc=2"], r.stderr


# -- named pipes -------------------------------------------------------------------------------------
def test_named_pipe_input_waits_for_a_slow_writer_but_not_for_none(tmp_path, cli, monkeypatch):
    """The wait is for a writer to appear; one that is there but slow to write is waited for."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("R1CLI_FIFO_WAIT", "1")
    os.mkfifo(tmp_path / "in.jsonl")

    def writer() -> None:
        time.sleep(0.3)  # appears within the wait...
        with open(tmp_path / "in.jsonl", "w") as f:
            time.sleep(2.0)  # ...and stays silent for longer than it
            f.write(json.dumps(SAMPLE) + "\n")

    thread = threading.Thread(target=writer)
    thread.start()
    r = cli("reward", "in.jsonl", "-r", "format", "-o", "o.jsonl")
    thread.join()
    assert r.code == 0, r
    assert len(read_jsonl(tmp_path / "o.jsonl")) == 1

    started = time.monotonic()
    r = cli("reward", "in.jsonl", "-r", "format", "-o", "o2.jsonl")  # nobody writes this time
    assert r.code == 2 and _one_error_line(r.stderr) == ("error: in.jsonl: a named pipe that no program wrote to within 1 s; "
                                                         "start the program that writes it first, or pass a file")
    assert time.monotonic() - started < 30  # loose: the point is that it ends at all

    os.mkfifo(tmp_path / "out.jsonl")  # an output pipe nobody reads
    r = cli("prepare", "arithmetic", "-n", "2", "-o", "out.jsonl")
    assert r.code == 2 and "out.jsonl: a named pipe that no program read within 1 s" in _one_error_line(r.stderr)


# -- first runs: output folders, model paths ---------------------------------------------------------
def test_outputs_create_their_folders_and_a_failed_run_removes_them(tmp_path, cli, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("prepare", "arithmetic", "-n", "2", "-o", "runs/a/p.jsonl").code == 0
    assert (tmp_path / "runs/a/p.jsonl").exists() and (tmp_path / "runs/a/p.jsonl.manifest.json").exists()
    r = cli("eval", "runs/a/p.jsonl", "-m", tiny_model, "-k", "1", "--max-new-tokens", "2", "-o", "runs/eval/e.json")
    assert r.code == 0, r
    assert (tmp_path / "runs/eval/e.json").exists()
    # The model fails to load after the output was opened: the folders it made go again.
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").write_bytes((broken / "model.safetensors").read_bytes()[:1000])
    r = cli("sample", "runs/a/p.jsonl", "-m", broken, "-o", "new/deeper/s.jsonl")
    assert r.code == 2 and "cannot be loaded" in r.stderr
    assert not (tmp_path / "new").exists()


def test_tiny_model_into_a_new_folder(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("tiny-model", "models/tiny", "--layers", "1", "--hidden-size", "16", "--heads", "2", "--kv-heads", "1",
            "--intermediate-size", "32", "--vocab-size", "300")
    assert r.code == 0, r
    assert (tmp_path / "models/tiny/manifest.json").exists()


def test_a_missing_local_model_fails_at_once(tmp_path):
    """Paths that exist nowhere are not looked up on the hub, which took about 56 s to give up
    (retries) before saying so. The bound below is loose on purpose: a slow machine needs
    seconds to start Python; the hub's retries need close to a minute."""
    write_jsonl(tmp_path / "p.jsonl", [PROMPT])
    (tmp_path / "models").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}  # the hub would be tried if it were
    for model, message in (("models/tiny", "--model models/tiny: no such folder (a local path by its form"),
                           ("a/b/c", "--model a/b/c: no such folder"),
                           ("model.gguf", "--model model.gguf: no such file")):
        started = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "r1cli", "sample", "p.jsonl", "-m", model, "-o", "o.jsonl"], cwd=tmp_path,
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 2 and message in _one_error_line(r.stderr), r.stderr
        assert time.monotonic() - started < 10, f"{model}: {time.monotonic() - started:.0f}s"


# -- reward functions that fail ------------------------------------------------------------------------
BAD_REWARDS = '''
def crash(completions, **kwargs):
    return [1 / 0 for _ in completions]

def boom(completions, log_extra=None, **kwargs):
    if any("BOOM" in c for c in completions):
        raise RuntimeError("cannot read this")
    log_extra("length", [len(c) for c in completions])
    return [float(len(c)) for c in completions]

def odd(completions, **kwargs):
    return [float("nan") if "nan" in c else "high" if "text" in c else 1.0 for c in completions]
'''


def test_a_failing_reward_costs_only_the_completions_it_fails_on(tmp_path, cli, monkeypatch):
    """A completion that makes a reward raise (for the whole batch) or return NaN or text scores
    null for that reward alone; every other completion keeps its score, the details logged for
    the others stay aligned, each reward warns once, and the manifest counts the failures."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad_rewards.py").write_text(BAD_REWARDS)
    monkeypatch.syspath_prepend(str(tmp_path))
    completions = ["ab", "BOOM", "abcd", "nan", "text"]
    write_jsonl(tmp_path / "s.jsonl", [{**SAMPLE, "sample_index": i, "completion": c} for i, c in enumerate(completions)])
    r = cli("reward", "s.jsonl", "-r", "bad_rewards:crash", "-r", "bad_rewards:boom", "-r", "bad_rewards:odd", "-o", "o.jsonl")
    assert r.code == 0, r
    for name, why in (("crash", "ZeroDivisionError: division by zero"), ("boom", "RuntimeError: cannot read this"),
                      ("odd", "returned a non-finite score (nan)")):
        assert r.stderr.count(f"warning: reward 'bad_rewards:{name}'") == 1, r.stderr
        assert f"warning: reward 'bad_rewards:{name}': {why}" in r.stderr
    rows = read_jsonl(tmp_path / "o.jsonl")
    assert [row["rewards"]["bad_rewards:crash"] for row in rows] == [None] * 5
    assert [row["rewards"]["bad_rewards:boom"] for row in rows] == [2.0, None, 4.0, 3.0, 4.0]
    assert [row["rewards"]["bad_rewards:odd"] for row in rows] == [1.0, 1.0, 1.0, None, None]
    assert [row["reward_info"]["length"] for row in rows] == [2, None, 4, 3, 4]
    assert rows[1]["reward_info"]["reward_errors"] == {"bad_rewards:crash": "ZeroDivisionError: division by zero",
                                                       "bad_rewards:boom": "RuntimeError: cannot read this"}
    assert rows[4]["reward_info"]["reward_errors"]["bad_rewards:odd"] == "returned 'high', not a number"
    manifest = json.loads((tmp_path / "o.jsonl.manifest.json").read_text())
    assert manifest["reward_failures"] == {"bad_rewards:crash": 5, "bad_rewards:boom": 1, "bad_rewards:odd": 2}


# -- prompt length -------------------------------------------------------------------------------------
def test_sample_truncates_long_prompts_when_asked(tmp_path, cli, tiny_model, monkeypatch):
    """--long-prompts truncate keeps each long prompt's end (text, and chat messages with their
    template), leaves the others as they were, and says how many it cut."""
    from transformers import AutoTokenizer

    from r1cli.models import tokenize_prompt

    monkeypatch.chdir(tmp_path)
    chat = [{"role": "system", "content": "You add."}, {"role": "user", "content": "1 " * 3000 + "What is 1 + 1?"}]
    write_jsonl(tmp_path / "text.jsonl", [PROMPT, {**PROMPT, "id": "b", "prompt": "1 " * 3000 + "1+1="}])
    write_jsonl(tmp_path / "chat.jsonl", [{**PROMPT, "prompt": [{"role": "user", "content": "What is 1 + 1?"}]},
                                          {**PROMPT, "id": "b", "prompt": chat}])
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    for name in ("text", "chat"):
        r = cli("sample", f"{name}.jsonl", "-m", tiny_model, "-k", "1", "--max-new-tokens", "4", "--max-prompt-tokens", "100",
                "--long-prompts", "truncate", "-o", f"{name}.out.jsonl")
        assert r.code == 0, r
        assert "1 prompt(s) over 100 tokens cut to at most their last 100 tokens" in r.stderr
        short, cut = read_jsonl(tmp_path / f"{name}.out.jsonl")
        assert short["prompt_tokens"] == len(tokenize_prompt(tokenizer, short["prompt"])), "a short prompt is untouched"
        assert 90 <= cut["prompt_tokens"] <= 100
        assert cut["prompt"] == read_jsonl(tmp_path / f"{name}.jsonl")[1]["prompt"], "the record keeps its whole prompt"
        assert json.loads((tmp_path / f"{name}.out.jsonl.manifest.json").read_text())["stats"]["truncated_prompts"] == 1
    # What the model saw of the chat prompt: the template's frame, the end of the question.
    from r1cli.models import fit_prompts

    class Settings:
        max_prompt_tokens, long_prompts, max_new_tokens = 100, "truncate", 4

        @staticmethod
        def flag(field: str) -> str:
            return "--" + field.replace("_", "-")

    fitted = fit_prompts(tokenizer, [chat], lambda i: "chat.jsonl:2", Settings, context=2048, new_field="max_new_tokens", model="m")
    seen = tokenizer.decode(fitted.ids[0])
    assert seen.startswith("<|im_start|>system\n") and seen.endswith("What is 1 + 1?<|im_end|>\n<|im_start|>assistant\n")


def test_a_hopelessly_long_prompt_is_never_tokenized(tiny_model):
    """A prompt whose length alone says it is over the limit is refused without tokenizing it
    (a 50 MB prompt took gigabytes); truncating one tokenizes only about the part it keeps."""
    from transformers import AutoTokenizer

    from r1cli.errors import DataError
    from r1cli.models import fit_prompts

    real = AutoTokenizer.from_pretrained(tiny_model)
    seen: list[int] = []

    class Counting:
        def __getattr__(self, name):
            return getattr(real, name)

        def __call__(self, text, **kwargs):
            seen.extend(len(t) for t in ([text] if isinstance(text, str) else text))
            return real(text, **kwargs)

    class Settings:
        max_prompt_tokens, long_prompts, max_new_tokens = None, "refuse", 16

        @staticmethod
        def flag(field: str) -> str:
            return "--" + field.replace("_", "-")

    huge = "x" * 5_000_000
    with pytest.raises(DataError, match="5,000,000 characters, at least"):
        fit_prompts(Counting(), ["1+1=", huge], lambda i: f"p.jsonl:{i + 1}", Settings, context=2048,
                    new_field="max_new_tokens", model="m")
    assert max(seen) < 100, "the huge prompt was tokenized"
    seen.clear()
    Settings.long_prompts = "truncate"
    fitted = fit_prompts(Counting(), ["1+1=", huge], lambda i: f"p.jsonl:{i + 1}", Settings, context=2048,
                         new_field="max_new_tokens", model="m")
    assert fitted.truncated == 1 and len(fitted.ids[1]) <= 2048 - 16
    assert max(seen) < 200_000, "truncating tokenized far more than it keeps"


@pytest.mark.e2e
def test_grpo_trains_on_truncated_prompts(tmp_path, cli, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{**PROMPT, "id": f"q{i}", "prompt": ("1 " * 3000 if i == 0 else "") + f"{i}+1=", "answer": str(i + 1)} for i in range(4)]
    write_jsonl(tmp_path / "p.jsonl", rows)
    args = ["grpo", "p.jsonl", "-m", tiny_model, "-r", "format", "-G", "2", "--batch-size", "4", "--max-steps", "1",
            "--max-completion-length", "8", "--no-gradient-checkpointing", "-o", "run"]
    r = cli(*args)
    assert r.code == 2 and "p.jsonl:1: field 'prompt':" in r.stderr and "tokens, over the model's context of 2,048" in r.stderr
    assert not (tmp_path / "run").exists()
    r = cli(*args, "--long-prompts", "truncate")
    assert r.code == 0, r
    assert "grpo: 1 prompt(s) over 2,040 tokens cut to at most their last 2,040 tokens" in r.stderr
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["stats"]["truncated_prompts"] == 1
