"""Stage configs: small typed dataclasses filled from defaults < `--config file.yaml` < flags.

A YAML config uses the config's field names as keys (a flag `--max-new-tokens` is the key
`max_new_tokens`). Unknown keys and wrongly typed values are errors that name the file, the
key and the valid keys. Every config validates itself in `validate()`, naming the flag.
"""

from __future__ import annotations

import dataclasses
import difflib
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
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None)) + " (or null)" * (type(None) in get_args(tp))
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


@dataclasses.dataclass
class StageConfig:
    """Base for stage configs. Subclasses are dataclasses and override `validate()`."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls: type[C], config_file: str | Path | None = None, **flags: Any) -> C:
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
            if value is not None:
                values[key] = value
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Check the values together; raise `ConfigError` naming the flag."""

    def require(self, condition: bool, field: str, message: str) -> None:
        if not condition:
            raise ConfigError(f"{flag_name(field)} (config key '{field}') {message}, got {getattr(self, field)!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
