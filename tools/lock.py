"""The dependency lock: `constraints.txt` pins what `make setup` installs, and moving it is one
deliberate, tested step.

    python tools/lock.py requirements            # pyproject's dependencies with no upper bounds (what an upgrade tries)
    python tools/lock.py write .venv-lock        # that venv's versions -> constraints.txt, and pyproject's upper bounds
    make lock-upgrade                            # both, with the whole test suite run in between

`make setup` installs with `-c constraints.txt`, so a library released after the last landing
cannot change what the tests run against. torch is not in the lock: the Makefile picks its
build (the CPU wheel on machines without an NVIDIA GPU, a CUDA build on GPU hosts).
pyproject.toml keeps ranges for people who install r1cli into their own environments; each
upper bound is the newest version the suite has passed with.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / "constraints.txt"
# Extras that `make setup` installs, so they are locked too (the others are for GPU hosts or opt-in).
LOCKED_EXTRAS = ("dev", "deepspeed")
UNLOCKED = {"torch", "r1cli"}  # torch: chosen per machine by the Makefile; r1cli: this project


def _project() -> dict:
    import tomllib

    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def _requirements() -> list[Requirement]:
    project = _project()
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in LOCKED_EXTRAS:
        reqs += [Requirement(r) for r in project.get("optional-dependencies", {}).get(extra, [])]
    return reqs


def unbounded() -> list[str]:
    """Each dependency with its lower bound only, so pip takes the newest release."""
    out = []
    for req in _requirements():
        if canonicalize_name(req.name) in UNLOCKED:
            continue
        lower = ",".join(str(s) for s in req.specifier if s.operator in (">=", ">", "=="))
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        out.append(f"{req.name}{extras}{lower}")
    return out


def _installed(venv: Path) -> dict[str, str]:
    text = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
                          check=True, capture_output=True, text=True).stdout
    pins = {}
    for line in text.splitlines():
        name, _, version = line.partition("==")
        if version:
            pins[canonicalize_name(name)] = (name, version)
    return pins  # type: ignore[return-value]


def write(venv: Path) -> None:
    pins = _installed(venv)
    lines = [
        "# What `make setup` installs (pip install -c constraints.txt): the versions the whole test suite",
        "# last passed with. Written by `make lock-upgrade` (tools/lock.py); do not edit by hand.",
        f"# Python {'.'.join(map(str, sys.version_info[:3]))}; torch is not pinned here (the Makefile chooses its build).",
    ]
    for key in sorted(pins):
        if key in UNLOCKED:
            continue
        name, version = pins[key]
        lines.append(f"{name}=={version}")
    CONSTRAINTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _set_upper_bounds({k: v for k, (_, v) in pins.items()})
    print(f"wrote {CONSTRAINTS.name} ({len(lines) - 3} packages) and pyproject.toml's upper bounds", file=sys.stderr)


def _set_upper_bounds(versions: dict[str, str]) -> None:
    """Rewrite each direct dependency's upper bound in pyproject.toml to `<=` its locked version."""
    text = PYPROJECT.read_text(encoding="utf-8")

    def bound(match: re.Match[str]) -> str:
        req = Requirement(match.group(1))
        key = canonicalize_name(req.name)
        if key in UNLOCKED or key not in versions:
            return match.group(0)
        specs = [str(s) for s in req.specifier if s.operator not in ("<", "<=")] + [f"<={versions[key]}"]
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        return f'"{req.name}{extras}{",".join(sorted(specs, key=lambda s: s[0] != ">"))}"'

    # Only the quoted requirement strings inside the dependency lists.
    head, sep, rest = text.partition("dependencies = [")
    deps, sep2, tail = rest.partition("[project.scripts]")
    deps = re.sub(r'"([A-Za-z0-9_.\-\[\],]+(?:[<>=!~][^"]*)?)"', bound, deps)
    PYPROJECT.write_text(head + sep + deps + sep2 + tail, encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv[:1] == ["requirements"]:
        print("\n".join(unbounded()))
        return 0
    if len(argv) == 2 and argv[0] == "write":
        write(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
