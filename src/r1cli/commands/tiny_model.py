"""`r1cli tiny-model`: build a small random-weight Qwen2 model and tokenizer offline.

    r1cli tiny-model models/tiny
    r1cli tiny-model models/tiny-base --no-chat-template --seed 1
    r1cli tiny-model models/tiny && r1cli prepare arithmetic -n 4 -o - | r1cli sample - -m models/tiny -o -
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from r1cli.artifacts import Manifest, write_manifest
from r1cli.console import info
from r1cli.errors import DataError


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


def check_folder_free(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(str(out), "exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise DataError(str(out), "folder exists and is not empty; pass --force to replace it")
    if not out.parent.exists():
        raise DataError(str(out), f"folder {out.parent} does not exist")


def run(out_dir: str, *, force: bool = False, **spec_values: Any) -> dict[str, Any]:
    from r1cli.tiny import TinySpec, build

    out = Path(out_dir)
    check_folder_free(out, force)
    spec = TinySpec(**{k: v for k, v in spec_values.items() if v is not None})
    manifest = Manifest("tiny-model", spec.__dict__)
    build_dir = out.with_name(f".{out.name}.partial")
    shutil.rmtree(build_dir, ignore_errors=True)
    summary = build(build_dir, spec)
    write_manifest(build_dir, manifest.finish(summary))
    publish_folder(build_dir, out, force)
    info(f"tiny-model: {summary['parameters']:,} parameters, vocabulary {summary['vocab_size']} -> {out}")
    return summary
