"""A small versioned-object base: dataclasses that serialise to tagged primitives.

Services pass these over RPC instead of ORM rows (compute agents have no database).
Each class has a name and a version; the receiver rebuilds the same class, ignoring
fields it does not know, so a newer sender does not break an older receiver.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import typing
from typing import Any, ClassVar

NAME_KEY = "novalite_object.name"
VERSION_KEY = "novalite_object.version"
DATA_KEY = "novalite_object.data"
DATETIME_KEY = "novalite.datetime"

_REGISTRY: dict[str, type[NovaliteObject]] = {}


class NovaliteObject:
    """Base for @dataclasses.dataclass objects. Subclasses set OBJ_NAME and VERSION."""

    OBJ_NAME: ClassVar[str] = ""
    VERSION: ClassVar[str] = "1.0"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.OBJ_NAME:
            _REGISTRY[cls.OBJ_NAME] = cls

    def obj_to_primitive(self) -> dict:
        data = {f.name: to_primitive(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {NAME_KEY: self.OBJ_NAME, VERSION_KEY: self.VERSION, DATA_KEY: data}

    @classmethod
    def obj_from_primitive(cls, primitive: dict) -> NovaliteObject:
        hints, known = _field_types(cls)
        values = {}
        for name, value in primitive[DATA_KEY].items():
            if name in known:
                values[name] = _coerce(hints.get(name), from_primitive(value))
        return cls(**values)


@functools.cache
def _field_types(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """(type hints, field names) of an object class: resolving the hints is ~15 times
    the cost of building the object, and every RPC message carrying one pays it."""
    return typing.get_type_hints(cls), frozenset(f.name for f in dataclasses.fields(cls))


def _coerce(hint: Any, value: Any) -> Any:
    """Turn a plain value back into the enum its field is declared with."""
    if value is None or hint is None:
        return value
    for candidate in typing.get_args(hint) or (hint,):
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return candidate(value)
    return value


def to_primitive(value: Any) -> Any:
    """Objects, enums, datetimes, dicts and lists to JSON-safe values."""
    if isinstance(value, NovaliteObject):
        return value.obj_to_primitive()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.datetime):
        return {DATETIME_KEY: value.isoformat()}
    if isinstance(value, dict):
        return {k: to_primitive(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_primitive(v) for v in value]
    return value


def from_primitive(value: Any) -> Any:
    if isinstance(value, dict):
        if NAME_KEY in value:
            cls = _REGISTRY.get(value[NAME_KEY])
            if cls is None:
                raise ValueError(f"Unknown object type {value[NAME_KEY]!r}")
            return cls.obj_from_primitive(value)
        if set(value) == {DATETIME_KEY}:
            return datetime.datetime.fromisoformat(value[DATETIME_KEY])
        return {k: from_primitive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_primitive(v) for v in value]
    return value
