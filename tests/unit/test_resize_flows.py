"""Resize and cold migration end to end in one process (fake:// transport, SQLite, fake
driver, two compute hosts): the happy paths, and every failure point ending stable, with
a fault, the migration [error], and allocations where the instance lives."""

from __future__ import annotations

import time

import pytest

from novalite import exception
from novalite.compute import rpcapi as compute_rpcapi
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.db import api as db
from novalite.objects.instance import Instance
from novalite.objects.migration import Migration
from novalite.states import MigrationStatus, PowerState, VmState
from tests.unit.plane import FLAVOR

BIG = {**FLAVOR, "flavorid": "2", "name": "m1.big", "vcpus": 2, "memory_mb": 1024}


def resize(plane, uuid: str, flavor: dict = BIG, migration_type: str = "resize") -> None:
    """What the API does: guarded transition with old_vm_state, action, cast."""
    ctx = plane.ctx.elevated()
    row = db.instance_get(ctx, uuid)
    sysmeta = {**(row.system_metadata or {}), "old_vm_state": row.vm_state}
    name = "resize" if migration_type == "resize" else "migrate"
    row = db.instance_transition(ctx, uuid, name, {"system_metadata": sysmeta})
    db.action_start(ctx, uuid, name)
    conductor_rpcapi.ConductorAPI().migrate_server(
        ctx, Instance.from_db(row), flavor if migration_type == "resize" else row.flavor,
        None, migration_type)


def finish(plane, uuid: str, how: str) -> None:
    """confirm or revert, as the API does it."""
    ctx = plane.ctx.elevated()
    mig = db.migration_get_all(ctx, instance_uuid=uuid)[-1]
    status = MigrationStatus.CONFIRMING if how == "confirm" else MigrationStatus.REVERTING
    mig = db.migration_update(ctx, mig.id, {"status": status.value},
                              expected_status=[MigrationStatus.FINISHED.value])
    row = db.instance_transition(ctx, uuid, how)
    db.action_start(ctx, uuid, how)
    api = compute_rpcapi.ComputeAPI()
    if how == "confirm":
        api.confirm_resize(ctx, mig.source_compute, Instance.from_db(row), Migration.from_db(mig))
    else:
        api.revert_resize(ctx, mig.dest_compute, Instance.from_db(row), Migration.from_db(mig))


def migration_of(plane, uuid: str):
    ctx = plane.ctx.elevated()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mig = db.migration_get_all(ctx, instance_uuid=uuid)[-1]
        if MigrationStatus(mig.status).is_final or mig.status == MigrationStatus.FINISHED:
            return mig
        time.sleep(0.02)
    raise AssertionError(f"migration of {uuid} stuck in {mig.status}")


def usage_matches_instances(plane) -> dict[str, int]:
    """Memory allocated per host, checked against the instances and migrations there."""
    ctx = plane.ctx.elevated()
    nodes = {n.id: n.host for n in db.compute_node_get_all(ctx)}
    used = {nodes[i]: u["memory_mb"] for i, u in db.compute_node_usage(ctx).items()}
    return {h: m for h, m in used.items() if m}


@pytest.fixture
def active(plane):
    uuid = plane.boot()
    row = plane.settle(uuid)
    return uuid, row.host, "c2" if row.host == "c1" else "c1"


def test_resize_confirm(plane, active):
    uuid, source, dest = active
    resize(plane, uuid)
    row = plane.settle(uuid)
    assert (row.vm_state, row.host, row.flavor["name"]) == (VmState.RESIZED, dest, "m1.big")
    assert migration_of(plane, uuid).status == MigrationStatus.FINISHED
    # Both hosts hold a claim while the resize waits: the new flavor here, the old there.
    assert usage_matches_instances(plane) == {dest: 1024, source: 512}
    finish(plane, uuid, "confirm")
    row = plane.settle(uuid)
    assert (row.vm_state, row.host, row.power_state) == (VmState.ACTIVE, dest,
                                                         PowerState.RUNNING)
    assert migration_of(plane, uuid).status == MigrationStatus.CONFIRMED
    assert usage_matches_instances(plane) == {dest: 1024}
    assert plane.compute(source).driver.resizing == {}


def test_resize_revert_restores_host_flavor_and_allocations(plane, active):
    uuid, source, dest = active
    resize(plane, uuid)
    assert plane.settle(uuid).vm_state == VmState.RESIZED
    finish(plane, uuid, "revert")
    row = plane.settle(uuid)
    assert (row.vm_state, row.host, row.flavor["name"]) == (VmState.ACTIVE, source, "m1.small")
    assert migration_of(plane, uuid).status == MigrationStatus.REVERTED
    assert usage_matches_instances(plane) == {source: 512}
    assert plane.compute(dest).driver.guests == {}
    assert plane.compute(source).driver.guests == {uuid: PowerState.RUNNING}


def test_stopped_server_cold_migrates_and_stays_stopped(plane, active):
    uuid, source, dest = active
    plane.act(uuid, "stop", "stop_instance")
    assert plane.settle(uuid).vm_state == VmState.STOPPED
    resize(plane, uuid, migration_type="migration")
    row = plane.settle(uuid)
    assert (row.vm_state, row.host, row.power_state) == (VmState.RESIZED, dest,
                                                         PowerState.SHUTDOWN)
    finish(plane, uuid, "confirm")
    row = plane.settle(uuid)
    assert (row.vm_state, row.host) == (VmState.STOPPED, dest)
    assert usage_matches_instances(plane) == {dest: 512}


def test_no_host_rolls_back(plane, active):
    uuid, source, _ = active
    resize(plane, uuid, {**BIG, "memory_mb": 10**7})
    row = plane.settle(uuid)
    assert (row.vm_state, row.host) == (VmState.ACTIVE, source)
    assert migration_of(plane, uuid).status == MigrationStatus.ERROR
    assert "No valid host" in plane.fault(uuid)
    assert usage_matches_instances(plane) == {source: 512}


# (failing driver step, host that fails, end vm_state, where the instance and its
# allocation end up, flavor it ends with)
FAILURES = [
    ("prep_resize", "dest", VmState.ACTIVE, "source", 512),
    ("migrate_disk_and_power_off", "source", VmState.ACTIVE, "source", 512),
    ("finish_migration", "dest", VmState.ERROR, "dest", 1024),
]


@pytest.mark.parametrize("step, where, end_vm, lives, memory", FAILURES)
def test_resize_failure_points(plane, active, step, where, end_vm, lives, memory):
    uuid, source, dest = active
    hosts = {"source": source, "dest": dest}
    plane.fail(hosts[where], step)
    resize(plane, uuid)
    row = plane.settle(uuid)
    assert (row.vm_state, row.task_state, row.host) == (end_vm, None, hosts[lives])
    assert migration_of(plane, uuid).status == MigrationStatus.ERROR
    assert step.split("_")[0] in plane.fault(uuid) or "broke" in plane.fault(uuid)
    assert usage_matches_instances(plane) == {hosts[lives]: memory}
    if end_vm == VmState.ACTIVE:
        assert plane.compute(source).driver.guests[uuid] == PowerState.RUNNING


@pytest.mark.parametrize("step, how, lives", [
    ("confirm_migration", "confirm", "dest"),
    ("revert_migration_at_destination", "revert", "dest"),
    ("finish_revert_migration", "revert", "source"),
])
def test_confirm_and_revert_failure_points(plane, active, step, how, lives):
    uuid, source, dest = active
    hosts = {"source": source, "dest": dest}
    resize(plane, uuid)
    assert plane.settle(uuid).vm_state == VmState.RESIZED
    failing = source if step in ("confirm_migration", "finish_revert_migration") else dest
    plane.fail(failing, step)
    finish(plane, uuid, how)
    row = plane.settle(uuid)
    assert (row.vm_state, row.task_state, row.host) == (VmState.ERROR, None, hosts[lives])
    assert migration_of(plane, uuid).status == MigrationStatus.ERROR
    assert "broke" in plane.fault(uuid)
    flavor_memory = 1024 if lives == "dest" else 512
    assert usage_matches_instances(plane) == {hosts[lives]: flavor_memory}


def test_second_confirm_is_refused(plane, active):
    uuid, _, _ = active
    resize(plane, uuid)
    plane.settle(uuid)
    finish(plane, uuid, "confirm")
    with pytest.raises(exception.Conflict):
        finish(plane, uuid, "revert")


def test_deleting_a_resized_server_confirms_then_frees_both_hosts(plane, active):
    from novalite.compute import api as compute_api

    uuid, source, dest = active
    resize(plane, uuid)
    assert plane.settle(uuid).vm_state == VmState.RESIZED
    compute_api.API().delete(plane.ctx, uuid)
    assert plane.settle(uuid) is None
    assert migration_of(plane, uuid).status == MigrationStatus.CONFIRMED
    assert usage_matches_instances(plane) == {}
    assert plane.compute(source).driver.resizing == {}
    assert plane.compute(dest).driver.guests == {}


def test_prep_resize_failure_reschedules_to_the_next_alternate(plane, in_process):
    from novalite.cmd import compute as compute_cmd

    third = compute_cmd.make_service("c3")
    third.start()
    in_process.append(third)
    plane.services["c3"] = third
    uuid = plane.boot()
    source = plane.settle(uuid).host
    # Whichever destination is tried first fails its prep_resize; the next one works.
    failed_on = []
    for host in {"c1", "c2", "c3"} - {source}:
        driver = plane.compute(host).driver

        def prep(instance, flavor, _host=host, _real=driver.prep_resize):
            if not failed_on:
                failed_on.append(_host)
                raise exception.VirtDriverError(reason=f"prep_resize broke on {_host}")
            return _real(instance, flavor)

        driver.prep_resize = prep
    resize(plane, uuid)
    row = plane.settle(uuid)
    assert len(failed_on) == 1
    assert row.vm_state == VmState.RESIZED and row.host not in (source, failed_on[0])
    assert migration_of(plane, uuid).status == MigrationStatus.FINISHED
    results = sorted(e.result for a in db.actions_get(plane.ctx.elevated(), uuid)
                     if a.action == "resize" for e in a.events
                     if e.event == "compute_prep_resize")
    assert results == ["Error", "Success"]
    assert usage_matches_instances(plane) == {source: 512, row.host: 1024}
