"""The artifact contract: how every stage reads and writes JSONL files and manifests.

Reading
    `read_jsonl(path)` returns every record with its line number; `-` is stdin. Malformed JSON,
    non-UTF-8 bytes, a line that is not an object, an over-long line or a torn last line stop
    with one `path:line: ...` message, and so does what Python's json accepts but no later
    stage could carry: NaN and infinite numbers, integers too long to convert, nesting deeper
    than MAX_DEPTH, lone UTF-16 surrogates (which cannot be written back as UTF-8). Blank lines
    are skipped. A named pipe that no program writes to is waited for FIFO_WAIT seconds, not
    forever.

Writing
    `JsonlOutput` writes `-` straight to stdout. A file output is built in `OUT.partial`, locked
    so that a second run writing the same output fails fast, and renamed to `OUT` only when the
    stage finishes: a file named `OUT` is always complete. An existing `OUT` is refused unless
    `force`. A resumable stage keeps `OUT.partial` when it is killed and picks it up again on
    the next run, provided the run's settings match the header stored in its first line.

Manifests
    Beside every finished file `OUT` lies `OUT.manifest.json` (and in a folder output,
    `manifest.json`): stage, r1cli version, resolved config, every input with sha256 and row
    count, model identity, start and end time, summary statistics.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from r1cli import __version__
from r1cli.errors import DataError, RunError

STDIO = "-"
MAX_LINE_BYTES = 64 * 1024 * 1024  # a longer JSONL line is almost certainly not a record
# Nesting a record may have. Real records nest a few levels (chat messages, test cases); a
# record that Python's json just manages to read (about 1,000 levels) could still overflow the
# stack when a later step walks it (writing it back, a chat template, pyarrow), long after the
# model loaded. 100 leaves room for any real data.
MAX_DEPTH = 100
# Seconds to wait for a program to start writing to a named pipe given as input (or to start
# reading one given as output) before giving up: opening a pipe nobody writes to would block
# forever. R1CLI_FIFO_WAIT overrides it.
FIFO_WAIT = 60.0
PARTIAL_SUFFIX = ".partial"
MANIFEST_SUFFIX = ".manifest.json"
_HEADER_KEY = "__r1cli_partial__"
# The files of an output folder (a training run, a model, a distill run, a report).
MANIFEST_FILE = "manifest.json"  # written last: the folder is complete
RUN_FILE = "r1cli_run.json"  # written first by a stage that works in its folder (training, distill)
METRICS_FILE = "metrics.jsonl"  # a training run's metrics, one line per logged step
SAMPLES_FILE = "samples.jsonl"  # a grpo run's completions with their rewards, every few steps


def now() -> str:
    """UTC timestamp for manifests."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class InputInfo:
    """What a stage read: recorded in its manifest so a run can be traced to its inputs."""

    path: str
    sha256: str
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "rows": self.rows}


@dataclass
class Loaded:
    """Records read from one JSONL input; `lines[i]` is the line number of `records[i]`."""

    records: list[dict[str, Any]]
    lines: list[int]
    info: InputInfo

    def where(self, index: int) -> str:
        return f"{self.info.path}:{self.lines[index]}"


def is_stream(path: str | Path) -> bool:
    """`-`, or an existing device, pipe or socket (`-o /dev/null`, a named pipe): written as a
    stream, in place, with no partial file, no lock and no manifest beside it."""
    if str(path) == STDIO:
        return True
    p = Path(path)
    return p.exists() and not p.is_file() and not p.is_dir()


def write_stream(path: str | Path, text: str) -> None:
    """Write `text` to stdout or to a device/pipe path."""
    stream = open_stream(path)
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise stream_error(path, e) from e
    finally:
        if stream is not sys.stdout:
            with contextlib.suppress(OSError):
                stream.close()


def _stdout_closed() -> DataError:
    return DataError("-o -", "stdout is closed; pass a file with -o, or run the command with stdout open")


def open_stream(path: str | Path) -> IO[str]:
    """stdout for `-`, else a device or named pipe opened for writing. A pipe that no program
    reads is waited for FIFO_WAIT seconds (a plain open would block until one does, forever)."""
    if str(path) == STDIO:
        if sys.stdout is None:  # started with stdout closed (`>&-`)
            raise _stdout_closed()
        return sys.stdout
    if not stat.S_ISFIFO(os.stat(path).st_mode):
        return open(path, "w", encoding="utf-8")  # noqa: SIM115
    deadline = time.monotonic() + fifo_wait()
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise stream_error(path, e) from e
        if time.monotonic() > deadline:
            raise DataError(str(path), f"a named pipe that no program read within {fifo_wait():g} s; start the program "
                                       "that reads it first, or write to a file")
        time.sleep(0.05)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "w", encoding="utf-8")


def stream_error(path: str | Path, e: OSError) -> RunError:
    """A failed write to stdout or a device (`> /dev/full`): one line. Later writes of what is
    still buffered (at exit) go nowhere, so that the one line stays the only one."""
    name = "<stdout>" if str(path) == STDIO else str(path)
    if str(path) == STDIO:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
    if e.errno == errno.ENOSPC:
        return RunError(f"{name}: no space left on device; free space and rerun")
    return RunError(f"{name}: cannot write: {e.strerror or e}")


def display_path(path: str | Path) -> str:
    return "<stdin>" if str(path) == STDIO else str(path)


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == STDIO:
        if sys.stdin is None:  # started with stdin closed (`<&-`)
            raise DataError("<stdin>", "stdin is closed; pipe records in, or pass a file")
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise DataError(str(p), "no such file")
    if p.is_dir():
        raise DataError(str(p), "is a folder, expected a JSONL file")
    try:
        if stat.S_ISFIFO(p.stat().st_mode):
            return _open_fifo(p)
        return p.open("rb")
    except OSError as e:
        raise DataError(str(p), f"cannot open: {e.strerror}") from e


def fifo_wait() -> float:
    try:
        return float(os.environ.get("R1CLI_FIFO_WAIT", FIFO_WAIT))
    except ValueError:
        return FIFO_WAIT


def _open_fifo(path: Path) -> IO[bytes]:
    """A named pipe as input, without blocking forever on one that nobody writes to.

    A blocking open waits for a writer with no end. Opened non-blocking, a read says whether a
    writer is there (EAGAIN: one is, with nothing to say yet; it may take its time) or not (end
    of file), so only the wait for a writer to appear is bounded, never a slow writer."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    deadline = time.monotonic() + fifo_wait()
    try:
        while True:
            try:
                first = os.read(fd, 1 << 16)
            except BlockingIOError:
                first = b""
                break
            if first:
                break
            if time.monotonic() > deadline:
                raise DataError(str(path), f"a named pipe that no program wrote to within {fifo_wait():g} s; start the "
                                           "program that writes it first, or pass a file")
            time.sleep(0.05)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(_Prefixed(first, fd))


class _Prefixed(io.RawIOBase):
    """A file descriptor's bytes, after some already read from it."""

    def __init__(self, prefix: bytes, fd: int):
        self.prefix, self.fd = prefix, fd

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        if self.prefix:
            n = min(len(buffer), len(self.prefix))
            buffer[:n], self.prefix = self.prefix[:n], self.prefix[n:]
            return n
        return os.readv(self.fd, [buffer])

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def read_jsonl(path: str | Path, *, trim_torn_tail: bool = False, allow_empty: bool = False) -> Loaded:
    """Read a whole JSONL file (or stdin for `-`) into memory, strictly.

    `trim_torn_tail` drops an unparseable last line that has no newline (a write cut off by a
    kill) with a warning instead of failing; used when resuming a stage's own partial output.
    """
    shown = display_path(path)
    digest = hashlib.sha256()
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    stream = _open_binary(path)
    try:
        lineno = 0
        while True:
            raw = stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            lineno += 1
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(f"{shown}:{lineno}", f"line longer than {MAX_LINE_BYTES >> 20} MiB; not a JSONL record")
            digest.update(raw)
            torn = not raw.endswith(b"\n")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{shown}:{lineno}", f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); re-encode the file as UTF-8"
                ) from None
            if not text.strip():
                continue
            # Without its line end, so that a column in the message is a column of this line.
            text = text.rstrip("\r\n")
            try:
                if text.startswith("\ufeff"):  # as json.loads says it
                    raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
                record = _DECODER.decode(text)
            except json.JSONDecodeError as e:
                if torn and trim_torn_tail:
                    _warn(f"{shown}:{lineno}: dropping a torn last line (cut off while writing)")
                    break
                hint = " (the file looks cut off while writing)" if torn else ""
                # Some messages end in "at" ("Unterminated string starting at"): no second "at".
                at = "" if e.msg.endswith(" at") else " at"
                raise DataError(f"{shown}:{lineno}", f"malformed JSON: {e.msg}{at} column {e.colno}{hint}") from None
            except _NotFinite as e:
                raise DataError(f"{shown}:{lineno}", f"not a finite number ({e}); a record holds finite numbers only: "
                                                     "write null, or the value as a string", field=_bad_number_at(text)) from None
            except ValueError:  # an integer too long for Python to convert
                raise DataError(f"{shown}:{lineno}", f"an integer of more than {sys.get_int_max_str_digits()} digits; write it "
                                                     "as a string", field=_bad_number_at(text)) from None
            except RecursionError:
                raise DataError(f"{shown}:{lineno}", _TOO_DEEP) from None
            if not isinstance(record, dict):
                raise DataError(f"{shown}:{lineno}", f"expected a JSON object, got {type(record).__name__}")
            surrogates = _SURROGATE_ESCAPE.search(raw) is not None
            if surrogates or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
                _check_parsed(record, f"{shown}:{lineno}", text_too=surrogates)
            records.append(record)
            lines.append(lineno)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    if not records and not allow_empty:
        raise DataError(shown, "no records (empty input)")
    return Loaded(records, lines, InputInfo(shown, digest.hexdigest(), len(records)))


class _NotFinite(ValueError):
    """A NaN or infinite number in a record (raised from inside json.loads)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise _NotFinite(text)
    return value


def _no_constant(text: str) -> float:  # NaN, Infinity, -Infinity: Python's json reads them, JSON has none
    raise _NotFinite(text)


# One decoder for every line (json.loads with hooks builds one per line, 15% slower); its float
# hook costs about 2%. Lines whose bytes hold a surrogate escape (\uD800-\uDFFF: half of a pair,
# or a lone one, which is not text) are checked after parsing: a literal prefix, found at C speed.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep; not a record"


class _Marked(str):
    """A value that failed a check, put in its place when a record is parsed again to find it."""


def _bad_number_at(text: str) -> str | None:
    """Where a line's non-finite or overlong number is, as a field path (only on the error path)."""
    def number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
        def parse(s: str) -> Any:
            try:
                value = kind(s)
            except ValueError:
                return _Marked(s)
            return _Marked(s) if isinstance(value, float) and not math.isfinite(value) else value
        return parse

    try:
        record = json.loads(text, parse_float=number(float), parse_int=number(int), parse_constant=_Marked)
    except (ValueError, RecursionError):
        return None
    return _find(record, lambda v: isinstance(v, _Marked))


def _has_surrogate(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_parsed(record: dict[str, Any], where: str, *, text_too: bool) -> None:
    """What json.loads accepts but a record may not hold: nesting deeper than MAX_DEPTH, and
    (`text_too`) text that is not text, a lone surrogate. Run only for lines whose bytes suggest
    either (many brackets, a surrogate escape)."""
    if _depth(record) > MAX_DEPTH:
        raise DataError(where, _TOO_DEEP)
    if not text_too:
        return
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(where, "holds a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair), which is not text; "
                               "remove it or escape the whole character", field=_find(record, _has_surrogate)) from None


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if deepest > MAX_DEPTH:
                break
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def _find(record: Any, bad: Callable[[Any], bool]) -> str | None:
    """The path (`prompt[0].content`) of the first key or value of `record` that is `bad`."""
    stack: list[tuple[Any, str]] = [(record, "")]
    while stack:
        value, path = stack.pop()
        if bad(value):
            return path or None
        if isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                where = f"{path}.{key}" if path else str(key)
                if bad(key):
                    return where
                stack.append((item, where))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
    return None


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dumps(record: dict[str, Any]) -> str:
    """One JSONL line. Non-ASCII text stays readable (Chinese prompts are common)."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


def _warn(message: str) -> None:
    from r1cli.console import warn

    warn(message)


def _fsync(fd: int) -> None:
    """fsync, where the file supports it (EINVAL: a device or pipe, nothing to make durable)."""
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a small file so that readers see either the old or the new content, never half."""
    path = Path(path)
    if is_stream(path):
        # Renaming over /dev/null would replace the device with a file: write in place.
        write_stream(path, text)
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise _write_error(path, e) from e
        raise
    _fsync_dir(path.parent)


def _write_error(path: Path, e: OSError) -> RunError:
    if e.errno == errno.ENOSPC:
        return RunError(f"{path}: no space left on device; any previous {path.name} is untouched, free space and rerun")
    return RunError(f"{path}: cannot write: {e.strerror or e}")


def save_error(e: BaseException, folder: Path) -> str | None:
    """Why a library's write under `folder` (a checkpoint, a model) failed, as words for one
    line; None when `e` is no failed write. Libraries report a full disk in their own words: an
    OSError (ENOSPC), torch's zip writer (`[enforce fail at inline_container.cc] unexpected
    pos`, `PytorchStreamWriter failed writing file`: no errno), safetensors (`IoError(...
    StorageFull)`). Where the words do not say why, little free space left says it."""
    text = str(e)
    if isinstance(e, OSError):
        return "no space left on device" if e.errno in (errno.ENOSPC, errno.EDQUOT) else None
    if "No space left" in text or "StorageFull" in text:
        return "no space left on device"
    # (torch's reader fails in the same file, inline_container.cc, with other words: not a write)
    if not ("unexpected pos" in text or "PytorchStreamWriter" in text or type(e).__name__ == "SafetensorError"):
        return None
    try:
        st = os.statvfs(folder)
        if st.f_bavail * st.f_frsize < 16 << 20:
            return "no space left on device"
    except OSError:
        pass
    return f"a file could not be written ({type(e).__name__}: {' '.join(text.split())[:200]})"


def check_output_free(path: str | Path, force: bool) -> None:
    """Refuse to overwrite a finished output unless forced, and an output that cannot be
    written (checked before any model loads). Missing folders on the way are fine: writing
    creates them."""
    if str(path) == STDIO and sys.stdout is None:
        raise _stdout_closed()
    if is_stream(path):
        return
    p = Path(path)
    if p.is_dir():
        raise DataError(str(p), "output is a folder, expected a file path")
    if p.exists() and not force:
        raise DataError(str(p), "output already exists; pass --force to overwrite it, or choose another output")
    _check_writable(p, p.parent)


def _check_writable(output: Path, folder: Path) -> None:
    """`output` can be made in `folder`: the nearest folder on the way that exists is a folder
    (not a file) and writable."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DataError(str(output), f"{existing} is a file, not a folder; choose another output")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(str(output), f"folder {existing} is not writable; choose another output")


def make_parents(path: Path) -> list[Path]:
    """Create the missing folders above `path`; returns those created, outermost first (so a
    run that fails before writing anything can remove them again)."""
    missing = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
    return list(reversed(missing))


def is_ours(folder: Path) -> bool:
    """A folder r1cli wrote: its manifest or its run file says so."""
    return (folder / MANIFEST_FILE).exists() or (folder / RUN_FILE).exists()


def check_output_folder(out: str | Path, *, force: bool, resume: bool = False, stage: str | None = None) -> str:
    """The one rule for an output folder, applied before any model loads.

    Returns "new" (absent or empty), "replace" (`force` over a folder r1cli wrote) or "resume"
    (an unfinished r1cli run, with `resume`). Refuses, with one line, a path that is not a
    folder, a folder r1cli did not write (even with `force`: it is never deleted), a finished run
    without `force`, and an unfinished one without `resume` or `force`. `stage`: only a folder
    that stage finished may be replaced (a report never replaces a training run)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(str(out), "exists and is not a folder")
    _check_writable(out, out if out.exists() else out.parent)
    if not out.exists() or not any(out.iterdir()):
        return "new"
    if not is_ours(out):
        raise DataError(str(out), "not an r1cli output folder (no manifest.json or r1cli_run.json); r1cli never replaces it, "
                                  "choose another output")
    finished = read_manifest(out) if (out / MANIFEST_FILE).exists() else None
    if stage is not None and finished is not None and finished.get("stage") != stage:
        raise DataError(str(out), f"holds r1cli's {finished.get('stage')} output, not a {stage} one; choose another output")
    if force:
        return "replace"
    if finished is not None:
        raise DataError(str(out), "holds a finished run; pass --force to replace it, or choose another output")
    if resume:
        return "resume"
    raise DataError(str(out), "holds an unfinished run; pass --resume to continue it, or --force to start over")


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], str]:
    """A training run's metrics.jsonl: its rows and sha256. A torn last line (a run that is
    still writing, or was killed mid-write) is dropped; a malformed line elsewhere stops."""
    raw = path.read_bytes()
    rows: list[dict[str, Any]] = []
    lines = raw.split(b"\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if lineno == len(lines):  # no newline after it: cut off while writing
                break
            raise DataError(f"{path}:{lineno}", f"malformed metrics line: {e}") from None
        if isinstance(row, dict):
            rows.append(row)
    return rows, hashlib.sha256(raw).hexdigest()


def publish_folder(build_dir: Path, out: Path, force: bool) -> None:
    """Move a finished folder into place; the old one (if forced) goes only after that works."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    build_dir.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def manifest_path(output: str | Path) -> Path:
    p = Path(output)
    return p / MANIFEST_FILE if p.is_dir() else p.with_name(p.name + MANIFEST_SUFFIX)


def write_manifest(output: str | Path, manifest: dict[str, Any]) -> Path | None:
    """Write the manifest beside a file output (nothing for stdout, devices or pipes)."""
    if is_stream(output):
        return None
    path = manifest_path(output)
    atomic_write_text(path, json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def read_manifest(output: str | Path) -> dict[str, Any] | None:
    path = manifest_path(output)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(str(path), f"unreadable manifest: {e}") from None


@dataclass
class Manifest:
    """Collects what a stage did; `finish()` returns the dict written beside the output."""

    stage: str
    config: dict[str, Any]
    inputs: list[InputInfo] = field(default_factory=list)
    model: dict[str, Any] | None = None
    started_at: str = field(default_factory=now)

    def finish(self, stats: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "r1cli_version": __version__,
            "config": self.config,
            "inputs": [i.as_dict() for i in self.inputs],
            "model": self.model,
            "started_at": self.started_at,
            "finished_at": now(),
            "stats": stats,
            **extra,
        }


class JsonlOutput:
    """A JSONL output that is either complete under its final name or not there at all.

    Use as a context manager. `header` (a JSON-able dict of the settings that decide the
    output) makes the output resumable: records already in a matching `OUT.partial` are
    available as `resumed`; a partial made with other settings is refused unless `force`.
    Without `header` a leftover partial is simply overwritten.
    """

    def __init__(self, path: str | Path, *, force: bool = False, header: dict[str, Any] | None = None):
        self.path = str(path)
        self.to_stdout = is_stream(self.path)  # stdout, or a device or pipe written in place
        self.force = force
        self.header = header
        self.resumed: list[dict[str, Any]] = []
        self.rows = 0
        self._file: IO[str] | None = None
        self._committed = False
        self._made: list[Path] = []  # folders this output created (removed again if it leaves nothing)

    # -- paths -------------------------------------------------------------------------------
    @property
    def final(self) -> Path:
        return Path(self.path)

    @property
    def partial(self) -> Path:
        return self.final.with_name(self.final.name + PARTIAL_SUFFIX)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> JsonlOutput:
        if self.to_stdout:
            self._file = open_stream(self.path)
            return self
        check_output_free(self.final, self.force)
        try:
            self._made = make_parents(self.final)
            handle = self.partial.open("a+", encoding="utf-8")
        except OSError as e:
            self._remove_made()
            raise _write_error(self.partial, e) from e
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            self._remove_made()
            raise RunError(
                f"{self.final}: another r1cli run is writing this output right now (lock on {self.partial.name}); "
                "wait for it to finish or choose another output"
            ) from None
        self._file = handle
        try:
            self._load_or_reset()
        except DataError:
            # A partial of another run's settings: keep it, the message says what to do.
            with contextlib.suppress(OSError):
                handle.close()
            raise
        except BaseException as e:
            self.__exit__(type(e), e, e.__traceback__)
            raise
        return self

    def _load_or_reset(self) -> None:
        assert self._file is not None
        self._file.seek(0)
        has_content = bool(self._file.read(1))
        if self.header is not None and has_content and not self.force:
            loaded = read_jsonl(self.partial, trim_torn_tail=True, allow_empty=True)
            stored = loaded.records[0].get(_HEADER_KEY) if loaded.records else None
            if stored is None:
                raise DataError(str(self.partial), "not an r1cli partial output; delete it or pass --force")
            diff = _describe_diff(stored, self.header)
            if diff:
                raise DataError(
                    str(self.partial),
                    f"an unfinished run with different settings ({diff}); rerun with the same settings to resume it, or pass --force to start over",
                )
            self.resumed = loaded.records[1:]
            # Rewrite so that a torn tail is gone before we append after it.
            self._rewrite([{_HEADER_KEY: self.header}, *self.resumed])
            return
        self._rewrite([{_HEADER_KEY: self.header}] if self.header is not None else [])

    def retain(self, keep) -> None:
        """Keep only the resumed records for which `keep(record)` is true (e.g. whole groups)."""
        self.resumed = [r for r in self.resumed if keep(r)]
        self._rewrite([{_HEADER_KEY: self.header}, *self.resumed])

    def _rewrite(self, records: list[dict[str, Any]]) -> None:
        """Make the partial hold exactly `records`. When they are already its beginning (a
        resume that drops a torn tail or an unfinished last group), only the rest is cut off:
        that needs no disk space, so resuming on a full disk cannot lose finished work."""
        assert self._file is not None
        text = "".join(dumps(r) for r in records)
        data = text.encode("utf-8")
        fd = self._file.fileno()
        self._guarded(self._file.flush)
        kept = 0
        if stat.S_ISREG(os.fstat(fd).st_mode):  # not e.g. /dev/full, which cannot be truncated
            kept = len(data) if os.pread(fd, len(data), 0) == data else 0
            self._guarded(lambda: os.ftruncate(fd, kept))
        self._file.seek(0, os.SEEK_END)
        if not kept:
            self._guarded(lambda: self._file.write(text))
        self._sync()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.to_stdout:
            # Every write was flushed already; a failure here was reported (or is a reader gone).
            with contextlib.suppress(OSError):
                if self._file is sys.stdout:
                    sys.stdout.flush()
                elif self._file is not None:
                    self._file.close()
            return
        assert self._file is not None
        # Closing flushes: on a full disk that fails again, after the error already reported.
        with contextlib.suppress(OSError):
            self._file.close()
        if not self._committed and (self.header is None or (exc_type is not None and not self.resumed and not self.rows)):
            # Nothing worth resuming (not resumable, or failed before writing a record, e.g. the
            # model did not load): do not leave a half-written file around.
            with contextlib.suppress(OSError):
                self.partial.unlink()
            if exc_type is not None:
                self._remove_made()

    def _remove_made(self) -> None:
        """Remove the folders this output created, where they are still empty."""
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._made = []

    # -- writing -----------------------------------------------------------------------------
    def write(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records and make them durable (a resumable stage calls this once per unit of work)."""
        assert self._file is not None, "use JsonlOutput as a context manager"
        text = "".join(dumps(r) for r in records)
        self._guarded(lambda: self._file.write(text))
        self.rows += text.count("\n") if text else 0
        self._sync()

    def _sync(self) -> None:
        assert self._file is not None
        self._guarded(self._file.flush)
        if self.to_stdout:
            return
        self._guarded(lambda: _fsync(self._file.fileno()))

    def _guarded(self, action) -> None:
        try:
            action()
        except BrokenPipeError:
            raise  # the reader went away (`| head`): the CLI ends quietly
        except OSError as e:
            if self.to_stdout:
                raise stream_error(self.path, e) from e
            raise _write_error(self.final, e) from e

    def commit(self, manifest: dict[str, Any] | None, order: list[dict[str, Any]] | None = None) -> None:
        """Publish the output under its final name, then the manifest beside it.

        `order`, when given, is the complete record list in the order the final file should
        have (a resumable stage writes in completion order and sorts at the end).
        """
        if self.to_stdout:
            self._committed = True
            return
        assert self._file is not None
        if order is None and self.header is None:
            final_text_source: Path | None = self.partial
        else:
            final_text_source = None
        tmp = self.final.with_name(f".{self.final.name}.tmp-{os.getpid()}")
        try:
            if final_text_source is not None:
                os.replace(final_text_source, tmp)
            else:
                records = order if order is not None else self.resumed_and_written()
                with tmp.open("w", encoding="utf-8") as f:
                    for r in records:
                        f.write(dumps(r))
                    f.flush()
                    os.fsync(f.fileno())
            if manifest is not None:
                manifest = {**manifest, "output": {"path": str(self.final), "rows": _count_lines(tmp), "sha256": sha256_file(tmp)}}
                write_manifest(self.final, manifest)
            os.replace(tmp, self.final)
        except BaseException as e:
            # Whatever stopped it (ENOSPC while writing the manifest arrives as a RunError, an
            # interrupt as KeyboardInterrupt), the temporary file goes.
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(e, OSError):
                raise _write_error(self.final, e) from e
            raise
        _fsync_dir(self.final.parent)
        with contextlib.suppress(OSError):
            self.partial.unlink()
        self._committed = True

    def resumed_and_written(self) -> list[dict[str, Any]]:
        """Every record in the partial file, in file order (header excluded)."""
        loaded = read_jsonl(self.partial, allow_empty=True)
        return [r for r in loaded.records if _HEADER_KEY not in r]


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _describe_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(parts[:4]) + (" ..." if len(parts) > 4 else "")
