"""Policies for /os-services: administrators only, as in Nova."""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

PREFIX = "os_compute_api:os-services:%s"
LIST = PREFIX % "list"
UPDATE = PREFIX % "update"
DELETE = PREFIX % "delete"

rules = [
    policy.DocumentedRuleDefault(
        name=LIST, check_str=base.ADMIN,
        description="List the services of the control plane and the compute hosts.",
        operations=[{"method": "GET", "path": "/os-services"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=UPDATE, check_str=base.ADMIN,
        description="Enable, disable or force down a service.",
        operations=[{"method": "PUT", "path": "/os-services/{service_id}"},
                    {"method": "PUT", "path": "/os-services/enable"},
                    {"method": "PUT", "path": "/os-services/disable"},
                    {"method": "PUT", "path": "/os-services/disable-log-reason"},
                    {"method": "PUT", "path": "/os-services/force-down"}],
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=DELETE, check_str=base.ADMIN,
        description="Delete a service.",
        operations=[{"method": "DELETE", "path": "/os-services/{service_id}"}],
        scope_types=["project"]),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
