"""Diagnostics on stderr: messages, warnings and progress. Data never goes through here.

On a terminal, progress is a live rich bar; otherwise (CI logs, `2> log`) it is one plain
line every few seconds, so logs stay readable.
"""

from __future__ import annotations

import logging
import sys
import time

from rich.console import Console

# Logs (not a terminal) get a wide fixed width, so tables are not squeezed to 80 columns.
stderr = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160)
quiet = False


# The libraries' loggers that would otherwise write their own lines on stderr.
_LIBRARY_LOGGERS = ("transformers", "datasets", "huggingface_hub", "accelerate", "peft", "trl", "math_verify",
                    "latex2sympy2_extended", "torch", "matplotlib")
_VERBOSITY_VARIABLES = ("TRANSFORMERS_VERBOSITY", "DATASETS_VERBOSITY", "HF_HUB_VERBOSITY")


def silence_libraries(debug: bool) -> None:
    """Keep r1cli's stderr contract whatever a dependency prints: one `error:` line for a failure,
    r1cli's own `warning:` lines, progress. Library warnings (a deprecation inside transformers,
    a TRL notice), library log lines and library progress bars are for the library's authors,
    not for r1cli's users: hidden unless --debug, where they show as the library wrote them. r1cli itself never uses
    the `warnings` module for what a user must act on; that goes through `warn` below.

    Called before any library is imported (stages import them lazily). The verbosity variables
    also reach worker processes; the log levels cover a library imported already (tests)."""
    import os
    import warnings

    if debug:
        return
    for name in _VERBOSITY_VARIABLES:
        os.environ.setdefault(name, "error")
    # Bars that libraries draw with plain tqdm (transformers' GGUF de-quantizing): r1cli reports
    # progress itself. tqdm reads this when it is imported.
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # DeepSpeed (the deepspeed extra) resets its logger's level when imported and gives it its own
    # handler on stdout; accelerate imports it whenever it is installed, even for a plain CPU run,
    # whose stdout then opened with DeepSpeed's "Setting accelerator to CPU" warning. A filter on
    # the logger outlives that reset.
    logging.getLogger("DeepSpeed").addFilter(_errors_only)
    # Every warning that passes the filters is shown through `showwarning`; libraries change the
    # filters at import (transformers, TRL), but not this.
    warnings.showwarning = _hidden_warning


def _hidden_warning(*args: object, **kwargs: object) -> None:
    pass


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


def info(message: str) -> None:
    if not quiet:
        stderr.print(message, markup=False)


def warn(message: str) -> None:
    stderr.print(f"warning: {message}", style="yellow", markup=False)


def error(message: str) -> None:
    stderr.print(f"error: {message}", style="bold red", markup=False)


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


class Progress:
    """Progress of `total` units of work, with an optional throughput counter (e.g. tokens).

        with Progress("sample", total=len(prompts), unit="prompts", rate_unit="tok") as p:
            p.advance(len(batch), rate_count=new_tokens)
    """

    def __init__(self, label: str, total: int, *, unit: str = "items", rate_unit: str | None = None,
                 done: int = 0, interval: float = 10.0):
        self.label = label
        self.total = total
        self.unit = unit
        self.rate_unit = rate_unit
        self.done = done
        self.start_done = done
        self.rate_count = 0
        self.interval = interval
        self._t0 = time.monotonic()
        self._last_log = self._t0
        self._live = None
        self._task = None

    def __enter__(self) -> Progress:
        if quiet:
            return self
        if stderr.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._live = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"), console=stderr, transient=False,
            )
            self._live.start()
            self._task = self._live.add_task(self.label, total=self.total, completed=self.done, rate="", note="")
        return self

    def rate(self) -> float:
        elapsed = time.monotonic() - self._t0
        return self.rate_count / elapsed if elapsed > 0 else 0.0

    def advance(self, n: int = 1, *, rate_count: int = 0, note: str = "") -> None:
        """`n` more units done; `note` is a short live detail (e.g. "reward 0.42")."""
        self.done += n
        self.rate_count += rate_count
        rate = f"{self.rate():,.0f} {self.rate_unit}/s" if self.rate_unit else ""
        if quiet:
            return
        if self._live is not None:
            self._live.update(self._task, completed=self.done, rate=rate, note=note)
            return
        now = time.monotonic()
        if now - self._last_log >= self.interval or self.done >= self.total:
            self._last_log = now
            info(self.summary(rate, note))

    def summary(self, rate: str = "", note: str = "") -> str:
        elapsed = time.monotonic() - self._t0
        new = self.done - self.start_done
        eta = elapsed / new * (self.total - self.done) if new > 0 else float("nan")
        parts = [f"{self.label}: {self.done}/{self.total} {self.unit}"]
        if rate:
            parts.append(rate)
        parts.append(f"elapsed {_fmt_eta(elapsed)}")
        if self.done < self.total and new > 0:
            parts.append(f"eta {_fmt_eta(eta)}")
        if note:
            parts.append(note)
        return ", ".join(parts)

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
