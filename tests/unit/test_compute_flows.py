"""Build, power and delete flows end to end in one process (fake:// transport, SQLite,
fake driver): conductor, scheduler and two compute hosts. Every failure step ends
stable, with a fault, and with no allocation leaked."""

from __future__ import annotations

import time

import pytest

from novalite import context as nl_context
from novalite import exception
from novalite.cmd import compute as compute_cmd
from novalite.cmd import conductor as conductor_cmd
from novalite.cmd import scheduler as scheduler_cmd
from novalite.compute import rpcapi as compute_rpcapi
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.db import allocations
from novalite.db import api as db
from novalite.objects.instance import Instance
from novalite.objects.request_spec import RequestSpec
from novalite.states import PowerState, TaskState, VmState

FLAVOR = {"flavorid": "1", "name": "m1.small", "vcpus": 1, "memory_mb": 512, "root_gb": 1,
          "ephemeral_gb": 0, "swap": 0, "extra_specs": {}}


class Plane:
    def __init__(self) -> None:
        self.services = {}
        self.ctx = nl_context.RequestContext(user_id="u", project_id="p", roles=["member"])

    def compute(self, host: str):
        return self.services[host].manager

    def fail(self, host: str, operation: str) -> None:
        driver = self.compute(host).driver

        def broken(*args, **kwargs):
            raise exception.VirtDriverError(reason=f"{operation} broke on {host}")

        setattr(driver, operation, broken)

    def boot(self, flavor: dict = FLAVOR) -> str:
        ctx = nl_context.RequestContext(user_id="u", project_id="p", roles=["member"])
        row = db.instance_create(ctx, {"name": "vm", "flavor": flavor, "image_ref": "img"})
        db.action_start(ctx, row.uuid, "create")
        spec = RequestSpec(project_id="p", user_id="u", flavor=flavor, instance_uuid=row.uuid)
        conductor_rpcapi.ConductorAPI().build_instances(ctx, [Instance.from_db(row)], spec, {})
        return row.uuid

    def act(self, uuid: str, transition: str, cast: str, **kwargs) -> None:
        """What the API does: the guarded state change, the action, then the cast."""
        ctx = nl_context.RequestContext(user_id="u", project_id="p", roles=["member"])
        row = db.instance_transition(ctx, uuid, transition)
        db.action_start(ctx, uuid, transition)
        getattr(compute_rpcapi.ComputeAPI(), cast)(ctx, Instance.from_db(row), **kwargs)

    def settle(self, uuid: str, timeout: float = 10):
        """Wait until the instance has no task (or is gone); return the row or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                row = db.instance_get(self.ctx.elevated(), uuid)
            except exception.InstanceNotFound:
                return None
            if row.task_state is None and row.vm_state != VmState.BUILDING:
                return row
            time.sleep(0.02)
        raise AssertionError(f"instance {uuid} did not settle: {row.vm_state}/{row.task_state}")

    def held(self, uuid: str) -> dict[str, int]:
        return {a["host"]: a["memory_mb"]
                for a in allocations.get_by_consumer(self.ctx.elevated(), uuid)}

    def fault(self, uuid: str) -> str:
        return db.instance_fault_get_latest(self.ctx.elevated(), uuid).message


@pytest.fixture
def plane(in_process):
    p = Plane()
    for svc in (conductor_cmd.make_service("ctl"), scheduler_cmd.make_service("ctl"),
                compute_cmd.make_service("c1"), compute_cmd.make_service("c2")):
        svc.start()
        in_process.append(svc)
        p.services[svc.host if svc.binary == "novalite-compute" else svc.binary] = svc
    return p


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
