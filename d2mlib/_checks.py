"""Field checks for the config dataclasses: types against annotations, choices, sizes."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from d2mlib.errors import ConfigError


def check_fields(obj: Any) -> None:
    """Check every field of dataclass `obj` against its annotation; coerce int to float in place."""
    hints = typing.get_type_hints(type(obj))
    name = type(obj).__name__
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        tp = hints[f.name]
        where = f"{name}.{f.name}"
        if tp is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where} must be a number, got {value!r}")
            object.__setattr__(obj, f.name, float(value))
        elif tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{where} must be an integer, got {value!r}")
        elif tp is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false, got {value!r}")
        elif tp is str:
            if not isinstance(value, str):
                raise ConfigError(f"{where} must be a string, got {value!r}")
        elif typing.get_origin(tp) is tuple:
            value = tuple(value) if isinstance(value, list) else value
            object.__setattr__(obj, f.name, value)
            if not isinstance(value, tuple) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise ConfigError(f"{where} must be a list of integers, got {value!r}")
        elif dataclasses.is_dataclass(tp) and not isinstance(value, tp):
            raise ConfigError(f"{where} must be a {tp.__name__}, got {type(value).__name__}")
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ConfigError(f"{where} must not be negative, got {value!r}")


def check_choice(obj: Any, field_name: str, choices: tuple[str, ...]) -> None:
    """Raise ConfigError unless getattr(obj, field_name) is one of `choices`."""
    if (value := getattr(obj, field_name)) not in choices:
        msg = f"{type(obj).__name__}.{field_name} must be one of {choices}, got {value!r}"
        raise ConfigError(msg)


def check_positive(obj: Any, *names: str) -> None:
    """Raise ConfigError if any of the named size fields is zero."""
    for n in names:
        if getattr(obj, n) <= 0:
            raise ConfigError(f"{type(obj).__name__}.{n} must be positive, got {getattr(obj, n)}")
