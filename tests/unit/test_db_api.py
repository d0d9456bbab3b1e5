"""novalite.db.api on SQLite: guarded updates, upserts, lookups."""

from __future__ import annotations

import datetime
import threading

import pytest

from novalite import context, exception, servicegroup, states
from novalite.db import api as db
from novalite.db import models


@pytest.fixture
def ctx():
    return context.RequestContext(user_id="u1", project_id="p1", request_id="req-1")


@pytest.fixture
def instance(sqlite_db, ctx):
    return db.instance_create(ctx, {"name": "vm1", "host": "c1", "vm_state": "active",
                                    "task_state": None, "flavor": {"vcpus": 1, "name": "m1"}})


# -- instances -------------------------------------------------------------------------

def test_instance_create_defaults_and_json_round_trip(sqlite_db, ctx):
    inst = db.instance_create(ctx, {"name": "x", "metadata": {"k": "v"},
                                    "system_metadata": {"old_vm_state": "stopped"}})
    assert (inst.vm_state, inst.task_state) == ("building", "scheduling")
    assert (inst.project_id, inst.user_id, inst.deleted) == ("p1", "u1", 0)
    got = db.instance_get(ctx, inst.uuid)
    assert got.metadata_ == {"k": "v"}
    assert got.system_metadata == {"old_vm_state": "stopped"}
    assert got.created_at is not None and got.locked is False


def test_concurrent_guarded_update_second_loser_raises(instance, ctx):
    other = context.RequestContext(user_id="u2", project_id="p1")
    # Both callers read task_state None and both try to claim the instance.
    first = db.instance_update(ctx, instance.uuid, {"task_state": "powering-off"},
                               expected_task_state=[None])
    assert first.task_state == "powering-off"
    with pytest.raises(exception.UnexpectedTaskStateError) as info:
        db.instance_update(other, instance.uuid, {"task_state": "resize_prep"},
                           expected_task_state=[None])
    assert info.value.code == 409
    assert "powering-off" in info.value.format_message()
    assert info.value.kwargs["actual"] == "powering-off"
    assert db.instance_get(ctx, instance.uuid).task_state == "powering-off"


def test_bare_none_guard_means_no_task_and_default_means_no_guard(instance, ctx):
    db.instance_update(ctx, instance.uuid, {"task_state": "powering-off"},
                       expected_task_state=None)
    with pytest.raises(exception.UnexpectedTaskStateError):
        db.instance_update(ctx, instance.uuid, {"task_state": "migrating"},
                           expected_task_state=None)
    # Without a guard the write goes through whatever the current task.
    assert db.instance_update(ctx, instance.uuid, {"task_state": None}).task_state is None


def test_guarded_update_race_between_threads_has_one_winner(instance, ctx):
    results: list[str] = []
    barrier = threading.Barrier(6)

    def contender(task: str) -> None:
        barrier.wait()
        try:
            db.instance_update(ctx, instance.uuid, {"task_state": task},
                               expected_task_state=(None,))
            results.append(task)
        except exception.UnexpectedTaskStateError:
            results.append("lost")

    tasks = ["powering-off", "resize_prep", "migrating", "deleting", "reboot_pending",
             "pausing"]
    threads = [threading.Thread(target=contender, args=(t,)) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [r for r in results if r != "lost"]
    assert len(results) == 6 and len(winners) == 1
    assert db.instance_get(ctx, instance.uuid).task_state == winners[0]


def test_guarded_update_expectations(instance, ctx):
    # A plain string is one expected value; None inside a list means IS NULL.
    db.instance_update(ctx, instance.uuid, {"task_state": "migrating"},
                       expected_task_state=[None, "scheduling"])
    db.instance_update(ctx, instance.uuid, {"task_state": None},
                       expected_task_state="migrating", expected_vm_state=["active"])
    with pytest.raises(exception.UnexpectedTaskStateError, match="vm_state"):
        db.instance_update(ctx, instance.uuid, {"task_state": "powering-on"},
                           expected_task_state=[None], expected_vm_state=["stopped"])
    # No expectation: no guard.
    assert db.instance_update(ctx, instance.uuid, {"power_state": states.PowerState.RUNNING}
                              ).power_state == 1


def test_instance_not_found(sqlite_db, ctx):
    with pytest.raises(exception.InstanceNotFound):
        db.instance_update(ctx, "no-such-uuid", {"task_state": None},
                           expected_task_state=[None])
    with pytest.raises(exception.InstanceNotFound):
        db.instance_get(ctx, "no-such-uuid")


def test_unknown_field_is_refused(instance, ctx):
    with pytest.raises(exception.Invalid, match="bogus"):
        db.instance_update(ctx, instance.uuid, {"bogus": 1})


def test_instance_transition_uses_the_table(instance, ctx):
    inst = db.instance_transition(ctx, instance.uuid, "stop")
    assert (inst.vm_state, inst.task_state) == ("active", "powering-off")
    with pytest.raises(exception.UnexpectedTaskStateError):
        db.instance_transition(ctx, instance.uuid, "resize")
    inst = db.instance_transition(ctx, instance.uuid, "powered_off",
                                  values={"power_state": states.PowerState.SHUTDOWN})
    assert (inst.vm_state, inst.task_state, inst.power_state) == ("stopped", None, 4)


def test_instance_transition_previous_vm_state(instance, ctx):
    db.instance_update(ctx, instance.uuid, {"vm_state": "resized"})
    db.instance_transition(ctx, instance.uuid, "revert")
    inst = db.instance_transition(ctx, instance.uuid, "reverted", previous_vm_state="stopped")
    assert (inst.vm_state, inst.task_state) == ("stopped", None)


def test_instance_destroy_soft_deletes(instance, ctx):
    gone = db.instance_destroy(ctx, instance.uuid, expected_task_state=[None])
    assert gone.deleted == gone.id and gone.vm_state == "deleted"
    with pytest.raises(exception.InstanceNotFound):
        db.instance_get(ctx, instance.uuid)
    assert db.instance_get(ctx, instance.uuid, read_deleted=True).deleted_at is not None


def test_nested_transaction_rolls_back_together(instance, ctx):
    with pytest.raises(RuntimeError):
        with db.transaction():
            db.instance_update(ctx, instance.uuid, {"task_state": "deleting"})
            raise RuntimeError("boom")
    assert db.instance_get(ctx, instance.uuid).task_state is None


def test_duplicate_uuid_is_a_conflict(instance, ctx):
    with pytest.raises(exception.DBDuplicateEntry):
        db.instance_create(ctx, {"uuid": instance.uuid})


# -- services ----------------------------------------------------------------------------

def test_heartbeat_creates_then_updates(sqlite_db, ctx, monkeypatch):
    t0 = datetime.datetime(2026, 1, 1, 12, 0, 0)
    monkeypatch.setattr(servicegroup, "utcnow", lambda: t0)
    svc = db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 1)
    assert (svc.report_count, svc.last_seen_up, svc.version) == (1, t0, 1)
    assert len(svc.uuid) == 36
    t1 = t0 + datetime.timedelta(seconds=10)
    monkeypatch.setattr(servicegroup, "utcnow", lambda: t1)
    again = db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 2)
    assert (again.id, again.uuid) == (svc.id, svc.uuid)
    assert (again.report_count, again.last_seen_up, again.version) == (2, t1, 2)
    assert len(db.service_get_all(ctx)) == 1


def test_concurrent_first_heartbeats_make_one_row(sqlite_db, ctx):
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def beat() -> None:
        barrier.wait()
        try:
            db.service_heartbeat(ctx, "h", "novalite-conductor", "conductor", 1)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    [svc] = db.service_get_all(ctx, host="h")
    assert svc.report_count == 4


def test_service_get_by_id_uuid_and_not_found(sqlite_db, ctx):
    svc = db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 1)
    db.service_heartbeat(ctx, "ctl", "novalite-scheduler", "scheduler", 1)
    assert db.service_get(ctx, svc.uuid).id == svc.id
    assert db.service_get(ctx, svc.id).uuid == svc.uuid
    assert db.service_get(ctx, str(svc.id)).uuid == svc.uuid
    with pytest.raises(exception.ServiceNotFound):
        db.service_get(ctx, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(exception.ServiceNotFound):
        db.service_get(ctx, 9999)
    assert [s.host for s in db.service_get_all(ctx, binary="novalite-scheduler")] == ["ctl"]


def test_service_update_and_is_up(sqlite_db, ctx):
    svc = db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 1)
    assert servicegroup.is_up(svc)
    svc = db.service_update(ctx, svc.uuid, {"disabled": True, "disabled_reason": "maint",
                                            "forced_down": True})
    assert svc.disabled and svc.disabled_reason == "maint"
    assert not servicegroup.is_up(db.service_get(ctx, svc.id))
    with pytest.raises(exception.ServiceNotFound):
        db.service_update(ctx, 9999, {"disabled": True})


def test_service_destroy_allows_re_registration(sqlite_db, ctx):
    svc = db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 1)
    db.service_destroy(ctx, svc.id)
    with pytest.raises(exception.ServiceNotFound):
        db.service_get(ctx, svc.id)
    fresh = db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 1)
    assert fresh.id != svc.id and fresh.report_count == 1


# -- compute nodes -----------------------------------------------------------------------

REPORT = {"hypervisor_type": "fake", "hypervisor_version": 1000, "vcpus": 8,
          "memory_mb": 16384, "local_gb": 100, "cpu_info": {"arch": "x86_64"},
          "host_ip": "10.0.0.1", "disk_available_least": 90, "future_field": "ignored"}


def test_compute_node_report_generation(sqlite_db, ctx):
    node = db.compute_node_report(ctx, "c1", "c1.local", dict(REPORT))
    assert node.generation == 0 and node.vcpus == 8 and node.service_id is None
    assert node.cpu_info == '{"arch": "x86_64"}'
    assert node.reserved_host_memory_mb == 512  # [compute] default
    same = db.compute_node_report(ctx, "c1", "c1.local", dict(REPORT))
    assert (same.id, same.uuid, same.generation) == (node.id, node.uuid, 0)
    moved = db.compute_node_report(ctx, "c1", "c1.local", {**REPORT, "host_ip": "10.0.0.2"})
    assert moved.generation == 0 and moved.host_ip == "10.0.0.2"
    bigger = db.compute_node_report(ctx, "c1", "c1.local", {**REPORT, "vcpus": 16})
    assert bigger.generation == 1 and bigger.vcpus == 16
    ratio = db.compute_node_report(ctx, "c1", "c1.local",
                                   {**REPORT, "vcpus": 16, "cpu_allocation_ratio": 1.5})
    assert ratio.generation == 2 and ratio.cpu_allocation_ratio == 1.5
    assert len(db.compute_node_get_all(ctx)) == 1


def test_compute_node_links_to_its_service(sqlite_db, ctx):
    node = db.compute_node_report(ctx, "c1", "c1", dict(REPORT))
    svc = db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 1)
    assert db.compute_node_get(ctx, node.id).service_id == svc.id
    other = db.service_heartbeat(ctx, "c2", "novalite-compute", "compute", 1)
    node2 = db.compute_node_report(ctx, "c2", "c2", dict(REPORT))
    assert node2.service_id == other.id


def test_compute_node_get(sqlite_db, ctx):
    node = db.compute_node_report(ctx, "c1", "c1", dict(REPORT))
    assert db.compute_node_get(ctx, node.uuid).id == node.id
    assert db.compute_node_get(ctx, node.id).uuid == node.uuid
    with pytest.raises(exception.ComputeNodeNotFound):
        db.compute_node_get(ctx, 42)


def test_compute_node_usage(instance, ctx):
    n1 = db.compute_node_report(ctx, "c1", "c1", dict(REPORT))
    n2 = db.compute_node_report(ctx, "c2", "c2", dict(REPORT))
    migration = db.migration_create(ctx, {"instance_uuid": instance.uuid,
                                          "migration_type": "resize"})
    with db.transaction() as session:
        session.add_all([
            models.Allocation(consumer_uuid=instance.uuid, compute_node_id=n1.id, vcpus=2,
                              memory_mb=2048, disk_gb=20),
            models.Allocation(consumer_uuid=migration.uuid, compute_node_id=n1.id, vcpus=1,
                              memory_mb=512, disk_gb=10),
        ])
    usage = db.compute_node_usage(ctx)
    assert usage[n1.id] == {"vcpus": 3, "memory_mb": 2560, "disk_gb": 30, "instances": 1}
    assert usage[n2.id] == {"vcpus": 0, "memory_mb": 0, "disk_gb": 0, "instances": 0}


# -- migrations, faults, actions --------------------------------------------------------

def test_migration_guarded_update(instance, ctx):
    mig = db.migration_create(ctx, {"instance_uuid": instance.uuid,
                                    "migration_type": "live-migration",
                                    "source_compute": "c1"})
    assert mig.status == "accepted" and mig.project_id == "p1"
    mig = db.migration_update(ctx, mig.id, {"status": "queued"}, expected_status="accepted")
    mig = db.migration_update(ctx, mig.uuid, {"status": "preparing"})  # guard from the table
    with pytest.raises(exception.UnexpectedMigrationStatusError) as info:
        db.migration_update(ctx, mig.id, {"status": "queued"}, expected_status="accepted")
    assert info.value.kwargs["actual"] == "preparing"
    with pytest.raises(exception.UnexpectedMigrationStatusError):
        db.migration_update(ctx, mig.id, {"status": "completed"})  # not from preparing
    with pytest.raises(exception.InvalidStateTransition):
        db.migration_update(ctx, mig.id, {"status": "queued"}, expected_status="completed")
    db.migration_update(ctx, mig.id, {"status": "running"})
    progress = db.migration_update(ctx, mig.id, {"memory_total": 8 * 2**30,
                                                 "memory_remaining": 2**33 - 1})
    assert progress.memory_total == 8 * 2**30 and progress.status == "running"
    assert db.migration_get(ctx, mig.uuid).memory_remaining == 2**33 - 1
    with pytest.raises(exception.MigrationNotFound):
        db.migration_update(ctx, 999, {"status": "error"})
    with pytest.raises(exception.MigrationNotFound):
        db.migration_get(ctx, "nope")
    assert [m.id for m in db.migration_get_all(ctx, host="c1", statuses=["running"])] == [
        mig.id]


def test_fault_and_actions(instance, ctx):
    fault = db.instance_fault_create(ctx, {"instance_uuid": instance.uuid,
                                           "message": "x" * 300, "details": "tb",
                                           "host": "c1"})
    assert len(fault.message) == 255 and fault.code == 500
    assert db.instance_fault_get_latest(ctx, instance.uuid).id == fault.id
    action = db.action_start(ctx, instance.uuid, "stop")
    assert action.request_id == "req-1" and action.start_time is not None
    db.action_event_start(ctx, instance.uuid, "compute_stop_instance", host="c1")
    event = db.action_event_finish(ctx, instance.uuid, "compute_stop_instance",
                                   result="Error", traceback="Traceback ...")
    assert event.finish_time is not None and event.result == "Error"
    db.action_finish(ctx, instance.uuid)
    [listed] = db.actions_get(ctx, instance.uuid)
    assert listed.message == "Error" and listed.finish_time is not None
    assert [e.event for e in listed.events] == ["compute_stop_instance"]
    with pytest.raises(exception.NotFound):
        db.action_event_start(ctx, instance.uuid, "x", request_id="req-other")


def test_engine_is_cached_and_sqlite_is_wal(sqlite_db):
    engine = db.get_engine()
    assert db.get_engine() is engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose_engine()
    assert db.get_engine() is not engine


def test_default_url_is_sqlite_under_state_path(tmp_path):
    from novalite.conf import CONF

    CONF.set_override("state_path", str(tmp_path / "state"))
    try:
        assert db.connection_url() == f"sqlite:///{tmp_path / 'state' / 'novalite.sqlite'}"
    finally:
        CONF.clear_override("state_path")
