"""Policies for /flavors and its sub-resources (extra specs, project access).

Nova's rule names, so an operator's policy.yaml carries over. Listing and showing
flavors is open to every authenticated caller (private flavors stay hidden from projects
without access whatever the policy says); creating, changing and deleting them, their
extra specs and their access lists is for administrators.
"""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

ANY = "@"

LIST = "os_compute_api:flavors:list"
SHOW = "os_compute_api:flavors:show"
MANAGE = "os_compute_api:os-flavor-manage:%s"
CREATE = MANAGE % "create"
UPDATE = MANAGE % "update"
DELETE = MANAGE % "delete"
EXTRA_SPECS = "os_compute_api:os-flavor-extra-specs:%s"
EXTRA_SPECS_INDEX = EXTRA_SPECS % "index"
EXTRA_SPECS_SHOW = EXTRA_SPECS % "show"
EXTRA_SPECS_CREATE = EXTRA_SPECS % "create"
EXTRA_SPECS_UPDATE = EXTRA_SPECS % "update"
EXTRA_SPECS_DELETE = EXTRA_SPECS % "delete"
ACCESS_LIST = "os_compute_api:os-flavor-access"
ACCESS_ADD = "os_compute_api:os-flavor-access:add_tenant_access"
ACCESS_REMOVE = "os_compute_api:os-flavor-access:remove_tenant_access"


def _rule(name: str, check_str: str, description: str,
          operations: list[tuple[str, str]]) -> policy.DocumentedRuleDefault:
    return policy.DocumentedRuleDefault(
        name=name, check_str=check_str, description=description,
        operations=[{"method": method, "path": path} for method, path in operations],
        scope_types=["project"])


rules = [
    _rule(LIST, ANY, "List flavors (public ones, and private ones the project may use).",
          [("GET", "/flavors"), ("GET", "/flavors/detail")]),
    _rule(SHOW, ANY, "Show a flavor.", [("GET", "/flavors/{flavor_id}")]),
    _rule(CREATE, base.ADMIN, "Create a flavor.", [("POST", "/flavors")]),
    _rule(UPDATE, base.ADMIN, "Update a flavor's description (2.55).",
          [("PUT", "/flavors/{flavor_id}")]),
    _rule(DELETE, base.ADMIN, "Delete a flavor.", [("DELETE", "/flavors/{flavor_id}")]),
    _rule(EXTRA_SPECS_INDEX, base.PROJECT_READER_OR_ADMIN,
          "List a flavor's extra specs; from 2.61 also decides whether flavor views "
          "embed them.",
          [("GET", "/flavors/{flavor_id}/os-extra_specs"), ("POST", "/flavors"),
           ("GET", "/flavors/detail"), ("GET", "/flavors/{flavor_id}"),
           ("PUT", "/flavors/{flavor_id}")]),
    _rule(EXTRA_SPECS_SHOW, base.PROJECT_READER_OR_ADMIN, "Show one extra spec of a flavor.",
          [("GET", "/flavors/{flavor_id}/os-extra_specs/{flavor_extra_spec_key}")]),
    _rule(EXTRA_SPECS_CREATE, base.ADMIN, "Add or overwrite extra specs of a flavor.",
          [("POST", "/flavors/{flavor_id}/os-extra_specs")]),
    _rule(EXTRA_SPECS_UPDATE, base.ADMIN, "Update one extra spec of a flavor.",
          [("PUT", "/flavors/{flavor_id}/os-extra_specs/{flavor_extra_spec_key}")]),
    _rule(EXTRA_SPECS_DELETE, base.ADMIN, "Delete one extra spec of a flavor.",
          [("DELETE", "/flavors/{flavor_id}/os-extra_specs/{flavor_extra_spec_key}")]),
    _rule(ACCESS_LIST, base.ADMIN, "List the projects that may use a private flavor.",
          [("GET", "/flavors/{flavor_id}/os-flavor-access")]),
    _rule(ACCESS_ADD, base.ADMIN, "Give a project access to a private flavor.",
          [("POST", "/flavors/{flavor_id}/action (addTenantAccess)")]),
    _rule(ACCESS_REMOVE, base.ADMIN, "Take a project's access to a private flavor away.",
          [("POST", "/flavors/{flavor_id}/action (removeTenantAccess)")]),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
