"""Schemas for /os-services."""

from __future__ import annotations

from novalite.api.schemas import common

index_query = {
    "type": "object",
    "properties": {
        "host": common.multi({"type": "string"}),
        "binary": common.multi({"type": "string"}),
    },
    # Nova ignores unknown query parameters on this resource.
    "additionalProperties": True,
}

# PUT /os-services/{enable,disable,disable-log-reason} before 2.53.
legacy_update = {
    "type": "object",
    "properties": {
        "host": common.HOSTNAME,
        "binary": {"type": "string", "minLength": 1, "maxLength": 255},
        "disabled_reason": common.REASON,
    },
    "required": ["host", "binary"],
    "additionalProperties": False,
}

# 2.11 adds PUT /os-services/force-down.
legacy_update_v211 = common.extend(legacy_update, {"forced_down": {"type": "boolean"}})

# PUT /os-services/{service_uuid} from 2.53.
update_v253 = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": common.REASON,
        "forced_down": {"type": "boolean"},
    },
    "additionalProperties": False,
}
