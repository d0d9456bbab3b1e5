"""Policies for /servers/{server_id}/os-instance-actions (Nova's defaults and names).

Readers of the server's project list and show its actions; what an event reveals about
the hosts (traceback, host name, details) is for administrators.
"""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

PREFIX = "os_compute_api:os-instance-actions:%s"
LIST = PREFIX % "list"
SHOW = PREFIX % "show"
EVENTS = PREFIX % "events"
EVENTS_DETAILS = PREFIX % "events:details"

_LIST_PATH = "/servers/{server_id}/os-instance-actions"
_SHOW_PATH = "/servers/{server_id}/os-instance-actions/{request_id}"

rules = [
    policy.DocumentedRuleDefault(
        name=LIST, check_str=base.PROJECT_READER_OR_ADMIN,
        description="List the actions performed on a server.",
        operations=[{"method": "GET", "path": _LIST_PATH}], scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=SHOW, check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show one action of a server with its events.",
        operations=[{"method": "GET", "path": _SHOW_PATH}], scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=EVENTS, check_str=base.ADMIN,
        description="Include each event's traceback (and from 2.62 its host name); before "
        "2.51 the events themselves.",
        operations=[{"method": "GET", "path": _SHOW_PATH}], scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=EVENTS_DETAILS, check_str=base.ADMIN,
        description="From 2.84: include each event's failure details.",
        operations=[{"method": "GET", "path": _SHOW_PATH}], scope_types=["project"]),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
