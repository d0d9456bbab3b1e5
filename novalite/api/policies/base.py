"""Building-block rules the per-resource policies refer to (Nova's personas).

Operators override any of them in policy.yaml, exactly as for Nova.
"""

from __future__ import annotations

from oslo_policy import policy

ADMIN = "rule:context_is_admin"
PROJECT_READER = "rule:project_reader_api"
PROJECT_MEMBER = "rule:project_member_api"
PROJECT_MANAGER = "rule:project_manager_api"
PROJECT_READER_OR_ADMIN = "rule:project_reader_or_admin"
PROJECT_MEMBER_OR_ADMIN = "rule:project_member_or_admin"
PROJECT_MANAGER_OR_ADMIN = "rule:project_manager_or_admin"

rules = [
    policy.RuleDefault("context_is_admin", "role:admin",
                       "Decides who is an administrator of the whole deployment."),
    policy.RuleDefault("project_reader_api", "role:reader and project_id:%(project_id)s",
                       "Read-only access to the resources of the caller's project."),
    policy.RuleDefault("project_member_api", "role:member and project_id:%(project_id)s",
                       "Day-to-day use of the resources of the caller's project."),
    policy.RuleDefault("project_manager_api", "role:manager and project_id:%(project_id)s",
                       "Project managers: also moves (cold and live migration)."),
    policy.RuleDefault("project_reader_or_admin", f"{PROJECT_READER} or {ADMIN}",
                       "A project reader, or an administrator."),
    policy.RuleDefault("project_member_or_admin", f"{PROJECT_MEMBER} or {ADMIN}",
                       "A project member, or an administrator."),
    policy.RuleDefault("project_manager_or_admin", f"{PROJECT_MANAGER} or {ADMIN}",
                       "A project manager, or an administrator."),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
