"""/os-services: list the services and enable, disable or force down compute services.

Administrators only. Before 2.53 a service is addressed by (host, binary) in the body of
PUT /os-services/{enable,disable,disable-log-reason,force-down}; from 2.53 by its uuid
in PUT /os-services/{uuid}.
"""

from __future__ import annotations

import datetime
import uuid as uuidlib
from typing import Any

import webob
import webob.exc

from novalite import exception, servicegroup, states
from novalite.api import microversion, policy, util
from novalite.api.policies import services as service_policies
from novalite.api.schemas import services as schemas
from novalite.conf import CONF
from novalite.db import api as db

COMPUTE_BINARY = "novalite-compute"
# The zone of compute services (no host aggregates yet) and of every other service.
INTERNAL_AVAILABILITY_ZONE = "internal"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def format_time(value: datetime.datetime | None) -> str | None:
    """Nova's timestamp format in these views (naive UTC, microseconds)."""
    return value.strftime(TIME_FORMAT) if value is not None else None


def host_zones(ctx: Any) -> dict[str, str]:
    """{compute host: the zone its nodes report}, for hosts that report one."""
    zones: dict[str, str] = {}
    for node in db.compute_node_get_all(ctx):
        zone = getattr(node, "availability_zone", None)
        if zone:
            zones.setdefault(node.host, zone)
    return zones


def zone_of(service: Any, zones: dict[str, str]) -> str:
    """The availability zone of a service, given host_zones()."""
    if service.binary == COMPUTE_BINARY:
        return zones.get(service.host) or CONF.default_availability_zone
    return INTERNAL_AVAILABILITY_ZONE


def service_view(req: util.Request, service: Any, zones: dict[str, str]) -> dict[str, Any]:
    """One service as Nova shows it at the request's version."""
    view = {
        "id": service.uuid if microversion.version_at_least(req, "2.53") else service.id,
        "binary": service.binary,
        "host": service.host,
        "zone": zone_of(service, zones),
        "status": "disabled" if service.disabled else "enabled",
        "state": "up" if servicegroup.is_up(service) else "down",
        "updated_at": format_time(service.updated_at or service.last_seen_up),
        "disabled_reason": service.disabled_reason,
    }
    if microversion.version_at_least(req, "2.11"):
        view["forced_down"] = bool(service.forced_down)
    return view


def list_services(req: util.Request) -> webob.Response:
    """GET /os-services[?host=&binary=]."""
    ctx = req.context
    policy.authorize(ctx, service_policies.LIST)
    util.validate_query(req, schemas.index_query)
    rows = db.service_get_all(ctx, host=req.GET.get("host"), binary=req.GET.get("binary"))
    # Unlike Nova, API services are listed too: operators see whether each API heartbeats.
    rows = sorted(rows, key=lambda row: row.id)
    zones = host_zones(ctx)
    return util.json_response({"services": [service_view(req, row, zones) for row in rows]})


def _lookup(req: util.Request, service_id: str) -> Any:
    """The service named in the URL: a uuid from 2.53, an integer id before."""
    ctx = req.context
    if microversion.version_at_least(req, "2.53"):
        try:
            uuidlib.UUID(service_id)
        except ValueError:
            raise webob.exc.HTTPBadRequest(explanation=f"Invalid uuid {service_id}") from None
        key: int | str = service_id
    else:
        try:
            key = int(service_id)
        except ValueError:
            raise webob.exc.HTTPBadRequest(
                explanation=f"Invalid service id {service_id}") from None
    try:
        return db.service_get(ctx, key)
    except exception.ServiceNotFound:
        raise webob.exc.HTTPNotFound(
            explanation=f"Service {service_id} could not be found.") from None


def update_service(req: util.Request) -> webob.Response:
    """PUT /os-services/{service_id}: the 2.53 form, or a legacy action before 2.53."""
    policy.authorize(req.context, service_policies.UPDATE)
    service_id = req.urlvars["service_id"]
    if microversion.version_at_least(req, "2.53"):
        return _update_v253(req, service_id)
    return _update_legacy(req, service_id)


def _update_v253(req: util.Request, service_id: str) -> webob.Response:
    body = util.read_json_body(req, schemas.update_v253)
    service = _lookup(req, service_id)
    if service.binary != COMPUTE_BINARY:
        raise webob.exc.HTTPBadRequest(
            explanation=f"Updating a {service.binary} service is not supported. Only "
            f"{COMPUTE_BINARY} services can be updated.")
    if "disabled_reason" in body and body.get("status") != "disabled":
        raise webob.exc.HTTPBadRequest(
            explanation="Specifying a disabled reason is not supported unless disabling "
            "a service.")
    if "status" not in body and "forced_down" not in body:
        raise webob.exc.HTTPBadRequest(
            explanation="No updates were requested. Fields 'status' or 'forced_down' "
            "should be specified.")
    values: dict[str, Any] = {}
    if body.get("status") == "enabled":
        values.update(disabled=False, disabled_reason=None)
    elif body.get("status") == "disabled":
        values.update(disabled=True, disabled_reason=body.get("disabled_reason"))
    if "forced_down" in body:
        values["forced_down"] = body["forced_down"]
    updated = db.service_update(req.context, service.id, values)
    return util.json_response({"service": service_view(req, updated,
                                                       host_zones(req.context))})


def _legacy_actions(req: util.Request) -> set[str]:
    actions = {"enable", "disable", "disable-log-reason"}
    if microversion.version_at_least(req, "2.11"):
        actions.add("force-down")
    return actions


def _update_legacy(req: util.Request, action: str) -> webob.Response:
    if action not in _legacy_actions(req):
        raise webob.exc.HTTPNotFound(explanation="Unknown action")
    schema = (schemas.legacy_update_v211 if microversion.version_at_least(req, "2.11")
              else schemas.legacy_update)
    body = util.read_json_body(req, schema)
    host, binary = body["host"], body["binary"]
    result: dict[str, Any] = {"host": host, "binary": binary}
    if action == "enable":
        values: dict[str, Any] = {"disabled": False, "disabled_reason": None}
        result["status"] = "enabled"
    elif action == "disable":
        values = {"disabled": True}
        result["status"] = "disabled"
    elif action == "disable-log-reason":
        if "disabled_reason" not in body:
            raise webob.exc.HTTPBadRequest(explanation="Missing disabled reason field")
        values = {"disabled": True, "disabled_reason": body["disabled_reason"]}
        result.update(status="disabled", disabled_reason=body["disabled_reason"])
    else:  # force-down
        if "forced_down" not in body:
            raise webob.exc.HTTPBadRequest(explanation="Missing forced_down field")
        values = {"forced_down": body["forced_down"]}
        result["forced_down"] = body["forced_down"]
    rows = db.service_get_all(req.context, host=host, binary=binary)
    if not rows:
        raise webob.exc.HTTPNotFound(
            explanation=f"Compute host {host} with binary {binary} could not be found.")
    db.service_update(req.context, rows[0].id, values)
    return util.json_response({"service": result})


def delete_service(req: util.Request) -> webob.Response:
    """DELETE /os-services/{service_id}: refused (409) while a compute service still
    has instances or unfinished migrations, as in Nova; its compute nodes go with it."""
    ctx = req.context
    policy.authorize(ctx, service_policies.DELETE)
    service = _lookup(req, req.urlvars["service_id"])
    if service.binary == COMPUTE_BINARY:
        if db.instance_get_all(ctx, host=service.host):
            raise webob.exc.HTTPConflict(
                explanation="Unable to delete compute service that is hosting instances. "
                "Migrate or delete the instances first.")
        in_progress = [status.value for status in states.MIGRATION_IN_PROGRESS]
        if db.migration_get_all(ctx, host=service.host, statuses=in_progress):
            raise webob.exc.HTTPConflict(
                explanation="Unable to delete compute service that has in-progress "
                "migrations. Complete the migrations or delete the instances first.")
    db.service_destroy(ctx, service.id)
    return util.empty_response(204)
