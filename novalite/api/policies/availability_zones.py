"""Policies for /os-availability-zone: every user may list the zones; the detailed
view (hosts and their services) is for administrators, as in Nova."""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

PREFIX = "os_compute_api:os-availability-zone:%s"
LIST = PREFIX % "list"
DETAIL = PREFIX % "detail"

rules = [
    policy.DocumentedRuleDefault(
        name=LIST, check_str="@",
        description="List availability zones and whether each is available.",
        operations=[{"method": "GET", "path": "/os-availability-zone"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=DETAIL, check_str=base.ADMIN,
        description="List availability zones with their hosts and services.",
        operations=[{"method": "GET", "path": "/os-availability-zone/detail"}],
        scope_types=["project"]),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
