"""Policies for /os-aggregates (listing only: novalite has no host aggregates yet)."""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

INDEX = "os_compute_api:os-aggregates:index"

rules = [
    policy.DocumentedRuleDefault(
        name=INDEX, check_str=base.ADMIN,
        description="List host aggregates.",
        operations=[{"method": "GET", "path": "/os-aggregates"}],
        scope_types=["project"]),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
