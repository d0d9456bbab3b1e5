"""Query schemas for GET /os-migrations, per microversion (Nova's).

Before 2.59 unknown parameters are allowed (Nova passes them to its database filters,
which know node, user_id and project_id too, and ignores the rest); 2.59 adds paging
(limit, marker) and changes-since and refuses unknown parameters; 2.66 adds
changes-before; 2.80 the user_id and project_id filters.
"""

from __future__ import annotations

import functools
from typing import Any

from novalite.api.schemas import common

_STRING = {"type": "string"}

LIST_QUERY_V21: dict[str, Any] = {
    "type": "object",
    "properties": {
        "hidden": common.multi(_STRING),
        "host": common.multi(_STRING),
        "instance_uuid": common.multi(_STRING),
        "source_compute": common.multi(_STRING),
        "status": common.multi(_STRING),
        "migration_type": common.multi(_STRING),
    },
    "additionalProperties": True,
}

LIST_QUERY_V259 = common.extend(LIST_QUERY_V21, {
    "limit": common.single(common.NON_NEGATIVE_INT_STRING),
    "marker": common.single(_STRING),
    "changes-since": common.single(_STRING),
}, additionalProperties=False)

LIST_QUERY_V266 = common.extend(LIST_QUERY_V259, {
    "changes-before": common.single(_STRING),
})

LIST_QUERY_V280 = common.extend(LIST_QUERY_V266, {
    "user_id": common.single(_STRING),
    "project_id": common.single(_STRING),
})


@functools.cache
def list_query(version: str) -> dict[str, Any]:
    """The GET /os-migrations query schema at `version` ("2.X")."""
    minor = int(version.split(".")[1])
    if minor >= 80:
        return LIST_QUERY_V280
    if minor >= 66:
        return LIST_QUERY_V266
    if minor >= 59:
        return LIST_QUERY_V259
    return LIST_QUERY_V21


# POST /servers/{server_id}/migrations/{migration_id}/action (2.22): the only action.
FORCE_COMPLETE: dict[str, Any] = {
    "type": "object",
    "properties": {"force_complete": {"type": "null"}},
    "required": ["force_complete"],
    "additionalProperties": False,
}
