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
from r1cli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, R1Error


class _Group(TyperGroup):
    """Turns errors into one line on stderr and an exit code, inside click's own invocation,
    so the real CLI and `CliRunner` tests behave the same."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except R1Error as e:
            if _debug:
                raise
            console.error(str(e))
            sys.exit(e.exit_code)
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
            import click

            if _debug or isinstance(e, click.ClickException):
                raise
            console.error(f"{type(e).__name__}: {e} (rerun with --debug for the traceback)")
            sys.exit(EXIT_RUNTIME)


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
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors (or set R1CLI_DEBUG=1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    global _debug
    _debug = _debug or debug
    console.quiet = quiet


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
    chat_template: Annotated[bool, typer.Option("--chat-template/--no-chat-template", help="Give the tokenizer a chat template (off: a 'base' model).")] = True,
    force: Force = False,
) -> None:
    """Build a small random-weight Qwen2 model with a locally trained tokenizer (no downloads).

    Every stage loads it like a hub model; tests and the default main job use it.
    """
    from r1cli.commands import tiny_model as stage

    stage.run(out, force=force, seed=seed, hidden_size=hidden_size, layers=layers, heads=heads, kv_heads=kv_heads,
              intermediate_size=intermediate_size, vocab_size=vocab_size, chat_template=chat_template)


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
    template: Annotated[Optional[str], typer.Option(help="r1-zero (verbatim R1-Zero template; base models), chat (model's chat template), plain, or a template file with {question}.", show_default="r1-zero")] = None,
    system: Annotated[Optional[str], typer.Option(help="System message for --template chat.")] = None,
    field: Annotated[Optional[list[str]], typer.Option("--field", help="Map a record field to a source column: question=COL, answer=COL, id=COL. Repeatable.")] = None,
    language: Annotated[Optional[str], typer.Option(help="Add a `language` field (e.g. zh) for the language-consistency reward.")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="Generator option KEY=VALUE, e.g. digits=3 (arithmetic) or max_numbers=5 (countdown). Repeatable.")] = None,
    config: ConfigFile = None,
    force: Force = False,
) -> None:
    """Turn a task's data into prompt records (id, task, question, prompt, answer, metadata)."""
    from r1cli.commands import prepare as stage
    from r1cli.tasks import PromptSource

    src = PromptSource.build(
        config, task=task, data=data, split=split, subset=subset, n=n, seed=seed, shuffle=shuffle, template=template,
        system=system, field=stage.parse_pairs(field, "--field") or None, language=language,
        option=stage.parse_pairs(option, "--option", numbers=True) or None,
    )
    stage.run(src, output, force=force)


# -- sample -----------------------------------------------------------------------------------
def _sample_defaults(name: str) -> str:
    from r1cli.commands.sample import SampleConfig

    return _default(SampleConfig, name)


@app.command()
def sample(
    input: InputArg = None,
    output: Output = ...,  # type: ignore[assignment]
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Hub name or local folder (a LoRA adapter folder loads its base with the adapter).")] = None,
    adapter: Annotated[Optional[str], typer.Option(help="LoRA adapter folder to put on top of --model.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Completions per prompt.", show_default=_sample_defaults("k"))] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature (0: greedy).", show_default=_sample_defaults("temperature"))] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Nucleus sampling mass.", show_default=_sample_defaults("top_p"))] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="Token limit per completion.", show_default=_sample_defaults("max_new_tokens"))] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed (each batch's seed derives from it and the batch's prompts).", show_default=_sample_defaults("seed"))] = None,
    stop: Annotated[Optional[list[str]], typer.Option("--stop", help="Stop string, kept in the completion (e.g. '</answer>'). Repeatable.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Prompts per generation batch (x K sequences).", show_default=_sample_defaults("batch_size"))] = None,
    backend: Annotated[Optional[str], typer.Option(help="auto, plain (transformers generate) or vllm.", show_default=_sample_defaults("backend"))] = None,
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
    reward: Annotated[Optional[list[str]], typer.Option("--reward", "-r", help="NAME[=WEIGHT], repeatable; NAME may be package.module:function. Default: the task's rewards.")] = None,
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


def main() -> None:
    app()
