"""`r1cli tiny-model`: build a small random-weight Qwen2 model and tokenizer offline.

    r1cli tiny-model models/tiny
    r1cli tiny-model models/tiny-base --no-chat-template --seed 1
    r1cli tiny-model models/tiny && r1cli prepare arithmetic -n 4 -o - | r1cli sample - -m models/tiny -o -
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from r1cli.artifacts import Manifest, check_output_folder, publish_folder, write_manifest
from r1cli.console import info


def run(out_dir: str, *, force: bool = False, **spec_values: Any) -> dict[str, Any]:
    from r1cli.tiny import TinySpec, build

    out = Path(out_dir)
    check_output_folder(out, force=force, stage="tiny-model")
    spec = TinySpec(**{k: v for k, v in spec_values.items() if v is not None})
    manifest = Manifest("tiny-model", spec.__dict__)
    out.parent.mkdir(parents=True, exist_ok=True)
    build_dir = out.with_name(f".{out.name}.partial")
    shutil.rmtree(build_dir, ignore_errors=True)
    summary = build(build_dir, spec)
    write_manifest(build_dir, manifest.finish(summary))
    publish_folder(build_dir, out, force)
    info(f"tiny-model: {summary['parameters']:,} parameters, vocabulary {summary['vocab_size']} -> {out}")
    return summary
