"""How an r1cli command is built: its options from a stage config's fields, its errors as one line.

`stage(app, name, ConfigClass, ...)` registers a command whose options are the config's fields
declared with `r1cli.config.option` (help, flag names and the default --help shows live on the
field), so adding a flag to a stage is adding a field. `Group` runs every command so that an
error is one line on stderr and an exit code (the traceback only with --debug), in the real CLI
and in `CliRunner` tests alike.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Optional

import typer
from typer.core import TyperGroup

from r1cli import console
from r1cli.config import flag_name, parse_pairs
from r1cli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, R1Error

debug = os.environ.get("R1CLI_DEBUG", "") not in ("", "0")


def _one_line(text: str) -> str:
    """Error messages are one line: a multi-line library message is folded, not cut."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _fail(message: str, code: int) -> None:
    """One line on stderr and the exit code; with --debug the traceback comes first, and the
    exit code stays the same (scripts that check it behave alike with and without --debug)."""
    if debug:
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


class Group(TyperGroup):
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
            hint = "" if debug else " (rerun with --debug for the traceback)"
            _fail(f"{type(e).__name__}: {_one_line(str(e))}{hint}", EXIT_RUNTIME)


def _param(name: str, annotation: Any, info: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[annotation, info])


def opt(name: str, annotation: Any, *decls: str, help: str, default: Any = None, **info: Any) -> inspect.Parameter:
    if annotation in (bool, Optional[bool]):
        info.setdefault("metavar", "")  # a flag takes no value: --help shows none
    return _param(name, annotation, typer.Option(*decls, help=help, **info), default)


def arg(name: str, annotation: Any, *, help: str, default: Any = None, **info: Any) -> inspect.Parameter:
    return _param(name, annotation, typer.Argument(help=help, show_default=False, **info), default)


def _cli_type(hint: Any) -> Any:
    """What the user types for a field of this type: Optional stripped, a Literal as text, a
    mapping as repeated KEY=VALUE pairs."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    origin = typing.get_origin(hint)
    if origin is Literal:
        return str
    if origin is dict:
        return list[str]
    return hint


def _shown(value: Any) -> str:
    if isinstance(value, bool) or value is None or value == []:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _field_options(cls: type) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(cls)
    params = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta:
            continue  # a config-file-only key
        cli_type = meta["cli_type"] or _cli_type(hints[f.name])
        shown = meta["show"]
        if shown is None:
            shown = _shown(f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)  # type: ignore[misc]
        params.append(opt(f.name, Optional[cli_type], *(meta["flags"] or (flag_name(f.name),)), help=meta["help"],
                           show_default=shown or False))
    return params


def stage(app: typer.Typer, name: str, *configs: type, before: Sequence[inspect.Parameter] = (), after: Sequence[inspect.Parameter] = ()) -> Callable:
    """Register command `name`: `before`, then the options of every field of `configs` (the
    first class that declares a field wins), then `after`. The function gets each as a keyword
    argument: None when not given (so a config file can set it), a mapping for KEY=VALUE fields."""

    def register(body: Callable[..., None]) -> Callable[..., None]:
        fields: dict[str, inspect.Parameter] = {}
        pairs: dict[str, tuple[str, bool]] = {}  # KEY=VALUE fields: their flag, and whether values stay text
        for cls in configs:
            hints = typing.get_type_hints(cls)
            for p in _field_options(cls):
                fields.setdefault(p.name, p)
                if typing.get_origin(hints[p.name]) is dict:
                    pairs[p.name] = (cls.flag(p.name), typing.get_args(hints[p.name])[1] is str)
        params = [*before, *fields.values(), *after]

        def command(**values: Any) -> None:
            for key, value in values.items():
                if isinstance(value, (list, tuple)) and not value:
                    values[key] = None  # a repeatable flag not given: leave the config file's value
            for key, (flag, text) in pairs.items():
                values[key] = parse_pairs(values[key], flag, text=text) or None
            body(**values)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__doc__ = body.__doc__
        command.__name__ = body.__name__
        app.command(name)(command)
        return body

    return register


def read_input(path: Optional[str]) -> str:
    """The input argument; stdin when it is omitted and data is being piped in."""
    if path is not None:
        return path
    if sys.stdin is not None and not sys.stdin.isatty():  # None: started with stdin closed
        return "-"
    raise R1Error("no input: pass a JSONL file, or - to read records from stdin")


# The options every stage has beside its config's fields.
INPUT = arg("input", Optional[str], help="Input JSONL file, or - for stdin (the default when piped).")
OUTPUT = opt("output", str, "--output", "-o", help="Output JSONL file, or - for stdout.", show_default=False, default=...)
OUTPUT_DIR = opt("output", str, "--output", "-o", help="Output folder (checkpoints, metrics, final adapter, manifest).",
                  show_default=False, default=...)
CONFIG = opt("config", Optional[str], "--config", "-c", help="YAML file with this stage's settings (keys as the flags, with _). Flags override it.")
FORCE = opt("force", bool, "--force", help="Overwrite an existing output (and discard an unfinished partial run).", default=False)
RESUME = opt("resume", bool, "--resume", help="Continue an unfinished run from its newest complete checkpoint.", default=False)
DRY_RUN = opt("dry_run", bool, "--dry-run", help="Do every check, load the model, time one real step (or a few sampled tokens), "
              "print the plan (work, time, memory, checkpoints) and write nothing.", default=False)
