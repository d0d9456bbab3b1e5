"""A compute step's bookkeeping (action events, allocations) travels with its state
changes: one conductor round trip and one transaction per write, not one per record."""

from __future__ import annotations

import pytest

from novalite import context as nl_context
from novalite import exception
from novalite.conductor import manager as conductor_manager
from novalite.conductor import rpcapi as conductor_rpcapi
from novalite.conf import CONF
from novalite.db import api as db
from novalite.states import MigrationStatus, VmState

NARROW = ("instance_update", "instance_fault_create", "action_event_start",
          "action_event_finish", "instance_destroyed", "migration_update",
          "revert_allocations", "confirm_allocations")


@pytest.fixture
def conductor_calls(monkeypatch):
    """Every ConductorAPI write a compute agent makes: ("batch", [methods], wait) or
    (method,) for a write sent on its own."""
    seen: list[tuple] = []
    real_batch = conductor_rpcapi.ConductorAPI.batch

    def batch(self, ctxt, ops, wait=True):
        seen.append(("batch", [method for method, _ in ops], wait))
        return real_batch(self, ctxt, ops, wait)

    monkeypatch.setattr(conductor_rpcapi.ConductorAPI, "batch", batch)
    for name in NARROW:
        real = getattr(conductor_rpcapi.ConductorAPI, name)

        def single(self, *args, _name=name, _real=real, **kwargs):
            seen.append((_name,))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(conductor_rpcapi.ConductorAPI, name, single)
    return seen


def _events(ctx, uuid, action):
    actions = {a.action: a for a in db.actions_get(ctx, uuid)}
    return actions[action], {e.event: e for e in actions[action].events}


def test_stop_is_one_round_trip_with_its_event(plane, conductor_calls):
    uuid = plane.boot()
    plane.settle(uuid)
    conductor_calls.clear()
    plane.act(uuid, "stop", "stop_instance")
    row = plane.settle(uuid)
    assert row.vm_state == VmState.STOPPED
    # Start event, the final state and the finished event: one call, one transaction.
    assert conductor_calls == [
        ("batch", ["action_event_start", "instance_update", "action_event_finish"], True)]
    # So whoever sees the instance stopped sees the event and the action finished.
    action, events = _events(plane.ctx.elevated(), uuid, "stop")
    event = events["compute_stop_instance"]
    assert event.result == "Success" and event.host == row.host
    assert event.start_time <= event.finish_time
    assert action.finish_time is not None


def test_resize_writes_state_and_migration_together(plane, conductor_calls):
    from tests.unit.test_resize_flows import migration_of, resize

    uuid = plane.boot()
    plane.settle(uuid)
    conductor_calls.clear()
    resize(plane, uuid)
    assert plane.settle(uuid).vm_state == VmState.RESIZED
    assert migration_of(plane, uuid).status == MigrationStatus.FINISHED
    # prep_resize (dest): its event in one cast; resize_instance (source): task_state and
    # migration status in one call, twice, then its event's finish in a cast;
    # finish_resize (dest): two calls, the last with the final state and the event.
    assert conductor_calls == [
        ("batch", ["action_event_start", "action_event_finish"], False),
        ("batch", ["action_event_start", "instance_update", "migration_update"], True),
        ("batch", ["instance_update", "migration_update"], True),
        ("batch", ["action_event_finish"], False),
        ("batch", ["action_event_start", "instance_update"], True),
        ("batch", ["migration_update", "instance_update", "action_event_finish"], True),
    ]
    action, events = _events(plane.ctx.elevated(), uuid, "resize")
    assert action.finish_time is not None
    assert {name: e.result for name, e in events.items()} == {
        "conductor_migrate_server": "Success", "compute_prep_resize": "Success",
        "compute_resize_instance": "Success", "compute_finish_resize": "Success"}


def test_batch_is_all_or_none(plane):
    ctx = nl_context.RequestContext(user_id="u", project_id="p", roles=["member"])
    uuid = plane.boot()
    plane.settle(uuid)
    db.action_start(ctx, uuid, "stop")
    conductor = conductor_manager.ConductorManager("ctl")
    with pytest.raises(exception.UnexpectedTaskStateError):
        conductor.batch(ctx, [
            ["action_event_start", {"instance_uuid": uuid, "event": "e", "host": "c1"}],
            ["instance_update", {"instance_uuid": uuid, "values": {"task_state": None},
                                 "guard": {"task_state": ["powering-off"]}}]])
    _, events = _events(ctx.elevated(), uuid, "stop")
    assert events == {}  # the event start was rolled back with the failed update
    with pytest.raises(exception.Invalid, match="not batchable: instance_create"):
        conductor.batch(ctx, [["instance_create", {}]])


def test_a_conductor_pinned_below_1_4_gets_one_call_per_write(plane, conductor_calls):
    CONF.set_override("conductor", "1.3", group="upgrade_levels")
    try:
        api = conductor_rpcapi.ConductorAPI()
    finally:
        CONF.clear_override("conductor", group="upgrade_levels")
    ctx = nl_context.RequestContext(user_id="u", project_id="p", roles=["member"])
    uuid = plane.boot()
    plane.settle(uuid)
    db.action_start(ctx, uuid, "stop")
    conductor_calls.clear()
    step_ops = [("action_event_start", {"instance_uuid": uuid, "event": "e", "host": "c1",
                                        "start_time": db._now()}),
                ("action_event_finish", {"instance_uuid": uuid, "event": "e",
                                         "result": "Success"})]
    api.batch(ctx, step_ops)
    assert [call[0] for call in conductor_calls] == [
        "batch", "action_event_start", "action_event_finish"]
    _, events = _events(ctx.elevated(), uuid, "stop")
    assert events["e"].result == "Success"


def test_a_failed_step_records_fault_start_and_error_in_one_call(plane, conductor_calls):
    uuid = plane.boot()
    row = plane.settle(uuid)
    plane.fail(row.host, "power_off")
    conductor_calls.clear()
    plane.act(uuid, "stop", "stop_instance")
    row = plane.settle(uuid)
    assert row.vm_state == VmState.ACTIVE
    assert conductor_calls[0] == (
        "batch", ["action_event_start", "instance_fault_create", "action_event_finish"], True)
    _, events = _events(plane.ctx.elevated(), uuid, "stop")
    assert events["compute_stop_instance"].result == "Error"
