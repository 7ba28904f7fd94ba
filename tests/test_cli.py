"""The command line as a user meets it: help, pipes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, read_jsonl, run_r1cli
from r1cli.cli import app

COMMANDS = sorted(__import__("typer").main.get_command(app).commands)


def test_help_for_every_command(cli):
    r = cli("--help")
    assert r.code == 0
    for name in COMMANDS:
        assert name in r.stdout
        sub = cli(name, "--help")
        assert sub.code == 0, name
        assert "Usage:" in sub.stdout and len(sub.stdout) > 200, name


def test_cli_module_imports_no_heavy_libraries():
    code = (
        "import sys, r1cli.cli\n"
        "from r1cli.commands import prepare, reward, sample, tiny_model\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'datasets', 'peft') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"r1cli --help must not import {out}"


def test_version(cli):
    from r1cli import __version__

    assert cli("--version").stdout.strip() == f"r1cli {__version__}"


def test_python_dash_m(tmp_path):
    r = run_r1cli("--help")
    assert r.code == 0 and "prepare" in r.stdout


# Bad input (one line, exit code, nothing left behind) and --debug: the catalogue in
# tests/test_bad_inputs.py, documented in docs/errors.md.


def test_prepare_stdout_is_only_data(tmp_path, cli):
    r = cli("prepare", "countdown", "-n", "5", "-o", "-")
    assert r.code == 0
    rows = r.records()
    assert len(rows) == 5 and {"id", "task", "question", "prompt", "answer", "numbers", "target"} <= set(rows[0])
    assert "prepare:" in r.stderr


def test_prepare_writes_manifest(tmp_path, cli):
    out = tmp_path / "p.jsonl"
    assert cli("prepare", "arithmetic", "-n", "3", "--option", "digits=1", "-o", out).code == 0
    manifest = json.loads((tmp_path / "p.jsonl.manifest.json").read_text())
    assert manifest["stage"] == "prepare" and manifest["output"]["rows"] == 3
    assert manifest["config"]["option"] == {"digits": 1}
    assert all(len(r["question"]) <= len("What is 9 + 9?") for r in read_jsonl(out))


@pytest.mark.e2e
def test_pipe_prepare_sample_reward(tmp_path, tiny_model):
    """The README's pipe, through a real shell: stdout carries only records."""
    cmd = (
        f"set -o pipefail; {sys.executable} -m r1cli prepare arithmetic -n 4 -o - "
        f"| {sys.executable} -m r1cli sample -m {tiny_model} -k 2 --max-new-tokens 8 -o - "
        f"| {sys.executable} -m r1cli reward - --reward accuracy --reward format=0.5 -o {tmp_path}/scored.jsonl"
    )
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = read_jsonl(tmp_path / "scored.jsonl")
    assert len(rows) == 8
    for row in rows:
        assert set(row["rewards"]) == {"accuracy", "format"}
        assert row["reward"] == pytest.approx(row["rewards"]["accuracy"] + 0.5 * row["rewards"]["format"])


@pytest.mark.parametrize("command", [
    ["prepare", "arithmetic", "-n", "3"],
    ["reward", "{examples}/samples.jsonl", "-r", "accuracy"],
    ["reject", "{examples}/scored.jsonl"],
    ["eval", "{examples}/scored.jsonl"],
])
def test_output_to_a_pipe_or_device_is_written_in_place(tmp_path, cli, command):
    """`-o /dev/null` or a named pipe: written as a stream; never replaced by a file, no manifest."""
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    args = [a.format(examples=REPO / "data" / "examples") for a in command]
    r = cli(*args, "-o", fifo)
    reader.join(timeout=60)
    assert r.code == 0, r
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the pipe must still be a pipe"
    assert received and received[0].strip(), "the data went through the pipe"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"], "no manifest, partial or temp file beside it"
