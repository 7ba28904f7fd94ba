"""The command line as a user meets it: help, pipes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, read_jsonl, run_r1cli, write_jsonl
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


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "{tmp}/nope.jsonl", "-m", "m", "-o", "{tmp}/o.jsonl"], "nope.jsonl: no such file"),
        (["sample", "{tmp}/bad.jsonl", "-m", "m", "-o", "{tmp}/o.jsonl"], "bad.jsonl:2: malformed JSON"),
        (["sample", "{tmp}/p.jsonl", "-m", "{tmp}/no-model", "-o", "{tmp}/o.jsonl"], "no-model: no such folder"),
        (["sample", "{tmp}/p.jsonl", "-m", "{tmp}", "-o", "{tmp}/o.jsonl"], "not a model folder (no config.json"),
        (["sample", "{tmp}/p.jsonl", "-m", "nobody/no-model", "-o", "{tmp}/o.jsonl"], "not a local folder, and it could not be loaded from the Hugging Face hub"),
        (["sample", "{tmp}/p.jsonl", "-m", "m", "--top-p", "0", "-o", "{tmp}/o.jsonl"], "--top-p (config key 'top_p') must be in (0, 1]"),
        (["sample", "{tmp}/p.jsonl", "-m", "m", "-o", "{tmp}/p.jsonl"], "p.jsonl: output already exists; pass --force"),
        (["sample", "{tmp}/p.jsonl", "-c", "{tmp}/bad.yaml", "-o", "{tmp}/o.jsonl"], "unknown key 'temprature' (did you mean 'temperature'?)"),
        (["prepare", "sudoku", "-o", "{tmp}/o.jsonl"], "unknown task 'sudoku'; built-in tasks: countdown"),
        (["prepare", "math", "--data", "{tmp}/nope.jsonl", "-o", "{tmp}/o.jsonl"], "nope.jsonl: no such file or folder"),
        (["prepare", "arithmetic", "--template", "nope", "-o", "{tmp}/o.jsonl"], "--template 'nope': not a built-in template"),
        (["prepare", "arithmetic", "--field", "question", "-o", "{tmp}/o.jsonl"], "--field 'question': expected KEY=VALUE"),
        (["prepare", "arithmetic", "--option", "colour=3", "-o", "{tmp}/o.jsonl"], "bad generator option"),
        (["prepare", "arithmetic", "-o", "{tmp}/missing/o.jsonl"], "folder {tmp}/missing does not exist"),
        (["reward", "{tmp}/p.jsonl", "-o", "{tmp}/o.jsonl"], "field 'sample_index': missing; this input must be the output of `r1cli sample`"),
        (["tiny-model", "{tmp}"], "folder exists and is not empty; pass --force"),
    ],
)
def test_bad_input_one_line_no_output(tmp_path, cli, args, message):
    write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "task": "arithmetic", "prompt": "1+1", "answer": "2"}])
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "task": "t", "prompt": "x"}\n{"id": "b",\n')
    (tmp_path / "bad.yaml").write_text("temprature: 0.5\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli(*[a.format(tmp=tmp_path) for a in args])
    assert r.code == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert message.format(tmp=tmp_path) in lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing may be left behind"


def test_debug_shows_traceback(tmp_path):
    r = run_r1cli("--debug", "sample", tmp_path / "nope.jsonl", "-m", "m", "-o", tmp_path / "o.jsonl")
    assert r.code != 0 and "Traceback" in r.stderr


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
