"""Reward functions: one registry, used by `reward`, `eval` and `grpo` alike.

A reward function has TRL's signature: it takes `completions` (strings, or lists of chat
messages) plus the dataset columns as keyword arguments, and returns one float or None per
completion. None means "could not be judged" (an unparseable gold answer, a sandbox failure):
GRPO leaves it out and the weighted total skips it. The same function object is handed to
TRL's `GRPOTrainer` and called by the offline stages, so online and offline scores agree.

Parameters of a reward are its keyword-only arguments with defaults (after `*`); a spec sets
them. Users add their own rewards by dotted path, `package.module:function`, or by file,
`path/to/my_rewards.py:function` (loaded on its own; its folder is not put on sys.path).

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
        from r1cli.rewards import accuracy, code, countdown, fmt, language, length, reward_model  # noqa: F401


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
    """A registered reward by name, or a user's function: `package.module:function` (importable)
    or `path/to/file.py:function`."""
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        where, _, attr = name.rpartition(":")
        module = _load_file(name, where) if where.endswith(".py") else _import(name, where)
        fn = getattr(module, attr, None)
        if not callable(fn):
            raise R1Error(f"reward {name!r}: {where!r} has no function {attr!r}")
        return fn
    raise R1Error(f"unknown reward {name!r}; known rewards: {', '.join(names())} (or package.module:function, or file.py:function)")


def _import(name: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        raise R1Error(f"reward {name!r}: cannot import module {module_name!r} ({e}); is it on PYTHONPATH? "
                      "(or name the file: path/to/file.py:function)") from None


def _load_file(name: str, path: str) -> Any:
    """A reward module given by its file: loaded once under a name of its own, its folder not
    put on sys.path (so nothing else in it can shadow an installed package)."""
    import hashlib
    import importlib.util
    import sys
    from pathlib import Path

    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise R1Error(f"reward {name!r}: no such file {path}")
    module_name = f"r1cli_rewards_{file.stem}_{hashlib.sha256(str(file).encode()).hexdigest()[:8]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise R1Error(f"reward {name!r}: {path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before running it: dataclasses and pickling look it up
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[module_name]
        raise R1Error(f"reward {name!r}: {path} failed to load: {type(e).__name__}: {e}") from None
    return module


@dataclass
class RewardSpec:
    """One reward in a weighted mix: `name`, `weight` and parameter overrides. `function` names
    the registered reward when `name` is only this instance's label, so one function can serve
    twice with other parameters (`helpfulness: {reward: reward_model, on: summary}`)."""

    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    function: str | None = None

    def __post_init__(self) -> None:
        if self.function is None and "reward" in self.params:
            self.params = dict(self.params)
            self.function = str(self.params.pop("reward"))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, **({"reward": self.function} if self.function else {}),
                **({"params": self.params} if self.params else {})}


class Reward:
    """A resolved reward: the function with its parameters bound, named for TRL's logs.

    A completion is hostile input: whatever it makes the function do (raise, return NaN or a
    non-number) is that completion's score, null ("not judged"), never the run's end nor
    another completion's score. When a call for a batch raises, each completion is scored
    alone, so one bad completion costs only its own score. `failures` counts them; the first is
    reported once, as a warning. What no completion can cause stays an error: a function that
    cannot take the arguments every call passes, or returns the wrong number of scores."""

    def __init__(self, spec: RewardSpec):
        self.spec = spec
        self.fn = lookup(spec.function or spec.name)
        allowed = parameters(self.fn)
        unknown = sorted(set(spec.params) - set(allowed))
        if unknown:
            valid = ", ".join(allowed) or "none"
            raise R1Error(f"reward {spec.name!r}: unknown parameter(s) {', '.join(unknown)}; valid parameters: {valid}")
        for key, value in spec.params.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise R1Error(f"reward {spec.name!r}: parameter {key} must be a finite number, got {value}")
        check = getattr(self.fn, "check_params", None)
        if callable(check):  # settings a reward can judge alone (a model path), before any scoring or training
            check(**{**allowed, **spec.params})
        self.__name__ = spec.name  # TRL names a reward's metrics after `__name__`
        self.failures = 0  # completions scored null because the function failed on them
        self.last_errors: list[str | None] = []  # why, for each completion of the last call (None: scored)
        self._bound: frozenset[str] | None = None  # argument names already checked against the signature

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        n = len(completions)
        self._check_signature(completions, kwargs)
        scores, error, extra = self._attempt(completions, kwargs)
        errors: list[str | None] = [None] * n
        if error is not None:
            if n == 1:
                scores, errors = [None], [error]
            else:
                scores, errors, extra = self._one_by_one(completions, kwargs)
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            for column, values in extra.items():
                log_extra(column, values)
        cleaned = []
        for i, score in enumerate(scores):
            value, problem = _clean(score)
            errors[i] = errors[i] or problem
            cleaned.append(value)
        self.last_errors = errors
        failed = [e for e in errors if e]
        if failed:
            if not self.failures:
                from r1cli.console import warn

                warn(f"reward {self.spec.name!r}: {failed[0]}; a completion it fails on scores null (not judged), the others "
                     "keep their scores (counted in the manifest)")
            self.failures += len(failed)
        return cleaned

    def _check_signature(self, completions: Sequence[Any], kwargs: dict[str, Any]) -> None:
        names = frozenset(kwargs)
        if names == self._bound:
            return
        try:
            signature = inspect.signature(self.fn)
        except (TypeError, ValueError):  # a builtin or C function: nothing to check
            self._bound = names
            return
        try:
            signature.bind(completions, **kwargs, **self.spec.params)
        except TypeError as e:
            raise R1Error(f"reward {self.spec.name!r} cannot take the arguments every reward is given (completions, the "
                          f"records' fields, TRL's own): {e}; add **kwargs to its parameters") from None
        self._bound = names

    def _attempt(self, completions: Sequence[Any], kwargs: dict[str, Any]) -> tuple[list[Any], str | None, dict[str, list[Any]]]:
        """(scores, None, logged extras), or (None..., why it failed, {})."""
        extra: dict[str, list[Any]] = {}
        call = dict(kwargs)
        if callable(kwargs.get("log_extra")):
            # Held back until the call succeeds: a call that fails halfway must not leave half
            # a column, which would shift every later completion's details.
            call["log_extra"] = lambda column, values: extra.setdefault(column, []).extend(values)
        try:
            scores = self.fn(completions, **call, **self.spec.params)
        except (MemoryError, R1Error):
            raise  # out of memory is the machine's, an R1Error says what to fix: neither is a score
        except Exception as e:
            if type(e).__name__ == "OutOfMemoryError":  # torch's, on a GPU (a reward model's)
                raise
            return [None] * len(completions), f"{type(e).__name__}: {' '.join(str(e).split())[:200]}", {}
        try:
            count = len(scores)
        except TypeError:
            raise R1Error(f"reward {self.spec.name!r} returned {type(scores).__name__}, not a list of scores") from None
        if count != len(completions):
            raise R1Error(f"reward {self.spec.name!r} returned {count} scores for {len(completions)} completions")
        return list(scores), None, extra

    def _one_by_one(self, completions: Sequence[Any], kwargs: dict[str, Any]) -> tuple[list[Any], list[str | None], dict[str, list[Any]]]:
        """Score each completion alone (its own slice of every per-completion argument)."""
        n = len(completions)
        scores: list[Any] = []
        errors: list[str | None] = []
        extras: list[dict[str, list[Any]]] = []
        for i in range(n):
            alone = {k: v[i : i + 1] if isinstance(v, list) and len(v) == n else v for k, v in kwargs.items()}
            got, error, extra = self._attempt(completions[i : i + 1], alone)
            scores.append(got[0])
            errors.append(error)
            extras.append(extra)
        columns = dict.fromkeys(c for e in extras for c in e)
        merged = {c: [e[c][0] if len(e.get(c, [])) == 1 else None for e in extras] for c in columns}
        return scores, errors, merged

    def __repr__(self) -> str:
        return f"Reward({self.spec.as_dict()})"


def _clean(score: Any) -> tuple[float | None, str | None]:
    """A score as a float or None, and what was wrong with it (None: nothing)."""
    if score is None:
        return None, None
    try:
        value = float(score)
    except (TypeError, ValueError, OverflowError):
        return None, f"returned {_short(score)}, not a number"
    if not math.isfinite(value):
        return None, f"returned a non-finite score ({value})"
    return value, None


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failures(rewards: Sequence[Reward]) -> dict[str, int]:
    """Completions each reward could not score (the function failed on them), for manifests."""
    return {rw.spec.name: rw.failures for rw in rewards if rw.failures}


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
REWARDS_HELP = ("NAME[=WEIGHT[,PARAM=VALUE...]], repeatable; NAME may be package.module:function or file.py:function. "
                "Default: the task's rewards. "
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
    if failures(resolved):
        out["reward_failures"] = failures(resolved)
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

    per_reward = []
    errors: list[tuple[str, list[str | None]]] = []  # each reward's reason per completion it could not score
    for rw in rewards:
        per_reward.append(rw(completions, prompts=prompts, log_extra=log_extra, log_metric=log_metric, **columns))
        if any(rw.last_errors):
            errors.append((rw.spec.name, rw.last_errors))
    weights = [rw.spec.weight for rw in rewards]
    out = []
    for i in range(len(records)):
        scores = [col[i] for col in per_reward]
        row: dict[str, Any] = {"rewards": {rw.spec.name: s for rw, s in zip(rewards, scores)}, "reward": weighted_total(scores, weights)}
        info = {k: v[i] for k, v in extras.items() if len(v) == len(records)}
        failed = {name: why[i] for name, why in errors if why[i]}
        if failed:
            info["reward_errors"] = failed
        if info:
            row["reward_info"] = info
        out.append(row)
    return out


def _columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r))
    return list(keys)
