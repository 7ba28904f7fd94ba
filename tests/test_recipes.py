"""The shipped recipes: every YAML loads into its stage's config, and every recipe's smoke target
runs its whole pipeline on CPU with tiny models.

    pytest tests/test_recipes.py -m 'not e2e'      # the YAML checks only (seconds, no training)
    R1CLI_SMOKE_JOBS=1 pytest tests/test_recipes.py  # smoke targets one at a time

A recipe is a folder under recipes/ with a Makefile (recipes/accelerate holds launcher configs,
not stage configs). Each YAML's first line is the exact command that uses it, `# r1cli STAGE
... -c NAME.yaml ...`: the stage picks the config class, and the command's model flags fill the
fields the YAML leaves to the command line, so `validate()` runs as it would for real. Reward
specs are resolved (names, parameters, the recipe's own reward modules) and `trl:` keys are
checked against TRL's config class, then the TRL config is built, so a setting TRL rejects
fails here instead of on a GPU host.

The smoke targets run as users run them (`make -C recipes/NAME smoke OUT=... R1CLI=...`), two
at a time by default (R1CLI_SMOKE_JOBS), sharing one tiny model; each must produce its final
artifacts, and running it again must find nothing to do (the Makefile's file targets are
complete and incremental).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, read_jsonl

RECIPES = REPO / "recipes"
LAUNCHER_CONFIGS = RECIPES / "accelerate"


def _recipes() -> list[Path]:
    return sorted(p.parent for p in RECIPES.glob("*/Makefile"))


def _yamls() -> list[Path]:
    return sorted(p for p in RECIPES.rglob("*.yaml") if LAUNCHER_CONFIGS not in p.parents)


def _makefile_text(makefile: Path) -> str:
    """A recipe's Makefile with the shared files it includes (../common.mk, ../sampled.mk)."""
    text = makefile.read_text(encoding="utf-8")
    for name in re.findall(r"^include\s+(\S+)", text, re.M):
        text += (makefile.parent / name).read_text(encoding="utf-8")
    return text


def _smoke_recipes() -> list[str]:
    """Recipes with a smoke run: their Makefile sets the smoke budget (`SMOKE = ...`) for the
    `smoke` target every recipe gets from recipes/common.mk."""
    return [r.name for r in _recipes() if re.search(r"^SMOKE\s*=", (r / "Makefile").read_text(encoding="utf-8"), re.M)]


# -- every shipped YAML loads into its stage's config -------------------------------------------

def _command(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    first = lines[0] if lines else ""
    assert first.startswith("# r1cli "), f"{path}: the first line must be a comment with the exact command ('# r1cli STAGE ...'), got {first!r}"
    return shlex.split(first[2:])


def _option(argv: list[str], *names: str) -> list[str]:
    """Every value given to any of `names` in argv (`-m X`, `--model X`, `--model=X`)."""
    values = []
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                values.append(argv[i + 1])
            elif arg.startswith(name + "="):
                values.append(arg.split("=", 1)[1])
    return values


def _check_rewards(specs: Any, where: Path) -> list[Any]:
    """The config's rewards (RewardSpecs once validated) resolve: names, parameters, dotted paths."""
    import r1cli.tasks  # noqa: F401  (the task-routed `accuracy`)
    from r1cli import rewards as registry

    return registry.resolve(specs)


def _check_trl(cfg: Any, config_class: type, tmp_path: Path, **stage_args: Any) -> None:
    """The keys r1cli passes through exist in TRL's config class, and TRL accepts the values."""
    from r1cli import trl_compat

    valid = set(trl_compat.config_fields(config_class))
    unknown = sorted(set(cfg.trl) - valid)
    assert not unknown, f"trl keys unknown to {config_class.__name__}: {unknown}"
    cfg.trl_config(config_class, tmp_path / "trl", "cpu", **stage_args)


def _load(path: Path, tmp_path: Path) -> Any:
    """Build the stage config `path` is for, as the command in its first line would."""
    from r1cli import trl_compat
    from r1cli.config import load_yaml

    argv = _command(path)
    stage = argv[1]
    assert _option(argv, "-c", "--config") == [path.name], f"{path}: the command must use -c {path.name}"
    load_yaml(path)  # parses, or the test fails naming the file
    model = (_option(argv, "-m", "--model") or ["model"])[0]
    if stage == "prepare":
        from r1cli.tasks import PromptSource

        return PromptSource.build(path, task=argv[2])
    if stage == "sample":
        from r1cli.commands.sample import SampleConfig

        return SampleConfig.build(path, model=model)
    if stage == "reward":
        from r1cli.commands.reward import RewardConfig

        cfg = RewardConfig.build(path)
        assert cfg.rewards is not None, f"{path}: a reward config without `rewards:` scores nothing"
        _check_rewards(cfg.rewards, path)
        return cfg
    if stage == "reject":
        from r1cli.commands.reject import RejectConfig

        return RejectConfig.build(path)
    if stage == "grpo":
        from r1cli.commands.grpo import GrpoConfig
        from r1cli.tasks import PromptSource

        cfg = GrpoConfig.build(path, model=model)
        rewards = _check_rewards(cfg.rewards, path) if cfg.rewards is not None else []
        if cfg.prompts:
            PromptSource.build(None, **cfg.prompts)
        _check_trl(cfg, trl_compat.grpo_classes()[0], tmp_path, reward_weights=[r.spec.weight for r in rewards] or None,
                   **cfg.grpo_args())
        return cfg
    if stage == "sft":
        from r1cli.commands.sft import SftConfig

        cfg = SftConfig.build(path, model=model)
        _check_trl(cfg, trl_compat.sft_classes()[0], tmp_path, max_length=cfg.max_length, packing=cfg.packing,
                   completion_only_loss=True, eval_strategy="no")
        return cfg
    if stage == "distill":
        from r1cli.commands.distill import DistillConfig
        from r1cli.commands.reject import RejectConfig

        cfg = DistillConfig.build(path, teacher=(_option(argv, "--teacher") or ["teacher"])[0],
                                  model=(_option(argv, "--student") or ["student"])[0])
        RejectConfig.build(None, **cfg.reject)
        if cfg.rewards is not None:
            _check_rewards(cfg.rewards, path)
        if cfg.mode == "sequence":
            _check_trl(cfg, trl_compat.sft_classes()[0], tmp_path, max_length=cfg.max_length)
        else:
            config_class = trl_compat.distill_classes(cfg.on_policy)[0]
            unknown = sorted(set(cfg.trl) - set(trl_compat.config_fields(config_class)))
            assert not unknown, f"trl keys unknown to {config_class.__name__}: {unknown}"
        return cfg
    if stage == "eval":
        from r1cli import rewards as registry
        from r1cli.commands.eval import EvalConfig

        cfg = EvalConfig.build(path, models=_option(argv, "-m", "--model") or None)
        if cfg.best_of not in (None, "reward"):
            registry.lookup(cfg.best_of)
        return cfg
    raise AssertionError(f"{path}: '{stage}' is not a stage with a config file")


def test_recipes_ship_configs():
    assert _yamls(), "no recipe YAML found under recipes/"
    assert _smoke_recipes(), "no recipe with a smoke target found under recipes/"


@pytest.mark.parametrize("path", _yamls(), ids=lambda p: str(p.relative_to(RECIPES)))
def test_yaml_loads_into_its_stage_config(path, tmp_path, monkeypatch):
    # A recipe's own reward functions (dotted paths) live beside its YAML files.
    monkeypatch.syspath_prepend(str(path.parent))
    _load(path, tmp_path)
    makefile = path.parent / "Makefile"
    if makefile.exists():
        assert f"-c {path.name}" in _makefile_text(makefile), f"{path}: not used by {makefile}"


def _planned_commands(recipe: Path) -> list[str]:
    """The commands `make` would run for the real pipeline with the defaults, normalised: no
    `--force`/`--resume` (they depend on what exists), no environment assignments in front."""
    # A recipe may require a variable without a default (r1's GENERAL): give it a placeholder.
    proc = subprocess.run(["make", "--no-print-directory", "-n", "-C", str(recipe), "GENERAL=general.jsonl", "-W", "general.jsonl"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    commands = []
    for line in proc.stdout.splitlines():
        words = [w for w in shlex.split(line, posix=True) if w not in ("--force", "--resume")] if line.strip() else []
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)
        commands.append(" ".join(words))
    return commands


@pytest.mark.parametrize("recipe", _recipes(), ids=lambda p: p.name)
def test_yaml_first_line_is_the_makefile_command(recipe):
    """The command a YAML file names is one its Makefile runs with the default variables: the
    same stage, config file and output, and nothing the Makefile does not pass."""
    if shutil.which("make") is None:
        pytest.skip("needs GNU make")
    def key(argv: list[str]) -> tuple[Any, ...]:
        return argv[:2], _option(argv, "-c", "--config"), _option(argv, "-o", "--output")

    planned = [c.split() for c in _planned_commands(recipe)]
    for path in sorted(recipe.glob("*.yaml")):
        argv = _command(path)
        same = [c for c in planned if key(c) == key(argv)]
        assert same, f"{path.name}: no `{' '.join(argv[:2])} ... -c {path.name}` writing {key(argv)[2]} among the commands " + \
            "`make -n` plans:\n" + "\n".join(map(" ".join, planned))
        assert any(set(argv) <= set(c) for c in same), f"{path.name}: '{' '.join(argv)}' differs from the Makefile's: " + \
            "; ".join(map(" ".join, same))


def test_yaml_check_catches_a_bad_key(tmp_path):
    from r1cli.config import ConfigError

    bad = tmp_path / "grpo.yaml"
    bad.write_text("# r1cli grpo p.jsonl -m M -c grpo.yaml -o out\nnum_generation: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did you mean 'num_generations'"):
        _load(bad, tmp_path)
    bad.write_text("num_generations: 8\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="first line"):
        _load(bad, tmp_path)


# -- every recipe's smoke target runs on CPU ----------------------------------------------------

# Final artifacts of each recipe's pipeline, relative to OUT, and how many runs its eval compares.
FINAL: dict[str, tuple[list[str], int]] = {
    "r1-zero": (["prompts.jsonl", "test_prompts.jsonl", "grpo/manifest.json", "grpo/adapter_model.safetensors", "eval.json"], 2),
    "tinyzero": (["prompts.jsonl", "test_prompts.jsonl", "grpo/manifest.json", "grpo/adapter_model.safetensors", "eval.json"], 2),
    "sky-t1": (["samples.jsonl", "scored.jsonl", "sft_data.jsonl", "student/manifest.json", "eval.json"], 2),
    "journey": (["scored.jsonl", "journey.jsonl", "shortcut.jsonl", "journey/manifest.json", "shortcut/manifest.json", "eval.json"], 3),
    "distill": (["sequence/sft_data.jsonl", "sequence/student/manifest.json", "sequence/manifest.json",
                 "token/student/manifest.json", "token/manifest.json", "eval.json"], 3),
    "r1": (["cold-start/manifest.json", "rl/manifest.json", "reasoning.jsonl", "sft/manifest.json", "all_prompts.jsonl",
            "r1/manifest.json", "eval.json"], 5),
}
# Longest first, so the parallel runs finish together.
EXPECTED_SECONDS = {"r1": 50, "journey": 35, "sky-t1": 30, "distill": 30, "tinyzero": 15, "r1-zero": 12}
JOBS = max(1, int(os.environ.get("R1CLI_SMOKE_JOBS", "2")))
SMOKE = _smoke_recipes()


@dataclass
class SmokeRun:
    recipe: str
    out: Path
    args: list[str]
    code: int
    output: str
    seconds: float

    def __repr__(self) -> str:
        return f"SmokeRun({self.recipe}, code={self.code}, {self.seconds:.0f}s, output tail:\n{self.output[-4000:]})"


def _make_args(recipe: str, out: Path, tiny: Path) -> list[str]:
    r1cli = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "r1cli"))
    args = ["make", "--no-print-directory", "-C", str(RECIPES / recipe), "smoke", f"OUT={out}", f"R1CLI={r1cli}",
            f"PYTHON={sys.executable}"]
    if "TINY" in (RECIPES / recipe / "Makefile").read_text(encoding="utf-8"):
        args.append(f"TINY={tiny}")  # the session's tiny model: built once, not once per recipe
    return args


def _run(recipe: str, out: Path, tiny: Path) -> SmokeRun:
    args = _make_args(recipe, out, tiny)
    t0 = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return SmokeRun(recipe, out, args, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0)


@pytest.fixture(scope="module")
def smoke_runs(request, tmp_path_factory, tiny_model):
    """Start the selected recipes' smoke targets, JOBS at a time; each test waits for its own."""
    if shutil.which("make") is None:
        pytest.skip("needs GNU make")
    selected = {item.callspec.params["recipe"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_smoke" and hasattr(item, "callspec")}
    root = tmp_path_factory.mktemp("recipes")
    pool = ThreadPoolExecutor(max_workers=JOBS)
    order = sorted(selected, key=lambda name: -EXPECTED_SECONDS.get(name, 30))
    futures: dict[str, Future[SmokeRun]] = {name: pool.submit(_run, name, root / name, tiny_model) for name in order}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.e2e
@pytest.mark.parametrize("recipe", SMOKE)
def test_smoke(recipe, smoke_runs):
    run = smoke_runs[recipe].result()
    assert run.code == 0, run
    print(f"{recipe}: smoke run {run.seconds:.1f}s")
    artifacts, runs = FINAL.get(recipe, ([], 0))
    for name in artifacts:
        assert (run.out / name).exists(), f"{recipe}: {name} missing after the smoke run\n{run!r}"
    if runs:
        evaluated = json.loads((run.out / "eval.json").read_text(encoding="utf-8"))["runs"]
        assert len(evaluated) == runs, evaluated
    # Everything is a complete, up-to-date file target: the same command again does nothing.
    again = subprocess.run([*run.args, "--dry-run"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done for 'all'" in again.stdout, again.stdout


@pytest.mark.e2e
def test_smoke_r1_judges_each_prompt_by_its_own_rewards(smoke_runs):
    """Stage 4: general prompts got reward-model scores, reasoning prompts rule scores, each null for the other."""
    if "r1" not in smoke_runs:
        pytest.skip("the r1 smoke run is not selected")
    run = smoke_runs["r1"].result()
    assert run.code == 0, run
    rows = read_jsonl(run.out / "r1" / "metrics.jsonl")
    scored = {name for row in rows for name in ("helpfulness", "harmlessness", "accuracy")
              if row.get(f"rewards/{name}/mean") is not None}
    assert scored == {"helpfulness", "harmlessness", "accuracy"}, rows
    general = read_jsonl(run.out / "general_prompts.jsonl")
    assert general and all(r["task"] == "general" and r["prompt"][-1]["role"] == "user" for r in general)


@pytest.mark.e2e
def test_smoke_rejection_outputs_have_their_shape(smoke_runs):
    """The rejection-sampled data the students learn: readable targets, and journeys with a correction."""
    checked = 0
    for recipe, name in (("sky-t1", "sft_data.jsonl"), ("journey", "shortcut.jsonl"), ("r1", "reasoning.jsonl")):
        if recipe in smoke_runs:
            run = smoke_runs[recipe].result()
            assert run.code == 0, run
            rows = read_jsonl(run.out / name)
            assert rows and all(r["rewards"]["accuracy"] == 1.0 and "<answer>" in r["sft_target"] for r in rows), recipe
            checked += 1
    if "journey" in smoke_runs:
        run = smoke_runs["journey"].result()
        assert run.code == 0, run
        rows = read_jsonl(run.out / "journey.jsonl")
        assert rows and all("journey" in r and "does not check out" in r["sft_target"] for r in rows)
        checked += 1
    if not checked:
        pytest.skip("no recipe with rejection sampling is selected")
