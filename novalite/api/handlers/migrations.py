"""GET /os-migrations and GET /servers/{server_id}/migrations[/{migration_id}].

/os-migrations lists every kind of migration (cold, resize, live) with Nova's filters:
instance_uuid, status, host (source or destination), source_compute, migration_type,
hidden (novalite hides none) and, before 2.59 or from 2.80, user_id/project_id. From
2.59 it is paged (limit, marker = a migration uuid; newest first, migrations_links
when a page is full) and filtered by changes-since, from 2.66 by changes-before too.
Policy: project managers may list their own project's migrations (by naming their
project_id), administrators anyone's; only administrators see the host fields.

/servers/{id}/migrations (2.23) lists a server's unfinished *live* migrations only,
with their memory/disk progress; showing one is 404 unless it is a live migration that
is queued, preparing, running or post-migrating (Nova's rules and messages).

POST /servers/{id}/migrations/{mid}/action {"force_complete": null} (2.22) and DELETE
/servers/{id}/migrations/{mid} (2.24; 2.65 also while queued or preparing) ask the
source host to force a running live migration to complete or to abort it: 202, 409
when the server is locked or not migrating, 400 for a migration in the wrong status.
An unknown migration is a 404 for the abort but a 400 for force_complete, as in Nova.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import webob
import webob.exc

from novalite import exception, states
from novalite.api import microversion, policy, util
from novalite.api.handlers import migration_views as views
from novalite.api.handlers import server_views
from novalite.api.handlers.servers import COMPUTE_API, MAX_LIMIT, parse_time, target_of
from novalite.api.policies import migrations as mig_policies
from novalite.api.schemas import migrations as schemas
from novalite.db import api as db

# Query parameter → migration_get_page filter, where several values mean "any of".
_LIST_FILTERS = ("instance_uuid", "status", "host", "source_compute", "migration_type")
# Filters Nova's database layer also applies; in the query string before 2.59 (any
# parameter is allowed there) or, for user_id and project_id, from 2.80.
_MORE_FILTERS = ("node", "user_id", "project_id")


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, list) else value


def _all(value: Any) -> list:
    return list(value) if isinstance(value, list) else [value]


def _time(params: dict[str, Any], name: str) -> Any:
    return parse_time(name, _last(params[name])) if name in params else None


def list_migrations(req: util.Request) -> webob.Response:
    """GET /os-migrations."""
    ctx = req.context
    # Nova validates the query before it asks the policy.
    params = util.validate_query(req, schemas.list_query(str(req.api_version)))
    policy.authorize(ctx, mig_policies.INDEX)
    project_id = _last(params["project_id"]) if "project_id" in params else None
    if not project_id or project_id != ctx.project_id:
        policy.authorize(ctx, mig_policies.INDEX_ALL_PROJECTS)
    show_hosts = policy.check(ctx, mig_policies.INDEX_HOST)

    filters: dict[str, Any] = {name: _all(params[name])
                               for name in _LIST_FILTERS if name in params}
    for name in _MORE_FILTERS:
        if name in params:
            filters[name] = _last(params[name])
    paged = microversion.version_at_least(req, "2.59")
    limit = marker = None
    if paged:
        limit = min(int(params["limit"]), MAX_LIMIT) if "limit" in params else MAX_LIMIT
        marker = params.get("marker")
        filters["changes_since"] = _time(params, "changes-since")
        if microversion.version_at_least(req, "2.66"):
            filters["changes_before"] = _time(params, "changes-before")
            if (filters["changes_since"] is not None and filters["changes_before"] is not None
                    and filters["changes_since"] > filters["changes_before"]):
                raise exception.ValidationError(
                    message="The value of changes-since must be less than or equal to "
                            "changes-before.")

    rows: list[Any] = []
    if not ("hidden" in params and util.parse_bool(_last(params["hidden"]))):
        try:
            rows = db.migration_get_page(ctx, filters, limit=limit, marker=marker,
                                         newest_first=paged)
        except exception.MarkerNotFound:
            raise exception.ValidationError(
                message=f"Marker {marker} could not be found.") from None
    ids = views.flavor_ids(ctx, rows)
    body: dict[str, Any] = {"migrations": [views.os_migration(req, row, ids, show_hosts)
                                           for row in rows]}
    if paged and limit and len(rows) == limit:
        query = [(k, v) for k, v in req.GET.items() if k != "marker"]
        query.append(("marker", rows[-1].uuid))
        prefix = server_views._project_prefix(req)  # noqa: SLF001 - the same link rules
        body["migrations_links"] = [util.link(
            req, f"v2.1/{prefix}os-migrations?{urllib.parse.urlencode(query)}", rel="next")]
    return util.json_response(body)


def _require_2_23(req: util.Request) -> None:
    if not microversion.version_at_least(req, "2.23"):
        raise webob.exc.HTTPNotFound(explanation="The resource could not be found.")


def _server(req: util.Request, rule: str) -> Any:
    """The server (404 if not the caller's), once `rule` lets the caller see its
    migrations."""
    row = COMPUTE_API.get(req.context, req.urlvars["server_id"])
    policy.authorize(req.context, rule, target_of(row))
    return row


@util.read_only
def list_server_migrations(req: util.Request) -> webob.Response:
    """GET /servers/{server_id}/migrations (2.23): unfinished live migrations."""
    _require_2_23(req)
    ctx = req.context
    row = _server(req, mig_policies.SERVER_INDEX)
    show_hosts = policy.check(ctx, mig_policies.SERVER_INDEX_HOST, target_of(row))
    in_progress = [status.value for status in states.MIGRATION_IN_PROGRESS]
    rows = db.migration_get_all(ctx, instance_uuid=row.uuid, statuses=in_progress,
                                migration_type=states.MigrationType.LIVE_MIGRATION.value)
    return util.json_response({"migrations": [views.server_migration(req, m, show_hosts)
                                              for m in rows]})


@util.read_only
def show_server_migration(req: util.Request) -> webob.Response:
    """GET /servers/{server_id}/migrations/{migration_id} (2.23): one live migration
    in progress; anything else is a 404 with Nova's message."""
    _require_2_23(req)
    ctx = req.context
    row = _server(req, mig_policies.SERVER_SHOW)
    migration_id = req.urlvars["migration_id"]
    try:
        if not migration_id.isdigit():
            raise exception.MigrationNotFoundForInstance(migration_id=migration_id,
                                                         instance_id=row.uuid)
        migration = db.migration_get_by_id_and_instance(ctx, int(migration_id), row.uuid)
    except exception.MigrationNotFoundForInstance:
        raise webob.exc.HTTPNotFound(
            explanation=f"In-progress live migration {migration_id} is not found for "
                        f"server {row.uuid}.") from None
    if migration.migration_type != states.MigrationType.LIVE_MIGRATION:
        raise webob.exc.HTTPNotFound(
            explanation=f"Migration {migration_id} for server {row.uuid} is not "
                        f"live-migration.")
    if not views.is_live_in_progress(migration):
        raise webob.exc.HTTPNotFound(
            explanation=f"Live migration {migration_id} for server {row.uuid} is not in "
                        f"progress.")
    return util.json_response({"migration": views.server_migration(req, migration,
                                                                   show_hosts=True)})


def _require(req: util.Request, version: str) -> None:
    """Below `version` the method does not exist: Nova's 404."""
    if not microversion.version_at_least(req, version):
        raise webob.exc.HTTPNotFound(explanation="The resource could not be found.")


def server_migration_action(req: util.Request) -> webob.Response:
    """POST /servers/{server_id}/migrations/{migration_id}/action (2.22): the only
    action is {"force_complete": null}."""
    _require(req, "2.22")
    util.read_json_body(req, schemas.FORCE_COMPLETE)
    row = _server(req, mig_policies.SERVER_FORCE_COMPLETE)
    try:
        COMPUTE_API.force_complete_live_migration(req.context, row.uuid,
                                                  req.urlvars["migration_id"], instance=row)
    except exception.MigrationNotFoundForInstance as exc:
        # Nova answers 400 here (and 404 for the same migration in a DELETE).
        raise webob.exc.HTTPBadRequest(explanation=exc.format_message()) from None
    return util.empty_response(202)


def abort_server_migration(req: util.Request) -> webob.Response:
    """DELETE /servers/{server_id}/migrations/{migration_id} (2.24): abort a running
    live migration; from 2.65 a queued or preparing one too."""
    _require(req, "2.24")
    row = _server(req, mig_policies.SERVER_DELETE)
    COMPUTE_API.abort_live_migration(
        req.context, row.uuid, req.urlvars["migration_id"],
        allow_queued=microversion.version_at_least(req, "2.65"), instance=row)
    return util.empty_response(202)
