"""Policies for /os-hypervisors: administrators only, as in Nova."""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

PREFIX = "os_compute_api:os-hypervisors:%s"
LIST = PREFIX % "list"
LIST_DETAIL = PREFIX % "list-detail"
SHOW = PREFIX % "show"
STATISTICS = PREFIX % "statistics"
SEARCH = PREFIX % "search"

rules = [
    policy.DocumentedRuleDefault(
        name=LIST, check_str=base.ADMIN,
        description="List hypervisors.",
        operations=[{"method": "GET", "path": "/os-hypervisors"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=LIST_DETAIL, check_str=base.ADMIN,
        description="List hypervisors with details.",
        operations=[{"method": "GET", "path": "/os-hypervisors/detail"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=SHOW, check_str=base.ADMIN,
        description="Show the details of a hypervisor.",
        operations=[{"method": "GET", "path": "/os-hypervisors/{hypervisor_id}"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=STATISTICS, check_str=base.ADMIN,
        description="Show the summed resources of all hypervisors (up to 2.87).",
        operations=[{"method": "GET", "path": "/os-hypervisors/statistics"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=SEARCH, check_str=base.ADMIN,
        description="Search hypervisors by host name pattern (up to 2.52).",
        operations=[{"method": "GET",
                     "path": "/os-hypervisors/{hypervisor_hostname_pattern}/search"}],
        scope_types=["project"]),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
