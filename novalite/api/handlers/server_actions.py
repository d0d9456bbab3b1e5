"""POST /servers/{server_id}/action: dispatch on the body's single key.

Implemented here: os-start, os-stop, reboot {type: SOFT|HARD}, lock (with
locked_reason from 2.73), unlock, resize {flavorRef, OS-DCF:diskConfig},
confirmResize (204), revertResize, migrate (a host from 2.56, administrators only)
and os-migrateLive (project managers; a host for administrators only; the body per
microversion as Nova's: 2.1 host/block_migration/disk_over_commit, 2.25
block_migration "auto" and no disk_over_commit, 2.30-2.67 an optional force). Any
other key is Nova's 400 "There is no such action"; actions that later work adds
register in ACTIONS.

Each action answers 202 once the server already shows its new task_state (so clients'
--wait loops see it), or 409 conflictingRequest when the server is locked, its host is
down, or its state does not allow the action. Resize and (live) migrate answer 400 for
a bad flavor or host and 403 over quota; confirm and revert 400 when the server has no
[finished] migration ("Instance has not been resized."), as Nova does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import webob
import webob.exc

from novalite import exception
from novalite.api import microversion, policy, util
from novalite.api.handlers.servers import COMPUTE_API, get_server, server_policy, target_of
from novalite.api.policies import servers as server_policies
from novalite.api.schemas import server_actions as schemas

ActionHandler = Callable[[util.Request, Any], webob.Response]


def _server_for(req: util.Request, rule: str) -> Any:
    """The server (404 if not the caller's) once `rule` allows the caller to act on it."""
    row = get_server(req)
    policy.authorize(req.context, rule, target_of(row))
    return row


def _server_id(req: util.Request) -> str:
    return req.urlvars["server_id"]


def _start(req: util.Request, body: Any) -> webob.Response:
    util.validate(body, schemas.action_body("os-start", schemas.NULL_OR_OBJECT))
    COMPUTE_API.start(req.context, _server_id(req),
                      authorize=server_policy(req, server_policies.START))
    return util.empty_response(202)


def _stop(req: util.Request, body: Any) -> webob.Response:
    util.validate(body, schemas.action_body("os-stop", schemas.NULL_OR_OBJECT))
    COMPUTE_API.stop(req.context, _server_id(req),
                     authorize=server_policy(req, server_policies.STOP))
    return util.empty_response(202)


def _reboot(req: util.Request, body: Any) -> webob.Response:
    util.validate(body, schemas.action_body("reboot", schemas.REBOOT))
    COMPUTE_API.reboot(req.context, _server_id(req), body["reboot"]["type"].upper(),
                       authorize=server_policy(req, server_policies.REBOOT))
    return util.empty_response(202)


def _lock(req: util.Request, body: Any) -> webob.Response:
    with_reason = microversion.version_at_least(req, "2.73")
    util.validate(body, schemas.action_body(
        "lock", schemas.LOCK_V273 if with_reason else schemas.NULL_OR_OBJECT))
    reason = (body["lock"] or {}).get("locked_reason") if with_reason else None
    row = _server_for(req, server_policies.LOCK)
    COMPUTE_API.lock(req.context, row.uuid, reason=reason, instance=row)
    return util.empty_response(202)


def _unlock(req: util.Request, body: Any) -> webob.Response:
    util.validate(body, schemas.action_body("unlock", schemas.NULL_OR_OBJECT))
    ctx = req.context
    row = _server_for(req, server_policies.UNLOCK)
    if not COMPUTE_API.is_expected_locked_by(ctx, row):
        # Locked by the other side (an administrator, or the owner for an admin).
        policy.authorize(ctx, server_policies.UNLOCK_OVERRIDE, target_of(row))
    COMPUTE_API.unlock(ctx, row.uuid, instance=row)
    return util.empty_response(202)


def _resize(req: util.Request, body: Any) -> webob.Response:
    util.validate(body, schemas.action_body("resize", schemas.RESIZE))
    args = body["resize"]
    disk_config = args.get("OS-DCF:diskConfig")
    try:
        COMPUTE_API.resize(req.context, _server_id(req), args["flavorRef"],
                           auto_disk_config=None if disk_config is None
                           else disk_config == "AUTO",
                           authorize=server_policy(req, server_policies.RESIZE))
    except exception.FlavorNotFound as exc:
        # An unknown or disabled flavor is the request's fault here, not a missing URL.
        raise webob.exc.HTTPBadRequest(explanation=exc.format_message()) from None
    return util.empty_response(202)


def _migrate(req: util.Request, body: Any) -> webob.Response:
    with_host = microversion.version_at_least(req, "2.56")
    util.validate(body, schemas.action_body(
        "migrate", schemas.MIGRATE_V256 if with_host else schemas.NULL_OR_EMPTY_OBJECT))
    host = (body["migrate"] or {}).get("host") if with_host else None
    # Nova looks the server up first (404), then asks the one rule that applies.
    rule = server_policies.MIGRATE_HOST if host else server_policies.MIGRATE
    try:
        COMPUTE_API.migrate(req.context, _server_id(req), host=host,
                            authorize=server_policy(req, rule))
    except exception.ComputeHostNotFound as exc:
        raise webob.exc.HTTPBadRequest(explanation=exc.format_message()) from None
    return util.empty_response(202)


def _confirm_resize(req: util.Request, body: Any) -> webob.Response:
    util.validate(body, schemas.action_body("confirmResize", schemas.NULL_OR_EMPTY_OBJECT))
    try:
        COMPUTE_API.confirm_resize(req.context, _server_id(req),
                                   authorize=server_policy(req, server_policies.CONFIRM_RESIZE))
    except exception.MigrationNotFoundByStatus:
        raise webob.exc.HTTPBadRequest(explanation="Instance has not been resized.") from None
    # 204, not 202: Nova keeps it for compatibility.
    return util.empty_response(204)


def _revert_resize(req: util.Request, body: Any) -> webob.Response:
    util.validate(body, schemas.action_body("revertResize", schemas.NULL_OR_EMPTY_OBJECT))
    try:
        COMPUTE_API.revert_resize(req.context, _server_id(req),
                                  authorize=server_policy(req, server_policies.REVERT_RESIZE))
    except exception.MigrationNotFoundByStatus:
        raise webob.exc.HTTPBadRequest(explanation="Instance has not been resized.") from None
    return util.empty_response(202)


def _live_migrate_args(req: util.Request, args: dict[str, Any]) -> tuple[
        str | None, bool | str, bool]:
    """(host, block_migration, force) from a schema-checked os-migrateLive value.

    Before 2.30 naming a host means a forced move (no scheduler check), as in Nova;
    2.30-2.67 take force from the body (true without a host is a 400); from 2.68 the
    scheduler always checks the host. disk_over_commit (before 2.25) is accepted and
    ignored: novalite's disk checks do not depend on it.
    """
    host = args.get("host")
    block = args["block_migration"]
    block_migration: bool | str = "auto" if block == "auto" else schemas.to_bool(block)
    if not microversion.version_at_least(req, "2.30"):
        return host, block_migration, host is not None
    if microversion.version_at_least(req, "2.68"):
        return host, block_migration, False
    force = schemas.to_bool(args.get("force", False))
    if force and not host:
        raise exception.ValidationError(
            message="Can't force to a non-provided destination: force is true but no "
                    "host is given.")
    return host, block_migration, force


def _migrate_live(req: util.Request, body: Any) -> webob.Response:
    version = req.api_version
    util.validate(body, schemas.action_body(
        "os-migrateLive", schemas.migrate_live((version.major, version.minor))))
    host, block_migration, force = _live_migrate_args(req, body["os-migrateLive"])
    # As for migrate: the server first (404), then the one rule that applies.
    rule = server_policies.MIGRATE_LIVE_HOST if host else server_policies.MIGRATE_LIVE
    try:
        COMPUTE_API.live_migrate(req.context, _server_id(req), host=host,
                                 block_migration=block_migration, force=force,
                                 authorize=server_policy(req, rule))
    except exception.ComputeHostNotFound as exc:
        raise webob.exc.HTTPBadRequest(explanation=exc.format_message()) from None
    return util.empty_response(202)


ACTIONS: dict[str, ActionHandler] = {
    "os-start": _start,
    "os-stop": _stop,
    "reboot": _reboot,
    "lock": _lock,
    "unlock": _unlock,
    "resize": _resize,
    "migrate": _migrate,
    "confirmResize": _confirm_resize,
    "revertResize": _revert_resize,
    "os-migrateLive": _migrate_live,
}


def server_action(req: util.Request) -> webob.Response:
    """Route the action named by the body's only key (400 for none, several or an
    unknown one, before the server is even looked up, as in Nova)."""
    body = util.read_json_body(req)
    if not isinstance(body, dict) or len(body) != 1:
        raise exception.ValidationError(
            message="Malformed request body: an action body is a JSON object with exactly "
                    "one key, the action's name.")
    name = next(iter(body))
    handler = ACTIONS.get(name)
    if handler is None:
        raise exception.ValidationError(message=f"There is no such action: {name}")
    return handler(req, body)
