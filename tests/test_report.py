"""`r1cli report`: collection and tables on a hand-made run folder, errors, and a real tiny pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from conftest import write_jsonl
from r1cli import console
from r1cli.cli import app
from r1cli.commands import report
from r1cli.errors import R1Error

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIRED = "report" in typer.main.get_command(app).commands  # type: ignore[attr-defined]


def _manifest(stage: str, started: str, finished: str, stats: dict | None = None, **extra) -> dict:
    return {"stage": stage, "r1cli_version": "0.1.0", "config": extra.pop("config", {}), "inputs": [], "model": None,
            "started_at": f"2026-01-01T{started}+00:00", "finished_at": f"2026-01-01T{finished}+00:00",
            "stats": stats or {}, **extra}


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _entry(name: str, k: int, p1: float, cons: float, tokens: float = 10.0, trunc: float = 0.0, **more) -> dict:
    entry = {"name": name, "prompts": 4, "samples": 4 * k, "k": k, "pass@1": p1}
    if k >= 2:
        entry["pass@2"] = min(1.0, p1 * 1.5)
    if k > 2:
        entry[f"pass@{k}"] = min(1.0, p1 * 2)
    entry.update({f"cons@{k}": cons, "mean_completion_tokens": tokens, "truncation_rate": trunc, "unjudged_samples": 0, **more})
    return entry


def _eval(folder: Path, name: str, finished: str, entries: list[dict]) -> None:
    _write(folder / name, {"runs": entries})
    _write(folder / f"{name}.manifest.json", _manifest("eval", "09:00:00", finished, {"runs": len(entries)}))


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A run folder as a recipe leaves it: a base model, prompts, GRPO, SFT, a distill folder,
    a killed run, and two eval files (the later one written first, in a subfolder)."""
    root = tmp_path / "mini"
    _write(root / "base" / "manifest.json", _manifest("tiny-model", "10:00:00", "10:00:04"))
    (root / "prompts.jsonl").write_text("{}\n")
    _write(root / "prompts.jsonl.manifest.json", _manifest("prepare", "10:00:05", "10:00:05", {"records": 8}, output={"rows": 8}))

    grpo = root / "grpo"
    _write(grpo / "manifest.json", _manifest("grpo", "10:01:00", "10:03:00", {"steps": 3, "seconds": 120.5}, world_size=2,
                                             config={"batch_size": 8, "gradient_accumulation_steps": 2}))
    _write(grpo / "r1cli_run.json", {"stage": "grpo"})
    # 32 completions a step (8 x 2 accumulation x 2 processes); step 3 is logged for steps 2 and 3.
    write_jsonl(grpo / "metrics.jsonl", [
        {"step": 1, "reward": 0.1, "reward_std": 0.05, "loss": 0.0, "completions/mean_length": 10.0, "num_tokens": 1000.0},
        {"step": 3, "reward": 0.5, "reward_std": 0.2, "loss": 0.0, "completions/mean_length": 20.0, "num_tokens": 3500.0},
        {"step": 3, "train_runtime": 100.0, "train_loss": 0.0},
    ])
    # A checkpoint repeats the run: never entered.
    _write(grpo / "checkpoint-2" / "manifest.json", _manifest("grpo", "10:01:00", "10:02:00"))

    _write(root / "sft" / "manifest.json", _manifest(
        "sft", "10:02:00", "10:03:05",
        {"steps": 10, "seconds": 65.0, "first": {"step": 1, "loss": 2.5}, "last": {"step": 10, "loss": 1.2},
         "eval_loss_before": 2.0, "eval_loss_after": 1.5}, world_size=1))

    distill = root / "distill"
    _write(distill / "manifest.json", _manifest("distill", "10:03:00", "10:08:00", {"seconds": 300.0}, config={"mode": "sequence"}))
    (distill / "teacher_samples.jsonl").write_text("{}\n")
    _write(distill / "teacher_samples.jsonl.manifest.json", _manifest("sample", "10:03:00", "10:04:00", {"seconds": 60.0, "samples": 16, "mean_completion_tokens": 62.5}, output={"rows": 16}))
    _write(distill / "student" / "manifest.json", _manifest("sft", "10:05:00", "10:07:40", {"steps": 4, "seconds": 100.0}, world_size=1))
    _write(distill / "student" / "r1cli_run.json", {"stage": "sft"})
    write_jsonl(distill / "student" / "metrics.jsonl", [{"step": s, "loss": 3.0 - s / 2, "num_tokens": 500.0 * s} for s in (1, 2, 3, 4)])

    killed = root / "killed"
    _write(killed / "r1cli_run.json", {"stage": "grpo"})
    (killed / "metrics.jsonl").write_text('{"step": 1, "reward": 0.0, "reward_std": 0.0}\n{"step": 2, "reward": 0.25, "reward_std": 0.1}\n{"step": 3, "rew')

    _eval(root / "evals", "late.json", "11:00:00", [
        _entry("../distill/student", 2, 0.5, 0.5, trunc=0.25),
        _entry("Qwen/Qwen2.5-0.5B", 2, 0.0, 0.0),
        _entry(str(root.resolve() / "sft"), 2, 0.125, float("nan")),
    ])
    _eval(root, "eval.json", "10:30:00", [_entry("base", 4, 0.0, 0.0, tokens=12.5, trunc=1.0),
                                          _entry("runs/mini/grpo", 4, 0.25, 0.5, tokens=20.25)])
    # eval's own samples folder and an older report: neither is part of the run.
    _write(root / "eval.json.samples" / "x.jsonl.manifest.json", _manifest("sample", "10:20:00", "10:21:00"))
    _write(root / "old-report" / "manifest.json", _manifest("report", "09:00:00", "09:00:01"))
    _write(root / "old-report" / "nested" / "manifest.json", _manifest("grpo", "09:00:00", "09:00:01"))
    return root


def _collect(root: Path) -> dict:
    return report.collect(report.scan(root), str(root.resolve()), generated_at="2026-01-01T12:00:00+00:00")


def test_stage_table_rows_in_eval_finish_order(run_dir):
    header, rows = report.stage_table(_collect(run_dir))
    assert header == ["run", "eval", "stage", "k", "pass@1", "pass@k", "cons@k", "mean tokens", "truncated", "wall time"]
    assert rows == [
        ["base", "eval.json", "tiny-model", "4", "0.0%", "0.0%", "0.0%", "12.5", "100.0%", "4.0s"],
        ["grpo", "eval.json", "grpo", "4", "25.0%", "50.0%", "50.0%", "20.2", "0.0%", "2m00s"],
        ["distill/student", "evals/late.json", "distill", "2", "50.0%", "75.0%", "50.0%", "10.0", "25.0%", "5m00s"],
        ["Qwen/Qwen2.5-0.5B", "evals/late.json", "-", "2", "0.0%", "0.0%", "0.0%", "10.0", "0.0%", "-"],
        ["sft", "evals/late.json", "sft", "2", "12.5%", "18.8%", "-", "10.0", "0.0%", "1m05s"],
    ]


def test_training_table_and_curves(run_dir):
    data = _collect(run_dir)
    header, rows = report.training_table(data)
    assert header == ["run", "stage", "status", "steps", "wall time", "first → last", "held-out loss", "tokens generated / trained",
                      "world size", "alarms"]
    assert rows == [
        ["grpo", "grpo", "finished", "3", "2m00s", "reward 0.100 → 0.500", "-", "1.6k / 3.5k", "2", "-"],
        ["sft", "sft", "finished", "10", "1m05s", "loss 2.500 → 1.200", "2.000 → 1.500", "- / -", "1", "-"],
        ["distill", "distill (sequence)", "finished", "4", "5m00s", "loss 2.500 → 1.000", "-", "1.0k / 2.0k", "1", "-"],
        ["killed", "grpo", "unfinished", "2", "-", "reward 0.000 → 0.250", "-", "- / -", "-", "-"],
    ]
    grpo = data["training"][0]
    assert grpo["curve"] == [{"step": 1, "value": 0.1, "std": 0.05}, {"step": 3, "value": 0.5, "std": 0.2}]
    # Compute, for fair comparisons: 32 x 10 at step 1, 32 x 20 for each of steps 2 and 3.
    assert grpo["tokens_generated"] == 32 * 10 + 2 * 32 * 20 and grpo["tokens_trained"] == 3500
    assert data["training"][2]["tokens_generated"] == 16 * 62.5 and data["training"][2]["tokens_trained"] == 2000
    distill = data["training"][2]
    assert distill["student"] == "distill/student" and distill["student_wall_seconds"] == 100.0


def test_other_artifacts_skip_checkpoints_samples_and_reports(run_dir):
    data = _collect(run_dir)
    assert report.artifact_table(data)[1] == [
        ["base/", "tiny-model", "-", "4.0s"],
        ["prompts.jsonl", "prepare", "8", "0.0s"],
        ["distill/teacher_samples.jsonl", "sample", "16", "1m00s"],
    ]
    assert [r["path"] for r in data["training"]] == ["grpo", "sft", "distill", "killed"]
    assert data["eval_files"] == ["eval.json", "evals/late.json"]


def test_markdown_and_json(run_dir):
    data = _collect(run_dir)
    data["plots"] = [report.PASS_PLOT]
    md = report.to_markdown(data)
    assert f"Run folder: `{run_dir.resolve()}`" in md and "Generated: 2026-01-01T12:00:00+00:00" in md
    assert "| grpo | eval.json | grpo | 4 | 25.0% | 50.0% | 50.0% | 20.2 | 0.0% | 2m00s |" in md
    assert "![pass@1 and cons@k per model](pass_at_1.png)" in md and "reward.png" not in md
    parsed = json.loads(report.to_json(data))  # NaN from eval becomes null, never invalid JSON
    assert parsed["evaluations"][4]["cons@k"] is None and parsed["evaluations"][4]["metrics"]["cons@2"] is None
    assert set(parsed) == {"run_dir", "generated_at", "r1cli_version", "evaluations", "seeds", "training", "artifacts", "eval_files", "plots"}
    assert parsed["seeds"] == []  # no seed-N/ folders here


def test_one_eval_file_gives_concrete_headers():
    found = {"folders": [], "inputs": [], "files": [
        {"path": "e.json", "manifest": _manifest("eval", "09:00:00", "09:01:00"),
         "result": {"runs": [_entry("m", 8, 0.5, 0.75, best_of=None), {**_entry("n", 8, 0.25, 0.5), "best_of@8": 0.5}]}}]}
    header, rows = report.stage_table(report.collect(found, "/x"))
    assert header == ["run", "stage", "pass@1", "pass@8", "cons@8", "best_of@8", "mean tokens", "truncated", "wall time"]
    assert rows[1] == ["n", "-", "25.0%", "50.0%", "50.0%", "50.0%", "10.0", "0.0%", "-"]


def test_unfinished_token_distill_and_merged_models():
    folders = [
        {"path": "opd", "manifest": None, "identity": {"stage": "distill"}, "metrics": [{"step": 1, "loss": 0.5}]},
        {"path": "rl", "manifest": _manifest("grpo", "10:00:00", "10:00:30", {"steps": 1}), "identity": {}, "metrics": []},
        {"path": "rl-merged", "manifest": _manifest("merge", "10:01:00", "10:01:02", config={"adapter": "runs/rl"}), "identity": {}, "metrics": []},
    ]
    found = {"folders": folders, "inputs": [], "files": [{"path": "e.json", "manifest": _manifest("eval", "09:00:00", "11:00:00"),
                                                          "result": {"runs": [_entry("rl/merged", 1, 1.0, 1.0), _entry("rl-merged", 1, 1.0, 1.0)]}}]}
    data = report.collect(found, "/x")
    assert [(r["path"], r["stage"], r["status"], r["steps"]) for r in data["training"]] == [("rl", "grpo", "finished", 1), ("opd", "distill-token", "unfinished", 1)]
    assert [(e["stage"], e["producer"], e["wall_seconds"]) for e in data["evaluations"]] == [("grpo", "rl", 30.0), ("grpo (merged)", "rl", 30.0)]


@pytest.mark.parametrize(
    "name, eval_dir, expected_first",
    [("grpo", ".", "grpo"), ("../grpo", "evals", "grpo"), ("runs/mini/grpo", ".", "runs/mini/grpo"),
     ("/abs/mini/grpo", ".", "grpo"), ("grpo on test", ".", "grpo on test")],
)
def test_candidates(name, eval_dir, expected_first):
    found = report.candidates(name, eval_dir, "/abs/mini")
    assert found[0] == expected_first and "grpo" in found


@pytest.mark.parametrize("seconds, text", [(None, "-"), (4.04, "4.0s"), (59.9, "59.9s"), (65, "1m05s"), (3599, "59m59s"), (7380, "2h03m")])
def test_duration(seconds, text):
    assert report.duration(seconds) == text


def test_run_writes_the_report_folder(run_dir, capsys):
    data = report.run(str(run_dir), fmt="json")
    out = run_dir / "report"
    assert sorted(p.name for p in out.iterdir()) == ["length.png", "manifest.json", "pass_at_1.png", "report.json", "report.md", "reward.png"]
    assert json.loads(capsys.readouterr().out) == json.loads((out / "report.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "report" and manifest["stats"]["evaluations"] == 5
    assert {i["path"] for i in manifest["inputs"]} == {"eval.json", "evals/late.json", "grpo/metrics.jsonl", "killed/metrics.jsonl", "distill/student/metrics.jsonl"}
    assert data["plots"] == ["reward.png", "length.png", "pass_at_1.png"]
    for png in ("reward.png", "pass_at_1.png"):
        _assert_png(out / png)
    # A second report refuses to replace the first, then replaces it with --force (and skips it while scanning).
    with pytest.raises(R1Error, match="holds a finished run; pass --force"):
        report.run(str(run_dir))
    again = report.run(str(run_dir), force=True)
    assert len(again["evaluations"]) == 5 and not list(run_dir.glob(".report*"))


def test_plots_skipped_when_nothing_to_draw(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(console, "quiet", False)  # an earlier `-q` CLI test leaves it set
    _write(tmp_path / "m" / "manifest.json", _manifest("tiny-model", "10:00:00", "10:00:04"))
    data = report.run(str(tmp_path / "m"), str(tmp_path / "r"), fmt="markdown")
    assert data["plots"] == [] and sorted(p.name for p in (tmp_path / "r").iterdir()) == ["manifest.json", "report.json", "report.md"]
    captured = capsys.readouterr()
    assert captured.out.startswith("# r1cli report") and "No eval results" in captured.out
    assert "skipping reward.png" in captured.err and "skipping pass_at_1.png" in captured.err


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "no such folder"),
        (lambda p: p.write_text("x"), "is a file"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("hi")), "no r1cli artifacts here"),
        (lambda p: (p.mkdir(), (p / "a.jsonl.manifest.json").write_text("{broken")), "a.jsonl.manifest.json: unreadable manifest"),
        (lambda p: _write(p / "e.json.manifest.json", _manifest("eval", "1", "2")) and (p / "e.json").write_text("[]"), "not r1cli eval results"),
        (lambda p: (_write(p / "r" / "r1cli_run.json", {}), (p / "r" / "metrics.jsonl").write_text('{"step": 1\n{"step": 2}\n')), "metrics.jsonl:1: malformed"),
    ],
)
def test_errors_are_one_line(tmp_path, setup, message):
    target = tmp_path / "run"
    setup(target)
    with pytest.raises(R1Error, match=message) as info:
        report.run(str(target), str(tmp_path / "out"))
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


def test_output_folder_rules(run_dir, tmp_path):
    with pytest.raises(R1Error, match="cannot be the run folder"):
        report.run(str(run_dir), str(run_dir))
    with pytest.raises(R1Error, match="cannot be the run folder"):
        report.run(str(run_dir), str(run_dir.parent))
    other = tmp_path / "keep"
    other.mkdir()
    (other / "precious.txt").write_text("mine")
    with pytest.raises(R1Error, match="not an r1cli output folder"):
        report.run(str(run_dir), str(other), force=True)
    assert (other / "precious.txt").exists()
    with pytest.raises(R1Error, match="--format 'html'"):
        report.run(str(run_dir), fmt="html")


def _assert_png(path: Path) -> None:
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000
    pixels = matplotlib.image.imread(str(path))
    assert pixels.shape[0] >= 400 and pixels.shape[1] >= 700 and float(pixels.std()) > 0.01  # drawn, not blank


@pytest.mark.e2e
def test_report_on_a_real_tiny_pipeline(tmp_path, cli):
    root = tmp_path / "run"
    root.mkdir()
    assert cli("tiny-model", root / "base").code == 0
    prompts = root / "prompts.jsonl"
    assert cli("prepare", "arithmetic", "-n", "4", "-o", prompts).code == 0
    grpo = cli("grpo", prompts, "-m", root / "base", "-G", "4", "--batch-size", "8", "--max-steps", "2",
               "--max-completion-length", "8", "-o", root / "grpo")
    assert grpo.code == 0, grpo
    ev = cli("eval", prompts, "-m", root / "base", "-m", root / "grpo", "-k", "2", "--max-new-tokens", "8", "-o", root / "eval.json")
    assert ev.code == 0, ev

    if WIRED:
        result = cli("report", root, "--format", "json")
        assert result.code == 0, result
        data = json.loads(result.stdout)
    else:
        data = report.run(str(root))
    out = root / "report"
    assert {"report.md", "report.json", "reward.png", "pass_at_1.png", "manifest.json"} <= {p.name for p in out.iterdir()}
    assert [(e["name"], e["stage"]) for e in data["evaluations"]] == [("base", "tiny-model"), ("grpo", "grpo")]
    assert [(t["path"], t["stage"], t["status"], t["steps"]) for t in data["training"]] == [("grpo", "grpo", "finished", 2)]
    assert [p["step"] for p in data["training"][0]["curve"]] == [1, 2]
    md = (out / "report.md").read_text()
    assert "| base | tiny-model |" in md and "![GRPO reward over steps](reward.png)" in md
    for png in ("reward.png", "pass_at_1.png"):
        _assert_png(out / png)


@pytest.mark.skipif(not WIRED, reason="`r1cli report` is not wired into cli.py yet")
def test_cli_report_errors_and_formats(run_dir, tmp_path, cli):
    missing = cli("report", tmp_path / "nope")
    assert missing.code == 2 and "no such folder" in missing.stderr and missing.stderr.count("\n") == 1
    md = cli("report", run_dir, "-o", tmp_path / "r", "--format", "markdown")
    assert md.code == 0 and md.stdout.startswith("# r1cli report") and "evaluated models" in md.stderr
    quiet = cli("report", run_dir, "-o", tmp_path / "r2")
    assert quiet.code == 0 and quiet.stdout == ""
    assert cli("report", run_dir, "-o", tmp_path / "r2").code == 2
    assert cli("report", run_dir, "-o", tmp_path / "r2", "--force").code == 0
    assert cli("report", "--help").code == 0


def test_grpo_runs_show_alarms_length_and_the_probe_answers(tmp_path):
    """What a GRPO run leaves beside its curve: its run-health alarms, its length and accuracy
    over steps (R1's "thinking time grows" plot), and how it answered a watched prompt."""
    root = tmp_path / "run"
    grpo = root / "rl"
    _write(grpo / "manifest.json", _manifest("grpo", "10:00:00", "10:05:00", {"steps": 10}))
    rows = [{"step": s, "reward": 0.1 * s, "completions/mean_length": 20 + 3 * s, "rewards/accuracy/mean": 0.05 * s,
             **({"alarms": ["no_spread"]} if s == 5 else {})} for s in range(1, 11)]
    (grpo / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    probes = [{"step": s, "kind": "probe", "id": "t1", "prompt": "What is 2 + 3?", "completion": f"answer at {s}"} for s in (1, 5, 10)]
    probes.append({"step": 5, "kind": "probe", "id": "t2", "prompt": "other", "completion": "not shown"})
    (grpo / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*probes, {"step": 5, "completion": "a rollout"}]))
    data = report.run(str(root))
    [row] = data["training"]
    assert row["alarms"] == ["no_spread"] and report.training_table(data)[1][0][-1] == "no_spread"
    assert [a["step"] for a in row["probe"]["answers"]] == [1, 5, 10] and row["probe"]["prompt"] == "What is 2 + 3?"
    assert report.LENGTH_PLOT in data["plots"]
    _assert_png(root / "report" / report.LENGTH_PLOT)
    markdown = (root / "report" / "report.md").read_text()
    assert "answered a held-out prompt" in markdown and "answer at 10" in markdown and "not shown" not in markdown
    # A long prompt keeps its end, where the question is, not the template before it.
    long = report._probe_markdown("rl", {"id": "t", "prompt": "template " * 100 + "What is 2 + 3?", "answers": []})
    assert "\n… " in long and long.count("template") < 100 and long.endswith("What is 2 + 3?\n```\n")


def test_repeats_under_seed_folders_are_averaged(tmp_path):
    """seed-0/, seed-1/, seed-2/ hold the same pipeline: each model's mean ± sd over the seeds,
    in the table, the markdown and the pass@1 plot; a model under one seed only is left out."""
    root = tmp_path / "seeds"
    _write(root / "base" / "manifest.json", _manifest("tiny-model", "09:00:00", "09:00:01"))
    for seed, (base, zero) in enumerate(((0.5, 0.7), (0.4, 0.9), (0.6, 0.8))):
        folder = root / f"seed-{seed}"
        _write(folder / "grpo" / "manifest.json", _manifest("grpo", "10:00:00", "10:01:00", {"steps": 2}))
        # The base is shared (trained once, at the top); each seed's eval samples it again.
        entries = [_entry(f"{root}/base", 4, base, base + 0.1, tokens=10.0 + seed), _entry(f"{folder}/grpo", 4, zero, zero, format_rate=zero)]
        if seed == 0:
            entries.append(_entry(f"{folder}/extra", 4, 0.3, 0.3))
        _eval(folder, "evals.json", f"10:0{seed + 2}:00", entries)
    out = report.run(str(root))
    rows = {r["name"]: r for r in out["seeds"]}
    assert list(rows) == ["base", "grpo"] and rows["grpo"]["stage"] == "grpo" and rows["base"]["seeds"] == [0, 1, 2]
    assert rows["base"]["pass@1"]["mean"] == pytest.approx(0.5) and rows["base"]["pass@1"]["sd"] == pytest.approx(0.1)
    assert rows["grpo"]["cons@k"]["values"] == pytest.approx([0.7, 0.9, 0.8])
    assert rows["base"]["mean_completion_tokens"]["mean"] == pytest.approx(11.0)
    header, table = report.seeds_table(out)
    assert header == ["run", "stage", "seeds", "pass@1", "pass@4", "cons@4", "R1 format", "mean tokens"]
    assert table[1] == ["grpo", "grpo", "0,1,2", "80.0 ± 10.0%", "100.0 ± 0.0%", "80.0 ± 10.0%", "80.0 ± 10.0%", "10.0 ± 0.0"]
    assert table[0][6] == "-"  # eval files older than format_rate: no value, not 0
    md = (root / "report" / "report.md").read_text()
    assert "mean ± standard deviation over 3 seeds" in md and "| base | tiny-model | 0,1,2 | 50.0 ± 10.0% |" in md
    assert "seed-0/extra" in md  # each seed's own rows are still listed
    _assert_png(root / "report" / report.PASS_PLOT)
