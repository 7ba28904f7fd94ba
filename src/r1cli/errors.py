"""User-facing errors.

Anything the user can fix (a bad flag, a malformed file, a missing model) is raised as an
`R1Error` with one line that says what is wrong, where (file, line, field) and what to do.
The CLI prints that line to stderr and exits non-zero; a traceback appears only with `--debug`.
"""

from __future__ import annotations

# Exit codes, shared by every command.
EXIT_RUNTIME = 1  # the work itself failed (a crash, a full disk, an interrupted run)
EXIT_USAGE = 2  # bad input: flags, config, data files, model paths (same code click uses)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM; partial work is kept for resuming


class R1Error(Exception):
    """An error the user can act on; `str(error)` is the whole message."""

    exit_code = EXIT_USAGE


class DataError(R1Error):
    """Bad input data: `where` is `path:line` (or `path`), `field` the offending field."""

    def __init__(self, where: str, message: str, field: str | None = None):
        self.where = where
        self.field = field
        prefix = f"{where}: " if where else ""
        field_part = f"field '{field}': " if field else ""
        super().__init__(f"{prefix}{field_part}{message}")


class RunError(R1Error):
    """The work failed for a reason outside the input (disk full, a lock held by another run)."""

    exit_code = EXIT_RUNTIME
