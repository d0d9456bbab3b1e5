"""Query-string schemas for /os-hypervisors."""

from __future__ import annotations

from novalite.api.schemas import common

index_query = {"type": "object", "properties": {}, "additionalProperties": True}

# 2.33: paging.
index_query_v233 = {
    "type": "object",
    "properties": {
        "limit": common.multi(common.NON_NEGATIVE_INT_STRING),
        "marker": common.multi({"type": "string"}),
    },
    "additionalProperties": True,
}

# 2.53: a hostname filter, embedded servers, and no unknown parameters any more.
index_query_v253 = {
    "type": "object",
    "properties": {
        "limit": common.single(common.NON_NEGATIVE_INT_STRING),
        "marker": common.single({"type": "string"}),
        "hypervisor_hostname_pattern": common.single(common.HOSTNAME),
        "with_servers": common.single(common.BOOLEAN_STRING),
    },
    "additionalProperties": False,
}

show_query_v253 = {
    "type": "object",
    "properties": {"with_servers": common.single(common.BOOLEAN_STRING)},
    "additionalProperties": False,
}
