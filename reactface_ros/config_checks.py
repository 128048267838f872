"""Type checks of configuration values read from JSON / YAML (``config.json``, training YAML).

A value of the wrong type (``momentum: "0.9"``) must fail with the key and the expected type,
not later inside arithmetic. :func:`check_field_types` checks a mapping against a dataclass's
field annotations (``int``, ``float``, ``bool``, ``str``, ``X | None``, ``list[X]``,
``tuple[X, ...]``, ``dict``); annotations it does not know are not checked.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        plural = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}
        return f"a list of {plural.get(args[0], _describe(args[0]))}" if args else "a list"
    if origin is dict or tp is dict:
        return "a mapping"
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def value_matches(value, tp) -> bool | None:
    """True/False when ``tp`` is understood, None when it is not checked."""
    if tp is Any:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        results = [value_matches(value, a) for a in typing.get_args(tp)]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if len(args) == 1:
            results = [value_matches(v, args[0]) for v in value]
            return False if any(r is False for r in results) else True
        return True
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    return None


def check_field_types(cls, data: dict, error=ValueError, where: str = "") -> None:
    """Raise ``error`` naming the first key of ``data`` whose value does not fit ``cls``'s field.

    Parameters
    ----------
    cls : type
        A dataclass.
    data : dict
        Key -> value as read from the file (keys that are not fields are ignored here).
    error : type
        Exception class raised.
    where : str
        Prefix for the key in the message (e.g. ``"model."``).
    """
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: nothing to check against
        return
    for f in dataclasses.fields(cls):
        if f.name not in data or f.name not in hints:
            continue
        value = data[f.name]
        if value_matches(value, hints[f.name]) is False:
            raise error(f"config key {where}{f.name} must be {_describe(hints[f.name])}, got "
                        f"{value!r} ({type(value).__name__}); write it without quotes"
                        if isinstance(value, str) else
                        f"config key {where}{f.name} must be {_describe(hints[f.name])}, got "
                        f"{value!r} ({type(value).__name__})")
        if isinstance(value, float) and not math.isfinite(value) and \
                value_matches(value, hints[f.name]) is True:
            raise error(f"config key {where}{f.name} must be a finite number, got {value!r}")
