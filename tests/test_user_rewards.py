"""A user's own reward function, by dotted path or by file, in every command that takes rewards."""

from __future__ import annotations

import subprocess
import sys

from conftest import read_jsonl, run_r1cli, write_jsonl

SAMPLE = {"id": "a", "task": "arithmetic", "prompt": "1 + 2 =", "answer": "3", "sample_index": 0, "completion": "3",
          "finish_reason": "stop", "prompt_tokens": 3, "completion_tokens": 1}
REWARD_FILE = '''
import json  # beside a file named json.py below: the real json must win
def brevity(completions, **kwargs):
    return [1.0 / (1 + len(c)) for c in completions]
'''


def test_reward_from_a_file_scores_without_touching_sys_path(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "my_rewards.py").write_text(REWARD_FILE)
    (folder / "json.py").write_text("raise RuntimeError('this folder must not be on sys.path')\n")
    samples = write_jsonl(tmp_path / "s.jsonl", [SAMPLE, {**SAMPLE, "sample_index": 1, "completion": "three"}])
    r = run_r1cli("reward", samples, "-r", f"{folder}/my_rewards.py:brevity=2", "-o", tmp_path / "scored.jsonl")
    assert r.code == 0, r
    rows = read_jsonl(tmp_path / "scored.jsonl")
    assert [row["reward"] for row in rows] == [2 / 2, 2 / 6]


def test_reward_file_errors_are_one_line(tmp_path, cli):
    samples = write_jsonl(tmp_path / "s.jsonl", [SAMPLE])
    (tmp_path / "broken.py").write_text("def f(:\n")
    (tmp_path / "ok.py").write_text(REWARD_FILE)
    for spec, message in ((f"{tmp_path}/missing.py:f", "no such file"), (f"{tmp_path}/broken.py:f", "failed to load: SyntaxError"),
                          (f"{tmp_path}/ok.py:nope", "has no function 'nope'")):
        r = cli("reward", samples, "-r", spec, "-o", tmp_path / "o.jsonl")
        assert r.code == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r
    assert not (tmp_path / "o.jsonl").exists()


def test_grpo_and_distill_take_reward_files(tmp_path):
    """The configs of the other stages that score resolve the same specs (training itself is
    covered by the grpo tests with a dotted path)."""
    (tmp_path / "ok.py").write_text(REWARD_FILE)
    code = (
        "import sys, r1cli.tasks\n"
        "from r1cli import rewards\n"
        "from r1cli.commands.grpo import GrpoConfig\n"
        "from r1cli.commands.distill import DistillConfig\n"
        f"spec = '{tmp_path}/ok.py:brevity=0.5'\n"
        "for cfg in (GrpoConfig.build(model='m', rewards=[spec]), DistillConfig.build(teacher='t', model='s', rewards=[spec])):\n"
        "    [r] = rewards.resolve(cfg.rewards)\n"
        "    assert r.spec.weight == 0.5 and r(['ab']) == [1 / 3]\n"
        f"assert '{tmp_path}' not in sys.path\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
