"""Domain events ↔ JSON, for the trip between processes. Pure.

An event travels as ``[type name, field values in declaration order]``: compact, because
a NOTIFY payload holds at most 8000 bytes and every process decodes every event. Fields
may be ints, floats, strings, bools, None, timezone-aware datetimes and tuples of those
(nested tuples included).
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

_Convert = Callable[[Any], Any]
# Every process encodes or decodes every event it relays, so each event type's fields
# are read and converted by functions chosen once, from its type hints; None where a
# value travels as it is (most fields: ints and strings).
_Fields = Callable[[Any], tuple[Any, ...]]


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


def _encoder(hint: Any) -> _Convert | None:
    """How to turn a value of type ``hint`` into JSON; None: as it is."""
    if hint is datetime:
        return datetime.isoformat
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1:
            encode = _encoder(inner[0])
            if encode is None:
                return None
            return lambda v: None if v is None else encode(v)
        return _plain
    if origin is tuple:
        return _plain
    return None


def _field_reader(names: list[str]) -> _Fields:
    if len(names) == 1:
        name = names[0]
        return lambda event: (getattr(event, name),)
    return operator.attrgetter(*names)  # type: ignore[return-value]


class EventCodec:
    def __init__(self, event_types: Iterable[type]) -> None:
        self._by_name: dict[str, tuple[type, list[_Convert | None]]] = {}
        self._encoders: dict[type, tuple[str, _Fields, list[_Convert | None]]] = {}
        for cls in event_types:
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls!r} is not a dataclass")
            hints = typing.get_type_hints(cls)
            fields = dataclasses.fields(cls)
            converters = [_converter(hints[f.name]) for f in fields]
            self._by_name[cls.__name__] = (
                cls,
                [None if c is _identity else c for c in converters],
            )
            self._encoders[cls] = (
                cls.__name__,
                _field_reader([f.name for f in fields]),
                [_encoder(hints[f.name]) for f in fields],
            )

    def knows(self, event: object) -> bool:
        return type(event) in self._encoders

    def encode(self, event: object) -> list[Any]:
        name, read, encoders = self._encoders[type(event)]
        return [
            name,
            [v if e is None else e(v) for v, e in zip(read(event), encoders, strict=True)],
        ]

    def decode(self, item: list[Any]) -> object:
        name, values = item
        entry = self._by_name.get(name)
        if entry is None:
            raise UnknownEvent(name)
        cls, converters = entry
        if len(values) != len(converters):
            raise ValueError(f"{name}: {len(values)} values for {len(converters)} fields")
        return cls(*[v if c is None else c(v) for c, v in zip(converters, values, strict=True)])
