"""Raw settings (TOML tables, JSON, `--set section.field=value` strings) -> typed frozen dataclasses.

Generic: it knows the declared field types (int, float, str, bool, `X | None`, tuples, tables, `Literal`
choices, nested dataclasses), not the sections; `omnisage/config.py` declares those and loads the presets.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from omnisage.errors import OmniSageError


def coerce(value: Any, kind: Any, where: str) -> Any:
    """Convert a TOML or command-line value to the dataclass field's declared type."""
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):  # `X | None`
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        return coerce(value, inner[0], where)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        inner = typing.get_args(kind)[0]
        return tuple(coerce(v.strip() if isinstance(v, str) else v, inner, where) for v in items if v != "")
    if origin is typing.Literal:  # a choice: checked here, once, for every module that reads it
        allowed = typing.get_args(kind)
        if value not in allowed:
            raise OmniSageError(
                f"config {where}: {value!r} is not one of {', '.join(repr(a) for a in allowed)}"
            )
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise OmniSageError(f"config {where}: expected a table, got {value!r}")
        _, vkind = typing.get_args(kind)
        return {str(k): coerce(v, vkind, f"{where}.{k}") for k, v in value.items()}
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if kind in (int, float, str):
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            number = kind(value)
            if kind is float and not math.isfinite(number):  # nan or inf trains a model of NaNs
                raise OmniSageError(f"config {where}: expected a finite number, got {value!r}")
            return number
    except (TypeError, ValueError):
        raise OmniSageError(f"config {where}: expected {kind.__name__}, got {value!r}") from None
    return value


def build(cls: type, values: dict[str, Any], where: str = "", moved: dict[str, str] | None = None) -> Any:
    """A config dataclass from raw TOML/JSON values, nested sections included (`where`: the dotted prefix of
    the section, for errors). Unknown settings are an error, naming the new key of one in `moved` (old dotted
    key -> new); a table overrides keys of the default table."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known and f"{where}{name}" in (moved or {}):
            raise OmniSageError(f"config: '{where}{name}' is now '{moved[where + name]}'")
        if name not in known:
            raise OmniSageError(
                f"config: unknown setting '{where}{name}' (known: {', '.join(sorted(known))})"
            )
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise OmniSageError(f"config: '{where}{name}' is a section, not a value")
            kwargs[name] = build(kind, value, f"{where}{name}.", moved)
        else:
            kwargs[name] = coerce(value, kind, f"{where}{name}")
            default = known[name].default_factory
            if typing.get_origin(kind) is dict and default is not dataclasses.MISSING:
                kwargs[name] = {**default(), **kwargs[name]}  # a table overrides keys of the default table
    return cls(**kwargs)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """`["train.lr=3e-4", "model.dim=128"]` -> nested dict of raw string values."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OmniSageError(f"--set expects section.field=value, got {item!r}")
        node = tree
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value.strip()
    return tree


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
