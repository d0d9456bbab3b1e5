"""Policies for GET /os-migrations and GET /servers/{server_id}/migrations[/{id}].

Nova's defaults since 32.0.0 (rule names included, so a Nova policy.yaml keeps
working): project managers may list migrations, of their own project only; listing
every project's and seeing the host fields (source/destination compute, node, host)
is for administrators, and so is showing one in-progress live migration. Project
managers may force a live migration of their project's servers to complete, or abort
it.
"""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

OS_MIGRATIONS = "os_compute_api:os-migrations:%s"
INDEX = OS_MIGRATIONS % "index"
INDEX_ALL_PROJECTS = OS_MIGRATIONS % "index:all_projects"
INDEX_HOST = OS_MIGRATIONS % "index:host"

SERVER_MIGRATIONS = "os_compute_api:servers:migrations:%s"
SERVER_INDEX = SERVER_MIGRATIONS % "index"
SERVER_INDEX_HOST = SERVER_MIGRATIONS % "index:host"
SERVER_SHOW = SERVER_MIGRATIONS % "show"
SERVER_FORCE_COMPLETE = SERVER_MIGRATIONS % "force_complete"
SERVER_DELETE = SERVER_MIGRATIONS % "delete"


def _rule(name: str, check: str, description: str, method: str,
          path: str) -> policy.DocumentedRuleDefault:
    return policy.DocumentedRuleDefault(
        name=name, check_str=check, description=description,
        operations=[{"method": method, "path": path}], scope_types=["project"])


rules = [
    _rule(INDEX, base.PROJECT_MANAGER_OR_ADMIN,
          "List migrations (others' projects need index:all_projects).",
          "GET", "/os-migrations"),
    _rule(INDEX_ALL_PROJECTS, base.ADMIN,
          "List the migrations of every project, or of another project than the caller's.",
          "GET", "/os-migrations"),
    _rule(INDEX_HOST, base.ADMIN,
          "Show the host fields of listed migrations (null otherwise).",
          "GET", "/os-migrations"),
    _rule(SERVER_INDEX, base.PROJECT_MANAGER_OR_ADMIN,
          "From 2.23: list a server's in-progress live migrations.",
          "GET", "/servers/{server_id}/migrations"),
    _rule(SERVER_INDEX_HOST, base.ADMIN,
          "Show the host fields of a server's listed migrations (null otherwise).",
          "GET", "/servers/{server_id}/migrations"),
    _rule(SERVER_SHOW, base.ADMIN,
          "From 2.23: show one in-progress live migration of a server.",
          "GET", "/servers/{server_id}/migrations/{migration_id}"),
    _rule(SERVER_FORCE_COMPLETE, base.PROJECT_MANAGER_OR_ADMIN,
          "From 2.22: force a running live migration of a server to complete.",
          "POST", "/servers/{server_id}/migrations/{migration_id}/action (force_complete)"),
    _rule(SERVER_DELETE, base.PROJECT_MANAGER_OR_ADMIN,
          "From 2.24: abort a live migration of a server (2.65: also queued or preparing).",
          "DELETE", "/servers/{server_id}/migrations/{migration_id}"),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
