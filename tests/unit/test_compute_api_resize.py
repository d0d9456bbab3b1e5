"""novalite.compute.api resize/migrate/confirm/revert on SQLite with recording RPC
clients, and the database helpers they use (what the conductor's auto-confirm calls,
what each cast carries, the races the guarded updates settle)."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import pytest

from novalite import exception, states
from novalite.context import get_admin_context
from novalite.db import api as db
from novalite.db import flavors as flavor_db
from novalite.objects.migration import Migration
from tests.unit.test_compute_api import admin, on_host, user
from tests.unit.test_compute_api import env as compute_api_env  # noqa: F401 - a fixture

MS = states.MigrationStatus


@pytest.fixture
def env(compute_api_env: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """test_compute_api's env (flavors 1, small, big; hosts c1 up and c2 down; an image
    needing 300 MiB; recording conductor and compute clients) plus host c3 (up)."""
    ctx = get_admin_context()
    db.service_heartbeat(ctx, "c3", "novalite-compute", "compute", 1)
    db.compute_node_report(ctx, "c3", "c3", {"vcpus": 8, "memory_mb": 8192, "local_gb": 100})
    return compute_api_env


def snapshot(flavorid: str) -> dict[str, Any]:
    return flavor_db.flavor_snapshot(flavor_db.flavor_get_by_flavorid(get_admin_context(),
                                                                      flavorid))


def resized(env: dict, status: str = "finished") -> tuple[Any, Any]:
    """An instance in (resized, None) resized from m1.tiny to m1.big, moved from c1 to
    c3 (both up), and its migration in `status`."""
    row = on_host(env, host="c3", vm_state="resized")
    ctx = get_admin_context()
    db.instance_update(ctx, row.uuid, {"flavor": snapshot("big"), "old_flavor": snapshot("1"),
                                       "system_metadata": {"old_vm_state": "stopped"}})
    migration = db.migration_create(ctx, {
        "instance_uuid": row.uuid, "migration_type": "migration", "status": status,
        "source_compute": "c1", "source_node": "c1", "dest_compute": "c3",
        "dest_node": "c3", "old_flavor": snapshot("1"), "new_flavor": snapshot("big")})
    return db.instance_get(ctx, row.uuid), migration


def test_resize_casts_the_new_flavor_to_the_conductor(env: dict) -> None:
    row = on_host(env)
    updated = env["api"].resize(user(), row.uuid, "big")
    assert (updated.vm_state, updated.task_state) == ("active", "resize_prep")
    assert updated.system_metadata["old_vm_state"] == "active"
    (name, args, kwargs), = env["conductor"].calls
    ctx, instance, flavor, requested_host, migration_type = args
    assert name == "migrate_server" and kwargs == {}
    assert instance.task_state == states.TaskState.RESIZE_PREP
    assert flavor == snapshot("big")
    assert (requested_host, migration_type) == (None, states.MigrationType.RESIZE.value)


def test_resize_checks_the_image(env: dict) -> None:
    # The image needs 300 MiB of RAM; m1.small has 256.
    row = on_host(env)
    db.instance_update(get_admin_context(), row.uuid, {"image_ref": env["image"]})
    with pytest.raises(exception.FlavorMemoryTooSmall):
        env["api"].resize(user(), row.uuid, "small")
    assert env["conductor"].calls == []


def test_migrate_casts_the_current_flavor_and_host(env: dict) -> None:
    row = on_host(env)
    env["api"].migrate(admin(), row.uuid, host="c2")
    (name, args, _kwargs), = env["conductor"].calls
    assert name == "migrate_server"
    assert args[2] == row.flavor and args[3:] == ("c2", states.MigrationType.MIGRATION.value)
    assert [a.action for a in db.actions_get(get_admin_context(), row.uuid)] == [
        "migrate", "create"]


def test_finished_migration(env: dict) -> None:
    row, migration = resized(env)
    assert env["api"].finished_migration(get_admin_context(), row.uuid).id == migration.id
    with pytest.raises(exception.MigrationNotFoundByStatus):
        env["api"].finished_migration(get_admin_context(), "nope")


def test_auto_confirm_as_the_conductor_calls_it(env: dict) -> None:
    row, migration = resized(env)
    found = env["api"].finished_migration(get_admin_context(), row.uuid)
    updated = env["api"].confirm_resize(get_admin_context(), row.uuid, migration=found)
    assert (updated.vm_state, updated.task_state) == ("resized", "resize_confirming")
    (name, args, _kwargs), = env["compute"].calls
    _ctx, host, instance, sent = args
    assert (name, host) == ("confirm_resize", "c1")
    assert isinstance(sent, Migration) and sent.status == MS.CONFIRMING
    assert instance.system_metadata["old_vm_state"] == "stopped"
    assert db.migration_get(get_admin_context(), migration.id).status == MS.CONFIRMING


def test_confirm_with_a_migration_no_longer_finished_is_a_conflict(env: dict) -> None:
    row, migration = resized(env, status="confirming")
    with pytest.raises(exception.Conflict):
        env["api"].confirm_resize(get_admin_context(), row.uuid, migration=migration)
    assert db.instance_get(get_admin_context(), row.uuid).task_state is None
    assert env["compute"].calls == []


def test_revert_casts_to_the_destination(env: dict) -> None:
    row, migration = resized(env)
    env["api"].revert_resize(user(), row.uuid)
    (name, args, _kwargs), = env["compute"].calls
    assert (name, args[1], args[3].id, args[3].status) == (
        "revert_resize", "c3", migration.id, MS.REVERTING)


def test_concurrent_confirms_and_reverts_have_one_winner(env: dict) -> None:
    api = env["api"]
    row, migration = resized(env)
    barrier = threading.Barrier(10)

    def attempt(index: int) -> str:
        barrier.wait()
        try:
            if index % 2:
                api.confirm_resize(user(), row.uuid)
            else:
                api.revert_resize(user(), row.uuid)
        except exception.Conflict:
            return "409"
        return "ok"

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(attempt, range(10)))
    assert sorted(results) == ["409"] * 9 + ["ok"]
    assert len(env["compute"].calls) == 1
    status = db.migration_get(get_admin_context(), migration.id).status
    assert status in (MS.CONFIRMING, MS.REVERTING)


def test_delete_of_a_resized_server_confirms_then_terminates(env: dict) -> None:
    row, migration = resized(env)
    env["api"].delete(user(), row.uuid)
    assert env["compute"].names() == ["confirm_resize", "terminate_instance"]
    confirm_args = env["compute"].calls[0][1]
    assert confirm_args[1] == "c1" and confirm_args[3].id == migration.id
    terminate_args = env["compute"].calls[1][1]
    assert terminate_args[1].host == "c3" and terminate_args[1].task_state == "deleting"
    assert db.migration_get(get_admin_context(), migration.id).status == MS.CONFIRMING


def test_migration_undo_status_only_undoes_api_steps(env: dict) -> None:
    ctx = get_admin_context()
    _row, migration = resized(env, status="confirming")
    assert db.migration_undo_status(ctx, migration.id, "confirming", "finished").status == (
        "finished")
    with pytest.raises(exception.UnexpectedMigrationStatusError):
        db.migration_undo_status(ctx, migration.id, "confirming", "finished")
    with pytest.raises(exception.InvalidStateTransition):
        db.migration_undo_status(ctx, migration.id, "finished", "confirming")
    with pytest.raises(exception.MigrationNotFound):
        db.migration_undo_status(ctx, 12345, "reverting", "finished")


def test_migration_get_page_marker_must_match_the_project(env: dict) -> None:
    ctx = get_admin_context()
    _row, mine = resized(env)
    with pytest.raises(exception.MarkerNotFound):
        db.migration_get_page(ctx, {"project_id": "other"}, marker=mine.uuid)
    assert db.migration_get_page(ctx, {"project_id": mine.project_id},
                                 marker=mine.uuid) == []
    assert [m.id for m in db.migration_get_page(ctx, {"host": "c3"})] == [mine.id]
    assert db.migration_get_page(ctx, {"source_compute": "c3"}) == []
