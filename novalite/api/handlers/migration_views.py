"""How migrations look in the API, per microversion, as Nova shows them.

Two representations:

* ``/os-migrations`` (:func:`os_migration`): id, status, instance_uuid, source and
  destination compute/node, dest_host, old/new_instance_type_id (the flavors' internal
  ids), created_at, updated_at; 2.23 adds migration_type and, for an in-progress live
  migration only, links to it under /servers/{id}/migrations; 2.59 adds uuid; 2.80
  user_id and project_id.
* ``/servers/{id}/migrations[/{id}]`` (:func:`server_migration`, 2.23+): the same
  hosts, server_uuid, and the memory/disk progress of a live migration in bytes; 2.59
  adds uuid, 2.80 user_id and project_id.

The host fields (source_compute, source_node, dest_compute, dest_node, dest_host) are
null for callers whom the `...:index:host` policy does not let see hosts.
Times are Nova's (microseconds, no zone).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from novalite import states
from novalite.api import microversion, util
from novalite.api.handlers import server_views
from novalite.context import RequestContext
from novalite.db import api as db

HOST_FIELDS = ("source_compute", "source_node", "dest_compute", "dest_node", "dest_host")

# Live migration statuses Nova links to (and shows under /servers/{id}/migrations/{id}).
LIVE_IN_PROGRESS: frozenset[states.MigrationStatus] = frozenset({
    states.MigrationStatus.QUEUED, states.MigrationStatus.PREPARING,
    states.MigrationStatus.RUNNING, states.MigrationStatus.POST_MIGRATING,
})


def is_live_in_progress(row: Any) -> bool:
    """A live migration that is queued, preparing, running or post-migrating."""
    return (row.migration_type == states.MigrationType.LIVE_MIGRATION
            and row.status in {s.value for s in LIVE_IN_PROGRESS})


def _flavorid(snapshot: dict | None) -> str | None:
    if not snapshot or snapshot.get("flavorid") is None:
        return None
    return str(snapshot["flavorid"])


def flavor_ids(ctx: RequestContext, rows: Iterable[Any]) -> dict[str, int]:
    """{flavorid: internal id} for the old/new flavors of `rows`, looked up at once."""
    wanted = set()
    for row in rows:
        for snapshot in (row.old_flavor, row.new_flavor):
            if snapshot and snapshot.get("id") is None:
                wanted.add(_flavorid(snapshot))
    wanted.discard(None)
    return db.flavor_ids_by_flavorid(ctx, wanted) if wanted else {}


def _instance_type_id(snapshot: dict | None, ids: dict[str, int]) -> int | None:
    """A flavor snapshot's internal id (None once the flavor is gone)."""
    if not snapshot:
        return None
    if snapshot.get("id") is not None:
        return int(snapshot["id"])
    flavorid = _flavorid(snapshot)
    return ids.get(flavorid) if flavorid is not None else None


def _hide_hosts(view: dict[str, Any], show_hosts: bool) -> dict[str, Any]:
    if not show_hosts:
        for field in HOST_FIELDS:
            view[field] = None
    return view


def _owner_fields(req: util.Request, row: Any, view: dict[str, Any]) -> None:
    if microversion.version_at_least(req, "2.59"):
        view["uuid"] = row.uuid
    if microversion.version_at_least(req, "2.80"):
        view["user_id"] = row.user_id
        view["project_id"] = row.project_id


def os_migration(req: util.Request, row: Any, ids: dict[str, int],
                 show_hosts: bool) -> dict[str, Any]:
    """One entry of GET /os-migrations."""
    view: dict[str, Any] = {
        "created_at": server_views.usage_time(row.created_at),
        "dest_compute": row.dest_compute,
        "dest_host": row.dest_host,
        "dest_node": row.dest_node,
        "id": row.id,
        "instance_uuid": row.instance_uuid,
        "new_instance_type_id": _instance_type_id(row.new_flavor, ids),
        "old_instance_type_id": _instance_type_id(row.old_flavor, ids),
        "source_compute": row.source_compute,
        "source_node": row.source_node,
        "status": row.status,
        "updated_at": server_views.usage_time(row.updated_at),
    }
    _hide_hosts(view, show_hosts)
    if microversion.version_at_least(req, "2.23"):
        view["migration_type"] = row.migration_type
        if is_live_in_progress(row):
            view["links"] = server_views.links(
                req, f"servers/{row.instance_uuid}/migrations", str(row.id))
    _owner_fields(req, row, view)
    return view


def server_migration(req: util.Request, row: Any, show_hosts: bool) -> dict[str, Any]:
    """One live migration under GET /servers/{server_id}/migrations[/{id}]."""
    view: dict[str, Any] = {
        "created_at": server_views.usage_time(row.created_at),
        "dest_compute": row.dest_compute,
        "dest_host": row.dest_host,
        "dest_node": row.dest_node,
        "disk_processed_bytes": row.disk_processed,
        "disk_remaining_bytes": row.disk_remaining,
        "disk_total_bytes": row.disk_total,
        "id": row.id,
        "memory_processed_bytes": row.memory_processed,
        "memory_remaining_bytes": row.memory_remaining,
        "memory_total_bytes": row.memory_total,
        "server_uuid": row.instance_uuid,
        "source_compute": row.source_compute,
        "source_node": row.source_node,
        "status": row.status,
        "updated_at": server_views.usage_time(row.updated_at),
    }
    _hide_hosts(view, show_hosts)
    _owner_fields(req, row, view)
    return view
