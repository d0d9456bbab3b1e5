"""Policies for /limits: everyone sees their own project's; naming another project
(``?tenant_id=``) is for administrators, as in Nova."""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

SHOW = "os_compute_api:limits"
OTHER_PROJECT = "os_compute_api:limits:other_project"

rules = [
    policy.DocumentedRuleDefault(
        name=SHOW, check_str="@",
        description="Show the rate and absolute limits of the caller's project.",
        operations=[{"method": "GET", "path": "/limits"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=OTHER_PROJECT, check_str=base.ADMIN,
        description="Show the limits of another project (the tenant_id query parameter).",
        operations=[{"method": "GET", "path": "/limits?tenant_id={tenant_id}"}],
        scope_types=["project"]),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
