"""r1cli's stderr contract holds whatever the libraries print: no library warning or log line
reaches stderr unless --debug, and r1cli's own calls into transformers raise no deprecation."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

from conftest import write_jsonl

# A real command with one change: the fast backend passes its cache by transformers' deprecated
# keyword, so the library itself raises its FutureWarning on every forward call.
_OLD_KEYWORD = """
import sys
import r1cli.backends.fast as fast
fast.cache_keyword = lambda model: "past_key_values"
from r1cli.cli import main
sys.argv = ["r1cli", *sys.argv[1:]]
main()
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _OLD_KEYWORD, *args], capture_output=True, text=True, timeout=300)


def _prompts(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "task": "arithmetic", "prompt": "1 + 2 =", "answer": "3"}])


def test_a_library_deprecation_stays_off_stderr_unless_debug(tmp_path, tiny_model):
    args = ["sample", str(_prompts(tmp_path)), "-m", str(tiny_model), "-k", "2", "--max-new-tokens", "4", "--backend", "fast"]
    quiet = _run(*args, "-o", str(tmp_path / "a.jsonl"))
    assert quiet.returncode == 0, quiet.stderr
    assert "past_key_values" not in quiet.stderr and "Warning" not in quiet.stderr, quiet.stderr
    # Every line left is r1cli's own: its progress and its summary.
    assert all(line.startswith("sample") for line in quiet.stderr.splitlines()), quiet.stderr

    shown = _run("--debug", *args, "-o", str(tmp_path / "b.jsonl"))
    assert shown.returncode == 0, shown.stderr
    assert "FutureWarning" in shown.stderr and "past_key_values" in shown.stderr


def test_an_error_is_one_line_even_when_a_library_warned_first(tmp_path, tiny_model):
    """The model runs (and the library warns at every step), then the write fails: stderr still
    holds r1cli's lines only, ending in the one error line."""
    args = ["sample", str(_prompts(tmp_path)), "-m", str(tiny_model), "-k", "2", "--max-new-tokens", "4", "--backend", "fast",
            "-o", "/dev/full"]
    proc = _run(*args)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and lines and lines[-1].startswith("error: "), proc.stderr
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:], proc.stderr
    assert "Warning" not in proc.stderr and "past_key_values" not in proc.stderr, proc.stderr


def test_the_fast_backend_uses_the_current_cache_keyword(tiny_model):
    """r1cli's own calls raise no deprecation from the installed transformers."""
    from r1cli import models
    from r1cli.backends import SamplingParams
    from r1cli.backends.fast import FastBackend

    ref = models.resolve(str(tiny_model))
    backend = FastBackend(models.load_model(ref, device="cpu", dtype=None), models.load_tokenizer(ref))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend.generate([[1, 2, 3], [4, 5]], SamplingParams(k=2, temperature=0.7, max_new_tokens=4), seed=0)
    assert not [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
