"""/os-hypervisors: the compute nodes, their capacity and what is allocated on them.

Administrators only. A node's state and status come from the compute service on its
host; the used amounts come from the allocations table (db.compute_node_usage), plus
the host's reservations as Nova's resource tracker counts them.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid as uuidlib
from typing import Any

import webob
import webob.exc

from novalite import exception, servicegroup
from novalite.api import microversion, policy, util
from novalite.api.handlers.services import COMPUTE_BINARY
from novalite.api.policies import hypervisors as hv_policies
from novalite.api.schemas import hypervisors as schemas
from novalite.db import api as db

# Nova's [api] max_limit: the largest page, and the page size when none is asked.
MAX_LIMIT = 1000


def _compute_services(ctx: Any) -> dict[str, Any]:
    return {row.host: row for row in db.service_get_all(ctx, binary=COMPUTE_BINARY)}


def _uuid_ids(req: util.Request) -> bool:
    return microversion.version_at_least(req, "2.53")


def _node_id(req: util.Request, node: Any) -> int | str:
    return node.uuid if _uuid_ids(req) else node.id


def _cpu_info(req: util.Request, node: Any) -> Any:
    raw = node.cpu_info or "{}"
    if not microversion.version_at_least(req, "2.28"):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _resources(node: Any, used: dict[str, int]) -> dict[str, Any]:
    """The capacity fields Nova shows up to 2.87."""
    vcpus_used = used.get("vcpus", 0)
    memory_mb_used = used.get("memory_mb", 0) + (node.reserved_host_memory_mb or 0)
    local_gb_used = used.get("disk_gb", 0) + (node.reserved_host_disk_mb or 0) // 1024
    free_disk_gb = node.local_gb - local_gb_used
    return {
        "vcpus": node.vcpus,
        "memory_mb": node.memory_mb,
        "local_gb": node.local_gb,
        "vcpus_used": vcpus_used,
        "memory_mb_used": memory_mb_used,
        "local_gb_used": local_gb_used,
        "free_ram_mb": node.memory_mb - memory_mb_used,
        "free_disk_gb": free_disk_gb,
        "current_workload": 0,
        "running_vms": used.get("instances", 0),
        "disk_available_least": (node.disk_available_least
                                 if node.disk_available_least is not None else free_disk_gb),
    }


def hypervisor_view(req: util.Request, node: Any, service: Any, usage: dict | None,
                    detail: bool) -> dict[str, Any]:
    """One hypervisor as Nova shows it at the request's version (index or detail)."""
    view: dict[str, Any] = {
        "id": _node_id(req, node),
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if servicegroup.is_up(service) else "down",
        "status": "disabled" if service.disabled else "enabled",
    }
    if not detail:
        return view
    if not microversion.version_at_least(req, "2.88"):
        view.update(_resources(node, (usage or {}).get(node.id, {})))
        view["cpu_info"] = _cpu_info(req, node)
    view.update({
        "hypervisor_type": node.hypervisor_type,
        "hypervisor_version": node.hypervisor_version,
        "host_ip": node.host_ip,
        "service": {
            "id": service.uuid if _uuid_ids(req) else service.id,
            "host": service.host,
            "disabled_reason": service.disabled_reason,
        },
    })
    return view


def _with_services(ctx: Any, nodes: list) -> list[tuple[Any, Any]]:
    """(node, compute service) pairs; nodes whose service is gone are left out, as Nova
    does."""
    services = _compute_services(ctx)
    return [(node, services[node.host]) for node in nodes if node.host in services]


def _all_pairs(ctx: Any) -> list[tuple[Any, Any]]:
    """Every node with its service, in id order (the paging order)."""
    return _with_services(ctx, sorted(db.compute_node_get_all(ctx), key=lambda n: n.id))


def _wants_servers(req: util.Request, params: dict[str, Any]) -> bool:
    return (microversion.version_at_least(req, "2.53")
            and util.parse_bool(params.get("with_servers", "false")))


def _add_servers(req: util.Request, view: dict[str, Any], node: Any) -> None:
    """`servers` of a node for with_servers=true: its host's instances that run on it.

    Before 2.75 the key is left out when there are none, as in Nova.
    """
    servers = [{"name": inst.name, "uuid": inst.uuid}
               for inst in db.instance_get_all(req.context, host=node.host)
               if inst.node in (None, node.hypervisor_hostname)]
    if servers or microversion.version_at_least(req, "2.75"):
        view["servers"] = servers


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, list) else value


def _query(req: util.Request) -> dict[str, Any]:
    if microversion.version_at_least(req, "2.53"):
        schema = schemas.index_query_v253
    elif microversion.version_at_least(req, "2.33"):
        schema = schemas.index_query_v233
    else:
        schema = schemas.index_query
    return util.validate_query(req, schema)


def _filter_and_page(req: util.Request, pairs: list[tuple[Any, Any]],
                     params: dict[str, Any]) -> tuple[list[tuple[Any, Any]], int]:
    """(node, service) pairs after the hostname pattern, marker and limit; and the page
    size used."""
    paging = microversion.version_at_least(req, "2.33")
    pattern = (params.get("hypervisor_hostname_pattern")
               if microversion.version_at_least(req, "2.53") else None)
    marker = _last(params.get("marker")) if paging else None
    limit_text = _last(params.get("limit")) if paging else None
    if pattern is not None:
        if marker is not None or limit_text is not None:
            raise webob.exc.HTTPBadRequest(
                explanation="Paging over hypervisors with the hypervisor_hostname_pattern "
                "query parameter is not supported.")
        pairs = _matching(pairs, pattern)
    if marker is not None:
        ids = [str(_node_id(req, node)) for node, _service in pairs]
        if marker not in ids:
            raise webob.exc.HTTPBadRequest(explanation=f"marker [{marker}] not found")
        pairs = pairs[ids.index(marker) + 1:]
    limit = min(int(limit_text), MAX_LIMIT) if limit_text is not None else MAX_LIMIT
    return pairs[:limit], limit


def _matching(pairs: list[tuple[Any, Any]], pattern: str) -> list[tuple[Any, Any]]:
    """Nodes whose hostname contains the pattern (Nova's SQL LIKE '%pattern%'); 404 when
    none does."""
    found = [(node, service) for node, service in pairs
             if pattern.lower() in node.hypervisor_hostname.lower()]
    if not found:
        raise webob.exc.HTTPNotFound(
            explanation=f"No hypervisor matching '{pattern}' could be found.")
    return found


def _next_link(req: util.Request, page: list[dict], limit: int) -> list[dict[str, str]]:
    """Nova's `hypervisors_links`: a `next` link when the page is full."""
    if not limit or len(page) != limit:
        return []
    params = dict(util.query_params(req))
    params["limit"] = str(limit)
    params["marker"] = str(page[-1]["id"])
    query = urllib.parse.urlencode(params, doseq=True)
    return [util.link(req, f"{req.path_info.lstrip('/')}?{query}", rel="next")]


def _list(req: util.Request, detail: bool) -> webob.Response:
    ctx = req.context
    policy.authorize(ctx, hv_policies.LIST_DETAIL if detail else hv_policies.LIST)
    params = _query(req)
    pairs, limit = _filter_and_page(req, _all_pairs(ctx), params)
    usage = db.compute_node_usage(ctx) if detail else None
    page = []
    for node, service in pairs:
        view = hypervisor_view(req, node, service, usage, detail)
        if _wants_servers(req, params):
            _add_servers(req, view, node)
        page.append(view)
    body: dict[str, Any] = {"hypervisors": page}
    if microversion.version_at_least(req, "2.33"):
        links = _next_link(req, page, limit)
        if links:
            body["hypervisors_links"] = links
    return util.json_response(body)


def list_hypervisors(req: util.Request) -> webob.Response:
    """GET /os-hypervisors: id, hostname, state and status of each node."""
    return _list(req, detail=False)


def list_hypervisors_detail(req: util.Request) -> webob.Response:
    """GET /os-hypervisors/detail: every field of each node."""
    return _list(req, detail=True)


def _get_node(req: util.Request, hypervisor_id: str) -> Any:
    not_found = webob.exc.HTTPNotFound(
        explanation=f"Hypervisor with ID '{hypervisor_id}' could not be found.")
    if _uuid_ids(req):
        try:
            uuidlib.UUID(hypervisor_id)
        except ValueError:
            raise webob.exc.HTTPBadRequest(
                explanation=f"Invalid uuid {hypervisor_id}") from None
        key: int | str = hypervisor_id
    else:
        try:
            key = int(hypervisor_id)
        except ValueError:
            raise not_found from None
    try:
        return db.compute_node_get(req.context, key)
    except exception.ComputeNodeNotFound:
        raise not_found from None


def show_hypervisor(req: util.Request) -> webob.Response:
    """GET /os-hypervisors/{hypervisor_id}."""
    ctx = req.context
    policy.authorize(ctx, hv_policies.SHOW)
    params: dict[str, Any] = {}
    if microversion.version_at_least(req, "2.53"):
        params = util.validate_query(req, schemas.show_query_v253)
    hypervisor_id = req.urlvars["hypervisor_id"]
    node = _get_node(req, hypervisor_id)
    pairs = _with_services(ctx, [node])
    if not pairs:
        raise webob.exc.HTTPNotFound(
            explanation=f"Compute host {node.host} could not be found.")
    usage = None if microversion.version_at_least(req, "2.88") else db.compute_node_usage(ctx)
    view = hypervisor_view(req, node, pairs[0][1], usage, detail=True)
    if microversion.version_at_least(req, "2.88"):
        # Nova asks the compute host over RPC and shows null when it cannot answer;
        # novalite does not ask yet.
        view["uptime"] = None
    if _wants_servers(req, params):
        _add_servers(req, view, node)
    return util.json_response({"hypervisor": view})


@microversion.available(max_version="2.87")
def statistics(req: util.Request) -> webob.Response:
    """GET /os-hypervisors/statistics (until 2.87): the sums over all nodes."""
    ctx = req.context
    policy.authorize(ctx, hv_policies.STATISTICS)
    usage = db.compute_node_usage(ctx)
    keys = ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
            "local_gb_used", "free_ram_mb", "free_disk_gb", "current_workload",
            "running_vms", "disk_available_least")
    totals = dict.fromkeys(keys, 0)
    pairs = _all_pairs(ctx)
    for node, _service in pairs:
        resources = _resources(node, usage.get(node.id, {}))
        for key in keys:
            totals[key] += resources[key]
    totals["count"] = len(pairs)
    return util.json_response({"hypervisor_statistics": totals})


@microversion.available(max_version="2.52")
def search(req: util.Request) -> webob.Response:
    """GET /os-hypervisors/{pattern}/search (until 2.52)."""
    ctx = req.context
    policy.authorize(ctx, hv_policies.SEARCH)
    pattern = req.urlvars["hypervisor_hostname_pattern"]
    page = [hypervisor_view(req, node, service, None, detail=False)
            for node, service in _matching(_all_pairs(ctx), pattern)]
    return util.json_response({"hypervisors": page})
