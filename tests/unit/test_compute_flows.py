"""Build, power and delete flows end to end in one process (fake:// transport, SQLite,
fake driver): conductor, scheduler and two compute hosts. Every failure step ends
stable, with a fault, and with no allocation leaked."""

from __future__ import annotations

import time

import pytest

from novalite.db import api as db
from novalite.states import PowerState, TaskState, VmState
from tests.unit.plane import FLAVOR


def test_boot_claims_exactly_the_flavor(plane):
    uuid = plane.boot()
    row = plane.settle(uuid)
    assert (row.vm_state, row.power_state) == (VmState.ACTIVE, PowerState.RUNNING)
    assert plane.held(uuid) == {row.host: 512}
    assert row.launched_at is not None


def test_spawn_failure_reschedules_to_the_other_host(plane):
    plane.fail("c1", "spawn")
    plane.fail("c2", "get_available_resource")  # irrelevant to builds; c2 still works
    uuids = [plane.boot() for _ in range(3)]
    for uuid in uuids:
        row = plane.settle(uuid)
        assert (row.vm_state, row.host) == (VmState.ACTIVE, "c2")
        assert plane.held(uuid) == {"c2": 512}


def test_spawn_failure_everywhere_ends_in_error_naming_each_host(plane):
    plane.fail("c1", "spawn")
    plane.fail("c2", "spawn")
    uuid = plane.boot()
    row = plane.settle(uuid)
    assert row.vm_state == VmState.ERROR
    fault = plane.fault(uuid)
    assert "c1: " in fault and "c2: " in fault and "spawn broke" in fault
    assert plane.held(uuid) == {}
    assert plane.compute("c1").driver.list_instances() == []


def test_no_valid_host_explains_per_filter(plane):
    uuid = plane.boot({**FLAVOR, "memory_mb": 10**7})
    row = plane.settle(uuid)
    assert row.vm_state == VmState.ERROR
    assert "ResourceFilter removed 2" in plane.fault(uuid)
    assert plane.held(uuid) == {}


@pytest.mark.parametrize("operation, transition, cast, start_vm, end_vm", [
    ("power_off", "stop", "stop_instance", VmState.ACTIVE, VmState.ACTIVE),
    ("power_on", "start", "start_instance", VmState.STOPPED, VmState.STOPPED),
    ("reboot", "reboot", "reboot_instance", VmState.ACTIVE, VmState.ACTIVE),
    ("destroy", "delete", "terminate_instance", VmState.ACTIVE, VmState.ERROR),
])
def test_failed_step_rolls_back_with_a_fault(plane, operation, transition, cast, start_vm,
                                             end_vm):
    uuid = plane.boot()
    row = plane.settle(uuid)
    if start_vm == VmState.STOPPED:
        plane.act(uuid, "stop", "stop_instance")
        assert plane.settle(uuid).vm_state == VmState.STOPPED
    plane.fail(row.host, operation)
    kwargs = {"reboot_type": "SOFT"} if cast == "reboot_instance" else {}
    plane.act(uuid, transition, cast, **kwargs)
    row = plane.settle(uuid)
    assert (row.vm_state, row.task_state) == (end_vm, None)
    assert f"{operation} broke" in plane.fault(uuid)
    # The instance still exists, so it still holds exactly its claim.
    assert plane.held(uuid) == {row.host: 512}
    actions = {a.action: a for a in db.actions_get(plane.ctx.elevated(), uuid)}
    assert actions[transition].message == "Error"


def test_power_cycle_and_delete_free_everything(plane):
    uuid = plane.boot()
    host = plane.settle(uuid).host
    plane.act(uuid, "stop", "stop_instance")
    row = plane.settle(uuid)
    assert (row.vm_state, row.power_state) == (VmState.STOPPED, PowerState.SHUTDOWN)
    plane.act(uuid, "start", "start_instance")
    assert plane.settle(uuid).vm_state == VmState.ACTIVE
    plane.act(uuid, "reboot_hard", "reboot_instance", reboot_type="HARD")
    assert plane.settle(uuid).vm_state == VmState.ACTIVE
    plane.act(uuid, "delete", "terminate_instance")
    assert plane.settle(uuid) is None
    assert plane.held(uuid) == {}
    assert plane.compute(host).driver.list_instances() == []


def test_power_sync_marks_a_guest_found_off_as_stopped(plane):
    uuid = plane.boot()
    row = plane.settle(uuid)
    manager = plane.compute(row.host)
    manager.driver.guests[uuid] = PowerState.SHUTDOWN  # it shut itself down
    manager.sync_power_states()
    row = db.instance_get(plane.ctx.elevated(), uuid)
    assert (row.vm_state, row.power_state, row.task_state) == (
        VmState.STOPPED, PowerState.SHUTDOWN, None)


def test_a_delete_during_the_build_wins_and_frees_the_claim(plane):
    uuid = plane.boot()
    # The API deletes the instance before the compute host got to it.
    ctx = plane.ctx.elevated()
    db.instance_update(ctx, uuid, {"task_state": TaskState.DELETING.value})
    time.sleep(0.5)
    row = db.instance_get(ctx, uuid)
    assert row.task_state == TaskState.DELETING  # the build did not overwrite it
