"""/servers: create, list (with filters, sorting and paging), show, update, delete.

The logic lives in novalite.compute.api (checks, state changes, casts); this module
reads requests the way Nova reads them at each microversion and answers in Nova's
shape (see server_views for the representation).

Choices where Nova's behaviour depends on services novalite does not have:

* networks: novalite has no networking. "none", "auto" and [] are accepted and mean no
  ports; a list naming a network or a port is refused with Nova's 400 for an unknown
  network or port, since none exists.
* adminPass: returned on create, as Nova does by default
  ([api] enable_instance_password=True), though no guest agent ever sets it.
* key_name, user_data, config_drive, accessIPv4/6, OS-DCF:diskConfig: recorded and
  shown back; personality (before 2.57) is accepted and ignored; block device mappings
  are refused (image boot only).
* ip/ip6 filters match nothing (servers have no addresses); tags filters behave as for
  servers without tags.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import urllib.parse
from typing import Any

import webob
import webob.exc

from novalite import exception, states
from novalite.api import microversion, policy, util
from novalite.api.handlers import server_views as views
from novalite.api.policies import servers as server_policies
from novalite.api.schemas import servers as schemas
from novalite.compute import api as compute_api
from novalite.conf import CONF
from novalite.db import api as db

COMPUTE_API = compute_api.API()

# Nova's [api] max_limit: the largest page, and the page size when none is asked.
MAX_LIMIT = 1000

# Every status Nova knows. Those novalite never produces (PAUSED is produced) filter
# to nothing rather than being refused.
NOVA_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "PASSWORD",
                 "PAUSED", "SUSPENDED", "RESCUE", "SHELVED", "SHELVED_OFFLOADED", "SHUTOFF",
                 "SOFT_DELETED", "DELETED", "ERROR", "MIGRATING", "RESIZE", "VERIFY_RESIZE",
                 "REVERT_RESIZE", "UNKNOWN")

# Filters any caller may use (Nova's list per microversion); others need the
# allow_all_filters policy and are dropped silently otherwise, as in Nova.
_USER_FILTERS = ("reservation_id", "name", "status", "image", "flavor", "ip", "changes-since",
                 "all_tenants")
_USER_FILTERS_BY_VERSION = (
    ("2.5", ("ip6",)),
    ("2.26", schemas.QUERY_V226_KEYS),
    ("2.66", ("changes-before",)),
    ("2.73", ("locked",)),
    ("2.83", ("availability_zone", "config_drive", "key_name", "created_at", "launched_at",
              "terminated_at", "power_state", "task_state", "vm_state", "progress",
              "user_id")),
)
_PAGING_AND_SORTING = ("limit", "marker", "sort_key", "sort_dir")
# Filters compared for equality: query parameter → instances column.
_EXACT_FILTERS = {"user_id": "user_id", "host": "host", "node": "node",
                  "availability_zone": "availability_zone", "reservation_id": "reservation_id",
                  "key_name": "key_name", "hostname": "hostname", "uuid": "uuid"}
_INT_FILTERS = ("power_state", "progress", "launch_index")
_TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
_FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")


class _NothingMatches(Exception):
    """A filter no server can satisfy: answer an empty list without asking the DB."""


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, list) else value


def _all(value: Any) -> list:
    return list(value) if isinstance(value, list) else [value]


def _bool(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE_STRINGS:
        return True
    if text in _FALSE_STRINGS:
        return False
    raise exception.ValidationError(
        message=f"Invalid value '{value}' for {name}: use one of "
                f"{', '.join(_TRUE_STRINGS + _FALSE_STRINGS)}.")


def parse_time(name: str, value: str) -> datetime.datetime:
    """An ISO 8601 time as naive UTC (how times are stored)."""
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        raise exception.ValidationError(
            message=f"Invalid filter field: {name}. '{value}' is not an ISO 8601 "
                    "date-time.") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment


def target_of(row: Any) -> dict[str, Any]:
    """The policy target of a server: its own project and user."""
    return {"project_id": row.project_id, "user_id": row.user_id}


def get_server(req: util.Request, read_deleted: bool = False) -> Any:
    """The server named in the URL; 404 when missing, malformed, or another project's."""
    return COMPUTE_API.get(req.context, req.urlvars["server_id"], read_deleted=read_deleted)


def server_policy(req: util.Request, rule: str) -> compute_api.Authorize:
    """`rule` for the caller on a server, for the compute API to check on the server it
    reads (so 404 first, then 403) within the read transaction of its other checks."""
    return lambda row: policy.authorize(req.context, rule, target_of(row))


# -- list ------------------------------------------------------------------------------

@util.read_only
def list_servers(req: util.Request) -> webob.Response:
    """GET /servers: id, name and links of each server."""
    return _list(req, detail=False)


@util.read_only
def list_servers_detail(req: util.Request) -> webob.Response:
    """GET /servers/detail: the full view of each server."""
    return _list(req, detail=True)


def _list(req: util.Request, detail: bool) -> webob.Response:
    ctx = req.context
    policy.authorize(ctx, server_policies.DETAIL if detail else server_policies.INDEX)
    params = util.validate_query(req, schemas.index_query(str(req.api_version)))
    limit = min(int(_last(params["limit"])), MAX_LIMIT) if "limit" in params else MAX_LIMIT
    marker = _last(params["marker"]) if "marker" in params else None
    try:
        filters = _filters(req, params, detail)
        sort_keys, sort_dirs = _sorting(req, params)
        rows = COMPUTE_API.get_all(ctx, filters, limit=limit, marker=marker,
                                   sort_keys=sort_keys, sort_dirs=sort_dirs)
    except _NothingMatches:
        rows = []
    if detail:
        vctx = views.ViewContext.build(req, rows)
        servers = [views.show(vctx, row) for row in rows]
    else:
        request_links = views.Links.of(req)
        servers = [views.basic(req, row, request_links) for row in rows]
    body: dict[str, Any] = {"servers": servers}
    if limit and len(rows) == limit:
        body["servers_links"] = [_next_link(req, "servers/detail" if detail else "servers",
                                            rows[-1].uuid)]
    return util.json_response(body)


def _next_link(req: util.Request, collection: str, marker: str) -> dict[str, str]:
    params = [(k, v) for k, v in req.GET.items() if k != "marker"] + [("marker", marker)]
    query = urllib.parse.urlencode(params)
    prefix = views._project_prefix(req)  # noqa: SLF001 - the same link rules as views
    return util.link(req, f"v2.1/{prefix}{collection}?{query}", rel="next")


def _allowed_filters(req: util.Request) -> set[str] | None:
    """The filter names this caller may use; None means all of them."""
    if policy.check(req.context, server_policies.ALLOW_ALL_FILTERS):
        return None
    allowed = set(_USER_FILTERS) | set(_PAGING_AND_SORTING)
    for version, names in _USER_FILTERS_BY_VERSION:
        if microversion.version_at_least(req, version):
            allowed.update(names)
    return allowed


def _all_tenants(params: dict[str, Any]) -> bool:
    if "all_tenants" not in params:
        return False
    value = _last(params["all_tenants"])
    # A bare ?all_tenants (empty value) turns it on, as in Nova.
    return True if value == "" else _bool("all_tenants", value)


def _filters(req: util.Request, params: dict[str, Any], detail: bool) -> dict[str, Any]:
    """Nova's search options → db.instance_get_all_by_filters filters."""
    ctx = req.context
    allowed = _allowed_filters(req)
    if allowed is not None:
        params = {k: v for k, v in params.items() if k in allowed}
    filters: dict[str, Any] = {}
    if _all_tenants(params):
        policy.authorize(ctx, server_policies.DETAIL_ALL_TENANTS if detail
                         else server_policies.INDEX_ALL_TENANTS)
        project = params.get("project_id") or params.get("tenant_id")
        if project is not None:
            filters["project_id"] = _last(project)
    elif ctx.project_id:
        filters["project_id"] = ctx.project_id
    else:
        filters["user_id"] = ctx.user_id
    deleted: bool | None = False
    if "status" in params:
        pairs, wants_deleted = _status_pairs(req, _all(params["status"]))
        filters["states"] = pairs
        if wants_deleted:
            deleted = None
    for name in ("changes-since", "changes-before"):
        if name in params:
            filters[name.replace("-", "_")] = parse_time(name, _last(params[name]))
            deleted = None  # changes include deletions, as in Nova
    since, before = filters.get("changes_since"), filters.get("changes_before")
    if since is not None and before is not None and since > before:
        raise exception.ValidationError(
            message="The value of changes-since must be less than or equal to "
                    "changes-before.")
    if "deleted" in params:
        deleted = _bool("deleted", _last(params["deleted"]))
        if not ctx.is_admin and deleted:
            raise exception.Forbidden(message="Only administrators may list deleted "
                                              "instances")
    filters["deleted"] = deleted
    name = params.get("name", params.get("display_name"))
    if name is not None:
        filters["name"] = _regex("name", _last(name))
    if "image" in params or "image_ref" in params:
        filters["image_ref"] = compute_api.id_from_ref(
            _last(params.get("image", params.get("image_ref"))))
    if "flavor" in params:
        filters["flavorid"] = compute_api.id_from_ref(_last(params["flavor"]))
    for param, column in _EXACT_FILTERS.items():
        # (A caller without a project is scoped by user_id; that is never overridden.)
        if param in params and column not in filters:
            filters[column] = _all(params[param]) if param == "uuid" else _last(params[param])
    for param in ("vm_state", "task_state"):
        if param in params:
            filters[param] = _all(params[param])
    for param in _INT_FILTERS:
        if param in params:
            filters[param] = _int(param, _last(params[param]))
    if "locked" in params:
        filters["locked"] = _bool("locked", _last(params["locked"]))
    # Servers have no addresses and no tags: these filters can only match nothing.
    if any(key in params for key in ("ip", "ip6", "tags", "tags-any")):
        raise _NothingMatches()
    return filters


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise exception.ValidationError(
            message=f"Invalid filter field: {name}. '{value}' is not an integer.") from None


def _regex(name: str, value: str) -> str:
    try:
        re.compile(value)
    except re.error as err:
        raise exception.ValidationError(
            message=f"Invalid filter field: {name}. Invalid regular expression: "
                    f"{err}") from None
    return value


def _status_pairs(req: util.Request,
                  statuses: list[str]) -> tuple[list[tuple[str, str | None]], bool]:
    """(vm_state, task_state) pairs whose API status is one of `statuses`, and whether
    deleted servers are asked for (administrators only, 403 otherwise)."""
    wanted = {status.strip().upper() for status in statuses}
    unknown = wanted - set(NOVA_STATUSES)
    if unknown and not wanted & set(NOVA_STATUSES):
        if microversion.version_at_least(req, "2.38"):
            raise exception.ValidationError(message="Invalid status value")
        raise _NothingMatches()
    pairs = [(vm.value, task.value if task is not None else None)
             for vm in states.VmState for task in (None, *states.TaskState)
             if states.api_status(vm, task) in wanted]
    wants_deleted = "DELETED" in wanted
    if wants_deleted and not req.context.is_admin:
        raise exception.Forbidden(message="Only administrators may list deleted instances")
    if not pairs:
        raise _NothingMatches()
    return pairs, wants_deleted


def _sorting(req: util.Request, params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Nova's sort parameters: ignored keys (and host/node for non-administrators)
    dropped with their directions; more directions than keys is a 400."""
    keys = _all(params["sort_key"]) if "sort_key" in params else []
    dirs = _all(params["sort_dir"]) if "sort_dir" in params else []
    if len(dirs) > len(keys) and keys:
        raise exception.ValidationError(
            message="Sort direction size exceeds sort key size")
    usable = set(db.INSTANCE_SORT_COLUMNS) - {"id"}
    if not microversion.version_at_least(req, "2.73"):
        usable.discard("locked")
    if not policy.check(req.context, server_policies.ALLOW_ALL_FILTERS):
        usable -= {"host", "node"}
    kept_keys, kept_dirs = [], []
    for index, key in enumerate(keys):
        if key in usable:
            kept_keys.append(key)
            if index < len(dirs):
                kept_dirs.append(dirs[index])
    if not keys:
        kept_dirs = dirs[:1]
    if not kept_keys:
        return ["created_at"], kept_dirs[:1] or ["desc"]
    return kept_keys, kept_dirs


# -- show, update, delete --------------------------------------------------------------

@util.read_only
def show_server(req: util.Request) -> webob.Response:
    """GET /servers/{server_id}."""
    row = get_server(req)
    policy.authorize(req.context, server_policies.SHOW, target_of(row))
    vctx = views.ViewContext.build(req, [row])
    return util.json_response({"server": views.show(vctx, row, server_groups=True)})


def update_server(req: util.Request) -> webob.Response:
    """PUT /servers/{server_id}: name, description (2.19), hostname (2.90), access
    addresses and disk config."""
    ctx = req.context
    body = util.read_json_body(req, schemas.update(str(req.api_version)))["server"]
    row = get_server(req)
    policy.authorize(ctx, server_policies.UPDATE, target_of(row))
    values: dict[str, Any] = {}
    for field, column in (("name", "name"), ("description", "description"),
                          ("hostname", "hostname")):
        if field in body:
            values[column] = body[field]
    sysmeta = _sysmeta_from(body)
    if sysmeta:
        values["system_metadata"] = sysmeta
    row = COMPUTE_API.update(ctx, row.uuid, values, instance=row)
    vctx = views.ViewContext.build(req, [row])
    return util.json_response({"server": views.update(vctx, row)})


def delete_server(req: util.Request) -> webob.Response:
    """DELETE /servers/{server_id}: 204; the server disappears once its host (or the
    API, when the host is down or there is none) has deleted it."""
    COMPUTE_API.delete(req.context, req.urlvars["server_id"],
                       authorize=server_policy(req, server_policies.DELETE))
    return util.empty_response(204)


def _sysmeta_from(server: dict[str, Any]) -> dict[str, Any]:
    """Fields novalite keeps in system_metadata only to show them back."""
    sysmeta: dict[str, Any] = {}
    if "accessIPv4" in server:
        sysmeta["access_ip_v4"] = server["accessIPv4"]
    if "accessIPv6" in server:
        sysmeta["access_ip_v6"] = server["accessIPv6"]
    if "OS-DCF:diskConfig" in server:
        sysmeta["auto_disk_config"] = server["OS-DCF:diskConfig"] == "AUTO"
    if "config_drive" in server:
        sysmeta["config_drive"] = _body_bool(server["config_drive"])
    return sysmeta


def _body_bool(value: bool | str) -> bool:
    return value if isinstance(value, bool) else value.strip().lower() in _TRUE_STRINGS


# -- create ----------------------------------------------------------------------------

def create_server(req: util.Request) -> webob.Response:
    """POST /servers: 202 with {"server": {id, links, OS-DCF:diskConfig,
    security_groups, adminPass}} and a Location header, or {"reservation_id"} when
    return_reservation_id is true."""
    ctx = req.context
    policy.authorize(ctx, server_policies.CREATE)
    version = str(req.api_version)
    body = util.read_json_body(req, schemas.create(version))
    server = body["server"]
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if server.get("block_device_mapping") or server.get("block_device_mapping_v2"):
        raise exception.ValidationError(
            message="Invalid input for field/attribute block_device_mapping: novalite boots "
                    "servers from images only; block device mappings are not supported.")
    _check_networks(server.get("networks"))
    user_data = server.get("user_data")
    if user_data is not None:
        _check_base64(user_data)
    min_count = int(server.get("min_count", 1))
    max_count = int(server.get("max_count", min_count))
    if min_count > max_count:
        raise exception.ValidationError(message="min_count must be <= max_count")
    if server.get("hostname") and max_count > 1:
        raise exception.ValidationError(
            message="Cannot set the hostname of several servers created at once.")
    zone, requested_host = _placement(req, server)
    try:
        rows = COMPUTE_API.create(
            ctx, name=server["name"], flavor_ref=server["flavorRef"],
            image_ref=server["imageRef"], availability_zone=zone,
            metadata=server.get("metadata"), min_count=min_count, max_count=max_count,
            scheduler_hints=hints, description=server.get("description"),
            key_name=server.get("key_name"), user_data=user_data,
            hostname=server.get("hostname"), requested_host=requested_host,
            system_metadata=_sysmeta_from(server),
            allow_zero_disk=policy.check(ctx, server_policies.CREATE_ZERO_DISK_FLAVOR))
    except exception.FlavorNotFound:
        raise webob.exc.HTTPBadRequest(explanation="Invalid flavorRef provided.") from None
    except exception.ImageNotFound:
        raise webob.exc.HTTPBadRequest(
            explanation=f"Can not find requested image: imageRef "
                        f"{server['imageRef']} does not exist.") from None
    if server.get("return_reservation_id") is not None and _body_bool(
            server["return_reservation_id"]):
        return util.json_response({"reservation_id": rows[0].reservation_id}, status=202)
    admin_pass = server.get("adminPass") or compute_api.generate_password()
    view = views.create(req, rows[0], admin_pass,
                        server.get("security_groups", [{"name": "default"}]))
    response = util.json_response({"server": view}, status=202)
    response.headers["Location"] = view["links"][0]["href"]
    return response


def _check_networks(networks: Any) -> None:
    """No networking: "none", "auto" and [] are fine; naming a network or port is not."""
    if not isinstance(networks, list):
        return
    for network in networks:
        if network.get("port"):
            raise exception.ValidationError(
                message=f"Invalid input for field/attribute networks: port "
                        f"{network['port']} could not be found (novalite has no networking).")
        if network.get("uuid"):
            raise exception.ValidationError(
                message=f"Invalid input for field/attribute networks: network "
                        f"{network['uuid']} could not be found (novalite has no "
                        f"networking).")
        if network.get("fixed_ip"):
            raise exception.ValidationError(
                message="Invalid input for field/attribute networks: fixed_ip needs a "
                        "network, and novalite has no networking.")


def _check_base64(value: str) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise exception.ValidationError(
            message="Invalid input for field/attribute user_data. Value: the user data "
                    "is not valid base64.") from None


def _placement(req: util.Request, server: dict[str, Any]) -> tuple[str | None, str | None]:
    """(availability zone, requested host) from availability_zone ("zone",
    "zone:host" or "zone:host:node", admins only for a host) and, from 2.74, host /
    hypervisor_hostname (admins only). A named zone must exist; a named host too."""
    ctx = req.context
    zone = server.get("availability_zone")
    host: str | None = None
    node: str | None = None
    if zone and ":" in zone:
        zone, _, rest = zone.partition(":")
        host, _, node = rest.partition(":")
        policy.authorize(ctx, server_policies.CREATE_FORCED_HOST)
    if "host" in server or "hypervisor_hostname" in server:
        policy.authorize(ctx, server_policies.CREATE_REQUESTED_DESTINATION)
        host = server.get("host") or host
        node = server.get("hypervisor_hostname") or node
    zone = zone or None
    if zone is not None:
        # The zones alone, not every compute node as a row.
        zones = {found or CONF.default_availability_zone
                 for found in db.compute_node_zones(ctx)}
        if zone not in zones:
            raise exception.ValidationError(
                message=f"The requested availability zone is not available: {zone}")
    nodes = db.compute_node_get_all(ctx, hosts=[host] if host else None) if (
        host or node) else []
    if node:
        matching = [n for n in nodes if n.hypervisor_hostname == node
                    and (not host or n.host == host)]
        if not matching:
            raise exception.ValidationError(
                message=f"Compute host {host or ''} with hypervisor {node} could not be "
                        "found.")
        host = matching[0].host
    elif host and not nodes:
        raise exception.ValidationError(message=f"Compute host {host} could not be found.")
    return zone, host or None
