"""novalite.compute.api live_migrate, force_complete_live_migration and
abort_live_migration on SQLite with recording RPC clients: what one transaction
writes, what each cast carries, and how a lost race or a failed cast is answered."""

from __future__ import annotations

from typing import Any

import pytest

from novalite import exception, states
from novalite.context import get_admin_context
from novalite.db import api as db
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from tests.unit.test_compute_api import admin, on_host, user
from tests.unit.test_compute_api import env as compute_api_env  # noqa: F401 - a fixture

MS = states.MigrationStatus


@pytest.fixture
def env(compute_api_env: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """test_compute_api's env (hosts c1 up, c2 down; recording clients) plus c3 (up)."""
    db.service_heartbeat(get_admin_context(), "c3", "novalite-compute", "compute", 1)
    return compute_api_env


def live_migration(row: Any, status: MS) -> Any:
    return db.migration_create(get_admin_context(), {
        "instance_uuid": row.uuid, "migration_type": states.MigrationType.LIVE_MIGRATION,
        "status": status, "source_compute": "c1", "source_node": "c1",
        "dest_compute": "c3"})


def test_live_migrate_writes_one_transaction_and_casts(env: dict) -> None:
    row = on_host(env)
    ctx = admin()
    updated = env["api"].live_migrate(ctx, row.uuid, host="c3", block_migration=False,
                                      force=True)
    assert (updated.vm_state, updated.task_state) == ("active", "migrating")
    (migration,) = db.migration_get_all(ctx, instance_uuid=row.uuid)
    assert (migration.status, migration.migration_type) == ("accepted", "live-migration")
    assert (migration.source_compute, migration.dest_compute) == ("c1", "c3")
    assert migration.old_flavor == migration.new_flavor == row.flavor
    assert migration.project_id == ctx.project_id
    assert [a.action for a in db.actions_get(ctx, row.uuid)][0] == "live-migration"
    (name, args, kwargs), = env["conductor"].calls
    assert name == "live_migrate_instance" and kwargs == {}
    cast_ctx, instance, cast_migration, block_migration, host, force = args
    assert cast_ctx is ctx and isinstance(instance, Instance)
    assert instance.task_state == states.TaskState.MIGRATING
    assert isinstance(cast_migration, Migration) and cast_migration.id == migration.id
    assert cast_migration.status is MS.ACCEPTED
    assert (block_migration, host, force) == (False, "c3", True)


def test_live_migrate_defaults_let_the_scheduler_choose(env: dict) -> None:
    row = on_host(env)
    env["api"].live_migrate(user(), row.uuid)
    (_name, args, _kwargs), = env["conductor"].calls
    assert args[3:] == ("auto", None, False)
    (migration,) = db.migration_get_all(get_admin_context(), instance_uuid=row.uuid)
    assert migration.dest_compute is None


def test_a_lost_race_is_the_os_migrate_live_409(env: dict) -> None:
    row = on_host(env)
    env["api"].live_migrate(user(), row.uuid, instance=row)
    # A second request that read the row before the first one changed it.
    with pytest.raises(exception.InstanceInvalidState) as info:
        env["api"].live_migrate(user(), row.uuid, instance=row)
    assert info.value.format_message() == (
        f"Cannot 'os-migrateLive' instance {row.uuid} while it is in task_state migrating")
    assert len(db.migration_get_all(get_admin_context(), instance_uuid=row.uuid)) == 1
    assert len(env["conductor"].calls) == 1


def test_refusals_change_nothing(env: dict) -> None:
    api = env["api"]
    with pytest.raises(exception.ServiceUnavailable):
        api.live_migrate(user(), on_host(env, host="c2").uuid)
    with pytest.raises(exception.InstanceInvalidState):
        api.live_migrate(user(), on_host(env, vm_state="stopped").uuid)
    with pytest.raises(exception.ComputeHostNotFound):
        api.live_migrate(admin(), on_host(env).uuid, host="nowhere")
    with pytest.raises(exception.UnableToMigrateToSelf):
        api.live_migrate(admin(), on_host(env).uuid, host="c1")
    assert db.migration_get_all(get_admin_context()) == []
    assert env["conductor"].calls == []


def test_a_failed_cast_puts_the_task_back_and_the_migration_in_error(env: dict) -> None:
    row = on_host(env)
    env["conductor"].fail = RuntimeError("no broker")
    with pytest.raises(RuntimeError):
        env["api"].live_migrate(user(), row.uuid)
    ctx = get_admin_context()
    assert db.instance_get(ctx, row.uuid).task_state is None
    (migration,) = db.migration_get_all(ctx, instance_uuid=row.uuid)
    assert migration.status == MS.ERROR.value


def test_force_complete_and_abort_cast_to_the_source(env: dict) -> None:
    row = on_host(env, task_state="migrating")
    migration = live_migration(row, MS.RUNNING)
    api, compute = env["api"], env["compute"]
    found = api.force_complete_live_migration(user(), row.uuid, migration.id)
    assert found.id == migration.id
    api.abort_live_migration(user(), row.uuid, str(migration.id))
    (fc_name, fc_args, _), (ab_name, ab_args, _) = compute.calls
    assert (fc_name, fc_args[1], fc_args[2].uuid) == (
        "live_migration_force_complete", "c1", row.uuid)
    assert (ab_name, ab_args[1], ab_args[2].uuid, ab_args[3]) == (
        "live_migration_abort", "c1", row.uuid, migration.id)
    actions = [a.action for a in db.actions_get(get_admin_context(), row.uuid)]
    assert actions[:2] == ["live_migration_cancel", "live_migration_force_complete"]


@pytest.mark.parametrize(("status", "allow_queued", "ok"), [
    (MS.RUNNING, False, True), (MS.QUEUED, False, False), (MS.PREPARING, False, False),
    (MS.QUEUED, True, True), (MS.PREPARING, True, True), (MS.ACCEPTED, True, False),
    (MS.COMPLETED, True, False),
])
def test_abort_statuses(env: dict, status: MS, allow_queued: bool, ok: bool) -> None:
    row = on_host(env, task_state="migrating")
    migration = live_migration(row, status)
    if ok:
        env["api"].abort_live_migration(user(), row.uuid, migration.id,
                                        allow_queued=allow_queued)
        assert env["compute"].names() == ["live_migration_abort"]
    else:
        with pytest.raises(exception.InvalidMigrationState):
            env["api"].abort_live_migration(user(), row.uuid, migration.id,
                                            allow_queued=allow_queued)
        assert env["compute"].calls == []


def test_a_failed_abort_cast_closes_its_action(env: dict) -> None:
    row = on_host(env, task_state="migrating")
    migration = live_migration(row, MS.RUNNING)
    env["compute"].fail = RuntimeError("no broker")
    with pytest.raises(RuntimeError):
        env["api"].abort_live_migration(user(), row.uuid, migration.id)
    action = db.actions_get(get_admin_context(), row.uuid)[0]
    assert (action.action, action.message) == ("live_migration_cancel", "Error")
