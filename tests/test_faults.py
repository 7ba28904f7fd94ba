"""Faults: kills, torn lines, a full disk and two runs on one output, through the real CLI.

(Killed and resumed training, `grpo` and `sft`, is tested in test_grpo.py and test_sft.py.)
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import read_jsonl, run_r1cli, write_jsonl


def _lines(path: Path) -> list[str]:
    """The complete lines of a file being written (a torn last line is left out)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    return text.split("\n")[:-1]


def _groups(path: Path, k: int) -> dict[str, list[dict]]:
    """The complete groups (all K samples) in a sample partial or output, by prompt id."""
    return _groups_of_lines(_lines(path), k)


def _groups_from_text(text: str, k: int) -> dict[str, list[dict]]:
    return _groups_of_lines(text.split("\n")[:-1], k)


def _groups_of_lines(lines: list[str], k: int) -> dict[str, list[dict]]:
    by_id: dict[str, list[dict]] = {}
    for line in lines:
        row = json.loads(line)
        if "__r1cli_partial__" not in row:
            by_id.setdefault(row["id"], []).append(row)
    return {i: sorted(rows, key=lambda r: r["sample_index"]) for i, rows in by_id.items()
            if sorted(r["sample_index"] for r in rows) == list(range(k))}


def _sample_cmd(prompts: Path, model: Path, out: Path, *, k: int, n_tokens: int = 12, batch: int = 2, seed: int = 7) -> list[str]:
    return [sys.executable, "-m", "r1cli", "sample", str(prompts), "-m", str(model), "-k", str(k), "--max-new-tokens",
            str(n_tokens), "--batch-size", str(batch), "--seed", str(seed), "-o", str(out)]


def _wait_for(condition, proc: subprocess.Popen | None = None, timeout: float = 180.0) -> bool:
    """Poll until `condition()`; False if `proc` ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- SIGKILL at random points, then resume ---------------------------------------------------------
@pytest.mark.e2e
def test_sample_killed_many_times_then_resumed_loses_and_duplicates_nothing(tmp_path, cli, tiny_model):
    """`sample` SIGKILLed five times at seeded random moments after its partial file grew, then
    run to the end: exactly N x K unique (id, sample_index) pairs, every group whole, and every
    group that was complete at any kill is in the output unchanged."""
    # Enough work (one prompt per batch, 48 tokens each) that five kills within 0.3 s of a write
    # cannot use it all up, even on a fast, quiet machine.
    n, k = 60, 3
    rng = random.Random(6)
    prompts = tmp_path / "p.jsonl"
    assert cli("prepare", "arithmetic", "-n", str(n), "--seed", "3", "-o", prompts).code == 0
    out, partial = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial"
    cmd = _sample_cmd(prompts, tiny_model, out, k=k, n_tokens=48, batch=1)
    finished: dict[str, list[dict]] = {}
    kills = 0
    while kills < 5:
        start = len(_lines(partial))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Wait until this run has written something, then kill it a random moment later:
        # while it generates, between batches, or in the middle of a write.
        if not _wait_for(lambda: len(_lines(partial)) > max(start, 1), proc):
            break  # it finished before we could kill it (too fast a machine): checked below
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        assert not out.exists(), "a killed run must not leave a finished-looking output"
        groups = _groups(partial, k)
        for pid, rows in finished.items():
            assert groups.get(pid) == rows, f"group {pid} was lost or changed by a resume"
        finished.update(groups)
    assert kills >= 4, "the runs finished before they could be killed; use more prompts"
    assert 0 < len(finished) < n
    r = run_r1cli(*cmd[3:])
    assert r.code == 0, r
    assert "resuming" in r.stderr
    rows = read_jsonl(out)
    pairs = [(row["id"], row["sample_index"]) for row in rows]
    assert len(pairs) == len(set(pairs)) == n * k
    assert [row["id"] for row in rows[::k]] == [p["id"] for p in read_jsonl(prompts)], "output in input order"
    final = _groups(out, k)
    assert len(final) == n
    for pid, rows_then in finished.items():
        assert final[pid] == rows_then, f"group {pid} changed after the resume"
    assert not partial.exists()
    assert json.loads((tmp_path / "s.jsonl.manifest.json").read_text())["output"]["rows"] == n * k


@pytest.mark.e2e
def test_sigterm_ends_sample_like_ctrl_c_and_the_run_resumes(tmp_path, cli, tiny_model):
    """A scheduler's SIGTERM: one line, exit 130, the partial kept; the same command finishes it."""
    prompts = tmp_path / "p.jsonl"
    assert cli("prepare", "arithmetic", "-n", "40", "--seed", "4", "-o", prompts).code == 0
    out, partial = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial"
    cmd = _sample_cmd(prompts, tiny_model, out, k=3, n_tokens=48, batch=1)  # still running when stopped
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: len(_lines(partial)) > 1, proc), "the run finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; unfinished work is kept" in err and "Traceback" not in err
    assert partial.exists() and not out.exists()
    r = run_r1cli(*cmd[3:])
    assert r.code == 0 and "resuming" in r.stderr, r
    assert len(read_jsonl(out)) == 40 * 3


# -- torn lines ------------------------------------------------------------------------------------
def test_torn_partial_tail_is_trimmed_with_a_warning_on_resume(tmp_path, cli, tiny_model, monkeypatch):
    """Interrupt `sample` after two batches, tear its last line as a kill mid-write would, and
    rerun: a warning names the torn line, the cut group is sampled again, nothing is duplicated."""
    from r1cli.artifacts import JsonlOutput

    prompts = write_jsonl(tmp_path / "p.jsonl", [
        {"id": f"q{i}", "task": "arithmetic", "question": f"What is {i} + 1?", "prompt": f"{i}+1=", "answer": str(i + 1)}
        for i in range(6)])
    out, partial = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial"
    args = ["sample", prompts, "-m", tiny_model, "-k", "2", "--max-new-tokens", "6", "--batch-size", "2", "-o", out]
    write, calls = JsonlOutput.write, []

    def interrupted(self, records):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        write(self, records)

    monkeypatch.setattr(JsonlOutput, "write", interrupted)
    r = cli(*args)
    assert r.code == 130 and "interrupted" in r.stderr
    monkeypatch.setattr(JsonlOutput, "write", write)
    assert not out.exists() and len(_lines(partial)) == 1 + 2 * 2 * 2
    before = _groups(partial, 2)
    partial.write_bytes(partial.read_bytes()[:-25])  # the last record loses its end
    survivors = {pid: rows for pid, rows in _groups(partial, 2).items()}
    assert len(survivors) == len(before) - 1

    r = cli(*args)
    assert r.code == 0, r
    assert "warning: " in r.stderr and "s.jsonl.partial:9: dropping a torn last line (cut off while writing)" in r.stderr
    assert "dropping 1 samples of unfinished groups" in r.stderr
    rows = read_jsonl(out)
    assert len({(x["id"], x["sample_index"]) for x in rows}) == len(rows) == 12
    final = _groups(out, 2)
    assert all(final[pid] == rows_then for pid, rows_then in survivors.items())


def test_a_run_that_fails_before_its_first_record_leaves_no_partial(tmp_path):
    """A resumable output keeps its partial only when there is something in it to resume."""
    from r1cli.artifacts import JsonlOutput

    out, partial = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial"
    with pytest.raises(RuntimeError):
        with JsonlOutput(out, header={"k": 1}):
            raise RuntimeError("the model did not load")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        with JsonlOutput(out, header={"k": 1}) as o:
            o.write([{"id": "a"}])
            raise RuntimeError("killed later")
    assert partial.exists()
    with pytest.raises(RuntimeError):
        with JsonlOutput(out, header={"k": 1}) as o:
            assert o.resumed == [{"id": "a"}]
            raise RuntimeError("failed again before writing")
    assert _lines(partial)[1:] == ['{"id": "a"}'], "resumed work survives a failed rerun"


def test_torn_input_is_refused_strictly(tmp_path, cli):
    """A torn line in an input (not our own partial) is never guessed at: path, line, and why."""
    good = {"id": "a", "task": "arithmetic", "prompt": "1+1=", "answer": "2", "sample_index": 0, "completion": "2",
            "finish_reason": "stop", "prompt_tokens": 3, "completion_tokens": 1}
    (tmp_path / "s.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, "sample_index": 1})[:30])
    r = cli("reward", tmp_path / "s.jsonl", "-o", tmp_path / "o.jsonl")
    assert r.code == 2
    assert f"{tmp_path / 's.jsonl'}:2: malformed JSON" in _one_error_line(r.stderr)
    assert "(the file looks cut off while writing)" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl"]


# -- a full disk -----------------------------------------------------------------------------------
@pytest.fixture
def scored(tmp_path, cli):
    rows = [{"id": f"q{i}", "task": "arithmetic", "prompt": f"{i}+1=", "answer": str(i + 1), "sample_index": j,
             "completion": f"<think>x</think><answer>{i + j}</answer>", "finish_reason": "stop", "prompt_tokens": 3,
             "completion_tokens": 7} for i in range(4) for j in range(2)]
    write_jsonl(tmp_path / "s.jsonl", rows)
    write_jsonl(tmp_path / "p.jsonl", [{k: v for k, v in r.items() if k in ("id", "task", "prompt", "answer")} for r in rows[::2]])
    assert cli("reward", tmp_path / "s.jsonl", "-r", "accuracy", "-o", tmp_path / "scored.jsonl").code == 0
    return tmp_path / "scored.jsonl"


STAGES = {
    "prepare": lambda t, m: ["prepare", "arithmetic", "-n", "40"],
    "reward": lambda t, m: ["reward", t / "s.jsonl", "-r", "format"],
    "reject": lambda t, m: ["reject", t / "scored.jsonl", "--keep", "best", "--best-n", "1", "--keep-truncated", "--min-tokens", "0"],
    "sample": lambda t, m: ["sample", t / "p.jsonl", "-m", m, "-k", "1", "--max-new-tokens", "2"],
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_full_disk_leaves_the_previous_output_intact(tmp_path, cli, tiny_model, scored, stage):
    """Rerun a stage with --force over a finished output while every write fails with ENOSPC
    (its OUT.partial is a link to /dev/full): one line, exit 1, the old OUT and manifest untouched."""
    out = tmp_path / "o.jsonl"
    args = STAGES[stage](tmp_path, tiny_model)
    assert cli(*args, "-o", out).code == 0
    old = {p.name: p.read_bytes() for p in (out, tmp_path / "o.jsonl.manifest.json")}
    (tmp_path / "o.jsonl.partial").symlink_to("/dev/full")
    r = cli(*args, "--seed", "5", "-o", out, "--force") if stage == "sample" else cli(*args, "-o", out, "--force")
    assert r.code == 1, r
    assert _one_error_line(r.stderr) == f"error: {out}: no space left on device; any previous o.jsonl is untouched, free space and rerun"
    assert {p.name: p.read_bytes() for p in (out, tmp_path / "o.jsonl.manifest.json")} == old
    assert not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name or p.name.endswith(".partial")]


_NAMESPACE_SCRIPT = textwrap.dedent("""
    import json, os, shutil, subprocess, sys
    disk, cmd, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", disk], check=True)
    def fill(leave):
        st = os.statvfs(disk)
        with open(os.path.join(disk, "filler"), "wb") as f:
            f.write(b"x" * (st.f_bavail * st.f_frsize - leave))
    def run(*extra):
        p = subprocess.run(cmd + list(extra), capture_output=True, text=True)
        return {"code": p.returncode, "stderr": p.stderr, "files": sorted(os.listdir(disk)),
                "partial": open(out + ".partial").read() if os.path.exists(out + ".partial") else None,
                "out": open(out).read() if os.path.exists(out) else None}
    steps = {}
    fill(8192)
    steps["full"] = run()                          # the disk fills up during the run
    steps["still_full"] = run()                    # rerun without freeing space: resumes, fills up again
    os.remove(os.path.join(disk, "filler"))
    steps["freed"] = run()                         # space freed: resumes and finishes
    fill(8192)
    steps["force_full"] = run("--seed", "8", "--force")   # overwrite the finished output on a full disk
    print(json.dumps(steps))
""")


def _user_namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.e2e
def test_sample_on_a_really_full_disk(tmp_path, cli, tiny_model):
    """A real ENOSPC: `sample` writes to a 256 KiB tmpfs (in a user and mount namespace) with
    8 KiB left. The run stops with one line and exit 1, keeping the finished groups; a rerun on
    the still-full disk resumes without losing them; after freeing space it completes; and a
    --force run over the finished output on a full disk leaves that output intact."""
    if not _user_namespaces_work():
        pytest.skip("needs unprivileged user namespaces (unshare -Urm) to mount a small tmpfs")
    n, k = 12, 3
    prompts = tmp_path / "p.jsonl"
    assert cli("prepare", "arithmetic", "-n", str(n), "--seed", "4", "-m", tiny_model, "-o", prompts).code == 0
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "s.jsonl"
    cmd = _sample_cmd(prompts, tiny_model, out, k=k, n_tokens=16)
    script = tmp_path / "full_disk.py"
    script.write_text(_NAMESPACE_SCRIPT)
    proc = subprocess.run(["unshare", "-Urm", sys.executable, str(script), str(disk), json.dumps(cmd), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = json.loads(proc.stdout)
    message = f"error: {out}: no space left on device; any previous s.jsonl is untouched, free space and rerun"

    full = steps["full"]
    assert full["code"] == 1 and _one_error_line(full["stderr"]) == message
    assert full["out"] is None and full["partial"] is not None
    kept = _groups_from_text(full["partial"], k)
    assert kept, "the groups finished before the disk filled up stay in the partial"

    again = steps["still_full"]
    assert again["code"] == 1 and message in again["stderr"] and "resuming" in again["stderr"]
    after = _groups_from_text(again["partial"], k)
    assert all(after.get(pid) == rows for pid, rows in kept.items()), "resuming on a full disk lost finished groups"

    freed = steps["freed"]
    assert freed["code"] == 0, freed["stderr"]
    final = _groups_from_text(freed["out"], k)
    pairs = [(r["id"], r["sample_index"]) for rows in final.values() for r in rows]
    assert len(final) == n and len(set(pairs)) == n * k == len(freed["out"].splitlines())
    assert all(final[pid] == rows for pid, rows in after.items())
    assert freed["partial"] is None

    forced = steps["force_full"]
    assert forced["code"] == 1 and _one_error_line(forced["stderr"]) == message
    assert forced["out"] == freed["out"], "the finished output must survive a failed --force run"
    for name, step in steps.items():
        assert not [f for f in step["files"] if ".tmp" in f], f"{name}: a temporary file was left behind"


def test_a_failed_manifest_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    """The output is complete in `.OUT.tmp-PID` when its manifest fails to write (ENOSPC, which
    arrives as a RunError): the temporary file goes, the partial stays for a rerun."""
    from r1cli import artifacts
    from r1cli.errors import RunError

    def full(output, manifest):
        raise RunError(f"{output}.manifest.json: no space left on device")

    monkeypatch.setattr(artifacts, "write_manifest", full)
    with pytest.raises(RunError):
        with artifacts.JsonlOutput(tmp_path / "s.jsonl", header={"k": 1}) as out:
            out.write([{"id": "a"}])
            out.commit({"stage": "sample"}, order=[{"id": "a"}])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl.partial"]


_GRPO_DISK_SCRIPT = textwrap.dedent("""
    import json, os, subprocess, sys
    disk, leave, cmd = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", disk], check=True)
    st = os.statvfs(disk)
    with open(os.path.join(disk, "filler"), "wb") as f:
        f.write(b"x" * (st.f_bavail * st.f_frsize - leave))
    def run(*extra):
        p = subprocess.run(cmd + list(extra), capture_output=True, text=True)
        run_dir = os.path.join(disk, "run")
        return {"code": p.returncode, "stderr": p.stderr,
                "checkpoints": sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else []}
    steps = {"full": run()}
    os.remove(os.path.join(disk, "filler"))
    steps["resumed"] = run("--resume")
    steps["finished"] = os.path.exists(os.path.join(disk, "run", "manifest.json"))
    print(json.dumps(steps))
""")


@pytest.mark.e2e
def test_grpo_on_a_really_full_disk_stops_with_one_line_and_resumes(tmp_path, cli, tiny_model):
    """The disk fills up while grpo saves its second checkpoint (a checkpoint of the tiny model
    with LoRA is about 640 KiB, 900 KiB are left): torch's zip writer fails with `unexpected
    pos`. One line, exit 1, the cut-off checkpoint removed, the complete one kept; once space is
    freed, --resume finishes from it."""
    if not _user_namespaces_work():
        pytest.skip("needs unprivileged user namespaces (unshare -Urm) to mount a small tmpfs")
    prompts = tmp_path / "p.jsonl"
    assert cli("prepare", "arithmetic", "-n", "8", "--template", "plain", "-o", prompts).code == 0
    disk = tmp_path / "disk"
    disk.mkdir()
    cmd = [sys.executable, "-m", "r1cli", "grpo", str(prompts), "-m", str(tiny_model), "-r", "format", "-G", "2",
           "--batch-size", "4", "--max-steps", "3", "--save-steps", "1", "--max-completion-length", "8",
           "--no-gradient-checkpointing", "-o", str(disk / "run")]
    script = tmp_path / "grpo_disk.py"
    script.write_text(_GRPO_DISK_SCRIPT)
    proc = subprocess.run(["unshare", "-Urm", sys.executable, str(script), str(disk), str(900 * 1024), json.dumps(cmd)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = json.loads(proc.stdout)
    full = steps["full"]
    assert full["code"] == 1 and "Traceback" not in full["stderr"], full["stderr"]
    errors = [line for line in full["stderr"].splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {disk / 'run'}: no space left on device while saving; the run resumes from checkpoint-1: "
                      "free space and rerun with --resume"], full["stderr"]
    assert "checkpoint-1" in full["checkpoints"] and "checkpoint-2" not in full["checkpoints"]
    resumed = steps["resumed"]
    assert resumed["code"] == 0 and "resuming from" in resumed["stderr"] and "incomplete checkpoint" not in resumed["stderr"], resumed
    assert steps["finished"]


# -- two runs, one output --------------------------------------------------------------------------
@pytest.mark.e2e
def test_second_run_on_the_same_output_fails_fast_while_the_first_completes(tmp_path, cli, tiny_model):
    # The first run must outlast the second's start-up (imports, tokenizer: seconds).
    n, k = 150, 2
    prompts = tmp_path / "p.jsonl"
    assert cli("prepare", "arithmetic", "-n", str(n), "--seed", "5", "-m", tiny_model, "-o", prompts).code == 0
    out, partial = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial"
    cmd = _sample_cmd(prompts, tiny_model, out, k=k, n_tokens=48, batch=1)
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: len(_lines(partial)) > 1, first), "the first run ended before writing"
        t0 = time.monotonic()
        second = run_r1cli(*cmd[3:])
        seconds = time.monotonic() - t0
        assert first.poll() is None, "the first run finished before the second reached the lock; use more prompts"
    finally:
        _, first_err = first.communicate(timeout=600)
    assert second.code == 1
    line = _one_error_line(second.stderr)
    assert line == (f"error: {out}: another r1cli run is writing this output right now (lock on s.jsonl.partial); "
                    "wait for it to finish or choose another output")
    assert second.stdout == ""
    assert first.returncode == 0, first_err
    rows = read_jsonl(out)
    assert len({(r["id"], r["sample_index"]) for r in rows}) == len(rows) == n * k
    assert not partial.exists()
    assert seconds < 60, f"the second run took {seconds:.0f}s to give up"
