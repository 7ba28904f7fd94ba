"""Every shell example in README.md runs as it is, in a fresh empty folder.

The README promises its examples work; this keeps that true. Two changes are made, and only
these: hub model names become the tiny test model (no network here), and training and sampling
commands get flags appended that cut them short (a later flag wins, so the example's own
settings are otherwise untouched). The block with the project's two `make` commands is the one
exception (they are what runs this test).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.e2e

BLOCK = re.compile(r"^```(?:bash|sh)\n(.*?)^```", re.M | re.S)
HUB_MODEL = re.compile(r"\b(?:Qwen|meta-llama|deepseek-ai|HuggingFaceTB|mistralai)/[\w.\-]+")
SHORTER = {
    "grpo": "--max-steps 1 -G 2 --batch-size 4 --max-completion-length 8 --save-steps 100 --no-gradient-checkpointing",
    "sft": "--max-steps 1 --no-gradient-checkpointing",
    "distill": "--max-steps 1 -k 1 --max-new-tokens 8 --no-gradient-checkpointing",
    "sample": "--max-new-tokens 8",
    "eval": "--max-new-tokens 8",
}
# One `r1cli COMMAND ...` up to the end of its pipeline segment or a comment.
COMMAND = re.compile(r"(r1cli (" + "|".join(SHORTER) + r")\b[^|&;#\n]*?)(\s*(?:[|&;#]|$))", re.M)


def _examples() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [b for b in BLOCK.findall(text) if "make demo" not in b]


def test_the_readme_has_examples():
    assert len(_examples()) >= 4


@pytest.mark.parametrize("index", range(len(_examples())), ids=lambda i: f"block{i + 1}")
def test_readme_example_runs_in_an_empty_folder(index, tmp_path, tiny_model):
    if shutil.which("jq") is None and "jq " in _examples()[index]:
        pytest.skip("the example pipes into jq, which is not installed (CI installs it)")
    script = HUB_MODEL.sub(str(tiny_model), _examples()[index])
    script = COMMAND.sub(lambda m: f"{m.group(1)} {SHORTER[m.group(2)]}{m.group(3)}", script)
    folder = tmp_path / "fresh"
    folder.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"README example failed:\n{script}\n--- stderr ---\n{proc.stderr[-3000:]}"
