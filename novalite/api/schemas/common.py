"""Schema fragments the resource schemas share."""

from __future__ import annotations

import copy
from typing import Any

# Query-string values arrive as strings.
NON_NEGATIVE_INT_STRING = {"type": "string", "pattern": r"^[0-9]+$"}
BOOLEAN_STRING = {
    "type": "string",
    "pattern": r"^(?i:1|0|t|f|true|false|on|off|y|n|yes|no)$",
}
HOSTNAME = {"type": "string", "minLength": 1, "maxLength": 255,
            "pattern": r"^[a-zA-Z0-9_.:-]+$"}
REASON = {"type": "string", "minLength": 1, "maxLength": 255}


def single(schema: dict) -> dict:
    """A query parameter that may be given once only."""
    return copy.deepcopy(schema)


def multi(schema: dict) -> dict:
    """A query parameter that may repeat (the handler uses the last value)."""
    return {"oneOf": [copy.deepcopy(schema),
                      {"type": "array", "items": copy.deepcopy(schema)}]}


def extend(schema: dict, properties: dict[str, Any] | None = None,
           **changes: Any) -> dict:
    """A copy of `schema` with more properties and top-level changes (new microversion)."""
    new = copy.deepcopy(schema)
    new["properties"].update(copy.deepcopy(properties or {}))
    new.update(copy.deepcopy(changes))
    return new
