"""Policies for /servers, the server actions novalite implements, and server locks.

Nova's current defaults (rule names included, so an operator's Nova policy.yaml keeps
working): readers of a project see its servers, members act on them (resize, confirm
and revert included), project managers may also cold and live migrate them, administrators
see every project's servers and the host fields and may name a migration's host.
Every server rule is checked against the server's own project; another project's
server is a 404 before any rule is asked.
"""

from __future__ import annotations

from oslo_policy import policy

from novalite.api.policies import base

SERVERS = "os_compute_api:servers:%s"
INDEX = SERVERS % "index"
DETAIL = SERVERS % "detail"
INDEX_ALL_TENANTS = SERVERS % "index:get_all_tenants"
DETAIL_ALL_TENANTS = SERVERS % "detail:get_all_tenants"
ALLOW_ALL_FILTERS = SERVERS % "allow_all_filters"
SHOW = SERVERS % "show"
SHOW_FLAVOR_EXTRA_SPECS = SERVERS % "show:flavor-extra-specs"
SHOW_HOST_STATUS = SERVERS % "show:host_status"
SHOW_HOST_STATUS_UNKNOWN_ONLY = SERVERS % "show:host_status:unknown-only"
CREATE = SERVERS % "create"
CREATE_FORCED_HOST = SERVERS % "create:forced_host"
CREATE_REQUESTED_DESTINATION = "compute:servers:create:requested_destination"
CREATE_ZERO_DISK_FLAVOR = SERVERS % "create:zero_disk_flavor"
UPDATE = SERVERS % "update"
DELETE = SERVERS % "delete"
START = SERVERS % "start"
STOP = SERVERS % "stop"
REBOOT = SERVERS % "reboot"
EXTENDED_ATTRIBUTES = "os_compute_api:os-extended-server-attributes"
LOCK = "os_compute_api:os-lock-server:lock"
UNLOCK = "os_compute_api:os-lock-server:unlock"
UNLOCK_OVERRIDE = "os_compute_api:os-lock-server:unlock:unlock_override"
RESIZE = SERVERS % "resize"
CONFIRM_RESIZE = SERVERS % "confirm_resize"
REVERT_RESIZE = SERVERS % "revert_resize"
MIGRATE = "os_compute_api:os-migrate-server:migrate"
MIGRATE_HOST = "os_compute_api:os-migrate-server:migrate:host"
MIGRATE_LIVE = "os_compute_api:os-migrate-server:migrate_live"
MIGRATE_LIVE_HOST = "os_compute_api:os-migrate-server:migrate_live:host"


def _rule(name: str, check: str, description: str, method: str, path: str,
          *more: tuple[str, str]) -> policy.DocumentedRuleDefault:
    operations = [{"method": method, "path": path}]
    operations += [{"method": m, "path": p} for m, p in more]
    return policy.DocumentedRuleDefault(name=name, check_str=check, description=description,
                                        operations=operations, scope_types=["project"])


_ACTION = "/servers/{server_id}/action (%s)"

rules = [
    _rule(INDEX, base.PROJECT_READER_OR_ADMIN, "List servers.", "GET", "/servers"),
    _rule(DETAIL, base.PROJECT_READER_OR_ADMIN, "List servers with details.",
          "GET", "/servers/detail"),
    _rule(INDEX_ALL_TENANTS, base.ADMIN, "List the servers of every project.",
          "GET", "/servers"),
    _rule(DETAIL_ALL_TENANTS, base.ADMIN, "List the servers of every project, with details.",
          "GET", "/servers/detail"),
    _rule(ALLOW_ALL_FILTERS, base.ADMIN,
          "Filter the server list by any filter; others may use the documented subset.",
          "GET", "/servers", ("GET", "/servers/detail")),
    _rule(SHOW, base.PROJECT_READER_OR_ADMIN, "Show a server.", "GET", "/servers/{server_id}"),
    _rule(SHOW_FLAVOR_EXTRA_SPECS, base.PROJECT_READER_OR_ADMIN,
          "From 2.47: include the flavor's extra specs in the embedded flavor of a server.",
          "GET", "/servers/{server_id}", ("GET", "/servers/detail"),
          ("PUT", "/servers/{server_id}")),
    _rule(SHOW_HOST_STATUS, base.ADMIN,
          "From 2.16: show host_status (UP, DOWN, MAINTENANCE, UNKNOWN) of a server's host.",
          "GET", "/servers/{server_id}", ("GET", "/servers/detail")),
    _rule(SHOW_HOST_STATUS_UNKNOWN_ONLY, base.ADMIN,
          "From 2.16: show host_status only when it is UNKNOWN (checked when "
          f"{SHOW_HOST_STATUS} does not pass).",
          "GET", "/servers/{server_id}", ("GET", "/servers/detail")),
    _rule(EXTENDED_ATTRIBUTES, base.ADMIN,
          "Show the OS-EXT-SRV-ATTR fields of servers (host, hypervisor, instance name...).",
          "GET", "/servers/{server_id}", ("GET", "/servers/detail"),
          ("PUT", "/servers/{server_id}")),
    _rule(CREATE, base.PROJECT_MEMBER_OR_ADMIN, "Create servers.", "POST", "/servers"),
    _rule(CREATE_FORCED_HOST, base.ADMIN,
          "Create a server on a named host with availability_zone 'zone:host[:node]', "
          "bypassing the scheduler filters.", "POST", "/servers"),
    _rule(CREATE_REQUESTED_DESTINATION, base.ADMIN,
          "From 2.74: create a server on a named host or hypervisor, checked by the "
          "scheduler.", "POST", "/servers"),
    _rule(CREATE_ZERO_DISK_FLAVOR, base.ADMIN,
          "Boot an image-backed server with a flavor whose root disk is 0 GiB.",
          "POST", "/servers"),
    _rule(UPDATE, base.PROJECT_MEMBER_OR_ADMIN, "Rename a server or change its description.",
          "PUT", "/servers/{server_id}"),
    _rule(DELETE, base.PROJECT_MEMBER_OR_ADMIN, "Delete a server.",
          "DELETE", "/servers/{server_id}"),
    _rule(START, base.PROJECT_MEMBER_OR_ADMIN, "Start a stopped server.",
          "POST", _ACTION % "os-start"),
    _rule(STOP, base.PROJECT_MEMBER_OR_ADMIN, "Stop a server.", "POST", _ACTION % "os-stop"),
    _rule(REBOOT, base.PROJECT_MEMBER_OR_ADMIN, "Reboot a server (soft or hard).",
          "POST", _ACTION % "reboot"),
    _rule(LOCK, base.PROJECT_MEMBER_OR_ADMIN,
          "Lock a server: only administrators may then act on it.", "POST", _ACTION % "lock"),
    _rule(UNLOCK, base.PROJECT_MEMBER_OR_ADMIN, "Unlock a server locked by its own project.",
          "POST", _ACTION % "unlock"),
    _rule(UNLOCK_OVERRIDE, base.ADMIN,
          "Unlock a server whatever locked it (an administrator's lock included).",
          "POST", _ACTION % "unlock"),
    _rule(RESIZE, base.PROJECT_MEMBER_OR_ADMIN, "Resize a server to another flavor.",
          "POST", _ACTION % "resize"),
    _rule(CONFIRM_RESIZE, base.PROJECT_MEMBER_OR_ADMIN,
          "Confirm a resize or cold migration (VERIFY_RESIZE).",
          "POST", _ACTION % "confirmResize"),
    _rule(REVERT_RESIZE, base.PROJECT_MEMBER_OR_ADMIN,
          "Revert a resize or cold migration (VERIFY_RESIZE) to the source host.",
          "POST", _ACTION % "revertResize"),
    _rule(MIGRATE, base.PROJECT_MANAGER_OR_ADMIN,
          "Cold migrate a server to a host the scheduler chooses (Nova 32.0.0 default: "
          "project managers or administrators).", "POST", _ACTION % "migrate"),
    _rule(MIGRATE_HOST, base.ADMIN,
          "From 2.56: cold migrate a server to a named host.", "POST", _ACTION % "migrate"),
    _rule(MIGRATE_LIVE, base.PROJECT_MANAGER_OR_ADMIN,
          "Live migrate a server to a host the scheduler chooses (Nova 32.0.0 default: "
          "project managers or administrators).", "POST", _ACTION % "os-migrateLive"),
    _rule(MIGRATE_LIVE_HOST, base.ADMIN,
          "Live migrate a server to a named host.", "POST", _ACTION % "os-migrateLive"),
]


def list_rules() -> list[policy.RuleDefault]:
    return rules
