"""Domain events ↔ JSON, for the trip between processes. Pure.

An event travels as ``[type name, field values in declaration order]``: compact, because
a NOTIFY payload holds at most 8000 bytes and every process decodes every event. Fields
may be ints, floats, strings, bools, None, timezone-aware datetimes and tuples of those
(nested tuples included).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

_Convert = Callable[[Any], Any]


class UnknownEvent(ValueError):
    pass


def _identity(value: Any) -> Any:
    return value


def _converter(hint: Any) -> _Convert:
    """How to turn a JSON value back into a value of type ``hint``."""
    if hint is datetime:
        return datetime.fromisoformat
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1:
            convert = _converter(inner[0])
            if convert is _identity:
                return _identity
            return lambda v: None if v is None else convert(v)
        return _identity
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _converter(args[0])
            return lambda v: tuple(item(x) for x in v)
        converters = [_converter(a) for a in args]
        return lambda v: tuple(c(x) for c, x in zip(converters, v, strict=True))
    return _identity


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class EventCodec:
    def __init__(self, event_types: Iterable[type]) -> None:
        self._by_name: dict[str, tuple[type, list[_Convert]]] = {}
        for cls in event_types:
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls!r} is not a dataclass")
            hints = typing.get_type_hints(cls)
            converters = [_converter(hints[f.name]) for f in dataclasses.fields(cls)]
            self._by_name[cls.__name__] = (cls, converters)

    def knows(self, event: object) -> bool:
        entry = self._by_name.get(type(event).__name__)
        return entry is not None and entry[0] is type(event)

    def encode(self, event: object) -> list[Any]:
        fields = dataclasses.fields(event)  # type: ignore[arg-type]
        return [type(event).__name__, [_plain(getattr(event, f.name)) for f in fields]]

    def decode(self, item: list[Any]) -> object:
        name, values = item
        entry = self._by_name.get(name)
        if entry is None:
            raise UnknownEvent(name)
        cls, converters = entry
        return cls(*(c(v) for c, v in zip(converters, values, strict=True)))
