"""Stage configs: small typed dataclasses filled from defaults < `--config file.yaml` < flags.

A YAML config uses the config's field names as keys (a flag `--max-new-tokens` is the key
`max_new_tokens`). Unknown keys and wrongly typed values are errors that name the file, the
key and the valid keys. Every config validates itself in `validate()`, naming the flag.

A field declared with `option(...)` is also a command-line option: its help text, its flag
names and the default --help shows live on the field, and `r1cli.cli` builds the option from
it. Adding a flag to a stage is adding one field.

    k: int = option(4, help="Completions per prompt.", flags=("-k",))
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from r1cli.errors import R1Error

C = TypeVar("C", bound="StageConfig")


class ConfigError(R1Error):
    pass


def flag_name(field: str) -> str:
    """The flag that sets a config field: `max_new_tokens` -> `--max-new-tokens`, `k` -> `-k`."""
    return ("-" if len(field) == 1 else "--") + field.replace("_", "-")


def option(default: Any = dataclasses.MISSING, *, help: str, flags: tuple[str, ...] = (), show: str | None = None,
           default_factory: Any = dataclasses.MISSING, cli_type: Any = None) -> Any:
    """A config field that is also a command-line option.

    `flags`: its declarations when not just the field's name (`("-G", "--num-generations")`,
    `("--lora/--full",)` for an on/off pair). `show`: what --help gives as the default when the
    field's own default would mislead (e.g. one that depends on another option). `cli_type`: the
    type typed on the command line when the field holds something richer (the reward list: a
    mapping in YAML, repeated NAME=WEIGHT flags on the command line)."""
    meta = {"help": help, "flags": flags, "show": show, "cli_type": cli_type}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def parse_pairs(pairs: list[str] | None, flag: str, *, text: bool = False) -> dict[str, Any]:
    """Repeated `KEY=VALUE` flags (`--trl`, `--field`, `--option`, a reward's parameters) as a
    mapping. Values are read as YAML scalars, as in a config file (`3` a number, `true` a bool),
    unless `text` (column names stay strings)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {pair!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = value if text else yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value  # not a YAML scalar: the text itself
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not valid UTF-8") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of config keys, got {type(data).__name__}")
    return data


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        names = dict.fromkeys(_type_name(a) for a in get_args(tp) if a is not type(None))
        return " or ".join(names) + " (or null)" * (type(None) in get_args(tp))
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, getattr(tp, "__name__", str(tp)))


def _conforms(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    origin = get_origin(tp)
    if origin is Literal:
        return value in get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in get_args(tp))
    if tp is type(None):
        return value is None
    if origin in (list, tuple):
        args = get_args(tp)
        return isinstance(value, (list, tuple)) and all(_conforms(v, args[0]) for v in value) if args else isinstance(value, (list, tuple))
    if origin is dict:
        args = get_args(tp)
        return isinstance(value, dict) and (not args or all(_conforms(v, args[1]) for v in value.values()))
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """Where a setting holds a NaN or infinite float (`''`, `max_grad_norm`, `[1]`) and the value."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    if isinstance(value, dict):
        items = [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    else:
        return None
    return next((found for where, item in items if (found := _non_finite(item, where)) is not None), None)


@dataclasses.dataclass
class StageConfig:
    """Base for stage configs. Subclasses are dataclasses and override `validate()`."""

    source = None  # the YAML file the values came from (for messages), set by `build`

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls: type[C], config_file: str | Path | None = None, **flags: Any) -> C:
        """Defaults < the YAML file < flags (None: not given). A flag that fills a mapping
        (`--trl`, `--task` into `prompts`) adds to the file's mapping instead of replacing it."""
        values: dict[str, Any] = {}
        hints = typing.get_type_hints(cls)
        if config_file is not None:
            data = load_yaml(config_file)
            valid = cls.field_names()
            for key, value in data.items():
                if key not in valid:
                    close = difflib.get_close_matches(str(key), valid, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise ConfigError(f"{config_file}: unknown key '{key}'{hint}; valid keys: {', '.join(valid)}")
                if not _conforms(value, hints[key]):
                    raise ConfigError(f"{config_file}: key '{key}' must be {_type_name(hints[key])}, got {value!r}")
                values[key] = value
        for key, value in flags.items():
            if key not in hints:
                raise TypeError(f"{cls.__name__} has no field {key}")  # a programming error, not user input
            if value is None:
                continue
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                value = {**values[key], **value}
            values[key] = value
        config = cls(**values)
        config.source = str(config_file) if config_file is not None else None
        config.check_finite()
        config.validate()
        return config

    def check_finite(self) -> None:
        """No setting may be NaN or infinite (`--temperature inf`, `.nan` in YAML, a `--trl` value):
        comparisons with NaN are all false, so range checks would let it through to the model."""
        for f in dataclasses.fields(self):
            found = _non_finite(getattr(self, f.name))
            if found is not None:
                path, value = found
                where = f"{self.flag(f.name)} (config key '{f.name}')" if "help" in f.metadata else f"config key '{f.name}'"
                raise ConfigError(f"{where} must be a finite number{f' at {path}' if path else ''}, got {value!r}")

    def validate(self) -> None:
        """Check the values together; raise `ConfigError` naming the flag."""

    def require(self, condition: bool, field: str, message: str) -> None:
        if not condition:
            raise ConfigError(f"{self.flag(field)} (config key '{field}') {message}, got {getattr(self, field)!r}")

    @classmethod
    def flag(cls, field: str) -> str:
        """The flag that sets `field` on the command line (as its `option(flags=...)` declares)."""
        declared = next((f.metadata.get("flags") for f in dataclasses.fields(cls) if f.name == field), None)
        if declared:
            names = [name for decl in declared for name in decl.split("/")[:1]]
            return next((n for n in names if n.startswith("--")), names[0])
        return flag_name(field)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
