"""`r1cli distill`: teach a small student from a strong teacher.

    r1cli distill prompts.jsonl --teacher runs/rl --student Qwen/Qwen2.5-0.5B -o runs/distill             # sequence level
    r1cli distill prompts.jsonl --teacher T --student S --mode token --on-policy -o runs/distill-opd
    r1cli prepare math --data math.jsonl -o - | r1cli distill - --teacher T --student S -k 8 -o runs/distill

Sequence level (what R1-Distill did) composes the other stages and keeps every artifact:

    OUT/teacher_samples.jsonl   r1cli sample  (the teacher answers each prompt K times)
    OUT/scored.jsonl            r1cli reward  (the task's rewards, or `rewards:`)
    OUT/sft_data.jsonl          r1cli reject  (correct, clean answers; options under `reject:`)
    OUT/student/                r1cli sft     (the student learns them)

Token level matches the teacher's next-token distribution rather than its sampled text:
`--on-policy` trains on the student's own completions (TRL's DistillationTrainer, generalised
JSD; the teacher scores every token), off-policy trains on teacher samples (TRL's GKD with
lambda 0). Both need the teacher and student to share a tokenizer, which is checked before any
weights load. A rerun continues where the last one stopped: finished artifacts are reused.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from r1cli import artifacts, rewards as registry
from r1cli.artifacts import Manifest
from r1cli.config import ConfigError, option
from r1cli.console import info
from r1cli.errors import DataError, R1Error
from r1cli.training import TrainConfig, Timer

MODES = ("sequence", "token")


@dataclass
class DistillConfig(TrainConfig):
    """The student's training options (TrainConfig: `model` is the student) plus the teacher's."""

    model: str = option("", help="Student to train: hub name, folder or .gguf file.", flags=("--student",), show="")
    teacher: str = option("", help="Teacher: hub name, folder, .gguf file, or adapter folder (e.g. an RL run).", show="")
    mode: str = option("sequence", help="sequence (R1-Distill: SFT on the teacher's correct samples) or token (match the teacher's next-token distribution).")
    on_policy: bool = option(False, help="Token level on the student's own completions (TRL DistillationTrainer); default: on teacher samples (GKD).", show="")
    k: int = option(4, help="Teacher samples per prompt.")
    temperature: float = option(0.6, help="Sampling temperature (teacher samples; student rollouts on-policy).")
    top_p: float = option(0.95, help="Nucleus sampling mass for teacher samples.")
    max_new_tokens: int = option(1024, help="Token limit per sampled completion.")
    batch_size_sampling: int = 8
    rewards: registry.RewardsSetting = registry.rewards_option("Rewards that judge teacher samples, NAME[=WEIGHT] (default: the task's).")
    reject: dict[str, Any] = field(default_factory=dict)  # RejectConfig keys
    max_length: int = option(2048, help="Sequence level: token limit per student training example.")
    # Generalised JSD: 0 forward KL, 0.5 JSD, 1 reverse KL. None: reverse KL on-policy (as in the
    # on-policy distillation paper), forward KL on teacher samples (classic knowledge distillation).
    beta: float | None = option(None, help="Token level: generalised JSD interpolation (0 forward KL, 0.5 JSD, 1 reverse KL).",
                                show="1 on-policy, 0 off-policy")

    def validate(self) -> None:
        self.require(bool(self.teacher), "teacher", "is required (a hub name, a local folder or an adapter folder)")
        super().validate()
        self.require(self.mode in MODES, "mode", f"must be one of {', '.join(MODES)}")
        self.require(not self.on_policy or self.mode == "token", "on_policy", "applies to --mode token only")
        self.require(self.k >= 1, "k", "must be at least 1")
        self.require(self.beta is None or 0 <= self.beta <= 1, "beta", "must be in [0, 1]")
        self.rewards = registry.as_specs(self.rewards, self.source or "--reward")
        if self.reject:
            from r1cli.commands.reject import RejectConfig

            unknown = sorted(set(self.reject) - set(RejectConfig.field_names()))
            if unknown:
                raise ConfigError(f"reject.{unknown[0]}: unknown key; valid keys: {', '.join(RejectConfig.field_names())}")

    def train_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(TrainConfig)}


def check_tokenizers(teacher: Any, student: Any, tref: Any, sref: Any) -> None:
    """Token-level distillation compares distributions over one vocabulary: refuse otherwise,
    before any weights load."""
    from r1cli import models

    tv, sv = teacher.get_vocab(), student.get_vocab()
    if tv != sv:
        differ = sum(1 for t, i in tv.items() if sv.get(t) != i) + len(set(sv) - set(tv))
        raise R1Error(
            f"--teacher {tref.tokenizer_source} and --student {sref.tokenizer_source} have different tokenizers "
            f"({len(tv)} vs {len(sv)} tokens, {differ} differ); token-level distillation needs a shared tokenizer: "
            "use --mode sequence, or a student from the teacher's family"
        )
    sizes = [models.load_config(r).get_text_config().vocab_size for r in (tref, sref)]
    if sizes[0] != sizes[1]:
        raise R1Error(f"--teacher and --student share a tokenizer but their output layers differ ({sizes[0]} vs {sizes[1]} "
                      "rows); token-level distillation needs equal vocab_size: use --mode sequence")


def run(input_path: str, output: str, cfg: DistillConfig, *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
    from r1cli import models

    timer = Timer()
    if cfg.world_size > 1:
        # Every rank would sample and write the same artifacts: run the stages one by one instead.
        raise R1Error("distill runs in one process; under a launcher run its stages separately "
                      "(sample, reward and reject once, then `accelerate launch -m r1cli sft`), as recipes/sky-t1 does")
    out = Path(output)
    prompts = artifacts.read_jsonl(input_path)
    from r1cli import records as schema

    schema.validate(prompts, "prompt")
    tref, sref = models.resolve(cfg.teacher), models.resolve(cfg.model, cfg.adapter)
    if cfg.mode == "token":
        check_tokenizers(models.load_tokenizer(tref), models.load_tokenizer(sref), tref, sref)
    if dry_run:
        return _dry_run(prompts, out, cfg, tref, sref, force)
    _prepare_folder(out, force)
    # The prompts travel with the run, so a rerun (even from a pipe) resumes against the same ones.
    saved = out / "prompts.jsonl"
    if not saved.exists():
        artifacts.atomic_write_text(saved, "".join(artifacts.dumps(r) for r in prompts.records))
    elif artifacts.read_jsonl(saved).info.sha256 != prompts.info.sha256:
        raise DataError(str(out), "holds a run on other prompts; pass --force to start over, or choose another output")
    manifest = Manifest("distill", cfg.to_dict(), [prompts.info], {"teacher": tref.identity(), "student": sref.identity()})
    steps: dict[str, Any] = {}
    if cfg.mode == "sequence":
        data = _sequence_data(saved, out, cfg, steps)
        steps["sft"] = _train_sft(data, out / "student", cfg)
    elif cfg.on_policy:
        steps["distill"] = _train_token(saved, out / "student", cfg, tref, sref, on_policy=True)
    else:
        samples = _teacher_samples(saved, out, cfg, steps)
        steps["distill"] = _train_token(samples, out / "student", cfg, tref, sref, on_policy=False)
    stats = {"steps": steps, "seconds": timer.seconds}
    artifacts.write_manifest(out, manifest.finish(stats))
    info(f"distill: {cfg.mode}-level{' on-policy' if cfg.on_policy else ''} from {cfg.teacher} -> {out / 'student'}")
    return stats


def _dry_run(prompts: Any, out: Path, cfg: DistillConfig, tref: Any, sref: Any, force: bool) -> dict[str, Any]:
    """The output folder checked, the first stage that needs a model timed, nothing written:
    the teacher's sampling (sequence level, and token level on teacher samples) or the student's
    first on-policy step."""
    import tempfile

    from r1cli.commands import sample

    artifacts.check_output_folder(out, force=force, resume=True, stage="distill")
    with tempfile.TemporaryDirectory(prefix="r1cli-dry-run-") as tmp:
        saved = Path(tmp) / "prompts.jsonl"
        saved.write_text("".join(artifacts.dumps(r) for r in prompts.records), encoding="utf-8")
        if cfg.mode == "token" and cfg.on_policy:
            return _train_token(saved, Path(tmp) / "student", cfg, tref, sref, on_policy=True, dry_run=True)
        plan = sample.run(str(saved), str(Path(tmp) / "teacher_samples.jsonl"), _teacher_config(cfg), dry_run=True)
    info("distill --dry-run: the student then trains on the teacher's samples that pass (sequence level: what rejection "
         f"keeps); once they exist, `r1cli sft {out}/sft_data.jsonl -m {cfg.model} --dry-run` times its steps")
    return plan


def _prepare_folder(out: Path, force: bool) -> None:
    """The output folder rule every stage follows; an unfinished distill run simply continues
    (each artifact is reused or redone by its settings), so no --resume is needed."""
    if artifacts.check_output_folder(out, force=force, resume=True, stage="distill") == "replace":
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / artifacts.RUN_FILE).exists():
        artifacts.atomic_write_text(out / artifacts.RUN_FILE, '{"stage": "distill"}\n')


# A distill folder's artifacts, each made from the one before it.
CHAIN = ("teacher_samples.jsonl", "scored.jsonl", "sft_data.jsonl", "student")


def _reusable(out: Path, name: str, settings: dict[str, Any]) -> bool:
    """Whether OUT/name is there, made with `settings` (its manifest's config says what it was
    made with). One made with other settings is removed together with everything made from it,
    so a rerun with a changed `reject:` or sampling option redoes exactly what it affects."""
    path = out / name
    made = (artifacts.read_manifest(path) or {}).get("config")
    if made is not None and all(_plain(made.get(k)) == _plain(v) for k, v in settings.items()):
        info(f"distill: reusing {path}")
        return True
    if made is not None:
        changed = sorted(k for k, v in settings.items() if _plain(made.get(k)) != _plain(v))
        info(f"distill: {path} was made with other settings ({', '.join(changed)}); making it again, and what follows from it")
    for later in CHAIN[CHAIN.index(name):]:
        target = out / later
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
            artifacts.manifest_path(target).unlink(missing_ok=True)
    return False


def _plain(value: Any) -> Any:
    """As JSON has it (tuples are lists), so settings compare equal to what a manifest stored."""
    import json

    return json.loads(json.dumps(value, default=str))


def _teacher_config(cfg: DistillConfig) -> Any:
    """The teacher's sampling settings, as `r1cli sample` takes them."""
    from r1cli.commands import sample

    return sample.SampleConfig.build(model=cfg.teacher, k=cfg.k, temperature=cfg.temperature, top_p=cfg.top_p,
                                     max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, batch_size=cfg.batch_size_sampling,
                                     device=cfg.device, trust_remote_code=cfg.trust_remote_code)


def _teacher_samples(prompts: Path, out: Path, cfg: DistillConfig, steps: dict[str, Any]) -> Path:
    from r1cli.commands import sample

    path = out / "teacher_samples.jsonl"
    scfg = _teacher_config(cfg)
    if not _reusable(out, path.name, scfg.to_dict()):
        sample.run(str(prompts), str(path), scfg)
    steps["sample"] = (artifacts.read_manifest(path) or {}).get("stats")
    return path


def _sequence_data(prompts: Path, out: Path, cfg: DistillConfig, steps: dict[str, Any]) -> Path:
    from r1cli.commands import reject, reward

    samples = _teacher_samples(prompts, out, cfg, steps)
    scored = out / "scored.jsonl"
    from r1cli import tasks

    specs = cfg.rewards or tasks.default_rewards(artifacts.read_jsonl(prompts).records)
    if not _reusable(out, scored.name, {"rewards": [s.as_dict() for s in specs]}):
        reward.run(str(samples), str(scored), reward.RewardConfig(rewards=specs))
    steps["reward"] = (artifacts.read_manifest(scored) or {}).get("stats")
    data = out / "sft_data.jsonl"
    rcfg = reject.RejectConfig.build(None, **cfg.reject)
    if not _reusable(out, data.name, rcfg.to_dict()):
        reject.run(str(scored), str(data), rcfg)
    steps["reject"] = (artifacts.read_manifest(data) or {}).get("stats")
    if not artifacts.read_jsonl(data, allow_empty=True).records:
        raise R1Error(f"{data}: rejection sampling kept no teacher samples; loosen `reject:` or sample more (-k), then rerun")
    return data


def _student_folder_state(out: Path, settings: dict[str, Any]) -> tuple[bool, bool]:
    """(finished, resume): a finished student made with these settings is reused, an
    unfinished one resumed, one made with other settings trained again."""
    folder = out / "student"
    finished = (folder / "manifest.json").exists() and _reusable(out, folder.name, settings)
    return finished, folder.exists()


def _train_sft(data: Path, folder: Path, cfg: DistillConfig) -> Any:
    from r1cli.commands import sft

    scfg = sft.SftConfig.build(None, **cfg.train_fields(), inputs=[{"path": str(data), "weight": 1.0}], max_length=cfg.max_length)
    finished, resume = _student_folder_state(folder.parent, {**scfg.to_dict(), "learning_rate": scfg.lr()})
    if not finished:
        sft.run(scfg, str(folder), resume=resume)
    return (artifacts.read_manifest(folder) or {}).get("stats")


def _train_token(data: Path, folder: Path, cfg: DistillConfig, tref: Any, sref: Any, *, on_policy: bool, dry_run: bool = False) -> Any:
    """Token-level distillation of the student toward the teacher, through the training lifecycle."""
    import datasets

    from r1cli import models, training, trl_compat
    from r1cli.device import pick_device

    settings = {**cfg.to_dict(), "on_policy": on_policy}
    finished, resume = _student_folder_state(folder.parent, settings)
    if finished:
        return (artifacts.read_manifest(folder) or {}).get("stats")
    records = artifacts.read_jsonl(data).records
    tokenizer = models.load_tokenizer(sref, trust_remote_code=cfg.trust_remote_code)
    if on_policy:
        rows = [{"prompt": r["prompt"]} for r in records]
    else:
        # GKD reads chat conversations: the prompt as the user's turn, the teacher's answer as the assistant's.
        models.require_chat_template(tokenizer, sref, "off-policy token-level distillation (TRL's GKD) trains on chat messages; use --on-policy or --mode sequence")
        rows = [{"messages": [*(r["prompt"] if isinstance(r["prompt"], list) else [{"role": "user", "content": r["prompt"]}]),
                              {"role": "assistant", "content": r["completion"]}]} for r in records]
    config_class, trainer_class = trl_compat.distill_classes(on_policy)
    own = {"max_completion_length": cfg.max_new_tokens} if on_policy else {"lmbda": 0.0, "max_new_tokens": cfg.max_new_tokens}
    beta = cfg.beta if cfg.beta is not None else (1.0 if on_policy else 0.0)

    def trainer(student: Any, args: Any, peft_config: Any) -> Any:
        device = pick_device(cfg.device)
        dtype = cfg.model_dtype(device)
        # A teacher that is an adapter folder (or a GGUF file) is loaded here; a plain one TRL loads itself.
        loaded_here = bool(tref.adapter or tref.gguf_file)
        teacher: Any = models.load_model(tref, device=device, dtype=dtype) if loaded_here else tref.base
        if not loaded_here:
            args.teacher_model_init_kwargs = {"dtype": str(dtype).removeprefix("torch."), "trust_remote_code": cfg.trust_remote_code,
                                              "use_safetensors": True}
        return trainer_class(model=student, teacher_model=teacher, args=args, train_dataset=datasets.Dataset.from_list(rows),
                             processing_class=tokenizer, peft_config=peft_config)

    return training.fit(training.Stage(
        "distill-token", config_class, {"beta": beta, "temperature": cfg.temperature if on_policy else 1.0, **own}, trainer,
        settings, [artifacts.read_jsonl(data).info], {"teacher": tref.identity(), "student": sref.identity()},
        stats={"examples": len(rows)},
    ), cfg, sref, folder, resume=resume, dry_run=dry_run)
