"""The trainer scaffold shared by `grpo`, `sft` and `distill`.

The stages differ in their TRL trainer class and dataset; everything else lives here once:
the common config (model, LoRA, optimisation, checkpoints, TRL passthrough), the output folder
and its rules, resuming from the newest complete checkpoint, progress on stderr, per-step
metrics, saving the final adapter or model, merging, and the manifest.

Output folder of a training stage:

    OUT/r1cli_run.json        the run's identity, written at start (a resumed run must match it)
    OUT/checkpoint-N/         transformers checkpoints (+ r1cli_checkpoint.json once complete)
    OUT/metrics.jsonl         one line per logged step: TRL's metrics plus the step
    OUT/samples.jsonl         (grpo) completions with their rewards, every few steps, for reading
    OUT/adapter_model.safetensors, adapter_config.json, tokenizer files   the final LoRA adapter
                              (or the full model with --full), loadable by transformers/peft
    OUT/merged/               base + adapter merged, with --merge
    OUT/manifest.json         written last: the run is complete
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1cli import artifacts, console
from r1cli.artifacts import METRICS_FILE, RUN_FILE, SAMPLES_FILE
from r1cli.config import ConfigError, StageConfig, option
from r1cli.device import DTYPE_HELP, DTYPES
from r1cli.models import TRUST_HELP
from r1cli.errors import DataError, R1Error, RunError

CHECKPOINT_MARK = "r1cli_checkpoint.json"


@dataclass
class TrainConfig(StageConfig):
    """Options every training stage shares. TRL's own options go under `trl`, named as in TRL."""

    model: str = option("", help="Hub name, local folder, .gguf file, or a LoRA adapter folder (training continues that adapter).",
                        flags=("--model", "-m"), show="")
    adapter: str | None = option(None, help="LoRA adapter folder to start from, on top of --model.")
    lora: bool = option(True, help="LoRA adapter training (default), or full fine-tuning.", flags=("--lora/--full",), show="")
    lora_r: int = option(16, help="LoRA rank.")
    lora_alpha: int = option(32, help="LoRA alpha.")
    lora_dropout: float = option(0.05, help="LoRA dropout.")
    lora_target_modules: list[str] = option(help="Modules to adapt (repeatable).", default_factory=lambda: ["all-linear"], show="all-linear")
    learning_rate: float | None = option(None, help="Learning rate.", show="1e-5 with LoRA, 1e-6 full")
    max_steps: int = option(-1, help="Optimizer steps (-1: train for --epochs).")
    epochs: float = option(1.0, help="Passes over the data when --max-steps is -1.", show="1")
    batch_size: int = option(8, help="Per-device batch size (for grpo: completions, so prompts x --num-generations).")
    gradient_accumulation_steps: int = option(1, help="Gradient accumulation steps.")
    save_steps: int = option(50, help="Checkpoint every N steps.")
    save_total_limit: int = option(2, help="Checkpoints kept (older ones deleted).")
    logging_steps: int = option(1, help="Log metrics every N steps.")
    seed: int = option(0, help="Seed for initialisation, data order and sampling.")
    device: str = option("auto", help="auto, cpu or cuda.")
    dtype: str = option("auto", help=DTYPE_HELP)
    merge: bool = option(False, help="Also save base + adapter merged into OUT/merged.", show="")
    # None: on for GPUs (memory), off on CPU (speed)
    gradient_checkpointing: bool | None = option(None, help="Recompute activations in the backward pass: less memory, more time.",
                                                 flags=("--gradient-checkpointing/--no-gradient-checkpointing",), show="on for GPUs, off on CPU")
    trust_remote_code: bool = option(False, help=TRUST_HELP, show="")
    trl: dict[str, Any] = option(help="A TRL option KEY=VALUE, passed through under its TRL name (repeatable).", default_factory=dict, show="")

    # TRL fields that are r1cli options under another (or the same) name: TRL name -> field.
    RENAMED_TRL_FIELDS = {
        "max_steps": "max_steps", "num_train_epochs": "epochs", "per_device_train_batch_size": "batch_size",
        "gradient_accumulation_steps": "gradient_accumulation_steps", "save_steps": "save_steps",
        "save_total_limit": "save_total_limit", "logging_steps": "logging_steps", "seed": "seed",
    }
    # Every TRL field r1cli sets from its own options (the above, and those derived from one);
    # `trl:` may not set them again.
    OWN_TRL_FIELDS = {
        **RENAMED_TRL_FIELDS, "output_dir": None, "learning_rate": "learning_rate", "use_cpu": "device", "bf16": "dtype",
        "fp16": "dtype", "gradient_checkpointing": "gradient_checkpointing", "activation_checkpointing": "gradient_checkpointing",
    }

    def validate(self) -> None:
        self.require(bool(self.model), "model", "is required (a hub name, a local folder, or a LoRA adapter folder)")
        self.require(self.lora_r >= 1, "lora_r", "must be at least 1")
        self.require(0 <= self.lora_dropout < 1, "lora_dropout", "must be in [0, 1)")
        self.require(self.learning_rate is None or self.learning_rate > 0, "learning_rate", "must be > 0")
        self.require(self.max_steps == -1 or self.max_steps >= 1, "max_steps", "must be at least 1 (or -1 to train by --epochs)")
        self.require(self.epochs > 0, "epochs", "must be > 0")
        self.require(self.batch_size >= 1, "batch_size", "must be at least 1")
        self.require(self.dtype in DTYPES, "dtype", f"must be one of {', '.join(DTYPES)}")
        self.require(self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", "must be at least 1")
        self.require(self.save_steps >= 1, "save_steps", "must be at least 1")
        self.require(self.logging_steps >= 1, "logging_steps", "must be at least 1")
        self.require(self.lora or not self.merge, "merge", "applies to LoRA training only (--full saves a whole model already)")
        self._check_loggers()
        for key in self.trl:
            if key in self.OWN_TRL_FIELDS:
                own = self.OWN_TRL_FIELDS[key]
                where = f"r1cli sets it from --{own.replace('_', '-')}" if own else "r1cli sets it from --output"
                raise ConfigError(f"trl.{key}: {where}; set it there instead")

    # Experiment trackers transformers can report to, and the package each needs (an extra of r1cli).
    TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}

    def _check_loggers(self) -> None:
        """`trl: {report_to: ...}` names trackers; a missing package would fail only after the model
        loads and leave an unfinished run behind, so it is refused here."""
        import importlib.util

        wanted = self.trl.get("report_to", [])
        wanted = [wanted] if isinstance(wanted, str) else list(wanted or [])
        for name in wanted:
            package = self.TRACKERS.get(name)  # others ("none", "all", ...): transformers judges them
            if package is not None and importlib.util.find_spec(package) is None:
                raise ConfigError(f"trl.report_to: {name} is not installed; install it with pip install 'r1cli[{name}]' "
                                  f"(or pip install {package})")

    @property
    def world_size(self) -> int:
        return int(os.environ.get("WORLD_SIZE", "1"))

    def lr(self) -> float:
        # LoRA adapters train well at a larger rate than whole models.
        return self.learning_rate if self.learning_rate is not None else (1e-5 if self.lora else 1e-6)

    def lora_config(self, ref: Any) -> Any:
        """A new LoRA adapter's config; None for full fine-tuning or when `ref` brings an adapter
        (that adapter keeps training)."""
        if not self.lora or ref.adapter:
            return None
        from peft import LoraConfig

        targets: Any = self.lora_target_modules
        if targets == ["all-linear"]:
            targets = "all-linear"
        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                          target_modules=targets, task_type="CAUSAL_LM")

    def check_model(self, ref: Any) -> None:
        if ref.adapter and not self.lora:
            raise ConfigError(f"--full cannot train on top of the LoRA adapter {ref.adapter}; merge it first (r1cli merge) and train the merged model")

    def identity(self, stage: str, model: dict[str, Any]) -> dict[str, Any]:
        """What a resumed run must share with the run it resumes."""
        keys = ("lora", "lora_r", "lora_alpha", "lora_target_modules", "adapter")
        return {"stage": stage, "model": model, **{k: getattr(self, k) for k in keys}}

    def trl_config(self, config_class: type, output_dir: Path, device: str, **stage_args: Any) -> Any:
        """The TRL config: r1cli's options, then the stage's own, then the `trl` passthrough."""
        import datasets

        from r1cli import trl_compat
        from r1cli.device import training_precision

        datasets.disable_progress_bars()  # TRL's dataset preparation (tokenizing, truncating) draws them on stderr
        valid = trl_compat.config_fields(config_class)
        unknown = [k for k in self.trl if k not in valid]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], valid, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"trl.{unknown[0]}: not an option of TRL's {config_class.__name__}{hint} (its options are listed in TRL's docs)")
        precision = training_precision(device) if self.dtype == "auto" else {
            "bf16": self.dtype == "bfloat16", "fp16": self.dtype == "float16"}
        args = {
            "output_dir": str(output_dir),
            "learning_rate": self.lr(),
            **{trl_name: getattr(self, own) for trl_name, own in self.RENAMED_TRL_FIELDS.items()},
            "save_strategy": "steps",
            "report_to": [],
            "disable_tqdm": True,
            "use_cpu": device == "cpu",
            trl_compat.checkpointing_field(config_class): self.gradient_checkpointing if self.gradient_checkpointing is not None else device != "cpu",
            **precision,
            **stage_args,
            **self.trl,
        }
        try:
            return config_class(**args)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"TRL rejected the settings: {str(e).splitlines()[0]}") from None

    def model_dtype(self, device: str) -> Any:
        from r1cli.device import pick_dtype

        return pick_dtype(device, self.dtype)

    def model_for_trainer(self, ref: Any, args: Any, device: str) -> Any:
        """What to hand a TRL trainer as `model`: base + adapter loaded here when training
        continues an adapter, and a GGUF base (TRL reads a config.json first, which a GGUF
        file replaces); otherwise the model's name, so that TRL builds it itself (as DeepSpeed
        ZeRO-3 needs) from `model_init_kwargs`."""
        from r1cli import models

        dtype = self.model_dtype(device)
        if ref.adapter or ref.gguf_file:
            return models.load_for_training(ref, dtype=dtype, trust_remote_code=self.trust_remote_code)
        args.model_init_kwargs = {"dtype": dtype, "trust_remote_code": self.trust_remote_code, "use_safetensors": True}
        return ref.base


@dataclass
class Stage:
    """What a training stage brings to the one lifecycle in `fit`: its TRL classes and
    arguments, how to build its trainer, and what its manifest records. Everything else (the
    output folder and its rules, resuming, the model, progress, metrics, saving, merging, the
    manifest) is `fit`'s, the same for every stage."""

    name: str  # "grpo", "sft", "distill": the manifest's stage and the progress label
    config_class: type  # TRL's config class for this stage
    args: dict[str, Any]  # the stage's own TRL config arguments (on top of TrainConfig's)
    # (model, TRL args, peft_config) -> the TRL trainer, with the stage's dataset and extras bound
    trainer: Callable[[Any, Any, Any], Any]
    manifest_config: dict[str, Any]
    inputs: list[Any]  # artifacts.InputInfo of every file read
    model_identity: dict[str, Any] | None = None  # default: the model's
    note_keys: tuple[str, ...] = ("loss",)  # metrics shown on the progress line
    samples_every: int = 0
    health: Any = None  # r1cli.health.Health: run-health alarms (grpo)
    stop_on_alarm: bool = False
    probe: Any = None  # Probe: held-out prompts answered as training goes (grpo)
    plan: Callable[[int], dict[str, str]] | None = None  # --dry-run: the stage's own work, given the steps
    # Measurements on the trainer before and after training (sft's held-out loss), into the stats.
    before: Callable[[Any], dict[str, Any]] | None = None
    after: Callable[[Any], dict[str, Any]] | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # facts of the stage's own (examples, prompts)


def fit(stage: Stage, cfg: TrainConfig, ref: Any, output: str | Path, *, force: bool = False, resume: bool = False,
        dry_run: bool = False) -> dict[str, Any]:
    """Train: check the output folder (before any weights load), build the TRL config, set up
    the folder, load the model, train (resuming from the newest complete checkpoint), save the
    final adapter or model (and merge), write the manifest. Returns the run's stats; with
    `dry_run`, the plan (see r1cli.plans), the output folder untouched."""
    from r1cli.device import pick_device

    timer = Timer()
    device = pick_device(cfg.device)
    folder = RunFolder(output, force=force, resume=resume, identity=cfg.identity(stage.name, ref.identity()))
    folder.check()
    if dry_run:
        return _plan(stage, cfg, ref, device)
    args = cfg.trl_config(stage.config_class, folder.path, device, **stage.args)
    folder.start()
    args.distributed_state.wait_for_everyone()
    model = cfg.model_for_trainer(ref, args, device)
    manifest = artifacts.Manifest(stage.name, stage.manifest_config, stage.inputs, stage.model_identity or ref.identity())
    trainer = _trainer(stage, cfg, ref, args, model)
    callback = make_callback(folder, stage.name, note_keys=stage.note_keys, samples_every=stage.samples_every,
                             health=stage.health, stop_on_alarm=stage.stop_on_alarm, probe=stage.probe)
    attach(trainer, callback)
    before = stage.before(trainer) if stage.before else {}
    train(trainer, folder)
    if callback.stopped_by is not None:
        step, alarm = callback.stopped_by
        raise RunError(f"{stage.name} stopped at step {step} by the run-health alarm '{alarm.name}' (--stop-on-alarm): "
                       f"{alarm.message}; it is resumable: fix that and rerun the same command with --resume")
    after = stage.after(trainer) if stage.after else {}
    files = save_final(trainer, folder, cfg, ref)
    stats = {**last_metrics(folder), "seconds": timer.seconds, **stage.stats, **before, **after, "files": files}
    folder.finish(manifest.finish(stats, world_size=args.world_size, device=device))
    return stats


def _trainer(stage: Stage, cfg: TrainConfig, ref: Any, args: Any, model: Any) -> Any:
    """The stage's trainer, built on the loaded model."""
    # Stdout is for data: what a library prints while the trainer is built goes to stderr, as in
    # `train` (under DeepSpeed ZeRO-3 the model is built inside zero.Init, which starts the
    # process group and prints that its CPU all-reduce op was built).
    with contextlib.redirect_stdout(sys.stderr):
        return stage.trainer(model, args, cfg.lora_config(ref))


def _plan(stage: Stage, cfg: TrainConfig, ref: Any, device: str) -> dict[str, Any]:
    """One real training step in a throw-away folder (which also gets one checkpoint, to weigh
    it), and from it the run's plan."""
    import math
    import tempfile
    import time

    from r1cli import plans, trl_compat
    from r1cli.commands.report import duration

    with tempfile.TemporaryDirectory(prefix="r1cli-dry-run-") as tmp:
        args = cfg.trl_config(stage.config_class, Path(tmp), device, **stage.args)
        t0 = time.monotonic()
        trainer = _trainer(stage, cfg, ref, args, cfg.model_for_trainer(ref, args, device))
        load_seconds = time.monotonic() - t0
        trl_compat.quiet_trainer_output(trainer)
        per_epoch = max(1, len(trainer.get_train_dataloader()) // max(1, cfg.gradient_accumulation_steps))
        steps = cfg.max_steps if cfg.max_steps > 0 else math.ceil(per_epoch * cfg.epochs)
        args.max_steps, args.save_steps, args.save_strategy = 1, 1, "steps"
        t0 = time.monotonic()
        with contextlib.redirect_stdout(sys.stderr):
            trainer.train()
        step_seconds = time.monotonic() - t0
        checkpoint = Path(tmp) / "checkpoint-1"
        weight = sum(p.stat().st_size for p in checkpoint.rglob("*") if p.is_file()) if checkpoint.exists() else 0
        work = stage.plan(steps) if stage.plan else {}
        kept = min(cfg.save_total_limit, steps // cfg.save_steps) if cfg.save_total_limit else steps // cfg.save_steps
        plan = {
            "work": f"{steps:,} optimizer steps of {cfg.batch_size} x {cfg.gradient_accumulation_steps} accumulation x "
                    f"{cfg.world_size} process(es)",
            **work,
            "measured": f"one step in {step_seconds:.1f} s on {device} (model and trainer ready in {load_seconds:.1f} s)",
            "estimated time": f"about {duration(steps * step_seconds)} (the first step carries start-up costs)",
            "peak memory": plans.size(plans.peak_memory_bytes()),
            "checkpoints": (f"every {cfg.save_steps} steps, {kept} kept at a time, {plans.size(weight)} each "
                            f"(about {plans.size(kept * weight)} on disk)" if kept else
                            f"none ({steps:,} steps, --save-steps {cfg.save_steps}; {plans.size(weight)} each)")
                           + f", plus the final {'adapter' if cfg.lora else 'model'}",
        }
    if is_main_process():
        plans.show(stage.name, plan)
    return plan


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def checkpoint_step(path: Path) -> int:
    try:
        return int(path.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def newest_checkpoint(out: Path) -> Path | None:
    """The newest checkpoint that finished saving; a half-written newer one is skipped."""
    found = sorted((p for p in out.glob("checkpoint-*") if p.is_dir() and checkpoint_step(p) >= 0), key=checkpoint_step)
    for path in reversed(found):
        if (path / CHECKPOINT_MARK).exists() and (path / "trainer_state.json").exists():
            return path
        console.warn(f"{path}: incomplete checkpoint (cut off while saving); skipping it")
    return None


class RunFolder:
    """A training stage's output folder: checks before any model loads, creation, resume."""

    def __init__(self, path: str | Path, *, force: bool, resume: bool, identity: dict[str, Any]):
        self.path = Path(path)
        self.force = force
        self.resume = resume
        self.identity = identity
        self.checkpoint: Path | None = None

    def check(self) -> None:
        """Decide what to do with an existing folder; refuse clearly. Creates nothing."""
        out = self.path
        state = artifacts.check_output_folder(out, force=self.force, resume=self.resume)
        if state == "new" and self.resume:
            console.info(f"{out}: nothing to resume; starting a new run")
        if state != "resume":
            return
        stored = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
        diff = _diff(stored, self.identity)
        if diff:
            raise DataError(str(out), f"was started with a different model or LoRA setup ({diff}); pass --force to start over")
        self.checkpoint = newest_checkpoint(out)
        if self.checkpoint is None:
            console.warn(f"{out}: no complete checkpoint to resume from; starting from the beginning")

    def start(self) -> None:
        """Create the folder (main process only): wipe it when forced, keep it when resuming."""
        if not is_main_process():
            return
        if self.force and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        if self.checkpoint is None:
            for name in (METRICS_FILE, SAMPLES_FILE):
                (self.path / name).unlink(missing_ok=True)
        else:
            # Steps after the checkpoint are trained again: drop their old lines.
            step = checkpoint_step(self.checkpoint)
            for name in (METRICS_FILE, SAMPLES_FILE):
                _truncate_after(self.path / name, step)
        artifacts.atomic_write_text(self.path / RUN_FILE, json.dumps(self.identity, indent=2) + "\n")

    def finish(self, manifest: dict[str, Any]) -> None:
        if is_main_process():
            artifacts.write_manifest(self.path, manifest)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    return "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


def _truncate_after(path: Path, step: int) -> None:
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and _step_of(line) is not None and _step_of(line) <= step]  # type: ignore[operator]
    artifacts.atomic_write_text(path, "".join(line + "\n" for line in kept))


def _step_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


def _trainer_callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


def make_callback(run: RunFolder, label: str, *, note_keys: tuple[str, ...] = ("loss",), samples_every: int = 0,
                  health: Any = None, stop_on_alarm: bool = False, probe: Any = None) -> Any:
    """The callback that gives every training stage the same progress, metrics and checkpoint
    marks, and (grpo) the run-health alarms of `r1cli.health`."""
    from r1cli import trl_compat

    class StageCallback(_trainer_callback_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self.trainer: Any = None
            self.progress: console.Progress | None = None
            self.main = is_main_process()
            self.stopped_by: Any = None  # the alarm that ended the run, with --stop-on-alarm

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            if self.main:
                self.progress = console.Progress(label, state.max_steps, unit="steps", done=state.global_step)
                self.progress.__enter__()

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if not logs:
                return
            row = {"step": state.global_step, **{k: v for k, v in logs.items() if _jsonable(v)}}
            # Every process judges the same gathered metrics, so all of them stop together.
            alarms = health.observe(row) if health is not None else []
            if alarms:
                row["alarms"] = [a.name for a in alarms]
                if self.main:
                    for alarm in alarms:
                        console.warn(f"{label} step {state.global_step}: {alarm.message}")
                if stop_on_alarm and self.stopped_by is None:
                    self.stopped_by = (state.global_step, alarms[0])
                    control.should_save = True  # a checkpoint to resume from
                    control.should_training_stop = True
            if not self.main:
                return
            with (run.path / METRICS_FILE).open("a", encoding="utf-8") as f:
                f.write(artifacts.dumps(row))
            if self.progress is not None and state.global_step > self.progress.done:
                note = ", ".join(f"{k.split('/')[-1]} {logs[k]:.4g}" for k in note_keys if isinstance(logs.get(k), (int, float)))
                self.progress.advance(state.global_step - self.progress.done, note=note)

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self.main and samples_every and state.global_step % samples_every == 0 and self.trainer is not None:
                recent = trl_compat.recent_completions(self.trainer)
                if recent:
                    write_samples(run.path / SAMPLES_FILE, state.global_step, recent)
            if self.main and probe is not None and self.trainer is not None and (
                    state.global_step == 1 or (samples_every and state.global_step % samples_every == 0)):
                probe.write(self.trainer.model, run.path / SAMPLES_FILE, state.global_step)

        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
            if self.main:
                mark = run.path / f"checkpoint-{state.global_step}" / CHECKPOINT_MARK
                if mark.parent.exists():
                    artifacts.atomic_write_text(mark, json.dumps({"step": state.global_step, **run.identity}) + "\n")

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self.progress is not None:
                self.progress.__exit__(None, None, None)

    return StageCallback()


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


class Probe:
    """A few held-out prompts the policy answers (greedily) at step 1 and every --samples-every
    steps, written to samples.jsonl as `kind: probe` lines: the same questions over time, so a
    reader sees the behaviour change, not only the numbers (`r1cli report` shows them)."""

    LIMIT = 4  # prompts watched: a glance, not an evaluation

    def __init__(self, records: list[dict[str, Any]], tokenizer: Any, max_new_tokens: int):
        from r1cli.models import tokenize_prompt

        self.records = records[: self.LIMIT]
        self.ids = [tokenize_prompt(tokenizer, r["prompt"]) for r in self.records]
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens

    def write(self, model: Any, path: Path, step: int) -> None:
        import torch

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return  # sharded weights (ZeRO-3, FSDP) need every process to generate: not worth a hang
        was_training = model.training
        model.eval()
        rows = []
        try:
            with torch.no_grad():
                for record, ids in zip(self.records, self.ids):
                    inputs = torch.tensor([ids], device=model.device)
                    out = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=self.max_new_tokens,
                                         do_sample=False, pad_token_id=self.tokenizer.pad_token_id, use_cache=True)
                    text = self.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)
                    rows.append({"step": step, "kind": "probe", "id": record["id"], "prompt": record["prompt"], "completion": text})
        finally:
            model.train(was_training)
        with path.open("a", encoding="utf-8") as f:
            f.write("".join(artifacts.dumps(r) for r in rows))


def write_samples(path: Path, step: int, recent: dict[str, Any], limit: int = 8) -> None:
    rows = []
    for i, completion in enumerate(recent["completion"][:limit]):
        rows.append({
            "step": step,
            "prompt": recent["prompt"][i] if i < len(recent["prompt"]) else None,
            "completion": completion,
            "rewards": {name: (values[i] if i < len(values) else None) for name, values in recent["rewards"].items()},
            "advantage": recent["advantage"][i] if i < len(recent["advantage"]) else None,
        })
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(artifacts.dumps(_finite(r)) for r in rows))


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """NaN (TRL's stand-in for a None reward) is not JSON: back to null."""
    import math

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    return {k: clean(v) for k, v in row.items()}


def attach(trainer: Any, callback: Any) -> None:
    """r1cli's reporting instead of transformers' (right after the trainer is built, before
    anything that logs: an evaluation logs too)."""
    from r1cli import trl_compat

    trl_compat.quiet_trainer_output(trainer)
    callback.trainer = trainer
    trainer.add_callback(callback)


@contextlib.contextmanager
def _failed_saves_in_one_line(run: RunFolder):  # noqa: ANN202
    """A checkpoint or model that cannot be written (a full disk) ends the run with one line,
    exit 1, and the run resumable: the checkpoint cut off while saving is removed (it is never
    resumed from, and it holds space the rerun needs), the complete ones stay."""
    try:
        yield
    except Exception as e:
        why = artifacts.save_error(e, run.path)
        if why is None:
            raise
        if is_main_process():
            for path in run.path.glob("checkpoint-*"):
                if path.is_dir() and not (path / CHECKPOINT_MARK).exists():
                    shutil.rmtree(path, ignore_errors=True)
        last = newest_checkpoint(run.path)
        since = f"from {last.name}" if last is not None else "from the start (no checkpoint was complete)"
        raise RunError(f"{run.path}: {why} while saving; the run resumes {since}: free space and rerun with --resume") from e


def train(trainer: Any, run: RunFolder) -> Any:
    """Run `trainer.train()`, resuming from the run's checkpoint; stdout stays clean."""
    resume_from = str(run.checkpoint) if run.checkpoint is not None else None
    if resume_from and is_main_process():
        console.info(f"resuming from {resume_from}")
    # Nothing a library prints may land on stdout, where data goes.
    with contextlib.redirect_stdout(sys.stderr), _failed_saves_in_one_line(run):
        return trainer.train(resume_from_checkpoint=resume_from)


def save_final(trainer: Any, run: RunFolder, cfg: TrainConfig, ref: Any) -> list[str]:
    """Save the final adapter (or model) and tokenizer at the top of the folder; merge on request."""
    with contextlib.redirect_stdout(sys.stderr), _failed_saves_in_one_line(run):
        trainer.save_model(str(run.path))
    if hasattr(trainer.accelerator, "wait_for_everyone"):
        trainer.accelerator.wait_for_everyone()
    files = []
    if is_main_process():
        with _failed_saves_in_one_line(run):
            trainer.processing_class.save_pretrained(str(run.path))
        if cfg.merge:
            from r1cli import models

            merged = run.path / "merged"
            models.merge(dataclasses.replace(ref, adapter=str(run.path)), merged, trust_remote_code=cfg.trust_remote_code)
            files.append("merged/")
        files += sorted(p.name for p in run.path.iterdir() if p.is_file())
    return files


def last_metrics(run: RunFolder) -> dict[str, Any]:
    path = run.path / METRICS_FILE
    if not path.exists():
        return {}
    rows, _ = artifacts.read_metrics(path)
    steps = [r for r in rows if "train_runtime" not in r and not any(k.startswith("eval_") for k in r)]
    summary = next((r for r in reversed(rows) if "train_runtime" in r), {})
    return {"steps": steps[-1]["step"] if steps else 0, "first": steps[0] if steps else {}, "last": steps[-1] if steps else {},
            "train_runtime": summary.get("train_runtime")}


class Timer:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.t0, 3)


def check_world_batch(cfg: TrainConfig, group: int, group_flag: str) -> None:
    """GRPO's generation batch must hold whole groups: say so with r1cli's flag names."""
    total = cfg.batch_size * cfg.world_size * cfg.gradient_accumulation_steps
    if total % group:
        raise R1Error(
            f"--batch-size {cfg.batch_size} x {cfg.world_size} process(es) x --gradient-accumulation-steps "
            f"{cfg.gradient_accumulation_steps} = {total} completions per generation batch, not divisible by "
            f"{group_flag} {group}; every prompt's group of {group} completions must fit in one batch"
        )
