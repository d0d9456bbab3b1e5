"""/servers/{server_id}/os-instance-actions[/{request_id}]: what was done to a server.

Each API request that changes a server records an action (create, stop, ...) under its
request id; the services that carry it out add events with their result. Per
microversion, as in Nova:

* 2.21: the actions of deleted servers stay readable;
* 2.51: events are shown to everyone (before: only with the events policy), their
  traceback still only with it;
* 2.58: actions gain updated_at; the list takes limit, marker (a request id) and
  changes-since, and adds instance_actions_links when a page is full;
* 2.62: each event gains hostId, and host for callers with the events policy;
* 2.66: changes-before;
* 2.84: each event gains details (policy events:details).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import webob

from novalite import exception
from novalite.api import microversion, policy, util
from novalite.api.handlers import server_views as views
from novalite.api.handlers.servers import COMPUTE_API, MAX_LIMIT, parse_time, target_of
from novalite.api.policies import instance_actions as ia_policies
from novalite.api.schemas import server_actions as schemas
from novalite.db import api as db

_ACTION_FIELDS = ("action", "instance_uuid", "message", "project_id", "request_id",
                  "user_id")


def _server(req: util.Request, rule: str) -> Any:
    """The server (deleted ones too from 2.21), if `rule` lets the caller see it."""
    read_deleted = microversion.version_at_least(req, "2.21")
    row = COMPUTE_API.get(req.context, req.urlvars["server_id"], read_deleted=read_deleted)
    policy.authorize(req.context, rule, target_of(row))
    return row


def _updated_at(action: Any) -> Any:
    """The last change to an action: its own, or the newest of its events'."""
    moments = [action.updated_at, action.created_at, action.start_time]
    for event in action.events:
        moments += [event.start_time, event.finish_time]
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def _action_view(req: util.Request, action: Any) -> dict[str, Any]:
    view = {field: getattr(action, field) for field in _ACTION_FIELDS}
    view["start_time"] = views.usage_time(action.start_time)
    if microversion.version_at_least(req, "2.58"):
        view["updated_at"] = views.usage_time(_updated_at(action))
    return view


def _event_view(req: util.Request, event: Any, project_id: str | None, traceback: bool,
                host: bool, details: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "event": event.event,
        "start_time": views.usage_time(event.start_time),
        "finish_time": views.usage_time(event.finish_time),
        "result": event.result,
    }
    if traceback:
        view["traceback"] = event.traceback
    if microversion.version_at_least(req, "2.62"):
        view["hostId"] = views.host_id(project_id, event.host)
        if host:
            view["host"] = event.host or ""
    if details:
        view["details"] = event.details
    return view


@util.read_only
def list_actions(req: util.Request) -> webob.Response:
    """GET /servers/{server_id}/os-instance-actions: newest first."""
    ctx = req.context
    row = _server(req, ia_policies.LIST)
    paged = microversion.version_at_least(req, "2.58")
    limit = marker = since = before = None
    if paged:
        params = util.validate_query(req, schemas.instance_actions_query(str(req.api_version)))
        limit = min(int(params["limit"]), MAX_LIMIT) if "limit" in params else MAX_LIMIT
        marker = params.get("marker")
        since = _time(params, "changes-since")
        before = _time(params, "changes-before")
        if since is not None and before is not None and since > before:
            raise exception.ValidationError(
                message="The value of changes-since must be less than or equal to "
                        "changes-before.")
    try:
        actions = db.actions_get_page(ctx, row.uuid, limit=limit, marker=marker,
                                      changes_since=since, changes_before=before)
    except exception.InstanceMarkerNotFound:
        raise exception.ValidationError(
            message=f"Marker {marker} could not be found.") from None
    body: dict[str, Any] = {"instanceActions": [_action_view(req, a) for a in actions]}
    if paged and limit and len(actions) == limit:
        params_out = [(k, v) for k, v in req.GET.items() if k != "marker"]
        params_out.append(("marker", actions[-1].request_id))
        prefix = views._project_prefix(req)  # noqa: SLF001 - the same link rules
        body["instance_actions_links"] = [util.link(
            req, f"v2.1/{prefix}servers/{row.uuid}/os-instance-actions?"
                 f"{urllib.parse.urlencode(params_out)}", rel="next")]
    return util.json_response(body)


def _time(params: dict[str, Any], name: str) -> Any:
    return parse_time(name, params[name]) if name in params else None


@util.read_only
def show_action(req: util.Request) -> webob.Response:
    """GET /servers/{server_id}/os-instance-actions/{request_id}: one action and its
    events, newest event first."""
    ctx = req.context
    row = _server(req, ia_policies.SHOW)
    action = db.action_get_by_request_id(ctx, row.uuid, req.urlvars["request_id"])
    view = _action_view(req, action)
    events_allowed = policy.check(ctx, ia_policies.EVENTS, target_of(row))
    if microversion.version_at_least(req, "2.51") or events_allowed:
        details = (microversion.version_at_least(req, "2.84")
                   and policy.check(ctx, ia_policies.EVENTS_DETAILS, target_of(row)))
        events = sorted(action.events, key=lambda event: event.id, reverse=True)
        view["events"] = [_event_view(req, event, row.project_id, traceback=events_allowed,
                                      host=events_allowed, details=details)
                          for event in events]
    return util.json_response({"instanceAction": view})
