"""Typed configuration from JSON files and ``--set key=value`` overrides.

Configs are frozen dataclasses (possibly nested). This module builds them from
plain dicts, rejecting unknown keys and values of the wrong type (nanoGPT's check,
without its ``exec``), and applies overrides: command-line text, each parsed with
the *field's* type (``--set track.every=100``), or typed values keyed by the same
dotted paths (``{"track.every": 100}``, how sweeps and reproduce presets compose
configs). Either way the config is built and validated once, after every override.

Supported field types: ``int``, ``float``, ``str``, ``bool`` (``true``/``false``
only), ``Literal[...]``, ``X | None`` (``none``/``null`` → None), ``tuple[T, ...]``
(comma-separated), and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_NONE_WORDS = {"none", "null"}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def parse_text(text: str, tp: Any, key: str = "value") -> Any:
    """Parse a command-line string as a value of type ``tp``.

    Args:
        text: The raw string.
        tp: The field's type annotation.
        key: Field name, for error messages.

    Returns:
        The parsed value.

    Raises:
        ValueError: If the text is not a valid value of that type.
    """
    optional, inner = _is_optional(tp)
    if optional:
        return (
            None
            if text.strip().lower() in _NONE_WORDS
            else parse_text(text, inner, key)
        )
    origin = typing.get_origin(inner)
    if inner is bool:
        low = text.strip().lower()
        if low not in {"true", "false"}:
            raise ValueError(f"{key} must be true or false, got {text!r}")
        return low == "true"
    if inner in (int, float, str):
        try:
            return inner(text.strip()) if inner is not str else text
        except ValueError:
            raise ValueError(f"{key} must be {inner.__name__}, got {text!r}") from None
    if origin is typing.Literal:
        choices = typing.get_args(inner)
        if text not in choices:
            raise ValueError(
                f"{key} must be one of {', '.join(map(str, choices))}, got {text!r}"
            )
        return text
    if origin in (tuple, list):
        args = typing.get_args(inner)
        elem = args[0] if args else str
        parts = [p for p in text.split(",") if p.strip()]
        return tuple(parse_text(p.strip(), elem, key) for p in parts)
    raise ValueError(f"{key}: cannot parse a value of type {tp}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert a JSON value against a field type."""
    optional, inner = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{key} may not be null")
    if dataclasses.is_dataclass(inner):
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be an object, got {type(value).__name__}")
        return from_dict(inner, value, prefix=f"{key}.")
    origin = typing.get_origin(inner)
    if inner is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer, got {value!r}")
        return value
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be a number, got {value!r}")
        return float(value)
    if inner is str:
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {value!r}")
        return value
    if origin is typing.Literal:
        if value not in typing.get_args(inner):
            raise ValueError(
                f"{key} must be one of {typing.get_args(inner)}, got {value!r}"
            )
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            return parse_text(value, inner, key)
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list, got {value!r}")
        args = typing.get_args(inner)
        elem = args[0] if args else Any
        return tuple(value if elem is Any else [_coerce(v, elem, key) for v in value])
    if origin is dict or inner is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be an object, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any], *, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a plain dict, rejecting unknown keys.

    Args:
        cls: A (frozen) dataclass type.
        data: Field values; missing fields take their defaults.
        prefix: Dotted path of ``cls`` inside an outer config, for messages.

    Returns:
        The instance (its ``__post_init__`` validation runs).

    Raises:
        ValueError: On unknown keys or ill-typed values.
    """
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"unknown config key(s): {', '.join(prefix + k for k in unknown)}"
        )
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """JSON-safe dict of a (nested) dataclass config; tuples become lists.

    Args:
        cfg: A dataclass instance.

    Returns:
        Plain dict.
    """
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _leaf(cls: type, path: list[str]) -> tuple[list[type], Any]:
    """The dataclasses along a dotted path and the annotation of its leaf field."""
    chain: list[type] = []
    for i, head in enumerate(path):
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        if head not in names:
            raise ValueError(f"unknown config key: {'.'.join(path[: i + 1])}")
        hint = _hints(cls)[head]
        _, inner = _is_optional(hint)
        chain.append(cls)
        if i == len(path) - 1:
            if dataclasses.is_dataclass(inner):
                raise ValueError(
                    f"{head} is a group; set one of its fields ({head}.<field>=...)"
                )
            return chain, hint
        if not dataclasses.is_dataclass(inner):
            raise ValueError(f"{head} has no sub-fields")
        cls = inner
    raise ValueError("empty config key")


def field_type(cls: type, dotted: str) -> Any:
    """The type annotation of the field ``group.key`` of config class ``cls``.

    Args:
        cls: The config dataclass.
        dotted: A leaf field's dotted path, e.g. ``track.minibs.every``.

    Returns:
        The field's annotation (as used by :func:`parse_text`).

    Raises:
        ValueError: On an unknown key, a group, or a path below a plain field.
    """
    return _leaf(cls, dotted.strip().split("."))[1]


def _set_value(data: dict[str, Any], path: list[str], value: Any) -> None:
    for head in path[:-1]:
        data = data.setdefault(head, {})
    data[path[-1]] = value


def check_overrides(cls: type, values: Mapping[str, Any]) -> None:
    """Check typed overrides against a config class without building a config.

    Every key must be a leaf field of ``cls`` and every value of that field's
    type (cross-field constraints are checked only when a config is built).

    Args:
        cls: The config dataclass.
        values: Dotted field path → typed value.

    Raises:
        ValueError: On an unknown key, a group key or an ill-typed value.
    """
    for key, value in values.items():
        _coerce(value, field_type(cls, key), key)


def apply_overrides(
    cls: type[T],
    base: dict[str, Any],
    sets: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
) -> T:
    """Apply overrides to a base dict and build (and validate) the config once.

    Args:
        cls: The config dataclass.
        base: Starting values (a preset or a JSON file), nested dicts for groups.
        sets: Strings ``key=value`` or ``group.key=value``, each parsed with the
            field's type.
        values: Typed overrides, dotted field path → value, applied after
            ``sets`` (e.g. a sweep's grid point or a reproduce preset's study).

    Returns:
        The validated config.

    Raises:
        ValueError: On a malformed override, unknown key or bad value.
    """
    data = json.loads(json.dumps(base))
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        path = key.strip().split(".")
        hint = _leaf(cls, path)[1]
        _set_value(data, path, parse_text(text, hint, path[-1]))
    for key, value in (values or {}).items():
        path = key.strip().split(".")
        _leaf(cls, path)
        _set_value(data, path, json.loads(json.dumps(value)))
    return from_dict(cls, data)


def load_json_config(path: str | Path) -> dict[str, Any]:
    """Read a JSON config file into a dict.

    Args:
        path: The file.

    Returns:
        Its top-level object.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data
