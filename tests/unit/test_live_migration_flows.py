"""Live migration end to end in one process (fake:// transport, SQLite, fake driver,
hosts c1 and c2): success, progress, force-complete, abort, the completion timeout, and
each failure point ending ACTIVE on the source with a fault, the migration final, and
the allocations back on the source."""

from __future__ import annotations

import time

import pytest

from novalite.compute import rpcapi as compute_rpcapi
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.conf import CONF
from novalite.db import api as db
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.states import MigrationStatus, MigrationType, PowerState, VmState


def live_migrate(plane, uuid: str, host: str | None = None, force: bool = False) -> int:
    """What the API does: transition, action and migration [accepted], then the cast."""
    ctx = plane.ctx.elevated()
    row = db.instance_transition(ctx, uuid, "live_migrate")
    db.action_start(ctx, uuid, "live-migration")
    mig = db.migration_create(ctx, {
        "instance_uuid": uuid, "migration_type": MigrationType.LIVE_MIGRATION.value,
        "source_compute": row.host, "source_node": row.node, "dest_compute": host,
        "old_flavor": row.flavor, "new_flavor": row.flavor})
    conductor_rpcapi.ConductorAPI().live_migrate_instance(
        ctx, Instance.from_db(row), Migration.from_db(mig), "auto", host, force)
    return mig.id


def final_migration(plane, migration_id: int, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mig = db.migration_get(plane.ctx.elevated(), migration_id)
        if MigrationStatus(mig.status).is_final:
            return mig
        time.sleep(0.02)
    raise AssertionError(f"migration {migration_id} stuck in {mig.status}")


def wait_status(plane, migration_id: int, status: MigrationStatus, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mig = db.migration_get(plane.ctx.elevated(), migration_id)
        if mig.status == status:
            return mig
        time.sleep(0.01)
    raise AssertionError(f"migration {migration_id} never reached {status}")


@pytest.fixture
def active(plane):
    uuid = plane.boot()
    row = plane.settle(uuid)
    return uuid, row.host, "c2" if row.host == "c1" else "c1"


@pytest.fixture
def slow_migrations():
    CONF.set_override("live_migration_seconds", 1.5, group="fake_driver")
    yield
    CONF.clear_override("live_migration_seconds", group="fake_driver")


def assert_back_on_source(plane, uuid, source, dest, migration, status, fault_text):
    row = plane.settle(uuid)
    assert (row.vm_state, row.task_state, row.host) == (VmState.ACTIVE, None, source)
    assert migration.status == status
    assert fault_text in plane.fault(uuid)
    assert plane.held(uuid) == {source: 512}
    assert plane.held(migration.uuid) == {}
    assert uuid not in plane.compute(dest).driver.guests
    assert plane.compute(source).driver.guests[uuid] == PowerState.RUNNING


def test_live_migration_moves_host_and_allocations(plane, active):
    uuid, source, dest = active
    mig = final_migration(plane, live_migrate(plane, uuid))
    row = plane.settle(uuid)
    assert (mig.status, row.vm_state, row.host) == (MigrationStatus.COMPLETED,
                                                    VmState.ACTIVE, dest)
    assert plane.held(uuid) == {dest: 512} and plane.held(mig.uuid) == {}
    assert uuid not in plane.compute(source).driver.guests
    assert plane.compute(dest).driver.guests[uuid] == PowerState.RUNNING


def test_progress_is_recorded_and_force_complete_finishes(plane, active, slow_migrations):
    CONF.set_override("live_migration_converges", False, group="fake_driver")
    try:
        uuid, source, dest = active
        mig_id = live_migrate(plane, uuid, host=dest)
        running = wait_status(plane, mig_id, MigrationStatus.RUNNING)
        time.sleep(0.6)
        first = db.migration_get(plane.ctx.elevated(), mig_id).memory_processed or 0
        time.sleep(0.6)
        second = db.migration_get(plane.ctx.elevated(), mig_id).memory_processed or 0
        assert 0 < first < second < 512 * 2**20
        compute_rpcapi.ComputeAPI().live_migration_force_complete(
            plane.ctx.elevated(), source, Instance.from_db(db.instance_get(
                plane.ctx.elevated(), uuid)))
        mig = final_migration(plane, running.id)
        assert mig.status == MigrationStatus.COMPLETED
        assert mig.memory_remaining == 0
        assert plane.settle(uuid).host == dest
    finally:
        CONF.clear_override("live_migration_converges", group="fake_driver")


def test_abort_while_running_is_cancelled(plane, active, slow_migrations):
    uuid, source, dest = active
    mig_id = live_migrate(plane, uuid)
    wait_status(plane, mig_id, MigrationStatus.RUNNING)
    compute_rpcapi.ComputeAPI().live_migration_abort(
        plane.ctx.elevated(), source,
        Instance.from_db(db.instance_get(plane.ctx.elevated(), uuid)), mig_id)
    mig = final_migration(plane, mig_id)
    assert_back_on_source(plane, uuid, source, dest, mig, MigrationStatus.CANCELLED,
                          "aborted")


@pytest.mark.parametrize("action, status", [("abort", MigrationStatus.CANCELLED),
                                            ("force_complete", MigrationStatus.COMPLETED)])
def test_completion_timeout(plane, active, action, status):
    CONF.set_override("live_migration_converges", False, group="fake_driver")
    CONF.set_override("live_migration_completion_timeout", 1, group="libvirt")
    CONF.set_override("live_migration_timeout_action", action, group="libvirt")
    try:
        uuid, source, dest = active
        mig = final_migration(plane, live_migrate(plane, uuid))
        assert mig.status == status
        assert plane.settle(uuid).host == (dest if action == "force_complete" else source)
    finally:
        for name in ("live_migration_completion_timeout", "live_migration_timeout_action"):
            CONF.clear_override(name, group="libvirt")
        CONF.clear_override("live_migration_converges", group="fake_driver")


# (failing driver step, where it fails, final migration status)
FAILURES = [
    ("check_can_live_migrate_destination", "dest", MigrationStatus.ERROR),
    ("check_can_live_migrate_source", "source", MigrationStatus.ERROR),
    ("pre_live_migration", "dest", MigrationStatus.FAILED),
    ("live_migration", "source", MigrationStatus.FAILED),
]


@pytest.mark.parametrize("step, where, status", FAILURES)
def test_failure_points_roll_back_to_the_source(plane, active, step, where, status):
    uuid, source, dest = active
    plane.fail({"source": source, "dest": dest}[where], step)
    mig = final_migration(plane, live_migrate(plane, uuid))
    assert_back_on_source(plane, uuid, source, dest, mig, status, "broke")


def test_no_valid_destination(plane, active):
    uuid, source, dest = active
    plane.fail(dest, "check_can_live_migrate_destination")
    mig = final_migration(plane, live_migrate(plane, uuid, host=dest, force=True))
    assert_back_on_source(plane, uuid, source, dest, mig, MigrationStatus.ERROR, dest)


def test_destination_dying_mid_way_rolls_back(plane, active, slow_migrations, monkeypatch):
    from novalite.compute import live_migration

    monkeypatch.setattr(live_migration, "DEST_CLEANUP_WAIT", 1.0)
    CONF.set_override("live_migration_converges", False, group="fake_driver")
    uuid, source, dest = active
    mig_id = live_migrate(plane, uuid, host=dest)
    wait_status(plane, mig_id, MigrationStatus.RUNNING)
    plane.services[dest].stop()  # the destination stops answering
    try:
        mig = final_migration(plane, mig_id)
    finally:
        CONF.clear_override("live_migration_converges", group="fake_driver")
    row = plane.settle(uuid)
    assert (row.vm_state, row.task_state, row.host) == (VmState.ACTIVE, None, source)
    assert mig.status == MigrationStatus.FAILED
    assert "stopped answering" in plane.fault(uuid)
    assert plane.held(uuid) == {source: 512} and plane.held(mig.uuid) == {}
    assert plane.compute(source).driver.guests[uuid] == PowerState.RUNNING
