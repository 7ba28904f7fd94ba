"""Shared fixtures: a tiny model built offline once per session, and CLI runners."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Nothing in the tests may reach the network: hub lookups fail at once instead of retrying.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def shared_data(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test when the folder is absent (a user's clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's ../shared/data is not beside this checkout)")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from r1cli.tiny import TinySpec, build

    out = tmp_path_factory.mktemp("models") / "tiny"
    build(out, TinySpec(seed=0))
    return out


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """The same tiny model without a chat template, like a hub base model."""
    from r1cli.tiny import TinySpec, build

    out = tmp_path_factory.mktemp("models") / "tiny-base"
    build(out, TinySpec(seed=0, chat_template=False))
    return out


class CliResult:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.code, self.stdout, self.stderr = code, stdout, stderr

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, stderr={self.stderr[-2000:]!r})"


@pytest.fixture
def cli():
    """Run `r1cli ARGS` in-process through typer's CliRunner (fast; same error handling)."""
    from typer.testing import CliRunner

    from r1cli.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> CliResult:
        result = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


def run_r1cli(*args: str, input: str | None = None, cwd: Path | None = None, timeout: float = 600) -> CliResult:
    """Run the real `python -m r1cli` in a subprocess (pipes, kills, exit codes as a shell sees them)."""
    proc = subprocess.run([sys.executable, "-m", "r1cli", *map(str, args)], input=input, capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def kill_after_checkpoint(args: list[str], out: Path, step: int, env: dict | None = None) -> None:
    """Run a training command (`args` without `-o`) writing to `out`, and SIGKILL it as soon as
    `checkpoint-<step>` has finished saving."""
    import signal
    import time

    proc = subprocess.Popen([*args, "-o", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / f"checkpoint-{step}" / "r1cli_checkpoint.json").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
