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


# -- os-migrateLive ----------------------------------------------------------------------
# Nova's boolean parameter: JSON booleans and the strings its parser reads as them.
BOOLEAN_PARAMETER: dict[str, Any] = {
    "type": ["boolean", "string"],
    "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"],
}
_LIVE_HOST = {**common.HOSTNAME, "type": ["string", "null"]}

# 2.1-2.24: host (null: the scheduler chooses), block_migration and disk_over_commit,
# all three required.
MIGRATE_LIVE_V21: dict[str, Any] = {
    "type": "object",
    "properties": {
        "host": _LIVE_HOST,
        "block_migration": BOOLEAN_PARAMETER,
        "disk_over_commit": BOOLEAN_PARAMETER,
    },
    "required": ["block_migration", "disk_over_commit", "host"],
    "additionalProperties": False,
}

# 2.25: block_migration may be "auto" (the source and destination decide);
# disk_over_commit is gone (refused as an unknown key). host stays required, as in Nova.
MIGRATE_LIVE_V225: dict[str, Any] = {
    "type": "object",
    "properties": {
        "host": _LIVE_HOST,
        "block_migration": {**BOOLEAN_PARAMETER,
                            "enum": [*BOOLEAN_PARAMETER["enum"], "auto"]},
    },
    "required": ["block_migration", "host"],
    "additionalProperties": False,
}

# 2.30-2.67: an optional force (skip the scheduler's check of host). 2.68 drops it.
MIGRATE_LIVE_V230: dict[str, Any] = {
    **MIGRATE_LIVE_V225,
    "properties": {**MIGRATE_LIVE_V225["properties"], "force": BOOLEAN_PARAMETER},
}


def migrate_live(version: tuple[int, int]) -> dict[str, Any]:
    """The os-migrateLive value schema at microversion (2, minor)."""
    if version < (2, 25):
        return MIGRATE_LIVE_V21
    if (2, 30) <= version < (2, 68):
        return MIGRATE_LIVE_V230
    return MIGRATE_LIVE_V225


def to_bool(value: bool | str) -> bool:
    """A schema-checked BOOLEAN_PARAMETER value as a bool."""
    if isinstance(value, bool):
        return value
    return value.lower() in ("true", "1", "on", "yes")
