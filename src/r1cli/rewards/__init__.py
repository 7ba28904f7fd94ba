"""Reward functions: one registry, used by `reward`, `eval` and `grpo` alike.

A reward function has TRL's signature: it takes `completions` (strings, or lists of chat
messages) plus the dataset columns as keyword arguments, and returns one float or None per
completion. None means "could not be judged" (an unparseable gold answer, a sandbox failure):
GRPO leaves it out and the weighted total skips it. The same function object is handed to
TRL's `GRPOTrainer` and called by the offline stages, so online and offline scores agree.

Parameters of a reward are its keyword-only arguments with defaults (after `*`); a spec sets
them. Users add their own rewards by dotted path, `package.module:function`.

Spec syntax (the same in every command)
    --reward NAME[=WEIGHT[,PARAM=VALUE...]]   e.g. --reward accuracy --reward format=0.2
                                              --reward overlong=0.5,max_length=512,cache=128
    YAML:  rewards: {accuracy: 1.0, format: 0.2, overlong: {weight: 0.5, max_length: 512}}
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from r1cli.errors import R1Error

RewardFn = Callable[..., list[float | None]]

_REGISTRY: dict[str, RewardFn] = {}
_LOADED = False


_TRL_ARGS = ("completions", "prompts", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments")


def register(name: str, *, needs: tuple[str, ...] = ()) -> Callable[[RewardFn], RewardFn]:
    """Register a reward function under `name`.

    Its keyword-only arguments with defaults are its parameters; `needs` names the dataset
    columns every record must have (checked before any scoring or training starts).
    """

    def wrap(fn: RewardFn) -> RewardFn:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"reward {name!r} registered twice")
        fn.r1cli_needs = tuple(needs)  # type: ignore[attr-defined]
        _REGISTRY[name] = fn
        return fn

    return wrap


def needs(fn: RewardFn) -> tuple[str, ...]:
    """Columns a reward requires: declared at registration, or, for a user's function, its
    named arguments that have no default (TRL's own arguments aside)."""
    declared = getattr(fn, "r1cli_needs", None)
    if declared is not None:
        return declared
    return tuple(
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.default is inspect.Parameter.empty and p.name not in _TRL_ARGS
    )


def _load_builtins() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        # Importing a module registers its rewards.
        from r1cli.rewards import accuracy, code, countdown, fmt, language, length  # noqa: F401


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def parameters(fn: RewardFn) -> dict[str, Any]:
    """A reward's parameters: keyword-only arguments with their defaults."""
    return {
        p.name: p.default
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
    }


def describe(name: str) -> str:
    """First line of a reward's docstring, for `r1cli reward --list`."""
    fn = lookup(name)
    doc = inspect.getdoc(fn) or ""
    return doc.splitlines()[0] if doc else ""


def lookup(name: str) -> RewardFn:
    """A registered reward by name, or a user's function by `package.module:function`."""
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise R1Error(f"reward {name!r}: cannot import module {module_name!r} ({e}); is it on PYTHONPATH?") from None
        fn = getattr(module, attr, None)
        if not callable(fn):
            raise R1Error(f"reward {name!r}: module {module_name!r} has no function {attr!r}")
        return fn
    raise R1Error(f"unknown reward {name!r}; known rewards: {', '.join(names())} (or a dotted path package.module:function)")


@dataclass
class RewardSpec:
    """One reward in a weighted mix: `name`, `weight` and parameter overrides."""

    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, **({"params": self.params} if self.params else {})}


class Reward:
    """A resolved reward: the function with its parameters bound, named for TRL's logs."""

    def __init__(self, spec: RewardSpec):
        self.spec = spec
        self.fn = lookup(spec.name)
        allowed = parameters(self.fn)
        unknown = sorted(set(spec.params) - set(allowed))
        if unknown:
            valid = ", ".join(allowed) or "none"
            raise R1Error(f"reward {spec.name!r}: unknown parameter(s) {', '.join(unknown)}; valid parameters: {valid}")
        self.__name__ = spec.name  # TRL names a reward's metrics after `__name__`

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        scores = self.fn(completions, **kwargs, **self.spec.params)
        if len(scores) != len(completions):
            raise R1Error(f"reward {self.spec.name!r} returned {len(scores)} scores for {len(completions)} completions")
        return [_clean(s, self.spec.name) for s in scores]

    def __repr__(self) -> str:
        return f"Reward({self.spec.as_dict()})"


def _clean(score: Any, name: str) -> float | None:
    if score is None:
        return None
    value = float(score)
    if not math.isfinite(value):
        raise R1Error(f"reward {name!r} returned a non-finite score ({value}); rewards must be finite numbers or None")
    return value


def parse_flag(text: str) -> RewardSpec:
    """`NAME[=WEIGHT[,PARAM=VALUE...]]` -> RewardSpec. Dotted paths contain ':' so the weight
    uses '='; parameter values are read as YAML scalars (numbers, true/false, strings).

    >>> parse_flag("overlong=0.5,max_length=512").as_dict()
    {'name': 'overlong', 'weight': 0.5, 'params': {'max_length': 512}}
    """
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not name:
        raise R1Error(f"--reward {text!r}: expected NAME, NAME=WEIGHT or NAME=WEIGHT,PARAM=VALUE")
    weight = 1.0
    params: dict[str, Any] = {}
    if sep:
        weight_text, *pairs = rest.split(",")
        try:
            weight = float(weight_text)
        except ValueError:
            raise R1Error(f"--reward {text!r}: weight {weight_text!r} is not a number") from None
        if not math.isfinite(weight):
            raise R1Error(f"--reward {text!r}: weight must be finite")
        from r1cli.config import parse_pairs

        params = parse_pairs(pairs, f"--reward {text!r}: after the weight,")
    return RewardSpec(name, weight, params)


def parse_config(value: Any, where: str = "config") -> list[RewardSpec]:
    """The YAML form: a mapping `{name: weight | {weight, **params}}` or a list of flag strings."""
    if isinstance(value, Mapping):
        specs = []
        for name, item in value.items():
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                specs.append(RewardSpec(str(name), float(item)))
            elif isinstance(item, Mapping):
                params = dict(item)
                weight = params.pop("weight", 1.0)
                if not isinstance(weight, (int, float)) or isinstance(weight, bool):
                    raise R1Error(f"{where}: rewards.{name}.weight must be a number, got {weight!r}")
                specs.append(RewardSpec(str(name), float(weight), params))
            elif item is None:
                specs.append(RewardSpec(str(name)))
            else:
                raise R1Error(f"{where}: rewards.{name} must be a weight or a mapping with 'weight' and parameters, got {item!r}")
        return specs
    if isinstance(value, (list, tuple)):
        return [parse_flag(str(v)) for v in value]
    raise R1Error(f"{where}: 'rewards' must be a mapping of name to weight, got {type(value).__name__}")


# A config's `rewards` field as given (a YAML mapping, or NAME=WEIGHT strings from YAML or
# --reward flags), which `validate()` turns into the list of RewardSpec it holds afterwards.
RewardsSetting = list[RewardSpec] | list[str] | dict[str, Any] | None
REWARDS_HELP = ("NAME[=WEIGHT[,PARAM=VALUE...]], repeatable; NAME may be package.module:function. Default: the task's rewards. "
                "In a config file: rewards: {accuracy: 1.0, format: {weight: 0.2, summary: true}}.")


def rewards_option(help: str = REWARDS_HELP) -> Any:
    """The `rewards` field of a config that scores (reward, grpo, distill): a command-line option
    `-r/--reward`, repeatable; RewardSpecs once the config is validated (`as_specs`)."""
    from r1cli.config import option

    return option(None, help=help, flags=("--reward", "-r"), cli_type=list[str], show="")


def as_specs(value: RewardsSetting, where: str = "config") -> list[RewardSpec] | None:
    """A `rewards` setting as RewardSpecs (None stays None: the task's rewards, decided later)."""
    if value is None or (isinstance(value, list) and all(isinstance(v, RewardSpec) for v in value) and value):
        return value  # type: ignore[return-value]
    return parse_config(value, where)


def prepare(chosen: Iterable[RewardSpec], records: Sequence[Mapping[str, Any]], where: Callable[[int], str]) -> list[Reward]:
    """The rewards a stage scores with: resolved, and every column they need checked in every
    record before any scoring or training starts."""
    resolved = resolve(chosen)
    for rw in resolved:
        for column in needs(rw.fn):
            for i, record in enumerate(records):
                if column not in record:
                    raise R1Error(f"{where(i)}: field '{column}' missing; reward '{rw.spec.name}' needs it")
    return resolved


def manifest_details(resolved: Sequence[Reward]) -> dict[str, Any]:
    """Facts a reader of a manifest needs about how scores were obtained (e.g. the sandbox)."""
    out: dict[str, Any] = {}
    for rw in resolved:
        describe = getattr(rw.fn, "manifest_info", None)
        if callable(describe):
            out.setdefault("reward_details", {})[rw.spec.name] = describe(**rw.spec.params)
    return out


def resolve(specs: Iterable[RewardSpec]) -> list[Reward]:
    rewards = [Reward(s) for s in specs]
    seen: set[str] = set()
    for r in rewards:
        if r.spec.name in seen:
            raise R1Error(f"reward {r.spec.name!r} given twice; give each reward once with its weight")
        seen.add(r.spec.name)
    if not rewards:
        raise R1Error("no rewards given; use --reward NAME[=WEIGHT] (see `r1cli reward --list`)")
    return rewards


def weighted_total(scores: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """Weighted sum of the scores that are not None; None when every score is None."""
    present = [(s, w) for s, w in zip(scores, weights) if s is not None]
    if not present:
        return None
    return math.fsum(s * w for s, w in present)


def score(rewards: Sequence[Reward], records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Score sample records offline exactly as TRL would online.

    Each reward gets the completions plus every other column as a keyword argument, and the
    `log_extra(column, values)` callback TRL offers (a reward reports per-completion details
    through it, e.g. the code reward's run status). Returns, per record, `rewards` and
    `reward`, plus `reward_info` when a reward logged extra columns.
    """
    if not records:
        return []
    columns = {k: [r.get(k) for r in records] for k in _columns(records) if k not in ("completion", "prompt")}
    completions = [r["completion"] for r in records]
    prompts = [r.get("prompt") for r in records]
    extras: dict[str, list[Any]] = {}

    def log_extra(column: str, values: list[Any]) -> None:
        extras.setdefault(column, []).extend(values)

    def log_metric(name: str, value: float) -> None:  # TRL aggregates these per step; offline they are dropped
        pass

    per_reward = [rw(completions, prompts=prompts, log_extra=log_extra, log_metric=log_metric, **columns) for rw in rewards]
    weights = [rw.spec.weight for rw in rewards]
    out = []
    for i in range(len(records)):
        scores = [col[i] for col in per_reward]
        row: dict[str, Any] = {"rewards": {rw.spec.name: s for rw, s in zip(rewards, scores)}, "reward": weighted_total(scores, weights)}
        info = {k: v[i] for k, v in extras.items() if len(v) == len(records)}
        if info:
            row["reward_info"] = info
        out.append(row)
    return out


def _columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r))
    return list(keys)
