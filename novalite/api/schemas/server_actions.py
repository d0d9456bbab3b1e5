"""Schemas for POST /servers/{server_id}/action and os-instance-actions queries.

An action body is one key, the action's name; its value is checked here. Nova has no
schema for os-start, os-stop, unlock and (before 2.73) lock, and clients send `null`
or `{}`: both are accepted, anything but an object or null is not. confirmResize,
revertResize and migrate (before 2.56) accept `null` and `{}` only.
"""

from __future__ import annotations

import functools
from typing import Any

from novalite.api.schemas import common

NULL_OR_OBJECT = {"type": ["object", "null"]}

# confirmResize, revertResize and (before 2.56) migrate take no arguments: clients send
# `null` or `{}`; anything inside the object is refused.
NULL_OR_EMPTY_OBJECT = {"type": ["object", "null"], "properties": {},
                        "additionalProperties": False}

RESIZE = {
    "type": "object",
    "properties": {
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
    },
    "required": ["flavorRef"],
    "additionalProperties": False,
}

# 2.56: an optional destination host (null: the scheduler chooses).
MIGRATE_V256 = {
    "type": ["object", "null"],
    "properties": {"host": {**common.HOSTNAME, "type": ["string", "null"]}},
    "additionalProperties": False,
}

REBOOT = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]},
    },
    "required": ["type"],
    "additionalProperties": False,
}

# 2.73: an optional reason.
LOCK_V273 = {
    "type": ["object", "null"],
    "properties": {"locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
    "additionalProperties": False,
}


def action_body(name: str, value_schema: dict[str, Any]) -> dict[str, Any]:
    """The whole body {name: value} with the value checked against value_schema."""
    return {"type": "object", "properties": {name: value_schema}, "required": [name],
            "additionalProperties": False}


@functools.cache
def instance_actions_query(version: str) -> dict[str, Any]:
    """GET /servers/{id}/os-instance-actions at 2.58+ (paging, changes-since); 2.66
    adds changes-before. Unknown parameters are refused, as in Nova."""
    props: dict[str, Any] = {
        "limit": common.single(common.NON_NEGATIVE_INT_STRING),
        "marker": common.single({"type": "string"}),
        "changes-since": common.single({"type": "string"}),
    }
    major, minor = (int(part) for part in version.split("."))
    if (major, minor) >= (2, 66):
        props["changes-before"] = common.single({"type": "string"})
    return {"type": "object", "properties": props, "additionalProperties": False}
