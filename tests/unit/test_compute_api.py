"""novalite.compute.api on SQLite with recording RPC clients: what each flow writes, what
each cast carries, and the races the guarded updates settle."""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novalite import exception, quota, servicegroup, states
from novalite.compute import api as compute_api
from novalite.conf import CONF
from novalite.context import RequestContext, get_admin_context
from novalite.db import allocations
from novalite.db import api as db
from novalite.db import flavors as flavor_db
from novalite.objects.instance import Instance
from novalite.objects.request_spec import RequestSpec


class Recorder:
    """Stands in for an RPC client: every method call is recorded as a cast."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.fail: Exception | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            if self.fail is not None:
                raise self.fail
            with self._lock:
                self.calls.append((name, args, kwargs))
        return record

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


@pytest.fixture
def env(sqlite_db: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Flavors 1 (1 vcpu, 512 MiB, 1 GiB) and small (2 vcpus, 256 MiB, 20 GiB); an image
    needing 300 MiB of RAM (too much for small); big (2 vcpus, 1 GiB, 20 GiB);
    compute hosts c1 (up) and c2 (down) with compute nodes; a compute API whose RPC
    clients record."""
    ctx = get_admin_context()
    images = tmp_path / "images"
    images.mkdir()
    (images / "disk.raw").write_bytes(b"\0" * 4096)
    image_id = str(uuid.uuid4())
    (images / "images.json").write_text(json.dumps([
        {"id": image_id, "name": "cirros", "file": "disk.raw", "min_ram": 300}]))
    CONF.set_override("local_dir", str(images), group="image")
    flavor_db.flavor_create(ctx, {"flavorid": "1", "name": "m1.tiny", "vcpus": 1,
                                  "memory_mb": 512, "root_gb": 1})
    flavor_db.flavor_create(ctx, {"flavorid": "small", "name": "m1.small", "vcpus": 2,
                                  "memory_mb": 256, "root_gb": 20})
    flavor_db.flavor_create(ctx, {"flavorid": "big", "name": "m1.big", "vcpus": 2,
                                  "memory_mb": 1024, "root_gb": 20})
    db.service_heartbeat(ctx, "c1", "novalite-compute", "compute", 1)
    down = db.service_heartbeat(ctx, "c2", "novalite-compute", "compute", 1)
    stale = servicegroup.utcnow() - datetime.timedelta(seconds=CONF.service_down_time * 5)
    db.service_update(ctx, down.id, {"last_seen_up": stale, "updated_at": stale})
    nodes = {host: db.compute_node_report(ctx, host, host, {"vcpus": 8, "memory_mb": 8192,
                                                            "local_gb": 100})
             for host in ("c1", "c2")}
    conductor, compute = Recorder(), Recorder()
    try:
        yield {"api": compute_api.API(conductor=conductor, compute=compute),
               "conductor": conductor, "compute": compute, "image": image_id, "nodes": nodes}
    finally:
        CONF.clear_override("local_dir", group="image")


def user(project: str = "demo", name: str = "alice") -> RequestContext:
    return RequestContext(user_id=name, project_id=project, roles=["member", "reader"],
                          request_id=f"req-{uuid.uuid4()}")


def admin() -> RequestContext:
    return RequestContext(user_id="admin", project_id="admin-project",
                          roles=["admin", "member", "reader"], request_id=f"req-{uuid.uuid4()}")


def create(env: dict, ctx: RequestContext | None = None, **kwargs: Any) -> list[Any]:
    args = {"name": "vm", "flavor_ref": "1", "image_ref": env["image"]}
    args.update(kwargs)
    return env["api"].create(ctx or user(), **args)


def on_host(env: dict, ctx: RequestContext | None = None, host: str = "c1",
            vm_state: str = "active", task_state: str | None = None) -> Any:
    (row,) = create(env, ctx)
    env["conductor"].calls.clear()
    return db.instance_update(get_admin_context(), row.uuid, {
        "host": host, "node": host, "vm_state": vm_state, "task_state": task_state,
        "power_state": 1})


# -- create ----------------------------------------------------------------------------

def test_create_records_and_casts_once(env: dict) -> None:
    ctx = user()
    (row,) = create(env, ctx, metadata={"a": "b"}, description="d", key_name="k",
                    scheduler_hints={"same_host": [str(uuid.uuid4())]})
    assert (row.vm_state, row.task_state) == (states.VmState.BUILDING,
                                              states.TaskState.SCHEDULING)
    assert row.availability_zone is None and row.host is None
    assert row.flavor == flavor_db.flavor_snapshot(
        flavor_db.flavor_get_by_flavorid(ctx, "1"))
    assert (row.project_id, row.user_id, row.key_name, row.hostname) == ("demo", "alice", "k",
                                                                         "vm")
    (name, args, kwargs), = env["conductor"].calls
    assert name == "build_instances"
    cast_ctx, instances, spec, image = args
    assert cast_ctx is ctx
    assert [type(i) for i in instances] == [Instance] and instances[0].uuid == row.uuid
    assert instances[0].task_state is states.TaskState.SCHEDULING
    assert isinstance(spec, RequestSpec)
    assert (spec.num_instances, spec.project_id, spec.user_id, spec.instance_uuid) == (
        1, "demo", "alice", row.uuid)
    assert spec.scheduler_hints["same_host"] and spec.flavor == row.flavor
    assert image["id"] == env["image"]
    (action,) = db.actions_get(ctx, row.uuid)
    assert (action.action, action.request_id) == ("create", ctx.request_id)


def test_create_with_zone_and_host(env: dict) -> None:
    (row,) = create(env, availability_zone="nova", requested_host="c1")
    spec = env["conductor"].calls[0][1][2]
    assert row.availability_zone == "nova"
    assert (spec.availability_zone, spec.requested_destination) == ("nova", "c1")


def test_multi_create(env: dict) -> None:
    rows = create(env, min_count=2, max_count=4, name="w")
    assert [r.name for r in rows] == ["w-1", "w-2", "w-3", "w-4"]
    assert len({r.reservation_id for r in rows}) == 1
    assert env["conductor"].names() == ["build_instances"]
    assert env["conductor"].calls[0][1][2].num_instances == 4


def test_quota_between_min_and_max(env: dict) -> None:
    quota.set_limit(get_admin_context(), "demo", "ram", 1536)  # three m1.tiny
    assert len(create(env, min_count=1, max_count=10)) == 3
    with pytest.raises(exception.OverQuota, match="ram"):
        create(env)
    quota.set_limit(get_admin_context(), "other", "instances", 1)
    with pytest.raises(exception.OverQuota):
        create(env, user("other"), min_count=2, max_count=2)
    assert db.instance_get_all(get_admin_context(), project_id="other") == []


def test_quota_recheck_undoes_a_create_that_raced(env: dict,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    quota.set_limit(get_admin_context(), "demo", "instances", 1)
    create(env)
    env["conductor"].calls.clear()
    # As if a concurrent request had passed the first check at the same moment.
    monkeypatch.setattr(quota, "allowed_instances", lambda *args, **kwargs: 1)
    with pytest.raises(exception.OverQuota, match="instances"):
        create(env)
    assert len(db.instance_get_all(get_admin_context(), project_id="demo")) == 1
    assert env["conductor"].calls == []


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"flavor_ref": "missing"}, exception.FlavorNotFound),
    ({"image_ref": "missing"}, exception.ImageNotFound),
    ({"min_count": 2, "max_count": 1}, exception.Invalid),
    ({"flavor_ref": "small", "image_ref": None}, exception.FlavorMemoryTooSmall),
    ({"metadata": {f"k{i}": "v" for i in range(129)}}, exception.OverQuota),
])
def test_create_refusals(env: dict, kwargs: dict, error: type) -> None:
    kwargs = dict(kwargs)
    if kwargs.get("image_ref", "") is None:
        kwargs["image_ref"] = env["image"]
    with pytest.raises(error):
        create(env, **kwargs)
    assert env["conductor"].calls == []
    assert db.instance_get_all(get_admin_context()) == []


def test_disabled_flavor_is_not_found(env: dict) -> None:
    flavor_db.flavor_create(get_admin_context(), {"flavorid": "off", "name": "off", "vcpus": 1,
                                                  "memory_mb": 512, "root_gb": 1,
                                                  "disabled": True})
    with pytest.raises(exception.FlavorNotFound):
        create(env, flavor_ref="off")


def test_a_failed_build_cast_leaves_error_not_build(env: dict) -> None:
    env["conductor"].fail = RuntimeError("no broker")
    with pytest.raises(RuntimeError):
        create(env)
    (row,) = db.instance_get_all(get_admin_context())
    assert (row.vm_state, row.task_state) == ("error", None)
    fault = db.instance_fault_get_latest(get_admin_context(), row.uuid)
    assert "no broker" in fault.message


# -- power actions ---------------------------------------------------------------------

def test_stop_start_reboot_cast_the_new_state(env: dict) -> None:
    api, compute = env["api"], env["compute"]
    ctx = user()
    row = on_host(env, ctx)
    updated = api.stop(ctx, row.uuid)
    assert updated.task_state == states.TaskState.POWERING_OFF
    name, (cast_ctx, instance), kwargs = compute.calls[-1]
    assert (name, instance.task_state, instance.host, kwargs) == (
        "stop_instance", states.TaskState.POWERING_OFF, "c1", {"clean_shutdown": True})
    assert cast_ctx is ctx
    db.instance_update(ctx, row.uuid, {"vm_state": "stopped", "task_state": None})
    api.start(ctx, row.uuid)
    assert compute.calls[-1][1][1].task_state is states.TaskState.POWERING_ON
    db.instance_update(ctx, row.uuid, {"task_state": None})
    api.reboot(ctx, row.uuid, "hard")
    name, (_, instance, reboot_type), _ = compute.calls[-1]
    assert (name, reboot_type, instance.task_state) == (
        "reboot_instance", "HARD", states.TaskState.REBOOT_PENDING_HARD)
    assert [a.action for a in db.actions_get(ctx, row.uuid)] == ["reboot", "start", "stop",
                                                                 "create"]


def test_invalid_state_names_the_attribute(env: dict) -> None:
    api = env["api"]
    row = on_host(env, vm_state="stopped")
    with pytest.raises(exception.InstanceInvalidState) as info:
        api.stop(user(), row.uuid)
    assert info.value.format_message() == (
        f"Cannot 'stop' instance {row.uuid} while it is in vm_state stopped")
    db.instance_update(get_admin_context(), row.uuid, {"task_state": "powering-on"})
    with pytest.raises(exception.InstanceInvalidState, match="task_state powering-on"):
        api.start(user(), row.uuid)
    with pytest.raises(ValueError):
        api.reboot(user(), row.uuid, "GENTLE")


def test_concurrent_conflicting_actions_have_one_winner(env: dict) -> None:
    api = env["api"]
    row = on_host(env)
    barrier = threading.Barrier(16)

    def attempt(index: int) -> str:
        barrier.wait()
        try:
            if index % 2:
                api.stop(user(), row.uuid)
            else:
                api.reboot(user(), row.uuid, compute_api.RebootType.SOFT)
        except exception.InstanceInvalidState:
            return "409"
        return "202"

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    assert sorted(results) == ["202"] + ["409"] * 15
    assert len(env["compute"].calls) == 1


def test_host_checks_come_before_any_change(env: dict) -> None:
    api = env["api"]
    down = on_host(env, host="c2")
    with pytest.raises(exception.ServiceUnavailable, match="c2"):
        api.stop(user(), down.uuid)
    (never,) = create(env)
    with pytest.raises(exception.InstanceNotReady):
        api.reboot(user(), never.uuid, "HARD")
    for uuid_ in (down.uuid, never.uuid):
        assert [a.action for a in db.actions_get(get_admin_context(), uuid_)] == ["create"]
    assert env["compute"].calls == []


def test_a_failed_cast_reverts_the_task(env: dict) -> None:
    row = on_host(env)
    env["compute"].fail = RuntimeError("no broker")
    with pytest.raises(RuntimeError):
        env["api"].reboot(user(), row.uuid, "SOFT")
    assert db.instance_get(get_admin_context(), row.uuid).task_state is None


# -- locks -----------------------------------------------------------------------------

def test_lock_semantics(env: dict) -> None:
    api = env["api"]
    owner = user()
    row = on_host(env, owner)
    locked = api.lock(owner, row.uuid, reason="why")
    assert (locked.locked, locked.locked_by, locked.locked_reason) == (True, "owner", "why")
    assert api.lock(owner, row.uuid).locked_reason == "why"  # the owner's re-lock: no-op
    with pytest.raises(exception.InstanceIsLocked):
        api.stop(owner, row.uuid)
    with pytest.raises(exception.InstanceIsLocked):
        api.delete(owner, row.uuid)
    assert api.is_expected_locked_by(owner, locked)
    assert not api.is_expected_locked_by(admin(), locked)
    taken = api.lock(admin(), row.uuid)
    assert (taken.locked_by, taken.locked_reason) == ("admin", None)
    assert not api.is_expected_locked_by(owner, taken)
    api.stop(admin(), row.uuid)  # administrators act on locked servers
    unlocked = api.unlock(admin(), row.uuid)
    assert (unlocked.locked, unlocked.locked_by) == (False, None)
    assert [a.action for a in db.actions_get(owner, row.uuid)][:4] == [
        "unlock", "stop", "lock", "lock"]


# -- delete ----------------------------------------------------------------------------

def test_delete_local_when_host_down_releases_every_allocation(env: dict) -> None:
    ctx = get_admin_context()
    row = on_host(env, host="c2")
    node = env["nodes"]["c2"]
    migration = db.migration_create(ctx, {"instance_uuid": row.uuid,
                                          "migration_type": "resize"})
    assert allocations.claim(ctx, row.uuid, node.uuid, 1, 512, 1, "demo", "alice")
    assert allocations.claim(ctx, migration.uuid, env["nodes"]["c1"].uuid, 1, 512, 1,
                             "demo", "alice")
    env["api"].delete(user(), row.uuid)
    assert env["compute"].calls == []
    with pytest.raises(exception.InstanceNotFound):
        db.instance_get(ctx, row.uuid)
    assert allocations.get_by_consumer(ctx, row.uuid) == []
    assert allocations.get_by_consumer(ctx, migration.uuid) == []
    gone = db.instance_get(ctx, row.uuid, read_deleted=True)
    assert (gone.vm_state, gone.power_state) == ("deleted", 0)


def test_delete_on_a_live_host(env: dict) -> None:
    row = on_host(env, task_state="powering-off")
    env["api"].delete(user(), row.uuid)
    (name, (_, instance), _), = env["compute"].calls
    assert (name, instance.task_state) == ("terminate_instance", states.TaskState.DELETING)
    env["api"].delete(user(), row.uuid)  # already deleting: nothing more to send
    assert len(env["compute"].calls) == 1


def test_delete_reconsiders_when_a_host_took_the_server(env: dict) -> None:
    (stale,) = create(env)
    db.instance_update(get_admin_context(), stale.uuid, {"host": "c1", "node": "c1"})
    env["api"].delete(user(), stale.uuid, instance=stale)  # the caller read host=None
    assert env["compute"].names() == ["terminate_instance"]
    assert db.instance_get(get_admin_context(), stale.uuid).task_state == "deleting"


def test_a_failed_terminate_cast_restores_the_task(env: dict) -> None:
    row = on_host(env, task_state="powering-off")
    env["compute"].fail = RuntimeError("no broker")
    with pytest.raises(RuntimeError):
        env["api"].delete(user(), row.uuid)
    assert db.instance_get(get_admin_context(), row.uuid).task_state == "powering-off"


# -- reading ---------------------------------------------------------------------------

def test_get_hides_other_projects(env: dict) -> None:
    (row,) = create(env)
    assert env["api"].get(user(), row.uuid).uuid == row.uuid
    assert env["api"].get(admin(), row.uuid).uuid == row.uuid
    with pytest.raises(exception.InstanceNotFound):
        env["api"].get(user("other"), row.uuid)
    with pytest.raises(exception.InstanceNotFound):
        env["api"].get(user(), "not-a-uuid")


def test_get_all_pages_exactly_with_nullable_sort_keys(env: dict) -> None:
    ctx = get_admin_context()
    rows = create(env, max_count=7)
    for index, row in enumerate(rows):
        if index % 3:
            db.instance_update(ctx, row.uuid, {"host": f"c{index % 2 + 1}"})
    api = env["api"]
    for keys in (["host"], ["host", "display_name"], ["task_state", "created_at"]):
        for direction in ("asc", "desc"):
            full = [r.uuid for r in api.get_all(user(), sort_keys=keys, sort_dirs=[direction])]
            assert len(full) == 7
            paged, marker = [], None
            while True:
                page = api.get_all(user(), limit=3, marker=marker, sort_keys=keys,
                                   sort_dirs=[direction])
                paged += [r.uuid for r in page]
                if len(page) < 3:
                    break
                marker = page[-1].uuid
            assert paged == full, (keys, direction)
    hosts = [r.host for r in api.get_all(user(), sort_keys=["host"], sort_dirs=["asc"])]
    assert hosts[:3] == [None] * 3 and hosts[3:] == sorted(hosts[3:])


def test_get_all_filters(env: dict) -> None:
    ctx = get_admin_context()
    a, b = create(env, max_count=2, name="alpha")
    db.instance_update(ctx, b.uuid, {"vm_state": "stopped", "task_state": None})
    (other,) = create(env, user("other"), flavor_ref="big")
    api = env["api"]
    assert {r.uuid for r in api.get_all(user())} == {a.uuid, b.uuid}
    # A non-admin's project scope cannot be lifted by a filter.
    assert {r.uuid for r in api.get_all(user(), {"project_id": "other"})} == {a.uuid, b.uuid}
    assert [r.uuid for r in api.get_all(admin(), {"flavorid": "big"})] == [other.uuid]
    assert [r.uuid for r in api.get_all(user(), {"states": [("stopped", None)]})] == [b.uuid]
    assert [r.uuid for r in api.get_all(user(), {"name": "-1$"})] == [a.uuid]
    with pytest.raises(exception.InstanceMarkerNotFound):
        api.get_all(user(), marker=other.uuid)


def test_helpers() -> None:
    assert compute_api.id_from_ref("http://h/v2.1/flavors/42/") == "42"
    assert compute_api.id_from_ref(7) == "7"
    assert compute_api.sanitize_hostname("  Héllo_World.io  ", "d") == "hllo-world-io"
    assert compute_api.sanitize_hostname("***", "Server-x") == "Server-x"
    assert len(compute_api.generate_password()) == 12
