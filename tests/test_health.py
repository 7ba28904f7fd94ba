"""Run-health alarms: each fires on the metrics of a run that is not learning, none on a healthy one."""

from __future__ import annotations

import json

import pytest

from conftest import write_jsonl
from r1cli.health import WINDOW, Health

HEALTHY = {"reward": 0.4, "kl": 0.01, "entropy": 1.2, "completions/clipped_ratio": 0.1, "frac_reward_zero_std": 0.3,
           "rewards/format/mean": 0.5}


def _alarms(rows, **kwargs) -> list[str]:
    health = Health(**kwargs)
    return [a.name for row in rows for a in health.observe(row)]


def _steps(**changes) -> list[dict]:
    """WINDOW steps of a healthy run, with `changes`: a value, or a function of the step index."""
    rows = []
    for i in range(WINDOW):
        row = dict(HEALTHY)
        row["reward"] = 0.4 + 0.05 * i  # learning
        for key, value in changes.items():
            row[key] = value(i) if callable(value) else value
        rows.append(row)
    return rows


@pytest.mark.parametrize("changes, alarm", [
    ({"completions/clipped_ratio": 0.95}, "truncated"),
    ({"frac_reward_zero_std": 0.9}, "no_spread"),
    ({"reward": 0.3, "kl": lambda i: 0.01 * 2 ** i}, "reward_flat_kl"),
])
def test_each_alarm_fires_on_its_failure(changes, alarm):
    assert _alarms(_steps(**changes)) == [alarm]


def test_entropy_collapse_is_measured_against_where_it_started():
    assert _alarms([*_steps(), *_steps(entropy=0.01)]) == ["entropy"]
    assert _alarms([*_steps(), *_steps(entropy=0.3)]) == []  # lower, not collapsed


def test_healthy_runs_raise_nothing():
    assert _alarms(_steps()) == []
    assert _alarms(_steps(**{"completions/clipped_ratio": 0.85, "frac_reward_zero_std": 0.7})) == []  # below the bars
    assert _alarms(_steps(**{"reward": 0.3})) == []  # flat, but the KL is not climbing
    assert _alarms(_steps(**{"rewards/format/mean": 0.0})) == []  # no format: not an alarm without the template mismatch


def test_format_zero_needs_the_text_template_on_a_chat_model_and_fires_once():
    rows = _steps(**{"rewards/format/mean": 0.0}) * 3
    assert _alarms(rows, text_template_on_chat_model=True) == ["format_zero"]


def test_an_alarm_needs_a_full_window():
    assert _alarms(_steps(**{"completions/clipped_ratio": 1.0})[:-1]) == []


@pytest.mark.e2e
def test_a_degenerate_grpo_run_warns_and_stops_resumably(tmp_path, cli, tiny_model):
    """Two-token completions: every completion is truncated. The run warns with what to change,
    marks the step in metrics.jsonl, and with --stop-on-alarm stops after a checkpoint."""
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": f"p{i}", "task": "arithmetic", "prompt": f"{i} + 1 =", "answer": str(i + 1)}
                                                 for i in range(16)])
    args = ["grpo", prompts, "-m", tiny_model, "-r", "format", "-G", "4", "--batch-size", "8", "--max-completion-length", "2",
            "--max-steps", str(WINDOW + 2), "--save-steps", "100", "--no-gradient-checkpointing"]
    r = cli(*args, "--probe", prompts, "--samples-every", "5", "-o", tmp_path / "warned")
    assert r.code == 0, r
    # --probe: the watched prompts' greedy answers at step 1 and every --samples-every steps.
    probes = [json.loads(line) for line in (tmp_path / "warned" / "samples.jsonl").read_text().splitlines()]
    probes = [p for p in probes if p.get("kind") == "probe"]
    assert sorted({p["step"] for p in probes}) == [1, 5] and {p["id"] for p in probes} == {"p0", "p1", "p2", "p3"}
    assert "raise --max-completion-length" in r.stderr and r.stderr.count("hit the length limit") == 1
    alarms = [json.loads(line).get("alarms") for line in (tmp_path / "warned" / "metrics.jsonl").read_text().splitlines()]
    # Every completion cut at 2 tokens: truncated, and (all format scores 0) no reward spread either.
    assert "truncated" in alarms[WINDOW - 1] and not any(alarms[:WINDOW - 1])

    stopped = tmp_path / "stopped"
    r = cli(*args, "--stop-on-alarm", "-o", stopped)
    assert r.code == 1 and "stopped at step 5 by the run-health alarm 'truncated'" in r.stderr and "--resume" in r.stderr, r
    assert (stopped / f"checkpoint-{WINDOW}").is_dir() and not (stopped / "manifest.json").exists()
