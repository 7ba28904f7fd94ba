"""Training past one process, with the launch configs r1cli ships (recipes/accelerate/*.yaml),
on CPU processes over gloo: what CI can run without a GPU.

- `accelerate launch` with ddp.yaml, zero2.yaml and zero3.yaml on 2 processes, for `grpo` and
  `sft`. DeepSpeed runs on its CPU accelerator (DS_ACCELERATOR=cpu), which talks gloo.
- A launch across two "machines" on one host: two launchers, machine ranks 0 and 1, meeting
  at 127.0.0.1, each in its own working directory as if each had its own disk.

Every launch must leave what one process leaves (the same files, adapter tensors of the same
shapes, metrics for the same steps) with world_size 2 in the manifest, and only rank 0 writes
r1cli's files. The shipped files are used as they are; on CPU the command line adds
`--num_processes 2 --mixed_precision no` (r1cli trains in float32 on a CPU: DeepSpeed would refuse
the files' bf16, and DDP would run under bf16 autocast).

Equivalence: with the same rollouts, DeepSpeed ZeRO-2/3 must train as plain DDP does (the same
loss and gradient norm at every step). Under DeepSpeed the fast GRPO rollout engine hands each
step back to TRL's generation, so those runs are compared with a DDP run told to use TRL's
generation (`--rollout trl`): equal rewards show that the hand-back gives TRL's rollouts exactly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, CliResult, read_jsonl, write_jsonl

pytestmark = pytest.mark.e2e

TESTS = Path(__file__).resolve().parent
CONFIGS = REPO / "recipes" / "accelerate"
# First launch on a fresh machine: DeepSpeed JIT-builds a C++ op with g++ (under a minute on 2
# cores; cached in ~/.cache/torch_extensions after that). A launch itself takes 10-25 s here.
LAUNCH_TIMEOUT = 600
# One thread per process: two processes on a 2-core machine would otherwise fight for the cores.
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")])),
    "OMP_NUM_THREADS": "1",
    # DeepSpeed would find no GPU and pick this itself, with a warning; say it.
    "DS_ACCELERATOR": "cpu",
}
HAS_DEEPSPEED = importlib.util.find_spec("deepspeed") is not None
needs_deepspeed = pytest.mark.skipif(
    not HAS_DEEPSPEED, reason="needs the deepspeed extra: pip install -c constraints.txt -e '.[deepspeed]' (make setup installs it)")

# Per process; the one-process runs take twice the batch, so every optimizer step sees the same
# global batch. lr 1e-2: two steps visibly move a LoRA adapter off its zero-initialised B.
GRPO = ["-r", "rewards_for_tests:digits", "-G", "4", "--max-completion-length", "16", "--max-steps", "2", "--save-steps", "2",
        "--learning-rate", "1e-2"]
SFT = ["--max-steps", "2", "--save-steps", "2", "--learning-rate", "1e-2", "--no-gradient-checkpointing"]
HAND_BACK = "these rollouts use TRL's generation"  # the fast engine's warning when DeepSpeed holds the model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from r1cli.tasks import PromptSource, build_prompts

    folder = tmp_path_factory.mktemp("mp-data")
    prompts, _ = build_prompts(PromptSource(task="arithmetic", n=64, template="plain", split="train"))
    traces, _ = build_prompts(PromptSource(task="arithmetic", n=64, split="train", template="plain", option={"digits": 1}))
    for r in traces:
        a, b = r["operands"]
        r["completion"] = f"<think> {a} {r['op']} {b} = {r['answer']} </think> <answer> {r['answer']} </answer>"
    return {"grpo": write_jsonl(folder / "prompts.jsonl", prompts), "sft": write_jsonl(folder / "traces.jsonl", traces)}


def stage_args(stage: str, data: dict, model: Path, batch_size: int) -> list[str]:
    return [stage, str(data[stage]), "-m", str(model), *(GRPO if stage == "grpo" else SFT), "--batch-size", str(batch_size)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate(config: str, *args: str, port: int) -> list[str]:
    """`accelerate launch` with a shipped config on 2 CPU processes: the README's command."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
            "--num_processes", "2", "--mixed_precision", "no", "--main_process_port", str(port), *args]


def run_together(*jobs: tuple[list[str], Path], timeout: float = LAUNCH_TIMEOUT) -> list[CliResult]:
    """Run commands side by side (each with its working directory) and wait for all. Each gets
    its own process group, so a hung launch is killed with its workers, not just the launcher.
    Output goes to files: one launcher blocked on a full pipe would stall the other in a collective."""
    procs = []
    for i, (cmd, cwd) in enumerate(jobs):
        out, err = (cwd / f".launch{i}.out").open("w+"), (cwd / f".launch{i}.err").open("w+")
        procs.append((subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=out, stderr=err, start_new_session=True), out, err))
    try:
        for proc, _, _ in procs:
            proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc, _, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    results = []
    for proc, out, err in procs:
        out.seek(0), err.seek(0)
        results.append(CliResult(proc.returncode, out.read(), err.read()))
        out.close(), err.close()
    return results


def run_one(cmd: list[str], cwd: Path) -> CliResult:
    result = run_together((cmd, cwd))[0]
    assert result.code == 0, result
    return result


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model, data):
    """Per stage, built once: the one-process run, and the plain DDP run (ddp.yaml, 2 processes;
    grpo through TRL's generation, what DeepSpeed hands back to)."""
    made: dict[str, dict[str, Path]] = {}

    def get(stage: str) -> dict[str, Path]:
        if stage not in made:
            folder = tmp_path_factory.mktemp(f"ref-{stage}")
            one, ddp = folder / "one", folder / "ddp"
            run_one([sys.executable, "-m", "r1cli", *stage_args(stage, data, tiny_model, 16), "-o", str(one)], folder)
            rollout = ["--rollout", "trl"] if stage == "grpo" else []
            run_one(accelerate("ddp.yaml", "-m", "r1cli", *stage_args(stage, data, tiny_model, 8), *rollout, "-o", str(ddp),
                               port=free_port()), folder)
            assert_like_one_process(ddp, one)
            made[stage] = {"one": one, "ddp": ddp}
        return made[stage]

    return get


def steps(out: Path) -> list[dict]:
    return [m for m in read_jsonl(out / "metrics.jsonl") if "train_runtime" not in m]


def top_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def assert_like_one_process(out: Path, one: Path, world_size: int = 2) -> None:
    """The files one process leaves, an adapter of the same tensors, trained (LoRA's B starts at
    zero: a ZeRO-3 save that failed to gather the shards would hold empty or untouched tensors),
    metrics for the same steps, a checkpoint r1cli can resume from, and the world size."""
    from safetensors.torch import load_file

    assert top_files(out) == top_files(one)
    a, b = load_file(one / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert {k: v.shape for k, v in b.items()} == {k: v.shape for k, v in a.items()}
    assert all(float(v.abs().max()) > 0 for k, v in b.items() if "lora_B" in k)
    assert [m["step"] for m in steps(out)] == [m["step"] for m in steps(one)] == [1, 2]
    assert (out / "checkpoint-2" / "r1cli_checkpoint.json").exists() and (out / "checkpoint-2" / "trainer_state.json").exists()
    manifest, single = json.loads((out / "manifest.json").read_text()), json.loads((one / "manifest.json").read_text())
    assert (manifest["world_size"], single["world_size"]) == (world_size, 1)
    assert manifest["stats"]["files"] == single["stats"]["files"]


def assert_same_training(out: Path, ref: Path, keys: tuple[str, ...]) -> None:
    for got, want in zip(steps(out), steps(ref), strict=True):
        for key in keys:
            assert got[key] == pytest.approx(want[key], rel=1e-3, abs=1e-6), (got["step"], key)


def assert_zero_stage(out: Path, stage: int) -> None:
    """DeepSpeed really ran at this ZeRO stage: its checkpoint holds each rank's optimizer shard,
    and under ZeRO-3 each rank's share of the parameters too (ZeRO-2 keeps one whole copy)."""
    ckpt = out / "checkpoint-2" / "global_step2"
    names = {p.name for p in ckpt.iterdir()}
    assert {"zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"} <= names, names
    sharded = {"zero_pp_rank_0_mp_rank_00_model_states.pt", "zero_pp_rank_1_mp_rank_00_model_states.pt"}
    assert (sharded <= names) if stage == 3 else ("mp_rank_00_model_states.pt" in names and not sharded & names), names


@pytest.mark.parametrize("stage", ["grpo", "sft"])
def test_ddp_config_on_two_cpu_processes(reference, stage):
    """ddp.yaml on 2 CPU processes leaves what one process leaves (the checks are in `reference`,
    which the DeepSpeed tests then compare with; this one runs without the deepspeed extra too)."""
    reference(stage)


@needs_deepspeed
@pytest.mark.parametrize("zero", [2, 3])
@pytest.mark.parametrize("stage", ["grpo", "sft"])
def test_deepspeed_on_two_cpu_processes(tmp_path, tiny_model, data, reference, stage, zero):
    ref = reference(stage)
    out = tmp_path / "run"
    r = run_one(accelerate(f"zero{zero}.yaml", "-m", "r1cli", *stage_args(stage, data, tiny_model, 8), "-o", str(out),
                           port=free_port()), tmp_path)
    assert r.stdout == "", "stdout carries data only; a library's output belongs on stderr"
    assert_zero_stage(out, zero)
    assert_like_one_process(out, ref["one"])
    if stage == "grpo":
        # rollout auto picks the fast engine on CPU; DeepSpeed holds the model, so it hands back.
        assert HAND_BACK in r.stderr, r.stderr
        assert_same_training(out, ref["ddp"], ("reward", "loss", "grad_norm"))
    else:
        assert_same_training(out, ref["ddp"], ("loss", "grad_norm"))
        # The first step's loss is the base model's on the same global batch (B = 0: the adapter,
        # dropout included, adds nothing yet), so it must be the one-process run's.
        assert steps(out)[0]["loss"] == pytest.approx(steps(ref["one"])[0]["loss"], rel=1e-5)


@needs_deepspeed
def test_two_machines_on_one_host(tmp_path, tiny_model, data, reference):
    """Two launchers as two machines (ZeRO-3, one process each), each in its own directory with a
    relative output folder, as if each machine had its own disk: machine 0 holds the whole run,
    trained as on one machine; machine 1 only its rank's shard of DeepSpeed's checkpoint (which is
    why a multi-machine run needs its output folder on storage both machines see to resume)."""
    ref = reference("grpo")
    port = free_port()
    jobs = []
    for rank in (0, 1):
        cwd = tmp_path / f"machine{rank}"
        cwd.mkdir()
        cmd = accelerate("zero3.yaml", "--num_machines", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
                         "-m", "r1cli", *stage_args("grpo", data, tiny_model, 8), "-o", "run", port=port)
        jobs.append((cmd, cwd))
    first, second = run_together(*jobs)
    assert first.code == 0, first
    assert second.code == 0, second
    out = tmp_path / "machine0" / "run"
    assert_like_one_process(out, ref["one"])
    assert_same_training(out, ref["ddp"], ("reward", "loss", "grad_norm"))
    other = tmp_path / "machine1" / "run"
    written = sorted(str(p.relative_to(other)) for p in other.rglob("*") if p.is_file())
    assert written and all(name.startswith("checkpoint-2/") and ("rank_1_" in name or "state_1." in name) for name in written), written
